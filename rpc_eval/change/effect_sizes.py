"""Standardised effect sizes and significance tests for paired (pre/post) scores.

"Cohen's d" for pre/post data means different things in different programs
(pingouin's paired d is ``d_av``; R's ``effectsize::cohens_d(paired = TRUE)`` is
``d_z``), so every number here is named by its estimator and never called a bare "d".

Sign convention
---------------
Every change is **post - pre**: a positive estimate means scores went *up*. Whether
up is better depends on the instrument (``direction`` in its definition); the
direction-aware view is in :func:`rpc_eval.change.tables.change_table`
(``improvement``, ``standardised_improvement``).

Estimators
----------
With ``n`` complete pairs, differences ``D = post - pre`` with mean ``M_D`` and SD
``s_D``, pre and post SDs ``s_1``, ``s_2`` and their Pearson correlation ``r``:

========  =====================================================================
``d_z``   ``M_D / s_D`` (Lakens 2013) = ``t / sqrt(n)``.
``d_av``  ``M_D / ((s_1 + s_2) / 2)``, the mean of the two SDs (Lakens 2013;
          not the root-mean-square SD of metafor's ``SMCRP``).
``d_rm``  ``d_z * sqrt(2 (1 - r))`` (Lakens 2013; Morris & DeShon 2002).
``g_*``   Hedges' small-sample correction of each: ``g = J(df) * d`` with the exact
          ``J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))`` and ``df = n - 1``
          (as ``effectsize::hedges_g(paired = TRUE)``). The CI limits are multiplied
          by the same ``J``.
========  =====================================================================

Confidence intervals
--------------------
``d_z``: exact noncentral-t interval (as ``effectsize::cohens_d(paired = TRUE)``):
find ``lambda_L`` and ``lambda_U`` with ``P(T <= t | df, lambda_L) = 1 - alpha/2`` and
``P(T <= t | df, lambda_U) = alpha/2`` for the observed paired ``t`` and ``df = n - 1``,
then ``d_z`` limits = ``lambda / sqrt(n)``.

``d_av`` and ``d_rm``: the approximate interval of Algina & Keselman (2003): the
noncentral-t limits for the paired ``t`` are rescaled to the estimator's
standardiser, treating the ratio of standardisers as known:
``d_av`` limits = ``d_z`` limits ``* s_D / ((s_1 + s_2)/2)`` and ``d_rm`` limits =
``d_z`` limits ``* sqrt(2 (1 - r))``. (Algina & Keselman derived it for the
root-mean-square SD; the same rescaling is applied here to the mean-of-SDs
standardiser.) The interval ignores the sampling error of the ratio, so it is a little
narrow when ``r`` is low and the SDs differ; use ``d_z`` for inference and ``d_av`` /
``d_rm`` for comparison with between-group effect sizes.

References
----------
Algina J, Keselman HJ (2003). Approximate confidence intervals for effect sizes.
Educational and Psychological Measurement 63:537-553.
Lakens D (2013). Calculating and reporting effect sizes to facilitate cumulative
science. Frontiers in Psychology 4:863.
Morris SB, DeShon RP (2002). Combining effect size estimates in meta-analysis with
repeated measures and independent-groups designs. Psychological Methods 7:105-125.
Hedges LV (1981). Distribution theory for Glass's estimator of effect size. Journal of
Educational Statistics 6:107-128.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from rpc_eval._util import check_ci as _check_ci
from rpc_eval.errors import RpcEvalError

__all__ = [
    "paired_effect_sizes",
    "paired_tests",
    "hedges_j",
    "nct_limits",
    "ESTIMATORS",
    "EFFECT_SIZE_COLUMNS",
    "TEST_COLUMNS",
]

#: Estimators reported by :func:`paired_effect_sizes`, in row order.
ESTIMATORS = ("d_z", "g_z", "d_av", "g_av", "d_rm", "g_rm")
#: Columns of :func:`paired_effect_sizes`.
EFFECT_SIZE_COLUMNS = ["estimator", "estimate", "ci_low", "ci_high", "n", "r"]
#: Columns of :func:`paired_tests`.
TEST_COLUMNS = ["test", "statistic", "df", "p_value", "n"]


# ----------------------------------------------------------------------------- helpers
def _as_pairs(pre: Any, post: Any) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays of the complete pairs (pairs with a missing value dropped)."""
    try:
        x = np.asarray(pre, dtype="float64").reshape(-1)
        y = np.asarray(post, dtype="float64").reshape(-1)
    except (TypeError, ValueError) as exc:
        raise RpcEvalError(f"pre and post scores must be numbers: {exc}") from None
    if x.shape != y.shape:
        raise RpcEvalError(
            f"pre and post must have the same length (one value per person): got "
            f"{x.size} pre and {y.size} post values"
        )
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def hedges_j(df: float) -> float:
    """Exact Hedges small-sample correction factor.

    ``J(df) = Gamma(df/2) / (sqrt(df/2) * Gamma((df - 1)/2))``, computed on the log scale;
    ``J(1) = 0`` (as in R, where ``lgamma(0)`` is ``Inf``).

    Parameters
    ----------
    df : float
        Degrees of freedom (``n - 1`` for paired data).

    Returns
    -------
    float
        The factor (``nan`` for ``df < 1``).

    Notes
    -----
    Reference: Hedges (1981). R equivalent:
    ``exp(lgamma(df/2) - log(sqrt(df/2)) - lgamma((df - 1)/2))`` (the expression in
    ``effectsize``). The approximation ``1 - 3/(4 df - 1)`` differs in the fifth
    decimal at ``df = 20``.

    Examples
    --------
    >>> round(hedges_j(20), 5)
    0.96194
    >>> hedges_j(1)
    0.0
    """
    if not df >= 1:
        return math.nan
    if df == 1:
        return 0.0
    return math.exp(special.gammaln(df / 2) - 0.5 * math.log(df / 2)
                    - special.gammaln((df - 1) / 2))


def nct_limits(t: float, df: float, ci: float = 0.95) -> tuple[float, float]:
    """Confidence limits for the noncentrality parameter of a t statistic.

    Parameters
    ----------
    t : float
        Observed t statistic.
    df : float
        Its degrees of freedom.
    ci : float
        Confidence level.

    Returns
    -------
    (float, float)
        ``(lambda_L, lambda_U)`` with ``P(T <= t | df, lambda_L) = (1 + ci)/2`` and
        ``P(T <= t | df, lambda_U) = (1 - ci)/2``; ``(nan, nan)`` if ``t`` or ``df`` is
        not finite and positive.

    Notes
    -----
    Solved by Brent's method on ``scipy.special.nctdtr`` to ``1e-12``. R equivalent:
    ``uniroot(function(l) pt(t, df, l) - p, ...)`` (``effectsize:::.get_ncp_t`` finds
    the same limits with ``optim``).

    Examples
    --------
    >>> lo, hi = nct_limits(2.0, 10)
    >>> round(lo, 4), round(hi, 4)
    (-0.1835, 4.1011)
    """
    ci = _check_ci(ci)
    if not (np.isfinite(t) and np.isfinite(df) and df > 0):
        return math.nan, math.nan
    alpha = 1 - ci

    def solve(p: float) -> float:
        def f(lam: float) -> float:
            return float(special.nctdtr(df, lam, t)) - p  # decreasing in lam

        step = 2.0 + abs(t) / math.sqrt(df)
        lo, hi = t - step, t + step
        for _ in range(200):
            if f(lo) > 0:
                break
            lo -= step
            step *= 2
        step = 2.0 + abs(t) / math.sqrt(df)
        for _ in range(200):
            if f(hi) < 0:
                break
            hi += step
            step *= 2
        return float(optimize.brentq(f, lo, hi, xtol=1e-12, rtol=4 * np.finfo(float).eps,
                                     maxiter=500))

    return solve(1 - alpha / 2), solve(alpha / 2)


def _summary(x: np.ndarray, y: np.ndarray, ci: float) -> dict[str, float]:
    """Descriptives, paired t, and the six effect sizes of complete pairs ``x`` (pre)
    and ``y`` (post). Values that cannot be computed are ``nan``; never raises."""
    n = int(x.size)
    nan = math.nan
    out: dict[str, float] = {"n": n}
    out["mean_pre"] = float(x.mean()) if n else nan
    out["mean_post"] = float(y.mean()) if n else nan
    s1 = float(x.std(ddof=1)) if n > 1 else nan
    s2 = float(y.std(ddof=1)) if n > 1 else nan
    out["sd_pre"], out["sd_post"] = s1, s2
    d = y - x
    m = float(d.mean()) if n else nan
    sd = float(d.std(ddof=1)) if n > 1 else nan
    out["mean_change"], out["sd_change"] = m, sd
    if n > 1 and s1 > 0 and s2 > 0:
        r = float(np.corrcoef(x, y)[0, 1])
        r = min(1.0, max(-1.0, r))
    else:
        r = nan
    out["r"] = r
    df = n - 1 if n > 1 else nan
    out["df"] = float(df)
    if n > 1 and sd > 0:
        se = sd / math.sqrt(n)
        t = m / se
        q = float(stats.t.ppf((1 + ci) / 2, df))
        out["statistic"] = t
        out["p_value"] = float(2 * stats.t.sf(abs(t), df))
        out["change_ci_low"], out["change_ci_high"] = m - q * se, m + q * se
    else:
        t = nan
        out["statistic"] = out["p_value"] = nan
        out["change_ci_low"] = out["change_ci_high"] = nan
        if n > 1 and sd == 0:
            out["change_ci_low"] = out["change_ci_high"] = m
    # d_z with its noncentral-t interval
    d_z = t / math.sqrt(n) if n > 1 else nan
    lam_lo, lam_hi = nct_limits(t, df, ci) if np.isfinite(t) else (nan, nan)
    z_lo, z_hi = (lam_lo / math.sqrt(n), lam_hi / math.sqrt(n)) if n > 1 else (nan, nan)
    j = hedges_j(df) if n > 1 else nan
    s_av = (s1 + s2) / 2 if n > 1 else nan
    av_scale = sd / s_av if n > 1 and s_av > 0 else nan
    rm_scale = math.sqrt(2 * (1 - r)) if np.isfinite(r) else nan
    base = {"d_z": (d_z, z_lo, z_hi), "d_av": tuple(v * av_scale for v in (d_z, z_lo, z_hi)),
            "d_rm": tuple(v * rm_scale for v in (d_z, z_lo, z_hi))}
    if n > 1 and sd == 0 and s_av > 0:
        # everyone changed by the same amount: d_z is undefined but d_av is not
        base["d_av"] = (m / s_av, nan, nan)
    for name in ("z", "av", "rm"):
        est, lo, hi = base[f"d_{name}"]
        out[f"d_{name}"], out[f"d_{name}_ci_low"], out[f"d_{name}_ci_high"] = est, lo, hi
        out[f"g_{name}"] = est * j
        out[f"g_{name}_ci_low"], out[f"g_{name}_ci_high"] = lo * j, hi * j
    return out


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(V, p): V = sum of the ranks of the positive differences post - pre (R's V);
    p from the normal approximation with tie and continuity corrections, zero
    differences dropped (R: ``exact = FALSE, correct = TRUE``)."""
    d = y - x
    nz = d[d != 0]
    if nz.size == 0:
        return 0.0 if d.size else math.nan, math.nan
    ranks = stats.rankdata(np.abs(nz))
    v = float(ranks[nz > 0].sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        res = stats.wilcoxon(y, x, zero_method="wilcox", correction=True,
                             alternative="two-sided", method="approx")
    return v, float(res.pvalue)


# ------------------------------------------------------------------------------ public
def paired_effect_sizes(pre: Sequence[float] | np.ndarray | pd.Series,
                        post: Sequence[float] | np.ndarray | pd.Series,
                        ci: float = 0.95) -> pd.DataFrame:
    """Standardised mean change of paired scores, by six named estimators.

    Parameters
    ----------
    pre, post : array-like of float
        Scores of the same people before and after, matched by position (a pandas
        Series is used in its order; its index is ignored). Pairs with a missing value
        in either are dropped; ``n`` counts the pairs used.
    ci : float
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row per estimator, in the order ``d_z, g_z, d_av, g_av, d_rm, g_rm``, with
        columns:

        ``estimator``
            Name of the estimator (see the module notes for the formulas).
        ``estimate``
            Standardised change, **post - pre** (positive = scores rose).
        ``ci_low``, ``ci_high``
            Confidence limits: noncentral t for ``d_z``; Algina & Keselman (2003)
            rescaling of it for ``d_av`` and ``d_rm``; ``g`` limits are ``J`` times the
            ``d`` limits.
        ``n``
            Complete pairs used.
        ``r``
            Pearson correlation of pre and post.

        Values that cannot be computed (no variation in the differences, ``r``
        undefined) are missing.

    Raises
    ------
    RpcEvalError
        If ``pre`` and ``post`` differ in length, are not numbers, or fewer than two
        complete pairs remain.

    Notes
    -----
    Formulas: ``d_z = M_D / s_D``; ``d_av = M_D / ((s_1 + s_2)/2)``;
    ``d_rm = d_z sqrt(2(1 - r))``; ``g = J(n - 1) d`` with the exact gamma-function
    ``J`` (:func:`hedges_j`). References: Lakens (2013); Algina & Keselman (2003);
    Hedges (1981).

    R equivalent: ``effectsize::cohens_d(post, pre, paired = TRUE)`` gives ``d_z`` and
    its CI; ``effectsize::hedges_g(post, pre, paired = TRUE)`` gives ``g_z``. Note the
    argument order: R's ``x - y`` must be ``post - pre``. ``d_av`` / ``d_rm`` are
    computed by their formulas in ``tests/reference/change.R``. pingouin's
    ``compute_effsize(paired=True)`` is ``d_av``, not ``d_z``.

    Examples
    --------
    >>> pre = [20, 18, 25, 14, 22, 16, 19, 24]
    >>> post = [15, 17, 20, 10, 21, 14, 12, 20]
    >>> es = paired_effect_sizes(pre, post)
    >>> print(es.round(3).to_string(index=False))
    estimator  estimate  ci_low  ci_high  n     r
          d_z    -1.699  -2.790   -0.565  8 0.854
          g_z    -1.509  -2.478   -0.501  8 0.854
         d_av    -0.923  -1.515   -0.307  8 0.854
         g_av    -0.819  -1.346   -0.272  8 0.854
         d_rm    -0.917  -1.506   -0.305  8 0.854
         g_rm    -0.814  -1.338   -0.271  8 0.854
    """
    ci = _check_ci(ci)
    x, y = _as_pairs(pre, post)
    if x.size < 2:
        raise RpcEvalError(
            f"at least 2 complete pre/post pairs are needed for an effect size; got {x.size}"
        )
    s = _summary(x, y, ci)
    rows = [(e, s[e], s[f"{e}_ci_low"], s[f"{e}_ci_high"], int(s["n"]), s["r"])
            for e in ESTIMATORS]
    return pd.DataFrame(rows, columns=EFFECT_SIZE_COLUMNS)


def paired_tests(pre: Sequence[float] | np.ndarray | pd.Series,
                 post: Sequence[float] | np.ndarray | pd.Series) -> pd.DataFrame:
    """Paired t-test and Wilcoxon signed-rank test of post - pre.

    Parameters
    ----------
    pre, post : array-like of float
        Scores matched by position; pairs with a missing value are dropped.

    Returns
    -------
    DataFrame
        Two rows, ``test`` = ``paired_t`` and ``wilcoxon_signed_rank``, with columns:

        ``test``
            Name of the test.
        ``statistic``
            ``t = M_D / (s_D / sqrt(n))`` for the t-test; for Wilcoxon, ``W+`` = the sum
            of the ranks of |D| over the positive differences D = post - pre (R's ``V``).
        ``df``
            ``n - 1`` for the t-test; missing for Wilcoxon.
        ``p_value``
            Two-sided p-value.
        ``n``
            Complete pairs (zero differences are then dropped from the Wilcoxon ranks,
            as in R and ``scipy``'s ``zero_method="wilcox"``).

    Raises
    ------
    RpcEvalError
        If fewer than two complete pairs remain, or the inputs differ in length.

    Notes
    -----
    Wilcoxon p uses the normal approximation with the tie correction of the variance
    and a continuity correction, always (``scipy.stats.wilcoxon(post, pre,
    zero_method="wilcox", correction=True, method="approx")``), to match R's
    ``wilcox.test(post, pre, paired = TRUE, exact = FALSE, correct = TRUE)``. The exact
    distribution is not used even in small samples, so results do not change
    character when ties or zeros appear.

    R equivalent: ``t.test(post, pre, paired = TRUE)`` and the ``wilcox.test`` call above.

    Examples
    --------
    >>> pre = [20, 18, 25, 14, 22, 16, 19, 24]
    >>> post = [15, 17, 20, 10, 21, 14, 12, 20]
    >>> print(paired_tests(pre, post).round(4).to_string(index=False))
                    test  statistic  df  p_value  n
                paired_t    -4.8048 7.0   0.0020  8
    wilcoxon_signed_rank     0.0000 NaN   0.0139  8
    """
    x, y = _as_pairs(pre, post)
    if x.size < 2:
        raise RpcEvalError(f"at least 2 complete pre/post pairs are needed for a test; got {x.size}")
    s = _summary(x, y, 0.95)
    v, p_w = _wilcoxon(x, y)
    n = int(x.size)
    return pd.DataFrame(
        [("paired_t", s["statistic"], s["df"], s["p_value"], n),
         ("wilcoxon_signed_rank", v, math.nan, p_w, n)],
        columns=TEST_COLUMNS,
    )
