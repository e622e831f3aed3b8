# Reference values for nested random intercepts in rpc_eval.multilevel.glmm
# (tests/test_multilevel_glmm_nested.py).
#
# Input : tests/reference/glmm_nested_{binary,counts,poisson,singular,near_singular,
#         sweep}.csv
#         (written by make_glmm_nested_data.py)
# Output: tests/reference/glmm_nested.json
# Run from the repository root:  Rscript tests/reference/glmm_nested.R
#
# Fits, all Laplace (nAGQ = 1, glmer's default and its only choice for nested terms),
# with bobyqa run to a tight rhoend and PIRLS to a tight tolerance (see fit_tight) so
# the comparison is not limited by the optimiser's stopping rule:
#   binary   : glmer(y ~ x + arm + (1 | la/practitioner), binomial)
#   counts   : glmer(cbind(y, n - y) ~ arm + (1 | la/practitioner), binomial) on the same
#              parents counted by LA, practitioner and arm; binary_arm is the 0/1 fit of
#              y ~ arm (same estimates, logLik without the binomial coefficients)
#   poisson  : glmer(sessions ~ x + arm + (1 | la/practitioner), poisson)
#   singular, near_singular : glmer(y ~ x + arm + (1 | la/practitioner), binomial) on
#              data simulated with no practitioner variance: a singular fit (isSingular,
#              practitioner SD 0) and a nearly singular one (practitioner SD ~0.06)
#   sweep    : glmer(y ~ x + (1 | la/practitioner)) per design, binomial or poisson
#              (designs s01-s12 small with some SDs at 0, l01-l06 with large SDs)
# Standard errors: vcov(fit) (default use.hessian = TRUE: the beta block of the inverse
# finite-difference Hessian of the deviance over (theta, beta)); se_rx is
# vcov(fit, use.hessian = FALSE) (from RX of the final PIRLS, theta held fixed).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

# glmer's PIRLS stops on the relative change of the penalised deviance, so at
# tolPwrss = 1e-10 its last step can still be ~1e-4 and the weights of log det(L) lag
# the mode: its deviance function is then off by up to ~1e-4 (and the optimum moves by
# as much). 1e-13 gives the Laplace deviance at the converged mode; where PIRLS cannot
# reach it (step-halving fails), the next looser tolerance is used and recorded.
fit_tight <- function(formula, data, family) {
  for (tol in c(1e-13, 1e-12, 1e-11, 1e-10)) {
    ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = tol,
                         optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
    fit <- tryCatch(glmer(formula, data = data, family = family, control = ctrl),
                    error = function(e) NULL)
    if (!is.null(fit)) {
      attr(fit, "tolPwrss") <- tol
      return(fit)
    }
  }
  stop("glmer failed at every PIRLS tolerance")
}

summarise <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit, condVar = TRUE)
  blups <- lapply(names(re), function(g) {
    list(group = g, level = rownames(re[[g]]), estimate = unname(re[[g]][[1]]),
         se = unname(sqrt(attr(re[[g]], "postVar")[1, 1, ])))
  })
  list(
    terms = names(fixef(fit)),
    estimate = unname(fixef(fit)),
    se = unname(sqrt(diag(as.matrix(vcov(fit))))),
    se_rx = unname(sqrt(diag(as.matrix(suppressWarnings(vcov(fit, use.hessian = FALSE)))))),
    vc_group = vc$grp,
    variance = vc$vcov,
    theta = unname(getME(fit, "theta")),
    loglik = as.numeric(logLik(fit)),
    singular = isSingular(fit, tol = 1e-4),
    n_groups = as.list(ngrps(fit)),
    blups = blups,
    tol_pwrss = attr(fit, "tolPwrss"),
    messages = fit@optinfo$conv$lme4$messages
  )
}

read <- function(name) {
  d <- read.csv(file.path(here, paste0("glmm_nested_", name, ".csv")),
                stringsAsFactors = FALSE)
  if ("arm" %in% names(d)) d$arm <- factor(d$arm, levels = c("control", "rpc"))
  d
}

out <- list(lme4_version = as.character(packageVersion("lme4")))

b <- read("binary")
out$binary <- summarise(fit_tight(y ~ x + arm + (1 | la/practitioner), b, binomial))
out$binary_arm <- summarise(fit_tight(y ~ arm + (1 | la/practitioner), b, binomial))
cn <- read("counts")
out$counts <- summarise(fit_tight(cbind(y, n - y) ~ arm + (1 | la/practitioner), cn, binomial))
p <- read("poisson")
out$poisson <- summarise(fit_tight(sessions ~ x + arm + (1 | la/practitioner), p, poisson))
s <- read("singular")
out$singular <- summarise(fit_tight(y ~ x + arm + (1 | la/practitioner), s, binomial))
ns <- read("near_singular")
out$near_singular <- summarise(fit_tight(y ~ x + arm + (1 | la/practitioner), ns, binomial))

sw <- read("sweep")
out$sweep <- list()
for (design in unique(sw$design)) {
  d <- sw[sw$design == design, ]
  fam <- if (d$family[1] == "poisson") poisson else binomial
  fit <- fit_tight(y ~ x + (1 | la/practitioner), d, fam)
  res <- summarise(fit)
  res$blups <- NULL
  res$family <- d$family[1]
  out$sweep[[design]] <- res
}

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glmm_nested.json"))
