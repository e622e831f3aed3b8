"""The synthetic evaluation dataset: :func:`generate`."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from scipy.special import expit

import rpc_eval
from rpc_eval.data.codebooks import load_codebooks
from rpc_eval.data.model import EvaluationData
from rpc_eval.instruments import default_registry
from rpc_eval.synthetic import truth as truth_mod
from rpc_eval.synthetic._common import (
    day,
    make_ids,
    rate_summary,
    to_datetime,
    typed_frame,
)
from rpc_eval.synthetic.calibration import baseline_z, calibrate
from rpc_eval.synthetic.funnel import (
    dropout_eta,
    episode_window,
    followup_eta,
    hazards,
    simulate_episodes,
    start_eta,
)
from rpc_eval.synthetic.items import build_model
from rpc_eval.synthetic.latent import draw_la_domain_effects
from rpc_eval.synthetic.params import default_parameters, scale_config
from rpc_eval.synthetic.planning import generate_planning_tool
from rpc_eval.synthetic.population import InterventionTable, draw_population
from rpc_eval.synthetic.popvalues import population_values
from rpc_eval.synthetic.questionnaires import OutcomeSimulator
from rpc_eval.synthetic.training import generate_training, training_population_values

__all__ = ["generate"]

#: independent random streams, spawned from the seed in this order
STREAMS = ("structure", "effects", "funnel", "outcomes", "training", "planning")

# Population values and calibrated intercepts depend only on the parameters (not on
# seed or scale); they are memoised here so repeated calls are fast.
_STATIC: dict[str, dict[str, Any]] = {}


def _static(P, itab, models) -> dict[str, Any]:
    key = json.dumps([P, sorted(models)], sort_keys=True)
    if key not in _STATIC:
        popvals = population_values(P, itab, models)
        _STATIC[key] = {
            "popvals": popvals,
            "calibration": calibrate(P, itab, models, popvals),
            "training": training_population_values(P),
        }
    return _STATIC[key]


def _check_config(cfg: dict[str, Any], P: dict[str, Any]) -> tuple[int, int, int]:
    start, end, extract = (day(cfg[k]) for k in ("programme_start", "programme_end", "extract_date"))
    if end < start:
        raise ValueError("programme_end is before programme_start")
    need = end + int(P["dates"]["wait_days_max"])
    if extract < need:
        raise ValueError(
            f"extract_date must be on or after {np.datetime64(need, 'D')} (programme_end + "
            "dates.wait_days_max) so that every start is observed")
    if np.datetime64(cfg["extract_date"], "D") > np.datetime64("today", "D"):
        raise ValueError("extract_date is in the future")
    if int(cfg["n_las"]) < 1 or int(cfg["n_parents"]) < 2 * int(cfg["n_las"]):
        raise ValueError("need at least one LA and two parents per LA")
    return start, end, extract


def generate(scale: str = "default", seed: int = 20240601, **overrides: Any
             ) -> tuple[EvaluationData, dict[str, Any]]:
    """A synthetic RPC evaluation dataset with known generating parameters.

    Parameters
    ----------
    scale : {"small", "default", "national"}
        ``small``: about 600 parents in 8 LAs (fast tests; the extract falls during
        delivery, so some episodes are ongoing); ``default``: 6,110 parents in 31 LAs
        in 4 clusters, calibrated to the published 2018-22 programme; ``national``:
        about 100,000 parents in 152 LAs (see :data:`rpc_eval.synthetic.SCALES`).
    seed : int
        Seed of every random draw; the same seed and scale give identical data.
    **overrides
        Settings of the scale to change: ``n_parents``, ``n_las``, ``n_clusters``,
        ``programme_start``, ``programme_end``, ``extract_date`` (ISO dates),
        ``return_years``.

    Returns
    -------
    data : EvaluationData
        All eight tables with the schema's columns and dtypes.
    truth : dict
        JSON-serialisable record of every generating parameter, the calibrated
        intercepts, the expected funnel rates of this sample, population values of
        every scale score, and the counts generated. Its keys are described in
        :mod:`rpc_eval.synthetic.truth`; :func:`describe_truth` renders it.

    Notes
    -----
    The model is documented module by module: :mod:`.population` (LAs, families,
    covariates, interventions), :mod:`.funnel` (start, session dropout, follow-up
    response), :mod:`.calibration` (intercepts), :mod:`.latent` and :mod:`.items`
    (outcomes), :mod:`.popvalues` (population values), :mod:`.training` and
    :mod:`.planning`. Parameters are in :func:`.params.default_parameters`.

    Examples
    --------
    >>> data, truth = generate("small", seed=1)
    >>> sorted(data.parents["exit_reason"].unique())
    ['completed', 'dropped_out', 'not_started', 'ongoing']
    >>> truth["counts"]["tables"]["parents"]
    600
    """
    cfg = scale_config(scale, **overrides)
    P = default_parameters()
    _, _, extract = _check_config(cfg, P)
    books = load_codebooks()
    registry = default_registry()
    qp = P["questionnaires"]
    itab = InterventionTable.from_codebook(books["interventions"])
    wanted = list(qp["instruments"]) + list(qp["end_only_instruments"])
    models = {n: build_model(registry.get(n), qp) for n in wanted if n in registry.available()}
    static = _static(P, itab, models)
    cal, popvals = static["calibration"], static["popvals"]
    a = cal["intercepts"]
    rs = dict(zip(STREAMS, (np.random.default_rng(s) for s in
                            np.random.SeedSequence(int(seed)).spawn(len(STREAMS))), strict=True))

    # --- structure and random effects -------------------------------------------
    pop = draw_population(rs["structure"], cfg, P, itab)
    r, sd = rs["effects"], P["las"]["effect_sd"]
    u_s = r.normal(0, sd["start"], pop.n_las)
    u_d = r.normal(0, sd["dropout"], pop.n_las)
    la_b = draw_la_domain_effects(r, pop.n_las, qp, sd["outcome_baseline"])
    la_c = draw_la_domain_effects(r, pop.n_las, qp, sd["outcome_change"])
    f_s = r.normal(0, P["start"]["family_effect_sd"], pop.n_families)
    f_d = r.normal(0, P["dropout"]["family_effect_sd"], pop.n_families)

    # --- funnel: start and sessions ----------------------------------------------
    rf = rs["funnel"]
    p_start = expit(a["start"] + start_eta(pop, P, itab, u_s, f_s))
    started = rf.random(pop.n) < p_start
    starters = np.flatnonzero(started)
    H = hazards(dropout_eta(pop, P, itab, u_d, f_d), pop.sessions_planned, a["dropout"],
                P["dropout"]["log_session_slope"])
    ep = simulate_episodes(rf, pop, starters, H, P, itab)
    exit_seen = ep.exit <= extract

    # --- outcomes: baseline, end --------------------------------------------------
    ro = rs["outcomes"]
    sim = OutcomeSimulator(ro, pop, models, P, itab, la_b, la_c)
    base_rows = np.flatnonzero(ro.random(pop.n) < qp["p_baseline"])
    raw_base = sim.wave("baseline", base_rows, pop.referral[base_rows])
    bmodel = models[P["followup"]["baseline_instrument"]]
    full = np.full((pop.n, len(bmodel.items)), np.nan)
    full[base_rows] = raw_base[bmodel.name]
    z, no_base = baseline_z(P, bmodel, full, popvals)

    p_end = np.where(ep.completed, qp["p_end"]["completed"], qp["p_end"]["dropped_out"])
    end_sel = exit_seen & (ro.random(starters.size) < p_end)
    sim.wave("end", starters[end_sel], ep.exit[end_sel], completed=ep.completed[end_sel])

    # --- follow-up surveys (completers, MAR) -------------------------------------
    fp, dd = P["followup"], P["dates"]
    cov = pop.covariates()
    comp = starters[ep.completed]
    comp_exit = ep.exit[ep.completed]
    p6 = expit(a["followup_6m"] + followup_eta(cov, fp["followup_6m"]["coefficients"], z, no_base)[comp])
    r6 = ro.random(comp.size) < p6
    off, lo, hi = dd["followup_6m_offset_days"]
    d6 = comp_exit + off + ro.integers(lo, hi + 1, comp.size)
    seen6 = r6 & (d6 <= extract)
    sim.wave("followup_6m", comp[seen6], d6[seen6], completed=np.ones(seen6.sum(), bool))
    resp6, resp6_exit = comp[r6], comp_exit[r6]
    p12 = expit(a["followup_12m"]
                + followup_eta(cov, fp["followup_12m"]["coefficients"], z, no_base)[resp6])
    r12 = ro.random(resp6.size) < p12
    off12, lo12, hi12 = dd["followup_12m_offset_days"]
    d12 = resp6_exit + off12 + ro.integers(lo12, hi12 + 1, resp6.size)
    seen12 = r12 & (d12 <= extract)
    sim.wave("followup_12m", resp6[seen12], d12[seen12], completed=np.ones(seen12.sum(), bool))

    # --- tables -------------------------------------------------------------------
    la_codes = make_ids("LA", pop.n_las, 3)
    parent_ids = make_ids("P", pop.n, max(6, len(str(pop.n))))
    family_ids = make_ids("F", pop.n_families, max(6, len(str(pop.n_families))))
    n = pop.n
    start_day = np.zeros(n, np.int64)
    start_day[starters] = ep.start
    exit_day = np.zeros(n, np.int64)
    has_exit = np.zeros(n, bool)
    exit_day[starters] = ep.exit
    has_exit[starters] = exit_seen
    reason = np.full(n, "not_started", dtype=object)
    reason[starters] = np.where(~exit_seen, "ongoing", np.where(ep.completed, "completed", "dropped_out"))

    las = typed_frame("las", {
        "la_code": la_codes,
        "la_name": np.array([f"Synthetic LA {i:03d}" for i in range(1, pop.n_las + 1)], dtype=object),
        "region": pop.la_region,
        "cluster_id": np.array([f"cluster_{k + 1}" for k in pop.la_cluster], dtype=object),
    })
    interventions = typed_frame("interventions", {
        "intervention": np.array(itab.codes, dtype=object),
        "name": np.array(itab.names, dtype=object),
        "intensity": np.array(itab.intensity, dtype=object),
        "sessions_planned": itab.sessions.astype(np.int64),
    })
    miss = pop.missing
    parents = typed_frame("parents", {
        "parent_id": parent_ids,
        "family_id": family_ids[pop.fam],
        "la_code": la_codes[pop.la],
        "intervention": np.asarray(itab.codes, dtype=object)[pop.intervention],
        "delivery_mode": pop.mode,
        "relationship_status": np.where(pop.together, "together", "separated").astype(object),
        "referral_date": to_datetime(pop.referral),
        "start_date": to_datetime(start_day, started),
        "exit_date": to_datetime(exit_day, has_exit),
        "exit_reason": reason,
        "sessions_planned": (pop.sessions_planned, pop.sessions_blank),
        "parent_sex": pop.sex,
        "parent_age": (pop.age, miss["parent_age"]),
        "ethnic_group": pop.ethnic,
        "workless": (pop.workless, miss["workless"]),
        "child_age": (pop.child_age, miss["child_age"]),
    })

    smax = ep.session_day.shape[1]
    snum = np.arange(1, smax + 1)[None, :]
    keep = (snum <= ep.last[:, None]) & (ep.session_day <= extract)
    rows, cols = np.nonzero(keep)
    attendance = typed_frame("attendance", {
        "parent_id": parent_ids[ep.idx[rows]],
        "session_number": (cols + 1).astype(np.int64),
        "session_date": to_datetime(ep.session_day[rows, cols]),
        "attended": ep.attended[rows, cols],
    })

    waves = books["waves"].codes
    long = sim.long_arrays(waves, list(models))
    responses = typed_frame("responses", {
        "parent_id": parent_ids[long["parent"]],
        "respondent": np.full(long["parent"].size, "parent", dtype=object),
        "instrument": long["instrument"],
        "wave": long["wave"],
        "item": long["item"],
        "value": long["value"],
        "completed_date": to_datetime(long["date"]),
    })

    prac, tresp = generate_training(rs["training"], cfg, P, books, pop.la_weight, extract)
    prac_ids = make_ids("T", prac["la"].size, max(5, len(str(prac["la"].size))))
    practitioners = typed_frame("practitioners", {
        "practitioner_id": prac_ids,
        "la_code": la_codes[prac["la"]],
        "sector": prac["sector"],
        "course": prac["course"],
        "training_date": to_datetime(prac["training_day"]),
        "delivery": prac["delivery"],
    })
    training_responses = typed_frame("training_responses", {
        "practitioner_id": prac_ids[tresp["practitioner"]],
        "wave": tresp["wave"],
        "question": tresp["question"],
        "value": (tresp["value"], tresp["missing"]),
        "completed_date": to_datetime(tresp["day"]),
    })

    years = [int(y) for y in cfg["return_years"]]
    plan, plan_real = generate_planning_tool(rs["planning"], years, P, books, pop.la_offer, itab.codes)
    planning_tool = typed_frame("planning_tool", {
        "la_code": la_codes[plan["la"]],
        "return_year": plan["year"],
        "section": plan["section"],
        "item": plan["item"],
        "response": plan["response"],
    })

    data = EvaluationData(
        las=las, parents=parents, interventions=interventions, attendance=attendance,
        responses=responses, practitioners=practitioners, training_responses=training_responses,
        planning_tool=planning_tool, codebooks=books, instruments=registry,
    )

    # --- truth ----------------------------------------------------------------------
    window = episode_window(P, itab)
    w6 = dd["followup_6m_offset_days"][0] + dd["followup_6m_offset_days"][2]
    w12 = dd["followup_12m_offset_days"][0] + dd["followup_12m_offset_days"][2]
    sample = {
        "start": {**rate_summary(p_start), "denominator": "referred parents"},
        "completion": {
            **rate_summary(ep.p_complete), "denominator": "starters (latent: includes ongoing)",
            "observable_subset": {
                **rate_summary(ep.p_complete[ep.start <= extract - window]),
                "rule": f"starters with start_date <= extract_date - {window} days "
                        "(every such episode has ended by the extract)",
                "days_before_extract": window,
            },
        },
        "followup_6m": {
            **rate_summary(p6), "denominator": "completers (latent: includes those not yet due)",
            "observable_subset": {
                **rate_summary(p6[comp_exit <= extract - w6]),
                "rule": f"completers with exit_date <= extract_date - {w6} days",
                "days_before_extract": w6,
            },
        },
        "followup_12m": {
            **rate_summary(p12), "denominator": "6-month respondents (latent)",
            "observable_subset": {
                **rate_summary(p12[resp6_exit <= extract - w12]),
                "rule": f"6-month respondents with exit_date <= extract_date - {w12} days",
                "days_before_extract": w12,
            },
        },
    }
    realised = {
        "la_effects": [
            {
                "la_code": str(la_codes[i]),
                "start": float(u_s[i]),
                "dropout": float(u_d[i]),
                "outcome_baseline": dict(zip(qp["domains"], map(float, la_b[i]), strict=True)),
                "outcome_change": dict(zip(qp["domains"], map(float, la_c[i]), strict=True)),
                "offers": [c for c, o in zip(itab.codes, pop.la_offer[i], strict=True) if o],
            }
            for i in range(pop.n_las)
        ],
        "planning_tool": plan_real,
    }
    truth = truth_mod.build_truth(
        scale=scale, seed=int(seed), cfg=cfg, P=P, static=static, sample=sample,
        realised=realised, data=data, models=models,
        version=getattr(rpc_eval, "__version__", "unknown"),
        wave_parents={w: np.unique(np.concatenate([b[2] for b in sim.blocks if b[0] == w] or [np.empty(0)]))
                      for w in waves},
    )
    return data, truth
