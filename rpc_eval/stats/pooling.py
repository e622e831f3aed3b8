"""Meta-analysis: pool estimates from several local authorities (or studies).

Each local authority (LA) contributes an estimate ``y_i`` (a mean change, a log odds
ratio, a standardised effect ...) with its standard error ``s_i``. :func:`random_effects`
combines them under the normal-normal model

.. math::

    y_i = \\mu + u_i + e_i, \\qquad u_i \\sim N(0, \\tau^2), \\qquad e_i \\sim N(0, v_i),
    \\qquad v_i = s_i^2 ,

estimating the average effect ``mu`` and the between-LA variance ``tau^2`` by REML
(default), DerSimonian-Laird, or ``tau^2 = 0`` (common / fixed effect). The results are
computed as ``metafor::rma()`` computes them (metafor 3.8), and the tests check every
quantity against it (tests/reference/metafor_rma.R).

:func:`pool_estimates` does the same for a tidy DataFrame with one row per LA.

References
----------
* DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. *Controlled Clinical
  Trials* 7:177-188.
* Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
  random-effects model. *J Educ Behav Stat* 30:261-293.
* Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
  *J Stat Softw* 36(3).
* Hartung J, Knapp G (2001). A refined method for the meta-analysis of controlled clinical
  trials with binary outcome. *Stat Med* 20:3875-3889.
* Sidik K, Jonkman JN (2002). A simple confidence interval for meta-analysis.
  *Stat Med* 21:3153-3159.
* Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis.
  *Stat Med* 21:1539-1558.
* IntHout J, Ioannidis JPA, Borm GF (2014). The Hartung-Knapp-Sidik-Jonkman method for
  random effects meta-analysis is straightforward and considerably outperforms the
  standard DerSimonian-Laird method. *BMC Med Res Methodol* 14:25.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from rpc_eval.errors import ConvergenceWarning, RpcEvalError, RpcEvalWarning
from rpc_eval.results import Result

__all__ = [
    "MetaAnalysisResult",
    "random_effects",
    "pool_estimates",
    "METHODS",
    "TABLE_COLUMNS",
    "STUDY_COLUMNS",
]

#: Estimators of tau^2 accepted by ``method=``.
METHODS = ("REML", "DL", "FE")

#: Columns of :attr:`MetaAnalysisResult.table`.
TABLE_COLUMNS = [
    "method", "knha", "k", "estimate", "std_error", "ci_low", "ci_high", "test",
    "statistic", "df", "p_value", "tau2", "tau", "tau2_se", "i2", "h2", "q", "q_df",
    "q_p_value", "pred_low", "pred_high", "ci",
]

#: Columns of :attr:`MetaAnalysisResult.studies`.
STUDY_COLUMNS = ["label", "estimate", "std_error", "ci_low", "ci_high", "weight"]

# Okabe-Ito colours (as rpc_eval.engagement.plots; repeated so the modules stay
# independent).
_BLUE, _VERMILION, _BLACK, _GREY = "#0072B2", "#D55E00", "#000000", "#595959"
_FS_TICK, _FS_LABEL, _FS_TITLE, _FS_TEXT = 11, 12, 13, 10

_EPS = np.finfo(float).eps


# --------------------------------------------------------------------------- result
@dataclass(repr=False)
class MetaAnalysisResult(Result):
    """Result of :func:`random_effects` (a :class:`~rpc_eval.results.Result`).

    ``repr`` is one line; ``summary()`` gives the pooled row and the per-LA table
    (``as_text()``, ``as_html()``, ``tables``); ``to_frame()`` is :attr:`table`.

    Attributes
    ----------
    estimate, std_error : float
        Pooled estimate ``mu_hat`` and its standard error (Hartung-Knapp adjusted when
        ``knha``).
    ci_low, ci_high : float
        Confidence interval at level ``ci``: ``estimate -/+ crit * std_error`` with
        ``crit`` a normal quantile, or a t quantile on ``k - 1`` df when ``knha``.
    statistic, p_value : float
        Test statistic ``estimate / std_error`` (z, or t when ``knha``) for H0: mu = 0,
        and its two-sided p-value.
    df : int or None
        Degrees of freedom of the t test (``k - 1``), ``None`` for a z test.
    tau2, tau : float
        Between-LA variance and standard deviation (0 for ``method="FE"``).
    tau2_se : float
        Standard error of ``tau2`` as metafor's ``se.tau2``; NaN for ``method="FE"``.
    i2 : float
        I^2 in percent: ``100 tau2 / (tau2 + v_typ)`` with the "typical" within-LA
        variance ``v_typ = (k - 1) / (sum w - sum w^2 / sum w)``, ``w = 1 / v_i``
        (Higgins & Thompson 2002). For ``method="FE"``, ``100 max(0, (Q - (k-1)) / Q)``.
    h2 : float
        H^2 = ``(tau2 + v_typ) / v_typ`` (``Q / (k - 1)`` for FE).
    q, q_df, q_p_value : float, int, float
        Cochran's Q (inverse-variance weights ``1 / v_i``), its df ``k - 1``, and the
        p-value of the chi-square test of homogeneity.
    pred_low, pred_high : float
        Prediction interval for the effect in a new LA, as metafor's ``predict()``:
        ``estimate -/+ crit * sqrt(std_error^2 + tau2)`` (the confidence interval when
        ``tau2 = 0``).
    k : int
        Number of estimates pooled.
    method : str
        ``"REML"``, ``"DL"`` or ``"FE"``.
    knha, knha_truncate : bool
        Whether the Hartung-Knapp-Sidik-Jonkman adjustment was used, and whether its
        scaling factor was truncated at 1.
    ci : float
        Confidence level.
    studies : pandas.DataFrame
        One row per input, columns ``label, estimate, std_error, ci_low, ci_high,
        weight``; the interval is ``estimate -/+ z * std_error`` and ``weight`` is the
        percentage weight ``100 w_i / sum w`` with ``w_i = 1 / (v_i + tau2)``.
    hk_scale : float
        Hartung-Knapp scaling factor ``q_HK = sum w_i (y_i - mu_hat)^2 / (k - 1)``
        applied to the variance (1 when not ``knha``).
    iterations : int
        Fisher-scoring iterations used (0 for closed-form estimators).
    notes : list of str
        Plain sentences on degenerate cases a reader of the pooled result must know
        (identical estimates, a Hartung-Knapp interval of zero width or narrower than
        the unadjusted one, k = 2, a between-LA variance of exactly 0, very large
        heterogeneity); empty when there is nothing to say.
    """

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    df: int | None
    tau2: float
    tau: float
    tau2_se: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p_value: float
    pred_low: float
    pred_high: float
    k: int
    method: str
    knha: bool
    ci: float
    studies: pd.DataFrame = field(repr=False)
    knha_truncate: bool = False
    hk_scale: float = 1.0
    iterations: int = 0
    notes: list[str] = field(default_factory=list)

    # -- tables
    @property
    def table(self) -> pd.DataFrame:
        """The pooled result as a one-row tidy DataFrame.

        Columns: ``method, knha, k, estimate, std_error, ci_low, ci_high, test``
        (``"z"`` or ``"t"``), ``statistic``, ``df`` (nullable integer, missing for z),
        ``p_value, tau2, tau, tau2_se, i2`` (percent), ``h2, q, q_df, q_p_value,
        pred_low, pred_high, ci`` (the confidence level).
        """
        row = {
            "method": self.method, "knha": self.knha, "k": self.k,
            "estimate": self.estimate, "std_error": self.std_error,
            "ci_low": self.ci_low, "ci_high": self.ci_high,
            "test": "t" if self.df is not None else "z", "statistic": self.statistic,
            "df": self.df, "p_value": self.p_value, "tau2": self.tau2, "tau": self.tau,
            "tau2_se": self.tau2_se, "i2": self.i2, "h2": self.h2, "q": self.q,
            "q_df": self.q_df, "q_p_value": self.q_p_value, "pred_low": self.pred_low,
            "pred_high": self.pred_high, "ci": self.ci,
        }
        out = pd.DataFrame([row], columns=TABLE_COLUMNS)
        out["df"] = out["df"].astype("Int64")
        return out

    # -- display (rpc_eval.results.Result)
    def _title(self) -> str:
        if self.method == "FE":
            name = "Common-effect (fixed-effect) meta-analysis"
        else:
            est = {"REML": "REML", "DL": "DerSimonian-Laird"}[self.method]
            name = f"Random-effects meta-analysis (tau^2 by {est})"
        if self.knha:
            name += ", Hartung-Knapp-Sidik-Jonkman CI"
            if self.knha_truncate:
                name += " (scale truncated at 1)"
        return name

    def _facts(self) -> list[tuple[str, Any]]:
        pct = f"{self.ci * 100:g}%"
        test = f"t({self.df})" if self.df is not None else "z"
        facts: list[tuple[str, Any]] = [
            ("k", self.k),
            ("Pooled estimate", f"{self.estimate:.4f} (SE {self.std_error:.4f}), {pct} CI "
                                f"{self.ci_low:.4f} to {self.ci_high:.4f}"),
            ("Test", f"{test} = {self.statistic:.3f}, {_p_text(self.p_value)}"),
        ]
        if self.method != "FE":
            se = "" if np.isnan(self.tau2_se) else f" (SE {self.tau2_se:.4g})"
            facts += [(f"{pct} prediction interval",
                       f"{self.pred_low:.4f} to {self.pred_high:.4f}"),
                      ("tau^2", f"{self.tau2:.4g}{se}, tau = {self.tau:.4g}")]
        facts += [("I^2", f"{self.i2:.1f}%, H^2 = {self.h2:.3f}"),
                  (f"Q({self.q_df})", f"{self.q:.3f}, {_p_text(self.q_p_value)}")]
        return facts

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"pooled": self.table, "studies": self.studies}

    # -- figure
    def forest_plot(self, ax: Any = None, *, xlabel: str = "Estimate",
                    title: str | None = None, refline: float | None = 0.0,
                    transform: Callable[[np.ndarray], np.ndarray] | None = None,
                    show_prediction: bool = True, digits: int = 2) -> Any:
        """Forest plot: each LA's estimate and CI, the pooled diamond and the prediction
        interval, with the numbers written beside them. Returns the matplotlib Axes.

        LA estimates are squares whose area is proportional to their weight, with their
        confidence intervals as horizontal lines; the pooled estimate is a diamond
        spanning its confidence interval; the prediction interval (random-effects
        models with ``tau2 > 0``) is a dashed line on its own row. Each row is labelled
        on the left, and on the right with ``estimate [CI]`` and the weight in percent,
        so nothing depends on colour alone.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure sized to the number of rows by default.
        xlabel, title : str
            Axis label and optional title.
        refline : float or None
            Where to draw the dotted line of no effect (``None``: no line). Given on the
            scale of the plot (after ``transform``).
        transform : callable, optional
            Applied to every estimate and limit before plotting and printing, e.g.
            ``numpy.exp`` for log risk ratios (then consider ``ax.set_xscale("log")``
            and ``refline=1``).
        show_prediction : bool
            Draw the prediction-interval row (ignored for FE models or ``tau2 = 0``).
        digits : int
            Decimal places of the printed numbers.
        """
        import matplotlib.pyplot as plt
        from matplotlib.patches import Polygon
        from matplotlib.transforms import blended_transform_factory

        def tf(x):
            x = np.asarray(x, dtype=float)
            return x if transform is None else np.asarray(transform(x), dtype=float)

        st = self.studies
        k = self.k
        show_pi = show_prediction and self.method != "FE" and self.tau2 > 0
        n_rows = k + 1 + int(show_pi)
        own_figure = ax is None
        if own_figure:
            fig, ax = plt.subplots(figsize=(10.0, 1.6 + 0.32 * (n_rows + 1)),
                                   layout="constrained")
            # keep the right-hand 30% of the figure for the text columns
            # layout="constrained" gives a ConstrainedLayoutEngine, which takes rect
            fig.get_layout_engine().set(rect=(0.0, 0.0, 0.70, 1.0))  # type: ignore[union-attr,call-arg]

        y_st = np.arange(k, 0, -1) + 1.0 + int(show_pi)      # first LA at the top
        y_pool = 1.0 + int(show_pi)
        y_pi = 1.0
        est, lo, hi = tf(st["estimate"]), tf(st["ci_low"]), tf(st["ci_high"])

        ax.hlines(y_st, lo, hi, color=_BLACK, linewidth=1.2, gid="study_ci")
        wt = st["weight"].to_numpy(float)
        sizes = 12.0 + 160.0 * wt / max(wt.max(), _EPS)
        ax.scatter(est, y_st, s=sizes, marker="s", color=_BLUE, edgecolor=_BLACK,
                   linewidth=0.6, zorder=3, gid="study_squares")

        p_est, p_lo, p_hi = tf([self.estimate, self.ci_low, self.ci_high])
        h = 0.28
        ax.add_patch(Polygon([(p_lo, y_pool), (p_est, y_pool + h), (p_hi, y_pool),
                              (p_est, y_pool - h)], closed=True, facecolor=_VERMILION,
                             edgecolor=_BLACK, linewidth=0.8, zorder=3, gid="pooled"))
        if show_pi:
            pi_lo, pi_hi = tf([self.pred_low, self.pred_high])
            ax.hlines(y_pi, pi_lo, pi_hi, color=_BLACK, linestyle="--", linewidth=1.3,
                      gid="prediction_interval")
            ax.vlines([pi_lo, pi_hi], y_pi - 0.15, y_pi + 0.15, color=_BLACK,
                      linewidth=1.3)
        if refline is not None:
            ax.axvline(refline, color=_GREY, linestyle=":", linewidth=1.0, zorder=1)

        pct = f"{self.ci * 100:g}%"
        pooled_name = "Pooled (common effect)" if self.method == "FE" else "Pooled (random effects)"
        yticks = list(y_st) + [y_pool] + ([y_pi] if show_pi else [])
        ylabels = [str(v) for v in st["label"]] + [pooled_name] + (
            [f"{pct} prediction interval"] if show_pi else [])
        ax.set_yticks(yticks, ylabels)
        ax.tick_params(axis="y", length=0, labelsize=_FS_TICK)
        ax.tick_params(axis="x", labelsize=_FS_TICK)
        for lab in ax.get_yticklabels()[k:]:
            lab.set_fontweight("bold")
        ax.set_ylim(0.4, y_st[0] + 1.2)

        # text columns beside the axes
        if own_figure:
            trans = blended_transform_factory(ax.figure.transFigure, ax.transData)
            x_ci, x_w = 0.715, 0.985
        else:   # beside the given axes (save with bbox_inches="tight" to keep them)
            trans = blended_transform_factory(ax.transAxes, ax.transData)
            x_ci, x_w = 1.03, 1.40
        fmt = f"{{:.{digits}f}}"

        def cell(x, y, s, **kw):
            t = ax.text(x, y, s, transform=trans, va="center", fontsize=_FS_TEXT,
                        clip_on=False, **kw)
            t.set_in_layout(not own_figure)

        top = y_st[0] + 0.85
        cell(x_ci, top, f"Estimate [{pct} CI]", ha="left", fontweight="bold")
        cell(x_w, top, "Weight", ha="right", fontweight="bold")
        for y, e, a, b, w in zip(y_st, est, lo, hi, wt, strict=True):
            cell(x_ci, y, f"{fmt.format(e)} [{fmt.format(a)}, {fmt.format(b)}]", ha="left")
            cell(x_w, y, f"{w:.1f}%", ha="right")
        cell(x_ci, y_pool, f"{fmt.format(p_est)} [{fmt.format(p_lo)}, {fmt.format(p_hi)}]",
             ha="left", fontweight="bold")
        cell(x_w, y_pool, "100%", ha="right", fontweight="bold")
        if show_pi:
            cell(x_ci, y_pi, f"[{fmt.format(pi_lo)}, {fmt.format(pi_hi)}]", ha="left")

        tau_txt = "" if self.method == "FE" else f"\u03c4\u00b2 = {self.tau2:.3g}, "
        het = (f"I\u00b2 = {self.i2:.0f}%, {tau_txt}"
               f"Q({self.q_df}) = {self.q:.2f}, {_p_text(self.q_p_value)}")
        if self.knha:
            het += f"; CI: Hartung-Knapp t({self.df})"
        ax.set_xlabel(f"{xlabel}\n{het}", fontsize=_FS_LABEL)
        if title:
            ax.set_title(title, fontsize=_FS_TITLE, loc="left")
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.grid(True, axis="x", color="#d9d9d9", linewidth=0.6)
        ax.set_axisbelow(True)
        if own_figure:
            # Lay the figure out once with the text columns outside the layout, then fix
            # it, so that saving with bbox_inches="tight" keeps the columns.
            ax.figure.canvas.draw()
            fig.set_layout_engine("none")
            for t in ax.texts:
                t.set_in_layout(True)
        return ax


def _p_text(p: float) -> str:
    if np.isnan(p):
        return "p = NA"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


# --------------------------------------------------------------------------- checks
def _as_vector(x: Any, name: str) -> np.ndarray:
    if isinstance(x, str | bytes) or np.ndim(x) == 0:
        raise RpcEvalError(f"{name} must be a sequence of numbers, one per study/LA; "
                           f"got {x!r}")
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise RpcEvalError(f"{name} must contain numbers only") from None
    if arr.ndim != 1:
        raise RpcEvalError(f"{name} must be one-dimensional (one value per study/LA); "
                           f"got shape {arr.shape}")
    return arr


def _check_inputs(estimates, std_errors, labels, level, method):
    y = _as_vector(estimates, "estimates")
    se = _as_vector(std_errors, "std_errors")
    if y.size != se.size:
        raise RpcEvalError(f"estimates and std_errors must have the same length; got "
                           f"{y.size} estimates and {se.size} standard errors")
    k = y.size
    if labels is None:
        idx = getattr(estimates, "index", None)
        if isinstance(idx, pd.Index) and not isinstance(idx, pd.RangeIndex):
            labels = [str(v) for v in idx]
        else:
            labels = [f"Study {i + 1}" for i in range(k)]
    else:
        if isinstance(labels, str) or np.ndim(labels) != 1:
            raise RpcEvalError("labels must be a sequence of names, one per estimate")
        labels = [str(v) for v in labels]
        if len(labels) != k:
            raise RpcEvalError(f"labels must have one name per estimate; got {len(labels)} "
                               f"labels for {k} estimates")
    if k == 0:
        raise RpcEvalError("no estimates to pool: estimates is empty")
    if k == 1:
        raise RpcEvalError(
            f"only one estimate ({labels[0]!r}): a meta-analysis needs at least two; "
            "report the single estimate on its own")
    bad = [lab for lab, v in zip(labels, y, strict=True) if not np.isfinite(v)]
    if bad:
        raise RpcEvalError(f"estimates must be finite numbers; missing or infinite for: "
                           f"{', '.join(bad)}. Drop these rows or supply the values")
    bad = [f"{lab} ({v!r})" for lab, v in zip(labels, se, strict=True)
           if not (np.isfinite(v) and v > 0)]
    if bad:
        raise RpcEvalError(f"standard errors must be finite and greater than 0; not so for: "
                           f"{', '.join(bad)}")
    if isinstance(level, bool) or not isinstance(level, Real) or not 0.0 < float(level) < 1.0:
        raise RpcEvalError(f"ci must be a confidence level between 0 and 1 (e.g. 0.95), "
                           f"not {level!r}")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise RpcEvalError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return y, se, labels, float(level), method.upper()


# --------------------------------------------------------------------------- estimators
def _wmean(y: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * y) / np.sum(w))


def _reml_parts(y: np.ndarray, v: np.ndarray, tau2: float):
    """y'PPy, tr(P), tr(PP) for the intercept-only model at ``tau2``.

    With ``w = 1 / (v + tau2)``, ``S = sum w``: ``P = W - w w' / S``, so
    ``P y = w (y - mu_hat)``, ``tr P = S - sum w^2 / S`` and
    ``tr PP = sum w^2 - 2 sum w^3 / S + (sum w^2)^2 / S^2``.
    """
    w = 1.0 / (v + tau2)
    s1, s2, s3 = w.sum(), np.sum(w ** 2), np.sum(w ** 3)
    r = y - _wmean(y, w)
    ypy = float(np.sum(w ** 2 * r ** 2))
    tr_p = s1 - s2 / s1
    tr_pp = s2 - 2.0 * s3 / s1 + (s2 / s1) ** 2
    return ypy, tr_p, tr_pp


def _reml_loglik(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Restricted log-likelihood (up to a constant) at ``tau2``."""
    w = 1.0 / (v + tau2)
    r = y - _wmean(y, w)
    return float(-0.5 * (np.sum(np.log(v + tau2)) + np.log(w.sum()) + np.sum(w * r ** 2)))


def _reml_score(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Twice the derivative of the restricted log-likelihood: y'PPy - tr(P)."""
    ypy, tr_p, _ = _reml_parts(y, v, tau2)
    return ypy - tr_p


def _tau2_reml(y: np.ndarray, v: np.ndarray, tol: float, max_iter: int) -> tuple[float, int]:
    """REML tau^2 by Fisher scoring with step halving at the boundary, as metafor.

    Start: the Hedges (HE) estimate truncated at 0. Step:
    ``tau2 += (y'PPy - tr P) / tr(PP)``, halved until ``tau2 + step >= 0``. When a step
    has to be halved and the REML score at 0 is not positive, the maximum on
    ``[0, inf)`` is taken to be the boundary and ``tau2 = 0`` exactly (metafor instead
    creeps towards 0 by repeated halving and stops at a tiny positive value). Stops when
    ``|change| <= tol * max(tau2, mean(v))``. Safeguard metafor lacks: once a step
    overshoots the maximum (the score changes sign), the root of the score is bracketed
    and Brent's method finishes the job, so slow oscillation near 0 cannot stall the
    iteration. A final check compares the restricted
    likelihood with that at 0 (metafor's ``ll0check``).
    """
    k = y.size
    rss = np.sum((y - y.mean()) ** 2)
    tau2 = max(0.0, float((rss - v.sum() * (1.0 - 1.0 / k)) / (k - 1)))
    scale = float(np.mean(v))
    converged = False
    it = 0
    prev: tuple[float, float] | None = None       # (tau2, score) of the last iterate
    while it < max_iter:
        it += 1
        ypy, tr_p, tr_pp = _reml_parts(y, v, tau2)
        score = ypy - tr_p
        if prev is not None and tau2 > 0.0 and score * prev[1] < 0.0:
            # the last step crossed the maximum; where the likelihood is flat (tau2 near
            # 0) scoring steps can keep jumping back and forth across it, converging
            # very slowly. The root of the score is bracketed: finish with Brent.
            lo, hi = sorted((tau2, prev[0]))
            tau2 = float(optimize.brentq(lambda t: _reml_score(y, v, t), lo, hi,
                                         xtol=tol * min(scale, hi), rtol=4 * _EPS,
                                         maxiter=500))
            converged = True
            break
        adj = score / tr_pp
        if not np.isfinite(adj):
            break
        if tau2 + adj < 0.0:
            if tau2 == 0.0 or _reml_score(y, v, 0.0) <= 0.0:
                tau2 = 0.0
                converged = True
                break
            while tau2 + adj < 0.0:
                adj /= 2.0
        prev = (tau2, score)
        tau2 = tau2 + adj
        if abs(adj) <= tol * max(tau2, scale):
            converged = True
            break
    if not converged:
        tau2 = _tau2_reml_root(y, v)
        return tau2, it
    if tau2 > 0.0 and _reml_loglik(y, v, 0.0) > _reml_loglik(y, v, tau2):
        warnings.warn("REML: the restricted likelihood is higher at tau^2 = 0 than at the "
                      f"Fisher-scoring solution ({tau2:.4g}); using tau^2 = 0",
                      ConvergenceWarning, stacklevel=3)
        tau2 = 0.0
    return tau2, it


def _tau2_reml_root(y: np.ndarray, v: np.ndarray) -> float:
    """Fallback: the REML estimate as the root of the score equation (Brent)."""
    if _reml_score(y, v, 0.0) <= 0.0:
        return 0.0
    hi = max(float(np.var(y, ddof=1)), float(np.mean(v)), 1e-12)
    for _ in range(200):
        if _reml_score(y, v, hi) < 0.0:
            break
        hi *= 2.0
    else:
        raise RpcEvalError("REML estimation of tau^2 failed: the likelihood keeps "
                           "increasing; check the estimates and standard errors")
    warnings.warn("REML Fisher scoring did not converge; tau^2 found by root finding "
                  "on the REML score instead", ConvergenceWarning, stacklevel=4)
    return float(optimize.brentq(lambda t: _reml_score(y, v, t), 0.0, hi, xtol=1e-15,
                                 rtol=4 * _EPS, maxiter=500))


def _degenerate_notes(y: np.ndarray, k: int, method: str, tau2: float, i2: float,
                      knha: bool, knha_truncate: bool, hk: float, stat: float) -> list[str]:
    """Plain sentences on the degenerate cases of a pooled result (see ``notes``)."""
    notes: list[str] = []
    identical = bool(np.all(y == y[0]))
    if identical:
        notes.append(f"All {k} estimates are identical ({y[0]:.6g}): there is no "
                     "variation between them at all.")
    if knha and not knha_truncate and hk == 0.0:
        notes.append(
            "The Hartung-Knapp scaling factor is 0 because the estimates do not vary, so "
            "the standard error is 0 and the confidence interval has zero width (metafor "
            "gives the same). This does not mean the pooled value is known exactly: "
            "report the interval without the Hartung-Knapp adjustment (knha=False) or "
            "with its scale truncated at 1 (knha_truncate=True).")
        if np.isnan(stat):
            notes.append("The pooled estimate is 0 with a standard error of 0, so the test "
                         "statistic and p-value are undefined.")
    elif knha and not knha_truncate and hk < 1.0:
        notes.append(
            f"The Hartung-Knapp interval is narrower than the unadjusted one (scaling "
            f"factor {hk:.3g} < 1) because the estimates agree more closely than their "
            "standard errors imply; with few LAs it can be too narrow. knha_truncate=True "
            "gives the variant that is never narrower.")
    if k == 2:
        notes.append(
            "Only two estimates are pooled: the between-LA variance rests on a single "
            "difference and is very imprecise"
            + ("; the Hartung-Knapp interval uses a t distribution with 1 degree of "
               "freedom and is very wide." if knha and hk > 0 else "."))
    if method != "FE" and tau2 == 0.0 and not identical:
        notes.append(
            "The between-LA variance is estimated as 0 (the estimates vary no more than "
            "their standard errors imply), so the random-effects result equals the "
            "common-effect one.")
    if i2 >= 90.0:
        notes.append(
            f"The estimates differ far more than their standard errors imply (I^2 = "
            f"{i2:.1f}%): the pooled value averages LAs that differ a lot; read it with "
            "the prediction interval and the LA estimates.")
    return notes


# --------------------------------------------------------------------------- main
def random_effects(estimates, std_errors, *, method: str = "REML", knha: bool = False,
                   ci: float = 0.95, labels=None, knha_truncate: bool = False,
                   tol: float = 1e-12, max_iter: int = 1000) -> MetaAnalysisResult:
    """Random-effects (or common-effect) meta-analysis of estimates with standard errors.

    Parameters
    ----------
    estimates : sequence of float
        One estimate per LA/study (``y_i``), e.g. mean changes or log odds ratios.
    std_errors : sequence of float
        Their standard errors ``s_i`` (> 0); sampling variances are ``v_i = s_i^2``.
    method : {"REML", "DL", "FE"}
        Estimator of the between-LA variance ``tau^2``: restricted maximum likelihood
        (default; Fisher scoring as metafor, ``tau^2 >= 0``), DerSimonian-Laird, or
        ``"FE"`` for a common (fixed) effect with ``tau^2 = 0``.
    knha : bool
        Hartung-Knapp-Sidik-Jonkman confidence interval and test: t distribution on
        ``k - 1`` df and variance multiplied by
        ``q_HK = sum w_i (y_i - mu_hat)^2 / (k - 1)``, as metafor's ``test="knha"``
        (recommended when k is small; IntHout et al. 2014).
    ci : float
        Confidence level of the confidence and prediction intervals (0 < ci < 1).
    labels : sequence of str, optional
        Names of the LAs/studies (used in messages, :attr:`~MetaAnalysisResult.studies`
        and the forest plot). Defaults to the index of ``estimates`` when it is a
        pandas Series with a non-default index, else ``"Study 1"``, ``"Study 2"``, ...
    knha_truncate : bool
        Use ``max(1, q_HK)`` instead of ``q_HK`` (the "ad hoc" variant, metafor's
        ``test="adhoc"``), so the HKSJ interval is never narrower than the z interval.
        Only with ``knha=True``.
    tol, max_iter : float, int
        REML stopping rule: ``|change in tau^2| <= tol * max(tau^2, mean v_i)``.

    Returns
    -------
    MetaAnalysisResult
        Pooled estimate, CI, test, ``tau2``, I^2, H^2, Q, prediction interval, the
        per-LA table ``.studies`` and the one-row ``.table``; ``.forest_plot()``.

    Notes
    -----
    With ``w_i = 1 / (v_i + tau^2)`` the pooled estimate is
    ``mu_hat = sum w_i y_i / sum w_i`` with ``SE = sqrt(1 / sum w_i)`` (times
    ``sqrt(q_HK)`` under ``knha``).

    * DL: ``tau^2 = max(0, (Q - (k-1)) / (S1 - S2 / S1))`` with ``Q`` Cochran's Q and
      ``S_r = sum v_i^-r``.
    * REML: the root of ``sum w_i^2 (y_i - mu_hat)^2 = tr P`` on ``[0, inf)``, found by
      Fisher scoring ``tau^2 += (y'PPy - tr P) / tr(PP)`` from the Hedges estimate,
      halving steps that would go below 0; ``tau^2 = 0`` exactly when the REML maximum
      lies on the boundary (homogeneous data). ``SE(tau^2) = sqrt(2 / tr(PP))``.
    * Prediction interval: ``mu_hat -/+ crit * sqrt(SE^2 + tau^2)``, ``crit`` from
      t(k-1) under ``knha`` else the normal (metafor ``predict()``).

    R equivalent::

        library(metafor)
        m <- rma(yi = estimates, sei = std_errors, method = "REML", test = "z")
        # knha = TRUE: test = "knha"; knha_truncate = TRUE: test = "adhoc"
        predict(m)    # prediction interval
        weights(m)    # percentage weights

    metafor stops Fisher scoring at an absolute change below 1e-5; this function uses
    a much tighter rule, so REML results can differ from metafor's defaults in about
    the 7th significant figure.

    References
    ----------
    DerSimonian & Laird (1986); Viechtbauer (2005, 2010); Hartung & Knapp (2001);
    Sidik & Jonkman (2002); Higgins & Thompson (2002); IntHout et al. (2014).

    Examples
    --------
    >>> res = random_effects([-3.1, -4.0, -2.2, -3.6], [0.6, 0.8, 0.5, 0.7],
    ...                      labels=["LA1", "LA2", "LA3", "LA4"], knha=True)
    >>> round(res.estimate, 3), res.df, round(res.tau2, 3)
    (-3.086, 3, 0.269)
    >>> round(res.ci_low, 2), round(res.ci_high, 2)
    (-4.34, -1.83)
    >>> list(res.studies.columns)
    ['label', 'estimate', 'std_error', 'ci_low', 'ci_high', 'weight']
    """
    y, se, labels, level, method = _check_inputs(estimates, std_errors, labels, ci, method)
    if knha_truncate and not knha:
        raise RpcEvalError("knha_truncate=True only applies with knha=True")
    if knha and method == "FE":
        warnings.warn("the Hartung-Knapp adjustment is meant for random-effects models, "
                      "not a common-effect (FE) model", RpcEvalWarning, stacklevel=2)
    if not (isinstance(tol, Real) and 0 < tol < 1e-3):
        raise RpcEvalError(f"tol must be a small positive number (e.g. 1e-12); got {tol!r}")
    k = y.size
    v = se ** 2
    q_df = k - 1

    # Cochran's Q and the "typical" within variance (common-effect weights)
    w_fe = 1.0 / v
    s1, s2 = w_fe.sum(), np.sum(w_fe ** 2)
    tr_p_fe = s1 - s2 / s1
    q = max(0.0, float(np.sum(w_fe * (y - _wmean(y, w_fe)) ** 2)))
    q_p = float(stats.chi2.sf(q, q_df))
    v_typ = q_df / tr_p_fe

    iterations = 0
    if method == "FE":
        tau2, tau2_se = 0.0, float("nan")
    elif method == "DL":
        tau2 = max(0.0, (q - q_df) / tr_p_fe)
        # sum(P * P) for the common-effect P
        s3 = np.sum(w_fe ** 3)
        sum_pp = s2 - 2.0 * s3 / s1 + (s2 / s1) ** 2
        tau2_se = float(np.sqrt((2.0 * q_df + 4.0 * tau2 * tr_p_fe + 2.0 * tau2 ** 2 * sum_pp)
                                / tr_p_fe ** 2))
    else:
        tau2, iterations = _tau2_reml(y, v, float(tol), int(max_iter))
        tau2_se = float(np.sqrt(2.0 / _reml_parts(y, v, tau2)[2]))

    w = 1.0 / (v + tau2)
    mu = _wmean(y, w)
    var_mu = 1.0 / w.sum()
    hk = 1.0
    if knha:
        rss = float(np.sum(w * (y - mu) ** 2))
        hk = 0.0 if rss <= _EPS else rss / q_df
        if knha_truncate:
            hk = max(1.0, hk)
        var_mu *= hk
        df: int | None = q_df
        crit = float(stats.t.ppf(0.5 + level / 2.0, q_df))
    else:
        df = None
        crit = float(stats.norm.ppf(0.5 + level / 2.0))
    se_mu = float(np.sqrt(var_mu))
    with np.errstate(divide="ignore", invalid="ignore"):
        # metafor's answer when the HK scale is 0: t = +-Inf (p = 0), or NaN for 0 / 0
        stat = float(np.float64(mu) / np.float64(se_mu))
    if np.isnan(stat):
        p = float("nan")
    elif knha:
        p = float(2.0 * stats.t.sf(abs(stat), q_df))
    else:
        p = float(2.0 * stats.norm.sf(abs(stat)))
    pi_half = crit * np.sqrt(var_mu + tau2)

    if method == "FE":
        i2 = 0.0 if q <= 0 else max(0.0, 100.0 * (q - q_df) / q)
        h2 = q / q_df
    else:
        i2 = 100.0 * tau2 / (v_typ + tau2)
        h2 = tau2 / v_typ + 1.0

    z = float(stats.norm.ppf(0.5 + level / 2.0))
    studies = pd.DataFrame({
        "label": pd.Series(labels, dtype="str"),
        "estimate": y, "std_error": se, "ci_low": y - z * se, "ci_high": y + z * se,
        "weight": 100.0 * w / w.sum(),
    }, columns=STUDY_COLUMNS)

    notes = _degenerate_notes(y, k, method, tau2, i2, knha, knha_truncate, hk, stat)
    return MetaAnalysisResult(
        estimate=mu, std_error=se_mu, ci_low=mu - crit * se_mu, ci_high=mu + crit * se_mu,
        statistic=stat, p_value=p, df=df, tau2=float(tau2), tau=float(np.sqrt(tau2)),
        tau2_se=float(tau2_se), i2=float(i2), h2=float(h2), q=q, q_df=q_df, q_p_value=q_p,
        pred_low=float(mu - pi_half), pred_high=float(mu + pi_half), k=k, method=method,
        knha=bool(knha), ci=level, studies=studies, knha_truncate=bool(knha_truncate),
        hk_scale=float(hk), iterations=iterations, notes=notes,
    )


def pool_estimates(data: pd.DataFrame, estimate: str = "estimate",
                   std_error: str = "std_error", label: str | None = None,
                   **kwargs: Any) -> MetaAnalysisResult:
    """:func:`random_effects` on a tidy DataFrame with one row per LA/study.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per LA, e.g. the output of an LA-level analysis.
    estimate, std_error : str
        Columns holding the estimates and their standard errors.
    label : str, optional
        Column naming the rows (e.g. ``"la_code"``); by default ``"Study 1"``, ...
    **kwargs
        Passed to :func:`random_effects` (``method``, ``knha``, ``ci`` ...).

    Examples
    --------
    >>> import pandas as pd
    >>> las = pd.DataFrame({"la_code": ["E06000001", "E06000002", "E06000003"],
    ...                     "mean_change": [-2.5, -3.5, -1.0], "se": [0.5, 0.7, 0.6]})
    >>> res = pool_estimates(las, "mean_change", "se", label="la_code", method="DL")
    >>> res.studies["label"].tolist()
    ['E06000001', 'E06000002', 'E06000003']
    >>> round(res.i2, 1)
    74.3
    """
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError(f"data must be a pandas DataFrame; got {type(data).__name__}")
    cols: Sequence[str] = [c for c in (estimate, std_error, label) if c is not None]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise RpcEvalError(f"column(s) not found in data: {', '.join(map(repr, missing))}; "
                           f"available: {', '.join(map(str, data.columns))}")
    labels = None if label is None else data[label].astype(str).tolist()
    try:
        y = pd.to_numeric(data[estimate]).to_numpy(dtype=float, na_value=np.nan)
        s = pd.to_numeric(data[std_error]).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise RpcEvalError(f"columns {estimate!r} and {std_error!r} must hold numbers") from None
    return random_effects(y, s, labels=labels, **kwargs)
