"""Time a cluster-robust cause-specific Cox model for dropout at national scale.

Run from the repository root::

    python benchmarks/bench_cox.py               # also times R where Rscript is on PATH
    python benchmarks/bench_cox.py --no-r

Data: ``rpc_eval.synthetic.generate("national", seed=20240601)`` (100,000 parents in
about 150 LAs). A minimal time-to-event frame is built here (the official builder is
``rpc_eval.engagement.timetoevent``): one row per parent who started, ``sessions`` =
sessions attended (discrete, so heavily tied), ``event`` = 1 dropped out, 2 completed,
0 still attending. The model: dropout ~ intervention + relationship_status + workless +
parent_age + child_age (5 covariates, 11 coefficients; delivery_mode is left out because
the synthetic digital programmes are always self-guided, which makes it collinear with
intervention), Efron ties, cluster-robust SEs by ``la_code``. It is timed on the
national frame (parents who started) and on 100,000 rows resampled from it (seeded),
one warm-up call then the median of three.

Where ``Rscript`` is on PATH, the same frames are written to temporary CSV files and
``coxph(Surv(sessions, event == 1) ~ ..., cluster = la_code)`` is timed in R in the same
run (R's own ``system.time`` elapsed, CSV reading excluded; median of three), its
coefficients and robust SEs are compared with ours, and the ratio R / Python is
recorded. For context R also times the model without ``cluster`` and with Breslow ties:
R's Efron fit is fast, but its Efron score residuals (``coxscore2``, needed for the
robust variance) loop over every tied event times every later subject, which is slow
when thousands of parents share each session count. Wall-clock times depend on other
work on the machine; the CPU seconds of the Python fits are recorded too. Writes
``benchmarks/results/cox.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_result  # noqa: E402

from rpc_eval.engagement.cox import fit_cox  # noqa: E402
from rpc_eval.synthetic import generate  # noqa: E402

SEED = 20240601
TARGET_SECONDS = 2.0
COVARIATES = ["intervention", "relationship_status", "workless", "parent_age", "child_age"]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
for (v in c("intervention", "relationship_status"))
  d[[v]] <- factor(d[[v]], levels = sort(unique(d[[v]]), method = "radix"))
f <- Surv(sessions, event == 1) ~ intervention + relationship_status + workless +
  parent_age + child_age
times <- numeric(0)
for (i in 1:3) {
  tm <- system.time(fit <- coxph(f, data = d, ties = "efron", cluster = la_code))
  times <- c(times, unname(tm["elapsed"]))
}
# context: the same model without cluster (no score residuals needed), and with Breslow
# ties (whose score residuals are cheap in survival's coxscore2)
efron_plain <- breslow_cluster <- numeric(0)
for (i in 1:3) {
  efron_plain <- c(efron_plain,
                   system.time(coxph(f, data = d, ties = "efron"))[["elapsed"]])
  breslow_cluster <- c(breslow_cluster, system.time(
    coxph(f, data = d, ties = "breslow", cluster = la_code))[["elapsed"]])
}
efron_plain <- median(efron_plain)
breslow_cluster <- median(breslow_cluster)
cat(toJSON(list(seconds = times, efron_no_cluster = efron_plain,
                breslow_cluster = breslow_cluster, coef = unname(coef(fit)),
                robust_se = unname(sqrt(diag(fit$var))), loglik = fit$loglik[2],
                version = as.character(packageVersion("survival"))),
           digits = NA, auto_unbox = TRUE))
"""


def time_to_event_frame(data) -> pd.DataFrame:
    """One row per parent who started: sessions attended, event code, covariates."""
    parents = data.parents
    started = parents[parents["exit_reason"] != "not_started"].copy()
    att = data.attendance
    attended = att.loc[att["attended"].fillna(False).astype(bool)].groupby("parent_id").size()
    started["sessions"] = started["parent_id"].map(attended).fillna(0).astype("int64")
    started["event"] = started["exit_reason"].map(
        {"dropped_out": 1, "completed": 2, "ongoing": 0}).astype("int64")
    started["workless"] = started["workless"].astype("float64")
    started["parent_age"] = started["parent_age"].astype("float64")
    started["child_age"] = started["child_age"].astype("float64")
    cols = ["parent_id", "la_code", *COVARIATES, "sessions", "event"]
    return started[cols].dropna().reset_index(drop=True)


def fit(frame: pd.DataFrame):
    return fit_cox(frame, "sessions", "event", covariates=COVARIATES, event_of_interest=1,
                   cluster="la_code", ties="efron")


def time_python(frame: pd.DataFrame, repeats: int) -> dict:
    fit(frame)  # warm-up
    wall, cpu, res = [], [], None
    for _ in range(repeats):
        c0 = time.process_time()
        res, sec = timed(fit, frame)
        wall.append(sec)
        cpu.append(time.process_time() - c0)
    return {"seconds_median": round(statistics.median(wall), 4),
            "seconds_all": [round(t, 4) for t in wall],
            "cpu_seconds_median": round(statistics.median(cpu), 4),
            "n_iter": res.n_iter, "_result": res}


def time_r(frame: pd.DataFrame, result, workdir: Path, tag: str) -> dict | None:
    if not shutil.which("Rscript"):
        return None
    csv = workdir / f"{tag}.csv"
    frame.to_csv(csv, index=False)
    script = workdir / "cox_bench.R"
    script.write_text(R_SCRIPT, encoding="utf-8")
    out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"the R timing failed:\n{out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    tab = result.coefficients
    coef, rse = tab["estimate"].to_numpy(), tab["std_error"].to_numpy()
    return {
        "seconds_median": round(statistics.median(r["seconds"]), 4),
        "seconds_all": [round(t, 4) for t in r["seconds"]],
        "context_efron_no_cluster_seconds": round(r["efron_no_cluster"], 4),
        "context_breslow_cluster_seconds": round(r["breslow_cluster"], 4),
        "survival_version": r["version"],
        "max_rel_diff_coef": float(np.max(np.abs(coef - r["coef"]) / np.abs(r["coef"]))),
        "max_rel_diff_robust_se": float(np.max(np.abs(rse - r["robust_se"])
                                               / np.abs(r["robust_se"]))),
        "loglik_diff": float(result.loglik - r["loglik"]),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (median reported)")
    parser.add_argument("--no-r", action="store_true", help="skip the R timing")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    data, _ = generate("national", seed=SEED)
    frame = time_to_event_frame(data)
    gen_seconds = time.perf_counter() - t0
    rng = np.random.default_rng(SEED)
    frame_100k = frame.iloc[rng.integers(0, len(frame), 100_000)].reset_index(drop=True)

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tag, fr in (("national_started", frame), ("resampled_100k", frame_100k)):
            py = time_python(fr, args.repeats)
            res = py.pop("_result")
            r = None if args.no_r else time_r(fr, res, Path(tmp), tag)
            runs[tag] = {
                "n_rows": len(fr),
                "n_events": res.n_events,
                "n_clusters": res.n_clusters,
                "n_coefficients": len(res.coefficients),
                "n_distinct_times": int(fr["sessions"].nunique()),
                "python": py,
                "r": r,
                "ratio_r_over_python": (round(r["seconds_median"] / py["seconds_median"], 2)
                                        if r else None),
                "meets_target": py["seconds_median"] < TARGET_SECONDS,
            }
            print(f"{tag}: n = {len(fr):,}, events = {res.n_events:,}, "
                  f"{len(res.coefficients)} coefficients, {res.n_clusters} clusters: "
                  f"Python {py['seconds_median']:.3f} s"
                  + (f", R {r['seconds_median']:.3f} s (ratio {r['seconds_median'] / py['seconds_median']:.1f}x; "
                     f"max rel diff coef {r['max_rel_diff_coef']:.1e}, robust se "
                     f"{r['max_rel_diff_robust_se']:.1e})" if r else ""), flush=True)

    payload = {
        "description": "rpc_eval.engagement.cox.fit_cox, cause-specific (dropout) Cox, Efron "
                       "ties, cluster-robust SEs by la_code; sessions attended as time",
        "data": f"rpc_eval.synthetic.generate('national', seed={SEED})",
        "covariates": COVARIATES,
        "data_seconds": round(gen_seconds, 2),
        "target_seconds": TARGET_SECONDS,
        "runs": runs,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    path = write_result("cox", payload)
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main()
