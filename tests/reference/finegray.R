# Reference values for rpc_eval.engagement.finegray (tests/test_engagement_finegray.py).
#
# Run from the repository root (after make_engagement_data.py wrote the CSVs):
#   Rscript tests/reference/finegray.R
# Writes tests/reference/finegray.json (full precision, jsonlite digits = NA).
#
# Datasets: engagement_small.csv (duration `days`, few ties) and engagement_ties.csv
# (duration `sessions`, 0..12, heavy ties, censorings and events at time 0).
# Covariates: group (treatment dummies, first level alphabetically the reference, as
# R's factor()), age, workless. For each dataset and each cause (1 dropout,
# 2 completion) as the event of interest:
#   crr        cmprsk::crr(ftime, fstatus, cov1, failcode, cencode = 0) at its defaults
#              (gtol 1e-6, maxiter 10): coef, var (robust Fine-Gray sandwich incl. the
#              term for estimating G), invinf (naive), loglik, loglik.null, converged,
#              baseline jumps (uftime, bfitj)
#   crr_tight  the same with gtol = 1e-12, maxiter = 50 (Newton-Raphson run to the end;
#              what rpc_eval converges to)
#   predict    predict.crr(crr_tight, cov1 = profiles): CIF at every distinct time of
#              the event of interest, for three covariate profiles
#   cengroup   crr_tight with censoring groups (cengroup = workless): G estimated by KM
#              within each group
#   finegray   survival::finegray(etype = cause) + coxph(Surv(fgstart, fgstop,
#              fgstatus) ~ ..., weights = fgwt, cluster = id, ties = "breslow"):
#              coef, naive and robust SEs; also ties = "efron" (coxph's default) coef
# plus a cluster-robust run is NOT possible in crr (no such option): the cluster
# version is tested by simulation in the Python tests.
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

design <- function(d) {
  d$group <- factor(d$group)
  m <- model.matrix(~ group + age + workless, data = d)[, -1, drop = FALSE]
  m
}

profiles_for <- function(levels) {
  p <- data.frame(
    group = factor(levels[c(1, 2, length(levels))], levels = levels),
    age = c(35, 30, 45),
    workless = c(0, 1, 0)
  )
  p
}

fit_one <- function(d, time, cause) {
  x <- design(d)
  ftime <- d[[time]]
  fstatus <- d$event
  t0 <- proc.time()[["elapsed"]]
  f0 <- crr(ftime, fstatus, cov1 = x, failcode = cause, cencode = 0)
  el <- proc.time()[["elapsed"]] - t0
  ft <- crr(ftime, fstatus, cov1 = x, failcode = cause, cencode = 0,
            gtol = 1e-12, maxiter = 50)
  levels <- levels(factor(d$group))
  prof <- profiles_for(levels)
  pm <- model.matrix(~ group + age + workless, data = prof)[, -1, drop = FALSE]
  pr <- predict(ft, cov1 = pm)
  cg <- crr(ftime, fstatus, cov1 = x, failcode = cause, cencode = 0,
            cengroup = d$workless, gtol = 1e-12, maxiter = 50)

  # survival::finegray + weighted coxph (the survival package's own route)
  dd <- data.frame(id = d$parent_id, time = ftime,
                   status = factor(d$event, levels = c(0, 1, 2),
                                   labels = c("censor", "dropout", "completion")),
                   group = factor(d$group), age = d$age, workless = d$workless)
  etype <- c("dropout", "completion")[cause]
  fg <- finegray(Surv(time, status) ~ ., data = dd, etype = etype, id = id)
  cb <- coxph(Surv(fgstart, fgstop, fgstatus) ~ group + age + workless,
              data = fg, weights = fgwt, cluster = id, ties = "breslow")
  ce <- coxph(Surv(fgstart, fgstop, fgstatus) ~ group + age + workless,
              data = fg, weights = fgwt, cluster = id)

  list(
    cause = cause,
    terms = colnames(x),
    n = f0$n,
    n_events = sum(fstatus == cause),
    crr = list(
      coef = unname(f0$coef), var = unname(f0$var), invinf = unname(f0$invinf),
      loglik = f0$loglik, loglik_null = f0$loglik.null, converged = f0$converged,
      elapsed = el
    ),
    crr_tight = list(
      coef = unname(ft$coef), var = unname(ft$var), se = unname(sqrt(diag(ft$var))),
      invinf = unname(ft$invinf), loglik = ft$loglik, loglik_null = ft$loglik.null,
      converged = ft$converged, uftime = ft$uftime, bfitj = ft$bfitj
    ),
    predict = list(
      profiles = list(group = as.character(prof$group), age = prof$age,
                      workless = prof$workless),
      time = unname(pr[, 1]),
      cif = unname(pr[, -1, drop = FALSE])
    ),
    cengroup = list(
      by = "workless", coef = unname(cg$coef), var = unname(cg$var),
      loglik = cg$loglik
    ),
    finegray = list(
      coef_breslow = unname(coef(cb)),
      se_naive_breslow = unname(sqrt(diag(cb$naive.var))),
      se_robust_breslow = unname(sqrt(diag(cb$var))),
      coef_efron = unname(coef(ce)),
      se_robust_efron = unname(sqrt(diag(ce$var))),
      n_rows = nrow(fg)
    )
  )
}

datasets <- list(
  small = list(file = "engagement_small.csv", time = "days"),
  ties = list(file = "engagement_ties.csv", time = "sessions")
)

out <- list(
  generated_by = "tests/reference/finegray.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  cmprsk_version = as.character(packageVersion("cmprsk")),
  covariates = c("group", "age", "workless"),
  datasets = list()
)
for (name in names(datasets)) {
  spec <- datasets[[name]]
  d <- read.csv(file.path(here, spec$file), stringsAsFactors = FALSE)
  out$datasets[[name]] <- list(
    file = spec$file, duration = spec$time,
    causes = lapply(1:2, function(k) fit_one(d, spec$time, k))
  )
}
write_json(out, file.path(here, "finegray.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, matrix = "rowmajor")
cat("wrote", file.path(here, "finegray.json"), "\n")
