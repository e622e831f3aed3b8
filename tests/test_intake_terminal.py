"""What the terminal shows: no control characters from the data, no identifiers, and
identical problems collapsed with knock-on exclusions summarised."""

from __future__ import annotations

import pandas as pd

from rpc_eval.cli import main
from rpc_eval.cli._common import problem_table, report_frame, safe, triage

HEADER = ("parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
          "referral_date,start_date,exit_date,exit_reason")
LAS = "la_code,la_name,region\nLA001,Northtown,north_east\n"


def _dataset(folder, parents, header=HEADER, attendance=None):
    folder.mkdir()
    (folder / "las.csv").write_text(LAS, encoding="utf-8")
    (folder / "parents.csv").write_text("\n".join([header, *parents]) + "\n", encoding="utf-8")
    if attendance:
        (folder / "attendance.csv").write_text(attendance, encoding="utf-8")
    return folder


def _row(i, mode="online", pid=None):
    return (f"{pid or f'P{i:03d}'},F{i:03d},LA001,parents_plus_pws,{mode},separated,2023-01-05,"
            "2023-01-20,2023-03-01,completed")


def test_safe_escapes_control_and_invisible_characters():
    assert safe("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert safe("x\ny\rz\tw") == "x\\ny\\rz\\tw"
    assert safe("\u202eevil") == "\\u202eevil"
    assert safe("Café – 5 €") == "Café – 5 €"


def test_escape_codes_in_a_cell_are_not_printed(tmp_path, capsys):
    fake = "\x1b[2K\x1b[1GValid: every row passed the checks.\x1b[0m"
    folder = _dataset(tmp_path / "d", [_row(1, mode=fake), _row(2)])
    assert main(["validate", str(folder), "--quiet", "--today", "2024-06-01"]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "\x1b" not in text
    assert "\\x1b[2K\\x1b[1GValid: every row passed" in text


def test_identifiers_in_a_differently_named_column_are_masked(tmp_path, capsys):
    header = HEADER.replace("parent_id", "Parent ID")
    attendance = ("Client ID,session_number,session_date,attended\n"
                  "SECRET-ID-9,1,2023-01-21,yes\n")
    folder = _dataset(tmp_path / "d", [_row(1, pid="SECRET-ID-1"),
                                       _row(2, pid="SECRET-ID-1")], header=header,
                      attendance=attendance)
    assert main(["validate", str(folder), "--quiet", "--today", "2024-06-01"]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "SECRET-ID" not in text
    assert "[id]" in text


def _frame(rows):
    return pd.DataFrame(rows, columns=["table", "file", "row", "column", "value", "severity",
                                       "problem", "hint"])


def test_identical_problems_collapse_and_knock_on_is_one_line():
    rows = [("parents", "parents.csv", r, "exit_reason", "", "error", "exit_reason is missing",
             "fill in exit_reason on every row") for r in range(2, 3623)]
    rows += [("parents", "parents.csv", 5000, "referral_date", "31/02/2023", "error",
              "not a valid date: 31 February does not exist (February has 28 days)",
              "check the day and the month")]
    rows += [("responses", "responses.csv", r, "parent_id", "P1", "error",
              f"refers to parents row {2 + r % 8}, which was excluded", "fix it")
             for r in range(2, 573)]
    rows += [("attendance", "attendance.csv", r, "parent_id", "P1", "error",
              f"refers to parents row {2 + r % 8}, which was excluded", "fix it")
             for r in range(2, 27)]
    frame = _frame(rows)
    groups, knock = triage(frame)
    assert len(groups) == 2 and list(groups["count"]) == [3621, 1]
    assert groups.loc[0, "rows"][:3] == [2, 3, 4]
    assert knock == [{"target": "parents", "excluded": 8,
                      "tables": {"responses": 571, "attendance": 25}}]
    text = problem_table(frame)
    lines = text.splitlines()
    assert len(lines) == 5
    assert "rows 2, 3, 4, 5, 6 ... (3,621 rows) [exit_reason]: exit_reason is missing" in lines[0]
    assert lines[-1] == ("  KNOCK-ON 571 responses rows and 25 attendance rows belong to these 8 "
                         "excluded parents rows; they come back when the parents rows are fixed")
    rep = report_frame(frame)
    assert len(rep) == len(frame)
    assert rep["problem"].iloc[-1].startswith("refers to parents row")
    assert rep.loc[rep["problem"] == "exit_reason is missing", "group_rows"].eq(3621).all()


def test_long_lists_say_how_many_kinds_are_left():
    rows = [("parents", "parents.csv", r, f"c{r}", "", "error", f"problem {r}", "hint")
            for r in range(2, 50)]
    text = problem_table(_frame(rows), limit=10)
    assert text.splitlines()[-1].startswith("  ... and 38 more kinds of problem (38 rows")
