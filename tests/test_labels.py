"""The label dictionary: headers in words with units, codes as names, model terms in
words, numbers formatted for people, codes in codebook order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rpc_eval.report.labels import Labels


@pytest.fixture(scope="module")
def lab() -> Labels:
    return Labels.default()


def test_headers_are_words_with_units(lab):
    assert lab.header("rate_started") == "Started (%)"
    assert lab.header("ci_low_completed") == "Completed: lower 95% limit (%)"
    assert lab.header("n_paired") == "Parents with both questionnaires"
    assert lab.header("g_av").startswith("Effect size (Hedges' g")
    assert lab.header("g_av_ci_low").endswith("lower 95% limit")
    assert lab.header("meets_target") == "Meets the target"
    assert lab.header("p_value") == "p-value"
    # an unknown name still reads as words, never with underscores
    assert lab.header("some_new_column") == "Some new column"


def test_codes_become_names_and_waves_short(lab):
    assert lab.name("intervention", "standard_triple_p") == "Standard Triple P (Level 4)"
    assert lab.name("instrument", "csi4").startswith("Couples Satisfaction Index")
    assert lab.name("wave_post", "followup_12m") == "12 months after"
    assert lab.name("intervention", "not_a_code") == "not_a_code"


def test_dataset_names_win_over_the_codebook():
    las = pd.DataFrame({"la_code": ["LA001"], "la_name": ["Northtown"]})
    itv = pd.DataFrame({"intervention": ["standard_triple_p"], "name": ["Triple P (local)"]})
    lab = Labels.from_sources(las=las, interventions=itv)
    assert lab.name("la_code", "LA001") == "Northtown"
    assert lab.name("intervention", "standard_triple_p") == "Triple P (local)"


@pytest.mark.parametrize("term", ["C(intervention)[T.enhanced_triple_p]",
                                  "intervention[T.enhanced_triple_p]",
                                  "intervention=enhanced_triple_p",
                                  "C(intervention, Treatment('x'))[T.enhanced_triple_p]"])
def test_every_term_spelling_reads_the_same(lab, term):
    assert lab.term(term, reference="standard_triple_p") == (
        "Enhanced Triple P (Level 5) vs Standard Triple P (Level 4)")
    assert lab.term(term) == "Enhanced Triple P (Level 5) (compared with the reference group)"


def test_non_factor_terms_keep_a_readable_name(lab):
    assert lab.term("Intercept") == "Intercept"
    assert lab.term("baseline_score") == "Baseline score"


def test_waves_sort_in_time_order_not_alphabetically(lab):
    assert lab.order("wave", ["followup_6m", "followup_12m", "end", "baseline", "odd"]) == [
        "baseline", "end", "followup_6m", "followup_12m", "odd"]


def test_readable_table(lab):
    frame = pd.DataFrame({
        "intervention": ["standard_triple_p", "All"],
        "term": ["C(intervention)[T.enhanced_triple_p]", "[c]"],
        "n_referred": [40, 120],
        "rate_started": [0.7692307, "[c]"],
        "proportion": [0.25, 0.5], "ci_low": [0.1, 0.3], "ci_high": [0.4, 0.7],
        "meets_target": [True, False],
        "p_value": [0.0004, 0.0312],
        "variance": [0.000123456, 2.0],
        "wave": ["followup_6m", "baseline"],
    })
    out = lab.readable(frame, references={"intervention": "standard_triple_p"})
    assert list(out.columns) == [
        "Intervention", "Compared with the reference group", "Referred", "Started (%)",
        "Share (%)", "Lower 95% limit (%)", "Upper 95% limit (%)", "Meets the target",
        "p-value", "Variance", "Questionnaire wave"]
    row = out.iloc[0]
    assert row["Intervention"] == "Standard Triple P (Level 4)"
    assert row["Compared with the reference group"] == (
        "Enhanced Triple P (Level 5) vs Standard Triple P (Level 4)")
    assert row["Started (%)"] == 76.9 and out.iloc[1]["Started (%)"] == "[c]"
    assert row["Lower 95% limit (%)"] == 10.0  # limits of a proportion are percentages too
    assert list(out["Meets the target"]) == ["Yes", "No"]
    assert list(out["p-value"]) == ["<0.001", 0.031]
    assert row["Variance"] == 0.000123  # small numbers keep three significant figures
    assert row["Questionnaire wave"] == "6 months after"
    assert isinstance(out.iloc[1]["Referred"], int | np.integer)


def test_two_columns_never_share_a_header(lab):
    out = lab.readable(pd.DataFrame({"se": [1.0], "std_error": [2.0]}))
    assert len(set(out.columns)) == 2


def test_data_dictionary_pairs_variables_and_headers(lab):
    dd = lab.data_dictionary({"engagement_funnel": pd.DataFrame(columns=["intervention",
                                                                        "rate_started"])})
    assert dd.to_dict("records") == [
        {"table": "engagement_funnel", "column": "intervention", "header": "Intervention",
         "format": "text"},
        {"table": "engagement_funnel", "column": "rate_started", "header": "Started (%)",
         "format": "percent"}]


def test_questionnaire_items_read_as_statements_or_item_numbers(lab):
    assert lab.name("item", "sat_04") == "I would recommend the sessions to other parents"
    assert lab.name("item", "csi4_03") == "Item 3"
    assert lab.name("item", "phq9_10") == "Item 10"
    assert lab.name("item", "odd") == "odd"


def test_item_numbers_only_for_questionnaire_items(lab):
    """A planning-tool element is not a questionnaire item: its code is not renamed."""
    assert lab.name("item", "element_1") == "element_1"
