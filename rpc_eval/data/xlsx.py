"""Read the cells of an ``.xlsx`` workbook exactly as they are stored, by streaming its XML.

A workbook says things about itself that may be false: the ``<dimension>`` of each
sheet (the "used range") is often stale, and reading libraries that trust it lose
rows and columns or pad millions of empty cells. This reader ignores it and reads
every stored cell, in one pass over each sheet's XML, at a cost proportional to the
cells present. It also sees what a plain value reader hides:

- **merged cells** (only the first cell of a merged range holds the value);
- **formulas without a saved result** (a file written by a program that does not
  calculate, so the cell would read as blank);
- **Excel error values** (``#N/A``, ``#REF!`` ...), which are not data;
- **hidden sheets** (``state="hidden"`` or ``"veryHidden"``).

Limits (refused in words, never a crash or a runaway): a cell holds at most
:data:`MAX_CELL_CHARS` characters (Excel's own limit); the shared-strings part at most
:data:`MAX_SHARED_STRINGS_BYTES` bytes of XML; a workbook at most :data:`MAX_CELLS`
non-empty cells in the sheets read; rows and columns within Excel's grid.
"""

from __future__ import annotations

import datetime as dt
import math
import posixpath
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

__all__ = ["XlsxError", "SheetInfo", "SheetCells", "CellFlag", "workbook_sheets",
           "read_sheet", "sheet_has_data", "MAX_CELL_CHARS", "MAX_SHARED_STRINGS_BYTES",
           "MAX_CELLS", "MAX_ROWS", "MAX_COLUMNS"]

#: Longest text a cell may hold (Excel's limit is 32,767 characters).
MAX_CELL_CHARS = 32_767
#: Largest shared-strings part read (XML bytes, after decompression).
MAX_SHARED_STRINGS_BYTES = 100_000_000
#: Most non-empty cells read from the sheets of one workbook.
MAX_CELLS = 20_000_000
#: Excel's grid.
MAX_ROWS, MAX_COLUMNS = 1_048_576, 16_384
#: Rows at the top kept in full, whatever their width (the header may be among them).
HEAD_ROWS = 10

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")
#: Built-in number formats that are dates or times (ECMA-376 18.8.30).
_BUILTIN_DATES = set(range(14, 23)) | {45, 46, 47} | set(range(27, 37)) | set(range(50, 59))
_CHUNK = 1 << 20


class XlsxError(Exception):
    """The workbook cannot be read; the message says why in plain words."""


@dataclass
class SheetInfo:
    """A worksheet as listed in the workbook: title, visibility and its part in the zip."""

    title: str
    state: str  # visible | hidden | veryHidden
    part: str | None

    @property
    def hidden(self) -> bool:
        return self.state != "visible"


@dataclass
class CellFlag:
    """A cell whose stored content is not plain data (merged, formula, error value)."""

    row: int
    col: int  # 0-based
    ref: str
    kind: str  # merged | formula | error
    detail: str = ""


@dataclass
class SheetCells:
    """The cells of one sheet.

    ``head`` holds the first :data:`HEAD_ROWS` stored rows in full (row number, texts).
    ``body`` holds every later row, cut at ``width`` columns; ``beyond`` lists, for each
    row with a value in a column past ``width``, the first such column (0-based).
    """

    head: list[tuple[int, list[str]]] = field(default_factory=list)
    body: list[tuple[int, list[str]]] = field(default_factory=list)
    width: int = 0
    beyond: dict[int, int] = field(default_factory=dict)
    flags: list[CellFlag] = field(default_factory=list)
    cells: int = 0


def column_letter(col: int) -> str:
    """Excel letters of a 0-based column index (0 -> A, 26 -> AA)."""
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _parse_ref(ref: str) -> tuple[int, int] | None:
    m = _REF.match(ref)
    if not m:
        return None
    return int(m.group(2)), _col_index(m.group(1))


def _stream(zf: zipfile.ZipFile, part: str, parser, limit: int | None, what: str) -> None:
    """Feed a zip part to an expat parser in chunks, refusing beyond ``limit`` bytes."""
    total = 0
    with zf.open(part) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if limit is not None and total > limit:
                raise XlsxError(f"the {what} is larger than {limit // 1_000_000:,} MB once "
                                "unpacked, more than this program reads")
            parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _new_parser():
    p = expat.ParserCreate(namespace_separator="}")

    def no_doctype(*_args):
        raise XlsxError("the workbook holds an XML document type declaration, which Excel "
                        "never writes")
    p.StartDoctypeDeclHandler = no_doctype
    p.EntityDeclHandler = no_doctype
    p.buffer_text = True
    return p


def _run(zf: zipfile.ZipFile, part: str, start: Callable, end: Callable | None = None,
         text: Callable | None = None, limit: int | None = None, what: str = "sheet") -> None:
    p = _new_parser()
    p.StartElementHandler = start
    if end is not None:
        p.EndElementHandler = end
    if text is not None:
        p.CharacterDataHandler = text
    try:
        _stream(zf, part, p, limit, what)
    except expat.ExpatError as exc:
        raise XlsxError(f"part {part} of the workbook is not valid XML ({exc})") from None


def _part_path(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), target))


class Workbook:
    """An open ``.xlsx`` file: sheets, shared strings and date styles, read on demand."""

    def __init__(self, path: Path) -> None:
        try:
            self.zf = zipfile.ZipFile(path)
            names = set(self.zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise XlsxError(f"the file is not an Excel workbook ({exc})") from None
        self.names = names
        self.sheets: list[SheetInfo] = []
        self.date1904 = False
        self._strings: list[str] | None = None
        self._date_styles: set[int] | None = None
        self.cells_read = 0
        self._read_workbook()

    def close(self) -> None:
        self.zf.close()

    # -- workbook.xml and its relationships ------------------------------------------
    def _read_workbook(self) -> None:
        wb_part = "xl/workbook.xml"
        if wb_part not in self.names:
            raise XlsxError("the file is a zip archive but not an Excel workbook "
                            "(it has no xl/workbook.xml)")
        rels: dict[str, tuple[str, str]] = {}
        rels_part = "xl/_rels/workbook.xml.rels"

        def rel_start(name, attrs):
            if name == f"{_PKG_REL}}}Relationship":
                rels[attrs.get("Id", "")] = (attrs.get("Target", ""), attrs.get("Type", ""))
        if rels_part in self.names:
            _run(self.zf, rels_part, rel_start, limit=50_000_000, what="workbook index")
        sheets: list[tuple[str, str, str]] = []

        def wb_start(name, attrs):
            if name == f"{_MAIN}}}sheet":
                sheets.append((attrs.get("name", ""), attrs.get("state", "visible"),
                               attrs.get(f"{_REL}}}id", "")))
            elif name == f"{_MAIN}}}workbookPr":
                self.date1904 = attrs.get("date1904", "0") in ("1", "true")
        _run(self.zf, wb_part, wb_start, limit=50_000_000, what="workbook index")
        for title, state, rid in sheets:
            target, kind = rels.get(rid, ("", ""))
            part = _part_path(wb_part, target) if target else None
            if part not in self.names or not kind.endswith("/worksheet"):
                part = None  # a chart sheet, or a sheet whose part is missing
            self.sheets.append(SheetInfo(title, state, part))

    # -- shared strings and styles ---------------------------------------------------
    def strings(self) -> list[str]:
        if self._strings is None:
            self._strings = self._read_strings()
        return self._strings

    def _read_strings(self) -> list[str]:
        part = "xl/sharedStrings.xml"
        out: list[str] = []
        if part not in self.names:
            return out
        state = {"in_t": False, "skip": 0, "n": 0}
        buf: list[str] = []

        def start(name, attrs):
            local = name.rsplit("}", 1)[-1]
            if local == "si":
                buf.clear()
                state["n"] = 0
            elif local in ("rPh", "phoneticPr"):
                state["skip"] += 1
            elif local == "t" and not state["skip"]:
                state["in_t"] = True

        def end(name):
            local = name.rsplit("}", 1)[-1]
            if local == "si":
                out.append("".join(buf))
            elif local in ("rPh", "phoneticPr"):
                state["skip"] -= 1
            elif local == "t":
                state["in_t"] = False

        def text(data):
            if state["in_t"]:
                state["n"] += len(data)
                if state["n"] > MAX_CELL_CHARS:
                    raise XlsxError(f"shared text number {len(out) + 1} is longer than "
                                    f"{MAX_CELL_CHARS:,} characters, the most a cell can hold")
                buf.append(data)
        _run(self.zf, part, start, end, text, limit=MAX_SHARED_STRINGS_BYTES,
             what="list of texts (sharedStrings.xml)")
        return out

    def date_styles(self) -> set[int]:
        if self._date_styles is None:
            self._date_styles = self._read_styles()
        return self._date_styles

    def _read_styles(self) -> set[int]:
        from openpyxl.styles.numbers import is_date_format

        part = "xl/styles.xml"
        if part not in self.names:
            return set()
        custom: dict[int, str] = {}
        xfs: list[int] = []
        depth = {"cellXfs": False}

        def start(name, attrs):
            local = name.rsplit("}", 1)[-1]
            if local == "numFmt":
                try:
                    custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
                except ValueError:
                    pass
            elif local == "cellXfs":
                depth["cellXfs"] = True
            elif local == "xf" and depth["cellXfs"]:
                try:
                    xfs.append(int(attrs.get("numFmtId", "0")))
                except ValueError:
                    xfs.append(0)

        def end(name):
            if name.rsplit("}", 1)[-1] == "cellXfs":
                depth["cellXfs"] = False
        _run(self.zf, part, start, end, limit=50_000_000, what="styles part")
        out = set()
        for i, fmt in enumerate(xfs):
            if fmt in custom:
                if is_date_format(custom[fmt]):
                    out.add(i)
            elif fmt in _BUILTIN_DATES:
                out.add(i)
        return out

    # -- cells -----------------------------------------------------------------------
    def _cell_value(self, kind: str, raw: str, style: int) -> str:
        if kind == "s":
            strings = self.strings()
            try:
                return strings[int(raw)]
            except (ValueError, IndexError):
                raise XlsxError(f"a cell refers to shared text {raw!r}, which the workbook "
                                "does not hold") from None
        if kind in ("str", "inlineStr"):
            return raw
        if kind == "b":
            return "yes" if raw.strip() in ("1", "true") else "no"
        if kind == "d":
            return _iso_text(raw)
        # a number
        raw = raw.strip()
        if not raw:
            return ""
        if style in self.date_styles():
            try:
                return _serial_text(float(raw), self.date1904)
            except (ValueError, OverflowError):
                return raw
        return _number_text(raw)

    def read(self, sheet: SheetInfo, *, stop_at_first_value: bool = False) -> SheetCells:
        """The cells of ``sheet`` (see :class:`SheetCells`)."""
        out = SheetCells()
        if sheet.part is None:
            return out
        st: dict[str, Any] = {"row": 0, "col": -1, "kind": "n", "style": 0, "in_v": False, "in_t": False,
              "has_f": False, "has_v": False, "ref": "", "n": 0, "in_is": False,
              "skip": 0}
        buf: list[str] = []
        row_cells: list[tuple[int, str]] = []

        class _Stop(Exception):
            pass

        def flush_row() -> None:
            if not row_cells:
                return
            r = st["row"]
            if len(out.head) < HEAD_ROWS:
                width = max(c for c, _ in row_cells) + 1
                values = [""] * width
                for c, v in row_cells:
                    values[c] = v
                out.head.append((r, values))
                if len(out.head) == HEAD_ROWS:
                    out.width = max(len(v) for _, v in out.head)
            else:
                if not out.width:
                    out.width = max(len(v) for _, v in out.head)
                values = [""] * out.width
                for c, v in row_cells:
                    if c < out.width:
                        values[c] = v
                    elif r not in out.beyond:
                        out.beyond[r] = c
                out.body.append((r, values))
            row_cells.clear()

        def start(name, attrs):
            local = name.rsplit("}", 1)[-1]
            if local == "c":
                ref = attrs.get("r")
                pos = _parse_ref(ref) if ref else None
                if pos is not None:
                    if pos[0] != st["row"]:
                        # a cell of a row without its <row> element
                        flush_row()
                        st["row"] = pos[0]
                    st["col"] = pos[1]
                else:
                    st["col"] += 1
                if st["col"] >= MAX_COLUMNS or st["row"] > MAX_ROWS:
                    raise XlsxError(f"sheet '{sheet.title}' has a cell beyond Excel's last "
                                    "column or row; the file is damaged")
                st["ref"] = ref or f"{column_letter(st['col'])}{st['row']}"
                st["kind"] = attrs.get("t", "n")
                try:
                    st["style"] = int(attrs.get("s", "0"))
                except ValueError:
                    st["style"] = 0
                st["has_f"] = st["has_v"] = False
                st["n"] = 0
                buf.clear()
            elif local == "row":
                flush_row()
                r = attrs.get("r")
                st["row"] = int(r) if r and r.isdigit() else st["row"] + 1
                st["col"] = -1
            elif local == "v":
                st["in_v"] = True
                st["has_v"] = True
            elif local == "f":
                st["has_f"] = True
            elif local == "is":
                st["in_is"] = True
            elif local == "rPh":
                st["skip"] += 1
            elif local == "t" and st["in_is"] and not st["skip"]:
                st["in_t"] = True
                st["has_v"] = True
            elif local == "mergeCell":
                _merge(attrs.get("ref", ""), out.flags)

        def end(name):
            local = name.rsplit("}", 1)[-1]
            if local == "c":
                text = "".join(buf)
                kind = st["kind"]
                # a cell that holds no data still makes its row a row of the sheet
                if kind == "e":
                    out.flags.append(CellFlag(st["row"], st["col"], st["ref"], "error",
                                              text.strip()))
                    row_cells.append((st["col"], ""))
                    return
                if st["has_f"] and (not st["has_v"] or (text == "" and kind != "str")):
                    out.flags.append(CellFlag(st["row"], st["col"], st["ref"], "formula"))
                    row_cells.append((st["col"], ""))
                    return
                if not st["has_v"]:
                    return
                value = self._cell_value(kind, text, st["style"])
                if value == "":
                    return
                out.cells += 1
                self.cells_read += 1
                if self.cells_read > MAX_CELLS:
                    raise XlsxError(f"the workbook holds more than {MAX_CELLS:,} filled cells "
                                    "in the sheets read, more than this program reads from "
                                    "a workbook; save each table as a CSV file instead")
                row_cells.append((st["col"], value))
                if stop_at_first_value:
                    raise _Stop
            elif local == "v":
                st["in_v"] = False
            elif local == "is":
                st["in_is"] = False
            elif local == "t":
                st["in_t"] = False
            elif local == "rPh":
                st["skip"] -= 1
            elif local == "row":
                flush_row()

        def text(data):
            if st["in_v"] or st["in_t"]:
                st["n"] += len(data)
                if st["n"] > MAX_CELL_CHARS:
                    raise XlsxError(f"cell {st['ref']} of sheet '{sheet.title}' holds more than "
                                    f"{MAX_CELL_CHARS:,} characters, the most a cell can hold")
                buf.append(data)
        try:
            _run(self.zf, sheet.part, start, end, text, what=f"sheet '{sheet.title}'")
        except _Stop:
            return out
        flush_row()
        if out.head and not out.width:
            out.width = max(len(v) for _, v in out.head)
        return out


def _merge(ref: str, flags: list[CellFlag]) -> None:
    a, _, b = ref.partition(":")
    p, q = _parse_ref(a), _parse_ref(b or a)
    if p is None or q is None or p == q:
        return
    flags.append(CellFlag(p[0], p[1], ref, "merged", f"{q[0]}:{q[1]}"))


def merged_cells(flag: CellFlag) -> list[tuple[int, int]]:
    """The cells a merged range covers apart from its first (row, 0-based column)."""
    r2, c2 = (int(x) for x in flag.detail.split(":"))
    return [(r, c) for r in range(flag.row, r2 + 1) for c in range(flag.col, c2 + 1)
            if (r, c) != (flag.row, flag.col)]


def _number_text(raw: str) -> str:
    if "." not in raw and "E" not in raw and "e" not in raw:
        try:
            return str(int(raw))
        except ValueError:
            return raw
    try:
        value = float(raw)
    except ValueError:
        return raw
    if math.isfinite(value) and value.is_integer() and abs(value) < 2.0**53:
        return str(int(value))
    return repr(value) if math.isfinite(value) else raw


def _serial_text(value: float, date1904: bool) -> str:
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

    when = from_excel(value, CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900)
    if isinstance(when, dt.datetime):
        if when.time() == dt.time(0, 0):
            return when.date().isoformat()
        return when.isoformat(sep=" ")
    if isinstance(when, dt.date):
        return when.isoformat()
    return str(when)


def _iso_text(raw: str) -> str:
    raw = raw.strip()
    if raw.endswith("T00:00:00") or raw.endswith("T00:00:00Z"):
        return raw[:10]
    return raw.replace("T", " ").rstrip("Z")


def workbook_sheets(path: Path) -> Workbook:
    """Open ``path``; raises :class:`XlsxError` with a plain message if it cannot be read."""
    return Workbook(path)


def read_sheet(book: Workbook, sheet: SheetInfo) -> SheetCells:
    return book.read(sheet)


def sheet_has_data(book: Workbook, sheet: SheetInfo) -> bool:
    """True when the sheet holds at least one non-empty cell (stops at the first)."""
    return bool(book.read(sheet, stop_at_first_value=True).cells)
