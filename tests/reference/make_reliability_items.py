"""Write ``tests/reference/reliability_items.csv``, the data of ``reliability.R``.

Run from the repository root::

    .venv/bin/python tests/reference/make_reliability_items.py
    Rscript tests/reference/reliability.R

The data are deterministic (``numpy.random.default_rng(20240501)``) and the CSV is
committed, so R and the tests read the same numbers.

Columns
-------
respondent_id, wave
    ``R001``..``R300``; ``baseline`` for the first 150 rows, ``end`` for the rest.
a1..a6
    Six ordinal items coded 0-4 from a one-factor (congeneric) latent model:
    ``y_j = lambda_j * eta + e_j``, ``eta ~ N(0, 1)``, ``e_j ~ N(0, 1 - lambda_j^2)``
    with loadings 0.8, 0.7, 0.6, 0.5, 0.7, 0.4, cut at item-specific thresholds.
    About 2% of the cells are blank (missing), so listwise deletion matters.
sdq_05, sdq_07, sdq_12, sdq_18, sdq_22
    An SDQ-conduct-like scale: raw codes 0-2 (Not true / Somewhat true / Certainly
    true), skewed like SDQ data, with ``sdq_07`` reverse-keyed as on the SDQ form (its
    raw code falls as the latent trait rises; its item score is ``2 - code``).
    About 1% blank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).with_name("reliability_items.csv")
SEED = 20240501
N = 300


def make(seed: int = SEED, n: int = N) -> pd.DataFrame:
    """The reference dataset (see the module docstring)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "respondent_id": [f"R{i:03d}" for i in range(1, n + 1)],
        "wave": ["baseline"] * (n // 2) + ["end"] * (n - n // 2),
    })
    # six 0-4 items, congeneric
    eta = rng.standard_normal(n)
    loadings = np.array([0.8, 0.7, 0.6, 0.5, 0.7, 0.4])
    shift = np.array([0.0, 0.3, -0.2, 0.5, -0.4, 0.1])
    cuts = np.array([-1.5, -0.5, 0.5, 1.5])
    for j, (lam, s) in enumerate(zip(loadings, shift, strict=True)):
        y = lam * eta + np.sqrt(1 - lam**2) * rng.standard_normal(n)
        code = np.searchsorted(cuts + s, y).astype(float)  # 0..4
        code[rng.random(n) < 0.02] = np.nan
        frame[f"a{j + 1}"] = code
    # SDQ-conduct-like 0-2 items; sdq_07 reverse-keyed on the form
    trait = rng.standard_normal(n)
    sdq_loadings = {"sdq_05": 0.7, "sdq_07": 0.55, "sdq_12": 0.6, "sdq_18": 0.5,
                    "sdq_22": 0.45}
    sdq_cuts = np.array([0.3, 1.3])
    for item, lam in sdq_loadings.items():
        y = lam * trait + np.sqrt(1 - lam**2) * rng.standard_normal(n)
        score = np.searchsorted(sdq_cuts, y).astype(float)  # item score 0..2
        code = 2.0 - score if item == "sdq_07" else score  # raw code on the form
        code[rng.random(n) < 0.01] = np.nan
        frame[item] = code
    return frame


if __name__ == "__main__":
    data = make()
    data.to_csv(OUT, index=False, float_format="%.0f", na_rep="")
    print(f"wrote {OUT} ({len(data)} rows)")
