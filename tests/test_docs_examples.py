"""Every Python example in README.md and docs/*.md runs as written.

The blocks of one file run in order in one namespace (a later block may use a name an
earlier one set, as a reader following the page would). A few examples name files the
reader is assumed to have (``path/to/my-data``, a delivery, a questionnaire of their
own); the test makes exactly those, in a temporary folder, before running the page's
blocks there. A new Python block in a page that names something no block defines fails
here, so the examples cannot drift from the code.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path

import pytest

from rpc_eval.cli import main

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]


def _blocks(page: str) -> list[str]:
    return BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


def _small_dataset(folder: Path) -> Path:
    assert main(["synth", "--scale", "small", "--seed", "3", "--out", str(folder),
                 "--quiet"]) == 0
    return folder


def _setup_data_model(work: Path) -> dict:
    _small_dataset(work / "path" / "to" / "my-data")
    return {}


def _setup_deliveries(work: Path) -> dict:
    assert main(["synth", "--wide", "--scale", "small", "--out", str(work / "delivery"),
                 "--quiet"]) == 0
    (work / "docs" / "examples").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "examples" / "wide_delivery_mapping.yaml",
                work / "docs" / "examples")
    return {}


def _setup_instruments(work: Path) -> dict:
    import yaml

    import rpc_eval.data as rd

    data = rd.load(_small_dataset(work / "data"))
    # the page's own recipe: a copy of parent_satisfaction.yaml under a new name
    src = ROOT / "rpc_eval" / "instruments" / "definitions" / "parent_satisfaction.yaml"
    spec = yaml.safe_load(src.read_text(encoding="utf-8"))
    spec["name"] = "la_course_feedback"
    spec["kind"] = "local"
    own = work / "my_evaluation" / "instruments"
    own.mkdir(parents=True)
    (own / "la_course_feedback.yaml").write_text(yaml.safe_dump(spec, sort_keys=False),
                                                 encoding="utf-8")
    answers = data.responses[data.responses["instrument"] == "parent_satisfaction"]
    responses = answers.assign(instrument="la_course_feedback")
    return {"data": data, "responses": responses}


#: page -> what the reader is assumed to have before its examples
SETUP = {
    "docs/data-model.md": _setup_data_model,
    "docs/deliveries.md": _setup_deliveries,
    "docs/instruments.md": _setup_instruments,
}


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)])
def test_every_python_example_runs(page, tmp_path, monkeypatch):
    blocks = _blocks(page)
    if page == "README.md":
        work = ROOT  # the README's examples use the committed synthetic data
    else:
        work = tmp_path
    namespace: dict = {"__name__": "__docs__"}
    monkeypatch.chdir(work)
    if page in SETUP:
        namespace.update(SETUP[page](tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # examples may warn (small data); they must run
        for i, code in enumerate(blocks):
            try:
                exec(compile(code, f"{page} (Python block {i + 1})", "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - report which block failed, and how
                raise AssertionError(f"{page}, Python block {i + 1} does not run: "
                                     f"{type(exc).__name__}: {exc}") from exc
    assert os.getcwd() == str(work)


def test_every_page_with_python_is_covered():
    """A page whose examples need files of the reader's gets a setup here."""
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        if page != "README.md" and "path/to" in "".join(_blocks(page)):
            assert page in SETUP, page
        assert text.count("```python") == len(_blocks(page))
