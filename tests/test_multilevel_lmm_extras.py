"""Tests of the extras of rpc_eval.multilevel.lmm: parametric-bootstrap intervals for
variance components / ICCs / design effects, and the statsmodels fallback for random
slopes (``re_formula=``) against lme4 (tests/reference/lmm_slopes.R); more random-slope
designs in test_multilevel_slopes.py."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.errors import BoundaryFitWarning, DataQualityWarning, RpcEvalError
from rpc_eval.multilevel.lmm import FIXED_COLUMNS, LmmSlopesResult, fit_lmm

REF = Path(__file__).resolve().parent / "reference"
SLOPES = json.loads((REF / "lmm_slopes.json").read_text())


def _slopes_data():
    d = pd.read_csv(REF / "lmm_unbalanced.csv", dtype={"la": str, "parent": str})
    k = d["la"].str[1:3].astype(int)
    d["ys"] = d["y"] + d["wave"] * 0.4 * np.sin(1.7 * k)  # as lmm_slopes.R
    return d


def _sim(rng, n_la=15, m=8, var_la=0.5, sigma2=1.0):
    la = np.repeat(np.arange(n_la), m)
    d = pd.DataFrame({"la": la, "x": rng.normal(size=la.size)})
    d["y"] = (1 + 0.3 * d["x"] + rng.normal(0, np.sqrt(var_la), n_la)[la]
              + rng.normal(0, np.sqrt(sigma2), la.size))
    return d


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_table_and_determinism():
    d = _sim(np.random.default_rng(3))
    fit = fit_lmm(d, "y ~ x", "la")
    a = fit.bootstrap(n_boot=49, seed=11)
    b = fit.bootstrap(n_boot=49, seed=11)
    c = fit.bootstrap(n_boot=49, seed=12)
    assert list(a.columns) == ["quantity", "estimate", "ci_low", "ci_high", "n_boot", "n_failed"]
    assert list(a.quantity) == ["variance: la", "variance: Residual", "icc: la",
                                "icc: Residual", "design_effect: la"]
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.ci_low, c.ci_low)
    assert (a.n_failed == 0).all() and (a.n_boot == 49).all()
    assert (a.ci_low <= a.estimate).all() and (a.estimate <= a.ci_high).all()
    # a Generator works as seed too, and gives the same as the integer seed
    pd.testing.assert_frame_equal(a, fit.bootstrap(n_boot=49, seed=np.random.default_rng(11)))
    # estimates are the fit's variances and icc() shares
    vc = fit.variance_components.set_index("component")["variance"]
    assert a.estimate.iloc[0] == pytest.approx(vc["la"])
    assert a.estimate.iloc[1] == pytest.approx(vc["Residual"])
    icc = fit.icc(n_boot=49, seed=11)
    assert {"ci_low", "ci_high", "design_effect_ci_low", "design_effect_ci_high"} <= set(icc)
    assert icc.ci_low.iloc[0] == pytest.approx(a.ci_low.iloc[2])
    assert icc.design_effect_ci_high.iloc[0] == pytest.approx(a.ci_high.iloc[4])
    assert np.isnan(icc.design_effect_ci_low.iloc[1])
    assert "ci_low" not in fit.icc()
    # ci is a level: another level gives other intervals; a level without replicates,
    # or the old switch, is refused in words
    narrow = fit.icc(ci=0.5, n_boot=49, seed=11)
    assert narrow.ci_high.iloc[0] <= icc.ci_high.iloc[0]
    with pytest.raises(RpcEvalError, match="n_boot=200"):
        fit.icc(ci=0.9)
    with pytest.raises(RpcEvalError, match="not a switch"):
        fit.icc(ci=True)
    with pytest.raises(RpcEvalError, match="between 0 and 1"):
        fit.icc(ci=95, n_boot=49)
    with pytest.raises(RpcEvalError, match="between 0 and 1"):
        fit.icc(ci="95%", n_boot=49)
    with pytest.raises(RpcEvalError, match="whole number"):
        fit.icc(n_boot="200")


def test_bootstrap_nested_two_levels():
    d = pd.read_csv(REF / "lmm_unbalanced.csv", dtype={"la": str, "parent": str})
    fit = fit_lmm(d, "y ~ wave * arm + x", ["la", "parent"])
    tab = fit.bootstrap(n_boot=29, seed=1).set_index("quantity")
    for q in ["variance: la", "variance: parent:la", "variance: Residual", "icc: la",
              "icc: parent:la", "design_effect: la", "design_effect: parent:la"]:
        assert tab.at[q, "ci_low"] <= tab.at[q, "estimate"] <= tab.at[q, "ci_high"], q
    assert tab["n_failed"].iloc[0] == 0


def test_bootstrap_boundary_lower_limit_zero():
    """LA variance estimated as exactly 0 (outcome centred within LA): the bootstrap
    simulates without an LA effect, so the interval starts at 0 and nothing fails."""
    rng = np.random.default_rng(5)
    d = _sim(rng, var_la=0.0)
    d["y"] = d["y"] - d.groupby("la")["y"].transform("mean") + 2.0
    with pytest.warns(BoundaryFitWarning):
        fit = fit_lmm(d, "y ~ 1", "la")
    assert fit.boundary
    tab = fit.bootstrap(n_boot=49, seed=2).set_index("quantity")
    assert tab.at["variance: la", "estimate"] == 0
    assert tab.at["variance: la", "ci_low"] == 0
    assert tab.at["icc: la", "ci_low"] == 0
    assert tab.at["variance: la", "ci_high"] >= 0
    assert tab.at["design_effect: la", "ci_low"] == pytest.approx(1.0)
    assert tab["n_failed"].iloc[0] == 0


def test_bootstrap_errors():
    fit = fit_lmm(_sim(np.random.default_rng(1)), "y ~ x", "la")
    with pytest.raises(RpcEvalError, match="n_boot"):
        fit.bootstrap(n_boot=0)
    with pytest.raises(RpcEvalError, match="ci must be"):
        fit.bootstrap(n_boot=5, ci=1.5)


def test_bootstrap_coverage_known_truth():
    """Known truth: 40 small data sets (15 LAs x 8 observations, LA variance 0.5,
    residual 1); the 95% percentile interval (n_boot=99) of the LA variance should cover
    0.5 in most. With 15 LAs the percentile bootstrap of a variance under-covers
    somewhat (its distribution is skewed and the estimate biased down), so we do not
    ask for 95%: we require at least 30/40 (75%). At a true coverage of 0.90,
    P(X < 30 | n = 40) is about 0.005, so a failure signals a real defect (e.g.
    intervals on the wrong scale or simulation without the LA effect), not chance.
    Seeds are fixed, so the test is deterministic."""
    rng = np.random.default_rng(20240601)
    covered = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryFitWarning)
        for r in range(40):
            fit = fit_lmm(_sim(rng), "y ~ x", "la")
            tab = fit.bootstrap(n_boot=99, seed=r).set_index("quantity")
            covered += tab.at["variance: la", "ci_low"] <= 0.5 <= tab.at["variance: la", "ci_high"]
    assert covered >= 30, covered


# ---------------------------------------------------------------- random slopes


@pytest.mark.parametrize("key,reml", [("slopes", True), ("slopes_ml", False)])
def test_slopes_match_lme4(key, reml):
    """lmer(ys ~ wave + (1 + wave | la)): the profiled (RE)ML engine reaches lme4's
    optimum (observed agreement about 1e-7 relative)."""
    exp = SLOPES[key]
    fit = fit_lmm(_slopes_data(), "ys ~ wave", "la", reml=reml, re_formula="~wave")
    assert isinstance(fit, LmmSlopesResult)
    fe = fit.fixed_effects
    assert list(fe.columns) == FIXED_COLUMNS
    assert list(fe.term) == exp["terms"]
    np.testing.assert_allclose(fe.estimate, exp["estimate"], rtol=1e-5)
    np.testing.assert_allclose(fe.std_error, exp["std_error"], rtol=1e-5)
    assert np.isfinite(fe["df"]).all() and (fe["df"] > 1).all()
    vc = fit.variance_components
    assert list(vc.component) == ["la: Intercept", "la: wave", "la: Intercept x wave", "Residual"]
    np.testing.assert_allclose(vc.variance, exp["vc_vcov"], rtol=1e-5)
    assert fit.loglik == pytest.approx(exp["loglik"], rel=1e-6)
    assert fit.converged and not fit.boundary
    assert not exp["singular"]
    text = fit.summary().as_text()
    assert "Satterthwaite" in text and "la: wave" in text
    assert "\n" not in repr(fit)
    assert "<table" in fit._repr_html_()


def test_slopes_boundary_warns():
    """y has no LA variation in slopes: lme4 reports a singular fit (correlation 1);
    the engine says so with BoundaryFitWarning and agrees on the fixed effects."""
    exp = SLOPES["singular"]
    assert exp["singular"]
    with pytest.warns(BoundaryFitWarning, match="singular"):
        fit = fit_lmm(_slopes_data(), "y ~ wave", "la", re_formula="~wave")
    assert fit.boundary
    np.testing.assert_allclose(fit.fixed_effects.estimate, exp["estimate"], rtol=1e-5)
    assert fit.loglik == pytest.approx(exp["loglik"], rel=1e-6)
    assert "Boundary" in fit.summary().as_text()


def test_slopes_errors():
    d = _slopes_data()
    with pytest.raises(RpcEvalError, match="nested random slopes"):
        fit_lmm(d, "ys ~ wave", ["la", "parent"], re_formula="~wave")
    with pytest.raises(RpcEvalError, match="not in the data"):
        fit_lmm(d, "ys ~ wave", "nope", re_formula="~wave")
    with pytest.raises(RpcEvalError, match="without '\\|'"):
        fit_lmm(d, "ys ~ wave", "la", re_formula="~wave | la")
    with pytest.raises(RpcEvalError, match="one-sided"):
        fit_lmm(d, "ys ~ wave", "la", re_formula="wave")
    with pytest.raises(RpcEvalError, match="only 1 group"):
        fit_lmm(d[d.la == "L01"], "ys ~ wave", "la", re_formula="~wave")
    with pytest.raises(RpcEvalError, match="constant"):
        fit_lmm(d.assign(ys=1.0), "ys ~ wave", "la", re_formula="~wave")
    with pytest.raises(RpcEvalError, match="could not build"):
        fit_lmm(d, "ys ~ nosuch", "la", re_formula="~wave")
    fit = fit_lmm(d, "ys ~ wave", "la", re_formula="~wave")
    with pytest.raises(RpcEvalError, match="ICC"):
        fit.icc()
    with pytest.raises(RpcEvalError, match="random-intercept"):
        fit.bootstrap()
    d2 = d.copy()
    d2.loc[:4, "ys"] = np.nan
    with pytest.warns(DataQualityWarning, match="5 of 509 rows"):
        fit2 = fit_lmm(d2, "ys ~ wave", "la", re_formula="~wave")
    assert fit2.n_dropped == 5 and fit2.nobs == len(d) - 5
