"""The Excel data-collection workbook for a regional evaluation.

:func:`write_template` writes an ``.xlsx`` workbook that :func:`rpc_eval.data.load`
reads as it is:

* an ``Instructions`` sheet first: what the workbook is, what one row of each sheet is
  and which columns are required, how codes, dates and blanks work, a worked example
  of every table, and the commands that check and analyse the filled workbook;
* one sheet per table of the data model (``docs/data-model.md``), named as the reader
  expects, with the column names in row 1 and nothing else above the data. Help for a
  column is a comment on its header cell (type, required or optional, codes, range,
  format), never a second header line, which would be read as data;
* Excel data validation on a generous block of rows: drop-down lists of the codebook
  codes, yes/no lists, dates from 1900-01-01 up to today, whole-number and decimal
  ranges, LA codes from the ``las`` sheet, and lookups keyed by instrument and item
  (questionnaire values), by question (training survey values) and by item
  (planning-tool responses);
* a hidden, protected ``Lists`` sheet holding the long code lists and lookup tables
  the validations refer to (through workbook names such as ``list_interventions``).

Examples are on the Instructions sheet, not on the table sheets: every row under a
header is data, so a forgotten example row would be analysed. The ``interventions``
sheet is filled with the package's interventions codebook, because a present but empty
interventions table would leave no valid intervention code for ``parents``.

Excel's validation is a convenience: it stops typing mistakes but not pasted values,
and it cannot check rules across rows or tables (dates in order, keys unique, a
parent's responses belonging to a known parent). :func:`rpc_eval.data.load` (or
``rpc-eval validate``) checks all of those.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rpc_eval.data.codebooks import Codebook, load_codebooks
from rpc_eval.data.model import TABLES, EvaluationData, schema
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import Registry, default_registry

__all__ = [
    "write_template",
    "EXAMPLE_ROWS",
    "INSTRUCTIONS_SHEET",
    "LISTS_SHEET",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_PARENTS",
    "ROWS_PER_PARENT",
    "PLAN",
]

INSTRUCTIONS_SHEET = "Instructions"
LISTS_SHEET = "Lists"
#: Rows (below the header) that carry data validation on sheets not sized by parents.
DEFAULT_MAX_ROWS = 5000
#: Parents the in-cell checks are sized for by default.
DEFAULT_PARENTS = 2000
#: Rows per parent each sheet's checks cover (a parent's sessions; items answered over
#: the waves, 78 on average in a programme like 2018-22's; questionnaires answered).
ROWS_PER_PARENT = {"parents": 1, "attendance": 20, "responses": 100, "questionnaires": 12}
#: Last row of an Excel worksheet.
EXCEL_ROWS = 1_048_576
#: Analysis plan named in the instructions' "run it" step.
PLAN = "analysis_plans/regional_evaluation_template_v1.yaml"
DATE_FORMAT = "yyyy-mm-dd"
#: Drop-down lists whose codes joined by commas are at most this long are written into
#: the validation itself; longer ones (Excel's limit is 255 characters) go on Lists.
_INLINE_LIMIT = 250

#: One valid example row per table, as text, shown on the Instructions sheet. The rows
#: fit together (the parent's LA is the LA of the las example ...) and load cleanly.
EXAMPLE_ROWS: dict[str, dict[str, str]] = {
    "las": {"la_code": "E06000001", "la_name": "Hartlepool", "region": "north_east",
            "family_hub_area": "Central", "cluster_id": "Tees Valley"},
    "interventions": {"intervention": "parents_plus_pws",
                      "name": "Parents Plus Parenting When Separated",
                      "intensity": "group", "sessions_planned": "6"},
    "parents": {"parent_id": "P0001", "family_id": "F0001", "la_code": "E06000001",
                "intervention": "parents_plus_pws", "delivery_mode": "face_to_face",
                "relationship_status": "separated", "referral_date": "2023-01-05",
                "start_date": "2023-01-20", "exit_date": "2023-03-01",
                "exit_reason": "completed", "sessions_planned": "6", "parent_sex": "female",
                "parent_age": "34", "ethnic_group": "white", "workless": "no",
                "child_age": "8"},
    "attendance": {"parent_id": "P0001", "session_number": "1", "session_date": "2023-01-20",
                   "attended": "yes"},
    "responses": {"parent_id": "P0001", "respondent": "parent", "instrument": "phq9",
                  "wave": "baseline", "item": "phq9_01", "value": "2",
                  "completed_date": "2023-01-19"},
    "practitioners": {"practitioner_id": "PR001", "la_code": "E06000001", "sector": "police",
                      "course": "rpc_awareness", "training_date": "2023-03-01",
                      "delivery": "face_to_face"},
    "training_responses": {"practitioner_id": "PR001", "wave": "pre", "question": "knowledge",
                           "value": "2", "completed_date": "2023-03-01"},
    "planning_tool": {"la_code": "E06000001", "return_year": "2023",
                      "section": "self_assessment", "item": "element_1", "response": "2"},
}

_TYPE_WORDS = {
    "id": "identifier (text)",
    "text": "text",
    "code": "code (choose from the drop-down list)",
    "integer": "whole number",
    "number": "number",
    "date": "date",
    "boolean": "yes or no",
}


# ------------------------------------------------------------------------------------
# the Lists sheet: code lists and lookup tables the validations refer to
# ------------------------------------------------------------------------------------
class _Lists:
    """Columns of the hidden Lists sheet, each (or each block) given a workbook name."""

    def __init__(self, wb) -> None:
        self.wb = wb
        self.ws = wb.create_sheet(LISTS_SHEET)
        self.next_col = 1
        self.names: dict[str, str] = {}

    def add(self, name: str, values: list[Any]) -> str:
        """Write ``values`` under a header ``name`` in the next free column; return the
        workbook name of the cells (``name`` itself)."""
        from openpyxl.utils import get_column_letter, quote_sheetname
        from openpyxl.workbook.defined_name import DefinedName

        if name in self.names:
            return name
        col = self.next_col
        self.next_col += 1
        self.ws.cell(row=1, column=col, value=name)
        for i, v in enumerate(values, start=2):
            self.ws.cell(row=i, column=col, value=v)
        letter = get_column_letter(col)
        last = max(len(values), 1) + 1
        ref = f"{quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${last}"
        self.wb.defined_names[name] = DefinedName(name, attr_text=ref)
        self.ws.column_dimensions[letter].width = max(12, min(40, len(name) + 2))
        self.names[name] = ref
        return name


def _list_formula(codes: list[str], lists: _Lists, name: str) -> str:
    """A list validation's source: the codes themselves when short, else a Lists name."""
    inline = ",".join(codes)
    if codes and len(inline) <= _INLINE_LIMIT and not any(
            ("," in c) or ('"' in c) for c in codes):
        return f'"{inline}"'
    return lists.add(f"list_{name}", list(codes))


# ------------------------------------------------------------------------------------
# help text
# ------------------------------------------------------------------------------------
def _shown_codes(codes: list[str], limit: int = 12) -> str:
    shown = ", ".join(codes[:limit])
    return shown + (f", ... ({len(codes)} codes; see the drop-down)" if len(codes) > limit
                    else "")


def _rule_text(table: str, col: str, spec: Mapping[str, Any],
               codes: Mapping[str, list[str]]) -> str:
    """One line on what a cell of ``table.col`` may hold."""
    kind = spec["type"]
    if kind == "code":
        return "codes: " + _shown_codes(codes[spec["codebook"]])
    if kind == "date":
        return "a date: type YYYY-MM-DD (e.g. 2023-07-16) or enter an Excel date"
    if kind == "boolean":
        return "yes or no"
    if (table, col) == ("responses", "value"):
        return ("the numeric response code of the item; the valid range depends on the "
                "instrument and item (e.g. phq9 items 0 to 3)")
    if (table, col) == ("training_responses", "value"):
        return "the response code; the valid range depends on the question (1 to 5 or 1 to 6)"
    if (table, col) == ("planning_tool", "response"):
        return "one of the responses allowed for the item (see the planning_tool codebook)"
    if kind in ("integer", "number"):
        lo, hi = spec.get("min"), spec.get("max")
        what = "a whole number" if kind == "integer" else "a number"
        if lo is not None and hi is not None:
            return f"{what} from {lo} to {hi}"
        return what
    ref = spec.get("references")
    if ref:
        target, tcol = ref.split(".")
        return f"must match a {tcol} on the {target} sheet"
    return "text"


def _header_comment(table: str, col: str, spec: Mapping[str, Any],
                    codes: Mapping[str, list[str]]) -> str:
    parts = [col]
    if spec.get("description"):
        parts.append(" ".join(str(spec["description"]).split()))
    parts.append("Type: " + _TYPE_WORDS[spec["type"]])
    if spec["required"] and not spec["nullable"]:
        parts.append("Required: fill in on every row.")
    elif spec["required"]:
        parts.append("Required column; a cell may be left blank.")
    else:
        parts.append("Optional column (may be deleted); a cell may be left blank.")
    rule = _rule_text(table, col, spec, codes)
    if rule not in ("text",):
        parts.append("Valid: " + rule)
    if spec.get("references") and spec["type"] != "date":
        target, tcol = spec["references"].split(".")
        parts.append(f"Must match a {tcol} on the {target} sheet.")
    return "\n".join(parts)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


# ------------------------------------------------------------------------------------
# validations
# ------------------------------------------------------------------------------------
def _validation(table: str, col: str, spec: Mapping[str, Any], letters: Mapping[str, str],
                codes: Mapping[str, list[str]], lists: _Lists, las_ref: str | None):
    """The DataValidation of one column, or None when Excel cannot check it usefully."""
    from openpyxl.worksheet.datavalidation import DataValidation

    kind = spec["type"]
    allow_blank = bool(spec["nullable"])
    me = f"{letters[col]}2"
    kw: dict[str, Any] = {}
    title = col
    if kind == "code":
        name = spec["codebook"]
        kw = {"type": "list", "formula1": _list_formula(codes[name], lists, name)}
        prompt = "Choose a code from the list: " + _shown_codes(codes[name])
        error = f"Not a valid {col} code: choose one from the drop-down list."
        if name == "interventions":
            # the interventions sheet may add local codes: warn instead of refusing
            kw["errorStyle"] = "warning"
            error = ("Not an intervention of the codebook. If it is a local intervention, "
                     "add it to the interventions sheet; otherwise choose from the list.")
    elif kind == "boolean":
        kw = {"type": "list", "formula1": '"yes,no"'}
        prompt, error = "yes or no", "Type yes or no."
    elif kind == "date":
        kw = {"type": "date", "operator": "between", "formula1": "DATE(1900,1,1)",
              "formula2": "TODAY()"}
        prompt = "Type the date as YYYY-MM-DD (e.g. 2023-07-16) or enter an Excel date."
        error = "Not a valid date, or a date in the future. Type YYYY-MM-DD, e.g. 2023-07-16."
    elif (table, col) == ("responses", "value"):
        key = f'${letters["instrument"]}2&"|"&${letters["item"]}2'
        match = f"MATCH({key},item_key,0)"
        kw = {"type": "custom",
              "formula1": f"AND(ISNUMBER({me}),{me}=INT({me}),"
                          f"{me}>=INDEX(item_min,{match}),{me}<=INDEX(item_max,{match}))"}
        prompt = ("The item's response code (whole number). Blank = not answered. The valid "
                  "range depends on the instrument and item.")
        error = ("Not a valid response code for this instrument and item (or the instrument "
                 "or item is not known). Check the questionnaire's scoring.")
    elif (table, col) == ("training_responses", "value"):
        match = f"MATCH(${letters['question']}2,question_code,0)"
        kw = {"type": "custom",
              "formula1": f"AND(ISNUMBER({me}),{me}=INT({me}),"
                          f"{me}>=INDEX(question_min,{match}),"
                          f"{me}<=INDEX(question_max,{match}))"}
        prompt = "The response code (whole number); its range depends on the question."
        error = "Not a valid response code for this question (1 to 5, or 1 to 6 for use)."
    elif (table, col) == ("planning_tool", "response"):
        key = f'${letters["item"]}2&"|"&{me}'
        kw = {"type": "custom", "formula1": f"COUNTIF(planning_key,{key})>0"}
        if "planning_free" in lists.names:
            kw["formula1"] = (f"OR(COUNTIF(planning_free,${letters['item']}2)>0,"
                              f"COUNTIF(planning_key,{key})>0)")
        prompt = "One of the responses allowed for the item (e.g. 1 to 4, very/somewhat/not)."
        error = "Not a valid response for this planning-tool item."
    elif kind in ("integer", "number") and (spec.get("min") is not None
                                             or spec.get("max") is not None):
        lo, hi = spec.get("min"), spec.get("max")
        vtype = "whole" if kind == "integer" else "decimal"
        if lo is not None and hi is not None:
            kw = {"type": vtype, "operator": "between", "formula1": str(lo), "formula2": str(hi)}
        elif lo is not None:
            kw = {"type": vtype, "operator": "greaterThanOrEqual", "formula1": str(lo)}
        else:
            kw = {"type": vtype, "operator": "lessThanOrEqual", "formula1": str(hi)}
        prompt = _rule_text(table, col, spec, codes)
        error = f"{col} must be {prompt}."
    elif kind == "integer":
        kw = {"type": "whole", "operator": "between", "formula1": "-9007199254740992",
              "formula2": "9007199254740992"}
        prompt, error = "A whole number.", "Type a whole number."
    elif col == "la_code" and spec.get("references") == "las.la_code" and las_ref:
        kw = {"type": "list", "formula1": las_ref}
        prompt = "An la_code from the las sheet (fill in the las sheet first)."
        error = "This LA code is not on the las sheet: add the LA there first."
    else:
        return None
    dv = DataValidation(allow_blank=allow_blank, showInputMessage=True, showErrorMessage=True,
                        promptTitle=_truncate(title, 32), prompt=_truncate(prompt, 255),
                        errorTitle=_truncate(f"{table}: {col}", 32),
                        error=_truncate(error, 255), **kw)
    return dv


def _questionnaires_sheet(ws, registry: Registry, codes: Mapping[str, list[str]],
                          lists: _Lists, header_fill, n_rows: int) -> None:
    """The one-row-per-questionnaire sheet (:mod:`rpc_eval.data.questionnaires`): id
    columns, then one column per item of every instrument, each checked as typed (a
    whole number in the item's range, on a row of the item's instrument)."""
    from openpyxl.comments import Comment
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    from rpc_eval.data.questionnaires import ID_COLUMNS

    id_specs = {**schema()["responses"]["columns"]}
    items = registry.item_table()
    names = list(ID_COLUMNS) + items["item"].tolist()
    last = n_rows + 1
    inst_letter = get_column_letter(ID_COLUMNS.index("instrument") + 1)
    for j, name in enumerate(names, start=1):
        cell = ws.cell(row=1, column=j, value=name)
        cell.font = Font(bold=True)
        letter = get_column_letter(j)
        if name in ID_COLUMNS:
            cs = id_specs[name]
            cell.fill = header_fill[not cs["nullable"]]
            comment = _header_comment("responses", name, cs, codes)
            dv = _validation("responses", name, cs, {name: letter}, codes, lists, None)
            ws.column_dimensions[letter].width = 16
            if cs["type"] == "date":
                ws.column_dimensions[letter].number_format = DATE_FORMAT
            else:
                ws.column_dimensions[letter].number_format = "@"
        else:
            row = items.iloc[j - 1 - len(ID_COLUMNS)]
            lo, hi, inst = float(row["min"]), float(row["max"]), row["instrument"]
            cell.fill = header_fill[False]
            comment = (f"Item {name} of {inst}: the response code, a whole number from "
                       f"{lo:g} to {hi:g}. Fill it only on rows whose instrument is {inst}; "
                       "leave it empty if the item was not answered.")
            me = f"{letter}2"
            dv = DataValidation(
                type="custom", allow_blank=True, showInputMessage=True, showErrorMessage=True,
                formula1=f'AND(ISNUMBER({me}),{me}=INT({me}),{me}>={lo:g},{me}<={hi:g},'
                         f'${inst_letter}2="{inst}")',
                promptTitle=_truncate(name, 32),
                prompt=_truncate(f"{inst}: whole number {lo:g} to {hi:g}", 255),
                errorTitle=_truncate(f"questionnaires: {name}", 32),
                error=_truncate(f"Not a valid answer to {name} ({lo:g} to {hi:g}), or this "
                                f"row is not a {inst} questionnaire.", 255))
            ws.column_dimensions[letter].width = max(9, len(name) + 2)
        c = Comment(comment, "rpc_eval")
        c.width, c.height = 320, 160
        cell.comment = c
        if dv is not None:
            dv.add(f"{letter}2:{letter}{last}")
            ws.add_data_validation(dv)
    ws.freeze_panes = "F2"


# ------------------------------------------------------------------------------------
# filling sheets
# ------------------------------------------------------------------------------------
def _cell_values(frame: pd.DataFrame, spec: Mapping[str, Any]) -> list[list[Any]]:
    """Columns of ``frame`` as lists of Python values for openpyxl (None = blank)."""
    out = []
    for col, cs in spec["columns"].items():
        s = frame[col]
        kind = cs["type"]
        miss = s.isna().to_numpy()
        if kind == "date":
            vals = [None if m else v.to_pydatetime() for v, m in zip(s, miss, strict=True)]
        elif kind == "boolean":
            vals = [None if m else ("yes" if bool(v) else "no")
                    for v, m in zip(s, miss, strict=True)]
        elif kind == "integer":
            vals = [None if m else int(v) for v, m in zip(s, miss, strict=True)]
        elif kind == "number":
            vals = [None if m else (int(v) if float(v).is_integer() and abs(v) < 2.0**53
                                    else float(v)) for v, m in zip(s, miss, strict=True)]
        else:
            vals = [None if m else str(v) for v, m in zip(s, miss, strict=True)]
        out.append(vals)
    return out


def _interventions_from_codebook(book: Codebook) -> pd.DataFrame:
    entries = book.entries
    return pd.DataFrame({
        "intervention": [str(e["code"]) for e in entries],
        "name": [str(e.get("name", e.get("label", e["code"]))) for e in entries],
        "intensity": [e.get("intensity") for e in entries],
        "sessions_planned": pd.array([e.get("sessions_planned") for e in entries],
                                     dtype="Int64"),
    })


# ------------------------------------------------------------------------------------
# the Instructions sheet
# ------------------------------------------------------------------------------------
def _instructions(ws, spec: Mapping[str, Any], codes: Mapping[str, list[str]],
                  labels: Mapping[str, Mapping[str, str]], registry: Registry,
                  filled: bool, rows: Mapping[str, int], file_name: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    from rpc_eval import __version__

    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    row = 1

    def line(text: str = "", font=None) -> None:
        nonlocal row
        cell = ws.cell(row=row, column=1, value=text if text else None)
        if font is not None:
            cell.font = font
        row += 1

    def heading(text: str) -> None:
        line()
        line(text, Font(bold=True, size=13))

    line("Regional evaluation: data-collection workbook", Font(bold=True, size=16))
    line(f"Made by rpc_eval {__version__}. Read by rpc-eval validate and rpc-eval run.")
    if filled:
        line("This copy holds synthetic practice data (no real people): try the commands "
             "below on it before entering real data in an empty template.", Font(italic=True))
    heading("What this workbook is")
    for text in (
        "One sheet per table of the evaluation data model; each row of a sheet is one record "
        "(see the list below).",
        "Row 1 of every sheet holds the column names: do not change, move or delete them. "
        "Hover over a column name for help.",
        "Type the data from row 2 down. Every row under the header is read as data, so do "
        "not add notes, totals or examples there.",
        "Do not merge cells, insert rows above the header, or rename the sheets. "
        "Blank rows are ignored.",
        "You may delete optional columns you do not collect, and leave optional sheets empty "
        "(las and parents are required).",
        "Cells are checked as you type (drop-down lists, dates, number ranges) for the first "
        + ", ".join(f"{n:,} rows of {t}" for t, n in rows.items() if n != DEFAULT_MAX_ROWS)
        + (f" and {DEFAULT_MAX_ROWS:,} rows of the other sheets"
           if DEFAULT_MAX_ROWS in rows.values() else "")
        + "; pasted values are not checked by Excel, but rpc-eval validate checks everything.",
        "This sheet and the hidden Lists sheet are not read as data.",
    ):
        line(text)

    heading("The sheets")
    for table, tspec in spec.items():
        cols = tspec["columns"]
        required = [c for c, s in cols.items() if s["required"] and not s["nullable"]]
        may_blank = [c for c, s in cols.items() if s["required"] and s["nullable"]]
        optional = [c for c, s in cols.items() if not s["required"]]
        need = "required sheet" if tspec["required"] else "optional sheet"
        line(f"{table} ({need}): " + " ".join(str(tspec["description"]).split()), bold)
        line("    Fill in on every row: " + ", ".join(required))
        if may_blank:
            line("    Columns that may have blank cells: " + ", ".join(may_blank))
        if optional:
            line("    Optional columns: " + ", ".join(optional))
        if table == "interventions":
            line("    Already filled with the national interventions: edit sessions_planned, "
                 "and add a row for each local intervention.")
        if "key" in tspec:
            line("    Each row must be unique on: " + " + ".join(tspec["key"]))

    heading("Codes, dates, numbers and blanks")
    for text in (
        "Codes: coded columns take short codes, not labels (face_to_face, not "
        "'Face to face'). Pick them from the drop-down list; the codes are listed below.",
        "Identifiers (parent_id, family_id, practitioner_id) are text: use your own "
        "pseudonymous ids, never names. la_code must match a row of the las sheet.",
        "Dates: type YYYY-MM-DD (e.g. 2023-07-16) or enter a normal Excel date; "
        "DD/MM/YYYY text is read too. No dates in the future.",
        "yes / no columns: type yes or no.",
        "Blanks: leave a cell empty when the value is not known or not answered; do not "
        "type NA, 0 or -99.",
        "Questionnaires (responses sheet): one row per item answered, e.g. phq9 item phq9_01. "
        "value is the numeric response code, checked against the item's range.",
        "Or, quicker to key from paper, the questionnaires sheet: one row per questionnaire "
        "(parent, wave, instrument) with one column per item (phq9_01 ...); fill only the "
        "columns of the row's instrument. Use one of the two sheets, not both.",
    ):
        line(text)

    heading("Examples (one row per sheet; type your own data on the sheets, not here)")
    for table, example in EXAMPLE_ROWS.items():
        cols = list(spec[table]["columns"])
        line(f"Sheet {table}:", bold)
        for j, col in enumerate(cols, start=1):
            cell = ws.cell(row=row, column=j, value=col)
            cell.font, cell.fill = bold, head_fill
        row += 1
        for j, col in enumerate(cols, start=1):
            ws.cell(row=row, column=j, value=example.get(col, ""))
        row += 1

    heading("Check the data, then run the analysis")
    for text in (
        "1. Save the workbook (Excel Workbook, .xlsx) and close it.",
        "2. Check it; every problem is listed with its sheet, row and column:",
        f"       rpc-eval validate {file_name}",
        "3. Fix the problems in the workbook and check again until it says Valid.",
        "4. Run the analysis and write the report:",
        f"       rpc-eval run --plan {PLAN} --data {file_name} --out report/",
        "Rows that fail a check are left out of the analysis and listed in the report's "
        "intake log; nothing is dropped silently.",
    ):
        line(text)

    heading("Valid codes")
    seen: set[str] = set()
    for table, tspec in spec.items():
        for col, cs in tspec["columns"].items():
            if cs["type"] != "code" or cs["codebook"] in seen:
                continue
            book = cs["codebook"]
            seen.add(book)
            line(f"{table}.{col}", bold)
            for code in codes[book]:
                label = labels.get(book, {}).get(code, "")
                ws.cell(row=row, column=1, value=code)
                if label and label != code:
                    ws.cell(row=row, column=3, value=label)
                row += 1
    line("responses.item and value (questionnaire items and their valid codes)", bold)
    items = registry.item_table()
    for name, grp in items.groupby("instrument", sort=False):
        lo, hi = grp["min"].min(), grp["max"].max()
        rng = f"{lo:g} to {hi:g}" if grp["min"].nunique() == grp["max"].nunique() == 1 else \
            f"{lo:g} to {hi:g} (varies by item)"
        ws.cell(row=row, column=1, value=name)
        ws.cell(row=row, column=3, value=f"items {grp['item'].iloc[0]} .. {grp['item'].iloc[-1]}"
                                         f" ({len(grp)} items), values {rng}")
        row += 1

    ws.column_dimensions["A"].width = 30
    from openpyxl.utils import get_column_letter

    for j in range(2, 17):
        ws.column_dimensions[get_column_letter(j)].width = 16
    for r in ws.iter_rows(min_row=1, max_row=row, max_col=1):
        for c in r:
            c.alignment = Alignment(wrap_text=False, vertical="top")
    ws.sheet_view.showGridLines = False


# ------------------------------------------------------------------------------------
# public
# ------------------------------------------------------------------------------------
def write_template(
    path: str | Path,
    *,
    data: EvaluationData | None = None,
    registry: Registry | None = None,
    codebooks: Mapping[str, Codebook] | None = None,
    max_rows: int | None = None,
    parents: int = DEFAULT_PARENTS,
) -> Path:
    """Write the Excel data-collection workbook of a regional evaluation.

    Parameters
    ----------
    path : path-like
        The ``.xlsx`` file to write (its folder is created; an existing file is
        replaced).
    data : EvaluationData, optional
        Rows to fill the table sheets with (for demonstrations and tests): dates are
        written as Excel dates, codes and identifiers as text, yes/no as ``yes``/``no``.
        Without it the table sheets hold only their header row, except ``interventions``,
        which holds the interventions codebook (as it does when ``data`` has no
        interventions rows).
    registry : Registry, optional
        Questionnaire definitions whose instruments and item ranges the responses sheet
        accepts (default: ``data.instruments``, else the package's registry).
    codebooks : mapping, optional
        Codebooks whose codes the drop-down lists offer (default: ``data.codebooks``,
        else the package's codebooks).
    max_rows : int, optional
        Data validation covers rows 2 to ``max_rows + 1`` of every sheet (or every
        filled row, if more). Default: sized by ``parents``.
    parents : int
        Parents the checks are sized for (default 2,000): the parents sheet gets that
        many rows, attendance, responses and questionnaires
        :data:`ROWS_PER_PARENT` times as many (up to Excel's last row), the other
        sheets :data:`DEFAULT_MAX_ROWS`.

    Returns
    -------
    Path
        The file written.

    Notes
    -----
    The workbook is laid out for :func:`rpc_eval.data.load`: sheet names are table names,
    row 1 holds the column names and every later row is data. Help lives in cell comments
    on the headers and in the validations' input messages. The Instructions and Lists
    sheets are reported by the intake as template sheets (``info``), not read as data.

    Excel checks a value against its validation when it is typed, not when it is pasted,
    and cannot check rules across rows or tables; ``rpc-eval validate`` applies every rule
    of ``docs/data-model.md``. Validation formulas use names defined on the hidden
    ``Lists`` sheet: ``list_<codebook>``, ``item_key``/``item_min``/``item_max`` (one row
    per ``instrument|item``), ``question_code``/``question_min``/``question_max`` and
    ``planning_key`` (``item|response``).

    R equivalent: none in one call; ``openxlsx::dataValidation()`` sets similar rules.

    Examples
    --------
    >>> import tempfile, pathlib, openpyxl
    >>> from rpc_eval.data.template import write_template
    >>> path = write_template(pathlib.Path(tempfile.mkdtemp()) / "regional-template.xlsx")
    >>> openpyxl.load_workbook(path).sheetnames[:3]
    ['Instructions', 'las', 'interventions']
    """
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise RpcEvalError(f"the template is an Excel workbook: give a file name ending in "
                           f".xlsx, not {path.name!r}")
    if max_rows is not None and (not isinstance(max_rows, int) or isinstance(max_rows, bool)
                                 or max_rows < 1):
        raise RpcEvalError("max_rows must be a whole number of at least 1")
    if not isinstance(parents, int) or isinstance(parents, bool) or parents < 1:
        raise RpcEvalError("parents must be a whole number of at least 1")

    def rows_for(table: str) -> int:
        if max_rows is not None:
            return max_rows
        if table in ROWS_PER_PARENT:
            return min(parents * ROWS_PER_PARENT[table], EXCEL_ROWS - 1)
        return DEFAULT_MAX_ROWS
    books = dict(codebooks if codebooks is not None
                 else (data.codebooks if data is not None else load_codebooks()))
    reg = registry if registry is not None else (
        data.instruments if data is not None else default_registry())
    spec = schema()
    codes: dict[str, list[str]] = {name: book.codes for name, book in books.items()}
    labels: dict[str, dict[str, str]] = {name: book.labels() for name, book in books.items()}
    codes["instruments"] = reg.available()
    labels["instruments"] = {n: reg.get(n).title for n in reg.available()}
    needed = {cs["codebook"] for t in spec.values() for cs in t["columns"].values()
              if cs["type"] == "code"}
    missing = sorted(needed - set(codes))
    if missing:
        raise RpcEvalError("codebook(s) needed by the template are missing: "
                           + ", ".join(missing))

    wb = openpyxl.Workbook()
    instructions = wb.active
    instructions.title = INSTRUCTIONS_SHEET
    sheets = {table: wb.create_sheet(table) for table in TABLES}
    lists = _Lists(wb)

    # lookup tables for the row-dependent validations
    items = reg.item_table()
    lists.add("item_key", (items["instrument"] + "|" + items["item"]).tolist())
    lists.add("item_min", [float(v) for v in items["min"]])
    lists.add("item_max", [float(v) for v in items["max"]])
    questions = books["training_questions"]
    qmin, qmax = questions.attribute("min"), questions.attribute("max")
    qcodes = [c for c in questions.codes if c in qmin and c in qmax]
    lists.add("question_code", qcodes)
    lists.add("question_min", [qmin[c] for c in qcodes])
    lists.add("question_max", [qmax[c] for c in qcodes])
    responses = books["planning_tool"].attribute("responses")
    lists.add("planning_key", [f"{item}|{r}" for item, rs in responses.items() for r in rs])
    free = [c for c in books["planning_tool"].codes if c not in responses]
    if free:
        lists.add("planning_free", free)

    header_fill = {True: PatternFill("solid", fgColor="BDD7EE"),
                   False: PatternFill("solid", fgColor="E7E6E6")}
    las_cols = list(spec["las"]["columns"])
    tables_data: dict[str, pd.DataFrame] = {}
    for table in TABLES:
        frame = data.table(table) if data is not None else None
        if table == "interventions" and (frame is None or len(frame) == 0):
            frame = _interventions_from_codebook(books["interventions"])
        if frame is not None:
            tables_data[table] = frame
    n_las = len(tables_data.get("las", ()))
    las_last = max(rows_for("las"), n_las) + 1
    las_letter = get_column_letter(las_cols.index("la_code") + 1)
    las_ref = f"las!${las_letter}$2:${las_letter}${las_last}"

    for table, ws in sheets.items():
        tspec = spec[table]
        cols = list(tspec["columns"])
        letters = {c: get_column_letter(j) for j, c in enumerate(cols, start=1)}
        for j, col in enumerate(cols, start=1):
            cs = tspec["columns"][col]
            cell = ws.cell(row=1, column=j, value=col)
            required = bool(cs["required"] and not cs["nullable"])
            cell.font = Font(bold=True)
            cell.fill = header_fill[required]
            comment = Comment(_header_comment(table, col, cs, codes), "rpc_eval")
            comment.width, comment.height = 320, 180
            cell.comment = comment
            dim = ws.column_dimensions[letters[col]]
            dim.width = max(12, min(28, len(col) + 4))
            if cs["type"] == "date":
                dim.number_format = DATE_FORMAT
            elif cs["type"] in ("id", "text", "code") or (table, col) == ("planning_tool",
                                                                          "response"):
                dim.number_format = "@"
        ws.freeze_panes = "A2"

        frame = tables_data.get(table)
        n = 0 if frame is None else len(frame)
        if n:
            columns = _cell_values(frame, tspec)
            for values in zip(*columns, strict=True):
                ws.append(values)
            for j, col in enumerate(cols, start=1):
                if tspec["columns"][col]["type"] == "date":
                    for (cell,) in ws.iter_rows(min_row=2, max_row=n + 1, min_col=j, max_col=j):
                        cell.number_format = DATE_FORMAT
        last = max(rows_for(table), n) + 1
        for col in cols:
            dv = _validation(table, col, tspec["columns"][col], letters, codes, lists,
                             las_ref if table != "las" else None)
            if dv is None:
                continue
            dv.add(f"{letters[col]}2:{letters[col]}{last}")
            ws.add_data_validation(dv)

    q_rows = rows_for("questionnaires")
    _questionnaires_sheet(wb.create_sheet("questionnaires", index=len(TABLES) + 1), reg,
                          codes, lists, header_fill, q_rows)
    _instructions(instructions, spec, codes, labels, reg, data is not None,
                  {t: rows_for(t) for t in [*TABLES, "questionnaires"]}, path.name)
    lists.ws.sheet_state = "hidden"
    lists.ws.protection.sheet = True
    wb.properties.creator = "rpc_eval"
    wb.properties.title = "Regional evaluation data-collection workbook"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
