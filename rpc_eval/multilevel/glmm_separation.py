"""Separation in the GLMM: a two-valued fixed-effect column one of whose values has a
constant outcome (docs/conventions.md, "Separation").

Take a 0/1 column ``d`` (a level of a categorical column, ``arm[T.rpc]``) whose rows
with ``d = 1`` all have outcome 0. With ``beta_d -> -inf`` each such row's probability
of its observed outcome tends to 1 whatever the other parameters and random effects,
so it contributes ``log 1 = 0`` to the marginal likelihood (dominated convergence under
the integral over the random effect), and no finite ``beta_d`` does better. Since every
row's density is at most 1, the likelihood with the rows kept is never above the
likelihood of the other rows alone, so the supremum of the likelihood is the maximum
of the model fitted *without those rows and without the term*: the other fixed
effects, the variances and the log-likelihood reported are that fit's, and ``beta_d``
is reported as ``-inf`` (``+inf`` when the rows all have outcome 1, or every trial a
success). A Poisson column whose rows all have count 0 is the same, with ``-inf``.

When it is the *other* value that separates (``d = 0``: for a two-level categorical
column the reference level), the rows left in the fit all have ``d = 1``, so ``d`` is
the intercept there: the limit moves the intercept and ``beta_d`` in opposite
directions (intercept ``-inf``, ``beta_d`` ``+inf`` when the ``d = 0`` rows have no
events) with their sum finite. Both are reported as infinite; their finite sum is the
intercept of the fit without the rows and is not a term of the model, so it is not
reported. In general, for a column with values ``v`` (separated) and ``w`` (kept), the
direction of the limit is ``beta_d`` with the sign of the outcome times the sign of
``v - w``, and the intercept ``-w beta_d``.

The reference level of a categorical column of three or more levels (every indicator
0) with a constant outcome is the same case: the intercept goes to ``-inf`` (no events
there; ``+inf`` for only events) and every other level's term the other way; the
levels left in the fit then sum to the intercept, so the fit drops the first of them
and their finite contrasts are not terms of the model (not reported).

A column that is 0 in every row left in the fit (an interaction with ``d``) is then
not determined by the likelihood and is reported as NaN. So is a level whose rows were
separated in the same direction as the intercept's later limit (two levels with no
events, one of them the reference): the intercept already carries its rows there,
whatever its own coefficient. A group (LA) whose rows all leave the fit has its random
intercept at its prior in the limit: its BLUP is 0 with conditional SD equal to the
group SD.

The search repeats on the rows left, so two separated columns are both found. Still
refused (an :class:`~rpc_eval.errors.RpcEvalError` saying why): a separated value
other than 0 whose limit needs an intercept the model does not have (or has already
sent to infinity); rows left whose outcome is constant (the outcome is then fully
determined and no other term has a limit); a design that is collinear on the rows
left; fewer than two groups with rows left. Separation that no single column or
reference level shows (a combination of columns, a continuous covariate) is not
searched for here; ``fit_glmm`` refuses it after the fit when a coefficient diverges.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rpc_eval.errors import RpcEvalError
from rpc_eval.multilevel.formula import term_labels
from rpc_eval.stats.separation import SeparationWarning, warn_separation

__all__ = ["GlmmSeparation", "categorical_blocks", "find_separation", "warn_glmm_separation"]

_LEVEL = re.compile(r"([^\[\]:]+)\[T\.([^\]]+)\]")


@dataclass
class GlmmSeparation:
    """What :func:`find_separation` found.

    ``keep`` marks the rows left in the fit; ``reported`` maps a design column to the
    value reported for it (``-inf``, ``+inf`` or NaN); ``dropped`` lists the columns
    left out of the fit (a diverging intercept stays in the fit but is reported as
    infinite); ``items`` are the (term, group, what) of the warning; ``undetermined``
    the labels of the terms reported as NaN.
    """

    keep: np.ndarray
    reported: dict[str, float] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    items: list[tuple[str, str, str]] = field(default_factory=list)
    undetermined: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.reported)


def _group_words(label: str, v: float, w: float) -> str:
    m = _LEVEL.fullmatch(label)
    if m and {float(v), float(w)} == {0.0, 1.0}:
        col, level = m.groups()
        return f"{col} = {level!r}" if v == 1 else f"{col} other than {level!r}"
    return f"{label} = {v:g}"


def _what(family: str, counts: bool, sign: int) -> str:
    if family == "poisson":
        return "every count 0"
    if counts:
        return "no successes" if sign < 0 else "only successes"
    return "no events (every outcome 0)" if sign < 0 else "only events (every outcome 1)"


def _find_one(X: pd.DataFrame, y: np.ndarray, m: np.ndarray, family: str,
              keep: np.ndarray, done: set[str]):
    """The first separated (column, v, w, sign) on the kept rows: values whose other
    value is 0 first (only that term diverges), then the others."""
    for other_is_zero in (True, False):
        for name in X.columns:
            if name == "Intercept" or name in done:
                continue
            col = X[name].to_numpy(dtype=float)[keep]
            vals = np.unique(col)
            if vals.size != 2:
                continue
            for v, w in ((vals[1], vals[0]), (vals[0], vals[1])):
                if (w == 0) != other_is_zero:
                    continue
                sel = col == v
                sign = _constant(y[keep][sel], m[keep][sel], family)
                if sign:
                    return name, float(v), float(w), sign
    return None


def _constant(ys: np.ndarray, ms: np.ndarray, family: str) -> int:
    """-1 when every outcome is 0, +1 when every one is 1 (every trial a success;
    binomial only), else 0."""
    if np.all(ys == 0):
        return -1
    if family == "binomial" and np.all(ys == ms):
        return 1
    return 0


def _find_reference(X: pd.DataFrame, y: np.ndarray, m: np.ndarray, family: str,
                    keep: np.ndarray, blocks: list[tuple[list[str], str]]):
    """A categorical column of three or more levels whose reference level (every
    indicator 0) has a constant outcome: (its indicator columns, words, sign). (With
    two levels the one indicator's 0 value is the reference level, found first.)"""
    for cols, words in blocks:
        if len(cols) < 2:
            continue
        block = X[cols].to_numpy(dtype=float)[keep]
        if not np.isin(block, (0.0, 1.0)).all() or np.any(block.sum(axis=1) > 1):
            continue
        ref = block.sum(axis=1) == 0
        if ref.any() and not ref.all():
            sign = _constant(y[keep][ref], m[keep][ref], family)
            if sign:
                return cols, words, sign
    return None


def find_separation(X: pd.DataFrame, y: np.ndarray, m: np.ndarray, family: str,
                    counts: bool, blocks: list[tuple[list[str], str]] | None = None
                    ) -> GlmmSeparation:
    """Two-valued columns of ``X`` with a value whose outcome is constant, and
    reference levels (``blocks``: the indicator columns of each categorical column,
    with the reference level in words, from :func:`categorical_blocks`) with a
    constant outcome:
    the rows that leave the fit and the values reported for the terms (see the module
    docstring). Raises :class:`~rpc_eval.errors.RpcEvalError` for the cases that are
    still refused."""
    labels = dict(zip(X.columns, term_labels(X.columns), strict=True))
    reference = {cols[0]: words for cols, words in (blocks or []) if len(cols) == 1}
    sep = GlmmSeparation(keep=np.ones(len(y), dtype=bool))
    has_intercept = "Intercept" in X.columns
    level_sign: dict[str, int] = {}    # outcome sign of terms whose own rows separated

    def intercept_diverges(sign: int, group: str, what: str) -> None:
        if not has_intercept or "Intercept" in sep.reported:
            raise RpcEvalError(
                f"Perfect separation: every row with {group} has {what}, and its limit "
                f"needs the intercept to go to infinity too, which "
                f"{'this model has not got' if not has_intercept else 'is already infinite'}"
                ". Merge the group with another, or leave its rows out.")
        sep.reported["Intercept"] = sign * math.inf
        sep.items.append((labels["Intercept"], group, what))
        # a level whose rows went the same way is now carried there by the intercept:
        # its own coefficient is no longer determined (e.g. two levels with no events)
        for name, s in list(level_sign.items()):
            if s == sign:
                sep.reported[name] = math.nan
                sep.items = [it for it in sep.items if it[0] != labels[name]]
                sep.undetermined.append(labels[name])
                del level_sign[name]

    while True:
        found = _find_one(X, y, m, family, sep.keep, set(sep.reported))
        if found is not None:
            name, v, w, sign = found
            group, what = _group_words(labels[name], v, w), _what(family, counts, sign)
            if v == 0 and w == 1 and name in reference:
                group = reference[name]
            direction = sign * (1 if v > w else -1)
            sep.reported[name] = direction * math.inf
            sep.dropped.append(name)
            sep.items.append((labels[name], group, what))
            if w != 0:                         # the intercept is -w beta_d
                intercept_diverges(1 if -w * direction > 0 else -1, group, what)
            else:
                level_sign[name] = sign
            sep.keep &= X[name].to_numpy(dtype=float) != v
        else:
            todo = [(c, wd) for c, wd in (blocks or [])
                    if not all(col in sep.reported for col in c)]
            ref = _find_reference(X, y, m, family, sep.keep, todo)
            if ref is None:
                break
            cols, group, sign = ref
            what = _what(family, counts, sign)
            live = [c for c in cols if c not in sep.reported]
            intercept_diverges(sign, group, what)
            for c in live:                     # each level's term goes the other way
                sep.reported[c] = -sign * math.inf
                sep.items.append((labels[c], group, what))
            sep.dropped.append(live[0])        # the levels left sum to the intercept
            sep.keep &= X[cols].to_numpy(dtype=float).sum(axis=1) > 0
        # terms with no value left in the fit are not determined by the likelihood
        for other in X.columns:
            if other in sep.reported or other == "Intercept":
                continue
            if np.all(X[other].to_numpy(dtype=float)[sep.keep] == 0):
                sep.reported[other] = math.nan
                sep.dropped.append(other)
                sep.undetermined.append(labels[other])
    return sep


def categorical_blocks(X: pd.DataFrame) -> list[tuple[list[str], str]]:
    """The indicator columns of each categorical column in a patsy design (treatment
    coding), with its reference level in words."""
    info = getattr(X, "design_info", None)
    if info is None:
        return []
    out = []
    for term, cols in info.term_name_slices.items():
        names = list(X.columns[cols])
        factors = info.terms[list(info.term_names).index(term)].factors
        if len(factors) != 1:                  # the intercept, an interaction
            continue
        factor = factors[0]
        categories = getattr(info.factor_infos[factor], "categories", None)
        if categories is None:
            continue
        label = _LEVEL.fullmatch(term_labels([names[0]])[0])
        column = label.group(1) if label else term
        out.append((names, f"{column} = {categories[0]!r} (the reference level)"))
    return out


def warn_glmm_separation(sep: GlmmSeparation, n_rows: int) -> None:
    """The :class:`SeparationWarning` of the fit (terms at +-inf, and any left NaN),
    pointing at the caller of ``fit_glmm``."""
    left = int(n_rows - sep.keep.sum())
    warn_separation(f"the GLMM ({left:,} rows of the separated groups leave the fit, "
                    "the limit of the likelihood)", sep.items, stacklevel=4)
    if sep.undetermined:
        names = ", ".join(sep.undetermined)
        warnings.warn(
            f"the GLMM: separation: term(s) {names} are non-zero only in rows of a "
            "separated group, so the likelihood does not determine them; they are "
            "reported as NaN", SeparationWarning, stacklevel=3)
