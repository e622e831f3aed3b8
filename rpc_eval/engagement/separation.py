"""The separation warning of the engagement models.

It lives in :mod:`rpc_eval.stats.separation` (the multilevel GLMM gives it too) and is
re-exported here, so ``rpc_eval.engagement.SeparationWarning`` keeps its name.
"""

from __future__ import annotations

from rpc_eval.stats.separation import SeparationWarning, warn_separation

__all__ = ["SeparationWarning", "warn_separation"]
