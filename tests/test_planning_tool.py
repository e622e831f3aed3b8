"""Tests of rpc_eval.monitoring.planning_tool.

Reference values: tests/reference/planning_tool.R (wilcox.test paired, exact = FALSE,
correct = TRUE; Stuart-Maxwell from its formula, and its generalised-inverse form)
writes tests/reference/planning_tool.json, inputs included; R is not needed here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.errors import RpcEvalError
from rpc_eval.monitoring import planning_tool as P
from rpc_eval.stats.intervals import wilson_interval

REF = json.loads((Path(__file__).parent / "reference" / "planning_tool.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


@pytest.fixture(scope="module")
def small(small_data):
    return small_data


def _book(k=4, items=("e1",), dims=("plan",)):
    return pd.DataFrame({"item": list(items), "section": "self_assessment",
                         "dimension": list(dims),
                         "responses": [[str(s) for s in range(1, k + 1)]] * len(items)})


def _pairs(y0, y1, item="e1", years=(2020, 2021)):
    las = [f"LA{i:03d}" for i in range(len(y0))]
    return pd.DataFrame({"la_code": las * 2,
                         "return_year": [years[0]] * len(y0) + [years[1]] * len(y1),
                         "section": "self_assessment", "item": item,
                         "response": [str(v) for v in list(y0) + list(y1)]})


# ----------------------------------------------------------------- R reference
@pytest.mark.parametrize("name", list(CASES))
def test_stage_change_matches_r(name):
    c = CASES[name]
    res = P.stage_change(_pairs(c["y0"], c["y1"]), _book(c["k"]), years=(2020, 2021)).iloc[0]
    assert res["n_paired"] == len(c["y0"])
    assert res["wilcoxon_statistic"] == pytest.approx(c["wilcoxon_V"], abs=1e-12)
    assert res["wilcoxon_p_value"] == pytest.approx(c["wilcoxon_p"], rel=1e-9)
    assert res["mean_change"] == pytest.approx(c["mean_change"], rel=1e-12)
    # generalised form is the reference for every case; classical form where defined
    assert res["stuart_maxwell_statistic"] == pytest.approx(c["sm_general_statistic"], rel=1e-9)
    assert res["stuart_maxwell_df"] == c["sm_general_df"]
    assert res["stuart_maxwell_p_value"] == pytest.approx(c["sm_general_p"], rel=1e-9)
    if c["sm_statistic"] is not None:
        assert res["stuart_maxwell_statistic"] == pytest.approx(c["sm_statistic"], rel=1e-9)
        assert res["stuart_maxwell_df"] == c["sm_df"]
        assert res["stuart_maxwell_p_value"] == pytest.approx(c["sm_p"], rel=1e-9)


@pytest.mark.parametrize("name", list(CASES))
def test_transition_table_matches_r(name):
    c = CASES[name]
    tab = P.transition_table(_pairs(c["y0"], c["y1"]), _book(c["k"]), "e1", years=(2020, 2021))
    assert tab.to_numpy().tolist() == c["table"]
    assert tab.index.name == "stage_2020" and tab.columns.name == "stage_2021"
    assert list(tab.index) == [str(s) for s in range(1, c["k"] + 1)]


# ----------------------------------------------------------------- by hand
def test_wilcoxon_and_stuart_maxwell_by_hand():
    # changes +1, 0, +1, 0, +2, 0, -1, 0: nonzero |d| = 1, 1, 2, 1 -> ranks 2, 2, 4, 2
    res = P.stage_change(_pairs([1, 1, 2, 2, 2, 3, 3, 4], [2, 1, 3, 2, 4, 3, 2, 4]),
                         _book(), years=(2020, 2021)).iloc[0]
    assert (res.n_up, res.n_same, res.n_down) == (3, 4, 1)
    assert res.percent_up == 37.5 and res.percent_same == 50.0 and res.percent_down == 12.5
    assert res.wilcoxon_statistic == 8.0
    # n = 4, mean 5, var = 4*5*9/24 - (27 - 3)/48 = 7.5 - 0.5 = 7
    z = (8 - 5 - 0.5) / np.sqrt(7)
    assert res.wilcoxon_z == pytest.approx(z)
    from scipy.stats import norm
    assert res.wilcoxon_p_value == pytest.approx(2 * norm.sf(z))
    # table rows 1..4: [1,1,0,0], [0,1,1,1], [0,1,1,0], [0,0,0,1]
    # d = (2,3,2,1) - (1,3,2,2) = (1,0,0,-1); S (first 3) = [[1,-1,0],[-1,4,-2],[0,-2,2]],
    # det 2, cofactor_11 = 4, so X2 = (S^-1)_11 = 2
    d = np.array([1.0, 0, 0])
    S = np.array([[1.0, -1, 0], [-1, 4, -2], [0, -2, 2]])
    assert res.stuart_maxwell_statistic == pytest.approx(d @ np.linalg.solve(S, d))
    assert res.stuart_maxwell_statistic == pytest.approx(2.0)
    assert res.mean_from == 2.25 and res.mean_to == 2.625


def test_no_change_gives_nan_tests():
    res = P.stage_change(_pairs([1, 2, 3], [1, 2, 3]), _book(), years=(2020, 2021)).iloc[0]
    assert res.n_same == 3 and res.mean_change == 0
    assert np.isnan(res.wilcoxon_p_value) and np.isnan(res.stuart_maxwell_statistic)
    assert res.stuart_maxwell_df == 0


def test_stuart_maxwell_two_categories_is_mcnemar():
    # 2 x 2: Stuart-Maxwell = (b - c)^2 / (b + c), McNemar without correction
    stat, df, p = P.stuart_maxwell([[10, 7], [2, 5]])
    assert stat == pytest.approx((7 - 2) ** 2 / 9) and df == 1


def test_stage_change_only_paired_las_and_missing():
    pt = _pairs([1, 2, 3, 2], [2, 2, 4, 3])
    pt = pd.concat([pt, pd.DataFrame({"la_code": ["LAX"], "return_year": [2021],
                                      "item": ["e1"], "response": ["4"]})])
    pt.loc[pt.index[3], "response"] = np.nan  # LA003 year 2020 missing
    res = P.stage_change(pt, _book(), years=(2020, 2021)).iloc[0]
    assert res.n_paired == 3 and res.n_up == 2 and res.n_same == 1


def test_stage_distribution_by_hand():
    book = _book(4, items=("e1", "e2", "e3"), dims=("plan", "plan", "lead"))
    pt = pd.DataFrame({
        "la_code": ["A", "B", "C", "A", "B", "C", "A", "B"],
        "return_year": 2021,
        "item": ["e1", "e1", "e1", "e2", "e2", "e2", "e3", "e3"],
        "response": ["1", "3", "3", "4", "2", "3", "2", None]})
    out = P.stage_distribution(pt, book)
    assert list(out.columns) == P.DISTRIBUTION_COLUMNS
    assert len(out) == 12  # 3 items x 4 stages, zeros kept
    e1 = out[out.item == "e1"]
    assert e1["stage"].tolist() == ["1", "2", "3", "4"]
    assert e1["n_las"].tolist() == [1, 0, 2, 0]
    assert e1["percent"].tolist() == pytest.approx([100 / 3, 0, 200 / 3, 0])
    e3 = out[out.item == "e3"]
    assert e3["n_total"].tolist() == [1] * 4  # the missing response is not counted
    assert out["dimension"].tolist() == ["plan"] * 8 + ["lead"] * 4
    dim = P.stage_distribution(pt, book, by="dimension")
    assert list(dim.columns) == P.DIMENSION_COLUMNS
    plan = dim[dim.dimension == "plan"].iloc[0]
    assert plan.n_items == 2 and plan.n_las == 3 and plan.n_responses == 6
    assert plan.mean_stage == pytest.approx((1 + 3 + 3 + 4 + 2 + 3) / 6)
    assert plan.n_at_least == 4 and plan.percent_at_least == pytest.approx(400 / 6)
    lead = dim[dim.dimension == "lead"].iloc[0]
    assert lead.n_responses == 1 and lead.mean_stage == 2 and lead.n_at_least == 0
    dim4 = P.stage_distribution(pt, book, by="dimension", at_least=4)
    assert dim4.loc[dim4.dimension == "plan", "n_at_least"].item() == 1


def test_categories_by_hand_with_wilson():
    book = pd.DataFrame({"item": ["aware_a", "aware_b"], "section": "partner_awareness",
                         "responses": [["very", "somewhat", "not"]] * 2})
    pt = pd.DataFrame({"la_code": list("ABCDE") * 2, "return_year": [2020] * 5 + [2021] * 5,
                       "item": "aware_a",
                       "response": ["very", "not", "not", "somewhat", "not",
                                    "very", "very", "not", "somewhat", "very"]})
    out = P.partner_awareness(pt, book, items=["aware_a"])
    assert list(out.columns) == P.CATEGORY_COLUMNS
    assert out["response"].tolist() == ["very", "somewhat", "not"] * 2
    assert out["n_las"].tolist() == [1, 1, 3, 3, 1, 1]
    lo, hi = wilson_interval([1, 1, 3, 3, 1, 1], [5] * 6)
    assert out["ci_low"].to_numpy() == pytest.approx(100 * lo)
    assert out["ci_high"].to_numpy() == pytest.approx(100 * hi)
    only = P.partner_awareness(pt, book, return_year=2021, items=["aware_a"])
    assert only["return_year"].unique().tolist() == [2021]


def test_interventions_offered_by_hand():
    book = pd.DataFrame({"item": ["o1", "o2"], "section": "interventions_offered",
                         "responses": [["yes", "no"]] * 2})
    pt = pd.DataFrame({"la_code": list("ABCDABCD"), "return_year": 2022,
                       "item": ["o1"] * 4 + ["o2"] * 4,
                       "response": ["yes", "yes", "no", "yes", "no", "no", "no", "no"]})
    out = P.interventions_offered(pt, book)
    assert list(out.columns) == P.OFFERED_COLUMNS
    assert out["n_offering"].tolist() == [3, 0] and out["n_total"].tolist() == [4, 4]
    assert out["percent"].tolist() == [75.0, 0.0]
    assert out["ci_low"].iloc[1] == 0.0


# ----------------------------------------------------------------- synthetic data
def test_synthetic_all_categories_present(small):
    data, _ = small
    cb = data.codebooks["planning_tool"]
    pt = data.planning_tool
    book = cb.to_frame()
    years = sorted(pt["return_year"].unique())
    n_las = pt["la_code"].nunique()
    for fn, section in [(P.stage_distribution, "self_assessment"),
                        (P.partner_awareness, "partner_awareness"),
                        (P.workforce_trained, "workforce_trained")]:
        out = fn(pt, cb)
        sub = book[book.section == section]
        expected = [(y, it, str(r)) for y in years for it, rs in
                    zip(sub.code, sub.responses, strict=True) for r in rs]
        col = "stage" if section == "self_assessment" else "response"
        assert list(zip(out.return_year, out["item"], out[col], strict=True)) == expected
        assert (out["n_total"] == n_las).all()
        assert out.groupby(["return_year", "item"])["percent"].sum().to_numpy() == \
            pytest.approx(100.0)
    offered = P.interventions_offered(pt, cb)
    assert len(offered) == len(years) * (book.section == "interventions_offered").sum()
    dim = P.stage_distribution(pt, cb, by="dimension")
    assert dim["dimension"].tolist() == ["plan", "lead", "deliver", "evaluate"] * len(years)


def test_synthetic_stages_rise(small):
    data, truth = small
    assert truth["parameters"]["planning_tool"]["growth_per_year"] > 0
    cb = data.codebooks["planning_tool"]
    pt = data.planning_tool
    years = sorted(pt["return_year"].unique())
    ch = P.stage_change(pt, cb, years=(years[0], years[-1]))
    assert list(ch.columns) == P.CHANGE_COLUMNS
    assert len(ch) == 8 and (ch["n_paired"] == pt["la_code"].nunique()).all()
    assert ch["mean_change"].mean() > 0
    assert ch["n_up"].sum() > ch["n_down"].sum()
    dim = P.stage_distribution(pt, cb, by="dimension")
    means = dim.groupby("return_year")["mean_stage"].mean()
    assert means.iloc[-1] > means.iloc[0]
    # the transition table agrees with stage_change's counts
    tab = P.transition_table(pt, cb, "element_1", years=(years[0], years[-1])).to_numpy()
    row = ch.iloc[0]
    assert np.triu(tab, 1).sum() == row.n_up and np.tril(tab, -1).sum() == row.n_down


# ----------------------------------------------------------------- errors
def test_errors(small):
    data, _ = small
    cb = data.codebooks["planning_tool"]
    pt = data.planning_tool
    with pytest.raises(RpcEvalError, match="unknown item"):
        P.stage_distribution(pt, cb, items=["element_99"])
    with pytest.raises(RpcEvalError, match="unknown item"):
        P.partner_awareness(pt, cb, items=["element_1"])  # wrong section
    with pytest.raises(RpcEvalError, match="unknown planning-tool section"):
        P.stage_distribution(pt, cb, section="nope")
    with pytest.raises(RpcEvalError, match="no planning-tool returns for year"):
        P.stage_distribution(pt, cb, return_year=1999)
    with pytest.raises(RpcEvalError, match="no planning-tool returns for year"):
        P.stage_change(pt, cb, years=(2020, 1999))
    with pytest.raises(RpcEvalError, match="by must be"):
        P.stage_distribution(pt, cb, by="la")
    with pytest.raises(RpcEvalError, match="two return years"):
        P.stage_change(pt, cb, years=(2020,))
    with pytest.raises(RpcEvalError, match="needs column"):
        P.stage_distribution(pt.drop(columns="response"), cb)
    bad = pt.copy()
    bad.loc[bad.index[0], "response"] = "7"
    with pytest.raises(RpcEvalError, match="not in the codebook"):
        P.stage_distribution(bad, cb)
    with pytest.raises(RpcEvalError, match="more than one response"):
        P.stage_distribution(pd.concat([pt, pt.iloc[:1]]), cb)


def test_error_fewer_than_two_paired():
    pt = _pairs([1, 2, 3], [2, 3, 4])
    pt = pt[~pt.la_code.isin(["LA001", "LA002"]) | (pt.return_year == 2020)]
    with pytest.raises(RpcEvalError, match="at least 2"):
        P.stage_change(pt, _book(), years=(2020, 2021))
