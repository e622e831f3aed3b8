"""The public API speaks one vocabulary (docs/conventions.md).

Walks every public function and method (names in a module's ``__all__``, and the public
methods of public classes) and every public column constant, and fails on a name outside
the vocabulary: a synonym the conventions rule out (``se``, ``std_err``, ``p``,
``maxiter`` ...), ``ci`` used as a switch rather than a level, ``level`` for a
confidence level, a first argument not called ``data`` where it is a table. Then it
runs the fitters and the ``<topic>_analysis`` functions on a small synthetic dataset
and checks the columns and term labels of what they return.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pandas as pd
import pytest

import rpc_eval

#: Parameter names the conventions rule out, with the name to use instead.
FORBIDDEN_PARAMETERS = {
    "level": "ci (a confidence level)",
    "maxit": "max_iter",
    "maxiter": "max_iter",
    "eps": "tol",
    "random_state": "seed",
    "se": "std_error",
}
#: Subpackages whose public functions are internal building blocks of the generator or
#: the command line, not the analysis API (their names follow the generator's
#: parameters, e.g. ``rng``, ``pop``).
NOT_API = ("rpc_eval.synthetic", "rpc_eval.cli")


def _public_modules():
    for info in pkgutil.walk_packages(rpc_eval.__path__, "rpc_eval."):
        if info.name.startswith(NOT_API) or info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _public_callables():
    seen = set()
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isfunction(obj):
                items = [(f"{obj.__module__}.{obj.__qualname__}", obj)]
            elif inspect.isclass(obj):
                items = [(f"{obj.__module__}.{obj.__qualname__}.{k}", v)
                         for k, v in vars(obj).items()
                         if inspect.isfunction(v) and not k.startswith("_")]
            else:
                continue
            for qual, fn in items:
                if qual not in seen:
                    seen.add(qual)
                    yield qual, fn


CALLABLES = sorted(_public_callables())


def test_the_walk_finds_the_api():
    names = {q.rsplit(".", 1)[-1] for q, _ in CALLABLES}
    assert {"fit_cox", "fine_gray", "kaplan_meier", "fit_lmm", "fit_glmm", "random_effects",
            "change_table", "engagement_analysis", "monitoring_analysis"} <= names


@pytest.mark.parametrize("qual,fn", CALLABLES, ids=[q for q, _ in CALLABLES])
def test_parameter_names(qual, fn):
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
    wrong = [f"{p.name} -> {FORBIDDEN_PARAMETERS[p.name]}" for p in params
             if p.name in FORBIDDEN_PARAMETERS]
    for p in params:
        if p.name == "ci" and isinstance(p.default, bool):
            wrong.append("ci is a confidence level; a switch for figures is show_ci")
    first = params[0] if params else None
    if first is not None and first.name in ("df", "frame") and \
            "float" not in str(first.annotation) and "int" not in str(first.annotation):
        wrong.append(f"{first.name} -> data (the first argument)")
    assert not wrong, f"{qual}: " + "; ".join(wrong)


def _column_constants():
    for module in _public_modules():
        for name, value in vars(module).items():
            if name.isupper() and "COLUMN" in name and isinstance(value, (list, tuple)) \
                    and all(isinstance(v, str) for v in value):
                yield f"{module.__name__}.{name}", list(value)


@pytest.mark.parametrize("qual,columns", sorted(_column_constants()))
def test_column_constants(qual, columns, check_conventions):
    check_conventions(pd.DataFrame(columns=columns), qual)


def test_check_table_catches_drift(check_conventions):
    check_table = check_conventions
    bad = pd.DataFrame({"term": ["g=B", "C(intervention)[T.x]"], "se": [1.0, 2.0]})
    with pytest.raises(AssertionError, match="se -> std_error"):
        check_table(bad, "example")
    with pytest.raises(AssertionError, match="g=B"):
        check_table(bad.rename(columns={"se": "std_error"}), "example")
    check_table(pd.DataFrame({"term": ["intervention[T.Triple P]", "age",
                                       "a[T.x]:age"], "std_error": [1, 2, 3]}), "ok")


@pytest.fixture(scope="module")
def small():
    from rpc_eval.synthetic import generate

    data, _ = generate("small", seed=11)
    return data


def _tables_of(result) -> dict[str, pd.DataFrame]:
    if isinstance(result, pd.DataFrame):
        return {"result": result}
    out = {}
    if hasattr(result, "summary"):
        summ = result.summary()
        out.update(getattr(summ, "tables", {}) or {})
    for name, value in vars(result).items() if hasattr(result, "__dict__") else []:
        if isinstance(value, pd.DataFrame) and not name.startswith("_"):
            out[name] = value
    return out


def test_engagement_outputs(small, check_conventions):
    check_table = check_conventions
    from rpc_eval.engagement import engagement_analysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = engagement_analysis(small)
    for name, value in vars(res).items():
        if isinstance(value, pd.DataFrame):
            check_table(value, f"engagement_analysis.{name}")
        elif value is not None and not isinstance(value, (list, str, dict)):
            for tname, table in _tables_of(value).items():
                check_table(table, f"engagement_analysis.{name}.{tname}")
