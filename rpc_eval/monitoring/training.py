"""Practitioner training: change in self-rated knowledge, then-test, and use at follow-up.

:func:`paired_ratings` compares a practitioner's rating of a question at two waves
(pre -> post by default; then -> post for the retrospective "then-test"), with the mean
change and its t interval, the Wilcoxon signed-rank test and the matched-pairs
rank-biserial correlation. :func:`response_shift` is the pre -> then comparison (how
far practitioners revised their view of where they started).
:func:`application_at_followup` reports how many practitioners apply the training at
least weekly / monthly six months on, and compares what they expected at the end of the
course (``expected_use`` at ``post``) with what they then did (``actual_use`` at
``followup_6m``), with McNemar's exact test.

Input is the ``training_responses`` table (``practitioner_id, wave, question, value``);
group columns not in it are taken from ``practitioners`` (joined on
``practitioner_id``) when that table is passed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from rpc_eval._util import check_ci as _check_ci
from rpc_eval.errors import RpcEvalError
from rpc_eval.stats.intervals import wilson_interval

__all__ = [
    "paired_ratings",
    "response_shift",
    "application_at_followup",
    "wilcoxon_signed_rank",
    "rank_biserial_paired",
    "PAIRED_COLUMNS",
    "APPLICATION_COLUMNS",
]

#: Columns of :func:`paired_ratings` after the group columns.
PAIRED_COLUMNS: list[str] = [
    "question", "wave_1", "wave_2", "n_pairs", "n_nonzero",
    "median_1", "median_2", "mean_1", "mean_2",
    "mean_change", "mean_change_ci_low", "mean_change_ci_high",
    "wilcoxon_statistic", "wilcoxon_t_minus", "wilcoxon_z", "wilcoxon_p_value",
    "rank_biserial", "rank_biserial_ci_low", "rank_biserial_ci_high",
]

#: Columns of :func:`application_at_followup` after the group columns.
APPLICATION_COLUMNS: list[str] = [
    "n_followup",
    "n_weekly", "share_weekly", "share_weekly_ci_low", "share_weekly_ci_high",
    "n_monthly", "share_monthly", "share_monthly_ci_low", "share_monthly_ci_high",
    "n_paired", "share_expected_weekly", "share_actual_weekly", "difference_weekly",
    "n_expected_only", "n_actual_only", "mcnemar_p_value",
]

_NEEDED = ("practitioner_id", "wave", "question", "value")


def _as_list(by) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _prepare(training_responses: pd.DataFrame, by: list[str],
             practitioners: pd.DataFrame | None) -> pd.DataFrame:
    if not isinstance(training_responses, pd.DataFrame):
        raise RpcEvalError("training_responses must be a pandas DataFrame")
    missing = [c for c in _NEEDED if c not in training_responses.columns]
    if missing:
        raise RpcEvalError(f"training_responses lacks column(s) {missing}; it needs {list(_NEEDED)}")
    frame = training_responses
    need = [c for c in by if c not in frame.columns]
    if need:
        if practitioners is None:
            raise RpcEvalError(
                f"group column(s) {need} are not in training_responses; pass practitioners= "
                "to take them from the practitioners table")
        lacking = [c for c in need + ["practitioner_id"] if c not in practitioners.columns]
        if lacking:
            raise RpcEvalError(f"practitioners lacks column(s) {lacking}")
        if practitioners["practitioner_id"].duplicated().any():
            raise RpcEvalError("practitioners has repeated practitioner_id values")
        frame = frame.merge(practitioners[["practitioner_id"] + need], on="practitioner_id",
                            how="left")
    return frame


def _wide(frame: pd.DataFrame, question: str, waves: Sequence[str], by: list[str]) -> pd.DataFrame:
    """One row per practitioner with a column per wave (answers at every wave only)."""
    sub = frame[(frame["question"] == question) & frame["wave"].isin(waves)]
    sub = sub[sub["value"].notna()]
    dup = sub.duplicated(["practitioner_id", "wave"])
    if dup.any():
        row = sub[dup].iloc[0]
        raise RpcEvalError(
            f"practitioner {row['practitioner_id']} has more than one answer to {question!r} "
            f"at wave {row['wave']!r}; keep one answer per practitioner, wave and question")
    wide = sub.pivot(index=["practitioner_id"] + by, columns="wave", values="value")
    for w in waves:
        if w not in wide.columns:
            wide[w] = np.nan
    wide = wide[list(waves)].dropna().astype(float).reset_index()
    return wide


def wilcoxon_signed_rank(d) -> dict:
    """Wilcoxon signed-rank test of paired differences ``d`` (normal approximation).

    Zero differences are dropped (``zero_method="wilcox"``), tied absolute differences
    get average ranks and the variance is corrected for ties; the z statistic has a
    continuity correction. This is R's ``wilcox.test(x, y, paired = TRUE, exact = FALSE,
    correct = TRUE)``; the p-value comes from
    ``scipy.stats.wilcoxon(d, zero_method="wilcox", correction=True, method="approx")``.

    Returns
    -------
    dict
        ``n_nonzero``, ``v`` (sum of positive ranks, R's ``V``), ``t_minus`` (sum of
        negative ranks), ``statistic`` (the continuity-corrected z) and ``p_value``.
        With no non-zero difference ``statistic`` and ``p_value`` are NaN.

    Examples
    --------
    >>> r = wilcoxon_signed_rank([1, 2, -1, 3, 0, 2, 2, -1, 1, 1])
    >>> r["v"], round(r["p_value"], 5)
    (39.0, 0.05278)
    """
    d = np.asarray(d, dtype=float)
    d = d[~np.isnan(d)]
    nz = d[d != 0]
    n = int(nz.size)
    if n == 0:
        return {"n_nonzero": 0, "v": 0.0, "t_minus": 0.0, "statistic": np.nan,
                "p_value": np.nan}
    ranks = stats.rankdata(np.abs(nz))
    v = float(ranks[nz > 0].sum())
    t_minus = float(ranks[nz < 0].sum())
    # Tie-corrected variance; with every |d| tied and one sign the test still works.
    mean = n * (n + 1) / 4
    _, counts = np.unique(np.abs(nz), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (counts ** 3 - counts).sum() / 48
    if var <= 0:
        return {"n_nonzero": n, "v": v, "t_minus": t_minus, "statistic": np.nan,
                "p_value": np.nan}
    res = stats.wilcoxon(nz, zero_method="wilcox", correction=True, method="approx")
    diff = v - mean
    z = (diff - 0.5 * np.sign(diff)) / np.sqrt(var)
    return {"n_nonzero": n, "v": v, "t_minus": t_minus, "statistic": float(z),
            "p_value": float(res.pvalue)}


def rank_biserial_paired(d, ci: float = 0.95) -> tuple[float, float, float]:
    """Matched-pairs rank-biserial correlation with a Fisher-z interval.

    .. math:: r = \\frac{T_+ - T_-}{T_+ + T_-}

    where ``T+`` and ``T-`` are the sums of the (average) ranks of the positive and
    negative non-zero differences (Kerby 2014). The interval is
    ``tanh(atanh(r) +/- z * SE)`` with
    ``SE = sqrt((2n^3 + 3n^2 + n) / 6) / ((n^2 + n) / 2)`` and no adjustment for ties:
    the normal-approximation interval of R's
    ``effectsize::rank_biserial(x, y, paired = TRUE)`` (effectsize 0.8.3). In the SE,
    ``n`` is the number of pairs *including* zero differences: effectsize counts
    ``x != mu`` on the first sample, not on the differences, which for ratings (never 0)
    is every pair; we follow it so the two agree (the estimate itself drops zeros).

    Returns
    -------
    (float, float, float)
        ``r``, lower and upper limits; all NaN when every difference is zero.

    References
    ----------
    Kerby, D. S. (2014). The simple difference formula: an approach to teaching
    nonparametric correlation. *Comprehensive Psychology* 3, 11.IT.3.1.

    Examples
    --------
    >>> [round(v, 4) for v in rank_biserial_paired([1, 2, -1, 3, 0, 2, 2, -1, 1, 1])]
    [0.7333, 0.2324, 0.9268]
    """
    _check_ci(ci)
    d = np.asarray(d, dtype=float)
    d = d[~np.isnan(d)]
    nz = d[d != 0]
    n = d.size
    if nz.size == 0:
        return (np.nan, np.nan, np.nan)
    ranks = stats.rankdata(np.abs(nz))
    tp, tm = ranks[nz > 0].sum(), ranks[nz < 0].sum()
    r = float((tp - tm) / (tp + tm))
    se = np.sqrt((2 * n ** 3 + 3 * n ** 2 + n) / 6) / ((n ** 2 + n) / 2)
    z = stats.norm.ppf((1 + ci) / 2)
    with np.errstate(divide="ignore"):
        rf = np.arctanh(r)
    return (r, float(np.tanh(rf - z * se)), float(np.tanh(rf + z * se)))


def _paired_row(wide: pd.DataFrame, w1: str, w2: str, ci: float) -> dict:
    x1 = wide[w1].to_numpy()
    x2 = wide[w2].to_numpy()
    d = x2 - x1
    n = d.size
    out = {"n_pairs": n}
    if n == 0:
        out.update({k: np.nan for k in PAIRED_COLUMNS[4:]})
        out["n_nonzero"] = 0
        return out
    mean = float(d.mean())
    if n > 1:
        half = stats.t.ppf((1 + ci) / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
    else:
        half = np.nan
    w = wilcoxon_signed_rank(d)
    r, lo, hi = rank_biserial_paired(d, ci)
    out.update({
        "n_nonzero": w["n_nonzero"],
        "median_1": float(np.median(x1)), "median_2": float(np.median(x2)),
        "mean_1": float(x1.mean()), "mean_2": float(x2.mean()),
        "mean_change": mean, "mean_change_ci_low": mean - half,
        "mean_change_ci_high": mean + half,
        "wilcoxon_statistic": w["v"], "wilcoxon_t_minus": w["t_minus"], "wilcoxon_z": w["statistic"],
        "wilcoxon_p_value": w["p_value"],
        "rank_biserial": r, "rank_biserial_ci_low": lo, "rank_biserial_ci_high": hi,
    })
    return out


def paired_ratings(data: pd.DataFrame, question, waves=("pre", "post"), *,
                   by=None, practitioners: pd.DataFrame | None = None,
                   ci: float = 0.95) -> pd.DataFrame:
    """Paired change in a training rating between two waves, per question and group.

    Practitioners count when they answered the question at both waves. For each
    question (and group) the change ``d = wave_2 - wave_1`` is summarised by its mean
    with a t interval, the Wilcoxon signed-rank test (:func:`wilcoxon_signed_rank`:
    zeros dropped, tie-corrected normal approximation with continuity correction) and
    the matched-pairs rank-biserial correlation (:func:`rank_biserial_paired`, Fisher-z
    interval as in ``effectsize``). Use ``waves=("then", "post")`` for the then-test.

    Parameters
    ----------
    data : DataFrame
        The ``training_responses`` table: ``practitioner_id, wave, question, value``
        (plus any group columns).
    question : str or sequence of str
        Question code(s), e.g. ``"knowledge"``.
    waves : (str, str)
        The earlier and the later wave.
    by : str or list of str, optional
        Group columns, from ``data`` or else ``practitioners``.
    practitioners : DataFrame, optional
        The practitioners table, for group columns such as ``sector`` or ``la_code``.
    ci : float
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        Group columns, then :data:`PAIRED_COLUMNS`: ``question``, ``wave_1``,
        ``wave_2``, ``n_pairs``, ``n_nonzero`` (pairs with a non-zero change),
        ``median_1``/``median_2``, ``mean_1``/``mean_2``, ``mean_change`` (wave_2 -
        wave_1) with ``mean_change_ci_low``/``_high`` (t interval), ``wilcoxon_statistic``
        (sum of positive ranks, R's V), ``wilcoxon_t_minus``, ``wilcoxon_z``,
        ``wilcoxon_p_value`` (two-sided), ``rank_biserial`` with
        ``rank_biserial_ci_low``/``_high``. Statistics a group cannot support are NaN.

    Notes
    -----
    R: ``wilcox.test(post, pre, paired = TRUE, exact = FALSE, correct = TRUE)`` and
    ``effectsize::rank_biserial(post, pre, paired = TRUE)``.

    Examples
    --------
    >>> tr = pd.DataFrame({"practitioner_id": ["a", "a", "b", "b", "c", "c"],
    ...                    "wave": ["pre", "post"] * 3, "question": "knowledge",
    ...                    "value": [2, 4, 3, 4, 2, 2]})
    >>> out = paired_ratings(tr, "knowledge")
    >>> out[["n_pairs", "n_nonzero", "mean_change", "rank_biserial"]].iloc[0].tolist()
    [3.0, 2.0, 1.0, 1.0]
    """
    _check_ci(ci)
    if isinstance(waves, str) or len(waves) != 2 or waves[0] == waves[1]:
        raise RpcEvalError(f"waves must be two different waves, e.g. ('pre', 'post'); got {waves!r}")
    questions = [question] if isinstance(question, str) else list(question)
    if not questions:
        raise RpcEvalError("give at least one question")
    by_cols = _as_list(by)
    frame = _prepare(data, by_cols, practitioners)
    known = set(frame["question"].unique())
    unknown = [q for q in questions if q not in known]
    if unknown:
        raise RpcEvalError(f"question(s) {unknown} not found in training_responses; "
                           f"found {sorted(map(str, known))}")
    w1, w2 = waves
    rows = []
    for q in questions:
        wide = _wide(frame, q, waves, by_cols)
        groups = wide.groupby(by_cols, sort=True, dropna=False) if by_cols else [((), wide)]
        for key, g in groups:
            key = key if isinstance(key, tuple) else (key,)
            row = dict(zip(by_cols, key, strict=True))
            row.update({"question": q, "wave_1": w1, "wave_2": w2})
            row.update(_paired_row(g, w1, w2, ci))
            rows.append(row)
    out = pd.DataFrame(rows, columns=by_cols + PAIRED_COLUMNS)
    out["n_pairs"] = out["n_pairs"].astype(int)
    out["n_nonzero"] = out["n_nonzero"].astype(int)
    return out


def response_shift(data: pd.DataFrame, question, *, by=None,
                   practitioners: pd.DataFrame | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Response shift: the retrospective "then" rating against the rating given before.

    ``paired_ratings(..., waves=("pre", "then"))``: a negative ``mean_change`` means
    practitioners, looking back after the course, rate their starting point lower than
    they did at the time (they overrated themselves beforehand), so the pre -> post
    change understates the effect and the then -> post change is the larger
    (Howard 1980).

    Returns
    -------
    DataFrame
        As :func:`paired_ratings` with ``wave_1 = "pre"``, ``wave_2 = "then"``.

    References
    ----------
    Howard, G. S. (1980). Response-shift bias: a problem in evaluating interventions
    with pre/post self-reports. *Evaluation Review* 4, 93-106.

    Examples
    --------
    >>> tr = pd.DataFrame({"practitioner_id": ["a", "a", "b", "b"],
    ...                    "wave": ["pre", "then"] * 2, "question": "knowledge",
    ...                    "value": [3, 2, 3, 3]})
    >>> float(response_shift(tr, "knowledge")["mean_change"].iloc[0])
    -0.5
    """
    return paired_ratings(data, question, ("pre", "then"), by=by,
                          practitioners=practitioners, ci=ci)


def _codes(codes, name) -> set:
    codes = set(codes)
    if not codes:
        raise RpcEvalError(f"{name} must list at least one response code")
    return codes


def application_at_followup(data: pd.DataFrame, *, by=None,
                            practitioners: pd.DataFrame | None = None,
                            weekly_codes=(5, 6), monthly_codes=(4, 5, 6),
                            ci: float = 0.95) -> pd.DataFrame:
    """Use of the training six months on, and anticipated against actual use.

    Share applying the training at least weekly (``actual_use`` in ``weekly_codes``)
    and at least monthly (in ``monthly_codes``) among practitioners answering
    ``actual_use`` at ``followup_6m``, with Wilson intervals
    (:func:`rpc_eval.stats.intervals.wilson_interval`). For practitioners who
    answered both ``expected_use`` at ``post`` and ``actual_use`` at ``followup_6m``:
    the share expecting at-least-weekly use, the share achieving it, their difference
    (actual - expected), the discordant counts and McNemar's exact test (two-sided
    binomial test of ``n_expected_only`` among the discordant pairs,
    ``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``).

    Parameters
    ----------
    data : DataFrame
        The ``training_responses`` table: ``practitioner_id, wave, question, value``.
    by : str or list of str, optional
        Group columns (e.g. ``"sector"``, ``"la_code"``), taken from ``practitioners``
        when not in ``data``.
    practitioners : DataFrame, optional
        The practitioners table.
    weekly_codes, monthly_codes : sequence of int
        Response codes meaning at least weekly / at least monthly (codebook: 1 never ..
        6 daily).
    ci : float
        Confidence level of the Wilson intervals.

    Returns
    -------
    DataFrame
        Group columns, then :data:`APPLICATION_COLUMNS`: ``n_followup`` (answered
        actual_use), ``n_weekly``, ``share_weekly`` (+ ``_ci_low``/``_ci_high``),
        ``n_monthly``, ``share_monthly`` (+ CI), ``n_paired`` (answered both),
        ``share_expected_weekly``, ``share_actual_weekly`` (in the paired set),
        ``difference_weekly``, ``n_expected_only`` (expected weekly, did not achieve
        it), ``n_actual_only`` (achieved without expecting it), ``mcnemar_p_value`` (1 when
        there is no discordant pair; NaN when ``n_paired`` is 0).

    Notes
    -----
    R: ``binom.test(n_expected_only, n_expected_only + n_actual_only)`` (McNemar exact);
    ``mcnemar.test(table, correct = FALSE)`` is the chi-square version.

    Examples
    --------
    >>> tr = pd.DataFrame({"practitioner_id": ["a", "a", "b", "b", "c"],
    ...                    "wave": ["post", "followup_6m"] * 2 + ["followup_6m"],
    ...                    "question": ["expected_use", "actual_use"] * 2 + ["actual_use"],
    ...                    "value": [6, 3, 5, 5, 4]})
    >>> out = application_at_followup(tr)
    >>> out[["n_followup", "n_weekly", "n_monthly", "n_paired", "n_expected_only"]].iloc[0].tolist()
    [3, 1, 2, 2, 1]
    """
    _check_ci(ci)
    weekly = _codes(weekly_codes, "weekly_codes")
    monthly = _codes(monthly_codes, "monthly_codes")
    by_cols = _as_list(by)
    frame = _prepare(data, by_cols, practitioners)
    actual = _wide(frame, "actual_use", ["followup_6m"], by_cols)
    # expected_use at post and actual_use at follow-up, side by side.
    exp = frame[(frame["question"] == "expected_use") & (frame["wave"] == "post")
                & frame["value"].notna()]
    if exp.duplicated("practitioner_id").any():
        raise RpcEvalError("a practitioner has more than one expected_use answer at post")
    paired = actual.merge(exp[["practitioner_id", "value"]].rename(columns={"value": "expected"}),
                          on="practitioner_id", how="inner")

    def groups(df):
        if not by_cols:
            return {(): df}
        return {k if isinstance(k, tuple) else (k,): g
                for k, g in df.groupby(by_cols, sort=True, dropna=False)}

    ga, gp = groups(actual), groups(paired)
    rows = []
    for key in sorted(ga, key=lambda k: tuple(map(str, k))) if by_cols else [()]:
        a = ga.get(key, actual.iloc[:0])
        p = gp.get(key, paired.iloc[:0])
        row = dict(zip(by_cols, key, strict=True))
        n = len(a)
        nw = int(a["followup_6m"].isin(weekly).sum())
        nm = int(a["followup_6m"].isin(monthly).sum())
        wlo, whi = wilson_interval(nw, n, ci)
        mlo, mhi = wilson_interval(nm, n, ci)
        with np.errstate(invalid="ignore", divide="ignore"):
            row.update({"n_followup": n, "n_weekly": nw,
                        "share_weekly": nw / n if n else np.nan,
                        "share_weekly_ci_low": float(wlo), "share_weekly_ci_high": float(whi),
                        "n_monthly": nm, "share_monthly": nm / n if n else np.nan,
                        "share_monthly_ci_low": float(mlo),
                        "share_monthly_ci_high": float(mhi)})
        npair = len(p)
        e = p["expected"].isin(weekly).to_numpy()
        act = p["followup_6m"].isin(weekly).to_numpy()
        b = int((e & ~act).sum())
        c = int((~e & act).sum())
        if npair:
            table = [[int((e & act).sum()), b], [c, int((~e & ~act).sum())]]
            pval = float(mcnemar(table, exact=True).pvalue)
            se, sa = float(e.mean()), float(act.mean())
        else:
            pval = se = sa = np.nan
        row.update({"n_paired": npair, "share_expected_weekly": se,
                    "share_actual_weekly": sa, "difference_weekly": sa - se,
                    "n_expected_only": b, "n_actual_only": c, "mcnemar_p_value": pval})
        rows.append(row)
    return pd.DataFrame(rows, columns=by_cols + APPLICATION_COLUMNS)
