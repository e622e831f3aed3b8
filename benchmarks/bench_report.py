"""Time building every report (``make report``) on the default and national data.

Targets: building every report (after the data are generated) within 20 s on the
default data and 90 s on the national data of a 2-core machine, the dataset being read
and checked once per build (:mod:`rpc_eval.data.cache`); an incremental rebuild (nothing
changed) within 1-3 s. Each scale is timed as ``make`` runs it: generating the synthetic
data (timed separately), then ``rpc-eval report --force`` (every notebook re-run), then
the incremental run. BLAS is pinned to one thread (recorded).

    python benchmarks/bench_report.py [default|national ...] [--label after] [--skip-generate]

``--skip-generate`` times only the builds, on data already in ``synthetic_data/``.

Runs of each label are kept side by side in ``results/report.json``. Each run also
records the CPU seconds of the build (every process it started, notebook kernels
included) and the machine's load average before and after, since on a shared machine the
wall time depends on what else is running.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, write_result

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
#: Seconds of build (after data generation) allowed per scale.
TARGET_BUILD_S = {"default": 20, "national": 90}
TARGET_INCREMENTAL_S = 3

ROOT = Path(__file__).resolve().parents[1]
SEED = 20240601


#: CPU seconds (user + system) of the commands run so far and their processes.
_CPU: list[float] = []


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(args: list[str]) -> float:
    """Wall seconds of one ``rpc_eval.cli`` command; its CPU seconds (every process it
    started included) are appended to ``_CPU``."""
    c0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "rpc_eval.cli", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    _CPU.append(_children_cpu() - c0)
    return wall


def bench(scale: str, generate_data: bool = True) -> dict:
    data = ROOT / "synthetic_data" / scale
    if not generate_data and (data / "parents.csv").exists():
        generate = None  # the data are there: only the build is timed
    elif (data / "parents.csv").exists():  # time making it anyway, as a fresh clone would
        with tempfile.TemporaryDirectory() as tmp:
            generate = _run(["synth", "--scale", scale, "--seed", str(SEED), "--out", tmp,
                             "--quiet"])
    else:
        generate = _run(["synth", "--scale", scale, "--seed", str(SEED), "--out", str(data),
                         "--quiet"])
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        build = _run(["report", "--data", str(data), "--out", out, "--force", "--quiet"])
        build_cpu = _CPU[-1]
        again = _run(["report", "--data", str(data), "--out", out, "--quiet"])
    total = None if generate is None else round(build + generate, 2)
    return {"scale": scale,
            "generate_data_s": None if generate is None else round(generate, 2),
            "build_all_reports_s": round(build, 2),
            "build_cpu_s": round(build_cpu, 2),
            "load_average_before_after": [round(load_before, 1),
                                          round(os.getloadavg()[0], 1)],
            "incremental_rebuild_s": round(again, 2), "make_report_s": total,
            "target_build_s": TARGET_BUILD_S.get(scale),
            "meets_build_target": build <= TARGET_BUILD_S.get(scale, float("inf")),
            "meets_incremental_target": again <= TARGET_INCREMENTAL_S}


def main() -> None:
    args = sys.argv[1:]
    label = "after"
    if "--label" in args:
        i = args.index("--label")
        label = args[i + 1]
        del args[i:i + 2]
    generate_data = "--skip-generate" not in args
    args = [a for a in args if a != "--skip-generate"]
    scales = args or ["default", "national"]
    path = RESULTS / "report.json"
    runs: dict = {}
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(old.get("runs"), dict):
            runs = old["runs"]
        elif isinstance(old.get("results"), dict):  # the layout of one run per file
            runs = {"before": {"date": old.get("date"), **old["results"]}}
    run = dict(runs.get(label, {}))
    run.update({s: bench(s, generate_data) for s in scales})
    run["date"] = time.strftime("%Y-%m-%d %H:%M")
    run["blas_threads"] = {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}
    runs[label] = run
    for s in scales:
        r = run[s]
        print(f"{s}: build {r['build_all_reports_s']:.0f} s ({r['build_cpu_s']:.0f} CPU s); "
              f"incremental {r['incremental_rebuild_s']:.1f} s")
    write_result("report", {"runs": runs})


if __name__ == "__main__":
    main()
