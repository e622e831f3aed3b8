"""The multilevel package speaks the vocabulary of docs/conventions.md: every table its
fitters and its analysis return (columns and term labels), and the behaviour of its
result objects (one-line repr, summary with text, HTML and tables, to_frame)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from rpc_eval.multilevel import caterpillar_plot, fit_glmm, fit_lmm, funnel_limits
from rpc_eval.multilevel.analysis import MultilevelResults, _ancova_frame, multilevel_analysis
from rpc_eval.multilevel.compare import FUNNEL_COLUMNS
from rpc_eval.multilevel.glmm import GLMM_FIXED_COLUMNS
from rpc_eval.multilevel.lmm import (
    BLUP_COLUMNS,
    FIXED_COLUMNS,
    ICC_COLUMNS,
    VARIANCE_COLUMNS,
    LmmResult,
    LmmSlopesResult,
)
from rpc_eval.results import Result, ResultSet, Summary


@pytest.fixture(scope="module")
def small():
    from rpc_eval.synthetic import generate

    data, _ = generate("small", seed=11)
    return data


@pytest.fixture(scope="module")
def frame(small):
    """Baseline and end scores of paired parents, with their LA and intervention."""
    return _ancova_frame(small, "csi4", "total", ("baseline", "end"))


@pytest.fixture(scope="module")
def fits(small, frame):
    starters = small.parents[small.parents["start_date"].notna()
                             & (small.parents["exit_reason"] != "ongoing")].copy()
    starters["completed"] = (starters["exit_reason"] == "completed").astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {
            "analysis": multilevel_analysis(small, instrument="csi4", scale="total",
                                            n_boot=19, seed=1),
            "lmm": fit_lmm(frame, "score_end ~ score_baseline + C(intervention)",
                           groups="la_code"),
            "lmm_ml": fit_lmm(frame, "score_end ~ score_baseline + C(intervention)",
                              groups="la_code", reml=False),
            "lmm_ml0": fit_lmm(frame, "score_end ~ score_baseline", groups="la_code",
                               reml=False),
            "slopes": fit_lmm(frame, "score_end ~ score_baseline + intervention",
                              groups="la_code", re_formula="~score_baseline"),
            "glmm": fit_glmm(starters, "completed ~ C(intervention)", "la_code", n_agq=5),
            "funnel": funnel_limits(starters, "la_code", "completed"),
        }
    return out


def _check_result(res, check, what):
    """One-line repr; summary() a Summary with text, HTML and tidy tables; the HTML
    view; to_frame() a copy of the main table."""
    assert isinstance(res, Result), what
    line = repr(res)
    assert "\n" not in line and line.startswith("<") and len(line) < 400, (what, line)
    summ = res.summary()
    assert isinstance(summ, Summary)
    assert summ.tables and summ.title in summ.as_text()
    assert summ.as_html().startswith("<div") and "<table" in summ.as_html()
    assert res._repr_html_() == summ.as_html()
    for name, table in summ.tables.items():
        check(table, f"{what}.summary().tables[{name!r}]")
    main = res.to_frame()
    assert main.equals(next(iter(summ.tables.values())))
    main.iloc[:, 0] = None  # a copy: the result is unchanged
    assert not res.to_frame().iloc[:, 0].isna().all()


def test_lmm_tables_and_result(fits, frame, check_conventions):
    fit = fits["lmm"]
    assert isinstance(fit, LmmResult)
    assert list(fit.fixed_effects.columns) == FIXED_COLUMNS
    assert list(fit.variance_components.columns) == VARIANCE_COLUMNS
    assert list(fit.icc().columns) == ICC_COLUMNS
    assert list(fit.blups().columns) == BLUP_COLUMNS
    # C(intervention) in the formula, intervention[T.x] in the table; same fit either way
    terms = fit.fixed_effects["term"].tolist()
    assert any(t.startswith("intervention[T.") for t in terms)
    assert not any("C(" in t for t in terms)
    plain = fit_lmm(frame, "score_end ~ score_baseline + intervention",
                    groups="la_code")
    pd.testing.assert_frame_equal(plain.fixed_effects, fit.fixed_effects)
    assert list(fit.vcov.index) == terms
    tables = {"fixed_effects": fit.fixed_effects,
              "variance_components": fit.variance_components, "icc": fit.icc(),
              "icc_boot": fit.icc(ci=0.9, n_boot=9, seed=1),
              "bootstrap": fit.bootstrap(n_boot=9, seed=1), "blups": fit.blups(),
              "lr_test": fits["lmm_ml"].lr_test(fits["lmm_ml0"])}
    for name, table in tables.items():
        check_conventions(table, f"fit_lmm.{name}")
    _check_result(fit, check_conventions, "LmmResult")


def test_slopes_tables_and_result(fits, check_conventions):
    fit = fits["slopes"]
    assert isinstance(fit, LmmSlopesResult)
    assert list(fit.fixed_effects.columns) == FIXED_COLUMNS
    assert list(fit.variance_components.columns) == VARIANCE_COLUMNS
    check_conventions(fit.fixed_effects, "slopes.fixed_effects")
    check_conventions(fit.variance_components, "slopes.variance_components")
    _check_result(fit, check_conventions, "LmmSlopesResult")


def test_glmm_tables_and_result(fits, check_conventions):
    fit = fits["glmm"]
    assert list(fit.fixed_effects.columns) == GLMM_FIXED_COLUMNS
    assert list(fit.variance_components.columns) == VARIANCE_COLUMNS
    assert list(fit.blups().columns) == BLUP_COLUMNS
    assert any(t.startswith("intervention[T.") for t in fit.fixed_effects["term"])
    assert list(fit.cov_params.index) == fit.fixed_effects["term"].tolist()
    for name, table in {"fixed_effects": fit.fixed_effects, "blups": fit.blups(),
                        "variance_components": fit.variance_components}.items():
        check_conventions(table, f"fit_glmm.{name}")
    _check_result(fit, check_conventions, "GlmmResult")


def test_funnel_tables_result_and_plots(fits, check_conventions):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = fits["funnel"]
    assert list(res.table.columns) == FUNNEL_COLUMNS
    check_conventions(res.table, "funnel_limits.table")
    check_conventions(res.limits_curve(), "funnel_limits.limits_curve")
    _check_result(res, check_conventions, "FunnelResult")
    ax = res.plot()
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    ax = caterpillar_plot(fits["glmm"].blups(), component="la_code")
    assert ax.get_xlabel() and ax.get_ylabel()
    plt.close("all")


def test_figures_share_the_style_module(fits):
    """The multilevel figures draw with rpc_eval.stats.style's palette."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from rpc_eval.stats import style

    ax = fits["funnel"].plot()
    colours = {to_hex(line.get_color()) for line in ax.get_lines()}
    assert colours <= {c.lower() for c in style.PALETTE}
    plt.close("all")


def test_multilevel_analysis_outputs(fits, check_conventions):
    res = fits["analysis"]
    assert isinstance(res, MultilevelResults) and isinstance(res, ResultSet)
    line = repr(res)
    assert "\n" not in line and "outcome_model" in line and "completion_funnel" in line
    page = res._repr_html_()
    assert "href='#part-outcome_model'" in page and "<table" in page
    for name, value in res._parts().items():
        if isinstance(value, pd.DataFrame):
            check_conventions(value, f"multilevel_analysis.{name}")
        elif value is not None:
            for tname, table in value.summary().tables.items():
                check_conventions(table, f"multilevel_analysis.{name}.{tname}")
    for tname, table in res.summary().tables.items():
        check_conventions(table, f"multilevel_analysis.summary().tables[{tname!r}]")
    assert {"ci_low", "ci_high"} <= set(res.icc.columns)  # n_boot=19: intervals
    assert res.settings["groups"] == "la_code"
