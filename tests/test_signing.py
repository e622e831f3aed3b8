"""Signed LA summaries and the pool's checks of each summary: a forged or implausible
summary is refused with one plain sentence naming the file; published CSVs and figures
are safe whatever the LA codes hold."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from rpc_eval.cli import main
from rpc_eval.errors import RpcEvalError
from rpc_eval.plan import load_plan
from rpc_eval.regional import federated as F
from rpc_eval.signing import generate_keypair, load_private_key, sign_summary

PLAN = "analysis_plans/regional_evaluation_template_v1.yaml"
CODES = ("LA001", "LA002", "LA003")


@pytest.fixture(scope="module")
def plan():
    return load_plan(PLAN)


@pytest.fixture(scope="module")
def summaries(plan, synthetic):
    data, _ = synthetic("small", 7, n_las=3, n_parents=320)
    return {c: F.summarise(data, plan, la_code=c) for c in CODES}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A key pair per LA; the public keys in one folder, as a coordinator keeps them."""
    root = tmp_path_factory.mktemp("keys")
    trusted = root / "trusted"
    trusted.mkdir()
    private = {}
    for c in CODES:
        key, pub = generate_keypair(root / c.lower(), c)
        pub.rename(trusted / pub.name)
        private[c] = key
    return private, trusted


def _write(folder: Path, name: str, summary: dict) -> Path:
    p = folder / name
    p.write_text(json.dumps(summary, indent=2))
    return p


def _signed_files(tmp_path, summaries, keys) -> list[Path]:
    private, _ = keys
    return [_write(tmp_path, f"{c}.json", sign_summary(summaries[c], private[c]))
            for c in CODES]


def _rehash(obj: dict) -> dict:
    """What a forger does: recompute the plan hash and the checksum after editing."""
    obj["plan"]["sha256"] = F._sha(F._canonical(obj["plan"]["settings"]))
    obj["checksum"] = F._checksum(obj)
    return obj


# ------------------------------------------------------------------------------ keygen
def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path, capsys):
    assert main(["keygen", "--la", "LA001", "--out", str(tmp_path / "northtown")]) == 0
    said = capsys.readouterr().out
    key, pub = tmp_path / "northtown.key", tmp_path / "northtown.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = json.loads(pub.read_text())
    assert public["la_code"] == "LA001" and "private_key" not in public
    assert public["key_id"] in said and "never send it" in said
    # never overwritten
    before = key.read_bytes()
    assert main(["keygen", "--la", "LA001", "--out", str(tmp_path / "northtown")]) == 2
    assert "exists already" in capsys.readouterr().err
    assert key.read_bytes() == before


def test_private_key_readable_by_others_is_refused(tmp_path):
    key, _ = generate_keypair(tmp_path / "k", "LA001")
    os.chmod(key, 0o644)
    with pytest.raises(RpcEvalError, match="can be read by other users.*chmod 600"):
        load_private_key(key)


def test_sign_with_another_las_key_is_refused(summaries, keys):
    private, _ = keys
    with pytest.raises(RpcEvalError, match="is the key of LA002, but the summary is of LA001"):
        sign_summary(summaries["LA001"], private["LA002"])


# --------------------------------------------------------------------- trusted pooling
def test_signed_summaries_pool_and_name_each_key(tmp_path, summaries, keys, capsys):
    files = _signed_files(tmp_path, summaries, keys)
    out = tmp_path / "pooled"
    assert main(["pool", *map(str, files), "--out", str(out), "--trusted-keys",
                 str(keys[1])]) == 0
    cap = capsys.readouterr()
    assert "integrity not proven" not in cap.err
    for c in CODES:
        assert f"{c}.json: {c}, verified: key" in cap.out
        assert f"of {c} ({c.lower()}.pub)" in cap.out
    inputs = pd.read_csv(out / "tables" / "inputs.csv")
    assert inputs["signature"].str.startswith("verified: key").all()


def test_tampered_rehashed_summary_is_refused_under_trusted_keys(tmp_path, summaries, keys,
                                                                 capsys):
    files = _signed_files(tmp_path, summaries, keys)
    obj = json.loads(files[0].read_text())
    o = obj["outcomes"][0]
    o["mean_change"] = o["mean_change"] - 5.0  # a larger improvement, plausible on its own
    o["d_z"] = o["mean_change"] / o["sd_change"]
    o["se_d_z"] = math.sqrt(1 / o["n_paired"] + o["d_z"] ** 2 / (2 * o["n_paired"]))
    _rehash(obj)
    forged = _write(tmp_path, "LA001_forged.json", obj)
    F.read_summary(forged)  # the checksum cannot tell: anyone can recompute it
    args = [str(forged), *map(str, files[1:]), "--out", str(tmp_path / "o")]
    assert main(["pool", *args, "--trusted-keys", str(keys[1])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rpc-eval: LA001_forged.json: the signature does not match the "
                          "content") and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()
    # without trusted keys the same forgery pools, and the command says nothing is proven
    assert main(["pool", *args]) == 0
    cap = capsys.readouterr()
    assert "warning: integrity not proven" in cap.err
    html = (tmp_path / "o" / "index.html").read_text()
    assert "signatures were not checked" in html  # said on the page, in words


def test_unsigned_foreign_key_and_other_las_key_are_refused(tmp_path, summaries, keys):
    private, trusted = keys
    files = _signed_files(tmp_path, summaries, keys)
    unsigned = _write(tmp_path, "plain.json", summaries["LA001"])
    with pytest.raises(RpcEvalError, match="plain.json: the summary is not signed"):
        F.pool([unsigned, *files[1:]], trusted_keys=trusted)
    stranger, _ = generate_keypair(tmp_path / "stranger", "LA001")
    other = _write(tmp_path, "stranger.json", sign_summary(summaries["LA001"], stranger))
    with pytest.raises(RpcEvalError, match="stranger.json: .*not among the trusted keys"):
        F.pool([other, *files[1:]], trusted_keys=trusted)
    # LA002 signs a summary that claims to be LA001's
    claim = dict(summaries["LA002"], la_code="LA001")
    claim["checksum"] = F._checksum(claim)
    from rpc_eval.signing import _b64, canonical_bytes

    key, _, key_id = load_private_key(private["LA002"])
    claim["signature"] = {"algorithm": "Ed25519", "key_id": key_id, "la_code": "LA002",
                          "value": _b64(key.sign(canonical_bytes(claim)))}
    fake = _write(tmp_path, "claim.json", claim)
    with pytest.raises(RpcEvalError, match="claim.json: the summary of LA001 is signed with "
                                           "the key of LA002"):
        F.pool([fake, files[2]], trusted_keys=trusted)


def test_trusted_keys_folder_must_hold_keys(tmp_path, summaries, keys):
    files = _signed_files(tmp_path, summaries, keys)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RpcEvalError, match="holds no public key"):
        F.pool(files, trusted_keys=tmp_path / "empty")
    with pytest.raises(RpcEvalError, match="no such folder"):
        F.pool(files, trusted_keys=tmp_path / "nowhere")


def test_cli_summarise_signs(tmp_path, keys, capsys, synthetic):
    from rpc_eval.data import write

    data, _ = synthetic("small", 7, n_las=3, n_parents=320)
    folder = tmp_path / "data"
    write(data, folder, tables=["las", "interventions", "parents", "attendance",
                                "responses"])
    out = tmp_path / "s.json"
    assert main(["summarise", "--plan", PLAN, "--data", str(folder), "--la", "LA002",
                 "--today", "2030-01-01", "--out", str(out), "--sign-key",
                 str(keys[0]["LA002"])]) == 0
    assert "Signed with the key" in capsys.readouterr().out
    s = F.read_summary(out)
    from rpc_eval.signing import load_trusted_keys, verify_summary

    assert verify_summary(s, load_trusted_keys(keys[1]), "s.json", keys[1]).la_code == "LA002"
    assert main(["summarise", "--plan", PLAN, "--data", str(folder), "--la", "LA003",
                 "--today", "2030-01-01", "--out", str(tmp_path / "t.json"), "--sign-key",
                 str(keys[0]["LA002"])]) == 2
    assert "is the key of LA002, but the summary is of LA003" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


# ------------------------------------------------------------- each summary on its own
def _edit_funnel(**counts):
    def edit(o):
        o["funnel"].update(counts)
        o["completion"].update(n_started=o["funnel"]["started"],
                               n_completed=o["funnel"]["completed"])
    return edit


def _edit_outcome(**values):
    def edit(o):
        o["outcomes"][0].update(values)
    return edit


def _lower_threshold(o):
    o["disclosure"]["threshold"] = 3
    o["plan"]["settings"]["disclosure"]["threshold"] = 3
    o["funnel"]["ongoing"] = 3


def _threshold_differs(o):
    o["disclosure"]["threshold"] = 12


@pytest.mark.parametrize("edit, message", [
    (_edit_funnel(referred=10**30), "the funnel count 'referred' is"),
    (_edit_funnel(ongoing=-12), "holds a negative count"),
    (_edit_funnel(referred=150.0), "'referred' has the wrong type"),
    (_edit_funnel(referred=True), "'referred' has the wrong type"),
    (_edit_funnel(referred=60, started=80), "more parents started (80) than were referred"),
    (_edit_funnel(completed=500), "more parents completed (500) than started"),
    (_edit_funnel(completed=50, dropped_out=50, ongoing=50),
     "add up to 150, more than the 121 who started"),
    (lambda o: o["completion"].update(n_started=12), "differs from the funnel's started"),
    (_edit_outcome(se_change=0.01), "is not SD / sqrt(n)"),
    (_edit_outcome(mean_change=-30.0), "impossible on a scale whose scores span 21"),
    (_edit_outcome(d_z=2.5), "d_z or its SE does not follow"),
    (_edit_outcome(direction="sideways"), "the direction 'sideways' is not one of"),
    (_lower_threshold, "threshold of 3, below the lowest allowed (5)"),
    (_threshold_differs, "a summary cannot change the plan's disclosure settings"),
    (lambda o: o.update(la_code="   "), "the LA code is empty"),
    (lambda o: o.update(la_code="LA001\x1b[2J"), "text with control characters (LA001\\x1b[2J)"),
    (lambda o: o.update(la_name="North\u202etown"), "text with control characters"),
])
def test_implausible_summary_is_refused_naming_the_file(tmp_path, summaries, edit, message,
                                                        capsys):
    obj = json.loads(json.dumps(summaries["LA001"]))
    edit(obj)
    bad = _write(tmp_path, "odd.json", _rehash(obj))
    with pytest.raises(RpcEvalError) as err:
        F.read_summary(bad)
    msg = str(err.value)
    assert msg.startswith("odd.json: ") and message in msg, msg
    good = _write(tmp_path, "LA002.json", summaries["LA002"])
    assert main(["pool", str(bad), str(good), "--out", str(tmp_path / "o")]) == 2
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and "Traceback" not in err_text and "odd.json" in err_text


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(tmp_path, summaries, text, capsys):
    raw = json.dumps(summaries["LA001"], indent=2)
    value = repr(summaries["LA001"]["outcomes"][0]["mean_change"])
    assert value in raw
    bad = tmp_path / "nan.json"
    bad.write_text(raw.replace(value, text, 1))
    with pytest.raises(RpcEvalError, match="nan.json: the summary holds a number that is "
                                           "not finite"):
        F.read_summary(bad)
    good = _write(tmp_path, "LA002.json", summaries["LA002"])
    assert main(["pool", str(bad), str(good), "--out", str(tmp_path / "o")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    obj = json.loads(json.dumps(summaries["LA001"]))
    obj["outcomes"][0]["mean_change"] = float("nan")
    with pytest.raises(RpcEvalError, match="not finite"):
        F.pool([obj, summaries["LA002"]])


def test_plan_threshold_is_enforced(summaries, plan):
    obj = json.loads(json.dumps(summaries["LA001"]))
    obj["disclosure"]["threshold"] = 12
    obj["plan"]["settings"]["disclosure"]["threshold"] = 12
    _rehash(obj)
    other = json.loads(json.dumps(summaries["LA002"]))
    other["disclosure"]["threshold"] = 12
    other["plan"]["settings"]["disclosure"]["threshold"] = 12
    _rehash(other)
    with pytest.raises(RpcEvalError, match="threshold of 12, not the plan's 10"):
        F.pool([obj, other], plan=plan)


@pytest.mark.parametrize("code", ["la001", "LA001 ", " La 001"])
def test_la_codes_compare_ignoring_case_and_spaces(summaries, code):
    twin = dict(summaries["LA002"], la_code=code)
    twin["checksum"] = F._checksum(twin)
    with pytest.raises(RpcEvalError, match="the same LA appears in more than one summary"):
        F.pool([summaries["LA001"], twin, summaries["LA003"]])


# ----------------------------------------------------- hostile codes in published files
def test_hostile_la_codes_publish_no_formula_and_draw(tmp_path, summaries):
    from rpc_eval.report.pooled_report import write_pooled_report

    hostile = ['=HYPERLINK("http://x","click")', "+cmd|' /C calc'!A0", r"@SUM(1) $\foo$"]
    renamed = []
    for code, new in zip(CODES, hostile, strict=True):
        s = dict(summaries[code], la_code=new, la_name="-" + new)
        s["checksum"] = F._checksum(s)
        renamed.append(s)
    out = write_pooled_report(F.pool(renamed), tmp_path / "pooled")
    assert (out / "figures" / "forest_csi4_total.png").is_file()
    n_cells = 0
    for csv in (out / "tables").glob("*.csv"):
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        for v in [*frame.columns, *frame.to_numpy().ravel()]:
            n_cells += 1
            assert not v.startswith(("=", "+", "@", "\t", "\r")), (csv.name, v)
            if v.startswith("-"):
                float(v)
    assert n_cells > 100
    inputs = pd.read_csv(out / "tables" / "inputs.csv", dtype=str)
    assert sorted(inputs["la_code"]) == sorted("'" + h for h in hostile)
    svg = (out / "figures" / "forest_phq9_total.svg").read_text()
    assert "@SUM(1) $\\foo$" in svg  # drawn as written, not read as notation
