"""Design matrices for the multilevel models: fixed effects from a formula (patsy),
grouping factors coded the way lme4 codes nesting.

``groups=[outer, inner]`` means ``(1 | outer/inner)``: an inner label that repeats
under two outer groups is two different groups (the inner factor is the interaction
``outer:inner``, as lme4 expands it).

Term labels follow the package's vocabulary (docs/conventions.md): a level of a
categorical column is ``column[T.level]`` whether the formula names the column plainly
or wraps it in ``C(...)`` (:func:`term_labels`); the design matrix, and so the fit, is
the same either way.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rpc_eval.errors import DataQualityWarning, RpcEvalError
from rpc_eval.stats.missing import complete_rows  # noqa: F401  (re-exported for the fitters)

__all__ = ["Design", "build_design", "complete_rows", "formula_columns", "term_labels"]

#: patsy's name of a ``C(column, ...)`` factor, when a level (``[T.x]``) follows
_C_FACTOR = re.compile(r"C\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:,[^\[\]]*)?\)(?=\[)")


def term_labels(names) -> list[str]:
    """Design-matrix column names as the package labels terms: ``column[T.level]``.

    patsy names a level of ``C(intervention)`` ``C(intervention)[T.x]`` (and of
    ``C(x, Treatment("a"))`` ``C(x, Treatment("a"))[T.b]``); the label drops the
    ``C(...)`` wrapper, so a term reads the same whether or not the formula wrapped the
    column. Interactions keep their ``:``. When dropping the wrappers would make two
    labels equal (``x`` and ``C(x)`` in one formula), patsy's names are kept.

    Examples
    --------
    >>> term_labels(["Intercept", "C(intervention)[T.b]", "wave[T.end]:C(arm)[T.rpc]",
    ...              "C(x, Treatment('a'))[T.c]", "age"])
    ['Intercept', 'intervention[T.b]', 'wave[T.end]:arm[T.rpc]', 'x[T.c]', 'age']
    """
    names = [str(n) for n in names]
    labels = [_C_FACTOR.sub(r"\1", n) for n in names]
    return labels if len(set(labels)) == len(labels) else names


def formula_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """Columns of ``data`` that a patsy formula uses (names and ``Q("...")`` quotes)."""
    import patsy

    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as exc:
        raise RpcEvalError(f"could not read the formula {formula!r}: {exc}") from exc
    names: list[str] = []
    for term in [*desc.lhs_termlist, *desc.rhs_termlist]:
        for factor in term.factors:
            code = getattr(factor, "code", "")
            try:
                tree = ast.parse(code, mode="eval")
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Name):
                    names.append(node.id)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names.append(node.value)
    cols = set(map(str, data.columns))
    return [c for c in dict.fromkeys(names) if c in cols]


@dataclass
class Design:
    """Response, fixed-effects design and grouping codes of a random-intercept model.

    Attributes
    ----------
    y : ndarray (n,)
    X : ndarray (n, p)
    terms : list of str
        Labels of the columns of ``X`` (``Intercept``, ``age``,
        ``intervention[T.x]``, ``wave[T.end]:arm[T.rpc]``; see :func:`term_labels`).
    group_names : list of str
        Grouping factors, outermost first (``["la_code", "parent_id:la_code"]``).
    codes : list of ndarray (n,)
        Integer codes of each grouping factor (inner codes are unique across outer
        groups).
    labels : list of ndarray
        Label of each code, per factor.
    n_dropped : int
        Rows dropped because a variable in the model was missing.
    """

    y: np.ndarray
    X: np.ndarray
    terms: list
    response: str
    group_names: list
    codes: list
    labels: list
    n_dropped: int


def _normalise_groups(groups) -> list[str]:
    if isinstance(groups, str):
        groups = [groups]
    groups = list(groups)
    if not 1 <= len(groups) <= 2 or not all(isinstance(g, str) for g in groups):
        raise RpcEvalError(
            "groups must be one column name, e.g. groups='la_code' for (1 | la_code), "
            "or two, outer first, e.g. groups=['la_code', 'parent_id'] for "
            "(1 | la_code/parent_id). For random slopes give one group and "
            "re_formula='~x'; crossed or deeper designs are not supported by fit_lmm.")
    return groups


def build_design(data: pd.DataFrame, formula: str, groups) -> Design:
    """Build the response, fixed-effects matrix and grouping codes.

    Rows with a missing value in any model variable or grouping column are dropped
    (counted in ``n_dropped``, with a :class:`~rpc_eval.errors.DataQualityWarning`), as
    ``lmer(..., na.action = na.omit)`` does; see :func:`complete_rows`.
    """
    import patsy

    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError("data must be a pandas DataFrame in long form (one row per observation).")
    if "|" in formula:
        raise RpcEvalError(
            "Write only the fixed effects in the formula (e.g. 'y ~ wave * arm') and give "
            "the random intercepts with groups=...; for random slopes add "
            "re_formula='~x' (e.g. fit_lmm(d, 'y ~ x', 'la_code', re_formula='~x')).")
    groups = _normalise_groups(groups)
    missing = [g for g in groups if g not in data.columns]
    if missing:
        raise RpcEvalError(f"grouping column(s) {missing} not in the data; columns are "
                           f"{list(data.columns)}.")
    frame, n_dropped = complete_rows(
        data, [*formula_columns(formula, data), *groups], "linear mixed model", stacklevel=4)
    # text columns as pandas categoricals (sorted levels, as R factors): patsy codes
    # these far faster than object/string columns
    text = [c for c in frame.columns if c not in groups
            and (pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c]))
            and not isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if text:
        frame = frame.assign(**{c: pd.Categorical(frame[c]) for c in text})
    try:
        ydf, Xdf = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="drop")
    except patsy.PatsyError as exc:
        raise RpcEvalError(f"could not build the model from formula {formula!r}: {exc}") from exc
    if ydf.shape[1] != 1:
        raise RpcEvalError(f"the formula's left-hand side must be one numeric column; got {list(ydf.columns)}.")
    if len(ydf) < len(frame):  # values patsy reads as missing that pandas does not
        n_dropped += len(frame) - len(ydf)
        warnings.warn(f"{len(frame) - len(ydf):,} more rows have values the formula "
                      "turns into missing values and were left out of the model",
                      DataQualityWarning, stacklevel=4)
    frame = frame.loc[ydf.index]
    codes, labels, names = [], [], []
    outer_codes = None
    for k, g in enumerate(groups):
        col = frame[g].astype(str).to_numpy()
        if k == 0:
            c, lab = pd.factorize(col, sort=True)
            names.append(g)
        else:
            key = pd.Series(col) + ":" + pd.Series(frame[groups[0]].astype(str).to_numpy())
            c, lab = pd.factorize(key.to_numpy(), sort=True)
            names.append(f"{g}:{groups[0]}")
        codes.append(np.asarray(c, dtype=np.intp))
        labels.append(np.asarray(lab, dtype=object))
        outer_codes = c if outer_codes is None else outer_codes
    return Design(y=ydf.to_numpy(dtype=float).ravel(), X=Xdf.to_numpy(dtype=float),
                  terms=term_labels(Xdf.columns), response=str(ydf.columns[0]),
                  group_names=names,
                  codes=codes, labels=labels, n_dropped=n_dropped)
