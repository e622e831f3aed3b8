"""Figures of published step tables (retention, cumulative incidence) that draw only
what the table publishes.

Disclosure control publishes a Kaplan-Meier or cumulative-incidence curve in steps of at
least *threshold* events (:func:`rpc_eval.report.engagement_section.coarse_steps`): the
sessions between two published steps are merged, and where in between the curve fell is
not published. Drawing those steps as a step function would be false ("100% retained
until session 11, then 21%"). These figures mark each published estimate with a point
and join two points with a **solid** line when they are one session apart (the curve is
known between them) and a **dotted** line when sessions are merged between them (only
the two ends are known); the caption says so.

Computes no statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["draw_published_steps", "MERGED_CAPTION"]

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
STYLES = ("-", "--", "-.", (0, (5, 1)))
COLOURS = ("#1d70b8", "#d4351c", "#00703c", "#4c2c92", "#f47738", "#5694ca", "#6f72af",
           "#b58840")

#: The sentence every caption of such a figure carries.
MERGED_CAPTION = ("Points are the published estimates. A solid line joins points one "
                  "session apart; a dotted line joins points with merged sessions between "
                  "them: only its two ends are published, not where the curve fell in "
                  "between.")


def _segments(ax, times: np.ndarray, values: np.ndarray, colour: str, marker: str,
              label: str, start: float) -> None:
    """Points at ``(times, values)`` preceded by ``(0, start)``; solid joins one session
    apart, dotted joins across merged sessions."""
    t = np.concatenate([[0.0], times.astype(float)])
    v = np.concatenate([[start], values.astype(float)])
    for i in range(1, len(t)):
        merged = t[i] - t[i - 1] > 1
        ax.plot(t[i - 1:i + 1], v[i - 1:i + 1], color=colour,
                linestyle=":" if merged else "-", linewidth=1.8)
    ax.plot(t, v, linestyle="none", marker=marker, color=colour, markersize=5,
            label=label)


def draw_published_steps(data: pd.DataFrame, *, panel: str | None, line: str,
                         estimate: str, start: float, name: Callable[[str], str],
                         line_name: Callable[[object], str], ylabel: str,
                         order: Sequence[object] | None = None) -> plt.Figure:
    """One panel per value of ``panel`` (or one panel), one series per value of
    ``line``, drawn as published points joined solid (adjacent sessions) or dotted
    (merged sessions).

    Parameters
    ----------
    data : DataFrame
        A published step table: ``time``, ``estimate`` and the ``panel``/``line``
        columns; rows with a suppressed (missing) estimate are not drawn.
    start : float
        The curve's value at session 0 (1 for retention, 0 for cumulative incidence).
    name, line_name : callable
        The words for a panel's and a series' code.
    """
    f = data.dropna(subset=[estimate])
    panels = [None] if panel is None else list(pd.unique(f[panel]))
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol + (2.5 if ncol == 1 else 0),
                                                  3.6 * nrow),
                             squeeze=False, sharey=True)
    lines = list(order) if order is not None else list(pd.unique(f[line]))
    for k, (ax, p) in enumerate(zip(axes.ravel(), panels, strict=False)):
        sub = f if p is None else f[f[panel] == p]
        for j, g in enumerate(lines):
            s = sub[sub[line] == g].sort_values("time")
            if s.empty:
                continue
            _segments(ax, s["time"].to_numpy(), s[estimate].to_numpy(),
                      COLOURS[j % len(COLOURS)], MARKERS[j % len(MARKERS)],
                      line_name(g), start)
        if p is not None:
            ax.set_title(name(p), fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("Sessions attended")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        if k % ncol == 0:
            ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=8, frameon=False)
    for extra in axes.ravel()[len(panels):]:
        extra.set_visible(False)
    fig.tight_layout()
    return fig
