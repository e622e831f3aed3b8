"""Write ``tests/reference/discrete_pp.csv``: a deterministic person-period table for discrete.R.

600 parents in 24 local authorities, up to 10 sessions each. One row per parent and
session at risk, with ``dropout`` = 1 in the session the parent dropped out (after which
the parent has no more rows). Parents still engaged after session 10 completed (no event).

Columns: ``parent_id, la_code, mode, age, session, dropout``.

* ``mode``: ``"face_to_face"`` / ``"online"`` (text, so the categorical coding is tested;
  the reference level is ``face_to_face``, first alphabetically, as in R);
* ``age``: years, one decimal;
* the dropout hazard is logit-linear in session dummies, ``mode`` and ``age``, plus a
  local-authority random intercept (SD 0.5), so the cluster-robust SEs differ from the
  model-based ones.

Run from the repository root: ``python tests/reference/make_discrete_pp.py``; then
``Rscript tests/reference/discrete.R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent

#: True logit hazards by session for a face-to-face parent aged 35 (before the LA effect).
ALPHA = np.array([-1.6, -2.0, -2.3, -2.5, -2.6, -2.6, -2.5, -2.4, -2.3, -2.2])
BETA_ONLINE = 0.45
BETA_AGE = -0.02


def make(n: int = 600, n_la: int = 24, seed: int = 20240917) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    la = rng.integers(0, n_la, size=n)
    la_effect = rng.normal(0.0, 0.5, size=n_la)
    online = rng.random(n) < 0.4
    age = np.round(rng.normal(35.0, 8.0, size=n), 1)
    rows = []
    for i in range(n):
        for s in range(1, 11):
            eta = ALPHA[s - 1] + BETA_ONLINE * online[i] + BETA_AGE * (age[i] - 35.0) \
                + la_effect[la[i]]
            event = int(rng.random() < 1.0 / (1.0 + np.exp(-eta)))
            rows.append((f"P{i + 1:04d}", f"LA{la[i] + 1:02d}",
                         "online" if online[i] else "face_to_face", age[i], s, event))
            if event:
                break
    return pd.DataFrame(rows, columns=["parent_id", "la_code", "mode", "age", "session",
                                       "dropout"])


if __name__ == "__main__":
    make().to_csv(HERE / "discrete_pp.csv", index=False)
