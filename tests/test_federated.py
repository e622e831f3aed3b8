"""Federated pooling: LA summaries (aggregate only), their checks, pooling and the CLI."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rpc_eval.cli import federated as cli
from rpc_eval.data import load, write
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import score_responses
from rpc_eval.plan import load_plan
from rpc_eval.regional import federated as F
from rpc_eval.stats.pooling import random_effects
from rpc_eval.synthetic import generate

PLAN = "analysis_plans/regional_evaluation_template_v1.yaml"
TABLES = ["las", "interventions", "parents", "attendance", "responses"]


@pytest.fixture(scope="module")
def plan():
    return load_plan(PLAN)


@pytest.fixture(scope="module")
def data():
    d, _ = generate("small", seed=7, n_las=4, n_parents=320)
    return d


def _one_la(data, code):
    p = data.parents[data.parents["la_code"] == code]
    ids = set(p["parent_id"])
    pr = data.practitioners[data.practitioners["la_code"] == code]
    tr = data.training_responses
    return replace(data, parents=p.reset_index(drop=True),
                   las=data.las[data.las["la_code"] == code].reset_index(drop=True),
                   attendance=data.attendance[data.attendance["parent_id"].isin(ids)],
                   responses=data.responses[data.responses["parent_id"].isin(ids)],
                   practitioners=pr,
                   training_responses=tr[tr["practitioner_id"].isin(pr["practitioner_id"])],
                   planning_tool=data.planning_tool[data.planning_tool["la_code"] == code])


@pytest.fixture(scope="module")
def la_files(data, plan, tmp_path_factory):
    """One CSV folder per LA, each read back and summarised to a JSON file."""
    root = tmp_path_factory.mktemp("las")
    codes = sorted(data.parents["la_code"].unique())
    files = []
    for code in codes:
        folder = root / code
        write(_one_la(data, code), folder, tables=TABLES)
        s = F.summarise(load(folder, today="2030-01-01"), plan)
        files.append(F.write_summary(s, root / f"{code}.json"))
    return files


def _parser():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    cli.register(sub)
    return ap


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


# ------------------------------------------------------------------------ the summary
def test_summary_holds_no_identifiers_and_no_small_counts(data, plan, la_files):
    t = plan.disclosure["threshold"]
    ids = set(data.parents["parent_id"]) | set(data.parents["family_id"])
    assert len(la_files) == 4
    for f in la_files:
        text = f.read_text()
        assert not any(i in text for i in ids)
        assert "parent_id" not in text and "family_id" not in text
        assert not re.search(r"\d{4}-\d{2}-\d{2}", text)       # no dates
        s = json.loads(text)
        counts = [s["funnel"][k] for k in F.FUNNEL_COUNTS]
        counts += [s["completion"]["n_started"], s["completion"]["n_completed"]]
        counts += [o["n_paired"] for o in s["outcomes"]]
        assert all(c is None or c == 0 or c >= t for c in counts)
        for o in s["outcomes"]:
            if o["n_paired"] is None:
                assert o["suppressed"] and o["mean_change"] is None and o["sd_change"] is None


def test_summary_needs_la_when_several(data, plan):
    with pytest.raises(RpcEvalError, match="--la"):
        F.summarise(data, plan)
    with pytest.raises(RpcEvalError, match="LA999"):
        F.summarise(data, plan, la_code="LA999")


def _crafted(data, n_ongoing, n_not_started, n_completed=30, n_dropped=25):
    """One LA's parents with chosen funnel counts."""
    base = data.parents.iloc[:1]
    rows = ([("completed", True)] * n_completed + [("dropped_out", True)] * n_dropped
            + [("ongoing", True)] * n_ongoing + [("not_started", False)] * n_not_started)
    p = pd.concat([base] * len(rows), ignore_index=True)
    p["parent_id"] = [f"X{i:05d}" for i in range(len(rows))]
    p["la_code"] = "LAX"
    p["exit_reason"] = [r for r, _ in rows]
    p.loc[[not s for _, s in rows], "start_date"] = pd.NaT
    return replace(data, parents=p, responses=data.responses.iloc[:0],
                   attendance=data.attendance.iloc[:0])


@pytest.mark.parametrize("ongoing,not_started", [(3, 40), (0, 4), (2, 3), (12, 11)])
def test_funnel_counts_cannot_be_recovered_by_differencing(data, plan, ongoing, not_started):
    t = plan.disclosure["threshold"]
    s = F.summarise(_crafted(data, ongoing, not_started), plan)
    f = s["funnel"]
    truth = {"referred": 55 + ongoing + not_started, "started": 55 + ongoing,
             "completed": 30, "dropped_out": 25, "ongoing": ongoing}
    for k, v in f.items():
        if k != "suppressed":
            assert v is None or v == truth[k]
    assert sorted(f["suppressed"]) == sorted(k for k in F.FUNNEL_COUNTS if f[k] is None)
    # started = completed + dropped_out + ongoing: never exactly one unknown
    assert sum(f[k] is None for k in ("started", "completed", "dropped_out", "ongoing")) != 1
    # not started = referred - started
    if f["referred"] is not None and f["started"] is not None:
        assert not 1 <= f["referred"] - f["started"] < t
    if 1 <= ongoing < t or 1 <= not_started < t:
        assert f["suppressed"]
    else:
        assert f["suppressed"] == []
    assert s["completion"]["n_started"] == f["started"]


# ------------------------------------------------------------------- reading and checks
def _rewrite(path: Path, change) -> Path:
    obj = json.loads(path.read_text())
    change(obj)
    out = path.with_name("edited_" + path.name)
    out.write_text(json.dumps(obj, indent=2))
    return out


def test_checksum_detects_tampering(la_files):
    def edit(o):
        o["outcomes"][0]["mean_change"] = -99.0
    bad = _rewrite(la_files[0], edit)
    with pytest.raises(RpcEvalError, match="changed after it was written"):
        F.read_summary(bad)
    assert F.read_summary(la_files[0])["la_code"] == "LA001"


def test_newer_schema_version_message(la_files):
    def edit(o):
        o["schema_version"] = F.SCHEMA_VERSION + 1
        o["checksum"] = F._checksum(o)
    with pytest.raises(RpcEvalError, match="made by a newer rpc_eval"):
        F.read_summary(_rewrite(la_files[0], edit))


def test_not_a_summary(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(RpcEvalError, match="x.json: .*not valid JSON"):
        F.read_summary(p)
    p.write_text('{"schema": "something else"}')
    with pytest.raises(RpcEvalError, match="not an rpc-eval LA summary"):
        F.read_summary(p)


def test_duplicate_la_names_both_files(la_files, tmp_path):
    copy = tmp_path / "again.json"
    copy.write_bytes(la_files[1].read_bytes())
    with pytest.raises(RpcEvalError, match=r"LA002 in LA002\.json and again\.json"):
        F.pool([*la_files, copy])


def test_incompatible_plans_named(la_files, plan):
    def edit(o):
        o["plan"]["settings"]["pooling"]["method"] = "DL"
        o["plan"]["sha256"] = F._sha(F._canonical(o["plan"]["settings"]))
        o["checksum"] = F._checksum(o)
    other = _rewrite(la_files[2], edit)
    with pytest.raises(RpcEvalError, match=r"different analysis plans.*edited_LA003\.json.*"
                                           r"settings that differ: pooling"):
        F.pool([la_files[0], la_files[1], other])
    with pytest.raises(RpcEvalError, match="at least 2 LAs"):
        F.pool([la_files[0]])


# ------------------------------------------------------------------------- round trip
def _raw_changes(data, plan, instrument, scale):
    """Per-LA complete-pair changes, computed without rpc_eval.change.tables."""
    sc = score_responses(data.responses, data.instruments, instruments=[instrument])
    sc = sc[(sc["scale"] == scale) & sc["valid"].fillna(False).astype(bool)]
    w = sc.pivot_table(index=["parent_id", "respondent"], columns="wave", values="score",
                       aggfunc="first")
    pre, post = plan["waves"]["pre"], plan["waves"]["post"]
    w = w[[pre, post]].dropna()
    ch = (w[post] - w[pre]).rename("change").reset_index()
    return ch.merge(data.parents[["parent_id", "la_code"]], on="parent_id")


def test_round_trip_pool_matches_random_effects_on_raw_data(data, plan, la_files):
    res = F.pool(la_files, plan=plan)
    t = plan.disclosure["threshold"]
    assert res.la_codes == ["LA001", "LA002", "LA003", "LA004"]
    for o in plan["pooling"]["outcomes"]:
        ch = _raw_changes(data, plan, o["instrument"], o["scale"])
        g = ch.groupby("la_code")["change"].agg(["mean", "std", "size"])
        g = g[g["size"] >= t]
        ref = random_effects(g["mean"], g["std"] / np.sqrt(g["size"]), method="REML",
                             knha=True)
        row = res.meta.set_index("outcome").loc[f"{o['instrument']}_{o['scale']}"]
        assert row["k"] == len(g) >= 2
        assert row["n_parents"] == g["size"].sum()
        for a, b in [(row["estimate"], ref.estimate), (row["std_error"], ref.std_error),
                     (row["tau2"], ref.tau2), (row["pred_low"], ref.pred_low)]:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    # completion: sum / sum over LAs that published both counts, equal to the raw counts
    p = data.parents
    raw = p.assign(s=p["start_date"].notna(),
                   c=p["start_date"].notna() & (p["exit_reason"] == "completed")
                   ).groupby("la_code")[["s", "c"]].sum()
    cl = res.completion_las.set_index("la_code")
    used = cl.index[cl["included"]]
    assert len(used) >= 2
    assert (cl.loc[used, "n_started"].astype(int) == raw.loc[used, "s"]).all()
    comp = res.completion.set_index("method")
    assert comp.at["pooled_proportion", "estimate"] == pytest.approx(
        raw.loc[used, "c"].sum() / raw.loc[used, "s"].sum(), rel=1e-12)
    assert comp.at["pooled_proportion", "ci_low"] < comp.at["pooled_proportion", "estimate"]
    # funnel totals: sum of the published counts; lower bound flagged where suppressed
    fl = res.funnel.set_index("stage")
    for k in F.FUNNEL_COUNTS:
        assert fl.at[k, "total"] == res.funnel_las[k].sum(skipna=True)
        assert fl.at[k, "total_is_lower_bound"] == bool(res.funnel_las[k].isna().any())


def test_completion_logit_continuity_correction(la_files):
    summaries = [F.read_summary(f) for f in la_files]
    s = summaries[0]
    s["completion"] = {"n_started": 20, "n_completed": 20, "suppressed": []}
    s["funnel"] = {"referred": 30, "started": 20, "completed": 20, "dropped_out": 0,
                   "ongoing": 0, "suppressed": []}
    s["checksum"] = F._checksum(s)
    res = F.pool(summaries)
    row = res.completion_las.set_index("la_code").loc[s["la_code"]]
    assert bool(row["continuity_correction"])
    assert row["logit"] == pytest.approx(np.log(20.5 / 0.5))
    assert row["se_logit"] == pytest.approx(np.sqrt(1 / 20.5 + 1 / 0.5))


def test_workbook_round_trip_gives_the_same_summary(data, plan, tmp_path):
    from rpc_eval.data.template import write_template

    one = _one_la(data, "LA003")
    path = write_template(tmp_path / "la003.xlsx", data=one)
    book = load(path, today="2030-01-01")
    assert book.intake_log.n_errors == 0 and len(book.parents) == len(one.parents)
    from_book = F.summarise(book, plan)
    direct = F.summarise(one, plan)
    assert from_book == direct


def test_one_stage_and_two_stage_agree(plan, default_data):
    d, _ = default_data
    out = F.one_stage_comparison(d, plan, "csi4:total")
    assert list(out["method"]) == ["two_stage", "one_stage"]
    two, one = out.iloc[0], out.iloc[1]
    assert two["k_las"] == one["k_las"] and two["n_parents"] == one["n_parents"]
    assert two["k_las"] >= 20
    # the two estimators weight LAs differently; they should agree to a small fraction
    # of a standard error on the same parents
    assert abs(two["estimate"] - one["estimate"]) < 0.25 * min(two["std_error"],
                                                             one["std_error"])
    assert one["std_error"] == pytest.approx(two["std_error"], rel=0.25)


# ------------------------------------------------------------------------------ the CLI
def test_cli_summarise_and_pool(data, la_files, tmp_path, capsys):
    folder = tmp_path / "all"
    write(data, folder, tables=TABLES)
    assert _run(["summarise", "--plan", PLAN, "--data", str(folder),
                 "--out", str(tmp_path / "s.json"), "--quiet"]) == 2
    assert "--la" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
    assert _run(["summarise", "--plan", PLAN, "--data", str(folder), "--la", "LA002",
                 "--today", "2030-01-01", "--out", str(tmp_path / "s.json")]) == 0
    said = capsys.readouterr().out
    assert "no row-level data" in said and "LA002" in said
    made = F.read_summary(tmp_path / "s.json")
    assert made["created_with"]["command"] == "rpc-eval summarise"
    same = ("created_with", "checksum")
    assert ({k: v for k, v in made.items() if k not in same}
            == {k: v for k, v in F.read_summary(la_files[1]).items() if k not in same})

    out = tmp_path / "pooled"
    files = [str(f) for f in la_files]
    assert _run(["pool", *files, "--out", str(out), "--plan", PLAN]) == 0
    said = capsys.readouterr().out
    assert "Pooled 4 LAs" in said and "prediction interval" in said and "I\u00b2" in said
    for name in ("index.html", "pooled.ods", "manifest.json", "tables/meta.csv",
                 "tables/funnel.csv", "tables/completion.csv",
                 "figures/forest_csi4_total.png", "figures/forest_csi4_total.svg"):
        assert (out / name).is_file(), name
    html = (out / "index.html").read_text()
    assert html.count("<img") == html.count(" alt='Forest plot") >= 2
    manifest = json.loads((out / "manifest.json").read_text())
    import hashlib
    assert [i["sha256"] for i in manifest["inputs"]] == [
        hashlib.sha256(f.read_bytes()).hexdigest() for f in la_files]
    assert manifest["outputs"]["tables/meta.csv"] == hashlib.sha256(
        (out / "tables/meta.csv").read_bytes()).hexdigest()

    # determinism: the same inputs give the same bytes
    out2 = tmp_path / "pooled2"
    assert _run(["pool", *files, "--out", str(out2), "--quiet"]) == 0
    for csv in sorted((out / "tables").glob("*.csv")):
        assert csv.read_bytes() == (out2 / "tables" / csv.name).read_bytes()
    again = json.loads((out2 / "manifest.json").read_text())
    # pooled.ods: odfpy declares extra XML namespaces after a process's first document, so
    # compare its cells; every other output must be byte-identical
    from rpc_eval.report.ods import read_ods_sheets
    assert read_ods_sheets(out / "pooled.ods") == read_ods_sheets(out2 / "pooled.ods")
    assert {k: v for k, v in again["outputs"].items() if k != "pooled.ods"} == {
        k: v for k, v in manifest["outputs"].items() if k != "pooled.ods"}
    assert again["inputs"] == manifest["inputs"]


def test_cli_errors_are_plain(data, la_files, tmp_path, capsys):
    tampered = _rewrite(la_files[0], lambda o: o["funnel"].update(referred=999))
    assert _run(["pool", str(tampered), str(la_files[1]), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "changed after it was written" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    assert _run(["pool", str(tmp_path / "missing.json"), str(la_files[1]),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err

    # data with a problem: listed, exit 2, nothing written
    folder = tmp_path / "bad"
    write(_one_la(data, "LA001"), folder, tables=TABLES)
    parents = pd.read_csv(folder / "parents.csv", dtype=str)
    parents.loc[0, "start_date"] = "1990-01-01"          # before the referral date
    parents.to_csv(folder / "parents.csv", index=False)
    out = tmp_path / "bad.json"
    assert _run(["summarise", "--plan", PLAN, "--data", str(folder), "--out", str(out),
                 "--today", "2030-01-01", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "No summary was written" in err and "before the referral date" in err
    assert not out.exists()


def test_summary_audit_finds_a_sum_pinned_within_the_threshold():
    """The LP audit behind the LA summary's suppression: a small sum that the published
    counts pin to 1..t-1 fails it; one whose range reaches 0 or t passes."""
    from rpc_eval.regional.federated import _intervals_protect

    # cells (not_started, completed, dropped_out, ongoing, other); published: referred
    referred = np.array([[1.0, 1, 1, 1, 1]])
    # completed alone may be anything from 0 to 14: protected
    assert _intervals_protect(referred, np.array([14.0]), [np.eye(5)[1]], 10)
    # the sum of all cells is the published 7 itself: pinned within 1..9
    assert not _intervals_protect(referred, np.array([7.0]), [np.ones(5)], 10)
    # started (cells 2-5) published as 12 and ongoing, other published as 0, 0:
    # completed + dropped_out is 12, completed alone ranges 0..12: protected
    rows = np.array([[0.0, 1, 1, 1, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])
    assert _intervals_protect(rows, np.array([12.0, 0, 0]), [np.eye(5)[1]], 10)
