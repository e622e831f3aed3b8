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


# --- trust boundaries: what a plan may point at, and what it may say ---------------------
@pytest.mark.parametrize("old, new, needle", [
    ("notebook: notebooks/final_report_v1.py", "notebook: /etc/hostname", "notebook:"),
    ("notebook: notebooks/final_report_v1.py", "notebook: notebooks/../../evil.py",
     "notebook:"),
    ("analysis_plan: final_report_v1.md", "analysis_plan: /etc/passwd", "analysis_plan:"),
    ("analysis_plan: final_report_v1.md", "analysis_plan: ../secret.md", "analysis_plan:"),
])
def test_plan_files_must_lie_in_the_project_folders(tmp_path, old, new, needle):
    (tmp_path / "evil.py").write_text("import os\n")
    (tmp_path / "secret.md").write_text("secret\n")
    text = BASE.replace(old, new, 1)
    with pytest.raises(PlanError) as err:
        load_plan(_plan(tmp_path, text))
    msg = str(err.value)
    assert msg.startswith(f"final_report_v1.yaml line {_line_of(text, needle)}:"), msg
    assert "is outside" in msg and "relative path" in msg, msg


def test_a_link_out_of_the_notebooks_folder_is_refused(tmp_path):
    path = _plan(tmp_path, BASE)
    outside = tmp_path / "elsewhere.py"
    outside.write_text("print('hi')\n")
    nb = tmp_path / "notebooks" / "final_report_v1.py"
    nb.unlink()
    nb.symlink_to(outside)
    with pytest.raises(PlanError, match="is outside the notebooks/ folder"):
        load_plan(path)


def test_plan_that_is_not_utf8_names_the_line(tmp_path):
    path = _plan(tmp_path, BASE)
    raw = BASE.encode("utf-8").replace(b"synthetic data)", b"synth\xe9tic data)", 1)
    path.write_bytes(raw)
    with pytest.raises(PlanError) as err:
        load_plan(path)
    assert str(err.value).startswith(
        f"final_report_v1.yaml line {_line_of(BASE, 'synthetic data)')}: the plan is not "
        "UTF-8"), str(err.value)


@pytest.mark.parametrize("old, new", [
    ('title: "Reducing', 'title: !!python/name:os.system "Reducing'),
    ('title: "Reducing', 'title: !!python/object/apply:os.system ["echo hi"] #'),
    ("seed: 20240601", "seed: !!binary aGVsbG8="),
    ("training: {include: true}", "training: !!python/object:builtins.dict {include: true}"),
])
def test_yaml_tags_are_refused_with_the_line(tmp_path, old, new):
    text = BASE.replace(old, new, 1)
    assert text != BASE
    with pytest.raises(PlanError) as err:
        load_plan(_plan(tmp_path, text))
    msg = str(err.value)
    needle = new.split()[0]
    assert msg.startswith(f"final_report_v1.yaml line {_line_of(text, needle)}:"), msg
    assert "YAML tag" in msg and "not allowed" in msg, msg


@pytest.mark.parametrize("old, new, needle, message", [
    ("bootstrap: 200}", "bootstrap: -5}", "bootstrap: -5", "bootstrap -5 is out of range"),
    ("bootstrap: 200}", "bootstrap: 0}", "bootstrap: 0", "bootstrap 0 is out of range"),
    ("  target: 0.8", "  target: 7.5", "target: 7.5", "target 7.5 is out of range"),
    ("  target: 0.8", "  target: -0.1", "target: -0.1", "a proportion from 0 to 1"),
    ("n_agq: 10}", "n_agq: 0}", "n_agq: 0", "n_agq 0 is out of range"),
    ("  imputations: 20", "  imputations: -1", "imputations: -1", "imputations -1 is out"),
    ("top_box: [4, 5]", "top_box: [4, -5]", "top_box:", "top_box[1] -5 is out of range"),
    ("seed: 20240601", "seed: -1", "seed: -1", "seed -1 is out of range"),
    ("  rounding: null", "  rounding: 1", "rounding: 1", "rounding 1 is out of range"),
    ("version: 1", "version: 0", "version: 0", "version 0 is out of range"),
])
def test_settings_out_of_range_name_the_line(tmp_path, old, new, needle, message):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(PlanError) as err:
        load_plan(_plan(tmp_path, text))
    msg = str(err.value)
    assert msg.startswith(f"final_report_v1.yaml line {_line_of(text, needle)}:"), msg
    assert message in msg, msg


def test_settings_at_the_edges_of_their_range_load(tmp_path):
    text = (BASE.replace("bootstrap: 200}", "bootstrap: 1}").replace("  target: 0.8",
                                                                     "  target: 1")
            .replace("seed: 20240601", "seed: 0").replace("  threshold: 10", "  threshold: 5"))
    plan = load_plan(_plan(tmp_path, text))
    assert plan["satisfaction"]["target"] == 1.0 and plan["seed"] == 0


def test_every_range_names_a_setting_of_the_schema():
    from rpc_eval.plan import VALUE_RANGES

    for key in VALUE_RANGES:
        node: object = PLAN_SCHEMA
        for part in key.replace("[]", "").split("."):
            assert isinstance(node, dict) and part in node, key
            node = node[part][0]


def test_unreadable_plan_is_a_plan_error(tmp_path, monkeypatch):
    path = _plan(tmp_path, BASE)
    real = Path.read_bytes

    def refuse(self):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(PlanError, match="final_report_v1.yaml: the plan cannot be read "
                                        r"\(Permission denied\)"):
        load_plan(path)
