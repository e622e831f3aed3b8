"""Write the two engagement reference datasets used by the R fixtures.

* ``engagement_small.csv``: 300 parents, ``days`` from start to exit on a continuous-ish
  scale (one decimal, so a few ties), 3 groups ``A``/``B``/``C``, 12 local authorities.
  Cause-specific exponential hazards per day, with an LA frailty (log-normal, SD 0.3):
  dropout ``0.006 * exp(0.5 [B] - 0.4 [C] + 0.4 workless + 0.02 (age - 35) + u_la)``,
  completion ``0.008 * exp(-0.3 [B] + 0.2 [C] - 0.3 workless + u_la / 2)``; independent
  uniform(20, 200) censoring. Ages are clipped to 18..65.
* ``engagement_ties.csv``: 2,000 parents, ``sessions`` attended (0..12, heavy ties), 4
  groups ``A``..``D``, 20 LAs. Each parent plans 6, 8, 10 or 12 sessions; before each
  session a parent drops out with a per-session probability depending on group,
  ``workless`` and LA; reaching the planned number is completion; about a quarter are
  still attending (censored) at a uniform session count.

Columns of both: ``parent_id, la_code, group, age, workless`` then the duration
(``days`` or ``sessions``; ``engagement_ties.csv`` also has ``sessions_planned``) and
``event`` (0 censored, 1 dropout, 2 completion). Other fixtures (Cox, Fine-Gray) reuse
these files: do not change them.

Run from the repository root: ``python tests/reference/make_engagement_data.py``; then
``Rscript tests/reference/nonparametric.R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def make_small(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    n_la = 12
    la = rng.integers(0, n_la, size=n)
    u = rng.normal(0.0, 0.3, size=n_la)[la]
    group = rng.choice(np.array(["A", "B", "C"]), size=n, p=[0.4, 0.3, 0.3])
    age = np.clip(np.round(rng.normal(35.0, 7.0, size=n), 1), 18.0, 65.0)
    workless = rng.binomial(1, 0.35, size=n)
    b, c = (group == "B").astype(float), (group == "C").astype(float)
    lam1 = 0.006 * np.exp(0.5 * b - 0.4 * c + 0.4 * workless + 0.02 * (age - 35.0) + u)
    lam2 = 0.008 * np.exp(-0.3 * b + 0.2 * c - 0.3 * workless + u / 2)
    t1 = rng.exponential(1.0 / lam1)
    t2 = rng.exponential(1.0 / lam2)
    cens = rng.uniform(20.0, 200.0, size=n)
    t = np.minimum(np.minimum(t1, t2), cens)
    event = np.where(t == cens, 0, np.where(t == t1, 1, 2))
    days = np.round(t, 1)
    days = np.maximum(days, 0.1)
    return pd.DataFrame({
        "parent_id": [f"S{i:04d}" for i in range(1, n + 1)],
        "la_code": [f"LA{j + 1:02d}" for j in la],
        "group": group,
        "age": age,
        "workless": workless,
        "days": days,
        "event": event,
    })


def make_ties(rng: np.random.Generator, n: int = 2000) -> pd.DataFrame:
    n_la = 20
    la = rng.integers(0, n_la, size=n)
    u = rng.normal(0.0, 0.3, size=n_la)[la]
    group = rng.choice(np.array(["A", "B", "C", "D"]), size=n, p=[0.3, 0.25, 0.25, 0.2])
    age = np.clip(np.round(rng.normal(34.0, 8.0, size=n), 1), 18.0, 65.0)
    workless = rng.binomial(1, 0.4, size=n)
    planned = rng.choice(np.array([6, 8, 10, 12]), size=n)
    base = {"A": -2.6, "B": -2.2, "C": -2.9, "D": -2.4}
    eta = np.array([base[g] for g in group]) + 0.35 * workless + 0.015 * (age - 34.0) + u
    h = 1.0 / (1.0 + np.exp(-eta))  # per-session dropout probability
    # dropout after k completed sessions, k = 0, 1, ...: geometric number of successes
    drop_after = rng.geometric(h) - 1
    still = rng.random(n) < 0.25
    cens_at = np.where(still, rng.integers(0, 13, size=n), 99)
    sessions = np.minimum(np.minimum(drop_after, planned), cens_at)
    event = np.where(
        (drop_after <= cens_at) & (drop_after < planned),
        1,
        np.where((planned <= cens_at) & (planned <= drop_after), 2, 0),
    )
    return pd.DataFrame({
        "parent_id": [f"T{i:05d}" for i in range(1, n + 1)],
        "la_code": [f"LA{j + 1:02d}" for j in la],
        "group": group,
        "age": age,
        "workless": workless,
        "sessions_planned": planned,
        "sessions": sessions.astype(int),
        "event": event.astype(int),
    })


if __name__ == "__main__":
    rng = np.random.default_rng(20240612)
    make_small(rng).to_csv(HERE / "engagement_small.csv", index=False)
    make_ties(rng).to_csv(HERE / "engagement_ties.csv", index=False)
