"""Words for people: column headers, code names, model terms and number formats.

Report pages, ODS workbooks and figures are read by people who are not statisticians;
they should meet "Started (%)" and "Enhanced Triple P (Level 5) vs Standard Triple P
(Level 4)", not ``rate_started`` 0.769 and ``C(intervention)[T.enhanced_triple_p]``.
This module holds the one label dictionary every publishing surface uses. CSV files keep
the variable names (machine-friendly); :meth:`Labels.data_dictionary` pairs the two.

What goes in: the codebooks (:func:`rpc_eval.data.codebooks.load_codebooks`), the
instrument registry, optionally the dataset's own ``las`` and ``interventions`` tables
(their names take precedence), and ``labels.yaml`` beside this module (headers with their
number format, name patterns, short names). What comes out:

- :meth:`Labels.header` -- a column's header in words, with its unit;
- :meth:`Labels.name` -- a code's name (``ooo_arguing_better`` -> "OnePlusOne: Arguing
  Better"; wave codes in short form);
- :meth:`Labels.term` -- a model term in words (``C(x)[T.b]``, ``x[T.b]`` and ``x=b`` are
  all read as "level b of x, compared with the reference level");
- :meth:`Labels.readable` -- a whole table for a page or workbook: headers in words,
  codes as names, proportions as percentages, true/false as Yes/No;
- :meth:`Labels.order` -- codes in codebook order (waves in time order, not alphabetical).

Examples
--------
>>> lab = Labels.default()
>>> lab.header("rate_started")
'Started (%)'
>>> lab.name("wave", "followup_6m")
'6 months after'
>>> lab.term("C(intervention)[T.enhanced_triple_p]", reference="standard_triple_p")
'Enhanced Triple P (Level 5) vs Standard Triple P (Level 4)'
>>> lab.order("wave", ["followup_12m", "baseline", "followup_6m", "end"])
['baseline', 'end', 'followup_6m', 'followup_12m']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = ["Labels"]

_HERE = Path(__file__).resolve().parent
#: patsy ``C(x)[T.b]`` / ``x[T.b]``, and ``x=b`` as some fitters write it
_TERM = re.compile(r"^(?:C\((?P<c>[^,()]+)(?:,.*)?\)|(?P<v>[A-Za-z_][A-Za-z0-9_]*))"
                   r"\[T\.(?P<level>[^\]]+)\]$")
_EQ = re.compile(r"^(?P<v>[A-Za-z_][A-Za-z0-9_]*)=(?P<level>.+)$")
_ITEM = re.compile(r"^(?P<prefix>[A-Za-z][A-Za-z0-9_]*?)_0*(?P<n>\d+)$")
FORMATS = ("count", "percent", "percent100", "number", "p", "yesno", "text")


@lru_cache(maxsize=1)
def _spec() -> dict[str, Any]:
    with open(_HERE / "labels.yaml", encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    for col, h in spec["headers"].items():
        if h["format"] not in FORMATS:
            raise ValueError(f"labels.yaml: header {col!r} has unknown format {h['format']!r}")
    return spec


def _words(name: str) -> str:
    """``responded_6m`` -> "Responded 6m": the fallback for names with no label."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else text


@dataclass
class Labels:
    """The label dictionary of one report.

    Parameters
    ----------
    names : mapping
        Kind (``interventions``, ``las``, ``waves``, ``instruments``, ...) -> code -> name.
    orders : mapping
        Kind -> codes in their natural order (codebook order).
    """

    names: dict[str, dict[str, str]] = field(default_factory=dict)
    orders: dict[str, list[str]] = field(default_factory=dict)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def default(cls) -> Labels:
        """Labels from the package's codebooks and instrument definitions."""
        return cls.from_sources()

    @classmethod
    def from_sources(cls, *, codebooks: Mapping[str, Any] | None = None,
                     registry: Any = None, las: pd.DataFrame | None = None,
                     interventions: pd.DataFrame | None = None) -> Labels:
        """Labels from codebooks, the instrument registry and a dataset's own tables.

        Parameters
        ----------
        codebooks : mapping, optional
            Name -> :class:`~rpc_eval.data.codebooks.Codebook` (default: the package's).
        registry : Registry, optional
            Instrument registry (default: :func:`rpc_eval.instruments.default_registry`).
        las, interventions : DataFrame, optional
            A dataset's ``las`` (``la_code``, ``la_name``) and ``interventions``
            (``intervention``, ``name``) tables; their names win over the codebooks'.
        """
        if codebooks is None:
            from rpc_eval.data.codebooks import load_codebooks
            codebooks = load_codebooks()
        if registry is None:
            from rpc_eval.instruments import default_registry
            registry = default_registry()
        spec = _spec()
        names: dict[str, dict[str, str]] = {}
        orders: dict[str, list[str]] = {}
        for kind, book in codebooks.items():
            names[kind] = dict(book.labels())
            orders[kind] = list(book.codes)
        instruments = {}
        for inst_name in registry.available():
            inst = registry.get(inst_name)
            instruments[inst_name] = str(getattr(inst, "title", inst_name))
        names["instruments"] = instruments
        for kind, short in spec.get("short", {}).items():
            names.setdefault(kind, {}).update({str(k): str(v) for k, v in short.items()})
        if interventions is not None and len(interventions) and "name" in interventions:
            names.setdefault("interventions", {}).update(
                {str(c): str(n) for c, n in zip(interventions["intervention"],
                                                 interventions["name"], strict=True)
                 if isinstance(n, str) and n.strip()})
        if las is not None and len(las) and "la_name" in las:
            names["las"] = {str(c): str(n) for c, n in zip(las["la_code"], las["la_name"],
                                                          strict=True)
                            if isinstance(n, str) and n.strip()}
        return cls(names=names, orders=orders)

    # -- single values --------------------------------------------------------------
    def _header_spec(self, column: str) -> tuple[str, str]:
        spec = _spec()
        h = spec["headers"].get(column)
        if h is not None:
            return h["label"], h["format"]
        for rule in spec["patterns"]:
            pre, suf = rule.get("prefix"), rule.get("suffix")
            if pre and column.startswith(pre) and len(column) > len(pre):
                rest = column[len(pre):]
            elif suf and column.endswith(suf) and len(column) > len(suf):
                rest = column[: -len(suf)]
            else:
                continue
            return rule["label"].format(x=self._part(rest)), rule["format"]
        return _words(column), "text"

    def _part(self, rest: str) -> str:
        spec = _spec()
        if rest in spec.get("words", {}):
            return spec["words"][rest]
        h = spec["headers"].get(rest)
        if h is not None:
            return h["label"]
        return _words(rest)

    def header(self, column: str) -> str:
        """A column's header in words, with its unit (``rate_started`` -> "Started (%)")."""
        label, fmt = self._header_spec(str(column))
        if fmt == "percent" and "(%)" not in label:
            label += " (%)"
        return label

    def format_of(self, column: str) -> str:
        """The number format of a column: one of :data:`FORMATS`."""
        return self._header_spec(str(column))[1]

    def kind_of(self, column: str) -> str | None:
        """The codebook naming a column's codes (``intervention`` -> ``interventions``)."""
        return _spec()["code_columns"].get(str(column))

    def name(self, column: str, code: Any) -> str:
        """The name of ``code`` in ``column`` (the code itself when it has no name)."""
        text = str(code)
        kind = self.kind_of(column)
        if kind is not None and text in self.names.get(kind, {}):
            return self.names[kind][text]
        if column == "scale" and text in self.names.get("scales", {}):
            return self.names["scales"][text]
        if kind == "items":  # a questionnaire item without shipped wording: "Item 3"
            m = _ITEM.match(text)
            if m and m.group("prefix") in self.names.get("instruments", {}):
                return f"Item {int(m.group('n'))}"
        return self.names.get("values", {}).get(text, text)

    def term(self, term: str, reference: str | None = None) -> str:
        """A model term in words: ``C(intervention)[T.b]`` -> "B vs REFERENCE" (or
        "B (compared with the reference group)" when no reference is given). Terms that
        are not a level of a factor keep their column's header (``age`` -> "Age")."""
        text = str(term)
        m = _TERM.match(text) or _EQ.match(text)
        if not m:
            if text in self.names.get("values", {}):
                return self.names["values"][text]
            return self.header(text)
        var = (m.groupdict().get("c") or m.group("v")).strip()
        level = self.name(var, m.group("level"))
        if reference is not None:
            return f"{level} vs {self.name(var, reference)}"
        return f"{level} (compared with the reference group)"

    def order(self, column: str, codes: Iterable[Any]) -> list[Any]:
        """``codes`` in codebook order (unknown codes last, in their given order)."""
        codes = list(codes)
        kind = self.kind_of(column)
        known = self.orders.get(kind or "", [])
        rank = {c: i for i, c in enumerate(known)}
        return sorted(codes, key=lambda c: (rank.get(str(c), len(rank)), codes.index(c)))

    # -- whole tables ---------------------------------------------------------------
    def readable(self, data: pd.DataFrame, *, references: Mapping[str, str] | None = None,
                 digits: int = 3) -> pd.DataFrame:
        """A table for people: headers in words, codes as names, proportions as
        percentages (one decimal), p-values as "<0.001", true/false as Yes/No.

        Marker cells (``[c]``, ``[x]``, ``[z]``) and text are kept as they are. Numbers stay
        numbers (so a workbook can compute with them); only their scale and rounding
        change. ``references`` maps a factor (``intervention``) to its reference level so
        model terms read "B vs A".
        """
        out = pd.DataFrame(index=data.index)
        refs = dict(references or {})
        for col, header, fmt in self.columns(data):
            values = data[col]
            if col == "term":
                new = values.map(lambda v, r=refs: self._term_cell(v, r))
            elif self.kind_of(col) is not None or col in ("scale", "standardised_estimator"):
                new = values.map(lambda v, c=col: v if _is_marker(v) or _missing(v)
                                 else self.name(c, _code(v)))
            elif fmt in ("percent", "percent100"):
                scale = 100.0 if fmt == "percent" else 1.0
                new = values.map(lambda v, s=scale: round(float(v) * s, 1)
                                 if _is_number(v) else v)
            elif fmt == "yesno":
                new = values.map(_yes_no)
            elif fmt == "p":
                new = values.map(lambda v: ("<0.001" if float(v) < 0.001 else round(float(v), 3))
                                 if _is_number(v) else v)
            elif fmt == "count":
                new = values.map(lambda v: int(v) if _is_number(v) and float(v).is_integer()
                                 else v)
            else:
                new = values.map(lambda v, d=digits: _round(v, d))
            out[header] = new
        return out

    def columns(self, data: pd.DataFrame) -> list[tuple[str, str, str]]:
        """``(column, header, format)`` of each column :meth:`readable` shows, in order:
        headers unique within the table; a ``name`` column beside ``intervention`` is
        left out (the intervention column already shows the name)."""
        used: set[str] = set()
        out = []
        on_percent = bool(set(map(str, data.columns)) & set(_spec()["percent_estimates"]))
        for col in data.columns:
            if col == "name" and "intervention" in data.columns:
                continue
            fmt = self.format_of(col)
            if on_percent and col in ("ci_low", "ci_high", "lower_bound_one_sided"):
                fmt = "percent"
            header = self.header(col)
            if fmt == "percent" and "(%)" not in header:
                header += " (%)"
            while header in used:  # two columns must not share a header
                header = f"{header} ({col})"
            used.add(header)
            out.append((col, header, fmt))
        return out

    def _term_cell(self, value: Any, refs: Mapping[str, str]) -> Any:
        if _is_marker(value) or _missing(value):
            return value
        m = _TERM.match(str(value)) or _EQ.match(str(value))
        ref = None
        if m:
            var = (m.groupdict().get("c") or m.group("v")).strip()
            ref = refs.get(var)
        return self.term(value, reference=ref)

    def data_dictionary(self, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """One row per published column: ``table, column, header, format`` -- how each
        CSV variable name reads on the page and in the workbook (``header`` empty for a
        column the page and workbook leave out)."""
        rows = []
        for name, frame in tables.items():
            shown = {c: (h, f) for c, h, f in self.columns(frame)}
            for c in frame.columns:
                h, f = shown.get(c, ("", self.format_of(c)))
                rows.append({"table": name, "column": str(c), "header": h, "format": f})
        return pd.DataFrame(rows, columns=["table", "column", "header", "format"])


def _is_marker(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("[") and v.endswith("]")


def _missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            and np.isfinite(float(v)))


def _code(v: Any) -> Any:
    """A code read as a number (``1.0``) back to its text form (``"1"``)."""
    if _is_number(v) and float(v).is_integer():
        return str(int(v))
    return v


def _round(v: Any, digits: int) -> Any:
    """``digits`` decimals; numbers below 0.01 in size keep 3 significant figures so
    they do not read as 0."""
    if not _is_number(v) or isinstance(v, int | np.integer):
        return v
    x = float(v)
    if x != 0 and abs(x) < 0.01:
        return float(f"{x:.3g}")
    return round(x, digits)


def _yes_no(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return "Yes" if v else "No"
    if _is_number(v) and float(v) in (0.0, 1.0):
        return "Yes" if float(v) == 1.0 else "No"
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return "Yes" if v.lower() == "true" else "No"
    return v
