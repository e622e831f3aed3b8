"""Import a delivered file (one row per parent) into a standard dataset, by a mapping.

Survey agencies and providers deliver one wide file -- CSV, XLSX or SPSS -- with one
row per parent: labels rather than codes, dates as DD/MM/YYYY, an outcome column, a
count of sessions attended and the questionnaire items of every wave as columns
(``sdq1_t1 ... sdq25_t1``, ``phq9_1_t2`` ...). :func:`import_delivery` turns such a
file into the tables of the data model (``las``, ``parents``, ``responses`` ...)
following an import mapping (:mod:`rpc_eval.data.mapping`), and can write them as a
dataset folder that :func:`rpc_eval.data.load`, ``rpc-eval validate`` and ``rpc-eval
run`` read unchanged.

Nothing is dropped silently. Every cell that cannot be mapped (a label missing from
the mapping, a date not in the mapping's format, an answer outside an item's codes) is
reported with the file, row, column, value and reason; a row with a bad parent-level
value is excluded whole (with its questionnaire answers), a bad answer excludes that
answer only. The import log reconciles: rows read = rows kept + rows excluded for
parents, and item cells read = answers kept + answers excluded for responses. Every
column of the delivery the mapping does not use is listed as a warning.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rpc_eval.data.arrow_csv import write_answers_csv, write_csv
from rpc_eval.data.codebooks import Codebook, load_codebooks
from rpc_eval.data.mapping import (
    DATE_FORMATS,
    IMPORTED_TABLES,
    ColumnMap,
    DeliveryMapping,
    MappingError,
    load_mapping,
)
from rpc_eval.data.model import (
    DTYPES,
    RECONCILIATION_COLUMNS,
    TABLES,
    EvaluationData,
    IntakeLog,
    empty_table,
    schema,
)
from rpc_eval.data.parse import MISSING_MARKERS, parse_column
from rpc_eval.data.readers import RawTable, read_table_file, read_workbook
from rpc_eval.errors import PROBLEM_COLUMNS, DataValidationError, Problem, problems_frame
from rpc_eval.instruments import Registry, default_registry
from rpc_eval.safe_text import neutralise_frame

__all__ = ["ImportResult", "import_delivery", "LOG_FOLDER"]

#: Folder of the written dataset that holds the import log (not read as a table).
LOG_FOLDER = "import_log"
_ISO = r"\d{4}-\d{1,2}-\d{1,2}"


@dataclass
class ImportResult:
    """What :func:`import_delivery` made of a delivery.

    Attributes
    ----------
    tables : dict of DataFrame
        Table name -> typed table (schema columns and dtypes) for every table of the
        data model; tables the delivery does not feed are empty.
    log : IntakeLog
        ``problems`` (``table, file, row, column, value, severity, problem, hint``; row
        = row of the delivery as a spreadsheet shows it), ``tables`` (reconciliation:
        ``rows_read = rows_kept + rows_excluded`` for ``parents`` and, counted in item
        cells, ``responses``) and ``excluded`` (one row per excluded row or answer).
    mapping : DeliveryMapping
    out : Path or None
        The dataset folder written, if any.
    """

    log: IntakeLog
    mapping: DeliveryMapping
    out: Path | None = None
    codebooks: dict[str, Codebook] = field(default_factory=dict, repr=False)
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _answers: dict | None = field(default=None, repr=False)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        # the long responses table (millions of rows at national scale) is built when
        # first asked for: writing a CSV dataset does not need it
        if self._answers is not None:
            self._tables["responses"] = _responses_frame(self._answers)
            self._answers = None
        return self._tables

    def summary(self) -> str:
        return self.log.summary()

    def __repr__(self) -> str:
        return self.summary()

    def evaluation_data(self) -> EvaluationData:
        """The imported tables as an :class:`EvaluationData` (not yet checked by intake)."""
        return EvaluationData(**self.tables, intake_log=self.log)

    def load(self, **kwargs) -> EvaluationData:
        """Read the written dataset back through :func:`rpc_eval.data.load` (every intake
        check), writing it to a temporary folder first when no ``out`` was given."""
        from rpc_eval.data.intake import load
        from rpc_eval.data.write import write

        if self.out is not None:
            return load(self.out, **kwargs)
        with tempfile.TemporaryDirectory() as tmp:
            write(self.evaluation_data(), tmp)
            return load(tmp, **kwargs)


def _to_dates(text: pd.Series, fmt: str) -> pd.Series:
    """Dates written in the mapping's format; ISO dates (YYYY-MM-DD, as Excel and SPSS
    date cells are read) are accepted too, being unambiguous. NaT where neither fits."""
    date_part = text.str.split(" ").str[0]
    parsed = pd.to_datetime(date_part, format=fmt, errors="coerce")
    iso = text.str.fullmatch(_ISO + r"(?:[ T]00:00(?::00)?)?").fillna(False).astype(bool)
    if iso.any():
        parsed = parsed.where(parsed.notna() | ~iso,
                              pd.to_datetime(date_part.where(iso), format="%Y-%m-%d",
                                             errors="coerce"))
    return parsed.astype("datetime64[ns]")


def _responses_frame(answers: dict) -> pd.DataFrame:
    """The responses table (schema columns and dtypes) from :meth:`_Importer.responses`."""
    combos = pd.DataFrame(answers["combos"] or None,
                          columns=["respondent", "instrument", "wave", "item"])
    c = answers["combo"]
    out = {"parent_id": answers["parent_id"].to_numpy(dtype=object)[answers["row"]]}
    for col in combos.columns:
        out[col] = combos[col].to_numpy(dtype=object)[c]
    out["value"] = answers["value"]
    out["completed_date"] = answers["date"]
    frame = pd.DataFrame(out)
    return frame.astype({col: DTYPES[s["type"]]
                         for col, s in schema()["responses"]["columns"].items()})


class _Log:
    """Problems and exclusions of one import, located in the delivery."""

    def __init__(self, file: str, rows: np.ndarray) -> None:
        self.file, self.rows = file, rows
        self.chunks: list[pd.DataFrame] = []
        self.excluded: list[pd.DataFrame] = []

    def add(self, table: str, rows, column, values, severity: str, problem, hint: str) -> None:
        self.chunks.append(pd.DataFrame({
            "table": table, "file": self.file, "row": rows, "column": column,
            "value": values, "severity": severity, "problem": problem, "hint": hint}))

    def cells(self, table: str, idx: np.ndarray, column: str, values, problem: str,
              hint: str) -> None:
        """One error per cell (``idx`` = positions in the delivery)."""
        if not len(idx):
            return
        rows = self.rows[idx]
        self.add(table, rows, column, np.asarray(values, dtype=object), "error", problem, hint)
        self.excluded.append(pd.DataFrame({"table": table, "file": self.file, "row": rows,
                                           "reason": f"{column}: {problem}"}))

    def note(self, table: str, column: str | None, severity: str, problem: str, hint: str,
             row=None, value="") -> None:
        self.add(table, [row], column, [value], severity, problem, hint)

    def frame(self) -> pd.DataFrame:
        dtypes = {**{c: object for c in PROBLEM_COLUMNS}, "row": "Int64"}
        parts = [c.reindex(columns=PROBLEM_COLUMNS).astype(dtypes) for c in self.chunks if len(c)]
        if not parts:
            return problems_frame([])
        return pd.concat(parts, ignore_index=True)

    def excluded_frame(self) -> pd.DataFrame:
        if not self.excluded:
            return pd.DataFrame({"table": pd.Series(dtype=object), "file": pd.Series(dtype=object),
                                 "row": pd.Series(dtype="int64"), "reason": pd.Series(dtype=object)})
        return pd.concat(self.excluded, ignore_index=True).astype({"row": "int64"})


def _read_delivery(path: Path, sheet: str | None) -> RawTable:
    """The delivery as raw text cells, read by the package's own readers."""
    if not path.is_file():
        raise DataValidationError([Problem("", str(path), None, None, None, "no such file",
                                           "give the path of the delivered file")],
                                  f"{path.name}: cannot be imported")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".sav"):
        raw = read_table_file(path, "delivery")
    elif suffix in (".xlsx", ".xlsm"):
        raw = _read_sheet(path, sheet)
    else:
        raise DataValidationError([Problem("", path.name, None, None, None,
                                           f"{suffix or 'a file without extension'} files are "
                                           "not read", "save the delivery as CSV (UTF-8), an "
                                           "Excel workbook (.xlsx) or an SPSS .sav file")],
                                  f"{path.name}: cannot be imported")
    if not raw.usable:
        raise DataValidationError(raw.problems, f"{path.name}: cannot be imported")
    return raw


def _read_sheet(path: Path, sheet: str | None) -> RawTable:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True)
            titles = list(wb.sheetnames)
            wb.close()
    except Exception as exc:  # a damaged file fails in many ways (zip, zlib, XML ...)
        raise DataValidationError([Problem("", path.name, None, None, None,
                                           f"the file cannot be read as an Excel workbook ({exc})",
                                           "open it in Excel and save it again as .xlsx")],
                                  f"{path.name}: cannot be imported") from None
    if sheet is None:
        title = titles[0]
        if len(titles) > 1:
            extra = [Problem("", path.name, None, None, None,
                             f"the workbook has {len(titles)} sheets; only the first, "
                             f"'{title}', was read", "name the sheet to read with 'sheet:' in "
                             "the mapping", "warning")]
        else:
            extra = []
    else:
        match = [t for t in titles if t.strip().lower() == sheet.strip().lower()]
        if not match:
            raise DataValidationError([Problem("", path.name, None, None, None,
                                               f"the workbook has no sheet '{sheet}'",
                                               "sheets are " + ", ".join(titles))],
                                      f"{path.name}: cannot be imported")
        title, extra = match[0], []
    key = title.strip().lower().replace(" ", "_").replace("-", "_")
    raws, problems = read_workbook(path, [key])
    raw = raws[key]
    raw.problems = extra + [p for p in problems if p.severity != "info"] + raw.problems
    return raw


class _Importer:
    def __init__(self, raw: RawTable, mapping: DeliveryMapping, books: dict[str, Codebook],
                 registry: Registry) -> None:
        self.raw, self.m, self.books, self.registry = raw, mapping, books, registry
        frame = raw.frame
        self.frame = frame
        self.columns = list(frame.columns)
        self.by_name = {str(c).strip(): c for c in self.columns}
        # a row is blank when every cell is empty or white space
        nonblank = np.zeros(len(frame), bool)
        for c in self.columns:
            if nonblank.all():
                break
            v = frame[c].to_numpy(dtype=object)
            cand = (v != "") & ~nonblank
            if cand.any():
                real = (pd.Series(v[cand], dtype=object).str.strip() != "").to_numpy()
                nonblank[np.flatnonzero(cand)[real]] = True
        self.nonblank = nonblank
        self.blank_rows = int((~nonblank).sum())
        self._factors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.n = int(nonblank.sum())
        self.log = _Log(raw.file, raw.rows[nonblank])
        self.missing = set(mapping.missing_values)
        self.used: set[str] = set()
        self.bad = np.zeros(self.n, bool)

    # -- columns -----------------------------------------------------------------------
    def _where(self, line: int | None) -> str:
        return self.m.where(line)

    def column(self, name: str, line: int | None) -> str:
        """The delivery's column called ``name``; a MappingError naming the line if none."""
        if name in self.by_name:
            self.used.add(self.by_name[name])
            return self.by_name[name]
        close = difflib.get_close_matches(name, list(self.by_name), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise MappingError(f"{self._where(line)}: the delivery ({self.raw.file}) has no column "
                           f"'{name}'{hint}")

    def factor(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        """A delivery column as codes (one per row) into its distinct cell texts, stripped,
        with the mapping's missing values as "" (work is done once per distinct text)."""
        if col not in self._factors:
            s = self.frame[col]
            if self.blank_rows:
                s = s[self.nonblank]
            codes, uniq = pd.factorize(s, use_na_sentinel=False)
            text = np.array([str(u).strip() for u in uniq], dtype=object)
            if self.missing and len(text):
                text[np.isin(text, list(self.missing))] = ""
            self._factors[col] = (np.asarray(codes), text)
        return self._factors[col]

    def cells(self, col: str) -> np.ndarray:
        """Stripped text of a delivery column; the mapping's missing values as ""."""
        codes, text = self.factor(col)
        return text[codes]

    # -- one column of a table ---------------------------------------------------------
    def feed(self, cm: ColumnMap, spec: dict) -> tuple[pd.Series, np.ndarray]:
        """Typed values of one table column and the rows it makes bad."""
        if cm.value is not None:
            text = np.full(self.n, cm.value, dtype=object)
            label = f"{cm.table}.{cm.target}"
        else:
            assert cm.column is not None  # a column map has a column or a value
            label = self.column(cm.column, cm.line)
            text = self.cells(label)
        bad = np.zeros(self.n, bool)
        series = pd.Series(text, dtype="str")
        kind = spec["type"]
        codes = labels = None
        if kind == "code":
            book = self.books[spec["codebook"]]
            codes, labels = book.codes, book.labels()
            if cm.labels is not None:
                series, bad = self._labels(series, cm, book, label)
        elif kind == "date":
            series, bad = self._dates(series, label, cm.table)
        # a string column (not object): parse_column writes into its own copy of it
        parsed = parse_column(series.astype("str"), spec, label, codes, labels)
        for mask, problem, hint in parsed.errors:
            mask = np.asarray(mask, bool) & ~bad
            idx = np.flatnonzero(mask)
            self.log.cells(cm.table, idx, label, text[idx], problem, hint)
            bad = bad | mask
        for mask, problem, hint in parsed.warnings:
            idx = np.flatnonzero(mask)
            if len(idx):
                first = int(self.log.rows[idx[0]])
                count = f" ({len(idx):,} cells; first at row {first})" if len(idx) > 1 else ""
                self.log.note(cm.table, label, "warning", problem + count, hint, first,
                              text[idx[0]])
        return parsed.values.reset_index(drop=True).astype(DTYPES[kind]), bad

    def _labels(self, series: pd.Series, cm: ColumnMap, book: Codebook, label: str
                ) -> tuple[pd.Series, np.ndarray]:
        if cm.labels == "codebook":
            lookup = {str(lab).strip().lower(): code for code, lab in book.labels().items()}
            where = f"the labels of the {book.name} codebook"
        else:
            assert isinstance(cm.labels, dict)  # called only for maps with labels
            lookup = {k.strip().lower(): v for k, v in cm.labels.items()}
            where = f"the labels given at {self._where(cm.line)}"
        for code in book.codes:
            lookup.setdefault(code.lower(), code)
        low = series.str.lower()
        mapped = low.map(lookup)
        blank = (series == "") | series.isin(MISSING_MARKERS)
        bad = (mapped.isna() & ~blank).to_numpy()
        idx = np.flatnonzero(bad)
        if len(idx):
            shown = ", ".join(f"'{k}'" for k in list(cm.labels)[:8]) if isinstance(
                cm.labels, dict) else ", ".join(f"'{v}'" for v in book.labels().values())
            self.log.cells(cm.table, idx, label, series.to_numpy()[idx],
                           f"label not found in {where}",
                           f"labels are {shown}; add the label to the mapping "
                           f"({self._where(cm.line)}) with the code it stands for")
        return mapped.where(~blank, series).fillna("").astype(object), bad

    def _dates(self, series: pd.Series, label: str, table: str
               ) -> tuple[pd.Series, np.ndarray]:
        fmt = DATE_FORMATS[self.m.date_format]
        todo = ~((series == "") | series.isin(MISSING_MARKERS)).to_numpy()
        if not todo.any():
            return series, np.zeros(self.n, bool)
        sub = series[todo]
        parsed = _to_dates(sub, fmt)
        out = series.copy()
        ok = parsed.notna().to_numpy()
        out.loc[sub.index[ok]] = parsed[ok].dt.strftime("%Y-%m-%d").to_numpy()
        bad = np.zeros(self.n, bool)
        bad[np.flatnonzero(todo)[~ok]] = True
        idx = np.flatnonzero(bad)
        self.log.cells(table, idx, label, series.to_numpy()[idx],
                       f"not a date in the mapping's date format ({self.m.date_format})",
                       f"write the date as {self.m.date_format}, or change date_format in "
                       f"{self._where(self.m.lines.get('date_format'))}")
        return out, bad

    # -- tables ------------------------------------------------------------------------
    def table(self, table: str) -> pd.DataFrame:
        spec = schema()[table]["columns"]
        cols = {}
        for col, cspec in spec.items():
            cm = self.m.tables[table].get(col)
            if cm is None:
                dtype = DTYPES[cspec["type"]]
                cols[col] = pd.Series(np.nan if dtype == "object" else pd.NA,
                                      index=range(self.n), dtype=dtype)
                continue
            values, bad = self.feed(cm, cspec)
            cols[col] = values
            self.bad |= bad
        return pd.DataFrame(cols)

    def lookup_table(self, table: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Distinct rows of a table fed by every delivery row (``las``): rows that give
        one key different values are excluded, each reported."""
        key = schema()[table]["key"]
        live = ~self.bad
        sub = frame.loc[live]
        distinct = sub.drop_duplicates()
        clash = distinct[key[0]].duplicated(keep=False)
        if clash.any():
            keys = set(distinct.loc[clash, key[0]])
            rows = live & frame[key[0]].isin(keys).to_numpy()
            idx = np.flatnonzero(rows)
            cm = self.m.tables[table][key[0]]
            col = cm.column or key[0]
            self.log.cells(table, idx, col, frame[key[0]].to_numpy()[idx],
                           f"this {key[0]} has different {table} details on other rows",
                           f"give every row of one {key[0]} the same values in the columns "
                           f"mapped to the {table} table")
            self.bad |= rows
            distinct = distinct.loc[~distinct[key[0]].isin(keys)]
        return distinct

    # -- questionnaires ----------------------------------------------------------------
    def responses(self) -> dict:
        """Every questionnaire answered (any item cell not blank), as arrays: ``row``
        (position of the parent's row), ``combo`` (index into ``combos``: respondent,
        instrument, wave, item), ``value`` and ``date``; plus the reconciliation."""
        m = self.m
        rows, combo, values, dates = [], [], [], []
        combos: list[tuple[str, str, str, str]] = []
        read = kept = excluded = 0
        fmt = DATE_FORMATS[m.date_format]
        for inst in m.instruments:
            definition = self.registry.get(inst.name)
            found_any = False
            for suffix, wave in m.waves.items():
                cols, items = [], []
                for item, pattern, _line in inst.items:
                    name = pattern.format(wave=suffix)
                    if name in self.by_name:
                        cols.append(self.by_name[name])
                        items.append(item)
                if not cols:
                    continue
                found_any = True
                self.used.update(cols)
                value, blank, bad = self._item_values(definition, items, cols)
                present = ~blank.all(axis=1)
                k = len(cols)
                read += int(present.sum()) * k
                gone = present & self.bad
                excluded += int(gone.sum()) * k
                present &= ~self.bad
                date, date_bad = self._completed_dates(inst, suffix, present, fmt)
                excluded += int(date_bad.sum()) * k
                present &= ~date_bad
                idx = np.flatnonzero(present)
                ok = ~bad[idx]
                self._report_items(definition, items, cols, bad, idx)
                kept += int(ok.sum())
                excluded += int((~ok).sum())
                first = len(combos)
                combos.extend((inst.respondent, inst.name, wave, item) for item in items)
                r, c = np.nonzero(ok)
                rows.append(idx[r])
                combo.append(first + c)
                values.append(value[idx][r, c])
                dates.append(date[idx][r])
            if not found_any:
                example = inst.items[0][1].format(wave=next(iter(m.waves)))
                line = inst.pattern_line or inst.items[0][2]
                raise MappingError(f"{self._where(line)}: no column of the delivery "
                                   f"({self.raw.file}) matches the item columns of "
                                   f"{inst.name} (looked for e.g. '{example}')")
            no_column = [(i, pat, ln) for i, pat, ln in inst.items
                         if not any(pat.format(wave=sfx) in self.by_name for sfx in m.waves)]
            if no_column:
                names = ", ".join(i for i, _, _ in no_column[:6]) + (
                    f" and {len(no_column) - 6} more" if len(no_column) > 6 else "")
                looked = no_column[0][1].format(wave=next(iter(m.waves)))
                self.log.note("responses", None, "warning",
                              f"{len(no_column)} item(s) of {inst.name} have no column in the "
                              f"delivery at any wave and were not imported: {names} (looked "
                              f"for e.g. '{looked}')",
                              f"check the item columns of {inst.name} at "
                              f"{self._where(no_column[0][2])}")

        def cat(parts, dtype):
            return np.concatenate(parts) if parts else np.zeros(0, dtype)

        recon = {"table": "responses", "file": self.raw.file + " (item cells)",
                 "rows_read": read, "rows_kept": kept, "rows_excluded": excluded,
                 "blank_rows_ignored": 0}
        return {"row": cat(rows, "int64"), "combo": cat(combo, "int64"),
                "value": cat(values, "float64"), "date": cat(dates, "datetime64[ns]"),
                "combos": combos, "recon": recon}

    def _completed_dates(self, inst, suffix: str, present: np.ndarray, fmt: str
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Completed date of each row's questionnaire (NaT when the mapping gives no date
        column) and a mask of answered questionnaires whose date cannot be read
        (reported)."""
        none = np.zeros(self.n, bool)
        nat = np.full(self.n, np.datetime64("NaT"), dtype="datetime64[ns]")
        if inst.completed_date is None:
            return nat, none
        name = inst.completed_date.format(wave=suffix)
        if name not in self.by_name:
            return nat, none
        col = self.by_name[name]
        self.used.add(col)
        codes, text = self.factor(col)
        uniq = pd.Series(text, dtype=object)
        given_u = ~((uniq == "") | uniq.isin(MISSING_MARKERS)).to_numpy()
        parsed_u = _to_dates(uniq, fmt).to_numpy(dtype="datetime64[ns]")
        bad = (given_u & np.isnat(parsed_u))[codes] & present
        idx = np.flatnonzero(bad)
        self.log.cells("responses", idx, col, text[codes[idx]],
                       f"not a date in the mapping's date format ({self.m.date_format}); the "
                       f"{inst.name} answers of this wave were not imported",
                       f"write the date as {self.m.date_format}")
        return parsed_u[codes], bad

    def _item_values(self, definition, items: list[str], cols: list[str]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Numeric answers (NaN = blank), blank cells and cells that are not a valid
        answer (codes or the definition's response labels), each rows x items."""
        spec = definition.spec
        base_labels = (spec.get("responses") or {}).get("labels") or {}
        shape = (self.n, len(items))
        value, blank, bad = np.empty(shape), np.empty(shape, bool), np.empty(shape, bool)
        for j, (item, col) in enumerate(zip(items, cols, strict=True)):
            lo, hi = definition.valid_range(item)
            whole = definition.item_integer(item)
            labels = ((spec.get("item_responses") or {}).get(item) or {}).get("labels") \
                or base_labels
            lookup = {str(lab).strip().lower(): float(code) for code, lab in labels.items()}
            codes, text = self.factor(col)
            num = np.array(pd.to_numeric(pd.Series(text, dtype=object), errors="coerce"),
                           dtype=float)
            for u in np.flatnonzero(np.isnan(num) & (text != "")):
                num[u] = lookup.get(text[u].lower(), np.nan)
            blank_u = text == ""
            with np.errstate(invalid="ignore"):
                bad_u = ~blank_u & (np.isnan(num) | (num < lo) | (num > hi)
                                    | ((num % 1 != 0) if whole else False))
            value[:, j], blank[:, j], bad[:, j] = num[codes], blank_u[codes], bad_u[codes]
        return value, blank, bad

    def _report_items(self, definition, items, cols, bad, idx) -> None:
        spec = definition.spec
        base_labels = (spec.get("responses") or {}).get("labels") or {}
        sub = bad[idx]
        for j in np.flatnonzero(sub.any(axis=0)):
            item, col = items[j], cols[j]
            lo, hi = definition.valid_range(item)
            whole = definition.item_integer(item)
            labels = ((spec.get("item_responses") or {}).get(item) or {}).get("labels") \
                or base_labels
            where = idx[sub[:, j]]
            shown = "; ".join(f"{k} = {v}" for k, v in list(labels.items())[:6])
            self.log.cells("responses", where, col, self.cells(col)[where],
                           f"not a valid answer to item {item} of {definition.name} "
                           f"({'whole numbers ' if whole else ''}{lo:g} to {hi:g}"
                           + (" or their labels" if labels else "") + ")",
                           "check the value; leave the cell empty (or use a missing-value "
                           "code listed under missing_values in the mapping) if the item "
                           "was not answered" + (f". Codes: {shown}" if shown else ""))

    # -- the whole delivery ------------------------------------------------------------
    def check_parent_ids(self, parents: pd.DataFrame) -> None:
        """One row per parent: of rows that are exact copies the first is kept; rows
        sharing a parent_id with different values are all excluded (neither can be
        trusted), as intake does, with the delivery's rows named."""
        ids = parents["parent_id"]
        live = np.flatnonzero(~self.bad & ids.notna().to_numpy())
        dup = ids.iloc[live].duplicated(keep=False).to_numpy()
        if not dup.any():
            return
        pos = live[dup]
        raw = self.frame.iloc[np.flatnonzero(self.nonblank)[pos]].astype(str)
        whole = pd.Series(["\x1f".join(r) for r in raw.itertuples(index=False, name=None)])
        col = self.m.tables["parents"]["parent_id"].column or "parent_id"
        rows = self.log.rows[pos]
        copy = whole.duplicated(keep="first").to_numpy()
        if copy.any():
            first = pd.Series(rows).groupby(whole).transform("first").to_numpy()
            for i in np.flatnonzero(copy):
                self.log.cells("parents", pos[[i]], col, [ids.iloc[pos[i]]],
                               f"row is an exact copy of row {first[i]}",
                               "delete the repeated row")
            self.bad[pos[copy]] = True
        rest = pos[~copy]
        clash = ids.iloc[rest].duplicated(keep=False).to_numpy()
        if clash.any():
            where = rest[clash]
            groups = pd.Series(self.log.rows[where]).groupby(
                ids.iloc[where].to_numpy()).transform(lambda r: ", ".join(map(str, r)))
            for i, text in zip(where, groups, strict=True):
                self.log.cells("parents", np.array([i]), col, [ids.iloc[i]],
                               f"parent_id is not unique: rows {text} share it with "
                               "different values",
                               "keep one row per parent and correct or delete the others")
            self.bad[where] = True

    def run(self) -> tuple[dict[str, pd.DataFrame], list[dict]]:
        frames = {t: self.table(t) for t in IMPORTED_TABLES if t in self.m.tables}
        self.check_parent_ids(frames["parents"])
        lookups = {}
        for t in ("las", "interventions"):
            if t in frames:
                lookups[t] = self.lookup_table(t, frames[t])
        parents = frames["parents"]
        self.answers = self.responses() if self.m.instruments else None
        r_recon = self.answers["recon"] if self.answers else None
        if self.answers:
            self.answers["parent_id"] = parents["parent_id"]
        self._unmapped()
        kept = parents.loc[~self.bad].reset_index(drop=True)
        tables = {t: empty_table(t) for t in TABLES}
        tables["parents"] = kept
        for t, frame in lookups.items():
            tables[t] = frame.sort_values(schema()[t]["key"]).reset_index(drop=True)
        recon = [{"table": "parents", "file": self.raw.file, "rows_read": self.n,
                  "rows_kept": len(kept), "rows_excluded": int(self.bad.sum()),
                  "blank_rows_ignored": self.blank_rows}]
        if r_recon:
            recon.append(r_recon)
        return tables, recon

    def _unmapped(self) -> None:
        ignore = {s.strip() for s in self.m.ignore}
        for name in self.columns:
            if name in self.used or str(name).strip() in ignore:
                continue
            self.log.note("", name, "warning",
                          f"column '{name}' is not in the mapping and was not read",
                          f"map it to a column of the data model in {self.m.path.name}, or "
                          "list it under 'ignore' if it is not needed",
                          self.raw.header_row)
        for name in ignore:
            if name not in self.by_name:
                self.log.note("", name, "info", f"'{name}' is listed under ignore but the "
                              "delivery has no such column", "")


def import_delivery(
    path: str | Path,
    mapping: str | Path | DeliveryMapping,
    out: str | Path | None = None,
    *,
    format: str = "csv",
    overwrite: bool = False,
    registry: Registry | None = None,
) -> ImportResult:
    """Import a delivered file (one row per parent) into the tables of the data model.

    Parameters
    ----------
    path : path-like
        The delivery: a ``.csv``, ``.xlsx`` (the first sheet, or the mapping's
        ``sheet``) or ``.sav`` file with one row per parent.
    mapping : path-like or DeliveryMapping
        The import mapping (YAML; see ``docs/deliveries.md``).
    out : path-like, optional
        Folder to write the dataset to (one file per table, as
        :func:`rpc_eval.data.write`) with the import log in ``out/import_log/``
        (``problems.csv``, ``reconciliation.csv``, ``excluded.csv`` and a copy of the
        mapping). The folder must not already hold a dataset unless ``overwrite``.
    format : {"csv", "xlsx", "sav"}
        Format of the written tables.
    overwrite : bool
        Replace the table files of a dataset already in ``out``.
    registry : Registry, optional
        Questionnaire definitions (default: the package's).

    Returns
    -------
    ImportResult
        ``tables`` (typed, schema columns), ``log`` (problems located in the delivery
        and the reconciliation), ``out``; ``.load()`` reads the written dataset back
        through every intake check.

    Raises
    ------
    MappingError
        The mapping is malformed or names a column the delivery does not have (the
        message gives the mapping's line).
    DataValidationError
        The delivery cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from rpc_eval.synthetic.wide import write_wide
    >>> from rpc_eval.synthetic import generate
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> data, _ = generate("small", seed=1)
    >>> delivery = write_wide(data, folder / "delivery.csv")
    >>> res = import_delivery(delivery, "docs/examples/wide_delivery_mapping.yaml")
    >>> len(res.tables["parents"]), res.log.reconciles(), res.log.n_errors
    (600, True, 0)
    """
    m = mapping if isinstance(mapping, DeliveryMapping) else load_mapping(mapping,
                                                                          registry=registry)
    registry = registry if registry is not None else default_registry()
    books = dict(load_codebooks())
    p = Path(path)
    raw = _read_delivery(p, m.sheet)
    imp = _Importer(raw, m, books, registry)
    for prob in raw.problems:
        imp.log.note(prob.table or "", prob.column, prob.severity, prob.problem, prob.hint,
                     prob.row, prob.value or "")
    if raw.problems and any(pr.severity == "error" and pr.row is not None for pr in raw.problems):
        flagged = [pr.row for pr in raw.problems if pr.severity == "error" and pr.row is not None]
        hit = np.isin(imp.log.rows, flagged)
        imp.bad |= hit
        imp.log.excluded.append(pd.DataFrame({"table": "parents", "file": raw.file,
                                              "row": imp.log.rows[hit],
                                              "reason": "the row could not be read whole"}))
    tables, recon = imp.run()
    problems = imp.log.frame()
    order = {"": 0, "las": 1, "interventions": 2, "parents": 3, "responses": 4}
    problems = (problems.assign(_t=problems["table"].map(order).fillna(5))
                .sort_values(["_t", "row"], kind="stable", na_position="first")
                .drop(columns="_t").reset_index(drop=True))
    log = IntakeLog(problems=problems,
                    tables=pd.DataFrame(recon, columns=RECONCILIATION_COLUMNS),
                    excluded=imp.log.excluded_frame(), source=str(p))
    result = ImportResult(log, m, None, books, tables, imp.answers)
    if out is not None:
        result.out = _write(result, Path(out), format, overwrite)
    return result


def _write(result: ImportResult, out: Path, format: str, overwrite: bool) -> Path:
    from rpc_eval.data.write import write

    existing = []
    if out.is_dir():
        stems = set(TABLES) | {"dataset"}
        existing = [f for f in out.iterdir() if f.is_file()
                    and f.suffix.lower() in (".csv", ".sav", ".xlsx")
                    and f.stem.strip().lower() in stems]
    if existing and not overwrite:
        raise MappingError(
            f"{out} already holds a dataset ({', '.join(sorted(f.name for f in existing))}); "
            "give an empty or new folder, or ask to overwrite it (--overwrite)")
    for f in existing:
        f.unlink()
    if format == "csv":
        out.mkdir(parents=True, exist_ok=True)
        answers = result._answers
        tables = result._tables
        for t in TABLES:
            if t == "responses" and answers is not None:
                if len(answers["row"]):
                    write_answers_csv(answers, out / "responses.csv")
            elif len(tables[t]) or schema()[t]["required"]:
                write_csv(tables[t], t, out / f"{t}.csv")
    else:
        data = result.evaluation_data()
        names = [t for t in TABLES if len(data.table(t)) or schema()[t]["required"]]
        write(data, out, format=format, tables=names)
    logdir = out / LOG_FOLDER
    logdir.mkdir(exist_ok=True)
    neutralise_frame(result.log.problems).to_csv(logdir / "problems.csv", index=False)
    result.log.tables.to_csv(logdir / "reconciliation.csv", index=False)
    neutralise_frame(result.log.excluded).to_csv(logdir / "excluded.csv", index=False)
    shutil.copyfile(result.mapping.path, logdir / "mapping.yaml")
    (logdir / "summary.txt").write_text(result.log.summary() + "\n", encoding="utf-8")
    return out
