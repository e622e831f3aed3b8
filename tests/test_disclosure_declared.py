"""Every numeric column of a table of people is declared (count, derived or safe).

A rate and its denominator published beside a suppressed count give the count back
(rate 0.5 x 16 = 8). :func:`protect` therefore asks for every numeric column to be
declared in the TableSpec, warns about one that is not, and suppresses it with the
counts of its row. The attacker below reads only the published table and tries to get
a suppressed count back from what is left in its row and from the table's totals.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from rpc_eval.errors import DisclosureWarning, RpcEvalError
from rpc_eval.report.disclosure import (
    MARKER,
    DisclosureRules,
    TableSpec,
    TotalRows,
    protect,
    undeclared_columns,
)

ROOT = Path(__file__).resolve().parents[1]
RULES = DisclosureRules(threshold=10)


def _table() -> pd.DataFrame:
    """Three groups and their total; group b has 8 successes out of 16 (a small count)."""
    return pd.DataFrame({
        "group": ["a", "b", "c", "All"],
        "n": [40, 8, 27, 75],
        "denominator": [80, 16, 54, 150],
        "rate": [0.5, 0.5, 0.5, 0.5],
        "percent": [50.0, 50.0, 50.0, 50.0],
    })


def _numbers(row: pd.Series) -> dict[str, float]:
    """The published numbers of a row (markers and text left out), as an attacker reads
    them from the CSV."""
    out = {}
    for col, value in row.items():
        if isinstance(value, str):
            try:
                out[col] = float(value)
            except ValueError:
                continue
        elif value is not None and not pd.isna(value):
            out[col] = float(value)
    return out


def _one_step_guesses(row: pd.Series) -> set[float]:
    """Every whole number an attacker gets from the row's published numbers by one
    product, quotient, sum or difference (rate x denominator, percent / 100 x
    denominator, ...), and the numbers themselves."""
    nums = list(_numbers(row).values())
    guesses = set(nums)
    for a, b in itertools.permutations(nums, 2):
        for g in (a * b, a * b / 100, a - b, a + b, a / b if b else np.nan):
            if np.isfinite(g) and abs(g - round(g)) < 1e-9:
                guesses.add(float(round(g)))
    return guesses


def _range_of(published: pd.DataFrame, secret_row: int, rows: list[int],
              total_row: int) -> tuple[float, float]:
    """The range the suppressed ``n`` of ``secret_row`` can take given everything
    published: each row's ``n`` where shown, ``rate x denominator`` where both are
    shown, the total row's ``n``, counts >= 0 and suppressed counts >= 1 (LP)."""
    k = len(rows)
    a_eq, b_eq = [], []
    for j, i in enumerate(rows):
        nums = _numbers(published.loc[i])
        known = nums.get("n")
        if known is None and "rate" in nums and "denominator" in nums:
            known = round(nums["rate"] * nums["denominator"])
        if known is None and "percent" in nums and "denominator" in nums:
            known = round(nums["percent"] / 100 * nums["denominator"])
        if known is not None:
            e = np.zeros(k)
            e[j] = 1
            a_eq.append(e)
            b_eq.append(known)
    total = _numbers(published.loc[total_row]).get("n")
    if total is not None:
        a_eq.append(np.ones(k))
        b_eq.append(total)
    bounds = [(1, None) if published.loc[i, "n"] == MARKER else (0, None) for i in rows]
    c = np.zeros(k)
    c[rows.index(secret_row)] = 1
    ends = []
    for sign in (1, -1):
        res = linprog(sign * c, A_eq=np.array(a_eq) if a_eq else None,
                      b_eq=np.array(b_eq) if b_eq else None, bounds=bounds, method="highs")
        if res.status == 3:
            ends.append(np.inf)
            continue
        assert res.status == 0
        ends.append(sign * res.fun)
    return ends[0], ends[1]


def _not_recovered(published: pd.DataFrame, secret_row: int, secret: int) -> None:
    row = published.loc[secret_row]
    assert row["n"] == MARKER
    assert secret not in _one_step_guesses(row), (
        f"{secret} can be worked out from the published row {row.tolist()}")
    low, high = _range_of(published, secret_row, [0, 1, 2], 3)
    # neither pinned down nor known to be a small count
    assert low < high and (low < 1 or high >= RULES.threshold), (low, high)


def test_readme_spec_with_undeclared_rate_and_denominator_leaks_nothing():
    """The README's old call: only ``n`` declared. The rate, percentage and denominator
    are undeclared: a warning names them, and they are suppressed beside the count."""
    table = _table()
    # without the policy, the published row b would give the count back
    assert 8 in _one_step_guesses(table.loc[1].drop("n"))
    with pytest.warns(DisclosureWarning) as caught:
        out = protect(table, TableSpec(counts=("n",), total_rows=TotalRows("group")),
                      RULES, name="readme")
    text = " ".join(str(w.message) for w in caught)
    for col in ("denominator", "rate", "percent"):
        assert f"'{col}'" in text
    assert "derived=" in text and "safe=" in text and "counts=" in text
    assert "Traceback" not in text and "Error" not in text
    pub = out.published
    assert pub.loc[1, ["n", "denominator", "rate", "percent"]].tolist() == [MARKER] * 4
    _not_recovered(pub, 1, 8)
    why = out.log.set_index(["row", "column"])["reason"]
    assert "not declared in the table spec" in why[(1, "rate")]
    assert out.status.loc[1, "rate"] == "derived"


def test_declared_rate_and_denominator_leak_nothing_and_do_not_warn():
    table = _table()
    spec = TableSpec(counts=("n", "denominator"),
                     derived={"rate": ["n", "denominator"], "percent": ["n", "denominator"]},
                     total_rows=TotalRows("group"))
    assert undeclared_columns(table, spec) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", DisclosureWarning)
        out = protect(table, spec, RULES, name="declared")
    pub = out.published
    assert pub.loc[1, "rate"] == MARKER and pub.loc[1, "percent"] == MARKER
    # the denominator (16 people) is not small and is published
    assert pub.loc[1, "denominator"] == 16
    _not_recovered(pub, 1, 8)


def test_total_row_does_not_give_the_count_back():
    """Secondary suppression: with the All row published, one more row's count (and so
    its rate) is suppressed, so the attacker's range for b's count stays wide."""
    table = _table()
    out = protect(table, TableSpec(counts=("n", "denominator"),
                                   derived={"rate": ["n", "denominator"],
                                            "percent": ["n", "denominator"]},
                                   total_rows=TotalRows("group")), RULES, name="totals")
    pub = out.published
    hidden = [i for i in range(3) if pub.loc[i, "n"] == MARKER]
    assert len(hidden) >= 2
    for i in hidden:
        assert pub.loc[i, "rate"] == MARKER
    _not_recovered(pub, 1, 8)


def test_undeclared_small_whole_number_is_suppressed_as_a_possible_count():
    table = pd.DataFrame({"group": ["a", "b"], "n": [40, 25], "families": [3, 20],
                          "score": [4.5, 7.25]})
    with pytest.warns(DisclosureWarning, match="'families'"):
        out = protect(table, TableSpec(counts=("n",)), RULES, name="t")
    assert out.published["families"].tolist() == [MARKER, 20]
    assert out.status.loc[0, "families"] == "primary"
    # not a whole number: nothing to suppress it with in this table
    assert out.published["score"].tolist() == [4.5, 7.25]


def test_table_without_counts_warns_and_says_nothing_could_be_suppressed():
    table = pd.DataFrame({"term": ["x"], "estimate": [0.4], "p": [0.03]})
    with pytest.warns(DisclosureWarning, match="declares no counts"):
        out = protect(table, TableSpec(), RULES, name="model")
    assert out.published["estimate"].tolist() == [0.4]


def test_safe_columns_stay_published_beside_a_suppressed_count():
    table = pd.DataFrame({"year": [2023, 2024], "n": [4, 30], "target": [0.8, 0.8],
                          "flag": [True, False]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DisclosureWarning)
        out = protect(table, TableSpec(counts=("n",), safe=("year", "target")), RULES,
                      name="t")
    assert out.published["n"].tolist() == [MARKER, 30]
    assert out.published["year"].tolist() == [2023, 2024]
    assert out.published["target"].tolist() == [0.8, 0.8]


def test_object_column_of_numbers_counts_as_numeric():
    table = pd.DataFrame({"n": [4, 30], "rate": pd.Series([0.25, 0.5], dtype=object),
                          "label": ["x", "y"]})
    assert undeclared_columns(table, TableSpec(counts=("n",))) == ["rate"]


def test_a_column_is_one_of_count_derived_or_safe():
    with pytest.raises(RpcEvalError, match="declared safe and also a count"):
        TableSpec(counts=("n",), safe=("n",))
    with pytest.raises(RpcEvalError, match="derived from counts"):
        TableSpec(counts=("n",), derived={"rate": ["n"]}, safe=("rate",))
    assert TableSpec.from_mapping({"counts": ["n"], "safe": ["year"]}).safe == ("year",)


def test_organisational_tables_need_no_declaration():
    table = pd.DataFrame({"la": ["A"], "n_las": [3]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DisclosureWarning)
        protect(table, TableSpec(units="organisations"), RULES, name="orgs")


def test_report_wide_decision_warns_once_per_table():
    """protect_report protects a table again when it forces more cells; the warning on
    undeclared columns is given once, by the first protection."""
    from rpc_eval.report.disclosure import TableInput, protect_report

    a = pd.DataFrame({"g": ["x", "y", "All"], "n": [4, 30, 34], "rate": [0.1, 0.2, 0.3]})
    b = pd.DataFrame({"g": ["x", "y"], "n": [4, 30]})
    spec_a = TableSpec(counts=("n",), keys={"n": "parents"}, key_columns=("g",),
                       total_rows=TotalRows("g"))
    spec_b = TableSpec(counts=("n",), keys={"n": "parents"}, key_columns=("g",))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out, _ = protect_report([TableInput("a", a, spec_a), TableInput("b", b, spec_b)],
                                RULES)
    undeclared = [w for w in rec if "does not say what" in str(w.message)]
    assert len(undeclared) == 1 and "'rate'" in str(undeclared[0].message)
    assert out["a"].published.loc[0, "rate"] == MARKER


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["final_report_v1", "interim_report_v1",
                                      "regional_evaluation_template_v1"])
def test_published_reports_declare_every_column(notebook, tmp_path, monkeypatch):
    """The frozen notebooks, run in this process on the small synthetic dataset, give
    no warning about an undeclared column: every table of the reports declares its
    numeric columns (the page drops warnings, so they are caught here)."""
    import matplotlib

    matplotlib.use("Agg")
    from rpc_eval.cli import main

    monkeypatch.chdir(ROOT)
    data = tmp_path / "small"
    assert main(["synth", "--scale", "small", "--seed", "7", "--out", str(data),
                 "--quiet"]) == 0
    src = (ROOT / "notebooks" / f"{notebook}.py").read_text(encoding="utf-8")
    assert "data_path = None" in src and "out_dir = None" in src
    if notebook == "final_report_v1":
        src = src.replace("data_path = None", f"data_path = {str(data)!r}", 1)
    src = src.replace("out_dir = None", f"out_dir = {str(tmp_path / 'out')!r}", 1)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(src, notebook, "exec"), {"__name__": "__notebook__"})
    said = [str(w.message) for w in rec if issubclass(w.category, DisclosureWarning)
            and "does not say what" in str(w.message)]
    assert not said, said
