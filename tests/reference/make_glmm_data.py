"""Write ``tests/reference/glmm_a.csv`` and ``glmm_b.csv`` for ``glmm.R``.

Random-intercept logistic data, one row per parent, columns ``la, x, arm, y``:

* ``la``: local authority label (text, ``LA01`` ...);
* ``x``: a continuous covariate, N(0, 1), three decimals;
* ``arm``: ``"control"`` / ``"rpc"`` (text; reference level ``control``, as in R);
* ``y``: 0/1 outcome, logit P(y = 1) = -0.4 + 0.5 x + 0.6 [arm = rpc] + b_la.

``glmm_a``: 2,000 parents in 40 LAs of 50, LA SD 0.7.
``glmm_b``: 600 parents in 60 LAs of very unequal size (geometric; several LAs with
1-3 parents), small LA SD 0.25, so the variance is small but not on the boundary.

Run from the repository root: ``python tests/reference/make_glmm_data.py``; then
``Rscript tests/reference/glmm.R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
BETA = (-0.4, 0.5, 0.6)


def _frame(la: np.ndarray, sd: float, rng: np.random.Generator) -> pd.DataFrame:
    n_la = la.max() + 1
    b = rng.normal(0.0, sd, size=n_la)
    x = np.round(rng.normal(0.0, 1.0, size=la.size), 3)
    rpc = rng.random(la.size) < 0.5
    eta = BETA[0] + BETA[1] * x + BETA[2] * rpc + b[la]
    y = (rng.random(la.size) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"la": [f"LA{i + 1:02d}" for i in la], "x": x,
                         "arm": np.where(rpc, "rpc", "control"), "y": y})


def make_a(seed: int = 20241101) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _frame(np.repeat(np.arange(40), 50), 0.7, rng)


def make_b(seed: int = 20241102) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(1 / 10, size=60), 60)
    sizes[:6] = [1, 1, 2, 2, 3, 3]
    return _frame(np.repeat(np.arange(60), sizes), 0.25, rng)


if __name__ == "__main__":
    make_a().to_csv(HERE / "glmm_a.csv", index=False)
    make_b().to_csv(HERE / "glmm_b.csv", index=False)
