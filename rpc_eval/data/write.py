"""Write an :class:`EvaluationData` to files that :func:`rpc_eval.data.load` reads back.

Dates are written as ``YYYY-MM-DD``, yes/no columns as ``yes``/``no``, whole-number
values without a decimal point and missing values as empty cells, so a dataset
survives a write/load round trip unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rpc_eval.data.model import TABLES, EvaluationData, schema
from rpc_eval.errors import RpcEvalError

__all__ = ["write", "to_text_frame"]


def to_text_frame(data: pd.DataFrame, table: str) -> pd.DataFrame:
    """The table with every cell as the text that is written to a file ("" = missing)."""
    cols = schema()[table]["columns"]
    out = {}
    for col, spec in cols.items():
        s = data[col]
        kind = spec["type"]
        if kind == "date":
            text = s.dt.strftime("%Y-%m-%d")
        elif kind == "boolean":
            text = s.map({True: "yes", False: "no"})
        elif kind == "number":
            whole = s.dropna()
            if ((whole % 1 == 0) & (whole.abs() < 2.0**53)).all():
                text = s.astype("Int64").astype("string")
            else:
                text = s.map(lambda v: format(v, ".15g") if pd.notna(v) else None)
        else:
            text = s.astype("string")
        out[col] = text.astype(object).where(s.notna(), "")
    return pd.DataFrame(out, columns=list(cols))


def write(data: EvaluationData, folder: str | Path, *, format: str = "csv",
          tables: list[str] | None = None) -> list[Path]:
    """Write the tables of ``data`` under ``folder``.

    Parameters
    ----------
    format : {"csv", "xlsx", "sav"}
        ``csv``: one UTF-8 ``<table>.csv`` per table; ``xlsx``: one workbook
        ``dataset.xlsx`` with a sheet per table; ``sav``: one SPSS file per table.
    tables : list of str, optional
        Tables to write (default: every table with at least one row, plus the
        required ones).

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = schema()
    names = tables or [t for t in TABLES if len(data.table(t)) or spec[t]["required"]]
    texts = {t: to_text_frame(data.table(t), t) for t in names}
    written: list[Path] = []
    if format == "csv":
        for t, text in texts.items():
            path = folder / f"{t}.csv"
            text.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
            written.append(path)
    elif format == "xlsx":
        path = folder / "dataset.xlsx"
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for t, text in texts.items():
                text.to_excel(xw, sheet_name=t, index=False)
        written.append(path)
    elif format == "sav":
        import pyreadstat

        for t, text in texts.items():
            path = folder / f"{t}.sav"
            pyreadstat.write_sav(text, str(path))
            written.append(path)
    else:
        raise RpcEvalError(f"format must be csv, xlsx or sav, not {format!r}")
    return written
