"""Internal-consistency reliability of questionnaire scales: Cronbach's alpha with its
Feldt confidence interval, McDonald's omega total from a one-factor model, and item
statistics (item-rest correlations, alpha if an item is deleted).

Four layers, each usable on its own:

* :func:`cronbach_alpha`, :func:`omega_total`, :func:`item_rest_correlations` take a
  frame of *item scores* (one column per item, one row per respondent) and use the
  respondents who answered every item (listwise deletion);
* :func:`one_factor_ml` is the one-factor maximum-likelihood model behind omega;
* :func:`item_scores` turns raw response codes into item scores with an instrument's
  definition (recoding, reverse keying), for one scale;
* :func:`reliability` does all of it for every scale of an instrument, by wave (or any
  other grouping), from the wide frame :func:`rpc_eval.instruments.responses_to_wide`
  returns.

Results are tidy DataFrames that name the estimator. Values match R (``psych::alpha``,
``psych::alpha.ci``, ``stats::factanal`` / ``psych::fa(fm = "ml")``, ``lavaan::cfa``);
``tests/reference/reliability.R`` computes the reference values.

References
----------
Cronbach LJ (1951) Coefficient alpha and the internal structure of tests.
Psychometrika 16:297-334.

Feldt LS (1965) The approximate sampling distribution of Kuder-Richardson reliability
coefficient twenty. Psychometrika 30:357-370.

Feldt LS, Woodruff DJ, Salih FA (1987) Statistical inference for coefficient alpha.
Applied Psychological Measurement 11:93-103.

McDonald RP (1999) Test theory: a unified treatment. Mahwah, NJ: Erlbaum (chapter 6).

Revelle W, Zinbarg RE (2009) Coefficients alpha, beta, omega, and the glb: comments on
Sijtsma. Psychometrika 74:145-154.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from rpc_eval._util import check_ci as _check_ci
from rpc_eval.errors import (
    BoundaryFitWarning,
    ConvergenceWarning,
    DataQualityWarning,
    DataValidationError,
    Problem,
    RpcEvalError,
)
from rpc_eval.instruments.registry import Instrument, Registry, Scale, default_registry
from rpc_eval.instruments.scoring import require_item_columns

__all__ = [
    "cronbach_alpha",
    "omega_total",
    "one_factor_ml",
    "item_rest_correlations",
    "item_scores",
    "reliability",
    "RELIABILITY_COLUMNS",
]

#: Columns of :func:`reliability`'s result; the ``by`` columns come after ``scale``.
RELIABILITY_COLUMNS = [
    "instrument", "scale", "n", "k", "alpha", "alpha_ci_low", "alpha_ci_high", "omega_total",
]

#: Lower bound of a standardised uniqueness in the ML fit (as ``stats::factanal``).
_PSI_LOWER = 0.005


# ----------------------------------------------------------------------------- helpers
def _complete_matrix(items: Any, *, what: str = "items", min_k: int = 2
                     ) -> tuple[np.ndarray, list[str]]:
    """Complete cases of ``items`` as a float matrix, with the item names.

    Raises RpcEvalError for non-numeric data, fewer than ``min_k`` items or fewer than
    3 complete respondents.
    """
    if isinstance(items, pd.DataFrame):
        frame = items
    else:
        try:
            frame = pd.DataFrame(np.asarray(items, dtype=float))
        except (TypeError, ValueError) as exc:
            raise RpcEvalError(f"{what}: could not read the item scores as numbers") from exc
        if frame.ndim != 2:  # pragma: no cover - DataFrame is always 2-D
            raise RpcEvalError(f"{what}: expected one column per item")
    names = [str(c) for c in frame.columns]
    k = len(names)
    if k < min_k:
        raise RpcEvalError(
            f"{what}: {k} item(s) given; at least {min_k} are needed "
            "(one column per item, one row per respondent)"
        )
    bad = [c for c in frame.columns
           if not (pd.api.types.is_numeric_dtype(frame[c]) or frame[c].isna().all())
           or pd.api.types.is_bool_dtype(frame[c])]
    if bad:
        raise RpcEvalError(
            f"{what}: column(s) {[str(b) for b in bad]} are not numeric item scores; "
            "pass only the item columns (id columns such as parent_id or wave must be "
            "left out)"
        )
    x = frame.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(x).any():
        raise RpcEvalError(f"{what}: item scores must be finite numbers (found inf)")
    x = x[~np.isnan(x).any(axis=1)]
    if x.shape[0] < 3:
        raise RpcEvalError(
            f"{what}: {x.shape[0]} respondent(s) answered all {k} items; at least 3 "
            "complete respondents are needed"
        )
    return x, names


def _alpha_from_cov(c: np.ndarray) -> float:
    k = c.shape[0]
    return k / (k - 1) * (1.0 - np.trace(c) / c.sum())


def _check_total_variance(x: np.ndarray, what: str) -> None:
    total = x.sum(axis=1)
    if np.all(total == total[0]):
        raise RpcEvalError(
            f"{what}: every complete respondent has the same total score "
            f"({total[0]:g}), so the total has no variance and reliability is undefined"
        )


def _feldt(alpha: float, n: int, k: int, ci: float) -> tuple[float, float]:
    """Feldt (1965) interval: (1 - alpha) / (1 - alpha_hat) ~ F(n - 1, (n - 1)(k - 1))."""
    a = 1.0 - ci
    df1, df2 = n - 1, (n - 1) * (k - 1)
    low = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - a / 2.0, df1, df2)
    high = 1.0 - (1.0 - alpha) * stats.f.ppf(a / 2.0, df1, df2)
    return float(low), float(high)


# ------------------------------------------------------------------------------ alpha
def cronbach_alpha(data: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """Cronbach's alpha of a set of item scores, with the Feldt confidence interval.

    Parameters
    ----------
    data : DataFrame
        One numeric column per item (item *scores*: reverse-keyed items already
        reversed; see :func:`item_scores`), one row per respondent. Missing values
        are allowed; respondents with any missing item are left out (listwise).
    ci : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    DataFrame
        One row with columns

        - ``estimator``: ``"cronbach_alpha"`` (raw alpha, from covariances);
        - ``estimate``: alpha;
        - ``ci_low``, ``ci_high``: the Feldt interval;
        - ``ci_level``: ``ci``;
        - ``n``: complete respondents used; ``k``: items;
        - ``ci_method``: ``"feldt"``.

    Raises
    ------
    RpcEvalError
        Fewer than 2 items, fewer than 3 complete respondents, a non-numeric column,
        or a total score without variance.

    Notes
    -----
    With ``C`` the sample covariance matrix (divisor ``n - 1``) of the ``k`` items,

    .. math:: \\hat\\alpha = \\frac{k}{k-1}\\Bigl(1 - \\frac{\\operatorname{tr} C}
              {\\mathbf 1^\\top C \\mathbf 1}\\Bigr).

    Feldt (1965; Feldt, Woodruff & Salih 1987) showed that for normal data following
    the essentially tau-equivalent model, ``(1 - alpha) / (1 - alpha_hat)`` has an
    F distribution with ``n - 1`` and ``(n - 1)(k - 1)`` degrees of freedom (it is the
    ratio of the persons and the residual mean squares of the persons x items
    ANOVA). With ``a = 1 - ci`` and ``F_p`` the ``p`` quantile of that F distribution:

    .. math:: \\text{ci\\_low} = 1 - (1 - \\hat\\alpha)\\,F_{1-a/2},\\qquad
              \\text{ci\\_high} = 1 - (1 - \\hat\\alpha)\\,F_{a/2}.

    This is exactly ``psych::alpha.ci`` (and the ``feldt`` element of
    ``psych::alpha``). The interval is not symmetric about alpha; it can be too narrow
    when items are far from normal or far from tau-equivalent.

    References: Cronbach (1951); Feldt (1965) Psychometrika 30:357-370; Feldt,
    Woodruff & Salih (1987) Appl Psychol Meas 11:93-103.

    R equivalent: ``a <- psych::alpha(na.omit(items)); a$total$raw_alpha;
    psych::alpha.ci(a$total$raw_alpha, n.obs = n, n.var = k, p.val = 1 - ci)``.

    Examples
    --------
    >>> items = pd.DataFrame({"q1": [1, 2, 3, 4, 5, 3], "q2": [2, 2, 3, 5, 4, 3],
    ...                       "q3": [1, 3, 2, 4, 5, 2]})
    >>> out = cronbach_alpha(items)
    >>> print(out.round(4).to_string(index=False))
         estimator  estimate  ci_low  ci_high  ci_level  n  k ci_method
    cronbach_alpha    0.9236  0.6764   0.9885      0.95  6  3     feldt
    """
    ci = _check_ci(ci)
    x, _ = _complete_matrix(data)
    _check_total_variance(x, "items")
    n, k = x.shape
    alpha = float(_alpha_from_cov(np.cov(x, rowvar=False)))
    low, high = _feldt(alpha, n, k, ci)
    return pd.DataFrame({
        "estimator": ["cronbach_alpha"], "estimate": [alpha], "ci_low": [low],
        "ci_high": [high], "ci_level": [ci], "n": [n], "k": [k], "ci_method": ["feldt"],
    })


def item_rest_correlations(data: pd.DataFrame) -> pd.DataFrame:
    """Item statistics: item-rest correlation and alpha if the item is deleted.

    Parameters
    ----------
    data : DataFrame
        One numeric column per item score, one row per respondent; listwise complete
        cases are used (as in :func:`cronbach_alpha`).

    Returns
    -------
    DataFrame
        One row per item, in column order, with columns

        - ``item``: the column name;
        - ``item_rest_r``: Pearson correlation of the item with the sum of the *other*
          items (the "corrected item-total correlation"; ``NaN`` if the item or the
          rest has no variance);
        - ``alpha_if_deleted``: raw Cronbach's alpha of the other ``k - 1`` items
          (``NaN`` when ``k = 2``: alpha of a single item is undefined);
        - ``mean``, ``sd``: item mean and standard deviation (divisor ``n - 1``);
        - ``n``: complete respondents used (the same for every item).

    Raises
    ------
    RpcEvalError
        As :func:`cronbach_alpha`.

    Notes
    -----
    With ``C`` the covariance matrix, ``T = 1'C1`` the total variance and
    ``c_i = (C1)_i``:

    .. math:: r_{i,\\text{rest}} = \\frac{c_i - C_{ii}}
              {\\sqrt{C_{ii}\\,(T - 2c_i + C_{ii})}},\\qquad
              \\alpha_{-i} = \\frac{k-1}{k-2}\\Bigl(1 - \\frac{\\operatorname{tr}C - C_{ii}}
              {T - 2c_i + C_{ii}}\\Bigr).

    Reference: Nunnally & Bernstein (1994) Psychometric theory, 3rd ed., ch. 8.

    R equivalent: ``a <- psych::alpha(na.omit(items)); a$item.stats$r.drop;
    a$alpha.drop$raw_alpha; a$item.stats$mean; a$item.stats$sd``.

    Examples
    --------
    >>> items = pd.DataFrame({"q1": [1, 2, 3, 4, 5, 3], "q2": [2, 2, 3, 5, 4, 3],
    ...                       "q3": [1, 3, 2, 4, 5, 2]})
    >>> print(item_rest_correlations(items).round(4).to_string(index=False))
    item  item_rest_r  alpha_if_deleted   mean     sd  n
      q1       0.9238            0.8222 3.0000 1.4142  6
      q2       0.8083            0.9270 3.1667 1.1690  6
      q3       0.8298            0.9081 2.8333 1.4720  6
    """
    x, names = _complete_matrix(data)
    _check_total_variance(x, "items")
    n, k = x.shape
    c = np.cov(x, rowvar=False)
    var = np.diag(c)
    total = c.sum()
    ci_ = c.sum(axis=1)
    rest_var = total - 2.0 * ci_ + var
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (ci_ - var) / np.sqrt(var * rest_var)
        if k > 2:
            drop = (k - 1) / (k - 2) * (1.0 - (np.trace(c) - var) / rest_var)
        else:
            drop = np.full(k, np.nan)
    r = np.where((var > 0) & (rest_var > 0), r, np.nan)
    return pd.DataFrame({
        "item": names, "item_rest_r": r, "alpha_if_deleted": drop,
        "mean": x.mean(axis=0), "sd": np.sqrt(var), "n": np.full(k, n, dtype=np.int64),
    })


# ----------------------------------------------------------------------- one-factor ML
def _ml_objective(psi: np.ndarray, r: np.ndarray) -> tuple[float, np.ndarray]:
    """stats::factanal's criterion and gradient for one factor (``FAfn``, ``FAgr``)."""
    sc = 1.0 / np.sqrt(psi)
    sstar = sc[:, None] * r * sc[None, :]
    e, v = np.linalg.eigh(sstar)  # ascending
    rest = e[:-1]
    value = -(np.sum(np.log(rest) - rest) - 1.0 + r.shape[0])
    lam = np.sqrt(psi) * v[:, -1] * np.sqrt(max(e[-1] - 1.0, 0.0))
    grad = (lam**2 + psi - np.diag(r)) / psi**2
    return float(value), grad


def _fit_one_factor(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """ML one-factor fit of a correlation matrix: loadings, uniquenesses, info."""
    p = r.shape[0]
    try:
        start = (1.0 - 0.5 / p) / np.diag(np.linalg.inv(r))
    except np.linalg.LinAlgError:
        start = np.full(p, 0.5)
    start = np.clip(start, _PSI_LOWER, 1.0)
    res = optimize.minimize(
        _ml_objective, start, args=(r,), jac=True, method="L-BFGS-B",
        bounds=[(_PSI_LOWER, 1.0)] * p,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000, "maxcor": 20},
    )
    psi = res.x
    sc = 1.0 / np.sqrt(psi)
    e, v = np.linalg.eigh(sc[:, None] * r * sc[None, :])
    lam = np.sqrt(psi) * v[:, -1] * np.sqrt(max(e[-1] - 1.0, 0.0))
    if lam.sum() < 0:
        lam = -lam
    grad = res.jac
    interior = (psi > _PSI_LOWER * (1 + 1e-6)) & (psi < 1.0 - 1e-9)
    max_grad = float(np.max(np.abs(grad[interior]))) if interior.any() else 0.0
    info = {
        "converged": bool(res.success) or max_grad < 1e-6,
        "heywood": bool(np.any(psi <= _PSI_LOWER * (1 + 1e-6))),
        "objective": float(res.fun), "iterations": int(res.nit), "max_gradient": max_grad,
    }
    return lam, psi, info


def _correlation(x: np.ndarray, names: Sequence[str], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Correlation matrix and item SDs; errors for items without variance or a
    singular correlation matrix."""
    c = np.cov(x, rowvar=False)
    sd = np.sqrt(np.diag(c))
    flat = [names[int(i)] for i in np.flatnonzero(sd == 0)]
    if flat:
        raise RpcEvalError(
            f"{what}: item(s) {flat} have the same score for every complete respondent; "
            "a factor model needs every item to vary"
        )
    r = c / np.outer(sd, sd)
    if np.linalg.eigvalsh(r)[0] <= 1e-10:
        raise RpcEvalError(
            f"{what}: the items' correlation matrix is singular (an item is a linear "
            "combination of others, or there are too few respondents); the one-factor "
            "model cannot be fitted"
        )
    return r, sd


def _one_factor(x: np.ndarray, names: Sequence[str], what: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    r, sd = _correlation(x, names, what)
    lam, psi, info = _fit_one_factor(r)
    if info["heywood"]:
        warnings.warn(
            f"{what}: one-factor ML fit: a uniqueness is at its lower bound "
            f"({_PSI_LOWER}), a Heywood case; omega may be overstated",
            BoundaryFitWarning, stacklevel=3,
        )
    if not info["converged"]:
        warnings.warn(
            f"{what}: one-factor ML fit did not converge (largest gradient "
            f"{info['max_gradient']:.2g})", ConvergenceWarning, stacklevel=3,
        )
    return lam, psi, r, sd, info


def one_factor_ml(data: pd.DataFrame) -> pd.DataFrame:
    """Maximum-likelihood one-factor model of a set of item scores.

    Parameters
    ----------
    data : DataFrame
        One numeric column per item score (at least 3), one row per respondent;
        listwise complete cases are used.

    Returns
    -------
    DataFrame
        One row per item with columns ``item``, ``loading`` and ``uniqueness``
        (standardised: ``loading**2 + uniqueness = 1``), ``raw_loading`` and
        ``raw_residual_variance`` (the same model in the items' own units: multiplied
        by the item SD and variance, divisor ``n - 1``) and ``n``. Loadings are signed
        so that their sum is positive.

    Raises
    ------
    RpcEvalError
        Fewer than 3 items (a one-factor model of 2 items is not identified), fewer
        than 3 complete respondents, an item without variance, or a singular
        correlation matrix.

    Warns
    -----
    BoundaryFitWarning
        A uniqueness reached its lower bound 0.005 (a Heywood case).
    ConvergenceWarning
        The optimiser stopped before convergence.

    Notes
    -----
    The model is :math:`x = \\mu + \\lambda f + e` with :math:`f \\sim N(0, 1)` and
    independent :math:`e_i \\sim N(0, \\psi_i)`, so
    :math:`\\Sigma = \\lambda\\lambda^\\top + \\Psi`. It is fitted to the correlation
    matrix ``R`` by minimising the ML discrepancy
    :math:`\\log|\\Sigma| + \\operatorname{tr}(R\\Sigma^{-1}) - \\log|R| - k`, exactly as
    ``stats::factanal`` does: for given uniquenesses the loadings are
    :math:`\\Psi^{1/2} v \\sqrt{\\max(\\theta - 1, 0)}` (``theta, v`` the largest
    eigenvalue and eigenvector of :math:`\\Psi^{-1/2} R \\Psi^{-1/2}`), and the
    uniquenesses are found by L-BFGS-B within [0.005, 1] from factanal's start values
    (Joreskog 1967; Lawley & Maxwell 1971). ML is scale invariant, so the raw-unit
    solution is the standardised one rescaled by the item SDs (it is the solution
    ``lavaan::cfa(std.lv = TRUE)`` finds on the covariance matrix).

    R equivalent: ``factanal(na.omit(items), factors = 1)`` or
    ``psych::fa(na.omit(items), nfactors = 1, fm = "ml")`` (standardised);
    ``lavaan::cfa("f =~ q1 + q2 + q3", data = na.omit(items), std.lv = TRUE)`` (raw).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> f = rng.standard_normal(500)
    >>> items = pd.DataFrame({f"q{j}": lam * f + np.sqrt(1 - lam**2) * rng.standard_normal(500)
    ...                       for j, lam in enumerate([0.8, 0.7, 0.6, 0.5], start=1)})
    >>> print(one_factor_ml(items)[["item", "loading", "uniqueness"]].round(2)
    ...       .to_string(index=False))
    item  loading  uniqueness
      q1     0.82        0.33
      q2     0.66        0.57
      q3     0.60        0.64
      q4     0.39        0.85
    """
    x, names = _complete_matrix(data, min_k=3)
    lam, psi, _, sd, _ = _one_factor(x, names, "items")
    return pd.DataFrame({
        "item": names, "loading": lam, "uniqueness": psi, "raw_loading": lam * sd,
        "raw_residual_variance": psi * sd**2, "n": np.full(len(names), x.shape[0]),
    })


def _omega(lam: np.ndarray, psi: np.ndarray, r: np.ndarray, sd: np.ndarray,
           standardized: bool, denominator: str) -> float:
    if not standardized:
        lam = lam * sd
        psi = psi * sd**2
        s = r * np.outer(sd, sd)
    else:
        s = r
    common = lam.sum() ** 2
    if denominator == "model":
        return float(common / (common + psi.sum()))
    return float(1.0 - psi.sum() / s.sum())


def omega_total(data: pd.DataFrame, *, standardised: bool = False,
                denominator: str = "model") -> pd.DataFrame:
    """McDonald's omega total from a one-factor ML model.

    Parameters
    ----------
    data : DataFrame
        One numeric column per item score (at least 3), one row per respondent;
        listwise complete cases are used.
    standardised : bool, default False
        ``False``: reliability of the unit-weighted sum of the item scores as they are
        (the scale score). ``True``: of the sum of standardised items (what
        ``psych::omega`` reports, since it works on correlations).
    denominator : {"model", "observed"}, default "model"
        Total-score variance in the denominator: model-implied (McDonald) or the
        observed sample variance (``psych::omega``'s ``omega.tot``).

    Returns
    -------
    DataFrame
        One row with columns ``estimator`` (``"omega_total"``), ``estimate``, ``n``,
        ``k``, ``model`` (``"one_factor_ml"``), ``scale`` (``"raw"`` or
        ``"standardised"``) and ``denominator``.

    Raises
    ------
    RpcEvalError
        As :func:`one_factor_ml`, or an unknown ``denominator``.

    Warns
    -----
    BoundaryFitWarning, ConvergenceWarning
        As :func:`one_factor_ml`.

    Notes
    -----
    With loadings :math:`\\lambda_i` and residual variances :math:`\\psi_i` of the
    one-factor model fitted by :func:`one_factor_ml` (in raw units, or standardised),

    .. math:: \\omega_t = \\frac{(\\sum_i \\lambda_i)^2}{(\\sum_i \\lambda_i)^2 +
              \\sum_i \\psi_i}\\quad(\\text{denominator="model"}),\\qquad
              \\omega_t = 1 - \\frac{\\sum_i \\psi_i}{\\mathbf 1^\\top S \\mathbf 1}
              \\quad(\\text{"observed"}),

    ``S`` the sample covariance (or correlation) matrix. At the ML solution the
    model reproduces the item variances, so the two differ only by the misfit of the
    off-diagonal covariances; they coincide when the one-factor model fits exactly
    (always for 3 items). For tau-equivalent items omega equals alpha; for
    congeneric items alpha is lower.

    References: McDonald (1999) Test theory, ch. 6 (eq. 6.20b); Revelle & Zinbarg
    (2009) Psychometrika 74:145-154 (the ``observed`` form).

    R equivalent: there is no single psych function for the model-implied form; the
    tests compute it from ``factanal`` / ``psych::fa(fm = "ml")`` loadings
    (standardised) and from ``lavaan::cfa(std.lv = TRUE)`` (raw):
    ``l <- lavInspect(fit, "est"); sum(l$lambda)^2 / (sum(l$lambda)^2 + sum(diag(l$theta)))``.
    ``psych::omega(items, nfactors = 1, fm = "ml")$omega.tot`` equals
    ``standardised=True, denominator="observed"``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> f = rng.standard_normal(500)
    >>> items = pd.DataFrame({f"q{j}": lam * f + np.sqrt(1 - lam**2) * rng.standard_normal(500)
    ...                       for j, lam in enumerate([0.8, 0.7, 0.6, 0.5], start=1)})
    >>> print(omega_total(items).round(4).to_string(index=False))
      estimator  estimate   n  k         model scale denominator
    omega_total    0.7185 500  4 one_factor_ml   raw       model
    """
    if denominator not in ("model", "observed"):
        raise RpcEvalError(f"denominator must be 'model' or 'observed', not {denominator!r}")
    x, names = _complete_matrix(data, min_k=3)
    _check_total_variance(x, "items")
    lam, psi, r, sd, _ = _one_factor(x, names, "items")
    value = _omega(lam, psi, r, sd, bool(standardised), denominator)
    return pd.DataFrame({
        "estimator": ["omega_total"], "estimate": [value], "n": [x.shape[0]],
        "k": [len(names)], "model": ["one_factor_ml"],
        "scale": ["standardised" if standardised else "raw"], "denominator": [denominator],
    })


# -------------------------------------------------------------------- item scoring
def _get_instrument(instrument: str | Instrument, registry: Registry | None) -> Instrument:
    if isinstance(instrument, Instrument):
        return instrument
    return (registry or default_registry()).get(str(instrument))


def _scale_items(inst: Instrument, scale: Scale) -> list[tuple[str, bool]]:
    """(item, reversed) for every item of ``scale``; a sum of scales is expanded into
    the items of its parts, each keyed as in its part."""
    if scale.method != "sum_of_scales":
        return [(i, i in scale.reverse) for i in scale.items]
    out: list[tuple[str, bool]] = []
    for part in scale.from_scales:
        out.extend(_scale_items(inst, inst.scale(part)))
    return out


def _score_item(values: np.ndarray, inst: Instrument, item: str, reverse: bool
                ) -> np.ndarray:
    mapping = inst.recode_map(item)
    lo, hi = inst.item_min[item], inst.item_max[item]
    if mapping is not None:
        out = np.full(values.shape, np.nan)
        for code, scored in mapping.items():
            if scored is not None:
                out[values == code] = scored
        values = out
    if reverse:
        values = (lo + hi) - values
    return values


def _check_item_codes(data: pd.DataFrame, inst: Instrument, items: Sequence[str]) -> None:
    require_item_columns(data, inst, items, "item data")
    problems = []
    for item in dict.fromkeys(items):
        col = pd.to_numeric(data[item], errors="coerce")
        raw = data[item]
        text = col.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        v = col.to_numpy(dtype="float64", na_value=np.nan)
        lo, hi = inst.item_min[item], inst.item_max[item]
        with np.errstate(invalid="ignore"):
            off = (v < lo) | (v > hi)
            if inst.item_integer(item):
                off |= ~np.isnan(v) & (v != np.floor(v))
        for pos in np.flatnonzero(off | text.to_numpy())[:200]:
            label = data.index[pos]
            problems.append(Problem(
                "responses", "item data", None, item, str(raw.iloc[pos]),
                f"row {label}: {raw.iloc[pos]!r} is not a valid answer to {inst.name} "
                f"item {item} (valid: {lo:g} to {hi:g})",
                "correct the value, or leave it blank if the item was not answered",
            ))
    if problems:
        raise DataValidationError(problems, f"invalid {inst.name} answers")


def item_scores(data: pd.DataFrame, instrument: str | Instrument, scale: str, *,
                registry: Registry | None = None) -> pd.DataFrame:
    """Item scores of one scale from raw response codes, as the scale scores them.

    Parameters
    ----------
    data : DataFrame
        Wide raw answers, one column per item (raw codes; blank = not answered), as
        :func:`rpc_eval.instruments.responses_to_wide` returns. Other columns are
        ignored.
    instrument : str or Instrument
        Instrument name in the registry, or an :class:`Instrument`.
    scale : str
        Scale name. For a ``sum_of_scales`` composite the items of all its parts are
        returned, each keyed as in its part.
    registry : Registry, optional
        Where to look ``instrument`` up; the package's definitions by default.

    Returns
    -------
    DataFrame
        Same index as ``data``, one float column per item of the scale (definition
        order; an item used twice by a composite appears as ``item`` and
        ``item.2``). Item score = the definition's recode map (codes mapped to
        ``null`` become missing), then ``min + max - score`` for an item reverse-keyed
        in the scale.

    Raises
    ------
    DataValidationError
        A missing item column, or a value outside the item's valid codes.

    Notes
    -----
    These are the item scores :func:`rpc_eval.instruments.score` adds up, before any
    prorating, gate or conversion table (those act on the scale score, not on items).

    R equivalent: ``psych::reverse.code(keys, items, mini = min, maxi = max)`` for
    reverse keying; ``dplyr::recode`` for recoding.

    Examples
    --------
    SDQ conduct: item 7 is reverse-keyed (0-2 codes, score = 2 - code):

    >>> wide = pd.DataFrame({"sdq_05": [0, 2], "sdq_07": [0, 2], "sdq_12": [1, 0],
    ...                      "sdq_18": [0, 0], "sdq_22": [1, 1]})
    >>> print(item_scores(wide, "sdq_parent_4_17", "conduct").to_string())
       sdq_05  sdq_07  sdq_12  sdq_18  sdq_22
    0     0.0     2.0     1.0     0.0     1.0
    1     2.0     0.0     0.0     0.0     1.0
    """
    inst = _get_instrument(instrument, registry)
    sc = inst.scale(scale)
    keyed = _scale_items(inst, sc)
    _check_item_codes(data, inst, [i for i, _ in keyed])
    cols: dict[str, np.ndarray] = {}
    for item, rev in keyed:
        name, dup = item, 1
        while name in cols:
            dup += 1
            name = f"{item}.{dup}"
        v = pd.to_numeric(data[item], errors="coerce").to_numpy(dtype="float64",
                                                                 na_value=np.nan)
        cols[name] = _score_item(v, inst, item, rev)
    return pd.DataFrame(cols, index=data.index)


# ---------------------------------------------------------------------- reliability
def _group_stats(x: np.ndarray, names: list[str], ci: float, what: str
                 ) -> dict[str, Any]:
    """alpha, Feldt CI and omega of one scale x group (errors as RpcEvalError)."""
    k = x.shape[1]
    complete = x[~np.isnan(x).any(axis=1)]
    n = complete.shape[0]
    row: dict[str, Any] = {"n": n, "k": k, "alpha": np.nan, "alpha_ci_low": np.nan,
                           "alpha_ci_high": np.nan, "omega_total": np.nan}
    if k < 2:
        raise _GroupError(row, f"{what}: the scale has {k} item(s); alpha needs at least 2")
    if n < 3:
        raise _GroupError(row, f"{what}: {n} respondent(s) answered all {k} items; at "
                               "least 3 complete respondents are needed")
    total = complete.sum(axis=1)
    if np.all(total == total[0]):
        raise _GroupError(row, f"{what}: every complete respondent has the same total "
                               f"score ({total[0]:g}); reliability is undefined")
    alpha = float(_alpha_from_cov(np.cov(complete, rowvar=False)))
    row["alpha"] = alpha
    row["alpha_ci_low"], row["alpha_ci_high"] = _feldt(alpha, n, k, ci)
    if k >= 3:
        try:
            lam, psi, r, sd, _ = _one_factor(complete, names, what)
        except RpcEvalError as exc:
            warnings.warn(f"omega_total not computed: {exc}", DataQualityWarning,
                          stacklevel=4)
        else:
            row["omega_total"] = _omega(lam, psi, r, sd, False, "model")
    return row


class _GroupError(RpcEvalError):
    def __init__(self, row: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.row = row


def reliability(
    data: pd.DataFrame,
    instrument: str | Instrument,
    by: Sequence[str] = ("wave",),
    registry: Registry | None = None,
    *,
    scales: Sequence[str] | None = None,
    ci: float = 0.95,
    on_error: str = "raise",
) -> pd.DataFrame:
    """Internal consistency of every scale of an instrument, by group (e.g. wave).

    Parameters
    ----------
    data : DataFrame
        Wide raw answers of one instrument, one row per completed questionnaire, one
        column per item (raw response codes; blank = not answered), plus the ``by``
        columns: what :func:`rpc_eval.instruments.responses_to_wide` returns. The
        instrument's item scoring (recoding, reverse keying) is applied here, scale by
        scale (see :func:`item_scores`).
    instrument : str or Instrument
        Instrument name in the registry (``"sdq_parent_4_17"``), or an
        :class:`Instrument`.
    by : sequence of str, default ("wave",)
        Grouping columns; one row per scale x group. ``()`` pools all rows. Groups
        are sorted (a categorical column keeps its category order); missing group
        values form their own group.
    registry : Registry, optional
        Where to look ``instrument`` up; the package's definitions by default.
    scales : sequence of str, optional
        Scales to analyse, in this order; default every scale of the instrument.
    ci : float, default 0.95
        Level of the Feldt interval for alpha.
    on_error : {"raise", "warn"}, default "raise"
        What to do when alpha cannot be computed for a scale x group (fewer than 3
        complete respondents, a total score without variance): raise
        :class:`~rpc_eval.errors.RpcEvalError`, or issue a
        :class:`~rpc_eval.errors.DataQualityWarning` and return the row with missing
        statistics.

    Returns
    -------
    DataFrame
        One row per scale (definition order) x group, with columns

        - ``instrument``, ``scale``, then the ``by`` columns;
        - ``n``: respondents in the group who answered every item of the scale
          (listwise; only they are used); ``k``: items of the scale;
        - ``alpha``: Cronbach's alpha (raw; :func:`cronbach_alpha`);
        - ``alpha_ci_low``, ``alpha_ci_high``: Feldt interval at level ``ci``;
        - ``omega_total``: McDonald's omega total of the raw item scores, one-factor
          ML model, model-implied denominator (:func:`omega_total` with its
          defaults); missing for scales of fewer than 3 items (a one-factor model of
          2 items is not identified) and, with a warning, when the model cannot be
          fitted (an item without variance in the group).

    Raises
    ------
    RpcEvalError
        Unknown instrument, scale or ``by`` column, a bad ``ci`` or ``on_error``, or
        (with ``on_error="raise"``) a scale x group where alpha is undefined.
    DataValidationError
        A missing item column, or a value outside an item's valid codes.

    Notes
    -----
    Which scales, and on which items:

    - ``sum`` and ``mean`` scales: their items, recoded and reverse-keyed as the
      scale scores them (the alpha of a mean equals that of the sum).
    - ``sum_of_scales`` composites (SDQ total difficulties, internalising,
      externalising; RDAS total) are **computed over all the items of their parts**,
      each keyed as in its part, which is how the reliability of such totals is
      usually reported (e.g. SDQ total difficulties alpha over 20 items).
    - Prorating, ``missing_as_zero``, gates and conversion tables act on scale scores,
      not items, and are ignored: the statistics describe complete answers only. For
      the SDQ impact scale, parents who reported no difficulties are often not asked
      the impact items and then drop out listwise; for the SWEMWBS, alpha is that of
      the raw sum (the metric conversion is monotone but not linear).

    Formulas, references and R equivalents: see :func:`cronbach_alpha` and
    :func:`omega_total`. R equivalent, per scale x group:
    ``psych::alpha(na.omit(items))`` (with reverse-keyed items reversed first) and
    ``psych::alpha.ci``.

    Examples
    --------
    GAD-7 answers of 200 parents at two waves, simulated from one latent trait:

    >>> rng = np.random.default_rng(7)
    >>> trait = rng.standard_normal(200)
    >>> wide = pd.DataFrame({"parent_id": [f"P{i:03d}" for i in range(200)],
    ...                      "respondent": "parent",
    ...                      "wave": np.repeat(["baseline", "end"], 100)})
    >>> for j in range(1, 8):
    ...     y = 0.7 * trait + 0.7 * rng.standard_normal(200)
    ...     wide[f"gad7_0{j}"] = np.digitize(y, [-0.5, 0.5, 1.2]).astype(float)
    >>> out = reliability(wide, "gad7")
    >>> print(out.round(3).to_string(index=False))
    instrument scale     wave   n  k  alpha  alpha_ci_low  alpha_ci_high  omega_total
          gad7 total baseline 100  7  0.738         0.651          0.809        0.740
          gad7 total      end 100  7  0.816         0.755          0.866        0.817
    """
    ci = _check_ci(ci)
    if on_error not in ("raise", "warn"):
        raise RpcEvalError(f"on_error must be 'raise' or 'warn', not {on_error!r}")
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError("scored_items must be a DataFrame (one column per item)")
    inst = _get_instrument(instrument, registry)
    by = [by] if isinstance(by, str) else list(by)
    absent = [c for c in by if c not in data.columns]
    if absent:
        raise RpcEvalError(f"by column(s) {absent} are not columns of the data; "
                           f"columns are {list(map(str, data.columns))}")
    clash = [c for c in by if c in RELIABILITY_COLUMNS]
    if clash:
        raise RpcEvalError(f"by column(s) {clash} clash with result column names")
    wanted = list(scales) if scales is not None else list(inst.scale_names)
    for s in wanted:
        inst.scale(s)  # unknown scale -> RpcEvalError naming the scales there are

    if by:
        keys = data[by].reset_index(drop=True)  # positions as the index
        grouped = keys.groupby(by, sort=True, dropna=False, observed=True)
        groups = [((key if isinstance(key, tuple) else (key,)), sub.index.to_numpy())
                  for key, sub in grouped]
    else:
        groups = [((), np.arange(len(data)))]

    rows = []
    for s in wanted:
        scored = item_scores(data, inst, s)
        x = scored.to_numpy(dtype="float64")
        names = list(scored.columns)
        for key, idx in groups:
            label = ", ".join(f"{c}={v}" for c, v in zip(by, key, strict=True))
            what = f"{inst.name} scale {s}" + (f" ({label})" if label else "")
            try:
                stats_row = _group_stats(x[idx], names, ci, what)
            except _GroupError as exc:
                if on_error == "raise":
                    raise RpcEvalError(str(exc)) from None
                warnings.warn(f"{exc}; its statistics are left missing",
                              DataQualityWarning, stacklevel=2)
                stats_row = exc.row
            rows.append({"instrument": inst.name, "scale": s,
                         **dict(zip(by, key, strict=True)), **stats_row})
    columns = ["instrument", "scale", *by, "n", "k", "alpha", "alpha_ci_low",
               "alpha_ci_high", "omega_total"]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"n": "int64", "k": "int64", "alpha": "float64",
                       "alpha_ci_low": "float64", "alpha_ci_high": "float64",
                       "omega_total": "float64"})
