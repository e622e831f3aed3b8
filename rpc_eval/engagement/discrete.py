"""Discrete-time hazard models for session-by-session dropout.

Programmes are delivered in sessions, so "when did a parent drop out?" is answered in
whole sessions, with many ties. The discrete-time hazard

    h_j(x) = P(drop out in session j | still engaged at the start of session j, x)

is estimated by a binomial GLM on *person-period* data: one row per parent and session
at risk, with outcome 1 in the session the parent dropped out and 0 otherwise (a parent
who completes or is censored contributes only 0 rows). The model is

    g(h_j(x)) = alpha(j) + x' beta

with ``g`` the logit link (proportional odds; ``exp(beta)`` are odds ratios) or the
complementary log-log link (``exp(beta)`` are hazard ratios of an underlying
continuous-time proportional-hazards model, grouped into sessions; Prentice & Gloeckler
1978). The baseline ``alpha(j)`` is one parameter per session (``"categorical"``), a
straight line in ``j`` (``"linear"``) or a restricted cubic spline in ``j``
(``"spline"``).

Standard errors are model-based (inverse expected information, as R's ``summary.glm``),
or cluster-robust when ``cluster=`` is given (parents of one local authority or family
are not independent)::

    V_CR = G / (G - 1) * B M B,   B = (X' W X)^-1,   M = sum_g s_g s_g',
    s_g  = sum over rows i in cluster g of the score x_i (y_i - mu_i) w_i / (mu_i (1 - mu_i))

with ``G`` clusters. This is R's ``sandwich::vcovCL(fit, cluster, type = "HC0",
cadjust = TRUE)`` and Stata's ``logit, vce(cluster)``. statsmodels'
``GLM.fit(cov_type="cluster")`` differs in two ways: it also multiplies by
``(n - 1) / (n - k)`` (R's ``type = "HC1"``), and its bread is the *observed* Hessian,
which for the non-canonical cloglog link differs from R's expected information. rpc_eval
therefore computes the sandwich itself from statsmodels' scores and expected information.

References
----------
Singer JD, Willett JB (1993). It's about time: using discrete-time survival analysis to
study duration and the timing of events. J Educ Stat 18:155-195.
Singer JD, Willett JB (2003). Applied Longitudinal Data Analysis, chapters 10-12. OUP.
Prentice RL, Gloeckler LA (1978). Regression analysis of grouped survival data with
application to breast cancer data. Biometrics 34:57-67.
Harrell FE (2015). Regression Modeling Strategies, 2nd ed., section 2.4.5 (restricted
cubic splines). Springer.
Cameron AC, Miller DL (2015). A practitioner's guide to cluster-robust inference.
J Hum Resour 50:317-372.
Wilson EB (1927). Probable inference, the law of succession, and statistical inference.
J Am Stat Assoc 22:209-212.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from rpc_eval._util import as_list as _as_list
from rpc_eval._util import check_ci as _check_ci
from rpc_eval.engagement.separation import SeparationWarning, warn_separation
from rpc_eval.errors import ConvergenceWarning, DataQualityWarning, RpcEvalError
from rpc_eval.results import Result
from rpc_eval.stats.clusters import warn_few_clusters
from rpc_eval.stats.intervals import wilson_interval
from rpc_eval.stats.missing import complete_rows

__all__ = [
    "fit_discrete_hazard",
    "empirical_hazard",
    "DiscreteHazardResult",
    "SeparationWarning",
    "COEFFICIENT_COLUMNS",
    "HAZARD_COLUMNS",
    "EMPIRICAL_COLUMNS",
]

#: Columns of :attr:`DiscreteHazardResult.coefficients`.
COEFFICIENT_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                       "ci_high", "ratio", "ratio_ci_low", "ratio_ci_high", "ratio_type"]
#: Columns of :meth:`DiscreteHazardResult.hazard_by_session` (``session`` is the name of
#: the time column; a ``group`` column comes first when several profiles are asked for).
HAZARD_COLUMNS = ["session", "hazard", "ci_low", "ci_high"]
#: Columns of :func:`empirical_hazard` after the ``by`` columns (``session`` is the name
#: of the time column).
EMPIRICAL_COLUMNS = ["session", "n_at_risk", "n_events", "hazard", "ci_low", "ci_high"]

_LINKS = ("logit", "cloglog")
_TIME_EFFECTS = ("categorical", "linear", "spline")
#: Harrell's default knot quantiles for 3 to 7 knots (Regression Modeling Strategies,
#: table 2.3).
_HARRELL_QUANTILES = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
    6: (0.05, 0.23, 0.41, 0.59, 0.77, 0.95),
    7: (0.025, 0.1833, 0.3417, 0.50, 0.6583, 0.8167, 0.975),
}


# ------------------------------------------------------------------------------ helpers

def _check_frame(frame: Any, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise RpcEvalError(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RpcEvalError(
            f"{what} has no column(s) {', '.join(map(repr, missing))}; "
            f"its columns are {', '.join(map(str, frame.columns))}")


def _binary(series: pd.Series, name: str) -> np.ndarray:
    """A 0/1 outcome column as float, or an error naming what is wrong."""
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=float)
    values = pd.to_numeric(series, errors="coerce")
    bad = series[values.isna() | ~values.isin([0, 1])]
    if len(bad):
        shown = ", ".join(map(repr, pd.unique(bad)[:5]))
        raise RpcEvalError(
            f"outcome column {name!r} must hold 0 (no event in the session) or 1 (event); "
            f"found {shown}")
    return values.to_numpy(dtype=float)


def _wilson(events: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (no continuity correction); the funnel's implementation."""
    lo, hi = wilson_interval(np.asarray(events, dtype=float), np.asarray(n, dtype=float), level)
    return np.atleast_1d(lo), np.atleast_1d(hi)


def _rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Harrell's restricted cubic spline: the nonlinear columns (k - 2 of them).

    Column j (j = 1 .. k-2), with knots t_1 < ... < t_k and u_+ = max(u, 0)::

        [(x - t_j)_+^3 - (x - t_{k-1})_+^3 (t_k - t_j) / (t_k - t_{k-1})
                       + (x - t_k)_+^3 (t_{k-1} - t_j) / (t_k - t_{k-1})] / (t_k - t_1)^2

    (``Hmisc::rcspline.eval(x, knots, norm = 2)``). With ``x`` itself it spans the natural
    cubic splines with these knots: cubic between them, linear outside.
    """
    t = np.asarray(knots, dtype=float)
    k = len(t)
    x = np.asarray(x, dtype=float)
    scale = (t[-1] - t[0]) ** 2

    def cube(u: np.ndarray) -> np.ndarray:
        return np.clip(u, 0.0, None) ** 3

    cols = []
    for j in range(k - 2):
        col = (cube(x - t[j])
               - cube(x - t[k - 2]) * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
               + cube(x - t[k - 1]) * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2]))
        cols.append(col / scale)
    return np.column_stack(cols) if cols else np.empty((len(x), 0))


def _default_knots(times: np.ndarray, n_knots: int) -> np.ndarray:
    if n_knots not in _HARRELL_QUANTILES:
        raise RpcEvalError(f"spline_knots must be a number from 3 to 7 or a list of knots, "
                           f"not {n_knots!r}")
    distinct = np.unique(times)
    return np.quantile(distinct, _HARRELL_QUANTILES[n_knots])


# ------------------------------------------------------------------------------- design
@dataclass
class _Design:
    """How person-period rows become a design matrix (kept to predict for profiles)."""

    time: str
    time_effect: str
    time_levels: list[Any]
    knots: np.ndarray | None
    covariates: list[str]
    kinds: dict[str, str]                   # "numeric" or "categorical"
    levels: dict[str, list[Any]]            # categorical levels, reference first
    terms: list[str] = field(default_factory=list)
    time_terms: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        t = self.time
        if self.time_effect == "categorical":
            self.time_terms = [f"{t}[T.{lv}]" for lv in self.time_levels]
        elif self.time_effect == "linear":
            self.time_terms = ["Intercept", t]
        else:
            assert self.knots is not None  # a spline design is made with its knots
            n_nonlin = len(self.knots) - 2
            self.time_terms = ["Intercept", t] + [f"{t}_rcs{j + 1}"
                                                  for j in range(n_nonlin)]
        cov_terms = []
        for c in self.covariates:
            if self.kinds[c] == "numeric":
                cov_terms.append(c)
            else:
                cov_terms += [f"{c}[T.{lv}]" for lv in self.levels[c][1:]]
        self.terms = self.time_terms + cov_terms

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        t = frame[self.time]
        if self.time_effect == "categorical":
            parts = [np.column_stack([(t == lv).to_numpy(dtype=float)
                                      for lv in self.time_levels])]
        else:
            tv = t.to_numpy(dtype=float)
            parts = [np.ones((len(frame), 1)), tv[:, None]]
            if self.time_effect == "spline":
                assert self.knots is not None
                parts.append(_rcs_basis(tv, self.knots))
        for c in self.covariates:
            if self.kinds[c] == "numeric":
                parts.append(frame[c].to_numpy(dtype=float)[:, None])
            else:
                col = frame[c]
                parts.append(np.column_stack([(col == lv).to_numpy(dtype=float)
                                              for lv in self.levels[c][1:]]))
        return np.hstack(parts)


def _covariate_kinds(frame: pd.DataFrame, covariates: list[str]
                     ) -> tuple[dict[str, str], dict[str, list[Any]]]:
    kinds: dict[str, str] = {}
    levels: dict[str, list[Any]] = {}
    for c in covariates:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col) or (pd.api.types.is_numeric_dtype(col)
                                               and not isinstance(col.dtype, pd.CategoricalDtype)):
            kinds[c] = "numeric"
            continue
        kinds[c] = "categorical"
        if isinstance(col.dtype, pd.CategoricalDtype):
            present = set(col.dropna().unique())
            lv = [v for v in col.cat.categories if v in present]
        else:
            lv = sorted(col.dropna().unique(), key=lambda v: (str(type(v)), v))
        if len(lv) < 2:
            raise RpcEvalError(
                f"covariate {c!r} takes a single value ({lv[0]!r}) in the rows used, so "
                f"it cannot be estimated; drop it from covariates")
        levels[c] = lv
    return kinds, levels


# ------------------------------------------------------------------------------ results
@dataclass(repr=False)
class DiscreteHazardResult(Result):
    """A fitted discrete-time hazard model (from :func:`fit_discrete_hazard`).

    Attributes
    ----------
    coefficients : pandas.DataFrame
        One row per term, columns :data:`COEFFICIENT_COLUMNS` (``term, estimate,
        std_error, statistic, p_value, ci_low, ci_high, ratio, ratio_ci_low,
        ratio_ci_high, ratio_type``). ``estimate``, ``ci_low`` and ``ci_high`` are on
        the link scale (log odds or log hazard); ``ratio = exp(estimate)`` with its
        limits.
        ``ratio_type`` says what ``ratio`` is: ``"odds ratio"`` (logit) or ``"hazard
        ratio"`` (cloglog) for covariates and the linear session slope; ``"baseline odds"``
        / ``"baseline cumulative hazard"`` (``-log(1 - h)``) for the session terms of a
        categorical time effect and the intercept; ``"spline basis"`` for the spline's
        nonlinear terms, which are not interpretable one at a time (see
        :meth:`hazard_by_session`). A session with no events (or only events) has
        ``estimate = -inf`` (``+inf``) and no SE: see ``separated_sessions``; so has a
        covariate group with no events (or only events), whose rows are left out of the
        fit (the limit of the likelihood), with a :class:`SeparationWarning`.
    vcov : pandas.DataFrame
        Covariance matrix of the estimated coefficients (the one the SEs come from).
    link, time_effect, outcome, time, covariates, cluster, ci
        The settings of the fit.
    se_type : str
        ``"model-based"`` or ``"cluster-robust (CR1: G/(G-1), as sandwich::vcovCL HC0)"``.
    n_obs, n_events, n_clusters : int
        Person-period rows and events used; clusters (``None`` without ``cluster``).
    n_dropped : int
        Person-period rows left out because a column the model uses was missing (each
        such drop is also warned with a :class:`~rpc_eval.errors.DataQualityWarning`).
    loglik, deviance, aic : float
        Of the binomial GLM (rows of separated sessions contribute 0 to the log-likelihood
        at the limit).
    converged : bool
    separated_sessions : list
        Sessions with no events (hazard 0) or only events (hazard 1), left out of the fit.
    glm_result : statsmodels GLMResults
        The underlying statsmodels fit (model-based covariance).
    """

    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    link: str
    time_effect: str
    outcome: str
    time: str
    covariates: list[str]
    cluster: str | None
    ci: float
    se_type: str
    n_obs: int
    n_events: int
    n_clusters: int | None
    loglik: float
    deviance: float
    aic: float
    converged: bool
    separated_sessions: list[Any]
    n_dropped: int
    glm_result: Any = field(repr=False)
    _design: _Design = field(repr=False)
    _params: np.ndarray = field(repr=False)
    _cov: np.ndarray = field(repr=False)
    _reference_profile: dict[str, Any] = field(repr=False)
    _separated_counts: dict[Any, tuple[int, int]] = field(repr=False)

    # -------------------------------------------------------------- predictions
    def _profile_frame(self, profile: Mapping[str, Any] | None,
                       sessions: Sequence[Any]) -> pd.DataFrame:
        values = dict(self._reference_profile)
        if profile is not None:
            if not isinstance(profile, Mapping):
                raise RpcEvalError("profile must be a dict of covariate values, e.g. "
                                   "{'mode': 'online', 'age': 30}")
            unknown = [k for k in profile if k not in self._design.covariates]
            if unknown:
                raise RpcEvalError(
                    f"profile names {', '.join(map(repr, unknown))}, which are not covariates "
                    f"of the model ({', '.join(self._design.covariates) or 'none'})")
            for k, v in profile.items():
                if self._design.kinds[k] == "categorical":
                    if v not in self._design.levels[k]:
                        raise RpcEvalError(
                            f"profile value {v!r} for {k!r} is not one of its levels "
                            f"{self._design.levels[k]}")
                else:
                    try:
                        v = float(v)
                    except (TypeError, ValueError):
                        raise RpcEvalError(
                            f"profile value for numeric covariate {k!r} must be a number, "
                            f"not {v!r}") from None
                values[k] = v
        frame = pd.DataFrame({self.time: list(sessions)})
        for k, v in values.items():
            frame[k] = [v] * len(frame)
        return frame

    def hazard_by_session(self, profile: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Predicted dropout hazard in each session for a covariate profile.

        Parameters
        ----------
        profile : dict, or dict of dicts, optional
            Covariate values, e.g. ``{"mode": "online", "age": 30}``. Covariates not given
            are held at the reference profile: categorical covariates at their reference
            (first) level, numeric ones at their mean over the rows of the first session
            (everybody who started). A dict of dicts (``{"online": {...}, "face to face":
            {...}}``) gives one block per profile with a leading ``group`` column, ready
            for :func:`rpc_eval.engagement.plots.plot_session_hazard`.

        Returns
        -------
        pandas.DataFrame
            ``[group], session, hazard, ci_low, ci_high`` (``session`` is named as the time
            column), one row per distinct session in the data. The interval is a Wald
            interval on the link scale, ``eta +/- z se(eta)`` with
            ``se(eta)^2 = x' V x`` (delta method; V is the model's covariance, cluster-robust
            if the model is), transformed back by the inverse link, so it stays in (0, 1).
            A separated session has hazard 0 (or 1) for every profile; its interval is the
            Wilson interval of its raw counts (not covariate-adjusted).
        """
        if isinstance(profile, Mapping) and profile and all(
                isinstance(v, Mapping) for v in profile.values()):
            blocks = [self.hazard_by_session(p).assign(group=g) for g, p in profile.items()]
            out = pd.concat(blocks, ignore_index=True)
            return out[["group"] + [c for c in out.columns if c != "group"]]

        d = self._design
        sessions = sorted(set(d.time_levels) | set(self.separated_sessions)) \
            if d.time_effect == "categorical" else list(d.time_levels)
        fitted = [s for s in sessions if s not in self.separated_sessions]
        frame = self._profile_frame(profile, fitted)
        x = d.matrix(frame)
        eta = x @ self._params
        se = np.sqrt(np.einsum("ij,jk,ik->i", x, self._cov, x))
        z = stats.norm.ppf(0.5 + self.ci / 2.0)
        inv = _inverse_link(self.link)
        out = pd.DataFrame({self.time: fitted, "hazard": inv(eta), "ci_low": inv(eta - z * se),
                            "ci_high": inv(eta + z * se)})
        if self.separated_sessions:
            rows = []
            for s in self.separated_sessions:
                events, n = self._separated_counts[s]
                lo, hi = _wilson(np.array([events]), np.array([n]), self.ci)
                rows.append({self.time: s, "hazard": events / n, "ci_low": lo[0],
                             "ci_high": hi[0]})
            out = pd.concat([out, pd.DataFrame(rows)], ignore_index=True)
            out = out.sort_values(self.time, kind="stable").reset_index(drop=True)
        return out

    # ------------------------------------------------------------------ display
    def _title(self) -> str:
        return "Discrete-time hazard model"

    def _facts(self) -> list[tuple[str, Any]]:
        ratio = "odds ratios" if self.link == "logit" else "hazard ratios"
        facts: list[tuple[str, Any]] = [
            ("Person-periods", self.n_obs), ("Events", self.n_events),
            ("Log-likelihood", self.loglik),
            ("Model", f"{self.link} link ({ratio}), time effect {self.time_effect}"),
            ("Outcome", f"{self.outcome} per {self.time} at risk"),
            ("Standard errors", self.se_type)]
        if self.n_dropped:
            facts.append(("Rows left out (missing values)", self.n_dropped))
        if self.n_clusters is not None:
            facts.append(("Clusters", f"{self.n_clusters:,} ({self.cluster})"))
        facts += [("AIC", self.aic), ("Converged", self.converged)]
        return facts

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"coefficients": self.coefficients}

    def _notes(self) -> list[str]:
        notes = [f"ci_low/ci_high: {self.ci:.0%} Wald limits of the estimate (link scale); "
                 "ratio = exp(estimate) with ratio_ci_low/ratio_ci_high"]
        if self.separated_sessions:
            notes.append("sessions with no (or only) events, left out of the fit: "
                         + ", ".join(map(str, self.separated_sessions)))
        return notes

    def plot(self, profile: Mapping[str, Any] | None = None, ax: Any = None, *,
             show_ci: bool = True, title: str | None = None) -> Any:
        """Predicted hazard by session (:meth:`hazard_by_session`) in the accessible
        style of :func:`rpc_eval.engagement.plots.plot_session_hazard`."""
        from rpc_eval.engagement.plots import plot_session_hazard, words

        table = self.hazard_by_session(profile)
        if not show_ci:
            table = table.drop(columns=["ci_low", "ci_high"])
        return plot_session_hazard(table, ax=ax, time=self.time, xlabel=words(self.time),
                                   ylabel="Dropout hazard", title=title)


def _inverse_link(link: str):
    if link == "logit":
        return lambda eta: 1.0 / (1.0 + np.exp(-np.asarray(eta, dtype=float)))
    return lambda eta: -np.expm1(-np.exp(np.asarray(eta, dtype=float)))


def _ratio_type(term: str, design: _Design, link: str) -> str:
    effect = "odds ratio" if link == "logit" else "hazard ratio"
    baseline = "baseline odds" if link == "logit" else "baseline cumulative hazard"
    if term in design.time_terms:
        if term == "Intercept" or design.time_effect == "categorical":
            return baseline
        if term == design.time:
            return effect + " per " + design.time
        return "spline basis"
    return effect


def _cluster_cov(score: np.ndarray, bread: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """CR1 cluster-robust covariance: G/(G-1) B (sum_g s_g s_g') B."""
    inverse, codes = pd.factorize(groups)
    g = len(codes)
    sums = np.zeros((g, score.shape[1]))
    np.add.at(sums, inverse, score)
    meat = sums.T @ sums
    return g / (g - 1.0) * bread @ meat @ bread


# --------------------------------------------------------------------------- the fitter
def fit_discrete_hazard(data: pd.DataFrame, outcome: str = "dropout",
                        covariates: str | Sequence[str] = (), *, time: str = "session",
                        time_effect: str = "categorical", link: str = "logit",
                        cluster: str | None = None, ci: float = 0.95,
                        spline_knots: int | Sequence[float] = 4) -> DiscreteHazardResult:
    """Fit a discrete-time hazard model (binomial GLM) to person-period data.

    Parameters
    ----------
    data : pandas.DataFrame
        Person-period data: one row per subject and session at risk (see
        ``rpc_eval.engagement.timetoevent.person_period``). Rows with a missing value in a
        column used are left out, with a :class:`~rpc_eval.errors.DataQualityWarning`
        giving the count (also ``n_dropped`` on the result).
    outcome : str
        0/1 (or boolean) column: 1 in the session the event (dropout) happened.
    covariates : str or list of str
        Columns entered as covariates. Numeric and boolean columns enter as they are;
        text and categorical columns are dummy-coded against their first level (pandas
        category order, otherwise sorted, as R's ``factor``), named ``col[T.level]``.
    time : str
        The session (period) column.
    time_effect : {"categorical", "linear", "spline"}
        The baseline hazard: one parameter per distinct session (no intercept; terms
        ``session[T.1]``, ``session[T.2]``, ...; the classic, saturated choice); a straight
        line on the link scale (``Intercept``, ``session``); or a restricted cubic
        spline (``Intercept``, ``session``, then its nonlinear basis terms
        ``session_rcs1``, ``session_rcs2`` ..., R's ``session'``, ``session''``).
    link : {"logit", "cloglog"}
        ``logit``: ``exp(estimate)`` are odds ratios. ``cloglog``: hazard ratios of the
        grouped-time proportional-hazards model.
    cluster : str, optional
        Column identifying clusters (local authority, family): cluster-robust SEs (CR1,
        ``G/(G-1)`` correction, as ``sandwich::vcovCL(type = "HC0", cadjust = TRUE)``).
        With fewer than 10 clusters a warning says the SEs are unreliable; with one
        cluster the model-based SEs are used, with a warning.
    ci : float
        Confidence level of the intervals.
    spline_knots : int or list of float
        For ``time_effect="spline"``: the number of knots (3 to 7, placed at Harrell's
        quantiles of the distinct session values) or the knots themselves.

    Returns
    -------
    DiscreteHazardResult
        ``.coefficients``, ``.vcov``, ``.hazard_by_session(profile)``, ``.summary()``.

    Raises
    ------
    RpcEvalError
        Missing columns, an outcome that is not 0/1, no events (or no non-events) at all,
        collinear covariates, bad settings.

    Warns
    -----
    SeparationWarning
        (a :class:`~rpc_eval.errors.DataQualityWarning`) A level of a categorical (or
        two-valued numeric) covariate with no events or only events: its rows are left
        out of the fit (the limit of the likelihood) and its term is reported as
        ``-inf``/``+inf`` with no SE (NaN when the reference group is separated the same
        way); the warning names the term and the group. A session with no events (or
        only events) under ``time_effect="categorical"``:
        its hazard is estimated as 0 (1) and its coefficient is infinite, so its rows are
        left out of the fit, which gives exactly the limit of the maximum-likelihood
        estimates of the other coefficients; the warning suggests
        ``time_effect="linear"``/``"spline"`` or merging sessions. Also raised when a
        coefficient's SE is implausibly large after the fit (quasi-separation).

    Notes
    -----
    Model: ``g(h_ij) = alpha(t_ij) + x_ij' beta`` with ``y_ij ~ Bernoulli(h_ij)`` over the
    person-period rows, fitted by IRLS (statsmodels ``GLM``). Model-based covariance:
    ``(X' W X)^-1`` (expected information), as R's ``vcov(glm)``.

    R equivalent::

        fit <- glm(dropout ~ 0 + factor(session) + mode + age, family = binomial("logit"),
                   data = pp)                        # or binomial("cloglog")
        sandwich::vcovCL(fit, cluster = pp$la_code, type = "HC0", cadjust = TRUE)

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> rows = []
    >>> for i in range(300):
    ...     online = int(rng.random() < 0.5)
    ...     for s in range(1, 7):
    ...         event = int(rng.random() < 1 / (1 + np.exp(2.0 - 0.5 * online)))
    ...         rows.append((i, s, online, event))
    ...         if event:
    ...             break
    >>> pp = pd.DataFrame(rows, columns=["parent_id", "session", "online", "dropout"])
    >>> res = fit_discrete_hazard(pp, "dropout", ["online"], time_effect="linear")
    >>> res.coefficients["term"].tolist()
    ['Intercept', 'session', 'online']
    >>> bool(res.coefficients.loc[2, "ratio"] > 1)
    True
    >>> res.hazard_by_session({"online": 1}).shape
    (6, 4)
    """
    person_period = data  # the table as given; ``data`` below holds its complete rows
    level = _check_ci(ci)
    if time_effect not in _TIME_EFFECTS:
        raise RpcEvalError(f"time_effect must be one of {', '.join(_TIME_EFFECTS)}, "
                           f"not {time_effect!r}")
    if link not in _LINKS:
        raise RpcEvalError(f"link must be 'logit' or 'cloglog', not {link!r}")
    covs = _as_list(covariates)
    if len(set(covs)) != len(covs):
        raise RpcEvalError("covariates lists a column twice")
    clash = {outcome, time, cluster} & set(covs)
    if clash:
        raise RpcEvalError(f"{', '.join(map(repr, clash))} cannot be both a covariate and the "
                           "outcome, time or cluster column")
    used = [outcome, time] + covs + ([cluster] if cluster is not None else [])
    _check_frame(person_period, used, "person_period")

    if person_period[list(dict.fromkeys(used))].isna().any(axis=1).all():
        raise RpcEvalError("every row has a missing value in the columns used "
                           f"({', '.join(used)})")
    data, n_dropped = complete_rows(person_period, used, "discrete-time hazard model "
                                    "(person-period rows)", stacklevel=3)
    data = data.reset_index(drop=True)
    y = _binary(data[outcome], outcome)
    if not pd.api.types.is_numeric_dtype(data[time]) and time_effect != "categorical":
        raise RpcEvalError(f"time column {time!r} must be numeric for "
                           f"time_effect={time_effect!r}")
    n_events = int(y.sum())
    if n_events == 0:
        raise RpcEvalError(f"there are no events ({outcome} = 1) in the data, so no hazard "
                           "model can be fitted")
    if n_events == len(y):
        raise RpcEvalError(f"every row is an event ({outcome} = 1), so no hazard model can be "
                           "fitted; is the table one row per session at risk?")

    first_rows = data.loc[data[time] == data[time].min()]

    # session separation under a categorical time effect
    separated: list[Any] = []
    sep_counts: dict[Any, tuple[int, int]] = {}
    time_levels = sorted(pd.unique(data[time]))
    if time_effect == "categorical":
        counts = pd.Series(y).groupby(data[time].to_numpy()).agg(["sum", "size"])
        for lv, (ev, n) in counts.iterrows():
            if ev == 0 or ev == n:
                separated.append(lv)
                sep_counts[lv] = (int(ev), int(n))
        if separated:
            if len(separated) == len(counts):
                raise RpcEvalError(
                    "every session has either no events or only events, so the categorical "
                    "time effect cannot be estimated; use time_effect='linear'")
            described = "; ".join(
                f"{time} {s}: {'no' if sep_counts[s][0] == 0 else 'only'} events among "
                f"{sep_counts[s][1]:,} at risk (term {time}[T.{s}])" for s in separated)
            warnings.warn(
                f"separation: {described}. With time_effect='categorical' the hazard of such a "
                f"session is 0 (or 1) and its coefficient is infinite, so it is reported as "
                f"-inf (+inf) with no SE and its rows are left out of the fit (the other "
                f"estimates are the limit of the maximum-likelihood fit). Consider "
                f"time_effect='linear' or 'spline', or merging sessions with few events "
                f"(e.g. recode {time} so that late sessions form one band)",
                SeparationWarning, stacklevel=2)
            keep = ~data[time].isin(separated).to_numpy()
            data, y = data.loc[keep].reset_index(drop=True), y[keep]
            time_levels = [lv for lv in time_levels if lv not in separated]

    kinds, levels = _covariate_kinds(data, covs)
    # the default profile: numeric covariates at their mean in the first session (everybody
    # who started, including rows of separated sessions), categorical at the reference level
    reference = {c: (first_rows[c].astype(float).mean() if kinds[c] == "numeric"
                     else levels[c][0]) for c in covs}

    # covariate-level separation (docs/conventions.md): the group's rows leave the fit
    # (in the limit they are predicted exactly) and its term is reported as +-inf
    cov_terms = [t for c in covs for t in ([c] if kinds[c] == "numeric"
                                           else [f"{c}[T.{lv}]" for lv in levels[c][1:]])]
    fixed, items, n_separated_rows = _covariate_separation(data, y, covs, kinds, levels)
    if items:
        warn_separation("the discrete-time hazard model", items)
        gone = np.zeros(len(data), dtype=bool)
        for c, bad in fixed.pop("__rows__").items():
            gone |= data[c].isin(bad).to_numpy()
        data, y = data.loc[~gone].reset_index(drop=True), y[~gone]
        covs_fit = []
        for c in covs:
            if data[c].nunique() > 1:
                covs_fit.append(c)
        kinds, levels = _covariate_kinds(data, covs_fit)
    else:
        fixed.pop("__rows__")
        covs_fit = covs

    knots = None
    if time_effect == "spline":
        if isinstance(spline_knots, int | np.integer):
            knots = _default_knots(data[time].to_numpy(dtype=float), int(spline_knots))
        else:
            knots = np.sort(np.asarray(spline_knots, dtype=float))
        if len(knots) < 3 or len(np.unique(knots)) != len(knots):
            raise RpcEvalError(
                f"a restricted cubic spline needs at least 3 distinct knots; got "
                f"{list(np.round(knots, 4))}. With few distinct sessions use "
                f"time_effect='linear' or 'categorical'")
    design = _Design(time=time, time_effect=time_effect, time_levels=time_levels,
                     knots=knots, covariates=covs_fit, kinds=kinds, levels=levels)
    x = design.matrix(data)
    rank = np.linalg.matrix_rank(x.T @ x, hermitian=True)  # k x k: cheap at any n
    if rank < x.shape[1]:
        raise RpcEvalError(
            f"the design matrix is rank-deficient (rank {rank} < {x.shape[1]} terms: "
            f"{', '.join(design.terms)}): some covariates are collinear with each other or "
            f"with the time effect (e.g. constant within every session). Drop one of them")

    result, cov_naive = _fit_glm(y, x, link)
    params = np.asarray(result.params, dtype=float)
    converged = bool(getattr(result, "converged", True))
    if not converged:
        warnings.warn("the GLM fit did not converge; estimates may be unreliable",
                      ConvergenceWarning, stacklevel=2)

    se_type = "model-based"
    cov = cov_naive
    n_clusters = None
    if cluster is not None:
        groups = data[cluster].to_numpy()
        n_clusters = int(pd.unique(groups).size)
        if n_clusters < 2:
            warnings.warn(f"cluster column {cluster!r} has a single cluster, so cluster-robust "
                          "SEs cannot be computed; model-based SEs are reported",
                          DataQualityWarning, stacklevel=2)
        else:
            warn_few_clusters(n_clusters, cluster, "the discrete-time hazard model")
            score = result.model.score_obs(params)
            cov = _cluster_cov(score, cov_naive, groups)
            se_type = "cluster-robust (CR1: G/(G-1), as sandwich::vcovCL HC0)"

    se = np.sqrt(np.diag(cov))
    huge = [t for t, s, b in zip(design.terms, se, params, strict=True)
            if s > 50 or abs(b) > 25]
    if huge:
        warnings.warn(
            f"implausibly large coefficients or SEs for {', '.join(huge)}: the data are "
            f"(quasi-)separated for these terms (a covariate pattern with almost no events "
            f"or almost only events), so their estimates are not meaningful",
            SeparationWarning, stacklevel=2)

    coefficients = _coefficient_table(design, params, se, level, link)
    if fixed:
        coefficients = _add_fixed(coefficients, design, cov_terms, fixed, link)
    if separated:
        coefficients = _add_separated(coefficients, design, separated, sep_counts, link)
    return DiscreteHazardResult(
        coefficients=coefficients,
        vcov=pd.DataFrame(cov, index=design.terms, columns=design.terms),
        link=link, time_effect=time_effect, outcome=outcome, time=time, covariates=covs,
        cluster=cluster, ci=level, se_type=se_type, n_obs=int(len(y)) + sum(
            n for _, n in sep_counts.values()) + n_separated_rows,
        n_events=n_events, n_clusters=n_clusters, loglik=float(result.llf),
        deviance=float(result.deviance), aic=float(result.aic), converged=converged,
        separated_sessions=separated, n_dropped=int(n_dropped), glm_result=result, _design=design, _params=params,
        _cov=cov, _reference_profile=reference, _separated_counts=sep_counts)


def _fit_glm(y: np.ndarray, x: np.ndarray, link: str) -> tuple[Any, np.ndarray]:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SmConvergenceWarning

    link_obj = sm.families.links.Logit() if link == "logit" else sm.families.links.CLogLog()
    model = sm.GLM(y, x, family=sm.families.Binomial(link=link_obj))
    with warnings.catch_warnings():
        # statsmodels' own warnings are re-raised below as rpc_eval warnings
        warnings.simplefilter("ignore", SmConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            from statsmodels.tools.sm_exceptions import PerfectSeparationWarning
            warnings.simplefilter("ignore", PerfectSeparationWarning)
        except ImportError:  # pragma: no cover - older statsmodels
            pass
        result = model.fit(method="IRLS", maxiter=200, tol=1e-12)
    # expected information at the estimate, as R's vcov(glm)
    cov = np.linalg.inv(-model.hessian(np.asarray(result.params), observed=False))
    return result, cov


def _coefficient_table(design: _Design, params: np.ndarray, se: np.ndarray, level: float,
                       link: str) -> pd.DataFrame:
    z = stats.norm.ppf(0.5 + level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = params / se
    lo, hi = params - z * se, params + z * se
    with np.errstate(over="ignore"):
        ratio, ratio_lo, ratio_hi = np.exp(params), np.exp(lo), np.exp(hi)
    return pd.DataFrame({
        "term": design.terms, "estimate": params, "std_error": se, "statistic": zval,
        "p_value": 2.0 * stats.norm.sf(np.abs(zval)), "ci_low": lo, "ci_high": hi,
        "ratio": ratio, "ratio_ci_low": ratio_lo, "ratio_ci_high": ratio_hi,
        "ratio_type": [_ratio_type(t, design, link) for t in design.terms],
    })


def _covariate_separation(data: pd.DataFrame, y: np.ndarray, covs: list[str],
                          kinds: dict[str, str], levels: dict[str, list[Any]]
                          ) -> tuple[dict[str, Any], list[tuple[str, str, str]], int]:
    """Groups of a categorical (or two-valued numeric) covariate with no events or only
    events: the fixed value of each affected term (``-inf``, ``+inf`` or NaN), the
    warning's items, and the number of rows they hold (``fixed["__rows__"]`` maps each
    covariate to its separated values)."""
    fixed: dict[str, Any] = {"__rows__": {}}
    items: list[tuple[str, str, str]] = []
    n_rows = 0
    for c in covs:
        if kinds[c] != "categorical" and data[c].nunique() > 2:
            continue  # binary 0/1 indicators are checked like categorical covariates
        counts = pd.Series(y).groupby(data[c].to_numpy()).agg(["sum", "size"])
        bad = {lv: ("no events" if ev == 0 else "only events")
               for lv, (ev, n) in counts.iterrows() if ev == 0 or ev == n}
        if not bad or len(bad) == len(counts):
            continue
        sign = {"no events": -math.inf, "only events": math.inf}
        n_rows += int(sum(counts.loc[lv, "size"] for lv in bad))
        fixed["__rows__"][c] = list(bad)
        if kinds[c] == "categorical":
            ref = levels[c][0]
            for lv in levels[c][1:]:
                term = f"{c}[T.{lv}]"
                if lv in bad:
                    value = math.nan if bad.get(ref) == bad[lv] else sign[bad[lv]]
                    items.append((term, f"{c} = {lv!r}", bad[lv]))
                elif ref in bad:
                    value = -sign[bad[ref]]
                    items.append((term, f"{c} = {lv!r}",
                                  f"the reference group {c} = {ref!r} has {bad[ref]}"))
                else:
                    continue
                fixed[term] = value
        else:
            low, high = sorted(counts.index)
            if high in bad:
                fixed[c] = sign[bad[high]]
                items.append((c, f"{c} = {high!r}", bad[high]))
            else:
                fixed[c] = -sign[bad[low]]
                items.append((c, f"{c} = {low!r}", bad[low]))
    return fixed, items, n_rows


def _add_fixed(table: pd.DataFrame, design: _Design, cov_terms: list[str],
               fixed: dict[str, Any], link: str) -> pd.DataFrame:
    """The covariate terms in their original order, separated ones as +-inf (no SE)."""
    fitted = table.set_index("term")
    rows = [table.iloc[:len(design.time_terms)]]
    effect = "odds ratio" if link == "logit" else "hazard ratio"
    for term in cov_terms:
        if term in fixed:
            value = fixed[term]
            rows.append(pd.DataFrame([{
                "term": term, "estimate": value, "std_error": np.nan, "statistic": np.nan,
                "p_value": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "ratio": math.exp(value) if not math.isnan(value) else np.nan,
                "ratio_ci_low": np.nan, "ratio_ci_high": np.nan,
                "ratio_type": effect + " (separated)"}]))
        elif term in fitted.index:
            rows.append(fitted.loc[[term]].reset_index())
    return pd.concat(rows, ignore_index=True)[COEFFICIENT_COLUMNS]


def _add_separated(table: pd.DataFrame, design: _Design, separated: list[Any],
                   counts: dict[Any, tuple[int, int]], link: str) -> pd.DataFrame:
    """Rows for separated sessions (estimate -inf / +inf, no SE), in session order."""
    baseline = "baseline odds" if link == "logit" else "baseline cumulative hazard"
    rows = []
    for s in separated:
        sign = -math.inf if counts[s][0] == 0 else math.inf
        rows.append({"term": f"{design.time}[T.{s}]", "estimate": sign, "std_error": np.nan,
                     "statistic": np.nan, "p_value": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                     "ratio": math.exp(sign), "ratio_ci_low": np.nan,
                     "ratio_ci_high": np.nan, "ratio_type": baseline + " (separated)"})
    times = sorted(design.time_levels + separated)
    order = {f"{design.time}[T.{s}]": i for i, s in enumerate(times)}
    time_rows = pd.concat([table.iloc[:len(design.time_terms)], pd.DataFrame(rows)],
                          ignore_index=True)
    time_rows = time_rows.sort_values("term", key=lambda s: s.map(order), kind="stable")
    return pd.concat([time_rows, table.iloc[len(design.time_terms):]], ignore_index=True)


# ------------------------------------------------------------------- empirical hazard
def empirical_hazard(data: pd.DataFrame, by: str | Sequence[str] | None = None, *,
                     outcome: str = "dropout", time: str = "session",
                     ci: float = 0.95) -> pd.DataFrame:
    """Life-table (empirical) hazard by session: events / number at risk, Wilson CIs.

    Parameters
    ----------
    data : pandas.DataFrame
        Person-period data: one row per subject and session at risk, with a 0/1
        ``outcome`` column.
    by : str or list of str, optional
        Grouping columns (e.g. ``"intervention"``); rows with a missing group are left out
        with a :class:`~rpc_eval.errors.DataQualityWarning`.
    outcome, time : str
        The 0/1 event column and the session column.
    ci : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        ``[by], session, n_at_risk, n_events, hazard, ci_low, ci_high`` (``session`` is
        named as the time column), sorted by group and session. ``hazard = n_events /
        n_at_risk``; the Wilson (1927) score interval::

            (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)

        stays inside [0, 1] and is sensible with 0 events (lower limit 0).

    Notes
    -----
    R equivalent: per session, ``prop.test(x, n, correct = FALSE)$conf.int``.

    Examples
    --------
    >>> import pandas as pd
    >>> pp = pd.DataFrame({"session": [1, 1, 1, 1, 2, 2, 2, 3],
    ...                    "dropout": [1, 0, 0, 0, 1, 0, 0, 0]})
    >>> empirical_hazard(pp)[["session", "n_at_risk", "n_events", "hazard"]]
       session  n_at_risk  n_events    hazard
    0        1          4         1  0.250000
    1        2          3         1  0.333333
    2        3          1         0  0.000000
    """
    level = _check_ci(ci)
    groups = _as_list(by)
    _check_frame(data, [outcome, time] + groups, "data")
    data = data[[outcome, time] + groups]
    incomplete = data.isna().any(axis=1)
    if incomplete.any():
        warnings.warn(f"{int(incomplete.sum()):,} of {len(data):,} person-period rows have a "
                      f"missing value in {', '.join([outcome, time] + groups)} and were left "
                      "out", DataQualityWarning, stacklevel=2)
        data = data.loc[~incomplete]
    if data.empty:
        raise RpcEvalError("person_period has no complete rows")
    data = data.assign(**{outcome: _binary(data[outcome], outcome)})
    out = (data.groupby(groups + [time], sort=True, observed=True)[outcome]
           .agg(n_at_risk="size", n_events="sum").reset_index())
    out["n_events"] = out["n_events"].astype(int)
    out["hazard"] = out["n_events"] / out["n_at_risk"]
    out["ci_low"], out["ci_high"] = _wilson(out["n_events"].to_numpy(),
                                            out["n_at_risk"].to_numpy(), level)
    return out[groups + [time, "n_at_risk", "n_events", "hazard", "ci_low", "ci_high"]]
