"""The engagement package speaks the vocabulary of docs/conventions.md.

Every public fitter and estimator of :mod:`rpc_eval.engagement` runs on the small
synthetic dataset and every table it returns is checked by the ``check_conventions``
fixture (columns and term labels); the results behave as one family (one-line repr,
``summary()`` with ``as_text``/``as_html``/``tables``, ``to_frame()``); and the shared
policies hold: one few-clusters threshold and message, one separation policy, one event
coding.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import rpc_eval.engagement as eng
from rpc_eval.engagement.separation import SeparationWarning
from rpc_eval.errors import DataQualityWarning
from rpc_eval.results import Result, ResultSet, Summary
from rpc_eval.stats.clusters import FEW_CLUSTERS, FewClustersWarning, few_clusters_message


@pytest.fixture(scope="module")
def small():
    from rpc_eval.synthetic import generate

    data, _ = generate("small", seed=11)
    return data


@pytest.fixture(scope="module")
def tte(small):
    frame = eng.time_to_event(small).dropna(subset=["relationship_status", "workless"])
    return frame.assign(workless=frame["workless"].astype(bool).astype(int))


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def fitted(small, tte):
    """Every public fitter and estimator of the package, on the small dataset."""
    covs = ["intervention", "relationship_status", "workless"]
    pp = eng.person_period(tte)
    out = {
        "engagement_analysis": _quiet(eng.engagement_analysis, small),
        "fit_cox": _quiet(eng.fit_cox, tte, "sessions", "event", covariates=covs,
                          cluster="la_code"),
        "fit_cox unclustered": _quiet(eng.fit_cox, tte, "sessions", "event",
                                      covariates=covs),
        "fine_gray": _quiet(eng.fine_gray, tte, "sessions", "event", covariates=covs,
                            event_of_interest=2, cluster="la_code"),
        "kaplan_meier": eng.kaplan_meier(tte, "sessions", "event", group="intervention"),
        "cumulative_incidence": eng.cumulative_incidence(tte, "sessions", "event",
                                                         group="intervention"),
        "fit_discrete_hazard": _quiet(eng.fit_discrete_hazard, pp, "dropout",
                                      ["relationship_status", "workless"],
                                      cluster="la_code"),
        "fit_discrete_hazard spline": _quiet(eng.fit_discrete_hazard, pp, "dropout",
                                             ["workless"], time_effect="spline",
                                             link="cloglog"),
    }
    return out


def _tables(fitted) -> dict[str, pd.DataFrame]:
    """Every table the package hands to a user, by name."""
    km, cif = fitted["kaplan_meier"], fitted["cumulative_incidence"]
    cox, fg, dh = fitted["fit_cox"], fitted["fine_gray"], fitted["fit_discrete_hazard"]
    tte = fitted["engagement_analysis"].time_to_event
    tables = {
        "fit_cox.coefficients": cox.coefficients,
        "fit_cox unclustered.coefficients": fitted["fit_cox unclustered"].coefficients,
        "fit_cox.test_proportional_hazards": cox.test_proportional_hazards(),
        "fit_cox.test_proportional_hazards(terms=False)":
            cox.test_proportional_hazards(terms=False),
        "fine_gray.coefficients": fg.coefficients,
        "fine_gray.predict_cif": fg.predict_cif(tte.head(2), times=[2, 4]),
        "fine_gray.baseline": fg.baseline,
        "kaplan_meier.table": km.table,
        "kaplan_meier.median": km.median(),
        "kaplan_meier.at_risk": km.at_risk([0, 2, 4]),
        "cumulative_incidence.table": cif.table,
        "cumulative_incidence.at": _quiet(cif.at, [2, 4]),
        "cumulative_incidence.final": cif.final(),
        "logrank_test": eng.logrank_test(tte, "sessions", "event", group="intervention"),
        "gray_test": eng.gray_test(tte, "sessions", "event", group="intervention"),
        "fit_discrete_hazard.coefficients": dh.coefficients,
        "fit_discrete_hazard spline.coefficients":
            fitted["fit_discrete_hazard spline"].coefficients,
        "fit_discrete_hazard.hazard_by_session": dh.hazard_by_session(),
        "empirical_hazard": eng.empirical_hazard(eng.person_period(tte), by="intervention"),
    }
    for name, result in fitted.items():
        if isinstance(result, Result):
            for tname, table in result.summary().tables.items():
                tables[f"{name}.summary().tables[{tname!r}]"] = table
    return tables


def test_every_table_speaks_the_vocabulary(fitted, check_conventions):
    tables = _tables(fitted)
    assert len(tables) > 25
    for name, table in tables.items():
        check_conventions(table, name)


def test_coefficient_tables_have_the_documented_columns(fitted):
    """docs/conventions.md, Outputs: the columns, in order; limits on the estimate's
    scale (log), ratios with their own limits."""
    first = ["term", "estimate", "std_error"]
    rest = ["statistic", "p_value", "ci_low", "ci_high", "ratio", "ratio_ci_low",
            "ratio_ci_high"]
    for name in ("fit_cox unclustered", "fine_gray", "fit_discrete_hazard"):
        co = fitted[name].coefficients
        assert list(co.columns[:10]) == first + rest, name
        finite = np.isfinite(co["estimate"])
        np.testing.assert_allclose(co.loc[finite, "ratio"], np.exp(co.loc[finite, "estimate"]))
        np.testing.assert_allclose(co.loc[finite, "ratio_ci_low"],
                                   np.exp(co.loc[finite, "ci_low"]))
        assert (co.loc[finite, "ci_low"] < co.loc[finite, "estimate"]).all(), name
    # clustered Cox: the model-based SE beside the robust one the limits use
    co = fitted["fit_cox"].coefficients
    assert list(co.columns) == first + ["naive_std_error"] + rest


def test_results_are_one_family(fitted):
    for name, res in fitted.items():
        assert isinstance(res, Result), name
        text = repr(res)
        assert "\n" not in text and len(text) < 250, name
        summary = res.summary()
        assert isinstance(summary, Summary)
        assert summary.as_text().splitlines()[0] == res._title()
        assert "<table" in summary.as_html() and summary.tables, name
        assert res._repr_html_() and isinstance(res.to_frame(), pd.DataFrame)
        assert len(res.to_frame()), name
    every = fitted["engagement_analysis"]
    assert isinstance(every, ResultSet)
    assert len(repr(every)) < 200  # was a page of numbers (about 15,000 characters)
    assert "<ul><li><a href='#part-funnel'>" in every._repr_html_()


def test_figures_are_exported_and_use_words(fitted):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name in ("plot_retention", "plot_cumulative_incidence", "plot_session_hazard",
                 "plot_ratios"):
        assert name in eng.__all__ and callable(getattr(eng, name))
    for name in ("kaplan_meier", "cumulative_incidence", "fit_cox", "fine_gray",
                 "fit_discrete_hazard"):
        plot = fitted[name].plot
        assert "show_ci" in inspect.signature(plot).parameters, name
    axes = fitted["cumulative_incidence"].plot()
    legend = [t.get_text() for t in np.ravel(axes)[0].get_legend().get_texts()]
    assert legend == ["Dropped out", "Completed"]
    ax = fitted["fit_cox"].plot()
    assert [t.get_text() for t in ax.get_yticklabels()][0].startswith("intervention: ")
    plt.close("all")


def _clustered(rng, n_clusters):
    n = 300
    x = rng.integers(0, 2, n)
    t = np.ceil(rng.exponential(8 / np.exp(0.5 * x)))
    c = np.ceil(rng.uniform(0, 20, n))
    status = np.where(t <= c, rng.integers(1, 3, n), 0)
    return pd.DataFrame({"t": np.minimum(t, c), "e": status, "x": x,
                         "la": np.arange(n) % n_clusters})


def test_one_few_clusters_threshold_and_message():
    """docs/conventions.md, Few clusters: below 10 every model warns, with one message."""
    assert FEW_CLUSTERS == 10
    rng = np.random.default_rng(4)
    data = _clustered(rng, 9)
    calls = {
        "the Cox model": lambda d: eng.fit_cox(d, "t", "e", covariates=["x"], cluster="la"),
        "the Fine-Gray model": lambda d: eng.fine_gray(d, "t", "e", covariates=["x"],
                                                       cluster="la"),
    }
    for model, call in calls.items():
        with pytest.warns(FewClustersWarning) as caught:
            call(data)
        assert str(caught[0].message) == few_clusters_message(9, "la", model)
        assert issubclass(caught[0].category, DataQualityWarning)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FewClustersWarning)
            call(_clustered(np.random.default_rng(4), 10))  # 10 clusters: no warning
    long = pd.DataFrame({"dropout": rng.integers(0, 2, 400), "session": np.tile([1, 2], 200),
                         "x": rng.normal(size=400), "la": np.arange(400) % 9})
    with pytest.warns(FewClustersWarning) as caught:
        eng.fit_discrete_hazard(long, "dropout", ["x"], cluster="la")
    assert str(caught[0].message) == few_clusters_message(9, "la",
                                                          "the discrete-time hazard model")


def test_one_separation_policy():
    """docs/conventions.md, Separation: no model raises; the term is -inf, its SE NaN,
    and a DataQualityWarning names the term and the group."""
    rng = np.random.default_rng(8)
    n = 400
    g = rng.choice(["a", "b", "c"], n)
    t = np.ceil(rng.exponential(6, n))
    e = np.where(g == "c", 2, rng.integers(0, 3, n))  # group c: no event 1
    data = pd.DataFrame({"t": t, "e": e, "g": g, "x": rng.normal(size=n)})
    pp = pd.DataFrame({"dropout": np.where(np.repeat(g, 2) == "c", 0,
                                           rng.integers(0, 2, 2 * n)),
                       "session": np.tile([1, 2], n), "g": np.repeat(g, 2)})
    fits = {
        "Cox": lambda: eng.fit_cox(data, "t", "e", covariates=["g", "x"]),
        "Fine-Gray": lambda: eng.fine_gray(data, "t", "e", covariates=["g", "x"]),
        "discrete-time": lambda: eng.fit_discrete_hazard(pp, "dropout", ["g"]),
    }
    for name, fit in fits.items():
        with pytest.warns(SeparationWarning, match=r"g\[T\.c\] \(g = 'c': no event") as w:
            res = fit()
        assert issubclass(w[0].category, DataQualityWarning), name
        row = res.coefficients.set_index("term").loc["g[T.c]"]
        assert row["estimate"] == -np.inf and np.isnan(row["std_error"]), name
        assert np.isnan(row["ci_low"]) and np.isnan(row["p_value"]), name


def test_one_event_coding():
    """docs/conventions.md, Event coding: every survival function takes text codes, and
    refuses a censoring code that does not occur, naming the codes found."""
    d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "s": ["ongoing", "dropped_out",
                                                          "completed", "dropped_out",
                                                          "ongoing", "completed",
                                                          "dropped_out", "completed"],
                      "g": list("abababab")})
    kw = {"event_of_interest": "dropped_out", "censored": "ongoing"}
    eng.kaplan_meier(d, "t", "s", **kw)
    eng.logrank_test(d, "t", "s", group="g", **kw)
    eng.cumulative_incidence(d, "t", "s", censored="ongoing")
    eng.gray_test(d, "t", "s", group="g", censored="ongoing")
    eng.fit_cox(d, "t", "s", covariates=["g"], **kw)
    from rpc_eval.errors import RpcEvalError

    for call in (lambda: eng.kaplan_meier(d, "t", "s", event_of_interest="dropped_out"),
                 lambda: eng.cumulative_incidence(d, "t", "s"),
                 lambda: eng.fit_cox(d, "t", "s", covariates=["g"], censored=0,
                                     event_of_interest="dropped_out"),
                 lambda: eng.fine_gray(d, "t", "s", covariates=["g"],
                                       event_of_interest="dropped_out")):
        with pytest.raises(RpcEvalError, match="codes found: 'completed', 'dropped_out'"):
            call()
