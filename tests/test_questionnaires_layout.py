"""The questionnaires layout: one row per parent x wave x instrument, one column per item.

Intake reads it beside (instead of) the long responses table and checks it with the
same rules, reporting problems at the questionnaire's row and the item's column.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from rpc_eval.data import load, write
from rpc_eval.errors import DataQualityWarning, DataValidationError
from rpc_eval.synthetic import generate

TODAY = "2030-01-01"
KEY = ["parent_id", "respondent", "instrument", "wave", "item"]


@pytest.fixture(scope="module")
def data():
    return generate("small", seed=4)[0]


def _questionnaires(folder) -> pd.DataFrame:
    """The folder's responses.csv laid out one row per questionnaire (and removed)."""
    r = pd.read_csv(folder / "responses.csv", dtype=str, keep_default_na=False)
    q = (r.pivot_table(index=["parent_id", "respondent", "instrument", "wave",
                              "completed_date"], columns="item", values="value",
                       aggfunc="first", sort=False)
         .reset_index().fillna(""))
    (folder / "responses.csv").unlink()
    return q


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load(path, today=TODAY)


@pytest.fixture
def folder(data, tmp_path):
    write(data, tmp_path)
    return tmp_path


def test_questionnaires_give_the_same_responses(data, folder):
    q = _questionnaires(folder)
    assert len(q) < len(data.responses) / 5  # far fewer rows to key
    q.to_csv(folder / "questionnaires.csv", index=False)
    loaded = _load(folder)
    assert loaded.intake_log.n_errors == 0
    pd.testing.assert_frame_equal(loaded.responses.sort_values(KEY).reset_index(drop=True),
                                  data.responses.sort_values(KEY).reset_index(drop=True))


def test_questionnaires_sheet_of_a_workbook(data, tmp_path):
    write(data, tmp_path / "csv")
    q = _questionnaires(tmp_path / "csv")
    path = tmp_path / "data.xlsx"
    with pd.ExcelWriter(path) as xw:
        for table in ("las", "parents"):
            pd.read_csv(tmp_path / "csv" / f"{table}.csv", dtype=str,
                        keep_default_na=False).to_excel(xw, sheet_name=table, index=False)
        pd.DataFrame(columns=KEY + ["value", "completed_date"]).to_excel(
            xw, sheet_name="responses", index=False)  # the template's empty sheet
        q.to_excel(xw, sheet_name="questionnaires", index=False)
    loaded = _load(path)
    assert loaded.intake_log.n_errors == 0
    assert len(loaded.responses) == len(data.responses)


def test_bad_answer_excludes_the_questionnaire_and_names_the_column(data, folder):
    q = _questionnaires(folder)
    row = int(q.index[q["instrument"] == "phq9"][0])
    q.loc[row, "phq9_04"] = "5"
    other = int(q.index[q["instrument"] == "gad7"][0])
    q.loc[other, "phq9_01"] = "1"  # an answer on another questionnaire's row
    q["notes"] = ""
    q.to_csv(folder / "questionnaires.csv", index=False)
    log = _load(folder).intake_log
    errors = log.problems[log.problems["severity"] == "error"]
    got = {(int(r.row), r.column, r.value) for r in errors.itertuples()}
    assert got == {(row + 2, "phq9_04", "5"), (other + 2, "phq9_01", "1")}
    assert "phq9_04 of phq9 (whole numbers 0 to 3)" in " ".join(errors["problem"])
    n_phq9, n_gad7 = 9, 7
    t = log.tables.set_index("table").loc["responses"]
    assert t["rows_excluded"] == n_phq9 + n_gad7
    assert log.reconciles()
    warned = log.problems[log.problems["severity"] == "warning"]
    assert "notes" in set(warned["column"])


def test_unknown_instrument_is_reported_at_its_row(folder):
    q = _questionnaires(folder)
    q.loc[3, "instrument"] = "phq10"
    q.to_csv(folder / "questionnaires.csv", index=False)
    log = _load(folder).intake_log
    errors = log.problems[log.problems["severity"] == "error"]
    assert (errors["row"] == 5).any()
    assert errors.loc[errors["row"] == 5, "problem"].str.contains("instrument").any()
    assert log.reconciles()


def test_two_rows_for_one_questionnaire_are_not_unique(folder):
    q = _questionnaires(folder)
    dup = q.iloc[[0]].copy()
    first_item = [c for c in q.columns if q.loc[0, c] != "" and c.startswith(("sdq", "phq",
                                                                               "gad"))][-1]
    dup[first_item] = "0" if q.loc[0, first_item] != "0" else "1"
    pd.concat([q, dup], ignore_index=True).to_csv(folder / "questionnaires.csv", index=False)
    log = _load(folder).intake_log
    errors = log.problems[log.problems["severity"] == "error"]
    assert errors["problem"].str.contains(f"rows 2, {len(q) + 2}").any()


def test_both_layouts_with_rows_is_an_error(data, folder):
    write(data, folder / "again")
    q = _questionnaires(folder / "again")
    q.to_csv(folder / "questionnaires.csv", index=False)
    with pytest.raises(DataValidationError) as exc:
        load(folder, today=TODAY)
    assert "both as responses" in str(exc.value.to_frame()["problem"].tolist())


def test_missing_required_column(folder):
    q = _questionnaires(folder).drop(columns=["wave"])
    q.to_csv(folder / "questionnaires.csv", index=False)
    with pytest.raises(DataValidationError) as exc:
        load(folder, today=TODAY)
    frame = exc.value.to_frame()
    assert (frame["column"] == "wave").any()
    assert frame["problem"].str.contains("required column 'wave' is missing").any()
