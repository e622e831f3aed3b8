"""Planning-tool returns (``planning_tool``): one row per LA x return year x item.

Each LA has a maturity ``m ~ N(0, 1)``. With t = 0, 1, ... the index of the return
year:

* self-assessment elements (stages 1-4): ``maturity_loading * m + element offset
  (N(0, element_offset_sd), drawn per dataset) + growth_per_year * t + persistent
  LA x element N(0, persistent_sd) + N(0, noise_sd)`` cut at ``stage_thresholds``, so
  stages tend to rise from year to year;
* partner awareness (not / somewhat / very): ``awareness_loading * m + agency offset +
  awareness_growth_per_year * t + N(0, awareness_noise_sd)`` cut at
  ``awareness_thresholds``;
* workforce trained bands (0-25 ... 75-100): the same form with the ``trained_*``
  parameters;
* interventions offered: ``yes`` when the LA offers any intervention of the group
  (the offer that also drives the parents' referrals), else ``no``.

Responses are the text codes of the codebook's ``responses`` lists; ``section`` is the
codebook's ``section`` attribute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["generate_planning_tool", "AWARENESS_LEVELS"]

#: awareness responses from lowest to highest
AWARENESS_LEVELS = ("not", "somewhat", "very")


def generate_planning_tool(rng, years: list[int], P: dict[str, Any], books, la_offer: np.ndarray,
                           intervention_codes: list[str]) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays ``la`` (index), ``year``, ``item``, ``section``, ``response`` and the
    realised random effects (``maturity`` per LA, ``element_offsets``)."""
    pp = P["planning_tool"]
    book = books["planning_tool"]
    section = book.attribute("section")
    responses = book.attribute("responses")
    n_las, T = la_offer.shape[0], len(years)
    maturity = rng.standard_normal(n_las)
    t = np.arange(T)[None, :]
    elements = [c for c in book.codes if section[c] == "self_assessment"]
    offsets = {c: float(o) for c, o in zip(elements, rng.normal(0, pp["element_offset_sd"], len(elements)),
                                         strict=True)}
    out_resp: dict[str, np.ndarray] = {}
    for code in book.codes:
        sec = section[code]
        levels = [str(r) for r in responses[code]]
        if sec == "self_assessment":
            lat = (pp["maturity_loading"] * maturity[:, None] + offsets[code]
                   + pp["growth_per_year"] * t
                   + rng.normal(0, pp["persistent_sd"], (n_las, 1))
                   + rng.normal(0, pp["noise_sd"], (n_las, T)))
            k = (lat[..., None] > np.asarray(pp["stage_thresholds"])).sum(-1)
        elif sec == "partner_awareness":
            lat = (pp["awareness_loading"] * maturity[:, None] + pp["awareness_offsets"].get(code, 0.0)
                   + pp["awareness_growth_per_year"] * t
                   + rng.normal(0, pp["awareness_noise_sd"], (n_las, T)))
            k = (lat[..., None] > np.asarray(pp["awareness_thresholds"])).sum(-1)
            levels = [lv for lv in AWARENESS_LEVELS if lv in levels]
        elif sec == "workforce_trained":
            lat = (pp["trained_loading"] * maturity[:, None] + pp["trained_offsets"].get(code, 0.0)
                   + pp["trained_growth_per_year"] * t
                   + rng.normal(0, pp["trained_noise_sd"], (n_las, T)))
            k = (lat[..., None] > np.asarray(pp["trained_thresholds"])).sum(-1)
        else:  # interventions offered
            group = pp["offer_groups"].get(code, [])
            cols = [intervention_codes.index(c) for c in group if c in intervention_codes]
            offered = la_offer[:, cols].any(axis=1) if cols else np.zeros(n_las, bool)
            yes, no = ("yes", "no") if {"yes", "no"} <= set(levels) else (levels[0], levels[-1])
            out_resp[code] = np.repeat(np.where(offered, yes, no)[:, None], T, axis=1).astype(object)
            continue
        k = np.minimum(k, len(levels) - 1)
        out_resp[code] = np.asarray(levels, dtype=object)[k]
    codes = book.codes
    la_idx = np.repeat(np.arange(n_las), T * len(codes))
    year_idx = np.tile(np.repeat(np.arange(T), len(codes)), n_las)
    item_idx = np.tile(np.arange(len(codes)), n_las * T)
    resp = np.stack([out_resp[c] for c in codes], axis=-1)  # n_las x T x items
    arrays = {
        "la": la_idx,
        "year": np.asarray(years, dtype=np.int64)[year_idx],
        "item": np.asarray(codes, dtype=object)[item_idx],
        "section": np.asarray([section[c] for c in codes], dtype=object)[item_idx],
        "response": resp.reshape(-1),
    }
    realised = {"maturity": [float(x) for x in maturity], "element_offsets": offsets}
    return arrays, realised
