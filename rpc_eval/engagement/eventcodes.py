"""Reading an event-code column into censored / event of interest / competing.

Time-to-event fitters take one column of event codes (``0`` censored, ``1`` dropout,
``2`` completion, or text such as ``"ongoing"``, ``"dropped_out"``, ``"completed"``)
and the codes that mark the event of interest and censoring. A code that does not
occur in the column is a coding mistake, not a result: with text codes and the default
``censored=0`` every ``"ongoing"`` row would otherwise become a competing event and the
estimates would be wrong without any sign. :func:`event_status` refuses such input and
names the codes it found (numeric codes without the censoring code, i.e. complete
follow-up, are accepted with a warning).
"""

from __future__ import annotations

import warnings
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from rpc_eval.errors import DataQualityWarning, RpcEvalError

__all__ = ["CENSORED", "COMPETING", "EVENT", "event_codes", "event_status", "type_code"]

CENSORED, EVENT, COMPETING = 0, 1, 2


def _codes_text(values: pd.Series) -> str:
    codes = sorted({repr(v.item() if hasattr(v, "item") else v) for v in pd.unique(values)})
    return ", ".join(codes)


def _occurs(values: pd.Series, code: Any) -> np.ndarray:
    try:
        hit = (values == code).to_numpy(dtype=bool)
    except (TypeError, ValueError):
        hit = np.array([v == code for v in values], dtype=bool)
    return hit


def event_status(values: pd.Series, column: str, event_of_interest: Any,
                 censored: Any = None, *, model: str = "the model") -> np.ndarray:
    """Status codes 0 (censored), 1 (event of interest), 2 (competing event).

    Parameters
    ----------
    values : Series
        The event-code column, without missing values.
    column : str
        Its name (for messages).
    event_of_interest : scalar
        The code of the event modelled. It must occur in ``values``.
    censored : scalar or None
        The code of censored rows. When it does not occur in ``values``:
        :class:`~rpc_eval.errors.RpcEvalError` naming the codes found and how to say which
        one means censored, unless both the codes and ``censored`` are numbers (data
        with complete follow-up, e.g. codes 1 and 2 only), where a
        :class:`~rpc_eval.errors.DataQualityWarning` says that no row is censored.
        ``None`` means no row is censored (every code other than ``event_of_interest``
        is a competing event).
    model : str
        Name of the calling model, for messages.

    Returns
    -------
    ndarray of int
        ``0`` censored, ``1`` event of interest, ``2`` competing event, one per row.
    """
    found = _codes_text(values)
    if censored is not None and not (isinstance(censored, float) and np.isnan(censored)):
        try:
            same = bool(censored == event_of_interest)
        except (TypeError, ValueError):
            same = False
        if same:
            raise RpcEvalError(
                f"{model}: the censoring code and the event of interest are both "
                f"{censored!r}; give the code of censored rows in censored= and the code "
                "of the event modelled in event_of_interest=")
        cens = _occurs(values, censored)
        numeric = (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
                   and isinstance(censored, Real) and not isinstance(censored, bool))
        if not cens.any() and numeric:
            # numeric codes without the censoring code: complete follow-up is possible
            # (every parent finished or left), so say so rather than refuse
            warnings.warn(
                f"{model}: no row has the censoring code {censored!r} in column {column!r} "
                f"(codes found: {found}), so no subject is treated as censored. If censored "
                "rows carry another code, give it as censored=", DataQualityWarning,
                stacklevel=3)
        elif not cens.any():
            raise RpcEvalError(
                f"{model}: the censoring code {censored!r} does not occur in column "
                f"{column!r} (codes found: {found}). Say which code marks rows still in "
                "the programme or lost to follow-up, e.g. censored='ongoing'; if no row "
                "is censored, pass censored=None")
    else:
        cens = np.zeros(len(values), dtype=bool)
    interest = _occurs(values, event_of_interest)
    if not interest.any():
        raise RpcEvalError(
            f"{model}: no event of interest ({column} = {event_of_interest!r}) among the "
            f"{len(values):,} rows used (codes found: {found}); give one of these codes "
            "as event_of_interest")
    return np.where(cens, CENSORED, np.where(interest, EVENT, COMPETING)).astype(np.int64)


def event_codes(values: pd.Series, column: str, censored: Any = 0, *,
                model: str = "the estimate") -> tuple[np.ndarray, list[Any]]:
    """Codes ``0`` (censored) and ``1..k`` (the event types), and the event types.

    The non-parametric estimators (Kaplan-Meier, cumulative incidence, the log-rank and
    Gray tests) read the event column with the same policy as the models
    (:func:`event_status`): numbers or text, a ``censored`` code that does not occur is
    refused naming the codes found (numbers without it are accepted with a warning:
    complete follow-up), and every other code is an event type.

    Parameters
    ----------
    values : Series
        The event-code column, without missing values (booleans read as 0/1).
    column : str
        Its name (for messages).
    censored : scalar or None
        The code of censored rows; ``None``: no row is censored.
    model : str
        The caller, for messages.

    Returns
    -------
    codes : ndarray of int
        ``0`` censored, ``j`` the ``j``-th event type (1-based).
    types : list
        The event codes in sorted order (``types[j - 1]`` is code ``j``); whole numbers
        are returned as ``int``.

    Examples
    --------
    >>> import pandas as pd
    >>> event_codes(pd.Series(["ongoing", "dropped_out", "completed"]), "status",
    ...             censored="ongoing")
    (array([0, 2, 1]), ['completed', 'dropped_out'])
    >>> event_codes(pd.Series([0, 1, 2, 1]), "event")
    (array([0, 1, 2, 1]), [1, 2])
    """
    if pd.api.types.is_bool_dtype(values):
        values = values.astype(np.int64)
    numeric = pd.api.types.is_numeric_dtype(values)
    if numeric:
        v = values.to_numpy(dtype=float)
        if not np.all(v == np.round(v)):
            raise RpcEvalError(
                f"{model}: event column {column!r} must hold whole-number codes (0 "
                "censored, 1 dropout, 2 completion, ...) or text codes; found "
                f"{_codes_text(values[v != np.round(v)])}")
        values = pd.Series(v.astype(np.int64), index=values.index)
    found = _codes_text(values)
    if censored is None or (isinstance(censored, float) and np.isnan(censored)):
        cens = np.zeros(len(values), dtype=bool)
    else:
        cens = _occurs(values, censored)
        numeric_code = isinstance(censored, Real) and not isinstance(censored, bool)
        if not cens.any() and numeric and numeric_code:
            if len(values):
                warnings.warn(
                    f"{model}: no row has the censoring code {censored!r} in column "
                    f"{column!r} (codes found: {found}), so no subject is treated as "
                    "censored. If censored rows carry another code, give it as censored=",
                    DataQualityWarning, stacklevel=3)
        elif not cens.any():
            raise RpcEvalError(
                f"{model}: the censoring code {censored!r} does not occur in column "
                f"{column!r} (codes found: {found}). Say which code marks rows still in "
                "the programme or lost to follow-up, e.g. censored='ongoing'; if no row "
                "is censored, pass censored=None")
    rest = values[~cens]
    try:
        types = sorted(pd.unique(rest))
    except TypeError:  # mixed types: order by their text
        types = sorted(pd.unique(rest), key=str)
    types = [t.item() if hasattr(t, "item") else t for t in types]
    lookup = {t: j + 1 for j, t in enumerate(types)}
    codes = np.zeros(len(values), dtype=np.int64)
    codes[~cens] = [lookup[v.item() if hasattr(v, "item") else v] for v in rest]
    return codes, types


def type_code(types: list[Any], code: Any) -> int | None:
    """The 1-based position of an event ``code`` among ``types``, or ``None`` when it does
    not occur (the caller decides whether that is an error or an empty result)."""
    for j, t in enumerate(types):
        try:
            if t == code:
                return j + 1
        except (TypeError, ValueError):
            continue
    return None
