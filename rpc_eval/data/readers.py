"""Read the files of a dataset into raw text tables, keeping spreadsheet row numbers.

Readers do no validation beyond what is needed to read: every cell comes back as
text (``""`` for an empty cell), with the row number a user would see in their
spreadsheet (header = row 1; for SPSS files, the case number). Problems found while
reading (unreadable file, wrong encoding, ragged rows) are returned as
:class:`~rpc_eval.errors.Problem` records, never raised as other exceptions.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rpc_eval.errors import Problem

__all__ = ["RawTable", "locate_tables", "read_table_file", "read_workbook"]

TABLE_EXTENSIONS = (".csv", ".sav")
#: Files that look like data but are not read from a folder (reported as info).
OTHER_DATA_EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods", ".txt", ".tsv", ".dta", ".por")
#: Sheets of the data-collection template (rpc_eval.data.template) that hold help and
#: code lists, not data: reported as info without a "rename the sheet" suggestion.
TEMPLATE_SHEETS = ("instructions", "lists")


@dataclass
class RawTable:
    """A table as read: text cells, the file it came from and each row's spreadsheet number."""

    table: str
    file: str
    frame: pd.DataFrame
    rows: np.ndarray
    problems: list[Problem] = field(default_factory=list)
    usable: bool = True
    #: row number of the column names (None for SPSS files, whose rows are cases)
    header_row: int | None = 1


def _fatal(table: str, file: str, problem: str, hint: str) -> Problem:
    return Problem(table, file, None, None, None, problem, hint, "error")


def _unusable(table: str, file: str, problem: str, hint: str) -> RawTable:
    return RawTable(table, file, pd.DataFrame(), np.array([], dtype=int),
                    [_fatal(table, file, problem, hint)], usable=False)


def locate_tables(folder: Path, tables: list[str]) -> tuple[dict[str, Path], list[Problem]]:
    """Map table names to the files in ``folder`` that hold them.

    A table ``parents`` is read from ``parents.csv`` or ``parents.sav`` (file names are
    matched case-insensitively). Files that match no table are reported (``info``)
    with the closest table name, so a misspelled file name is easy to spot.
    """
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    files = sorted(p for p in folder.iterdir() if p.is_file())
    candidates = [p for p in files if p.suffix.lower() in TABLE_EXTENSIONS]
    for path in files:
        if path.suffix.lower() in OTHER_DATA_EXTENSIONS and not path.name.startswith("~$"):
            problems.append(Problem(
                "", path.name, None, None, None,
                f"{path.suffix} files in a folder are not read (only .csv and .sav files are)",
                "save each table as CSV, or give the path of an .xlsx workbook itself "
                "(one sheet per table)", "info"))
    by_table: dict[str, list[Path]] = {}
    for path in candidates:
        stem = path.stem.strip().lower().replace(" ", "_").replace("-", "_")
        if stem in tables:
            by_table.setdefault(stem, []).append(path)
        else:
            close = difflib.get_close_matches(stem, tables, n=1, cutoff=0.6)
            hint = (f"rename it to {close[0]}{path.suffix.lower()} if it holds the {close[0]} table"
                    if close else "tables are " + ", ".join(tables))
            problems.append(Problem("", path.name, None, None, None,
                                    "file is not a table of the data model and was not read",
                                    hint, "info"))
    for table, paths in by_table.items():
        if len(paths) > 1:
            problems.append(_fatal(table, ", ".join(p.name for p in paths),
                                   f"more than one file holds the {table} table",
                                   "keep exactly one file per table"))
        else:
            found[table] = paths[0]
    return found, problems


def _decode(data: bytes, table: str, file: str) -> tuple[str, list[Problem]]:
    """Text of a CSV file: UTF-8 (with or without Excel's byte-order mark), else
    Windows-1252, the encoding of Excel's plain 'CSV' export (with a warning)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's 'Unicode Text' is UTF-16
        try:
            return data.decode("utf-16"), [Problem(
                table, file, None, None, None, "file is UTF-16 text; read that way", "", "info")]
        except UnicodeDecodeError:
            pass
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if _is_utf8(data):
        return data.decode("utf-8"), []
    try:
        text = data.decode("cp1252")
        enc = "Windows-1252 (Excel's default 'CSV' encoding)"
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        enc = "Latin-1"
    return text, [Problem(
        table, file, None, None, None,
        f"file is not UTF-8; it was read as {enc}, so check accented letters and symbols",
        "in Excel use 'Save as' > 'CSV UTF-8 (Comma delimited)'", "warning")]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _finish(table: str, file: str, header: list[str], body: pd.DataFrame | list[list[str]],
            first_row: int, problems: list[Problem]) -> RawTable:
    """Attach names and row numbers, trim trailing blank rows, flag duplicate headers."""
    names = [str(h).strip() for h in header]
    if not any(names):
        return _unusable(table, file, "the file has no header row",
                         "put the column names in the first row")
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        problems.append(_fatal(table, file, f"column name(s) {dupes} appear more than once",
                               "give every column a different name"))
        return RawTable(table, file, pd.DataFrame(), np.array([], dtype=int), problems, False)
    if isinstance(body, list):
        frame = pd.DataFrame(body, columns=range(len(names)), dtype=object)
    else:
        frame = body
    frame.columns = [n if n else f"(unnamed column {i + 1})" for i, n in enumerate(names)]
    frame = frame.fillna("").astype(str)
    rows = np.arange(first_row, first_row + len(frame))
    return RawTable(table, file, frame.reset_index(drop=True), rows, problems)


def _delimiter(text: str) -> str:
    """The separator of the header line: comma unless semicolons (Excel in many European
    locales) or tabs (Excel's 'Text (Tab delimited)' / 'Unicode Text') are commoner."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _read_csv_text(text: str, table: str, file: str, problems: list[Problem]) -> RawTable:
    if not text.strip():
        return _unusable(table, file, "the file is empty",
                         f"export the {table} table with its header row and data")
    if "\x00" in text:
        return _unusable(table, file, "the file contains binary data (NUL bytes), not text",
                         "save the table as CSV (comma-separated values) text")
    try:
        delimiter = _delimiter(text)
        if delimiter != ",":
            name = {";": "semicolons", "\t": "tabs"}[delimiter]
            problems.append(Problem(table, file, None, None, None,
                                    f"values are separated by {name}; read that way", "",
                                    "info"))
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                na_values=[], skip_blank_lines=False, sep=delimiter,
                                header=None, engine="c")
            header = frame.iloc[0].tolist()
            return _finish(table, file, header, frame.iloc[1:], 2, problems)
        except (pd.errors.ParserError, ValueError, IndexError):
            pass  # ragged rows or odd quoting: read record by record to say where
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        return _unusable(table, file, f"the file cannot be read as CSV ({exc})",
                         "save the table as CSV (comma-separated values) from your spreadsheet")
    if not records:
        return _unusable(table, file, "the file is empty",
                         f"export the {table} table with its header row and data")
    header, width = records[0], len(records[0])
    body: list[list[str]] = []
    for i, rec in enumerate(records[1:], start=2):
        if len(rec) > width and any(c.strip() for c in rec[width:]):
            problems.append(Problem(table, file, i, f"(unnamed column {width + 1})", None,
                                    f"row has {len(rec)} values but the header has {width} "
                                    "columns; the extra values were not read",
                                    "check for a stray comma or a missing column name",
                                    "error"))
        body.append((rec + [""] * width)[:width])
    return _finish(table, file, header, body, 2, problems)


def _cell_text(value: object) -> str:
    """Text of a typed spreadsheet cell, as the user would read it."""
    if value is None or value is pd.NaT:  # an SPSS date variable's missing value
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value)


def read_table_file(path: Path, table: str) -> RawTable:
    """Read one table from a ``.csv`` or ``.sav`` file."""
    file = path.name
    if path.suffix.lower() == ".sav":
        return _read_sav(path, table)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _unusable(table, file, f"the file cannot be opened ({exc.strerror})",
                         "check the file exists and is not open in another program")
    problems: list[Problem] = []
    text, enc_problems = _decode(data, table, file)
    problems.extend(enc_problems)
    return _read_csv_text(text, table, file, problems)


def _read_sav(path: Path, table: str) -> RawTable:
    file = path.name
    try:
        import pyreadstat

        frame, meta = pyreadstat.read_sav(str(path), apply_value_formats=True,
                                          formats_as_category=False)
    except Exception as exc:  # pyreadstat raises its own and OS errors
        return _unusable(table, file, f"the file cannot be read as an SPSS .sav file ({exc})",
                         "save it again from SPSS, or export the table as CSV")
    body = frame.astype(object).map(_cell_text)
    raw = _finish(table, file, list(frame.columns), body, 1, [])
    raw.header_row = None
    return raw


def _sheet_key(title: str) -> str:
    return title.strip().lower().replace(" ", "_").replace("-", "_")


def _workbook_values(path: Path, tables: list[str]) -> list[tuple[str, list[list[str]] | None]]:
    """(sheet title, rows of cell text) for each worksheet; cells only for sheets named
    after a table. Raises whatever openpyxl raises for a damaged file."""
    import openpyxl

    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it ignores; they do not affect values
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            return [(sheet.title,
                     [[_cell_text(v) for v in r] for r in sheet.iter_rows(values_only=True)]
                     if _sheet_key(sheet.title) in tables else None)
                    for sheet in wb.worksheets]
        finally:
            wb.close()


def read_workbook(path: Path, tables: list[str]) -> tuple[dict[str, RawTable], list[Problem]]:
    """Read an ``.xlsx`` workbook with one sheet per table (sheet names match table names)."""
    file = path.name
    try:
        sheets = _workbook_values(path, tables)
    except Exception as exc:  # a damaged file fails in many ways (zip, zlib, XML ...)
        return {}, [_fatal("", file, "the file cannot be read as an Excel workbook "
                           f"({type(exc).__name__}: {exc})",
                           "open it in Excel and save it again as an Excel Workbook (.xlsx)")]
    out: dict[str, RawTable] = {}
    problems: list[Problem] = []
    titles: dict[str, list[str]] = {}
    for title, rows in sheets:
        key = _sheet_key(title)
        label = f"{file} [sheet {title}]"
        if rows is None and key in TEMPLATE_SHEETS:
            problems.append(Problem("", label, None, None, None,
                                    "sheet of the data-collection template (help or code "
                                    "lists); not read as data", "", "info"))
            continue
        if rows is None:
            close = difflib.get_close_matches(key, tables, n=1, cutoff=0.6)
            hint = (f"rename the sheet to {close[0]} if it holds that table" if close
                    else "sheets are read only when named after a table: " + ", ".join(tables))
            problems.append(Problem("", label, None, None, None,
                                    "sheet is not a table of the data model and was not read",
                                    hint, "info"))
            continue
        titles.setdefault(key, []).append(title)
        values = rows
        if not values or not any(c.strip() for c in values[0]):
            out[key] = _unusable(key, label, "the sheet is empty or has no header in row 1",
                                 "put the column names in row 1 and the data below")
            continue
        width = max(len(values[0]), 1)
        body = [(r + [""] * width)[:width] for r in values[1:]]
        extra = [i for i, r in enumerate(values[1:], start=2)
                 if len(r) > width and any(c.strip() for c in r[width:])]
        raw = _finish(key, label, values[0], body, 2, [])
        for i in extra:
            raw.problems.append(Problem(key, label, i, f"(unnamed column {width + 1})", None,
                                        "row has values beyond the last named column; "
                                        "they were not read",
                                        "give the column a name in row 1 or delete the values",
                                        "error"))
        out[key] = raw
    for key, names in titles.items():
        if len(names) > 1:
            out[key] = _unusable(key, f"{file} [sheets {', '.join(names)}]",
                                 f"more than one sheet holds the {key} table",
                                 "keep exactly one sheet per table")
    return out, problems
