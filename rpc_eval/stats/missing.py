"""The one missing-data policy of the model fitters (docs/conventions.md).

:func:`complete_rows` keeps the rows complete on the columns a model uses, counts the
rest (the fitters put the count on their result as ``n_dropped``) and says so with a
:class:`~rpc_eval.errors.DataQualityWarning`; nothing is dropped silently.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from rpc_eval.errors import DataQualityWarning

__all__ = ["complete_rows"]


def _plain_dtype(col: pd.Series) -> pd.Series:
    """A pandas nullable column (``Int64``, ``Float64``, ``boolean``, ``string``) as the
    numpy dtype it stands for; the column must hold no missing values."""
    dt = col.dtype
    if isinstance(dt, pd.BooleanDtype):
        return col.astype(bool)
    if isinstance(dt, pd.api.extensions.ExtensionDtype) and not isinstance(
            dt, pd.CategoricalDtype | pd.DatetimeTZDtype | pd.PeriodDtype | pd.IntervalDtype):
        if pd.api.types.is_integer_dtype(dt):
            return col.astype(np.int64)
        if pd.api.types.is_float_dtype(dt):
            return col.astype(np.float64)
        if pd.api.types.is_string_dtype(dt):
            return col.astype(object)
    return col


def complete_rows(data: pd.DataFrame, columns, what: str,
                  stacklevel: int = 3) -> tuple[pd.DataFrame, int]:
    """The rows of ``data[columns]`` with no missing value, and how many were dropped.

    The one missing-data policy of the model fitters: a row with a missing value
    (``NaN``, ``None``, ``pd.NA``, ``NaT``) in any column the model uses is left out, with
    a :class:`~rpc_eval.errors.DataQualityWarning` giving the count and the columns.
    Pandas nullable columns (``Int64``, ``Float64``, ``boolean``, ``string``) come back
    as the plain numpy dtype they stand for, so every later step sees ordinary data.
    """
    columns = list(dict.fromkeys(columns))
    sub = data[columns]
    miss = sub.isna()
    bad = miss.any(axis=1).to_numpy()
    n_dropped = int(bad.sum())
    if n_dropped:
        counts = miss.sum()
        detail = ", ".join(f"{c}: {int(k)}" for c, k in counts.items() if k)
        warnings.warn(
            f"{what}: {n_dropped:,} of {len(sub):,} rows have missing values ({detail}) "
            "and were left out of the model", DataQualityWarning, stacklevel=stacklevel)
        sub = sub.loc[~bad]
    sub = sub.assign(**{c: _plain_dtype(sub[c]) for c in sub.columns})
    return sub, n_dropped
