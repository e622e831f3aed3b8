"""Benchmark: generate, write, load and validate the national synthetic dataset.

National scale is about 100,000 parents in 152 LAs. Times each step once (the steps
take seconds, so timer noise is small) and writes ``results/intake.json``.

    python benchmarks/bench_intake.py [--scale national] [--seed 20240601]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_result  # noqa: E402

from rpc_eval.data import load, write  # noqa: E402
from rpc_eval.errors import DataQualityWarning  # noqa: E402
from rpc_eval.synthetic import generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", default="national")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    (data, truth), t_gen = timed(generate, args.scale, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        files, t_write = timed(write, data, tmp)
        size = sum(f.stat().st_size for f in files)
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataQualityWarning)
            loaded, t_load = timed(load, tmp)
    rows = {name: len(t) for name, t in loaded.tables().items()}
    log = loaded.intake_log
    result = {
        "scale": args.scale,
        "seed": args.seed,
        "rows": rows,
        "csv_megabytes": round(size / 1e6, 1),
        "seconds": {
            "generate": round(t_gen, 2),
            "write_csv": round(t_write, 2),
            "load_and_validate": round(t_load, 2),
            "generate_plus_load": round(t_gen + t_load, 2),
        },
        "rows_excluded": int(log.tables["rows_excluded"].sum()),
        "reconciles": log.reconciles(),
    }
    path = write_result(f"intake_{args.scale}", result)
    print(f"{args.scale}: generate {t_gen:.1f} s, write {t_write:.1f} s, load+validate "
          f"{t_load:.1f} s ({sum(rows.values()):,} rows, {size / 1e6:.0f} MB CSV) -> {path}")


if __name__ == "__main__":
    main()
