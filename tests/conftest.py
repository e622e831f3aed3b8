"""Shared fixtures: a tiny valid dataset that tests copy and then corrupt."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
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



#: Tests that build whole reports, render pages in a browser, fuzz, or check coverage by
#: simulation: marked ``slow`` here, in one place. ``make test`` (and CI) runs them;
#: ``make test-fast`` leaves them out for a quick check while working.
SLOW_MODULES = {
    "test_browser.py", "test_report_build.py", "test_disclosure_attack.py",
    "test_regional_roundtrip.py", "test_build_state.py", "test_intake_fuzz.py",
    "test_intake_property.py", "test_small_la_reports.py", "test_import_delivery.py",
    "test_attendance_count.py", "test_intake_realistic_workbook.py",
    "test_questionnaires_layout.py",
}
SLOW_TESTS = {
    "test_bootstrap_coverage_known_truth", "test_arm_ci_coverage_known_truth",
    "test_coverage_cluster_level_treatment", "test_coverage_known_truth",
    "test_bootstrap_nested_two_levels", "test_random_reports_leave_no_small_count_inferable",
    "test_hksj_coverage_simulation", "test_simulation_deterministic_and_independent_of_jobs",
    "test_100k_subjects_with_ties", "test_100k_rows_in_four_groups",
    "test_round_trip_of_a_synthetic_dataset", "test_sweep_never_below_lme4_without_warning",
    "test_multilevel_simulation_deterministic", "test_cli_summarise_and_pool",
    "test_mi_change_deterministic_with_seed", "test_known_truth_cloglog_and_cluster_coverage",
    "test_one_stage_and_two_stage_agree", "test_mi_covers_truth_and_complete_case_is_biased",
    "test_signed_summaries_pool_and_name_each_key",
    "test_tampered_rehashed_summary_is_refused_under_trusted_keys",
    "test_hostile_la_codes_publish_no_formula_and_draw",
    "rpc_eval.multilevel.analysis.multilevel_analysis",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = getattr(item, "originalname", None) or item.name.split("[")[0]
        if item.path.name in SLOW_MODULES or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


# --- the vocabulary of result tables (docs/conventions.md), for tests/test_conventions*.py

#: Column names the conventions rule out, with the name to use instead.
FORBIDDEN_COLUMNS = {
    "se": "std_error", "std_err": "std_error", "p": "p_value", "p_t": "p_value",
    "pvalue": "p_value", "pval": "p_value", "coef": "estimate", "lower": "ci_low",
    "upper": "ci_high", "lcl": "ci_low", "ucl": "ci_high", "hr": "ratio", "or": "ratio",
    "events": "n_events", "at_risk": "n_at_risk", "exp_coef": "ratio",
    "hr_ci_low": "ratio_ci_low", "hr_ci_high": "ratio_ci_high", "z": "statistic",
    "t": "statistic",
}
#: A term label: a column name, ``column[T.level]``, or such terms joined by ``:``.
TERM = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\[T\.[^\]]+\])?)(?::[A-Za-z_][A-Za-z0-9_]*"
                  r"(?:\[T\.[^\]]+\])?)*$")


def check_table(table: pd.DataFrame, what: str) -> None:
    """Fail on a column or a term label outside the vocabulary."""
    wrong = [f"column {c} -> {FORBIDDEN_COLUMNS[c]}" for c in map(str, table.columns)
             if c in FORBIDDEN_COLUMNS]
    if "term" in table.columns:
        wrong += [f"term {t!r} is not column[T.level]" for t in table["term"].astype(str)
                  if not TERM.match(t) and t not in ("Intercept", "(Intercept)")]
    assert not wrong, f"{what}: " + "; ".join(wrong)


@pytest.fixture
def check_conventions():
    """``check(table, what)``: fail on a column or term label outside the vocabulary."""
    return check_table
