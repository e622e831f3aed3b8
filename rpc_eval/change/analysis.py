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

import pandas as pd

from rpc_eval.change.reliable_change import classify_reliable_change, reliable_change_summary
from rpc_eval.change.tables import change_table
from rpc_eval.data.model import EvaluationData
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import responses_to_wide, score_responses
from rpc_eval.instruments.reliability import reliability

__all__ = ["ChangeResults", "change_analysis", "outcome_tables"]


def _classify(data: EvaluationData, sub: pd.DataFrame, inst: str, scale: str,
              waves: tuple[str, str], by: str) -> tuple[pd.DataFrame | None, str]:
    """Reliable-change classes with the best basis the definition allows.

    In order: the definition's reliability, normative SD and cut-off; else the
    baseline sample's Cronbach's alpha and/or SD in place of the missing published
    value (said in the basis); with no cut-off, recovery is not assessed.
    """
    reg = data.instruments
    kwargs: dict = {}
    basis: list[str] = []
    for _ in range(4):
        try:
            out = classify_reliable_change(sub, inst, scale, waves=waves, by=by, registry=reg,
                                           **kwargs)
            return out, "; ".join(basis) or "published reliability and norms"
        except RpcEvalError as exc:
            msg = str(exc)
            if "no reliability" in msg and "reliability" not in kwargs:
                wide = responses_to_wide(data.responses, inst, registry=reg)
                rel = reliability(wide[wide["wave"] == waves[0]], inst, registry=reg,
                                  scales=[scale], on_error="warn")
                alpha = float(rel["alpha"].iloc[0]) if len(rel) else float("nan")
                if not alpha == alpha:
                    return None, "no reliability available"
                kwargs["reliability"] = alpha
                basis.append(f"baseline sample alpha {alpha:.2f}")
            elif ("norms" in msg or " sd" in msg.lower()) and "sd" not in kwargs:
                kwargs["sd"] = "baseline"
                basis.append("baseline sample SD")
            elif "criterion" not in kwargs:
                kwargs["criterion"] = "none"
                basis.append("no clinical cut-off")
            else:
                raise
    return None, "not classified"


def outcome_tables(
    data: EvaluationData,
    *,
    waves: tuple[str, str] = ("baseline", "end"),
    by: str = "intervention",
    scales: str = "primary",
    outcomes: Sequence[tuple[str, str]] | None = None,
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

    Returns
    -------
    dict of DataFrame
        ``change``: :func:`rpc_eval.change.change_table` rows (``by`` first);
        ``reliable_change``: :func:`rpc_eval.change.reliable_change_summary` rows plus
        ``rci_basis``: what the reliable change index rests on: the definition's
        published reliability and norms, or (named) the baseline sample's Cronbach's
        alpha or SD where the definition has no published value.

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("small", seed=3)
    >>> out = outcome_tables(data)
    >>> sorted(out)
    ['change', 'reliable_change']
    """
    reg = data.instruments
    scores = score_responses(data.responses, reg)
    if outcomes is not None:
        keep = {(str(i), str(sc)) for i, sc in outcomes}
        scores = scores[[(i, sc) in keep for i, sc in zip(scores["instrument"],
                                                           scores["scale"], strict=True)]]
    elif scales == "primary":
        keep = {(n, reg.get(n).primary_scale) for n in pd.unique(scores["instrument"])}
        scores = scores[[(i, s) in keep for i, s in zip(scores["instrument"], scores["scale"],
                                                         strict=True)]]
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

    summaries = []
    for (inst, scale), sub in scores.groupby(["instrument", "scale"], sort=True):
        classified, basis = _classify(data, sub, inst, scale, waves, by)
        if classified is None or not len(classified):
            continue
        summaries.append(reliable_change_summary(classified, by=by).assign(rci_basis=basis))
        overall = reliable_change_summary(classified.assign(**{by: "All"}), by=by)
        summaries.append(overall.assign(rci_basis=basis))
    reliable = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    if len(reliable):
        reliable = reliable[[by, *[c for c in reliable.columns if c != by]]]
    return {"change": change.reset_index(drop=True), "reliable_change": reliable}


@dataclass
class ChangeResults:
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
    """

    change: pd.DataFrame
    reliable_change: pd.DataFrame
    attrition: pd.DataFrame | None = None
    mi: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def change_analysis(
    data: EvaluationData,
    *,
    waves: tuple[str, str] = ("baseline", "end"),
    by: str = "intervention",
    scales: str = "primary",
    outcomes: Sequence[tuple[str, str]] | None = None,
    primary: tuple[str, str | None] | None = None,
    seed: int = 20240601,
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

    Returns
    -------
    ChangeResults

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("small", seed=3)
    >>> res = change_analysis(data)
    >>> list(res.change.columns[:3])
    ['intervention', 'instrument', 'scale']
    """
    from rpc_eval.change.sensitivity import attrition_analysis

    tables = outcome_tables(data, waves=waves, by=by, scales=scales, outcomes=outcomes)
    res = ChangeResults(change=tables["change"], reliable_change=tables["reliable_change"])
    if primary is not None:
        instrument, scale = primary
        att = attrition_analysis(data, instrument, scale, waves=waves, by=by, seed=seed)
        res.attrition, res.mi, res.notes = att["attrition"], att["mi"], list(att["notes"])
    return res
