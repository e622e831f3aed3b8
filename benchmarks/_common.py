"""Shared helpers of the benchmark scripts: machine facts, timing, result files."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    """Facts about the machine and software a timing was taken on."""
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    for dist in ("rpc_eval", "numpy", "pandas", "scipy", "statsmodels"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = None
    try:
        with open("/proc/meminfo") as fh:
            info["memory_gib"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    info["rscript"] = shutil.which("Rscript")
    if info["rscript"]:
        out = subprocess.run(["Rscript", "--version"], capture_output=True, text=True)
        info["r_version"] = (out.stdout or out.stderr).strip()
    return info


def timed(fn: Callable, *args, **kwargs):
    """(result, seconds) of one call."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def write_result(name: str, payload: dict) -> Path:
    """Write ``results/<name>.json`` with the payload and machine info."""
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "date": time.strftime("%Y-%m-%d"), **payload,
               "machine": machine_info()}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path
