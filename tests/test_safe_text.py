"""Text from data made inert: CSV cells that a spreadsheet would run as formulas, and
figure text that matplotlib would read as mathematical notation."""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rpc_eval.report.figures import save_figure  # noqa: E402
from rpc_eval.report.safe_text import (  # noqa: E402
    escape_mathtext,
    neutralise_cell,
    neutralise_frame,
)


@pytest.mark.parametrize("value, written", [
    ('=HYPERLINK("http://x","click")', '\'=HYPERLINK("http://x","click")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("@SUM(1)", "'@SUM(1)"),
    ("-2+3", "'-2+3"),
    ("\tTAB", "'\tTAB"),
    ("\rCR", "'\rCR"),
    ("-", "'-"),
    ("-1.5", "-1.5"),
    ("+3", "+3"),
    ("-1e-05", "-1e-05"),
    ("LA001", "LA001"),
    ("a=b", "a=b"),
    ("", ""),
    (-2.5, -2.5),
    (None, None),
])
def test_owasp_rule(value, written):
    assert neutralise_cell(value) == written


def test_frame_text_cells_and_headers_only():
    f = pd.DataFrame({"=x": ["=1+1", "ok", None], "n": [-1, 2, 3],
                      "cat": pd.Categorical(["@a", "b", "@a"])})
    out = neutralise_frame(f)
    assert list(out.columns) == ["'=x", "n", "cat"]
    assert out["'=x"].tolist()[:2] == ["'=1+1", "ok"] and out["'=x"].isna().iloc[2]
    assert out["n"].tolist() == [-1, 2, 3] and out["n"].dtype == f["n"].dtype
    assert out["cat"].tolist() == ["'@a", "b", "'@a"]
    assert f["=x"].tolist()[0] == "=1+1"  # the input is not changed
    csv = out.to_csv(index=False)
    assert all(not line.startswith(("=", "+", "@")) for line in csv.splitlines())


def test_escape_mathtext():
    assert escape_mathtext(r"LA $\foo$") == r"LA \$\foo\$"
    assert escape_mathtext(r"cost \$5") == r"cost \$5"
    assert escape_mathtext("plain") == "plain"


def test_figure_with_dollar_labels_saves_and_draws_them_as_written(tmp_path):
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3)
    ax1.barh([r"LA$\foo$", "LA002", "$x^$"], [1, 2, 3], label=r"intervention $\bad$")
    ax1.set_title(r"$\nope$")
    ax1.legend()
    ax2.plot([1, 2], [1, 2])
    ax2.set_yticks([1, 2], [r"$\zz$", "b"])
    ax2.text(1, 1, r"note $\q$")
    ax3.set_yscale("log")
    ax3.plot([1, 2], [10, 1000])
    png, svg = save_figure(fig, tmp_path, "labels")
    assert png.stat().st_size > 0
    text = svg.read_text()
    for literal in (r"LA$\foo$", "$x^$", r"intervention $\bad$", r"$\nope$", r"$\zz$",
                    r"note $\q$"):
        assert literal in text, literal
    # numbers on a log axis keep their intended notation (10 with a superscript): the
    # notation appears only in the SVG's comments, never as drawn text
    assert r"<!-- $\mathdefault{10^{1}}$ -->" in text
    assert not re.search(r">[^<]*mathdefault", text)
