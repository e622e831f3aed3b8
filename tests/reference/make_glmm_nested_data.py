"""Write the inputs of ``glmm_nested.R``: nested random-intercept GLMM designs.

Parents within practitioners within local authorities (``(1 | la/practitioner)``).
Practitioner labels (``P1``, ``P2``, ...) repeat across LAs, so the nesting must be
read as lme4 reads it (``practitioner:la``).

* ``glmm_nested_binary.csv``: 12 LAs with 3-6 practitioners each, 4-14 parents per
  practitioner; logit P(y = 1) = -0.2 + 0.5 x + 0.4 [arm = rpc] + b_la + b_prac, LA SD
  0.7, practitioner SD 0.5.
* ``glmm_nested_counts.csv``: the same parents as successes ``y`` out of ``n`` per LA,
  practitioner and arm (for ``cbind(y, n - y) ~ arm``).
* ``glmm_nested_poisson.csv``: sessions attended (Poisson) of parents in 15 LAs with 2-5
  practitioners each; log rate 1.0 + 0.2 x + 0.3 [arm = rpc] + b_la + b_prac, SDs 0.4
  and 0.25.
* ``glmm_nested_singular.csv``, ``glmm_nested_near_singular.csv``: binary outcome
  simulated with no practitioner variance (SD 0) and LA SD 0.6 (two seeds): glmer's
  practitioner SD is 0 (a singular fit) on the first, and small but positive (about
  0.06) on the second.
* ``glmm_nested_sweep.csv``: 12 small random designs (column ``design``), binomial 0/1
  or Poisson (column ``family``), 5-10 LAs, 2-5 practitioners each, 2-12 parents each,
  SDs drawn from 0-1.5 (LA) and 0-1.2 (practitioner), some at 0; then 6 designs
  ``l01``-``l06`` with large SDs on the logit scale (LA 1.5-2.5, practitioner 0.8-2.0;
  10 LAs, 5-25 parents per practitioner), where a Newton iteration for the modes
  without step control is most at risk.

Run from the repository root: ``python tests/reference/make_glmm_nested_data.py``;
then ``Rscript tests/reference/glmm_nested.R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def nested(rng, n_la, prac_range, parent_range, sd_la, sd_prac):
    """LA and practitioner labels of each parent and the random intercepts' sum."""
    n_prac = rng.integers(prac_range[0], prac_range[1] + 1, n_la)
    la_of_prac = np.repeat(np.arange(n_la), n_prac)
    prac_in_la = np.concatenate([np.arange(k) for k in n_prac])
    sizes = rng.integers(parent_range[0], parent_range[1] + 1, la_of_prac.size)
    prac = np.repeat(np.arange(la_of_prac.size), sizes)
    la = la_of_prac[prac]
    b = rng.normal(0, sd_la, n_la)[la] + rng.normal(0, sd_prac, la_of_prac.size)[prac]
    labels = pd.DataFrame({"la": [f"LA{i + 1:02d}" for i in la],
                           "practitioner": [f"P{k + 1}" for k in prac_in_la[prac]]})
    return labels, b


def binary(seed=20241206, sd_la=0.7, sd_prac=0.5):
    rng = np.random.default_rng(seed)
    d, b = nested(rng, 12, (3, 6), (4, 14), sd_la, sd_prac)
    x = np.round(rng.normal(size=len(d)), 3)
    rpc = rng.random(len(d)) < 0.5
    eta = -0.2 + 0.5 * x + 0.4 * rpc + b
    y = (rng.random(len(d)) < 1 / (1 + np.exp(-eta))).astype(int)
    return d.assign(x=x, arm=np.where(rpc, "rpc", "control"), y=y)


def counts(frame):
    g = frame.groupby(["la", "practitioner", "arm"], sort=True)["y"]
    return g.agg(y="sum", n="size").reset_index()


def poisson(seed=20241207):
    rng = np.random.default_rng(seed)
    d, b = nested(rng, 15, (2, 5), (4, 12), 0.4, 0.25)
    x = np.round(rng.normal(size=len(d)), 3)
    rpc = rng.random(len(d)) < 0.5
    mu = np.exp(1.0 + 0.2 * x + 0.3 * rpc + b)
    return d.assign(x=x, arm=np.where(rpc, "rpc", "control"), sessions=rng.poisson(mu))


def sweep(seed=20241208, n_designs=12):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_designs):
        family = "poisson" if k % 3 == 2 else "binomial"
        sd_la = 0.0 if k % 5 == 4 else rng.uniform(0, 1.5)
        sd_prac = 0.0 if k % 4 == 3 else rng.uniform(0, 1.2)
        d, b = nested(rng, int(rng.integers(5, 11)), (2, 5), (2, 12), sd_la, sd_prac)
        x = np.round(rng.normal(size=len(d)), 3)
        if family == "binomial":
            eta = rng.normal(0, 0.5) + 0.5 * x + b
            y = (rng.random(len(d)) < 1 / (1 + np.exp(-eta))).astype(int)
        else:
            y = rng.poisson(np.exp(0.5 + 0.3 * x + b))
        out.append(d.assign(design=f"s{k + 1:02d}", family=family, x=x, y=y))
    rng = np.random.default_rng(seed + 1)
    for k in range(6):
        d, b = nested(rng, 10, (2, 6), (5, 25), rng.uniform(1.5, 2.5), rng.uniform(0.8, 2.0))
        x = np.round(rng.normal(size=len(d)), 3)
        eta = rng.normal(0, 1) + 0.5 * x + b
        y = (rng.random(len(d)) < 1 / (1 + np.exp(-eta))).astype(int)
        out.append(d.assign(design=f"l{k + 1:02d}", family="binomial", x=x, y=y))
    return pd.concat(out, ignore_index=True)[["design", "family", "la", "practitioner",
                                              "x", "y"]]


if __name__ == "__main__":
    b = binary()
    b.to_csv(HERE / "glmm_nested_binary.csv", index=False)
    counts(b).to_csv(HERE / "glmm_nested_counts.csv", index=False)
    poisson().to_csv(HERE / "glmm_nested_poisson.csv", index=False)
    binary(seed=20241214, sd_la=0.6, sd_prac=0.0).to_csv(
        HERE / "glmm_nested_singular.csv", index=False)
    binary(seed=20241220, sd_la=0.6, sd_prac=0.0).to_csv(
        HERE / "glmm_nested_near_singular.csv", index=False)
    sweep().to_csv(HERE / "glmm_nested_sweep.csv", index=False)
