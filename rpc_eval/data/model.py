"""The in-memory form of an evaluation dataset: typed tidy tables plus an intake log."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from rpc_eval.data.codebooks import Codebook, load_codebooks
from rpc_eval.errors import PROBLEM_COLUMNS, RpcEvalError
from rpc_eval.instruments import Registry, default_registry

__all__ = ["EvaluationData", "IntakeLog", "schema", "TABLES", "empty_table", "DTYPES"]

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")

#: pandas dtype of each schema column type
DTYPES = {
    "id": "object",
    "text": "object",
    "code": "object",
    "integer": "Int64",
    "number": "float64",
    "date": "datetime64[ns]",
    "boolean": "boolean",
}


@cache
def schema() -> dict[str, Any]:
    """The data model (``rpc_eval/data/schema.yaml``) as a dict: table -> spec."""
    spec = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))["tables"]
    for table in spec.values():
        table.setdefault("required", False)
        for col in table["columns"].values():
            col.setdefault("required", True)
            col.setdefault("nullable", False)
    return spec


TABLES: tuple[str, ...] = tuple(schema())


def empty_table(table: str) -> pd.DataFrame:
    """A table with no rows and the schema's columns and dtypes."""
    cols = schema()[table]["columns"]
    return pd.DataFrame({c: pd.Series(dtype=DTYPES[s["type"]]) for c, s in cols.items()})


RECONCILIATION_COLUMNS = [
    "table", "file", "rows_read", "rows_kept", "rows_excluded", "blank_rows_ignored",
]


@dataclass
class IntakeLog:
    """What happened to every row read.

    Attributes
    ----------
    problems : DataFrame
        One row per problem: ``table, file, row, column, value, severity, problem,
        hint``. ``severity`` is ``error`` (the row was excluded, or the file could not
        be used), ``warning`` (the value was kept but interpreted) or ``info``.
    tables : DataFrame
        One row per table: ``table, file, rows_read, rows_kept, rows_excluded,
        blank_rows_ignored``; ``rows_read == rows_kept + rows_excluded`` always holds.
    excluded : DataFrame
        One row per excluded row: ``table, file, row, reason`` (reasons joined by "; ").
    """

    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
    tables: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=RECONCILIATION_COLUMNS)
    )
    excluded: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["table", "file", "row", "reason"])
    )
    source: str = ""
    pseudonymised: bool = False

    @property
    def n_errors(self) -> int:
        return int((self.problems["severity"] == "error").sum())

    @property
    def n_warnings(self) -> int:
        return int((self.problems["severity"] == "warning").sum())

    def reconciles(self) -> bool:
        """True when, for every table, rows read = rows kept + rows excluded."""
        t = self.tables
        return bool((t["rows_read"] == t["rows_kept"] + t["rows_excluded"]).all())

    def summary(self) -> str:
        """A few lines for people: rows per table and problem counts."""
        lines = [f"Intake of {self.source}" + (" (identifiers pseudonymised)" if self.pseudonymised else "")]
        for r in self.tables.itertuples(index=False):
            line = f"  {r.table:<19} {r.rows_read:>9,} read  {r.rows_kept:>9,} kept  {r.rows_excluded:>7,} excluded"
            if r.blank_rows_ignored:
                line += f"  ({r.blank_rows_ignored} blank rows ignored)"
            lines.append(line)
        lines.append(f"  {self.n_errors} error(s), {self.n_warnings} warning(s)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


@dataclass
class EvaluationData:
    """An evaluation dataset: one typed, tidy DataFrame per table of the data model.

    Build one with :func:`rpc_eval.data.load` (from files) or
    :func:`rpc_eval.synthetic.generate`. Tables absent from the input are empty frames
    with the schema's columns. Column types: identifiers, text and codes are ``str``;
    integers are nullable ``Int64``; dates are ``datetime64[ns]``; yes/no columns are
    nullable ``boolean``.
    """

    las: pd.DataFrame
    parents: pd.DataFrame
    interventions: pd.DataFrame = field(default_factory=lambda: empty_table("interventions"))
    attendance: pd.DataFrame = field(default_factory=lambda: empty_table("attendance"))
    responses: pd.DataFrame = field(default_factory=lambda: empty_table("responses"))
    practitioners: pd.DataFrame = field(default_factory=lambda: empty_table("practitioners"))
    training_responses: pd.DataFrame = field(
        default_factory=lambda: empty_table("training_responses")
    )
    planning_tool: pd.DataFrame = field(default_factory=lambda: empty_table("planning_tool"))
    codebooks: dict[str, Codebook] = field(default_factory=load_codebooks, repr=False)
    instruments: Registry = field(default_factory=default_registry, repr=False)
    intake_log: IntakeLog = field(default_factory=IntakeLog, repr=False)

    def table(self, name: str) -> pd.DataFrame:
        """The table called ``name`` (one of :data:`TABLES`)."""
        if name not in TABLES:
            raise RpcEvalError(f"no table {name!r}; tables are {', '.join(TABLES)}")
        return getattr(self, name)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Table name -> DataFrame, in data-model order."""
        return {name: getattr(self, name) for name in TABLES}

    def summary(self) -> pd.DataFrame:
        """Rows and columns per table: columns ``table, rows, columns``."""
        return pd.DataFrame(
            [(n, len(t), t.shape[1]) for n, t in self.tables().items()],
            columns=["table", "rows", "columns"],
        )

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={len(t):,}" for n, t in self.tables().items())
        return f"EvaluationData({parts})"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + self.summary().to_html(index=False)
