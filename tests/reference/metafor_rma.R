# Reference values for rpc_eval.pooling.random_effects (tests/test_pooling.py).
#
# Output: tests/reference/metafor_rma.json
# Run from the repository root:  Rscript tests/reference/metafor_rma.R
#
# Six datasets, each fitted six ways with metafor::rma():
#   REML, DL, REML + test = "knha", DL + test = "knha", REML + test = "adhoc"
#   (Hartung-Knapp with the scaling factor truncated at 1), FE.
# Stored per fit: b, se, ci.lb, ci.ub, zval, pval, tau2, se.tau2, I2, H2, QE, QEp,
# predict() pi.lb / pi.ub and weights() (percent).
#
# REML uses control = list(threshold = 1e-12, maxiter = 1000): metafor's default
# stopping rule (|change in tau2| < 1e-5) leaves the estimate ~1e-7 short of the
# maximum on some data, which is too loose to check a 1e-6 relative tolerance
# against. The algorithm (Fisher scoring with step halving at tau2 = 0, started at
# the Hedges estimate) is unchanged. The default-threshold REML tau2 is stored too
# (tau2_default_threshold) to show the size of that difference.

suppressPackageStartupMessages({
  library(jsonlite)
  library(metafor)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

# (a) BCG vaccine trials: log risk ratios (Colditz et al. 1994, metafor's dat.bcg)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)

# (b) a small k = 3 meta-analysis with visible heterogeneity
small <- list(yi = c(0.10, 0.62, 0.35), vi = c(0.020, 0.045, 0.030),
              labels = c("LA A", "LA B", "LA C"))

# (c) homogeneous estimates: Q < k - 1, so REML and DL give tau2 = 0 exactly
homog <- list(yi = c(0.21, 0.19, 0.20, 0.22, 0.18, 0.205),
              vi = c(0.010, 0.012, 0.008, 0.015, 0.011, 0.009),
              labels = paste("Study", 1:6))

# (d) 12 local authorities' mean changes in a conflict score (negative = improvement):
# n parents per LA, within-LA SD 6, true mean change -3, between-LA SD 1.2
set.seed(20240517)
n_la <- 12
n_par <- sample(25:160, n_la)
sei_la <- 6 / sqrt(n_par)
yi_la <- rnorm(n_la, mean = -3, sd = sqrt(1.2^2 + sei_la^2))
la <- list(yi = round(yi_la, 4), vi = sei_la^2, labels = sprintf("LA %02d", 1:n_la))

# (e) Hedges starting value > 0 but REML maximum at tau2 = 0: the Fisher scoring steps
# are halved at the boundary on the way down to 0
boundary <- list(yi = c(0, 0, 0.05, 1.2), vi = c(0.01, 0.01, 0.01, 0.6),
                 labels = c("W", "X", "Y", "Z"))

# (f) REML likelihood very flat near tau2 = 0: metafor's Fisher scoring oscillates
# around the maximum and stops with "did not converge" (default maxiter = 100). The
# reference REML tau2 is the root of the REML score found with uniroot(); rma() is then
# run from that value (tau2.init), which it accepts at the first step.
flat <- list(
  yi = c(0.405709967923188, 0.508825999577739, 0.6481593939895658, 1.100290582305544,
        0.6762093666664735, 0.8854321968981838, 1.0441701014527887,
        0.38590696986740136, 0.21443291711178933, 0.5446678518393886),
  sei = c(0.3377173812549005, 0.28359713343236576, 0.18577078144276726,
        0.46884213866342794, 0.39692693176118665, 0.4652484884732604,
        0.49381460037427827, 0.1253803747086574, 0.47752052754224106,
        0.4701479310132116),
  labels = paste("Study", 1:10))
flat$vi <- flat$sei^2
reml_score <- function(t, yi, vi) {
  w <- 1 / (vi + t)
  mu <- sum(w * yi) / sum(w)
  sum(w^2 * (yi - mu)^2) - (sum(w) - sum(w^2) / sum(w))
}
flat_default <- try(rma(yi = flat$yi, vi = flat$vi, method = "REML"), silent = TRUE)
flat_root <- uniroot(reml_score, c(1e-8, 0.01), yi = flat$yi, vi = flat$vi,
                     tol = 1e-16)$root

datasets <- list(
  bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi),
             labels = paste(dat.bcg$author, dat.bcg$year)),
  small_k3 = small,
  homogeneous = homog,
  la_changes = la,
  boundary_start = boundary,
  flat_likelihood = flat[c("yi", "vi", "labels")]
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
na_null <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NULL else x

out <- list()
for (dname in names(datasets)) {
  d <- datasets[[dname]]
  res_d <- list()
  for (fname in names(fits)) {
    f <- fits[[fname]]
    ctrl_d <- ctrl
    if (dname == "flat_likelihood") ctrl_d$tau2.init <- flat_root
    m <- rma(yi = d$yi, vi = d$vi, method = f$method, test = f$test, control = ctrl_d)
    p <- predict(m)
    res_d[[fname]] <- list(
      method = f$method, test = f$test,
      b = as.numeric(m$b), se = m$se, ci_lb = m$ci.lb, ci_ub = m$ci.ub,
      zval = m$zval, pval = m$pval, tau2 = m$tau2, se_tau2 = na_null(m$se.tau2),
      I2 = m$I2, H2 = m$H2, QE = m$QE, QEp = m$QEp,
      pi_lb = na_null(p$pi.lb), pi_ub = na_null(p$pi.ub),
      cr_lb = na_null(p$cr.lb), cr_ub = na_null(p$cr.ub),
      weights = as.numeric(weights(m))
    )
    if (f$method == "REML" && dname != "flat_likelihood") {
      res_d[[fname]]$tau2_default_threshold <-
        rma(yi = d$yi, vi = d$vi, method = "REML", test = f$test)$tau2
    }
  }
  out[[dname]] <- list(yi = d$yi, vi = d$vi, sei = sqrt(d$vi), labels = d$labels,
                       fits = res_d)
}

fixture <- list(
  description = paste("metafor::rma() random- and fixed-effect meta-analyses;",
                      "REML with control = list(threshold = 1e-12, maxiter = 1000)"),
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  datasets = out,
  flat_likelihood_default_fit = if (inherits(flat_default, "try-error"))
    conditionMessage(attr(flat_default, "condition")) else "converged"
)
write_json(fixture, file.path(here, "metafor_rma.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE, null = "null")
