"""Tests of rpc_eval.stats.raking against survey (tests/reference/raking.R) and by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.errors import RpcEvalError
from rpc_eval.stats.raking import (
    ESTIMATE_COLUMNS,
    kish_effective_n,
    rake,
    weighted_mean,
    weighted_proportion,
    weighted_vs_unweighted,
)

REF = json.loads((Path(__file__).parent / "reference" / "raking.json").read_text())
DATA = pd.DataFrame(REF["data"])
MARGINS = {"sector": REF["pop_sector"], "la": REF["pop_la"]}


def _se(v):
    return float(np.ravel(v)[0])


def test_hand_worked_2x2():
    # n_Ax=1, n_Ay=2, n_Bx=3, n_By=1; rows A/B = 40/60, cols x/y = 50/50.
    # IPF converges to m_ij = n_ij a_i b_j with the margins met and the sample odds
    # ratio kept: a_A b_x = 10, a_A b_y = 15, a_B b_x = 40/3, a_B b_y = 20.
    s = pd.DataFrame({"a": list("AAABBBB"), "b": list("xyyxxxy")})
    w = rake(s, {"a": {"A": 40, "B": 60}, "b": {"x": 50, "y": 50}}, tol=1e-12)
    np.testing.assert_allclose(w, [10, 15, 15, 40 / 3, 40 / 3, 40 / 3, 20], rtol=1e-10)
    np.testing.assert_allclose(w, REF["tiny"]["weights"], rtol=1e-10)
    assert w.name == "weight" and list(w.index) == list(s.index)


@pytest.mark.parametrize("start", ["unit", "w0"])
def test_matches_survey(start):
    res = REF["results"][start]
    s = DATA.assign(ws=res["w_start"])
    w = rake(s, MARGINS, weight_col="ws", tol=1e-12)
    np.testing.assert_allclose(w, res["weights"], rtol=1e-9)
    np.testing.assert_allclose(w, res["weights_calibrate"], rtol=1e-9)
    assert s.assign(w=w).groupby("sector")["w"].sum().to_dict() == pytest.approx(REF["pop_sector"])
    for v in ("y", "x"):
        fixed = weighted_mean(s[v], w).iloc[0]
        raked = weighted_mean(s[v], w, calibration=s[["sector", "la"]], start_weights=s["ws"]).iloc[0]
        assert fixed["estimate"] == pytest.approx(res[v]["mean"], rel=1e-10)
        assert fixed["std_error"] == pytest.approx(_se(res[v]["se_fixed"]), rel=1e-9)
        assert raked["std_error"] == pytest.approx(_se(res[v]["se_calibrate"]), rel=1e-9)
        if start == "unit":  # survey::rake's own variance agrees with unit starting weights
            assert raked["std_error"] == pytest.approx(_se(res[v]["se_rake"]), rel=1e-9)
    prop = weighted_proportion(s["y"], w, calibration=s[["sector", "la"]], start_weights=s["ws"])
    assert list(prop.columns) == ESTIMATE_COLUMNS
    assert prop["variance_method"].iloc[0].startswith("linearisation, raking")


def test_kish_and_side_by_side():
    w = np.array([1.0, 1.0, 2.0, 2.0])
    assert kish_effective_n(w) == pytest.approx(36 / 10)
    assert kish_effective_n(np.ones(7)) == pytest.approx(7)
    out = weighted_vs_unweighted(DATA["y"], np.ones(len(DATA)) * 3, proportion=True)
    assert out["estimator"].tolist() == ["unweighted", "weighted"]
    # constant weights change nothing
    assert out["estimate"].iloc[0] == pytest.approx(out["estimate"].iloc[1])
    assert out["std_error"].iloc[0] == pytest.approx(out["std_error"].iloc[1])
    y = DATA["x"].to_numpy()
    unw = weighted_vs_unweighted(y, np.ones(y.size)).iloc[0]
    assert unw["std_error"] == pytest.approx(y.std(ddof=1) / np.sqrt(y.size))
    assert weighted_proportion([1, 1], [1, 1])["ci_high"].iloc[0] == 1.0


def test_synthetic_followup_raked_to_trained(small_data):
    data, _ = small_data
    tr, pr = data.training_responses, data.practitioners
    fu = tr[(tr["wave"] == "followup_6m") & (tr["question"] == "actual_use")].merge(
        pr, on="practitioner_id")
    pop_la = pr["la_code"].value_counts()
    # sectors too sparse among 45 respondents: rake to LA only, then LA x a coarse sector
    fu = fu.assign(early_help=np.where(fu["sector"] == "la_early_help", "yes", "no"))
    pop_eh = pd.Series(np.where(pr["sector"] == "la_early_help", "yes", "no")).value_counts()
    w = rake(fu, {"la_code": pop_la, "early_help": pop_eh})
    assert w.sum() == pytest.approx(len(pr))
    side = weighted_vs_unweighted(fu["value"].isin([5, 6]), w, proportion=True,
                                  calibration=fu[["la_code", "early_help"]])
    assert (side["estimate"].between(0, 1)).all()
    assert side["n_eff"].iloc[1] <= side["n"].iloc[1]


def test_errors():
    s = pd.DataFrame({"a": list("AAB"), "b": list("xxy")})
    with pytest.raises(RpcEvalError, match="did not converge.*margin"):
        rake(s, {"a": {"A": 60, "B": 40}, "b": {"x": 50, "y": 50}})
    with pytest.raises(RpcEvalError, match="empty cell"):
        rake(s, {"a": {"A": 60, "B": 30, "C": 10}})
    with pytest.raises(RpcEvalError, match="not in its margin"):
        rake(s, {"a": {"A": 60}})
    with pytest.raises(RpcEvalError, match="different totals"):
        rake(s, {"a": {"A": 60, "B": 40}, "b": {"x": 60, "y": 50}})
    with pytest.raises(RpcEvalError, match="population total of 0"):
        rake(s, {"a": {"A": 60, "B": 0}})
    with pytest.raises(RpcEvalError, match="no value"):
        rake(s.assign(a=["A", None, "B"]), {"a": {"A": 60, "B": 40}})
    with pytest.raises(RpcEvalError, match="not a column"):
        rake(s, {"c": {"A": 1}})
    with pytest.raises(RpcEvalError, match="positive"):
        rake(s.assign(w=[1, 0, 1]), {"a": {"A": 60, "B": 40}}, weight_col="w")
    with pytest.raises(RpcEvalError, match="negative"):
        rake(s, {"a": {"A": 60, "B": -1}})
    # a zero-total category with no respondents is fine
    w = rake(s, {"a": {"A": 60, "B": 40, "C": 0}})
    assert w.tolist() == pytest.approx([30, 30, 40])
    with pytest.raises(RpcEvalError, match="0/1"):
        weighted_proportion([0, 2], [1, 1])
    with pytest.raises(RpcEvalError, match="same length"):
        weighted_mean([1, 2], [1])
    with pytest.raises(RpcEvalError, match="missing"):
        weighted_mean([1, np.nan], [1, 1])
    assert np.isnan(weighted_mean([1.0], [2.0])["std_error"].iloc[0])
