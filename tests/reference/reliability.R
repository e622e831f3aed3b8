# Reference values for rpc_eval.reliability (tests/test_reliability.py).
#
# Run from the repository root (after make_reliability_items.py wrote the CSV):
#   Rscript tests/reference/reliability.R
# Writes tests/reference/reliability.json (full precision, jsonlite digits = NA).
#
# For each item block (listwise complete cases, as rpc_eval does):
#   psych::alpha            raw_alpha; item stats r.drop, alpha.drop raw_alpha, mean, sd
#   psych::alpha.ci         Feldt (1965) CI, 95% and 90%
#                           (= psych::alpha(...)$feldt at 95%)
#   one-factor ML model     psych::fa(nfactors = 1, fm = "ml") loadings/uniquenesses
#                           (psych's default optimiser settings);
#                           stats::factanal with a tight optimiser tolerance (the same
#                           ML criterion, converged further);
#                           lavaan::cfa(std.lv = TRUE) on the covariance matrix (raw
#                           loadings and residual variances)
#   omega total             McDonald: (sum lambda)^2 / ((sum lambda)^2 + sum psi),
#                           on the correlation scale (from fa / factanal) and on the
#                           raw scale (from lavaan, and from factanal rescaled by the
#                           item SDs); psych::omega(nfactors = 1, fm = "ml")$omega.tot,
#                           which divides by the OBSERVED total variance sum(R)
#                           instead of the model-implied one.
suppressPackageStartupMessages({
  library(psych)
  library(jsonlite)
  library(lavaan)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
dat <- read.csv(file.path(here, "reliability_items.csv"), stringsAsFactors = FALSE)

omega_model <- function(lambda, psi) sum(lambda)^2 / (sum(lambda)^2 + sum(psi))

analyse <- function(x) {
  x <- na.omit(x)
  n <- nrow(x)
  k <- ncol(x)
  a <- psych::alpha(x, warnings = FALSE)
  ci95 <- psych::alpha.ci(a$total$raw_alpha, n, k, p.val = 0.05)
  ci90 <- psych::alpha.ci(a$total$raw_alpha, n, k, p.val = 0.10)

  f_psych <- psych::fa(x, nfactors = 1, fm = "ml")
  lam_psych <- as.numeric(f_psych$loadings[, 1])
  if (sum(lam_psych) < 0) lam_psych <- -lam_psych
  psi_psych <- as.numeric(f_psych$uniquenesses)

  f_tight <- factanal(x, factors = 1,
                      control = list(nstart = 1, opt = list(factr = 1, pgtol = 0,
                                                            maxit = 10000)))
  lam_tight <- as.numeric(f_tight$loadings[, 1])
  if (sum(lam_tight) < 0) lam_tight <- -lam_tight
  psi_tight <- as.numeric(f_tight$uniquenesses)
  s <- apply(x, 2, sd)

  model <- paste("f =~", paste(colnames(x), collapse = " + "))
  cfa_fit <- lavaan::cfa(model, data = x, std.lv = TRUE, estimator = "ML")
  est <- lavaan::lavInspect(cfa_fit, "est")
  lam_raw <- as.numeric(est$lambda[, 1])
  if (sum(lam_raw) < 0) lam_raw <- -lam_raw
  psi_raw <- as.numeric(diag(est$theta))

  om <- suppressWarnings(psych::omega(x, nfactors = 1, fm = "ml", plot = FALSE))

  list(
    items = colnames(x), n = n, k = k,
    raw_alpha = a$total$raw_alpha,
    feldt_95 = c(ci95$lower.ci, ci95$upper.ci),
    feldt_95_psych_alpha = unname(c(a$feldt$lower.ci, a$feldt$upper.ci)),
    feldt_90 = c(ci90$lower.ci, ci90$upper.ci),
    r_drop = as.numeric(a$item.stats$r.drop),
    alpha_drop = as.numeric(a$alpha.drop$raw_alpha),
    item_mean = as.numeric(a$item.stats$mean),
    item_sd = as.numeric(a$item.stats$sd),
    fa_ml_loadings = lam_psych, fa_ml_uniquenesses = psi_psych,
    factanal_loadings = lam_tight, factanal_uniquenesses = psi_tight,
    lavaan_loadings = lam_raw, lavaan_residual_variances = psi_raw,
    omega_standardized_fa = omega_model(lam_psych, psi_psych),
    omega_standardized_factanal = omega_model(lam_tight, psi_tight),
    omega_raw_factanal = omega_model(lam_tight * s, psi_tight * s^2),
    omega_raw_lavaan = omega_model(lam_raw, psi_raw),
    omega_tot_psych_observed = as.numeric(om$omega.tot)
  )
}

six <- c("a1", "a2", "a3", "a4", "a5", "a6")
conduct <- c("sdq_05", "sdq_07", "sdq_12", "sdq_18", "sdq_22")
cond <- dat[, conduct]
cond$sdq_07 <- 2 - cond$sdq_07  # reverse keying, as the SDQ scoring does

out <- list(
  meta = list(
    r_version = R.version.string,
    psych = as.character(packageVersion("psych")),
    lavaan = as.character(packageVersion("lavaan")),
    data = "reliability_items.csv",
    note = "sdq conduct: sdq_07 reversed (2 - code) before analysis"
  ),
  six_items = analyse(dat[, six]),
  sdq_conduct = analyse(cond),
  sdq_conduct_baseline = analyse(cond[dat$wave == "baseline", ]),
  sdq_conduct_end = analyse(cond[dat$wave == "end", ])
)

write_json(out, file.path(here, "reliability.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
cat("wrote", file.path(here, "reliability.json"), "\n")
