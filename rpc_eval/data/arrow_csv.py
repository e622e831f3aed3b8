"""Write dataset tables as CSV quickly, with exactly the text of :func:`rpc_eval.data.write`.

Cells are dictionary-encoded (the text of each distinct value is made once) and written
by pyarrow's CSV writer, which matters for the millions of questionnaire answers of a
national-scale import. A table with a cell that needs quoting is written by pandas, as
:func:`rpc_eval.data.write` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rpc_eval.data.model import schema

__all__ = ["write_csv", "write_answers_csv"]


def _arrow_text(s: pd.Series, kind: str):
    """A column as the text :func:`rpc_eval.data.write.to_text_frame` writes ("" =
    missing), dictionary-encoded: the text is made once per distinct value."""
    import pyarrow as pa

    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    u = pd.Series(uniq)
    if kind == "date":
        text = pd.to_datetime(u).dt.strftime("%Y-%m-%d")
    elif kind == "boolean":
        text = u.map({True: "yes", False: "no"})
    elif kind == "number":
        num = u.astype("float64")
        if ((num % 1 == 0) & (num.abs() < 2.0**53)).all():
            text = num.astype("Int64").astype(str)
        else:
            text = num.map(lambda v: format(v, ".15g"))
    elif kind == "integer":
        text = u.astype("Int64").astype(str)
    else:
        text = u.astype(str)
    words = np.append(text.to_numpy(dtype=object), "").astype(str)
    idx = np.where(codes < 0, len(words) - 1, codes).astype("int32")
    return pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(words, type=pa.string()))


def write_answers_csv(answers: dict, path: Path) -> Path:
    """responses.csv straight from the answer arrays of an import (``row`` into
    ``parent_id``, ``combo`` into ``combos`` = respondent, instrument, wave, item;
    ``value``; ``date``), as :func:`write_csv` writes the responses table (same text),
    without building the table first."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def dictionary(indices: np.ndarray, words) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(indices.astype("int32")),
                                              pa.array(list(words), type=pa.string()))

    ids = answers["parent_id"].fillna("").astype(str).to_numpy(dtype=object)
    arrays = {"parent_id": dictionary(answers["row"], ids)}
    combos = pd.DataFrame(answers["combos"] or None,
                          columns=["respondent", "instrument", "wave", "item"])
    for col in combos.columns:
        codes, uniq = pd.factorize(combos[col])
        arrays[col] = dictionary(np.asarray(codes)[answers["combo"]], [str(u) for u in uniq])
    arrays["value"] = _arrow_text(pd.Series(answers["value"]), "number")
    arrays["completed_date"] = _arrow_text(pd.Series(answers["date"]), "date")
    with open(path, "wb") as fh:
        fh.write((",".join(arrays) + "\n").encode("utf-8"))
        pacsv.write_csv(pa.table(arrays), fh, write_options=pacsv.WriteOptions(
            quoting_style="none", include_header=False))
    return path


def write_csv(data: pd.DataFrame, table: str, path: Path) -> Path:
    """Write one table as :func:`rpc_eval.data.write` does (same text, byte for byte),
    fast: cells are dictionary-encoded and written by pyarrow. Tables with a cell that
    needs quoting (a comma, quote or line break) are written by pandas instead."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from rpc_eval.data.write import to_text_frame

    cols = schema()[table]["columns"]
    arrays = {c: _arrow_text(data[c], spec["type"]) for c, spec in cols.items()}
    header = ",".join(cols)
    try:
        if any(ch in name for name in cols for ch in ',"\r\n'):
            raise pa.ArrowInvalid("the header needs quoting")
        with open(path, "wb") as fh:
            fh.write((header + "\n").encode("utf-8"))
            pacsv.write_csv(pa.table(arrays), fh, write_options=pacsv.WriteOptions(
                quoting_style="none", include_header=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        to_text_frame(data, table).to_csv(path, index=False, encoding="utf-8",
                                           lineterminator="\n")
    return path
