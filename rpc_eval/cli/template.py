"""``rpc-eval template``: write the Excel data-collection workbook."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rpc_eval.cli._common import DEFAULT_SEED, EXIT_OK, EXIT_PROBLEMS
from rpc_eval.errors import RpcEvalError


def cmd_template(args: argparse.Namespace) -> int:
    from rpc_eval.data.template import PLAN, write_template

    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        print(f"rpc-eval: the template is an Excel workbook: give --out a name ending in "
              f".xlsx (not {out.name})", file=sys.stderr)
        return EXIT_PROBLEMS
    if out.exists() and not args.force:
        print(f"rpc-eval: {out} already exists and may hold collected data; choose another "
              "name, or add --force to replace it", file=sys.stderr)
        return EXIT_PROBLEMS
    max_rows = args.max_rows
    if max_rows is not None and max_rows < 1:
        print("rpc-eval: --max-rows must be at least 1", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.parents < 1:
        print("rpc-eval: --parents must be at least 1", file=sys.stderr)
        return EXIT_PROBLEMS
    data = None
    if args.with_example_data:
        from rpc_eval.synthetic import generate

        data, _ = generate("small", seed=args.seed)
    try:
        path = write_template(out, data=data, max_rows=max_rows, parents=args.parents)
    except RpcEvalError as exc:
        print(f"rpc-eval: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as exc:
        print(f"rpc-eval: cannot write {out} ({exc.strerror or exc}); if it is open in Excel, "
              "close it and try again", file=sys.stderr)
        return EXIT_PROBLEMS
    if not args.quiet:
        if data is not None:
            what = (f"with synthetic practice data ({len(data.parents):,} parents in "
                    f"{len(data.las)} LAs, seed {args.seed}; not real people)")
        else:
            what = "empty, ready to fill in"
        print(f"Wrote {path}: the data-collection workbook, {what}.")
        print("It has an Instructions sheet and one sheet per table.")
        print("Next: read the Instructions sheet and fill in the sheets, then check the data:")
        print(f"    rpc-eval validate {path}")
        print("and run the analysis:")
        print(f"    rpc-eval run --plan {PLAN} --data {path} --out report/")
    return EXIT_OK


def register(sub) -> None:
    """Add ``template`` to the command parser."""
    p = sub.add_parser(
        "template", help="write the Excel data-collection workbook (regional evaluation)",
        description="Write the Excel workbook in which a local authority collects its "
                    "evaluation data: instructions, one sheet per table, drop-down lists "
                    "and checks on typing. rpc-eval validate reads the filled workbook.")
    p.add_argument("--out", default="regional-template.xlsx",
                   help="workbook to write (default %(default)s)")
    p.add_argument("--with-example-data", action="store_true",
                   help="fill the sheets with a small synthetic dataset to practise on")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="random seed of the example data (default %(default)s)")
    p.add_argument("--parents", type=int, default=2000, metavar="N",
                   help="parents the checks as you type are sized for (default %(default)s): "
                        "enough rows on the parents, attendance, responses and "
                        "questionnaires sheets")
    p.add_argument("--max-rows", type=int, default=None, metavar="N",
                   help="rows checked as they are typed on every sheet (instead of sizing "
                        "by --parents)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_template)
