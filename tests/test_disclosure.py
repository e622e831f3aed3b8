"""Disclosure control of published tables (rpc_eval.report.disclosure)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpc_eval.errors import RpcEvalError
from rpc_eval.report.disclosure import (
    MARKER,
    DisclosureRules,
    TableSpec,
    TotalRows,
    disclosure_log,
    disclosure_summary,
    protect,
    recoverable_cells,
)

SETTINGS = settings(max_examples=60, deadline=None)


# ----------------------------------------------------------------------------------------
# helpers: random 2-D tables with margins, and an independent recoverability check
# ----------------------------------------------------------------------------------------


def table_2d(body: np.ndarray, stages: int = 1) -> tuple[pd.DataFrame, TableSpec]:
    """Member rows ``body`` (one block per stage) plus an 'All' row per stage and a
    'total' column: a 2-D table with both margins."""
    n_parts = body.shape[1]
    parts = [f"p{j}" for j in range(n_parts)]
    blocks = np.array_split(body, stages)
    frames = []
    for s, blk in enumerate(blocks):
        f = pd.DataFrame(blk, columns=parts)
        f.insert(0, "group", [f"g{i}" for i in range(len(blk))])
        f.insert(0, "stage", f"s{s}")
        all_row = pd.DataFrame([blk.sum(axis=0)], columns=parts)
        all_row.insert(0, "group", "All")
        all_row.insert(0, "stage", f"s{s}")
        frames.append(pd.concat([f, all_row], ignore_index=True))
    frame = pd.concat(frames, ignore_index=True)
    frame["total"] = frame[parts].sum(axis=1)
    spec = TableSpec(counts=(*parts, "total"), row_total="total", parts=tuple(parts),
                     total_rows=TotalRows("group", within=("stage",)))
    return frame, spec


def constraint_matrix(frame: pd.DataFrame, parts: list[str]) -> tuple[np.ndarray, list]:
    """Equations of the 2-D table above, written out directly: each row's total minus
    its parts, and each stage's 'All' row minus its member rows, per column."""
    cols = [*parts, "total"]
    cells = [(i, c) for i in range(len(frame)) for c in cols]
    index = {cell: n for n, cell in enumerate(cells)}
    eqs = []
    for i in range(len(frame)):
        row = np.zeros(len(cells))
        row[index[(i, "total")]] = 1
        for p in parts:
            row[index[(i, p)]] = -1
        eqs.append(row)
    for _, grp in frame.groupby("stage", sort=False):
        pos = [frame.index.get_loc(i) for i in grp.index]
        tot = [p for p in pos if frame["group"].iloc[p] == "All"]
        mem = [p for p in pos if frame["group"].iloc[p] != "All"]
        for c in cols:
            row = np.zeros(len(cells))
            row[index[(tot[0], c)]] = 1
            for m in mem:
                row[index[(m, c)]] = -1
            eqs.append(row)
    return np.array(eqs), cells


def determined_by_rank(a: np.ndarray, cells: list, hidden: set) -> set:
    """Hidden cells fixed by the equations: e_i lies in the row space of the system
    restricted to the hidden cells (rank test with numpy)."""
    cols = [n for n, cell in enumerate(cells) if cell in hidden]
    sub = a[:, cols]
    base = np.linalg.matrix_rank(sub) if sub.size else 0
    out = set()
    for k, n in enumerate(cols):
        unit = np.zeros((1, len(cols)))
        unit[0, k] = 1
        if np.linalg.matrix_rank(np.vstack([sub, unit])) == base:
            out.add(cells[n])
    return out


def suppressed_cells(out) -> set:
    pub = out.published
    return {(i, c) for c in pub.columns for i in range(len(pub))
            if isinstance(pub[c].iloc[i], str) and pub[c].iloc[i] == MARKER}


bodies = st.tuples(st.integers(1, 6), st.integers(1, 5)).flatmap(
    lambda shape: st.lists(
        st.one_of(st.integers(0, 12), st.integers(10, 80)),
        min_size=shape[0] * shape[1], max_size=shape[0] * shape[1],
    ).map(lambda v: np.array(v).reshape(shape)))


# ----------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------


@SETTINGS
@given(body=bodies, threshold=st.sampled_from([5, 10]),
       rounding=st.sampled_from([None, 5, 10]), stages=st.integers(1, 2))
def test_no_published_count_is_small(body, threshold, rounding, stages):
    stages = min(stages, len(body))
    frame, spec = table_2d(body, stages)
    out = protect(frame, spec, DisclosureRules(threshold, rounding), name="t")
    assert out.published.shape == frame.shape
    assert list(out.published.columns) == list(frame.columns)
    for c in spec.counts:
        for i, v in enumerate(out.published[c]):
            if v == MARKER:
                assert frame[c].iloc[i] != 0  # zeros are never suppressed
                continue
            assert v == 0 or v >= threshold
            assert (v == 0) == (frame[c].iloc[i] == 0)
            if rounding:
                assert v % rounding == 0
                assert abs(v - frame[c].iloc[i]) <= max(rounding, threshold)
            else:
                assert v == frame[c].iloc[i]


@SETTINGS
@given(body=bodies, threshold=st.sampled_from([5, 10]), stages=st.integers(1, 2))
def test_no_suppressed_cell_recoverable_from_margins(body, threshold, stages):
    stages = min(stages, len(body))
    frame, spec = table_2d(body, stages)
    out = protect(frame, spec, DisclosureRules(threshold), name="t")
    hidden = suppressed_cells(out)
    a, cells = constraint_matrix(frame, list(spec.parts))
    assert determined_by_rank(a, cells, hidden) == set()
    # every small count is hidden, and the status frame agrees with the markers
    small = {(i, c) for c in spec.counts for i in range(len(frame))
             if 1 <= frame[c].iloc[i] < threshold}
    assert small <= hidden
    marked = {(i, c) for c in frame.columns for i in range(len(frame))
              if out.status[c].iloc[i] in ("primary", "secondary")}
    assert marked == hidden
    assert {(i, c) for (i, c) in hidden if out.status[c].iloc[i] == "primary"} == small


@SETTINGS
@given(body=bodies, data=st.data())
def test_recoverable_cells_agrees_with_rank_test(body, data):
    frame, spec = table_2d(body)
    cols = [*spec.parts, "total"]
    flags = data.draw(st.lists(st.booleans(), min_size=len(frame) * len(cols),
                               max_size=len(frame) * len(cols)))
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    mask[cols] = np.array(flags).reshape(len(frame), len(cols))
    hidden = {(i, c) for c in cols for i in range(len(frame)) if mask[c].iloc[i]}
    a, cells = constraint_matrix(frame, list(spec.parts))
    assert set(recoverable_cells(frame, mask, spec)) == determined_by_rank(a, cells, hidden)


# ----------------------------------------------------------------------------------------
# secondary suppression: worked cases
# ----------------------------------------------------------------------------------------


def bridge_table() -> tuple[pd.DataFrame, TableSpec, list[tuple[int, str]]]:
    """Small counts forming two 2x2 rectangles joined by one cell ((1, p2)): every row
    and column with a small count has at least two of them, yet the joining cell equals
    a difference of published sums."""
    body = np.full((5, 5), 40)
    small = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)]
    for k, (i, j) in enumerate(small):
        body[i, j] = 1 + k % 9
    frame, spec = table_2d(body)
    return frame, spec, [(i, f"p{j}") for i, j in small]


def test_bridge_is_recoverable_and_protect_handles_it():
    frame, spec, small = bridge_table()
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    for i, c in small:
        mask.loc[i, c] = True
    # two suppressed cells in every line, and still the bridge is determined
    assert recoverable_cells(frame, mask, spec) == [(1, "p2")]
    a, cells = constraint_matrix(frame, list(spec.parts))
    assert determined_by_rank(a, cells, set(small)) == {(1, "p2")}

    out = protect(frame, spec, DisclosureRules(10), name="bridge")
    hidden = suppressed_cells(out)
    assert set(small) <= hidden
    assert (out.status == "secondary").to_numpy().sum() >= 1
    assert determined_by_rank(a, cells, hidden) == set()
    assert recoverable_cells(frame, out.status != "", spec) == []


def test_single_small_cell_gets_smallest_partner_first_by_position():
    frame = pd.DataFrame({"a": [3, 50], "b": [20, 60], "c": [20, 70]})
    frame["t"] = frame[["a", "b", "c"]].sum(axis=1)
    spec = TableSpec(counts=("a", "b", "c", "t"), row_total="t", parts=("a", "b", "c"))
    out = protect(frame, spec, DisclosureRules(10), name="t")
    # b and c tie at 20: the first by position is taken
    assert out.status.loc[0].tolist() == ["primary", "secondary", "", ""]
    assert out.status.loc[1].tolist() == ["", "", "", ""]
    again = protect(frame, spec, DisclosureRules(10), name="t")
    pd.testing.assert_frame_equal(out.published, again.published)


def test_total_rows_only_each_count_column_separately():
    frame = pd.DataFrame({"la": ["A", "B", "C", "All"], "n": [3, 60, 50, 113],
                          "m": [40, 30, 20, 90]})
    spec = TableSpec(counts=("n", "m"), total_rows=TotalRows("la"))
    out = protect(frame, spec, DisclosureRules(10), name="t")
    assert out.published["n"].tolist() == [MARKER, 60, MARKER, 113]
    assert out.published["m"].tolist() == [40, 30, 20, 90]  # its own relation: untouched
    assert out.published["m"].dtype == frame["m"].dtype


def test_zero_is_published_and_never_chosen():
    frame = pd.DataFrame({"la": ["A", "B", "C", "All"], "n": [4, 0, 30, 34]})
    spec = TableSpec(counts=("n",), total_rows=TotalRows("la"))
    out = protect(frame, spec, DisclosureRules(10), name="t")
    assert out.published["n"].tolist() == [MARKER, 0, MARKER, 34]


def test_chain_when_no_single_cell_closes_a_cycle():
    # row 0: 3 small, the other part is 0, so the total is small too; the zero cannot be
    # used, so protection needs a chain through another row
    frame = pd.DataFrame({"group": ["a", "b", "All"], "x": [3, 20, 23], "y": [0, 30, 30]})
    frame["total"] = frame["x"] + frame["y"]
    spec = TableSpec(counts=("x", "y", "total"), row_total="total", parts=("x", "y"),
                     total_rows=TotalRows("group"))
    out = protect(frame, spec, DisclosureRules(10), name="t")
    hidden = suppressed_cells(out)
    assert (0, "y") not in hidden
    a, cells = constraint_matrix(frame.assign(stage="s"), ["x", "y"])
    assert determined_by_rank(a, cells, hidden) == set()
    assert out.n_suppressed == len(hidden) == 4


def test_missing_counts_stay_missing_and_count_as_unknown():
    frame = pd.DataFrame({"a": [3.0, 40.0], "b": [np.nan, 50.0], "c": [25.0, 60.0]})
    frame["t"] = [45.0, 150.0]
    spec = TableSpec(counts=("a", "b", "c", "t"), row_total="t", parts=("a", "b", "c"))
    out = protect(frame, spec, DisclosureRules(10), name="t")
    assert out.published["a"].iloc[0] == MARKER
    assert pd.isna(out.published["b"].iloc[0])
    assert out.published["c"].iloc[0] == 25  # the missing cell already hides a
    assert out.published["b"].dtype == frame["b"].dtype


# ----------------------------------------------------------------------------------------
# derived, organisations, rounding, rules, log
# ----------------------------------------------------------------------------------------


def test_derived_cells_follow_suppressed_counts():
    frame = pd.DataFrame({"la": ["A", "B", "C"], "n": [4, 120, 30], "pct": [2.6, 78.0, 19.4],
                          "mean_score": [1.5, 2.0, np.nan], "note": ["x", "y", "z"]})
    spec = TableSpec(counts=("n",), derived={"pct": ["n"], "mean_score": ("n",)})
    out = protect(frame, spec, DisclosureRules(10), name="t")
    assert out.published["pct"].tolist() == [MARKER, 78.0, 19.4]
    assert out.published["mean_score"].iloc[0] == MARKER
    assert pd.isna(out.published["mean_score"].iloc[2])
    pd.testing.assert_series_equal(out.published["note"], frame["note"])
    pd.testing.assert_series_equal(out.published["la"], frame["la"])
    assert out.status["pct"].tolist() == ["derived", "", ""]
    reasons = out.log.set_index("column").loc["pct", "reason"]
    assert reasons == "rests on suppressed count n (derived)"


def test_organisation_tables_are_untouched():
    frame = pd.DataFrame({"workshop": ["W1", "W2", "All"], "las": [3, 7, 10],
                          "pct": [30.0, 70.0, 100.0]})
    spec = TableSpec(counts=("las",), derived={"pct": ["las"]}, total_rows=TotalRows("workshop"),
                     units="organisations")
    out = protect(frame, spec, DisclosureRules(10, rounding=5), name="orgs")
    pd.testing.assert_frame_equal(out.published, frame)
    assert out.n_suppressed == 0
    assert (out.status == "").all().all()
    assert out.log["status"].tolist() == ["exempt"]
    assert out.log["units"].tolist() == ["organisations"]
    assert "organisations" in out.log["reason"].iloc[0]


def test_rounding_half_up_and_never_small():
    frame = pd.DataFrame({"n": [0, 10, 12, 13, 15, 27, 3]})
    out = protect(frame, TableSpec(counts=("n",)), DisclosureRules(10, rounding=5), name="r")
    assert out.published["n"].tolist() == [0, 10, 10, 15, 15, 25, MARKER]
    assert out.status["n"].tolist() == ["", "rounded", "rounded", "rounded", "rounded",
                                        "rounded", "primary"]
    # a base that would take a count below the threshold: the count goes up instead
    frame = pd.DataFrame({"n": [12, 14, 16, 0]})
    out = protect(frame, TableSpec(counts=("n",)), DisclosureRules(12, rounding=5), name="r")
    assert out.published["n"].tolist() == [15, 15, 15, 0]
    out = protect(frame, TableSpec(counts=("n",)), DisclosureRules(5, rounding=50), name="r")
    assert out.published["n"].tolist() == [50, 50, 50, 0]


def test_rounding_keeps_dtypes_and_derived_values():
    frame = pd.DataFrame({"a": pd.array([12, pd.NA, 40], dtype="Int64"),
                          "b": [22.0, np.nan, 41.0], "c": np.array([11, 23, 0], dtype="int64"),
                          "pct": [10.0, 20.0, 30.0]})
    spec = TableSpec(counts=("a", "b", "c"), derived={"pct": ["a"]})
    out = protect(frame, spec, DisclosureRules(10, rounding=10), name="r")
    assert out.published["a"].dtype == "Int64"
    assert out.published["a"].tolist()[0] == 10 and pd.isna(out.published["a"].iloc[1])
    assert out.published["b"].dtype == np.float64
    assert out.published["b"].tolist()[::2] == [20.0, 40.0]
    assert out.published["c"].dtype == np.int64
    assert out.published["c"].tolist() == [10, 20, 0]
    assert out.published["pct"].tolist() == [10.0, 20.0, 30.0]  # not recomputed


@pytest.mark.parametrize("kwargs", [{"threshold": 4}, {"threshold": 3}, {"threshold": 10.0},
                                    {"threshold": 7.5}, {"threshold": "10"},
                                    {"threshold": True}, {"rounding": 1},
                                    {"rounding": 2.5}, {"rounding": 0}])
def test_bad_rules_rejected(kwargs):
    with pytest.raises(RpcEvalError):
        DisclosureRules(**kwargs)
    with pytest.raises(RpcEvalError):
        DisclosureRules.from_mapping(kwargs)


def test_rules_from_mapping_and_threshold_five():
    rules = DisclosureRules.from_mapping({"threshold": 5, "rounding": None})
    assert rules == DisclosureRules(5)
    assert DisclosureRules.from_mapping({}) == DisclosureRules(10, None)
    out = protect(pd.DataFrame({"n": [4, 5, 9]}), TableSpec(counts=("n",)), rules, name="f")
    assert out.published["n"].tolist() == [MARKER, 5, 9]
    assert out.log["reason"].tolist() == ["count 1-4 (primary)"]


def test_bad_tables_and_specs_rejected():
    with pytest.raises(RpcEvalError, match="whole numbers"):
        protect(pd.DataFrame({"n": [2.5, 20]}), TableSpec(counts=("n",)), name="x")
    with pytest.raises(RpcEvalError, match="whole numbers"):
        protect(pd.DataFrame({"n": [-1, 20]}), TableSpec(counts=("n",)), name="x")
    with pytest.raises(RpcEvalError, match="no column"):
        protect(pd.DataFrame({"n": [2, 20]}), TableSpec(counts=("m",)), name="x")
    with pytest.raises(RpcEvalError, match="one total row"):
        protect(pd.DataFrame({"g": ["All", "a", "All"], "n": [20, 20, 20]}),
                TableSpec(counts=("n",), total_rows=TotalRows("g")), name="x")
    with pytest.raises(RpcEvalError):
        TableSpec(counts=("n",), derived={"pct": ["m"]})
    with pytest.raises(RpcEvalError):
        TableSpec(counts=("n",), units="households")
    with pytest.raises(RpcEvalError):
        TableSpec(row_total="t")


def test_log_reconciles_with_published_table():
    frame, spec, _ = bridge_table()
    frame["pct_p0"] = 100 * frame["p0"] / frame["total"]
    spec = TableSpec(counts=spec.counts, row_total=spec.row_total, parts=spec.parts,
                     total_rows=spec.total_rows, derived={"pct_p0": ["p0"]})
    out = protect(frame, spec, DisclosureRules(10), name="bridge")
    hidden = suppressed_cells(out)
    assert out.n_suppressed == len(out.log) == len(hidden)
    assert set(zip(out.log["row"].tolist(), out.log["column"].tolist(), strict=True)) == hidden
    assert ((out.status != "").to_numpy().sum()) == len(hidden)
    by_status = out.log["status"].value_counts().to_dict()
    assert by_status["primary"] == 9 and by_status["derived"] >= 2
    assert set(out.log["reason"]) == {
        "count 1-9 (primary)",
        "protects a suppressed cell from differencing (secondary)",
        "rests on suppressed count p0 (derived)"}
    orgs = protect(frame[["p0"]], TableSpec(counts=("p0",), units="organisations"), name="o")
    combined = disclosure_log([out, orgs])
    assert list(combined.columns) == ["table", "row", "column", "status", "reason", "units"]
    assert len(combined) == len(out.log) + 1
    summary = disclosure_summary([out, orgs]).set_index("table")
    assert summary.loc["bridge", "suppressed"] == len(hidden)
    assert summary.loc["bridge", "primary"] == 9
    assert summary.loc["o", "suppressed"] == 0


def test_large_table():
    """A 1,000-row table with many small cells is protected (its time is measured in
    benchmarks/bench_disclosure_audit.py, not here)."""
    rng = np.random.default_rng(2024)
    body = rng.poisson(15, size=(996, 9)) * (rng.random((996, 9)) > 0.1)
    frame, spec = table_2d(body, stages=4)
    out = protect(frame, spec, DisclosureRules(10), name="big")
    assert frame.shape[0] == 1000
    assert (out.status == "primary").to_numpy().sum() > 300
    published = pd.to_numeric(out.published.stack(), errors="coerce").dropna()
    assert not ((published >= 1) & (published <= 9)).any()


def test_also_suppress_protects_a_difference_between_nested_counts():
    """Started is a subset of referred: 3 people referred but not started must not be
    worked out, so 'started' goes too, and the total row then needs a second cell."""
    frame = pd.DataFrame({"group": ["a", "b", "c", "All"],
                          "referred": [50, 40, 60, 150], "started": [47, 30, 45, 122]})
    flags = {"started": [True, False, False, False]}
    out = protect(frame, TableSpec(counts=("referred", "started"),
                                   total_rows=TotalRows("group", "All")),
                  DisclosureRules(threshold=10), name="nested", also_suppress=flags)
    started = out.published["started"].tolist()
    assert started[0] == "[c]" and started.count("[c]") == 2  # secondary in column
    assert started[3] == 122  # the total stays
    reasons = out.log.set_index("row").loc[0, "reason"]
    assert "by difference" in str(reasons)
    with pytest.raises(RpcEvalError, match="not a count column"):
        protect(frame, TableSpec(counts=("referred",)), name="x",
                also_suppress={"started": [True] * 4})
