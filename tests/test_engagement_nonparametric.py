"""Tests for rpc_eval.engagement.nonparametric: Kaplan-Meier, log-rank, cumulative
incidence (Aalen-Johansen) and Gray's test.

* agreement with R (survival 3.5-3, cmprsk 2.2-11) to 1e-6 on two datasets, one with
  heavy ties (fixture: tests/reference/nonparametric.R -> nonparametric.json);
* hand-computed tiny cases and closed forms;
* cross-checks against statsmodels (an independent implementation);
* degenerate inputs (all censored, zero events in a group, one subject, one group,
  bad columns);
* known truth: CI coverage for simulated exponential competing risks.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rpc_eval.engagement.nonparametric import (  # noqa: E402
    CIF_COLUMNS,
    GRAY_COLUMNS,
    KM_COLUMNS,
    TEST_COLUMNS,
    cumulative_incidence,
    gray_test,
    kaplan_meier,
    logrank_test,
)
from rpc_eval.engagement.plots import PALETTE
from rpc_eval.errors import DataQualityWarning, RpcEvalError, RpcEvalWarning  # noqa: E402

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "nonparametric.json").read_text())
DATA = {
    "small": pd.read_csv(REF / "engagement_small.csv"),
    "ties": pd.read_csv(REF / "engagement_ties.csv"),
}
TOL = 1e-6
DATASETS = ["small", "ties"]
KM_VARIANTS = {"any_by_group": (None, "group"), "dropout_by_group": (1, "group"),
               "any_overall": (None, None)}


def arr(x) -> np.ndarray:
    """A JSON vector (jsonlite unboxes length-1 vectors; null is NA) as floats."""
    x = x if isinstance(x, list) else [x]
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def assert_close(ours, ref, tol=TOL, what=""):
    ours = np.asarray(ours, dtype=float)
    ref = arr(ref) if not isinstance(ref, np.ndarray) else ref
    assert ours.shape == ref.shape, what
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"NaN pattern {what}")
    ok = ~np.isnan(ref)
    if ok.any():
        assert np.max(np.abs(ours[ok] - ref[ok])) < tol, what


# --------------------------------------------------------------------------------------
# agreement with R
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ds", DATASETS)
@pytest.mark.parametrize("variant", list(KM_VARIANTS))
@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_km_matches_survfit(ds, variant, conf_type):
    eoi, group = KM_VARIANTS[variant]
    ref = FIX[ds]["km"][variant]
    km = kaplan_meier(DATA[ds], FIX[ds]["duration"], "event", event_of_interest=eoi,
                      group=group, conf_type=conf_type)
    t = km.table
    assert list(t.columns) == KM_COLUMNS
    assert t["group"].astype(str).tolist() == ref["group"]
    for ours, theirs in [("time", "time"), ("n_at_risk", "n_risk"), ("n_events", "n_event"),
                         ("n_censored", "n_censor"), ("survival", "surv"),
                         ("std_error", "std_err")]:
        assert_close(t[ours], ref[theirs], what=f"{ds} {variant} {ours}")
    key = conf_type.replace("-", "_")
    assert_close(t["ci_low"], ref[f"lower_{key}"], what="lower")
    assert_close(t["ci_high"], ref[f"upper_{key}"], what="upper")
    med = km.median()
    assert_close(med["median"], ref["median"]["median"], what="median")
    assert_close(med["ci_low"], ref["median"][f"lcl_{key}"], what="median lcl")
    assert_close(med["ci_high"], ref["median"][f"ucl_{key}"], what="median ucl")
    assert med["n"].tolist() == arr(ref["median"]["n"]).astype(int).tolist()
    assert med["n_events"].tolist() == arr(ref["median"]["events"]).astype(int).tolist()


@pytest.mark.parametrize("ds", DATASETS)
@pytest.mark.parametrize("variant", list(KM_VARIANTS))
def test_km_at_risk_matches_survfit(ds, variant):
    eoi, group = KM_VARIANTS[variant]
    ref = FIX[ds]["km"][variant]["at_risk"]
    km = kaplan_meier(DATA[ds], FIX[ds]["duration"], "event", event_of_interest=eoi,
                      group=group)
    ar = km.at_risk(arr(ref["time"]))
    assert list(ar.columns) == ["group", "time", "n_at_risk"]
    assert ar["group"].astype(str).tolist() == ref["group"]
    assert_close(ar["time"], ref["time"])
    assert ar["n_at_risk"].tolist() == arr(ref["n_risk"]).astype(int).tolist()


LOGRANK_VARIANTS = {"any_by_group": (None, None), "dropout_by_group": (1, None),
                    "dropout_by_group_strata_workless": (1, "workless")}


@pytest.mark.parametrize("ds", DATASETS)
@pytest.mark.parametrize("variant", list(LOGRANK_VARIANTS))
def test_logrank_matches_survdiff(ds, variant):
    eoi, strata = LOGRANK_VARIANTS[variant]
    ref = FIX[ds]["logrank"][variant]
    res = logrank_test(DATA[ds], FIX[ds]["duration"], "event", group="group",
                       event_of_interest=eoi, strata=strata)
    assert list(res.columns) == TEST_COLUMNS
    assert abs(res["statistic"].iloc[0] - ref["statistic"]) < TOL
    assert res["df"].iloc[0] == ref["df"]
    # R's p is computed as an upper tail too; compare on both scales
    assert abs(res["p_value"].iloc[0] - ref["p"]) < 1e-12
    assert res["test"].iloc[0] == ("log-rank" if strata is None else "stratified log-rank")


def _cif_curve(res, group, cause):
    t = res.table
    return t[(t["group"].astype(str) == str(group)) & (t["cause"] == cause)]


@pytest.mark.parametrize("ds", DATASETS)
@pytest.mark.parametrize("variant", ["by_group", "overall"])
def test_cif_matches_cuminc_at_every_point(ds, variant):
    """cuminc returns the corners of the step function: (0, 0), then a pair of points per
    event time of the cause (the left limit, then the new value), then the last observed
    time; check every point, estimate and variance."""
    ref = FIX[ds]["cuminc"][variant]
    res = cumulative_incidence(DATA[ds], FIX[ds]["duration"], "event",
                               group="group" if variant == "by_group" else None)
    assert list(res.table.columns) == [*CIF_COLUMNS, "n_at_risk", "n_events"]
    assert res.causes == [1, 2]
    # the counts: events of each cause add up to the data's; the first row of a curve has
    # everyone in its group at risk
    frame = DATA[ds]
    for c in (1, 2):
        assert res.table.loc[res.table["cause"] == c, "n_events"].sum() == \
            (frame["event"] == c).sum()
    firsts = res.table.groupby(["group", "cause"], observed=True)["n_at_risk"].first()
    sizes = frame.groupby("group").size() if variant == "by_group" else \
        pd.Series({"all": len(frame)})
    assert sorted(firsts.unique()) == sorted(sizes.unique())
    n_curves = 0
    for cv in ref["curves"]:
        sub = _cif_curve(res, cv["group"], cv["cause"])
        tg = sub["time"].to_numpy(dtype=float)
        x = arr(cv["time"])
        pos = np.arange(len(x))
        left = ((pos == 0) | (pos % 2 == 1)) & (pos < len(x) - 1)  # left limits
        idx = np.where(left, np.searchsorted(tg, x, "left"), np.searchsorted(tg, x, "right")) - 1
        est = np.where(idx < 0, 0.0, sub["cif"].to_numpy()[np.maximum(idx, 0)])
        var = np.where(idx < 0, 0.0, sub["variance"].to_numpy()[np.maximum(idx, 0)])
        assert_close(est, cv["est"], what=f"{cv['group']} {cv['cause']} est")
        assert_close(var, cv["var"], what=f"{cv['group']} {cv['cause']} var")
        # the curve ends at the group's last observed time, as cuminc's
        assert tg[-1] == x[-1]
        n_curves += 1
    assert n_curves == len(res.groups) * 2


@pytest.mark.parametrize("ds", DATASETS)
@pytest.mark.parametrize("variant", ["by_group", "overall"])
def test_cif_at_matches_timepoints(ds, variant):
    ref = FIX[ds]["cuminc"][variant]["timepoints"]
    res = cumulative_incidence(DATA[ds], FIX[ds]["duration"], "event",
                               group="group" if variant == "by_group" else None)
    times = arr(ref["times"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        at = res.at(times)
    beyond = times > DATA[ds][FIX[ds]["duration"]].max()
    assert any(issubclass(w.category, RpcEvalWarning) for w in caught) == bool(beyond.any())
    est = np.array(ref["est"], dtype=object)
    var = np.array(ref["var"], dtype=object)
    for row, name in enumerate(ref["names"] if isinstance(ref["names"], list) else [ref["names"]]):
        parts = name.split(" ")
        group, cause = (parts[0], int(parts[-1])) if variant == "by_group" else ("all", int(parts[-1]))
        sub = at[(at["group"].astype(str) == group) & (at["cause"] == cause)]
        e = est[row] if est.ndim > 1 else est
        v = var[row] if var.ndim > 1 else var
        assert_close(sub["cif"], arr(list(e)), what=f"timepoints est {name}")
        assert_close(sub["variance"], arr(list(v)), what=f"timepoints var {name}")


@pytest.mark.parametrize("ds", DATASETS)
def test_gray_matches_cuminc_tests(ds):
    ref = FIX[ds]["cuminc"]["by_group"]["tests"]
    res = gray_test(DATA[ds], FIX[ds]["duration"], "event", group="group")
    assert list(res.columns) == GRAY_COLUMNS
    assert res["cause"].tolist() == ref["cause"]
    assert_close(res["statistic"], ref["stat"], what="Gray statistic")
    assert_close(res["df"], ref["df"])
    assert np.max(np.abs(res["p_value"].to_numpy() - arr(ref["p"]))) < 1e-10
    one = gray_test(DATA[ds], FIX[ds]["duration"], "event", group="group", cause=2)
    assert one["cause"].tolist() == [2]
    assert abs(one["statistic"].iloc[0] - ref["stat"][1]) < TOL


@pytest.mark.parametrize("ds", DATASETS)
def test_gray_stratified_matches_cuminc(ds):
    ref = FIX[ds]["gray_strata_workless"]
    res = gray_test(DATA[ds], FIX[ds]["duration"], "event", group="group", strata="workless")
    assert_close(res["statistic"], ref["stat"], what="stratified Gray")
    assert np.max(np.abs(res["p_value"].to_numpy() - arr(ref["p"]))) < 1e-10


def test_max_difference_with_r_is_tiny():
    """The summary figure quoted in the report: every compared number within 1e-12."""
    worst = 0.0
    for ds in DATASETS:
        dur = FIX[ds]["duration"]
        for variant, (eoi, group) in KM_VARIANTS.items():
            ref = FIX[ds]["km"][variant]
            for ct in ("log", "log-log", "plain"):
                t = kaplan_meier(DATA[ds], dur, "event", event_of_interest=eoi, group=group,
                                 conf_type=ct).table
                key = ct.replace("-", "_")
                for ours, theirs in [("survival", "surv"), ("std_error", "std_err"),
                                     ("ci_low", f"lower_{key}"), ("ci_high", f"upper_{key}")]:
                    worst = max(worst, np.nanmax(np.abs(t[ours].to_numpy() - arr(ref[theirs]))))
    assert worst < 1e-12


# --------------------------------------------------------------------------------------
# hand-computed cases
# --------------------------------------------------------------------------------------

TINY = pd.DataFrame({"days": [2.0, 3, 3, 5, 8, 9], "event": [1, 0, 2, 1, 0, 1]})


def test_km_tiny_by_hand():
    t = kaplan_meier(TINY, "days", "event", event_of_interest=None).table
    assert t["time"].tolist() == [2, 3, 5, 8, 9]
    assert t["n_at_risk"].tolist() == [6, 5, 3, 2, 1]
    assert t["n_events"].tolist() == [1, 1, 1, 0, 1]
    assert t["n_censored"].tolist() == [0, 1, 0, 1, 0]
    s = [5 / 6, 5 / 6 * 4 / 5, 5 / 6 * 4 / 5 * 2 / 3, 4 / 9, 0.0]
    np.testing.assert_allclose(t["survival"], s, atol=1e-15)
    gw = np.cumsum([1 / (6 * 5), 1 / (5 * 4), 1 / (3 * 2), 0.0])
    np.testing.assert_allclose(t["std_error"].iloc[:4], np.array(s[:4]) * np.sqrt(gw))
    z = 1.959963984540054
    np.testing.assert_allclose(t["ci_low"].iloc[:4], np.array(s[:4]) * np.exp(-z * np.sqrt(gw)))
    # survival 0: SE and CI undefined, as R's NA
    assert np.isnan(t["std_error"].iloc[4]) and np.isnan(t["ci_low"].iloc[4])
    med = kaplan_meier(TINY, "days", "event", event_of_interest=None).median()
    assert med["median"].iloc[0] == 5.0
    assert med["group"].iloc[0] == "all"


def test_km_event_of_interest_censors_other_events():
    t = kaplan_meier(TINY, "days", "event", event_of_interest=1).table
    assert t["n_events"].tolist() == [1, 0, 1, 0, 1]
    assert t["n_censored"].tolist() == [0, 2, 0, 1, 0]
    np.testing.assert_allclose(t["survival"], [5 / 6, 5 / 6, 5 / 6 * 2 / 3, 5 / 9, 0.0])
    t2 = kaplan_meier(TINY, "days", "event", event_of_interest=2).table
    np.testing.assert_allclose(t2["survival"], [1, 0.8, 0.8, 0.8, 0.8])


def test_km_integer_durations_stay_integer_and_bool_events():
    d = pd.DataFrame({"sessions": [1, 2, 2, 4], "done": [True, False, True, True]})
    t = kaplan_meier(d, "sessions", "done", event_of_interest=None).table
    assert t["time"].dtype == np.int64
    assert t["n_events"].tolist() == [1, 1, 1]


def test_km_median_midpoint_when_curve_sits_at_half():
    # S = 0.5 from t = 2 until the next event at 4: R reports (2 + 4) / 2
    d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 1]})
    assert kaplan_meier(d, "t", "e", event_of_interest=None).median()["median"].iloc[0] == 3.0


def test_at_risk_after_last_time_is_zero_and_before_first_is_n():
    km = kaplan_meier(TINY, "days", "event", event_of_interest=None)
    ar = km.at_risk([0, 2.5, 9, 100])
    assert ar["n_at_risk"].tolist() == [6, 5, 1, 0]


def test_cif_tiny_by_hand():
    d = pd.DataFrame({"sessions": [1, 2, 2, 3, 4, 4], "event": [1, 2, 1, 0, 1, 2]})
    res = cumulative_incidence(d, "sessions", "event")
    c1 = _cif_curve(res, "all", 1)
    c2 = _cif_curve(res, "all", 2)
    np.testing.assert_allclose(c1["cif"], [1 / 6, 1 / 3, 1 / 3, 7 / 12])
    np.testing.assert_allclose(c2["cif"], [0, 1 / 6, 1 / 6, 5 / 12])
    # F1 + F2 = 1 - S (all-cause KM)
    km = kaplan_meier(d, "sessions", "event", event_of_interest=None).table
    np.testing.assert_allclose(c1["cif"].to_numpy() + c2["cif"].to_numpy(),
                               1 - km["survival"].to_numpy(), atol=1e-15)
    # the first variance by hand: w = S(t-)^2 d / n^2 = 1/36, a = 1/S = 6/5,
    # b = 1 + a F = 6/5; V = w b^2 + F^2 w a^2 - 2 F w a b = w (b - F a)^2 = 1/36
    assert abs(c1["variance"].iloc[0] - 1 / 36) < 1e-15


def test_cif_without_competing_events_equals_one_minus_km_with_closed_form_variance():
    rng = np.random.default_rng(3)
    n = 80
    t = rng.integers(1, 15, n)  # ties
    e = rng.binomial(1, 0.7, n)
    t[np.argmax(t)] += 1
    e[np.argmax(t)] = 0  # last time censored, so no n - 1 = 0 below
    d = pd.DataFrame({"t": t, "e": e})
    res = cumulative_incidence(d, "t", "e")
    km = kaplan_meier(d, "t", "e", event_of_interest=None).table
    np.testing.assert_allclose(res.table["cif"], 1 - km["survival"], atol=1e-14)
    # one cause: cmprsk's variance reduces to S(t)^2 sum d / ((n - 1)(n - d))
    n_r, d_j = km["n_at_risk"].to_numpy(float), km["n_events"].to_numpy(float)
    terms = np.divide(d_j, (n_r - 1) * (n_r - d_j), out=np.zeros_like(d_j), where=d_j > 0)
    closed = km["survival"].to_numpy() ** 2 * np.cumsum(terms)
    np.testing.assert_allclose(res.table["variance"], closed, rtol=1e-12)


def test_cif_ci_transforms():
    d = DATA["small"]
    ll = cumulative_incidence(d, "days", "event", conf_type="log-log").table
    pl = cumulative_incidence(d, "days", "event", conf_type="plain").table
    z = 1.959963984540054
    f, se = ll["cif"].to_numpy(), np.sqrt(ll["variance"].to_numpy())
    pos = f > 0
    expect_low = f[pos] ** np.exp(z * se[pos] / (f[pos] * np.abs(np.log(f[pos]))))
    np.testing.assert_allclose(ll["ci_low"].to_numpy()[pos], expect_low)
    assert (ll["ci_low"] <= ll["cif"] + 1e-15).all() and (ll["cif"] <= ll["ci_high"] + 1e-15).all()
    assert (ll.loc[~pos, ["ci_low", "ci_high"]] == 0).all().all()
    np.testing.assert_allclose(pl["ci_high"], np.clip(f + z * se, 0, 1))
    assert not ll[["ci_low", "ci_high"]].isna().any().any()


def test_logrank_two_groups_by_hand():
    """Two groups, no ties: O - E and V by a direct per-time sum."""
    d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "e": [1, 1, 0, 1, 1, 0, 1, 0],
                      "g": ["a", "a", "b", "a", "b", "b", "a", "b"]})
    o_e, v = 0.0, 0.0
    for tj in sorted(d.loc[d.e == 1, "t"].unique()):
        at = d[d.t >= tj]
        n, n1 = len(at), (at.g == "a").sum()
        dj = ((d.t == tj) & (d.e == 1)).sum()
        d1 = ((d.t == tj) & (d.e == 1) & (d.g == "a")).sum()
        o_e += d1 - dj * n1 / n
        v += dj * (n1 / n) * (1 - n1 / n) * (n - dj) / max(n - 1, 1)
    res = logrank_test(d, "t", "e", group="g", event_of_interest=None)
    assert abs(res["statistic"].iloc[0] - o_e**2 / v) < 1e-12
    assert res["df"].iloc[0] == 1


def test_logrank_and_cif_agree_with_statsmodels():
    """statsmodels is an independent implementation (survdiff, CumIncidenceRight)."""
    from statsmodels.duration.survfunc import CumIncidenceRight, survdiff

    d = DATA["ties"]
    stat, p = survdiff(d["sessions"].to_numpy(), (d["event"] == 1).astype(int).to_numpy(),
                       d["group"].to_numpy())
    ours = logrank_test(d, "sessions", "event", group="group", event_of_interest=1)
    assert abs(ours["statistic"].iloc[0] - stat) < 1e-8
    with warnings.catch_warnings():  # statsmodels' variance divides by zero at the end
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = CumIncidenceRight(d["sessions"].to_numpy(), d["event"].to_numpy())
    res = cumulative_incidence(d, "sessions", "event")
    for k, cause in enumerate([1, 2]):
        sub = _cif_curve(res, "all", cause)
        sm = pd.Series(ci.cinc[k], index=ci.times)
        np.testing.assert_allclose(sub.set_index("time")["cif"].reindex(sm.index), sm,
                                   atol=1e-12)


def test_gray_invariant_to_group_labels_and_single_stratum():
    d = DATA["small"].copy()
    base = gray_test(d, "days", "event", group="group")
    d["g2"] = d["group"].map({"A": "z", "B": "a", "C": "m"})  # other order
    d["one"] = 1
    relabel = gray_test(d, "days", "event", group="g2")
    strat = gray_test(d, "days", "event", group="group", strata="one")
    np.testing.assert_allclose(base["statistic"], relabel["statistic"], rtol=1e-10)
    np.testing.assert_allclose(base["statistic"], strat["statistic"], rtol=1e-12)


def test_gray_near_zero_for_identical_groups():
    d = DATA["small"]
    twin = pd.concat([d.assign(g="x"), d.assign(g="y")], ignore_index=True)
    res = gray_test(twin, "days", "event", group="g")
    assert (res["statistic"].abs() < 1e-10).all()
    assert (res["p_value"] > 0.999).all()


# --------------------------------------------------------------------------------------
# degenerate and bad inputs
# --------------------------------------------------------------------------------------

ALL_CENSORED = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [0, 0, 0, 0], "g": list("aabb")})


def test_all_censored():
    with pytest.warns(RpcEvalWarning, match="no events"):
        km = kaplan_meier(ALL_CENSORED, "t", "e", group="g", event_of_interest=None)
    assert (km.table["survival"] == 1).all()
    assert (km.table["std_error"] == 0).all()
    assert km.median()["median"].isna().all()  # not reached
    assert "not reached" in km.summary().as_text()
    with pytest.raises(RpcEvalError, match="no events"):
        logrank_test(ALL_CENSORED, "t", "e", group="g", event_of_interest=None)
    with pytest.warns(RpcEvalWarning, match="no events"):
        cif = cumulative_incidence(ALL_CENSORED, "t", "e")
    assert cif.table.empty and list(cif.table.columns) == [*CIF_COLUMNS, "n_at_risk", "n_events"]
    with pytest.warns(RpcEvalWarning, match="no events of cause"):
        cif = cumulative_incidence(ALL_CENSORED, "t", "e", causes=[1])
    assert (cif.table["cif"] == 0).all() and (cif.table["ci_high"] == 0).all()
    with pytest.raises(RpcEvalError, match="no events"):
        gray_test(ALL_CENSORED, "t", "e", group="g")


def test_zero_events_in_one_group():
    d = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "e": [1, 2, 1, 0, 0, 0],
                      "g": list("aaabbb")})
    with pytest.warns(RpcEvalWarning, match="group 'b' has no"):
        km = kaplan_meier(d, "t", "e", group="g", event_of_interest=None)
    assert (km.table.loc[km.table.group == "b", "survival"] == 1).all()
    lr = logrank_test(d, "t", "e", group="g", event_of_interest=None)
    assert np.isfinite(lr["statistic"]).all() and lr["p_value"].iloc[0] < 0.2
    cif = cumulative_incidence(d, "t", "e", group="g")
    assert (cif.table.loc[cif.table.group == "b", "cif"] == 0).all()
    gt = gray_test(d, "t", "e", group="g", cause=1)
    assert np.isfinite(gt["statistic"]).all()


def test_one_subject():
    d = pd.DataFrame({"t": [3.0], "e": [1]})
    with pytest.warns(RpcEvalWarning, match="single subject"):
        km = kaplan_meier(d, "t", "e", event_of_interest=None)
    assert km.table["survival"].tolist() == [0.0]
    assert km.median()["median"].iloc[0] == 3.0
    cif = cumulative_incidence(d, "t", "e")
    assert cif.table["cif"].tolist() == [1.0]
    assert cif.table["ci_low"].tolist() == [1.0]  # degenerate but not NaN
    with pytest.raises(RpcEvalError, match="two groups"):
        logrank_test(d.assign(g="a"), "t", "e", group="g", event_of_interest=None)
    with pytest.raises(RpcEvalError, match="two groups"):
        gray_test(d.assign(g="a"), "t", "e", group="g")


def test_group_with_one_parent_warns_but_works():
    d = pd.DataFrame({"t": [1.0, 2, 3, 4, 5], "e": [1, 1, 0, 1, 1], "g": list("aaaab")})
    with pytest.warns(RpcEvalWarning, match="single subject"):
        km = kaplan_meier(d, "t", "e", group="g", event_of_interest=None)
    assert km.table.loc[km.table.group == "b", "survival"].tolist() == [0.0]
    assert np.isfinite(logrank_test(d, "t", "e", group="g", event_of_interest=None)["statistic"]).all()


def test_missing_values_are_left_out_with_a_warning():
    d = TINY.copy()
    d.loc[6] = [np.nan, 1]
    d.loc[7] = [4.0, np.nan]
    with pytest.warns(DataQualityWarning, match="2 of 8 rows"):
        km = kaplan_meier(d, "days", "event", event_of_interest=None)
    assert km.table["n_at_risk"].iloc[0] == 6


@pytest.mark.parametrize("bad, match", [
    (pd.DataFrame({"days": [1, -2], "event": [1, 0]}), "negative"),
    (pd.DataFrame({"days": ["a", "b"], "event": [1, 0]}), "numeric"),
    (pd.DataFrame({"days": [1, 2], "event": ["dropout", "censored"]}),
     r"censoring code 0 does not occur.*codes found: 'censored', 'dropout'"),
    (pd.DataFrame({"days": [1, 2], "event": [0.5, 1]}), "whole-number"),
    (pd.DataFrame({"days": [1, np.inf], "event": [1, 0]}), "infinite"),
    (pd.DataFrame({"days": [1, 2]}), "not in the data"),
    (pd.DataFrame({"days": [np.nan], "event": [1]}), "no rows"),
])
def test_bad_inputs_raise_clear_errors(bad, match):
    with pytest.raises(RpcEvalError, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        kaplan_meier(bad, "days", "event", event_of_interest=None)


def test_bad_settings():
    with pytest.raises(RpcEvalError, match="conf_type"):
        kaplan_meier(TINY, "days", "event", conf_type="logit", event_of_interest=None)
    with pytest.raises(RpcEvalError, match="conf_type"):
        cumulative_incidence(TINY, "days", "event", conf_type="log")
    with pytest.raises(RpcEvalError, match="confidence level"):
        kaplan_meier(TINY, "days", "event", ci=95, event_of_interest=None)
    with pytest.raises(RpcEvalError, match="censoring code"):
        cumulative_incidence(TINY, "days", "event", causes=[0, 1])
    with pytest.raises(RpcEvalError, match="no events of cause 3"):
        gray_test(DATA["small"], "days", "event", group="group", cause=3)
    with pytest.raises(RpcEvalError, match=">= 0"):
        cumulative_incidence(TINY, "days", "event").at([-1])


def test_categorical_group_keeps_category_order():
    d = DATA["small"].copy()
    d["group"] = pd.Categorical(d["group"], categories=["C", "A", "B", "Z"])
    km = kaplan_meier(d, "days", "event", group="group", event_of_interest=None)
    assert km.groups == ["C", "A", "B"]  # unused category Z dropped
    assert cumulative_incidence(d, "days", "event", group="group").groups == ["C", "A", "B"]


# --------------------------------------------------------------------------------------
# people-facing output
# --------------------------------------------------------------------------------------

def test_summary_html_and_plots():
    d = DATA["small"]
    km = kaplan_meier(d, "days", "event", event_of_interest=1, group="group")
    text = km.summary().as_text()
    assert "Kaplan-Meier" in text and "Dropped out" in text and "A" in text
    assert "\n" not in repr(km) and repr(km).startswith("<Kaplan-Meier")
    assert "<table" in km._repr_html_()
    assert km.to_frame().equals(km.table)
    ax = km.plot()
    lines = ax.get_lines()
    assert len(lines) == 3
    # the accessible style: Okabe-Ito colours and a different line style per group
    assert [ln.get_color() for ln in lines] == PALETTE[:3]
    assert len({str(ln.get_linestyle()) for ln in lines}) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "B", "C"]
    assert ax.get_ylabel() == "Share not yet dropped out"
    plt.close("all")
    fig, ax0 = plt.subplots()
    assert km.plot(ax=ax0, show_ci=False) is ax0
    assert not ax0.collections  # no bands
    plt.close(fig)

    cif = cumulative_incidence(d, "days", "event", group="group")
    text = cif.summary().as_text()
    assert "Cumulative incidence" in text and "<table" in cif._repr_html_()
    assert len(cif.final()) == 6
    panels = cif.plot()  # every group, one panel each
    assert len(panels) == 3
    assert [t.get_text() for t in panels[0].get_legend().get_texts()] == \
        ["Dropped out", "Completed"]  # the codes in words, not "1" and "2"
    plt.close("all")
    fig, ax1 = plt.subplots()
    assert cif.plot(ax=ax1, group="B", labels={1: "dropout", 2: "completion"}) is ax1
    assert [t.get_text() for t in ax1.get_legend().get_texts()] == ["dropout", "completion"]
    plt.close(fig)
    panels = cif.plot(stacked=False)
    assert sum(len(a.get_lines()) for a in panels) == 6
    assert all(len(a.collections) == 2 for a in panels)  # CI bands, one per cause
    plt.close("all")
    single = cumulative_incidence(d, "days", "event")
    ax3 = single.plot()  # one group: no group= needed
    # the top of the stack is 1 - S: check the last polygon reaches the all-cause value
    top = single.final()["cif"].sum()
    km_all = kaplan_meier(d, "days", "event", event_of_interest=None).table["survival"].iloc[-1]
    assert abs(top - (1 - km_all)) < 1e-12
    assert ax3.get_ylabel() == "Cumulative incidence"
    plt.close("all")


# --------------------------------------------------------------------------------------
# known truth and speed
# --------------------------------------------------------------------------------------

def _simulate(rng, n, lam1, lam2, cmax):
    t1 = rng.exponential(1 / lam1, n)
    t2 = rng.exponential(1 / lam2, n)
    c = rng.uniform(0, cmax, n)
    t = np.minimum(np.minimum(t1, t2), c)
    e = np.where(t == c, 0, np.where(t == t1, 1, 2))
    return pd.DataFrame({"t": t, "e": e})


def test_cif_and_km_ci_coverage_for_known_exponential_hazards():
    """Cause-specific hazards 0.02 (dropout) and 0.01 (completion), uniform(0, 100)
    censoring, n = 120: true F1(30) = 2/3 (1 - exp(-0.9)), S(30) = exp(-0.9). Over 200
    samples the 95% CIs should cover in about 190; accept 180..199 (about +-3 binomial
    SDs, sd = 3.1)."""
    rng = np.random.default_rng(20240613)
    lam1, lam2, t0, reps = 0.02, 0.01, 30.0, 200
    f1_true = lam1 / (lam1 + lam2) * (1 - math.exp(-(lam1 + lam2) * t0))
    s_true = math.exp(-(lam1 + lam2) * t0)
    cover_cif = cover_cif_plain = cover_km = 0
    estimates = []
    for _ in range(reps):
        d = _simulate(rng, 120, lam1, lam2, 100.0)
        at = cumulative_incidence(d, "t", "e", causes=[1]).at([t0])
        cover_cif += at["ci_low"].iloc[0] <= f1_true <= at["ci_high"].iloc[0]
        estimates.append(at["cif"].iloc[0])
        atp = cumulative_incidence(d, "t", "e", causes=[1], conf_type="plain").at([t0])
        cover_cif_plain += atp["ci_low"].iloc[0] <= f1_true <= atp["ci_high"].iloc[0]
        km = kaplan_meier(d, "t", "e", event_of_interest=None).table
        row = km[km["time"] <= t0].iloc[-1]
        cover_km += row["ci_low"] <= s_true <= row["ci_high"]
    assert 180 <= cover_cif <= 199, cover_cif
    assert 180 <= cover_cif_plain <= 199, cover_cif_plain
    assert 180 <= cover_km <= 199, cover_km
    # unbiased to within Monte Carlo error (sd of the mean about 0.003)
    assert abs(np.mean(estimates) - f1_true) < 0.012


def test_100k_rows_in_four_groups():
    """100,000 subjects: every group's curve runs to its last time and stays within
    [0, 1] (times are measured in benchmarks/bench_engagement.py, not here)."""
    rng = np.random.default_rng(5)
    n = 100_000
    d = _simulate(rng, n, 0.02, 0.01, 300.0)
    d["group"] = rng.choice(np.array(["A", "B", "C", "D"]), n)
    km = kaplan_meier(d, "t", "e", group="group", event_of_interest=None)
    cif = cumulative_incidence(d, "t", "e", group="group")
    table = km.table if hasattr(km, "table") else km
    assert set(table["group"]) == {"A", "B", "C", "D"}
    assert table["survival"].between(0, 1).all()
    ctab = cif.table if hasattr(cif, "table") else cif
    assert ctab["cif"].between(0, 1).all()


def test_text_event_codes_as_fit_cox_reads_them():
    """One event-coding policy (eventcodes.py): the estimators accept the text codes the
    models accept, and give the same numbers as with numeric codes."""
    d = DATA["small"]
    words = d.assign(status=d["event"].map({0: "ongoing", 1: "dropped_out", 2: "completed"}))
    num = kaplan_meier(d, "days", "event", group="group", event_of_interest=1)
    txt = kaplan_meier(words, "days", "status", group="group", event_of_interest="dropped_out",
                       censored="ongoing")
    pd.testing.assert_frame_equal(num.table, txt.table)
    lr_num = logrank_test(d, "days", "event", group="group", event_of_interest=1)
    lr_txt = logrank_test(words, "days", "status", group="group",
                          event_of_interest="dropped_out", censored="ongoing")
    pd.testing.assert_frame_equal(lr_num, lr_txt)
    cif_num = cumulative_incidence(d, "days", "event", group="group").table
    cif_txt = cumulative_incidence(words, "days", "status", group="group",
                                   censored="ongoing").table
    # causes sorted as text: completed before dropped_out
    mapped = cif_txt.assign(cause=cif_txt["cause"].map({"dropped_out": 1, "completed": 2}))
    key = ["group", "cause", "time"]
    pd.testing.assert_frame_equal(
        cif_num.sort_values(key).reset_index(drop=True),
        mapped.sort_values(key).reset_index(drop=True)[cif_num.columns])
    g_num = gray_test(d, "days", "event", group="group", cause=1)
    g_txt = gray_test(words, "days", "status", group="group", cause="dropped_out",
                      censored="ongoing")
    np.testing.assert_allclose(g_num["statistic"], g_txt["statistic"], rtol=1e-12)
    # the default censored=0 does not occur in a text column: refused, codes named
    with pytest.raises(RpcEvalError, match="codes found: 'completed', 'dropped_out', 'ongoing'"):
        kaplan_meier(words, "days", "status", event_of_interest="dropped_out")
