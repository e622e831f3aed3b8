"""Population values of every scale score, by a large deterministic Monte Carlo.

The same latent and item models as the generator (:mod:`.latent`, :mod:`.items`) are
run on ``monte_carlo.n_per_group`` simulated parents per intervention and exit group
(completed, dropped_out), with a fixed seed, on complete data (no item non-response).
Each simulated parent is its own family and its own LA draw, so the values integrate
over the LA and family random effects. Scale scores follow the instrument definition
(reverse keying, recoding, gates, conversion tables; no prorating is needed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rpc_eval.synthetic.items import (
    InstrumentModel,
    cronbach_alpha,
    scale_item_matrix,
    score_scales,
    simulate_items,
)
from rpc_eval.synthetic.latent import (
    baseline_theta,
    domain_factors,
    draw_la_domain_effects,
    later_theta,
)
from rpc_eval.synthetic.population import InterventionTable

__all__ = ["population_values", "instrument_applies", "scale_higher_is", "LATER_WAVES"]

LATER_WAVES = ("end", "followup_6m", "followup_12m")


def instrument_applies(model: InstrumentModel, code: str, itab: InterventionTable, qp) -> bool:
    """Whether any parent referred to intervention ``code`` answers instrument ``model``."""
    j = itab.codes.index(code)
    if model.name.startswith("sdq") and code == "ooo_me_you_baby_too":
        return False  # index child aged 0-1
    if model.name == "csi4" and itab.audience[j] == "separated":
        return False
    return True


def scale_higher_is(model: InstrumentModel, scale) -> str:
    """``worse`` or ``better``: what a higher score on ``scale`` means."""
    if scale.name in model.constructs:
        return model.construct_spec[model.constructs.index(scale.name)]["higher_is"]
    if scale.method == "sum_of_scales":
        parts = {scale_higher_is(model, s) for s in model.scales if s.name in scale.from_scales}
        if len(parts) == 1:
            return parts.pop()
    return "better" if model.direction == "higher_is_better" else "worse"


def _stats(x: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1))}


def _change(base: np.ndarray, later: np.ndarray) -> dict[str, float]:
    d = later - base
    sd = float(np.std(d, ddof=1))
    return {
        **_stats(later),
        "mean_change": float(d.mean()),
        "sd_change": sd,
        "d_z": float(d.mean() / sd) if sd > 0 else float("nan"),
        "r_baseline_later": float(np.corrcoef(base, later)[0, 1]),
    }


def _draw_baseline(rng, n, qp, la_sd_b):
    la_eff = draw_la_domain_effects(rng, n, qp, la_sd_b)
    return domain_factors(rng, qp, la_sd_b, np.arange(n), la_eff, np.arange(n), n)


def population_values(P: dict[str, Any], itab: InterventionTable,
                      models: dict[str, InstrumentModel]) -> dict[str, Any]:
    """Population alpha, means, SDs, mean changes and d_z of every scale.

    Returns
    -------
    dict
        ``instrument -> scale -> {higher_is, alpha_baseline, baseline: {mean, sd},
        by_intervention: {intervention: {completed: {wave: {mean, sd, mean_change,
        sd_change, d_z, r_baseline_later}}, dropped_out: {end: {...}}}}}``;
        end-only instruments have ``end`` statistics without change.
    """
    qp, mc = P["questionnaires"], P["monte_carlo"]
    N = int(mc["n_per_group"])
    sd_b = P["las"]["effect_sd"]["outcome_baseline"]
    sd_c = P["las"]["effect_sd"]["outcome_change"]
    rng = np.random.default_rng(int(mc["seed"]))
    out: dict[str, Any] = {}
    end_only = set(qp["end_only_instruments"])

    # baseline: one pooled population (baseline does not depend on the intervention)
    G = _draw_baseline(rng, 2 * N, qp, sd_b)
    for name, m in models.items():
        out[name] = {}
        if name in end_only:  # alpha among completers at `end`
            theta = float(qp["satisfaction_mean"]["completed"]) + rng.standard_normal(
                (2 * N, len(m.constructs)))
            when = "end_completed"
        else:
            theta = baseline_theta(rng, m, G, qp)
            when = "baseline"
        raw = simulate_items(m, theta, rng)
        scores = score_scales(m, raw)
        for s in m.scales:
            out[name][s.name] = {
                "higher_is": scale_higher_is(m, s),
                f"alpha_{when}": cronbach_alpha(scale_item_matrix(m, raw, s.name)),
                when: _stats(scores[s.name]),
                "by_intervention": {},
            }

    for code in itab.codes:
        eff = np.array([qp["effects"].get(code, {}).get(d, 0.0) for d in qp["domains"]])
        for group in ("completed", "dropped_out"):
            g = 1.0 if group == "completed" else float(qp["dropout_effect_fraction"])
            waves = LATER_WAVES if group == "completed" else ("end",)
            G = _draw_baseline(rng, N, qp, sd_b)
            la_change = draw_la_domain_effects(rng, N, qp, sd_c)
            for name, m in models.items():
                if not instrument_applies(m, code, itab, qp):
                    continue
                theta0 = baseline_theta(rng, m, G, qp)
                pers = rng.normal(0, qp["change_sd_persistent"], theta0.shape)
                base_scores = score_scales(m, simulate_items(m, theta0, rng))
                res: dict[str, dict[str, Any]] = {s.name: {} for s in m.scales}
                for w in waves:
                    if name in end_only and w != "end":
                        continue
                    gain = eff[None, :] * qp["wave_multiplier"][w] * g + la_change
                    sat = np.full(N, float(qp["satisfaction_mean"][group]))
                    th = later_theta(rng, m, theta0, gain, pers, qp, sat_mean=sat)
                    sc = score_scales(m, simulate_items(m, th, rng))
                    for s in m.scales:
                        res[s.name][w] = (_stats(sc[s.name]) if name in end_only
                                          else _change(base_scores[s.name], sc[s.name]))
                for s in m.scales:
                    out[name][s.name]["by_intervention"].setdefault(code, {})[group] = res[s.name]
    return out
