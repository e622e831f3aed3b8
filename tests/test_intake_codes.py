"""Codes a dataset defines itself (LA codes, intervention codes) are published in
tables, spreadsheets and figures, so intake accepts only letters, digits and ``_ - .``
in them, and says so at the row and column of each other code."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from rpc_eval.data import load
from rpc_eval.errors import DataValidationError, problems_frame

HOSTILE = ['=HYPERLINK("http://x";"click")', "+cmd|' /C calc'!A0", "@SUM(1)",
           "LA $x^2$", "LA 001"]


def _dataset(base: Path, tmp_path: Path, edit) -> Path:
    """A copy of the conftest base dataset with ``edit(name, text) -> text`` applied."""
    out = tmp_path / "d"
    out.mkdir()
    for f in base.glob("*.csv"):
        (out / f.name).write_text(edit(f.stem, f.read_text(encoding="utf-8")),
                                  encoding="utf-8", newline="")
    return out


def _problems(folder: Path):
    """Every problem intake found, whether or not the data could be loaded (rows with a
    refused code are excluded, which intake announces with a warning)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load(folder).intake_log.problems
    except DataValidationError as exc:
        return problems_frame(exc.problems)


@pytest.mark.parametrize("code", HOSTILE)
def test_hostile_la_code_is_refused_at_its_row(base_dataset, tmp_path, code):
    quoted = '"' + code.replace('"', '""') + '"'
    folder = _dataset(base_dataset, tmp_path, lambda name, text: text.replace(
        "LA002,Southville", f"{quoted},Southville") if name == "las" else text)
    frame = _problems(folder)
    hit = frame[frame["problem"].str.contains("may hold only letters, digits", na=False)]
    assert len(hit) == 1, frame[["table", "row", "column", "problem"]].to_string()
    assert hit.iloc[0]["table"] == "las"
    assert hit.iloc[0]["column"] == "la_code"
    assert int(hit.iloc[0]["row"]) == 3
    assert hit.iloc[0]["severity"] == "error"


def test_ordinary_codes_are_accepted(base_dataset, tmp_path):
    folder = _dataset(base_dataset, tmp_path,
                      lambda name, text: text.replace("LA002", "E06-000.1_b"))
    data = load(folder)
    assert "E06-000.1_b" in set(data.las["la_code"])
    p = data.intake_log.problems
    assert p[p["problem"].str.contains("may hold only", na=False)].empty


def test_problem_report_csv_carries_no_live_formula(base_dataset, tmp_path, capsys):
    """The values quoted in ``validate --report`` come from the user's file: a cell
    that a spreadsheet would run as a formula is written as text."""
    import pandas as pd

    from rpc_eval.cli import main

    folder = _dataset(base_dataset, tmp_path, lambda name, text: text.replace(
        "2023-02-01", "=1+1") if name == "parents" else text)
    out = tmp_path / "problems.csv"
    assert main(["validate", str(folder), "--report", str(out), "--quiet"]) == 2
    capsys.readouterr()
    cells = pd.read_csv(out, dtype=str, keep_default_na=False).to_numpy().ravel()
    assert "'=1+1" in set(cells)
    assert not [c for c in cells if c[:1] in ("=", "+", "@")]
