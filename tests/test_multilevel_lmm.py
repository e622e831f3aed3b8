"""Tests of rpc_eval.multilevel.lmm against lme4/lmerTest fixtures (tests/reference/lmm.R)
plus a known-truth coverage simulation and degenerate inputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rpc_eval.errors import BoundaryFitWarning, DataQualityWarning, RpcEvalError
from rpc_eval.multilevel.lmm import FIXED_COLUMNS, fit_lmm

REF = Path(__file__).resolve().parent / "reference"
EXPECTED = json.loads((REF / "lmm.json").read_text())
DATASETS = ["balanced", "unbalanced", "nearzero"]
FORMULA = "y ~ wave * arm + x"
RTOL = 1e-4


def _data(name):
    return pd.read_csv(REF / f"lmm_{name}.csv", dtype={"la": str, "parent": str})


def _ancova(d):
    base = d[d.wave == 0][["la", "parent", "arm", "y"]]
    end = d[d.wave == 2][["la", "parent", "y"]]
    return base.merge(end, on=["la", "parent"], suffixes=("_base", "_end"))


def _fit(name, kind):
    d = _data(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryFitWarning)
        if kind == "ancova":
            return fit_lmm(_ancova(d), "y_end ~ y_base + arm", "la")
        return fit_lmm(d, FORMULA, ["la", "parent"], reml=(kind == "reml"))


def _vc_map(fit):
    names = {"la": "la", "parent:la": "parent:la", "Residual": "Residual"}
    return {names[g]: v for g, v in zip(fit.variance_components.component,
                                        fit.variance_components.variance, strict=True)}


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("kind", ["reml", "ml", "ancova"])
def test_matches_lmertest(name, kind):
    exp = EXPECTED[name][kind]
    fit = _fit(name, kind)
    assert list(fit.fixed_effects.columns) == FIXED_COLUMNS
    # patsy orders terms by degree (interactions last), R by formula order
    fe = fit.fixed_effects.assign(term=lambda f: f.term.str.replace("Intercept", "(Intercept)"))
    assert sorted(fe.term) == sorted(exp["terms"])
    fe = fe.set_index("term").loc[exp["terms"]]
    np.testing.assert_allclose(fe.estimate, exp["estimate"], rtol=RTOL)
    np.testing.assert_allclose(fe.std_error, exp["std_error"], rtol=RTOL)
    np.testing.assert_allclose(fe.df, exp["df"], rtol=1e-2)
    np.testing.assert_allclose(fit.loglik, exp["loglik"], rtol=RTOL)
    vc = _vc_map(fit)
    total = sum(exp["vc_variance"])
    for g, v in zip(exp["vc_group"], exp["vc_variance"], strict=True):
        # variances on the boundary: absolute tolerance relative to the total variance
        np.testing.assert_allclose(vc[g], v, rtol=RTOL, atol=1e-6 * total)
    assert fit.boundary == exp["singular"]


@pytest.mark.parametrize("name", DATASETS)
def test_blups_match_ranef_condvar(name):
    exp = EXPECTED[name]["ranef_la"]
    fit = _fit(name, "reml")
    b = fit.blups()
    assert list(b.columns) == ["component", "level", "estimate", "std_error", "pi_low",
                              "pi_high"]
    assert list(b.level) == exp["level"]
    scale = max(np.abs(exp["estimate"]).max(), 1e-3)
    np.testing.assert_allclose(b.estimate, exp["estimate"], rtol=1e-3, atol=1e-4 * scale)
    np.testing.assert_allclose(b.std_error, exp["se"], rtol=1e-3, atol=1e-6)
    inner = fit.blups("parent:la")
    assert len(inner) == fit.n_groups["parent:la"]


@pytest.mark.parametrize("name", DATASETS)
def test_lr_test_matches_anova(name):
    d = _data(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryFitWarning)
        m1 = fit_lmm(d, FORMULA, ["la", "parent"], reml=False)
        m0 = fit_lmm(d, "y ~ wave + arm + x", ["la", "parent"], reml=False)
    tab = m1.lr_test(m0)
    exp = EXPECTED[name]["lrt"]
    np.testing.assert_allclose(tab.chisq.iloc[1], exp["chisq"], rtol=1e-3)
    assert tab.df.iloc[1] == exp["df"]
    with pytest.raises(RpcEvalError, match="maximum likelihood"):
        _fit(name, "reml").lr_test(m0)


def test_icc_and_summary():
    fit = _fit("balanced", "reml")
    icc = fit.icc()
    assert list(icc.component) == ["la", "parent:la", "Residual"]
    np.testing.assert_allclose(icc.icc.sum(), 1.0)
    la = icc.iloc[0]
    assert la.mean_cluster_size == pytest.approx(30.0)
    assert la.design_effect == pytest.approx(1 + 29 * la.icc)
    assert icc.within_correlation.iloc[1] == pytest.approx(icc.icc.iloc[0] + icc.icc.iloc[1])
    summ = fit.summary()
    assert list(summ.tables) == ["fixed_effects", "variance_components"]
    assert "fixed_effects" in summ.as_text() and f"Observations: {fit.nobs}" in summ.as_text()
    assert "<table" in fit._repr_html_() and "<table" in summ.as_html()
    assert "\n" not in repr(fit) and repr(fit).startswith("<Linear mixed model")
    assert fit.to_frame().equals(fit.fixed_effects)


def test_boundary_warns_and_keeps_fixed_effects():
    # statsmodels #10239: fixed effects must not collapse when a variance is zero
    d = _data("nearzero")
    with pytest.warns(BoundaryFitWarning, match="estimated as zero"):
        fit = fit_lmm(d, FORMULA, ["la", "parent"])
    assert fit.variance_components.variance.iloc[0] == 0.0
    assert (fit.fixed_effects.estimate.abs() > 0.05).all()
    # equals the model without the LA level
    one = fit_lmm(d.assign(lp=d.la + ":" + d.parent), FORMULA, "lp")
    np.testing.assert_allclose(fit.fixed_effects.estimate, one.fixed_effects.estimate, rtol=1e-6)
    np.testing.assert_allclose(fit.loglik, one.loglik, rtol=1e-8)
    assert (fit.blups().estimate == 0).all()


def test_one_la_is_a_clear_error():
    d = _data("balanced")
    with pytest.raises(RpcEvalError, match="only 1 group"):
        fit_lmm(d[d.la == "L01"], FORMULA, ["la", "parent"])


def test_las_with_one_parent_are_fine():
    d = _data("unbalanced")
    sizes = d.groupby("la").parent.nunique()
    assert (sizes == 1).any()
    fit = _fit("unbalanced", "reml")
    assert np.isfinite(fit.fixed_effects.std_error).all()


def test_constant_outcome_is_a_clear_error():
    d = _data("balanced").assign(y=3.0)
    with pytest.raises(RpcEvalError, match="constant"):
        fit_lmm(d, FORMULA, ["la", "parent"])


def test_other_input_errors_and_dropped_rows():
    d = _data("balanced")
    with pytest.raises(RpcEvalError, match="random slopes"):
        fit_lmm(d, "y ~ wave + (wave | la)", "la")
    with pytest.raises(RpcEvalError, match="groups must be"):
        fit_lmm(d, FORMULA, ["la", "parent", "wave"])
    with pytest.raises(RpcEvalError, match="not in the data"):
        fit_lmm(d, FORMULA, "region")
    with pytest.raises(RpcEvalError, match="rank deficient"):
        fit_lmm(d.assign(x2=2 * d.x), "y ~ x + x2", "la")
    with pytest.raises(RpcEvalError, match="one observation"):
        fit_lmm(d[d.wave == 0], "y ~ x", ["la", "parent"])
    d2 = d.copy()
    d2.loc[:4, "x"] = np.nan
    with pytest.warns(DataQualityWarning, match="5 of 360 rows have missing values"):
        fit = fit_lmm(d2, FORMULA, ["la", "parent"])
    assert fit.n_dropped == 5 and fit.nobs == len(d) - 5


def test_nesting_follows_lme4():
    # parent labels P001.. repeat in every LA: they are different parents
    fit = _fit("balanced", "reml")
    assert fit.n_groups == {"la": 12, "parent:la": 120}


def test_coverage_known_truth():
    """CIs for a treatment (arm) effect cover the truth near 95% (binomial tolerance)."""
    rng = np.random.default_rng(20240601)
    n_sim, cover = 100, 0
    la = np.repeat(np.arange(12), 16)
    for _ in range(n_sim):
        arm = np.tile([0, 1], la.size // 2)  # within-LA randomisation, cluster-level noise
        y = 1.0 + 0.4 * arm + rng.normal(0, 0.5, 12)[la] + rng.normal(size=la.size)
        d = pd.DataFrame({"la": la, "arm": arm, "y": y})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fe = fit_lmm(d, "y ~ arm", "la").fixed_effects.set_index("term")
        cover += fe.loc["arm", "ci_low"] <= 0.4 <= fe.loc["arm", "ci_high"]
    lo = stats.binom.ppf(0.005, n_sim, 0.95)
    hi = stats.binom.ppf(0.995, n_sim, 0.95)
    assert lo <= cover <= hi, cover


def test_coverage_cluster_level_treatment():
    """A between-LA treatment with few LAs: Satterthwaite df keep coverage near 95%."""
    rng = np.random.default_rng(7)
    n_sim, cover = 100, 0
    la = np.repeat(np.arange(10), 12)
    arm = (la % 2).astype(float)
    for _ in range(n_sim):
        y = 0.3 * arm + rng.normal(0, 0.6, 10)[la] + rng.normal(size=la.size)
        d = pd.DataFrame({"la": la, "arm": arm, "y": y})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fe = fit_lmm(d, "y ~ arm", "la").fixed_effects.set_index("term")
        cover += fe.loc["arm", "ci_low"] <= 0.3 <= fe.loc["arm", "ci_high"]
    lo = stats.binom.ppf(0.005, n_sim, 0.95)
    assert cover >= lo, cover


def test_engine_matches_dense_algebra():
    """The group-sum Sherman-Morrison algebra equals dense V^{-1} and log|V|."""
    from rpc_eval.multilevel.formula import build_design
    from rpc_eval.multilevel.lmm import _Engine

    d = _data("unbalanced")
    des = build_design(d, FORMULA, ["la", "parent"])
    eng = _Engine(des.y, des.X, des.codes, reml=True)
    theta = np.array([0.6, 1.3])
    Q, logdet, _, _ = eng.quad(theta)
    Z1 = (des.codes[0][:, None] == np.arange(des.codes[0].max() + 1)).astype(float)
    Z2 = (des.codes[1][:, None] == np.arange(des.codes[1].max() + 1)).astype(float)
    V = np.eye(len(des.y)) + theta[0] ** 2 * Z1 @ Z1.T + theta[1] ** 2 * Z2 @ Z2.T
    W = np.column_stack([des.X, des.y])
    np.testing.assert_allclose(Q, W.T @ np.linalg.solve(V, W), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(logdet, np.linalg.slogdet(V)[1], rtol=1e-10)
