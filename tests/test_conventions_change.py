"""The change, instruments and monitoring packages speak the vocabulary of
docs/conventions.md: every table their public functions return on a small synthetic
dataset passes the ``check_conventions`` check, and their results behave as
``rpc_eval.results`` says (one-line repr, Summary, HTML view, to_frame)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from rpc_eval.results import Result, ResultSet, Summary


@pytest.fixture(scope="module")
def small():
    from rpc_eval.synthetic import generate

    data, _ = generate("small", seed=11)
    return data


@pytest.fixture(scope="module")
def scores(small):
    from rpc_eval.instruments import score_responses

    out = score_responses(small.responses, small.instruments)
    return out.merge(small.parents[["parent_id", "intervention", "la_code"]], on="parent_id")


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _change_tables(small, scores) -> dict[str, pd.DataFrame]:
    from rpc_eval.change import (
        attrition_comparison,
        band_transitions,
        change_table,
        classify_reliable_change,
        mi_change,
        outcome_tables,
        pair_waves,
        paired_effect_sizes,
        paired_tests,
        reliable_change_summary,
    )
    from rpc_eval.change.sensitivity import attrition_analysis

    phq = scores[(scores["instrument"] == "phq9") & (scores["scale"] == "total")]
    pairs = pair_waves(phq, by="intervention")
    complete = pairs.dropna(subset=["pre", "post"])
    out = {
        "pair_waves": pairs,
        "paired_effect_sizes": paired_effect_sizes(complete["pre"], complete["post"]),
        "paired_tests": paired_tests(complete["pre"], complete["post"]),
        "change_table": change_table(scores, by="intervention", registry=small.instruments),
    }
    classified = classify_reliable_change(phq, "phq9", "total", by="intervention",
                                          registry=small.instruments, sample_norms=True,
                                          responses=small.responses)
    out["classify_reliable_change"] = classified
    out["reliable_change_summary"] = reliable_change_summary(classified)
    out["band_transitions"] = band_transitions(phq, "phq9", "total", by="intervention",
                                               registry=small.instruments)
    base = pairs.dropna(subset=["pre"])
    out["attrition_comparison"] = attrition_comparison(base, base["post"].notna(), ["pre"])
    out["mi_change"] = _quiet(mi_change, pairs, "pre", "post", m=3, seed=1, max_iter=2)
    for name, table in _quiet(outcome_tables, small, sample_norms=True).items():
        out[f"outcome_tables.{name}"] = table
    att = _quiet(attrition_analysis, small, "phq9", "total", m=3, seed=1)
    out["attrition_analysis.attrition"] = att["attrition"]
    out["attrition_analysis.mi"] = att["mi"]
    return out


def _monitoring_tables(small) -> dict[str, pd.DataFrame]:
    from rpc_eval.monitoring import monitoring_analysis
    from rpc_eval.monitoring.planning_tool import (
        interventions_offered,
        partner_awareness,
        stage_change,
        stage_distribution,
        workforce_trained,
    )
    from rpc_eval.monitoring.satisfaction import (
        compare_groups,
        likert_distribution,
        likert_summary,
    )
    from rpc_eval.monitoring.training import (
        application_at_followup,
        paired_ratings,
        response_shift,
    )

    res = _quiet(monitoring_analysis, small)
    out = {f"monitoring_analysis.{k}": v for k, v in res.tables.items()}
    sat = small.responses[small.responses["instrument"] == "parent_satisfaction"]
    out["likert_distribution"] = likert_distribution(sat, item_col="item")
    out["likert_summary"] = likert_summary(sat, item_col="item", by="wave")
    one = sat[sat["item"] == sat["item"].iloc[0]].merge(
        small.parents[["parent_id", "intervention", "la_code"]], on="parent_id")
    out["compare_groups.chi2"] = compare_groups(one, "value", "intervention")
    out["compare_groups.ordinal"] = _quiet(compare_groups, one, "value", "intervention",
                                           method="ordinal", cluster="la_code")
    tr = small.training_responses
    out["paired_ratings"] = paired_ratings(tr, "confidence")
    out["response_shift"] = _quiet(response_shift, tr, "confidence")
    out["application_at_followup"] = application_at_followup(
        tr, by="sector", practitioners=small.practitioners)
    pt, book = small.planning_tool, small.codebooks["planning_tool"]
    years = sorted(pd.unique(pt["return_year"].dropna()))
    out["stage_distribution"] = stage_distribution(pt, book)
    out["partner_awareness"] = partner_awareness(pt, book)
    out["workforce_trained"] = workforce_trained(pt, book)
    out["interventions_offered"] = interventions_offered(pt, book)
    out["stage_change"] = stage_change(pt, book, years=(years[0], years[-1]))
    return out


def _instrument_tables(small) -> dict[str, pd.DataFrame]:
    from rpc_eval.instruments import responses_to_wide
    from rpc_eval.instruments.reliability import (
        cronbach_alpha,
        item_rest_correlations,
        item_scores,
        omega_total,
        reliability,
    )

    wide = responses_to_wide(small.responses, "phq9", registry=small.instruments)
    items = item_scores(wide, "phq9", "total", registry=small.instruments)
    return {
        "reliability": _quiet(reliability, wide, "phq9", registry=small.instruments),
        "cronbach_alpha": cronbach_alpha(items),
        "item_rest_correlations": item_rest_correlations(items),
        "omega_total": _quiet(omega_total, items),
    }


def test_compare_groups_terms_follow_the_vocabulary(small, check_conventions):
    from rpc_eval.monitoring.satisfaction import compare_groups

    sat = small.responses[small.responses["instrument"] == "parent_satisfaction"]
    one = sat[sat["item"] == sat["item"].iloc[0]].merge(
        small.parents[["parent_id", "intervention"]], on="parent_id")
    res = _quiet(compare_groups, one, "value", "intervention", method="ordinal")
    groups = res[res["kind"] == "group"]
    assert groups["term"].str.match(r"^intervention\[T\..+\]$").all()
    assert np.allclose(groups["ratio"], np.exp(groups["estimate"]))
    assert np.allclose(groups["ratio_ci_high"], np.exp(groups["ci_high"]))
    assert res.loc[res["kind"] == "threshold", "term"].str.startswith("threshold[T.").all()
    check_conventions(res, "compare_groups")


def test_result_behaviour_of_the_analysis_containers(small):
    from rpc_eval.change import change_analysis
    from rpc_eval.monitoring import monitoring_analysis

    for res in (_quiet(change_analysis, small, sample_norms=True,
                       primary=("phq9", "total")),
                _quiet(monitoring_analysis, small)):
        assert isinstance(res, ResultSet) and isinstance(res, Result)
        line = repr(res)
        assert "\n" not in line and len(line) < 400, line
        summ = res.summary()
        assert isinstance(summ, Summary)
        assert summ.tables and all(isinstance(t, pd.DataFrame) for t in summ.tables.values())
        text = summ.as_text()
        assert text.splitlines()[0] == res._title()
        assert "<div" in summ.as_html()
        page = res._repr_html_()
        for name in summ.tables:
            assert f"href='#part-{name}'" in page
        main = res.to_frame()
        first = next(iter(summ.tables.values()))
        pd.testing.assert_frame_equal(main, first)
        main.iloc[:, 0] = None  # a copy: the result is untouched
        assert not next(iter(res.summary().tables.values())).iloc[:, 0].isna().all()


def test_change_instruments_monitoring_outputs(small, scores, check_conventions):
    tables = {**_change_tables(small, scores), **_instrument_tables(small),
              **_monitoring_tables(small)}
    assert len(tables) >= 30
    for name, table in tables.items():
        assert isinstance(table, pd.DataFrame), name
        assert len(table), name
        check_conventions(table, name)
