"""The regional evaluation from end to end, as the README walks an LA analyst through
it: synthetic data -> collection workbook -> validate -> run -> report; then one
summary per LA -> pool across three LAs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from rpc_eval.cli import main
from rpc_eval.data.template import write_template

ROOT = Path(__file__).resolve().parents[1]
PLAN = str(ROOT / "analysis_plans" / "regional_evaluation_template_v1.yaml")


@pytest.fixture(scope="module")
def workbook(tmp_path_factory, synthetic) -> Path:
    data, _ = synthetic("small", 5, n_las=3, n_parents=360)
    return write_template(tmp_path_factory.mktemp("wb") / "filled.xlsx", data=data)


def test_workbook_validates(workbook, capsys):
    assert main(["validate", str(workbook), "--quiet"]) == 0
    assert "Valid" in capsys.readouterr().out


def test_run_writes_the_report_from_the_workbook(workbook, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["run", "--plan", PLAN, "--data", str(workbook), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "regional_evaluation_template_v1: built" in said
    assert "Disclosure control:" in said and "Open " in said
    assert "parents were referred" in said
    assert "Main outcome, Couples Satisfaction Index, 4 items (CSI-4) (total score)" in said
    d = out / "regional_evaluation_template_v1"
    manifest = json.loads((d / "manifest.json").read_text())
    # the data are named by file name and hash, never by the path on this computer
    assert manifest["inputs"] == {workbook.name: manifest["inputs"][workbook.name]}
    assert manifest["data"] == workbook.name
    assert str(workbook.parent) not in (d / "manifest.json").read_text()
    assert "regional_evaluation_template_v1.ods" in manifest["outputs"]
    html = (d / "index.html").read_text()
    for section in ("Referrals and engagement", "outcomes", "Limitations", "not proof"):
        assert section in html, section
    # the summary and a contents list come before the first section
    assert html.index('id="summary"') < html.index('id="contents"') < html.index(
        "The data</h2>")
    assert "parents were referred" in html[:html.index('id="contents"')]
    assert str(workbook.parent) not in html
    sheets = pd.read_excel(d / "regional_evaluation_template_v1.ods", sheet_name=None,
                           engine="odf", header=None)
    assert "eng_funnel" in sheets or "engagement_funnel" in sheets
    funnel = pd.read_csv(d / "tables" / "engagement_funnel.csv", dtype=str)
    counts = funnel[[c for c in funnel.columns if c.startswith("n_")]]
    n = pd.to_numeric(counts.stack(), errors="coerce").dropna()
    assert not ((n >= 1) & (n <= 9)).any()
    assert (counts == "[c]").to_numpy().any()  # small numbers: some cells are suppressed
    both = pd.read_csv(d / "tables" / "pooling_one_vs_two_stage.csv")
    assert set(both["method"]) == {"one_stage", "two_stage"}
    pairs = both.pivot_table(index=["instrument", "scale"], columns="method",
                             values=["estimate", "std_error"])
    gap = (pairs["estimate"]["one_stage"] - pairs["estimate"]["two_stage"]).abs()
    assert (gap < pairs["std_error"].min(axis=1)).all()  # the two routes agree


def test_summarise_three_las_and_pool(workbook, tmp_path, capsys):
    files = []
    for code in ("LA001", "LA002", "LA003"):
        f = tmp_path / f"{code}.json"
        assert main(["summarise", "--plan", PLAN, "--data", str(workbook), "--la", code,
                     "--out", str(f), "--quiet"]) == 0
        text = f.read_text()
        assert not re.search(r"P\d{5}|F\d{5}", text)  # no parent or family ids
        files.append(str(f))
    out = tmp_path / "pooled"
    assert main(["pool", *files, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "3 LAs" in said or "three" in said.lower()
    for name in ("index.html", "pooled.ods", "manifest.json", "tables/meta.csv"):
        assert (out / name).is_file(), name
    meta = pd.read_csv(out / "tables" / "meta.csv")
    assert set(meta["k"]) <= {2, 3} and meta["estimate"].notna().any()
    # the same LA twice is refused, in plain words
    assert main(["pool", files[0], files[0], "--out", str(tmp_path / "dup")]) == 2
    assert "Traceback" not in capsys.readouterr().err
