"""Fair comparisons of local authorities: funnel plots and caterpillar plots.

Two complementary views of "is this LA different?":

* :func:`funnel_limits` — an LA's observed proportion (completions among starters,
  reliable improvement among paired parents, ...) against control limits that widen as
  the LA's denominator shrinks (Spiegelhalter, 2005), with an optional allowance for
  over-dispersion between LAs (Spiegelhalter et al., 2012).
* :func:`caterpillar_plot` — LA random effects (conditional modes with prediction
  intervals, from a mixed model's ``.blups()``), sorted, with a zero line.

Accessibility: the package's figure style (:mod:`rpc_eval.stats.style`): colours from
the Okabe-Ito palette, and colour is never the only cue (limits differ by line style,
flagged units by marker shape); every axis is labelled in words.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> counts = pd.DataFrame({"la": ["A", "B", "C", "D"], "completed": [40, 10, 70, 5],
...                        "started": [50, 40, 100, 10]})
>>> res = funnel_limits(counts, "la", "completed", "started")
>>> round(res.target, 4)
0.625
>>> res.table[["unit", "n", "n_events", "flag"]]
  unit    n  n_events         flag
0    A   50        40    above 95%
1    B   40        10  below 99.8%
2    C  100        70       within
3    D   10         5       within
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from rpc_eval.errors import RpcEvalError
from rpc_eval.results import Result
from rpc_eval.stats.missing import complete_rows
from rpc_eval.stats.style import BLACK as _BLACK
from rpc_eval.stats.style import BLUE as _BLUE
from rpc_eval.stats.style import FS_LABEL as _FS_LABEL
from rpc_eval.stats.style import FS_NOTE as _FS_LEGEND
from rpc_eval.stats.style import FS_TICK as _FS_TICK
from rpc_eval.stats.style import FS_TITLE as _FS_TITLE
from rpc_eval.stats.style import GREY as _GREY
from rpc_eval.stats.style import GRID as _GRID
from rpc_eval.stats.style import PURPLE as _PURPLE
from rpc_eval.stats.style import VERMILION as _VERMILION

__all__ = ["FunnelResult", "funnel_limits", "caterpillar_plot", "FLAGS", "FUNNEL_COLUMNS"]

#: Columns of :attr:`FunnelResult.table` with the default limits (95% and 99.8%).
FUNNEL_COLUMNS = ["unit", "n", "n_events", "rate", "statistic", "lower_95", "upper_95",
                  "lower_998", "upper_998", "flag"]

#: Flag values of :attr:`FunnelResult.table` (for the default limits), most extreme first.
#: A unit with no denominator (``n = 0``) is flagged ``"no data"``.
FLAGS = ["above 99.8%", "above 95%", "within", "below 95%", "below 99.8%"]
NO_DATA = "no data"


# --------------------------------------------------------------------------- helpers
def _level_tag(level: float) -> str:
    """0.95 -> '95', 0.998 -> '998' (column suffix); percent text via _level_pct."""
    return f"{level * 100:g}".replace(".", "")


def _level_pct(level: float) -> str:
    return f"{level * 100:g}%"


def _exact_limit(p: float, n: np.ndarray, theta: float) -> np.ndarray:
    """Spiegelhalter (2005, appendix A.1.1) interpolated binomial quantile, as a proportion.

    ``r_p`` is the smallest ``r`` with ``P(R <= r) >= p`` (R's ``qbinom``);
    ``alpha = (P(R <= r_p) - p) / (P(R <= r_p) - P(R <= r_p - 1))``; the limit is
    ``(r_p - alpha) / n``. Limits below 0 (possible when ``r_p = 0``) are set to 0.
    """
    n = np.asarray(n, dtype=float)
    out = np.full(n.shape, np.nan)
    ok = n > 0
    if not ok.any():
        return out
    nn = n[ok]
    r = stats.binom.ppf(p, nn, theta)
    # ppf is the smallest r with cdf >= p; step back if rounding put it one too high
    high = (r > 0) & (stats.binom.cdf(r - 1, nn, theta) >= p)
    r = np.where(high, r - 1, r)
    cdf = stats.binom.cdf(r, nn, theta)
    cdf_prev = stats.binom.cdf(r - 1, nn, theta)
    alpha = (cdf - p) / (cdf - cdf_prev)
    out[ok] = np.clip((r - alpha) / nn, 0.0, 1.0)
    return out


def _normal_limit(p: float, n: np.ndarray, theta: float, phi: float = 1.0,
                  tau2: float = 0.0) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(phi * theta * (1 - theta) / n + tau2)
    out = theta + stats.norm.ppf(p) * se
    out = np.where(n > 0, np.clip(out, 0.0, 1.0), np.nan)
    return out


def _winsorise(z: np.ndarray, winsor: float) -> np.ndarray:
    """Set z-scores below the ``winsor`` quantile to it, above ``1 - winsor`` likewise
    (quantiles by linear interpolation, R's ``quantile(type = 7)``)."""
    if winsor <= 0:
        return z.copy()
    lo, hi = np.quantile(z, [winsor, 1 - winsor])
    return np.clip(z, lo, hi)


# --------------------------------------------------------------------------- result
@dataclass(repr=False)
class FunnelResult(Result):
    """Funnel-plot comparison of units' proportions (see :func:`funnel_limits`).

    Attributes
    ----------
    table : DataFrame
        One row per unit: ``unit, n, n_events, rate, statistic, lower_95, upper_95,
        lower_998, upper_998, flag`` (limit columns are named after ``limits``;
        :data:`FUNNEL_COLUMNS`). ``n`` is the denominator, ``n_events`` the numerator,
        ``statistic`` the z-score against the target, using the over-dispersion-adjusted
        standard error
        when an adjustment was applied. ``flag`` is one of ``"above 99.8%", "above
        95%", "within", "below 95%", "below 99.8%"`` (``"no data"`` when ``n = 0``).
    target : float
        The target proportion the limits are centred on.
    phi : float
        Over-dispersion ratio: mean of the squared winsorised z-scores (NaN when
        over-dispersion was not requested).
    tau2 : float
        Additive between-unit variance on the proportion scale (0 when no additive
        adjustment was made; NaN when over-dispersion was not requested).
    method : str
        ``"exact"`` (interpolated binomial) or ``"normal"``: how the limits were drawn.
        When an over-dispersion adjustment is applied the limits are normal.
    adjustment : str
        ``"none"``, ``"additive"`` or ``"multiplicative"``: what was applied.
    limits : tuple of float
        The two coverage levels, inner first.
    n_dropped : int
        Rows (one per parent) left out for a missing unit or outcome.
    """

    table: pd.DataFrame
    target: float
    phi: float
    tau2: float
    method: str
    adjustment: str
    limits: tuple[float, float]
    overdispersion: str | bool = False
    n_units: int = 0
    notes: list[str] = field(default_factory=list)
    n_dropped: int = 0

    # -- limits at any denominator
    def _limits_at(self, n: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for level in self.limits:
            tag = _level_tag(level)
            lo_p, hi_p = (1 - level) / 2, 1 - (1 - level) / 2
            if self.adjustment == "additive":
                lo = _normal_limit(lo_p, n, self.target, tau2=self.tau2)
                hi = _normal_limit(hi_p, n, self.target, tau2=self.tau2)
            elif self.adjustment == "multiplicative":
                lo = _normal_limit(lo_p, n, self.target, phi=self.phi)
                hi = _normal_limit(hi_p, n, self.target, phi=self.phi)
            elif self.method == "exact":
                lo = _exact_limit(lo_p, n, self.target)
                hi = _exact_limit(hi_p, n, self.target)
            else:
                lo = _normal_limit(lo_p, n, self.target)
                hi = _normal_limit(hi_p, n, self.target)
            out[f"lower_{tag}"] = lo
            out[f"upper_{tag}"] = hi
        return out

    def limits_curve(self, n_grid: Any = None) -> pd.DataFrame:
        """Control limits over a grid of denominators, for drawing the funnel.

        Parameters
        ----------
        n_grid : array-like of positive numbers, optional
            Denominators. With exact limits they must be whole numbers. Default: every
            whole number from 1 to the largest unit's ``n`` (thinned to at most ~400
            points on a log scale).

        Returns
        -------
        DataFrame
            ``n, lower_95, upper_95, lower_998, upper_998`` (named after ``limits``).
        """
        if n_grid is None:
            top = max(int(self.table["n"].max()), 2)
            n_grid = np.unique(np.round(np.geomspace(1, top, 400)))
        n = np.asarray(n_grid, dtype=float).ravel()
        if n.size == 0 or np.any(~np.isfinite(n)) or np.any(n <= 0):
            raise RpcEvalError("n_grid must hold positive, finite denominators")
        exact_used = self.method == "exact" and self.adjustment == "none"
        if exact_used and np.any(n != np.round(n)):
            raise RpcEvalError("exact binomial limits need whole-number denominators in "
                               "n_grid; round them, or use method='normal'")
        return pd.DataFrame({"n": n, **self._limits_at(n)})

    # -- display (summary(), repr and the HTML view come from rpc_eval.results.Result)
    def _title(self) -> str:
        return "Funnel plot comparison"

    def _facts(self) -> list[tuple[str, Any]]:
        counts = self.table["flag"].value_counts() if "flag" in self.table else {}
        facts: list[tuple[str, Any]] = [
            ("Units", len(self.table)), ("Target proportion", self.target),
            ("Limits", f"{', '.join(_level_pct(v) for v in self.limits)} "
                       f"({self._method_text()})")]
        if self.overdispersion:
            facts.append(("Over-dispersion", f"phi = {self.phi:.3f}, tau^2 = "
                                             f"{self.tau2:.5f}; adjustment applied: "
                                             f"{self.adjustment}"))
        facts.append(("Flags", ", ".join(f"{k}: {int(v)}" for k, v in counts.items())))
        if self.n_dropped:
            facts.append(("Rows left out (missing values)", self.n_dropped))
        return facts

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"table": self.table}

    def _method_text(self) -> str:
        if self.adjustment == "additive":
            return "normal approximation with additive between-unit variance tau^2"
        if self.adjustment == "multiplicative":
            return "normal approximation inflated by phi"
        if self.method == "exact":
            return "exact binomial, Spiegelhalter interpolation"
        return "normal approximation"

    # -- plot
    def plot(self, ax: Any = None, label_flagged: bool = True, *,
             xlabel: str = "Number of parents (denominator)",
             ylabel: str = "Proportion", title: str | None = None) -> Any:
        """Funnel plot: units' proportions against their denominators, with the target
        line and the control limits. Returns the matplotlib Axes.

        Inner limits are dashed, outer limits dotted, the target solid; units outside
        the inner limits are drawn with a different marker (triangles up/down) as well
        as a different colour, and labelled when ``label_flagged``.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(7.0, 4.5), layout="constrained")
        tab = self.table.loc[self.table["n"] > 0]
        curve = self.limits_curve()
        inner, outer = (_level_tag(v) for v in self.limits)
        ax.axhline(self.target, color=_BLACK, linestyle="-", linewidth=1.2,
                   label=f"Target ({self.target:.1%})")
        ax.plot(curve["n"], curve[f"lower_{inner}"], color=_BLUE, linestyle="--",
                linewidth=1.3, label=f"{_level_pct(self.limits[0])} limits")
        ax.plot(curve["n"], curve[f"upper_{inner}"], color=_BLUE, linestyle="--",
                linewidth=1.3)
        ax.plot(curve["n"], curve[f"lower_{outer}"], color=_PURPLE, linestyle=":",
                linewidth=1.8, label=f"{_level_pct(self.limits[1])} limits")
        ax.plot(curve["n"], curve[f"upper_{outer}"], color=_PURPLE, linestyle=":",
                linewidth=1.8)
        above = tab["flag"].str.startswith("above")
        below = tab["flag"].str.startswith("below")
        within = ~(above | below)
        ax.scatter(tab.loc[within, "n"], tab.loc[within, "rate"], marker="o", s=30,
                   facecolor="white", edgecolor=_GREY, linewidth=1.1, zorder=3,
                   label="Within limits")
        if above.any():
            ax.scatter(tab.loc[above, "n"], tab.loc[above, "rate"], marker="^", s=55,
                       color=_VERMILION, edgecolor=_BLACK, linewidth=0.6, zorder=4,
                       label=f"Above {_level_pct(self.limits[0])} limit")
        if below.any():
            ax.scatter(tab.loc[below, "n"], tab.loc[below, "rate"], marker="v", s=55,
                       color=_BLUE, edgecolor=_BLACK, linewidth=0.6, zorder=4,
                       label=f"Below {_level_pct(self.limits[0])} limit")
        if label_flagged:
            for _, row in tab.loc[above | below].iterrows():
                ax.annotate(str(row["unit"]), (row["n"], row["rate"]),
                            xytext=(4, 4 if row["flag"].startswith("above") else -10),
                            textcoords="offset points", fontsize=_FS_LEGEND)
        ax.set_xlabel(xlabel, fontsize=_FS_LABEL)
        ax.set_ylabel(ylabel, fontsize=_FS_LABEL)
        ax.tick_params(labelsize=_FS_TICK)
        if title:
            ax.set_title(title, fontsize=_FS_TITLE)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, color=_GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(fontsize=_FS_LEGEND, frameon=True, handlelength=3.0)
        return ax


# --------------------------------------------------------------------------- main
def _as_counts(data: Any, unit: str, numerator: str,
               denominator: str | None) -> tuple[pd.DataFrame, int]:
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    needed = [unit, numerator] + ([denominator] if denominator is not None else [])
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise RpcEvalError(f"data has no column(s) {', '.join(map(repr, missing))}; its "
                           f"columns are {', '.join(map(str, data.columns))}")
    if data.empty:
        raise RpcEvalError("data is empty: there are no units to compare")
    n_dropped = 0
    if denominator is None:
        # one row per parent: the fitters' missing-data policy (rows with a missing unit
        # or outcome are left out with a DataQualityWarning and counted)
        data, n_dropped = complete_rows(data, [unit, numerator], "funnel_limits",
                                        stacklevel=4)
        y = pd.to_numeric(data[numerator], errors="coerce")
        if data[numerator].dtype == bool:
            y = data[numerator].astype(float)
        bad = y.notna() & ~y.isin([0, 1])
        if bad.any() or (y.isna() & data[numerator].notna()).any():
            raise RpcEvalError(f"column {numerator!r} must be a 0/1 outcome (one row per "
                               "parent) when no denominator is given; for counts per "
                               "unit pass denominator=")
        if data.empty:
            raise RpcEvalError("every row has a missing unit or outcome: there are no "
                               "units to compare")
        frame = pd.DataFrame({"unit": data[unit], "y": y})
        g = frame.groupby("unit", sort=False, observed=True)["y"]
        out = pd.DataFrame({"n": g.count(), "events": g.sum()}).reset_index()
    else:
        ev = pd.to_numeric(data[numerator], errors="coerce")
        n = pd.to_numeric(data[denominator], errors="coerce")
        if ev.isna().any() or n.isna().any():
            raise RpcEvalError(f"columns {numerator!r} and {denominator!r} must be "
                               "numeric counts with no missing values")
        if data[unit].duplicated().any():
            raise RpcEvalError(f"with counts, data must have one row per unit; "
                               f"{unit!r} repeats: "
                               f"{', '.join(map(str, data[unit][data[unit].duplicated()][:5]))}")
        if ((ev < 0) | (n < 0) | (ev != np.round(ev)) | (n != np.round(n))).any():
            raise RpcEvalError("counts must be non-negative whole numbers")
        if (ev > n).any():
            raise RpcEvalError(f"{numerator!r} exceeds {denominator!r} for unit(s) "
                               f"{', '.join(map(str, data[unit][ev > n][:5]))}")
        out = pd.DataFrame({"unit": data[unit].to_numpy(), "n": n.to_numpy(),
                            "events": ev.to_numpy()})
    if out["unit"].isna().any():
        raise RpcEvalError(f"column {unit!r} has missing unit labels; fill or drop them")
    out["n"] = out["n"].astype("int64")
    out["events"] = out["events"].astype("int64")
    return out, n_dropped


def funnel_limits(data: pd.DataFrame, unit: str, numerator: str,
                  denominator: str | None = None, *, target: float | None = None,
                  limits: tuple[float, float] = (0.95, 0.998),
                  overdispersion: bool | str = False, winsor: float = 0.1,
                  method: str = "exact") -> FunnelResult:
    r"""Funnel-plot control limits for units' proportions (Spiegelhalter, 2005).

    Parameters
    ----------
    data : DataFrame
        Either one row per parent with a 0/1 outcome in ``numerator`` (leave
        ``denominator=None``), or one row per unit with counts in ``numerator`` (events)
        and ``denominator`` (trials).
    unit : str
        Column naming the unit (e.g. ``la_code``).
    numerator, denominator : str
        See ``data``.
    target : float, optional
        Target proportion :math:`\theta_0`; default the overall proportion
        :math:`\sum_i r_i / \sum_i n_i`. Must lie strictly between 0 and 1.
    limits : (float, float)
        Two-sided coverage of the inner and outer limits (default 95% and 99.8%).
    overdispersion : bool or {"additive", "multiplicative"}
        ``False`` (default): no allowance. ``True`` or ``"additive"``: estimate
        :math:`\phi` and, when :math:`\phi > 1`, widen the limits by an additive
        between-unit variance :math:`\tau^2` (random-effects, Spiegelhalter et al.
        2012). ``"multiplicative"``: when :math:`\phi > 1`, multiply the binomial
        variance by :math:`\phi` (Spiegelhalter 2005, section 5).
    winsor : float
        Share of z-scores winsorised in each tail when estimating :math:`\phi`
        (default 0.1, i.e. 10% each tail).
    method : {"exact", "normal"}
        Limits without adjustment: exact binomial with Spiegelhalter's interpolation
        (default) or the normal approximation. Adjusted limits are always normal.

    Returns
    -------
    FunnelResult
        ``.table`` with columns ``unit, n, n_events, rate, statistic, lower_95, upper_95,
        lower_998, upper_998, flag``; ``.target``, ``.phi``, ``.tau2``;
        ``.limits_curve(n_grid)``; ``.plot()``.

    Notes
    -----
    With :math:`s_i^2 = \theta_0(1-\theta_0)/n_i` and :math:`y_i = r_i/n_i`:

    * normal limits: :math:`\theta_0 \pm z_{p}\, s_i`;
    * exact limits (Spiegelhalter 2005, appendix A.1.1): :math:`r_p` is the smallest
      :math:`r` with :math:`P(R \le r) \ge p` for :math:`R \sim Bin(n_i, \theta_0)`;
      :math:`\alpha = [P(R \le r_p) - p] / [P(R \le r_p) - P(R \le r_p - 1)]`; the
      limit is :math:`(r_p - \alpha)/n_i`, set to 0 if negative. The lower limit uses
      :math:`p = (1-\text{level})/2`, the upper :math:`1 - (1-\text{level})/2`;
    * z-scores :math:`z_i = (y_i - \theta_0)/s_i`; over-dispersion
      :math:`\hat\phi = I^{-1}\sum_i z_{(w)i}^2` from the z-scores winsorised at the
      ``winsor`` and ``1 - winsor`` quantiles (R's ``quantile`` type 7);
    * additive: :math:`\hat\tau^2 = \max\{0, [I\hat\phi - (I-1)] /
      [\sum w_i - \sum w_i^2/\sum w_i]\}`, :math:`w_i = 1/s_i^2`; limits
      :math:`\theta_0 \pm z_p\sqrt{s_i^2 + \hat\tau^2}` and z-scores
      :math:`(y_i - \theta_0)/\sqrt{s_i^2 + \hat\tau^2}`;
    * multiplicative: limits :math:`\theta_0 \pm z_p\sqrt{\hat\phi}\, s_i`.

    No adjustment is made when :math:`\hat\phi \le 1` (the limits stay as with
    ``overdispersion=False``, and :math:`\hat\tau^2 = 0`). Winsorising protects
    :math:`\hat\phi` from outlying units, at a price: when no unit is outlying it
    is biased downwards (for standard normal z-scores the 10%-winsorised mean square is
    about 0.68, not 1), so :math:`\hat\tau^2` is underestimated and somewhat more than
    the nominal share of units is flagged (about 11% outside 95% limits in this module's
    simulation test, against 5% with ``winsor=0``, the plain moment estimator, and 30%
    unadjusted). Everything is on the
    proportion scale (no variance-stabilising transformation).

    Flags: with normal or adjusted limits a unit is flagged when its proportion is
    strictly outside a limit. With exact limits it is flagged when its mid-p tail
    probability, :math:`P(R > r) + \tfrac12 P(R = r)` (or :math:`P(R < r) +
    \tfrac12 P(R = r)`), is below :math:`(1-\text{level})/2`. This is exactly the
    point :math:`(r - \tfrac12)/n` compared with the interpolated limits, because the
    interpolation treats :math:`R` as spread evenly over :math:`[r-1, r]`; comparing
    :math:`r/n` itself would flag every 1-of-1 unit (at :math:`n = 1`, target 0.5,
    the upper 99.8% limit is 0.998). So a point drawn within :math:`1/(2n)` of a limit
    may carry the other flag; the plot's markers follow the flags. Units with ``n = 0`` are kept with
    missing rate and limits and flag ``"no data"``; they do not enter the target or
    :math:`\hat\phi`. Units with ``n = 1`` are valid (their limits are wide: usually
    0 and 1, so they cannot be flagged).

    References
    ----------
    Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance.
    *Statistics in Medicine* 24:1185-1202.
    Spiegelhalter DJ, Sherlaw-Johnson C, Bardsley M, Blunt I, Wood C, Grigg O (2012).
    Statistical methods for healthcare regulation: rating, screening and surveillance.
    *JRSS A* 175:1-47.

    R equivalent: ``FunnelPlotR::funnel_plot(..., data_type = "PR")`` (which transforms
    proportions before the additive adjustment, so its adjusted limits differ); the
    unadjusted exact limits are ``qbinom``/``pbinom`` as in
    ``tests/reference/funnel_limits.R``.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"la": list("AAAABBBB"), "done": [1, 1, 1, 0, 0, 0, 1, 0]})
    >>> res = funnel_limits(rows, "la", "done", method="normal")
    >>> res.table[["unit", "n", "n_events", "rate"]]
      unit  n  n_events  rate
    0    A  4         3  0.75
    1    B  4         1  0.25
    >>> float(res.table["statistic"].iloc[0])
    1.0
    """
    if method not in ("exact", "normal"):
        raise RpcEvalError(f"method must be 'exact' or 'normal', not {method!r}")
    if overdispersion is True:
        overdispersion = "additive"
    if overdispersion not in (False, "additive", "multiplicative"):
        raise RpcEvalError("overdispersion must be False, True/'additive' or "
                           f"'multiplicative', not {overdispersion!r}")
    try:
        levels = tuple(float(v) for v in limits)
    except (TypeError, ValueError):
        raise RpcEvalError("limits must be two coverage levels, e.g. (0.95, 0.998)") from None
    if len(levels) != 2 or not all(0 < v < 1 for v in levels) or levels[0] >= levels[1]:
        raise RpcEvalError("limits must be two increasing coverage levels in (0, 1), "
                           "e.g. (0.95, 0.998)")
    if not 0 <= winsor < 0.5:
        raise RpcEvalError("winsor must be in [0, 0.5)")

    counts, n_dropped = _as_counts(data, unit, numerator, denominator)
    has = counts["n"] > 0
    if not has.any():
        raise RpcEvalError("every unit has a denominator of 0: there is nothing to compare")
    if target is None:
        theta = counts.loc[has, "events"].sum() / counts.loc[has, "n"].sum()
        if theta <= 0 or theta >= 1:
            raise RpcEvalError(f"the overall proportion is {theta:g}: every outcome is the "
                               "same, so no unit can differ from the target")
    else:
        theta = float(target)
        if not 0 < theta < 1:
            raise RpcEvalError(f"target must lie strictly between 0 and 1, not {target!r}")

    notes: list[str] = []
    n = counts["n"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, counts["events"] / n, np.nan)
        s2 = np.where(n > 0, theta * (1 - theta) / n, np.nan)
        z = (rate - theta) / np.sqrt(s2)

    phi, tau2, adjustment = math.nan, math.nan, "none"
    n_units = int(has.sum())
    if overdispersion:
        if n_units < 3:
            raise RpcEvalError(f"over-dispersion cannot be estimated from {n_units} "
                               "unit(s) with data; use overdispersion=False")
        zw = _winsorise(z[has.to_numpy()], winsor)
        phi = float(np.mean(zw**2))
        tau2 = 0.0
        if phi > 1:
            adjustment = overdispersion
            if overdispersion == "additive":
                w = 1.0 / s2[has.to_numpy()]
                denom = w.sum() - (w**2).sum() / w.sum()
                tau2 = max(0.0, float((n_units * phi - (n_units - 1)) / denom))
                if tau2 == 0.0:
                    adjustment = "none"
                    notes.append("phi > 1 but the additive tau^2 estimate is 0; limits "
                                 "not widened")
                with np.errstate(invalid="ignore"):
                    z = (rate - theta) / np.sqrt(s2 + tau2)
            else:
                z = z / math.sqrt(phi)
        else:
            notes.append(f"phi = {phi:.3f} <= 1: no over-dispersion, limits not widened")

    res = FunnelResult(table=pd.DataFrame(), target=float(theta), phi=phi, tau2=tau2,
                       method=method, adjustment=adjustment, limits=levels,
                       overdispersion=overdispersion, n_units=n_units, notes=notes,
                       n_dropped=n_dropped)
    lims = res._limits_at(n)
    inner, outer = (_level_tag(v) for v in levels)
    flag = np.full(len(n), "within", dtype=object)
    if adjustment == "none" and method == "exact":
        # mid-p exact tails == the point (r - 1/2)/n against the interpolated limits
        r = counts["events"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            half = 0.5 * stats.binom.pmf(r, n, theta)
            low_tail = stats.binom.cdf(r - 1, n, theta) + half
            high_tail = stats.binom.sf(r, n, theta) + half
        for level in levels:
            a = (1 - level) / 2
            flag[(n > 0) & (high_tail < a)] = f"above {_level_pct(level)}"
            flag[(n > 0) & (low_tail < a)] = f"below {_level_pct(level)}"
    else:
        for level in levels:
            tag = _level_tag(level)
            flag[rate > lims[f"upper_{tag}"]] = f"above {_level_pct(level)}"
            flag[rate < lims[f"lower_{tag}"]] = f"below {_level_pct(level)}"
    flag[n == 0] = NO_DATA
    if (n == 0).any():
        notes.append(f"{int((n == 0).sum())} unit(s) with n = 0 shown as 'no data'")
    table = pd.DataFrame({"unit": counts["unit"].to_numpy(), "n": counts["n"],
                          "n_events": counts["events"], "rate": rate, "statistic": z,
                          **lims,
                          "flag": flag})
    res.table = table.reset_index(drop=True)
    return res


# --------------------------------------------------------------------------- caterpillar
def caterpillar_plot(data: pd.DataFrame, ax: Any = None, *, component: str | None = None,
                     sort: bool = True, label_top: int | None = None,
                     xlabel: str = "Estimated effect (difference from average)",
                     ylabel: str = "Local authority", title: str | None = None) -> Any:
    """Caterpillar plot of random effects (conditional modes) with prediction intervals.

    Parameters
    ----------
    data : DataFrame
        Columns ``level, estimate, pi_low, pi_high`` (e.g. a mixed model's
        ``.blups()``, whose columns are
        :data:`rpc_eval.multilevel.lmm.BLUP_COLUMNS`). If it also has a ``component`` column
        naming the grouping factor and that column holds more than one factor, choose
        one with ``component=``.
    ax : matplotlib Axes, optional
    component : str, optional
        Value of the ``component`` column to draw (e.g. ``"la_code"``).
    sort : bool
        Sort levels by their estimate (default) or keep the input order.
    label_top : int, optional
        Label only the ``label_top`` highest and lowest levels on the y axis (useful
        with many LAs). Default: label every level when there are at most 40, none
        otherwise.

    Returns
    -------
    matplotlib Axes
        Intervals are a horizontal line collection; estimates are points; a dashed
        vertical line marks 0. Levels whose interval lies wholly above 0 are vermilion
        upward triangles, wholly below 0 blue downward triangles, others grey circles.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> b = pd.DataFrame({"level": ["A", "B", "C"], "estimate": [0.5, -0.1, -0.6],
    ...                   "pi_low": [0.1, -0.5, -1.0], "pi_high": [0.9, 0.3, -0.2]})
    >>> ax = caterpillar_plot(b)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['C', 'B', 'A']
    """
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError(f"data must be a pandas DataFrame of random effects, not "
                           f"{type(data).__name__}")
    cols = ["level", "estimate", "pi_low", "pi_high"]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise RpcEvalError(f"data has no column(s) {', '.join(map(repr, missing))}; its "
                           f"columns are {', '.join(map(str, data.columns))}")
    tab = data
    if component is not None:
        if "component" not in tab.columns:
            raise RpcEvalError("component= was given but data has no 'component' column")
        tab = tab.loc[tab["component"] == component]
        if tab.empty:
            raise RpcEvalError(f"data has no rows for component {component!r}; its "
                               "components are "
                               f"{', '.join(map(str, pd.unique(data['component'])))}")
    elif "component" in tab.columns and tab["component"].nunique() > 1:
        raise RpcEvalError("data holds several grouping factors ("
                           f"{', '.join(map(str, pd.unique(tab['component'])))}); choose "
                           "one with component=")
    if "term" in tab.columns and tab["term"].nunique() > 1:
        raise RpcEvalError("data holds several random-effect terms; filter to one term "
                           "(e.g. the intercept) before plotting")
    if tab.empty:
        raise RpcEvalError("data is empty: there is nothing to plot")
    tab = tab[cols].copy()
    for c in cols[1:]:
        tab[c] = pd.to_numeric(tab[c], errors="coerce")
    if tab[cols[1:]].isna().any().any():
        raise RpcEvalError("data has missing or non-numeric estimates or intervals")
    if sort:
        tab = tab.sort_values("estimate", kind="mergesort")
    tab = tab.reset_index(drop=True)
    y = np.arange(len(tab))
    up = (tab["pi_low"] > 0).to_numpy()
    down = (tab["pi_high"] < 0).to_numpy()
    mid = ~(up | down)

    if ax is None:
        import matplotlib.pyplot as plt

        height = min(max(3.0, 0.22 * len(tab) + 1.2), 16.0)
        _, ax = plt.subplots(figsize=(7.0, height), layout="constrained")
    ax.axvline(0.0, color=_BLACK, linestyle="--", linewidth=1.0, zorder=1)
    colours = np.where(up, _VERMILION, np.where(down, _BLUE, _GREY))
    ax.hlines(y, tab["pi_low"], tab["pi_high"], colors=list(colours), linewidth=1.4,
              zorder=2)
    styles = [(mid, "o", _GREY, "Interval includes 0"),
              (up, "^", _VERMILION, "Interval above 0"),
              (down, "v", _BLUE, "Interval below 0")]
    for mask, marker, colour, label in styles:
        if mask.any():
            ax.plot(tab.loc[mask, "estimate"], y[mask], linestyle="none", marker=marker,
                    markersize=6 if marker == "o" else 8, color=colour,
                    markeredgecolor=_BLACK if marker != "o" else colour, zorder=3,
                    label=label)
    k = len(tab)
    if label_top is None:
        show = np.arange(k) if k <= 40 else np.array([], dtype=int)
    else:
        if int(label_top) < 0:
            raise RpcEvalError("label_top must be a non-negative whole number")
        order = np.argsort(tab["estimate"].to_numpy(), kind="mergesort")
        m = min(int(label_top), k)
        show = np.unique(np.concatenate([order[:m], order[k - m:]])) if m else \
            np.array([], dtype=int)
    ax.set_yticks(y[show])
    ax.set_yticklabels([str(v) for v in tab["level"].to_numpy()[show]])
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_xlabel(xlabel, fontsize=_FS_LABEL)
    ax.set_ylabel(ylabel, fontsize=_FS_LABEL)
    ax.tick_params(axis="x", labelsize=_FS_TICK)
    ax.tick_params(axis="y", labelsize=_FS_TICK if k <= 25 else 10)
    if title:
        ax.set_title(title, fontsize=_FS_TITLE)
    ax.grid(True, axis="x", color=_GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=_FS_LEGEND, frameon=True, loc="best")
    return ax
