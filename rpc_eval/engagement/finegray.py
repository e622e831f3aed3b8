"""Fine-Gray subdistribution hazard regression for competing risks.

:func:`fine_gray` fits the proportional subdistribution hazards model of Fine and Gray
(1999) for one event type (say dropout) in the presence of a competing event type
(say completion), with the robust variance of Fine and Gray that ``cmprsk::crr``
reports, an optional cluster-robust variance (parents within local authorities), and
predicted cumulative incidence functions (CIF) for covariate profiles.

The model
---------
The subdistribution hazard of the event of interest (cause 1),
``lambda_1(t | x) = -d log(1 - F_1(t | x)) / dt``, is modelled as
``lambda_1(t | x) = lambda_10(t) exp(x' beta)``, so ``F_1(t | x) = 1 - exp(-Lambda_10(t)
exp(x' beta))``: ``exp(beta_j)`` is a subdistribution hazard ratio and a positive
coefficient means a higher cumulative incidence of the event of interest.

Subjects who had a *competing* event stay in the risk set after their event time, with
a weight that decays as the probability of still being uncensored:
``w_j(t) = G(t-) / G(T_j-)`` for ``t > T_j``, where ``G`` is the Kaplan-Meier estimate of
the censoring distribution. Subjects still under observation at ``t`` have weight 1;
censored subjects and subjects who had the event of interest leave the risk set as in
Cox regression. ``beta`` maximises the weighted partial likelihood (Breslow's handling
of tied event times)::

    l(beta) = sum_k [ sum_{i in D_k} x_i' beta - d_k log S0(t_k) ],
    S0(t) = sum_j w_j(t) Y_j(t) exp(x_j' beta),

found by Newton-Raphson (with step halving). Its variance is the sandwich
``I^-1 B I^-1`` of Fine and Gray (1999, section 3): ``I`` is minus the Hessian of
``l`` and ``B = sum_i (eta_i + psi_i)(eta_i + psi_i)'`` where ``eta_i`` is subject
``i``'s weighted score residual and ``psi_i`` the term for having estimated ``G``
(``crr``'s ``var``). With ``cluster=`` the residuals are first added up within each
cluster (Zhou, Fine, Latouche and Labopin 2012), which allows any correlation between
the subjects of a cluster, e.g. parents of one local authority or one family.

Conventions, chosen so that results equal ``cmprsk::crr`` (checked to 1e-8 relative
on two datasets, one with heavy ties; ``tests/reference/finegray.R``)
------------------------------------------------------------------------------------
* ``G`` is ``survfit(Surv(time, status == censored) ~ 1)``: the Kaplan-Meier estimate
  of the censoring times in which subjects with an event at ``t`` are still at risk of
  being censored at ``t`` (the denominator at ``t`` is everyone with time ``>= t``).
* ``G`` is evaluated *just before* a time: ``crr`` evaluates it at ``t (1 - 100 eps)``
  (eps the double-precision machine epsilon), so a censoring at exactly the event time
  does not reduce the weight. At ``t = 0`` this product is 0 itself, so a competing event
  at time 0 is divided by ``G(0)``, which includes the censorings at time 0; rpc_eval
  does the same (it matters only when some subjects are censored at time 0, e.g. parents
  still attending who have not completed a session yet).
* The weight of a subject with a competing event at ``T_j`` is 1 at event times
  ``t <= T_j`` and ``G(t-) / G(T_j-)`` at ``t > T_j``.
* Tied event times: Breslow (every tied event of interest sees the same risk set).
* With ``censoring_groups``, ``G`` is estimated within each group (``crr``'s
  ``cengroup``) and each subject's weight uses its own group's ``G``; the coefficients
  then equal ``crr``'s. The variance differs slightly (0.01-0.5% in the reference
  data): in the ``G``-estimation term ``q_g(u)`` of group ``g``, ``crr`` (2.2-11) uses
  the baseline hazard jumps of group ``g``'s events of interest only, whereas the
  score depends on ``G_g`` through the jumps of *all* events of interest. rpc_eval's
  default (``group_variance="stratified"``) uses all of them; with ``G`` replaced by
  ``exp(-Nelson-Aalen)`` its influence functions equal the numerical derivative of the
  score with respect to each subject's case weight to 1e-8, and ``crr``'s rule does
  not (``tests/test_engagement_finegray.py``). ``group_variance="crr"`` reproduces
  ``crr`` exactly. Without censoring groups the two agree.

Differences from ``survival::finegray`` + ``coxph(weights = fgwt)``: two tie
conventions of ``finegray``'s ``G`` differ from ``crr``'s: (1) events at ``t`` leave the
censoring risk set *before* the censorings at ``t`` (``crr``: everyone with time
``>= t`` is at risk), and (2) at time 0, ``G(0-) = 1``. With few ties the coefficients
differ by about 1e-5 relative; with session counts (heavy ties, events and censorings
at 0) by up to 0.003 on the log scale (2% relative). With both conventions switched,
rpc_eval's coefficients and naive SEs equal ``coxph(..., weights = fgwt, cluster = id, ties = "breslow")``'s to 1e-12, and
its robust SE equals the sandwich of rpc_eval's score residuals *without* the ``psi``
term: ``coxph`` treats the weights as known. ``coxph`` also uses Efron's ties unless
told ``ties = "breslow"``.

Speed: the data are sorted once; every risk-set sum is a cumulative sum over the sorted
times, so each Newton step and the sandwich variance are O(n p^2) after an
O(n log n) sort (``crr``'s Fortran loops over all pairs: O(n^2) per step, O(n^3) in the
worst case for the variance). 100,000 parents take well under 5 seconds.

References
----------
Fine JP, Gray RJ (1999) A proportional hazards model for the subdistribution of a
competing risk. Journal of the American Statistical Association 94:496-509.

Zhou B, Fine J, Latouche A, Labopin M (2012) Competing risks regression for clustered
data. Biostatistics 13:371-383.

Gray RJ (2024) cmprsk: Subdistribution Analysis of Competing Risks. R package 2.2-11
(``crr``, ``predict.crr``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from rpc_eval._util import check_ci
from rpc_eval.engagement.eventcodes import event_status
from rpc_eval.engagement.separation import warn_separation
from rpc_eval.errors import (
    ConvergenceWarning,
    DataQualityWarning,
    RpcEvalError,
    RpcEvalWarning,
)
from rpc_eval.results import Result
from rpc_eval.stats.clusters import warn_few_clusters

__all__ = [
    "fine_gray",
    "FineGrayResult",
    "COEFFICIENT_COLUMNS",
    "CIF_COLUMNS",
]

#: Columns of :attr:`FineGrayResult.coefficients`.
COEFFICIENT_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                       "ci_high", "ratio", "ratio_ci_low", "ratio_ci_high"]
#: Columns of :meth:`FineGrayResult.predict_cif`.
CIF_COLUMNS = ["profile", "time", "cif"]

_EPS = np.finfo(float).eps


# ----------------------------------------------------------------------------- design
@dataclass(frozen=True)
class _Encoding:
    """How the covariate columns become the design matrix (kept for prediction)."""

    covariates: tuple[str, ...]
    categorical: Mapping[str, tuple[Any, ...]]  # column -> levels, reference first
    terms: tuple[str, ...]

    def matrix(self, frame: pd.DataFrame, *, what: str = "data") -> np.ndarray:
        cols: list[np.ndarray] = []
        for cov in self.covariates:
            if cov not in frame.columns:
                raise RpcEvalError(f"{what}: column '{cov}' (a covariate of the model) is missing")
            values = frame[cov]
            if cov in self.categorical:
                levels = self.categorical[cov]
                known = values.isin(levels) | values.isna()
                if not known.all():
                    bad = sorted({str(v) for v in values[~known]})
                    raise RpcEvalError(
                        f"{what}: column '{cov}' has level(s) {bad} that the model was not "
                        f"fitted with (known levels: {[str(v) for v in levels]})"
                    )
                for level in levels[1:]:
                    cols.append((values == level).to_numpy(dtype=float))
            else:
                try:
                    cols.append(pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan))
                except (TypeError, ValueError) as exc:
                    raise RpcEvalError(
                        f"{what}: column '{cov}' must be numeric, as in the fitted data"
                    ) from exc
        x = np.column_stack(cols) if cols else np.empty((len(frame), 0))
        if np.isnan(x).any():
            raise RpcEvalError(f"{what}: covariates must not be missing")
        return x


def _is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _build_encoding(frame: pd.DataFrame, covariates: Sequence[str],
                    reference: Mapping[str, Any] | None) -> _Encoding:
    reference = dict(reference or {})
    unknown = set(reference) - set(covariates)
    if unknown:
        raise RpcEvalError(f"reference= names column(s) {sorted(unknown)} that are not covariates")
    categorical: dict[str, tuple[Any, ...]] = {}
    terms: list[str] = []
    for cov in covariates:
        series = frame[cov]
        if pd.api.types.is_bool_dtype(series):
            terms.append(cov)
            continue
        if not _is_categorical(series) and cov not in reference:
            terms.append(cov)
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = set(series.dropna().unique())
            levels = [lv for lv in series.cat.categories if lv in present]
        else:
            levels = sorted(series.dropna().unique(), key=lambda v: (str(type(v)), v))
        if cov in reference:
            ref = reference[cov]
            if ref not in levels:
                raise RpcEvalError(
                    f"reference level {ref!r} of '{cov}' does not occur in the data "
                    f"(levels: {[str(v) for v in levels]})"
                )
            levels = [ref] + [lv for lv in levels if lv != ref]
        categorical[cov] = tuple(levels)
        terms.extend(f"{cov}[T.{lv}]" for lv in levels[1:])
    return _Encoding(tuple(covariates), categorical, tuple(terms))


# ------------------------------------------------------------------------ core algebra
def _km_censoring_before(times: np.ndarray, censored: np.ndarray,
                         at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier of the censoring times of one group, evaluated as ``crr`` does.

    ``survfit(Surv(times, censored) ~ 1)`` (everyone with time >= t at risk at t),
    then the step function at ``at * (1 - 100 eps)`` ("just before", except at 0).
    """
    ut, first = np.unique(times, return_index=True)
    n_at_risk = len(times) - first  # times are sorted ascending
    n_cens = np.bincount(np.searchsorted(ut, times[censored]), minlength=len(ut))
    surv = np.cumprod(1.0 - n_cens / n_at_risk)
    pos = np.searchsorted(ut, at * (1.0 - 100.0 * _EPS), side="right")
    return np.where(pos > 0, surv[np.maximum(pos - 1, 0)], 1.0)


@dataclass
class _Problem:
    """The sorted data and everything that does not depend on beta."""

    time: np.ndarray      # sorted ascending
    x: np.ndarray         # n x p
    fail: np.ndarray      # bool, event of interest
    comp: np.ndarray      # bool, competing event
    cens: np.ndarray      # bool, censored
    grp: np.ndarray       # censoring group code 0..ncg-1
    ncg: int
    uft: np.ndarray       # distinct event-of-interest times (D)
    d: np.ndarray         # events of interest at each (D)
    a: np.ndarray         # number of uft <= time, per subject (0..D)
    g_own: np.ndarray     # G_{g_i}(T_i-) per subject
    g_at: np.ndarray      # ncg x D: G_g(u_k-)
    comp_idx: np.ndarray  # indices of competing subjects
    x_fail_sum: np.ndarray
    offset: np.ndarray    # 0, or -inf for rows of a group without events (separation)

    @classmethod
    def build(cls, time: np.ndarray, status: np.ndarray, x: np.ndarray,
              grp: np.ndarray, offset: np.ndarray | None = None) -> _Problem:
        order = np.argsort(time, kind="stable")
        time = time[order]
        status = status[order]
        x = np.ascontiguousarray(x[order])
        grp = grp[order]
        offset = np.zeros(len(time)) if offset is None else offset[order]
        ncg = int(grp.max()) + 1 if len(grp) else 1
        fail, comp, cens = status == 1, status == 2, status == 0
        uft = np.unique(time[fail])
        a = np.searchsorted(uft, time, side="right")
        d = np.bincount(a[fail], minlength=len(uft) + 1)[1:].astype(float)
        g_own = np.empty(len(time))
        g_at = np.empty((ncg, len(uft)))
        for g in range(ncg):
            m = grp == g
            g_own[m] = _km_censoring_before(time[m], cens[m], time[m])
            g_at[g] = _km_censoring_before(time[m], cens[m], uft)
        return cls(time, x, fail, comp, cens, grp, ncg, uft, d, a, g_own, g_at,
                   np.flatnonzero(comp), x[fail].sum(axis=0), offset)

    # --- risk-set sums at the D event times -------------------------------------------
    def risk_sums(self, beta: np.ndarray) -> dict[str, Any]:
        D, p = len(self.uft), self.x.shape[1]
        lin = self.x @ beta + self.offset
        shift = lin.max()
        e = np.exp(lin - shift)
        # subjects still under observation: at risk at u_k for k <= a_j
        nb = D + 1
        w0 = np.bincount(self.a, weights=e, minlength=nb)
        s0 = np.cumsum(w0[::-1])[::-1][1:]
        ex = e[:, None] * self.x
        w1 = np.empty((nb, p))
        for c in range(p):
            w1[:, c] = np.bincount(self.a, weights=ex[:, c], minlength=nb)
        s1 = np.cumsum(w1[::-1], axis=0)[::-1][1:]
        # competing events: at risk at u_k > T_j (k > a_j) with weight G(u_k-)/G(T_j-)
        ci = self.comp_idx
        if len(ci):
            key = self.a[ci] * self.ncg + self.grp[ci]
            v = e[ci] / self.g_own[ci]
            c0 = np.bincount(key, weights=v, minlength=nb * self.ncg).reshape(nb, self.ncg)
            c0 = np.cumsum(c0, axis=0)[:-1]  # row k-1: sum over a_j < k  (k = 1..D)
            s0 = s0 + np.einsum("kg,gk->k", c0, self.g_at)
            vx = v[:, None] * self.x[ci]
            c1 = np.empty((nb * self.ncg, p))
            for c in range(p):
                c1[:, c] = np.bincount(key, weights=vx[:, c], minlength=nb * self.ncg)
            c1 = np.cumsum(c1.reshape(nb, self.ncg, p), axis=0)[:-1]
            s1 = s1 + np.einsum("kgp,gk->kp", c1, self.g_at)
        return {"lin": lin, "shift": shift, "e": e, "s0": s0, "s1": s1}

    def loglik(self, beta: np.ndarray) -> float:
        r = self.risk_sums(beta)
        return float(r["lin"][self.fail].sum()
                     - np.sum(self.d * (np.log(r["s0"]) + r["shift"])))

    def derivatives(self, beta: np.ndarray) -> dict[str, Any]:
        """Log pseudo-likelihood, score, information and the pieces the variance uses."""
        r = self.risk_sums(beta)
        s0, s1, e = r["s0"], r["s1"], r["e"]
        xbar = s1 / s0[:, None]
        h = self.d / s0  # baseline hazard jumps (scaled by exp(shift))
        loglik = float(r["lin"][self.fail].sum() - np.sum(self.d * (np.log(s0) + r["shift"])))
        score = self.x_fail_sum - self.d @ xbar
        # cum_h[a] = sum_{k <= a} h_k ; hg[a, g] = sum_{k > a} h_k G_g(u_k-)
        cum_h = np.concatenate([[0.0], np.cumsum(h)])
        hg_terms = h[None, :] * self.g_at                      # ncg x D
        hg = _tail_sums(hg_terms).T                           # (D+1) x ncg, row a: k > a
        c = cum_h[self.a].copy()
        ci = self.comp_idx
        c[ci] += hg[self.a[ci], self.grp[ci]] / self.g_own[ci]
        wx = self.x * (e * c)[:, None]
        info = wx.T @ self.x - (xbar * self.d[:, None]).T @ xbar
        return {"loglik": loglik, "score": score, "info": info, "xbar": xbar, "h": h,
                "e": e, "cum_h": cum_h, "hg": hg, "shift": r["shift"], "s0": s0}

    # --- influence functions (crr's crrvv) --------------------------------------------
    def influence(self, beta: np.ndarray, der: dict[str, Any],
                  q_rule: str = "stratified", g_term: bool = True) -> np.ndarray:
        """Per-subject influence ``eta_i + psi_i`` on the score (n x p, sorted order).

        ``eta_i`` is the weighted score residual and ``psi_i`` the term for estimating
        ``G`` (``crr``'s ``crrvv``). ``q_rule`` says which events of interest enter the
        baseline-hazard jumps of ``q_g(u)`` with censoring groups: "stratified" all of
        them, "crr" only those of group ``g`` (as cmprsk 2.2-11/2.2-12). ``g_term=False``
        leaves ``psi`` out (the weights treated as known, as ``coxph`` on ``finegray``
        data).
        """
        x, a, e, h, xbar = self.x, self.a, der["e"], der["h"], der["xbar"]
        n, p = x.shape
        D, ncg = len(self.uft), self.ncg
        hx = h[:, None] * xbar
        cum_hx = np.vstack([np.zeros((1, p)), np.cumsum(hx, axis=0)])    # (D+1) x p
        hg = der["hg"]                                                    # (D+1) x ncg
        hg1 = _tail_sums(self.g_at[:, :, None] * hx[None, :, :])          # ncg x (D+1) x p
        # score residual: dN part, then the compensator while under observation ...
        res = np.zeros((n, p))
        fi = np.flatnonzero(self.fail)
        res[fi] = x[fi] - xbar[a[fi] - 1]
        res -= e[:, None] * (x * der["cum_h"][a][:, None] - cum_hx[a])
        # ... and, for competing events, the weighted compensator after the event
        ci = self.comp_idx
        if len(ci):
            f = (e[ci] / self.g_own[ci])[:, None]
            res[ci] -= f * (x[ci] * hg[a[ci], self.grp[ci]][:, None]
                            - hg1[self.grp[ci], a[ci]])
        # psi: the term for estimating G, from the censoring martingales
        cens_idx = np.flatnonzero(self.cens)
        if not g_term or len(cens_idx) == 0 or len(ci) == 0 or D == 0:
            return res
        if q_rule == "crr" and ncg > 1:
            # jumps from the events of interest of group g only
            fail_g = np.bincount((a[fi] - 1) * ncg + self.grp[fi],
                                 minlength=D * ncg).reshape(D, ncg).T       # ncg x D
            hq = fail_g * (h / self.d)[None, :] * self.g_at                 # ncg x D
        else:
            hq = h[None, :] * self.g_at
        q0 = _tail_sums(hq)                                                # ncg x (D+1)
        q1 = _tail_sums(hq[:, :, None] * xbar[None, :, :])                 # ncg x (D+1) x p
        # failures at u_k >= T_c  <=>  k > b_c with b_c = #(uft < T_c)
        v = e / self.g_own
        for g in range(ncg):
            in_g = np.flatnonzero(self.grp == g)
            c_g = cens_idx[self.grp[cens_idx] == g]
            comp_g = in_g[self.comp[in_g]]
            if len(c_g) == 0 or len(comp_g) == 0:
                continue
            t_c = self.time[c_g]
            b = np.searchsorted(self.uft, t_c, side="left")
            # A0, A1: sums over the competing events of group g with T_j < T_c
            pos = np.searchsorted(self.time[comp_g], t_c, side="left")
            a0 = np.concatenate([[0.0], np.cumsum(v[comp_g])])[pos]
            a1 = np.vstack([np.zeros((1, p)),
                            np.cumsum(v[comp_g][:, None] * x[comp_g], axis=0)])[pos]
            q = q0[g, b][:, None] * a1 - q1[g, b] * a0[:, None]
            t_g = self.time[in_g]
            y = len(t_g) - np.searchsorted(t_g, t_c, side="left")  # at risk in group g
            cum = np.vstack([np.zeros((1, p)), np.cumsum(q / (y * y)[:, None], axis=0)])
            upto = np.searchsorted(t_c, t_g, side="right")  # censorings at T_c <= T_i
            res[in_g] -= cum[upto]
            res[c_g] += q / y[:, None]
        return res


def _tail_sums(terms: np.ndarray) -> np.ndarray:
    """``out[g, a] = sum_{k > a} terms[g, k]`` for a = 0..D (axis 1 of length D -> D+1)."""
    rev = np.cumsum(terms[:, ::-1], axis=1)[:, ::-1]
    pad = np.zeros((terms.shape[0], 1) + terms.shape[2:])
    return np.concatenate([rev, pad], axis=1)


# ------------------------------------------------------------------------------ result
@dataclass(repr=False)
class FineGrayResult(Result):
    """A fitted Fine-Gray model (see :func:`fine_gray`).

    Attributes
    ----------
    coefficients : pandas.DataFrame
        One row per term (:data:`COEFFICIENT_COLUMNS`): ``term``, ``estimate`` (log
        subdistribution hazard ratio), ``std_error`` (robust, or cluster-robust with
        ``cluster=``), ``statistic`` (Wald z), ``p_value`` (two-sided), ``ci_low``,
        ``ci_high`` (Wald limits of ``estimate``, log scale), ``ratio``
        (``exp(estimate)``, the subdistribution hazard ratio) and its limits
        ``ratio_ci_low``, ``ratio_ci_high``. A term without a finite estimate
        (separation: its group has no event of interest) is ``-inf`` (or ``+inf``
        when the reference group has none) with NaN SE and limits.
    cov : pandas.DataFrame
        The variance matrix behind ``se`` (``crr``'s ``var``).
    cov_naive : pandas.DataFrame
        Inverse information (``crr``'s ``invinf``); not valid for inference.
    loglik, loglik_null : float
        Log pseudo-likelihood at the estimate and at ``beta = 0`` (``crr``'s
        ``loglik`` and ``loglik.null``).
    n, n_events, n_competing, n_censored : int
        Subjects used, and how many had the event of interest, a competing event, or
        were censored.
    n_dropped : int
        Rows left out for a missing value in a column the model uses.
    n_clusters : int or None
        Clusters of the cluster-robust variance.
    converged : bool
        Newton-Raphson met its convergence criterion.
    n_iter : int
        Newton-Raphson steps taken.
    baseline : pandas.DataFrame
        ``time`` (distinct times of the event of interest), ``hazard`` (jump of the
        Breslow-type baseline cumulative subdistribution hazard, ``crr``'s ``bfitj``)
        and ``cumhaz``, for covariates all zero (reference levels).
    """

    coefficients: pd.DataFrame
    cov: pd.DataFrame
    cov_naive: pd.DataFrame
    loglik: float
    loglik_null: float
    n: int
    n_events: int
    n_competing: int
    n_censored: int
    n_clusters: int | None
    converged: bool
    n_iter: int
    baseline: pd.DataFrame
    event_of_interest: Any
    ci: float
    variance: str
    _encoding: _Encoding = field(repr=False)
    _log_scale: float = field(repr=False, default=0.0)
    _hazard_scaled: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    n_dropped: int = 0
    _fitted: np.ndarray | None = field(repr=False, default=None)
    _beta_fit: np.ndarray | None = field(repr=False, default=None)
    _empty_levels: dict[str, tuple[Any, ...]] = field(repr=False, default_factory=dict)

    # ---- prediction ------------------------------------------------------------------
    def predict_cif(self, profiles: pd.DataFrame, times: Sequence[float] | None = None
                    ) -> pd.DataFrame:
        """Predicted cumulative incidence of the event of interest for covariate profiles.

        ``F_1(t | x) = 1 - exp(-exp(x' beta) Lambda_10(t))`` with the Breslow-type
        baseline ``Lambda_10(t) = sum_{t_k <= t} d_k / S0(t_k)`` (as ``predict.crr``).

        Parameters
        ----------
        profiles : pandas.DataFrame
            One row per profile, with every covariate column of the model (categorical
            ones as levels, e.g. ``"B"``). The index labels the profiles.
        times : sequence of float, optional
            Times to predict at (the CIF is a step function, right-continuous). Default:
            every distinct time of the event of interest, as ``predict.crr``.

        Returns
        -------
        pandas.DataFrame
            Columns ``profile`` (the index label of the profile), ``time``, ``cif``.
        """
        if not isinstance(profiles, pd.DataFrame) or len(profiles) == 0:
            raise RpcEvalError("profiles must be a DataFrame with one row per profile")
        x = self._encoding.matrix(profiles, what="profiles")
        offset = np.zeros(len(profiles))
        for cov, empty in self._empty_levels.items():
            offset[profiles[cov].isin(empty).to_numpy()] = -np.inf
        if self._fitted is not None:
            x, beta = x[:, self._fitted], self._beta_fit
        else:
            beta = self.coefficients["estimate"].to_numpy()
        cum = np.cumsum(self._hazard_scaled)
        uft = self.baseline["time"].to_numpy()
        if times is None:
            t = uft
            cum_t = cum
        else:
            t = np.asarray(times, dtype=float).ravel()
            if np.isnan(t).any():
                raise RpcEvalError("times must not be missing")
            pos = np.searchsorted(uft, t, side="right")
            cum_t = np.where(pos > 0, cum[np.maximum(pos - 1, 0)], 0.0)
        lin = x @ beta + offset - self._log_scale
        cif = -np.expm1(-np.exp(lin)[:, None] * cum_t[None, :])
        return pd.DataFrame({
            "profile": np.repeat(np.asarray(profiles.index, dtype=object), len(t)),
            "time": np.tile(t, len(x)),
            "cif": cif.ravel(),
        }, columns=CIF_COLUMNS)

    def plot_cif(self, profiles: pd.DataFrame, ax: Any = None, *,
                 event_label: str | None = None, xlabel: str = "Sessions attended",
                 title: str | None = None) -> Any:
        """Step plot of :meth:`predict_cif` for each profile; returns the Axes.

        Drawn in the accessible style of :mod:`rpc_eval.engagement.plots` (Okabe-Ito
        colours with line styles, labels in words); ``event_label`` names the event
        (default: "Completed" for code 2, "Dropped out" for code 1, else the code).
        """
        from rpc_eval.engagement.plots import event_label as _word
        from rpc_eval.engagement.plots import plot_cumulative_incidence

        pred = self.predict_cif(profiles)
        name = event_label or _word(self.event_of_interest)
        table = pd.DataFrame({"cause": pred["profile"].astype(str), "time": pred["time"],
                              "cif": pred["cif"]})
        return plot_cumulative_incidence(
            table, ax=ax, stacked=False, group=None, xlabel=xlabel,
            ylabel=f"Cumulative incidence: {name.lower()}", title=title,
            legend_title="Profile")

    # ---- display ---------------------------------------------------------------------
    def _title(self) -> str:
        return "Fine-Gray subdistribution hazards model"

    def _facts(self) -> list[tuple[str, Any]]:
        facts: list[tuple[str, Any]] = [
            ("Observations", self.n), ("Events of interest", self.n_events),
            ("Log pseudo-likelihood", self.loglik), ("Competing events", self.n_competing),
            ("Censored", self.n_censored), ("Event of interest", self.event_of_interest),
            ("Standard errors", self.variance), ("Converged", self.converged),
            ("Iterations", self.n_iter)]
        if self.n_dropped:
            facts.append(("Rows left out (missing values)", self.n_dropped))
        return facts

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"coefficients": self.coefficients}

    def plot(self, ax: Any = None, *, show_ci: bool = True, title: str | None = None) -> Any:
        """Forest plot of the subdistribution hazard ratios with their intervals."""
        from rpc_eval.engagement.plots import plot_ratios

        return plot_ratios(self.coefficients, ax=ax, show_ci=show_ci,
                           xlabel="Subdistribution hazard ratio (log scale)", title=title)


# ------------------------------------------------------------------------------ fitter
def _codes(series: pd.Series) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(series, sort=True)
    return codes.astype(np.int64), len(uniques)


def fine_gray(
    data: pd.DataFrame,
    duration: str,
    event: str,
    *,
    covariates: Sequence[str] | str,
    event_of_interest: Any = 1,
    censored: Any = 0,
    cluster: str | None = None,
    ci: float = 0.95,
    censoring_groups: str | None = None,
    reference: Mapping[str, Any] | None = None,
    group_variance: str = "stratified",
    max_iter: int = 50,
    tol: float = 1e-9,
) -> FineGrayResult:
    """Fine-Gray proportional subdistribution hazards regression.

    Formula: ``lambda_1(t | x) = lambda_10(t) exp(x' beta)`` for the subdistribution
    hazard of the event of interest; competing events stay in the risk set with
    weight ``G(t-) / G(T_j-)`` (``G`` the Kaplan-Meier estimate of the censoring
    distribution); ``beta`` maximises the weighted Breslow partial likelihood by
    Newton-Raphson; the variance is Fine and Gray's sandwich including the term for
    estimating ``G`` (``crr``'s ``var``). See the module docstring for the tie
    conventions, which follow ``cmprsk::crr`` exactly.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per subject (parent).
    duration : str
        Column of times from start to the event or censoring (numbers >= 0, e.g.
        ``sessions`` or ``days``).
    event : str
        Column of event codes: ``censored`` (default 0) for censored, any other value
        an event type (e.g. 1 dropout, 2 completion).
    covariates : list of str (keyword)
        Covariate columns. Numeric and boolean columns enter as they are; text or
        categorical columns become treatment dummies named ``col[T.level]`` against a
        reference level: the first category of a pandas Categorical, otherwise the first
        level in sorted order (as R's ``factor()``), unless ``reference`` says otherwise.
    cluster : str, optional
        Column identifying clusters (e.g. ``la_code``). The influence functions (score
        residual plus the ``G``-estimation term) are summed within clusters before the
        sandwich is formed (Zhou et al. 2012), so any correlation within a cluster is
        allowed; no small-sample correction is applied, so use it with many clusters
        (a :class:`~rpc_eval.errors.DataQualityWarning` below 10, the package's one
        threshold, :mod:`rpc_eval.stats.clusters`). ``crr`` has no such option.
    ci : float
        Confidence level of ``ci_low``/``ci_high`` (Wald, on the log scale).
    censoring_groups : str, optional
        Column of groups within which ``G`` is estimated separately (``crr``'s
        ``cengroup``), for censoring that depends on the group.
    event_of_interest : scalar
        The event code modelled (default 1); every other non-censored code is
        competing. Numbers or text codes.
    censored : scalar or None
        The code of censored subjects in ``event`` (default 0). With text codes
        (``"ongoing"``, ``"dropped_out"``, ``"completed"``) give it, e.g.
        ``censored="ongoing"``: a censoring code that does not occur in a text column is
        refused with the codes found (otherwise every ``"ongoing"`` row would silently be
        a competing event). Numeric codes without it (complete follow-up) are fitted with
        a :class:`~rpc_eval.errors.DataQualityWarning`. ``None`` when no subject is
        censored.
    reference : dict, optional
        ``{column: level}`` reference levels of categorical covariates; a numeric
        column named here is treated as categorical.
    group_variance : {"stratified", "crr"}
        With ``censoring_groups``: "stratified" (default) uses each group's own
        competing events in the ``G`` term of the variance; "crr" pools them as
        ``cmprsk::crr`` does. Identical without censoring groups.
    max_iter, tol : int, float
        Newton-Raphson stops when the largest step is below
        ``tol * max(1, |beta|)``.

    Returns
    -------
    FineGrayResult
        ``.coefficients`` (:data:`COEFFICIENT_COLUMNS`),
        ``.loglik``, ``.n``, ``.n_events``, ``.converged``, ``.predict_cif()``,
        ``.plot_cif()``, ``.summary()``.

    Raises
    ------
    RpcEvalError
        Missing columns, negative or non-numeric durations, no event of interest, a
        censoring code that does not occur in ``event`` (the codes found are named),
        no covariates, a constant covariate or collinear covariates.

    Warns
    -----
    DataQualityWarning
        Rows with missing values were dropped; a categorical level has one subject;
        fewer than 10 clusters.
    SeparationWarning
        (a :class:`~rpc_eval.errors.DataQualityWarning`) A categorical level without
        any event of interest: its term is reported as ``-inf`` (``+inf`` for the other
        levels when it is the reference level) with NaN SE and limits, and the other
        estimates are the limit of the fit (its rows keep their place in the censoring
        distribution ``G`` but weigh nothing in the risk sets).
    ConvergenceWarning
        Newton-Raphson did not converge (e.g. monotone likelihood).
    RpcEvalWarning
        Every cluster has one subject.

    Notes
    -----
    R equivalent: ``cmprsk::crr(ftime, fstatus, cov1 = model.matrix(~ ...)[, -1],
    failcode = 1, cencode = 0)`` (coefficients, ``sqrt(diag(fit$var))``, ``loglik``),
    ``predict(fit, cov1 = ...)`` for the CIF. ``survival::finegray`` + weighted
    ``coxph`` gives slightly different estimates with tied times (see the module
    docstring).

    References
    ----------
    Fine JP, Gray RJ (1999) A proportional hazards model for the subdistribution of a
    competing risk. JASA 94:496-509.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> n = 400
    >>> x = rng.binomial(1, 0.5, n)
    >>> t1, t2 = rng.exponential(1 / np.exp(0.5 * x)), rng.exponential(1.0, n)
    >>> c = rng.uniform(0, 3, n)
    >>> time = np.minimum(np.minimum(t1, t2), c)
    >>> ev = np.select([time == t1, time == t2], [1, 2], 0)
    >>> df = pd.DataFrame({"time": time, "event": ev, "x": x})
    >>> fit = fine_gray(df, "time", "event", covariates=["x"], event_of_interest=1)
    >>> list(fit.coefficients.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['term', 'estimate', 'std_error', 'statistic', 'p_value', 'ci_low', 'ci_high',
     'ratio', 'ratio_ci_low', 'ratio_ci_high']
    >>> fit.n, fit.converged
    (400, True)
    >>> cif = fit.predict_cif(pd.DataFrame({"x": [0, 1]}, index=["x=0", "x=1"]), times=[1.0])
    >>> bool(cif["cif"].iloc[1] > cif["cif"].iloc[0])
    True
    """
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError("data must be a pandas DataFrame with one row per subject")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise RpcEvalError("fine_gray needs at least one covariate")
    if len(set(covariates)) != len(covariates):
        raise RpcEvalError("covariates are listed more than once")
    ci = check_ci(ci)
    if group_variance not in ("stratified", "crr"):
        raise RpcEvalError("group_variance must be 'stratified' or 'crr'")
    extra = [c for c in (cluster, censoring_groups) if c is not None]
    needed = [duration, event, *covariates, *extra]
    missing_cols = [c for c in dict.fromkeys(needed) if c not in data.columns]
    if missing_cols:
        raise RpcEvalError(
            f"column(s) {missing_cols} not found in data (columns: {list(data.columns)})"
        )
    if duration in covariates or event in covariates:
        raise RpcEvalError("the duration and event columns cannot also be covariates")

    frame = data[list(dict.fromkeys(needed))]
    incomplete = frame.isna().any(axis=1)
    if incomplete.all():
        raise RpcEvalError("every row has a missing value in the columns the model uses")
    if incomplete.any():
        counts = frame.isna().sum()
        detail = ", ".join(f"{c}: {int(k)}" for c, k in counts.items() if k)
        warnings.warn(
            f"fine_gray: {int(incomplete.sum())} of {len(frame)} rows dropped for missing "
            f"values ({detail})", DataQualityWarning, stacklevel=2)
        frame = frame.loc[~incomplete]

    try:
        time = pd.to_numeric(frame[duration]).to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise RpcEvalError(f"duration column '{duration}' must be numeric") from exc
    if not np.isfinite(time).all():
        raise RpcEvalError(f"duration column '{duration}' has infinite values")
    if (time < 0).any():
        raise RpcEvalError(
            f"duration column '{duration}' has {int((time < 0).sum())} negative value(s)"
        )
    status = event_status(frame[event], event, event_of_interest, censored,
                          model="fine_gray")
    n_events = int((status == 1).sum())

    enc = _build_encoding(frame, covariates, reference)
    x_all = enc.matrix(frame)
    fitted, fixed, offset, empty_levels, separated = _separation(frame, enc, status)
    x = x_all[:, fitted]
    _check_design(frame, enc, x, status, [t for t, k in zip(enc.terms, fitted, strict=True)
                                          if k])
    warn_separation("the Fine-Gray model", separated)

    if censoring_groups is not None:
        grp, _ = _codes(frame[censoring_groups])
    else:
        grp = np.zeros(len(frame), dtype=np.int64)

    prob = _Problem.build(time, status, x, grp, offset)
    beta, der, converged, n_iter = _newton(prob, max_iter=max_iter, tol=tol)
    p = x.shape[1]

    try:
        info_inv = np.linalg.inv(der["info"])
    except np.linalg.LinAlgError as exc:  # pragma: no cover - guarded by _check_design
        raise RpcEvalError("the information matrix is singular; check for collinear "
                           "covariates") from exc
    infl = prob.influence(beta, der, q_rule=group_variance)
    n_clusters = None
    if cluster is not None:
        order = np.argsort(time, kind="stable")
        cl, n_clusters = _codes(frame[cluster].iloc[order])
        if n_clusters < 2:
            raise RpcEvalError(
                f"cluster column '{cluster}' has {n_clusters} cluster(s); a cluster-robust "
                "variance needs at least 2 (leave cluster= out for one cluster)"
            )
        if n_clusters == len(frame):
            warnings.warn(
                f"cluster column '{cluster}' has one subject per cluster: the cluster-robust "
                "variance equals the ordinary robust variance", RpcEvalWarning, stacklevel=2)
        else:
            warn_few_clusters(n_clusters, cluster, "the Fine-Gray model")
        summed = np.zeros((n_clusters, p))
        for c in range(p):
            summed[:, c] = np.bincount(cl, weights=infl[:, c], minlength=n_clusters)
        infl = summed
    meat = infl.T @ infl
    cov = info_inv @ meat @ info_inv
    cov = (cov + cov.T) / 2

    zcrit = stats.norm.ppf(0.5 + ci / 2)
    k = len(enc.terms)
    est, se = np.full(k, np.nan), np.full(k, np.nan)
    est[fitted], se[fitted] = beta, np.sqrt(np.diag(cov))
    for j, value in fixed.items():
        est[j] = value
    with np.errstate(over="ignore", invalid="ignore"):
        z = est / se
        coefficients = pd.DataFrame({
            "term": list(enc.terms),
            "estimate": est,
            "std_error": se,
            "statistic": z,
            "p_value": 2 * stats.norm.sf(np.abs(z)),
            "ci_low": est - zcrit * se,
            "ci_high": est + zcrit * se,
            "ratio": np.exp(est),
            "ratio_ci_low": np.exp(est - zcrit * se),
            "ratio_ci_high": np.exp(est + zcrit * se),
        }, columns=COEFFICIENT_COLUMNS)
    full_cov = np.full((k, k), np.nan)
    full_cov[np.ix_(fitted, fitted)] = cov
    full_naive = np.full((k, k), np.nan)
    full_naive[np.ix_(fitted, fitted)] = info_inv

    # baseline for covariates 0: h_k = d_k / S0_k, S0 computed with exp(x'b - shift)
    hazard_scaled = der["h"]
    shift = der["shift"]
    hazard = hazard_scaled * np.exp(-shift)
    baseline = pd.DataFrame({"time": prob.uft, "hazard": hazard, "cumhaz": np.cumsum(hazard)})
    terms = list(enc.terms)
    if cluster is not None:
        variance = f"cluster-robust by '{cluster}' ({n_clusters} clusters)"
    else:
        variance = "robust (Fine & Gray 1999 sandwich, as cmprsk::crr)"
    if censoring_groups is not None:
        variance += (f"; G estimated within groups of '{censoring_groups}' "
                     f"(group_variance='{group_variance}')")
    return FineGrayResult(
        coefficients=coefficients,
        cov=pd.DataFrame(full_cov, index=terms, columns=terms),
        cov_naive=pd.DataFrame(full_naive, index=terms, columns=terms),
        loglik=der["loglik"],
        loglik_null=prob.loglik(np.zeros(p)),
        n=len(frame),
        n_events=n_events,
        n_competing=int((status == 2).sum()),
        n_censored=int((status == 0).sum()), n_dropped=int(incomplete.sum()),
        n_clusters=n_clusters,
        converged=converged,
        n_iter=n_iter,
        baseline=baseline,
        event_of_interest=event_of_interest,
        ci=ci,
        variance=variance,
        _encoding=enc,
        _log_scale=shift,
        _hazard_scaled=hazard_scaled,
        _fitted=fitted if not fitted.all() else None,
        _beta_fit=beta,
        _empty_levels=empty_levels,
    )


def _separation(frame: pd.DataFrame, enc: _Encoding, status: np.ndarray
                ) -> tuple[np.ndarray, dict[int, float], np.ndarray,
                           dict[str, tuple[Any, ...]], list[tuple[str, str, str]]]:
    """Categorical levels without any event of interest (docs/conventions.md, separation).

    Returns which terms are fitted, the fixed value of the others (``-inf``; ``+inf``
    for levels with events when the reference level has none; NaN for a level without
    events compared with a reference without events), the offset of each row (``-inf``
    for rows of a level without events: they weigh nothing in the risk sets, the limit
    of the likelihood), the empty levels per covariate and the warning's items.
    """
    fitted = np.ones(len(enc.terms), dtype=bool)
    fixed: dict[int, float] = {}
    offset = np.zeros(len(frame))
    empty_levels: dict[str, tuple[Any, ...]] = {}
    items: list[tuple[str, str, str]] = []
    col = 0
    for cov in enc.covariates:
        if cov not in enc.categorical:
            col += 1
            continue
        levels = enc.categorical[cov]
        values = frame[cov]
        events = values[status == 1].value_counts()
        empty = tuple(lv for lv in levels if events.get(lv, 0) == 0)
        position = {lv: col + k for k, lv in enumerate(levels[1:])}
        col += len(levels) - 1
        if not empty or len(empty) == len(levels):
            continue
        empty_levels[cov] = empty
        offset[values.isin(empty).to_numpy()] = -np.inf
        ref_empty = levels[0] in empty
        for lv in levels[1:]:
            if lv in empty:
                fitted[position[lv]] = False
                fixed[position[lv]] = np.nan if ref_empty else -np.inf
                items.append((enc.terms[position[lv]], f"{cov} = {lv!r}",
                              "no event of interest"))
        if ref_empty:
            with_events = [lv for lv in levels[1:] if lv not in empty]
            fitted[position[with_events[0]]] = False  # the baseline of the fit
            for lv in with_events:
                fixed[position[lv]] = np.inf
                items.append((enc.terms[position[lv]], f"{cov} = {lv!r}",
                              f"the reference group {cov} = {levels[0]!r} has no event "
                              "of interest"))
    return fitted, fixed, offset, empty_levels, items


def _check_design(frame: pd.DataFrame, enc: _Encoding, x: np.ndarray,
                  status: np.ndarray, terms: list[str]) -> None:
    """Raise for designs whose coefficients cannot be estimated; warn for fragile ones."""
    for cov in enc.covariates:
        values = frame[cov]
        if values.nunique() < 2:
            raise RpcEvalError(
                f"covariate '{cov}' has a single value ({values.iloc[0]!r}) in the rows used: "
                "its effect cannot be estimated; leave it out"
            )
        if cov in enc.categorical:
            counts = values.value_counts()
            for level in enc.categorical[cov]:
                if counts.get(level, 0) == 1:
                    warnings.warn(
                        f"level {level!r} of '{cov}' has a single subject: its hazard ratio "
                        "is very imprecise", DataQualityWarning, stacklevel=3)
    xc = x - x.mean(axis=0)
    rank = np.linalg.matrix_rank(xc)
    if rank < x.shape[1]:
        # name a minimal set of terms that are linear combinations of earlier ones
        dependent: list[str] = []
        for j in range(x.shape[1]):
            if np.linalg.matrix_rank(xc[:, : j + 1]) <= j - len(dependent):
                dependent.append(terms[j])
        raise RpcEvalError(
            f"covariates are collinear: term(s) {dependent} are linear combinations of "
            "earlier terms; leave one of them out"
        )


def _newton(prob: _Problem, *, max_iter: int, tol: float
            ) -> tuple[np.ndarray, dict[str, Any], bool, int]:
    p = prob.x.shape[1]
    beta = np.zeros(p)
    der = prob.derivatives(beta)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        try:
            step = np.linalg.solve(der["info"], der["score"])
        except np.linalg.LinAlgError:
            break
        # step halving while the pseudo-likelihood does not increase (as crr)
        new = beta + step
        new_der = prob.derivatives(new)
        halvings = 0
        while (not np.isfinite(new_der["loglik"])
               or new_der["loglik"] < der["loglik"] - 1e-12 * max(1.0, abs(der["loglik"]))):
            halvings += 1
            if halvings > 30:
                break
            step = step / 2
            new = beta + step
            new_der = prob.derivatives(new)
        if halvings > 30:
            break
        beta, der = new, new_der
        if np.max(np.abs(step) / np.maximum(1.0, np.abs(beta))) < tol:
            converged = True
            break
    if not converged:
        warnings.warn(
            f"Fine-Gray Newton-Raphson did not converge in {n_iter} iterations (largest "
            f"coefficient {np.max(np.abs(beta)):.3g}); a covariate may separate the events "
            "(monotone likelihood) - check the coefficients", ConvergenceWarning, stacklevel=3)
    elif np.max(np.abs(beta)) > 15:
        warnings.warn(
            f"a coefficient is very large ({np.max(np.abs(beta)):.3g}): the likelihood may be "
            "monotone (a covariate value with no or only events of interest)",
            ConvergenceWarning, stacklevel=3)
    return beta, der, converged, n_iter
