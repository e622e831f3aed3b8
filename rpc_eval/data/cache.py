"""A validated dataset kept between the reports of one build, so it is read and checked once.

While :func:`use_cache` is active (a report build holds it), :func:`rpc_eval.data.load`
called with its defaults (no pseudonymisation key, no extra codebook or instrument
folders, ``errors="exclude"``) looks for the dataset in the cache first. An entry is
keyed by the SHA-256 of

* every file of the dataset (every file under the folder, hidden ones included, as the
  report runner hashes them; or the one workbook or table file),
* the package's code and schema (every ``.py`` and ``.yaml`` file of ``rpc_eval``),
  the versions of Python, pandas, NumPy and pyarrow and the cache format,
* the day used as "today" (dates after it are in the future),

so any change to the data, the code or the day means a fresh read and check. An entry
holds the typed tables and the three frames of the intake log as Arrow IPC files (text
columns dictionary-encoded, so a table of millions of answers loads in a second), and
the codebooks and questionnaire registry the intake used. Entries are written to a
temporary folder and renamed into place, so an interrupted build never leaves half an
entry; an entry that cannot be read is ignored and rewritten. The cache folder is part
of the build (``<reports folder>/.cache/``), never of a published report.

A dataset that cannot be used (:class:`~rpc_eval.errors.DataValidationError`) is not
cached: it is read again and the error raised again each time.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from rpc_eval.data.model import TABLES, EvaluationData, IntakeLog

__all__ = ["ENV", "use_cache", "cached_load", "dataset_key"]

#: Environment variable naming the cache folder (inherited by notebook kernels).
ENV = "RPC_EVAL_DATA_CACHE"
#: Version of the layout of an entry.
FORMAT = 1
#: Entries kept in a cache folder (the newest; older ones are removed).
KEEP = 3
_PACKAGE = Path(__file__).resolve().parents[1]
_LOG_FRAMES = ("problems", "tables", "excluded")


class _NotCacheable(Exception):
    """A frame holds values the cache does not store exactly (then nothing is cached)."""


@contextmanager
def use_cache(folder: str | Path) -> Iterator[Path]:
    """Let :func:`rpc_eval.data.load` (in this process and in the notebook kernels it
    starts) keep and reuse validated datasets in ``folder`` while the block runs."""
    folder = Path(folder).resolve()
    old = os.environ.get(ENV)
    os.environ[ENV] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def package_digest() -> str:
    """SHA-256 of the package's code and data files (``*.py``, ``*.yaml``): part of the
    keys of build stamps and cached datasets, so a change of code means a rebuild."""
    h = hashlib.sha256()
    for p in sorted(_PACKAGE.rglob("*")):
        if p.is_file() and p.suffix in {".py", ".yaml"}:
            h.update(str(p.relative_to(_PACKAGE)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def dataset_key(path: str | Path, today: pd.Timestamp) -> str:
    """The SHA-256 naming the cache entry of ``path`` read on day ``today``."""
    import pyarrow

    path = Path(path).resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    h.update(json.dumps({
        "format": FORMAT, "python": platform.python_version(), "pandas": pd.__version__,
        "numpy": np.__version__, "pyarrow": pyarrow.__version__,
        "today": today.date().isoformat(), "package": package_digest(),
        "kind": "folder" if path.is_dir() else path.suffix.lower(),
    }, sort_keys=True).encode())
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode() + b"\0")
        h.update(_file_digest(f).encode())
    return h.hexdigest()


# --------------------------------------------------------------------- frames <-> Arrow
def _encode(frame: pd.DataFrame):
    """A frame as an Arrow table: text columns dictionary-encoded (missing = NaN)."""
    import pyarrow as pa

    arrays, kinds = {}, {}
    for col in frame.columns:
        s = frame[col]
        kinds[col] = str(s.dtype)
        if str(col).startswith("\0"):
            raise _NotCacheable(col)
        if s.dtype == object:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            words = list(uniques)
            missing = s.to_numpy()[codes < 0]
            is_none = np.array([v is None for v in missing], bool)
            if not all(isinstance(w, str) for w in words) or not all(
                    isinstance(v, float) and np.isnan(v) for v in missing[~is_none]):
                raise _NotCacheable(col)
            arrays[col] = pa.DictionaryArray.from_arrays(
                pa.array(codes.astype(np.int32), mask=codes < 0),
                pa.array(words, type=pa.string()))
            if is_none.any():  # missing written as None (not NaN) is kept as None
                where = np.zeros(len(s), bool)
                where[np.flatnonzero(codes < 0)[is_none]] = True
                arrays["\0none\0" + col] = pa.array(where)
        else:
            arrays[col] = pa.array(s, from_pandas=True)
    return pa.table(arrays), kinds


def _decode(table, kinds: dict[str, str]) -> pd.DataFrame:
    """The frame :func:`_encode` stored (same columns, dtypes and values)."""
    out = {}
    for col, kind in kinds.items():
        arr = table.column(col).combine_chunks()
        if kind == "object":
            codes = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            words = np.append(np.asarray(arr.dictionary.to_pylist(), dtype=object), np.nan)
            values = words[codes]
            if "\0none\0" + col in table.column_names:
                values[table.column("\0none\0" + col).to_numpy(zero_copy_only=False)] = None
            out[col] = pd.Series(values, dtype=object)
        else:
            out[col] = pd.Series(arr.to_pandas()).astype(kind)
    frame = pd.DataFrame(out, index=range(table.num_rows))
    if [str(t) for t in frame.dtypes] != list(kinds.values()):
        raise _NotCacheable("dtypes changed")
    return frame


# ---------------------------------------------------------------------------- entries
def _write_entry(folder: Path, key: str, data: EvaluationData) -> None:
    import pyarrow.feather as feather

    frames = {f"table_{n}": t for n, t in data.tables().items()}
    frames.update({f"log_{n}": getattr(data.intake_log, n) for n in _LOG_FRAMES})
    encoded = {name: _encode(f) for name, f in frames.items()}  # before writing anything
    extras = pickle.dumps({"codebooks": data.codebooks, "instruments": data.instruments},
                          protocol=pickle.HIGHEST_PROTOCOL)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        for name, (table, _kinds) in encoded.items():
            feather.write_feather(table, tmp / f"{name}.arrow", compression="uncompressed")
        (tmp / "extras.pickle").write_bytes(extras)
        meta = {"format": FORMAT, "kinds": {n: k for n, (_t, k) in encoded.items()},
                "pseudonymised": data.intake_log.pseudonymised}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, folder / key)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / key).is_dir():
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    entries = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def _read_entry(entry: Path, source: str) -> EvaluationData:
    import pyarrow.feather as feather

    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise _NotCacheable("format")
    frames = {name: _decode(feather.read_table(entry / f"{name}.arrow", memory_map=True), kinds)
              for name, kinds in meta["kinds"].items()}
    extras = pickle.loads((entry / "extras.pickle").read_bytes())
    log = IntakeLog(**{n: frames[f"log_{n}"] for n in _LOG_FRAMES}, source=source,
                    pseudonymised=meta["pseudonymised"])
    return EvaluationData(**{n: frames[f"table_{n}"] for n in TABLES},
                          codebooks=extras["codebooks"], instruments=extras["instruments"],
                          intake_log=log)


def cached_load(path: str | Path, folder: str | Path, today: pd.Timestamp,
                load: Callable[[], EvaluationData]) -> EvaluationData:
    """The dataset at ``path`` from the cache in ``folder``, or ``load()`` (then cached).

    Parameters
    ----------
    path : path-like
        The dataset (folder or file), as given to :func:`rpc_eval.data.load`.
    folder : path-like
        The cache folder (created when needed).
    today : Timestamp
        The day dates are checked against (part of the key).
    load : callable
        Reads and checks the dataset when it is not cached.

    Returns
    -------
    EvaluationData
        Equal, table by table and in its intake log, to what ``load()`` returns.
    """
    folder = Path(folder)
    source = str(Path(path))
    try:
        key = dataset_key(path, today)
    except OSError:
        return load()
    entry = folder / key
    if entry.is_dir():
        try:
            return _read_entry(entry, source)
        except Exception:  # a damaged or foreign entry: read the data again
            shutil.rmtree(entry, ignore_errors=True)
    data = load()
    try:
        _write_entry(folder, key, data)
    except (_NotCacheable, OSError, pickle.PicklingError, TypeError, ValueError):
        pass  # the data is correct; it is only not kept for the next report
    return data
