"""Tests for rpc_eval.engagement.discrete: R fixtures, known truth, degenerate inputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rpc_eval.engagement.discrete import (
    COEFFICIENT_COLUMNS,
    EMPIRICAL_COLUMNS,
    SeparationWarning,
    empirical_hazard,
    fit_discrete_hazard,
)
from rpc_eval.errors import ConvergenceWarning, DataQualityWarning, RpcEvalError

REF = Path(__file__).parent / "reference"
RTOL = 1e-6


@pytest.fixture(scope="module")
def pp() -> pd.DataFrame:
    return pd.read_csv(REF / "discrete_pp.csv")


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "discrete.json").read_text())


def person_period(sessions: np.ndarray, events: np.ndarray, **covariates) -> pd.DataFrame:
    """A small person-period builder: subject i has rows for sessions 1..sessions[i]; the
    last row has dropout = events[i] (1 = dropped out in that session, 0 = completed or
    censored); covariates are per-subject arrays copied to each of its rows."""
    sessions = np.asarray(sessions, dtype=int)
    events = np.asarray(events, dtype=int)
    ids = np.repeat(np.arange(len(sessions)), sessions)
    session = np.concatenate([np.arange(1, s + 1) for s in sessions]) if len(sessions) else []
    last = np.cumsum(sessions) - 1
    dropout = np.zeros(len(ids), dtype=int)
    dropout[last[events == 1]] = 1
    out = pd.DataFrame({"id": ids, "session": session, "dropout": dropout})
    for name, values in covariates.items():
        out[name] = np.asarray(values)[ids]
    return out


def simulate(rng: np.random.Generator, n: int, alpha: np.ndarray, beta: dict[str, float],
             link: str = "logit") -> pd.DataFrame:
    """Subjects with covariates x1 (binary) and x2 (normal) and a discrete-time hazard
    g(h_j) = alpha_j + x'beta; subjects who never drop out complete after len(alpha)."""
    x1 = (rng.random(n) < 0.5).astype(float)
    x2 = rng.normal(size=n)
    eta = alpha[None, :] + beta["x1"] * x1[:, None] + beta["x2"] * x2[:, None]
    h = 1 / (1 + np.exp(-eta)) if link == "logit" else -np.expm1(-np.exp(eta))
    hit = rng.random(h.shape) < h
    any_hit = hit.any(axis=1)
    first = np.where(any_hit, hit.argmax(axis=1) + 1, len(alpha))
    return person_period(first, any_hit.astype(int), x1=x1, x2=x2)


# ----------------------------------------------------------------------- R fixtures
@pytest.mark.parametrize("time_effect", ["categorical", "linear"])
@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_coefficients_and_ses_match_r(pp, ref, time_effect, link):
    r = ref["models"][f"{time_effect}_{link}"]
    naive = fit_discrete_hazard(pp, "dropout", ["mode", "age"], time_effect=time_effect,
                                link=link)
    robust = fit_discrete_hazard(pp, "dropout", ["mode", "age"], time_effect=time_effect,
                                 link=link, cluster="la_code")
    assert list(naive.coefficients.columns) == COEFFICIENT_COLUMNS
    assert naive.coefficients["term"].iloc[-2:].tolist() == ["mode[T.online]", "age"]
    assert len(naive.coefficients) == len(r["terms"])
    np.testing.assert_allclose(naive.coefficients["estimate"], r["coef"], rtol=RTOL)
    np.testing.assert_allclose(naive.coefficients["std_error"], r["se"], rtol=RTOL)
    np.testing.assert_allclose(robust.coefficients["estimate"], r["coef"], rtol=RTOL)
    np.testing.assert_allclose(robust.coefficients["std_error"], r["se_cluster"], rtol=RTOL)
    for res in (naive, robust):
        assert res.loglik == pytest.approx(r["loglik"], rel=RTOL)
        assert res.deviance == pytest.approx(r["deviance"], rel=RTOL)
        assert res.aic == pytest.approx(r["aic"], rel=RTOL)
        assert res.n_obs == r["nobs"]
    assert robust.n_clusters == ref["n_clusters"]
    assert robust.se_type.startswith("cluster-robust")


@pytest.mark.parametrize("time_effect", ["categorical", "linear", "spline"])
@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_hazard_by_session_matches_r(pp, ref, time_effect, link):
    """Predicted hazards and delta-method CIs (link scale) at R's profile; for the spline,
    splines::ns with the same knots spans the same space as the restricted cubic spline."""
    r = ref["models"][f"{time_effect}_{link}"]["predict"]
    z = stats.norm.ppf(0.975)
    inv = (lambda e: 1 / (1 + np.exp(-e))) if link == "logit" else (
        lambda e: -np.expm1(-np.exp(e)))
    eta, se_cl = np.asarray(r["eta"]), np.asarray(r["se_eta_cluster"])
    res = fit_discrete_hazard(pp, "dropout", ["mode", "age"], time_effect=time_effect,
                              link=link, cluster="la_code")
    if time_effect == "spline":
        np.testing.assert_allclose(res._design.knots, ref["knots"], rtol=1e-12)
    # the default profile is R's: reference level, mean age at the first session
    for hz in (res.hazard_by_session(),
               res.hazard_by_session({"mode": "face_to_face", "age": ref["profile_age"]})):
        assert list(hz.columns) == ["session", "hazard", "ci_low", "ci_high"]
        np.testing.assert_array_equal(hz["session"], r["session"])
        np.testing.assert_allclose(hz["hazard"], r["hazard"], rtol=RTOL)
        np.testing.assert_allclose(hz["ci_low"], inv(eta - z * se_cl), rtol=RTOL)
        np.testing.assert_allclose(hz["ci_high"], inv(eta + z * se_cl), rtol=RTOL)
    naive = fit_discrete_hazard(pp, "dropout", ["mode", "age"], time_effect=time_effect,
                                link=link)
    se = np.asarray(r["se_eta"])
    np.testing.assert_allclose(naive.hazard_by_session()["ci_low"], inv(eta - z * se),
                               rtol=RTOL)


def test_separated_session_gives_the_limit_of_r_fit(pp, ref):
    """No dropout in session 10: warn, report -inf for it, and the other estimates equal
    R's fit without the session-10 rows (the limit of the ML fit)."""
    data = pp.copy()
    data.loc[data["session"] == 10, "dropout"] = 0
    r = ref["models"]["separated_categorical_logit"]
    with pytest.warns(SeparationWarning, match=r"session 10: no events.*time_effect='linear'"):
        res = fit_discrete_hazard(data, "dropout", ["mode", "age"], cluster="la_code")
    coefs = res.coefficients
    assert coefs["term"].tolist()[:10] == [f"session[T.{s}]" for s in range(1, 11)]
    row = coefs.loc[coefs["term"] == "session[T.10]"].iloc[0]
    assert row["estimate"] == -np.inf and np.isnan(row["std_error"]) and row["ratio"] == 0
    assert "separated" in row["ratio_type"]
    rest = coefs.loc[coefs["term"] != "session[T.10]"]
    np.testing.assert_allclose(rest["estimate"], r["coef"], rtol=RTOL)
    np.testing.assert_allclose(rest["std_error"], r["se_cluster"], rtol=RTOL)
    assert res.loglik == pytest.approx(r["loglik"], rel=RTOL)
    assert res.separated_sessions == [10]
    assert res.n_obs == len(data)
    # never a huge finite coefficient
    finite = coefs["estimate"][np.isfinite(coefs["estimate"])]
    assert finite.abs().max() < 10
    hz = res.hazard_by_session()
    assert hz["session"].tolist() == list(range(1, 11))
    last = hz.iloc[-1]
    assert last["hazard"] == 0 and last["ci_low"] == 0 and 0 < last["ci_high"] < 0.05
    assert not hz.isna().any().any()
    assert "left out of the fit: 10" in res.summary().as_text()
    # the linear time effect has no separation problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lin = fit_discrete_hazard(data, "dropout", ["mode", "age"], time_effect="linear")
    assert lin.hazard_by_session()["hazard"].iloc[-1] > 0


def test_session_with_only_events_is_separated_too():
    # session 1: 1 of 7 drop out; session 2: 1 of 5; session 3: both still at risk drop out
    data = person_period([1, 1, 2, 2, 2, 3, 3], [1, 0, 1, 0, 0, 1, 1])
    with pytest.warns(SeparationWarning, match="session 3: only events among 2 at risk"):
        res = fit_discrete_hazard(data, "dropout")
    assert res.coefficients["estimate"].iloc[-1] == np.inf
    hz = res.hazard_by_session()
    assert hz["hazard"].iloc[-1] == 1.0 and hz["ci_high"].iloc[-1] == 1.0
    assert 0 < hz["ci_low"].iloc[-1] < 1


def test_empirical_hazard_matches_r(pp, ref):
    e = ref["empirical"]
    overall = empirical_hazard(pp)
    assert list(overall.columns) == EMPIRICAL_COLUMNS
    for col in EMPIRICAL_COLUMNS:
        np.testing.assert_allclose(overall[col], e["overall"][col], rtol=1e-10)
    by = empirical_hazard(pp, by="mode")
    assert list(by.columns) == ["mode"] + EMPIRICAL_COLUMNS
    for level in ("face_to_face", "online"):
        sub = by.loc[by["mode"] == level]
        for col in EMPIRICAL_COLUMNS:
            np.testing.assert_allclose(sub[col], e[level][col], rtol=1e-10)


def test_cluster_sandwich_by_hand_and_statsmodels_conventions(pp):
    """Our CR1 covariance from first principles in numpy; and what statsmodels'
    fit(cov_type='cluster') does differently (documented in the module docstring)."""
    for link in ("logit", "cloglog"):
        res = fit_discrete_hazard(pp, "dropout", ["mode", "age"], time_effect="linear",
                                  link=link, cluster="la_code")
        x = np.column_stack([np.ones(len(pp)), pp["session"], pp["mode"] == "online",
                             pp["age"]]).astype(float)
        y = pp["dropout"].to_numpy(float)
        eta = x @ res.coefficients["estimate"].to_numpy()
        if link == "logit":
            mu = 1 / (1 + np.exp(-eta))
            dmu = mu * (1 - mu)
        else:
            mu = -np.expm1(-np.exp(eta))
            dmu = np.exp(eta - np.exp(eta))
        w = dmu**2 / (mu * (1 - mu))                       # IRLS (expected) weights
        bread = np.linalg.inv(x.T @ (w[:, None] * x))
        score = x * ((y - mu) * dmu / (mu * (1 - mu)))[:, None]
        sums = pd.DataFrame(score).groupby(pp["la_code"].to_numpy()).sum().to_numpy()
        g = len(sums)
        v = g / (g - 1) * bread @ (sums.T @ sums) @ bread
        np.testing.assert_allclose(res.vcov.to_numpy(), v, rtol=1e-7)
        np.testing.assert_allclose(res.coefficients["std_error"], np.sqrt(np.diag(v)), rtol=1e-7)
        # statsmodels' default: CR1 times (n-1)/(n-k), observed-Hessian bread
        groups = pd.factorize(pp["la_code"])[0]
        sm = res.glm_result.model.fit(cov_type="cluster", cov_kwds={"groups": groups},
                                      tol=1e-12)
        n, k = x.shape
        ratio = np.asarray(sm.bse) / (res.coefficients["std_error"] * np.sqrt((n - 1) / (n - k)))
        if link == "logit":   # canonical link: observed = expected information
            np.testing.assert_allclose(ratio, 1.0, rtol=1e-6)
        else:                 # cloglog: the bread differs, by up to a few per cent here
            assert np.abs(ratio - 1).max() > 1e-3


# ---------------------------------------------------------------------- known truth
def test_known_truth_coverage_logit():
    """~95% CI coverage over 100 small samples from a known discrete-time logit hazard."""
    rng = np.random.default_rng(2024)
    alpha = np.array([-1.5, -2.0, -2.2, -2.4, -2.0])
    beta = {"x1": 0.5, "x2": -0.3}
    n_rep = 100
    covered = {k: 0 for k in beta}
    estimates = {k: [] for k in beta}
    for _ in range(n_rep):
        data = simulate(rng, 250, alpha, beta)
        res = fit_discrete_hazard(data, "dropout", ["x1", "x2"])
        tab = res.coefficients.set_index("term")
        for k, b in beta.items():
            covered[k] += int(tab.loc[k, "ci_low"] <= b <= tab.loc[k, "ci_high"])
            estimates[k].append(tab.loc[k, "estimate"])
    lo, hi = stats.binom.ppf([0.0025, 0.9975], n_rep, 0.95)
    for k, b in beta.items():
        assert lo <= covered[k] <= hi, (k, covered[k])
        # no bias beyond Monte-Carlo error (SD of the estimates / sqrt(n_rep), 4 SEs)
        est = np.asarray(estimates[k])
        assert abs(est.mean() - b) < 4 * est.std(ddof=1) / np.sqrt(n_rep) + 0.02


def test_known_truth_cloglog_and_cluster_coverage():
    """cloglog recovers the hazard ratios of a grouped proportional-hazards model; and the
    cluster-robust CI covers with cluster-level heterogeneity in the covariate effect."""
    rng = np.random.default_rng(7)
    alpha = np.log(-np.log(1 - np.array([0.15, 0.10, 0.08, 0.08, 0.10, 0.12])))
    data = simulate(rng, 4000, alpha, {"x1": 0.4, "x2": 0.25}, link="cloglog")
    res = fit_discrete_hazard(data, "dropout", ["x1", "x2"], link="cloglog")
    tab = res.coefficients.set_index("term")
    for k, b in {"x1": 0.4, "x2": 0.25}.items():
        assert abs(tab.loc[k, "estimate"] - b) < 3.5 * tab.loc[k, "std_error"]
        assert tab.loc[k, "ratio_type"] == "hazard ratio"
    np.testing.assert_allclose(tab.loc["session[T.1]":"session[T.6]", "estimate"], alpha, atol=0.2)

    covered_cl = covered_naive = 0
    n_rep = 60
    for _ in range(n_rep):
        n_cl, per = 30, 40
        slope = 0.5 + rng.normal(0, 0.6, n_cl)            # the x1 effect varies by cluster
        cl = np.repeat(np.arange(n_cl), per)
        x1 = (rng.random(n_cl * per) < 0.5).astype(float)
        eta = -2.0 + slope[cl] * x1
        h = 1 / (1 + np.exp(-eta))
        hit = rng.random((len(cl), 6)) < h[:, None]
        first = np.where(hit.any(1), hit.argmax(1) + 1, 6)
        data = person_period(first, hit.any(1).astype(int), x1=x1, cl=cl)
        r_cl = fit_discrete_hazard(data, "dropout", ["x1"], time_effect="linear",
                                   cluster="cl").coefficients.set_index("term")
        r_nv = fit_discrete_hazard(data, "dropout", ["x1"], time_effect="linear"
                                   ).coefficients.set_index("term")
        covered_cl += int(r_cl.loc["x1", "ci_low"] <= 0.5 <= r_cl.loc["x1", "ci_high"])
        covered_naive += int(r_nv.loc["x1", "ci_low"] <= 0.5 <= r_nv.loc["x1", "ci_high"])
    lo = stats.binom.ppf(0.0025, n_rep, 0.95)
    # 30 clusters: CR1 is slightly liberal; allow one more miss than the binomial bound
    assert covered_cl >= lo - 1, covered_cl
    # ignoring the clustering under-covers clearly (45 of 60 with this seed, against 57)
    assert covered_naive <= covered_cl - 6, (covered_naive, covered_cl)


def test_saturated_model_reproduces_empirical_hazard():
    rng = np.random.default_rng(3)
    data = simulate(rng, 400, np.array([-1.2, -1.8, -2.0, -2.2]), {"x1": 0.0, "x2": 0.0})
    res = fit_discrete_hazard(data, "dropout")
    emp = empirical_hazard(data)
    np.testing.assert_allclose(res.hazard_by_session()["hazard"], emp["hazard"], rtol=1e-9)
    assert res.coefficients["ratio_type"].eq("baseline odds").all()


# ------------------------------------------------------------ API, profiles, display
def test_profiles_groups_and_display(pp):
    res = fit_discrete_hazard(pp, "dropout", ["mode", "age"], time_effect="linear")
    both = res.hazard_by_session({"online": {"mode": "online"},
                                  "face to face": {"mode": "face_to_face"}})
    assert list(both.columns) == ["group", "session", "hazard", "ci_low", "ci_high"]
    assert len(both) == 20
    on = both.loc[both["group"] == "online", "hazard"].to_numpy()
    off = both.loc[both["group"] == "face to face", "hazard"].to_numpy()
    assert (on > off).all()
    assert ((both["ci_low"] < both["hazard"]) & (both["hazard"] < both["ci_high"])).all()
    types = res.coefficients.set_index("term")["ratio_type"]
    assert types["Intercept"] == "baseline odds"
    assert types["session"] == "odds ratio per session"
    assert types["mode[T.online]"] == "odds ratio"
    text = res.summary().as_text()
    assert "logit link (odds ratios)" in text and "mode[T.online]" in text
    assert "\n" not in repr(res) and repr(res).startswith("<Discrete-time hazard model")
    assert res.to_frame().equals(res.coefficients)
    page = res._repr_html_()
    assert "<table" in page and "mode[T.online]" in page
    with pytest.raises(RpcEvalError, match="not covariates"):
        res.hazard_by_session({"sex": "f"})
    with pytest.raises(RpcEvalError, match="not one of its levels"):
        res.hazard_by_session({"mode": "telephone"})
    with pytest.raises(RpcEvalError, match="must be a number"):
        res.hazard_by_session({"age": "old"})


def test_categorical_dtype_order_and_bool_covariates():
    rng = np.random.default_rng(11)
    data = simulate(rng, 500, np.array([-1.5, -2.0, -2.0]), {"x1": 0.3, "x2": 0.0})
    data["arm"] = pd.Categorical(np.where(data["x1"] > 0, "treated", "control"),
                                 categories=["treated", "control"])
    data["flag"] = data["x1"] > 0
    res = fit_discrete_hazard(data, "dropout", ["arm"])
    assert res.coefficients["term"].iloc[-1] == "arm[T.control]"
    res_bool = fit_discrete_hazard(data, "dropout", ["flag"])
    assert res_bool.coefficients["term"].iloc[-1] == "flag"
    assert res_bool.coefficients["estimate"].iloc[-1] == pytest.approx(
        -res.coefficients["estimate"].iloc[-1], rel=1e-8)


# ------------------------------------------------------------------ degenerate inputs
def test_bad_inputs_raise_clear_errors(pp):
    with pytest.raises(RpcEvalError, match="no column"):
        fit_discrete_hazard(pp, "dropped")
    with pytest.raises(RpcEvalError, match="time_effect"):
        fit_discrete_hazard(pp, time_effect="quadratic")
    with pytest.raises(RpcEvalError, match="link"):
        fit_discrete_hazard(pp, link="probit")
    with pytest.raises(RpcEvalError, match="ci"):
        fit_discrete_hazard(pp, ci=95)
    with pytest.raises(RpcEvalError, match="0 .* or 1"):
        fit_discrete_hazard(pp.assign(dropout=pp["dropout"] * 2))
    with pytest.raises(RpcEvalError, match="no events"):
        fit_discrete_hazard(pp.assign(dropout=0))
    with pytest.raises(RpcEvalError, match="every row is an event"):
        fit_discrete_hazard(pp.assign(dropout=1))
    with pytest.raises(RpcEvalError, match="DataFrame"):
        fit_discrete_hazard(pp.to_dict())
    with pytest.raises(RpcEvalError, match="single value"):
        fit_discrete_hazard(pp.assign(mode="online"), covariates=["mode"])
    with pytest.raises(RpcEvalError, match="rank-deficient"):
        fit_discrete_hazard(pp.assign(age2=pp["age"] * 2), covariates=["age", "age2"])
    with pytest.raises(RpcEvalError, match="at least 3 distinct knots"):
        fit_discrete_hazard(pp, time_effect="spline", spline_knots=[2, 5])
    with pytest.raises(RpcEvalError, match="3 to 7"):
        fit_discrete_hazard(pp, time_effect="spline", spline_knots=9)


def test_covariate_level_with_no_events_is_minus_infinity(pp):
    """Separation policy: the model fits, the level's term is -inf with no SE, the
    warning names term and group, and the other estimates are those of the fit without
    the level's rows (their likelihood contribution is 1 in the limit)."""
    data = pp.copy()
    data["mode"] = np.where(data["parent_id"] <= "P0010", "telephone", data["mode"])
    data.loc[data["mode"] == "telephone", "dropout"] = 0
    with pytest.warns(SeparationWarning,
                      match=r"mode\[T\.telephone\] \(mode = 'telephone': no events\)"):
        res = fit_discrete_hazard(data, "dropout", ["mode", "age"], time_effect="linear")
    co = res.coefficients.set_index("term")
    assert co.loc["mode[T.telephone]", "estimate"] == -np.inf
    assert co.loc["mode[T.telephone]", ["std_error", "ci_low", "p_value"]].isna().all()
    assert co.loc["mode[T.telephone]", "ratio"] == 0
    assert list(co.index) == ["Intercept", "session", "mode[T.online]", "mode[T.telephone]",
                              "age"]
    without = fit_discrete_hazard(data[data["mode"] != "telephone"], "dropout",
                                  ["mode", "age"], time_effect="linear")
    wo = without.coefficients.set_index("term")
    np.testing.assert_allclose(co.loc[wo.index, "estimate"], wo["estimate"], rtol=1e-10)
    assert res.n_obs == len(data)


def test_binary_indicator_with_no_events_is_minus_infinity(pp):
    data = pp.assign(online=(pp["mode"] == "online").astype(int))
    data.loc[data["online"] == 1, "dropout"] = 0
    with pytest.warns(SeparationWarning, match=r"term online \(online = 1: no events\)"):
        res = fit_discrete_hazard(data, "dropout", ["online", "age"], time_effect="linear")
    co = res.coefficients.set_index("term")
    assert co.loc["online", "estimate"] == -np.inf and np.isnan(co.loc["online", "std_error"])
    assert np.isfinite(co.loc["age", "estimate"])
    # the reference level separated: the other level is +inf
    flipped = data.assign(offline=1 - data["online"])
    with pytest.warns(SeparationWarning, match=r"term offline \(offline = 0: no events\)"):
        res2 = fit_discrete_hazard(flipped, "dropout", ["offline", "age"], time_effect="linear")
    assert res2.coefficients.set_index("term").loc["offline", "estimate"] == np.inf


def test_no_dropout_in_first_session_keeps_reference_profile(pp):
    """A common real case: nobody drops out in session 1 (it defines starting)."""
    data = pp.copy()
    data.loc[data["session"] == 1, "dropout"] = 0
    with pytest.warns(SeparationWarning, match="session 1: no events among 600"):
        res = fit_discrete_hazard(data, "dropout", ["mode", "age"])
    assert res._reference_profile["age"] == pytest.approx(
        pp.loc[pp["session"] == 1, "age"].mean())
    hz = res.hazard_by_session()
    assert hz["hazard"].iloc[0] == 0 and (hz["hazard"].iloc[1:] > 0).all()


def test_missing_values_and_cluster_warnings(pp):
    data = pp.copy()
    data.loc[[3, 7], "age"] = np.nan
    with pytest.warns(DataQualityWarning, match="2 of 3,377"):
        res = fit_discrete_hazard(data, "dropout", ["age"])
    assert res.n_obs == len(pp) - 2 and res.n_dropped == 2
    text = res.summary().as_text()
    assert "Person-periods: 3375" in text and "Rows left out (missing values): 2" in text
    # a missing outcome or session counts too; a complete table drops nothing
    more = data.copy()
    more.loc[[10], "dropout"] = np.nan
    more.loc[[11, 12], "session"] = np.nan
    with pytest.warns(DataQualityWarning, match="5 of 3,377"):
        assert fit_discrete_hazard(more, "dropout", ["age"]).n_dropped == 5
    assert fit_discrete_hazard(pp, "dropout", ["age"]).n_dropped == 0
    with pytest.warns(DataQualityWarning, match="single cluster"):
        one = fit_discrete_hazard(pp.assign(la_code="LA01"), "dropout", ["age"],
                                  cluster="la_code")
    assert one.se_type == "model-based" and one.coefficients["std_error"].gt(0).all()
    few = pp.assign(la_code=np.where(pp["la_code"] < "LA12", "A", "B"))
    with pytest.warns(DataQualityWarning, match="only 2 clusters"):
        fit_discrete_hazard(few, "dropout", ["age"], cluster="la_code")
    with pytest.warns(DataQualityWarning, match="left out"):
        out = empirical_hazard(data.assign(mode=data["mode"].where(data.index > 0)), by="mode")
    assert out["n_at_risk"].sum() == len(pp) - 1


def test_quasi_separation_in_numeric_covariate_warns():
    rng = np.random.default_rng(5)
    data = simulate(rng, 200, np.array([-1.5, -1.5, -1.5]), {"x1": 0.0, "x2": 0.0})
    data["score"] = np.where(data["dropout"] == 1, 1.0, 0.0) + rng.normal(0, 1e-3, len(data))
    with pytest.warns(SeparationWarning, match="score"):
        fit_discrete_hazard(data, "dropout", ["score"], time_effect="linear")


def test_separation_warning_is_a_data_quality_warning():
    """docs/conventions.md: separation is a DataQualityWarning in every model."""
    assert issubclass(SeparationWarning, DataQualityWarning)
    assert not issubclass(SeparationWarning, ConvergenceWarning)


def test_empirical_hazard_zero_events_has_finite_wilson_limits():
    data = person_period([3, 3, 3, 2], [0, 0, 0, 1])
    out = empirical_hazard(data)
    assert out["n_events"].tolist() == [0, 1, 0]
    first = out.iloc[0]
    assert first["hazard"] == 0 and first["ci_low"] == 0 and 0 < first["ci_high"] < 1
    assert not out.isna().any().any()
