"""The pooled regional report: pooled outcomes, forest plots, the pooled funnel and
completion rates, written as HTML, CSV, ODS and a manifest. Publishes the results of
:func:`rpc_eval.federated.pool`; computes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rpc_eval.federated import (  # noqa: F401 (pool, summarise: doctest)
    FUNNEL_COUNTS,
    PooledResults,
    _f,
    _label,
    _outcome_sentences,
    _plain_summary,
    _sha,
    pool,
    summarise,
)
from rpc_eval.report.figures import save_figure
from rpc_eval.report.html import esc, page, table_html
from rpc_eval.report.ods import OdsTable, write_ods
from rpc_eval.report.safe_text import neutralise_frame

__all__ = ["write_pooled_report"]

def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return neutralise_frame(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


_READABLE = {
    "outcome": "Outcome", "instrument": "Instrument", "scale": "Scale",
    "direction": "Direction", "k": "LAs pooled (number)", "n_parents": "Parents (number)",
    "estimate": "Estimate", "std_error": "Standard error", "ci_low": "95% CI lower",
    "ci_high": "95% CI upper", "p_value": "p-value", "tau2": "tau squared (between-LA variance)",
    "tau": "tau", "i2": "I squared (%)", "q": "Q", "q_p_value": "Q p-value",
    "pred_low": "95% prediction interval lower", "pred_high": "95% prediction interval upper",
    "method": "Method", "knha": "Hartung-Knapp", "las_left_out": "LAs left out",
    "note": "Note", "la_code": "LA code", "n_paired": "Parents with both waves (number)",
    "mean_change": "Mean change", "sd_change": "SD of change", "se_change": "SE of change",
    "d_z": "d_z", "se_d_z": "SE of d_z", "included": "Pooled", "reason": "Reason left out",
    "weight": "Weight (%)", "stage": "Stage", "total": "Total (number)",
    "n_las_reported": "LAs reporting (number)", "n_las_suppressed": "LAs suppressed (number)",
    "total_is_lower_bound": "Total is a lower bound", "las_suppressed": "LAs suppressed",
    "referred": "Referred", "started": "Started", "completed": "Completed",
    "dropped_out": "Dropped out", "ongoing": "Ongoing", "n_started": "Started (number)",
    "n_completed": "Completed (number)", "proportion": "Proportion completed",
    "continuity_correction": "0.5 added", "logit": "Logit", "se_logit": "SE of logit",
    "file": "File", "la_name": "LA name", "sha256": "SHA-256", "plan": "Plan",
    "package_version": "rpc_eval version", "signature": "Signature",
}


def _ods_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, str) and not v)
                                or (not isinstance(v, str) and pd.isna(v)) else v)
    return out.rename(columns=_READABLE)


def write_pooled_report(results: PooledResults, out_dir: str | Path) -> Path:
    """Write the pooled report: ``index.html``, ``tables/*.csv``,
    ``figures/forest_<outcome>.png/.svg``, ``pooled.ods`` and ``manifest.json``.

    The same results give byte-identical files. ``manifest.json`` lists the SHA-256 of
    every input summary and every output file. Returns ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> from rpc_eval.plan import load_plan
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=2, n_las=3, n_parents=150)
    >>> plan = load_plan("analysis_plans/regional_evaluation_template_v1.yaml")
    >>> res = pool([summarise(data, plan, la_code=c) for c in ("LA001", "LA002", "LA003")])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = write_pooled_report(res, d)
    ...     sorted(p.name for p in out.iterdir())
    ['figures', 'index.html', 'manifest.json', 'pooled.ods', 'tables']
    """
    from rpc_eval import __version__

    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tables = {"meta": results.meta, "studies": results.studies, "funnel": results.funnel,
              "funnel_las": results.funnel_las, "completion": results.completion,
              "completion_las": results.completion_las, "inputs": results.inputs}
    for name, frame in tables.items():
        p = out / "tables" / f"{name}.csv"
        p.write_bytes(_csv_bytes(frame))
        written.append(p)

    import matplotlib

    figs: dict[str, str] = {}
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        for key, fig in results.forest_plots().items():
            paths = save_figure(fig, out / "figures", f"forest_{key}")
            written += paths
            figs[key] = paths[0].name

    # ---- HTML
    t = results.plan["settings"].get("disclosure", {}).get("threshold")
    waves = results.plan["settings"].get("waves", {})
    body = ["<h2>Summary</h2>",
            "<p>" + esc(f"This report pools {len(results.inputs)} local authorities "
                        f"({', '.join(results.la_codes)}) using plan {results.plan['name']}. "
                        "Each LA shared only an aggregate summary (counts, means and standard "
                        "deviations); no records of individual parents left the LA.") + "</p>",
            "<ul>"]
    for row in results.meta.itertuples(index=False):
        body.append(f"<li>{esc(_outcome_sentences(row))}</li>")
    summ = _plain_summary(results).splitlines()
    for line in summ[1 + len(results.meta):]:
        body.append(f"<li>{esc(line.strip())}</li>")
    body.append("</ul>")
    body.append("<p class='note'>" + esc(
        f"Change is the score at {waves.get('post', 'post')} minus the score at "
        f"{waves.get('pre', 'pre')}, for parents who answered both. Without a comparison "
        "group this is not proof that the interventions caused the change. Counts of 1 to "
        f"{(t or 1) - 1} people were suppressed in the LA summaries (threshold {t}), and so "
        "were counts that could be worked out from others.") + "</p>")
    if results.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in results.notes)
                    + "</ul>")
    body.append("<h2>Outcomes</h2>")
    body.append(table_html(_html_frame(results.meta.drop(columns=["note"])),
                           "Pooled mean change by outcome (random-effects meta-analysis)"))
    for row in results.meta.itertuples(index=False):
        if row.outcome in figs:
            alt = (f"Forest plot of the mean change in {_label(row.instrument, row.scale)} in "
                   f"{row.k} LAs. The pooled change is {_f(row.estimate)} (95% CI "
                   f"{_f(row.ci_low)} to {_f(row.ci_high)}); prediction interval "
                   f"{_f(row.pred_low)} to {_f(row.pred_high)}; I squared {row.i2:.0f}%.")
            body.append(f"<figure><img src='figures/{esc(figs[row.outcome])}' "
                        f"alt='{esc(alt, quote=True)}' style='max-width:100%'>"
                        f"<figcaption>{esc(_label(row.instrument, row.scale))}: each LA's mean "
                        "change with its 95% CI, and the pooled change.</figcaption></figure>")
    body.append(table_html(_html_frame(results.studies), "Each LA's change by outcome"))
    body.append("<h2>Referrals and completion</h2>")
    body.append(table_html(_html_frame(results.funnel),
                           "Funnel totals over LAs (lower bounds where an LA suppressed a "
                           "count)"))
    body.append(table_html(_html_frame(results.funnel_las, "[c]"),
                           "Each LA's funnel counts ([c]: suppressed)"))
    body.append(table_html(_html_frame(results.completion), "Pooled completion"))
    if "completion" in figs:
        c = results.completion.set_index("method").loc["random_effects_logit"]
        alt = (f"Forest plot of the proportion of starters who completed in {int(c['k'])} LAs; "
               f"the random-effects average is {c['estimate']:.1%} (95% CI "
               f"{c['ci_low']:.1%} to {c['ci_high']:.1%}).")
        body.append(f"<figure><img src='figures/{esc(figs['completion'])}' "
                    f"alt='{esc(alt, quote=True)}' style='max-width:100%'><figcaption>Completion "
                    "by LA.</figcaption></figure>")
    body.append(table_html(_html_frame(results.completion_las),
                           "Each LA's completion (logit scale for the meta-analysis)"))
    body.append("<h2>Inputs</h2>")
    body.append(table_html(_html_frame(results.inputs), "LA summaries pooled"))
    body.append("<p class='note'>" + esc(
        f"Made with rpc_eval {__version__}. The tables are in tables/*.csv and pooled.ods; "
        "manifest.json lists a SHA-256 checksum of every input and output.") + "</p>")
    index = out / "index.html"
    index.write_text(page("Pooled regional evaluation", "".join(body)), encoding="utf-8")
    written.append(index)

    # ---- ODS
    marker = "Blank cells: [x] not available or not applicable; [c] suppressed."
    ods_tables = [
        OdsTable("Pooled_change", "Table 1: Pooled mean change by outcome",
                 _ods_frame(results.meta), (marker,)),
        OdsTable("LA_change", "Table 2: Each LA's change by outcome",
                 _ods_frame(results.studies), (marker,)),
        OdsTable("Funnel", "Table 3: Funnel totals over LAs", _ods_frame(results.funnel),
                 (marker, "Totals are lower bounds where an LA suppressed the count.")),
        OdsTable("Funnel_LA", "Table 4: Each LA's funnel counts",
                 _ods_frame(results.funnel_las), (marker,),
                 missing={_READABLE[k]: "[c]" for k in FUNNEL_COUNTS}),
        OdsTable("Completion", "Table 5: Pooled completion", _ods_frame(results.completion),
                 (marker,)),
        OdsTable("Completion_LA", "Table 6: Each LA's completion",
                 _ods_frame(results.completion_las), (marker,),
                 missing={"Started (number)": "[c]", "Completed (number)": "[c]"}),
        OdsTable("Inputs", "Table 7: LA summaries pooled", _ods_frame(results.inputs),
                 (marker,)),
    ]
    ods = write_ods(out / "pooled.ods", title="Pooled regional evaluation",
                    cover=[("About", "Pooled results of LA summaries: each LA shared counts, "
                                     "means and standard deviations only."),
                           ("Plan", f"{results.plan['name']} (settings "
                                    f"{results.plan['sha256'][:12]})"),
                           ("Disclosure control", f"Counts of fewer than {t} people were "
                                                  "suppressed in the LA summaries.")],
                    tables=ods_tables)
    written.append(ods)

    # ---- manifest
    manifest = {
        "schema": "rpc-eval-pooled-manifest", "schema_version": 1,
        "package_version": __version__,
        "plan": {"name": results.plan["name"], "sha256": results.plan["sha256"]},
        "inputs": [{"file": r.file, "la_code": r.la_code, "sha256": r.sha256}
                   for r in results.inputs.itertuples(index=False)],
        "outputs": {p.relative_to(out).as_posix(): _sha(p.read_bytes())
                    for p in sorted(written)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                       encoding="utf-8")
    return out


def _html_frame(frame: pd.DataFrame, missing: str = "") -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_float_dtype(s):
            out[c] = [missing if pd.isna(v) else float(f"{v:.4g}") for v in s]
        elif str(s.dtype) == "Int64":
            out[c] = [missing if pd.isna(v) else int(v) for v in s]
    return out.rename(columns=_READABLE)


# ------------------------------------------------------------- one-stage vs two-stage
