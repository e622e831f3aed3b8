"""The accessible figure style every analysis package draws with: one palette, one set of
line styles, markers, hatches and font sizes.

Accessibility (GOV.UK / Analysis Function chart guidance, WCAG 2.2 AA):

* colours from the Okabe-Ito palette, which stays distinguishable with the common forms
  of colour-blindness (yellow is left out: too little contrast on white);
* colour is never the only cue: series also differ by line style and marker, areas by
  hatching, and every series is named in a legend;
* font sizes of at least 10 pt (tick labels 11 pt, axis labels 12 pt, titles 13 pt).

The constants live here, at the shared-statistics stage, so that the analyses
(:mod:`rpc_eval.engagement`, :mod:`rpc_eval.multilevel`, ...) draw alike without
importing each other.

Examples
--------
>>> PALETTE[0] == BLUE and PALETTE[1] == VERMILION
True
>>> len(PALETTE) == len(LINESTYLES) == len(MARKERS) == len(HATCHES)
True
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BLACK", "BLUE", "FS_LABEL", "FS_LEGEND", "FS_NOTE", "FS_TICK", "FS_TITLE", "GREEN",
    "GREY", "GRID", "HATCHES", "LINESTYLES", "MARKERS", "ORANGE", "PALETTE", "PURPLE",
    "SKY", "VERMILION",
]

#: Okabe-Ito colours by name.
BLUE, VERMILION, GREEN, PURPLE, ORANGE, SKY, BLACK = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Dark grey for neutral marks (points within limits); 7:1 contrast on white.
GREY = "#595959"
#: Light grey of grid lines.
GRID = "#d9d9d9"
#: Okabe-Ito colours in series order (blue, vermilion, bluish green, reddish purple,
#: orange, sky blue, black); yellow left out for contrast on white.
PALETTE = [BLUE, VERMILION, GREEN, PURPLE, ORANGE, SKY, BLACK]
#: Line styles paired with the colours, so series differ without colour.
LINESTYLES: list[Any] = ["-", "--", "-.", ":", (0, (8, 2, 2, 2, 2, 2)), (0, (12, 3)),
                         (0, (1, 3))]
#: Markers paired with the colours.
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
#: Hatches paired with the colours (areas and bars).
HATCHES = ["", "//", "\\\\", "xx", "..", "++", "oo"]

#: Font sizes in points: tick labels, axis labels, titles, legends, notes and point
#: labels (never below 10).
FS_TICK, FS_LABEL, FS_TITLE, FS_LEGEND, FS_NOTE = 11, 12, 13, 11, 10
