"""``rpc-eval power``: power and sample size for a regional evaluation.

    rpc-eval power --outcome prepost --effect-size 0.3 --icc 0.05 --las 6 8 10 12 \\
        --parents 20 40 60 --cv 0.4 --completion-rate 0.6 [--simulate --sims 500 --jobs 2]
    rpc-eval power --outcome completion --rate 0.52 --benchmark 0.441 --icc 0.03 \\
        --las 8 10 --parents 40 60
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from rpc_eval.cli._common import DEFAULT_SEED, EXIT_OK, EXIT_PROBLEMS, Steps
from rpc_eval.errors import RpcEvalError

#: Referred-to-completed rate of the 2018-22 programme (2,694 of 6,110 parents).
BENCHMARK_2018_22 = 2694 / 6110


def _settings(args: argparse.Namespace) -> dict:
    common = {"icc": args.icc, "cv": args.cv, "alpha": args.alpha,
              "two_sided": not args.one_sided}
    if args.outcome == "prepost":
        if args.effect_size is None:
            raise RpcEvalError("--outcome prepost needs --effect-size (the standardised mean "
                               "change d_z, e.g. 0.3).")
        return {"effect_size": args.effect_size, "completion_rate": args.completion_rate,
                **common}
    if args.rate is None:
        raise RpcEvalError("--outcome completion needs --rate (the completion rate you "
                           "expect, e.g. 0.52).")
    return {"p": args.rate, "p0": args.benchmark, **common}


def _pct(x: float) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.0f}%"


def _grid(table: pd.DataFrame, column: str) -> str:
    wide = table.pivot(index="n_las", columns="parents_per_la", values=column)
    head = "LAs  | " + " ".join(f"{m:>6}" for m in wide.columns)
    lines = [" " * 7 + "parents referred per LA", head, "-" * len(head)]
    for k, row in wide.iterrows():
        lines.append(f"{k:>4} | " + " ".join(f"{_pct(v):>6}" for v in row))
    return "\n".join(lines)


def _what(args: argparse.Namespace) -> str:
    tail = "two-sided" if not args.one_sided else "one-sided"
    if args.outcome == "prepost":
        return (f"a standardised change of {args.effect_size:g} (d_z), with ICC "
                f"{args.icc:g} between LAs, {args.completion_rate:.0%} of referred parents "
                f"with both questionnaires, LA sizes varying by {args.cv:.0%} (CV), "
                f"{tail} test at {args.alpha:g}")
    return (f"a completion rate of {args.rate:.1%} against the benchmark {args.benchmark:.1%}, "
            f"with ICC {args.icc:g} between LAs, LA sizes varying by {args.cv:.0%} (CV), "
            f"{tail} test at {args.alpha:g}")


def _sentences(table: pd.DataFrame, args: argparse.Namespace, settings: dict) -> list[str]:
    from rpc_eval.design.power import sample_size

    out = []
    what = "to detect the change" if args.outcome == "prepost" else \
        "to show the completion rate differs from the benchmark"
    for k, rows in table.groupby("n_las", sort=True):
        ok = rows[rows["power"] >= args.target]
        if len(ok):
            r = ok.iloc[0]
            analysed = (f", about {r.n_analysed:,.0f} with both questionnaires"
                        if args.outcome == "prepost" else "")
            text = (f"With {k} LAs, {int(r.parents_per_la)} parents each "
                    f"({int(r.n_referred):,} "
                    f"referred{analysed}) gives {_pct(r.power)} power {what}.")
        else:
            text = (f"With {k} LAs, no size in the table reaches {_pct(args.target)} power "
                    f"(at most {_pct(rows['power'].max())}).")
        try:
            need = sample_size(int(k), target_power=args.target, outcome=args.outcome,
                               **settings)
            text += f" The smallest number for {_pct(args.target)} power is {need} per LA."
        except RpcEvalError as exc:
            msg = str(exc)
            text += f" {msg[0].upper()}{msg[1:]}"
        out.append(text)
    return out


def cmd_power(args: argparse.Namespace) -> int:
    from rpc_eval.design.power import power_table, simulate_power

    try:
        if not 0 < args.target < 1:
            raise RpcEvalError(f"--target must be between 0 and 1, got {args.target:g}.")
        settings = _settings(args)
        table = power_table(args.las, args.parents, outcome=args.outcome, **settings)
        sim = None
        if args.simulate:
            from rpc_eval.design.power import _check_memory, _size, memory_limit, simulation_memory

            limit = memory_limit() if args.max_memory is None else int(args.max_memory
                                                                       * 1024 ** 3)
            need = simulation_memory(
                args.las, args.parents, outcome=args.outcome, cv=args.cv,
                completion_rate=args.completion_rate, n_sims=args.sims, n_jobs=args.jobs,
                methods=[m if m != "auto" else "cluster" for m in args.method])
            _check_memory(need, limit, "The simulation")  # before anything starts
            if not args.quiet:
                print(f"The simulation needs about {_size(need)} of memory (limit "
                      f"{_size(limit)}).", file=sys.stderr)
            steps = Steps([f"simulating {args.sims:,} datasets per design"], args.quiet)
            steps.start(0)
            try:
                sim = simulate_power(args.las, args.parents, outcome=args.outcome,
                                     n_sims=args.sims, seed=args.seed, n_jobs=args.jobs,
                                     method=args.method, max_memory=limit, **settings)
                steps.done()
            finally:
                steps.close()
        sentences = _sentences(table, args, settings)
    except RpcEvalError as exc:
        print(f"rpc-eval: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    out = table
    if sim is not None:
        wide = sim.pivot_table(index=["n_las", "parents_per_la"], columns="method",
                               values=["power", "std_error"]).reset_index()
        wide.columns = [a if not b else f"{a}_sim_{b}" for a, b in wide.columns]
        out = table.merge(wide, on=["n_las", "parents_per_la"], how="left")
    if args.out:
        from rpc_eval.safe_text import neutralise_frame

        neutralise_frame(out).to_csv(args.out, index=False)
    if args.quiet:
        return EXIT_OK
    label = "change" if args.outcome == "prepost" else "completion rate"
    print(f"Power to detect {_what(args)}.\n")
    print(f"Analytic power ({label}; clustering by LA through the design effect):")
    print(_grid(table, "power"))
    if sim is not None:
        for meth, rows in sim.groupby("method", sort=True):
            print(f"\nSimulated power, {meth} analysis ({args.sims:,} datasets per design; "
                  f"Monte-Carlo SE at most {100 * rows['std_error'].max():.1f} points):")
            print(_grid(rows, "power"))
    print()
    for s in sentences:
        print(s)
    if args.out:
        print(f"\nTable written to {args.out}")
    return EXIT_OK


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return value


def register(sub) -> None:
    """Add ``power`` to the command parser."""
    p = sub.add_parser(
        "power", help="power and sample size for a regional evaluation (parents in LAs)",
        description="Power of a regional evaluation with parents clustered in local "
                    "authorities, for every combination of numbers of LAs and parents per "
                    "LA. Clustering enters through the design effect "
                    "1 + ((cv^2 + 1) m - 1) ICC (Eldridge et al. 2006).")
    p.add_argument("--outcome", choices=["prepost", "completion"], default="prepost",
                   help="prepost: change from baseline to end; completion: completion rate "
                        "against a benchmark (default %(default)s)")
    p.add_argument("--effect-size", type=_fraction,
                   help="prepost: standardised mean change d_z (mean change / SD of change)")
    p.add_argument("--completion-rate", type=_fraction, default=1.0,
                   help="prepost: share of referred parents with both questionnaires "
                        "(default %(default)s)")
    p.add_argument("--rate", type=_fraction,
                   help="completion: the completion rate you expect (a proportion)")
    p.add_argument("--benchmark", type=_fraction, default=round(BENCHMARK_2018_22, 4),
                   help="completion: benchmark rate (default %(default)s, the 2018-22 "
                        "programme's 2,694 completers of 6,110 referred)")
    p.add_argument("--icc", type=_fraction, required=True,
                   help="intracluster correlation between LAs (e.g. 0.05)")
    p.add_argument("--las", type=int, nargs="+", required=True, metavar="N",
                   help="numbers of LAs to tabulate")
    p.add_argument("--parents", type=int, nargs="+", required=True, metavar="M",
                   help="parents referred per LA (on average) to tabulate")
    p.add_argument("--cv", type=_fraction, default=0.0,
                   help="coefficient of variation of LA sizes (default %(default)s)")
    p.add_argument("--alpha", type=_fraction, default=0.05,
                   help="significance level (default %(default)s)")
    p.add_argument("--one-sided", action="store_true", help="one-sided test")
    p.add_argument("--target", type=_fraction, default=0.8,
                   help="power wanted, for the sentences (default %(default)s)")
    p.add_argument("--simulate", action="store_true",
                   help="also estimate power by simulation")
    p.add_argument("--sims", type=int, default=500,
                   help="datasets simulated per design (default %(default)s)")
    p.add_argument("--method", nargs="+", default=["auto"],
                   choices=["auto", "cluster", "paired", "multilevel"],
                   help="analysis of simulated data (default auto: LA-clustered test, or "
                        "the paired test when ICC is 0)")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes for the simulation (-1: all cores; default "
                        "%(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="random seed of the simulation (default %(default)s)")
    p.add_argument("--max-memory", type=float, metavar="GIB",
                   help="memory the simulation may use, in GiB (default: half of this "
                        "computer's memory); a larger simulation is refused before it starts")
    p.add_argument("--out", help="write the table (CSV) to this file")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_power)
