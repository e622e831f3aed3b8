"""Engagement: the referral funnel, retention, dropout and completion as competing risks.

Estimators (Kaplan-Meier, log-rank, Aalen-Johansen cumulative incidence, Gray's test,
cause-specific Cox, Fine-Gray, discrete-time hazards) take any DataFrame with a
duration column and an integer event column (0 = censored, 1 = dropout, 2 = completion
in RPC data); :func:`time_to_event` builds that frame from an EvaluationData.
"""

from rpc_eval.engagement.analysis import engagement_analysis
from rpc_eval.engagement.cox import fit_cox
from rpc_eval.engagement.discrete import empirical_hazard, fit_discrete_hazard
from rpc_eval.engagement.finegray import fine_gray
from rpc_eval.engagement.funnel import funnel, funnel_table
from rpc_eval.engagement.nonparametric import (
    cumulative_incidence,
    gray_test,
    kaplan_meier,
    logrank_test,
)
from rpc_eval.engagement.timetoevent import person_period, time_to_event

__all__ = [
    "cumulative_incidence",
    "empirical_hazard",
    "engagement_analysis",
    "fine_gray",
    "fit_cox",
    "fit_discrete_hazard",
    "funnel",
    "funnel_table",
    "gray_test",
    "kaplan_meier",
    "logrank_test",
    "person_period",
    "time_to_event",
]
