"""Pre/post change tables from a tidy scores frame.

Input is the tidy frame of :func:`rpc_eval.instruments.score` (one row per participant
x wave x instrument x scale, with ``score`` and ``valid``), plus any group columns
joined onto it beforehand (e.g. ``intervention`` from the ``parents`` table). Output is
one row per instrument x scale x wave pair x group in a wide layout with every
estimator named in its column (``d_z``, ``g_av``...).

Direction: an *improvement* is a fall on a ``higher_is_worse`` scale (SDQ
difficulties, PHQ-9) and a rise on a ``higher_is_better`` scale (WEMWBS, CSI). The
direction comes from the instrument's definition (``direction``), or a scale's own
``direction`` key where a definition has one, or the ``directions`` argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rpc_eval._util import as_list as _as_list
from rpc_eval.change.effect_sizes import ESTIMATORS, _check_ci, _summary, _wilcoxon
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments.registry import Registry, default_registry

__all__ = ["change_table", "pair_waves", "scale_direction", "CHANGE_COLUMNS", "PAIR_COLUMNS"]

_DIRECTIONS = ("higher_is_worse", "higher_is_better")

#: Columns of :func:`pair_waves` after the id and group columns.
PAIR_COLUMNS = ["instrument", "scale", "wave_pre", "wave_post", "pre", "post"]

#: Columns of :func:`change_table` after the group columns.
CHANGE_COLUMNS = [
    "instrument", "scale", "direction", "wave_pre", "wave_post",
    "n_pre", "n_post", "n_paired",
    "mean_pre", "sd_pre", "mean_post", "sd_post",
    "mean_change", "sd_change", "change_ci_low", "change_ci_high",
    "r", "statistic", "df", "p_value", "wilcoxon_statistic", "wilcoxon_p_value",
    *[c for e in ESTIMATORS for c in (e, f"{e}_ci_low", f"{e}_ci_high")],
    "improvement", "improvement_ci_low", "improvement_ci_high",
    "standardised_estimator", "standardised_improvement",
    "standardised_improvement_ci_low", "standardised_improvement_ci_high",
    "ci_level",
]


# ----------------------------------------------------------------------------- helpers

def _wave_pairs(waves: Any) -> list[tuple[str, str]]:
    """``("baseline", "end")`` or a list of such pairs -> list of pairs."""
    if (isinstance(waves, Sequence) and not isinstance(waves, str) and len(waves) == 2
            and all(isinstance(w, str) for w in waves)):
        pairs = [tuple(waves)]
    elif isinstance(waves, Sequence) and not isinstance(waves, str) and waves and all(
            isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 for p in waves):
        pairs = [tuple(p) for p in waves]
    else:
        raise RpcEvalError(
            f"waves must be a (pre, post) pair such as ('baseline', 'end'), or a list of "
            f"such pairs; got {waves!r}"
        )
    for a, b in pairs:
        if a == b:
            raise RpcEvalError(f"a wave pair needs two different waves; got ({a!r}, {b!r})")
    return [(str(a), str(b)) for a, b in pairs]


def scale_direction(instrument: str, scale: str, *, registry: Registry | None = None,
                    directions: Mapping[Any, str] | None = None) -> str:
    """Direction of one scale: ``higher_is_worse`` or ``higher_is_better``.

    Parameters
    ----------
    instrument, scale : str
        Names as in the scores frame.
    registry : Registry, optional
        Where the definitions are looked up (the package's by default).
    directions : mapping, optional
        Overrides: keys ``(instrument, scale)`` or ``instrument``; values
        ``higher_is_worse`` / ``higher_is_better``. A ``(instrument, scale)`` key wins
        over an ``instrument`` key, which wins over the definition.

    Returns
    -------
    str
        The override if given; else the scale's own ``direction`` key if its
        definition has one; else the instrument's ``direction``.

    Raises
    ------
    RpcEvalError
        If the instrument is not in the registry and no override is given, or an
        override is not one of the two directions.

    Examples
    --------
    >>> scale_direction("phq9", "total"), scale_direction("wemwbs", "total")
    ('higher_is_worse', 'higher_is_better')
    >>> scale_direction("sdq_parent_4_17", "prosocial",
    ...                 directions={("sdq_parent_4_17", "prosocial"): "higher_is_better"})
    'higher_is_better'
    """
    directions = directions or {}
    for key in ((instrument, scale), instrument):
        if key in directions:
            value = directions[key]
            if value not in _DIRECTIONS:
                raise RpcEvalError(
                    f"direction for {key!r} must be 'higher_is_worse' or 'higher_is_better', "
                    f"not {value!r}"
                )
            return str(value)
    reg = registry or default_registry()
    if instrument not in reg:
        raise RpcEvalError(
            f"instrument {instrument!r} is not in the registry, so its direction is unknown: "
            f"pass the registry that defines it (registry=Registry(extra_dirs=[...])) or "
            f"directions={{{instrument!r}: 'higher_is_worse'}} (or 'higher_is_better')"
        )
    inst = reg.get(instrument)
    own = None
    if scale in inst.scale_names:
        own = inst.scale(scale).spec.get("direction")
    return str(own) if own in _DIRECTIONS else inst.direction


def _valid_scores(scores: pd.DataFrame, ids: list[str], by: list[str],
                  extra: Sequence[str] = ()) -> pd.DataFrame:
    """Rows with a usable score, after checking columns, duplicates and groups."""
    if not isinstance(scores, pd.DataFrame):
        raise RpcEvalError("scores must be a DataFrame (the result of rpc_eval.instruments.score)")
    needed = [*ids, "wave", "instrument", "scale", "score", *by, *extra]
    missing = [c for c in dict.fromkeys(needed) if c not in scores.columns]
    if missing:
        hint = ""
        if set(missing) & set(by):
            hint = (" (join group columns such as 'intervention' onto the scores first, e.g. "
                    "scores.merge(parents[['parent_id', 'intervention']], on='parent_id'))")
        raise RpcEvalError(
            f"scores needs column(s) {missing}; it has {list(scores.columns)}{hint}"
        )
    keep = scores["score"].notna()
    if "valid" in scores.columns:
        keep &= scores["valid"].eq(True)  # missing or false: not used
    cols = list(dict.fromkeys([*ids, *by, "wave", "instrument", "scale", "score", *extra]))
    sub = scores.loc[keep, cols].copy()
    sub["score"] = pd.to_numeric(sub["score"], errors="raise").astype("float64")
    key = [*ids, "instrument", "scale", "wave"]
    dup = sub.duplicated(key, keep=False)
    if dup.any():
        ex = sub.loc[dup, key].drop_duplicates().head(5).to_dict("records")
        raise RpcEvalError(
            f"{int(dup.sum())} score rows share the same {', '.join(key)}; each participant "
            f"needs one score per scale and wave. First cases: {ex}. If the rows belong to "
            f"different people, add the column that tells them apart to id_col"
        )
    if by:
        n_groups = sub.groupby(ids, dropna=False)[by].nunique(dropna=False)
        bad = n_groups[(n_groups > 1).any(axis=1)]
        if len(bad):
            raise RpcEvalError(
                f"the group column(s) {by} change between waves for {len(bad)} "
                f"participant(s), e.g. {list(bad.index[:5])}; a participant must stay in "
                "one group (take the group from the parents table)"
            )
    return sub


def _ids(scores: pd.DataFrame, id_col: str | Sequence[str]) -> list[str]:
    ids = _as_list(id_col)
    if not ids:
        raise RpcEvalError("id_col must name the participant id column, e.g. 'parent_id'")
    if "respondent" in scores.columns and "respondent" not in ids:
        ids.append("respondent")
    return ids


def pair_waves(data: pd.DataFrame, *, waves: Any = ("baseline", "end"),
               id_col: str | Sequence[str] = "parent_id", by: str | Sequence[str] | None = None,
               extra: Sequence[str] = ()) -> pd.DataFrame:
    """Put each participant's scores at two waves side by side.

    Parameters
    ----------
    data : DataFrame
        Tidy scores (:func:`rpc_eval.instruments.score`): columns ``id_col``, ``wave``,
        ``instrument``, ``scale``, ``score`` and, if present, ``valid`` (rows with
        ``valid`` false or a missing score are not used) and ``respondent`` (added to
        the id automatically).
    waves : (str, str) or list of (str, str)
        Pre and post wave of each pair.
    id_col : str or list of str
        Participant id column(s).
    by : str or list of str, optional
        Group columns (constant within a participant) carried through.
    extra : sequence of str
        Further per-wave columns to carry (e.g. ``band``); they come out as
        ``<name>_pre`` and ``<name>_post``.

    Returns
    -------
    DataFrame
        One row per participant x instrument x scale x wave pair with a valid score at
        either wave: id columns, group columns, then ``instrument, scale, wave_pre,
        wave_post, pre, post`` (``pre`` / ``post`` missing where that wave is missing),
        then the ``extra`` columns.

    Raises
    ------
    RpcEvalError
        Missing columns, duplicate scores for one participant x scale x wave, group
        columns that change between waves, or a malformed ``waves``.

    Notes
    -----
    R equivalent: ``tidyr::pivot_wider(scores, names_from = wave, values_from = score)``
    restricted to the two waves.

    Examples
    --------
    >>> s = pd.DataFrame({"parent_id": ["A", "A", "B"], "wave": ["baseline", "end", "baseline"],
    ...                   "instrument": "phq9", "scale": "total", "score": [12.0, 7.0, 9.0]})
    >>> print(pair_waves(s).to_string(index=False))
    parent_id instrument scale wave_pre wave_post  pre  post
            A       phq9 total baseline       end 12.0   7.0
            B       phq9 total baseline       end  9.0   NaN
    """
    ids = _ids(data, id_col)
    by_cols = _as_list(by)
    extra = list(extra)
    pairs = _wave_pairs(waves)
    sub = _valid_scores(data, ids, by_cols, extra)
    present = set(sub["wave"].dropna().unique())
    for pair in pairs:
        absent = [w for w in pair if w not in present]
        if absent:
            raise RpcEvalError(
                f"no valid scores at wave(s) {absent}; waves with scores: "
                f"{sorted(map(str, present))}"
            )
    key = [*ids, *by_cols, "instrument", "scale"]
    out = []
    for w0, w1 in pairs:
        a = sub.loc[sub["wave"] == w0, [*key, "score", *extra]]
        b = sub.loc[sub["wave"] == w1, [*key, "score", *extra]]
        a = a.rename(columns={"score": "pre", **{c: f"{c}_pre" for c in extra}})
        b = b.rename(columns={"score": "post", **{c: f"{c}_post" for c in extra}})
        m = a.merge(b, on=key, how="outer", sort=False)
        m.insert(len(key), "wave_pre", w0)
        m.insert(len(key) + 1, "wave_post", w1)
        out.append(m)
    res = pd.concat(out, ignore_index=True)
    cols = [*key, "wave_pre", "wave_post", "pre", "post",
            *[f"{c}_{s}" for c in extra for s in ("pre", "post")]]
    return res[cols]


def _order_key(values: pd.Series) -> pd.Series:
    """Order of first appearance."""
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    if (codes >= 0).all():  # factorize numbers values in order of first appearance
        return pd.Series(codes.astype("int64"), index=values.index)
    first = {v: i for i, v in enumerate(pd.unique(values))}
    return values.map(first)


# ------------------------------------------------------------------------------ public
def change_table(data: pd.DataFrame, *, waves: Any = ("baseline", "end"),
                 by: str | Sequence[str] | None = None,
                 id_col: str | Sequence[str] = "parent_id",
                 registry: Registry | None = None, ci: float = 0.95,
                 standardised: str = "g_av",
                 directions: Mapping[Any, str] | None = None) -> pd.DataFrame:
    """Pre/post change of every instrument and scale, with tests and effect sizes.

    Parameters
    ----------
    data : DataFrame
        Tidy scores from :func:`rpc_eval.instruments.score` (several instruments and
        scales may be stacked), with group columns joined on. Rows with ``valid``
        false or a missing ``score`` are ignored.
    waves : (str, str) or list of (str, str)
        Pre and post wave, e.g. ``("baseline", "end")``, or several such pairs.
    by : str or list of str, optional
        Group columns (e.g. ``"intervention"``); each must be constant within a
        participant.
    id_col : str or list of str
        Participant id; ``respondent`` is added automatically when the scores have it.
    registry : Registry, optional
        Definitions used for each scale's direction (the package's by default).
    ci : float
        Confidence level of every interval.
    standardised : str
        Estimator behind ``standardised_improvement``: one of ``d_z, g_z, d_av, g_av,
        d_rm, g_rm``. ``g_av`` (default) is on the scale of a between-group effect size;
        ``d_z`` is the one to use for power calculations.
    directions : mapping, optional
        Direction overrides, see :func:`scale_direction` (e.g. for a scale where higher
        is better inside an instrument where higher is worse).

    Returns
    -------
    DataFrame
        Wide layout, one row per group x instrument x scale x wave pair (groups sorted;
        instruments and scales in order of first appearance). Columns: the ``by``
        columns, then

        ``instrument, scale, direction, wave_pre, wave_post``
            What is compared (``direction`` as used for ``improvement``).
        ``n_pre, n_post, n_paired``
            Participants with a valid score at the pre wave, at the post wave, and at
            both. Only the ``n_paired`` complete pairs enter the statistics.
        ``mean_pre, sd_pre, mean_post, sd_post``
            Descriptives of the paired sample.
        ``mean_change, sd_change, change_ci_low, change_ci_high``
            Mean of post - pre, its SD, and its t-based confidence interval.
        ``r``
            Pearson correlation of pre and post.
        ``statistic, df, p_value``
            Paired t-test: t, its degrees of freedom and two-sided p-value.
        ``wilcoxon_statistic, wilcoxon_p_value``
            Wilcoxon signed-rank: ``W+`` (R's ``V``) and its normal-approximation p
            (see :func:`rpc_eval.change.effect_sizes.paired_tests`).
        ``d_z, g_z, d_av, g_av, d_rm, g_rm`` and ``<estimator>_ci_low``, ``_ci_high``
            Standardised change (post - pre) and CIs, see
            :func:`rpc_eval.change.effect_sizes.paired_effect_sizes`.
        ``improvement, improvement_ci_low, improvement_ci_high``
            Mean change signed so that positive = better: ``-mean_change`` on a
            ``higher_is_worse`` scale, ``mean_change`` on ``higher_is_better``.
        ``standardised_estimator``
            Name of the estimator used next (``standardised``).
        ``standardised_improvement`` and its ``_ci_low``, ``_ci_high``
            That effect size signed so that positive = better.
        ``ci_level``
            The confidence level.

        Statistics that cannot be computed (fewer than 2 pairs, no variation) are
        missing.

    Raises
    ------
    RpcEvalError
        Missing columns, duplicate scores, group columns that change between waves,
        unknown waves, an instrument whose direction is unknown, or a bad
        ``standardised`` / ``ci``.

    Notes
    -----
    Formulas and references as in :mod:`rpc_eval.change.effect_sizes` (Lakens 2013;
    Algina & Keselman 2003). Sign convention: changes are post - pre.

    R equivalent, per row: ``t.test(post, pre, paired = TRUE)``,
    ``wilcox.test(post, pre, paired = TRUE, exact = FALSE, correct = TRUE)``,
    ``effectsize::cohens_d(post, pre, paired = TRUE)`` and
    ``effectsize::hedges_g(post, pre, paired = TRUE)``.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "parent_id": [f"P{i}" for i in range(6)] * 2,
    ...     "wave": ["baseline"] * 6 + ["end"] * 6,
    ...     "instrument": "phq9", "scale": "total",
    ...     "score": [14, 11, 18, 9, 16, 12, 9, 10, 12, 8, 11, 7]})
    >>> tab = change_table(s)
    >>> print(tab[["instrument", "n_paired", "mean_change", "d_z", "improvement",
    ...            "standardised_improvement"]].round(3).to_string(index=False))
    instrument  n_paired  mean_change   d_z  improvement  standardised_improvement
          phq9         6       -3.833 -1.72        3.833                      1.24
    """
    ci = _check_ci(ci)
    if standardised not in ESTIMATORS:
        raise RpcEvalError(f"standardised must be one of {list(ESTIMATORS)}, not {standardised!r}")
    by_cols = _as_list(by)
    pairs = pair_waves(data, waves=waves, id_col=id_col, by=by_cols)
    reg = registry or default_registry()
    group_keys = [*by_cols, "instrument", "scale", "wave_pre", "wave_post"]
    pairs = pairs.assign(
        _inst_order=_order_key(pairs["instrument"]),
        _scale_order=_order_key(pairs["instrument"].astype(str) + "\x00"
                                + pairs["scale"].astype(str)),
        _pair_order=_order_key(pairs["wave_pre"].astype(str) + "\x00"
                               + pairs["wave_post"].astype(str)),
    )
    rows = []
    dir_cache: dict[tuple[str, str], str] = {}
    for keys, g in pairs.groupby(group_keys, sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        rec = dict(zip(group_keys, keys, strict=True))
        inst, scale = str(rec["instrument"]), str(rec["scale"])
        if (inst, scale) not in dir_cache:
            dir_cache[(inst, scale)] = scale_direction(inst, scale, registry=reg,
                                                       directions=directions)
        direction = dir_cache[(inst, scale)]
        pre = g["pre"].to_numpy(dtype="float64")
        post = g["post"].to_numpy(dtype="float64")
        both = np.isfinite(pre) & np.isfinite(post)
        x, y = pre[both], post[both]
        s = _summary(x, y, ci)
        w, p_w = _wilcoxon(x, y) if x.size >= 1 else (np.nan, np.nan)
        sign = 1.0 if direction == "higher_is_better" else -1.0

        def signed(est: float, lo: float, hi: float, sign: float = sign) -> tuple:
            return (sign * est, *sorted((sign * lo, sign * hi)))

        imp = signed(s["mean_change"], s["change_ci_low"], s["change_ci_high"])
        std = signed(s[standardised], s[f"{standardised}_ci_low"], s[f"{standardised}_ci_high"])
        rec.update({
            "direction": direction,
            "n_pre": int(np.isfinite(pre).sum()), "n_post": int(np.isfinite(post).sum()),
            "n_paired": int(both.sum()),
            **{k: s[k] for k in ("mean_pre", "sd_pre", "mean_post", "sd_post", "mean_change",
                                 "sd_change", "change_ci_low", "change_ci_high", "r",
                                 "statistic", "df", "p_value")},
            "wilcoxon_statistic": w, "wilcoxon_p_value": p_w,
            **{k: s[k] for e in ESTIMATORS for k in (e, f"{e}_ci_low", f"{e}_ci_high")},
            "improvement": imp[0], "improvement_ci_low": imp[1], "improvement_ci_high": imp[2],
            "standardised_estimator": standardised,
            "standardised_improvement": std[0],
            "standardised_improvement_ci_low": std[1],
            "standardised_improvement_ci_high": std[2],
            "ci_level": ci,
            "_inst_order": g["_inst_order"].iloc[0], "_scale_order": g["_scale_order"].iloc[0],
            "_pair_order": g["_pair_order"].iloc[0],
        })
        rows.append(rec)
    out = pd.DataFrame(rows)
    out = out.sort_values([*by_cols, "_inst_order", "_scale_order", "_pair_order"],
                          kind="stable").reset_index(drop=True)
    out["n_pre"] = out["n_pre"].astype("int64")
    out["n_post"] = out["n_post"].astype("int64")
    out["n_paired"] = out["n_paired"].astype("int64")
    return out[[*by_cols, *CHANGE_COLUMNS]]
