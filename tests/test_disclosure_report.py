"""Disclosure control of a whole report (:func:`protect_report`): one quantity has one
status in every table, and no suppressed count can be narrowed down from everything
published. Random small reports (hypothesis) are attacked by a linear-programming
attacker written here, independently of the library's own audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from rpc_eval.errors import RpcEvalError
from rpc_eval.report.disclosure import (
    MARKER,
    DisclosureRules,
    TableInput,
    TableSpec,
    TotalRows,
    protect,
    protect_report,
)

T = 10
STAGES = ("referred", "started", "completed")


def _report(groups: list[dict]) -> list[TableInput]:
    """Three tables about the same parents: a funnel by group with an All row, the
    parents by group with started = completed + dropped out + ongoing, and a group x
    sex table with totals both ways."""
    labels = [f"g{i}" for i in range(len(groups))]
    funnel = pd.DataFrame({"group": labels + ["All"]})
    for s in STAGES:
        col = [g[s] for g in groups]
        funnel[f"n_{s}"] = col + [sum(col)]
    by_group = pd.DataFrame({"group": labels,
                             **{c: [g[c] for g in groups] for c in
                                ("referred", "started", "completed", "dropped_out",
                                 "ongoing")}})
    sex = pd.DataFrame({"group": labels + ["All"]})
    for c in ("female", "male"):
        col = [g[c] for g in groups]
        sex[c] = col + [sum(col)]
    sex["total"] = sex["female"] + sex["male"]
    keys = {f"n_{s}": f"parents {s}" for s in STAGES}
    return [
        TableInput("funnel", funnel, TableSpec(
            counts=tuple(keys), total_rows=TotalRows("group"), keys=keys,
            key_columns=("group",))),
        TableInput("by_group", by_group, TableSpec(
            counts=("referred",), row_total="started",
            parts=("completed", "dropped_out", "ongoing"),
            keys={c: f"parents {c}" for c in ("referred", "started", "completed")},
            key_columns=("group",))),
        TableInput("sex", sex, TableSpec(
            counts=("female", "male"), row_total="total", parts=("female", "male"),
            total_rows=TotalRows("group"))),
    ]


def attack(published: dict[str, pd.DataFrame]) -> list[tuple]:
    """Every suppressed count whose interval, given all published numbers and what the
    columns mean, stays below the threshold or holds one whole number."""
    index: dict[tuple, int] = {}
    known: dict[int, float] = {}
    marked: set[int] = set()
    eqs: list[dict[int, float]] = []

    def var(key, value) -> int:
        i = index.setdefault(key, len(index))
        if value == MARKER:
            marked.add(i)
        elif value is not None:
            known[i] = float(value)
        return i

    f, b, s = published["funnel"], published["by_group"], published["sex"]
    members = [g for g in f["group"] if g != "All"]
    for st_ in STAGES:
        tot = var(("p", "All", st_), f.loc[f["group"] == "All", f"n_{st_}"].iloc[0])
        ms = [var(("p", g, st_), f.loc[f["group"] == g, f"n_{st_}"].iloc[0])
              for g in members]
        eqs.append({tot: 1, **{m: -1 for m in ms}})
    for _, r in b.iterrows():
        ids = {c: var(("p", r["group"], c), r[c]) for c in
               ("referred", "started", "completed", "dropped_out", "ongoing")}
        eqs.append({ids["started"]: 1, ids["completed"]: -1, ids["dropped_out"]: -1,
                    ids["ongoing"]: -1})
    for c in ("female", "male", "total"):
        tot = var(("s", "All", c), s.loc[s["group"] == "All", c].iloc[0])
        ms = [var(("s", g, c), s.loc[s["group"] == g, c].iloc[0]) for g in members]
        eqs.append({tot: 1, **{m: -1 for m in ms}})
    for _, r in s.iterrows():
        g = r["group"]
        eqs.append({var(("s", g, "total"), None): 1, var(("s", g, "female"), None): -1,
                    var(("s", g, "male"), None): -1})
    unknown = [i for i in index.values() if i not in known]
    name = {v: k for k, v in index.items()}
    # suppressed in one table, published in another: recovered outright
    out = [(name[i], known[i], known[i]) for i in sorted(marked) if i in known]
    marked = {i for i in marked if i not in known}
    if not marked:
        return out
    col = {i: j for j, i in enumerate(unknown)}
    a = np.zeros((len(eqs), len(unknown)))
    rhs = np.zeros(len(eqs))
    for r, eq in enumerate(eqs):
        for i, c in eq.items():
            if i in col:
                a[r, col[i]] += c
            else:
                rhs[r] -= c * known[i]
    bounds = [(1, None) if i in marked else (0, None) for i in unknown]
    for i in sorted(marked):
        c = np.zeros(len(unknown))
        c[col[i]] = 1
        lo = linprog(c, A_eq=a, b_eq=rhs, bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=a, b_eq=rhs, bounds=bounds, method="highs")
        assert lo.status == 0, "the published numbers must be consistent"
        high = -hi.fun if hi.status == 0 else np.inf
        if high < T - 1e-6 or high - lo.fun < 1 - 1e-6:
            out.append((name[i], lo.fun, high))
    return out


group_counts = st.fixed_dictionaries({
    "not_started": st.integers(0, 12), "completed": st.integers(0, 30),
    "dropped_out": st.integers(0, 15), "ongoing": st.integers(0, 6),
    "female_share": st.floats(0, 1)})


def _groups(draw: list[dict]) -> list[dict]:
    out = []
    for g in draw:
        started = g["completed"] + g["dropped_out"] + g["ongoing"]
        referred = started + g["not_started"]
        female = int(round(g["female_share"] * referred))
        out.append({"referred": referred, "started": started, "completed": g["completed"],
                    "dropped_out": g["dropped_out"], "ongoing": g["ongoing"],
                    "female": female, "male": referred - female})
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(group_counts, min_size=2, max_size=5))
def test_random_reports_leave_no_small_count_inferable(draw):
    inputs = _report(_groups(draw))
    tables, audit = protect_report(inputs, DisclosureRules(threshold=T))
    published = {n: t.published for n, t in tables.items()}
    # no published count of 1-9
    for name, frame in published.items():
        for c in frame.columns[1:]:
            v = pd.to_numeric(frame[c], errors="coerce").dropna()
            assert not ((v >= 1) & (v < T)).any(), (name, c)
    # one quantity, one status
    f, b = published["funnel"], published["by_group"]
    for s in STAGES:
        for g in b["group"]:
            assert (f.loc[f["group"] == g, f"n_{s}"].iloc[0] == MARKER) == \
                (b.loc[b["group"] == g, s].iloc[0] == MARKER), (g, s)
    assert attack(published) == []
    # the library's own audit agrees: every interval it reports is safe
    iv = audit.intervals
    assert ((iv["high"] >= T) & (iv["high"] - iv["low"] >= 1 - 1e-6)).all()


def test_each_table_alone_is_not_enough():
    """The engineered case: protected one table at a time, the same count is published
    in one table and suppressed in another, and the attacker recovers it."""
    groups = _groups([
        {"not_started": 1, "completed": 1, "dropped_out": 2, "ongoing": 0,
         "female_share": 0.5},
        {"not_started": 12, "completed": 30, "dropped_out": 15, "ongoing": 0,
         "female_share": 0.5},
        {"not_started": 10, "completed": 25, "dropped_out": 11, "ongoing": 0,
         "female_share": 0.4}])
    inputs = _report(groups)
    alone = {i.name: protect(i.frame, i.spec, DisclosureRules(threshold=T), name=i.name)
             .published for i in inputs}
    assert attack(alone) != []
    tables, audit = protect_report(inputs, DisclosureRules(threshold=T))
    assert attack({n: t.published for n, t in tables.items()}) == []
    assert audit.added > 0 and audit.rounds >= 2


def test_bounds_close_a_leak_that_uniqueness_misses():
    """All = 12 with two suppressed members: neither is unique, but both are known to be
    below 10 (they are at least 1 and add up to 12 - published). The audit suppresses
    more."""
    frame = pd.DataFrame({"g": ["a", "b", "c", "All"], "n": [3, 7, 2, 12]})
    frame.loc[2, "n"] = 20
    frame.loc[3, "n"] = 30
    spec = TableSpec(counts=("n",), total_rows=TotalRows("g"))
    alone = protect(frame, spec, DisclosureRules(threshold=T), name="t")
    assert alone.published["n"].tolist() == [MARKER, MARKER, 20, 30]
    tables, audit = protect_report([TableInput("t", frame, spec)],
                                   DisclosureRules(threshold=T))
    assert tables["t"].published["n"].tolist() == [MARKER, MARKER, MARKER, 30]
    assert (audit.intervals["high"] >= T).all()


def test_the_same_people_counted_a_little_differently_are_both_suppressed():
    """Two tables declare the same people (an All row) but count 3 apart, as when one
    leaves out parents with a missing subgroup: the means over each would give those
    3 parents' mean, so both counts (and what rests on them) are suppressed. Counts 20
    apart are two quantities and stay published."""
    spec = TableSpec(counts=("n",), derived={"mean": ("n",)}, keys={"n": "paired"},
                     key_columns=("g",))
    a = pd.DataFrame({"g": ["All", "Other"], "n": [40, 60], "mean": [1.5, 2.0]})
    b = pd.DataFrame({"g": ["All", "Other"], "n": [37, 80], "mean": [1.4, 2.1]})
    tables, _ = protect_report([TableInput("a", a, spec), TableInput("b", b, spec)],
                               DisclosureRules(threshold=T))
    assert tables["a"].published["n"].tolist() == [MARKER, 60]
    assert tables["b"].published["n"].tolist() == [MARKER, 80]
    assert tables["a"].published["mean"].tolist() == [MARKER, 2.0]
    assert tables["b"].published["mean"].tolist() == [MARKER, 2.1]


def test_a_plan_cannot_exempt_a_table_of_people(tmp_path):
    """Only tables whose units are organisations by construction may be listed under
    ``organisational_tables``; listing a table of people is an error before anything is
    built, in plain words."""
    import copy

    from rpc_eval.plan import load_plan
    from rpc_eval.report.publish import Report

    plan = load_plan("analysis_plans/final_report_v1.yaml")
    ok = Report(plan, tmp_path / "ok")
    frame = pd.DataFrame({"la": ["A", "B"], "n_las": [3, 40]})
    ok.table("data_planning_returns", frame, "Returns",
             spec=TableSpec(counts=("n_las",), units="organisations"))
    assert ok.values("data_planning_returns")["n_las"].tolist() == [3, 40]
    bad = copy.deepcopy(plan)
    bad.spec["disclosure"]["organisational_tables"] = ["engagement_funnel"]
    with pytest.raises(RpcEvalError, match="engagement_funnel cannot be published without"):
        Report(bad, tmp_path / "bad")
    # and a table of people is protected even if it takes a listed name
    with pytest.raises(RpcEvalError, match="counts people"):
        ok.table("monitoring_planning_stages", frame, "Stages",
                 spec=TableSpec(counts=("n_las",)))


def test_survival_steps_rest_on_at_least_threshold_events():
    """Kaplan-Meier publication: a step only after >= 10 events since the last one, a
    group with fewer than 10 starters left out, numbers at risk rounded to 10, no counts
    of events or censorings and no standard errors."""
    from rpc_eval.report.engagement_section import coarse_steps

    km = pd.DataFrame({
        "group": ["a"] * 5 + ["b"] * 2,
        "time": [1, 2, 3, 4, 5, 1, 2],
        "n_at_risk": [60, 55, 47, 40, 22, 8, 5],
        "n_events": [3, 6, 2, 9, 12, 2, 3],
        "n_censored": [2, 2, 5, 9, 10, 1, 2],
        "survival": [0.95, 0.8464, 0.81, 0.6278, 0.2854, 0.75, 0.3],
        "std_error": [0.03, 0.05, 0.05, 0.06, 0.06, 0.15, 0.16],
        "ci_low": [0.88, 0.74, 0.7, 0.5, 0.17, 0.3, 0.05],
        "ci_high": [0.98, 0.91, 0.88, 0.73, 0.41, 0.9, 0.6]})
    out = coarse_steps(km, ["group"], "n_events", 10, ["survival", "ci_low", "ci_high"])
    assert list(out.columns) == ["group", "time", "n_risk_rounded", "survival", "ci_low",
                                 "ci_high"]
    # a: events 3+6+2 = 11 by time 3 (a step), then 9+12 = 21 by time 5; b has 8 starters
    assert out["group"].tolist() == ["a", "a"]
    assert out["time"].tolist() == [3, 5]
    assert out["n_risk_rounded"].tolist() == [60, 40]
    assert out["survival"].tolist() == [0.81, 0.29]


def test_model_terms_rest_on_their_category():
    from rpc_eval.report.engagement_section import round_count, term_rests_on

    terms = pd.Series(["Intercept", "C(intervention)[T.small]", "intervention[T.big]",
                       "score_baseline"])
    got = term_rests_on(terms, {"small": 3, "big": 120})
    assert np.isnan(got[0]) and got[1:3] == [3, 120] and np.isnan(got[3])
    assert round_count([0, 1, 4, 14, 15, 26], 10).tolist() == [0, 10, 10, 10, 20, 30]


def test_a_table_shown_early_shows_the_report_wide_decision(tmp_path):
    """A table already shown is drawn again from the final decision: a count published in
    the first table and suppressed (as the same quantity) by a later one is [c] in both,
    on the page, in the CSV and in figures drawn at the end."""
    import copy

    import matplotlib.pyplot as plt

    from rpc_eval.plan import load_plan
    from rpc_eval.report.publish import Report

    plan = copy.deepcopy(load_plan("analysis_plans/final_report_v1.yaml"))
    plan.spec["disclosure"]["organisational_tables"] = []
    rpt = Report(plan, tmp_path / "r")
    keys = {"keys": {"n": "parents started"}, "key_columns": ("g",)}
    first = rpt.table("first", pd.DataFrame({"g": ["x", "y"], "n": [40, 50]}), "First",
                      spec=TableSpec(counts=("n",), **keys))
    assert "[c]" not in first.html
    drawn = []

    def draw():
        drawn.append(rpt.values("first")["n"].tolist())
        return plt.figure()

    rpt.figure(draw, "fig", "A test figure")
    assert drawn == []  # drawn when the report finishes
    rpt.table("second", pd.DataFrame({"g": ["x", "y", "z", "All"], "n": [40, 50, 4, 94]}),
              "Second",
              spec=TableSpec(counts=("n",), total_rows=TotalRows("g"), **keys))
    rpt.finish()
    assert first.html.count("<td>[c]</td>") == 1 and ">50</td>" in first.html
    assert len(drawn) == 1 and np.isnan(drawn[0][0]) and drawn[0][1] == 50
    csv = pd.read_csv(tmp_path / "r" / "tables" / "first.csv", dtype=str)
    assert csv["n"].tolist() == ["[c]", "50"]
    log = pd.read_csv(tmp_path / "r_NOT_FOR_PUBLICATION" / "disclosure_log.csv")
    assert "whole report" in log.loc[log["table"] == "first", "reason"].iloc[0]
