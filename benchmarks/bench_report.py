"""Time building every report (``make report``) on the default and national data.

Targets (issue: reports): ``make report`` on the default data under 2 minutes after
installation; ``make report SCALE=national`` under 10 minutes on a 2-core machine. Each
scale is timed as ``make`` runs it: generating the synthetic data when it is absent
(timed separately), then ``rpc-eval report --force``
(every notebook re-run). A second, incremental run (nothing changed) is timed too.

    python benchmarks/bench_report.py [default|national ...]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_result

ROOT = Path(__file__).resolve().parents[1]
SEED = 20240601


def _run(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rpc_eval.cli", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench(scale: str) -> dict:
    data = ROOT / "synthetic_data" / scale
    if (data / "parents.csv").exists():  # time making it anyway, as a fresh clone would
        with tempfile.TemporaryDirectory() as tmp:
            generate = _run(["synth", "--scale", scale, "--seed", str(SEED), "--out", tmp,
                             "--quiet"])
    else:
        generate = _run(["synth", "--scale", scale, "--seed", str(SEED), "--out", str(data),
                         "--quiet"])
    with tempfile.TemporaryDirectory() as out:
        build = _run(["report", "--data", str(data), "--out", out, "--force", "--quiet"])
        again = _run(["report", "--data", str(data), "--out", out, "--quiet"])
    total = build + generate
    return {"scale": scale, "generate_data_s": generate, "build_all_reports_s": build,
            "incremental_rebuild_s": again, "make_report_s": total,
            "target_s": 120 if scale == "default" else 600,
            "meets_target": total < (120 if scale == "default" else 600)}


def main() -> None:
    scales = sys.argv[1:] or ["default", "national"]
    results = {s: bench(s) for s in scales}
    for s, r in results.items():
        print(f"{s}: make report {r['make_report_s']:.0f} s (build {r['build_all_reports_s']:.0f}"
              f" s; incremental {r['incremental_rebuild_s']:.1f} s)")
    write_result("report", {"results": results})


if __name__ == "__main__":
    main()
