"""Report-ready figures for engagement analyses: retention, cumulative incidence, hazards.

Every function takes a tidy table (the output of an estimator, or any DataFrame with the
documented columns), draws on ``ax`` (or a new figure) and returns the matplotlib Axes.
They compute no statistics.

Accessibility (GOV.UK / Analysis Function chart guidance, WCAG 2.2 AA):

* colours from the Okabe-Ito palette, which stays distinguishable with the common forms
  of colour-blindness (yellow is left out: too little contrast on white);
* colour is never the only cue: groups also differ by line style and marker, areas by
  hatching, and every series is named in a legend (or a panel title);
* font sizes of at least 10 pt (tick labels 11 pt, axis labels 12 pt, titles 13 pt);
* every axis is labelled, in words.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> km = pd.DataFrame({"group": ["A"] * 3 + ["B"] * 3, "time": [0, 1, 2] * 2,
...                    "survival": [1, .8, .6, 1, .9, .85],
...                    "ci_low": [1, .7, .5, 1, .8, .75], "ci_high": [1, .9, .7, 1, .95, .9]})
>>> ax = plot_retention(km)
>>> len(ax.get_lines())
2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from rpc_eval.errors import RpcEvalError

__all__ = [
    "plot_retention",
    "plot_cumulative_incidence",
    "plot_session_hazard",
    "plot_ratios",
    "event_label",
    "words",
    "EVENT_LABELS",
    "PALETTE",
    "LINESTYLES",
    "MARKERS",
    "HATCHES",
]

#: Okabe-Ito colours (blue, vermilion, bluish green, reddish purple, orange, sky blue,
#: black); yellow left out for contrast on white.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
#: Line styles paired with the colours, so series differ without colour.
LINESTYLES: list[Any] = ["-", "--", "-.", ":", (0, (8, 2, 2, 2, 2, 2)), (0, (12, 3)),
                         (0, (1, 3))]
#: Markers paired with the colours.
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
#: Hatches paired with the colours (areas and bars).
HATCHES = ["", "//", "\\\\", "xx", "..", "++", "oo"]

_FS_TICK, _FS_LABEL, _FS_TITLE, _FS_LEGEND, _FS_NOTE = 11, 12, 13, 11, 10

#: Event codes in words, as figures and summaries name them (the codes of
#: :func:`rpc_eval.engagement.timetoevent.time_to_event`, numeric or text).
EVENT_LABELS: dict[Any, str] = {0: "Still attending", 1: "Dropped out", 2: "Completed",
                                "ongoing": "Still attending", "dropped_out": "Dropped out",
                                "completed": "Completed"}
#: Column names in words, for axis labels.
_COLUMN_WORDS = {"sessions": "Sessions attended", "session": "Session",
                 "days": "Days since the start", "la_code": "Local authority"}


def event_label(code: Any) -> str:
    """An event code in words: ``1`` or ``"dropped_out"`` -> "Dropped out", ``2`` or
    ``"completed"`` -> "Completed"; any other code as text with spaces.

    >>> event_label(1), event_label("completed"), event_label("moved_away")
    ('Dropped out', 'Completed', 'Moved away')
    """
    key = code.item() if hasattr(code, "item") else code
    try:
        if key in EVENT_LABELS:
            return EVENT_LABELS[key]
    except TypeError:
        pass
    text = str(key).replace("_", " ")
    return text[:1].upper() + text[1:]


def words(column: str | None) -> str:
    """A column name in words for an axis or legend: ``"sessions"`` -> "Sessions
    attended", ``"delivery_mode"`` -> "Delivery mode"."""
    if column is None:
        return ""
    if column in _COLUMN_WORDS:
        return _COLUMN_WORDS[column]
    text = str(column).replace("_", " ")
    return text[:1].upper() + text[1:]


def _style(i: int) -> dict[str, Any]:
    """Style of series ``i``: past the seventh series the line style, marker and hatch
    shift against the colour, so no two of the first 49 series look alike."""
    k = len(PALETTE)
    j = (i + i // k) % k
    return {"color": PALETTE[i % k], "linestyle": LINESTYLES[j],
            "marker": MARKERS[j], "hatch": HATCHES[j]}


def _check_table(table: Any, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise RpcEvalError(f"{what} must be a pandas DataFrame, not {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise RpcEvalError(f"{what} has no column(s) {', '.join(map(repr, missing))}; its "
                           f"columns are {', '.join(map(str, table.columns))}")
    if table.empty:
        raise RpcEvalError(f"{what} is empty: there is nothing to plot")
    return table


def _groups(table: pd.DataFrame, group: str | None) -> list[tuple[Any, pd.DataFrame]]:
    """(label, rows) per group in order of appearance; one unnamed group if no column."""
    if group is None or group not in table.columns:
        return [(None, table)]
    labels = pd.unique(table[group].dropna())
    if isinstance(table[group].dtype, pd.CategoricalDtype):
        labels = [c for c in table[group].cat.categories if c in set(labels)]
    return [(lv, table.loc[table[group] == lv]) for lv in labels]


def _new_axes(ax: Any, figsize: tuple[float, float] = (7.0, 4.5)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _finish(ax: Any, xlabel: str, ylabel: str, title: str | None, legend: bool,
            legend_title: str | None = None) -> None:
    ax.set_xlabel(xlabel, fontsize=_FS_LABEL)
    ax.set_ylabel(ylabel, fontsize=_FS_LABEL)
    ax.tick_params(labelsize=_FS_TICK)
    if title:
        ax.set_title(title, fontsize=_FS_TITLE)
    ax.grid(True, color="#d9d9d9", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if legend:
        many = len(ax.get_legend_handles_labels()[0]) > 4
        where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if many else {}
        leg = ax.legend(fontsize=_FS_LEGEND, title=legend_title, frameon=True,
                        handlelength=3.2, **where)
        if legend_title:
            leg.get_title().set_fontsize(_FS_LEGEND)


def _label(value: Any) -> str:
    return "All" if value is None else str(value)


# ------------------------------------------------------------------------ retention
def plot_retention(data: pd.DataFrame, ax: Any = None, *, at_risk: pd.DataFrame | None = None,
                   at_risk_times: Sequence[float] | None = None, group: str = "group",
                   time: str = "time", survival: str = "survival", ci_low: str = "ci_low",
                   ci_high: str = "ci_high", show_ci: bool = True,
                   xlabel: str = "Sessions attended", ylabel: str = "Proportion still engaged",
                   title: str | None = None, legend_title: str | None = None) -> Any:
    """Kaplan-Meier retention curves: step lines with confidence bands.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``[group], time, survival, ci_low, ci_high`` (the CI columns are needed only
        with ``show_ci=True``). Without a ``group`` column the table is one curve. A curve whose
        first time is after 0 is started at ``(0, 1)``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if omitted.
    at_risk : pandas.DataFrame, optional
        Numbers at risk, columns ``[group], time, n_at_risk``; printed beneath the axis in
        one row per group, at ``at_risk_times`` (default: the x tick positions). The number
        at a time is the table's ``n_at_risk`` at the last listed time at or before it. The rows
        are annotations outside the Axes: a figure made here makes room for them; on your
        own figure use ``layout="constrained"`` or ``savefig(..., bbox_inches="tight")``.
    group, time, survival, ci_low, ci_high : str
        Column names.
    show_ci : bool
        Draw the confidence bands (shaded, in the curve's colour).
    xlabel, ylabel, title, legend_title : str
        Labels; the legend appears when there are several groups.

    Returns
    -------
    matplotlib.axes.Axes
        One line per group (``ax.get_lines()``) and one band per group
        (``ax.collections``).

    Notes
    -----
    R equivalent: ``plot(survfit(...), conf.int = TRUE, lty = 1:k)`` or
    ``survminer::ggsurvplot(fit, risk.table = TRUE)``.
    """
    ci = show_ci
    needed = [time, survival] + ([ci_low, ci_high] if ci else [])
    table = _check_table(data, needed, "data")
    groups = _groups(table, group)
    ax = _new_axes(ax)
    for i, (label, rows) in enumerate(groups):
        st = _style(i)
        rows = rows.sort_values(time, kind="stable")
        t = rows[time].to_numpy(dtype=float)
        s = rows[survival].to_numpy(dtype=float)
        lo = rows[ci_low].to_numpy(dtype=float) if ci else None
        hi = rows[ci_high].to_numpy(dtype=float) if ci else None
        if len(t) and t[0] > 0:
            t, s = np.r_[0.0, t], np.r_[1.0, s]
            if ci:
                lo, hi = np.r_[1.0, lo], np.r_[1.0, hi]
        ax.step(t, s, where="post", color=st["color"], linestyle=st["linestyle"],
                linewidth=2.2, label=_label(label))
        if ci:
            ax.fill_between(t, lo, hi, step="post", color=st["color"], alpha=0.18,
                            linewidth=0, label="_nolegend_")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    _finish(ax, xlabel, ylabel, title, legend=len(groups) > 1, legend_title=legend_title)
    if at_risk is not None:
        _at_risk_rows(ax, at_risk, groups, group, time, at_risk_times)
    return ax


def _at_risk_rows(ax: Any, at_risk: pd.DataFrame, groups: list[tuple[Any, pd.DataFrame]],
                  group: str, time: str, at_times: Sequence[float] | None) -> None:
    """Numbers at risk as rows of text beneath the x axis (below the axis label)."""
    table = _check_table(at_risk, [time, "n_at_risk"], "at_risk")
    if at_times is None:
        lo, hi = ax.get_xlim()
        at_times = [x for x in ax.get_xticks() if lo - 1e-9 <= x <= hi + 1e-9]
    base = -52  # points below the axes: clears the tick labels and the x-axis label
    ax.annotate("Number at risk", xy=(0, 0), xycoords="axes fraction",
                xytext=(0, base), textcoords="offset points", ha="left", va="top",
                fontsize=_FS_NOTE, fontweight="bold")
    has_group = group in table.columns
    for i, (label, _) in enumerate(groups):
        rows = table.loc[table[group] == label] if has_group and label is not None else table
        rows = rows.sort_values(time)
        tt = rows[time].to_numpy(dtype=float)
        nn = rows["n_at_risk"].to_numpy()
        y = base - 15 * (i + 1)
        if len(groups) > 1:
            ax.annotate(_label(label), xy=(0, 0), xycoords="axes fraction", xytext=(-22, y),
                        textcoords="offset points", ha="right", va="top", fontsize=_FS_NOTE,
                        color=_style(i)["color"])
        for x in at_times:
            k = np.searchsorted(tt, x, side="right") - 1
            text = f"{int(nn[k]):,}" if k >= 0 else "-"
            ax.annotate(text, xy=(x, 0), xycoords=("data", "axes fraction"), xytext=(0, y),
                        textcoords="offset points", ha="center", va="top", fontsize=_FS_NOTE)


# --------------------------------------------------------------- cumulative incidence
def plot_cumulative_incidence(data: pd.DataFrame, ax: Any = None, stacked: bool = True, *,
                              axes: Any = None, group: str | None = "group", cause: str = "cause",
                              time: str = "time", cif: str = "cif",
                              causes: Sequence[Any] | None = None, show_ci: bool = False,
                              ci_low: str = "ci_low", ci_high: str = "ci_high",
                              xlabel: str = "Sessions attended",
                              ylabel: str = "Cumulative incidence", title: str | None = None,
                              legend_title: str | None = "Exit") -> Any:
    """Cumulative incidence of competing exits (e.g. dropout and completion) over time.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``[group], cause, time, cif`` (Aalen-Johansen estimates; each cause's
        curve may have its own times; it is read as a step function that is 0 before its
        first time).
    ax : matplotlib Axes, optional
        Where to draw, for one group.
    stacked : bool
        ``True``: the causes are stacked areas (the top edge is the probability of having
        left by any route), hatched differently. ``False``: one step line per cause.
    axes : sequence of Axes, optional
        One per group, when there are several groups. Without ``ax``/``axes`` a new
        figure has one panel per group (up to three across, shared y axis).
    group, cause, time, cif : str
        Column names.
    causes : list, optional
        Causes to draw and their order (stacking bottom up); default: order of appearance.
        Give them in words ("Dropped out", "Completed"): the legend shows them as they
        are (:func:`event_label` turns codes into words).
    show_ci : bool
        Unstacked only: shade the confidence band of each curve (columns ``ci_low``,
        ``ci_high``).
    ci_low, ci_high : str
        Column names of the limits.
    xlabel, ylabel, title, legend_title : str
        Labels; each panel is titled with its group (after ``title``, if given).

    Returns
    -------
    matplotlib.axes.Axes or numpy.ndarray of Axes
        The Axes for a single group; an array of Axes (one per group) for several.
        Stacked: one area (``ax.collections``) and one edge line per cause and panel.
        Unstacked: one line per cause and panel.

    Notes
    -----
    R equivalent: ``plot(cmprsk::cuminc(...))`` (lines) or ``ggplot2::geom_area()``.
    """
    table = _check_table(data, [cause, time, cif], "data")
    groups = _groups(table, group)
    cause_list = list(causes) if causes is not None else list(pd.unique(table[cause].dropna()))
    if not cause_list:
        raise RpcEvalError("data has no causes to plot")
    if axes is not None:
        panels = list(np.ravel(np.asarray(axes, dtype=object)))
        if len(panels) < len(groups):
            raise RpcEvalError(f"axes has {len(panels)} Axes but there are {len(groups)} "
                               "groups; pass one Axes per group")
    elif ax is not None:
        if len(groups) > 1:
            raise RpcEvalError(
                f"data has {len(groups)} groups, which need one panel each: pass "
                "axes=[...] with one Axes per group, or neither ax nor axes")
        panels = [ax]
    else:
        import matplotlib.pyplot as plt

        n = len(groups)
        ncols = min(n, 3)
        nrows = int(np.ceil(n / ncols))
        fig, grid = plt.subplots(nrows, ncols, figsize=(5.0 * ncols, 4.2 * nrows),
                                 sharey=True, squeeze=False, layout="constrained")
        panels = list(grid.ravel())
        for extra in panels[n:]:
            fig.delaxes(extra)
    for k, (label, rows) in enumerate(groups):
        pax = panels[k]
        _cif_panel(pax, rows, cause_list, cause, time, cif, stacked,
                   (ci_low, ci_high) if show_ci and not stacked
                   and {ci_low, ci_high} <= set(rows.columns) else None)
        panel_title = _label(label) if label is not None else None
        if title and panel_title:
            panel_title = f"{title}: {panel_title}"
        elif title:
            panel_title = title
        _finish(pax, xlabel, ylabel, panel_title, legend=True, legend_title=legend_title)
        pax.set_ylim(0, 1.02 if stacked else None)
        pax.set_xlim(left=0)
    if len(groups) == 1:
        return panels[0]
    return np.asarray(panels[:len(groups)], dtype=object)


def _cif_panel(ax: Any, rows: pd.DataFrame, cause_list: list[Any], cause: str, time: str,
               cif: str, stacked: bool, band: tuple[str, str] | None = None) -> None:
    from matplotlib.colors import to_rgba

    grid = np.unique(np.r_[0.0, rows[time].to_numpy(dtype=float)])
    bottom = np.zeros_like(grid)
    for i, c in enumerate(cause_list):
        st = _style(i)
        sub = rows.loc[rows[cause] == c].sort_values(time)
        t = sub[time].to_numpy(dtype=float)
        v = sub[cif].to_numpy(dtype=float)
        k = np.searchsorted(t, grid, side="right") - 1
        values = np.where(k >= 0, v[np.clip(k, 0, None)] if len(v) else 0.0, 0.0)
        if stacked:
            top = bottom + values
            ax.fill_between(grid, bottom, top, step="post", facecolor=to_rgba(st["color"], 0.35),
                            edgecolor=st["color"], hatch=st["hatch"], linewidth=0,
                            label=str(c))
            ax.step(grid, top, where="post", color=st["color"], linestyle=st["linestyle"],
                    linewidth=1.8, label="_nolegend_")
            bottom = top
        else:
            ax.step(grid, values, where="post", color=st["color"], linestyle=st["linestyle"],
                    linewidth=2.2, label=str(c))
            if band is not None and len(t):
                lims = [sub[b].to_numpy(dtype=float) for b in band]
                lo, hi = (np.where(k >= 0, v[np.clip(k, 0, None)], 0.0) for v in lims)
                ax.fill_between(grid, lo, hi, step="post", color=st["color"], alpha=0.18,
                                linewidth=0, label="_nolegend_")


# ------------------------------------------------------------------- session hazard
def plot_session_hazard(data: pd.DataFrame, ax: Any = None, *, kind: str = "points",
                        group: str = "group", time: str = "session", hazard: str = "hazard",
                        ci_low: str = "ci_low", ci_high: str = "ci_high",
                        xlabel: str = "Session", ylabel: str = "Dropout hazard",
                        title: str | None = None, legend_title: str | None = None) -> Any:
    """Per-session dropout hazard with confidence intervals, for one or several groups.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``[group], session, hazard, ci_low, ci_high`` (from
        :func:`rpc_eval.engagement.discrete.empirical_hazard` or
        ``DiscreteHazardResult.hazard_by_session``). Without the CI columns no error bars
        are drawn.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if omitted.
    kind : {"points", "bars"}
        ``points``: markers with error bars joined by a line, groups side by side (dodged)
        and told apart by marker, line style and colour. ``bars``: hatched bars with error
        bars.
    group, time, hazard, ci_low, ci_high : str
        Column names.
    xlabel, ylabel, title, legend_title : str
        Labels; the legend appears when there are several groups.

    Returns
    -------
    matplotlib.axes.Axes
        ``points``: one errorbar container per group (``ax.containers``), whose data line
        is in ``ax.get_lines()``. ``bars``: one bar per group and session
        (``ax.patches``).

    Notes
    -----
    R equivalent: ``ggplot(h, aes(session, hazard, ymin = ci_low, ymax = ci_high)) +
    geom_pointrange(position = position_dodge(.5))``.
    """
    if kind not in ("points", "bars"):
        raise RpcEvalError(f"kind must be 'points' or 'bars', not {kind!r}")
    table = _check_table(data, [time, hazard], "data")
    has_ci = ci_low in table.columns and ci_high in table.columns
    groups = _groups(table, group)
    ax = _new_axes(ax)
    sessions = np.unique(table[time].to_numpy(dtype=float))
    step = np.min(np.diff(sessions)) if len(sessions) > 1 else 1.0
    n = len(groups)
    width = 0.8 * step / n if kind == "bars" else min(0.5 * step / n, 0.15 * step)
    for i, (label, rows) in enumerate(groups):
        st = _style(i)
        rows = rows.sort_values(time)
        x = rows[time].to_numpy(dtype=float) + (i - (n - 1) / 2) * width
        h = rows[hazard].to_numpy(dtype=float)
        yerr = None
        if has_ci:
            yerr = np.vstack([h - rows[ci_low].to_numpy(dtype=float),
                              rows[ci_high].to_numpy(dtype=float) - h])
            yerr = np.where(np.isfinite(yerr), np.clip(yerr, 0, None), 0.0)
        if kind == "bars":
            ax.bar(x, h, width=width, color=st["color"], alpha=0.75, hatch=st["hatch"],
                   edgecolor="black", linewidth=0.8, label=_label(label))
            if yerr is not None:
                ax.errorbar(x, h, yerr=yerr, fmt="none", ecolor="black", elinewidth=1.2,
                            capsize=3, label="_nolegend_")
        else:
            ax.errorbar(x, h, yerr=yerr, color=st["color"], marker=st["marker"],
                        markersize=7, linestyle=st["linestyle"], linewidth=1.6,
                        elinewidth=1.4, capsize=3, label=_label(label))
    ax.set_xticks(sessions)
    ax.set_xticklabels([f"{s:g}" for s in sessions])
    ax.set_ylim(bottom=0)
    _finish(ax, xlabel, ylabel, title, legend=n > 1, legend_title=legend_title)
    return ax


# -------------------------------------------------------------------- ratio (forest)
def plot_ratios(coefficients: pd.DataFrame, ax: Any = None, *, show_ci: bool = True,
                term: str = "term", ratio: str = "ratio", ci_low: str = "ratio_ci_low",
                ci_high: str = "ratio_ci_high", xlabel: str = "Ratio (log scale)",
                title: str | None = None) -> Any:
    """Forest plot of ratios (hazard, odds) with their intervals, on a log axis.

    Parameters
    ----------
    coefficients : pandas.DataFrame
        A model's coefficient table (columns ``term, ratio, ratio_ci_low,
        ratio_ci_high``, docs/conventions.md). Terms whose ratio is 0, infinite or
        missing (separation) are listed with the words "no finite estimate".
    ax : matplotlib Axes, optional
        Where to draw; a new figure if omitted.
    show_ci : bool
        Draw the interval of each ratio.
    term, ratio, ci_low, ci_high : str
        Column names.
    xlabel, title : str

    Returns
    -------
    matplotlib.axes.Axes
        One errorbar container (``ax.containers``) for the finite ratios; the line at 1
        marks no difference.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"term": ["g[T.B]", "age"], "ratio": [1.5, 0.9],
    ...                     "ratio_ci_low": [1.1, 0.8], "ratio_ci_high": [2.0, 1.0]})
    >>> ax = plot_ratios(tab)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['g: B', 'age']
    """
    needed = [term, ratio] + ([ci_low, ci_high] if show_ci else [])
    table = _check_table(coefficients, needed, "coefficients")
    ax = _new_axes(ax, figsize=(7.0, 0.5 * len(table) + 1.6))
    y = np.arange(len(table))[::-1].astype(float)
    r = table[ratio].to_numpy(dtype=float)
    finite = np.isfinite(r) & (r > 0)
    st = _style(0)
    yerr = None
    if show_ci:
        lo = table[ci_low].to_numpy(dtype=float)
        hi = table[ci_high].to_numpy(dtype=float)
        yerr = np.vstack([r - lo, hi - r])[:, finite]
        yerr = np.where(np.isfinite(yerr), np.clip(yerr, 0, None), 0.0)
    ax.errorbar(r[finite], y[finite], xerr=yerr, fmt=st["marker"], color=st["color"],
                markersize=7, elinewidth=1.6, capsize=3, label="_nolegend_")
    for yy, ok in zip(y, finite, strict=True):
        if not ok:
            ax.annotate("no finite estimate", xy=(0.02, yy), xycoords=("axes fraction", "data"),
                        va="center", fontsize=_FS_NOTE, style="italic")
    ax.axvline(1.0, color="black", linewidth=1.0, linestyle="--")
    ax.set_xscale("log")
    _ratio_ticks(ax)
    ax.set_yticks(y)
    ax.set_yticklabels([_term_words(t) for t in table[term].astype(str)])
    ax.set_ylim(-0.7, len(table) - 0.3)
    _finish(ax, xlabel, "", title, legend=False)
    return ax


def _term_words(term: str) -> str:
    """``g[T.B]`` -> ``g: B``; interactions joined with " x "."""
    import re

    return " x ".join(re.sub(r"^(.*)\[T\.(.*)\]$", r"\1: \2", part)
                      for part in term.split(":"))


def _ratio_ticks(ax: Any) -> None:
    """Plain-number ticks on a log ratio axis (0.25, 0.5, 1, 2, 4 ...), no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=2.0, numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
