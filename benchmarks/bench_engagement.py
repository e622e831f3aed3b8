"""Benchmark: the report's whole engagement analysis (funnel, time-to-event data,
Kaplan-Meier, log-rank, cumulative incidence, Gray's test, cause-specific Cox with
LA-clustered SEs, Fine-Gray, session hazards) on the default and national datasets.

Target (issue): under 30 s for the default report. Writes ``results/engagement.json``.

    python benchmarks/bench_engagement.py
"""

from __future__ import annotations

import statistics
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_result  # noqa: E402

from rpc_eval.engagement.analysis import engagement_analysis  # noqa: E402
from rpc_eval.synthetic import generate  # noqa: E402


def main() -> None:
    runs = {}
    for scale in ("default", "national"):
        data, _ = generate(scale, seed=20240601)
        times = []
        for _ in range(3):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res, secs = timed(engagement_analysis, data)
            times.append(secs)
        runs[scale] = {
            "parents": len(data.parents),
            "starters": len(res.time_to_event),
            "seconds_median": round(statistics.median(times), 3),
            "seconds_all": [round(t, 3) for t in times],
        }
        print(f"{scale}: engagement analysis {statistics.median(times):.2f} s "
              f"({len(data.parents):,} parents)")
    write_result("engagement", {"target_seconds_default": 30.0, "runs": runs})


if __name__ == "__main__":
    main()
