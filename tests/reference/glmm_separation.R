# Reference values for separation in rpc_eval.multilevel.glmm
# (tests/test_multilevel_glmm_separation.py).
#
# Input : tests/reference/glmm_a.csv with the outcome set to 0 in one arm (made here)
# Output: tests/reference/glmm_separation.json
# Run from the repository root:  Rscript tests/reference/glmm_separation.R
#
# glmer(y ~ x + arm + (1 | la), family = binomial, nAGQ = 10) has no finite maximum when
# every row of one arm has y = 0: it stops at a large finite coefficient for the arm
# (with a large standard error), where the other estimates, the variance and the
# log-likelihood are close to their limit. rpc_eval reports the arm term as -inf (or,
# when the reference arm is the separated one, the intercept as -inf and the arm as
# +inf) and the rest from the fit without those rows; the test compares the rest.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-10,
                     optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
a <- read.csv(file.path(here, "glmm_a.csv"))

fit_case <- function(arm0) {
  d <- a
  d$y[d$arm == arm0] <- 0
  warned <- character(0)
  fit <- withCallingHandlers(
    glmer(y ~ x + arm + (1 | la), data = d, family = binomial, nAGQ = 10,
          control = ctrl),
    warning = function(w) {
      warned <<- c(warned, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(separated_arm = arm0, terms = names(fixef(fit)), estimate = unname(fixef(fit)),
       se = unname(sqrt(diag(as.matrix(vcov(fit))))),
       variance = unname(as.data.frame(VarCorr(fit))$vcov[1]),
       loglik = as.numeric(logLik(fit)), warnings = warned)
}

out <- list(rpc = fit_case("rpc"), control = fit_case("control"),
            r_version = R.version.string,
            lme4_version = as.character(packageVersion("lme4")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glmm_separation.json"))
