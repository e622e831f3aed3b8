# Reference values for rpc_eval.multilevel.glmm beyond 0/1 outcomes with small LA SDs
# (tests/test_multilevel_glmm_extra.py).
#
# Input : tests/reference/glmm_cycle_a.csv, glmm_cycle_b.csv, glmm_poisson.csv
#         (written by make_glmm_extra_data.py); lme4's cbpp data, written here to
#         tests/reference/glmm_cbpp.csv.
# Output: tests/reference/glmm_extra.json
# Run from the repository root:  Rscript tests/reference/glmm_extra.R
#
# Fits (control as glmm.R: bobyqa with a tight rhoend and PIRLS tolerance):
#   cycle_a, cycle_b : glmer(y ~ arm + (1 | la), binomial, nAGQ = 10) on the designs where
#                      a clipped Newton iteration for the modes cycles;
#   cbpp_counts      : glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
#                      binomial, nAGQ = 10 and 1);
#   cbpp_binary      : the same data expanded to one 0/1 row per animal (same estimates;
#                      logLik without the binomial coefficients);
#   poisson          : glmer(sessions ~ x + arm + (1 | la), poisson, nAGQ = 10 and 1).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-10,
                     optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

summarise <- function(fit, group, nagq) {
  re <- ranef(fit, condVar = TRUE)[[group]]
  list(
    nagq = nagq,
    terms = names(fixef(fit)),
    estimate = unname(fixef(fit)),
    se = unname(sqrt(diag(as.matrix(vcov(fit))))),
    variance = unname(as.data.frame(VarCorr(fit))$vcov[1]),
    loglik = as.numeric(logLik(fit)),
    blup_level = rownames(re),
    blup = unname(re[[1]]),
    blup_se = unname(sqrt(attr(re, "postVar")[1, 1, ])),
    messages = fit@optinfo$conv$lme4$messages
  )
}

out <- list(lme4_version = as.character(packageVersion("lme4")))

for (name in c("cycle_a", "cycle_b")) {
  d <- read.csv(file.path(here, paste0("glmm_", name, ".csv")), stringsAsFactors = FALSE)
  d$arm <- factor(d$arm, levels = c("control", "rpc"))
  fit <- glmer(y ~ arm + (1 | la), data = d, family = binomial, nAGQ = 10, control = ctrl)
  out[[name]] <- list(nagq10 = summarise(fit, "la", 10))
}

cb <- lme4::cbpp
cb$period <- factor(cb$period)
write.csv(data.frame(herd = as.integer(as.character(cb$herd)), period = as.character(cb$period),
                     incidence = cb$incidence, size = cb$size),
          file.path(here, "glmm_cbpp.csv"), row.names = FALSE)
binary <- do.call(rbind, lapply(seq_len(nrow(cb)), function(i) {
  data.frame(herd = cb$herd[i], period = cb$period[i],
             y = rep(c(1L, 0L), c(cb$incidence[i], cb$size[i] - cb$incidence[i])))
}))
out$cbpp_counts <- list()
out$cbpp_binary <- list()
for (nagq in c(10, 1)) {
  f1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cb,
              family = binomial, nAGQ = nagq, control = ctrl)
  f2 <- glmer(y ~ period + (1 | herd), data = binary, family = binomial, nAGQ = nagq,
              control = ctrl)
  out$cbpp_counts[[paste0("nagq", nagq)]] <- summarise(f1, "herd", nagq)
  out$cbpp_binary[[paste0("nagq", nagq)]] <- summarise(f2, "herd", nagq)
}

pd <- read.csv(file.path(here, "glmm_poisson.csv"), stringsAsFactors = FALSE)
pd$arm <- factor(pd$arm, levels = c("control", "rpc"))
out$poisson <- list()
for (nagq in c(10, 1)) {
  f <- glmer(sessions ~ x + arm + (1 | la), data = pd, family = poisson, nAGQ = nagq,
             control = ctrl)
  out$poisson[[paste0("nagq", nagq)]] <- summarise(f, "la", nagq)
}

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glmm_extra.json"))
