"""LAs, families and referred parents: who is referred, where, to what, with which covariates.

The structure is drawn family by family. A family has one or two referred parents
(``families.parents_per_family``); the parents of a family share LA, intervention,
delivery mode, relationship status, referral date and index child. The same function
draws the calibration population (many LAs) and the sample, so the calibrated
intercepts refer to exactly the process that generates the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rpc_eval.synthetic._common import choice, day, draw_categorical

__all__ = ["Population", "InterventionTable", "draw_population"]


@dataclass(frozen=True)
class InterventionTable:
    """The intervention codebook as arrays (codebook order)."""

    codes: list[str]
    names: list[str]
    intensity: list[str]
    sessions: np.ndarray
    audience: list[str]
    modes: list[list[str]]

    @classmethod
    def from_codebook(cls, book) -> InterventionTable:
        entries = list(book.entries)
        return cls(
            codes=[str(e["code"]) for e in entries],
            names=[str(e.get("name", e.get("label", e["code"]))) for e in entries],
            intensity=[str(e["intensity"]) for e in entries],
            sessions=np.array([int(e["sessions_planned"]) for e in entries]),
            audience=[str(e.get("audience", "any")) for e in entries],
            modes=[list(e.get("delivery_modes", ["face_to_face"])) for e in entries],
        )

    def vector(self, values: dict[str, float], default: float = 0.0) -> np.ndarray:
        """Per-intervention values from a code -> value dict (``default`` if absent)."""
        return np.array([float(values.get(c, default)) for c in self.codes])

    @property
    def digital(self) -> np.ndarray:
        return np.array([m == ["digital_self_guided"] for m in self.modes])


@dataclass
class Population:
    """Arrays of one synthetic population (families and parents in referral order)."""

    # LAs
    la_region: np.ndarray
    la_cluster: np.ndarray
    la_weight: np.ndarray
    la_offer: np.ndarray  # n_las x n_interventions, bool
    # families
    fam_la: np.ndarray
    fam_size: np.ndarray
    fam_together: np.ndarray
    fam_intervention: np.ndarray
    fam_mode: np.ndarray
    fam_referral: np.ndarray
    fam_child_age: np.ndarray
    # parents
    fam: np.ndarray
    la: np.ndarray
    intervention: np.ndarray
    together: np.ndarray
    mode: np.ndarray
    referral: np.ndarray
    sex: np.ndarray  # recorded code
    male: np.ndarray
    age: np.ndarray
    ethnic: np.ndarray
    workless: np.ndarray
    child_age: np.ndarray
    missing: dict[str, np.ndarray]
    sessions_planned: np.ndarray
    sessions_blank: np.ndarray

    @property
    def n(self) -> int:
        return int(self.fam.size)

    @property
    def n_families(self) -> int:
        return int(self.fam_la.size)

    @property
    def n_las(self) -> int:
        return int(self.la_region.size)

    def covariates(self) -> dict[str, np.ndarray]:
        """Model covariates (true values): workless, male, age_per_10y, separated."""
        return {
            "workless": self.workless.astype(float),
            "male": self.male.astype(float),
            "age_per_10y": (self.age - 35.0) / 10.0,
            "separated": (~self.together).astype(float),
        }


def _clusters_and_regions(rng, n_las: int, n_clusters: int, region_weights: dict[str, float]):
    regions = list(region_weights)
    w = np.array([region_weights[r] for r in regions], float)
    # regions in weighted random order, repeated in fresh rounds if there are more
    # clusters than regions
    chosen: list[int] = []
    while len(chosen) < n_clusters:
        chosen.extend(rng.choice(len(regions), size=len(regions), replace=False, p=w / w.sum()).tolist())
    chosen = chosen[:n_clusters]
    cw = w[chosen] / w[chosen].sum()
    # largest-remainder allocation of LAs to clusters, at least one each
    extra = n_las - n_clusters
    quota = cw * extra
    counts = np.floor(quota).astype(int)
    rest = extra - counts.sum()
    counts[np.argsort(-(quota - counts), kind="stable")[:rest]] += 1
    counts += 1
    la_cluster = np.repeat(np.arange(n_clusters), counts)
    la_region = np.asarray(regions, dtype=object)[np.asarray(chosen)[la_cluster]]
    return la_cluster, la_region


def _offers(rng, n_las: int, itab: InterventionTable, p_offered: dict[str, float]):
    k = len(itab.codes)
    offer = np.zeros((n_las, k), bool)
    bundle = rng.random(n_las) < p_offered.get("ooo_digital_bundle", 0.0)
    for j, code in enumerate(itab.codes):
        if itab.digital[j]:
            offer[:, j] = bundle
        else:
            offer[:, j] = rng.random(n_las) < p_offered.get(code, 0.0)
    aud = np.array(itab.audience)
    for status in ("together", "separated"):
        ok = (aud == status) | (aud == "any")
        none = ~(offer[:, ok].any(axis=1))
        fallback = itab.codes.index("mbt_parenting_together") if (
            "mbt_parenting_together" in itab.codes) else int(np.flatnonzero(aud == "any")[0])
        offer[none, fallback] = True
    return offer


def draw_population(
    rng: np.random.Generator,
    cfg: dict[str, Any],
    params: dict[str, Any],
    itab: InterventionTable,
) -> Population:
    """Draw LAs, families and parents (see the module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
    cfg : dict
        ``n_parents, n_las, n_clusters, programme_start, programme_end``.
    params : dict
        :func:`rpc_eval.synthetic.params.default_parameters`.
    itab : InterventionTable
    """
    P, C = params, params["covariates"]
    n_parents, n_las = int(cfg["n_parents"]), int(cfg["n_las"])
    n_clusters = min(int(cfg["n_clusters"]), n_las)
    ppf = float(P["families"]["parents_per_family"])
    n_fam = max(n_las, int(round(n_parents / ppf)))
    n_fam = min(n_fam, n_parents)
    n_two = n_parents - n_fam
    if n_two > n_fam or n_fam < n_las:
        raise ValueError("n_parents is too small for the number of LAs")

    # LAs
    la_cluster, la_region = _clusters_and_regions(
        rng, n_las, n_clusters, P["las"]["region_weights"])
    la_weight = rng.lognormal(0.0, P["las"]["size_lognormal_sd"], n_las)
    la_weight /= la_weight.sum()
    la_offer = _offers(rng, n_las, itab, P["interventions"]["p_offered"])

    # families
    fam_size = np.ones(n_fam, int)
    fam_size[rng.permutation(n_fam)[:n_two]] = 2
    fam_la = np.concatenate([np.arange(n_las), rng.choice(n_las, n_fam - n_las, p=la_weight)])
    rng.shuffle(fam_la)
    pt = P["families"]["p_together"]
    fam_together = rng.random(n_fam) < np.where(fam_size == 2, pt["two_parents"], pt["one_parent"])
    aud = np.array(itab.audience)
    aud_ok = np.stack([(aud == "separated") | (aud == "any"), (aud == "together") | (aud == "any")])
    w = itab.vector(P["interventions"]["referral_weights"])
    probs = la_offer[fam_la] * aud_ok[fam_together.astype(int)] * w
    fam_int = draw_categorical(rng, probs)

    start, end = day(cfg["programme_start"]), day(cfg["programme_end"])
    fam_ref = rng.integers(start, end + 1, n_fam)
    order = np.lexsort((rng.random(n_fam), fam_ref))
    fam_size, fam_la, fam_together, fam_int, fam_ref = (
        a[order] for a in (fam_size, fam_la, fam_together, fam_int, fam_ref))

    # delivery mode (by the referral date's pandemic period when online is an option)
    pan0, pan1 = (day(d) for d in P["interventions"]["pandemic_period"])
    po = P["interventions"]["p_online"]
    p_online = np.where(fam_ref < pan0, po["before"], np.where(fam_ref <= pan1, po["pandemic"], po["after"]))
    u = rng.random(n_fam)
    fam_mode = np.empty(n_fam, dtype=object)
    for j, modes in enumerate(itab.modes):
        sel = fam_int == j
        if len(modes) == 1:
            fam_mode[sel] = modes[0]
        elif "online" in modes:
            other = [m for m in modes if m != "online"][0]
            fam_mode[sel] = np.where(u[sel] < p_online[sel], "online", other)
        else:
            fam_mode[sel] = np.asarray(modes, dtype=object)[(u[sel] * len(modes)).astype(int)]

    # index child
    under4 = rng.random(n_fam) < C["p_child_under_4"]
    child = np.where(under4, rng.integers(0, 4, n_fam), rng.integers(4, 18, n_fam))
    if "ooo_me_you_baby_too" in itab.codes:
        baby = fam_int == itab.codes.index("ooo_me_you_baby_too")
        child[baby] = rng.integers(0, 2, baby.sum())

    # parents
    fam = np.repeat(np.arange(n_fam), fam_size)
    second = np.zeros(fam.size, bool)
    second[1:] = fam[1:] == fam[:-1]
    n = fam.size
    two = fam_size[fam] == 2
    # sex: single parents female with p; couples female+male unless same-sex
    single_female = rng.random(n) < C["p_female_single_parent"]
    ctype = rng.random(n_fam)
    same = ctype < C["p_same_sex_couple"]
    both_female = same & (ctype < C["p_same_sex_couple"] / 2)
    female = np.where(two, np.where(second, both_female[fam], ~same[fam] | both_female[fam]),
                      single_female)
    sex_true = np.where(female, "female", "male").astype(object)
    male = ~female
    r = rng.random(n)
    sex = sex_true.copy()
    sex[r < C["p_sex_other"] + C["p_sex_not_known"]] = "not_known"
    sex[r < C["p_sex_other"]] = "other"

    age = rng.normal(C["age_mean"], C["age_sd"], n) + C["male_age_shift"] * male
    partner = age.copy()
    partner[second] = (age[np.flatnonzero(second) - 1]
                       + C["male_age_shift"] * (male[second].astype(float) - male[np.flatnonzero(second) - 1])
                       + rng.normal(0, C["partner_age_diff_sd"], second.sum()))
    age = np.clip(np.rint(partner), C["age_min"], C["age_max"]).astype(int)

    groups = list(C["ethnic_group_probs"])
    eth = choice(rng, groups, list(C["ethnic_group_probs"].values()), n)
    keep = second & (rng.random(n) < C["p_partner_same_ethnic_group"])
    eth[keep] = eth[np.flatnonzero(keep) - 1]

    fam_workless = rng.random(n_fam) < C["p_workless"]
    own_workless = rng.random(n) < C["p_workless"]
    together = fam_together[fam]
    workless = np.where(together, fam_workless[fam], own_workless)

    pm = C["p_missing"]
    missing = {k: rng.random(n) < v for k, v in pm.items()}
    sessions = itab.sessions[fam_int[fam]]
    blank = rng.random(n) < P["interventions"]["p_sessions_planned_blank"]

    return Population(
        la_region=la_region, la_cluster=la_cluster, la_weight=la_weight, la_offer=la_offer,
        fam_la=fam_la, fam_size=fam_size, fam_together=fam_together, fam_intervention=fam_int,
        fam_mode=fam_mode, fam_referral=fam_ref, fam_child_age=child,
        fam=fam, la=fam_la[fam], intervention=fam_int[fam], together=together,
        mode=fam_mode[fam], referral=fam_ref[fam], sex=sex, male=(sex == "male"), age=age,
        ethnic=eth, workless=workless, child_age=child[fam], missing=missing,
        sessions_planned=sessions, sessions_blank=blank,
    )
