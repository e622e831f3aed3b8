"""Raking (iterative proportional fitting) of respondent weights, and weighted estimates.

Respondents to a survey of practitioners are rarely a random sample of those trained.
:func:`rake` adjusts their weights so that the weighted counts match known population
totals on several margins at once (practitioners trained by sector and by LA, say).
:func:`weighted_mean` and :func:`weighted_proportion` then estimate with design-based
(Taylor-linearisation) standard errors, either treating the weights as fixed or
allowing for the raking; :func:`weighted_vs_unweighted` lays the weighted and the
unweighted estimate side by side; :func:`kish_effective_n` is ``(sum w)^2 / sum w^2``.

The design assumed is a single-stage sample with replacement, no strata or clusters
(R: ``survey::svydesign(ids = ~1, weights = ~w)``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm

from rpc_eval.errors import RpcEvalError

__all__ = ["rake", "weighted_mean", "weighted_proportion", "weighted_vs_unweighted",
           "kish_effective_n", "ESTIMATE_COLUMNS"]

#: Columns of :func:`weighted_mean` / :func:`weighted_proportion`.
ESTIMATE_COLUMNS: list[str] = [
    "estimate", "std_error", "ci_low", "ci_high", "n", "sum_weights", "n_eff", "deff_kish",
    "variance_method",
]

_TOTAL_RTOL = 1e-6


def _target_series(name: str, margin) -> pd.Series:
    if isinstance(margin, Mapping):
        margin = pd.Series(dict(margin), dtype=float)
    elif isinstance(margin, pd.Series):
        margin = margin.astype(float)
    else:
        raise RpcEvalError(f"margin {name!r} must be a pandas Series or a dict of "
                           "category -> population total")
    if margin.index.has_duplicates:
        raise RpcEvalError(f"margin {name!r} lists a category more than once")
    if not np.all(np.isfinite(margin.to_numpy())) or (margin < 0).any():
        raise RpcEvalError(f"margin {name!r} has a missing, infinite or negative total")
    if margin.sum() <= 0:
        raise RpcEvalError(f"margin {name!r} has a population total of zero")
    return margin


def rake(data: pd.DataFrame, margins: Mapping, *, weight_col: str | None = None,
         max_iter: int = 100, tol: float = 1e-8) -> pd.Series:
    """Rake respondent weights to known population totals (iterative proportional fitting).

    Starting from ``data[weight_col]`` (or 1 for everyone), each sweep multiplies the
    weights of the respondents in category ``k`` of margin ``m`` by
    ``T_mk / sum_{i in k} w_i`` for every margin in turn, until every weighted margin
    is within ``tol`` (relative) of its target (Deming & Stephan 1940). The result
    minimises the raking (multiplicative, Kullback-Leibler) distance to the starting
    weights subject to the margins (Deville & Sarndal 1992).

    Parameters
    ----------
    data : DataFrame
        One row per respondent, with a column per margin.
    margins : dict
        Column name -> population totals by category (a Series or a dict), e.g.
        ``{"sector": {"police": 250, ...}, "la_code": {...}}``. Every margin must have
        the same grand total.
    weight_col : str, optional
        Column of starting (design) weights; all positive.
    max_iter : int
        Maximum number of sweeps through the margins.
    tol : float
        Convergence criterion: largest ``|weighted count - target| / target``.

    Returns
    -------
    Series
        The raked weights, named ``"weight"``, indexed like ``data``.

    Raises
    ------
    RpcEvalError
        Non-convergence (naming the margin and category furthest from its target --
        usually a structural zero: two margins whose categories coincide in the sample
        but not in the population); a population category with no respondents; a
        sample category absent from the margin (or with a target of 0); a missing
        margin value; margins with different totals; bad starting weights.

    Notes
    -----
    R: ``survey::rake(design, list(~sector, ~la_code), list(pop_sector, pop_la))`` or
    ``anesrake``; ``survey::calibrate(design, ~sector + la_code, pop, calfun =
    "raking")`` gives the same weights.

    References
    ----------
    Deming, W. E. and Stephan, F. F. (1940). On a least squares adjustment of a sampled
    frequency table when the expected marginal totals are known. *Ann. Math. Statist.*
    11, 427-444. Deville, J.-C. and Sarndal, C.-E. (1992). Calibration estimators in
    survey sampling. *JASA* 87, 376-382.

    Examples
    --------
    >>> s = pd.DataFrame({"a": list("AAABBBB"), "b": list("xyyxxxy")})
    >>> w = rake(s, {"a": {"A": 40, "B": 60}, "b": {"x": 50, "y": 50}})
    >>> [round(v, 4) for v in w]
    [10.0, 15.0, 15.0, 13.3333, 13.3333, 13.3333, 20.0]
    """
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError("data must be a pandas DataFrame (one row per respondent)")
    if not isinstance(margins, Mapping) or not margins:
        raise RpcEvalError("margins must be a non-empty dict of column -> population totals")
    if len(data) == 0:
        raise RpcEvalError("the sample has no respondents")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise RpcEvalError(f"max_iter must be a positive integer; got {max_iter!r}")
    if not tol > 0:
        raise RpcEvalError(f"tol must be positive; got {tol!r}")
    if weight_col is None:
        w = np.ones(len(data))
    else:
        if weight_col not in data.columns:
            raise RpcEvalError(f"weight column {weight_col!r} is not in the sample")
        w = pd.to_numeric(data[weight_col], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(w)) or (w <= 0).any():
            raise RpcEvalError(f"starting weights in {weight_col!r} must all be positive numbers")
        w = w.copy()

    prepared = []
    totals = {}
    for name, margin in margins.items():
        if name not in data.columns:
            raise RpcEvalError(f"margin {name!r} is not a column of the sample")
        target = _target_series(name, margin)
        values = data[name]
        if values.isna().any():
            raise RpcEvalError(f"{int(values.isna().sum())} respondent(s) have no value of "
                               f"{name!r}; rake needs every respondent's category")
        absent = sorted(set(values) - set(target.index), key=str)
        if absent:
            raise RpcEvalError(f"sample categories {absent} of {name!r} are not in its margin; "
                               "add their population totals (or recode them)")
        present = set(values)
        zero = sorted((k for k in target.index if target[k] == 0 and k in present), key=str)
        if zero:
            raise RpcEvalError(f"categories {zero} of {name!r} have respondents but a population "
                               "total of 0")
        empty = sorted((k for k in target.index if target[k] > 0 and k not in present), key=str)
        if empty:
            raise RpcEvalError(f"categories {empty} of {name!r} have a population total but no "
                               "respondents (an empty cell); collapse them with a neighbour")
        target = target[target > 0]
        codes = pd.Categorical(values, categories=target.index).codes
        prepared.append((name, codes, target.to_numpy(), list(target.index)))
        totals[name] = float(target.sum())
    first = next(iter(totals))
    for name, tot in totals.items():
        if not np.isclose(tot, totals[first], rtol=_TOTAL_RTOL, atol=0):
            raise RpcEvalError(f"margins have different totals: {first!r} sums to "
                               f"{totals[first]:g} but {name!r} to {tot:g}")

    def discrepancy():
        worst = (0.0, None, None)
        for name, codes, target, labels in prepared:
            cur = np.bincount(codes, weights=w, minlength=target.size)
            rel = np.abs(cur - target) / target
            k = int(np.argmax(rel))
            if rel[k] > worst[0]:
                worst = (float(rel[k]), name, labels[k])
        return worst

    for _ in range(max_iter):
        for _name, codes, target, _labels in prepared:
            cur = np.bincount(codes, weights=w, minlength=target.size)
            w *= (target / cur)[codes]
        gap, name, label = discrepancy()
        if gap < tol:
            return pd.Series(w, index=data.index, name="weight")
    raise RpcEvalError(
        f"raking did not converge in {max_iter} sweeps: margin {name!r} (category {label!r}) "
        f"is still {gap:.3g} (relative) from its target. Check for structural zeros -- "
        "categories of two margins that always occur together in the sample -- and "
        "collapse categories, or raise max_iter")


def kish_effective_n(weights) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``.

    Examples
    --------
    >>> kish_effective_n([1, 1, 2, 2])
    3.6
    """
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w ** 2).sum())


def _dummies(calibration) -> np.ndarray:
    frame = pd.DataFrame(calibration)
    blocks = [np.ones((len(frame), 1))]
    for col in frame.columns:
        d = pd.get_dummies(frame[col].astype("category"), drop_first=True, dtype=float)
        blocks.append(d.to_numpy())
    return np.hstack(blocks)


def _estimate(y, weights, ci, calibration, start_weights, proportion) -> pd.DataFrame:
    if isinstance(ci, bool) or not isinstance(ci, (int, float)) or not 0 < ci < 1:
        raise RpcEvalError(f"ci must be a confidence level between 0 and 1, e.g. 0.95; got {ci!r}")
    y = np.asarray(y, dtype=float)
    w = np.asarray(weights, dtype=float)
    if y.ndim != 1 or y.shape != w.shape:
        raise RpcEvalError("y and weights must be one-dimensional and of the same length")
    if y.size == 0:
        raise RpcEvalError("no observations")
    if np.isnan(y).any():
        raise RpcEvalError("y has missing values; drop them (and re-rake) first")
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise RpcEvalError("weights must be non-negative numbers with a positive sum")
    if proportion and not np.isin(y, (0.0, 1.0)).all():
        raise RpcEvalError("weighted_proportion needs y coded 0/1 (or True/False)")
    n = y.size
    total = w.sum()
    est = float((w * y).sum() / total)
    resid = y - est
    method = "linearisation, weights fixed"
    if calibration is not None:
        x = _dummies(calibration)
        if x.shape[0] != n:
            raise RpcEvalError("calibration must have one row per observation")
        d = np.ones(n) if start_weights is None else np.asarray(start_weights, dtype=float)
        if d.shape != (n,):
            raise RpcEvalError("start_weights must have one value per observation")
        sw = np.sqrt(d)
        beta, *_ = np.linalg.lstsq(x * sw[:, None], resid * sw, rcond=None)
        resid = resid - x @ beta
        method = "linearisation, raking (GREG residuals)"
    z = w * resid / total
    z = z - z.mean()  # zero already unless calibrated (as survey::svyrecvar centres)
    se = float(np.sqrt(n / (n - 1) * (z ** 2).sum())) if n > 1 else np.nan
    half = float(norm.ppf((1 + ci) / 2)) * se
    lo, hi = est - half, est + half
    if proportion:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    neff = kish_effective_n(w)
    return pd.DataFrame([{"estimate": est, "std_error": se, "ci_low": lo, "ci_high": hi, "n": n,
                          "sum_weights": float(total), "n_eff": neff, "deff_kish": n / neff,
                          "variance_method": method}], columns=ESTIMATE_COLUMNS)


def weighted_mean(y, weights, *, ci: float = 0.95, calibration=None,
                  start_weights=None) -> pd.DataFrame:
    """Weighted mean with a design-based (Taylor-linearisation) standard error.

    .. math:: \\hat\\mu = \\frac{\\sum w_i y_i}{\\sum w_i}, \\qquad
              \\widehat{V} = \\frac{n}{n-1}\\sum_i (z_i - \\bar z)^2, \\quad
              z_i = \\frac{w_i e_i}{\\sum w}

    With ``calibration=None`` the weights are treated as fixed and
    ``e_i = y_i - mu_hat`` (R: ``svymean(~y, svydesign(ids = ~1, weights = ~w))``).
    Passing the raking variables (``calibration``, a DataFrame with the margin columns)
    uses the raking linearisation of Deville & Sarndal (1992): ``e_i`` are the
    residuals of the least-squares regression of ``y`` on the margin indicators,
    weighted by the starting weights ``start_weights`` (default 1) -- R's
    ``svymean(~y, calibrate(design, ~sector + la, pop, calfun = "raking"))``; with unit
    starting weights it equals ``svymean`` on a ``survey::rake`` design too. The raking
    SE is usually the smaller: what the margins explain is not sampling error. The
    interval is ``estimate +/- z se`` (normal).

    Parameters
    ----------
    y : array-like
        Outcome, no missing values.
    weights : array-like
        Weights (e.g. from :func:`rake`).
    ci : float
        Confidence level.
    calibration : DataFrame, optional
        The raking variables, one row per observation, in the same order as ``y``.
    start_weights : array-like, optional
        Weights raking started from (the ``weight_col`` of :func:`rake`).

    Returns
    -------
    DataFrame
        One row, :data:`ESTIMATE_COLUMNS`: ``estimate``, ``std_error``, ``ci_low``,
        ``ci_high``, ``n``, ``sum_weights``, ``n_eff`` (Kish), ``deff_kish``
        (``n / n_eff``), ``variance_method``.

    References
    ----------
    Deville, J.-C. and Sarndal, C.-E. (1992). Calibration estimators in survey sampling.
    *JASA* 87, 376-382. Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using
    R*. Wiley, ch. 7.

    Examples
    --------
    >>> out = weighted_mean([1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2])
    >>> round(float(out["estimate"].iloc[0]), 4), round(float(out["n_eff"].iloc[0]), 2)
    (2.8333, 3.6)
    """
    return _estimate(y, weights, ci, calibration, start_weights, proportion=False)


def weighted_proportion(y, weights, *, ci: float = 0.95, calibration=None,
                        start_weights=None) -> pd.DataFrame:
    """Weighted proportion of a 0/1 outcome; :func:`weighted_mean` for binary ``y``.

    The Wald interval is clipped to [0, 1].

    Examples
    --------
    >>> out = weighted_proportion([1, 0, 0, 1], [1, 1, 2, 2])
    >>> round(float(out["estimate"].iloc[0]), 4)
    0.5
    """
    return _estimate(y, weights, ci, calibration, start_weights, proportion=True)


def weighted_vs_unweighted(y, weights, *, ci: float = 0.95, calibration=None,
                           start_weights=None, proportion: bool = False) -> pd.DataFrame:
    """The unweighted and the weighted estimate side by side.

    Returns
    -------
    DataFrame
        Two rows, ``estimator`` = ``"unweighted"`` (every weight 1: the sample mean with
        the usual ``s / sqrt(n)``) and ``"weighted"``, then :data:`ESTIMATE_COLUMNS`.

    Examples
    --------
    >>> out = weighted_vs_unweighted([1, 0, 0, 1], [1, 1, 2, 2], proportion=True)
    >>> out["estimator"].tolist(), out["estimate"].round(3).tolist()
    (['unweighted', 'weighted'], [0.5, 0.5])
    """
    fn = weighted_proportion if proportion else weighted_mean
    y = np.asarray(y, dtype=float)
    unw = fn(y, np.ones(y.size), ci=ci)
    wtd = fn(y, weights, ci=ci, calibration=calibration, start_weights=start_weights)
    out = pd.concat([unw, wtd], ignore_index=True)
    out.insert(0, "estimator", ["unweighted", "weighted"])
    return out
