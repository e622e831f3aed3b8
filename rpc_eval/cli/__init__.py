"""The ``rpc-eval`` command.

    rpc-eval synth --scale default --seed 20240601 --out synthetic_data/default
    rpc-eval validate PATH [--report problems.csv]
    rpc-eval import DELIVERY --map MAPPING.yaml --out DATASET_DIR
    rpc-eval report --data PATH --out report/

Each command lives in its own module of this package, with a ``register(sub)`` that adds
its parser. Every user mistake ends with a plain message and exit code 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rpc_eval import __version__
from rpc_eval.cli import data, federated, importer, power, report, template
from rpc_eval.cli._common import EXIT_PROBLEMS, problem_table
from rpc_eval.errors import DataValidationError, RpcEvalError

__all__ = ["main", "build_parser"]

_COMMANDS = [data, importer, report, template, power, federated]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rpc-eval",
        description="Evaluate family-support programmes: check evaluation data, make "
                    "synthetic data and build reports.")
    parser.add_argument("--version", action="version", version=f"rpc-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    for module in _COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rpc-eval``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except DataValidationError as exc:
        print(f"{exc.summary}.\n{problem_table(exc.to_frame())}", file=sys.stderr)
        return EXIT_PROBLEMS
    except RpcEvalError as exc:
        print(f"rpc-eval: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as exc:
        print(f"rpc-eval: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        print("rpc-eval: interrupted", file=sys.stderr)
        return 130

