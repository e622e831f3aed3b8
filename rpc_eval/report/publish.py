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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rpc_eval.errors import RpcEvalError
from rpc_eval.plan import Plan
from rpc_eval.report.disclosure import (
    DisclosureRules,
    ProtectedTable,
    ReportAudit,
    TableInput,
    TableSpec,
    disclosure_log,
    disclosure_summary,
    protect,
    protect_report,
)
from rpc_eval.report.figures import save_figure
from rpc_eval.report.html import esc, table_html
from rpc_eval.report.ods import OdsTable, write_ods
from rpc_eval.report.safe_text import neutralise_frame

if TYPE_CHECKING:
    from rpc_eval.report.labels import Labels

__all__ = ["Report", "Shown", "sha256_file"]

#: Tables whose units are organisations by construction (their sections say so in
#: their specs): the only ones a plan may list under ``organisational_tables``.
ORGANISATIONAL_TABLES = frozenset({
    "data_planning_returns", "monitoring_planning_stages", "monitoring_planning_stage_change",
    *(f"interim_table_{i}" for i in (2, 3, 5, 6, 7))})

#: The report's own disclosure summary (:meth:`Report.disclosure_summary`) counts cells
#: of tables, not people: its numbers are the rules and how many cells each table lost.
DISCLOSURE_SUMMARY_SPEC = TableSpec(safe=("threshold", "rounding", "cells", "suppressed",
                                          "rounded"))

MARKERS = {"[c]": "confidential: suppressed to protect people (disclosure control)",
           "[x]": "not available", "[z]": "not applicable"}


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Shown:
    """Something a notebook cell displays: HTML for the page (and ``_repr_html_``).

    A table's part of it is drawn from the report's *current* decision on that table, so
    when a later table makes the report suppress a further cell (one quantity has one
    status everywhere), a table already shown is shown again with it: in a notebook the
    output is updated in place (IPython ``update_display``) when the report finishes.
    """

    def __init__(self, html: str = "", parts: list | None = None) -> None:
        self.parts: list = list(parts) if parts is not None else ([html] if html else [])

    @property
    def html(self) -> str:
        return "\n".join(p if isinstance(p, str) else p.render() for p in self.parts)

    def _repr_html_(self) -> str:
        return self.html

    def __add__(self, other: Shown) -> Shown:
        return Shown(parts=[*self.parts, *other.parts])

    def _reports(self) -> list[Report]:
        out: list[Report] = []
        for p in self.parts:
            if isinstance(p, _TablePart | _FigurePart) and all(r is not p.report
                                                               for r in out):
                out.append(p.report)
        return out

    def _ipython_display_(self) -> None:
        from IPython.display import display

        reports = self._reports()
        if not reports:
            display({"text/html": self.html}, raw=True)
            return
        did = reports[0]._register_display(self)
        display({"text/html": self.html}, raw=True, display_id=did)


@dataclass
class _TablePart:
    """A table in a :class:`Shown`, rendered from the report's current decisions."""

    report: Report
    name: str
    columns: Sequence[str] | None
    max_rows: int | None

    def render(self) -> str:
        t = self.report.tables[self.name]
        marked = _with_markers(t.protected.published, t.missing)
        shown = marked if self.columns is None else marked[list(self.columns)]
        notes = "".join(f'<p class="note">{esc(d)}</p>' for d in t.description)
        readable = self.report.labels.readable(shown, references=self.report.references)
        return table_html(readable, t.title, max_rows=self.max_rows) + notes


@dataclass
class _FigurePart:
    """A figure in a :class:`Shown`: the image with its visible caption once drawn, or
    the sentence saying why it is left out (decided when the report finishes, from the
    protected tables)."""

    report: Report
    name: str
    alt: str
    caption: str | Callable[[], str]
    width: int

    def render(self) -> str:
        why = self.report.left_out.get(self.name)
        if why is not None:
            return f'<p class="note">{esc(why)}</p>'
        caption = self.caption() if callable(self.caption) else self.caption
        return (f"<figure><img src='figures/{esc(self.name)}.png' "
                f"alt='{esc(self.alt, quote=True)}' width='{self.width}'>"
                f"<figcaption>{esc(caption)}</figcaption></figure>")


@dataclass
class PublishedTable:
    """A protected table with what the ODS sheet and HTML need."""

    name: str
    title: str
    protected: ProtectedTable
    values: pd.DataFrame          # numbers with suppressed cells as NaN (for figures)
    notes: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    source: TableInput | None = None
    threshold: int = 10
    organisations: bool = False
    infinite: bool = False
    alone: int = 0                # cells suppressed by the table's own protection

    @property
    def description(self) -> list[str]:
        """The table's notes, with what disclosure control did to it."""
        desc = list(self.notes)
        if self.infinite:
            desc.append("Estimates that could not be computed from these data (infinite, "
                        "e.g. a group with no events) are shown as [x].")
        if self.protected.n_suppressed:
            desc.append(f"Cells marked [c] are suppressed: counts of 1 to "
                        f"{self.threshold - 1} people, cells that would let them be worked "
                        "out from the report's totals or from other tables, and figures "
                        "resting on them.")
        if self.organisations:
            desc.append("The units of this table are organisations (LAs, workshops): it is "
                        "published without suppression, as the plan sets out.")
        return desc


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
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        col = col.astype(object)
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
        The report's folder; ``tables/`` and ``figures/`` are written under it. The
        analyst's disclosure log (which cell, why) and the audit are written beside it,
        in ``<out_dir>_NOT_FOR_PUBLICATION/``.

    Notes
    -----
    Each table is protected on its own as it is added (so a notebook can show it), and
    the whole report is decided again at once before anything is written
    (:func:`~rpc_eval.report.disclosure.protect_report`): a quantity published in
    several tables has one status everywhere, and the attacker's audit suppresses more
    until no suppressed count can be narrowed down from everything the report publishes.
    Tables already shown are shown again with the final decisions, and figures passed as
    drawing functions are drawn from them.

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
        people = sorted(self.organisational - ORGANISATIONAL_TABLES)
        if people:
            raise RpcEvalError(
                f"{plan.where('disclosure.organisational_tables')}: {', '.join(people)} "
                "cannot be published without disclosure control: only tables whose units "
                "are organisations by construction (LAs, workshops) can, namely "
                f"{', '.join(sorted(ORGANISATIONAL_TABLES))}. Remove the others from "
                "disclosure.organisational_tables.")
        self.tables: dict[str, PublishedTable] = {}
        self.figures: dict[str, list[Path]] = {}
        #: figure name -> the sentence shown instead of it (nothing to draw)
        self.left_out: dict[str, str] = {}
        #: factor -> its reference level, so model terms read "B vs A"
        self.references: dict[str, str] = {}
        self._labels: Labels | None = None
        #: what the analyses said (for the analyst), and the sentences shown for them
        self.analysis_notes: list[str] = []
        self._cautions: set[str] = set()
        self.notes: list[tuple[str, str]] = []
        self.cover: list[tuple[str, str]] = []
        self.audit: ReportAudit | None = None
        self.suppressed_alone = 0
        self._drawings: dict[str, tuple[Callable[[], object], str]] = {}
        self._displays: list[tuple[str, Shown, str]] = []
        self._decided: tuple[str, ...] | None = None
        self._summary_stale = False

    # -- words ----------------------------------------------------------------------
    @property
    def labels(self):
        """The report's :class:`~rpc_eval.report.labels.Labels` (the package's codebooks
        until :meth:`use_names_from` adds a dataset's own LA and intervention names)."""
        if self._labels is None:
            from rpc_eval.report.labels import Labels

            self._labels = Labels.default()
        return self._labels

    def use_names_from(self, data) -> None:
        """Name LAs and interventions as the dataset's ``las`` and ``interventions``
        tables do (their names win over the codebooks')."""
        from rpc_eval.report.labels import Labels

        self._labels = Labels.from_sources(las=getattr(data, "las", None),
                                           interventions=getattr(data, "interventions",
                                                                 None))

    def caution(self, message: str) -> Shown:
        """Show what an analysis said (a warning, why it was left out) as a plain
        sentence (:func:`~rpc_eval.report.notes.plain_note`), once per report; the message
        itself goes to the analyst's notes in :meth:`private_dir`, never to the page."""
        from rpc_eval.report.notes import plain_note

        self.analysis_notes.append(str(message))
        sentence = plain_note(message)
        if sentence is None or sentence in self._cautions:
            return Shown("")
        self._cautions.add(sentence)
        return Shown(f'<p class="note">{esc(sentence)}</p>')

    # -- tables ---------------------------------------------------------------------
    def table(self, name: str, frame: pd.DataFrame, title: str, *,
              spec: TableSpec | None = None, description: Sequence[str] = (),
              implied: Mapping[str, tuple[str, Sequence[str]]] | None = None,
              missing: Mapping[str, str] | None = None, columns: Sequence[str] | None = None,
              nested: Sequence[tuple[str, str]] = (),
              rests_on: tuple[Sequence[float], Sequence[str], str] | None = None,
              close_to: Mapping[str, Sequence[float]] | None = None,
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
            Which columns are counts of people, what rests on them and which are safe
            to publish as they are; every numeric column must be one of these
            (:func:`~rpc_eval.report.disclosure.protect` warns about, and suppresses
            conservatively, one that is not). Without a spec the table is taken to hold
            no counts (numeric columns then draw the warning); the report's own
            ``disclosure_summary`` table needs none. A table whose spec says its units are
            organisations is published as it is; the plan's
            ``disclosure.organisational_tables`` can only confirm that, never exempt a
            table of people (an error).
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
        rests_on : (counts, columns, what), optional
            For statistics that are not counts (model coefficients, BLUPs): one count per
            row of the people or events the row's statistics rest on (e.g. the parents in
            a coefficient's category; missing where it rests on everyone), the columns
            holding those statistics, and what the count is, in words (for the note).
            Rows resting on 1 to threshold-1 people or events are suppressed ([c]) and
            the table says why. The counts themselves are not published.
        close_to : mapping, optional
            Count column -> one count per row that another table publishes for nearly
            the same people (e.g. paired parents in the outcomes table): where the two
            differ by 1 to threshold-1 the column is suppressed, with everything resting
            on it, so the few people in one and not the other cannot be singled out.
        """
        if name in self.tables:
            raise RpcEvalError(f"the report already has a table called {name!r}")
        if spec is None and name == "disclosure_summary":
            spec = DISCLOSURE_SUMMARY_SPEC
        spec = spec or TableSpec()
        work = frame.reset_index(drop=True).copy()
        infinite = False
        for c in work.columns:
            if pd.api.types.is_float_dtype(work[c]) and np.isinf(work[c]).any():
                work[c] = work[c].where(np.isfinite(work[c]), np.nan)
                infinite = True
        # columns named "__..." carry what disclosure control needs (e.g. whom a row
        # counts, for spec.key_columns) and are never published
        hidden: list[str] = [c for c in work.columns if str(c).startswith("__")]
        desc = list(description)
        counts = list(spec.counts)
        derived = {k: list(v) for k, v in spec.derived.items()}
        for prop, (denom, resting) in (implied or {}).items():
            col = f"__implied_{prop}"
            p = pd.to_numeric(work[prop], errors="coerce").astype(float)
            n = pd.to_numeric(work[denom], errors="coerce").astype(float)
            work[col] = np.round(p * n)
            hidden.append(col)
            counts.append(col)
            for c in (prop, *resting):
                derived.setdefault(c, []).append(col)
        if rests_on is not None:
            values, stats, what = rests_on
            col = "__rests_on"
            work[col] = pd.array(pd.to_numeric(pd.Series(list(values), dtype=object),
                                               errors="coerce").round(), dtype="Float64")
            hidden.append(col)
            counts.append(col)
            for c in stats:
                if c in work.columns and c not in counts:
                    derived.setdefault(c, []).append(col)
            desc.append(f"Rows resting on fewer than {self.rules.threshold} {what} are "
                        "suppressed ([c]): an estimate from so few could reveal them.")
        # hidden columns are never published: nothing to declare for them
        safe = [*spec.safe, *(c for c in hidden if c not in counts and c not in derived
                               and c not in spec.safe)]
        if counts != list(spec.counts) or derived != spec.derived or \
                safe != list(spec.safe):
            spec = replace(spec, counts=tuple(counts), derived=derived, safe=tuple(safe))
        if name in self.organisational and spec.units == "people":
            raise RpcEvalError(
                f"the plan lists {name!r} under disclosure.organisational_tables, but that "
                "table counts people: only tables whose units are organisations (LAs, "
                "workshops) can be published without disclosure control. Remove it from "
                "the list.")
        extra: dict[str, np.ndarray] = {}
        t = self.rules.threshold
        for outer, inner in nested:
            diff = (pd.to_numeric(work[outer], errors="coerce")
                    - pd.to_numeric(work[inner], errors="coerce")).to_numpy(dtype=float)
            flag = (diff >= 1) & (diff <= t - 1)
            extra[inner] = extra.get(inner, np.zeros(len(work), dtype=bool)) | flag
        for col, other in (close_to or {}).items():
            diff = np.abs(pd.to_numeric(work[col], errors="coerce").to_numpy(dtype=float)
                          - pd.to_numeric(pd.Series(list(other), dtype=object),
                                          errors="coerce").to_numpy(dtype=float))
            flag = (diff >= 1) & (diff <= t - 1)
            extra[col] = extra.get(col, np.zeros(len(work), dtype=bool)) | flag
        source = TableInput(name, work, spec, extra or None, tuple(hidden))
        prot = protect(work, spec, self.rules, name=name, also_suppress=extra or None)
        self.tables[name] = PublishedTable(
            name, title, prot, pd.DataFrame(), desc, dict(missing or {}), source,
            self.rules.threshold, spec.units != "people", infinite)
        self._set_protected(name, prot)
        self.tables[name].alone = prot.n_suppressed
        if not show:
            return Shown("")
        return Shown(parts=[_TablePart(self, name, columns, max_rows)])

    def _set_protected(self, name: str, prot: ProtectedTable) -> None:
        t = self.tables[name]
        hidden = list(t.source.hidden) if t.source is not None else []
        if hidden:
            prot.published = prot.published.drop(columns=hidden)
            prot.status = prot.status.drop(columns=hidden)
            log = prot.log
            prot.log = log[~log["column"].isin(hidden)].reset_index(drop=True)
            prot.n_suppressed = int((prot.log["status"] != "exempt").sum())
        t.protected = prot
        t.values = _numbers(prot.published)

    def decide(self) -> ReportAudit:
        """Decide disclosure for the whole report at once and audit it (see the class
        notes); run by :meth:`disclosure_summary` and :meth:`finish`. Returns the audit."""
        key = tuple(n for n, t in self.tables.items() if t.source is not None
                    and t.source.spec.units == "people" and t.source.spec.all_counts)
        if self._decided == key and self.audit is not None:
            return self.audit
        inputs = [t.source for t in self.tables.values() if t.source is not None]
        initial = {t.name: t.protected for t in self.tables.values() if t.source is not None}
        self.suppressed_alone = sum(t.alone for t in self.tables.values())
        protected, self.audit = protect_report(inputs, self.rules, initial=initial)
        for name, prot in protected.items():
            if prot is not initial[name]:
                self._set_protected(name, prot)
        self._decided = key
        return self.audit

    def values(self, name: str) -> pd.DataFrame:
        """The protected table ``name`` as numbers, suppressed cells as NaN (for figures)."""
        return self.tables[name].values

    # -- figures, text ----------------------------------------------------------------
    def figure(self, fig, name: str, alt: str,
               caption: str | Callable[[], str] | None = None,
               width: int = 760) -> Shown:
        """Save a matplotlib figure as PNG and SVG under ``figures/`` and show it with its
        alt text (required: the figure's content for people who cannot see it) and a
        visible caption (the alt text when no caption is given).

        ``fig`` may be a function of no arguments returning the figure: it is then drawn
        when the report finishes, from the tables as finally decided for the whole
        report (use it for figures drawn from protected tables). It may return a
        sentence instead of a figure, saying in plain words why there is nothing to draw
        (e.g. every group's curve is suppressed); the page then shows that sentence where
        the figure would be. ``caption`` may be a function of no arguments too, read
        when the page is shown (so it can name what the decided tables left out)."""
        if not alt or not alt.strip():
            raise RpcEvalError(f"figure {name!r} needs alt text")
        if name in self.figures or name in self._drawings:
            raise RpcEvalError(f"the report already has a figure called {name!r}")
        if callable(fig) and not hasattr(fig, "savefig"):
            self._drawings[name] = (fig, alt)
        else:
            self.figures[name] = save_figure(fig, self.out / "figures", name)
        return Shown(parts=[_FigurePart(self, name, alt, caption or alt, width)])

    def note(self, text: str) -> str:
        """Add a note to the workbook's notes sheet; returns its marker, e.g. ``[note 1]``."""
        marker = f"[note {len(self.notes) + 1}]"
        self.notes.append((marker, text))
        return marker

    def _register_display(self, shown: Shown) -> str:
        did = f"rpc-eval-{self.plan.name}-{len(self._displays) + 1}"
        self._displays.append((did, shown, shown.html))
        return did

    # -- output -----------------------------------------------------------------------
    def disclosure_log(self) -> pd.DataFrame:
        """One row per suppressed cell of every table (table, row, column, reason): for
        the analyst only, never published (it says which cells are small)."""
        self.decide()
        return disclosure_log([t.protected for t in self.tables.values()])

    def disclosure_summary(self) -> pd.DataFrame:
        """Per table: units, threshold, rounding (``none``), cells, and cells suppressed
        or rounded: the published summary. Which cells are small counts and which were
        suppressed to protect them is not said (that would narrow them down)."""
        self.decide()
        out = disclosure_summary([t.protected for t in self.tables.values()])
        out["rounding"] = out["rounding"].astype(object).where(out["rounding"].notna(),
                                                               "none")
        self._summary_stale = False
        return out[["table", "units", "threshold", "rounding", "cells", "suppressed",
                    "rounded"]]

    def private_dir(self) -> Path:
        """Where the analyst's disclosure log and audit go: beside the report's folder,
        never in it."""
        return self.out.parent / f"{self.out.name}_NOT_FOR_PUBLICATION"

    def finish(self, *, cover: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
        """Decide disclosure for the whole report, audit it, then write the tables (CSV),
        the figures drawn from them, the ODS workbook and ``outputs.json``; the analyst's
        disclosure log and audit go to :meth:`private_dir`.

        Returns
        -------
        dict
            Output file (relative to the report folder) -> SHA-256.
        """
        self.plan.check_tables(self.tables)
        before = {n: t.protected.n_suppressed for n, t in self.tables.items()}
        audit = self.decide()
        if "disclosure_summary" in self.tables and any(
                t.protected.n_suppressed != before[n] for n, t in self.tables.items()):
            t = self.tables["disclosure_summary"]
            fresh = self.disclosure_summary()
            t.source = TableInput(t.name, fresh, DISCLOSURE_SUMMARY_SPEC)
            self._set_protected(t.name, protect(fresh, DISCLOSURE_SUMMARY_SPEC, self.rules,
                                                name=t.name))
        self._draw_figures()
        self._refresh_displays()
        tdir = self.out / "tables"
        tdir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for t in self.tables.values():
            path = tdir / f"{t.name}.csv"
            neutralise_frame(_with_markers(t.protected.published, t.missing)).to_csv(
                path, index=False, lineterminator="\n")
            written.append(path)
        stale = tdir / "disclosure_log.csv"
        if stale.is_file():  # written there by earlier versions: never publish it
            stale.unlink()
        private = self.private_dir()
        private.mkdir(parents=True, exist_ok=True)
        (private / "README.txt").write_text(
            "NOT FOR PUBLICATION. The disclosure log says which cells of the report were "
            "suppressed and why (which are small counts); the audit gives, for each "
            "suppressed count, the interval an attacker could infer from the published "
            "tables. Keep these files with the analyst.\n", encoding="utf-8")
        (private / "analysis_notes.txt").write_text(
            "What the analyses said while the report was built (the page shows each as a "
            "plain sentence). Not for publication: a message can quote small numbers.\n\n"
            + "\n".join(f"- {m}" for m in self.analysis_notes) + "\n", encoding="utf-8")
        neutralise_frame(self.disclosure_log()).to_csv(
            private / "disclosure_log.csv", index=False, lineterminator="\n")
        neutralise_frame(audit.intervals).to_csv(
            private / "disclosure_audit.csv", index=False, lineterminator="\n")
        people = [t for t in self.tables.values() if not t.organisations]
        (private / "disclosure_audit.json").write_text(json.dumps({
            "cells_suppressed_table_by_table": self.suppressed_alone,
            "cells_suppressed": sum(t.protected.n_suppressed for t in people),
            "added_by_report_decisions": audit.added, "audit_rounds": audit.rounds,
            "suppressed_counts_audited": int(len(audit.intervals)),
            "unprotected": audit.unprotected, "seconds": round(audit.seconds, 3)},
            indent=2) + "\n", encoding="utf-8")
        dictionary = self.labels.data_dictionary(
            {t.name: t.protected.published for t in self.tables.values()})
        path = tdir / "data_dictionary.csv"
        neutralise_frame(dictionary).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
        used: set[str] = {"Cover", "Contents", "Notes"}
        sheets = [self._ods_sheet(t, used) for t in self.tables.values()]
        rules = (f"Counts of 1 to {self.rules.threshold - 1} people are suppressed and "
                 "shown as [c], with further cells suppressed so they cannot be worked out "
                 "from totals or from other tables; percentages, means, rates, survival "
                 "estimates and model terms resting on them are suppressed too." +
                 (f" Published counts are rounded to the nearest {self.rules.rounding}."
                  if self.rules.rounding else ""))
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

    def _draw_figures(self) -> None:
        """Draw the figures passed as functions, from the decided tables; a function that
        returns a sentence leaves its figure out with that sentence."""
        for name, (draw, _alt) in self._drawings.items():
            drawn = draw()
            if isinstance(drawn, str):
                self.left_out[name] = drawn
            else:
                self.figures[name] = save_figure(drawn, self.out / "figures", name)
        self._drawings = {}

    def _ods_sheet(self, t: PublishedTable, used: set[str]) -> OdsTable:
        """A table's ODS sheet: headers in words, codes as names, percentages."""
        frame = t.protected.published
        readable = self.labels.readable(frame, references=self.references)
        kept = [c for c in frame.columns
                if not (c == "name" and "intervention" in frame.columns)]
        heads = dict(zip(kept, readable.columns, strict=True))
        return OdsTable(sheet=_sheet_name(t.name, used), title=t.title, frame=readable,
                        description=t.description,
                        missing={heads[c]: m for c, m in t.missing.items() if c in heads})

    def _refresh_displays(self) -> None:
        """Show again, with the final decisions, every table a notebook already showed."""
        changed = [(did, shown) for did, shown, html in self._displays if shown.html != html]
        if not changed:
            return
        try:
            from IPython.display import update_display
        except ImportError:  # pragma: no cover - IPython comes with jupyter
            return
        for did, shown in changed:
            update_display({"text/html": shown.html}, raw=True, display_id=did)
