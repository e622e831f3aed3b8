"""The engagement section of a report: funnel, retention, competing exits, models.

Publishes :class:`~rpc_eval.engagement.summary.EngagementResults` through a
:class:`~rpc_eval.report.publish.Report`; computes nothing. Figures are drawn from the
protected tables: a suppressed cell is not plotted.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rpc_eval.engagement.funnel import STAGES  # noqa: E402
from rpc_eval.engagement.plots import (  # noqa: E402
    plot_cumulative_incidence,
    plot_retention,
    plot_session_hazard,
)
from rpc_eval.engagement.summary import EngagementResults  # noqa: E402
from rpc_eval.report.disclosure import TableSpec, TotalRows  # noqa: E402
from rpc_eval.report.html import esc  # noqa: E402
from rpc_eval.report.publish import Report, Shown  # noqa: E402

__all__ = ["engagement_section", "funnel_wide"]

CAUSE_LABELS = {1: "Dropped out", 2: "Completed"}
ALL_ANALYSES = ("funnel", "retention", "cumulative_incidence", "cox", "fine_gray",
                "session_hazard")


def funnel_wide(funnel: pd.DataFrame, group: str) -> pd.DataFrame:
    """The funnel one row per group: ``n_<stage>``, and ``rate_<stage>``,
    ``ci_low_<stage>``, ``ci_high_<stage>`` (from the stage's denominator stage), in
    :data:`~rpc_eval.engagement.funnel.STAGES` order; ``All`` last. Each rate then rests
    on counts of its own row, so disclosure control can suppress it with them."""
    order = list(pd.unique(funnel[group]))
    rows = []
    for g in order:
        sub = funnel[funnel[group] == g].set_index("stage")
        row: dict = {group: g}
        for st in STAGES:
            if st.stage not in sub.index:
                continue
            r = sub.loc[st.stage]
            row[f"n_{st.stage}"] = int(r["n"])
            if st.denominator is None:
                continue
            for c in ("rate", "ci_low", "ci_high"):
                row[f"{c}_{st.stage}"] = float(r[c]) if pd.notna(r[c]) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _model_columns(coefficients: pd.DataFrame) -> list[str]:
    return [c for c in ("term", "hr", "ci_low", "ci_high", "p") if c in coefficients]


def engagement_section(rpt: Report, res: EngagementResults,
                       analyses: Sequence[str] = ALL_ANALYSES) -> Shown:
    """Publish the engagement tables and figures the plan asks for.

    Tables: ``engagement_funnel`` (by group, with ``All`` rows), ``engagement_retention_km``,
    ``engagement_logrank``, ``engagement_cumulative_incidence``, ``engagement_gray_test``,
    ``engagement_cox_dropout``, ``engagement_finegray_completion``,
    ``engagement_session_hazard``. Figures: retention, stacked cumulative incidence and
    session hazard by group.
    """
    group = res.settings["group"]
    label = group.replace("_", " ")
    ref = res.settings["reference"]
    thr = rpt.rules.threshold
    out = Shown("")
    if "funnel" in analyses:
        wide = funnel_wide(res.funnel, group)
        stages = [st.stage for st in STAGES if f"n_{st.stage}" in wide]
        derived = {}
        for st in STAGES:
            if st.denominator is None or f"n_{st.stage}" not in wide:
                continue
            for c in ("rate", "ci_low", "ci_high"):
                derived[f"{c}_{st.stage}"] = (f"n_{st.stage}", f"n_{st.denominator}")
        out += rpt.table(
            "engagement_funnel", wide,
            f"Referral funnel by {label}: parents at each stage, and the share of the "
            "stage before who reached it (rate, 95% Wilson interval; completers for the "
            "questionnaire stages)",
            spec=TableSpec(counts=tuple(f"n_{s}" for s in stages), derived=derived,
                           total_rows=TotalRows(column=group, label="All")),
            nested=[(f"n_{st.denominator}", f"n_{st.stage}") for st in STAGES
                    if st.denominator is not None and f"n_{st.stage}" in wide],
            columns=[group, *[c for s in stages for c in (f"n_{s}", f"rate_{s}")
                              if c in wide]], max_rows=20)
    if "retention" in analyses:
        km = res.retention.table
        out += Shown(f"<h3>Retention by {esc(label)}</h3>")
        shown = rpt.table(
            "engagement_retention_km", km,
            f"Kaplan-Meier retention by {label}: share not yet dropped out by sessions "
            "attended (completion and ongoing parents censored)",
            spec=TableSpec(counts=("n_risk", "n_event", "n_censor"),
                           derived={c: ("n_event",) for c in
                                    ("survival", "std_err", "ci_low", "ci_high")}),
            columns=["group", "time", "n_risk", "n_event", "survival", "ci_low", "ci_high"],
            max_rows=15)
        published = rpt.values("engagement_retention_km").dropna(subset=["survival"])
        fig, ax = plt.subplots(figsize=(8, 5))
        plot_retention(published, ax=ax, ci=False, legend_title=label,
                       ylabel="Proportion not dropped out")
        out += rpt.figure(fig, f"retention_by_{group}",
                          f"Step curves of the share of starters not yet dropped out, by "
                          f"sessions attended, one line style per {label}; steps resting on "
                          f"fewer than {thr} dropouts are merged into the next step.")
        out += shown
        out += rpt.table("engagement_logrank", res.logrank,
                         "Log-rank test of equal dropout across groups")
    if "cumulative_incidence" in analyses:
        cif = res.cumulative_incidence.table
        cif = cif[cif["n_risk"] >= thr].reset_index(drop=True)
        out += Shown("<h3>Dropout and completion as competing exits</h3>")
        shown = rpt.table(
            "engagement_cumulative_incidence", cif,
            f"Cumulative incidence of dropout (cause 1) and completion (cause 2) by {label} "
            f"(Aalen-Johansen), shown while at least {thr} parents are at risk",
            spec=TableSpec(counts=("n_risk", "n_event"),
                           derived={c: ("n_event",) for c in
                                    ("cif", "variance", "ci_low", "ci_high")}),
            columns=["group", "cause", "time", "n_risk", "n_event", "cif", "ci_low",
                     "ci_high"], max_rows=15)
        # steps resting on a suppressed count are merged into the next published step
        cif = rpt.values("engagement_cumulative_incidence").dropna(subset=["cif"])
        plot_frame = cif.copy()
        plot_frame["cause"] = plot_frame["cause"].map(CAUSE_LABELS).fillna(
            plot_frame["cause"].astype(str))
        groups = list(pd.unique(plot_frame["group"]))
        ncol = min(4, len(groups))
        nrow = int(np.ceil(len(groups) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.3 * nrow), squeeze=False,
                                 sharey=True)
        used = axes.ravel()[: len(groups)]
        plot_cumulative_incidence(plot_frame, axes=used, stacked=True)
        for i, a in enumerate(used):
            a.set_title(a.get_title().replace("_", " "), fontsize=10)
            if i and a.get_legend() is not None:
                a.get_legend().remove()
        for extra in axes.ravel()[len(groups):]:
            extra.set_visible(False)
        fig.tight_layout()
        out += rpt.figure(fig, f"cumulative_incidence_by_{group}",
                          f"One panel per {label}: stacked areas of the cumulative share of "
                          "starters who dropped out and who completed, by sessions attended; "
                          "the hatching differs by exit as well as the colour.")
        out += shown
        out += rpt.table("engagement_gray_test", res.gray,
                         "Gray's test of equal cumulative incidence (cause 1 = dropout, "
                         "2 = completion)")
    if "session_hazard" in analyses:
        shown = rpt.table(
            "engagement_session_hazard", res.session_hazard,
            f"Dropout hazard at each session by {label}: share of parents at risk who "
            "dropped out at that session (95% intervals)",
            spec=TableSpec(counts=("n_at_risk", "n_events"),
                           derived={c: ("n_events", "n_at_risk") for c in
                                    ("hazard", "ci_low", "ci_high")}),
            max_rows=15)
        haz = rpt.values("engagement_session_hazard").rename(columns={group: "group"})
        haz = haz.dropna(subset=["hazard"])
        fig, ax = plt.subplots(figsize=(9, 5))
        plot_session_hazard(haz, ax=ax, legend_title=label)
        out += rpt.figure(fig, f"session_hazard_by_{group}",
                          f"Points with 95% intervals of the dropout hazard at each session, "
                          f"one marker shape per {label}; sessions with suppressed counts are "
                          "left out.")
        out += shown
    if "cox" in analyses and res.cox is not None:
        out += rpt.table(
            "engagement_cox_dropout", res.cox.coefficients,
            f"Cause-specific Cox model of dropout: hazard ratios against {ref}, 95% "
            "intervals from standard errors clustered by LA (Efron ties)",
            columns=_model_columns(res.cox.coefficients))
    if "fine_gray" in analyses and res.fine_gray is not None:
        out += rpt.table(
            "engagement_finegray_completion", res.fine_gray.coefficients,
            f"Fine-Gray model of completion: subdistribution hazard ratios against {ref}, "
            "95% intervals from robust standard errors clustered by LA", columns=_model_columns(res.fine_gray.coefficients))
    for note in res.notes:
        out += Shown(f'<p class="note">{esc(note)}</p>')
    return out
