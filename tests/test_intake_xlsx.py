"""Workbooks are read exactly: every stored cell, whatever the sheet says about itself,
and every cell whose content is not plain data (merged, formula without a saved
result, Excel error value, hidden sheet) is reported naming its sheet, row and column."""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

import openpyxl
import pytest

import rpc_eval.data as rd
import rpc_eval.data.xlsx as xlsx
from rpc_eval.errors import DataQualityWarning, DataValidationError

TODAY = "2024-06-01"
LAS = "la_code,la_name,region\nLA001,Northtown,north_east\nLA002,Southville,london\n"
TRAINING = ("practitioner_id,wave,question,value,completed_date\n"
            "PR01,pre,knowledge,2,2023-03-01\n")
BASE_TABLES = {"las": LAS, "training_responses": TRAINING}
PARENT_COLUMNS = ("parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
                  "referral_date,start_date,exit_date,exit_reason,sessions_planned,parent_sex,"
                  "parent_age,ethnic_group,workless,child_age").split(",")


def parent_rows(n: int = 60) -> list[list[object]]:
    return [[f"P{i:03d}", f"F{i:03d}", "LA001", "parents_plus_pws", "online", "separated",
             "2023-01-05", "2023-01-20", "2023-03-01", "completed", 8, "female", 30 + i % 40,
             "white", "no", i % 17] for i in range(1, n + 1)]


def workbook(path: Path, sheets: dict[str, list[list[object]]] | None = None,
             hidden: tuple[str, ...] = ()) -> Path:
    """A workbook with a sheet per table (default: las and 60 parents with every column)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    if sheets is None:
        las = [r.split(",") for r in BASE_TABLES["las"].strip().split("\n")]
        sheets = {"las": las, "parents": [PARENT_COLUMNS, *parent_rows()]}
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
        if title in hidden:
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


def patch(path: Path, part: str, edit) -> None:
    """Rewrite one part of the zip with ``edit(bytes) -> bytes``."""
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    parts[part] = edit(parts[part])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def sheet_part(path: Path, title: str) -> str:
    wb = openpyxl.load_workbook(path)
    index = wb.sheetnames.index(title) + 1
    return f"xl/worksheets/sheet{index}.xml"


def set_dimension(path: Path, title: str, ref: str) -> None:
    patch(path, sheet_part(path, title),
          lambda d: re.sub(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>'.encode(), d))


def load(path: Path) -> rd.EvaluationData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        data = rd.load(path, today=TODAY)
    assert data.intake_log.reconciles()
    return data


def problems(data, severity: str | None = None):
    p = data.intake_log.problems
    return p if severity is None else p[p["severity"] == severity]


# ------------------------------------------------------------------------------------
# the stored used range is not trusted
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("ref", ["A1:P10", "A1:J61", "A1:XFD1048576", "A1"])
def test_every_row_and_column_is_read_whatever_the_dimension_says(tmp_path, ref):
    path = workbook(tmp_path / "d.xlsx")
    set_dimension(path, "parents", ref)
    assert f'ref="{ref}"'.encode() in zipfile.ZipFile(path).read(sheet_part(path, "parents"))
    data = load(path)
    assert len(data.parents) == 60
    assert data.parents["parent_age"].notna().all()          # column M
    assert data.parents["child_age"].notna().sum() > 50      # column P, the last
    assert data.intake_log.n_errors == 0


def test_sheet_with_more_cells_than_the_limit_is_refused_in_words(tmp_path, monkeypatch):
    path = workbook(tmp_path / "d.xlsx")
    monkeypatch.setattr(xlsx, "MAX_CELLS", 500)
    with pytest.raises(DataValidationError) as info:
        load(path)
    text = str(info.value)
    assert "more than 500 filled cells" in text and "CSV" in text


def test_cell_beyond_the_grid_is_a_damaged_file(tmp_path):
    path = workbook(tmp_path / "d.xlsx")
    patch(path, sheet_part(path, "parents"),
          lambda d: d.replace(b'r="A2"', b'r="XFE2"', 1))
    with pytest.raises(DataValidationError, match="beyond Excel's last column"):
        load(path)


# ------------------------------------------------------------------------------------
# shared strings
# ------------------------------------------------------------------------------------
def _with_shared_string(path: Path, text: bytes) -> None:
    """Make cell B2 of the las sheet (la_name) refer to one shared text."""
    patch(path, sheet_part(path, "las"),
          lambda d: re.sub(rb'<c r="B2" t="inlineStr"><is><t>[^<]*</t></is></c>',
                           b'<c r="B2" t="s"><v>0</v></c>', d))
    patch(path, "xl/_rels/workbook.xml.rels", lambda d: d.replace(
        b"</Relationships>",
        b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/sharedStrings" Target="sharedStrings.xml" Id="rId99"/></Relationships>'))
    patch(path, "[Content_Types].xml", lambda d: d.replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml",
                   b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   b'count="1" uniqueCount="1"><si><r><t>' + text + b"</t></r>"
                   b"<rPh><t>phonetic</t></rPh></si></sst>")


def test_shared_strings_are_read(tmp_path):
    path = workbook(tmp_path / "d.xlsx")
    _with_shared_string(path, b"Shared &amp; town")
    assert load(path).las.loc[0, "la_name"] == "Shared & town"


def test_shared_text_longer_than_a_cell_can_hold_is_refused(tmp_path):
    path = workbook(tmp_path / "d.xlsx")
    _with_shared_string(path, b"A" * (xlsx.MAX_CELL_CHARS + 1))
    with pytest.raises(DataValidationError, match="longer than 32,767 characters"):
        load(path)


def test_shared_strings_part_over_the_limit_is_refused(tmp_path, monkeypatch):
    path = workbook(tmp_path / "d.xlsx")
    _with_shared_string(path, b"short")
    monkeypatch.setattr(xlsx, "MAX_SHARED_STRINGS_BYTES", 100)
    with pytest.raises(DataValidationError, match="larger than"):
        load(path)


def test_doctype_in_a_workbook_part_is_refused(tmp_path):
    path = workbook(tmp_path / "d.xlsx")
    patch(path, "xl/workbook.xml",
          lambda d: b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + d.split(b"?>", 1)[-1])
    with pytest.raises(DataValidationError, match="document type declaration"):
        load(path)


# ------------------------------------------------------------------------------------
# cells that are not plain data
# ------------------------------------------------------------------------------------
def test_merged_cells_are_reported_naming_each_covered_cell(tmp_path):
    path = workbook(tmp_path / "d.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["parents"]
    ws.merge_cells("E5:E7")  # delivery_mode of rows 5-7: only E5 keeps its value
    wb.save(path)
    data = load(path)
    p = problems(data, "error")
    merged = p[p["problem"].str.contains("merged cells E5:E7")]
    assert list(merged["row"]) == [6, 7]
    assert set(merged["column"]) == {"delivery_mode"}
    assert merged["problem"].str.contains("cell E6").any()
    assert (merged["hint"].str.contains("unmerge")).all()
    assert len(data.parents) == 58
    # a blank in a required column is not reported twice
    assert not (p["problem"].str.contains("delivery_mode is missing")).any()


def test_merged_cells_in_an_optional_column_are_not_silently_blank(tmp_path):
    path = workbook(tmp_path / "d.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["parents"].merge_cells("M2:M4")  # parent_age, optional and blank allowed
    wb.save(path)
    data = load(path)
    merged = problems(data, "error")
    merged = merged[merged["problem"].str.contains("merged")]
    assert list(merged["row"]) == [3, 4] and set(merged["column"]) == {"parent_age"}


def test_merged_cells_in_a_column_not_read_are_a_warning(tmp_path):
    rows = [PARENT_COLUMNS + ["notes"]] + [r + ["n"] for r in parent_rows(5)]
    las = [r.split(",") for r in BASE_TABLES["las"].strip().split("\n")]
    path = workbook(tmp_path / "d.xlsx", {"las": las, "parents": rows})
    wb = openpyxl.load_workbook(path)
    wb["parents"].merge_cells("Q2:Q3")
    wb.save(path)
    data = load(path)
    assert len(data.parents) == 5
    w = problems(data, "warning")
    assert w["problem"].str.contains(r"merged cells Q2:Q3.*\(column 'notes' is not read\)").any()


def test_formula_without_a_saved_result_is_reported(tmp_path):
    path = workbook(tmp_path / "d.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["parents"]["M4"] = "=30+5"  # openpyxl saves formulas without a result
    wb["parents"]["A5"] = "=\"P\"&\"004\""
    wb.save(path)
    data = load(path)
    p = problems(data, "error")
    hit = p[p["problem"].str.contains("formula with no saved result")]
    assert sorted(zip(hit["row"], hit["column"], strict=True)) == [(4, "parent_age"),
                                                                  (5, "parent_id")]
    assert len(data.parents) == 58


def test_formula_with_a_saved_result_is_read(tmp_path):
    path = workbook(tmp_path / "d.xlsx")
    patch(path, sheet_part(path, "parents"), lambda d: re.sub(
        rb'<c r="M4"( [^>]*)?>.*?</c>', b'<c r="M4"><f>30+5</f><v>35</v></c>', d))
    data = load(path)
    assert data.parents.loc[2, "parent_age"] == 35
    assert data.intake_log.n_errors == 0


@pytest.mark.parametrize("code", ["#N/A", "#REF!", "#DIV/0!", "#VALUE!"])
def test_excel_error_values_are_not_data(tmp_path, code):
    path = workbook(tmp_path / "d.xlsx")
    wb = openpyxl.load_workbook(path)
    for cell in ("B3", "B4"):  # family_id of two unrelated parents
        wb["parents"][cell] = code
    wb.save(path)
    assert b't="e"' in zipfile.ZipFile(path).read(sheet_part(path, "parents"))
    data = load(path)
    hit = problems(data, "error")
    hit = hit[hit["problem"].str.contains(f"Excel error value {re.escape(code)}")]
    assert list(hit["row"]) == [3, 4] and set(hit["column"]) == {"family_id"}
    assert code not in set(data.parents["family_id"])
    assert len(data.parents) == 58


# ------------------------------------------------------------------------------------
# sheets
# ------------------------------------------------------------------------------------
def test_hidden_stale_sheet_and_visible_current_sheet(tmp_path):
    las = [r.split(",") for r in BASE_TABLES["las"].strip().split("\n")]
    stale = [PARENT_COLUMNS, *parent_rows(3)]
    current = [PARENT_COLUMNS, *parent_rows(60)]
    path = workbook(tmp_path / "d.xlsx", {"las": las, "parents": stale,
                                          "Parents (current)": current}, hidden=("parents",))
    data = load(path)
    assert len(data.parents) == 60
    w = problems(data, "warning")
    said = w[w["file"].str.contains(r"\[sheet parents\]", regex=True)]["problem"].iloc[0]
    assert "it is hidden" in said and "'Parents (current)' was read" in said
    info = problems(data, "info")
    assert info["problem"].str.contains("'Parents \\(current\\)' was read as the parents").any()


def test_hidden_sheet_read_when_it_is_the_only_one(tmp_path):
    las = [r.split(",") for r in BASE_TABLES["las"].strip().split("\n")]
    path = workbook(tmp_path / "d.xlsx", {"las": las,
                                          "parents": [PARENT_COLUMNS, *parent_rows(4)]},
                    hidden=("parents",))
    data = load(path)
    assert len(data.parents) == 4
    w = problems(data, "warning")
    assert w["problem"].str.contains("sheet 'parents' is hidden; it was read").any()


def test_sheet_holding_data_but_not_read_is_a_warning_with_the_closest_table(tmp_path):
    las = [r.split(",") for r in BASE_TABLES["las"].strip().split("\n")]
    survey = [r.split(",") for r in BASE_TABLES["training_responses"].strip().split("\n")]
    path = workbook(tmp_path / "d.xlsx", {"las": las,
                                          "parents": [PARENT_COLUMNS, *parent_rows(4)],
                                          "Training survey": survey, "Sheet3": []})
    data = load(path)
    w = problems(data, "warning")
    hit = w[w["file"].str.contains("Training survey")]
    assert hit["problem"].iloc[0] == ("sheet 'Training survey' holds data but was not read: "
                                      "is it the training_responses table?")
    assert "rename the sheet to training_responses" in hit["hint"].iloc[0]
    info = problems(data, "info")
    assert info[info["file"].str.contains("Sheet3")]["problem"].iloc[0] == "empty sheet; not read"


def test_title_row_above_the_header(tmp_path):
    las = [["Local authorities in the 2024 return"], [],
           *[r.split(",") for r in BASE_TABLES["las"].strip().split("\n")]]
    path = workbook(tmp_path / "d.xlsx", {"las": las,
                                          "parents": [PARENT_COLUMNS, *parent_rows(4)]})
    data = load(path)
    assert len(data.las) == 2
    w = problems(data, "warning")
    said = w[w["table"] == "las"]["problem"].iloc[0]
    assert "the column names are on row 3" in said
    # rows keep the numbers the user sees
    path2 = workbook(tmp_path / "e.xlsx", {
        "las": las, "parents": [PARENT_COLUMNS, *parent_rows(4)]})
    wb = openpyxl.load_workbook(path2)
    wb["las"]["C5"] = "nowhere"
    wb.save(path2)
    p = problems(load(path2), "error")
    assert list(p[p["table"] == "las"]["row"]) == [5]


def test_real_dates_and_1904_date_system(tmp_path):
    import datetime as dt

    rows = [PARENT_COLUMNS, *parent_rows(2)]
    rows[1][6] = dt.datetime(2019, 1, 5)
    path = workbook(tmp_path / "d.xlsx", {"las": [r.split(",") for r in
                                                  BASE_TABLES["las"].strip().split("\n")],
                                          "parents": rows})
    data = load(path)
    assert str(data.parents.loc[0, "referral_date"].date()) == "2019-01-05"
    patch(path, "xl/workbook.xml",
          lambda d: re.sub(rb"<workbookPr(\s[^>]*)?/>", b'<workbookPr date1904="1"/>', d)
          if b"<workbookPr" in d else d.replace(b"<sheets>", b'<workbookPr date1904="1"/><sheets>'))
    data = load(path)
    # the same serial number counts from 1904 in such a workbook (4 years and a day later)
    assert str(data.parents.loc[0, "referral_date"].date()) == "2023-01-06"


def test_not_a_workbook_and_a_damaged_one(tmp_path):
    bad = tmp_path / "x.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataValidationError, match="cannot be read as an Excel workbook"):
        load(bad)
    path = workbook(tmp_path / "d.xlsx")
    patch(path, sheet_part(path, "parents"), lambda d: d[: len(d) // 2])
    with pytest.raises(DataValidationError, match="not valid XML"):
        load(path)
