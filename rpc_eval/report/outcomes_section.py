"""The outcomes section of a report: pre/post change with effect sizes, reliable and
clinically significant change, and the attrition / missing-data sensitivity analysis.
Publishes results; computes nothing."""

from __future__ import annotations

from typing import Any

import pandas as pd

from rpc_eval.report.disclosure import TableSpec, TotalRows
from rpc_eval.report.publish import Report, Shown

__all__ = ["outcomes_section", "attrition_section", "reliable_change_wide", "CHANGE_COLUMNS"]

CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated")
#: Result columns of :func:`rpc_eval.change.change_table` -> the names the published
#: outcomes tables (CSV headers, data dictionary) have always used.
PUBLISHED_NAMES = {"statistic": "t", "p_value": "p_t", "wilcoxon_statistic": "wilcoxon_W",
                   "wilcoxon_p_value": "p_wilcoxon"}
CHANGE_COLUMNS = ["instrument", "scale", "n_paired", "mean_pre", "mean_post", "mean_change",
                  "change_ci_low", "change_ci_high", "d_z", "d_z_ci_low", "d_z_ci_high",
                  "g_av", "standardised_improvement"]


def reliable_change_wide(rc: pd.DataFrame, by: str) -> pd.DataFrame:
    """Reliable-change classes one row per group and scale: ``n_total``, a count and a
    percent column per class (the classes partition ``n_total``)."""
    keys = [by, "instrument", "scale", "wave_pre", "wave_post", "rci_basis", "n_total"]
    counts = rc.pivot_table(index=keys, columns="category", values="n", aggfunc="first",
                            observed=True).reindex(columns=list(CATEGORIES))
    counts.columns = [f"n_{c}" for c in counts.columns]
    wide = counts.reset_index()
    for c in CATEGORIES:
        wide[f"percent_{c}"] = 100 * wide[f"n_{c}"] / wide["n_total"]
    return wide


def outcomes_section(rpt: Report, outcomes: dict[str, pd.DataFrame], *, by: str,
                     title: str | None = None, suffix: str = "") -> Shown:
    """Publish ``outcomes_change<suffix>`` and ``outcomes_reliable_change<suffix>`` (from
    :func:`rpc_eval.change.outcome_tables`), grouped by ``by`` with ``All`` rows."""
    change = outcomes["change"].rename(columns=PUBLISHED_NAMES)
    stats = [c for c in change.columns if c not in
             (by, "instrument", "scale", "direction", "wave_pre", "wave_post", "n_pre",
              "n_post", "n_paired")]
    within = ("instrument", "scale", "wave_pre", "wave_post")
    out = Shown(f"<h3>{title}</h3>" if title else "")
    out += Shown(
        '<p class="note">Only parents who answered the questionnaire both times are '
        "counted. The change is the later score minus the earlier one. The effect sizes "
        "put the change on a common scale: Cohen's d divides the mean change by how much "
        "parents' changes vary, Hedges' g by how much scores vary on average; each has a "
        "95% interval. The standardised improvement is Hedges' g signed so that a "
        "positive value is an improvement whichever way the scale runs.</p>")
    # whom each row counts, the same in every outcomes table ("All" is everyone, whatever
    # the grouping), so that one number has one disclosure status across them
    change = change.assign(__population=_population(change, by))
    keyed: dict[str, Any] = {"keys": {c: f"parents {c[2:]}" for c in ("n_pre", "n_post", "n_paired")},
             "key_columns": ("__population", *within)}
    out += rpt.table(
        f"outcomes_change{suffix}", change,
        f"Pre/post change of each questionnaire's headline scale by {by.replace('_', ' ')} "
        "('All' = everyone)",
        spec=TableSpec(counts=("n_pre", "n_post", "n_paired"),
                       derived={c: ("n_paired",) for c in stats},
                       total_rows=TotalRows(column=by, label="All", within=within),
                       **keyed),
        columns=[by, *CHANGE_COLUMNS], max_rows=50)
    wide = reliable_change_wide(outcomes["reliable_change"], by)
    wide = wide.assign(__population=_population(wide, by))
    parts = tuple(f"n_{c}" for c in CATEGORIES)
    out += rpt.table(
        f"outcomes_reliable_change{suffix}", wide,
        "Reliable and clinically significant change (Jacobson-Truax): parents in each class, "
        "and percent of paired parents; the last column says which reliability and SD were "
        "used",
        spec=TableSpec(counts=("n_total", *parts),
                       derived={f"percent_{c}": (f"n_{c}", "n_total") for c in CATEGORIES},
                       row_total="n_total", parts=parts,
                       total_rows=TotalRows(column=by, label="All", within=within),
                       keys={"n_total": "parents paired"},
                       key_columns=("__population", *within)),
        columns=[by, "instrument", "n_total", *(f"percent_{c}" for c in CATEGORIES)],
        missing={"n_recovered": "[z]", "percent_recovered": "[z]"},
        description=["Recovered is not applicable ([z]) for a scale with no clinical "
                     "cut-off."], max_rows=50)
    return out


def _population(frame: pd.DataFrame, by: str) -> list[str]:
    """Whom each row counts: ``"All"``, or ``"<by>=<value>"``."""
    return ["All" if v == "All" else f"{by}={v}" for v in frame[by]]


def attrition_section(rpt: Report, res: dict) -> Shown:
    """Publish ``outcomes_attrition`` and ``outcomes_mi_sensitivity`` (from
    :func:`rpc_eval.change.sensitivity.attrition_analysis`)."""
    att, mi = res["attrition"], res["mi"]
    lab = rpt.labels
    inst = (f"{lab.name('instrument', att['instrument'].iloc[0])}, "
            f"{lab.name('scale', att['scale'].iloc[0]).lower()} score" if len(att) else "")
    out = Shown("")
    out += rpt.table(
        "outcomes_attrition", att,
        f"Parents followed up and lost to follow-up compared at baseline ({inst}): means "
        "or proportions and standardised mean differences (|SMD| above 0.1 flags an "
        "imbalance)",
        spec=TableSpec(counts=("n_followed", "n_lost"),
                       derived={"followed": ("n_followed",), "sd_followed": ("n_followed",),
                                "lost": ("n_lost",), "sd_lost": ("n_lost",),
                                "smd": ("n_followed", "n_lost")}),
        implied={"followed": ("n_followed", ("smd",)), "lost": ("n_lost", ("smd",))},
        close_to=_attrition_bases(rpt, att),
        description=[f"Where a row's number of parents differs from the baseline-score row "
                     f"(or from the paired parents of the outcomes table) by 1 to "
                     f"{rpt.rules.threshold - 1}, it is suppressed: the difference would "
                     "count the few parents with a missing answer."],
        missing={"level": "[z]", "sd_followed": "[z]", "sd_lost": "[z]"})
    by = mi.columns[0]
    stats = ("estimate", "std_error", "ci_low", "ci_high", "df", "fmi")
    out += rpt.table(
        "outcomes_mi_sensitivity", mi,
        f"Mean change in {inst}: complete cases beside multiple imputation (chained "
        "normal-draw imputation, Rubin's rules); the standardised change is the change "
        "over the baseline SD",
        spec=TableSpec(counts=("n_used", "n_missing_post"),
                       derived={c: ("n_used",) for c in stats}, safe=("m",)),
        missing={"m": "[z]", "fmi": "[z]"},
        columns=[by, "method", "estimand", "estimate", "ci_low", "ci_high", "n_used",
                 "n_missing_post"], max_rows=12)
    for note in res.get("notes", []):
        out += rpt.caution(note)
    return out


def _attrition_bases(rpt: Report, att: pd.DataFrame) -> dict[str, list[float]]:
    """For each count column of the attrition table, the count its rows are compared with:
    the first row's (the baseline score, answered by everyone compared), and for
    ``n_followed`` the paired parents of the outcomes table's ``All`` row where the first
    row's own count matches neither."""
    out: dict[str, list[float]] = {}
    if not len(att):
        return out
    for col in ("n_followed", "n_lost"):
        if col in att:
            out[col] = [float(att[col].iloc[0])] * len(att)
    t = rpt.tables.get("outcomes_change")
    if t is not None and t.source is not None and "n_followed" in att:
        f = t.source.frame
        by = f.columns[0]
        hit = f[(f[by] == "All") & (f["instrument"] == att["instrument"].iloc[0])
                & (f["scale"] == att["scale"].iloc[0])]
        if len(hit):
            paired = float(hit["n_paired"].iloc[0])
            first = out["n_followed"][0]
            if 1 <= abs(paired - first) <= rpt.rules.threshold - 1:
                out["n_followed"][0] = paired
    return out
