"""Tests of rpc_eval.change: effect sizes, change tables, reliable change, band moves.

Reference values come from tests/reference/change.R (effectsize 0.8.3, base R), stored
in tests/reference/change.json; the suite does not need R.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rpc_eval.change.effect_sizes import (
    EFFECT_SIZE_COLUMNS,
    ESTIMATORS,
    TEST_COLUMNS,
    hedges_j,
    nct_limits,
    paired_effect_sizes,
    paired_tests,
)
from rpc_eval.change.reliable_change import (
    CATEGORIES,
    CLASSIFY_COLUMNS,
    TRANSITION_COLUMNS,
    band_transitions,
    classify_reliable_change,
    clinical_cutoffs,
    reliable_change_index,
    reliable_change_summary,
    se_difference,
)
from rpc_eval.change.tables import CHANGE_COLUMNS, change_table, pair_waves, scale_direction
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import score

REF = Path(__file__).parent / "reference"
FIXTURE = json.loads((REF / "change.json").read_text())
PAIRS = pd.read_csv(REF / "change_pairs.csv")
SAMPLES = list(FIXTURE["samples"])
TOL = 1e-6  # the brief's tolerance where the formula is the same
TIGHT = 1e-9  # our own formulas against R's arithmetic


def sample(name: str) -> tuple[np.ndarray, np.ndarray]:
    d = PAIRS[PAIRS["sample"] == name]
    return d["pre"].to_numpy(), d["post"].to_numpy()


def long_scores(pre, post, instrument="phq9", scale="total", ids=None, **extra) -> pd.DataFrame:
    """Tidy scores frame of pre/post pairs (NaN = no score at that wave)."""
    n = len(pre)
    ids = ids if ids is not None else [f"P{i:03d}" for i in range(n)]
    frame = pd.DataFrame({
        "parent_id": list(ids) * 2,
        "wave": ["baseline"] * n + ["end"] * n,
        "instrument": instrument, "scale": scale,
        "score": np.concatenate([np.asarray(pre, float), np.asarray(post, float)]),
    })
    for k, v in extra.items():
        frame[k] = list(v) * 2 if not np.isscalar(v) else v
    frame["valid"] = frame["score"].notna()
    return frame


# ----------------------------------------------------------------- R reference fixtures
def test_fixture_is_current():
    assert FIXTURE["effectsize_version"] == "0.8.3"
    assert set(SAMPLES) == {"small_integer", "medium", "large_unequal"}
    assert FIXTURE["samples"]["medium"]["n"] == 40  # two incomplete rows dropped by R


@pytest.mark.parametrize("name", SAMPLES)
def test_effect_sizes_match_r_formulas(name):
    ref = FIXTURE["samples"][name]
    es = paired_effect_sizes(*sample(name)).set_index("estimator")
    assert list(es.index) == list(ESTIMATORS)
    for est in ESTIMATORS:
        assert es.loc[est, "estimate"] == pytest.approx(ref[est], abs=TIGHT, rel=0)
        assert es.loc[est, "ci_low"] == pytest.approx(ref[f"{est}_ci_low"], abs=TIGHT, rel=0)
        assert es.loc[est, "ci_high"] == pytest.approx(ref[f"{est}_ci_high"], abs=TIGHT, rel=0)
    assert (es["n"] == ref["n"]).all()
    assert es["r"].iloc[0] == pytest.approx(ref["r"], abs=1e-12)


@pytest.mark.parametrize("name", SAMPLES)
def test_d_z_and_g_z_match_effectsize(name):
    ref = FIXTURE["samples"][name]
    es = paired_effect_sizes(*sample(name)).set_index("estimator")
    assert es.loc["d_z", "estimate"] == pytest.approx(ref["effectsize_cohens_d"], abs=TOL)
    assert es.loc["d_z", "ci_low"] == pytest.approx(ref["effectsize_cohens_d_ci_low"], abs=TOL)
    assert es.loc["d_z", "ci_high"] == pytest.approx(ref["effectsize_cohens_d_ci_high"], abs=TOL)
    assert es.loc["g_z", "estimate"] == pytest.approx(ref["effectsize_hedges_g"], abs=TOL)
    assert es.loc["g_z", "ci_low"] == pytest.approx(ref["effectsize_hedges_g_ci_low"], abs=TOL)
    assert es.loc["g_z", "ci_high"] == pytest.approx(ref["effectsize_hedges_g_ci_high"], abs=TOL)
    assert hedges_j(ref["n"] - 1) == pytest.approx(ref["J"], abs=1e-14)


@pytest.mark.parametrize("name", SAMPLES)
def test_paired_tests_match_r(name):
    ref = FIXTURE["samples"][name]
    res = paired_tests(*sample(name)).set_index("test")
    assert list(res.columns) == TEST_COLUMNS[1:]
    assert res.loc["paired_t", "statistic"] == pytest.approx(ref["t"], abs=TIGHT)
    assert res.loc["paired_t", "df"] == ref["df"]
    assert res.loc["paired_t", "p_value"] == pytest.approx(ref["p_t"], abs=1e-12)
    assert res.loc["wilcoxon_signed_rank", "statistic"] == ref["wilcoxon_V"]
    assert res.loc["wilcoxon_signed_rank", "p_value"] == pytest.approx(ref["p_wilcoxon"], abs=1e-12)
    assert math.isnan(res.loc["wilcoxon_signed_rank", "df"])
    assert (res["n"] == ref["n"]).all()


def test_change_table_matches_r():
    frames = []
    for name in SAMPLES:
        pre, post = sample(name)
        ids = [f"{name}_{i}" for i in range(len(pre))]
        frames.append(long_scores(pre, post, ids=ids, sample=name))
    tab = change_table(pd.concat(frames), by="sample").set_index("sample")
    assert list(tab.columns) == CHANGE_COLUMNS
    cols = ["mean_pre", "sd_pre", "mean_post", "sd_post", "mean_change", "sd_change",
            "change_ci_low", "change_ci_high", "r", "statistic", "df", "p_value",
            "wilcoxon_p_value", *[c for e in ESTIMATORS for c in (e, f"{e}_ci_low", f"{e}_ci_high")]]
    # the R fixture names the paired t-test's columns t and p_t
    in_r = {"statistic": "t", "p_value": "p_t", "wilcoxon_p_value": "p_wilcoxon"}
    for name in SAMPLES:
        ref = FIXTURE["samples"][name]
        row = tab.loc[name]
        assert row["n_paired"] == ref["n"]
        assert row["wilcoxon_statistic"] == ref["wilcoxon_V"]
        for c in cols:
            assert row[c] == pytest.approx(ref[in_r.get(c, c)], abs=TIGHT, rel=0), c
    medium = tab.loc["medium"]
    assert (medium["n_pre"], medium["n_post"], medium["n_paired"]) == (41, 41, 40)


def test_reliable_change_matches_r():
    ref = FIXTURE["reliable_change"]
    pre, post = sample("small_integer")
    jt = reliable_change_index(pre, post, sd=ref["sd"], reliability=ref["reliability"])
    np.testing.assert_allclose(jt, ref["rci_jacobson_truax"], atol=1e-12, rtol=0)
    ma = reliable_change_index(pre, post, reliability=ref["reliability"], method="maassen")
    np.testing.assert_allclose(ma, ref["rci_maassen"], atol=1e-12, rtol=0)
    assert se_difference(sd=ref["sd"], reliability=ref["reliability"]) == pytest.approx(
        ref["se_jacobson_truax"], abs=1e-12)
    cuts = clinical_cutoffs(direction="higher_is_worse", functional=(4.7, 4.8),
                            clinical=(19.7, 7.7))
    for k in "abc":
        assert cuts[k] == pytest.approx(ref[f"cutoff_{k}"], abs=1e-12)


# -------------------------------------------------------------------- effect-size rules
def test_sign_is_post_minus_pre_and_pairs_with_missing_are_dropped():
    pre = [10.0, 12.0, np.nan, 14.0, 9.0, 11.0]
    post = [12.0, 15.0, 30.0, 15.0, np.nan, 14.0]
    es = paired_effect_sizes(pre, post)
    assert (es["n"] == 4).all()
    assert (es["estimate"] > 0).all()
    flipped = paired_effect_sizes(post, pre)
    np.testing.assert_allclose(flipped["estimate"], -es["estimate"])
    np.testing.assert_allclose(flipped["ci_low"], -es["ci_high"])
    assert list(es.columns) == EFFECT_SIZE_COLUMNS


def test_estimator_relations():
    rng = np.random.default_rng(1)
    pre = rng.normal(20, 4, 25)
    post = pre * 0.6 + rng.normal(6, 5, 25)
    es = paired_effect_sizes(pre, post).set_index("estimator")["estimate"]
    r = np.corrcoef(pre, post)[0, 1]
    j = hedges_j(24)
    assert es["d_rm"] == pytest.approx(es["d_z"] * math.sqrt(2 * (1 - r)))
    diff = post - pre
    assert es["d_av"] == pytest.approx(diff.mean() / ((pre.std(ddof=1) + post.std(ddof=1)) / 2))
    for k in ("z", "av", "rm"):
        assert es[f"g_{k}"] == pytest.approx(j * es[f"d_{k}"])
    assert abs(es["g_z"]) < abs(es["d_z"])


def test_hedges_j_exact_and_nct_limits_bracket_the_estimate():
    assert hedges_j(20) == pytest.approx(0.961944533740748, abs=1e-14)  # R
    assert hedges_j(20) != pytest.approx(1 - 3 / (4 * 20 - 1), abs=1e-6)
    assert math.isnan(hedges_j(0.5))
    lo, hi = nct_limits(3.0, 12)
    assert lo < 3.0 < hi
    # definition of the limits
    from scipy import special
    assert special.nctdtr(12, lo, 3.0) == pytest.approx(0.975, abs=1e-10)
    assert special.nctdtr(12, hi, 3.0) == pytest.approx(0.025, abs=1e-10)
    assert all(math.isnan(v) for v in nct_limits(np.nan, 5))


def test_constant_change_gives_missing_d_z_not_a_crash():
    es = paired_effect_sizes([1, 2, 3, 4], [3, 4, 5, 6]).set_index("estimator")
    assert math.isnan(es.loc["d_z", "estimate"])
    assert es.loc["d_av", "estimate"] == pytest.approx(2 / np.std([1, 2, 3, 4], ddof=1))
    tests = paired_tests([1, 2, 3, 4], [1, 2, 3, 4]).set_index("test")
    assert tests.loc["wilcoxon_signed_rank", "statistic"] == 0
    assert math.isnan(tests.loc["wilcoxon_signed_rank", "p_value"])


@pytest.mark.parametrize("bad", [
    dict(pre=[1, 2, 3], post=[1, 2]),
    dict(pre=[1, np.nan], post=[2, 3]),
    dict(pre=["a", "b"], post=[1, 2]),
])
def test_effect_size_input_errors(bad):
    with pytest.raises(RpcEvalError):
        paired_effect_sizes(bad["pre"], bad["post"])
    with pytest.raises(RpcEvalError):
        paired_tests(bad["pre"], bad["post"])


@pytest.mark.parametrize("ci", [0, 1, 95, "0.95", True])
def test_bad_ci(ci):
    with pytest.raises(RpcEvalError, match="ci must be"):
        paired_effect_sizes([1, 2, 3], [2, 4, 5], ci=ci)


def test_d_z_ci_coverage_simulation():
    """Known truth: bivariate normal pre/post, rho = 0.5, equal SDs, population
    d_z = 0.5; the 95% CI should cover it in about 95% of 300 samples."""
    rng = np.random.default_rng(20240611)
    n, reps, rho, dz_true = 30, 300, 0.5, 0.5
    sd_diff = math.sqrt(2 * (1 - rho))
    cov = [[1.0, rho], [rho, 1.0]]
    covered = 0
    for _ in range(reps):
        xy = rng.multivariate_normal([0.0, dz_true * sd_diff], cov, size=n)
        es = paired_effect_sizes(xy[:, 0], xy[:, 1]).set_index("estimator")
        covered += es.loc["d_z", "ci_low"] <= dz_true <= es.loc["d_z", "ci_high"]
    lo, hi = stats.binom.interval(0.999, reps, 0.95)
    assert lo <= covered <= hi, f"coverage {covered}/{reps}"


# ----------------------------------------------------------------------- change tables
def test_change_table_direction_and_improvement():
    pre = [14, 11, 18, 9, 16, 12]
    post = [9, 10, 12, 8, 11, 7]
    worse = change_table(long_scores(pre, post, "phq9")).iloc[0]
    better = change_table(long_scores(pre, post, "wemwbs")).iloc[0]
    assert worse["direction"] == "higher_is_worse"
    assert better["direction"] == "higher_is_better"
    assert worse["mean_change"] == better["mean_change"] < 0
    assert worse["improvement"] == -worse["mean_change"] > 0
    assert better["improvement"] == better["mean_change"] < 0
    assert worse["standardised_estimator"] == "g_av"
    assert worse["standardised_improvement"] == pytest.approx(-worse["g_av"])
    assert better["standardised_improvement"] == pytest.approx(better["g_av"])
    assert worse["improvement_ci_low"] == pytest.approx(-worse["change_ci_high"])
    assert worse["standardised_improvement_ci_low"] == pytest.approx(-worse["g_av_ci_high"])
    assert worse["standardised_improvement_ci_low"] < worse["standardised_improvement"]
    d_z = change_table(long_scores(pre, post, "phq9"), standardised="d_z").iloc[0]
    assert d_z["standardised_improvement"] == pytest.approx(-d_z["d_z"])


def test_change_table_direction_overrides():
    pre, post = [5, 6, 4, 7, 6], [7, 8, 6, 7, 9]
    scores = long_scores(pre, post, "sdq_parent_4_17", "prosocial")
    default = change_table(scores).iloc[0]
    # prosocial's own direction wins over the instrument's higher_is_worse
    assert default["direction"] == "higher_is_better" and default["improvement"] > 0
    fixed = change_table(scores, directions={("sdq_parent_4_17", "prosocial"):
                                             "higher_is_worse"}).iloc[0]
    assert fixed["direction"] == "higher_is_worse" and fixed["improvement"] < 0
    assert scale_direction("csi4", "total") == "higher_is_better"
    with pytest.raises(RpcEvalError, match="higher_is_worse"):
        scale_direction("phq9", "total", directions={"phq9": "up"})


def test_change_table_several_instruments_groups_and_wave_pairs():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        grp = "A" if i < 20 else "B"
        for inst, base in (("phq9", 12), ("wemwbs", 40)):
            for w, shift in (("baseline", 0), ("end", -3 if inst == "phq9" else 4),
                             ("followup_6m", -2 if inst == "phq9" else 3)):
                rows.append((f"P{i}", "parent", w, inst, "total",
                             float(base + shift + rng.normal(0, 3)), grp))
    scores = pd.DataFrame(rows, columns=["parent_id", "respondent", "wave", "instrument",
                                         "scale", "score", "intervention"])
    scores.loc[0, "score"] = np.nan  # P0 phq9 baseline missing
    tab = change_table(scores, by="intervention",
                       waves=[("baseline", "end"), ("baseline", "followup_6m")])
    assert len(tab) == 2 * 2 * 2
    assert list(tab.columns[:6]) == ["intervention", "instrument", "scale", "direction",
                                     "wave_pre", "wave_post"]
    assert list(tab["intervention"]) == ["A"] * 4 + ["B"] * 4
    assert list(tab["instrument"][:4]) == ["phq9", "phq9", "wemwbs", "wemwbs"]
    first = tab.iloc[0]
    assert (first["n_pre"], first["n_post"], first["n_paired"]) == (19, 20, 19)
    assert (tab["improvement"] > 0).all()


def test_change_table_with_scored_questionnaires():
    rng = np.random.default_rng(5)
    n = 12
    items = [f"phq9_{k:02d}" for k in range(1, 10)]
    base = rng.integers(1, 4, size=(n, 9))
    end = np.clip(base - rng.integers(0, 2, size=(n, 9)), 0, 3)
    wide = pd.DataFrame(np.vstack([base, end]), columns=items).astype(float)
    wide.insert(0, "parent_id", [f"P{i}" for i in range(n)] * 2)
    wide.insert(1, "respondent", "parent")
    wide.insert(2, "wave", ["baseline"] * n + ["end"] * n)
    wide.loc[3, items[:4]] = np.nan  # too few items answered -> invalid score
    scores = score(wide, "phq9")
    tab = change_table(scores)
    assert tab.loc[0, "n_paired"] == n - 1
    assert tab.loc[0, "mean_change"] < 0 and tab.loc[0, "improvement"] > 0


def test_pair_waves_and_input_errors():
    s = long_scores([12, 9], [7, np.nan])
    p = pair_waves(s)
    assert list(p.columns) == ["parent_id", "instrument", "scale", "wave_pre", "wave_post",
                               "pre", "post"]
    assert p["post"].isna().sum() == 1
    with pytest.raises(RpcEvalError, match="share the same"):
        change_table(pd.concat([s, s.iloc[[0]]]))
    with pytest.raises(RpcEvalError, match="join group columns"):
        change_table(s, by="intervention")
    moved = long_scores([12, 9], [7, 8], intervention=["A", "B"])
    moved.loc[2, "intervention"] = "B"
    with pytest.raises(RpcEvalError, match="change between waves"):
        change_table(moved, by="intervention")
    with pytest.raises(RpcEvalError, match="no valid scores at wave"):
        change_table(s, waves=("baseline", "followup_12m"))
    with pytest.raises(RpcEvalError, match="two different waves"):
        change_table(s, waves=("end", "end"))
    with pytest.raises(RpcEvalError, match="waves must be"):
        change_table(s, waves="baseline")
    with pytest.raises(RpcEvalError, match="not in the registry"):
        change_table(long_scores([1, 2], [2, 3], "my_scale"))
    assert change_table(long_scores([1, 2], [2, 4], "my_scale"),
                        directions={"my_scale": "higher_is_better"}).loc[0, "improvement"] == 1.5
    with pytest.raises(RpcEvalError, match="standardised"):
        change_table(s, standardised="d")


def test_change_table_small_groups_give_missing_statistics():
    tab = change_table(long_scores([12, 9, 5], [7, np.nan, np.nan]))
    row = tab.iloc[0]
    assert row["n_paired"] == 1
    assert math.isnan(row["d_z"]) and math.isnan(row["statistic"]) and math.isnan(row["sd_pre"])


# ------------------------------------------------------------------- reliable change
def test_rci_boundaries_jacobson_truax():
    # sd 10, r_xx 0.5 -> SE_diff = 10 * sqrt(2 * 0.5) = 10 exactly
    assert se_difference(sd=10, reliability=0.5) == 10.0
    pre = [30, 30, 30, 30, 30]
    post = [10, 11, 9, 50, 49]
    s = long_scores(pre, post, "phq9")
    out = classify_reliable_change(s, "phq9", "total", sd=10, reliability=0.5, z=2.0)
    assert list(out["rci"]) == [-2.0, -1.9, -2.1, 2.0, 1.9]
    # |RCI| must exceed z: exactly 2.0 is not reliable
    assert list(out["reliable"]) == [False, False, True, False, False]
    assert list(out.columns) == ["parent_id", *CLASSIFY_COLUMNS]
    default = classify_reliable_change(s, "phq9", "total", sd=10, reliability=0.5)
    assert list(default["reliable"]) == [True, False, True, True, False]  # z = 1.96
    assert default["min_reliable_change"].tolist() == pytest.approx([19.6] * 5)
    assert (default["rci_basis"] == "reliability given (0.5); SD given (10)").all()


def test_classification_higher_is_worse_with_definition_cutoff():
    # PHQ-9: clinical_cutoff 10, caseness at_or_above; sd 5, r_xx .5 -> SE_diff = 5,
    # so a change must exceed 1.96 * 5 = 9.8 points
    pre = [25, 25, 25, 8, 8, 12, 12]
    post = [10, 9, 24, 20, 7, 0, 22]
    s = long_scores(pre, post, "phq9")
    out = classify_reliable_change(s, "phq9", "total", sd=5, reliability=0.5)
    assert out["criterion"].iloc[0] == "cutoff" and out["cutoff"].iloc[0] == 10
    assert list(out["rci"]) == [-3.0, -3.2, -0.2, 2.4, -0.2, -2.4, 2.0]
    assert list(out["clinical_pre"]) == [True, True, True, False, False, True, True]
    assert list(out["clinical_post"]) == [True, False, True, True, False, False, True]
    assert list(out["category"].astype(str)) == [
        "improved",      # reliable fall, but 10 is still in the clinical range
        "recovered",     # reliable fall to 9
        "unchanged",
        "deteriorated",  # 8 -> 20
        "unchanged",
        "recovered",     # 12 -> 0
        "deteriorated",  # 12 -> 22: RCI 2.0 > 1.96
    ]
    assert (out["improvement"] == -out["change"]).all()
    assert list(out["category"].cat.categories) == list(CATEGORIES)


def test_classification_higher_is_better_with_jt_cutoffs():
    # WEMWBS (higher is better): norms 'all' SD 8.96 and alpha .91 from the definition;
    # functional (50, 8) and clinical (34, 8) -> a = 50, b = 34, c = 42
    cuts = clinical_cutoffs(direction="higher_is_better", functional=(50, 8), clinical=(34, 8))
    assert cuts == {"a": 50.0, "b": 34.0, "c": 42.0}
    pre = [30, 30, 42, 50, 50, 30]
    post = [42, 43, 43, 35, 49, 33]
    s = long_scores(pre, post, "wemwbs")
    out = classify_reliable_change(s, "wemwbs", "total", functional=(50, 8), clinical=(34, 8))
    info = out.iloc[0]
    assert info["criterion"] == "c" and info["cutoff"] == 42.0
    assert info["sd"] == 8.96 and info["reliability"] == 0.91
    assert info["caseness"] == "at_or_below"
    assert info["rci_basis"] == "published reliability and norms"
    assert info["sd_source"] == "definition norms group 'all'"
    se = 8.96 * math.sqrt(2 * (1 - 0.91))
    np.testing.assert_allclose(out["rci"], (np.array(post) - pre) / se)
    assert list(out["clinical_pre"]) == [True, True, True, False, False, True]
    assert list(out["category"].astype(str)) == [
        "improved",      # rise of 12 is reliable, but 42 is still at the cut-off (clinical)
        "recovered",     # 30 -> 43
        "unchanged",     # 42 -> 43: crosses but not reliable
        "deteriorated",  # 50 -> 35: a fall is worse here
        "unchanged",
        "unchanged",     # 30 -> 33
    ]
    a = classify_reliable_change(s, "wemwbs", "total", clinical=(34, 8))
    assert (a["criterion"] == "a").all()
    assert a["cutoff"].iloc[0] == 50.0
    b = classify_reliable_change(s, "wemwbs", "total", criterion="b", functional=(50, 8))
    assert b["cutoff"].iloc[0] == 34.0


def test_definition_caseness_below_for_higher_is_better():
    # CSI-4: clinical_cutoff 13.5, caseness below; no reliability -> give it
    pre = [5, 5, 15, 13]
    post = [14, 13, 6, 13.5]
    s = long_scores(pre, post, "csi4")
    out = classify_reliable_change(s, "csi4", "total", sd=4, reliability=0.5)  # SE = 4
    assert list(out["rci"]) == [2.25, 2.0, -2.25, 0.125]
    assert list(out["clinical_post"]) == [False, True, True, False]
    assert list(out["category"].astype(str)) == ["recovered", "improved", "deteriorated",
                                                 "unchanged"]


def test_maassen_option_and_baseline_sd():
    pre = np.array([20.0, 18, 25, 14, 22, 16, 19, 24])
    post = np.array([15.0, 17, 20, 10, 21, 14, 12, 20])
    s = long_scores(pre, post, "phq9")
    m = classify_reliable_change(s, "phq9", "total", method="maassen")
    se = math.sqrt((pre.std(ddof=1) ** 2 + post.std(ddof=1) ** 2) * (1 - 0.89))
    assert m["se_diff"].iloc[0] == pytest.approx(se)
    assert (m["method"] == "maassen").all() and m["sd"].isna().all()
    b = classify_reliable_change(s, "phq9", "total", sd="baseline")
    assert b["se_diff"].iloc[0] == pytest.approx(pre.std(ddof=1) * math.sqrt(2 * 0.11))
    assert (b["sd_source"] == "baseline sample SD").all()
    assert (b["rci_basis"] == "baseline sample SD").all()
    core = long_scores(pre, post, "core10", "clinical_score")
    with pytest.raises(RpcEvalError, match="clinical_score"):
        classify_reliable_change(core, "core10", "total")
    g = classify_reliable_change(core, "core10", "clinical_score",
                                 norm_group="general_population",
                                 functional="general_population",
                                 clinical="primary_care_counselling")
    assert (g["sd"] == 4.8).all()
    assert g["cutoff"].iloc[0] == pytest.approx((7.7 * 4.7 + 4.8 * 19.7) / (7.7 + 4.8))


def test_reliable_change_summary_by_group():
    pre = [25, 25, 25, 8, 8, 12, 12, 20]
    post = [10, 9, 24, 20, 7, 0, 22, 20]
    s = long_scores(pre, post, "phq9", intervention=["A"] * 4 + ["B"] * 4)
    out = classify_reliable_change(s, "phq9", "total", sd=5, reliability=0.5,
                                   by="intervention")
    summ = reliable_change_summary(out)
    assert list(summ.columns) == ["intervention", "instrument", "scale", "wave_pre",
                                  "wave_post", "category", "n", "n_total", "percent",
                                  "rci_basis"]
    a = summ[summ["intervention"] == "A"].set_index("category")
    assert dict(a["n"]) == {"recovered": 1, "improved": 1, "unchanged": 1, "deteriorated": 1}
    assert (a["percent"] == 25.0).all() and (a["n_total"] == 4).all()
    b = summ[summ["intervention"] == "B"].set_index("category")
    assert dict(b["n"]) == {"recovered": 1, "improved": 0, "unchanged": 2, "deteriorated": 1}
    assert b["percent"].sum() == pytest.approx(100)
    none = classify_reliable_change(s, "phq9", "total", sd=5, reliability=0.5,
                                    criterion="none")
    assert none["clinical_pre"].isna().all()
    assert "recovered" not in set(reliable_change_summary(none)["category"].astype(str))
    assert (none["category"] != "recovered").all()


def test_reliable_change_errors_name_the_keys():
    s_sdq = long_scores([5, 6, 7], [3, 4, 5], "sdq_parent_4_17", "emotional")
    with pytest.raises(RpcEvalError, match=r"reliability\.alpha"):
        classify_reliable_change(s_sdq, "sdq_parent_4_17", "emotional")
    s_phq = long_scores([15, 16, 17], [3, 4, 5], "phq9")
    with pytest.raises(RpcEvalError, match=r"norms\.sd.*|sd='baseline'"):
        classify_reliable_change(s_phq, "phq9", "total")
    s_tot = long_scores([15, 16, 17], [3, 4, 5], "sdq_parent_4_17", "total_difficulties")
    with pytest.raises(RpcEvalError, match="norm_group"):
        classify_reliable_change(s_tot, "sdq_parent_4_17", "total_difficulties")
    with pytest.raises(RpcEvalError, match="no norm group 'adults'"):
        classify_reliable_change(s_tot, "sdq_parent_4_17", "total_difficulties",
                                 norm_group="adults")
    s_pss = long_scores([50, 60, 70], [40, 45, 50], "pss")
    with pytest.raises(RpcEvalError, match="clinical_cutoff"):
        classify_reliable_change(s_pss, "pss", "total", sd=10)
    ok = classify_reliable_change(s_pss, "pss", "total", sd=10, criterion="none")
    assert len(ok) == 3
    assert classify_reliable_change(s_pss, "pss", "total", sd=10, cutoff=55)[
        "criterion"].iloc[0] == "cutoff_given"
    with pytest.raises(RpcEvalError, match="needs clinical= norms"):
        classify_reliable_change(s_pss, "pss", "total", sd=10, criterion="a")
    with pytest.raises(RpcEvalError, match="between 0 and 1"):
        classify_reliable_change(s_phq, "phq9", "total", sd=5, reliability=1.2)
    with pytest.raises(RpcEvalError, match="method"):
        classify_reliable_change(s_phq, "phq9", "total", sd=5, method="temkin")
    with pytest.raises(RpcEvalError, match="no scores for instrument"):
        classify_reliable_change(s_phq, "gad7", "total", sd=5)
    with pytest.raises(RpcEvalError, match="no valid scores at wave"):
        classify_reliable_change(long_scores([15, 16], [np.nan, np.nan], "phq9"), "phq9",
                                 "total", sd=5)
    with pytest.raises(RpcEvalError, match="at both"):
        classify_reliable_change(long_scores([15, np.nan], [np.nan, 3], "phq9"), "phq9",
                                 "total", sd=5)
    with pytest.raises(RpcEvalError, match="sd must be a positive"):
        se_difference(sd=0, reliability=0.8)


def test_instrument_outside_the_registry_needs_every_setting():
    s = long_scores([30, 30, 10], [10, 29, 10], "local_scale")
    s["valid"] = pd.Series([True, True, None] * 2, dtype=object)
    with pytest.raises(RpcEvalError, match="not in the registry"):
        classify_reliable_change(s, "local_scale", "total", sd=5, reliability=0.5)
    out = classify_reliable_change(s, "local_scale", "total", sd=5, reliability=0.5,
                                   cutoff=20, direction="higher_is_worse")
    # the row with valid = None at both waves is not used
    assert list(out["category"].astype(str)) == ["recovered", "unchanged"]
    assert (out["caseness"] == "at_or_above").all()


# --------------------------------------------------------------------- band transitions
def phq_bands(pre, post):
    labels = pd.cut(np.asarray([*pre, *post]), [-1, 4, 9, 14, 19, 27],
                    labels=["minimal", "mild", "moderate", "moderately_severe", "severe"])
    s = long_scores(pre, post, "phq9")
    s["band"] = labels.astype(str)
    return s


def test_band_transitions_counts_and_movement():
    s = phq_bands([12, 7, 3, 22, 16, 12], [6, 7, 11, 9, 15, 13])
    t = band_transitions(s, "phq9", "total", ("baseline", "end"))
    assert list(t.columns) == TRANSITION_COLUMNS
    assert len(t) == 25 and t["n"].sum() == 6
    assert list(t["band_pre"].cat.categories) == ["minimal", "mild", "moderate",
                                                  "moderately_severe", "severe"]
    got = t[t["n"] > 0].set_index(["band_pre", "band_post"])
    assert got.loc[("moderate", "moderate"), "n"] == 1
    assert got.loc[("moderate", "mild"), "movement"] == "better"
    assert got.loc[("minimal", "moderate"), "movement"] == "worse"
    assert got.loc[("severe", "mild"), "movement"] == "better"
    assert got.loc[("moderate", "mild"), "percent_of_pre"] == 50.0
    wide = band_transitions(s, "phq9", "total", layout="wide")
    assert wide.loc["moderate", "mild"] == 1 and wide.to_numpy().sum() == 6
    assert list(wide.columns) == list(t["band_pre"].cat.categories)


def test_band_transitions_higher_is_better_scheme_and_groups():
    # SDQ prosocial 4-band scheme (band_4band column), direction override to better
    pre, post = [5, 6, 7, 9], [8, 6, 5, 9]
    s = long_scores(pre, post, "sdq_parent_4_17", "prosocial", intervention=["A", "A", "B", "B"])
    bands4 = {5: "very_low", 6: "low", 7: "slightly_lowered", 8: "close_to_average",
              9: "close_to_average"}
    s["band"] = "x"
    s["band_4band"] = s["score"].map(bands4)
    t = band_transitions(s, "sdq_parent_4_17", "prosocial", scheme="4band",
                         by="intervention", direction="higher_is_better")
    got = t[t["n"] > 0].set_index(["intervention", "band_pre", "band_post"])
    assert got.loc[("A", "very_low", "close_to_average"), "movement"] == "better"
    assert got.loc[("B", "slightly_lowered", "very_low"), "movement"] == "worse"
    assert t.groupby("intervention")["n"].sum().to_dict() == {"A": 2, "B": 2}
    # who was counted and who had one wave only, per group, in columns
    pre2, post2 = [5, 6, 7, 9, 8, np.nan], [8, 6, 5, 9, np.nan, 6]
    s2 = long_scores(pre2, post2, "sdq_parent_4_17", "prosocial",
                     intervention=["A", "A", "B", "B", "B", "A"])
    s2["band"] = "x"
    s2["band_4band"] = s2["score"].map(bands4)
    t2 = band_transitions(s2, "sdq_parent_4_17", "prosocial", scheme="4band",
                          by="intervention")
    per = t2.groupby("intervention")[["n_paired", "n_pre_only", "n_post_only"]].first()
    assert per.loc["A"].tolist() == [2, 0, 1] and per.loc["B"].tolist() == [2, 1, 0]


def test_band_transition_errors():
    s = phq_bands([12, 7], [6, 7])
    with pytest.raises(RpcEvalError, match="no band scheme"):
        band_transitions(s, "phq9", "total", scheme="4band")
    with pytest.raises(RpcEvalError, match="no bands"):
        band_transitions(long_scores([1, 2], [2, 3], "sdq_parent_4_17", "internalising"),
                         "sdq_parent_4_17", "internalising")
    with pytest.raises(RpcEvalError, match="band_4band"):
        band_transitions(long_scores([1, 2], [2, 3], "sdq_parent_4_17", "total_difficulties"),
                         "sdq_parent_4_17", "total_difficulties", scheme="4band")
    s.loc[0, "band"] = "dreadful"
    with pytest.raises(RpcEvalError, match="not bands of scheme"):
        band_transitions(s, "phq9", "total")
    with pytest.raises(RpcEvalError, match="layout"):
        band_transitions(s, "phq9", "total", layout="square")


# ------------------------------------------------------- one policy for missing norms
def test_concatenated_classifications_keep_their_groups():
    pre = [25, 25, 25, 8, 8, 12, 12, 20]
    post = [10, 9, 24, 20, 7, 0, 22, 20]
    s = long_scores(pre, post, "phq9", intervention=["A"] * 4 + ["B"] * 4)
    a = classify_reliable_change(s, "phq9", "total", sd=5, reliability=0.5, by="intervention")
    s2 = long_scores(pre, post, "gad7", intervention=["A"] * 2 + ["B"] * 6)
    b = classify_reliable_change(s2, "gad7", "total", sd=4, reliability=0.9, by="intervention")
    both = pd.concat([a, b], ignore_index=True)
    summ = reliable_change_summary(both)
    assert summ.columns[0] == "intervention"
    totals = summ.groupby(["instrument", "intervention"], observed=True)["n_total"].first()
    assert totals.to_dict() == {("gad7", "A"): 2, ("gad7", "B"): 6, ("phq9", "A"): 4,
                                ("phq9", "B"): 4}
    # the same counts as summarising each frame alone
    alone = pd.concat([reliable_change_summary(a), reliable_change_summary(b)])
    pd.testing.assert_frame_equal(
        summ.sort_values(["instrument", "intervention", "category"]).reset_index(drop=True),
        alone.sort_values(["instrument", "intervention", "category"]).reset_index(drop=True))
    assert set(summ["rci_basis"]) == {"reliability given (0.5); SD given (5)",
                                      "reliability given (0.9); SD given (4)"}
    # no groups: nothing but ids and the classification's own columns
    plain = classify_reliable_change(s, "phq9", "total", sd=5, reliability=0.5)
    assert reliable_change_summary(plain).columns[0] == "instrument"
    assert reliable_change_summary(both, by=[])["n_total"].max() == 8


def test_missing_norms_are_listed_in_one_error():
    s = long_scores([30, 35, 40, 20], [25, 30, 30, 28], "swemwbs")
    with pytest.raises(RpcEvalError) as err:
        classify_reliable_change(s, "swemwbs", "total")
    msg = str(err.value)
    # reliability, SD and cut-off are all missing: one error names all three
    assert "reliability" in msg and "normative SD" in msg and "clinical cut-off" in msg
    assert "sample_norms=True" in msg and "swemwbs scale 'total'" in msg
    s_tot = long_scores([15, 16, 17], [3, 4, 5], "sdq_parent_4_17", "total_difficulties")
    with pytest.raises(RpcEvalError) as err:
        classify_reliable_change(s_tot, "sdq_parent_4_17", "total_difficulties")
    msg = str(err.value)
    assert "['boys', 'girls']" in msg and "clinical cut-off" in msg
    assert "reliability (" not in msg  # the definition has alpha .77
    # what is given is not missing
    with pytest.raises(RpcEvalError) as err:
        classify_reliable_change(s, "swemwbs", "total", sd=5, criterion="none")
    assert "normative SD" not in str(err.value) and "reliability" in str(err.value)
    with pytest.raises(RpcEvalError, match="True or False"):
        classify_reliable_change(s, "swemwbs", "total", sample_norms="yes")


@pytest.fixture(scope="module")
def small_data():
    from rpc_eval.synthetic import generate

    data, _ = generate("small", seed=11)
    return data


def test_sample_norms_use_baseline_alpha_and_sd(small_data):
    import warnings as _w

    from rpc_eval.instruments import responses_to_wide, score_responses
    from rpc_eval.instruments.reliability import reliability

    data = small_data
    scores = score_responses(data.responses, data.instruments)
    csi = scores[(scores["instrument"] == "csi4") & (scores["scale"] == "total")]
    with pytest.raises(RpcEvalError, match="responses="):
        classify_reliable_change(csi, "csi4", "total", registry=data.instruments,
                                 sample_norms=True)
    out = classify_reliable_change(csi, "csi4", "total", registry=data.instruments,
                                   sample_norms=True, responses=data.responses)
    wide = responses_to_wide(data.responses, "csi4", registry=data.instruments)
    with _w.catch_warnings():
        _w.simplefilter("ignore")
        alpha = float(reliability(wide[wide["wave"] == "baseline"], "csi4",
                                  registry=data.instruments, scales=["total"])["alpha"].iloc[0])
    sd = float(out["pre"].std(ddof=1))
    assert out["reliability"].iloc[0] == pytest.approx(alpha, rel=1e-12)
    assert out["se_diff"].iloc[0] == pytest.approx(sd * math.sqrt(2 * (1 - alpha)), rel=1e-12)
    assert out["rci_basis"].iloc[0] == f"baseline sample alpha {alpha:.2f}; baseline sample SD"
    assert out["reliability_source"].iloc[0] == "baseline sample Cronbach's alpha"
    # CSI-4 has a cut-off in its definition: recovery is assessed
    assert out["criterion"].iloc[0] == "cutoff"
    # a definition with everything needed is used as it is, sample_norms or not
    wem = long_scores([30, 40, 50, 45], [45, 41, 35, 60], "wemwbs")
    kept = classify_reliable_change(wem, "wemwbs", "total", sample_norms=True)
    assert kept["sd"].iloc[0] == 8.96 and kept["reliability"].iloc[0] == 0.91
    assert kept["rci_basis"].iloc[0] == "no clinical cut-off"


def test_outcome_tables_policy(small_data):
    from rpc_eval.change import change_analysis, outcome_tables

    with pytest.raises(RpcEvalError) as err:
        outcome_tables(small_data)
    msg = str(err.value)
    assert msg.count("Reliable change needs") == 1
    for scale in ("csi4 scale 'total'", "gad7 scale 'total'",
                  "sdq_parent_4_17 scale 'total_difficulties'", "swemwbs scale 'total'"):
        assert scale in msg
    res = change_analysis(small_data, sample_norms=True)
    rc = res.reliable_change
    basis = rc.drop_duplicates("instrument").set_index("instrument")["rci_basis"]
    assert basis["gad7"] == "baseline sample SD"
    assert basis["sdq_parent_4_17"] == "baseline sample SD; no clinical cut-off"
    assert basis["swemwbs"].startswith("baseline sample alpha 0.")
    assert basis["swemwbs"].endswith("; baseline sample SD; no clinical cut-off")
    # Result behaviour of the container
    assert repr(res) == "<Pre/post change: 2 parts: change, reliable_change>"
    text = res.summary().as_text()
    assert text.startswith("Pre/post change") and "reliable_change" in text
    assert set(res.summary().tables) == {"change", "reliable_change"}
    assert "part-change" in res._repr_html_()
    pd.testing.assert_frame_equal(res.to_frame(), res.change)
