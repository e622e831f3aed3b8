"""Re-run every R reference script and fail when its output drifts from the fixture.

Usage (from the repository root; ``make reference`` runs it)::

    python tests/reference/check_drift.py [--tol 1e-6] [--update] [SCRIPT.R ...]

Each ``tests/reference/*.R`` script writes JSON fixtures that the test suite compares
the library against. This script copies ``tests/reference/`` to a temporary folder, runs
every script there with ``Rscript`` (so the committed fixtures are never touched), and
compares every JSON file the script wrote with the committed one: the same keys, the
same strings, and numbers equal within ``--tol`` relative to ``max(1, |value|)`` (the
tightest tolerance any test uses on these fixtures). Values that record the
environment rather than a result -- R and package version strings (keys ending in
``_version``) and timings -- are not compared.

Exit status: 0 when every fixture is reproduced, 1 on drift (each difference is listed
with its file and JSON path), 2 when R or a package a script needs is missing (the
script names it). ``--update`` copies the regenerated fixtures over the committed ones
instead of comparing (review the diff before committing).

The R packages the scripts need are listed in ``tests/reference/README.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: JSON keys that describe the run, not the result.
ENVIRONMENT_KEYS = {"r_version", "R", "R_version", "timing", "timings", "seconds",
                    "elapsed", "time_s", "lme4", "packages", "versions"}


def _compare(a, b, path: str, tol: float, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key in ENVIRONMENT_KEYS or key.endswith("_version"):
                continue
            if key not in a or key not in b:
                out.append(f"{path}/{key}: present in only one of committed/regenerated")
                continue
            _compare(a[key], b[key], f"{path}/{key}", tol, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} committed, {len(b)} regenerated")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _compare(x, y, f"{path}[{i}]", tol, out)
    elif isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or a is None:
        if a != b:
            out.append(f"{path}: {a!r} committed, {b!r} regenerated")
    elif isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) and math.isnan(b):
            return
        if not abs(a - b) <= tol * max(1.0, abs(a)):
            out.append(f"{path}: {a!r} committed, {b!r} regenerated")
    elif a != b:
        out.append(f"{path}: {a!r} committed, {b!r} regenerated")


def _load(path: Path):
    # R's jsonlite writes NaN/Inf as strings or NA; Python's json reads them as given.
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scripts", nargs="*", help="scripts to run (default: every *.R)")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--update", action="store_true",
                    help="write the regenerated fixtures over the committed ones")
    args = ap.parse_args(argv)
    if shutil.which("Rscript") is None:
        print("Rscript is not installed: see tests/reference/README.md for the packages.")
        return 2
    scripts = [HERE / s if not Path(s).is_absolute() else Path(s) for s in args.scripts] \
        or sorted(HERE.glob("*.R"))
    drift: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rpc-eval-reference-") as tmp:
        root = Path(tmp)
        work = root / "tests" / "reference"
        shutil.copytree(HERE, work)
        before = {p.name: p.stat().st_mtime_ns for p in work.glob("*.json")}
        for script in scripts:
            name = Path(script).name
            print(f"Rscript {name} ...", flush=True)
            proc = subprocess.run(["Rscript", str(work / name)], cwd=root,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                missing = [ln for ln in proc.stderr.splitlines() if "no package called" in ln]
                print(proc.stderr[-2000:])
                if missing:
                    print(f"{name}: an R package is missing: {missing[0].strip()}")
                    return 2
                drift.append(f"{name}: Rscript failed (exit {proc.returncode})")
                continue
            written = [p for p in work.glob("*.json")
                       if p.stat().st_mtime_ns != before.get(p.name)]
            if not written:
                drift.append(f"{name}: wrote no JSON fixture")
            for new in written:
                before[new.name] = new.stat().st_mtime_ns
                committed = HERE / new.name
                if args.update or not committed.exists():
                    shutil.copyfile(new, committed)
                    print(f"  wrote {committed.relative_to(HERE.parents[1])}")
                    continue
                found: list[str] = []
                _compare(_load(committed), _load(new), new.name, args.tol, found)
                drift.extend(found)
                print(f"  {new.name}: " + ("reproduced" if not found
                                           else f"{len(found)} difference(s)"))
    if drift:
        print(f"\nDrift beyond {args.tol:g} in {len(drift)} place(s):")
        for line in drift[:200]:
            print("  " + line)
        return 1
    print("\nEvery fixture reproduced.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
