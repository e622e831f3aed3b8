"""The truth record of a synthetic dataset and its Markdown description.

Keys of the truth record (all values plain JSON: dicts, lists, floats, ints, str,
bool, None):

``generator``, ``scale``, ``seed``, ``package_version``
    Provenance: ``generate(scale, seed)`` under this rpc_eval version.
``config``
    The scale settings used: ``n_parents, n_las, n_clusters, programme_start,
    programme_end, extract_date, return_years, description``.
``counts``
    ``tables`` (rows per table), ``parents_by_exit_reason``,
    ``funnel_observed_parents`` / ``funnel_observed_families`` (referred, started,
    completed, answered at 6 and 12 months, as seen in the data),
    ``responses_by_wave_parents``, ``families``.
``published_funnel``
    The published 2018-22 counts the funnel is calibrated to, with the source.
``funnel``
    One entry per stage (``start``, ``completion``, ``followup_6m``,
    ``followup_12m``): ``target_rate`` (published), calibrated ``intercept``, the
    model's ``coefficients``, ``intervention_effects`` and random-effect SDs,
    ``population_rate`` (the rate the calibrated model gives in the calibration
    population, = target) and ``sample``: for this dataset the denominator ``n``,
    ``expected_rate`` (mean of the probabilities actually used) and
    ``bernoulli_sd`` (SD of the observed rate given those probabilities). Stages the
    extract can censor have ``sample.observable_subset`` (``rule``,
    ``days_before_extract``, ``n``, ``expected_rate``, ``bernoulli_sd``) for the
    parents whose outcome is certainly observed. Also
    ``population_rates_by_intervention`` and ``calibration_population``.
``questionnaires``
    ``effects_latent_sd`` (intervention -> domain -> improvement at end, latent SD
    units), ``wave_multiplier``, ``dropout_effect_fraction``, ``item_parameters``
    (instrument -> ``constructs`` (domain, loading, direction, item loading, mean
    position) and ``items`` (construct, loading, thresholds, mean position,
    reverse keying, range)) and ``population_values`` (instrument -> scale ->
    ``higher_is``, ``alpha_baseline``, ``baseline`` {mean, sd}, ``by_intervention`` ->
    intervention -> ``completed`` / ``dropped_out`` -> wave -> {mean, sd,
    mean_change, sd_change, d_z, r_baseline_later}); see
    :func:`rpc_eval.synthetic.popvalues.population_values`.
``training``
    ``population_values``: mean rating by wave, pre->post change and d_z per
    question, satisfaction and use shares (see
    :func:`rpc_eval.synthetic.training.training_population_values`).
``parameters``
    Every generating parameter (:func:`rpc_eval.synthetic.default_parameters`).
``realised``
    Random effects drawn for this dataset: ``la_effects`` (per LA: start, dropout,
    outcome_baseline and outcome_change by domain, interventions offered) and
    ``planning_tool`` (LA maturity, element offsets).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rpc_eval.synthetic.params import PUBLISHED_FUNNEL

__all__ = ["build_truth", "describe_truth"]


def _jsonable(x: Any) -> Any:
    """Plain dicts / lists / floats / ints / str / bool / None (NaN -> None)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [_jsonable(v) for v in x]
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return None if math.isnan(x) else float(x)
    if x is None or isinstance(x, str):
        return x
    return str(x)


def _counts(data, wave_parents: dict[str, np.ndarray]) -> dict[str, Any]:
    """Rows per table and the observed funnel; ``wave_parents`` maps each wave to the
    indices (into ``data.parents``) of the parents who answered at that wave."""
    p = data.parents
    n = len(p)

    def flag(idx):
        out = np.zeros(n, bool)
        out[np.asarray(idx, dtype=np.int64)] = True
        return out

    stages = {
        "referred": np.ones(n, bool),
        "started": p["start_date"].notna().to_numpy(),
        "completed": (p["exit_reason"] == "completed").to_numpy(),
        "followup_6m": flag(wave_parents.get("followup_6m", [])),
        "followup_12m": flag(wave_parents.get("followup_12m", [])),
    }
    fam = p["family_id"].to_numpy()
    return {
        "tables": {name: len(t) for name, t in data.tables().items()},
        "parents_by_exit_reason": {str(k): int(v) for k, v in p["exit_reason"].value_counts().sort_index().items()},
        "funnel_observed_parents": {k: int(v.sum()) for k, v in stages.items()},
        "funnel_observed_families": {k: int(np.unique(fam[v]).size) for k, v in stages.items()},
        "responses_by_wave_parents": {w: int(np.unique(v).size) for w, v in wave_parents.items()},
        "families": int(np.unique(fam).size),
    }


def build_truth(*, scale, seed, cfg, P, static, sample, realised, data, models, version,
                wave_parents) -> dict:
    """Assemble the JSON-ready truth record (see :func:`rpc_eval.synthetic.generate`)."""
    cal = static["calibration"]
    ints = cal["intercepts"]
    fp = P["followup"]
    funnel = {
        "start": {
            "target_rate": P["start"]["target_rate"], "intercept": ints["start"],
            "coefficients": P["start"]["coefficients"],
            "intervention_effects": P["start"]["intervention_effects"],
            "la_effect_sd": P["las"]["effect_sd"]["start"],
            "family_effect_sd": P["start"]["family_effect_sd"],
            "population_rate": cal["population_rates"]["start"],
            "sample": sample["start"],
        },
        "completion": {
            "target_rate": P["dropout"]["target_completion_rate"], "intercept": ints["dropout"],
            "log_session_slope": P["dropout"]["log_session_slope"],
            "coefficients": P["dropout"]["coefficients"],
            "intervention_effects": P["dropout"]["intervention_effects"],
            "la_effect_sd": P["las"]["effect_sd"]["dropout"],
            "family_effect_sd": P["dropout"]["family_effect_sd"],
            "p_missed_session": P["dropout"]["p_missed_session"],
            "population_rate": cal["population_rates"]["completion_of_starters"],
            "sample": sample["completion"],
        },
        "followup_6m": {
            "target_rate": fp["followup_6m"]["target_rate"], "intercept": ints["followup_6m"],
            "coefficients": fp["followup_6m"]["coefficients"],
            "baseline_score": f"{fp['baseline_instrument']}.{fp['baseline_scale']}",
            "population_rate": cal["population_rates"]["followup_6m_of_completers"],
            "sample": sample["followup_6m"],
        },
        "followup_12m": {
            "target_rate": fp["followup_12m"]["target_rate"], "intercept": ints["followup_12m"],
            "coefficients": fp["followup_12m"]["coefficients"],
            "baseline_score": f"{fp['baseline_instrument']}.{fp['baseline_scale']}",
            "population_rate": cal["population_rates"]["followup_12m_of_6m"],
            "sample": sample["followup_12m"],
        },
        "population_rates_by_intervention": cal["population_rates_by_intervention"],
        "calibration_population": {"n_parents": cal["n_parents"], "n_las": cal["n_las"]},
    }
    qp = P["questionnaires"]
    truth = {
        "generator": "rpc_eval.synthetic.generate",
        "scale": scale,
        "seed": seed,
        "package_version": version,
        "config": cfg,
        "counts": _counts(data, wave_parents),
        "published_funnel": PUBLISHED_FUNNEL,
        "funnel": funnel,
        "questionnaires": {
            "effects_latent_sd": qp["effects"],
            "wave_multiplier": qp["wave_multiplier"],
            "dropout_effect_fraction": qp["dropout_effect_fraction"],
            "item_parameters": {name: m.truth() for name, m in models.items()},
            "population_values": static["popvals"],
            "population_values_note": (
                "Monte Carlo of the item model on complete data (no item non-response), "
                "monte_carlo.n_per_group parents per intervention and exit group; change = "
                "later wave minus baseline on the score scale; d_z = mean change / SD of "
                "change; alpha_baseline over the scale's item scores (reverse-keyed, "
                "recoded; a composite uses the items of its parts)."),
        },
        "training": {"population_values": static["training"]},
        "parameters": P,
        "realised": realised,
    }
    return _jsonable(truth)


def _table(rows: list[list[Any]], header: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def describe_truth(truth: dict[str, Any]) -> str:
    """A Markdown page of the true parameters of a synthetic dataset.

    Parameters
    ----------
    truth : dict
        The truth record returned by :func:`rpc_eval.synthetic.generate`.

    Returns
    -------
    str
        Markdown (headings, tables) suitable for ``synthetic_data/README.md``.

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> _, truth = generate("small", seed=1)
    >>> describe_truth(truth).splitlines()[0]
    '# Synthetic RPC evaluation data: true parameters'
    """
    t, P, f = truth, truth["parameters"], truth["funnel"]
    cfg = t["config"]
    out = ["# Synthetic RPC evaluation data: true parameters", ""]
    out.append(
        f"Generated by `{t['generator']}(scale={t['scale']!r}, seed={t['seed']})`, "
        f"rpc_eval {t['package_version']}. {cfg.get('description', '')}")
    out += ["", "Every number below is a generating parameter or is derived from them; the "
            "full record is the `truth` dict (`truth.json`).", ""]
    out += ["## Settings", "", _table([[k, v] for k, v in cfg.items() if k != "description"],
                                      ["setting", "value"]), ""]
    c = t["counts"]
    out += ["## Rows generated", "", _table([[k, v] for k, v in c["tables"].items()], ["table", "rows"]), ""]
    out += ["Parents by exit reason: " + ", ".join(f"{k} {v:,}" for k, v in c["parents_by_exit_reason"].items())
            + f"; families: {c['families']:,}.", ""]

    out += ["## Engagement funnel", "",
            "Intercepts are calibrated so that the population rates equal the published "
            "2018-22 rates. *Expected (sample)* is the mean of the probabilities actually used "
            "for this sample; the observed count differs from it by Bernoulli noise only.", ""]
    rows = []
    names = {"start": ("started", "of referred"), "completion": ("completed", "of starters"),
             "followup_6m": ("followup_6m", "of completers"), "followup_12m": ("followup_12m", "of 6m respondents")}
    for key, (obs, denom) in names.items():
        s = f[key]
        rows.append([key, denom, s["target_rate"], s["intercept"], s["population_rate"],
                     s["sample"]["expected_rate"], s["sample"]["n"], c["funnel_observed_parents"][obs]])
    out += [_table(rows, ["stage", "rate", "target", "intercept", "population rate",
                          "expected (sample)", "denominator n (latent)", "observed parents"]), ""]
    covs = sorted({k for s in ("start", "completion", "followup_6m", "followup_12m")
                   for k in f[s]["coefficients"]})
    out += ["Coefficients (logit scale):", "",
            _table([[k] + [f[s]["coefficients"].get(k) for s in ("start", "completion", "followup_6m",
                                                                 "followup_12m")] for k in covs],
                   ["covariate", "start", "dropout hazard", "6-month response", "12-month response"]), ""]
    ints = sorted(set(f["start"]["intervention_effects"]) | set(f["completion"]["intervention_effects"]))
    out += ["Intervention offsets (logit; 0 when not listed):", "",
            _table([[k, f["start"]["intervention_effects"].get(k, 0.0),
                     f["completion"]["intervention_effects"].get(k, 0.0)] for k in ints],
                   ["intervention", "start", "dropout hazard"]), ""]
    out += [f"Dropout hazard after session s: + {f['completion']['log_session_slope']} x log(s); "
            f"missed sessions: {f['completion']['p_missed_session']}. "
            f"Random effects (SD): LA start {f['start']['la_effect_sd']}, LA dropout "
            f"{f['completion']['la_effect_sd']}, family start {f['start']['family_effect_sd']}, "
            f"family dropout {f['completion']['family_effect_sd']}. Follow-up response depends on the "
            f"standardised observed baseline `{f['followup_6m']['baseline_score']}` (higher = worse).", ""]
    pri = f["population_rates_by_intervention"]
    out += ["Population rates by intervention:", "",
            _table([[k, v["share_of_referrals"], v["start"], v["completion_of_starters"],
                     v["followup_6m_of_completers"], v["followup_12m_of_6m"]] for k, v in pri.items()],
                   ["intervention", "share of referrals", "start", "completion", "6-month", "12-month"]), ""]

    q = t["questionnaires"]
    qp = P["questionnaires"]
    out += ["## Outcome model", "",
            "Latent improvement at `end` for completers (SD units of the baseline latent trait; "
            f"later waves x {q['wave_multiplier']}; dropouts x {q['dropout_effect_fraction']}):", ""]
    doms = qp["domains"]
    out += [_table([[k] + [v.get(d) for d in doms] for k, v in q["effects_latent_sd"].items()],
                   ["intervention"] + doms), ""]
    out += [f"Change heterogeneity: persistent SD {qp['change_sd_persistent']}, occasion SD "
            f"{qp['change_sd_occasion']}; LA SD on baseline {P['las']['effect_sd']['outcome_baseline']}, "
            f"on change {P['las']['effect_sd']['outcome_change']}; family share of baseline variance "
            f"{qp['family_share']}; domain correlation {qp['domain_correlation']}. Item non-response "
            f"{qp['p_item_missing']}; baseline answered by {qp['p_baseline']}; end by "
            f"{qp['p_end']}.", ""]
    out += ["## Population values of the scale scores", "",
            "Mean change baseline -> end for completers, with d_z in brackets.", ""]
    for inst, scales in q["population_values"].items():
        codes = sorted({i for s in scales.values() for i in s["by_intervention"]})
        rows = []
        for sname, s in scales.items():
            alpha = s.get("alpha_baseline", s.get("alpha_end_completed"))
            base = s.get("baseline") or s.get("end_completed") or {}
            row = [sname, s["higher_is"], alpha, f"{base.get('mean', float('nan')):.2f} ({base.get('sd', float('nan')):.2f})"]
            for code in codes:
                e = s["by_intervention"].get(code, {}).get("completed", {}).get("end", {})
                row.append(f"{e['mean_change']:.2f} ({e['d_z']:.2f})" if "mean_change" in e
                           else (f"{e['mean']:.2f}" if e else ""))
            rows.append(row)
        out += [f"### {inst}", "", _table(rows, ["scale", "higher is", "alpha", "baseline mean (SD)"] + codes), ""]
        if inst in P["questionnaires"]["end_only_instruments"]:
            out += ["Asked at `end` only: alpha and mean (SD) are of completers at `end`; the "
                    "intervention columns give the mean at `end`.", ""]

    tr = t["training"]["population_values"]
    out += ["## Practitioner training", "",
            _table([[k, v["mean_by_wave"]["pre"], v["mean_by_wave"]["post"], v["mean_by_wave"]["then"],
                     v["mean_by_wave"]["followup_6m"], v["pre_post_mean_change"], v["pre_post_d_z"]]
                    for k, v in tr["questions"].items()],
                   ["question", "pre", "post", "then", "6 months", "pre->post change", "d_z"]), "",
            f"Satisfaction 4 or 5: {tr['satisfaction_share_4_or_5']:.3f}; expected use at least weekly: "
            f"{tr['expected_use_share_at_least_weekly']:.3f}; actual use at least weekly at 6 months: "
            f"{tr['actual_use_share_at_least_weekly']:.3f}. Response rates {P['training']['response_rate']}.", ""]
    pp = P["planning_tool"]
    out += ["## Planning tool", "",
            f"Stages: maturity loading {pp['maturity_loading']}, growth {pp['growth_per_year']} per year, "
            f"thresholds {pp['stage_thresholds']}; element offsets "
            f"{ {k: round(v, 3) for k, v in t['realised']['planning_tool']['element_offsets'].items()} }.", ""]
    return "\n".join(out)
