"""Time the random-intercept logistic GLMM (adaptive Gauss-Hermite, 10 nodes) nationally.

Run from the repository root::

    python benchmarks/bench_glmm.py           # also times R where Rscript is on PATH
    python benchmarks/bench_glmm.py --no-r

Data: ``rpc_eval.synthetic.generate("national", seed=20240601)``; parents who started
(``exit_reason != "not_started"``). Model: completed (``exit_reason == "completed"``) ~
intervention + workless + (1 | la_code), ``n_agq = 10``. ``fit_glmm`` is timed once to
warm up, then the median of three. Where ``Rscript`` is on PATH the same frame is
written to a temporary CSV and ``lme4::glmer(..., family = binomial, nAGQ = 10)`` (default
control) is timed in the same run (R's ``system.time`` elapsed of the fit only, median
of three); estimates are compared and the ratio R / Python recorded. Writes
``benchmarks/results/glmm.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_result  # noqa: E402

from rpc_eval.multilevel.glmm import fit_glmm  # noqa: E402
from rpc_eval.synthetic import generate  # noqa: E402

SEED = 20240601
FORMULA = "completed ~ intervention + workless"

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$intervention <- factor(d$intervention, levels = sort(unique(d$intervention), method = "radix"))
times <- numeric(0)
for (i in 1:3) {
  tm <- system.time(fit <- glmer(completed ~ intervention + workless + (1 | la_code),
                                 data = d, family = binomial, nAGQ = 10))
  times <- c(times, unname(tm["elapsed"]))
}
cat(toJSON(list(seconds = median(times), all = times, estimate = unname(fixef(fit)),
                terms = names(fixef(fit)), variance = as.data.frame(VarCorr(fit))$vcov[1],
                loglik = as.numeric(logLik(fit))), digits = NA, auto_unbox = TRUE))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    data, _ = generate("national", seed=SEED)
    p = data.parents
    d = p.loc[p["exit_reason"] != "not_started",
              ["la_code", "intervention", "workless", "exit_reason"]].copy()
    d["completed"] = (d["exit_reason"] == "completed").astype(int)
    d["workless"] = d["workless"].astype(float)
    d = d.drop(columns="exit_reason").dropna().reset_index(drop=True)

    fit_glmm(d, FORMULA, groups="la_code", n_agq=10)  # warm-up
    times = []
    for _ in range(3):
        res, sec = timed(fit_glmm, d, FORMULA, groups="la_code", n_agq=10)
        times.append(sec)
    py_sec = statistics.median(times)
    payload = {
        "data": f"generate('national', seed={SEED}), parents who started",
        "model": FORMULA + " + (1 | la_code), binomial, n_agq = 10",
        "n_obs": res.n_obs, "n_groups": res.n_groups,
        "python_seconds": py_sec, "python_all": times,
        "python_loglik": res.loglik,
        "python_variance": float(res.variance_components["variance"].iloc[0]),
        "python_estimates": dict(zip(res.fixed_effects["term"],
                                     res.fixed_effects["estimate"], strict=True)),
    }
    if not args.no_r and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "glmm.csv"
            script = Path(tmp) / "glmm.R"
            d.to_csv(csv, index=False)
            script.write_text(R_SCRIPT)
            out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True,
                                 text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ours = res.fixed_effects["estimate"].to_numpy()
        payload.update({
            "r_seconds": r["seconds"], "r_all": r["all"], "r_loglik": r["loglik"],
            "r_variance": r["variance"],
            "ratio_r_over_python": r["seconds"] / py_sec,
            # patsy and R order the terms alike: intercept, intervention levels, workless
            "max_abs_diff_estimates": float(np.max(np.abs(ours - np.array(r["estimate"])))),
            "loglik_diff": res.loglik - r["loglik"],
        })
    path = write_result("glmm", payload)
    print(json.dumps({k: v for k, v in payload.items() if not isinstance(v, dict)},
                     indent=2))
    print("wrote", path)


if __name__ == "__main__":
    main()
