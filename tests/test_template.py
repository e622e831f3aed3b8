"""The Excel data-collection template: layout, validations, and what intake makes of it."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from rpc_eval.cli import main as cli_main
from rpc_eval.cli import template as cli_template
from rpc_eval.data import TABLES, load, load_codebooks, schema
from rpc_eval.data.readers import TEMPLATE_SHEETS
from rpc_eval.data.template import (
    EXAMPLE_ROWS,
    INSTRUCTIONS_SHEET,
    LISTS_SHEET,
    PLAN,
    write_template,
)
from rpc_eval.errors import DataQualityWarning, DataValidationError, RpcEvalError
from rpc_eval.instruments import default_registry

TODAY = "2024-01-01"  # the base dataset of conftest.py is valid up to this date


@pytest.fixture(scope="module")
def empty(tmp_path_factory) -> Path:
    return write_template(tmp_path_factory.mktemp("tpl") / "regional-template.xlsx",
                          max_rows=300)


@pytest.fixture(scope="module")
def empty_wb(empty):
    return openpyxl.load_workbook(empty)


@pytest.fixture
def base_data(base_dataset):
    return load(base_dataset, today=TODAY)


def _validation(ws, letter: str, row: int = 2):
    found = [dv for dv in ws.data_validations.dataValidation if f"{letter}{row}" in dv.sqref]
    assert len(found) <= 1, (ws.title, letter)
    return found[0] if found else None


def _list_values(wb, formula: str) -> list[str]:
    """The values of a list validation: inline ("a,b") or a workbook name on Lists."""
    if formula.startswith('"'):
        return formula.strip('"').split(",")
    dest = list(wb.defined_names[formula].destinations)
    assert len(dest) == 1
    sheet, ref = dest[0]
    assert sheet == LISTS_SHEET
    return [str(c.value) for (c,) in wb[sheet][ref.replace("$", "")]]


def _named_column(wb, name: str) -> list:
    (sheet, ref), = wb.defined_names[name].destinations
    return [c.value for (c,) in wb[sheet][ref.replace("$", "")]]


def _problems(data, severity: str = "error") -> pd.DataFrame:
    p = data.intake_log.problems
    return p[p["severity"] == severity]


# ------------------------------------------------------------------------------------
# layout
# ------------------------------------------------------------------------------------
def test_instructions_first_then_one_sheet_per_table_with_schema_headers(empty_wb):
    assert empty_wb.sheetnames == [INSTRUCTIONS_SHEET, *TABLES, "questionnaires", LISTS_SHEET]
    assert empty_wb[LISTS_SHEET].sheet_state == "hidden"
    spec = schema()
    for table in TABLES:
        ws = empty_wb[table]
        header = [c.value for c in ws[1]]
        assert header == list(spec[table]["columns"]), table
        assert ws.freeze_panes == "A2"
        for j, col in enumerate(header, start=1):
            comment = ws.cell(row=1, column=j).comment
            assert comment is not None and comment.text.startswith(col), (table, col)
            required = spec[table]["columns"][col]["required"]
            assert ("Optional column" in comment.text) is (not required), (table, col)
            assert ws.column_dimensions[get_column_letter(j)].width >= 12
        # nothing under the header but the prefilled interventions
        if table != "interventions":
            assert ws.max_row == 1, table


def test_template_sheet_names_are_the_ones_intake_recognises():
    for title in (INSTRUCTIONS_SHEET, LISTS_SHEET):
        assert title.strip().lower() in TEMPLATE_SHEETS


def test_instructions_say_how_to_check_and_run_and_show_valid_examples(empty_wb, tmp_path):
    ws = empty_wb[INSTRUCTIONS_SHEET]
    text = "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)
    assert "rpc-eval validate regional-template.xlsx" in text
    assert f"rpc-eval run --plan {PLAN} --data regional-template.xlsx --out report/" in text
    assert "YYYY-MM-DD" in text and "merge" in text
    spec = schema()
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    for table, example in EXAMPLE_ROWS.items():
        cols = list(spec[table]["columns"])
        # the example is shown as the column names with the example row underneath
        i = next(i for i, r in enumerate(rows) if r[:len(cols)] == cols)
        shown = [("" if v is None else str(v)) for v in rows[i + 1][:len(cols)]]
        assert shown == [example.get(c, "") for c in cols], table
    # and the examples, typed in as data, pass every check
    folder = tmp_path / "examples"
    folder.mkdir()
    for table, example in EXAMPLE_ROWS.items():
        pd.DataFrame([example]).to_csv(folder / f"{table}.csv", index=False)
    data = load(folder, today=TODAY)
    assert data.intake_log.n_errors == 0 and data.intake_log.n_warnings == 0
    assert all(len(data.table(t)) == 1 for t in EXAMPLE_ROWS)


# ------------------------------------------------------------------------------------
# validations
# ------------------------------------------------------------------------------------
def test_coded_columns_offer_exactly_the_codebook_codes(empty_wb):
    books = load_codebooks()
    registry = default_registry()
    n_checked = 0
    for table, tspec in schema().items():
        ws = empty_wb[table]
        for j, (col, cs) in enumerate(tspec["columns"].items(), start=1):
            letter = get_column_letter(j)
            dv = _validation(ws, letter)
            if cs["type"] == "code":
                expected = (registry.available() if cs["codebook"] == "instruments"
                            else books[cs["codebook"]].codes)
            elif cs["type"] == "boolean":
                expected = ["yes", "no"]
            else:
                continue
            assert dv is not None and dv.type == "list", (table, col)
            assert _list_values(empty_wb, dv.formula1) == expected, (table, col)
            assert f"{letter}301" in dv.sqref and f"{letter}302" not in dv.sqref
            n_checked += 1
    assert n_checked == 20  # 18 coded columns and 2 yes/no columns in the data model
    # a long list is kept on the Lists sheet, not in the validation itself
    item = _validation(empty_wb["planning_tool"], "D")
    assert item.formula1 == "list_planning_tool"


def test_date_and_numeric_columns_carry_typed_validation(empty_wb):
    for table, tspec in schema().items():
        ws = empty_wb[table]
        for j, (col, cs) in enumerate(tspec["columns"].items(), start=1):
            letter = get_column_letter(j)
            dv = _validation(ws, letter)
            if cs["type"] == "date":
                assert dv is not None and dv.type == "date", (table, col)
                assert (dv.operator, dv.formula1, dv.formula2) == (
                    "between", "DATE(1900,1,1)", "TODAY()")
                assert "YYYY-MM-DD" in dv.prompt and "Excel date" in dv.prompt
                assert ws.column_dimensions[letter].number_format == "yyyy-mm-dd"
            elif cs["type"] == "integer" and cs.get("min") is not None:
                assert dv is not None and dv.type == "whole", (table, col)
                assert (dv.formula1, dv.formula2) == (str(cs["min"]), str(cs["max"]))
            elif cs["type"] == "id" and "references" not in cs:
                assert dv is None, (table, col)
    # la_code must be one of the LA codes typed on the las sheet
    dv = _validation(empty_wb["parents"], "C")
    assert dv.type == "list" and dv.formula1 == "las!$A$2:$A$301"


def test_item_values_are_checked_against_the_instrument_item_range(empty_wb):
    items = default_registry().item_table()
    keys = _named_column(empty_wb, "item_key")
    assert keys == (items["instrument"] + "|" + items["item"]).tolist()
    assert _named_column(empty_wb, "item_min") == items["min"].tolist()
    assert _named_column(empty_wb, "item_max") == items["max"].tolist()
    dv = _validation(empty_wb["responses"], "F")  # value; C = instrument, E = item
    assert dv.type == "custom" and dv.allow_blank
    assert dv.formula1 == ('AND(ISNUMBER(F2),F2=INT(F2),'
                           'F2>=INDEX(item_min,MATCH($C2&"|"&$E2,item_key,0)),'
                           'F2<=INDEX(item_max,MATCH($C2&"|"&$E2,item_key,0)))')
    q = load_codebooks()["training_questions"]
    assert _named_column(empty_wb, "question_code") == q.codes
    assert _named_column(empty_wb, "question_max") == [q.attribute("max")[c] for c in q.codes]
    responses = load_codebooks()["planning_tool"].attribute("responses")
    assert set(_named_column(empty_wb, "planning_key")) == {
        f"{i}|{r}" for i, rs in responses.items() for r in rs}


# ------------------------------------------------------------------------------------
# intake of the template
# ------------------------------------------------------------------------------------
def test_empty_template_is_not_a_valid_dataset_and_says_why(empty):
    # a template with nothing filled in has no parents: nothing to evaluate, so it is
    # refused with that one error (never "Valid"); its help sheets are only noted
    with pytest.raises(DataValidationError) as info:
        load(empty)
    problems = info.value.to_frame()
    errors = problems[problems["severity"] == "error"]
    assert list(errors["problem"]) == ["the parents table has no rows: a dataset needs at "
                                       "least one referral to evaluate"]
    assert errors["file"].iloc[0] == f"{empty.name} [sheet parents]"
    notes = problems[problems["severity"] == "info"]
    assert sorted(notes["file"]) == sorted(f"{empty.name} [sheet {s}]"
                                           for s in (INSTRUCTIONS_SHEET, LISTS_SHEET))
    assert not notes["hint"].str.contains("rename").any()


def test_round_trip_of_a_synthetic_dataset(tmp_path):
    from rpc_eval.synthetic import generate

    # the small scale with fewer parents (every table still has rows) keeps the test quick
    original, _ = generate("small", seed=11, n_parents=200)
    path = write_template(tmp_path / "filled.xlsx", data=original)
    wb = openpyxl.load_workbook(path, read_only=True)
    first = next(wb["parents"].iter_rows(min_row=2, max_row=2, values_only=True))
    wb.close()
    # dates are Excel dates, codes are text
    assert isinstance(first[6], dt.datetime) and isinstance(first[4], str)
    data = load(path)
    log = data.intake_log
    assert log.n_errors == 0 and log.n_warnings == 0 and log.reconciles()
    for table, key in ((t, schema()[t]["key"]) for t in TABLES):
        want = original.table(table).sort_values(key).reset_index(drop=True)
        got = data.table(table).sort_values(key).reset_index(drop=True)
        assert len(want) > 0, table
        pd.testing.assert_frame_equal(got, want, obj=table)


def test_bad_cells_are_reported_with_sheet_row_and_column(base_data, tmp_path):
    path = write_template(tmp_path / "la.xlsx", data=base_data, max_rows=10)
    clean = load(path, today=TODAY)
    assert clean.intake_log.n_errors == 0
    for table in TABLES:
        if table != "interventions":
            pd.testing.assert_frame_equal(clean.table(table), base_data.table(table), obj=table)
    # no interventions rows in the data: the sheet holds the codebook's, which keeps the
    # parents' intervention codes valid (an empty sheet would make none valid)
    assert clean.interventions["intervention"].tolist() == base_data.codebooks[
        "interventions"].codes
    # max_rows bounds the validated block
    assert "E11" in _validation(openpyxl.load_workbook(path)["parents"], "E").sqref

    wb = openpyxl.load_workbook(path)
    wb["parents"]["E3"] = "by bus"             # delivery_mode of the second parent
    wb["attendance"]["C4"] = "2023-02-30"      # session_date of the third session
    wb["responses"]["F3"] = 7                  # phq9 items run 0..3
    wb.save(path)
    with pytest.warns(DataQualityWarning):
        data = load(path, today=TODAY)
    errors = _problems(data)
    found = {(r.table, r.file, int(r.row), r.column) for r in errors.itertuples()}
    assert ("parents", "la.xlsx [sheet parents]", 3, "delivery_mode") in found
    assert ("attendance", "la.xlsx [sheet attendance]", 4, "session_date") in found
    assert ("responses", "la.xlsx [sheet responses]", 3, "value") in found
    row = errors[(errors["table"] == "responses") & (errors["column"] == "value")].iloc[0]
    assert row["value"] == "7" and "0 to 3" in row["problem"]
    assert data.intake_log.reconciles()
    # row 3 of parents is P002: its attendance and response rows go with it
    assert data.parents["parent_id"].tolist() == ["P001", "P003"]
    assert len(data.attendance) == 2 and len(data.responses) == 1


def test_write_template_rejects_bad_arguments(tmp_path):
    with pytest.raises(RpcEvalError, match=".xlsx"):
        write_template(tmp_path / "template.csv")
    with pytest.raises(RpcEvalError, match="max_rows"):
        write_template(tmp_path / "t.xlsx", max_rows=0)


# ------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------
def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpc-eval")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_template.register(sub)
    args = parser.parse_args(["template", *argv])
    return args.func(args)


def test_cli_writes_the_template_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "regional-template.xlsx"
    assert _run(["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"rpc-eval validate {out}" in printed and "rpc-eval run --plan" in printed
    assert openpyxl.load_workbook(out, read_only=True).sheetnames[0] == INSTRUCTIONS_SHEET
    assert _run(["--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert _run(["--out", str(out), "--force", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert _run(["--out", str(tmp_path / "template.xls")]) == 2
    assert _run(["--out", str(out), "--force", "--max-rows", "0"]) == 2
    # the filled-in-nothing template is not a dataset: no parents, nothing to evaluate
    assert cli_main(["validate", str(out), "--quiet"]) == 2
    assert "the parents table has no rows" in capsys.readouterr().err


def test_cli_with_example_data_fills_the_sheets(tmp_path, base_data, monkeypatch, capsys):
    import rpc_eval.synthetic

    seeds = []

    def fake_generate(scale, seed):
        seeds.append((scale, seed))
        return base_data, {}

    monkeypatch.setattr(rpc_eval.synthetic, "generate", fake_generate)
    out = tmp_path / "practice.xlsx"
    assert _run(["--out", str(out), "--with-example-data", "--seed", "5"]) == 0
    assert seeds == [("small", 5)]
    assert "synthetic practice data" in capsys.readouterr().out
    data = load(out, today=TODAY)
    assert data.intake_log.n_errors == 0
    assert data.parents["parent_id"].tolist() == base_data.parents["parent_id"].tolist()
