"""The data section of a report: what was read, what was kept, and what it holds.
Publishes counts; computes nothing. Identifier values never appear: the problems are
published as counts by table, column and problem."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from rpc_eval.data.describe import describe
from rpc_eval.data.model import EvaluationData
from rpc_eval.report.disclosure import TableSpec
from rpc_eval.report.html import esc
from rpc_eval.report.publish import Report, Shown

__all__ = ["data_section", "problem_counts", "data_name"]

#: Tables of the data model whose rows are not people.
NOT_PEOPLE = ("las", "interventions", "planning_tool")


def problem_counts(data: EvaluationData) -> pd.DataFrame:
    """Errors and warnings at intake counted by ``table, column, severity, problem``
    (column ``rows``): the published form of the intake log (the full log, with values,
    stays private). ``table`` and ``column`` are missing for a problem with a whole file
    or row."""
    p = data.intake_log.problems
    p = p[p["severity"] != "info"]
    cols = ["table", "column", "severity", "problem"]
    if p.empty:
        return pd.DataFrame({**{c: pd.Series(dtype=object) for c in cols},
                             "rows": pd.Series(dtype="int64")})
    blank = {c: p[c].astype(object).where(p[c].notna() & p[c].astype(str).ne(""), "")
             for c in ("table", "column")}
    out = (p.assign(**blank).groupby(cols, sort=True, dropna=False).size().rename("rows")
           .reset_index())
    for c in ("table", "column"):
        out[c] = out[c].where(out[c] != "", None)
    return out


def data_name(source: str | Path) -> str:
    """How a report names its data: the file (or folder) name and a SHA-256, never the
    path on the analyst's computer nor the other files in its folder. For a folder the
    hash is over each data file's name (relative to the folder) and content."""
    path = Path(source)
    h = hashlib.sha256()
    if path.is_dir():
        files = sorted(q for q in path.rglob("*") if q.is_file())
        for q in files:
            h.update(str(q.relative_to(path).as_posix()).encode())
            h.update(hashlib.sha256(q.read_bytes()).digest())
        return f"the folder {path.name} ({len(files)} files; SHA-256 {h.hexdigest()[:16]})"
    if path.is_file():
        h.update(path.read_bytes())
        return f"{path.name} (SHA-256 {h.hexdigest()[:16]})"
    return path.name


def data_section(rpt: Report, data: EvaluationData, *, source: str) -> Shown:
    """Publish ``data_intake`` (rows read = kept + excluded per table), ``data_problems``,
    ``data_parents_by_intervention``, ``data_responses_by_wave``,
    ``data_practitioners_by_sector`` and ``data_planning_returns``."""
    rpt.use_names_from(data)
    log = data.intake_log
    counts = describe(data)
    n_err, n_warn = log.n_errors, log.n_warnings
    status = ("All rows passed the checks." if n_err == 0 else
              f"{int(log.tables['rows_excluded'].sum()):,} row(s) were excluded because of "
              f"{n_err:,} problem(s).")
    warned = ("" if not n_warn else f" {n_warn:,} value(s) were kept with a warning "
              "(see the table of problems).")
    out = Shown(f"<h2>The data</h2><p>Data: {esc(data_name(source))}. {esc(status)}"
                f"{esc(warned)}</p>")
    intake = log.tables.drop(columns=[c for c in ("file",) if c in log.tables])
    # The LA and intervention lists are not about people; their rows are not published
    # as counts (a list of 8 interventions is not a small number of people).
    intake = intake[~intake["table"].isin(NOT_PEOPLE)].reset_index(drop=True)
    out += rpt.table("data_intake", intake,
                     "Rows read, kept and excluded, by table of records about people (rows "
                     "read = rows kept + rows excluded)",
                     spec=TableSpec(counts=("rows_read", "rows_kept", "rows_excluded"),
                                    row_total="rows_read", parts=("rows_kept",
                                                                  "rows_excluded"),
                                    safe=("blank_rows_ignored",)))
    problems = problem_counts(data)
    if len(problems):
        out += rpt.table("data_problems", problems,
                         "Problems found at intake: rows affected, by table, column and "
                         "problem", spec=TableSpec(counts=("rows",)),
                         missing={"table": "[z]", "column": "[z]"})
    out += rpt.table("data_parents_by_intervention", counts["parents_by_intervention"],
                     "Parents by intervention and outcome of the referral",
                     spec=TableSpec(counts=("referred", "started", "completed",
                                            "dropped_out", "ongoing"),
                                    row_total="started",
                                    parts=("completed", "dropped_out", "ongoing"),
                                    keys={c: f"parents {c}" for c in (
                                        "referred", "started", "completed", "dropped_out",
                                        "ongoing")},
                                    key_columns=("intervention",)),
                     nested=[("referred", "started")])
    by_wave = counts["responses_by_wave"]
    if len(by_wave):  # waves in time order (codebook order), not alphabetical
        rank = {w: i for i, w in enumerate(rpt.labels.order("wave", pd.unique(by_wave["wave"])))}
        by_wave = (by_wave.assign(__rank=by_wave["wave"].map(rank))
                   .sort_values(["instrument", "__rank"], kind="stable")
                   .drop(columns="__rank").reset_index(drop=True))
    out += rpt.table("data_responses_by_wave", by_wave,
                     "Parents with questionnaire answers, by instrument and wave",
                     spec=TableSpec(counts=("parents",)))
    if len(counts["practitioners_by_sector"]):
        out += rpt.table("data_practitioners_by_sector", counts["practitioners_by_sector"],
                         "Practitioners trained, by sector",
                         spec=TableSpec(counts=("practitioners",)))
    if len(counts["planning_returns"]):
        out += rpt.table("data_planning_returns", counts["planning_returns"],
                         "Planning-tool returns: LAs per return year",
                         spec=TableSpec(units="organisations"))
    return out
