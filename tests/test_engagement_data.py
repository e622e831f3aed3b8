"""Tests of the engagement data builders: time-to-event frame, person-period data,
the funnel with Wilson intervals (checked against R's prop.test) and its table."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.data import EvaluationData, empty_table, load
from rpc_eval.engagement.funnel import (
    FUNNEL_COLUMNS,
    STAGES,
    funnel,
    funnel_table,
    wilson_interval,
)
from rpc_eval.engagement.timetoevent import (
    COVARIATES,
    EVENT_CODES,
    PERSON_PERIOD_OUTCOMES,
    TTE_COLUMNS,
    person_period,
    time_to_event,
)
from rpc_eval.errors import DataQualityWarning, RpcEvalError, RpcEvalWarning

REFERENCE = Path(__file__).parent / "reference"


# ----------------------------------------------------------------------------- helpers
def typed(table: str, rows: list[dict]) -> pd.DataFrame:
    """A frame with the schema's columns and dtypes (like rpc_eval.data.empty_table)."""
    template = empty_table(table)
    frame = pd.DataFrame(rows, columns=template.columns)
    for col in template.columns:
        dtype = template[col].dtype
        if dtype.kind == "M":
            frame[col] = pd.to_datetime(frame[col])
        frame[col] = frame[col].astype(dtype)
    return frame


def parent(pid: str, reason: str, start: str | None = None, exit_: str | None = None, *,
           family: str | None = None, la: str = "LA1", intervention: str = "parents_plus_pws",
           referral: str = "2023-01-01", **extra) -> dict:
    row = {"parent_id": pid, "family_id": family or f"F{pid}", "la_code": la,
           "intervention": intervention, "delivery_mode": "face_to_face",
           "relationship_status": "separated", "referral_date": referral,
           "start_date": start, "exit_date": exit_, "exit_reason": reason}
    row.update(extra)
    return row


def sessions(pid: str, dates: list[str], attended: list[bool] | None = None) -> list[dict]:
    attended = attended or [True] * len(dates)
    return [{"parent_id": pid, "session_number": i + 1, "session_date": d, "attended": a}
            for i, (d, a) in enumerate(zip(dates, attended, strict=True))]


LAS = [{"la_code": "LA1", "la_name": "One", "region": "north_east"},
       {"la_code": "LA2", "la_name": "Two", "region": "london"}]


def make_data(parents: list[dict], attendance: list[dict] = (), responses: list[dict] = (),
              interventions: list[dict] | None = None, las: list[dict] = LAS) -> EvaluationData:
    kwargs = {}
    if interventions is not None:
        kwargs["interventions"] = typed("interventions", interventions)
    return EvaluationData(las=typed("las", las), parents=typed("parents", parents),
                          attendance=typed("attendance", list(attendance)),
                          responses=typed("responses", list(responses)), **kwargs)


def tiny() -> EvaluationData:
    """P1 completed 3/3; P2 dropped out after 1 of 2 planned so far; P3 ongoing with 2;
    P4 never started; P5 dropped out before attending anything."""
    return make_data(
        [parent("P1", "completed", "2023-02-01", "2023-02-15"),
         parent("P2", "dropped_out", "2023-02-02", "2023-02-20", la="LA2"),
         parent("P3", "ongoing", "2023-03-01"),
         parent("P4", "not_started"),
         parent("P5", "dropped_out", "2023-02-10", "2023-02-13")],
        attendance=[*sessions("P1", ["2023-02-01", "2023-02-08", "2023-02-15"]),
                    *sessions("P2", ["2023-02-02", "2023-02-09"], [True, False]),
                    *sessions("P3", ["2023-03-01", "2023-03-08"])],
    )


def response(pid: str, wave: str, value: float | None = 1.0, respondent: str = "parent",
             item: str = "phq9_01") -> dict:
    return {"parent_id": pid, "respondent": respondent, "instrument": "phq9", "wave": wave,
            "item": item, "value": value, "completed_date": None}


@pytest.fixture(scope="module")
def small(small_data):
    return small_data


# ------------------------------------------------------------------- time_to_event
def test_tte_hand_built_rows_and_columns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tte = time_to_event(tiny(), censor_date="2023-03-31")
    assert list(tte.columns) == list(TTE_COLUMNS)
    assert tte["parent_id"].tolist() == ["P1", "P2", "P3", "P5"]  # P4 never started
    assert tte["status"].tolist() == ["completion", "dropout", "censored", "dropout"]
    assert tte["event"].tolist() == [2, 1, 0, 1]
    assert tte["event"].tolist() == tte["status"].map(EVENT_CODES).tolist()
    assert tte["sessions"].tolist() == [3, 1, 2, 0]
    assert tte["last_session"].tolist() == [3, 1, 2, 0]
    # P1 14 days, P2 18, P3 censored 2023-03-01 -> 2023-03-31 = 30, P5 3
    assert tte["days"].tolist() == [14.0, 18.0, 30.0, 3.0]
    assert tte.loc[2, "end_date"] == pd.Timestamp("2023-03-31")
    assert tte["region"].tolist() == ["north_east", "london", "north_east", "north_east"]
    # codebook value for parents_plus_pws
    assert tte["sessions_planned"].tolist() == [6, 6, 6, 6]
    assert tte["attendance_recorded"].tolist() == [True, True, True, False]
    dtypes = tte.dtypes
    assert dtypes["event"] == "int64" and dtypes["sessions"] == "int64"
    assert dtypes["days"] == "float64" and dtypes["sessions_planned"] == "Int64"
    assert dtypes["workless"] == "boolean" and dtypes["start_date"].kind == "M"


def test_dropout_before_first_session_is_warning_free_and_countable():
    data = tiny()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tte = time_to_event(data)
    p5 = tte.set_index("parent_id").loc["P5"]
    assert p5["sessions"] == 0 and p5["days"] >= 0 and p5["status"] == "dropout"
    assert int((~tte["attendance_recorded"]).sum()) == 1


def test_default_censor_date_is_latest_date_anywhere():
    data = tiny()
    # a questionnaire answered later than every other date sets the censoring date
    data.responses = typed("responses", [{**response("P1", "followup_6m"),
                                          "completed_date": "2023-08-15"}])
    tte = time_to_event(data)
    p3 = tte.set_index("parent_id").loc["P3"]
    assert p3["end_date"] == pd.Timestamp("2023-08-15")
    assert p3["days"] == (pd.Timestamp("2023-08-15") - pd.Timestamp("2023-03-01")).days
    # without it, the latest date is P3's last session
    assert time_to_event(tiny()).set_index("parent_id").loc["P3", "end_date"] == \
        pd.Timestamp("2023-03-08")


def test_censor_date_before_a_start_date_is_refused():
    with pytest.raises(RpcEvalError, match="before the start date of 1 parent"):
        time_to_event(tiny(), censor_date="2023-02-28")
    with pytest.raises(RpcEvalError, match="censor_date must be a date"):
        time_to_event(tiny(), censor_date="not a date")
    # the latest start date itself is allowed: 0 days for P3
    tte = time_to_event(tiny(), censor_date="2023-03-01")
    assert tte.set_index("parent_id").loc["P3", "days"] == 0.0


def test_censor_date_before_an_exit_censors_the_episode():
    tte = time_to_event(tiny(), censor_date="2023-03-02").set_index("parent_id")
    assert tte.loc["P3", "sessions"] == 1  # the 2023-03-08 session is after the censor date
    data = tiny()
    data.parents = data.parents[data.parents["parent_id"] != "P3"].reset_index(drop=True)
    data.attendance = data.attendance[data.attendance["parent_id"] != "P3"]
    tte = time_to_event(data, censor_date="2023-02-10").set_index("parent_id")
    # P1 (exit 02-15) and P2 (exit 02-20) are censored on 02-10; P5 started on 02-10
    assert tte.loc["P5", "status"] == "censored" and tte.loc["P5", "days"] == 0.0
    with pytest.raises(RpcEvalError, match="P5"):
        time_to_event(data, censor_date="2023-02-09")
    assert tte.loc["P1", "status"] == "censored" and tte.loc["P1", "sessions"] == 2
    assert tte.loc["P1", "days"] == 9.0
    assert tte.loc["P2", "status"] == "censored" and tte.loc["P2", "sessions"] == 1


def test_all_ongoing():
    data = make_data([parent("A", "ongoing", "2023-01-10"), parent("B", "ongoing", "2023-01-20")],
                     attendance=sessions("A", ["2023-01-10", "2023-01-17"]))
    tte = time_to_event(data, censor_date="2023-02-01")
    assert (tte["status"] == "censored").all() and (tte["event"] == 0).all()
    assert tte["days"].tolist() == [22.0, 12.0]
    assert tte["sessions"].tolist() == [2, 0]
    pp = person_period(tte)
    assert len(pp) == 2 and pp["dropout"].sum() == 0


def test_empty_attendance_table_warns():
    data = make_data([parent("A", "completed", "2023-01-10", "2023-02-10")])
    with pytest.warns(DataQualityWarning, match="attendance table is empty"):
        tte = time_to_event(data)
    assert tte["sessions"].tolist() == [0]
    assert tte["days"].tolist() == [31.0]


def test_no_starters_gives_an_empty_frame_with_a_warning():
    data = make_data([parent("A", "not_started"), parent("B", "not_started")])
    with pytest.warns(RpcEvalWarning, match="no parent has a start date"):
        tte = time_to_event(data)
    assert len(tte) == 0 and list(tte.columns) == list(TTE_COLUMNS)
    assert len(person_period(tte)) == 0


def test_missed_sessions_counted_as_not_attended():
    data = make_data([parent("A", "dropped_out", "2023-01-01", "2023-01-25")],
                     attendance=sessions("A", ["2023-01-01", "2023-01-08", "2023-01-15"],
                                         [True, False, True]))
    row = time_to_event(data).iloc[0]
    assert (row["sessions"], row["last_session"]) == (2, 3)


@pytest.mark.filterwarnings("ignore:the attendance table is empty")
def test_sessions_planned_filled_from_parent_table_then_codebook():
    data = make_data(
        [parent("A", "ongoing", "2023-01-01", sessions_planned=9),
         parent("B", "ongoing", "2023-01-01"),                     # interventions table: 4
         parent("C", "ongoing", "2023-01-01", intervention="enhanced_triple_p")],  # codebook: 6
        interventions=[{"intervention": "parents_plus_pws", "name": "PPWS",
                        "intensity": "group", "sessions_planned": 4}],
    )
    tte = time_to_event(data, censor_date="2023-02-01")
    assert tte["sessions_planned"].tolist() == [9, 4, 6]
    # an intervention nobody describes: left missing, with a warning
    data = make_data([parent("A", "ongoing", "2023-01-01", intervention="local_thing")])
    with pytest.warns(DataQualityWarning, match="sessions_planned is unknown"):
        tte = time_to_event(data, censor_date="2023-02-01")
    assert tte["sessions_planned"].isna().all()


@pytest.mark.filterwarnings("ignore:the attendance table is empty")
def test_unknown_la_warns_and_leaves_region_missing():
    data = make_data([parent("A", "ongoing", "2023-01-01", la="LA9")])
    with pytest.warns(DataQualityWarning, match="not in the las table"):
        tte = time_to_event(data, censor_date="2023-02-01")
    assert tte["region"].isna().all()


@pytest.mark.parametrize("rows, att, match", [
    ([parent("A", "not_started", "2023-01-01")], [], "exit_reason"),
    ([parent("A", "completed", "2023-01-01")], [], "no exit date"),
    ([parent("A", "ongoing", "2023-01-01", "2023-01-05")], [], "ongoing but have an exit"),
    ([parent("A", "completed", "2023-01-05", "2023-01-01")], [], "before their start"),
    ([parent("A", "completed", "2023-01-01", "2023-01-08")],
     sessions("A", ["2023-01-01", "2023-01-15"]), "after the parent's exit date"),
    ([parent("A", "completed", "2023-01-01", "2023-01-08")],
     sessions("A", ["2023-01-01"]) * 2, "session_number"),
    ([parent("A", "ongoing", "2023-01-01"), parent("A", "ongoing", "2023-01-02")], [],
     "not unique"),
])
def test_inconsistent_hand_built_tables_raise(rows, att, match):
    with pytest.raises(RpcEvalError, match=match):
        time_to_event(make_data(rows, attendance=att))


def test_not_evaluation_data_raises():
    with pytest.raises(RpcEvalError, match="EvaluationData"):
        time_to_event(pd.DataFrame())


def test_attendance_after_exit_is_excluded_at_intake_end_to_end(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "las.csv").write_text("la_code,la_name,region\nLA1,One,north_east\n")
    (folder / "parents.csv").write_text(
        "parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
        "referral_date,start_date,exit_date,exit_reason\n"
        "P1,F1,LA1,parents_plus_pws,face_to_face,separated,2023-01-01,2023-01-10,2023-01-24,dropped_out\n"
        "P2,F2,LA1,parents_plus_pws,online,separated,2023-01-01,2023-01-11,,ongoing\n")
    (folder / "attendance.csv").write_text(
        "parent_id,session_number,session_date,attended\n"
        "P1,1,2023-01-10,yes\n"
        "P1,2,2023-01-17,yes\n"
        "P1,3,2023-01-31,yes\n"   # after P1's exit date: an intake error
        "P2,1,2023-01-11,yes\n")
    with pytest.warns(DataQualityWarning, match="1 row"):
        data = load(folder, today="2024-01-01")
    excluded = data.intake_log.excluded
    assert len(excluded) == 1 and excluded.iloc[0]["table"] == "attendance"
    assert "after the parent's exit date" in excluded.iloc[0]["reason"]
    assert data.intake_log.reconciles()
    tte = time_to_event(data).set_index("parent_id")
    assert tte.loc["P1", "sessions"] == 2 and tte.loc["P1", "status"] == "dropout"
    assert tte.loc["P1", "days"] == 14.0
    # latest date in the data: P1's exit 2023-01-24 (the excluded session is gone)
    assert tte.loc["P2", "end_date"] == pd.Timestamp("2023-01-24")


def test_tte_on_synthetic_matches_tables(small):
    data, truth = small
    tte = time_to_event(data)
    p = data.parents
    starters = p[p["start_date"].notna()]
    assert len(tte) == len(starters)
    counts = truth["counts"]["parents_by_exit_reason"]
    assert (tte["status"] == "completion").sum() == counts["completed"]
    assert (tte["status"] == "dropout").sum() == counts["dropped_out"]
    assert (tte["status"] == "censored").sum() == counts["ongoing"]
    att = data.attendance
    by_hand = att[att["attended"].astype(bool)].groupby("parent_id").size()
    got = tte.set_index("parent_id")["sessions"]
    np.testing.assert_array_equal(got, by_hand.reindex(got.index).fillna(0).astype(int))
    assert (tte["days"] >= 0).all() and tte["sessions_planned"].notna().all()
    assert (tte["last_session"] >= tte["sessions"]).all()
    assert (tte.loc[tte["status"] == "completion", "last_session"]
            == tte.loc[tte["status"] == "completion", "sessions_planned"]).all()
    # covariates come through unchanged
    merged = tte.merge(p, on="parent_id", suffixes=("", "_p"))
    for col in ("intervention", "la_code", "parent_age"):
        pd.testing.assert_series_equal(merged[col], merged[f"{col}_p"], check_names=False)


# ------------------------------------------------------------------- person_period
def test_person_period_hand_worked():
    tte = pd.DataFrame({
        "parent_id": ["drop2", "drop0", "comp3", "cens1", "cens0"],
        "sessions": [2, 0, 3, 1, 0],
        "event": [1, 1, 2, 0, 0],
        "status": ["dropout", "dropout", "completion", "censored", "censored"],
        "days": [10.0, 2.0, 20.0, 5.0, 0.0],
        "intervention": ["a", "b", "c", "d", "e"],
        "sessions_planned": [6, 6, 3, 6, 6],
    })
    pp = person_period(tte)
    assert list(pp.columns) == ["parent_id", "session", "dropout", "intervention",
                                "sessions_planned"]
    assert pp["parent_id"].tolist() == ["drop2"] * 3 + ["drop0"] + ["comp3"] * 3 + ["cens1"]
    assert pp["session"].tolist() == [1, 2, 3, 1, 1, 2, 3, 1]
    assert pp["dropout"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    # completion at the last planned session (3 of 3) is not a dropout
    assert pp.loc[pp["parent_id"] == "comp3", "dropout"].sum() == 0
    assert pp["intervention"].tolist() == list("aaabcccd")
    assert pp["session"].dtype == "int64" and pp["dropout"].dtype == "int64"


def test_person_period_max_sessions_and_options():
    tte = pd.DataFrame({"parent_id": ["x", "y"], "sessions": [4, 1], "event": [1, 2],
                        "last_session": [6, 1], "status": ["dropout", "completion"],
                        "age": [30, 40]})
    pp = person_period(tte, max_sessions=3)
    # x's dropout at session 5 is beyond the window: censored at 3
    assert pp["parent_id"].tolist() == ["x", "x", "x", "y"]
    assert pp["dropout"].sum() == 0
    pp = person_period(tte, sessions_col="last_session", covariates=["age"])
    assert pp.loc[pp["parent_id"] == "x", "session"].max() == 7
    assert list(pp.columns) == ["parent_id", "session", "dropout", "age"]
    pp2 = person_period(tte, event_col="status", dropout_code="dropout", covariates=[])
    assert pp2["dropout"].tolist() == [0, 0, 0, 0, 1, 0]


@pytest.mark.parametrize("change, kwargs, match", [
    ({"sessions": [-1, 1]}, {}, "whole number"),
    ({"sessions": [1.5, 1]}, {}, "whole number"),
    ({"sessions": [None, 1]}, {}, "whole number"),
    ({"parent_id": ["x", "x"]}, {}, "one row per parent"),
    ({}, {"max_sessions": 0}, "max_sessions"),
    ({}, {"covariates": ["nope"]}, "nope"),
])
def test_person_period_bad_input(change, kwargs, match):
    tte = pd.DataFrame({"parent_id": ["x", "y"], "sessions": [1, 2], "event": [1, 0]})
    for col, values in change.items():
        tte[col] = values
    with pytest.raises(RpcEvalError, match=match):
        person_period(tte, **kwargs)


def test_person_period_on_synthetic_life_table(small):
    data, _ = small
    tte = time_to_event(data)
    pp = person_period(tte)
    is_drop = (tte["event"] == 1).to_numpy()
    assert len(pp) == int((tte["sessions"] + is_drop).sum())
    per_parent = pp.groupby("parent_id", sort=False)["dropout"].sum()
    np.testing.assert_array_equal(per_parent.reindex(tte["parent_id"]).fillna(0), is_drop)
    assert set(PERSON_PERIOD_OUTCOMES).isdisjoint(pp.columns)
    assert set(COVARIATES) <= set(pp.columns)
    # life-table hazard at session k = dropouts after k-1 sessions / at risk at k
    k = 2
    at_risk = ((tte["sessions"] >= k) | ((tte["sessions"] == k - 1) & is_drop)).sum()
    left = ((tte["sessions"] == k - 1) & is_drop).sum()
    rows = pp[pp["session"] == k]
    assert len(rows) == at_risk and rows["dropout"].sum() == left


# ------------------------------------------------------------------- Wilson interval
def test_wilson_matches_r_prop_test():
    fixture = json.loads((REFERENCE / "funnel.json").read_text())
    cases = pd.DataFrame(fixture["cases"])
    assert {0} <= set(cases["x"]) and (cases["x"] == cases["n"]).any()
    for level, grp in cases.groupby("conf_level"):
        lo, hi = wilson_interval(grp["x"], grp["n"], float(level))
        np.testing.assert_allclose(lo, grp["ci_low"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(hi, grp["ci_high"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(lo, grp["formula_low"], rtol=0, atol=1e-10)
    lo, hi = wilson_interval([0, 7, 0], [7, 7, 0])
    assert lo[0] == 0.0 and hi[1] == 1.0 and np.isnan(lo[2]) and np.isnan(hi[2])


@pytest.mark.parametrize("ci", [0, 1, 1.5, "0.95", True])
def test_wilson_bad_level(ci):
    with pytest.raises(RpcEvalError, match="ci must be"):
        wilson_interval(1, 2, ci)


def test_wilson_bad_counts():
    with pytest.raises(RpcEvalError):
        wilson_interval(3, 2)


# ------------------------------------------------------------------- funnel
def _by_hand(data: EvaluationData) -> dict[str, set]:
    """Parent ids per stage, computed directly from the tables."""
    p, r = data.parents, data.responses
    answered = r[r["value"].notna() & (r["respondent"] == "parent")]
    wave = {w: set(answered.loc[answered["wave"] == w, "parent_id"])
            for w in ("end", "followup_6m", "followup_12m")}
    referred = set(p["parent_id"])
    started = set(p.loc[p["start_date"].notna(), "parent_id"])
    completed = set(p.loc[p["exit_reason"] == "completed", "parent_id"]) & started
    r6 = completed & wave["followup_6m"]
    return {"referred": referred, "started": started, "completed": completed,
            "responded_end": completed & wave["end"], "responded_6m": r6,
            "responded_12m": r6 & wave["followup_12m"]}


def test_funnel_on_synthetic_matches_hand_counts(small):
    data, truth = small
    f = funnel(data)
    assert list(f.columns) == FUNNEL_COLUMNS
    assert f["stage"].tolist() == [s.stage for s in STAGES]
    hand = _by_hand(data)
    fam = data.parents.set_index("parent_id")["family_id"]
    for row in f.itertuples():
        ids = hand[row.stage]
        assert row.n == len(ids), row.stage
        assert row.families == fam.loc[sorted(ids)].nunique(), row.stage
        assert row.rate_of_referred == pytest.approx(len(ids) / 600)
        if pd.notna(row.denominator_stage):
            den = len(hand[row.denominator_stage])
            assert row.denominator == den
            assert row.rate == pytest.approx(len(ids) / den)
            lo, hi = wilson_interval(len(ids), den)
            assert (row.ci_low, row.ci_high) == pytest.approx((lo, hi))
            assert row.ci_low <= row.rate <= row.ci_high
    # and with the generator's own record of what it produced
    obs = truth["counts"]["funnel_observed_parents"]
    got = f.set_index("stage")["n"]
    assert got["referred"] == obs["referred"] and got["started"] == obs["started"]
    assert got["completed"] == obs["completed"]
    assert got["responded_6m"] == obs["followup_6m"]
    assert got["responded_12m"] == obs["followup_12m"]
    fams = truth["counts"]["funnel_observed_families"]
    assert f.set_index("stage")["families"]["completed"] == fams["completed"]
    first = f.iloc[0]
    assert pd.isna(first["denominator_stage"]) and pd.isna(first["denominator"])
    assert np.isnan(first["rate"]) and first["rate_of_referred"] == 1.0


@pytest.mark.parametrize("by", ["intervention", "delivery_mode", "relationship_status",
                                "la_code", "region", ["region", "relationship_status"]])
def test_funnel_by_groups_add_up(small, by):
    data, _ = small
    overall = funnel(data).set_index("stage")["n"]
    f = funnel(data, by=by)
    cols = [by] if isinstance(by, str) else by
    assert list(f.columns) == [*cols, *FUNNEL_COLUMNS]
    summed = f.groupby("stage", sort=False)["n"].sum()
    pd.testing.assert_series_equal(summed, overall, check_names=False, check_index_type=False)
    # every group has every stage, in order
    sizes = f.groupby(cols, sort=False).size()
    assert (sizes == len(STAGES)).all()
    # hand count of one group
    g = f.iloc[0][cols]
    p = data.parents
    if "region" in cols:
        p = p.merge(data.las[["la_code", "region"]], on="la_code")
    mask = np.logical_and.reduce([(p[c] == g[c]).to_numpy() for c in cols])
    started = int(p.loc[mask, "start_date"].notna().sum())
    assert f.iloc[1]["n"] == started and f.iloc[0]["n"] == int(mask.sum())


def test_funnel_groups_follow_codebook_order(small):
    data, _ = small
    f = funnel(data, by="relationship_status")
    assert pd.unique(f["relationship_status"]).tolist() == ["together", "separated"]


def test_funnel_group_with_one_parent_and_zero_denominators():
    data = make_data(
        [parent("A", "completed", "2023-01-01", "2023-02-01", la="LA1", family="F1"),
         parent("B", "completed", "2023-01-01", "2023-02-01", la="LA1", family="F1"),
         parent("C", "not_started", la="LA2", family="F2")],
        responses=[response("A", "followup_6m"), response("A", "followup_12m"),
                   response("B", "end"), response("B", "followup_12m")],
    )
    with pytest.warns(RpcEvalWarning, match="zero denominator"):
        f = funnel(data, by="la_code")
    one = f[f["la_code"] == "LA2"].set_index("stage")
    assert one["n"].tolist() == [1, 0, 0, 0, 0, 0]
    assert one.loc["started", "rate"] == 0.0
    assert one.loc["started", "ci_low"] == 0.0
    assert one.loc["started", "ci_high"] == pytest.approx(wilson_interval(0, 1)[1])
    for stage in ("completed", "responded_end", "responded_6m", "responded_12m"):
        assert np.isnan(one.loc[stage, "rate"]) and one.loc[stage, "denominator"] == 0
    two = f[f["la_code"] == "LA1"].set_index("stage")
    assert two["n"].tolist() == [2, 2, 2, 1, 1, 1]
    assert two["families"].tolist() == [1, 1, 1, 1, 1, 1]
    # B answered at 12 months without a 6-month answer: not in the 12-month stage
    assert two.loc["responded_12m", "denominator"] == 1
    assert two.loc["responded_12m", "rate"] == 1.0 and two.loc["responded_12m", "ci_high"] == 1.0
    assert two.loc["responded_6m", "rate_of_referred"] == 0.5


def test_funnel_counts_only_answered_items_by_the_parent():
    data = make_data(
        [parent("A", "completed", "2023-01-01", "2023-02-01"),
         parent("B", "completed", "2023-01-01", "2023-02-01"),
         parent("C", "dropped_out", "2023-01-01", "2023-01-10")],
        responses=[response("A", "end", value=None),                 # blank: not an answer
                   response("B", "end", respondent="child"),        # not the parent
                   response("C", "end")],                           # a dropout: not a stage
    )
    with pytest.warns(RpcEvalWarning, match="zero denominator"):  # nobody at 6 months
        f = funnel(data).set_index("stage")
    assert f.loc["responded_end", "n"] == 0
    with pytest.warns(RpcEvalWarning, match="zero denominator"):
        f = funnel(data, respondent=None).set_index("stage")
    assert f.loc["responded_end", "n"] == 1


def test_funnel_bad_arguments(small):
    data, _ = small
    with pytest.raises(RpcEvalError, match="cannot group"):
        funnel(data, by="colour")
    with pytest.raises(RpcEvalError, match="twice"):
        funnel(data, by=["region", "region"])
    with pytest.raises(RpcEvalError, match="ci must be"):
        funnel(data, ci=95)
    with pytest.raises(RpcEvalError, match="EvaluationData"):
        funnel(data.parents)


def test_funnel_ci_level(small):
    data, _ = small
    f90 = funnel(data, ci=0.90).set_index("stage")
    f99 = funnel(data, ci=0.99).set_index("stage")
    assert f90.loc["completed", "ci_low"] > f99.loc["completed", "ci_low"]
    lo, hi = wilson_interval(f90.loc["completed", "n"], f90.loc["completed", "denominator"], 0.9)
    assert (f90.loc["completed", "ci_low"], f90.loc["completed", "ci_high"]) == \
        pytest.approx((lo, hi))


# ------------------------------------------------------------------- published layout
def published_like() -> EvaluationData:
    """Parents and families exactly as in the published 2018-22 sample flow: 6,110
    referred (3,814 families), 4,802 started (2,995), 2,694 completed (1,685), 878
    answered at 6 months, 374 of them at 12 months."""
    rows, resp = [], []
    fam = 0

    def add(n_two: int, n_one: int, reason: str) -> list[str]:
        nonlocal fam
        ids = []
        for size in [2] * n_two + [1] * n_one:
            fam += 1
            for _ in range(size):
                pid = f"P{len(rows) + 1:05d}"
                start, exit_ = {"completed": ("2020-01-10", "2020-03-01"),
                                "dropped_out": ("2020-01-10", "2020-02-01"),
                                "not_started": (None, None)}[reason]
                rows.append(parent(pid, reason, start, exit_, family=f"F{fam:05d}",
                                   referral="2020-01-01"))
                ids.append(pid)
        return ids

    completed = add(1009, 676, "completed")       # 2,694 parents, 1,685 families
    add(798, 512, "dropped_out")                  # 2,108 parents, 1,310 families
    add(489, 330, "not_started")                  # 1,308 parents,   819 families
    for i, pid in enumerate(completed[:878]):
        resp.append(response(pid, "followup_6m"))
        if i < 374:
            resp.append(response(pid, "followup_12m"))
    for pid in completed[:2000]:
        resp.append(response(pid, "end"))
    return make_data(rows, responses=resp)


def test_funnel_table_reproduces_the_published_layout():
    table = funnel_table(funnel(published_like()))
    assert table.index.name == "Stage"
    assert table.index.tolist() == [s.label for s in STAGES]
    assert list(table.columns) == ["Parents", "Families", "Of stage", "Conversion (%)",
                                   "CI low (%)", "CI high (%)", "% of referred"]
    assert table["Parents"].tolist() == [6110, 4802, 2694, 2000, 878, 374]
    assert table["Families"].tolist()[:3] == [3814, 2995, 1685]
    conv = table["Conversion (%)"].tolist()
    assert np.isnan(conv[0])
    # the published rates: 78.6% start, 56.1% complete, 32.6% at 6 months, 42.6% at 12
    assert conv[1:] == [78.6, 56.1, 74.2, 32.6, 42.6]
    assert table["Of stage"].tolist()[1:] == [
        "Referred to an intervention", "Started an intervention",
        "Completed an intervention", "Completed an intervention",
        "Answered the survey 6 months after completion"]
    assert table["% of referred"].tolist() == [100.0, 78.6, 44.1, 32.7, 14.4, 6.1]
    lo, hi = wilson_interval(878, 2694)
    assert table.loc["Answered the survey 6 months after completion", "CI low (%)"] == \
        round(100 * lo, 1)
    assert table.loc["Answered the survey 6 months after completion", "CI high (%)"] == \
        round(100 * hi, 1)


def test_funnel_table_with_groups(small):
    data, _ = small
    f = funnel(data, by=["region", "relationship_status"])
    table = funnel_table(f, decimals=2)
    assert table.index.names == ["region", "relationship_status", "Stage"]
    assert len(table) == len(f)
    np.testing.assert_allclose(table["Conversion (%)"].to_numpy(dtype=float),
                               (100 * f["rate"]).round(2).to_numpy(), equal_nan=True)
    with pytest.raises(RpcEvalError, match="funnel_table needs"):
        funnel_table(data.parents)


def test_funnel_missing_group_values_form_their_own_group(small):
    data, _ = small
    data = EvaluationData(las=data.las, parents=data.parents.copy(), responses=data.responses)
    data.parents.loc[:49, "parent_sex"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RpcEvalWarning)  # small groups: zero denominators
        f = funnel(data, by="parent_sex")
    assert f["parent_sex"].isna().sum() == len(STAGES)  # the missing group comes last
    assert f["parent_sex"].iloc[-len(STAGES):].isna().all()
    assert f.loc[f["parent_sex"].isna() & (f["stage"] == "referred"), "n"].item() == 50
    assert f.groupby("stage")["n"].sum()["referred"] == 600


def test_funnel_empty_parents_raises():
    with pytest.raises(RpcEvalError, match="parents table is empty"):
        funnel(make_data([]))
