"""Building reports from plans: the notebooks run on the small dataset, every table is
disclosure-controlled, the ODS workbook is accessible, outputs are byte-identical and
the build is incremental."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from rpc_eval.cli import main
from rpc_eval.data import load
from rpc_eval.regional import interim_tables as it
from rpc_eval.report.runner import run_plan

ROOT = Path(__file__).resolve().parents[1]
FINAL = ROOT / "analysis_plans" / "final_report_v1.yaml"
INTERIM = ROOT / "analysis_plans" / "interim_report_v1.yaml"
COUNT = re.compile(r"^(n|n_.*|rows.*|referred|started|completed|dropped_out|ongoing|parents|"
                   r"practitioners|successes|events|families|denominator)$")


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small")
    assert main(["synth", "--scale", "small", "--seed", "7", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def built(small_dir, tmp_path_factory):
    """The final report built, then rebuilt from scratch in the same place (its first
    manifest kept as ``first``), and the interim report."""
    a = tmp_path_factory.mktemp("a")
    ra = run_plan(FINAL, data=small_dir, out=a)
    first = json.loads((a / "final_report_v1" / "manifest.json").read_text())
    rb = run_plan(FINAL, data=small_dir, out=a, force=True)
    ri = run_plan(INTERIM, out=a)
    return a, first, ra, rb, ri


def test_final_report_has_every_section(built):
    a, _, ra, _, _ = built
    assert ra.status == "built"
    d = a / "final_report_v1"
    manifest = json.loads((d / "manifest.json").read_text())
    outputs = manifest["outputs"]
    for name in ("data_intake", "engagement_funnel", "engagement_retention_km",
                 "engagement_cumulative_incidence", "engagement_cox_dropout",
                 "engagement_finegray_completion", "engagement_session_hazard",
                 "outcomes_change", "outcomes_reliable_change", "outcomes_attrition",
                 "outcomes_mi_sensitivity", "multilevel_outcome_fixed_effects",
                 "multilevel_icc", "multilevel_la_effects", "multilevel_completion_funnel",
                 "monitoring_parent_satisfaction_target", "monitoring_training_pre_post",
                 "monitoring_planning_stage_change", "disclosure_summary"):
        assert f"tables/{name}.csv" in outputs, name
    # which cells were suppressed and why stays with the analyst, beside the report
    assert "tables/disclosure_log.csv" not in outputs
    assert not (d / "tables" / "disclosure_log.csv").exists()
    assert (a / "final_report_v1_NOT_FOR_PUBLICATION" / "disclosure_log.csv").is_file()
    for fig in ("retention_by_intervention", "cumulative_incidence_by_intervention",
                "la_caterpillar_completion", "la_funnel_completion"):
        assert f"figures/{fig}.png" in outputs and f"figures/{fig}.svg" in outputs, fig
    html = (d / "index.html").read_text()
    assert "not proof" in html and "Limitations" in html
    alts = [m[1] for m in re.findall(r"""<img [^>]*alt=(["'])(.*?)\1""", html)]
    assert len(alts) == manifest["n_figures"] and all(len(a) > 40 for a in alts)
    assert "Traceback" not in html and "output_stderr" not in html


def test_manifest_hashes_inputs_plan_and_outputs(built, small_dir):
    a, _, _, _, _ = built
    d = a / "final_report_v1"
    m = json.loads((d / "manifest.json").read_text())
    from rpc_eval.report.publish import sha256_file

    parents = next(k for k in m["inputs"] if k.endswith("parents.csv"))
    assert m["inputs"][parents] == sha256_file(small_dir / "parents.csv")
    assert m["plan"]["sha256"] == sha256_file(FINAL)
    assert m["notebook"]["file"] == "notebooks/final_report_v1.py"
    assert m["seed"] == 20240601 and m["versions"]["pandas"] == pd.__version__
    for rel, digest in m["outputs"].items():
        assert sha256_file(d / rel) == digest, rel
    top = json.loads((a / "manifest.json").read_text())
    assert set(top["reports"]) == {"final_report_v1", "interim_report_v1"}
    index = (a / "index.html").read_text()
    assert 'href="final_report_v1/index.html"' in index


def test_two_builds_are_byte_identical(built):
    a, first, _, rb, _ = built
    assert rb.status == "built"
    again = json.loads((a / "final_report_v1" / "manifest.json").read_text())
    assert again == first  # every output (tables, figures, ODS, page, notebook) identical
    assert len(first["outputs"]) > 40


def test_no_published_count_of_people_below_threshold(built):
    a, _, _, _, _ = built
    d = a / "final_report_v1" / "tables"
    summary = pd.read_csv(d / "disclosure_summary.csv")
    people = summary.loc[summary["units"] == "people", "table"]
    checked = 0
    for table in people:
        frame = pd.read_csv(d / f"{table}.csv", dtype=str)
        for col in (c for c in frame.columns if COUNT.match(c)):
            values = pd.to_numeric(frame[col], errors="coerce").dropna()
            assert not ((values >= 1) & (values <= 9)).any(), (table, col)
            checked += 1
    assert checked > 30
    log = pd.read_csv(a / "final_report_v1_NOT_FOR_PUBLICATION" / "disclosure_log.csv")
    assert int(summary["suppressed"].sum()) == int((log["status"] != "exempt").sum())
    suppressed = log[log["status"] != "exempt"]
    assert len(suppressed) > 0  # the small dataset has small cells
    for row in suppressed.itertuples():
        frame = pd.read_csv(d / f"{row.table}.csv", dtype=str)
        assert frame.loc[int(row.row), row.column] == "[c]", row


def test_rows_reconcile_and_counts_match_the_data(built, small_dir):
    a, _, _, _, _ = built
    d = a / "final_report_v1" / "tables"
    intake = pd.read_csv(d / "data_intake.csv")
    nums = intake[["rows_read", "rows_kept", "rows_excluded"]].apply(pd.to_numeric)
    assert (nums["rows_read"] == nums["rows_kept"] + nums["rows_excluded"]).all()
    data = load(small_dir)
    by_int = pd.read_csv(d / "data_parents_by_intervention.csv", dtype=str)
    referred = pd.to_numeric(by_int["referred"], errors="coerce")
    assert referred.notna().all() and referred.sum() == len(data.parents)


def test_ods_workbook_is_accessible(built):
    a, _, _, _, _ = built
    d = a / "final_report_v1"
    ods = d / "final_report_v1.ods"
    sheets = pd.read_excel(ods, sheet_name=None, engine="odf", header=None)
    names = list(sheets)
    assert names[:3] == ["Cover", "Contents", "Notes"]
    tables = sorted(p.stem for p in (d / "tables").glob("*.csv")
                    if p.stem not in ("disclosure_log", "data_dictionary"))
    assert len(names[3:]) == len(tables) and all(len(n) <= 31 for n in names)
    # the workbook speaks in words; the CSVs keep variable names, paired by the dictionary
    funnel = sheets[next(n for n in names if n.endswith("funnel"))]
    assert "Started (%)" in set(funnel.astype(str).to_numpy().ravel())
    dictionary = pd.read_csv(d / "tables" / "data_dictionary.csv")
    hit = dictionary[(dictionary["table"] == "engagement_funnel")
                     & (dictionary["column"] == "rate_started")]
    assert hit["header"].tolist() == ["Started (%)"]
    assert set(dictionary["table"]) == set(tables)
    contents = sheets["Contents"]
    assert set(names[3:]) <= set(contents.iloc[:, 0])
    with zipfile.ZipFile(ods) as z:
        content = z.read("content.xml").decode()
    assert "number-columns-spanned" not in content and "number-rows-spanned" not in content
    for name in names[3:]:
        sheet = sheets[name]
        assert isinstance(sheet.iloc[0, 0], str) and sheet.iloc[0, 0]  # title in A1
        body = sheet.astype(str)
        assert not body.isin(["NA", "nan", "N/A"]).to_numpy().any() or sheet.shape[0] < 3, name


def test_build_is_incremental(built, small_dir):
    a, _, _, _, _ = built
    again = run_plan(FINAL, data=small_dir, out=a)
    assert again.status == "up to date" and again.seconds < 10


def test_interim_report_reproduces_the_published_tables(built):
    a, _, _, _, ri = built
    d = a / "interim_report_v1" / "tables"
    cs = it.load_case_studies(ROOT / "synthetic_data" / "interim_case_studies")
    t1 = pd.read_csv(d / "interim_table_1.csv")
    assert t1["Number of individuals interviewed"].tolist() == [9, 9, 15, 9, 35, 77]
    for tid in ("table_2", "table_3", "table_5", "table_6"):
        published = pd.read_csv(d / f"interim_{tid}.csv")
        expected = getattr(it, tid)(cs).reset_index()
        assert published.iloc[:, 1:].to_numpy().tolist() == \
            expected.iloc[:, 1:].to_numpy().tolist(), tid
    assert ri.n_tables == 7  # six interim tables and the disclosure summary


def test_bad_plan_is_a_message(tmp_path, capsys):
    bad = tmp_path / "analysis_plans"
    bad.mkdir()
    (bad / "x_v1.yaml").write_text("plan: x\nversion: 1\ncolour: blue\n")
    assert main(["run", "--plan", str(bad / "x_v1.yaml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "x_v1.yaml line 3: unknown key 'colour'" in err and "Traceback" not in err


def test_run_stops_before_analysis_on_bad_data(small_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in small_dir.glob("*.csv"):
        (bad / f.name).write_bytes(f.read_bytes())
    parents = pd.read_csv(bad / "parents.csv", dtype=str, keep_default_na=False)
    parents.loc[0, "intervention"] = "yoga"
    parents.to_csv(bad / "parents.csv", index=False)
    out = tmp_path / "r"
    assert main(["run", "--plan", str(FINAL), "--data", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Nothing was analysed" in err and "parents.csv row 2 [intervention]" in err
    assert not (out / "final_report_v1").exists()


def test_nested_funnel_differences_are_not_small(built):
    """People at one funnel stage but not the next are not published as 1..9 either:
    where both counts are published their difference is 0 or at least 10."""
    from rpc_eval.engagement.funnel import STAGES

    a, _, _, _, _ = built
    d = a / "final_report_v1" / "tables"
    funnel = pd.read_csv(d / "engagement_funnel.csv", dtype=str)
    pairs = [(f"n_{s.denominator}", f"n_{s.stage}") for s in STAGES if s.denominator]
    checked = 0
    for outer, inner in pairs + [("referred", "started")]:
        frame = funnel if outer.startswith("n_") else pd.read_csv(
            d / "data_parents_by_intervention.csv", dtype=str)
        o = pd.to_numeric(frame[outer], errors="coerce")
        i = pd.to_numeric(frame[inner], errors="coerce")
        diff = (o - i).dropna()
        assert not ((diff >= 1) & (diff <= 9)).any(), (outer, inner)
        checked += len(diff)
    assert checked > 10
    rate = funnel["rate_completed"][funnel["n_completed"] == "[c]"]
    assert (rate == "[c]").all()


def test_command_skips_reading_data_for_an_up_to_date_report(built, small_dir, capsys):
    a, _, _, _, _ = built
    assert main(["run", "--plan", str(FINAL), "--data", str(small_dir), "--out", str(a)]) == 0
    said = capsys.readouterr().out
    assert "final_report_v1: up to date" in said and "Data checked" not in said


def test_no_published_csv_cell_is_a_live_formula(built):
    """Every CSV of the built reports: no text cell (or header) that a spreadsheet would
    run as a formula (the OWASP rule; see rpc_eval.report.safe_text)."""
    a, _, _, _, _ = built
    n = 0
    for csv in sorted(a.glob("*/tables/*.csv")):
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        for v in [*frame.columns, *frame.to_numpy().ravel()]:
            n += 1
            assert not v.startswith(("=", "+", "@", "\t", "\r")), (csv.name, v)
            if v.startswith("-"):
                float(v)  # a negative number
    assert n > 1000


def test_reports_built_side_by_side_equal_those_built_one_by_one(built, small_dir,
                                                                 tmp_path):
    """run_plans with two worker processes: the same outputs, byte for byte, as run_plan
    one report after the other; the index lists both; a failure is reported in words."""
    from rpc_eval.errors import RpcEvalError
    from rpc_eval.report.runner import run_plans

    a = built[0]
    out = tmp_path / "side_by_side"
    started, ended = [], []
    results = run_plans([(FINAL, small_dir), (INTERIM, None)], out=out, jobs=2,
                        on_start=started.append, on_done=ended.append)
    assert [r.plan for r in results] == ["final_report_v1", "interim_report_v1"]
    assert [r.status for r in results] == ["built", "built"]
    assert sorted(started) == sorted(ended) == [0, 1]
    for name in ("final_report_v1", "interim_report_v1"):
        ours = json.loads((out / name / "manifest.json").read_text())["outputs"]
        theirs = json.loads((a / name / "manifest.json").read_text())["outputs"]
        assert {k: v for k, v in ours.items() if not k.endswith(".ipynb")} == {
            k: v for k, v in theirs.items() if not k.endswith(".ipynb")}
    index = (out / "index.html").read_text()
    assert "final_report_v1/index.html" in index and "interim_report_v1/index.html" in index
    # up to date now: nothing rebuilt
    again = run_plans([(FINAL, small_dir), (INTERIM, None)], out=out, jobs=2)
    assert [r.status for r in again] == ["up to date", "up to date"]
    # a plan that cannot be built: the error is the one run_plan gives, in words
    with pytest.raises(RpcEvalError, match="no data at"):
        run_plans([(INTERIM, None), (FINAL, tmp_path / "no_such_folder")], out=out, jobs=2,
                  force=True)
