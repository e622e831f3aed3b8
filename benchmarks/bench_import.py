"""Benchmark: import a national-scale wide delivery (one row per parent) by its mapping.

Generates the national synthetic dataset (about 100,000 parents), writes it as the wide
delivery of ``rpc-eval synth --wide`` (one row per parent, ~260 columns), then times
``import_delivery`` (read, map, write the dataset folder) and, separately, the intake
checks of the dataset written (what ``rpc-eval import`` runs next, as ``validate``).
Writes ``results/import_<scale>.json``.

    python benchmarks/bench_import.py [--scale national] [--seed 20240601]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_result  # noqa: E402

from rpc_eval.data import import_delivery, load  # noqa: E402
from rpc_eval.errors import DataQualityWarning  # noqa: E402
from rpc_eval.synthetic import generate  # noqa: E402
from rpc_eval.synthetic.wide import write_wide  # noqa: E402

MAPPING = Path(__file__).resolve().parent.parent / "docs" / "examples" / \
    "wide_delivery_mapping.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", default="national")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    (data, _), t_gen = timed(generate, args.scale, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        delivery, t_wide = timed(write_wide, data, Path(tmp) / "delivery.csv")
        size = delivery.stat().st_size
        with open(delivery, encoding="utf-8") as fh:
            n_columns = len(fh.readline().split(","))
        result, t_import = timed(import_delivery, delivery, MAPPING, Path(tmp) / "dataset")
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataQualityWarning)
            loaded, t_check = timed(load, Path(tmp) / "dataset")
    log = result.log
    payload = {
        "scale": args.scale,
        "seed": args.seed,
        "delivery": {"rows": len(data.parents), "columns": n_columns,
                     "csv_megabytes": round(size / 1e6, 1)},
        "imported": {name: len(t) for name, t in loaded.tables().items() if len(t)},
        "seconds": {
            "generate": round(t_gen, 2),
            "write_wide_delivery": round(t_wide, 2),
            "import": round(t_import, 2),
            "intake_checks_of_the_dataset": round(t_check, 2),
        },
        "import_errors": log.n_errors,
        "import_warnings": log.n_warnings,
        "reconciles": log.reconciles(),
        "intake_errors": loaded.intake_log.n_errors,
    }
    path = write_result(f"import_{args.scale}", payload)
    print(f"{args.scale}: delivery {len(data.parents):,} rows x {n_columns} columns "
          f"({size / 1e6:.0f} MB): import {t_import:.1f} s, intake checks {t_check:.1f} s "
          f"-> {path}")


if __name__ == "__main__":
    main()
