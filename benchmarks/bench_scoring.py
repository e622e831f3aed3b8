"""Time scoring 1,000,000 SDQ parent questionnaires (all 31 items).

Run from the repository root::

    python benchmarks/bench_scoring.py            # n = 1,000,000
    python benchmarks/bench_scoring.py --n 100000

The data are random valid answers with about 3% of items left blank (so prorating,
the impact gate and missing scores all occur), plus the id columns parent_id,
respondent and wave. One warm-up call, then the median of three timed calls of
``rpc_eval.instruments.score``. Writes ``benchmarks/results/scoring.json`` with the
wall-clock and CPU seconds and the 1-minute load average (other work on the machine
slows the wall-clock figure, not the CPU figure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rpc_eval.instruments import get, score

RESULTS = Path(__file__).resolve().parent / "results" / "scoring.json"
TARGET_SECONDS = 2.0


def make_data(n: int, seed: int = 20240601) -> pd.DataFrame:
    """``n`` random SDQ P4-17 questionnaires in the wide shape ``score`` takes."""
    rng = np.random.default_rng(seed)
    inst = get("sdq_parent_4_17")
    cols: dict[str, object] = {
        "parent_id": pd.array([f"P{i:07d}" for i in range(n)], dtype="str"),
        "respondent": pd.array(["parent"] * n, dtype="str"),
        "wave": pd.array(rng.choice(["baseline", "end"], n), dtype="str"),
    }
    for item in inst.items:
        lo, hi = inst.valid_range(item)
        values = rng.integers(int(lo), int(hi) + 1, n).astype("float64")
        values[rng.random(n) < 0.03] = np.nan
        cols[item] = values
    return pd.DataFrame(cols)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="questionnaires to score")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (median reported)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)

    data = make_data(args.n)
    n_rows = len(score(data, "sdq_parent_4_17"))  # warm-up (result freed at once)
    times, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = score(data, "sdq_parent_4_17")
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        del result  # free the previous 9,000,000-row result before the next call
    record = {
        "benchmark": "rpc_eval.instruments.score, SDQ parent 4-17 (31 items, 9 scales)",
        "n_questionnaires": args.n,
        "n_result_rows": n_rows,
        "seconds_median": round(statistics.median(times), 4),
        "seconds_all": [round(t, 4) for t in times],
        "cpu_seconds_median": round(statistics.median(cpu), 4),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "target_seconds": TARGET_SECONDS,
        "meets_target": statistics.median(times) < TARGET_SECONDS,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"scored {args.n:,} SDQ questionnaires in {record['seconds_median']:.3f} s "
          f"(median of {args.repeats}; CPU {record['cpu_seconds_median']:.3f} s; "
          f"target < {TARGET_SECONDS} s) -> {args.out}")
    return record


if __name__ == "__main__":
    main()
