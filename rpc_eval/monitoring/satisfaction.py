"""Satisfaction and other Likert-type ratings: summaries, targets and group comparisons.

Three analyses, all pure functions returning tidy DataFrames:

* :func:`likert_distribution` and :func:`likert_summary` — per-item (and per-group)
  response distribution; n, mean with t interval, top-box / bottom-box shares with
  Wilson intervals, and the net score.
* :func:`target_attainment` — does a proportion (e.g. "80% of parents satisfied")
  exceed a target? Exact one-sided binomial test and Clopper-Pearson bounds.
* :func:`compare_groups` — do ratings differ between groups? Chi-square test of
  independence with Cramér's V, or a proportional-odds (ordered logit) model with
  odds ratios, optionally with cluster-robust standard errors.

Input shapes
------------
The Likert functions accept either

* a **wide** frame, one column per item (``items=[...]`` names them; by default
  every column not in ``by``), one row per respondent; or
* a **long** frame in the data model's shape: ``responses`` (``item``, ``value``)
  or ``training_responses`` (``question``, ``value``). The item column is found
  automatically (``item`` then ``question``) or named with ``item_col=``;
  ``items=`` then selects (and orders) items. Filter the instrument and wave
  first, e.g. ``responses.query("instrument == 'parent_satisfaction' and wave == 'end'")``.

Missing values (NaN) are item non-response and are left out of that item's ``n``.
Values must be whole numbers inside ``scale``; anything else is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from rpc_eval._util import check_ci as _check_ci
from rpc_eval.errors import ConvergenceWarning, DataQualityWarning, RpcEvalError
from rpc_eval.stats.intervals import wilson_interval
from rpc_eval.stats.separation import warn_separation

__all__ = [
    "likert_distribution",
    "likert_summary",
    "target_attainment",
    "compare_groups",
]

SUMMARY_COLUMNS = ["item", "n", "mean", "sd", "mean_ci_low", "mean_ci_high",
                   "top_box", "top_box_ci_low", "top_box_ci_high", "bottom_box",
                   "net_score"]
DISTRIBUTION_COLUMNS = ["item", "response", "n", "percent"]
#: Fewer clusters than this and cluster-robust standard errors may be too small
#: (docs/conventions.md, "Few clusters").
FEW_CLUSTERS = 10
TARGET_COLUMNS = ["n", "successes", "proportion", "target", "p_value", "ci_low",
                  "ci_high", "lower_bound_one_sided", "meets_target"]


# --------------------------------------------------------------------------- helpers
def _as_list(by) -> list:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _check_scale(scale) -> tuple[int, int]:
    try:
        lo, hi = (int(scale[0]), int(scale[1]))
    except (TypeError, ValueError, IndexError):
        raise RpcEvalError(f"scale must be (lowest code, highest code), e.g. (1, 5); got {scale!r}") from None
    if lo >= hi or len(scale) != 2:
        raise RpcEvalError(f"scale must be (lowest code, highest code) with lowest < highest; got {scale!r}")
    return lo, hi


def _to_long(data: pd.DataFrame, items, item_col, value_col: str, by: list,
             scale: tuple[int, int]) -> pd.DataFrame:
    """Return ``[*by, item, response]`` (response float, NaN = missing)."""
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError("data must be a pandas DataFrame (wide: one column per item; "
                           "long: item/question and value columns)")
    missing_by = [b for b in by if b not in data.columns]
    if missing_by:
        raise RpcEvalError(f"grouping column(s) {missing_by} not found in data; "
                           f"columns are {list(data.columns)}")
    items = None if items is None else ([items] if isinstance(items, str) else list(items))
    wide = False
    if item_col is None:
        if items is not None and all(i in data.columns for i in items):
            wide = True
        elif value_col in data.columns and ({"item", "question"} & set(data.columns)):
            item_col = "item" if "item" in data.columns else "question"
        else:
            wide = True
    if wide:
        cols = items if items is not None else [c for c in data.columns if c not in by]
        if not cols:
            raise RpcEvalError("no item columns found: pass items=[...] naming the rating columns")
        long = data[by + cols].melt(id_vars=by, value_vars=cols, var_name="item",
                                    value_name="response")
        order = cols
    else:
        if item_col is None or item_col not in data.columns or value_col not in data.columns:
            raise RpcEvalError(
                "could not read data: give a wide frame with items=[column names], or a long "
                f"frame with an item column ('item' or 'question', or item_col=) and a "
                f"'{value_col}' column (value_col=)")
        long = data[by + [item_col, value_col]].rename(
            columns={item_col: "item", value_col: "response"})
        if items is not None:
            unknown = [i for i in items if i not in set(long["item"])]
            if unknown:
                raise RpcEvalError(f"item(s) {unknown} not found in column '{item_col}'")
            long = long[long["item"].isin(items)]
            order = items
        else:
            order = list(pd.unique(long["item"]))
    try:
        resp = pd.to_numeric(long["response"], errors="raise").astype(float)
    except (TypeError, ValueError):
        raise RpcEvalError("responses must be numeric codes (e.g. 1-5); found non-numeric "
                           "values — recode text labels to codes first") from None
    lo, hi = scale
    bad = resp.notna() & ((resp < lo) | (resp > hi) | (resp != np.round(resp)))
    if bad.any():
        vals = sorted(set(resp[bad].tolist()))[:10]
        raise RpcEvalError(f"{int(bad.sum())} response(s) are not whole numbers in the scale "
                           f"{lo}-{hi}: {vals}. Check scale= or recode the data")
    long = long.assign(response=resp)
    long["item"] = pd.Categorical(long["item"], categories=order)
    if long["response"].notna().sum() == 0:
        raise RpcEvalError("no non-missing responses to summarise")
    return long


def _groups(long: pd.DataFrame, by: list):
    keys = by + ["item"]
    return long.groupby(keys, observed=True, sort=True, dropna=False)


# --------------------------------------------------------------------------- Likert
def likert_distribution(data: pd.DataFrame, items: Sequence[str] | str | None = None, *,
                        by: str | Sequence[str] | None = None, item_col: str | None = None,
                        value_col: str = "value", scale: tuple[int, int] = (1, 5)) -> pd.DataFrame:
    """Response distribution of each Likert item: count and percent per code.

    Parameters
    ----------
    data : DataFrame
        Wide (one column per item) or long (``item``/``question`` + ``value``); see
        the module docstring.
    items : str or list of str, optional
        Item columns (wide) or item labels to keep (long).
    by : str or list of str, optional
        Grouping column(s), e.g. ``"intervention"``.
    item_col, value_col : str
        Column names of a long frame (``item_col`` found automatically).
    scale : (int, int)
        Lowest and highest response codes. Every code in the range appears in the
        output, with zero counts where nobody chose it.

    Returns
    -------
    DataFrame
        Columns ``[*by], item, response, n, percent``: ``n`` respondents choosing
        ``response``; ``percent`` = 100 × n / (non-missing responses to the item in
        the group), NaN when the item has no responses.

    Notes
    -----
    R equivalent: ``prop.table(table(factor(x, levels = 1:5))) * 100``.

    Examples
    --------
    >>> df = pd.DataFrame({"q1": [5, 4, 4, 2], "q2": [3, 3, None, 1]})
    >>> likert_distribution(df, scale=(1, 5)).query("item == 'q1'")["percent"].tolist()
    [0.0, 25.0, 0.0, 50.0, 25.0]
    """
    by = _as_list(by)
    lo, hi = _check_scale(scale)
    long = _to_long(data, items, item_col, value_col, by, (lo, hi))
    codes = np.arange(lo, hi + 1)
    rows = []
    for key, g in _groups(long, by):
        key = key if isinstance(key, tuple) else (key,)
        r = g["response"].dropna().to_numpy()
        counts = np.array([(r == c).sum() for c in codes])
        total = counts.sum()
        pct = counts / total * 100 if total else np.full(len(codes), np.nan)
        for c, k, p in zip(codes, counts, pct, strict=True):
            rows.append((*key, int(c), int(k), float(p)))
    out = pd.DataFrame(rows, columns=by + DISTRIBUTION_COLUMNS)
    out["item"] = out["item"].astype(str)
    return out


def likert_summary(data: pd.DataFrame, items: Sequence[str] | str | None = None, *,
                   by: str | Sequence[str] | None = None, item_col: str | None = None,
                   value_col: str = "value", top_box: Sequence[int] = (4, 5),
                   bottom_box: Sequence[int] | None = None,
                   scale: tuple[int, int] = (1, 5), ci: float = 0.95) -> pd.DataFrame:
    """Per-item summary of Likert ratings: mean, top-box and bottom-box shares, net score.

    Parameters
    ----------
    data : DataFrame
        Wide (one column per item) or long (``item``/``question`` + ``value``); see
        the module docstring.
    items : str or list of str, optional
        Item columns (wide) or item labels to keep (long).
    by : str or list of str, optional
        Grouping column(s).
    item_col, value_col : str
        Column names of a long frame.
    top_box : sequence of int
        Codes counted as the favourable "top box" (default 4 and 5 = top-2-box).
    bottom_box : sequence of int, optional
        Codes counted as the unfavourable box; default mirrors ``top_box`` at the
        bottom of ``scale`` (``(4, 5)`` on 1-5 → ``(1, 2)``; ``(5, 6)`` on 1-6 → ``(1, 2)``).
    scale : (int, int)
        Lowest and highest response codes.
    ci : float
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row per ``[*by], item`` with columns

        ``n``
            non-missing responses (items with none are kept with ``n = 0`` and NaN
            statistics);
        ``mean``, ``sd``, ``mean_ci_low``, ``mean_ci_high``
            mean code, SD (n - 1) and t interval (NaN for ``n < 2``);
        ``top_box``, ``top_box_ci_low``, ``top_box_ci_high``
            proportion (0-1) in ``top_box`` with Wilson score interval;
        ``bottom_box``
            proportion (0-1) in ``bottom_box``;
        ``net_score``
            ``top_box - bottom_box`` (a proportion, -1 to 1; ×100 for the usual
            "net score" in points).

    Notes
    -----
    Mean interval: :math:`\\bar x \\pm t_{n-1,(1+ci)/2}\\, s/\\sqrt n`. Top-box interval:
    Wilson (1927) score interval (:func:`rpc_eval.stats.intervals.wilson_interval`).
    Treating ordinal codes as interval-scaled for the mean is conventional in
    satisfaction reporting; the top-box share needs no such assumption.

    R equivalent: ``t.test(x, conf.level = ci)$conf.int``;
    ``prop.test(sum(x >= 4), length(x), correct = FALSE)$conf.int``.

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. *JASA* 22, 209-212.

    Examples
    --------
    >>> df = pd.DataFrame({"q1": [5, 4, 4, 2, 1], "q2": [3, 3, 5, 5, 4]})
    >>> s = likert_summary(df)
    >>> s[["item", "n", "mean", "top_box", "bottom_box", "net_score"]].round(2).to_dict("records")[0]
    {'item': 'q1', 'n': 5, 'mean': 3.2, 'top_box': 0.6, 'bottom_box': 0.4, 'net_score': 0.2}
    """
    by = _as_list(by)
    ci = _check_ci(ci)
    lo, hi = _check_scale(scale)
    top = sorted({int(c) for c in top_box})
    bottom = sorted({lo + hi - c for c in top}) if bottom_box is None else sorted(
        {int(c) for c in bottom_box})
    for name, box in (("top_box", top), ("bottom_box", bottom)):
        if not box or any(c < lo or c > hi for c in box):
            raise RpcEvalError(f"{name} codes {box} must be non-empty and inside scale {lo}-{hi}")
    if set(top) & set(bottom):
        raise RpcEvalError(f"top_box {top} and bottom_box {bottom} overlap")
    long = _to_long(data, items, item_col, value_col, by, (lo, hi))
    rows = []
    for key, g in _groups(long, by):
        key = key if isinstance(key, tuple) else (key,)
        r = g["response"].dropna().to_numpy()
        n = len(r)
        x_top = int(np.isin(r, top).sum())
        x_bot = int(np.isin(r, bottom).sum())
        if n:
            mean = float(r.mean())
            sd = float(r.std(ddof=1)) if n > 1 else np.nan
            if n > 1:
                half = float(stats.t.ppf((1 + ci) / 2, n - 1)) * sd / np.sqrt(n)
                mlo, mhi = mean - half, mean + half
            else:
                mlo = mhi = np.nan
            tlo, thi = wilson_interval(x_top, n, ci)
            p_top, p_bot = x_top / n, x_bot / n
        else:
            mean = sd = mlo = mhi = tlo = thi = p_top = p_bot = np.nan
        rows.append((*key, n, mean, sd, mlo, mhi, p_top, tlo, thi, p_bot, p_top - p_bot))
    out = pd.DataFrame(rows, columns=by + SUMMARY_COLUMNS)
    out["item"] = out["item"].astype(str)
    return out


# --------------------------------------------------------------------------- targets
def _clopper_pearson(x, n, alpha_each):
    """Lower and upper exact limits, each with tail probability ``alpha_each``."""
    x = np.asarray(x, float)
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(x == 0, 0.0, stats.beta.ppf(alpha_each, x, n - x + 1))
        hi = np.where(x == n, 1.0, stats.beta.ppf(1 - alpha_each, x + 1, n - x))
    return lo, hi


def target_attainment(successes=None, n=None, *, data: pd.DataFrame | None = None,
                      outcome: str | None = None, by: str | Sequence[str] | None = None,
                      target: float = 0.8, ci: float = 0.95) -> pd.DataFrame:
    """Does a proportion exceed a target? Exact binomial test and Clopper-Pearson bounds.

    Give either counts (``successes`` and ``n``, scalars or equal-length arrays),
    a 0/1 (or boolean) Series as ``successes`` with ``n=None``, or ``data`` with an
    ``outcome`` column of 0/1 values and optional ``by`` grouping. Missing outcomes
    are left out.

    Parameters
    ----------
    successes, n : int or array-like, optional
        Counts; or a 0/1 Series in ``successes`` alone.
    data : DataFrame, optional
        Respondent-level data (with ``outcome`` and ``by`` columns).
    outcome : str, optional
        Column of ``data`` holding 0/1 (e.g. "rated satisfaction 4 or 5").
    by : str or list of str, optional
        Grouping column(s) of ``data``.
    target : float
        Target proportion, strictly between 0 and 1.
    ci : float
        Confidence level of the two-sided interval and of the one-sided lower bound.

    Returns
    -------
    DataFrame
        Columns ``[*by], n, successes, proportion, target, p_value, ci_low, ci_high,
        lower_bound_one_sided, meets_target``: ``p_value`` of the exact test of
        H0: p ≤ target against p > target, :math:`P(X \\ge x \\mid n, target)`;
        ``ci_low``/``ci_high`` the two-sided Clopper-Pearson interval;
        ``lower_bound_one_sided`` the one-sided ``ci`` lower bound
        :math:`B^{-1}(1 - ci;\\ x, n - x + 1)`; ``meets_target`` is True when that
        bound exceeds the target (equivalently ``p_value < 1 - ci``).

    Notes
    -----
    Exact (Clopper & Pearson 1934) intervals guarantee at least nominal coverage.
    Groups with ``n = 0`` are an error (nothing to test).

    R equivalent: ``binom.test(x, n, p = target, alternative = "greater",
    conf.level = ci)`` (p value and lower bound) and ``binom.test(x, n,
    conf.level = ci)$conf.int`` (two-sided interval).

    References
    ----------
    Clopper, C. J. & Pearson, E. S. (1934). The use of confidence or fiducial limits
    illustrated in the case of the binomial. *Biometrika* 26, 404-413.

    Examples
    --------
    >>> r = target_attainment(90, 100, target=0.8)
    >>> round(float(r["p_value"][0]), 5), round(float(r["lower_bound_one_sided"][0]), 4)
    (0.0057, 0.8363)
    >>> bool(r["meets_target"][0])
    True
    """
    ci = _check_ci(ci)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < 1:
        raise RpcEvalError(f"target must be a proportion strictly between 0 and 1; got {target!r}")
    by = _as_list(by)
    if data is None and isinstance(successes, (pd.Series, np.ndarray, list)) and n is None:
        data = pd.DataFrame({"_outcome": pd.Series(successes)})
        outcome = "_outcome"
        if by:
            raise RpcEvalError("by= needs data= with the grouping columns")
    if data is not None:
        if outcome is None or outcome not in data.columns:
            raise RpcEvalError(f"outcome= must name a 0/1 column of data; got {outcome!r}")
        missing = [b for b in by if b not in data.columns]
        if missing:
            raise RpcEvalError(f"grouping column(s) {missing} not found in data")
        y = data[outcome]
        y = y.astype("float") if y.dtype == bool else pd.to_numeric(y, errors="coerce").where(
            data[outcome].notna())
        if (y.notna() & ~y.isin([0.0, 1.0])).any() or (data[outcome].notna() & y.isna()).any():
            raise RpcEvalError(f"outcome column '{outcome}' must hold 0/1 (or True/False) values")
        frame = data[by].assign(_y=y)
        if by:
            grp = frame.groupby(by, observed=True, sort=True)
            agg = grp["_y"].agg(["sum", "count"]).reset_index()
            keys = agg[by]
            x_arr = agg["sum"].to_numpy(int)
            n_arr = agg["count"].to_numpy(int)
            if np.any(n_arr == 0):
                empty = keys[n_arr == 0].to_dict("records")
                raise RpcEvalError(f"group(s) {empty} have n = 0 (every '{outcome}' is "
                                   "missing): there is nothing to test; drop them or check the data")
        else:
            keys = pd.DataFrame(index=[0])
            x_arr = np.array([int(frame["_y"].sum())])
            n_arr = np.array([int(frame["_y"].count())])
    else:
        if successes is None or n is None:
            raise RpcEvalError("give successes and n, or data= with outcome=")
        x_arr = np.atleast_1d(np.asarray(successes))
        n_arr = np.atleast_1d(np.asarray(n))
        if x_arr.shape != n_arr.shape:
            raise RpcEvalError("successes and n must have the same length")
        if not (np.all(np.mod(x_arr, 1) == 0) and np.all(np.mod(n_arr, 1) == 0)):
            raise RpcEvalError("successes and n must be whole numbers")
        x_arr, n_arr = x_arr.astype(int), n_arr.astype(int)
        keys = pd.DataFrame(index=range(len(x_arr)))
    if np.any(x_arr < 0) or np.any(x_arr > n_arr):
        raise RpcEvalError("successes must satisfy 0 <= successes <= n")
    if np.any(n_arr == 0) or len(n_arr) == 0:
        raise RpcEvalError("a group has n = 0 (no non-missing outcomes): there is nothing to "
                           "test; drop the group or check the data")
    alpha = 1 - ci
    p_values = np.array([stats.binomtest(int(x), int(m), target, alternative="greater").pvalue
                         for x, m in zip(x_arr, n_arr, strict=True)])
    lo2, hi2 = _clopper_pearson(x_arr, n_arr, alpha / 2)
    lo1, _ = _clopper_pearson(x_arr, n_arr, alpha)
    out = keys.reset_index(drop=True).copy()
    out["n"] = n_arr
    out["successes"] = x_arr
    out["proportion"] = x_arr / n_arr
    out["target"] = float(target)
    out["p_value"] = p_values
    out["ci_low"] = lo2
    out["ci_high"] = hi2
    out["lower_bound_one_sided"] = lo1
    out["meets_target"] = lo1 > target
    return out[by + TARGET_COLUMNS]


# --------------------------------------------------------------------------- comparisons
def compare_groups(data: pd.DataFrame, response: str, group: str, *, method: str = "chi2",
                   cluster: str | None = None, ci: float = 0.95,
                   reference: object | None = None) -> pd.DataFrame:
    """Compare the distribution of an ordinal rating between groups.

    Parameters
    ----------
    data : DataFrame
        One row per respondent (for a long ``responses`` frame, filter one item first).
    response : str
        Column of ordered response codes (numbers; NaN rows are dropped).
    group : str
        Column of group labels.
    method : {"chi2", "ordinal"}
        ``"chi2"``: Pearson chi-square test of independence of the group × response
        table (no continuity correction) with Cramér's V. ``"ordinal"``:
        proportional-odds (cumulative logit) model of response on group.
    cluster : str, optional
        ``method="ordinal"`` only: column of cluster labels (e.g. ``la_code``) for
        cluster-robust (sandwich) standard errors, via statsmodels'
        ``cov_type="cluster"`` (small-sample factor G/(G-1)·(N-1)/(N-K), as Stata and
        ``sandwich::vcovCL(type = "HC1")``). Not available for the chi-square test
        (a design-based Rao-Scott test, e.g. R ``survey::svychisq``, is not implemented).
        With fewer than 10 clusters a :class:`~rpc_eval.errors.DataQualityWarning` says
        the standard errors may be too small.
    ci : float
        Confidence level for odds-ratio intervals.
    reference : optional
        Reference group for the ordinal model (default: the first in sorted order).

    Returns
    -------
    DataFrame
        ``method="chi2"``: one row with ``method, n, n_groups, n_responses, statistic,
        df, p_value, cramers_v, min_expected, share_expected_lt5`` (a
        ``share_expected_lt5`` above 0.2 means the chi-square approximation is
        doubtful).

        ``method="ordinal"``: one row per parameter with ``term, kind, estimate,
        std_error, statistic, p_value, ci_low, ci_high, ratio, ratio_ci_low,
        ratio_ci_high, cov_type, n``. ``kind="group"`` rows (``term`` =
        ``<group>[T.<level>]``) are log odds ratios of a *higher* rating for that level
        versus the reference, with the z ``statistic``, limits ``ci_low, ci_high`` on
        the log scale and the odds ``ratio`` with its limits; ``kind="threshold"`` rows
        (``term`` = ``threshold[T.<j>|<j+1>]``, R's ``j|j+1``) are the cut-points
        :math:`\\zeta_j` of ``logit P(Y <= j) = zeta_j - x'beta`` (the same
        parametrisation as ``MASS::polr``), with standard errors left NaN (statsmodels
        estimates them on an increment scale).

        Separation (docs/conventions.md): a group (not the reference) whose every
        response is the highest code has ``estimate`` ``+inf`` (the lowest: ``-inf``)
        with NaN standard error and limits, and a
        :class:`~rpc_eval.stats.separation.SeparationWarning`; its rows leave the fit
        (the limit of the likelihood), ``n`` still counts them. Refused in words: a
        reference group like that (choose another ``reference``), or a response code
        that only such groups use (the thresholds have no finite estimate).

    Notes
    -----
    Cramér's V = :math:`\\sqrt{\\chi^2 / (n\\,(\\min(r, c) - 1))}`. Only observed
    response codes and groups enter the table (empty rows/columns would make
    expected counts zero).

    R equivalents: ``chisq.test(table(g, y), correct = FALSE)``;
    ``MASS::polr(factor(y) ~ g, method = "logistic", Hess = TRUE)``.

    References
    ----------
    McCullagh, P. (1980). Regression models for ordinal data. *JRSS B* 42, 109-142.
    Cramér, H. (1946). *Mathematical Methods of Statistics*. Princeton.

    Examples
    --------
    >>> df = pd.DataFrame({"g": ["a"] * 6 + ["b"] * 6,
    ...                    "y": [1, 2, 2, 3, 3, 3, 2, 3, 3, 3, 3, 3]})
    >>> r = compare_groups(df, "y", "g")
    >>> round(float(r["statistic"][0]), 4), int(r["df"][0])
    (1.8333, 2)
    """
    if method not in ("chi2", "ordinal"):
        raise RpcEvalError(f"method must be 'chi2' or 'ordinal'; got {method!r}")
    ci = _check_ci(ci)
    need = [response, group] + ([cluster] if cluster else [])
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise RpcEvalError(f"column(s) {missing} not found in data; columns are {list(data.columns)}")
    if cluster is not None and method == "chi2":
        raise RpcEvalError("cluster= is only supported for method='ordinal' (a clustered "
                           "chi-square test, e.g. Rao-Scott, is not implemented)")
    d = data[need].dropna()
    try:
        y = pd.to_numeric(d[response], errors="raise")
    except (TypeError, ValueError):
        raise RpcEvalError(f"'{response}' must hold numeric response codes") from None
    if len(d) == 0:
        raise RpcEvalError("no rows with both a response and a group")
    levels_y = np.sort(y.unique())
    levels_g = sorted(d[group].unique(), key=str)
    if len(levels_y) < 2:
        raise RpcEvalError(f"every response is {levels_y[0]!r}: with a single response "
                           "category there is nothing to compare")
    if len(levels_g) < 2:
        raise RpcEvalError(f"only one group ({levels_g[0]!r}) has responses: need two or more")
    if method == "chi2":
        table = pd.crosstab(d[group], y)
        res = stats.chi2_contingency(table.to_numpy(), correction=False)
        n = int(table.to_numpy().sum())
        k = min(table.shape) - 1
        expected = res.expected_freq
        return pd.DataFrame([{
            "method": "chi2_independence", "n": n, "n_groups": table.shape[0],
            "n_responses": table.shape[1], "statistic": float(res.statistic),
            "df": int(res.dof), "p_value": float(res.pvalue),
            "cramers_v": float(np.sqrt(res.statistic / (n * k))),
            "min_expected": float(expected.min()),
            "share_expected_lt5": float((expected < 5).mean()),
        }])

    from statsmodels.miscmodels.ordinal_model import OrderedModel

    if reference is None:
        reference = levels_g[0]
    elif reference not in levels_g:
        raise RpcEvalError(f"reference group {reference!r} has no responses; groups are {levels_g}")
    others = [g for g in levels_g if g != reference]
    # separation (docs/conventions.md): a group whose every response is the lowest or
    # the highest code has log odds ratio -inf / +inf; its rows leave the fit
    separated = _ordinal_separation(d[group], y, reference, levels_y)
    n_separated = 0
    if separated:
        warn_separation("the proportional-odds model", [
            (f"{group}[T.{g}]", f"{group} = {g!r}",
             f"every response is {'the highest' if v > 0 else 'the lowest'} code")
            for g, v in separated.items()], stacklevel=3)
        keep = ~d[group].isin(list(separated)).to_numpy()
        n_separated = int((~keep).sum())
        d, y = d.loc[keep], y.loc[keep]
        others = [g for g in others if g not in separated]
    X = pd.DataFrame({f"{group}[T.{g}]": (d[group] == g).astype(float).to_numpy()
                      for g in others})
    if not others:
        # only the reference is left: its thresholds are the cumulative logits
        share = np.cumsum([(y == c).mean() for c in levels_y])[:-1]
        return _ordinal_table(pd.DataFrame(columns=["term", "kind", "estimate"]),
                              np.log(share / (1 - share)), levels_y, group, separated,
                              levels_g, "nonrobust", len(d) + n_separated)
    endog = pd.Series(pd.Categorical(y.to_numpy(), categories=levels_y, ordered=True))
    model = OrderedModel(endog, X, distr="logit")
    fit_kw = {}
    cov_type = "nonrobust"
    if cluster is not None:
        cov_type = "cluster"
        codes = pd.factorize(d[cluster])[0]
        n_clusters = int(codes.max()) + 1
        if n_clusters < FEW_CLUSTERS:
            warnings.warn(
                f"only {n_clusters} clusters ({cluster}): cluster-robust standard errors "
                f"need more (at least {FEW_CLUSTERS}); with fewer they may be too small, so "
                "the p-values and intervals may look more certain than they are",
                DataQualityWarning, stacklevel=2)
        fit_kw = {"cov_type": "cluster", "cov_kwds": {"groups": codes}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(method="bfgs", disp=False, maxiter=2000, gtol=1e-8, **fit_kw)
    converged = bool(fit.mle_retvals.get("converged", True))
    if not converged or any("converge" in str(w.message).lower() for w in caught):
        warnings.warn("ordered logit did not converge; estimates may be unreliable "
                      "(sparse response categories?)", ConvergenceWarning, stacklevel=2)
    k = X.shape[1]
    params = np.asarray(fit.params)
    bse = np.asarray(fit.bse)
    z_crit = float(stats.norm.ppf((1 + ci) / 2))
    est, se = params[:k], bse[:k]
    z = est / se
    lo, hi = est - z_crit * se, est + z_crit * se
    rows = pd.DataFrame({
        "term": list(X.columns), "kind": "group", "estimate": est, "std_error": se,
        "statistic": z, "p_value": 2 * stats.norm.sf(np.abs(z)), "ci_low": lo, "ci_high": hi,
        "ratio": np.exp(est), "ratio_ci_low": np.exp(lo), "ratio_ci_high": np.exp(hi)})
    cuts = model.transform_threshold_params(params)[1:-1]
    return _ordinal_table(rows, cuts, levels_y, group, separated, levels_g, cov_type,
                          len(d) + n_separated)


def _ordinal_table(rows: pd.DataFrame, cuts, levels_y, group: str, separated: dict,
                   levels_g: list, cov_type: str, n: int) -> pd.DataFrame:
    """The group rows (separated groups as -inf / +inf, in group order) and the
    thresholds of the proportional-odds model."""
    if separated:
        inf_rows = pd.DataFrame({
            "term": [f"{group}[T.{g}]" for g in separated], "kind": "group",
            "estimate": [v * np.inf for v in separated.values()], "ratio":
            [np.inf if v > 0 else 0.0 for v in separated.values()]})
        order = {f"{group}[T.{g}]": i for i, g in enumerate(levels_g)}
        rows = pd.concat([df for df in (rows, inf_rows) if len(df)], ignore_index=True)
        rows = rows.sort_values("term", key=lambda t: t.map(order), kind="stable",
                                ignore_index=True)
    labels = [f"threshold[T.{_fmt(a)}|{_fmt(b)}]"
              for a, b in zip(levels_y[:-1], levels_y[1:], strict=True)]
    thr = pd.DataFrame({"term": labels, "kind": "threshold", "estimate": cuts})
    out = pd.concat([df for df in (rows, thr) if len(df)], ignore_index=True)
    out = out.reindex(columns=["term", "kind", "estimate", "std_error", "statistic",
                               "p_value", "ci_low", "ci_high", "ratio", "ratio_ci_low",
                               "ratio_ci_high"])
    out["cov_type"] = cov_type
    out["n"] = n
    return out


def _ordinal_separation(groups: pd.Series, y: pd.Series, reference: object,
                        levels_y: np.ndarray) -> dict:
    """Groups (not the reference) whose every response is the lowest (-1) or the
    highest (+1) code. A reference group like that, or a response code only the
    separated groups use, is refused in words: there is no finite limit to report."""
    out = {}
    for g, values in y.groupby(groups.to_numpy(), sort=False):
        for v, code in ((-1, levels_y[0]), (1, levels_y[-1])):
            if (values == code).all():
                if g == reference:
                    raise RpcEvalError(
                        f"every response of the reference group {g!r} is the "
                        f"{'lowest' if v < 0 else 'highest'} code ({code:g}), so every "
                        "odds ratio against it is infinite; choose another reference= (a "
                        "group with more than one response code)")
                out[g] = v
    if out:
        left = set(y[~groups.isin(list(out)).to_numpy()].unique())
        lost = [c for c in levels_y if c not in left]
        if lost:
            raise RpcEvalError(
                f"response code(s) {[float(c) for c in lost]} occur only in group(s) "
                f"{list(out)}, whose every response is the same extreme code: the "
                "thresholds have no finite estimate. Merge response categories or groups")
    return out


def _fmt(v) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)
