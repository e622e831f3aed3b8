"""Save matplotlib figures for a report: PNG and SVG, byte-for-byte reproducible."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["save_figure"]


def _escape_texts(fig) -> None:
    """Escape ``$`` in every text of ``fig``; tick labels drawn from data (categories,
    fixed labels, label functions) are escaped through their formatter. Number
    formatters (plain and logarithmic, whose notation is intended) are left alone."""
    from matplotlib.text import Text
    from matplotlib.ticker import Formatter, LogFormatter, NullFormatter, ScalarFormatter

    from rpc_eval.report.safe_text import escape_mathtext

    class Escaped(Formatter):
        def __init__(self, inner):
            self.inner = inner

        def set_axis(self, axis):
            super().set_axis(axis)
            self.inner.set_axis(axis)

        def set_locs(self, locs):
            self.inner.set_locs(locs)

        def __call__(self, x, pos=None):
            return escape_mathtext(str(self.inner(x, pos)))

        def format_ticks(self, values):
            return [escape_mathtext(str(v)) for v in self.inner.format_ticks(values)]

        def get_offset(self):
            return escape_mathtext(str(self.inner.get_offset()))

    for t in fig.findobj(Text):
        text = t.get_text()
        if "$" in text:
            t.set_text(escape_mathtext(text))
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for get, put in ((axis.get_major_formatter, axis.set_major_formatter),
                             (axis.get_minor_formatter, axis.set_minor_formatter)):
                f = get()
                if not isinstance(f, Escaped | ScalarFormatter | LogFormatter | NullFormatter):
                    put(Escaped(f))


def save_figure(fig, out_dir: str | Path, name: str, *, dpi: int = 150) -> list[Path]:
    """Write ``<name>.png`` and ``<name>.svg`` under ``out_dir`` and close the figure.

    Metadata that would change between runs (creation date, software version) is left
    out and SVG element ids are derived from a fixed salt, so the same figure gives the
    same bytes. Every ``$`` in the figure's text (titles, labels, legends, category tick
    labels: codes and names from the data) is escaped, so it is drawn as written rather
    than read as mathematical notation (:func:`rpc_eval.report.safe_text.escape_mathtext`).
    """
    _escape_texts(fig)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    with matplotlib.rc_context({"svg.hashsalt": "rpc_eval", "svg.fonttype": "none"}):
        fig.savefig(paths[0], dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths
