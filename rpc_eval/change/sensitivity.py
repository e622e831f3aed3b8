"""Attrition and missing-data sensitivity of a report's primary outcome.

Puts together, for one questionnaire scale, the two analyses a report shows beside the
complete-case change: who was lost to follow-up (:func:`attrition_comparison`) and the
change under multiple imputation (:func:`mi_change`). Pure analysis: returns tables.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from rpc_eval.change.attrition import attrition_comparison, mi_change
from rpc_eval.change.tables import pair_waves
from rpc_eval.data.model import EvaluationData
from rpc_eval.errors import DataQualityWarning, RpcEvalError
from rpc_eval.instruments import score_responses

__all__ = ["attrition_analysis"]


def attrition_analysis(data: EvaluationData, instrument: str, scale: str | None = None, *,
                       waves: tuple[str, str] = ("baseline", "end"),
                       covariates: Sequence[str] = ("relationship_status",),
                       by: str | None = "intervention", m: int = 20,
                       seed: int = 20240601) -> dict:
    """Loss to follow-up and the multiple-imputation sensitivity analysis of one scale.

    Parameters
    ----------
    data : EvaluationData
    instrument, scale : str
        The outcome (default scale: the instrument's headline scale).
    waves : (str, str)
        Baseline and follow-up waves.
    covariates : sequence of str
        Columns of ``parents`` compared between parents followed up and lost, and used
        in the imputation model besides the baseline score.
    by : str or None
        Group (column of ``parents``) within which imputation and estimates are done.
    m, seed : int
        Imputations and their seed (fixed: the report is reproducible).

    Returns
    -------
    dict of DataFrame
        ``attrition``: :func:`attrition_comparison` of the baseline score and the
        covariates, followed up vs lost, among parents with a baseline score;
        ``mi``: :func:`mi_change` (complete-case and multiple-imputation rows per
        group, and overall with ``by = "All"``, whose imputation model includes
        ``by``); ``notes``: list of str naming groups too small to impute on their own and
        the data-quality warnings of the imputation (e.g. a covariate constant in a group).

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("small", seed=3)
    >>> out = attrition_analysis(data, "phq9", m=5)
    >>> sorted(out), sorted(out["mi"]["method"].unique())
    (['attrition', 'mi', 'notes'], ['complete_case', 'multiple_imputation'])
    """
    reg = data.instruments
    inst = reg.get(instrument)
    scale = scale or inst.primary_scale
    scores = score_responses(data.responses, reg)
    scores = scores[(scores["instrument"] == instrument) & (scores["scale"] == scale)]
    pairs = pair_waves(scores, waves=waves)
    pairs = pairs[pairs["pre"].notna()]
    if pairs.empty:
        raise RpcEvalError(f"no {instrument} {scale} scores at {waves[0]}")
    cols = ["parent_id", *dict.fromkeys([*covariates, *([by] if by else [])])]
    frame = pairs[["parent_id", "pre", "post"]].merge(data.parents[cols], on="parent_id",
                                                      how="left")
    frame["followed_up"] = frame["post"].notna()
    attrition = attrition_comparison(frame, "followed_up", ["pre", *covariates])
    cov = list(covariates)
    notes: list[str] = []
    parts: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        _impute_all(frame, cov, by, m, seed, parts, notes)
    notes.extend(dict.fromkeys(str(w.message) for w in caught
                               if issubclass(w.category, DataQualityWarning)))
    out = pd.concat(parts, ignore_index=True)
    if by:
        out = out[[by, *[c for c in out.columns if c != by]]]
    return {"attrition": attrition.assign(instrument=instrument, scale=scale),
            "mi": out.assign(instrument=instrument, scale=scale),
            "notes": notes}


def _impute_all(frame: pd.DataFrame, cov: list[str], by: str | None, m: int, seed: int,
                parts: list[pd.DataFrame], notes: list[str]) -> None:
    if by:
        for level, sub in frame.groupby(by, sort=True, observed=True):
            try:
                parts.append(mi_change(sub, "pre", "post", cov, m=m, seed=seed)
                             .assign(**{by: level}))
            except RpcEvalError as exc:
                notes.append(f"{by} {level}: left out of the imputation by group ({exc})")
        parts.append(mi_change(frame, "pre", "post", [*cov, by], m=m, seed=seed)
                     .assign(**{by: "All"}))
    else:
        parts.append(mi_change(frame, "pre", "post", cov, m=m, seed=seed))
