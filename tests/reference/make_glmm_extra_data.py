"""Write the inputs of ``glmm_extra.R``: designs that once broke the GLMM, and counts.

* ``glmm_cycle_a.csv``, ``glmm_cycle_b.csv``: 10 LAs of 48-111 parents with a large LA
  SD on the logit scale (1.8 and 2.0), outcome ``y`` 0/1, covariate ``arm``. On these a
  Newton iteration for the conditional modes with a fixed +-2 step clip falls into a
  2-cycle during the optimisation and the fit ends at a wrong optimum (LA variance 31.9
  and 16.5 against glmer's 6.36 and 5.11) while reporting convergence.
* ``glmm_poisson.csv``: sessions attended (Poisson counts) of 900 parents in 30 LAs,
  log E[sessions] = 1.2 + 0.25 x + 0.3 [arm = rpc] + b_la, LA SD 0.35.

(cbpp, the counts data of lme4, is written by ``glmm_extra.R`` itself.)

Run from the repository root: ``python tests/reference/make_glmm_extra_data.py``; then
``Rscript tests/reference/glmm_extra.R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def cycling(seed: int, sd: float, b0: float, n_la: int = 10, m: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(int(m * 0.6), int(m * 1.4), n_la)
    la = np.repeat(np.arange(n_la), sizes)
    b = rng.normal(0, sd, n_la)
    x = np.round(rng.normal(size=la.size), 3)  # drawn for the stream; not in the model
    rpc = rng.random(la.size) < 0.5
    eta = b0 + 0.5 * x + 0.6 * rpc + b[la]
    y = (rng.random(la.size) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"la": [f"LA{i + 1:02d}" for i in la],
                         "arm": np.where(rpc, "rpc", "control"), "y": y})


def poisson(seed: int = 20241205) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    la = np.repeat(np.arange(30), 30)
    x = np.round(rng.normal(size=la.size), 3)
    rpc = rng.random(la.size) < 0.5
    b = rng.normal(0, 0.35, 30)
    mu = np.exp(1.2 + 0.25 * x + 0.3 * rpc + b[la])
    return pd.DataFrame({"la": [f"LA{i + 1:02d}" for i in la], "x": x,
                         "arm": np.where(rpc, "rpc", "control"),
                         "sessions": rng.poisson(mu)})


if __name__ == "__main__":
    cycling(49, 1.8, 0.8).to_csv(HERE / "glmm_cycle_a.csv", index=False)
    cycling(105, 2.0, -0.4).to_csv(HERE / "glmm_cycle_b.csv", index=False)
    poisson().to_csv(HERE / "glmm_poisson.csv", index=False)
