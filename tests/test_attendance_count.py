"""Attendance as a count: parents.sessions_attended instead of an attendance table.

Engagement analyses in sessions (retention, cumulative incidence, Cox, Fine-Gray, the
session hazard) and the funnel give the same results from the count as from one row per
session; what needs session numbers or dates says so in words.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from rpc_eval.data import empty_table, load, write
from rpc_eval.engagement import engagement_analysis, person_period, time_to_event
from rpc_eval.errors import DataQualityWarning, RpcEvalError
from rpc_eval.synthetic import generate


@pytest.fixture(scope="module")
def small():
    data, _ = generate("small", seed=5)
    return data


def as_counts(data):
    """The same data with attendance folded into parents.sessions_attended."""
    att = data.attendance
    attended = att[att["attended"].fillna(False).astype(bool)]
    count = attended.groupby("parent_id").size()
    first = attended.groupby("parent_id")["session_date"].min()
    last = attended.groupby("parent_id")["session_date"].max()
    p = data.parents.copy()
    started = p["start_date"].notna()
    ids = p["parent_id"]
    p["sessions_attended"] = (count.reindex(ids).fillna(0).astype("Int64")
                              .where(started.to_numpy(), pd.NA).to_numpy())
    p["first_session_date"] = first.reindex(ids).to_numpy()
    p["last_session_date"] = last.reindex(ids).to_numpy()
    return dataclasses.replace(data, parents=p, attendance=empty_table("attendance"))


def _frames_equal(a, b, **kw):
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), **kw)


def test_engagement_from_counts_equals_engagement_from_sessions(small):
    counted = as_counts(small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        long_res = engagement_analysis(small)
        count_res = engagement_analysis(counted)
    lt, ct = long_res.time_to_event, count_res.time_to_event
    assert (lt["sessions"].to_numpy() == ct["sessions"].to_numpy()).all()
    assert ct["sessions"].sum() > 0
    _frames_equal(long_res.funnel, count_res.funnel)
    _frames_equal(long_res.retention.table, count_res.retention.table)
    _frames_equal(long_res.cumulative_incidence.table, count_res.cumulative_incidence.table)
    _frames_equal(long_res.cox.coefficients, count_res.cox.coefficients)
    _frames_equal(long_res.fine_gray.coefficients, count_res.fine_gray.coefficients)
    _frames_equal(long_res.session_hazard, count_res.session_hazard)
    assert ct["last_session"].isna().all()


def test_count_survives_files_and_intake(small, tmp_path):
    counted = as_counts(small)
    write(counted, tmp_path)
    assert not (tmp_path / "attendance.csv").exists()
    loaded = load(tmp_path, today="2030-01-01")
    assert loaded.intake_log.n_errors == 0
    pd.testing.assert_series_equal(loaded.parents["sessions_attended"],
                                   counted.parents["sessions_attended"].astype("Int64"),
                                   check_names=False)


def test_session_numbers_need_the_attendance_table(small):
    tte = time_to_event(as_counts(small))
    with pytest.raises(RpcEvalError, match="need the attendance table"):
        person_period(tte, sessions_col="last_session")


def test_early_censor_date_needs_session_dates(small):
    counted = as_counts(small)
    p = counted.parents.copy()
    p["last_session_date"] = pd.NaT
    counted = dataclasses.replace(counted, parents=p)
    latest_start = p["start_date"].max()
    later = (p["exit_date"] > latest_start) | (p["exit_reason"] == "ongoing")
    assert (later & p["sessions_attended"].gt(0).fillna(False)).any()
    with pytest.raises(RpcEvalError, match="needs the attendance table"):
        time_to_event(counted, censor_date=latest_start)
    # with the last session dated, a censoring date after every last session is fine
    dated = as_counts(small)
    last = dated.parents["last_session_date"].max()
    tte = time_to_event(dated, censor_date=max(last, latest_start))
    assert tte["sessions"].sum() == dated.parents["sessions_attended"].sum()


def test_blank_count_of_a_starter_is_warned(small):
    counted = as_counts(small)
    p = counted.parents.copy()
    first_starter = p.index[p["start_date"].notna()][0]
    p.loc[first_starter, "sessions_attended"] = pd.NA
    with pytest.warns(DataQualityWarning, match="sessions_attended is blank for 1 parent"):
        tte = time_to_event(dataclasses.replace(counted, parents=p))
    assert not tte.loc[0, "attendance_recorded"]


def test_count_and_attendance_that_disagree_are_warned(small):
    counted = as_counts(small)
    p = counted.parents.copy()
    i = p.index[p["sessions_attended"].fillna(0) > 0][0]
    p.loc[i, "sessions_attended"] = p.loc[i, "sessions_attended"] + 1
    both = dataclasses.replace(small, parents=p)
    with pytest.warns(DataQualityWarning, match="differs from the attendance table for 1"):
        tte = time_to_event(both)
    assert (tte["sessions"].to_numpy() == time_to_event(small)["sessions"].to_numpy()).all()


@pytest.mark.parametrize("change, column, problem", [
    ({"exit_reason": "not_started", "start_date": "", "exit_date": "",
      "first_session_date": "", "last_session_date": ""},
     "sessions_attended", "not_started"),
    ({"first_session_date": "2000-01-01"}, "first_session_date", "before the start date"),
    ({"last_session_date": "2029-01-01"}, "last_session_date", "after the exit date"),
])
def test_intake_checks_the_count_against_the_episode(small, tmp_path, change, column, problem):
    counted = as_counts(small)
    write(counted, tmp_path)
    parents = pd.read_csv(tmp_path / "parents.csv", dtype=str, keep_default_na=False)
    row = int(np.flatnonzero((parents["exit_reason"] == "completed")
                             & (parents["sessions_attended"] != "0"))[0])
    for col, value in change.items():
        parents.loc[row, col] = value
    parents.to_csv(tmp_path / "parents.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        log = load(tmp_path, today="2030-01-01").intake_log
    errors = log.problems[log.problems["severity"] == "error"]
    hit = errors[(errors["table"] == "parents") & (errors["column"] == column)]
    assert len(hit) == 1 and problem in hit["problem"].iloc[0]
    assert int(hit["row"].iloc[0]) == row + 2
