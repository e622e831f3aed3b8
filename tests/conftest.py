"""Shared fixtures: a tiny valid dataset that tests copy and then corrupt, and the
synthetic datasets that many modules read (made once per test process)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

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


# --- shared synthetic datasets --------------------------------------------------------
def _frame_shape(frame: pd.DataFrame) -> tuple:
    return (id(frame), frame.shape, tuple(frame.columns), tuple(map(str, frame.dtypes)),
            repr(frame.attrs))


def _frame_digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256(repr(_frame_shape(frame)[1:]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


class SyntheticDatasets:
    """``rpc_eval.synthetic.generate(scale, seed, **overrides)``, made once per test
    process and shared by every test that asks for the same arguments.

    Calling it returns the shared ``(data, truth)``: read it, never change it (no column
    added, no cell set, no table replaced, no key of ``truth`` changed). A test that
    changes the data asks for :meth:`copy`, an independent deep copy. Changes to a
    shared dataset are caught: its layout after every module and its content at the
    end of the run are compared with what was generated, and a difference fails.
    """

    def __init__(self) -> None:
        self._made: dict[str, tuple[Any, dict, dict]] = {}
        self._named: set[str] = set()

    @staticmethod
    def _key(scale: str, seed: int, overrides: dict[str, Any]) -> str:
        return json.dumps([scale, seed, overrides], sort_keys=True)

    def __call__(self, scale: str, seed: int, **overrides: Any):
        from rpc_eval.synthetic import generate

        key = self._key(scale, seed, overrides)
        if key not in self._made:
            data, truth = generate(scale, seed=seed, **overrides)
            self._made[key] = (data, truth, self._fingerprint(data, truth, content=True))
        data, truth, _ = self._made[key]
        return data, truth

    def copy(self, scale: str, seed: int, **overrides: Any):
        """An independent copy of the shared dataset, for a test that changes it."""
        data, truth = self(scale, seed, **overrides)
        frames = {name: frame.copy(deep=True) for name, frame in data.tables().items()}
        return dataclasses.replace(data, **frames), copy.deepcopy(truth)

    @staticmethod
    def _fingerprint(data, truth: dict, content: bool) -> dict:
        out = {"tables": {n: _frame_shape(f) for n, f in data.tables().items()},
               "truth": json.dumps(truth, sort_keys=True, default=str)}
        if content:
            out["content"] = {n: _frame_digest(f) for n, f in data.tables().items()}
        return out

    def changed(self, content: bool = False) -> list[str]:
        """The datasets whose layout (or, with ``content``, any value) has changed; a
        dataset is named once by the layout check (the module that changed it)."""
        bad = []
        for key, (data, truth, made) in self._made.items():
            now = self._fingerprint(data, truth, content)
            if (content or key not in self._named) and any(now[p] != made[p] for p in now):
                bad.append(f"generate{tuple(json.loads(key))}")
                self._named.add(key)
        return bad


@pytest.fixture(scope="session")
def synthetic():
    """The :class:`SyntheticDatasets` of this test process; checks at the end of the run
    that no test changed a shared dataset."""
    made = SyntheticDatasets()
    yield made
    changed = made.changed(content=True)
    assert not changed, (f"a test changed the shared synthetic dataset(s) {changed}; "
                         "use synthetic.copy(...) in a test that changes the data")


@pytest.fixture(autouse=True, scope="module")
def _shared_synthetic_unchanged(synthetic, request):
    """After each module: no shared synthetic dataset has a table replaced, a column,
    row, dtype or attribute added or removed, or ``truth`` changed (cheap; the values
    are compared at the end of the run)."""
    yield
    changed = synthetic.changed()
    assert not changed, (f"{request.module.__name__} changed the shared synthetic "
                         f"dataset(s) {changed}; use synthetic.copy(...) there")


@pytest.fixture(scope="session")
def small_data(synthetic):
    """``generate("small", seed=1)``: (data, truth), shared; do not change it."""
    return synthetic("small", 1)


@pytest.fixture(scope="session")
def default_data(synthetic):
    """``generate("default", seed=20240601)``: (data, truth), shared; do not change it."""
    return synthetic("default", 20240601)



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
    # coverage and variance checked over hundreds of simulated samples
    "test_cif_and_km_ci_coverage_for_known_exponential_hazards",
    "test_cluster_robust_variance_by_simulation", "test_coverage_fine_gray_design",
    "test_known_truth_coverage_logit", "test_ci_coverage_known_truth",
    "test_d_z_ci_coverage_simulation", "test_overdispersion_simulation_known_tau2",
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
