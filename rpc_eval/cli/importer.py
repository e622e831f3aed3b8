"""``rpc-eval import``: a delivered file (one row per parent) -> a standard dataset.

    rpc-eval import delivery.csv --map mapping.yaml --out dataset/

The mapping (YAML, see docs/deliveries.md) says which column feeds which table and
column. The dataset written is then read like any other: ``rpc-eval validate
dataset/``, ``rpc-eval run --plan PLAN --data dataset/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rpc_eval.cli._common import EXIT_OK, EXIT_PROBLEMS, Steps, load_data, problem_table
from rpc_eval.safe_text import neutralise_frame

__all__ = ["register"]


def cmd_import(args: argparse.Namespace) -> int:
    from rpc_eval.data.importer import LOG_FOLDER, import_delivery

    names = ["reading and mapping the delivery"]
    if not args.no_check:
        names.append("checking the dataset written")
    steps = Steps(names, args.quiet)
    t0 = time.perf_counter()
    steps.start(0)
    result = import_delivery(args.delivery, args.map, args.out, format=args.format,
                             overwrite=args.overwrite)
    steps.done()
    seconds = time.perf_counter() - t0
    log = result.log
    out = Path(args.out)
    if args.report:
        neutralise_frame(log.problems).to_csv(args.report, index=False)
    intake = None
    if not args.no_check:
        steps.start(1)
        intake = load_data(str(out), None, args.today).intake_log
        neutralise_frame(intake.problems).to_csv(out / LOG_FOLDER / "intake_problems.csv",
                                               index=False)
        steps.done()
    steps.close()
    print(log.summary().replace("Intake of", "Import of", 1))
    shown = log.problems[log.problems["severity"] != "info"]
    if len(shown):
        print(problem_table(shown))
    print(f"Wrote the dataset to {out} in {seconds:.1f} s; the import log (every problem, "
          f"the rows excluded and a copy of the mapping) is in {out / LOG_FOLDER}.")
    if args.report:
        print(f"All import problems written to {args.report}")
    failed = bool(log.n_errors)
    if failed:
        print(f"{len(log.excluded):,} row(s) or answer(s) of the delivery could not be mapped "
              "and were left out of the dataset (listed above). Correct the delivery or the "
              "mapping and import again.", file=sys.stderr)
    if intake is not None:
        print(intake.summary().replace("Intake of", "Checked", 1))
        errors = intake.problems[intake.problems["severity"] == "error"]
        if len(errors):
            failed = True
            print(f"The dataset written has {intake.n_errors:,} problem(s) found by the checks "
                  f"every dataset gets (rows refer to the files in {out}; the full list is in "
                  f"{out / LOG_FOLDER / 'intake_problems.csv'}):\n{problem_table(errors)}",
                  file=sys.stderr)
    if failed:
        return EXIT_PROBLEMS
    print(f"Ready: rpc-eval run --plan PLAN.yaml --data {out}")
    return EXIT_OK


def register(sub) -> None:
    """Add ``import`` to the command parser."""
    p = sub.add_parser(
        "import", help="turn a delivered file (one row per parent) into a dataset",
        description="Read a delivery (CSV, XLSX or SPSS .sav; one row per parent, with "
                    "questionnaire items as columns) and write a standard dataset folder "
                    "using an import mapping (YAML; see docs/deliveries.md). Every value "
                    "that cannot be mapped is listed with its row and column; every column "
                    "the mapping does not use is listed as a warning. Exit 0 when "
                    "everything was imported and the dataset passes every check, 2 when not.")
    p.add_argument("delivery", help="the delivered file (.csv, .xlsx or .sav)")
    p.add_argument("--map", required=True, metavar="MAPPING.yaml", help="the import mapping")
    p.add_argument("--out", required=True, metavar="DATASET_DIR",
                   help="folder to write the dataset to (new or empty)")
    p.add_argument("--format", choices=["csv", "xlsx", "sav"], default="csv",
                   help="format of the tables written (default %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the tables of a dataset already in DATASET_DIR")
    p.add_argument("--report", metavar="FILE.csv", help="also write every import problem to "
                   "this CSV file (it contains the offending values, identifiers included: "
                   "keep it private)")
    p.add_argument("--no-check", action="store_true",
                   help="do not run the dataset checks (rpc-eval validate) after writing")
    p.add_argument("--today", metavar="YYYY-MM-DD", help="for the checks: dates after this "
                   "count as future (default: today)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_import)
