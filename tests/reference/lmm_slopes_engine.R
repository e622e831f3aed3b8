# Reference values for the random-slopes engine (rpc_eval.multilevel.slopes;
# tests/test_multilevel_slopes.py).
#
# Input : tests/reference/lmm_slopes_designs.csv (make_lmm_slopes_data.py)
# Output: tests/reference/lmm_slopes_engine.json
# Run from the repository root:  Rscript tests/reference/lmm_slopes_engine.R
#
# Each design: lmerTest::lmer(y ~ x + arm + (1 + x | la)), REML and ML, bobyqa with a
# tight tolerance. Stored: fixed effects, SEs, Satterthwaite df, variances and the
# covariance (as.data.frame(VarCorr)), the correlation, theta, logLik, isSingular.

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

d_all <- read.csv(file.path(here, "lmm_slopes_designs.csv"), stringsAsFactors = FALSE)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-12),
                    check.conv.singular = "ignore")
out <- list(lme4_version = as.character(packageVersion("lme4")),
            lmerTest_version = as.character(packageVersion("lmerTest")))
for (name in unique(d_all$design)) {
  d <- d_all[d_all$design == name, ]
  d$arm <- factor(d$arm, levels = c("control", "rpc"))
  res <- list()
  for (reml in c(TRUE, FALSE)) {
    fit <- suppressWarnings(suppressMessages(
      lmer(y ~ x + arm + (1 + x | la), data = d, REML = reml, control = ctrl)))
    co <- summary(fit)$coefficients
    vc <- as.data.frame(VarCorr(fit))
    res[[if (reml) "reml" else "ml"]] <- list(
      terms = rownames(co), estimate = unname(co[, "Estimate"]),
      std_error = unname(co[, "Std. Error"]), df = unname(co[, "df"]),
      vc_vcov = vc$vcov, vc_grp = vc$grp, vc_var1 = vc$var1, vc_var2 = vc$var2,
      correlation = attr(VarCorr(fit)$la, "correlation")[1, 2],
      theta = unname(getME(fit, "theta")), loglik = as.numeric(logLik(fit)),
      singular = isSingular(fit))
  }
  out[[name]] <- res
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           file.path(here, "lmm_slopes_engine.json"))
