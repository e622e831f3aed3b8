"""Small helpers shared by the analysis modules (argument handling only)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["as_list"]


def as_list(cols: str | Sequence[str] | None) -> list:
    """``None`` -> ``[]``, one name -> ``[name]``, a sequence of names -> a list."""
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    return list(cols)
