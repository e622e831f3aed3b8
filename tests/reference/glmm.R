# Reference values for rpc_eval.multilevel.glmm (tests/test_multilevel_glmm.py).
#
# Input : tests/reference/glmm_a.csv, glmm_b.csv (written by make_glmm_data.py)
# Output: tests/reference/glmm.json
# Run from the repository root:  Rscript tests/reference/glmm.R
#
# Model: lme4::glmer(y ~ x + arm + (1 | la), family = binomial, nAGQ = 10) and nAGQ = 1
# (Laplace). bobyqa is run with a tight rhoend and PIRLS with a tight tolerance so the
# comparison is not limited by the optimiser's stopping rule.
# Standard errors, two versions:
#   se         : vcov(fit) (lme4 >= 1.1-? default use.hessian = TRUE): the beta block of
#                the inverse of the finite-difference Hessian of the AGQ deviance over
#                (theta, beta) (lme4:::deriv12, step 1e-4);
#   se_rx      : vcov(fit, use.hessian = FALSE): from RX, the Fisher information of beta
#                at the conditional modes with theta held fixed.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-10,
                     optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

fit_one <- function(d, nagq) {
  fit <- glmer(y ~ x + arm + (1 | la), data = d, family = binomial, nAGQ = nagq,
               control = ctrl)
  re <- ranef(fit, condVar = TRUE)$la
  list(
    nagq = nagq,
    terms = names(fixef(fit)),
    estimate = unname(fixef(fit)),
    se = unname(sqrt(diag(as.matrix(vcov(fit))))),
    se_rx = unname(sqrt(diag(as.matrix(vcov(fit, use.hessian = FALSE))))),
    theta = unname(getME(fit, "theta")),
    variance = unname(as.data.frame(VarCorr(fit))$vcov[1]),
    loglik = as.numeric(logLik(fit)),
    deviance = unname(deviance(fit)),
    blup_level = rownames(re),
    blup = unname(re[[1]]),
    blup_se = unname(sqrt(attr(re, "postVar")[1, 1, ])),
    messages = fit@optinfo$conv$lme4$messages
  )
}

out <- list(lme4_version = as.character(packageVersion("lme4")))
for (name in c("a", "b")) {
  d <- read.csv(file.path(here, paste0("glmm_", name, ".csv")), stringsAsFactors = FALSE)
  d$arm <- factor(d$arm, levels = c("control", "rpc"))
  out[[name]] <- list(nagq10 = fit_one(d, 10), nagq1 = fit_one(d, 1))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glmm.json"))
