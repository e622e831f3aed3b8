"""Property: whatever a table holds, the rows and non-empty cells read are exactly those
written, from a CSV file and from a workbook (including its used-range tag set wrong)."""

from __future__ import annotations

import csv
import re
import tempfile
import zipfile
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

from rpc_eval.data.readers import read_table_file, read_workbook

COLUMNS = ["la_code", "la_name", "region", "family_hub_area", "cluster_id"]
SETTINGS = dict(deadline=None, max_examples=40,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"),
    max_size=12,
).filter(lambda s: not ILLEGAL_CHARACTERS_RE.search(s) and not s.startswith("="))
_cell = st.one_of(st.just(""), _text, st.from_regex(r"[0-9]{1,6}", fullmatch=True),
                  st.sampled_from(['"', '""', "a,b", "x\ny", " lead", "trail ", "#N/A"]))


@st.composite
def tables(draw):
    extra = draw(st.lists(st.from_regex(r"[a-z][a-z0-9 ]{0,8}[a-z0-9]", fullmatch=True),
                          max_size=3, unique=True))
    extra = [e for e in extra if e.replace(" ", "_") not in COLUMNS]
    header = COLUMNS + extra
    rows = draw(st.lists(st.lists(_cell, min_size=len(header), max_size=len(header)),
                         max_size=25))
    return header, rows


def _cells(header, rows, first_row=2):
    return {(first_row + i, header[j], v) for i, r in enumerate(rows)
            for j, v in enumerate(r) if v != ""}


def _read_cells(raw):
    frame = raw.frame
    return {(int(r), c, v) for r, (_, vals) in zip(raw.rows, frame.iterrows(), strict=True)
            for c, v in vals.items() if v != ""}


@settings(**SETTINGS)
@given(tables())
def test_csv_rows_and_cells_read_are_those_written(table):
    header, rows = table
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "las.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows([header, *rows])
        raw = read_table_file(path, "las")
    assert raw.usable, raw.problems
    assert list(raw.frame.columns) == header
    assert len(raw.frame) == len(rows)
    assert _read_cells(raw) == _cells(header, rows)


@settings(**SETTINGS)
@given(tables(), st.sampled_from([None, "A1", "A1:B2", "A1:XFD1048576"]))
def test_workbook_rows_and_cells_read_are_those_written(table, dimension):
    header, rows = table
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.xlsx"
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "las"
        for r in [header, *rows]:
            ws.append([v if v != "" else None for v in r])
        wb.save(path)
        if dimension:
            with zipfile.ZipFile(path) as z:
                parts = {n: z.read(n) for n in z.namelist()}
            parts["xl/worksheets/sheet1.xml"] = re.sub(
                rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>'.encode(),
                parts["xl/worksheets/sheet1.xml"])
            with zipfile.ZipFile(path, "w") as z:
                for n, d in parts.items():
                    z.writestr(n, d)
        raws, problems = read_workbook(path, ["las"])
    raw = raws["las"]
    assert raw.usable, raw.problems
    assert list(raw.frame.columns) == header
    written = _cells(header, rows)
    # openpyxl stores text such as '#N/A' as an Excel error value: such a cell is not read
    # as data but reported, naming its row and column
    errors = {c for c in written if c[2] in ERROR_CODES}
    assert _read_cells(raw) == written - errors
    reported = {(p.row, p.column) for p in raw.problems if "Excel error value" in p.problem}
    assert reported == {(r, c) for r, c, _ in errors}
    # no row is lost: every written row with a value is there, under its own number
    filled = {2 + i for i, r in enumerate(rows) if any(v != "" for v in r)}
    assert filled <= set(int(r) for r in raw.rows)
