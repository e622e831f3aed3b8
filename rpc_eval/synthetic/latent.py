"""Latent outcome model: correlated baseline traits and their change at later waves.

Baseline. Three domain factors (``child``, ``parent_mh``, ``couple``; distress
orientation, higher = worse) per parent::

    G = sqrt(1 - f_d - s^2) * Z_parent + sqrt(f_d) * F_family + U_LA

with ``Z``, ``F`` and ``U / s`` each multivariate normal with correlation
``domain_correlation``; ``f_d`` is ``family_share[d]`` and ``s`` the LA SD
``las.effect_sd.outcome_baseline``. Each construct c (a sub-scale) in score direction::

    theta_c = sign_c * (lambda_c * G_d(c) + sqrt(1 - lambda_c^2) * E_c),  E_c ~ N(0, 1)

where ``sign_c`` is +1 when a higher score is worse and -1 when better.

Later waves. With improvement ``Delta`` (latent SD units, positive = better)::

    Delta_cw = effect[intervention, d] * wave_multiplier[w] * g + V_LA,d + R_c + O_cw
    theta_cw = theta_c0 - sign_c * Delta_cw

``g`` is 1 for completers and ``dropout_effect_fraction`` for dropouts; ``V_LA`` ~
N(0, ``outcome_change`` SD) per LA and domain; ``R`` ~ N(0, ``change_sd_persistent``)
per parent and construct; ``O`` ~ N(0, ``change_sd_occasion``) per wave.
``parent_satisfaction`` (domain ``satisfaction``) is asked at ``end`` only:
theta = ``satisfaction_mean[exit group]`` + N(0, 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rpc_eval.synthetic.items import InstrumentModel

__all__ = ["draw_la_domain_effects", "domain_factors", "baseline_theta", "later_theta"]


def _chol(qp: dict[str, Any]) -> np.ndarray:
    return np.linalg.cholesky(np.asarray(qp["domain_correlation"], float))


def draw_la_domain_effects(rng, n_las: int, qp: dict[str, Any], sd: float) -> np.ndarray:
    """LA effects per domain (n_las x D), correlated as the domains, SD ``sd``."""
    return sd * (rng.standard_normal((n_las, len(qp["domains"]))) @ _chol(qp).T)


def domain_factors(rng, qp, la_sd, la, la_effects, fam, n_fam) -> np.ndarray:
    """Baseline domain factors G (n x D) of parents in LAs ``la`` and families ``fam``."""
    L = _chol(qp)
    D = len(qp["domains"])
    share = np.array([qp["family_share"].get(d, 0.0) for d in qp["domains"]])
    z = rng.standard_normal((la.size, D)) @ L.T
    f = rng.standard_normal((n_fam, D)) @ L.T
    return np.sqrt(1.0 - share - la_sd**2) * z + np.sqrt(share) * f[fam] + la_effects[la]


def baseline_theta(rng, model: InstrumentModel, G: np.ndarray, qp) -> np.ndarray:
    """Baseline construct scores (n x constructs) of ``model`` in score direction."""
    n = G.shape[0]
    out = np.empty((n, len(model.constructs)))
    e = rng.standard_normal(out.shape)
    for c, spec in enumerate(model.construct_spec):
        if spec["domain"] not in qp["domains"]:
            out[:, c] = e[:, c]
            continue
        lam = float(spec["loading"])
        d = qp["domains"].index(spec["domain"])
        out[:, c] = model.sign[c] * (lam * G[:, d] + np.sqrt(1 - lam**2) * e[:, c])
    return out


def later_theta(rng, model: InstrumentModel, theta0, gain, persistent, qp, sat_mean=None):
    """Construct scores at a later wave.

    Parameters
    ----------
    theta0 : (n, C) baseline construct scores.
    gain : (n, D) systematic improvement per domain (effect x multiplier x g + LA).
    persistent : (n, C) persistent individual change (R).
    sat_mean : (n,) latent mean of satisfaction constructs (``end`` only).
    """
    occ = rng.normal(0.0, qp["change_sd_occasion"], theta0.shape)
    out = np.empty_like(theta0)
    for c, spec in enumerate(model.construct_spec):
        if spec["domain"] not in qp["domains"]:
            base = 0.0 if sat_mean is None else sat_mean
            out[:, c] = base + rng.standard_normal(theta0.shape[0])
            continue
        d = qp["domains"].index(spec["domain"])
        delta = gain[:, d] + persistent[:, c] + occ[:, c]
        out[:, c] = theta0[:, c] - model.sign[c] * delta
    return out
