"""A report under construction: the tables and figures a notebook publishes.

A report notebook opens a :class:`Report` from its analysis plan, then hands it each
result table and figure. Every table goes through disclosure control
(:mod:`rpc_eval.report.disclosure`) before anything is shown or written: the notebook,
the HTML page, the CSV files and the ODS workbook only ever see the protected table.
Figures are drawn from protected tables, so they cannot show a suppressed cell.

:meth:`Report.finish` writes ``tables/*.csv``, the accessible ODS workbook
(``<report>.ods``), the disclosure log and ``outputs.json`` (SHA-256 of each output).
Computes no statistics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from rpc_eval.errors import RpcEvalError
from rpc_eval.plan import Plan
from rpc_eval.report.disclosure import (
    DisclosureRules,
    ProtectedTable,
    TableSpec,
    disclosure_log,
    disclosure_summary,
    protect,
)
from rpc_eval.report.figures import save_figure
from rpc_eval.report.html import esc, table_html
from rpc_eval.report.ods import OdsTable, write_ods
from rpc_eval.report.safe_text import neutralise_frame

__all__ = ["Report", "Shown", "sha256_file"]

MARKERS = {"[c]": "confidential: suppressed to protect people (disclosure control)",
           "[x]": "not available", "[z]": "not applicable"}


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Shown:
    """Something a notebook cell displays: HTML for the page (and ``_repr_html_``)."""

    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __add__(self, other: Shown) -> Shown:
        return Shown(self.html + "\n" + other.html)


@dataclass
class PublishedTable:
    """A protected table with what the ODS sheet and HTML need."""

    name: str
    title: str
    protected: ProtectedTable
    values: pd.DataFrame          # numbers with suppressed cells as NaN (for figures)
    description: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


_SHORT = {"engagement_": "eng_", "monitoring_": "mon_", "multilevel_": "ml_",
          "outcomes_": "out_", "parent_satisfaction": "parent_sat", "relationship_status":
          "relationship", "cumulative_incidence": "cum_incidence", "reliable_change":
          "reliable"}


def _sheet_name(name: str, used: set[str]) -> str:
    """A sheet name of at most 31 characters (letters, digits, _), unique."""
    short = name
    if len(short) > 31:
        for long, abbrev in _SHORT.items():
            short = short.replace(long, abbrev)
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in short)[:31]
    out, i = base, 2
    while out in used:
        suffix = f"_{i}"
        out, i = base[: 31 - len(suffix)] + suffix, i + 1
    used.add(out)
    return out


def _is_p(column: str) -> bool:
    c = column.lower()
    return c in ("p", "p_value", "pval") or c.endswith("_p") or c.startswith("p_")


def _display(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Round floats for reading and show p-values below 0.001 as ``<0.001`` (markers
    and text untouched). For the page only: CSV and ODS keep full precision."""
    out = frame.copy()
    for c in out.columns:
        col = out[c]
        if _is_p(str(c)):
            out[c] = [("<0.001" if v < 0.001 else round(v, digits))
                      if isinstance(v, float | np.floating) and np.isfinite(v) else v
                      for v in col]
        elif pd.api.types.is_float_dtype(col):
            out[c] = col.round(digits)
        elif col.dtype == object:
            out[c] = [round(v, digits) if isinstance(v, float) and np.isfinite(v) else v
                      for v in col]
    return out


def _with_markers(frame: pd.DataFrame, missing: Mapping[str, str]) -> pd.DataFrame:
    """Empty cells as their column's marker (``[x]`` not available unless ``missing``
    names another, e.g. ``[z]`` not applicable): a published table has no blanks."""
    out = frame.copy()
    for c in out.columns:
        if out[c].isna().any():
            out[c] = out[c].astype(object).where(out[c].notna(), missing.get(c, "[x]"))
    return out


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Marker cells ("[c]" ...) as NaN; columns that are then all numbers become float."""
    out = frame.copy()
    for c in out.columns:
        col = out[c]
        if col.dtype != object:
            continue
        marked = col.map(lambda v: isinstance(v, str) and v.startswith("["))
        if not marked.any():
            continue
        rest = col[~marked & col.notna()]
        if all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
               for v in rest):
            out[c] = pd.to_numeric(col.where(~marked, np.nan))
        else:
            out[c] = col.where(~marked, None)
    return out


class Report:
    """The tables and figures of one report, published under the plan's disclosure rules.

    Parameters
    ----------
    plan : Plan
        The analysis plan (gives the report's name, title and disclosure rules).
    out_dir : str or Path
        The report's folder; ``tables/`` and ``figures/`` are written under it.

    Examples
    --------
    >>> import tempfile
    >>> from rpc_eval.plan import load_plan
    >>> from rpc_eval.report.disclosure import TableSpec
    >>> rpt = Report(load_plan("analysis_plans/final_report_v1.yaml"), tempfile.mkdtemp())
    >>> frame = pd.DataFrame({"group": ["a", "b"], "n": [40, 3]})
    >>> shown = rpt.table("example", frame, "Parents by group", spec=TableSpec(counts=("n",)))
    >>> rpt.values("example")["n"].tolist()
    [40.0, nan]
    """

    def __init__(self, plan: Plan, out_dir: str | Path) -> None:
        self.plan = plan
        self.out = Path(out_dir)
        d = plan.disclosure
        self.rules = DisclosureRules(threshold=d["threshold"], rounding=d["rounding"])
        self.organisational = set(d["organisational_tables"])
        self.tables: dict[str, PublishedTable] = {}
        self.figures: dict[str, list[Path]] = {}
        self.notes: list[tuple[str, str]] = []
        self.cover: list[tuple[str, str]] = []

    # -- tables ---------------------------------------------------------------------
    def table(self, name: str, frame: pd.DataFrame, title: str, *,
              spec: TableSpec | None = None, description: Sequence[str] = (),
              implied: Mapping[str, tuple[str, Sequence[str]]] | None = None,
              missing: Mapping[str, str] | None = None, columns: Sequence[str] | None = None,
              nested: Sequence[tuple[str, str]] = (),
              show: bool = True, max_rows: int | None = 40) -> Shown:
        """Protect ``frame`` and add it to the report.

        Parameters
        ----------
        name : str
            File and sheet name (``tables/<name>.csv``).
        frame : DataFrame
            The result table (tidy; all its columns are published).
        title : str
            The table's title (HTML caption; cell A1 of its ODS sheet).
        spec : TableSpec, optional
            Which columns are counts of people and what rests on them. Without a spec
            the table is taken to hold no counts. Tables the plan lists under
            ``disclosure.organisational_tables`` are published as they are.
        implied : mapping, optional
            ``proportion column -> (denominator column, columns resting on it)``: the
            count the proportion implies (``round(p * n)``) is protected like a count, so
            "2% of 50" cannot reveal one person.
        missing : mapping, optional
            Column -> marker for its empty cells (``"[z]"``: not applicable); default
            ``"[x]"``.
        columns : sequence of str, optional
            Columns shown in the HTML (all are written to CSV and ODS).
        nested : sequence of (outer, inner)
            Count columns where ``inner`` counts a subset of the people in ``outer`` of
            the same row (e.g. ``("referred", "started")``): where the difference (the
            people in ``outer`` but not ``inner``) is 1 to threshold-1, ``inner`` is
            suppressed too, so the difference cannot be worked out.
        """
        if name in self.tables:
            raise RpcEvalError(f"the report already has a table called {name!r}")
        spec = spec or TableSpec()
        work = frame.reset_index(drop=True).copy()
        infinite = False
        for c in work.columns:
            if pd.api.types.is_float_dtype(work[c]) and np.isinf(work[c]).any():
                work[c] = work[c].where(np.isfinite(work[c]), np.nan)
                infinite = True
        hidden: list[str] = []
        if implied:
            counts = list(spec.counts)
            derived = {k: list(v) for k, v in spec.derived.items()}
            for prop, (denom, resting) in implied.items():
                col = f"__implied_{prop}"
                p = pd.to_numeric(work[prop], errors="coerce").astype(float)
                n = pd.to_numeric(work[denom], errors="coerce").astype(float)
                work[col] = np.round(p * n)
                hidden.append(col)
                counts.append(col)
                for c in (prop, *resting):
                    derived.setdefault(c, []).append(col)
            spec = replace(spec, counts=tuple(counts), derived=derived)
        if name in self.organisational:
            spec = replace(spec, units="organisations")
        extra: dict[str, np.ndarray] = {}
        t = self.rules.threshold
        for outer, inner in nested:
            diff = (pd.to_numeric(work[outer], errors="coerce")
                    - pd.to_numeric(work[inner], errors="coerce")).to_numpy(dtype=float)
            flag = (diff >= 1) & (diff <= t - 1)
            extra[inner] = extra.get(inner, np.zeros(len(work), dtype=bool)) | flag
        prot = protect(work, spec, self.rules, name=name, also_suppress=extra or None)
        if hidden:
            prot.published = prot.published.drop(columns=hidden)
            prot.status = prot.status.drop(columns=hidden)
            log = prot.log
            prot.log = log[~log["column"].isin(hidden)].reset_index(drop=True)
            prot.n_suppressed = int((prot.log["status"] != "exempt").sum())
        values = _numbers(prot.published)
        desc = list(description)
        if infinite:
            desc.append("Estimates that could not be computed from these data (infinite, "
                        "e.g. a group with no events) are shown as [x].")
        if prot.n_suppressed:
            desc.append(f"Cells marked [c] are suppressed: counts of 1 to "
                        f"{self.rules.threshold - 1} people, cells that would let them be "
                        "worked out from totals, and figures resting on them.")
        if spec.units != "people":
            desc.append("The units of this table are organisations (LAs, workshops): it is "
                        "published without suppression, as the plan sets out.")
        self.tables[name] = PublishedTable(name, title, prot, values, desc,
                                           dict(missing or {}))
        if not show:
            return Shown("")
        marked = _with_markers(prot.published, self.tables[name].missing)
        shown = marked if columns is None else marked[list(columns)]
        notes = "".join(f'<p class="note">{esc(d)}</p>' for d in desc)
        return Shown(table_html(_display(shown), title, max_rows=max_rows) + notes)

    def values(self, name: str) -> pd.DataFrame:
        """The protected table ``name`` as numbers, suppressed cells as NaN (for figures)."""
        return self.tables[name].values

    # -- figures, text ----------------------------------------------------------------
    def figure(self, fig, name: str, alt: str, caption: str | None = None,
               width: int = 760) -> Shown:
        """Save a matplotlib figure as PNG and SVG under ``figures/`` and show it with its
        alt text (required: the figure's content for people who cannot see it)."""
        if not alt or not alt.strip():
            raise RpcEvalError(f"figure {name!r} needs alt text")
        if name in self.figures:
            raise RpcEvalError(f"the report already has a figure called {name!r}")
        self.figures[name] = save_figure(fig, self.out / "figures", name)
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        return Shown(f'<figure><img src="figures/{esc(name)}.png" alt="{esc(alt)}" '
                     f'width="{width}">{cap}</figure>')

    def note(self, text: str) -> str:
        """Add a note to the workbook's notes sheet; returns its marker, e.g. ``[note 1]``."""
        marker = f"[note {len(self.notes) + 1}]"
        self.notes.append((marker, text))
        return marker

    # -- output -----------------------------------------------------------------------
    def disclosure_log(self) -> pd.DataFrame:
        """One row per suppressed cell of every table (table, row, column, reason)."""
        return disclosure_log([t.protected for t in self.tables.values()])

    def disclosure_summary(self) -> pd.DataFrame:
        """Per table: units, threshold, rounding (``none``), cells, and cells suppressed
        (primary, secondary, derived) or rounded
        (:func:`rpc_eval.report.disclosure.disclosure_summary`)."""
        out = disclosure_summary([t.protected for t in self.tables.values()])
        out["rounding"] = out["rounding"].astype(object).where(out["rounding"].notna(),
                                                               "none")
        return out

    def finish(self, *, cover: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
        """Write the tables (CSV), the ODS workbook and ``outputs.json``.

        Returns
        -------
        dict
            Output file (relative to the report folder) -> SHA-256.
        """
        self.plan.check_tables(self.tables)
        tdir = self.out / "tables"
        tdir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for t in self.tables.values():
            path = tdir / f"{t.name}.csv"
            neutralise_frame(_with_markers(t.protected.published, t.missing)).to_csv(
                path, index=False, lineterminator="\n")
            written.append(path)
        log_path = tdir / "disclosure_log.csv"
        neutralise_frame(self.disclosure_log()).to_csv(log_path, index=False,
                                                       lineterminator="\n")
        written.append(log_path)
        used: set[str] = {"Cover", "Contents", "Notes"}
        sheets = [OdsTable(sheet=_sheet_name(t.name, used), title=t.title, frame=t.protected
                           .published, description=t.description, missing=t.missing)
                  for t in self.tables.values()]
        rules = (f"Counts of 1 to {self.rules.threshold - 1} people are suppressed and "
                 "shown as [c], with further cells suppressed so they cannot be worked out "
                 "from totals; percentages, means and rates resting on them are suppressed "
                 "too." + (f" Published counts are rounded to the nearest "
                           f"{self.rules.rounding}." if self.rules.rounding else ""))
        ods_cover = [("About these tables", self.plan.get("description", self.plan["title"])),
                     ("Analysis plan", f"{self.plan.name} ({self.plan['status']})"),
                     *cover,
                     ("Disclosure control", rules),
                     ("Shorthand", "; ".join(f"{k} {v}" for k, v in MARKERS.items()))]
        ods = self.out / f"{self.plan.name}.ods"
        write_ods(ods, title=self.plan["title"], cover=ods_cover, tables=sheets,
                  notes=self.notes)
        written.append(ods)
        for paths in self.figures.values():
            written.extend(paths)
        outputs = {str(p.relative_to(self.out)): sha256_file(p) for p in sorted(written)}
        (self.out / "outputs.json").write_text(json.dumps(outputs, indent=2, sort_keys=True)
                                               + "\n", encoding="utf-8")
        return outputs
