"""Scoring (rpc_eval.instruments.scoring): hand-worked cases for every instrument.

Expected values are worked out by hand in each test from the published rules, not by
calling the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rpc_eval.errors import DataValidationError
from rpc_eval.instruments import SCORE_COLUMNS, get, responses_to_wide, score

NA = np.nan


def answers(name: str, rows: list[dict[str, float]], **ids) -> pd.DataFrame:
    """A wide frame with every item of ``name`` (blank unless given) and an ``id``."""
    items = get(name).items
    frame = pd.DataFrame([{i: row.get(i, NA) for i in items} for row in rows], dtype=float)
    frame.insert(0, "id", [f"r{k}" for k in range(len(rows))])
    for key, value in ids.items():
        frame.insert(1, key, value)
    return frame


def all_items(name: str, value: float, **changes: float) -> dict[str, float]:
    row = {i: value for i in get(name).items}
    row.update(changes)
    return row


def scored(name: str, rows: list[dict[str, float]]) -> pd.DataFrame:
    """Result indexed by (row id, scale)."""
    return score(answers(name, rows), name).set_index(["id", "scale"])


# ------------------------------------------------------------------------ result shape
def test_result_columns_and_order():
    data = answers("gad7", [all_items("gad7", 1), all_items("gad7", 2)],
                   wave=["baseline", "end"])
    out = score(data, "gad7")
    assert list(out.columns) == ["id", "wave", *SCORE_COLUMNS]
    assert list(out["id"]) == ["r0", "r1"]
    assert list(out["wave"]) == ["baseline", "end"]
    assert set(out["instrument"]) == {"gad7"}
    assert out["prorated"].dtype == bool and out["valid"].dtype == bool
    assert out["n_items"].dtype == np.int64

    sdq = score(answers("sdq_parent_4_17", [{}, {}]), "sdq_parent_4_17")
    assert list(sdq.columns) == ["id", "instrument", "scale", "score", "raw_score", "band",
                                 "band_4band", "n_items", "items_answered", "prorated",
                                 "valid"]
    # row-major: each input row's scales together, in definition order
    assert list(sdq["scale"][:9]) == list(get("sdq_parent_4_17").scale_names)
    assert list(sdq["id"]) == ["r0"] * 9 + ["r1"] * 9

    k10 = score(answers("k10", [all_items("k10", 1)]), "k10")
    assert "band_primary_care" in k10.columns


def test_id_cols_can_be_chosen_and_empty_input_works():
    data = answers("gad7", [all_items("gad7", 0)], wave=["end"])
    out = score(data, "gad7", id_cols=["id"])
    assert list(out.columns[:2]) == ["id", "instrument"]
    empty = score(data.iloc[:0], "gad7")
    assert len(empty) == 0 and list(empty.columns) == ["id", "wave", *SCORE_COLUMNS]


# ------------------------------------------------------------------------------ PHQ-9
def test_phq9_total_bands_and_prorating():
    rows = [
        all_items("phq9", 2),                      # 18 -> moderately severe
        {**all_items("phq9", 0), "phq9_01": 3, "phq9_02": 1},  # 4 -> minimal
        {**all_items("phq9", 0), "phq9_01": 3, "phq9_02": 2},  # 5 -> mild
        {**all_items("phq9", 1), "phq9_01": 2},    # 10 -> moderate
        {**all_items("phq9", 2), "phq9_01": 1},    # 17 ... one below 18
        {**all_items("phq9", 3), "phq9_01": 1, "phq9_02": 1, "phq9_03": 1,
         "phq9_04": 1},                            # 5*3 + 4 = 19 -> moderately severe
        {**all_items("phq9", 3), "phq9_01": 0, "phq9_02": 0, "phq9_03": 2},  # 27-3-3-1 = 20
        {**all_items("phq9", 1), "phq9_08": NA, "phq9_09": NA},  # 7 from 7 -> 7/7*9 = 9
        {**all_items("phq9", 1), "phq9_07": NA, "phq9_08": NA, "phq9_09": NA},  # 6: missing
    ]
    out = scored("phq9", rows)
    expected = [(18, "moderately_severe"), (4, "minimal"), (5, "mild"), (10, "moderate"),
                (17, "moderately_severe"), (19, "moderately_severe"), (20, "severe"),
                (9, "mild")]
    for k, (value, band) in enumerate(expected):
        assert out.loc[(f"r{k}", "total"), "score"] == value, k
        assert out.loc[(f"r{k}", "total"), "band"] == band, k
    assert out.loc[("r7", "total"), "prorated"]
    assert out.loc[("r7", "total"), "items_answered"] == 7
    assert not out.loc[("r8", "total"), "valid"]
    assert pd.isna(out.loc[("r8", "total"), "score"])
    assert pd.isna(out.loc[("r8", "total"), "band"])


# ------------------------------------------------------------------------------ GAD-7
def test_gad7_total_and_band_boundaries():
    rows = [
        all_items("gad7", 3),                                # 21 severe
        {**all_items("gad7", 0), "gad7_01": 3, "gad7_02": 1},  # 4 minimal
        {**all_items("gad7", 0), "gad7_01": 3, "gad7_02": 2},  # 5 mild
        {**all_items("gad7", 1), "gad7_01": 3},              # 9 mild
        {**all_items("gad7", 1), "gad7_01": 3, "gad7_02": 2},  # 10 moderate
        {**all_items("gad7", 2)},                            # 14 moderate
        {**all_items("gad7", 2), "gad7_01": 3},              # 15 severe
        {**all_items("gad7", 3), "gad7_07": NA},             # 6 of 7: complete cases only
    ]
    out = scored("gad7", rows)
    expected = [(21, "severe"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
                (14, "moderate"), (15, "severe")]
    for k, (value, band) in enumerate(expected):
        assert (out.loc[(f"r{k}", "total"), "score"], out.loc[(f"r{k}", "total"), "band"]) \
            == (value, band), k
    assert not out.loc[("r7", "total"), "valid"]


# -------------------------------------------------------------------------------- SDQ
SDQ = "sdq_parent_4_17"
EMO = ["sdq_03", "sdq_08", "sdq_13", "sdq_16", "sdq_24"]
CON = ["sdq_05", "sdq_07", "sdq_12", "sdq_18", "sdq_22"]
HYP = ["sdq_02", "sdq_10", "sdq_15", "sdq_21", "sdq_25"]
PEER = ["sdq_06", "sdq_11", "sdq_14", "sdq_19", "sdq_23"]
PRO = ["sdq_01", "sdq_04", "sdq_09", "sdq_17", "sdq_20"]
IMP = ["sdq_imp_upset", "sdq_imp_home", "sdq_imp_friends", "sdq_imp_classroom",
       "sdq_imp_leisure"]


def test_sdq_reverse_keying_all_not_true():
    # every item "Not true" (0): reversed items 7, 11, 14, 21, 25 score 2
    out = scored(SDQ, [{i: 0 for i in EMO + CON + HYP + PEER + PRO}])
    s = out.loc["r0", "score"]
    assert s["emotional"] == 0
    assert s["conduct"] == 2          # item 7
    assert s["hyperactivity"] == 4    # items 21 and 25
    assert s["peer"] == 4             # items 11 and 14
    assert s["prosocial"] == 0
    assert s["total_difficulties"] == 0 + 2 + 4 + 4
    assert s["internalising"] == 0 + 4
    assert s["externalising"] == 2 + 4
    b = out.loc["r0", "band"]
    assert (b["conduct"], b["hyperactivity"], b["peer"], b["prosocial"]) == (
        "normal", "normal", "abnormal", "abnormal")
    assert out.loc[("r0", "peer"), "band_4band"] == "high"        # 4 -> high
    assert out.loc[("r0", "prosocial"), "band_4band"] == "very_low"
    # no impact item answered and no answer to "difficulties?": impact missing
    assert not out.loc[("r0", "impact"), "valid"]


def test_sdq_all_certainly_true():
    out = scored(SDQ, [{i: 2 for i in EMO + CON + HYP + PEER + PRO}])
    s = out.loc["r0", "score"]
    assert s["emotional"] == 10
    assert s["conduct"] == 4 * 2 + 0
    assert s["hyperactivity"] == 3 * 2 + 0 + 0
    assert s["peer"] == 2 + 0 + 0 + 2 + 2
    assert s["prosocial"] == 10
    assert s["total_difficulties"] == 10 + 8 + 6 + 6
    assert out.loc[("r0", "total_difficulties"), "band"] == "abnormal"
    assert out.loc[("r0", "total_difficulties"), "band_4band"] == "very_high"
    assert out.loc[("r0", "total_difficulties"), "n_items"] == 20
    assert out.loc[("r0", "prosocial"), "band"] == "normal"


def test_sdq_prorating_boundary_two_versus_three_items():
    rows = [
        {"sdq_03": 2, "sdq_08": 1, "sdq_13": 1},               # 4 from 3 -> 6.67 -> 7
        {"sdq_03": 2, "sdq_08": 1},                            # 2 answered -> missing
        {"sdq_03": 1, "sdq_08": 1, "sdq_13": 0, "sdq_16": 0},  # 2 from 4 -> 2.5 -> 3 (half up)
        {"sdq_03": 2, "sdq_08": 2, "sdq_13": 2, "sdq_16": 0},  # 6 from 4 -> 7.5 -> 8
        {"sdq_03": 1, "sdq_08": 0, "sdq_13": 0},               # 1 from 3 -> 1.67 -> 2
        {"sdq_05": 0, "sdq_07": 0, "sdq_12": 1},               # conduct: 0 + 2 (rev) + 1 = 3 from 3 -> 5
    ]
    out = scored(SDQ, rows)
    emo = out.xs("emotional", level="scale")
    assert emo.loc["r0", "score"] == 7
    assert emo.loc["r0", "raw_score"] == 7
    assert emo.loc["r0", "prorated"] and emo.loc["r0", "valid"]
    assert emo.loc["r0", "items_answered"] == 3
    assert pd.isna(emo.loc["r1", "score"]) and not emo.loc["r1", "valid"]
    assert emo.loc["r1", "items_answered"] == 2
    assert emo.loc["r2", "score"] == 3
    assert emo.loc["r3", "score"] == 8
    assert emo.loc["r4", "score"] == 2
    assert out.loc[("r5", "conduct"), "score"] == 5
    # total difficulties is missing when any of its four scales is missing
    assert not out.loc[("r0", "total_difficulties"), "valid"]
    assert pd.isna(out.loc[("r0", "total_difficulties"), "score"])


def test_sdq_total_is_prorated_subscales_summed():
    row = {i: 1 for i in EMO + CON + HYP + PEER}   # each scale: 5 (reversed 1 stays 1)
    row.update({"sdq_03": NA, "sdq_08": NA})       # emotional 3 from 3 -> 5
    row.update({"sdq_06": NA})                     # peer 4 from 4 -> 5
    out = scored(SDQ, [row])
    assert out.loc[("r0", "emotional"), "score"] == 5
    assert out.loc[("r0", "total_difficulties"), "score"] == 20
    assert out.loc[("r0", "total_difficulties"), "prorated"]
    assert out.loc[("r0", "total_difficulties"), "items_answered"] == 17
    assert out.loc[("r0", "total_difficulties"), "band"] == "abnormal"   # 17-40
    assert out.loc[("r0", "total_difficulties"), "band_4band"] == "very_high"  # 20-40


def sdq_row(emotional: int = 0, conduct: int = 0, hyperactivity: int = 0, peer: int = 0
            ) -> dict[str, float]:
    """Codes giving the requested scale scores: non-reversed items are filled with 2s
    then a 1; reversed items are answered 2 (scoring 0)."""
    def fill(items: list[str], target: int) -> dict[str, float]:
        codes = {}
        for item in items:
            codes[item] = min(2, target)
            target -= codes[item]
        return codes
    row = {"sdq_07": 2, "sdq_21": 2, "sdq_25": 2, "sdq_11": 2, "sdq_14": 2}
    row.update(fill(EMO, emotional))
    row.update(fill(["sdq_05", "sdq_12", "sdq_18", "sdq_22"], conduct))
    row.update(fill(["sdq_02", "sdq_10", "sdq_15"], hyperactivity))
    row.update(fill(["sdq_06", "sdq_19", "sdq_23"], peer))
    return row


@pytest.mark.parametrize("parts, total, band3, band4", [
    ((10, 3, 0, 0), 13, "normal", "close_to_average"),
    ((10, 4, 0, 0), 14, "borderline", "slightly_raised"),
    ((10, 6, 0, 0), 16, "borderline", "slightly_raised"),
    ((10, 7, 0, 0), 17, "abnormal", "high"),
    ((10, 8, 1, 0), 19, "abnormal", "high"),
    ((10, 8, 2, 0), 20, "abnormal", "very_high"),
])
def test_sdq_total_difficulties_band_boundaries(parts, total, band3, band4):
    out = scored(SDQ, [sdq_row(*parts)])
    assert out.loc[("r0", "total_difficulties"), "score"] == total
    assert out.loc[("r0", "total_difficulties"), "band"] == band3
    assert out.loc[("r0", "total_difficulties"), "band_4band"] == band4


@pytest.mark.parametrize("scale, value, band3, band4", [
    ("emotional", 3, "normal", "close_to_average"),
    ("emotional", 4, "borderline", "slightly_raised"),
    ("emotional", 5, "abnormal", "high"),
    ("emotional", 6, "abnormal", "high"),
    ("emotional", 7, "abnormal", "very_high"),
    ("conduct", 2, "normal", "close_to_average"),
    ("conduct", 3, "borderline", "slightly_raised"),
    ("conduct", 5, "abnormal", "high"),
    ("conduct", 6, "abnormal", "very_high"),
    ("hyperactivity", 5, "normal", "close_to_average"),
    ("hyperactivity", 6, "borderline", "slightly_raised"),
    ("peer", 3, "borderline", "slightly_raised"),
    ("peer", 5, "abnormal", "very_high"),
])
def test_sdq_subscale_band_boundaries(scale, value, band3, band4):
    out = scored(SDQ, [sdq_row(**{scale: value})])
    assert out.loc[("r0", scale), "score"] == value
    assert out.loc[("r0", scale), "band"] == band3
    assert out.loc[("r0", scale), "band_4band"] == band4


def test_sdq_hyperactivity_and_prosocial_top_bands():
    # hyperactivity 7: items 2, 10, 15 = 2, 2, 2 and item 21 = 1 (reversed 1), 25 = 2 (0)
    row = {"sdq_02": 2, "sdq_10": 2, "sdq_15": 2, "sdq_21": 1, "sdq_25": 2,
           "sdq_01": 2, "sdq_04": 2, "sdq_09": 1, "sdq_17": 0, "sdq_20": 0}  # prosocial 5
    out = scored(SDQ, [row])
    assert out.loc[("r0", "hyperactivity"), "score"] == 7
    assert out.loc[("r0", "hyperactivity"), "band"] == "abnormal"
    assert out.loc[("r0", "hyperactivity"), "band_4band"] == "slightly_raised"  # 6-7
    assert out.loc[("r0", "prosocial"), "score"] == 5
    assert out.loc[("r0", "prosocial"), "band"] == "borderline"
    assert out.loc[("r0", "prosocial"), "band_4band"] == "very_low"  # 0-5


def test_sdq_impact_recoding_and_gate():
    rows = [
        # difficulties yes; upset 3 -> 2, home 2 -> 1, friends 1 -> 0, classroom blank,
        # leisure 0 -> 0: impact 3, computed from 4 answered, blank counted as 0
        {"sdq_imp_diff": 1, "sdq_imp_upset": 3, "sdq_imp_home": 2, "sdq_imp_friends": 1,
         "sdq_imp_leisure": 0},
        # all five at 3 -> 2 each = 10
        {"sdq_imp_diff": 3, **{i: 3 for i in IMP}},
        # difficulties yes but no impact item answered -> missing
        {"sdq_imp_diff": 2},
        # no difficulties: impact 0 whatever else was answered
        {"sdq_imp_diff": 0, "sdq_imp_upset": 3, "sdq_imp_home": 3},
        # no difficulties and the rest skipped (as the form tells parents): 0, valid
        {"sdq_imp_diff": 0},
        # overall question unanswered, one impact item answered: computed
        {"sdq_imp_home": 2},
        # "only a little" everywhere -> 0 each
        {"sdq_imp_diff": 1, **{i: 1 for i in IMP}},
        # impact 1 -> borderline / slightly raised; 2 -> abnormal / high
        {"sdq_imp_diff": 1, "sdq_imp_upset": 2},
        {"sdq_imp_diff": 1, "sdq_imp_upset": 3},
    ]
    imp = scored(SDQ, rows).xs("impact", level="scale")
    assert imp.loc["r0", "score"] == 2 + 1 + 0 + 0
    assert imp.loc["r0", "items_answered"] == 4
    assert imp.loc["r0", "valid"] and not imp.loc["r0", "prorated"]
    assert imp.loc["r1", "score"] == 10
    assert imp.loc["r1", "band"] == "abnormal" and imp.loc["r1", "band_4band"] == "very_high"
    assert not imp.loc["r2", "valid"] and pd.isna(imp.loc["r2", "score"])
    assert imp.loc["r3", "score"] == 0 and imp.loc["r3", "valid"]
    assert imp.loc["r4", "score"] == 0 and imp.loc["r4", "valid"]
    assert imp.loc["r4", "items_answered"] == 0
    assert imp.loc["r4", "band"] == "normal" and imp.loc["r4", "band_4band"] == "close_to_average"
    assert imp.loc["r5", "score"] == 1
    assert imp.loc["r6", "score"] == 0
    assert (imp.loc["r7", "score"], imp.loc["r7", "band"], imp.loc["r7", "band_4band"]) == (
        1, "borderline", "slightly_raised")
    assert (imp.loc["r8", "score"], imp.loc["r8", "band"], imp.loc["r8", "band_4band"]) == (
        2, "abnormal", "high")


def _reference_sdq(row: dict[str, float]) -> dict[str, float]:
    """Plain per-row transcription of the official SDQ syntax, for a cross-check."""
    def val(item: str, rev: bool) -> float:
        v = row[item]
        return v if np.isnan(v) or not rev else 2 - v

    def subscale(items: list[str], rev: tuple[str, ...] = ()) -> float:
        vals = [val(i, i in rev) for i in items]
        got = [v for v in vals if not np.isnan(v)]
        return float(np.floor(0.5 + sum(got) / len(got) * 5)) if len(got) >= 3 else np.nan

    out = {
        "emotional": subscale(EMO), "conduct": subscale(CON, ("sdq_07",)),
        "hyperactivity": subscale(HYP, ("sdq_21", "sdq_25")),
        "peer": subscale(PEER, ("sdq_11", "sdq_14")), "prosocial": subscale(PRO),
    }
    out["total_difficulties"] = (out["emotional"] + out["conduct"] + out["hyperactivity"]
                                 + out["peer"])
    imp = [row[i] for i in IMP]
    answered = [v for v in imp if not np.isnan(v)]
    out["impact"] = sum({0: 0, 1: 0, 2: 1, 3: 2}[int(v)] for v in answered) if answered \
        else np.nan
    if row["sdq_imp_diff"] == 0:
        out["impact"] = 0.0
    return out


def test_sdq_matches_a_per_row_reference_on_random_data():
    rng = np.random.default_rng(7)
    items = get(SDQ).items
    n = 400
    data = {i: rng.integers(0, 4 if i.startswith("sdq_imp") else 3, n).astype(float)
            for i in items}
    frame = pd.DataFrame(data)
    frame = frame.mask(rng.random(frame.shape) < 0.35)
    frame.insert(0, "id", [f"r{k}" for k in range(n)])
    out = score(frame, SDQ).set_index(["id", "scale"])["score"]
    for k, row in enumerate(frame[list(items)].to_dict("records")):
        for scale, expected in _reference_sdq(row).items():
            got = out.loc[(f"r{k}", scale)]
            assert (np.isnan(expected) and np.isnan(got)) or got == expected, (k, scale)


# ----------------------------------------------------------------------- WEMWBS/SWEMWBS
@pytest.mark.parametrize("total, band", [
    (14, "probable_depression"), (40, "probable_depression"), (41, "possible_depression"),
    (44, "possible_depression"), (45, "average"), (59, "average"), (60, "high"), (70, "high"),
])
def test_wemwbs_totals_and_bands(total, band):
    # 14 items: start from all 1s (14) and add the extra points 4 at a time
    row = all_items("wemwbs", 1)
    extra = total - 14
    for item in get("wemwbs").items:
        step = min(4, extra)
        row[item] += step
        extra -= step
    out = scored("wemwbs", [row])
    assert out.loc[("r0", "total"), "score"] == total
    assert out.loc[("r0", "total"), "band"] == band


def test_wemwbs_needs_all_items():
    out = scored("wemwbs", [all_items("wemwbs", 3, wemwbs_14=NA), all_items("wemwbs", 3)])
    assert not out.loc[("r0", "total"), "valid"]
    assert out.loc[("r1", "total"), "score"] == 42


@pytest.mark.parametrize("codes, raw, metric", [
    ([3, 3, 3, 3, 3, 3, 2], 20, 18.59),
    ([1] * 7, 7, 7.00),
    ([5] * 7, 35, 35.00),
    ([2, 2, 2, 2, 2, 2, 2], 14, 15.32),
    ([5, 5, 5, 5, 5, 5, 4], 34, 32.55),
])
def test_swemwbs_conversion(codes, raw, metric):
    row = dict(zip(get("swemwbs").items, codes, strict=True))
    out = scored("swemwbs", [row])
    assert out.loc[("r0", "total"), "raw_score"] == raw
    assert out.loc[("r0", "total"), "score"] == metric


def test_swemwbs_incomplete_is_missing():
    row = {**dict.fromkeys(get("swemwbs").items, 3), "swemwbs_07": NA}
    out = scored("swemwbs", [row])
    assert not out.loc[("r0", "total"), "valid"]
    assert pd.isna(out.loc[("r0", "total"), "score"])
    assert pd.isna(out.loc[("r0", "total"), "raw_score"])


# ------------------------------------------------------------------------------ K10/K6
@pytest.mark.parametrize("total, abs_band, pc_band", [
    (10, "low", "well"), (15, "low", "well"), (16, "moderate", "well"),
    (19, "moderate", "well"), (20, "moderate", "mild"), (21, "moderate", "mild"),
    (22, "high", "mild"), (24, "high", "mild"), (25, "high", "moderate"),
    (29, "high", "moderate"), (30, "very_high", "severe"), (50, "very_high", "severe"),
])
def test_k10_both_band_schemes(total, abs_band, pc_band):
    row = all_items("k10", 1)
    extra = total - 10
    for item in get("k10").items:
        step = min(4, extra)
        row[item] += step
        extra -= step
    out = scored("k10", [row])
    assert out.loc[("r0", "total"), "score"] == total
    assert out.loc[("r0", "total"), "band"] == abs_band
    assert out.loc[("r0", "total"), "band_primary_care"] == pc_band


def test_k6_total_and_threshold():
    rows = [all_items("k6", 1), all_items("k6", 3), all_items("k6", 3, k6_01=4),
            all_items("k6", 5), all_items("k6", 5, k6_06=NA)]
    out = scored("k6", rows)
    assert [out.loc[(f"r{k}", "total"), "score"] for k in range(4)] == [6, 18, 19, 30]
    assert out.loc[("r1", "total"), "band"] == "below_threshold"
    assert out.loc[("r2", "total"), "band"] == "serious_distress"
    assert not out.loc[("r4", "total"), "valid"]


# ------------------------------------------------------------------------------ CORE-10
def test_core10_reverse_keying_and_prorating():
    rows = [
        all_items("core10", 0),   # items 2 and 3 reversed: 4 + 4 = 8
        all_items("core10", 4),   # 8 * 4 + 0 + 0 = 32
        # item 10 missing, all others 1: 7 * 1 + 3 + 3 = 13 from 9 -> 10 * 13 / 9
        all_items("core10", 1, core10_10=NA),
        all_items("core10", 1, core10_09=NA, core10_10=NA),   # 8 answered: missing
        all_items("core10", 1, core10_01=2, core10_04=2),     # 8 + 6 = ... see below
    ]
    out = scored("core10", rows).xs("clinical_score", level="scale")
    assert out.loc["r0", "score"] == 8
    assert out.loc["r0", "band"] == "healthy_low"
    assert out.loc["r1", "score"] == 32
    assert out.loc["r1", "band"] == "severe"
    assert out.loc["r2", "score"] == pytest.approx(130 / 9)   # 14.44
    assert out.loc["r2", "prorated"] and out.loc["r2", "items_answered"] == 9
    # 14.44 lies between the mild (11-14) and moderate (15-19) cuts: it takes the lower
    assert out.loc["r2", "band"] == "mild"
    assert not out.loc["r3", "valid"] and pd.isna(out.loc["r3", "score"])
    # r4: items 1, 4 = 2; 5-10 = 1 (6); items 2, 3 = 1 reversed to 3 each: 2+2+6+6 = 16
    assert out.loc["r4", "score"] == 16
    assert out.loc["r4", "band"] == "moderate"


def test_core10_cutoff_boundary_bands():
    # 11 = clinical cut-off: item 2, 3 answered 4 (score 0); others sum to 11
    row = all_items("core10", 1, core10_02=4, core10_03=4, core10_01=4)  # 4 + 7 = 11
    row10 = dict(row, core10_01=3)  # 10
    out = scored("core10", [row, row10]).xs("clinical_score", level="scale")
    assert (out.loc["r0", "score"], out.loc["r0", "band"]) == (11, "mild")
    assert (out.loc["r1", "score"], out.loc["r1", "band"]) == (10, "healthy_low")


# --------------------------------------------------------------------------------- PSS
def test_pss_reverse_items():
    reversed_items = {f"pss_{i:02d}" for i in (1, 2, 5, 6, 7, 8, 17, 18)}
    rows = [all_items("pss", 1), all_items("pss", 5), all_items("pss", 3)]
    # mixed: reversed items answered 5 (score 1), others answered 2
    rows.append({i: (5 if i in reversed_items else 2) for i in get("pss").items})
    out = scored("pss", rows).xs("total", level="scale")
    assert out.loc["r0", "score"] == 8 * 5 + 10 * 1    # 50
    assert out.loc["r1", "score"] == 8 * 1 + 10 * 5    # 58
    assert out.loc["r2", "score"] == 18 * 3            # 54
    assert out.loc["r3", "score"] == 8 * 1 + 10 * 2    # 28
    assert out.loc["r0", "band"] is None or pd.isna(out.loc["r0", "band"])


# ------------------------------------------------------------------------------- CSI-4
def test_csi4_total_and_cutoff():
    rows = [
        {"csi4_01": 6, "csi4_02": 5, "csi4_03": 5, "csi4_04": 5},   # 21
        {"csi4_01": 4, "csi4_02": 3, "csi4_03": 3, "csi4_04": 3},   # 13 -> below 13.5
        {"csi4_01": 5, "csi4_02": 3, "csi4_03": 3, "csi4_04": 3},   # 14
        {"csi4_01": 0, "csi4_02": 0, "csi4_03": 0, "csi4_04": 0},   # 0
        {"csi4_01": 6, "csi4_02": 5, "csi4_03": 5},                 # incomplete
    ]
    out = scored("csi4", rows).xs("total", level="scale")
    assert list(out["score"][:4]) == [21, 13, 14, 0]
    assert list(out["band"][:4]) == ["satisfied", "notable_dissatisfaction", "satisfied",
                                     "notable_dissatisfaction"]
    assert not out.loc["r4", "valid"]


def test_csi4_item_ranges_differ():
    with pytest.raises(DataValidationError, match="csi4_02"):
        score(answers("csi4", [{"csi4_01": 6, "csi4_02": 6, "csi4_03": 0, "csi4_04": 0}]),
              "csi4")
    with pytest.raises(DataValidationError, match="csi4_01"):
        score(answers("csi4", [{"csi4_01": 7, "csi4_02": 0, "csi4_03": 0, "csi4_04": 0}]),
              "csi4")


# -------------------------------------------------------------------------------- RDAS
def test_rdas_subscales_total_and_cutoff():
    top = {**all_items("rdas", 5), "rdas_11": 4}
    rows = [
        top,                                                    # 30 + 20 + 19 = 69
        all_items("rdas", 0),                                   # 0
        # consensus 6 * 3 = 18, satisfaction 4 * 4 = 16, cohesion 2 + 4 + 4 + 3 = 13: 47
        {**{f"rdas_{i:02d}": 3 for i in range(1, 7)},
         **{f"rdas_{i:02d}": 4 for i in range(7, 11)},
         "rdas_11": 2, "rdas_12": 4, "rdas_13": 4, "rdas_14": 3},
    ]
    rows.append({**rows[2], "rdas_14": 4})                       # 48
    rows.append({**top, "rdas_01": NA})                          # consensus incomplete
    out = scored("rdas", rows)
    assert out.loc[("r0", "consensus"), "score"] == 30
    assert out.loc[("r0", "satisfaction"), "score"] == 20
    assert out.loc[("r0", "cohesion"), "score"] == 19
    assert out.loc[("r0", "total"), "score"] == 69
    assert out.loc[("r0", "total"), "band"] == "non_distressed"
    assert out.loc[("r1", "total"), "score"] == 0
    assert (out.loc[("r2", "consensus"), "score"], out.loc[("r2", "satisfaction"), "score"],
            out.loc[("r2", "cohesion"), "score"]) == (18, 16, 13)
    assert (out.loc[("r2", "total"), "score"], out.loc[("r2", "total"), "band"]) == (
        47, "distressed")
    assert (out.loc[("r3", "total"), "score"], out.loc[("r3", "total"), "band"]) == (
        48, "non_distressed")
    assert not out.loc[("r4", "consensus"), "valid"]
    assert not out.loc[("r4", "total"), "valid"]
    assert out.loc[("r4", "cohesion"), "score"] == 19


def test_rdas_item_11_tops_out_at_4():
    with pytest.raises(DataValidationError, match="rdas_11"):
        score(answers("rdas", [all_items("rdas", 5)]), "rdas")


# ----------------------------------------------------------------- parent satisfaction
def test_parent_satisfaction_mean():
    rows = [
        {"sat_01": 5, "sat_02": 4, "sat_03": 4},                       # 13 / 3 = 4.33
        {"sat_01": 5, "sat_02": 5},                                    # 2 answered: missing
        {"sat_01": 4, "sat_02": 4, "sat_03": 4, "sat_04": 3, "sat_05": 3},  # 3.6
        dict.fromkeys(get("parent_satisfaction").items, 4),           # 4.0
        {"sat_01": 4, "sat_02": 4, "sat_03": 4, "sat_04": 3},          # 3.75
        dict.fromkeys(get("parent_satisfaction").items, 1),           # 1.0
    ]
    out = scored("parent_satisfaction", rows).xs("mean_satisfaction", level="scale")
    assert out.loc["r0", "score"] == pytest.approx(13 / 3)
    assert out.loc["r0", "prorated"] and out.loc["r0", "band"] == "satisfied"
    assert not out.loc["r1", "valid"]
    assert out.loc["r2", "score"] == pytest.approx(3.6)
    assert out.loc["r2", "band"] == "not_satisfied"
    assert (out.loc["r3", "score"], out.loc["r3", "band"]) == (4.0, "satisfied")
    assert not out.loc["r3", "prorated"]
    assert (out.loc["r4", "score"], out.loc["r4", "band"]) == (3.75, "not_satisfied")
    assert (out.loc["r5", "score"], out.loc["r5", "band"]) == (1.0, "not_satisfied")


# --------------------------------------------------------------------- invalid values
def test_out_of_range_values_are_rejected_with_the_rows_listed():
    rows = [all_items("sdq_parent_4_17", 0), all_items("sdq_parent_4_17", 0),
            all_items("sdq_parent_4_17", 0)]
    rows[0]["sdq_01"] = 3          # codes run 0-2
    rows[2]["sdq_imp_upset"] = 4   # codes run 0-3
    rows[2]["sdq_05"] = -1
    data = answers(SDQ, rows, wave=["baseline"] * 3)
    with pytest.raises(DataValidationError) as err:
        score(data, SDQ)
    problems = err.value.to_frame()
    assert len(problems) == 3
    assert set(problems["column"]) == {"sdq_01", "sdq_imp_upset", "sdq_05"}
    text = str(err.value)
    assert "row 0 (id=r0, wave=baseline)" in text
    assert "row 2 (id=r2, wave=baseline)" in text
    assert "in 2 row(s)" in text
    assert "valid: whole numbers 0 to 2" in text


def test_fractional_and_non_numeric_values_are_rejected():
    with pytest.raises(DataValidationError, match="1.5 is not a valid answer"):
        score(answers("gad7", [all_items("gad7", 1, gad7_03=1.5)]), "gad7")
    data = answers("gad7", [all_items("gad7", 1)]).astype({"gad7_02": object})
    data.loc[0, "gad7_02"] = "often"
    with pytest.raises(DataValidationError, match="not a number"):
        score(data, "gad7")


def test_missing_item_column_is_an_error():
    data = answers("gad7", [all_items("gad7", 1)]).drop(columns="gad7_07")
    with pytest.raises(DataValidationError, match="gad7_07"):
        score(data, "gad7")


def test_scoring_with_an_overridden_instrument():
    strict = get("phq9").with_overrides({"scales.total.prorate.min_answered": 9})
    row = all_items("phq9", 1, phq9_09=NA)
    assert score(answers("phq9", [row]), "phq9")["valid"].item()
    out = score(answers("phq9", [row]), strict)
    assert not out["valid"].item()


# ---------------------------------------------------------------------- long -> wide
def test_responses_to_wide_and_back_to_scores():
    long = pd.DataFrame({
        "parent_id": ["P2", "P1", "P1", "P1", "P1", "P1", "P1", "P1", "P3"],
        "respondent": "parent",
        "instrument": ["csi4", "csi4", "csi4", "csi4", "csi4", "gad7", "csi4", "csi4", "csi4"],
        "wave": ["end", "baseline", "baseline", "baseline", "baseline", "baseline", "end",
                 "end", "end"],
        "item": ["csi4_01", "csi4_01", "csi4_02", "csi4_03", "csi4_04", "gad7_01", "csi4_01",
                 "csi4_02", "csi4_02"],
        "value": [3.0, 6.0, 5.0, 4.0, 2.0, 1.0, 1.0, NA, 2.0],
        "completed_date": pd.NaT,
    })
    wide = responses_to_wide(long, "csi4")
    assert list(wide.columns) == ["parent_id", "respondent", "wave", "csi4_01", "csi4_02",
                                  "csi4_03", "csi4_04"]
    assert list(zip(wide.parent_id, wide.wave, strict=True)) == [
        ("P1", "baseline"), ("P1", "end"), ("P2", "end"), ("P3", "end")]
    assert list(wide.iloc[0, 3:]) == [6.0, 5.0, 4.0, 2.0]
    assert wide.iloc[1, 3] == 1.0 and np.isnan(wide.iloc[1, 4])   # blank value
    assert np.isnan(wide.iloc[3, 3]) and wide.iloc[3, 4] == 2.0
    out = score(wide, "csi4")
    assert list(out.columns[:3]) == ["parent_id", "respondent", "wave"]
    assert out.iloc[0]["score"] == 6 + 5 + 4 + 2
    assert not out.iloc[1]["valid"]


def test_responses_to_wide_has_every_item_even_if_unanswered():
    long = pd.DataFrame({"parent_id": ["P1"], "respondent": ["parent"],
                         "instrument": ["sdq_parent_4_17"], "wave": ["baseline"],
                         "item": ["sdq_03"], "value": [2.0]})
    wide = responses_to_wide(long, SDQ)
    assert list(wide.columns[3:]) == list(get(SDQ).items)
    assert wide["sdq_imp_leisure"].isna().all()
    empty = responses_to_wide(long.iloc[:0], SDQ)
    assert len(empty) == 0 and list(empty.columns[3:]) == list(get(SDQ).items)


def test_responses_to_wide_rejects_duplicates_and_unknown_items():
    base = {"parent_id": ["P1", "P1"], "respondent": ["parent"] * 2,
            "instrument": ["gad7"] * 2, "wave": ["baseline"] * 2}
    with pytest.raises(DataValidationError, match="given twice"):
        responses_to_wide(pd.DataFrame({**base, "item": ["gad7_01"] * 2,
                                        "value": [1.0, 2.0]}), "gad7")
    with pytest.raises(DataValidationError, match="'gad7_08' is not an item of gad7"):
        responses_to_wide(pd.DataFrame({**base, "item": ["gad7_01", "gad7_08"],
                                        "value": [1.0, 2.0]}), "gad7")


def test_responses_to_wide_rejects_values_that_are_not_numbers():
    long = pd.DataFrame({"parent_id": ["P1", "P1"], "respondent": ["parent"] * 2,
                         "instrument": ["gad7"] * 2, "wave": ["baseline"] * 2,
                         "item": ["gad7_01", "gad7_02"], "value": ["2", "often"]})
    with pytest.raises(DataValidationError, match="gad7_02 .* is not a number"):
        responses_to_wide(long, "gad7")
    ok = responses_to_wide(long.iloc[:1], "gad7")
    assert ok["gad7_01"].item() == 2.0
