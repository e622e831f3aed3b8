"""The monitoring metrics of a report: parent satisfaction, practitioner training and
the LA planning-tool returns. Pure analysis: returns tidy tables, writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from rpc_eval.data.model import EvaluationData
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import responses_to_wide, score
from rpc_eval.monitoring.planning_tool import stage_change, stage_distribution
from rpc_eval.monitoring.satisfaction import likert_summary, target_attainment
from rpc_eval.monitoring.training import application_at_followup, paired_ratings
from rpc_eval.results import ResultSet

__all__ = ["MonitoringResults", "monitoring_analysis"]


@dataclass(repr=False)
class MonitoringResults(ResultSet):
    """Tables of the satisfaction, training and planning-tool sections (tidy frames,
    keyed by table name), and notes on anything left out.

    A :class:`~rpc_eval.results.ResultSet`: its parts are the tables, in the order
    :func:`monitoring_analysis` makes them.

    Attributes
    ----------
    tables : dict of str to DataFrame
    notes : list of str
        What was left out and why.
    settings : dict
        The satisfaction target and the codes counted as satisfied.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def _title(self) -> str:
        return "Monitoring"

    def _facts(self) -> list[tuple[str, object]]:
        facts: list[tuple[str, object]] = [("Tables", len(self.tables))]
        if self.settings.get("target") is not None:
            facts.append(("Target", f"{self.settings['target']:.0%} satisfied"))
        return facts

    def _parts(self) -> dict[str, pd.DataFrame]:
        return dict(self.tables)


def _satisfied(frame: pd.DataFrame, top: tuple[int, ...]) -> pd.DataFrame:
    answered = frame[frame["value"].notna()].copy()
    answered["satisfied"] = answered["value"].astype(float).isin(top).astype(int)
    return answered


def monitoring_analysis(
    data: EvaluationData,
    *,
    satisfaction_instrument: str = "parent_satisfaction",
    target: float = 0.8,
    top_box: tuple[int, int] = (4, 5),
) -> MonitoringResults:
    """Satisfaction, training and planning-tool tables for the report.

    Parameters
    ----------
    data : EvaluationData
    satisfaction_instrument : str
        The parents' satisfaction questionnaire (an instrument in the registry).
    target : float
        Share "satisfied" (top-2-box) a target asks for, e.g. 0.8 for "80% satisfied".
    top_box : tuple of int
        Response codes counted as satisfied.

    Returns
    -------
    MonitoringResults
        ``tables``: ``parent_satisfaction_items`` (:func:`likert_summary` by item),
        ``parent_satisfaction_target`` (share of parents satisfied per intervention
        against ``target``, exact one-sided test; a parent is satisfied when their
        score on the questionnaire's headline scale, e.g. the mean of its items, is at
        least the lowest top-box code),
        ``training_satisfaction_target``, ``training_pre_post`` (paired ratings
        pre -> post per question), ``training_application`` (share applying the
        training at least weekly / monthly at 6 months), ``planning_stages``
        (stage distribution by dimension per year) and ``planning_stage_change``
        (first to last return year, per element).

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("small", seed=4)
    >>> res = monitoring_analysis(data)
    >>> sorted(res.tables)[:2]
    ['parent_satisfaction_items', 'parent_satisfaction_target']
    >>> print(repr(res)[:58])
    <Monitoring: 7 parts: parent_satisfaction_items, parent_sa
    """
    res = MonitoringResults(settings={"target": target, "top_box": list(top_box)})
    t = res.tables
    sat = data.responses[data.responses["instrument"] == satisfaction_instrument]
    if len(sat):
        t["parent_satisfaction_items"] = likert_summary(sat, item_col="item",
                                                        top_box=top_box)
        inst = data.instruments.get(satisfaction_instrument)
        scored = score(responses_to_wide(sat, inst, registry=data.instruments), inst,
                       registry=data.instruments)
        scored = scored[(scored["scale"] == inst.primary_scale)
                        & scored["valid"].fillna(False).astype(bool)]
        answers = scored.rename(columns={"score": "value"})[["parent_id", "value"]]
        answers = answers.merge(data.parents[["parent_id", "intervention"]], on="parent_id")
        answers["satisfied"] = (answers["value"] >= min(top_box)).astype(int)
        if answers.empty:
            res.notes.append("No parent answered every satisfaction question, so the share "
                             "of satisfied parents is left out.")
        else:
            t["parent_satisfaction_target"] = pd.concat([
                target_attainment(data=answers, outcome="satisfied", by="intervention",
                                  target=target),
                target_attainment(data=answers.assign(intervention="All"),
                                  outcome="satisfied", by="intervention", target=target),
            ], ignore_index=True)
    else:
        res.notes.append(f"No {satisfaction_instrument} answers: parent satisfaction left out")

    tr = data.training_responses
    if len(tr):
        sat_tr = tr[tr["question"] == "satisfaction"]
        if len(sat_tr) and len(_satisfied(sat_tr, top_box)):
            t["training_satisfaction_target"] = target_attainment(
                data=_satisfied(sat_tr, top_box).assign(all="All"), outcome="satisfied",
                by="all", target=target)
        rows = []
        for question in ("knowledge", "understanding", "confidence"):
            try:
                rows.append(paired_ratings(tr, question, waves=("pre", "post")))
            except RpcEvalError as exc:
                res.notes.append(f"Training {question}: {exc}")
        if rows:
            t["training_pre_post"] = pd.concat(rows, ignore_index=True)
        try:
            t["training_application"] = application_at_followup(
                tr.merge(data.practitioners[["practitioner_id", "sector"]],
                         on="practitioner_id"), by="sector")
        except RpcEvalError as exc:
            res.notes.append(f"Training follow-up: {exc}")
    else:
        res.notes.append("No training survey answers: training tables left out")

    pt = data.planning_tool
    if len(pt):
        book = data.codebooks["planning_tool"]
        t["planning_stages"] = stage_distribution(pt, book, by="dimension")
        years = sorted(pd.unique(pt["return_year"].dropna()))
        if len(years) >= 2:
            try:
                t["planning_stage_change"] = stage_change(pt, book,
                                                          years=(years[0], years[-1]))
            except RpcEvalError as exc:
                res.notes.append(f"Planning-tool change: {exc}")
    else:
        res.notes.append("No planning-tool returns: planning tables left out")
    return res
