"""Correlated random intercepts and slopes for one grouping factor, by profiled (RE)ML.

The model (lme4 notation ``y ~ X + (1 + x | la)``)::

    y = X beta + Z b + e,   b_g ~ N(0, sigma^2 Lambda Lambda'),   e ~ N(0, sigma^2 I),

with ``Z`` the columns of ``re_formula`` (an intercept and slopes), ``Lambda`` lower
triangular with a non-negative diagonal, and ``theta`` its lower triangle taken column
by column (lme4's ``getME(fit, "theta")``). Within group ``g``,
``V_g / sigma^2 = I + Z_g Lambda Lambda' Z_g'``; by the Woodbury identity, with
``M_g = I + Lambda' Z_g'Z_g Lambda``,

    [X y]' V*^{-1} [X y] = [X y]'[X y] - sum_g B_g' M_g^{-1} B_g,   B_g = Lambda' Z_g'[X y],
    log|V*| = sum_g log|M_g|,

so an evaluation costs O(G q^3 + G q p^2) from group sums computed once. ``beta`` and
``sigma^2`` are profiled out exactly as for random intercepts (same criteria as lme4),
and ``theta`` is optimised from lme4's start and from further starting points, with a
Newton polish and a check of the optimality conditions. Satterthwaite degrees of
freedom follow lmerTest, from the Hessian of the deviance in ``(theta, sigma)``.
A fit is singular, as ``lme4::isSingular(tol = 1e-4)``, when a diagonal element of
``Lambda`` is below 1e-4 (a variance at 0 or a correlation at +-1).

R equivalent: ``lmerTest::lmer(y ~ wave + (1 + wave | la), REML = TRUE)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from rpc_eval.errors import BoundaryFitWarning, ConvergenceWarning, RpcEvalError
from rpc_eval.multilevel.formula import complete_rows, formula_columns, term_labels
from rpc_eval.multilevel.lmm import (
    BOUNDARY_TOL,
    LmmSlopesResult,
    _Engine,
    _fixed_on_data_scale,
    _hessian,
    _jacobian,
    _satterthwaite,
    _standardiser,
)

__all__ = ["fit_slopes"]

#: the optimum is confirmed when every free component of the deviance gradient in
#: theta is below this (and no component at its bound wants to move inwards)
GRAD_TOL = 1e-3


class _SlopesEngine(_Engine):
    """Profiled (RE)ML deviance of correlated random effects for one grouping factor."""

    def __init__(self, y, X, Z, codes, reml):  # noqa: D107 - shares _Engine's methods
        n, p = X.shape
        self.n, self.p, self.reml, self.nlev = n, p, reml, 1
        q = Z.shape[1]
        self.q = q
        W = np.column_stack([X, y])
        self.S0 = W.T @ W
        G = int(codes.max()) + 1
        self.G = G
        self.ZtZ = np.zeros((G, q, q))
        self.ZtW = np.zeros((G, q, p + 1))
        for a in range(q):
            za = Z[:, a]
            for b in range(q):
                self.ZtZ[:, a, b] = np.bincount(codes, weights=za * Z[:, b], minlength=G)
            for j in range(p + 1):
                self.ZtW[:, a, j] = np.bincount(codes, weights=za * W[:, j], minlength=G)
        self.rows, self.cols = np.tril_indices(q)
        # lme4's order: lower triangle column by column
        order = np.lexsort((self.rows, self.cols))
        self.rows, self.cols = self.rows[order], self.cols[order]
        self.diag = np.flatnonzero(self.rows == self.cols)

    def lam(self, theta):
        L = np.zeros((self.q, self.q))
        L[self.rows, self.cols] = theta
        return L

    def quad(self, theta):
        L = self.lam(theta)
        M = np.eye(self.q)[None] + np.einsum("ai,gab,bj->gij", L, self.ZtZ, L)
        B = np.einsum("ai,gaj->gij", L, self.ZtW)
        sign, logdets = np.linalg.slogdet(M)
        MinvB = np.linalg.solve(M, B)
        Q = self.S0 - np.einsum("gqi,gqj->ij", B, MinvB)
        return Q, float(np.sum(logdets)), None, (M, B, MinvB)


def _lower_factor(M):
    """Lower-triangular ``L`` with a non-negative diagonal and ``L L' = M M'``."""
    _, R = np.linalg.qr(M.T)
    L = R.T
    sign = np.where(np.diag(L) < 0, -1.0, 1.0)
    return L * sign[None, :]


def _fit_theta(eng, start, polish=True):
    """SLSQP from ``start`` then (``polish``) a Newton polish of the free components."""
    K = len(start)
    bounds = [(0.0, None) if i in eng.diag else (None, None) for i in range(K)]

    def f(th):
        v = eng.profiled(th)
        return v if np.isfinite(v) else 1e300

    res = optimize.minimize(f, start, method="SLSQP", bounds=bounds,
                            options=dict(ftol=1e-15, maxiter=1000))
    th = np.asarray(res.x, dtype=float)
    th[eng.diag] = np.maximum(th[eng.diag], 0.0)
    if f(th) > f(np.asarray(start, float)):
        th = np.asarray(start, float).copy()
    # Newton polish on the components off their bounds
    for _ in range(10 if polish else 0):
        free = np.array([i not in eng.diag or th[i] > BOUNDARY_TOL for i in range(K)])
        if not free.any():
            break
        idx = np.flatnonzero(free)

        def sub(x, idx=idx):
            t = th.copy()
            t[idx] = x
            return f(t)

        x0 = th[idx]
        g = _jacobian(lambda x, sub=sub: np.array(sub(x)), x0)
        H = _hessian(sub, x0)
        try:
            if np.any(np.linalg.eigvalsh(H) <= 0):
                break
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        x1 = x0 + step
        dmask = np.isin(idx, eng.diag)
        x1[dmask] = np.maximum(x1[dmask], 0.5 * x0[dmask])
        if not np.all(np.isfinite(x1)) or sub(x1) > sub(x0):
            break
        th[idx] = x1
        if np.max(np.abs(step)) < 1e-10 * (1 + np.max(np.abs(x0))):
            break
    return th, res


def _kkt(eng, th):
    """Largest violation of the optimality conditions (deviance units)."""
    worst = 0.0
    for i in range(len(th)):
        h = 1e-6 * max(1.0, abs(th[i]))
        e = np.zeros(len(th))
        e[i] = h
        if i in eng.diag and th[i] <= BOUNDARY_TOL:
            slope = (eng.profiled(th + e) - eng.profiled(th)) / h
            worst = max(worst, -slope)
        else:
            lo = th - e
            if i in eng.diag:
                lo[i] = max(lo[i], 0.0)
            g = (eng.profiled(th + e) - eng.profiled(lo)) / (th[i] + h - lo[i])
            worst = max(worst, abs(g))
    return worst


def fit_slopes(data: pd.DataFrame, formula: str, groups, reml: bool, ci: float,
               re_formula: str) -> LmmSlopesResult:
    """Fit ``formula + (re_formula | group)``; see :func:`rpc_eval.multilevel.fit_lmm`."""
    import patsy

    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError("data must be a pandas DataFrame in long form (one row per "
                           "observation).")
    glist = [groups] if isinstance(groups, str) else list(groups)
    if len(glist) != 1 or not isinstance(glist[0], str):
        raise RpcEvalError(
            f"re_formula (random slopes) needs exactly one grouping column, got {glist!r}: "
            "nested random slopes are not supported. Use groups='la_code' with "
            "re_formula, or nested random intercepts without re_formula.")
    g = glist[0]
    if g not in data.columns:
        raise RpcEvalError(f"grouping column {g!r} not in the data; columns are "
                           f"{list(data.columns)}.")
    if "|" in formula or "|" in re_formula:
        raise RpcEvalError("write the fixed effects in formula and the random-effect terms "
                           "in re_formula (e.g. re_formula='~wave'), without '|'.")
    if not re_formula.strip().startswith("~"):
        raise RpcEvalError(f"re_formula must be a one-sided formula such as '~wave', got "
                           f"{re_formula!r}.")
    frame, n_dropped = complete_rows(
        data, [*formula_columns(formula, data), *formula_columns(re_formula, data), g],
        "linear mixed model", stacklevel=5)
    text = [c for c in frame.columns if c != g and (
        pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c]))]
    if text:
        frame = frame.assign(**{c: pd.Categorical(frame[c]) for c in text})
    try:
        ydf, Xdf = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="drop")
        Zdf = patsy.dmatrix(re_formula, frame.loc[ydf.index], return_type="dataframe")
    except patsy.PatsyError as exc:
        raise RpcEvalError(f"could not build the model from formula {formula!r} and "
                           f"re_formula {re_formula!r}: {exc}") from exc
    n_dropped += len(frame) - len(ydf)
    y = ydf.to_numpy(dtype=float).ravel()
    X = Xdf.to_numpy(dtype=float)
    Z = Zdf.to_numpy(dtype=float)
    n, p = X.shape
    codes, levels = pd.factorize(frame.loc[ydf.index, g].astype(str), sort=True)
    ng = len(levels)
    if ng < 2:
        raise RpcEvalError(f"'{g}' has only {ng} group in the data used; random effects "
                           "need at least 2 groups (and in practice many more).")
    if n == 0 or np.ptp(y) == 0:
        raise RpcEvalError("the outcome is constant in all rows used, so there is no "
                           "variation to model.")
    if np.linalg.matrix_rank(X) < p:
        raise RpcEvalError(f"the fixed-effects design is rank deficient: terms "
                           f"{list(Xdf.columns)} are collinear. Remove the redundant terms.")
    q = Z.shape[1]
    if ng * q >= n:
        raise RpcEvalError(f"{ng} groups x {q} random effects for {n} observations: too "
                           "few observations per group to separate the random effects "
                           "from the residual. Simplify re_formula.")

    T, y_shift, y_scale, log_sx, icpt = _standardiser(X, y)
    # the random-effect columns are standardised too (Z~ = Z Az): the unstructured
    # covariance makes the model the same, with b = Az b~; theta is mapped back below
    Az = _standardiser(Z, y)[0]
    eng = _SlopesEngine((y - y_shift) / y_scale, X @ T, Z @ Az, codes.astype(np.intp), reml)
    K = q * (q + 1) // 2
    ident = np.zeros(K)
    ident[eng.diag] = 1.0
    # several starts (the likelihood of a covariance matrix can have local optima):
    # the identity on the standardised scale, scaled versions of it, lme4's start
    # (the identity on the original scale) and correlated ones; the best fit is kept
    Ainv = np.linalg.inv(Az)
    starts = [ident, 0.3 * ident, 3.0 * ident,
              _lower_factor(Ainv)[eng.rows, eng.cols]]
    for r in (0.7, -0.7):
        C = np.full((q, q), r) + (1 - r) * np.eye(q)
        starts.append(np.linalg.cholesky(C)[eng.rows, eng.cols])
    theta, res, fbest = None, None, np.inf
    for x0 in starts:
        cand, r2 = _fit_theta(eng, x0, polish=False)
        fc = eng.profiled(cand)
        if fc < fbest:
            theta, res, fbest = cand, r2, fc
    theta, res = _fit_theta(eng, theta)
    fbest = eng.profiled(theta)
    kkt, restarts = _kkt(eng, theta), len(starts) - 1
    if not kkt < GRAD_TOL:
        rng = np.random.default_rng(0)
        for _ in range(4):
            x0 = theta + rng.normal(0, 0.3, K)
            x0[eng.diag] = np.abs(x0[eng.diag])
            cand, r2 = _fit_theta(eng, x0)
            restarts += 1
            fc, kc = eng.profiled(cand), _kkt(eng, cand)
            if fc < fbest - 1e-9 or (fc <= fbest + 1e-9 and kc < kkt):
                theta, res, fbest, kkt = cand, r2, fc, kc
            if kkt < GRAD_TOL:
                break
    converged = bool(kkt < GRAD_TOL)
    if not converged:
        warnings.warn(
            f"the REML/ML optimum of the random-slopes model could not be confirmed after "
            f"{restarts + 1} optimiser runs: the deviance still changes by {kkt:.2g} per "
            f"unit of theta (needs < {GRAD_TOL:g}). The estimates may be off; rescale the "
            "slope covariates or simplify re_formula.", ConvergenceWarning, stacklevel=3)

    crit = fbest + (n - p if reml else n) * np.log(y_scale ** 2) + (2 * log_sx if reml else 0)
    s, sigma2, sigma, beta, cov, se = _fixed_on_data_scale(eng, theta, T, y_scale, y_shift,
                                                           icpt)

    # Satterthwaite on the standardised scale (df are invariant to it)
    _, df = _satterthwaite(eng, theta, sigma / y_scale, T)
    tq = stats.t.ppf(0.5 + ci / 2, df)
    terms = ["(Intercept)" if t == "Intercept" else t for t in term_labels(Xdf.columns)]
    fixed = pd.DataFrame({"term": terms, "estimate": beta, "std_error": se,
                          "statistic": beta / se, "df": df,
                          "p_value": 2 * stats.t.sf(np.abs(beta / se), df),
                          "ci_low": beta - tq * se, "ci_high": beta + tq * se})

    L = _lower_factor(Az @ eng.lam(theta))
    theta_lme4 = L[eng.rows, eng.cols]
    Sigma = sigma2 * (L @ L.T)
    names = term_labels(Zdf.columns)
    cov_re = pd.DataFrame(Sigma, index=names, columns=names)
    rows = [dict(component=f"{g}: {a}", variance=Sigma[i, i], sd=np.sqrt(Sigma[i, i]))
            for i, a in enumerate(names)]
    rows += [dict(component=f"{g}: {names[i]} x {names[j]}", variance=Sigma[i, j],
                  sd=np.nan) for i in range(q) for j in range(i + 1, q)]
    rows.append(dict(component="Residual", variance=sigma2, sd=sigma))
    boundary = bool(np.any(theta_lme4[eng.diag] < BOUNDARY_TOL))
    if boundary:
        warnings.warn(
            f"boundary (singular) fit: the random-effects covariance for '{g}' is singular "
            "(a variance at zero or a correlation at +/-1, as lme4::isSingular). The data "
            "cannot separate these random effects; compare with a simpler re_formula "
            "(e.g. random intercepts only) before interpreting the variances.",
            BoundaryFitWarning, stacklevel=3)
    return LmmSlopesResult(
        formula=formula, groups=[g], re_formula=re_formula, reml=reml, ci=ci,
        fixed_effects=fixed, variance_components=pd.DataFrame(rows), loglik=-crit / 2,
        nobs=n, n_dropped=int(n_dropped), n_groups={g: ng}, converged=converged,
        boundary=boundary, cov_re=cov_re, theta=theta_lme4,
        optimizer=dict(kkt=float(kkt), restarts=restarts, message=str(res.message)),
        vcov=pd.DataFrame(cov, index=terms, columns=terms))
