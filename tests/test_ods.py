"""Tests for the accessible ODS writer (rpc_eval.report.ods)."""

from __future__ import annotations

import hashlib
import math
import time
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import pytest

from rpc_eval.errors import RpcEvalError
from rpc_eval.report.ods import MIMETYPE, OdsTable, read_ods_sheets, write_ods

NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "xlink": "http://www.w3.org/1999/xlink",
}
T = "{" + NS["table"] + "}"
OFF = "{" + NS["office"] + "}"


def _q(prefix: str, local: str) -> str:
    return "{" + NS[prefix] + "}" + local

NOTES = [("[note 1]", "Counts are of referral episodes."),
         ("[note 2]", "Change is end-of-programme score minus baseline score.")]
COVER = [("About these tables", "Referrals and outcomes from a synthetic dataset."),
         ("Source", "Synthetic evaluation data."),
         ("Disclosure control", "Counts below 5 are suppressed and shown as [c].")]


def _tables() -> list[OdsTable]:
    t1 = pd.DataFrame({
        "Local authority": ["Northtown", "Southville", "Eastbury"],
        "Year": [2023, 2023, 2024],
        "Parents referred (number)": [1520, 37, 8],
        "Completed (number)": ["[c]", 21, 6],
        "Completion rate (percent)": [np.nan, 56.76, 75.0],
        "Family hub area": [True, False, True],
    })
    t2 = pd.DataFrame({
        "Scale": pd.Series(["Conflict", "Coparenting", "Wellbeing"], dtype="str"),
        "Baseline mean (points)": [12.5, 30.25, None],
        "Mean change (points)": [-1.5, np.nan, 0.125],
        "Parents with both scores (number)": pd.array([40, pd.NA, 17], dtype="Int64"),
        "First response (date)": pd.to_datetime(["2023-01-05", None, "2023-03-31"]),
    })
    t3 = pd.DataFrame({"Stage": ["Referred", "Started"], "Parents (number)": [100, 80]})
    return [
        OdsTable("Table_1", "Table 1: Parents referred and completing, by local authority",
                 t1, description=["Source: synthetic evaluation data",
                                  "This table contains suppressed cells, shown as [c]."],
                 notes=["[note 1]"]),
        OdsTable("Table_2", "Table 2: Mean scores at baseline and change, by scale", t2,
                 description=["Missing values are shown as [x]; change that cannot be "
                              "computed is shown as [z]."],
                 missing={"Mean change (points)": "[z]"}, notes=["[note 1]", "[note 2]"]),
        OdsTable("Funnel", "Table 3: Engagement funnel", t3),
    ]


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    path = tmp_path_factory.mktemp("ods") / "tables.ods"
    out = write_ods(path, title="Reducing Parental Conflict: evaluation tables", cover=COVER,
                    tables=_tables(), notes=NOTES)
    return out


@pytest.fixture(scope="module")
def pd_sheets(workbook):
    return pd.read_excel(workbook, sheet_name=None, engine="odf", header=None)


@pytest.fixture(scope="module")
def content(workbook):
    with zipfile.ZipFile(workbook) as z:
        return ET.fromstring(z.read("content.xml"))


def _table_el(content, name):
    for t in content.iter(T + "table"):
        if t.get(T + "name") == name:
            return t
    raise KeyError(name)


def test_sheet_order_names_and_titles(workbook, pd_sheets):
    expected = ["Cover", "Contents", "Notes", "Table_1", "Table_2", "Funnel"]
    assert list(pd_sheets) == expected
    odf_sheets = read_ods_sheets(workbook)
    assert list(odf_sheets) == expected
    titles = {"Cover": "Reducing Parental Conflict: evaluation tables",
              "Contents": "Table of contents", "Notes": "Notes"}
    titles.update({t.sheet: t.title for t in _tables()})
    for name, frame in pd_sheets.items():
        assert frame.iat[0, 0] == titles[name]
        assert odf_sheets[name][0] == [titles[name]]
    # cover: heading then text, in column A only, no blank rows
    cover = odf_sheets["Cover"]
    assert cover[1:] == [[x] for pair in COVER for x in pair]


@pytest.mark.parametrize("idx", [0, 1, 2])
def test_table_layout_no_blanks_and_markers(pd_sheets, idx):
    spec = _tables()[idx]
    got = pd_sheets[spec.sheet]
    n_top = 1 + len(spec.description) + (1 if spec.notes else 0)
    ncol = spec.frame.shape[1]
    assert got.shape == (n_top + 1 + len(spec.frame), ncol)  # no blank rows/columns anywhere
    # descriptive lines in column A only, directly under the title
    for i in range(n_top):
        assert isinstance(got.iat[i, 0], str) and got.iat[i, 0].strip()
        assert got.iloc[i, 1:].isna().all()
    for i, line in enumerate(spec.description, start=1):
        assert got.iat[i, 0] == line
    if spec.notes:
        for nid in spec.notes:
            assert nid in got.iat[n_top - 1, 0]
    assert list(got.iloc[n_top]) == list(spec.frame.columns)
    body = got.iloc[n_top + 1:]
    for (r, c), v in np.ndenumerate(body.to_numpy(dtype=object)):
        assert not pd.isna(v), (spec.sheet, r, c)
        assert str(v).strip().casefold() not in {"", "na", "n/a", "nan", "none"}
        src = spec.frame.iat[r, c]
        col = spec.frame.columns[c]
        if pd.isna(src):
            assert v == spec.missing.get(col, "[x]")
        elif isinstance(src, bool | np.bool_):
            assert v == ("Yes" if src else "No")
        elif isinstance(src, int | float | np.integer | np.floating):
            assert isinstance(v, int | float) and not isinstance(v, bool)
            assert math.isclose(v, float(src), rel_tol=0, abs_tol=0)
        elif isinstance(src, pd.Timestamp):
            assert pd.Timestamp(v) == src
        else:
            assert v == src


def test_missing_markers_per_column(workbook):
    rows = read_ods_sheets(workbook)["Table_2"]
    header_at = 3  # title, one description line, notes line
    header = rows[header_at]
    body = rows[header_at + 1:]
    change = header.index("Mean change (points)")
    baseline = header.index("Baseline mean (points)")
    assert [r[change] for r in body] == ["-1.500", "[z]", "0.125"]
    assert [r[baseline] for r in body] == ["12.50", "30.25", "[x]"]
    assert [r[header.index("Parents with both scores (number)")] for r in body] == \
        ["40", "[x]", "17"]
    assert body[0][header.index("First response (date)")] == "5 January 2023"


def test_cell_types_in_xml(content):
    rows = list(_table_el(content, "Table_1").iter(T + "table-row"))
    body = rows[5:]  # title, 2 description lines, notes line, header
    first = body[0].findall(T + "table-cell")
    assert first[0].get(OFF + "value-type") == "string"
    # year: plain float cell, no thousands separator
    assert first[1].get(OFF + "value-type") == "float" and first[1].get(OFF + "value") == "2023"
    assert "".join(first[1].itertext()) == "2023"
    # count: float cell, exact value, shown with a thousands separator
    assert first[2].get(OFF + "value-type") == "float" and first[2].get(OFF + "value") == "1520"
    assert "".join(first[2].itertext()) == "1,520"
    # suppressed cell kept as text; boolean as Yes/No text
    assert first[3].get(OFF + "value-type") == "string" and "".join(first[3].itertext()) == "[c]"
    assert first[5].get(OFF + "value-type") == "string" and "".join(first[5].itertext()) == "Yes"
    # dates are date cells
    t2 = list(_table_el(content, "Table_2").iter(T + "table-row"))
    date_cell = t2[4].findall(T + "table-cell")[4]
    assert date_cell.get(OFF + "value-type") == "date"
    assert date_cell.get(OFF + "date-value") == "2023-01-05"


def test_no_merged_cells_and_header_rows(content):
    for el in content.iter():
        for attr in ("number-columns-spanned", "number-rows-spanned"):
            v = el.get(T + attr)
            assert v is None or int(v) <= 1
        assert el.tag != T + "covered-table-cell"
    for spec in _tables():
        t = _table_el(content, spec.sheet)
        hdr = t.findall(T + "table-header-rows")
        assert len(hdr) == 1
        cells = hdr[0].find(T + "table-row").findall(T + "table-cell")
        assert ["".join(c.itertext()) for c in cells] == list(spec.frame.columns)


def test_column_widths_follow_content(content):
    widths = {}
    for st in content.iter(_q("style", "style")):
        props = st.find(_q("style", "table-column-properties"))
        if props is not None:
            widths[st.get(_q("style", "name"))] = float(
                props.get(_q("style", "column-width")).removesuffix("cm"))
    for spec in _tables():
        cols = _table_el(content, spec.sheet).findall(T + "table-column")
        assert len(cols) == spec.frame.shape[1]
        assert all(c.get(T + "number-columns-repeated") is None for c in cols)
    t2 = [widths[c.get(T + "style-name")]
          for c in _table_el(content, "Table_2").findall(T + "table-column")]
    # "Parents with both scores (number)" (a long heading) is wider than "Scale"
    assert t2[3] > t2[0]


def test_contents_links(workbook, content, pd_sheets):
    contents = pd_sheets["Contents"]
    assert contents.iat[1, 0] == "This worksheet contains one table."
    assert list(contents.iloc[2]) == ["Sheet name", "Table title"]
    specs = _tables()
    assert [list(r) for r in contents.iloc[3:].itertuples(index=False)] == \
        [[t.sheet, t.title] for t in specs]
    links = [(a.get(_q("xlink", "href")), "".join(a.itertext()))
             for a in _table_el(content, "Contents").iter(_q("text", "a"))]
    assert links == [(f"#{t.sheet}.A1", t.sheet) for t in specs]
    sheet_names = {t.get(T + "name") for t in content.iter(T + "table")}
    for href, _ in links:
        assert href[1:].split(".")[0] in sheet_names


def test_notes_sheet(workbook, tmp_path):
    notes = read_ods_sheets(workbook)["Notes"]
    assert notes[2] == ["Note number", "Note text"]
    assert notes[3:] == [list(n) for n in NOTES]
    p = write_ods(tmp_path / "nonotes.ods", title="T", cover=COVER, tables=[_tables()[2]])
    rows = read_ods_sheets(p)["Notes"]
    assert rows[0] == ["Notes"] and len(rows) == 2 and "no notes" in rows[1][0]


def test_zip_container(workbook):
    with zipfile.ZipFile(workbook) as z:
        assert z.testzip() is None
        infos = z.infolist()
        assert infos[0].filename == "mimetype"
        assert infos[0].compress_type == zipfile.ZIP_STORED
        assert z.read("mimetype") == MIMETYPE.encode("ascii")
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos[1:])
        meta = z.read("meta.xml").decode()
    with open(workbook, "rb") as fh:
        raw = fh.read()
    assert raw[30:38] == b"mimetype"  # the first local header names the mimetype
    assert "creation-date" not in meta and "<dc:date>" not in meta
    assert "<dc:title>Reducing Parental Conflict: evaluation tables</dc:title>" in meta


def test_byte_identical_output(tmp_path, monkeypatch):
    kw = {"title": "Evaluation tables", "cover": COVER, "notes": NOTES}
    a = write_ods(tmp_path / "a.ods", tables=_tables(), **kw)
    # a different clock for the second write: odfpy stamps members with the current time
    import odf.opendocument

    monkeypatch.setattr(odf.opendocument.time, "localtime",
                        lambda *a: time.struct_time((2001, 2, 3, 4, 5, 6, 5, 34, 0)))
    b = write_ods(tmp_path / "b.ods", tables=_tables(), **kw)
    assert hashlib.sha256(a.read_bytes()).hexdigest() == hashlib.sha256(b.read_bytes()).hexdigest()
    c = write_ods(tmp_path / "c.ods", tables=_tables()[:2], **kw)
    assert c.read_bytes() != a.read_bytes()


def test_libreoffice_not_needed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    p = write_ods(tmp_path / "x.ods", title="T", cover=COVER, tables=_tables()[2:])
    assert read_ods_sheets(p)["Funnel"][-1] == ["Started", "80"]


def _one(**kw):
    base = {"sheet": "Table_1", "title": "Table 1: x",
            "frame": pd.DataFrame({"Group": ["a", "b"], "Count (number)": [1, 2]})}
    base.update(kw)
    return OdsTable(**base)


@pytest.mark.parametrize("tables, match", [
    ([_one(), _one(title="Other")], "used twice"),
    ([_one(), _one(sheet="table_1")], "used twice"),
    ([_one(sheet="Contents")], "Contents"),
    ([_one(sheet="Table 1")], "no spaces"),
    ([_one(sheet="Table-1")], "not allowed"),
    ([_one(sheet="T" * 32)], "31"),
    ([_one(sheet="")], "not allowed"),
    ([_one(title="  ")], "title"),
    ([_one(description=["ok", ""])], "description"),
    ([_one(frame=pd.DataFrame({"Group": ["a", "NA"]}))], r"'Table_1', column 'Group'.*'NA'"),
    ([_one(frame=pd.DataFrame({"Group": ["N/A", "b"]}))], r"column 'Group'.*'N/A'"),
    ([_one(frame=pd.DataFrame({"Rate": [1.0, "nan"]}, dtype=object))], r"column 'Rate'.*'nan'"),
    ([_one(frame=pd.DataFrame({"Group": ["a", ""]}))], "column 'Group'"),
    ([_one(frame=pd.DataFrame({"Rate": [1.0, np.inf]}))], "column 'Rate'.*finite"),
    ([_one(missing={"Group": "z"})], "square brackets"),
    ([_one(missing={"Nope": "[z]"})], "'Nope'"),
    ([_one(notes=["[note 9]"])], r"\[note 9\]"),
    ([_one(frame=pd.DataFrame({"": [1]}))], "heading"),
    ([_one(frame=pd.DataFrame(index=range(2)))], "no columns"),
    ([], "at least one table"),
])
def test_bad_inputs_rejected(tmp_path, tables, match):
    with pytest.raises(RpcEvalError, match=match):
        write_ods(tmp_path / "bad.ods", title="T", cover=COVER, tables=tables)
    assert not (tmp_path / "bad.ods").exists()


def test_bad_workbook_arguments(tmp_path):
    with pytest.raises(RpcEvalError, match="workbook title"):
        write_ods(tmp_path / "x.ods", title="", cover=COVER, tables=[_one()])
    with pytest.raises(RpcEvalError, match="cover item 1"):
        write_ods(tmp_path / "x.ods", title="T", cover=[("", "text")], tables=[_one()])
    with pytest.raises(RpcEvalError, match="twice"):
        write_ods(tmp_path / "x.ods", title="T", cover=COVER, tables=[_one()],
                  notes=[("[note 1]", "a"), ("[note 1]", "b")])
    with pytest.raises(RpcEvalError, match="look like"):
        write_ods(tmp_path / "x.ods", title="T", cover=COVER, tables=[_one()],
                  notes=[("note 1", "a")])


def test_first_workbook_of_a_process_has_the_same_bytes(tmp_path):
    """odfpy declares some namespaces only after first use; a fresh process must still
    write the same bytes for its first workbook as for later ones."""
    import subprocess
    import sys

    code = (
        "import hashlib, pandas as pd\n"
        "from rpc_eval.report.ods import OdsTable, write_ods\n"
        "t = OdsTable('Table_1', 'T', pd.DataFrame({'a': [1, 2], 'b': ['x', None]}))\n"
        "hs = []\n"
        "for i in range(2):\n"
        f"    p = write_ods(r'{tmp_path}/t%d.ods' % i, title='x', cover=[('S', 's')],"
        " tables=[t])\n"
        "    hs.append(hashlib.sha256(open(p, 'rb').read()).hexdigest())\n"
        "print(hs[0] == hs[1])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr
