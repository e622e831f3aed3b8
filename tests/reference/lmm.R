# Reference values for rpc_eval.multilevel.lmm (tests/test_multilevel_lmm.py).
# Data: tests/reference/make_lmm_data.py. Run from the repository root:
#   Rscript tests/reference/lmm.R
# lme4 1.1-31, lmerTest 3.1-3. Parent labels repeat across LAs: (1 | la/parent) nests them.
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
dir <- "tests/reference"
one <- function(fit) {
  co <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  list(terms = rownames(co), estimate = unname(co[, "Estimate"]),
       std_error = unname(co[, "Std. Error"]), df = unname(co[, "df"]),
       vc_group = vc$grp, vc_variance = vc$vcov,
       loglik = as.numeric(logLik(fit)), singular = isSingular(fit),
       theta = unname(getME(fit, "theta")))
}
out <- list()
for (name in c("balanced", "unbalanced", "nearzero")) {
  d <- read.csv(file.path(dir, paste0("lmm_", name, ".csv")), stringsAsFactors = FALSE)
  f <- y ~ wave * arm + x + (1 | la/parent)
  reml <- lmer(f, data = d, REML = TRUE)
  ml <- lmer(f, data = d, REML = FALSE)
  base <- subset(d, wave == 0, c(la, parent, arm, y))
  end <- subset(d, wave == 2, c(la, parent, y))
  w <- merge(base, end, by = c("la", "parent"), suffixes = c("_base", "_end"))
  anc <- lmer(y_end ~ y_base + arm + (1 | la), data = w, REML = TRUE)
  ml0 <- lmer(y ~ wave + arm + x + (1 | la/parent), data = d, REML = FALSE)
  out[[name]] <- list(reml = one(reml), ml = one(ml), ancova = one(anc),
                      ranef_la = list(level = rownames(ranef(reml, condVar = TRUE)$la),
                                      estimate = ranef(reml)$la[, 1],
                                      se = sqrt(as.numeric(attr(ranef(reml, condVar = TRUE)$la, "postVar")))),
                      lrt = list(chisq = anova(ml0, ml)$Chisq[2], df = anova(ml0, ml)$Df[2]))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(dir, "lmm.json"))
