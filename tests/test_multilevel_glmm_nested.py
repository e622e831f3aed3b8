"""GLMM with nested random intercepts (``groups=[outer, inner]``), against lme4::glmer.

Reference values: tests/reference/glmm_nested.R -> glmm_nested.json (inputs from
make_glmm_nested_data.py). glmer's fits are Laplace (nAGQ = 1) with PIRLS run to
tolPwrss = 1e-13 (see the R script for why).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.errors import (
    BoundaryFitWarning,
    ConvergenceWarning,
    DataQualityWarning,
    RpcEvalError,
)
from rpc_eval.multilevel import fit_glmm
from rpc_eval.multilevel.glmm import _Family
from rpc_eval.multilevel.glmm_nested import NestedLaplace

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "glmm_nested.json").read_text())
TERMS = {"(Intercept)": "Intercept", "x": "x", "armrpc": "arm[T.rpc]"}
GROUPS = ["la", "practitioner"]

# (fixture name, csv, formula, keyword arguments)
CASES = {
    "binary": ("binary", "y ~ x + arm", {}),
    "binary_arm": ("binary", "y ~ arm", {}),
    "counts": ("counts", "y ~ arm", {"trials": "n"}),
    "poisson": ("poisson", "sessions ~ x + arm", {"family": "poisson"}),
    "singular": ("singular", "y ~ x + arm", {}),
    "near_singular": ("near_singular", "y ~ x + arm", {}),
}


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"glmm_nested_{name}.csv")


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, (csv, formula, kw) in CASES.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = fit_glmm(_csv(csv), formula, groups=GROUPS, **kw)
        out[name] = (res, [w.category for w in caught])
    return out


def _ours_in_r_order(res, r):
    return res.fixed_effects.set_index("term").loc[[TERMS[t] for t in r["terms"]]]


@pytest.mark.parametrize("name", list(CASES))
def test_matches_glmer(fits, name):
    res, caught = fits[name]
    r = FIX[name]
    fe = _ours_in_r_order(res, r)
    np.testing.assert_allclose(fe["estimate"], r["estimate"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fe["std_error"], r["se"], rtol=1e-3)
    vc = res.variance_components.set_index("component")
    assert list(vc.index) == r["vc_group"]            # lme4's names and order
    np.testing.assert_allclose(vc["variance"], r["variance"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(vc["sd"], r["theta"], rtol=0, atol=1e-4)
    assert res.loglik == pytest.approx(r["loglik"], abs=1e-4)
    assert res.boundary == r["singular"]
    assert res.n_groups == r["n_groups"]
    assert res.converged and ConvergenceWarning not in caught
    assert (BoundaryFitWarning in caught) == r["singular"]


@pytest.mark.parametrize("name", ["binary", "poisson", "counts", "singular"])
def test_conditional_modes_and_sds_match_ranef(fits, name):
    res, _ = fits[name]
    blups = res.blups().set_index(["component", "level"])
    for g in FIX[name]["blups"]:
        ours = blups.loc[[(g["group"], lev) for lev in g["level"]]]
        np.testing.assert_allclose(ours["estimate"], g["estimate"], rtol=0, atol=1e-4)
        # (an SD at 0: glmer stops at theta ~1e-7, so its conditional SDs are ~1e-7)
        np.testing.assert_allclose(ours["std_error"], g["se"], rtol=1e-3, atol=1e-6)
    assert list(blups.index.get_level_values(0).unique()) == ["practitioner:la", "la"]


def test_standard_errors_are_glmer_default_not_rx(fits):
    # vcov(fit) (Hessian over theta and beta) and vcov(fit, use.hessian = FALSE) differ
    # by more than the tolerance here, so matching the first is a real check
    res, _ = fits["binary"]
    r = FIX["binary"]
    se = _ours_in_r_order(res, r)["std_error"].to_numpy()
    assert np.max(np.abs(se / np.array(r["se_rx"]) - 1)) > 1e-2
    assert np.max(np.abs(se / np.array(r["se"]) - 1)) < 1e-3


def test_counts_and_binary_rows_give_the_same_fit(fits):
    counts, _ = fits["counts"]
    binary, _ = fits["binary_arm"]
    np.testing.assert_allclose(counts.fixed_effects["estimate"],
                               binary.fixed_effects["estimate"], atol=1e-6)
    np.testing.assert_allclose(counts.variance_components["variance"],
                               binary.variance_components["variance"], atol=1e-6)
    # the log-likelihoods differ by the binomial coefficients only
    from scipy.special import gammaln
    c = _csv("counts")
    const = float(np.sum(gammaln(c["n"] + 1) - gammaln(c["y"] + 1)
                         - gammaln(c["n"] - c["y"] + 1)))
    assert counts.loglik - binary.loglik == pytest.approx(const, abs=1e-6)


def test_inner_labels_repeating_across_outer_groups_are_different_groups(fits):
    res, _ = fits["binary"]
    d = _csv("binary")
    assert d.groupby("practitioner")["la"].nunique().max() > 1   # P1 is in every LA
    unique = d.assign(practitioner=d["la"] + "-" + d["practitioner"])
    again = fit_glmm(unique, "y ~ x + arm", groups=GROUPS)
    np.testing.assert_allclose(again.fixed_effects["estimate"],
                               res.fixed_effects["estimate"], atol=1e-6)
    assert again.loglik == pytest.approx(res.loglik, abs=1e-8)
    # reading the labels as crossed (one practitioner P1 over LAs) would be another model
    assert res.n_groups["practitioner:la"] > d["practitioner"].nunique()


def test_sweep_never_below_glmer_without_a_warning():
    """Random nested designs (binomial and Poisson, some with an SD of 0, some with
    large SDs): our
    log-likelihood is never below glmer's by more than 1e-6 unless a warning says the
    optimum could not be confirmed; the singular flag agrees with isSingular."""
    sweep = pd.read_csv(REF / "glmm_nested_sweep.csv")
    short = []
    for design, d in sweep.groupby("design"):
        r = FIX["sweep"][design]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = fit_glmm(d, "y ~ x", groups=GROUPS, family=r["family"])
        warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        if res.loglik < r["loglik"] - 1e-6 and not warned:
            short.append((design, res.loglik - r["loglik"]))
        assert res.boundary == r["singular"], design
        assert res.converged or warned, design
    assert not short, f"below glmer's optimum without a warning: {short}"
    assert {r["family"] for r in FIX["sweep"].values()} == {"binomial", "poisson"}
    assert sum(r["singular"] for r in FIX["sweep"].values()) >= 3
    assert sum(max(r["theta"]) > 1.5 for r in FIX["sweep"].values()) >= 4   # large SDs


def _engine(seed=3, family="binomial"):
    rng = np.random.default_rng(seed)
    n_out, per = 8, 4
    par = np.repeat(np.arange(n_out), per)
    ib = np.repeat(np.arange(par.size), rng.integers(3, 12, par.size))
    oa = par[ib]
    x = rng.normal(size=ib.size)
    X = np.column_stack([np.ones(ib.size), x])
    eta = 0.2 + 0.5 * x + rng.normal(0, 0.7, n_out)[oa] + rng.normal(0, 0.5, par.size)[ib]
    if family == "binomial":
        m = rng.integers(1, 4, ib.size).astype(float)
        y = rng.binomial(m.astype(int), 1 / (1 + np.exp(-eta))).astype(float)
    else:
        m = np.ones(ib.size)
        y = rng.poisson(np.exp(eta)).astype(float)
    return NestedLaplace(X, _Family(family, y, m), oa, ib, n_out, par.size)


@pytest.mark.parametrize("family", ["binomial", "poisson"])
@pytest.mark.parametrize("phi", [[0.1, 0.4, 0.6, 0.8], [0.1, 0.4, 0.0, 0.8],
                                 [-0.3, 0.2, 1.3, 0.0]])
def test_exact_gradient_matches_finite_differences(family, phi):
    prob = _engine(family=family)
    phi = np.asarray(phi)
    _, grad = prob.loglik(phi)
    fd = np.empty_like(phi)
    for k in range(phi.size):
        e = np.zeros_like(phi)
        e[k] = 1e-6
        fd[k] = (prob.loglik(phi + e, gradient=False)
                 - prob.loglik(phi - e, gradient=False)) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=5e-5)
    assert prob.last_modes_ok


def test_modes_are_the_joint_maximum():
    prob = _engine()
    phi = np.array([0.1, 0.4, 0.6, 0.8])
    prob.loglik(phi, gradient=False)
    xb = prob.X @ phi[:2]
    best = prob._h_groups(xb, 0.6, 0.8, prob.u_in, prob.u_out).sum()
    rng = np.random.default_rng(0)
    for _ in range(20):   # no nearby point has a higher penalised log density
        d_in, d_out = rng.normal(0, 1e-3, prob.B), rng.normal(0, 1e-3, prob.A)
        assert prob._h_groups(xb, 0.6, 0.8, prob.u_in + d_in,
                              prob.u_out + d_out).sum() < best


def test_unconfirmed_optimum_warns_with_numbers(monkeypatch):
    original = NestedLaplace.modes

    def lazy(self, xb, t_in, t_out, max_iter=200):
        return original(self, xb, t_in, t_out, max_iter=1)

    monkeypatch.setattr(NestedLaplace, "modes", lazy)
    with pytest.warns(ConvergenceWarning, match="modes of some groups did not converge"):
        res = fit_glmm(_csv("binary"), "y ~ x + arm", groups=GROUPS)
    assert not res.converged and not res.optimizer["modes_converged"]
    assert res.optimizer["restarts"] >= 1


def test_refusals_in_words():
    d = _csv("binary")
    with pytest.raises(RpcEvalError, match="not available with nested groups"):
        fit_glmm(d, "y ~ x", groups=GROUPS, n_agq=10)
    with pytest.raises(RpcEvalError, match="outer first"):
        fit_glmm(d.assign(fam=1), "y ~ x", groups=["la", "practitioner", "fam"])
    with pytest.raises(RpcEvalError, match="outer first"):
        fit_glmm(d, "y ~ x", groups=["la", "la"])
    with pytest.raises(RpcEvalError, match="single lead"):
        fit_glmm(d.assign(lead="A"), "y ~ x", groups=["la", "lead"])
    with pytest.raises(RpcEvalError, match="its own parent_id"):
        fit_glmm(d.assign(parent_id=np.arange(len(d))), "y ~ x", groups=["la", "parent_id"])
    with pytest.raises(RpcEvalError, match="'team' is not in the data"):
        fit_glmm(d, "y ~ x", groups=["la", "team"])
    with pytest.raises(RpcEvalError, match="Give the grouping column"):
        fit_glmm(d, "y ~ x")
    with pytest.raises(RpcEvalError, match="once"):
        fit_glmm(d, "y ~ x", groups="la", group="la")
    with pytest.raises(RpcEvalError, match="whole number"):
        fit_glmm(d, "y ~ x", groups="la", n_agq=2.5)


def test_former_argument_name_still_works_with_a_warning():
    d = _csv("binary")
    with pytest.warns(FutureWarning, match="groups="):
        old = fit_glmm(d, "y ~ x + arm", group="la", n_agq=1)
    new = fit_glmm(d, "y ~ x + arm", groups="la", n_agq=1)
    np.testing.assert_allclose(old.fixed_effects["estimate"], new.fixed_effects["estimate"])
    assert new.groups == ["la"] and new.n_groups == {"la": 12}


def test_missing_values_dropped_counted_and_nullable_columns(fits):
    d = _csv("binary")
    holed = d.astype({"y": "Int64", "x": "Float64"})
    holed.loc[[3, 40], "practitioner"] = None
    holed.loc[[7], "y"] = pd.NA
    with pytest.warns(DataQualityWarning, match="3 of 488"):
        res = fit_glmm(holed, "y ~ x + arm", groups=GROUPS)
    assert res.n_dropped == 3 and res.n_obs == len(d) - 3
    ref = fit_glmm(d.drop(index=[3, 7, 40]), "y ~ x + arm", groups=GROUPS)
    np.testing.assert_allclose(res.fixed_effects["estimate"],
                               ref.fixed_effects["estimate"], rtol=1e-10)


def test_summary_icc_and_display(fits):
    res, _ = fits["binary"]
    text = res.summary().as_text()
    assert "(1 | la/practitioner)" in text and "Nested random-intercept" in text
    assert "practitioner:la 55; la 12" in text
    v = res.variance_components.set_index("component")["variance"]
    total = v.sum() + np.pi**2 / 3
    assert res.icc("la") == pytest.approx(v["la"] / total)
    assert res.icc("practitioner:la") == pytest.approx(v.sum() / total)
    with pytest.raises(RpcEvalError, match="component="):
        res.icc()
    assert "la/practitioner" in res._repr_html_()
    poisson, _ = fits["poisson"]
    with pytest.raises(RpcEvalError, match="binomial"):
        poisson.icc("la")
