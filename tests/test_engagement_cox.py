"""Tests of rpc_eval.engagement.cox: R reference values, hand-checked cases, known truth,
and degenerate inputs.

The R values come from tests/reference/cox.R (survival 3.5-3) run on
tests/reference/engagement_small.csv (300 parents, days, few ties) and
tests/reference/engagement_ties.csv (2,000 parents, sessions 0..12, heavy ties), and
are committed as tests/reference/cox.json; R is not needed to run this file.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rpc_eval.engagement.cox import COEFFICIENT_COLUMNS, ZPH_COLUMNS, CoxResult, fit_cox
from rpc_eval.engagement.separation import SeparationWarning
from rpc_eval.errors import ConvergenceWarning, DataQualityWarning, RpcEvalError, RpcEvalWarning
from rpc_eval.stats.clusters import FewClustersWarning

REF_DIR = Path(__file__).parent / "reference"
REF = json.loads((REF_DIR / "cox.json").read_text())
DATA = {
    "small": (pd.read_csv(REF_DIR / "engagement_small.csv"), "days"),
    "ties": (pd.read_csv(REF_DIR / "engagement_ties.csv"), "sessions"),
}
COVS = ["group", "workless", "age"]

#: Same partial likelihood, same Newton-Raphson path (the iterates are invariant to R's
#: centring and scaling) and the same sandwich formula: observed differences are below
#: 1e-11 relative. The tolerance leaves room for other BLAS/platforms.
TOL = 1e-8
#: The brief's requirement for coefficients and SEs; everything above is far tighter.
TOL_BRIEF = 1e-4

#: fixture name -> fit_cox keyword arguments (covariates group + workless + age unless
#: stated)
FITS = {
    "efron": {},
    "efron_cluster": {"cluster": "la_code"},
    "breslow": {"ties": "breslow"},
    "breslow_cluster": {"ties": "breslow", "cluster": "la_code"},
    "completion_cluster": {"cluster": "la_code", "event_of_interest": 2},
    "strata_cluster": {"cluster": "la_code", "strata": "workless",
                       "covariates": ["group", "age"]},
}


def _r_term(name: str) -> str:
    """rpc_eval's 'group[T.B]' is R's 'groupB'."""
    return name.replace("[T.", "").replace("[", "").replace("]", "")


def _fit(key: str, name: str) -> CoxResult:
    frame, tcol = DATA[key]
    kw = dict(FITS[name])
    covs = kw.pop("covariates", COVS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RpcEvalWarning)  # 12 LAs < FEW_CLUSTERS
        return fit_cox(frame, tcol, "event", covariates=covs, **kw)


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


# --------------------------------------------------------------------------------------
# R reference values
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["small", "ties"])
@pytest.mark.parametrize("name", list(FITS))
def test_matches_coxph(key, name):
    ref = REF[key][name]
    res = _fit(key, name)
    tab = res.coefficients
    assert [_r_term(t) for t in tab["term"]] == ref["terms"]
    assert _rel(tab["estimate"], ref["coef"]) < TOL
    model_se = tab["naive_std_error"] if "naive_std_error" in tab else tab["std_error"]
    assert _rel(model_se, ref["se"]) < TOL
    assert _rel(res.loglik, ref["loglik"][1]) < TOL
    assert _rel(res.loglik_null, ref["loglik"][0]) < TOL
    assert res.n == ref["n"] and res.n_events == ref["nevent"]
    assert res.n_iter == ref["iter"]
    if "robust_se" in ref:
        assert _rel(tab["std_error"], ref["robust_se"]) < TOL
    # CIs, z and p come from the robust SE when clustered (as summary.coxph); R's
    # limits are those of the hazard ratio, ci_low/ci_high are on the log scale
    assert _rel(tab["ratio_ci_low"], ref["ci_low"]) < TOL
    assert _rel(tab["ratio_ci_high"], ref["ci_high"]) < TOL
    assert _rel(np.exp(tab["ci_low"]), ref["ci_low"]) < TOL
    assert _rel(np.exp(tab["ci_high"]), ref["ci_high"]) < TOL
    assert _rel(tab["statistic"], ref["z"]) < TOL
    assert _rel(tab["p_value"], ref["p"]) < 1e-6
    assert _rel(res.concordance, ref["concordance"]) < 1e-12
    assert _rel(tab["estimate"], ref["coef"]) < TOL_BRIEF  # the stated requirement


ZPH = {  # fixture -> (fit, transform, terms)
    "zph_efron_km": ("efron", "km", True),
    "zph_efron_km_noterms": ("efron", "km", False),
    "zph_efron_rank": ("efron", "rank", True),
    "zph_efron_identity": ("efron", "identity", True),
    "zph_breslow_km": ("breslow", "km", True),
    "zph_strata_km": ("strata_cluster", "km", True),
}


@pytest.mark.parametrize("key", ["small", "ties"])
@pytest.mark.parametrize("zname", list(ZPH))
def test_matches_cox_zph(key, zname):
    fit_name, transform, terms = ZPH[zname]
    ref = REF[key][zname]
    res = _fit(key, fit_name)
    z = res.test_proportional_hazards(transform, terms=terms)
    assert list(z.columns) == ZPH_COLUMNS
    assert [_r_term(t) for t in z["term"]] == ref["term"]
    assert list(z["df"]) == ref["df"]
    assert _rel(z["statistic"], ref["chisq"]) < TOL
    assert _rel(z["p_value"], ref["p"]) < TOL
    if "y" in ref:
        s = res.schoenfeld_residuals(scaled=True, transform=transform, terms=terms)
        y = np.asarray(ref["y"], float)
        ours = s.iloc[:, -y.shape[1]:].to_numpy()
        assert np.allclose(ours, y, rtol=1e-7, atol=1e-9)
        assert _rel(s["transformed_time"], ref["x"]) < TOL
        assert np.array_equal(s["time"].to_numpy(), np.asarray(ref["time"], float))


@pytest.mark.parametrize("key", ["small", "ties"])
def test_unscaled_schoenfeld_matches_r(key):
    y = np.asarray(REF[key]["schoenfeld_efron"], float)
    s = _fit(key, "efron").schoenfeld_residuals(scaled=False)
    assert np.allclose(s.iloc[: len(y), -y.shape[1]:].to_numpy(), y, rtol=1e-8, atol=1e-10)
    # the raw residuals sum to the score, which is zero at the estimate
    assert np.allclose(s.iloc[:, -y.shape[1]:].sum(), 0.0, atol=1e-6)


def test_schoenfeld_rows_point_back_to_events():
    frame, tcol = DATA["small"]
    s = _fit("small", "efron").schoenfeld_residuals()
    assert len(s) == (frame["event"] == 1).sum()
    assert (frame.loc[s["row"], "event"] == 1).all()
    assert np.array_equal(frame.loc[s["row"], tcol].to_numpy(), s["time"].to_numpy())
    assert s["time"].is_monotonic_increasing


def test_matches_statsmodels_phreg():
    """Second check: statsmodels PHReg (Efron: coefficients and model SEs; Breslow:
    also the grouped robust SEs -- statsmodels' robust SEs use Breslow-type score
    residuals, so with Efron ties they differ from R's and ours)."""
    from statsmodels.duration.hazard_regression import PHReg

    frame, tcol = DATA["ties"]
    X = np.column_stack([(frame["group"] == g).astype(float) for g in "BCD"]
                        + [frame["workless"], frame["age"]])
    status = (frame["event"] == 1).astype(int)
    for ties in ("efron", "breslow"):
        res = fit_cox(frame, tcol, "event", covariates=COVS, ties=ties, cluster="la_code")
        sm = PHReg(frame[tcol], X, status=status, ties=ties).fit(groups=frame["la_code"])
        sm_naive = PHReg(frame[tcol], X, status=status, ties=ties).fit()
        assert _rel(res.coefficients["estimate"], sm.params) < 1e-6
        assert _rel(res.coefficients["naive_std_error"], sm_naive.bse) < 1e-6
        if ties == "breslow":
            assert _rel(res.coefficients["std_error"], sm.bse) < 1e-6


# --------------------------------------------------------------------------------------
# Hand-checkable cases
# --------------------------------------------------------------------------------------

def test_breslow_one_event_time_closed_form():
    """One event time with everybody at risk: the Breslow partial likelihood is
    d1*b - d*log(n0 + n1 e^b), maximised at e^b = (d1/n1)/(d0/n0), with
    var(b) = 1/d0 + 1/d1."""
    n0, n1, d0, d1 = 20, 15, 6, 9
    x = np.r_[np.zeros(n0), np.ones(n1)]
    ev = np.r_[np.ones(d0), np.zeros(n0 - d0), np.ones(d1), np.zeros(n1 - d1)]
    t = np.where(ev == 1, 1.0, 2.0)
    frame = pd.DataFrame({"t": t, "e": ev.astype(int), "arm": np.where(x == 1, "b", "a")})
    res = fit_cox(frame, "t", "e", covariates="arm", ties="breslow")
    b = math.log((d1 / n1) / (d0 / n0))
    row = res.coefficients.iloc[0]
    assert row["term"] == "arm[T.b]"
    assert row["estimate"] == pytest.approx(b, rel=1e-10)
    assert row["std_error"] == pytest.approx(math.sqrt(1 / d0 + 1 / d1), rel=1e-8)
    d = d0 + d1
    assert res.loglik == pytest.approx(d1 * b - d * math.log(n0 + n1 * math.exp(b)), rel=1e-12)
    assert res.loglik_null == pytest.approx(-d * math.log(n0 + n1), rel=1e-12)


def _efron_loglik(beta, t, e, x):
    """The Efron partial likelihood written out term by term (one covariate)."""
    ll = 0.0
    for time in np.unique(t[e == 1]):
        dead = (t == time) & (e == 1)
        risk = t >= time
        d = dead.sum()
        s_risk = np.exp(beta * x[risk]).sum()
        s_dead = np.exp(beta * x[dead]).sum()
        ll += beta * x[dead].sum()
        for k in range(d):
            ll -= math.log(s_risk - k / d * s_dead)
    return ll


def test_efron_partial_likelihood_by_hand():
    t = np.array([1, 1, 2, 3, 3, 3, 4, 5, 5, 6], float)
    e = np.array([1, 1, 0, 1, 1, 0, 1, 1, 1, 0])
    x = np.array([1.0, 0.2, 0.5, 1.5, 0.0, 2.0, 0.7, 1.1, 0.3, 0.9])
    frame = pd.DataFrame({"t": t, "e": e, "x": x})
    res = fit_cox(frame, "t", "e", covariates="x")
    b = float(res.coefficients["estimate"].iloc[0])
    assert res.loglik == pytest.approx(_efron_loglik(b, t, e, x), rel=1e-12)
    assert res.loglik_null == pytest.approx(_efron_loglik(0.0, t, e, x), rel=1e-12)
    h = 1e-5  # the score is zero and the information is -d2l/db2 at the estimate
    score = (_efron_loglik(b + h, t, e, x) - _efron_loglik(b - h, t, e, x)) / (2 * h)
    assert abs(score) < 1e-6
    info = -(_efron_loglik(b + h, t, e, x) - 2 * _efron_loglik(b, t, e, x)
             + _efron_loglik(b - h, t, e, x)) / h**2
    assert res.coefficients["std_error"].iloc[0] == pytest.approx(1 / math.sqrt(info), rel=1e-4)


def test_no_ties_efron_equals_breslow():
    rng = np.random.default_rng(5)
    n = 60
    frame = pd.DataFrame({"t": rng.permutation(n) + 1.0, "e": rng.integers(0, 2, n),
                          "x": rng.normal(size=n)})
    a = fit_cox(frame, "t", "e", covariates="x")
    b = fit_cox(frame, "t", "e", covariates="x", ties="breslow")
    assert np.allclose(a.coefficients["estimate"], b.coefficients["estimate"], rtol=1e-12)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)


def test_robust_variance_is_grouped_dfbeta_sandwich():
    """With one subject per cluster the clustered variance is the plain robust
    (dfbeta) sandwich, and it is invariant to how cluster labels are spelt."""
    frame, tcol = DATA["small"]
    frame = frame.assign(own=np.arange(len(frame)), la_num=frame["la_code"].str[2:].astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RpcEvalWarning)
        a = fit_cox(frame, tcol, "event", covariates=COVS, cluster="la_code")
        b = fit_cox(frame, tcol, "event", covariates=COVS, cluster="la_num")
    assert np.allclose(a.coefficients["std_error"], b.coefficients["std_error"], rtol=1e-12)
    c = fit_cox(frame, tcol, "event", covariates=COVS, cluster="own")
    assert np.all(np.isfinite(c.coefficients["std_error"]))
    assert np.allclose(np.diag(c.vcov), c.coefficients["std_error"] ** 2)


def test_event_codes_other_than_interest_are_censored():
    frame, tcol = DATA["ties"]
    a = fit_cox(frame, tcol, "event", covariates=COVS)
    recoded = frame.assign(dropout=(frame["event"] == 1).astype(int))
    b = fit_cox(recoded, tcol, "dropout", covariates=COVS)
    assert np.allclose(a.coefficients["estimate"], b.coefficients["estimate"], rtol=1e-13)
    labelled = frame.assign(status=frame["event"].map({0: "censored", 1: "dropout",
                                                       2: "completion"}))
    c = fit_cox(labelled, tcol, "status", covariates=COVS, event_of_interest="dropout",
                censored="censored")
    assert np.allclose(a.coefficients["estimate"], c.coefficients["estimate"], rtol=1e-13)
    # the default censored=0 is not a code of the text column: refused, codes named
    with pytest.raises(RpcEvalError, match="codes found: 'censored', 'completion', 'dropout'"):
        fit_cox(labelled, tcol, "status", covariates=COVS, event_of_interest="dropout")
    # censored=None: every other code is censored, unchecked
    d = fit_cox(labelled, tcol, "status", covariates=COVS, event_of_interest="dropout",
                censored=None)
    assert np.allclose(a.coefficients["estimate"], d.coefficients["estimate"], rtol=1e-13)


def test_reference_levels_and_categorical_order():
    frame, tcol = DATA["ties"]
    base = fit_cox(frame, tcol, "event", covariates=COVS)
    assert base.reference_levels == {"group": "A"}
    assert base.terms["group"] == ["group[T.B]", "group[T.C]", "group[T.D]"]
    alt = fit_cox(frame, tcol, "event", covariates=COVS, reference={"group": "C"})
    assert alt.reference_levels == {"group": "C"}
    ca = base.coefficients.set_index("term")["estimate"]
    cc = alt.coefficients.set_index("term")["estimate"]
    assert cc["group[T.A]"] == pytest.approx(-ca["group[T.C]"], rel=1e-8)
    assert cc["group[T.B]"] == pytest.approx(ca["group[T.B]"] - ca["group[T.C]"], rel=1e-8)
    assert alt.loglik == pytest.approx(base.loglik, rel=1e-12)
    cat = frame.assign(group=pd.Categorical(frame["group"], categories=["D", "C", "B", "A"]))
    byorder = fit_cox(cat, tcol, "event", covariates=COVS)
    assert byorder.reference_levels == {"group": "D"}
    # a numeric column listed in reference= is treated as categorical
    num = fit_cox(frame, tcol, "event", covariates=["group", "workless"], reference={"workless": 1})
    assert "workless[T.0]" in set(num.coefficients["term"])


def test_result_shape_and_display():
    res = _fit("small", "efron_cluster")
    assert list(res.coefficients.columns) == COEFFICIENT_COLUMNS
    plain = _fit("small", "efron")
    assert "naive_std_error" not in plain.coefficients.columns
    assert list(plain.coefficients.columns) == [c for c in COEFFICIENT_COLUMNS
                                                if c != "naive_std_error"]
    assert res.n_clusters == 12
    text = res.summary().as_text()
    assert "group[T.B]" in text and "robust" in text and "Reference levels" in text
    assert "\n" not in repr(res) and repr(res).startswith("<Cause-specific Cox model")
    assert "<table" in res._repr_html_()
    assert res.to_frame().equals(res.coefficients)
    assert res.vcov.shape == (4, 4) and list(res.vcov.index) == list(res.coefficients["term"])
    lr = res.lr_test
    assert lr["statistic"] == pytest.approx(2 * (res.loglik - res.loglik_null))
    assert lr["df"] == 4


def test_strata_and_ci_level():
    frame, tcol = DATA["small"]
    a = fit_cox(frame, tcol, "event", covariates=["group", "age"], ci=0.9)
    row = a.coefficients.iloc[0]
    half = stats.norm.ppf(0.95) * row["std_error"]
    assert row["ratio_ci_low"] == pytest.approx(math.exp(row["estimate"] - half))
    assert row["ratio_ci_high"] == pytest.approx(math.exp(row["estimate"] + half))
    assert row["ci_low"] == pytest.approx(row["estimate"] - half)
    assert row["ci_high"] == pytest.approx(row["estimate"] + half)
    s = fit_cox(frame, tcol, "event", covariates=["group", "age"], strata=["workless"])
    sch = s.schoenfeld_residuals(scaled=False)
    assert set(sch["stratum"]) == {0, 1}


# --------------------------------------------------------------------------------------
# Known truth on simulated data
# --------------------------------------------------------------------------------------

def _simulate(rng, n, beta, n_clusters=20, frailty_sd=0.0, cluster_level=False):
    cl = rng.integers(0, n_clusters, n)
    if cluster_level:  # treatment assigned by cluster
        arm = (rng.random(n_clusters) < 0.5).astype(float)[cl]
    else:
        arm = rng.integers(0, 2, n).astype(float)
    z = rng.normal(size=n)
    u = rng.normal(0.0, frailty_sd, n_clusters)[cl]
    rate = 0.1 * np.exp(beta[0] * arm + beta[1] * z + u)
    shape = 1.5  # Weibull PH: S(t) = exp(-rate t^shape)
    t = (rng.exponential(size=n) / rate) ** (1 / shape)
    c = rng.uniform(0, 6, n)
    return pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "arm": arm,
                         "z": z, "cl": cl})


def test_ci_coverage_known_truth():
    """95% CIs of the log-HR cover the truth in about 95% of 100 samples (Weibull PH
    model, n = 150, about half with an event). Binomial(100, 0.95): P(X < 88) < 0.001."""
    rng = np.random.default_rng(20240601)
    beta = np.array([0.5, -0.3])
    cover = np.zeros(2)
    reps = 100
    for _ in range(reps):
        frame = _simulate(rng, 150, beta)
        res = fit_cox(frame, "t", "e", covariates=["arm", "z"])
        tab = res.coefficients
        lo, hi = tab["ci_low"].to_numpy(), tab["ci_high"].to_numpy()
        cover += (lo <= beta) & (beta <= hi)
    assert np.all(cover >= 88), cover


def test_robust_se_larger_with_shared_frailty():
    """A shared LA frailty and an LA-level treatment: the naive SE ignores the
    clustering and is too small; the cluster-robust SE is larger."""
    rng = np.random.default_rng(11)
    ratios = []
    for _ in range(5):
        frame = _simulate(rng, 3000, np.array([0.3, 0.2]), n_clusters=30, frailty_sd=0.6,
                          cluster_level=True)
        res = fit_cox(frame, "t", "e", covariates=["arm", "z"], cluster="cl")
        row = res.coefficients.iloc[0]
        ratios.append(row["std_error"] / row["naive_std_error"])
    assert min(ratios) > 1.5, ratios
    # and without frailty they agree roughly
    frame = _simulate(rng, 3000, np.array([0.3, 0.2]), n_clusters=30)
    res = fit_cox(frame, "t", "e", covariates=["arm", "z"], cluster="cl")
    assert 0.6 < (res.coefficients["std_error"].iloc[1]
                  / res.coefficients["naive_std_error"].iloc[1]) < 1.4


def test_zph_detects_non_proportional_hazards():
    """Effect of x only in the first 2 time units: the PH test rejects; under PH it
    does not (in this sample)."""
    rng = np.random.default_rng(3)
    n = 1500
    x = rng.integers(0, 2, n).astype(float)
    # hazard 0.3 exp(1.0 x) before t = 2, 0.3 after
    t_early = rng.exponential(1 / (0.3 * np.exp(1.0 * x)))
    t = np.where(t_early < 2, t_early, 2 + rng.exponential(1 / 0.3, n))
    c = rng.uniform(0, 8, n)
    frame = pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "x": x})
    z = fit_cox(frame, "t", "e", covariates="x").test_proportional_hazards()
    assert z.loc[z["term"] == "GLOBAL", "p_value"].iloc[0] < 1e-4
    ph = _simulate(rng, 1500, np.array([0.5, -0.3]))
    zph = fit_cox(ph, "t", "e", covariates=["arm", "z"]).test_proportional_hazards()
    assert zph.loc[zph["term"] == "GLOBAL", "p_value"].iloc[0] > 0.01


# --------------------------------------------------------------------------------------
# Degenerate inputs
# --------------------------------------------------------------------------------------

@pytest.fixture
def tiny():
    rng = np.random.default_rng(2)
    n = 200
    return pd.DataFrame({"t": rng.integers(1, 10, n).astype(float), "e": rng.integers(0, 3, n),
                         "x": rng.normal(size=n), "g": rng.choice(["a", "b"], n),
                         "la": rng.choice([f"LA{i}" for i in range(12)], n)})


def test_no_events(tiny):
    with pytest.raises(RpcEvalError, match="no event of interest"):
        fit_cox(tiny.assign(e=0), "t", "e", covariates=["x"])
    with pytest.raises(RpcEvalError, match="no event of interest"):
        fit_cox(tiny, "t", "e", covariates=["x"], event_of_interest=7)


def test_single_cluster_and_few_clusters(tiny):
    with pytest.raises(RpcEvalError, match="at least 2 clusters"):
        fit_cox(tiny.assign(la="LA1"), "t", "e", covariates=["x"], cluster="la")
    with pytest.warns(FewClustersWarning, match="only 3 clusters"):
        fit_cox(tiny.assign(la=np.arange(len(tiny)) % 3), "t", "e", covariates=["x"], cluster="la")


def test_constant_and_collinear_covariates(tiny):
    with pytest.raises(RpcEvalError, match="covariate 'c' is constant"):
        fit_cox(tiny.assign(c=1.0), "t", "e", covariates=["x", "c"])
    with pytest.raises(RpcEvalError, match="covariate 'g' is constant"):
        fit_cox(tiny.assign(g="a"), "t", "e", covariates=["x", "g"])
    with pytest.raises(RpcEvalError, match="collinear.*x2"):
        fit_cox(tiny.assign(x2=2 * tiny["x"] + 1), "t", "e", covariates=["x", "x2"])


def test_level_without_events_is_flagged_infinite(tiny):
    frame = tiny.copy()
    frame.loc[frame["g"] == "b", "e"] = 0
    with pytest.warns(SeparationWarning, match=r"g\[T\.b\] \(g = 'b': no event of interest"):
        res = fit_cox(frame, "t", "e", covariates=["x", "g"])
    row = res.coefficients.set_index("term").loc["g[T.b]"]
    assert row["estimate"] == -np.inf and row["ratio"] == 0.0
    assert row[["std_error", "p_value", "ci_low", "ratio_ci_high"]].isna().all()
    assert res.infinite_terms == ["g[T.b]"]
    assert "separation" in res.summary().as_text()
    # the other coefficient is still estimated
    assert np.isfinite(res.coefficients.set_index("term").loc["x", "std_error"])
    # a reference level without events: the other level is +inf, and the warning says so
    with pytest.warns(SeparationWarning, match="the reference group g = 'b'"):
        flip = fit_cox(frame, "t", "e", covariates=["x", "g"], reference={"g": "b"})
    assert flip.coefficients.set_index("term").loc["g[T.a]", "estimate"] == np.inf


def test_continuous_perfect_separation_is_flagged():
    x = np.linspace(-1, 1, 30)
    frame = pd.DataFrame({"t": 31.0 - np.arange(30), "e": 1, "x": x})  # larger x dies first
    with pytest.warns(SeparationWarning, match="term x"):
        res = fit_cox(frame, "t", "e", covariates="x")
    assert not np.isfinite(res.coefficients["estimate"].iloc[0])


def test_non_convergence_warns(tiny):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = fit_cox(tiny, "t", "e", covariates=["x", "g"], max_iter=1)
    assert not res.converged
    assert "did not converge" in res.summary().as_text()


def test_missing_values_dropped_with_warning(tiny):
    frame = tiny.copy()
    frame.loc[[0, 5], "x"] = np.nan
    frame.loc[7, "g"] = None
    with pytest.warns(DataQualityWarning, match="3 of 200 rows"):
        res = fit_cox(frame, "t", "e", covariates=["x", "g"])
    assert res.n == 197 and res.n_dropped == 3


def test_bad_arguments(tiny):
    with pytest.raises(RpcEvalError, match="not found"):
        fit_cox(tiny, "t", "e", covariates=["nope"])
    with pytest.raises(RpcEvalError, match="ties"):
        fit_cox(tiny, "t", "e", covariates=["x"], ties="exact")
    with pytest.raises(RpcEvalError, match="negative"):
        fit_cox(tiny.assign(t=tiny["t"] - 5), "t", "e", covariates=["x"])
    with pytest.raises(RpcEvalError, match="reference level 'zz'"):
        fit_cox(tiny, "t", "e", covariates=["g"], reference={"g": "zz"})
    with pytest.raises(RpcEvalError, match="not among the covariates"):
        fit_cox(tiny, "t", "e", covariates=["g"], reference={"h": "a"})
    with pytest.raises(RpcEvalError, match="at least one covariate"):
        fit_cox(tiny, "t", "e", covariates=[])
    with pytest.raises(RpcEvalError, match="ci"):
        fit_cox(tiny, "t", "e", covariates=["x"], ci=95)
    with pytest.raises(RpcEvalError, match="transform"):
        fit_cox(tiny, "t", "e", covariates=["x"]).test_proportional_hazards("weird")
    with pytest.raises(RpcEvalError, match="non-finite"):
        fit_cox(tiny.assign(t=tiny["t"] - 1), "t", "e", covariates=["x"]).test_proportional_hazards("log")


def test_group_with_one_parent_and_zero_times(tiny):
    frame = tiny.copy()
    frame.loc[0, ["g", "t", "e"]] = ["solo", 5.0, 1]  # one parent, who drops out
    frame.loc[1:9, "t"] = 0.0  # exits at time 0 are allowed, as in R
    res = fit_cox(frame, "t", "e", covariates=["x", "g"])
    tab = res.coefficients.set_index("term")
    assert np.isfinite(tab.loc["g[T.solo]", "estimate"]) and np.isfinite(tab.loc["g[T.solo]", "std_error"])
    assert tab.loc["g[T.solo]", "std_error"] > 0.9  # one event: about 1/sqrt(1)
    frame.loc[0, "e"] = 0  # the one parent is censored: no events in the level
    with pytest.warns(SeparationWarning, match=r"g\[T\.solo\] \(g = .solo.: no event"):
        res = fit_cox(frame, "t", "e", covariates=["x", "g"])
    assert res.infinite_terms == ["g[T.solo]"]
