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
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rpc_eval.data.xlsx import (
    CellFlag,
    SheetCells,
    SheetInfo,
    Workbook,
    XlsxError,
    column_letter,
    merged_cells,
    sheet_has_data,
)
from rpc_eval.errors import Problem

__all__ = ["RawTable", "locate_tables", "read_table_file", "read_workbook"]

TABLE_EXTENSIONS = (".csv", ".sav")
#: Files with more columns than this are read as one block of text cells (the cost of
#: a column is then only the cost of its cells).
WIDE = 200
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
    #: False when no cell can hold a line break (a CSV file with one record per line),
    #: so the search for values spanning lines can be skipped
    may_span_lines: bool = True


def _fatal(table: str, file: str, problem: str, hint: str) -> Problem:
    return Problem(table, file, None, None, None, problem, hint, "error")


def _unusable(table: str, file: str, problem: str, hint: str) -> RawTable:
    return RawTable(table, file, pd.DataFrame(), np.array([], dtype=int),
                    [_fatal(table, file, problem, hint)], usable=False)


def locate_tables(folder: Path, tables: list[str]) -> tuple[dict[str, Path], list[Problem]]:
    """Map table names to the files in ``folder`` that hold them.

    A table ``parents`` is read from ``parents.csv`` or ``parents.sav`` (file names are
    matched case-insensitively). Files that match no table are reported with the closest
    table name, so a misspelled file name is easy to spot: a warning when the file holds
    something (it was not read), ``info`` when it is empty.
    """
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    files = sorted(p for p in folder.iterdir() if p.is_file())
    candidates = [p for p in files if p.suffix.lower() in TABLE_EXTENSIONS]

    def severity(path: Path) -> str:
        try:
            return "warning" if path.stat().st_size > 0 else "info"
        except OSError:
            return "info"
    for path in files:
        if path.suffix.lower() in OTHER_DATA_EXTENSIONS and not path.name.startswith("~$"):
            problems.append(Problem(
                "", path.name, None, None, None,
                f"{path.suffix} files in a folder are not read (only .csv and .sav files are)",
                "save each table as CSV, or give the path of an .xlsx workbook itself "
                "(one sheet per table)", severity(path)))
    by_table: dict[str, list[Path]] = {}
    for path in candidates:
        stem = path.stem.strip().lower().replace(" ", "_").replace("-", "_")
        if stem in tables:
            by_table.setdefault(stem, []).append(path)
        else:
            close = closest_table(path.stem, tables)
            hint = (f"rename it to {close}{path.suffix.lower()} if it holds the {close} table"
                    if close else "tables are " + ", ".join(tables))
            problems.append(Problem("", path.name, None, None, None,
                                    "file is not a table of the data model and was not read",
                                    hint, severity(path)))
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
    seen = Counter(names)
    dupes = sorted(n for n, k in seen.items() if n and k > 1)
    if dupes:
        problems.append(_fatal(table, file, f"column name(s) {dupes} appear more than once",
                               "give every column a different name"))
        return RawTable(table, file, pd.DataFrame(), np.array([], dtype=int), problems, False)
    columns = [n if n else f"(unnamed column {i + 1})" for i, n in enumerate(names)]
    if len(names) > WIDE:
        # one block of text cells: pandas string columns cost time per column
        values = (np.array(body, dtype=object).reshape(len(body), len(names))
                  if isinstance(body, list) else body.to_numpy(dtype=object))
        values[pd.isna(values)] = ""
        frame = pd.DataFrame(values, columns=columns, dtype=object)
    else:
        if isinstance(body, list):
            frame = pd.DataFrame(body, columns=range(len(names)), dtype=object)
        else:
            frame = body
        frame.columns = columns
        if not all(isinstance(t, pd.CategoricalDtype) for t in frame.dtypes):
            frame = frame.fillna("").astype(str)
    rows = np.arange(first_row, first_row + len(frame))
    return RawTable(table, file, frame.reset_index(drop=True), rows, problems)


def _first_line(text: str) -> str:
    """The first line of ``text`` that is not blank ("" if none), found in the first
    kilobytes when it is there (splitting a file of hundreds of megabytes into lines
    only to look at its header costs seconds)."""
    head = text[:65536]
    lines = head.splitlines()
    complete = lines if len(head) == len(text) else lines[:-1]
    found = next((line for line in complete if line.strip()), None)
    if found is not None:
        return found
    return next((line for line in text.splitlines() if line.strip()), "")


def _delimiter(text: str) -> str:
    """The separator of the header line: comma unless semicolons (Excel in many European
    locales) or tabs (Excel's 'Text (Tab delimited)' / 'Unicode Text') are commoner."""
    header = _first_line(text)
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _read_plain_csv(text: str, delimiter: str, utf8: bytes | None = None
                    ) -> pd.DataFrame | None:
    """A CSV text without quote marks, carriage returns alone or blank lines, read by
    Arrow's CSV reader (several times faster than pandas on a national table) into the
    frame pandas would give: every cell as text, columns numbered from 0. Any other
    text, or one Arrow cannot read as a rectangle (ragged rows), gives None: pandas and
    then the record-by-record reader read it and say what is wrong. ``utf8``: the
    file's bytes when they are ``text`` encoded as UTF-8 (saves a copy of the file)."""
    if ('"' in text or text.count("\r") > text.count("\r\n") or "\n\n" in text
            or "\n\r\n" in text or text.startswith(("\n", "\r"))):
        return None
    width = text[:text.find("\n")].count(delimiter) + 1
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            pa.py_buffer(utf8 if utf8 is not None else text.encode("utf-8")),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False,
                                             double_quote=False, escape_char=False,
                                             newlines_in_values=False,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                null_values=[], strings_can_be_null=False,
                quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not all(pa.types.is_string(t) or pa.types.is_large_string(t)
               for t in table.schema.types):
        return None
    frame = table.to_pandas()
    frame.columns = range(len(frame.columns))
    return frame.astype(str)


def _read_csv_text(text: str, table: str, file: str, problems: list[Problem],
                   utf8: bytes | None = None) -> RawTable:
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
        first_line = _first_line(text)
        try:
            if first_line.count(delimiter) >= WIDE:
                raise ValueError("wide file: read record by record")
            frame = _read_plain_csv(text, delimiter, utf8)
            if frame is None:
                frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                    na_values=[], skip_blank_lines=False, sep=delimiter,
                                    header=None, engine="c")
            top = frame.iloc[:HEAD_ROWS_SCANNED + 1].fillna("").to_numpy().tolist()
            h = header_index(top, table)
            title = _title_problem(table, file, [(i + 1, r) for i, r in enumerate(top[:h])],
                                   h + 1)
            if title is not None:
                problems.append(title)
            raw = _finish(table, file, frame.iloc[h].fillna("").tolist(), frame.iloc[h + 1:],
                          h + 2, problems)
            raw.header_row = h + 1
            # as many line breaks as records: no record spans lines
            # (a lone carriage return is a "\r" that does not start a "\r\n")
            raw.may_span_lines = (text.count("\r") > text.count("\r\n")
                                  or text.count("\n") > len(frame))
            return raw
        except (pd.errors.ParserError, ValueError, IndexError):
            pass  # ragged rows or odd quoting: read record by record to say where
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        return _unusable(table, file, f"the file cannot be read as CSV ({exc})",
                         "save the table as CSV (comma-separated values) from your spreadsheet")
    if not records:
        return _unusable(table, file, "the file is empty",
                         f"export the {table} table with its header row and data")
    h = header_index(records[:HEAD_ROWS_SCANNED + 1], table)
    title = _title_problem(table, file, [(i + 1, r) for i, r in enumerate(records[:h])], h + 1)
    if title is not None:
        problems.append(title)
    header, width = records[h], len(records[h])
    body: list[list[str]] = []
    for i, rec in enumerate(records[h + 1:], start=h + 2):
        if len(rec) > width and any(c.strip() for c in rec[width:]):
            problems.append(Problem(table, file, i, f"(unnamed column {width + 1})", None,
                                    f"row has {len(rec)} values but the header has {width} "
                                    "columns; the extra values were not read",
                                    "check for a stray comma or a missing column name",
                                    "error"))
        body.append((rec + [""] * width)[:width])
    raw = _finish(table, file, header, body, h + 2, problems)
    raw.header_row = h + 1
    return raw


def _cell_text(value: object) -> str:
    """Text of a typed spreadsheet cell, as the user would read it."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating) and math.isnan(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        if pd.isna(value):
            return ""
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


def read_table_file(path: Path, table: str, encoded: bool = False) -> RawTable:
    """Read one table from a ``.csv`` or ``.sav`` file.

    ``encoded``: a plain CSV file (see :mod:`rpc_eval.data.encoded_csv`) is read as
    Categorical text columns, categories in order of first appearance (each distinct
    text held once); other files are read as text columns whatever ``encoded`` is.
    """
    file = path.name
    if path.suffix.lower() == ".sav":
        return _read_sav(path, table)
    if encoded:
        from rpc_eval.data.encoded_csv import read_encoded_csv

        found = read_encoded_csv(path, _delimiter)
        if found is not None:
            return _encoded_table(found[0], found[1], table, file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _unusable(table, file, f"the file cannot be opened ({exc.strerror})",
                         "check the file exists and is not open in another program")
    problems: list[Problem] = []
    text, enc_problems = _decode(data, table, file)
    problems.extend(enc_problems)
    # the bytes are the text's UTF-8 when it was read as UTF-8 without a byte-order mark
    plain = not enc_problems and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    return _read_csv_text(text, table, file, problems, data if plain else None)


def _encoded_table(frame: pd.DataFrame, delimiter: str, table: str, file: str) -> RawTable:
    """A RawTable of Categorical text columns (the header line is row 0 of ``frame``):
    the header found and the title lines above it reported as for any CSV file."""
    problems: list[Problem] = []
    if delimiter != ",":
        name = {";": "semicolons", "\t": "tabs"}[delimiter]
        problems.append(Problem(table, file, None, None, None,
                                f"values are separated by {name}; read that way", "", "info"))
    top = frame.iloc[:HEAD_ROWS_SCANNED + 1].astype(object).to_numpy().tolist()
    h = header_index(top, table)
    title = _title_problem(table, file, [(i + 1, r) for i, r in enumerate(top[:h])], h + 1)
    if title is not None:
        problems.append(title)
    raw = _finish(table, file, top[h], frame.iloc[h + 1:], h + 2, problems)
    raw.header_row = h + 1
    raw.may_span_lines = False  # no quote marks: no cell holds a line break
    return raw


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


def _loose_key(title: str) -> str:
    """A sheet title without bracketed words and punctuation: 'Parents (current)' -> parents."""
    text = re.sub(r"[(\[{].*?[)\]}]", " ", title.lower())
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def closest_table(name: str, tables: list[str]) -> str | None:
    """The table a file or sheet name most likely means ('Training survey' ->
    training_responses), from the schema's synonyms, then shared words, then spelling."""
    from rpc_eval.data.model import schema

    key = _loose_key(name)
    spec = schema()
    for table in tables:
        names = [table] + [_loose_key(s) for s in spec.get(table, {}).get("synonyms", [])]
        if key in names:
            return table
    close = difflib.get_close_matches(key, tables, n=1, cutoff=0.6)
    if close:
        return close[0]
    words = set(key.split("_")) - {"", "data", "table", "sheet", "list", "the", "of"}
    shared = [t for t in tables if words & set(t.split("_"))]
    return shared[0] if len(shared) == 1 else None


#: Columns holding identifiers of people or families.
ID_COLUMN_NAMES = ("parent_id", "family_id", "practitioner_id")


def is_id_column(name: object) -> bool:
    """True when a column, as named in a file ('Parent ID', 'Client ID'), holds the
    identifiers of people or families (parent_id, family_id, practitioner_id)."""
    if not isinstance(name, str):
        return False
    return normalise_name(name) in _id_names()


def _id_names() -> set[str]:
    from rpc_eval.data.model import schema

    out = set(ID_COLUMN_NAMES)
    for spec in schema().values():
        for col, colspec in spec["columns"].items():
            if col in ID_COLUMN_NAMES:
                out.update(normalise_name(s) for s in colspec.get("synonyms", []))
    return out


def known_columns(table: str) -> set[str]:
    """Normalised names that are columns of ``table`` (names and synonyms)."""
    from rpc_eval.data.model import schema

    spec = schema().get(table)
    if spec is None:
        return set()
    out = set()
    for col, colspec in spec["columns"].items():
        out.add(col)
        out.update(normalise_name(s) for s in colspec.get("synonyms", []))
    return out


def normalise_name(name: str) -> str:
    """A column name as intake matches it: 'Date of referral' -> date_of_referral."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def header_index(rows: list[list[str]], table: str) -> int:
    """Index (in ``rows``, the first rows of a sheet) of the row holding the column names.

    The first non-empty row, unless a later row (within the first few) names more of the
    table's columns: a title or a note above the header is common in returns.
    """
    known = known_columns(table)
    first = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), 0)

    def hits(r: list[str]) -> int:
        return sum(normalise_name(c) in known for c in r if c.strip())
    best, best_hits = first, hits(rows[first]) if rows else 0
    for i in range(first + 1, min(len(rows), first + HEAD_ROWS_SCANNED)):
        h = hits(rows[i])
        if h >= 2 and h > best_hits:
            best, best_hits = i, h
    return best


#: Rows at the top of a file searched for the column names.
HEAD_ROWS_SCANNED = 10


def _title_problem(table: str, file: str, skipped: list[tuple[int, list[str]]],
                   header_row: int) -> Problem | None:
    filled = [(r, v) for r, v in skipped if any(c.strip() for c in v)]
    if not filled:
        return None
    first = next(c for c in filled[0][1] if c.strip())
    rows = ", ".join(str(r) for r, _ in filled[:5])
    return Problem(table, file, None, None, first[:80],
                   f"the column names are on row {header_row}; the row(s) above them "
                   f"({rows}) were read as a title and not as data",
                   "delete the rows above the column names so they are on row 1", "warning")


def _cell_problem(table: str, label: str, flag: CellFlag, column: str, row: int) -> Problem:
    if flag.kind == "error":
        return Problem(table, label, row, column, flag.detail,
                       f"the cell holds the Excel error value {flag.detail or '(error)'}, "
                       "not data", "correct the formula that gave the error, or type the value "
                       "(leave the cell empty if it is not known)", "error")
    if flag.kind == "formula":
        return Problem(table, label, row, column, None,
                       "the cell holds a formula with no saved result, so its value "
                       "is not known (the file was saved by a program that does not "
                       "calculate formulas)",
                       "open the file in Excel, let it calculate and save it again, or paste "
                       "the values over the formulas", "error")
    return Problem(table, label, row, column, None,
                   f"cell {column_letter(flag.col)}{row} is part of the merged cells "
                   f"{flag.ref}; only the first of them holds the value, so this one reads "
                   "as blank",
                   "unmerge the cells and type the value on every row", "error")


def _sheet_table(cells: SheetCells, key: str, label: str) -> RawTable:
    """Raw table of a sheet's cells: header found (a title above it reported), cells
    beyond the last named column and hidden content (merged, formula, error) reported."""
    head_rows = [r for r, _ in cells.head]
    if not cells.head:
        return _unusable(key, label, "the sheet is empty or has no header in row 1",
                         "put the column names in row 1 and the data below")
    # rows without cells between the stored ones are blank rows of the sheet
    dense: list[tuple[int, list[str]]] = []
    prev = 0
    for r, v in cells.head + cells.body:
        for gap in range(prev + 1, r):
            dense.append((gap, []))
        dense.append((r, v))
        prev = r
    top = [v for _, v in dense[:HEAD_ROWS_SCANNED + 1]]
    h = header_index(top, key)
    header_row, header = dense[h]
    problems: list[Problem] = []
    title = _title_problem(key, label, dense[:h], header_row)
    if title is not None:
        problems.append(title)
    header = [c for c in header]
    while header and not header[-1].strip():
        header.pop()
    width = max(len(header), 1)
    body_rows = dense[h + 1:]
    body = [(v + [""] * width)[:width] for _, v in body_rows]
    head_set = set(head_rows)
    extra = set()
    for r, v in body_rows:
        if r in head_set and len(v) > width and any(c.strip() for c in v[width:]):
            extra.add(r)
    extra.update(r for r in cells.beyond if r > header_row)
    raw = _finish(key, label, header, body, header_row + 1, problems)
    raw.header_row = header_row
    if not raw.usable:
        return raw
    names = list(raw.frame.columns)
    for r in sorted(extra):
        raw.problems.append(Problem(key, label, r, f"(unnamed column {width + 1})", None,
                                    "row has values beyond the last named column; "
                                    "they were not read",
                                    "give the column a name in the header row or delete "
                                    "the values", "error"))
    for flag in cells.flags:
        if flag.kind == "merged":
            for r, c in merged_cells(flag):
                if r <= header_row or c >= width:
                    continue
                raw.problems.append(_cell_problem(key, label, flag, names[c], r))
        elif flag.row > header_row and flag.col < width:
            raw.problems.append(_cell_problem(key, label, flag, names[flag.col], flag.row))
        elif flag.row == header_row and flag.col < width:
            raw.problems.append(_fatal(key, label, f"the column name in cell {flag.ref} is a "
                                       "formula or an error value, not text",
                                       "type the column name"))
            raw.usable = False
    for f in cells.flags:
        if f.kind == "merged" and f.row <= header_row <= int(f.detail.split(":")[0]):
            raw.problems.append(Problem(key, label, header_row, None, None,
                                        f"cells {f.ref} of the header row are merged; each "
                                        "column needs its own name",
                                        "unmerge the header cells and name every column",
                                        "warning"))
            break
    return raw


def read_workbook(path: Path, tables: list[str]) -> tuple[dict[str, RawTable], list[Problem]]:
    """Read an ``.xlsx`` workbook with one sheet per table.

    A sheet is a table when its name is the table's (``parents``; capitals, spaces and
    hyphens aside) or is it with bracketed words or punctuation around it
    (``Parents (current)``, reported). When a hidden and a visible sheet could both be a
    table, the visible one is read and both are named in a warning; a hidden sheet that
    is read is a warning too. Sheets that hold data but are not read are warnings with
    the closest table. Every cell of each sheet read is read (the stored used range is
    not trusted); see :mod:`rpc_eval.data.xlsx` for what else is reported.
    """
    file = path.name
    try:
        book = Workbook(path)
    except XlsxError as exc:
        return {}, [_fatal("", file, f"the file cannot be read as an Excel workbook: {exc}",
                           "open it in Excel and save it again as an Excel Workbook (.xlsx)")]
    except Exception as exc:  # a damaged zip fails in many ways (zip, zlib, OS ...)
        return {}, [_fatal("", file, "the file cannot be read as an Excel workbook (it is "
                           f"damaged: {exc})",
                           "open it in Excel and save it again as an Excel Workbook (.xlsx)")]
    try:
        return _read_book(book, file, tables)
    except XlsxError as exc:
        return {}, [_fatal("", file, f"the workbook cannot be read: {exc}",
                           "open it in Excel, check the sheet and save it again; see the "
                           "limits in the data-model guide")]
    except Exception as exc:  # a damaged zip fails in many ways (zip, zlib, OS ...)
        return {}, [_fatal("", file, "the file cannot be read as an Excel workbook (it is "
                           f"damaged: {exc})",
                           "open it in Excel and save it again as an Excel Workbook (.xlsx)")]
    finally:
        book.close()


def _read_book(book: Workbook, file: str, tables: list[str]
               ) -> tuple[dict[str, RawTable], list[Problem]]:
    out: dict[str, RawTable] = {}
    problems: list[Problem] = []
    candidates: dict[str, list[tuple[SheetInfo, bool]]] = {}
    for sheet in book.sheets:
        key = _sheet_key(sheet.title)
        label = f"{file} [sheet {sheet.title}]"
        if key in tables:
            candidates.setdefault(key, []).append((sheet, True))
        elif _loose_key(sheet.title) in tables:
            candidates.setdefault(_loose_key(sheet.title), []).append((sheet, False))
        elif key in TEMPLATE_SHEETS:
            problems.append(Problem("", label, None, None, None,
                                    "sheet of the data-collection template (help or code "
                                    "lists); not read as data", "", "info"))
        elif sheet.part is not None and sheet_has_data(book, sheet):
            close = closest_table(sheet.title, tables)
            hidden = " hidden" if sheet.hidden else ""
            problems.append(Problem(
                "", label, None, None, None,
                f"{hidden.strip() + ' ' if hidden else ''}sheet '{sheet.title}' holds data but "
                "was not read" + (f": is it the {close} table?" if close else ""),
                (f"rename the sheet to {close} if it holds that table" if close else
                 "sheets are read only when named after a table: " + ", ".join(tables)),
                "warning"))
        else:
            problems.append(Problem("", label, None, None, None,
                                    "empty sheet; not read", "", "info"))
    for key, cands in candidates.items():
        # visible before hidden, exact names before loose ones
        ranked = sorted(cands, key=lambda c: (c[0].hidden, not c[1]))
        best = ranked[0]
        ties = [c for c in ranked if (c[0].hidden, not c[1]) == (best[0].hidden, not best[1])]
        if len(ties) > 1:
            names = ", ".join(c[0].title for c in ties)
            out[key] = _unusable(key, f"{file} [sheets {names}]",
                                 f"more than one sheet holds the {key} table",
                                 "keep exactly one sheet per table")
            continue
        sheet, exact = best
        label = f"{file} [sheet {sheet.title}]"
        for other, _ in ranked[1:]:
            why = ("it is hidden and '" + sheet.title + "' is visible" if other.hidden
                   and not sheet.hidden else f"'{sheet.title}' is named exactly {key}")
            problems.append(Problem(key, f"{file} [sheet {other.title}]", None, None, None,
                                    f"sheet '{other.title}' was not read as the {key} table "
                                    f"because {why}; sheet '{sheet.title}' was read",
                                    "delete the sheet that does not hold the current data",
                                    "warning"))
        raw = _sheet_table(book.read(sheet), key, label)
        if sheet.hidden:
            raw.problems.insert(0, Problem(key, label, None, None, None,
                                           f"sheet '{sheet.title}' is hidden; it was read as "
                                           f"the {key} table",
                                           "unhide it in Excel and check that it holds the "
                                           "current data", "warning"))
        if not exact:
            raw.problems.insert(0, Problem(key, label, None, None, None,
                                           f"sheet '{sheet.title}' was read as the {key} table",
                                           "", "info"))
        out[key] = raw
    return out, problems
