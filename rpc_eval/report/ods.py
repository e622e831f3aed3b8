"""Accessible ODS workbooks for published statistical tables.

The layout follows the Government Analysis Function guidance *Releasing statistics
in spreadsheets* (https://analysisfunction.civilservice.gov.uk/policy-store/
releasing-statistics-in-spreadsheets/):

* sheets in order: a cover sheet, a table of contents, a notes sheet, then one
  table per sheet;
* every sheet's title is in cell A1; any descriptive lines sit in column A straight
  below it, then the header row, then the body -- no blank rows or columns inside
  or above a table, and no merged cells anywhere;
* a missing number is never left empty or written as ``NA``: it is a shorthand
  marker in square brackets, ``[x]`` (not available) unless the column has its own
  marker such as ``[z]`` (not applicable); ``[c]`` (confidential) cells made by
  disclosure control are kept as text;
* sheet names are short, unique and without spaces; the contents sheet links to
  every table sheet.

The writer uses odfpy only (no LibreOffice) and rewrites the zip container so that
identical input gives byte-identical files (fixed member order, fixed timestamps,
no creation dates in the metadata).
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import numbers
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rpc_eval.errors import RpcEvalError

__all__ = ["OdsTable", "write_ods", "read_ods_sheets"]

MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
_SHEET_NAME = re.compile(r"^[A-Za-z0-9_]{1,31}$")
_MARKER = re.compile(r"^\[[^\[\]]+\]$")
_NOTE_ID = re.compile(r"^\[note [^\[\]]+\]$")
#: Text a body cell may not hold: each is an ambiguous way to write a missing value.
_FORBIDDEN_TEXT = frozenset({"", "na", "n/a", "nan", "-", "..", "\u2013", "\u2014"})
_RESERVED_SHEETS = ("Cover", "Contents", "Notes")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_MAX_DECIMALS = 6
_YEAR_HEADER = re.compile(r"\byears?\b", re.IGNORECASE)


@dataclass
class OdsTable:
    """One published table, written to its own sheet.

    Parameters
    ----------
    sheet : str
        Sheet name: 1 to 31 characters from ``A-Z a-z 0-9 _`` (no spaces), unique
        in the workbook and not ``Cover``, ``Contents`` or ``Notes``.
    title : str
        Table title, written to cell A1 and listed on the contents sheet.
    frame : pandas.DataFrame
        The table as published. Column names are the header row as given (write
        readable headings with units). Numbers become number cells, booleans
        ``Yes``/``No``, dates date cells, strings (including markers such as
        ``[c]``) text cells. Missing values (NaN, None, ``pd.NA``, NaT) become the
        column's marker from ``missing``, else ``[x]``. The index is not written
        (``reset_index()`` first to publish it).
    description : sequence of str
        Lines written to A2, A3, ... (source, what the markers mean, ...).
    missing : mapping of str to str
        Column name -> marker for its missing values, e.g. ``{"Change": "[z]"}``.
    notes : sequence of str
        Ids of notes (``"[note 1]"``) that apply to this table; each must be on
        the notes sheet. They are listed in a line below the title.
    decimals : mapping of str to int
        Column name -> decimal places shown. By default a numeric column shows as
        many places as its values need (at most 6); values are stored unrounded.
    """

    sheet: str
    title: str
    frame: pd.DataFrame
    description: Sequence[str] = ()
    missing: Mapping[str, str] = field(default_factory=dict)
    notes: Sequence[str] = ()
    decimals: Mapping[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- cells
@dataclass(frozen=True)
class _Cell:
    kind: str  # "string" | "float" | "date"
    text: str  # text shown
    value: str | None = None  # office:value / office:date-value
    style: str | None = None
    href: str | None = None


def _is_missing(v: object) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    if isinstance(v, np.datetime64 | np.timedelta64):
        return bool(np.isnat(v))
    return False


def _decimals_needed(values: list[float]) -> int:
    """Smallest number of decimal places (<= 6) that shows every value exactly."""
    need = 0
    for v in values:
        for d in range(_MAX_DECIMALS + 1):
            if abs(round(v, d) - v) <= 1e-9 * max(1.0, abs(v)):
                break
        need = max(need, d)
    return need


def _format_number(v: float, decimals: int, grouping: bool) -> str:
    return f"{v:,.{decimals}f}" if grouping else f"{v:.{decimals}f}"


def _text_problem(s: str) -> bool:
    return s.strip().casefold() in _FORBIDDEN_TEXT


def _column_cells(table: OdsTable, col: str, values: pd.Series, decimals: dict[str, int]) -> list[
        _Cell]:
    """Convert one column to cells, checking every value; registers number styles used."""
    marker = table.missing.get(col, "[x]")
    numeric = [float(v) for v in values
               if isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
               and not _is_missing(v)]
    for v in numeric:
        if not math.isfinite(v):
            raise RpcEvalError(
                f"Sheet {table.sheet!r}, column {col!r}: the value {v} is not a finite number. "
                "Replace it with a shorthand marker such as '[x]' or '[z]'.")
    if col in table.decimals:
        dp = table.decimals[col]
    else:
        dp = _decimals_needed(numeric)
    grouping = not _YEAR_HEADER.search(col)
    num_style = f"ce_num{dp}{'g' if grouping else 'n'}"
    if numeric:
        decimals[num_style] = dp
    cells = []
    for row_no, v in enumerate(values, start=1):
        if _is_missing(v):
            cells.append(_Cell("string", marker))
        elif isinstance(v, bool | np.bool_):
            cells.append(_Cell("string", "Yes" if v else "No"))
        elif isinstance(v, numbers.Integral):
            iv = int(v)
            cells.append(_Cell("float", _format_number(iv, dp, grouping), str(iv), num_style))
        elif isinstance(v, numbers.Real):
            fv = float(v)
            cells.append(_Cell("float", _format_number(fv, dp, grouping), repr(fv), num_style))
        elif isinstance(v, _dt.date | np.datetime64):
            ts = pd.Timestamp(v)
            iso = ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
            shown = f"{ts.day} {ts.strftime('%B %Y')}"
            cells.append(_Cell("date", shown, iso, "ce_date"))
        else:
            s = str(v)
            if _text_problem(s):
                raise RpcEvalError(
                    f"Sheet {table.sheet!r}, column {col!r}, row {row_no}: the text {s!r} is an "
                    "ambiguous way to show a missing value. Leave the value missing (it is "
                    "written as a shorthand marker) or write a marker in square brackets, "
                    "such as '[x]' (not available), '[z]' (not applicable) or '[c]' "
                    "(confidential).")
            cells.append(_Cell("string", s))
    return cells


# ---------------------------------------------------------------------- validation
def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RpcEvalError(f"{what} must be non-empty text; got {value!r}.")
    return value


def _validate(title: str, cover: Sequence[tuple[str, str]], tables: Sequence[OdsTable],
              notes: Sequence[tuple[str, str]]) -> None:
    _check_text(title, "The workbook title")
    if not tables:
        raise RpcEvalError("A workbook needs at least one table.")
    for i, item in enumerate(cover, start=1):
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise RpcEvalError(f"Cover item {i} must be a (heading, text) pair; got {item!r}.")
        _check_text(item[0], f"The heading of cover item {i}")
        _check_text(item[1], f"The text of cover item {i} ({item[0]!r})")
    note_ids: set[str] = set()
    for i, item in enumerate(notes, start=1):
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise RpcEvalError(f"Note {i} must be a (note id, text) pair; got {item!r}.")
        nid = _check_text(item[0], f"The id of note {i}")
        _check_text(item[1], f"The text of note {nid!r}")
        if not _NOTE_ID.match(nid):
            raise RpcEvalError(f"Note id {nid!r} must look like '[note 1]'.")
        if nid in note_ids:
            raise RpcEvalError(f"Note id {nid!r} is given twice.")
        note_ids.add(nid)
    seen: set[str] = {s.casefold() for s in _RESERVED_SHEETS}
    for t in tables:
        if not isinstance(t, OdsTable):
            raise RpcEvalError(f"Tables must be OdsTable objects; got {type(t).__name__}.")
        if not isinstance(t.sheet, str) or not _SHEET_NAME.match(t.sheet):
            raise RpcEvalError(
                f"Sheet name {t.sheet!r} is not allowed: use 1 to 31 letters, digits or "
                "underscores, with no spaces (for example 'Table_1').")
        if t.sheet.casefold() in seen:
            raise RpcEvalError(
                f"Sheet name {t.sheet!r} is used twice (or clashes with Cover, Contents or "
                "Notes; names are compared ignoring case). Give each table its own name.")
        seen.add(t.sheet.casefold())
        _check_text(t.title, f"The title of sheet {t.sheet!r}")
        for line in t.description:
            _check_text(line, f"A description line of sheet {t.sheet!r}")
        if not isinstance(t.frame, pd.DataFrame):
            raise RpcEvalError(f"Sheet {t.sheet!r}: frame must be a pandas DataFrame.")
        if t.frame.shape[1] == 0:
            raise RpcEvalError(f"Sheet {t.sheet!r}: the table has no columns.")
        if isinstance(t.frame.columns, pd.MultiIndex):
            raise RpcEvalError(
                f"Sheet {t.sheet!r}: multi-level column headings would need merged cells; "
                "flatten them into one header row first.")
        cols = list(t.frame.columns)
        for c in cols:
            if not isinstance(c, str) or not c.strip():
                raise RpcEvalError(
                    f"Sheet {t.sheet!r}: every column heading must be non-empty text; got {c!r}.")
            if _text_problem(c):
                raise RpcEvalError(f"Sheet {t.sheet!r}: {c!r} is not a meaningful column heading.")
        if len(set(cols)) != len(cols):
            dup = sorted({c for c in cols if cols.count(c) > 1})
            raise RpcEvalError(f"Sheet {t.sheet!r}: column headings repeat: {dup}.")
        for c, m in t.missing.items():
            if c not in cols:
                raise RpcEvalError(
                    f"Sheet {t.sheet!r}: `missing` names column {c!r}, which is not in the table.")
            if not isinstance(m, str) or not _MARKER.match(m):
                raise RpcEvalError(
                    f"Sheet {t.sheet!r}, column {c!r}: the missing-value marker {m!r} must be a "
                    "shorthand in square brackets such as '[x]' or '[z]'.")
        for c, d in t.decimals.items():
            if c not in cols:
                raise RpcEvalError(
                    f"Sheet {t.sheet!r}: `decimals` names column {c!r}, which is not in the "
                    "table.")
            if isinstance(d, bool) or not isinstance(d, numbers.Integral) or not 0 <= d <= 10:
                raise RpcEvalError(
                    f"Sheet {t.sheet!r}, column {c!r}: decimals must be a whole number 0 to 10.")
        for nid in t.notes:
            if nid not in note_ids:
                raise RpcEvalError(
                    f"Sheet {t.sheet!r} refers to {nid!r}, which is not on the notes sheet.")


# ------------------------------------------------------------------------- writing
def _width_cm(cells: Sequence[str], header: str | None = None, lo: int = 8, hi: int = 60) -> str:
    """Column width from the longest cell; a header may wrap onto a few lines."""
    chars = max((len(c) for c in cells), default=0)
    if header is not None:
        longest_word = max((len(w) for w in header.split()), default=0)
        chars = max(chars, longest_word, min(len(header), 24))
    chars = min(max(chars, lo), hi)
    return f"{0.22 * chars + 0.4:.2f}cm"


class _Builder:
    """Collects styles and sheets in an odfpy document."""

    def __init__(self, title: str) -> None:
        from odf import dc, number, style
        from odf.opendocument import OpenDocumentSpreadsheet

        self.doc = OpenDocumentSpreadsheet()
        self.doc.meta.addElement(dc.Title(text=title))
        self.doc.meta.addElement(dc.Language(text="en-GB"))
        self._col_styles: dict[str, str] = {}
        self._num_styles: set[str] = set()
        auto = self.doc.automaticstyles

        def cell_style(name, bold=False, size=None, wrap=False, data=None):
            kw = {"name": name, "family": "table-cell"}
            if data:
                kw["datastylename"] = data
            st = style.Style(**kw)
            if wrap:
                st.addElement(style.TableCellProperties(wrapoption="wrap", verticalalign="top"))
            if bold or size:
                tp = {"fontweight": "bold"} if bold else {}
                if size:
                    tp["fontsize"] = size
                st.addElement(style.TextProperties(**tp))
            auto.addElement(st)

        cell_style("ce_title", bold=True, size="14pt")
        cell_style("ce_heading", bold=True, size="12pt")
        cell_style("ce_header", bold=True, wrap=True)
        cell_style("ce_wrap", wrap=True)
        ds = number.DateStyle(name="N_date")
        ds.addElement(number.Day())
        ds.addElement(number.Text(text=" "))
        ds.addElement(number.Month(textual="true", style="long"))
        ds.addElement(number.Text(text=" "))
        ds.addElement(number.Year(style="long"))
        auto.addElement(ds)
        cell_style("ce_date", data="N_date")
        self._cell_style = cell_style

    def number_style(self, name: str, decimals: int) -> None:
        from odf import number

        if name in self._num_styles:
            return
        grouping = "true" if name.endswith("g") else "false"
        ns = number.NumberStyle(name=f"N_{name}")
        ns.addElement(number.Number(decimalplaces=str(decimals), minintegerdigits="1",
                                    grouping=grouping))
        self.doc.automaticstyles.addElement(ns)
        self._cell_style(name, data=f"N_{name}")
        self._num_styles.add(name)

    def column_style(self, width: str) -> str:
        from odf import style

        if width not in self._col_styles:
            name = f"co{len(self._col_styles) + 1}"
            st = style.Style(name=name, family="table-column")
            st.addElement(style.TableColumnProperties(columnwidth=width, breakbefore="auto"))
            self.doc.automaticstyles.addElement(st)
            self._col_styles[width] = name
        return self._col_styles[width]

    @staticmethod
    def _cell(c: _Cell):
        from odf import table, teletype, text

        kw: dict[str, Any] = {"valuetype": c.kind}
        if c.kind == "float":
            kw["value"] = c.value
        elif c.kind == "date":
            kw["datevalue"] = c.value
        if c.style:
            kw["stylename"] = c.style
        cell = table.TableCell(**kw)
        p = text.P()
        if c.href:
            a = text.A(href=c.href, type="simple")
            teletype.addTextToElement(a, c.text)
            p.addElement(a)
        else:
            teletype.addTextToElement(p, c.text)
        cell.addElement(p)
        return cell

    def sheet(self, name: str, top: Sequence[_Cell], header: Sequence[_Cell] | None,
              body: Sequence[Sequence[_Cell]], widths: Sequence[str]) -> None:
        """A sheet: one-cell rows ``top`` (title first), optional header row, then body."""
        from odf import table

        t = table.Table(name=name)
        for w in widths:
            t.addElement(table.TableColumn(stylename=self.column_style(w)))

        def row(cells):
            r = table.TableRow()
            for c in cells:
                r.addElement(self._cell(c))
            return r

        for c in top:
            t.addElement(row([c]))
        if header is not None:
            hr = table.TableHeaderRows()
            hr.addElement(row(header))
            t.addElement(hr)
        for cells in body:
            t.addElement(row(cells))
        self.doc.spreadsheet.addElement(t)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.doc.save(buf)
        return _normalise_zip(buf.getvalue())


_META_DROP = re.compile(
    r"<(meta:creation-date|dc:date|meta:editing-duration|meta:editing-cycles|"
    r"meta:print-date)>[^<]*</\1>")
_GENERATOR = re.compile(r"<meta:generator>[^<]*</meta:generator>")


def _normalise_zip(raw: bytes) -> bytes:
    """Re-zip in a fixed order with fixed timestamps; strip dates from meta.xml."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    if "meta.xml" in members:
        meta = members["meta.xml"].decode("utf-8")
        meta = _META_DROP.sub("", meta)
        meta = _GENERATOR.sub("<meta:generator>rpc_eval</meta:generator>", meta)
        members["meta.xml"] = meta.encode("utf-8")
    first = ["mimetype", "content.xml", "styles.xml", "meta.xml", "settings.xml"]
    last = ["META-INF/manifest.xml"]
    order = [n for n in first if n in members]
    order += sorted(n for n in members if n not in first and n not in last)
    order += [n for n in last if n in members]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for n in order:
            zi = zipfile.ZipInfo(n, date_time=_FIXED_DATE)
            zi.create_system = 3
            zi.external_attr = 0o644 << 16
            if n == "mimetype":
                zi.compress_type = zipfile.ZIP_STORED
                zout.writestr(zi, MIMETYPE.encode("ascii"))
            else:
                zi.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(zi, members[n], compresslevel=6)
    return out.getvalue()


def _s(text: str, style: str | None = None, href: str | None = None) -> _Cell:
    return _Cell("string", text, style=style, href=href)


def write_ods(path, *, title: str, cover: Sequence[tuple[str, str]], tables: Sequence[OdsTable],
              notes: Sequence[tuple[str, str]] = ()) -> Path:
    """Write published tables to an accessible, reproducible ODS workbook.

    Sheets, in order: ``Cover`` (the workbook title in A1, then a bold heading row
    and a text row for each ``cover`` item), ``Contents`` (one row per table, the
    sheet name a link to the table's cell A1), ``Notes`` (note id and text), then
    one sheet per table. On every sheet the title is in A1, description lines
    follow in column A, then the header row (marked as the table's header row)
    and the body, with no blank rows or columns and no merged cells.

    Parameters
    ----------
    path : str or path-like
        File to write (``.ods``); overwritten if present.
    title : str
        Workbook title: cell A1 of the cover sheet and the document's title property.
    cover : sequence of (str, str)
        ``(heading, text)`` pairs, e.g. ``("Source", "...")``,
        ``("Disclosure control", "...")``.
    tables : sequence of OdsTable
        The tables, one per sheet, in order.
    notes : sequence of (str, str)
        ``(note id, text)`` pairs such as ``("[note 1]", "...")``.

    Returns
    -------
    pathlib.Path
        The file written. Identical input gives byte-identical files.

    Raises
    ------
    RpcEvalError
        For a bad sheet name (spaces, other characters, over 31 characters,
        duplicated), an empty title or heading, a body cell holding text such as
        ``NA``, ``N/A``, ``nan`` or nothing, an infinite number, a marker not in
        square brackets, or a note id not on the notes sheet.

    Notes
    -----
    Layout from the Analysis Function guidance *Releasing statistics in
    spreadsheets*. Written with odfpy; LibreOffice is not needed. R equivalent:
    ``a11ytables::create_a11ytables()`` then ``generate_workbook()`` (which writes
    XLSX).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> t = OdsTable("Table_1", "Table 1: Parents referred, by year",
    ...              pd.DataFrame({"Year": [2023, 2024], "Parents (number)": [12, None]}))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_ods(f"{d}/t.ods", title="Referrals", cover=[("Source", "Synthetic")],
    ...                   tables=[t])
    ...     sheets = read_ods_sheets(p)
    >>> list(sheets)
    ['Cover', 'Contents', 'Notes', 'Table_1']
    >>> sheets["Table_1"]
    [['Table 1: Parents referred, by year'], ['Year', 'Parents (number)'], ['2023', '12'], ['2024', '[x]']]
    """
    _validate(title, cover, tables, notes)
    _warm_up()
    prepared = []
    decimals: dict[str, int] = {}
    for t in tables:
        cols = [str(c) for c in t.frame.columns]
        columns = [_column_cells(t, c, t.frame.iloc[:, j].tolist(), decimals)
                   for j, c in enumerate(cols)]
        prepared.append((t, cols, columns))

    b = _Builder(title)
    for name, dp in sorted(decimals.items()):
        b.number_style(name, dp)

    # Cover
    top = [_s(title, "ce_title")]
    for heading, body in cover:
        top += [_s(heading, "ce_heading"), _s(body, "ce_wrap")]
    cover_chars = max((len(c.text) for c in top[1:]), default=0)
    b.sheet("Cover", top, None, [], [_width_cm([], lo=min(max(cover_chars, 40), 100), hi=100)])

    # Contents
    rows = [[_s(t.sheet, href=f"#{t.sheet}.A1"), _s(t.title, "ce_wrap")] for t, _, _ in prepared]
    b.sheet("Contents",
            [_s("Table of contents", "ce_title"), _s("This worksheet contains one table.")],
            [_s("Sheet name", "ce_header"), _s("Table title", "ce_header")], rows,
            [_width_cm([t.sheet for t, _, _ in prepared], "Sheet name", hi=31),
             _width_cm([t.title for t, _, _ in prepared], "Table title", hi=80)])

    # Notes
    if notes:
        b.sheet("Notes",
                [_s("Notes", "ce_title"), _s("This worksheet contains one table.")],
                [_s("Note number", "ce_header"), _s("Note text", "ce_header")],
                [[_s(i), _s(x, "ce_wrap")] for i, x in notes],
                [_width_cm([i for i, _ in notes], "Note number"),
                 _width_cm([x for _, x in notes], "Note text", hi=80)])
    else:
        b.sheet("Notes", [_s("Notes", "ce_title"),
                          _s("There are no notes for these tables.")], None, [], [])

    # Tables
    for t, cols, columns in prepared:
        top = [_s(t.title, "ce_title")] + [_s(line) for line in t.description]
        if t.notes:
            top.append(_s("Notes for this table (see the Notes worksheet): "
                          + ", ".join(t.notes) + "."))
        header = [_s(c, "ce_header") for c in cols]
        body = [list(r) for r in zip(*columns, strict=True)] if len(t.frame) else []
        widths = [_width_cm([c.text for c in col], h) for h, col in zip(cols, columns,
                                                                        strict=True)]
        b.sheet(t.sheet, top, header, body, widths)

    out = Path(path)
    out.write_bytes(b.to_bytes())
    return out


_WARM = False


def _warm_up() -> None:
    """Serialise one throwaway document first: odfpy declares some namespaces (chart,
    draw, presentation) only once its element classes have been used, so without this
    the first workbook of a process differs in bytes from every later one."""
    global _WARM
    if _WARM:
        return
    _WARM = True
    b = _Builder("warm-up")
    b.number_style("c", 1)
    b.sheet("Warm", [_s("warm-up", "ce_title")], [_s("h", "ce_header")],
            [[_s("x", href="#Warm.A1")]], [_width_cm(["x"], "h")])
    b.to_bytes()


# ------------------------------------------------------------------------- reading
def read_ods_sheets(path) -> dict[str, list[list[str]]]:
    """Read every sheet of an ODS file as rows of cell text.

    Parameters
    ----------
    path : str or path-like
        An ``.ods`` file.

    Returns
    -------
    dict of str to list of list of str
        Sheet name -> rows, each a list of the cells' displayed text. Repeated
        cells and rows are expanded; trailing empty cells and rows are dropped.

    Examples
    --------
    See :func:`write_ods`.
    """
    from odf import table, teletype
    from odf.namespaces import TABLENS
    from odf.opendocument import load

    doc = load(str(path))
    out: dict[str, list[list[str]]] = {}
    for sheet in doc.spreadsheet.getElementsByType(table.Table):
        rows: list[list[str]] = []
        for r in sheet.getElementsByType(table.TableRow):
            cells: list[str] = []
            for c in r.childNodes:
                if c.qname[1] not in ("table-cell", "covered-table-cell"):
                    continue
                n = int(c.attributes.get((TABLENS, "number-columns-repeated"), 1))
                cells += [teletype.extractText(c)] * n
            while cells and cells[-1] == "":
                cells.pop()
            n = int(r.attributes.get((TABLENS, "number-rows-repeated"), 1))
            rows += [list(cells) for _ in range(n)]
        while rows and not rows[-1]:
            rows.pop()
        out[str(sheet.getAttribute("name"))] = rows
    return out
