"""Power and sample size for regional evaluations with parents clustered in LAs.

Two outcomes are covered:

* ``"prepost"``: a pre/post change score (baseline to end) tested against no change,
  with the effect expressed as the standardised mean change
  ``d_z = mean change / SD of change``;
* ``"completion"``: the share of referred parents who complete, tested against a
  benchmark rate (for example the 2018-22 programme's).

Clustering by local authority (LA) enters through the design effect of Eldridge, Ashby
& Kerry (2006) for unequal cluster sizes::

    deff = 1 + ((cv^2 + 1) m - 1) icc

where ``m`` is the mean number of analysed parents per LA and ``cv`` the coefficient of
variation of the LA sizes (``cv = 0`` gives Kish's ``1 + (m - 1) icc``). It is exact for
the variance of the mean over all parents when ``cv`` is computed from the realised
sizes (``sum m_j^2 / N = m (1 + cv^2)`` with the SD taken over LAs with divisor ``k``).

Analytic power (:func:`power_prepost`, :func:`power_completion`) uses the noncentral
t distribution with noncentrality ``delta * sqrt(n / deff)`` and, when ``icc > 0``,
``n_las - 1`` degrees of freedom: with clustering the analysis has only as many
independent units as LAs (Donner & Klar 2000, ch. 6), and the normal approximation
overstates power badly with 6-12 LAs. With ``icc = 0`` the degrees of freedom are those
of the unclustered test (``n - 1`` for the paired t test; the normal distribution for
the completion Wald test). This choice is checked against simulation in
``tests/test_power.py``.

Simulation power (:func:`simulate_power`) draws replicate datasets from the model the
formulas assume (LA random effects, parent-level noise, gamma-distributed LA sizes
with the given ``cv``, binomial completion), analyses each with the test the formula
approximates, and optionally with a random-intercept linear mixed model
(:func:`rpc_eval.multilevel.fit_lmm`). :func:`simulate_power_synthetic` instead
generates whole synthetic datasets with :func:`rpc_eval.synthetic.generate` and
estimates the power to detect the generator's own true change in a questionnaire.

References
----------
Eldridge SM, Ashby D, Kerry S (2006). Sample size for cluster randomized trials:
effect of coefficient of variation of cluster size and analysis method. Int J
Epidemiol 35(5):1292-1300.
Donner A, Klar N (2000). Design and Analysis of Cluster Randomization Trials in
Health Research. London: Arnold.
Hemming K, Girling AJ, Sitch AJ, Marsh J, Lilford RJ (2011). Sample size calculations
for cluster randomised controlled trials with a fixed number of clusters. BMC Med Res
Methodol 11:102.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from rpc_eval.errors import RpcEvalError

__all__ = [
    "design_effect",
    "power_prepost",
    "power_completion",
    "ci_halfwidth_completion",
    "power_table",
    "sample_size",
    "simulate_power",
    "simulate_power_synthetic",
    "simulation_memory",
    "memory_limit",
    "TABLE_COLUMNS",
    "SIMULATION_COLUMNS",
]

#: Columns of :func:`power_table`.
TABLE_COLUMNS = ["n_las", "parents_per_la", "n_referred", "n_analysed", "design_effect",
                 "effective_n", "power"]
#: Columns of :func:`simulate_power`.
SIMULATION_COLUMNS = ["n_las", "parents_per_la", "method", "n_sims", "power", "std_error",
                      "power_analytic"]
_METHODS = ("auto", "cluster", "paired", "multilevel")
_OUTCOMES = ("prepost", "completion")

# Peak working memory of one replicate, in bytes: per analysed parent (a few float and
# index vectors; the mixed model's frames and matrices) and per LA. Set from tracemalloc
# peaks of this code and rounded up: the estimate is 2.5 to 4 times the measured peak
# (e.g. 100,000 LAs of 40 parents, CV 0.4, 60% analysed: 57 MiB measured, 230 MiB
# estimated).
_BYTES_PER_ROW = {"cluster": 64, "paired": 64, "multilevel": 1024}
_BYTES_PER_LA = {"cluster": 256, "paired": 256, "multilevel": 2048}
_BYTES_PER_SYNTHETIC_PARENT = 32768  # the generator's tables of one parent
_GIB = 1024 ** 3


def memory_limit() -> int:
    """The default ceiling for a simulation's memory, in bytes: half of this computer's
    physical memory (4 GiB when it cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = 8 * _GIB
    return int(total // 2)


def simulation_memory(n_las: int | Sequence[int], parents_per_la: int | Sequence[int], *,
                      outcome: str = "prepost", cv: float = 0.0,
                      completion_rate: float = 1.0,
                      methods: Sequence[str] = ("cluster",), n_sims: int = 500,
                      n_jobs: int = 1) -> int:
    """An upper estimate of the memory :func:`simulate_power` needs, in bytes.

    Each worker holds one replicate of the largest design at a time:
    ``k * per_LA + rows * per_row`` with ``rows = k * m * completion_rate * (1 + cv)``
    analysed parents (pre/post; none for completion), summed over the methods; the
    p-values of every replicate are kept (``n_sims`` times the number of designs and
    methods, 8 bytes each, plus the seed of each replicate).

    Examples
    --------
    >>> simulation_memory(8, 40) < 10 ** 7
    True
    >>> simulation_memory(100_000, 100_000) > 10 ** 11
    True
    """
    from joblib import effective_n_jobs

    ks, ms = _as_list(n_las, "n_las"), _as_list(parents_per_la, "parents_per_la")
    meths = [m for m in methods if m in _BYTES_PER_ROW] or ["cluster"]
    worst = 0.0
    for k, m in itertools.product(ks, ms):
        rows = float(k) * float(m) * (1.0 + max(float(cv), 0.0))
        if outcome == "prepost":
            rows *= float(completion_rate)
        else:
            rows = 0.0
        need = sum(float(k) * _BYTES_PER_LA[x] + rows * _BYTES_PER_ROW[x] for x in meths)
        worst = max(worst, need)
    workers = max(1, min(int(effective_n_jobs(n_jobs)), int(n_sims)))
    results = float(n_sims) * (len(ks) * len(ms) * len(meths) * 8 + 600)
    return int(workers * worst + results)


def _check_memory(need: int, limit: int | None, what: str) -> None:
    limit = memory_limit() if limit is None else int(limit)
    if need > limit:
        raise RpcEvalError(
            f"{what} would need about {_size(need)} of memory, more than the limit of "
            f"{_size(limit)}; simulate fewer or smaller designs (fewer LAs or parents per "
            "LA), fewer workers (--jobs 1), or use the analytic power without --simulate.")


def _size(n: float) -> str:
    if n >= _GIB / 10:
        return f"{n / _GIB:,.1f} GiB"
    return f"{n / 1024 ** 2:,.0f} MiB" if n >= 1024 ** 2 else "under 1 MiB"


# --------------------------------------------------------------------------- checks
def _number(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise RpcEvalError(f"{name} must be a number, got {x!r}.")
    x = float(x)
    if not math.isfinite(x):
        raise RpcEvalError(f"{name} must be a finite number, got {x!r}.")
    return x


def _count(x: Any, name: str, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        if isinstance(x, numbers.Real) and float(x).is_integer():
            x = int(x)  # type: ignore[call-overload]  # int() takes any numbers.Real
        else:
            raise RpcEvalError(f"{name} must be a whole number, got {x!r}.")
    x = int(x)
    if x < minimum:
        raise RpcEvalError(f"{name} must be at least {minimum}, got {x}.")
    return x


def _check_icc(icc: Any) -> float:
    icc = _number(icc, "icc")
    if not 0 <= icc < 1:
        raise RpcEvalError(f"icc must be at least 0 and below 1, got {icc:g}.")
    return icc


def _check_cv(cv: Any) -> float:
    cv = _number(cv, "cv")
    if cv < 0:
        raise RpcEvalError(f"cv (the coefficient of variation of LA sizes) must be 0 or "
                           f"more, got {cv:g}.")
    return cv


def _check_alpha(alpha: Any) -> float:
    alpha = _number(alpha, "alpha")
    if not 0 < alpha < 1:
        raise RpcEvalError(f"alpha must be between 0 and 1, got {alpha:g}.")
    return alpha


def _check_rate(x: Any, name: str, open_top: bool = True) -> float:
    x = _number(x, name)
    ok = 0 < x < 1 if open_top else 0 < x <= 1
    if not ok:
        top = "below 1" if open_top else "at most 1"
        raise RpcEvalError(f"{name} must be above 0 and {top}, got {x:g}.")
    return x


def _check_design(n_las: Any, parents_per_la: Any, icc: float) -> tuple[int, float]:
    k = _count(n_las, "n_las", 2 if icc > 0 else 1)
    m = _number(parents_per_la, "parents_per_la")
    if m < 1:
        raise RpcEvalError(f"parents_per_la must be at least 1, got {m:g}.")
    return k, m


# --------------------------------------------------------------------------- formulas
def design_effect(m: float, icc: float, cv: float = 0.0) -> float:
    """Design effect of clustering with (possibly unequal) cluster sizes.

    Parameters
    ----------
    m : float
        Mean cluster size (parents analysed per LA), at least 1.
    icc : float
        Intracluster correlation, in [0, 1).
    cv : float, default 0
        Coefficient of variation (SD / mean) of the cluster sizes.

    Returns
    -------
    float
        ``1 + ((cv**2 + 1) * m - 1) * icc``.

    Notes
    -----
    Eldridge, Ashby & Kerry (2006) eq. (2); with ``cv = 0`` it is Kish's
    ``1 + (m - 1) icc`` (Donner & Klar 2000). For realised sizes ``m_j`` in ``k`` LAs it is
    exactly ``1 + (sum m_j^2 / N - 1) icc``, the variance inflation of the mean over all
    ``N`` parents, when ``cv`` uses the SD with divisor ``k``.

    R equivalent: ``1 + ((cv^2 + 1) * m - 1) * icc`` (as in ``clusterPower``'s
    ``cpa.normal`` with ``cv``).

    References
    ----------
    Eldridge SM, Ashby D, Kerry S (2006). Int J Epidemiol 35(5):1292-1300.

    Examples
    --------
    >>> design_effect(40, 0.05)
    2.95
    >>> round(design_effect(40, 0.05, cv=0.4), 4)
    3.27
    """
    m = _number(m, "m")
    if m < 1:
        raise RpcEvalError(f"the mean cluster size m must be at least 1, got {m:g}.")
    icc, cv = _check_icc(icc), _check_cv(cv)
    return 1.0 + ((cv ** 2 + 1.0) * m - 1.0) * icc


def _analysed(m: float, cv: float, rate: float) -> tuple[float, float]:
    """Mean and CV of analysed LA sizes when each referral is analysed with ``rate``.

    Binomial thinning of sizes with CV ``cv`` gives ``cv_a^2 = cv^2 + (1 - rate) /
    (rate m)``: the extra size variation that losing parents at random adds.
    """
    ma = m * rate
    return ma, math.sqrt(cv ** 2 + (1.0 - rate) / ma)


def _t_power(ncp: float, df: float, alpha: float, two_sided: bool) -> float:
    """Power of a t test (``df = inf``: z test) with noncentrality ``ncp``.

    One-sided tests look in the direction of ``ncp``.
    """
    ncp = abs(ncp)
    if math.isinf(df):
        if two_sided:
            z = stats.norm.isf(alpha / 2)
            return float(stats.norm.sf(z - ncp) + stats.norm.cdf(-z - ncp))
        return float(stats.norm.sf(stats.norm.isf(alpha) - ncp))
    if two_sided:
        t = stats.t.isf(alpha / 2, df)
        return float(stats.nct.sf(t, df, ncp) + stats.nct.cdf(-t, df, ncp))
    return float(stats.nct.sf(stats.t.isf(alpha, df), df, ncp))


def _prepost_parts(n_las, parents_per_la, effect_size, icc, cv, alpha, completion_rate,
                   two_sided) -> dict:
    icc, cv, alpha = _check_icc(icc), _check_cv(cv), _check_alpha(alpha)
    k, m = _check_design(n_las, parents_per_la, icc)
    d = _number(effect_size, "effect_size")
    c = _check_rate(completion_rate, "completion_rate", open_top=False)
    if not isinstance(two_sided, bool | np.bool_):
        raise RpcEvalError(f"two_sided must be True or False, got {two_sided!r}.")
    ma, cva = _analysed(m, cv, c)
    n = k * ma
    if icc == 0 and n <= 1:
        raise RpcEvalError(f"only {n:g} parent(s) would be analysed; a paired test needs at "
                           "least 2.")
    deff = 1.0 + ((cva ** 2 + 1.0) * ma - 1.0) * icc
    neff = n / deff
    df = k - 1 if icc > 0 else n - 1
    return {"n_las": k, "parents_per_la": m, "n_referred": k * m, "n_analysed": n,
            "design_effect": deff, "effective_n": neff, "df": df,
            "power": _t_power(d * math.sqrt(neff), df, alpha, bool(two_sided))}


def power_prepost(n_las: int, parents_per_la: float, *, effect_size: float, icc: float,
                  cv: float = 0.0, alpha: float = 0.05, completion_rate: float = 1.0,
                  two_sided: bool = True) -> float:
    """Power to detect a pre/post change when parents are clustered in LAs.

    Parameters
    ----------
    n_las : int
        Number of LAs (at least 2 when ``icc > 0``).
    parents_per_la : float
        Mean number of parents referred per LA.
    effect_size : float
        Standardised mean change ``d_z`` = mean change / SD of the change scores (sign
        free; a one-sided test looks in its direction).
    icc : float
        LA-level intracluster correlation of the change scores, in [0, 1).
    cv : float, default 0
        Coefficient of variation of the number referred per LA.
    alpha : float, default 0.05
        Significance level.
    completion_rate : float, default 1
        Share of referred parents with both baseline and end scores (missing at random).
    two_sided : bool, default True
        Two-sided test (else one-sided in the direction of ``effect_size``).

    Returns
    -------
    float
        Power, between ``alpha`` (no effect) and 1.

    Notes
    -----
    With ``m_a = parents_per_la * completion_rate`` analysed per LA, ``n = n_las m_a``
    analysed in all, ``cv_a^2 = cv^2 + (1 - completion_rate) / m_a`` (losing parents at
    random makes LA sizes more unequal) and ``deff = 1 + ((cv_a^2 + 1) m_a - 1) icc``::

        power = P(|T| > t_{1-alpha/2, df}),  T ~ t'(df, ncp = d_z sqrt(n / deff))

    with ``df = n_las - 1`` when ``icc > 0`` (the analysis has as many independent units
    as LAs: a t test on LA-level means, or the mean change with an LA-clustered
    standard error) and ``df = n - 1`` (the ordinary paired t test) when ``icc = 0``.
    With equal LA sizes and ``completion_rate = 1`` this is the exact power of the t test
    of LA means; otherwise an approximation checked against :func:`simulate_power`.

    R equivalent: ``pwr::pwr.t.test(n = n / deff, d = d_z, type = "paired")`` with the
    degrees of freedom replaced by ``n_las - 1``; for ``icc = 0`` exactly
    ``power.t.test(n = n, delta = d_z, sd = 1, type = "one.sample")``.

    References
    ----------
    Donner A, Klar N (2000), ch. 5-6. Eldridge SM, Ashby D, Kerry S (2006). Int J
    Epidemiol 35(5):1292-1300. Hemming K et al. (2011). BMC Med Res Methodol 11:102.

    Examples
    --------
    >>> round(power_prepost(8, 40, effect_size=0.3, icc=0.05), 3)
    0.764
    >>> round(power_prepost(8, 40, effect_size=0.3, icc=0.0), 4)
    0.9997
    """
    return _prepost_parts(n_las, parents_per_la, effect_size, icc, cv, alpha,
                          completion_rate, two_sided)["power"]


def _completion_parts(n_las, parents_per_la, p, p0, icc, cv, alpha, two_sided) -> dict:
    icc, cv, alpha = _check_icc(icc), _check_cv(cv), _check_alpha(alpha)
    k, m = _check_design(n_las, parents_per_la, icc)
    p, p0 = _check_rate(p, "p"), _check_rate(p0, "p0")
    if not isinstance(two_sided, bool | np.bool_):
        raise RpcEvalError(f"two_sided must be True or False, got {two_sided!r}.")
    n = k * m
    deff = 1.0 + ((cv ** 2 + 1.0) * m - 1.0) * icc
    neff = n / deff
    df = k - 1 if icc > 0 else math.inf
    ncp = (p - p0) / math.sqrt(p * (1 - p) / neff)
    return {"n_las": k, "parents_per_la": m, "n_referred": n, "n_analysed": n,
            "design_effect": deff, "effective_n": neff, "df": df,
            "power": _t_power(ncp, df, alpha, bool(two_sided))}


def power_completion(n_las: int, parents_per_la: float, *, p: float, p0: float,
                     icc: float, cv: float = 0.0, alpha: float = 0.05,
                     two_sided: bool = True) -> float:
    """Power to show that the completion rate differs from a benchmark rate.

    Parameters
    ----------
    n_las : int
        Number of LAs (at least 2 when ``icc > 0``).
    parents_per_la : float
        Mean number of parents per LA in the rate's denominator (referred parents for a
        referred-to-completed rate; use starters for a started-to-completed rate).
    p : float
        True completion rate expected in the region.
    p0 : float
        Benchmark rate, e.g. the 2018-22 programme's ``2694 / 6110 = 0.441`` of referred
        parents.
    icc : float
        LA-level intracluster correlation of completion (proportion scale), in [0, 1).
    cv, alpha, two_sided
        As :func:`power_prepost` (a one-sided test looks in the direction of ``p - p0``).

    Returns
    -------
    float
        Power.

    Notes
    -----
    The test is the Wald test of the overall rate ``p_hat`` (completers / parents)
    against ``p0`` with an LA-clustered standard error. With
    ``deff = 1 + ((cv^2 + 1) m - 1) icc`` and ``n = n_las m``::

        ncp = (p - p0) / sqrt(p (1 - p) deff / n)

    and power from the noncentral t with ``n_las - 1`` df when ``icc > 0``, from the
    normal distribution when ``icc = 0`` (the unclustered Wald z test).

    R equivalent (``icc = 0``)::

        pnorm(abs(p - p0) / sqrt(p * (1 - p) / n) - qnorm(1 - alpha / 2))
        # + the negligible other tail

    References
    ----------
    Donner A, Klar N (2000), ch. 5. Eldridge SM, Ashby D, Kerry S (2006).

    Examples
    --------
    >>> round(power_completion(10, 60, p=0.52, p0=0.441, icc=0.03, cv=0.4), 3)
    0.507
    """
    return _completion_parts(n_las, parents_per_la, p, p0, icc, cv, alpha,
                             two_sided)["power"]


def ci_halfwidth_completion(n_las: int, parents_per_la: float, *, p: float, icc: float,
                            cv: float = 0.0, ci: float = 0.95) -> float:
    """Expected half-width of the confidence interval of a completion rate.

    Parameters
    ----------
    n_las, parents_per_la, p, icc, cv
        As :func:`power_completion`.
    ci : float, default 0.95
        Confidence level.

    Returns
    -------
    float
        ``q * sqrt(p (1 - p) deff / n)`` on the proportion scale, with ``q`` the
        ``(1 + ci) / 2`` quantile of t with ``n_las - 1`` df (``icc > 0``) or of the
        normal distribution (``icc = 0``).

    Notes
    -----
    R equivalent: ``qt((1 + ci) / 2, k - 1) * sqrt(p * (1 - p) * deff / n)``.

    Examples
    --------
    >>> round(ci_halfwidth_completion(8, 40, p=0.45, icc=0.0), 4)
    0.0545
    >>> round(ci_halfwidth_completion(8, 40, p=0.45, icc=0.05), 4)
    0.1129
    """
    ci = _number(ci, "ci")
    if not 0 < ci < 1:
        raise RpcEvalError(f"ci must be between 0 and 1, got {ci:g}.")
    parts = _completion_parts(n_las, parents_per_la, p, 0.5, icc, cv, 0.05, True)
    df = parts["df"]
    q = stats.norm.isf((1 - ci) / 2) if math.isinf(df) else stats.t.isf((1 - ci) / 2, df)
    return float(q * math.sqrt(p * (1 - p) / parts["effective_n"]))


def _as_list(x: Any, name: str) -> list:
    if isinstance(x, str | bytes):
        raise RpcEvalError(f"{name} must be a number or a list of numbers, got {x!r}.")
    if isinstance(x, Sequence | np.ndarray | pd.Series | pd.Index):
        out = list(x)
        if not out:
            raise RpcEvalError(f"{name} is empty; give at least one value.")
        return out
    return [x]


def _parts(outcome: str, k, m, kwargs: dict) -> dict:
    if outcome == "prepost":
        allowed = {"effect_size", "icc", "cv", "alpha", "completion_rate", "two_sided"}
        fn = _prepost_parts
        defaults = {"cv": 0.0, "alpha": 0.05, "completion_rate": 1.0, "two_sided": True}
        order = ["effect_size", "icc", "cv", "alpha", "completion_rate", "two_sided"]
    elif outcome == "completion":
        allowed = {"p", "p0", "icc", "cv", "alpha", "two_sided"}
        fn = _completion_parts
        defaults = {"cv": 0.0, "alpha": 0.05, "two_sided": True}
        order = ["p", "p0", "icc", "cv", "alpha", "two_sided"]
    else:
        raise RpcEvalError(f"outcome must be 'prepost' or 'completion', got {outcome!r}.")
    extra = sorted(set(kwargs) - allowed)
    if extra:
        raise RpcEvalError(f"{', '.join(extra)} not used for outcome '{outcome}'; settings "
                           f"are {', '.join(sorted(allowed))}.")
    args = {**defaults, **kwargs}
    missing = [a for a in order if a not in args]
    if missing:
        raise RpcEvalError(f"outcome '{outcome}' needs {', '.join(missing)}.")
    return fn(k, m, *[args[a] for a in order])


def power_table(n_las: int | Sequence[int], parents_per_la: int | Sequence[int], *,
                outcome: str = "prepost", **settings: Any) -> pd.DataFrame:
    """Analytic power for every combination of numbers of LAs and parents per LA.

    Parameters
    ----------
    n_las : int or sequence of int
        Numbers of LAs to tabulate.
    parents_per_la : int or sequence of int
        Mean numbers of parents referred per LA (whole numbers).
    outcome : {"prepost", "completion"}
        :func:`power_prepost` or :func:`power_completion`.
    **settings
        Keyword arguments of that function (``effect_size``, ``icc``, ``cv``, ``alpha``,
        ``completion_rate``, ``two_sided``; or ``p``, ``p0``, ``icc``, ...).

    Returns
    -------
    DataFrame
        One row per combination, sorted by ``n_las`` then ``parents_per_la``:

        ``n_las``, ``parents_per_la``
            The design.
        ``n_referred``
            ``n_las * parents_per_la``.
        ``n_analysed``
            Parents expected in the analysis (``n_referred * completion_rate`` for
            pre/post change; all referred for completion).
        ``design_effect``
            Eldridge design effect for the analysed LA sizes (for pre/post change with
            ``completion_rate < 1`` it includes the extra size variation of random loss;
            see :func:`power_prepost`).
        ``effective_n``
            ``n_analysed / design_effect``.
        ``power``
            Analytic power.

    Notes
    -----
    R equivalent: ``expand.grid(n_las, parents_per_la)`` and the formula of
    :func:`power_prepost` / :func:`power_completion` applied row by row.

    Examples
    --------
    >>> t = power_table([6, 8], [20, 40], effect_size=0.3, icc=0.05, cv=0.4,
    ...                 completion_rate=0.6)
    >>> t[["n_las", "parents_per_la", "n_analysed", "power"]].round(3)
       n_las  parents_per_la  n_analysed  power
    0      6              20        72.0  0.360
    1      6              40       144.0  0.473
    2      8              20        96.0  0.501
    3      8              40       192.0  0.643
    """
    ks = sorted({_count(k, "n_las") for k in _as_list(n_las, "n_las")})
    ms = sorted({_count(m, "parents_per_la") for m in _as_list(parents_per_la,
                                                               "parents_per_la")})
    rows = [_parts(outcome, k, m, settings) for k, m in itertools.product(ks, ms)]
    out = pd.DataFrame(rows)[TABLE_COLUMNS]
    for c in TABLE_COLUMNS:
        out[c] = out[c].astype("int64" if c in ("n_las", "parents_per_la", "n_referred")
                               else "float64")
    return out.sort_values(["n_las", "parents_per_la"], ignore_index=True)


def _power_cap(outcome: str, k: int, settings: dict) -> float:
    """Power as parents per LA grow without bound (LAs fixed)."""
    icc = settings.get("icc", 0.0)
    if icc == 0:
        return 1.0
    cv = settings.get("cv", 0.0)
    alpha, two = settings.get("alpha", 0.05), settings.get("two_sided", True)
    neff = k / ((1 + cv ** 2) * icc)
    if outcome == "prepost":
        ncp = settings["effect_size"] * math.sqrt(neff)
    else:
        p, p0 = settings["p"], settings["p0"]
        ncp = (p - p0) / math.sqrt(p * (1 - p) / neff)
    return _t_power(ncp, k - 1, alpha, bool(two))


def sample_size(n_las: int, *, target_power: float = 0.8, outcome: str = "prepost",
                max_parents_per_la: int = 100_000, **settings: Any) -> int:
    """Smallest whole number of parents per LA that reaches the target power.

    Parameters
    ----------
    n_las : int
        Number of LAs (fixed).
    target_power : float, default 0.8
        Power wanted.
    outcome : {"prepost", "completion"}
        As :func:`power_table`.
    max_parents_per_la : int, default 100000
        Largest number searched.
    **settings
        As :func:`power_table`.

    Returns
    -------
    int
        Smallest ``parents_per_la`` (referred per LA) whose analytic power is at least
        ``target_power``.

    Raises
    ------
    RpcEvalError
        When no number of parents per LA reaches the target. With clustering the
        effective sample size ``n / deff`` tends to ``n_las / ((1 + cv^2) icc)`` as LAs
        grow, so power is capped by the number of LAs: only more LAs help.

    Notes
    -----
    Power increases with ``parents_per_la``; the answer is found by bisection on whole
    numbers. R equivalent: ``uniroot`` on the power function, rounded up.

    Examples
    --------
    >>> sample_size(12, effect_size=0.3, icc=0.05, cv=0.4, completion_rate=0.6)
    29
    """
    target = _number(target_power, "target_power")
    if not 0 < target < 1:
        raise RpcEvalError(f"target_power must be between 0 and 1, got {target:g}.")
    top = _count(max_parents_per_la, "max_parents_per_la")
    first = _parts(outcome, n_las, 1, settings)  # validates everything

    def power(m: int) -> float:
        return _parts(outcome, n_las, m, settings)["power"]

    if first["power"] >= target:
        return 1
    cap = _power_cap(outcome, first["n_las"], {**settings, "icc": _check_icc(settings["icc"])})
    if cap < target:
        raise RpcEvalError(
            f"no number of parents per LA reaches {target:.0%} power with "
            f"{first['n_las']} LAs: with an ICC of {settings['icc']:g} the effective sample "
            f"size can never exceed n_las / ((1 + cv^2) icc), which caps power at "
            f"{cap:.0%}. Add LAs, or plan for a larger effect.")
    if power(top) < target:
        raise RpcEvalError(f"even {top:,} parents per LA give only {power(top):.0%} power; "
                           f"{target:.0%} is out of reach with {first['n_las']} LAs.")
    lo, hi = 1, top
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------- simulation
def _sizes(rng: np.random.Generator, k: int, m: float, cv: float) -> np.ndarray:
    """LA sizes: gamma with mean ``m`` and CV ``cv``, rounded, at least 1."""
    if cv == 0:
        return np.full(k, int(round(m)), dtype=np.int64)
    raw = rng.gamma(1.0 / cv ** 2, m * cv ** 2, size=k)
    return np.maximum(np.rint(raw), 1).astype(np.int64)


def _p_value_t(t: float, df: float, two_sided: bool, sign: float) -> float:
    if math.isnan(t):
        return 1.0
    dist = stats.norm if math.isinf(df) else stats.t(df)
    if two_sided:
        return float(2 * dist.sf(abs(t)))
    return float(dist.sf(sign * t))


def _cluster_t(sums: np.ndarray, counts: np.ndarray, null: float) -> tuple[float, float]:
    """Mean over units with an LA-clustered CR2 SE and Bell-McCaffrey df; (t, df).

    For the mean ``est = sum S_j / N`` (LA totals ``S_j``, sizes ``a_j``) the CR2
    sandwich is ``sum_j r_j^2 / (1 - a_j / N) / N^2`` with ``r_j = S_j - a_j est``, and
    the Satterthwaite df under the independence working model is
    ``(sum_j w_j C_jj)^2 / sum_jl w_j w_l C_jl^2`` with ``w_j = 1 / (N^2 (1 - a_j/N))``
    and ``C = diag(a) - a a' / N``. With equal sizes both reduce to the t test of LA
    means with ``k - 1`` df.

    The double sum is taken without forming ``C`` (memory linear in ``k``): with
    ``C_jl^2 = delta_jl (a_j^2 - 2 a_j^3 / N) + a_j^2 a_l^2 / N^2``,
    ``sum_jl w_j w_l C_jl^2 = sum_j w_j^2 (a_j^2 - 2 a_j^3 / N) + (sum_j w_j a_j^2)^2 / N^2``.
    """
    keep = counts > 0
    sums, a = sums[keep].astype(float), counts[keep].astype(float)
    k, n = len(a), a.sum()
    if k < 2:
        return math.nan, 1.0
    est = sums.sum() / n
    resid = sums - a * est
    w = 1.0 / (n ** 2 * (1.0 - a / n))
    var = float(np.sum(w * resid ** 2))
    c_diag = a - a * a / n
    denom = float(np.sum(w * w * (a * a - 2.0 * a ** 3 / n)) + np.sum(w * a * a) ** 2 / n ** 2)
    df = float(np.sum(w * c_diag) ** 2 / denom)
    if var > 0:
        return (est - null) / math.sqrt(var), df
    return (math.copysign(math.inf, est - null) if est != null else math.nan), df


def _replicate(rng: np.random.Generator, cell: dict, methods: Sequence[str]) -> list[float]:
    """p-values of one replicate for one design, one per method."""
    k, m, icc, cv, two = cell["n_las"], cell["parents_per_la"], cell["icc"], cell["cv"], \
        cell["two_sided"]
    sizes = _sizes(rng, k, m, cv)
    out = []
    if cell["outcome"] == "prepost":
        d = cell["effect_size"]
        counts = rng.binomial(sizes, cell["completion_rate"]) \
            if cell["completion_rate"] < 1 else sizes
        u = rng.normal(0.0, math.sqrt(icc), k)
        la = np.repeat(np.arange(k), counts)
        y = d + u[la] + rng.normal(0.0, math.sqrt(1 - icc), la.size)
        sign = 1.0 if d >= 0 else -1.0
        for meth in methods:
            if meth == "cluster":
                t, df = _cluster_t(np.bincount(la, weights=y, minlength=k), counts, 0.0)
            elif meth == "paired":
                n = y.size
                sd = y.std(ddof=1) if n > 1 else math.nan
                t, df = (y.mean() / (sd / math.sqrt(n)) if sd > 0 else math.nan), n - 1
            else:
                t, df = _lmm_t(y, la)
            out.append(_p_value_t(t, df, two, sign))
    else:
        p, p0 = cell["p"], cell["p0"]
        if icc > 0:
            a, b = p * (1 - icc) / icc, (1 - p) * (1 - icc) / icc
            pj = rng.beta(a, b, k)
        else:
            pj = np.full(k, p)
        x = rng.binomial(sizes, pj)
        sign = 1.0 if p >= p0 else -1.0
        for meth in methods:
            if meth == "cluster":
                t, df = _cluster_t(x.astype(float), sizes, p0)
            else:  # paired: unclustered Wald z
                n = sizes.sum()
                ph = x.sum() / n
                se = math.sqrt(ph * (1 - ph) / n)
                t = (ph - p0) / se if se > 0 else math.copysign(math.inf, ph - p0)
                df = math.inf
            out.append(_p_value_t(t, df, two, sign))
    return out


def _lmm_t(y: np.ndarray, la: np.ndarray) -> tuple[float, float]:
    from rpc_eval.multilevel import fit_lmm

    frame = pd.DataFrame({"y": y, "la": la})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fe = fit_lmm(frame, "y ~ 1", groups="la").fixed_effects.iloc[0]
    return float(fe["estimate"] / fe["std_error"]), float(fe["df"])


def _chunk(seeds: list, cells: list[dict], methods: list[list[str]]) -> np.ndarray:
    """p-values, shape (replicates, sum of methods over cells)."""
    rows = []
    for ss in seeds:
        row: list[float] = []
        for cell, meth in zip(cells, methods, strict=True):
            # one generator per replicate and design: designs share random numbers
            # across the grid (common random numbers), replicates are independent
            row.extend(_replicate(np.random.default_rng(ss), cell, meth))
        rows.append(row)
    return np.asarray(rows, dtype=float)


def _run_parallel(fn, seeds: list, n_jobs: int, *args) -> np.ndarray:
    from joblib import Parallel, delayed, effective_n_jobs

    workers = effective_n_jobs(n_jobs)
    if workers == 1:
        return fn(seeds, *args)
    n_chunks = min(len(seeds), 4 * workers)
    bounds = np.linspace(0, len(seeds), n_chunks + 1).astype(int)
    parts = Parallel(n_jobs=workers, backend="loky")(
        delayed(fn)(seeds[a:b], *args) for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    return np.concatenate(parts, axis=0)


def _check_sims(n_sims: Any, seed: Any, n_jobs: Any) -> tuple[int, int, int]:
    n_sims = _count(n_sims, "n_sims")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise RpcEvalError(f"seed must be a whole number of 0 or more, got {seed!r}.")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise RpcEvalError(f"n_jobs must be a whole number other than 0 (-1 = all cores), "
                           f"got {n_jobs!r}.")
    return n_sims, int(seed), int(n_jobs)


def simulate_power(n_las: int | Sequence[int], parents_per_la: int | Sequence[int], *,
                   outcome: str = "prepost", effect_size: float | None = None,
                   p: float | None = None, p0: float | None = None, icc: float,
                   cv: float = 0.0, alpha: float = 0.05, completion_rate: float = 1.0,
                   two_sided: bool = True, method: str | Sequence[str] = "auto",
                   n_sims: int = 500, seed: int = 20240601, n_jobs: int = -1,
                   max_memory: int | None = None) -> pd.DataFrame:
    """Power by simulation from a model with LA random effects.

    Parameters
    ----------
    n_las, parents_per_la : int or sequences of int
        The designs (every combination is simulated).
    outcome : {"prepost", "completion"}
        Outcome, as :func:`power_table`.
    effect_size, completion_rate
        For ``"prepost"``: true ``d_z`` and share of referred parents analysed.
    p, p0
        For ``"completion"``: true and benchmark completion rates.
    icc, cv, alpha, two_sided
        As :func:`power_prepost`.
    method : str or list of str, default "auto"
        Analysis of each replicate: ``"cluster"`` (mean over parents with an
        LA-clustered CR2 standard error and Bell-McCaffrey degrees of freedom, which
        are ``n_las - 1`` with equal LA sizes: the test the analytic formula
        approximates when ``icc > 0``), ``"paired"`` (the unclustered paired t
        test, or Wald z test for completion: the analytic test when ``icc = 0``),
        ``"multilevel"`` (pre/post only: :func:`rpc_eval.multilevel.fit_lmm`,
        ``change ~ 1 + (1 | la)``, REML, Satterthwaite df) or ``"auto"`` (``"cluster"``
        when ``icc > 0``, else ``"paired"``).
    n_sims : int, default 500
        Replicates per design.
    seed : int
        Seed; replicate ``i`` uses ``numpy.random.SeedSequence(seed).spawn(n_sims)[i]``,
        so results do not depend on ``n_jobs``.
    n_jobs : int, default -1
        Worker processes (joblib ``loky``); -1 uses all cores.
    max_memory : int, optional
        Bytes the simulation may use (default :func:`memory_limit`). The need is
        estimated first (:func:`simulation_memory`); above the limit nothing is
        simulated and an ``RpcEvalError`` says how much it would need.

    Returns
    -------
    DataFrame
        One row per design and method, sorted, with columns ``n_las, parents_per_la,
        method, n_sims, power`` (share of replicates with ``p < alpha``), ``std_error``
        (the Monte Carlo standard error of ``power``, ``sqrt(power (1 - power) /
        n_sims)``) and ``power_analytic`` (:func:`power_prepost` /
        :func:`power_completion` for the design).

    Notes
    -----
    Data model of a replicate, for LA ``j = 1..k``:

    * size ``m_j``: ``Gamma(shape 1/cv^2, scale m cv^2)`` rounded, at least 1 (``m``
      when ``cv = 0``);
    * pre/post: ``a_j ~ Binomial(m_j, completion_rate)`` parents analysed with change
      ``y_ij = d_z + u_j + e_ij``, ``u_j ~ N(0, icc)``, ``e_ij ~ N(0, 1 - icc)`` (SD of
      change 1, missing completely at random);
    * completion: ``p_j ~ Beta(p (1-icc)/icc, (1-p) (1-icc)/icc)`` (mean ``p``, ICC
      ``icc`` on the proportion scale), completers ``x_j ~ Binomial(m_j, p_j)``.

    The same replicate seed is used for every design of the grid (common random
    numbers), which makes power curves smooth; replicates are independent.

    The ``"cluster"`` test uses CR2 rather than the common CR1 (``HC1``) sandwich
    because with 6-12 unequal LAs CR1 rejects too often (about 6-7% at a nominal 5% in
    our checks), which would flatter the design; CR2 with Bell-McCaffrey df keeps the
    nominal level (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, J Bus Econ Stat
    36(4):672-683). With equal LA sizes and no loss the analytic power is exact for it;
    with unequal sizes the analytic formula (``n_las - 1`` df) is slightly optimistic
    when sizes are very unequal (``cv`` about 0.7 or more).

    R equivalent: a loop of ``lmerTest::lmer(y ~ 1 + (1 | la))`` or
    ``clubSandwich::coef_test(lm(y ~ 1), vcov = "CR2", cluster = la)`` over
    simulated data (``simr::powerSim`` for the mixed model).

    Examples
    --------
    >>> sim = simulate_power(8, 40, effect_size=0.3, icc=0.05, n_sims=200, seed=1,
    ...                      n_jobs=1)
    >>> list(sim.columns)
    ['n_las', 'parents_per_la', 'method', 'n_sims', 'power', 'std_error', 'power_analytic']
    >>> bool(abs(sim.power[0] - sim.power_analytic[0]) < 3 * sim.std_error[0])
    True
    """
    if outcome not in _OUTCOMES:
        raise RpcEvalError(f"outcome must be 'prepost' or 'completion', got {outcome!r}.")
    if outcome == "prepost":
        if effect_size is None:
            raise RpcEvalError("outcome 'prepost' needs effect_size.")
        settings = {"effect_size": effect_size, "icc": icc, "cv": cv, "alpha": alpha,
                    "completion_rate": completion_rate, "two_sided": two_sided}
    else:
        if p is None or p0 is None:
            raise RpcEvalError("outcome 'completion' needs p and p0.")
        settings = {"p": p, "p0": p0, "icc": icc, "cv": cv, "alpha": alpha,
                    "two_sided": two_sided}
    n_sims, seed, n_jobs = _check_sims(n_sims, seed, n_jobs)
    table = power_table(n_las, parents_per_la, outcome=outcome, **settings)
    icc_v = _check_icc(icc)
    wanted = [method] if isinstance(method, str) else list(method)
    if not wanted:
        raise RpcEvalError("method is empty; give at least one method.")
    bad = [w for w in wanted if w not in _METHODS]
    if bad:
        raise RpcEvalError(f"unknown method {bad[0]!r}; use one of {', '.join(_METHODS)}.")
    resolved = list(dict.fromkeys(("cluster" if icc_v > 0 else "paired") if w == "auto"
                                  else w for w in wanted))
    if outcome == "completion" and "multilevel" in resolved:
        raise RpcEvalError("method 'multilevel' is for pre/post change only; use 'cluster' "
                           "for completion.")
    need = simulation_memory(n_las, parents_per_la, outcome=outcome, cv=cv,
                             completion_rate=completion_rate, methods=resolved,
                             n_sims=n_sims, n_jobs=n_jobs)
    _check_memory(need, max_memory, "The simulation")
    cells, methods = [], []
    for r in table.itertuples(index=False):
        cell = {"outcome": outcome, "n_las": int(r.n_las),
                "parents_per_la": int(r.parents_per_la), "icc": icc_v,
                "cv": float(cv), "two_sided": bool(two_sided),
                "effect_size": None if effect_size is None else float(effect_size),
                "completion_rate": float(completion_rate),
                "p": None if p is None else float(p), "p0": None if p0 is None else float(p0)}
        cells.append(cell)
        methods.append(resolved)
    seeds = np.random.SeedSequence(seed).spawn(n_sims)
    pvals = _run_parallel(_chunk, seeds, n_jobs, cells, methods)
    reject = pvals < float(alpha)
    rows = []
    col = 0
    for r, meth in zip(table.itertuples(index=False), methods, strict=True):
        for name in meth:
            pw = float(reject[:, col].mean())
            rows.append({"n_las": int(r.n_las), "parents_per_la": int(r.parents_per_la),
                         "method": name, "n_sims": n_sims, "power": pw,
                         "std_error": math.sqrt(pw * (1 - pw) / n_sims),
                         "power_analytic": float(r.power)})
            col += 1
    out = pd.DataFrame(rows, columns=SIMULATION_COLUMNS)
    out["method"] = out["method"].astype(str)
    return out.sort_values(["n_las", "parents_per_la", "method"], ignore_index=True)


# --------------------------------------------------------------------------- synthetic
def _synthetic_chunk(seeds: list, cells: list[dict], instrument: str, scale: str,
                     waves: tuple[str, str], alpha: float) -> np.ndarray:
    from rpc_eval.change.tables import pair_waves
    from rpc_eval.instruments import score_responses
    from rpc_eval.synthetic import generate

    rows = []
    for ss in seeds:
        row: list[float] = []
        for cell in cells:
            s = int(ss.generate_state(1, dtype=np.uint32)[0])
            data, _ = generate("small", seed=s, n_parents=cell["n_parents"],
                               n_las=cell["n_las"])
            resp = data.responses[(data.responses["instrument"] == instrument)
                                  & (data.responses["respondent"] == "parent")
                                  & data.responses["wave"].isin(waves)]
            k = cell["n_las"]
            if len(resp) == 0:
                row.extend([math.nan, 0.0, math.nan, math.nan])
                continue
            scores = score_responses(resp, data.instruments, [instrument])
            scores = scores[scores["scale"] == scale]
            try:
                pairs = pair_waves(scores, waves=waves).dropna(subset=["pre", "post"])
            except RpcEvalError:
                row.extend([math.nan, 0.0, math.nan, math.nan])
                continue
            pairs = pairs.merge(data.parents[["parent_id", "la_code"]], on="parent_id")
            y = (pairs["post"] - pairs["pre"]).to_numpy(float)
            codes, _ = pd.factorize(pairs["la_code"])
            t, df = _cluster_t(np.bincount(codes, weights=y, minlength=k).astype(float),
                               np.bincount(codes, minlength=k), 0.0)
            pv = _p_value_t(t, df, True, 1.0)
            sd = y.std(ddof=1) if y.size > 1 else math.nan
            row.extend([pv, float(y.size), float(y.mean()) if y.size else math.nan,
                        float(y.mean() / sd) if sd > 0 else math.nan])
        rows.append(row)
    return np.asarray(rows, dtype=float)


def simulate_power_synthetic(n_las: int | Sequence[int],
                             parents_per_la: int | Sequence[int], *, n_sims: int = 200,
                             seed: int = 20240601, n_jobs: int = -1,
                             outcome: str = "phq9", scale: str = "total",
                             waves: tuple[str, str] = ("baseline", "end"),
                             alpha: float = 0.05) -> pd.DataFrame:
    """Power to detect the synthetic generator's own true change in a questionnaire.

    Each replicate is a complete synthetic dataset
    (``rpc_eval.synthetic.generate("small", seed=s, n_parents=n_las * parents_per_la,
    n_las=n_las)``): referrals, the engagement funnel (starting, dropping out, the
    extract falling during delivery) and item-level questionnaire answers with LA
    random effects. The parents' ``scale`` scores of ``outcome`` are paired at the two
    ``waves`` and the mean change is tested against 0 with the LA-clustered t test
    (method ``"cluster"`` of :func:`simulate_power`). Power is thus the chance of
    detecting the change the generator builds in, with its realistic loss of parents
    and mix of interventions.

    Parameters
    ----------
    n_las, parents_per_la : int or sequences of int
        Designs (every combination); ``parents_per_la`` is referrals per LA on average
        (the generator makes LA sizes unequal).
    n_sims, seed, n_jobs
        As :func:`simulate_power` (replicate ``i``'s dataset seed is drawn from the
        ``i``-th spawned ``SeedSequence``).
    outcome : str, default "phq9"
        Instrument name; ``scale`` its scale.
    waves : (str, str)
        Pre and post wave.
    alpha : float
        Two-sided significance level.

    Returns
    -------
    DataFrame
        One row per design: ``n_las, parents_per_la, n_sims, power, std_error`` (the
        Monte Carlo standard error of ``power``) and the
        replicate means ``mean_n_analysed`` (parents with both waves),
        ``mean_change`` and ``mean_d_z`` (mean change / SD of change), from which
        :func:`power_prepost` can be compared. Replicates with fewer than two LAs
        contributing count as not significant.

    Notes
    -----
    Much slower than :func:`simulate_power` (a dataset takes tens of milliseconds and
    each worker first builds the generator's static tables, a few seconds).

    Examples
    --------
    >>> sim = simulate_power_synthetic(4, 60, n_sims=2, seed=3, n_jobs=1)
    >>> list(sim.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['n_las', 'parents_per_la', 'n_sims', 'power', 'std_error', 'mean_n_analysed',
     'mean_change', 'mean_d_z']
    """
    alpha = _check_alpha(alpha)
    n_sims, seed, n_jobs = _check_sims(n_sims, seed, n_jobs)
    if len(tuple(waves)) != 2:
        raise RpcEvalError(f"waves must be two wave names, got {waves!r}.")
    ks = sorted({_count(k, "n_las", 2) for k in _as_list(n_las, "n_las")})
    ms = sorted({_count(m, "parents_per_la", 1) for m in _as_list(parents_per_la,
                                                                  "parents_per_la")})
    from rpc_eval.instruments import default_registry

    if outcome not in default_registry().available():
        raise RpcEvalError(f"unknown questionnaire {outcome!r}; available: "
                           f"{', '.join(sorted(default_registry().available()))}.")
    cells = [{"n_las": k, "parents_per_la": m, "n_parents": k * m}
             for k, m in itertools.product(ks, ms)]
    from joblib import effective_n_jobs

    workers = max(1, min(int(effective_n_jobs(n_jobs)), n_sims))
    _check_memory(workers * max(c["n_parents"] for c in cells) * _BYTES_PER_SYNTHETIC_PARENT,
                  None, "The synthetic-data simulation")
    seeds = np.random.SeedSequence(seed).spawn(n_sims)
    res = _run_parallel(_synthetic_chunk, seeds, n_jobs, cells, outcome, scale,
                        tuple(waves), alpha)
    rows = []
    for i, cell in enumerate(cells):
        block = res[:, 4 * i:4 * i + 4]
        pw = float(np.mean(np.nan_to_num(block[:, 0], nan=1.0) < alpha))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append({"n_las": cell["n_las"], "parents_per_la": cell["parents_per_la"],
                         "n_sims": n_sims, "power": pw,
                         "std_error": math.sqrt(pw * (1 - pw) / n_sims),
                         "mean_n_analysed": float(np.mean(block[:, 1])),
                         "mean_change": float(np.nanmean(block[:, 2])),
                         "mean_d_z": float(np.nanmean(block[:, 3]))})
    return pd.DataFrame(rows)
