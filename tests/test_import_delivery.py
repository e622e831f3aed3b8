"""Wide deliveries (one row per parent) in through an import mapping.

Round trips: synthetic long data -> wide delivery (CSV, XLSX, SPSS .sav with value
labels and a user-missing code) -> import -> the same tables and the same analysis
results as the long data. Malformed deliveries and mappings are built here, and every
problem must name where it is (delivery row and column, or mapping line).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.change import outcome_tables
from rpc_eval.cli import main
from rpc_eval.data import import_delivery, load, load_mapping
from rpc_eval.data.mapping import MappingError
from rpc_eval.engagement import engagement_analysis
from rpc_eval.errors import DataQualityWarning, DataValidationError
from rpc_eval.instruments import score_responses
from rpc_eval.synthetic.wide import MISSING_CODE, to_wide, write_wide

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "docs" / "examples" / "wide_delivery_mapping.yaml"
TODAY = "2030-01-01"
COUNT_COLUMNS = ["sessions_attended", "first_session_date", "last_session_date"]


@pytest.fixture(scope="module")
def long_data(synthetic):
    data, _ = synthetic("small", 11)
    return data


def _sorted_responses(frame: pd.DataFrame) -> pd.DataFrame:
    key = ["parent_id", "respondent", "instrument", "wave", "item"]
    return frame.sort_values(key).reset_index(drop=True)


def _quiet_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load(path, today=TODAY)


# -- round trips -------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["csv", "xlsx", "sav"])
def round_trip(request, long_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"wide_{request.param}")
    mapping = MAPPING
    if request.param == "sav":
        # no missing_values in the mapping: -9 must come through as missing because the
        # .sav file declares it user-missing, not because the mapping says so
        text = MAPPING.read_text(encoding="utf-8").replace(
            'missing_values: ["-9", "Not answered"]\n', "")
        assert "missing_values" not in text
        mapping = folder / "mapping.yaml"
        mapping.write_text(text, encoding="utf-8")
    delivery = write_wide(long_data, folder / f"delivery.{request.param}")
    result = import_delivery(delivery, mapping, folder / "dataset")
    return request.param, delivery, result, _quiet_load(folder / "dataset")


def test_round_trip_tables_equal_the_long_data(round_trip, long_data):
    fmt, _, result, loaded = round_trip
    assert result.log.n_errors == 0 and result.log.n_warnings == 0, result.log.problems
    assert result.log.reconciles()
    assert loaded.intake_log.n_errors == 0
    pd.testing.assert_frame_equal(loaded.parents.drop(columns=COUNT_COLUMNS),
                                  long_data.parents.drop(columns=COUNT_COLUMNS))
    pd.testing.assert_frame_equal(loaded.las, long_data.las)
    pd.testing.assert_frame_equal(_sorted_responses(loaded.responses),
                                  _sorted_responses(long_data.responses))
    assert long_data.responses["value"].isna().any()  # unanswered items survived as blanks


def test_round_trip_counts_attendance(round_trip, long_data):
    _, _, _, loaded = round_trip
    att = long_data.attendance
    came = att[att["attended"].astype(bool)].groupby("parent_id").size()
    p = loaded.parents.set_index("parent_id")
    started = p["start_date"].notna()
    expected = came.reindex(p.index[started]).fillna(0).astype("int64")
    assert (p.loc[started, "sessions_attended"].astype("int64") == expected).all()
    assert p.loc[~started, "sessions_attended"].isna().all()
    assert len(loaded.attendance) == 0


def test_round_trip_analysis_results_equal(round_trip, long_data):
    _, _, _, loaded = round_trip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        a, b = engagement_analysis(long_data), engagement_analysis(loaded)
    pd.testing.assert_frame_equal(a.funnel, b.funnel)
    pd.testing.assert_frame_equal(a.retention.table, b.retention.table)
    pd.testing.assert_frame_equal(a.cumulative_incidence.table, b.cumulative_incidence.table)
    pd.testing.assert_frame_equal(a.gray, b.gray)
    pd.testing.assert_frame_equal(a.cox.coefficients, b.cox.coefficients)
    pd.testing.assert_frame_equal(a.fine_gray.coefficients, b.fine_gray.coefficients)
    pd.testing.assert_frame_equal(a.session_hazard, b.session_hazard)
    sa = score_responses(long_data.responses, long_data.instruments)
    sb = score_responses(loaded.responses, loaded.instruments)
    key = list(sa.columns[:5])
    pd.testing.assert_frame_equal(sa.sort_values(key).reset_index(drop=True),
                                  sb.sort_values(key).reset_index(drop=True))
    oa = outcome_tables(long_data, sample_norms=True)
    ob = outcome_tables(loaded, sample_norms=True)
    for name in oa:
        pd.testing.assert_frame_equal(oa[name], ob[name])


def test_sav_delivery_has_value_labels_and_user_missing(long_data, tmp_path):
    import pyreadstat

    delivery = write_wide(long_data, tmp_path / "delivery.sav")
    raw, meta = pyreadstat.read_sav(str(delivery), user_missing=True)
    assert meta.variable_value_labels["outcome"]
    assert meta.variable_value_labels["sdq1_t1"][0.0] == "Not true"
    assert (raw["sdq1_t1"] == MISSING_CODE).any()  # unanswered items carry the code
    assert meta.missing_ranges["sdq1_t1"] == [{"lo": MISSING_CODE, "hi": MISSING_CODE}]
    assert meta.readstat_variable_types["start_date"] == "double"
    assert meta.original_variable_types["start_date"].startswith("DATE")


# -- the worked example of docs/deliveries.md ---------------------------------------------
def test_worked_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    delivery, dataset = tmp_path / "delivery", tmp_path / "dataset"
    docs = (ROOT / "docs" / "deliveries.md").read_text(encoding="utf-8")
    commands = [
        f"rpc-eval synth --wide --scale small --out {delivery}",
        f"rpc-eval import {delivery}/delivery.csv --map "
        f"docs/examples/wide_delivery_mapping.yaml --out {dataset}",
        f"rpc-eval validate {dataset}",
        "rpc-eval run --plan analysis_plans/regional_evaluation_template_v1.yaml --data "
        f"{dataset} --out {tmp_path}/report",
    ]
    for command in commands:  # the page shows the same commands (with its own folders)
        shown = command.replace(str(delivery), "delivery").replace(str(dataset), "dataset")
        shown = shown.replace(str(tmp_path), ".")
        assert shown in docs, shown
        assert main(command.split()[1:] + ["--quiet"] * ("synth" in command)) == 0, command
    out = capsys.readouterr().out
    assert "Valid: every row passed the checks." in out
    wide = pd.read_csv(delivery / "delivery.csv", dtype=str)
    assert f"600 parents, one row each, {wide.shape[1]}" in " ".join(docs.split())
    assert len(wide) == 600
    answers = len(pd.read_csv(dataset / "responses.csv"))
    assert f"`responses.csv` ({answers:,} questionnaire answers)" in " ".join(docs.split())
    assert (tmp_path / "report" / "index.html").is_file()


# -- problems in the delivery ------------------------------------------------------------
@pytest.fixture(scope="module")
def delivery_frame(long_data):
    return to_wide(long_data).astype(object).where(lambda f: f.notna(), "")


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_bad_values_are_reported_and_counts_reconcile(delivery_frame, tmp_path):
    f = delivery_frame.copy()
    f["notes"] = "free text"
    done = f.index[f["qdate_t1"] != ""]
    r_label, r_date, r_item, r_text = int(done[0]), int(done[1]), int(done[2]), int(done[3])
    f.loc[r_label, "outcome"] = "Finished"
    f.loc[r_date, "referral_date"] = "2020-31-12"
    f.loc[r_item, "phq9_2_t1"] = "7"
    f.loc[r_text, "sdq3_t1"] = "often"
    f.loc[r_text, "sdq4_t1"] = "Certainly true"  # a label of the item: read as its code
    blank = pd.DataFrame([[""] * f.shape[1]], columns=f.columns)
    f = pd.concat([f.iloc[:5], blank, f.iloc[5:]], ignore_index=True)
    def pos(i):  # position in f after the blank row went in
        return i + (1 if i >= 5 else 0)

    def shift(i):  # spreadsheet row
        return pos(i) + 2

    res = import_delivery(_write_csv(f, tmp_path / "d.csv"), MAPPING)
    log = res.log
    errors = log.problems[log.problems["severity"] == "error"]
    found = {(int(r.row), r.column, r.value) for r in errors.itertuples()}
    assert found == {(shift(r_label), "outcome", "Finished"),
                     (shift(r_date), "referral_date", "2020-31-12"),
                     (shift(r_item), "phq9_2_t1", "7"),
                     (shift(r_text), "sdq3_t1", "often")}
    assert "label not found" in errors.loc[errors["column"] == "outcome", "problem"].iloc[0]
    assert "DD/MM/YYYY" in errors.loc[errors["column"] == "referral_date", "problem"].iloc[0]
    warn = log.problems[log.problems["severity"] == "warning"]
    assert list(warn["column"]) == ["notes"]
    t = log.tables.set_index("table")
    assert t.loc["parents", "rows_read"] == len(delivery_frame)
    assert t.loc["parents", "rows_excluded"] == 2 and t.loc["parents", "blank_rows_ignored"] == 1
    assert log.reconciles()
    kept = set(res.tables["parents"]["parent_id"])
    assert f.loc[pos(r_label), "parent_id"] not in kept
    r = res.tables["responses"]
    assert not ((r["parent_id"] == f.loc[pos(r_item), "parent_id"]) & (r["item"] == "phq9_02")
                & (r["wave"] == "baseline")).any()
    cell = r[(r["parent_id"] == f.loc[pos(r_text), "parent_id"]) & (r["item"] == "sdq_04")
             & (r["wave"] == "baseline")]
    assert cell["value"].tolist() == [2.0]
    # every answer excluded is in the log with its reason
    assert (log.excluded["table"] == "responses").sum() == 2


def test_undeclared_missing_code_is_an_error_not_a_blank(delivery_frame, tmp_path):
    f = delivery_frame.copy()
    row = int(f.index[f["qdate_t1"] != ""][0])
    f.loc[row, "gad7_1_t1"] = "-9"
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8").replace(
        'missing_values: ["-9", "Not answered"]\n', ""), encoding="utf-8")
    res = import_delivery(_write_csv(f, tmp_path / "d.csv"), mapping)
    errors = res.log.problems[res.log.problems["severity"] == "error"]
    assert errors[["row", "column", "value"]].values.tolist() == [[row + 2, "gad7_1_t1", "-9"]]
    assert "missing_values" in errors["hint"].iloc[0]
    # declared in the mapping, it is a blank answer
    res = import_delivery(tmp_path / "d.csv", MAPPING)
    assert res.log.n_errors == 0


def test_lookup_table_conflicts_exclude_the_rows(delivery_frame, tmp_path):
    f = delivery_frame.copy()
    la = f.loc[0, "la_code"]
    other = "North East" if f.loc[0, "region"] != "North East" else "London"
    f.loc[0, "region"] = other
    res = import_delivery(_write_csv(f, tmp_path / "d.csv"), MAPPING)
    n_la = int((f["la_code"] == la).sum())
    assert res.log.tables.set_index("table").loc["parents", "rows_excluded"] == n_la
    assert la not in set(res.tables["las"]["la_code"])
    assert res.log.reconciles()


def test_out_folder_with_a_dataset_is_not_overwritten(delivery_frame, tmp_path):
    path = _write_csv(delivery_frame, tmp_path / "d.csv")
    import_delivery(path, MAPPING, tmp_path / "ds")
    with pytest.raises(MappingError, match="already holds a dataset"):
        import_delivery(path, MAPPING, tmp_path / "ds")
    import_delivery(path, MAPPING, tmp_path / "ds", overwrite=True)
    assert (tmp_path / "ds" / "import_log" / "mapping.yaml").is_file()


def test_cli_reports_problems_and_exits_2(delivery_frame, tmp_path, capsys):
    f = delivery_frame.copy()
    f.loc[0, "outcome"] = "Finished"
    path = _write_csv(f, tmp_path / "d.csv")
    code = main(["import", str(path), "--map", str(MAPPING), "--out", str(tmp_path / "ds"),
                 "--today", TODAY, "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert "d.csv row 2 [outcome]: label not found" in captured.out
    assert "Traceback" not in captured.err + captured.out


def test_unreadable_delivery_is_a_plain_message(tmp_path, capsys):
    path = tmp_path / "d.txt"
    path.write_text("x")
    code = main(["import", str(path), "--map", str(MAPPING), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "files are not read" in err and "Traceback" not in err


# -- mapping errors name the line ---------------------------------------------------------
BASE = MAPPING.read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize("old, new, needle, message", [
    ("    la_name: la\n", "    la_name: la\n    colour: la\n", "colour:",
     "'colour' is not a column of the las table"),
    ("        Dropped out: dropped_out\n", "        Dropped out: left\n", "Dropped out: left",
     "'left' is not a code of the exit_reasons codebook"),
    ("t4: followup_12m}", "t4: followup_24m}", "t4: followup_24m",
     "'followup_24m' is not a wave"),
    ("    gad7: gad7_{item}_{wave}\n", "    gad8: gad7_{item}_{wave}\n", "gad8:",
     "unknown instrument 'gad8'"),
    ("        sdq_imp_home: sdqimp_home_{wave}\n", "        sdq_imp_house: sdqimp_home_{wave}\n",
     "sdq_imp_house", "'sdq_imp_house' is not an item of sdq_parent_4_17"),
    ("    phq9: phq9_{item}_{wave}\n", "    phq9: phq9_{item}\n", "phq9: phq9_{item}",
     "must contain {wave}"),
    ("    parent_id: parent_id\n    family_id", "    family_id", "  parents:",
     "the parents table needs column(s) parent_id"),
    ("date_format: DD/MM/YYYY", "date_format: DD/MM/YY", "date_format",
     "date_format 'DD/MM/YY' is not one of"),
    ("    workless: workless\n", "    workless: {column: workless, labels: codebook}\n",
     "workless:", "is not a coded column"),
    ("description:", "descripton:", "descripton", "unknown key 'descripton'"),
    ("    child_age: child_age\n", "    child_age: child_age\n   bad: [\n", "bad: [",
     "not valid YAML"),
])
def test_mapping_errors_name_the_line(tmp_path, old, new, needle, message):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as exc:
        load_mapping(path)
    msg = str(exc.value)
    assert message in msg
    line = _line_of(text, needle)
    assert msg.startswith(f"mapping.yaml line {line}:") or (
        "YAML" in message and msg.startswith("mapping.yaml line ")), msg


@pytest.mark.parametrize("old, new, needle, message", [
    ("    parent_age: age\n", "    parent_age: parent_agee\n", "parent_agee",
     "has no column 'parent_agee'"),
    ("    swemwbs: swemwbs{item}_{wave}\n", "    swemwbs: wemwbs{item}_{wave}\n", "wemwbs{item}",
     "matches the item columns of swemwbs"),
])
def test_mapping_that_does_not_fit_the_delivery_names_the_line(
        delivery_frame, tmp_path, old, new, needle, message):
    text = BASE.replace(old, new, 1)
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as exc:
        import_delivery(_write_csv(delivery_frame.iloc[:20], tmp_path / "d.csv"), path)
    assert str(exc.value).startswith(f"mapping.yaml line {_line_of(text, needle)}:")
    assert message in str(exc.value)


def test_mapping_error_in_the_cli_is_a_plain_message(delivery_frame, tmp_path, capsys):
    path = tmp_path / "mapping.yaml"
    path.write_text(BASE.replace("    parent_age: age\n", "    parent_age: agee\n"))
    code = main(["import", str(_write_csv(delivery_frame.iloc[:5], tmp_path / "d.csv")),
                 "--map", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"mapping.yaml line {_line_of(path.read_text(), 'agee')}" in err
    assert "did you mean 'age'?" in err and "Traceback" not in err


def test_items_without_columns_are_a_warning(delivery_frame, tmp_path):
    f = delivery_frame.drop(columns=[c for c in delivery_frame if c.startswith("sdqimp_leisure")])
    res = import_delivery(_write_csv(f, tmp_path / "d.csv"), MAPPING)
    warn = res.log.problems[res.log.problems["severity"] == "warning"]
    assert len(warn) == 1
    assert "1 item(s) of sdq_parent_4_17 have no column" in warn["problem"].iloc[0]
    assert "sdq_imp_leisure" in warn["problem"].iloc[0]
    assert not (res.tables["responses"]["item"] == "sdq_imp_leisure").any()
    assert np.isin("sdq_imp_home", res.tables["responses"]["item"].unique())


def test_spss_date_variable_with_missing_dates_is_read(tmp_path):
    import pyreadstat

    from rpc_eval.data.readers import read_table_file

    frame = pd.DataFrame({"parent_id": ["P1", "P2"],
                          "start_date": pd.to_datetime(["2020-01-02", None])})
    pyreadstat.write_sav(frame, str(tmp_path / "parents.sav"))
    raw = read_table_file(tmp_path / "parents.sav", "parents")
    assert raw.usable
    assert raw.frame["start_date"].tolist() == ["2020-01-02", ""]


def test_fast_csv_writer_writes_what_write_writes(long_data, tmp_path):
    import dataclasses

    from rpc_eval.data import write
    from rpc_eval.data.arrow_csv import write_csv

    las = long_data.las.copy()
    las.loc[0, "la_name"] = 'Synthetic, "quoted" LA'  # needs quoting: pandas writes it
    data = dataclasses.replace(long_data, las=las)
    write(data, tmp_path / "a")
    (tmp_path / "b").mkdir()
    for table in data.tables():
        expected = tmp_path / "a" / f"{table}.csv"
        if expected.exists():
            got = write_csv(data.table(table), table, tmp_path / "b" / f"{table}.csv")
            assert got.read_bytes() == expected.read_bytes(), table
    assert b'"Synthetic, ""quoted"" LA"' in (tmp_path / "b" / "las.csv").read_bytes()


def test_repeated_parents_are_reported_at_their_delivery_rows(delivery_frame, tmp_path):
    f = delivery_frame.iloc[:30].copy()
    copy = f.iloc[[3]]
    clash = f.iloc[[7]].copy()
    clash["age"] = "61" if clash["age"].iloc[0] != "61" else "62"
    f = pd.concat([f, copy, clash], ignore_index=True)
    res = import_delivery(_write_csv(f, tmp_path / "d.csv"), MAPPING)
    errors = res.log.problems[res.log.problems["severity"] == "error"]
    got = {(int(r.row), r.problem) for r in errors.itertuples()}
    assert got == {(32, "row is an exact copy of row 5"),
                   (9, "parent_id is not unique: rows 9, 33 share it with different values"),
                   (33, "parent_id is not unique: rows 9, 33 share it with different values")}
    assert len(res.tables["parents"]) == 29
    assert res.log.reconciles()
    assert res.load(today=TODAY).intake_log.n_errors == 0


def test_constant_values_and_ignored_columns(delivery_frame, tmp_path):
    f = delivery_frame.iloc[:40].copy()
    f["notes"] = "free text"
    text = BASE.replace("    delivery_mode: {column: mode, labels: codebook}\n",
                        "    delivery_mode: {value: online}\n")
    text = text.replace("missing_values:", "ignore: [notes]\nmissing_values:")
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    res = import_delivery(_write_csv(f, tmp_path / "d.csv"), path)
    warn = res.log.problems[res.log.problems["severity"] == "warning"]
    assert list(warn["column"]) == ["mode"]  # now unused; notes is ignored on purpose
    assert set(res.tables["parents"]["delivery_mode"]) == {"online"}
    path.write_text(text.replace("{value: online}", "{value: by_post}"), encoding="utf-8")
    with pytest.raises(MappingError, match="'by_post' is not a code of the delivery_modes"):
        import_delivery(tmp_path / "d.csv", path)


def test_workbook_sheet_is_chosen_by_the_mapping(delivery_frame, tmp_path):
    path = tmp_path / "d.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"about": ["notes"]}).to_excel(xw, sheet_name="Read me", index=False)
        delivery_frame.iloc[:25].to_excel(xw, sheet_name="Data", index=False)
    with pytest.raises(MappingError, match=r"d.xlsx \[sheet Read me\]\) has no column"):
        import_delivery(path, MAPPING)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("sheet: data\n" + BASE, encoding="utf-8")
    res = import_delivery(path, mapping)
    assert len(res.tables["parents"]) == 25 and res.log.n_errors == 0
    mapping.write_text("sheet: Delivery\n" + BASE, encoding="utf-8")
    with pytest.raises(DataValidationError, match="cannot be imported") as exc:
        import_delivery(path, mapping)
    assert "no sheet 'Delivery'" in str(exc.value.to_frame()["problem"].tolist())
