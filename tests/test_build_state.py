"""Trust and recovery of report builds: which notebooks run, and how a build copes with
damaged state, edited outputs, hidden data files, a second run, a user's files and an
interrupted run. A tiny report (one table) keeps the builds quick; it is a draft plan in
a folder of its own, run with ``allow_notebooks_from``."""

import hashlib
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from rpc_eval.cli import main
from rpc_eval.errors import RpcEvalError
from rpc_eval.plan import load_plan
from rpc_eval.report.runner import (
    PROJECT_ROOT,
    build_lock,
    is_up_to_date,
    run_plan,
    trusted_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
BASE = (ROOT / "analysis_plans" / "final_report_v1.yaml").read_text(encoding="utf-8")

NOTEBOOK = '''# %% tags=["parameters"]
plan_path = None
data_path = None
out_dir = None

# %%
import pandas as pd
from rpc_eval.report.disclosure import TableSpec
from rpc_eval.report.notebook import open_report

report = open_report(plan_path, out_dir)
frame = pd.DataFrame({"la_code": ["LA001", '=HYPERLINK("http://x","click")',
                                   "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "\\tx"],
                      "n": [40, 50, 60, 70, 80, 90], "change": [-1.5, 2.0, 0.5, 1, 2, 3]})
report.table("codes", frame, "Parents by LA", spec=TableSpec(counts=("n",), safe=("change",)))
report.finish()
'''


def _tiny(tmp_path: Path, notebook: str = NOTEBOOK, status: str = "draft") -> Path:
    """A repository-like folder with a draft plan driving a one-table notebook."""
    repo = tmp_path / "repo"
    (repo / "analysis_plans").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    data = repo / "synthetic_data" / "default"
    (data / "codebooks").mkdir(parents=True)
    (data / "parents.csv").write_text("parent_id\nP1\n")
    (repo / "notebooks" / "final_report_v1.py").write_text(notebook, encoding="utf-8")
    (repo / "analysis_plans" / "final_report_v1.md").write_text("# plan, threshold 10\n")
    text = (BASE.replace("status: published", f"status: {status}")
            .replace("  kind: evaluation", "  kind: case_studies")  # the CLI skips intake
            .replace("    - data_planning_returns\n", "")
            .replace("    - monitoring_planning_stages\n", "")
            .replace("    - monitoring_planning_stage_change\n", "")
            .replace("  organisational_tables:\n", "  organisational_tables: []\n"))
    plan = repo / "analysis_plans" / "final_report_v1.yaml"
    plan.write_text(text, encoding="utf-8")
    return plan


def _build(plan: Path, out: Path, **kw):
    return run_plan(plan, out=out, allow_notebooks_from=[plan.parent.parent / "notebooks"],
                    **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    plan = _tiny(tmp)
    out = tmp / "out"
    result = _build(plan, out)
    return plan, out, result


# --- which notebooks run ----------------------------------------------------------------
def test_project_plans_pass_the_trust_check():
    for name in ("final_report_v1", "interim_report_v1", "regional_evaluation_template_v1"):
        plan = load_plan(ROOT / "analysis_plans" / f"{name}.yaml")
        assert trusted_notebook(plan) == plan.notebook_path.read_bytes()
    assert (PROJECT_ROOT / "notebooks").resolve() == (ROOT / "notebooks").resolve()


def test_notebook_outside_the_project_is_not_run(tmp_path, capsys):
    plan = _tiny(tmp_path)
    out = tmp_path / "out"
    assert main(["run", "--plan", str(plan), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not one of this project's notebooks" in err
    assert "--allow-notebooks-from" in err and "Traceback" not in err
    assert not (out / "final_report_v1").exists()


def test_published_plan_runs_only_its_recorded_notebook(tmp_path):
    plan_path = _tiny(tmp_path, status="published")
    allow = [plan_path.parent.parent / "notebooks"]
    plan = load_plan(plan_path)
    with pytest.raises(RpcEvalError, match="records no hash for its notebook"):
        trusted_notebook(plan, allow)
    record = plan_path.parent / "published.json"
    digest = hashlib.sha256(plan.notebook_path.read_bytes()).hexdigest()
    record.write_text(json.dumps({"notebooks/final_report_v1.py": digest}))
    assert trusted_notebook(plan, allow) == plan.notebook_path.read_bytes()
    plan.notebook_path.write_text(NOTEBOOK + "import os\n", encoding="utf-8")
    with pytest.raises(RpcEvalError, match="is not the one published with this plan"):
        trusted_notebook(plan, allow)
    record.write_text("{ truncated")
    with pytest.raises(RpcEvalError, match="not valid JSON"):
        trusted_notebook(plan, allow)


def test_allow_flag_must_name_a_folder(tmp_path, capsys):
    plan = _tiny(tmp_path)
    assert main(["run", "--plan", str(plan), "--out", str(tmp_path / "o"),
                 "--allow-notebooks-from", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_notebook_without_kernelspec_runs(built):
    # NOTEBOOK has no jupytext header, so no kernelspec: the build works all the same
    _, _, result = built
    assert result.status == "built" and result.n_tables == 1


# --- no live formulas in CSV --------------------------------------------------------------
def test_published_csv_cells_are_not_formulas(built):
    _, out, _ = built
    for csv in (out / "final_report_v1" / "tables").glob("*.csv"):
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        for v in [*frame.columns, *frame.to_numpy().ravel()]:
            assert not v.startswith(("=", "+", "@", "\t", "\r")), (csv.name, v)
            if v.startswith("-"):
                float(v)  # a negative number, not a formula
    codes = pd.read_csv(out / "final_report_v1" / "tables" / "codes.csv", dtype=str)
    assert list(codes["la_code"]) == ["LA001", '\'=HYPERLINK("http://x","click")',
                                      "'+cmd|' /C calc'!A0", "'@SUM(1)", "'-2+3", "'\tx"]
    assert list(codes["change"]) == ["-1.5", "2.0", "0.5", "1.0", "2.0", "3.0"]


# --- recovery -----------------------------------------------------------------------------
def test_damaged_stamp_or_manifest_means_rebuild(tmp_path):
    plan = _tiny(tmp_path)
    out = tmp_path / "out"
    _build(plan, out)
    rdir = out / "final_report_v1"
    for name in (".build.json", "manifest.json"):
        f = rdir / name
        f.write_bytes(f.read_bytes()[:40])  # truncated
        assert not is_up_to_date(plan, out=out)
        assert _build(plan, out).status == "built"
        assert is_up_to_date(plan, out=out)
        f.write_bytes(b"\xff\xfe not json")
        assert _build(plan, out, force=True).status == "built"
    assert json.loads((rdir / "manifest.json").read_text())["n_tables"] == 1


def test_edited_output_is_not_up_to_date(tmp_path):
    plan = _tiny(tmp_path)
    out = tmp_path / "out"
    _build(plan, out)
    assert _build(plan, out).status == "up to date"
    table = out / "final_report_v1" / "tables" / "codes.csv"
    original = table.read_bytes()
    table.write_text("la_code,n\nLA001,3\n")
    assert not is_up_to_date(plan, out=out)
    result = _build(plan, out)
    assert result.status == "built" and table.read_bytes() == original
    # the edited copy is someone's work: kept beside the report, not deleted
    assert [p.read_text() for p in result.moved_aside] == ["la_code,n\nLA001,3\n"]
    assert _build(plan, out).status == "up to date"


def test_hidden_data_files_count_as_a_change(tmp_path):
    plan = _tiny(tmp_path)
    out = tmp_path / "out"
    _build(plan, out)
    hidden = plan.parent.parent / "synthetic_data" / "default" / "codebooks" / ".local.yaml"
    hidden.write_text("interventions: []\n")
    assert not is_up_to_date(plan, out=out)
    assert _build(plan, out).status == "built"
    manifest = json.loads((out / "final_report_v1" / "manifest.json").read_text())
    assert "synthetic_data/default/codebooks/.local.yaml" in manifest["inputs"]


def test_user_file_in_report_folder_is_moved_aside_not_deleted(tmp_path, capsys):
    plan = _tiny(tmp_path)
    out = tmp_path / "out"
    _build(plan, out)
    mine = out / "final_report_v1" / "tables" / "my_notes.txt"
    mine.write_text("my notes\n")
    result = _build(plan, out, force=True)
    assert len(result.moved_aside) == 1
    kept = result.moved_aside[0]
    assert kept.read_text() == "my notes\n" and not mine.exists()
    assert kept.relative_to(out).parts[0].startswith("final_report_v1.moved-aside-")
    # the command says so
    (out / "final_report_v1" / "my_other.txt").write_text("x\n")
    assert main(["run", "--plan", str(plan), "--out", str(out), "--force", "--quiet",
                 "--allow-notebooks-from", str(plan.parent.parent / "notebooks")]) == 0
    err = capsys.readouterr().err
    assert "were moved, not deleted, to" in err
    moved = [p for p in out.glob("final_report_v1.moved-aside-*/my_other.txt")]
    assert len(moved) == 1


def _hold_lock(out: str, ready, release) -> None:
    with build_lock(out):
        ready.set()
        release.wait(30)


def test_second_run_into_the_same_folder_is_refused(tmp_path, capsys):
    plan = _tiny(tmp_path)
    out = tmp_path / "out"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(out), ready, release))
    p.start()
    try:
        assert ready.wait(60)
        with pytest.raises(RpcEvalError, match="another rpc-eval run is writing reports to"):
            _build(plan, out)
        assert main(["run", "--plan", str(plan), "--out", str(out), "--allow-notebooks-from",
                     str(plan.parent.parent / "notebooks")]) == 2
        err = capsys.readouterr().err
        assert "another rpc-eval run" in err and f"process {p.pid}" in err
    finally:
        release.set()
        p.join(30)
    assert _build(plan, out).status == "built"  # the lock went with the process


def _killed_holder(out: str, ready) -> None:
    with build_lock(out):
        ready.set()
        time.sleep(60)


def test_lock_of_a_killed_run_does_not_block(tmp_path):
    out = tmp_path / "out"
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_killed_holder, args=(str(out), ready))
    p.start()
    assert ready.wait(60)
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    with build_lock(out):
        pass


def test_index_lists_only_complete_reports(tmp_path):
    from rpc_eval.report.runner import write_index

    plan = _tiny(tmp_path)
    out = tmp_path / "out"
    _build(plan, out)
    assert "final_report_v1/index.html" in (out / "index.html").read_text()
    # a build that was killed after clearing the folder leaves the marker and no outputs
    rdir = out / "final_report_v1"
    (rdir / "final_report_v1.ipynb").unlink()
    (rdir / ".building").write_text("")
    write_index(out)
    assert "final_report_v1/index.html" not in (out / "index.html").read_text()
    assert json.loads((out / "manifest.json").read_text()) == {"reports": {}}
    (rdir / ".building").unlink()
    write_index(out)  # outputs missing: still not listed
    assert "final_report_v1/index.html" not in (out / "index.html").read_text()
    (rdir / "manifest.json").write_text("{")  # damaged: not listed, no crash
    write_index(out)
    assert _build(plan, out).status == "built"
    assert "final_report_v1/index.html" in (out / "index.html").read_text()


def _build_then_die(plan: str, out: str, allow: str) -> None:
    import rpc_eval.report.runner as runner

    original = runner._run_notebook

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    runner._run_notebook = die
    runner.run_plan(plan, out=out, force=True, allow_notebooks_from=[allow])


def test_index_after_a_killed_build_leaves_the_report_out(tmp_path):
    plan = _tiny(tmp_path)
    out = tmp_path / "out"
    _build(plan, out)
    assert "final_report_v1/index.html" in (out / "index.html").read_text()
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_build_then_die,
                    args=(str(plan), str(out), str(plan.parent.parent / "notebooks")))
    p.start()
    p.join(120)
    assert p.exitcode == -signal.SIGKILL
    assert "final_report_v1/index.html" not in (out / "index.html").read_text()
    assert not is_up_to_date(plan, out=out)
    assert _build(plan, out).status == "built"
    assert "final_report_v1/index.html" in (out / "index.html").read_text()


def test_hashing_once_hashes_a_changed_file_again(tmp_path):
    """Within one command a data file is hashed once, unless it changes meanwhile."""
    import hashlib
    import os

    from rpc_eval.report.runner import _data_digest, hashing_once

    f = tmp_path / "parents.csv"
    f.write_bytes(b"parent_id\nP1\n")
    with hashing_once():
        first = _data_digest(f)
        assert first == hashlib.sha256(b"parent_id\nP1\n").hexdigest()
        assert _data_digest(f) == first
        f.write_bytes(b"parent_id\nP2\n")  # same size, new content
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert _data_digest(f) == hashlib.sha256(b"parent_id\nP2\n").hexdigest()
        f.write_bytes(b"parent_id\nP1\nP3\n")  # another size
        assert _data_digest(f) == hashlib.sha256(b"parent_id\nP1\nP3\n").hexdigest()
    f.write_bytes(b"parent_id\nP9\n")  # outside the block nothing is kept
    assert _data_digest(f) == hashlib.sha256(b"parent_id\nP9\n").hexdigest()
