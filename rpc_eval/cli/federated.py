"""``rpc-eval summarise`` (an LA's aggregate summary) and ``rpc-eval pool`` (the region's).

    rpc-eval summarise --plan analysis_plans/regional_evaluation_template_v1.yaml \\
                       --data filled-template.xlsx --out la-summary.json
    rpc-eval pool LA001.json LA002.json LA003.json --out pooled/ --trusted-keys keys/
    rpc-eval keygen --la LA001 --out northtown

An LA shares only the summary file: counts, means and standard deviations, with small
counts suppressed. The coordinator pools the files; no row-level data leave an LA. An LA
that signs its summaries (``keygen`` once, then ``summarise --sign-key``) lets the
coordinator prove, with ``pool --trusted-keys``, that each summary is the LA's own and
unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rpc_eval.cli._common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    Steps,
    load_data,
    problem_table,
    stop_on_data_errors,
)
from rpc_eval.errors import DataValidationError, RpcEvalError

__all__ = ["register", "cmd_summarise", "cmd_pool", "cmd_keygen"]


def _err(message: str) -> int:
    print(f"rpc-eval: {message}", file=sys.stderr)
    return EXIT_PROBLEMS


def _count(v) -> str:
    return "[c] (suppressed)" if v is None else f"{v:,}"


def _describe(summary: dict, out: Path) -> str:
    t = summary["disclosure"]["threshold"]
    f = summary["funnel"]
    lines = [f"Wrote {out}: the aggregate summary of {summary['la_code']} for plan "
             f"{summary['plan']['name']}.",
             "It holds counts, means and standard deviations only: no row-level data, no "
             "identifiers and no dates.",
             "  Parents: " + ", ".join(f"{k.replace('_', ' ')} {_count(f[k])}" for k in
                                       ("referred", "started", "completed", "dropped_out",
                                        "ongoing"))]
    for o in summary["outcomes"]:
        name = o["instrument"] if o["scale"] == "total" else f"{o['instrument']} {o['scale']}"
        if o["mean_change"] is None:
            lines.append(f"  {name}: {o['reason']}")
        else:
            lines.append(f"  {name}: {o['n_paired']:,} parents with both questionnaires, "
                         f"mean change {o['mean_change']:.2f} (SD {o['sd_change']:.2f})")
    lines.append(f"Counts of 1 to {t - 1} people, and counts that would reveal them by "
                 "subtraction, are suppressed.")
    sig = summary.get("signature")
    lines.append(f"Signed with the key {sig['key_id']} of {sig['la_code']}." if sig else
                 "Not signed: the coordinator cannot prove it came from you unchanged (make "
                 "a key once with rpc-eval keygen, then add --sign-key).")
    lines.append("Send this file to the coordinator of the regional evaluation, who pools "
                 "the LAs' files with: rpc-eval pool FILE.json [FILE.json ...] --out DIR")
    return "\n".join(lines)


def cmd_summarise(args: argparse.Namespace) -> int:
    from rpc_eval.plan import load_plan
    from rpc_eval.regional.federated import summarise, write_summary

    out = Path(args.out)
    if out.suffix.lower() != ".json":
        return _err(f"the summary is a JSON file: give --out a name ending in .json (not "
                    f"{out.name})")
    try:
        plan = load_plan(args.plan)
        steps = Steps(["reading and checking the data", "summarising"], args.quiet)
        steps.start(0)
        try:
            data = load_data(args.data, None, args.today)
        finally:
            steps.done()
        if stop_on_data_errors(data, args.data, "No summary was written."):
            steps.close()
            return EXIT_PROBLEMS
        steps.start(1)
        summary = summarise(data, plan, la_code=args.la, command="rpc-eval summarise")
        steps.done()
        steps.close()
        if args.sign_key:
            from rpc_eval.signing import sign_summary

            summary = sign_summary(summary, args.sign_key)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_summary(summary, out)
    except DataValidationError as exc:
        print(f"{exc.summary}. No summary was written.\n{problem_table(exc.to_frame())}",
              file=sys.stderr)
        return EXIT_PROBLEMS
    except RpcEvalError as exc:
        return _err(str(exc))
    except OSError as exc:
        return _err(f"{exc.strerror or exc}: {exc.filename or ''}")
    if not args.quiet:
        print(_describe(summary, out))
    return EXIT_OK


def cmd_pool(args: argparse.Namespace) -> int:
    from rpc_eval.plan import load_plan
    from rpc_eval.regional.federated import pool
    from rpc_eval.report.pooled_report import write_pooled_report

    try:
        plan = load_plan(args.plan) if args.plan else None
        results = pool(args.summaries, plan=plan, trusted_keys=args.trusted_keys)
        out = write_pooled_report(results, args.out)
    except RpcEvalError as exc:
        return _err(str(exc))
    except OSError as exc:
        return _err(f"{exc.strerror or exc}: {exc.filename or ''}")
    if args.trusted_keys is None:
        print("rpc-eval: warning: integrity not proven. The summaries' signatures were not "
              "checked, so nothing shows who wrote them or that they were not changed; "
              "pool with --trusted-keys FOLDER (the LAs' .pub files) to prove it.",
              file=sys.stderr)
    if not args.quiet:
        print(results.in_words())
        if args.trusted_keys is not None:
            print(f"Every summary's signature was verified with the key of its own LA "
                  f"(keys in {args.trusted_keys}):")
            for r in results.inputs.itertuples(index=False):
                print(f"  {r.file}: {r.la_code}, {r.signature}")
        for note in results.notes:
            print(f"  Note: {note}")
        print(f"Report: {out / 'index.html'} (tables in {out / 'pooled.ods'} and "
              f"{out / 'tables'}; checksums in {out / 'manifest.json'}).")
    return EXIT_OK


def cmd_keygen(args: argparse.Namespace) -> int:
    from rpc_eval.signing import generate_keypair

    try:
        key, pub = generate_keypair(args.out, args.la)
    except RpcEvalError as exc:
        return _err(str(exc))
    except OSError as exc:
        return _err(f"{exc.strerror or exc}: {exc.filename or ''}")
    if not args.quiet:
        from rpc_eval.signing import load_public_key

        k = load_public_key(pub)
        print(f"Wrote {key} (the private key of {k.la_code}: keep it at the LA, readable only "
              f"by you; never send it) and {pub} (the public key, fingerprint {k.key_id}).\n"
              f"Give {pub.name} to the coordinator of the regional evaluation, who should "
              f"check the fingerprint {k.key_id} with you by phone or in person. Sign each "
              f"summary with: rpc-eval summarise ... --sign-key {key}")
    return EXIT_OK


def register(sub) -> None:
    """Add ``summarise``, ``pool`` and ``keygen`` to the command parser."""
    p = sub.add_parser(
        "summarise", help="write an LA's aggregate summary for a pooled regional evaluation",
        description="Check an LA's data and write a JSON summary of counts, means and "
                    "standard deviations (small counts suppressed; no row-level data) to "
                    "send to the regional coordinator.")
    p.add_argument("--plan", required=True, help="analysis plan (YAML) with a pooling section")
    p.add_argument("--data", required=True, help="the LA's data: the filled .xlsx workbook or "
                                                 "a folder of table files")
    p.add_argument("--la", metavar="CODE", help="la_code of the LA to summarise (needed when "
                                                "the data hold several LAs)")
    p.add_argument("--out", default="la-summary.json", help="file to write (default "
                                                             "%(default)s)")
    p.add_argument("--today", metavar="YYYY-MM-DD", help="dates after this count as future "
                   "(default: today)")
    p.add_argument("--sign-key", metavar="PREFIX.key", help="sign the summary with this LA's "
                   "private key (made once with rpc-eval keygen)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_summarise)

    p = sub.add_parser(
        "pool", help="pool LAs' summaries into a regional report",
        description="Read LA summaries (rpc-eval summarise), check they were made with the "
                    "same plan, and write the pooled report: meta-analysis of each outcome, "
                    "pooled funnel and completion (HTML, CSV, ODS, figures, manifest.json).")
    p.add_argument("summaries", nargs="+", metavar="SUMMARY.json", help="LA summary files")
    p.add_argument("--out", required=True, help="folder to write the pooled report to")
    p.add_argument("--plan", help="analysis plan the summaries must have been made with")
    p.add_argument("--trusted-keys", metavar="DIR", help="folder of the LAs' public keys "
                   "(.pub); only summaries signed by the key of their own LA are pooled. "
                   "Without it, nothing proves who wrote the summaries")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_pool)

    p = sub.add_parser(
        "keygen", help="make an LA's key pair for signing its summaries",
        description="Write PREFIX.key (private: stays at the LA, file mode 600) and "
                    "PREFIX.pub (public: give it to the coordinator). Sign summaries with "
                    "rpc-eval summarise --sign-key PREFIX.key.")
    p.add_argument("--la", required=True, metavar="CODE", help="la_code of the LA the key "
                                                               "belongs to")
    p.add_argument("--out", required=True, metavar="PREFIX", help="where to write "
                   "PREFIX.key and PREFIX.pub")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_keygen)
