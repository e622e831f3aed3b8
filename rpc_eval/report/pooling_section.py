"""The pooling section of a regional report: the two-stage pooled change (LA summaries
pooled by random-effects meta-analysis, as ``rpc-eval pool`` does) beside the one-stage
multilevel model fitted to the same parents. Publishes results; computes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rpc_eval.report.disclosure import TableSpec
from rpc_eval.report.publish import Report, Shown

__all__ = ["pooling_section"]


def pooling_section(rpt: Report, comparison: pd.DataFrame) -> Shown:
    """Publish ``pooling_one_vs_two_stage`` (rows of
    :func:`rpc_eval.regional.federated.one_stage_comparison`, one pair per pooled outcome)."""
    stats = ("estimate", "std_error", "ci_low", "ci_high", "tau2_or_la_variance")
    return rpt.table(
        "pooling_one_vs_two_stage", comparison,
        "Mean change pooled across LAs: two-stage (each LA's summary, random-effects "
        "meta-analysis with REML and Hartung-Knapp-Sidik-Jonkman interval) beside one-stage "
        "(multilevel model of the change with a random LA intercept, REML) on the same "
        "parents",
        spec=TableSpec(counts=("n_parents",), derived={c: ("n_parents",) for c in stats},
                       safe=("k_las",)),
        close_to={"n_parents": _paired_all(rpt, comparison)},
        description=["Where the parents pooled here and the paired parents of the outcomes "
                     f"table differ by 1 to {rpt.rules.threshold - 1}, the row is "
                     "suppressed: comparing the two would single those parents out."])


def _paired_all(rpt: Report, comparison: pd.DataFrame) -> list[float]:
    """The outcomes table's paired parents (its ``All`` row) for each row's outcome."""
    t = rpt.tables.get("outcomes_change")
    if t is None or t.source is None:
        return [np.nan] * len(comparison)
    f = t.source.frame
    by = f.columns[0]
    allrows = f[f[by] == "All"]
    out = []
    for _, row in comparison.iterrows():
        hit = allrows[(allrows["instrument"] == row["instrument"])
                      & (allrows["scale"] == row["scale"])]
        out.append(float(hit["n_paired"].iloc[0]) if len(hit) else np.nan)
    return out
