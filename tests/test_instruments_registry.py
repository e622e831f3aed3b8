"""The instrument definition files and their loader (rpc_eval.instruments.registry)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import (
    DEFINITIONS_DIR,
    InstrumentDefinitionError,
    Registry,
    available,
    get,
    score,
)

SHIPPED = {
    "sdq_parent_4_17", "wemwbs", "swemwbs", "gad7", "k10", "k6", "core10", "pss", "csi4",
    "rdas", "parent_satisfaction", "phq9",
}


@pytest.fixture(scope="module")
def reg() -> Registry:
    return Registry()


# ----------------------------------------------------------------------------- loading
def test_every_shipped_definition_loads(reg):
    assert SHIPPED <= set(reg.available())
    assert set(available()) == set(reg.available())
    assert len(list(DEFINITIONS_DIR.glob("*.yaml"))) == len(reg.available())


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_definitions_have_the_documented_metadata(reg, name):
    inst = reg.get(name)
    for key in ("title", "construct", "respondent", "direction", "licence", "source"):
        assert str(inst.spec.get(key, "")).strip(), f"{name} lacks {key}"
    assert inst.direction in {"higher_is_worse", "higher_is_better"}
    assert inst.primary_scale in inst.scale_names
    for s in inst.scales:
        assert s.range is not None
        for block in (s.reliability, s.clinical_cutoff, *s.bands.values()):
            if block:
                assert block["source"] and isinstance(block["verified"], bool)
        for g in s.norms:
            assert g["source"] and isinstance(g["verified"], bool)


def test_item_ids_are_exactly_as_other_code_expects(reg):
    sdq = reg.get("sdq_parent_4_17")
    assert sdq.items[:25] == tuple(f"sdq_{i:02d}" for i in range(1, 26))
    assert sdq.items[25:] == (
        "sdq_imp_diff", "sdq_imp_upset", "sdq_imp_home", "sdq_imp_friends",
        "sdq_imp_classroom", "sdq_imp_leisure",
    )
    expected = {
        "wemwbs": [f"wemwbs_{i:02d}" for i in range(1, 15)],
        "swemwbs": [f"swemwbs_{i:02d}" for i in range(1, 8)],
        "gad7": [f"gad7_{i:02d}" for i in range(1, 8)],
        "k10": [f"k10_{i:02d}" for i in range(1, 11)],
        "k6": [f"k6_{i:02d}" for i in range(1, 7)],
        "core10": [f"core10_{i:02d}" for i in range(1, 11)],
        "pss": [f"pss_{i:02d}" for i in range(1, 19)],
        "csi4": [f"csi4_{i:02d}" for i in range(1, 5)],
        "rdas": [f"rdas_{i:02d}" for i in range(1, 15)],
        "parent_satisfaction": [f"sat_{i:02d}" for i in range(1, 6)],
        "phq9": [f"phq9_{i:02d}" for i in range(1, 10)],
    }
    for name, items in expected.items():
        assert list(reg.get(name).items) == items, name


def test_valid_ranges(reg):
    assert reg.get("sdq_parent_4_17").valid_range("sdq_07") == (0, 2)
    assert reg.get("sdq_parent_4_17").valid_range("sdq_imp_diff") == (0, 3)
    assert reg.get("wemwbs").valid_range("wemwbs_14") == (1, 5)
    assert reg.get("k10").valid_range("k10_01") == (1, 5)
    assert reg.get("k6").valid_range("k6_06") == (1, 5)
    assert reg.get("core10").valid_range("core10_02") == (0, 4)
    assert reg.get("pss").valid_range("pss_18") == (1, 5)
    assert reg.get("csi4").valid_range("csi4_01") == (0, 6)
    assert reg.get("csi4").valid_range("csi4_02") == (0, 5)
    assert reg.get("rdas").valid_range("rdas_11") == (0, 4)
    assert reg.get("rdas").valid_range("rdas_12") == (0, 5)
    assert reg.get("parent_satisfaction").valid_range("sat_05") == (1, 5)


def test_scale_structure(reg):
    sdq = reg.get("sdq_parent_4_17")
    assert sdq.scale_names == (
        "emotional", "conduct", "hyperactivity", "peer", "prosocial", "total_difficulties",
        "internalising", "externalising", "impact",
    )
    assert sdq.scale("conduct").reverse == ("sdq_07",)
    assert sdq.scale("hyperactivity").reverse == ("sdq_21", "sdq_25")
    assert sdq.scale("peer").reverse == ("sdq_11", "sdq_14")
    assert sdq.scale("emotional").items == ("sdq_03", "sdq_08", "sdq_13", "sdq_16", "sdq_24")
    assert sdq.scale("emotional").min_answered == 3
    assert sdq.scale("total_difficulties").range == (0, 40)
    assert sdq.scale("internalising").from_scales == ("emotional", "peer")
    assert sdq.scale("externalising").from_scales == ("conduct", "hyperactivity")
    assert sdq.scale("impact").gate == {"item": "sdq_imp_diff", "values": [0.0], "score": 0.0}
    assert sdq.scale("impact").missing_as_zero
    assert sdq.recode_map("sdq_imp_home") == {0: 0, 1: 0, 2: 1, 3: 2}
    assert sdq.recode_map("sdq_imp_diff") is None
    assert sdq.primary_scale == "total_difficulties"
    assert list(sdq.scale("emotional").bands) == ["3band", "4band"]
    assert reg.get("pss").scale("total").reverse == tuple(
        f"pss_{i:02d}" for i in (1, 2, 5, 6, 7, 8, 17, 18))
    assert reg.get("core10").scale("clinical_score").reverse == ("core10_02", "core10_03")
    assert reg.get("core10").scale("clinical_score").min_answered == 9
    assert reg.get("rdas").scale("total").range == (0, 69)
    assert reg.get("rdas").scale("cohesion").range == (0, 19)
    assert reg.get("csi4").scale("total").range == (0, 21)
    assert reg.get("csi4").direction == "higher_is_better"
    assert reg.get("swemwbs").scale("total").conversion[20] == 18.59
    assert reg.get("parent_satisfaction").scale("mean_satisfaction").method == "mean"
    with pytest.raises(RpcEvalError, match="no scale 'nope'"):
        sdq.scale("nope")
    with pytest.raises(RpcEvalError, match="available: .*sdq_parent_4_17"):
        reg.get("sdq")


def test_verified_flags_follow_the_reference(reg):
    sdq = reg.get("sdq_parent_4_17")
    for name in ("emotional", "conduct", "hyperactivity", "peer", "prosocial",
                 "total_difficulties"):
        assert sdq.scale(name).bands["3band"]["verified"] is True
        assert sdq.scale(name).bands["4band"]["verified"] is False  # parent 4-band: unverified
    assert sdq.scale("impact").bands["3band"]["verified"] is False
    assert reg.get("swemwbs").scale("total").spec["conversion"]["verified"] is False
    assert reg.get("csi4").scale("total").clinical_cutoff["verified"] is False
    assert reg.get("csi4").scale("total").clinical_cutoff["value"] == 13.5
    assert reg.get("k6").scale("total").clinical_cutoff["verified"] is False
    assert reg.get("rdas").scale("total").clinical_cutoff["verified"] is False
    assert reg.get("wemwbs").scale("total").bands["bands"]["verified"] is False
    assert reg.get("k10").scale("total").bands["abs"]["verified"] is True


def test_tables(reg):
    items = reg.item_table()
    assert list(items.columns) == ["instrument", "item", "position", "min", "max"]
    row = items[(items.instrument == "csi4") & (items.item == "csi4_01")].iloc[0]
    assert (row["position"], row["min"], row["max"]) == (1, 0, 6)
    assert len(items[items.instrument == "sdq_parent_4_17"]) == 31

    norms = reg.norms_table()
    assert list(norms.columns) == ["instrument", "scale", "group", "population", "n", "mean",
                                   "sd", "source", "verified"]
    boys = norms[(norms.instrument == "sdq_parent_4_17") & (norms.scale == "total_difficulties")
                 & (norms.group == "boys")].iloc[0]
    assert (boys["mean"], boys["sd"], boys["n"]) == (9.1, 6.0, 5153)
    wem = norms[(norms.instrument == "wemwbs") & (norms.group == "all")].iloc[0]
    assert (wem["mean"], wem["sd"]) == (49.4, 8.96)

    rel = reg.reliability_table()
    assert set(rel.columns) >= {"instrument", "scale", "alpha", "source", "verified"}
    pss = rel[rel.instrument == "pss"].iloc[0]
    assert (pss["alpha"], pss["retest"], pss["verified"]) == (0.83, 0.81, True)
    assert rel[rel.instrument == "phq9"].iloc[0]["alpha"] == 0.89

    scales = reg.scale_table()
    td = scales[(scales.instrument == "sdq_parent_4_17")
                & (scales.scale == "total_difficulties")].iloc[0]
    assert (td["n_items"], td["min"], td["max"]) == (20, 0, 40)


# --------------------------------------------------------------------- malformed files
GOOD = """
name: la_check
title: A local check-in
construct: how things are going
respondent: parent
direction: higher_is_better
licence: local
source: local
responses: {min: 1, max: 5}
items: [la_01, la_02, la_03]
scales:
  - name: total
    items: [la_01, la_02, la_03]
    range: [3, 15]
"""


def _write(folder: Path, text: str, name: str = "def.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(InstrumentDefinitionError) as err:
        Registry(extra_dirs=[tmp_path])
    message = str(err.value)
    assert str(path) in message  # the message names the file
    return message


def test_good_minimal_file_loads(tmp_path):
    _write(tmp_path, GOOD)
    assert Registry(extra_dirs=[tmp_path]).get("la_check").scale("total").range == (3, 15)


def test_unknown_top_level_key(tmp_path):
    msg = _error(tmp_path, GOOD + "colour: blue\n")
    assert "unknown key(s) ['colour']" in msg


def test_unknown_scale_key(tmp_path):
    msg = _error(tmp_path, GOOD.replace("    range: [3, 15]", "    range: [3, 15]\n    weight: 2"))
    assert "scale 'total'" in msg and "['weight']" in msg


def test_scale_item_not_in_items(tmp_path):
    msg = _error(tmp_path, GOOD.replace("items: [la_01, la_02, la_03]\n    range",
                                        "items: [la_01, la_02, la_04]\n    range"))
    assert "scale 'total'" in msg and "la_04" in msg


def test_bad_direction(tmp_path):
    msg = _error(tmp_path, GOOD.replace("higher_is_better", "upwards"))
    assert "direction" in msg and "'upwards'" in msg


def test_missing_required_key(tmp_path):
    msg = _error(tmp_path, GOOD.replace("responses: {min: 1, max: 5}\n", ""))
    assert "missing required key 'responses'" in msg


def test_range_that_does_not_match_the_items(tmp_path):
    msg = _error(tmp_path, GOOD.replace("[3, 15]", "[0, 15]"))
    assert "range [0, 15] does not match" in msg and "[3, 15]" in msg


def test_reverse_item_outside_scale(tmp_path):
    msg = _error(tmp_path, GOOD.replace("    range: [3, 15]",
                                        "    reverse: [la_09]\n    range: [3, 15]"))
    assert "reverse items ['la_09']" in msg


def test_unknown_method_and_from_scales(tmp_path):
    assert "method must be one of" in _error(
        tmp_path, GOOD.replace("    range: [3, 15]", "    method: median\n    range: [3, 15]"))
    msg = _error(tmp_path, GOOD + "  - {name: both, method: sum_of_scales, from_scales: [total, x]}\n")
    assert "from_scales must name scales defined above it" in msg and "'x'" in msg


def test_bands_that_overlap_or_leave_gaps(tmp_path):
    bands = """
    bands:
      source: local
      verified: true
      cuts:
        - {label: low, min: 3, max: 9}
        - {label: high, min: 9, max: 15}
"""
    assert "overlap" in _error(tmp_path, GOOD + textwrap.indent(textwrap.dedent(bands), "    "))
    short = bands.replace("max: 15", "max: 14").replace("min: 9, max: 14", "min: 10, max: 14")
    assert "cuts cover 3..14" in _error(tmp_path, GOOD + textwrap.indent(textwrap.dedent(short), "    "))


def test_published_values_need_a_source_and_verified_flag(tmp_path):
    block = """
    reliability:
      alpha: 0.8
"""
    msg = _error(tmp_path, GOOD + textwrap.indent(textwrap.dedent(block), "    "))
    assert "reliability needs a 'source'" in msg
    block = """
    reliability:
      alpha: 1.3
      source: x
      verified: yes please
"""
    msg = _error(tmp_path, GOOD + textwrap.indent(textwrap.dedent(block), "    "))
    assert "verified" in msg


def test_recode_must_cover_every_code(tmp_path):
    text = GOOD + "recode:\n  - {items: [la_01], map: {1: 0, 2: 0, 3: 1}}\n"
    msg = _error(tmp_path, text)
    assert "recode block 1" in msg and "every valid code" in msg


def test_conversion_needs_complete_raw_sums(tmp_path):
    table = ", ".join(f"{r}: {r}.5" for r in range(3, 16))
    text = GOOD.replace("    range: [3, 15]",
                        f"    prorate: {{min_answered: 2}}\n"
                        f"    conversion: {{source: x, verified: false, table: {{{table}}}}}")
    assert "conversion table applies to the complete raw sum" in _error(tmp_path, text)
    short = ", ".join(f"{r}: {r}" for r in range(3, 15))
    text = GOOD.replace("    range: [3, 15]",
                        f"    conversion: {{source: x, verified: false, table: {{{short}}}}}")
    assert "one entry for every raw score 3..15" in _error(tmp_path, text)


def test_rounding_applies_to_sums_only(tmp_path):
    text = GOOD.replace("    range: [3, 15]",
                        "    method: mean\n    prorate: {min_answered: 2, rounding: half_up}\n"
                        "    range: [1, 5]")
    assert "rounding applies to method sum only" in _error(tmp_path, text)


def test_gate_item_must_exist(tmp_path):
    text = GOOD.replace("    range: [3, 15]",
                        "    gate: {item: la_09, values: [1], score: 0}")
    assert "gate item 'la_09'" in _error(tmp_path, text)


def test_unreadable_yaml_and_missing_folder(tmp_path):
    assert "cannot be read as YAML" in _error(tmp_path, "name: [unclosed\n")
    with pytest.raises(InstrumentDefinitionError, match="no such folder"):
        Registry(extra_dirs=[tmp_path / "absent"])


def test_two_files_with_one_name_in_a_folder(tmp_path):
    _write(tmp_path, GOOD, "a.yaml")
    _write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(InstrumentDefinitionError, match="also defined in"):
        Registry(extra_dirs=[tmp_path])


# ---------------------------------------------------------- an LA's own questionnaire
LA_SATISFACTION = """
# A region's own end-of-course questionnaire: 4 statements on a 1-4 agreement scale,
# and "would you recommend the course?" coded 1 yes, 2 no.
name: la_course_feedback
title: Course feedback (Anytown local version)
construct: satisfaction with the course
respondent: parent
about: service
direction: higher_is_better
kind: local
licence: Written by the local authority; free to use.
source: Anytown family hub, 2024
responses:
  min: 1
  max: 4
  labels: {1: Strongly disagree, 2: Disagree, 3: Agree, 4: Strongly agree}
item_responses:
  fb_05: {min: 1, max: 2, labels: {1: "Yes", 2: "No"}}
items: [fb_01, fb_02, fb_03, fb_04, fb_05]
recode:
  - items: [fb_05]
    map: {1: 1, 2: 0}
scales:
  - name: mean_satisfaction
    items: [fb_01, fb_02, fb_03, fb_04]
    method: mean
    prorate: {min_answered: 2, source: local decision, verified: true}
    range: [1, 4]
    bands:
      source: local decision
      verified: true
      cuts:
        - {label: dissatisfied, min: 1, max: 2.99}
        - {label: satisfied, min: 3, max: 4}
  - name: recommend
    items: [fb_05]
    range: [0, 1]
"""


def test_la_questionnaire_from_a_folder_is_loaded_and_scored(tmp_path):
    _write(tmp_path, LA_SATISFACTION, "la_course_feedback.yaml")
    reg = Registry(extra_dirs=[tmp_path])
    assert "la_course_feedback" in reg.available()
    assert "phq9" in reg.available()  # the package's definitions are still there
    assert "la_course_feedback" not in available()  # the package registry is unchanged
    inst = reg.get("la_course_feedback")
    assert inst.spec["kind"] == "local"
    assert inst.valid_range("fb_05") == (1, 2)
    data = pd.DataFrame({"id": ["a", "b"], "fb_01": [4, 1], "fb_02": [3, None],
                         "fb_03": [2, None], "fb_04": [None, None], "fb_05": [1, 2]})
    out = score(data, "la_course_feedback", registry=reg).set_index(["id", "scale"])
    # a: (4 + 3 + 2) / 3 = 3.0 from 3 of 4 items -> satisfied (3 is the band's minimum)
    assert out.loc[("a", "mean_satisfaction"), "score"] == 3.0
    assert out.loc[("a", "mean_satisfaction"), "prorated"]
    assert out.loc[("a", "mean_satisfaction"), "band"] == "satisfied"
    assert out.loc[("a", "recommend"), "score"] == 1  # "yes" recoded to 1
    # b: only one statement answered -> no mean (needs 2); "no" recoded to 0
    assert not out.loc[("b", "mean_satisfaction"), "valid"]
    assert pd.isna(out.loc[("b", "mean_satisfaction"), "score"])
    assert out.loc[("b", "recommend"), "score"] == 0


def test_la_file_with_a_package_name_replaces_it(tmp_path):
    text = (DEFINITIONS_DIR / "parent_satisfaction.yaml").read_text(encoding="utf-8")
    text = text.replace("min_answered: 3", "min_answered: 5")
    path = _write(tmp_path, text, "my_satisfaction.yaml")
    reg = Registry(extra_dirs=[tmp_path])
    assert reg.get("parent_satisfaction").scale("mean_satisfaction").min_answered == 5
    assert reg.replaced["parent_satisfaction"] == (DEFINITIONS_DIR / "parent_satisfaction.yaml",
                                                   path)
    assert get("parent_satisfaction").scale("mean_satisfaction").min_answered == 3


# -------------------------------------------------------------------------- overrides
def test_with_overrides_changes_one_value_and_records_it(reg):
    csi = reg.get("csi4")
    new = csi.with_overrides({"scales.total.clinical_cutoff.value": 13,
                              "scales.total.clinical_cutoff.verified": True})
    assert new.scale("total").clinical_cutoff["value"] == 13
    assert new.overrides[0] == ("scales.total.clinical_cutoff.value", 13.5, 13)
    assert any("override: scales.total.clinical_cutoff.value" in n for n in new.spec["notes"])
    assert csi.scale("total").clinical_cutoff["value"] == 13.5  # original untouched
    assert "override" in repr(new)


def test_override_of_a_shared_yaml_block_changes_one_scale_only(reg):
    sdq = reg.get("sdq_parent_4_17")
    new = sdq.with_overrides({"scales.emotional.prorate.min_answered": 5})
    assert new.scale("emotional").min_answered == 5
    assert new.scale("conduct").min_answered == 3
    assert sdq.scale("emotional").min_answered == 3


def test_override_band_cut_and_conversion_entry(reg):
    sdq = reg.get("sdq_parent_4_17").with_overrides({
        "scales.total_difficulties.bands.4band.cuts.very_high.min": 21,
        "scales.total_difficulties.bands.4band.cuts.high.max": 20,
    })
    cuts = sdq.scale("total_difficulties").bands["4band"]["cuts"]
    assert cuts[-1] == {"label": "very_high", "min": 21, "max": 40}
    sw = reg.get("swemwbs").with_overrides({"scales.total.conversion.table.20": 18.6})
    assert sw.scale("total").conversion[20] == 18.6


def test_overrides_are_validated(reg):
    with pytest.raises(InstrumentDefinitionError, match="overlap"):
        reg.get("sdq_parent_4_17").with_overrides(
            {"scales.total_difficulties.bands.4band.cuts.very_high.min": 19})
    with pytest.raises(InstrumentDefinitionError, match="no entry 'nope'"):
        reg.get("csi4").with_overrides({"scales.nope.range": [0, 1]})
    with pytest.raises(InstrumentDefinitionError, match="direction"):
        reg.get("csi4").with_overrides({"direction": "sideways"})


def test_registry_with_overrides_leaves_the_original(reg):
    new = reg.with_overrides("phq9", {"scales.total.prorate.min_answered": 9})
    assert new.get("phq9").scale("total").min_answered == 9
    assert reg.get("phq9").scale("total").min_answered == 7
    assert new.get("gad7") is reg.get("gad7")


def test_scale_direction_overrides_instrument_direction():
    from rpc_eval import instruments
    from rpc_eval.change.tables import scale_direction

    sdq = instruments.get("sdq_parent_4_17")
    assert sdq.direction == "higher_is_worse"
    assert sdq.scale("prosocial").direction == "higher_is_better"
    assert sdq.scale("emotional").direction is None
    assert scale_direction("sdq_parent_4_17", "prosocial") == "higher_is_better"
    assert scale_direction("sdq_parent_4_17", "total_difficulties") == "higher_is_worse"
