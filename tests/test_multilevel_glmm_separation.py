"""Separation in fit_glmm (docs/conventions.md, "Separation").

A two-valued fixed-effect column one of whose values has a constant outcome: the model
fits without those rows and that term, the term is reported as -inf or +inf (NaN
standard error and limits) with a SeparationWarning. The limit is checked numerically:
the likelihood of all the rows, with the diverging coefficient held at a large value
(30 on the log-odds scale) and the others maximised, gives the same estimates,
variance and log-likelihood as the fit without the rows.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
import pytest
from scipy import optimize

import rpc_eval.engagement
from rpc_eval.errors import DataQualityWarning, RpcEvalError
from rpc_eval.multilevel.glmm import _Family, _Problem, fit_glmm
from rpc_eval.stats.separation import SeparationWarning

REF = Path(__file__).parent / "reference"
FORMULA = "y ~ x + arm"


def _data() -> pd.DataFrame:
    return pd.read_csv(REF / "glmm_a.csv")


def _fit(d, formula=FORMULA, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeparationWarning)
        return fit_glmm(d, formula, groups="la", **kw)


def _held_fit(d: pd.DataFrame, held: str, value: float, n_agq: int = 10,
              formula: str = FORMULA):
    """ML fit of ``formula`` on ALL rows with the coefficient of ``held`` fixed at
    ``value``: the other coefficients, the group SD and the log-likelihood."""
    Y, X = patsy.dmatrices(formula, d, return_type="dataframe")
    y = Y.iloc[:, 0].to_numpy(float)
    codes, levels = pd.factorize(d["la"], sort=True)
    prob = _Problem(X.to_numpy(float), y, codes.astype(np.intp), len(levels), n_agq,
                    _Family("binomial", y, np.ones_like(y)))
    j = list(X.columns).index(held)
    free = [k for k in range(X.shape[1] + 1) if k != j]

    def fun(th):
        full = np.insert(th, j, value)
        ll, gr = prob.loglik(full)
        return -ll, -gr[free]

    start = np.zeros(len(free))
    start[-1] = np.log(0.5)
    opt = optimize.minimize(fun, start, jac=True, method="L-BFGS-B",
                            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9})
    names = [c for c in X.columns if c != held]
    beta = dict(zip(names, opt.x[:-1], strict=True))
    return beta, float(np.exp(opt.x[-1])), -float(opt.fun)


def test_separated_level_is_minus_inf_and_the_limit_of_the_likelihood():
    d = _data()
    d.loc[d.arm == "rpc", "y"] = 0                 # arm = rpc: no events
    with pytest.warns(SeparationWarning,
                      match=r"arm\[T\.rpc\] \(arm = 'rpc': no events") as caught:
        res = fit_glmm(d, FORMULA, groups="la")
    assert all(issubclass(w.category, DataQualityWarning) for w in caught)
    fe = res.fixed_effects.set_index("term")
    assert fe.loc["arm[T.rpc]", "estimate"] == -np.inf
    assert fe.loc["arm[T.rpc]", ["std_error", "statistic", "p_value", "ci_low",
                                 "ci_high"]].isna().all()
    assert res.cov_params.loc["arm[T.rpc]"].isna().all()
    assert res.converged and res.n_obs == len(d)
    # the limit: all rows, the arm coefficient held at -30, the rest maximised
    beta, sd, ll = _held_fit(d, "arm[T.rpc]", -30.0)
    for term in ("Intercept", "x"):
        assert abs(fe.loc[term, "estimate"] - beta[term]) < 1e-4
    assert abs(res.variance_components["sd"].iloc[0] - sd) < 1e-4
    assert abs(res.loglik - ll) < 1e-4
    # and it is the model fitted without those rows and that term
    alone = fit_glmm(d[d.arm == "control"], "y ~ x", groups="la")
    np.testing.assert_allclose(fe.loc[["Intercept", "x"], "estimate"],
                               alone.fixed_effects.set_index("term")["estimate"],
                               rtol=1e-8)
    assert res.loglik == pytest.approx(alone.loglik, rel=1e-10)


def test_separated_reference_level_sends_the_intercept_the_other_way():
    # the reference level (arm = control) has no events: the intercept goes to -inf
    # and arm[T.rpc] to +inf, their sum staying finite (the log-odds in arm = rpc)
    d = _data()
    d.loc[d.arm == "control", "y"] = 0
    with pytest.warns(SeparationWarning,
                      match=r"arm = 'control' \(the reference level\): no events"):
        res = fit_glmm(d, FORMULA, groups="la")
    fe = res.fixed_effects.set_index("term")
    assert fe.loc["Intercept", "estimate"] == -np.inf
    assert fe.loc["arm[T.rpc]", "estimate"] == np.inf
    assert fe.loc[["Intercept", "arm[T.rpc]"], "std_error"].isna().all()
    assert np.isfinite(fe.loc["x", ["estimate", "std_error"]].astype(float)).all()
    # the limit: the intercept held at -30, the arm coefficient and x maximised
    beta, sd, ll = _held_fit(d, "Intercept", -30.0)
    assert abs(fe.loc["x", "estimate"] - beta["x"]) < 1e-4
    assert abs(res.variance_components["sd"].iloc[0] - sd) < 1e-4
    assert abs(res.loglik - ll) < 1e-4
    alone = fit_glmm(d[d.arm == "rpc"], "y ~ x", groups="la")
    a = alone.fixed_effects.set_index("term")
    assert abs(-30.0 + beta["arm[T.rpc]"] - a.loc["Intercept", "estimate"]) < 1e-4
    assert fe.loc["x", "estimate"] == pytest.approx(a.loc["x", "estimate"], rel=1e-8)


def _four_arms() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    la = np.repeat(np.arange(25), 40)
    arm = np.tile(["a", "b", "c", "d"], 250)
    x = rng.normal(size=la.size)
    eta = -0.2 + 0.5 * x + rng.normal(0, 0.5, 25)[la] + 0.4 * (arm == "c")
    return pd.DataFrame({"la": la, "arm": arm, "x": x,
                         "y": (rng.random(la.size) < 1 / (1 + np.exp(-eta))).astype(int)})


def test_reference_level_of_a_four_level_column():
    # reference a has no events: intercept -inf, every other level +inf; the limit
    # keeps the contrasts among b, c, d finite (not terms of the model: not reported)
    d = _four_arms()
    d.loc[d.arm == "a", "y"] = 0
    with pytest.warns(SeparationWarning, match=r"arm = 'a' \(the reference level\)"):
        res = fit_glmm(d, "y ~ x + arm", groups="la")
    fe = res.fixed_effects.set_index("term")["estimate"]
    assert fe["Intercept"] == -np.inf
    assert (fe[["arm[T.b]", "arm[T.c]", "arm[T.d]"]] == np.inf).all()
    beta, sd, ll = _held_fit(d, "Intercept", -30.0, formula="y ~ x + arm")
    assert abs(fe["x"] - beta["x"]) < 1e-4
    assert abs(res.variance_components["sd"].iloc[0] - sd) < 1e-4
    assert abs(res.loglik - ll) < 1e-4
    alone = fit_glmm(d[d.arm != "a"], "y ~ x + arm", groups="la")
    a = alone.fixed_effects.set_index("term")["estimate"]
    assert abs((beta["arm[T.c]"] - beta["arm[T.b]"]) - a["arm[T.c]"]) < 1e-4
    assert abs(-30.0 + beta["arm[T.b]"] - a["Intercept"]) < 1e-4


def test_two_levels_without_events_one_the_reference():
    # a (reference) and c have no events: the intercept carries c's rows to 0 too,
    # so c's own coefficient is not determined (NaN), b and d are +inf
    d = _four_arms()
    d.loc[d.arm.isin(["a", "c"]), "y"] = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_glmm(d, "y ~ x + arm", groups="la")
    said = " ".join(str(w.message) for w in caught
                    if issubclass(w.category, SeparationWarning))
    assert "arm[T.c] are non-zero only in rows of a separated group" in said
    fe = res.fixed_effects.set_index("term")["estimate"]
    assert fe["Intercept"] == -np.inf and np.isnan(fe["arm[T.c]"])
    assert fe["arm[T.b]"] == np.inf and fe["arm[T.d]"] == np.inf
    alone = fit_glmm(d[d.arm.isin(["b", "d"])], "y ~ x + arm", groups="la")
    assert fe["x"] == pytest.approx(alone.fixed_effects.set_index("term")["estimate"]["x"],
                                    rel=1e-8)


def test_counts_with_only_successes_are_plus_inf():
    d = _data()
    counts = (d.groupby(["la", "arm"], as_index=False)
              .agg(y=("y", "sum"), n=("y", "size"), x=("x", "mean")))
    counts.loc[counts.arm == "rpc", "y"] = counts.loc[counts.arm == "rpc", "n"]
    with pytest.warns(SeparationWarning, match="only successes"):
        res = fit_glmm(counts, FORMULA, groups="la", trials="n")
    fe = res.fixed_effects.set_index("term")
    assert fe.loc["arm[T.rpc]", "estimate"] == np.inf
    alone = fit_glmm(counts[counts.arm == "control"], "y ~ x", groups="la", trials="n")
    np.testing.assert_allclose(fe.loc[["Intercept", "x"], "estimate"],
                               alone.fixed_effects.set_index("term")["estimate"],
                               rtol=1e-8)


def test_poisson_level_with_every_count_zero_is_minus_inf():
    rng = np.random.default_rng(3)
    la = np.repeat(np.arange(20), 30)
    arm = np.tile(["a", "b", "c"], 200)
    mu = np.exp(0.5 + rng.normal(0, 0.4, 20)[la] + 0.3 * (arm == "b"))
    d = pd.DataFrame({"la": la, "arm": arm, "y": rng.poisson(mu)})
    d.loc[d.arm == "c", "y"] = 0
    with pytest.warns(SeparationWarning, match=r"arm\[T\.c\] \(arm = 'c': every count 0"):
        res = fit_glmm(d, "y ~ arm", groups="la", family="poisson")
    fe = res.fixed_effects.set_index("term")
    assert fe.loc["arm[T.c]", "estimate"] == -np.inf
    assert np.isfinite(fe.loc["arm[T.b]", "estimate"])
    alone = fit_glmm(d[d.arm != "c"], "y ~ arm", groups="la", family="poisson")
    assert fe.loc["arm[T.b]", "estimate"] == pytest.approx(
        alone.fixed_effects.set_index("term").loc["arm[T.b]", "estimate"], rel=1e-8)


def test_interaction_with_a_separated_level_is_nan_and_named():
    d = _data()
    d.loc[d.arm == "rpc", "y"] = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_glmm(d, "y ~ x * arm", groups="la")
    said = [str(w.message) for w in caught if issubclass(w.category, SeparationWarning)]
    assert any("term arm[T.rpc] (arm = 'rpc': no events" in t for t in said)
    assert any("x:arm[T.rpc]" in t and "reported as NaN" in t for t in said)
    fe = res.fixed_effects.set_index("term")
    assert fe.loc["arm[T.rpc]", "estimate"] == -np.inf
    assert np.isnan(fe.loc["x:arm[T.rpc]", "estimate"])
    assert list(fe.index) == ["Intercept", "arm[T.rpc]", "x", "x:arm[T.rpc]"]


def test_group_with_no_rows_left_has_its_blup_at_the_prior():
    d = _data()
    d.loc[d.la == "LA01", "arm"] = "rpc"
    d.loc[d.arm == "rpc", "y"] = 0
    res = _fit(d)
    b = res.blups().set_index("level")
    sd = res.variance_components["sd"].iloc[0]
    assert res.n_groups == {"la": 40} and len(b) == 40
    assert b.loc["LA01", "estimate"] == 0.0
    assert b.loc["LA01", "std_error"] == pytest.approx(sd)
    assert list(b.index) == sorted(b.index)
    assert np.all(b.drop("LA01")["std_error"] < sd)


def test_nested_groups_follow_the_same_policy():
    rng = np.random.default_rng(8)
    d = _data()
    d["prac"] = rng.integers(0, 3, len(d))
    d.loc[d.arm == "rpc", "y"] = 0
    with pytest.warns(SeparationWarning, match=r"arm\[T\.rpc\]"):
        res = fit_glmm(d, FORMULA, groups=["la", "prac"])
    fe = res.fixed_effects.set_index("term")
    assert fe.loc["arm[T.rpc]", "estimate"] == -np.inf
    alone = fit_glmm(d[d.arm == "control"], "y ~ x", groups=["la", "prac"])
    np.testing.assert_allclose(fe.loc[["Intercept", "x"], "estimate"],
                               alone.fixed_effects.set_index("term")["estimate"],
                               rtol=1e-8)
    assert res.loglik == pytest.approx(alone.loglik, rel=1e-10)
    inner = res.blups().query("component == 'prac:la'")
    assert len(inner) == res.n_groups["prac:la"]


def test_complete_separation_is_still_refused():
    d = _data()
    d["y"] = (d.arm == "rpc").astype(int)
    with pytest.raises(RpcEvalError, match="predict.*the outcome exactly"):
        _fit(d)


def test_separation_warning_keeps_its_engagement_name():
    assert rpc_eval.engagement.SeparationWarning is SeparationWarning
    assert issubclass(SeparationWarning, DataQualityWarning)


@pytest.mark.parametrize("arm", ["rpc", "control"])
def test_other_estimates_match_glmer_at_its_large_finite_stop(arm):
    # glmer (tests/reference/glmm_separation.R) stops at a large finite coefficient
    # (about -27, SE in the hundreds); the other terms, the variance and logLik there
    # are the limit, which is what fit_glmm reports for them
    ref = json.loads((REF / "glmm_separation.json").read_text())[arm]
    r = dict(zip(ref["terms"], ref["estimate"], strict=True))
    assert abs(r["armrpc"]) > 20                     # what glmer reports: not our policy
    d = _data()
    d.loc[d.arm == arm, "y"] = 0
    res = _fit(d)
    fe = res.fixed_effects.set_index("term")["estimate"]
    assert fe["x"] == pytest.approx(r["x"], rel=1e-5)
    assert res.variance_components["variance"].iloc[0] == pytest.approx(ref["variance"],
                                                                        rel=1e-5)
    assert res.loglik == pytest.approx(ref["loglik"], rel=1e-7)
    if arm == "rpc":
        assert fe["Intercept"] == pytest.approx(r["(Intercept)"], rel=1e-5)
        assert fe["arm[T.rpc]"] == -np.inf
    else:
        assert (fe["Intercept"], fe["arm[T.rpc]"]) == (-np.inf, np.inf)


def test_two_valued_column_other_than_0_1_follows_the_direction_of_the_limit():
    # s takes 1 and 2; every row with s = 2 has y = 0. The limit keeps
    # beta0 + 1 * beta_s finite and sends beta0 + 2 * beta_s to -inf, so beta_s -> -inf
    # and the intercept -> +inf
    d = _data()
    d["s"] = np.where(d.arm == "rpc", 2.0, 1.0)
    d.loc[d.s == 2, "y"] = 0
    with pytest.warns(SeparationWarning, match=r"term s \(s = 2: no events"):
        res = fit_glmm(d, "y ~ x + s", groups="la")
    fe = res.fixed_effects.set_index("term")["estimate"]
    assert fe["s"] == -np.inf and fe["Intercept"] == np.inf
    beta, sd, ll = _held_fit(d, "s", -30.0, formula="y ~ x + s")
    assert beta["Intercept"] > 25                    # the held fit goes the same way
    assert abs(fe["x"] - beta["x"]) < 1e-4
    assert abs(res.variance_components["sd"].iloc[0] - sd) < 1e-4
    assert abs(res.loglik - ll) < 1e-4
