"""Outcome tables for a whole dataset, and recovery of the generator's true effects."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from rpc_eval.change import change_table, outcome_tables
from rpc_eval.instruments import score_responses


def test_outcome_tables_layout_and_overall_rows(default_data):
    data, _ = default_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = outcome_tables(data, sample_norms=True)
    change, rc = out["change"], out["reliable_change"]
    assert change.columns[0] == "intervention"
    # satisfaction is asked only at the end, so it has no pre/post row
    assert "parent_satisfaction" not in set(change["instrument"])
    overall = change[change["intervention"] == "All"]
    assert set(overall["instrument"]) == {"csi4", "gad7", "phq9", "sdq_parent_4_17", "swemwbs"}
    # the 'All' row pools the intervention rows
    for _, sub in change.groupby("instrument"):
        by = sub[sub["intervention"] != "All"]
        assert by["n_paired"].sum() == sub.loc[sub["intervention"] == "All", "n_paired"].item()
    # every parent in the reliable-change table falls in exactly one class
    sums = rc.groupby(["intervention", "instrument", "scale"])
    assert (sums["n"].sum() == sums["n_total"].first()).all()
    assert np.allclose(sums["percent"].sum(), 100)


def test_true_changes_are_recovered_for_completers(default_data):
    """95% CIs of the mean change (completers, baseline -> end) cover the generator's
    population mean change in most intervention x instrument cells.

    The paired CI treats parents as independent, but the generator has LA effects on
    change and two parents per family in many families, so the CI is somewhat too
    narrow (31 of 36 cells covered with this seed, 86%). That clustering is what the
    multilevel models are for; here the check is the binomial 99.9% floor less one
    cell, which still fails if the estimates were biased.
    """
    data, truth = default_data
    scores = score_responses(data.responses, data.instruments)
    completers = data.parents.loc[data.parents["exit_reason"] == "completed",
                                  ["parent_id", "intervention"]]
    scores = scores.merge(completers, on="parent_id")
    pop = truth["questionnaires"]["population_values"]
    primary = {n: data.instruments.get(n).primary_scale for n in pop}
    scores = scores[[primary.get(i) == s for i, s in zip(scores["instrument"], scores["scale"],
                                                          strict=True)]]
    table = change_table(scores, by="intervention", waves=("baseline", "end"))
    covered, cells = 0, 0
    for r in table.itertuples():
        true = pop[r.instrument][r.scale]["by_intervention"].get(r.intervention, {})
        end = true.get("completed", {}).get("end")
        if end is None or r.n_paired < 30:
            continue
        cells += 1
        covered += r.change_ci_low <= end["mean_change"] <= r.change_ci_high
    assert cells >= 20
    from scipy.stats import binom

    assert covered >= binom.ppf(0.001, cells, 0.95) - 1, (covered, cells)


def test_scores_keep_every_parent_wave(default_data):
    data, _ = default_data
    scores = score_responses(data.responses, data.instruments, instruments=["phq9"])
    answered = data.responses[(data.responses["instrument"] == "phq9")]
    expected = answered[["parent_id", "wave"]].drop_duplicates()
    got = scores[scores["scale"] == "total"][["parent_id", "wave"]]
    assert len(got) == len(expected)
    assert isinstance(scores, pd.DataFrame)


def _fresh(responses, registry, instruments=None):
    """Scores of a deep copy: a table never scored before, so nothing kept is reused."""
    return score_responses(responses.copy(deep=True), registry, instruments=instruments)


def test_scores_of_a_table_changed_in_place_are_computed_afresh(default_data):
    data, _ = default_data
    responses = data.responses.copy(deep=True)
    first = score_responses(responses, data.instruments)
    again = score_responses(responses, data.instruments, instruments=["phq9", "csi4"])
    pd.testing.assert_frame_equal(again, _fresh(responses, data.instruments,
                                                instruments=["phq9", "csi4"]))
    pd.testing.assert_frame_equal(score_responses(responses, data.instruments),
                                  _fresh(responses, data.instruments))
    # change answers in place: every phq9 answer of one wave becomes the top code
    phq = (responses["instrument"] == "phq9") & (responses["wave"] == "baseline")
    responses.loc[phq, "value"] = 3.0
    changed = score_responses(responses, data.instruments, instruments=["phq9"])
    expected = _fresh(responses, data.instruments, instruments=["phq9"])
    pd.testing.assert_frame_equal(changed, expected)
    base = changed[(changed["wave"] == "baseline") & (changed["scale"] == "total")
                   & changed["valid"].astype(bool)]
    assert (base["score"] == 27).all() and len(base)
    before = first[(first["instrument"] == "phq9") & (first["wave"] == "baseline")
                   & (first["scale"] == "total")]
    assert (before["score"] != 27).any()
    # a column replaced, and rows dropped: computed afresh too
    responses["value"] = responses["value"].where(~phq, 0.0)
    pd.testing.assert_frame_equal(
        score_responses(responses, data.instruments, instruments=["phq9"]),
        _fresh(responses, data.instruments, instruments=["phq9"]))
    fewer = responses.iloc[: len(responses) // 2]
    pd.testing.assert_frame_equal(score_responses(fewer, data.instruments),
                                  _fresh(fewer, data.instruments))
