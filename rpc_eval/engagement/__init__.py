"""Engagement: the referral funnel, retention, dropout and completion as competing risks.

Non-parametric estimators (Kaplan-Meier, log-rank, Aalen-Johansen cumulative incidence,
Gray's test) take any DataFrame with a duration column and an integer event column
(0 = censored, 1 = dropout, 2 = completion in RPC data).
"""

from rpc_eval.engagement.nonparametric import (
    cumulative_incidence,
    gray_test,
    kaplan_meier,
    logrank_test,
)

__all__ = ["cumulative_incidence", "gray_test", "kaplan_meier", "logrank_test"]
