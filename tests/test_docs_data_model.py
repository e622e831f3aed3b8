"""docs/data-model.md describes the same tables and columns as rpc_eval/data/schema.yaml.

Each table has a section headed ``### `table` `` with a Markdown table of its columns:
``| `column` | type | in file | blank | valid values | notes |``. These tests fail when
the schema changes and the page does not (or the other way round).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rpc_eval.data import TABLES, load_codebooks, schema
from rpc_eval.data.parse import MISSING_MARKERS

DOC = Path(__file__).resolve().parent.parent / "docs" / "data-model.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _sections() -> dict[str, str]:
    """Table name -> text of its ``### `name` `` section."""
    parts = re.split(r"^### `(\w+)`\s*$", _text(), flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def _column_rows(section: str) -> dict[str, list[str]]:
    """Column name -> cells of its row in the section's column table."""
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\|\s*`(\w+)`\s*\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


def test_every_table_has_a_section():
    assert set(_sections()) == set(TABLES)


@pytest.mark.parametrize("table", TABLES)
def test_every_column_is_documented_with_its_rules(table):
    spec = schema()[table]
    section = _sections()[table]
    rows = _column_rows(section)
    assert list(rows) == list(spec["columns"]), "columns differ from schema.yaml (or order)"
    yes_no = {True: "yes", False: "no"}
    for col, cs in spec["columns"].items():
        kind, in_file, blank, valid = rows[col][:4]
        assert kind == cs["type"], (table, col)
        assert in_file == yes_no[cs["required"]], (table, col)
        assert blank == yes_no[cs["nullable"]], (table, col)
        if "min" in cs:
            assert f"{cs['min']} to {cs['max']}" in valid, (table, col)
        if cs.get("references"):
            assert f"`{cs['references']}`" in valid, (table, col)
        if cs["type"] == "code" and cs["codebook"] != "instruments":
            assert f"`{cs['codebook']}`" in valid, (table, col)


@pytest.mark.parametrize("table", TABLES)
def test_key_and_required_flag_are_documented(table):
    spec = schema()[table]
    section = " ".join(_sections()[table].split())  # lines joined
    key = ", ".join(f"`{k}`" for k in spec["key"])
    assert re.search(r"Key:\s*" + re.escape(key), section), f"key {key} not stated"
    required = "Required table" if spec["required"] else "Optional table"
    assert required in section
    overview = re.search(rf"^\| `{table}` \|(.*)\|\s*$", _text(), flags=re.M)
    assert overview, f"{table} missing from the overview table"
    cells = [c.strip() for c in overview.group(1).split("|")]
    assert cells[1] == ("yes" if spec["required"] else "no")
    assert cells[2] == key


def test_short_codebooks_are_listed_in_full():
    """Where the page lists a codebook's codes, it lists all of them."""
    books = load_codebooks()
    for name, codes in re.findall(r"codebook `(\w+)`: ([\w, ]+)", _text()):
        listed = [c.strip() for c in codes.split(",")]
        assert listed == books[name].codes, name


def test_missing_value_markers_are_listed():
    text = _text()
    for marker in MISSING_MARKERS:
        assert f"`{marker}`" in text


def test_links_to_other_docs_exist():
    for target in re.findall(r"\]\(([\w\-]+\.md)\)", _text()):
        assert (DOC.parent / target).exists(), target
