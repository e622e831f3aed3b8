"""Pre/post change for a whole dataset: every instrument's headline scale, by
intervention, with effect sizes and reliable-change classes (:func:`outcome_tables`),
and the attrition and multiple-imputation sensitivity of the primary outcome
(:func:`~rpc_eval.change.sensitivity.attrition_analysis`); :func:`change_analysis`
gives both.

These are the analyses behind the report's outcomes section; they read nothing from disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rpc_eval.change.reliable_change import (
    _missing_message,
    _missing_norms,
    _NoSampleReliability,
    _where,
    classify_reliable_change,
    reliable_change_summary,
)
from rpc_eval.change.tables import change_table, scale_direction
from rpc_eval.data.model import EvaluationData
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import score_responses
from rpc_eval.results import ResultSet

__all__ = ["ChangeResults", "change_analysis", "outcome_tables"]


def _keep_pairs(scores: pd.DataFrame, keep: set[tuple[str, str]]) -> np.ndarray:
    """Whether each row's (instrument, scale) is in ``keep``: one test per distinct pair."""
    ic, iu = pd.factorize(scores["instrument"])
    sc, su = pd.factorize(scores["scale"])
    allowed = np.array([(i, s) in keep for i in iu for s in su], dtype=bool)
    known = (ic >= 0) & (sc >= 0)
    out = np.zeros(len(scores), dtype=bool)
    out[known] = allowed[ic[known] * len(su) + sc[known]]
    return out


def outcome_tables(
    data: EvaluationData,
    *,
    waves: tuple[str, str] = ("baseline", "end"),
    by: str = "intervention",
    scales: str = "primary",
    outcomes: Sequence[tuple[str, str]] | None = None,
    sample_norms: bool = False,
) -> dict[str, pd.DataFrame]:
    """Pre/post change of each instrument's scales, overall and by group.

    Parameters
    ----------
    data : EvaluationData
    waves : (str, str)
        Pre and post waves.
    by : str
        Column of ``data.parents`` to group by (``intervention``, ``delivery_mode`` ...).
        Rows with ``by`` = ``"All"`` give the overall figures.
    scales : {"primary", "all"}
        The headline scale of each instrument (``Instrument.primary_scale``) or all.
        Instruments not measured at both waves (e.g. a satisfaction questionnaire asked
        only at the end) are left out.
    outcomes : list of (instrument, scale), optional
        Only these scales (e.g. an analysis plan's primary and secondary outcomes), in
        place of ``scales``.
    sample_norms : bool
        The reliable-change policy of :func:`rpc_eval.change.classify_reliable_change`:
        ``False`` (default) takes the reliability, normative SD and clinical cut-off of
        every scale from its definition and, when any is missing, raises one error
        listing everything missing for every scale; ``True`` uses the baseline sample's
        Cronbach's alpha and SD where the definition has none (and no ``recovered``
        class without a cut-off). The reports use ``True``; the ``rci_basis`` column
        says what each row rests on.

    Returns
    -------
    dict of DataFrame
        ``change``: :func:`rpc_eval.change.change_table` rows (``by`` first);
        ``reliable_change``: :func:`rpc_eval.change.reliable_change_summary` rows, with
        ``rci_basis``: what the reliable change index rests on: the definition's
        published reliability and norms, or (named) the baseline sample's Cronbach's
        alpha or SD where the definition has no published value.

    Raises
    ------
    RpcEvalError
        Without ``sample_norms``, when a definition lacks what reliable change needs
        (one error for all scales).

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("small", seed=3)
    >>> out = outcome_tables(data, sample_norms=True)
    >>> sorted(out)
    ['change', 'reliable_change']
    >>> out["reliable_change"]["rci_basis"].iloc[0]
    'baseline sample alpha 0.92; baseline sample SD'
    """
    reg = data.instruments
    scores = score_responses(data.responses, reg)
    if outcomes is not None:
        keep = {(str(i), str(sc)) for i, sc in outcomes}
        scores = scores[_keep_pairs(scores, keep)]
    elif scales == "primary":
        keep = {(n, reg.get(n).primary_scale) for n in pd.unique(scores["instrument"])}
        scores = scores[_keep_pairs(scores, keep)]
    elif scales != "all":
        raise RpcEvalError("scales must be 'primary' or 'all'")
    valid = scores[scores["valid"].fillna(False).astype(bool) & scores["wave"].isin(waves)]
    measured = valid.groupby("instrument")["wave"].nunique()
    scores = scores[scores["instrument"].isin(measured.index[measured == 2])]
    if scores.empty:
        raise RpcEvalError(f"no instrument has scores at both {waves[0]} and {waves[1]}")
    if by not in data.parents.columns:
        raise RpcEvalError(f"by must be a column of the parents table, not {by!r}")
    groups = data.parents[["parent_id", by]]
    scores = scores.merge(groups, on="parent_id", how="left")
    change = pd.concat([
        change_table(scores, waves=waves, by=by, registry=reg),
        change_table(scores, waves=waves, registry=reg).assign(**{by: "All"}),
    ], ignore_index=True)
    change = change[[by, *[c for c in change.columns if c != by]]]

    scales_used = list(scores.groupby(["instrument", "scale"], sort=True))
    if not sample_norms:
        missing = []
        for (inst, scale), _ in scales_used:
            sc = reg.get(inst).scale(scale) if inst in reg else None
            lack = _missing_norms(sc, inst, scale, method="jacobson_truax", reliability=None,
                                  sd=None, norm_group=None,
                                  direction=scale_direction(inst, scale, registry=reg),
                                  criterion="auto", functional=None, clinical=None,
                                  cutoff=None)
            if lack:
                missing.append((_where(inst, scale), lack))
        if missing:
            raise RpcEvalError(_missing_message(missing))
    summaries = []
    for (inst, scale), sub in scales_used:
        try:
            classified = classify_reliable_change(
                sub, inst, scale, waves=waves, by=by, registry=reg, sample_norms=sample_norms,
                responses=data.responses)
        except _NoSampleReliability:
            # the reliability step has already warned that alpha cannot be computed
            continue
        summaries.append(reliable_change_summary(classified, by=by))
        summaries.append(reliable_change_summary(classified.assign(**{by: "All"}), by=by))
    reliable = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    if len(reliable):
        reliable = reliable[[by, *[c for c in reliable.columns if c != by]]]
    return {"change": change.reset_index(drop=True), "reliable_change": reliable}


@dataclass(repr=False)
class ChangeResults(ResultSet):
    """Everything the outcomes section of a report shows (see :func:`change_analysis`).

    Attributes
    ----------
    change, reliable_change : DataFrame
        :func:`outcome_tables`' two tables.
    attrition, mi : DataFrame or None
        :func:`~rpc_eval.change.sensitivity.attrition_analysis` of the primary outcome,
        when one was named.
    notes : list of str
        What the attrition analysis left out and why.
    settings : dict
        The waves, ``by`` and whether sample norms were allowed.
    """

    change: pd.DataFrame
    reliable_change: pd.DataFrame
    attrition: pd.DataFrame | None = None
    mi: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def _title(self) -> str:
        return "Pre/post change"

    def _facts(self) -> list[tuple[str, object]]:
        facts: list[tuple[str, object]] = []
        if len(self.change) and {"instrument", "scale"} <= set(self.change.columns):
            facts.append(("Outcomes", int(self.change[["instrument", "scale"]]
                                          .drop_duplicates().shape[0])))
        for key, label in (("by", "By"), ("waves", "Waves")):
            if key in self.settings:
                value = self.settings[key]
                facts.append((label, " -> ".join(value) if isinstance(value, tuple | list)
                              else value))
        return facts

    def _parts(self) -> dict[str, pd.DataFrame | None]:
        return {"change": self.change, "reliable_change": self.reliable_change,
                "attrition": self.attrition, "mi": self.mi}


def change_analysis(
    data: EvaluationData,
    *,
    waves: tuple[str, str] = ("baseline", "end"),
    by: str = "intervention",
    scales: str = "primary",
    outcomes: Sequence[tuple[str, str]] | None = None,
    primary: tuple[str, str | None] | None = None,
    seed: int = 20240601,
    sample_norms: bool = False,
) -> ChangeResults:
    """Pre/post change of every outcome and, for the primary outcome, attrition.

    Parameters
    ----------
    data : EvaluationData
    waves, by, scales, outcomes
        As :func:`outcome_tables`.
    primary : (instrument, scale or None), optional
        The primary outcome; when given, its loss to follow-up and multiple-imputation
        sensitivity (:func:`~rpc_eval.change.sensitivity.attrition_analysis`, grouped by
        ``by``) are added.
    seed : int
        Seed of the imputations.
    sample_norms : bool
        The reliable-change policy, as :func:`outcome_tables`.

    Returns
    -------
    ChangeResults
        A :class:`~rpc_eval.results.ResultSet`: ``change``, ``reliable_change``,
        ``attrition`` and ``mi`` tables, and ``notes``.

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("small", seed=3)
    >>> res = change_analysis(data, sample_norms=True)
    >>> list(res.change.columns[:3])
    ['intervention', 'instrument', 'scale']
    >>> res
    <Pre/post change: 2 parts: change, reliable_change>
    """
    from rpc_eval.change.sensitivity import attrition_analysis

    tables = outcome_tables(data, waves=waves, by=by, scales=scales, outcomes=outcomes,
                            sample_norms=sample_norms)
    res = ChangeResults(change=tables["change"], reliable_change=tables["reliable_change"],
                        settings={"waves": tuple(waves), "by": by,
                                  "sample_norms": sample_norms})
    if primary is not None:
        instrument, scale = primary
        att = attrition_analysis(data, instrument, scale, waves=waves, by=by, seed=seed)
        res.attrition, res.mi, res.notes = att["attrition"], att["mi"], list(att["notes"])
    return res
