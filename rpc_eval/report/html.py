"""Small helpers to write accessible, dependency-free HTML pages."""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["page", "table_html", "esc"]

esc = html.escape

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;max-width:72rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.5}
table{border-collapse:collapse;margin:0 0 1.5rem 0;font-size:.92rem}
caption{text-align:left;font-weight:600;padding:.4rem 0}
th,td{border:1px solid #b1b4b6;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f2f1}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#505a5f;font-size:.9rem}
"""


def table_html(data: pd.DataFrame, caption: str, max_rows: int | None = None) -> str:
    """An HTML table with a caption, header cells with scope, numbers right-aligned."""
    shown = data if max_rows is None else data.head(max_rows)
    head = "".join(f'<th scope="col">{esc(str(c))}</th>' for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False):
        cells = []
        for v in row:
            is_num = isinstance(v, int | float) and not isinstance(v, bool)
            text = "" if pd.isna(v) else (f"{v:,}" if isinstance(v, int) else str(v))
            cells.append(f'<td class="num">{esc(text)}</td>' if is_num else f"<td>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if max_rows is not None and len(data) > max_rows:
        more = (f'<p class="note">Showing the first {max_rows:,} of {len(data):,} rows; the '
                "CSV file has them all.</p>")
    return (f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{more}")


def page(title: str, body: str) -> str:
    """A whole HTML page."""
    return (f'<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
            f"<body><main><h1>{esc(title)}</h1>{body}</main></body></html>\n")
