"""Scoring questionnaires from their definitions (vectorised; no per-row Python loops).

Two functions:

* :func:`responses_to_wide` turns the long ``responses`` table of the data model into
  one row per parent x respondent x wave with one column per item;
* :func:`score` scores such a wide table and returns a tidy frame with one row per
  input row x scale.

All rules (reverse keying, recoding, prorating, gates, conversion tables, bands) come
from the instrument's definition file; see ``docs/instruments.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from rpc_eval.errors import DataValidationError, Problem, RpcEvalError
from rpc_eval.instruments.registry import Instrument, Registry, Scale, default_registry

__all__ = ["score", "score_responses", "responses_to_wide", "SCORE_COLUMNS", "WIDE_ID_COLUMNS"]

#: Columns of :func:`score`'s result after the id columns (``band_<scheme>`` columns for
#: an instrument's further band schemes come straight after ``band``).
SCORE_COLUMNS = [
    "instrument", "scale", "score", "raw_score", "band", "n_items", "items_answered",
    "prorated", "valid",
]
#: Id columns of :func:`responses_to_wide`'s result.
WIDE_ID_COLUMNS = ["parent_id", "respondent", "wave"]


def _instrument(name: str | Instrument, registry: Registry | None) -> Instrument:
    if isinstance(name, Instrument):
        return name
    return (registry or default_registry()).get(name)


# --------------------------------------------------------------------------- long -> wide
def responses_to_wide(
    data: pd.DataFrame, name: str | Instrument, *, registry: Registry | None = None
) -> pd.DataFrame:
    """One instrument's answers from the long ``responses`` table, one row per
    parent x respondent x wave.

    Parameters
    ----------
    data : DataFrame
        The data model's ``responses`` table: columns ``parent_id, respondent,
        instrument, wave, item, value`` (``completed_date`` and other columns are
        ignored). Rows of other instruments are ignored.
    name : str or Instrument
        Instrument name in the registry (or an :class:`Instrument`, e.g. one made by
        :meth:`Instrument.with_overrides`).
    registry : Registry, optional
        Where to look ``name`` up; the package's definitions by default.

    Returns
    -------
    DataFrame
        Columns ``parent_id, respondent, wave`` then one float column per item of the
        instrument, in the form's order; every item column is present even if nobody
        answered it (all missing). Rows are sorted by the three id columns. Unanswered
        items (no row, or a blank ``value``) are missing.

    Raises
    ------
    DataValidationError
        If an item id is not an item of the instrument, or the same item appears twice
        for one parent x respondent x wave (intake normally rejects both first).

    Notes
    -----
    R equivalent: ``tidyr::pivot_wider(responses, id_cols = c(parent_id, respondent,
    wave), names_from = item, values_from = value)``.

    Examples
    --------
    >>> long = pd.DataFrame({
    ...     "parent_id": ["P1", "P1", "P2"], "respondent": "parent",
    ...     "instrument": "gad7", "wave": "baseline",
    ...     "item": ["gad7_01", "gad7_02", "gad7_01"], "value": [1.0, 2.0, 0.0]})
    >>> wide = responses_to_wide(long, "gad7")
    >>> list(wide.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['parent_id', 'respondent', 'wave', 'gad7_01', 'gad7_02', 'gad7_03', 'gad7_04',
     'gad7_05', 'gad7_06', 'gad7_07']
    >>> print(wide[["parent_id", "gad7_01", "gad7_02", "gad7_07"]].to_string(index=False))
    parent_id  gad7_01  gad7_02  gad7_07
           P1      1.0      2.0      NaN
           P2      0.0      NaN      NaN
    """
    inst = _instrument(name, registry)
    needed = [*WIDE_ID_COLUMNS, "instrument", "item", "value"]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise RpcEvalError(f"responses needs columns {missing} (it has {list(data.columns)})")
    sub = data.loc[data["instrument"] == inst.name, [*WIDE_ID_COLUMNS, "item", "value"]]
    problems: list[Problem] = []
    col_of = pd.Index(inst.items).get_indexer(sub["item"])
    for item, count in sub.loc[col_of < 0, "item"].value_counts(dropna=False).items():
        problems.append(Problem(
            "responses", "responses", None, "item", str(item),
            f"{item!r} is not an item of {inst.name} ({count} row(s))",
            f"item ids of {inst.name} are {inst.items[0]} ... {inst.items[-1]}",
        ))
    # one integer key per parent x respondent x wave: factorise each id column (sorted)
    # and combine the codes, so the sorted keys give the rows in id order
    combined = np.zeros(len(sub), dtype=np.int64)
    uniques = []
    for col in WIDE_ID_COLUMNS:
        codes, uniq = pd.factorize(sub[col], sort=True, use_na_sentinel=False)
        combined = combined * len(uniq) + codes
        uniques.append(uniq)
    row_keys, row_of = np.unique(combined, return_inverse=True)
    row_of = row_of.reshape(-1)
    cell = row_of.astype(np.int64) * len(inst.items) + col_of
    dup = pd.Series(cell).duplicated(keep="first").to_numpy() & (col_of >= 0)
    for row in sub.loc[dup].head(200).itertuples(index=False):
        problems.append(Problem(
            "responses", "responses", None, "item", str(row.item),
            f"{inst.name} item {row.item} is given twice for parent {row.parent_id}, "
            f"respondent {row.respondent}, wave {row.wave}",
            "keep one answer per item and wave",
        ))
    values = pd.to_numeric(sub["value"], errors="coerce").to_numpy(dtype="float64",
                                                                   na_value=np.nan)
    not_number = np.isnan(values) & sub["value"].notna().to_numpy()
    if not_number.any():
        not_number &= (sub["value"].astype(str).str.strip() != "").to_numpy()
    for row in sub.loc[not_number].head(200).itertuples(index=False):
        problems.append(Problem(
            "responses", "responses", None, "value", str(row.value),
            f"{inst.name} item {row.item} for parent {row.parent_id}, wave {row.wave} "
            "is not a number",
            "enter the response code as a number, or leave it blank if not answered",
        ))
    if problems:
        raise DataValidationError(
            problems, f"the {inst.name} responses cannot be made one row per parent and wave"
        )
    ids = {}
    rest = row_keys
    for col, uniq in zip(reversed(WIDE_ID_COLUMNS), reversed(uniques), strict=True):
        ids[col] = uniq.take(rest % len(uniq)) if len(uniq) else uniq
        rest = rest // max(len(uniq), 1)
    out = np.full((len(row_keys), len(inst.items)), np.nan)
    out.reshape(-1)[cell] = values
    wide = pd.DataFrame({c: pd.Series(ids[c], copy=False) for c in WIDE_ID_COLUMNS})
    return pd.concat([wide, pd.DataFrame(out, columns=list(inst.items))], axis=1)


# ------------------------------------------------------------------------------ scoring
def _item_matrix(data: pd.DataFrame, inst: Instrument) -> np.ndarray:
    """Items as a float matrix; non-numeric cells raise a DataValidationError."""
    cols = list(inst.items)
    try:
        return data[cols].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        pass
    problems = []
    arrays = []
    for col in cols:
        raw = data[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        for label, value in raw[bad].head(200).items():
            problems.append(Problem(
                "responses", "scored data", None, col, str(value),
                f"row {label}: {inst.name} item {col} is not a number",
                "enter the response code as a number, or leave it blank if not answered",
            ))
        arrays.append(num.to_numpy(dtype="float64", na_value=np.nan))
    if problems:
        raise DataValidationError(problems, f"{inst.name} answers that are not numbers")
    return np.column_stack(arrays) if arrays else np.empty((len(data), 0))


def _check_codes(x: np.ndarray, data: pd.DataFrame, inst: Instrument,
                 id_cols: Sequence[str]) -> None:
    """Raise a DataValidationError listing every value outside its item's valid codes."""
    lo = np.array([inst.item_min[i] for i in inst.items])
    hi = np.array([inst.item_max[i] for i in inst.items])
    whole = np.array([inst.item_integer(i) for i in inst.items])
    # fast pass, one column at a time (NaN is ignored by fmin/fmax and by "> 0")
    suspect = []
    buf = np.empty(x.shape[0])
    for j in range(x.shape[1]):
        col = x[:, j]
        if not len(col):
            break
        off = np.fmin.reduce(col) < lo[j] or np.fmax.reduce(col) > hi[j]
        if not off and whole[j]:
            np.floor(col, out=buf)
            np.subtract(col, buf, out=buf)  # fractional part, NaN where missing
            off = bool(np.fmax.reduce(buf) > 0)
        if off:
            suspect.append(j)
    if not suspect:
        return
    sub = x[:, suspect]
    with np.errstate(invalid="ignore"):
        bad = (sub < lo[suspect]) | (sub > hi[suspect]) | (
            whole[suspect] & (sub != np.floor(sub)) & ~np.isnan(sub))
    rows, cols = np.nonzero(bad)
    labels = data.index.to_numpy()
    id_values = data[list(id_cols)].to_numpy() if id_cols else None
    problems = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        c = suspect[c]
        item = inst.items[c]
        who = ""
        if id_values is not None:
            who = " (" + ", ".join(f"{k}={v}" for k, v in zip(id_cols, id_values[r], strict=True)) + ")"
        kind = "whole numbers " if whole[c] else ""
        problems.append(Problem(
            "responses", "scored data", None, item, f"{x[r, c]:g}",
            f"row {labels[r]}{who}: {x[r, c]:g} is not a valid answer to {inst.name} item "
            f"{item} (valid: {kind}{lo[c]:g} to {hi[c]:g})",
            "correct the value, or leave it blank if the item was not answered",
        ))
    n_rows = len(np.unique(rows))
    raise DataValidationError(
        problems,
        f"{len(problems)} {inst.name} value(s) outside the valid range, in {n_rows} row(s)",
    )


def _item_columns(x: np.ndarray, inst: Instrument) -> list[np.ndarray]:
    """Item score columns (recoding applied; reverse keying is per scale). Columns of
    items scored as coded are views of ``x``, not copies."""
    cols = []
    for j, item in enumerate(inst.items):
        col = x[:, j]
        mapping = inst.recode_map(item)
        if mapping is not None:
            lo = int(inst.item_min[item])
            lut = np.array([np.nan if mapping[k] is None else mapping[k]
                            for k in range(lo, int(inst.item_max[item]) + 1)])
            ok = ~np.isnan(col)
            out = np.full(col.shape, np.nan)
            out[ok] = lut[col[ok].astype(np.int64) - lo]
            col = out
        cols.append(col)
    return cols


def _score_items(scale: Scale, inst: Instrument, x: np.ndarray, cols: list[np.ndarray],
                 pos: dict[str, int]) -> dict[str, Any]:
    """Score one item-based scale (method sum or mean) for every row."""
    n = x.shape[0]
    m = len(scale.items)
    answered = np.zeros(n, dtype=np.int64)
    total = np.zeros(n)
    for item in scale.items:
        col = cols[pos[item]]
        if item in scale.reverse:
            col = (inst.item_min[item] + inst.item_max[item]) - col
        ok = ~np.isnan(col)
        answered += ok
        total += np.where(ok, col, 0.0)
    # no min_answered (a Scale built by hand): every item, as the loader's default
    enough = answered >= (m if scale.min_answered is None else scale.min_answered)
    raw = np.full(n, np.nan)
    prorated = np.zeros(n, dtype=bool)
    if scale.method == "mean":
        raw[enough] = total[enough] / answered[enough]
        prorated = enough & (answered < m)
    elif scale.missing_as_zero:
        raw[enough] = total[enough]
    else:
        full = answered == m
        raw[full] = total[full]
        part = enough & ~full
        if part.any():
            # the mean of the answered items scaled to m items (R: mean(x) * m)
            value = total[part] / answered[part] * m
            if scale.rounding == "half_up":
                value = np.floor(value + 0.5)
            raw[part] = value
            prorated = part
    valid = enough
    gate = scale.gate
    if gate is not None:
        gated = np.isin(x[:, pos[gate["item"]]], gate["values"])
        raw[gated] = gate["score"]
        valid = valid | gated
        prorated = prorated & ~gated
    result = raw
    table = scale.conversion
    if table:
        first = min(table)
        lut = np.array([table[k] for k in range(first, max(table) + 1)])
        result = np.full(n, np.nan)
        ok = ~np.isnan(raw) & (raw == np.floor(raw))  # the table has whole raw scores only
        result[ok] = lut[raw[ok].astype(np.int64) - first]
    return {"score": result, "raw_score": raw, "n_items": m,
            "items_answered": answered, "prorated": prorated, "valid": valid}


def _band_codes(score: np.ndarray, scheme: dict[str, Any], codes_of: dict[str, int]
                ) -> np.ndarray:
    """Band codes (indices into the column's labels; -1 where no band) of ``score``.

    A score belongs to the cut with the highest ``min`` at or below it, provided it is
    not above the top cut's ``max``; so a non-whole score between two cuts (a prorated
    or mean score, e.g. 4.5 between 0-4 and 5-9) takes the lower band."""
    cuts = sorted(scheme["cuts"], key=lambda c: float(c["min"]))
    for c in cuts:
        codes_of.setdefault(str(c["label"]), len(codes_of))
    lut = np.array([-1] + [codes_of[str(c["label"])] for c in cuts], dtype=np.intp)
    # position = number of cut minimums at or below the score (0: below them all, or NaN)
    position = np.zeros(score.shape, dtype=np.intp)
    for c in cuts:
        position += score >= float(c["min"])
    position[score > float(cuts[-1]["max"])] = 0
    return lut[position]


def require_item_columns(data: pd.DataFrame, inst: Instrument, items: Sequence[str],
                         source: str) -> None:
    """Raise :class:`DataValidationError` listing every item column of ``inst`` that
    ``data`` lacks (``source`` names the data in the problems)."""
    missing = [i for i in items if i not in data.columns]
    if missing:
        raise DataValidationError(
            [Problem("responses", source, None, i, None,
                     f"column {i!r} of {inst.name} is missing",
                     "add the column (left blank if the item was never asked)")
             for i in missing],
            f"the data lack {len(missing)} item column(s) of {inst.name}",
        )


def score(
    data: pd.DataFrame,
    name: str | Instrument,
    *,
    id_cols: Sequence[str] | None = None,
    registry: Registry | None = None,
) -> pd.DataFrame:
    """Score a questionnaire: one row per input row x scale.

    Parameters
    ----------
    data : DataFrame
        Wide answers: one row per completed questionnaire, one column per item id of
        the instrument (raw response codes; blank/NaN = not answered). Every item
        column must be present (:func:`responses_to_wide` makes this shape). Other
        columns are id columns and pass through.
    name : str or Instrument
        Instrument name in the registry, e.g. ``"sdq_parent_4_17"``, or an
        :class:`Instrument` (e.g. one with overrides).
    id_cols : sequence of str, optional
        Columns to carry into the result; default every column that is not an item.
    registry : Registry, optional
        Where to look ``name`` up (to use a region's own definitions); the package's
        definitions by default.

    Returns
    -------
    DataFrame
        Rows in input order, each input row's scales in definition order. Columns:

        - the id columns;
        - ``instrument``, ``scale``;
        - ``score`` (float): the reported score, missing when not valid;
        - ``raw_score`` (float): the score before any conversion table (equal to
          ``score`` when the scale has none, e.g. the SWEMWBS raw sum vs. metric score);
        - ``band``: label in the scale's first (default) band scheme, missing when the
          scale has no bands or the score is missing; ``band_<scheme>`` for each
          further scheme of the instrument (e.g. SDQ ``band_4band``, K10
          ``band_primary_care``);
        - ``n_items`` (int): items in the scale (for a sum of scales, of its scales);
        - ``items_answered`` (int);
        - ``prorated`` (bool): the score was scaled up from fewer than all items;
        - ``valid`` (bool): enough items were answered for a score.

    Raises
    ------
    DataValidationError
        If an item column is missing, a value is not a number, or a value is outside
        the item's valid codes (the problems list every offending row and item).

    Notes
    -----
    Item score = code, or ``min + max - code`` for an item reverse-keyed in the scale,
    or the definition's recode map. For a ``sum`` scale with ``n`` items of which ``a``
    are answered:

    - ``a == n``: score = sum;
    - ``min_answered <= a < n``: score = sum / a x n (the mean scaled to ``n`` items),
      rounded half up when ``prorate.rounding: half_up`` (SDQ) and left unrounded
      otherwise (CORE-10 clinical score = 10 x sum / a);
    - ``a < min_answered``: missing, ``valid`` False;
    - ``missing_as_zero``: score = sum of answered items once ``a >= min_answered``
      (SDQ impact);
    - ``gate``: when the gate item takes one of its values the score is the gate's
      score whatever else was answered (SDQ impact = 0 when the parent reports no
      difficulties).

    A ``mean`` scale is the mean of the answered items; a ``sum_of_scales`` scale is
    the sum of its scales' scores and is missing when any of them is. A conversion
    table then maps the raw score to the reported one.

    The SDQ rules follow the official sdqinfo syntax ("Scoring the SDQ for age 4-17",
    2014); the R syntax's ``floor(0.5 + mean(x, na.rm = TRUE) * 5)`` when at least 3
    items are answered is reproduced exactly. There is no R package that scores every
    instrument here; for the SDQ the official R syntax on sdqinfo.org is the
    equivalent.

    Examples
    --------
    GAD-7 for two parents; the second skipped item 7, and the GAD-7 is scored on
    complete answers only:

    >>> wide = pd.DataFrame({"parent_id": ["P1", "P2"],
    ...                      **{f"gad7_0{i}": [2.0, 1.0] for i in range(1, 8)}})
    >>> wide.loc[1, "gad7_07"] = np.nan
    >>> out = score(wide, "gad7")
    >>> print(out[["parent_id", "scale", "score", "band", "items_answered", "valid"]]
    ...       .to_string(index=False))
    parent_id scale  score     band  items_answered  valid
           P1 total   14.0 moderate               7   True
           P2 total    NaN      NaN               6  False

    SDQ prorating: 4 points from 3 of the 5 emotional items gives 7 (6.67 rounded):

    >>> sdq = pd.DataFrame({item: [np.nan] for item in
    ...                     default_registry().get("sdq_parent_4_17").items})
    >>> sdq[["sdq_03", "sdq_08", "sdq_13"]] = [2.0, 1.0, 1.0]
    >>> emo = score(sdq, "sdq_parent_4_17").query("scale == 'emotional'")
    >>> print(emo[["score", "band", "band_4band", "items_answered", "prorated"]]
    ...       .to_string(index=False))
     score     band band_4band  items_answered  prorated
       7.0 abnormal  very_high               3      True
    """
    inst = _instrument(name, registry)
    items = list(inst.items)
    require_item_columns(data, inst, items, "scored data")
    item_set = set(items)
    if id_cols is None:
        id_cols = [c for c in data.columns if c not in item_set]
    else:
        id_cols = list(id_cols)
        absent = [c for c in id_cols if c not in data.columns]
        if absent:
            raise RpcEvalError(f"id_cols {absent} are not columns of the data")
        clash = [c for c in id_cols if c in item_set or c in SCORE_COLUMNS]
        if clash:
            raise RpcEvalError(f"id_cols {clash} clash with item or result column names")
    clash = [c for c in id_cols if c in SCORE_COLUMNS or str(c).startswith("band_")]
    if clash:
        raise RpcEvalError(f"columns {clash} clash with the result's column names; "
                           "rename them or pass id_cols")

    x = np.asfortranarray(_item_matrix(data, inst))  # one contiguous column per item
    _check_codes(x, data, inst, id_cols)
    cols = _item_columns(x, inst)
    pos = {item: j for j, item in enumerate(items)}

    results: dict[str, dict[str, Any]] = {}
    for scale in inst.scales:
        if scale.method == "sum_of_scales":
            parts = [results[f] for f in scale.from_scales]
            total = parts[0]["score"].copy()
            answered = parts[0]["items_answered"].copy()
            prorated = parts[0]["prorated"].copy()
            valid = parts[0]["valid"].copy()
            for p in parts[1:]:
                total += p["score"]  # NaN if any part is missing
                answered += p["items_answered"]
                prorated |= p["prorated"]
                valid &= p["valid"]
            results[scale.name] = {
                "score": total, "raw_score": total,
                "n_items": sum(p["n_items"] for p in parts),
                "items_answered": answered, "prorated": prorated, "valid": valid,
            }
        else:
            results[scale.name] = _score_items(scale, inst, x, cols, pos)

    # ---- assemble the long result: row i, scale j -> position i * k + j
    n, k = len(data), len(inst.scales)
    size = n * k
    names = list(inst.scale_names)
    converted = any(sc.conversion for sc in inst.scales)
    numeric = {
        "score": np.empty(size),
        "items_answered": np.empty(size, dtype=np.int64),
        "prorated": np.empty(size, dtype=bool), "valid": np.empty(size, dtype=bool),
    }
    if converted:
        numeric["raw_score"] = np.empty(size)
    for j, nm in enumerate(names):
        for key, arr in numeric.items():
            arr[j::k] = results[nm][key]
    if not converted:  # raw_score equals score: one array, shared (copy-on-write)
        numeric["raw_score"] = numeric["score"]
    numeric["n_items"] = np.tile(np.array([results[nm]["n_items"] for nm in names],
                                          dtype=np.int64), n)

    scheme_order: list[str] = []
    for sc in inst.scales:
        for scheme in sc.bands:
            if scheme not in scheme_order:
                scheme_order.append(scheme)
    bands: dict[str, Any] = {}
    for which, scheme in enumerate(scheme_order or ["bands"]):
        codes = np.full(size, -1, dtype=np.intp)
        codes_of: dict[str, int] = {}
        for j, sc in enumerate(inst.scales):
            if scheme in sc.bands:
                codes[j::k] = _band_codes(results[sc.name]["score"], sc.bands[scheme], codes_of)
        labels = pd.array(list(codes_of), dtype="str")
        bands["band" if which == 0 else f"band_{scheme}"] = labels.take(codes, allow_fill=True)

    take = np.repeat(np.arange(n), k)
    columns: dict[str, Any] = {c: data[c].array.take(take) for c in id_cols}
    columns["instrument"] = pd.array([inst.name], dtype="str").take(np.zeros(size, np.intp))
    columns["scale"] = pd.array(names, dtype="str").take(np.tile(np.arange(k), n))
    columns["score"] = numeric["score"]
    columns["raw_score"] = numeric["raw_score"]
    columns.update(bands)
    for key in ("n_items", "items_answered", "prorated", "valid"):
        columns[key] = numeric[key]
    return pd.DataFrame(columns, copy=False)


def score_responses(data: pd.DataFrame, registry: Registry,
                    instruments: Sequence[str] | None = None) -> pd.DataFrame:
    """Score every instrument in a long ``responses`` table.

    The scores of the last table scored are kept (recognised by the arrays holding its
    columns; a table changed in place is scored afresh), so the analyses of one report
    that each score the same responses score them once.

    Returns
    -------
    DataFrame
        :func:`score` output for each instrument, stacked: one row
        per parent x respondent x wave x scale.
    """
    names = sorted(pd.unique(data["instrument"].dropna())) if instruments is None \
        else list(instruments)
    kept = _kept_scores(data)
    defs = {n: _definition(n, registry) for n in names}
    todo = [n for n in dict.fromkeys(names)
            if defs[n] is None or kept.get(n, (None,))[0] is not defs[n]]
    for n, part in zip(todo, _by_instrument(data, todo), strict=True):
        wide = responses_to_wide(part, n, registry=registry)
        scored = score(wide, n, registry=registry)
        if defs[n] is not None:
            kept[n] = (defs[n], scored, wide)
    frames = [kept[n][1] for n in names]
    if not frames:
        raise RpcEvalError("the responses table has no questionnaire answers to score")
    return pd.concat(frames, ignore_index=True)


#: The scores of the responses table scored last, by instrument (see _kept_scores).
_KEPT: list[tuple[tuple, tuple, pd.DataFrame, dict]] = []


def _fingerprint(frame: pd.DataFrame) -> tuple[tuple, tuple] | None:
    """What identifies a table's content without reading it: its length, column names
    and the arrays holding its columns (and which columns each holds); with the arrays
    themselves, which the caller keeps so that their identities stay theirs."""
    try:
        blocks = frame._mgr.blocks
        arrays = tuple(b.values for b in blocks)
        return (len(frame), tuple(map(str, frame.columns)),
                tuple((id(a), tuple(b.mgr_locs.as_array.tolist()))
                      for a, b in zip(arrays, blocks, strict=True))), arrays
    except AttributeError:  # pragma: no cover - another pandas layout: nothing is kept
        return None


def _kept_scores(responses: pd.DataFrame) -> dict:
    """Instrument -> (its definition, its scores) already computed from this very
    ``responses`` table, as a dict to add to (an empty one that is not kept when the
    table cannot be recognised).

    One table's scores are kept: the report's analyses score the same table several
    times (outcomes, subgroups, attrition, pooling). The table is recognised by the
    arrays holding its columns; a shallow copy of it is kept with the scores, so a
    change made to the table in place afterwards copies the changed column first
    (pandas copy-on-write) and the table is then no longer recognised: its scores are
    computed afresh, never taken from before the change."""
    found = _fingerprint(responses)
    if found is None:
        return {}
    fp, arrays = found
    if _KEPT and _KEPT[0][0] == fp:
        return _KEPT[0][3]
    scores: dict = {}
    _KEPT[:] = [(fp, arrays, responses.copy(deep=False), scores)]
    return scores


def _definition(name: str, registry: Registry | None):
    """The definition scoring uses for ``name`` (None when there is none: scoring then
    says so)."""
    from rpc_eval.instruments import default_registry

    try:
        return (registry or default_registry()).get(name)
    except RpcEvalError:
        return None


def _wide(responses: pd.DataFrame, name: str, registry: Registry | None) -> pd.DataFrame:
    """:func:`responses_to_wide` of one instrument, taken from what
    :func:`score_responses` kept when it scored this very table."""
    hit = _kept_scores(responses).get(name)
    if hit is not None and hit[0] is _definition(name, registry):
        return hit[2]
    return responses_to_wide(responses, name, registry=registry)


def _by_instrument(responses: pd.DataFrame, names: Sequence[str]) -> list[pd.DataFrame]:
    """The rows of each named instrument (in the table's order), split in one pass, so
    each instrument's answers are found once rather than by a scan of the whole table
    per instrument. A table lacking a column :func:`responses_to_wide` needs is passed
    on whole (it says what is missing)."""
    needed = ["parent_id", "respondent", "wave", "instrument", "item", "value"]
    if len(names) < 2 or any(c not in responses.columns for c in needed):
        return [responses] * len(names)
    codes, uniques = pd.factorize(responses["instrument"])
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    where = {u: i for i, u in enumerate(uniques)}
    cols = responses[needed]
    out = []
    for n in names:
        i = where.get(n)
        rows = order[starts[i]:starts[i + 1]] if i is not None else order[:0]
        out.append(cols.take(rows))
    return out
