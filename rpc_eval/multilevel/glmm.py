"""Random-intercept generalised linear mixed models (binomial logit, Poisson log) by ML.

One grouping factor by adaptive quadrature (below); two nested ones by the Laplace
approximation (see the end of this docstring).

The model, for unit ``j`` in group (local authority) ``i``::

    g(E[y_ij | b_i]) = x_ij' beta + b_i,      b_i ~ N(0, sigma^2)

with ``g`` the logit (binomial: 0/1 outcomes, or counts of successes out of ``trials``)
or the log (Poisson counts). The marginal likelihood of group ``i`` is
``L_i = int prod_j f(y_ij | u) phi(u) du`` with ``b_i = sigma u``. It is approximated by
*adaptive* Gauss-Hermite quadrature as in lme4's ``glmer(nAGQ = n)``: the n nodes of
the probabilists' rule are centred at the group's conditional mode ``u0`` and scaled by
``s = (1 + sigma^2 sum_j w_ij)^(-1/2)`` (the inverse square root of the curvature of
the log joint density at the mode; ``w = m mu (1 - mu)`` binomial, ``w = mu``
Poisson)::

    L_i ~= s sum_k w_k f(u0 + s z_k) phi(u0 + s z_k) / phi(z_k)

``n_agq = 1`` is the Laplace approximation. The conditional modes of all groups are
found together by vectorised Newton steps (``numpy.bincount`` sums by group), each
halved until the group's penalised log density rises, with a per-group convergence
check on the Newton decrement (a fixed clip of the step can fall into a 2-cycle and
centre the quadrature on the wrong point). The log-likelihood is maximised over
``(beta, log sigma)`` by L-BFGS with its exact analytic gradient (the mode and
curvature are differentiated implicitly), then polished by Newton steps on a
finite-difference Hessian of that gradient; the optimum is verified (modes converged,
gradient, Hessian) and the optimiser restarted from a second start when the check
fails. Standard errors come from the inverse of that Hessian of the marginal
log-likelihood (the beta block, so the uncertainty in sigma is accounted for) - what
``vcov()`` of a glmer fit reports by default (``use.hessian = TRUE``), where lme4 takes
the Hessian by finite differences of the deviance over ``(theta, beta)``.
``vcov(fit, use.hessian = FALSE)`` (from RX, the information of beta with theta fixed)
is 0.3-1% smaller on the reference data.

``loglik`` is the full log-likelihood (with the binomial coefficients or ``log y!``),
as glmer's ``logLik()`` with ``nAGQ = 1``; with ``nAGQ > 1`` and counts, glmer's
``logLik()`` is instead relative to the saturated model.

Reference: Pinheiro J.C. & Bates D.M. (1995) Approximations to the log-likelihood
function in the nonlinear mixed-effects model. J. Comput. Graph. Stat. 4, 12-35;
Bates D. et al. (2015) Fitting linear mixed-effects models using lme4. J. Stat. Softw.
67(1).

Nested random intercepts (``groups=[outer, inner]``, lme4's ``(1 | outer/inner)``) are
fitted by the Laplace approximation in :mod:`rpc_eval.multilevel.glmm_nested`.

R equivalent: ``lme4::glmer(y ~ x + arm + (1 | la), family = binomial, nAGQ = 10)``;
``glmer(cbind(y, n - y) ~ ...)`` for counts; ``family = poisson`` for Poisson;
``glmer(y ~ x + (1 | la/practitioner), family = binomial)`` for nested groups.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from rpc_eval.errors import (
    BoundaryFitWarning,
    ConvergenceWarning,
    DataQualityWarning,
    RpcEvalError,
)
from rpc_eval.multilevel.display import MixedModelResult
from rpc_eval.multilevel.formula import complete_rows, formula_columns, term_labels
from rpc_eval.multilevel.glmm_nested import NestedLaplace, fit_nested
from rpc_eval.multilevel.glmm_separation import (
    GlmmSeparation,
    categorical_blocks,
    find_separation,
    warn_glmm_separation,
)

__all__ = ["fit_glmm", "GlmmResult", "GLMM_FIXED_COLUMNS"]

#: Columns of :attr:`GlmmResult.fixed_effects` (Wald z tests, so no ``df``).
GLMM_FIXED_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                      "ci_high"]

#: sigma below this (log-odds scale) is reported as a variance on the boundary, as
#: lme4's ``isSingular(tol = 1e-4)`` does for theta.
BOUNDARY_SD = 1e-4
_LOG_SIGMA_BOUNDS = (np.log(1e-7), np.log(50.0))


def _ghq(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes, weights summing to 1, and log phi(z)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    return z, w, stats.norm.logpdf(z)


class _Family:
    """Binomial (logit link, ``m`` trials per row) or Poisson (log link) pieces.

    With ``eta`` the linear predictor, the log density of a row is
    ``y eta - m b(eta) + c(y)``; ``mean`` is ``b'(eta)`` (the mean per trial) and
    ``weights`` gives ``m b''`` and ``m b'''`` (the working weight and its derivative,
    used by the implicit gradient).
    """

    def __init__(self, name: str, y: np.ndarray, m: np.ndarray):
        self.name, self.y, self.m = name, y, m
        if name == "binomial":
            self.const = float(np.sum(special.gammaln(m + 1) - special.gammaln(y + 1)
                                      - special.gammaln(m - y + 1)))
        else:
            self.const = float(-np.sum(special.gammaln(y + 1)))

    def mean(self, eta):
        if self.name == "binomial":
            return special.expit(eta)
        return np.exp(np.minimum(eta, 700.0))

    def logf(self, eta):
        """``y eta - m b(eta)`` (without the constant ``c(y)``)."""
        if self.name == "binomial":
            return self.y * eta - self.m * (np.maximum(eta, 0.0)
                                            + np.log1p(np.exp(-np.abs(eta))))
        return self.y * eta - np.exp(np.minimum(eta, 700.0))

    def logf_mean(self, eta):
        """``logf(eta)`` and ``mean(eta)`` sharing one exponential (the node terms)."""
        if self.name == "binomial":
            e = np.exp(-np.abs(eta))
            inv = 1.0 / (1.0 + e)
            lf = self.y * eta - self.m * (np.maximum(eta, 0.0) + np.log1p(e))
            return lf, np.where(eta >= 0, inv, e * inv)
        mu = np.exp(np.minimum(eta, 700.0))
        return self.y * eta - mu, mu

    def weights(self, mu):
        """``m b''`` and ``m b'''`` at the mean ``mu``."""
        if self.name == "binomial":
            w0 = self.m * mu * (1 - mu)
            return w0, w0 * (1 - 2 * mu)
        return mu, mu

    def resid(self, mu):
        return self.y - self.m * mu


class _Problem:
    """Data and the AGQ marginal log-likelihood with its gradient."""

    #: per-group convergence of the conditional modes: Newton decrement
    #: ``h'(u)^2 / -h''(u)`` (the predicted gain of the next step) below this
    MODE_TOL = 1e-20

    def __init__(self, X: np.ndarray, y: np.ndarray, g: np.ndarray, n_groups: int,
                 n_agq: int, family: _Family):
        self.X, self.y, self.g, self.G = X, y, g, n_groups
        self.fam = family
        self.z, self.w, self.ldn = _ghq(n_agq)
        self.u0 = np.zeros(n_groups)
        self.n_groups_size = np.bincount(g, minlength=n_groups)
        self.mode_failures = 0          # evaluations whose modes did not converge
        self.last_modes_ok = True
        self.last_decrement = 0.0

    def _gsum(self, v: np.ndarray) -> np.ndarray:
        return np.bincount(self.g, weights=v, minlength=self.G)

    def _gsum_cols(self, M: np.ndarray) -> np.ndarray:
        """Group sums of each column of M (n x p) -> (G x p)."""
        return np.column_stack([self._gsum(M[:, j]) for j in range(M.shape[1])])

    def _h(self, xb: np.ndarray, sigma: float, u: np.ndarray) -> np.ndarray:
        """Penalised log joint density of each group, ``sum_j log f - u^2 / 2``."""
        return self._gsum(self.fam.logf(xb + sigma * u[self.g])) - 0.5 * u**2

    def modes(self, xb: np.ndarray, sigma: float, max_iter: int = 200):
        """Conditional modes u0 of all groups by safeguarded Newton, with mu there.

        Each group's ``h(u) = sum_j log f(y_j | u) - u^2 / 2`` is strictly concave, so
        the Newton direction ``h'(u) / -h''(u)`` always points uphill; a step is halved
        (per group) until ``h`` does not decrease, so the iteration cannot cycle (a
        fixed clip of the step can: it then settles into a 2-cycle around the mode).
        A group has converged when its Newton decrement ``h'^2 / -h''`` is below
        ``MODE_TOL``. Starts from the previous call's modes, or from 0 for a group
        where 0 is better. ``last_modes_ok`` records whether every group converged.
        """
        g, fam = self.g, self.fam
        u = self.u0.copy()
        h = self._h(xb, sigma, u)
        h0 = self._h(xb, sigma, np.zeros_like(u))
        better = h0 > h
        u[better], h[better] = 0.0, h0[better]
        done = np.zeros(self.G, dtype=bool)
        dec = np.full(self.G, np.inf)
        for _ in range(max_iter):
            mu = fam.mean(xb + sigma * u[g])
            w0, _ = fam.weights(mu)
            grad = sigma * self._gsum(fam.resid(mu)) - u
            curv = sigma**2 * self._gsum(w0) + 1.0
            dec = grad**2 / curv
            done = dec < self.MODE_TOL
            if done.all():
                break
            step = np.where(done, 0.0, grad / curv)
            t = np.ones(self.G)
            active = ~done
            for _half in range(60):
                cand = u + t * step
                hc = self._h(xb, sigma, cand)
                ok = ~active | (hc >= h - 1e-13 * (1.0 + np.abs(h)))
                if ok.all():
                    break
                t = np.where(ok, t, 0.5 * t)
            moved = active & ok
            u = np.where(moved, cand, u)
            h = np.where(moved, hc, h)
            # a step too small to change u (rounding) ends that group's iteration
            tiny = active & (np.abs(t * step) <= 1e-14 * (1.0 + np.abs(u)))
            if tiny.any():
                done = done | tiny
                dec = np.where(tiny, 0.0, dec)
                if done.all():
                    break
        self.last_modes_ok = bool(done.all())
        self.last_decrement = float(np.max(dec)) if dec.size else 0.0
        if not self.last_modes_ok:
            self.mode_failures += 1
        self.u0 = u
        mu = fam.mean(xb + sigma * u[g])
        return u, mu

    def loglik(self, theta: np.ndarray, gradient: bool = True):
        """Marginal log-likelihood (and gradient) at theta = (beta, log sigma)."""
        X, g, fam = self.X, self.g, self.fam
        beta, tau = theta[:-1], theta[-1]
        sigma = np.exp(tau)
        xb = X @ beta
        u0, mu0 = self.modes(xb, sigma)
        w0, w1 = fam.weights(mu0)
        H = sigma**2 * self._gsum(w0) + 1.0  # -h''(u0)
        s = 1.0 / np.sqrt(H)
        # log integrand at each node: h(u) - ldnorm(z) + log w, with
        # h(u) = sum_j log f(y|u) + log phi(u)
        K = self.z.size
        U = u0[None, :] + s[None, :] * self.z[:, None]  # K x G
        eta = xb[None, :] + sigma * U[:, g]  # K x n
        if gradient:
            lf, mean_k = fam.logf_mean(eta)
        else:
            lf = fam.logf(eta)
        hk = np.vstack([self._gsum(lf[k]) for k in range(K)]) + stats.norm.logpdf(U)
        a = hk - self.ldn[:, None] + np.log(self.w)[:, None]
        lse = special.logsumexp(a, axis=0)
        ll_i = np.log(s) + lse
        ll = ll_i.sum() + fam.const
        if not gradient:
            return ll, ll_i
        pik = np.exp(a - lse[None, :])  # K x G softmax weights
        r = fam.resid(mu0)
        # implicit derivatives of the mode: h'(u0) = sigma S - u0 = 0
        d_hp_beta = -sigma * self._gsum_cols(w0[:, None] * X)  # G x p
        d_hp_tau = sigma * self._gsum(r) - sigma**2 * u0 * self._gsum(w0)
        du_beta = d_hp_beta / H[:, None]
        du_tau = d_hp_tau / H
        # derivative of h'' = -sigma^2 sum w - 1
        hppp = -sigma**3 * self._gsum(w1)
        d_hpp_beta = -sigma**2 * self._gsum_cols(w1[:, None] * X) + hppp[:, None] * du_beta
        d_hpp_tau = (-2 * sigma**2 * self._gsum(w0)
                     - sigma**3 * u0 * self._gsum(w1) + hppp * du_tau)
        ds_beta = 0.5 * s[:, None] ** 3 * d_hpp_beta
        ds_tau = 0.5 * s**3 * d_hpp_tau
        # node terms: d/dtheta h(u_k; theta) + h'(u_k) du_k/dtheta
        rk = fam.y[None, :] - fam.m[None, :] * mean_k  # K x n
        del mean_k, lf
        Pn = pik[:, g]  # K x n
        Uk_n = U[:, g]
        # partial of h wrt beta at u_k, weighted by pik: sum_k pik sum_j r_kj x_j
        grad_beta = X.T @ (Pn * rk).sum(axis=0)
        hp_k = sigma * np.vstack([self._gsum(rk[k]) for k in range(K)]) - U  # K x G
        grad_tau = np.sum(sigma * (Pn * rk * Uk_n).sum(axis=0))
        # du_k/dtheta = du0 + z_k ds
        m1 = (pik * hp_k).sum(axis=0)  # G
        m2 = (pik * hp_k * self.z[:, None]).sum(axis=0)
        grad_beta = grad_beta + du_beta.T @ m1 + ds_beta.T @ (m2 + 1.0 / s)
        grad_tau = grad_tau + du_tau @ m1 + ds_tau @ (m2 + 1.0 / s)
        return ll, np.append(grad_beta, grad_tau)


@dataclass(repr=False)
class GlmmResult(MixedModelResult):
    """Result of :func:`fit_glmm`.

    ``repr`` is one line; ``summary()`` gives the fit's facts and its tables
    (:class:`~rpc_eval.results.Summary`); ``to_frame()`` is the fixed-effects table.

    Attributes
    ----------
    fixed_effects : DataFrame
        ``term, estimate, std_error, statistic, p_value, ci_low, ci_high``
        (:data:`GLMM_FIXED_COLUMNS`) on the link scale (log-odds for binomial, log rate
        for Poisson): Wald z intervals and tests (``statistic`` is z; no ``df``). A
        level of a categorical column is labelled ``column[T.level]``.
    variance_components : DataFrame
        ``component, variance, sd`` of each random intercept (link scale), in lme4's
        order and names: the inner factor first as ``inner:outer``, then the outer
        factor; ``component`` names the grouping factor.
    loglik : float
        Marginal log-likelihood (AGQ with ``n_agq`` nodes; Laplace for 1), as
        ``logLik()`` of the glmer fit (with the binomial coefficients or ``log y!``).
    converged : bool
        True only when the optimum was verified: every group's conditional mode
        converged, the gradient is below ``GRAD_TOL`` and the Hessian is negative
        definite (over the variances not at 0) at the estimates.
    boundary : bool
        A random-intercept SD is below ``BOUNDARY_SD`` (a singular fit, as lme4's
        ``isSingular(fit, tol = 1e-4)``).
    n_obs, n_dropped : int
        Rows used (including rows of a separated group, which the limit fit predicts
        exactly); rows dropped for missing values.
    n_groups : dict
        Number of groups per grouping factor (lme4's names, as ``variance_components``),
        including a group whose rows all belong to a separated group.
    groups : list of str
        The grouping columns, outermost first (``["la_code"]`` or ``["la_code",
        "practitioner_id"]``).
    family : str
        ``"binomial"`` or ``"poisson"``.
    trials : str or None
        Column of binomial trials (counts data), or None for 0/1 outcomes.
    optimizer : dict
        The final check: ``max_abs_gradient``, ``hessian_max_eigenvalue``,
        ``modes_converged``, ``mode_decrement`` (largest Newton decrement of a group's
        mode), ``restarts`` (optimiser runs after the first), ``message``.
    separated : list of str
        Terms with no finite estimate (separation, see :func:`fit_glmm`), reported in
        ``fixed_effects`` as ``-inf``, ``+inf`` or NaN with NaN standard errors.
    """

    fixed_effects: pd.DataFrame
    variance_components: pd.DataFrame
    loglik: float
    converged: bool
    n_obs: int
    n_groups: dict
    n_dropped: int
    formula: str
    groups: list
    n_agq: int
    ci: float
    cov_params: pd.DataFrame
    _blups: pd.DataFrame = field(repr=False)
    family: str = "binomial"
    trials: str | None = None
    optimizer: dict = field(default_factory=dict, repr=False)
    boundary: bool = False
    separated: list = field(default_factory=list)

    def __post_init__(self) -> None:
        """The tables in the package's vocabulary (docs/conventions.md), whatever names
        the fitting code gave them: ``p_value``, ``statistic`` (z), no ``df`` (z tests),
        ``component`` for the grouping factor, ``std_error`` for a BLUP's conditional
        SD, and ``column[T.level]`` term labels."""
        fe = self.fixed_effects.rename(columns={"p": "p_value", "z": "statistic"})
        if "statistic" not in fe:
            fe["statistic"] = fe["estimate"] / fe["std_error"]
        fe["term"] = term_labels(fe["term"])
        self.fixed_effects = fe[GLMM_FIXED_COLUMNS + [c for c in fe.columns
                                                      if c not in GLMM_FIXED_COLUMNS
                                                      and c != "df"]]
        self.variance_components = self.variance_components.rename(
            columns={"group": "component"})
        if self._blups is not None:
            self._blups = self._blups.rename(columns={"group": "component",
                                                      "se": "std_error"})
        if isinstance(self.cov_params, pd.DataFrame):
            labels = term_labels(self.cov_params.index)
            self.cov_params = self.cov_params.set_axis(labels, axis=0).set_axis(labels,
                                                                                 axis=1)

    def blups(self) -> pd.DataFrame:
        """Conditional modes of the random intercepts: ``component, level, estimate,
        std_error, pi_low, pi_high`` (``std_error`` = conditional SD, as
        ``ranef(condVar = TRUE)``; the interval is ``estimate +/- z std_error`` at the
        fit's ``ci`` level). Nested groups: the inner groups' rows first (``component``
        is ``inner:outer``), then the outer groups'."""
        return self._blups.copy()

    def icc(self, component: str | None = None) -> float:
        """Latent-scale ICC (binomial only), with ``pi^2 / 3`` the logistic variance.

        One group: ``sigma^2 / (sigma^2 + pi^2 / 3)``. Nested groups, ``component`` names
        the factor (as in ``variance_components``): for the outer factor the share of
        the outer variance, ``s_out^2 / (s_out^2 + s_in^2 + pi^2 / 3)`` (two units of
        the same outer group); for the inner factor ``(s_out^2 + s_in^2) / (s_out^2 +
        s_in^2 + pi^2 / 3)`` (two units of the same inner group).
        """
        if self.family != "binomial":
            raise RpcEvalError("The latent-scale ICC is defined for the binomial (logit) "
                               "model only; report the group variance of a Poisson model.")
        vc = self.variance_components.set_index("component")["variance"]
        total = float(vc.sum()) + np.pi**2 / 3
        if len(vc) == 1 and component in (None, vc.index[0]):
            return float(vc.iloc[0]) / total
        if component not in vc.index:
            raise RpcEvalError("Name the grouping factor of the ICC: component= one of "
                               f"{list(vc.index)}.")
        share = float(vc.sum()) if component == vc.index[0] else float(vc[component])
        return share / total

    @property
    def _re_text(self) -> str:
        return f"(1 | {'/'.join(self.groups)})"

    # -- display (summary(), repr and the HTML view come from rpc_eval.results.Result)
    def _title(self) -> str:
        kind = "Nested random-intercept" if len(self.groups) > 1 else "Random-intercept"
        if self.family == "poisson":
            return f"{kind} Poisson regression (log link)"
        what = f"counts of {self.trials}" if self.trials else "0/1 outcome"
        return f"{kind} logistic regression (binomial GLMM, logit link; {what})"

    def _facts(self) -> list[tuple[str, Any]]:
        method = "Laplace" if self.n_agq == 1 else f"adaptive Gauss-Hermite, {self.n_agq} nodes"
        facts: list[tuple[str, Any]] = [
            ("Observations", self.n_obs),
            ("Groups", "; ".join(f"{k} {v}" for k, v in self.n_groups.items())),
            ("Log-likelihood", self.loglik),
            ("Formula", f"{self.formula} + {self._re_text}"),
            ("Likelihood", method),
            ("Scale", "log-odds" if self.family == "binomial" else "log rate"),
            ("Converged", self.converged)]
        if self.family == "binomial":
            for comp in self.variance_components["component"]:
                facts.append((f"ICC (latent scale, {comp})", self.icc(comp)))
        return facts

    def _notes(self) -> list[str]:
        notes = self._fit_notes()
        if self.separated:
            notes.append(
                f"Separation: {', '.join(self.separated)} have no finite estimate (a "
                "group with no events, or only events); they are reported as -inf, +inf "
                "or NaN with no standard error, and the other estimates are the limit of "
                "the fit, which leaves that group's rows out.")
        return notes


def _refuse_diverging_terms(X: pd.DataFrame, Xa: np.ndarray, beta: np.ndarray,
                            family: str) -> None:
    """Refuse, in words, a binomial fit whose coefficient runs off over its covariate's
    range (continuous quasi-separation: no finite limit is computed for it)."""
    ranges = np.ptp(Xa, axis=0)
    for j, name in enumerate(X.columns):
        if family == "binomial" and name != "Intercept" and abs(beta[j]) * ranges[j] > 25:
            raise RpcEvalError(
                f"Perfect separation: the coefficient of '{name}' diverges "
                f"({beta[j]:.3g}); the covariate (nearly) perfectly predicts the outcome. "
                "No finite limit is computed for this case (docs/conventions.md, "
                "Separation): drop the term, or group the covariate into categories.")


#: the optimum is confirmed when max |gradient| of the log-likelihood over
#: (beta, log sigma) is below this (lme4 checks 0.002 on its scaled gradient)
GRAD_TOL = 1e-3


def _outcome(frame: pd.DataFrame, Y: pd.DataFrame, family: str, trials: str | None):
    """Outcome ``y`` and trials ``m`` (ones unless ``trials``), checked."""
    if Y.shape[1] != 1:
        raise RpcEvalError("The outcome must be a single numeric column (got a factor with "
                           f"columns {list(Y.columns)}); code it as 0/1 or boolean.")
    y = Y.iloc[:, 0].to_numpy(dtype=float)
    m = np.ones_like(y)
    if family == "poisson":
        if trials is not None:
            raise RpcEvalError("trials= is for binomial counts; a Poisson model has none "
                               "(model exposure with an offset term instead).")
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise RpcEvalError("A Poisson outcome must be whole numbers >= 0 (counts, e.g. "
                               "sessions attended).")
        if np.all(y == 0):
            raise RpcEvalError("Every count is 0; a Poisson model cannot be fitted.")
        return y, m
    if trials is not None:
        m = pd.to_numeric(frame.loc[Y.index, trials], errors="coerce").to_numpy(dtype=float)
        if np.any(~np.isfinite(m)) or np.any(m < 1) or np.any(m != np.round(m)):
            raise RpcEvalError(f"The trials column {trials!r} must hold whole numbers >= 1 "
                               "(the number of parents or attempts behind each count).")
        if np.any(y < 0) or np.any(y > m) or np.any(y != np.round(y)):
            raise RpcEvalError(f"The outcome must be a whole number of successes between 0 "
                               f"and {trials!r} in every row.")
        if np.all(y == 0) or np.all(y == m):
            raise RpcEvalError("Every trial has the same outcome; a logistic model cannot "
                               "be fitted.")
        return y, m
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise RpcEvalError("The outcome must be 0/1 (or boolean) for a binomial GLMM; for "
                           "counts of successes give the number of trials with trials=.")
    if np.all(y == y[0]):
        raise RpcEvalError(
            f"The outcome is constant (every row is {int(y[0])}); a logistic model "
            "cannot be fitted.")
    return y, m


def fit_glmm(data: pd.DataFrame, formula: str, groups: str | list | None = None,
             family: str = "binomial", n_agq: int | None = None, ci: float = 0.95,
             trials: str | None = None, *, group: str | None = None) -> GlmmResult:
    """Fit a binomial (logit) or Poisson (log) GLMM with random intercepts by maximum
    likelihood: one grouping factor, or two nested ones.

    Parameters
    ----------
    data : DataFrame
        One row per unit (parent), or per group and subgroup for counts, with the
        outcome, covariates and the ``groups`` columns.
    formula : str
        patsy formula for the fixed effects, ``"y ~ x + arm"``. Binomial: the outcome is
        0/1 (or boolean), or a count of successes out of ``trials``. Poisson: a count.
        Rows with a missing value in the formula's variables, ``groups`` or ``trials``
        are dropped with a :class:`~rpc_eval.errors.DataQualityWarning` (count in
        ``n_dropped``).
    groups : str or list of str
        Column of the grouping factor of the random intercept (``"la_code"``), or two
        columns, outer first, for nested random intercepts (``["la_code",
        "practitioner_id"]``, lme4's ``(1 | la_code/practitioner_id)``: an inner label
        that repeats under two outer groups is two groups), as ``fit_lmm(groups=...)``.
    family : {"binomial", "poisson"}
        Binomial with the logit link, or Poisson with the log link.
    n_agq : int, optional
        Adaptive Gauss-Hermite nodes per group; 1 = Laplace (lme4's ``nAGQ``). Default:
        10 with one grouping factor, 1 (the only choice, as in glmer) with nested groups.
    ci : float
        Confidence level of the Wald intervals and of the BLUP intervals.
    trials : str, optional
        Binomial counts: column of the number of trials behind each row's count of
        successes (``cbind(y, trials - y)`` in glmer).
    group : str, optional
        Former name of ``groups`` (still read, with a ``FutureWarning``).

    Returns
    -------
    GlmmResult
        ``.fixed_effects`` (``term, estimate, std_error, df, ci_low, ci_high, p``),
        ``.variance_components`` (``group, variance, sd``; nested: the inner factor
        ``inner:outer`` first, as lme4's ``VarCorr``), ``.loglik``, ``.converged``,
        ``.boundary`` (a singular fit), ``.optimizer`` (the final check),
        ``.separated`` (terms with no finite estimate), ``.blups()``, ``.icc()``,
        ``summary()``.

    Raises
    ------
    RpcEvalError
        A constant outcome, a single group, an outcome that does not fit the family,
        nested groups with ``n_agq > 1`` or with one inner group per outer group. For
        separation, only the cases with no limit computed (docs/conventions.md): a
        binomial term whose coefficient diverges after the fit (a continuous
        covariate that (nearly) predicts the outcome), an outcome constant within
        every group (or a group SD that diverges), an outcome fully predicted by the
        separated terms, and a separated design that is collinear, has fewer than two
        groups left or needs an intercept it has not got.

    Warns
    -----
    SeparationWarning
        (:class:`rpc_eval.stats.separation.SeparationWarning`, a
        :class:`~rpc_eval.errors.DataQualityWarning`) naming each separated term, its
        group and the number of rows that leave the fit.
    BoundaryFitWarning
        An SD is below 1e-4 (a singular fit).
    ConvergenceWarning
        The optimum could not be confirmed.

    Notes
    -----
    One group: ``g(E[y_ij | b_i]) = x_ij' beta + b_i``, ``b_i ~ N(0, sigma^2)``; see the
    module docstring for the quadrature and the standard errors. Each group's
    conditional mode is found by Newton steps halved until the penalised log density
    rises (so the iteration cannot cycle), with a per-group convergence check.

    Nested groups: ``g(E[y]) = x' beta + b_outer + b_inner``, each intercept normal with
    its own variance, by the Laplace approximation at the joint conditional mode of all
    random effects (penalised IRLS with step halving, using the no-fill sparse
    structure of nested groups; see :mod:`rpc_eval.multilevel.glmm_nested`). Standard
    errors: the fixed-effects block of the inverse Hessian of the Laplace
    log-likelihood over ``(beta, theta)`` (finite differences of its exact gradient),
    which is what ``vcov()`` of the glmer fit reports by default (lme4 takes the
    Hessian of its deviance by finite differences); ``vcov(fit, use.hessian = FALSE)``,
    from RX with theta held fixed, is 0.4-8% different on the reference designs.

    The optimum is then verified: every mode converged, max |gradient| < ``GRAD_TOL``
    over the free parameters, a negative definite Hessian there and, for a variance at
    0, a log-likelihood that does not rise moving it inwards; if the check fails the
    optimiser is restarted from other starting points and the best fit kept.
    ``converged`` is True only when the check passes; otherwise a
    :class:`~rpc_eval.errors.ConvergenceWarning` gives the numbers.

    R equivalent::

        glmer(y ~ x + (1 | la), family = binomial, nAGQ = 10)
        glmer(cbind(y, n - y) ~ x + (1 | la), family = binomial, nAGQ = 10)  # trials="n"
        glmer(sessions ~ x + (1 | la), family = poisson, nAGQ = 10)
        glmer(y ~ x + (1 | la/practitioner), family = binomial)   # groups=["la", "practitioner"]

    **Separation** (docs/conventions.md). A two-valued fixed-effect column (a level of a
    categorical column, a 0/1 indicator) one of whose values has a constant outcome
    (every outcome 0, every outcome 1, every trial a success or, Poisson, every count
    0) has no finite estimate. The model still fits: those rows contribute nothing in
    the limit of the likelihood (their probability tends to the observed outcome
    whatever the random effects), so the other estimates, the variances and
    ``loglik`` are those of the fit without the rows and the term, and the term is
    reported with ``estimate`` ``-inf`` (no events) or ``+inf`` (only events) and NaN
    standard error, statistic, p-value and limits. When the separated value is the
    column's 0 (for a two-level categorical column, its reference level) the limit
    sends the intercept the other way too: with no events in the reference level the
    intercept is ``-inf`` and the level's term ``+inf`` (their finite sum, the log-odds
    in the other level, is not a term and is not reported); the reference level of a
    column with more levels is the same, every other level's term ``+inf``. A term
    that is non-zero only in separated rows (an interaction with the level), or a
    level separated the same way as the reference, is NaN. A group with no
    rows left has its BLUP at the prior (0, conditional SD = the group SD). See
    :mod:`rpc_eval.multilevel.glmm_separation` for the argument and the directions.
    glmer has no such rule: it stops at a large finite coefficient (about -27 with an
    SE of several hundred, and a "nearly unidentifiable" warning, on the data of
    ``tests/reference/glmm_separation.R``), where its other estimates, variance and
    ``logLik()`` agree with the limit reported here (to about 1e-9).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> la = np.repeat(np.arange(30), 40)
    >>> prac = rng.integers(0, 4, la.size)          # four practitioners in each LA
    >>> x = rng.normal(size=la.size)
    >>> eta = (-0.3 + 0.5 * x + rng.normal(0, 0.6, 30)[la]
    ...        + rng.normal(0, 0.5, (30, 4))[la, prac])
    >>> d = pd.DataFrame({"la": la, "practitioner": prac, "x": x,
    ...                   "y": rng.random(la.size) < 1 / (1 + np.exp(-eta))})
    >>> res = fit_glmm(d, "y ~ x", groups="la")
    >>> res.fixed_effects["term"].tolist()
    ['Intercept', 'x']
    >>> bool(res.converged)
    True
    >>> nested = fit_glmm(d, "y ~ x", groups=["la", "practitioner"])
    >>> nested.variance_components["component"].tolist()
    ['practitioner:la', 'la']
    >>> bool(nested.converged), nested.n_groups
    (True, {'practitioner:la': 120, 'la': 30})
    """
    import patsy

    if family not in ("binomial", "poisson"):
        raise RpcEvalError(f"family={family!r} is not supported; use 'binomial' (logit) or "
                           "'poisson' (log).")
    groups = _normalise_groups(groups, group)
    nested = len(groups) == 2
    if n_agq is None:
        n_agq = 1 if nested else 10
    try:
        whole = not isinstance(n_agq, bool) and float(n_agq).is_integer()
    except (TypeError, ValueError):
        whole = False
    if not whole or not 1 <= n_agq <= 50:
        raise RpcEvalError(f"n_agq must be a whole number between 1 and 50, not {n_agq!r}.")
    n_agq = int(n_agq)
    if nested and n_agq > 1:
        raise RpcEvalError(
            f"n_agq={n_agq} is not available with nested groups: adaptive quadrature "
            "with more than one node needs a single random intercept (glmer allows nAGQ > "
            "1 only for one scalar random effect too). Leave n_agq out (or set n_agq=1) "
            "for the Laplace approximation.")
    if not 0 < ci < 1:
        raise RpcEvalError("ci must be between 0 and 1.")
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError("data must be a pandas DataFrame (one row per parent).")
    for col in groups:
        if col not in data.columns:
            raise RpcEvalError(f"Group column {col!r} is not in the data.")
    if trials is not None and trials not in data.columns:
        raise RpcEvalError(f"Trials column {trials!r} is not in the data.")
    group = groups[0]
    used = [*formula_columns(formula, data), *groups] + ([trials] if trials else [])
    frame, n_dropped = complete_rows(data, used, "GLMM", stacklevel=3)
    for col in frame.columns:
        if frame[col].dtype == bool:
            frame[col] = frame[col].astype(int)
    try:
        Y, X = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="drop")
    except patsy.PatsyError as exc:
        raise RpcEvalError(f"Could not build the design from formula {formula!r}: {exc}") from exc
    if len(Y) < len(frame):  # values the formula turns into missing (e.g. log(0))
        warnings.warn(f"GLMM: {len(frame) - len(Y):,} more rows have values the formula "
                      "turns into missing values and were left out of the model",
                      DataQualityWarning, stacklevel=2)
        n_dropped += len(frame) - len(Y)
    y, m = _outcome(frame, Y, family, trials)
    labels = frame.loc[Y.index, group]
    codes, levels = pd.factorize(labels, sort=True)
    G = len(levels)
    if G < 2:
        raise RpcEvalError(
            f"Only one {group} ({levels[0] if G else 'none'}) in the data: a random "
            "intercept needs at least two groups (use an ordinary regression).")
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        raise RpcEvalError("The fixed-effects design is rank deficient (collinear terms: "
                           f"{list(X.columns)}).")
    # separation (docs/conventions.md): the separated rows and terms leave the fit
    columns, n_all = list(X.columns), len(y)
    all_levels = _group_levels(frame.loc[Y.index], groups)
    sep = find_separation(X, y, m, family, trials is not None, categorical_blocks(X))
    if sep:
        warn_glmm_separation(sep, n_all)
        Y, y, m = Y.loc[sep.keep], y[sep.keep], m[sep.keep]
        X = X.loc[sep.keep, [c for c in columns if c not in sep.dropped]]
        _check_after_separation(frame.loc[Y.index], X, y, m, groups, sep)
        labels = frame.loc[Y.index, group]
        codes, levels = pd.factorize(labels, sort=True)
        G = len(levels)
    if family == "binomial":
        prop = pd.Series(y / m)
        gy = prop.groupby(codes)
        if ((gy.min() == gy.max()) & gy.min().isin([0.0, 1.0])).all():
            raise RpcEvalError(
                f"Perfect separation by {group}: the outcome is constant within every "
                "group, so the group variance is infinite and the fixed effects grow with "
                "it: there is no limit to report. "
                "This case is refused (docs/conventions.md, Separation): model the group "
                "outcome with an ordinary logistic regression (one row per group), or "
                "merge groups.")
    if nested:
        res = _fit_two_level(frame.loc[Y.index], X, y, m, groups, family, ci, trials,
                             formula, n_dropped)
        return _with_separated(res, columns, sep, n_all, all_levels) if sep else res

    Xa = X.to_numpy(dtype=float)
    prob = _Problem(Xa, y, codes.astype(np.intp), G, int(n_agq), _Family(family, y, m))
    p = Xa.shape[1]
    theta0 = np.zeros(p + 1)
    if "Intercept" in X.columns:
        ybar = y.sum() / m.sum()
        theta0[list(X.columns).index("Intercept")] = (
            np.log(ybar / (1 - ybar)) if family == "binomial" else np.log(ybar))
    theta0[-1] = np.log(0.5)

    def fun(th):
        ll, gr = prob.loglik(th)
        return -ll, -gr

    bounds = [(None, None)] * p + [_LOG_SIGMA_BOUNDS]
    opts = {"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-8, "maxcor": 20}

    def hessian(th, h=1e-5):
        Hm = np.empty((p + 1, p + 1))
        for k in range(p + 1):
            e = np.zeros(p + 1)
            e[k] = h
            Hm[:, k] = (prob.loglik(th + e)[1] - prob.loglik(th - e)[1]) / (2 * h)
        return 0.5 * (Hm + Hm.T)

    def run(start):
        """L-BFGS-B, a Newton polish for an interior optimum, and the final check."""
        opt = optimize.minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                options=opts)
        theta = opt.x.copy()
        on_boundary = bool(theta[-1] <= _LOG_SIGMA_BOUNDS[0] + np.log(10.0))
        ll, grad = prob.loglik(theta)
        H_at = None
        if not on_boundary:
            H_at = hessian(theta)
            start_polish = theta.copy()
            for _ in range(8):
                try:
                    step = np.linalg.solve(H_at, grad)
                except np.linalg.LinAlgError:
                    break
                if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
                    break
                cand = theta - step
                ll_c, grad_c = prob.loglik(cand)
                if ll_c < ll - 1e-9:
                    break
                theta, ll, grad = cand, ll_c, grad_c
                if np.max(np.abs(step)) < 1e-10:
                    break
            # the Hessian is recomputed only if the polish moved theta noticeably
            if np.max(np.abs(theta - start_polish)) > 1e-6:
                H_at = hessian(theta)
        # the final evaluation finds every mode again from 0, so the check does not
        # rest on warm starts carried over from earlier evaluations
        prob.u0 = np.zeros(G)
        ll, grad = prob.loglik(theta)
        modes_ok, decrement = prob.last_modes_ok, prob.last_decrement
        gmax = float(np.max(np.abs(grad[:p] if on_boundary else grad)))
        if on_boundary:
            # a variance at its lower bound: the log-likelihood must not rise inwards
            eig = float("nan")
            ok = gmax < GRAD_TOL and grad[-1] <= GRAD_TOL
        else:
            assert H_at is not None  # computed above when not on the boundary
            eig = float(np.max(np.linalg.eigvalsh(H_at)))
            ok = gmax < GRAD_TOL and eig < 0
        ok = bool(ok and modes_ok and np.isfinite(ll))
        return dict(theta=theta, ll=float(ll), grad=grad, gmax=gmax, eig=eig, ok=ok,
                    modes_ok=modes_ok, decrement=decrement, on_boundary=on_boundary,
                    H=H_at, message=str(opt.message))

    best = run(theta0)
    restarts = 0
    if not best["ok"]:
        # second starting points: from where the first run stopped (with fresh modes),
        # and from a larger group SD
        for start in (best["theta"], np.append(theta0[:-1], np.log(2.0))):
            prob.u0 = np.zeros(G)
            cand = run(np.asarray(start, dtype=float))
            restarts += 1
            if cand["ll"] > best["ll"] + 1e-9 or (cand["ok"] and not best["ok"]
                                                  and cand["ll"] >= best["ll"] - 1e-6):
                best = cand
            if best["ok"]:
                break
    theta = best["theta"]
    on_boundary = best["on_boundary"]
    converged = best["ok"]
    ll = prob.loglik(theta, gradient=False)[0]
    sigma = float(np.exp(theta[-1]))

    # divergence of a fixed effect = (quasi-)separation
    _refuse_diverging_terms(X, Xa, theta, family)
    if sigma > 20:
        raise RpcEvalError(
            f"Perfect separation by {group}: the group SD diverges ({sigma:.3g} on the "
            "link scale); the outcome is (nearly) constant within groups.")

    # standard errors
    if sigma < BOUNDARY_SD or on_boundary:
        warnings.warn(
            f"The {group} variance is on the boundary (SD {sigma:.2g} < {BOUNDARY_SD}): "
            "the fit is singular; fixed effects equal the ordinary regression without "
            "the random intercept and their SEs treat the variance as fixed at 0.",
            BoundaryFitWarning, stacklevel=2)
        Hm = hessian(theta)[:p, :p]
    else:
        Hm = best["H"] if best["H"] is not None else hessian(theta)
    try:
        cov = np.linalg.inv(-Hm)[:p, :p]
    except np.linalg.LinAlgError:
        cov = np.full((p, p), np.nan)
        converged = False
    if not np.all(np.diag(cov) > 0):
        converged = False
    optimizer = dict(max_abs_gradient=best["gmax"], hessian_max_eigenvalue=best["eig"],
                     modes_converged=best["modes_ok"], mode_decrement=best["decrement"],
                     restarts=restarts, message=best["message"])
    if not converged:
        problems = []
        if not best["modes_ok"]:
            problems.append("the conditional modes of some groups did not converge "
                            f"(largest Newton decrement {best['decrement']:.2g})")
        if best["gmax"] >= GRAD_TOL:
            problems.append(f"the largest gradient is {best['gmax']:.2g} (needs < {GRAD_TOL:g})")
        if not on_boundary and not best["eig"] < 0:
            problems.append("the Hessian is not negative definite (largest eigenvalue "
                            f"{best['eig']:.2g}): not a maximum")
        if not np.all(np.diag(cov) > 0):
            problems.append("the standard errors could not be computed")
        warnings.warn(
            "The GLMM optimum could not be confirmed after "
            f"{restarts + 1} optimiser run(s): {'; '.join(problems) or best['message']}. "
            "Estimates may be unreliable: simplify the model, rescale covariates or merge "
            "small groups.", ConvergenceWarning, stacklevel=2)

    beta = theta[:p]
    se = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    zq = stats.norm.ppf(0.5 + ci / 2)
    fixed = pd.DataFrame({
        "term": list(X.columns), "estimate": beta, "std_error": se, "df": np.nan,
        "ci_low": beta - zq * se, "ci_high": beta + zq * se,
        "p": 2 * stats.norm.sf(np.abs(beta / se)),
    })
    vc = pd.DataFrame({"group": [group], "variance": [sigma**2], "sd": [sigma]})
    # BLUPs at the optimum
    prob.loglik(theta, gradient=False)
    u0 = prob.u0
    mu0 = prob.fam.mean(Xa @ beta + sigma * u0[prob.g])
    s = 1.0 / np.sqrt(sigma**2 * prob._gsum(prob.fam.weights(mu0)[0]) + 1.0)
    blups = pd.DataFrame({"group": group, "level": np.asarray(levels),
                          "estimate": sigma * u0, "se": sigma * s})
    blups["pi_low"] = blups["estimate"] - zq * blups["se"]
    blups["pi_high"] = blups["estimate"] + zq * blups["se"]
    res = GlmmResult(
        fixed_effects=fixed, variance_components=vc, loglik=float(ll), converged=converged,
        n_obs=len(y), n_groups={group: G}, n_dropped=int(n_dropped), formula=formula,
        groups=[group], boundary=bool(sigma < BOUNDARY_SD or on_boundary),
        n_agq=int(n_agq), ci=ci,
        cov_params=pd.DataFrame(cov, index=X.columns, columns=X.columns), _blups=blups,
        family=family, trials=trials, optimizer=optimizer)
    return _with_separated(res, columns, sep, n_all, all_levels) if sep else res


def _group_levels(frame: pd.DataFrame, groups: list[str]) -> dict[str, np.ndarray]:
    """The levels of each grouping factor, by lme4's component name, as the fits order
    their BLUPs (nested: ``inner:outer`` first)."""
    if len(groups) == 1:
        return {groups[0]: np.asarray(pd.factorize(frame[groups[0]], sort=True)[1])}
    outer, inner = groups
    outer_lab = frame[outer].astype(str).to_numpy()
    key = (pd.Series(frame[inner].astype(str).to_numpy()) + ":" + pd.Series(outer_lab))
    return {f"{inner}:{outer}": np.asarray(pd.factorize(key.to_numpy(), sort=True)[1],
                                           dtype=object),
            outer: np.asarray(pd.factorize(outer_lab, sort=True)[1], dtype=object)}


def _check_after_separation(frame: pd.DataFrame, X: pd.DataFrame, y: np.ndarray,
                            m: np.ndarray, groups: list[str], sep: GlmmSeparation) -> None:
    """The cases of separation that are still refused, in words."""
    terms = ", ".join(term for term, _, _ in sep.items)
    if np.all(y == 0) or np.all(y == m):
        raise RpcEvalError(
            f"Perfect separation: {terms} predict(s) the outcome exactly (the rows left "
            "once the separated groups are set aside all have the same outcome), so no "
            "other term has a limit. This case is refused (docs/conventions.md, "
            "Separation): merge the groups or drop the term.")
    n_left = frame[groups[0]].nunique()
    if n_left < 2:
        raise RpcEvalError(
            f"Perfect separation: once the rows of the separated groups ({terms}) are set "
            f"aside, only {n_left} {groups[0]} has rows, and a random intercept needs two. "
            "Merge the groups or drop the term.")
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        raise RpcEvalError(
            f"Perfect separation: once the rows of the separated groups ({terms}) are set "
            "aside, the other terms are collinear on the rows left "
            f"({', '.join(X.columns)}), so their limit is not determined. Merge the "
            "groups or drop terms.")


def _with_separated(res: GlmmResult, columns: list[str], sep: GlmmSeparation,
                    n_all: int, all_levels: dict[str, np.ndarray]) -> GlmmResult:
    """The fit without the separated rows, reported as the model with them: every term
    in its place (separated ones +-inf, undetermined ones NaN, no SE), all rows counted
    in ``n_obs`` and a BLUP for every group (a group with no rows left is at its prior:
    estimate 0, conditional SD the group SD)."""
    labels = term_labels(columns)
    fitted = [c for c in columns if c not in sep.dropped]
    pos = {c: i for i, c in enumerate(fitted)}
    fe = res.fixed_effects
    rows = []
    for c, lab in zip(columns, labels, strict=True):
        if c in sep.reported:
            row: dict[str, Any] = dict.fromkeys(fe.columns, np.nan)
            row.update(term=lab, estimate=sep.reported[c])
        else:
            row = fe.iloc[pos[c]].to_dict()
            row["term"] = lab
        rows.append(row)
    res.fixed_effects = pd.DataFrame(rows, columns=fe.columns)
    cov = np.full((len(columns), len(columns)), np.nan)
    old = res.cov_params.to_numpy()
    idx = [(i, pos[c]) for i, c in enumerate(columns) if c not in sep.reported]
    for i, a in idx:
        for j, b in idx:
            cov[i, j] = old[a, b]
    res.cov_params = pd.DataFrame(cov, index=labels, columns=labels)
    # groups whose rows all left the fit: the random intercept at its prior
    zq = stats.norm.ppf(0.5 + res.ci / 2)
    sd = res.variance_components.set_index("component")["sd"]
    blups = res._blups
    parts = []
    for comp, levels in all_levels.items():
        have = blups[blups["component"] == comp]
        missing = [lv for lv in levels if lv not in set(have["level"])]
        if missing:
            s = float(sd[comp])
            have = pd.concat([have, pd.DataFrame({
                "component": comp, "level": pd.Series(missing, dtype=have["level"].dtype),
                "estimate": 0.0, "std_error": s, "pi_low": -zq * s, "pi_high": zq * s})],
                ignore_index=True)
            order = {lv: i for i, lv in enumerate(levels)}
            have = have.sort_values("level", key=lambda v: v.map(order), kind="stable")
        parts.append(have)
    res._blups = pd.concat(parts, ignore_index=True)
    res.n_groups = {comp: len(levels) for comp, levels in all_levels.items()}
    res.n_obs = int(n_all)
    res.separated = [lab for c, lab in zip(columns, labels, strict=True)
                     if c in sep.reported]
    return res


def _normalise_groups(groups, group) -> list[str]:
    """``groups`` as a list of one or two column names, outer first (``group=`` is
    the former name of the argument)."""
    if group is not None:
        if groups is not None:
            raise RpcEvalError("Give the grouping columns once, as groups= (group= is its "
                               "former name).")
        warnings.warn("fit_glmm's group= is now called groups= (one column, or a list "
                      "[outer, inner] for nested random intercepts); write groups=.",
                      FutureWarning, stacklevel=3)
        groups = group
    if groups is None:
        raise RpcEvalError("Give the grouping column(s) of the random intercept: "
                           "groups='la_code', or groups=['la_code', 'practitioner_id'] for "
                           "practitioners nested in LAs.")
    if isinstance(groups, str):
        groups = [groups]
    groups = list(groups) if isinstance(groups, list | tuple) else [groups]
    if not 1 <= len(groups) <= 2 or not all(isinstance(g, str) for g in groups) \
            or len(set(groups)) != len(groups):
        raise RpcEvalError(
            f"groups must be one column name (e.g. groups='la_code' for (1 | la_code)) or "
            f"two different ones, outer first (e.g. groups=['la_code', 'practitioner_id'] "
            f"for (1 | la_code/practitioner_id)); got {groups!r}. Deeper or crossed "
            "designs are not supported by fit_glmm.")
    return groups


def _fit_two_level(frame, X, y, m, groups, family, ci, trials, formula,
                   n_dropped) -> GlmmResult:
    """Nested random intercepts ``(1 | outer/inner)`` by the Laplace approximation
    (see :mod:`rpc_eval.multilevel.glmm_nested`)."""
    outer_name, inner_col = groups
    inner_name = f"{inner_col}:{outer_name}"
    outer_lab = frame[outer_name].astype(str).to_numpy()
    inner_key = (pd.Series(frame[inner_col].astype(str).to_numpy()) + ":"
                 + pd.Series(outer_lab)).to_numpy()
    oa, outer_levels = pd.factorize(outer_lab, sort=True)
    ib, inner_levels = pd.factorize(inner_key, sort=True)
    A, B = len(outer_levels), len(inner_levels)
    if B == A:
        raise RpcEvalError(
            f"Every {outer_name} has a single {inner_col}: the two random intercepts "
            f"cannot be told apart. Fit groups={outer_name!r} alone.")
    if B == len(y) and family == "binomial" and trials is None:
        raise RpcEvalError(
            f"Every row is its own {inner_col} within {outer_name}: with a 0/1 outcome "
            "that level's variance cannot be estimated. Fit the outer level alone, or "
            "count successes per group with trials=.")
    Xa = X.to_numpy(dtype=float)
    p = Xa.shape[1]
    fam = _Family(family, y, m)
    prob = NestedLaplace(Xa, fam, oa, ib, A, B)
    phi0 = np.zeros(p + 2)
    if "Intercept" in X.columns:
        ybar = y.sum() / m.sum()
        phi0[list(X.columns).index("Intercept")] = (
            np.log(ybar / (1 - ybar)) if family == "binomial" else np.log(ybar))
    phi0[p:] = 0.5
    best = fit_nested(prob, phi0, GRAD_TOL)
    phi = best["phi"]
    beta, sd_in, sd_out = phi[:p], float(phi[p]), float(phi[p + 1])

    _refuse_diverging_terms(X, Xa, beta, family)
    for name, sd in ((inner_name, sd_in), (outer_name, sd_out)):
        if sd > 20:
            raise RpcEvalError(
                f"Perfect separation by {name}: its SD diverges ({sd:.3g} on the link "
                "scale); the outcome is (nearly) constant within these groups.")
    for name, sd, at in ((inner_name, sd_in, best["boundary"][0]),
                         (outer_name, sd_out, best["boundary"][1])):
        if at:
            warnings.warn(
                f"The {name} variance is on the boundary (SD {sd:.2g} < {BOUNDARY_SD}): "
                "the fit is singular; the other estimates are those of the model without "
                "that random intercept, and their SEs treat its variance as fixed at 0.",
                BoundaryFitWarning, stacklevel=3)
    cov = best["cov"]
    converged = bool(best["ok"])
    if not np.all(np.diag(cov) > 0):
        converged = False
    optimizer = dict(max_abs_gradient=best["gmax"], hessian_max_eigenvalue=best["eig"],
                     modes_converged=best["modes_ok"], mode_decrement=best["decrement"],
                     restarts=best["restarts"], message=best["message"],
                     standard_errors="inverse Hessian of the Laplace log-likelihood over "
                                     "(beta, theta), as vcov() of glmer")
    if not converged:
        problems = []
        if not best["modes_ok"]:
            problems.append("the conditional modes of some groups did not converge "
                            f"(largest Newton decrement {best['decrement']:.2g})")
        if best["gmax"] >= GRAD_TOL:
            problems.append(f"the largest gradient is {best['gmax']:.2g} (needs < {GRAD_TOL:g})")
        if not best["eig"] < 0:
            problems.append("the Hessian is not negative definite (largest eigenvalue "
                            f"{best['eig']:.2g}): not a maximum")
        rising = [k for k, v in best["rise"].items() if v > 1e-8]
        if rising:
            problems.append("the log-likelihood rises moving a variance off 0 (by "
                            f"{max(best['rise'][k] for k in rising):.2g})")
        if not np.all(np.diag(cov) > 0):
            problems.append("the standard errors could not be computed")
        warnings.warn(
            "The GLMM optimum could not be confirmed after "
            f"{best['restarts'] + 1} optimiser run(s): "
            f"{'; '.join(problems) or best['message']}. Estimates may be unreliable: "
            "simplify the model, rescale covariates or merge small groups.",
            ConvergenceWarning, stacklevel=3)

    se = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    zq = stats.norm.ppf(0.5 + ci / 2)
    fixed = pd.DataFrame({
        "term": list(X.columns), "estimate": beta, "std_error": se, "df": np.nan,
        "ci_low": beta - zq * se, "ci_high": beta + zq * se,
        "p": 2 * stats.norm.sf(np.abs(beta / se)),
    })
    vc = pd.DataFrame({"group": [inner_name, outer_name],
                       "variance": [sd_in**2, sd_out**2], "sd": [sd_in, sd_out]})
    b_in, se_in, b_out, se_out = prob.conditional(phi)
    blups = pd.concat([
        pd.DataFrame({"group": inner_name, "level": np.asarray(inner_levels, dtype=object),
                      "estimate": b_in, "se": se_in}),
        pd.DataFrame({"group": outer_name, "level": np.asarray(outer_levels, dtype=object),
                      "estimate": b_out, "se": se_out}),
    ], ignore_index=True)
    blups["pi_low"] = blups["estimate"] - zq * blups["se"]
    blups["pi_high"] = blups["estimate"] + zq * blups["se"]
    return GlmmResult(
        fixed_effects=fixed, variance_components=vc,
        loglik=float(prob.loglik(phi, gradient=False)), converged=converged,
        n_obs=len(y), n_groups={inner_name: B, outer_name: A}, n_dropped=int(n_dropped),
        formula=formula, groups=list(groups), n_agq=1, ci=ci,
        cov_params=pd.DataFrame(cov, index=X.columns, columns=X.columns), _blups=blups,
        family=family, trials=trials, optimizer=optimizer,
        boundary=bool(any(best["boundary"])))
