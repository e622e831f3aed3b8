"""Tests for rpc_eval.multilevel.compare: funnel limits and caterpillar plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

from rpc_eval.errors import RpcEvalError  # noqa: E402
from rpc_eval.multilevel.compare import (  # noqa: E402
    FLAGS,
    FUNNEL_COLUMNS,
    caterpillar_plot,
    funnel_limits,
)

REF = Path(__file__).parent / "reference" / "funnel_limits.json"
COLUMNS = ["unit", "n", "n_events", "rate", "statistic", "lower_95", "upper_95",
           "lower_998", "upper_998", "flag"]
Z975 = 1.959963984540054


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _binom_cdf(r: int, n: int, p: float) -> float:
    if r < 0:
        return 0.0
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(r + 1))


def _hand_exact(prob: float, n: int, theta: float) -> float:
    """Spiegelhalter's interpolated quantile from first principles (math.comb)."""
    r = 0
    while _binom_cdf(r, n, theta) < prob:
        r += 1
    hi, lo = _binom_cdf(r, n, theta), _binom_cdf(r - 1, n, theta)
    return max(0.0, (r - (hi - prob) / (hi - lo)) / n)


# --------------------------------------------------------------------------- hand-worked
def test_exact_limit_hand_worked_n10():
    # Bin(10, 0.3): P(R<=5) = 0.952651, P(R<=6) = 0.989408; r_0.975 = 6,
    # alpha = (0.989408 - 0.975) / (0.989408 - 0.952651) = 0.391985,
    # limit = (6 - 0.391985) / 10 = 0.560801.
    d = pd.DataFrame({"u": ["a"], "e": [3], "n": [10]})
    res = funnel_limits(d, "u", "e", "n", target=0.3)
    assert res.table["upper_95"].iloc[0] == pytest.approx(0.5608015, abs=1e-6)
    assert res.table["upper_95"].iloc[0] == pytest.approx(_hand_exact(0.975, 10, 0.3),
                                                          rel=1e-12)
    for col, prob in [("lower_95", .025), ("lower_998", .001), ("upper_998", .999)]:
        assert res.table[col].iloc[0] == pytest.approx(_hand_exact(prob, 10, 0.3),
                                                       rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 7, 40, 150])
@pytest.mark.parametrize("theta", [0.05, 0.3, 0.62])
def test_exact_limits_curve_match_first_principles(n, theta):
    d = pd.DataFrame({"u": ["a", "b"], "e": [1, 1], "n": [5, 5]})
    curve = funnel_limits(d, "u", "e", "n", target=theta).limits_curve([n])
    for col, prob in [("lower_95", .025), ("upper_95", .975), ("lower_998", .001),
                      ("upper_998", .999)]:
        assert curve[col].iloc[0] == pytest.approx(_hand_exact(prob, n, theta),
                                                   rel=1e-10, abs=1e-12)


def test_normal_limits_hand_worked():
    d = pd.DataFrame({"u": ["a", "b"], "e": [60, 40], "n": [100, 100]})
    res = funnel_limits(d, "u", "e", "n", method="normal")
    t = res.table
    assert res.target == 0.5
    # se = sqrt(.25/100) = .05; 0.5 +/- 1.959964 * .05
    assert t["lower_95"].iloc[0] == pytest.approx(0.5 - Z975 * 0.05, rel=1e-12)
    assert t["upper_95"].iloc[0] == pytest.approx(0.5 + Z975 * 0.05, rel=1e-12)
    assert t["upper_998"].iloc[0] == pytest.approx(0.5 + 3.090232306167813 * 0.05)
    assert t["statistic"].tolist() == pytest.approx([2.0, -2.0])
    assert t["flag"].tolist() == ["above 95%", "below 95%"]
    assert list(t.columns) == COLUMNS


def test_overdispersion_hand_worked_additive_and_multiplicative():
    # target 0.5, n = 100 each, y - 0.5 = -.1, -.05, .05, .1; s = .05; z = -2, -1, 1, 2
    # phi = (4 + 1 + 1 + 4) / 4 = 2.5; equal weights w = 400:
    # tau2 = (4 * 2.5 - 3) / (4w - w) = 7 / 1200 = 0.0058333
    d = pd.DataFrame({"u": list("abcd"), "e": [40, 45, 55, 60], "n": [100] * 4})
    add = funnel_limits(d, "u", "e", "n", target=0.5, overdispersion=True, winsor=0)
    assert add.phi == pytest.approx(2.5)
    assert add.tau2 == pytest.approx(7 / 1200)
    assert add.adjustment == "additive"
    se = math.sqrt(0.0025 + 7 / 1200)
    assert add.table["upper_95"].iloc[0] == pytest.approx(0.5 + Z975 * se)
    assert add.table["statistic"].iloc[0] == pytest.approx(-0.1 / se)
    mult = funnel_limits(d, "u", "e", "n", target=0.5, overdispersion="multiplicative",
                         winsor=0)
    assert mult.adjustment == "multiplicative"
    assert mult.table["lower_95"].iloc[0] == pytest.approx(0.5 - Z975 * math.sqrt(2.5)
                                                           * 0.05)
    assert mult.table["statistic"].iloc[3] == pytest.approx(2 / math.sqrt(2.5))


def test_winsorisation_hand_worked():
    # target 0.5, n = 100: s = .05, so events 50 + 5z give z exactly
    z = np.array([-4.0, -1.0, -0.4, 0.0, 0.4, 1.0, 4.0])
    d = pd.DataFrame({"u": range(7), "e": (50 + 5 * z).round().astype(int),
                      "n": [100] * 7})
    res = funnel_limits(d, "u", "e", "n", target=0.5, overdispersion=True)
    # type-7 10% quantile: position 0.6 between -4 and -1 -> -2.2 (and 2.2 on top)
    zw = np.array([-2.2, -1.0, -0.4, 0.0, 0.4, 1.0, 2.2])
    assert res.phi == pytest.approx(np.mean(zw**2))  # = 11.6 / 7


def test_phi_at_most_one_means_no_adjustment():
    d = pd.DataFrame({"u": list("abcd"), "e": [49, 50, 50, 51], "n": [100] * 4})
    res = funnel_limits(d, "u", "e", "n", target=0.5, overdispersion=True)
    base = funnel_limits(d, "u", "e", "n", target=0.5)
    assert res.phi < 1 and res.tau2 == 0 and res.adjustment == "none"
    pd.testing.assert_frame_equal(res.table, base.table)
    assert "no over-dispersion" in res.summary().as_text()


# --------------------------------------------------------------------------- R fixture
@pytest.fixture(scope="module")
def ref():
    return json.loads(REF.read_text())


def _ref_frame(ref):
    return pd.DataFrame({"unit": ref["unit"], "e": ref["events"], "n": ref["n"]})


def test_matches_r_exact_and_normal(ref):
    d = _ref_frame(ref)
    exact = funnel_limits(d, "unit", "e", "n").table
    normal = funnel_limits(d, "unit", "e", "n", method="normal").table
    for col in ["lower_95", "upper_95", "lower_998", "upper_998"]:
        np.testing.assert_allclose(exact[col], ref["exact"][col], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(normal[col], ref["normal"][col], rtol=1e-10,
                                   atol=1e-12)
    np.testing.assert_allclose(exact["statistic"], ref["z"], rtol=1e-10)
    assert funnel_limits(d, "unit", "e", "n").target == pytest.approx(ref["target"],
                                                                     rel=1e-12)


def test_exact_flags_are_midpoint_against_limits(ref):
    d = _ref_frame(ref)
    for theta in (None, 0.45, 0.6, 0.7):
        t = funnel_limits(d, "unit", "e", "n", target=theta).table
        mid = (t["n_events"] - 0.5) / t["n"]
        above = mid > t["upper_95"]
        below = (mid < t["lower_95"]) & (t["lower_95"] > 0)
        assert (t["flag"].str.startswith("above") == above).all()
        assert (t["flag"].str.startswith("below") == below).all()


def test_matches_r_overdispersion(ref):
    d = _ref_frame(ref)
    add = funnel_limits(d, "unit", "e", "n", overdispersion=True)
    mult = funnel_limits(d, "unit", "e", "n", overdispersion="multiplicative")
    assert add.phi == pytest.approx(ref["phi"], rel=1e-10)
    assert add.tau2 == pytest.approx(ref["tau2"], rel=1e-10)
    np.testing.assert_allclose(add.table["statistic"], ref["z_additive"], rtol=1e-10)
    for col in ["lower_95", "upper_95", "lower_998", "upper_998"]:
        np.testing.assert_allclose(add.table[col], ref["additive"][col], rtol=1e-10)
        np.testing.assert_allclose(mult.table[col], ref["multiplicative"][col],
                                   rtol=1e-10)


def test_matches_r_grid(ref):
    d = pd.DataFrame({"u": ["a", "b"], "e": [1, 2], "n": [5, 5]})
    res = funnel_limits(d, "u", "e", "n", target=ref["grid_theta"])
    curve = res.limits_curve(ref["grid_n"])
    for col in ["lower_95", "upper_95", "lower_998", "upper_998"]:
        np.testing.assert_allclose(curve[col], ref["grid_exact"][col], rtol=1e-10,
                                   atol=1e-12)


# --------------------------------------------------------------------------- simulation
def _simulate(rng, n_units=100, tau=0.05, theta=0.6):
    n = rng.integers(50, 500, n_units)
    p = np.clip(theta + rng.normal(0, tau, n_units), 0.01, 0.99)
    return pd.DataFrame({"u": range(n_units), "e": rng.binomial(n, p), "n": n})


def test_overdispersion_simulation_known_tau2():
    rng = np.random.default_rng(20240601)
    reps, units = 30, 100
    share = {"none": [], "additive": [], "additive_w10": []}
    tau2_hat, phis = [], []
    for _ in range(reps):
        d = _simulate(rng, units)
        none = funnel_limits(d, "u", "e", "n")
        add = funnel_limits(d, "u", "e", "n", overdispersion=True, winsor=0)
        add10 = funnel_limits(d, "u", "e", "n", overdispersion=True)
        for key, r in [("none", none), ("additive", add), ("additive_w10", add10)]:
            share[key].append((r.table["flag"] != "within").mean())
        tau2_hat.append(add.tau2)
        phis.append(add10.phi)
    total = reps * units
    tol = 3 * math.sqrt(0.05 * 0.95 / total)  # binomial tolerance
    assert min(phis) > 1  # over-dispersion detected every time (default winsor)
    assert np.mean(share["none"]) > 0.15  # far too many flagged without adjustment
    assert abs(np.mean(share["additive"]) - 0.05) < tol
    # default 10% winsorising underestimates phi and tau2 (documented): in between
    assert 0.05 < np.mean(share["additive_w10"]) < np.mean(share["none"]) / 2
    assert np.mean(tau2_hat) == pytest.approx(0.05**2, rel=0.2)


def test_null_without_overdispersion_flags_about_five_percent():
    rng = np.random.default_rng(3)
    shares = []
    for _ in range(20):
        d = _simulate(rng, 100, tau=0.0)
        shares.append((funnel_limits(d, "u", "e", "n").table["flag"] != "within").mean())
    tol = 3 * math.sqrt(0.05 * 0.95 / 2000)
    assert abs(np.mean(shares) - 0.05) < tol


# --------------------------------------------------------------------------- inputs
def test_per_parent_rows_equal_counts():
    rows = pd.DataFrame({"la": ["A"] * 5 + ["B"] * 3 + ["C"] * 4,
                         "done": [1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1]})
    per_parent = funnel_limits(rows, "la", "done")
    counts = pd.DataFrame({"la": ["A", "B", "C"], "e": [4, 1, 3], "n": [5, 3, 4]})
    by_count = funnel_limits(counts, "la", "e", "n")
    pd.testing.assert_frame_equal(per_parent.table, by_count.table)
    assert per_parent.table["unit"].tolist() == ["A", "B", "C"]


def test_units_with_n_zero_and_one():
    d = pd.DataFrame({"u": ["zero", "one_yes", "one_no", "big"], "e": [0, 1, 0, 300],
                      "n": [0, 1, 1, 600]})
    res = funnel_limits(d, "u", "e", "n", overdispersion=True)
    t = res.table.set_index("unit")
    assert t.loc["zero", "flag"] == "no data"
    assert np.isnan(t.loc["zero", ["rate", "statistic", "lower_95", "upper_95"]].astype(float)).all()
    assert res.target == pytest.approx(301 / 602)
    # n = 1: the limits are 0 and 1, so neither 0/1 nor 1/1 can be flagged
    assert t.loc["one_yes", "flag"] == "within" and t.loc["one_no", "flag"] == "within"
    assert t.loc["one_yes", "lower_95"] == 0.0 and t.loc["one_yes", "upper_95"] <= 1.0
    assert set(res.table["flag"]) <= set(FLAGS) | {"no data"}
    assert "no data" in res.summary().as_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"target": 1.0}, "strictly between"),
    ({"method": "bayes"}, "method"),
    ({"overdispersion": "quadratic"}, "overdispersion"),
    ({"limits": (0.998, 0.95)}, "increasing"),
    ({"winsor": 0.6}, "winsor"),
])
def test_bad_arguments(kwargs, message):
    d = pd.DataFrame({"u": list("abc"), "e": [1, 2, 3], "n": [5, 5, 5]})
    with pytest.raises(RpcEvalError, match=message):
        funnel_limits(d, "u", "e", "n", **kwargs)


def test_degenerate_inputs():
    same = pd.DataFrame({"u": list("abc"), "e": [5, 5, 5], "n": [5, 5, 5]})
    with pytest.raises(RpcEvalError, match="every outcome is the same"):
        funnel_limits(same, "u", "e", "n")
    with pytest.raises(RpcEvalError, match="denominator of 0"):
        funnel_limits(pd.DataFrame({"u": ["a"], "e": [0], "n": [0]}), "u", "e", "n")
    with pytest.raises(RpcEvalError, match="exceeds"):
        funnel_limits(pd.DataFrame({"u": ["a"], "e": [6], "n": [5]}), "u", "e", "n")
    with pytest.raises(RpcEvalError, match="one row per unit"):
        funnel_limits(pd.DataFrame({"u": ["a", "a"], "e": [1, 2], "n": [5, 5]}),
                      "u", "e", "n")
    with pytest.raises(RpcEvalError, match="0/1 outcome"):
        funnel_limits(pd.DataFrame({"u": ["a", "b"], "y": [1, 3]}), "u", "y")
    with pytest.raises(RpcEvalError, match="no column"):
        funnel_limits(pd.DataFrame({"u": ["a"]}), "u", "y")
    two = pd.DataFrame({"u": ["a", "b"], "e": [1, 4], "n": [5, 5]})
    with pytest.raises(RpcEvalError, match="over-dispersion cannot be estimated"):
        funnel_limits(two, "u", "e", "n", overdispersion=True)


def test_limits_curve_validation_and_shape():
    d = pd.DataFrame({"u": list("abc"), "e": [10, 20, 30], "n": [50, 60, 70]})
    res = funnel_limits(d, "u", "e", "n")
    with pytest.raises(RpcEvalError, match="whole-number"):
        res.limits_curve([10.5])
    with pytest.raises(RpcEvalError, match="positive"):
        res.limits_curve([0, 10])
    curve = res.limits_curve()
    assert list(curve.columns) == ["n", "lower_95", "upper_95", "lower_998", "upper_998"]
    assert (curve["lower_998"] <= curve["lower_95"]).all()
    assert (curve["upper_95"] <= curve["upper_998"]).all()
    # normal limits accept fractional n
    funnel_limits(d, "u", "e", "n", method="normal").limits_curve([10.5, 20.25])


def test_repr_and_html():
    d = pd.DataFrame({"u": list("abc"), "e": [10, 20, 30], "n": [50, 60, 70]})
    res = funnel_limits(d, "u", "e", "n", overdispersion=True)
    assert "\n" not in repr(res) and "Target proportion" in repr(res)
    assert "<table" in res._repr_html_()
    assert res.summary().tables["table"].columns.tolist() == FUNNEL_COLUMNS
    assert res.to_frame().equals(res.table)


# --------------------------------------------------------------------------- plots
def test_funnel_plot_artists():
    d = pd.DataFrame({"u": ["hi", "lo", "c", "d", "e"], "e": [90, 10, 50, 25, 5],
                      "n": [100, 100, 100, 50, 10]})
    res = funnel_limits(d, "u", "e", "n")
    ax = res.plot()
    assert isinstance(ax, Axes)
    lines = ax.get_lines()
    assert len(lines) == 5  # target + 4 limit curves
    styles = {ln.get_linestyle() for ln in lines}
    assert {"-", "--", ":"} <= styles
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 3  # within, above, below
    labels = {t.get_text() for t in ax.texts}
    assert labels == {"hi", "lo"}
    assert ax.get_xlabel() and ax.get_ylabel()
    _, ax2 = plt.subplots()
    assert res.plot(ax=ax2, label_flagged=False) is ax2 and not ax2.texts


def test_caterpillar_plot_artists():
    b = pd.DataFrame({"level": ["A", "B", "C", "D"], "estimate": [0.5, -0.1, -0.6, 0.05],
                      "pi_low": [0.1, -0.5, -1.0, -0.3], "pi_high": [0.9, 0.3, -0.2, 0.4]})
    ax = caterpillar_plot(b)
    assert isinstance(ax, Axes)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C", "B", "D", "A"]
    assert any(isinstance(c, LineCollection) for c in ax.collections)
    markers = {ln.get_marker() for ln in ax.get_lines() if ln.get_linestyle() == "None"}
    assert markers == {"o", "^", "v"}  # highlighted by shape, not colour alone
    zero = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [0, 0]]
    assert len(zero) == 1
    assert ax.get_xlabel() and ax.get_ylabel()
    unsorted = caterpillar_plot(b, sort=False)
    assert [t.get_text() for t in unsorted.get_yticklabels()] == ["A", "B", "C", "D"]


def test_caterpillar_label_top_and_group():
    rng = np.random.default_rng(1)
    est = rng.normal(0, 1, 60)
    b = pd.DataFrame({"component": "la_code", "level": [f"L{i}" for i in range(60)],
                      "estimate": est, "pi_low": est - 0.5, "pi_high": est + 0.5})
    ax = caterpillar_plot(b)
    assert len(ax.get_yticklabels()) == 0  # too many to label by default
    ax = caterpillar_plot(b, label_top=3)
    assert len(ax.get_yticklabels()) == 6
    two = pd.concat([b, b.assign(component="practitioner")])
    with pytest.raises(RpcEvalError, match="choose one"):
        caterpillar_plot(two)
    ax = caterpillar_plot(two, component="la_code")
    assert isinstance(ax, Axes)
    with pytest.raises(RpcEvalError, match="no rows"):
        caterpillar_plot(two, component="nope")
    with pytest.raises(RpcEvalError, match="no column"):
        caterpillar_plot(b.drop(columns="pi_low"))
