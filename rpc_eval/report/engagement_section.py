"""The engagement section of a report: funnel, retention, competing exits, models.

Formats :class:`~rpc_eval.engagement.summary.EngagementResults`; computes nothing.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rpc_eval.engagement.plots import (  # noqa: E402
    plot_cumulative_incidence,
    plot_retention,
    plot_session_hazard,
)
from rpc_eval.engagement.summary import EngagementResults  # noqa: E402
from rpc_eval.report.figures import save_figure  # noqa: E402
from rpc_eval.report.html import esc, table_html  # noqa: E402

__all__ = ["engagement_tables", "write_engagement_section"]

CAUSE_LABELS = {1: "Dropped out", 2: "Completed"}


def _model_table(coefficients: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("term", "hr", "ci_low", "ci_high", "p") if c in coefficients]
    out = coefficients[cols].copy()
    for c in ("hr", "ci_low", "ci_high"):
        out[c] = out[c].round(3)
    out["p"] = out["p"].map(lambda v: "<0.001" if v < 0.001 else f"{v:.3f}")
    return out


def engagement_tables(res: EngagementResults) -> dict[str, pd.DataFrame]:
    """The tables of the section, as tidy frames (written as CSV)."""
    tables = {
        "engagement_funnel": res.funnel,
        "engagement_retention_km": res.retention.table,
        "engagement_logrank": res.logrank,
        "engagement_cumulative_incidence": res.cumulative_incidence.table,
        "engagement_gray_test": res.gray,
        "engagement_session_hazard": res.session_hazard,
    }
    if res.cox is not None:
        tables["engagement_cox_dropout"] = res.cox.coefficients
    if res.fine_gray is not None:
        tables["engagement_finegray_completion"] = res.fine_gray.coefficients
    return tables


def _figures(res: EngagementResults, fig_dir: Path) -> dict[str, list[Path]]:
    group = res.settings["group"]
    out: dict[str, list[Path]] = {}
    fig, ax = plt.subplots(figsize=(8, 5))
    plot_retention(res.retention.table, ax=ax, ci=False, legend_title=group.replace("_", " "),
                   ylabel="Proportion not dropped out")
    out["retention"] = save_figure(fig, fig_dir, "retention_by_" + group)

    cif = res.cumulative_incidence.table.copy()
    cif["cause"] = cif["cause"].map(CAUSE_LABELS).fillna(cif["cause"].astype(str))
    groups = list(pd.unique(cif["group"]))
    ncol = 4 if len(groups) > 4 else len(groups)
    nrow = int(np.ceil(len(groups) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.3 * nrow), squeeze=False,
                             sharey=True)
    used = axes.ravel()[: len(groups)]
    plot_cumulative_incidence(cif, axes=used, stacked=True)
    for i, a in enumerate(used):
        a.set_title(a.get_title().replace("_", " "), fontsize=10)
        if i and a.get_legend() is not None:
            a.get_legend().remove()
    for extra in axes.ravel()[len(groups):]:
        extra.set_visible(False)
    fig.tight_layout()
    out["cumulative_incidence"] = save_figure(fig, fig_dir, "cumulative_incidence_by_" + group)

    fig, ax = plt.subplots(figsize=(9, 5))
    haz = res.session_hazard.rename(columns={group: "group"})
    haz = haz[haz["n_at_risk"] >= 20]
    plot_session_hazard(haz, ax=ax, legend_title=group.replace("_", " "))
    out["session_hazard"] = save_figure(fig, fig_dir, "session_hazard_by_" + group)
    return out


def write_engagement_section(res: EngagementResults, out_dir: str | Path
                             ) -> tuple[str, dict[str, pd.DataFrame], list[Path]]:
    """Write the figures; return the section's HTML, its tables and the figure files."""
    out = Path(out_dir)
    figs = _figures(res, out / "figures")
    tables = engagement_tables(res)
    group = res.settings["group"].replace("_", " ")
    ref = res.settings["reference"]

    def img(key: str, alt: str) -> str:
        png = figs[key][0].relative_to(out)
        return f'<figure><img src="{esc(str(png))}" alt="{esc(alt)}" width="800"></figure>'

    parts = [
        "<h2>Engagement: from referral to completion</h2>",
        table_html(res.funnel_table.reset_index(), "Referral funnel, all interventions "
                   "(conversion from the stage named in 'Of stage', 95% Wilson intervals)"),
        f"<h3>Retention by {esc(group)}</h3>",
        '<p class="note">Kaplan-Meier estimate of the share not yet dropped out, by sessions '
        "attended; completion and ongoing parents are censored.</p>",
        img("retention", f"Retention curves by {group}"),
        table_html(res.logrank.round(4), "Log-rank test of equal dropout across groups"),
        "<h3>Dropout and completion as competing exits</h3>",
        img("cumulative_incidence", f"Stacked cumulative incidence of dropout and completion "
            f"by {group}"),
        table_html(res.gray.round(4), "Gray's test of equal cumulative incidence "
                   "(cause 1 = dropout, 2 = completion)"),
        img("session_hazard", f"Dropout hazard by session and {group}"),
    ]
    if res.cox is not None:
        parts.append(table_html(
            _model_table(res.cox.coefficients),
            f"Cause-specific Cox model of dropout: hazard ratios against {ref}, with "
            "95% intervals from standard errors clustered by LA (Efron ties)"))
    if res.fine_gray is not None:
        parts.append(table_html(
            _model_table(res.fine_gray.coefficients),
            f"Fine-Gray model of completion: subdistribution hazard ratios against {ref} "
            "(robust standard errors)"))
    for note in res.notes:
        parts.append(f'<p class="note">{esc(note)}</p>')
    files = [p for paths in figs.values() for p in paths]
    return "\n".join(parts), tables, files
