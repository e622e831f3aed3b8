# Reference values for the statsmodels random-slope fallback of rpc_eval.multilevel.lmm
# (tests/test_multilevel_lmm_extras.py). Run from the repository root:
#   Rscript tests/reference/lmm_slopes.R
# lme4 1.1-31. Data: tests/reference/lmm_unbalanced.csv. Its outcome y has no LA
# variation in the wave slope (the lmer fit of y is singular), so a deterministic LA
# slope is added: ys = y + wave * 0.4 * sin(1.7 * k), k the LA number (L01 -> 1).
# The singular fit of y itself is stored too (boundary case).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
dir <- "tests/reference"
d <- read.csv(file.path(dir, "lmm_unbalanced.csv"), stringsAsFactors = FALSE)
k <- as.integer(substr(d$la, 2, 3))
d$ys <- d$y + d$wave * 0.4 * sin(1.7 * k)
one <- function(fit) {
  co <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  list(terms = rownames(co), estimate = unname(co[, "Estimate"]),
       std_error = unname(co[, "Std. Error"]),
       vc_grp = vc$grp, vc_var1 = vc$var1, vc_var2 = vc$var2, vc_vcov = vc$vcov,
       loglik = as.numeric(logLik(fit)), singular = isSingular(fit))
}
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
slopes <- lmer(ys ~ wave + (1 + wave | la), data = d, REML = TRUE, control = ctrl)
slopes_ml <- lmer(ys ~ wave + (1 + wave | la), data = d, REML = FALSE, control = ctrl)
singular <- suppressMessages(lmer(y ~ wave + (1 + wave | la), data = d, REML = TRUE,
                                  control = ctrl))
out <- list(slopes = one(slopes), slopes_ml = one(slopes_ml), singular = one(singular),
            versions = list(lme4 = as.character(packageVersion("lme4"))))
write_json(out, file.path(dir, "lmm_slopes.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
