"""Pre/post outcome tables for a whole dataset: every instrument's headline scale,
by intervention, with effect sizes and reliable-change classes.

This is the analysis behind the report's outcomes table; it reads nothing from disk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rpc_eval.change.reliable_change import classify_reliable_change, reliable_change_summary
from rpc_eval.change.tables import change_table
from rpc_eval.data.model import EvaluationData
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import Registry, responses_to_wide, score
from rpc_eval.reliability import reliability

__all__ = ["score_responses", "outcome_tables"]


def score_responses(responses: pd.DataFrame, registry: Registry,
                    instruments: Sequence[str] | None = None) -> pd.DataFrame:
    """Score every instrument in a long ``responses`` table.

    Returns
    -------
    DataFrame
        :func:`rpc_eval.instruments.score` output for each instrument, stacked: one row
        per parent x respondent x wave x scale.
    """
    names = sorted(pd.unique(responses["instrument"].dropna())) if instruments is None \
        else list(instruments)
    kept = _kept_scores(responses)
    defs = {n: _definition(n, registry) for n in names}
    todo = [n for n in dict.fromkeys(names)
            if defs[n] is None or kept.get(n, (None,))[0] is not defs[n]]
    for n, part in zip(todo, _by_instrument(responses, todo), strict=True):
        wide = responses_to_wide(part, n, registry=registry)
        scored = score(wide, n, registry=registry)
        if defs[n] is not None:
            kept[n] = (defs[n], scored, wide)
    frames = [kept[n][1] for n in names]
    if not frames:
        raise RpcEvalError("the responses table has no questionnaire answers to score")
    return pd.concat(frames, ignore_index=True)


#: The scores of the responses table scored last, by instrument (see _kept_scores).
_KEPT: list[tuple[tuple, tuple, pd.DataFrame, dict]] = []


def _fingerprint(frame: pd.DataFrame) -> tuple[tuple, tuple] | None:
    """What identifies a table's content without reading it: its length, column names
    and the arrays holding its columns (and which columns each holds); with the arrays
    themselves, which the caller keeps so that their identities stay theirs."""
    try:
        blocks = frame._mgr.blocks
        arrays = tuple(b.values for b in blocks)
        return (len(frame), tuple(map(str, frame.columns)),
                tuple((id(a), tuple(b.mgr_locs.as_array.tolist()))
                      for a, b in zip(arrays, blocks, strict=True))), arrays
    except AttributeError:  # pragma: no cover - another pandas layout: nothing is kept
        return None


def _kept_scores(responses: pd.DataFrame) -> dict:
    """Instrument -> (its definition, its scores) already computed from this very
    ``responses`` table, as a dict to add to (an empty one that is not kept when the
    table cannot be recognised).

    One table's scores are kept: the report's analyses score the same table several
    times (outcomes, subgroups, attrition, pooling). The table is recognised by the
    arrays holding its columns; a shallow copy of it is kept with the scores, so a
    change made to the table in place afterwards copies the changed column first
    (pandas copy-on-write) and the table is then no longer recognised: its scores are
    computed afresh, never taken from before the change."""
    found = _fingerprint(responses)
    if found is None:
        return {}
    fp, arrays = found
    if _KEPT and _KEPT[0][0] == fp:
        return _KEPT[0][3]
    scores: dict = {}
    _KEPT[:] = [(fp, arrays, responses.copy(deep=False), scores)]
    return scores


def _definition(name: str, registry: Registry | None):
    """The definition scoring uses for ``name`` (None when there is none: scoring then
    says so)."""
    from rpc_eval.instruments import default_registry

    try:
        return (registry or default_registry()).get(name)
    except RpcEvalError:
        return None


def _wide(responses: pd.DataFrame, name: str, registry: Registry | None) -> pd.DataFrame:
    """:func:`responses_to_wide` of one instrument, taken from what
    :func:`score_responses` kept when it scored this very table."""
    hit = _kept_scores(responses).get(name)
    if hit is not None and hit[0] is _definition(name, registry):
        return hit[2]
    return responses_to_wide(responses, name, registry=registry)


def _by_instrument(responses: pd.DataFrame, names: Sequence[str]) -> list[pd.DataFrame]:
    """The rows of each named instrument (in the table's order), split in one pass, so
    each instrument's answers are found once rather than by a scan of the whole table
    per instrument. A table lacking a column :func:`responses_to_wide` needs is passed
    on whole (it says what is missing)."""
    needed = ["parent_id", "respondent", "wave", "instrument", "item", "value"]
    if len(names) < 2 or any(c not in responses.columns for c in needed):
        return [responses] * len(names)
    codes, uniques = pd.factorize(responses["instrument"])
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    where = {u: i for i, u in enumerate(uniques)}
    cols = responses[needed]
    out = []
    for n in names:
        i = where.get(n)
        rows = order[starts[i]:starts[i + 1]] if i is not None else order[:0]
        out.append(cols.take(rows))
    return out


def _keep_pairs(scores: pd.DataFrame, keep: set[tuple[str, str]]) -> np.ndarray:
    """Whether each row's (instrument, scale) is in ``keep``: one test per distinct pair."""
    ic, iu = pd.factorize(scores["instrument"])
    sc, su = pd.factorize(scores["scale"])
    allowed = np.array([(i, s) in keep for i in iu for s in su], dtype=bool)
    known = (ic >= 0) & (sc >= 0)
    out = np.zeros(len(scores), dtype=bool)
    out[known] = allowed[ic[known] * len(su) + sc[known]]
    return out


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
                wide = _wide(data.responses, inst, reg)
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
