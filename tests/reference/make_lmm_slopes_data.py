"""Write ``tests/reference/lmm_slopes_designs.csv`` for ``lmm_slopes_engine.R``.

Random-slope designs (column ``design``), each ``y ~ x + arm + (1 + x | la)``:

* ``corr``: 30 LAs of 12-30 rows, intercept SD 1, slope SD 0.5, correlation -0.5;
* ``small``: 8 LAs of 5-12 rows, intercept SD 0.8, slope SD 0.4, correlation 0.3;
* ``noslope``: 20 LAs of 15 rows with no slope variation (a singular fit);
* ``perfect``: 25 LAs whose slopes are an exact multiple of their intercepts
  (correlation 1: singular);
* ``scaled``: as ``corr`` with ``x`` in thousands plus an offset of 50,000.

Run from the repository root: ``python tests/reference/make_lmm_slopes_data.py``; then
``Rscript tests/reference/lmm_slopes_engine.R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def _design(name, seed, n_la, size, sd0, sd1, rho, xscale=1.0, xshift=0.0, perfect=False):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(size[0], size[1] + 1, n_la)
    la = np.repeat(np.arange(n_la), sizes)
    cov = np.array([[sd0**2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1**2]])
    b = rng.multivariate_normal([0, 0], cov, n_la)
    if perfect:
        b[:, 1] = 0.5 * b[:, 0]
    x = rng.normal(size=la.size)
    arm = rng.random(la.size) < 0.5
    y = 1.0 + 0.4 * x + 0.3 * arm + b[la, 0] + b[la, 1] * x + rng.normal(size=la.size)
    return pd.DataFrame({"design": name, "la": [f"LA{i + 1:02d}" for i in la],
                         "x": np.round(x * xscale + xshift, 6),
                         "arm": np.where(arm, "rpc", "control"), "y": np.round(y, 8)})


if __name__ == "__main__":
    pd.concat([
        _design("corr", 1, 30, (12, 30), 1.0, 0.5, -0.5),
        _design("small", 2, 8, (5, 12), 0.8, 0.4, 0.3),
        _design("noslope", 3, 20, (15, 15), 0.8, 0.0, 0.0),
        _design("perfect", 4, 25, (10, 20), 1.0, 0.0, 0.0, perfect=True),
        _design("scaled", 1, 30, (12, 30), 1.0, 0.5, -0.5, xscale=1000.0, xshift=5e4),
    ], ignore_index=True).to_csv(HERE / "lmm_slopes_designs.csv", index=False)
