"""Shared pieces of the ``rpc-eval`` commands: exit codes, progress display, loading."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence

from rpc_eval.errors import DataQualityWarning, RpcEvalError

EXIT_OK, EXIT_PROBLEMS = 0, 2
DEFAULT_SEED = 20240601
KEY_HELP = ("name of an environment variable holding a secret key; identifiers are then "
            "replaced by keyed pseudonyms (HMAC-SHA256) in everything written")


def _interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Steps:
    """A progress display over named steps: a bar when interactive, plain lines otherwise."""

    def __init__(self, steps: Sequence[str], quiet: bool = False) -> None:
        self.steps, self.quiet, self.bar = list(steps), quiet, None
        if _interactive() and not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=len(self.steps), file=sys.stderr, leave=False,
                            bar_format="{desc:<34} {bar:20} {n_fmt}/{total_fmt} [{elapsed}]")

    def start(self, i: int) -> None:
        if self.bar is not None:
            self.bar.set_description_str(self.steps[i])
        elif not self.quiet:
            print(f"- {self.steps[i]} ...", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _key(env: str | None) -> str | None:
    if not env:
        return None
    value = os.environ.get(env)
    if not value:
        raise RpcEvalError(f"environment variable {env} is not set; set it to your secret "
                           "pseudonymisation key, or leave out --pseudonymise-key-env")
    return value


def load_data(path: str, key_env: str | None, today: str | None):
    from rpc_eval.data import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load(path, pseudonymise_key=_key(key_env), today=today)


def problem_table(frame, limit: int = 40) -> str:
    import pandas as pd

    from rpc_eval.data.pseudonymise import ID_COLUMNS

    shown = frame.head(limit).copy()
    ids = shown["column"].isin(ID_COLUMNS) & shown["value"].fillna("").ne("")
    shown.loc[ids, "value"] = "[id]"
    shown["where"] = [
        f"{f}" + (f" row {int(r)}" if pd.notna(r) else "")
        + (f" [{c}]" if isinstance(c, str) else "")
        for f, r, c in zip(shown["file"], shown["row"], shown["column"], strict=True)
    ]
    lines = []
    for r in shown.itertuples(index=False):
        value = f" (value: {r.value})" if isinstance(r.value, str) and r.value else ""
        hint = f"\n      fix: {r.hint}" if isinstance(r.hint, str) and r.hint else ""
        lines.append(f"  {r.severity.upper():<7} {r.where}: {r.problem}{value}{hint}")
    if len(frame) > limit:
        lines.append(f"  ... and {len(frame) - limit:,} more (use --report FILE.csv to get all)")
    return "\n".join(lines)




def stop_on_data_errors(data, path: str, consequence: str) -> bool:
    """Print the data's errors (where, what, fix) and say what was not done; True when
    there were errors (the command should stop), False when the data are clean."""
    log = data.intake_log
    if not log.n_errors:
        return False
    shown = log.problems[log.problems["severity"] == "error"]
    print(f"The data at {path} have {log.n_errors:,} problem(s); {len(log.excluded):,} "
          f"row(s) would be left out. {consequence} Fix these and run again (rpc-eval "
          f"validate {path} lists them all):\n{problem_table(shown)}", file=sys.stderr)
    return True
