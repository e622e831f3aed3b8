"""Every public fitter takes pandas nullable columns and follows one missing-data policy.

Intake produces ``Int64`` / ``Float64`` / ``boolean`` columns (with ``pd.NA`` for blanks).
Each fitter must accept them with and without missing values; rows with a missing
value in a column the model uses are dropped with a ``DataQualityWarning`` giving the
count, and the count is on the result. The numbers must be those of the same data in
plain numpy dtypes.

Event coding (Cox and Fine-Gray): a censoring code that does not occur in a text event
column is refused with the codes found; with ``censored="ongoing"`` the Fine-Gray fit
equals the numeric coding, which tests/test_engagement_finegray.py checks against
``cmprsk::crr``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.engagement.cox import fit_cox
from rpc_eval.engagement.discrete import fit_discrete_hazard
from rpc_eval.engagement.finegray import fine_gray
from rpc_eval.errors import DataQualityWarning, RpcEvalError
from rpc_eval.multilevel import fit_glmm, fit_lmm, funnel_limits
from rpc_eval.stats.pooling import pool_estimates

REF_DIR = Path(__file__).parent / "reference"
N, N_LA = 240, 12


@pytest.fixture(scope="module")
def plain() -> pd.DataFrame:
    rng = np.random.default_rng(14)
    la = np.repeat(np.arange(N_LA), N // N_LA)
    x = rng.normal(size=N)
    arm = rng.random(N) < 0.5
    u = rng.normal(0, 0.7, N_LA)[la]
    y = 1 + 0.5 * x + 0.3 * arm + u + rng.normal(size=N)
    yb = rng.random(N) < 1 / (1 + np.exp(-(-0.2 + 0.6 * x + u)))
    t = rng.integers(1, 12, N)
    ev = rng.integers(0, 3, N)
    return pd.DataFrame({"la": la, "x": x, "arm": arm, "y": y, "yb": yb, "t": t, "ev": ev,
                         "n_sessions": rng.integers(1, 9, N)})


def nullable(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = pd.array(out[c], dtype="boolean")
        elif pd.api.types.is_integer_dtype(out[c]):
            out[c] = pd.array(out[c], dtype="Int64")
        else:
            out[c] = pd.array(out[c], dtype="Float64")
    return out


def _fitters():
    """(name, call, number to compare, columns the model uses) for every public fitter."""
    return [
        ("fit_lmm", lambda d: fit_lmm(d, "y ~ x + arm", groups="la"),
         lambda r: r.fixed_effects["estimate"].to_numpy(), ["y", "x", "arm", "la"]),
        ("fit_lmm slopes", lambda d: fit_lmm(d, "y ~ x", groups="la", re_formula="~x"),
         lambda r: r.fixed_effects["estimate"].to_numpy(), ["y", "x", "la"]),
        ("fit_glmm", lambda d: fit_glmm(d, "yb ~ x + arm", groups="la", n_agq=1),
         lambda r: r.fixed_effects["estimate"].to_numpy(), ["yb", "x", "arm", "la"]),
        ("fit_cox", lambda d: fit_cox(d, "t", "ev", covariates=["x", "arm"], cluster="la"),
         lambda r: r.coefficients["estimate"].to_numpy(), ["t", "ev", "x", "arm", "la"]),
        ("fine_gray", lambda d: fine_gray(d, "t", "ev", event_of_interest=1, covariates=["x", "arm"]),
         lambda r: r.coefficients["estimate"].to_numpy(), ["t", "ev", "x", "arm"]),
        ("fit_discrete_hazard",
         lambda d: fit_discrete_hazard(d.rename(columns={"yb": "dropout", "t": "session"}),
                                       "dropout", ["x", "arm"], time_effect="linear"),
         lambda r: r.coefficients["estimate"].to_numpy(), ["yb", "t", "x", "arm"]),
        ("funnel_limits", lambda d: funnel_limits(d, "la", "yb"),
         lambda r: r.table["rate"].to_numpy(), ["la", "yb"]),
    ]


FITTERS = _fitters()
IDS = [f[0] for f in FITTERS]


def _quiet(call, frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(frame)


@pytest.mark.parametrize("case", FITTERS, ids=IDS)
def test_nullable_columns_without_missing_values(plain, case):
    name, call, value, _ = case
    ref = value(_quiet(call, plain))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = call(nullable(plain))
    assert not [w for w in caught if issubclass(w.category, DataQualityWarning)], name
    np.testing.assert_allclose(value(res), ref, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", FITTERS, ids=IDS)
def test_nullable_columns_with_pd_na_dropped_counted_and_warned(plain, case):
    name, call, value, used = case
    rng = np.random.default_rng(7)
    holed = nullable(plain)
    rows = rng.choice(N, size=(len(holed.columns), 2), replace=False)
    for c, r in zip(holed.columns, rows, strict=True):
        holed.loc[r, c] = pd.NA
    bad = holed[used].isna().any(axis=1)
    expected_drop = int(bad.sum())
    assert expected_drop >= 2
    with pytest.warns(DataQualityWarning, match=f"{expected_drop}"):
        res = call(holed)
    dropped = getattr(res, "n_dropped", None)
    assert dropped == expected_drop, f"{name}: n_dropped {dropped} != {expected_drop}"
    # the same numbers as the complete rows in plain numpy dtypes
    ref = value(_quiet(call, plain.loc[~bad.to_numpy()].reset_index(drop=True)))
    np.testing.assert_allclose(value(res), ref, rtol=1e-10, atol=1e-12, err_msg=name)


def test_pool_estimates_nullable_and_missing():
    las = pd.DataFrame({"la": ["A", "B", "C", "D"],
                        "est": pd.array([0.1, 0.25, 0.3, 0.5], dtype="Float64"),
                        "se": pd.array([0.1, 0.12, 0.2, 0.1], dtype="Float64")})
    res = pool_estimates(las, "est", "se", label="la")
    ref = pool_estimates(las.astype({"est": float, "se": float}), "est", "se", label="la")
    assert res.estimate == ref.estimate and res.tau2 == ref.tau2
    # a missing LA estimate is refused by name, not dropped: pooling without an LA
    # changes what the pooled figure means
    las.loc[3, "est"] = pd.NA
    with pytest.raises(RpcEvalError, match="missing or infinite for: D"):
        pool_estimates(las, "est", "se", label="la")


# --------------------------------------------------------------------------- event codes
TEXT = {0: "ongoing", 1: "dropped_out", 2: "completed"}


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "engagement_small.csv")


def test_fine_gray_text_codes_default_censored_refused(small):
    d = small.assign(status=small["event"].map(TEXT))
    with pytest.raises(RpcEvalError) as err:
        fine_gray(d, "days", "status", event_of_interest="dropped_out", covariates=["group", "age", "workless"])
    msg = str(err.value)
    assert "censoring code 0 does not occur" in msg
    assert "'completed', 'dropped_out', 'ongoing'" in msg and "censored='ongoing'" in msg


def test_fine_gray_text_codes_with_censored_match_crr(small):
    ref = json.loads((REF_DIR / "finegray.json").read_text())
    cause1 = next(c for c in ref["datasets"]["small"]["causes"] if c["cause"] == 1)
    d = small.assign(status=small["event"].map(TEXT))
    fit = fine_gray(d, "days", "status", event_of_interest="dropped_out", covariates=["group", "age", "workless"],
                    censored="ongoing")
    np.testing.assert_allclose(fit.coefficients["estimate"], cause1["crr"]["coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.coefficients["std_error"],
                               np.sqrt(np.diag(cause1["crr"]["var"])), rtol=1e-6)
    assert fit.n_events == cause1["n_events"]
    # a censoring code that is not in the column is refused, even when given
    with pytest.raises(RpcEvalError, match="'censored' does not occur"):
        fine_gray(d, "days", "status", event_of_interest="dropped_out", covariates=["age"], censored="censored")
    # the same code for censoring and for the event
    with pytest.raises(RpcEvalError, match="both 'ongoing'"):
        fine_gray(d, "days", "status", event_of_interest="ongoing", covariates=["age"], censored="ongoing")


def test_numeric_codes_without_censoring_warn_not_refuse(small):
    d = small[small["event"] != 0]
    with pytest.warns(DataQualityWarning, match="no row has the censoring code 0"):
        fit = fine_gray(d, "days", "event", event_of_interest=1, covariates=["age"])
    none = fine_gray(d, "days", "event", event_of_interest=1, covariates=["age"], censored=None)
    np.testing.assert_allclose(fit.coefficients["estimate"], none.coefficients["estimate"])
    # numbers stored as text are text: refused with the codes shown as text
    with pytest.raises(RpcEvalError, match="codes found: '0', '1', '2'"):
        fine_gray(small.assign(event=small["event"].astype(str)), "days", "event", event_of_interest="1",
                  covariates=["age"])


def test_cox_event_codes(small):
    d = small.assign(status=small["event"].map(TEXT))
    num = fit_cox(small, "days", "event", covariates=["age", "workless"], event_of_interest=1)
    txt = fit_cox(d, "days", "status", covariates=["age", "workless"], event_of_interest="dropped_out",
                  censored="ongoing")
    np.testing.assert_allclose(txt.coefficients["estimate"], num.coefficients["estimate"])
    with pytest.raises(RpcEvalError, match=r"censoring code 0 does not occur.*codes found: "
                                           r"'completed', 'dropped_out', 'ongoing'"):
        fit_cox(d, "days", "status", covariates=["age"])
    with pytest.raises(RpcEvalError, match=r"no event of interest .*codes found: "
                                           r"'completed', 'dropped_out', 'ongoing'"):
        fit_cox(d, "days", "status", covariates=["age"], censored="ongoing")
    with pytest.raises(RpcEvalError, match="censoring code 0 does not occur"):
        fit_cox(d, "days", "status", covariates=["age"], event_of_interest="dropped_out", censored=0)
