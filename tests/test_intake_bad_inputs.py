"""Bad input gets a clear error, and nothing is lost.

Each test corrupts one thing in a tiny valid dataset (``base_dataset`` in conftest.py)
and checks that the problem is reported with its table, file, spreadsheet row
(header = row 1), column and a hint, and that the intake log reconciles:
rows read = rows kept + rows excluded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

import rpc_eval.data as rd
from rpc_eval.data import Pseudonymiser
from rpc_eval.data.write import to_text_frame
from rpc_eval.errors import DataQualityWarning, DataValidationError, Problem, RpcEvalError

TODAY = "2024-01-01"
RAW_IDS = ("P001", "P002", "P003", "F001", "F002", "PR01", "PR02")
PARENTS_HEADER = ("parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
                  "referral_date,start_date,exit_date,exit_reason\n")


# ------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------
def edit(folder: Path, table: str, old: str, new: str, count: int = 1) -> None:
    """Replace ``old`` by ``new`` in ``<table>.csv`` (it must be there)."""
    path = folder / f"{table}.csv"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8", newline="")


def append(folder: Path, table: str, *lines: str) -> None:
    with open(folder / f"{table}.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write("".join(line + "\n" for line in lines))


def load(folder: Path, **kwargs) -> rd.EvaluationData:
    """Load and check invariants that hold for every load.

    Only DataQualityWarning may be emitted (no stray pandas/NumPy warnings); every
    error and warning in the log has a problem text and a hint; the log reconciles;
    every table has the schema's columns and dtypes.
    """
    kwargs.setdefault("today", TODAY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = rd.load(folder, **kwargs)
    others = [w for w in caught if not issubclass(w.category, DataQualityWarning)]
    assert not others, [str(w.message) for w in others]
    log = data.intake_log
    assert log.reconciles()
    serious = log.problems[log.problems["severity"].isin(["error", "warning"])]
    assert (serious["problem"].str.len() > 0).all()
    assert (serious["hint"].str.len() > 0).all(), serious[serious["hint"] == ""]
    n_excluded = int(log.tables["rows_excluded"].sum())
    assert len(log.excluded) == n_excluded
    assert bool(caught) == (n_excluded > 0)  # a warning exactly when rows were excluded
    for name, table in data.tables().items():
        assert list(table.columns) == list(rd.empty_table(name).columns)
        assert table.dtypes.equals(rd.empty_table(name).dtypes), name
    return data


def counts(data: rd.EvaluationData, table: str) -> tuple[int, int, int]:
    """(rows read, kept, excluded) of ``table`` from the intake log."""
    t = data.intake_log.tables.set_index("table").loc[table]
    return int(t["rows_read"]), int(t["rows_kept"]), int(t["rows_excluded"])


def problem(frame: pd.DataFrame, *, table: str, row: int | None, column: str | None,
            contains: str, hint: str = "", severity: str = "error", file: str | None = None
            ) -> pd.Series:
    """The one problem of ``table`` at ``row``/``column`` whose text contains ``contains``;
    checks it names the file and has a hint containing ``hint``."""
    hit = frame[(frame["table"] == table) & frame["problem"].str.contains(contains, regex=False)]
    hit = hit[hit["row"].isna()] if row is None else hit[hit["row"] == row]
    hit = hit[hit["column"].isna()] if column is None else hit[hit["column"] == column]
    assert len(hit) == 1, f"expected one problem {contains!r} at {table} row {row} " \
                          f"column {column}; problems are:\n{frame.to_string()}"
    p = hit.iloc[0]
    assert p["severity"] == severity
    assert (file or f"{table}.csv") in p["file"]
    if severity != "info":
        assert p["hint"], "every error and warning needs a hint"
    assert hint in p["hint"]
    return p


def message(p: pd.Series) -> str:
    """The problem as a person reads it."""
    return str(Problem(p["table"], p["file"], None if pd.isna(p["row"]) else int(p["row"]),
                       p["column"], p["value"], p["problem"], p["hint"], p["severity"]))


# ------------------------------------------------------------------------------------
def test_base_dataset_is_clean(base_dataset):
    data = load(base_dataset)
    assert data.intake_log.problems.empty
    assert counts(data, "parents") == (3, 3, 0)
    assert len(data.intake_log.tables) == 7


# -- missing tables and files ----------------------------------------------------------
def test_missing_required_table_raises(base_dataset):
    (base_dataset / "parents.csv").unlink()
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY)
    err = exc.value
    assert isinstance(err, RpcEvalError)
    [p] = [p for p in err.problems if p.table == "parents"]
    assert "parents table is missing" in p.problem
    assert "parents.csv" in p.file and "parents.csv" in p.hint
    assert "parents table is missing" in str(err) and "Fix:" in str(err)


def test_misspelled_file_name_gets_a_suggestion(base_dataset):
    (base_dataset / "parents.csv").rename(base_dataset / "parent.csv")
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY)
    frame = exc.value.to_frame()
    p = frame[frame["file"] == "parent.csv"].iloc[0]
    assert "not a table of the data model" in p["problem"]
    assert p["hint"] == "rename it to parents.csv if it holds the parents table"
    assert "rename it to parents.csv" in str(exc.value)


def test_missing_optional_table_gives_empty_typed_table(base_dataset):
    (base_dataset / "attendance.csv").unlink()
    data = load(base_dataset)
    assert data.attendance.empty
    assert "attendance" not in set(data.intake_log.tables["table"])


def test_empty_interventions_table_falls_back_to_the_codebook(base_dataset):
    """A header-only interventions table (e.g. an unfilled sheet) is warned about and the
    codebook's interventions stay valid; a filled one takes precedence."""
    (base_dataset / "interventions.csv").write_text(
        "intervention,name,intensity,sessions_planned\n")
    data = load(base_dataset)
    assert counts(data, "parents") == (3, 3, 0)
    (base_dataset / "interventions.csv").write_text(
        "intervention,name,intensity,sessions_planned\n"
        "parents_plus_pws,Parents Plus,group,6\n")
    data = load(base_dataset)
    assert counts(data, "parents") == (3, 2, 1)  # enhanced_triple_p is not in the table


def test_path_that_does_not_exist(tmp_path):
    with pytest.raises(DataValidationError, match="no such file or folder"):
        rd.load(tmp_path / "nowhere")


def test_two_files_for_one_table(base_dataset):
    (base_dataset / "Parents.CSV").write_text("x\n1\n", encoding="utf-8")
    if len(list(base_dataset.iterdir())) == 7:  # case-insensitive file system
        pytest.skip("file system does not keep parents.csv and Parents.CSV apart")
    with pytest.raises(DataValidationError, match="more than one file holds the parents"):
        rd.load(base_dataset, today=TODAY)


# -- columns -----------------------------------------------------------------------------
def test_misspelled_required_column_suggests_closest(base_dataset):
    edit(base_dataset, "parents", "exit_reason\n", "exit_reasn\n")
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY)
    [p] = exc.value.problems
    assert (p.table, p.file, p.column) == ("parents", "parents.csv", "exit_reason")
    assert p.row is None  # a whole-column problem
    assert p.problem == "required column 'exit_reason' is missing"
    assert p.hint == "rename column 'exit_reasn' to 'exit_reason'"


def test_missing_required_column_without_near_name(base_dataset):
    edit(base_dataset, "attendance", "parent_id,session_number,session_date,attended",
         "parent_id,session_number,session_date,xyz")
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY)
    [p] = exc.value.problems
    assert (p.table, p.column, p.hint) == ("attendance", "attended", "add a column named 'attended'")


def test_misspelled_optional_column_is_flagged(base_dataset):
    edit(base_dataset, "parents", "exit_reason\n", "exit_reason,parent_agee\n")
    edit(base_dataset, "parents", "completed\n", "completed,34\n")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="parents", row=1, column="parent_agee",
                contains="did you mean 'parent_age'", hint="rename it to 'parent_age'",
                severity="warning")
    assert p["value"] == ""
    assert data.parents["parent_age"].isna().all()
    assert counts(data, "parents") == (3, 3, 0)


def test_column_names_in_other_case_and_spacing_are_read(base_dataset):
    edit(base_dataset, "las", "la_code,la_name,region", " LA Code ,La-Name,REGION")
    data = load(base_dataset)
    assert list(data.las["la_code"]) == ["LA001", "LA002"]
    p = problem(data.intake_log.problems, table="las", row=1, column="LA Code",
                contains="was read as 'la_code'", severity="info", hint="")
    assert p["severity"] == "info"


def test_duplicate_column_names(base_dataset):
    edit(base_dataset, "las", "la_code,la_name,region", "la_code,la_name,la_name")
    with pytest.raises(DataValidationError, match="appear more than once"):
        rd.load(base_dataset, today=TODAY)


# -- codes and values ---------------------------------------------------------------------
def test_unknown_code_lists_valid_codes(base_dataset):
    edit(base_dataset, "parents", "enhanced_triple_p,face_to_face", "enhanced_triple_p,in_person")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="parents", row=4, column="delivery_mode",
                contains="unknown delivery_mode code",
                hint="use one of: face_to_face, online, digital_self_guided")
    assert p["value"] == "in_person"
    assert message(p) == ("parents.csv, row 4, column 'delivery_mode': unknown delivery_mode "
                          "code (value: 'in_person'). Fix: use one of: face_to_face, online, "
                          "digital_self_guided")
    assert counts(data, "parents") == (3, 2, 1)
    assert list(data.parents["parent_id"]) == ["P001", "P002"]
    ex = data.intake_log.excluded
    assert ex.to_dict("records") == [{"table": "parents", "file": "parents.csv", "row": 4,
                                      "reason": "delivery_mode: unknown delivery_mode code"}]


def test_code_written_as_label_is_read_with_warning(base_dataset):
    edit(base_dataset, "parents", "enhanced_triple_p,face_to_face", "enhanced_triple_p,Face to face")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=4, column="delivery_mode",
            contains="read as its code", hint="write the code exactly", severity="warning")
    assert data.parents.loc[2, "delivery_mode"] == "face_to_face"
    assert counts(data, "parents") == (3, 3, 0)


def test_item_value_outside_instrument_range(base_dataset):
    edit(base_dataset, "responses", "phq9_01,2", "phq9_01,7")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="responses", row=2, column="value",
                contains="not a valid response code for this item (whole numbers 0 to 3)",
                hint="leave the cell empty if the item was not answered")
    assert p["value"] == "7"
    assert counts(data, "responses") == (3, 2, 1)


def test_fractional_item_value(base_dataset):
    edit(base_dataset, "responses", "phq9_01,2", "phq9_01,1.5")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="responses", row=2, column="value",
            contains="not a valid response code", hint="questionnaire's scoring")
    assert counts(data, "responses") == (3, 2, 1)


def test_item_not_of_the_instrument(base_dataset):
    edit(base_dataset, "responses", "phq9_02", "gad7_02")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="responses", row=3, column="item",
                contains="not an item of instrument phq9", hint="phq9_01 .. phq9_09")
    assert p["value"] == "gad7_02"
    assert counts(data, "responses") == (3, 2, 1)


def test_unknown_instrument(base_dataset):
    edit(base_dataset, "responses", "P002,parent,phq9", "P002,parent,phq10")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="responses", row=4, column="instrument",
            contains="unknown instrument code", hint="phq9")
    assert counts(data, "responses") == (3, 2, 1)


def test_text_in_numeric_column(base_dataset):
    edit(base_dataset, "attendance", "P001,2,", "P001,two,")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="attendance", row=3, column="session_number",
                contains="text in a numeric column: expected a whole number",
                hint="write session_number as digits only")
    assert p["value"] == "two"
    assert counts(data, "attendance") == (3, 2, 1)


@pytest.mark.parametrize("value, contains", [
    ("1,5", "text in a numeric column"),  # decimal comma: quoted so it stays one cell
    ("inf", "too large"),
    ("1e400", "too large"),
    ("99999999999999999999999", "too large"),
])
def test_odd_numbers_in_an_unbounded_integer_column(base_dataset, value, contains):
    cell = f'"{value}"' if "," in value else value
    edit(base_dataset, "training_responses", "PR01,pre,knowledge,2,", f"PR01,pre,knowledge,{cell},")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="training_responses", row=2, column="value",
            contains=contains, hint="value")
    assert counts(data, "training_responses") == (3, 2, 1)


def test_integer_out_of_schema_range(base_dataset):
    edit(base_dataset, "planning_tool", "LA001,2023,self", "LA001,1999,self")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="planning_tool", row=2, column="return_year",
            contains="outside the valid range 2018..2100", hint="from 2018 to 2100")
    assert counts(data, "planning_tool") == (3, 2, 1)


def test_yes_no_column(base_dataset):
    edit(base_dataset, "attendance", "P001,2,2023-01-27,no", "P001,2,2023-01-27,maybe")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="attendance", row=3, column="attended",
            contains="expected yes or no", hint="write yes or no")
    assert counts(data, "attendance") == (3, 2, 1)


def test_blank_in_required_column(base_dataset):
    edit(base_dataset, "las", "LA002,Southville,london", "LA002,,london")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="las", row=3, column="la_name",
            contains="la_name is missing", hint="fill in la_name")
    assert counts(data, "las") == (2, 1, 1)
    # P003 lives in the excluded LA, so it goes too, and says why
    problem(data.intake_log.problems, table="parents", row=4, column="la_code",
            contains="refers to las row 3, which was excluded", hint="las table")
    assert counts(data, "parents") == (3, 2, 1)


def test_missing_value_marker_in_blank_column(base_dataset):
    edit(base_dataset, "responses", "phq9_01,0,2023-01-12", "phq9_01,N/A,2023-01-12")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="responses", row=4, column="value",
            contains="'missing' marker", hint="leave the cell empty", severity="warning")
    assert counts(data, "responses") == (3, 3, 0)
    assert np.isnan(data.responses.loc[2, "value"])


# -- duplicates --------------------------------------------------------------------------
def test_conflicting_duplicate_ids_are_all_excluded(base_dataset):
    append(base_dataset, "parents",
           "P003,F002,LA002,enhanced_triple_p,online,together,2023-02-01,,,not_started")
    data = load(base_dataset)
    for row in (4, 5):
        p = problem(data.intake_log.problems, table="parents", row=row, column="parent_id",
                    contains="parent_id is not unique: rows 4, 5 share it with different values",
                    hint="keep one row per parent_id")
        assert p["value"] == "P003"
    assert counts(data, "parents") == (4, 2, 2)
    assert "P003" not in set(data.parents["parent_id"])


def test_exact_copy_keeps_the_first(base_dataset):
    append(base_dataset, "parents",
           "P003,F002,LA002,enhanced_triple_p,face_to_face,together,2023-02-01,,,not_started")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=5, column="parent_id",
            contains="row is an exact copy of row 4", hint="delete the repeated row")
    assert counts(data, "parents") == (4, 3, 1)
    assert list(data.parents["parent_id"]) == ["P001", "P002", "P003"]


def test_duplicate_composite_key(base_dataset):
    append(base_dataset, "attendance", "P001,2,2023-01-28,yes")
    data = load(base_dataset)
    for row in (3, 5):
        problem(data.intake_log.problems, table="attendance", row=row, column="parent_id",
                contains="parent_id + session_number is not unique: rows 3, 5",
                hint="keep one row per parent_id + session_number")
    assert counts(data, "attendance") == (4, 2, 2)


# -- dates ---------------------------------------------------------------------------------
def test_impossible_date(base_dataset):
    edit(base_dataset, "parents", "2023-02-01,,,not_started", "2023-02-30,,,not_started")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="parents", row=4, column="referral_date",
                contains="30 February does not exist", hint="check the day")
    assert p["value"] == "2023-02-30"
    assert counts(data, "parents") == (3, 2, 1)


@pytest.mark.parametrize("text", ["0223-02-01", "9999-12-31", "01/02/3023"])
def test_date_with_implausible_year(base_dataset, text):
    edit(base_dataset, "parents", "2023-02-01,,,not_started", f"{text},,,not_started")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=4, column="referral_date",
            contains="the year is outside", hint="check the year")
    assert counts(data, "parents") == (3, 2, 1)


def test_uk_date_format_is_read(base_dataset):
    edit(base_dataset, "parents", "2023-02-01,,,not_started", "01/02/2023,,,not_started")
    data = load(base_dataset)
    assert data.intake_log.problems.empty
    assert data.parents.loc[2, "referral_date"] == pd.Timestamp("2023-02-01")


def test_start_before_referral_excludes_dependent_rows(base_dataset):
    edit(base_dataset, "parents", "2023-01-06,2023-01-21", "2023-01-06,2023-01-02")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=3, column="start_date",
            contains="start date is before the referral date", hint="check both dates")
    assert counts(data, "parents") == (3, 2, 1)
    # P002's attendance (row 4) and response (row 4) refer to the excluded parent
    for table in ("attendance", "responses"):
        p = problem(data.intake_log.problems, table=table, row=4, column="parent_id",
                    contains="refers to parents row 3, which was excluded",
                    hint="fix the problems reported for that row of the parents table")
        assert p["value"] == "P002"
        assert counts(data, table) == (3, 2, 1)


def test_exit_before_start(base_dataset):
    edit(base_dataset, "parents", "2023-03-01,completed", "2023-01-10,completed")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=2, column="exit_date",
            contains="exit date is before the start date", hint="check both dates")
    assert counts(data, "parents") == (3, 2, 1)
    assert counts(data, "attendance") == (3, 1, 2)
    assert counts(data, "responses") == (3, 1, 2)


def test_date_in_the_future(base_dataset):
    edit(base_dataset, "parents", "2023-02-01,,,not_started", "2025-02-01,,,not_started")
    data = load(base_dataset, today="2024-01-01")
    problem(data.intake_log.problems, table="parents", row=4, column="referral_date",
            contains="date is in the future", hint="day and month may be swapped")
    assert counts(data, "parents") == (3, 2, 1)
    # with a later "today" the same date is fine
    assert counts(load(base_dataset, today="2026-01-01"), "parents") == (3, 3, 0)


def test_future_dates_in_other_tables(base_dataset):
    edit(base_dataset, "training_responses", "actual_use,3,2023-10-01", "actual_use,3,2024-10-01")
    edit(base_dataset, "practitioners", "2023-04-01", "2024-04-01")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="practitioners", row=3, column="training_date",
            contains="date is in the future", hint="check the date")
    # the response is excluded for its own date and for its excluded practitioner
    ex = data.intake_log.excluded.set_index(["table", "row"])
    reason = ex.loc[("training_responses", 4), "reason"]
    assert "completed_date: date is in the future" in reason
    assert "refers to practitioners row 3, which was excluded" in reason
    assert counts(data, "training_responses") == (3, 2, 1)


def test_excel_serial_dates_are_converted_with_warning(base_dataset):
    edit(base_dataset, "parents", "2023-02-01,,,not_started", "44958,,,not_started")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="parents", row=4, column="referral_date",
                contains="Excel date serial number", hint="format the column as a date",
                severity="warning")
    assert p["value"] == "44958"
    assert data.parents.loc[2, "referral_date"] == pd.Timestamp("2023-02-01")
    assert counts(data, "parents") == (3, 3, 0)


def test_many_excel_serials_give_one_warning_per_column(base_dataset):
    edit(base_dataset, "attendance", "2023-01-20", "44946")
    edit(base_dataset, "attendance", "2023-01-27", "44953")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="attendance", row=2, column="session_date",
                contains="(2 cells; first at row 2)", hint="check the converted dates",
                severity="warning")
    assert p["value"] == "44946"
    assert list(data.attendance["session_date"].dt.strftime("%Y-%m-%d")) == [
        "2023-01-20", "2023-01-27", "2023-01-21"]


# -- references ------------------------------------------------------------------------------
def test_reference_to_unknown_la(base_dataset):
    edit(base_dataset, "parents", "P003,F002,LA002", "P003,F002,LA009")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="parents", row=4, column="la_code",
                contains="la_code is not in the las table", hint="add it to the las table")
    assert p["value"] == "LA009"
    assert counts(data, "parents") == (3, 2, 1)


def test_reference_to_unknown_parent(base_dataset):
    append(base_dataset, "responses", "P999,parent,phq9,baseline,phq9_01,1,2023-01-10")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="responses", row=5, column="parent_id",
                contains="parent_id is not in the parents table",
                hint="add it to the parents table")
    assert p["value"] == "P999"
    assert counts(data, "responses") == (4, 3, 1)


def test_reference_to_unknown_practitioner(base_dataset):
    append(base_dataset, "training_responses", "PR99,pre,knowledge,2,2023-03-01")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="training_responses", row=5,
            column="practitioner_id", contains="not in the practitioners table",
            hint="practitioners table")
    assert counts(data, "training_responses") == (4, 3, 1)


def test_rows_referring_to_an_excluded_parent(base_dataset):
    edit(base_dataset, "parents", "P001,F001,LA001,parents_plus_pws,face_to_face",
         "P001,F001,LA001,parents_plus_pws,by_pigeon")
    data = load(base_dataset)
    assert counts(data, "parents") == (3, 2, 1)
    for table, rows in (("attendance", (2, 3)), ("responses", (2, 3))):
        for row in rows:
            problem(data.intake_log.problems, table=table, row=row, column="parent_id",
                    contains="refers to parents row 2, which was excluded",
                    hint="parents table")
        assert counts(data, table) == (3, 1, 2)
    assert set(data.attendance["parent_id"]) == {"P002"}


# -- empty files and blank rows -----------------------------------------------------------------
@pytest.mark.parametrize("table", ["parents", "attendance"])
def test_zero_byte_file(base_dataset, table):
    (base_dataset / f"{table}.csv").write_bytes(b"")
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY)
    [p] = exc.value.problems
    assert (p.table, p.file, p.problem) == (table, f"{table}.csv", "the file is empty")
    assert f"export the {table} table" in p.hint


def test_header_only_file(base_dataset):
    (base_dataset / "attendance.csv").write_text(
        "parent_id,session_number,session_date,attended\n", encoding="utf-8")
    data = load(base_dataset)
    assert counts(data, "attendance") == (0, 0, 0)
    assert data.attendance.empty
    problem(data.intake_log.problems, table="attendance", row=None, column=None,
            contains="no rows of data", hint="add the data below the header row",
            severity="warning")


def test_header_only_parents_file(base_dataset):
    (base_dataset / "parents.csv").write_text(PARENTS_HEADER, encoding="utf-8")
    # a dataset with no parents has nothing to evaluate: not valid
    with pytest.raises(DataValidationError) as info:
        load(base_dataset)
    p = problem(info.value.to_frame(), table="parents", row=None, column=None,
                contains="the parents table has no rows", hint="fill in the parents table")
    assert p["file"] == "parents.csv"


def test_trailing_blank_rows_are_ignored(base_dataset):
    append(base_dataset, "parents", "", ",,,,,,,,,", "  ,,", "")
    data = load(base_dataset)
    assert counts(data, "parents") == (3, 3, 0)
    t = data.intake_log.tables.set_index("table")
    assert t.loc["parents", "blank_rows_ignored"] == 4
    p = problem(data.intake_log.problems, table="parents", row=5, column=None,
                contains="4 blank row(s) were ignored (first at row 5)", severity="info", hint="")
    assert p["severity"] == "info"
    assert data.intake_log.n_errors == 0 and data.intake_log.n_warnings == 0


def test_blank_row_in_the_middle_keeps_row_numbers(base_dataset):
    edit(base_dataset, "attendance", "P001,2,2023-01-27,no\n", "\nP001,two,2023-01-27,no\n")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="attendance", row=4, column="session_number",
            contains="text in a numeric column", hint="digits only")
    assert counts(data, "attendance") == (3, 2, 1)


# -- encodings -------------------------------------------------------------------------------------
def test_cp1252_file_from_excel(base_dataset):
    text = "la_code,la_name,region\nLA001,Château £town,north_east\nLA002,Southville,london\n"
    (base_dataset / "las.csv").write_bytes(text.encode("cp1252"))
    data = load(base_dataset)
    assert data.las.loc[0, "la_name"] == "Château £town"
    p = problem(data.intake_log.problems, table="las", row=None, column=None,
                contains="file is not UTF-8; it was read as Windows-1252",
                hint="CSV UTF-8", severity="warning")
    assert "accented letters" in p["problem"]
    assert counts(data, "las") == (2, 2, 0)


def test_utf8_bom(base_dataset):
    path = base_dataset / "las.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    data = load(base_dataset)
    assert data.intake_log.problems.empty
    assert list(data.las["la_code"]) == ["LA001", "LA002"]


def test_utf8_with_accents_and_crlf(base_dataset):
    text = "la_code,la_name,region\r\nLA001,Ynys Môn,north_east\r\nLA002,Southville,london\r\n"
    (base_dataset / "las.csv").write_bytes(text.encode("utf-8"))
    data = load(base_dataset)
    assert data.intake_log.problems.empty
    assert data.las.loc[0, "la_name"] == "Ynys Môn"


def test_semicolon_separated_file(base_dataset):
    text = "la_code;la_name;region\nLA001;Northtown;north_east\nLA002;Southville;london\n"
    (base_dataset / "las.csv").write_text(text, encoding="utf-8")
    data = load(base_dataset)
    assert list(data.las["la_code"]) == ["LA001", "LA002"]
    problem(data.intake_log.problems, table="las", row=None, column=None,
            contains="separated by semicolons", severity="info", hint="")


def test_binary_file_named_csv(base_dataset):
    (base_dataset / "attendance.csv").write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(DataValidationError, match="binary data"):
        rd.load(base_dataset, today=TODAY)


# -- ragged rows -----------------------------------------------------------------------------------
def test_row_with_more_values_than_header(base_dataset):
    edit(base_dataset, "parents", "2023-01-21,,ongoing", "2023-01-21,,ongoing,extra")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=3, column="(unnamed column 11)",
            contains="row has 11 values but the header has 10 columns",
            hint="check for a stray comma")
    assert counts(data, "parents") == (3, 2, 1)
    assert counts(data, "attendance") == (3, 2, 1)  # P002's session


def test_row_with_fewer_values_than_header(base_dataset):
    edit(base_dataset, "attendance", "P002,1,2023-01-21,yes", "P002,1,2023-01-21")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="attendance", row=4, column="attended",
            contains="attended is missing", hint="fill in attended")
    assert counts(data, "attendance") == (3, 2, 1)


def test_trailing_empty_values_beyond_header_are_fine(base_dataset):
    edit(base_dataset, "attendance", "P002,1,2023-01-21,yes", "P002,1,2023-01-21,yes,,")
    data = load(base_dataset)
    assert counts(data, "attendance") == (3, 3, 0)


# -- row rules -------------------------------------------------------------------------------------
@pytest.mark.parametrize("old, new, row, column, contains, hint", [
    ("2023-01-21,,ongoing", "2023-01-21,2023-02-01,ongoing", 3, "exit_date",
     "exit_reason is ongoing but an exit date is given", "remove the exit date"),
    ("2023-01-21,,ongoing", ",,ongoing", 3, "start_date",
     "exit_reason is ongoing but there is no start date", "add the date of the first session"),
    ("2023-03-01,completed", ",completed", 2, "exit_date",
     "a parent who completed or dropped out needs an exit date", "set exit_reason to ongoing"),
    ("2023-02-01,,,not_started", "2023-02-01,2023-02-02,,not_started", 4, "start_date",
     "a start date is given but exit_reason is not_started", "remove the start date"),
    ("2023-02-01,,,not_started", "2023-02-01,,,dropped_out", 4, "start_date",
     "a parent who completed or dropped out needs a start date", "set exit_reason to not_started"),
])
def test_exit_reason_inconsistent_with_dates(base_dataset, old, new, row, column, contains, hint):
    edit(base_dataset, "parents", old, new)
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=row, column=column,
            contains=contains, hint=hint)
    assert counts(data, "parents") == (3, 2, 1)


def test_attendance_after_exit_date(base_dataset):
    edit(base_dataset, "attendance", "P001,2,2023-01-27", "P001,2,2023-03-27")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="attendance", row=3, column="session_date",
                contains="session date is after the parent's exit date",
                hint="check the session date and the exit date")
    assert p["value"] == "2023-03-27"
    assert counts(data, "attendance") == (3, 2, 1)


def test_attendance_before_start_date(base_dataset):
    edit(base_dataset, "attendance", "P001,1,2023-01-20", "P001,1,2023-01-19")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="attendance", row=2, column="session_date",
            contains="session date is before the parent's start date", hint="start date")
    assert counts(data, "attendance") == (3, 2, 1)


def test_attendance_for_parent_who_never_started(base_dataset):
    append(base_dataset, "attendance", "P003,1,2023-02-10,yes")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="attendance", row=5, column="parent_id",
            contains="attendance is recorded for a parent with no start date",
            hint="add the parent's start date")
    assert counts(data, "attendance") == (4, 3, 1)


def test_training_question_at_wrong_wave(base_dataset):
    edit(base_dataset, "training_responses", "PR01,post,satisfaction", "PR01,pre,satisfaction")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="training_responses", row=3, column="wave",
                contains="this question is not asked at this wave",
                hint="training_questions codebook")
    assert p["value"] == "pre"
    assert counts(data, "training_responses") == (3, 2, 1)


def test_training_value_out_of_range(base_dataset):
    edit(base_dataset, "training_responses", "satisfaction,4", "satisfaction,9")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="training_responses", row=3, column="value",
            contains="outside the valid codes of question satisfaction (1 to 5)",
            hint="check the response code")
    assert counts(data, "training_responses") == (3, 2, 1)


def test_planning_tool_response_not_valid_for_item(base_dataset):
    edit(base_dataset, "planning_tool", "aware_health,very", "aware_health,extremely")
    data = load(base_dataset)
    p = problem(data.intake_log.problems, table="planning_tool", row=3, column="response",
                contains="not a valid response for item aware_health",
                hint="use one of: very, somewhat, not")
    assert p["value"] == "extremely"
    assert counts(data, "planning_tool") == (3, 2, 1)


def test_planning_tool_item_in_wrong_section(base_dataset):
    edit(base_dataset, "planning_tool", "LA002,2023,interventions_offered",
         "LA002,2023,workforce_trained")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="planning_tool", row=4, column="section",
            contains="the item belongs to another section", hint="planning_tool codebook")
    assert counts(data, "planning_tool") == (3, 2, 1)


# -- other formats -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["xlsx", "sav", "csv"])
def test_same_dataset_in_every_format_loads_the_same(base_dataset, tmp_path, fmt):
    ref = load(base_dataset)
    files = rd.write(ref, tmp_path / fmt, format=fmt)
    back = load(files[0] if fmt == "xlsx" else tmp_path / fmt)
    for name in rd.TABLES:
        pd.testing.assert_frame_equal(back.table(name), ref.table(name), obj=name)
    assert back.intake_log.problems.empty
    assert back.intake_log.tables[["table", "rows_read", "rows_kept"]].equals(
        ref.intake_log.tables[["table", "rows_read", "rows_kept"]])


def test_workbook_problems_name_sheet_and_row(base_dataset, tmp_path):
    ref = load(base_dataset)
    [path] = rd.write(ref, tmp_path / "wb", format="xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["parents"]
    assert ws.cell(row=4, column=1).value == "P003"
    ws.cell(row=4, column=5).value = "in_person"  # delivery_mode of P003
    wb["attendance"].title = "Attendence"
    wb.save(path)
    data = load(path)
    problem(data.intake_log.problems, table="parents", row=4, column="delivery_mode",
            contains="unknown delivery_mode code", hint="face_to_face",
            file="dataset.xlsx [sheet parents]")
    info = data.intake_log.problems
    info = info[info["file"].str.contains("Attendence")].iloc[0]
    assert info["hint"] == "rename the sheet to attendance if it holds that table"
    assert counts(data, "parents") == (3, 2, 1)


def test_workbook_with_real_dates_and_serials(base_dataset, tmp_path):
    ref = load(base_dataset)
    [path] = rd.write(ref, tmp_path / "wb", format="xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["parents"]
    ws.cell(row=2, column=7).value = pd.Timestamp("2023-01-05").to_pydatetime()  # a date cell
    ws.cell(row=4, column=7).value = 44958  # a date typed as a number: 2023-02-01
    wb.save(path)
    data = load(path)
    pd.testing.assert_frame_equal(data.parents, ref.parents)
    problem(data.intake_log.problems, table="parents", row=4, column="referral_date",
            contains="Excel date serial number", hint="format the column as a date",
            severity="warning", file="dataset.xlsx [sheet parents]")


def test_sav_problems_use_case_numbers(base_dataset, tmp_path):
    import pyreadstat

    ref = load(base_dataset)
    rd.write(ref, tmp_path / "sav", format="sav")
    text = to_text_frame(ref.parents, "parents")
    text.loc[2, "delivery_mode"] = "in_person"  # case 3 = P003
    pyreadstat.write_sav(text, str(tmp_path / "sav" / "parents.sav"))
    data = load(tmp_path / "sav")
    problem(data.intake_log.problems, table="parents", row=3, column="delivery_mode",
            contains="unknown delivery_mode code", hint="face_to_face", file="parents.sav")


def test_file_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"not a zip file")
    with pytest.raises(DataValidationError, match="cannot be read as an Excel workbook"):
        rd.load(path)


def test_file_that_is_not_a_sav(base_dataset):
    (base_dataset / "attendance.csv").unlink()
    (base_dataset / "attendance.sav").write_bytes(b"$FL2 not really spss")
    with pytest.raises(DataValidationError, match="cannot be read as an SPSS .sav file"):
        rd.load(base_dataset, today=TODAY)


# -- pseudonymisation --------------------------------------------------------------------------------
KEY = "a long secret key for the tests"


def _all_text(data: rd.EvaluationData) -> list[str]:
    """Every string in every table and in the intake log."""
    frames = [*data.tables().values(), data.intake_log.problems, data.intake_log.excluded]
    out = []
    for frame in frames:
        for col in frame.columns:
            out += [v for v in frame[col].tolist() if isinstance(v, str)]
    return out


def test_pseudonymisation_is_consistent_and_complete(base_dataset):
    # P001 is excluded, so its id appears in the problems of its attendance and responses
    edit(base_dataset, "parents", "P001,F001,LA001,parents_plus_pws,face_to_face",
         "P001,F001,LA001,parents_plus_pws,by_pigeon")
    append(base_dataset, "responses", "P999,parent,phq9,baseline,phq9_01,1,2023-01-10")
    data = load(base_dataset, pseudonymise_key=KEY)
    ps = Pseudonymiser(KEY)
    assert data.intake_log.pseudonymised
    assert list(data.parents["parent_id"]) == [ps.one("P002"), ps.one("P003")]
    assert list(data.parents["family_id"]) == [ps.one("F001"), ps.one("F002")]
    assert set(data.attendance["parent_id"]) == {ps.one("P002")}
    assert set(data.responses["parent_id"]) <= set(data.parents["parent_id"])
    assert list(data.practitioners["practitioner_id"]) == [ps.one("PR01"), ps.one("PR02")]
    assert set(data.training_responses["practitioner_id"]) <= {ps.one("PR01"), ps.one("PR02")}
    probs = data.intake_log.problems
    ids = probs.loc[probs["column"] == "parent_id", "value"]
    assert set(ids) == {ps.one("P001"), ps.one("P999")}
    text = " ".join(_all_text(data))
    for raw in (*RAW_IDS, "P999"):
        assert raw not in text
    assert list(data.las["la_code"]) == ["LA001", "LA002"]  # LA codes are public


def test_pseudonymisation_with_differently_written_id_column(base_dataset):
    edit(base_dataset, "responses", "parent_id,", "Parent ID,")
    append(base_dataset, "responses", "P999,parent,phq9,baseline,phq9_01,1,2023-01-10")
    data = load(base_dataset, pseudonymise_key=KEY)
    p = problem(data.intake_log.problems, table="responses", row=5, column="Parent ID",
                contains="not in the parents table", hint="parents table")
    assert p["value"] == Pseudonymiser(KEY).one("P999")
    assert "P999" not in " ".join(_all_text(data))


def test_pseudonymised_errors_raise_show_no_raw_ids(base_dataset):
    append(base_dataset, "responses", "P999,parent,phq9,baseline,phq9_01,1,2023-01-10")
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY, pseudonymise_key=KEY, errors="raise")
    assert "P999" not in str(exc.value)
    assert Pseudonymiser(KEY).one("P999") in str(exc.value)


def test_pseudonymisation_key_too_short(base_dataset):
    with pytest.raises(RpcEvalError, match="at least 16 characters"):
        rd.load(base_dataset, today=TODAY, pseudonymise_key="short")


# -- errors="raise" ------------------------------------------------------------------------------------
def test_errors_raise_reports_every_problem(base_dataset):
    edit(base_dataset, "parents", "enhanced_triple_p,face_to_face", "enhanced_triple_p,in_person")
    edit(base_dataset, "attendance", "P001,2,", "P001,two,")
    edit(base_dataset, "responses", "phq9_01,2", "phq9_01,7")
    edit(base_dataset, "planning_tool", "aware_health,very", "aware_health,extremely")
    logged = load(base_dataset).intake_log.problems
    logged = logged[logged["severity"] == "error"]
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY, errors="raise")
    got = exc.value.to_frame()
    assert len(got) == len(logged) == 4
    assert set(zip(got["table"], got["row"], got["column"], strict=True)) == {
        ("parents", 4, "delivery_mode"), ("attendance", 3, "session_number"),
        ("responses", 2, "value"), ("planning_tool", 3, "response")}
    assert (got["hint"].str.len() > 0).all()
    assert "4 row(s) have problems" in str(exc.value)


def test_errors_raise_on_clean_data_returns_data(base_dataset):
    data = load(base_dataset, errors="raise")
    assert counts(data, "parents") == (3, 3, 0)


def test_errors_argument_is_checked(base_dataset):
    with pytest.raises(RpcEvalError, match="'exclude' or 'raise'"):
        rd.load(base_dataset, errors="ignore")


def test_check_returns_the_log(base_dataset):
    edit(base_dataset, "responses", "phq9_01,2", "phq9_01,7")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = rd.check(base_dataset, today=TODAY)
    assert log.reconciles() and log.n_errors == 1
    assert "1 error(s)" in log.summary()


def test_row_blank_except_beyond_the_header_is_not_ignored(base_dataset):
    append(base_dataset, "parents", ",,,,,,,,,,stray")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=5, column="(unnamed column 11)",
            contains="row has 11 values", hint="stray comma")
    assert counts(data, "parents") == (4, 3, 1)
    assert data.intake_log.tables.set_index("table").loc["parents", "blank_rows_ignored"] == 0


# -- other separators, encodings and stray files ------------------------------------------------------
def test_tab_separated_utf16_file_from_excel_unicode_text(base_dataset):
    text = "la_code\tla_name\tregion\r\nLA001\tYnys Môn\tnorth_east\r\nLA002\tSouthville\tlondon\r\n"
    (base_dataset / "las.csv").write_bytes(text.encode("utf-16"))  # with a byte-order mark
    data = load(base_dataset)
    assert list(data.las["la_name"]) == ["Ynys Môn", "Southville"]
    info = data.intake_log.problems
    assert set(info["severity"]) == {"info"}
    assert info["problem"].str.contains("UTF-16").any()
    assert info["problem"].str.contains("separated by tabs").any()


def test_workbook_inside_a_folder_is_reported(base_dataset):
    (base_dataset / "attendance.xlsx").write_bytes(b"PK")
    (base_dataset / "~$attendance.xlsx").write_bytes(b"lock")  # Excel's lock file: ignored
    data = load(base_dataset)
    p = data.intake_log.problems
    [row] = p[p["file"].str.contains("xlsx")].to_dict("records")
    assert row["file"] == "attendance.xlsx" and row["severity"] == "warning"
    assert ".xlsx files in a folder are not read" in row["problem"]
    assert "give the path of an .xlsx workbook" in row["hint"]


def test_old_excel_workbook(tmp_path):
    path = tmp_path / "dataset.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataValidationError) as exc:
        rd.load(path)
    [p] = exc.value.problems
    assert p.file == "dataset.xls" and "save it as an Excel Workbook (.xlsx)" in p.hint


def test_sav_column_problems_have_no_row(base_dataset, tmp_path):
    import pyreadstat

    ref = load(base_dataset)
    rd.write(ref, tmp_path / "sav", format="sav")
    text = to_text_frame(ref.las, "las").rename(columns={"la_name": "LA_NAME"})
    text["notes"] = "x"
    pyreadstat.write_sav(text, str(tmp_path / "sav" / "las.sav"))
    data = load(tmp_path / "sav")
    p = data.intake_log.problems
    las = p[p["table"] == "las"]
    assert set(las["column"]) == {"LA_NAME", "notes"}
    assert las["row"].isna().all()  # in an SPSS file row 1 is the first case, not a header


# -- a region's own codebooks and questionnaires ----------------------------------------------------
def test_region_codebook_folder_beside_the_data(base_dataset):
    edit(base_dataset, "parents", "enhanced_triple_p,face_to_face", "local_mediation,face_to_face")
    (base_dataset / "codebooks").mkdir()
    (base_dataset / "codebooks" / "interventions.yaml").write_text(
        "name: interventions\ncodes:\n"
        "  - {code: local_mediation, label: Local family mediation, intensity: couple,"
        " sessions_planned: 4}\n", encoding="utf-8")
    data = load(base_dataset)
    assert counts(data, "parents") == (3, 3, 0)
    assert "local_mediation" in data.codebooks["interventions"].codes
    assert "parents_plus_pws" in data.codebooks["interventions"].codes  # added, not replaced


def test_broken_region_codebook(base_dataset):
    (base_dataset / "codebooks").mkdir()
    (base_dataset / "codebooks" / "waves.yaml").write_text("name: waves\ncodes: [1, 2]\n")
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY)
    [p] = exc.value.problems
    assert "waves.yaml" in p.problem and p.hint == "correct the YAML file"


def test_region_instrument_folder_beside_the_data(base_dataset):
    (base_dataset / "instruments").mkdir()
    (base_dataset / "instruments" / "local_q.yaml").write_text(
        "name: local_q\ntitle: Local questionnaire\nresponses: {min: 1, max: 4}\n"
        "items: [lq_1, lq_2]\nscales:\n  - {name: total, items: [lq_1, lq_2]}\n",
        encoding="utf-8")
    append(base_dataset, "responses", "P001,parent,local_q,baseline,lq_1,4,2023-01-10",
           "P001,parent,local_q,baseline,lq_2,5,2023-01-10")
    data = load(base_dataset)
    assert "local_q" in data.instruments.available()
    problem(data.intake_log.problems, table="responses", row=6, column="value",
            contains="whole numbers 1 to 4", hint="questionnaire's scoring")
    assert counts(data, "responses") == (5, 4, 1)


def test_region_planning_item_without_response_list(base_dataset):
    (base_dataset / "codebooks").mkdir()
    (base_dataset / "codebooks" / "planning_tool.yaml").write_text(
        "name: planning_tool\ncodes:\n  - {code: local_notes, label: Local notes}\n",
        encoding="utf-8")
    append(base_dataset, "planning_tool", "LA002,2023,self_assessment,local_notes,anything")
    data = load(base_dataset)
    assert counts(data, "planning_tool") == (4, 4, 0)


def test_interventions_table_sets_valid_interventions(base_dataset):
    (base_dataset / "interventions.csv").write_text(
        "intervention,name,intensity,sessions_planned\n"
        "parents_plus_pws,Parents Plus,group,6\n", encoding="utf-8")
    data = load(base_dataset)
    problem(data.intake_log.problems, table="parents", row=4, column="intervention",
            contains="unknown intervention code", hint="use one of: parents_plus_pws")
    assert counts(data, "parents") == (3, 2, 1)


def test_two_columns_with_the_same_meaning(base_dataset):
    edit(base_dataset, "las", "la_code,la_name,region", "la_code,la_name,region,LA Code")
    with pytest.raises(DataValidationError) as exc:
        rd.load(base_dataset, today=TODAY)
    [p] = exc.value.problems
    assert (p.table, p.column) == ("las", "la_code")
    assert p.problem == "columns 'la_code' and 'LA Code' are both read as 'la_code'"
    assert p.hint == "keep one of them, or rename the other"


def test_two_sheets_for_one_table(base_dataset, tmp_path):
    [path] = rd.write(load(base_dataset), tmp_path / "wb", format="xlsx")
    wb = openpyxl.load_workbook(path)
    wb.copy_worksheet(wb["attendance"]).title = "Attendance "
    wb.save(path)
    with pytest.raises(DataValidationError) as exc:
        rd.load(path, today=TODAY)
    [p] = exc.value.problems
    assert p.table == "attendance" and "more than one sheet holds the attendance table" in p.problem
    assert "sheets attendance, Attendance " in p.file
