"""Random-slopes engine (rpc_eval.multilevel.slopes) against lme4/lmerTest.

Reference values: tests/reference/lmm_slopes_engine.R -> lmm_slopes_engine.json (inputs
from make_lmm_slopes_data.py): correlated slopes, a small design, two singular designs
and a badly scaled one, each by REML and ML.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.errors import BoundaryFitWarning, ConvergenceWarning
from rpc_eval.multilevel import fit_lmm

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "lmm_slopes_engine.json").read_text())
DATA = pd.read_csv(REF / "lmm_slopes_designs.csv")
TERMS = {"(Intercept)": "(Intercept)", "x": "x", "armrpc": "arm[T.rpc]"}
CASES = [(d, m) for d in ("corr", "small", "noslope", "perfect") for m in ("reml", "ml")]


def _fit(name, method):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_lmm(DATA[DATA.design == name], "y ~ x + arm", "la",
                      reml=method == "reml", re_formula="~x")
    return fit, {w.category for w in caught}


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.mark.parametrize(("name", "method"), CASES, ids=[f"{d}-{m}" for d, m in CASES])
def test_matches_lmertest(name, method):
    r = FIX[name][method]
    fit, cats = _fit(name, method)
    assert ConvergenceWarning not in cats and fit.converged
    fe = fit.fixed_effects.set_index("term").loc[[TERMS[t] for t in r["terms"]]]
    assert _rel(fe["estimate"], r["estimate"]) < 1e-4
    assert _rel(fe["std_error"], r["std_error"]) < 1e-4
    assert _rel(fe["df"], r["df"]) < 1e-4          # Satterthwaite, as lmerTest
    assert fit.loglik == pytest.approx(r["loglik"], abs=1e-6)
    np.testing.assert_allclose(fit.variance_components["variance"], r["vc_vcov"],
                               rtol=1e-4, atol=1e-7)
    assert fit.correlations().iloc[0, 1] == pytest.approx(r["correlation"], abs=1e-4)
    np.testing.assert_allclose(fit.theta, r["theta"], atol=1e-4)
    # singular fits flagged as lme4::isSingular, with a BoundaryFitWarning
    assert fit.boundary == r["singular"]
    assert (BoundaryFitWarning in cats) == r["singular"]


def test_badly_scaled_slopes_beat_lme4_and_agree_with_the_well_scaled_fit():
    # x in thousands + 50,000: lme4 stops far short (its logLik is ~24 lower); the
    # engine standardises the columns and reaches the optimum of the same model
    r = FIX["scaled"]["reml"]
    fit, cats = _fit("scaled", "reml")
    assert fit.converged and ConvergenceWarning not in cats
    assert fit.loglik > r["loglik"] + 20
    well = DATA[DATA.design == "corr"].copy()
    ref = fit_lmm(well, "y ~ x + arm", "la", re_formula="~x")
    # same data up to x -> 1000 x + 5e4: slope / 1000, REML logLik - log(1000) from
    # log|X'V^-1 X|, and the slope variance / 1000^2
    assert fit.fixed_effects.set_index("term").loc["x", "estimate"] * 1e3 == pytest.approx(
        ref.fixed_effects.set_index("term").loc["x", "estimate"], rel=1e-6)
    assert fit.loglik == pytest.approx(ref.loglik - np.log(1e3), abs=1e-6)
    assert fit.cov_re.loc["x", "x"] * 1e6 == pytest.approx(ref.cov_re.loc["x", "x"],
                                                           rel=1e-5)


def test_no_statsmodels_for_slopes(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "statsmodels.formula.api", None)
    fit, _ = _fit("corr", "reml")
    assert fit.converged
