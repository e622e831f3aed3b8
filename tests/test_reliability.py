"""Tests of rpc_eval.instruments.reliability: R reference values, hand-checked cases, errors, and a
known-truth coverage check of the Feldt interval.

The R values come from tests/reference/reliability.R (psych 2.2.9, lavaan 0.6.14),
run on tests/reference/reliability_items.csv (written by make_reliability_items.py)
and committed as tests/reference/reliability.json; R is not needed to run this file.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rpc_eval import instruments
from rpc_eval.errors import (
    BoundaryFitWarning,
    DataQualityWarning,
    DataValidationError,
    RpcEvalError,
)
from rpc_eval.instruments.reliability import (
    RELIABILITY_COLUMNS,
    cronbach_alpha,
    item_rest_correlations,
    item_scores,
    omega_total,
    one_factor_ml,
    reliability,
)

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "reliability.json").read_text())
DATA = pd.read_csv(REF_DIR / "reliability_items.csv")
SIX = [f"a{i}" for i in range(1, 7)]
CONDUCT = ["sdq_05", "sdq_07", "sdq_12", "sdq_18", "sdq_22"]

#: Closed-form statistics (alpha, Feldt CI, item statistics) use the same formulas as
#: psych, so they agree to rounding error.
TOL_EXACT = 1e-9
#: Loadings and omega against stats::factanal run with a tight optimiser tolerance
#: (factr = 1, pgtol = 0): the same ML criterion converged as far as both go.
TOL_TIGHT = 1e-7
#: Against psych::fa(fm = "ml") and lavaan::cfa at their default tolerances. The
#: optimisers differ (psych: L-BFGS-B with factr 1e7; lavaan: nlminb on a different
#: parametrisation), so they stop at slightly different points near the same optimum
#: (observed differences are below 1e-6); the tolerance leaves room for other
#: platforms and versions.
TOL_OPTIM = 1e-5


def _conduct_scores(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[CONDUCT].copy()
    out["sdq_07"] = 2 - out["sdq_07"]  # SDQ reverse keying
    return out


BLOCKS = {
    "six_items": lambda: DATA[SIX],
    "sdq_conduct": lambda: _conduct_scores(DATA),
    "sdq_conduct_baseline": lambda: _conduct_scores(DATA[DATA["wave"] == "baseline"]),
    "sdq_conduct_end": lambda: _conduct_scores(DATA[DATA["wave"] == "end"]),
}


# ------------------------------------------------------------------ R reference values
@pytest.mark.parametrize("block", list(BLOCKS))
def test_alpha_and_feldt_match_psych(block):
    ref, items = REF[block], BLOCKS[block]()
    out = cronbach_alpha(items)
    row = out.iloc[0]
    assert list(out.columns) == ["estimator", "estimate", "ci_low", "ci_high", "ci_level",
                                 "n", "k", "ci_method"]
    assert row["estimator"] == "cronbach_alpha" and row["ci_method"] == "feldt"
    assert row["n"] == ref["n"] and row["k"] == ref["k"]
    assert row["estimate"] == pytest.approx(ref["raw_alpha"], abs=TOL_EXACT)
    assert [row["ci_low"], row["ci_high"]] == pytest.approx(ref["feldt_95"], abs=TOL_EXACT)
    # psych::alpha's own $feldt element is the same interval
    assert ref["feldt_95_psych_alpha"] == pytest.approx(ref["feldt_95"], abs=1e-15)
    row90 = cronbach_alpha(items, ci=0.90).iloc[0]
    assert [row90["ci_low"], row90["ci_high"]] == pytest.approx(ref["feldt_90"],
                                                                abs=TOL_EXACT)


@pytest.mark.parametrize("block", list(BLOCKS))
def test_item_statistics_match_psych(block):
    ref, items = REF[block], BLOCKS[block]()
    out = item_rest_correlations(items)
    assert list(out.columns) == ["item", "item_rest_r", "alpha_if_deleted", "mean", "sd", "n"]
    assert list(out["item"]) == ref["items"]
    np.testing.assert_allclose(out["item_rest_r"], ref["r_drop"], rtol=0, atol=TOL_EXACT)
    np.testing.assert_allclose(out["alpha_if_deleted"], ref["alpha_drop"], rtol=0,
                               atol=TOL_EXACT)
    np.testing.assert_allclose(out["mean"], ref["item_mean"], rtol=0, atol=TOL_EXACT)
    np.testing.assert_allclose(out["sd"], ref["item_sd"], rtol=0, atol=TOL_EXACT)
    assert (out["n"] == ref["n"]).all()


@pytest.mark.parametrize("block", list(BLOCKS))
def test_one_factor_ml_matches_factanal_psych_and_lavaan(block):
    ref, items = REF[block], BLOCKS[block]()
    fit = one_factor_ml(items)
    np.testing.assert_allclose(fit["loading"], ref["factanal_loadings"], rtol=0, atol=TOL_TIGHT)
    np.testing.assert_allclose(fit["uniqueness"], ref["factanal_uniquenesses"], rtol=0,
                               atol=TOL_TIGHT)
    np.testing.assert_allclose(fit["loading"], ref["fa_ml_loadings"], rtol=0, atol=TOL_OPTIM)
    np.testing.assert_allclose(fit["uniqueness"], ref["fa_ml_uniquenesses"], rtol=0,
                               atol=TOL_OPTIM)
    # lavaan's ML covariance has divisor n; ours n - 1
    n = ref["n"]
    shrink = (n - 1) / n
    np.testing.assert_allclose(fit["raw_loading"] * np.sqrt(shrink), ref["lavaan_loadings"],
                               rtol=0, atol=TOL_OPTIM)
    np.testing.assert_allclose(fit["raw_residual_variance"] * shrink,
                               ref["lavaan_residual_variances"], rtol=0, atol=TOL_OPTIM)


@pytest.mark.parametrize("block", list(BLOCKS))
def test_omega_matches_r(block):
    ref, items = REF[block], BLOCKS[block]()
    raw = omega_total(items)
    assert raw.loc[0, "estimator"] == "omega_total"
    assert raw.loc[0, "n"] == ref["n"] and raw.loc[0, "k"] == ref["k"]
    assert raw.loc[0, "estimate"] == pytest.approx(ref["omega_raw_factanal"], abs=TOL_TIGHT)
    assert raw.loc[0, "estimate"] == pytest.approx(ref["omega_raw_lavaan"], abs=TOL_OPTIM)
    std = omega_total(items, standardised=True).loc[0, "estimate"]
    assert std == pytest.approx(ref["omega_standardized_factanal"], abs=TOL_TIGHT)
    assert std == pytest.approx(ref["omega_standardized_fa"], abs=TOL_OPTIM)
    # psych::omega(nfactors = 1, fm = "ml")$omega.tot divides by the observed sum(R)
    obs = omega_total(items, standardised=True, denominator="observed").loc[0, "estimate"]
    assert obs == pytest.approx(ref["omega_tot_psych_observed"], abs=TOL_OPTIM)


def test_reliability_applies_reverse_keying_and_matches_r_by_wave():
    inst = instruments.get("sdq_parent_4_17")
    wide = DATA[["respondent_id", "wave"]].rename(columns={"respondent_id": "parent_id"})
    wide.insert(1, "respondent", "parent")
    for item in inst.items:
        wide[item] = DATA[item] if item in DATA.columns else np.nan
    out = reliability(wide, "sdq_parent_4_17", scales=["conduct"])
    assert list(out.columns) == ["instrument", "scale", "wave", "n", "k", "alpha",
                                 "alpha_ci_low", "alpha_ci_high", "omega_total"]
    assert list(out["wave"]) == ["baseline", "end"]
    for _, row in out.iterrows():
        ref = REF[f"sdq_conduct_{row['wave']}"]
        assert row["n"] == ref["n"] and row["k"] == 5
        assert row["alpha"] == pytest.approx(ref["raw_alpha"], abs=TOL_EXACT)
        assert [row["alpha_ci_low"], row["alpha_ci_high"]] == pytest.approx(
            ref["feldt_95"], abs=TOL_EXACT)
        assert row["omega_total"] == pytest.approx(ref["omega_raw_factanal"], abs=TOL_TIGHT)
    pooled = reliability(wide, "sdq_parent_4_17", by=(), scales=["conduct"])
    assert list(pooled.columns) == RELIABILITY_COLUMNS
    assert pooled.loc[0, "alpha"] == pytest.approx(REF["sdq_conduct"]["raw_alpha"],
                                                   abs=TOL_EXACT)
    assert pooled.loc[0, "n"] == REF["sdq_conduct"]["n"]


# ---------------------------------------------------------------------- hand-checked
def test_two_item_case_by_hand():
    # x = 0, 1, 2 (var 1); y = 0, 2, 2 (var 4/3); cov = 1.
    # alpha = 2 * (1 - (1 + 4/3) / (1 + 4/3 + 2)) = 12/13.
    # Feldt with n = 3, k = 2: F(2, 2) has cdf x / (1 + x), so F_p = p / (1 - p):
    # low = 1 - (1/13) * 39 = -2, high = 1 - (1/13) / 39 = 506/507.
    items = pd.DataFrame({"x": [0, 1, 2], "y": [0, 2, 2]})
    row = cronbach_alpha(items).iloc[0]
    assert row["estimate"] == pytest.approx(12 / 13, abs=1e-14)
    assert row["ci_low"] == pytest.approx(-2.0, abs=1e-12)
    assert row["ci_high"] == pytest.approx(506 / 507, abs=1e-12)
    stats_ = item_rest_correlations(items)
    # with two items the rest is the other item: r = 1 / sqrt(1 * 4/3)
    np.testing.assert_allclose(stats_["item_rest_r"], [np.sqrt(3) / 2] * 2, atol=1e-14)
    assert stats_["alpha_if_deleted"].isna().all()
    np.testing.assert_allclose(stats_["sd"], [1.0, np.sqrt(4 / 3)], atol=1e-14)


def test_three_item_case_by_hand_and_listwise_deletion():
    # the doctest example. Exactly: C = [[2, 7/5, 9/5], [7/5, 41/30, 37/30],
    # [9/5, 37/30, 13/6]], tr C = 83/15, 1'C1 = 72/5, so
    # alpha = 3/2 * (1 - (83/15) / (72/5)) = 133/144 = 0.923611 (psych::alpha agrees)
    items = pd.DataFrame({"q1": [1, 2, 3, 4, 5, 3], "q2": [2, 2, 3, 5, 4, 3],
                          "q3": [1, 3, 2, 4, 5, 2]})
    c = np.cov(items.to_numpy(float), rowvar=False)
    by_hand = 1.5 * (1 - np.trace(c) / c.sum())
    assert by_hand == pytest.approx(133 / 144, abs=1e-14)
    assert cronbach_alpha(items).loc[0, "estimate"] == pytest.approx(133 / 144, abs=1e-14)
    # a respondent with a missing item is left out
    more = pd.concat([items, pd.DataFrame({"q1": [9.0], "q2": [np.nan], "q3": [0.0]})],
                     ignore_index=True)
    row = cronbach_alpha(more).iloc[0]
    assert row["n"] == 6 and row["estimate"] == pytest.approx(133 / 144, abs=1e-14)


def test_alpha_invariances_and_omega_identities():
    rng = np.random.default_rng(3)
    f = rng.standard_normal(400)
    items = pd.DataFrame({f"q{j}": lam * f + rng.standard_normal(400)
                          for j, lam in enumerate([1.0, 0.8, 0.6, 0.9], start=1)})
    a = cronbach_alpha(items).loc[0, "estimate"]
    # adding constants to items changes nothing; scaling every item by c changes nothing
    assert cronbach_alpha(items + 3).loc[0, "estimate"] == pytest.approx(a, abs=1e-12)
    assert cronbach_alpha(items * 2.5).loc[0, "estimate"] == pytest.approx(a, abs=1e-12)
    # omega (raw) is invariant to a common rescaling; standardised omega to any
    om = omega_total(items).loc[0, "estimate"]
    assert omega_total(items * 4).loc[0, "estimate"] == pytest.approx(om, abs=1e-8)
    om_std = omega_total(items, standardised=True).loc[0, "estimate"]
    scaled = items * [1, 2, 3, 4]
    assert omega_total(scaled, standardised=True).loc[0, "estimate"] == pytest.approx(
        om_std, abs=1e-8)
    # congeneric items: omega >= alpha
    assert om >= a
    # three items: the one-factor model is just identified, so both denominators agree
    three = items[["q1", "q2", "q3"]]
    m = omega_total(three).loc[0, "estimate"]
    o = omega_total(three, denominator="observed").loc[0, "estimate"]
    assert m == pytest.approx(o, abs=1e-8)
    # ML reproduces the item variances: loading^2 + uniqueness = 1
    fit = one_factor_ml(items)
    np.testing.assert_allclose(fit["loading"] ** 2 + fit["uniqueness"], 1.0, atol=1e-6)


def test_omega_recovers_population_value():
    # congeneric one-factor model with known omega = (sum l)^2 / ((sum l)^2 + sum psi)
    lam = np.array([0.9, 0.7, 0.5, 0.6, 0.4])
    psi = np.array([0.5, 0.8, 1.0, 0.6, 0.9])
    truth = lam.sum() ** 2 / (lam.sum() ** 2 + psi.sum())
    rng = np.random.default_rng(11)
    n = 40_000
    f = rng.standard_normal(n)
    x = f[:, None] * lam + rng.standard_normal((n, 5)) * np.sqrt(psi)
    est = omega_total(pd.DataFrame(x)).loc[0, "estimate"]
    assert est == pytest.approx(truth, abs=0.005)


def test_feldt_interval_covers_true_alpha_about_95_percent():
    # Parallel items: x_ij = t_i + e_ij, var(t) = 1, var(e) = 1.5, so the inter-item
    # correlation is rho = 0.4 and the population alpha is k rho / (1 + (k - 1) rho).
    # Under this normal model the Feldt interval is exact, so its coverage in R
    # independent samples is Binomial(R, 0.95). Accept the central 99.9% of that
    # distribution (a false failure about once in 1000 seeds; this seed is fixed).
    k, n, reps = 5, 60, 200
    rho = 1 / (1 + 1.5)
    truth = k * rho / (1 + (k - 1) * rho)
    rng = np.random.default_rng(20240502)
    covered = 0
    for _ in range(reps):
        x = rng.standard_normal((n, 1)) + np.sqrt(1.5) * rng.standard_normal((n, k))
        row = cronbach_alpha(pd.DataFrame(x)).iloc[0]
        covered += row["ci_low"] <= truth <= row["ci_high"]
    low, high = stats.binom.ppf([0.0005, 0.9995], reps, 0.95)
    assert low <= covered <= high, f"coverage {covered}/{reps}"


# -------------------------------------------------------------- instrument scoring
def test_item_scores_recode_and_reverse():
    inst = instruments.get("sdq_parent_4_17")
    wide = pd.DataFrame({item: [np.nan, np.nan] for item in inst.items})
    wide[["sdq_imp_upset", "sdq_imp_home"]] = [[0, 3], [1, 2]]
    wide[["sdq_05", "sdq_07"]] = [[0, 0], [2, 1]]
    impact = item_scores(wide, inst, "impact")
    # impact items are recoded 0, 1, 2, 3 -> 0, 0, 1, 2
    np.testing.assert_array_equal(impact["sdq_imp_upset"], [0, 0])
    np.testing.assert_array_equal(impact["sdq_imp_home"], [2, 1])
    conduct = item_scores(wide, inst, "conduct")
    np.testing.assert_array_equal(conduct["sdq_07"], [2, 1])  # reversed: 2 - code
    np.testing.assert_array_equal(conduct["sdq_05"], [0, 2])


def test_composite_scales_use_all_items_of_their_parts():
    inst = instruments.get("sdq_parent_4_17")
    rng = np.random.default_rng(5)
    n = 120
    trait = rng.standard_normal(n)
    wide = pd.DataFrame({"parent_id": [f"P{i}" for i in range(n)], "wave": "baseline"})
    for item in inst.items:
        y = 0.6 * trait + rng.standard_normal(n)
        wide[item] = np.digitize(y, [0.0, 1.0]).astype(float)
    out = reliability(wide, inst, scales=["externalising", "conduct", "hyperactivity"])
    ext = out.set_index("scale").loc["externalising"]
    assert ext["k"] == 10
    items = pd.concat([item_scores(wide, inst, "conduct"),
                       item_scores(wide, inst, "hyperactivity")], axis=1)
    assert ext["alpha"] == pytest.approx(cronbach_alpha(items).loc[0, "estimate"], abs=1e-12)
    assert list(out["scale"]) == ["externalising", "conduct", "hyperactivity"]
    total = reliability(wide, inst, by=(), scales=["total_difficulties"])
    assert total.loc[0, "k"] == 20


def test_reliability_from_long_responses_and_wave_order():
    rng = np.random.default_rng(9)
    rows = []
    for p in range(60):
        trait = rng.standard_normal()
        for wave in ("end", "baseline"):
            for j in range(1, 8):
                y = 0.8 * trait + 0.6 * rng.standard_normal()
                rows.append({"parent_id": f"P{p:02d}", "respondent": "parent",
                             "instrument": "gad7", "wave": wave, "item": f"gad7_0{j}",
                             "value": float(np.digitize(y, [-0.3, 0.5, 1.3]))})
    wide = instruments.responses_to_wide(pd.DataFrame(rows), "gad7")
    out = reliability(wide, "gad7")
    assert list(out["wave"]) == ["baseline", "end"]
    assert (out["n"] == 60).all() and (out["k"] == 7).all()
    assert (out["alpha_ci_low"] < out["alpha"]).all()
    assert (out["alpha"] < out["alpha_ci_high"]).all()
    # a categorical wave keeps its category order
    wide["wave"] = pd.Categorical(wide["wave"], categories=["end", "baseline"])
    assert list(reliability(wide, "gad7")["wave"]) == ["end", "baseline"]


# ------------------------------------------------------------------------------ errors
def test_error_too_few_items():
    with pytest.raises(RpcEvalError, match="at least 2"):
        cronbach_alpha(pd.DataFrame({"q1": [1, 2, 3, 4]}))
    with pytest.raises(RpcEvalError, match="at least 2"):
        item_rest_correlations(pd.DataFrame({"q1": [1, 2, 3, 4]}))
    with pytest.raises(RpcEvalError, match="at least 3"):
        omega_total(pd.DataFrame({"q1": [1, 2, 3, 4], "q2": [1, 3, 2, 4]}))


def test_error_too_few_complete_respondents():
    items = pd.DataFrame({"q1": [1, 2, np.nan, 4], "q2": [1, np.nan, 2, 4],
                          "q3": [2, 2, 3, 1]})
    with pytest.raises(RpcEvalError, match="2 respondent.*at least 3 complete"):
        cronbach_alpha(items)
    with pytest.raises(RpcEvalError, match="at least 3 complete"):
        omega_total(items)


def test_error_zero_variance_total():
    items = pd.DataFrame({"q1": [0, 1, 2, 3], "q2": [3, 2, 1, 0]})
    with pytest.raises(RpcEvalError, match="same total score"):
        cronbach_alpha(items)
    with pytest.raises(RpcEvalError, match="same total score"):
        item_rest_correlations(items)


def test_error_bad_input():
    with pytest.raises(RpcEvalError, match="not numeric"):
        cronbach_alpha(pd.DataFrame({"id": ["a", "b", "c"], "q1": [1, 2, 3], "q2": [2, 1, 3]}))
    with pytest.raises(RpcEvalError, match="confidence level"):
        cronbach_alpha(pd.DataFrame({"q1": [1, 2, 3], "q2": [2, 1, 3]}), ci=95)
    with pytest.raises(RpcEvalError, match="denominator"):
        omega_total(DATA[SIX], denominator="sample")


def test_omega_errors_and_heywood_warning():
    # an item without variance cannot be factored
    items = pd.DataFrame({"q1": [1, 2, 3, 4, 2], "q2": [1, 3, 2, 4, 3], "q3": [2] * 5})
    with pytest.raises(RpcEvalError, match="q3.*same score"):
        omega_total(items)
    # a duplicated item makes the correlation matrix singular
    dup = DATA[SIX].assign(a7=DATA["a1"])
    with pytest.raises(RpcEvalError, match="singular"):
        one_factor_ml(dup)
    # r12 * r13 / r23 = 1.2 > 1: the ML loading of item 1 would exceed 1 (Heywood case)
    corr = np.array([[1, 0.6, 0.6], [0.6, 1, 0.3], [0.6, 0.3, 1]])
    x = np.random.default_rng(2).multivariate_normal(np.zeros(3), corr, size=5000)
    with pytest.warns(BoundaryFitWarning, match="Heywood"):
        one_factor_ml(pd.DataFrame(x, columns=["q1", "q2", "q3"]))


def test_reliability_errors_and_on_error_warn():
    rng = np.random.default_rng(4)
    wide = pd.DataFrame({"parent_id": [f"P{i}" for i in range(42)],
                         "wave": ["baseline"] * 40 + ["end"] * 2})
    trait = rng.standard_normal(42)
    for j in range(1, 8):
        wide[f"gad7_0{j}"] = np.digitize(trait + rng.standard_normal(42), [-0.5, 0.5, 1.5])
    with pytest.raises(RpcEvalError, match=r"gad7 scale total \(wave=end\).*at least 3"):
        reliability(wide, "gad7")
    with pytest.warns(DataQualityWarning, match="wave=end"):
        out = reliability(wide, "gad7", on_error="warn")
    end = out.set_index("wave").loc["end"]
    assert end["n"] == 2 and np.isnan(end["alpha"]) and np.isnan(end["omega_total"])
    assert out.set_index("wave").loc["baseline", "alpha"] > 0
    with pytest.raises(RpcEvalError, match="by column"):
        reliability(wide, "gad7", by=("visit",))
    with pytest.raises(RpcEvalError, match="no scale"):
        reliability(wide, "gad7", scales=["anxiety"])
    with pytest.raises(RpcEvalError, match="on_error"):
        reliability(wide, "gad7", on_error="ignore")
    with pytest.raises(DataValidationError, match="missing"):
        reliability(wide.drop(columns="gad7_03"), "gad7")
    bad = wide.copy()
    bad.loc[3, "gad7_02"] = 7
    with pytest.raises(DataValidationError) as info:
        reliability(bad, "gad7")
    assert "gad7_02" in str(info.value) and "0 to 3" in str(info.value)


def test_reliability_omega_missing_with_warning_when_an_item_is_constant():
    rng = np.random.default_rng(8)
    wide = pd.DataFrame({"wave": ["baseline"] * 50})
    trait = rng.standard_normal(50)
    for j in range(1, 8):
        wide[f"gad7_0{j}"] = np.digitize(trait + rng.standard_normal(50), [-0.5, 0.5, 1.5])
    wide["gad7_07"] = 0.0  # nobody endorses item 7
    with pytest.warns(DataQualityWarning, match="omega_total not computed"):
        out = reliability(wide, "gad7")
    assert np.isfinite(out.loc[0, "alpha"]) and np.isnan(out.loc[0, "omega_total"])


def test_no_warnings_on_reference_data():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for block in BLOCKS.values():
            omega_total(block())
