"""Benchmark: nested random-intercept linear mixed model at national scale.

Run from the repository root::

    python benchmarks/bench_lmm.py           # also times lme4 where Rscript is on PATH
    python benchmarks/bench_lmm.py --no-r

Data: ``rpc_eval.synthetic.generate("national", seed=20240601)``; PHQ-9 total scores
(parent respondents, valid scores) at baseline, end and the 6- and 12-month follow-ups,
joined to ``parents`` for ``la_code`` and ``intervention``. Model (REML)::

    score ~ wave * intervention + (1 | la_code/parent_id)

:func:`rpc_eval.multilevel.lmm.fit_lmm` is timed as the median of three calls (patsy
design, optimisation, Satterthwaite df and BLUPs included). Where ``Rscript`` is on
PATH the same rows go to a temporary CSV and ``lme4::lmer`` is timed in R on the same
run (``system.time`` elapsed of the fit only, median of three; reading the CSV and
building factors excluded), its fixed effects and logLik are compared with ours, and
the ratio R / Python is recorded. The same rows are then fitted with random intercepts
and slopes over time by LA, ``score ~ t + intervention + (1 + t | la_code)`` (``t`` the
wave number 0-3), against ``lmer`` in the same way (``random_slopes`` in the result).
Writes ``benchmarks/results/lmm.json``.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, write_result  # noqa: E402

from rpc_eval.instruments import score_responses  # noqa: E402
from rpc_eval.multilevel.lmm import fit_lmm  # noqa: E402
from rpc_eval.synthetic import generate  # noqa: E402

SEED = 20240601
FORMULA = "score ~ wave * intervention"
WAVES = ["baseline", "end", "followup_6m", "followup_12m"]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$wave <- factor(d$wave, levels = c("baseline", "end", "followup_6m", "followup_12m"))
d$intervention <- factor(d$intervention)
times <- numeric(0)
for (i in 1:3) {
  tm <- system.time(fit <- lmer(score ~ wave * intervention + (1 | la_code/parent_id),
                                data = d, REML = TRUE))
  times <- c(times, tm[["elapsed"]])
}
vc <- as.data.frame(VarCorr(fit))
cat(toJSON(list(seconds = times, estimate = unname(fixef(fit)), terms = names(fixef(fit)),
                loglik = as.numeric(logLik(fit)), vc_group = vc$grp, vc_variance = vc$vcov),
           digits = NA, auto_unbox = TRUE))
"""


SLOPES_FORMULA = "score ~ t + intervention"
R_SLOPES = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$intervention <- factor(d$intervention)
times <- numeric(0)
for (i in 1:3) {
  tm <- system.time(fit <- lmer(score ~ t + intervention + (1 + t | la_code), data = d,
                                REML = TRUE))
  times <- c(times, tm[["elapsed"]])
}
vc <- as.data.frame(VarCorr(fit))
cat(toJSON(list(seconds = times, estimate = unname(fixef(fit)),
                loglik = as.numeric(logLik(fit)), vc_variance = vc$vcov),
           digits = NA, auto_unbox = TRUE))
"""


def bench_slopes(frame, use_r: bool) -> dict:
    """Random intercepts and slopes over time by LA: ``(1 + t | la_code)``."""
    d = frame.assign(t=frame["wave"].str.split("_", n=1).str[0].astype(int))
    times = []
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit, secs = timed(fit_lmm, d, SLOPES_FORMULA, "la_code", re_formula="~t")
        times.append(secs)
    py = statistics.median(times)
    print(f"fit_lmm random slopes: {py:.2f} s (median of 3: {[round(t, 2) for t in times]})")
    out = {"model": SLOPES_FORMULA + " + (1 + t | la_code), REML",
           "python_seconds_median": round(py, 3),
           "python_seconds_all": [round(t, 3) for t in times], "loglik_python": fit.loglik}
    if use_r:
        with tempfile.TemporaryDirectory() as tmp:
            csv, script = Path(tmp) / "slopes.csv", Path(tmp) / "slopes.R"
            d[["la_code", "intervention", "t", "score"]].to_csv(csv, index=False)
            script.write_text(R_SLOPES)
            res = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True,
                                 text=True, check=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rsec = statistics.median(r["seconds"])
        vc = fit.variance_components["variance"].to_numpy()
        out.update({"r_seconds_median": round(rsec, 3), "r_seconds_all": r["seconds"],
                    "ratio_r_over_python": round(rsec / py, 2), "loglik_r": r["loglik"],
                    "loglik_diff_python_minus_r": fit.loglik - r["loglik"],
                    "fixed_effects_max_abs_diff_sorted": float(np.max(np.abs(
                        np.sort(fit.fixed_effects["estimate"]) - np.sort(r["estimate"])))),
                    "variance_max_abs_diff": float(np.max(np.abs(vc - np.asarray(
                        r["vc_variance"]))))})
        print(f"lme4::lmer random slopes: {rsec:.2f} s; ratio R/Python {rsec / py:.1f}; "
              f"logLik ours - R {fit.loglik - r['loglik']:.2e}")
    return out


def build_rows():
    data, _ = generate("national", seed=SEED)
    resp = data.responses[(data.responses.instrument == "phq9")
                          & (data.responses.respondent == "parent")]
    scores = score_responses(resp, data.instruments)
    scores = scores[scores.valid & (scores.scale == "total") & scores.wave.isin(WAVES)]
    frame = scores.merge(data.parents[["parent_id", "la_code", "intervention"]], on="parent_id")
    frame = frame[["la_code", "parent_id", "intervention", "wave", "score"]].copy()
    frame["wave"] = frame["wave"].astype(str)
    frame["wave"] = frame["wave"].map({w: f"{i}_{w}" for i, w in enumerate(WAVES)})
    return frame.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args()
    frame = build_rows()
    print(f"{len(frame):,} rows, {frame.parent_id.nunique():,} parents, "
          f"{frame.la_code.nunique()} LAs")
    times = []
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit, secs = timed(fit_lmm, frame, FORMULA, ["la_code", "parent_id"])
        times.append(secs)
    py = statistics.median(times)
    print(f"fit_lmm: {py:.2f} s (median of 3: {[round(t, 2) for t in times]})")
    payload = {
        "model": FORMULA + " + (1 | la_code/parent_id), REML",
        "rows": len(frame), "parents": int(frame.parent_id.nunique()),
        "las": int(frame.la_code.nunique()), "fixed_effects": len(fit.fixed_effects),
        "python_seconds_median": round(py, 3), "python_seconds_all": [round(t, 3) for t in times],
        "loglik_python": fit.loglik,
    }
    if not args.no_r and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "lmm.csv"
            script = Path(tmp) / "lmm.R"
            out = frame.copy()
            out["wave"] = out["wave"].str.split("_", n=1).str[1]
            out.to_csv(csv, index=False)
            script.write_text(R_SCRIPT)
            res = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True,
                                 text=True, check=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rsec = statistics.median(r["seconds"])
        ours = fit.fixed_effects.set_index("term")["estimate"]
        # align R names (waveend, interventionX) with patsy's (wave[T.1_end], ...)
        py_est = np.asarray(ours.to_numpy())
        r_est = np.asarray(r["estimate"])
        order_ok = len(py_est) == len(r_est)
        max_abs = float(np.max(np.abs(np.sort(py_est) - np.sort(r_est)))) if order_ok else None
        payload.update({
            "r_seconds_median": round(rsec, 3), "r_seconds_all": r["seconds"],
            "ratio_r_over_python": round(rsec / py, 2),
            "loglik_r": r["loglik"],
            "loglik_abs_diff": abs(r["loglik"] - fit.loglik),
            "fixed_effects_max_abs_diff_sorted": max_abs,
            "r_variance_components": dict(zip(r["vc_group"], r["vc_variance"], strict=True)),
            "python_variance_components": dict(zip(fit.variance_components.component,
                                                   fit.variance_components.variance.round(8),
                                                   strict=True)),
        })
        print(f"lme4::lmer: {rsec:.2f} s; ratio R/Python {rsec / py:.1f}; "
              f"logLik diff {abs(r['loglik'] - fit.loglik):.2e}")
    payload["random_slopes"] = bench_slopes(frame, not args.no_r and bool(shutil.which("Rscript")))
    path = write_result("lmm", payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
