"""Tests of rpc_eval.monitoring.training against R (tests/reference/training.R) and the generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from rpc_eval.errors import RpcEvalError
from rpc_eval.monitoring.training import (
    APPLICATION_COLUMNS,
    PAIRED_COLUMNS,
    application_at_followup,
    paired_ratings,
    rank_biserial_paired,
    response_shift,
    wilcoxon_signed_rank,
)

REF = json.loads((Path(__file__).parent / "reference" / "training.json").read_text())


@pytest.fixture(scope="module")
def small(small_data):
    return small_data


def _long(pre, post, question="knowledge", waves=("pre", "post")):
    rows = []
    for i, (a, b) in enumerate(zip(pre, post, strict=True)):
        rows += [(f"P{i}", waves[0], question, a), (f"P{i}", waves[1], question, b)]
    return pd.DataFrame(rows, columns=["practitioner_id", "wave", "question", "value"])


@pytest.mark.parametrize("case", range(len(REF["paired"])))
def test_paired_matches_r(case):
    ref = REF["paired"][case]
    out = paired_ratings(_long(ref["pre"], ref["post"]), "knowledge").iloc[0]
    assert out["wilcoxon_statistic"] == ref["V"]
    assert out["wilcoxon_p_value"] == pytest.approx(ref["p"], rel=1e-9)
    assert out["rank_biserial"] == pytest.approx(ref["r"], rel=1e-9)
    assert out["rank_biserial_ci_low"] == pytest.approx(ref["r_low"], rel=1e-9)
    assert out["rank_biserial_ci_high"] == pytest.approx(ref["r_high"], rel=1e-9)
    assert out["mean_change"] == pytest.approx(ref["mean_change"], rel=1e-12)
    assert out["mean_change_ci_low"] == pytest.approx(ref["t_low"], rel=1e-9)
    assert out["mean_change_ci_high"] == pytest.approx(ref["t_high"], rel=1e-9)


@pytest.mark.parametrize("case", range(len(REF["mcnemar"])))
def test_mcnemar_matches_r(case):
    ref = REF["mcnemar"][case]
    a, b, c, d = ref["table"]
    assert mcnemar([[a, b], [c, d]], exact=True).pvalue == pytest.approx(ref["exact_p"], rel=1e-9)
    assert mcnemar([[a, b], [c, d]], exact=False, correction=False).pvalue == pytest.approx(
        ref["chisq_p"], rel=1e-9)
    # The same table built from practitioner answers through application_at_followup.
    rows, k = [], 0
    for n, (e, act) in zip((a, b, c, d), ((6, 6), (6, 2), (2, 6), (2, 2)), strict=True):
        for _ in range(int(n)):
            rows += [(f"P{k}", "post", "expected_use", e), (f"P{k}", "followup_6m", "actual_use", act)]
            k += 1
    tr = pd.DataFrame(rows, columns=["practitioner_id", "wave", "question", "value"])
    out = application_at_followup(tr).iloc[0]
    assert out["n_expected_only"] == b and out["n_actual_only"] == c
    assert out["mcnemar_p_value"] == pytest.approx(ref["exact_p"], rel=1e-9)


def test_synthetic_pre_post_positive(small):
    data, truth = small
    qs = ["knowledge", "understanding", "confidence"]
    out = paired_ratings(data.training_responses, qs)
    assert list(out.columns) == PAIRED_COLUMNS
    assert (out["mean_change"] > 0).all() and (out["wilcoxon_p_value"] < 0.001).all()
    assert (out["rank_biserial"] > 0).all()
    pv = truth["training"]["population_values"]["questions"]
    for _, row in out.iterrows():
        true = pv[row["question"]]["pre_post_mean_change"]
        assert row["mean_change_ci_low"] - 0.15 < true < row["mean_change_ci_high"] + 0.15
    then = paired_ratings(data.training_responses, qs, waves=("then", "post"))
    # then-test change exceeds pre-post (response shift), as in the generator
    assert (then["mean_change"].to_numpy() > out["mean_change"].to_numpy()).all()
    shift = response_shift(data.training_responses, "knowledge")
    assert shift["wave_2"].iloc[0] == "then" and shift["mean_change"].iloc[0] < 0


def test_synthetic_by_group(small):
    data, _ = small
    out = paired_ratings(data.training_responses, "knowledge", by="sector",
                         practitioners=data.practitioners)
    assert list(out.columns) == ["sector"] + PAIRED_COLUMNS
    whole = paired_ratings(data.training_responses, "knowledge")
    assert out["n_pairs"].sum() == whole["n_pairs"].iloc[0]
    with pytest.raises(RpcEvalError, match="practitioners="):
        paired_ratings(data.training_responses, "knowledge", by="sector")


def test_application_near_truth(small):
    data, truth = small
    out = application_at_followup(data.training_responses)
    assert list(out.columns) == APPLICATION_COLUMNS
    row = out.iloc[0]
    pv = truth["training"]["population_values"]
    assert row["share_weekly_ci_low"] < pv["actual_use_share_at_least_weekly"] < row["share_weekly_ci_high"]
    assert row["share_monthly"] >= row["share_weekly"]
    # practitioners expect more than they achieve
    assert row["share_expected_weekly"] > row["share_actual_weekly"]
    by = application_at_followup(data.training_responses, by=["sector", "la_code"],
                                 practitioners=data.practitioners)
    assert by["n_followup"].sum() == row["n_followup"]
    assert by["n_paired"].sum() == row["n_paired"]
    assert list(by.columns[:2]) == ["sector", "la_code"]


def test_degenerate_cases():
    # every difference zero: no test, no effect size
    out = paired_ratings(_long([3, 3, 2], [3, 3, 2]), "knowledge").iloc[0]
    assert out["n_pairs"] == 3 and out["n_nonzero"] == 0
    assert np.isnan(out["wilcoxon_p_value"]) and np.isnan(out["rank_biserial"])
    assert out["mean_change"] == 0
    # one pair: no interval
    out = paired_ratings(_long([2], [4]), "knowledge").iloc[0]
    assert np.isnan(out["mean_change_ci_low"]) and out["rank_biserial"] == 1
    # missing values drop the pair
    tr = _long([2, 3, np.nan], [4, np.nan, 5])
    assert paired_ratings(tr, "knowledge")["n_pairs"].iloc[0] == 1
    # no pairs at all
    tr = _long([2, 3], [4, 4], waves=("pre", "then"))
    out = paired_ratings(tr, "knowledge").iloc[0]
    assert out["n_pairs"] == 0 and np.isnan(out["mean_change"])
    assert wilcoxon_signed_rank([0, 0])["n_nonzero"] == 0
    assert all(np.isnan(rank_biserial_paired([0.0])))
    # application: nobody answered the follow-up
    tr = pd.DataFrame({"practitioner_id": ["a"], "wave": ["post"], "question": ["expected_use"],
                       "value": [5]})
    out = application_at_followup(tr).iloc[0]
    assert out["n_followup"] == 0 and np.isnan(out["share_weekly"]) and np.isnan(out["mcnemar_p_value"])


def test_input_errors():
    tr = _long([1, 2], [2, 3])
    with pytest.raises(RpcEvalError, match="not found"):
        paired_ratings(tr, "nonsense")
    with pytest.raises(RpcEvalError, match="two different waves"):
        paired_ratings(tr, "knowledge", waves=("pre", "pre"))
    with pytest.raises(RpcEvalError, match="lacks column"):
        paired_ratings(tr.drop(columns="wave"), "knowledge")
    with pytest.raises(RpcEvalError, match="more than one answer"):
        paired_ratings(pd.concat([tr, tr]), "knowledge")
    with pytest.raises(RpcEvalError, match="ci must be"):
        paired_ratings(tr, "knowledge", ci=95)
    with pytest.raises(RpcEvalError, match="weekly_codes"):
        application_at_followup(tr, weekly_codes=())
