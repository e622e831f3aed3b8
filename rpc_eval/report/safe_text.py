"""Kept for imports written before the module moved: see :mod:`rpc_eval.safe_text`
(a shared primitive, used by intake logs and federated summaries as well as reports)."""

from rpc_eval.safe_text import (  # noqa: F401
    FORMULA_STARTS,
    escape_mathtext,
    neutralise_cell,
    neutralise_frame,
)

__all__ = ["neutralise_cell", "neutralise_frame", "escape_mathtext", "FORMULA_STARTS"]
