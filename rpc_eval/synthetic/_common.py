"""Small helpers shared by the synthetic-data modules (dates, ids, typed frames)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from rpc_eval.data.model import empty_table


def day(iso: str) -> int:
    """Day number (days since 1970-01-01) of an ISO date string."""
    return int(np.datetime64(iso, "D").astype(np.int64))


def to_datetime(days: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``datetime64[ns]`` array from day numbers; NaT where ``valid`` is False."""
    days = np.asarray(days, dtype=np.int64)
    ok = np.ones(days.shape, bool) if valid is None else np.asarray(valid, bool)
    out = np.where(ok, days, 0).astype("datetime64[D]").astype("datetime64[ns]")
    out[~ok] = np.datetime64("NaT")
    return out


def make_ids(prefix: str, n: int, width: int | None = None) -> np.ndarray:
    """``prefix`` + zero-padded 1..n as an object array (width at least 3)."""
    width = width or max(3, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def draw_categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category index per row of ``probs`` (rows need not be normalised)."""
    probs = np.atleast_2d(np.asarray(probs, float))
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def choice(rng: np.random.Generator, codes: Sequence[Any], probs: Sequence[float], n: int):
    """``n`` codes drawn with ``probs`` (normalised) as an object array."""
    p = np.asarray(probs, float)
    idx = rng.choice(len(codes), size=n, p=p / p.sum())
    return np.asarray(codes, dtype=object)[idx]


def linear_predictor(coefs: Mapping[str, float], covariates: Mapping[str, np.ndarray]):
    """Sum of coefficient x covariate over the coefficients named."""
    n = len(next(iter(covariates.values())))
    eta = np.zeros(n)
    for name, b in coefs.items():
        eta += float(b) * np.asarray(covariates[name], float)
    return eta


def solve_intercept(rate: Callable[[float], float], target: float) -> float:
    """The intercept ``a`` at which the monotone function ``rate(a)`` equals target."""
    return float(brentq(lambda a: rate(a) - target, -25.0, 25.0, xtol=1e-12, rtol=1e-12))


def calibrate_logit(eta: np.ndarray, target: float, weights: np.ndarray | None = None):
    """Intercept ``a`` with weighted mean of expit(a + eta) equal to ``target``."""
    w = np.ones_like(eta) if weights is None else weights
    return solve_intercept(lambda a: float(np.average(expit(a + eta), weights=w)), target)


def rate_summary(p: np.ndarray) -> dict[str, float | int]:
    """n, expected rate (mean probability) and its Bernoulli SD for probabilities p."""
    p = np.asarray(p, float)
    n = int(p.size)
    if n == 0:
        return {"n": 0, "expected_rate": float("nan"), "bernoulli_sd": float("nan")}
    return {
        "n": n,
        "expected_rate": float(p.mean()),
        "bernoulli_sd": float(np.sqrt(np.sum(p * (1 - p))) / n),
    }


def typed_frame(table: str, data: Mapping[str, Any]) -> pd.DataFrame:
    """A DataFrame with exactly the schema's columns and dtypes of ``table``.

    ``data`` maps column -> array. Missing values: NaN/None for text, NaT for dates,
    a boolean mask via ``(values, mask)`` tuples for integer and boolean columns.
    A column left out is all blank.
    """
    template = empty_table(table)
    n = None
    for v in data.values():
        arr = v[0] if isinstance(v, tuple) else v
        n = len(arr)
        break
    n = 0 if n is None else n
    cols: dict[str, Any] = {}
    for name, dtype in template.dtypes.items():
        v = data.get(name)
        kind = str(dtype)
        if kind == "object":
            arr = np.full(n, np.nan, dtype=object) if v is None else np.asarray(v, dtype=object)
            cols[name] = pd.Series(arr, dtype=object)
        elif kind == "Int64":
            if v is None:
                v = (np.zeros(n, np.int64), np.ones(n, bool))
            vals, mask = v if isinstance(v, tuple) else (v, np.zeros(n, bool))
            cols[name] = pd.Series(pd.arrays.IntegerArray(
                np.asarray(vals, np.int64), np.asarray(mask, bool)))
        elif kind == "boolean":
            if v is None:
                v = (np.zeros(n, bool), np.ones(n, bool))
            vals, mask = v if isinstance(v, tuple) else (v, np.zeros(n, bool))
            cols[name] = pd.Series(pd.arrays.BooleanArray(
                np.asarray(vals, bool), np.asarray(mask, bool)))
        elif kind.startswith("datetime64"):
            arr = np.full(n, np.datetime64("NaT"), "datetime64[ns]") if v is None else v
            cols[name] = pd.Series(np.asarray(arr, dtype="datetime64[ns]"))
        else:
            arr = np.full(n, np.nan) if v is None else np.asarray(v, dtype=float)
            cols[name] = pd.Series(arr, dtype="float64")
    out = pd.DataFrame(cols, copy=False)
    if not out.dtypes.equals(template.dtypes):  # pragma: no cover - programming error
        raise TypeError(f"{table}: dtypes {dict(out.dtypes)} != {dict(template.dtypes)}")
    return out
