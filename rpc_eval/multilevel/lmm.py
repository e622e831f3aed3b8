"""Linear mixed models with nested random intercepts, fitted by profiled (RE)ML.

The model (one or two nested levels, lme4 notation ``y ~ X + (1 | la/parent)``)::

    y = X beta + Z_la b_la + Z_parent b_parent + e,
    b_la ~ N(0, sigma^2 theta_la^2),  b_parent ~ N(0, sigma^2 theta_parent^2),
    e ~ N(0, sigma^2).

For given relative standard deviations ``theta`` (the parametrisation lme4 uses) the
GLS estimate of ``beta`` and ``sigma^2`` have closed forms, so only ``theta`` (one or
two numbers, each bounded below by exactly 0) is optimised (a grid search, then scipy
SLSQP from the best grid point, a Newton polish and a check of the optimality
conditions with restarts, see :func:`_optimise`). The
marginal covariance ``V/sigma^2 = I + theta_p^2 J_parent + theta_la^2 J_la`` is block
diagonal by LA; within an LA it is a block-diagonal matrix of parent blocks plus a
rank-one LA term, so ``V^{-1}`` and ``log|V|`` follow from two nested Sherman-Morrison
steps with group sums only (inner groups pooled by size): each evaluation costs
O((distinct parent sizes + LAs) x p^2) after one O(n p^2) pass over the data, and no
dense per-group matrix is ever formed.

Criteria (as lme4): with ``r^2(theta)`` the penalised weighted residual sum of squares,

* ML:   ``-2 l = log|V*| + n (1 + log(2 pi r^2 / n))``
* REML: ``-2 l_R = log|V*| + log|X' V*^{-1} X| + (n-p) (1 + log(2 pi r^2 / (n-p)))``

and ``.loglik`` is ``-criterion / 2``, which equals ``logLik()`` of the lme4 fit.

Satterthwaite degrees of freedom follow lmerTest (Kuznetsova, Brockhoff & Christensen
2017, J Stat Softw 82(13)): with variance parameters ``phi = (theta, sigma)``,
``A = 2 H^{-1}`` where ``H`` is the Hessian of the unprofiled deviance in ``phi``, and
for coefficient ``k`` with ``v = Var(beta_k)(phi)``, ``df = 2 v^2 / (g' A g)`` where
``g = dv/dphi``. Derivatives are taken numerically (central differences with one
Richardson step; the sigma-derivative of ``Var(beta)`` is exact).

Confidence intervals for the variance components, ICCs and design effects come from a
parametric bootstrap (:meth:`LmmResult.bootstrap`): responses are simulated from the
fitted model and refitted with the same design and groups through the same engine.

Random slopes (one grouping level, ``re_formula=``) are fitted by the profiled (RE)ML
engine of :mod:`rpc_eval.multilevel.slopes` (:class:`LmmSlopesResult`; Satterthwaite
df, singular fits flagged as ``lme4::isSingular``).
Crossed effects and more than two levels are outside this module.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats

from rpc_eval.errors import BoundaryFitWarning, ConvergenceWarning, RpcEvalError
from rpc_eval.multilevel.display import MixedModelResult
from rpc_eval.multilevel.formula import build_design

__all__ = ["fit_lmm", "LmmResult", "LmmSlopesResult", "FIXED_COLUMNS",
           "VARIANCE_COLUMNS", "ICC_COLUMNS", "BLUP_COLUMNS"]

#: Columns of ``fixed_effects`` (t tests with Satterthwaite df).
FIXED_COLUMNS = ["term", "estimate", "std_error", "statistic", "df", "p_value", "ci_low",
                 "ci_high"]
#: Columns of ``variance_components``: ``component`` is the grouping factor of a random
#: effect (lme4's ``grp``), or ``Residual``.
VARIANCE_COLUMNS = ["component", "variance", "sd"]
#: Columns of :meth:`LmmResult.icc` (``ci_low, ci_high, design_effect_ci_low,
#: design_effect_ci_high`` follow when ``n_boot > 0``).
ICC_COLUMNS = ["component", "variance", "icc", "within_correlation", "mean_cluster_size",
               "design_effect"]
#: Columns of :meth:`LmmResult.blups`: conditional modes with their conditional SDs and
#: prediction intervals.
BLUP_COLUMNS = ["component", "level", "estimate", "std_error", "pi_low", "pi_high"]
BOUNDARY_TOL = 1e-4  # on theta (an SD relative to the residual SD): scale-free, as lme4::isSingular


class _Engine:
    """Profiled (RE)ML deviance for nested random intercepts from group sums.

    The inner-level weights depend on a group only through its size, so inner groups
    are pooled by size: with ``U_j`` the sums of ``[X y]`` over inner group ``j``, the
    one pass over the data stores ``S_m = sum_{n_j = m} U_j U_j'`` per distinct size
    and, for two levels, ``A_{g,m} = sum_{j in g, n_j = m} U_j``. An evaluation then
    costs O((sizes + outer groups) p^2), independent of the number of rows and parents.
    """

    def __init__(self, y, X, codes, reml):
        n, p = X.shape
        self.n, self.p, self.reml = n, p, reml
        self.nlev = len(codes)
        W = np.column_stack([X, y])
        self.S0 = W.T @ W
        inner = codes[-1]
        J = int(inner.max()) + 1
        ind = sparse.csr_matrix((np.ones(n), (inner, np.arange(n))), shape=(J, n))
        self.U = np.asarray(ind @ W)  # inner-group sums of [X y]
        self.nj = np.bincount(inner, minlength=J).astype(float)
        self.sizes, self.size_of = np.unique(self.nj, return_inverse=True)
        nsz = len(self.sizes)
        self.count = np.bincount(self.size_of, minlength=nsz).astype(float)
        order = np.argsort(self.size_of, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(self.count.astype(int))])
        self.S = np.empty((nsz, p + 1, p + 1))
        for m in range(nsz):
            Um = self.U[order[bounds[m]:bounds[m + 1]]]
            self.S[m] = Um.T @ Um
        if self.nlev == 2:
            outer_of_inner = np.zeros(J, dtype=np.intp)
            outer_of_inner[inner] = codes[0]
            self.outer_of_inner = outer_of_inner
            G = int(codes[0].max()) + 1
            self.G = G
            self.M = sparse.csr_matrix((np.ones(J), (outer_of_inner, np.arange(J))), shape=(G, J))
            key = outer_of_inner * nsz + self.size_of
            K = sparse.csr_matrix((np.ones(J), (key, np.arange(J))), shape=(G * nsz, J))
            self.A = np.asarray(K @ self.U).reshape(G, nsz, p + 1)
            self.cnt = np.bincount(key, minlength=G * nsz).reshape(G, nsz).astype(float)

    def _split(self, theta):
        theta = np.asarray(theta, dtype=float)
        if self.nlev == 2:
            return theta[1] ** 2, theta[0] ** 2  # t_inner, t_outer
        return theta[0] ** 2, None

    def quad(self, theta):
        """[X y]' V*^{-1} [X y] and log|V*|, V* = V / sigma^2."""
        t_in, t_out = self._split(theta)
        dm = 1.0 / (1.0 + t_in * self.sizes)
        Q = self.S0 - np.tensordot(t_in * dm, self.S, axes=1)
        logdet = -np.sum(self.count * np.log(dm))
        extra = None
        if t_out is not None:
            s = self.cnt @ (self.sizes * dm)
            q = np.tensordot(self.A, dm, axes=([1], [0]))
            c = t_out / (1.0 + t_out * s)
            qc = q * np.sqrt(c)[:, None]
            Q = Q - qc.T @ qc
            logdet += np.sum(np.log1p(t_out * s))
            extra = (s, c)
        return Q, logdet, dm[self.size_of], extra

    def solve(self, theta):
        Q, logdet, d, extra = self.quad(theta)
        p = self.p
        XtVX = Q[:p, :p]
        try:
            L = np.linalg.cholesky(XtVX)
        except np.linalg.LinAlgError:
            return None
        beta = np.linalg.solve(XtVX, Q[:p, p])
        r2 = Q[p, p] - beta @ Q[:p, p]
        logdetX = 2.0 * np.sum(np.log(np.diag(L)))
        return dict(XtVX=XtVX, beta=beta, r2=max(r2, 1e-300), logdet=logdet,
                    logdetX=logdetX, d=d, extra=extra)

    def profiled(self, theta):
        s = self.solve(theta)
        if s is None:
            return np.inf
        n, p = self.n, self.p
        if self.reml:
            k = n - p
            return s["logdet"] + s["logdetX"] + k * (1.0 + np.log(2 * np.pi * s["r2"] / k))
        return s["logdet"] + n * (1.0 + np.log(2 * np.pi * s["r2"] / n))

    def profiled_many(self, thetas):
        """:meth:`profiled` at each row of ``thetas`` (B x k), vectorised (a grid)."""
        thetas = np.asarray(thetas, dtype=float)
        p, n = self.p, self.n
        if self.nlev == 2:
            t_in, t_out = thetas[:, 1] ** 2, thetas[:, 0] ** 2
        else:
            t_in, t_out = thetas[:, 0] ** 2, None
        dm = 1.0 / (1.0 + t_in[:, None] * self.sizes[None, :])          # B x sizes
        Q = self.S0[None] - np.einsum("bm,mij->bij", t_in[:, None] * dm, self.S)
        logdet = -np.sum(self.count[None, :] * np.log(dm), axis=1)
        if t_out is not None:
            sg = (self.sizes[None, :] * dm) @ self.cnt.T                  # B x G
            q = np.einsum("gmi,bm->bgi", self.A, dm)                      # B x G x (p+1)
            c = t_out[:, None] / (1.0 + t_out[:, None] * sg)
            Q = Q - np.einsum("bgi,bg,bgj->bij", q, c, q)
            logdet = logdet + np.sum(np.log1p(t_out[:, None] * sg), axis=1)
        XtVX, Xty = Q[:, :p, :p], Q[:, :p, p]
        out = np.full(len(thetas), np.inf)
        try:
            L = np.linalg.cholesky(XtVX)
        except np.linalg.LinAlgError:
            return np.array([self.profiled(th) for th in thetas])
        beta = np.linalg.solve(XtVX, Xty[..., None])[..., 0]
        r2 = np.maximum(Q[:, p, p] - np.einsum("bi,bi->b", beta, Xty), 1e-300)
        logdetX = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
        if self.reml:
            out = logdet + logdetX + (n - p) * (1.0 + np.log(2 * np.pi * r2 / (n - p)))
        else:
            out = logdet + n * (1.0 + np.log(2 * np.pi * r2 / n))
        return out

    def sigma2(self, s):
        return s["r2"] / (self.n - self.p if self.reml else self.n)

    def deviance_vp(self, varpar):
        """Unprofiled deviance in (theta, sigma), as lmerTest's ``devfun_vp``."""
        theta, sigma = varpar[:-1], varpar[-1]
        s = self.solve(theta)
        s2 = sigma ** 2
        dev = s["logdet"] + s["r2"] / s2 + self.n * np.log(2 * np.pi * s2)
        if self.reml:
            dev += s["logdetX"] - self.p * np.log(2 * np.pi * s2)
        return dev

    def covbeta(self, varpar):
        s = self.solve(varpar[:-1])
        return varpar[-1] ** 2 * np.linalg.inv(s["XtVX"])


def _steps(x):
    return 1e-4 * np.abs(x) + 1e-4 * (np.abs(x) < 1e-6)


def _hessian(f, x):
    """Central-difference Hessian with one Richardson extrapolation step."""
    x = np.asarray(x, dtype=float)
    k = len(x)

    def at(h):
        H = np.empty((k, k))
        f0 = f(x)
        for i in range(k):
            ei = np.zeros(k)
            ei[i] = h[i]
            H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
            for j in range(i):
                ej = np.zeros(k)
                ej[j] = h[j]
                H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                     + f(x - ei - ej)) / (4 * h[i] * h[j])
        return H

    h = _steps(x) * 10
    return (4 * at(h / 2) - at(h)) / 3


def _jacobian(f, x):
    """d f / d x (f returns an array) by central differences with Richardson."""
    x = np.asarray(x, dtype=float)

    def at(h):
        cols = []
        for i in range(len(x)):
            e = np.zeros(len(x))
            e[i] = h[i]
            cols.append((f(x + e) - f(x - e)) / (2 * h[i]))
        return np.stack(cols, axis=-1)

    h = _steps(x) * 10
    return (4 * at(h / 2) - at(h)) / 3



def _standardiser(X, y):
    """``T`` with ``X T`` centred (when there is an intercept) and scaled columns, the
    shift and scale of ``y``, ``sum log sd`` of the scaled columns
    (``log|X' V^-1 X| = log|(XT)' V^-1 (XT)| + 2 sum log sd``) and the index of the
    intercept column (or None)."""
    p = X.shape[1]
    T = np.eye(p)
    ones = np.flatnonzero(np.all(X == 1.0, axis=0))
    icpt = int(ones[0]) if ones.size else None
    log_sx = 0.0
    for j in range(p):
        if j == icpt:
            continue
        m = float(X[:, j].mean()) if icpt is not None else 0.0
        sd = float(np.sqrt(np.mean((X[:, j] - m) ** 2)))
        if not np.isfinite(sd) or sd <= 0:
            continue
        T[j, j] = 1.0 / sd
        if icpt is not None:
            T[icpt, j] = -m / sd
        log_sx += np.log(sd)
    y_shift = float(y.mean()) if icpt is not None else 0.0
    y_scale = float(np.sqrt(np.mean((y - y_shift) ** 2)))
    if not np.isfinite(y_scale) or y_scale <= 0:
        y_scale = 1.0
    return T, y_shift, y_scale, log_sx, icpt


def _box_min(f, x0, bounds, opts):
    """Minimise ``f`` over ``t >= 0`` (SLSQP: for these one- or two-parameter problems
    it needs far less overhead per iteration than L-BFGS-B; the Newton polish and the
    optimality check in :func:`_optimise` follow it)."""
    x0 = np.maximum(np.asarray(x0, dtype=float), 0.0)
    res = optimize.minimize(f, x0, method="SLSQP", bounds=bounds, options=opts)
    if not np.all(np.isfinite(res.x)) or res.fun > f(x0):
        res.x, res.fun = x0, f(x0)
    return res


def _local(eng, k, polish=True, start=None):
    """Minimise the profiled deviance over the variance ratios t = theta^2 >= 0.

    The deviance is even in theta, so its theta-gradient vanishes at 0 and a bounded
    optimiser in theta can stall there; in t the one-sided derivative at 0 is
    informative (negative when the component should leave the boundary).
    """
    def f(t):
        return eng.profiled(np.sqrt(np.clip(t, 0.0, None)))

    opts = dict(ftol=1e-15, maxiter=1000)
    bounds = [(0.0, None)] * k
    best = None
    for x0 in (np.ones(k) if start is None else start,):  # boundary optima: KKT check below
        res = _box_min(f, x0, bounds, opts)
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None  # one start, so one result
    t = np.clip(best.x, 0.0, None)
    for _ in range(3):
        # components that should sit on the boundary (t tiny; scale-free in theta)
        t = np.where(np.sqrt(t) < BOUNDARY_TOL, 0.0, t)
        # KKT check at zeros: a negative one-sided derivative means leave the boundary
        moved = False
        for i in np.flatnonzero(t == 0):
            e = np.zeros(k)
            e[i] = 1e-7
            if (f(t + e) - f(t)) / 1e-7 < -1e-4:
                t2 = t.copy()
                t2[i] = 0.05
                res = _box_min(f, t2, bounds, opts)
                if res.fun < f(t):
                    t, best, moved = np.clip(res.x, 0.0, None), res, True
        free = t > 0
        if free.any() and (~free).any():
            def sub(tf, free=free):
                tt = np.zeros(k)
                tt[free] = tf
                return f(tt)
            res = _box_min(sub, t[free], [(0.0, None)] * int(free.sum()), opts)
            if res.fun <= f(t):
                t[free] = res.x
        if not moved:
            break
    t = np.where(np.sqrt(t) < BOUNDARY_TOL, 0.0, t)
    theta = np.sqrt(t)
    # Newton polish of the interior components (quadratic convergence; k <= 2)
    free = np.flatnonzero(theta > 0)
    for _ in range(8 if polish else 0):
        if free.size == 0:
            break

        def sub(x, free=free):
            th = theta.copy()
            th[free] = x
            return eng.profiled(th)

        x0 = theta[free]
        g = _jacobian(lambda x, sub=sub: np.array(sub(x)), x0)
        H = _hessian(sub, x0)
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if np.any(np.linalg.eigvalsh(H) <= 0) or not np.all(np.isfinite(step)):
            break
        x1 = np.maximum(x0 + step, 0.5 * x0)
        if sub(x1) > sub(x0):
            break
        theta[free] = x1
        if np.max(np.abs(step) / x0) < 1e-9:
            break
    grad = np.zeros(k)
    for i in range(k if polish else 0):
        if theta[i] > 0:
            h = 1e-5 * theta[i]
            e = np.zeros(k)
            e[i] = h
            grad[i] = (eng.profiled(theta + e) - eng.profiled(theta - e)) / (2 * h)
    return theta, best, grad


#: grid of variance ratios t = theta^2 searched for a better start (0 and 1e-6..1e6)
_T_GRID = np.concatenate([[0.0], 10.0 ** np.linspace(-6, 6, 13)])
#: the optimum is confirmed when |d deviance / d theta| of each interior component is
#: below this, and no boundary component wants to leave 0 by more than it
_GRAD_TOL = 1e-3


def _kkt(eng, theta):
    """Largest violation of the optimality conditions at ``theta`` (deviance units):
    |gradient| of interior components, and minus the one-sided derivative (in
    ``theta``, from ``t = theta^2``) of components at 0."""
    k = len(theta)
    f0 = eng.profiled(theta)
    worst = 0.0
    for i in range(k):
        e = np.zeros(k)
        if theta[i] > 0:
            h = 1e-5 * theta[i]
            e[i] = h
            g = (eng.profiled(theta + e) - eng.profiled(np.maximum(theta - e, 0))) / (2 * h)
            worst = max(worst, abs(g))
        else:
            e[i] = 1e-4   # theta step; the deviance is even in theta, so use its slope
            worst = max(worst, -(eng.profiled(theta + e) - f0) / 1e-4)
    return worst


def _optimise(eng, k, polish=True, start=None):
    """Local optimisation checked globally and locally; returns theta, the scipy result,
    the gradient and a dict ``check`` (``kkt``, ``restarts``, ``grid_better``).

    After the local fit (:func:`_local`) the profiled deviance is evaluated on a grid
    of variance ratios (``_T_GRID`` per component); a grid point better than the fit
    restarts the local optimiser there (nested designs can have two local optima).
    The optimality conditions are then checked (:func:`_kkt`); when they fail, the
    optimiser is restarted from a second starting point (ratios 0.1 and 10 times the
    first start) and the best fit is kept.
    """
    if not polish:
        theta, best, grad = _local(eng, k, polish, start)
        return theta, best, grad, dict(kkt=float("nan"), restarts=0)
    mesh = np.stack(np.meshgrid(*([_T_GRID] * k), indexing="ij"), -1).reshape(-1, k)
    vals = eng.profiled_many(np.sqrt(mesh))
    order = np.argsort(vals)
    theta, best, grad = _local(eng, k, polish, mesh[order[0]] if start is None else start)
    fbest = eng.profiled(theta)
    restarts = 0
    # a second basin: the best grid point not next to the first that beats the fit
    step = np.log10(_T_GRID[2] / _T_GRID[1]) * 1.5
    lg = np.log10(np.maximum(mesh, 1e-12))
    for idx in order[1:]:
        if vals[idx] >= fbest - 1e-9:
            break
        if np.max(np.abs(lg[idx] - lg[order[0]])) > step:
            th2, b2, g2 = _local(eng, k, polish, mesh[idx])
            restarts += 1
            f2 = eng.profiled(th2)
            if f2 < fbest:
                theta, best, grad, fbest = th2, b2, g2, f2
            break
    kkt = _kkt(eng, theta)
    if not kkt < _GRAD_TOL:
        t1 = np.maximum(theta ** 2, 1e-3)
        for x0 in (0.1 * t1, 10.0 * t1):
            th2, b2, g2 = _local(eng, k, polish, x0)
            restarts += 1
            f2 = eng.profiled(th2)
            k2 = _kkt(eng, th2)
            if f2 < fbest - 1e-9 or (f2 <= fbest + 1e-9 and k2 < kkt):
                theta, best, grad, fbest, kkt = th2, b2, g2, f2, k2
            if kkt < _GRAD_TOL:
                break
    return theta, best, grad, dict(kkt=float(kkt), restarts=restarts)


def _refit_theta(eng, k, t0):
    """Fast refit for the bootstrap: bounded Brent search in t = theta^2 for one level
    (about 30 evaluations), the general optimiser otherwise or at the search's edge."""
    if k == 1:
        ub = max(50.0 * float(t0[0]), 50.0)
        res = optimize.minimize_scalar(lambda t: eng.profiled(np.sqrt([max(t, 0.0)])),
                                       bounds=(0.0, ub), method="bounded",
                                       options=dict(xatol=1e-9))
        if res.success and res.x < 0.99 * ub:
            t = float(res.x)
            if eng.profiled(np.zeros(1)) <= res.fun:
                t = 0.0
            return np.sqrt([t if np.sqrt(t) >= BOUNDARY_TOL else 0.0])
    theta, _, _, _ = _optimise(eng, k, polish=False, start=t0)
    return theta


@dataclass(repr=False)
class LmmResult(MixedModelResult):
    """A fitted random-intercept linear mixed model (see :func:`fit_lmm`).

    ``repr`` is one line; ``summary()`` gives the fit's facts and its tables
    (:class:`~rpc_eval.results.Summary`); ``to_frame()`` is the fixed-effects table.

    Attributes
    ----------
    fixed_effects : DataFrame
        ``term, estimate, std_error, statistic, df, p_value, ci_low, ci_high``
        (:data:`FIXED_COLUMNS`): Wald t intervals and tests with Satterthwaite df
        (``summary(lmerTest::lmer(...))$coefficients``); ``statistic`` is t. A level of
        a categorical column is labelled ``column[T.level]``.
    variance_components : DataFrame
        ``component, variance, sd`` (:data:`VARIANCE_COLUMNS`); one row per grouping
        factor (outermost first, inner factor named ``inner:outer`` as lme4) and
        ``Residual``.
    loglik : float
        Log REML criterion or log-likelihood, as ``logLik()`` of the lme4 fit.
    reml : bool
    nobs, n_dropped : int
        Observations used; rows dropped for missing values.
    n_groups : dict
        Number of groups per grouping factor.
    theta : ndarray
        Random-effect SDs relative to the residual SD (lme4's ``getME(fit, "theta")``).
    boundary : bool
        A variance component was estimated at (or within 1e-4 relative SD of) zero.
    vcov : DataFrame
        Covariance matrix of the fixed effects.
    vcov_varpar : ndarray
        Asymptotic covariance of ``(theta, sigma)`` (``2 H^{-1}``), used for the df.
    """

    formula: str
    groups: list
    reml: bool
    ci: float
    fixed_effects: pd.DataFrame
    variance_components: pd.DataFrame
    loglik: float
    nobs: int
    n_dropped: int
    n_groups: dict
    theta: np.ndarray
    boundary: bool
    vcov: pd.DataFrame
    vcov_varpar: np.ndarray
    optimizer: dict
    _blups: pd.DataFrame = field(repr=False, default=None)
    _cluster_sizes: dict | None = field(repr=False, default=None)
    _X: np.ndarray | None = field(repr=False, default=None)
    _codes: list | None = field(repr=False, default=None)

    @property
    def npar(self) -> int:
        """Number of estimated parameters (fixed effects, variance components, residual)."""
        return len(self.fixed_effects) + len(self.theta) + 1

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.npar

    def icc(self, ci: float | None = None, *, n_boot: int = 0, seed=None) -> pd.DataFrame:
        """Share of the total variance at each level and the design effect.

        Intervals come from a parametric bootstrap (:meth:`bootstrap`), which refits the
        model ``n_boot`` times: ask for them with ``n_boot`` (e.g. ``n_boot=200``). With
        ``n_boot=0`` (the default) the table has the point estimates only.

        Parameters
        ----------
        ci : float, optional
            Confidence level of the intervals (between 0 and 1); default the fit's
            ``ci`` (0.95). Giving a level with ``n_boot=0`` is refused (there would be
            no interval at that level).
        n_boot : int, default 0
            Bootstrap replicates; 0 for no intervals.
        seed : int or numpy Generator, optional
            Seed of the bootstrap; the same seed gives the same intervals.

        Returns
        -------
        DataFrame
            ``component, variance, icc, within_correlation, mean_cluster_size,
            design_effect`` (:data:`ICC_COLUMNS`). ``icc`` is the level's share of the
            total variance; ``within_correlation`` is the correlation of two
            observations sharing a group at that level (its share plus the shares of the
            levels above); ``design_effect = 1 + (m - 1) * within_correlation`` with
            ``m`` the mean number of observations per group (Kish). The residual row
            carries its share. With ``n_boot > 0`` also ``ci_low, ci_high`` (of
            ``icc``) and ``design_effect_ci_low, design_effect_ci_high``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(1)
        >>> la = np.repeat(np.arange(20), 30)
        >>> d = pd.DataFrame({"la": la, "y": rng.normal(0, 0.5, 20)[la]
        ...                   + rng.normal(size=la.size)})
        >>> fit = fit_lmm(d, "y ~ 1", groups="la")
        >>> list(fit.icc().component)
        ['la', 'Residual']
        >>> fit.icc(ci=0.9, n_boot=49, seed=1).columns[-2:].tolist()
        ['design_effect_ci_low', 'design_effect_ci_high']
        """
        if isinstance(ci, bool):
            raise RpcEvalError(f"icc(ci={ci!r}): ci is the confidence level of the intervals "
                               "(e.g. 0.95), not a switch. Ask for parametric-bootstrap "
                               "intervals with n_boot, e.g. icc(n_boot=200, seed=1); leave "
                               "n_boot=0 for none.")
        if ci is not None and not (isinstance(ci, (int, float, np.number)) and 0 < ci < 1):
            raise RpcEvalError(f"ci is a confidence level between 0 and 1 (e.g. 0.95), got "
                               f"{ci!r}.")
        if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) \
                or n_boot < 0:
            raise RpcEvalError(f"n_boot must be a whole number of bootstrap replicates "
                               f"(0 for no intervals, e.g. 200), got {n_boot!r}.")
        out = self._icc_table()
        if n_boot == 0:
            if ci is not None:
                raise RpcEvalError(
                    f"icc(ci={ci!r}) asks for {ci:.0%} intervals, which come from a "
                    "parametric bootstrap: give the number of replicates too, e.g. "
                    f"icc(ci={ci!r}, n_boot=200, seed=1). Without n_boot the table has "
                    "no intervals.")
            return out
        boot = self.bootstrap(n_boot=n_boot, seed=seed, ci=ci).set_index("quantity")
        out["ci_low"] = [boot.at[f"icc: {g}", "ci_low"] for g in out["component"]]
        out["ci_high"] = [boot.at[f"icc: {g}", "ci_high"] for g in out["component"]]
        de = [f"design_effect: {g}" for g in out["component"]]
        out["design_effect_ci_low"] = [boot.at[q, "ci_low"] if q in boot.index else np.nan
                                       for q in de]
        out["design_effect_ci_high"] = [boot.at[q, "ci_high"] if q in boot.index else np.nan
                                        for q in de]
        return out

    def _icc_table(self, variances=None) -> pd.DataFrame:
        vc = self.variance_components
        assert self._cluster_sizes is not None  # fit_lmm records them
        if variances is not None:
            vc = vc.assign(variance=variances)
        total = vc["variance"].sum()
        rows, above = [], 0.0
        for _, r in vc.iterrows():
            share = r["variance"] / total
            if r["component"] == "Residual":
                rows.append(dict(component="Residual", variance=r["variance"], icc=share,
                                 within_correlation=np.nan, mean_cluster_size=np.nan,
                                 design_effect=np.nan))
                continue
            above += share
            m = self._cluster_sizes[r["component"]]
            rows.append(dict(component=r["component"], variance=r["variance"], icc=share,
                             within_correlation=above, mean_cluster_size=m,
                             design_effect=1 + (m - 1) * above))
        return pd.DataFrame(rows, columns=ICC_COLUMNS)

    def _quantities(self, variances) -> dict:
        """Variances, ICCs and design effects as a flat {name: value} (bootstrap targets)."""
        tab = self._icc_table(variances)
        out = {f"variance: {g}": v
               for g, v in zip(tab["component"], tab["variance"], strict=True)}
        out.update({f"icc: {g}": v for g, v in zip(tab["component"], tab["icc"], strict=True)})
        for g, v in zip(tab["component"], tab["design_effect"], strict=True):
            if g != "Residual":
                out[f"design_effect: {g}"] = v
        return out

    def bootstrap(self, n_boot: int = 200, seed=None, ci: float | None = None) -> pd.DataFrame:
        """Parametric-bootstrap percentile intervals for variances, ICCs and design effects.

        Each replicate simulates ``y* = X beta + sum_l sigma theta_l u_l[group] + sigma e``
        (``u, e`` standard normal, fitted ``beta, theta, sigma``), refits the same model
        (same design, groups and criterion) and recomputes the quantities; the interval
        is the ``(1 - ci)/2`` and ``(1 + ci)/2`` percentiles of the replicates. A
        variance estimated as 0 simulates data without that level, so its interval
        starts at 0 (the percentile interval does not cover the truth well when the true
        variance is at or near 0; the interval is still a useful upper bound).

        Parameters
        ----------
        n_boot : int, default 200
            Number of replicates (lme4's ``confint(method = "boot")`` uses ``nsim = 500``).
        seed : int or numpy Generator, optional
            Random seed (``numpy.random.default_rng``); the same seed gives the same table.
        ci : float, optional
            Interval level; default the fit's ``ci``.

        Returns
        -------
        DataFrame
            ``quantity, estimate, ci_low, ci_high, n_boot, n_failed``; quantities are
            ``variance: <component>`` (and ``variance: Residual``), ``icc: <component>``
            (shares of the total variance, as :meth:`icc`) and
            ``design_effect: <component>``.
            ``n_failed`` counts replicates whose refit failed (left out).

        Notes
        -----
        R equivalent (random, so not reproducible across software)::

            confint(fit, method = "boot", nsim = 200, boot.type = "perc", oldNames = FALSE)

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(1)
        >>> la = np.repeat(np.arange(20), 30)
        >>> d = pd.DataFrame({"la": la, "y": rng.normal(0, 0.5, 20)[la] + rng.normal(size=la.size)})
        >>> tab = fit_lmm(d, "y ~ 1", groups="la").bootstrap(n_boot=49, seed=1)
        >>> list(tab.quantity)
        ['variance: la', 'variance: Residual', 'icc: la', 'icc: Residual', 'design_effect: la']
        """
        level = self.ci if ci is None else ci
        if not 0 < level < 1:
            raise RpcEvalError(f"ci must be between 0 and 1, got {level!r}.")
        n_boot = int(n_boot)
        if n_boot < 1:
            raise RpcEvalError(f"n_boot must be a positive integer, got {n_boot}.")
        if self._X is None or self._codes is None:
            raise RpcEvalError("this result does not keep its design, so it cannot be "
                               "bootstrapped; refit it with fit_lmm.")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        X, codes = self._X, self._codes
        Xs = X @ _standardiser(X, np.zeros(len(X)))[0]  # same column space, well scaled
        beta = self.fixed_effects["estimate"].to_numpy()
        sigma = float(np.sqrt(self.variance_components["variance"].iloc[-1]))
        mu = X @ beta
        k = len(codes)
        est = self._quantities(self.variance_components["variance"].to_numpy())
        t0 = np.maximum(self.theta ** 2, 0.05)  # warm start (off the boundary)
        draws, failed = [], 0
        for _ in range(n_boot):
            ystar = mu + sigma * rng.standard_normal(len(mu))
            for lev in range(k):
                ng = int(codes[lev].max()) + 1
                ystar = ystar + sigma * self.theta[lev] * rng.standard_normal(ng)[codes[lev]]
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    eng = _Engine(ystar, Xs, codes, self.reml)
                    theta = _refit_theta(eng, k, t0)
                    s = eng.solve(theta)
                    s2 = eng.sigma2(s)
                v = np.append(s2 * theta ** 2, s2)
                if not np.all(np.isfinite(v)):
                    raise FloatingPointError
            except (FloatingPointError, TypeError, np.linalg.LinAlgError, ValueError):
                failed += 1
                continue
            draws.append(list(self._quantities(v).values()))
        names = list(est)
        a = (1 - level) / 2
        if draws:
            arr = np.asarray(draws)
            lo, hi = np.quantile(arr, [a, 1 - a], axis=0)
        else:
            lo = hi = np.full(len(names), np.nan)
        return pd.DataFrame({"quantity": names, "estimate": [est[q] for q in names],
                             "ci_low": lo, "ci_high": hi, "n_boot": n_boot,
                             "n_failed": failed})

    def blups(self, component: str | None = None) -> pd.DataFrame:
        """Conditional modes of the random intercepts and their conditional SDs.

        As ``ranef(fit, condVar = TRUE)``: ``std_error`` is the SD of the random effect
        given the data at the estimated ``beta``, ``theta`` and ``sigma`` (the
        uncertainty of the estimated fixed effects is not included, as in lme4);
        ``pi_low, pi_high`` are ``estimate -/+ z * std_error`` at the fit's ``ci``
        level.

        Parameters
        ----------
        component : str, optional
            Grouping factor (``"la_code"``, or ``"parent_id:la_code"``), as in the
            ``component`` column of ``variance_components``; default the outermost
            (the LA).

        Returns
        -------
        DataFrame
            ``component, level, estimate, std_error, pi_low, pi_high``
            (:data:`BLUP_COLUMNS`).
        """
        if component is None:
            component = self.variance_components["component"].iloc[0]
        out = self._blups[self._blups["component"] == component]
        if out.empty:
            raise RpcEvalError(f"no grouping factor {component!r}; the model has "
                               f"{list(self.n_groups)}.")
        return out.reset_index(drop=True)

    def lr_test(self, other: LmmResult) -> pd.DataFrame:
        """Likelihood-ratio test between two nested models fitted by ML (``reml=False``).

        Returns a table with one row per model (smaller first): ``model, npar, loglik,
        deviance, chisq, df, p_value`` (as ``anova(m0, m1)`` in R). When the models differ by a
        variance component the chi-squared p-value is conservative (the null value lies
        on the boundary; halving it is the usual correction for one component).
        """
        if not isinstance(other, LmmResult):
            raise RpcEvalError("lr_test needs another LmmResult.")
        if self.reml or other.reml:
            raise RpcEvalError("Likelihood-ratio tests need fits by maximum likelihood: refit "
                               "both models with reml=False (REML criteria of models with "
                               "different fixed effects are not comparable).")
        if self.nobs != other.nobs:
            raise RpcEvalError(f"the models were fitted to different rows ({self.nobs} vs "
                               f"{other.nobs}); fit both to the same data.")
        small, big = sorted([self, other], key=lambda r: r.npar)
        if small.npar == big.npar:
            raise RpcEvalError("the models have the same number of parameters, so they are "
                               "not nested.")
        chisq = max(2 * (big.loglik - small.loglik), 0.0)
        df = big.npar - small.npar
        return pd.DataFrame({
            "model": [small._label(), big._label()],
            "npar": [small.npar, big.npar],
            "loglik": [small.loglik, big.loglik],
            "deviance": [-2 * small.loglik, -2 * big.loglik],
            "chisq": [np.nan, chisq],
            "df": [np.nan, df],
            "p_value": [np.nan, stats.chi2.sf(chisq, df)],
        })

    def _label(self) -> str:
        re = "/".join(self.groups)
        return f"{self.formula} + (1 | {re})"

    # -- display (summary(), repr and the HTML view come from rpc_eval.results.Result)
    def _title(self) -> str:
        crit = "REML" if self.reml else "ML"
        return f"Linear mixed model fit by {crit} (Satterthwaite t tests)"

    def _facts(self) -> list[tuple[str, Any]]:
        return _lmm_facts(self)

    def _notes(self) -> list[str]:
        notes = self._fit_notes()
        if self.boundary:
            notes.append("Boundary (singular) fit: a variance component is estimated as "
                         "zero.")
        return notes


def _lmm_facts(res) -> list[tuple[str, Any]]:
    """Header facts shared by the random-intercept and random-slopes results."""
    return [("Observations", res.nobs),
            ("Groups", ", ".join(f"{k} {v}" for k, v in res.n_groups.items())),
            ("Formula", res._label()),
            ("REML criterion (logLik)" if res.reml else "Log-likelihood", res.loglik)]


@dataclass(repr=False)
class LmmSlopesResult(MixedModelResult):
    """A linear mixed model with correlated random intercepts and slopes for one grouping
    factor (see ``fit_lmm(..., re_formula=...)`` and :mod:`rpc_eval.multilevel.slopes`).

    Attributes
    ----------
    fixed_effects : DataFrame
        ``term, estimate, std_error, statistic, df, p_value, ci_low, ci_high``
        (:data:`FIXED_COLUMNS`): Wald t intervals and tests with Satterthwaite df
        (``summary(lmerTest::lmer(...))$coefficients``).
    variance_components : DataFrame
        ``component, variance, sd``: one row per random effect (``la: Intercept``,
        ``la: wave``), one per covariance (``la: Intercept x wave``; ``sd`` NaN,
        ``variance`` is the covariance) and ``Residual``.
    loglik : float
        REML criterion or log-likelihood (``logLik()`` of the lme4 fit).
    converged : bool
        The optimum was confirmed (gradient and bounds check, with restarts).
    boundary : bool
        Singular fit, as ``lme4::isSingular``: a diagonal element of the relative
        Cholesky factor below 1e-4 (a variance at 0 or a correlation at +/-1).
    cov_re : DataFrame
        Random-effects covariance matrix.
    theta : ndarray
        Lower triangle of the relative Cholesky factor, column by column (lme4's
        ``getME(fit, "theta")``).
    optimizer : dict
        ``kkt`` (largest violation of the optimality conditions), ``restarts``,
        ``message``.
    vcov : DataFrame
        Covariance matrix of the fixed effects.
    """

    formula: str
    groups: list
    re_formula: str
    reml: bool
    ci: float
    fixed_effects: pd.DataFrame
    variance_components: pd.DataFrame
    loglik: float
    nobs: int
    n_dropped: int
    n_groups: dict
    converged: bool
    boundary: bool
    cov_re: pd.DataFrame
    theta: np.ndarray | None = None
    optimizer: dict = field(default_factory=dict)
    vcov: pd.DataFrame = None

    def correlations(self) -> pd.DataFrame:
        """Correlations of the random effects (``attr(VarCorr(fit)$la, "correlation")``)."""
        sd = np.sqrt(np.diag(self.cov_re.to_numpy()))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = self.cov_re.to_numpy() / np.outer(sd, sd)
        return pd.DataFrame(r, index=self.cov_re.index, columns=self.cov_re.columns)

    def _label(self) -> str:
        return f"{self.formula} + ({self.re_formula.lstrip('~ ').strip()} | {self.groups[0]})"

    def icc(self, ci: float | None = None, *, n_boot: int = 0, seed=None) -> pd.DataFrame:
        """Not defined with random slopes (same signature as :meth:`LmmResult.icc`):
        raises :class:`~rpc_eval.errors.RpcEvalError` saying why."""
        raise RpcEvalError("with random slopes the share of variance between groups depends "
                           "on the covariate, so no single ICC exists; fit a random-intercept "
                           "model (re_formula=None) for ICCs.")

    def bootstrap(self, n_boot: int = 200, seed=None, ci: float | None = None) -> pd.DataFrame:
        """Not available with random slopes (same signature as
        :meth:`LmmResult.bootstrap`): raises :class:`~rpc_eval.errors.RpcEvalError`."""
        raise RpcEvalError("bootstrap intervals are available for random-intercept fits "
                           "(re_formula=None) only.")

    # -- display (summary(), repr and the HTML view come from rpc_eval.results.Result)
    def _title(self) -> str:
        crit = "REML" if self.reml else "ML"
        return f"Linear mixed model with random slopes fit by {crit} (Satterthwaite t tests)"

    def _facts(self) -> list[tuple[str, Any]]:
        return _lmm_facts(self)

    def _notes(self) -> list[str]:
        notes = self._fit_notes()
        if self.boundary:
            notes.append("Boundary (singular) fit: the random-effects covariance is singular "
                         "(a variance at zero or a correlation at +/-1).")
        return notes



def _satterthwaite(eng, theta, sig_s, T):
    """Satterthwaite degrees of freedom of each fixed effect (lmerTest), computed on the
    standardised scale (the df are invariant to it): ``A = 2 H^-1`` in the variance
    parameters ``(theta, sigma)``, the gradient of each ``var(beta_j)`` in them, and
    ``df_j = 2 var(beta_j)^2 / (g' A g)``. Returns ``(A, df)``."""
    H = _hessian(eng.deviance_vp, np.append(theta, sig_s))
    try:
        A = 2 * np.linalg.inv(H)
    except np.linalg.LinAlgError:
        A = 2 * np.linalg.pinv(H)

    def vbeta(th):
        return np.diag(T @ eng.covbeta(np.append(th, sig_s)) @ T.T)

    v_s = vbeta(theta)
    jac = np.column_stack([_jacobian(vbeta, theta), 2 * v_s / sig_s])
    denom = np.einsum("ik,kl,il->i", jac, A, jac)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(denom > 0, 2 * v_s ** 2 / denom, np.inf)
    return A, df


def _fixed_on_data_scale(eng, theta, T, y_scale, y_shift, icpt):
    """Solve at ``theta`` on the standardised scale and map back to the data's scale:
    the solution ``s``, residual variance and SD, fixed effects, their covariance and
    standard errors (``beta = y_scale * T @ beta_s`` plus the outcome's shift on the
    intercept; ``cov = sigma2 * T (X'V^-1 X)^-1 T'``)."""
    s = eng.solve(theta)
    sigma2 = eng.sigma2(s) * y_scale ** 2
    sigma = np.sqrt(sigma2)
    beta = y_scale * (T @ s["beta"])
    if y_shift:
        beta[icpt] += y_shift
    cov = sigma2 * (T @ np.linalg.inv(s["XtVX"]) @ T.T)
    return s, sigma2, sigma, beta, cov, np.sqrt(np.diag(cov))

def fit_lmm(data: pd.DataFrame, formula: str, groups, reml: bool = True,
            ci: float = 0.95, re_formula: str | None = None):
    """Fit a linear mixed model with one or two levels of nested random intercepts.

    Parameters
    ----------
    data : DataFrame
        Long data, one row per observation.
    formula : str
        Fixed effects, patsy syntax (``"score ~ wave * intervention + x"``); strings and
        categoricals become treatment contrasts as in R.
    groups : str or list of two str
        ``"la_code"`` for ``(1 | la_code)``; ``["la_code", "parent_id"]`` for
        ``(1 | la_code/parent_id)`` (inner nested in outer; an inner label repeated
        under two outer groups is two groups).
    reml : bool, default True
        REML (default, as lmer) or maximum likelihood (for likelihood-ratio tests).
    ci : float, default 0.95
        Level of the confidence intervals of the fixed effects and of the BLUP
        prediction intervals.
    re_formula : str, optional
        Random-effects formula for one grouping factor, e.g. ``"~wave"`` for
        ``(1 + wave | la_code)`` (random intercepts and slopes, correlated), fitted by
        profiled (RE)ML (:mod:`rpc_eval.multilevel.slopes`); returns an
        :class:`LmmSlopesResult` (Satterthwaite t tests, ``.correlations()``,
        ``.boundary`` for a singular fit). Nested groups with ``re_formula`` raise
        :class:`~rpc_eval.errors.RpcEvalError`.

    Returns
    -------
    LmmResult or LmmSlopesResult
        ``.fixed_effects`` (``term, estimate, std_error, statistic, df, p_value,
        ci_low, ci_high``; a level of a categorical column is ``column[T.level]``, also
        when the formula wraps it in ``C(...)``), ``.variance_components``
        (``component, variance, sd``), ``.loglik``, ``.summary()``, and for random
        intercepts only ``.icc()``, ``.bootstrap()``, ``.blups()``, ``.lr_test()``.

    Warns
    -----
    BoundaryFitWarning
        A random-effect SD is estimated below 1e-4 of the residual SD (a singular fit,
        as ``lme4::isSingular``). It is reported as exactly 0 and the fixed effects are
        the GLS estimates under the remaining components (not zeroed).
    ConvergenceWarning
        The optimum could not be confirmed: after a grid start, a Newton polish and
        restarts from a second starting point, an interior variance component still
        has a deviance gradient of 1e-3 or more, or a component at 0 would still
        lower the deviance by leaving it (the numbers are in the message and in
        ``.optimizer``: ``kkt``, ``restarts``, ``confirmed``).
    DataQualityWarning
        Rows with missing values were dropped (count in ``n_dropped``).

    Notes
    -----
    Model and criteria: see the module docstring. Estimates, SEs, variance components
    and logLik match ``lmerTest::lmer`` to about 1e-5 relative or better; Satterthwaite
    df to about 1e-4 (lmerTest and this function both differentiate numerically). On
    large data lme4's optimiser can stop slightly short of the optimum; this function's
    profiled criterion is then a little higher than lme4's.

    R equivalent::

        lmerTest::lmer(y ~ wave * arm + x + (1 | la/parent), data = d, REML = TRUE)

    References
    ----------
    Bates D, Maechler M, Bolker B, Walker S (2015). Fitting linear mixed-effects models
    using lme4. J Stat Softw 67(1). Kuznetsova A, Brockhoff PB, Christensen RHB (2017).
    lmerTest package: tests in linear mixed effects models. J Stat Softw 82(13).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> la = np.repeat(np.arange(20), 30)
    >>> d = pd.DataFrame({"la": la, "arm": rng.integers(0, 2, la.size)})
    >>> d["y"] = 1 + 0.5 * d.arm + rng.normal(0, 0.5, 20)[la] + rng.normal(size=la.size)
    >>> fit = fit_lmm(d, "y ~ arm", groups="la")
    >>> list(fit.fixed_effects.columns)
    ['term', 'estimate', 'std_error', 'statistic', 'df', 'p_value', 'ci_low', 'ci_high']
    >>> list(fit.variance_components.component)
    ['la', 'Residual']
    """
    if not 0 < ci < 1:
        raise RpcEvalError(f"ci must be between 0 and 1, got {ci!r}.")
    if re_formula is not None:
        from rpc_eval.multilevel.slopes import fit_slopes

        return fit_slopes(data, formula, groups, reml, ci, re_formula)
    des = build_design(data, formula, groups)
    y, X = des.y, des.X
    n, p = X.shape
    if n == 0:
        raise RpcEvalError("no complete rows: every row has a missing value in the model.")
    if np.ptp(y) == 0:
        raise RpcEvalError(f"the outcome '{des.response}' is constant ({y[0]:g}) in all {n} "
                           "rows used, so there is no variation to model.")
    xtx = X.T @ X
    sc = np.sqrt(np.clip(np.diag(xtx), 1e-300, None))
    eig = np.linalg.eigvalsh(xtx / np.outer(sc, sc))
    rank = int(np.sum(eig > eig.max() * 1e-10))
    if rank < p:
        raise RpcEvalError(
            f"the fixed-effects design is rank deficient ({rank} of {p} columns are "
            "independent): some terms are collinear or a factor combination is empty. "
            f"Terms: {des.terms}. Remove or merge the redundant terms.")
    n_groups = {}
    for name, codes in zip(des.group_names, des.codes, strict=True):
        ng = int(codes.max()) + 1
        n_groups[name] = ng
        if ng < 2:
            raise RpcEvalError(f"'{name}' has only {ng} group in the data used; a random "
                               "intercept needs at least 2 groups (and in practice many "
                               "more). Drop the random effect or use a fixed effect.")
        if ng >= n:
            raise RpcEvalError(f"'{name}' has {ng} groups for {n} observations: each "
                               "group has one observation, so its variance cannot be "
                               "separated from the residual. Drop this level.")
    if n <= p:
        raise RpcEvalError(f"{n} observations for {p} fixed effects: too few.")

    # the engine works on standardised columns (x - mean) / sd and (y - mean) / sd: its
    # sums of squares then keep their precision however the data are scaled (a
    # covariate of 1e4 +- 1 otherwise loses every digit of X' V^-1 X to cancellation).
    # theta is unchanged; beta, its covariance and the criterion are mapped back.
    T, y_shift, y_scale, log_sx, icpt = _standardiser(X, y)
    Xs = X @ T
    ys = (y - y_shift) / y_scale
    eng = _Engine(ys, Xs, des.codes, reml)
    k = len(des.codes)
    theta, best, grad, check = _optimise(eng, k)
    small = theta == 0
    crit = eng.profiled(theta) + (n - p if reml else n) * np.log(y_scale ** 2)
    if reml:
        crit += 2 * log_sx
    if not check["kkt"] < _GRAD_TOL:
        warnings.warn(
            "the REML/ML optimum could not be confirmed: after "
            f"{check['restarts'] + 1} optimiser run(s) the deviance still changes by "
            f"{check['kkt']:.2g} per unit of a relative SD (needs < {_GRAD_TOL:g}); the "
            "log-likelihood may be below its maximum and the variances off. Rescale "
            "continuous covariates, simplify the model or check the groups.",
            ConvergenceWarning, stacklevel=2)

    s, sigma2, sigma, beta, cov, se = _fixed_on_data_scale(eng, theta, T, y_scale, y_shift,
                                                           icpt)

    # Satterthwaite (lmerTest): A = 2 H^{-1} in varpar = (theta, sigma), computed on the
    # standardised scale (the df are invariant to it) and mapped back for vcov_varpar
    A, df = _satterthwaite(eng, theta, sigma / y_scale, T)
    J = np.ones(k + 1)
    J[-1] = y_scale
    A = A * np.outer(J, J)
    tq = stats.t.ppf(0.5 + ci / 2, df)
    tval = beta / se
    fixed = pd.DataFrame({"term": des.terms, "estimate": beta, "std_error": se,
                          "statistic": tval, "df": df,
                          "p_value": 2 * stats.t.sf(np.abs(tval), df),
                          "ci_low": beta - tq * se, "ci_high": beta + tq * se})

    variances = sigma2 * theta ** 2
    vc = pd.DataFrame({"component": des.group_names + ["Residual"],
                       "variance": np.append(variances, sigma2)})
    vc["sd"] = np.sqrt(vc["variance"])

    boundary = bool(small.any())
    if boundary:
        names = [des.group_names[i] for i in np.flatnonzero(small)]
        warnings.warn(
            f"boundary (singular) fit: the variance between {' and '.join(names)} is "
            "estimated as zero (its SD is below 1e-4 of the residual SD). The data show no "
            "detectable variation at that level; the fixed effects are still estimated, but "
            "consider dropping that random effect or reporting it as zero.",
            BoundaryFitWarning, stacklevel=2)

    # BLUPs (conditional modes) and conditional SDs
    z = stats.norm.ppf(0.5 + ci / 2)
    Rj = y_scale * (eng.U[:, p] - eng.U[:, :p] @ s["beta"])
    d = s["d"]
    nj = eng.nj
    blup_frames = []
    if k == 2:
        t_out, t_in = theta[0] ** 2, theta[1] ** 2
        s_g, c_g = s["extra"]
        q = eng.M @ (Rj * d)
        b_out = t_out * q / (1 + t_out * s_g)
        v_out = sigma2 * t_out / (1 + t_out * s_g)
        cj = c_g[eng.outer_of_inner]
        b_in = t_in * (Rj * d - cj * nj * d * q[eng.outer_of_inner])
        v_in = sigma2 * (t_in - t_in ** 2 * (nj * d - cj * (nj * d) ** 2))
        parts = [(b_out, v_out), (b_in, v_in)]
    else:
        t = theta[0] ** 2
        parts = [(t * Rj * d, sigma2 * t * d)]
    for name, labels, (b, v) in zip(des.group_names, des.labels, parts, strict=True):
        sd = np.sqrt(np.clip(v, 0, None))
        blup_frames.append(pd.DataFrame({"component": name, "level": labels, "estimate": b,
                                         "std_error": sd, "pi_low": b - z * sd,
                                         "pi_high": b + z * sd}))
    sizes = {name: n / n_groups[name] for name in des.group_names}

    return LmmResult(
        formula=formula, groups=list([groups] if isinstance(groups, str) else groups),
        reml=reml, ci=ci, fixed_effects=fixed, variance_components=vc,
        loglik=-crit / 2, nobs=n, n_dropped=des.n_dropped, n_groups=n_groups, theta=theta,
        boundary=boundary, vcov=pd.DataFrame(cov, index=des.terms, columns=des.terms),
        vcov_varpar=A, optimizer=dict(success=bool(best.success), message=str(best.message),
                                      nfev=int(best.nfev), gradient=grad.tolist(),
                                      kkt=check["kkt"], restarts=check["restarts"],
                                      confirmed=bool(check["kkt"] < _GRAD_TOL)),
        _blups=pd.concat(blup_frames, ignore_index=True), _cluster_sizes=sizes,
        _X=X, _codes=des.codes)
