"""Interval estimates shared by the analyses (proportions).

Every analysis that shows a proportion with a confidence interval uses
:func:`wilson_interval`, so one method and one check of the level serve the whole
package.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from rpc_eval._util import check_ci
from rpc_eval.errors import RpcEvalError

__all__ = ["wilson_interval"]


def wilson_interval(x, n, ci: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval for a binomial proportion ``x / n``.

    Parameters
    ----------
    x, n : array-like of int
        Successes and trials (``0 <= x <= n``). Where ``n == 0`` both limits are NaN.
    ci : float
        Confidence level, strictly between 0 and 1.

    Returns
    -------
    (ndarray, ndarray) or (float, float)
        Lower and upper limits (floats when ``x`` and ``n`` are scalars); exactly 0
        when ``x == 0`` and exactly 1 when ``x == n``.

    Notes
    -----
    With ``p = x / n`` and ``z`` the ``(1 + ci) / 2`` normal quantile,

    .. math:: \\frac{p + z^2/(2n) \\pm z\\sqrt{p(1-p)/n + z^2/(4n^2)}}{1 + z^2/n}

    (Wilson 1927; Newcombe 1998, method 3). R: ``prop.test(x, n, conf.level = ci,
    correct = FALSE)$conf.int`` or ``binom::binom.wilson(x, n)``.

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. *JASA* 22, 209-212. Newcombe, R. G. (1998). Two-sided confidence
    intervals for the single proportion: comparison of seven methods. *Statistics in
    Medicine* 17, 857-872.

    Examples
    --------
    >>> lo, hi = wilson_interval([878, 0], [2694, 10])
    >>> [round(float(v), 4) for v in (lo[0], hi[0], lo[1], hi[1])]
    [0.3085, 0.3438, 0.0, 0.2775]
    >>> tuple(round(v, 4) for v in wilson_interval(374, 878, ci=0.9))
    (0.3988, 0.4536)
    """
    ci = check_ci(ci)
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(x < 0) or np.any(x > n):
        raise RpcEvalError("wilson_interval needs 0 <= x <= n")
    z = float(norm.ppf((1 + ci) / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        z2n = z * z / n
        centre = (p + z2n / 2) / (1 + z2n)
        half = z * np.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
        lo = np.where(x == 0, 0.0, centre - half)
        hi = np.where(x == n, 1.0, centre + half)
    empty = n == 0
    lo = np.where(empty, np.nan, np.clip(lo, 0.0, 1.0))
    hi = np.where(empty, np.nan, np.clip(hi, 0.0, 1.0))
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi
