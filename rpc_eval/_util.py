"""Small helpers shared by the analysis modules (argument handling only)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

from rpc_eval.errors import RpcEvalError

__all__ = ["as_list", "check_ci"]


def as_list(cols: str | Sequence[str] | None) -> list:
    """``None`` -> ``[]``, one name -> ``[name]``, a sequence of names -> a list."""
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    return list(cols)


def check_ci(ci) -> float:
    """The confidence level as a float, or a clear error if it is not in (0, 1)."""
    if isinstance(ci, bool) or not isinstance(ci, Real) or not 0.0 < float(ci) < 1.0:
        raise RpcEvalError(
            f"ci must be a confidence level between 0 and 1 (e.g. 0.95), not {ci!r}")
    return float(ci)
