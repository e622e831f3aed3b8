"""Text that leaves the package for a spreadsheet or a figure, made inert.

Codes and names come from LAs' files and summaries, so they may hold anything. Two
places would otherwise interpret them:

* **Spreadsheets opening a CSV** run a cell that starts with ``=``, ``+``, ``-`` or ``@``
  (and, in some programs, tab or carriage return) as a formula:
  ``=HYPERLINK("http://x","click")`` becomes a live link, ``+cmd|' /C calc'!A0`` a
  command. :func:`neutralise_cell` follows the OWASP rule (OWASP, *CSV Injection*): such
  a text cell that is not a number is written with a leading apostrophe, which
  spreadsheets show as text and do not evaluate. Numbers (``-1.5``, ``+3``, ``1e-3``) are
  left as they are. HTML and ODS outputs are not affected (they are escaped and typed).
* **Matplotlib** reads text between two ``$`` as mathematical notation and stops with an
  error on notation it cannot parse (``$\\foo$``). :func:`escape_mathtext` escapes every
  ``$`` so a label is drawn exactly as written.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = ["neutralise_cell", "neutralise_frame", "escape_mathtext", "FORMULA_STARTS"]

#: First characters that make a spreadsheet treat a CSV cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text that a spreadsheet would run
    as a formula; anything else unchanged.

    Examples
    --------
    >>> neutralise_cell('=HYPERLINK("http://x","click")')
    '\\'=HYPERLINK("http://x","click")'
    >>> neutralise_cell("-1.5"), neutralise_cell("LA001"), neutralise_cell(-2.0)
    ('-1.5', 'LA001', -2.0)
    >>> neutralise_cell("@SUM(1)"), neutralise_cell("-")
    ("'@SUM(1)", "'-")
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) \
            and not _NUMBER.fullmatch(value.strip()):
        return "'" + value
    return value


def neutralise_frame(data: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``data`` whose text cells and column names pass through
    :func:`neutralise_cell` (numbers and missing values untouched), for writing as CSV.

    Examples
    --------
    >>> f = pd.DataFrame({"la_code": ["LA001", "+cmd|' /C calc'!A0"], "n": [12, -3]})
    >>> neutralise_frame(f)["la_code"].tolist(), neutralise_frame(f)["n"].tolist()
    (['LA001', "'+cmd|' /C calc'!A0"], [12, -3])
    """
    out = data.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s) \
                or isinstance(s.dtype, pd.CategoricalDtype):
            if isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype(object)
            if any(isinstance(v, str) and v.startswith(FORMULA_STARTS) for v in s):
                out[c] = s.map(neutralise_cell)
    out.columns = [neutralise_cell(c) for c in out.columns]
    return out


def escape_mathtext(text: str) -> str:
    """``text`` with every unescaped ``$`` escaped, so matplotlib draws it literally.

    Examples
    --------
    >>> escape_mathtext("LA $\\\\foo$")
    'LA \\\\$\\\\foo\\\\$'
    >>> escape_mathtext("already \\\\$5")
    'already \\\\$5'
    """
    return re.sub(r"(?<!\\)\$", r"\\$", text)
