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

It is incremental: a report whose notebook, plan, input files (hidden ones included),
data path and package code are unchanged since its last build
(``<out>/<name>/.build.json``), and whose outputs still have the SHA-256 its manifest
records, is not re-run. Build state that cannot be read (a truncated stamp or manifest)
means "rebuild"; ``force`` always rebuilds.

Trust and recovery:

* only the project's notebooks run (:func:`trusted_notebook`);
* one build at a time per reports folder (:func:`build_lock`; the lock is the operating
  system's, so a killed build leaves nothing to clear);
* files in a report folder that the previous build did not write (or wrote and someone
  edited) are moved to ``<out>/<name>.moved-aside-<time>/``, never deleted;
* while a report is built its folder holds ``.building`` and the top-level index leaves
  it out; the index is rewritten last, listing only complete reports, and every state
  file is replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rpc_eval.data.cache import package_digest, use_cache
from rpc_eval.errors import RpcEvalError
from rpc_eval.plan import Plan, _inside, load_plan
from rpc_eval.report.html import esc, page
from rpc_eval.report.publish import sha256_file

__all__ = ["run_plan", "run_plans", "is_up_to_date", "BuildResult", "data_files",
           "write_index", "build_lock", "trusted_notebook", "hashing_once", "PROJECT_ROOT"]

_PACKAGE = Path(__file__).resolve().parents[1]
#: The repository the package is imported from: its ``notebooks/`` are the ones run.
PROJECT_ROOT = _PACKAGE.parent
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
    moved_aside: list[Path] = field(default_factory=list)


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
    """The files of a dataset: every file under a folder (hidden ones included: intake
    may read them, e.g. ``codebooks/.local.yaml``, so a change to any of them means the
    report is rebuilt), or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_file():
        return [path]
    raise RpcEvalError(f"no data at {path}: give a folder of table files or a workbook")


#: Subfolders of a data folder whose files intake reads (codebook and questionnaire
#: definitions extending the package's).
_READ_FOLDERS = ("codebooks", "instruments")


def _published_name(path: Path, source: Path, root: Path) -> str:
    """How a manifest names a data file: relative to the project for the project's own
    data; otherwise by its name inside the data folder (``default/parents.csv``) or its
    file name, never by the path on the analyst's computer."""
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        pass
    if source.is_dir():
        return f"{source.name}/{path.relative_to(source).as_posix()}"
    return path.name


def read_files(source: Path) -> list[Path]:
    """The files of a dataset that intake reads and a manifest lists: the workbook
    itself, or the table files of a folder (``parents.csv``, ``las.sav`` ...) and the
    files under its ``codebooks/`` and ``instruments/``. Other files in the folder are
    not named in anything published (they still count as a change of the data)."""
    from rpc_eval.data.model import TABLES

    files = data_files(source)
    if not source.is_dir():
        return files
    out = []
    for p in files:
        rel = p.relative_to(source)
        stem = rel.stem.strip().lower().replace(" ", "_").replace("-", "_")
        if (len(rel.parts) == 1 and stem in TABLES) or (
                len(rel.parts) > 1 and rel.parts[0] in _READ_FOLDERS):
            out.append(p)
    return out


def _files_digest(source: Path) -> str:
    """One SHA-256 over every file of the dataset (names relative to it and contents)."""
    h = hashlib.sha256()
    base = source if source.is_dir() else source.parent
    for p in data_files(source):
        h.update(p.relative_to(base).as_posix().encode())
        h.update(_data_digest(p).encode())
    return h.hexdigest()


#: While :func:`hashing_once` is active: data file (path, size, times, inode) -> SHA-256.
_DIGESTS: list[dict[tuple, str]] = []


@contextmanager
def hashing_once() -> Iterator[None]:
    """Within the block, each data file is read and hashed once for every report that
    uses it (``rpc-eval report`` checks the same data for several reports, twice each:
    named inputs and all files). A file's SHA-256 is kept under its path, size,
    modification and change times and inode, so a file changed in the meantime is
    hashed again."""
    _DIGESTS.append({})
    try:
        yield
    finally:
        _DIGESTS.pop()


def _data_digest(path: Path) -> str:
    """SHA-256 of a data file (kept while :func:`hashing_once` is active)."""
    if not _DIGESTS:
        return sha256_file(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    digest = _DIGESTS[-1].get(key)
    if digest is None:
        digest = _DIGESTS[-1][key] = sha256_file(path)
    return digest


def refuse_empty(source: Path) -> None:
    """Stop, in one sentence, when the dataset has no parents yet (an unfilled collection
    workbook): there is nothing to report."""
    if has_parents(source) is False:
        raise RpcEvalError(
            f"{source.name}: the workbook has no parents yet, so there is nothing to "
            "report. Fill in the parents sheet (one row per parent referred) and run "
            "again." if source.is_file() else
            f"{source.name}: parents.csv has no parents yet, so there is nothing to "
            "report. Add one row per parent referred and run again.")


def has_parents(source: Path) -> bool | None:
    """Whether the dataset's parents table has a row: read cheaply (the first rows of
    ``parents.csv`` or of the workbook's ``parents`` sheet), so an empty collection
    workbook is refused before a build starts. ``None`` when it cannot tell (SPSS files,
    no parents table: intake then says what is wrong)."""
    try:
        if source.is_file() and source.suffix.lower() in (".xlsx", ".xlsm"):
            import openpyxl

            wb = openpyxl.load_workbook(source, read_only=True, data_only=True)
            try:
                sheet = next((wb[n] for n in wb.sheetnames if n.strip().lower() ==
                              "parents"), None)
                if sheet is None:
                    return None
                rows = sheet.iter_rows(values_only=True)
                next(rows, None)  # the header row
                return any(any(v is not None and str(v).strip() for v in row)
                           for row in rows)
            finally:
                wb.close()
        if source.is_dir():
            csv = next((p for p in source.iterdir() if p.is_file()
                        and p.name.lower() == "parents.csv"), None)
            if csv is None:
                return None
            with open(csv, encoding="utf-8-sig", errors="replace") as fh:
                next(fh, None)
                return any(line.strip().strip(",") for line in fh)
    except (OSError, ValueError, KeyError, StopIteration):
        return None
    return None


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


def _to_html(nb: Any, title: str, summary: Iterable[str] = ()) -> str:
    """The report's page: the notebook's narrative and displayed outputs (no code, no
    printed text or warnings), with the plain-English summary and a contents list
    added before the first section."""
    import copy

    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("outputs"):
            cell.outputs = [o for o in cell.outputs
                            if o.get("output_type") in ("display_data", "execute_result")]
    exporter = HTMLExporter(template_name="basic", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True,
                            exclude_anchor_links=True)
    body, _ = exporter.from_notebook_node(nb)
    # The notebook's own <h1> goes: the page adds the title.
    body = re.sub(r"<h1[^>]*>.*?</h1>", "", body, count=1, flags=re.S)
    return page(title, add_contents(body, summary))


def add_contents(body: str, summary: Iterable[str] = ()) -> str:
    """``body`` with ids on its sections (``<h2>``) and tables, and, before the first
    section, the summary (a list of sentences) and a contents list: each section with
    the tables in it."""
    sections: list[tuple[str, str, list[tuple[str, str]]]] = []
    used: set[str] = set()

    def ident(text: str, prefix: str) -> str:
        base = prefix + (re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x")
        out, i = base, 2
        while out in used:
            out, i = f"{base}-{i}", i + 1
        used.add(out)
        return out

    def heading(m: re.Match) -> str:
        text = re.sub(r"<[^>]+>", "", m.group(2)).strip()
        hid = ident(text, "s-")
        sections.append((hid, text, []))
        attrs = re.sub(r'\s*id="[^"]*"', "", m.group(1) or "")
        return f'<h2 id="{hid}"{attrs}>{m.group(2)}</h2>'

    def table(m: re.Match) -> str:
        caption = re.sub(r"<[^>]+>", "", m.group(1)).strip()
        tid = ident(caption, "t-")
        if sections:
            sections[-1][2].append((tid, caption))
        return f'<table id="{tid}"><caption>{m.group(1)}</caption>'

    pattern = re.compile(r"<h2([^>]*)>(.*?)</h2>|<table><caption>(.*?)</caption>", re.S)

    def either(m: re.Match) -> str:
        if m.group(3) is not None:
            return table(re.match(r"(.*)", m.group(3), re.S))  # type: ignore[arg-type]  # matches any text
        return heading(m)

    body = pattern.sub(either, body)
    items = []
    for hid, text, tables in sections:
        inner = "".join(f'<li><a href="#{tid}">{esc(_html_text(c))}</a></li>'
                        for tid, c in tables)
        items.append(f'<li><a href="#{hid}">{esc(_html_text(text))}</a>'
                     + (f"<ol>{inner}</ol>" if inner else "") + "</li>")
    sentences = [s for s in summary if s]
    top = ""
    if sentences:
        top += ('<section aria-labelledby="summary"><h2 id="summary">Summary</h2><ul>'
                + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul></section>")
    if items:
        top += ('<nav aria-labelledby="contents"><h2 id="contents">Contents</h2><ol>'
                + "".join(items) + "</ol></nav>")
    first = body.find("<h2")
    return body if not top else (body[:first] + top + body[first:] if first >= 0
                                 else top + body)


def _html_text(text: str) -> str:
    import html as _h

    return _h.unescape(text)


def trusted_notebook(plan: Plan, allow_notebooks_from: Iterable[str | Path] = ()) -> bytes:
    """The bytes of the plan's notebook, once it is known to be one this project runs.

    A notebook is code, so the runner executes only

    * a notebook inside this project's ``notebooks/`` folder (the repository the package
      is imported from), or inside a folder the user names with
      ``allow_notebooks_from`` (``rpc-eval run --allow-notebooks-from DIR``), and
    * for a plan whose ``status`` is ``published``, the exact notebook whose SHA-256
      ``analysis_plans/published.json`` records: a published version runs only its frozen
      notebook.

    The bytes returned are the ones checked, so the file cannot change between the check
    and the run.

    Raises
    ------
    RpcEvalError
        The notebook lies elsewhere, or a published plan's notebook is not the recorded
        one; the message says which file and how to proceed.
    """
    from rpc_eval.plan import recorded_notebook_hash

    path = plan.notebook_path
    folders = [PROJECT_ROOT / "notebooks", *(Path(d) for d in allow_notebooks_from)]
    if not any(_inside(path, f) for f in folders if f.is_dir()):
        raise RpcEvalError(
            f"{plan.where('notebook')}: the notebook {path} is not one of this project's "
            f"notebooks (in {PROJECT_ROOT / 'notebooks'}). A notebook is code and rpc-eval "
            "runs only the project's own; if you trust this one, run again with "
            f"--allow-notebooks-from {path.parent}")
    content = path.read_bytes()
    if plan["status"] == "published":
        recorded = recorded_notebook_hash(plan)
        digest = hashlib.sha256(content).hexdigest()
        if recorded is None:
            raise RpcEvalError(
                f"{plan.where('notebook')}: the plan is published but "
                f"{plan.path.parent / 'published.json'} records no hash for its notebook "
                f"{path.name}; a published plan runs only the notebook recorded there")
        if recorded != digest:
            raise RpcEvalError(
                f"{plan.where('notebook')}: the notebook {path.name} is not the one "
                "published with this plan (its SHA-256 differs from the one in "
                "published.json). A published version is frozen: restore the notebook, or "
                "make the change as a new plan version")
    return content




def _run_notebook(plan: Plan, data: Path | None, report_dir: Path,
                  allow_notebooks_from: Iterable[str | Path] = ()) -> Any:
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    content = trusted_notebook(plan, allow_notebooks_from)
    try:
        nb = jupytext.reads(content.decode("utf-8"), fmt="py:percent")
    except UnicodeDecodeError:
        raise RpcEvalError(f"the notebook {plan.notebook_path.name} is not UTF-8 text"
                           ) from None
    # A notebook written without jupytext's header has no kernelspec; the report
    # notebooks are Python, so say so rather than let the executor guess.
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                          "name": "python3"})
    params = {"plan_path": str(plan.path.resolve()),
              "data_path": str(data.resolve()) if data is not None else None,
              "out_dir": str(report_dir.resolve())}
    private = report_dir.parent / f"{report_dir.name}_NOT_FOR_PUBLICATION"
    failed_nb, failed_log = private / "build_failed.ipynb", private / "build_failed.log"
    for stale in (failed_nb, failed_log):
        stale.unlink(missing_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    try:
        executed = papermill.execute_notebook(
            nb, str(failed_nb), parameters=params, kernel_name="python3", language="python",
            progress_bar=False,
            log_output=False, cwd=str(plan.root),
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    except PapermillExecutionError as exc:
        raise _failed(plan, exc, private, failed_nb, failed_log) from None
    failed_nb.unlink(missing_ok=True)  # written as the cells ran; the build finished
    return _clean(executed)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failed(plan: Plan, exc: Any, private: Path, failed_nb: Path,
            failed_log: Path) -> RpcEvalError:
    """Keep the full error beside the executed notebook (which papermill saved as the
    cells ran) in the report's not-for-publication folder (an error can quote data), and
    say, in words, where."""
    private.mkdir(parents=True, exist_ok=True)
    trace = "\n".join(_ANSI.sub("", line) for line in (exc.traceback or []))
    failed_log.write_text(
        f"Report: {plan.name}\nNotebook: {plan.notebook_path.name}\n"
        f"Stopped at cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n\n{trace}\n",
        encoding="utf-8")
    if exc.ename == "RpcEvalError":
        why = f"{exc.evalue}"
    else:
        why = ("an analysis met data it could not handle. This is a fault in rpc_eval "
               "rather than in your data; please report it with the two files below")
    return RpcEvalError(
        f"the report {plan['title']!r} could not be finished: {why}. The executed "
        f"notebook, up to where it stopped, is kept in {failed_nb} and the full error in "
        f"{failed_log} (they are not for publication: they may quote the data).")


def _read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or damaged (truncated, not
    UTF-8, not JSON): damaged build state means "rebuild", never a crash."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so an interrupted build leaves
    the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _outputs_intact(report_dir: Path, manifest: Any) -> bool:
    """Whether ``manifest`` is a report manifest whose every output is present with the
    recorded SHA-256 (an output edited after the build is not up to date)."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("outputs"), dict):
        return False
    for name, digest in manifest["outputs"].items():
        f = report_dir / name
        if not (isinstance(name, str) and f.is_file() and _inside(f, report_dir)
                and sha256_file(f) == digest):
            return False
    return True


def _up_to_date(plan: Plan, source: Path, report_dir: Path) -> tuple[dict, bool]:
    """The build stamp of ``plan`` on ``source``, and whether ``report_dir`` holds a
    complete, unedited build with that stamp."""
    stamp = {
        "plan": plan.sha256(),
        "analysis_plan": sha256_file(plan.markdown_path),
        "notebook": sha256_file(plan.notebook_path),
        "data": (_relative(source, plan.root) if _inside(source, plan.root)
                 else source.name),
        "inputs": {_published_name(p, source, plan.root): _data_digest(p)
                   for p in read_files(source)},
        "all_data_files": _files_digest(source),
        "package": package_digest(),
        "versions": versions(),
    }
    stamp_path, manifest_path = report_dir / ".build.json", report_dir / "manifest.json"
    if (report_dir / _BUILDING).exists():
        return stamp, False
    old, manifest = _read_json(stamp_path), _read_json(manifest_path)
    if not isinstance(old, dict) or old.get("manifest") != (
            sha256_file(manifest_path) if manifest_path.is_file() else None):
        return stamp, False
    old = {k: v for k, v in old.items() if k != "manifest"}
    return stamp, old == stamp and _outputs_intact(report_dir, manifest)


def is_up_to_date(plan_path: str | Path, *, data: str | Path | None = None,
                  out: str | Path = "report") -> bool:
    """Whether :func:`run_plan` would find the plan's report up to date (and not re-run
    it): same notebook, plan, data files (hidden ones included), package code and
    versions, and every output present with the SHA-256 its manifest records."""
    plan = load_plan(plan_path)
    source = Path(data) if data is not None else plan.data_path
    return _up_to_date(plan, source, Path(out) / plan.name)[1]


# ------------------------------------------------------------------------- the lock
_LOCK_NAME = ".rpc-eval.lock"
_BUILDING = ".building"
_held: dict[Path, tuple[Any, int]] = {}


@contextmanager
def build_lock(out: str | Path) -> Iterator[None]:
    """Hold the lock of a reports folder for the duration of a build.

    The lock is an operating-system lock on ``<out>/.rpc-eval.lock``: a second run into
    the same folder (another terminal, another ``make``) is refused in words while the
    first is running, and the lock goes when the process ends, however it ends (even
    killed), so it never needs clearing by hand. Re-entrant within one process.

    Raises
    ------
    RpcEvalError
        Another run holds the folder's lock.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = out.resolve()
    if key in _held:
        fh, n = _held[key]
        _held[key] = (fh, n + 1)
        try:
            yield
        finally:
            fh, n = _held[key]
            _held[key] = (fh, n - 1)
        return
    fh = open(out / _LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
    try:
        _lock_file(fh)
    except OSError:
        fh.seek(0)
        who = fh.read().strip()
        fh.close()
        raise RpcEvalError(
            f"another rpc-eval run is writing reports to {out}"
            + (f" ({who})" if who else "")
            + "; wait for it to finish, or give this run a different --out folder") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"process {os.getpid()} on {platform.node()}, started "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    fh.flush()
    _held[key] = (fh, 1)
    try:
        yield
    finally:
        fh, n = _held[key]
        if n <= 1:
            del _held[key]
            _unlock_file(fh)
            fh.close()
        else:  # pragma: no cover - released by the outer holder
            _held[key] = (fh, n - 1)


def _lock_file(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]  # Windows
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock_file(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]  # Windows
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# -------------------------------------------------------------- clearing an old build
def _clear_old_build(report_dir: Path) -> list[Path]:
    """Empty ``report_dir`` for a new build. Files the previous build wrote (named in its
    manifest) and the build's own state files are removed; any other file (a user's
    notes, a build whose manifest is damaged) is moved aside to
    ``<out>/<name>.moved-aside-<time>/`` and returned, never deleted."""
    if not report_dir.exists():
        return []
    manifest = _read_json(report_dir / "manifest.json")
    ours = {"manifest.json", ".build.json", "outputs.json", _BUILDING}
    if isinstance(manifest, dict) and isinstance(manifest.get("outputs"), dict):
        digests = manifest["outputs"]
        ours |= {n for n, d in digests.items() if isinstance(n, str)
                 and (report_dir / n).is_file() and sha256_file(report_dir / n) == d}
    keep = [p for p in sorted(report_dir.rglob("*"))
            if (p.is_file() or p.is_symlink())
            and p.relative_to(report_dir).as_posix() not in ours
            and not p.name.endswith(".tmp")]
    moved: list[Path] = []
    if keep:
        aside = report_dir.parent / (f"{report_dir.name}.moved-aside-"
                                     f"{time.strftime('%Y%m%d-%H%M%S')}")
        n = 1
        while aside.exists():
            n += 1
            aside = aside.with_name(f"{aside.name.split('~')[0]}~{n}")
        for p in keep:
            dest = aside / p.relative_to(report_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(p), str(dest))
            moved.append(dest)
    shutil.rmtree(report_dir)
    return moved


def run_plan(plan_path: str | Path, *, data: str | Path | None = None,
             out: str | Path = "report", force: bool = False,
             on_step: Callable[[str], None] | None = None,
             allow_notebooks_from: Iterable[str | Path] = ()) -> BuildResult:
    """Build one plan's report under ``out/<plan name>/``.

    Parameters
    ----------
    plan_path : str or Path
        The plan's YAML file.
    data : str or Path, optional
        Data to use instead of the plan's own (a folder of CSV or SPSS files, or an
        ``.xlsx`` workbook).
    out : str or Path
        The reports' folder. A second run into the same folder while this one runs is
        refused (:func:`build_lock`).
    force : bool
        Rebuild even when nothing changed (damaged build state is rebuilt anyway).
    on_step : callable, optional
        Called with a short description as each step starts (progress display).
    allow_notebooks_from : iterable of path
        Folders besides the project's ``notebooks/`` whose notebooks may be run
        (:func:`trusted_notebook`): only folders whose code you trust.

    Returns
    -------
    BuildResult
        ``moved_aside`` lists files found in the report folder that the previous build
        did not write; they were moved, not deleted.
    """
    t0 = time.perf_counter()
    step = on_step or (lambda _s: None)
    plan = load_plan(plan_path)
    trusted_notebook(plan, allow_notebooks_from)  # refuse before touching any output
    data_path = Path(data) if data is not None else None
    source = data_path if data_path is not None else plan.data_path
    out = Path(out)
    report_dir = out / plan.name
    with build_lock(out):
        step(f"{plan.name}: hashing inputs")
        stamp, current = _up_to_date(plan, source, report_dir)
        inputs = stamp["inputs"]
        if plan["data"].get("kind", "evaluation") == "evaluation":
            refuse_empty(source)
        stamp_path = report_dir / ".build.json"
        manifest_path = report_dir / "manifest.json"
        if not force and current:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            write_index(out)
            return BuildResult(plan.name, "up to date", report_dir,
                               time.perf_counter() - t0, manifest["n_tables"],
                               manifest["n_figures"])
        moved = _clear_old_build(report_dir)
        report_dir.mkdir(parents=True)
        (report_dir / _BUILDING).write_text("a build is running or was interrupted\n",
                                            encoding="utf-8")
        write_index(out)  # the report is not complete now: the index leaves it out
        step(f"{plan.name}: running the notebook")
        with use_cache(out / ".cache"):  # the reports of a build read the data once
            executed = _run_notebook(plan, data_path, report_dir, allow_notebooks_from)
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
        from rpc_eval.report.findings import headline_findings

        html.write_text(_to_html(executed, plan["title"],
                                 headline_findings(report_dir, plan)), encoding="utf-8")
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
                            and k not in ("tables/disclosure_log.csv",
                                          "tables/data_dictionary.csv")),
            "n_figures": sum(1 for k in outputs if k.startswith("figures/")
                             and k.endswith(".png")),
            "disclosure": plan.disclosure,
            "versions": stamp["versions"],
        }
        _write_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        stamp["manifest"] = sha256_file(manifest_path)
        _write_atomic(stamp_path, json.dumps(stamp, indent=2, sort_keys=True) + "\n")
        (report_dir / _BUILDING).unlink()
        write_index(out)  # last: the report is complete
    return BuildResult(plan.name, "built", report_dir, time.perf_counter() - t0,
                       manifest["n_tables"], manifest["n_figures"], moved)


def run_plans(plans: Iterable[tuple[str | Path, str | Path | None]], *,
              out: str | Path = "report", force: bool = False, jobs: int = 1,
              on_start: Callable[[int], None] | None = None,
              on_done: Callable[[int], None] | None = None,
              allow_notebooks_from: Iterable[str | Path] = ()) -> list[BuildResult]:
    """Build several plans' reports (:func:`run_plan` each), ``jobs`` at a time.

    With ``jobs`` > 1 the reports are built in that many worker processes at once (a
    report's build is independent of the others': its own notebook kernel, folder and
    files); this process holds the reports folder's lock throughout, and the top-level
    index is rewritten by one process at a time. Each report is built exactly as
    :func:`run_plan` builds it alone.

    Parameters
    ----------
    plans : iterable of (plan path, data or None)
        The plans, with the data to use instead of each plan's own (``None``: its own).
    out, force, allow_notebooks_from
        As :func:`run_plan`.
    jobs : int
        Reports built at once (1: one after the other, in this process).
    on_start, on_done : callable, optional
        Called with a plan's position in ``plans`` as its build starts and ends.

    Returns
    -------
    list of BuildResult
        In the order of ``plans``.

    Raises
    ------
    RpcEvalError
        The first plan (in the order given) whose build failed, once every build
        started has ended.
    """
    plans = list(plans)
    allow = [str(a) for a in allow_notebooks_from]
    start = on_start or (lambda _i: None)
    done = on_done or (lambda _i: None)
    if jobs <= 1 or len(plans) <= 1:
        results = []
        for i, (plan_path, data) in enumerate(plans):
            start(i)
            results.append(run_plan(plan_path, data=data, out=out, force=force,
                                    allow_notebooks_from=allow))
            done(i)
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")  # no inherited threads or open kernels
    index_lock = ctx.Lock()
    with build_lock(out), ProcessPoolExecutor(
            max_workers=min(jobs, len(plans)), mp_context=ctx, initializer=_worker_init,
            initargs=(str(Path(out).resolve()), index_lock, bool(_DIGESTS))) as pool:
        futures = {}
        for i, (plan_path, data) in enumerate(plans):
            start(i)
            futures[pool.submit(run_plan, str(plan_path),
                                data=None if data is None else str(data), out=str(out),
                                force=force, allow_notebooks_from=allow)] = i
        outcome: dict[int, Any] = {}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                outcome[i] = fut.result()
            except BrokenProcessPool:
                outcome[i] = RpcEvalError(
                    f"the build of {Path(plans[i][0]).stem} stopped unexpectedly: the "
                    "process building it ended (for example, the computer ran out of "
                    "memory). Run again; if it happens again, build the reports one at a "
                    "time with rpc-eval run --plan PLAN")
            except Exception as exc:  # raised below, in plan order, once all have ended
                outcome[i] = exc
            done(i)
    for i in range(len(plans)):
        if isinstance(outcome[i], BaseException):
            raise outcome[i]
    return [outcome[i] for i in range(len(plans))]


#: Set in a worker process of :func:`run_plans`: serialises writes of the index.
_INDEX_LOCK: list[Any] = []


def _worker_init(out: str, index_lock: Any, hash_once: bool) -> None:
    """A worker of :func:`run_plans`: the parent process holds the reports folder's lock
    (so :func:`build_lock` is entered without locking again) and the index lock; data
    files are hashed once in the worker when they are in the parent
    (:func:`hashing_once`)."""
    _held[Path(out)] = (None, 1)
    _INDEX_LOCK[:] = [index_lock]
    if hash_once:
        _DIGESTS.append({})


def write_index(out: str | Path, reports: Iterable[str] | None = None) -> Path:
    """Write ``out/index.html`` (a link to each built report) and ``out/manifest.json``
    (each report's manifest hash and its table hashes)."""
    if _INDEX_LOCK:
        with _INDEX_LOCK[0]:
            return _write_index(out, reports)
    return _write_index(out, reports)


def _write_index(out: str | Path, reports: Iterable[str] | None = None) -> Path:
    out = Path(out)
    found = sorted(p.parent for p in out.glob("*/manifest.json"))
    if reports is not None:
        keep = set(reports)
        found = [p for p in found if p.name in keep]
    rows, combined = [], {}
    for d in found:
        m = _read_json(d / "manifest.json")
        if (d / _BUILDING).exists() or not _complete(d, m):
            continue  # being built, interrupted or damaged: not listed
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
    _write_atomic(out / "manifest.json", json.dumps({"reports": combined}, indent=2,
                                                    sort_keys=True) + "\n")
    _write_atomic(index, page("Evaluation reports", body))
    return index


def _complete(report_dir: Path, manifest: Any) -> bool:
    """A report the index may list: a readable manifest whose outputs are all present."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("outputs"), dict):
        return False
    needed = ("title", "status", "plan", "data", "seed", "n_tables", "n_figures")
    if any(k not in manifest for k in needed) or not isinstance(manifest["plan"], dict):
        return False
    return all(isinstance(n, str) and (report_dir / n).is_file()
               for n in manifest["outputs"])
