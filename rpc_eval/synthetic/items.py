"""The graded item model and a complete-data scorer used by the generator and its truth.

Each instrument is split into *constructs*: one per sub-scale that is the smallest
item-based scale of at least one item (so the SDQ gives emotional, conduct,
hyperactivity, peer, prosocial and impact; PHQ-9 gives total). An item outside every
scale joins the construct of the scale it gates (``sdq_imp_diff`` -> impact), or else
the construct of the largest scale.

Item model: ``y* = a_j * theta_c + e``, ``e ~ N(0, 1)``, where theta_c is the
construct's latent score in *score direction* (higher = higher scale score). The
item score ``r = #{k : y* > tau_jk}`` (0..K) becomes the raw code ``min + r``, or
``max - r`` for an item reverse-keyed in its scale. Thresholds are set so that at
baseline (theta ~ N(0, 1)) the item's categories have a Binomial(K, p_j) shape, p_j
being the item's mean position.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, logit
from scipy.stats import binom, norm

__all__ = ["InstrumentModel", "build_model", "simulate_items", "score_scales", "item_scores"]

#: domain of a construct the parameters do not name
DEFAULT_DOMAIN = "parent_mh"


@dataclass
class InstrumentModel:
    """Generating parameters of one instrument's items (arrays in item order)."""

    name: str
    items: list[str]
    item_min: np.ndarray
    item_max: np.ndarray
    reverse: np.ndarray
    construct_of_item: np.ndarray
    loading: np.ndarray
    thresholds: np.ndarray  # J x Kmax, +inf padded
    position: np.ndarray
    constructs: list[str]
    construct_spec: list[dict[str, Any]]
    scales: list[Any] = field(repr=False)
    recode: dict[str, dict[int, float]] = field(default_factory=dict)
    direction: str = "higher_is_worse"

    @property
    def sign(self) -> np.ndarray:
        """+1 where a higher construct score is worse, -1 where it is better."""
        return np.array([1.0 if s["higher_is"] == "worse" else -1.0 for s in self.construct_spec])

    def truth(self) -> dict[str, Any]:
        """JSON-ready item parameters."""
        return {
            "constructs": {c: dict(s) for c, s in zip(self.constructs, self.construct_spec, strict=True)},
            "items": {
                it: {
                    "construct": self.constructs[self.construct_of_item[j]],
                    "loading": float(self.loading[j]),
                    "mean_position": float(self.position[j]),
                    "thresholds": [float(t) for t in self.thresholds[j] if np.isfinite(t)],
                    "reverse_keyed": bool(self.reverse[j]),
                    "min": float(self.item_min[j]),
                    "max": float(self.item_max[j]),
                }
                for j, it in enumerate(self.items)
            },
        }


def _recode_maps(inst) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for block in (inst.spec.get("recode") or []):
        mapping = {int(k): float(v) for k, v in block.get("map", {}).items()}
        for it in block.get("items", []):
            out[str(it)] = mapping
    return out


def build_model(inst, qparams: dict[str, Any]) -> InstrumentModel:
    """Item parameters of instrument ``inst`` (a registry Instrument) from ``qparams``."""
    items = list(inst.items)
    item_scales = [s for s in inst.scales if s.method != "sum_of_scales" and s.items]
    # construct of each item: the smallest item-based scale containing it
    owner: dict[str, Any] = {}
    for s in sorted(item_scales, key=lambda s: len(s.items), reverse=True):
        for it in s.items:
            owner[it] = s
    largest = max(item_scales, key=lambda s: len(s.items))
    for s in item_scales:
        gate = s.spec.get("gate") or {}
        if gate.get("item") in items and gate["item"] not in owner:
            owner[gate["item"]] = s
    for it in items:
        owner.setdefault(it, largest)
    constructs: list[str] = []
    for it in items:
        if owner[it].name not in constructs:
            constructs.append(owner[it].name)
    specs_in = qparams["constructs"].get(inst.name, {})
    specs = []
    for c in constructs:
        spec = dict(specs_in.get(c) or specs_in.get("*") or {})
        spec.setdefault("domain", DEFAULT_DOMAIN)
        spec.setdefault("loading", 0.7)
        better = inst.direction == "higher_is_better" or "prosocial" in c
        spec.setdefault("higher_is", "better" if better else "worse")
        spec.setdefault("item_loading", 1.4)
        spec.setdefault("mean_position", 0.4)
        specs.append(spec)
    rng = np.random.default_rng([int(qparams["item_seed"]), zlib.crc32(inst.name.encode())])
    J = len(items)
    cidx = np.array([constructs.index(owner[it].name) for it in items])
    lo = np.array([inst.item_min[it] for it in items], float)
    hi = np.array([inst.item_max[it] for it in items], float)
    K = (hi - lo).astype(int)
    base_a = np.array([specs[c]["item_loading"] for c in cidx], float)
    base_p = np.array([specs[c]["mean_position"] for c in cidx], float)
    a = base_a * np.exp(rng.normal(0, qparams["item_loading_log_sd"], J))
    p = expit(logit(base_p) + rng.normal(0, qparams["item_position_logit_sd"], J))
    thr = np.full((J, int(K.max())), np.inf)
    for j in range(J):
        # P(r >= k) = survival of Binomial(K, p) at k - 1; y*/sd ~ N(0, 1) at baseline
        surv = binom.sf(np.arange(K[j]), K[j], p[j])
        thr[j, : K[j]] = np.sqrt(a[j] ** 2 + 1) * norm.ppf(1 - surv)
    reverse = np.array([it in owner[it].reverse for it in items])
    return InstrumentModel(
        name=inst.name, items=items, item_min=lo, item_max=hi, reverse=reverse,
        construct_of_item=cidx, loading=a, thresholds=thr, position=p,
        constructs=constructs, construct_spec=specs, scales=list(inst.scales),
        recode=_recode_maps(inst), direction=inst.direction,
    )


def simulate_items(model: InstrumentModel, theta: np.ndarray, rng: np.random.Generator):
    """Raw response codes (n x J float) for latent scores ``theta`` (n x constructs)."""
    theta = np.atleast_2d(theta)
    ystar = theta[:, model.construct_of_item] * model.loading + rng.standard_normal(
        (theta.shape[0], len(model.items)))
    r = np.zeros(ystar.shape)
    for k in range(model.thresholds.shape[1]):
        r += ystar > model.thresholds[:, k]
    return np.where(model.reverse, model.item_max - r, model.item_min + r)


def item_scores(model: InstrumentModel, raw: np.ndarray) -> np.ndarray:
    """Item scores: recoded where the definition recodes, reversed where reverse-keyed
    (reverse keying per scale is applied in :func:`score_scales`)."""
    out = np.array(raw, float, copy=True)
    for it, mapping in model.recode.items():
        j = model.items.index(it)
        col = out[:, j]
        new = col.copy()
        for k, v in mapping.items():
            new[col == k] = v
        out[:, j] = new
    return out


def score_scales(model: InstrumentModel, raw: np.ndarray, prorate: bool = False):
    """Scale scores of complete rows (NaN when an item is blank) for every scale.

    Sum / mean of item scores with the scale's reverse keying and the instrument's
    recoding; a ``gate`` sets the score when the gate item has a gating value; a
    ``conversion`` table maps integer raw sums. With ``prorate=True`` a ``sum`` scale is
    mean-of-answered x number of items when at least ``min_answered`` were answered.
    """
    sc = item_scores(model, raw)
    pos = {it: j for j, it in enumerate(model.items)}
    out: dict[str, np.ndarray] = {}
    for s in model.scales:
        if s.method == "sum_of_scales":
            out[s.name] = np.sum([out[f] for f in s.from_scales], axis=0)
            continue
        cols = [pos[it] for it in s.items]
        x = sc[:, cols]
        for k, it in enumerate(s.items):
            if it in s.reverse:
                j = pos[it]
                x[:, k] = model.item_min[j] + model.item_max[j] - x[:, k]
        answered = np.sum(~np.isnan(x), 1)
        if prorate:
            with np.errstate(invalid="ignore", divide="ignore"):
                val = np.nansum(x, 1) / answered
            if s.method != "mean":
                val = val * x.shape[1]
            val = np.where(answered >= (s.min_answered or x.shape[1]), val, np.nan)
        else:
            val = x.mean(axis=1) if s.method == "mean" else x.sum(axis=1)
        gate = s.spec.get("gate") or {}
        if gate.get("item") in pos:
            g = raw[:, pos[gate["item"]]]
            val = np.where(np.isin(g, gate.get("values", [])), float(gate.get("score", 0)), val)
        table = (s.spec.get("conversion") or {}).get("table")
        if table and not prorate:
            keys = np.array(sorted(int(k) for k in table))
            vals = np.array([float(table[k]) for k in sorted(table, key=int)])
            iv = np.nan_to_num(val, nan=-1).astype(int)
            idx = np.minimum(np.searchsorted(keys, iv), keys.size - 1)
            ok = ~np.isnan(val) & (keys[idx] == iv)
            conv = np.full(val.shape, np.nan)
            conv[ok] = vals[idx[ok]]
            val = conv
        out[s.name] = val
    return out


def scale_item_matrix(model: InstrumentModel, raw: np.ndarray, scale_name: str) -> np.ndarray:
    """Item scores (recoded, reverse-keyed) of the items of a scale (n x k); a
    ``sum_of_scales`` scale gives the items of its component scales."""
    by_name = {s.name: s for s in model.scales}
    s = by_name[scale_name]
    if s.method == "sum_of_scales":
        return np.hstack([scale_item_matrix(model, raw, f) for f in s.from_scales])
    sc = item_scores(model, raw)
    cols = []
    for it in s.items:
        j = model.items.index(it)
        x = sc[:, j]
        if it in s.reverse:
            x = model.item_min[j] + model.item_max[j] - x
        cols.append(x)
    return np.column_stack(cols)


def cronbach_alpha(x: np.ndarray) -> float:
    """Cronbach's alpha of the complete rows of an item-score matrix."""
    x = x[~np.isnan(x).any(axis=1)]
    k = x.shape[1]
    if k < 2 or x.shape[0] < 3:
        return float("nan")
    total = x.sum(axis=1).var(ddof=1)
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / total))
