"""Property tests of intake: whatever the files hold, ``load`` either returns data whose
log reconciles and whose kept rows satisfy the schema, or raises DataValidationError.
Never any other exception (a user must never see a Python traceback)."""

from __future__ import annotations

import csv
import io
import itertools
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

import rpc_eval.data as rd
from rpc_eval import instruments
from rpc_eval.data.parse import MISSING_MARKERS
from rpc_eval.errors import DataQualityWarning, DataValidationError

TODAY = pd.Timestamp("2024-01-01")
LAS_CSV = "la_code,la_name,region\nLA001,Northtown,north_east\nLA002,Southville,london\n"
#: More examples for a deep run: RPC_FUZZ_SCALE=20 pytest tests/test_intake_fuzz.py
SCALE = float(os.environ.get("RPC_FUZZ_SCALE", "1"))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture])
BOOKS = rd.load_codebooks()
SCHEMA = rd.schema()
_counter = itertools.count()


def _fresh(tmp_path: Path) -> Path:
    """A new empty folder for one example."""
    return Path(tempfile.mkdtemp(dir=tmp_path, prefix=f"ex{next(_counter)}_"))


def _load(path: Path) -> rd.EvaluationData | None:
    """Load; None when DataValidationError (allowed). Anything else fails the test.

    Only DataQualityWarning may be emitted: a stray pandas or NumPy warning means a
    value was handled by accident rather than by design.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            data = rd.load(path, today=TODAY)
        except DataValidationError as exc:
            assert exc.problems, "a DataValidationError must list its problems"
            for p in exc.problems:
                assert p.problem and (p.hint or p.severity == "info")
            str(exc)  # the message can be built
            return None
    others = [w for w in caught if not issubclass(w.category, DataQualityWarning)]
    assert not others, [f"{w.category.__name__}: {w.message}" for w in others]
    _check_log(data)
    return data


def _outcome(data: rd.EvaluationData | None) -> None:
    """Label the example for hypothesis' statistics (pytest --hypothesis-show-statistics)."""
    if data is None:
        event("DataValidationError")
    else:
        event("loaded, parents kept: " + ("0" if data.parents.empty else ">0"))
        event("loaded, rows excluded: "
              + ("0" if data.intake_log.excluded.empty else ">0"))


def _check_log(data: rd.EvaluationData) -> None:
    log = data.intake_log
    assert log.reconciles()
    for r in log.tables.itertuples():
        assert r.rows_kept == len(data.table(r.table))
    n_excluded = int(log.tables["rows_excluded"].sum())
    assert len(log.excluded) == n_excluded
    assert not log.excluded.duplicated(["table", "file", "row"]).any()
    errors = log.problems[log.problems["severity"] == "error"]
    # every excluded row has at least one error logged at that row, and vice versa
    ex_rows = set(zip(log.excluded["table"], log.excluded["row"].astype(int), strict=True))
    row_errors = errors[errors["row"].notna()]
    err_rows = set(zip(row_errors["table"], row_errors["row"].astype(int), strict=True))
    assert ex_rows == err_rows
    assert set(log.problems["severity"]) <= {"error", "warning", "info"}
    serious = log.problems[log.problems["severity"] != "info"]
    assert (serious["hint"].fillna("").str.len() > 0).all()
    # the log's row numbers are spreadsheet rows: data rows start at 2
    assert (row_errors["row"] >= 2).all()


def _check_schema(data: rd.EvaluationData) -> None:
    """Every kept row satisfies the data model."""
    books = dict(data.codebooks)
    for name, table in data.tables().items():
        spec = SCHEMA[name]
        empty = rd.empty_table(name)
        assert list(table.columns) == list(empty.columns), name
        assert table.dtypes.equals(empty.dtypes), (name, table.dtypes, empty.dtypes)
        assert table.index.equals(pd.RangeIndex(len(table)))
        for col, cs in spec["columns"].items():
            s = table[col]
            if not cs["nullable"]:
                assert s.notna().all(), (name, col)
            present = s.dropna()
            if cs["type"] == "code":
                valid = set(books[cs["codebook"]].codes)
                assert set(present) <= valid, (name, col, set(present) - valid)
            if cs["type"] in ("id", "text", "code"):
                assert all(isinstance(v, str) and v == v.strip() and v for v in present)
            if cs["type"] in ("integer", "number"):
                assert np.isfinite(present.astype(float)).all()
                if "min" in cs:
                    assert (present >= cs["min"]).all(), (name, col)
                if "max" in cs:
                    assert (present <= cs["max"]).all(), (name, col)
            if cs["type"] == "date":
                assert (present <= TODAY).all(), (name, col)
                assert (present >= pd.Timestamp("1900-01-01")).all(), (name, col)
        key = spec.get("key", [])
        if key and len(table):
            assert not table.duplicated(key).any(), (name, key)
        for col, cs in spec["columns"].items():
            if cs.get("references"):
                target, tcol = cs["references"].split(".")
                assert set(table[col].dropna()) <= set(data.table(target)[tcol]), (name, col)
    p = data.parents
    assert not (p["start_date"] < p["referral_date"]).any()
    assert not (p["exit_date"] < p["start_date"]).any()
    assert not ((p["exit_reason"] == "not_started") & p["start_date"].notna()).any()
    assert not ((p["exit_reason"] == "ongoing") & p["exit_date"].notna()).any()
    done = p["exit_reason"].isin(["completed", "dropped_out"])
    assert not (done & (p["start_date"].isna() | p["exit_date"].isna())).any()
    a = data.attendance.merge(p[["parent_id", "start_date", "exit_date"]], on="parent_id")
    assert len(a) == len(data.attendance)
    assert not (a["session_date"] < a["start_date"]).any()
    assert not (a["session_date"] > a["exit_date"]).any()
    assert a["start_date"].notna().all()
    r = data.responses
    items = data.instruments.item_table().set_index(["instrument", "item"])
    if len(r):
        idx = pd.MultiIndex.from_frame(r[["instrument", "item"]])
        assert idx.isin(items.index).all()
        rng = items.reindex(idx)
        v = r["value"].to_numpy()
        ok = np.isnan(v) | ((v >= rng["min"].to_numpy()) & (v <= rng["max"].to_numpy())
                            & (v % 1 == 0))
        assert ok.all()


# ------------------------------------------------------------------------------------
# (a) arbitrary bytes as parents.csv
# ------------------------------------------------------------------------------------
PARENTS_HEADER = ("parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
                  "referral_date,start_date,exit_date,exit_reason\n")
PARENTS_ROW = "P1,F1,LA001,parents_plus_pws,online,separated,2023-01-05,2023-01-20,,ongoing\n"

bytes_like_csv = st.one_of(
    st.binary(max_size=400),
    # text that is mostly CSV-shaped, in assorted encodings
    st.builds(lambda body, enc, bom: (b"\xef\xbb\xbf" if bom else b"")
              + body.encode(enc, errors="replace"),
              st.lists(st.sampled_from(list(',;"\t\n\r x1é£\x00') + ["P1", "LA001",
                                                                         "2023-01-05"]),
                       max_size=80).map("".join),
              st.sampled_from(["utf-8", "cp1252", "utf-16", "latin-1"]), st.booleans()),
    # a valid header, then junk
    st.builds(lambda junk: PARENTS_HEADER.encode() + junk, st.binary(max_size=200)),
    # a valid file with a few bytes changed
    st.builds(lambda pos, new: _splice((PARENTS_HEADER + PARENTS_ROW * 3).encode(), pos, new),
              st.integers(0, 600), st.binary(min_size=1, max_size=4)),
)


def _splice(data: bytes, pos: int, new: bytes) -> bytes:
    pos %= len(data)
    return data[:pos] + new + data[pos + len(new):]


@settings(max_examples=int(120 * SCALE), **SETTINGS)
@given(content=bytes_like_csv)
def test_arbitrary_bytes_as_parents_csv(tmp_path, content):
    folder = _fresh(tmp_path)
    (folder / "las.csv").write_text(LAS_CSV, encoding="utf-8")
    (folder / "parents.csv").write_bytes(content)
    data = _load(folder)
    _outcome(data)
    if data is not None:
        _check_schema(data)


# ------------------------------------------------------------------------------------
# (b) arbitrary CSV tables for parents, attendance and responses
# ------------------------------------------------------------------------------------
IDS = ["P1", "P2", "P3", "P4"]
REGISTRY = instruments.default_registry()
ITEMS = REGISTRY.item_table()
dates = st.dates(min_value=pd.Timestamp("2022-06-01").date(),
                 max_value=pd.Timestamp("2024-03-01").date())
DATE_STYLES = {
    "iso": lambda d: d.isoformat(),
    "uk": lambda d: d.strftime("%d/%m/%Y"),
    "iso_time": lambda d: d.isoformat() + " 00:00:00",
    "serial": lambda d: str((pd.Timestamp(d) - pd.Timestamp("1899-12-30")).days),
    "two_digit_year": lambda d: d.strftime("%d/%m/%y"),  # not accepted
    "us": lambda d: d.strftime("%m/%d/%Y"),  # read as UK: wrong or invalid
}
date_text = st.one_of(
    st.builds(lambda d, style: DATE_STYLES[style](d), dates, st.sampled_from(list(DATE_STYLES))),
    st.sampled_from(["2023-02-30", "2023-13-01", "31/04/2023", "0023-01-01", "9999-12-31",
                     "12345", "99999", "1900-01-01", "2023/01/05", "2023-01-05T10:00"]),
)
junk = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "NA", "N/A", ".", "null", "#N/A", "-", "?", "nan", "inf",
                     "-1", "0", "1e400", "1.5", "3.0", "99999999999999999999", "yes", "No",
                     "TRUE", "=1+1", "\u00a0", "P1 ", " LA001", "P1", "LA001", "phq9"]),
    st.integers(-5, 100).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def _valid(table: str, col: str) -> st.SearchStrategy[str]:
    """A value that is valid for the column on its own (it may break a row rule)."""
    spec = SCHEMA[table]["columns"][col]
    kind = spec["type"]
    if col == "parent_id":
        return st.sampled_from(IDS)
    if col == "family_id":
        return st.sampled_from(["F1", "F2"])
    if col == "la_code":
        return st.sampled_from(["LA001", "LA002", "LA009"])
    if col == "item":
        return st.sampled_from(list(ITEMS["item"]) + ["phq9_10", "gad7_01"])
    if kind == "code":
        book = BOOKS.get(spec["codebook"])
        codes = book.codes if book else REGISTRY.available()
        labels = list(book.labels().values()) if book else []
        return st.one_of(st.sampled_from(codes), st.sampled_from(codes).map(str.upper),
                         *([st.sampled_from(labels)] if labels else []))
    if kind == "integer":
        return st.integers(spec.get("min", -3) - 2, spec.get("max", 20) + 2).map(str)
    if kind == "number":
        return st.one_of(st.integers(-1, 5).map(str), st.sampled_from(["1.5", "2.0", "3"]))
    if kind == "date":
        return date_text
    if kind == "boolean":
        return st.sampled_from(["yes", "no", "Yes", "N", "1", "0", "true", "FALSE"])
    return st.text(min_size=1, max_size=8)


def _cell(table: str, col: str | None) -> st.SearchStrategy[str]:
    """Any cell: valid, blank, a missing-value marker or junk."""
    if col is None:  # a junk column
        return junk
    blank = st.sampled_from(["", "", " ", *MISSING_MARKERS])
    return st.one_of(_valid(table, col), blank, junk)


@st.composite
def coherent_row(draw, table: str, style: str) -> dict[str, str]:
    """A row that passes every check (if its references exist and dates are past)."""
    def date(d) -> str:
        return DATE_STYLES[draw(st.sampled_from(["iso", "uk", "serial"])) if style == "mixed"
                           else style](d)

    days = st.integers(0, 60).map(lambda n: pd.Timedelta(days=n))
    if table == "parents":
        referral = pd.Timestamp(draw(dates))
        reason = draw(st.sampled_from(BOOKS["exit_reasons"].codes))
        start = None if reason == "not_started" else referral + draw(days)
        end = start + draw(days) if reason in ("completed", "dropped_out") else None
        row = {"parent_id": draw(st.sampled_from(IDS)),
               "family_id": draw(st.sampled_from(["F1", "F2"])),
               "la_code": draw(st.sampled_from(["LA001", "LA002"])),
               "intervention": draw(st.sampled_from(BOOKS["interventions"].codes)),
               "delivery_mode": draw(st.sampled_from(BOOKS["delivery_modes"].codes)),
               "relationship_status": draw(st.sampled_from(BOOKS["relationship_status"].codes)),
               "referral_date": date(referral),
               "start_date": "" if start is None else date(start),
               "exit_date": "" if end is None else date(end),
               "exit_reason": reason}
    elif table == "attendance":
        row = {"parent_id": draw(st.sampled_from(IDS)),
               "session_number": str(draw(st.integers(1, 8))),
               "session_date": date(pd.Timestamp(draw(dates))),
               "attended": draw(st.sampled_from(["yes", "no"]))}
    else:
        item = ITEMS.iloc[draw(st.integers(0, len(ITEMS) - 1))]
        value = draw(st.one_of(st.integers(int(item["min"]), int(item["max"])).map(str),
                               st.just("")))
        row = {"parent_id": draw(st.sampled_from(IDS)),
               "respondent": draw(st.sampled_from(BOOKS["respondents"].codes)),
               "instrument": item["instrument"], "item": item["item"],
               "wave": draw(st.sampled_from(BOOKS["waves"].codes)),
               "value": value, "completed_date": date(pd.Timestamp(draw(dates)))}
    for col in SCHEMA[table]["columns"]:  # optional columns
        if col not in row:
            row[col] = draw(st.one_of(st.just(""), _valid(table, col)))
    return row


def _name_variant(col: str) -> st.SearchStrategy[str]:
    """Ways of writing a column name that intake still recognises."""
    return st.sampled_from([col, col, col, col.upper(), col.replace("_", " ").title(),
                            f" {col} ", col.replace("_", "-")])


@st.composite
def table_rows(draw, table: str) -> list[list[str]]:
    """Header and rows of a table: mostly coherent rows with a few corrupted cells, random
    column order and spelling, junk columns, copies, blank and ragged rows."""
    cols = SCHEMA[table]["columns"]
    required = [c for c, s in cols.items() if s["required"]]
    optional = [c for c, s in cols.items() if not s["required"]]
    chosen: list[str | None] = list(required)
    chosen += draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []
    chosen += [None] * draw(st.sampled_from([0, 0, 1, 2]))  # junk columns
    chosen = draw(st.permutations(chosen))
    header = [draw(_name_variant(c)) if c else draw(st.sampled_from(["notes", "x", "", "Comments"]))
              for c in chosen]
    if draw(st.integers(0, 9)) == 0:  # now and then, lose or misspell a column
        i = draw(st.integers(0, len(header) - 1))
        header[i] = draw(st.sampled_from(["", header[i] + "x", header[i][:-1], header[i] * 2]))
    style = draw(st.sampled_from(["iso", "iso", "uk", "serial", "mixed", "iso_time"]))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = draw(coherent_row(table, style))
        cells = [row[c] if c else draw(junk) for c in chosen]
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):  # corrupt a few cells
            i = draw(st.integers(0, len(chosen) - 1))
            cells[i] = draw(_cell(table, chosen[i]))
        rows.append(cells)
    if rows and draw(st.booleans()):  # an exact copy
        rows.append(list(draw(st.sampled_from(rows))))
    if rows and draw(st.integers(0, 3)) == 0:  # blank rows, in the middle or at the end
        at = draw(st.integers(0, len(rows)))
        rows[at:at] = [[""] * len(chosen)] * draw(st.integers(1, 2))
    if rows and draw(st.integers(0, 4)) == 0:  # a ragged row
        i = draw(st.integers(0, len(rows) - 1))
        rows[i] = rows[i] + [draw(junk)]
    return [header, *rows]


LAS_ROWS = [line.split(",") for line in LAS_CSV.splitlines()]


@st.composite
def table_sets(draw) -> dict[str, list[list[str]]]:
    """las (valid), parents, and maybe attendance and responses: table -> rows."""
    tables = {"las": LAS_ROWS}
    for table in ("parents", "attendance", "responses"):
        if table == "parents" or draw(st.booleans()):
            tables[table] = draw(table_rows(table))
    return tables


@st.composite
def dataset(draw) -> dict[str, bytes]:
    """CSV files (table -> bytes) in assorted encodings."""
    files = {}
    for table, rows in draw(table_sets()).items():
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        enc = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252"]))
        files[table] = out.getvalue().encode(enc, errors="replace")
    return files


@settings(max_examples=int(100 * SCALE), **SETTINGS)
@given(files=dataset())
def test_arbitrary_csv_tables(tmp_path, files):
    folder = _fresh(tmp_path)
    for table, content in files.items():
        (folder / f"{table}.csv").write_bytes(content)
    data = _load(folder)
    _outcome(data)
    if data is not None:
        _check_schema(data)


def test_fuzz_strategy_produces_kept_rows(tmp_path):
    """Guard against a strategy that only ever produces unusable data."""
    folder = _fresh(tmp_path)
    (folder / "las.csv").write_text(LAS_CSV, encoding="utf-8")
    (folder / "parents.csv").write_text(PARENTS_HEADER + PARENTS_ROW, encoding="utf-8")
    data = _load(folder)
    assert data is not None and len(data.parents) == 1
    _check_schema(data)


# ------------------------------------------------------------------------------------
# (c) arbitrary bytes as an .xlsx workbook
# ------------------------------------------------------------------------------------
def _valid_workbook() -> bytes:
    folder = Path(tempfile.mkdtemp(prefix="rpc_wb_"))
    (folder / "las.csv").write_text(LAS_CSV, encoding="utf-8")
    (folder / "parents.csv").write_text(PARENTS_HEADER + PARENTS_ROW, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = rd.load(folder, today=TODAY)
    [path] = rd.write(data, folder / "out", format="xlsx")
    return path.read_bytes()


VALID_XLSX = _valid_workbook()


def _zip_with(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _replace_member(name_index: int, content: bytes) -> bytes:
    """The valid workbook with one of its XML parts replaced by ``content``."""
    with zipfile.ZipFile(io.BytesIO(VALID_XLSX)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    name = sorted(members)[name_index % len(members)]
    members[name] = content
    return _zip_with(members)


xlsx_bytes = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda pos, new: _splice(VALID_XLSX, pos, new),
              st.integers(0, len(VALID_XLSX)), st.binary(min_size=1, max_size=8)),
    st.builds(lambda n: VALID_XLSX[:n], st.integers(0, len(VALID_XLSX))),
    st.builds(_replace_member, st.integers(0, 50),
              st.one_of(st.binary(max_size=100),
                        st.text(max_size=100).map(lambda t: f"<?xml version='1.0'?><a>{t}</a>"
                                                  .encode("utf-8", "replace")))),
    st.builds(lambda m: _zip_with({f"x{i}.xml": c for i, c in enumerate(m)}),
              st.lists(st.binary(max_size=50), max_size=3)),
)


@settings(max_examples=int(100 * SCALE), **SETTINGS)
@given(content=xlsx_bytes)
def test_arbitrary_bytes_as_xlsx(tmp_path, content):
    folder = _fresh(tmp_path)
    path = folder / "dataset.xlsx"
    path.write_bytes(content)
    data = _load(path)
    _outcome(data)
    if data is not None:
        _check_schema(data)


def _typed(text: str, how: int) -> object:
    """A cell as Excel might hold it: text, or a number, date or true/false typed in."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)  # control characters Excel cannot hold
    if how == 0:
        return text
    try:
        if how == 1:
            number = float(text)
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
        if how == 2:
            return pd.Timestamp(text).to_pydatetime()
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return text
    return {"yes": True, "no": False}.get(text.lower(), text)


@st.composite
def workbook(draw) -> bytes:
    """A workbook of las, parents and maybe attendance/responses with typed cells."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for table, rows in draw(table_sets()).items():
        title = draw(st.sampled_from([table, table, table.title(), table.upper()]))
        if title in wb.sheetnames:
            continue
        ws = wb.create_sheet(title[:31])
        for i, row in enumerate(rows):
            if i == 0:
                ws.append([ILLEGAL_CHARACTERS_RE.sub("", c) for c in row])
            else:
                ws.append([_typed(c, draw(st.sampled_from([0, 0, 1, 2, 3]))) if c.strip() else None
                           for c in row])
    if draw(st.booleans()):
        wb.create_sheet("Notes").append(["free text", 1, None])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@settings(max_examples=int(40 * SCALE), **SETTINGS)
@given(content=workbook())
def test_arbitrary_workbook_tables(tmp_path, content):
    path = _fresh(tmp_path) / "dataset.xlsx"
    path.write_bytes(content)
    data = _load(path)
    _outcome(data)
    if data is not None:
        _check_schema(data)


def test_valid_workbook_loads():
    folder = Path(tempfile.mkdtemp(prefix="rpc_wb_"))
    (folder / "dataset.xlsx").write_bytes(VALID_XLSX)
    data = _load(folder / "dataset.xlsx")
    assert data is not None and len(data.parents) == 1


@pytest.mark.parametrize("junk_bytes", [b"", b"PK\x05\x06" + b"\x00" * 18])
def test_empty_and_empty_zip_xlsx(tmp_path, junk_bytes):
    path = tmp_path / "dataset.xlsx"
    path.write_bytes(junk_bytes)
    with pytest.raises(DataValidationError):
        rd.load(path, today=TODAY)
