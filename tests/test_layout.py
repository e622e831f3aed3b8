"""The package is laid out by pipeline stage, and imports only flow forward.

Stages, in order (README, "Layout"): shared infrastructure, questionnaire definitions
and scoring (``instruments``), intake (``data``), shared statistics (``stats``) beside
the synthetic-data generator and analysis plans, the analyses (``engagement``,
``change``, ``multilevel``, ``monitoring``), what builds on several analyses
(``regional``, ``design``), ``report`` and finally the command line (``cli``). A module
may import from its own package or from an earlier stage, never from a later stage or
from another package of the same stage (the analyses stay independent of each other).
Imports inside functions count: they are dependencies all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rpc_eval"

STAGES: dict[str, int] = {
    "__init__": 0, "errors": 0, "_util": 0, "safe_text": 0, "signing": 0, "results": 0,
    "instruments": 1,
    "data": 2,
    "stats": 3, "synthetic": 3, "plan": 3,
    "engagement": 4, "change": 4, "multilevel": 4, "monitoring": 4,
    "regional": 5, "design": 5,
    "report": 6,
    "cli": 7,
}
ANALYSES = ("engagement", "change", "multilevel", "monitoring")


def _unit(parts: tuple[str, ...]) -> str:
    """The stage unit of a module path inside rpc_eval (a subpackage or top-level module)."""
    return parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "rpc_eval" else \
                [f"rpc_eval.{a.name}" for a in node.names]
            out += [(node.lineno, n) for n in names if n.startswith("rpc_eval")]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("rpc_eval")]
    return out


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_has_a_stage():
    units = {_unit(p.relative_to(PACKAGE).parts) for p in _modules()}
    assert units - set(STAGES) == set(), "give each new package or module a stage here"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_forward(path: Path):
    here = _unit(path.relative_to(PACKAGE).parts)
    wrong = []
    for line, name in _imports(path):
        parts = name.split(".")
        if len(parts) == 1:
            continue
        there = parts[1]
        if there == here or there in ("__version__",):
            continue
        if there not in STAGES:
            wrong.append(f"line {line}: {name} is not a part of the package")
        elif STAGES[there] > STAGES[here]:
            wrong.append(f"line {line}: {here} (stage {STAGES[here]}) imports {name} "
                         f"from a later stage ({STAGES[there]})")
        elif STAGES[there] == STAGES[here] and STAGES[here] > 0:
            wrong.append(f"line {line}: {here} imports {name} from another package of "
                         "the same stage")
    assert not wrong, "\n".join(wrong)


def test_each_analysis_package_has_its_analysis_function():
    import importlib

    for name in ANALYSES:
        module = importlib.import_module(f"rpc_eval.{name}.analysis")
        assert hasattr(module, f"{name}_analysis"), f"rpc_eval/{name}/analysis.py"


def test_the_layout_test_catches_a_backward_import(tmp_path):
    """The checker itself: a stats module importing an analysis is caught."""
    fake = tmp_path / "bad.py"
    fake.write_text("def f():\n    from rpc_eval.engagement import funnel\n")
    names = [n for _, n in _imports(fake)]
    assert names == ["rpc_eval.engagement"]
    assert STAGES[names[0].split(".")[1]] > STAGES["stats"]
