# Reference values for rpc_eval.engagement.discrete (tests/test_engagement_discrete.py).
#
# Input : tests/reference/discrete_pp.csv (written by make_discrete_pp.py)
# Output: tests/reference/discrete.json
# Run from the repository root:  Rscript tests/reference/discrete.R
#
# Discrete-time hazard models are binomial GLMs on person-period rows:
#   categorical time: glm(dropout ~ 0 + factor(session) + mode + age, binomial(link))
#   linear time     : glm(dropout ~ session + mode + age, binomial(link))
#   spline time     : glm(dropout ~ ns(session, knots = interior, Boundary.knots = outer)
#                         + mode + age, binomial(link))
# rpc_eval uses Harrell's restricted cubic spline basis with knots (outer[1], interior,
# outer[2]); splines::ns() with the same knots spans the same space, so the fitted link
# values and their SEs agree although the coefficients differ.
# Cluster-robust SEs: sandwich::vcovCL(type = "HC0", cadjust = TRUE), i.e.
#   V = G / (G - 1) * bread %*% meat %*% bread, bread = (X'WX)^-1 (expected information).
# "HC1" (also multiplied by (n - 1) / (n - k)) is stored for the record.
# Wilson intervals: prop.test(x, n, correct = FALSE)$conf.int.
# glm is run with a tight convergence criterion so the comparison is not limited by it.

suppressPackageStartupMessages({
  library(sandwich)
  library(splines)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

pp <- read.csv(file.path(here, "discrete_pp.csv"), stringsAsFactors = FALSE)
pp$mode <- factor(pp$mode)                      # levels: face_to_face (reference), online
ctrl <- glm.control(epsilon = 1e-14, maxit = 200)

# Harrell's default knots for 4 knots, taken at quantiles of the distinct session values
sessions <- sort(unique(pp$session))
knots <- unname(quantile(sessions, c(0.05, 0.35, 0.65, 0.95), type = 7))

# the profile at which hazards are predicted: face-to-face, mean age at the first session
profile_age <- mean(pp$age[pp$session == min(pp$session)])
newdata <- data.frame(session = sessions,
                      mode = factor("face_to_face", levels = levels(pp$mode)),
                      age = profile_age)

fit_one <- function(formula, link, data = pp) {
  m <- glm(formula, family = binomial(link = link), data = data, control = ctrl)
  stopifnot(m$converged)
  v <- vcov(m)
  vc0 <- vcovCL(m, cluster = data$la_code, type = "HC0", cadjust = TRUE)
  vc1 <- vcovCL(m, cluster = data$la_code, type = "HC1", cadjust = TRUE)
  out <- list(
    terms = names(coef(m)),
    coef = unname(coef(m)),
    se = unname(sqrt(diag(v))),
    se_cluster = unname(sqrt(diag(vc0))),
    se_cluster_hc1 = unname(sqrt(diag(vc1))),
    loglik = as.numeric(logLik(m)),
    deviance = deviance(m),
    aic = AIC(m),
    nobs = nobs(m)
  )
  if (!identical(data, pp)) return(out)
  # predicted link and its SE at the profile, model-based and cluster-robust
  tt <- delete.response(terms(m))
  X <- model.matrix(tt, model.frame(tt, newdata, xlev = m$xlevels))
  eta <- drop(X %*% coef(m))
  out$predict <- list(
    session = newdata$session,
    eta = unname(eta),
    se_eta = unname(sqrt(rowSums((X %*% v) * X))),
    se_eta_cluster = unname(sqrt(rowSums((X %*% vc0) * X))),
    hazard = unname(binomial(link = link)$linkinv(eta))
  )
  out
}

models <- list()
for (link in c("logit", "cloglog")) {
  models[[paste0("categorical_", link)]] <-
    fit_one(dropout ~ 0 + factor(session) + mode + age, link)
  models[[paste0("linear_", link)]] <- fit_one(dropout ~ session + mode + age, link)
  models[[paste0("spline_", link)]] <-
    fit_one(dropout ~ ns(session, knots = knots[2:3], Boundary.knots = knots[c(1, 4)])
            + mode + age, link)
}

# Separation: with every dropout in session 10 set to 0, session 10's coefficient goes to
# -Inf and the other maximum-likelihood estimates tend to those of the fit without the
# session-10 rows, which is what rpc_eval reports.
sep <- subset(pp, session != 10)
models[["separated_categorical_logit"]] <-
  fit_one(dropout ~ 0 + factor(session) + mode + age, "logit", data = sep)

# Empirical (life-table) hazard with Wilson intervals, overall and by mode
emp <- function(d) {
  tab <- aggregate(cbind(n = 1, x = dropout) ~ session, data = d, FUN = sum)
  ci <- t(mapply(function(x, n) prop.test(x, n, correct = FALSE)$conf.int, tab$x, tab$n))
  list(session = tab$session, n_at_risk = tab$n, n_events = tab$x,
       hazard = tab$x / tab$n, ci_low = ci[, 1], ci_high = ci[, 2])
}
empirical <- list(overall = emp(pp),
                  face_to_face = emp(subset(pp, mode == "face_to_face")),
                  online = emp(subset(pp, mode == "online")))

out <- list(
  r_version = R.version.string,
  sandwich_version = as.character(packageVersion("sandwich")),
  knots = knots,
  profile_age = profile_age,
  n_clusters = length(unique(pp$la_code)),
  models = models,
  empirical = empirical
)
write_json(out, file.path(here, "discrete.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", file.path(here, "discrete.json"), "\n")
