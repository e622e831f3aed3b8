"""The ``questionnaires`` layout: one row per questionnaire, one column per item.

Keying paper questionnaires one row per item (the long ``responses`` table) takes a
25-item questionnaire 25 rows. A dataset may instead hold a ``questionnaires`` table
(file ``questionnaires.csv`` or a sheet of that name): one row per parent x wave x
instrument, with the columns ``parent_id, respondent, instrument, wave,
completed_date`` and one column per item, named as the instrument's items
(``sdq_01 .. sdq_25, sdq_imp_diff``, ``phq9_01`` ...; see
``rpc_eval.instruments.get(name).items``). One sheet holds every instrument: a row
fills the columns of its own instrument's items.

:func:`questionnaires_to_responses` turns it into the long ``responses`` rows that
intake checks, keeping the sheet's row numbers. A row is one questionnaire, so a
problem in any of its cells (a value outside the item's codes, a value in a column
of another instrument's item) excludes the row, with the cell's column named.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rpc_eval.data.readers import RawTable
from rpc_eval.errors import Problem
from rpc_eval.instruments import Registry

__all__ = ["QUESTIONNAIRES", "ID_COLUMNS", "questionnaires_to_responses"]

#: Name of the table (file or sheet) in the one-row-per-questionnaire layout.
QUESTIONNAIRES = "questionnaires"
#: Columns of the layout besides the item columns.
ID_COLUMNS = ("parent_id", "respondent", "instrument", "wave", "completed_date")
_REQUIRED = ("parent_id", "respondent", "instrument", "wave")


def _norm(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _has_rows(raw: RawTable) -> bool:
    return raw.usable and len(raw.frame) > 0 and bool(
        (raw.frame.apply(lambda c: c.str.strip()) != "").to_numpy().any())


def questionnaires_to_responses(raws: dict[str, RawTable], registry: Registry
                                ) -> tuple[dict[str, RawTable], list[Problem]]:
    """Replace a ``questionnaires`` raw table by the long ``responses`` raw table.

    Parameters
    ----------
    raws : dict
        Raw tables as read (table name -> :class:`~rpc_eval.data.readers.RawTable`).
    registry : Registry
        Instruments whose item ids name the item columns.

    Returns
    -------
    raws : dict
        Without ``questionnaires``; with ``responses`` built from it (file = the
        questionnaires file, rows = its row numbers, cell problems as row problems).
    problems : list of Problem
        Problems that concern the layout as a whole (both layouts holding data,
        a required column missing: severity ``error``; unread columns: ``info``).
    """
    raws = dict(raws)
    q = raws.pop(QUESTIONNAIRES, None)
    if q is None:
        return raws, []
    if not q.usable:
        return raws, list(q.problems)
    existing = raws.get("responses")
    if existing is not None and _has_rows(existing):
        if not _has_rows(q):
            return raws, [Problem(QUESTIONNAIRES, q.file, None, None, None,
                                  "the questionnaires table has no rows; the responses "
                                  "table was read", "", "info")]
        return raws, [Problem("responses", f"{existing.file}, {q.file}", None, None, None,
                              "questionnaire answers are given both as responses (one row "
                              "per item) and as questionnaires (one row per questionnaire)",
                              "keep one of the two layouts: move the rows of one into the "
                              "other, or delete the one you do not use")]
    items = registry.item_table()
    item_of = {_norm(i): (inst, i) for inst, i in zip(items["instrument"], items["item"],
                                                       strict=True)}
    cols = {_norm(c): c for c in q.frame.columns}
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        return raws, [Problem(QUESTIONNAIRES, q.file, None, m, None,
                              f"required column '{m}' is missing",
                              f"add a column named '{m}'") for m in missing]
    problems: list[Problem] = []
    item_cols = {}
    for key, name in cols.items():
        if key in ID_COLUMNS:
            continue
        if key in item_of:
            item_cols[name] = item_of[key]
        else:
            problems.append(Problem(QUESTIONNAIRES, q.file, q.header_row, name, None,
                                    f"column '{name}' is not an item of any questionnaire "
                                    "and was not read", "item columns are named as the "
                                    "instrument's items, e.g. phq9_01 (see "
                                    "rpc_eval.instruments.get(name).items)", "warning"))
    frame = q.frame.apply(lambda c: c.str.strip())
    blank_row = (frame == "").all(axis=1).to_numpy()
    inst_text = frame[cols["instrument"]].to_numpy(dtype=object)
    lookup = {n.lower(): n for n in registry.available()}
    lookup.update({registry.get(n).title.strip().lower(): n for n in registry.available()})
    instrument = np.array([lookup.get(str(t).lower(), "") for t in inst_text], dtype=object)

    long_rows, long_items, long_values = [], [], []
    row_problems: list[Problem] = list(q.problems)
    for name, (inst, item) in item_cols.items():
        values = frame[name].to_numpy(dtype=object)
        own = (instrument == inst) & ~blank_row
        foreign = ~own & (values != "") & ~blank_row & (instrument != "")
        for i in np.flatnonzero(foreign):
            row_problems.append(Problem(
                QUESTIONNAIRES, q.file, int(q.rows[i]), name, values[i],
                f"a value in a column of {inst} on a row of {instrument[i]}",
                "put each answer in the row of its own questionnaire", "error"))
        idx = np.flatnonzero(own)
        definition = registry.get(inst)
        lo, hi = definition.valid_range(item)
        v = pd.to_numeric(pd.Series(values[idx], dtype=object), errors="coerce").to_numpy(float)
        given = values[idx] != ""
        with np.errstate(invalid="ignore"):
            bad = given & (np.isnan(v) | (v < lo) | (v > hi)
                           | ((v % 1 != 0) if definition.item_integer(item) else False))
        for i in idx[bad]:
            row_problems.append(Problem(
                QUESTIONNAIRES, q.file, int(q.rows[i]), name, values[i],
                f"not a valid answer to item {item} of {inst} (whole numbers {lo:g} to "
                f"{hi:g}); the questionnaire on this row was excluded",
                "check the value; leave the cell empty if the item was not answered",
                "error"))
        kept = values[idx].copy()
        kept[bad] = ""  # reported above, and the row is excluded: not reported again
        long_rows.append(idx)
        long_items.append(np.full(len(idx), item, dtype=object))
        long_values.append(kept)
    # a row whose instrument is unknown or blank still goes through, once, so that
    # intake reports its instrument (and anything else wrong with it) by row
    odd = np.flatnonzero((instrument == "") & ~blank_row)
    long_rows.append(odd)
    long_items.append(np.full(len(odd), "", dtype=object))
    long_values.append(np.full(len(odd), "", dtype=object))
    idx = np.concatenate(long_rows) if long_rows else np.zeros(0, int)
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    out = pd.DataFrame({
        "parent_id": frame[cols["parent_id"]].to_numpy(dtype=object)[idx],
        "respondent": frame[cols["respondent"]].to_numpy(dtype=object)[idx],
        "instrument": np.where(instrument[idx] != "", instrument[idx], inst_text[idx]),
        "wave": frame[cols["wave"]].to_numpy(dtype=object)[idx],
        "item": np.concatenate(long_items)[order] if len(idx) else [],
        "value": np.concatenate(long_values)[order] if len(idx) else [],
        "completed_date": (frame[cols["completed_date"]].to_numpy(dtype=object)[idx]
                           if "completed_date" in cols else ""),
    }).astype(str)
    if blank_row.any():
        first = int(q.rows[blank_row][0])
        problems.append(Problem(QUESTIONNAIRES, q.file, first, None, None,
                                f"{int(blank_row.sum())} blank row(s) were ignored (first at "
                                f"row {first})", "", "info"))
    raws["responses"] = RawTable("responses", q.file, out, q.rows[idx], row_problems,
                                 header_row=q.header_row)
    return raws, problems
