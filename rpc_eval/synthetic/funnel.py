"""Engagement funnel: start, session-by-session dropout, exit, follow-up response.

Start (referred parents)::

    logit P(start) = a_start + b'x + intervention + u_LA + f_family

Dropout (starters). After attending session s (s = 1..S-1, S = sessions planned) a
parent leaves before session s+1 with hazard::

    logit h_s = a_drop + slope * log(s) + b'x + intervention + u_LA + f_family

so P(complete) = prod_s (1 - h_s). A parent who leaves after session k attended
sessions 1..k; completers attend through session S. A session strictly between the
first and the last attended one is missed (``attended`` False) with
``p_missed_session``, without ending the episode.

Follow-up (MAR). Completers answer the 6-month survey with
``logit p = a_6m + b'x + b_z * z + b_nb * no_baseline``; 6-month respondents answer
the 12-month survey with the same form and its own coefficients. ``z`` is the
observed baseline score standardised by its population mean and SD.

Intercepts are calibrated (:mod:`rpc_eval.synthetic.calibration`) so that the rates
in the population equal the published ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from rpc_eval.synthetic._common import linear_predictor
from rpc_eval.synthetic.population import InterventionTable, Population

__all__ = [
    "start_eta", "dropout_eta", "hazards", "followup_eta", "Episodes", "simulate_episodes",
    "episode_window",
]


def start_eta(pop: Population, P, itab: InterventionTable, u_la, f_fam) -> np.ndarray:
    """Linear predictor of starting, without the intercept."""
    sp = P["start"]
    return (linear_predictor(sp["coefficients"], pop.covariates())
            + itab.vector(sp["intervention_effects"])[pop.intervention]
            + u_la[pop.la] + f_fam[pop.fam])


def dropout_eta(pop: Population, P, itab: InterventionTable, u_la, f_fam) -> np.ndarray:
    """Linear predictor of the per-session dropout hazard, without intercept and session term."""
    dp = P["dropout"]
    return (linear_predictor(dp["coefficients"], pop.covariates())
            + itab.vector(dp["intervention_effects"])[pop.intervention]
            + u_la[pop.la] + f_fam[pop.fam])


def hazards(eta: np.ndarray, sessions: np.ndarray, intercept: float, slope: float) -> np.ndarray:
    """Dropout hazards after sessions 1..S-1 (n x (max S - 1)); 0 beyond S - 1."""
    smax = int(sessions.max()) if sessions.size else 1
    s = np.arange(1, max(smax, 2))
    h = expit(intercept + slope * np.log(s)[None, :] + eta[:, None])
    h[s[None, :] >= sessions[:, None]] = 0.0
    return h


def followup_eta(cov: dict[str, np.ndarray], coefs: dict[str, float], z, no_baseline):
    """Linear predictor of follow-up response, without the intercept."""
    return linear_predictor(coefs, {**cov, "baseline_z": z, "no_baseline": no_baseline})


@dataclass
class Episodes:
    """Latent (uncensored) episode of every starter; arrays over starters."""

    idx: np.ndarray  # parent index of each starter
    start: np.ndarray
    last: np.ndarray  # last attended session (1-based)
    completed: np.ndarray
    exit: np.ndarray
    session_day: np.ndarray  # starters x max S
    attended: np.ndarray  # starters x max S, meaningful for sessions <= last
    p_complete: np.ndarray


def simulate_episodes(rng, pop: Population, starters: np.ndarray, H: np.ndarray,
                      P: dict[str, Any], itab: InterventionTable) -> Episodes:
    """Wait, sessions, dropout and exit of the parents ``starters`` (indices)."""
    dp, dd = P["dropout"], P["dates"]
    n = starters.size
    S = pop.sessions_planned[starters]
    smax = int(itab.sessions.max())
    digital = itab.digital[pop.intervention[starters]]
    mean = np.where(digital, dd["wait_days_mean"]["digital"], dd["wait_days_mean"]["other"])
    shape = float(dd["wait_days_shape"])
    wait = 1 + np.rint(rng.gamma(shape, (mean - 1) / shape))
    wait = np.minimum(wait, dd["wait_days_max"]).astype(np.int64)
    start = pop.referral[starters] + wait

    Hs = H[starters]
    leave = rng.random(Hs.shape) < Hs
    any_leave = leave.any(axis=1)
    last = np.where(any_leave, leave.argmax(axis=1) + 1, S)
    completed = ~any_leave

    gaps = np.where(rng.random((n, smax - 1)) < dd["p_fortnight"], 14, 7)
    dgaps = rng.integers(1, int(dd["digital_gap_max"]) + 1, (n, smax - 1))
    gaps = np.where(digital[:, None], dgaps, gaps)
    session_day = start[:, None] + np.concatenate(
        [np.zeros((n, 1), np.int64), np.cumsum(gaps, axis=1)], axis=1)
    snum = np.arange(1, smax + 1)[None, :]
    missed = (rng.random((n, smax)) < dp["p_missed_session"]) & (snum > 1) & (snum < last[:, None])
    attended = ~missed
    lo, hi = dd["dropout_exit_delay_days"]
    last_day = session_day[np.arange(n), last - 1]
    exit_ = np.where(completed, last_day, last_day + rng.integers(lo, hi + 1, n))
    return Episodes(idx=starters, start=start, last=last, completed=completed, exit=exit_,
                    session_day=session_day, attended=attended,
                    p_complete=np.prod(1 - Hs, axis=1))


def episode_window(P: dict[str, Any], itab: InterventionTable) -> int:
    """Longest possible time from first session to exit (days)."""
    dd = P["dates"]
    gap = max(14, int(dd["digital_gap_max"]))
    return int((itab.sessions.max() - 1) * gap + dd["dropout_exit_delay_days"][1])
