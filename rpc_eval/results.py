"""One family of result objects: how every fitted model and every analysis shows itself.

Every result of the package (a fitted model, a table-making analysis, a whole report
section) derives from :class:`Result` and behaves the same way, as statsmodels'
``summary2`` and lifelines' printer do:

* ``repr(result)`` is one short line (what it is, its size), never a page of numbers;
* ``result.summary()`` returns a :class:`Summary`: ``.as_text()``, ``.as_html()`` and
  ``.tables`` (a dict of DataFrames, the tidy tables behind it); ``print(summary)``
  prints the text and Jupyter shows the HTML;
* ``result._repr_html_()`` is the HTML summary, so a result shows itself in Jupyter;
* ``result.to_frame()`` is the main table as a tidy DataFrame (a copy).

A subclass says what it is with three small methods: :meth:`Result._title` (a short
name), :meth:`Result._facts` (``(label, value)`` pairs for the header: observations,
groups, log-likelihood ...) and :meth:`Result._tables` (named tidy tables, the main one
first). Notes (what was left out, warnings given) come from a ``notes`` attribute when
there is one.

:class:`ResultSet` is the container the ``<topic>_analysis`` functions return: its parts
are results or tables, and its HTML view is an index of them.

Examples
--------
>>> import pandas as pd
>>> from dataclasses import dataclass
>>> @dataclass(repr=False)
... class Mean(Result):
...     table: pd.DataFrame
...     def _title(self): return "Mean"
...     def _facts(self): return [("Observations", len(self.table))]
...     def _tables(self): return {"estimates": self.table}
>>> r = Mean(pd.DataFrame({"term": ["x"], "estimate": [1.5]}))
>>> r
<Mean: 1 row; Observations 1>
>>> print(r.summary().as_text())
Mean
Observations: 1
<BLANKLINE>
estimates
term  estimate
   x       1.5
>>> r.to_frame().columns.tolist()
['term', 'estimate']
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Result", "ResultSet", "Summary", "format_number"]


def format_number(value: Any) -> str:
    """A number as the summaries show it: 4 significant digits, integers as integers."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def _frame_text(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(no rows)"
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _frame_html(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>(no rows)</p>"
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)


@dataclass
class Summary:
    """A result's summary: a title, header facts, named tables and notes.

    Attributes
    ----------
    title : str
    facts : list of (str, value)
        Header lines such as ``("Observations", 812)``.
    tables : dict of str to DataFrame
        The tidy tables, main one first.
    notes : list of str
        Plain sentences: what was left out, warnings the fit gave.
    """

    title: str
    facts: list[tuple[str, Any]] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        """The summary as plain text (what ``print`` shows)."""
        lines = [self.title]
        lines += [f"{k}: {format_number(v)}" for k, v in self.facts]
        for name, frame in self.tables.items():
            lines += ["", name, _frame_text(frame)]
        if self.notes:
            lines += ["", "Notes:"] + [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        """The summary as an HTML fragment (what Jupyter shows)."""
        out = [f"<div class='rpc-eval-summary'><p><b>{html.escape(self.title)}</b></p>"]
        if self.facts:
            out.append("<p>" + "; ".join(f"{html.escape(str(k))}: "
                                         f"{html.escape(format_number(v))}"
                                         for k, v in self.facts) + "</p>")
        for name, frame in self.tables.items():
            out.append(f"<p><i>{html.escape(name)}</i></p>{_frame_html(frame)}")
        if self.notes:
            out.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
                       + "</ul>")
        out.append("</div>")
        return "".join(out)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()


class Result:
    """Base of every result object (see the module docstring for the behaviour).

    Subclasses override :meth:`_title`, :meth:`_facts` and :meth:`_tables`; dataclass
    subclasses should be declared with ``@dataclass(repr=False)`` so this class's short
    ``repr`` is kept.
    """

    def _title(self) -> str:
        return type(self).__name__

    def _facts(self) -> list[tuple[str, Any]]:
        return []

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {}

    def _notes(self) -> list[str]:
        notes = getattr(self, "notes", None)
        return [str(n) for n in notes] if isinstance(notes, Iterable) and \
            not isinstance(notes, str) else []

    def summary(self) -> Summary:
        """Title, header facts, the tidy tables and notes (:class:`Summary`)."""
        tables = {k: v for k, v in self._tables().items() if isinstance(v, pd.DataFrame)}
        return Summary(self._title(), list(self._facts()), tables, self._notes())

    def to_frame(self) -> pd.DataFrame:
        """The main table (the first of the summary's tables), as a copy."""
        tables = self._tables()
        for frame in tables.values():
            if isinstance(frame, pd.DataFrame):
                return frame.copy()
        return pd.DataFrame()

    def __repr__(self) -> str:
        main = next((t for t in self._tables().values() if isinstance(t, pd.DataFrame)), None)
        size = [] if main is None else [f"{len(main)} row" + ("" if len(main) == 1 else "s")]
        facts = [f"{k} {format_number(v)}" for k, v in list(self._facts())[:3]]
        inside = "; ".join([", ".join(size)] + facts if size else facts)
        return f"<{self._title()}: {inside}>" if inside else f"<{self._title()}>"

    def _repr_html_(self) -> str:
        return self.summary().as_html()


class ResultSet(Result):
    """A result made of named parts (results or tables): what ``<topic>_analysis`` returns.

    Subclasses implement :meth:`_parts`, returning the parts in the order a report shows
    them; the HTML view is an index of the parts with each part's own view below.
    """

    def _parts(self) -> Mapping[str, Any]:
        return {}

    def _tables(self) -> dict[str, pd.DataFrame]:
        out: dict[str, pd.DataFrame] = {}
        for name, part in self._parts().items():
            if isinstance(part, pd.DataFrame):
                out[name] = part
            elif isinstance(part, Result):
                frame = part.to_frame()
                if len(frame.columns):
                    out[name] = frame
        return out

    def __repr__(self) -> str:
        parts = [k for k, v in self._parts().items() if v is not None]
        return f"<{self._title()}: {len(parts)} parts: {', '.join(parts)}>"

    def _repr_html_(self) -> str:
        parts = {k: v for k, v in self._parts().items() if v is not None}
        index = "".join(f"<li><a href='#part-{html.escape(k)}'>{html.escape(k)}</a></li>"
                        for k in parts)
        body = []
        for name, part in parts.items():
            if isinstance(part, pd.DataFrame):
                view = _frame_html(part)
            elif hasattr(part, "_repr_html_"):
                view = part._repr_html_()
            else:
                view = f"<pre>{html.escape(repr(part))}</pre>"
            body.append(f"<section id='part-{html.escape(name)}'><h4>{html.escape(name)}"
                        f"</h4>{view}</section>")
        notes = self._notes()
        note_html = ("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
                     if notes else "")
        return (f"<div class='rpc-eval-results'><p><b>{html.escape(self._title())}</b></p>"
                f"<ul>{index}</ul>{note_html}{''.join(body)}</div>")
