"""Codebooks: the valid codes of coded columns, kept as YAML data.

The package ships codebooks in ``rpc_eval/codebooks/`` (waves, delivery modes, exit
reasons, sectors, interventions ...). A region extends them without code changes by
putting YAML files of the same shape in a ``codebooks/`` folder beside its data (or
passing ``codebook_dirs`` to :func:`rpc_eval.data.load`):

.. code-block:: yaml

    name: interventions          # which codebook to extend
    replace: false               # true: replace the package's codes instead of adding
    codes:
      - {code: local_mediation, label: Local family mediation service,
         intensity: couple, sessions_planned: 4}

A code that is already there is updated with the new attributes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from rpc_eval.errors import RpcEvalError

__all__ = ["Codebook", "CodebookError", "load_codebooks", "check_yaml_file", "CODEBOOK_DIR",
           "MAX_YAML_BYTES"]

CODEBOOK_DIR = Path(__file__).resolve().parent.parent / "codebooks"


class CodebookError(RpcEvalError):
    """A codebook file is malformed; the message names the file."""


@dataclass(frozen=True)
class Codebook:
    """The valid codes of one coded column, with a label and optional attributes."""

    name: str
    description: str
    entries: tuple[Mapping[str, Any], ...] = field(repr=False)

    @property
    def codes(self) -> list[str]:
        """Valid codes, in codebook order."""
        return [str(e["code"]) for e in self.entries]

    def labels(self) -> dict[str, str]:
        """Code -> human-readable label."""
        return {str(e["code"]): str(e.get("label", e["code"])) for e in self.entries}

    def attribute(self, name: str) -> dict[str, Any]:
        """Code -> value of attribute ``name`` (codes without it are left out)."""
        return {str(e["code"]): e[name] for e in self.entries if name in e}

    def to_frame(self) -> pd.DataFrame:
        """One row per code: ``code, label`` and any attributes."""
        return pd.DataFrame([dict(e) for e in self.entries])


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Parsed codebook files by (path, modification time, size): every load reads the
#: package's codebooks, and parsing YAML is most of the time of loading a small dataset.
_CACHE: dict[tuple[str, int, int], dict[str, Any]] = {}


#: Largest YAML file read from a folder beside the data.
MAX_YAML_BYTES = 1_000_000


def check_yaml_file(path: Path) -> None:
    """Refuse a YAML file from a data folder that is too large or uses anchors and
    aliases (``&name`` / ``*name``): aliases let a few hundred bytes expand to gigabytes
    (a "billion laughs" file), and codebooks and questionnaires never need them.

    The check reads the file's events without building anything, so it costs time in
    proportion to the file's size. Raises :class:`CodebookError` naming the file.
    """
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise CodebookError(f"{path}: the file is {size:,} bytes, more than the "
                                f"{MAX_YAML_BYTES:,} a codebook or questionnaire file may be")
        text = path.read_text(encoding="utf-8")
        for event in yaml.parse(text, Loader=_SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise CodebookError(
                    f"{path}: the file uses YAML anchors or aliases (& or *), which are not "
                    "accepted in files beside the data; write each entry out in full")
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CodebookError(f"{path}: cannot be read as YAML ({exc})") from None


def _read(path: Path, trusted: bool = True) -> dict[str, Any]:
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if key in _CACHE:
            return copy.deepcopy(_CACHE[key])
        if not trusted:
            check_yaml_file(path)
        spec = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CodebookError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(spec, dict) or "name" not in spec or "codes" not in spec:
        raise CodebookError(f"{path}: a codebook needs 'name' and a list of 'codes'")
    codes = spec["codes"]
    if not isinstance(codes, list) or not all(isinstance(c, dict) and "code" in c for c in codes):
        raise CodebookError(f"{path}: each entry of 'codes' needs a 'code'")
    seen = [str(c["code"]) for c in codes]
    dupes = sorted({c for c in seen if seen.count(c) > 1})
    if dupes:
        raise CodebookError(f"{path}: duplicate codes {dupes}")
    _CACHE[key] = copy.deepcopy(spec)
    return spec


def load_codebooks(extra_dirs: Iterable[str | Path] = ()) -> dict[str, Codebook]:
    """The package's codebooks, extended by the YAML files in ``extra_dirs``.

    Returns
    -------
    dict
        Codebook name -> :class:`Codebook`.

    Examples
    --------
    >>> books = load_codebooks()
    >>> books["waves"].codes
    ['baseline', 'end', 'followup_6m', 'followup_12m']
    """
    entries: dict[str, dict[str, dict[str, Any]]] = {}
    descriptions: dict[str, str] = {}
    for folder in [CODEBOOK_DIR, *map(Path, extra_dirs)]:
        if not Path(folder).is_dir():
            raise CodebookError(f"{folder}: no such folder of codebooks")
        for path in sorted(Path(folder).glob("*.yaml")):
            spec = _read(path, trusted=folder == CODEBOOK_DIR)
            name = str(spec["name"])
            if spec.get("replace") or name not in entries:
                entries[name] = {}
            descriptions.setdefault(name, str(spec.get("description", "")).strip())
            for entry in spec["codes"]:
                code = str(entry["code"])
                merged = {**entries[name].get(code, {}), **entry, "code": code}
                entries[name][code] = merged
    return {
        name: Codebook(name, descriptions.get(name, ""), tuple(codes.values()))
        for name, codes in entries.items()
    }
