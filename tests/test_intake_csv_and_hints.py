"""CSV files that lose rows silently (stray quotes), headers and codes written the way
people write them, and hints that say what is actually wrong."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

import rpc_eval.data as rd
from rpc_eval.errors import DataQualityWarning, DataValidationError

TODAY = "2024-06-01"
HEADER = ("parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
          "referral_date,start_date,exit_date,exit_reason")
LAS = "la_code,la_name,region\nLA001,Northtown,north_east\nLA007,Westby,london\n"


def row(i: int, **change: str) -> str:
    cells = dict(parent_id=f"P{i:03d}", family_id=f"F{i:03d}", la_code="LA001",
                 intervention="parents_plus_pws", delivery_mode="online",
                 relationship_status="separated", referral_date="2023-01-05",
                 start_date="2023-01-20", exit_date="2023-03-01", exit_reason="completed")
    cells.update(change)
    return ",".join(cells.values())


def dataset(folder: Path, parents: list[str], header: str = HEADER, **tables: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "las.csv").write_text(LAS, encoding="utf-8")
    (folder / "parents.csv").write_text("\n".join([header, *parents]) + "\n", encoding="utf-8")
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def load(folder: Path) -> rd.EvaluationData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        data = rd.load(folder, today=TODAY)
    assert data.intake_log.reconciles()
    return data


def only(frame: pd.DataFrame, contains: str, severity: str | None = None) -> pd.DataFrame:
    hit = frame[frame["problem"].str.contains(contains, regex=False)]
    if severity:
        hit = hit[hit["severity"] == severity]
    return hit


# ------------------------------------------------------------------------------------
# stray quotes
# ------------------------------------------------------------------------------------
def test_unbalanced_quote_closed_later_is_reported_where_it_opens(tmp_path):
    rows = [row(i) for i in range(1, 61)]
    rows[4] = row(5, family_id='"F005')      # opens on spreadsheet row 6
    rows[29] = row(30, family_id='F030"')    # closes 25 lines later
    data = load(dataset(tmp_path / "d", rows))
    p = only(data.intake_log.problems, "quote mark", "error")
    assert len(p) == 1
    assert p["row"].iloc[0] == 6 and p["column"].iloc[0] == "family_id"
    assert "runs over 26 lines" in p["problem"].iloc[0]
    assert "remove the stray quote" in p["hint"].iloc[0]
    assert data.intake_log.n_errors >= 1  # never "Valid"


def test_unclosed_quote_is_reported_where_it_opens(tmp_path):
    rows = [row(i) for i in range(1, 61)]
    rows[4] = row(5, la_code='"LA001')
    data = load(dataset(tmp_path / "d", rows))
    p = only(data.intake_log.problems, "quote mark", "error")
    assert list(p["row"]) == [6] and list(p["column"]) == ["la_code"]
    assert "runs over 56 lines" in p["problem"].iloc[0]


def test_unbalanced_quote_in_a_text_column_is_reported(tmp_path):
    las = ['la_code,la_name,region', 'LA001,"Northtown,north_east']
    las += [f"LA{i:03d},Town {i},london" for i in range(2, 30)]
    las += ['LA030,Last town",london', "LA007,Westby,london"]
    folder = dataset(tmp_path / "d", [row(1)])
    (folder / "las.csv").write_text("\n".join(las) + "\n")
    data = load(folder)
    p = only(data.intake_log.problems, "look like rows of the table", "error")
    assert list(p["row"]) == [2] and list(p["column"]) == ["la_name"]
    assert "runs over 30 lines of the file and 28 of them" in p["problem"].iloc[0]


def test_overlong_value_in_an_id_column(tmp_path):
    data = load(dataset(tmp_path / "d", [row(1), row(2, parent_id="P" * 300)]))
    p = only(data.intake_log.problems, "too long for parent_id", "error")
    assert list(p["row"]) == [3]
    assert len(p["value"].iloc[0]) < 70  # shown cut short


def test_line_break_inside_a_quoted_text_column_is_kept(tmp_path):
    las = 'la_code,la_name,region\nLA001,"North\ntown",north_east\nLA007,Westby,london\n'
    folder = dataset(tmp_path / "d", [row(1)])
    (folder / "las.csv").write_text(las)
    data = load(folder)
    assert data.las.loc[0, "la_name"] == "North\ntown"
    assert data.intake_log.n_errors == 0


# ------------------------------------------------------------------------------------
# columns
# ------------------------------------------------------------------------------------
def test_header_synonyms_are_read_with_info(tmp_path):
    header = HEADER.replace("referral_date", "Date of referral").replace(
        "parent_id", "Parent ID") + ",Age,Ethnicity"
    data = load(dataset(tmp_path / "d", [row(1) + ",34,white"], header=header))
    assert data.parents.loc[0, "parent_age"] == 34
    assert data.parents.loc[0, "ethnic_group"] == "white"
    assert str(data.parents.loc[0, "referral_date"].date()) == "2023-01-05"
    info = only(data.intake_log.problems, "was read as 'referral_date'", "info")
    assert list(info["column"]) == ["Date of referral"]


def test_title_row_above_the_header_in_a_csv(tmp_path):
    rows = [",,,,,,,,,", row(1), row(2)]
    folder = dataset(tmp_path / "d", rows, header="Parents referred in 2023,,,,,,,,,\n" + HEADER)
    data = load(folder)
    assert len(data.parents) == 2
    w = only(data.intake_log.problems, "the column names are on row 2", "warning")
    assert len(w) == 1 and w["value"].iloc[0] == "Parents referred in 2023"
    # rows keep the numbers the user sees: header row 2, first data row 3 (row 4 blank)
    folder = dataset(tmp_path / "e", [row(1), row(2, delivery_mode="carrier pigeon")],
                     header="Parents referred in 2023\n" + HEADER)
    p = only(load(folder).intake_log.problems, "unknown delivery_mode", "error")
    assert list(p["row"]) == [4]


def test_column_of_different_meaning_is_never_suggested(tmp_path):
    header = HEADER + ",sessions_cancelled"
    data = load(dataset(tmp_path / "d", [row(1) + ",5"], header=header))
    p = data.intake_log.problems
    assert only(p, "did you mean 'sessions_planned'").empty
    w = only(p, "column 'sessions_cancelled' holds data but is not part of the parents",
             "warning")
    assert len(w) == 1


def test_sessions_attended_is_read_as_itself_not_as_sessions_planned(tmp_path):
    header = HEADER + ",sessions_attended"
    data = load(dataset(tmp_path / "d", [row(1) + ",5"], header=header))
    assert only(data.intake_log.problems, "did you mean 'sessions_planned'").empty
    assert data.parents["sessions_attended"].tolist() == [5]


def test_misspelled_column_is_still_suggested(tmp_path):
    header = HEADER + ",parent_agee"
    data = load(dataset(tmp_path / "d", [row(1) + ",5"], header=header))
    assert len(only(data.intake_log.problems, "did you mean 'parent_age'?", "warning")) == 1


def test_required_column_of_different_meaning_is_not_suggested(tmp_path):
    header = HEADER.replace("referral_date", "reflection_date")
    with pytest.raises(DataValidationError) as info:
        load(dataset(tmp_path / "d", [row(1)], header=header))
    hints = [p.hint for p in info.value.problems if p.column == "referral_date"]
    assert hints == ["add a column named 'referral_date'"]


def test_unread_columns_holding_data_are_warnings_and_empty_ones_info(tmp_path):
    header = HEADER + ",Notes,spare"
    data = load(dataset(tmp_path / "d", [row(1) + ",called twice,"], header=header))
    p = data.intake_log.problems
    assert len(only(p, "column 'Notes' holds data", "warning")) == 1
    assert len(only(p, "column 'spare' is empty", "info")) == 1


def test_many_unread_columns_cost_nothing_per_column_and_are_one_line(tmp_path):
    extra = 5_000
    header = HEADER + "," + ",".join(f"x{i}" for i in range(extra))
    filled = "," + ",".join(["z"] * 50)   # the first 50 extra columns hold data
    rows = [row(i) + filled + "," * (extra - 50) for i in range(1, 31)]
    data = load(dataset(tmp_path / "d", rows, header=header))
    assert len(data.parents) == 30
    w = only(data.intake_log.problems, "columns hold data but are not part", "warning")
    assert len(w) == 1 and w["problem"].iloc[0].startswith("50 columns")
    assert "'x0', 'x1'" in w["problem"].iloc[0]
    info = only(data.intake_log.problems, "4,950 empty columns", "info")
    assert len(info) == 1


# ------------------------------------------------------------------------------------
# codes and keys
# ------------------------------------------------------------------------------------
def test_code_ignoring_case_spaces_and_punctuation(tmp_path):
    rows = [row(1, intervention="Standard Triple P"), row(2, exit_reason="Dropped out",
                                                            intervention="standard-triple-p"),
            row(3, delivery_mode="ON LINE")]
    data = load(dataset(tmp_path / "d", rows))
    assert list(data.parents["intervention"])[:2] == ["standard_triple_p"] * 2
    assert data.parents.loc[1, "exit_reason"] == "dropped_out"
    assert data.parents.loc[2, "delivery_mode"] == "online"
    w = only(data.intake_log.problems, "'Standard Triple P' was read as its code "
             "standard_triple_p", "warning")
    assert len(w) == 1


def test_unknown_code_gets_the_closest_one(tmp_path):
    data = load(dataset(tmp_path / "d", [row(1, exit_reason="complted")]))
    p = only(data.intake_log.problems, "unknown exit_reason code; did you mean completed?",
             "error")
    assert list(p["row"]) == [2]


def test_key_written_in_other_case_matches_the_referenced_table(tmp_path):
    data = load(dataset(tmp_path / "d", [row(1, la_code="la007"), row(2, la_code=" LA-001")]))
    assert list(data.parents["la_code"]) == ["LA007", "LA001"]
    w = only(data.intake_log.problems, "la_code written with other capitals", "warning")
    assert len(w) == 1 and "'la007' as LA007" in w["problem"].iloc[0]


def test_ambiguous_loose_key_is_not_guessed(tmp_path):
    folder = dataset(tmp_path / "d", [row(1, la_code="la-001")])
    (folder / "las.csv").write_text(LAS + "la001,Lowtown,london\n")
    data = load(folder)
    assert only(data.intake_log.problems, "la_code is not in the las table", "error")[
        "row"].tolist() == [2]


def test_answers_typed_as_their_labels(tmp_path):
    responses = ("parent_id,respondent,instrument,wave,item,value,completed_date\n"
                 "P001,parent,sdq_parent_4_17,baseline,sdq_01,Somewhat true,2023-01-10\n"
                 "P001,parent,sdq_parent_4_17,baseline,sdq_02,certainly TRUE,2023-01-10\n"
                 "P001,parent,sdq_parent_4_17,baseline,sdq_imp_diff,Yes - minor difficulties,"
                 "2023-01-10\n"
                 "P001,parent,phq9,baseline,phq9_01,Somewhat true,2023-01-10\n")
    data = load(dataset(tmp_path / "d", [row(1)], responses=responses))
    r = data.responses.set_index("item")["value"]
    assert r["sdq_01"] == 1 and r["sdq_02"] == 2 and r["sdq_imp_diff"] == 1
    w = only(data.intake_log.problems, "answers of sdq_parent_4_17 written as their wording",
             "warning")
    assert len(w) == 1 and "(3 cells" in w["problem"].iloc[0]
    # phq9's definition gives no wording: not guessed
    assert list(only(data.intake_log.problems, "text in a numeric column", "error")["row"]) == [5]


# ------------------------------------------------------------------------------------
# dates
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,said,hint", [
    ("31/02/2023", "31 February does not exist (February has 28 days)", "check the day"),
    ("2023-04-31", "31 April does not exist (April has 30 days)", "check the day"),
    ("29/02/2023", "29 February does not exist that year", "check the day and the year"),
    ("01/15/2023", "month 15? dates are read day first", "write 15/01/2023"),
    ("01/13/2023", "month 13? dates are read day first", "2023-01-13"),
    ("15/13/2023", "there is no month 13", "YYYY-MM-DD"),
    ("sometime", "not a valid date", "YYYY-MM-DD"),
])
def test_date_hints(tmp_path, text, said, hint):
    data = load(dataset(tmp_path / "d", [row(1, referral_date=text, start_date="",
                                             exit_date="", exit_reason="not_started")]))
    p = only(data.intake_log.problems, said, "error")
    assert list(p["row"]) == [2] and hint in p["hint"].iloc[0]


def test_month_and_year_start_date_gives_one_problem(tmp_path):
    data = load(dataset(tmp_path / "d", [row(1, start_date="March 2023")]))
    p = data.intake_log.problems
    errors = p[p["severity"] == "error"]
    assert list(errors["problem"]) == ["not a valid date: a month and year without a day"]
    assert not p["hint"].str.contains("not_started").any()


# ------------------------------------------------------------------------------------
# the dataset as a whole
# ------------------------------------------------------------------------------------
def test_dataset_with_no_parents_is_not_valid(tmp_path):
    with pytest.raises(DataValidationError) as info:
        load(dataset(tmp_path / "d", []))
    assert any("the parents table has no rows" in p.problem for p in info.value.problems)


def test_yaml_alias_bomb_in_the_data_codebooks_is_refused(tmp_path):
    folder = dataset(tmp_path / "d", [row(1)])
    books = folder / "codebooks"
    books.mkdir()
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    lines += ["name: regions", "codes:", "  - {code: x, label: *a9}"]
    (books / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError) as info:
        load(folder)
    assert "anchors or aliases" in str(info.value) and "bomb.yaml" in str(info.value)


def test_yaml_alias_in_the_data_instruments_is_refused(tmp_path):
    folder = dataset(tmp_path / "d", [row(1)])
    (folder / "instruments").mkdir()
    (folder / "instruments" / "x.yaml").write_text("a: &x [1]\nb: *x\n")
    with pytest.raises(DataValidationError, match="anchors or aliases"):
        load(folder)


def test_oversized_yaml_beside_the_data_is_refused(tmp_path):
    folder = dataset(tmp_path / "d", [row(1)])
    (folder / "codebooks").mkdir()
    (folder / "codebooks" / "big.yaml").write_text("# " + "x" * 1_000_100 + "\n")
    with pytest.raises(DataValidationError, match="more than the 1,000,000"):
        load(folder)


def test_spss_date_variable_with_blanks(tmp_path):
    folder = dataset(tmp_path / "d", [])
    (folder / "parents.csv").unlink()
    frame = pd.DataFrame({
        "parent_id": ["P001", "P002"], "family_id": ["F001", "F002"],
        "la_code": ["LA001", "LA001"], "intervention": ["parents_plus_pws"] * 2,
        "delivery_mode": ["online"] * 2, "relationship_status": ["separated"] * 2,
        "referral_date": pd.to_datetime(["2023-01-05", "2023-01-06"]).date,
        "start_date": [pd.Timestamp("2023-01-20").to_pydatetime(), None],
        "exit_date": [pd.Timestamp("2023-03-01").date(), None],
        "exit_reason": ["completed", "not_started"]})
    # a DATE variable (read back as dates, blank = NaN) and a DATETIME one (read back as
    # datetime64, blank = NaT)
    pyreadstat.write_sav(frame, str(folder / "parents.sav"),
                         variable_format={"referral_date": "DATE11",
                                          "start_date": "DATETIME20", "exit_date": "DATE11"})
    back, meta = pyreadstat.read_sav(str(folder / "parents.sav"))
    assert meta.original_variable_types["start_date"] == "DATETIME20"
    assert back["start_date"].isna().sum() == 1 and back["start_date"].dtype.kind == "M"
    data = load(folder)
    assert data.intake_log.n_errors == 0
    assert data.parents["start_date"].isna().tolist() == [False, True]
    assert str(data.parents.loc[0, "start_date"].date()) == "2023-01-20"


def test_file_in_the_folder_not_read_is_a_warning_with_the_closest_table(tmp_path):
    folder = dataset(tmp_path / "d", [row(1)])
    (folder / "Training survey.csv").write_text("practitioner_id,wave\nPR1,pre\n")
    (folder / "empty.csv").write_text("")
    data = load(folder)
    p = data.intake_log.problems.set_index("file")
    assert p.loc["Training survey.csv", "severity"] == "warning"
    assert p.loc["Training survey.csv", "hint"] == ("rename it to training_responses.csv if it "
                                                    "holds the training_responses table")
    assert p.loc["empty.csv", "severity"] == "info"
