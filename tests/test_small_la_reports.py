"""Any valid dataset gets a report: the regional plan built on small and odd workbooks.

The matrix: one LA of 25, of 8 and of 3 parents; 5 LAs of 11 parents; many LAs of one
parent each; a workbook with no questionnaires, no attendance and no training sheet; and
the empty workbook, which is refused before the build with a sentence. Each built report
must be complete (page, tables, workbook, manifest), its sections either shown or left
out with a plain sentence, and its page free of Python words and local paths.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from rpc_eval.cli import main
from rpc_eval.data.model import empty_table
from rpc_eval.data.template import write_template
from rpc_eval.report.runner import run_plan
from rpc_eval.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "analysis_plans" / "regional_evaluation_template_v1.yaml"

#: Words a reader of the page must never meet.
PYTHON_WORDS = re.compile(r"Traceback|Error\b|Warning:|Exception|NaN\b|\bnan\b|None\b|"
                          r"C\(intervention\)|\[T\.|rate_started|n_paired|_NOT_FOR_PUB")


def one_parent_per_la(n_las: int, seed: int = 3):
    """A valid dataset of ``n_las`` LAs with one parent each (the generator draws at
    least two per LA: keep each LA's first parent and everything about that parent)."""
    data, _ = generate("small", seed=seed, n_las=n_las, n_parents=2 * n_las)
    keep = data.parents.drop_duplicates("la_code", keep="first")
    ids = set(keep["parent_id"])
    return dataclasses.replace(
        data, parents=keep.reset_index(drop=True),
        attendance=data.attendance[data.attendance["parent_id"].isin(ids)]
        .reset_index(drop=True),
        responses=data.responses[data.responses["parent_id"].isin(ids)]
        .reset_index(drop=True))


def without_optional_tables(n_parents: int = 60):
    """A valid dataset with no questionnaires, no attendance and no training answers."""
    data, _ = generate("small", seed=4, n_las=2, n_parents=n_parents)
    return dataclasses.replace(
        data, responses=empty_table("responses"), attendance=empty_table("attendance"),
        practitioners=empty_table("practitioners"),
        training_responses=empty_table("training_responses"))


def _dataset(case: str):
    if case == "one_la_25":
        return generate("small", seed=3, n_las=1, n_parents=25)[0]
    if case == "one_la_8":
        return generate("small", seed=3, n_las=1, n_parents=8)[0]
    if case == "one_la_3":
        return generate("small", seed=3, n_las=1, n_parents=3)[0]
    if case == "five_las_of_11":
        return generate("small", seed=3, n_las=5, n_parents=55)[0]
    if case == "many_las_of_one":
        return one_parent_per_la(40)
    if case == "no_questionnaires_attendance_training":
        return without_optional_tables()
    raise KeyError(case)


CASES = ["one_la_25", "one_la_8", "one_la_3", "five_las_of_11", "many_las_of_one",
         "no_questionnaires_attendance_training"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for case in CASES:
        d = tmp_path_factory.mktemp(case)
        wb = write_template(d / f"{case}.xlsx", data=_dataset(case))
        result = run_plan(PLAN, data=wb, out=d / "report")
        assert result.status == "built"
        out[case] = result.out_dir
    return out


@pytest.mark.parametrize("case", CASES)
def test_every_valid_dataset_gets_a_complete_report(built, case):
    d = built[case]
    manifest = json.loads((d / "manifest.json").read_text())
    for name in manifest["outputs"]:
        assert (d / name).is_file(), name
    assert "index.html" in manifest["outputs"]
    assert "tables/data_dictionary.csv" in manifest["outputs"]
    html = (d / "index.html").read_text()
    assert "<h2" in html and "Limitations" in html


@pytest.mark.parametrize("case", CASES)
def test_the_page_speaks_in_words(built, case):
    d = built[case]
    html = (d / "index.html").read_text()
    text = re.sub(r"<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    hit = PYTHON_WORDS.search(text)
    assert hit is None, text[max(0, hit.start() - 200): hit.end() + 200]
    assert str(d.parent.parent) not in html  # no local path
    manifest = (d / "manifest.json").read_text()
    assert str(d.parent.parent) not in manifest


def test_one_intervention_still_gets_its_engagement_section(built):
    """An LA offering one intervention: the tests comparing interventions are left out
    with a sentence; the funnel and the rest of the section are still shown."""
    html = (built["one_la_3"] / "index.html").read_text()
    assert "Referral funnel" in html
    assert "The test comparing dropout between interventions is left out" in html


def test_left_out_figures_say_why_in_a_sentence(built):
    html = (built["one_la_8"] / "index.html").read_text()
    assert "Retention is not shown" in html
    assert not list((built["one_la_8"] / "figures").glob("retention*"))
    # every image on every page has a visible caption
    for d in built.values():
        page = (d / "index.html").read_text()
        assert page.count("<img") == page.count("<figcaption>")


def test_figure_draws_only_published_steps_and_marks_merged_ones(built):
    d = built["five_las_of_11"]
    km = pd.read_csv(d / "tables" / "engagement_retention_km.csv")
    html = (d / "index.html").read_text()
    if len(km):
        assert (d / "figures" / "retention_by_intervention.png").is_file()
        assert "dotted line joins points with merged sessions" in html


def test_empty_workbook_is_refused_before_the_build(tmp_path, capsys):
    wb = write_template(tmp_path / "empty.xlsx")
    out = tmp_path / "report"
    assert main(["run", "--plan", str(PLAN), "--data", str(wb), "--out", str(out)]) != 0
    said = capsys.readouterr()
    text = said.out + said.err
    assert "the workbook has no parents yet" in text
    assert "Traceback" not in text and "ValueError" not in text
    assert not (out / "regional_evaluation_template_v1" / "index.html").exists()


def test_a_failing_notebook_keeps_its_log_and_says_where(tmp_path, capsys, monkeypatch):
    """A fault inside an analysis: the user reads a sentence naming the kept files; the
    executed notebook and the full error are beside the report, not in it."""
    data, _ = generate("small", seed=3, n_las=2, n_parents=40)
    wb = write_template(tmp_path / "wb.xlsx", data=data)
    # a plan whose notebook divides by zero, in a project of its own, run from a folder
    # the user trusts
    nbdir = tmp_path / "project" / "notebooks"
    plans = tmp_path / "project" / "analysis_plans"
    nbdir.mkdir(parents=True)
    plans.mkdir()
    (nbdir / "broken.py").write_text("# %% tags=[\"parameters\"]\nplan_path = None\n"
                                     "data_path = None\nout_dir = None\n\n# %%\n1 / 0\n")
    plan = plans / "regional_evaluation_template_v1.yaml"
    plan.write_text(PLAN.read_text().replace("status: published", "status: draft").replace(
        "notebook: notebooks/regional_evaluation_template_v1.py",
        "notebook: notebooks/broken.py"))
    (plans / "regional_evaluation_template_v1.md").write_text("# plan\n")
    out = tmp_path / "report"
    code = main(["run", "--plan", str(plan), "--data", str(wb), "--out", str(out),
                 "--allow-notebooks-from", str(nbdir)])
    said = capsys.readouterr()
    text = said.out + said.err
    assert code != 0
    assert "Traceback" not in text and "ZeroDivisionError" not in text
    private = out / "regional_evaluation_template_v1_NOT_FOR_PUBLICATION"
    assert str(private / "build_failed.log") in text.replace("\n", "")
    log = (private / "build_failed.log").read_text()
    assert "ZeroDivisionError" in log and "1 / 0" in log
    assert (private / "build_failed.ipynb").is_file()


def test_analysis_messages_become_sentences_without_codes_or_counts():
    """What the analyses say for the analyst is never published as it is: class names,
    codes and small numbers of people stay in the analyst's notes."""
    from rpc_eval.report.notes import GENERIC, plain_note

    messages = [
        "RpcEvalWarning: only 5 clusters in 'la_code': the cluster-robust (sandwich) "
        "standard errors are biased downwards with few clusters",
        "ConvergenceWarning: coefficient(s) ['intervention[T.enhanced_triple_p]'] appear to "
        "be infinite",
        "Outcome model not fitted: the outcome 'score_end' is constant (10) in all 1 rows "
        "used, so there is no variation to model.",
        "Cox model of dropout not fitted: cluster-robust standard errors need at least 2 "
        "clusters; 'la_code' has only 1 ('LA001') in the rows used. Fit without cluster=",
        "6 funnel rate(s) have a zero denominator and are left blank (NaN), e.g. "
        "standard_triple_p / responded_12m",
        "The pooling comparison left out: the comparison needs data from at least 2 LAs",
    ]
    for m in messages:
        s = plain_note(m)
        assert s and s != GENERIC, m
        assert not re.search(r"Warning|Error|la_code|\[T\.|_|NaN|LA001|\(10\)|all 1 rows", s), s
        assert s.endswith(".") and s[0].isupper(), s
    assert "5 LAs" in plain_note(messages[0])  # numbers of LAs are organisations
    assert plain_note("group 'x' has a single subject") is None  # nothing for the page
    assert plain_note("something nobody foresaw about P0001") == GENERIC
