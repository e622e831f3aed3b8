"""Interim-report tables recomputed from the synthetic row-level case-study data.

Expected values are typed from DWP research report 1059 (RPC Local Grant evaluation,
interim report, 2024), Tables 1, 2, 3, 5, 6 and 7.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from rpc_eval.errors import RpcEvalError
from rpc_eval.regional.interim_tables import (
    load_case_studies,
    table_1,
    table_2,
    table_3,
    table_5,
    table_6,
    table_7,
)

FOLDER = Path(__file__).resolve().parent.parent / "synthetic_data" / "interim_case_studies"


@pytest.fixture(scope="module")
def cs():
    return load_case_studies(FOLDER)


def _copy(cs):
    return {k: v.copy() for k, v in cs.items()}


def _counts(index, index_name, columns, rows):
    return pd.DataFrame(rows, columns=columns,
                        index=pd.Index(index, name=index_name)).astype("int64")


# Report 1059, Table 1: number of interviews conducted in LA case studies.
TABLE_1 = _counts(
    ["RPC lead/coordinator", "Strategic lead", "Trainers", "Providers",
     "Frontline practitioners", "Total"],
    "Job role", ["Number of individuals interviewed"],
    [[9], [9], [15], [9], [35], [77]])

# Report 1059, Table 2: awareness of RPC agenda among senior leaders of partner agencies.
TABLE_2 = _counts(
    ["Local Authority Early Help / family workers", "Health", "Education",
     "Voluntary and community sector", "Police"],
    "How aware of the RPC agenda are the senior leaders of your partners?",
    ["Very Aware", "Somewhat Aware", "Not Aware"],
    [[8, 1, 0], [3, 6, 0], [2, 7, 1], [1, 8, 0], [0, 8, 1]])

# Report 1059, Table 3: estimated % of partner workforces trained (May 2023 planning tools).
TABLE_3 = _counts(
    ["Local Authority Early Help / family workers",
     "Commissioned Early Help / family services workforce",
     "Children’s social care workers", "Specialist public health or community nurses",
     "Police", "Education services", "Health visiting", "Youth offending services"],
    None, ["0-25%", "25-50%", "50-75%", "75-100%"],
    [[0, 3, 1, 5], [5, 3, 1, 0], [4, 4, 1, 0], [7, 1, 1, 0], [9, 0, 0, 0],
     [6, 2, 1, 0], [6, 2, 1, 0], [6, 3, 0, 0]])

# Report 1059, Table 5: interventions reported in the planning tool across the 9 LAs.
TABLE_5 = _counts(
    ["OnePlusOne", "Level 5 Enhanced Triple P", "Mentalisation Based Therapy",
     "Level 5 Family Transitions Triple P",
     "Parenting when Separated Programme (Parents Plus)", "Standard Triple P"],
    "Conflict focused interventions", ["Number of LAs delivering"],
    [[5], [3], [2], [2], [2], [1]])

# Report 1059, Table 6 (Annexe 3): breakdown of LAs attending workshops.
TABLE_6 = _counts(
    ["Engaging parents, families, faith groups and communities to design and deliver RPC",
     "Partnership engagement – Working with key areas such as health and police",
     "The RPC lead/coordinator role",
     "Developing a RPC support offer for parents/families",
     "Training – Developing RPC workforce capability",
     "Measuring and capturing outcomes"],
    "Workshops", ["Total number of sign-ups", "Number of attendees at workshop"],
    [[15, 10], [24, 12], [29, 13], [26, 8], [27, 11], [36, 5]])

# Report 1059, Table 7 (Annexe 4): details of the LAs included in the case-study research.
TABLE_7 = pd.DataFrame(
    [["Yes", "No", "No"],
     ["Yes (both LAs delivering this separately in their own areas)", "Yes",
      "In the process of de-clustering"],
     ["No", "No", "No"], ["Yes", "No", "No"], ["Yes", "No", "No"], ["Yes", "Yes", "No"],
     ["Yes", "No", "No"], ["No", "No", "No"], ["Yes", "Yes", "No"]],
    columns=["Family Hub area?", "Contract Package Area trial?", "Bid as a cluster?"],
    index=pd.Index(["Bristol", "Cambridgeshire and Peterborough", "Derbyshire",
                    "Leicestershire", "Manchester", "Newcastle", "Nottingham City",
                    "Nottinghamshire", "Torbay"], name="Local Authority"))


@pytest.mark.parametrize("func, expected", [
    (table_1, TABLE_1), (table_2, TABLE_2), (table_3, TABLE_3),
    (table_5, TABLE_5), (table_6, TABLE_6), (table_7, TABLE_7),
], ids=["table_1", "table_2", "table_3", "table_5", "table_6", "table_7"])
def test_published_table_reproduced(cs, func, expected):
    assert_frame_equal(func(cs), expected)


# --- the functions really count the rows -------------------------------------------

def test_table_1_role_change_moves_one_person(cs):
    data = _copy(cs)
    iv = data["interviews"]
    iv.loc[iv.index[iv["job_role"] == "provider"][0], "job_role"] = "trainer"
    out = table_1(data)
    assert out.loc["Providers"].item() == 8
    assert out.loc["Trainers"].item() == 16
    assert out.loc["Total"].item() == 77


def test_table_1_counts_people_not_sessions_and_skips_other_las(cs):
    data = _copy(cs)
    iv = data["interviews"]
    sessions = iv.groupby("job_role")["session_id"].nunique()
    assert sessions["frontline"] == 9  # 35 people in 9 focus groups
    extra = pd.DataFrame([["P999", "CS10", "trainer", "one_to_one", "S999"]],
                         columns=iv.columns)
    data["interviews"] = pd.concat([iv, extra], ignore_index=True)
    assert_frame_equal(table_1(data), TABLE_1)  # CS10 (Croydon) not in the interim report


def test_table_2_one_answer_changes_one_cell(cs):
    data = _copy(cs)
    pt = data["planning_tool"]
    row = pt.index[(pt["item"] == "aware_police") & (pt["response"] == "not")][0]
    pt.loc[row, "response"] = "very"
    expected = TABLE_2.copy()
    expected.loc["Police", "Not Aware"] = 0
    expected.loc["Police", "Very Aware"] = 1
    assert_frame_equal(table_2(data), expected)


def test_table_2_education_split_answer_is_why_row_sums_to_10(cs):
    pt = cs["planning_tool"]
    edu = pt[pt["item"] == "aware_education"]
    assert edu["la_code"].nunique() == 9 and len(edu) == 10
    data = _copy(cs)
    pt = data["planning_tool"]
    data["planning_tool"] = pt[~((pt["item"] == "aware_education")
                                 & (pt["part"] == "secondary_schools"))]
    assert table_2(data).loc["Education"].tolist() == [2, 7, 0]


def test_table_3_band_change(cs):
    data = _copy(cs)
    pt = data["planning_tool"]
    row = pt.index[(pt["item"] == "trained_youth_offending") & (pt["response"] == "25-50")][0]
    pt.loc[row, "response"] = "75-100"
    out = table_3(data)
    assert out.loc["Youth offending services"].tolist() == [6, 2, 0, 1]
    assert_frame_equal(out.drop("Youth offending services"),
                       TABLE_3.drop("Youth offending services"))


def test_table_5_union_of_return_and_interviews(cs):
    data = _copy(cs)
    iv = data["interventions_from_interviews"]
    # CS01's OnePlusOne appears in both sources but is counted once; dropping the
    # interview mention of CS07's MBT (not in its return) lowers MBT by one.
    data["interventions_from_interviews"] = iv[~((iv["la_code"] == "CS07")
                                                 & (iv["item"] == "offers_mbt"))]
    expected = TABLE_5.copy()
    expected.loc["Mentalisation Based Therapy"] = 1
    assert_frame_equal(table_5(data), expected)
    data = _copy(cs)
    pt = data["planning_tool"]
    row = pt.index[(pt["item"] == "offers_standard_triple_p") & (pt["la_code"] == "CS09")][0]
    pt.loc[row, "response"] = "yes"
    assert table_5(data).loc["Standard Triple P"].item() == 2


def test_table_6_attendance_change(cs):
    data = _copy(cs)
    su = data["workshop_signups"]
    row = su.index[(su["workshop_id"] == "W6") & (su["attended"] == "no")][0]
    su.loc[row, "attended"] = "yes"
    expected = TABLE_6.copy()
    expected.loc["Measuring and capturing outcomes", "Number of attendees at workshop"] = 6
    assert_frame_equal(table_6(data), expected)


def test_table_7_attribute_change(cs):
    data = _copy(cs)
    las = data["las"]
    las.loc[las["la_name"] == "Derbyshire", "family_hub_area"] = "yes"
    assert table_7(data).loc["Derbyshire", "Family Hub area?"] == "Yes"
    las.loc[las["la_name"] == "Croydon", ["family_hub_area", "cpa_trial", "cluster_bid",
                                          "in_interim_report"]] = ["yes", "no", "no", "yes"]
    assert table_7(data).index[-1] == "Croydon"


# --- clear errors ------------------------------------------------------------------

@pytest.fixture
def copy_folder(tmp_path):
    dst = tmp_path / "cs"
    shutil.copytree(FOLDER, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst


def test_missing_file_is_named(copy_folder):
    (copy_folder / "interviews.csv").unlink()
    with pytest.raises(RpcEvalError, match="interviews.csv: file missing"):
        load_case_studies(copy_folder)


def test_missing_column_is_named(copy_folder):
    path = copy_folder / "planning_tool.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns="part")
    frame.to_csv(path, index=False)
    with pytest.raises(RpcEvalError, match=r"missing column\(s\) \['part'\]"):
        load_case_studies(copy_folder)


def test_unknown_item_needs_codebook_extension(copy_folder):
    shutil.rmtree(copy_folder / "codebooks")
    with pytest.raises(RpcEvalError, match="unknown item 'aware_la_early_help'"):
        load_case_studies(copy_folder)
    assert "planning_tool" in load_case_studies(copy_folder, check_codes=False)


def test_missing_folder():
    with pytest.raises(RpcEvalError, match="no such folder"):
        load_case_studies(FOLDER / "nope")
