"""The collection workbook's questionnaires sheet and checks sized for the parents asked for."""

from __future__ import annotations

import datetime as dt
import warnings

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from rpc_eval.data import load
from rpc_eval.data.template import DEFAULT_MAX_ROWS, ROWS_PER_PARENT, write_template
from rpc_eval.errors import DataQualityWarning, RpcEvalError
from rpc_eval.instruments import default_registry


def _last_row(ws, letter: str) -> int:
    """Last row covered by the validation of column ``letter``."""
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            if rng.coord.startswith(f"{letter}2:"):
                return rng.max_row
    raise AssertionError(f"no validation on column {letter}")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = write_template(tmp_path_factory.mktemp("t") / "t.xlsx")
    return path, openpyxl.load_workbook(path)


def test_checks_cover_2000_parents_by_default(template):
    _, wb = template
    assert _last_row(wb["parents"], "C") == 2000 + 1
    # 600 parents answered 46,680 items: 2,000 need more than 155,000 rows
    responses = _last_row(wb["responses"], "F")
    assert responses == 2000 * ROWS_PER_PARENT["responses"] + 1 > 46_680 * 2000 / 600
    assert _last_row(wb["questionnaires"], "B") == 2000 * ROWS_PER_PARENT["questionnaires"] + 1
    assert _last_row(wb["practitioners"], "B") == DEFAULT_MAX_ROWS + 1
    text = " ".join(str(c.value) for c in wb["Instructions"]["A"] if c.value)
    assert "200,000 rows of responses" in text


def test_checks_cover_the_parents_asked_for(tmp_path):
    wb = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", parents=50_000))
    assert _last_row(wb["parents"], "C") == 50_001
    assert _last_row(wb["responses"], "F") == 1_048_576  # Excel's last row
    with pytest.raises(RpcEvalError, match="parents"):
        write_template(tmp_path / "u.xlsx", parents=0)


def test_questionnaires_sheet_has_every_item_with_its_range(template):
    _, wb = template
    ws = wb["questionnaires"]
    header = [c.value for c in ws[1]]
    items = default_registry().item_table()
    assert header[:5] == ["parent_id", "respondent", "instrument", "wave", "completed_date"]
    assert header[5:] == items["item"].tolist()
    j = header.index("phq9_04") + 1
    letter = get_column_letter(j)
    dv = next(d for d in ws.data_validations.dataValidation
              if any(r.coord.startswith(f"{letter}2:") for r in d.sqref.ranges))
    assert f"{letter}2>=0" in dv.formula1 and f"{letter}2<=3" in dv.formula1
    assert '$C2="phq9"' in dv.formula1


def test_filled_questionnaires_sheet_is_read(template, tmp_path):
    path, _ = template
    wb = openpyxl.load_workbook(path)
    wb["las"].append(["LA001", "Northtown", "north_east"])
    wb["parents"].append(["P1", "F1", "LA001", "parents_plus_pws", "online", "separated",
                          dt.datetime(2023, 1, 5), dt.datetime(2023, 1, 20), None, "ongoing"])
    ws = wb["questionnaires"]
    header = [c.value for c in ws[1]]
    row = [None] * len(header)
    row[:5] = ["P1", "parent", "phq9", "baseline", dt.datetime(2023, 1, 6)]
    for k in range(1, 10):
        row[header.index(f"phq9_{k:02d}")] = k % 4
    ws.append(row)
    out = tmp_path / "filled.xlsx"
    wb.save(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        data = load(out, today="2030-01-01")
    assert data.intake_log.n_errors == 0
    assert sorted(data.responses["item"]) == [f"phq9_{k:02d}" for k in range(1, 10)]
    assert data.responses["value"].tolist() == [float(k % 4) for k in range(1, 10)]
