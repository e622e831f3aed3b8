"""The rpc-eval command: exit codes, messages without tracebacks, files written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rpc_eval.cli import main


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small")
    assert main(["synth", "--scale", "small", "--seed", "7", "--out", str(out), "--quiet"]) == 0
    return out


def test_synth_writes_tables_truth_and_readme(small_dir):
    for table in ("las", "parents", "attendance", "responses", "practitioners",
                  "training_responses", "planning_tool"):
        assert (small_dir / f"{table}.csv").exists(), table
    truth = json.loads((small_dir / "truth.json").read_text())
    assert truth["seed"] == 7 and truth["scale"] == "small"
    readme = (small_dir / "README.md").read_text()
    assert "rpc-eval synth --scale small --seed 7" in readme


def test_validate_valid_dataset_exits_0(small_dir, capsys):
    assert main(["validate", str(small_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Valid" in out and "0 error(s)" in out


def _corrupt(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.glob("*.csv"):
        (dst / f.name).write_bytes(f.read_bytes())
    parents = pd.read_csv(dst / "parents.csv", dtype=str, keep_default_na=False)
    parents.loc[2, "exit_reason"] = "finished"  # spreadsheet row 4
    parents.to_csv(dst / "parents.csv", index=False)
    return dst


def test_validate_invalid_dataset_exits_2_and_writes_report(small_dir, tmp_path, capsys):
    bad = _corrupt(small_dir, tmp_path / "bad")
    report = tmp_path / "problems.csv"
    assert main(["validate", str(bad), "--report", str(report), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "parents.csv row 4 [exit_reason]: unknown exit_reason code" in captured.out
    assert "fix: use one of: completed, dropped_out, ongoing, not_started" in captured.out
    assert "Not valid" in captured.err
    problems = pd.read_csv(report)
    hit = problems[(problems["file"] == "parents.csv") & (problems["row"] == 4)]
    assert list(hit["column"]) == ["exit_reason"] and hit["value"].iloc[0] == "finished"


def test_validate_never_prints_identifiers(small_dir, tmp_path, capsys):
    bad = tmp_path / "orphans"
    bad.mkdir()
    for f in small_dir.glob("*.csv"):
        (bad / f.name).write_bytes(f.read_bytes())
    att = pd.read_csv(bad / "attendance.csv", dtype=str, keep_default_na=False)
    att.loc[0, "parent_id"] = "SECRET-ID-123"
    att.to_csv(bad / "attendance.csv", index=False)
    assert main(["validate", str(bad), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "SECRET-ID-123" not in captured.out + captured.err
    assert "attendance.csv row 2 [parent_id]: parent_id is not in the parents table" in captured.out


def test_missing_folder_is_a_message_not_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rpc_eval.cli", "validate",
                           str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_arguments_exit_2_with_usage():
    proc = subprocess.run([sys.executable, "-m", "rpc_eval.cli", "synth", "--scale", "huge",
                           "--out", "x"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice: 'huge'" in proc.stderr


def test_pseudonymise_key_from_environment(small_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RPC_TEST_KEY", raising=False)
    assert main(["validate", str(small_dir), "--pseudonymise-key-env", "RPC_TEST_KEY",
                 "--quiet"]) == 2
    assert "RPC_TEST_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("RPC_TEST_KEY", "a-long-secret-key-for-tests")
    assert main(["validate", str(small_dir), "--pseudonymise-key-env", "RPC_TEST_KEY",
                 "--quiet"]) == 0


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("rpc-eval")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                          env={**os.environ})
    assert proc.returncode == 0 and proc.stdout.startswith("rpc-eval ")
