"""Build reports: run each plan's notebook with its parameters and write its pages.

For a plan ``analysis_plans/<name>.yaml`` the runner

1. reads the notebook (a jupytext percent ``.py`` file) and executes it with papermill,
   passing ``plan_path``, ``data_path`` and ``out_dir``; the notebook publishes its
   tables (disclosure-controlled CSV and the ODS workbook) and figures;
2. saves the executed notebook (``<name>.ipynb``, run-time metadata removed) and turns
   it into ``<out>/<name>/index.html`` (narrative and outputs; the code stays in the
   notebook);
3. writes ``<out>/<name>/manifest.json``: SHA-256 of every input file, the plan and its
   Markdown, the notebook, every output table and figure; package and dependency
   versions; the seed;
4. refreshes ``<out>/index.html`` and ``<out>/manifest.json`` over all built reports.

It is incremental: a report whose notebook, plan, input files, data path and package
code are unchanged since its last build (``<out>/<name>/.build.json``) is not re-run.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rpc_eval.errors import RpcEvalError
from rpc_eval.plan import Plan, load_plan
from rpc_eval.report.html import esc, page
from rpc_eval.report.publish import sha256_file

__all__ = ["run_plan", "is_up_to_date", "BuildResult", "data_files", "write_index"]

_PACKAGE = Path(__file__).resolve().parents[1]
_DISTRIBUTIONS = ("rpc_eval", "numpy", "pandas", "scipy", "statsmodels", "matplotlib",
                  "pyarrow", "openpyxl", "odfpy", "pyreadstat", "pyyaml", "papermill",
                  "jupytext", "nbconvert", "ipykernel", "joblib")


@dataclass
class BuildResult:
    """What one plan's build did: ``status`` is ``"built"`` or ``"up to date"``."""

    plan: str
    status: str
    out_dir: Path
    seconds: float
    n_tables: int
    n_figures: int


def versions() -> dict[str, str]:
    """Python and the versions of the package and its dependencies."""
    out = {"python": platform.python_version()}
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def data_files(path: Path) -> list[Path]:
    """The files of a dataset: every file under a folder, or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if path.is_file():
        return [path]
    raise RpcEvalError(f"no data at {path}: give a folder of table files or a workbook")


def _package_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(_PACKAGE.rglob("*")):
        if p.is_file() and p.suffix in {".py", ".yaml"}:
            h.update(str(p.relative_to(_PACKAGE)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _clean(nb: Any) -> Any:
    """Remove run-time metadata (timings, papermill's records) so the executed notebook
    is the same for the same inputs."""
    nb.metadata.pop("papermill", None)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"  # jupytext and papermill draw random ids
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def _to_html(nb: Any, title: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True,
                            exclude_anchor_links=True)
    body, _ = exporter.from_notebook_node(nb)
    # The notebook's own <h1> goes: the page adds the title.
    body = re.sub(r"<h1[^>]*>.*?</h1>", "", body, count=1, flags=re.S)
    return page(title, body)


def _run_notebook(plan: Plan, data: Path | None, report_dir: Path) -> Any:
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb = jupytext.read(plan.notebook_path)
    params = {"plan_path": str(plan.path.resolve()),
              "data_path": str(data.resolve()) if data is not None else None,
              "out_dir": str(report_dir.resolve())}
    try:
        executed = papermill.execute_notebook(
            nb, None, parameters=params, kernel_name="python3", progress_bar=False,
            log_output=False, cwd=str(plan.root),
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    except PapermillExecutionError as exc:
        raise RpcEvalError(f"the notebook {plan.notebook_path.name} stopped at cell "
                           f"{exc.exec_count}: {exc.ename}: {exc.evalue}") from None
    return _clean(executed)


def _up_to_date(plan: Plan, source: Path, report_dir: Path) -> tuple[dict, bool]:
    """The build stamp of ``plan`` on ``source``, and whether ``report_dir`` holds a
    complete build with that stamp."""
    stamp = {
        "plan": plan.sha256(),
        "analysis_plan": sha256_file(plan.markdown_path),
        "notebook": sha256_file(plan.notebook_path),
        "data": _relative(source, plan.root),
        "inputs": {_relative(p, plan.root): sha256_file(p) for p in data_files(source)},
        "package": _package_digest(),
        "versions": versions(),
    }
    stamp_path, manifest_path = report_dir / ".build.json", report_dir / "manifest.json"
    if not (stamp_path.is_file() and manifest_path.is_file()):
        return stamp, False
    old = json.loads(stamp_path.read_text(encoding="utf-8"))
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return stamp, old == stamp and all((report_dir / f).is_file() for f in manifest["outputs"])


def is_up_to_date(plan_path: str | Path, *, data: str | Path | None = None,
                  out: str | Path = "report") -> bool:
    """Whether :func:`run_plan` would find the plan's report up to date (and not re-run
    it): same notebook, plan, data files, package code and versions, outputs present."""
    plan = load_plan(plan_path)
    source = Path(data) if data is not None else plan.data_path
    return _up_to_date(plan, source, Path(out) / plan.name)[1]


def run_plan(plan_path: str | Path, *, data: str | Path | None = None,
             out: str | Path = "report", force: bool = False,
             on_step: Callable[[str], None] | None = None) -> BuildResult:
    """Build one plan's report under ``out/<plan name>/``.

    Parameters
    ----------
    plan_path : str or Path
        The plan's YAML file.
    data : str or Path, optional
        Data to use instead of the plan's own (a folder of CSV or SPSS files, or an
        ``.xlsx`` workbook).
    out : str or Path
        The reports' folder.
    force : bool
        Rebuild even when nothing changed.
    on_step : callable, optional
        Called with a short description as each step starts (progress display).

    Returns
    -------
    BuildResult
    """
    import time

    t0 = time.perf_counter()
    step = on_step or (lambda _s: None)
    plan = load_plan(plan_path)
    data_path = Path(data) if data is not None else None
    source = data_path if data_path is not None else plan.data_path
    out = Path(out)
    report_dir = out / plan.name
    step(f"{plan.name}: hashing inputs")
    stamp, current = _up_to_date(plan, source, report_dir)
    inputs = stamp["inputs"]
    stamp_path = report_dir / ".build.json"
    manifest_path = report_dir / "manifest.json"
    if not force and current:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        write_index(out)
        return BuildResult(plan.name, "up to date", report_dir, time.perf_counter() - t0,
                           manifest["n_tables"], manifest["n_figures"])
    if report_dir.exists():
        shutil.rmtree(report_dir)
    report_dir.mkdir(parents=True)
    step(f"{plan.name}: running the notebook")
    executed = _run_notebook(plan, data_path, report_dir)
    outputs_file = report_dir / "outputs.json"
    if not outputs_file.is_file():
        raise RpcEvalError(f"the notebook {plan.notebook_path.name} did not finish its "
                           "report (no call to Report.finish())")
    outputs = json.loads(outputs_file.read_text(encoding="utf-8"))
    outputs_file.unlink()
    step(f"{plan.name}: writing the page")
    import nbformat

    ipynb = report_dir / f"{plan.name}.ipynb"
    ipynb.write_text(nbformat.writes(executed) + "\n", encoding="utf-8")
    html = report_dir / "index.html"
    html.write_text(_to_html(executed, plan["title"]), encoding="utf-8")
    for p in (ipynb, html):
        outputs[p.name] = sha256_file(p)
    manifest = {
        "report": plan.name,
        "title": plan["title"],
        "status": plan["status"],
        "seed": plan["seed"],
        "plan": {"file": _relative(plan.path, plan.root), "sha256": stamp["plan"]},
        "analysis_plan": {"file": _relative(plan.markdown_path, plan.root),
                          "sha256": stamp["analysis_plan"]},
        "notebook": {"file": _relative(plan.notebook_path, plan.root),
                     "sha256": stamp["notebook"]},
        "data": stamp["data"],
        "inputs": inputs,
        "outputs": dict(sorted(outputs.items())),
        "n_tables": sum(1 for k in outputs if k.startswith("tables/")
                        and k != "tables/disclosure_log.csv"),
        "n_figures": sum(1 for k in outputs if k.startswith("figures/") and k.endswith(".png")),
        "disclosure": plan.disclosure,
        "versions": stamp["versions"],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                             encoding="utf-8")
    stamp_path.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_index(out)
    return BuildResult(plan.name, "built", report_dir, time.perf_counter() - t0,
                       manifest["n_tables"], manifest["n_figures"])


def write_index(out: str | Path, reports: Iterable[str] | None = None) -> Path:
    """Write ``out/index.html`` (a link to each built report) and ``out/manifest.json``
    (each report's manifest hash and its table hashes)."""
    out = Path(out)
    found = sorted(p.parent for p in out.glob("*/manifest.json"))
    if reports is not None:
        keep = set(reports)
        found = [p for p in found if p.name in keep]
    rows, combined = [], {}
    for d in found:
        m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        combined[d.name] = {"manifest_sha256": sha256_file(d / "manifest.json"),
                            "plan": m["plan"], "data": m["data"], "seed": m["seed"],
                            "outputs": m["outputs"]}
        ods = next((k for k in m["outputs"] if k.endswith(".ods")), None)
        rows.append(
            f'<li><a href="{esc(d.name)}/index.html">{esc(m["title"])}</a> '
            f'<span class="note">({esc(m["status"])} plan <code>{esc(m["plan"]["file"])}'
            f'</code>; data <code>{esc(m["data"])}</code>; {m["n_tables"]} tables, '
            f'{m["n_figures"]} figures'
            + (f'; <a href="{esc(d.name)}/{esc(ods)}">spreadsheet (ODS)</a>' if ods else "")
            + f'; <a href="{esc(d.name)}/manifest.json">manifest</a>)</span></li>')
    body = ("<p>Each report is built from its analysis plan and notebook by "
            "<code>make report</code> (or <code>rpc-eval run</code>). Tables are in each "
            "report's <code>tables/</code> folder as CSV and in its ODS spreadsheet; "
            "every published count has been through disclosure control.</p>"
            f"<ul>{''.join(rows)}</ul>")
    index = out / "index.html"
    index.write_text(page("Evaluation reports", body), encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps({"reports": combined}, indent=2,
                                                  sort_keys=True) + "\n", encoding="utf-8")
    return index
