"""The engagement funnel: referred -> started -> completed -> answered the follow-ups.

:func:`funnel` counts parents (and families) at each stage, overall or by group, with
each stage's conversion rate from the stage it is drawn from and a Wilson score
interval; :func:`funnel_table` lays the result out like the sample-flow table of the
published 2018-22 evaluation. :func:`wilson_interval` is the interval on its own.

Stages (:data:`STAGES`)
-----------------------
Each stage is a subset of its *denominator stage*, so every rate is a proportion:

=================  ==============  =====================================================
stage              denominator     parents counted
=================  ==============  =====================================================
``referred``       --              every referral episode in ``parents``
``started``        referred        ``start_date`` recorded
``completed``      started         ``exit_reason == "completed"``
``responded_end``  completed       completers who answered at the ``end`` wave
``responded_6m``   completed       completers who answered at ``followup_6m``
``responded_12m``  responded_6m    6-month respondents who answered at ``followup_12m``
=================  ==============  =====================================================

"Answered at a wave" means at least one answered item (a non-missing ``value``) by the
parent (``respondent == "parent"``) at that wave in ``responses``. The 6- and 12-month
stages follow the published flow (6-month survey of completers; "of those, also
answered the 12-month survey"); the end-of-intervention stage is a side branch from
``completed``, so the 6-month count does not depend on it. Answers outside these
definitions (a dropout's end questionnaire, a 12-month answer without a 6-month one)
are not counted in the funnel.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from rpc_eval.data.model import EvaluationData, schema
from rpc_eval.errors import RpcEvalError, RpcEvalWarning
from rpc_eval.stats.intervals import wilson_interval

__all__ = ["funnel", "funnel_table", "wilson_interval", "STAGES", "FUNNEL_COLUMNS",
           "Stage"]


class Stage(NamedTuple):
    """One stage of the funnel: its code, label for tables and denominator stage."""

    stage: str
    label: str
    denominator: str | None


#: The funnel's stages, in order.
STAGES: tuple[Stage, ...] = (
    Stage("referred", "Referred to an intervention", None),
    Stage("started", "Started an intervention", "referred"),
    Stage("completed", "Completed an intervention", "started"),
    Stage("responded_end", "Answered the end-of-intervention questionnaire", "completed"),
    Stage("responded_6m", "Answered the survey 6 months after completion", "completed"),
    Stage("responded_12m", "Of those, also answered the 12-month survey", "responded_6m"),
)

#: Columns of :func:`funnel` after the group columns.
FUNNEL_COLUMNS: list[str] = [
    "stage", "stage_label", "n", "families", "denominator_stage", "denominator", "rate",
    "ci_low", "ci_high", "rate_of_referred",
]

_WAVES = {"responded_end": "end", "responded_6m": "followup_6m",
          "responded_12m": "followup_12m"}


def _responded(data: EvaluationData, waves: Sequence[str],
               respondent: str | None) -> dict[str, pd.Index]:
    """Wave -> ids of parents with at least one answered item at that wave."""
    r = data.responses
    if not len(r):
        return {w: pd.Index([]) for w in waves}
    missing = [c for c in ("parent_id", "wave", "value") if c not in r.columns]
    if missing:
        raise RpcEvalError(f"the responses table needs column(s) {missing}")
    # isin (hash lookups) rather than == on object columns: 8M rows take 0.3 s, not 3 s
    keep = r["value"].notna().to_numpy() & r["wave"].isin(list(waves)).to_numpy()
    if respondent is not None and "respondent" in r.columns:
        keep &= r["respondent"].isin([respondent]).to_numpy()
    sub = r.loc[keep, ["wave", "parent_id"]].drop_duplicates()
    return {w: pd.Index(sub.loc[sub["wave"] == w, "parent_id"]) for w in waves}


def _group_order(col: str, values: pd.Series, data: EvaluationData) -> list:
    """Codebook order for coded columns, sorted order otherwise; missing last."""
    spec = schema()["parents"]["columns"].get(col, {})
    book_name = "regions" if col == "region" else spec.get("codebook")
    present = list(pd.unique(values.dropna()))
    if book_name and data.codebooks and book_name in data.codebooks:
        codes = data.codebooks[book_name].codes
        ordered: list[Any] = [c for c in codes if c in present]
        ordered += sorted((c for c in present if c not in codes), key=str)
    else:
        ordered = sorted(present, key=str)
    if values.isna().any():
        ordered.append(np.nan)
    return ordered


def funnel(data: EvaluationData, by: str | Sequence[str] | None = None, *,
           ci: float = 0.95, respondent: str | None = "parent") -> pd.DataFrame:
    """Parents and families at each stage of the engagement funnel, with conversion rates.

    Parameters
    ----------
    data : EvaluationData
        Uses ``parents``, ``responses`` and (for ``region``) ``las``.
    by : str or list of str, optional
        Group columns: ``intervention``, ``delivery_mode``, ``relationship_status``,
        ``la_code``, ``region`` (from ``las``) or any other column of ``parents``.
        Groups are those present in ``parents``, in codebook order where the column has
        a codebook.
    ci : float
        Level of the Wilson intervals (default 0.95).
    respondent : str or None
        Whose answers count as "responded" (default ``"parent"``; ``None``: anyone's).

    Returns
    -------
    DataFrame
        One row per group x stage (:data:`STAGES` order), columns ``[by...]`` then
        :data:`FUNNEL_COLUMNS`:

        * ``stage``, ``stage_label``;
        * ``n`` (int64): parents at the stage; ``families`` (int64): distinct
          ``family_id`` among them (a family whose parents fall in two groups counts
          in both);
        * ``denominator_stage``, ``denominator`` (Int64): the stage this one is drawn
          from and its ``n`` (missing for ``referred``, which has none);
        * ``rate = n / denominator`` (conversion), ``ci_low``, ``ci_high`` (Wilson
          score interval);
        * ``rate_of_referred = n / n(referred)`` in the same group.

        ``rate`` and its interval are NaN for ``referred`` (not applicable) and where
        the denominator is 0 (with a warning).

    Warns
    -----
    RpcEvalWarning
        When some group has a stage with a zero denominator (e.g. nobody completed, so
        the response rates are undefined).

    Notes
    -----
    Wilson interval: see :func:`wilson_interval` (R: ``prop.test(n, denominator,
    correct = FALSE)$conf.int``). The published 2018-22 flow is 6,110 referred, 4,802
    started (78.6%), 2,694 completed (56.1% of starters), 878 answered at 6 months
    (32.6% of completers) and 374 of those at 12 months (42.6%).

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=1)
    >>> f = funnel(data)
    >>> print(f[["stage", "n", "families", "denominator", "rate"]].round(3).to_string())
               stage    n  families  denominator   rate
    0       referred  600       375         <NA>    NaN
    1        started  494       333          600  0.823
    2      completed  280       224          494  0.567
    3  responded_end  237       201          280  0.846
    4   responded_6m   68        63          280  0.243
    5  responded_12m   15        14           68  0.221
    """
    if not isinstance(data, EvaluationData):
        raise RpcEvalError(
            f"funnel needs an EvaluationData (from rpc_eval.data.load or "
            f"rpc_eval.synthetic.generate); got {type(data).__name__}")
    wilson_interval(0, 1, ci)  # validates ci
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    parents = data.parents
    needed = ["parent_id", "family_id", "start_date", "exit_reason"]
    missing = [c for c in needed if c not in parents.columns]
    if missing:
        raise RpcEvalError(f"the parents table needs column(s) {missing}")
    if not len(parents):
        raise RpcEvalError("the parents table is empty: there is no funnel to count")
    p = parents.copy()
    allowed = [c for c in parents.columns if c != "parent_id"] + ["region"]
    for col in by_cols:
        if col not in allowed:
            raise RpcEvalError(
                f"cannot group the funnel by {col!r}: use intervention, delivery_mode, "
                f"relationship_status, la_code, region or another column of parents")
    if len(set(by_cols)) != len(by_cols):
        raise RpcEvalError(f"by lists a column twice: {by_cols}")
    if "region" in by_cols and "region" not in parents.columns:
        las = data.las.drop_duplicates("la_code").set_index("la_code")["region"]
        p["region"] = las.reindex(p["la_code"].astype(object).to_numpy()).to_numpy()

    flags = pd.DataFrame(index=p.index)
    flags["referred"] = True
    flags["started"] = p["start_date"].notna().to_numpy()
    flags["completed"] = flags["started"] & (p["exit_reason"] == "completed").fillna(False)
    answered = _responded(data, list(_WAVES.values()), respondent)
    for stage, wave in _WAVES.items():
        flags[stage] = p["parent_id"].isin(answered[wave]).to_numpy()
    for s in STAGES:
        if s.denominator is not None:
            flags[s.stage] &= flags[s.denominator]

    stages = [s.stage for s in STAGES]
    if by_cols:
        # one integer code per group, groups in codebook (or sorted) order
        def key(values) -> tuple:
            return tuple(None if pd.isna(v) else v for v in values)

        orders = [_group_order(c, p[c], data) for c in by_cols]
        row_keys = [key(r) for r in p[by_cols].itertuples(index=False, name=None)]
        present = set(row_keys)
        groups = [g for g in pd.MultiIndex.from_product(orders) if key(g) in present]
        lookup = {key(g): i for i, g in enumerate(groups)}
        code = np.fromiter((lookup[k] for k in row_keys), dtype=np.int64, count=len(row_keys))
    else:
        groups = [()]
        code = np.zeros(len(p), np.int64)
    ng = len(groups)
    fam_code = pd.factorize(p["family_id"], use_na_sentinel=False)[0]
    n_at = {}
    fam_at = {}
    for s in stages:
        f = flags[s].to_numpy(dtype=bool)
        n_at[s] = np.bincount(code[f], minlength=ng)
        pairs = np.unique(np.stack([code[f], fam_code[f]]), axis=1)  # (group, family)
        fam_at[s] = np.bincount(pairs[0], minlength=ng)

    rows = []
    for i, g in enumerate(groups):
        for s in STAGES:
            rows.append((*g, s.stage, s.label, n_at[s.stage][i], fam_at[s.stage][i],
                         s.denominator,
                         None if s.denominator is None else n_at[s.denominator][i],
                         n_at["referred"][i]))
    out = pd.DataFrame(rows, columns=[*by_cols, "stage", "stage_label", "n", "families",
                                      "denominator_stage", "denominator", "_referred"])
    for col in by_cols:
        out[col] = out[col].astype(p[col].dtype) if len(out) else out[col]
    for col in ("stage", "stage_label", "denominator_stage"):
        out[col] = out[col].astype(object)
    out["n"] = out["n"].astype("int64")
    out["families"] = out["families"].astype("int64")
    out["denominator"] = out["denominator"].astype("Int64")
    den = out["denominator"].astype("float64").to_numpy()
    num = out["n"].to_numpy(dtype=float)
    has_den = ~np.isnan(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(has_den & (den > 0), num / den, np.nan)
    lo = np.full(len(out), np.nan)
    hi = np.full(len(out), np.nan)
    lo[has_den], hi[has_den] = wilson_interval(num[has_den], den[has_den], ci)
    out["rate"], out["ci_low"], out["ci_high"] = rate, lo, hi
    out["rate_of_referred"] = num / out.pop("_referred").to_numpy(dtype=float)
    zero = has_den & (den == 0)
    if zero.any():
        where = out.loc[zero, [*by_cols, "stage"]].drop_duplicates()
        first = ", ".join(" / ".join(map(str, r)) for r in where.head(5).itertuples(index=False))
        warnings.warn(
            f"{int(zero.sum())} funnel rate(s) have a zero denominator and are left blank "
            f"(NaN), e.g. {first}: nobody reached the stage they are drawn from",
            RpcEvalWarning, stacklevel=2)
    return out[[*by_cols, *FUNNEL_COLUMNS]]


def funnel_table(funnel_frame: pd.DataFrame, *, decimals: int = 1) -> pd.DataFrame:
    """Lay a :func:`funnel` result out like the published 2018-22 sample-flow table.

    Parameters
    ----------
    funnel_frame : DataFrame
        The output of :func:`funnel` (any ``by`` columns are the columns before
        ``stage``).
    decimals : int
        Decimal places of the percentages (default 1, as published).

    Returns
    -------
    DataFrame
        One row per stage (index ``Stage``, the stage labels; with groups, a
        MultiIndex of the group columns then ``Stage``) and columns ``Parents``,
        ``Families``, ``Of stage`` (label of the denominator stage), ``Conversion
        (%)``, ``CI low (%)``, ``CI high (%)`` (the Wilson interval at the level
        ``funnel`` was called with) and ``% of referred``. Percentages are numbers
        rounded to ``decimals``; the conversion of the first stage is not applicable
        and left blank (NaN) for the reporting layer to mark ``[z]``.

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=1)
    >>> table = funnel_table(funnel(data))
    >>> print(table[["Parents", "Families", "Conversion (%)"]].to_string())
    ... # doctest: +NORMALIZE_WHITESPACE
                                                    Parents  Families  Conversion (%)
    Stage
    Referred to an intervention                         600       375             NaN
    Started an intervention                             494       333            82.3
    Completed an intervention                           280       224            56.7
    Answered the end-of-intervention questionnaire      237       201            84.6
    Answered the survey 6 months after completion        68        63            24.3
    Of those, also answered the 12-month survey          15        14            22.1
    """
    if not isinstance(funnel_frame, pd.DataFrame) or not set(FUNNEL_COLUMNS) <= set(
            funnel_frame.columns):
        raise RpcEvalError("funnel_table needs the DataFrame returned by funnel(data)")
    cols = list(funnel_frame.columns)
    by_cols = cols[:cols.index("stage")]
    f = funnel_frame
    labels = dict(zip(f["stage"], f["stage_label"], strict=False))
    table = pd.DataFrame({
        **{c: f[c].to_numpy() for c in by_cols},
        "Stage": f["stage_label"].to_numpy(),
        "Parents": f["n"].to_numpy(),
        "Families": f["families"].to_numpy(),
        "Of stage": f["denominator_stage"].map(labels).to_numpy(),
        "Conversion (%)": (100 * f["rate"]).round(decimals).to_numpy(),
        "CI low (%)": (100 * f["ci_low"]).round(decimals).to_numpy(),
        "CI high (%)": (100 * f["ci_high"]).round(decimals).to_numpy(),
        "% of referred": (100 * f["rate_of_referred"]).round(decimals).to_numpy(),
    })
    return table.set_index([*by_cols, "Stage"])
