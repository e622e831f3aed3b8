# Reference values for rpc_eval.change (tests/test_change.py).
#
# Input : tests/reference/change_pairs.csv (written by make_change_pairs.py)
# Output: tests/reference/change.json
# Run from the repository root:  Rscript tests/reference/change.R
#
# Sign convention: post - pre, so R's x is post and y is pre.
# effectsize::cohens_d(paired = TRUE) gives d_z with a noncentral-t CI found by optim();
# effectsize::hedges_g(paired = TRUE) gives g_z = J(n - 1) d_z (exact gamma J, CI * J).
# wilcox.test(paired = TRUE, exact = FALSE, correct = TRUE): normal approximation with
# tie and continuity corrections, zero differences dropped -- the same settings as
# scipy.stats.wilcoxon(zero_method = "wilcox", correction = TRUE, method = "approx").
# d_av, d_rm and their g versions are computed by their formulas, with the CI computed
# as rpc_eval does it (Algina & Keselman 2003): the noncentral-t limits of the paired t
# (found here by uniroot to 1e-13) rescaled to the estimator's standardiser.

suppressPackageStartupMessages({
  library(effectsize)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

dat <- read.csv(file.path(here, "change_pairs.csv"), na.strings = "NA")
level <- 0.95

J <- function(df) exp(lgamma(df / 2) - log(sqrt(df / 2)) - lgamma((df - 1) / 2))

ncp_limits <- function(t, df, conf = level) {
  alpha <- 1 - conf
  f <- function(lam, p) pt(t, df, lam) - p
  # pt(t, df, t) is near 0.5, so the lower limit lies below t and the upper above it;
  # small starting brackets keep pt() away from the far tails where it loses precision
  lo <- uniroot(f, c(t - 1, t), p = 1 - alpha / 2, tol = 1e-13, extendInt = "downX")$root
  hi <- uniroot(f, c(t, t + 1), p = alpha / 2, tol = 1e-13, extendInt = "downX")$root
  c(lo, hi)
}

one_sample <- function(d) {
  d <- d[complete.cases(d$pre, d$post), ]
  pre <- d$pre
  post <- d$post
  n <- length(pre)
  diff <- post - pre
  m <- mean(diff)
  s_d <- sd(diff)
  s1 <- sd(pre)
  s2 <- sd(post)
  r <- cor(pre, post)
  tt <- t.test(post, pre, paired = TRUE, conf.level = level)
  wt <- suppressWarnings(wilcox.test(post, pre, paired = TRUE, exact = FALSE,
                                     correct = TRUE))
  cd <- cohens_d(post, pre, paired = TRUE, ci = level)
  hg <- hedges_g(post, pre, paired = TRUE, ci = level)
  t_obs <- unname(tt$statistic)
  df <- n - 1
  lam <- ncp_limits(t_obs, df)
  dz <- m / s_d
  dz_ci <- lam / sqrt(n)
  s_av <- (s1 + s2) / 2
  av_scale <- s_d / s_av
  rm_scale <- sqrt(2 * (1 - r))
  j <- J(df)
  list(
    n = n, mean_pre = mean(pre), sd_pre = s1, mean_post = mean(post), sd_post = s2,
    mean_change = m, sd_change = s_d, r = r,
    t = t_obs, df = unname(tt$parameter), p_t = tt$p.value,
    change_ci_low = tt$conf.int[1], change_ci_high = tt$conf.int[2],
    wilcoxon_V = unname(wt$statistic), p_wilcoxon = wt$p.value,
    effectsize_cohens_d = cd$Cohens_d, effectsize_cohens_d_ci_low = cd$CI_low,
    effectsize_cohens_d_ci_high = cd$CI_high,
    effectsize_hedges_g = hg$Hedges_g, effectsize_hedges_g_ci_low = hg$CI_low,
    effectsize_hedges_g_ci_high = hg$CI_high,
    J = j,
    d_z = dz, d_z_ci_low = dz_ci[1], d_z_ci_high = dz_ci[2],
    g_z = j * dz, g_z_ci_low = j * dz_ci[1], g_z_ci_high = j * dz_ci[2],
    d_av = m / s_av, d_av_ci_low = dz_ci[1] * av_scale, d_av_ci_high = dz_ci[2] * av_scale,
    g_av = j * m / s_av, g_av_ci_low = j * dz_ci[1] * av_scale,
    g_av_ci_high = j * dz_ci[2] * av_scale,
    d_rm = dz * rm_scale, d_rm_ci_low = dz_ci[1] * rm_scale, d_rm_ci_high = dz_ci[2] * rm_scale,
    g_rm = j * dz * rm_scale, g_rm_ci_low = j * dz_ci[1] * rm_scale,
    g_rm_ci_high = j * dz_ci[2] * rm_scale
  )
}

samples <- list()
for (s in unique(dat$sample)) samples[[s]] <- one_sample(dat[dat$sample == s, ])

# Reliable change on the small_integer sample: Jacobson-Truax with a normative SD of 5.5
# and r_xx = 0.89; Maassen with the sample SDs; cut-offs from norms (4.7, 4.8) and
# (19.7, 7.7) for a higher-is-worse scale.
d <- dat[dat$sample == "small_integer", ]
rxx <- 0.89
se_jt <- 5.5 * sqrt(2 * (1 - rxx))
se_m <- sqrt((sd(d$pre)^2 + sd(d$post)^2) * (1 - rxx))
mf <- 4.7; sf <- 4.8; mc <- 19.7; sc <- 7.7
rci <- list(
  sd = 5.5, reliability = rxx,
  se_jacobson_truax = se_jt, rci_jacobson_truax = (d$post - d$pre) / se_jt,
  se_maassen = se_m, rci_maassen = (d$post - d$pre) / se_m,
  cutoff_a = mc - 2 * sc, cutoff_b = mf + 2 * sf,
  cutoff_c = (sc * mf + sf * mc) / (sc + sf)
)

out <- list(
  generated_by = "tests/reference/change.R",
  r_version = R.version.string,
  effectsize_version = as.character(packageVersion("effectsize")),
  ci = level,
  samples = samples,
  reliable_change = rci
)
write_json(out, file.path(here, "change.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", file.path(here, "change.json"), "\n")
