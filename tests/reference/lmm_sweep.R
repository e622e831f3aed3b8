# Reference log-likelihoods for the LMM optimiser sweep (tests/test_multilevel_lmm_sweep.py).
#
# Input : tests/reference/lmm_sweep.csv (written by make_lmm_sweep_data.py)
# Output: tests/reference/lmm_sweep.json
# Run from the repository root:  Rscript tests/reference/lmm_sweep.R
#
# Each design is fitted by lme4::lmer(y ~ x + (1 | la)) or (1 | la/parent), REML, with
# three optimisers (lmer's default nloptwrap, bobyqa, Nelder_Mead); the best REML
# criterion of the three is the reference (loglik, theta), with the default fit's
# logLik stored too. Designs lmer refuses (e.g. as many parents as rows) are stored
# with error = the message.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

d_all <- read.csv(file.path(here, "lmm_sweep.csv"), stringsAsFactors = FALSE)
opts <- list(
  default = lmerControl(),
  bobyqa = lmerControl(optimizer = "bobyqa"),
  nelder_mead = lmerControl(optimizer = "Nelder_Mead")
)
out <- list()
for (k in sort(unique(d_all$design))) {
  d <- d_all[d_all$design == k, ]
  f <- if (d$nested[1] == 1) y ~ x + (1 | la / parent) else y ~ x + (1 | la)
  fits <- lapply(opts, function(ctrl) {
    tryCatch(suppressWarnings(suppressMessages(lmer(f, data = d, REML = TRUE, control = ctrl))),
             error = function(e) e)
  })
  ok <- !vapply(fits, inherits, logical(1), "error")
  rec <- list(design = k, n = nrow(d), nested = d$nested[1] == 1)
  if (!any(ok)) {
    rec$error <- conditionMessage(fits[[1]])
  } else {
    ll <- vapply(fits[ok], function(m) as.numeric(logLik(m)), numeric(1))
    best <- fits[ok][[which.max(ll)]]
    rec$loglik <- max(ll)
    rec$loglik_default <- if (ok[["default"]]) as.numeric(logLik(fits$default)) else NULL
    rec$theta <- unname(getME(best, "theta"))
    rec$optimizer <- names(fits)[ok][which.max(ll)]
    rec$n_fixef <- length(fixef(best))  # 2 unless lmer dropped a column of X
  }
  out[[length(out) + 1]] <- rec
}
writeLines(toJSON(list(lme4_version = as.character(packageVersion("lme4")), fits = out),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "lmm_sweep.json"))
