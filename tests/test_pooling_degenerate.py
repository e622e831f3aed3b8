"""Degenerate meta-analyses: identical estimates, k = 2, zero and huge heterogeneity.

Reference values: tests/reference/metafor_degenerate.R -> metafor_degenerate.json
(metafor 3.8.1). Every case must give metafor's answer, never an exception, and say
in ``notes`` what happened.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rpc_eval.stats.pooling import pool_estimates, random_effects  # noqa: E402

REF = json.loads((Path(__file__).parent / "reference" / "metafor_degenerate.json")
                 .read_text())
DATASETS = REF["datasets"]
FIELDS = {
    "b": "estimate", "se": "std_error", "ci_lb": "ci_low", "ci_ub": "ci_high",
    "zval": "statistic", "pval": "p_value", "tau2": "tau2", "se_tau2": "tau2_se", "I2": "i2",
    "H2": "h2", "QE": "q", "QEp": "q_p_value", "pi_lb": "pred_low", "pi_ub": "pred_high",
}
CASES = [(d, f) for d in DATASETS for f in DATASETS[d]["fits"]]
# 1e-6 relative as in test_pooling.py; the absolute part is scaled by the spread of the
# estimates, since quantities that are 0 in theory (a pooled estimate of -7.5e-10 from
# estimates of -1000 and 1000) carry rounding error of order 1e-16 x that spread
RTOL = 1e-6


def _value(x):
    if isinstance(x, str):
        return {"Inf": math.inf, "-Inf": -math.inf, "NA": math.nan}[x]
    return x


def _fit(dname, fname):
    ds = DATASETS[dname]
    ref = ds["fits"][fname]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = random_effects(ds["yi"], ds["sei"], method=ref["method"],
                             knha=ref["test"] in ("knha", "adhoc"),
                             knha_truncate=ref["test"] == "adhoc")
    return res, ref


@pytest.mark.parametrize(("dname", "fname"), CASES, ids=[f"{d}-{f}" for d, f in CASES])
def test_degenerate_cases_match_metafor(dname, fname):
    res, ref = _fit(dname, fname)
    y = np.asarray(DATASETS[dname]["yi"], dtype=float)
    atol = 1e-12 * max(1.0, float(np.ptp(y)) ** 2)
    compared = 0
    for rname, attr in FIELDS.items():
        if ref.get(rname) is None:       # not defined by metafor (FE prediction interval)
            continue
        expected, got = _value(ref[rname]), getattr(res, attr)
        if math.isnan(expected) or math.isinf(expected):
            assert got == expected or (math.isnan(expected) and math.isnan(got)), (
                f"{dname}/{fname}: {attr} = {got!r}, metafor {rname} = {ref[rname]!r}")
        else:
            assert got == pytest.approx(expected, rel=RTOL, abs=atol), (
                f"{dname}/{fname}: {attr} = {got!r}, metafor {rname} = {expected!r}")
        compared += 1
    assert compared >= (12 if ref["method"] == "FE" else 14)
    np.testing.assert_allclose(res.studies["weight"], ref["weights"], rtol=RTOL, atol=1e-9)


def test_identical_estimates_with_knha_give_zero_width_and_say_so():
    res = random_effects([0.4, 0.4, 0.4, 0.4], [0.1, 0.12, 0.2, 0.15], knha=True)
    assert res.std_error == 0.0 and res.ci_low == res.ci_high == pytest.approx(0.4)
    assert res.hk_scale == 0.0 and res.p_value == 0.0 and res.statistic == math.inf
    assert any("zero width" in n and "knha_truncate=True" in n for n in res.notes)
    assert any("identical" in n for n in res.notes)
    assert "Notes:" in res.summary().as_text() and "zero width" in str(res.summary())
    # the table, the HTML and the forest plot work on the degenerate result
    assert res.table["std_error"].iloc[0] == 0.0
    assert "<table" in res._repr_html_()
    ax = res.forest_plot()
    assert ax.figure is not None
    plt.close(ax.figure)
    # the equal-proportions case of regional pooling, through pool_estimates
    las = pd.DataFrame({"la_code": ["E1", "E2", "E3"], "p": [0.5, 0.5, 0.5],
                        "se": [0.05, 0.06, 0.07]})
    pooled = pool_estimates(las, "p", "se", label="la_code", knha=True)
    assert pooled.estimate == pytest.approx(0.5) and pooled.std_error == 0.0


def test_zero_estimate_zero_se_statistic_undefined():
    res = random_effects([0.0, 0.0], [0.1, 0.2], knha=True)
    assert math.isnan(res.statistic) and math.isnan(res.p_value)
    assert any("undefined" in n for n in res.notes)
    assert any("Only two" in n for n in res.notes)
    assert "p = NA" in res.summary().as_text()


def test_notes_for_boundary_and_huge_heterogeneity():
    zero = random_effects(DATASETS["zero_heterogeneity"]["yi"],
                          DATASETS["zero_heterogeneity"]["sei"])
    assert zero.tau2 == 0.0
    assert any("estimated as 0" in n for n in zero.notes)
    huge = random_effects(DATASETS["huge_heterogeneity"]["yi"],
                          DATASETS["huge_heterogeneity"]["sei"], knha=True)
    assert any("I^2 = 100.0%" in n for n in huge.notes)
    narrow = random_effects(DATASETS["k2_homogeneous"]["yi"],
                            DATASETS["k2_homogeneous"]["sei"], knha=True)
    assert any("narrower than the unadjusted" in n for n in narrow.notes)
    ordinary = random_effects([-0.3, 0.1, 0.5, 0.2, -0.1], [0.2, 0.25, 0.2, 0.3, 0.22])
    assert ordinary.notes == []
