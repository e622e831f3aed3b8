"""The multilevel section of a report: outcome model by intervention, ICC, LA
comparisons (caterpillar and funnel plots). Publishes results; computes nothing."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rpc_eval.multilevel.compare import caterpillar_plot  # noqa: E402
from rpc_eval.multilevel.summary import MultilevelResults  # noqa: E402
from rpc_eval.report.disclosure import TableSpec  # noqa: E402
from rpc_eval.report.html import esc  # noqa: E402
from rpc_eval.report.publish import Report, Shown  # noqa: E402

__all__ = ["multilevel_section"]


def multilevel_section(rpt: Report, res: MultilevelResults) -> Shown:
    """Publish the multilevel tables and figures.

    Tables: ``multilevel_outcome_fixed_effects``, ``multilevel_outcome_variance_components``,
    ``multilevel_icc``, ``multilevel_completion_fixed_effects``, ``multilevel_la_effects``,
    ``multilevel_completion_funnel`` (LA counts of parents: protected like any count of
    people). Figures: LA caterpillar and funnel plot (LAs with suppressed counts left out).
    """
    s = res.settings
    out = Shown("")
    if res.outcome_model is not None:
        out += Shown(
            f'<p class="note">Linear mixed model of the {esc(s["waves"][1])} score on '
            f'{esc(s["instrument"])} ({esc(s["scale"])}), adjusted for the '
            f'{esc(s["waves"][0])} score, with a random intercept for each LA (REML; '
            "Satterthwaite degrees of freedom). Intervention terms are differences from "
            f'{esc(str(s.get("reference")))}.</p>')
        out += rpt.table("multilevel_outcome_fixed_effects",
                         res.outcome_model.fixed_effects, "Outcome model: fixed effects")
        out += rpt.table("multilevel_outcome_variance_components",
                         res.outcome_model.variance_components,
                         "Outcome model: variance components")
    if res.icc is not None:
        out += rpt.table("multilevel_icc", res.icc,
                         "Intra-class correlation and design effect (share of outcome variance "
                         "between LAs), with 95% parametric-bootstrap intervals",
                         missing={c: "[z]" for c in res.icc.columns if c != "variance"})
    if res.completion_model is not None:
        out += rpt.table("multilevel_completion_fixed_effects",
                         res.completion_model.fixed_effects,
                         "Completion among starters: random-intercept logistic model "
                         "(log-odds; adaptive Gauss-Hermite quadrature; z tests, so df is "
                         "not applicable)", missing={"df": "[z]"})
    if res.la_effects is not None:
        shown = rpt.table("multilevel_la_effects", res.la_effects,
                          "LA effects on the log-odds of completion (conditional modes with "
                          "95% prediction intervals)", max_rows=10)
        fig, ax = plt.subplots(figsize=(7, max(4.0, 0.24 * len(res.la_effects))))
        caterpillar_plot(rpt.values("multilevel_la_effects"), ax=ax)
        ax.set_xlabel("LA effect on the log-odds of completion (95% prediction interval)")
        out += rpt.figure(fig, "la_caterpillar_completion",
                          "Each LA's estimated effect on completion as a point with a "
                          "horizontal 95% prediction interval, sorted from lowest to highest, "
                          "with a vertical line at zero (the average LA).")
        out += shown
    if res.completion_funnel is not None:
        shown = rpt.table(
            "multilevel_completion_funnel", res.completion_funnel.table,
            "LA completion rates against funnel limits (95% and 99.8%) around the overall "
            "rate", spec=TableSpec(counts=("n", "events"),
                                   derived={c: ("n", "events") for c in
                                            ("rate", "z", "flag")}), max_rows=10)
        values = rpt.values("multilevel_completion_funnel").dropna(subset=["rate"])
        left_out = len(res.completion_funnel.table) - len(values)
        published = dataclasses.replace(res.completion_funnel, table=values)
        fig, ax = plt.subplots(figsize=(8, 5))
        published.plot(ax=ax)
        ax.set_xlabel("Parents who started (count)")
        ax.set_ylabel("Completion rate (proportion)")
        flagged = values[values["flag"].astype(str).str.contains("99.8")]
        out += rpt.figure(fig, "la_funnel_completion",
                          "Funnel plot: each LA's completion rate against its number of "
                          "starters, with the overall rate as a horizontal line and dashed "
                          "(95%) and dotted (99.8%) control limits narrowing as numbers grow; "
                          "LAs outside the limits are drawn as triangles and labelled.")
        out += shown
        out += Shown(f'<p class="note">{len(flagged)} LA(s) lie outside the 99.8% limits.'
                     + (f" {left_out} LA(s) with counts suppressed by disclosure control "
                        "are not plotted." if left_out else "") + "</p>")
    for note in res.notes:
        out += Shown(f'<p class="note">{esc(note)}</p>')
    return out
