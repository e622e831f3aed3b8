# Reference values for rpc_eval.engagement.cox (tests/test_engagement_cox.py).
#
# Input : tests/reference/engagement_small.csv  (300 parents, days, few ties, 12 LAs)
#         tests/reference/engagement_ties.csv   (2,000 parents, sessions 0..12, heavy ties, 20 LAs)
#         (both written by make_engagement_data.py; event 0 censored, 1 dropout, 2 completion)
# Output: tests/reference/cox.json
# Run from the repository root:  Rscript tests/reference/cox.R
#
# Cause-specific Cox models: Surv(time, event == k), other event codes censored.
# group is a factor with reference level "A" (first in sorted order, as rpc_eval).
# Fits: Efron and Breslow, each with and without cluster(la_code) (robust se = the
# grouped-dfbeta sandwich, no small-sample correction); a stratified fit; completion
# as the event of interest. cox.zph (survival 3.x score test with the full
# information matrix) with transform "km" (terms = TRUE and FALSE), "rank", "identity",
# and its scaled Schoenfeld residuals (zph$y, zph$x, zph$time; on the ties data only
# for two fits, to keep the file small).

suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

read_data <- function(name) {
  d <- read.csv(file.path(here, name), stringsAsFactors = FALSE)
  d$group <- factor(d$group, levels = sort(unique(d$group)))
  d
}

fit_info <- function(fit) {
  s <- summary(fit)
  cf <- s$coefficients
  out <- list(
    terms = rownames(cf),
    coef = unname(fit$coefficients),
    se = unname(sqrt(diag(if (is.null(fit$naive.var)) fit$var else fit$naive.var))),
    loglik = unname(fit$loglik),
    n = fit$n,
    nevent = fit$nevent,
    iter = fit$iter,
    concordance = unname(fit$concordance["concordance"]),
    ci_low = unname(s$conf.int[, "lower .95"]),
    ci_high = unname(s$conf.int[, "upper .95"]),
    z = unname(cf[, "z"]),
    p = unname(cf[, "Pr(>|z|)"])
  )
  if (!is.null(fit$naive.var)) out$robust_se <- unname(sqrt(diag(fit$var)))
  out
}

zph_info <- function(fit, transform = "km", terms = TRUE, schoenfeld = FALSE) {
  z <- cox.zph(fit, transform = transform, terms = terms)
  out <- list(
    term = rownames(z$table),
    chisq = unname(z$table[, "chisq"]),
    df = unname(z$table[, "df"]),
    p = unname(z$table[, "p"])
  )
  if (schoenfeld) {
    out$y <- unname(z$y)          # scaled Schoenfeld residuals (events x terms)
    out$x <- unname(z$x)          # transformed time
    out$time <- unname(z$time)
  }
  out
}

res <- list(
  survival_version = as.character(packageVersion("survival")),
  r_version = R.version.string
)

for (ds in list(
  list(key = "small", file = "engagement_small.csv", time = "days"),
  list(key = "ties", file = "engagement_ties.csv", time = "sessions")
)) {
  d <- read_data(ds$file)
  d$tt <- d[[ds$time]]
  f1 <- Surv(tt, event == 1) ~ group + workless + age
  out <- list()
  efron <- coxph(f1, data = d, ties = "efron")
  out$efron <- fit_info(efron)
  out$efron_cluster <- fit_info(coxph(f1, data = d, ties = "efron", cluster = la_code))
  breslow <- coxph(f1, data = d, ties = "breslow")
  out$breslow <- fit_info(breslow)
  out$breslow_cluster <- fit_info(coxph(f1, data = d, ties = "breslow", cluster = la_code))
  # completion as the event of interest (dropout censored)
  out$completion_cluster <- fit_info(coxph(Surv(tt, event == 2) ~ group + workless + age,
                                           data = d, ties = "efron", cluster = la_code))
  # stratified by workless, clustered
  strat <- coxph(Surv(tt, event == 1) ~ group + age + strata(workless), data = d,
                 ties = "efron", cluster = la_code)
  out$strata_cluster <- fit_info(strat)
  # proportional-hazards tests
  out$zph_efron_km <- zph_info(efron, "km", TRUE, schoenfeld = TRUE)
  out$zph_efron_km_noterms <- zph_info(efron, "km", FALSE, schoenfeld = ds$key == "small")
  out$zph_efron_rank <- zph_info(efron, "rank")
  out$zph_efron_identity <- zph_info(efron, "identity")
  out$zph_breslow_km <- zph_info(breslow, "km", TRUE, schoenfeld = ds$key == "small")
  out$zph_strata_km <- zph_info(strat, "km", TRUE, schoenfeld = TRUE)
  # unscaled Schoenfeld residuals (the first 200 events, ordered by time)
  sch <- unname(residuals(efron, type = "schoenfeld"))
  out$schoenfeld_efron <- sch[seq_len(min(200, nrow(sch))), , drop = FALSE]
  res[[ds$key]] <- out
}

writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "cox.json"))
cat("wrote", file.path(here, "cox.json"), "\n")
