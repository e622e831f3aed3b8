"""Exceptions and warnings raised by rpc_eval.

Every error a user can cause derives from :class:`RpcEvalError`. Problems found in
input data are collected, not raised one at a time: :class:`DataValidationError`
carries the whole list as :class:`Problem` records, so a user sees everything that
is wrong with a file in one pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

__all__ = [
    "RpcEvalError",
    "DataValidationError",
    "Problem",
    "problems_frame",
    "RpcEvalWarning",
    "DataQualityWarning",
    "ConvergenceWarning",
    "BoundaryFitWarning",
    "DisclosureWarning",
]

PROBLEM_COLUMNS = ["table", "file", "row", "column", "value", "severity", "problem", "hint"]


class RpcEvalError(Exception):
    """Base class of every error rpc_eval raises for a user mistake."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as the user sees it.

    Attributes
    ----------
    table : str
        Table of the data model (``parents``, ``responses`` ...).
    file : str
        File (and sheet, for a workbook) the value came from.
    row : int or None
        Row number as shown in the user's spreadsheet (the header is row 1, so the
        first data row is row 2). ``None`` for a problem with a whole file or column.
    column : str or None
        Column name as written in the file, or ``None``.
    value : str or None
        The offending value, as text (pseudonymised when identifiers are).
    problem : str
        What is wrong, in plain English.
    hint : str
        How to fix it.
    severity : str
        ``"error"`` (the file or row cannot be used), ``"warning"`` (the value was
        kept but interpreted; check it) or ``"info"``.
    """

    table: str
    file: str
    row: int | None
    column: str | None
    value: str | None
    problem: str
    hint: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        text = f"{where}: {self.problem}"
        if self.value not in (None, ""):
            text += f" (value: {self.value!r})"
        if self.hint:
            text += f". Fix: {self.hint}"
        return text


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """Problems as a tidy DataFrame with columns ``table, file, row, column, value,
    severity, problem, hint`` (``row`` is a nullable integer)."""
    frame = pd.DataFrame([asdict(p) for p in problems], columns=PROBLEM_COLUMNS)
    frame["row"] = frame["row"].astype("Int64")
    return frame


@dataclass
class DataValidationError(RpcEvalError):
    """The input cannot be used as it is. ``problems`` lists every problem found."""

    problems: list[Problem] = field(default_factory=list)
    summary: str = "the data could not be read"

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    def __str__(self) -> str:
        shown = self.problems[:20]
        lines = [f"{self.summary} ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The problems as a tidy DataFrame (see :func:`problems_frame`)."""
        return problems_frame(self.problems)


class RpcEvalWarning(UserWarning):
    """Base class of rpc_eval's warnings."""


class DataQualityWarning(RpcEvalWarning):
    """Rows were excluded from the input, or values were interpreted; see the intake log."""


class ConvergenceWarning(RpcEvalWarning):
    """An optimiser stopped before meeting its convergence criteria."""


class BoundaryFitWarning(RpcEvalWarning):
    """A variance component was estimated on the boundary of its parameter space."""


class DisclosureWarning(RpcEvalWarning):
    """Cells of a published table were suppressed for disclosure control."""
