"""The pooled regional report: pooled outcomes, forest plots, the pooled funnel and
completion rates, written as HTML, CSV, ODS and a manifest. Publishes the results of
:func:`rpc_eval.regional.federated.pool`; computes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rpc_eval.regional.federated import (  # noqa: F401 (pool, summarise: doctest)
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
from rpc_eval.report.html import esc, page

__all__ = ["write_pooled_report"]

class PooledPlan:
    """What a :class:`~rpc_eval.report.publish.Report` needs of a plan, for the pooled
    report: its name (``pooled``: files ``pooled.ods``), title, status and the
    disclosure threshold the LA summaries were made under."""

    name = "pooled"

    def __init__(self, results: PooledResults) -> None:
        settings = results.plan.get("settings", {})
        self.threshold = int((settings.get("disclosure") or {}).get("threshold") or 10)
        self.spec = {
            "title": "Pooled regional evaluation", "status": "pooled",
            "description": "Pooled results of LA summaries: each LA shared counts, means "
                           "and standard deviations only, never records of parents.",
            "plan": results.plan["name"]}

    @property
    def disclosure(self) -> dict:
        return {"threshold": self.threshold, "rounding": None, "organisational_tables": []}

    def __getitem__(self, key: str):
        return self.spec[key]

    def get(self, key: str, default=None):
        return self.spec.get(key, default)

    def check_tables(self, produced) -> None:
        """No table is exempt from disclosure control in the pooled report."""

    def where(self, key: str) -> str:
        return "the pooled report"


def _nullable(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer columns (``Int64``) as floats and empty strings as missing, so
    disclosure control and the markers see one kind of missing value."""
    out = frame.copy()
    for c in out.columns:
        if str(out[c].dtype) == "Int64":
            out[c] = out[c].astype("float64")
        elif out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].astype(object).map(
                lambda v: None if v is None or (isinstance(v, str) and not v)
                or (not isinstance(v, str) and pd.isna(v)) else v)
    return out


def write_pooled_report(results: PooledResults, out_dir: str | Path) -> Path:
    """Write the pooled report: ``index.html``, ``tables/*.csv`` (with
    ``data_dictionary.csv``), ``figures/forest_<outcome>.png/.svg``, ``pooled.ods`` and
    ``manifest.json``; the disclosure log and audit go beside the folder, in
    ``<out_dir>_NOT_FOR_PUBLICATION/``.

    It is published through the same :class:`~rpc_eval.report.publish.Report` as every
    other report: every table is protected and the whole report audited before anything
    is written, headers and codes are in words (labels), and the page has the same
    style, summary, contents list and captions. The forest plots are drawn from the
    pooled results only when disclosure control left every LA's row of the change table
    as published; otherwise a sentence says why they are left out.

    The same results give byte-identical files (the ODS workbook: identical cells).
    ``manifest.json`` lists the SHA-256 of every input summary and every output file.
    Returns ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> from rpc_eval.plan import load_plan
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=2, n_las=3, n_parents=150)
    >>> plan = load_plan("analysis_plans/regional_evaluation_template_v1.yaml")
    >>> res = pool([summarise(data, plan, la_code=c) for c in ("LA001", "LA002", "LA003")])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = write_pooled_report(res, Path(d) / "pooled")
    ...     sorted(p.name for p in out.iterdir())
    ['figures', 'index.html', 'manifest.json', 'pooled.ods', 'tables']
    """
    from rpc_eval import __version__
    from rpc_eval.report.disclosure import TableSpec
    from rpc_eval.report.publish import Report, Shown
    from rpc_eval.report.runner import add_contents

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = PooledPlan(results)
    rpt = Report(plan, out)  # type: ignore[arg-type]  # PooledPlan has what Report reads of a plan
    rpt.use_names_from(type("Names", (), {"las": results.inputs[["la_code", "la_name"]]
                                          if "la_name" in results.inputs else None})())
    t = plan.threshold
    waves = results.plan["settings"].get("waves", {})
    lab = rpt.labels
    shown = Shown(
        "<h2>About this report</h2><p>" + esc(
            f"This report pools {len(results.inputs)} local authorities "
            f"({', '.join(lab.name('la_code', c) for c in results.la_codes)}). Each LA "
            "shared only an aggregate summary (counts, means and standard deviations); no "
            "records of individual parents left the LA.") + "</p><p class='note'>" + esc(
            f"Change is the score at {lab.name('wave', waves.get('post', 'end')).lower()} "
            f"minus the score at {lab.name('wave', waves.get('pre', 'baseline')).lower()}, "
            "for parents who answered both. Without a comparison group this is not proof "
            f"that the interventions caused the change. Counts of 1 to {t - 1} people were "
            f"suppressed in the LA summaries (threshold {t}), and so were counts that could "
            "be worked out from others; this report is checked again as a whole.") + "</p>")
    for n in results.notes:
        shown += rpt.caution(n)
    shown += Shown("<h2>Outcomes</h2>")
    stats = [c for c in ("estimate", "std_error", "ci_low", "ci_high", "p_value", "tau2",
                         "tau", "i2", "q", "q_p_value", "pred_low", "pred_high")
             if c in results.meta]
    meta = _nullable(results.meta.drop(columns=["note"], errors="ignore"))
    shown += rpt.table("meta", meta,
                       "Pooled mean change by outcome (random-effects meta-analysis)",
                       spec=TableSpec(counts=("n_parents",),
                                      derived={c: ("n_parents",) for c in stats},
                                      safe=("k",)),
                       columns=[c for c in meta.columns if c != "outcome"])
    study_stats = [c for c in ("mean_change", "sd_change", "se_change", "d_z", "se_d_z",
                               "ci_low", "ci_high", "weight") if c in results.studies]
    shown += rpt.table("studies", _nullable(results.studies), "Each LA's change by outcome",
                       spec=TableSpec(counts=("n_paired",),
                                      derived={c: ("n_paired",) for c in study_stats}),
                       columns=[c for c in results.studies.columns if c != "outcome"])
    forest = results.forest_plots()

    def unchanged(name: str) -> bool:
        return rpt.tables[name].protected.n_suppressed == 0

    def forest_figure(key: str, fig, table: str, alt: str, caption: str) -> Shown:
        def draw():
            if not unchanged(table):
                plt.close(fig)
                return ("This forest plot is left out: disclosure control suppressed part "
                        "of the table it is drawn from.")
            return fig
        return rpt.figure(draw, f"forest_{key}", alt, caption=caption)

    for row in results.meta.itertuples(index=False):
        if row.outcome in forest:
            what = f"{lab.name('instrument', row.instrument)} ({lab.name('scale', row.scale).lower()} score)"
            alt = (f"Forest plot of the mean change in {what} in {row.k} LAs. The pooled "
                   f"change is {_f(row.estimate)} (95% interval {_f(row.ci_low)} to "
                   f"{_f(row.ci_high)}); prediction interval {_f(row.pred_low)} to "
                   f"{_f(row.pred_high)}; I squared {row.i2:.0f}%.")
            shown += forest_figure(row.outcome, forest[row.outcome], "studies", alt,
                                   f"{what}: each LA's mean change with its 95% interval, "
                                   "and the pooled change (diamond).")
    shown += Shown("<h2>Referrals and completion</h2>")
    shown += rpt.table("funnel", _nullable(results.funnel),
                       "Funnel totals over LAs (lower bounds where an LA suppressed a count)",
                       spec=TableSpec(counts=("total",),
                                      safe=("n_las_reported", "n_las_suppressed")))
    counts = tuple(c for c in FUNNEL_COUNTS if c in results.funnel_las)
    shown += rpt.table("funnel_las", _nullable(results.funnel_las),
                       "Each LA's funnel counts ([c]: suppressed)",
                       spec=TableSpec(counts=counts), missing={c: "[c]" for c in counts})
    comp_stats = ("estimate", "ci_low", "ci_high", "tau2", "i2", "pred_low", "pred_high")
    shown += rpt.table("completion", _nullable(results.completion), "Pooled completion",
                       spec=TableSpec(counts=("n_started", "n_completed"),
                                      derived={c: ("n_started", "n_completed")
                                               for c in comp_stats},
                                      safe=("k",)))
    cl_stats = [c for c in ("proportion", "logit", "se_logit") if c in results.completion_las]
    shown += rpt.table("completion_las", _nullable(results.completion_las),
                       "Each LA's completion (logit scale for the meta-analysis)",
                       spec=TableSpec(counts=("n_started", "n_completed"),
                                      derived={c: ("n_started", "n_completed")
                                               for c in cl_stats}),
                       missing={"n_started": "[c]", "n_completed": "[c]"})
    if "completion" in forest:
        c = results.completion.set_index("method").loc["random_effects_logit"]
        alt = (f"Forest plot of the proportion of starters who completed in {int(c['k'])} "
               f"LAs; the random-effects average is {c['estimate']:.1%} (95% interval "
               f"{c['ci_low']:.1%} to {c['ci_high']:.1%}).")
        shown += forest_figure("completion", forest["completion"], "completion_las", alt,
                               "Completion by LA: each LA's share of starters who "
                               "completed, with its 95% interval, and the average.")
    shown += Shown("<h2>Inputs</h2>")
    inputs = _nullable(results.inputs)
    shown += rpt.table("inputs", inputs, "LA summaries pooled",
                       spec=TableSpec(units="organisations"))
    shown += rpt.table("disclosure_summary", rpt.disclosure_summary(),
                       "Disclosure control: cells suppressed in each table")
    shown += Shown("<p class='note'>" + esc(
        f"Made with rpc_eval {__version__}. The tables are in tables/*.csv and pooled.ods; "
        "manifest.json lists a SHA-256 checksum of every input and output.") + "</p>")
    outputs = rpt.finish(cover=[("Plan", f"{results.plan['name']} (settings "
                                          f"{results.plan['sha256'][:12]})")])
    (out / "outputs.json").unlink()
    summary = []
    for line in _plain_summary(results).splitlines()[1:]:
        line = line.strip()
        for row in results.meta.itertuples(index=False):
            code = f"{_label(row.instrument, row.scale)}:"
            if line.startswith(code):
                line = (f"{lab.name('instrument', row.instrument)} "
                        f"({lab.name('scale', row.scale).lower()} score):"
                        + line[len(code):])
        if not line.startswith("Note:"):  # notes are shown, in words, in the report
            summary.append(line.replace("95% CI", "95% interval"))
    index = out / "index.html"
    index.write_text(page(plan["title"], add_contents(shown.html, summary)),
                     encoding="utf-8")
    outputs["index.html"] = _sha(index.read_bytes())

    manifest = {
        "schema": "rpc-eval-pooled-manifest", "schema_version": 1,
        "package_version": __version__,
        "plan": {"name": results.plan["name"], "sha256": results.plan["sha256"]},
        "inputs": [{"file": r.file, "la_code": r.la_code, "sha256": r.sha256}
                   for r in results.inputs.itertuples(index=False)],
        "outputs": dict(sorted(outputs.items())),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                       encoding="utf-8")
    return out


# ------------------------------------------------------------- one-stage vs two-stage
