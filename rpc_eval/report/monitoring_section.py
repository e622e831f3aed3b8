"""The satisfaction, training and planning-tool sections of a report (publishing only)."""

from __future__ import annotations

from rpc_eval.monitoring import MonitoringResults
from rpc_eval.report.disclosure import TableSpec
from rpc_eval.report.publish import Report, Shown

__all__ = ["monitoring_section"]

_TARGET = ("n", "successes", "proportion", "ci_low", "ci_high", "lower_bound_one_sided",
           "p_value", "meets_target")
#: Result columns -> the names the published tables (CSV headers, data dictionary) have
#: always used, per table.
PUBLISHED_NAMES = {
    "training_pre_post": {"wilcoxon_statistic": "wilcoxon_v",
                          "wilcoxon_p_value": "wilcoxon_p"},
    "training_application": {"mcnemar_p_value": "mcnemar_p"},
    "planning_stage_change": {"wilcoxon_statistic": "wilcoxon_V",
                              "wilcoxon_p_value": "wilcoxon_p",
                              "stuart_maxwell_statistic": "stuart_maxwell",
                              "stuart_maxwell_p_value": "stuart_maxwell_p"},
}
#: name -> (title, spec, columns shown, implied counts), in published column names.
#: Planning-tool tables count LAs.
_TABLES = {
    "parent_satisfaction_items": (
        "Parent satisfaction by item (top box = agree or strongly agree; 95% intervals)",
        TableSpec(counts=("n",), derived={c: ("n",) for c in (
            "mean", "sd", "mean_ci_low", "mean_ci_high", "top_box", "top_box_ci_low",
            "top_box_ci_high", "bottom_box", "net_score")}),
        ["item", "n", "mean", "mean_ci_low", "mean_ci_high", "top_box", "top_box_ci_low",
         "top_box_ci_high", "net_score"],
        {"top_box": ("n", ("top_box_ci_low", "top_box_ci_high", "net_score")),
         "bottom_box": ("n", ("net_score",))}),
    "parent_satisfaction_target": (
        "Parents satisfied against the target (exact one-sided binomial test)",
        TableSpec(counts=("n", "successes"), derived={c: ("n", "successes") for c in
                                                      _TARGET[2:]}, safe=("target",)),
        ["intervention", *_TARGET], None),
    "training_satisfaction_target": (
        "Practitioners satisfied with the training against the target",
        TableSpec(counts=("n", "successes"), derived={c: ("n", "successes") for c in
                                                      _TARGET[2:]}, safe=("target",)),
        list(_TARGET), None),
    "training_pre_post": (
        "Practitioners' self-ratings before and after training (paired; Wilcoxon "
        "signed-rank test, matched-pairs rank-biserial correlation)",
        TableSpec(counts=("n_pairs", "n_nonzero"), derived={c: ("n_pairs",) for c in (
            "median_1", "median_2", "mean_1", "mean_2", "mean_change", "mean_change_ci_low",
            "mean_change_ci_high", "wilcoxon_v", "wilcoxon_t_minus", "wilcoxon_z",
            "wilcoxon_p", "rank_biserial", "rank_biserial_ci_low",
            "rank_biserial_ci_high")}),
        ["question", "n_pairs", "mean_1", "mean_2", "mean_change", "mean_change_ci_low",
         "mean_change_ci_high", "wilcoxon_p", "rank_biserial"], None),
    "training_application": (
        "Applying the training six months on, by sector (anticipated vs actual: exact "
        "McNemar test)",
        TableSpec(counts=("n_followup", "n_weekly", "n_monthly", "n_paired",
                          "n_expected_only", "n_actual_only"),
                  derived={**{c: ("n_weekly", "n_followup") for c in (
                      "share_weekly", "share_weekly_ci_low", "share_weekly_ci_high")},
                      **{c: ("n_monthly", "n_followup") for c in (
                          "share_monthly", "share_monthly_ci_low", "share_monthly_ci_high")},
                      **{c: ("n_paired", "n_expected_only", "n_actual_only") for c in (
                          "share_expected_weekly", "share_actual_weekly",
                          "difference_weekly", "mcnemar_p")}}),
        ["sector", "n_followup", "share_weekly", "share_weekly_ci_low",
         "share_weekly_ci_high", "share_monthly", "share_expected_weekly",
         "share_actual_weekly", "mcnemar_p"], None),
    "planning_stages": (
        "Planning tool: stage reached by dimension and return year (percent of LA answers "
        "at stage 3 or above)", TableSpec(units="organisations"),
        ["return_year", "dimension", "n_las", "mean_stage", "percent_at_least"], None),
    "planning_stage_change": (
        "Planning tool: change in stage for the same LAs between the first and last return "
        "(Wilcoxon signed-rank; Stuart-Maxwell marginal homogeneity)",
        TableSpec(units="organisations"),
        ["item", "dimension", "year_from", "year_to", "n_paired", "percent_up",
         "percent_same", "percent_down", "mean_change", "wilcoxon_p", "stuart_maxwell_p"],
        None),
}


def monitoring_section(rpt: Report, res: MonitoringResults, *, satisfaction: bool = True,
                       training: bool = True, planning_tool: bool = True) -> Shown:
    """Publish the satisfaction, training and planning-tool tables (named
    ``monitoring_<table>``) that the results hold and the plan asks for."""
    wanted = {"parent_satisfaction": satisfaction, "training": training,
              "planning": planning_tool}
    target = res.settings.get("target")
    out = Shown("")
    if target is not None and satisfaction:
        out += Shown(f'<p class="note">Target: at least {target:.0%} of parents '
                     "satisfied. An intervention meets the target (Yes) when we can be 95% "
                     "sure that its share of satisfied parents is above the target.</p>")
    for name, (title, spec, cols, implied) in _TABLES.items():
        frame = res.tables.get(name)
        if frame is None or not any(name.startswith(k) and v for k, v in wanted.items()):
            continue
        frame = frame.rename(columns=PUBLISHED_NAMES.get(name, {}))
        out += rpt.table(f"monitoring_{name}", frame, title, spec=spec,
                         columns=[c for c in cols if c in frame.columns], implied=implied)
    for note in res.notes:
        out += rpt.caution(note)
    return out
