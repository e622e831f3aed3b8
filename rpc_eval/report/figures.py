"""Save matplotlib figures for a report: PNG and SVG, byte-for-byte reproducible."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["save_figure"]


def save_figure(fig, out_dir: str | Path, name: str, *, dpi: int = 150) -> list[Path]:
    """Write ``<name>.png`` and ``<name>.svg`` under ``out_dir`` and close the figure.

    Metadata that would change between runs (creation date, software version) is left
    out and SVG element ids are derived from a fixed salt, so the same figure gives the
    same bytes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    with matplotlib.rc_context({"svg.hashsalt": "rpc_eval", "svg.fonttype": "none"}):
        fig.savefig(paths[0], dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths
