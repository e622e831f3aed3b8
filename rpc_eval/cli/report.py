"""``rpc-eval run`` (one plan's report) and ``rpc-eval report`` (every plan's report).

    rpc-eval run --plan analysis_plans/regional_evaluation_template_v1.yaml \\
                 --data filled-template.xlsx --out report/
    rpc-eval report --out report/ [--data synthetic_data/national]

Evaluation data are read and checked before any analysis: a dataset with problems stops
with the problems listed (file, row, column, fix) and nothing is analysed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rpc_eval.cli._common import EXIT_OK, EXIT_PROBLEMS, Steps, load_data, stop_on_data_errors

__all__ = ["register", "DEFAULT_PLANS"]

DEFAULT_PLANS = ("analysis_plans/interim_report_v1.yaml", "analysis_plans/final_report_v1.yaml",
                 "analysis_plans/regional_evaluation_template_v1.yaml")


def _check_data(path: Path, quiet: bool) -> bool:
    """Read and check evaluation data; print the problems and return False if any row
    would be excluded."""
    data = load_data(str(path), None, None)
    if stop_on_data_errors(data, str(path), "Nothing was analysed."):
        return False
    if not quiet:
        print(f"Data checked: {data.intake_log.summary().splitlines()[0]}")
    return True


def _summary(result, plan) -> str:
    import json

    manifest = json.loads((result.out_dir / "manifest.json").read_text(encoding="utf-8"))
    ods = next((k for k in manifest["outputs"] if k.endswith(".ods")), None)
    summary = result.out_dir / "tables" / "disclosure_summary.csv"
    n_supp = 0
    if summary.is_file():
        import pandas as pd

        n_supp = int(pd.to_numeric(pd.read_csv(summary)["suppressed"]).sum())
    lines = [f"{plan.name}: {result.status} in {result.seconds:.0f} s. "
             f"{result.n_tables} tables and {result.n_figures} figures.",
             f"  Open {result.out_dir / 'index.html'} in a web browser to read the report."]
    if ods:
        lines.append(f"  The tables are in {result.out_dir / ods} (a spreadsheet that opens in "
                     "Excel or LibreOffice) and as CSV in tables/.")
    from rpc_eval.report.findings import headline_findings

    lines += [f"  {sentence}" for sentence in headline_findings(result.out_dir, plan)]
    lines.append(f"  Disclosure control: {n_supp:,} cell(s) suppressed and shown as [c] "
                 f"(threshold {plan.disclosure['threshold']}); which cells and why is in "
                 f"{result.out_dir.name}_NOT_FOR_PUBLICATION/disclosure_log.csv beside the "
                 "report (keep it: it is not for publication).")
    return "\n".join(lines)


def _run(plans: list[str], data: str | None, out: str, force: bool, quiet: bool,
         allow: list[str] | None = None) -> int:
    from rpc_eval.plan import load_plan
    from rpc_eval.report.runner import build_lock, hashing_once

    allow = list(allow or [])
    for folder in allow:
        if not Path(folder).is_dir():
            print(f"rpc-eval: --allow-notebooks-from {folder}: no such folder", file=sys.stderr)
            return EXIT_PROBLEMS
    loaded = [load_plan(p) for p in plans]
    from rpc_eval.data.cache import use_cache

    # data read and checked once, and hashed once, for all the reports
    with build_lock(out), use_cache(Path(out) / ".cache"), hashing_once():
        return _run_locked(loaded, data, out, force, quiet, allow)


def _run_locked(loaded: list, data: str | None, out: str, force: bool, quiet: bool,
                allow: list[str]) -> int:
    from rpc_eval.report.runner import is_up_to_date, refuse_empty, run_plans, trusted_notebook

    for plan in loaded:
        trusted_notebook(plan, allow)  # before reading any data
    checked: dict[Path, bool] = {}
    stale = 0  # reports to build (not up to date)
    for plan in loaded:
        evaluation = plan["data"].get("kind", "evaluation") == "evaluation"
        path = Path(data) if data and evaluation else plan.data_path
        if not force and is_up_to_date(plan.path, data=path, out=out):
            continue  # checked when it was built, and unchanged since
        stale += 1
        if evaluation and path.resolve() not in checked:
            refuse_empty(path)  # an unfilled workbook: one sentence, before any checks
            checked[path.resolve()] = _check_data(path, quiet)
    if not all(checked.values()):
        return EXIT_PROBLEMS
    steps = Steps([f"building {p.name}" for p in loaded], quiet)
    t0 = time.perf_counter()
    plans = [(plan.path, data if data and plan["data"].get("kind", "evaluation")
              == "evaluation" else None) for plan in loaded]
    # several reports to build and more than one processor: build them side by side
    jobs = min(stale, _processors())
    built = run_plans(plans, out=out, force=force, jobs=jobs, allow_notebooks_from=allow,
                      on_start=steps.start, on_done=lambda _i: steps.done())
    steps.close()
    results = list(zip(built, loaded, strict=True))
    for result, _plan in results:
        if result.moved_aside:
            first = result.moved_aside[0].relative_to(result.out_dir.parent).parts[0]
            print(f"rpc-eval: {len(result.moved_aside)} file(s) in {result.out_dir} were not "
                  "written by the last build (or its manifest was damaged), so they were "
                  f"moved, not deleted, to {result.out_dir.parent / first}", file=sys.stderr)
    if not quiet:
        for result, plan in results:
            print(_summary(result, plan))
        print(f"All reports: {Path(out) / 'index.html'} ({time.perf_counter() - t0:.0f} s).")
    return EXIT_OK


def _processors() -> int:
    """Processors this process may use (at least 1)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def cmd_run(args: argparse.Namespace) -> int:
    return _run(args.plan, args.data, args.out, args.force, args.quiet,
                args.allow_notebooks_from)


def cmd_report(args: argparse.Namespace) -> int:
    return _run(args.plans or list(DEFAULT_PLANS), args.data, args.out, args.force,
                args.quiet, args.allow_notebooks_from)


_ALLOW_HELP = ("also run notebooks from DIR (a notebook is code: name only a folder whose "
               "code you trust); by default only the project's notebooks/ are run")


def register(sub) -> None:
    """Add ``run`` and ``report`` to the command parser."""
    p = sub.add_parser("run", help="build one plan's report (HTML, ODS and CSV tables)",
                       description="Check the data, run the plan's notebook and write its "
                                   "report: an HTML page, figures, CSV tables and an "
                                   "accessible ODS spreadsheet (disclosure control applied), "
                                   "and manifest.json.")
    p.add_argument("--plan", required=True, action="append",
                   help="analysis plan (YAML); give it again to build several")
    p.add_argument("--data", help="data to use instead of the plan's own: a folder of table "
                   "files or an .xlsx workbook (e.g. the filled collection template)")
    p.add_argument("--out", default="report", help="reports folder (default %(default)s)")
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--allow-notebooks-from", action="append", metavar="DIR", help=_ALLOW_HELP)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="build every report (what `make report` runs)",
                       description="Build the interim, final and regional reports from their "
                                   "plans; reports that are up to date are not rebuilt.")
    p.add_argument("--plans", nargs="+", metavar="PLAN", help="plans to build (default: "
                   + ", ".join(DEFAULT_PLANS) + ")")
    p.add_argument("--data", help="evaluation data to use instead of each plan's own "
                   "(the interim report keeps its case-study data)")
    p.add_argument("--out", default="report", help="reports folder (default %(default)s)")
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--allow-notebooks-from", action="append", metavar="DIR", help=_ALLOW_HELP)
    p.set_defaults(func=cmd_report)
