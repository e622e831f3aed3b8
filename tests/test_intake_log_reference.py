"""The intake log and the typed tables of two datasets with many kinds of problems are
exactly the recorded ones: a faster intake must find the same problems, in the same
rows, with the same words and counts, and keep the same values.

The reference (``tests/reference/intake_log_reference.json``) was recorded by this
file's ``--record`` mode on the intake before it was made faster; record again only
when a change of the log is intended, and say why in the commit.

    python tests/test_intake_log_reference.py --record
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rpc_eval.data as rd
from rpc_eval.data.write import write
from rpc_eval.errors import DataQualityWarning
from rpc_eval.synthetic import generate

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference" / "intake_log_reference.json"
TODAY = "2024-06-01"


def _edit_rows(path: Path, edits: dict[int, callable]) -> None:
    """Apply ``edits`` (data line number, 1 = first data row -> function of the line)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    for i, f in edits.items():
        lines[i] = f(lines[i])
    path.write_text("\n".join(lines), encoding="utf-8", newline="")


def _cell(line: str, col: int, value: str) -> str:
    cells = line.split(",")
    cells[col] = value
    return ",".join(cells)


def build_problem_folder(folder: Path) -> Path:
    """A CSV dataset (synthetic, small) with many kinds of problems written into it."""
    data, _ = generate("small", seed=11)
    keep = data.parents["parent_id"].iloc[:300]
    data.parents = data.parents[data.parents["parent_id"].isin(keep)].reset_index(drop=True)
    data.attendance = data.attendance[data.attendance["parent_id"].isin(keep)]
    data.responses = data.responses[data.responses["parent_id"].isin(keep)]
    write(data, folder)
    head = {t: (folder / f"{t}.csv").read_text(encoding="utf-8").split("\n", 1)[0].split(",")
            for t in ("las", "parents", "attendance", "responses", "practitioners",
                      "training_responses", "planning_tool")}

    def col(t: str, name: str) -> int:
        return head[t].index(name)

    p = folder / "parents.csv"
    lines = p.read_text(encoding="utf-8").split("\n")
    lines.insert(5, lines[4])                                  # an exact copy
    lines.insert(9, _cell(lines[8], col("parents", "family_id"), "FX"))  # key conflict
    lines.insert(12, "," * (len(head["parents"]) - 1))          # a blank row
    p.write_text("\n".join(lines), encoding="utf-8", newline="")
    rd_, sd, ed = (col("parents", c) for c in ("referral_date", "start_date", "exit_date"))
    er, la, iv = (col("parents", c) for c in ("exit_reason", "la_code", "intervention"))
    fam = col("parents", "family_id")
    _edit_rows(p, {
        14: lambda s: _cell(s, rd_, "31/02/2021"),
        15: lambda s: _cell(s, rd_, "13/25/2021"),
        16: lambda s: _cell(s, rd_, "44927"),
        17: lambda s: _cell(s, rd_, "2031-01-05"),
        18: lambda s: _cell(s, rd_, "1850-01-01"),
        19: lambda s: _cell(s, rd_, "March 2021"),
        20: lambda s: _cell(s, rd_, "05/01/2021"),
        21: lambda s: _cell(s, rd_, "soon"),
        22: lambda s: _cell(s, er, "Dropped out"),
        23: lambda s: _cell(s, er, "zzz"),
        24: lambda s: _cell(s, la, "zz999"),
        25: lambda s: _cell(s, la, s.split(",")[la].lower()),
        26: lambda s: _cell(s, iv, "enhanced  triple-p"),
        27: lambda s: _cell(s, fam, ""),
        28: lambda s: _cell(s, fam, "NA"),
        29: lambda s: _cell(s, sd, "2000-01-01"),
        30: lambda s: _cell(s, ed, "N/A"),
        31: lambda s: _cell(s, iv, "triple"),
    })
    a = folder / "attendance.csv"
    n_, sdt, att, apid = (col("attendance", c) for c in
                          ("session_number", "session_date", "attended", "parent_id"))
    _edit_rows(a, {
        1: lambda s: _cell(s, n_, "two"),
        2: lambda s: _cell(s, n_, "2.5"),
        3: lambda s: _cell(s, n_, "-4"),
        4: lambda s: _cell(s, att, "maybe"),
        5: lambda s: _cell(s, apid, "NOBODY"),
        6: lambda s: _cell(s, sdt, "1999-01-01"),
        7: lambda s: _cell(s, n_, "1e400"),
        8: lambda s: _cell(s, sdt, "2023-1-5 10:30"),
    })
    r = folder / "responses.csv"
    val, item, ins = (col("responses", c) for c in ("value", "item", "instrument"))
    _edit_rows(r, {
        1: lambda s: _cell(s, val, "99"),
        2: lambda s: _cell(s, val, "1.5"),
        3: lambda s: _cell(s, item, "not_an_item"),
        4: lambda s: _cell(s, ins, "nosuch"),
        5: lambda s: _cell(s, val, "lots"),
        6: lambda s: _cell(s, val, "NULL"),
    })
    lines = r.read_text(encoding="utf-8").split("\n")
    lines[-4] = _cell(lines[-4], col("responses", "parent_id"), '"P_open')  # a stray quote
    r.write_text("\n".join(lines), encoding="utf-8", newline="")
    t = folder / "training_responses.csv"
    text = t.read_text(encoding="utf-8").replace(",", ";")      # semicolons
    t.write_text(text, encoding="utf-8", newline="")
    las = folder / "las.csv"
    lines = las.read_text(encoding="utf-8").split("\n")
    lines[0] = lines[0] + ",notes"
    lines[1:] = [ln + (",x" if ln else "") for ln in lines[1:]]
    lines.insert(3, _cell(lines[2], 0, "LA 9"))                 # not a code
    las.write_bytes("\n".join(lines).replace("north", "nörth", 1).encode("cp1252"))
    pt = folder / "planning_tool.csv"
    sec, resp = col("planning_tool", "section"), col("planning_tool", "response")
    _edit_rows(pt, {1: lambda s: _cell(s, sec, "partner_awareness"),
                    2: lambda s: _cell(s, resp, "banana")})
    pr = folder / "practitioners.csv"
    _edit_rows(pr, {1: lambda s: _cell(s, col("practitioners", "training_date"),
                                       "2030-01-01")})
    return folder


def _workbook(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "_realistic_workbook", HERE / "test_intake_realistic_workbook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_broken_workbook(folder)[0]


def _frame_digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256(str(list(zip(frame.columns, map(str, frame.dtypes), strict=True)))
                       .encode())
    h.update(np.asarray(pd.util.hash_pandas_object(frame, index=False)).tobytes())
    return h.hexdigest()


def _records(frame: pd.DataFrame) -> list[list]:
    out = frame.astype(object).where(frame.notna(), None)
    return [[None if v is None else (int(v) if isinstance(v, int | np.integer) else str(v))
             for v in row] for row in out.itertuples(index=False)]


def intake_summary(path: Path) -> dict:
    """Everything the intake says about ``path`` (log and typed tables' digests)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        data = rd.load(path, today=TODAY)
    log = data.intake_log
    return {
        "problems": _records(log.problems),
        "tables": _records(log.tables),
        "excluded": _records(log.excluded),
        "typed": {name: _frame_digest(t) for name, t in data.tables().items()},
    }


def _datasets(tmp: Path) -> dict[str, Path]:
    return {"csv_folder": build_problem_folder(tmp / "csv"),
            "workbook": _workbook(tmp / "xlsx")}


@pytest.fixture(scope="module")
def summaries(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    (tmp / "xlsx").mkdir()
    return {name: intake_summary(path) for name, path in _datasets(tmp).items()}


@pytest.mark.parametrize("name", ["csv_folder", "workbook"])
@pytest.mark.parametrize("part", ["problems", "tables", "excluded", "typed"])
def test_intake_log_is_the_recorded_one(summaries, name, part):
    expected = json.loads(REFERENCE.read_text(encoding="utf-8"))[name][part]
    got = json.loads(json.dumps(summaries[name][part]))
    if part in ("problems", "excluded"):
        assert len(got) == len(expected)
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert g == e, f"{part} row {i}: {g} != {e}"
    else:
        assert got == expected


def test_the_datasets_hold_many_kinds_of_problems():
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    for name in ("csv_folder", "workbook"):
        problems = ref[name]["problems"]
        kinds = {(p[0], p[6]) for p in problems}
        assert len(kinds) >= 25, name
        assert {p[5] for p in problems} == {"error", "warning", "info"}


if __name__ == "__main__" and "--record" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "xlsx").mkdir()
        out = {name: intake_summary(path) for name, path in _datasets(tmp).items()}
    REFERENCE.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    print(f"recorded {REFERENCE}")
