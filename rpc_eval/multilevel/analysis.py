"""The multilevel analysis of a dataset, as the report shows it.

Parents are nested in LAs. One call fits: an ANCOVA-form linear mixed model of the
end-of-intervention score on the baseline score and intervention with a random LA
intercept (ICC and design effect from it); a random-intercept logistic GLMM of
completion among starters (LA effects as conditional modes with prediction intervals,
for the caterpillar plot); and funnel-plot limits for LA completion rates. Pure
analysis: it returns results and writes nothing.

The result is a :class:`~rpc_eval.results.ResultSet`: its one-line ``repr`` lists the
parts, and Jupyter shows an index of them with each part's own view below.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rpc_eval.data.model import EvaluationData
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import score_responses
from rpc_eval.multilevel.compare import FunnelResult, funnel_limits
from rpc_eval.multilevel.glmm import GlmmResult, fit_glmm
from rpc_eval.multilevel.lmm import LmmResult, fit_lmm
from rpc_eval.results import ResultSet

__all__ = ["MultilevelResults", "multilevel_analysis"]


@dataclass(repr=False)
class MultilevelResults(ResultSet):
    """What the multilevel section of a report shows.

    Attributes
    ----------
    outcome_model : LmmResult or None
        ``score_end ~ score_baseline + intervention + (1 | la_code)`` (REML; terms
        ``intervention[T.x]``); the reference intervention is the one with most starters
        (as in the engagement models), so the two sections compare against the same
        intervention.
    icc : DataFrame or None
        The outcome model's ICC and design effect (``component, variance, icc, ...``)
        with parametric-bootstrap 95% CIs.
    completion_model : GlmmResult or None
        ``completed ~ intervention + (1 | la_code)`` among starters (AGQ, 10 nodes).
    la_effects : DataFrame or None
        LA conditional modes (log-odds of completion) with 95% prediction intervals
        (``component, level, estimate, std_error, pi_low, pi_high``).
    completion_funnel : FunnelResult or None
        LA completion rates among starters against 95% and 99.8% limits.
    notes : list of str
    settings : dict
    """

    outcome_model: LmmResult | None
    icc: pd.DataFrame | None
    completion_model: GlmmResult | None
    la_effects: pd.DataFrame | None
    completion_funnel: FunnelResult | None
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def _title(self) -> str:
        return "Multilevel analysis"

    def _facts(self) -> list[tuple[str, Any]]:
        s = self.settings
        return [(k, s[k]) for k in ("instrument", "scale", "groups", "reference")
                if s.get(k) is not None]

    def _parts(self) -> dict[str, Any]:
        return {"outcome_model": self.outcome_model, "icc": self.icc,
                "completion_model": self.completion_model, "la_effects": self.la_effects,
                "completion_funnel": self.completion_funnel}


def _ancova_frame(data: EvaluationData, instrument: str, scale: str,
                  waves: tuple[str, str]) -> pd.DataFrame:
    scores = score_responses(data.responses, data.instruments, instruments=[instrument])
    scores = scores[(scores["scale"] == scale) & scores["valid"].fillna(False).astype(bool)]
    wide = (scores[scores["wave"].isin(waves)]
            .pivot_table(index="parent_id", columns="wave", values="score", aggfunc="first"))
    if not set(waves) <= set(wide.columns):
        raise RpcEvalError(f"{instrument} {scale} has no scores at both {waves[0]} and "
                           f"{waves[1]}")
    wide = wide.dropna(subset=list(waves)).rename(columns={waves[0]: "score_baseline",
                                                          waves[1]: "score_end"})
    return wide.reset_index().merge(data.parents[["parent_id", "la_code", "intervention"]],
                                    on="parent_id")


def _with_reference(frame: pd.DataFrame, column: str, reference: str | None) -> pd.DataFrame:
    """``column`` as a categorical whose first category (patsy's reference) is ``reference``
    (``frame`` as it is when there is no reference: nobody started)."""
    if reference is None:
        return frame
    levels = [reference, *sorted(set(frame[column].dropna()) - {reference})]
    return frame.assign(**{column: pd.Categorical(frame[column], categories=levels)})


def multilevel_analysis(
    data: EvaluationData,
    *,
    instrument: str = "phq9",
    scale: str | None = None,
    waves: tuple[str, str] = ("baseline", "end"),
    groups: str = "la_code",
    n_boot: int = 200,
    seed: int = 20240601,
    completion_groups: str | None = None,
    n_agq: int = 10,
) -> MultilevelResults:
    """Fit the report's multilevel models.

    Parameters
    ----------
    data : EvaluationData
    instrument, scale : str
        Outcome questionnaire and scale (default: the instrument's headline scale).
    waves : (str, str)
        Baseline and follow-up waves of the ANCOVA model.
    groups : str
        Column of ``parents`` identifying the LA: the random intercept of the models.
    n_boot, seed : int
        Parametric-bootstrap replicates and seed for the ICC and design-effect
        intervals (fixed seed: the report is reproducible); ``n_boot=0`` for no
        intervals.
    completion_groups : str, optional
        Random intercept of the completion GLMM and unit of the funnel plot (default:
        ``groups``).
    n_agq : int
        Quadrature nodes of the completion GLMM (1 = Laplace).

    Returns
    -------
    MultilevelResults

    Notes
    -----
    R equivalents::

        lmer(score_end ~ score_baseline + intervention + (1 | la_code), REML = TRUE)
        glmer(completed ~ intervention + (1 | la_code), family = binomial, nAGQ = 10)

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("default", seed=1)
    >>> res = multilevel_analysis(data)
    >>> list(res.outcome_model.fixed_effects.columns)
    ['term', 'estimate', 'std_error', 'statistic', 'df', 'p_value', 'ci_low', 'ci_high']
    >>> res.outcome_model.fixed_effects["term"].iloc[1]
    'intervention[T.enhanced_triple_p]'
    >>> repr(res).startswith("<Multilevel analysis: 5 parts")
    True
    """
    notes: list[str] = []
    cgroup = completion_groups or groups
    scale = scale or data.instruments.get(instrument).primary_scale
    started = data.parents["start_date"].notna()
    reference = data.parents.loc[started, "intervention"].value_counts().idxmax() \
        if started.any() else None
    outcome = icc = glmm = la_effects = funnel = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = _with_reference(_ancova_frame(data, instrument, scale, waves),
                                    "intervention", reference)
            outcome = fit_lmm(frame, "score_end ~ score_baseline + C(intervention)",
                              groups=groups, reml=True)
            icc = outcome.icc(n_boot=n_boot, seed=seed)
        except RpcEvalError as exc:
            notes.append(f"Outcome model not fitted: {exc}")
        starters = data.parents[data.parents["start_date"].notna()].copy()
        starters["completed"] = (starters["exit_reason"] == "completed").astype(int)
        starters = starters[starters["exit_reason"] != "ongoing"]
        if reference is not None:
            starters = _with_reference(starters, "intervention", reference)
        try:
            glmm = fit_glmm(starters, "completed ~ C(intervention)", groups=cgroup,
                            n_agq=n_agq)
            la_effects = glmm.blups()
        except RpcEvalError as exc:
            notes.append(f"Completion model not fitted: {exc}")
        try:
            funnel = funnel_limits(starters, cgroup, "completed")
        except RpcEvalError as exc:
            notes.append(f"Completion funnel plot not drawn: {exc}")
    for w in caught:
        if str(w.message) not in notes:  # said once, in words, no class name
            notes.append(str(w.message))
    return MultilevelResults(
        outcome_model=outcome, icc=icc, completion_model=glmm, la_effects=la_effects,
        completion_funnel=funnel, notes=notes,
        settings={"instrument": instrument, "scale": scale, "waves": list(waves),
                  "groups": groups, "reference": reference},
    )
