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
"""

from __future__ import annotations

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
    "name", "title", "construct", "respondent", "direction", "licence", "source",
    "responses", "items", "item_responses", "recode", "scales", "notes", "kind",
}
_SCALE_KEYS = {
    "name", "items", "reverse", "method", "from_scales", "prorate", "range", "bands",
    "reliability", "norms", "clinical_cutoff", "conversion", "gate", "description",
    "missing_as_zero", "min_answered_any",
}
_DIRECTIONS = {"higher_is_worse", "higher_is_better"}
_METHODS = {"sum", "mean", "sum_of_scales"}


class InstrumentDefinitionError(RpcEvalError):
    """A questionnaire definition file is malformed. The message names the file and key."""


@dataclass(frozen=True)
class Scale:
    """One scored scale of an instrument (a subscale, a total or a composite).

    ``method`` is ``sum`` (sum of item scores, prorated per ``prorate``), ``mean``
    (mean of answered item scores) or ``sum_of_scales`` (sum of the scales named in
    ``from_scales``; missing if any of them is missing).
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
    def bands(self) -> dict[str, dict[str, Any]]:
        """Band schemes by name (a single unnamed scheme is called ``bands``)."""
        raw = self.spec.get("bands")
        if not raw:
            return {}
        if "cuts" in raw:
            return {"bands": raw}
        return dict(raw)


@dataclass(frozen=True)
class Instrument:
    """A questionnaire definition. Build with :meth:`Registry.get`.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"sdq_p4_17"``.
    items : tuple of str
        Item ids in the official form's order.
    item_min, item_max : dict
        Valid raw response codes of each item (inclusive).
    scales : tuple of Scale
    spec : dict
        The whole parsed definition (sources, licence, notes...).
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

    def scale(self, name: str) -> Scale:
        """The scale called ``name``."""
        for s in self.scales:
            if s.name == name:
                return s
        raise RpcEvalError(
            f"instrument {self.name!r} has no scale {name!r}; its scales are "
            + ", ".join(s.name for s in self.scales)
        )

    def valid_range(self, item: str) -> tuple[float, float]:
        """Lowest and highest valid raw response code of ``item``."""
        return self.item_min[item], self.item_max[item]

    def __repr__(self) -> str:
        return (
            f"Instrument({self.name!r}, {len(self.items)} items, "
            f"scales={[s.name for s in self.scales]})"
        )


def _fail(path: Path, message: str) -> InstrumentDefinitionError:
    return InstrumentDefinitionError(f"{path}: {message}")


def _parse(path: Path) -> Instrument:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot be read as YAML ({exc})") from None
    if not isinstance(spec, dict):
        raise _fail(path, "must be a mapping with keys name, items, scales ...")
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise _fail(path, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("name", "items", "scales", "responses"):
        if key not in spec:
            raise _fail(path, f"missing required key '{key}'")
    name = str(spec["name"])
    items = tuple(str(i) for i in spec["items"])
    if len(set(items)) != len(items):
        raise _fail(path, "item ids must be unique")
    direction = spec.get("direction", "higher_is_worse")
    if direction not in _DIRECTIONS:
        raise _fail(path, f"direction must be one of {sorted(_DIRECTIONS)}, not {direction!r}")

    default = spec["responses"]
    per_item = spec.get("item_responses") or {}
    for item in per_item:
        if item not in items:
            raise _fail(path, f"item_responses names unknown item {item!r}")
    item_min, item_max = {}, {}
    for item in items:
        resp = {**default, **per_item.get(item, {})}
        if "min" not in resp or "max" not in resp:
            raise _fail(path, f"responses for item {item!r} need min and max")
        lo, hi = float(resp["min"]), float(resp["max"])
        if lo > hi:
            raise _fail(path, f"item {item!r}: min {lo} is above max {hi}")
        item_min[item], item_max[item] = lo, hi

    scales: list[Scale] = []
    seen: set[str] = set()
    for raw in spec["scales"]:
        if not isinstance(raw, dict) or "name" not in raw:
            raise _fail(path, "each scale needs a name")
        sname = str(raw["name"])
        unknown = set(raw) - _SCALE_KEYS
        if unknown:
            raise _fail(path, f"scale {sname!r}: unknown key(s) {sorted(unknown)}")
        method = raw.get("method", "sum")
        if method not in _METHODS:
            raise _fail(path, f"scale {sname!r}: method must be one of {sorted(_METHODS)}")
        s_items = tuple(str(i) for i in raw.get("items", ()))
        from_scales = tuple(str(s) for s in raw.get("from_scales", ()))
        if method == "sum_of_scales":
            missing = [s for s in from_scales if s not in seen]
            if not from_scales or missing:
                raise _fail(
                    path, f"scale {sname!r}: from_scales must name scales defined above it "
                    f"(unknown: {missing})"
                )
        else:
            bad = [i for i in s_items if i not in items]
            if not s_items or bad:
                raise _fail(path, f"scale {sname!r}: items must be items of the instrument {bad}")
        reverse = tuple(str(i) for i in raw.get("reverse", ()))
        bad = [i for i in reverse if i not in s_items]
        if bad:
            raise _fail(path, f"scale {sname!r}: reverse items {bad} are not in the scale")
        prorate = raw.get("prorate") or {}
        min_answered = prorate.get("min_answered", len(s_items) if s_items else None)
        if s_items and not (1 <= int(min_answered) <= len(s_items)):
            raise _fail(path, f"scale {sname!r}: prorate.min_answered must be 1..{len(s_items)}")
        rng = raw.get("range")
        scales.append(
            Scale(
                name=sname,
                items=s_items,
                reverse=reverse,
                method=method,
                from_scales=from_scales,
                min_answered=None if min_answered is None else int(min_answered),
                range=None if rng is None else (float(rng[0]), float(rng[1])),
                spec=raw,
            )
        )
        seen.add(sname)
    if len(seen) != len(scales):
        raise _fail(path, "scale names must be unique")
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


class Registry:
    """The instruments available: the package's definitions plus any extra folders.

    Parameters
    ----------
    extra_dirs : iterable of path-like
        Folders of further ``*.yaml`` definitions. A definition whose ``name`` matches
        a package one replaces it (so a region can override a published value).

    Examples
    --------
    >>> reg = Registry()
    >>> reg.get("phq9").items[:3]
    ('phq9_01', 'phq9_02', 'phq9_03')
    """

    def __init__(self, extra_dirs: Iterable[str | Path] = ()) -> None:
        self._instruments: dict[str, Instrument] = {}
        for folder in [DEFINITIONS_DIR, *map(Path, extra_dirs)]:
            if not folder.is_dir():
                raise InstrumentDefinitionError(f"{folder}: no such folder of definitions")
            for path in sorted(folder.glob("*.yaml")):
                inst = _parse(path)
                self._instruments[inst.name] = inst

    def available(self) -> list[str]:
        """Names of the instruments, sorted."""
        return sorted(self._instruments)

    def get(self, name: str) -> Instrument:
        """The definition called ``name``; a clear error lists the names there are."""
        try:
            return self._instruments[name]
        except KeyError:
            raise RpcEvalError(
                f"no instrument called {name!r}; available: {', '.join(self.available())}"
            ) from None

    def item_table(self) -> pd.DataFrame:
        """Every item of every instrument: columns ``instrument, item, position, min, max``
        (``position`` is the 1-based place on the form)."""
        rows = [
            (inst.name, item, pos, inst.item_min[item], inst.item_max[item])
            for inst in self._instruments.values()
            for pos, item in enumerate(inst.items, start=1)
        ]
        return pd.DataFrame(rows, columns=["instrument", "item", "position", "min", "max"])


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry of the package's own definitions (built once)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
