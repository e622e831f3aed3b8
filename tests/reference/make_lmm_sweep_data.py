"""Write ``tests/reference/lmm_sweep.csv`` for ``lmm_sweep.R``: small and badly scaled
random-intercept designs on which an optimiser can stop short of the REML optimum.

160 seeded designs (column ``design``): 6-20 rows in 2-5 LAs (one level, or parents
nested in LAs), a covariate ``x`` whose scale runs from 1e-3 to 1e4 with an offset of 0,
100 or 10,000 times that scale (badly conditioned, not rank deficient), an outcome scale from 1e-3 to 1e4, and a between-LA SD from 0 to 3 times the
residual SD. Columns: ``design, la, parent, x, y``. The last 16 designs are larger
(60-200 rows in 5-12 LAs) with the same bad scaling.

Run from the repository root: ``python tests/reference/make_lmm_sweep_data.py``; then
``Rscript tests/reference/lmm_sweep.R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
N_DESIGNS = 160


def design(k: int) -> pd.DataFrame:
    rng = np.random.default_rng(14_000 + k)
    large = k >= N_DESIGNS - 16
    n = int(rng.integers(60, 201)) if large else int(rng.integers(6, 21))
    n_la = int(rng.integers(5, 13)) if large else int(rng.integers(2, min(5, n // 2) + 1))
    la = np.sort(rng.integers(0, n_la, n))
    la = pd.factorize(la, sort=True)[0]  # no empty LA codes
    nested = rng.random() < 0.4
    parent = rng.integers(0, 3 if not large else 8, n) if nested else np.arange(n)
    xscale = 10.0 ** rng.uniform(-3, 4)
    x = rng.normal(size=n) * xscale + rng.choice([0.0, 1e2, 1e4]) * xscale
    yscale = 10.0 ** rng.uniform(-3, 4)
    sd_la = rng.choice([0.0, 0.3, 1.0, 3.0])
    sd_p = rng.choice([0.0, 0.5, 1.5]) if nested else 0.0
    b = rng.normal(0, sd_la, la.max() + 1)[la]
    pkey = la * 100 + parent
    bp = pd.Series(rng.normal(0, sd_p, n)).groupby(pkey).transform("first").to_numpy()
    y = yscale * (1.0 + 0.5 * (x - x.mean()) / (xscale + 1e-12) + b + bp + rng.normal(size=n))
    return pd.DataFrame({"design": k, "la": [f"L{i}" for i in la],
                         "parent": [f"P{p}" for p in parent] if nested else "",
                         "nested": int(nested), "x": np.round(x, 6),
                         "y": np.array([float(f"{v:.12g}") for v in y])})


if __name__ == "__main__":
    pd.concat([design(k) for k in range(N_DESIGNS)], ignore_index=True).to_csv(
        HERE / "lmm_sweep.csv", index=False)
