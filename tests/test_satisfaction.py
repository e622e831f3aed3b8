"""Tests for rpc_eval.monitoring.satisfaction (R reference: tests/reference/satisfaction.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.errors import DataQualityWarning, RpcEvalError
from rpc_eval.monitoring.satisfaction import (
    compare_groups,
    likert_distribution,
    likert_summary,
    target_attainment,
)

REF = json.loads((Path(__file__).parent / "reference" / "satisfaction.json").read_text())


@pytest.fixture(scope="module")
def small(small_data):
    return small_data


@pytest.fixture
def wide():
    return pd.DataFrame({"grp": ["a", "a", "a", "b", "b"],
                         "q1": [5, 4, 4, 2, 1], "q2": [3, 3, np.nan, 5, 4]})


# ------------------------------------------------------------------ Likert by hand
def test_distribution_hand_worked_all_codes(wide):
    d = likert_distribution(wide, items=["q1", "q2"])
    assert list(d.columns) == ["item", "response", "n", "percent"]
    q1 = d[d["item"] == "q1"]
    assert q1["response"].tolist() == [1, 2, 3, 4, 5]
    assert q1["n"].tolist() == [1, 1, 0, 2, 1]
    assert q1["percent"].tolist() == [20.0, 20.0, 0.0, 40.0, 20.0]
    q2 = d[d["item"] == "q2"]
    assert q2["n"].sum() == 4  # missing left out
    assert q2["percent"].sum() == pytest.approx(100)


def test_summary_hand_worked(wide):
    s = likert_summary(wide, items=["q1", "q2"])
    q1 = s.set_index("item").loc["q1"]
    assert q1["n"] == 5
    assert q1["mean"] == pytest.approx(3.2)
    assert q1["top_box"] == pytest.approx(0.6)
    assert q1["bottom_box"] == pytest.approx(0.4)
    assert q1["net_score"] == pytest.approx(0.2)
    q2 = s.set_index("item").loc["q2"]
    assert q2["n"] == 4 and q2["mean"] == pytest.approx(3.75)
    assert q2["top_box"] == pytest.approx(0.5) and q2["bottom_box"] == 0


def test_summary_by_group(wide):
    s = likert_summary(wide, items=["q1", "q2"], by="grp")
    assert list(s.columns[:2]) == ["grp", "item"]
    row = s[(s.grp == "a") & (s.item == "q1")].iloc[0]
    assert row["n"] == 3 and row["top_box"] == 1.0 and row["top_box_ci_high"] == 1.0
    row = s[(s.grp == "b") & (s.item == "q1")].iloc[0]
    assert row["top_box"] == 0 and row["top_box_ci_low"] == 0 and row["net_score"] == -1


def test_summary_matches_r_t_and_wilson():
    ref = REF["likert"]
    s = likert_summary(pd.DataFrame({"x": ref["x"]}), items="x").iloc[0]
    assert s["mean"] == pytest.approx(ref["mean"], abs=1e-12)
    assert s["sd"] == pytest.approx(ref["sd"], abs=1e-12)
    assert [s["mean_ci_low"], s["mean_ci_high"]] == pytest.approx(ref["mean_ci"], abs=1e-10)
    assert s["top_box"] == pytest.approx(ref["top_box"])
    assert [s["top_box_ci_low"], s["top_box_ci_high"]] == pytest.approx(ref["top_box_ci"], abs=1e-10)
    assert s["bottom_box"] == pytest.approx(ref["bottom_box"])
    d = likert_distribution(pd.DataFrame({"x": ref["x"]}))
    assert d["n"].tolist() == ref["counts"]


def test_long_and_wide_agree(wide):
    long = wide.assign(pid=range(5)).melt(id_vars=["pid", "grp"], value_vars=["q1", "q2"],
                                         var_name="item", value_name="value")
    a = likert_summary(wide, items=["q1", "q2"], by="grp")
    b = likert_summary(long[["grp", "item", "value"]], by="grp")
    pd.testing.assert_frame_equal(a, b)
    c = likert_summary(long.rename(columns={"item": "question"})[["grp", "question", "value"]],
                       by="grp")
    pd.testing.assert_frame_equal(a, c)
    one = likert_summary(long, items=["q2"], by="grp")
    assert one["item"].unique().tolist() == ["q2"]


def test_six_point_scale_boxes_mirror():
    df = pd.DataFrame({"use": [1, 2, 3, 4, 5, 6, 6]})
    s = likert_summary(df, top_box=(5, 6), scale=(1, 6)).iloc[0]
    assert s["top_box"] == pytest.approx(3 / 7) and s["bottom_box"] == pytest.approx(2 / 7)
    s = likert_summary(df, top_box=(6,), bottom_box=(1, 2, 3), scale=(1, 6)).iloc[0]
    assert s["top_box"] == pytest.approx(2 / 7) and s["bottom_box"] == pytest.approx(3 / 7)


def test_all_one_response_and_empty_item():
    df = pd.DataFrame({"q1": [4, 4, 4], "q2": [np.nan] * 3})
    s = likert_summary(df).set_index("item")
    assert s.loc["q1", "mean"] == 4 and s.loc["q1", "sd"] == 0
    assert s.loc["q1", "mean_ci_low"] == 4 and s.loc["q1", "top_box"] == 1
    assert s.loc["q2", "n"] == 0 and np.isnan(s.loc["q2", "mean"])
    assert np.isnan(s.loc["q2", "top_box_ci_low"])
    d = likert_distribution(df)
    assert d[d.item == "q2"]["percent"].isna().all()
    single = likert_summary(pd.DataFrame({"q": [5]})).iloc[0]
    assert single["n"] == 1 and np.isnan(single["mean_ci_low"])


@pytest.mark.parametrize("bad, match", [
    (pd.DataFrame({"q": [1, 7]}), "scale 1-5"),
    (pd.DataFrame({"q": [1, 2.5]}), "whole numbers"),
    (pd.DataFrame({"q": ["agree", "neutral"]}), "numeric"),
    (pd.DataFrame({"q": [np.nan, np.nan]}), "no non-missing"),
])
def test_likert_bad_input(bad, match):
    with pytest.raises(RpcEvalError, match=match):
        likert_summary(bad)


def test_likert_bad_options(wide):
    with pytest.raises(RpcEvalError, match="overlap"):
        likert_summary(wide, items=["q1"], top_box=(3, 4, 5), bottom_box=(1, 2, 3))
    with pytest.raises(RpcEvalError, match="inside scale"):
        likert_summary(wide, items=["q1"], top_box=(6,))
    with pytest.raises(RpcEvalError, match="not found"):
        likert_summary(wide, items=["q1"], by="nope")
    with pytest.raises(RpcEvalError, match="ci"):
        likert_summary(wide, items=["q1"], ci=95)


# ------------------------------------------------------------------ synthetic data
def test_parent_satisfaction_small(small):
    data, truth = small
    ps = data.responses.query("instrument == 'parent_satisfaction' and wave == 'end'")
    s = likert_summary(ps)
    assert s["item"].tolist() == [f"sat_0{i}" for i in range(1, 6)]
    nonmiss = ps.groupby("item")["value"].count()
    assert s.set_index("item")["n"].to_dict() == nonmiss.to_dict()
    assert (s["top_box_ci_low"] <= s["top_box"]).all() and (s["top_box"] <= s["top_box_ci_high"]).all()
    d = likert_distribution(ps)
    top = d[d.response >= 4].groupby("item")["percent"].sum() / 100
    np.testing.assert_allclose(top.to_numpy(), s["top_box"].to_numpy())
    # the truth records a population mean satisfaction (mean of items) for completers
    parents = data.parents.set_index("parent_id")["exit_reason"]
    person = ps.groupby("parent_id")["value"].mean()
    completed = person[person.index.map(parents) == "completed"]
    true_mean = truth["questionnaires"]["population_values"]["parent_satisfaction"][
        "mean_satisfaction"]["end_completed"]["mean"]
    assert completed.mean() == pytest.approx(true_mean, abs=0.15)
    by = likert_summary(ps.merge(data.parents[["parent_id", "exit_reason"]]), by="exit_reason")
    assert set(by["exit_reason"]) <= {"completed", "dropped_out", "ongoing", "not_started"}


def test_training_satisfaction_top_box_near_truth(small):
    data, truth = small
    tr = data.training_responses.query("question == 'satisfaction' and wave == 'post'")
    s = likert_summary(tr).iloc[0]
    true_share = truth["training"]["population_values"]["satisfaction_share_4_or_5"]
    assert s["item"] == "satisfaction"
    assert s["top_box"] == pytest.approx(true_share, abs=0.06)
    assert s["top_box_ci_low"] - 0.03 < true_share < s["top_box_ci_high"] + 0.03
    tt = target_attainment(data=tr.assign(sat=(tr["value"] >= 4).astype(int)), outcome="sat",
                           target=0.8)
    assert tt["successes"][0] == round(s["top_box"] * s["n"])


# ------------------------------------------------------------------ target attainment
@pytest.mark.parametrize("case", REF["binom"], ids=lambda c: f"{c['x']}/{c['n']}@{c['target']}")
def test_target_attainment_matches_r(case):
    r = target_attainment(case["x"], case["n"], target=case["target"], ci=case["ci"]).iloc[0]
    assert r["p_value"] == pytest.approx(case["p_value"], rel=1e-9, abs=1e-14)
    assert r["lower_bound_one_sided"] == pytest.approx(case["lower_bound_one_sided"], abs=1e-10)
    assert r["ci_low"] == pytest.approx(case["ci_low"], abs=1e-10)
    assert r["ci_high"] == pytest.approx(case["ci_high"], abs=1e-10)
    assert bool(r["meets_target"]) == (case["lower_bound_one_sided"] > case["target"])
    assert bool(r["meets_target"]) == (case["p_value"] < 1 - case["ci"])


def test_target_attainment_vector_series_and_groups():
    r = target_attainment([90, 80], [100, 100])
    assert list(r.columns) == ["n", "successes", "proportion", "target", "p_value", "ci_low",
                               "ci_high", "lower_bound_one_sided", "meets_target"]
    assert r["meets_target"].tolist() == [True, False]
    s = target_attainment(pd.Series([1] * 9 + [0]))
    assert s["n"][0] == 10 and s["successes"][0] == 9
    df = pd.DataFrame({"la": ["x"] * 10 + ["y"] * 4, "ok": [1] * 9 + [0] + [True, False, None, 1]})
    g = target_attainment(data=df, outcome="ok", by="la")
    assert g["la"].tolist() == ["x", "y"]
    assert g["n"].tolist() == [10, 3] and g["successes"].tolist() == [9, 2]


def test_target_attainment_degenerate():
    with pytest.raises(RpcEvalError, match="n = 0"):
        target_attainment(0, 0)
    df = pd.DataFrame({"la": ["x", "y"], "ok": [1, None]})
    with pytest.raises(RpcEvalError, match="n = 0"):
        target_attainment(data=df, outcome="ok", by="la")
    with pytest.raises(RpcEvalError, match="0/1"):
        target_attainment(data=pd.DataFrame({"ok": [1, 2]}), outcome="ok")
    with pytest.raises(RpcEvalError, match="0 <= successes"):
        target_attainment(5, 3)
    with pytest.raises(RpcEvalError, match="target"):
        target_attainment(5, 10, target=80)
    all_yes = target_attainment(10, 10).iloc[0]
    assert all_yes["ci_high"] == 1 and all_yes["p_value"] == pytest.approx(0.8 ** 10)


# ------------------------------------------------------------------ group comparison
@pytest.fixture(scope="module")
def groups():
    return pd.DataFrame(REF["groups"])


def test_chi2_matches_r(groups):
    r = compare_groups(groups, "y", "g").iloc[0]
    ref = REF["chisq"]
    assert r["statistic"] == pytest.approx(ref["statistic"], rel=1e-10)
    assert r["df"] == ref["df"]
    assert r["p_value"] == pytest.approx(ref["p_value"], rel=1e-8)
    assert r["cramers_v"] == pytest.approx(ref["cramers_v"], rel=1e-10)
    assert r["n"] == len(groups)


def test_chi2_hand_worked_2x2():
    # table [[10, 0], [0, 10]]: chi2 = n = 20 (uncorrected), V = 1
    df = pd.DataFrame({"g": ["a"] * 10 + ["b"] * 10, "y": [5] * 10 + [1] * 10})
    r = compare_groups(df, "y", "g").iloc[0]
    assert r["statistic"] == pytest.approx(20) and r["cramers_v"] == pytest.approx(1)
    assert r["df"] == 1


def test_ordinal_matches_polr(groups):
    r = compare_groups(groups, "y", "g", method="ordinal")
    ref = REF["polr"]
    g = r[r.kind == "group"]
    assert g["term"].tolist() == ["g[T.b]", "g[T.c]"]
    np.testing.assert_allclose(g["estimate"], ref["coef"], atol=1e-4)
    np.testing.assert_allclose(g["std_error"], ref["se"], atol=1e-4)
    np.testing.assert_allclose(r[r.kind == "threshold"]["estimate"], ref["zeta"], atol=1e-4)
    np.testing.assert_allclose(g["ratio"], np.exp(ref["coef"]), rtol=1e-3)
    assert (g["ratio_ci_low"] < g["ratio"]).all() and (g["ratio"] < g["ratio_ci_high"]).all()
    np.testing.assert_allclose(g["ratio_ci_low"], np.exp(g["ci_low"]), rtol=1e-12)
    np.testing.assert_allclose(g["statistic"], g["estimate"] / g["std_error"], rtol=1e-12)
    assert r[r.kind == "threshold"]["term"].tolist() == [
        "threshold[T.1|2]", "threshold[T.2|3]", "threshold[T.3|4]", "threshold[T.4|5]"]


def test_ordinal_cluster_matches_sandwich_vcovcl(groups):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)  # 12 clusters: no warning
        r = compare_groups(groups, "y", "g", method="ordinal", cluster="cluster")
    g = r[r.kind == "group"]
    np.testing.assert_allclose(g["std_error"], REF["polr"]["se_cluster"], atol=1e-4)
    assert (r["cov_type"] == "cluster").all()


def test_ordinal_reference_level(groups):
    r = compare_groups(groups, "y", "g", method="ordinal", reference="b")
    g = r[r.kind == "group"].set_index("term")["estimate"]
    assert g["g[T.a]"] == pytest.approx(-REF["polr"]["coef"][0], abs=1e-4)


def test_compare_groups_degenerate(groups):
    same = pd.DataFrame({"g": ["a", "b", "a"], "y": [4, 4, 4]})
    for method in ("chi2", "ordinal"):
        with pytest.raises(RpcEvalError, match="single response"):
            compare_groups(same, "y", "g", method=method)
    with pytest.raises(RpcEvalError, match="one group"):
        compare_groups(pd.DataFrame({"g": ["a", "a"], "y": [1, 2]}), "y", "g")
    with pytest.raises(RpcEvalError, match="method"):
        compare_groups(groups, "y", "g", method="anova")
    with pytest.raises(RpcEvalError, match="only supported"):
        compare_groups(groups, "y", "g", cluster="cluster")
    with pytest.raises(RpcEvalError, match="not found"):
        compare_groups(groups, "y", "nope")
    with pytest.raises(RpcEvalError, match="no rows"):
        compare_groups(pd.DataFrame({"g": ["a"], "y": [np.nan]}), "y", "g")


def test_ordinal_cluster_warns_with_few_clusters(groups):
    few = groups.assign(cluster=groups["cluster"].astype(str).str[-1].map(
        lambda c: "even" if c in "02468" else "odd"))
    with pytest.warns(DataQualityWarning, match="only 2 clusters"):
        compare_groups(few, "y", "g", method="ordinal", cluster="cluster")


def _three_groups():
    rng = np.random.default_rng(2)
    return pd.DataFrame({"g": np.repeat(["a", "b", "c"], 40), "y": rng.integers(1, 6, 120)})


def test_ordinal_separated_group_is_plus_inf_and_the_rest_is_the_limit():
    # docs/conventions.md, Separation: group c answers only the highest code
    from rpc_eval.stats.separation import SeparationWarning

    d = _three_groups()
    d.loc[d.g == "c", "y"] = 5
    with pytest.warns(SeparationWarning, match=r"g\[T\.c\] \(g = 'c': every response is "
                                               r"the highest code\)"):
        r = compare_groups(d, "y", "g", method="ordinal").set_index("term")
    assert r.loc["g[T.c]", "estimate"] == np.inf and r.loc["g[T.c]", "ratio"] == np.inf
    assert r.loc["g[T.c]", ["std_error", "p_value", "ci_low", "ci_high"]].isna().all()
    assert (r["n"] == len(d)).all()
    alone = compare_groups(d[d.g != "c"], "y", "g", method="ordinal").set_index("term")
    np.testing.assert_allclose(r.loc[alone.index, "estimate"], alone["estimate"], rtol=1e-6)
    assert np.isfinite(r.loc["g[T.b]", "std_error"])


def test_ordinal_separation_with_only_the_reference_left():
    from rpc_eval.stats.separation import SeparationWarning

    d = _three_groups().query("g != 'b'").copy()
    d.loc[d.g == "c", "y"] = 1
    with pytest.warns(SeparationWarning, match="the lowest code"):
        r = compare_groups(d, "y", "g", method="ordinal").set_index("term")
    assert r.loc["g[T.c]", "estimate"] == -np.inf and r.loc["g[T.c]", "ratio"] == 0.0
    share = np.cumsum(d.loc[d.g == "a", "y"].value_counts(normalize=True).sort_index())
    expected = np.log(share / (1 - share)).to_numpy()[:-1]
    np.testing.assert_allclose(r.filter(like="threshold", axis=0)["estimate"], expected)


def test_ordinal_separated_reference_or_lost_code_is_refused_in_words():
    d = _three_groups()
    d.loc[d.g == "a", "y"] = 1
    with pytest.raises(RpcEvalError, match="reference group 'a' is the lowest code"):
        compare_groups(d, "y", "g", method="ordinal")
    d = _three_groups()
    d.loc[d.g != "c", "y"] = d.loc[d.g != "c", "y"].clip(upper=4)
    d.loc[d.g == "c", "y"] = 5
    with pytest.raises(RpcEvalError, match=r"code\(s\) \[5.0\] occur only in group"):
        compare_groups(d, "y", "g", method="ordinal")
