"""Statistical disclosure control (SDC) of published tables.

Every table that counts people is protected before it is shown or written:

1. **Primary suppression.** A count of 1 to ``threshold - 1`` people (default threshold
   10; 5 is the smallest allowed) is replaced by the marker ``"[c]"``. Zeros are
   published: ``0`` is not a small count, and a zero is never suppressed to protect
   another cell.
2. **Secondary suppression.** Tables often carry their own totals: a column that is
   the sum of other columns in each row (``row_total = sum(parts)``) and rows that are
   the sum of other rows (an ``"All"`` row, per stage or overall). A suppressed cell
   that can be worked out from the published cells and these sums ("differencing") is
   no protection, so more cells are suppressed until no suppressed cell is uniquely
   determined. Totals themselves can be suppressed (primary or secondary).
3. **Derived suppression.** A percentage, mean, rate, confidence limit... that rests on
   a suppressed count of the same row is suppressed too.
4. **Rounding (optional).** Published counts are rounded half up to a base (5 or 10,
   say) after suppression. A non-zero count is never rounded into 1 to
   ``threshold - 1`` (nor to 0): it is then published as the smallest multiple of the
   base that is at least the threshold. Zeros stay 0. Derived columns are *not*
   recomputed: percentages and means stay those of the unrounded counts, and rounded
   rows and columns need not add up to their rounded totals.
5. **A disclosure log** with one row per suppressed cell and the reason. It says which
   cells are small counts, so it stays with the analyst and is never published; the
   published summary only counts suppressed cells per table.
6. **The whole report** (:func:`protect_report`). Tables are protected one by one, then
   decided together: a count that several tables show (declared with ``TableSpec.keys``
   and ``key_columns``) has one status everywhere, and an attacker's audit solves, for
   every suppressed count, two linear programmes over all the report's published
   numbers and sums (with counts >= 0 and suppressed counts >= 1) and suppresses more
   until every interval reaches the threshold and holds more than one whole number.
   Statistics that relate to counts non-linearly (survival with its standard error,
   control limits, a mean with its n, a model term of a small category) are closed by
   declaring what they rest on, so that they are suppressed with it.

Tables whose units are organisations (local authorities, workshops) hold no
information about people and are published as they are (``TableSpec(units=
"organisations")``); their log carries one row (status ``"exempt"``) saying so.

Method for secondary suppression
--------------------------------
The relations declared in a :class:`TableSpec` are linear equations in the count
cells: each row gives ``row_total - sum(parts) = 0``, and each group of rows with a
total row gives, for every count column, ``total - sum(members) = 0``. Moving the
published cells to the right-hand side leaves a system ``A x = b`` in the unknown
(suppressed or missing) cells. A cell is *recoverable* when it is the same in every
solution, i.e. when every vector of the null space of ``A`` is zero at it
(equivalently, the unit vector ``e_i`` lies in the row space of ``A``).
:func:`recoverable_cells` computes exactly that with linear algebra, one connected
block of the system at a time.

Each cell of such a table appears in at most two of these equations with coefficient
+1 or -1, and after multiplying some equations by -1 the matrix ``A`` is the incidence
matrix of a directed graph whose nodes are the equations (plus one outside node for
cells in a single equation) and whose edges are the unknown cells. The null space of
an incidence matrix is the cycle space of the graph, so a cell is recoverable exactly
when its edge is a *bridge* (lies on no cycle). This is why the classic rule "at least
two suppressed cells in every row and column" is not enough: a cell joining two
suppressed rectangles lies on no cycle and equals a difference of published sums.
:func:`protect` therefore iterates: it finds the bridges among the suppressed cells
(linear time) and, for the first one in table order, suppresses the smallest non-zero
published count in the same row or column relation that closes a cycle through it;
when no single cell can, it suppresses the cheapest chain of published cells that does
(fewest cells, then smallest total). Ties go to the first cell in table order, so the
result is deterministic. At the end the suppression pattern is checked again with
the linear algebra of :func:`recoverable_cells` (blocks of up to 100 unknown cells; in
larger blocks a dense null-space computation would dominate the run time, and the
bridge test, being equivalent, stands). :func:`protect` considers only the relations
declared in one table's spec; relations between tables and the bounds from
non-negativity are the business of :func:`protect_report` and its audit.

Reference: the approach follows the Government Statistical Service (GSS) and Office for
National Statistics (ONS) guidance on statistical disclosure control for tables
produced from administrative and survey data: threshold rules for small counts,
secondary suppression against differencing from totals, suppression of statistics
derived from suppressed counts, optional rounding, and a record of what was done.
Missing values are not marked here (the writer marks them ``"[x]"``).

R equivalent: ``sdcTable::protectTable(..., method = "SIMPLEHEURISTIC")`` with a
frequency rule (``sdcTable::primarySuppression(type = "freq", maxN = threshold - 1)``).

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"group": ["a", "b", "c", "All"],
...                       "boys": [3, 20, 15, 38], "girls": [12, 30, 11, 53],
...                       "total": [15, 50, 26, 91]})
>>> spec = TableSpec(counts=("boys", "girls", "total"), row_total="total",
...                  parts=("boys", "girls"), total_rows=TotalRows("group"))
>>> out = protect(frame, spec, DisclosureRules(threshold=10), name="example")
>>> out.published
  group boys girls  total
0     a  [c]   [c]     15
1     b   20    30     50
2     c  [c]   [c]     26
3   All   38    53     91
>>> out.log[["row", "column", "status"]].to_numpy().tolist()
[[0, 'boys', 'primary'], [0, 'girls', 'secondary'], [2, 'boys', 'secondary'], \
[2, 'girls', 'secondary']]
"""

from __future__ import annotations

import heapq
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph

from rpc_eval.errors import DisclosureWarning, RpcEvalError
from rpc_eval.results import Result

__all__ = [
    "DisclosureRules",
    "TableSpec",
    "TotalRows",
    "ProtectedTable",
    "protect",
    "recoverable_cells",
    "undeclared_columns",
    "disclosure_log",
    "disclosure_summary",
    "protect_report",
    "TableInput",
    "ReportAudit",
    "MARKER",
    "LOG_COLUMNS",
]

#: Marker written in place of a suppressed cell.
MARKER = "[c]"
#: Columns of a disclosure log.
LOG_COLUMNS = ["table", "row", "column", "status", "reason", "units"]

SECONDARY_REASON = "protects a suppressed cell from differencing (secondary)"
ACROSS_REASON = ("decided for the whole report: the same count is suppressed in another "
                 "table, or the report's audit found that a suppressed count could "
                 "otherwise be narrowed down (secondary)")
EXEMPT_REASON = ("units are organisations, not people: published as it is, "
                 "without suppression or rounding")
_UNITS = ("people", "organisations")
#: protect() re-checks its result with the linear algebra of recoverable_cells() for
#: blocks of at most this many unknown cells (larger blocks rest on the bridge test,
#: which is equivalent; see the module notes). Dense decompositions of larger blocks
#: are multi-threaded in BLAS and can take seconds on a busy machine.
_CHECK_BLOCK = 100


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise RpcEvalError(f"the disclosure {what} must be a whole number, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class DisclosureRules:
    """Disclosure-control settings of a report.

    Parameters
    ----------
    threshold : int, default 10
        Counts of 1 to ``threshold - 1`` people are suppressed. At least 5.
    rounding : int or None, default None
        Base to which published counts are rounded (half up), e.g. 5 or 10; ``None``
        for no rounding. At least 2.

    Examples
    --------
    >>> DisclosureRules.from_mapping({"threshold": 5, "rounding": 5})
    DisclosureRules(threshold=5, rounding=5)
    """

    threshold: int = 10
    rounding: int | None = None

    def __post_init__(self) -> None:
        threshold = _as_int(self.threshold, "threshold")
        if threshold < 5:
            raise RpcEvalError(f"the disclosure threshold must be at least 5, got {threshold}")
        object.__setattr__(self, "threshold", threshold)
        if self.rounding is not None:
            base = _as_int(self.rounding, "rounding base")
            if base < 2:
                raise RpcEvalError(f"the rounding base must be at least 2 (or None for no "
                                   f"rounding), got {base}")
            object.__setattr__(self, "rounding", base)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> DisclosureRules:
        """Rules from a mapping such as a plan's ``disclosure:`` section (keys
        ``threshold`` and ``rounding``; both optional; other keys are ignored)."""
        if m is None:
            return cls()
        if not isinstance(m, Mapping):
            raise RpcEvalError(f"disclosure rules must be a mapping, got {type(m).__name__}")
        return cls(threshold=m.get("threshold", 10), rounding=m.get("rounding"))


@dataclass(frozen=True)
class TotalRows:
    """Rows of a table that are totals of other rows.

    Parameters
    ----------
    column : str
        Column holding the row labels, e.g. ``"intervention"``.
    label : str, default "All"
        Rows with ``column == label`` are totals ...
    within : tuple of str
        ... of the other rows sharing their values of these columns (e.g.
        ``("stage",)``: one total row per stage). Empty: one total row for the table.
    """

    column: str
    label: Any = "All"
    within: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "within", _str_tuple(self.within, "within"))


def _str_tuple(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise RpcEvalError(f"{what} must be a list of column names, got {value!r}") from None


@dataclass(frozen=True)
class TableSpec:
    """What a table's columns are, for disclosure control.

    Parameters
    ----------
    counts : tuple of str
        Columns holding counts of people (whole numbers >= 0; missing allowed).
        ``row_total`` and ``parts`` are counts too (added if not listed).
    derived : mapping of str to sequence of str
        Column -> the count columns (same row) it rests on, e.g. ``{"pct": ["n"]}``:
        rates, percentages, means, limits ... of counted people. Suppressed wherever one
        of its counts is.
    safe : tuple of str
        Numeric columns that reveal nothing about the counts and are published as they
        are: a year, a threshold, a model estimate already protected another way (e.g.
        by ``Report.table(rests_on=...)``). Every numeric column of a table of people
        must be a count, derived or safe; see :func:`protect` for what happens to one
        that is not declared.
    row_total : str or None
        Column equal to the sum of ``parts`` in every row.
    parts : tuple of str
        Columns adding up to ``row_total``.
    total_rows : TotalRows or None
        Rows that are the sum of other rows (per count column).
    units : {"people", "organisations"}
        ``"organisations"``: the table is published as it is.
    keys : mapping of str to str
        Count column -> the people it counts, e.g. ``{"n_started": "parents started"}``.
        Together with the row's values of ``key_columns`` it names the quantity across
        the whole report: the same quantity in two tables is one number, with one
        disclosure status everywhere it appears (see :func:`protect_report`). Where two
        cells so declared hold different numbers they are two quantities, and if they
        differ by 1 to threshold-1 both are suppressed (with what rests on them), since
        comparing them would single out the few people in one and not the other. Count
        columns not named here are quantities of their own table only.
    key_columns : tuple of str
        Columns identifying whom a row counts (e.g. ``("intervention",)``).
    """

    counts: tuple[str, ...] = ()
    derived: Mapping[str, Sequence[str]] = field(default_factory=dict)
    safe: tuple[str, ...] = ()
    row_total: str | None = None
    parts: tuple[str, ...] = ()
    total_rows: TotalRows | None = None
    units: str = "people"
    keys: Mapping[str, str] = field(default_factory=dict)
    key_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", {str(k): str(v) for k, v in
                                          dict(self.keys or {}).items()})
        object.__setattr__(self, "key_columns", _str_tuple(self.key_columns, "key_columns"))
        object.__setattr__(self, "counts", _str_tuple(self.counts, "counts"))
        object.__setattr__(self, "parts", _str_tuple(self.parts, "parts"))
        object.__setattr__(self, "safe", _str_tuple(self.safe, "safe"))
        derived = {str(k): _str_tuple(v, f"derived[{k!r}]")
                   for k, v in dict(self.derived or {}).items()}
        object.__setattr__(self, "derived", derived)
        if self.units not in _UNITS:
            raise RpcEvalError(f"table units must be one of {_UNITS}, got {self.units!r}")
        if (self.row_total is None) != (not self.parts):
            raise RpcEvalError("row_total and parts go together: give both or neither")
        if self.row_total is not None and self.row_total in self.parts:
            raise RpcEvalError(f"row_total {self.row_total!r} cannot also be one of its parts")
        if len(set(self.parts)) != len(self.parts):
            raise RpcEvalError(f"parts has a column twice: {self.parts}")
        if isinstance(self.total_rows, Mapping):
            object.__setattr__(self, "total_rows", TotalRows(**self.total_rows))
        count_set = set(self.all_counts)
        not_counts = [c for c in self.keys if c not in count_set]
        if not_counts:
            raise RpcEvalError(f"keys names {not_counts}, which are not count columns")
        for col, rests in derived.items():
            if col in count_set:
                raise RpcEvalError(f"column {col!r} cannot be both a count and derived")
            missing = [c for c in rests if c not in count_set]
            if missing:
                raise RpcEvalError(f"derived column {col!r} rests on {missing}, which are not "
                                   "count columns of the spec")
        for col in self.safe:
            if col in count_set or col in derived:
                what = "a count" if col in count_set else "derived from counts"
                raise RpcEvalError(f"column {col!r} is declared safe and also {what}: a "
                                   "column is one of count, derived or safe")

    @property
    def all_counts(self) -> tuple[str, ...]:
        """``counts`` plus ``row_total`` and ``parts`` (no repeats, in that order)."""
        extra = ([self.row_total] if self.row_total else []) + list(self.parts)
        return tuple(dict.fromkeys([*self.counts, *extra]))

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> TableSpec:
        """Spec from a mapping (e.g. YAML); ``total_rows`` may be a mapping too."""
        m = dict(m)
        unknown = set(m) - {"counts", "derived", "safe", "row_total", "parts", "total_rows",
                            "units", "keys", "key_columns"}
        if unknown:
            raise RpcEvalError(f"unknown table-spec keys: {sorted(unknown)}")
        return cls(**m)


@dataclass(repr=False)
class ProtectedTable(Result):
    """A table after disclosure control (a :class:`~rpc_eval.results.Result`: one-line
    ``repr``; ``summary()`` shows the published table; ``to_frame()`` is ``published``).

    Attributes
    ----------
    name : str
    published : DataFrame
        Same shape, columns, order and index as the input; suppressed cells hold
        ``"[c]"`` (a column with a marker is of object dtype, others keep their dtype).
        Published counts are rounded when the rules say so.
    status : DataFrame
        Same shape: ``""``, ``"primary"``, ``"secondary"``, ``"derived"`` or
        ``"rounded"`` (a published non-zero count under a rounding rule, whether or not
        its value changed).
    log : DataFrame
        Columns ``table, row, column, status, reason, units``: one row per suppressed
        cell (``row`` is the 0-based position). A table of organisations has instead
        one row with status ``"exempt"`` and no row or column.
    n_suppressed : int
        Cells suppressed (primary + secondary + derived).
    rules : DisclosureRules
    units : str
    """

    name: str
    published: pd.DataFrame
    status: pd.DataFrame
    log: pd.DataFrame
    n_suppressed: int
    rules: DisclosureRules = field(default_factory=DisclosureRules)
    units: str = "people"

    def _title(self) -> str:
        return f"Protected table {self.name}"

    def _facts(self) -> list[tuple[str, Any]]:
        if self.units != "people":
            return [("Units", f"{self.units}, published as it is")]
        flat = self.status.to_numpy().ravel()
        facts: list[tuple[str, Any]] = [("Threshold", self.rules.threshold),
                                        ("Cells suppressed", self.n_suppressed)]
        facts += [(f"{s.capitalize()}", int((flat == s).sum()))
                  for s in ("primary", "secondary", "derived")]
        if self.rules.rounding:
            facts.append(("Counts rounded to base", self.rules.rounding))
        return facts

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"published": self.published}


# ---------------------------------------------------------------------------------------
# The additive structure of a table
# ---------------------------------------------------------------------------------------


@dataclass
class _Structure:
    """Count cells (flat index ``row * k + j``) and the equations linking them."""

    cols: list[str]            # count columns, in frame order
    values: np.ndarray         # n x k float, NaN = missing
    n_eq: int
    eq_cells: list[np.ndarray]  # cells of each equation
    eq_coef: list[np.ndarray]   # their coefficients (+1 total, -1 parts)
    ends: np.ndarray           # (n*k, 2): the cell's equations; -1 = none; ground = n_eq

    @property
    def k(self) -> int:
        return len(self.cols)


def _count_values(frame: pd.DataFrame, cols: list[str], check: bool) -> np.ndarray:
    out = np.empty((len(frame), len(cols)))
    for j, c in enumerate(cols):
        s = frame[c]
        try:
            v = pd.to_numeric(s, errors="raise")
            v = np.asarray(pd.Series(v).astype("Float64").to_numpy(dtype=float,
                                                                  na_value=np.nan))
        except (TypeError, ValueError):
            raise RpcEvalError(f"count column {c!r} holds values that are not numbers") from None
        if check:
            ok = np.isnan(v) | ((v >= 0) & (v == np.floor(v)) & np.isfinite(v))
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                raise RpcEvalError(f"count column {c!r} holds {v[i]!r} in row {i} (0-based): "
                                   "counts must be whole numbers of 0 or more")
        out[:, j] = v
    return out


def _structure(frame: pd.DataFrame, spec: TableSpec, check: bool = True) -> _Structure:
    if not isinstance(frame, pd.DataFrame):
        raise RpcEvalError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    wanted = set(spec.all_counts)
    needed = list(spec.all_counts) + list(spec.derived)
    if spec.total_rows is not None:
        needed += [spec.total_rows.column, *spec.total_rows.within]
    needed += list(spec.key_columns)
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise RpcEvalError(f"the table has no column(s) {missing} named in its spec; it has "
                           f"{list(frame.columns)}")
    if frame.columns.duplicated().any():
        raise RpcEvalError("the table has duplicated column names")
    cols = [c for c in frame.columns if c in wanted]
    pos = {c: j for j, c in enumerate(cols)}
    n, k = len(frame), len(cols)
    values = _count_values(frame, cols, check)

    eq_cells: list[np.ndarray] = []
    eq_coef: list[np.ndarray] = []
    if spec.row_total is not None:
        jt = pos[spec.row_total]
        jp = np.array([pos[p] for p in spec.parts])
        base = np.arange(n) * k
        cells = np.column_stack([base + jt, base[:, None] + jp[None, :]])
        coef = np.concatenate([[1.0], -np.ones(len(jp))])
        eq_cells += list(cells)
        eq_coef += [coef] * n
    if spec.total_rows is not None and k:
        tr = spec.total_rows
        is_total = (frame[tr.column] == tr.label).to_numpy(dtype=bool, na_value=False)
        if tr.within:
            group = frame.groupby(list(tr.within), dropna=False, sort=False).ngroup().to_numpy()
        else:
            group = np.zeros(n, dtype=int)
        for g in np.unique(group):
            rows = np.flatnonzero(group == g)
            tot = rows[is_total[rows]]
            mem = rows[~is_total[rows]]
            if len(tot) > 1:
                raise RpcEvalError(
                    f"rows {tot.tolist()} (0-based) are all {tr.label!r} rows of the same "
                    f"group of {list(tr.within) or 'the table'}: a group has one total row")
            if len(tot) == 0 or len(mem) == 0:
                continue
            coef = np.concatenate([[1.0], -np.ones(len(mem))])
            for j in range(k):
                eq_cells.append(np.concatenate([[tot[0] * k + j], mem * k + j]))
                eq_coef.append(coef)
    n_eq = len(eq_cells)
    ends = np.full((n * k, 2), -1, dtype=np.int64)
    for e, cells in enumerate(eq_cells):
        slot = (ends[cells, 0] >= 0).astype(int)
        ends[cells, slot] = e
    single = (ends[:, 0] >= 0) & (ends[:, 1] < 0)
    ends[single, 1] = n_eq  # cells in one equation hang on the outside ("ground") node
    return _Structure(cols, values, n_eq, eq_cells, eq_coef, ends)


# ---------------------------------------------------------------------------------------
# Recoverability: linear algebra (the checker)
# ---------------------------------------------------------------------------------------


def _mask_array(suppressed: Any, frame: pd.DataFrame, st: _Structure) -> np.ndarray:
    """Suppressed count cells as an n x k bool array."""
    if isinstance(suppressed, pd.DataFrame):
        if list(suppressed.columns) != list(frame.columns) or len(suppressed) != len(frame):
            raise RpcEvalError("the suppressed mask must have the table's shape and columns")
        m = suppressed[st.cols].to_numpy(dtype=bool)
    else:
        arr = np.asarray(suppressed, dtype=bool)
        if arr.shape == (len(frame), frame.shape[1]):
            idx = [frame.columns.get_loc(c) for c in st.cols]
            m = arr[:, idx]
        elif arr.shape == (len(frame), st.k):
            m = arr
        else:
            raise RpcEvalError(f"the suppressed mask has shape {arr.shape}; expected "
                               f"{frame.shape} (the table) or {(len(frame), st.k)}")
    return m


def _determined(a: np.ndarray) -> np.ndarray:
    """Columns of ``a`` fixed by ``a x = b`` (null space zero there)."""
    m, n = a.shape
    if n <= m or n <= 400:
        null = scipy.linalg.null_space(a)
        if null.shape[1] == 0:
            return np.ones(n, dtype=bool)
        return np.sqrt((null**2).sum(axis=1)) < 1e-8
    # Wide block: diagonal of the projector on the row space, A^T (A A^T)^+ A, from the
    # eigen-decomposition of the small m x m matrix A A^T (same answer, cheaper).
    lam, vec = np.linalg.eigh(a @ a.T)
    keep = lam > lam.max() * max(a.shape) * np.finfo(float).eps * 10
    w = (vec[:, keep].T @ a) / np.sqrt(lam[keep])[:, None]
    return (w**2).sum(axis=0) > 1 - 1e-8


def _recoverable(st: _Structure, supp: np.ndarray, max_block: int | None = None) -> list[int]:
    """Flat indices of determined suppressed cells; blocks with more than ``max_block``
    unknowns are skipped (``None``: none skipped)."""
    unknown = (supp | np.isnan(st.values)).ravel()
    if st.n_eq == 0 or not unknown.any():
        return []
    rows = np.concatenate(st.eq_cells) if st.eq_cells else np.array([], int)
    eqs = np.repeat(np.arange(st.n_eq), [len(c) for c in st.eq_cells])
    coef = np.concatenate(st.eq_coef)
    keep = unknown[rows]
    cells, eqs, coef = rows[keep], eqs[keep], coef[keep]
    ucells = np.unique(cells)
    if len(ucells) == 0:
        return []
    col_of = np.full(unknown.size, -1)
    col_of[ucells] = np.arange(len(ucells))
    m, nu = st.n_eq, len(ucells)
    a = scipy.sparse.csr_matrix((coef, (eqs, col_of[cells])), shape=(m, nu))
    adj = scipy.sparse.bmat([[None, a], [a.T, None]]).tocsr()
    _, lab = scipy.sparse.csgraph.connected_components(adj, directed=False)
    eq_lab, cell_lab = lab[:m], lab[m:]
    supp_flat = supp.ravel()
    out: list[int] = []
    for comp in np.unique(cell_lab[supp_flat[ucells]]):
        cidx = np.flatnonzero(cell_lab == comp)
        if max_block is not None and len(cidx) > max_block:
            continue
        eidx = np.flatnonzero(eq_lab == comp)
        block = a[eidx][:, cidx].toarray()
        det = _determined(block)
        out += [int(c) for c in ucells[cidx[det]] if supp_flat[c]]
    return sorted(out)


def recoverable_cells(data: pd.DataFrame, suppressed: Any, spec: TableSpec
                      ) -> list[tuple[int, str]]:
    """Suppressed cells that the published cells and the spec's sums determine.

    Parameters
    ----------
    data : DataFrame
        The table (its values; only which count cells are missing matters, since
        uniqueness of a linear system's solution does not depend on its right-hand side).
    suppressed : DataFrame or array of bool
        Mask of suppressed cells, the table's shape (or n_rows x count columns).
    spec : TableSpec
        The relations (``row_total = sum(parts)``; total row = sum of member rows).

    Returns
    -------
    list of (int, str)
        ``(row position, column)`` of every suppressed count cell that is uniquely
        determined, in table order. Empty when the suppression pattern is safe.

    Notes
    -----
    Unknowns are the suppressed and missing count cells that appear in a relation; each
    relation becomes an equation with the published cells on the right-hand side. A
    cell is determined iff every null-space vector of the coefficient matrix is zero at
    it (``scipy.linalg.null_space``); blocks of the system that share no unknown are
    solved separately, and only blocks holding a suppressed cell are examined.

    Examples
    --------
    >>> data = pd.DataFrame({"a": [4, 20], "b": [30, 40], "t": [34, 60]})
    >>> spec = TableSpec(counts=("a", "b", "t"), row_total="t", parts=("a", "b"))
    >>> recoverable_cells(data, data == 4, spec)
    [(0, 'a')]
    >>> recoverable_cells(data, (data == 4) | (data == 30), spec)
    []
    """
    st = _structure(data, spec, check=False)
    supp = _mask_array(suppressed, data, st)
    return [(c // st.k, st.cols[c % st.k]) for c in _recoverable(st, supp)]


# ---------------------------------------------------------------------------------------
# Secondary suppression: bridges of the graph of unknown cells
# ---------------------------------------------------------------------------------------


def _bridges(n_nodes: int, ea: np.ndarray, eb: np.ndarray) -> np.ndarray:
    """Bool mask of edges that are bridges (iterative Tarjan; parallel edges allowed)."""
    n_edges = len(ea)
    is_bridge = np.zeros(n_edges, dtype=bool)
    if n_edges == 0:
        return is_bridge
    order = np.argsort(np.concatenate([ea, eb]), kind="stable")
    nbr_node = np.concatenate([eb, ea])[order].tolist()
    nbr_edge = np.concatenate([np.arange(n_edges)] * 2)[order].tolist()
    start = np.searchsorted(np.concatenate([ea, eb])[order], np.arange(n_nodes + 1)).tolist()
    disc = [-1] * n_nodes
    low = [0] * n_nodes
    timer = 0
    for root in sorted(set(ea.tolist()) | set(eb.tolist())):
        if disc[root] >= 0:
            continue
        disc[root] = low[root] = timer
        timer += 1
        stack = [(root, -1, start[root])]
        while stack:
            v, pe, i = stack[-1]
            if i < start[v + 1]:
                stack[-1] = (v, pe, i + 1)
                w, e = nbr_node[i], nbr_edge[i]
                if e == pe:
                    continue
                if disc[w] < 0:
                    disc[w] = low[w] = timer
                    timer += 1
                    stack.append((w, e, start[w]))
                elif disc[w] < low[v]:
                    low[v] = disc[w]
            else:
                stack.pop()
                if stack:
                    u = stack[-1][0]
                    if low[v] < low[u]:
                        low[u] = low[v]
                    if low[v] > disc[u]:
                        is_bridge[pe] = True
    return is_bridge


class _BridgeTree:
    """2-edge-connected components and the forest of bridges joining them, with
    union-find so that closing a cycle merges the components along its path."""

    def __init__(self, n_nodes: int, ea: np.ndarray, eb: np.ndarray, bridge: np.ndarray):
        keep = ~bridge
        g = scipy.sparse.coo_matrix((np.ones(int(keep.sum())), (ea[keep], eb[keep])),
                                    shape=(n_nodes, n_nodes))
        n_comp, self.comp = scipy.sparse.csgraph.connected_components(g, directed=False)
        b_ids = np.flatnonzero(bridge)
        ca, cb = self.comp[ea[b_ids]], self.comp[eb[b_ids]]
        adj: list[list[tuple[int, int]]] = [[] for _ in range(n_comp)]
        for e, x, y in zip(b_ids.tolist(), ca.tolist(), cb.tolist(), strict=True):
            adj[x].append((y, e))
            adj[y].append((x, e))
        self.parent = [-1] * n_comp
        self.parent_edge = [-1] * n_comp
        self.depth = [0] * n_comp
        self.tin = [0] * n_comp
        self.tout = [0] * n_comp
        self.tree = [-1] * n_comp
        timer = 0
        for r in range(n_comp):
            if self.tree[r] >= 0:
                continue
            self.tree[r] = r
            self.tin[r] = timer
            timer += 1
            stack = [(r, 0)]
            while stack:
                v, i = stack[-1]
                if i < len(adj[v]):
                    stack[-1] = (v, i + 1)
                    w, e = adj[v][i]
                    if self.tree[w] < 0:
                        self.tree[w] = r
                        self.parent[w], self.parent_edge[w] = v, e
                        self.depth[w] = self.depth[v] + 1
                        self.tin[w] = timer
                        timer += 1
                        stack.append((w, 0))
                else:
                    self.tout[v] = timer
                    stack.pop()
        self.rep = list(range(n_comp))
        self.child_of_edge = {self.parent_edge[c]: c for c in range(n_comp)
                              if self.parent_edge[c] >= 0}
        self.closed: set[int] = set()
        self.tin_arr = np.asarray(self.tin)
        self.tree_arr = np.asarray(self.tree)

    def find(self, x: int) -> int:
        root = x
        while self.rep[root] != root:
            root = self.rep[root]
        while self.rep[x] != root:
            self.rep[x], x = root, self.rep[x]
        return root

    def side(self, bridge: int, nodes: np.ndarray) -> np.ndarray:
        """1 = below the bridge, 0 = above it (same tree), -1 = another tree."""
        c = self.child_of_edge[bridge]
        comp = self.comp[nodes]
        below = (self.tin_arr[comp] >= self.tin[c]) & (self.tin_arr[comp] < self.tout[c])
        same = self.tree_arr[comp] == self.tree[c]
        return np.where(same, below.astype(int), -1)

    def add_edge(self, p: int, q: int) -> None:
        """Close the cycle p..q: every bridge on the tree path stops being one."""
        a, b = self.find(int(self.comp[p])), self.find(int(self.comp[q]))
        while a != b:
            if self.depth[a] < self.depth[b]:
                a, b = b, a
            self.closed.add(self.parent_edge[a])
            up = self.find(self.parent[a])
            self.rep[a] = up
            a = up


def _cheapest_chain(st: _Structure, unknown: np.ndarray, publishable: np.ndarray,
                    cell: int) -> list[int]:
    """Fewest (then smallest) published cells whose suppression puts ``cell`` on a cycle."""
    n_nodes = st.n_eq + 1
    has = st.ends[:, 0] >= 0
    edges = np.flatnonzero(has & (unknown | publishable))
    edges = edges[edges != cell]
    vals = np.nan_to_num(st.values.ravel()[edges])
    big = float(vals.sum()) + 1.0
    cost = np.where(unknown[edges], 0.0, big + vals)
    adj: list[list[tuple[int, float, int]]] = [[] for _ in range(n_nodes)]
    for e, x, y, c in zip(edges.tolist(), st.ends[edges, 0].tolist(),
                          st.ends[edges, 1].tolist(), cost.tolist(), strict=True):
        adj[x].append((y, c, e))
        adj[y].append((x, c, e))
    src, dst = int(st.ends[cell, 0]), int(st.ends[cell, 1])
    dist = {src: 0.0}
    via: dict[int, tuple[int, int]] = {}
    heap = [(0.0, src)]
    while heap:
        d, v = heapq.heappop(heap)
        if d > dist.get(v, np.inf):
            continue
        if v == dst:
            break
        for w, c, e in adj[v]:
            nd = d + c
            if nd < dist.get(w, np.inf):
                dist[w] = nd
                via[w] = (v, e)
                heapq.heappush(heap, (nd, w))
    if dst not in dist:
        return []
    out, v = [], dst
    while v != src:
        v, e = via[v]
        if not unknown[e]:
            out.append(e)
    return sorted(out)


def _secondary(st: _Structure, primary: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Secondary cells (flat mask) and cells left recoverable (should be none)."""
    n_nodes = st.n_eq + 1
    supp = primary.ravel().copy()
    missing = np.isnan(st.values).ravel()
    vals = np.nan_to_num(st.values.ravel())
    in_rel = st.ends[:, 0] >= 0
    eq_cells = st.eq_cells
    unprotectable: list[int] = []
    while True:
        unknown = (supp | missing) & in_rel
        edges = np.flatnonzero(unknown)
        ea, eb = st.ends[edges, 0], st.ends[edges, 1]
        is_bridge = _bridges(n_nodes, ea, eb)
        todo = [int(e) for e in np.flatnonzero(is_bridge & supp[edges])
                if int(edges[e]) not in unprotectable]
        if not todo:
            break
        tree = _BridgeTree(n_nodes, ea, eb, is_bridge)
        publishable = ~supp & ~missing & (vals > 0) & in_rel
        first_unclosable = None
        progress = False
        for b in todo:  # bridges in table order (edges are sorted by cell)
            if b in tree.closed:
                continue
            cell = int(edges[b])
            best = None
            for end in st.ends[cell]:
                if end >= st.n_eq:
                    continue
                cand = eq_cells[end]
                cand = cand[publishable[cand]]
                if len(cand) == 0:
                    continue
                other = np.where(st.ends[cand, 0] == end, st.ends[cand, 1], st.ends[cand, 0])
                s_here = tree.side(b, np.array([end]))[0]
                s_other = tree.side(b, other)
                ok = (s_other >= 0) & (s_other != s_here)
                for c in cand[ok].tolist():
                    key = (vals[c], c)
                    if best is None or key < best[0]:
                        best = (key, c)
            if best is None:
                if first_unclosable is None:
                    first_unclosable = cell
                continue
            c = best[1]
            supp[c] = True
            publishable[c] = False
            tree.add_edge(int(st.ends[c, 0]), int(st.ends[c, 1]))
            progress = True
        if progress:
            continue
        # the first bridge of todo was open, so without progress it was unclosable
        assert first_unclosable is not None
        chain = _cheapest_chain(st, unknown, publishable, first_unclosable)
        if chain:
            supp[chain] = True
        else:
            unprotectable.append(first_unclosable)
    return supp.reshape(primary.shape) & ~primary, unprotectable


# ---------------------------------------------------------------------------------------
# protect
# ---------------------------------------------------------------------------------------


def _round_half_up(v: np.ndarray, base: int, threshold: int) -> np.ndarray:
    out = np.floor(v / base + 0.5) * base
    floor_ = -(-threshold // base) * base  # smallest multiple of base >= threshold
    return np.where(v > 0, np.maximum(out, floor_), out)


def _publish_column(s: pd.Series, new: np.ndarray, supp: np.ndarray) -> pd.Series:
    """Column ``s`` with rounded values ``new`` and markers where ``supp``."""
    missing = s.isna().to_numpy()
    orig = s.tolist()
    if supp.any():
        out = [MARKER if supp[i] else (orig[i] if missing[i] else int(new[i]))
               for i in range(len(s))]
        return pd.Series(out, index=s.index, name=s.name, dtype=object)
    old = s.to_numpy(dtype=float, na_value=np.nan)
    if np.array_equal(old, new, equal_nan=True):
        return s
    if s.dtype == object:
        return pd.Series([orig[i] if missing[i] else int(new[i]) for i in range(len(s))],
                         index=s.index, name=s.name, dtype=object)
    if pd.api.types.is_float_dtype(s.dtype) and not isinstance(s.dtype, pd.api.extensions.
                                                                ExtensionDtype):
        return pd.Series(new, index=s.index, name=s.name, dtype=s.dtype)
    return pd.Series(new, index=s.index, name=s.name).astype(s.dtype)


def _empty_log() -> pd.DataFrame:
    return pd.DataFrame({"table": pd.Series(dtype=object), "row": pd.Series(dtype="Int64"),
                         "column": pd.Series(dtype=object), "status": pd.Series(dtype=object),
                         "reason": pd.Series(dtype=object), "units": pd.Series(dtype=object)})


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)


def undeclared_columns(data: pd.DataFrame, spec: TableSpec) -> list[str]:
    """Numeric columns of ``data`` the spec does not declare (count, derived or safe).

    Columns of numbers (any numeric dtype but boolean, or object columns whose values are
    all numbers) that are not counts, not derived, not safe, and not the columns naming
    rows (``key_columns``, the total rows' label and grouping columns).

    Examples
    --------
    >>> t = pd.DataFrame({"g": ["a"], "n": [8], "denominator": [16], "rate": [0.5]})
    >>> undeclared_columns(t, TableSpec(counts=("n",)))
    ['denominator', 'rate']
    >>> undeclared_columns(t, TableSpec(counts=("n", "denominator"),
    ...                                 derived={"rate": ["n", "denominator"]}))
    []
    """
    declared = set(spec.all_counts) | set(spec.derived) | set(spec.safe) | \
        set(spec.key_columns)
    if spec.total_rows is not None:
        declared |= {spec.total_rows.column, *spec.total_rows.within}
    out = []
    for c in data.columns:
        if c in declared:
            continue
        s = data[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            continue
        if pd.api.types.is_numeric_dtype(s.dtype):
            out.append(c)
        elif s.dtype == object:
            vals = [v for v in s.tolist() if v is not None and not pd.isna(v)]
            if vals and all(_is_number(v) for v in vals):
                out.append(c)
    return out


def _undeclared_warning(name: str, cols: list[str], has_counts: bool, t: int) -> str:
    names = ", ".join(repr(str(c)) for c in cols)
    one = len(cols) == 1
    done = ("It was published only where no count of its row was suppressed"
            if one else "They were published only where no count of their row was "
            "suppressed") if has_counts else \
        ("The table declares no counts, so nothing could be suppressed with "
         + ("it" if one else "them"))
    return (f"table {name!r}: the column{'' if one else 's'} {names} "
            f"hold{'s' if one else ''} numbers, but the table's TableSpec does not say what "
            f"{'it is' if one else 'they are'}. {done}, and whole numbers from 1 to {t - 1} "
            "were suppressed in case they count people. Declare every numeric column in the "
            "TableSpec: as a count of people (counts=(...)), as worked out from counts "
            "(derived={'rate': ['n', 'denominator']} for a rate, percentage or mean), or as "
            "safe to publish whatever the counts (safe=('year',)).")


def protect(data: pd.DataFrame, spec: TableSpec, rules: DisclosureRules | None = None, *,
            name: str, also_suppress: Mapping[str, Sequence[bool] | np.ndarray] | None = None,
            forced: Mapping[str, Sequence[bool] | np.ndarray] | None = None
            ) -> ProtectedTable:
    """Apply disclosure control to one table.

    Parameters
    ----------
    data : DataFrame
        The table as it would be published (one row per published row). Count columns
        hold whole numbers >= 0 (int, float or nullable ``Int64``; missing allowed).
    spec : TableSpec
        Which columns are counts, which rest on them (``derived``), which are safe, and
        which sums the table shows. Every numeric column must be declared (see Notes).
    rules : DisclosureRules, optional
        Threshold and rounding (default: threshold 10, no rounding).
    name : str
        Table name, for the log.
    also_suppress : mapping, optional
        Count column -> one bool per row: further cells to suppress as primary, e.g. a
        count whose difference from another published count (people at one funnel stage
        but not the next) is 1 to threshold-1. Logged as "implies a count ... by
        difference (primary)".
    forced : mapping, optional
        Count column -> one bool per row: cells suppressed by a decision taken for the
        whole report (:func:`audit_report`): the same quantity is suppressed in another
        table, or another table's suppressed count could be worked out through it.
        Logged as secondary ("across tables"); protected from differencing like
        primary cells.

    Returns
    -------
    ProtectedTable
        ``published`` (markers ``"[c]"``), ``status``, ``log`` (columns ``table, row,
        column, status, reason, units``), ``n_suppressed``.

    Notes
    -----
    Steps, in order: primary suppression of counts in ``1 .. threshold-1``; secondary
    suppression until :func:`recoverable_cells` finds nothing (see the module notes for
    the method); derived suppression of columns resting on a suppressed count of the
    same row; rounding of the published counts (derived columns are not recomputed, so
    percentages are those of the unrounded counts, and rounded parts need not add up to
    rounded totals). Missing counts stay missing and count as unknown when checking
    differencing; they are never suppressed. Columns of text and columns declared
    ``safe`` are left untouched.

    **Undeclared numeric columns.** A rate, a denominator or a mean left out of the spec
    would let a reader work out a suppressed count (a rate of 0.5 of 16 people is 8), so
    in a table of people every numeric column must be declared a count, derived or
    safe. One that is not (:func:`undeclared_columns`) is treated as if it rested on
    every count of its row, and as if it might count people itself: it is suppressed in
    every row where a count is suppressed (status ``"derived"``), and where it holds a
    whole number from 1 to ``threshold - 1`` (status ``"primary"``). A
    :class:`~rpc_eval.errors.DisclosureWarning` names the columns and says how to
    declare them. Raises :class:`~rpc_eval.errors.RpcEvalError` for a
    spec naming absent columns, counts that are not whole numbers >= 0, or a group with
    two total rows; warns :class:`~rpc_eval.errors.DisclosureWarning` if a cell could
    not be protected (only possible when every route around it runs through zeros).

    Examples
    --------
    >>> data = pd.DataFrame({"la": ["A", "B", "C"], "n": [4, 120, 0],
    ...                       "pct": [3.2, 96.8, 0.0]})
    >>> out = protect(data, TableSpec(counts=("n",), derived={"pct": ["n"]}),
    ...               DisclosureRules(threshold=5, rounding=5), name="t1")
    >>> out.published["n"].tolist(), out.published["pct"].tolist()
    (['[c]', 120, 0], ['[c]', 96.8, 0.0])
    >>> out.log["reason"].tolist()
    ['count 1-4 (primary)', 'rests on suppressed count n (derived)']
    """
    return _protect(data, spec, rules, name=name, also_suppress=also_suppress,
                    forced=forced, warn=True)


def _protect(data: pd.DataFrame, spec: TableSpec, rules: DisclosureRules | None, *,
             name: str, also_suppress: Mapping[str, Sequence[bool] | np.ndarray] | None,
             forced: Mapping[str, Sequence[bool] | np.ndarray] | None,
             warn: bool) -> ProtectedTable:
    """:func:`protect`; ``warn=False`` when a table is protected again with the same spec
    (the report-wide decision), so the warning on undeclared columns is given once."""
    if rules is None:
        rules = DisclosureRules()
    if not isinstance(rules, DisclosureRules):
        raise RpcEvalError(f"rules must be DisclosureRules, got {type(rules).__name__}")
    if not isinstance(spec, TableSpec):
        raise RpcEvalError(f"spec must be a TableSpec, got {type(spec).__name__}")
    st = _structure(data, spec, check=spec.units == "people")
    status = pd.DataFrame("", index=data.index, columns=data.columns, dtype=object)
    if spec.units != "people":
        log = pd.DataFrame({"table": pd.Series([name], dtype=object),
                            "row": pd.array([pd.NA], dtype="Int64"),
                            "column": pd.Series([None], dtype=object),
                            "status": pd.Series(["exempt"], dtype=object),
                            "reason": pd.Series([EXEMPT_REASON], dtype=object),
                            "units": pd.Series([spec.units], dtype=object)})
        return ProtectedTable(name, data.copy(), status, log, 0, rules, spec.units)

    t = rules.threshold
    v = st.values
    primary = (v >= 1) & (v <= t - 1)
    implied = np.zeros_like(primary)
    for col, flags in (also_suppress or {}).items():
        if col not in st.cols:
            raise RpcEvalError(f"also_suppress names {col!r}, which is not a count column")
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != (len(data),):
            raise RpcEvalError(f"also_suppress[{col!r}] needs one flag per row")
        j = st.cols.index(col)
        implied[:, j] = flags & ~primary[:, j] & (v[:, j] > 0)
    primary |= implied
    across = np.zeros_like(primary)
    for col, flags in (forced or {}).items():
        if col not in st.cols:
            raise RpcEvalError(f"forced names {col!r}, which is not a count column")
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != (len(data),):
            raise RpcEvalError(f"forced[{col!r}] needs one flag per row")
        j = st.cols.index(col)
        across[:, j] = flags & ~primary[:, j] & (v[:, j] > 0)
    secondary, unprotectable = _secondary(st, primary | across)
    secondary |= across
    supp = primary | secondary
    if unprotectable:
        where = [(c // st.k, st.cols[c % st.k]) for c in unprotectable]
        warnings.warn(f"table {name!r}: cells {where} can still be worked out from the table's "
                      "totals (every route around them runs through zeros)",
                      DisclosureWarning, stacklevel=2)
    else:
        left = _recoverable(st, supp, max_block=_CHECK_BLOCK)
        if left:  # pragma: no cover - the bridge search and the algebra agree
            raise RuntimeError(f"disclosure control left cells recoverable: {left}")

    n = len(data)
    cidx = {c: j for j, c in enumerate(st.cols)}
    derived_mask: dict[str, np.ndarray] = {}
    derived_why: dict[str, list[str]] = {}
    for col, rests in spec.derived.items():
        hit = np.zeros(n, dtype=bool)
        why: list[list[str]] = [[] for _ in range(n)]
        for r in rests:
            s = supp[:, cidx[r]]
            hit |= s
            for i in np.flatnonzero(s):
                why[i].append(r)
        hit &= data[col].notna().to_numpy()
        derived_mask[col] = hit
        derived_why[col] = [", ".join(dict.fromkeys(w)) for w in why]

    undeclared = undeclared_columns(data, spec)
    loose: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
    if undeclared:
        row_supp = supp.any(axis=1) if st.k else np.zeros(n, dtype=bool)
        row_why = [", ".join(st.cols[j] for j in np.flatnonzero(supp[i]))
                   for i in range(n)]
        for col in undeclared:
            vals = pd.to_numeric(pd.Series(data[col].tolist(), dtype=object),
                                 errors="coerce").astype(float).to_numpy()
            present = ~np.isnan(vals)
            small = present & (vals >= 1) & (vals <= t - 1) & (vals == np.floor(vals))
            loose[col] = (small, row_supp & present & ~small, row_why)
        if warn:
            warnings.warn(_undeclared_warning(name, undeclared, bool(st.k), t),
                          DisclosureWarning, stacklevel=3)

    published = data.copy()
    st_arr = np.full((n, st.k), "", dtype=object)
    st_arr[primary] = "primary"
    st_arr[secondary] = "secondary"
    for j, c in enumerate(st.cols):
        new = v[:, j].copy()
        if rules.rounding:
            new = _round_half_up(new, rules.rounding, t)
            st_arr[~supp[:, j] & (v[:, j] > 0), j] = "rounded"
        published[c] = _publish_column(data[c], new, supp[:, j]).array
        status[c] = st_arr[:, j]
    for col, hit in derived_mask.items():
        if hit.any():
            old = data[col].tolist()
            published[col] = pd.array([MARKER if hit[i] else old[i] for i in range(n)],
                                      dtype=object)
            status[col] = np.where(hit, "derived", "")
    for col, (small, rests, _) in loose.items():
        hit = small | rests
        if hit.any():
            old = data[col].tolist()
            published[col] = pd.array([MARKER if hit[i] else old[i] for i in range(n)],
                                      dtype=object)
            status[col] = np.where(small, "primary", np.where(rests, "derived", ""))

    records = []
    col_pos = {c: i for i, c in enumerate(data.columns)}
    for j, c in enumerate(st.cols):
        for i in np.flatnonzero(supp[:, j]):
            kind = "primary" if primary[i, j] else "secondary"
            reason = f"count 1-{t - 1} (primary)" if kind == "primary" else SECONDARY_REASON
            if implied[i, j]:
                reason = f"implies a count 1-{t - 1} by difference (primary)"
            elif across[i, j]:
                reason = ACROSS_REASON
            records.append((int(i), col_pos[c], c, kind, reason))
    for col, hit in derived_mask.items():
        for i in np.flatnonzero(hit):
            records.append((int(i), col_pos[col], col, "derived",
                            f"rests on suppressed count {derived_why[col][i]} (derived)"))
    for col, (small, rests, row_reason) in loose.items():
        for i in np.flatnonzero(small):
            records.append((int(i), col_pos[col], col, "primary",
                            f"not declared in the table spec: a whole number 1-{t - 1} may "
                            "count people (primary)"))
        for i in np.flatnonzero(rests):
            records.append((int(i), col_pos[col], col, "derived",
                            f"not declared in the table spec: may rest on suppressed count "
                            f"{row_reason[i]} (derived)"))
    records.sort()
    log = _empty_log()
    if records:
        log = pd.DataFrame({"table": [name] * len(records),
                            "row": pd.array([r[0] for r in records], dtype="Int64"),
                            "column": pd.Series([r[2] for r in records], dtype=object),
                            "status": pd.Series([r[3] for r in records], dtype=object),
                            "reason": pd.Series([r[4] for r in records], dtype=object),
                            "units": [spec.units] * len(records)}).astype(
            {"table": object, "units": object})
    return ProtectedTable(name, published, status, log, len(records), rules, spec.units)


def disclosure_log(tables: Iterable[ProtectedTable]) -> pd.DataFrame:
    """The logs of several protected tables, one after the other.

    Returns
    -------
    DataFrame
        Columns ``table, row, column, status, reason, units`` (``row`` 0-based,
        nullable): one row per suppressed cell, in table order then cell order, plus one
        ``"exempt"`` row per table of organisations. ``log.groupby(["table",
        "status"]).size()`` gives the counts; see also :func:`disclosure_summary`.

    Examples
    --------
    >>> f = pd.DataFrame({"n": [3, 50]})
    >>> t = protect(f, TableSpec(counts=("n",)), name="a")
    >>> disclosure_log([t])[["table", "row", "status"]].to_numpy().tolist()
    [['a', 0, 'primary']]
    """
    logs = [t.log for t in tables if len(t.log)]
    if not logs:
        return _empty_log()
    out = pd.concat(logs, ignore_index=True)
    out["row"] = out["row"].astype("Int64")
    return out[LOG_COLUMNS]


def disclosure_summary(tables: Iterable[ProtectedTable]) -> pd.DataFrame:
    """One row per table: what disclosure control did.

    Returns
    -------
    DataFrame
        Columns ``table, units, threshold, rounding, cells, primary, secondary,
        derived, suppressed, rounded`` (``cells`` = cells of the table; ``rounding`` is
        ``<NA>`` for none).

    Examples
    --------
    >>> f = pd.DataFrame({"n": [3, 50]})
    >>> disclosure_summary([protect(f, TableSpec(counts=("n",)), name="a")]).loc[
    ...     0, ["primary", "suppressed"]].tolist()
    [1, 1]
    """
    rows = []
    for t in tables:
        flat = t.status.to_numpy().ravel()
        rows.append({"table": t.name, "units": t.units, "threshold": t.rules.threshold,
                     "rounding": t.rules.rounding, "cells": flat.size,
                     "primary": int((flat == "primary").sum()),
                     "secondary": int((flat == "secondary").sum()),
                     "derived": int((flat == "derived").sum()),
                     "suppressed": t.n_suppressed,
                     "rounded": int((flat == "rounded").sum())})
    out = pd.DataFrame(rows, columns=["table", "units", "threshold", "rounding", "cells",
                                      "primary", "secondary", "derived", "suppressed",
                                      "rounded"])
    out["rounding"] = out["rounding"].astype("Int64")
    return out


# ---------------------------------------------------------------------------------------
# The whole report: one quantity, one status; the attacker's audit
# ---------------------------------------------------------------------------------------


@dataclass
class TableInput:
    """One table of a report, as :func:`protect_report` takes it: the arguments of
    :func:`protect` (``hidden``: count columns used for decisions but not published)."""

    name: str
    frame: pd.DataFrame
    spec: TableSpec
    also_suppress: Mapping[str, Sequence[bool] | np.ndarray] | None = None
    hidden: tuple[str, ...] = ()


@dataclass
class ReportAudit:
    """What :func:`protect_report` did for the whole report.

    Attributes
    ----------
    intervals : DataFrame
        Columns ``table, row, column, low, high``: for every suppressed count cell that
        takes part in a published relation, the smallest and largest value an attacker
        can infer from every published number and relation of the report (linear
        programming; suppressed counts are at least 1 since zeros are published).
    rounds : int
        Rounds of audit and further suppression until nothing was inferable.
    added : int
        Cells suppressed by report-wide decisions (same quantity elsewhere, or found by
        the audit), beyond what each table's own protection did.
    unprotected : list of str
        Quantities that could not be protected (every route runs through zeros); a
        :class:`~rpc_eval.errors.DisclosureWarning` says so.
    seconds : float
        Time of the report-wide decisions and audit.
    """

    intervals: pd.DataFrame
    rounds: int
    added: int
    unprotected: list[str]
    seconds: float


class _Quantities:
    """Every count cell of a report's tables as a quantity (one per ``spec.keys`` name
    and key-column values, otherwise one per cell), and every published relation as an
    equation between quantities."""

    def __init__(self, inputs: Sequence[TableInput], tables: Mapping[str, ProtectedTable],
                 rules: DisclosureRules) -> None:
        self.rules = rules
        ids: dict[tuple, int] = {}
        value: list[float] = []
        supp: list[bool] = []
        hidden: list[bool] = []
        self.cells: dict[int, list[tuple[str, int, str]]] = {}
        self.cell_var: dict[str, np.ndarray] = {}
        self.near: set[int] = set()
        self.cols: dict[str, list[str]] = {}
        eqs: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        for inp in inputs:
            prot = tables[inp.name]
            if inp.spec.units != "people":
                continue
            st = _structure(inp.frame, inp.spec, check=False)
            self.cols[inp.name] = st.cols
            n = len(inp.frame)
            var = np.empty((n, st.k), dtype=np.int64)
            keyvals = (inp.frame[list(inp.spec.key_columns)].astype(str).to_numpy()
                       if inp.spec.key_columns else np.empty((n, 0), dtype=object))
            status = prot.status
            for j, c in enumerate(st.cols):
                col_supp = (status[c].to_numpy() != "") & (status[c].to_numpy() != "rounded") \
                    if c in status else np.zeros(n, dtype=bool)
                for i in range(n):
                    if c in inp.spec.keys:
                        key = (inp.spec.keys[c],
                               tuple(zip(inp.spec.key_columns, keyvals[i], strict=True)))
                    else:
                        key = ("cell", inp.name, i, c)
                    x = st.values[i, j]
                    q = ids.get(key)
                    if q is not None and not np.isnan(x) and not np.isnan(value[q]) \
                            and x != value[q]:
                        # declared the same people, but not the same number: two
                        # quantities; if they differ by 1 to threshold-1 the few people
                        # in one and not the other could be singled out: both suppressed
                        other = q
                        key = (*key, float(x))
                        q = ids.get(key)
                        if 1 <= abs(x - value[other]) <= rules.threshold - 1:
                            self.near.add(other)
                            self.near.add(q if q is not None else len(value))
                    if q is None:
                        q = ids[key] = len(value)
                        value.append(x)
                        supp.append(False)
                        hidden.append(c in inp.hidden)
                    supp[q] = supp[q] or bool(col_supp[i])
                    if np.isnan(value[q]):
                        value[q] = x
                    var[i, j] = q
                    self.cells.setdefault(q, []).append((inp.name, i, c))
            self.cell_var[inp.name] = var
            flat = var.ravel()
            for cells, coef in zip(st.eq_cells, st.eq_coef, strict=True):
                q, co = flat[cells], coef
                order = np.argsort(q, kind="stable")
                q, co = q[order], co[order]
                if co[0] < 0:
                    co = -co
                eqs.setdefault((tuple(q.tolist()), tuple(co.tolist())), (q, co))
        self.value = np.asarray(value, dtype=float)
        self.supp = np.asarray(supp, dtype=bool)
        self.hidden = np.asarray(hidden, dtype=bool)
        self.eqs = list(eqs.values())

    def unknown(self) -> np.ndarray:
        return self.supp | self.hidden | np.isnan(self.value)

    def bounds(self, q: int) -> tuple[float, float | None]:
        if self.supp[q]:
            return (1.0, None)
        if self.hidden[q] or np.isnan(self.value[q]):
            return (0.0, None)
        v = float(self.value[q])
        base = self.rules.rounding
        if base and v > 0:
            return (max(1.0, v - base / 2), v + base / 2)
        return (v, v)

    def components(self) -> list[tuple[list[int], list[int]]]:
        """(unknown quantities, equations) of each connected block holding a suppressed
        quantity; published quantities are constants (or bounded, under rounding)."""
        vary = self.unknown()
        if self.rules.rounding:
            vary = vary | (self.value > 0)
        parent = list(range(len(self.value)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for q, _ in self.eqs:
            u = [int(x) for x in q if vary[x]]
            for a, b in zip(u, u[1:], strict=False):
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[ra] = rb
        groups: dict[int, list[int]] = {}
        for x in np.flatnonzero(vary):
            groups.setdefault(find(int(x)), []).append(int(x))
        eq_of: dict[int, list[int]] = {}
        for e, (q, _) in enumerate(self.eqs):
            u = [int(x) for x in q if vary[x]]
            if u:
                eq_of.setdefault(find(u[0]), []).append(e)
        out = []
        for root, members in groups.items():
            if root in eq_of and self.supp[members].any():
                out.append((members, eq_of[root]))
        return out

    def intervals(self, members: list[int], eq_ids: list[int]) -> dict[int, tuple[float, float]]:
        """Smallest and largest value of each suppressed quantity of a block (HiGHS)."""
        from scipy.optimize import linprog

        col = {q: j for j, q in enumerate(members)}
        rows, cols, data, rhs = [], [], [], []
        for r, e in enumerate(eq_ids):
            q, co = self.eqs[e]
            b = 0.0
            for x, c in zip(q.tolist(), co.tolist(), strict=True):
                if x in col:
                    rows.append(r)
                    cols.append(col[x])
                    data.append(c)
                else:
                    b -= c * self.value[x]
            rhs.append(b)
        a = scipy.sparse.csr_matrix((data, (rows, cols)), shape=(len(eq_ids), len(members)))
        bounds = [self.bounds(q) for q in members]
        out = {}
        for q in members:
            if not self.supp[q]:
                continue
            c = np.zeros(len(members))
            c[col[q]] = 1.0
            lo = linprog(c, A_eq=a, b_eq=rhs, bounds=bounds, method="highs")
            hi = linprog(-c, A_eq=a, b_eq=rhs, bounds=bounds, method="highs")
            low = float(lo.fun) if lo.status == 0 else 1.0
            high = float(-hi.fun) if hi.status == 0 else np.inf
            out[q] = (low, high)
        return out

    def safe(self, low: float, high: float) -> bool:
        """An attacker's interval protects a count when it reaches the threshold (so the
        count may be large) and holds more than one whole number."""
        return high >= self.rules.threshold - 1e-6 and high - low >= 1 - 1e-6

    def cover(self, q: int, eq_ids: list[int]) -> int | None:
        """The published quantity to suppress next to widen ``q``'s interval: the smallest
        non-zero published count sharing a relation with it (else with its block)."""
        unknown = self.unknown()

        def best(eqs: Iterable[int]) -> int | None:
            cand = {int(x) for e in eqs for x in self.eqs[e][0].tolist()
                    if not unknown[x] and self.value[x] > 0}
            return min(cand, key=lambda x: (self.value[x], x)) if cand else None

        own = [e for e in eq_ids if q in self.eqs[e][0]]
        return best(own) if best(own) is not None else best(eq_ids)


def protect_report(inputs: Sequence[TableInput], rules: DisclosureRules | None = None, *,
                   initial: Mapping[str, ProtectedTable] | None = None,
                   max_rounds: int = 200) -> tuple[dict[str, ProtectedTable], ReportAudit]:
    """Disclosure control of a whole report: one decision per quantity, and an audit.

    Parameters
    ----------
    inputs : sequence of TableInput
        Every table of the report (frame, spec and per-table extra suppression).
    rules : DisclosureRules, optional
    initial : mapping of str to ProtectedTable, optional
        Each table already protected on its own (saves protecting it again).
    max_rounds : int
        Rounds of further suppression before giving up (a warning says so).

    Returns
    -------
    tables : dict of str to ProtectedTable
    audit : ReportAudit

    Notes
    -----
    1. Each table is protected on its own (:func:`protect`).
    2. **One quantity, one status.** Count cells whose spec ``keys`` name the same
       quantity for the same key-column values are one number; if it is suppressed in
       one table it is suppressed in all (and each table's own protection is run again
       around it).
    3. **The attacker's audit.** The equations of every table (row totals, total rows),
       joined through shared quantities, form one linear system. For each suppressed
       count the audit solves two linear programmes (scipy's HiGHS): the smallest and
       largest value consistent with every published number, every relation, counts
       >= 0 and suppressed counts >= 1 (zeros are published; under rounding, a
       published count is known to within half the base). The interval must reach the
       threshold and hold more than one whole number; otherwise the smallest non-zero
       published count sharing a relation with it is suppressed too and the round is
       repeated.

    This is the audit of tau-ARGUS and ``sdcTable::attack()``, run over all the tables
    of a report at once. Relations that are not linear (a survival estimate with its
    standard error, control limits, a mean with its n) are closed by the tables' specs:
    every such statistic is derived from the counts it rests on and is suppressed with
    them.

    Examples
    --------
    >>> a = pd.DataFrame({"g": ["x", "y", "All"], "n": [4, 30, 34]})
    >>> b = pd.DataFrame({"g": ["x", "y"], "n": [4, 30]})
    >>> spec = TableSpec(counts=("n",), keys={"n": "parents"}, key_columns=("g",),
    ...                  total_rows=TotalRows("g"))
    >>> out, audit = protect_report([TableInput("a", a, spec), TableInput("b", b, spec)])
    >>> out["a"].published["n"].tolist(), out["b"].published["n"].tolist()
    (['[c]', '[c]', 34], ['[c]', '[c]'])
    """
    import time

    t0 = time.perf_counter()
    rules = rules or DisclosureRules()
    by_name = {inp.name: inp for inp in inputs}
    tables = {inp.name: (initial[inp.name] if initial and inp.name in initial else
                         protect(inp.frame, inp.spec, rules, name=inp.name,
                                 also_suppress=inp.also_suppress)) for inp in inputs}
    forced: dict[str, dict[str, np.ndarray]] = {}
    before = sum(t.n_suppressed for t in tables.values())
    cache: dict[tuple, dict[int, tuple[float, float]]] = {}
    unprotected: list[str] = []
    rounds = 0
    found: dict[int, tuple[float, float]] = {}
    model = None
    while True:
        rounds += 1
        model = _Quantities(inputs, tables, rules)
        more: set[int] = {q for q in model.near if not model.supp[q]
                          and model.value[q] > 0}
        for q in np.flatnonzero(model.supp):
            for name, i, c in model.cells[int(q)]:
                if c not in by_name[name].hidden and \
                        tables[name].status[c].iloc[i] in ("", "rounded"):
                    more.add(int(q))
        if not more:
            found = {}
            for members, eq_ids in model.components():
                key = (tuple(members), tuple(eq_ids),
                       tuple(model.supp[members].tolist()))
                if key not in cache:
                    cache[key] = model.intervals(members, eq_ids)
                res = cache[key]
                found.update(res)
                for q, (lo, hi) in sorted(res.items()):
                    if model.safe(lo, hi):
                        continue
                    extra = model.cover(q, eq_ids)
                    if extra is None:
                        where = model.cells[q][0]
                        text = f"{where[0]} row {where[1]} column {where[2]}"
                        if text not in unprotected:
                            unprotected.append(text)
                    else:
                        more.add(extra)
        if not more or rounds >= max_rounds:
            break
        changed: set[str] = set()
        for q in more:
            for name, i, c in model.cells[q]:
                flags = forced.setdefault(name, {}).setdefault(
                    c, np.zeros(len(by_name[name].frame), dtype=bool))
                if not flags[i]:
                    flags[i] = True
                    changed.add(name)
        if not changed:
            break
        for name in sorted(changed):
            inp = by_name[name]
            tables[name] = _protect(inp.frame, inp.spec, rules, name=name,
                                    also_suppress=inp.also_suppress, forced=forced[name],
                                    warn=False)
    if unprotected or rounds >= max_rounds:
        warnings.warn("disclosure audit: these counts could still be narrowed down from the "
                      f"report's published numbers: {unprotected}", DisclosureWarning,
                      stacklevel=2)
    records = []
    for q, (lo, hi) in sorted(found.items()):
        for name, i, c in model.cells[q]:
            if c not in by_name[name].hidden:
                records.append((name, i, c, lo, hi))
    intervals = pd.DataFrame(records, columns=["table", "row", "column", "low", "high"])
    after = sum(t.n_suppressed for t in tables.values())
    return tables, ReportAudit(intervals, rounds, after - before, unprotected,
                               time.perf_counter() - t0)
