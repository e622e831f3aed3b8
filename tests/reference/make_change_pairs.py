"""Write ``tests/reference/change_pairs.csv``: deterministic pre/post pairs for change.R.

Three samples of different size, correlation and spread:

* ``small_integer``: n = 14, whole-number scores like a PHQ-9 total (ties and zero
  differences, so the Wilcoxon tie and zero handling is exercised), scores fall;
* ``medium``: n = 42 rows, r about 0.7, two decimals, scores rise; two rows have a
  missing pre or post value, which both sides must drop (40 complete pairs);
* ``large_unequal``: n = 150, r about 0.2, pre SD 8 and post SD 12 (d_av differs
  from d_rm), small fall.

Run from the repository root: ``python tests/reference/make_change_pairs.py``; then
``Rscript tests/reference/change.R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def make() -> pd.DataFrame:
    rng = np.random.default_rng(20240611)
    frames = []

    # small_integer: PHQ-9-like totals, 0..27
    cov = np.array([[25.0, 0.5 * 5 * 5], [0.5 * 5 * 5, 25.0]])
    xy = rng.multivariate_normal([14.0, 11.0], cov, size=14)
    xy = np.clip(np.rint(xy), 0, 27)
    xy[3, 1] = xy[3, 0]  # make sure there are zero differences
    xy[9, 1] = xy[9, 0]
    frames.append(pd.DataFrame({"sample": "small_integer", "pre": xy[:, 0], "post": xy[:, 1]}))

    # medium: r ~ 0.7, rises, two incomplete rows
    cov = np.array([[36.0, 0.7 * 6 * 7], [0.7 * 6 * 7, 49.0]])
    xy = np.round(rng.multivariate_normal([45.0, 48.0], cov, size=42), 2)
    xy[5, 0] = np.nan
    xy[30, 1] = np.nan
    frames.append(pd.DataFrame({"sample": "medium", "pre": xy[:, 0], "post": xy[:, 1]}))

    # large_unequal: r ~ 0.2, unequal SDs, small fall
    cov = np.array([[64.0, 0.2 * 8 * 12], [0.2 * 8 * 12, 144.0]])
    xy = np.round(rng.multivariate_normal([20.0, 18.5], cov, size=150), 2)
    frames.append(pd.DataFrame({"sample": "large_unequal", "pre": xy[:, 0], "post": xy[:, 1]}))

    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    make().to_csv(HERE / "change_pairs.csv", index=False, na_rep="NA")
