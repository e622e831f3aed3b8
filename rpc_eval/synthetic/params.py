"""Scales and generating parameters of the synthetic RPC data.

Everything the generator draws from is a number in :func:`default_parameters` or a
scale setting in :data:`SCALES`. Both end up, unchanged, in the truth record that
:func:`rpc_eval.synthetic.generate` returns, next to the values it derives from them
(calibrated intercepts, population values of every scale score).

Units and conventions
---------------------
* Logistic models are on the logit scale; covariates are ``workless`` (0/1),
  ``male`` (0/1, recorded sex), ``age_per_10y`` ((age - 35) / 10), ``separated``
  (0/1), and intervention offsets (0 for an intervention not listed).
* Latent outcome effects are in standard-deviation units of the baseline latent
  trait of the population, positive = improvement (fewer difficulties, better
  wellbeing, more couple satisfaction), whatever the direction of the score.
* Days are calendar days.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["SCALES", "PUBLISHED_FUNNEL", "default_parameters", "scale_config"]

#: Sizes and calendars of the three scales. ``extract_date`` is the day the data were
#: extracted: nothing after it is observed. It must be at least
#: ``dates.wait_days_max`` after ``programme_end`` so that every start is observed.
SCALES: dict[str, dict[str, Any]] = {
    "small": {
        "n_parents": 600,
        "n_las": 8,
        "n_clusters": 2,
        "programme_start": "2020-04-01",
        "programme_end": "2021-09-30",
        "extract_date": "2021-12-31",
        "return_years": [2020, 2021],
        "description": "About 600 parents in 8 LAs; the extract falls while some "
        "episodes are still ongoing and many follow-ups are not yet due (fast tests).",
    },
    "default": {
        "n_parents": 6110,
        "n_las": 31,
        "n_clusters": 4,
        "programme_start": "2019-04-01",
        "programme_end": "2022-03-31",
        "extract_date": "2023-12-31",
        "return_years": [2021, 2022, 2023],
        "description": "Calibrated to the published RPC 2018-22 programme: 6,110 parents "
        "referred in 31 LAs grouped in 4 contract package areas; extract after all "
        "12-month follow-ups were due.",
    },
    "national": {
        "n_parents": 100_000,
        "n_las": 152,
        "n_clusters": 9,
        "programme_start": "2022-04-01",
        "programme_end": "2025-03-31",
        "extract_date": "2025-06-30",
        "return_years": [2022, 2023, 2024],
        "description": "About 100,000 parents in 152 LAs (a Local Grant-sized national "
        "programme, 2022-25), one cluster per region; extract three months after the "
        "last referral, so late episodes are ongoing and recent follow-ups not yet due.",
    },
}

#: Published 2018-22 funnel (DWP evaluation of the effects of interventions, summary).
PUBLISHED_FUNNEL: dict[str, Any] = {
    "referred": 6110,
    "started": 4802,
    "completed": 2694,
    "followup_6m": 878,
    "followup_12m": 374,
    "families_referred": 3814,
    "families_started": 2995,
    "families_completed": 1685,
    "source": "DWP (2023) Reducing Parental Conflict programme 2018 to 2022: an evaluation "
    "of the effects of interventions, summary sample-flow table",
}


def scale_config(scale: str, **overrides: Any) -> dict[str, Any]:
    """Settings of ``scale`` (a key of :data:`SCALES`) with ``overrides`` applied."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    cfg = copy.deepcopy(SCALES[scale])
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; allowed: {sorted(cfg)}")
    cfg.update(overrides)
    return cfg


def default_parameters() -> dict[str, Any]:
    """Every generating parameter, as a JSON-ready nested dict (a fresh copy).

    Returns
    -------
    dict
        Sections ``families``, ``covariates``, ``las``, ``interventions``, ``dates``,
        ``start``, ``dropout``, ``followup``, ``questionnaires``, ``training``,
        ``planning_tool`` and ``monte_carlo``; each key is documented inline.
    """
    pf = PUBLISHED_FUNNEL
    return {
        "families": {
            # mean parents per family as published (6,110 / 3,814); families have 1 or 2
            # referred parents, so a share (ppf - 1) of families have two.
            "parents_per_family": pf["referred"] / pf["families_referred"],
            # P(relationship_status = together) for families with two / one referred parent
            "p_together": {"two_parents": 0.70, "one_parent": 0.40},
        },
        "covariates": {
            # sex of single referred parents; couples are (female, male) except
            # p_same_sex_couple, split evenly between two women and two men
            "p_female_single_parent": 0.80,
            "p_same_sex_couple": 0.03,
            # recorded sex codes other / not_known replace the true code at these rates
            "p_sex_other": 0.005,
            "p_sex_not_known": 0.015,
            # parent age ~ Normal(mean, sd) (+ male_age_shift for men), clipped, integer;
            # a partner's age = first parent's age + Normal(partner_age_diff_mean, sd)
            "age_mean": 34.0,
            "age_sd": 7.0,
            "male_age_shift": 2.0,
            "partner_age_diff_sd": 3.0,
            "age_min": 18,
            "age_max": 65,
            # ONS high-level ethnic groups; partners share the group with p_partner_same
            "ethnic_group_probs": {
                "white": 0.78, "mixed": 0.04, "asian": 0.09, "black": 0.05,
                "other": 0.02, "not_known": 0.02,
            },
            "p_partner_same_ethnic_group": 0.85,
            # no adult in paid work; shared by together couples, per parent otherwise
            "p_workless": 0.35,
            # age of the index child (shared by both parents): p_under_4 of families have
            # a child aged 0-3, the rest 4-17 (uniform within each band); Me, You and
            # Baby Too families always have a child aged 0-1
            "p_child_under_4": 0.08,
            # share of recorded values left blank (true value still drives the models)
            "p_missing": {"parent_age": 0.02, "child_age": 0.02, "workless": 0.03},
        },
        "las": {
            # regions of the clusters: regions are drawn (without replacement while they
            # last) with weights proportional to these approximate numbers of upper-tier
            # LAs; all LAs of a cluster share its region; LAs are shared out between
            # clusters in proportion to the same weights (largest remainder, >= 1 each)
            "region_weights": {
                "north_east": 12, "north_west": 23, "yorkshire_humber": 15,
                "east_midlands": 10, "west_midlands": 14, "east_of_england": 11,
                "london": 33, "south_east": 19, "south_west": 15,
            },
            # LA sizes: weights ~ lognormal(0, size_sd); each LA has at least one family
            "size_lognormal_sd": 0.5,
            # SDs of the normal LA random effects (logit scale for start and dropout;
            # latent SD units for outcomes: baseline level per domain and change per
            # domain, the latter in improvement units)
            "effect_sd": {
                "start": 0.40,
                "dropout": 0.30,
                "outcome_baseline": 0.15,
                "outcome_change": 0.08,
            },
        },
        "interventions": {
            # relative referral shares; a family gets one of the interventions its LA
            # offers whose audience fits its relationship status (together / separated /
            # any), with probability proportional to these weights
            "referral_weights": {
                "mbt_parenting_together": 0.20,
                "enhanced_triple_p": 0.12,
                "family_transitions_triple_p": 0.12,
                "standard_triple_p": 0.10,
                "parents_plus_pws": 0.12,
                "ooo_me_you_baby_too": 0.05,
                "ooo_arguing_better": 0.15,
                "ooo_getting_it_right": 0.10,
            },
            # P(an LA offers the intervention); the three OnePlusOne courses come as one
            # bundle (drawn once). An LA with nothing for together or for separated
            # families is given mbt_parenting_together (audience any).
            "p_offered": {
                "mbt_parenting_together": 0.85,
                "enhanced_triple_p": 0.80,
                "family_transitions_triple_p": 0.70,
                "standard_triple_p": 0.60,
                "parents_plus_pws": 0.60,
                "ooo_digital_bundle": 0.60,
            },
            # P(online) for interventions offered face_to_face and online, by the
            # referral date's period (before / during / after the pandemic restrictions)
            "p_online": {"before": 0.10, "pandemic": 0.80, "after": 0.35},
            "pandemic_period": ["2020-03-23", "2021-07-19"],
            # share of parents whose sessions_planned is left blank (= the usual number)
            "p_sessions_planned_blank": 0.05,
        },
        "dates": {
            # referral dates uniform over the programme period, shared by a family
            # days from referral to first session: 1 + Gamma(shape, mean-1), capped
            "wait_days_mean": {"digital": 5.0, "other": 24.0},
            "wait_days_shape": 2.0,
            "wait_days_max": 84,
            # session gaps: weekly, doubled with p_fortnight (face to face / online);
            # digital self-guided: uniform 1..digital_gap_max days
            "p_fortnight": 0.10,
            "digital_gap_max": 6,
            # dropout exit = last attended session + uniform(lo..hi) days
            "dropout_exit_delay_days": [3, 10],
            # follow-up questionnaire dates = exit + offset + uniform(lo..hi) days
            "followup_6m_offset_days": [182, -14, 28],
            "followup_12m_offset_days": [365, -14, 28],
        },
        "start": {
            "target_rate": pf["started"] / pf["referred"],
            "coefficients": {
                "workless": -0.25, "male": -0.35, "age_per_10y": 0.10, "separated": -0.15,
            },
            "intervention_effects": {
                "ooo_me_you_baby_too": -0.40, "ooo_arguing_better": -0.40,
                "ooo_getting_it_right": -0.40, "mbt_parenting_together": 0.20,
            },
            # SD of a family random effect shared by both parents of a family
            "family_effect_sd": 1.0,
        },
        "dropout": {
            # discrete-time hazard of leaving after attending session s (s = 1..S-1):
            # logit h = intercept + log_session_slope * log(s) + covariates + intervention
            #           + LA effect + family effect
            "target_completion_rate": pf["completed"] / pf["started"],
            "log_session_slope": -0.50,
            "coefficients": {
                "workless": 0.20, "male": 0.15, "age_per_10y": -0.10, "separated": 0.10,
            },
            "intervention_effects": {
                "ooo_me_you_baby_too": 0.90, "ooo_arguing_better": 0.90,
                "ooo_getting_it_right": 0.90, "enhanced_triple_p": -0.20,
                "standard_triple_p": -0.10, "mbt_parenting_together": -0.35,
            },
            "family_effect_sd": 0.50,
            # a session between the first and the last attended one is missed (attended
            # False) with this probability, without ending the episode
            "p_missed_session": 0.05,
        },
        "followup": {
            # MAR response: logit p = intercept + covariates + baseline_z * z, where z is
            # the parent's observed baseline score on the named scale standardised by
            # its population mean and SD (sign: higher = worse), 0 with the no_baseline
            # indicator when there is none. Only completers are surveyed at 6 months;
            # only 6-month respondents at 12 months.
            "baseline_instrument": "phq9",
            "baseline_scale": "total",
            "followup_6m": {
                "target_rate": pf["followup_6m"] / pf["completed"],
                "coefficients": {
                    "workless": -0.30, "male": -0.30, "age_per_10y": 0.20,
                    "separated": -0.10, "baseline_z": -0.20, "no_baseline": -0.60,
                },
            },
            "followup_12m": {
                "target_rate": pf["followup_12m"] / pf["followup_6m"],
                "coefficients": {
                    "workless": -0.20, "male": -0.20, "age_per_10y": 0.15,
                    "separated": -0.10, "baseline_z": -0.10, "no_baseline": -0.30,
                },
            },
        },
        "questionnaires": {
            # who answers which wave (all MCAR apart from the follow-ups)
            "p_baseline": 0.92,
            "p_end": {"completed": 0.85, "dropped_out": 0.15},
            # per-item non-response (value blank), MCAR
            "p_item_missing": 0.03,
            # instruments at baseline / later waves; SDQ only for a child aged 4-17, CSI-4
            # only for together parents; parent_satisfaction only at `end`
            "instruments": ["sdq_parent_4_17", "swemwbs", "phq9", "gad7", "csi4"],
            "end_only_instruments": ["parent_satisfaction"],
            "sdq_child_age": [4, 17],
            "csi_relationship_status": "together",
            # latent domains (distress orientation: higher = worse) and their correlations
            "domains": ["child", "parent_mh", "couple"],
            "domain_correlation": [
                [1.0, 0.35, 0.30],
                [0.35, 1.0, 0.40],
                [0.30, 0.40, 1.0],
            ],
            # share of each domain's baseline variance shared by the parents of a family
            "family_share": {"child": 0.60, "parent_mh": 0.10, "couple": 0.50},
            # constructs: one per scored sub-scale of an instrument. domain: which domain
            # factor it loads on; loading: its correlation with the domain factor;
            # higher_is: whether a higher score is worse or better; item_loading: loading
            # of each item on the construct (item y* = loading * theta + N(0, 1));
            # mean_position: population baseline mean item response as a fraction of the
            # item's range in score direction (categories follow a binomial shape)
            "constructs": {
                "sdq_parent_4_17": {
                    "emotional": {"domain": "child", "loading": 0.75, "higher_is": "worse",
                                  "item_loading": 1.10, "mean_position": 0.40},
                    "conduct": {"domain": "child", "loading": 0.75, "higher_is": "worse",
                                "item_loading": 1.10, "mean_position": 0.35},
                    "hyperactivity": {"domain": "child", "loading": 0.70, "higher_is": "worse",
                                      "item_loading": 1.20, "mean_position": 0.50},
                    "peer": {"domain": "child", "loading": 0.65, "higher_is": "worse",
                             "item_loading": 0.95, "mean_position": 0.30},
                    "prosocial": {"domain": "child", "loading": 0.50, "higher_is": "better",
                                  "item_loading": 1.10, "mean_position": 0.70},
                    "impact": {"domain": "child", "loading": 0.85, "higher_is": "worse",
                               "item_loading": 1.40, "mean_position": 0.35},
                },
                "swemwbs": {"*": {"domain": "parent_mh", "loading": 0.80, "higher_is": "better",
                                  "item_loading": 1.10, "mean_position": 0.48}},
                "phq9": {"*": {"domain": "parent_mh", "loading": 0.85, "higher_is": "worse",
                               "item_loading": 1.20, "mean_position": 0.37}},
                "gad7": {"*": {"domain": "parent_mh", "loading": 0.85, "higher_is": "worse",
                               "item_loading": 1.40, "mean_position": 0.42}},
                "csi4": {"*": {"domain": "couple", "loading": 1.00, "higher_is": "better",
                               "item_loading": 1.80, "mean_position": 0.52}},
                "parent_satisfaction": {"*": {"domain": "satisfaction", "loading": 1.0,
                                              "higher_is": "better", "item_loading": 1.60,
                                              "mean_position": 0.80}},
            },
            # item-level variation: item loading * exp(Normal(0, sd)); item mean position
            # on the logit scale + Normal(0, sd); drawn once with item_seed
            "item_loading_log_sd": 0.10,
            "item_position_logit_sd": 0.25,
            "item_seed": 20240602,
            # true improvement at `end` for completers, by intervention and domain
            # (latent SD units; a domain an intervention's audience never answers on is
            # still listed for completeness)
            "effects": {
                "mbt_parenting_together": {"child": 0.35, "parent_mh": 0.45, "couple": 0.55},
                "enhanced_triple_p": {"child": 0.40, "parent_mh": 0.35, "couple": 0.35},
                "family_transitions_triple_p": {"child": 0.35, "parent_mh": 0.35, "couple": 0.20},
                "standard_triple_p": {"child": 0.45, "parent_mh": 0.25, "couple": 0.20},
                "parents_plus_pws": {"child": 0.30, "parent_mh": 0.30, "couple": 0.20},
                "ooo_me_you_baby_too": {"child": 0.10, "parent_mh": 0.20, "couple": 0.25},
                "ooo_arguing_better": {"child": 0.15, "parent_mh": 0.15, "couple": 0.20},
                "ooo_getting_it_right": {"child": 0.15, "parent_mh": 0.15, "couple": 0.10},
            },
            # effect at each later wave = effect at end * multiplier
            "wave_multiplier": {"end": 1.0, "followup_6m": 1.0, "followup_12m": 1.05},
            # dropouts get this fraction of the completers' effect (at `end` only)
            "dropout_effect_fraction": 0.35,
            # individual heterogeneity of change (latent SD units): a persistent part per
            # parent and construct, and an occasion part per wave
            "change_sd_persistent": 0.45,
            "change_sd_occasion": 0.25,
            # parent_satisfaction latent mean by exit reason (SD 1)
            "satisfaction_mean": {"completed": 0.0, "dropped_out": -0.60},
        },
        "training": {
            # practitioners trained per parent referred; LA shares follow LA sizes
            "practitioners_per_parent": 0.25,
            "sector_probs": {
                "la_early_help": 0.30, "health_visiting": 0.14, "police": 0.05,
                "education": 0.15, "youth_offending": 0.04, "social_care": 0.12,
                "voluntary_sector": 0.12, "jobcentre": 0.05, "other": 0.03,
            },
            "course_probs": {
                "rpc_awareness": 0.45, "rpc_practitioner": 0.35, "rpc_supervisor": 0.08,
                "ooo_digital_training": 0.12,
            },
            # delivery by training date period (OnePlusOne training is always e-learning)
            "delivery_probs": {
                "before": {"face_to_face": 0.70, "online_live": 0.10, "e_learning": 0.20},
                "pandemic": {"face_to_face": 0.05, "online_live": 0.60, "e_learning": 0.35},
                "after": {"face_to_face": 0.35, "online_live": 0.40, "e_learning": 0.25},
            },
            # survey response by wave (then is asked with post, of post respondents)
            "response_rate": {"pre": 0.92, "post": 0.88, "then": 1.0, "followup_6m": 0.40},
            "p_item_missing": 0.01,
            "pre_days_before": [0, 14],
            "followup_6m_offset_days": [182, 0, 28],
            # knowledge / understanding / confidence: latent eta_pre ~ N(0, 1) with
            # correlation rating_correlation; post = pre + shift + N(0, shift_sd);
            # then = pre - then_shift + N(0, then_sd) (response-shift: the retrospective
            # self-rating is lower); followup_6m = post - decay + N(0, decay_sd).
            # Ratings 1..5 by the same graded item model as the questionnaires.
            "rating_questions": ["knowledge", "understanding", "confidence"],
            "rating_correlation": 0.60,
            "rating_item_loading": 1.50,
            "rating_pre_mean_position": 0.45,
            "pre_post_shift": {"knowledge": 1.00, "understanding": 0.90, "confidence": 0.80},
            "shift_sd": 0.50,
            "then_shift": 0.30,
            "then_sd": 0.30,
            "followup_decay": 0.20,
            "decay_sd": 0.40,
            # satisfaction at post: category probabilities of 1..5
            "satisfaction_probs": [0.02, 0.03, 0.12, 0.45, 0.38],
            # expected_use (post) and actual_use (6 months), codes 1 (never) .. 6 (daily);
            # codes 5-6 taken as "at least weekly". Latent use propensity u ~ N(0, 1);
            # expected = cut(u + expected_use_shift); actual = cut(rho u + sqrt(1-rho^2) e
            # + shift), thresholds use_thresholds; actual's shift is calibrated so that
            # P(actual >= 5) = actual_at_least_weekly
            "use_thresholds": [-2.0, -1.2, -0.5, 0.2, 1.4],
            "expected_use_shift": 0.35,
            "actual_use_rho": 0.60,
            "actual_at_least_weekly": 1 / 3,
            # culture_change (6 months): category probabilities of 1..5
            "culture_change_probs": [0.05, 0.15, 0.35, 0.35, 0.10],
        },
        "planning_tool": {
            # LA maturity m ~ N(0, 1). Self-assessment stage of element j in return year t
            # (t = 0, 1, ...) = cut(maturity_loading * m + element offset + growth * t
            # + persistent LA-element N(0, persistent_sd) + N(0, noise_sd)) at
            # stage_thresholds -> stages 1..4.
            "maturity_loading": 0.80,
            "element_offset_sd": 0.30,
            "growth_per_year": 0.50,
            "persistent_sd": 0.40,
            "noise_sd": 0.25,
            "stage_thresholds": [-0.60, 0.40, 1.40],
            # partner awareness (not / somewhat / very) by agency offset
            "awareness_loading": 0.60,
            "awareness_offsets": {
                "aware_health": 0.30, "aware_police": -0.30, "aware_education": 0.0,
                "aware_jobcentre": -0.50, "aware_vcs": 0.20,
            },
            "awareness_growth_per_year": 0.30,
            "awareness_noise_sd": 0.50,
            "awareness_thresholds": [-0.50, 0.80],
            # workforce trained bands 0-25 / 25-50 / 50-75 / 75-100
            "trained_loading": 0.50,
            "trained_offsets": {
                "trained_la_early_help": 0.60, "trained_health_visiting": -0.10,
                "trained_social_care": 0.20, "trained_education": -0.40,
            },
            "trained_growth_per_year": 0.50,
            "trained_noise_sd": 0.50,
            "trained_thresholds": [0.0, 0.9, 1.8],
            # interventions offered: yes when the LA offers any intervention of the group
            "offer_groups": {
                "offers_ooo_digital": ["ooo_me_you_baby_too", "ooo_arguing_better",
                                       "ooo_getting_it_right"],
                "offers_triple_p": ["enhanced_triple_p", "family_transitions_triple_p",
                                    "standard_triple_p"],
                "offers_mbt": ["mbt_parenting_together"],
                "offers_parents_plus": ["parents_plus_pws"],
            },
        },
        "monte_carlo": {
            # population values are computed on n_per_group simulated parents per
            # intervention and exit group with this fixed seed (independent of `seed`)
            "n_per_group": 20000,
            "seed": 1234567,
            # funnel intercepts are calibrated on a synthetic population of n_parents
            # parents in n_las LAs drawn with calibration_seed
            "calibration_n_parents": 200_000,
            "calibration_n_las": 4000,
            "calibration_seed": 7654321,
        },
    }
