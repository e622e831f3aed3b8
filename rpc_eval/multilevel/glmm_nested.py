"""Nested random intercepts for the GLMM: the Laplace likelihood and its maximisation.

The model, for unit ``j`` in inner group ``b`` (e.g. a practitioner) within outer group
``a`` (e.g. a local authority), lme4's ``(1 | outer/inner)``::

    g(E[y_j | u]) = x_j' beta + theta_in u_b + theta_out u_a,     u ~ N(0, I)

(``theta_in``, ``theta_out`` are the SDs of the two random intercepts on the link scale;
an inner label that repeats under two outer groups is two groups, as lme4 expands
``outer/inner`` into ``inner:outer`` and ``outer``). With ``h(u) = sum_j log f(y_j | u)
- |u|^2 / 2`` and ``H = Lambda Z' W Z Lambda + I`` its negative Hessian (``W`` the
working weights at the mode), the Laplace approximation of the log-likelihood is::

    l(beta, theta) = h(u*) - log det(H(u*)) / 2

at the joint conditional mode ``u*`` of all random effects (lme4's ``glmer(nAGQ = 1)``;
the constants are kept, so ``l`` is ``logLik()`` of the glmer fit).

**Sparse structure.** Ordering the inner groups first, ``H`` is block "arrowhead": a
diagonal block ``D`` for the inner groups (``theta_in^2 S_b + 1``, ``S_b`` the sum of the
weights of group ``b``), a diagonal block for the outer groups and a coupling
``C[b, a] = theta_in theta_out S_b`` only where ``b`` lies in ``a``. Its sparse Cholesky
factor in that order has no fill-in: eliminating the inner groups leaves one Schur
complement per outer group, ``s_a = theta_out^2 S_a + 1 - sum_{b in a} C_ba^2 / D_b``. So
``log det H = sum_b log D_b + sum_a log s_a``, and every solve with ``H`` (the Newton
step of the modes, the implicit derivatives) and every element of ``H^{-1}`` that the
gradient needs are sums by group (``numpy.bincount``), O(n) per evaluation, with no
general sparse factorisation.

**Conditional modes (penalised IRLS).** Newton steps ``u += H^{-1} h'(u)`` on all
random effects at once (the PIRLS step of lme4 with ``beta`` held fixed); outer groups
are independent blocks, so each outer group's step is halved until its penalised log
density ``h_a`` does not decrease, and each converges when its Newton decrement
``h_a'^T H_a^{-1} h_a'`` is below ``MODE_TOL``.

**Outer optimum.** ``l`` is maximised over ``(beta, theta_in, theta_out)`` with
``theta >= 0`` (lme4's parameters and bounds) by L-BFGS-B with the exact gradient (the
mode and the weights at the mode are differentiated implicitly), polished by Newton
steps on a finite-difference Hessian of that gradient, and verified: every mode
converged, max |gradient| below the tolerance over the free parameters, a negative
definite Hessian there, and for an SD at 0 a likelihood that does not rise moving
inwards. Failing that, the optimiser is restarted from other starting points.

Reference: Bates D. et al. (2015) Fitting linear mixed-effects models using lme4.
J. Stat. Softw. 67(1), section 5 (PIRLS and the Laplace approximation).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

__all__ = ["NestedLaplace", "fit_nested"]

#: an SD below this is at the boundary (lme4's ``isSingular(tol = 1e-4)`` on theta)
BOUNDARY_SD = 1e-4
#: the SDs are kept in [0, SD_MAX] (a larger SD is separation, refused by the caller)
SD_MAX = 50.0


class NestedLaplace:
    """Laplace log-likelihood of a two-level nested random-intercept GLMM.

    Parameters
    ----------
    X : ndarray (n, p)
    family : object
        With ``mean(eta)``, ``logf(eta)`` (``y eta - m b(eta)``), ``weights(mu)`` (``m
        b''``, ``m b'''``), ``resid(mu)`` (``y - m mu``) and ``const`` (the sum of ``c(y)``).
    outer, inner : ndarray (n,) of int
        Codes of the outer and inner groups (inner codes unique across outer groups).
    n_outer, n_inner : int
    """

    #: Newton decrement of an outer group's modes below this = converged
    MODE_TOL = 1e-20

    def __init__(self, X, family, outer, inner, n_outer: int, n_inner: int):
        self.X, self.fam = X, family
        self.oa, self.ib = np.asarray(outer, np.intp), np.asarray(inner, np.intp)
        self.A, self.B = int(n_outer), int(n_inner)
        par = np.full(self.B, -1, dtype=np.intp)
        par[self.ib] = self.oa
        self.par = par                         # outer group of each inner group
        self.u_in = np.zeros(self.B)
        self.u_out = np.zeros(self.A)
        self.last_modes_ok = True
        self.last_decrement = 0.0
        self.mode_failures = 0

    # ---------------------------------------------------------------- group sums
    def _sa(self, v):
        return np.bincount(self.oa, weights=v, minlength=self.A)

    def _sb(self, v):
        return np.bincount(self.ib, weights=v, minlength=self.B)

    def _b_to_a(self, v):
        return np.bincount(self.par, weights=v, minlength=self.A)

    # --------------------------------------------------------- the arrowhead H
    def _factor(self, w, t_in, t_out):
        """Pieces of H at working weights w: D (inner diagonal), c (coupling), s
        (Schur complement per outer group)."""
        S_b = self._sb(w)
        S_a = self._sa(w)
        D = t_in * t_in * S_b + 1.0
        c = t_in * t_out * S_b
        s = t_out * t_out * S_a + 1.0 - self._b_to_a(c * c / D)
        return D, c, s, S_b, S_a

    def _solve(self, D, c, s, r_in, r_out):
        """x = H^{-1} r for r = (r_in, r_out)."""
        x_out = (r_out - self._b_to_a(c * r_in / D)) / s
        x_in = (r_in - c * x_out[self.par]) / D
        return x_in, x_out

    def _eta(self, xb, t_in, t_out, u_in, u_out):
        return xb + t_in * u_in[self.ib] + t_out * u_out[self.oa]

    def _h_groups(self, xb, t_in, t_out, u_in, u_out):
        """Penalised log density of each outer group (its rows, its own and its inner
        groups' random effects)."""
        lf = self.fam.logf(self._eta(xb, t_in, t_out, u_in, u_out))
        return self._sa(lf) - 0.5 * u_out**2 - 0.5 * self._b_to_a(u_in**2)

    # ----------------------------------------------------------------- the modes
    def modes(self, xb, t_in, t_out, max_iter: int = 200):
        """Joint conditional modes of the random effects by penalised IRLS (Newton on
        ``h`` with beta fixed), step halving per outer group on ``h_a``."""
        fam = self.fam
        u_in, u_out = self.u_in.copy(), self.u_out.copy()
        h = self._h_groups(xb, t_in, t_out, u_in, u_out)
        z_in, z_out = np.zeros(self.B), np.zeros(self.A)
        h0 = self._h_groups(xb, t_in, t_out, z_in, z_out)
        better = h0 > h
        if better.any():
            u_out[better] = 0.0
            u_in[better[self.par]] = 0.0
            h[better] = h0[better]
        done = np.zeros(self.A, dtype=bool)
        dec = np.full(self.A, np.inf)
        for _ in range(max_iter):
            mu = fam.mean(self._eta(xb, t_in, t_out, u_in, u_out))
            w, _ = fam.weights(mu)
            r = fam.resid(mu)
            g_in = t_in * self._sb(r) - u_in
            g_out = t_out * self._sa(r) - u_out
            D, c, s, _, _ = self._factor(w, t_in, t_out)
            d_in, d_out = self._solve(D, c, s, g_in, g_out)
            dec = g_out * d_out + self._b_to_a(g_in * d_in)
            done = dec < self.MODE_TOL
            if done.all():
                break
            t = np.where(done, 0.0, 1.0)
            active = ~done
            for _half in range(60):
                c_in = u_in + t[self.par] * d_in
                c_out = u_out + t * d_out
                hc = self._h_groups(xb, t_in, t_out, c_in, c_out)
                ok = ~active | (hc >= h - 1e-13 * (1.0 + np.abs(h)))
                if ok.all():
                    break
                t = np.where(ok, t, 0.5 * t)
            moved = active & ok
            u_in = np.where(moved[self.par], c_in, u_in)
            u_out = np.where(moved, c_out, u_out)
            h = np.where(moved, hc, h)
            # a step too small to change u (rounding) ends that group's iteration
            size = np.maximum(np.abs(t * d_out), self._b_max(np.abs(t[self.par] * d_in)))
            scale = 1.0 + np.maximum(np.abs(u_out), self._b_max(np.abs(u_in)))
            tiny = active & (size <= 1e-14 * scale)
            if tiny.any():
                done = done | tiny
                dec = np.where(tiny, 0.0, dec)
                if done.all():
                    break
        self.last_modes_ok = bool(done.all())
        self.last_decrement = float(np.max(dec)) if dec.size else 0.0
        if not self.last_modes_ok:
            self.mode_failures += 1
        self.u_in, self.u_out = u_in, u_out
        return u_in, u_out

    def _b_max(self, v):
        out = np.zeros(self.A)
        np.maximum.at(out, self.par, v)
        return out

    def reset_modes(self):
        self.u_in = np.zeros(self.B)
        self.u_out = np.zeros(self.A)

    # ----------------------------------------------------- likelihood, gradient
    def loglik(self, phi, gradient: bool = True):
        """Laplace log-likelihood (and its gradient) at phi = (beta, theta_in, theta_out)."""
        X, fam = self.X, self.fam
        p = X.shape[1]
        beta, t_in, t_out = phi[:p], float(phi[p]), float(phi[p + 1])
        xb = X @ beta
        u_in, u_out = self.modes(xb, t_in, t_out)
        eta = self._eta(xb, t_in, t_out, u_in, u_out)
        mu = fam.mean(eta)
        w, w1 = fam.weights(mu)
        D, c, s, S_b, S_a = self._factor(w, t_in, t_out)
        logdet = np.sum(np.log(D)) + np.sum(np.log(s))
        ll = (float(np.sum(fam.logf(eta))) + fam.const
              - 0.5 * (u_in @ u_in + u_out @ u_out) - 0.5 * logdet)
        if not gradient:
            return ll
        # diagonal elements of H^{-1} (inner, coupling, outer)
        k = c / D
        Hi_aa = 1.0 / s
        Hi_ab = -k * Hi_aa[self.par]
        Hi_bb = 1.0 / D + k * k * Hi_aa[self.par]
        rho = (t_in * t_in * Hi_bb[self.ib] + 2 * t_in * t_out * Hi_ab[self.ib]
               + t_out * t_out * Hi_aa[self.oa])
        q = w1 * rho
        r = fam.resid(mu)
        z_in, z_out = self._solve(D, c, s, t_in * self._sb(q), t_out * self._sa(q))
        Mz = t_in * z_in[self.ib] + t_out * z_out[self.oa]
        g_beta = X.T @ r - 0.5 * (X.T @ q - X.T @ (w * Mz))
        e_in, e_out = u_in[self.ib], u_out[self.oa]
        T_in = np.sum(S_b * (t_in * Hi_bb + t_out * Hi_ab))
        T_out = np.sum(t_out * S_a * Hi_aa) + np.sum(t_in * Hi_ab * S_b)
        R_b, R_a = self._sb(r), self._sa(r)
        g_in = (r @ e_in - 0.5 * (2 * T_in + q @ e_in + z_in @ R_b - Mz @ (w * e_in)))
        g_out = (r @ e_out - 0.5 * (2 * T_out + q @ e_out + z_out @ R_a - Mz @ (w * e_out)))
        return ll, np.concatenate([g_beta, [g_in, g_out]])

    def conditional(self, phi):
        """Conditional modes ``b = theta u`` and conditional SDs of both levels at phi."""
        X, fam = self.X, self.fam
        p = X.shape[1]
        beta, t_in, t_out = phi[:p], float(phi[p]), float(phi[p + 1])
        xb = X @ beta
        u_in, u_out = self.modes(xb, t_in, t_out)
        mu = fam.mean(self._eta(xb, t_in, t_out, u_in, u_out))
        w, _ = fam.weights(mu)
        D, c, s, _, _ = self._factor(w, t_in, t_out)
        k = c / D
        Hi_aa = 1.0 / s
        Hi_bb = 1.0 / D + k * k * Hi_aa[self.par]
        return (t_in * u_in, t_in * np.sqrt(Hi_bb), t_out * u_out, t_out * np.sqrt(Hi_aa))


def fit_nested(prob: NestedLaplace, phi0: np.ndarray, grad_tol: float) -> dict:
    """Maximise the Laplace log-likelihood over (beta, theta_in, theta_out), verify the
    optimum, and return it with the covariance of beta.

    Returns a dict: ``phi``, ``ll``, ``ok`` (the optimum verified), ``gmax`` (largest
    |gradient| over the free parameters), ``eig`` (largest eigenvalue of the Hessian
    over the free parameters), ``modes_ok``, ``decrement``, ``boundary`` (per SD, at 0),
    ``rise`` (per SD at 0: the gain of the log-likelihood one step inwards), ``cov``
    (covariance of beta: the beta block of the inverse of minus the Hessian over the
    free parameters), ``restarts``, ``message``.
    """
    p = prob.X.shape[1]
    npar = p + 2
    bounds = [(None, None)] * p + [(0.0, SD_MAX), (0.0, SD_MAX)]
    opts = {"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9, "maxcor": 20}

    def fun(ph):
        ll, gr = prob.loglik(ph)
        return -ll, -gr

    def hessian(ph, free, h=1e-5):
        Hm = np.zeros((npar, npar))
        for k in free:
            e = np.zeros(npar)
            e[k] = h
            Hm[:, k] = (prob.loglik(ph + e)[1] - prob.loglik(ph - e)[1]) / (2 * h)
        Hf = Hm[np.ix_(free, free)]
        return 0.5 * (Hf + Hf.T)

    def run(start):
        opt = optimize.minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                options=opts)
        phi = opt.x.copy()
        # an SD within BOUNDARY_SD of 0 is put at 0 when that loses (almost) nothing
        for k in (p, p + 1):
            if 0.0 < phi[k] < BOUNDARY_SD:
                trial = phi.copy()
                trial[k] = 0.0
                if prob.loglik(trial, gradient=False) >= prob.loglik(phi, gradient=False) - 1e-9:
                    phi = trial
        at0 = [k for k in (p, p + 1) if phi[k] == 0.0]
        free = [k for k in range(npar) if k not in at0]
        ll, grad = prob.loglik(phi)
        Hf = hessian(phi, free)
        moved_from = phi.copy()
        for _ in range(8):      # Newton polish on the free parameters
            try:
                step = np.linalg.solve(Hf, grad[free])
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
                break
            cand = phi.copy()
            cand[free] = phi[free] - step
            if np.any(cand[[k for k in (p, p + 1) if k in free]] < 0):
                break
            ll_c, grad_c = prob.loglik(cand)
            if ll_c < ll - 1e-9:
                break
            phi, ll, grad = cand, ll_c, grad_c
            if np.max(np.abs(step)) < 1e-10:
                break
        if np.max(np.abs(phi - moved_from)) > 1e-6:
            Hf = hessian(phi, free)
        # the final evaluation finds every mode again from 0, so the check does not
        # rest on warm starts carried over from earlier evaluations
        prob.reset_modes()
        ll, grad = prob.loglik(phi)
        modes_ok, decrement = prob.last_modes_ok, prob.last_decrement
        gmax = float(np.max(np.abs(grad[free])))
        eig = float(np.max(np.linalg.eigvalsh(Hf)))
        rise = {}
        for k in at0:           # at 0 the gradient vanishes (symmetry): step inwards
            trial = phi.copy()
            trial[k] = 1e-3
            rise[k] = prob.loglik(trial, gradient=False) - ll
        ok = bool(gmax < grad_tol and eig < 0 and modes_ok and np.isfinite(ll)
                  and all(v <= 1e-8 for v in rise.values()))
        return dict(phi=phi, ll=float(ll), ok=ok, gmax=gmax, eig=eig, modes_ok=modes_ok,
                    decrement=decrement, free=free, at0=at0, rise=rise, H=Hf,
                    message=str(opt.message))

    best = run(np.asarray(phi0, float))
    restarts = 0
    if not best["ok"]:
        starts = [best["phi"]]
        for t_in, t_out in ((1.0, 1.0), (0.1, 1.0), (1.0, 0.1)):
            s0 = np.asarray(phi0, float).copy()
            s0[p], s0[p + 1] = t_in, t_out
            starts.append(s0)
        for start in starts:
            prob.reset_modes()
            cand = run(np.asarray(start, float))
            restarts += 1
            if cand["ll"] > best["ll"] + 1e-9 or (cand["ok"] and not best["ok"]
                                                  and cand["ll"] >= best["ll"] - 1e-6):
                best = cand
            if best["ok"]:
                break
    free, Hf = best["free"], best["H"]
    try:
        cov_free = np.linalg.inv(-Hf)
    except np.linalg.LinAlgError:
        cov_free = np.full(Hf.shape, np.nan)
    beta_pos = [free.index(k) for k in range(p)]
    cov = cov_free[np.ix_(beta_pos, beta_pos)]
    best.update(cov=cov, restarts=restarts,
                boundary=[best["phi"][p] < BOUNDARY_SD, best["phi"][p + 1] < BOUNDARY_SD])
    return best
