"""Engagement: the referral funnel, retention, dropout and completion as competing risks.

Estimators (Kaplan-Meier, log-rank, Aalen-Johansen cumulative incidence, Gray's test,
cause-specific Cox, Fine-Gray, discrete-time hazards) take any DataFrame with a
duration column and an event column, numeric (0 = censored, 1 = dropout, 2 = completion
in RPC data) or text (``censored="ongoing"``); :func:`time_to_event` builds that frame
from an EvaluationData. The ``plot_*`` functions draw their tables in an accessible
style (colour-blind-safe colours, line styles as well as colour, labels in words).
"""

from rpc_eval.engagement.analysis import EngagementResults, engagement_analysis
from rpc_eval.engagement.cox import CoxResult, fit_cox
from rpc_eval.engagement.discrete import (
    DiscreteHazardResult,
    empirical_hazard,
    fit_discrete_hazard,
)
from rpc_eval.engagement.finegray import FineGrayResult, fine_gray
from rpc_eval.engagement.funnel import funnel, funnel_table
from rpc_eval.engagement.nonparametric import (
    CumulativeIncidenceResult,
    KaplanMeierResult,
    cumulative_incidence,
    gray_test,
    kaplan_meier,
    logrank_test,
)
from rpc_eval.engagement.plots import (
    event_label,
    plot_cumulative_incidence,
    plot_ratios,
    plot_retention,
    plot_session_hazard,
)
from rpc_eval.engagement.separation import SeparationWarning
from rpc_eval.engagement.timetoevent import person_period, time_to_event

__all__ = [
    "CoxResult",
    "CumulativeIncidenceResult",
    "DiscreteHazardResult",
    "EngagementResults",
    "FineGrayResult",
    "KaplanMeierResult",
    "SeparationWarning",
    "cumulative_incidence",
    "empirical_hazard",
    "engagement_analysis",
    "event_label",
    "fine_gray",
    "fit_cox",
    "fit_discrete_hazard",
    "funnel",
    "funnel_table",
    "gray_test",
    "kaplan_meier",
    "logrank_test",
    "person_period",
    "plot_cumulative_incidence",
    "plot_ratios",
    "plot_retention",
    "plot_session_hazard",
    "time_to_event",
]
