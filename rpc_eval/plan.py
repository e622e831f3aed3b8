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
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rpc_eval.errors import RpcEvalError

__all__ = ["Plan", "PlanError", "load_plan", "frozen_hashes", "PLAN_SCHEMA", "ENGAGEMENT_ANALYSES",
           "INTERIM_TABLES", "REPORT_KINDS", "VALUE_RANGES", "recorded_notebook_hash"]

REPORT_KINDS = ("interim", "final", "regional")
ENGAGEMENT_ANALYSES = ("funnel", "retention", "cumulative_incidence", "cox", "fine_gray",
                       "session_hazard")
INTERIM_TABLES = ("table_1", "table_2", "table_3", "table_5", "table_6", "table_7")
MIN_THRESHOLD = 5

#: Allowed range (lowest, highest; None: no bound) of numeric settings, by dotted key
#: (list items as ``key[]``). Counts are whole numbers of at least 0 or 1, proportions lie
#: in [0, 1]; the disclosure threshold is checked separately (at least ``MIN_THRESHOLD``).
VALUE_RANGES: dict[str, tuple[float | None, float | None, str]] = {
    "version": (1, None, "a version is 1 or more"),
    "seed": (0, 2**32 - 1, "a seed is a whole number from 0 to 4294967295"),
    "models.outcome_model.bootstrap": (1, 100_000, "the number of bootstrap samples is "
                                                   "from 1 to 100000"),
    "models.completion.n_agq": (1, 50, "the number of quadrature points is from 1 to 50"),
    "attrition.imputations": (1, 1000, "the number of imputations is from 1 to 1000"),
    "satisfaction.target": (0, 1, "the target is a proportion from 0 to 1 (e.g. 0.8 for "
                                   "80%)"),
    "satisfaction.top_box[]": (0, None, "a response value is 0 or more"),
    "disclosure.rounding": (2, None, "rounding is a base of at least 2 (e.g. 5 or 10), or "
                                     "null"),
}

# YAML tags a plan may use (plain scalars, lists and mappings); any other tag, such as
# ``!!python/name:...``, is refused rather than interpreted.
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in
               ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")}


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
        if node.tag not in _PLAIN_TAGS:
            raise self.fail(node, f"the YAML tag {node.tag!r} is not allowed in a plan; "
                            "write the value as plain text, a number, a list or a mapping")
        if isinstance(spec, dict):
            return self.mapping(node, spec, key)
        if isinstance(spec, list):
            if not isinstance(node, yaml.SequenceNode):
                raise self.fail(node, f"{key!r} must be a list")
            return [self.value(n, spec[0], f"{key}[{i}]") for i, n in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            raise self.fail(node, f"{key!r} must be a single value, not a "
                            + ("mapping" if isinstance(node, yaml.MappingNode) else "list"))
        try:
            raw = yaml.safe_load(yaml.serialize(node))
        except yaml.YAMLError as exc:
            raise self.fail(node, f"{key.rsplit('.', 1)[-1]!r} could not be read "
                            f"({getattr(exc, 'problem', None) or exc})") from None
        value = self.scalar(node, raw, spec, key)
        self.check_range(node, value, key)
        return value

    def check_range(self, node: yaml.Node, value: Any, key: str) -> None:
        rule = VALUE_RANGES.get(re.sub(r"\[\d+\]", "[]", key))
        if rule is None or value is None:
            return
        lo, hi, why = rule
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            label = key.rsplit(".", 1)[-1]
            raise self.fail(node, f"{label} {value!r} is out of range: {why}")

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
            if k_node.tag not in _PLAIN_TAGS or not isinstance(k_node, yaml.ScalarNode):
                raise self.fail(k_node, "a plan's keys are plain words; this key is not")
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
        An unreadable or non-UTF-8 file, invalid YAML or YAML tags, unknown or missing
        keys, wrong types, settings out of range (:data:`VALUE_RANGES`), unknown
        instruments, scales, waves or columns, a disclosure threshold below 5, a
        Markdown plan or notebook that is missing or lies outside the plan's folder or
        the ``notebooks/`` folder beside it: the message gives the file and line.

    Examples
    --------
    >>> plan = load_plan("analysis_plans/final_report_v1.yaml")
    >>> plan.name, plan.disclosure["threshold"]
    ('final_report_v1', 10)
    """
    p = Path(path)
    if not p.is_file():
        raise PlanError(f"no analysis plan at {p}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PlanError(f"{p.name}: the plan cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PlanError(f"{p.name} line {line}: the plan is not UTF-8 text (byte "
                        f"0x{raw[exc.start]:02x}); save it as UTF-8 and try again") from None
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
    if node.tag not in _PLAIN_TAGS:
        raise checker.fail(node, f"the YAML tag {node.tag!r} is not allowed in a plan")
    spec = checker.mapping(node, PLAN_SCHEMA, "")
    plan = Plan(p, spec, checker.lines)
    d = spec["disclosure"]
    if d["threshold"] < MIN_THRESHOLD:
        raise PlanError(f"{plan.where('disclosure.threshold')}: the disclosure threshold "
                        f"must be at least {MIN_THRESHOLD}, not {d['threshold']}")
    expected = f"{spec['plan']}_v{spec['version']}"
    if p.stem != expected:
        raise PlanError(f"{p.name}: a plan's file is named <plan>_v<version>.yaml; this one "
                        f"should be {expected}.yaml")
    _check_inside(plan, "analysis_plan", plan.markdown_path, p.resolve().parent,
                  "the plan's folder")
    if not plan.markdown_path.is_file():
        raise PlanError(f"{plan.where('analysis_plan')}: the human-readable plan "
                        f"{plan.markdown_path.name} is missing")
    _check_inside(plan, "notebook", plan.notebook_path, plan.root / "notebooks",
                  "the notebooks/ folder beside the plan's folder")
    if not plan.notebook_path.is_file():
        raise PlanError(f"{plan.where('notebook')}: the notebook {spec['notebook']} is missing")
    return plan


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (links followed) lies inside ``folder``."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _check_inside(plan: Plan, key: str, path: Path, folder: Path, label: str) -> None:
    """A file the plan names must be a relative path inside ``folder``: a plan cannot
    point at (or hash into its manifest) any other file on the machine."""
    named = plan.spec[key]
    if Path(named).is_absolute() or not _inside(path, folder):
        raise PlanError(f"{plan.where(key)}: {key} {named!r} is outside {label} "
                        f"({folder.resolve()}); a plan may name only files there, by a "
                        "relative path")


def recorded_notebook_hash(plan: Plan) -> str | None:
    """The SHA-256 that ``analysis_plans/published.json`` (beside the plan) records for
    the plan's notebook, or None when it records none (or the file is missing)."""
    record = plan.path.resolve().parent / "published.json"
    if not record.is_file():
        return None
    try:
        hashes = json.loads(record.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PlanError(f"{record}: not valid JSON; restore it from the repository"
                        ) from None
    try:
        key = plan.notebook_path.resolve().relative_to(plan.root).as_posix()
    except ValueError:
        return None
    value = hashes.get(key) if isinstance(hashes, dict) else None
    return value if isinstance(value, str) else None


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
