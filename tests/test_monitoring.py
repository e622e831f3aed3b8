"""The report's satisfaction, training and planning-tool tables on synthetic data."""

from __future__ import annotations

import pytest

from rpc_eval.monitoring import monitoring_analysis


@pytest.fixture(scope="module")
def result(default_data):
    data, truth = default_data
    return data, truth, monitoring_analysis(data)


def test_parent_target_counts_parents_not_answers(result):
    data, _, res = result
    target = res.tables["parent_satisfaction_target"].set_index("intervention")
    sat = data.responses[(data.responses["instrument"] == "parent_satisfaction")
                         & data.responses["value"].notna()]
    # every parent with a scored questionnaire counts once
    assert target.loc["All", "n"] <= sat["parent_id"].nunique()
    assert target.loc["All", "n"] > 0.9 * sat["parent_id"].nunique()
    by = target.drop(index="All")
    assert by["n"].sum() == target.loc["All", "n"]


def test_training_and_planning_follow_the_generator(result):
    _, truth, res = result
    pop = truth["training"]["population_values"]
    pre_post = res.tables["training_pre_post"].set_index("question")
    for question, row in pre_post.iterrows():
        true = pop["questions"][question]["pre_post_mean_change"]
        # the generator's population change lies within the 95% CI (slack for the
        # clustering of practitioners in LAs that the paired CI ignores)
        assert row["mean_change_ci_low"] - 0.05 <= true <= row["mean_change_ci_high"] + 0.05
    app = res.tables["training_application"]
    overall = app["n_weekly"].sum() / app["n_followup"].sum()
    se = (pop["actual_use_share_at_least_weekly"] * 0.67 / app["n_followup"].sum()) ** 0.5
    assert abs(overall - pop["actual_use_share_at_least_weekly"]) < 3 * se
    expected = (app["share_expected_weekly"] * app["n_paired"]).sum() / app["n_paired"].sum()
    assert expected > overall  # less often than they had expected, as the generator says
    change = res.tables["planning_stage_change"]
    assert (change["mean_change"] > 0).all()  # stages rise between returns
