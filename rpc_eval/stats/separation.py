"""The separation policy of the models (docs/conventions.md, "Separation").

A group with no events (or only events) has no finite maximum-likelihood estimate. The
model still fits: the affected terms get an ``estimate`` of ``-inf`` or ``+inf`` (never
a large finite number that looks real), NaN standard errors and limits, and one
:class:`SeparationWarning` names each term and its group. The engagement models and the
multilevel GLMM (:func:`rpc_eval.multilevel.fit_glmm`) give this warning; the cases the
GLMM still refuses are listed in docs/conventions.md.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warn_separation("the Fine-Gray model",
...                     [("mode[T.online]", "mode = 'online'", "no event of interest")])
>>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
the Fine-Gray model: separation: term mode[T.online] (mode = 'online': no event of
interest) has no finite estimate; it is reported as -inf or +inf with no standard error,
and the other estimates are the limit of the fit. Merge the group with another, or leave
its rows out, for a finite estimate
>>> issubclass(SeparationWarning, DataQualityWarning)
True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from rpc_eval.errors import DataQualityWarning

__all__ = ["SeparationWarning", "warn_separation"]


class SeparationWarning(DataQualityWarning):
    """The maximum-likelihood estimate of a term does not exist (separation): a group in
    which nobody, or everybody, had the event. The term is reported as +-inf."""


def warn_separation(model: str, items: Sequence[tuple[str, str, str]], *,
                    stacklevel: int = 3) -> None:
    """One :class:`SeparationWarning` naming each separated term and its group.

    Parameters
    ----------
    model : str
        The model in words (``"the Cox model"``).
    items : sequence of (term, group, what)
        The term label (``g[T.B]``), the group in words (``"g = 'B'"``) and what it lacks
        (``"no event of interest"``, ``"only events"``).
    """
    if not items:
        return
    parts = "; ".join(f"term {term} ({group}: {what})" for term, group, what in items)
    warnings.warn(
        f"{model}: separation: {parts} has no finite estimate; it is reported as -inf or "
        "+inf with no standard error, and the other estimates are the limit of the fit. "
        "Merge the group with another, or leave its rows out, for a finite estimate",
        SeparationWarning, stacklevel=stacklevel)
