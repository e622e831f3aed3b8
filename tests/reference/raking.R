# Reference values for rpc_eval.raking (tests/test_raking.py).
#
# Output: tests/reference/raking.json
# Run from the repository root:  Rscript tests/reference/raking.R
#
# A sample of practitioners with sector (3 levels) and LA (4 levels), a binary y
# (applies the training weekly) and a rating x, raked to population totals by sector
# and by LA with survey::rake (IPF) and, as a check, survey::calibrate(calfun =
# "raking") (the same weights). Standard errors of svymean:
# - se_fixed: svydesign(ids = ~1, weights = ~w_raked), the raked weights taken as fixed;
# - se_calibrate: from the calibrate() design (residuals of the weighted least-squares
#   regression on the margin indicators; Deville & Sarndal 1992);
# - se_rake: from the rake() design (survey's own back-fitting of the margins, 10 sweeps).

suppressPackageStartupMessages({library(jsonlite); library(survey)})

args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(file_arg)) dirname(normalizePath(file_arg)) else "tests/reference"

set.seed(7)
n <- 120
sector <- sample(c("early_help", "health", "police"), n, TRUE, prob = c(.5, .35, .15))
la <- sample(c("LA1", "LA2", "LA3", "LA4"), n, TRUE, prob = c(.4, .3, .2, .1))
y <- rbinom(n, 1, plogis(-0.5 + 0.8 * (sector == "police") + 0.5 * (la == "LA4")))
x <- round(3 + 0.5 * (sector == "health") + rnorm(n), 1)
w0 <- round(runif(n, 0.5, 2), 3)
dat <- data.frame(sector, la, y, x, w0)

pop_sector <- c(early_help = 400, health = 350, police = 250)
pop_la <- c(LA1 = 300, LA2 = 300, LA3 = 250, LA4 = 150)

res <- list()
for (start in c("unit", "w0")) {
  dat$wstart <- if (start == "unit") 1 else dat$w0
  d <- svydesign(ids = ~1, weights = ~wstart, data = dat)
  rd <- rake(d, list(~sector, ~la),
             list(data.frame(sector = names(pop_sector), Freq = unname(pop_sector)),
                  data.frame(la = names(pop_la), Freq = unname(pop_la))),
             control = list(maxit = 100, epsilon = 1e-12, verbose = FALSE))
  wr <- weights(rd)
  cd <- calibrate(d, ~sector + la,
                  population = c(`(Intercept)` = 1000, sectorhealth = 350, sectorpolice = 250,
                                 laLA2 = 300, laLA3 = 250, laLA4 = 150),
                  calfun = "raking", epsilon = 1e-12, maxit = 200)
  dat$wr <- wr
  fd <- svydesign(ids = ~1, weights = ~wr, data = dat)
  one <- list(start = start, w_start = dat$wstart, weights = unname(wr),
              weights_calibrate = unname(weights(cd)))
  for (v in c("y", "x")) {
    f <- as.formula(paste0("~", v))
    one[[v]] <- list(
      mean = unname(coef(svymean(f, rd))),
      se_rake = unname(SE(svymean(f, rd))),
      se_calibrate = unname(SE(svymean(f, cd))),
      se_fixed = unname(SE(svymean(f, fd))),
      mean_unweighted = mean(dat[[v]]))
  }
  res[[start]] <- one
}

# Hand-worked 2 x 2 example: sample counts n_ij, margins r (rows) and c (cols); with
# unit starting weights IPF converges to the cell totals m_ij = n_ij a_i b_j solving
# the margin equations; checked here against survey::rake.
tiny <- data.frame(a = c("A", "A", "A", "B", "B", "B", "B"),
                   b = c("x", "y", "y", "x", "x", "x", "y"))
td <- svydesign(ids = ~1, weights = ~rep(1, 7), data = tiny)
tr <- rake(td, list(~a, ~b), list(data.frame(a = c("A", "B"), Freq = c(40, 60)),
                                   data.frame(b = c("x", "y"), Freq = c(50, 50))),
           control = list(maxit = 100, epsilon = 1e-12))

write_json(list(data = dat[, c("sector", "la", "y", "x", "w0")],
                pop_sector = as.list(pop_sector), pop_la = as.list(pop_la),
                results = res, tiny = list(a = tiny$a, b = tiny$b, weights = unname(weights(tr))),
                R = R.version.string, survey = as.character(packageVersion("survey"))),
           file.path(here, "raking.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
