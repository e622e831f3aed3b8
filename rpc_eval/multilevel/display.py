"""What the mixed-model results (:class:`~rpc_eval.multilevel.lmm.LmmResult`, its
random-slopes sibling and :class:`~rpc_eval.multilevel.glmm.GlmmResult`) show in common:
their two tables and the notes on rows left out and an unconfirmed optimum."""

from __future__ import annotations

import pandas as pd

from rpc_eval.results import Result

__all__ = ["MixedModelResult"]


class MixedModelResult(Result):
    """A fitted mixed model: ``fixed_effects`` and ``variance_components`` tables,
    ``n_dropped`` rows left out; ``converged`` (or ``optimizer["confirmed"]``) says
    whether the optimum was verified."""

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"fixed_effects": self.fixed_effects,  # type: ignore[attr-defined]
                "variance_components": self.variance_components}  # type: ignore[attr-defined]

    def _fit_notes(self) -> list[str]:
        notes = []
        if getattr(self, "n_dropped", 0):
            notes.append(f"{self.n_dropped} rows with missing values were left out.")  # type: ignore[attr-defined]
        converged = getattr(self, "converged", None)
        if converged is None:
            converged = getattr(self, "optimizer", {}).get("confirmed", True)
        if not converged:
            notes.append("The optimum could not be confirmed (see .optimizer).")
        return notes
