# Reference values for rpc_eval.satisfaction (tests/test_satisfaction.py).
# Run from the repository root: Rscript tests/reference/satisfaction.R
# Needs jsonlite, MASS (polr) and sandwich (vcovCL). Data are generated here and
# written into the JSON so Python analyses exactly the same numbers.
suppressPackageStartupMessages({library(jsonlite); library(MASS); library(sandwich)})
set.seed(20261122)
out <- list()

# ---- exact binomial: binom.test(x, n, p, alternative = "greater") + two-sided CI
cases <- data.frame(x = c(90, 80, 17, 0, 25, 45, 200),
                    n = c(100, 100, 20, 10, 25, 60, 240),
                    target = c(0.8, 0.8, 0.8, 0.5, 0.8, 0.7, 0.85),
                    ci = c(0.95, 0.95, 0.9, 0.95, 0.95, 0.99, 0.95))
binom <- lapply(seq_len(nrow(cases)), function(i) {
  cs <- cases[i, ]
  g <- binom.test(cs$x, cs$n, p = cs$target, alternative = "greater", conf.level = cs$ci)
  t2 <- binom.test(cs$x, cs$n, conf.level = cs$ci)
  list(x = cs$x, n = cs$n, target = cs$target, ci = cs$ci, p_value = g$p.value,
       lower_bound_one_sided = g$conf.int[1], ci_low = t2$conf.int[1], ci_high = t2$conf.int[2])
})
out$binom <- binom

# ---- Likert: t interval and Wilson interval for one item
x <- sample(1:5, 57, replace = TRUE, prob = c(0.05, 0.1, 0.2, 0.35, 0.3))
tt <- t.test(x, conf.level = 0.95)
pt <- prop.test(sum(x >= 4), length(x), correct = FALSE, conf.level = 0.95)
out$likert <- list(x = x, mean = mean(x), sd = sd(x), mean_ci = as.numeric(tt$conf.int),
                   top_box = mean(x >= 4), top_box_ci = as.numeric(pt$conf.int),
                   bottom_box = mean(x <= 2),
                   counts = as.numeric(table(factor(x, levels = 1:5))))

# ---- group comparison data: 3 groups, 12 clusters, ordinal 1-5
n <- 240
g <- sample(c("a", "b", "c"), n, replace = TRUE)
cl <- sample(sprintf("LA%02d", 1:12), n, replace = TRUE)
eta <- c(a = 0, b = 0.6, c = -0.4)[g] + rnorm(12, 0, 0.3)[as.integer(factor(cl))]
u <- rlogis(n) + eta
y <- cut(u, c(-Inf, -2.5, -1, 0.5, 2, Inf), labels = FALSE)
out$groups <- list(y = y, g = g, cluster = cl)

cs <- chisq.test(table(g, y), correct = FALSE)
k <- min(dim(table(g, y))) - 1
out$chisq <- list(statistic = unname(cs$statistic), df = unname(cs$parameter),
                  p_value = cs$p.value, cramers_v = sqrt(unname(cs$statistic) / (n * k)))

fit <- polr(factor(y) ~ factor(g), method = "logistic", Hess = TRUE,
            control = list(reltol = 1e-14, maxit = 1000))
v <- vcov(fit)
vc <- vcovCL(fit, cluster = cl, type = "HC1")
out$polr <- list(coef = unname(coef(fit)), zeta = unname(fit$zeta),
                 se = unname(sqrt(diag(v))[seq_along(coef(fit))]),
                 se_cluster = unname(sqrt(diag(vc))[seq_along(coef(fit))]))

write_json(out, "tests/reference/satisfaction.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
