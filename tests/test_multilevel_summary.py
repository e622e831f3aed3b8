"""The report's multilevel analysis on synthetic data with known LA effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rpc_eval.multilevel import multilevel_analysis


@pytest.fixture(scope="module")
def result(default_data):
    data, truth = default_data
    return data, truth, multilevel_analysis(data)


def test_tables_and_reference(result):
    data, _, res = result
    fe = res.outcome_model.fixed_effects
    assert list(fe.columns) == ["term", "estimate", "std_error", "statistic", "df", "p_value",
                                "ci_low", "ci_high"]
    assert all(t in ("Intercept", "score_baseline") or t.startswith("intervention[T.")
               for t in fe["term"])
    ref = res.settings["reference"]
    assert ref == data.parents.loc[data.parents["start_date"].notna(),
                                   "intervention"].value_counts().idxmax()
    assert not any(ref in t for t in fe["term"])
    assert set(res.icc["component"]) == {"la_code", "Residual"}
    la = res.icc.set_index("component").loc["la_code"]
    assert la["ci_low"] <= la["icc"] <= la["ci_high"]
    assert len(res.la_effects) == data.parents["la_code"].nunique()
    assert set(res.completion_funnel.table["unit"]) == set(data.parents["la_code"])


def test_la_completion_effects_track_the_true_dropout_effects(result):
    """Each LA's true random effect on the per-session dropout hazard (logit scale,
    SD 0.3) lowers completion, so the GLMM's LA conditional modes for completion must
    be negatively correlated with them."""
    _, truth, res = result
    true = pd.DataFrame(truth["realised"]["la_effects"])[["la_code", "dropout"]]
    est = res.la_effects.merge(true, left_on="level", right_on="la_code")
    assert len(est) == len(true)
    r = np.corrcoef(est["estimate"], est["dropout"])[0, 1]
    assert r < -0.5, r
