"""A workbook with the mistakes LAs really make: every one is found, the real mistakes
are listed first, knock-on exclusions are summarised, and the list fits on one screen."""

from __future__ import annotations

import warnings
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import rpc_eval.data as rd
from rpc_eval.data.write import write
from rpc_eval.errors import DataQualityWarning
from rpc_eval.synthetic import generate

TODAY = "2024-06-01"
N_PARENTS = 120


def _subset(seed: int = 3) -> rd.EvaluationData:
    data, _ = generate("small", seed=seed)
    keep = data.parents["parent_id"].iloc[:N_PARENTS]
    data.parents = data.parents[data.parents["parent_id"].isin(keep)].reset_index(drop=True)
    data.attendance = data.attendance[data.attendance["parent_id"].isin(keep)]
    data.responses = data.responses[data.responses["parent_id"].isin(keep)
                                    & (data.responses["wave"] == "baseline")]
    return data


def _col(ws, name: str) -> int:
    for cell in ws[1]:
        if cell.value == name:
            return cell.column
    raise KeyError(name)


def build_broken_workbook(folder: Path) -> tuple[Path, dict]:
    """Write a synthetic workbook and make 13 mistakes of the kind found in LA returns.

    Returns the path and facts about the mistakes (rows, counts) for the assertions.
    """
    data = _subset()
    write(data, folder, format="xlsx")
    path = folder / "dataset.xlsx"
    wb = openpyxl.load_workbook(path)
    facts: dict = {}
    ps = wb["parents"]
    n = ps.max_row
    rows = list(range(2, n + 1))
    # 1. family_id left blank for 8 parents who have attendance and responses
    att_ids = set(data.attendance["parent_id"]) & set(data.responses["parent_id"])
    pid_col, fam_col = _col(ps, "parent_id"), _col(ps, "family_id")
    blank_fam = [r for r in rows if ps.cell(r, pid_col).value in att_ids][:8]
    for r in blank_fam:
        ps.cell(r, fam_col).value = None
    facts["blank_family_rows"] = blank_fam
    facts["blank_family_ids"] = [ps.cell(r, pid_col).value for r in blank_fam]
    free = [r for r in rows if r not in blank_fam]
    # 2. exit reasons written as their labels (kept with a warning)
    er = _col(ps, "exit_reason")
    for r in free[:30]:
        v = ps.cell(r, er).value
        ps.cell(r, er).value = {"dropped_out": "Dropped out", "completed": "Completed"}.get(v, v)
    # 3. LA codes typed in lower case
    la = _col(ps, "la_code")
    for r in free[30:36]:
        ps.cell(r, la).value = str(ps.cell(r, la).value).lower()
    facts["lower_la_rows"] = free[30:36]
    # 4. intervention typed as its name with other capitals and spacing
    iv = _col(ps, "intervention")
    for r in free[36:41]:
        ps.cell(r, iv).value = "enhanced  triple-p"
    # 5. a date that does not exist (only where no other date depends on it)
    ref = _col(ps, "referral_date")
    st_, ex = _col(ps, "start_date"), _col(ps, "exit_date")
    for r in free[41:43]:
        ps.cell(r, ref).value = "31/02/2021"
    facts["impossible_rows"] = free[41:43]
    # 6. a US-style date
    us = [r for r in free[43:60] if ps.cell(r, st_).value][:3]
    for r in us:
        ps.cell(r, st_).value = "03/15/2021"
    facts["us_rows"] = us
    # 7. a month instead of a date
    month_row = next(r for r in free[60:] if ps.cell(r, st_).value)
    ps.cell(month_row, st_).value = "March 2021"
    facts["month_row"] = month_row
    # 8. column headers in words
    ps.cell(1, _col(ps, "parent_age")).value = "Age"
    ps.cell(1, _col(ps, "ethnic_group")).value = "Ethnicity"
    # 9. exit reason left blank on the ongoing rows
    blank_reason = [r for r in free[70:] if ps.cell(r, er).value == "ongoing"][:40]
    if len(blank_reason) < 5:
        blank_reason = free[70:80]
    for r in blank_reason:
        ps.cell(r, er).value = None
    facts["blank_reason_rows"] = blank_reason
    del ex
    # 10. SDQ answers typed as their labels for one parent
    rs = wb["responses"]
    labels = {0: "Not true", 1: "Somewhat true", 2: "Certainly true"}
    instr, item, val = _col(rs, "instrument"), _col(rs, "item"), _col(rs, "value")
    typed_labels = []
    for r in range(2, rs.max_row + 1):
        if (rs.cell(r, instr).value == "sdq_parent_4_17"
                and str(rs.cell(r, item).value) in {f"sdq_{i:02d}" for i in range(1, 26)}
                and rs.cell(r, val).value not in (None, "")):
            rs.cell(r, val).value = labels[int(rs.cell(r, val).value)]
            typed_labels.append(r)
            if len(typed_labels) == 25:
                break
    facts["label_rows"] = typed_labels
    # 11. Excel error values in attendance dates
    at = wb["attendance"]
    sd = _col(at, "session_date")
    for r in (5, 9, 14):
        at.cell(r, sd).value = "#N/A"
    facts["na_rows"] = [5, 9, 14]
    # 12. the training survey sheet renamed
    wb["training_responses"].title = "Training survey"
    # 13. region merged over two LAs of the same region
    las = wb["las"]
    reg = _col(las, "region")
    las.cell(3, reg).value = las.cell(2, reg).value
    las.merge_cells(start_row=2, start_column=reg, end_row=3, end_column=reg)
    facts["merged_la"] = las.cell(3, _col(las, "la_code")).value
    wb.save(path)
    return path, facts


def _load(path: Path) -> rd.EvaluationData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return rd.load(path, today=TODAY)


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    path, facts = build_broken_workbook(tmp_path_factory.mktemp("broken"))
    return path, facts, _load(path)


def _at(problems: pd.DataFrame, table: str, column: str, contains: str) -> pd.DataFrame:
    return problems[(problems["table"] == table) & (problems["column"] == column)
                    & problems["problem"].str.contains(contains, regex=False)]


def test_every_mistake_is_found_where_it_is(broken):
    path, facts, data = broken
    p = data.intake_log.problems
    assert data.intake_log.reconciles()
    assert list(_at(p, "parents", "family_id", "family_id is missing")["row"]) == \
        facts["blank_family_rows"]
    assert list(_at(p, "parents", "referral_date", "31 February does not exist")["row"]) == \
        facts["impossible_rows"]
    assert list(_at(p, "parents", "start_date", "dates are read day first")["row"]) == \
        facts["us_rows"]
    assert list(_at(p, "parents", "start_date", "month and year without a day")["row"]) == \
        [facts["month_row"]]
    assert list(_at(p, "parents", "exit_reason", "exit_reason is missing")["row"]) == \
        facts["blank_reason_rows"]
    assert list(_at(p, "attendance", "session_date", "Excel error value #N/A")["row"]) == \
        facts["na_rows"]
    merged = p[p["problem"].str.contains("merged cells")]
    assert list(merged["row"]) == [3] and list(merged["table"]) == ["las"]
    # interpreted, with warnings
    assert len(_at(p, "parents", "la_code", "written with other capitals")) == 1
    assert len(_at(p, "parents", "intervention", "was read as its code enhanced_triple_p")) == 1
    assert len(_at(p, "responses", "value", "written as their wording")) == 1
    assert data.parents["parent_age"].notna().mean() > 0.5  # 'Age' header
    assert data.parents["ethnic_group"].notna().any()    # 'Ethnicity' header
    sheet = p[p["file"].str.contains("Training survey")]
    assert "is it the training_responses table?" in sheet["problem"].iloc[0]
    assert sheet["severity"].iloc[0] == "warning"
    # the month-only start date gives no second, wrong hint
    row = p[p["row"] == facts["month_row"]]
    assert not row["hint"].str.contains("not_started").any()


def test_terminal_lists_real_mistakes_first_and_fits_on_a_screen(broken, capsys):
    from rpc_eval.cli import main

    path, facts, data = broken
    report = path.parent / "problems.csv"
    assert main(["validate", str(path), "--today", TODAY, "--quiet",
                 "--report", str(report)]) == 2
    out = capsys.readouterr()
    lines = (out.out + out.err).splitlines()
    assert len(lines) <= 50, "\n".join(lines)
    listed = [ln for ln in lines if ln.startswith(("  ERROR", "  WARNING", "  KNOCK-ON"))]
    kinds = [ln.split()[0] for ln in listed]
    # errors, then warnings, then one line per cascade; no knock-on row listed alone
    assert kinds == sorted(kinds, key=["ERROR", "WARNING", "KNOCK-ON"].index)
    assert not any("which was excluded" in ln for ln in listed)
    knock = [ln for ln in listed if ln.startswith("  KNOCK-ON")]
    n_att = int(data.intake_log.problems["problem"].str.contains(
        "refers to parents row").groupby(data.intake_log.problems["table"]).sum()["attendance"])
    assert any(f"{n_att:,} attendance rows" in ln and "excluded parents rows; they come back "
               "when the parents rows are fixed" in ln for ln in knock)
    blank = [ln for ln in listed if "exit_reason is missing" in ln]
    assert len(blank) == 1 and f"({len(facts['blank_reason_rows']):,} rows)" in blank[0]
    # the report keeps every row, real mistakes first, knock-on rows last
    rep = pd.read_csv(report)
    assert len(rep) == len(data.intake_log.problems)
    knock_rows = rep["problem"].str.contains("which was excluded").to_numpy()
    assert knock_rows.any() and not knock_rows[: (~knock_rows).sum()].any()
    same = rep[rep["problem"] == "exit_reason is missing"]
    assert same["group"].nunique() == 1
    assert (same["group_rows"] == len(facts["blank_reason_rows"])).all()
