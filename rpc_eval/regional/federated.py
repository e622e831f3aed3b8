"""Federated pooling: each local authority (LA) shares an aggregate summary, never rows.

A regional evaluation often cannot move parents' records between organisations. Instead
each LA runs :func:`summarise` on its own data (``rpc-eval summarise``) and sends the
coordinator a small JSON file of counts, means and standard deviations; the coordinator
runs :func:`pool` on the files (``rpc-eval pool``) and :func:`rpc_eval.report.pooled_report.write_pooled_report`.

What an LA summary holds
------------------------
* ``funnel``: parents referred, started, completed, dropped out and still in an
  intervention (``ongoing``), and ``completion`` (``n_started``, ``n_completed``).
* ``outcomes``: for each outcome of the plan's ``pooling`` section, the number of parents
  with a valid score at both of the plan's waves (``n_paired``), the mean and SD of the
  change ``post - pre``, its standard error ``sd / sqrt(n)``, the standardised mean change
  ``d_z = mean / sd`` and its large-sample standard error
  ``sqrt(1 / n + d_z^2 / (2 n))`` (Borenstein et al. 2009, eq. 4.28 with ``r`` absorbed
  into ``d_z``).
* the plan's name, version and the SHA-256 of its pooling-relevant settings
  (:func:`rpc_eval.plan.plan_summary` as canonical JSON, so editing comments in the YAML
  does not stop pooling), the package version, and a checksum of everything else. The
  checksum only catches accidental damage (anyone can recompute it); proof of origin
  and integrity is an Ed25519 ``signature`` by the LA's key (:mod:`rpc_eval.signing`),
  checked by :func:`pool` against trusted keys.

Every summary is checked on its own when read (:func:`read_summary`): format, types,
no NaN or infinity, counts within bounds and in order, SE = SD / sqrt(n), d_z from the
mean and SD, means and SDs possible on the scale, and a disclosure threshold that is the
plan's and at least the minimum.

No identifiers, dates or row-level values are written.

Disclosure control
------------------
With ``t`` the plan's disclosure threshold, a count of 1 to ``t - 1`` people is written
as ``null`` and named in ``suppressed``. Counts that could be worked out from the
published ones by adding and subtracting (``started = completed + dropped_out +
ongoing``, ``not started = referred - started`` ...) are protected too: the five funnel
counts split the referred parents into the cells *not started*, *completed*, *dropped
out*, *ongoing* (and *started, no exit reason*); every sum of cells that lies in
``1 .. t-1`` must not be a linear combination of the published counts. The smallest set
of counts meeting this is suppressed (ties: keep ``referred``, then ``started``, then
``completed``, then ``dropped_out``). Two checks: no such sum is a linear combination
of the published counts (exact linear algebra), and an attacker's audit by linear
programming -- the range each such sum can take given the published counts and every
count being non-negative must reach 0 or ``t``, never lie wholly within ``1 .. t-1``. An
outcome with ``n_paired`` in ``1 .. t-1`` has its count, mean, SD and effect size
suppressed together. Means and SDs of ``t`` or more parents are published.

Pooling
-------
* Outcomes: the LA mean changes are pooled with :func:`rpc_eval.stats.pooling.random_effects`
  (method and Hartung-Knapp-Sidik-Jonkman adjustment from the plan); LAs whose outcome
  was suppressed, or with no variation in change, are left out and listed.
* Funnel: each stage's total is the sum over the LAs that published that count. Where an
  LA suppressed a stage, the total is a **lower bound** (a suppressed count may be 0 or,
  when suppressed to stop differencing, any size), flagged in ``total_is_lower_bound``
  with the LAs named; nothing is imputed.
* Completion: ``sum completed / sum started`` over the LAs that published both counts,
  with a Wilson interval, and a random-effects meta-analysis of the LA proportions on the
  logit scale, ``y_i = log(c_i / (s_i - c_i))``, ``var = 1 / c_i + 1 / (s_i - c_i)``; when
  ``c_i = 0`` or ``c_i = s_i`` both counts get 0.5 added (as ``metafor::escalc(measure =
  "PLO", add = 1/2, to = "only0")``). The pooled logit and its intervals are transformed
  back to proportions.

References
----------
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). *Introduction to
Meta-Analysis*. Wiley. Burke DL, Ensor J, Riley RD (2017). Meta-analysis using individual
participant data: one-stage and two-stage approaches, and why they may differ.
*Stat Med* 36:855-875. Hundepool A et al. (2012). *Statistical Disclosure Control*.
Wiley, ch. 5 (secondary suppression).

R equivalent of the pooling::

    library(metafor)
    rma(yi = mean_change, sei = se_change, method = "REML", test = "knha")
    es <- escalc("PLO", xi = n_completed, ni = n_started, add = 1/2, to = "only0")
    rma(yi, vi, data = es, method = "REML", test = "knha")
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rpc_eval.errors import BoundaryFitWarning, RpcEvalError
from rpc_eval.results import ResultSet
from rpc_eval.signing import normalise_la_code

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "FUNNEL_COUNTS",
    "PooledResults",
    "ComparisonInputs",
    "comparison_inputs",
    "summarise",
    "write_summary",
    "read_summary",
    "pool",
    "one_stage_comparison",
    "settings_sha256",
]

SCHEMA = "rpc-eval-la-summary"
SCHEMA_VERSION = 1
#: Funnel counts of an LA summary, in order.
FUNNEL_COUNTS = ("referred", "started", "completed", "dropped_out", "ongoing")

# Leaves of the funnel partition: not started, completed, dropped out, ongoing, started
# without one of those exit reasons. Each published count is a sum of leaves.
_LEAVES = ("not_started", "completed", "dropped_out", "ongoing", "other_started")
_COUNT_VECTORS = {
    "referred": (1, 1, 1, 1, 1),
    "started": (0, 1, 1, 1, 1),
    "completed": (0, 1, 0, 0, 0),
    "dropped_out": (0, 0, 1, 0, 0),
    "ongoing": (0, 0, 0, 1, 0),
}
# Cost of suppressing each count (lower: suppressed first).
_KEEP_PRIORITY = {"ongoing": 1, "dropped_out": 2, "completed": 4, "started": 8,
                  "referred": 16}

_OUTCOME_KEYS = ("instrument", "scale", "direction", "n_paired", "mean_change", "sd_change",
                 "se_change", "d_z", "se_d_z", "suppressed", "reason")


# ---------------------------------------------------------------------------- JSON helpers
def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=True).encode("ascii")


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _checksum(summary: Mapping[str, Any]) -> str:
    return _sha(_canonical({k: v for k, v in summary.items()
                            if k not in ("checksum", "signature")}))


def _summary_bytes(summary: Mapping[str, Any]) -> bytes:
    return (json.dumps(summary, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=True)
            + "\n").encode("ascii")


def settings_sha256(plan) -> str:
    """SHA-256 of the plan's pooling-relevant settings as canonical JSON.

    The settings are :func:`rpc_eval.plan.plan_summary` (plan name, version, waves,
    outcomes, pooling and disclosure); the hash ignores the file's layout and comments.

    Examples
    --------
    >>> from rpc_eval.plan import load_plan
    >>> plan = load_plan("analysis_plans/regional_evaluation_template_v1.yaml")
    >>> len(settings_sha256(plan))
    64
    """
    from rpc_eval.plan import plan_summary

    return _sha(_canonical(dict(plan_summary(plan))))


def _num(x: Any) -> float | None:
    """A finite float, or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------- disclosure control
def _funnel_suppression(counts: Mapping[str, int], other_started: int, not_started: int,
                        threshold: int) -> list[str]:
    """Smallest set of funnel counts to suppress (see the module docstring)."""
    leaves = np.array([not_started, counts["completed"], counts["dropped_out"],
                       counts["ongoing"], other_started], dtype=float)
    sensitive = []
    for r in range(1, len(_LEAVES) + 1):
        for combo in itertools.combinations(range(len(_LEAVES)), r):
            v = np.zeros(len(_LEAVES))
            v[list(combo)] = 1.0
            if 1 <= v @ leaves <= threshold - 1:
                sensitive.append(v)
    if not sensitive:
        return []
    # A reader who knows validated data assumes "started, no exit reason" is 0; when it
    # is 0 that assumption is right, so treat it as known.
    known_extra = [np.eye(len(_LEAVES))[4]] if other_started == 0 else []
    names = list(FUNNEL_COUNTS)
    patterns = []
    for r in range(len(names) + 1):
        for combo in itertools.combinations(names, r):
            patterns.append((r, sum(_KEEP_PRIORITY[c] for c in combo), combo))
    for _, _, combo in sorted(patterns):
        rows = [np.array(_COUNT_VECTORS[c], float) for c in names if c not in combo]
        rows += known_extra
        if not rows:
            return list(combo)
        k = np.vstack(rows)
        rank = np.linalg.matrix_rank(k)
        if all(np.linalg.matrix_rank(np.vstack([k, v])) > rank for v in sensitive) and \
                _intervals_protect(k, k @ leaves, sensitive, threshold):
            return [c for c in names if c in combo]
    return names  # pragma: no cover - suppressing everything always works


def _intervals_protect(rows: np.ndarray, published: np.ndarray,
                       sensitive: Sequence[np.ndarray], threshold: int) -> bool:
    """The attacker's audit of one suppression pattern (as in the reports'
    :mod:`rpc_eval.report.disclosure`): for every small sum of cells, the range a reader
    can infer from the published counts, with every cell a count (>= 0), must reach 0 or
    the threshold -- never lie wholly within 1 .. threshold-1."""
    from scipy.optimize import linprog

    n = rows.shape[1]
    for v in sensitive:
        ends = []
        for sign in (1.0, -1.0):
            res = linprog(sign * v, A_eq=rows, b_eq=published, bounds=[(0, None)] * n,
                          method="highs")
            if res.status == 3:  # unbounded above: reaches the threshold
                ends.append(math.inf if sign < 0 else 0.0)
                continue
            if res.status != 0:  # pragma: no cover - the true counts are feasible
                return False
            ends.append(sign * res.fun)
        lo, hi = ends
        if lo > 0.5 and hi < threshold - 0.5:
            return False
    return True


# ------------------------------------------------------------------------------- summarise
def _plan_outcomes(plan) -> list[dict[str, str]]:
    pooling = plan.get("pooling")
    if not pooling:
        raise RpcEvalError(f"the plan {plan.name} has no 'pooling' section, so it does not say "
                           "which outcomes to summarise; use a plan made for pooling, e.g. "
                           "analysis_plans/regional_evaluation_template_v1.yaml")
    return [{"instrument": o["instrument"], "scale": o["scale"]} for o in pooling["outcomes"]]


def _plan_waves(plan) -> tuple[str, str]:
    w = plan.get("waves") or {}
    return w.get("pre", "baseline"), w.get("post", "end")


def _scores(data, instruments: Sequence[str]) -> pd.DataFrame:
    """Scores of the named instruments (only those with answers)."""
    from rpc_eval.instruments import score_responses

    present = set(pd.unique(data.responses["instrument"].dropna()))
    names = [n for n in dict.fromkeys(instruments) if n in present]
    if not names:
        return pd.DataFrame(columns=["parent_id", "respondent", "wave", "instrument", "scale",
                                     "score", "valid"])
    return score_responses(data.responses, data.instruments, instruments=names)


def _changes(scores: pd.DataFrame, instrument: str, scale: str,
             waves: tuple[str, str]) -> pd.DataFrame:
    """Complete pairs of one scale: ``parent_id``, (``respondent``), ``pre``, ``post``,
    ``change``."""
    from rpc_eval.change.tables import pair_waves

    sub = scores[(scores["instrument"] == instrument) & (scores["scale"] == scale)]
    cols = ["parent_id", "pre", "post", "change"]
    if sub.empty:
        return pd.DataFrame(columns=cols)
    try:
        pairs = pair_waves(sub, waves=waves, id_col="parent_id")
    except RpcEvalError as exc:
        if "no valid scores at wave" in str(exc):
            return pd.DataFrame(columns=cols)
        raise
    pairs = pairs.dropna(subset=["pre", "post"]).copy()
    pairs["change"] = pairs["post"] - pairs["pre"]
    return pairs.reset_index(drop=True)


def _outcome_entry(change: np.ndarray, instrument: str, scale: str, direction: str,
                   threshold: int) -> dict[str, Any]:
    n = int(change.size)
    entry: dict[str, Any] = {"instrument": instrument, "scale": scale, "direction": direction,
                             "n_paired": n, "mean_change": None, "sd_change": None,
                             "se_change": None, "d_z": None, "se_d_z": None,
                             "suppressed": False, "reason": None}
    if n == 0:
        entry["reason"] = "no parent had a valid score at both waves"
        return entry
    if n < threshold:
        entry.update(n_paired=None, suppressed=True,
                     reason=f"fewer than {threshold} parents had a valid score at both waves "
                            "(suppressed)")
        return entry
    mean = float(change.mean())
    sd = float(change.std(ddof=1))
    entry.update(mean_change=mean, sd_change=sd, se_change=sd / math.sqrt(n))
    if sd > 0:
        dz = mean / sd
        entry.update(d_z=dz, se_d_z=math.sqrt(1.0 / n + dz * dz / (2.0 * n)))
    else:
        entry["reason"] = "every parent changed by the same amount, so the change has no SD"
    return entry


def _build_summary(parents: pd.DataFrame, scores: pd.DataFrame | None, plan, la_code: str,
                   la_name: str | None, command: str, registry=None,
                   changes: Mapping[tuple[str, str], np.ndarray] | None = None
                   ) -> dict[str, Any]:
    """The summary of one LA from its parents and scores; ``changes`` (outcome ->
    the LA's complete-pair changes, as :func:`_changes` gives them) stands in for the
    scores when the changes of every LA were formed at once."""
    from rpc_eval import __version__
    from rpc_eval.change.tables import scale_direction
    from rpc_eval.plan import plan_summary

    t = int(plan.disclosure["threshold"])
    reason = parents["exit_reason"]
    started = parents["start_date"].notna()
    counts = {
        "referred": int(len(parents)),
        "started": int(started.sum()),
        "completed": int((started & (reason == "completed")).sum()),
        "dropped_out": int((started & (reason == "dropped_out")).sum()),
        "ongoing": int((started & (reason == "ongoing")).sum()),
    }
    other = counts["started"] - counts["completed"] - counts["dropped_out"] - counts["ongoing"]
    supp = _funnel_suppression(counts, other, counts["referred"] - counts["started"], t)
    funnel: dict[str, Any] = {k: (None if k in supp else v) for k, v in counts.items()}
    funnel["suppressed"] = supp
    completion = {"n_started": funnel["started"], "n_completed": funnel["completed"],
                  "suppressed": [n for n, k in (("n_started", "started"),
                                                ("n_completed", "completed")) if k in supp]}
    waves = _plan_waves(plan)
    outcomes = []
    for o in _plan_outcomes(plan):
        direction = scale_direction(o["instrument"], o["scale"], registry=registry)
        if changes is None:
            change = _changes(scores, o["instrument"], o["scale"], waves)["change"].to_numpy(
                float)
        else:
            change = changes[(o["instrument"], o["scale"])]
        outcomes.append(_outcome_entry(change, o["instrument"], o["scale"], direction, t))
    settings = json.loads(_canonical(dict(plan_summary(plan))))
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "la_code": str(la_code),
        "la_name": None if la_name is None or pd.isna(la_name) else str(la_name),
        "plan": {"name": plan.name, "plan": plan["plan"], "version": int(plan["version"]),
                 "sha256": _sha(_canonical(settings)), "settings": settings},
        "package_version": __version__,
        "created_with": {"software": "rpc_eval", "version": __version__, "command": command},
        "disclosure": {"threshold": t},
        "waves": {"pre": waves[0], "post": waves[1]},
        "funnel": funnel,
        "completion": completion,
        "outcomes": outcomes,
    }
    summary["checksum"] = _checksum(summary)
    return summary


def _la_codes(data) -> list[str]:
    return sorted(str(c) for c in pd.unique(data.parents["la_code"].dropna()))


def _restrict(data, la_code: str):
    """``data`` with only one LA's parents and their rows."""
    parents = data.parents[data.parents["la_code"] == la_code]
    ids = set(parents["parent_id"])
    return replace(
        data,
        parents=parents.reset_index(drop=True),
        las=data.las[data.las["la_code"] == la_code].reset_index(drop=True),
        attendance=data.attendance[data.attendance["parent_id"].isin(ids)].reset_index(
            drop=True),
        responses=data.responses[data.responses["parent_id"].isin(ids)].reset_index(drop=True),
    )


def _la_name(data, la_code: str) -> str | None:
    las = data.las
    if "la_name" not in las.columns:
        return None
    hit = las.loc[las["la_code"] == la_code, "la_name"]
    return None if hit.empty else hit.iloc[0]


def summarise(data, plan, *, la_code: str | None = None,
              command: str = "rpc_eval.regional.federated.summarise") -> dict[str, Any]:
    """An aggregate-only summary of one LA's data, ready to share for pooling.

    Parameters
    ----------
    data : EvaluationData
        One LA's data, or several LAs' (then ``la_code`` says which).
    plan : Plan
        The analysis plan (:func:`rpc_eval.plan.load_plan`); its ``pooling.outcomes``,
        ``waves`` and ``disclosure.threshold`` are used.
    la_code : str, optional
        The LA to summarise; required when ``data`` holds more than one LA. Only that
        LA's parents and their questionnaire answers are used.
    command : str
        What made the summary, recorded in ``created_with``.

    Returns
    -------
    dict
        JSON-ready: ``schema``, ``schema_version``, ``la_code``, ``la_name``, ``plan``
        (``name``, ``plan``, ``version``, ``sha256`` of ``settings``, ``settings``),
        ``package_version``, ``created_with``, ``disclosure`` (``threshold``),
        ``waves``, ``funnel`` (:data:`FUNNEL_COUNTS` and ``suppressed``),
        ``completion`` (``n_started``, ``n_completed``, ``suppressed``), ``outcomes``
        (one dict per plan pooling outcome: ``instrument, scale, direction, n_paired,
        mean_change, sd_change, se_change, d_z, se_d_z, suppressed, reason``) and
        ``checksum`` (SHA-256 of the canonical JSON of everything else). Suppressed
        values are ``None``. The formulas and the disclosure rule are in the module
        docstring.

    Raises
    ------
    RpcEvalError
        Several LAs and no ``la_code``, an unknown ``la_code``, a plan without a
        ``pooling`` section.

    Notes
    -----
    Changes are ``post - pre`` per parent (and respondent) with a valid score at both
    of the plan's waves, as :func:`rpc_eval.change.tables.pair_waves`. R equivalent of
    an outcome entry: ``d <- post - pre; c(n = length(d), mean(d), sd(d),
    sd(d) / sqrt(length(d)))``.

    Examples
    --------
    >>> from rpc_eval.plan import load_plan
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=2, n_las=3, n_parents=150)
    >>> plan = load_plan("analysis_plans/regional_evaluation_template_v1.yaml")
    >>> s = summarise(data, plan, la_code="LA001")
    >>> s["schema"], s["la_code"], [o["instrument"] for o in s["outcomes"]]
    ('rpc-eval-la-summary', 'LA001', ['csi4', 'phq9', 'sdq_parent_4_17'])
    """
    codes = _la_codes(data)
    if la_code is None:
        if len(codes) > 1:
            shown = ", ".join(codes[:12]) + (" ..." if len(codes) > 12 else "")
            raise RpcEvalError(f"the data hold {len(codes)} LAs ({shown}); an LA summary is of "
                               "one LA: say which with --la CODE (la_code=...)")
        if not codes:
            raise RpcEvalError("the data have no parents, so there is nothing to summarise")
        la_code = codes[0]
    elif la_code not in codes:
        raise RpcEvalError(f"no parents with la_code {la_code!r} in the data (LAs in the "
                           f"data: {', '.join(codes) or 'none'})")
    one = _restrict(data, la_code) if len(codes) > 1 else data
    outcomes = _plan_outcomes(plan)
    scores = _scores(one, [o["instrument"] for o in outcomes])
    return _build_summary(one.parents, scores, plan, la_code, _la_name(data, la_code), command,
                          data.instruments)


# -------------------------------------------------------------------------- read / write
def _fail(where: str, message: str) -> RpcEvalError:
    return RpcEvalError(f"{where}: {message}")


def _check_type(where: str, obj: Mapping[str, Any], key: str, types, *, nullable=False):
    if key not in obj:
        raise _fail(where, f"not a valid LA summary: '{key}' is missing")
    v = obj[key]
    if v is None and nullable:
        return v
    if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise _fail(where, f"not a valid LA summary: '{key}' has the wrong type")
    if not isinstance(v, types):
        raise _fail(where, f"not a valid LA summary: '{key}' has the wrong type")
    return v


#: The note of a pool made without trusted keys.
UNVERIFIED_NOTE = ("Integrity not proven: the summaries' signatures were not checked (no "
                   "trusted keys were given), so nothing shows who wrote each summary or "
                   "that it was not changed on the way; pool with --trusted-keys to prove "
                   "it.")

#: Largest count a summary may hold (parents of one LA): larger is not a real LA.
MAX_COUNT = 10_000_000
_DIRECTIONS = ("higher_is_worse", "higher_is_better")


def _non_finite(obj: Any) -> bool:
    """Whether ``obj`` (parsed JSON) holds a NaN or an infinite number anywhere."""
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_non_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_non_finite(v) for v in obj)
    return False


def _control_text(obj: Any) -> str | None:
    """The first text in ``obj`` (parsed JSON, keys included) holding a control or
    formatting character (terminal escapes, bidirectional overrides), or None."""
    import unicodedata

    if isinstance(obj, str):
        bad = any(unicodedata.category(ch) in ("Cc", "Cf") for ch in obj)
        return obj if bad else None
    if isinstance(obj, dict):
        for k, v in obj.items():
            hit = _control_text(k) or _control_text(v)
            if hit is not None:
                return hit
    if isinstance(obj, list):
        for v in obj:
            hit = _control_text(v)
            if hit is not None:
                return hit
    return None


def _validate(summary: Any, where: str) -> dict[str, Any]:
    """Check a summary dict (schema, types, checksum, then plausibility:
    :func:`_check_plausible`); return it."""
    if isinstance(summary, dict) and _non_finite(summary):
        raise _fail(where, "the summary holds a number that is not finite (NaN or "
                           "infinity), which rpc-eval summarise never writes")
    control = _control_text(summary) if isinstance(summary, dict) else None
    if control is not None:
        shown = control.encode("unicode_escape").decode("ascii")[:60]
        raise _fail(where, f"the summary holds text with control characters ({shown}), "
                           "which rpc-eval summarise never writes")
    if not isinstance(summary, dict) or summary.get("schema") != SCHEMA:
        raise _fail(where, "this is not an rpc-eval LA summary (made by rpc-eval summarise)")
    version = summary.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail(where, "not a valid LA summary: 'schema_version' is missing")
    if version > SCHEMA_VERSION:
        from rpc_eval import __version__

        raise _fail(where, f"the summary was made by a newer rpc_eval (summary format "
                           f"version {version}; this rpc_eval {__version__} reads version "
                           f"{SCHEMA_VERSION} and older), so upgrade rpc_eval and try again")
    if version < 1:
        raise _fail(where, f"unknown summary format version {version}")
    if not isinstance(summary.get("checksum"), str):
        raise _fail(where, "not a valid LA summary: its checksum is missing")
    if _checksum(summary) != summary["checksum"]:
        raise _fail(where, "the checksum does not match: the file was changed after it was "
                           "written; ask the LA to run rpc-eval summarise again and send the "
                           "new file unedited")
    _check_type(where, summary, "la_code", str)
    _check_type(where, summary, "la_name", str, nullable=True)
    _check_type(where, summary, "package_version", str)
    plan = _check_type(where, summary, "plan", dict)
    for k, ty in (("name", str), ("plan", str), ("version", int), ("sha256", str),
                  ("settings", dict)):
        _check_type(where, plan, k, ty)
    if _sha(_canonical(plan["settings"])) != plan["sha256"]:
        raise _fail(where, "the plan settings do not match their hash: the file was changed "
                           "after it was written")
    disc = _check_type(where, summary, "disclosure", dict)
    t = _check_type(where, disc, "threshold", int)
    waves = _check_type(where, summary, "waves", dict)
    _check_type(where, waves, "pre", str)
    _check_type(where, waves, "post", str)
    fun = _check_type(where, summary, "funnel", dict)
    for k in FUNNEL_COUNTS:
        _check_type(where, fun, k, int, nullable=True)
    _check_type(where, fun, "suppressed", list)
    comp = _check_type(where, summary, "completion", dict)
    for k in ("n_started", "n_completed"):
        _check_type(where, comp, k, int, nullable=True)
    outs = _check_type(where, summary, "outcomes", list)
    for o in outs:
        if not isinstance(o, dict):
            raise _fail(where, "not a valid LA summary: an outcome is not a mapping")
        for k in ("instrument", "scale", "direction"):
            _check_type(where, o, k, str)
        _check_type(where, o, "n_paired", int, nullable=True)
        for k in ("mean_change", "sd_change", "se_change", "d_z", "se_d_z"):
            _check_type(where, o, k, (int, float), nullable=True)
        _check_type(where, o, "suppressed", bool)
        _check_type(where, o, "reason", str, nullable=True)
    counts = [fun[k] for k in FUNNEL_COUNTS] + [o["n_paired"] for o in outs]
    if any(c is not None and c < 0 for c in counts):
        raise _fail(where, "the summary holds a negative count, which rpc-eval summarise "
                           "never writes; ask the LA for a new summary")
    if any(c is not None and 1 <= c < t for c in counts):
        raise _fail(where, f"the summary holds a count below the disclosure threshold {t}; "
                           "it was not made by rpc-eval summarise")
    _check_plausible(summary, where)
    return summary


def _check_plausible(summary: dict[str, Any], where: str) -> None:
    """Refuse a summary whose values rpc-eval summarise could not have written: the
    LA code empty; a disclosure threshold below the minimum or different from the plan
    settings it carries; counts out of range or out of order (completed, dropped out
    and ongoing each at most started, started at most referred, their sum at most
    started); completion counts that differ from the funnel's; an outcome whose SE is
    not SD / sqrt(n), whose d_z is not mean / SD, with a mean or SD beyond what the
    scale's range allows, or with numbers despite being suppressed."""
    from rpc_eval.plan import MIN_THRESHOLD

    def bad(message: str) -> RpcEvalError:
        return _fail(where, f"{message}, which rpc-eval summarise never writes; ask the LA "
                            "for a new summary")

    if not normalise_la_code(summary["la_code"]):
        raise bad("the LA code is empty")
    t = summary["disclosure"]["threshold"]
    plan_t = (summary["plan"]["settings"].get("disclosure") or {}).get("threshold")
    if t < MIN_THRESHOLD:
        raise _fail(where, f"the summary uses a disclosure threshold of {t}, below the "
                           f"lowest allowed ({MIN_THRESHOLD}); it cannot be pooled")
    if t != plan_t:
        raise _fail(where, f"the summary uses a disclosure threshold of {t} but its plan "
                           f"says {plan_t}; a summary cannot change the plan's disclosure "
                           "settings")
    fun, comp = summary["funnel"], summary["completion"]
    for k in FUNNEL_COUNTS:
        if fun[k] is not None and fun[k] > MAX_COUNT:
            raise bad(f"the funnel count '{k}' is {fun[k]:,}, more than {MAX_COUNT:,}")
    ref, started = fun["referred"], fun["started"]
    if ref is not None and started is not None and started > ref:
        raise bad(f"more parents started ({started:,}) than were referred ({ref:,})")
    parts = [fun[k] for k in ("completed", "dropped_out", "ongoing")]
    for k, v in zip(("completed", "dropped_out", "ongoing"), parts, strict=True):
        if v is None:
            continue
        if started is not None and v > started:
            raise bad(f"more parents {k.replace('_', ' ')} ({v:,}) than started ({started:,})")
        if ref is not None and v > ref:
            raise bad(f"more parents {k.replace('_', ' ')} ({v:,}) than were referred "
                      f"({ref:,})")
    if started is not None and None not in parts and sum(parts) > started:
        raise bad(f"completed, dropped out and ongoing add up to {sum(parts):,}, more than "
                  f"the {started:,} who started")
    for k, f in (("started", "n_started"), ("completed", "n_completed")):
        if comp[f] != fun[k]:
            raise bad(f"the completion count {f} ({comp[f]}) differs from the funnel's "
                      f"{k} ({fun[k]})")
    for o in summary["outcomes"]:
        _check_outcome(o, where, bad)


def _check_outcome(o: dict[str, Any], where: str, bad) -> None:
    name = f"{o['instrument']} {o['scale']}"
    n, mean, sd, se = o["n_paired"], o["mean_change"], o["sd_change"], o["se_change"]
    stats = (mean, sd, se, o["d_z"], o["se_d_z"])
    if o["direction"] not in _DIRECTIONS:
        raise bad(f"{name}: the direction {o['direction']!r} is not one of "
                  f"{', '.join(_DIRECTIONS)}")
    if n is not None and n > MAX_COUNT:
        raise bad(f"{name}: {n:,} parents is more than {MAX_COUNT:,}")
    if o["suppressed"] or not n:
        if any(v is not None for v in stats):
            raise bad(f"{name}: the outcome is suppressed or has no parents but carries "
                      "numbers")
        return
    if mean is None or sd is None or se is None:
        raise bad(f"{name}: {n:,} parents but no mean, SD or SE of the change")
    if n < 2:
        raise bad(f"{name}: an SD of change needs at least 2 parents")
    if sd < 0 or not math.isclose(se, sd / math.sqrt(n), rel_tol=1e-6, abs_tol=1e-12):
        raise bad(f"{name}: the SE of the change ({se:g}) is not SD / sqrt(n) "
                  f"({sd:g} / sqrt({n}))")
    span = _scale_span(o["instrument"], o["scale"])
    if span is not None and (abs(mean) > span or sd > span * math.sqrt(n / (n - 1))):
        raise bad(f"{name}: a mean change of {mean:g} (SD {sd:g}) is impossible on a scale "
                  f"whose scores span {span:g} points")
    if sd > 0:
        dz = mean / sd
        if o["d_z"] is None or o["se_d_z"] is None                 or not math.isclose(o["d_z"], dz, rel_tol=1e-6, abs_tol=1e-12)                 or not math.isclose(o["se_d_z"], math.sqrt(1 / n + dz * dz / (2 * n)),
                                    rel_tol=1e-6, abs_tol=1e-12):
            raise bad(f"{name}: d_z or its SE does not follow from the mean, SD and n")
    elif o["d_z"] is not None or o["se_d_z"] is not None:
        raise bad(f"{name}: d_z is given although the SD of change is 0")


def _scale_span(instrument: str, scale: str) -> float | None:
    """Highest minus lowest score of a scale in the package's registry (None when the
    instrument or its range is not known here)."""
    from rpc_eval.instruments import default_registry

    try:
        rng = default_registry().get(instrument).scale(scale).range
    except (RpcEvalError, KeyError, ValueError):
        return None
    return None if rng is None else float(rng[1] - rng[0])


def write_summary(summary: Mapping[str, Any], path: str | Path) -> Path:
    """Write an LA summary as JSON (sorted keys, indented; the same summary gives the same
    bytes). The summary is checked first, so an edited dict is refused.

    Examples
    --------
    >>> import tempfile
    >>> from rpc_eval.plan import load_plan
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=2, n_las=3, n_parents=150)
    >>> plan = load_plan("analysis_plans/regional_evaluation_template_v1.yaml")
    >>> s = summarise(data, plan, la_code="LA002")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_summary(s, f"{d}/la.json")
    ...     read_summary(p) == s
    True
    """
    p = Path(path)
    _validate(dict(summary), p.name)
    p.write_bytes(_summary_bytes(summary))
    return p


class _NonFinite(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NonFinite(name)


def read_summary(path: str | Path) -> dict[str, Any]:
    """Read and check an LA summary written by :func:`write_summary`.

    Raises
    ------
    RpcEvalError
        The file is missing or not JSON, is not an LA summary, was made by a newer
        rpc_eval ("made by a newer rpc_eval"), its checksum does not match ("the file was
        changed after it was written"), or a required key is missing or of the wrong
        type. Each message starts with the file name.

    Examples
    --------
    See :func:`write_summary`.
    """
    p = Path(path)
    if not p.is_file():
        raise RpcEvalError(f"{p}: no such file")
    try:
        obj = json.loads(p.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except _NonFinite:
        raise _fail(p.name, "the summary holds a number that is not finite (NaN or "
                            "infinity), which rpc-eval summarise never writes") from None
    except UnicodeDecodeError:
        raise _fail(p.name, "this is not an LA summary (not a text file)") from None
    except json.JSONDecodeError as exc:
        raise _fail(p.name, f"this is not an LA summary: not valid JSON (line {exc.lineno}: "
                            f"{exc.msg})") from None
    return _validate(obj, p.name)


# ------------------------------------------------------------------------------ pooling
@dataclass(repr=False)
class PooledResults(ResultSet):
    """Result of :func:`pool` (a :class:`~rpc_eval.results.ResultSet`).

    ``repr`` is one line; ``summary()`` gives the tables below (``as_text()``,
    ``as_html()``, ``tables``, main table ``meta`` first); Jupyter shows an index of the
    parts; :meth:`in_words` is the plain-English summary ``rpc-eval pool`` prints.

    Attributes
    ----------
    meta : DataFrame
        One row per pooled outcome: ``outcome, instrument, scale, direction, k, n_parents,
        estimate, std_error, ci_low, ci_high, p_value, tau2, tau, i2, q, q_p_value,
        pred_low, pred_high, method, knha, las_left_out, note``. ``estimate`` is the
        pooled mean change (post - pre, in scale points); missing when fewer than two LAs
        could be pooled (``note`` says why).
    studies : DataFrame
        One row per outcome x LA: ``outcome, instrument, scale, la_code, n_paired,
        mean_change, sd_change, se_change, d_z, se_d_z, included, reason, ci_low,
        ci_high, weight`` (weight in percent of the LAs pooled).
    funnel : DataFrame
        One row per funnel stage: ``stage, total, n_las_reported, n_las_suppressed,
        total_is_lower_bound, las_suppressed``.
    funnel_las : DataFrame
        The LAs' published counts: ``la_code`` and :data:`FUNNEL_COUNTS` (missing where
        suppressed).
    completion : DataFrame
        Two rows (``method`` = ``pooled_proportion`` and ``random_effects_logit``):
        ``method, k, n_started, n_completed, estimate, ci_low, ci_high, tau2, i2,
        pred_low, pred_high, note`` on the proportion scale.
    completion_las : DataFrame
        ``la_code, n_started, n_completed, proportion, continuity_correction, logit,
        se_logit, included, reason``.
    inputs : DataFrame
        ``file, la_code, la_name, sha256, plan, package_version, signature`` (the key that
        verified the summary, or ``not checked``).
    models : dict
        Outcome name -> :class:`~rpc_eval.stats.pooling.MetaAnalysisResult`; the completion
        meta-analysis is under ``"completion"``.
    plan : dict
        ``name``, ``sha256`` and ``settings`` of the plan every summary was made with.
    notes : list of str
        Plain-English notes (LAs left out, lower bounds).
    """

    meta: pd.DataFrame
    studies: pd.DataFrame
    funnel: pd.DataFrame
    funnel_las: pd.DataFrame
    completion: pd.DataFrame
    completion_las: pd.DataFrame
    inputs: pd.DataFrame
    models: dict[str, Any] = field(repr=False)
    plan: dict[str, Any] = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def la_codes(self) -> list[str]:
        return list(self.inputs["la_code"])

    def in_words(self) -> str:
        """A plain-English summary for people (what ``rpc-eval pool`` prints)."""
        return _plain_summary(self)

    # -- display (rpc_eval.results.ResultSet)
    def _title(self) -> str:
        return "Pooled LA summaries"

    def _facts(self) -> list[tuple[str, Any]]:
        return [("LAs", len(self.inputs)), ("Outcomes", len(self.meta)),
                ("Plan", self.plan.get("name", ""))]

    def _parts(self) -> dict[str, Any]:
        return {"meta": self.meta, "studies": self.studies, "funnel": self.funnel,
                "funnel_las": self.funnel_las, "completion": self.completion,
                "completion_las": self.completion_las, "inputs": self.inputs}

    def forest_plots(self) -> dict[str, Any]:
        """One matplotlib Figure per pooled outcome (named by the outcome) and one for
        completion (``"completion"``, proportions), from
        :meth:`MetaAnalysisResult.forest_plot`."""
        from rpc_eval.safe_text import escape_mathtext as esc

        def drawable(model):
            # LA codes come from the summaries: draw them as written (a "$" in a code
            # must not be read as mathematical notation)
            return replace(model, studies=model.studies.assign(
                label=[esc(str(v)) for v in model.studies["label"]]))

        waves = self.plan["settings"].get("waves") or {}
        pre, post = esc(str(waves.get("pre", "pre"))), esc(str(waves.get("post", "post")))
        figs = {}
        for row in self.meta.itertuples(index=False):
            model = self.models.get(row.outcome)
            if model is None:
                continue
            name = esc(_label(row.instrument, row.scale))
            ax = drawable(model).forest_plot(
                xlabel=f"Mean change in {name} ({_better(row.direction)})",
                title=f"{name}: change from {pre} to {post}, by LA")
            figs[row.outcome] = ax.figure
        comp = self.models.get("completion")
        if comp is not None:
            ax = drawable(comp).forest_plot(xlabel="Proportion of starters who completed",
                                  title="Completion by LA (random effects, logit scale)",
                                  transform=_expit, refline=None)
            figs["completion"] = ax.figure
        return figs


def _expit(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, float)))


def _label(instrument: str, scale: str) -> str:
    return instrument if scale == "total" else f"{instrument} {scale}"


def _better(direction: str) -> str:
    return "lower is better" if direction == "higher_is_worse" else "higher is better"


def _plan_mismatch(items: list[tuple[str, dict]]) -> str | None:
    groups: dict[tuple[str, str], list[str]] = {}
    settings: dict[tuple[str, str], dict] = {}
    for name, s in items:
        key = (s["plan"]["name"], s["plan"]["sha256"])
        groups.setdefault(key, []).append(name)
        settings[key] = s["plan"]["settings"]
    if len(groups) == 1:
        return None
    parts = [f"{n} (settings {h[:8]}) in {', '.join(files)}" for (n, h), files in groups.items()]
    keys = sorted({k for st in settings.values() for k in st})
    first = next(iter(settings.values()))
    differ = [k for k in keys if any(st.get(k) != first.get(k) for st in settings.values())]
    return ("the summaries were made with different analysis plans or plan settings and "
            "cannot be pooled: " + "; ".join(parts)
            + (f" (settings that differ: {', '.join(differ)})" if differ else "")
            + "; every LA must summarise with the same plan")


def pool(summaries: Sequence[Any], *, plan=None,
         names: Sequence[str] | None = None,
         trusted_keys: str | Path | None = None) -> PooledResults:
    """Pool LA summaries: outcomes by random-effects meta-analysis, funnel and completion.

    Parameters
    ----------
    summaries : sequence of dict or path
        LA summaries (:func:`summarise`) or files written by :func:`write_summary`
        (read with :func:`read_summary`).
    plan : Plan, optional
        When given, every summary must have been made with this plan's settings.
    names : sequence of str, optional
        Names of the summaries in messages (default: the file names, or
        ``"<la_code> summary"`` for dicts).
    trusted_keys : str or Path, optional
        A folder of LAs' public keys (``.pub`` from ``rpc-eval keygen``). When given,
        every summary must carry a signature that verifies under the key of its own LA
        (:func:`rpc_eval.signing.verify_summary`); ``inputs.signature`` names the key.
        Without it, nothing proves who wrote a summary or that it was not changed (its
        checksum only catches accidental damage, as anyone can recompute it), and a note
        says so.

    Returns
    -------
    PooledResults
        See :class:`PooledResults`; the methods are in the module docstring.

    Raises
    ------
    RpcEvalError
        A bad file (schema, implausible values: see :func:`read_summary`), a missing or
        failing signature under ``trusted_keys``, fewer than two LAs, an LA in two
        summaries (codes compared ignoring case and spaces; both files named), summaries
        made with different plans or settings (the files named), or a mismatch with
        ``plan`` (including its disclosure threshold).

    Notes
    -----
    R equivalent: ``metafor::rma(yi = mean_change, sei = se_change, method = "REML",
    test = "knha")``; completion: ``escalc("PLO", ..., add = 1/2, to = "only0")`` then
    ``rma``; pooled proportion: ``prop.test(sum(c), sum(s), correct = FALSE)``.

    Examples
    --------
    >>> from rpc_eval.plan import load_plan
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=2, n_las=3, n_parents=150)
    >>> plan = load_plan("analysis_plans/regional_evaluation_template_v1.yaml")
    >>> res = pool([summarise(data, plan, la_code=c) for c in ("LA001", "LA002", "LA003")])
    >>> res.la_codes, list(res.meta["outcome"])
    (['LA001', 'LA002', 'LA003'], ['csi4_total', 'phq9_total', 'sdq_parent_4_17_total_difficulties'])
    """
    from rpc_eval.stats.intervals import wilson_interval
    from rpc_eval.stats.pooling import random_effects

    if isinstance(summaries, str | Path | dict):
        summaries = [summaries]
    items: list[tuple[str, dict, str]] = []
    for i, s in enumerate(summaries):
        if isinstance(s, str | Path):
            p = Path(s)
            obj = read_summary(p)
            name = names[i] if names else p.name
            digest = _sha(p.read_bytes())
        else:
            name = names[i] if names else f"{s.get('la_code', i + 1)} summary" \
                if isinstance(s, dict) else f"summary {i + 1}"
            obj = _validate(s, name)
            digest = _sha(_summary_bytes(obj))
        items.append((name, obj, digest))
    signed_by: dict[str, str] = {}
    if trusted_keys is not None:
        from rpc_eval.signing import load_trusted_keys, verify_summary

        keys = load_trusted_keys(trusted_keys)
        for name, obj, _ in items:
            k = verify_summary(obj, keys, name, trusted_keys)
            signed_by[name] = f"verified: key {k.key_id} of {k.la_code} ({k.file.name})"
    if plan is not None:
        want_t = plan.disclosure["threshold"]
        for name, obj, _ in items:
            if obj["disclosure"]["threshold"] != want_t:
                raise RpcEvalError(f"{name}: the summary uses a disclosure threshold of "
                                   f"{obj['disclosure']['threshold']}, not the plan's "
                                   f"{want_t}; a summary cannot change the plan's "
                                   "disclosure settings")
    by_la: dict[str, list[str]] = {}
    for name, s, _ in items:
        by_la.setdefault(normalise_la_code(s["la_code"]), []).append(name)
    dups = {la: f for la, f in by_la.items() if len(f) > 1}
    if dups:
        raise RpcEvalError("the same LA appears in more than one summary (LA codes are "
                           "compared ignoring case and spaces): " + "; ".join(
            f"{la} in {' and '.join(f)}" for la, f in sorted(dups.items()))
            + "; keep one summary per LA")
    if len(items) < 2:
        raise RpcEvalError(f"pooling needs summaries from at least 2 LAs; got {len(items)}"
                           + (f" ({items[0][0]})" if items else ""))
    msg = _plan_mismatch([(n, s) for n, s, _ in items])
    if msg:
        raise RpcEvalError(msg)
    if plan is not None:
        want = settings_sha256(plan)
        if items[0][1]["plan"]["sha256"] != want:
            raise RpcEvalError(f"the summaries were made with plan "
                               f"{items[0][1]['plan']['name']} (settings "
                               f"{items[0][1]['plan']['sha256'][:8]}), not with {plan.name} "
                               f"(settings {want[:8]}) given by --plan")
    items.sort(key=lambda x: x[1]["la_code"])
    first = items[0][1]
    settings = first["plan"]["settings"]
    pooling = settings.get("pooling") or {}
    method, knha = pooling.get("method", "REML"), bool(pooling.get("knha", False))
    notes: list[str] = []

    # outcomes
    meta_rows, study_rows, models = [], [], {}
    for j, o in enumerate(first["outcomes"]):
        key = f"{o['instrument']}_{o['scale']}"
        rows = []
        for _, s, _ in items:
            e = s["outcomes"][j] if j < len(s["outcomes"]) else None
            if e is None or (e["instrument"], e["scale"]) != (o["instrument"], o["scale"]):
                raise RpcEvalError(f"{s['la_code']}: the summary's outcomes do not match the "
                                   "plan's")
            ok = (not e["suppressed"] and e["se_change"] is not None and e["se_change"] > 0)
            reason = None if ok else (e["reason"] or "no usable change")
            rows.append({"outcome": key, "instrument": o["instrument"], "scale": o["scale"],
                         "la_code": s["la_code"], "n_paired": e["n_paired"],
                         "mean_change": e["mean_change"], "sd_change": e["sd_change"],
                         "se_change": e["se_change"], "d_z": e["d_z"], "se_d_z": e["se_d_z"],
                         "included": ok, "reason": reason, "ci_low": np.nan,
                         "ci_high": np.nan, "weight": np.nan})
        inc = [r for r in rows if r["included"]]
        left_out = [r["la_code"] for r in rows if not r["included"]]
        row: dict[str, Any] = {"outcome": key, "instrument": o["instrument"],
                               "scale": o["scale"], "direction": o["direction"],
                               "k": len(inc), "n_parents": int(sum(r["n_paired"] for r in inc)),
                               "method": method, "knha": knha,
                               "las_left_out": ", ".join(left_out), "note": ""}
        if len(inc) >= 2:
            m = random_effects([r["mean_change"] for r in inc], [r["se_change"] for r in inc],
                               method=method, knha=knha, labels=[r["la_code"] for r in inc])
            models[key] = m
            t = m.table.iloc[0]
            row.update(estimate=m.estimate, std_error=m.std_error, ci_low=m.ci_low,
                       ci_high=m.ci_high, p_value=m.p_value, tau2=m.tau2, tau=m.tau, i2=m.i2,
                       q=m.q, q_p_value=float(t["q_p_value"]), pred_low=m.pred_low,
                       pred_high=m.pred_high)
            st = m.studies.set_index("label")
            for r in inc:
                r.update(ci_low=float(st.at[r["la_code"], "ci_low"]),
                         ci_high=float(st.at[r["la_code"], "ci_high"]),
                         weight=float(st.at[r["la_code"], "weight"]))
        else:
            row["note"] = (f"only {len(inc)} LA(s) reported this outcome; at least 2 are "
                           "needed to pool")
        if left_out:
            notes.append(f"{_label(o['instrument'], o['scale'])}: {len(left_out)} LA(s) left "
                         f"out of the pooled change ({', '.join(left_out)}): their numbers "
                         "were suppressed or unusable.")
        meta_rows.append(row)
        study_rows += rows
    meta_cols = ["outcome", "instrument", "scale", "direction", "k", "n_parents", "estimate",
                 "std_error", "ci_low", "ci_high", "p_value", "tau2", "tau", "i2", "q",
                 "q_p_value", "pred_low", "pred_high", "method", "knha", "las_left_out", "note"]
    meta = pd.DataFrame(meta_rows).reindex(columns=meta_cols)
    for c in meta_cols[6:18]:
        meta[c] = meta[c].astype("float64")
    study_cols = ["outcome", "instrument", "scale", "la_code", "n_paired", "mean_change",
                  "sd_change", "se_change", "d_z", "se_d_z", "included", "reason", "ci_low",
                  "ci_high", "weight"]
    studies = pd.DataFrame(study_rows, columns=study_cols)
    studies["n_paired"] = studies["n_paired"].astype("Int64")
    for c in ("mean_change", "sd_change", "se_change", "d_z", "se_d_z", "ci_low", "ci_high",
              "weight"):
        studies[c] = pd.to_numeric(studies[c]).astype("float64")

    # funnel
    fl = pd.DataFrame([{"la_code": s["la_code"], **{k: s["funnel"][k] for k in FUNNEL_COUNTS}}
                       for _, s, _ in items])
    for k in FUNNEL_COUNTS:
        fl[k] = fl[k].astype("Int64")
    f_rows = []
    for k in FUNNEL_COUNTS:
        supp = list(fl.loc[fl[k].isna(), "la_code"])
        f_rows.append({"stage": k, "total": int(fl[k].sum(skipna=True)),
                       "n_las_reported": int(fl[k].notna().sum()),
                       "n_las_suppressed": len(supp), "total_is_lower_bound": bool(supp),
                       "las_suppressed": ", ".join(supp)})
        if supp:
            notes.append(f"Funnel, {k}: {len(supp)} LA(s) suppressed this count "
                         f"({', '.join(supp)}); the total is the sum of the other LAs and so "
                         "a lower bound.")
    funnel_tab = pd.DataFrame(f_rows)

    # completion
    c_rows = []
    for _, s, _ in items:
        n_s, n_c = s["completion"]["n_started"], s["completion"]["n_completed"]
        r = {"la_code": s["la_code"], "n_started": n_s, "n_completed": n_c,
             "proportion": np.nan, "continuity_correction": False, "logit": np.nan,
             "se_logit": np.nan, "included": False, "reason": None}
        if n_s is None or n_c is None:
            r["reason"] = "count suppressed"
        elif n_s == 0:
            r["reason"] = "nobody started"
        else:
            cc = n_c == 0 or n_c == n_s
            a, b = (n_c + 0.5, n_s - n_c + 0.5) if cc else (float(n_c), float(n_s - n_c))
            r.update(proportion=n_c / n_s, continuity_correction=cc, logit=math.log(a / b),
                     se_logit=math.sqrt(1 / a + 1 / b), included=True)
        c_rows.append(r)
    comp_las = pd.DataFrame(c_rows)
    for c in ("n_started", "n_completed"):
        comp_las[c] = comp_las[c].astype("Int64")
    inc = comp_las[comp_las["included"]]
    left = list(comp_las.loc[~comp_las["included"], "la_code"])
    if left:
        notes.append(f"Completion: {len(left)} LA(s) left out ({', '.join(left)}) because a "
                     "count was suppressed or nobody started.")
    sum_s, sum_c = int(inc["n_started"].sum()), int(inc["n_completed"].sum())
    base = {"k": len(inc), "n_started": sum_s, "n_completed": sum_c}
    comp = []
    if sum_s > 0:
        lo, hi = wilson_interval(sum_c, sum_s)
        comp.append({"method": "pooled_proportion", **base, "estimate": sum_c / sum_s,
                     "ci_low": float(np.asarray(lo)), "ci_high": float(np.asarray(hi)),
                     "tau2": np.nan, "i2": np.nan, "pred_low": np.nan, "pred_high": np.nan,
                     "note": "sum completed / sum started; Wilson interval"})
    else:
        comp.append({"method": "pooled_proportion", **base, "note": "nobody started"})
    if len(inc) >= 2:
        m = random_effects(inc["logit"].to_numpy(float), inc["se_logit"].to_numpy(float),
                           method=method, knha=knha, labels=list(inc["la_code"]))
        models["completion"] = m
        ex = _expit([m.estimate, m.ci_low, m.ci_high, m.pred_low, m.pred_high])
        comp.append({"method": "random_effects_logit", **base, "estimate": ex[0],
                     "ci_low": ex[1], "ci_high": ex[2], "tau2": m.tau2, "i2": m.i2,
                     "pred_low": ex[3], "pred_high": ex[4],
                     "note": f"{method} random effects on the logit scale"
                             + (", Hartung-Knapp" if knha else "")
                             + "; 0.5 added to both counts of LAs with 0 or all completing"})
    else:
        comp.append({"method": "random_effects_logit", **base,
                     "note": "fewer than 2 LAs with both counts"})
    completion = pd.DataFrame(comp).reindex(columns=[
        "method", "k", "n_started", "n_completed", "estimate", "ci_low", "ci_high", "tau2",
        "i2", "pred_low", "pred_high", "note"])
    for c in ("estimate", "ci_low", "ci_high", "tau2", "i2", "pred_low", "pred_high"):
        completion[c] = completion[c].astype("float64")

    inputs = pd.DataFrame([{"file": n, "la_code": s["la_code"], "la_name": s["la_name"],
                            "sha256": d, "plan": s["plan"]["name"],
                            "package_version": s["package_version"],
                            "signature": signed_by.get(n, "not checked")}
                           for n, s, d in items])
    if trusted_keys is None:
        notes.append(UNVERIFIED_NOTE)
    versions = sorted(set(inputs["package_version"]))
    if len(versions) > 1:
        notes.append(f"The summaries were made with different rpc_eval versions "
                     f"({', '.join(versions)}); the plan settings agree, so they were pooled.")
    return PooledResults(meta=meta, studies=studies, funnel=funnel_tab, funnel_las=fl,
                         completion=completion, completion_las=comp_las, inputs=inputs,
                         models=models, plan={"name": first["plan"]["name"],
                                              "sha256": first["plan"]["sha256"],
                                              "settings": settings}, notes=notes)


# -------------------------------------------------------------------------- plain English
def _f(x: float, d: int = 2) -> str:
    return "not available" if x is None or not np.isfinite(x) else f"{x:.{d}f}"


def _outcome_sentences(row) -> str:
    name = _label(row.instrument, row.scale)
    if not np.isfinite(row.estimate):
        return f"{name}: not pooled ({row.note})."
    worse = row.direction == "higher_is_worse"
    if row.ci_high < 0:
        verdict = "an improvement" if worse else "a worsening"
    elif row.ci_low > 0:
        verdict = "a worsening" if worse else "an improvement"
    else:
        verdict = "not clearly different from no change"
    return (f"{name}: scores changed by {_f(row.estimate)} points on average (95% CI "
            f"{_f(row.ci_low)} to {_f(row.ci_high)}; {_better(row.direction)}), "
            f"{verdict}. {row.k} LAs, {row.n_parents:,} parents. I\u00b2 = {row.i2:.0f}% of the "
            f"variation between LAs is beyond chance; in a new LA the average change would "
            f"be expected between {_f(row.pred_low)} and {_f(row.pred_high)} (95% prediction "
            "interval).")


def _plain_summary(res: PooledResults) -> str:
    lines = [f"Pooled {len(res.inputs)} LAs ({', '.join(res.la_codes)}) with plan "
             f"{res.plan['name']}; each LA shared only an aggregate summary."]
    for row in res.meta.itertuples(index=False):
        lines.append("  " + _outcome_sentences(row))
    c = res.completion.set_index("method")
    if np.isfinite(c.at["pooled_proportion", "estimate"]):
        r = c.loc["pooled_proportion"]
        lines.append(f"  Completion: {int(r['n_completed']):,} of {int(r['n_started']):,} "
                     f"parents who started completed ({r['estimate']:.1%}, 95% CI "
                     f"{r['ci_low']:.1%} to {r['ci_high']:.1%}; {int(r['k'])} LAs).")
    if np.isfinite(c.at["random_effects_logit", "estimate"]):
        r = c.loc["random_effects_logit"]
        lines.append(f"  Average LA completion (random effects): {r['estimate']:.1%} (95% CI "
                     f"{r['ci_low']:.1%} to {r['ci_high']:.1%}), I\u00b2 = {r['i2']:.0f}%.")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- report
def _parse_outcome(outcome: Any, plan) -> tuple[str, str]:
    if isinstance(outcome, Mapping):
        inst, scale = outcome["instrument"], outcome.get("scale")
    elif isinstance(outcome, tuple | list):
        inst, scale = outcome[0], outcome[1] if len(outcome) > 1 else None
    else:
        inst, _, scale = str(outcome).partition(":")
        scale = scale or None
    for o in _plan_outcomes(plan):
        if o["instrument"] == inst and (scale is None or o["scale"] == scale):
            return o["instrument"], o["scale"]
    raise RpcEvalError(f"outcome {outcome!r} is not one of the plan's pooling outcomes ("
                       + ", ".join(f"{o['instrument']}:{o['scale']}"
                                   for o in _plan_outcomes(plan)) + ")")


@dataclass
class ComparisonInputs:
    """What :func:`one_stage_comparison` needs for every pooled outcome of a plan, made
    once: ``pooled`` (:func:`pool` of every LA's summary) and ``changes`` (outcome ->
    every parent's complete-pair change with its ``la_code``)."""

    pooled: PooledResults
    changes: dict[tuple[str, str], pd.DataFrame]


def comparison_inputs(data, plan) -> ComparisonInputs:
    """Every LA's summary, pooled, and each pooled outcome's changes: the part of
    :func:`one_stage_comparison` common to all of a plan's outcomes.

    Each LA's summary is the one :func:`summarise` makes from that LA's data. The
    questionnaires are scored once and each outcome's pairs formed once over all LAs,
    then split by LA (a parent's pair depends only on that parent's scores, and the
    split keeps the order, so each LA's changes are the ones its own data give).

    Raises
    ------
    RpcEvalError
        Fewer than 2 LAs.
    """
    codes = _la_codes(data)
    if len(codes) < 2:
        raise RpcEvalError("the comparison needs data from at least 2 LAs")
    outcomes = _plan_outcomes(plan)
    scores = _scores(data, [o["instrument"] for o in outcomes])
    parents = data.parents
    la_of = dict(zip(parents["parent_id"], parents["la_code"], strict=True))
    waves = _plan_waves(plan)
    changes: dict[tuple[str, str], pd.DataFrame] = {}
    by_la: dict[tuple[str, str], dict[Any, np.ndarray]] = {}
    for o in outcomes:
        k = (o["instrument"], o["scale"])
        if k in changes:
            continue
        ch = _changes(scores, *k, waves)
        ch["la_code"] = ch["parent_id"].map(la_of)
        changes[k] = ch
        values = ch["change"].to_numpy(float)
        by_la[k] = {code: values[idx] for code, idx in
                    ch.groupby("la_code", sort=False).indices.items()}
    rows = parents.groupby("la_code", sort=False).indices
    empty = np.array([], dtype=float)
    summaries = [_build_summary(
        parents.take(rows[code]), None, plan, code, _la_name(data, code),
        "rpc_eval.regional.federated.one_stage_comparison", data.instruments,
        changes={k: v.get(code, empty) for k, v in by_la.items()}) for code in codes]
    return ComparisonInputs(pool(summaries), changes)


def one_stage_comparison(data, plan, outcome: Any, *,
                         shared: ComparisonInputs | None = None) -> pd.DataFrame:
    """Two-stage (summarise each LA, then pool) against one-stage (a mixed model of every
    parent's change) estimates of the average change, on the same parents.

    Parameters
    ----------
    data : EvaluationData
        Several LAs' data.
    plan : Plan
        Supplies waves, disclosure threshold and pooling settings.
    outcome : str, (instrument, scale) or mapping
        A pooling outcome of the plan: ``"csi4"``, ``"csi4:total"``,
        ``("csi4", "total")`` or ``{"instrument": "csi4", "scale": "total"}``.
    shared : ComparisonInputs, optional
        :func:`comparison_inputs` of the same data and plan, made once for all of the
        plan's outcomes (made here when not given).

    Returns
    -------
    DataFrame
        Two rows, ``method`` = ``two_stage`` (random-effects meta-analysis of the LA
        summaries, as :func:`pool`) and ``one_stage`` (``change ~ 1 + (1 | la_code)``
        by REML with :func:`rpc_eval.multilevel.fit_lmm`; Satterthwaite df for the CI);
        columns ``method, estimate, std_error, ci_low, ci_high, tau2_or_la_variance,
        k_las, n_parents``. Both use the LAs whose outcome was not suppressed.

    Notes
    -----
    Both estimate the average LA mean change. They differ in weighting: the two-stage
    model takes each LA's sampling variance from its own SD, the one-stage model pools
    one residual variance (Burke et al. 2017), so small differences are expected.
    R equivalent of the one-stage model:
    ``lmerTest::lmer(change ~ 1 + (1 | la_code), REML = TRUE)``.

    Examples
    --------
    >>> from rpc_eval.plan import load_plan
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=2, n_las=3, n_parents=150)
    >>> plan = load_plan("analysis_plans/regional_evaluation_template_v1.yaml")
    >>> list(one_stage_comparison(data, plan, "phq9")["method"])
    ['two_stage', 'one_stage']
    """
    from rpc_eval.multilevel import fit_lmm

    inst, scale = _parse_outcome(outcome, plan)
    shared = shared if shared is not None else comparison_inputs(data, plan)
    res = shared.pooled
    key = f"{inst}_{scale}"
    row = res.meta.set_index("outcome").loc[key]
    used = set(res.studies.loc[(res.studies["outcome"] == key) & res.studies["included"],
                               "la_code"])
    ch = shared.changes[(inst, scale)]
    ch = ch[ch["la_code"].isin(used)].reset_index(drop=True)
    if len(used) < 2:
        raise RpcEvalError(f"fewer than 2 LAs have enough parents with {inst} at both waves")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryFitWarning)
        fit = fit_lmm(ch[["change", "la_code"]], "change ~ 1", groups="la_code")
    fe = fit.fixed_effects.iloc[0]
    vc = fit.variance_components.set_index("component")
    return pd.DataFrame([
        {"method": "two_stage", "estimate": float(row["estimate"]),
         "std_error": float(row["std_error"]), "ci_low": float(row["ci_low"]),
         "ci_high": float(row["ci_high"]), "tau2_or_la_variance": float(row["tau2"]),
         "k_las": int(row["k"]), "n_parents": int(row["n_parents"])},
        {"method": "one_stage", "estimate": float(fe["estimate"]),
         "std_error": float(fe["std_error"]), "ci_low": float(fe["ci_low"]),
         "ci_high": float(fe["ci_high"]),
         "tau2_or_la_variance": float(vc.loc["la_code", "variance"]),
         "k_las": int(ch["la_code"].nunique()), "n_parents": int(len(ch))},
    ])
