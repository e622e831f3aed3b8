"""A synthetic dataset as a survey agency delivers it: one wide row per parent.

:func:`to_wide` lays the ``las``, ``parents``, ``attendance`` and ``responses`` tables
of an :class:`~rpc_eval.data.EvaluationData` out as one row per parent, the way
deliveries arrive: labels instead of codes (``"Standard Triple P (Level 4)"``,
``"Dropped out"``), dates as DD/MM/YYYY, attendance as a count with the first and last
session dates, and one column per questionnaire item and wave (``sdq1_t1 .. sdq25_t1,
sdqimp_diff_t1``, ``phq9_1_t2`` ...) with one questionnaire date per wave
(``qdate_t1 .. qdate_t4``). :func:`write_wide` writes it as CSV, XLSX or SPSS (.sav,
with value labels and a declared user-missing code for unanswered items).
``docs/examples/wide_delivery_mapping.yaml`` maps it back to the data model.

>>> from rpc_eval.synthetic import generate
>>> data, _ = generate("small", seed=1)
>>> wide = to_wide(data)
>>> wide.shape[0] == len(data.parents), list(wide.columns[:4])
(True, ['parent_id', 'family_id', 'la_code', 'la'])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rpc_eval.data.model import EvaluationData
from rpc_eval.errors import RpcEvalError

__all__ = ["to_wide", "write_wide", "WAVE_SUFFIXES", "ITEM_PREFIXES", "OUTCOME_LABELS",
           "MISSING_CODE"]

#: Column suffix of each wave.
WAVE_SUFFIXES = {"baseline": "t1", "end": "t2", "followup_6m": "t3", "followup_12m": "t4"}
#: Item-column prefix of each instrument: item n at wave tk is ``<prefix><n>_tk``.
ITEM_PREFIXES = {"sdq_parent_4_17": "sdq", "phq9": "phq9_", "gad7": "gad7_",
                 "swemwbs": "swemwbs", "csi4": "csi4_", "parent_satisfaction": "sat"}
#: exit_reason code -> the label a provider writes in its ``outcome`` column.
OUTCOME_LABELS = {"completed": "Completed", "dropped_out": "Dropped out",
                  "ongoing": "Still attending", "not_started": "Did not start"}
#: Code written for an unanswered item in SPSS files, declared user-missing.
MISSING_CODE = -9

#: parents column -> (delivery column, codebook whose labels are written)
_LABELLED = {"intervention": ("intervention", "interventions"),
             "delivery_mode": ("mode", "delivery_modes"),
             "relationship_status": ("relationship", "relationship_status"),
             "parent_sex": ("sex", "sexes"), "ethnic_group": ("ethnicity", "ethnic_groups")}
_DATES = ("referral_date", "start_date", "exit_date", "first_session", "last_session")


def _item_column(instrument: str, item: str, position: int, suffix: str) -> str:
    prefix = ITEM_PREFIXES.get(instrument, instrument + "_")
    if instrument == "sdq_parent_4_17" and item.startswith("sdq_imp_"):
        return f"sdqimp_{item[len('sdq_imp_'):]}_{suffix}"
    return f"{prefix}{position}_{suffix}"


def _dmy(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%d/%m/%Y").astype(object).where(s.notna(), "")


def to_wide(data: EvaluationData, *, dates_as_text: bool = True) -> pd.DataFrame:
    """One row per parent, as delivered (see the module docstring for the layout).

    Parameters
    ----------
    data : EvaluationData
    dates_as_text : bool
        True: dates as DD/MM/YYYY text (as in a CSV export); False: as datetimes (for
        files that store dates as dates: SPSS).

    Returns
    -------
    DataFrame
        Columns ``parent_id, family_id, la_code, la, region, cluster, intervention, mode,
        relationship, referral_date, start_date, exit_date, outcome, sessions_planned,
        sessions_attended, first_session, last_session, sex, age, ethnicity, workless,
        child_age``, then ``qdate_t1 .. qdate_t4`` and the item columns, in instrument
        and item order, wave by wave. Integers are ``Int64``; a blank cell is missing.
    """
    books = data.codebooks
    p = data.parents.reset_index(drop=True)
    las = data.las.drop_duplicates("la_code").set_index("la_code")
    region_label = books["regions"].labels()
    out = pd.DataFrame({
        "parent_id": p["parent_id"].astype(object),
        "family_id": p["family_id"].astype(object),
        "la_code": p["la_code"].astype(object),
        "la": las["la_name"].reindex(p["la_code"]).to_numpy(),
        "region": las["region"].reindex(p["la_code"]).map(region_label).to_numpy(),
        "cluster": las["cluster_id"].reindex(p["la_code"]).to_numpy(),
    })
    labelled = {name: p[col].map(books[book].labels()).astype(object)
                for col, (name, book) in _LABELLED.items()}
    att = data.attendance
    came = att[att["attended"].fillna(False).astype(bool)].groupby("parent_id")
    ids = p["parent_id"]
    count = came.size().reindex(ids).fillna(0).to_numpy(dtype="int64")
    started = p["start_date"].notna().to_numpy()
    out = out.assign(
        intervention=labelled["intervention"], mode=labelled["mode"],
        relationship=labelled["relationship"], referral_date=p["referral_date"],
        start_date=p["start_date"], exit_date=p["exit_date"],
        outcome=p["exit_reason"].map(OUTCOME_LABELS).astype(object),
        sessions_planned=p["sessions_planned"].astype("Int64"),
        sessions_attended=pd.Series(count, dtype="Int64").where(started),
        first_session=came["session_date"].min().reindex(ids).to_numpy(),
        last_session=came["session_date"].max().reindex(ids).to_numpy(),
        sex=labelled["sex"], age=p["parent_age"].astype("Int64"),
        ethnicity=labelled["ethnicity"],
        workless=p["workless"].map({True: "Yes", False: "No"}).astype(object),
        child_age=p["child_age"].astype("Int64"),
    )

    r = data.responses
    pos = pd.Index(p["parent_id"]).get_indexer(r["parent_id"])
    if (pos < 0).any():
        raise RpcEvalError("some responses belong to no parent; cannot lay them out wide")
    waves = [w for w in WAVE_SUFFIXES if w in set(r["wave"])]
    qdate = r.groupby(["parent_id", "wave"])["completed_date"].first()
    cols: dict[str, object] = {}
    for w in WAVE_SUFFIXES:
        d = qdate.xs(w, level="wave") if w in waves else pd.Series(dtype="datetime64[ns]")
        cols[f"qdate_{WAVE_SUFFIXES[w]}"] = d.reindex(p["parent_id"]).to_numpy(
            dtype="datetime64[ns]")
    present = r[["instrument", "wave"]].drop_duplicates()
    for inst in data.instruments.available():
        items = list(data.instruments.get(inst).items)
        sub = r[r["instrument"] == inst]
        if not len(sub):
            continue
        used = [i for i in items if i in set(sub["item"])]
        for w in WAVE_SUFFIXES:
            if not ((present["instrument"] == inst) & (present["wave"] == w)).any():
                continue
            sw = sub[sub["wave"] == w]
            grid = np.full((len(p), len(used)), np.nan)
            ipos = pd.Index(used).get_indexer(sw["item"])
            rows = pd.Index(p["parent_id"]).get_indexer(sw["parent_id"])
            grid[rows, ipos] = sw["value"].to_numpy(dtype=float)
            for j, item in enumerate(used):
                name = _item_column(inst, item, items.index(item) + 1, WAVE_SUFFIXES[w])
                cols[name] = pd.array(grid[:, j], dtype="Float64").round().astype("Int64")
    wide = pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)
    date_cols = [*_DATES, *(c for c in wide.columns if c.startswith("qdate_"))]
    for c in date_cols:
        wide[c] = pd.to_datetime(wide[c])
        if dates_as_text:
            wide[c] = _dmy(wide[c])
    return wide


def _sav_frame(data: EvaluationData) -> tuple[pd.DataFrame, dict, dict]:
    """Wide frame for SPSS: labelled columns as numeric codes with value labels, item
    columns with their response labels and -9 (user-missing) for unanswered items."""
    wide = to_wide(data, dates_as_text=False)
    value_labels: dict[str, dict] = {}
    missing: dict[str, list] = {}
    for col in ["region", *(n for n, _ in _LABELLED.values()), "outcome", "workless"]:
        labels = sorted(set(wide[col].dropna()))
        codes = {lab: i + 1 for i, lab in enumerate(labels)}
        wide[col] = wide[col].map(codes).astype("float64")
        value_labels[col] = {float(i): lab for lab, i in codes.items()}
    reg = data.instruments
    for inst in reg.available():
        spec = reg.get(inst).spec
        base = (spec.get("responses") or {}).get("labels") or {}
        for n, item in enumerate(reg.get(inst).items, start=1):
            labels = ((spec.get("item_responses") or {}).get(item) or {}).get("labels") or base
            for suffix in WAVE_SUFFIXES.values():
                col = _item_column(inst, item, n, suffix)
                if col not in wide.columns:
                    continue
                wide[col] = wide[col].astype("float64")
                # unanswered items of a returned questionnaire carry the user-missing code
                returned = wide[f"qdate_{suffix}"].notna()
                wide.loc[returned & wide[col].isna(), col] = MISSING_CODE
                value_labels[col] = {**{float(k): str(v) for k, v in labels.items()},
                                     float(MISSING_CODE): "Not answered"}
                missing[col] = [MISSING_CODE]
    for c in ("sessions_planned", "sessions_attended", "age", "child_age"):
        wide[c] = wide[c].astype("float64")
    return wide, value_labels, missing


def write_wide(data: EvaluationData, path: str | Path) -> Path:
    """Write the wide delivery of ``data`` to ``path`` (.csv, .xlsx or .sav).

    CSV and XLSX hold labels and DD/MM/YYYY dates as text; the .sav file holds coded
    columns with SPSS value labels, dates as SPSS dates and ``-9`` declared as a
    user-missing value for unanswered items of a returned questionnaire.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        to_wide(data).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    elif suffix == ".xlsx":
        to_wide(data).to_excel(path, index=False, sheet_name="delivery", engine="openpyxl")
    elif suffix == ".sav":
        import pyreadstat

        frame, labels, missing = _sav_frame(data)
        pyreadstat.write_sav(frame, str(path), variable_value_labels=labels,
                             missing_ranges=missing)
    else:
        raise RpcEvalError(f"a wide delivery is written as .csv, .xlsx or .sav, not {suffix!r}")
    return path
