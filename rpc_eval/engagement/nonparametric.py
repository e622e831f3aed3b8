"""Non-parametric time-to-event estimates: Kaplan-Meier, log-rank, cumulative incidence.

Engagement with a programme ends in one of two ways, dropout or completion, or is
still going on (censored). This module estimates, from any DataFrame with a duration
column and an integer event column (``0`` censored, ``1, 2, ...`` event types; the
time-to-event frame of :mod:`rpc_eval.engagement.timetoevent` codes 1 dropout and
2 completion):

* :func:`kaplan_meier` -- the survival ("retention") curve. With
  ``event_of_interest=1`` it is time to dropout with completion treated as censoring;
  with ``None`` every event ends a spell (time in the programme). Greenwood variance,
  CIs as ``survival::survfit``.
* :func:`logrank_test` -- the k-sample log-rank test, optionally stratified, as
  ``survival::survdiff`` (rho = 0).
* :func:`cumulative_incidence` -- the Aalen-Johansen cumulative incidence function
  (CIF) of each event type in the presence of the others (the right estimate of "the
  proportion who dropped out by session k" when completion competes with dropout;
  ``1 - KM`` with competing events censored overstates it). Tied times are handled by
  the grouped-ties formula, deterministically (no random jitter as in lifelines'
  ``AalenJohansenFitter``); the variance is the one of ``cmprsk::cuminc``.
* :func:`gray_test` -- Gray's (1988) k-sample test for equality of CIFs, as
  ``cmprsk::cuminc(...)$Tests`` (rho = 0).

All functions are vectorised with numpy (one sort of the data, cumulative sums over
distinct times; no loop over subjects): Kaplan-Meier and the CIF of 100,000 rows take
a few hundredths of a second.

Notation used below: at the distinct observed times ``t_1 < t_2 < ...`` (of a group),
``n_j`` is the number at risk (duration >= t_j), ``d_j`` the number of events (of the
kind that ends the curve), ``d_cj`` the number of events of cause ``c``, ``S(t)`` the
all-cause Kaplan-Meier estimate and ``S(t_j-)`` its value just before ``t_j``.

References
----------
Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete observations.
JASA 53:457-481.
Greenwood M (1926). The natural duration of cancer. Reports on Public Health and
Medical Subjects 33. HMSO.
Aalen OO, Johansen S (1978). An empirical transition matrix for non-homogeneous Markov
chains based on censored observations. Scand J Statist 5:141-150.
Gray RJ (1988). A class of K-sample tests for comparing the cumulative incidence of a
competing risk. Annals of Statistics 16:1141-1154.
Therneau TM, Grambsch PM (2000). Modeling Survival Data. Springer (survfit, survdiff).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from rpc_eval._util import check_ci as _check_ci
from rpc_eval.engagement.eventcodes import event_codes, type_code
from rpc_eval.errors import DataQualityWarning, RpcEvalError, RpcEvalWarning
from rpc_eval.results import Result

__all__ = [
    "kaplan_meier",
    "KaplanMeierResult",
    "logrank_test",
    "cumulative_incidence",
    "CumulativeIncidenceResult",
    "gray_test",
    "KM_COLUMNS",
    "CIF_COLUMNS",
    "TEST_COLUMNS",
    "GRAY_COLUMNS",
]

#: Columns of :attr:`KaplanMeierResult.table`.
KM_COLUMNS = ["group", "time", "n_at_risk", "n_events", "n_censored", "survival",
              "std_error", "ci_low", "ci_high"]
#: Columns of :attr:`CumulativeIncidenceResult.table` and of its ``at()``.
CIF_COLUMNS = ["group", "cause", "time", "cif", "variance", "ci_low", "ci_high"]
#: Columns of :func:`logrank_test`.
TEST_COLUMNS = ["test", "statistic", "df", "p_value"]
#: Columns of :func:`gray_test`.
GRAY_COLUMNS = ["cause", "statistic", "df", "p_value"]
#: Columns of :meth:`KaplanMeierResult.median`.
MEDIAN_COLUMNS = ["group", "n", "n_events", "median", "ci_low", "ci_high"]

_KM_CONF_TYPES = ("log", "log-log", "plain")
_CIF_CONF_TYPES = ("log-log", "plain")
ALL = "all"  # group label when no grouping column is given


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------

@dataclass
class _Prepared:
    time: np.ndarray  # float64
    code: np.ndarray  # int64 event codes, 0 censored, j = types[j - 1]
    group: np.ndarray  # int codes into labels
    labels: list
    strata: np.ndarray | None
    integer_time: bool
    types: list  # the event codes of the data, in sorted order

    def code_of(self, event_code: Any) -> int:
        """Internal code of an event code of the data (0 when it does not occur)."""
        return type_code(self.types, event_code) or 0


def _prepare(df: pd.DataFrame, duration: str, event: str, group: str | None = None,
             strata: str | None = None, censored: Any = 0,
             model: str = "the estimate") -> _Prepared:
    """Check the columns and return clean numpy arrays. Rows with a missing value in a
    used column are left out with a :class:`DataQualityWarning` (never silently); the
    event codes are read by :func:`rpc_eval.engagement.eventcodes.event_codes`."""
    if not isinstance(df, pd.DataFrame):
        raise RpcEvalError(f"data must be a pandas DataFrame, not {type(df).__name__}")
    cols = [c for c in (duration, event, group, strata) if c is not None]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise RpcEvalError(
            f"column(s) {', '.join(map(repr, missing))} not in the data; it has "
            f"{', '.join(map(str, df.columns[:20]))}")
    if len(set(cols)) != len(cols):
        raise RpcEvalError(f"the same column is used twice among {cols}")
    sub = df[cols]
    bad = sub.isna().any(axis=1).to_numpy()
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} of {len(sub)} rows have a missing {', '.join(cols)} and "
            "were left out", DataQualityWarning, stacklevel=3)
        sub = sub.loc[~bad]
    if len(sub) == 0:
        raise RpcEvalError("no rows to analyse (the data are empty after leaving out "
                           "rows with missing values)")
    t_raw = sub[duration]
    if pd.api.types.is_bool_dtype(t_raw) or not pd.api.types.is_numeric_dtype(t_raw):
        raise RpcEvalError(f"duration column {duration!r} must be numeric "
                           f"(days, sessions ...), got dtype {t_raw.dtype}")
    integer_time = pd.api.types.is_integer_dtype(t_raw)
    t = t_raw.to_numpy(dtype=float)
    if not np.isfinite(t).all():
        raise RpcEvalError(f"duration column {duration!r} has infinite values")
    if (t < 0).any():
        raise RpcEvalError(f"duration column {duration!r} has {int((t < 0).sum())} "
                           "negative values; durations must be >= 0")
    code, types = event_codes(sub[event], event, censored, model=model)
    if group is None:
        gcode = np.zeros(len(t), dtype=np.int64)
        labels: list = [ALL]
    else:
        g = sub[group]
        if isinstance(g.dtype, pd.CategoricalDtype):
            g = g.cat.remove_unused_categories()
            gcode = g.cat.codes.to_numpy(dtype=np.int64)
            labels = list(g.cat.categories)
        else:
            codes, uniq = pd.factorize(g, sort=True)
            gcode = codes.astype(np.int64)
            labels = list(uniq)
    scode = None
    if strata is not None:
        scode = pd.factorize(sub[strata], sort=True)[0].astype(np.int64)
    return _Prepared(t, code, gcode, labels, scode, integer_time, types)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _tabulate(t: np.ndarray, code: np.ndarray, ncode: int):
    """Distinct times and, per time, the number at risk, and counts per event code
    (column 0 = censored). Returns (times, n_risk, counts[T, ncode])."""
    times, inv = np.unique(t, return_inverse=True)
    counts = np.bincount(inv * ncode + code, minlength=len(times) * ncode)
    counts = counts.reshape(len(times), ncode).astype(float)
    total = counts.sum(axis=1)
    n_risk = np.cumsum(total[::-1])[::-1]
    return times, n_risk, counts


# --------------------------------------------------------------------------------------
# Kaplan-Meier
# --------------------------------------------------------------------------------------

def _km_ci(surv: np.ndarray, se_h: np.ndarray, z: float, conf_type: str):
    """CI limits as survival:::survfit_confint (se_h is the SE of the cumulative
    hazard, i.e. of log S)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            low = np.exp(np.log(xx) - z * se_h)
            high = np.minimum(np.exp(np.log(xx) + z * se_h), 1.0)
        elif conf_type == "log-log":
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            se2 = z * se_h / np.log(xx)
            low = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
            high = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
        else:  # plain
            se2 = z * se_h * surv
            low = np.maximum(surv - se2, 0.0)
            high = np.minimum(surv + se2, 1.0)
            low = np.where(np.isnan(se2), np.nan, low)
            high = np.where(np.isnan(se2), np.nan, high)
    return low, high


def _median_of(y: np.ndarray, x: np.ndarray) -> float:
    """First time the curve y reaches 0.5 or below; if it sits exactly at 0.5, the
    midpoint to the next drop (survival:::survmean's ``minmin``)."""
    tol = np.finfo(float).eps ** 0.5
    keep = ~np.isnan(y) & (y < 0.5 + tol)
    if not keep.any():
        return math.nan
    xk, yk = x[keep], y[keep]
    if abs(yk[0] - 0.5) < tol:
        lower = np.flatnonzero(yk < yk[0])
        if lower.size:
            return float((xk[0] + xk[lower[0]]) / 2)
    return float(xk[0])


@dataclass(repr=False)
class KaplanMeierResult(Result):
    """Kaplan-Meier estimates, as returned by :func:`kaplan_meier`.

    Attributes
    ----------
    table : DataFrame
        One row per distinct observed time per group (event or censoring times, like
        ``summary(survfit(...), censored = TRUE)``): :data:`KM_COLUMNS`, ``group, time,
        n_at_risk, n_events, n_censored, survival, std_error, ci_low, ci_high``.
        ``std_error`` is the Greenwood standard error of ``survival`` (survival scale,
        as ``summary.survfit``; NaN once the curve reaches 0, as R). The CI limits are
        NaN where the transform is undefined, as in R: ``survival = 0`` (every type) and
        ``survival = 1`` for ``"log-log"``.
    ci : float
        Confidence level.
    conf_type : str
        ``"log"``, ``"log-log"`` or ``"plain"``.
    duration, event, group : str or None
        The column names used.
    event_of_interest : scalar or None
        Event code that ends the curve (others are censored); ``None`` = any event.
    """

    table: pd.DataFrame
    ci: float
    conf_type: str
    duration: str
    event: str
    group: str | None = None
    event_of_interest: Any = None

    @property
    def groups(self) -> list:
        """Group labels in table order."""
        return list(pd.unique(self.table["group"]))

    def at_risk(self, times: Sequence[float]) -> pd.DataFrame:
        """Numbers at risk (duration >= t) at the given times, per group.

        Returns a DataFrame ``group, time, n_at_risk`` (as ``summary(fit, times = ...,
        extend = TRUE)$n.risk``); 0 after the last observed time.
        """
        tt = np.sort(np.unique(np.asarray(times, dtype=float)))
        out = []
        for g in self.groups:
            sub = self.table[self.table["group"] == g]
            tg = sub["time"].to_numpy(dtype=float)
            nr = sub["n_at_risk"].to_numpy()
            idx = np.searchsorted(tg, tt, side="left")
            n = np.where(idx < len(tg), nr[np.minimum(idx, len(tg) - 1)], 0)
            out.append(pd.DataFrame({"group": g, "time": tt, "n_at_risk": n.astype(np.int64)}))
        return pd.concat(out, ignore_index=True)

    def median(self) -> pd.DataFrame:
        """Median time with its CI per group, as ``print(survfit(...))``.

        Returns a DataFrame :data:`MEDIAN_COLUMNS` (``group, n, n_events, median,
        ci_low, ci_high``): the median is the first time the survival curve is at or
        below 0.5 (the midpoint to the next drop when it sits exactly at 0.5); the CI
        limits are the same read off the CI curves. NaN means "not reached" (the curve
        or limit never falls to 0.5).
        """
        rows = []
        for g in self.groups:
            sub = self.table[self.table["group"] == g]
            x = sub["time"].to_numpy(dtype=float)
            rows.append({
                "group": g,
                "n": int(sub["n_at_risk"].iloc[0]),
                "n_events": int(sub["n_events"].sum()),
                "median": _median_of(sub["survival"].to_numpy(), x),
                "ci_low": _median_of(sub["ci_low"].to_numpy(), x),
                "ci_high": _median_of(sub["ci_high"].to_numpy(), x),
            })
        return pd.DataFrame(rows, columns=MEDIAN_COLUMNS)

    def _title(self) -> str:
        from rpc_eval.engagement.plots import event_label

        what = ("any event" if self.event_of_interest is None
                else f"{event_label(self.event_of_interest)} (other events censored)")
        return f"Kaplan-Meier estimate of time to event: {what}"

    def _facts(self) -> list[tuple[str, Any]]:
        return [("Groups", len(self.groups)), ("Duration", self.duration),
                ("Confidence level", self.ci), ("Interval", self.conf_type)]

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"median": self.median(), "table": self.table}

    def _notes(self) -> list[str]:
        return ["median NaN: not reached (the curve, or the limit, never falls to 0.5)"]

    def to_frame(self) -> pd.DataFrame:
        """The estimates, one row per group and time (``table``), as a copy."""
        return self.table.copy()

    def plot(self, ax: Any = None, *, show_ci: bool = True, xlabel: str | None = None,
             ylabel: str | None = None, title: str | None = None) -> Any:
        """Step curves of the survival estimate per group with CI bands.

        Drawn by :func:`rpc_eval.engagement.plots.plot_retention` (Okabe-Ito colours
        with line styles, labels in words).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is made when omitted.
        show_ci : bool
            Shade the confidence band.
        xlabel, ylabel, title : str, optional
            Labels (default: the duration column in words, "Not yet <event>" and the
            estimate's title).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from rpc_eval.engagement.plots import event_label, words

        if ylabel is None:
            ylabel = ("Share still in the programme" if self.event_of_interest is None
                      else f"Share not yet {event_label(self.event_of_interest).lower()}")
        from rpc_eval.engagement.plots import plot_retention

        return plot_retention(
            self.table, ax=ax, show_ci=show_ci, xlabel=xlabel or words(self.duration),
            ylabel=ylabel, title=title if title is not None else self._title(),
            legend_title=words(self.group) if self.group else None)


def kaplan_meier(data: pd.DataFrame, duration: str, event: str, *,
                 group: str | None = None, event_of_interest: Any = 1,
                 censored: Any = 0, ci: float = 0.95,
                 conf_type: str = "log") -> KaplanMeierResult:
    """Kaplan-Meier survival curves with Greenwood standard errors.

    Parameters
    ----------
    data : DataFrame
        One row per subject (parent).
    duration : str
        Column of durations (days, sessions, ...), >= 0.
    event : str
        Column of event codes, numbers (``0`` censored, ``1`` dropout, ``2``
        completion; bool is read as 0/1) or text (``"ongoing"``, ``"dropped_out"``,
        ``"completed"``), read as :func:`fit_cox` reads them
        (:func:`rpc_eval.engagement.eventcodes.event_codes`).
    group : str, optional
        Column to estimate a curve per group (labels sorted, or in category order).
    event_of_interest : scalar or None
        Event code that ends a spell; other codes count as censored (``1``, the
        default, = time to dropout with completion censored: "retention" in the dropout
        sense). ``None``: any event ends a spell (time in the programme). A code that
        does not occur gives flat curves, with a warning.
    censored : scalar or None
        The code of censored rows (default 0; e.g. ``"ongoing"`` for text codes). A
        code that does not occur is refused naming the codes found (numbers without it
        are accepted with a warning: complete follow-up).
    ci : float
        Confidence level (default 0.95).
    conf_type : {"log", "log-log", "plain"}
        CI transform; "log" is ``survfit``'s default.

    Returns
    -------
    KaplanMeierResult
        ``.table`` has columns :data:`KM_COLUMNS`, ``group, time, n_at_risk, n_events,
        n_censored, survival, std_error, ci_low, ci_high`` (``group`` is ``"all"``
        without ``group=``); see also ``.at_risk(times)``, ``.median()``,
        ``.summary()``, ``.plot()``.

    Notes
    -----
    ``S(t) = prod_{t_j <= t} (1 - d_j / n_j)``; Greenwood:
    ``Var(log S(t)) = sum_{t_j <= t} d_j / (n_j (n_j - d_j))`` with ``se_H`` its square
    root and ``std_error = S(t) se_H``. CIs with ``z = Phi^-1((1 + ci) / 2)``:
    "log" ``S exp(+-z se_H)`` (upper capped at 1); "log-log"
    ``S^exp(+-z se_H / log S)``; "plain" ``S (1 +- z se_H)`` clipped to [0, 1]
    (``survival:::survfit_confint``). Times are used as given (R's ``timefix`` merges
    times that differ by rounding error only; round such times first).

    R equivalent: ``summary(survfit(Surv(time, event == k) ~ group, conf.type = "log"),
    censored = TRUE)``; the median: ``print(survfit(...))``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"days": [2, 3, 3, 5, 8, 9], "event": [1, 0, 2, 1, 0, 1]})
    >>> km = kaplan_meier(d, "days", "event", event_of_interest=None)
    >>> km.table["survival"].round(4).tolist()
    [0.8333, 0.6667, 0.4444, 0.4444, 0.0]
    >>> kaplan_meier(d, "days", "event", event_of_interest=1).table["n_events"].tolist()
    [1, 0, 1, 0, 1]

    Text codes work as in :func:`fit_cox`:

    >>> words = d.assign(status=d["event"].map({0: "ongoing", 1: "dropped_out",
    ...                                          2: "completed"}))
    >>> kaplan_meier(words, "days", "status", event_of_interest="dropped_out",
    ...              censored="ongoing").table["n_events"].tolist()
    [1, 0, 1, 0, 1]
    """
    ci = _check_ci(ci)
    if conf_type not in _KM_CONF_TYPES:
        raise RpcEvalError(f"conf_type must be one of {_KM_CONF_TYPES}, got {conf_type!r}")
    p = _prepare(data, duration, event, group, censored=censored,
                 model="the Kaplan-Meier estimate")
    if event_of_interest is None:
        d = (p.code != 0).astype(np.int64)
    else:
        k = p.code_of(event_of_interest)
        d = ((p.code == k) & (k > 0)).astype(np.int64)
    z = stats.norm.ppf(1 - (1 - ci) / 2)
    what = "events" if event_of_interest is None else f"events of type {event_of_interest}"
    if d.sum() == 0:
        warnings.warn(f"there are no {what}: every survival estimate is 1 and the median "
                      "is not reached", RpcEvalWarning, stacklevel=2)
    parts = []
    for gi, label in enumerate(p.labels):
        m = p.group == gi
        times, n_risk, counts = _tabulate(p.time[m], d[m], 2)
        n_event, n_censor = counts[:, 1], counts[:, 0]
        if len(p.labels) > 1 and d[m].sum() == 0 and d.sum() > 0:
            warnings.warn(f"group {label!r} has no {what}: its curve stays at 1",
                          RpcEvalWarning, stacklevel=2)
        if m.sum() == 1:
            warnings.warn(f"group {label!r} has a single subject: its curve is one step "
                          "and has no useful CI", RpcEvalWarning, stacklevel=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            surv = np.cumprod(1.0 - n_event / n_risk)
            term = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
            se_h = np.sqrt(np.cumsum(term))
            std_error = np.where(np.isinf(se_h), np.nan, surv * se_h)
        low, high = _km_ci(surv, se_h, z, conf_type)
        parts.append(pd.DataFrame({
            "group": [label] * len(times),
            "time": times.astype(np.int64) if p.integer_time else times,
            "n_at_risk": n_risk.astype(np.int64),
            "n_events": n_event.astype(np.int64),
            "n_censored": n_censor.astype(np.int64),
            "survival": surv,
            "std_error": std_error,
            "ci_low": low,
            "ci_high": high,
        }))
    table = pd.concat(parts, ignore_index=True)[KM_COLUMNS]
    return KaplanMeierResult(table=table, ci=ci, conf_type=conf_type, duration=duration,
                             event=event, group=group, event_of_interest=event_of_interest)


# --------------------------------------------------------------------------------------
# log-rank
# --------------------------------------------------------------------------------------

def logrank_test(data: pd.DataFrame, duration: str, event: str, *, group: str,
                 event_of_interest: Any = 1, censored: Any = 0,
                 strata: str | None = None) -> pd.DataFrame:
    """k-sample log-rank test of equal hazards (survival curves) across groups.

    Parameters
    ----------
    data : DataFrame
    duration, event : str
        As :func:`kaplan_meier` (numeric or text event codes).
    group : str
        Column of the groups compared.
    event_of_interest : scalar or None
        Event code tested (others censored; default 1); ``None`` = any event.
    censored : scalar or None
        The code of censored rows (default 0), as :func:`kaplan_meier`.
    strata : str, optional
        Column of strata: observed - expected and its variance are summed over strata
        (``survdiff(... + strata(s))``).

    Returns
    -------
    DataFrame
        One row, :data:`TEST_COLUMNS`: ``test`` ("log-rank" or "stratified log-rank"),
        ``statistic`` (chi-square), ``df``, ``p_value``.

    Notes
    -----
    At each distinct event time ``t_j`` with ``n_j`` at risk and ``d_j`` events in all,
    ``n_jk`` and ``d_jk`` in group ``k``: ``O_k - E_k = sum_j (d_jk - d_j n_jk / n_j)``,
    ``V_kl = sum_j d_j (n_j - d_j) / (n_j - 1) (n_jk / n_j) (delta_kl - n_jl / n_j)``.
    The statistic is ``(O - E)' V^-1 (O - E)`` over the groups with ``E_k > 0`` less the
    first, with ``df`` = their number minus 1, as ``survival::survdiff`` (rho = 0).

    R equivalent: ``survdiff(Surv(time, event == k) ~ group)``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "e": [1, 1, 0, 1, 1, 0, 1, 0],
    ...                   "g": ["a", "a", "a", "a", "b", "b", "b", "b"]})
    >>> res = logrank_test(d, "t", "e", group="g")
    >>> round(float(res["statistic"].iloc[0]), 4), int(res["df"].iloc[0])
    (5.3478, 1)
    """
    p = _prepare(data, duration, event, group, strata, censored=censored,
                 model="the log-rank test")
    if event_of_interest is None:
        d = (p.code != 0).astype(np.int64)
    else:
        k = p.code_of(event_of_interest)
        d = ((p.code == k) & (k > 0)).astype(np.int64)
    k = len(p.labels)
    if k < 2:
        raise RpcEvalError(f"the log-rank test needs at least two groups in {group!r}; "
                           f"found {k}")
    if d.sum() == 0:
        raise RpcEvalError("there are no events, so the log-rank test is undefined")
    strata_codes = p.strata if p.strata is not None else np.zeros(len(d), dtype=np.int64)
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    for s in np.unique(strata_codes):
        m = strata_codes == s
        times, inv = np.unique(p.time[m], return_inverse=True)
        nt = len(times)
        g = p.group[m]
        tot = np.bincount(inv * k + g, minlength=nt * k).reshape(nt, k).astype(float)
        ev = np.bincount(inv * k + g, weights=d[m], minlength=nt * k).reshape(nt, k)
        n_jk = np.cumsum(tot[::-1], axis=0)[::-1]
        keep = ev.sum(axis=1) > 0
        n_jk, ev = n_jk[keep], ev[keep]
        n_j = n_jk.sum(axis=1)
        d_j = ev.sum(axis=1)
        frac = n_jk / n_j[:, None]
        obs += ev.sum(axis=0)
        exp += (d_j[:, None] * frac).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(n_j > 1, d_j * (n_j - d_j) / (n_j - 1), 0.0)
        var += np.diag(np.einsum("j,jk->k", w, frac)) - np.einsum("j,jk,jl->kl", w, frac, frac)
    use = exp > 0
    dof = int(use.sum()) - 1
    if dof < 1:
        raise RpcEvalError("fewer than two groups have subjects at risk at an event "
                           "time, so the log-rank test is undefined")
    diff = (obs - exp)[use][1:]
    vv = var[np.ix_(use, use)][1:, 1:]
    try:
        stat = float(diff @ np.linalg.solve(vv, diff))
    except np.linalg.LinAlgError as err:  # pragma: no cover - needs a degenerate design
        raise RpcEvalError("the log-rank variance matrix is singular") from err
    pval = float(stats.chi2.sf(stat, dof))
    name = "log-rank" if strata is None else "stratified log-rank"
    return pd.DataFrame({"test": [name], "statistic": [stat], "df": [dof],
                         "p_value": [pval]}, columns=TEST_COLUMNS)


# --------------------------------------------------------------------------------------
# cumulative incidence (Aalen-Johansen) with cmprsk's variance
# --------------------------------------------------------------------------------------

def _cif_one(times: np.ndarray, n_risk: np.ndarray, d_c: np.ndarray, d_all: np.ndarray):
    """CIF and its cmprsk::cuminc variance for one cause at the distinct times."""
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d_all / n_risk)
    s_minus = np.r_[1.0, surv[:-1]]
    cif = np.cumsum(s_minus * d_c / n_risk)
    d_o = d_all - d_c
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_s = np.where(surv > 0, 1.0 / surv, 0.0)
        # (d - 1) / (n - 1) tie correction, only used where d > 1 (so n > 1)
        t5_c = np.where(d_c > 1, 1.0 - (d_c - 1.0) / (n_risk - 1.0), 1.0)
        t5_o = np.where(d_o > 1, 1.0 - (d_o - 1.0) / (n_risk - 1.0), 1.0)
    base = s_minus**2 / n_risk**2
    w_c = base * t5_c * d_c  # zero where d_c = 0
    w_o = np.where(surv > 0, base * t5_o * d_o, 0.0)
    b_c = 1.0 + inv_s * cif  # cause-of-interest events
    b_o = cif * inv_s  # competing events
    v1 = np.cumsum(b_c**2 * w_c + b_o**2 * w_o)
    v2 = np.cumsum(inv_s * b_c * w_c + inv_s * b_o * w_o)
    v3 = np.cumsum(inv_s**2 * (w_c + w_o))
    var_at = v1 + cif**2 * v3 - 2.0 * cif * v2
    # cuminc reports the variance at cause-c event times; it is constant in between
    idx = np.where(d_c > 0, np.arange(len(times)), -1)
    idx = np.maximum.accumulate(idx)
    var = np.where(idx >= 0, var_at[np.maximum(idx, 0)], 0.0)
    return cif, var


def _cif_ci(cif: np.ndarray, var: np.ndarray, z: float, conf_type: str):
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log-log":
            # g = log(-log F), se(g) = se / (F |log F|); limits F^exp(+-z se(g))
            c = z * se / (cif * np.abs(np.log(cif)))
            low = cif ** np.exp(c)
            high = cif ** np.exp(-c)
        else:
            low = np.clip(cif - z * se, 0.0, 1.0)
            high = np.clip(cif + z * se, 0.0, 1.0)
    zero = cif <= 0
    low = np.where(zero, 0.0, low)
    high = np.where(zero, 0.0, high)
    one = (cif >= 1) & (var <= 0)
    low = np.where(one, 1.0, low)
    high = np.where(one, 1.0, high)
    return low, high


@dataclass(repr=False)
class CumulativeIncidenceResult(Result):
    """Aalen-Johansen cumulative incidence functions, from :func:`cumulative_incidence`.

    Attributes
    ----------
    table : DataFrame
        One row per group, cause and distinct observed time of the group: ``group,
        cause, time, cif, variance, ci_low, ci_high, n_at_risk, n_events``.
        ``variance`` is cmprsk's (``cuminc(...)$var``); ``cause`` is the event code of
        the data.
    ci : float
        Confidence level.
    conf_type : str
        ``"log-log"`` (default; as tidycmprsk) or ``"plain"``.
    causes : list
        The event codes estimated.
    duration, event, group : str or None
        Column names used.
    """

    table: pd.DataFrame
    ci: float
    conf_type: str
    causes: list
    duration: str
    event: str
    group: str | None = None

    @property
    def groups(self) -> list:
        """Group labels in table order."""
        return list(pd.unique(self.table["group"]))

    def at(self, times: Sequence[float]) -> pd.DataFrame:
        """Estimates at chosen times, like ``cmprsk::timepoints``.

        Returns a DataFrame with the columns of :data:`CIF_COLUMNS`: the step function's
        value at each time (right-continuous). Times after a group's last observed time
        have no estimate (NaN, as ``timepoints``' NA) and a warning names them.
        """
        tt = np.sort(np.unique(np.asarray(times, dtype=float)))
        if (tt < 0).any():
            raise RpcEvalError("times must be >= 0")
        out = []
        beyond = []
        for (g, c), sub in self.table.groupby(["group", "cause"], sort=False):
            tg = sub["time"].to_numpy(dtype=float)
            idx = np.searchsorted(tg, tt, side="right") - 1
            before = idx < 0
            after = tt > tg[-1]
            j = np.maximum(idx, 0)
            res = {}
            for col, fill in (("cif", 0.0), ("variance", 0.0), ("ci_low", 0.0),
                              ("ci_high", 0.0)):
                v = sub[col].to_numpy()[j].astype(float)
                v = np.where(before, fill, v)
                res[col] = np.where(after, np.nan, v)
            if after.any():
                beyond.append(f"{g}: after {tg[-1]:g}")
            out.append(pd.DataFrame({"group": g, "cause": c, "time": tt, **res}))
        if beyond:
            warnings.warn("no estimate after the last observed time of a group ("
                          + "; ".join(sorted(set(beyond))) + "); those rows are NaN",
                          RpcEvalWarning, stacklevel=2)
        return pd.concat(out, ignore_index=True)[CIF_COLUMNS]

    def _title(self) -> str:
        return "Cumulative incidence (Aalen-Johansen) with competing events"

    def final(self) -> pd.DataFrame:
        """The estimate at the end of follow-up per group and cause (columns of
        ``.table``)."""
        return self.table.groupby(["group", "cause"], sort=False).tail(1).reset_index(
            drop=True)

    def _facts(self) -> list[tuple[str, Any]]:
        return [("Groups", len(self.groups)),
                ("Causes", ", ".join(map(str, self.causes))),
                ("Duration", self.duration), ("Confidence level", self.ci),
                ("Interval", self.conf_type)]

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"final": self.final(), "table": self.table}

    def to_frame(self) -> pd.DataFrame:
        """The estimates, one row per group, cause and time (``table``), as a copy."""
        return self.table.copy()

    def plot(self, ax: Any = None, *, stacked: bool = True, group: Any = None,
             show_ci: bool = True, labels: dict | None = None, axes: Any = None,
             xlabel: str | None = None, title: str | None = None) -> Any:
        """Plot the CIFs in the accessible style of :mod:`rpc_eval.engagement.plots`.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on (one group); a new figure is made when omitted.
        stacked : bool
            ``True`` (default): stacked hatched areas, one per cause; the top of the
            stack is ``1 - S(t)`` (all-cause incidence) and the white space above it
            the proportion still in the programme. ``False``: one step line per cause
            (line style and colour), with CI bands when ``show_ci``.
        group : label, optional
            The group to draw; default: every group, one panel each.
        show_ci : bool
            CI bands (unstacked plot only).
        labels : dict, optional
            Names of the causes; default "Dropped out" (1, ``"dropped_out"``),
            "Completed" (2, ``"completed"``), otherwise the code in words.
        axes : sequence of Axes, optional
            One per group, when several groups are drawn.
        xlabel, title : str, optional

        Returns
        -------
        matplotlib.axes.Axes, or an array of Axes (one per group)
        """
        from rpc_eval.engagement.plots import event_label, plot_cumulative_incidence, words

        names = {c: (labels or {}).get(c, event_label(c)) for c in self.causes}
        tab = self.table
        if group is not None:
            if group not in self.groups:
                raise RpcEvalError(f"no group {group!r}; groups are {self.groups}")
            tab = tab[tab["group"] == group]
        tab = tab.assign(cause=tab["cause"].map(names))
        ungrouped = self.group is None or tab["group"].nunique() == 1
        return plot_cumulative_incidence(
            tab, ax=ax, stacked=stacked, axes=axes, group=None if ungrouped else "group",
            show_ci=show_ci and not stacked, causes=[names[c] for c in self.causes],
            xlabel=xlabel or words(self.duration), ylabel="Cumulative incidence",
            title=title if title is not None else (
                f"{words(self.group)}: {group}" if group is not None and self.group
                else None))


def cumulative_incidence(data: pd.DataFrame, duration: str, event: str, *,
                         group: str | None = None, causes: Sequence[Any] | None = None,
                         censored: Any = 0, ci: float = 0.95,
                         conf_type: str = "log-log") -> CumulativeIncidenceResult:
    """Aalen-Johansen cumulative incidence of each event type with competing events.

    Parameters
    ----------
    data : DataFrame
        One row per subject.
    duration : str
        Column of durations, >= 0.
    event : str
        Column of event codes, numbers (0 censored, 1, 2, ... event types) or text
        (``"ongoing"``, ``"dropped_out"``, ``"completed"``), as :func:`kaplan_meier`.
    group : str, optional
        Column to estimate the CIFs per group.
    causes : sequence, optional
        Event codes (causes) to report (default: every event code present). Every
        code other than ``censored`` still counts as a competing event for the others.
    censored : scalar or None
        The code of censored rows (default 0), as :func:`kaplan_meier`.
    ci : float
        Confidence level (default 0.95).
    conf_type : {"log-log", "plain"}
        "log-log" (default): the ``log(-log F)`` transform, ``F^exp(+-z se /
        (F |log F|))``, as ``tidycmprsk::cuminc``; "plain": ``F +- z se`` clipped to
        [0, 1]. Where ``F = 0`` the interval is (0, 0).

    Returns
    -------
    CumulativeIncidenceResult
        ``.table`` with columns ``group, cause, time, cif, variance, ci_low, ci_high,
        n_at_risk, n_events`` (one row per group, cause and distinct observed time;
        ``n_at_risk`` at risk just before ``time``, ``n_events`` events of the cause at
        ``time``); ``.at(times)`` (the first seven columns),
        ``.final()``, ``.summary()``, ``.plot()``.

    Notes
    -----
    With ``S`` the all-cause Kaplan-Meier estimate,
    ``F_c(t) = sum_{t_j <= t} S(t_j-) d_cj / n_j`` (tied times of different causes are
    handled together; nothing is jittered). The variance is the delta-method estimator
    of ``cmprsk::cuminc`` (Gray's program): with ``q_j = 1 - (d - 1) / (n_j - 1)`` for
    ``d > 1`` (else 1) applied to ``d = d_cj`` or to the competing count ``d_oj``,
    ``w_j = S(t_j-)^2 q_j d / n_j^2``, ``a_j = 1 / S(t_j)`` and
    ``b_j = 1 + a_j F_c(t_j)`` (cause ``c`` events) or ``F_c(t_j) a_j`` (competing
    events), the sums ``V1 = sum w b^2``, ``V2 = sum w a b``, ``V3 = sum w a^2`` give
    ``Var F_c(t) = V1 + F_c(t)^2 V3 - 2 F_c(t) V2``, evaluated at the last cause-``c``
    event time ``<= t``.

    R equivalent: ``cmprsk::cuminc(time, event, group, cencode = 0)`` (``$est``,
    ``$var``), ``cmprsk::timepoints()`` for ``.at()``; the log-log CI as
    ``tidycmprsk::cuminc``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"sessions": [1, 2, 2, 3, 4, 4], "event": [1, 2, 1, 0, 1, 2]})
    >>> res = cumulative_incidence(d, "sessions", "event")
    >>> res.at([2, 4])[["cause", "time", "cif"]].round(4).values.tolist()
    [[1.0, 2.0, 0.3333], [1.0, 4.0, 0.5833], [2.0, 2.0, 0.1667], [2.0, 4.0, 0.4167]]
    """
    ci = _check_ci(ci)
    if conf_type not in _CIF_CONF_TYPES:
        raise RpcEvalError(f"conf_type must be one of {_CIF_CONF_TYPES}, got {conf_type!r}")
    p = _prepare(data, duration, event, group, censored=censored,
                 model="the cumulative incidence")
    if causes is None:
        causes = list(p.types)
        if not causes:
            warnings.warn("there are no events (everyone is censored): nothing to "
                          "estimate, the table is empty", RpcEvalWarning, stacklevel=2)
    else:
        causes = [c.item() if hasattr(c, "item") else c for c in causes]
        if censored is not None and any(_same(c, censored) for c in causes):
            raise RpcEvalError(f"{censored!r} is the censoring code, not a cause")
        absent = [c for c in causes if p.code_of(c) == 0]
        if absent:
            warnings.warn(f"no events of cause {absent}: their incidence is 0",
                          RpcEvalWarning, stacklevel=2)
    z = stats.norm.ppf(1 - (1 - ci) / 2)
    ncode = len(p.types) + 2  # censored, the event types, and a column for absent causes
    parts = []
    for gi, label in enumerate(p.labels):
        m = p.group == gi
        times, n_risk, counts = _tabulate(p.time[m], p.code[m], ncode)
        if m.sum() == 1 and len(p.labels) > 1:
            warnings.warn(f"group {label!r} has a single subject", RpcEvalWarning,
                          stacklevel=2)
        d_all = counts[:, 1:len(p.types) + 1].sum(axis=1)
        for c in causes:
            k = p.code_of(c) or ncode - 1  # an absent cause reads an empty column
            cif, var = _cif_one(times, n_risk, counts[:, k], d_all)
            low, high = _cif_ci(cif, var, z, conf_type)
            parts.append(pd.DataFrame({
                "group": [label] * len(times), "cause": [c] * len(times),
                "time": times.astype(np.int64) if p.integer_time else times,
                "cif": cif, "variance": var, "ci_low": low, "ci_high": high,
                "n_at_risk": n_risk.astype(np.int64),
                "n_events": counts[:, k].astype(np.int64)}))
    columns = [*CIF_COLUMNS, "n_at_risk", "n_events"]
    if parts:
        table = pd.concat(parts, ignore_index=True)[columns]
    else:
        table = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    return CumulativeIncidenceResult(table=table, ci=ci, conf_type=conf_type,
                                     causes=list(causes), duration=duration, event=event,
                                     group=group)


# --------------------------------------------------------------------------------------
# Gray's test
# --------------------------------------------------------------------------------------

def _gray_stratum(t: np.ndarray, m: np.ndarray, g: np.ndarray, k: int,
                  chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Score (length k) and variance (k x k) of Gray's test in one stratum.

    ``m`` is 0 censored, 1 cause of interest, 2 other cause; ``g`` in 0..k-1.
    """
    times, inv = np.unique(t, return_inverse=True)
    nt = len(times)
    cnt = np.bincount((inv * k + g) * 3 + m, minlength=nt * k * 3).reshape(nt, k, 3)
    cnt = cnt.astype(float)
    risk = np.cumsum(cnt.sum(axis=2)[::-1], axis=0)[::-1]  # R_jk
    d1 = cnt[:, :, 1]
    d2 = cnt[:, :, 2]
    keep = (d1.sum(axis=1) + d2.sum(axis=1)) > 0
    risk, d1, d2 = risk[keep], d1[keep], d2[keep]
    if len(risk) == 0:
        return np.zeros(k), np.zeros((k, k))
    at = risk > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        fac = np.where(at, 1.0 - (d1 + d2) / risk, 1.0)
        inc1 = np.where(at, d1 / risk, 0.0)
    skm = np.cumprod(fac, axis=0)  # right-continuous KM per group
    skmm = np.vstack([np.ones((1, k)), skm[:-1]])  # left-continuous
    f1 = np.cumsum(skmm * inc1, axis=0)
    f1m = np.vstack([np.zeros((1, k)), f1[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(at, risk / skmm, 0.0)  # R_k / S_k(t-)
        q = np.where(at, risk * (1.0 - f1m) / skmm, 0.0)  # Gray's R_k
    tr = t1.sum(axis=1)
    tq = q.sum(axis=1)
    nd1 = d1.sum(axis=1)
    f = np.cumsum(nd1 / tr)  # pooled estimate
    fm = np.r_[0.0, f[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = (d1 - np.where(at, nd1[:, None] * q / tq[:, None], 0.0)).sum(axis=0)
        w = nd1 / (tr * (1.0 - fm))
    # a_j(i, l) = t1_i (delta_il - t1_l / tr)
    # quantities for the variance
    with np.errstate(divide="ignore", invalid="ignore"):
        t4a = np.where(skm > 0, 1.0 - (1.0 - f[:, None]) / skm, 1.0)
        t5a = np.where(nd1[:, None] > 1,
                       1.0 - (nd1[:, None] - 1.0) / (tr[:, None] * skmm - 1.0), 1.0)
        t3a = np.where(at & (nd1[:, None] > 0), t5a * skmm * nd1[:, None] / (tr[:, None] * risk),
                       0.0)
        ok2 = (skm > 0) & (d2 > 0)
        t4b = np.where(ok2, (1.0 - f[:, None]) / skm, 0.0)
        t5b = np.where(d2 > 1, 1.0 - (d2 - 1.0) / (risk - 1.0), 1.0)
        t3b = np.where(ok2, t5b * skmm**2 * d2 / risk**2, 0.0)
    v = np.zeros((k, k))
    v2 = np.zeros((k, k))  # v2[i, l]
    v3 = (t4a**2 * t3a).sum(axis=0) + (t4b**2 * t3b).sum(axis=0)
    c_prev = np.zeros((k, k))
    eye = np.eye(k)
    for start in range(0, len(tr), chunk):
        sl = slice(start, start + chunk)
        a = t1[sl, :, None] * (eye[None] - t1[sl, None, :] / tr[sl, None, None])
        c = c_prev[None] + np.cumsum(a * w[sl, None, None], axis=0)  # C_j(i, l)
        b = a - t4a[sl, None, :] * c  # B_j(i, l)
        v += np.einsum("jl,jil,jml->im", t3a[sl], b, b)
        v2 += np.einsum("jil,jl->il", b, t4a[sl] * t3a[sl])
        s4 = t4b[sl] ** 2 * t3b[sl]
        v += np.einsum("jl,jil,jml->im", s4, c, c)
        v2 -= np.einsum("jil,jl->il", c, s4)
        c_prev = c[-1]
    cf = c_prev
    v += np.einsum("il,ml,l->im", cf, cf, v3) + cf @ v2.T + v2 @ cf.T
    return score, v


def gray_test(data: pd.DataFrame, duration: str, event: str, *, group: str,
              cause: Any | Sequence[Any] | None = None, censored: Any = 0,
              strata: str | None = None) -> pd.DataFrame:
    """Gray's (1988) k-sample test for equal cumulative incidence of a cause.

    Parameters
    ----------
    data : DataFrame
    duration, event : str
        As :func:`cumulative_incidence` (``censored`` rows censored, other codes
        causes; numbers or text).
    group : str
        Column of the groups compared.
    cause : scalar or sequence, optional
        Cause(s) to test, one row each (default: every cause present).
    censored : scalar or None
        The code of censored rows (default 0), as :func:`kaplan_meier`.
    strata : str, optional
        Column of strata; scores and variances are summed over strata (as
        ``cuminc(..., strata = s)``).

    Returns
    -------
    DataFrame
        :data:`GRAY_COLUMNS`: ``cause, statistic, df, p_value``; ``df`` = number of
        groups - 1.

    Notes
    -----
    Gray's test with weight ``(1 - F)^rho``, ``rho = 0``. At each distinct event time,
    per group ``k``: ``n_k`` at risk, ``S_k(t-)`` all-cause Kaplan-Meier and
    ``F_k(t-)`` the cause's CIF (left limits). Gray's subdistribution risk set is
    ``R_k = n_k (1 - F_k(t-)) / S_k(t-)``; the score of group ``k`` is
    ``s_k = sum_t [d_1k - d_1 R_k / sum_l R_l]``, observed minus expected cause events
    under a common subdistribution hazard. Its variance is Gray's (1988) estimator as
    programmed in ``cmprsk`` (``crstm``). With ``h_k = n_k / S_k(t-)``,
    ``H = sum_k h_k``, the pooled ``F(t) = sum_{u <= t} d_1(u) / H(u)``,
    ``a(i, k) = h_i (delta_ik - h_k / H)`` and its running sum
    ``C_t(i, k) = sum_{u <= t} a_u(i, k) d_1(u) / (H(u) (1 - F(u-)))``, define at each
    event time and for each group ``k`` at risk:

    * cause events (``d_1 > 0``): ``q_k = 1 - (1 - F(t)) / S_k(t)`` (1 if
      ``S_k(t) = 0``), weight ``w_k = g S_k(t-) d_1 / (H n_k)`` with the tie factor
      ``g = 1 - (d_1 - 1) / (H S_k(t-) - 1)``, and ``B = a - q_k C_t``;
    * competing events in group ``k`` (``d_2k > 0``, ``S_k(t) > 0``):
      ``r_k = (1 - F(t)) / S_k(t)``, weight ``u_k = g' S_k(t-)^2 d_2k / n_k^2`` with
      ``g' = 1 - (d_2k - 1) / (n_k - 1)``.

    Then ``V(i, j) = sum_t sum_k [w_k B(i, k) B(j, k) + u_k r_k^2 C_t(i, k) C_t(j, k)]
    + sum_k [C(i, k) C(j, k) v3_k + C(i, k) v2(j, k) + C(j, k) v2(i, k)]`` where ``C`` is
    the final running sum, ``v3_k = sum_t (w_k q_k^2 + u_k r_k^2)`` and
    ``v2(i, k) = sum_t (w_k q_k B(i, k) - u_k r_k^2 C_t(i, k))``. The statistic
    ``s' V^-1 s`` uses the first ``k - 1`` groups (it does not depend on which group is
    left out) and is chi-square with ``k - 1`` df under the null. The sums over time
    are vectorised (cumulative sums and einsum over blocks of event times).

    R equivalent: ``cmprsk::cuminc(time, event, group, cencode = 0)$Tests``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"t": rng.integers(1, 10, 60), "e": rng.integers(0, 3, 60),
    ...                   "g": np.repeat(["a", "b"], 30)})
    >>> gray_test(d, "t", "e", group="g", cause=1).columns.tolist()
    ['cause', 'statistic', 'df', 'p_value']
    """
    p = _prepare(data, duration, event, group, strata, censored=censored,
                 model="Gray's test")
    k = len(p.labels)
    if k < 2:
        raise RpcEvalError(f"Gray's test needs at least two groups in {group!r}; found {k}")
    if cause is None:
        causes = list(p.types)
    elif isinstance(cause, str) or not isinstance(cause, Sequence | np.ndarray):
        causes = [cause.item() if hasattr(cause, "item") else cause]
    else:
        causes = [c.item() if hasattr(c, "item") else c for c in cause]
    if not causes:
        raise RpcEvalError("there are no events, so Gray's test is undefined")
    strata_codes = p.strata if p.strata is not None else np.zeros(len(p.time), np.int64)
    rows = []
    for c in causes:
        kc = p.code_of(c)
        if kc == 0:
            raise RpcEvalError(f"there are no events of cause {c!r}, so Gray's test for it "
                               "is undefined")
        m = np.where(p.code == 0, 0, np.where(p.code == kc, 1, 2))
        score = np.zeros(k)
        var = np.zeros((k, k))
        for s in np.unique(strata_codes):
            sel = strata_codes == s
            sc, vv = _gray_stratum(p.time[sel], m[sel], p.group[sel], k)
            score += sc
            var += vv
        s1, v1 = score[:-1], var[:-1, :-1]
        if np.linalg.matrix_rank(v1) < k - 1:
            warnings.warn(f"Gray's test for cause {c}: the variance matrix is singular "
                          "(a group may have no one at risk at the cause's event times); "
                          "statistic not computed", RpcEvalWarning, stacklevel=2)
            stat = math.nan
        else:
            stat = float(s1 @ np.linalg.solve(v1, s1))
        rows.append({"cause": c, "statistic": stat, "df": k - 1,
                     "p_value": float(stats.chi2.sf(stat, k - 1)) if not math.isnan(stat)
                     else math.nan})
    return pd.DataFrame(rows, columns=GRAY_COLUMNS)
