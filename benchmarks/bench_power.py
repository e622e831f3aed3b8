"""Benchmark: simulation power for a regional evaluation grid, 1 vs 2 worker processes.

Run from the repository root::

    python benchmarks/bench_power.py

Grid: 6, 8, 10 and 12 LAs x 20, 40, 60 and 80 parents referred per LA (16 designs),
pre/post change with d_z 0.3, ICC 0.05, CV of LA sizes 0.4 and 60% of parents with
both questionnaires. Timed, each with ``n_jobs=1`` and ``n_jobs=2`` (joblib loky;
results must be identical):

* :func:`rpc_eval.design.power.simulate_power`, LA-clustered test, 500 replicates per design;
* the same with ``method="multilevel"`` (``fit_lmm`` per replicate), 100 replicates;
* :func:`rpc_eval.design.power.simulate_power_synthetic` (whole synthetic datasets, PHQ-9)
  for 8 and 12 LAs x 40 parents, 50 replicates.

Each timing is one call (worker start-up included, as a user meets it). Also records
the largest |simulated - analytic| power over the grid in Monte-Carlo SEs.

``n_jobs=1`` runs in the calling process, whose BLAS may use several threads on tiny
matrices; loky workers are limited to one BLAS thread each. That is why the multilevel
fits speed up by more than the number of workers (with ``OPENBLAS_NUM_THREADS=1`` the
sequential multilevel run is about 3 times faster), while the light latent-model and
synthetic runs are slower with 2 workers: starting the workers (and, for synthetic
data, building the generator's static tables in each) costs more than they save. Writes
``benchmarks/results/power.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_result  # noqa: E402

from rpc_eval.design.power import simulate_power, simulate_power_synthetic  # noqa: E402

SEED = 20240601
LAS, PARENTS = [6, 8, 10, 12], [20, 40, 60, 80]
DESIGN = {"effect_size": 0.3, "icc": 0.05, "cv": 0.4, "completion_rate": 0.6}


def _pair(label: str, fn, **kwargs) -> dict:
    out = {}
    frames = []
    for jobs in (1, 2):
        frame, secs = timed(fn, n_jobs=jobs, **kwargs)
        frames.append(frame)
        out[f"seconds_n_jobs_{jobs}"] = round(secs, 3)
        print(f"{label}, n_jobs={jobs}: {secs:.2f} s")
    pd.testing.assert_frame_equal(frames[0], frames[1])
    out["identical_results"] = True
    out["speedup"] = round(out["seconds_n_jobs_1"] / out["seconds_n_jobs_2"], 2)
    return out, frames[0]


def main() -> None:
    payload: dict = {"grid": {"n_las": LAS, "parents_per_la": PARENTS, **DESIGN}}
    res, frame = _pair("cluster, 500 sims x 16 designs", simulate_power, n_las=LAS,
                       parents_per_la=PARENTS, n_sims=500, seed=SEED, **DESIGN)
    z = (frame.power - frame.power_analytic) / frame.std_error.where(frame.std_error > 0)
    res["max_abs_diff_power"] = round(float(np.max(np.abs(frame.power
                                                           - frame.power_analytic))), 4)
    res["max_abs_diff_in_mc_se"] = round(float(np.nanmax(np.abs(z))), 2)
    payload["cluster_500"] = res
    res, _ = _pair("multilevel, 100 sims x 16 designs", simulate_power, n_las=LAS,
                   parents_per_la=PARENTS, n_sims=100, seed=SEED, method="multilevel",
                   **DESIGN)
    payload["multilevel_100"] = res
    res, frame = _pair("synthetic PHQ-9, 50 sims x 2 designs", simulate_power_synthetic,
                       n_las=[8, 12], parents_per_la=[40], n_sims=50, seed=SEED)
    res["table"] = frame.round(4).to_dict(orient="records")
    payload["synthetic_50"] = res
    path = write_result("power", payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
