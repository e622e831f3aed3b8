"""Plain CSV files are read as dictionary-encoded columns and checked once per distinct
text; what comes out must be what the general reader and the cell-by-cell checks give.

The files are built here: plain ones (read by the encoded path, which the tests check
was taken) and files the encoded path must refuse (quote marks, a lone carriage return,
a byte-order mark, Windows-1252 bytes, a NUL byte, a ragged row), which must come out
exactly as the general reader gives them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rpc_eval.data as rd
import rpc_eval.data.encoded_csv as encoded_csv
from rpc_eval.data.cells import Cells
from rpc_eval.data.readers import read_table_file
from rpc_eval.data.write import write
from rpc_eval.errors import DataQualityWarning
from rpc_eval.synthetic import generate

PLAIN = {
    "lf": b"la_code,la_name,region\nLA001,North,north_east\nLA002,South,london\n",
    "crlf": b"la_code,la_name,region\r\nLA001,North,north_east\r\nLA002,South,london\r\n",
    "no_final_newline": b"la_code,la_name,region\nLA001,North,north_east\nLA002,South,london",
    "blank_lines": b"la_code,la_name,region\nLA001,North,north_east\n\nLA002,South,london\n\n",
    "blank_crlf_line": b"la_code,la_name,region\r\nLA001,North,north_east\r\n\r\nLA002,S,london\r\n",
    "title_rows": b"Returns 2023,,\nLA list,,\nla_code,la_name,region\nLA001,North,north_east\n",
    "semicolons": b"la_code;la_name;region\nLA001;North;north_east\nLA002;South;london\n",
    "tabs": b"la_code\tla_name\tregion\nLA001\tNorth\tnorth_east\n",
    "spaces": b"la_code , la_name,region\n LA001 ,North , north_east\nLA001,  North,london\n",
    "accents": "la_code,la_name,region\nLA001,Bryn Ôr é,wales\n".encode(),
    "header_only": b"la_code,la_name,region\n",
    "one_column": b"la_code\nLA001\n\nLA002\n",
    "empty_cells": b"la_code,la_name,region\nLA001,,\n,,\n,North,\n",
}
NOT_PLAIN = {
    "quotes": b'la_code,la_name,region\nLA001,"North, upper",north_east\n',
    "lone_cr": b"la_code,la_name,region\rLA001,North,north_east\r",
    "bom": b"\xef\xbb\xbfla_code,la_name,region\nLA001,North,north_east\n",
    "cp1252": b"la_code,la_name,region\nLA001,Caf\xe9,north_east\n",
    "nul": b"la_code,la_name,region\nLA001,No\x00rth,north_east\n",
    "ragged": b"la_code,la_name,region\nLA001,North,north_east,extra\nLA002,South\n",
    "blank_first_line": b"\nla_code,la_name,region\nLA001,North,north_east\n",
}


def _same_raw(a, b) -> None:
    assert a.usable == b.usable
    assert list(a.frame.columns) == list(b.frame.columns)
    assert a.frame.astype(object).to_numpy().tolist() == b.frame.astype(object).to_numpy().tolist()
    assert list(a.rows) == list(b.rows)
    assert a.header_row == b.header_row
    assert a.problems == b.problems


def _encoded(raw) -> bool:
    return len(raw.frame.columns) > 0 and all(
        isinstance(t, pd.CategoricalDtype) for t in raw.frame.dtypes)


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_file_is_read_encoded_as_the_general_reader_reads_it(tmp_path, name):
    path = tmp_path / "las.csv"
    path.write_bytes(PLAIN[name])
    general = read_table_file(path, "las")
    enc = read_table_file(path, "las", encoded=True)
    assert _encoded(enc), "a plain file takes the encoded path"
    assert not _encoded(general)
    _same_raw(general, enc)


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_other_files_are_left_to_the_general_reader(tmp_path, name):
    path = tmp_path / "las.csv"
    path.write_bytes(NOT_PLAIN[name])
    assert encoded_csv.read_encoded_csv(path, lambda text: ",") is None
    general = read_table_file(path, "las")
    enc = read_table_file(path, "las", encoded=True)
    assert not _encoded(enc)
    _same_raw(general, enc)


def test_a_file_read_in_several_blocks_keeps_its_rows_and_distinct_texts(tmp_path, monkeypatch):
    # small blocks: the file is scanned and encoded block by block, dictionaries unified
    monkeypatch.setattr(encoded_csv, "SCAN_BLOCK", 7)
    rng = np.random.default_rng(3)
    ids = [f"P{i:04d}" for i in rng.integers(0, 50, 3000)]
    body = "".join(f"{p},{i % 7},x{i % 3}\r\n" for i, p in enumerate(ids))
    path = tmp_path / "t.csv"
    path.write_bytes(("a,b,c\r\n" + body).encode())
    frame, sep = encoded_csv.read_encoded_csv(path, lambda text: ",")
    assert sep == ","
    assert frame[0].astype(object).tolist() == ["a", *ids]
    cats = list(frame[0].cat.categories)
    assert cats == list(pd.unique(pd.Series(["a", *ids])))  # order of first appearance


def test_cells_hold_each_stripped_text_once_in_order_of_first_appearance():
    col = pd.Series(["b", " a", "a ", "", "b", "  ", "c"], dtype="str")
    c = Cells.of(col)
    assert list(c.words) == ["b", "a", "", "c"]
    assert c.text().tolist() == ["b", "a", "a", "", "b", "", "c"]
    # a Categorical whose categories are neither in order nor all used
    cat = pd.Series(pd.Categorical(["z", "y", "z", None],
                                   categories=["unused", "y", "z", " y"]))
    c = Cells.of(cat)
    assert list(c.words) == ["z", "y", ""]
    assert c.text().tolist() == ["z", "y", "z", ""]
    # categories in order, the first (a header's) unused
    cat = pd.Series(pd.Categorical.from_codes([1, 2, 1, 3], categories=["h", "p", "q", "r"]))
    c = Cells.of(cat)
    assert list(c.words) == ["p", "q", "r"]
    assert c.text().tolist() == ["p", "q", "p", "r"]
    # replacing cells merges a new text with an equal one
    c2 = c.replace(np.array([3]), np.array(["q"], dtype=object))
    assert list(c2.words) == ["p", "q"] and c2.text().tolist() == ["p", "q", "p", "q"]


def _problem_dataset(folder: Path) -> Path:
    """A small dataset in plain CSV files (no quote marks) with problems in the large
    tables: repeated and conflicting keys, answers written as words, unknown items,
    values out of range, loosely written references, blank rows, white space."""
    data, _ = generate("small", seed=5)
    write(data, folder)
    r = folder / "responses.csv"
    lines = r.read_text(encoding="utf-8").split("\n")
    head = lines[0].split(",")
    val, item, pid = head.index("value"), head.index("item"), head.index("parent_id")

    def cell(line, i, v):
        cells = line.split(",")
        cells[i] = v
        return ",".join(cells)
    lines[1] = cell(lines[1], val, "99")
    lines[2] = cell(lines[2], item, "not_an_item")
    lines[3] = cell(lines[3], val, "Somewhat true")
    lines[4] = cell(lines[4], pid, lines[4].split(",")[pid].lower())
    lines[5] = cell(lines[5], pid, "NOBODY")
    lines.insert(7, lines[6])                                  # an exact copy
    lines.insert(9, cell(lines[8], val, "0" if lines[8].split(",")[val] != "0" else "1"))
    lines.insert(11, "," * (len(head) - 1))                    # a blank row
    lines[12] = "  " + lines[12].replace(",", " ,", 1)         # white space
    r.write_text("\n".join(lines), encoding="utf-8", newline="")
    assert '"' not in r.read_text(encoding="utf-8")
    return folder


def test_load_gives_the_same_log_and_tables_from_the_encoded_and_the_general_reader(
        tmp_path, monkeypatch):
    folder = _problem_dataset(tmp_path / "d")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        enc = rd.load(folder, today="2024-06-01")
        monkeypatch.setattr(encoded_csv, "read_encoded_csv", lambda path, sep: None)
        general = rd.load(folder, today="2024-06-01")
    log_e, log_g = enc.intake_log, general.intake_log
    assert log_e.n_errors > 5  # the problems were found
    pd.testing.assert_frame_equal(log_e.problems, log_g.problems)
    pd.testing.assert_frame_equal(log_e.tables, log_g.tables)
    pd.testing.assert_frame_equal(log_e.excluded, log_g.excluded)
    for name, table in enc.tables().items():
        pd.testing.assert_frame_equal(table, general.tables()[name], obj=name)
    words = log_e.problems["problem"].str.cat(sep=" | ")
    for expected in ("exact copy", "not unique", "not an item", "not a valid response code",
                     "read as their codes", "other capitals", "not in the parents table",
                     "blank row"):
        assert expected in words, expected
