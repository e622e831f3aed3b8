"""Questionnaire responses of the synthetic parents (the ``responses`` table, long form).

Who answers what:

* ``baseline`` (dated the referral date): each referred parent with probability
  ``p_baseline``;
* ``end`` (dated the exit date): completers with ``p_end.completed``, dropouts with
  ``p_end.dropped_out`` (only when the exit is on or before the extract date);
* ``followup_6m`` / ``followup_12m``: the respondents chosen by the funnel.

Instruments: ``questionnaires.instruments`` at every wave, ``end_only_instruments`` at
``end``; the SDQ only when the index child is aged 4-17, CSI-4 only for together
parents. Items are left blank (value NaN) with ``p_item_missing``. Latent scores
follow :mod:`.latent`, item responses :mod:`.items`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rpc_eval.synthetic.items import InstrumentModel, simulate_items
from rpc_eval.synthetic.latent import baseline_theta, domain_factors, later_theta
from rpc_eval.synthetic.population import InterventionTable, Population

__all__ = ["OutcomeSimulator"]


class OutcomeSimulator:
    """Draws latent scores once, then item responses wave by wave.

    Parameters
    ----------
    rng : numpy.random.Generator
    pop : Population
    models : dict
        Instrument name -> :class:`~rpc_eval.synthetic.items.InstrumentModel`.
    P : dict
        Generating parameters.
    la_baseline, la_change : ndarray
        LA effects per domain (n_las x D) on the baseline level and on change.
    """

    def __init__(self, rng, pop: Population, models: dict[str, InstrumentModel], P: dict[str, Any],
                 itab: InterventionTable, la_baseline: np.ndarray, la_change: np.ndarray):
        self.rng, self.pop, self.models, self.P, self.itab = rng, pop, models, P, itab
        qp = self.qp = P["questionnaires"]
        self.la_change = la_change
        self.G = domain_factors(rng, qp, P["las"]["effect_sd"]["outcome_baseline"], pop.la,
                                la_baseline, pop.fam, pop.n_families)
        self.end_only = set(qp["end_only_instruments"])
        self.theta0 = {}
        self.persistent = {}
        for name, m in models.items():
            if name in self.end_only:
                continue
            self.theta0[name] = baseline_theta(rng, m, self.G, qp)
            self.persistent[name] = rng.normal(0, qp["change_sd_persistent"], self.theta0[name].shape)
        lo, hi = qp["sdq_child_age"]
        self.eligible = {
            name: (((pop.child_age >= lo) & (pop.child_age <= hi)) if name.startswith("sdq")
                   else pop.together.copy() if name == "csi4" else np.ones(pop.n, bool))
            for name in models
        }
        self.effects = np.array([[qp["effects"].get(c, {}).get(d, 0.0) for d in qp["domains"]]
                                 for c in itab.codes])
        self.blocks: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]] = []

    def wave(self, wave: str, rows: np.ndarray, dates: np.ndarray,
             completed: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Simulate and store wave ``wave`` for parents ``rows`` answering on ``dates``.

        ``completed`` (bool per row) is needed for later waves: completers get the full
        effect, others ``dropout_effect_fraction`` of it. Returns raw item matrices by
        instrument (rows = parents of ``rows`` eligible for it, NaN rows otherwise).
        """
        qp, pop = self.qp, self.pop
        out: dict[str, np.ndarray] = {}
        for name, m in self.models.items():
            if name in self.end_only and wave != "end":
                continue
            ok = self.eligible[name][rows]
            r = rows[ok]
            if wave == "baseline":
                theta = self.theta0[name][r]
            else:
                if completed is None:
                    raise ValueError(f"wave {wave!r} needs completed=")
                comp = completed[ok]
                g = np.where(comp, 1.0, float(qp["dropout_effect_fraction"]))
                gain = (self.effects[pop.intervention[r]] * qp["wave_multiplier"][wave] * g[:, None]
                        + self.la_change[pop.la[r]])
                sat = np.where(comp, qp["satisfaction_mean"]["completed"],
                               qp["satisfaction_mean"]["dropped_out"])
                if name in self.end_only:
                    theta0 = np.zeros((r.size, len(m.constructs)))
                    pers = theta0
                else:
                    theta0, pers = self.theta0[name][r], self.persistent[name][r]
                theta = later_theta(self.rng, m, theta0, gain, pers, qp, sat_mean=sat)
            raw = simulate_items(m, theta, self.rng)
            raw[self.rng.random(raw.shape) < qp["p_item_missing"]] = np.nan
            full = np.full((rows.size, len(m.items)), np.nan)
            full[ok] = raw
            out[name] = full
            self.blocks.append((wave, name, r, dates[ok], raw))
        return out

    def long_arrays(self, wave_order: list[str], instrument_order: list[str]):
        """All stored blocks as sorted long-form arrays.

        Returns
        -------
        dict
            ``parent`` (index), ``instrument``, ``wave``, ``item`` (object arrays of
            codes), ``value`` (float), ``date`` (day numbers).
        """
        parts: dict[str, list[Any]] = {k: [] for k in ("parent", "wave", "inst", "item", "value", "date")}
        item_codes: list[str] = []
        item_offset = {}
        for name in instrument_order:
            if name in self.models:
                item_offset[name] = len(item_codes)
                item_codes.extend(self.models[name].items)
        for wave, name, r, dates, raw in self.blocks:
            J = raw.shape[1]
            parts["parent"].append(np.repeat(r, J))
            parts["wave"].append(np.full(r.size * J, wave_order.index(wave), np.int16))
            parts["inst"].append(np.full(r.size * J, instrument_order.index(name), np.int16))
            parts["item"].append(np.tile(np.arange(J, dtype=np.int32) + item_offset[name], r.size))
            parts["value"].append(raw.ravel())
            parts["date"].append(np.repeat(dates, J))
        if not self.blocks:
            cat = {k: np.zeros(0, int) for k in parts}
            cat["value"] = np.zeros(0)
        else:
            cat = {k: np.concatenate(v) for k, v in parts.items()}
        order = np.lexsort((cat["item"], cat["inst"], cat["wave"], cat["parent"]))
        return {
            "parent": cat["parent"][order],
            "wave": np.asarray(wave_order, dtype=object)[cat["wave"][order]],
            "instrument": np.asarray(instrument_order, dtype=object)[cat["inst"][order]],
            "item": np.asarray(item_codes, dtype=object)[cat["item"][order]],
            "value": cat["value"][order],
            "date": cat["date"][order],
        }
