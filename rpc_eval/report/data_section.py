"""The data section of a report: what was read, what was kept, and what it holds.
Publishes counts; computes nothing. Identifier values never appear: the problems are
published as counts by table, column and problem."""

from __future__ import annotations

import pandas as pd

from rpc_eval.data.describe import describe
from rpc_eval.data.model import EvaluationData
from rpc_eval.report.disclosure import TableSpec
from rpc_eval.report.html import esc
from rpc_eval.report.publish import Report, Shown

__all__ = ["data_section", "problem_counts"]

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


def data_section(rpt: Report, data: EvaluationData, *, source: str) -> Shown:
    """Publish ``data_intake`` (rows read = kept + excluded per table), ``data_problems``,
    ``data_parents_by_intervention``, ``data_responses_by_wave``,
    ``data_practitioners_by_sector`` and ``data_planning_returns``."""
    log = data.intake_log
    counts = describe(data)
    n_err, n_warn = log.n_errors, log.n_warnings
    status = ("All rows passed the checks." if n_err == 0 else
              f"{int(log.tables['rows_excluded'].sum()):,} row(s) were excluded because of "
              f"{n_err:,} problem(s).")
    out = Shown(f"<h2>The data</h2><p>Source: <code>{esc(source)}</code>. {esc(status)} "
                f"{n_warn:,} warning(s).</p>")
    intake = log.tables.drop(columns=[c for c in ("file",) if c in log.tables])
    # The LA and intervention lists are not about people; their rows are not published
    # as counts (a list of 8 interventions is not a small number of people).
    intake = intake[~intake["table"].isin(NOT_PEOPLE)].reset_index(drop=True)
    out += rpt.table("data_intake", intake,
                     "Rows read, kept and excluded, by table of records about people (rows "
                     "read = rows kept + rows excluded)",
                     spec=TableSpec(counts=("rows_read", "rows_kept", "rows_excluded"),
                                    row_total="rows_read", parts=("rows_kept",
                                                                  "rows_excluded")))
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
    out += rpt.table("data_responses_by_wave", counts["responses_by_wave"],
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
