"""Shared fixtures: a tiny valid dataset that tests copy and then corrupt."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The base dataset, one CSV text per table; every row is valid when loaded with
#: today="2024-01-01" (the last date is 2023-10-01). Row numbers as a user sees them in
#: a spreadsheet: header = row 1, first data row = row 2.
BASE_TABLES: dict[str, str] = {
    "las": (
        "la_code,la_name,region\n"
        "LA001,Northtown,north_east\n"
        "LA002,Southville,london\n"
    ),
    "parents": (
        "parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
        "referral_date,start_date,exit_date,exit_reason\n"
        "P001,F001,LA001,parents_plus_pws,face_to_face,separated,2023-01-05,2023-01-20,2023-03-01,completed\n"
        "P002,F001,LA001,parents_plus_pws,online,separated,2023-01-06,2023-01-21,,ongoing\n"
        "P003,F002,LA002,enhanced_triple_p,face_to_face,together,2023-02-01,,,not_started\n"
    ),
    "attendance": (
        "parent_id,session_number,session_date,attended\n"
        "P001,1,2023-01-20,yes\n"
        "P001,2,2023-01-27,no\n"
        "P002,1,2023-01-21,yes\n"
    ),
    "responses": (
        "parent_id,respondent,instrument,wave,item,value,completed_date\n"
        "P001,parent,phq9,baseline,phq9_01,2,2023-01-10\n"
        "P001,parent,phq9,baseline,phq9_02,1,2023-01-10\n"
        "P002,parent,phq9,baseline,phq9_01,0,2023-01-12\n"
    ),
    "practitioners": (
        "practitioner_id,la_code,sector,course,training_date,delivery\n"
        "PR01,LA001,police,rpc_awareness,2023-03-01,face_to_face\n"
        "PR02,LA002,education,rpc_practitioner,2023-04-01,online_live\n"
    ),
    "training_responses": (
        "practitioner_id,wave,question,value,completed_date\n"
        "PR01,pre,knowledge,2,2023-03-01\n"
        "PR01,post,satisfaction,4,2023-03-01\n"
        "PR02,followup_6m,actual_use,3,2023-10-01\n"
    ),
    "planning_tool": (
        "la_code,return_year,section,item,response\n"
        "LA001,2023,self_assessment,element_1,2\n"
        "LA001,2023,partner_awareness,aware_health,very\n"
        "LA002,2023,interventions_offered,offers_mbt,no\n"
    ),
}


def write_base(folder: Path, tables: dict[str, str] | None = None) -> Path:
    """Write the base dataset (or ``tables``) as UTF-8 CSV files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (BASE_TABLES if tables is None else tables).items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8", newline="")
    return folder


@pytest.fixture
def base_dataset(tmp_path: Path) -> Path:
    """A folder holding the valid base dataset (one CSV per table)."""
    return write_base(tmp_path / "data")

