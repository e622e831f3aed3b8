"""Shared pieces of the ``rpc-eval`` commands: exit codes, progress display, loading."""

from __future__ import annotations

import os
import re
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


#: Characters never printed as they are: C0 and C1 controls (ANSI escape sequences start
#: with ESC), DEL, and the invisible format characters that reorder or hide text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def safe(text: object) -> str:
    """``text`` fit for a terminal: every control or invisible formatting character is
    shown as an escape (``\\x1b``, ``\\n``), so a cell cannot move the cursor, colour
    or rewrite the screen, or fake a line of output."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"),
                       str(text))


def safe_lines(text: str) -> str:
    """Each line of ``text`` made :func:`safe` (the line breaks themselves are kept)."""
    return "\n".join(safe(line) for line in str(text).split("\n"))


_KNOCK_ON = re.compile(r"^refers to (\w+) row (\d+), which was excluded$")


def triage(frame):
    """Problems grouped for people: primary problems first, knock-on exclusions last.

    Returns ``(groups, knock_on)``. ``groups`` is a DataFrame with one row per set of
    identical problems (same table, file, column, severity, problem and hint): the
    columns of the problem list plus ``count`` and ``rows`` (the spreadsheet rows, in
    order), errors before warnings, in table order. ``knock_on`` has one row per table
    whose excluded rows took other rows with them: ``target, excluded, tables`` (the
    number of distinct excluded rows referred to, and ``{table: rows}`` of the rows that
    refer to them).
    """
    import pandas as pd

    from rpc_eval.data.intake import ORDER

    frame = frame.reset_index(drop=True)
    text = frame["problem"].astype(str)
    hit = text.str.extract(_KNOCK_ON)
    is_knock = hit[0].notna().to_numpy()
    knock = frame[is_knock].assign(_target=hit[0][is_knock], _row=hit[1][is_knock])
    knock_on = []
    for target, grp in knock.groupby("_target", sort=False):
        tables = grp.groupby("table", sort=False).size()
        knock_on.append({"target": target, "excluded": grp["_row"].nunique(),
                         "tables": {t: int(n) for t, n in tables.items()}})
    order = {t: i for i, t in enumerate(("",) + ORDER)}
    knock_on.sort(key=lambda k: order.get(k["target"], 99))
    primary = frame[~is_knock]
    keys = ["table", "file", "column", "severity", "problem", "hint"]
    filled = primary[keys].astype(object).where(primary[keys].notna(), "")
    sev = {"error": 0, "warning": 1, "info": 2}
    groups = []
    for key, grp in primary.groupby([filled[k] for k in keys], sort=False):
        rows = [int(r) for r in grp["row"] if pd.notna(r)]
        values = grp["value"].dropna().astype(str)
        values = values[values != ""]
        same = values.nunique() == 1 and len(values) == len(grp)
        groups.append({**dict(zip(keys, key, strict=True)),
                       "row": rows[0] if rows else None, "rows": rows,
                       "value": values.iloc[0] if len(values) and (same or len(grp) == 1)
                       else "",
                       "count": len(grp)})
    out = pd.DataFrame(groups, columns=[*keys, "row", "rows", "value", "count"])
    if len(out):
        out = (out.assign(_s=out["severity"].map(sev).fillna(3),
                          _t=out["table"].map(order).fillna(-1),
                          _r=out["row"].astype(float).fillna(-1))
               .sort_values(["_s", "_t", "file", "_r"], kind="stable")
               .drop(columns=["_s", "_t", "_r"]).reset_index(drop=True))
    return out, knock_on


def _rows_text(rows: list[int], first: int = 5) -> str:
    if not rows:
        return ""
    shown = ", ".join(map(str, rows[:first]))
    return f"row {shown}" if len(rows) == 1 else (
        f"rows {shown}" + (f" ... ({len(rows):,} rows)" if len(rows) > first else ""))


def knock_on_lines(knock_on) -> list[str]:
    """One line per table whose excluded rows took others with them."""
    lines = []
    for k in knock_on:
        parts = [f"{n:,} {t} rows" for t, n in k["tables"].items()]
        which = "these" if k["excluded"] > 1 else "this"
        noun = "rows" if k["excluded"] > 1 else "row"
        lines.append(f"  KNOCK-ON {' and '.join(parts)} belong to {which} {k['excluded']:,} "
                     f"excluded {k['target']} {noun}; they come back when the {k['target']} "
                     f"{noun} {'are' if k['excluded'] > 1 else 'is'} fixed")
    return lines


def problem_table(frame, limit: int = 30) -> str:
    """The problems as lines for a terminal: identical problems collapsed into one line
    (count and first rows), real mistakes first, one line per knock-on cascade.

    Identifiers (``parent_id``, ``Parent ID``, ``Client ID`` ...) are shown as ``[id]``
    and every value is made :func:`safe` for the terminal.
    """
    from rpc_eval.data.readers import is_id_column

    groups, knock_on = triage(frame)
    lines = []
    for r in groups.head(limit).itertuples(index=False):
        where = safe(r.file)
        rows = _rows_text(r.rows)
        where += f" {rows}" if rows else ""
        if isinstance(r.column, str) and r.column:
            where += f" [{safe(r.column)}]"
        value = r.value if isinstance(r.value, str) else ""
        if value and is_id_column(r.column):
            value = "[id]"
        shown = f" (value: {safe(value)})" if value else ""
        hint = f"\n      fix: {safe(r.hint)}" if isinstance(r.hint, str) and r.hint else ""
        lines.append(f"  {r.severity.upper():<7} {where}: {safe(r.problem)}{shown}{hint}")
    if len(groups) > limit:
        rest = groups.iloc[limit:]
        lines.append(f"  ... and {len(rest):,} more kinds of problem ({int(rest['count'].sum()):,} "
                     "rows; use --report FILE.csv to get all)")
    lines.extend(knock_on_lines(knock_on))
    return "\n".join(lines)


def report_frame(frame):
    """Every problem, for ``--report``: real mistakes first, knock-on exclusions last, with
    ``group`` (problems with the same number are the same mistake) and ``group_rows``."""
    import pandas as pd

    frame = frame.reset_index(drop=True)
    keys = ["table", "file", "column", "severity", "problem", "hint"]
    knock = frame["problem"].astype(str).str.match(_KNOCK_ON).to_numpy()
    filled = frame[keys].astype(object).where(frame[keys].notna(), "")
    from rpc_eval.data.intake import ORDER

    order = {t: i for i, t in enumerate(("",) + ORDER)}
    sev = {"error": 0, "warning": 1, "info": 2}
    out = frame.assign(
        _k=knock, _s=frame["severity"].map(sev).fillna(3),
        _t=frame["table"].map(order).fillna(-1),
        _g=filled.apply(tuple, axis=1) if len(frame) else [])
    if len(out):
        first = out.groupby("_g", sort=False)["row"].transform(
            lambda r: r.astype(float).min() if r.notna().any() else -1)
        out = out.assign(_f=first).sort_values(["_k", "_s", "_t", "file", "_f", "_g", "row"],
                                               kind="stable", na_position="first")
        out["group"] = pd.factorize(out["_g"])[0] + 1
        out["group_rows"] = out.groupby("group")["group"].transform("size")
        out = out.drop(columns=["_k", "_s", "_t", "_g", "_f"])
    else:
        out = out.drop(columns=["_k", "_s", "_t", "_g"]).assign(group=[], group_rows=[])
    return out.reset_index(drop=True)


def stop_on_data_errors(data, path: str, consequence: str) -> bool:
    """Print the data's errors (where, what, fix) and say what was not done; True when
    there were errors (the command should stop), False when the data are clean."""
    log = data.intake_log
    if not log.n_errors:
        return False
    shown = log.problems[log.problems["severity"] == "error"]
    print(f"The data at {safe(path)} have {log.n_errors:,} problem(s); {len(log.excluded):,} "
          f"row(s) would be left out. {consequence} Fix these and run again (rpc-eval "
          f"validate {safe(path)} lists them all):\n{problem_table(shown)}", file=sys.stderr)
    return True
