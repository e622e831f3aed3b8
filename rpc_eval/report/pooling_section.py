"""The pooling section of a regional report: the two-stage pooled change (LA summaries
pooled by random-effects meta-analysis, as ``rpc-eval pool`` does) beside the one-stage
multilevel model fitted to the same parents. Publishes results; computes nothing."""

from __future__ import annotations

import pandas as pd

from rpc_eval.report.disclosure import TableSpec
from rpc_eval.report.publish import Report, Shown

__all__ = ["pooling_section"]


def pooling_section(rpt: Report, comparison: pd.DataFrame) -> Shown:
    """Publish ``pooling_one_vs_two_stage`` (rows of
    :func:`rpc_eval.federated.one_stage_comparison`, one pair per pooled outcome)."""
    stats = ("estimate", "std_error", "ci_low", "ci_high", "tau2_or_la_variance")
    return rpt.table(
        "pooling_one_vs_two_stage", comparison,
        "Mean change pooled across LAs: two-stage (each LA's summary, random-effects "
        "meta-analysis with REML and Hartung-Knapp-Sidik-Jonkman interval) beside one-stage "
        "(multilevel model of the change with a random LA intercept, REML) on the same "
        "parents",
        spec=TableSpec(counts=("n_parents",), derived={c: ("n_parents",) for c in stats}))
