"""Analysis plans: the shipped plans load; every kind of mistake is a PlanError naming
the file and line."""

import json
from pathlib import Path

import pytest

from rpc_eval.plan import PLAN_SCHEMA, PlanError, load_plan

ROOT = Path(__file__).resolve().parents[1]
PLANS = sorted((ROOT / "analysis_plans").glob("*.yaml"))


def test_three_plans_ship():
    assert {p.stem for p in PLANS} == {"interim_report_v1", "final_report_v1",
                                       "regional_evaluation_template_v1"}


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_shipped_plans_load(path):
    plan = load_plan(path)
    assert plan.name == path.stem
    assert plan.markdown_path.is_file() and plan.notebook_path.is_file()
    assert plan.disclosure["threshold"] >= 5
    # the human-readable plan names the settings the machine-readable one holds
    text = plan.markdown_path.read_text(encoding="utf-8")
    assert str(plan.disclosure["threshold"]) in text
    for group in ("primary", "secondary"):
        for outcome in plan.get("outcomes", {}).get(group, []):
            assert outcome["instrument"] in text.lower().replace("-", "")


def _plan(tmp_path, text: str, name: str = "final_report_v1") -> Path:
    """A copy of the final plan with ``text`` substituted, in a repository-like tree."""
    plans = tmp_path / "analysis_plans"
    plans.mkdir(exist_ok=True)
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    (tmp_path / "notebooks" / "final_report_v1.py").write_text("# notebook\n")
    (plans / "final_report_v1.md").write_text("# plan\n")
    path = plans / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = (ROOT / "analysis_plans" / "final_report_v1.yaml").read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old, new, needle, message", [
    ("  outcome_model:", "  outcome:", "  outcome:", "unknown key 'outcome' in 'models'"),
    ("    - {instrument: phq9}", "    - {instrument: phq99}", "phq99",
     "unknown instrument 'phq99'"),
    ("    - {instrument: csi4, scale: total}", "    - {instrument: csi4, scale: totl}",
     "scale: totl", "instrument 'csi4' has no scale 'totl'"),
    ("  post: end", "  post: finish", "post: finish", "unknown wave 'finish'"),
    ("subgroups: [relationship_status]", "subgroups: [marital_status]", "subgroups:",
     "'marital_status' is not a column of the parents table"),
    ("  threshold: 10", "  threshold: ten", "threshold: ten", "must be a whole number"),
    ("status: published", "status: final", "status: final", "status 'final' is not one of"),
    ("  analyses: [funnel,", "  analyses: [funnels,", "analyses:", "analyses[0] 'funnels'"),
])
def test_mistakes_name_the_line(tmp_path, old, new, needle, message):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(PlanError) as err:
        load_plan(_plan(tmp_path, text))
    msg = str(err.value)
    assert msg.startswith(f"final_report_v1.yaml line {_line_of(text, needle)}:"), msg
    assert message in msg, msg


def test_unknown_top_level_key_and_duplicates(tmp_path):
    text = BASE + "colour: blue\n"
    with pytest.raises(PlanError, match=r"line \d+: unknown key 'colour' \(allowed: "):
        load_plan(_plan(tmp_path, text))
    text = BASE + "seed: 1\n"
    with pytest.raises(PlanError, match="key 'seed' appears twice"):
        load_plan(_plan(tmp_path, text))


def test_missing_required_keys_and_threshold(tmp_path):
    text = BASE.replace("seed: 20240601\n", "")
    with pytest.raises(PlanError, match="missing required key"):
        load_plan(_plan(tmp_path, text))
    text = BASE.replace("  threshold: 10", "  threshold: 3")
    with pytest.raises(PlanError, match=r"line \d+: the disclosure threshold must be at least 5"):
        load_plan(_plan(tmp_path, text))
    load_plan(_plan(tmp_path, BASE.replace("  threshold: 10", "  threshold: 5")))


def test_file_name_version_and_missing_files(tmp_path):
    with pytest.raises(PlanError, match="should be final_report_v1.yaml"):
        load_plan(_plan(tmp_path, BASE, name="final_report_v2"))
    path = _plan(tmp_path, BASE)
    (tmp_path / "analysis_plans" / "final_report_v1.md").unlink()
    with pytest.raises(PlanError, match="human-readable plan final_report_v1.md is missing"):
        load_plan(path)
    with pytest.raises(PlanError, match="no analysis plan at"):
        load_plan(tmp_path / "nowhere.yaml")


def test_bad_yaml_and_empty(tmp_path):
    with pytest.raises(PlanError, match=r"line \d+: not valid YAML"):
        load_plan(_plan(tmp_path, BASE + "waves: [unclosed\n"))
    with pytest.raises(PlanError, match="empty"):
        load_plan(_plan(tmp_path, ""))
    with pytest.raises(PlanError, match="must be a mapping"):
        load_plan(_plan(tmp_path, "- a\n- b\n"))


def test_schema_keys_are_documented_in_the_readme():
    readme = (ROOT / "analysis_plans" / "README.md").read_text(encoding="utf-8")
    missing = [k for k in PLAN_SCHEMA if f"`{k}`" not in readme]
    assert not missing, missing


def test_organisational_tables_must_exist():
    plan = load_plan(ROOT / "analysis_plans" / "final_report_v1.yaml")
    with pytest.raises(PlanError, match="organisational table 'data_planning_returns'"):
        plan.check_tables(["engagement_funnel"])


def test_published_versions_are_frozen():
    """A published plan, its Markdown and its notebook may not change: a change is a new
    version (new files). analysis_plans/published.json records their hashes."""
    from rpc_eval.plan import frozen_hashes

    recorded = json.loads((ROOT / "analysis_plans" / "published.json").read_text())
    now = frozen_hashes(ROOT / "analysis_plans")
    changed = [f for f in recorded if now.get(f) != recorded[f]]
    assert not changed, (f"published files changed: {changed}; published versions are "
                         "frozen: copy them to a new version instead")
    assert set(now) <= set(recorded), "a newly published plan: record it in published.json"
