"""Every report page rendered in a real browser (headless Chromium, driven by
Playwright), checked as a reader with assistive technology would meet it.

For each page -- the final, interim and regional reports, the regional report of small
LAs (one LA of 8 parents; 5 LAs of 11), the pooled regional report -- the test fails on:

- any error written to the browser console (a broken script or resource);
- any image that did not load;
- any axe-core violation of impact "serious" or "critical" under the WCAG 2.0, 2.1 and
  2.2 A and AA rules (axe-core as shipped by ``axe-playwright-python``);

and saves a full-page screenshot of each page in the test's temporary folder (and in
the folder ``RPC_EVAL_SCREENSHOTS`` names, when set, to keep them).

Chromium comes from Debian (``apt-get install chromium``); ``.ci/run`` installs it when
it is missing, so CI always runs this test. On a developer machine without it the test
is skipped with the command that installs it; under CI it fails instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rpc_eval.cli import main
from rpc_eval.data.template import write_template
from rpc_eval.report.runner import run_plan

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "analysis_plans"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

pytestmark = pytest.mark.slow


def _dataset(case: str):
    """A small-LA dataset of the matrix in ``test_small_la_reports.py`` (one builder for
    both tests; test files are not a package, so it is loaded by its path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_small_la_cases", Path(__file__).with_name("test_small_la_reports.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._dataset(case)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is not installed: .ci/run should have installed it "
                    "(apt-get install chromium)")
    pytest.skip("Chromium is not installed; install it with: apt-get install chromium")


@pytest.fixture(scope="module")
def pages(tmp_path_factory, synthetic) -> dict[str, Path]:
    """Build every kind of report page once: final, interim and regional reports from
    the small synthetic data, and a pooled report from three LA summaries."""
    small = tmp_path_factory.mktemp("small")
    assert main(["synth", "--scale", "small", "--seed", "7", "--out", str(small),
                 "--quiet"]) == 0
    out = tmp_path_factory.mktemp("reports")
    run_plan(PLANS / "final_report_v1.yaml", data=small, out=out)
    run_plan(PLANS / "interim_report_v1.yaml", out=out)
    run_plan(PLANS / "regional_evaluation_template_v1.yaml", data=small, out=out)

    data, _ = synthetic("small", 5, n_las=3, n_parents=360)
    wb = write_template(tmp_path_factory.mktemp("wb") / "filled.xlsx", data=data)
    sums = tmp_path_factory.mktemp("summaries")
    files = []
    for la in sorted(data.las["la_code"]):
        f = sums / f"{la}.json"
        assert main(["summarise", "--plan", str(PLANS / "regional_evaluation_template_v1.yaml"),
                     "--data", str(wb), "--la", la, "--out", str(f)]) == 0
        files.append(str(f))
    pooled = tmp_path_factory.mktemp("pooled")
    assert main(["pool", *files, "--out", str(pooled)]) == 0
    small_las = {}
    for case in ("one_la_8", "five_las_of_11"):
        d = tmp_path_factory.mktemp(case)
        book = write_template(d / f"{case}.xlsx", data=_dataset(case))
        small_las[case] = run_plan(PLANS / "regional_evaluation_template_v1.yaml",
                                   data=book, out=d / "report").out_dir / "index.html"
    found = {
        "final": out / "final_report_v1" / "index.html",
        "interim": out / "interim_report_v1" / "index.html",
        "regional": out / "regional_evaluation_template_v1" / "index.html",
        "pooled": pooled / "index.html",
        "small_la": small_las["one_la_8"],
        "five_small_las": small_las["five_las_of_11"],
    }
    for name, page in found.items():
        assert page.is_file(), f"{name} report page was not written: {page}"
    return found


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("name", ["final", "interim", "regional", "pooled", "small_la",
                                  "five_small_las"])
def test_page_renders_and_passes_axe(name, pages, browser, tmp_path):
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(pages[name].resolve().as_uri(), wait_until="load")

    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("RPC_EVAL_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)

    broken = page.evaluate(
        "Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    n_images = page.evaluate("document.images.length")
    assert not broken, f"{name}: images that did not load: {broken}"
    assert not failed, f"{name}: resources that failed to load: {failed}"
    assert not console_errors, f"{name}: browser console errors: {console_errors}"
    if name in ("final", "regional", "pooled"):  # interim: tables only; small LAs: the
        assert n_images > 0, f"{name}: the page shows no figure"  # figures may be left out
    # every figure has a visible caption; every figure left out says so in a sentence
    n_captions = page.evaluate("document.querySelectorAll('figure figcaption').length")
    assert n_captions == n_images, f"{name}: {n_images} images, {n_captions} captions"
    if name == "small_la":
        assert page.get_by_text("Retention is not shown").count() == 1

    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    response = result.response
    assert response["testEngine"]["name"] == "axe-core"
    assert len(response["passes"]) >= 5  # the rules really ran on real content
    bad = [(v["id"], v["impact"], len(v["nodes"]), v["nodes"][0]["html"][:120])
           for v in response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: serious or critical accessibility violations: {bad}"
    page.close()


def test_axe_finds_a_planted_violation(browser, tmp_path):
    """The check itself can fail: an image without alt text and low-contrast text are
    reported as violations."""
    from axe_playwright_python.sync_playwright import Axe

    html = tmp_path / "bad.html"
    html.write_text('<!doctype html><html lang="en"><head><title>t</title></head><body>'
                    '<main><h1>t</h1><img src="x.png">'
                    '<p style="color:#eee;background:#fff">faint</p></main></body></html>')
    page = browser.new_page()
    page.goto(html.as_uri())
    response = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}}).response
    ids = {v["id"] for v in response["violations"]}
    assert {"image-alt", "color-contrast"} <= ids
    page.close()
