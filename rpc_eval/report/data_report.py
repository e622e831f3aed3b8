"""The evaluation report page: the intake log and data summary, then the sections the
analyses provide (engagement, outcomes, multilevel, monitoring).

``make report`` builds it: one HTML page, every table as CSV, figures as PNG and SVG,
and a manifest of SHA-256 hashes of every input and output file. Identifier values in
the problems table are withheld unless the data were pseudonymised. Counts are not yet
disclosure-controlled.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pandas as pd

from rpc_eval.data.describe import describe
from rpc_eval.data.model import EvaluationData
from rpc_eval.data.pseudonymise import ID_COLUMNS
from rpc_eval.engagement.summary import EngagementResults
from rpc_eval.monitoring import MonitoringResults
from rpc_eval.multilevel.summary import MultilevelResults
from rpc_eval.report.engagement_section import write_engagement_section
from rpc_eval.report.html import esc, page, table_html
from rpc_eval.report.monitoring_section import write_monitoring_section
from rpc_eval.report.multilevel_section import write_multilevel_section

__all__ = ["build_data_report", "sha256"]

WITHHELD = "[identifier withheld]"


def sha256(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("rpc_eval", "numpy", "pandas", "scipy", "statsmodels", "matplotlib",
                 "openpyxl", "pyreadstat", "pyyaml"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def public_problems(data: EvaluationData) -> pd.DataFrame:
    """The intake problems with raw identifier values withheld (unless pseudonymised)."""
    problems = data.intake_log.problems.copy()
    if not data.intake_log.pseudonymised:
        ids = problems["column"].isin(ID_COLUMNS) & problems["value"].fillna("").ne("")
        problems.loc[ids, "value"] = WITHHELD
    return problems


def _outcome_html(outcomes: dict[str, pd.DataFrame]) -> list[str]:
    """The outcomes section: change with effect sizes, and reliable-change classes."""
    change = outcomes["change"]
    by = change.columns[0]
    cols = [by, "instrument", "scale", "wave_pre", "wave_post", "n_paired", "mean_pre",
            "mean_post", "mean_change", "change_ci_low", "change_ci_high", "d_z", "d_z_ci_low",
            "d_z_ci_high", "g_av", "standardised_improvement"]
    shown = change[cols].copy()
    for c in cols[6:]:
        shown[c] = shown[c].round(2)
    rc = outcomes["reliable_change"]
    wide = (rc.pivot_table(index=[by, "instrument", "scale", "n_total", "rci_basis"],
                           columns="category", values="percent", aggfunc="first", observed=True)
            .round(1).reset_index())
    return [
        "<h2>Outcomes: baseline to end of intervention</h2>",
        '<p class="note">Paired parents only. Change is end minus baseline; d_z is the mean '
        "change over the SD of the changes, g_av the Hedges-corrected mean change over the "
        "average of the two SDs, with 95% intervals. standardised_improvement is g_av signed "
        "so that a positive value is an improvement whichever way the scale runs.</p>",
        table_html(shown, "Pre/post change of each questionnaire's headline scale, by "
                   "intervention ('All' = every intervention)"),
        table_html(wide, "Reliable and clinically significant change (Jacobson-Truax), percent "
                   "of paired parents; rci_basis says which reliability and SD were used"),
    ]


def build_data_report(
    data: EvaluationData,
    out_dir: str | Path,
    *,
    title: str = "Evaluation report: data, engagement, outcomes and local authorities",
    inputs: Iterable[str | Path] = (),
    seed: int | None = None,
    outcomes: dict[str, pd.DataFrame] | None = None,
    engagement: EngagementResults | None = None,
    multilevel: MultilevelResults | None = None,
    monitoring: MonitoringResults | None = None,
) -> list[Path]:
    """Write the data report to ``out_dir``.

    Writes ``index.html``, ``tables/*.csv`` (data summary tables; ``intake_tables.csv``:
    rows read/kept/excluded per table; ``intake_problems.csv``) and ``manifest.json``
    (SHA-256 of every input and output, package and dependency versions, seed).
    ``outcomes`` (from :func:`rpc_eval.change.outcome_tables`) adds the pre/post
    outcomes tables (``outcomes_change.csv``, ``outcomes_reliable_change.csv``);
    ``engagement`` (from :func:`rpc_eval.engagement.engagement_analysis`) adds the
    funnel, retention and competing-exits section with its figures (PNG and SVG);
    ``multilevel`` (from :func:`rpc_eval.multilevel.multilevel_analysis`) adds the
    outcome model, ICC and LA comparisons; ``monitoring`` (from
    :func:`rpc_eval.monitoring.monitoring_analysis`) the satisfaction, training and
    planning-tool tables.
    Output is deterministic: the same data give byte-identical files.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    tables_dir = out / "tables"
    tables_dir.mkdir(parents=True, exist_ok=True)
    counts = describe(data)
    log = data.intake_log
    problems = public_problems(data)
    frames = {
        **counts,
        "intake_tables": log.tables,
        "intake_problems": problems,
    }
    if outcomes is not None:
        frames["outcomes_change"] = outcomes["change"]
        frames["outcomes_reliable_change"] = outcomes["reliable_change"]
    written: list[Path] = []
    engagement_html = ""
    if engagement is not None:
        engagement_html, eng_tables, figures = write_engagement_section(engagement, out)
        frames.update(eng_tables)
        written.extend(figures)
    multilevel_html = ""
    if multilevel is not None:
        multilevel_html, ml_tables, figures = write_multilevel_section(multilevel, out)
        frames.update(ml_tables)
        written.extend(figures)
    monitoring_html = ""
    if monitoring is not None:
        monitoring_html, mon_tables = write_monitoring_section(monitoring)
        frames.update(mon_tables)
    for name, frame in frames.items():
        path = tables_dir / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)

    n_err, n_warn = log.n_errors, log.n_warnings
    status = ("All rows passed the checks." if n_err == 0 else
              f"{int(log.tables['rows_excluded'].sum()):,} row(s) were excluded because of "
              f"{n_err:,} problem(s); they are listed below with the fix for each.")
    body = [
        f'<p>Source: <code>{esc(Path(log.source).name or log.source)}</code>. {esc(status)} '
        f"{n_warn:,} warning(s).</p>",
        table_html(log.tables, "Rows read, kept and excluded, by table "
                   "(rows read = rows kept + rows excluded)"),
        table_html(counts["parents_by_intervention"], "Parents by intervention and outcome "
                   "of the referral"),
        table_html(counts["responses_by_wave"], "Parents with questionnaire answers, by "
                   "instrument and wave"),
        table_html(counts["practitioners_by_sector"], "Practitioners trained, by sector"),
        table_html(counts["planning_returns"], "Planning-tool returns: LAs per return year"),
        engagement_html,
        *(_outcome_html(outcomes) if outcomes is not None else []),
        multilevel_html,
        monitoring_html,
        table_html(problems[["table", "file", "row", "column", "value", "severity", "problem",
                             "hint"]], "Problems found at intake", max_rows=200),
        '<p class="note">Tables are also in the <code>tables/</code> folder as CSV. '
        "Counts here are not yet disclosure-controlled: do not publish them as they are.</p>",
    ]
    index = out / "index.html"
    index.write_text(page(title, "\n".join(body)), encoding="utf-8")
    written.append(index)

    manifest = {
        "title": title,
        "seed": seed,
        "versions": _versions(),
        "inputs": {str(Path(p).name): sha256(Path(p)) for p in sorted(map(Path, inputs))},
        "outputs": {str(p.relative_to(out)): sha256(p) for p in sorted(written)},
    }
    mpath = out / "manifest.json"
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written.append(mpath)
    return written
