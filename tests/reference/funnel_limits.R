# Reference values for rpc_eval.multilevel.compare.funnel_limits
# (tests/test_multilevel_compare.py).
#
# Output: tests/reference/funnel_limits.json
# Run from the repository root:  Rscript tests/reference/funnel_limits.R
#
# FunnelPlotR is not installed (and not packaged for Debian), so the limits are computed
# here in base R, following Spiegelhalter (2005, Stat Med 24:1185-1202, appendix A.1.1)
# and Spiegelhalter et al. (2012, JRSS A 175:1-47):
#   exact:  r_p = qbinom(p, n, theta) (smallest r with P(R <= r) >= p);
#           alpha = (pbinom(r_p) - p) / (pbinom(r_p) - pbinom(r_p - 1));
#           limit = (r_p - alpha) / n, set to 0 when negative.
#   normal: theta + qnorm(p) * sqrt(theta (1 - theta) / n), clipped to [0, 1].
#   phi:    mean of squared z-scores winsorised at quantile(z, c(.1, .9)) (type 7).
#   tau2:   max(0, (I phi - (I - 1)) / (sum(w) - sum(w^2) / sum(w))), w = 1 / s^2.
#   additive limits: theta + qnorm(p) * sqrt(s^2 + tau2); multiplicative: sqrt(phi) s.

suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

n <- c(1, 2, 3, 5, 8, 378, 253, 276, 359, 235, 312, 335, 97, 31, 127, 121, 350, 365,
       12, 204, 330, 61, 320, 56, 192, 328, 128, 143, 118, 290)
events <- c(0, 1, 3, 3, 5, 182, 112, 130, 219, 112, 197, 205, 62, 10, 82, 77, 199, 163,
            7, 114, 173, 44, 185, 34, 137, 183, 69, 94, 70, 144)
unit <- sprintf("U%02d", seq_along(n))

exact_limit <- function(p, n, theta) {
  r <- qbinom(p, n, theta)
  alpha <- (pbinom(r, n, theta) - p) / (pbinom(r, n, theta) - pbinom(r - 1, n, theta))
  pmax(0, (r - alpha) / n)
}
normal_limit <- function(p, n, theta, var_extra = 0, phi = 1) {
  pmin(1, pmax(0, theta + qnorm(p) * sqrt(phi * theta * (1 - theta) / n + var_extra)))
}
probs <- c(lower_95 = 0.025, upper_95 = 0.975, lower_998 = 0.001, upper_998 = 0.999)

theta <- sum(events) / sum(n)
rate <- events / n
s2 <- theta * (1 - theta) / n
z <- (rate - theta) / sqrt(s2)
q <- quantile(z, c(0.1, 0.9), type = 7)
zw <- pmin(pmax(z, q[1]), q[2])
I <- length(z)
phi <- mean(zw^2)
w <- 1 / s2
tau2 <- max(0, (I * phi - (I - 1)) / (sum(w) - sum(w^2) / sum(w)))

lims <- function(f) as.list(sapply(probs, f))
exact <- lapply(probs, function(p) exact_limit(p, n, theta))
normal <- lapply(probs, function(p) normal_limit(p, n, theta))
additive <- lapply(probs, function(p) normal_limit(p, n, theta, var_extra = tau2))
multiplicative <- lapply(probs, function(p) normal_limit(p, n, theta, phi = phi))

# A grid of denominators at a fixed target, and a small hand-workable case.
grid_n <- c(1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 1000)
grid_theta <- 0.3
grid <- lapply(probs, function(p) exact_limit(p, grid_n, grid_theta))

out <- list(
  unit = unit, n = n, events = events,
  target = theta, z = z, phi = phi, tau2 = tau2,
  z_additive = (rate - theta) / sqrt(s2 + tau2),
  exact = exact, normal = normal, additive = additive, multiplicative = multiplicative,
  grid_n = grid_n, grid_theta = grid_theta, grid_exact = grid,
  R_version = R.version.string
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "funnel_limits.json"))
