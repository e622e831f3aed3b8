"""The interim report's tables (DWP research report 1059, Tables 1, 2, 3, 5, 6 and 7),
published from :mod:`rpc_eval.regional.interim_tables`. Computes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from rpc_eval.regional import interim_tables as it
from rpc_eval.report.disclosure import TableSpec, TotalRows
from rpc_eval.report.publish import Report, Shown

__all__ = ["interim_section", "INTERIM"]

#: Headings for row labels the published tables leave unheaded.
ROW_HEADINGS = {"table_3": "Partner workforce"}

#: Tables 2-7 count LAs or their answers: their units are organisations.
ORGS = TableSpec(units="organisations")

#: table id -> (function, title as published, spec)
INTERIM = {
    "table_1": (it.table_1, "Table 1: Number of individuals interviewed in the case-study "
                "LAs, by job role",
                TableSpec(counts=("Number of individuals interviewed",),
                          total_rows=TotalRows(column="Job role", label="Total"))),
    "table_2": (it.table_2, "Table 2: Awareness of the RPC agenda among the senior leaders "
                "of partners (number of planning-tool answers)", ORGS),
    "table_3": (it.table_3, "Table 3: Estimated share of each partner workforce trained in "
                "RPC (number of LAs in each band)", ORGS),
    "table_5": (it.table_5, "Table 5: Number of case-study LAs delivering each "
                "conflict-focused intervention", ORGS),
    "table_6": (it.table_6, "Table 6: Sign-ups and attendance at the early-stage workshops "
                "(LAs)", ORGS),
    "table_7": (it.table_7, "Table 7: The case-study LAs and their attributes",
                ORGS),
}


def interim_section(rpt: Report, cs: Mapping[str, pd.DataFrame],
                    tables: Sequence[str] = tuple(INTERIM)) -> Shown:
    """Publish the interim tables named in ``tables`` as ``interim_<id>``."""
    out = Shown("")
    for tid in tables:
        fn, title, spec = INTERIM[tid]
        frame = fn(cs).reset_index()
        first = frame.columns[0]
        if first == "index":  # the published table's row labels have no heading
            frame = frame.rename(columns={"index": ROW_HEADINGS.get(tid, "Row")})
        out += rpt.table(f"interim_{tid}", frame, title, spec=spec)
    return out
