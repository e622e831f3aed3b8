"""Turn a column of text cells into typed values, finding every bad cell at once.

Each parser is vectorised and returns a :class:`Parsed`: the typed values and, for
each kind of problem, a boolean mask of the cells that have it with a message and a
hint. Cell text has surrounding white space removed first; an empty cell is missing.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Parsed", "parse_column", "code_key", "code_lookup", "MISSING_MARKERS",
           "EXCEL_EPOCH"]

#: Written-out "missing" markers accepted (with a warning) in columns that may be blank.
MISSING_MARKERS = ("NA", "N/A", "n/a", "na", "#N/A", "NULL", "null", ".")
#: Day zero of Excel's 1900 date system as used by Excel for dates after 1 March 1900.
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
#: Excel serial numbers accepted as dates: 1954-10-03 .. 2119-01-11.
EXCEL_SERIAL_RANGE = (20000, 80000)
#: Years accepted in dates (anything else is taken to be a typing slip).
YEAR_RANGE = (1900, 2199)
#: Largest magnitude accepted in a numeric column (exactly representable as a float).
MAX_NUMBER = 2.0**53

DATE_HINT = "write dates as YYYY-MM-DD (e.g. 2023-07-16) or DD/MM/YYYY (e.g. 16/07/2023)"
_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0"}


#: What a code defined by a dataset (an LA code, an intervention code) may hold: codes
#: are published in tables, figures and spreadsheets, so no spaces, quotes, ``=``, ``$``
#: or other signs that a spreadsheet, a terminal or a figure could read as an instruction.
CODE_CHARS = r"[A-Za-z0-9_.\-]+"


def code_key(value: object) -> str:
    """A code or label reduced to lower-case letters and digits, without bracketed words:
    'Standard Triple P (Level 4)', 'standard-triple-p' and 'Standard_Triple_P' agree."""
    text = re.sub(r"[(\[{].*?[)\]}]", " ", str(value).lower())
    return re.sub(r"[^0-9a-z]+", "", text)


def code_lookup(codes: Sequence[str], labels: Mapping[str, str]) -> dict[str, set[str]]:
    """Loose key (:func:`code_key`) -> the codes it could mean (from codes and labels)."""
    out: dict[str, set[str]] = {}
    for code in codes:
        out.setdefault(code_key(code), set()).add(code)
    for code, lab in labels.items():
        if code in codes or not codes:
            out.setdefault(code_key(lab), set()).add(code)
            full = re.sub(r"[^0-9a-z]+", "", str(lab).lower())
            out.setdefault(full, set()).add(code)
    out.pop("", None)
    return out


@dataclass
class Parsed:
    """Typed values of a column plus its problems.

    ``errors`` and ``warnings`` are lists of ``(mask, message, hint)``; a cell in an
    error mask makes its row unusable; a warning marks a value that was interpreted.
    """

    values: pd.Series
    errors: list[tuple[np.ndarray, str, str]] = field(default_factory=list)
    warnings: list[tuple[np.ndarray, str, str]] = field(default_factory=list)


def _missing(text: pd.Series, nullable: bool, label: str, out: Parsed) -> np.ndarray:
    """Mask of missing cells; flags blanks in required columns and reads NA markers."""
    blank = (text == "").to_numpy()
    marker = text.isin(MISSING_MARKERS).to_numpy()
    if nullable and marker.any():
        out.warnings.append((marker, "a written 'missing' marker was read as a blank (missing) "
                             "value", "leave the cell empty for a missing value"))
        blank = blank | marker
    if not nullable and blank.any():
        out.errors.append((blank, f"{label} is missing", f"fill in {label} on every row"))
    return blank


def _parse_dates(text: pd.Series, blank: np.ndarray, out: Parsed) -> pd.Series:
    """Dates of a column: cells written YYYY-MM-DD (nearly all, in most files) are read
    straight from their text; the others, with every problem found, by the general
    reader, which gives those cells the same problems it would in the whole column."""
    n = len(text)
    fast, done = _plain_iso_dates(text)
    done &= ~blank
    if not done.any():
        return _parse_dates_general(text, blank, out)
    rest = np.flatnonzero(~done & ~blank)
    if len(rest):
        sub = Parsed(values=text.iloc[:0])
        part = _parse_dates_general(text.iloc[rest].reset_index(drop=True),
                                    np.zeros(len(rest), bool), sub)
        fast[rest] = part.to_numpy(dtype="datetime64[ns]")
        for found, into in ((sub.errors, out.errors), (sub.warnings, out.warnings)):
            for mask, problem, hint in found:
                full = np.zeros(n, bool)
                full[rest] = mask
                into.append((full, problem, hint))
    return pd.Series(fast, index=text.index, dtype="datetime64[ns]")


def _parse_dates_general(text: pd.Series, blank: np.ndarray, out: Parsed) -> pd.Series:
    values = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    todo = ~blank
    iso = text.str.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
    iso = iso.to_numpy(dtype=bool, na_value=False) & todo
    uk = text.str.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}(?: \d{1,2}:\d{2}(?::\d{2})?)?")
    uk = uk.to_numpy(dtype=bool, na_value=False) & todo
    # The year must lie in YEAR_RANGE: outside it the date is a typing slip, and pandas
    # cannot hold years beyond 1677..2262 at all.
    year = pd.Series(-1, index=text.index)
    year[iso] = _iso_years(text[iso])
    year[uk] = text[uk].str.split(" ").str[0].str.rsplit("/", n=1).str[-1].astype(int)
    odd_year = (iso | uk) & ~year.between(*YEAR_RANGE).to_numpy()
    if odd_year.any():
        out.errors.append((odd_year, f"the year is outside {YEAR_RANGE[0]} to {YEAR_RANGE[1]}",
                           "check the year; " + DATE_HINT))
    iso = iso & ~odd_year
    uk = uk & ~odd_year
    if iso.any():
        parsed = pd.to_datetime(text[iso].str.slice(0, 10).str.rstrip(" T"),
                                format="%Y-%m-%d", errors="coerce")
        values[iso] = parsed.astype("datetime64[ns]")
    if uk.any():
        parsed = pd.to_datetime(text[uk].str.split(" ").str[0], format="%d/%m/%Y",
                                errors="coerce")
        values[uk] = parsed.astype("datetime64[ns]")
    serial_like = text.str.fullmatch(r"\d{5}(?:\.0+)?").to_numpy(dtype=bool, na_value=False)
    serial_like = serial_like & todo
    if serial_like.any():
        num = pd.to_numeric(text[serial_like], errors="coerce")
        ok = num.between(*EXCEL_SERIAL_RANGE).to_numpy()
        idx = np.flatnonzero(serial_like)[ok]
        values.iloc[idx] = EXCEL_EPOCH + pd.to_timedelta(num[ok].to_numpy(), unit="D")
        mask = np.zeros(len(text), bool)
        mask[idx] = True
        if mask.any():
            out.warnings.append((mask, "an Excel date serial number was converted to a date "
                                 "(day 1 = 1900-01-01)", "format the column as a date in Excel "
                                 "before saving, and check the converted dates"))
    bad = todo & ~odd_year & values.isna().to_numpy()
    if bad.any():
        why = pd.Series([_date_trouble(t) for t in text[bad]], index=text.index[bad])
        for (problem, hint), grp in why.groupby(why, sort=False):
            mask = np.zeros(len(text), bool)
            mask[text.index.get_indexer(grp.index)] = True
            out.errors.append((mask, problem, hint))
    return values


def _iso_years(text: pd.Series) -> np.ndarray:
    """The year (first four digits) of cells that start YYYY-."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pc.utf8_slice_codeunits(_arrow(text), 0, 4), pa.int64()).to_numpy(
        zero_copy_only=False)


def _plain_iso_dates(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Dates of the cells written exactly YYYY-MM-DD with a year in YEAR_RANGE, and
    which cells those are.

    The digits are read as numbers in one pass over the text's bytes and the day is
    checked against the length of its month (leap years included), so an impossible
    date (2021-02-31) is never read as another day; the other cells are left to the
    general reader.
    """
    n = len(text)
    days = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    done = np.zeros(n, bool)
    arr = _arrow(text)
    offsets: np.ndarray = np.frombuffer(arr.buffers()[1], dtype=np.int32 if arr.type == "string"
                            else np.int64)[arr.offset:arr.offset + n + 1]
    sel = np.diff(offsets) == 10
    if arr.null_count:
        sel &= arr.is_valid().to_numpy(zero_copy_only=False)
    if not sel.any():
        return days, done
    raw = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    if sel.all():
        b = raw[offsets[0]:offsets[-1]].reshape(n, 10)
    else:
        b = raw[offsets[:-1][sel, None] + np.arange(10)]
    shape = (b[:, 4] == ord("-")) & (b[:, 7] == ord("-"))
    d = {}
    for i in (0, 1, 2, 3, 5, 6, 8, 9):
        d[i] = b[:, i] - np.uint8(ord("0"))  # wraps round above 9 for a non-digit
        shape &= d[i] <= 9
    year = (d[0].astype(np.int32) * 1000 + d[1].astype(np.int32) * 100
            + d[2].astype(np.int32) * 10 + d[3])
    month = d[5].astype(np.int32) * 10 + d[6]
    day = d[8].astype(np.int32) * 10 + d[9]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    length = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[
        np.clip(month, 0, 12)] + (leap & (month == 2))
    ok = shape & (month >= 1) & (month <= 12) & (day >= 1) & (day <= length) \
        & (year >= YEAR_RANGE[0]) & (year <= YEAR_RANGE[1])
    stamp = (year[ok] - 1970).astype("datetime64[Y]").astype("datetime64[M]") \
        + (month[ok] - 1).astype("timedelta64[M]")
    where = np.flatnonzero(sel)[ok]
    days[where] = (stamp.astype("datetime64[D]") + (day[ok] - 1).astype("timedelta64[D]"))
    done[where] = True
    return days, done


_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})


def _date_trouble(text: str) -> tuple[str, str]:
    """What is wrong with a cell that is not a date, and how to write it."""
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: .*)?", text)
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?", text)
    if m or iso:
        if m:
            day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        elif iso:
            year, month, day = int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
        if m and month > 12 and 1 <= day <= 12:
            return (f"not a valid date: month {month}? dates are read day first "
                    "(DD/MM/YYYY)",
                    f"if this is month {day}, day {month}, write {month:02d}/{day:02d}/{year} "
                    f"or {year}-{day:02d}-{month:02d}")
        if not 1 <= month <= 12:
            return f"not a valid date: there is no month {month}", DATE_HINT
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            name = calendar.month_name[month]
            if month == 2 and day == 29:
                return ("not a valid date: 29 February does not exist that year (not a leap "
                        "year)", "check the day and the year")
            return (f"not a valid date: {day} {name} does not exist ({name} has {last} days)",
                    "check the day and the month")
    words = re.fullmatch(r"([A-Za-z]+)[ ,.-]*(\d{4})", text.strip())
    if words and words.group(1).lower() in _MONTHS:
        return ("not a valid date: a month and year without a day",
                "write the full date of the day (YYYY-MM-DD or DD/MM/YYYY); if only the "
                "month is known, record it as the 1st and note it in your return")
    return "not a valid date", DATE_HINT


def _as_object(text: pd.Series, keep: np.ndarray) -> pd.Series:
    """Text cells as an object column, missing where ``keep`` is false.

    The column is factorised (a dictionary encoding, done by Arrow for Arrow-backed
    text) and each distinct text is made a Python string once: millions of cells then
    share a few thousand string objects, which is much faster and smaller than one
    object per cell.
    """
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    words = np.append(np.asarray(uniques, dtype=object), np.nan)
    values = words[codes]  # code -1 (a missing cell) takes the appended NaN
    values[~keep] = np.nan
    return pd.Series(values, index=text.index, dtype=object)


def _arrow(text: pd.Series):
    """The cells of ``text`` as a pyarrow array (no copy for Arrow-backed text)."""
    import pyarrow as pa

    arr = pa.array(text.array) if hasattr(text.array, "__arrow_array__") else pa.array(
        text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _to_float(text: pd.Series, todo: np.ndarray, numeric_like: np.ndarray) -> pd.Series:
    """Numbers of the cells in ``todo`` (NaN elsewhere and where not a number).

    When every given cell is written as a plain decimal number (the usual case), Arrow
    converts the text (correctly rounded, as Python's ``float`` does); otherwise, or if
    Arrow refuses a value, pandas' ``to_numeric`` reads the column.
    """
    if (numeric_like | ~todo).all():
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            arr = pc.if_else(pa.array(todo), _arrow(text), pa.scalar(None, pa.string()))
            num = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            if np.isfinite(num[todo]).all():
                return pd.Series(num, index=text.index, dtype="float64")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    num = pd.to_numeric(text.where(todo, ""), errors="coerce").astype("float64")
    return num.where(todo)


def parse_column(
    text: pd.Series,
    spec: Mapping,
    label: str,
    codes: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Parsed:
    """Parse one column of stripped text cells according to its schema ``spec``.

    Parameters
    ----------
    text : Series of str
        Cell text with surrounding white space removed ("" = empty).
    spec : mapping
        The column's schema entry (``type``, ``nullable``, ``min``, ``max``).
    label : str
        Column name, used in messages.
    codes, labels : for ``type: code``, the valid codes and code -> label.
    """
    kind = spec["type"]
    nullable = bool(spec.get("nullable", False))
    out = Parsed(values=text)
    blank = _missing(text, nullable, label, out)
    todo = ~blank
    if kind in ("id", "text"):
        out.values = _as_object(text, todo)
        if spec.get("charset") == "code":
            bad = todo & ~text.str.fullmatch(CODE_CHARS).fillna(False).to_numpy(dtype=bool)
            if bad.any():
                out.errors.append((bad, f"{label} may hold only letters, digits and _ - . "
                                        "(no spaces or other signs)",
                                   "write the code with letters, digits, _ - or . only, "
                                   "e.g. LA_001, in every table that uses it"))
    elif kind == "code":
        valid = list(codes or [])
        ok = text.isin(valid).to_numpy()
        if (ok | blank).all():  # the usual case: every code as in the codebook
            out.values = _as_object(text, todo)
            return out
        lookup = code_lookup(valid, labels or {})
        odd = pd.unique(text[todo & ~ok])
        found = {v: lookup.get(code_key(v), set()) for v in odd}
        mapped = text.map(lambda v: next(iter(found[v])) if len(found.get(v, ())) == 1
                          else None)
        fixable = todo & ~ok & mapped.notna().to_numpy()
        values = text.where(ok, mapped).where(todo)
        for v in odd:
            if len(found[v]) == 1:
                code = next(iter(found[v]))
                out.warnings.append(((text == v).to_numpy() & todo,
                                     f"'{v}' was read as its code {code}",
                                     "write the code exactly as in the codebook"))
        bad = todo & ~ok & ~fixable
        if bad.any():
            shown = ", ".join(valid[:15]) + (", ..." if len(valid) > 15 else "")
            hint = (f"use one of: {shown}" if valid else
                    f"no {label} code is valid: the list of valid codes is empty")
            for v in odd:
                if len(found[v]) == 1:
                    continue
                mask = (text == v).to_numpy() & todo
                if len(found[v]) > 1:
                    out.errors.append((mask, f"unknown {label} code; it could be any of "
                                       + ", ".join(sorted(found[v])), hint))
                    continue
                close = difflib.get_close_matches(code_key(v), list(lookup), n=1, cutoff=0.75)
                guess = sorted(lookup[close[0]])[0] if close else None
                problem = f"unknown {label} code" + (f"; did you mean {guess}?" if guess else "")
                out.errors.append((mask, problem, hint))
        out.values = values.astype(object)
    elif kind in ("integer", "number"):
        # "1e400" and "inf" are numbers of a sort, but not usable values (and pandas
        # versions differ on whether "1e400" parses to inf or fails)
        numeric_like = text.str.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
        numeric_like = numeric_like.to_numpy(dtype=bool, na_value=False)
        num = _to_float(text, todo, numeric_like)
        notnum = todo & num.isna().to_numpy() & ~numeric_like
        huge = todo & ~notnum & ~(num.abs() <= MAX_NUMBER).to_numpy()
        if notnum.any():
            what = "a whole number" if kind == "integer" else "a number"
            out.errors.append((notnum, f"text in a numeric column: expected {what}",
                               f"write {label} as digits only (e.g. 3), or leave the cell "
                               "empty if it is not known"))
        if huge.any():
            out.errors.append((huge, "the number is too large to be a valid value",
                               f"check the value of {label}"))
        num = num.where(~huge)
        if kind == "integer":
            frac = (num.notna() & (num % 1 != 0)).to_numpy()
            if frac.any():
                out.errors.append((frac, "expected a whole number",
                                   f"write {label} without a fractional part"))
            num = num.where(~frac)
        lo, hi = spec.get("min"), spec.get("max")
        if lo is not None or hi is not None:
            lo_v = -np.inf if lo is None else lo
            hi_v = np.inf if hi is None else hi
            out_of = (num.notna() & ~num.between(lo_v, hi_v)).to_numpy()
            if out_of.any():
                out.errors.append((out_of, f"{label} is outside the valid range {lo}..{hi}",
                                   f"check the value; valid values run from {lo} to {hi}"))
            num = num.where(~out_of)
        if kind == "integer":
            out.values = num.round().astype("Int64")
        else:
            out.values = num.astype("float64")
    elif kind == "date":
        out.values = _parse_dates(text, blank, out)
    elif kind == "boolean":
        low = text.str.lower()
        is_true, is_false = low.isin(_TRUE).to_numpy(), low.isin(_FALSE).to_numpy()
        bad = todo & ~is_true & ~is_false
        if bad.any():
            out.errors.append((bad, "expected yes or no",
                               "write yes or no (or 1 / 0, true / false)"))
        vals = pd.Series(pd.NA, index=text.index, dtype="boolean")
        vals[is_true & todo] = True
        vals[is_false & todo] = False
        out.values = vals
    else:  # pragma: no cover - schema.yaml is part of the package
        raise ValueError(f"unknown column type {kind!r} in schema")
    return out
