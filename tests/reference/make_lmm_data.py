"""Write the three datasets of the linear-mixed-model fixtures (tests/reference/lmm.R).

Columns: la, parent, wave (0, 1, 2), arm (0/1, assigned by parent), x (a covariate), y.
Model: y = 10 + 0.5 wave + 0.3 arm - 0.8 wave:arm + 0.4 x + b_la + b_parent + e.

* lmm_balanced.csv   - 12 LAs x 10 parents x 3 waves, SD(la) 0.7, SD(parent) 1, SD(e) 1.
* lmm_unbalanced.csv - 15 LAs of 3-25 parents, each parent with 1-3 waves (attrition:
  dropout after baseline or end), a few LAs with a single parent; same SDs.
* lmm_nearzero.csv   - 10 LAs x 8 parents x 3 waves with no LA variation (SD(la) = 0),
  so the LA variance is estimated on the boundary.

Run: python tests/reference/make_lmm_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def simulate(sizes, waves_of, sd_la, sd_parent, rng):
    rows = []
    b_la = rng.normal(0, sd_la, len(sizes))
    for i, m in enumerate(sizes):
        for j in range(m):
            arm = int(rng.integers(0, 2))
            bp = rng.normal(0, sd_parent)
            for w in range(waves_of(rng)):
                x = rng.normal()
                y = (10 + 0.5 * w + 0.3 * arm - 0.8 * w * arm + 0.4 * x + b_la[i] + bp
                     + rng.normal())
                rows.append((f"L{i + 1:02d}", f"P{j + 1:03d}", w, arm, round(x, 6), round(y, 6)))
    return pd.DataFrame(rows, columns=["la", "parent", "wave", "arm", "x", "y"])


def main():
    rng = np.random.default_rng(20240601)
    simulate([10] * 12, lambda r: 3, 0.7, 1.0, rng).to_csv(HERE / "lmm_balanced.csv", index=False)
    sizes = list(rng.integers(3, 26, 12)) + [1, 1, 2]
    simulate(sizes, lambda r: int(r.choice([1, 2, 3], p=[0.2, 0.3, 0.5])), 0.7, 1.0,
             rng).to_csv(HERE / "lmm_unbalanced.csv", index=False)
    simulate([8] * 10, lambda r: 3, 0.0, 1.0, np.random.default_rng(1)).to_csv(
        HERE / "lmm_nearzero.csv", index=False)


if __name__ == "__main__":
    main()
