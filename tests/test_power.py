"""Power and sample size with parents clustered in LAs (rpc_eval.design.power, rpc-eval power)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import TTestPower

from rpc_eval import cli
from rpc_eval.cli import power as power_cli
from rpc_eval.design.power import (
    SIMULATION_COLUMNS,
    TABLE_COLUMNS,
    _cluster_t,
    ci_halfwidth_completion,
    design_effect,
    power_completion,
    power_prepost,
    power_table,
    sample_size,
    simulate_power,
    simulate_power_synthetic,
)
from rpc_eval.errors import RpcEvalError


# ----------------------------------------------------------------- design effect
def test_design_effect_formula():
    assert design_effect(40, 0.05) == pytest.approx(1 + 39 * 0.05)
    assert design_effect(40, 0.05, cv=0.4) == pytest.approx(1 + (1.16 * 40 - 1) * 0.05)
    assert design_effect(1, 0.3) == pytest.approx(1.0)
    assert design_effect(25, 0.0, cv=2.0) == 1.0


def test_design_effect_equals_variance_inflation_of_realised_sizes():
    # exact for the mean over all parents: 1 + (sum m^2 / N - 1) icc, cv with divisor k
    sizes = np.array([12, 30, 55, 21, 80, 42])
    icc = 0.07
    cv = sizes.std(ddof=0) / sizes.mean()
    exact = 1 + (np.sum(sizes ** 2) / sizes.sum() - 1) * icc
    assert design_effect(sizes.mean(), icc, cv) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("kwargs", [
    {"m": 0.5, "icc": 0.1}, {"m": 10, "icc": 1.0}, {"m": 10, "icc": -0.01},
    {"m": 10, "icc": 0.1, "cv": -0.2}, {"m": float("nan"), "icc": 0.1},
    {"m": "10", "icc": 0.1}, {"m": 10, "icc": True},
])
def test_design_effect_rejects_bad_input(kwargs):
    with pytest.raises(RpcEvalError):
        design_effect(**kwargs)


# ----------------------------------------------------------------- analytic power
def test_icc_zero_matches_statsmodels_paired_t():
    tt = TTestPower()
    for k, m, d in [(6, 10, 0.3), (8, 40, 0.15), (3, 5, 0.8)]:
        ours = power_prepost(k, m, effect_size=d, icc=0.0, cv=0.5)
        ref = tt.power(effect_size=d, nobs=k * m, alpha=0.05, alternative="two-sided")
        assert ours == pytest.approx(ref, abs=1e-10)
    ours = power_prepost(6, 10, effect_size=0.3, icc=0.0, two_sided=False, alpha=0.1)
    ref = tt.power(effect_size=0.3, nobs=60, alpha=0.1, alternative="larger")
    assert ours == pytest.approx(ref, abs=1e-10)
    # a negative (improving) change is detected the same way, one-sided in its direction
    assert power_prepost(6, 10, effect_size=-0.3, icc=0.0, two_sided=False, alpha=0.1) \
        == pytest.approx(ref, abs=1e-10)


def test_clustered_power_is_noncentral_t_on_las_minus_one_df():
    k, m, d, icc = 8, 40, 0.3, 0.05
    ncp = d * math.sqrt(k * m / (1 + (m - 1) * icc))
    crit = stats.t.isf(0.025, k - 1)
    ref = stats.nct.sf(crit, k - 1, ncp) + stats.nct.cdf(-crit, k - 1, ncp)
    assert power_prepost(k, m, effect_size=d, icc=icc) == pytest.approx(ref, abs=1e-12)


def test_power_monotone_in_las_parents_and_effect():
    base = {"icc": 0.05, "cv": 0.4, "completion_rate": 0.6}
    by_m = [power_prepost(8, m, effect_size=0.3, **base) for m in (5, 10, 20, 40, 80, 160)]
    by_k = [power_prepost(k, 30, effect_size=0.3, **base) for k in (3, 4, 6, 8, 12, 20)]
    by_d = [power_prepost(8, 30, effect_size=d, **base) for d in (0.0, 0.1, 0.2, 0.3, 0.5)]
    for seq in (by_m, by_k, by_d):
        assert np.all(np.diff(seq) > 0)
    assert by_d[0] == pytest.approx(0.05)
    by_icc = [power_prepost(8, 30, effect_size=0.3, icc=r) for r in (0.01, 0.05, 0.1, 0.2)]
    assert np.all(np.diff(by_icc) < 0)
    comp = [power_completion(8, m, p=0.52, p0=0.441, icc=0.03) for m in (10, 30, 90)]
    assert np.all(np.diff(comp) > 0)


def test_completion_icc_zero_is_wald_z_power():
    n, p, p0 = 400, 0.5, 0.441
    shift = abs(p - p0) / math.sqrt(p * (1 - p) / n)
    z = stats.norm.isf(0.025)
    ref = stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift)
    assert power_completion(10, 40, p=p, p0=p0, icc=0.0) == pytest.approx(ref, abs=1e-12)
    assert ci_halfwidth_completion(10, 40, p=p, icc=0.0) == pytest.approx(
        z * math.sqrt(p * (1 - p) / n))
    wide = ci_halfwidth_completion(10, 40, p=p, icc=0.05, cv=0.3)
    deff = 1 + (1.09 * 40 - 1) * 0.05
    assert wide == pytest.approx(stats.t.isf(0.025, 9) * math.sqrt(p * (1 - p) * deff / n))


def test_power_table_columns_and_content():
    t = power_table([10, 6], [40, 20], effect_size=0.3, icc=0.05, cv=0.4,
                    completion_rate=0.5)
    assert list(t.columns) == TABLE_COLUMNS
    assert t[["n_las", "parents_per_la"]].to_numpy().tolist() == [[6, 20], [6, 40],
                                                                  [10, 20], [10, 40]]
    assert (t.n_referred == t.n_las * t.parents_per_la).all()
    assert np.allclose(t.n_analysed, 0.5 * t.n_referred)
    assert np.allclose(t.effective_n, t.n_analysed / t.design_effect)
    # losing half the parents at random makes LA sizes more unequal
    cv_a2 = 0.4 ** 2 + 0.5 / 10
    assert t.design_effect[0] == pytest.approx(1 + ((cv_a2 + 1) * 10 - 1) * 0.05)
    for r in t.itertuples():
        assert r.power == power_prepost(r.n_las, r.parents_per_la, effect_size=0.3,
                                        icc=0.05, cv=0.4, completion_rate=0.5)
    c = power_table([8], [50], outcome="completion", p=0.55, p0=0.441, icc=0.03)
    assert c.n_analysed[0] == 400 and c.power[0] == power_completion(
        8, 50, p=0.55, p0=0.441, icc=0.03)


def test_sample_size_smallest_and_cap():
    s = dict(effect_size=0.3, icc=0.05, cv=0.4, completion_rate=0.6)
    m = sample_size(12, **s)
    assert power_prepost(12, m, **s) >= 0.8 > power_prepost(12, m - 1, **s)
    assert sample_size(12, target_power=0.9, **s) > m
    with pytest.raises(RpcEvalError, match="caps power"):
        sample_size(6, **s)
    c = sample_size(10, outcome="completion", p=0.6, p0=0.441, icc=0.02)
    assert power_completion(10, c, p=0.6, p0=0.441, icc=0.02) >= 0.8 > \
        power_completion(10, c - 1, p=0.6, p0=0.441, icc=0.02)


@pytest.mark.parametrize("call", [
    lambda: power_prepost(1, 40, effect_size=0.3, icc=0.05),       # one LA with clustering
    lambda: power_prepost(8, 0, effect_size=0.3, icc=0.05),
    lambda: power_prepost(8, 40, effect_size=0.3, icc=0.05, alpha=1.5),
    lambda: power_prepost(8, 40, effect_size=0.3, icc=0.05, completion_rate=0),
    lambda: power_prepost(8.5, 40, effect_size=0.3, icc=0.05),
    lambda: power_completion(8, 40, p=1.2, p0=0.4, icc=0.02),
    lambda: power_table([8], [40], outcome="satisfaction", effect_size=0.3, icc=0.05),
    lambda: power_table([8], [40], effect_size=0.3, icc=0.05, p0=0.4),
    lambda: power_table([8], [], effect_size=0.3, icc=0.05),
    lambda: power_table([8], [40], icc=0.05),
    lambda: sample_size(8, target_power=1.0, effect_size=0.3, icc=0.05),
    lambda: simulate_power(8, 40, effect_size=0.3, icc=0.05, method="bayes", n_sims=5),
    lambda: simulate_power(8, 40, outcome="completion", p=0.5, p0=0.4, icc=0.05,
                           method="multilevel", n_sims=5),
    lambda: simulate_power(8, 40, effect_size=0.3, icc=0.05, n_sims=0),
    lambda: simulate_power(8, 40, effect_size=0.3, icc=0.05, n_sims=5, n_jobs=0),
    lambda: simulate_power_synthetic(4, 40, outcome="no_such_scale", n_sims=1, n_jobs=1),
])
def test_validation_errors(call):
    with pytest.raises(RpcEvalError):
        call()


# ----------------------------------------------------------------- simulation
def test_cluster_test_equal_sizes_is_t_test_of_la_means():
    rng = np.random.default_rng(4)
    y = rng.normal(0.2, 1, (7, 15))
    t, df = _cluster_t(y.sum(axis=1), np.full(7, 15), 0.0)
    ref = stats.ttest_1samp(y.mean(axis=1), 0.0)
    assert df == pytest.approx(6)
    assert t == pytest.approx(ref.statistic)


# (design, allowance): the first is exact (equal sizes, no loss); the others rest on the
# Eldridge design effect for unequal sizes and n_las - 1 df. In 20,000-replicate runs
# (seed 11) the analytic power was within 0.015 of the simulated power for all six
# designs tried with cv <= 0.6 (0.0016 for design 2 below, 0.015 for design 3), so an
# allowance of 0.02 is added to 3 Monte-Carlo SEs.
AGREEMENT = [
    ({"n_las": 8, "parents_per_la": 40, "effect_size": 0.3, "icc": 0.05}, 0.0),
    ({"n_las": 6, "parents_per_la": 60, "effect_size": 0.3, "icc": 0.08, "cv": 0.4,
      "completion_rate": 0.5}, 0.02),
    ({"outcome": "completion", "n_las": 8, "parents_per_la": 50, "p": 0.55, "p0": 0.441,
      "icc": 0.03, "cv": 0.3}, 0.02),
]


@pytest.mark.parametrize(("design", "allowance"), AGREEMENT)
def test_analytic_agrees_with_simulation(design, allowance):
    sim = simulate_power(**design, n_sims=400, seed=7, n_jobs=1)
    assert list(sim.columns) == SIMULATION_COLUMNS
    r = sim.iloc[0]
    assert r.method == "cluster" and r.n_sims == 400
    assert r.std_error == pytest.approx(math.sqrt(r.power * (1 - r.power) / 400))
    assert abs(r.power - r.power_analytic) < 3 * r.std_error + allowance


def test_cluster_test_keeps_its_size_with_unequal_las():
    sim = simulate_power(6, 60, effect_size=0.0, icc=0.08, cv=0.6, completion_rate=0.5,
                         n_sims=400, seed=3, n_jobs=1)
    assert abs(sim.power[0] - 0.05) < 3 * math.sqrt(0.05 * 0.95 / 400)


def test_simulation_deterministic_and_independent_of_jobs():
    kw = dict(effect_size=0.25, icc=0.05, cv=0.5, completion_rate=0.6, n_sims=60, seed=12,
              method=["cluster", "paired"])
    a = simulate_power([6, 10], [20, 40], n_jobs=1, **kw)
    b = simulate_power([6, 10], [20, 40], n_jobs=1, **kw)
    c = simulate_power([6, 10], [20, 40], n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert len(a) == 8 and set(a.method) == {"cluster", "paired"}
    d = simulate_power([6, 10], [20, 40], n_jobs=1, **{**kw, "seed": 13})
    assert not a.power.equals(d.power)
    # ignoring clustering rejects more often than the clustered analysis
    wide = a.pivot_table(index=["n_las", "parents_per_la"], columns="method", values="power")
    assert (wide["paired"] >= wide["cluster"]).all()


def test_multilevel_simulation_deterministic():
    kw = dict(effect_size=0.4, icc=0.05, cv=0.3, n_sims=16, seed=5,
              method=["multilevel", "cluster"])
    a = simulate_power(8, 30, n_jobs=1, **kw)
    b = simulate_power(8, 30, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.method) == ["cluster", "multilevel"]
    assert a.power_analytic.nunique() == 1


def test_simulate_power_synthetic_runs_and_is_deterministic():
    a = simulate_power_synthetic(4, 50, n_sims=2, seed=3, n_jobs=1)
    b = simulate_power_synthetic(4, 50, n_sims=2, seed=3, n_jobs=1)
    pd.testing.assert_frame_equal(a, b)
    assert a.n_sims[0] == 2 and 0 < a.mean_n_analysed[0] < 200
    assert a.mean_change[0] < 0  # PHQ-9 falls (improves) in the generator


# ----------------------------------------------------------------- CLI
@pytest.fixture
def run(monkeypatch, capsys):
    if power_cli not in cli._COMMANDS:
        monkeypatch.setattr(cli, "_COMMANDS", [*cli._COMMANDS, power_cli])

    def _run(*argv):
        code = cli.main(["power", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def test_cli_prepost_table_and_sentence(run, tmp_path):
    out_csv = tmp_path / "power.csv"
    code, out, err = run("--effect-size", "0.3", "--icc", "0.05", "--las", "8", "12",
                         "--parents", "20", "40", "--cv", "0.4", "--completion-rate", "0.6",
                         "--simulate", "--sims", "40", "--jobs", "1", "--quiet", "--out",
                         str(out_csv))
    assert code == 0 and out == ""
    saved = pd.read_csv(out_csv)
    assert {"power", "power_sim_cluster", "std_error_sim_cluster"} <= set(saved.columns)
    code, out, err = run("--effect-size", "0.3", "--icc", "0.05", "--las", "6", "12",
                         "--parents", "20", "40", "--cv", "0.4", "--completion-rate", "0.6")
    assert code == 0
    p12 = power_prepost(12, 40, effect_size=0.3, icc=0.05, cv=0.4, completion_rate=0.6)
    assert f"With 12 LAs, 40 parents each (480 referred, about 288 with both " \
           f"questionnaires) gives {100 * p12:.0f}% power" in out
    assert "caps power" in out  # 6 LAs cannot reach 80%
    assert f"{100 * p12:.0f}%" in out.splitlines()[7]


def test_cli_completion(run):
    code, out, _ = run("--outcome", "completion", "--rate", "0.6", "--icc", "0.02",
                       "--las", "10", "--parents", "40", "80")
    assert code == 0 and "benchmark 44.1%" in out
    need = sample_size(10, outcome="completion", p=0.6, p0=round(2694 / 6110, 4), icc=0.02)
    assert f"is {need} per LA" in out


@pytest.mark.parametrize("argv", [
    ["--effect-size", "0.3", "--icc", "1.2", "--las", "8", "--parents", "40"],
    ["--icc", "0.05", "--las", "8", "--parents", "40"],
    ["--outcome", "completion", "--icc", "0.05", "--las", "8", "--parents", "40"],
    ["--effect-size", "0.3", "--icc", "0.05", "--las", "1", "--parents", "40"],
    ["--effect-size", "0.3", "--icc", "0.05", "--las", "8", "--parents", "40",
     "--target", "2"],
])
def test_cli_bad_input_exit_2(run, argv):
    code, out, err = run(*argv)
    assert code == 2
    assert err.startswith("rpc-eval: ") and "Traceback" not in err


# --- memory: estimated before a simulation starts, refused above a limit ------------------
def _cluster_t_dense(sums, counts, null):
    """The CR2 / Bell-McCaffrey formula with the k x k matrices written out."""
    keep = counts > 0
    sums, a = sums[keep].astype(float), counts[keep].astype(float)
    n = a.sum()
    est = sums.sum() / n
    w = 1.0 / (n ** 2 * (1.0 - a / n))
    var = float(np.sum(w * (sums - a * est) ** 2))
    c = np.diag(a) - np.outer(a, a) / n
    df = float(np.sum(w * np.diag(c)) ** 2 / np.sum(np.outer(w, w) * c ** 2))
    return (est - null) / math.sqrt(var), df


@pytest.mark.parametrize("k", [3, 8, 40, 300])
def test_cluster_t_in_linear_memory_equals_the_matrix_formula(k):
    from rpc_eval.design.power import _cluster_t

    rng = np.random.default_rng(k)
    counts = rng.integers(0, 80, k)
    counts[0] = 5
    sums = rng.normal(0.2, 1.0, k) * counts
    t, df = _cluster_t(sums, counts, 0.1)
    t0, df0 = _cluster_t_dense(sums, counts, 0.1)
    assert t == pytest.approx(t0, rel=1e-12)
    assert df == pytest.approx(df0, rel=1e-9)


def test_memory_estimate_scales_with_the_design():
    from rpc_eval.design.power import simulation_memory

    small = simulation_memory(8, 40, n_sims=1)
    assert simulation_memory(80, 40, n_sims=1) > 5 * small
    assert simulation_memory(8, 40, n_sims=1, methods=["multilevel"]) > 5 * small
    assert simulation_memory(8, 40, n_sims=1000) > simulation_memory(8, 40, n_sims=10)
    assert simulation_memory(8, 40, n_jobs=2, n_sims=10) > simulation_memory(8, 40, n_sims=10)
    # completion keeps no per-parent arrays
    assert simulation_memory(8, 4000, outcome="completion") < simulation_memory(8, 4000)


def test_simulation_above_the_limit_is_refused_before_it_starts():
    with pytest.raises(RpcEvalError, match=r"would need about .* more than the limit of"):
        simulate_power(100_000, 100_000, effect_size=0.3, icc=0.05, n_sims=2, n_jobs=1)
    with pytest.raises(RpcEvalError, match="more than the limit of under 1 MiB"):
        simulate_power(8, 40, effect_size=0.3, icc=0.05, n_sims=2, n_jobs=1, max_memory=10)


@pytest.mark.parametrize("extra, code, said", [
    (["--parents", "100000"], 2, "would need about 596.1 GiB of memory"),
    (["--parents", "40", "--max-memory", "0.01"], 2, "more than the limit of 10 MiB"),
    (["--parents", "40"], 0, "The simulation needs about"),
])
def test_cli_large_simulation_is_a_sentence_not_a_traceback(extra, code, said, capsys):
    argv = ["power", "--effect-size", "0.3", "--icc", "0.05", "--simulate", "--sims", "2",
            "--las", "100000", *extra]
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and "MemoryError" not in err
