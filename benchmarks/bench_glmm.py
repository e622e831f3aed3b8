"""Time the GLMM nationally: one random intercept (adaptive Gauss-Hermite, 10 nodes) and
nested random intercepts (Laplace), each against glmer in the same run.

Run from the repository root::

    python benchmarks/bench_glmm.py           # also times R where Rscript is on PATH
    python benchmarks/bench_glmm.py --no-r
    python benchmarks/bench_glmm.py --only nested   # keep the other part's last figures

Data: ``rpc_eval.synthetic.generate("national", seed=20240601)``; parents who started
(``exit_reason != "not_started"``). Models: completed (``exit_reason == "completed"``) ~
intervention + workless with

* ``(1 | la_code)``, ``n_agq = 10`` (top-level keys of the result), and
* ``(1 | la_code/family_id)``, parents within families within LAs, Laplace (glmer's
  ``nAGQ = 1``, its only choice for nested terms; the ``nested`` key).

``fit_glmm`` is timed once to warm up, then the median of three. Where ``Rscript`` is
on PATH the same frame is written to a temporary CSV and ``lme4::glmer(...,
family = binomial)`` (default control) is timed in the same run (R's ``system.time``
elapsed of the fit only: median of three for one intercept; one fit for the nested
model, which takes glmer several minutes); estimates, SEs, variances and logLik are
compared and the ratio R / Python recorded (nested: also of CPU seconds, user + system,
which a busy machine disturbs less than elapsed time). Writes
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
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, timed, write_result  # noqa: E402

from rpc_eval.multilevel.glmm import fit_glmm  # noqa: E402
from rpc_eval.synthetic import generate  # noqa: E402

SEED = 20240601
FORMULA = "completed ~ intervention + workless"

NESTED = ["la_code", "family_id"]

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


R_NESTED = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$intervention <- factor(d$intervention, levels = sort(unique(d$intervention), method = "radix"))
tm <- system.time(fit <- glmer(completed ~ intervention + workless
                               + (1 | la_code/family_id), data = d, family = binomial))
times <- unname(tm["elapsed"])
cpu <- unname(tm["user.self"] + tm["sys.self"])
vc <- as.data.frame(VarCorr(fit))
cat(toJSON(list(seconds = median(times), all = times, cpu_seconds = cpu,
                estimate = unname(fixef(fit)), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
                terms = names(fixef(fit)), vc_group = vc$grp, variance = vc$vcov,
                loglik = as.numeric(logLik(fit)), singular = isSingular(fit),
                messages = fit@optinfo$conv$lme4$messages),
           digits = NA, auto_unbox = TRUE))
"""


def _rscript(script: str, d) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "glmm.csv"
        path = Path(tmp) / "glmm.R"
        d.to_csv(csv, index=False)
        path.write_text(script)
        out = subprocess.run(["Rscript", str(path), str(csv)], capture_output=True,
                             text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def nested(d, with_r: bool) -> dict:
    """The nested fit, (1 | la_code/family_id) by Laplace, against glmer."""
    fit_glmm(d, FORMULA, groups=NESTED)  # warm-up
    times, cpu = [], []
    for _ in range(3):
        c0 = time.process_time()
        res, sec = timed(fit_glmm, d, FORMULA, groups=NESTED)
        cpu.append(time.process_time() - c0)
        times.append(sec)
    py_sec = statistics.median(times)
    vc = res.variance_components.set_index("group")
    out = {
        "model": FORMULA + " + (1 | la_code/family_id), binomial, Laplace",
        "n_obs": res.n_obs, "n_groups": res.n_groups,
        "python_seconds": py_sec, "python_all": times,
        "python_cpu_seconds": statistics.median(cpu), "python_loglik": res.loglik,
        "python_converged": res.converged, "python_variance": vc["variance"].to_dict(),
        "python_estimates": dict(zip(res.fixed_effects["term"],
                                     res.fixed_effects["estimate"], strict=True)),
    }
    if with_r:
        r = _rscript(R_NESTED, d)
        rv = dict(zip(r["vc_group"], r["variance"], strict=True))
        ours = res.fixed_effects
        out.update({
            "r_seconds": r["seconds"], "r_all": r["all"], "r_loglik": r["loglik"],
            "r_variance": rv, "r_singular": r["singular"], "r_messages": r["messages"],
            "r_cpu_seconds": r["cpu_seconds"],
            "ratio_r_over_python": r["seconds"] / py_sec,
            "ratio_r_over_python_cpu": r["cpu_seconds"] / statistics.median(cpu),
            "max_abs_diff_estimates": float(np.max(np.abs(
                ours["estimate"].to_numpy() - np.array(r["estimate"])))),
            "max_rel_diff_se": float(np.max(np.abs(
                ours["std_error"].to_numpy() / np.array(r["se"]) - 1))),
            "max_abs_diff_variance": float(max(abs(vc.loc[k, "variance"] - v)
                                               for k, v in rv.items())),
            "loglik_diff": res.loglik - r["loglik"],
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--only", choices=["single", "nested"],
                    help="time one part; the other part's figures are kept from the "
                         "last results file (its date stays on it)")
    args = ap.parse_args()
    with_r = not args.no_r and shutil.which("Rscript") is not None
    data, _ = generate("national", seed=SEED)
    p = data.parents
    d = p.loc[p["exit_reason"] != "not_started",
              ["la_code", "family_id", "intervention", "workless", "exit_reason"]].copy()
    d["completed"] = (d["exit_reason"] == "completed").astype(int)
    d["workless"] = d["workless"].astype(float)
    d = d.drop(columns="exit_reason").dropna().reset_index(drop=True)

    previous = {}
    last = RESULTS / "glmm.json"
    if args.only and last.exists():
        previous = json.loads(last.read_text())
    if args.only == "single":
        nested_part = previous.get("nested")
    else:
        nested_part = nested(d, with_r)
        nested_part["date"] = time.strftime("%Y-%m-%d %H:%M")
    if args.only == "nested" and previous:
        payload = {k: v for k, v in previous.items()
                   if k not in ("benchmark", "date", "machine", "nested")}
        payload["single_date"] = previous.get("single_date", previous.get("date"))
        payload["nested"] = nested_part
        path = write_result("glmm", payload)
        print(json.dumps({k: v for k, v in nested_part.items() if not isinstance(v, dict)},
                         indent=2))
        print("wrote", path)
        return

    fit_glmm(d, FORMULA, groups="la_code", n_agq=10)  # warm-up
    times = []
    for _ in range(3):
        res, sec = timed(fit_glmm, d, FORMULA, groups="la_code", n_agq=10)
        times.append(sec)
    py_sec = statistics.median(times)
    payload = {
        "data": f"generate('national', seed={SEED}), parents who started",
        "single_date": time.strftime("%Y-%m-%d %H:%M"),
        "model": FORMULA + " + (1 | la_code), binomial, n_agq = 10",
        "n_obs": res.n_obs, "n_groups": res.n_groups,
        "python_seconds": py_sec, "python_all": times,
        "python_loglik": res.loglik,
        "python_variance": float(res.variance_components["variance"].iloc[0]),
        "python_estimates": dict(zip(res.fixed_effects["term"],
                                     res.fixed_effects["estimate"], strict=True)),
    }
    if with_r:
        r = _rscript(R_SCRIPT, d.drop(columns="family_id"))
        ours = res.fixed_effects["estimate"].to_numpy()
        payload.update({
            "r_seconds": r["seconds"], "r_all": r["all"], "r_loglik": r["loglik"],
            "r_variance": r["variance"],
            "ratio_r_over_python": r["seconds"] / py_sec,
            # patsy and R order the terms alike: intercept, intervention levels, workless
            "max_abs_diff_estimates": float(np.max(np.abs(ours - np.array(r["estimate"])))),
            "loglik_diff": res.loglik - r["loglik"],
        })
    payload["nested"] = nested_part
    path = write_result("glmm", payload)
    print(json.dumps({k: v for k, v in payload.items() if not isinstance(v, dict)},
                     indent=2))
    if nested_part:
        print(json.dumps({k: v for k, v in nested_part.items() if not isinstance(v, dict)},
                         indent=2))
    print("wrote", path)


if __name__ == "__main__":
    main()
