"""The drift checker behind ``make reference`` compares regenerated R fixtures with the
committed ones; these tests show it finds a difference and ignores only what describes
the run (versions, timings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "check_drift", Path(__file__).parent / "reference" / "check_drift.py")
check_drift = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_drift)


def _diff(a, b, tol=1e-6):
    out: list[str] = []
    check_drift._compare(a, b, "f.json", tol, out)
    return out


def test_identical_fixtures_have_no_drift():
    fix = {"fits": [{"estimate": [0.5, -1.25], "singular": False, "term": "x"}]}
    assert _diff(fix, fix) == []


def test_a_changed_number_is_drift_with_its_path():
    a = {"fits": [{"estimate": [0.5, -1.25]}]}
    b = {"fits": [{"estimate": [0.5, -1.2500101]}]}
    assert _diff(a, b) == ["f.json/fits[0]/estimate[1]: -1.25 committed, -1.2500101 regenerated"]
    assert _diff(a, {"fits": [{"estimate": [0.5, -1.2500000001]}]}) == []


def test_changed_strings_lengths_and_keys_are_drift():
    assert _diff({"t": "a"}, {"t": "b"})
    assert _diff({"t": [1, 2]}, {"t": [1, 2, 3]})
    assert _diff({"t": 1}, {"u": 1})
    assert _diff({"flag": True}, {"flag": False})


def test_versions_and_timings_are_not_compared():
    a = {"r_version": "R 4.2.2", "lme4_version": "1.1-31", "elapsed": 0.5, "x": 1.0}
    b = {"r_version": "R 4.4.0", "lme4_version": "1.1-35", "elapsed": 9.0, "x": 1.0}
    assert _diff(a, b) == []
