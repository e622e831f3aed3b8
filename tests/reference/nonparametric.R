# Reference values for rpc_eval.engagement.nonparametric
# (tests/test_engagement_nonparametric.py).
#
# Input : tests/reference/engagement_small.csv (days, 3 groups, few ties) and
#         tests/reference/engagement_ties.csv  (sessions 0..12, heavy ties, 4 groups),
#         both written by make_engagement_data.py.
# Output: tests/reference/nonparametric.json
# Run from the repository root:  Rscript tests/reference/nonparametric.R
#
# Event codes: 0 censored, 1 dropout, 2 completion.
#   "any"     : time to any event (Surv(time, event > 0));
#   "dropout" : time to dropout with completion censored (Surv(time, event == 1)).
# survfit: every distinct time (summary(fit, censored = TRUE)); std.err on the survival
#   scale as summary.survfit reports it; CIs for conf.type "log", "log-log", "plain";
#   medians and their CIs from summary(fit)$table (what print.survfit shows).
# survdiff: chisq, df and p of the log-rank test (rho = 0), also stratified.
# cuminc: est and var at every point of cmprsk's step function, $Tests (Gray's test,
#   rho = 0), also stratified by workless, and timepoints() at a few times.

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

km_one <- function(time, status, group) {
  out <- list()
  for (ct in c("log", "log-log", "plain")) {
    if (is.null(group)) {
      fit <- survfit(Surv(time, status) ~ 1, conf.type = ct)
    } else {
      fit <- survfit(Surv(time, status) ~ group, conf.type = ct)
    }
    s <- summary(fit, censored = TRUE)
    strata <- if (is.null(s$strata)) rep("all", length(s$time)) else sub("^group=", "", as.character(s$strata))
    key <- gsub("-", "_", ct)
    if (ct == "log") {
      out$group <- strata
      out$time <- s$time
      out$n_risk <- s$n.risk
      out$n_event <- s$n.event
      out$n_censor <- s$n.censor
      out$surv <- s$surv
      out$std_err <- s$std.err
      tab <- summary(fit)$table
      if (is.null(dim(tab))) tab <- matrix(tab, nrow = 1, dimnames = list("all", names(tab)))
      out$median <- list(group = sub("^group=", "", rownames(tab)),
                         n = unname(tab[, "records"]), events = unname(tab[, "events"]),
                         median = unname(tab[, "median"]))
      at <- c(0, 5, 10, 30, 60, 100, 150, 12)
      st <- summary(fit, times = sort(unique(at)), extend = TRUE)
      out$at_risk <- list(
        group = if (is.null(st$strata)) rep("all", length(st$time)) else sub("^group=", "", as.character(st$strata)),
        time = st$time, n_risk = st$n.risk)
    }
    out[[paste0("lower_", key)]] <- s$lower
    out[[paste0("upper_", key)]] <- s$upper
    tab <- summary(fit)$table
    if (is.null(dim(tab))) tab <- matrix(tab, nrow = 1, dimnames = list("all", names(tab)))
    out$median[[paste0("lcl_", key)]] <- unname(tab[, "0.95LCL"])
    out$median[[paste0("ucl_", key)]] <- unname(tab[, "0.95UCL"])
  }
  out
}

logrank_one <- function(time, status, group, strat = NULL) {
  if (is.null(strat)) {
    sd <- survdiff(Surv(time, status) ~ group)
  } else {
    sd <- survdiff(Surv(time, status) ~ group + strata(strat))
  }
  df <- sum(apply(as.matrix(sd$exp), 1, sum) > 0) - 1
  list(statistic = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE))
}

cuminc_one <- function(time, event, group) {
  ci <- if (is.null(group)) cuminc(time, event, cencode = 0) else cuminc(time, event, group, cencode = 0)
  curves <- list()
  for (nm in names(ci)) {
    if (nm == "Tests") next
    parts <- strsplit(nm, " ")[[1]]
    curves[[length(curves) + 1]] <- list(
      group = if (is.null(group)) "all" else parts[1], cause = as.integer(parts[length(parts)]),
      time = ci[[nm]]$time, est = ci[[nm]]$est, var = ci[[nm]]$var)
  }
  tp_times <- c(1, 5, 6, 8, 10, 20, 45.5, 100, 11.5)
  tp <- timepoints(ci, tp_times)
  res <- list(curves = curves,
              timepoints = list(names = rownames(tp$est), times = sort(unique(tp_times)),
                                est = unname(tp$est), var = unname(tp$var)))
  if (!is.null(ci$Tests)) {
    res$tests <- list(cause = as.integer(rownames(ci$Tests)), stat = unname(ci$Tests[, "stat"]),
                      p = unname(ci$Tests[, "pv"]), df = unname(ci$Tests[, "df"]))
  }
  res
}

gray_strata <- function(time, event, group, strat) {
  tests <- cuminc(time, event, group, strata = strat, cencode = 0)$Tests
  list(cause = as.integer(rownames(tests)), stat = unname(tests[, "stat"]),
       p = unname(tests[, "pv"]), df = unname(tests[, "df"]))
}

one_dataset <- function(d, tcol) {
  time <- d[[tcol]]
  list(
    duration = tcol,
    km = list(
      any_by_group = km_one(time, d$event > 0, d$group),
      dropout_by_group = km_one(time, d$event == 1, d$group),
      any_overall = km_one(time, d$event > 0, NULL)
    ),
    logrank = list(
      any_by_group = logrank_one(time, d$event > 0, d$group),
      dropout_by_group = logrank_one(time, d$event == 1, d$group),
      dropout_by_group_strata_workless = logrank_one(time, d$event == 1, d$group, d$workless)
    ),
    cuminc = list(
      by_group = cuminc_one(time, d$event, d$group),
      overall = cuminc_one(time, d$event, NULL)
    ),
    gray_strata_workless = gray_strata(time, d$event, d$group, d$workless)
  )
}

small <- read.csv(file.path(here, "engagement_small.csv"))
ties <- read.csv(file.path(here, "engagement_ties.csv"))

out <- list(
  versions = list(R = R.version.string,
                  survival = as.character(packageVersion("survival")),
                  cmprsk = as.character(packageVersion("cmprsk"))),
  small = one_dataset(small, "days"),
  ties = one_dataset(ties, "sessions")
)

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", pretty = FALSE),
           file.path(here, "nonparametric.json"))
