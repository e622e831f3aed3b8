"""Tests for rpc_eval.engagement.plots: Axes returned, artists drawn, accessibility cues."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from rpc_eval.engagement.discrete import empirical_hazard, fit_discrete_hazard  # noqa: E402
from rpc_eval.engagement.plots import (  # noqa: E402
    PALETTE,
    plot_cumulative_incidence,
    plot_retention,
    plot_session_hazard,
)
from rpc_eval.errors import RpcEvalError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def km_table(groups: list[str] | None, n_times: int = 6) -> pd.DataFrame:
    rows = []
    for k, g in enumerate(groups or [None]):
        t = np.arange(n_times, dtype=float)
        s = np.exp(-(0.1 + 0.05 * k) * t)
        row = pd.DataFrame({"time": t, "survival": s, "ci_low": s * 0.9,
                            "ci_high": np.minimum(s * 1.1, 1)})
        if g is not None:
            row.insert(0, "group", g)
        rows.append(row)
    return pd.concat(rows, ignore_index=True)


def at_risk_table(groups: list[str] | None) -> pd.DataFrame:
    rows = []
    for g in groups or [None]:
        row = pd.DataFrame({"time": np.arange(6.0), "n_at_risk": [100, 90, 80, 70, 60, 50]})
        if g is not None:
            row.insert(0, "group", g)
        rows.append(row)
    return pd.concat(rows, ignore_index=True)


def cif_table(groups: list[str] | None) -> pd.DataFrame:
    rows = []
    for g in groups or [None]:
        t = np.arange(1.0, 8.0)
        drop = 0.3 * (1 - np.exp(-0.4 * t))
        comp = np.where(t >= 6, 0.4, 0.0)
        for cause, v, times in (("dropout", drop, t), ("completion", comp[5:], t[5:])):
            row = pd.DataFrame({"cause": cause, "time": times, "cif": v})
            if g is not None:
                row.insert(0, "group", g)
            rows.append(row)
    return pd.concat(rows, ignore_index=True)


def hazard_table(groups: list[str] | None, n_sessions: int = 8) -> pd.DataFrame:
    rows = []
    for k, g in enumerate(groups or [None]):
        s = np.arange(1, n_sessions + 1)
        h = 0.1 + 0.01 * k + 0.05 / s
        row = pd.DataFrame({"session": s, "hazard": h, "ci_low": h - 0.03, "ci_high": h + 0.04})
        if g is not None:
            row.insert(0, "group", g)
        rows.append(row)
    return pd.concat(rows, ignore_index=True)


def labelled(ax: Axes) -> None:
    assert ax.get_xlabel() and ax.get_ylabel()
    assert ax.xaxis.label.get_fontsize() >= 12
    assert all(t.get_fontsize() >= 10 for t in ax.get_xticklabels())


# ------------------------------------------------------------------------ retention
@pytest.mark.parametrize("groups", [None, ["A"], ["arm 1", "arm 2", "arm 3", "arm 4"]])
def test_retention_one_and_many_groups(groups):
    ax = plot_retention(km_table(groups))
    assert isinstance(ax, Axes)
    n = len(groups or [None])
    lines = ax.get_lines()
    assert len(lines) == n
    assert len(ax.collections) == n              # one CI band per group
    assert len({ln.get_linestyle() for ln in lines}) == n   # not colour alone
    assert len({ln.get_color() for ln in lines}) == n
    labelled(ax)
    assert (ax.get_legend() is not None) == (n > 1)
    if n > 1:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == groups
    # the curve is a post-step starting at (0, 1)
    x, y = lines[0].get_data()
    assert x[0] == 0 and y[0] == 1
    assert ax.get_ylim() == (0, 1.02)


def test_retention_prepends_time_zero_and_draws_without_ci():
    table = km_table(["A", "B"]).query("time > 0")
    ax = plot_retention(table, show_ci=False)
    assert len(ax.collections) == 0
    x, y = ax.get_lines()[0].get_data()
    assert x[0] == 0 and y[0] == 1


@pytest.mark.parametrize("groups", [None, ["A", "B"]])
def test_retention_numbers_at_risk(groups):
    ax = plot_retention(km_table(groups), at_risk=at_risk_table(groups),
                        at_risk_times=[0, 2, 4])
    texts = [t.get_text() for t in ax.texts]
    assert "Number at risk" in texts
    n = len(groups or [None])
    numbers = [t for t in texts if t.isdigit()]
    assert numbers == ["100", "80", "60"] * n
    if groups:
        assert set(groups) <= set(texts)
    ax.figure.canvas.draw()                       # lays out without error


def test_retention_on_given_axes_and_errors():
    fig, ax = plt.subplots()
    assert plot_retention(km_table(["A"]), ax=ax) is ax
    with pytest.raises(RpcEvalError, match="no column"):
        plot_retention(km_table(["A"]).drop(columns="survival"))
    with pytest.raises(RpcEvalError, match="empty"):
        plot_retention(km_table(["A"]).iloc[:0])
    with pytest.raises(RpcEvalError, match="DataFrame"):
        plot_retention([1, 2, 3])


# -------------------------------------------------------------- cumulative incidence
def test_cif_stacked_one_group():
    ax = plot_cumulative_incidence(cif_table(None))
    assert isinstance(ax, Axes)
    assert len(ax.collections) == 2               # one area per cause
    assert len(ax.get_lines()) == 2               # one edge line per cause
    hatches = [c.get_hatch() for c in ax.collections]
    assert len(set(hatches)) == 2                 # areas differ by hatching too
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dropout", "completion"]
    labelled(ax)
    # stacked: the top edge is the sum of the causes (0.3*(1-e^-2.8) + 0.4 at t = 7)
    top = ax.get_lines()[1].get_ydata()
    assert top[-1] == pytest.approx(0.3 * (1 - np.exp(-2.8)) + 0.4)


def test_cif_unstacked_lines_and_cause_order():
    ax = plot_cumulative_incidence(cif_table(["A"]), stacked=False,
                                   causes=["completion", "dropout"])
    assert len(ax.collections) == 0
    assert len(ax.get_lines()) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["completion", "dropout"]
    assert ax.get_title() == "A"


def test_cif_many_groups_make_panels():
    groups = ["North", "South", "East", "West"]
    axes = plot_cumulative_incidence(cif_table(groups))
    assert isinstance(axes, np.ndarray) and len(axes) == 4
    assert [a.get_title() for a in axes] == groups
    for a in axes:
        assert isinstance(a, Axes)
        assert len(a.collections) == 2 and len(a.get_lines()) == 2
    assert len(axes[0].figure.axes) == 4          # 2 x 3 grid, unused panels removed


def test_cif_given_axes_and_errors():
    fig, axs = plt.subplots(1, 2)
    out = plot_cumulative_incidence(cif_table(["A", "B"]), axes=axs, stacked=False,
                                    title="Exits")
    assert list(out) == list(axs)
    assert axs[1].get_title() == "Exits: B"
    with pytest.raises(RpcEvalError, match="one panel each"):
        plot_cumulative_incidence(cif_table(["A", "B"]), ax=axs[0])
    with pytest.raises(RpcEvalError, match="one Axes per group"):
        plot_cumulative_incidence(cif_table(["A", "B", "C"]), axes=axs)
    with pytest.raises(RpcEvalError, match="no column"):
        plot_cumulative_incidence(cif_table(None).drop(columns="cause"))


# -------------------------------------------------------------------- session hazard
@pytest.mark.parametrize("groups", [None, ["online"], ["A", "B", "C"]])
def test_session_hazard_points(groups):
    ax = plot_session_hazard(hazard_table(groups))
    assert isinstance(ax, Axes)
    n = len(groups or [None])
    assert len(ax.containers) == n               # one errorbar set per group
    data_lines = [c.lines[0] for c in ax.containers]
    assert len({ln.get_marker() for ln in data_lines}) == n
    assert len({str(ln.get_linestyle()) for ln in data_lines}) == n
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(s) for s in range(1, 9)]
    labelled(ax)
    if n > 1:   # dodged: the groups do not sit on top of each other
        xs = [ln.get_xdata()[0] for ln in data_lines]
        assert len(set(np.round(xs, 6))) == n


@pytest.mark.parametrize("groups", [None, ["A", "B"]])
def test_session_hazard_bars(groups):
    ax = plot_session_hazard(hazard_table(groups, n_sessions=5), kind="bars")
    n = len(groups or [None])
    assert len(ax.patches) == 5 * n
    assert len({p.get_hatch() for p in ax.patches}) == n
    assert len(ax.containers) == 2 * n           # bars + error bars per group


def test_session_hazard_without_ci_and_errors():
    ax = plot_session_hazard(hazard_table(None).drop(columns=["ci_low", "ci_high"]))
    assert len(ax.containers) == 1 and not ax.containers[0].has_yerr
    with pytest.raises(RpcEvalError, match="kind"):
        plot_session_hazard(hazard_table(None), kind="violin")


def test_plots_from_the_discrete_module():
    """The hazard tables of discrete.py plot as they are."""
    rng = np.random.default_rng(0)
    n = 300
    x = (rng.random(n) < 0.5).astype(int)
    sessions = rng.integers(1, 7, n)
    events = (rng.random(n) < 0.6).astype(int)
    ids = np.repeat(np.arange(n), sessions)
    pp = pd.DataFrame({"session": np.concatenate([np.arange(1, s + 1) for s in sessions]),
                       "x": x[ids]})
    pp["dropout"] = 0
    last = np.cumsum(sessions) - 1
    pp.loc[last[events == 1], "dropout"] = 1
    res = fit_discrete_hazard(pp, "dropout", ["x"], time_effect="linear")
    table = res.hazard_by_session({"x = 0": {"x": 0}, "x = 1": {"x": 1}})
    assert len(plot_session_hazard(table).containers) == 2
    emp = empirical_hazard(pp, by="x").rename(columns={"x": "group"})
    assert len(plot_session_hazard(emp, kind="bars").patches) == len(emp)


def test_palette_is_colour_blind_safe_okabe_ito():
    assert PALETTE[:3] == ["#0072B2", "#D55E00", "#009E73"]
    assert "#F0E442" not in PALETTE               # yellow: too little contrast on white
