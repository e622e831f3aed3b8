"""Practitioners trained and their training survey (``practitioners``, ``training_responses``).

About ``training.practitioners_per_parent`` practitioners per referred parent, shared
between LAs in proportion to LA size. Training dates are uniform over the programme
period; delivery depends on the pandemic period (OnePlusOne training is e-learning).

Survey (questions and their waves from the ``training_questions`` codebook):

* knowledge, understanding, confidence (1-5): latent ``eta_pre ~ N(0, 1)`` per
  question (correlation ``rating_correlation``); ``post = pre + shift + N(0, shift_sd)``;
  ``then`` (retrospective pre-rating, asked with post) ``= pre - then_shift +
  N(0, then_sd)``; ``followup_6m = post - followup_decay + N(0, decay_sd)``; rated by
  the graded item model (loading ``rating_item_loading``; at ``pre`` the categories
  have a Binomial(4, ``rating_pre_mean_position``) shape);
* satisfaction and culture_change: categorical with the given probabilities;
* expected_use (post) / actual_use (6 months), 1 never .. 6 daily: cut points
  ``use_thresholds`` of ``u + expected_use_shift`` and of ``rho u + sqrt(1 - rho^2) e +
  actual_shift``, where actual_shift is solved so that P(actual >= 5) equals
  ``actual_at_least_weekly``.

Response: ``pre`` and ``post`` with their rates, ``then`` with post, ``followup_6m``
with its rate and only when due on or before the extract date.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binom, norm

from rpc_eval.synthetic._common import choice, day

__all__ = ["generate_training", "training_population_values"]

RATING_WAVES = ("pre", "post", "then", "followup_6m")


def _rating_thresholds(tp) -> np.ndarray:
    a = float(tp["rating_item_loading"])
    surv = binom.sf(np.arange(4), 4, float(tp["rating_pre_mean_position"]))
    return np.sqrt(a**2 + 1) * norm.ppf(1 - surv)


def _actual_shift(tp) -> float:
    thr = np.asarray(tp["use_thresholds"], float)
    # code >= 5 iff latent > thr[3]; latent ~ N(shift, 1)
    return float(thr[3] - norm.ppf(1 - float(tp["actual_at_least_weekly"])))


def _latents(rng, n: int, tp) -> dict[str, np.ndarray]:
    qs = tp["rating_questions"]
    k = len(qs)
    R = np.full((k, k), float(tp["rating_correlation"]))
    np.fill_diagonal(R, 1.0)
    pre = rng.standard_normal((n, k)) @ np.linalg.cholesky(R).T
    shift = np.array([tp["pre_post_shift"][q] for q in qs])
    post = pre + shift + rng.normal(0, tp["shift_sd"], (n, k))
    then = pre - tp["then_shift"] + rng.normal(0, tp["then_sd"], (n, k))
    fu = post - tp["followup_decay"] + rng.normal(0, tp["decay_sd"], (n, k))
    return {"pre": pre, "post": post, "then": then, "followup_6m": fu}


def _rate(rng, eta: np.ndarray, tp) -> np.ndarray:
    a = float(tp["rating_item_loading"])
    ystar = a * eta + rng.standard_normal(eta.shape)
    return 1 + (ystar[..., None] > _rating_thresholds(tp)).sum(-1)


def _uses(rng, n, tp):
    thr = np.asarray(tp["use_thresholds"], float)
    u = rng.standard_normal(n)
    rho = float(tp["actual_use_rho"])
    expected = 1 + ((u + tp["expected_use_shift"])[:, None] > thr).sum(1)
    v = rho * u + np.sqrt(1 - rho**2) * rng.standard_normal(n) + _actual_shift(tp)
    actual = 1 + (v[:, None] > thr).sum(1)
    return expected, actual


def training_population_values(P: dict[str, Any]) -> dict[str, Any]:
    """Population means of every training question by wave, pre->post change and d_z,
    and the shares that define the headline figures (deterministic Monte Carlo)."""
    tp = P["training"]
    rng = np.random.default_rng(int(P["monte_carlo"]["seed"]) + 1)
    n = 200_000
    lat = _latents(rng, n, tp)
    ratings = {w: _rate(rng, lat[w], tp) for w in RATING_WAVES}
    out: dict[str, Any] = {"n_monte_carlo": n, "questions": {}}
    for k, q in enumerate(tp["rating_questions"]):
        d = ratings["post"][:, k] - ratings["pre"][:, k]
        out["questions"][q] = {
            "mean_by_wave": {w: float(ratings[w][:, k].mean()) for w in RATING_WAVES},
            "sd_by_wave": {w: float(ratings[w][:, k].std(ddof=1)) for w in RATING_WAVES},
            "pre_post_mean_change": float(d.mean()),
            "pre_post_d_z": float(d.mean() / d.std(ddof=1)),
            "then_post_mean_change": float((ratings["post"][:, k] - ratings["then"][:, k]).mean()),
        }
    expected, actual = _uses(rng, n, tp)
    sat = np.asarray(tp["satisfaction_probs"], float)
    out["satisfaction_share_4_or_5"] = float(sat[3:].sum() / sat.sum())
    out["expected_use_share_at_least_weekly"] = float((expected >= 5).mean())
    out["actual_use_share_at_least_weekly"] = float((actual >= 5).mean())
    out["actual_use_shift"] = _actual_shift(tp)
    out["rating_thresholds"] = [float(t) for t in _rating_thresholds(tp)]
    return out


def generate_training(rng, cfg: dict[str, Any], P: dict[str, Any], books, la_weight: np.ndarray,
                      extract: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Arrays of the ``practitioners`` and ``training_responses`` tables.

    Returns
    -------
    practitioners : dict
        ``la`` (index), ``sector``, ``course``, ``delivery``, ``training_day``.
    responses : dict
        ``practitioner`` (index), ``wave``, ``question``, ``value``, ``missing``, ``day``
        (sorted by practitioner, wave, question).
    """
    tp = P["training"]
    n = max(1, int(round(cfg["n_parents"] * tp["practitioners_per_parent"])))
    la = rng.choice(la_weight.size, n, p=la_weight)
    sector = choice(rng, list(tp["sector_probs"]), list(tp["sector_probs"].values()), n)
    course = choice(rng, list(tp["course_probs"]), list(tp["course_probs"].values()), n)
    t0, t1 = day(cfg["programme_start"]), min(day(cfg["programme_end"]), extract)
    tday = np.sort(rng.integers(t0, t1 + 1, n))
    pan0, pan1 = (day(d) for d in P["interventions"]["pandemic_period"])
    period = np.where(tday < pan0, "before", np.where(tday <= pan1, "pandemic", "after"))
    delivery = np.empty(n, dtype=object)
    for per, probs in tp["delivery_probs"].items():
        sel = period == per
        delivery[sel] = choice(rng, list(probs), list(probs.values()), int(sel.sum()))
    delivery[course == "ooo_digital_training"] = "e_learning"

    lat = _latents(rng, n, tp)
    ratings = {w: _rate(rng, lat[w], tp) for w in RATING_WAVES}
    expected, actual = _uses(rng, n, tp)
    values: dict[tuple[str, str], np.ndarray] = {}
    for k, q in enumerate(tp["rating_questions"]):
        for w in RATING_WAVES:
            values[(w, q)] = ratings[w][:, k]
    values[("post", "satisfaction")] = 1 + choice(rng, list(range(5)), tp["satisfaction_probs"], n).astype(int)
    values[("post", "expected_use")] = expected
    values[("followup_6m", "actual_use")] = actual
    values[("followup_6m", "culture_change")] = 1 + choice(
        rng, list(range(5)), tp["culture_change_probs"], n).astype(int)

    rr = tp["response_rate"]
    lo, hi = tp["pre_days_before"]
    off, flo, fhi = tp["followup_6m_offset_days"]
    dates = {
        "pre": tday - rng.integers(lo, hi + 1, n),
        "post": tday,
        "then": tday,
        "followup_6m": tday + off + rng.integers(flo, fhi + 1, n),
    }
    responded = {
        "pre": rng.random(n) < rr["pre"],
        "post": rng.random(n) < rr["post"],
    }
    responded["then"] = responded["post"] & (rng.random(n) < rr["then"])
    responded["followup_6m"] = (rng.random(n) < rr["followup_6m"]) & (dates["followup_6m"] <= extract)

    qbook = books["training_questions"]
    qwaves = qbook.attribute("waves")
    wave_codes = books["training_waves"].codes
    parts: dict[str, list] = {k: [] for k in ("practitioner", "wave", "question", "value", "day", "w", "q")}
    for wi, w in enumerate(wave_codes):
        for qi, q in enumerate(qbook.codes):
            if w not in qwaves.get(q, []) or (w, q) not in values:
                continue
            who = np.flatnonzero(responded[w])
            parts["practitioner"].append(who)
            parts["value"].append(values[(w, q)][who])
            parts["day"].append(dates[w][who])
            parts["w"].append(np.full(who.size, wi))
            parts["q"].append(np.full(who.size, qi))
    cat = {k: np.concatenate(v) for k, v in parts.items() if v}
    order = np.lexsort((cat["q"], cat["w"], cat["practitioner"]))
    resp = {
        "practitioner": cat["practitioner"][order],
        "wave": np.asarray(wave_codes, dtype=object)[cat["w"][order]],
        "question": np.asarray(qbook.codes, dtype=object)[cat["q"][order]],
        "value": cat["value"][order].astype(np.int64),
        "day": cat["day"][order],
    }
    resp["missing"] = rng.random(order.size) < tp["p_item_missing"]
    prac = {"la": la, "sector": sector, "course": course, "delivery": delivery, "training_day": tday}
    return prac, resp
