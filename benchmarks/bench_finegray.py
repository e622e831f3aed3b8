"""Benchmark: Fine-Gray regression with standard errors on the national synthetic data.

Builds a minimal time-to-event frame from ``generate("national", seed=20240601)``: one
row per parent who started; ``sessions`` = sessions attended (from ``attendance``);
``event`` 1 dropout, 2 completion, 0 ongoing (from ``exit_reason``); covariates
``relationship_status``, ``delivery_mode``, ``workless``, ``parent_age``; cluster
``la_code``. Times :func:`rpc_eval.engagement.finegray.fine_gray` (dropout as the event
of interest, robust SEs including the term for estimating G) as the median of 3 calls,
once more with the cluster-robust variance, and on 100,000 rows (the frame resampled
with replacement to exactly 100,000 parents).

Where ``Rscript`` is on PATH, times in the same run (R's own clock, data loading
excluded): ``cmprsk::crr`` on a 20,000-parent subsample (crr is quadratic in n; the
coefficients and SEs are compared with rpc_eval's on the same subsample),
``survival::finegray`` + ``coxph(weights = fgwt, cluster = id)`` on the full frame, and,
with ``--crr-full``, ``crr`` on the full frame (about 5 minutes). Writes
``results/finegray.json``.

    python benchmarks/bench_finegray.py [--crr-full] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_result  # noqa: E402

from rpc_eval.engagement.finegray import fine_gray  # noqa: E402
from rpc_eval.synthetic import generate  # noqa: E402

COVARIATES = ["relationship_status", "delivery_mode", "workless", "parent_age"]
SUBSAMPLE = 20_000
TARGET_SECONDS = 5.0

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(cmprsk); library(jsonlite)})
a <- commandArgs(TRUE)
d <- read.csv(a[1], stringsAsFactors = FALSE)
sub <- read.csv(a[2], stringsAsFactors = FALSE)
crr_full <- a[4] == "1"
design <- function(d) model.matrix(~ relationship_status + delivery_mode + workless +
                                     parent_age, data = d)[, -1, drop = FALSE]
out <- list()
x <- design(sub)
t0 <- proc.time()[["elapsed"]]
f <- crr(sub$sessions, sub$event, cov1 = x, failcode = 1, cencode = 0)
out$crr_sub <- list(seconds = proc.time()[["elapsed"]] - t0, n = nrow(sub),
                    coef = unname(f$coef), se = unname(sqrt(diag(f$var))),
                    converged = f$converged)
dd <- data.frame(id = seq_len(nrow(d)), time = d$sessions,
                 status = factor(d$event, 0:2, c("censor", "dropout", "completion")),
                 relationship_status = d$relationship_status,
                 delivery_mode = d$delivery_mode, workless = d$workless,
                 parent_age = d$parent_age)
t0 <- proc.time()[["elapsed"]]
fg <- finegray(Surv(time, status) ~ ., data = dd, etype = "dropout", id = id)
t1 <- proc.time()[["elapsed"]]
cx <- coxph(Surv(fgstart, fgstop, fgstatus) ~ relationship_status + delivery_mode +
              workless + parent_age, data = fg, weights = fgwt, cluster = id,
            ties = "breslow")
t2 <- proc.time()[["elapsed"]]
out$finegray_full <- list(seconds_finegray = t1 - t0, seconds_coxph = t2 - t1,
                          seconds = t2 - t0, n = nrow(d), rows_expanded = nrow(fg),
                          coef = unname(coef(cx)), se = unname(sqrt(diag(cx$var))))
if (crr_full) {
  x <- design(d)
  t0 <- proc.time()[["elapsed"]]
  f <- crr(d$sessions, d$event, cov1 = x, failcode = 1, cencode = 0)
  out$crr_full <- list(seconds = proc.time()[["elapsed"]] - t0, n = nrow(d),
                       coef = unname(f$coef), se = unname(sqrt(diag(f$var))),
                       converged = f$converged)
}
write_json(out, a[3], digits = NA, auto_unbox = TRUE)
"""


def time_to_event_frame(data) -> pd.DataFrame:
    """One row per parent who started: sessions attended, event code, covariates."""
    parents = data.parents
    started = parents[parents["exit_reason"] != "not_started"]
    att = data.attendance
    attended = att[att["attended"].fillna(False).astype(bool)]
    sessions = attended.groupby("parent_id").size()
    frame = started[["parent_id", "la_code", *COVARIATES, "exit_reason"]].copy()
    frame["sessions"] = frame["parent_id"].map(sessions).fillna(0).astype(int)
    frame["event"] = frame["exit_reason"].map(
        {"dropped_out": 1, "completed": 2, "ongoing": 0}).astype(int)
    frame["workless"] = frame["workless"].astype("float64")
    frame["parent_age"] = frame["parent_age"].astype("float64")
    frame = frame.dropna(subset=COVARIATES).reset_index(drop=True)
    return frame.drop(columns="exit_reason")


def fit(frame: pd.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fine_gray(frame, "sessions", "event", event_of_interest=1, covariates=COVARIATES, **kw)


def median_time(frame: pd.DataFrame, repeats: int, **kw) -> tuple[float, list[float], object]:
    fit(frame.iloc[:2000], **kw)  # warm-up (imports, first-call overheads)
    times = []
    result = None
    for _ in range(repeats):
        result, sec = timed(fit, frame, **kw)
        times.append(sec)
    return statistics.median(times), times, result


def max_rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def max_in_se(a, b, se) -> float:
    """Largest coefficient difference in units of its standard error."""
    a, b, se = (np.asarray(v, float) for v in (a, b, se))
    return float(np.max(np.abs(a - b) / se))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--crr-full", action="store_true",
                    help="also time cmprsk::crr on the full frame (about 5 minutes)")
    args = ap.parse_args()

    (data, _), t_gen = timed(generate, "national", seed=args.seed)
    frame, t_frame = timed(time_to_event_frame, data)
    counts = frame["event"].value_counts().sort_index()

    sec, all_sec, res = median_time(frame, args.repeats)
    sec_cl, all_cl, res_cl = median_time(frame, args.repeats, cluster="la_code")
    rng = np.random.default_rng(args.seed)
    big = frame.iloc[rng.integers(0, len(frame), 100_000)].reset_index(drop=True)
    sec_100k, all_100k, res_100k = median_time(big, args.repeats)
    result = {
        "note": "crr runs at its defaults (gtol 1e-6, maxiter 10) and stops a little short "
                "of the optimum rpc_eval converges to (the relative gap is largest for the "
                "small parent_age coefficient); max_diff_coef_in_se shows it is negligible",
        "data": {"scale": "national", "seed": args.seed, "n_parents_started": len(frame),
                 "events": {str(k): int(v) for k, v in counts.items()},
                 "covariates": COVARIATES, "terms": list(res.coefficients["term"]),
                 "seconds_generate": round(t_gen, 2), "seconds_frame": round(t_frame, 2)},
        "python": {
            "fine_gray_seconds": round(sec, 4), "fine_gray_all_seconds": [round(s, 4) for s in all_sec],
            "iterations": res.n_iter, "converged": res.converged,
            "cluster_seconds": round(sec_cl, 4), "n_clusters": res_cl.n_clusters,
            "n100k_seconds": round(sec_100k, 4), "n100k_all_seconds": [round(s, 4) for s in all_100k],
            "target_seconds": TARGET_SECONDS,
            "meets_target": bool(max(sec, sec_cl, sec_100k) < TARGET_SECONDS),
            "coef": res.coefficients["estimate"].round(6).tolist(),
            "se": res.coefficients["std_error"].round(6).tolist(),
            "se_cluster": res_cl.coefficients["std_error"].round(6).tolist(),
        },
    }

    if shutil.which("Rscript"):
        sub = frame.iloc[np.sort(rng.choice(len(frame), SUBSAMPLE, replace=False))]
        res_sub, sec_sub = timed(fit, sub)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            frame.to_csv(tmp / "full.csv", index=False)
            sub.to_csv(tmp / "sub.csv", index=False)
            (tmp / "bench.R").write_text(R_SCRIPT, encoding="utf-8")
            proc = subprocess.run(
                ["Rscript", str(tmp / "bench.R"), str(tmp / "full.csv"), str(tmp / "sub.csv"),
                 str(tmp / "out.json"), "1" if args.crr_full else "0"],
                capture_output=True, text=True)
            if proc.returncode:
                result["r"] = {"error": proc.stderr[-2000:]}
            else:
                r = json.loads((tmp / "out.json").read_text())
                crr_sub, fgr = r["crr_sub"], r["finegray_full"]
                result["r"] = {
                    "crr_subsample": {
                        "n": crr_sub["n"], "seconds": crr_sub["seconds"],
                        "python_seconds_same_subsample": round(sec_sub, 4),
                        "ratio_r_over_python": round(crr_sub["seconds"] / sec_sub, 1),
                        "max_rel_diff_coef": max_rel(res_sub.coefficients["estimate"], crr_sub["coef"]),
                        "max_diff_coef_in_se": max_in_se(res_sub.coefficients["estimate"],
                                                         crr_sub["coef"], crr_sub["se"]),
                        "max_rel_diff_se": max_rel(res_sub.coefficients["std_error"], crr_sub["se"]),
                    },
                    "finegray_coxph_full": {
                        "n": fgr["n"], "rows_expanded": fgr["rows_expanded"],
                        "seconds": fgr["seconds"], "seconds_finegray": fgr["seconds_finegray"],
                        "seconds_coxph": fgr["seconds_coxph"],
                        "ratio_r_over_python": round(fgr["seconds"] / sec, 1),
                        "max_rel_diff_coef_vs_python": max_rel(res.coefficients["estimate"], fgr["coef"]),
                        "max_diff_coef_in_se_vs_python": max_in_se(res.coefficients["estimate"],
                                                                   fgr["coef"], fgr["se"]),
                        "max_rel_diff_se_vs_python": max_rel(res.coefficients["std_error"], fgr["se"]),
                        "note": "finegray's G uses other tie conventions and its robust SE "
                                "omits the term for estimating G: differences expected",
                    },
                }
                if "crr_full" in r:
                    cf = r["crr_full"]
                    result["r"]["crr_full"] = {
                        "n": cf["n"], "seconds": cf["seconds"], "converged": cf["converged"],
                        "ratio_r_over_python": round(cf["seconds"] / sec, 1),
                        "max_rel_diff_coef": max_rel(res.coefficients["estimate"], cf["coef"]),
                        "max_diff_coef_in_se": max_in_se(res.coefficients["estimate"], cf["coef"],
                                                         cf["se"]),
                        "max_rel_diff_se": max_rel(res.coefficients["std_error"], cf["se"]),
                        "se_crr": cf["se"],
                    }
    else:
        result["r"] = None
    path = write_result("finegray", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
