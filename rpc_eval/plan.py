"""Analysis plans: the machine-readable half of a statistical analysis plan.

A plan is a YAML file in ``analysis_plans/`` (with its human-readable Markdown beside
it). It names the report it drives, its notebook, the data, the population, the
primary and secondary outcomes, the waves, the models, covariates, subgroups, the
engagement analyses, the satisfaction, training and planning-tool tables and the
disclosure rules. :func:`load_plan` reads and checks it; every mistake is reported
with the file and line, e.g. ``final_report_v1.yaml line 14: unknown key 'outcome'
in 'models' (allowed: completion, outcome_model)``.

The structure is declared once, in :data:`PLAN_SCHEMA`; ``docs`` of the plans repeat
it in prose. Instruments and scales are checked against the instrument registry,
waves against the wave codebook, covariates and subgroups against the data model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rpc_eval.errors import RpcEvalError

__all__ = ["Plan", "PlanError", "load_plan", "frozen_hashes", "PLAN_SCHEMA", "ENGAGEMENT_ANALYSES",
           "INTERIM_TABLES", "REPORT_KINDS"]

REPORT_KINDS = ("interim", "final", "regional")
ENGAGEMENT_ANALYSES = ("funnel", "retention", "cumulative_incidence", "cox", "fine_gray",
                       "session_hazard")
INTERIM_TABLES = ("table_1", "table_2", "table_3", "table_5", "table_6", "table_7")
MIN_THRESHOLD = 5


class PlanError(RpcEvalError):
    """An analysis plan is malformed; the message names the file and line."""


# --- the plan's structure ------------------------------------------------------------
# A node is a type ("str", "int", "float", "bool"), a list of a node ("[str]"), a tuple
# ("choice", options) or a dict of key -> (node, required). "outcome" is an
# {instrument, scale} mapping.

_OUTCOME = {"instrument": ("str", True), "scale": ("str", False)}
PLAN_SCHEMA: dict[str, tuple[Any, bool]] = {
    "plan": ("str", True),
    "version": ("int", True),
    "title": ("str", True),
    "report": (("choice", REPORT_KINDS), True),
    "status": (("choice", ("draft", "published")), True),
    "notebook": ("str", True),
    "analysis_plan": ("str", True),
    "description": ("str", False),
    "seed": ("int", True),
    "data": ({"path": ("str", True),
              "kind": (("choice", ("evaluation", "case_studies")), False)}, True),
    "population": ({"description": ("str", True),
                    "interventions": (["str"], False),
                    "started_only": ("bool", False)}, False),
    "waves": ({"pre": ("wave", True), "post": ("wave", True),
               "followup": (["wave"], False)}, False),
    "outcomes": ({"primary": ([_OUTCOME], True), "secondary": ([_OUTCOME], False),
                  "change_scales": (("choice", ("primary", "all")), False)}, False),
    "models": ({"outcome_model": ({**_OUTCOME, "design": (("choice", ("ancova",)), True),
                                   "group": ("parents_column", True),
                                   "bootstrap": ("int", False)}, False),
                "completion": ({"group": ("parents_column", True),
                                "n_agq": ("int", False)}, False)}, False),
    "covariates": (["parents_column"], False),
    "subgroups": (["parents_column"], False),
    "engagement": ({"group": ("str", True), "reference": ("str", False),
                    "cluster": ("parents_column", False),
                    "analyses": ([("choice", ENGAGEMENT_ANALYSES)], True)}, False),
    "attrition": ({"imputations": ("int", False)}, False),
    "satisfaction": ({"instrument": ("instrument", True), "target": ("float", True),
                      "top_box": (["int"], True)}, False),
    "training": ({"include": ("bool", True)}, False),
    "planning_tool": ({"include": ("bool", True)}, False),
    "interim_tables": ([("choice", INTERIM_TABLES)], False),
    "pooling": ({"method": (("choice", ("REML", "DL")), True), "knha": ("bool", True),
                 "outcomes": ([_OUTCOME], True)}, False),
    "disclosure": ({"threshold": ("int", True), "rounding": ("int_or_null", False),
                    "organisational_tables": (["str"], False)}, True),
}


@dataclass(frozen=True)
class Plan:
    """A checked analysis plan.

    Attributes
    ----------
    path : Path
        The YAML file.
    spec : dict
        The plan's settings as plain Python values (keys as in :data:`PLAN_SCHEMA`).
    lines : dict
        Dotted key -> line number in the file (for messages), e.g. ``"disclosure.threshold"``.
    """

    path: Path
    spec: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.spec[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    @property
    def name(self) -> str:
        """``<plan>_v<version>``, e.g. ``final_report_v1``: names the report's outputs."""
        return f"{self.spec['plan']}_v{self.spec['version']}"

    @property
    def root(self) -> Path:
        """The folder paths in the plan are relative to: the repository (the plan
        folder's parent)."""
        return self.path.resolve().parent.parent

    def resolve(self, relative: str) -> Path:
        """A path named in the plan, made absolute (relative to :attr:`root`)."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def notebook_path(self) -> Path:
        return self.resolve(self.spec["notebook"])

    @property
    def markdown_path(self) -> Path:
        return self.path.parent / self.spec["analysis_plan"]

    @property
    def data_path(self) -> Path:
        return self.resolve(self.spec["data"]["path"])

    @property
    def disclosure(self) -> dict[str, Any]:
        """``threshold``, ``rounding`` (None) and ``organisational_tables`` (list)."""
        d = self.spec["disclosure"]
        return {"threshold": d["threshold"], "rounding": d.get("rounding"),
                "organisational_tables": list(d.get("organisational_tables", []))}

    def sha256(self) -> str:
        """SHA-256 of the plan file's bytes."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def where(self, key: str) -> str:
        """``file line N`` for a dotted key (for messages)."""
        line = self.lines.get(key)
        return f"{self.path.name}" + (f" line {line}" if line else "")

    def check_tables(self, produced: Iterable[str]) -> None:
        """Every table the plan marks as organisational must exist in ``produced``."""
        names = set(produced)
        for t in self.disclosure["organisational_tables"]:
            if t not in names:
                raise PlanError(f"{self.where('disclosure.organisational_tables')}: "
                                f"organisational table {t!r} is not a table of this report "
                                f"(tables: {', '.join(sorted(names))})")


class _Checker:
    def __init__(self, path: Path, registry, waves: set[str], parent_columns: set[str]):
        self.path, self.registry = path, registry
        self.waves, self.parent_columns = waves, parent_columns
        self.lines: dict[str, int] = {}

    def fail(self, node: yaml.Node, message: str) -> PlanError:
        return PlanError(f"{self.path.name} line {node.start_mark.line + 1}: {message}")

    def value(self, node: yaml.Node, spec: Any, key: str) -> Any:
        self.lines[key] = node.start_mark.line + 1
        if isinstance(spec, dict):
            return self.mapping(node, spec, key)
        if isinstance(spec, list):
            if not isinstance(node, yaml.SequenceNode):
                raise self.fail(node, f"{key!r} must be a list")
            return [self.value(n, spec[0], f"{key}[{i}]") for i, n in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            raise self.fail(node, f"{key!r} must be a single value, not a "
                            + ("mapping" if isinstance(node, yaml.MappingNode) else "list"))
        raw = yaml.safe_load(yaml.serialize(node))
        return self.scalar(node, raw, spec, key)

    def scalar(self, node: yaml.Node, raw: Any, spec: Any, key: str) -> Any:
        label = key.rsplit(".", 1)[-1]
        if isinstance(spec, tuple):
            if raw not in spec[1]:
                raise self.fail(node, f"{label} {raw!r} is not one of: {', '.join(spec[1])}")
            return raw
        if spec in ("str", "wave", "parents_column", "instrument"):
            if not isinstance(raw, str) or not raw.strip():
                raise self.fail(node, f"{label} must be text, not {raw!r}")
            if spec == "wave" and raw not in self.waves:
                raise self.fail(node, f"unknown wave {raw!r} (waves: "
                                f"{', '.join(sorted(self.waves))})")
            if spec == "parents_column" and raw not in self.parent_columns:
                raise self.fail(node, f"{raw!r} is not a column of the parents table "
                                f"(columns: {', '.join(sorted(self.parent_columns))})")
            if spec == "instrument":
                self.instrument(node, raw)
            return raw
        if spec in ("int", "int_or_null"):
            if raw is None and spec == "int_or_null":
                return None
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise self.fail(node, f"{label} must be a whole number, not {raw!r}")
            return raw
        if spec == "float":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise self.fail(node, f"{label} must be a number, not {raw!r}")
            return float(raw)
        if spec == "bool":
            if not isinstance(raw, bool):
                raise self.fail(node, f"{label} must be true or false, not {raw!r}")
            return raw
        raise AssertionError(spec)  # pragma: no cover - a mistake in PLAN_SCHEMA

    def instrument(self, node: yaml.Node, name: str):
        try:
            return self.registry.get(name)
        except RpcEvalError:
            raise self.fail(node, f"unknown instrument {name!r} (instruments: "
                            f"{', '.join(self.registry.available())})") from None

    def mapping(self, node: yaml.Node, spec: dict, key: str) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{key or 'the plan'!r} must be a mapping of settings")
        out: dict[str, Any] = {}
        for k_node, v_node in node.value:
            k = k_node.value
            where = f"{key}.{k}" if key else k
            if k not in spec:
                raise self.fail(k_node, f"unknown key {k!r}"
                                + (f" in {key!r}" if key else "")
                                + f" (allowed: {', '.join(sorted(spec))})")
            if k in out:
                raise self.fail(k_node, f"key {k!r} appears twice")
            out[k] = self.value(v_node, spec[k][0], where)
        missing = [k for k, (_, req) in spec.items() if req and k not in out]
        if missing:
            raise self.fail(node, f"{'the plan' if not key else repr(key)} is missing "
                            f"required key(s): {', '.join(missing)}")
        if set(spec) == set(_OUTCOME) or ("instrument" in spec and "scale" in spec):
            inst = self.instrument(node, out["instrument"])
            if "scale" in out and out["scale"] not in inst.scale_names:
                raise self.fail(node, f"instrument {inst.name!r} has no scale "
                                f"{out['scale']!r} (scales: {', '.join(inst.scale_names)})")
            out.setdefault("scale", inst.primary_scale)
        return out


def _default_context(registry):
    from rpc_eval.data.codebooks import load_codebooks
    from rpc_eval.data.model import schema
    from rpc_eval.instruments import default_registry

    reg = registry if registry is not None else default_registry()
    waves = set(load_codebooks()["waves"].codes)
    columns = set(schema()["parents"]["columns"])
    return reg, waves, columns


def load_plan(path: str | Path, *, registry=None) -> Plan:
    """Read and check an analysis plan.

    Parameters
    ----------
    path : str or Path
        The plan's YAML file.
    registry : Registry, optional
        Instruments the plan may name (default: the package's registry).

    Returns
    -------
    Plan

    Raises
    ------
    PlanError
        Unreadable YAML, unknown or missing keys, wrong types, unknown instruments,
        scales, waves or columns, a disclosure threshold below 5, a published plan
        whose Markdown is missing: the message gives the file and line.

    Examples
    --------
    >>> plan = load_plan("analysis_plans/final_report_v1.yaml")
    >>> plan.name, plan.disclosure["threshold"]
    ('final_report_v1', 10)
    """
    p = Path(path)
    if not p.is_file():
        raise PlanError(f"no analysis plan at {p}")
    text = p.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise PlanError(f"{p.name}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"
                        ) from None
    if node is None:
        raise PlanError(f"{p.name}: the plan is empty")
    checker = _Checker(p, *_default_context(registry))
    spec = checker.mapping(node, PLAN_SCHEMA, "")
    plan = Plan(p, spec, checker.lines)
    d = spec["disclosure"]
    if d["threshold"] < MIN_THRESHOLD:
        raise PlanError(f"{plan.where('disclosure.threshold')}: the disclosure threshold "
                        f"must be at least {MIN_THRESHOLD}, not {d['threshold']}")
    if d.get("rounding") is not None and d["rounding"] < 2:
        raise PlanError(f"{plan.where('disclosure.rounding')}: rounding must be a base of "
                        "at least 2 (e.g. 5 or 10), or null")
    if spec["version"] < 1:
        raise PlanError(f"{plan.where('version')}: version must be 1 or more")
    expected = f"{spec['plan']}_v{spec['version']}"
    if p.stem != expected:
        raise PlanError(f"{p.name}: a plan's file is named <plan>_v<version>.yaml; this one "
                        f"should be {expected}.yaml")
    if not plan.markdown_path.is_file():
        raise PlanError(f"{plan.where('analysis_plan')}: the human-readable plan "
                        f"{plan.markdown_path.name} is missing")
    if not plan.notebook_path.is_file():
        raise PlanError(f"{plan.where('notebook')}: the notebook {spec['notebook']} is missing")
    return plan


def plan_summary(plan: Plan) -> Mapping[str, Any]:
    """The settings two plans must share for their results to be pooled."""
    keep = ("plan", "version", "waves", "outcomes", "pooling", "disclosure")
    return {k: plan.spec[k] for k in keep if k in plan.spec}


def published_files(plan: Plan) -> list[Path]:
    """The files that make up a published report version: the plan (YAML), its
    Markdown and its notebook."""
    return [plan.path, plan.markdown_path, plan.notebook_path]


def frozen_hashes(plans_dir: str | Path) -> dict[str, str]:
    """SHA-256 of the files of every published plan in ``plans_dir`` (paths relative
    to the repository), as recorded in ``analysis_plans/published.json``: a published
    version is frozen, and a test checks its files still have these hashes."""
    out: dict[str, str] = {}
    for path in sorted(Path(plans_dir).glob("*.yaml")):
        plan = load_plan(path)
        if plan["status"] != "published":
            continue
        for f in published_files(plan):
            out[str(f.resolve().relative_to(plan.root))] = hashlib.sha256(
                f.read_bytes()).hexdigest()
    return out
