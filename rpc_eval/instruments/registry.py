"""Questionnaire definitions, kept as data (one YAML file per instrument).

A definition file says, for one instrument: its item ids in the official form's order,
the valid response codes, how codes become item scores (reverse keying, recoding),
its scales (which items, how they are combined, how many may be missing), bands and
cut-offs, and published reliability and norms, each with its source and whether that
source was verified. No item wording is shipped.

The package's own definitions live in ``rpc_eval/instruments/definitions/``. A region
adds its own questionnaire by writing a new file in the same format in a folder of its
own and passing that folder (``Registry(extra_dirs=[...])``, or an ``instruments/``
folder beside the data files, which :func:`rpc_eval.data.load` picks up). See
``docs/instruments.md`` for the format.

Uncertain published values can be changed in two ways (both documented in
``docs/instruments.md``):

* a whole definition: a file in an extra folder whose ``name`` matches a package
  definition replaces it (:attr:`Registry.replaced` records which);
* single values, in code: :meth:`Instrument.with_overrides` (or
  :meth:`Registry.with_overrides`) takes dotted paths such as
  ``{"scales.total.clinical_cutoff.value": 13}`` and returns a re-validated copy that
  records what was changed in :attr:`Instrument.overrides`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from rpc_eval.errors import RpcEvalError

__all__ = ["Instrument", "Scale", "Registry", "InstrumentDefinitionError", "DEFINITIONS_DIR"]

DEFINITIONS_DIR = Path(__file__).parent / "definitions"

_TOP_KEYS = {
    "name", "title", "construct", "respondent", "about", "direction", "licence", "source",
    "responses", "items", "item_responses", "recode", "scales", "notes", "kind",
    "primary_scale",
}
_SCALE_KEYS = {
    "name", "items", "reverse", "method", "from_scales", "prorate", "missing_as_zero",
    "range", "bands", "reliability", "norms", "clinical_cutoff", "conversion", "gate",
    "description", "direction",
}
_RESPONSE_KEYS = {"min", "max", "labels", "integer"}
_RECODE_KEYS = {"items", "map", "source", "verified", "note"}
_PRORATE_KEYS = {"min_answered", "rounding", "source", "verified", "note"}
_MISSING_AS_ZERO_KEYS = {"min_answered", "source", "verified", "note"}
_BAND_SCHEME_KEYS = {"cuts", "source", "verified", "note"}
_CUT_KEYS = {"label", "min", "max"}
_RELIABILITY_KEYS = {
    "alpha", "retest", "reliable_change", "reliable_change_confidence", "sample",
    "source", "verified", "note",
}
_NORM_KEYS = {"mean", "sd", "n", "group", "groups", "population", "source", "verified", "note"}
_NORM_GROUP_KEYS = {"group", "mean", "sd", "n", "note"}
_CUTOFF_KEYS = {"value", "caseness", "source", "verified", "note"}
_CONVERSION_KEYS = {"table", "source", "verified", "note"}
_GATE_KEYS = {"item", "values", "score", "source", "verified", "note"}

_DIRECTIONS = {"higher_is_worse", "higher_is_better"}
_METHODS = {"sum", "mean", "sum_of_scales"}
_KINDS = {"published", "local"}
_ROUNDING = {"none", "half_up"}
_CASENESS = {"at_or_above", "above", "at_or_below", "below"}


class InstrumentDefinitionError(RpcEvalError):
    """A questionnaire definition file is malformed. The message names the file and key."""


@dataclass(frozen=True)
class Scale:
    """One scored scale of an instrument (a subscale, a total or a composite).

    ``method`` is ``sum`` (sum of item scores, prorated per ``prorate``), ``mean``
    (mean of answered item scores) or ``sum_of_scales`` (sum of the scales named in
    ``from_scales``; missing if any of them is missing).

    Attributes
    ----------
    name : str
    items : tuple of str
        Items of the scale (empty for ``sum_of_scales``).
    reverse : tuple of str
        Items reverse-keyed in this scale: item score = min + max - code.
    method : str
    from_scales : tuple of str
    min_answered : int or None
        Fewest answered items for a score (``None`` for ``sum_of_scales``).
    range : (float, float) or None
        Lowest and highest possible score (checked against the items when loading).
    spec : dict
        The scale's block of the definition file (bands, reliability, norms, ...).
    """

    name: str
    items: tuple[str, ...]
    reverse: tuple[str, ...] = ()
    method: str = "sum"
    from_scales: tuple[str, ...] = ()
    min_answered: int | None = None
    range: tuple[float, float] | None = None
    spec: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def direction(self) -> str | None:
        """The scale's own direction when it differs from the instrument's (e.g. SDQ
        prosocial), else ``None``."""
        return self.spec.get("direction")

    @property
    def bands(self) -> dict[str, dict[str, Any]]:
        """Band schemes by name, default scheme first (a single unnamed scheme is
        called ``bands``)."""
        raw = self.spec.get("bands")
        if not raw:
            return {}
        if "cuts" in raw:
            return {"bands": raw}
        return dict(raw)

    @property
    def missing_as_zero(self) -> bool:
        """True when unanswered items count as 0 (no prorating)."""
        return bool(self.spec.get("missing_as_zero"))

    @property
    def rounding(self) -> str:
        """``half_up`` (prorated sums rounded to a whole number, halves up) or ``none``."""
        return str((self.spec.get("prorate") or {}).get("rounding", "none"))

    @property
    def conversion(self) -> dict[int, float]:
        """Raw score -> reported score lookup table (empty when there is none)."""
        conv = self.spec.get("conversion") or {}
        return {int(k): float(v) for k, v in (conv.get("table") or {}).items()}

    @property
    def gate(self) -> dict[str, Any] | None:
        """``{"item", "values", "score"}``: when ``item`` takes one of ``values`` the
        scale scores ``score`` whatever its items say; ``None`` when there is no gate."""
        gate = self.spec.get("gate")
        if not gate:
            return None
        return {
            "item": str(gate["item"]),
            "values": [float(v) for v in gate["values"]],
            "score": float(gate["score"]),
        }

    @property
    def reliability(self) -> dict[str, Any] | None:
        """Published reliability (``alpha``, ``retest``, ``source``, ``verified`` ...)."""
        rel = self.spec.get("reliability")
        return dict(rel) if rel else None

    @property
    def norms(self) -> list[dict[str, Any]]:
        """Published norms, one dict per group: ``group, population, n, mean, sd,
        source, verified, note`` (missing values are ``None``)."""
        raw = self.spec.get("norms")
        if not raw:
            return []
        shared = {k: raw.get(k) for k in ("population", "source", "verified", "note")}
        groups = raw.get("groups") or [
            {k: raw.get(k) for k in ("group", "mean", "sd", "n")}
        ]
        out = []
        for g in groups:
            row = {"group": g.get("group", "all"), "population": shared["population"],
                   "n": g.get("n"), "mean": g.get("mean"), "sd": g.get("sd"),
                   "source": shared["source"], "verified": shared["verified"],
                   "note": g.get("note") or shared["note"]}
            out.append(row)
        return out

    @property
    def clinical_cutoff(self) -> dict[str, Any] | None:
        """``value, caseness, source, verified`` or ``None``."""
        cut = self.spec.get("clinical_cutoff")
        return dict(cut) if cut else None


@dataclass(frozen=True)
class Instrument:
    """A questionnaire definition. Build with :meth:`Registry.get`.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"sdq_parent_4_17"``.
    items : tuple of str
        Item ids in the official form's order.
    item_min, item_max : dict
        Valid raw response codes of each item (inclusive).
    scales : tuple of Scale
    direction : str
        ``higher_is_worse`` or ``higher_is_better``.
    spec : dict
        The whole parsed definition (sources, licence, notes...).
    overrides : tuple
        ``(path, old value, new value)`` for each value changed by
        :meth:`with_overrides`; empty for a definition as published.
    """

    name: str
    title: str
    items: tuple[str, ...]
    item_min: Mapping[str, float]
    item_max: Mapping[str, float]
    scales: tuple[Scale, ...]
    direction: str
    path: Path | None = None
    spec: Mapping[str, Any] = field(default_factory=dict, repr=False)
    overrides: tuple[tuple[str, Any, Any], ...] = ()

    def scale(self, name: str) -> Scale:
        """The scale called ``name``."""
        for s in self.scales:
            if s.name == name:
                return s
        raise RpcEvalError(
            f"instrument {self.name!r} has no scale {name!r}; its scales are "
            + ", ".join(s.name for s in self.scales)
        )

    @property
    def scale_names(self) -> tuple[str, ...]:
        """Names of the scales, in definition order."""
        return tuple(s.name for s in self.scales)

    @property
    def primary_scale(self) -> str:
        """The headline scale (``primary_scale`` in the file; else ``total`` if there
        is one; else the first scale)."""
        if "primary_scale" in self.spec:
            return str(self.spec["primary_scale"])
        return "total" if "total" in self.scale_names else self.scales[0].name

    def valid_range(self, item: str) -> tuple[float, float]:
        """Lowest and highest valid raw response code of ``item``."""
        return self.item_min[item], self.item_max[item]

    def item_integer(self, item: str) -> bool:
        """True when ``item`` only takes whole-number codes (the default)."""
        resp = {**self.spec["responses"], **(self.spec.get("item_responses") or {}).get(item, {})}
        return bool(resp.get("integer", True))

    def recode_map(self, item: str) -> dict[int, float | None] | None:
        """Code -> item score for a recoded item (``None`` score = not answered), or
        ``None`` when the item is scored as coded."""
        for block in self.spec.get("recode") or ():
            if item in block["items"]:
                return {int(k): (None if v is None else float(v)) for k, v in block["map"].items()}
        return None

    def with_overrides(self, overrides: Mapping[str, Any]) -> Instrument:
        """A re-validated copy with some values of the definition replaced.

        Parameters
        ----------
        overrides : mapping
            Dotted path -> new value. A path walks the definition as written in the
            file; in a list (scales, band cuts, norm groups) a segment picks the entry
            whose ``name``, ``label`` or ``group`` matches, or a 0-based position.
            Missing mappings on the way are created.

        Returns
        -------
        Instrument
            The new definition; :attr:`overrides` lists ``(path, old, new)`` and a note
            is added to ``notes``.

        Examples
        --------
        >>> csi = Registry().get("csi4")
        >>> strict = csi.with_overrides({"scales.total.clinical_cutoff.value": 13})
        >>> strict.scale("total").clinical_cutoff["value"], strict.overrides[0][0]
        (13, 'scales.total.clinical_cutoff.value')
        """
        spec = _fresh_copy(dict(self.spec))
        done = []
        for dotted, value in overrides.items():
            old = _set_path(spec, str(dotted), value, self.path)
            done.append((str(dotted), old, value))
        notes = spec.get("notes") or []
        if isinstance(notes, str):
            notes = [notes]
        notes = list(notes) + [f"override: {p} changed from {o!r} to {n!r}" for p, o, n in done]
        spec["notes"] = notes
        inst = _build(spec, self.path or Path(f"<{self.name}>"))
        return Instrument(
            name=inst.name, title=inst.title, items=inst.items, item_min=inst.item_min,
            item_max=inst.item_max, scales=inst.scales, direction=inst.direction,
            path=inst.path, spec=inst.spec, overrides=self.overrides + tuple(done),
        )

    def __repr__(self) -> str:
        extra = f", {len(self.overrides)} override(s)" if self.overrides else ""
        return (
            f"Instrument({self.name!r}, {len(self.items)} items, "
            f"scales={[s.name for s in self.scales]}{extra})"
        )


def _fresh_copy(obj: Any) -> Any:
    """Deep copy of parsed YAML that does not keep YAML anchors shared, so an override
    of one scale's block never changes another scale that reused it with an alias."""
    if isinstance(obj, dict):
        return {k: _fresh_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fresh_copy(v) for v in obj]
    return obj


def _fail(path: Path, message: str) -> InstrumentDefinitionError:
    return InstrumentDefinitionError(f"{path}: {message}")


def _set_path(spec: dict, dotted: str, value: Any, path: Path | None) -> Any:
    """Set ``dotted`` in ``spec``; return the old value (``None`` if there was none)."""
    where = path or Path("<definition>")
    parts = dotted.split(".")
    node: Any = spec
    for depth, seg in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            idx = None
            if seg.isdigit() and int(seg) < len(node):
                idx = int(seg)
            else:
                for i, entry in enumerate(node):
                    if isinstance(entry, dict) and seg in (
                        str(entry.get("name")), str(entry.get("label")), str(entry.get("group"))
                    ):
                        idx = i
                        break
            if idx is None:
                raise _fail(where, f"override {dotted!r}: no entry {seg!r} in the list")
            if last:
                old = node[idx]
                node[idx] = value
                return old
            node = node[idx]
        elif isinstance(node, dict):
            # YAML may have read numeric keys (conversion tables, labels) as numbers
            key: Any = seg
            if seg not in node and seg.lstrip("-").isdigit() and int(seg) in node:
                key = int(seg)
            if last:
                old = node.get(key)
                node[key] = value
                return old
            if key not in node or node[key] is None:
                node[key] = {}
            node = node[key]
        else:
            raise _fail(where, f"override {dotted!r}: {'.'.join(parts[:depth])!r} is a value, "
                               "not a mapping or list")
    raise _fail(where, f"override {dotted!r}: empty path")  # pragma: no cover


def _number(path: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, f"{where} must be a number, not {value!r}")
    if math.isnan(float(value)):
        raise _fail(path, f"{where} must be a number, not NaN")
    return float(value)


def _keys(path: Path, where: str, block: Any, allowed: set[str]) -> dict:
    if not isinstance(block, dict):
        raise _fail(path, f"{where} must be a mapping with keys {sorted(allowed)}")
    unknown = set(map(str, block)) - allowed
    if unknown:
        raise _fail(path, f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return block


def _provenance(path: Path, where: str, block: dict) -> None:
    """Published values carry a ``source`` (text) and ``verified`` (true/false)."""
    if not str(block.get("source") or "").strip():
        raise _fail(path, f"{where} needs a 'source' (where the values come from)")
    if not isinstance(block.get("verified"), bool):
        raise _fail(path, f"{where} needs 'verified: true' or 'verified: false' "
                          "(was the value checked against its source?)")


def _check_min_answered(path: Path, where: str, value: Any, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= n:
        raise _fail(path, f"{where}.min_answered must be a whole number 1..{n}, not {value!r}")
    return int(value)


def _parse(path: Path) -> Instrument:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot be read as YAML ({exc})") from None
    return _build(spec, path)


def _build(spec: Any, path: Path) -> Instrument:
    """Validate a parsed definition and build the :class:`Instrument`."""
    if not isinstance(spec, dict):
        raise _fail(path, "must be a mapping with keys name, items, scales ...")
    unknown = set(map(str, spec)) - _TOP_KEYS
    if unknown:
        raise _fail(path, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("name", "items", "scales", "responses"):
        if key not in spec:
            raise _fail(path, f"missing required key '{key}'")
    name = str(spec["name"])
    if not name.replace("_", "").isalnum():
        raise _fail(path, f"name {name!r} must be letters, digits and underscores")
    if not isinstance(spec["items"], list) or not spec["items"]:
        raise _fail(path, "items must be a non-empty list of item ids")
    items = tuple(str(i) for i in spec["items"])
    if len(set(items)) != len(items):
        raise _fail(path, "item ids must be unique")
    direction = spec.get("direction", "higher_is_worse")
    if direction not in _DIRECTIONS:
        raise _fail(path, f"direction must be one of {sorted(_DIRECTIONS)}, not {direction!r}")
    kind = spec.get("kind", "published")
    if kind not in _KINDS:
        raise _fail(path, f"kind must be one of {sorted(_KINDS)}, not {kind!r}")
    notes = spec.get("notes")
    if notes is not None and not isinstance(notes, (str, list)):
        raise _fail(path, "notes must be text or a list of texts")
    for key in ("title", "construct", "respondent", "about", "licence", "source"):
        if key in spec and not isinstance(spec[key], str):
            raise _fail(path, f"{key} must be text")

    # ---- responses: valid codes per item --------------------------------------------
    default = _keys(path, "responses", spec["responses"], _RESPONSE_KEYS)
    per_item = spec.get("item_responses") or {}
    if not isinstance(per_item, dict):
        raise _fail(path, "item_responses must map item ids to {min, max, labels}")
    for item, block in per_item.items():
        if item not in items:
            raise _fail(path, f"item_responses names unknown item {item!r}")
        _keys(path, f"item_responses.{item}", block, _RESPONSE_KEYS)
    item_min, item_max, integer = {}, {}, {}
    for item in items:
        resp = {**default, **per_item.get(item, {})}
        if "min" not in resp or "max" not in resp:
            raise _fail(path, f"responses for item {item!r} need min and max")
        lo = _number(path, f"responses.min of item {item!r}", resp["min"])
        hi = _number(path, f"responses.max of item {item!r}", resp["max"])
        if lo > hi:
            raise _fail(path, f"item {item!r}: min {lo:g} is above max {hi:g}")
        if "integer" in resp and not isinstance(resp["integer"], bool):
            raise _fail(path, f"responses.integer of item {item!r} must be true or false")
        item_min[item], item_max[item] = lo, hi
        integer[item] = bool(resp.get("integer", True))

    # ---- recode: code -> item score ---------------------------------------------------
    score_lo = dict(item_min)  # item score range after recoding
    score_hi = dict(item_max)
    recode = spec.get("recode") or []
    if not isinstance(recode, list):
        raise _fail(path, "recode must be a list of {items, map} blocks")
    recoded: set[str] = set()
    for n_block, block in enumerate(recode, start=1):
        where = f"recode block {n_block}"
        _keys(path, where, block, _RECODE_KEYS)
        if "items" not in block or "map" not in block:
            raise _fail(path, f"{where} needs 'items' and 'map'")
        mapping = block["map"]
        if not isinstance(mapping, dict) or not mapping:
            raise _fail(path, f"{where}: map must be a mapping code -> item score")
        for item in block["items"]:
            if item not in items:
                raise _fail(path, f"{where} names unknown item {item!r}")
            if item in recoded:
                raise _fail(path, f"{where}: item {item!r} is recoded twice")
            if not integer[item]:
                raise _fail(path, f"{where}: item {item!r} must have whole-number codes")
            recoded.add(item)
            codes = set(range(int(item_min[item]), int(item_max[item]) + 1))
            keys = set()
            for k in mapping:
                if isinstance(k, bool) or not isinstance(k, int):
                    raise _fail(path, f"{where}: map keys must be whole-number codes, not {k!r}")
                keys.add(k)
            if keys != codes:
                raise _fail(path, f"{where}: map must give a score for every valid code of "
                                  f"{item!r} ({sorted(codes)}); it has {sorted(keys)}")
            values = [_number(path, f"{where} map value", v) for v in mapping.values()
                      if v is not None]
            if not values:
                raise _fail(path, f"{where}: map gives no scores")
            score_lo[item], score_hi[item] = min(values), max(values)

    # ---- scales -----------------------------------------------------------------------
    if not isinstance(spec["scales"], list) or not spec["scales"]:
        raise _fail(path, "scales must be a non-empty list")
    scales: list[Scale] = []
    seen: dict[str, Scale] = {}
    ranges: dict[str, tuple[float, float]] = {}
    default_scheme: str | None = None
    for raw in spec["scales"]:
        if not isinstance(raw, dict) or "name" not in raw:
            raise _fail(path, "each scale needs a name")
        sname = str(raw["name"])
        if sname in seen:
            raise _fail(path, f"scale names must be unique ({sname!r} is repeated)")
        unknown = set(map(str, raw)) - _SCALE_KEYS
        if unknown:
            raise _fail(path, f"scale {sname!r}: unknown key(s) {sorted(unknown)}; "
                              f"allowed: {sorted(_SCALE_KEYS)}")
        if raw.get("direction", "higher_is_worse") not in _DIRECTIONS:
            raise _fail(path, f"scale {sname!r}: direction must be one of {sorted(_DIRECTIONS)}")
        method = raw.get("method", "sum")
        if method not in _METHODS:
            raise _fail(path, f"scale {sname!r}: method must be one of {sorted(_METHODS)}, "
                              f"not {method!r}")
        s_items = tuple(str(i) for i in raw.get("items") or ())
        from_scales = tuple(str(s) for s in raw.get("from_scales") or ())
        reverse = tuple(str(i) for i in raw.get("reverse") or ())
        min_answered: int | None = None
        if method == "sum_of_scales":
            missing = [s for s in from_scales if s not in seen]
            if not from_scales or missing:
                raise _fail(
                    path, f"scale {sname!r}: from_scales must name scales defined above it "
                    f"(unknown: {missing})"
                )
            for key in ("items", "reverse", "prorate", "missing_as_zero", "gate", "conversion"):
                if raw.get(key):
                    raise _fail(path, f"scale {sname!r}: '{key}' does not apply to "
                                      "method sum_of_scales")
            lo = sum(ranges[s][0] for s in from_scales)
            hi = sum(ranges[s][1] for s in from_scales)
        else:
            if from_scales:
                raise _fail(path, f"scale {sname!r}: from_scales needs method sum_of_scales")
            bad = [i for i in s_items if i not in items]
            if not s_items or bad:
                raise _fail(path, f"scale {sname!r}: items must be items of the instrument "
                                  f"(not in items: {bad})" if bad else
                                  f"scale {sname!r}: needs a list of items")
            if len(set(s_items)) != len(s_items):
                raise _fail(path, f"scale {sname!r}: an item is listed twice")
            bad = [i for i in reverse if i not in s_items]
            if bad:
                raise _fail(path, f"scale {sname!r}: reverse items {bad} are not in the scale")
            both = [i for i in reverse if i in recoded]
            if both:
                raise _fail(path, f"scale {sname!r}: items {both} are both recoded and "
                                  "reversed; put the reversal in the recode map instead")
            prorate = raw.get("prorate")
            maz = raw.get("missing_as_zero")
            if prorate and maz:
                raise _fail(path, f"scale {sname!r}: use either prorate or missing_as_zero")
            n = len(s_items)
            if prorate:
                _keys(path, f"scale {sname!r}: prorate", prorate, _PRORATE_KEYS)
                min_answered = _check_min_answered(
                    path, f"scale {sname!r}: prorate", prorate.get("min_answered", n), n)
                if prorate.get("rounding", "none") not in _ROUNDING:
                    raise _fail(path, f"scale {sname!r}: prorate.rounding must be one of "
                                      f"{sorted(_ROUNDING)}")
                if method == "mean" and prorate.get("rounding", "none") != "none":
                    raise _fail(path, f"scale {sname!r}: prorate.rounding applies to method "
                                      "sum only (a mean is not rounded)")
            elif maz:
                if maz is not True:
                    _keys(path, f"scale {sname!r}: missing_as_zero", maz, _MISSING_AS_ZERO_KEYS)
                    min_answered = _check_min_answered(
                        path, f"scale {sname!r}: missing_as_zero", maz.get("min_answered", 1), n)
                else:
                    min_answered = 1
            else:
                min_answered = n
            lo_items = []
            hi_items = []
            for i in s_items:
                a, b = score_lo[i], score_hi[i]
                if i in reverse:
                    a, b = item_min[i] + item_max[i] - b, item_min[i] + item_max[i] - a
                lo_items.append(a)
                hi_items.append(b)
            if method == "mean":
                lo, hi = min(lo_items), max(hi_items)
            else:
                lo, hi = sum(lo_items), sum(hi_items)
            gate = raw.get("gate")
            if gate:
                _keys(path, f"scale {sname!r}: gate", gate, _GATE_KEYS)
                for key in ("item", "values", "score"):
                    if key not in gate:
                        raise _fail(path, f"scale {sname!r}: gate needs '{key}'")
                if gate["item"] not in items:
                    raise _fail(path, f"scale {sname!r}: gate item {gate['item']!r} is not an "
                                      "item of the instrument")
                if not isinstance(gate["values"], list) or not gate["values"]:
                    raise _fail(path, f"scale {sname!r}: gate.values must be a list of codes")
                for v in gate["values"]:
                    _number(path, f"scale {sname!r}: gate.values", v)
                g = _number(path, f"scale {sname!r}: gate.score", gate["score"])
                lo, hi = min(lo, g), max(hi, g)
            conv = raw.get("conversion")
            if conv:
                _keys(path, f"scale {sname!r}: conversion", conv, _CONVERSION_KEYS)
                _provenance(path, f"scale {sname!r}: conversion", conv)
                if method != "sum" or min_answered != n or maz:
                    raise _fail(path, f"scale {sname!r}: a conversion table applies to the "
                                      "complete raw sum: use method sum with no prorating "
                                      f"(prorate.min_answered: {n})")
                table = conv.get("table")
                if not isinstance(table, dict) or not table:
                    raise _fail(path, f"scale {sname!r}: conversion.table must map raw "
                                      "scores to converted scores")
                keys = sorted(table)
                if any(isinstance(k, bool) or not isinstance(k, int) for k in keys):
                    raise _fail(path, f"scale {sname!r}: conversion.table keys must be whole "
                                      "raw scores")
                want = list(range(int(lo), int(hi) + 1))
                if keys != want:
                    raise _fail(path, f"scale {sname!r}: conversion.table must have one entry "
                                      f"for every raw score {int(lo)}..{int(hi)}")
                vals = [_number(path, f"scale {sname!r}: conversion.table value", v)
                        for v in table.values()]
                lo, hi = min(vals), max(vals)
        rng = raw.get("range")
        if rng is not None:
            if not isinstance(rng, list) or len(rng) != 2:
                raise _fail(path, f"scale {sname!r}: range must be [lowest, highest]")
            r0 = _number(path, f"scale {sname!r}: range", rng[0])
            r1 = _number(path, f"scale {sname!r}: range", rng[1])
            if (r0, r1) != (lo, hi):
                raise _fail(path, f"scale {sname!r}: range [{r0:g}, {r1:g}] does not match "
                                  f"the items, which give [{lo:g}, {hi:g}]")
        ranges[sname] = (lo, hi)
        scheme_names = _check_bands(path, sname, raw.get("bands"), lo, hi)
        if scheme_names:
            if default_scheme is None:
                default_scheme = scheme_names[0]
            elif scheme_names[0] != default_scheme:
                raise _fail(path, f"scale {sname!r}: its first band scheme must be "
                                  f"{default_scheme!r}, like the scales above it (the first "
                                  "scheme fills the 'band' column)")
        _check_psychometrics(path, sname, raw)
        scale = Scale(
            name=sname,
            items=s_items,
            reverse=reverse,
            method=method,
            from_scales=from_scales,
            min_answered=min_answered,
            range=(lo, hi),
            spec=raw,
        )
        scales.append(scale)
        seen[sname] = scale
    primary = spec.get("primary_scale")
    if primary is not None and primary not in seen:
        raise _fail(path, f"primary_scale {primary!r} is not a scale of the instrument")
    return Instrument(
        name=name,
        title=str(spec.get("title", name)),
        items=items,
        item_min=item_min,
        item_max=item_max,
        scales=tuple(scales),
        direction=direction,
        path=path,
        spec=spec,
    )


def _check_bands(path: Path, sname: str, raw: Any, lo: float, hi: float) -> list[str]:
    """Validate a scale's bands; return the scheme names, default first."""
    if not raw:
        return []
    if not isinstance(raw, dict):
        raise _fail(path, f"scale {sname!r}: bands must be a mapping")
    schemes = {"bands": raw} if "cuts" in raw else raw
    for scheme, block in schemes.items():
        where = f"scale {sname!r}: band scheme {scheme!r}"
        if not str(scheme).replace("_", "").isalnum():
            raise _fail(path, f"{where}: scheme names must be letters, digits and underscores")
        _keys(path, where, block, _BAND_SCHEME_KEYS)
        _provenance(path, where, block)
        cuts = block.get("cuts")
        if not isinstance(cuts, list) or not cuts:
            raise _fail(path, f"{where} needs a list of cuts {{label, min, max}}")
        parsed = []
        for cut in cuts:
            _keys(path, f"{where} cut", cut, _CUT_KEYS)
            if not {"label", "min", "max"} <= set(cut):
                raise _fail(path, f"{where}: each cut needs label, min and max")
            a = _number(path, f"{where} cut {cut['label']!r} min", cut["min"])
            b = _number(path, f"{where} cut {cut['label']!r} max", cut["max"])
            if a > b:
                raise _fail(path, f"{where}: cut {cut['label']!r} has min above max")
            parsed.append((a, b, str(cut["label"])))
        labels = [c[2] for c in parsed]
        if len(set(labels)) != len(labels):
            raise _fail(path, f"{where}: band labels must be unique")
        parsed.sort()
        for (_a0, b0, l0), (a1, _b1, l1) in zip(parsed, parsed[1:], strict=False):
            if a1 <= b0:
                raise _fail(path, f"{where}: cuts {l0!r} and {l1!r} overlap")
        if parsed[0][0] > lo or parsed[-1][1] < hi:
            raise _fail(path, f"{where}: cuts cover {parsed[0][0]:g}..{parsed[-1][1]:g} but "
                              f"scores run {lo:g}..{hi:g}")
    return [str(s) for s in schemes]


def _check_psychometrics(path: Path, sname: str, raw: dict) -> None:
    rel = raw.get("reliability")
    if rel:
        where = f"scale {sname!r}: reliability"
        _keys(path, where, rel, _RELIABILITY_KEYS)
        _provenance(path, where, rel)
        for key in ("alpha", "retest"):
            if key in rel and not 0 < _number(path, f"{where}.{key}", rel[key]) < 1:
                raise _fail(path, f"{where}.{key} must be between 0 and 1")
        if "reliable_change" in rel:
            _number(path, f"{where}.reliable_change", rel["reliable_change"])
    norms = raw.get("norms")
    if norms:
        where = f"scale {sname!r}: norms"
        _keys(path, where, norms, _NORM_KEYS)
        _provenance(path, where, norms)
        groups = norms.get("groups")
        if groups is not None:
            if "mean" in norms or "sd" in norms:
                raise _fail(path, f"{where}: give either mean/sd or groups, not both")
            if not isinstance(groups, list) or not groups:
                raise _fail(path, f"{where}.groups must be a list of {{group, mean, sd, n}}")
            for g in groups:
                _keys(path, f"{where} group", g, _NORM_GROUP_KEYS)
                if "group" not in g or "mean" not in g:
                    raise _fail(path, f"{where}: each group needs 'group' and 'mean'")
        else:
            groups = [norms]
            if "mean" not in norms:
                raise _fail(path, f"{where} needs a mean (or a list of groups)")
        for g in groups:
            _number(path, f"{where}.mean", g["mean"])
            if g.get("sd") is not None and _number(path, f"{where}.sd", g["sd"]) <= 0:
                raise _fail(path, f"{where}.sd must be positive")
    cut = raw.get("clinical_cutoff")
    if cut:
        where = f"scale {sname!r}: clinical_cutoff"
        _keys(path, where, cut, _CUTOFF_KEYS)
        _provenance(path, where, cut)
        _number(path, f"{where}.value", cut.get("value"))
        if cut.get("caseness") not in _CASENESS:
            raise _fail(path, f"{where}.caseness must be one of {sorted(_CASENESS)}")


class Registry:
    """The instruments available: the package's definitions plus any extra folders.

    Parameters
    ----------
    extra_dirs : iterable of path-like
        Folders of further ``*.yaml`` definitions, read in order after the package's
        own. A definition whose ``name`` matches one already loaded replaces it (so a
        region can replace a whole definition); :attr:`replaced` records each case.

    Attributes
    ----------
    replaced : dict
        Instrument name -> (path replaced, path that replaced it).

    Examples
    --------
    >>> reg = Registry()
    >>> reg.get("phq9").items[:3]
    ('phq9_01', 'phq9_02', 'phq9_03')
    >>> reg.get("sdq_parent_4_17").scale("total_difficulties").from_scales
    ('emotional', 'conduct', 'hyperactivity', 'peer')
    """

    def __init__(self, extra_dirs: Iterable[str | Path] = ()) -> None:
        self._instruments: dict[str, Instrument] = {}
        self.replaced: dict[str, tuple[Path | None, Path | None]] = {}
        for folder in [DEFINITIONS_DIR, *map(Path, extra_dirs)]:
            if not folder.is_dir():
                raise InstrumentDefinitionError(f"{folder}: no such folder of definitions")
            here: dict[str, Path] = {}
            for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
                inst = _parse(path)
                if inst.name in here:
                    raise InstrumentDefinitionError(
                        f"{path}: instrument {inst.name!r} is also defined in {here[inst.name]}"
                    )
                here[inst.name] = path
                if inst.name in self._instruments:
                    self.replaced[inst.name] = (self._instruments[inst.name].path, path)
                self._instruments[inst.name] = inst

    def available(self) -> list[str]:
        """Names of the instruments, sorted."""
        return sorted(self._instruments)

    def __contains__(self, name: object) -> bool:
        return name in self._instruments

    def get(self, name: str) -> Instrument:
        """The definition called ``name``; a clear error lists the names there are."""
        try:
            return self._instruments[name]
        except KeyError:
            raise RpcEvalError(
                f"no instrument called {name!r}; available: {', '.join(self.available())}"
            ) from None

    def with_overrides(self, name: str, overrides: Mapping[str, Any]) -> Registry:
        """A copy of this registry in which instrument ``name`` has values replaced
        (see :meth:`Instrument.with_overrides`); this registry is left as it was."""
        new = copy.copy(self)
        new._instruments = dict(self._instruments)
        new.replaced = dict(self.replaced)
        new._instruments[name] = self.get(name).with_overrides(overrides)
        return new

    def item_table(self) -> pd.DataFrame:
        """Every item of every instrument: columns ``instrument, item, position, min, max``
        (``position`` is the 1-based place on the form)."""
        rows = [
            (inst.name, item, pos, inst.item_min[item], inst.item_max[item])
            for inst in self._instruments.values()
            for pos, item in enumerate(inst.items, start=1)
        ]
        return pd.DataFrame(rows, columns=["instrument", "item", "position", "min", "max"])

    def scale_table(self) -> pd.DataFrame:
        """Every scale: columns ``instrument, scale, method, n_items, min_answered, min,
        max, direction, bands`` (band scheme names joined by ``", "``)."""
        rows = [
            (inst.name, s.name, s.method,
             len(s.items) if s.items else sum(len(inst.scale(f).items) for f in s.from_scales),
             s.min_answered, *(s.range or (None, None)), inst.direction, ", ".join(s.bands))
            for inst in self._instruments.values() for s in inst.scales
        ]
        return pd.DataFrame(rows, columns=["instrument", "scale", "method", "n_items",
                                           "min_answered", "min", "max", "direction", "bands"])

    def reliability_table(self) -> pd.DataFrame:
        """Published reliability: columns ``instrument, scale, alpha, retest,
        reliable_change, reliable_change_confidence, sample, source, verified``."""
        cols = ["alpha", "retest", "reliable_change", "reliable_change_confidence", "sample",
                "source", "verified"]
        rows = [
            (inst.name, s.name, *[s.reliability.get(c) for c in cols])
            for inst in self._instruments.values() for s in inst.scales if s.reliability
        ]
        return pd.DataFrame(rows, columns=["instrument", "scale", *cols])

    def norms_table(self) -> pd.DataFrame:
        """Published norms: columns ``instrument, scale, group, population, n, mean, sd,
        source, verified`` (``sd`` is missing where the source gave none)."""
        cols = ["group", "population", "n", "mean", "sd", "source", "verified"]
        rows = [
            (inst.name, s.name, *[g[c] for c in cols])
            for inst in self._instruments.values() for s in inst.scales for g in s.norms
        ]
        return pd.DataFrame(rows, columns=["instrument", "scale", *cols])


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry of the package's own definitions (built once)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
