"""The engagement analysis of a dataset, as the report shows it.

One call runs the funnel, retention (Kaplan-Meier), cumulative incidence of dropout
and completion (Aalen-Johansen) with Gray's test, cause-specific Cox regression of
dropout and Fine-Gray regression of completion (both by intervention, with LA-clustered
standard errors), and the session-by-session dropout hazard. Pure analysis: it
returns results and writes nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rpc_eval.data.model import EvaluationData
from rpc_eval.engagement.cox import CoxResult, fit_cox
from rpc_eval.engagement.discrete import empirical_hazard
from rpc_eval.engagement.finegray import FineGrayResult, fine_gray
from rpc_eval.engagement.funnel import funnel, funnel_table
from rpc_eval.engagement.nonparametric import (
    CumulativeIncidenceResult,
    KaplanMeierResult,
    cumulative_incidence,
    gray_test,
    kaplan_meier,
    logrank_test,
)
from rpc_eval.engagement.separation import SeparationWarning
from rpc_eval.engagement.timetoevent import person_period, time_to_event
from rpc_eval.errors import DataQualityWarning, RpcEvalError
from rpc_eval.results import ResultSet
from rpc_eval.stats.clusters import FewClustersWarning

__all__ = ["EngagementResults", "engagement_analysis", "DEFAULT_COVARIATES"]

#: Covariates of the regression models besides the group: parent characteristics
#: recorded at referral. Rows missing any of them are left out of the models (counted).
DEFAULT_COVARIATES = ("relationship_status", "workless")


@dataclass(repr=False)
class EngagementResults(ResultSet):
    """Everything the engagement section of a report shows.

    A :class:`~rpc_eval.results.ResultSet`: ``repr`` is one line naming the parts,
    Jupyter shows an HTML index of the parts with each part's own view, ``summary()``
    collects the main table of each part.

    Attributes
    ----------
    funnel : DataFrame
        :func:`~rpc_eval.engagement.funnel.funnel` by group, plus ``All`` rows.
    funnel_table : DataFrame
        The overall funnel in the published layout.
    time_to_event : DataFrame
        One row per starter (see :func:`~rpc_eval.engagement.timetoevent.time_to_event`).
    retention : KaplanMeierResult
        Time to dropout in sessions attended (completion and ongoing censored), by group.
    logrank : DataFrame
        :data:`~rpc_eval.engagement.nonparametric.TEST_COLUMNS`.
    cumulative_incidence : CumulativeIncidenceResult
        Dropout (cause 1) and completion (cause 2) by group.
    gray : DataFrame
        :data:`~rpc_eval.engagement.nonparametric.GRAY_COLUMNS`.
    cox : CoxResult or None
        Cause-specific Cox model of dropout, LA-clustered SEs.
    fine_gray : FineGrayResult or None
        Fine-Gray model of completion, LA-clustered robust SEs.
    session_hazard : DataFrame
        Empirical dropout hazard by session and group.
    notes : list of str
        What was left out and why (e.g. rows with missing covariates), and any warning
        the models gave (few clusters, non-convergence).
    """

    funnel: pd.DataFrame
    funnel_table: pd.DataFrame
    time_to_event: pd.DataFrame
    retention: KaplanMeierResult
    logrank: pd.DataFrame
    cumulative_incidence: CumulativeIncidenceResult
    gray: pd.DataFrame
    cox: CoxResult | None
    fine_gray: FineGrayResult | None
    session_hazard: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def _title(self) -> str:
        return "Engagement analysis"

    def _facts(self) -> list[tuple[str, Any]]:
        s = self.settings
        return [("Starters", len(self.time_to_event)), ("Compared", s.get("group")),
                ("Reference", s.get("reference")), ("Clusters", s.get("cluster")),
                ("Time", s.get("time"))]

    def _parts(self) -> dict[str, Any]:
        return {"funnel": self.funnel_table, "retention": self.retention,
                "logrank": self.logrank, "cumulative_incidence": self.cumulative_incidence,
                "gray": self.gray, "cox": self.cox, "fine_gray": self.fine_gray,
                "session_hazard": self.session_hazard}


def _model_frame(tte: pd.DataFrame, group: str, covariates: tuple[str, ...],
                 notes: list[str]) -> pd.DataFrame:
    cols = [group, *covariates]
    frame = tte.dropna(subset=cols).copy()
    dropped = len(tte) - len(frame)
    if dropped:
        notes.append(f"{dropped:,} of {len(tte):,} starters with a missing value of "
                     f"{', '.join(cols)} were left out of the regression models")
    for col in covariates:
        if str(frame[col].dtype) == "boolean":
            frame[col] = frame[col].astype(bool).astype(int)
    return frame


def engagement_analysis(
    data: EvaluationData,
    *,
    group: str = "intervention",
    covariates: tuple[str, ...] = DEFAULT_COVARIATES,
    cluster: str = "la_code",
    reference: str | None = None,
) -> EngagementResults:
    """Run the report's engagement analysis.

    Parameters
    ----------
    data : EvaluationData
    group : str
        Column of the time-to-event frame compared (``intervention``, ``delivery_mode``...).
    covariates : tuple of str
        Further covariates of the Cox and Fine-Gray models.
    cluster : str
        Cluster for the robust SEs of the Cox and Fine-Gray models (``la_code``).
    reference : str, optional
        Reference level of ``group`` in the models; default: the level with most starters.

    Returns
    -------
    EngagementResults

    Notes
    -----
    Time is counted in sessions attended, the unit providers act on; a parent who
    drops out after attending k sessions has time k. Completion and dropout are
    competing events; ongoing parents are censored.

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("small", seed=2)
    >>> res = engagement_analysis(data)
    >>> list(res.cox.coefficients.columns[:3])
    ['term', 'estimate', 'std_error']
    >>> res  # doctest: +ELLIPSIS
    <Engagement analysis: 8 parts: funnel, retention, logrank, ...>
    """
    notes: list[str] = []
    tte = time_to_event(data)
    if tte.empty:
        raise RpcEvalError("no parent has a start date, so there is no engagement to analyse")
    if group not in tte.columns:
        raise RpcEvalError(f"group must be a column of the time-to-event data, not {group!r}")
    overall = funnel(data)
    fun = pd.concat([funnel(data, by=group), overall.assign(**{group: "All"})],
                    ignore_index=True)
    # time_to_event codes ongoing parents 0; when every parent has finished or left (no 0
    # at all) nobody is censored, which is this frame's known coding, not a mistake to warn
    # about, so the censoring code is given only when it occurs
    cens = 0 if (tte["event"] == 0).any() else None
    km = kaplan_meier(tte, "sessions", "event", group=group, event_of_interest=1,
                      censored=cens)
    try:
        lr = logrank_test(tte, "sessions", "event", group=group, event_of_interest=1,
                          censored=cens)
    except RpcEvalError as exc:  # e.g. one group: the rest of the section still stands
        lr = pd.DataFrame()
        notes.append(f"Log-rank test not run: {exc}")
    cif = cumulative_incidence(tte, "sessions", "event", group=group, causes=[1, 2],
                               censored=cens)
    try:
        gray = gray_test(tte, "sessions", "event", group=group, censored=cens)
    except RpcEvalError as exc:
        gray = pd.DataFrame()
        notes.append(f"Gray's test not run: {exc}")

    ref = reference or tte[group].value_counts().idxmax()
    frame = _model_frame(tte, group, tuple(covariates), notes)
    cox = fg = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cox = fit_cox(frame, "sessions", "event", covariates=[group, *covariates],
                          event_of_interest=1, censored=cens, cluster=cluster,
                          reference={group: ref})
        except RpcEvalError as exc:
            notes.append(f"Cox model of dropout not fitted: {exc}")
        try:
            fg = fine_gray(frame, "sessions", "event", covariates=[group, *covariates],
                           event_of_interest=2, censored=cens, reference={group: ref},
                           cluster=cluster)
        except RpcEvalError as exc:
            notes.append(f"Fine-Gray model of completion not fitted: {exc}")
    for w in caught:  # model warnings become notes in the report, not lost
        # (rows left out were noted above; few clusters and separation are noted here)
        if not issubclass(w.category, DataQualityWarning) or \
                issubclass(w.category, FewClustersWarning | SeparationWarning):
            if str(w.message) not in notes:  # said once, in words, no class name
                notes.append(str(w.message))
    pp = person_period(tte)
    hazard = empirical_hazard(pp, by=group)
    return EngagementResults(
        funnel=fun, funnel_table=funnel_table(overall), time_to_event=tte,
        retention=km, logrank=lr, cumulative_incidence=cif, gray=gray, cox=cox,
        fine_gray=fg, session_hazard=hazard, notes=notes,
        settings={"group": group, "covariates": list(covariates), "cluster": cluster,
                  "reference": ref, "time": "sessions attended"},
    )
