"""Local authorities' planning-tool returns: stages reached, awareness, training, offer.

The planning tool (``planning_tool`` table: ``la_code, return_year, section, item,
response``) is returned by each LA once a year. Its items, their section, the
dimension of each self-assessment element and the valid responses *in order* are the
``planning_tool`` codebook (``rpc_eval/codebooks/planning_tool.yaml``); every function
here takes that codebook (a :class:`~rpc_eval.data.codebooks.Codebook` or its
``to_frame()``), so a region's own elements and stage labels need no code change.

=========================  =============================================================
function                   result
=========================  =============================================================
:func:`stage_distribution` LAs at each stage of each element (or summary by dimension)
:func:`partner_awareness`  % of LAs whose partner agencies are very / somewhat / not aware
:func:`workforce_trained`  LAs in each band of the share of a workforce trained
:func:`interventions_offered`  % of LAs offering each intervention
:func:`stage_change`       paired change in stage between two years (Wilcoxon signed-rank,
                           Stuart-Maxwell marginal homogeneity)
:func:`transition_table`   k x k table of stage in year 0 by stage in year 1
=========================  =============================================================

Percentages are of the LAs that answered the item in that year (``n_total``); missing
responses are left out, never counted as the lowest stage. Confidence intervals are
Wilson score intervals (:func:`rpc_eval.stats.intervals.wilson_interval`), given in
percent like the estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, wilcoxon
from statsmodels.stats.contingency_tables import SquareTable

from rpc_eval.errors import RpcEvalError
from rpc_eval.stats.intervals import wilson_interval

__all__ = [
    "stage_distribution",
    "partner_awareness",
    "workforce_trained",
    "interventions_offered",
    "stage_change",
    "transition_table",
    "stuart_maxwell",
    "DISTRIBUTION_COLUMNS",
    "DIMENSION_COLUMNS",
    "CATEGORY_COLUMNS",
    "OFFERED_COLUMNS",
    "CHANGE_COLUMNS",
]

#: Columns of :func:`stage_distribution` with ``by="item"``.
DISTRIBUTION_COLUMNS = ["return_year", "dimension", "item", "stage", "n_las", "n_total",
                        "percent"]
#: Columns of :func:`stage_distribution` with ``by="dimension"``.
DIMENSION_COLUMNS = ["return_year", "dimension", "n_items", "n_las", "n_responses",
                     "mean_stage", "n_at_least", "percent_at_least"]
#: Columns of :func:`partner_awareness` and :func:`workforce_trained`.
CATEGORY_COLUMNS = ["return_year", "item", "response", "n_las", "n_total", "percent",
                    "ci_low", "ci_high"]
#: Columns of :func:`interventions_offered`.
OFFERED_COLUMNS = ["return_year", "item", "n_offering", "n_total", "percent", "ci_low",
                   "ci_high"]
#: Columns of :func:`stage_change`.
CHANGE_COLUMNS = ["item", "dimension", "year_from", "year_to", "n_paired", "n_up", "n_same",
                  "n_down", "percent_up", "percent_same", "percent_down", "mean_from",
                  "mean_to", "mean_change", "wilcoxon_statistic", "wilcoxon_z", "wilcoxon_p_value",
                  "stuart_maxwell_statistic", "stuart_maxwell_df", "stuart_maxwell_p_value"]

_NEEDED = ["la_code", "return_year", "item", "response"]


# --------------------------------------------------------------------------- helpers
def _book(codebook: Any) -> pd.DataFrame:
    """Codebook -> frame ``item, section, dimension, responses`` (responses as str lists)."""
    frame = codebook.to_frame() if hasattr(codebook, "to_frame") else codebook
    if not isinstance(frame, pd.DataFrame):
        raise RpcEvalError("codebook must be the planning_tool Codebook "
                           "(data.codebooks['planning_tool']) or its to_frame()")
    frame = frame.rename(columns={"code": "item"})
    missing = [c for c in ("item", "section", "responses") if c not in frame.columns]
    if missing:
        raise RpcEvalError(f"the planning_tool codebook needs column(s) {missing}")
    out = pd.DataFrame({
        "item": frame["item"].astype(str).to_numpy(),
        "section": frame["section"].astype(str).to_numpy(),
        "dimension": (frame["dimension"].to_numpy() if "dimension" in frame.columns
                      else np.full(len(frame), np.nan, dtype=object)),
        "responses": [[str(r) for r in rs] for rs in frame["responses"]],
    })
    return out


def _section_items(book: pd.DataFrame, section: str, items: Sequence[str] | None) -> pd.DataFrame:
    sections = list(dict.fromkeys(book["section"]))
    if section not in sections:
        raise RpcEvalError(f"unknown planning-tool section {section!r}; the codebook has "
                           f"{sections}")
    sub = book[book["section"] == section]
    if items is not None:
        if isinstance(items, str):
            items = [items]
        unknown = [i for i in items if i not in set(sub["item"])]
        if unknown:
            raise RpcEvalError(f"unknown item(s) {unknown} in section {section!r}; valid "
                               f"items: {list(sub['item'])}")
        sub = sub.set_index("item").loc[list(items)].reset_index()
    return sub.reset_index(drop=True)


def _returns(planning_tool: pd.DataFrame, sub: pd.DataFrame,
             return_year: int | Sequence[int] | None) -> pd.DataFrame:
    """The section's rows: ``la_code, return_year, item, response, level`` (level 1..k),
    checked against the codebook and filtered to the requested year(s)."""
    if not isinstance(planning_tool, pd.DataFrame):
        raise RpcEvalError("planning_tool must be a DataFrame (data.planning_tool)")
    missing = [c for c in _NEEDED if c not in planning_tool.columns]
    if missing:
        raise RpcEvalError(f"the planning_tool table needs column(s) {missing}")
    pt = planning_tool[_NEEDED].copy()
    pt = pt[pt["item"].isin(list(sub["item"])) & pt["response"].notna()].reset_index(drop=True)
    pt["response"] = pt["response"].astype(str).str.strip()
    try:
        pt["return_year"] = pd.to_numeric(pt["return_year"]).astype("int64")
    except (ValueError, TypeError) as exc:
        raise RpcEvalError("planning_tool return_year must be whole years with none "
                           "missing") from exc
    levels = dict(zip(sub["item"], sub["responses"], strict=True))
    code = np.zeros(len(pt), dtype=np.int64)
    bad = []
    for item, idx in pt.groupby("item", sort=False).groups.items():
        lv = {r: i + 1 for i, r in enumerate(levels[item])}
        vals = pt.loc[idx, "response"].map(lv)
        if vals.isna().any():
            wrong = sorted(set(pt.loc[idx, "response"][vals.isna()]))
            bad.append(f"{item}: {wrong[:5]} (valid: {levels[item]})")
        code[np.asarray(idx)] = vals.fillna(0).astype(np.int64).to_numpy()
    if bad:
        raise RpcEvalError("planning_tool has responses not in the codebook: " + "; ".join(bad))
    pt["level"] = code
    if pt.duplicated(["la_code", "return_year", "item"]).any():
        dup = pt[pt.duplicated(["la_code", "return_year", "item"], keep=False)].iloc[0]
        raise RpcEvalError("planning_tool has more than one response for an LA, year and "
                           f"item, e.g. {dup['la_code']} {dup['return_year']} {dup['item']}")
    if return_year is not None:
        # np.ndim tells one year (int, numpy or text) from a sequence of years
        years: list[Any] = ([return_year] if np.ndim(return_year) == 0
                            else list(return_year))  # type: ignore[arg-type]
        have = set(pt["return_year"])
        absent = [y for y in years if int(y) not in have]
        if absent:
            raise RpcEvalError(f"no planning-tool returns for year(s) {absent} in this section; "
                               f"years with returns: {sorted(have)}")
        pt = pt[pt["return_year"].isin([int(y) for y in years])]
    if not len(pt):
        raise RpcEvalError("no planning-tool returns for these items")
    return pt


def _counts(pt: pd.DataFrame, sub: pd.DataFrame) -> pd.DataFrame:
    """Every year x item x response (all codebook responses, zeros kept), in codebook order."""
    years = sorted(pt["return_year"].unique())
    rows = [(y, it, lv, r) for y in years for it, rs in zip(sub["item"], sub["responses"],
                                                              strict=True)
            for lv, r in enumerate(rs, start=1)]
    grid = pd.DataFrame(rows, columns=["return_year", "item", "level", "response"])
    n = pt.groupby(["return_year", "item", "level"]).size().rename("n_las").reset_index()
    out = grid.merge(n, on=["return_year", "item", "level"], how="left")
    out["n_las"] = out["n_las"].fillna(0).astype(np.int64)
    out["n_total"] = out.groupby(["return_year", "item"])["n_las"].transform("sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["percent"] = 100.0 * out["n_las"] / out["n_total"].where(out["n_total"] > 0)
    return out


def _with_ci(out: pd.DataFrame, x: str, ci: float) -> pd.DataFrame:
    lo, hi = wilson_interval(out[x].to_numpy(), out["n_total"].to_numpy(), ci)
    out["ci_low"] = 100.0 * np.asarray(lo)
    out["ci_high"] = 100.0 * np.asarray(hi)
    return out


# --------------------------------------------------------------------------- stages
def stage_distribution(data: pd.DataFrame, codebook: Any, *,
                       return_year: int | Sequence[int] | None = None, by: str = "item",
                       items: Sequence[str] | None = None, at_least: int = 3,
                       section: str = "self_assessment") -> pd.DataFrame:
    """Number and percentage of LAs at each stage of each self-assessment element.

    Parameters
    ----------
    data : DataFrame
        ``la_code, return_year, item, response`` (``data.planning_tool``).
    codebook : Codebook or DataFrame
        The ``planning_tool`` codebook (``data.codebooks["planning_tool"]``).
    return_year : int or list of int, optional
        Year(s) to tabulate; default every year with returns. A year without returns
        is an error.
    by : {"item", "dimension"}
        ``"item"``: the full distribution per element; ``"dimension"``: one summary row
        per dimension (mean stage and share at stage ``>= at_least``).
    items : list of str, optional
        Elements to include (default all of the section, in codebook order).
    at_least : int
        Stage threshold of ``by="dimension"`` (position in the codebook's response
        list, 1 = first stage).
    section : str
        Codebook section holding the staged elements.

    Returns
    -------
    DataFrame
        ``by="item"``: :data:`DISTRIBUTION_COLUMNS` -- ``return_year, dimension, item,
        stage`` (the codebook's stage code), ``n_las`` (LAs at that stage),
        ``n_total`` (LAs answering the element that year), ``percent``
        (``100 n_las / n_total``). Every stage appears, with zeros; rows in year then
        codebook order.

        ``by="dimension"``: :data:`DIMENSION_COLUMNS` -- ``return_year, dimension,
        n_items`` (elements in the dimension), ``n_las`` (LAs answering any of them),
        ``n_responses`` (LA x element answers), ``mean_stage`` (mean stage number over
        the LA x element answers), ``n_at_least`` and ``percent_at_least`` (answers at
        stage ``>= at_least``).

    Notes
    -----
    Stage numbers are positions in the codebook's ordered response list (1..k). A
    mean over LA x element answers equals the mean of the LAs' dimension means when
    every LA answers every element. R: ``prop.table(table(year, item, stage), 1:2)``.

    Examples
    --------
    >>> import pandas as pd
    >>> book = pd.DataFrame({"item": ["e1", "e2"], "section": "self_assessment",
    ...                      "dimension": ["plan", "plan"], "responses": [["1", "2", "3"]] * 2})
    >>> pt = pd.DataFrame({"la_code": ["A", "B", "A", "B"], "return_year": 2021,
    ...                    "item": ["e1", "e1", "e2", "e2"], "response": ["1", "3", "3", "3"]})
    >>> stage_distribution(pt, book).query("item == 'e1'")[["stage", "n_las", "percent"]]
      stage  n_las  percent
    0     1      1     50.0
    1     2      0      0.0
    2     3      1     50.0
    >>> stage_distribution(pt, book, by="dimension")[["mean_stage", "percent_at_least"]]
       mean_stage  percent_at_least
    0         2.5              75.0
    """
    if by not in ("item", "dimension"):
        raise RpcEvalError(f"by must be 'item' or 'dimension'; got {by!r}")
    book = _book(codebook)
    sub = _section_items(book, section, items)
    pt = _returns(data, sub, return_year)
    dims = dict(zip(sub["item"], sub["dimension"], strict=True))
    if by == "item":
        out = _counts(pt, sub).rename(columns={"response": "stage"})
        out["dimension"] = out["item"].map(dims)
        return out[DISTRIBUTION_COLUMNS].reset_index(drop=True)
    if not isinstance(at_least, (int, np.integer)) or isinstance(at_least, bool):
        raise RpcEvalError(f"at_least must be a stage number (int); got {at_least!r}")
    pt = pt.assign(dimension=pt["item"].map(dims))
    order = list(dict.fromkeys(sub["dimension"]))
    rows = []
    for year in sorted(pt["return_year"].unique()):
        for dim in order:
            in_dim = sub["dimension"] == dim if pd.notna(dim) else sub["dimension"].isna()
            g = pt[(pt["return_year"] == year) & pt["item"].isin(sub.loc[in_dim, "item"])]
            n = len(g)
            k = int((g["level"] >= at_least).sum())
            rows.append({"return_year": int(year), "dimension": dim,
                         "n_items": int(in_dim.sum()), "n_las": int(g["la_code"].nunique()),
                         "n_responses": n,
                         "mean_stage": float(g["level"].mean()) if n else np.nan,
                         "n_at_least": k, "percent_at_least": 100.0 * k / n if n else np.nan})
    return pd.DataFrame(rows, columns=DIMENSION_COLUMNS)


# --------------------------------------------------------------------------- categories
def _category_table(planning_tool, codebook, section, return_year, items, ci):
    book = _book(codebook)
    sub = _section_items(book, section, items)
    pt = _returns(planning_tool, sub, return_year)
    out = _with_ci(_counts(pt, sub), "n_las", ci)
    return out[CATEGORY_COLUMNS].reset_index(drop=True)


def partner_awareness(data: pd.DataFrame, codebook: Any, *,
                      return_year: int | Sequence[int] | None = None,
                      items: Sequence[str] | None = None, ci: float = 0.95,
                      section: str = "partner_awareness") -> pd.DataFrame:
    """Percentage of LAs rating each partner agency very / somewhat / not aware.

    Parameters
    ----------
    data, codebook
        As :func:`stage_distribution`.
    return_year : int or list of int, optional
        Year(s); default all.
    items : list of str, optional
        Partner agencies (items of ``section``); default all, in codebook order.
    ci : float
        Confidence level of the Wilson intervals.
    section : str
        Codebook section of the awareness items.

    Returns
    -------
    DataFrame
        :data:`CATEGORY_COLUMNS` -- ``return_year, item, response`` (every response of
        the codebook, in its order, zeros kept), ``n_las``, ``n_total`` (LAs answering
        the item that year), ``percent``, ``ci_low``, ``ci_high`` (Wilson score
        interval, in percent).

    Notes
    -----
    Each response's share is a binomial proportion ``n_las / n_total`` with a Wilson
    interval (Wilson 1927). R: ``prop.test(n_las, n_total, correct = FALSE)$conf.int``.

    Examples
    --------
    >>> import pandas as pd
    >>> book = pd.DataFrame({"item": ["aware_health"], "section": "partner_awareness",
    ...                      "responses": [["very", "somewhat", "not"]]})
    >>> pt = pd.DataFrame({"la_code": list("ABCD"), "return_year": 2021,
    ...                    "item": "aware_health", "response": ["very", "very", "not", "very"]})
    >>> partner_awareness(pt, book)[["response", "n_las", "percent"]]
       response  n_las  percent
    0      very      3     75.0
    1  somewhat      0      0.0
    2       not      1     25.0
    """
    return _category_table(data, codebook, section, return_year, items, ci)


def workforce_trained(data: pd.DataFrame, codebook: Any, *,
                      return_year: int | Sequence[int] | None = None,
                      items: Sequence[str] | None = None, ci: float = 0.95,
                      section: str = "workforce_trained") -> pd.DataFrame:
    """Distribution of LAs across the bands of the share of each workforce trained.

    Bands are the codebook's responses (``0-25, 25-50, 50-75, 75-100`` per cent),
    in order. Parameters, returns (:data:`CATEGORY_COLUMNS`, ``response`` = band) and
    method are those of :func:`partner_awareness`.

    Examples
    --------
    >>> import pandas as pd
    >>> book = pd.DataFrame({"item": ["trained_x"], "section": "workforce_trained",
    ...                      "responses": [["0-25", "25-50", "50-75", "75-100"]]})
    >>> pt = pd.DataFrame({"la_code": list("AB"), "return_year": 2022, "item": "trained_x",
    ...                    "response": ["0-25", "50-75"]})
    >>> workforce_trained(pt, book)["n_las"].tolist()
    [1, 0, 1, 0]
    """
    return _category_table(data, codebook, section, return_year, items, ci)


def interventions_offered(data: pd.DataFrame, codebook: Any, *,
                          return_year: int | Sequence[int] | None = None,
                          items: Sequence[str] | None = None, ci: float = 0.95,
                          offered: str = "yes",
                          section: str = "interventions_offered") -> pd.DataFrame:
    """Share of LAs offering each intervention, per year, with Wilson intervals.

    Parameters
    ----------
    data, codebook, return_year, items, ci, section
        As :func:`partner_awareness`.
    offered : str
        The response meaning "offered" (must be one of the item's responses).

    Returns
    -------
    DataFrame
        :data:`OFFERED_COLUMNS` -- ``return_year, item, n_offering, n_total`` (LAs
        answering), ``percent``, ``ci_low``, ``ci_high`` (Wilson, in percent).

    Notes
    -----
    R: ``prop.test(n_offering, n_total, correct = FALSE)$conf.int``.

    Examples
    --------
    >>> import pandas as pd
    >>> book = pd.DataFrame({"item": ["offers_x"], "section": "interventions_offered",
    ...                      "responses": [["yes", "no"]]})
    >>> pt = pd.DataFrame({"la_code": list("ABCDE"), "return_year": 2021, "item": "offers_x",
    ...                    "response": ["yes", "no", "yes", "yes", "no"]})
    >>> interventions_offered(pt, book)[["n_offering", "n_total", "percent"]]
       n_offering  n_total  percent
    0           3        5     60.0
    """
    book = _book(codebook)
    sub = _section_items(book, section, items)
    lacking = [it for it, rs in zip(sub["item"], sub["responses"], strict=True)
               if offered not in rs]
    if lacking:
        raise RpcEvalError(f"{offered!r} is not a response of item(s) {lacking}")
    pt = _returns(data, sub, return_year)
    out = _counts(pt, sub)
    out = out[out["response"] == offered].rename(columns={"n_las": "n_offering"})
    out = _with_ci(out.copy(), "n_offering", ci)
    return out[OFFERED_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------- change
def stuart_maxwell(table: Any) -> tuple[float, int, float]:
    """Stuart-Maxwell test of marginal homogeneity of a square table.

    Parameters
    ----------
    table : array-like, k x k
        Counts, rows = first occasion, columns = second.

    Returns
    -------
    (statistic, df, p_value)
        NaN statistic and p (df 0) when no pair changed category.

    Notes
    -----
    With ``d = n_i. - n_.i`` and ``S_ii = n_i. + n_.i - 2 n_ii``,
    ``S_ij = -(n_ij + n_ji)``, ``X^2 = d' S^{-1} d`` on ``k - 1`` df after dropping
    one category (Stuart 1955; Maxwell 1970), computed by
    ``statsmodels.stats.contingency_tables.SquareTable(table, shift_zeros=False)
    .homogeneity()``. Categories with no off-diagonal counts (nobody moved into or
    out of them) carry no information and make ``S`` singular; they are dropped
    first, so df = (categories left) - 1. If the categories left still split into
    groups with no movement between them, the Moore-Penrose inverse is used with df
    = rank(S). R: no base function; ``DescTools::StuartMaxwellTest`` or the formula
    (``tests/reference/planning_tool.R``).

    References
    ----------
    Stuart, A. (1955). A test for homogeneity of the marginal distributions in a
    two-way classification. *Biometrika* 42, 412-416. Maxwell, A. E. (1970).
    Comparing the classification of subjects by two independent judges. *British
    Journal of Psychiatry* 116, 651-655.

    Examples
    --------
    >>> stat, df, p = stuart_maxwell([[6, 8, 0], [0, 2, 6], [0, 0, 8]])
    >>> round(stat, 6), df, round(p, 6)
    (14.0, 2, 0.000912)
    """
    tab = np.asarray(table, dtype=float)
    if tab.ndim != 2 or tab.shape[0] != tab.shape[1]:
        raise RpcEvalError("stuart_maxwell needs a square table")
    off = tab - np.diag(np.diag(tab))
    moving = (off.sum(0) + off.sum(1)) > 0
    if moving.sum() < 2:
        return np.nan, 0, np.nan
    tab = tab[np.ix_(moving, moving)]
    d = tab.sum(1) - tab.sum(0)
    S = -(tab + tab.T)
    np.fill_diagonal(S, tab.sum(1) + tab.sum(0) - 2 * np.diag(tab))
    df = int(np.linalg.matrix_rank(S))
    if df == tab.shape[0] - 1:
        res = SquareTable(tab, shift_zeros=False).homogeneity(method="stuart_maxwell")
        return float(res.statistic), int(res.df), float(res.pvalue)
    stat = float(d @ np.linalg.pinv(S) @ d)
    return stat, df, float(chi2.sf(stat, df))


def _paired(planning_tool, codebook, years, items, section):
    if years is None or np.ndim(years) != 1 or len(years) != 2:
        raise RpcEvalError(f"years must be two return years (y0, y1); got {years!r}")
    y0, y1 = int(years[0]), int(years[1])
    if y0 == y1:
        raise RpcEvalError("years must be two different return years")
    book = _book(codebook)
    sub = _section_items(book, section, items)
    pt = _returns(planning_tool, sub, [y0, y1])
    wide = pt.pivot_table(index=["item", "la_code"], columns="return_year", values="level",
                          aggfunc="first")
    return sub, y0, y1, wide


def transition_table(data: pd.DataFrame, codebook: Any, item: str, *,
                     years: Sequence[int], section: str = "self_assessment") -> pd.DataFrame:
    """k x k counts of LAs by stage in ``years[0]`` (rows) and ``years[1]`` (columns).

    Only LAs answering ``item`` in both years count. Every codebook stage is a row
    and a column (zeros kept); the index is named ``stage_<y0>``, the columns
    ``stage_<y1>``. R: ``table(factor(s0, levels), factor(s1, levels))``.

    Examples
    --------
    >>> import pandas as pd
    >>> book = pd.DataFrame({"item": ["e1"], "section": "self_assessment",
    ...                      "dimension": ["plan"], "responses": [["1", "2", "3"]]})
    >>> pt = pd.DataFrame({"la_code": list("ABAB"), "return_year": [1, 1, 2, 2],
    ...                    "item": "e1", "response": ["1", "2", "2", "2"]})
    >>> tab = transition_table(pt, book, "e1", years=(1, 2))
    >>> tab.index.name, tab.columns.name, tab.to_numpy().tolist()
    ('stage_1', 'stage_2', [[0, 1, 0], [0, 1, 0], [0, 0, 0]])
    """
    if not isinstance(item, str):
        raise RpcEvalError(f"item must be one item code; got {item!r}")
    sub, y0, y1, wide = _paired(data, codebook, years, [item], section)
    levels = sub["responses"].iloc[0]
    k = len(levels)
    tab = np.zeros((k, k), dtype=np.int64)
    if item in wide.index.get_level_values("item"):
        w = wide.loc[item].reindex(columns=[y0, y1]).dropna()
        np.add.at(tab, (w[y0].astype(int).to_numpy() - 1, w[y1].astype(int).to_numpy() - 1), 1)
    return pd.DataFrame(tab, index=pd.Index(levels, name=f"stage_{y0}"),
                        columns=pd.Index(levels, name=f"stage_{y1}"))


def stage_change(data: pd.DataFrame, codebook: Any, years: Sequence[int], *,
                 items: Sequence[str] | None = None,
                 section: str = "self_assessment") -> pd.DataFrame:
    """Change in stage between two return years, for the LAs that returned both.

    Parameters
    ----------
    data, codebook
        As :func:`stage_distribution`.
    years : (int, int)
        ``(y0, y1)``; change is ``stage in y1 - stage in y0``.
    items : list of str, optional
        Elements (default all of ``section``, codebook order).
    section : str
        Codebook section of the staged elements.

    Returns
    -------
    DataFrame
        One row per element, :data:`CHANGE_COLUMNS`: ``item, dimension, year_from,
        year_to, n_paired`` (LAs answering in both years), ``n_up, n_same, n_down`` and
        their ``percent_*`` of ``n_paired``, ``mean_from, mean_to, mean_change``
        (stage numbers 1..k), ``wilcoxon_statistic`` (sum of the ranks of the positive
        changes, R's ``V``), ``wilcoxon_z``, ``wilcoxon_p_value`` (two-sided),
        ``stuart_maxwell_statistic``, ``stuart_maxwell_df``, ``stuart_maxwell_p_value``
        (:func:`stuart_maxwell` on :func:`transition_table`). Test columns are NaN
        when no LA changed stage.

    Raises
    ------
    RpcEvalError
        Unknown section or items, a year without returns, or an element with fewer
        than 2 LAs returning in both years.

    Notes
    -----
    Wilcoxon signed-rank test with the normal approximation: zero changes dropped,
    mid-ranks for ties with the tie-corrected variance
    ``n(n+1)(2n+1)/24 - sum(t^3 - t)/48`` and a continuity correction of 1/2
    (``scipy.stats.wilcoxon(d, zero_method="wilcox", correction=True,
    method="approx")``; R ``wilcox.test(s1, s0, paired = TRUE, exact = FALSE,
    correct = TRUE)``). The Stuart-Maxwell test asks whether the distribution over
    stages differs between years, using the full transition table.

    References
    ----------
    Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics
    Bulletin* 1, 80-83. Stuart (1955); Maxwell (1970), see :func:`stuart_maxwell`.

    Examples
    --------
    >>> import pandas as pd
    >>> book = pd.DataFrame({"item": ["e1"], "section": "self_assessment",
    ...                      "dimension": ["plan"], "responses": [["1", "2", "3", "4"]]})
    >>> s0, s1 = [1, 1, 2, 2, 2, 3, 3, 4], [2, 1, 3, 2, 4, 3, 2, 4]
    >>> las = [f"LA{i}" for i in range(8)]
    >>> pt = pd.DataFrame({"la_code": las * 2, "return_year": [2020] * 8 + [2021] * 8,
    ...                    "item": "e1", "response": [str(s) for s in s0 + s1]})
    >>> r = stage_change(pt, book, years=(2020, 2021)).iloc[0]
    >>> int(r.n_up), int(r.n_same), int(r.n_down), float(r.wilcoxon_statistic)
    (3, 4, 1, 8.0)
    >>> round(float(r.wilcoxon_p_value), 4), round(float(r.stuart_maxwell_statistic), 4)
    (0.3447, 2.0)
    """
    sub, y0, y1, wide = _paired(data, codebook, years, items, section)
    dims = dict(zip(sub["item"], sub["dimension"], strict=True))
    rows = []
    for item, levels in zip(sub["item"], sub["responses"], strict=True):
        if item in wide.index.get_level_values("item"):
            w = wide.loc[item].reindex(columns=[y0, y1]).dropna()
        else:
            w = pd.DataFrame(columns=[y0, y1])
        n = len(w)
        if n < 2:
            raise RpcEvalError(f"item {item!r}: only {n} LA(s) returned it in both {y0} and "
                               f"{y1}; stage change needs at least 2")
        a = w[y0].to_numpy(dtype=float)
        b = w[y1].to_numpy(dtype=float)
        d = b - a
        up, down = int((d > 0).sum()), int((d < 0).sum())
        same = n - up - down
        nz = d[d != 0]
        if len(nz):
            res = wilcoxon(nz, zero_method="wilcox", correction=True, method="approx")
            ranks = pd.Series(np.abs(nz)).rank().to_numpy()
            V = float(ranks[nz > 0].sum())
            z = float(res.zstatistic) if hasattr(res, "zstatistic") else np.nan
            # scipy's z is for the smaller rank sum; sign it by the direction of change
            z = abs(z) * (1.0 if V >= len(nz) * (len(nz) + 1) / 4 else -1.0)
            p = float(res.pvalue)
        else:
            V, z, p = 0.0, np.nan, np.nan
        k = len(levels)
        tab = np.zeros((k, k))
        np.add.at(tab, (a.astype(int) - 1, b.astype(int) - 1), 1)
        sm, sm_df, sm_p = stuart_maxwell(tab)
        rows.append({"item": item, "dimension": dims[item], "year_from": y0, "year_to": y1,
                     "n_paired": n, "n_up": up, "n_same": same, "n_down": down,
                     "percent_up": 100 * up / n, "percent_same": 100 * same / n,
                     "percent_down": 100 * down / n, "mean_from": float(a.mean()),
                     "mean_to": float(b.mean()), "mean_change": float(d.mean()),
                     "wilcoxon_statistic": V, "wilcoxon_z": z, "wilcoxon_p_value": p,
                     "stuart_maxwell_statistic": sm, "stuart_maxwell_df": sm_df,
                     "stuart_maxwell_p_value": sm_p})
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)
