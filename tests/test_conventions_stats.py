"""The shared statistics (stats/), regional pooling (regional/), study design (design/)
and disclosure control speak the vocabulary of docs/conventions.md, and their results
behave as every result of the package does (rpc_eval.results)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from rpc_eval.results import Result, ResultSet, Summary


def _check_result(res: Result, main: pd.DataFrame, check) -> None:
    """One-line repr, a Summary with text, HTML and tidy tables, to_frame() the main
    table (a copy), Jupyter's HTML view; every table in the vocabulary."""
    text = repr(res)
    assert "\n" not in text and len(text) < 300, text
    summ = res.summary()
    assert isinstance(summ, Summary)
    assert summ.as_text().startswith(summ.title)
    assert summ.as_html().startswith("<div") and "<table" in summ.as_html()
    assert summ.tables and all(isinstance(t, pd.DataFrame) for t in summ.tables.values())
    for name, table in summ.tables.items():
        check(table, f"{type(res).__name__}.summary().tables[{name!r}]")
    frame = res.to_frame()
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), main.reset_index(drop=True))
    frame.iloc[:, 0] = None  # a copy: the result is not changed through it
    assert res.to_frame().iloc[:, 0].notna().any()
    assert "<" in res._repr_html_()


def test_stats_regional_design_and_disclosure_outputs(check_conventions):
    check = check_conventions
    from rpc_eval.design.power import (
        SIMULATION_COLUMNS,
        TABLE_COLUMNS,
        power_table,
        simulate_power,
    )
    from rpc_eval.plan import load_plan
    from rpc_eval.regional import federated, interim_tables
    from rpc_eval.report.disclosure import (
        DisclosureRules,
        ProtectedTable,
        TableSpec,
        protect,
    )
    from rpc_eval.stats.pooling import MetaAnalysisResult, pool_estimates, random_effects
    from rpc_eval.stats.raking import rake, weighted_mean, weighted_vs_unweighted
    from rpc_eval.synthetic import generate

    data, _ = generate("small", seed=11)

    # --- stats: pooling (parameters ci, max_iter; fields statistic, p_value, ci)
    res = random_effects([0.31, 0.12, 0.45, 0.20], [0.10, 0.15, 0.12, 0.09], knha=True,
                         ci=0.9, max_iter=50, labels=["A", "B", "C", "D"])
    assert isinstance(res, MetaAnalysisResult) and isinstance(res, Result)
    assert res.ci == 0.9 and res.table["ci"].iloc[0] == 0.9
    assert res.p_value == res.table["p_value"].iloc[0]
    assert res.statistic == res.table["statistic"].iloc[0]
    _check_result(res, res.table, check)
    check(res.studies, "random_effects.studies")
    las = pd.DataFrame({"la_code": ["L1", "L2", "L3"], "estimate": [-2.5, -3.5, -1.0],
                        "std_error": [0.5, 0.7, 0.6]})
    pooled = pool_estimates(las, label="la_code", method="DL", ci=0.95)
    assert pooled.studies["label"].tolist() == ["L1", "L2", "L3"]

    # --- stats: raking (data first; std_error)
    parents = data.parents
    margins = {"la_code": parents["la_code"].value_counts().to_dict()}
    sample = parents.sample(frac=0.5, random_state=1).reset_index(drop=True)
    w = rake(data=sample, margins=margins)
    y = sample["la_code"].eq(sample["la_code"].iloc[0]).astype(float)
    check(weighted_mean(y, w), "weighted_mean")
    side = weighted_vs_unweighted(y, w, calibration=sample[["la_code"]], proportion=True)
    check(side, "weighted_vs_unweighted")
    assert "std_error" in side.columns

    # --- design: power tables
    table = power_table([6, 8], [20, 40], effect_size=0.3, icc=0.05)
    assert list(table.columns) == TABLE_COLUMNS
    check(table, "power_table")
    sim = simulate_power(6, 20, effect_size=0.3, icc=0.05, n_sims=20, seed=3, n_jobs=1,
                         method="cluster")
    assert list(sim.columns) == SIMULATION_COLUMNS
    check(sim, "simulate_power")

    # --- regional: each LA's summary, pooled; the pooled results are a ResultSet
    plan = load_plan("analysis_plans/regional_evaluation_template_v1.yaml")
    codes = sorted(data.parents["la_code"].unique())[:3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summaries = [federated.summarise(data, plan, la_code=c) for c in codes]
        results = federated.pool(summaries)
        comparison = federated.one_stage_comparison(data, plan, "phq9")
    assert isinstance(results, ResultSet)
    for name in ("meta", "studies", "funnel", "funnel_las", "completion",
                 "completion_las", "inputs"):
        check(getattr(results, name), f"pool.{name}")
    check(comparison, "one_stage_comparison")
    _check_result(results, results.meta, check)
    assert repr(results).startswith("<Pooled LA summaries: 7 parts")
    html = results._repr_html_()
    assert all(f"href='#part-{p}'" in html for p in ("meta", "studies", "completion"))
    assert results.in_words().startswith(f"Pooled {len(codes)} LAs")
    for model in results.models.values():
        assert isinstance(model, MetaAnalysisResult)
        check(model.table, "pool.models")

    # --- regional: the interim report's tables
    cs = interim_tables.load_case_studies(interim_tables._example_folder())
    for fn in (interim_tables.table_1, interim_tables.table_2, interim_tables.table_3,
               interim_tables.table_5, interim_tables.table_6, interim_tables.table_7):
        check(fn(cs), f"interim_tables.{fn.__name__}")

    # --- disclosure: protect(data, ...) gives a Result
    t = pd.DataFrame({"group": ["a", "b"], "n": [4, 40], "rate": [0.5, 0.25]})
    prot = protect(data=t, spec=TableSpec(counts=("n",), derived={"rate": ["n"]}),
                   rules=DisclosureRules(threshold=10), name="t")
    assert isinstance(prot, ProtectedTable)
    _check_result(prot, prot.published, check)
    assert dict(prot.summary().facts)["Cells suppressed"] == 2
    assert np.array_equal(prot.published["n"].to_numpy(dtype=object),
                          np.array(["[c]", 40], dtype=object))


@pytest.mark.parametrize("name", ["protect", "recoverable_cells"])
def test_disclosure_functions_take_data_first(name):
    import inspect

    from rpc_eval.report import disclosure

    assert next(iter(inspect.signature(getattr(disclosure, name)).parameters)) == "data"
