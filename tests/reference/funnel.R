# Reference values for rpc_eval.engagement.funnel.wilson_interval (tests/test_engagement_data.py).
#
# Output: tests/reference/funnel.json
# Run from the repository root:  Rscript tests/reference/funnel.R
#
# prop.test(x, n, conf.level = level, correct = FALSE)$conf.int is the Wilson score
# interval (no continuity correction); R sets the lower limit to exactly 0 when x = 0
# and the upper to exactly 1 when x = n. The closed form (binom::binom.wilson) is
# computed alongside as a second check.

suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

cases <- data.frame(
  x = c(0, 1, 0, 10, 3, 1, 45, 878, 374, 4802, 2694, 1, 999, 0, 5, 1, 12, 7),
  n = c(1, 1, 10, 10, 10, 2, 100, 2694, 878, 6110, 4802, 1000, 1000, 250, 5, 3, 13, 40)
)
levels <- c(0.95, 0.90, 0.99, 0.80)

wilson <- function(x, n, level) {
  z <- qnorm((1 + level) / 2)
  p <- x / n
  centre <- (p + z^2 / (2 * n)) / (1 + z^2 / n)
  half <- z * sqrt(p * (1 - p) / n + z^2 / (4 * n^2)) / (1 + z^2 / n)
  c(centre - half, centre + half)
}

out <- list()
for (level in levels) {
  for (i in seq_len(nrow(cases))) {
    x <- cases$x[i]
    n <- cases$n[i]
    # prop.test warns "Chi-squared approximation may be incorrect" for small counts;
    # the interval is still the Wilson interval
    ci <- suppressWarnings(prop.test(x, n, conf.level = level, correct = FALSE)$conf.int)
    w <- wilson(x, n, level)
    out[[length(out) + 1]] <- list(
      x = x, n = n, conf_level = level, estimate = x / n,
      ci_low = ci[1], ci_high = ci[2],
      formula_low = w[1], formula_high = w[2]
    )
  }
}

fixture <- list(
  description = "Wilson score intervals: prop.test(x, n, conf.level, correct = FALSE)$conf.int",
  r_version = R.version.string,
  cases = out
)
write_json(fixture, file.path(here, "funnel.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
