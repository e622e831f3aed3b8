"""``rpc-eval synth`` and ``validate``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rpc_eval.cli._common import (
    DEFAULT_SEED,
    EXIT_OK,
    EXIT_PROBLEMS,
    KEY_HELP,
    Steps,
    load_data,
    problem_table,
    report_frame,
    safe_lines,
)
from rpc_eval.errors import DataValidationError
from rpc_eval.safe_text import neutralise_frame


def cmd_synth(args: argparse.Namespace) -> int:
    from rpc_eval.data import write
    from rpc_eval.synthetic import describe_truth, generate

    steps = Steps([f"generating {args.scale} dataset", "writing files"], args.quiet)
    t0 = time.perf_counter()
    steps.start(0)
    data, truth = generate(args.scale, seed=args.seed)
    steps.done()
    steps.start(1)
    out = Path(args.out)
    if args.wide:
        return _synth_wide(args, data, truth, steps, t0)
    files = write(data, out, format=args.format)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n",
                                    encoding="utf-8")
    command = f"rpc-eval synth --scale {args.scale} --seed {args.seed} --out {args.out}"
    readme = (describe_truth(truth).rstrip() + "\n\n## Regenerate\n\nFrom the repository root, "
              f"with the package installed:\n\n```\n{command}\n```\n\nThe same seed gives "
              "identical files.\n")
    (out / "README.md").write_text(readme, encoding="utf-8")
    steps.done()
    steps.close()
    if not args.quiet:
        print(f"Wrote {len(files)} table file(s), truth.json and README.md to {out} "
              f"({len(data.parents):,} parents in {len(data.las)} LAs) in "
              f"{time.perf_counter() - t0:.1f} s")
    return EXIT_OK


def _synth_wide(args, data, truth, steps, t0) -> int:
    from rpc_eval.synthetic.wide import write_wide

    out = Path(args.out)
    path = write_wide(data, out / f"delivery.{args.format}")
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n",
                                    encoding="utf-8")
    steps.done()
    steps.close()
    if not args.quiet:
        print(f"Wrote the wide delivery {path} ({len(data.parents):,} parents, one row each) "
              f"and truth.json in {time.perf_counter() - t0:.1f} s. Import it with: rpc-eval "
              f"import {path} --map docs/examples/wide_delivery_mapping.yaml --out DATASET_DIR")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    steps = Steps(["reading and checking the data"], args.quiet)
    steps.start(0)
    try:
        data = load_data(args.path, args.pseudonymise_key_env, args.today)
    except DataValidationError as exc:
        steps.close()
        frame = exc.to_frame()
        if args.report:
            neutralise_frame(report_frame(frame)).to_csv(args.report, index=False)
        print(f"{safe_lines(exc.summary)}.\n{problem_table(frame)}", file=sys.stderr)
        if args.report:
            print(f"All problems written to {args.report}", file=sys.stderr)
        return EXIT_PROBLEMS
    steps.done()
    steps.close()
    log = data.intake_log
    print(safe_lines(log.summary()))
    shown = log.problems[log.problems["severity"] != "info"]
    if args.report:
        neutralise_frame(report_frame(log.problems)).to_csv(args.report, index=False)
    if len(shown):
        print(problem_table(shown))
    if args.report:
        print(f"All problems written to {args.report}")
    if log.n_errors:
        print(f"Not valid: {len(log.excluded):,} row(s) would be excluded. Fix the problems "
              "above and run validate again.", file=sys.stderr)
        return EXIT_PROBLEMS
    print("Valid: every row passed the checks." + (" Check the warnings above." if
                                                    log.n_warnings else ""))
    return EXIT_OK


def register(sub) -> None:
    """Add ``synth`` and ``validate`` to the command parser."""
    p = sub.add_parser("synth", help="write a synthetic evaluation dataset with known truth",
                       description="Generate a synthetic dataset (tables, truth.json and a "
                                   "README of the true parameters).")
    p.add_argument("--scale", choices=["small", "default", "national"], default="default",
                   help="small: ~600 parents; default: the 2018-22 programme's 6,110 parents "
                        "in 31 LAs; national: ~100,000 parents in 152 LAs")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--format", choices=["csv", "xlsx", "sav"], default="csv")
    p.add_argument("--wide", action="store_true",
                   help="write one wide delivery file (one row per parent, labels, DD/MM/YYYY "
                        "dates, items as columns) as survey agencies deliver, instead of the "
                        "tables; see docs/deliveries.md")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("validate", help="check a dataset and list every problem",
                       description="Read and check a dataset. Exit 0 when every row is valid; "
                                   "exit 2 with the problems listed when not.")
    p.add_argument("path", help="folder of table files (CSV or SPSS), or an .xlsx workbook")
    p.add_argument("--report", metavar="FILE.csv", help="also write every problem to this CSV "
                   "file (it contains the offending values, identifiers included: keep it "
                   "private)")
    p.add_argument("--pseudonymise-key-env", metavar="VAR", help=KEY_HELP)
    p.add_argument("--today", metavar="YYYY-MM-DD", help="dates after this count as future "
                   "(default: today)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_validate)
