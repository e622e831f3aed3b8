"""Tests of rpc_eval.change.attrition: SMDs, Rubin's rules, MI of missing follow-ups."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rpc_eval.change.attrition import (
    ATTRITION_COLUMNS,
    MI_CHANGE_COLUMNS,
    attrition_comparison,
    mi_change,
    rubin_pool,
)
from rpc_eval.errors import DataQualityWarning, RpcEvalError


# ------------------------------------------------------------------ attrition_comparison
def _baseline() -> pd.DataFrame:
    return pd.DataFrame({
        # followed: 1, 2, 3 (mean 2, var 1); lost: 4, 6 (mean 5, var 2)
        "pre": [1.0, 2.0, 3.0, 4.0, 6.0],
        # followed: a, a, b ; lost: b, c
        "group": ["a", "a", "b", "b", "c"],
        "followed": [True, True, True, False, False],
    })


def test_smd_numeric_hand_worked():
    out = attrition_comparison(_baseline(), "followed", ["pre"])
    assert list(out.columns) == ATTRITION_COLUMNS
    row = out.iloc[0]
    assert row["variable"] == "pre" and pd.isna(row["level"])
    assert (row["n_followed"], row["n_lost"]) == (3, 2)
    assert row["followed"] == pytest.approx(2.0)
    assert row["lost"] == pytest.approx(5.0)
    assert row["sd_followed"] == pytest.approx(1.0)
    assert row["sd_lost"] == pytest.approx(math.sqrt(2.0))
    # (2 - 5) / sqrt((1 + 2) / 2)
    assert row["smd"] == pytest.approx(-3 / math.sqrt(1.5))


def test_smd_categorical_hand_worked():
    out = attrition_comparison(_baseline(), "followed", ["group"])
    assert out["level"].tolist() == ["a", "b", "c"]
    assert out["n_followed"].tolist() == [3, 3, 3]
    assert out["n_lost"].tolist() == [2, 2, 2]
    pf = np.array([2 / 3, 1 / 3, 0.0])
    pl = np.array([0.0, 0.5, 0.5])
    np.testing.assert_allclose(out["followed"], pf)
    np.testing.assert_allclose(out["lost"], pl)
    expected = (pf - pl) / np.sqrt((pf * (1 - pf) + pl * (1 - pl)) / 2)
    np.testing.assert_allclose(out["smd"], expected)
    # level a: (2/3 - 0) / sqrt((2/9 + 0) / 2) = (2/3) / (1/3) = 2
    assert out["smd"].iloc[0] == pytest.approx(2.0)
    # level b: (1/3 - 1/2) / sqrt((2/9 + 1/4) / 2) = -(1/6) / sqrt(17/72)
    assert out["smd"].iloc[1] == pytest.approx(-(1 / 6) / math.sqrt(17 / 72))


def test_followed_up_as_series_array_and_01():
    b = _baseline()
    flag = b.pop("followed")
    ref = attrition_comparison(b.assign(f=flag), "f", ["pre", "group"])
    # a Series is matched by index, whatever its order
    shuffled = flag.iloc[::-1]
    pd.testing.assert_frame_equal(attrition_comparison(b, shuffled, ["pre", "group"]), ref)
    pd.testing.assert_frame_equal(attrition_comparison(b, flag.to_numpy(), ["pre", "group"]), ref)
    pd.testing.assert_frame_equal(
        attrition_comparison(b, flag.astype(int).to_numpy(), ["pre", "group"]), ref)


def test_missing_values_left_out_and_categorical_order():
    b = pd.DataFrame({
        "age": [30.0, np.nan, 40.0, 50.0, np.nan, 20.0],
        "status": pd.Categorical(["together", "separated", None, "separated", "together",
                                  "separated"], categories=["together", "separated"]),
        "workless": [True, False, True, False, False, True],
        "fu": [1, 1, 1, 0, 0, 0],
    })
    out = attrition_comparison(b, "fu", ["age", "status", "workless"])
    age = out.iloc[0]
    assert (age["n_followed"], age["n_lost"]) == (2, 2)
    assert age["followed"] == pytest.approx(35.0) and age["lost"] == pytest.approx(35.0)
    assert age["smd"] == pytest.approx(0.0)
    status = out[out["variable"] == "status"]
    assert status["level"].tolist() == ["together", "separated"]  # the categories' order
    assert status["n_followed"].tolist() == [2, 2]  # one missing status left out
    np.testing.assert_allclose(status["followed"], [0.5, 0.5])
    np.testing.assert_allclose(status["lost"], [1 / 3, 2 / 3])
    workless = out[out["variable"] == "workless"]  # bool is categorical
    assert workless["level"].tolist() == ["False", "True"]


def test_smd_degenerate_cases():
    b = pd.DataFrame({"same": [1.0, 1.0, 1.0, 1.0], "apart": [0.0, 0.0, 1.0, 1.0],
                      "fu": [True, True, False, False]})
    out = attrition_comparison(b, "fu", ["same", "apart"]).set_index("variable")
    assert out.loc["same", "smd"] == 0.0
    assert math.isnan(out.loc["apart", "smd"])


@pytest.mark.parametrize("followed_up, variables, match", [
    ("nope", ["pre"], "not found"),
    ("followed", ["nope"], "not found"),
    ("followed", [], "empty"),
    (pd.Series([True, True, True, True, True]), ["pre"], "every parent is followed up"),
    (pd.Series([True, None, True, False, False]), ["pre"], "missing for 1 row"),
    (pd.Series(["yes", "yes", "no", "no", "no"]), ["pre"], "true/false"),
    (np.array([True, False]), ["pre"], "one true/false value per row"),
])
def test_attrition_errors(followed_up, variables, match):
    with pytest.raises(RpcEvalError, match=match):
        attrition_comparison(_baseline(), followed_up, variables)


# ------------------------------------------------------------------------ rubin_pool
def test_rubin_pool_hand_worked_with_small_sample_df():
    # Q = 2, 4, 6; U = 1, 1, 1; n = 11 (df_com = 10)
    res = rubin_pool([2.0, 4.0, 6.0], [1.0, 1.0, 1.0], n=11)
    m = 3
    qbar, ubar = 4.0, 1.0
    b = ((2 - 4) ** 2 + 0 + (6 - 4) ** 2) / (m - 1)  # 4
    t = ubar + (1 + 1 / m) * b  # 1 + 16/3 = 19/3
    r = (1 + 1 / m) * b / ubar  # 16/3
    lam = (1 + 1 / m) * b / t  # 16/19
    df_old = (m - 1) / lam**2  # 722/256
    df_obs = (10 + 1) / (10 + 3) * 10 * (1 - lam)  # 330/247
    df = df_old * df_obs / (df_old + df_obs)
    fmi = (r + 2 / (df + 3)) / (r + 1)
    assert b == 4 and t == pytest.approx(19 / 3) and lam == pytest.approx(16 / 19)
    assert df_old == pytest.approx(722 / 256) and df_obs == pytest.approx(330 / 247)
    assert res["m"] == 3
    assert res["estimate"] == pytest.approx(qbar)
    assert res["within_variance"] == pytest.approx(ubar)
    assert res["between_variance"] == pytest.approx(b)
    assert res["total_variance"] == pytest.approx(t)
    assert res["std_error"] == pytest.approx(math.sqrt(19 / 3))
    assert res["riv"] == pytest.approx(16 / 3)
    assert res["lambda"] == pytest.approx(16 / 19)
    assert res["df"] == pytest.approx(df)
    assert res["df"] == pytest.approx(0.90657, abs=1e-5)
    assert res["fmi"] == pytest.approx(fmi)
    half = stats.t.ppf(0.975, df) * math.sqrt(t)
    assert res["ci_low"] == pytest.approx(qbar - half)
    assert res["ci_high"] == pytest.approx(qbar + half)


def test_rubin_pool_matches_mice_pool_scalar_example():
    # The example of mice's ?pool.scalar: pool.scalar(Q = c(-1.5457, -1.428),
    # U = c(0.9723^2, 1.041^2), n = 25, k = 2). Expected values computed in R 4 by
    # mice's pool.scalar() and barnard.rubin() bodies (mice 3.16 source) typed out in
    # base R, as the mice package is not installed here.
    res = rubin_pool([-1.5457, -1.428], [0.9723**2, 1.041**2], n=25, k=2)
    assert res["estimate"] == pytest.approx(-1.48685, rel=1e-9)
    assert res["within_variance"] == pytest.approx(1.014524145, rel=1e-9)
    assert res["between_variance"] == pytest.approx(0.006926645, rel=1e-8)
    assert res["total_variance"] == pytest.approx(1.0249141125, rel=1e-9)
    assert res["riv"] == pytest.approx(0.0102412225, rel=1e-8)
    assert res["df"] == pytest.approx(20.97025483808, rel=1e-9)
    assert res["fmi"] == pytest.approx(0.09272831451, rel=1e-9)


def test_rubin_pool_large_sample_df_and_zero_between():
    # without n: Rubin (1987) df = (m - 1) (1 + 1/r)^2 = 2 (19/16)^2
    res = rubin_pool([2.0, 4.0, 6.0], [1.0, 1.0, 1.0])
    assert res["df"] == pytest.approx(2 * (19 / 16) ** 2)
    assert res["fmi"] == pytest.approx((16 / 3 + 2 / (res["df"] + 3)) / (16 / 3 + 1))
    # identical estimates: B = 0, df = df_obs = (dfcom + 1)/(dfcom + 3) dfcom
    res = rubin_pool([1.5, 1.5], [0.2, 0.4], n=21)
    assert res["between_variance"] == 0 and res["total_variance"] == pytest.approx(0.3)
    assert res["df"] == pytest.approx(21 / 23 * 20)
    assert res["fmi"] == pytest.approx(2 / (res["df"] + 3))
    # without n: normal interval
    res = rubin_pool([1.5, 1.5], [0.2, 0.4])
    assert math.isinf(res["df"])
    assert res["ci_high"] == pytest.approx(1.5 + stats.norm.ppf(0.975) * math.sqrt(0.3))


@pytest.mark.parametrize("estimates, variances, n, match", [
    ([1.0], [0.1], None, "at least 2"),
    ([1.0, 2.0], [0.1], None, "2 estimates but 1"),
    ([1.0, np.nan], [0.1, 0.1], None, "finite"),
    ([1.0, 2.0], [0.1, -0.1], None, "negative"),
    ([1.0, 2.0], [0.1, 0.1], 1, "must exceed k"),
    (["a", "b"], [0.1, 0.1], None, "numbers"),
])
def test_rubin_pool_errors(estimates, variances, n, match):
    with pytest.raises(RpcEvalError, match=match):
        rubin_pool(estimates, variances, n=n)


# ------------------------------------------------------------------------- mi_change
#: Simulation design: x (standardised covariate), w (binary covariate).
#: pre = 15 + 2x + 1.5w + e1, e1 ~ N(0, 3^2)
#: post = 4 + 0.6 pre - x + 0.5w + e2, e2 ~ N(0, 2.5^2)
#: P(followed up) = logistic(0.5 - 0.35 (pre - 15) - 0.7x - 0.5w): MAR given pre, x, w.
#: True mean change E[post - pre] = 4 - 0.4 E[pre] + 0.5 E[w] = 4 - 0.4 * 15.6 + 0.2.
P_W = 0.4
TRUE_CHANGE = 4 - 0.4 * (15 + 1.5 * P_W) + 0.5 * P_W  # -2.04


def _simulate(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    x = rng.normal(size=n)
    w = rng.binomial(1, P_W, n)
    pre = 15 + 2 * x + 1.5 * w + rng.normal(0, 3, n)
    post = 4 + 0.6 * pre - 1.0 * x + 0.5 * w + rng.normal(0, 2.5, n)
    eta = 0.5 - 0.35 * (pre - 15) - 0.7 * x - 0.5 * w
    observed = rng.random(n) < 1 / (1 + np.exp(-eta))
    return pd.DataFrame({"pre": pre, "post": np.where(observed, post, np.nan), "x": x,
                         "w": np.where(w == 1, "yes", "no")})


def test_mi_covers_truth_and_complete_case_is_biased():
    rng = np.random.default_rng(20240601)
    n_sims = 200
    cc_est, mi_est, mi_cover, cc_cover = [], [], [], []
    for i in range(n_sims):
        out = mi_change(_simulate(rng), "pre", "post", ["x", "w"], m=5, seed=i,
                        standardised=False)
        cc, mi = out.iloc[0], out.iloc[1]
        cc_est.append(cc["estimate"])
        mi_est.append(mi["estimate"])
        cc_cover.append(cc["ci_low"] <= TRUE_CHANGE <= cc["ci_high"])
        mi_cover.append(mi["ci_low"] <= TRUE_CHANGE <= mi["ci_high"])
    covered = int(np.sum(mi_cover))
    # Binomial(200, 0.95): 180..200 holds with probability > 0.99.
    assert 180 <= covered <= 200, covered
    mi_bias = np.mean(mi_est) - TRUE_CHANGE
    cc_bias = np.mean(cc_est) - TRUE_CHANGE
    # Monte-Carlo SE of the mean estimate ~ 0.29 / sqrt(200) = 0.02
    assert abs(mi_bias) < 0.1, mi_bias
    # complete cases: dropouts had the larger falls, so the change looks smaller (~+1.2,
    # about 4 SEs), and their intervals almost never cover the truth
    assert cc_bias > 0.8, cc_bias
    assert np.mean(cc_cover) < 0.2


def test_mi_change_layout_and_complete_case_formulas():
    df = _simulate(np.random.default_rng(3))
    out = mi_change(df, "pre", "post", ["x", "w"], m=4, seed=1)
    assert list(out.columns) == MI_CHANGE_COLUMNS
    assert out["method"].tolist() == ["complete_case"] * 2 + ["multiple_imputation"] * 2
    assert out["estimand"].tolist() == ["mean_change", "d_pre"] * 2
    n_cc = int(df["post"].notna().sum())
    assert out["n_used"].tolist() == [n_cc, n_cc, 300, 300]
    assert (out["n_missing_post"] == 300 - n_cc).all()
    assert out["m"].isna().tolist() == [True, True, False, False]
    assert (out["m"].dropna() == 4).all()
    # complete case = paired mean change with a t interval
    cc = df.dropna(subset=["post"])
    d = cc["post"] - cc["pre"]
    row = out.iloc[0]
    assert row["estimate"] == pytest.approx(d.mean())
    assert row["std_error"] == pytest.approx(d.std() / math.sqrt(n_cc))
    assert row["df"] == n_cc - 1
    half = stats.t.ppf(0.975, n_cc - 1) * d.std() / math.sqrt(n_cc)
    assert row["ci_high"] - row["estimate"] == pytest.approx(half)
    # d_pre = mean change / SD(pre), variance var(D)/(n s^2) + d^2 / (2(n-1))
    dpre = d.mean() / cc["pre"].std()
    assert out.iloc[1]["estimate"] == pytest.approx(dpre)
    assert out.iloc[1]["std_error"] == pytest.approx(math.sqrt(
        d.var() / (n_cc * cc["pre"].std() ** 2) + dpre**2 / (2 * (n_cc - 1))))
    mi = out.iloc[2]
    assert 0 < mi["fmi"] < 1 and 0 < mi["df"] < 299
    assert mi["ci_low"] < mi["estimate"] < mi["ci_high"]
    assert out.iloc[3]["estimate"] == pytest.approx(mi["estimate"] / df["pre"].std())
    assert len(mi_change(df, "pre", "post", ["x"], m=2, standardised=False)) == 2


def test_mi_change_no_missing_equals_complete_case():
    df = _simulate(np.random.default_rng(4)).dropna()
    out = mi_change(df, "pre", "post", ["x"], m=3, seed=2, standardised=False)
    cc, mi = out.iloc[0], out.iloc[1]
    assert mi["estimate"] == pytest.approx(cc["estimate"])
    assert mi["std_error"] == pytest.approx(cc["std_error"])
    n = len(df)
    assert mi["df"] == pytest.approx((n - 1 + 1) / (n - 1 + 3) * (n - 1))  # df_obs, B = 0


@pytest.mark.parametrize("method", ["norm", "pmm"])
def test_mi_change_deterministic_with_seed(method):
    df = _simulate(np.random.default_rng(5), n=150)
    df.loc[df.index[::7], "x"] = np.nan  # a missing covariate: the chained path
    a = mi_change(df, "pre", "post", ["x", "w"], m=2, seed=11, method=method, max_iter=2)
    b = mi_change(df, "pre", "post", ["x", "w"], m=2, seed=11, method=method, max_iter=2)
    pd.testing.assert_frame_equal(a, b)
    c = mi_change(df, "pre", "post", ["x", "w"], m=2, seed=12, method=method, max_iter=2)
    assert a.loc[2, "estimate"] != c.loc[2, "estimate"]
    g1 = mi_change(df, "pre", "post", ["x"], m=3, seed=np.random.default_rng(7), method=method)
    g2 = mi_change(df, "pre", "post", ["x"], m=3, seed=np.random.default_rng(7), method=method)
    pd.testing.assert_frame_equal(g1, g2)


def test_mi_change_by_groups():
    rng = np.random.default_rng(6)
    df = pd.concat([_simulate(rng, 120).assign(intervention="A"),
                    _simulate(rng, 80).assign(intervention="B")], ignore_index=True)
    out = mi_change(df, "pre", "post", ["x", "w"], m=3, seed=1, by="intervention")
    assert list(out.columns) == ["intervention", *MI_CHANGE_COLUMNS]
    assert out["intervention"].tolist() == ["A"] * 4 + ["B"] * 4
    assert out.loc[out["method"] == "multiple_imputation", "n_used"].tolist() == [120, 120,
                                                                                  80, 80]
    # the group's complete-case rows are the group's own analysis
    alone = mi_change(df[df["intervention"] == "B"], "pre", "post", ["x", "w"], m=3, seed=1)
    pd.testing.assert_frame_equal(
        out.iloc[4:6, 1:].reset_index(drop=True), alone.iloc[0:2].reset_index(drop=True))


def test_missing_covariates_imputed_and_estimate_near_truth():
    rng = np.random.default_rng(8)
    df = _simulate(rng, n=3000)
    df.loc[rng.random(3000) < 0.15, "x"] = np.nan
    df.loc[rng.random(3000) < 0.10, "w"] = None
    out = mi_change(df, "pre", "post", ["x", "w"], m=5, seed=1, max_iter=5,
                    standardised=False)
    mi = out.iloc[1]
    assert mi["n_used"] == 3000
    assert abs(mi["estimate"] - TRUE_CHANGE) < 3 * mi["std_error"]
    assert out.iloc[0]["estimate"] - TRUE_CHANGE > 3 * out.iloc[0]["std_error"]


def test_rows_without_baseline_are_left_out_with_a_warning():
    df = _simulate(np.random.default_rng(9), n=100)
    df.loc[[0, 1, 2], "pre"] = np.nan
    with pytest.warns(DataQualityWarning, match="3 row"):
        out = mi_change(df, "pre", "post", ["x"], m=2, seed=1, standardised=False)
    assert out.iloc[1]["n_used"] == 97


def test_constant_covariate_left_out_with_a_warning():
    df = _simulate(np.random.default_rng(10), n=100).assign(site="S1")
    with pytest.warns(DataQualityWarning, match="site"):
        out = mi_change(df, "pre", "post", ["x", "site"], m=2, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = mi_change(df, "pre", "post", ["x"], m=2, seed=1)
    pd.testing.assert_frame_equal(out, ref)


def _errors_frame() -> pd.DataFrame:
    df = _simulate(np.random.default_rng(11), n=60)
    df["eth"] = np.resize(["white", "asian", "black", None], 60)
    df["grp"] = np.resize(["A", "B"], 60)
    return df


@pytest.mark.parametrize("change, kwargs, match", [
    (lambda d: d.assign(post=np.nan), {}, "missing for every row"),
    (lambda d: d.assign(post=np.where(d["grp"] == "B", np.nan, d["post"])), {"by": "grp"},
     "missing for everybody.*grp=B"),
    (lambda d: d.assign(pre=d["pre"].astype(str)), {}, "must hold numbers"),
    (lambda d: d.assign(post="12"), {}, "must hold numbers"),
    (lambda d: d.assign(pre=np.inf), {}, "infinite"),
    (lambda d: d, {"m": 1}, "at least 2"),
    (lambda d: d, {"m": 2.5}, "at least 2"),
    (lambda d: d, {"method": "mean"}, "method must be"),
    (lambda d: d, {"ci": 95}, "ci must be"),
    (lambda d: d, {"covariates": ["eth"]}, "categorical covariate 'eth'"),
    (lambda d: d, {"covariates": ["nope"]}, "not found"),
    (lambda d: d, {"covariates": ["pre"]}, "both as an outcome"),
    (lambda d: d.assign(post=np.r_[1.0, 2.0, [np.nan] * 58]), {}, "too few"),
])
def test_mi_change_errors(change, kwargs, match):
    df = change(_errors_frame())
    kwargs = {"covariates": ["x"], "m": 2, **kwargs}
    with pytest.raises(RpcEvalError, match=match):
        mi_change(df, "pre", "post", **kwargs)
