# Reference values for rpc_eval.pooling.random_effects on degenerate inputs
# (tests/test_pooling_degenerate.py).
#
# Output: tests/reference/metafor_degenerate.json
# Run from the repository root:  Rscript tests/reference/metafor_degenerate.R
#
# Degenerate meta-analyses that regional pooling meets in practice: LAs with identical
# estimates (e.g. equal completion proportions), the smallest possible k = 2, zero
# heterogeneity (Q far below its df) and huge heterogeneity (between-LA spread
# thousands of times the within-LA standard errors), each fitted six ways as in
# metafor_rma.R. metafor's answer for identical estimates under test = "knha" is a
# Hartung-Knapp scaling factor of 0: standard error 0, a confidence interval of zero
# width, t = Inf (p = 0), or t = NaN (p = NA) when the estimate is itself 0.
# Non-finite numbers are written as the strings "Inf", "-Inf" and "NA".

suppressPackageStartupMessages({
  library(jsonlite)
  library(metafor)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

datasets <- list(
  identical_k3 = list(yi = c(0.5, 0.5, 0.5), sei = c(0.1, 0.2, 0.3)),
  identical_k5_equal_se = list(yi = rep(0.62, 5), sei = rep(0.05, 5)),
  identical_zero_k2 = list(yi = c(0, 0), sei = c(0.1, 0.2)),
  k2_heterogeneous = list(yi = c(-0.4, 0.9), sei = c(0.15, 0.2)),
  k2_homogeneous = list(yi = c(0.30, 0.31), sei = c(0.2, 0.25)),
  zero_heterogeneity = list(yi = c(1.00, 1.001, 0.999, 1.0005), sei = c(0.5, 0.6, 0.4, 0.7)),
  huge_heterogeneity = list(yi = c(-50, 0, 80, 20), sei = c(0.01, 0.02, 0.015, 0.01)),
  huge_heterogeneity_k2 = list(yi = c(-1000, 1000), sei = c(0.001, 0.002))
)

fits <- list(
  REML = list(method = "REML", test = "z"),
  DL = list(method = "DL", test = "z"),
  REML_knha = list(method = "REML", test = "knha"),
  DL_knha = list(method = "DL", test = "knha"),
  REML_adhoc = list(method = "REML", test = "adhoc"),
  FE = list(method = "FE", test = "z")
)

ctrl <- list(threshold = 1e-12, maxiter = 1000)
num <- function(x) {
  if (is.null(x) || length(x) == 0) return(NULL)
  x <- as.numeric(x)
  if (is.na(x) && !is.nan(x)) return("NA")
  if (is.nan(x)) return("NA")
  if (is.infinite(x)) return(if (x > 0) "Inf" else "-Inf")
  x
}

out <- list()
for (dname in names(datasets)) {
  d <- datasets[[dname]]
  res_d <- list()
  for (fname in names(fits)) {
    f <- fits[[fname]]
    m <- rma(yi = d$yi, sei = d$sei, method = f$method, test = f$test, control = ctrl)
    p <- predict(m)
    res_d[[fname]] <- list(
      method = f$method, test = f$test,
      b = num(m$b), se = num(m$se), ci_lb = num(m$ci.lb), ci_ub = num(m$ci.ub),
      zval = num(m$zval), pval = num(m$pval), tau2 = num(m$tau2),
      se_tau2 = num(m$se.tau2), I2 = num(m$I2), H2 = num(m$H2), QE = num(m$QE),
      QEp = num(m$QEp), pi_lb = num(p$pi.lb), pi_ub = num(p$pi.ub),
      weights = as.numeric(weights(m))
    )
  }
  out[[dname]] <- list(yi = d$yi, sei = d$sei, fits = res_d)
}

fixture <- list(
  description = paste("metafor::rma() on degenerate inputs (identical estimates, k = 2,",
                      "zero and huge heterogeneity); REML with",
                      "control = list(threshold = 1e-12, maxiter = 1000)"),
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  datasets = out
)
write_json(fixture, file.path(here, "metafor_degenerate.json"), auto_unbox = TRUE,
           digits = NA, pretty = TRUE, null = "null")
