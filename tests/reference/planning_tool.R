# Reference values for rpc_eval.planning_tool.stage_change (tests/test_planning_tool.py).
#
# Output: tests/reference/planning_tool.json
# Run from the repository root:  Rscript tests/reference/planning_tool.R
#
# For paired stages (year 0, year 1) of the same LAs:
# * Wilcoxon signed-rank test, wilcox.test(y1, y0, paired = TRUE, exact = FALSE,
#   correct = TRUE): zero differences dropped, tie-corrected variance, continuity
#   correction;
# * Stuart-Maxwell marginal-homogeneity test of the k x k transition table. Base R has
#   none, so it is computed from its formula (Stuart 1955; Maxwell 1970): with
#   d = row totals - column totals and S[i, i] = n[i.] + n[.i] - 2 n[ii],
#   S[i, j] = -(n[ij] + n[ji]), drop the last category and
#   X2 = d' S^-1 d on k - 1 df.
# When a category has no off-diagonal counts, or the categories split into groups with
# no movement between them, S is singular; the generalised form d' S^+ d (MASS::ginv)
# on rank(S) df is the reference then ("sm_general_*", computed for every case; it
# equals the classical form whenever S is of rank k - 1).
# The input pairs are written into the JSON, so the tests need no R.

suppressPackageStartupMessages({library(jsonlite); library(MASS)})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

stuart_maxwell <- function(tab) {
  k <- nrow(tab)
  d <- rowSums(tab) - colSums(tab)
  S <- -(tab + t(tab))
  diag(S) <- rowSums(tab) + colSums(tab) - 2 * diag(tab)
  d <- d[-k]
  S <- S[-k, -k, drop = FALSE]
  stat <- as.numeric(t(d) %*% solve(S) %*% d)
  list(statistic = stat, df = k - 1, p_value = pchisq(stat, k - 1, lower.tail = FALSE))
}

sm_general <- function(tab) {
  d <- rowSums(tab) - colSums(tab)
  S <- -(tab + t(tab))
  diag(S) <- rowSums(tab) + colSums(tab) - 2 * diag(tab)
  r <- qr(S)$rank
  stat <- as.numeric(t(d) %*% ginv(S) %*% d)
  list(statistic = stat, df = r, p_value = pchisq(stat, r, lower.tail = FALSE))
}

make_case <- function(name, y0, y1, k = 4) {
  tab <- table(factor(y0, levels = 1:k), factor(y1, levels = 1:k))
  w <- suppressWarnings(wilcox.test(y1, y0, paired = TRUE, exact = FALSE, correct = TRUE))
  tab0 <- unclass(tab)
  S_rank <- {S <- -(tab0 + t(tab0)); diag(S) <- rowSums(tab0) + colSums(tab0) - 2 * diag(tab0); qr(S)$rank}
  sm <- if (S_rank == k - 1) stuart_maxwell(tab0) else list(statistic = NA, df = NA, p_value = NA)
  sg <- sm_general(tab0)
  list(name = name, k = k, y0 = y0, y1 = y1,
       table = lapply(seq_len(k), function(i) as.numeric(tab[i, ])),
       wilcoxon_V = unname(w$statistic), wilcoxon_p = w$p.value,
       mean_change = mean(y1 - y0),
       sm_statistic = sm$statistic, sm_df = sm$df, sm_p = sm$p_value,
       sm_general_statistic = sg$statistic, sm_general_df = sg$df, sm_general_p = sg$p_value)
}

set.seed(20261122)
cases <- list()
# 1. modest upward drift, 40 LAs
y0 <- sample(1:4, 40, replace = TRUE, prob = c(0.3, 0.35, 0.25, 0.1))
y1 <- pmin(4, pmax(1, y0 + sample(c(-1, 0, 1, 2), 40, replace = TRUE, prob = c(0.1, 0.45, 0.35, 0.1))))
cases[[1]] <- make_case("drift40", y0, y1)
# 2. no systematic change, 25 LAs
y0 <- sample(1:4, 25, replace = TRUE)
y1 <- pmin(4, pmax(1, y0 + sample(c(-1, 0, 1), 25, replace = TRUE)))
cases[[2]] <- make_case("nochange25", y0, y1)
# 3. small hand-checkable case, 8 LAs
y0 <- c(1, 1, 2, 2, 2, 3, 3, 4)
y1 <- c(2, 1, 3, 2, 4, 3, 2, 4)
cases[[3]] <- make_case("small8", y0, y1)
# 4. three stages, 30 LAs, strong rise
y0 <- sample(1:3, 30, replace = TRUE, prob = c(0.5, 0.3, 0.2))
y1 <- pmin(3, y0 + sample(c(0, 1), 30, replace = TRUE, prob = c(0.4, 0.6)))
cases[[4]] <- make_case("three30", y0, y1, k = 3)
# 5. stage 1 never left or entered (isolated category), 12 LAs
y0 <- c(1, 1, 2, 2, 2, 3, 3, 3, 4, 2, 3, 2)
y1 <- c(1, 1, 3, 3, 2, 4, 3, 2, 4, 4, 4, 3)
cases[[5]] <- make_case("isolated12", y0, y1)
# 6. movement only within {1, 2} and within {3, 4} (disconnected), 14 LAs
y0 <- c(1, 1, 1, 2, 2, 1, 3, 3, 3, 4, 3, 4, 2, 3)
y1 <- c(2, 2, 1, 1, 2, 2, 4, 4, 3, 3, 4, 4, 2, 4)
cases[[6]] <- make_case("disconnected14", y0, y1)

write_json(list(r_version = R.version.string, cases = cases),
           file.path(here, "planning_tool.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
