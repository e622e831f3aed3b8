# Reference values for rpc_eval.training (tests/test_training.py).
#
# Output: tests/reference/training.json
# Run from the repository root:  Rscript tests/reference/training.R
#
# - Wilcoxon signed-rank: wilcox.test(post, pre, paired = TRUE, exact = FALSE,
#   correct = TRUE) (zeros dropped, tie-corrected normal approximation, continuity
#   correction).
# - Matched-pairs rank-biserial: effectsize::rank_biserial(post, pre, paired = TRUE)
#   (Fisher-z normal interval).
# - Mean change: t.test(post, pre, paired = TRUE)$conf.int.
# - McNemar: mcnemar.test(tab, correct = FALSE) and the exact version
#   binom.test(b, b + c).

suppressPackageStartupMessages({library(jsonlite); library(effectsize)})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

set.seed(20261122)
make <- function(n, shift) {
  pre <- sample(1:5, n, replace = TRUE, prob = c(.15, .3, .3, .2, .05))
  post <- pmin(5, pmax(1, pre + sample(-1:2, n, replace = TRUE,
                                       prob = c(.15, .35 - shift, .3, .2 + shift))))
  list(pre = pre, post = post)
}
cases <- list(
  list(pre = rep(3, 10), post = 3 + c(1, 2, -1, 3, 0, 2, 2, -1, 1, 1)),
  make(12, 0), make(40, 0.1), make(150, 0.15), make(25, -0.2),
  list(pre = c(3, 2, 4, 1, 2), post = c(2, 1, 3, 1, 1))   # all changes negative or zero
)
paired <- lapply(cases, function(cs) {
  w <- suppressWarnings(wilcox.test(cs$post, cs$pre, paired = TRUE, exact = FALSE,
                                    correct = TRUE))
  rb <- suppressWarnings(rank_biserial(cs$post, cs$pre, paired = TRUE, ci = 0.95,
                                       verbose = FALSE))
  tt <- t.test(cs$post, cs$pre, paired = TRUE)
  list(pre = cs$pre, post = cs$post, V = unname(w$statistic), p = w$p.value,
       r = rb$r_rank_biserial, r_low = rb$CI_low, r_high = rb$CI_high,
       mean_change = unname(tt$estimate), t_low = tt$conf.int[1], t_high = tt$conf.int[2])
})

tables <- list(c(10, 10, 2, 16), c(5, 3, 3, 9), c(20, 0, 7, 13), c(4, 12, 1, 30))
mcn <- lapply(tables, function(v) {
  tab <- matrix(v, 2, byrow = TRUE)   # rows: expected yes/no; cols: actual yes/no
  b <- tab[1, 2]; c <- tab[2, 1]
  list(table = v, chisq_p = mcnemar.test(tab, correct = FALSE)$p.value,
       exact_p = binom.test(b, b + c)$p.value)
})

write_json(list(paired = paired, mcnemar = mcn, R = R.version.string,
                effectsize = as.character(packageVersion("effectsize"))),
           file.path(here, "training.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
