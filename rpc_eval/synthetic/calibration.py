"""Calibration of the funnel intercepts to the published population rates.

A calibration population of ``monte_carlo.calibration_n_parents`` parents in
``calibration_n_las`` LAs is drawn with the generator's own functions and a fixed
seed (so it integrates over covariates, intervention offers, LA and family random
effects). The intercepts are then solved one after the other (Brent's method):

* ``start``: mean P(start) over referred parents = target;
* ``dropout``: sum P(start) P(complete) / sum P(start) = target completion rate;
* ``followup_6m``: P(respond at 6 months) averaged over completers (weights
  P(start) P(complete)) = target;
* ``followup_12m``: averaged over 6-month respondents = target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from rpc_eval.synthetic._common import calibrate_logit, solve_intercept
from rpc_eval.synthetic.funnel import dropout_eta, followup_eta, hazards, start_eta
from rpc_eval.synthetic.items import InstrumentModel, score_scales, simulate_items
from rpc_eval.synthetic.latent import baseline_theta, domain_factors, draw_la_domain_effects
from rpc_eval.synthetic.population import InterventionTable, Population, draw_population

__all__ = ["calibrate", "baseline_z"]


def baseline_z(P, model: InstrumentModel, raw: np.ndarray, popvals: dict[str, Any]):
    """Standardised observed baseline score (higher = worse) from raw items (NaN rows
    = not answered); returns ``(z, no_baseline)`` with z = 0 where there is none."""
    fp = P["followup"]
    scale = fp["baseline_scale"]
    score = score_scales(model, raw, prorate=True)[scale]
    ref = popvals[model.name][scale]
    z = (score - ref["baseline"]["mean"]) / ref["baseline"]["sd"]
    if ref["higher_is"] == "better":
        z = -z
    none = np.isnan(z)
    return np.where(none, 0.0, z), none.astype(float)


def calibrate(P: dict[str, Any], itab: InterventionTable, models: dict[str, InstrumentModel],
              popvals: dict[str, Any]) -> dict[str, Any]:
    """Calibrated intercepts and the population rates they give (see module docstring)."""
    mc, qp = P["monte_carlo"], P["questionnaires"]
    rng = np.random.default_rng(int(mc["calibration_seed"]))
    cfg = {
        "n_parents": int(mc["calibration_n_parents"]), "n_las": int(mc["calibration_n_las"]),
        "n_clusters": 9, "programme_start": "2019-04-01", "programme_end": "2022-03-31",
    }
    pop: Population = draw_population(rng, cfg, P, itab)
    sd = P["las"]["effect_sd"]
    u_s = rng.normal(0, sd["start"], pop.n_las)
    f_s = rng.normal(0, P["start"]["family_effect_sd"], pop.n_families)
    u_d = rng.normal(0, sd["dropout"], pop.n_las)
    f_d = rng.normal(0, P["dropout"]["family_effect_sd"], pop.n_families)

    eta_s = start_eta(pop, P, itab, u_s, f_s)
    a_s = calibrate_logit(eta_s, P["start"]["target_rate"])
    p_s = expit(a_s + eta_s)

    eta_d = dropout_eta(pop, P, itab, u_d, f_d)
    slope = P["dropout"]["log_session_slope"]

    def completion(a: float) -> float:
        pc = np.prod(1 - hazards(eta_d, pop.sessions_planned, a, slope), axis=1)
        return float(np.sum(p_s * pc) / np.sum(p_s))

    a_d = solve_intercept(completion, P["dropout"]["target_completion_rate"])
    p_c = np.prod(1 - hazards(eta_d, pop.sessions_planned, a_d, slope), axis=1)

    # observed baseline score that drives follow-up response
    model = models[P["followup"]["baseline_instrument"]]
    la_b = draw_la_domain_effects(rng, pop.n_las, qp, sd["outcome_baseline"])
    G = domain_factors(rng, qp, sd["outcome_baseline"], pop.la, la_b, pop.fam, pop.n_families)
    raw = simulate_items(model, baseline_theta(rng, model, G, qp), rng)
    raw[rng.random(raw.shape) < qp["p_item_missing"]] = np.nan
    raw[rng.random(pop.n) >= qp["p_baseline"]] = np.nan
    z, nb = baseline_z(P, model, raw, popvals)
    cov = pop.covariates()
    w = p_s * p_c
    eta6 = followup_eta(cov, P["followup"]["followup_6m"]["coefficients"], z, nb)
    a6 = calibrate_logit(eta6, P["followup"]["followup_6m"]["target_rate"], w)
    p6 = expit(a6 + eta6)
    eta12 = followup_eta(cov, P["followup"]["followup_12m"]["coefficients"], z, nb)
    a12 = calibrate_logit(eta12, P["followup"]["followup_12m"]["target_rate"], w * p6)
    p12 = expit(a12 + eta12)

    # implied population rates by intervention (for the truth record)
    by_int = {}
    for j, code in enumerate(itab.codes):
        sel = pop.intervention == j
        if not sel.any():
            continue
        by_int[code] = {
            "start": float(p_s[sel].mean()),
            "completion_of_starters": float(np.sum(p_s[sel] * p_c[sel]) / np.sum(p_s[sel])),
            "followup_6m_of_completers": float(np.average(p6[sel], weights=w[sel])),
            "followup_12m_of_6m": float(np.average(p12[sel], weights=(w * p6)[sel])),
            "share_of_referrals": float(sel.mean()),
        }
    return {
        "intercepts": {"start": a_s, "dropout": a_d, "followup_6m": a6, "followup_12m": a12},
        "population_rates": {
            "start": float(p_s.mean()),
            "completion_of_starters": completion(a_d),
            "followup_6m_of_completers": float(np.average(p6, weights=w)),
            "followup_12m_of_6m": float(np.average(p12, weights=w * p6)),
        },
        "population_rates_by_intervention": by_int,
        "n_parents": pop.n,
        "n_las": pop.n_las,
    }
