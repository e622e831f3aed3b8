"""The satisfaction, training and planning-tool sections of a report (formatting only)."""

from __future__ import annotations

import pandas as pd

from rpc_eval.monitoring import MonitoringResults
from rpc_eval.report.html import esc, table_html

__all__ = ["write_monitoring_section"]

#: (table name, columns shown, caption); tables absent from the results are skipped.
_SHOWN = [
    ("parent_satisfaction_items",
     ["item", "n", "mean", "mean_ci_low", "mean_ci_high", "top_box", "top_box_ci_low",
      "top_box_ci_high", "net_score"],
     "Parent satisfaction by item (top box = agree or strongly agree; 95% intervals)"),
    ("parent_satisfaction_target",
     ["intervention", "n", "successes", "proportion", "ci_low", "ci_high",
      "lower_bound_one_sided", "p_value", "meets_target"],
     "Parents satisfied against the target (exact one-sided binomial test)"),
    ("training_satisfaction_target",
     ["n", "successes", "proportion", "ci_low", "ci_high", "lower_bound_one_sided",
      "p_value", "meets_target"],
     "Practitioners satisfied with the training against the target"),
    ("training_pre_post",
     ["question", "n_pairs", "mean_1", "mean_2", "mean_change", "mean_change_ci_low",
      "mean_change_ci_high", "wilcoxon_p", "rank_biserial", "rank_biserial_ci_low",
      "rank_biserial_ci_high"],
     "Practitioners' self-ratings before and after training (paired; Wilcoxon signed-rank "
     "test, matched-pairs rank-biserial correlation)"),
    ("training_application",
     ["sector", "n_followup", "share_weekly", "share_weekly_ci_low", "share_weekly_ci_high",
      "share_monthly", "share_expected_weekly", "share_actual_weekly", "mcnemar_p"],
     "Applying the training six months on, by sector (anticipated vs actual: exact "
     "McNemar test)"),
    ("planning_stages",
     ["return_year", "dimension", "n_las", "mean_stage", "percent_at_least"],
     "Planning tool: stage reached by dimension and return year (percent of LA answers at "
     "stage 3 or above)"),
    ("planning_stage_change",
     ["item", "dimension", "year_from", "year_to", "n_paired", "percent_up", "percent_same",
      "percent_down", "mean_change", "wilcoxon_p", "stuart_maxwell_p"],
     "Planning tool: change in stage for the same LAs between the first and last return "
     "(Wilcoxon signed-rank; Stuart-Maxwell marginal homogeneity)"),
]


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: v if pd.isna(v) else
                                (float(f"{v:.3g}") if abs(v) < 0.001 else round(v, 3)))
    return out


def write_monitoring_section(res: MonitoringResults) -> tuple[str, dict[str, pd.DataFrame]]:
    """The section's HTML and its tables (written as CSV by the report)."""
    target = res.settings.get("target")
    parts = ["<h2>Satisfaction, practitioner training and the planning tool</h2>"]
    if target is not None:
        parts.append(f'<p class="note">Target: at least {target:.0%} satisfied. '
                     "'meets_target' is true when the one-sided 95% lower bound is above "
                     "the target.</p>")
    for name, cols, caption in _SHOWN:
        frame = res.tables.get(name)
        if frame is None:
            continue
        shown = frame[[c for c in cols if c in frame.columns]]
        parts.append(table_html(_rounded(shown), caption))
    for note in res.notes:
        parts.append(f'<p class="note">{esc(note)}</p>')
    return "\n".join(parts), {f"monitoring_{k}": v for k, v in res.tables.items()}
