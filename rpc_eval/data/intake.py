"""``load``: read an evaluation dataset, check every cell and row, and keep a log.

What is checked, table by table (the rules are documented in docs/data-model.md):

1. the table's file or sheet is present and readable (required tables: las, parents);
2. every required column is present (a misspelled name gets the closest match);
3. every cell parses as its column's type and code list (all problems at once);
4. row rules: dates not in the future and in order (referral <= start <= exit),
   exit reasons consistent with dates, attendance within the parent's episode,
   questionnaire items belonging to their instrument with values in range,
   training questions asked at their wave, planning-tool responses valid;
5. keys are unique (exact copies of a row are dropped as copies; conflicting rows
   sharing a key are all excluded, since neither can be trusted);
6. references resolve (a parent's LA exists, a response's parent exists ...); rows
   that refer to an excluded row are excluded with that reason.

Problems that make a whole table unusable (missing file, missing column, unreadable
file) raise :class:`~rpc_eval.errors.DataValidationError` listing every problem found.
Row problems exclude the row and are logged; the log reconciles per table:
rows read = rows kept + rows excluded.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rpc_eval.data.cache import ENV as CACHE_ENV
from rpc_eval.data.cells import Cells
from rpc_eval.data.codebooks import Codebook, CodebookError, check_yaml_file, load_codebooks
from rpc_eval.data.model import (
    DTYPES,
    RECONCILIATION_COLUMNS,
    TABLES,
    EvaluationData,
    IntakeLog,
    empty_table,
    schema,
)
from rpc_eval.data.parse import code_key, parse_column
from rpc_eval.data.pseudonymise import ID_COLUMNS, Pseudonymiser
from rpc_eval.data.questionnaires import QUESTIONNAIRES, questionnaires_to_responses
from rpc_eval.data.readers import (
    RawTable,
    is_id_column,
    locate_tables,
    normalise_name,
    read_table_file,
    read_workbook,
)
from rpc_eval.data.xlsx import MAX_CELL_CHARS
from rpc_eval.errors import (
    PROBLEM_COLUMNS,
    DataQualityWarning,
    DataValidationError,
    Problem,
    RpcEvalError,
    problems_frame,
)
from rpc_eval.instruments import InstrumentDefinitionError, Registry, default_registry

__all__ = ["load", "check"]

#: Order in which tables are checked: a table comes after the tables it refers to.
ORDER = ("las", "interventions", "parents", "attendance", "responses", "practitioners",
         "training_responses", "planning_tool")


#: Unread columns holding data listed one by one up to this many (then one line).
MAX_COLUMNS_LISTED = 20
#: Longest value accepted in an id, code or date column.
MAX_KEY_CHARS = 200


def _norm(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is empty or white space (one pass over the cells)."""
    if not len(frame.columns):
        return np.zeros(len(frame), bool)
    if len(frame.columns) <= 200:
        cat = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
        if any(not _blank_words(frame[c])[:-1].any() and frame[c].array.codes.min() >= 0
               for c in cat if len(frame)):
            return np.zeros(len(frame), bool)  # a column with no blank cell: no blank row
        blank = np.ones(len(frame), bool)
        for name in frame.columns:
            blank &= _blank_cells(frame[name])
        return blank
    joined = pd.Series(["".join(r) for r in frame.to_numpy(dtype=object)], dtype=object)
    return joined.str.strip().eq("").to_numpy()


def _blank_cells(column: pd.Series) -> np.ndarray:
    """Cells that are empty or white space (a Categorical column: decided once per
    distinct text)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # code -1 (missing) takes the appended True
        return _blank_words(column)[np.asarray(column.array.codes)]
    return column.str.strip().eq("").to_numpy(dtype=bool)


def _blank_words(column: pd.Series) -> np.ndarray:
    """Of a Categorical column: which categories are empty or white space, and True
    appended (for a missing cell)."""
    cats = column.array.categories
    return np.append(pd.Series(np.asarray(cats, dtype=object), dtype="str").str.strip()
                     .eq("").to_numpy(dtype=bool), True)


def _spread_any(cells: Cells, per_word: np.ndarray) -> np.ndarray:
    """A mask per word as a mask per cell (no pass over the cells when no word is in it)."""
    if not per_word.any():
        return np.zeros(len(cells), bool)
    return cells.spread(per_word)


def _one(n: int, i: int) -> np.ndarray:
    mask = np.zeros(n, bool)
    mask[i] = True
    return mask


def _short(cells: Cells, limit: int = 60) -> Cells:
    """Cell text cut for a problem list (a swallowed row can be thousands of characters)."""
    text = cells.series()
    long = text.str.len() > limit
    if not long.any():
        return cells
    return cells.map_words(text.where(~long, text.str.slice(0, limit) + "...").to_numpy(
        dtype=object))


def _words_agree(a: str, b: str) -> bool:
    """True when every word of one name has a close counterpart in the other: a typing
    slip ('parent_agee'), not a different meaning ('sessions_attended')."""
    wa, wb = [w for w in a.split("_") if w], [w for w in b.split("_") if w]
    if not wa or not wb:
        return False

    def covered(xs, ys):
        return all(any(x == y or (len(x) > 2 and difflib.SequenceMatcher(None, x, y).ratio()
                                  >= 0.75) for y in ys) for x in xs)
    return covered(wa, wb) and covered(wb, wa)


def _suggest_columns(missing: list[str], extras: list[str]) -> dict[str, str]:
    """Missing schema column -> the unread column probably meant, best pairs first (so
    'parent_agee' goes to parent_age, not to parent_sex which comes earlier). Only the
    first few hundred unread columns are compared (a file of many columns costs nothing
    per column beyond that)."""
    pairs = []
    for j, e in enumerate(extras[:500]):
        key = normalise_name(e)
        for i, col in enumerate(missing):
            sm = difflib.SequenceMatcher(None, col, key)
            if sm.real_quick_ratio() < 0.6 or sm.quick_ratio() < 0.6:
                continue
            ratio = sm.ratio()
            if ratio >= 0.6 and _words_agree(col, key):
                pairs.append((ratio, i, j))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    suggestion: dict[str, str] = {}
    used: set[int] = set()
    for _ratio, i, j in pairs:
        if missing[i] not in suggestion and j not in used:
            suggestion[missing[i]] = extras[j]
            used.add(j)
    return suggestion


def _closest_meaning(name: str, columns: list[str]) -> str | None:
    close = [c for c in difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
             if _words_agree(c, name)]
    return close[0] if close else None


def _concat_problems(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Problem frames stacked, with the same dtypes whatever they hold (text columns as
    object, ``row`` as Int64), so pandas never has to guess from empty or all-NA parts."""
    dtypes = {**{c: object for c in PROBLEM_COLUMNS}, "row": "Int64"}
    parts = [f.reindex(columns=PROBLEM_COLUMNS).astype(dtypes) for f in frames if len(f)]
    if not parts:
        return problems_frame([])
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


class _TableCheck:
    """Checks of one raw table; accumulates problems and excluded rows."""

    def __init__(self, raw: RawTable, spec: Mapping) -> None:
        self.raw, self.spec, self.table, self.file = raw, spec, raw.table, raw.file
        self.problem_chunks: list[pd.DataFrame] = []
        self.reasons: list[tuple[np.ndarray, str | np.ndarray]] = []
        frame = raw.frame
        blank = _blank_rows(frame)
        # a row the reader flagged (values beyond the last column, a merged or error
        # cell) is not blank
        flagged = [p.row for p in raw.problems if p.row is not None and p.severity == "error"]
        blank = blank & ~np.isin(raw.rows, flagged)
        self.blank_rows = int(blank.sum())
        if self.blank_rows:
            first = int(raw.rows[blank][0])
            self._chunk(np.array([first]), None, [""], "info",
                        f"{self.blank_rows} blank row(s) were ignored (first at row {first})", "")
        # every column as read; only the columns of the data model are stripped and
        # checked (match_columns), so unread columns cost one pass to see if they hold data
        self.frame = frame.loc[~blank].reset_index(drop=True) if blank.any() else frame
        #: file column -> its cells (stripped), once the columns are matched
        self.cells: dict[str, Cells] = {}
        #: schema column -> its typed value per word of its cells (while ``typed`` holds
        #: those values spread to the rows)
        self.word_values: dict[str, pd.Series] = {}
        self.rows = raw.rows[~blank]
        self.n = len(self.frame)
        if self.n == 0:
            self._chunk([None], None, [""], "warning",
                        "the file has column names but no rows of data",
                        "add the data below the header row, or remove the file if this "
                        "table is not collected")
        self.bad = np.zeros(self.n, bool)
        self.typed = pd.DataFrame(index=range(self.n))
        self.columns: dict[str, str] = {}  # schema column -> column name in the file
        self.failed: dict[str, np.ndarray] = {}  # column -> cells given but not readable
        self.reader_problems: list[Problem] = []
        #: file column -> cells the reader already reported (merged, formula, error)
        self.flagged: dict[str, np.ndarray] = {}

    def apply_reader_problems(self) -> None:
        """Exclude the rows the reader found a problem in (values beyond the last column,
        merged, formula or error cells); a problem in a column that is not read does not
        exclude its row and becomes a warning."""
        read = set(self.columns.values())
        for p in self.raw.problems:
            if (p.row is not None and p.severity == "error" and p.column is not None
                    and p.column in self.frame.columns and p.column not in read):
                p = replace(p, severity="warning",
                            problem=p.problem + f" (column '{p.column}' is not read)")
            if p.row is not None and p.severity == "error":
                hit = np.flatnonzero(self.rows == p.row)
                self.bad[hit] = True
                self.reasons.append((hit, p.problem))
                if p.column in read:
                    cell = self.flagged.setdefault(p.column, np.zeros(self.n, bool))
                    cell[hit] = True
            self.reader_problems.append(p)

    # -- recording -------------------------------------------------------------------
    def _chunk(self, rows, column, values, severity, problem, hint) -> None:
        self.problem_chunks.append(pd.DataFrame({
            "table": self.table, "file": self.file, "row": rows, "column": column,
            "value": values, "severity": severity, "problem": problem, "hint": hint,
        }))

    def error(self, mask: np.ndarray, column: str, problem: str | np.ndarray, hint: str,
              values: pd.Series | np.ndarray | Cells | None = None) -> None:
        """Exclude the rows in ``mask`` and log one problem per row.

        ``problem`` is one text for all rows, or an array with a text per row of the table.
        """
        mask = np.asarray(mask, bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        src = self.columns.get(column)
        if values is None:
            vals = self.cells[src].text(idx) if src else np.full(len(idx), "")
        elif isinstance(values, Cells):
            vals = values.text(idx)
        else:
            vals = np.asarray(pd.Series(values).astype(object).to_numpy())[idx]
        text = problem if isinstance(problem, str) else np.asarray(problem, dtype=object)[idx]
        self._chunk(self.rows[idx], src or column, vals, "error", text, hint)
        self.bad[idx] = True
        self.reasons.append((idx, (src or column) + ": " + text if isinstance(text, str)
                             else np.char.add(f"{src or column}: ", text.astype(str))))

    def warn(self, mask: np.ndarray, column: str, problem: str, hint: str) -> None:
        """Log one warning for all the cells in ``mask`` (count and first row)."""
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        src = self.columns.get(column, column)
        first = int(self.rows[idx[0]])
        value = self.cells[src].text(idx[:1])[0] if src in self.cells else ""
        text = problem if len(idx) == 1 else f"{problem} ({len(idx):,} cells; first at row {first})"
        self._chunk(np.array([first]), src, [value], "warning", text, hint)

    def fatal(self, column: str | None, problem: str, hint: str) -> Problem:
        return Problem(self.table, self.file, None, column, None, problem, hint, "error")

    # -- steps -----------------------------------------------------------------------
    def match_columns(self) -> list[Problem]:
        """Map schema columns to file columns; fatal problems for missing required ones.

        Names match ignoring capitals, spaces and punctuation, and the schema's synonyms
        are read as their column (``Date of referral`` is ``referral_date``), each
        reported as ``info``. A missing column gets the closest unread column as a
        suggestion, never one whose name differs in a word of meaning
        (``sessions_attended`` is not suggested for ``sessions_planned``). Unread columns
        that hold data are warnings naming the closest column of the table.
        """
        cols = self.spec["columns"]
        lookup: dict[str, str] = {}
        for col in cols:  # a column's own name wins over another column's synonym
            lookup[normalise_name(col)] = col
        for col, colspec in cols.items():
            for name in colspec.get("synonyms", []):
                lookup.setdefault(normalise_name(name), col)
        present: dict[str, str] = {}
        extras: list[str] = []
        fatal: list[Problem] = []
        for name in self.frame.columns:
            key = lookup.get(normalise_name(name))
            if key is not None and key in present:  # 'parent_id' and 'Parent ID'
                fatal.append(self.fatal(
                    key, f"columns '{present[key]}' and '{name}' are both read as '{key}'",
                    "keep one of them, or rename the other"))
            elif key is not None:
                present[key] = name
                if name != key:
                    self._chunk([self.raw.header_row], name, [""], "info",
                                f"column '{name}' was read as '{key}'", "")
            else:
                extras.append(name)
        missing = [col for col in cols if col not in present]
        suggestion = _suggest_columns(missing, extras)
        used = set(suggestion.values())
        for col in missing:
            colspec = cols[col]
            original = suggestion.get(col)
            if colspec["required"]:
                hint = (f"rename column '{original}' to '{col}'" if original
                        else f"add a column named '{col}'")
                fatal.append(self.fatal(col, f"required column '{col}' is missing", hint))
            elif original:
                self._chunk([self.raw.header_row], original, [""], "warning",
                            f"column '{original}' was not read; did you mean '{col}'?",
                            f"rename it to '{col}' if it holds that information")
        self.columns = present
        self._unread(
            [e for e in extras if e not in used],
            [c for c in missing if c not in suggestion])
        self.cells = {name: Cells.of(self.frame[name]) for name in present.values()}
        return fatal

    def _unread(self, extras: list[str], missing: list[str]) -> None:
        """Report the columns not read: a warning for those holding data (with the
        closest missing column, if any), info for empty ones; many are one line each."""
        if not extras:
            return
        sub = self.frame[extras]
        filled = (sub.to_numpy(dtype=object) != "").any(axis=0) if self.n else \
            np.zeros(len(extras), bool)
        holding = [e for e, f in zip(extras, filled, strict=True) if f]
        empty = [e for e, f in zip(extras, filled, strict=True) if not f]
        cols = ", ".join(self.spec["columns"])
        row = [self.raw.header_row]
        if len(holding) > MAX_COLUMNS_LISTED:
            shown = ", ".join(f"'{e}'" for e in holding[:5])
            self._chunk(row, holding[0], [""], "warning",
                        f"{len(holding):,} columns hold data but are not part of the "
                        f"{self.table} table and were not read (first: {shown})",
                        "delete the columns that are not needed; columns are " + cols)
        else:
            for name in holding:
                close = _closest_meaning(normalise_name(name), missing)
                ask = f": is it {close}?" if close else ""
                self._chunk(row, name, [""], "warning",
                            f"column '{name}' holds data but is not part of the {self.table} "
                            f"table and was not read{ask}",
                            (f"rename it to '{close}' if it holds that information" if close
                             else "columns are " + cols + "; keep it if it is a working "
                             "column such as notes"))
        if len(empty) > MAX_COLUMNS_LISTED:
            self._chunk(row, empty[0], [""], "info",
                        f"{len(empty):,} empty columns are not part of the {self.table} table "
                        "and were not read", "")
        else:
            for name in empty:
                self._chunk(row, name, [""], "info",
                            f"column '{name}' is empty and not part of the {self.table} table",
                            "")

    def check_values(self) -> None:
        """Values no id, code or date can hold: several lines (a stray quote in a CSV
        file swallowed the rows after it) or more text than a cell holds."""
        for col, src in self.columns.items():
            kind = self.spec["columns"][col]["type"]
            cells = self.cells[src]
            words = cells.series()
            if kind in ("id", "code", "date"):
                multi = (_spread_any(cells, (words.str.contains("\n", regex=False)
                                             | words.str.contains("\r", regex=False))
                                     .to_numpy())
                         if self.raw.may_span_lines else np.zeros(self.n, bool))
                long = _spread_any(cells, (words.str.len() > MAX_KEY_CHARS).to_numpy())
                for i in np.flatnonzero(multi):
                    cell = cells.text(np.array([i]))[0]
                    n = cell.count("\n") + cell.replace("\r\n", "\n").count("\r")
                    self.error(_one(self.n, int(i)), col,
                               f"the value runs over {n + 1} lines of the file: a quote mark "
                               f"(\") opens in this cell and closes {n} line(s) later (or "
                               "never), so the rows in between were read into this one cell",
                               "remove the stray quote mark from this cell (or close it) and "
                               "save the file again; then check the rows after it",
                               values=_short(cells))
                self.error(long & ~multi, col,
                           f"the value is {MAX_KEY_CHARS}+ characters long, too long for "
                           f"{col}", "check the cell; a quote mark may be missing or stray",
                           values=_short(cells) if long.any() else None)
            else:
                long = _spread_any(cells, (words.str.len() > MAX_CELL_CHARS).to_numpy())
                self.error(long, col, f"the value is longer than {MAX_CELL_CHARS:,} characters",
                           "shorten the text", values=_short(cells) if long.any() else None)
                if self.raw.may_span_lines:
                    self._swallowed_rows(col, cells)

    def _swallowed_rows(self, col: str, cells: Cells) -> None:
        """A text cell whose later lines look like rows of the file (as many separators as
        the header has): a stray quote swallowed them. Line breaks in notes are fine."""
        width = len(self.frame.columns)
        if width < 3:
            return
        words = cells.series()
        multi = np.flatnonzero(cells.spread((words.str.contains("\n", regex=False)
                                             | words.str.contains("\r", regex=False))
                                            .to_numpy()))
        for i in multi:
            lines = cells.text(np.array([i]))[0].replace("\r\n", "\n").replace("\r", "\n").split("\n")
            rows = sum(max(line.count(","), line.count(";"), line.count("\t")) >= width - 1
                       for line in lines[1:])
            if rows:
                self.error(_one(self.n, int(i)), col,
                           f"the value runs over {len(lines)} lines of the file and {rows} of "
                           "them look like rows of the table: a quote mark (\") opens in this "
                           "cell and closes later (or never), so those rows were read into "
                           "this one cell",
                           "remove the stray quote mark from this cell (or close it) and save "
                           "the file again; then check the rows after it", values=_short(cells))

    def parse(self, books: Mapping[str, Codebook], code_override: Mapping[str, list[str]]) -> None:
        """Parse every column into ``self.typed`` (schema order, schema dtypes)."""
        for col, colspec in self.spec["columns"].items():
            if col not in self.columns:
                # an optional column not in the file: all missing, as blank cells would be
                # (NaN in text columns, <NA> / NaT in typed ones)
                dtype = DTYPES[colspec["type"]]
                self.typed[col] = pd.Series(np.nan if dtype == "object" else pd.NA,
                                            index=range(self.n), dtype=dtype)
                continue
            cells = self.cells[self.columns[col]]
            codes: Any = None
            labels: Any = None
            if colspec["type"] == "code":
                name = colspec["codebook"]
                if name in code_override:
                    codes, labels = code_override[name], {}
                else:
                    codes, labels = books[name].codes, books[name].labels()
            # every check of a cell depends on its text alone: each distinct text is
            # parsed once and its value and problems carried to its cells
            parsed = parse_column(cells.series(), colspec, col, codes, labels)
            failed = np.zeros(self.n, bool)
            seen = self.flagged.get(self.columns[col])
            given = cells.spread(cells.words != "") if parsed.errors else None
            for mask, problem, hint in parsed.errors:
                mask = _spread_any(cells, np.asarray(mask, bool))
                if seen is not None:  # already reported by the reader, once is enough
                    mask = mask & ~seen
                self.error(mask, col, problem, hint)
                failed |= mask & given
            self.failed[col] = failed
            for mask, problem, hint in parsed.warnings:
                self.warn(cells.spread(np.asarray(mask, bool)), col, problem, hint)
            per_word = parsed.values.reset_index(drop=True).astype(DTYPES[colspec["type"]])
            self.word_values[col] = per_word
            self.typed[col] = cells.spread(per_word)

    def not_future(self, columns: Iterable[str], today: pd.Timestamp) -> None:
        for col in columns:
            future = (self.typed[col] > today).fillna(False).to_numpy()
            self.error(future, col, "date is in the future",
                       "check the date; the year or the day and month may be swapped")

    def check_keys(self) -> None:
        """Exact copies: keep the first. Conflicting rows sharing a key: exclude all.

        Rows equal in every cell are equal in the key, so whole rows are compared only
        among the rows whose key is shared (on national data: none, or a handful).
        """
        key = list(self.spec.get("key", []))
        if not key or not all(k in self.columns for k in key):
            return
        live = ~self.bad
        if not live.any():
            return
        live_idx = np.flatnonzero(live)
        key_ids = self._key_ids(key, live_idx)
        # sorting finds whether any key repeats (files are mostly in key order, which a
        # stable sort takes in one pass); only then are the rows sharing one found
        ordered = np.sort(key_ids, kind="stable")
        if not (ordered[1:] == ordered[:-1]).any():
            return
        del ordered
        shared = pd.Series(key_ids).duplicated(keep=False).to_numpy()
        if not shared.any():
            return
        cand = live_idx[shared]
        sub = pd.DataFrame({src: self.cells[src].text(cand) for src in self.columns.values()},
                           index=cand)
        whole_row = _whole_row_ids(self.frame.iloc[cand].set_axis(cand), sub)
        copies_local = pd.Series(whole_row).duplicated(keep="first").to_numpy()
        copies = np.zeros(self.n, bool)
        copies[cand[copies_local]] = True
        if copies.any():
            text = np.full(self.n, "", dtype=object)
            text[cand] = self._first_rows(sub, whole_row)
            self.error(copies, key[0], text, "delete the repeated row")
        still = ~self.bad[live_idx]
        live_idx, key_ids = live_idx[still], key_ids[still]
        dup_local = pd.Series(key_ids).duplicated(keep=False).to_numpy()
        if dup_local.any():
            dup_idx = live_idx[dup_local]
            keys = self.typed.iloc[dup_idx][key].astype(str)
            dup = np.zeros(self.n, bool)
            dup[dup_idx] = True
            rows_of = pd.Series(self.rows[dup_idx], index=keys.index)
            groups = rows_of.groupby([keys[c] for c in key]).transform(
                lambda r: ", ".join(map(str, r)))
            vals = np.full(self.n, "", dtype=object)
            vals[dup_idx] = self.cells[self.columns[key[0]]].text(dup_idx)
            label = " + ".join(key)
            text = np.full(self.n, "", dtype=object)
            text[dup_idx] = (f"{label} is not unique: rows "
                             + groups.astype(str).to_numpy()
                             + " share it with different values")
            self.error(dup, key[0], text,
                       f"keep one row per {label} and correct or delete the others", values=vals)

    def _key_ids(self, key: list[str], idx: np.ndarray) -> np.ndarray:
        """One integer per row ``idx``, equal for rows equal in the typed ``key`` columns
        (missing equals missing). A typed value depends only on its cell's text, so the
        typed values of the distinct texts are numbered and each cell takes its text's
        number; the columns' numbers are folded together arithmetically (re-numbered
        only when the product of the numbers of values would overflow)."""
        combined = np.zeros(len(idx), dtype=np.int64)
        size = 1
        every = len(idx) == self.n  # all rows, in order
        for col in key:
            cells = self.cells[self.columns[col]]
            numbers, uniques = pd.factorize(self.word_values[col], use_na_sentinel=False)
            k = len(uniques) + 1
            if size * k >= 2**62:
                combined, seen = pd.factorize(combined)
                combined, size = combined.astype(np.int64), len(seen)
            combined *= k
            combined += np.asarray(numbers, dtype=np.int64)[
                cells.codes if every else cells.codes[idx]]
            size *= k
        return combined

    def _first_rows(self, sub: pd.DataFrame, row_ids: np.ndarray) -> np.ndarray:
        """For each row of ``sub``: the spreadsheet row of the first identical row (as text)."""
        rows = pd.Series(self.rows[sub.index.to_numpy()], index=sub.index)
        first = rows.groupby(row_ids, sort=False).transform("first")
        return ("row is an exact copy of row " + first.astype(str)).to_numpy()

    def check_reference(self, column: str, valid: pd.Index, excluded: Mapping[str, int],
                        target: str) -> None:
        """Rows whose ``column`` is not a kept key of table ``target`` are excluded.

        Decided once per distinct text of the column (its typed value) and carried to
        its cells."""
        if column not in self.columns:
            return
        cells = self.cells[self.columns[column]]
        values = self.word_values[column]
        ok = values.isin(valid).to_numpy() | values.isna().to_numpy()
        if not ok.all():
            values = self._match_loosely(column, cells, values, ok, valid, excluded, target)
            ok = values.isin(valid).to_numpy() | values.isna().to_numpy()
        was_excluded = values.isin(pd.Index(list(excluded))).to_numpy() & ~ok
        unknown = ~ok & ~was_excluded
        self.error(cells.spread(unknown), column, f"{column} is not in the {target} table",
                   f"add it to the {target} table or correct the value")
        if was_excluded.any():
            rows = values.map(excluded).to_numpy()
            text = np.array([f"refers to {target} row {int(r)}, which was excluded"
                             if pd.notna(r) else "" for r in rows],
                            dtype=object)
            self.error(cells.spread(was_excluded), column, cells.spread(text),
                       f"fix the problems reported for that row of the {target} table")

    def _match_loosely(self, column: str, cells: Cells, values: pd.Series, ok: np.ndarray,
                       valid: pd.Index, excluded: Mapping[str, int], target: str) -> pd.Series:
        """Values that match exactly one key of ``target`` ignoring capitals, spaces and
        punctuation ('la007' -> 'LA007') are read as that key, with a warning.
        ``values``: the typed value of each word of ``cells``; returned so changed."""
        keys = list(valid) + list(excluded)
        loose: dict[str, set[str]] = {}
        for k in keys:
            loose.setdefault(code_key(k), set()).add(k)
        todo = ~ok & ~values.isin(pd.Index(list(excluded))).to_numpy()
        mapped = values[todo].map(lambda v: loose.get(code_key(v), set()))
        unique = mapped.map(len) == 1
        if not unique.any():
            return values
        values = values.copy()
        idx = mapped.index[unique.to_numpy()]
        new = mapped[unique].map(lambda m: next(iter(m)))
        mask = np.zeros(len(values), bool)
        mask[idx.to_numpy()] = True
        if column in ID_COLUMNS:
            said = "values were read as the identifiers they match"
        else:
            # words are in order of first appearance: the pairs are as the rows give them
            pairs = pd.DataFrame({"old": values[idx], "to": new}).drop_duplicates()
            said = "values were read as they are written there: " + ", ".join(
                f"'{a}' as {b}" for a, b in pairs.head(3).itertuples(index=False)) + (
                ", ..." if len(pairs) > 3 else "")
            said = f"{said};"
        self.warn(cells.spread(mask), column, f"{column} written with other capitals, spaces "
                  f"or punctuation than in the {target} table: {said.rstrip(';')}",
                  f"write {column} exactly as in the {target} table")
        values.loc[idx] = new
        self.word_values[column] = values
        self.typed[column] = cells.spread(values)
        return values

    def kept(self) -> pd.DataFrame:
        """The typed rows kept (the typed table itself when no row is excluded: a copy
        of a national table would cost its size again)."""
        return self.typed.loc[~self.bad].reset_index(drop=True) if self.bad.any() \
            else self.typed

    def release_text(self) -> None:
        """Let go of the cell text once every check of the table is done (the typed
        table, the problems and the excluded rows are all that is left to report)."""
        self.frame = self.cells = self.word_values = self.raw.frame = None  # type: ignore[assignment]  # released: not read again

    def result(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
        kept = self.kept()
        problems = _concat_problems([problems_frame(self.reader_problems), *self.problem_chunks])
        if self.reasons:
            idx = np.concatenate([i for i, _ in self.reasons])
            why = np.concatenate([np.full(len(i), r, dtype=object) if isinstance(r, str)
                                  else np.asarray(r, dtype=object) for i, r in self.reasons])
            ex = pd.DataFrame({"i": idx, "reason": why}).drop_duplicates()
            ex = ex.groupby("i", sort=True)["reason"].agg("; ".join).reset_index()
            excluded = pd.DataFrame({"table": self.table, "file": self.file,
                                     "row": self.rows[ex["i"].to_numpy()],
                                     "reason": ex["reason"].to_numpy()})
        else:
            excluded = pd.DataFrame(columns=["table", "file", "row", "reason"])
        recon = {"table": self.table, "file": self.file, "rows_read": self.n,
                 "rows_kept": int((~self.bad).sum()), "rows_excluded": int(self.bad.sum()),
                 "blank_rows_ignored": self.blank_rows}
        return kept, problems, excluded, recon


def _whole_row_ids(frame: pd.DataFrame, stripped: pd.DataFrame) -> np.ndarray:
    """One integer per row, equal for rows equal in every column (cell text stripped;
    ``stripped`` holds the columns already stripped)."""
    if len(frame.columns) <= 200:
        cols = {c: stripped[c] if c in stripped.columns else frame[c].str.strip()
                for c in frame.columns}
        return _row_ids(pd.DataFrame(cols, index=frame.index), list(frame.columns))
    joined = ["\x1f".join(v.strip() for v in r) for r in frame.to_numpy(dtype=object)]
    return pd.factorize(pd.Series(joined, dtype=object))[0].astype(np.int64)


def _row_ids(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """One integer per row, equal for rows equal in ``cols`` (missing equals missing),
    numbered in order of first appearance.

    Each column is factorised once and the codes are folded together arithmetically
    (re-numbered only when the product of the numbers of values would overflow): much
    faster on millions of rows than hashing tuples of strings.
    """
    combined = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for col in cols:
        codes, uniques = pd.factorize(frame[col], use_na_sentinel=False)
        k = len(uniques) + 1
        if size * k >= 2**62:
            combined, seen = pd.factorize(combined)
            combined, size = combined.astype(np.int64), len(seen)
        combined = combined * k + codes
        size *= k
    return pd.factorize(combined)[0].astype(np.int64)


# ------------------------------------------------------------------------------------
# table rules
# ------------------------------------------------------------------------------------
def _parents_rules(c: _TableCheck, today: pd.Timestamp) -> None:
    t = c.typed
    c.not_future(["referral_date", "start_date", "exit_date"], today)
    start_early = (t["start_date"] < t["referral_date"]).fillna(False).to_numpy()
    c.error(start_early, "start_date", "start date is before the referral date",
            "check both dates; a parent starts on or after being referred")
    exit_early = (t["exit_date"] < t["start_date"]).fillna(False).to_numpy()
    c.error(exit_early, "exit_date", "exit date is before the start date",
            "check both dates; the exit date is the last session or the date the parent left")
    exit_before_ref = (t["exit_date"] < t["referral_date"]).fillna(False).to_numpy() & ~exit_early
    c.error(exit_before_ref, "exit_date", "exit date is before the referral date",
            "check both dates")
    reason = t["exit_reason"]
    # a date given but not readable is reported as such; it is not "missing" here
    has_start = t["start_date"].notna().to_numpy() | c.failed.get("start_date", False)
    has_exit = t["exit_date"].notna().to_numpy() | c.failed.get("exit_date", False)
    rule = [
        ((reason == "not_started").to_numpy() & has_start, "start_date",
         "a start date is given but exit_reason is not_started",
         "remove the start date, or set exit_reason to what happened"),
        ((reason == "ongoing").to_numpy() & ~has_start, "start_date",
         "exit_reason is ongoing but there is no start date", "add the date of the first session"),
        ((reason == "ongoing").to_numpy() & has_exit, "exit_date",
         "exit_reason is ongoing but an exit date is given",
         "remove the exit date, or set exit_reason to completed or dropped_out"),
        (reason.isin(["completed", "dropped_out"]).to_numpy() & ~has_start, "start_date",
         "a parent who completed or dropped out needs a start date",
         "add the date of the first session, or set exit_reason to not_started"),
        (reason.isin(["completed", "dropped_out"]).to_numpy() & ~has_exit, "exit_date",
         "a parent who completed or dropped out needs an exit date",
         "add the exit date, or set exit_reason to ongoing"),
    ]
    for mask, col, problem, hint in rule:
        c.error(mask, col, problem, hint)
    _session_count_rules(c, today)


def _session_count_rules(c: _TableCheck, today: pd.Timestamp) -> None:
    """``sessions_attended`` and first/last session dates (data without attendance rows)."""
    t = c.typed
    c.not_future(["first_session_date", "last_session_date"], today)
    count = t["sessions_attended"]
    c.error(((t["exit_reason"] == "not_started") & (count > 0)).fillna(False).to_numpy(),
            "sessions_attended", "sessions are counted as attended but exit_reason is "
            "not_started", "check the count and the exit reason")
    for col, other, cmp, problem in (
            ("first_session_date", "start_date", "lt", "is before the start date"),
            ("last_session_date", "exit_date", "gt", "is after the exit date"),
            ("last_session_date", "first_session_date", "lt",
             "is before the first session date")):
        mask = getattr(t[col], cmp)(t[other]).fillna(False).to_numpy()
        c.error(mask, col, f"{col.replace('_', ' ')} {problem}",
                f"check {col} and {other}")


def _attendance_rules(c: _TableCheck, parents: pd.DataFrame, today: pd.Timestamp) -> None:
    c.not_future(["session_date"], today)
    ep = parents.set_index("parent_id")[["start_date", "exit_date"]]
    t = c.typed
    # looked up once per distinct parent_id text, when the column was parsed from text
    if "parent_id" in c.word_values:
        ids = c.word_values["parent_id"].to_numpy(dtype=object)
        spread = c.cells[c.columns["parent_id"]].spread
    else:
        ids = t["parent_id"].to_numpy(dtype=object)

        def spread(values):
            return values
    # reindex, not map: map fails on an empty parents table (pandas casts to float)
    start = pd.Series(spread(ep["start_date"].reindex(ids).to_numpy()), index=t.index)
    exit_ = pd.Series(spread(ep["exit_date"].reindex(ids).to_numpy()), index=t.index)
    known = spread(pd.Series(ids, dtype=object).isin(ep.index).to_numpy())
    never = known & start.isna().to_numpy()
    c.error(never, "parent_id", "attendance is recorded for a parent with no start date",
            "add the parent's start date in the parents table, or delete these rows")
    before = (t["session_date"] < start).fillna(False).to_numpy()
    c.error(before, "session_date", "session date is before the parent's start date",
            "check the session date and the start date in the parents table")
    after = (t["session_date"] > exit_).fillna(False).to_numpy()
    c.error(after, "session_date", "session date is after the parent's exit date",
            "check the session date and the exit date in the parents table")


def _responses_rules(c: _TableCheck, registry: Registry, today: pd.Timestamp) -> None:
    c.not_future(["completed_date"], today)
    t = c.typed
    items = registry.item_table()
    key = pd.MultiIndex.from_frame(items[["instrument", "item"]])
    idx = _pair_index(c, "instrument", "item", key)
    known_instr = _notna(c, "instrument")
    unknown_item = known_instr & (idx < 0) & _notna(c, "item")
    if unknown_item.any():
        for name in pd.unique(t.loc[unknown_item, "instrument"]):
            mask = unknown_item & (t["instrument"] == name).to_numpy()
            ids = registry.get(name).items
            c.error(mask, "item", f"not an item of instrument {name}",
                    f"items of {name} are {ids[0]} .. {ids[-1]} (see rpc_eval.instruments.get("
                    f"'{name}').items)")
    # the item's range; an unknown item (index -1) takes the appended NaN
    lo_of = np.append(items["min"].to_numpy(dtype=float), np.nan)
    hi_of = np.append(items["max"].to_numpy(dtype=float), np.nan)
    values = c.word_values.get("value")
    if values is not None and (len(items) + 1) * len(values) <= 1 << 22:
        # a function of the item and the value's text: decided once per distinct pair
        vw = values.to_numpy(dtype=float, na_value=np.nan)
        grid = _out_of_range(np.repeat(np.arange(-1, len(items)), len(vw)),
                             np.tile(vw, len(items) + 1), lo_of, hi_of)
        pair = (idx + 1).astype(np.int64) * len(vw)
        pair += c.cells[c.columns["value"]].codes
        out = grid[pair]
    else:
        out = _out_of_range(idx, t["value"].to_numpy(dtype=float, na_value=np.nan),
                            lo_of, hi_of)
    if out.any():
        lo, hi = lo_of[idx], hi_of[idx]
        for lo_v, hi_v in {(a, b) for a, b in zip(lo[out], hi[out], strict=True)}:
            mask = out & (lo == lo_v) & (hi == hi_v)
            c.error(mask, "value",
                    f"value is not a valid response code for this item (whole numbers "
                    f"{lo_v:g} to {hi_v:g})",
                    "check the value against the questionnaire's scoring; leave the cell empty "
                    "if the item was not answered")


def _out_of_range(idx: np.ndarray, v: np.ndarray, lo_of: np.ndarray, hi_of: np.ndarray
                  ) -> np.ndarray:
    """Answers of a known item (``idx`` >= 0) given but not a whole number in its range."""
    lo, hi = lo_of[idx], hi_of[idx]
    has = ~np.isnan(v) & (idx >= 0)
    return has & ((v < lo) | (v > hi) | (v % 1 != 0))


def _notna(c: _TableCheck, col: str) -> np.ndarray:
    """Rows whose typed ``col`` is given (decided once per distinct text)."""
    if col in c.word_values:
        return c.cells[c.columns[col]].spread(c.word_values[col].notna().to_numpy())
    return c.typed[col].notna().to_numpy()


def _pair_index(c: _TableCheck, a: str, b: str, key: pd.MultiIndex) -> np.ndarray:
    """``key.get_indexer`` of the rows' typed (a, b) pairs, looked up once per pair of
    distinct texts (a grid of them when it is small) rather than once per row."""
    if a in c.word_values and b in c.word_values:
        wa, wb = c.word_values[a], c.word_values[b]
        if len(wa) * len(wb) <= 1 << 20:
            ca = c.cells[c.columns[a]].codes.astype(np.int64)
            pair = ca * len(wb) + c.cells[c.columns[b]].codes
            grid = pd.MultiIndex.from_arrays([np.repeat(wa.astype(object).to_numpy(), len(wb)),
                                              np.tile(wb.astype(object).to_numpy(), len(wa))])
            return key.get_indexer(grid)[pair]
    numbers, va, vb = _distinct_pairs(c, a, b)
    return key.get_indexer(pd.MultiIndex.from_arrays([va, vb]))[numbers]


def _distinct_pairs(c: _TableCheck, a: str, b: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs of typed values in the rows, found once per pair of
    distinct texts: a number per row, and the a and b values of each number."""
    if a in c.word_values and b in c.word_values:
        wa = c.word_values[a].astype(object).to_numpy()
        wb = c.word_values[b].astype(object).to_numpy()
        pair = (c.cells[c.columns[a]].codes.astype(np.int64) * len(wb)
                + c.cells[c.columns[b]].codes)
        numbers, seen = pd.factorize(pair)
        return np.asarray(numbers), wa[seen // len(wb)], wb[seen % len(wb)]
    return (np.arange(c.n), c.typed[a].astype(object).to_numpy(),
            c.typed[b].astype(object).to_numpy())


def _answer_labels(c: _TableCheck, registry: Registry) -> None:
    """Answers typed as the instrument's wording of a code ('Somewhat true') are read as
    that code, with a warning, where the instrument's definition gives the labels."""
    need = ("instrument", "item", "value")
    if not all(k in c.columns for k in need):
        return
    value = c.cells[c.columns["value"]]
    words = value.series()
    numeric = words.str.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
    todo = value.spread((words != "").to_numpy()
                        & ~numeric.to_numpy(dtype=bool, na_value=False))
    if not todo.any():
        return
    rows = np.flatnonzero(todo)
    instr = c.cells[c.columns["instrument"]]
    item = c.cells[c.columns["item"]]
    cache: dict[tuple[str, str], dict[str, set[str]]] = {}
    old = value.text(rows)
    new = old.copy()
    hit = np.zeros(len(rows), bool)
    for j, key in enumerate(zip(instr.text(rows), item.text(rows), strict=True)):
        if key not in cache:
            cache[key] = _item_labels(registry, *key)
        codes = cache[key].get(code_key(old[j]), set())
        if len(codes) == 1:
            new[j] = next(iter(codes))
            hit[j] = True
    if not hit.any():
        return
    names = instr.text(rows[hit])
    for name in pd.unique(names):
        first = np.flatnonzero(names == name)[0]
        mask = np.zeros(c.n, bool)
        mask[rows[hit][names == name]] = True
        c.warn(mask, "value", f"answers of {name} written as their wording were read as "
               "their codes (e.g. '" + old[hit][first] + "' as " + new[hit][first] + ")",
               "write the number of the answer, as the questionnaire's scoring does")
    c.cells[c.columns["value"]] = value.replace(rows[hit], new[hit])


def _item_labels(registry: Registry, instrument: str, item: str) -> dict[str, set[str]]:
    """Loose label key -> codes of one item's answers ({} when none are defined)."""
    try:
        inst = registry.get(instrument)
    except Exception:  # an unknown instrument is reported by the code check
        return {}
    spec = getattr(inst, "spec", {}) or {}
    labels = dict((spec.get("responses") or {}).get("labels") or {})
    labels.update(((spec.get("item_responses") or {}).get(item) or {}).get("labels") or {})
    out: dict[str, set[str]] = {}
    for code, label in labels.items():
        out.setdefault(code_key(label), set()).add(str(code))
    out.pop("", None)
    return out


def _training_rules(c: _TableCheck, books: Mapping[str, Codebook]) -> None:
    q = books["training_questions"]
    lo, hi, waves = q.attribute("min"), q.attribute("max"), q.attribute("waves")
    t = c.typed
    v = t["value"].astype("float64")
    qmin, qmax = t["question"].map(lo).astype(float), t["question"].map(hi).astype(float)
    out = (v.notna() & qmin.notna() & ((v < qmin) | (v > qmax))).to_numpy()
    for question in pd.unique(t.loc[out, "question"]):
        mask = out & (t["question"] == question).to_numpy()
        c.error(mask, "value", f"value is outside the valid codes of question {question} "
                f"({lo.get(question, '')} to {hi.get(question, '')})", "check the response code")
    numbers, questions, waves_given = _distinct_pairs(c, "question", "wave")
    asked = np.array([w in waves.get(qq, [w]) if isinstance(qq, str) and isinstance(w, str)
                      else True for qq, w in zip(questions, waves_given, strict=True)],
                     bool)[numbers]
    c.error(~asked, "wave", "this question is not asked at this wave",
            "check the wave and question codes (see the training_questions codebook)")


def _planning_rules(c: _TableCheck, books: Mapping[str, Codebook]) -> None:
    book = books["planning_tool"]
    section, responses = book.attribute("section"), book.attribute("responses")
    t = c.typed
    expected = t["item"].map(section)
    wrong = (expected.notna() & t["section"].notna() & (expected != t["section"])).to_numpy()
    c.error(wrong, "section", "the item belongs to another section",
            "use the section given for the item in the planning_tool codebook")
    # an item without a list of responses (e.g. added by a region) takes any response
    numbers, items, given = _distinct_pairs(c, "item", "response")
    ok = np.array([(r in [str(x) for x in responses[i]]) if i in responses else True
                   for i, r in zip(items, given, strict=True)], bool)[numbers]
    for item in pd.unique(t.loc[~ok, "item"]):
        mask = ~ok & (t["item"] == item).to_numpy()
        c.error(mask, "response", f"not a valid response for item {item}",
                "use one of: " + ", ".join(map(str, responses[item])))


# ------------------------------------------------------------------------------------
def _read_source(path: Path, tables: list[str]) -> tuple[dict[str, RawTable], list[Problem], Path | None]:
    """Raw tables from a folder or workbook, problems found, and the folder for extras."""
    if not path.exists():
        return {}, [Problem("", str(path), None, None, None, "no such file or folder",
                            "check the path; a dataset is a folder of CSV or SPSS files, one per "
                            "table, or one .xlsx workbook with a sheet per table")], None
    if path.is_dir():
        located, problems = locate_tables(path, tables)
        # the tables of the data model as Categorical text (each distinct text once);
        # a wide questionnaire layout as plain text, for its own conversion
        raws = {t: read_table_file(p, t, encoded=t in TABLES) for t, p in located.items()}
        return raws, problems, path
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        raws, problems = read_workbook(path, tables)
        return raws, problems, None
    if suffix in (".csv", ".sav"):
        table = _norm(path.stem)
        if table in tables:
            return {table: read_table_file(path, table, encoded=table in TABLES)}, [], path.parent
    if suffix in (".xls", ".ods"):
        return {}, [Problem("", path.name, None, None, None,
                            f"{suffix} workbooks are not read",
                            "open it in Excel and save it as an Excel Workbook (.xlsx)")], None
    return {}, [Problem("", path.name, None, None, None,
                        "not a dataset: give a folder of table files or an .xlsx workbook",
                        "put one file per table (las.csv, parents.csv ...) in a folder and give "
                        "the folder's path")], None


def load(
    path: str | Path,
    *,
    pseudonymise_key: str | bytes | None = None,
    codebook_dirs: Iterable[str | Path] = (),
    instrument_dirs: Iterable[str | Path] = (),
    errors: str = "exclude",
    today: dt.date | str | None = None,
) -> EvaluationData:
    """Read, validate and type an evaluation dataset.

    Parameters
    ----------
    path : path-like
        A folder holding one file per table (``las.csv``, ``parents.csv`` ... or
        ``.sav``), or one ``.xlsx`` workbook with a sheet per table. A ``codebooks/``
        or ``instruments/`` folder beside the tables extends the package's codebooks
        and questionnaire definitions.
    pseudonymise_key : str or bytes, optional
        If given, ``parent_id``, ``family_id`` and ``practitioner_id`` are replaced by
        keyed HMAC-SHA256 pseudonyms in the tables *and* the intake log.
    codebook_dirs, instrument_dirs : iterable of path-like
        Further folders of codebook or instrument YAML files.
    errors : {"exclude", "raise"}
        ``"exclude"`` (default): rows with problems are excluded and logged, and a
        :class:`~rpc_eval.errors.DataQualityWarning` says how many. ``"raise"``: any
        problem of severity ``error`` raises :class:`~rpc_eval.errors.DataValidationError`.
    today : date, optional
        Dates after this are "in the future" (default: today's date).

    Returns
    -------
    EvaluationData
        Typed tables; ``.intake_log`` holds ``problems`` (``table, file, row, column,
        value, severity, problem, hint``), ``tables`` (``rows_read, rows_kept,
        rows_excluded, blank_rows_ignored`` per table) and ``excluded`` (one row per
        excluded row with its reasons).

    Raises
    ------
    DataValidationError
        When a required table or column is missing or a file cannot be read (with
        every problem found), or with ``errors="raise"`` when any row has a problem.

    Examples
    --------
    >>> import rpc_eval.data as rd, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "las.csv").write_text("la_code,la_name,region\\nLA001,Northtown,north_east\\n")
    >>> _ = (folder / "parents.csv").write_text(
    ...     "parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
    ...     "referral_date,start_date,exit_date,exit_reason\\n"
    ...     "P1,F1,LA001,parents_plus_pws,online,separated,2023-01-05,2023-01-20,,ongoing\\n")
    >>> data = rd.load(folder)
    >>> data.parents.loc[0, "start_date"]
    Timestamp('2023-01-20 00:00:00')
    >>> data.intake_log.reconciles()
    True
    """
    if errors not in ("exclude", "raise"):
        raise RpcEvalError("errors must be 'exclude' or 'raise'")
    path = Path(path)
    today_ts = pd.Timestamp(today if today is not None else dt.date.today()).normalize()
    codebook_dirs, instrument_dirs = list(codebook_dirs), list(instrument_dirs)
    cache = os.environ.get(CACHE_ENV)
    if (cache and pseudonymise_key is None and not codebook_dirs and not instrument_dirs
            and errors == "exclude"):
        from rpc_eval.data.cache import cached_load

        data = cached_load(path, cache, today_ts, lambda: _load(path, None, [], [], errors,
                                                                today_ts))
    else:
        data = _load(path, pseudonymise_key, codebook_dirs, instrument_dirs, errors, today_ts)
    n_excluded = len(data.intake_log.excluded)
    if n_excluded:
        warnings.warn(f"{n_excluded:,} row(s) were excluded from {path.name}; see "
                      ".intake_log.excluded and .intake_log.problems", DataQualityWarning,
                      stacklevel=2)
    return data


def _load(path: Path, pseudonymise_key: str | bytes | None, codebook_dirs: list,
          instrument_dirs: list, errors: str, today_ts: pd.Timestamp) -> EvaluationData:
    """:func:`load` without the cache and the closing warning."""
    pseudo = Pseudonymiser(pseudonymise_key) if pseudonymise_key is not None else None
    spec = schema()
    raws, problems, folder = _read_source(path, [*TABLES, QUESTIONNAIRES])

    extra_books = list(codebook_dirs)
    extra_instruments = list(instrument_dirs)
    if folder is not None:
        if (folder / "codebooks").is_dir():
            extra_books.append(folder / "codebooks")
        if (folder / "instruments").is_dir():
            extra_instruments.append(folder / "instruments")
    try:
        for folder_ in extra_instruments:
            if Path(folder_).is_dir():
                for yml in sorted([*Path(folder_).glob("*.yaml"), *Path(folder_).glob("*.yml")]):
                    check_yaml_file(yml)
        books = load_codebooks(extra_books)
        # the package's own registry is built once per session; extra folders need a new one
        registry = Registry(extra_instruments) if extra_instruments else default_registry()
    except (CodebookError, InstrumentDefinitionError) as exc:
        problems.append(Problem("", str(exc).split(": ")[0], None, None, None, str(exc),
                                "correct the YAML file", "error"))
        raise DataValidationError(problems, "the codebooks or instrument definitions could not "
                                            "be read") from None
    raws, layout_problems = questionnaires_to_responses(raws, registry)
    problems.extend(layout_problems)
    books = dict(books)
    books["instruments"] = Codebook("instruments", "Questionnaires in the registry", tuple(
        {"code": n, "label": registry.get(n).title} for n in registry.available()))

    fatal = [p for p in problems if p.severity == "error"]
    # when the path itself cannot be read, "table missing" problems would only be noise
    source_failed = any(p.table == "" for p in fatal)
    for table in ORDER:
        if table not in raws and spec[table]["required"] and not source_failed:
            where = path.name if folder is None else f"{table}.csv in {path}"
            fatal.append(Problem(table, where, None, None, None,
                                 f"the {table} table is missing",
                                 f"add {table}.csv (or a sheet named {table}); it is required"))
        elif table in raws and not raws[table].usable:
            fatal.extend(raws[table].problems)

    checks: dict[str, _TableCheck] = {}
    for table in ORDER:
        if table not in raws or not raws[table].usable:
            continue
        c = _TableCheck(raws[table], spec[table])
        missing = c.match_columns()
        fatal.extend(missing)
        if missing:
            continue
        c.apply_reader_problems()
        c.check_values()
        checks[table] = c

    if "parents" in checks and checks["parents"].n == 0:
        c = checks["parents"]
        fatal.append(Problem("parents", c.file, None, None, None,
                             "the parents table has no rows: a dataset needs at least one "
                             "referral to evaluate",
                             "fill in the parents table, one row per referral of a parent"))
    if fatal:
        found = fatal + [p for p in problems if p.severity != "error"]
        raise DataValidationError(found, f"{path.name}: the data cannot be used as it is")

    kept: dict[str, pd.DataFrame] = {}
    excluded_keys: dict[str, dict[str, int]] = {}
    for table in ORDER:
        if table not in checks:
            continue
        c = checks[table]
        override = {}
        if table == "parents" and "interventions" in kept and len(kept["interventions"]):
            # a dataset's own interventions table takes precedence over the codebook; an
            # empty one (a header with no rows, already warned about) does not
            override["interventions"] = list(kept["interventions"]["intervention"])
        if table == "responses":
            _answer_labels(c, registry)
        c.parse(books, override)
        if table == "parents":
            _parents_rules(c, today_ts)
        elif table == "attendance" and "parents" in kept:
            _attendance_rules(c, kept["parents"], today_ts)
        elif table == "responses":
            _responses_rules(c, registry, today_ts)
        elif table == "practitioners":
            c.not_future(["training_date"], today_ts)
        elif table == "training_responses":
            c.not_future(["completed_date"], today_ts)
            _training_rules(c, books)
        elif table == "planning_tool":
            _planning_rules(c, books)
        for col, colspec in spec[table]["columns"].items():
            ref = colspec.get("references")
            if ref:
                target, tcol = ref.split(".")
                valid = pd.Index(kept[target][tcol]) if target in kept else pd.Index([])
                c.check_reference(col, valid, excluded_keys.get(target, {}), target)
        c.check_keys()
        key = spec[table].get("key", [])
        if len(key) == 1:
            k = key[0]
            gone = c.bad & c.typed[k].notna().to_numpy()
            excluded_keys[table] = dict(zip(c.typed.loc[gone, k], c.rows[gone], strict=True))
        kept[table] = c.kept()
        c.release_text()

    frames, excluded, recon = [], [], []
    tables: dict[str, pd.DataFrame] = {}
    for table in TABLES:
        if table in checks:
            t, prob, ex, rec = checks[table].result()
            tables[table] = t
            frames.append(prob)
            excluded.append(ex)
            recon.append(rec)
        else:
            tables[table] = empty_table(table)
            if table in raws:
                frames.append(problems_frame(raws[table].problems))
    all_problems = _concat_problems([problems_frame(problems), *frames])
    order = {t: i for i, t in enumerate(("",) + ORDER)}
    all_problems = (all_problems.assign(_t=all_problems["table"].map(order).fillna(-1))
                    .sort_values(["_t", "file", "row"], kind="stable", na_position="first")
                    .drop(columns="_t").reset_index(drop=True))
    excluded = [e.astype({"row": "int64"}) for e in excluded if len(e)]
    excluded_df = (pd.concat(excluded, ignore_index=True) if excluded
                   else pd.DataFrame({"table": pd.Series(dtype=object),
                                      "file": pd.Series(dtype=object),
                                      "row": pd.Series(dtype="int64"),
                                      "reason": pd.Series(dtype=object)}))

    if pseudo is not None:
        for name, t in tables.items():
            tables[name] = pseudo.frame(t)
        # the column is named as written in the file ("Parent ID"): match it as intake does
        id_rows = (all_problems["column"].map(is_id_column, na_action="ignore")
                   .fillna(False).astype(bool) & (all_problems["value"].fillna("") != ""))
        all_problems.loc[id_rows, "value"] = pseudo.series(all_problems.loc[id_rows, "value"])

    log = IntakeLog(problems=all_problems, tables=pd.DataFrame(recon, columns=RECONCILIATION_COLUMNS),
                    excluded=excluded_df, source=str(path), pseudonymised=pseudo is not None)
    if errors == "raise" and log.n_errors:
        rows = all_problems[all_problems["severity"] == "error"]
        raise DataValidationError(
            [Problem(r.table, r.file, None if pd.isna(r.row) else int(r.row), r.column,
                     r.value, r.problem, r.hint, r.severity) for r in rows.itertuples()],
            f"{path.name}: {len(excluded_df):,} row(s) have problems")
    return EvaluationData(**tables, codebooks=books, instruments=registry, intake_log=log)


def check(path: str | Path, **kwargs) -> IntakeLog:
    """Validate a dataset and return only its intake log (raises as :func:`load` does)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load(path, **kwargs).intake_log
