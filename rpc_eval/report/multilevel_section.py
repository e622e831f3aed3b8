"""The multilevel section of a report: outcome model by intervention, ICC, LA
comparisons (caterpillar and funnel plots). Publishes results; computes nothing.

The published (v1) tables keep the column names and term labels they were first
published with, so a rebuilt report is byte-identical: :data:`PUBLISHED_COLUMNS` maps
the results' names (docs/conventions.md) to the published ones, and a categorical
term ``intervention[T.x]`` is published as ``C(intervention)[T.x]``
(:func:`published_v1`). The headers people read come from ``labels.yaml`` as before.
"""

from __future__ import annotations

import dataclasses
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rpc_eval.multilevel.analysis import MultilevelResults  # noqa: E402
from rpc_eval.multilevel.compare import caterpillar_plot  # noqa: E402
from rpc_eval.report.disclosure import TableSpec  # noqa: E402
from rpc_eval.report.engagement_section import term_rests_on  # noqa: E402
from rpc_eval.report.html import esc  # noqa: E402
from rpc_eval.report.publish import Report, Shown  # noqa: E402

__all__ = ["multilevel_section", "published_v1", "PUBLISHED_COLUMNS"]

#: Published table -> its v1 columns, in order, each from a result column
#: (``published: result``); ``None`` is a column of the v1 table the result no longer
#: has (``df`` of the z-tested completion model: published empty, as ``[z]``).
PUBLISHED_COLUMNS: dict[str, dict[str, str | None]] = {
    "multilevel_outcome_fixed_effects": {
        "term": "term", "estimate": "estimate", "std_error": "std_error", "df": "df",
        "ci_low": "ci_low", "ci_high": "ci_high", "p": "p_value"},
    "multilevel_completion_fixed_effects": {
        "term": "term", "estimate": "estimate", "std_error": "std_error", "df": None,
        "ci_low": "ci_low", "ci_high": "ci_high", "p": "p_value"},
    "multilevel_outcome_variance_components": {
        "group": "component", "variance": "variance", "sd": "sd"},
    "multilevel_icc": {
        "group": "component", "variance": "variance", "icc": "icc",
        "within_correlation": "within_correlation",
        "mean_cluster_size": "mean_cluster_size", "design_effect": "design_effect",
        "ci_low": "ci_low", "ci_high": "ci_high",
        "design_effect_ci_low": "design_effect_ci_low",
        "design_effect_ci_high": "design_effect_ci_high"},
    "multilevel_la_effects": {
        "group": "component", "level": "level", "estimate": "estimate", "se": "std_error",
        "pi_low": "pi_low", "pi_high": "pi_high"},
}
_LEVEL_TERM = re.compile(r"(^|:)([A-Za-z_][A-Za-z0-9_]*)\[T\.")


def published_v1(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (a result table) in the columns and term labels of published table
    ``name`` (v1): see :data:`PUBLISHED_COLUMNS`; ``column[T.level]`` terms as
    ``C(column)[T.level]``; the funnel table's ``n_events`` and ``statistic`` as
    ``events`` and ``z``. Columns the result does not have (e.g. the intervals of an
    ICC table without a bootstrap) are left out, as before.

    Examples
    --------
    >>> fe = pd.DataFrame({"term": ["Intercept", "intervention[T.b]"], "estimate": [1.0, 2.0],
    ...                    "std_error": [.1, .2], "statistic": [10., 10.], "df": [9., 9.],
    ...                    "p_value": [.01, .01], "ci_low": [.8, 1.6], "ci_high": [1.2, 2.4]})
    >>> published_v1("multilevel_outcome_fixed_effects", fe).columns.tolist()
    ['term', 'estimate', 'std_error', 'df', 'ci_low', 'ci_high', 'p']
    >>> published_v1("multilevel_outcome_fixed_effects", fe)["term"].tolist()
    ['Intercept', 'C(intervention)[T.b]']
    """
    if name == "multilevel_completion_funnel":
        return frame.rename(columns={"n_events": "events", "statistic": "z"})
    out = pd.DataFrame(index=frame.index)
    for published, column in PUBLISHED_COLUMNS[name].items():
        if column is None:
            out[published] = np.nan
        elif column in frame.columns:
            out[published] = frame[column]
    if "term" in out:
        out["term"] = [_LEVEL_TERM.sub(r"\1C(\2)[T.", str(t)) for t in out["term"]]
    return out

#: The ICC table's numbers are estimates of the model over every LA (variances, ICC,
#: design effect, the mean LA size) and their intervals: no count of people in a small
#: group can be worked out from them, so they are published as they are.
ICC_STATISTICS = ("variance", "icc", "within_correlation", "mean_cluster_size",
                  "design_effect", "ci_low", "ci_high", "design_effect_ci_low",
                  "design_effect_ci_high")


def multilevel_section(rpt: Report, res: MultilevelResults) -> Shown:
    """Publish the multilevel tables and figures.

    Tables: ``multilevel_outcome_fixed_effects``, ``multilevel_outcome_variance_components``,
    ``multilevel_icc``, ``multilevel_completion_fixed_effects``, ``multilevel_la_effects``,
    ``multilevel_completion_funnel`` (LA counts of parents: protected like any count of
    people). Figures: LA caterpillar and funnel plot (LAs with suppressed counts left out).
    """
    s = res.settings
    out = Shown("")
    if res.outcome_model is not None:
        lab = rpt.labels
        if s.get("reference") is not None:
            rpt.references.setdefault("intervention", str(s["reference"]))
        out += Shown(
            f'<p class="note">A model of parents\' {esc(lab.name("wave", s["waves"][1]))} '
            f'scores on the {esc(lab.name("instrument", s["instrument"]))} '
            f'({esc(lab.name("scale", s["scale"]))}), allowing for their '
            f'{esc(lab.name("wave", s["waves"][0]))} scores and for differences between '
            "LAs (a linear mixed model with a random intercept for each LA; REML, "
            "Satterthwaite degrees of freedom). Each intervention is compared with "
            f'{esc(lab.name("intervention", str(s.get("reference"))))}.</p>')
        fe = published_v1("multilevel_outcome_fixed_effects",
                          res.outcome_model.fixed_effects)
        paired = _paired_by_intervention(rpt, s)
        out += rpt.table("multilevel_outcome_fixed_effects", fe,
                         "Outcome model: fixed effects",
                         rests_on=(term_rests_on(fe["term"], paired),
                                   [c for c in fe.columns if c != "term"],
                                   "paired parents in the term's intervention"))
        out += rpt.table("multilevel_outcome_variance_components",
                         published_v1("multilevel_outcome_variance_components",
                                      res.outcome_model.variance_components),
                         "Outcome model: variance components",
                         spec=TableSpec(safe=("variance", "sd")))
    if res.icc is not None:
        icc = published_v1("multilevel_icc", res.icc)
        out += rpt.table("multilevel_icc", icc,
                         "Intra-class correlation and design effect (share of outcome variance "
                         "between LAs), with 95% parametric-bootstrap intervals",
                         spec=TableSpec(safe=ICC_STATISTICS),
                         missing={c: "[z]" for c in icc.columns if c != "variance"})
    if res.completion_model is not None:
        fe = published_v1("multilevel_completion_fixed_effects",
                          res.completion_model.fixed_effects)
        out += rpt.table("multilevel_completion_fixed_effects", fe,
                         "Completion among starters: random-intercept logistic model "
                         "(log-odds; adaptive Gauss-Hermite quadrature; z tests, so df is "
                         "not applicable)", missing={"df": "[z]"},
                         rests_on=(term_rests_on(fe["term"], _starters_by_intervention(rpt)),
                                   [c for c in fe.columns if c != "term"],
                                   "starters, completers or dropouts in the term's "
                                   "intervention"))
    if res.la_effects is not None:
        la = published_v1("multilevel_la_effects", res.la_effects)
        per_la: dict = {}
        if res.completion_funnel is not None:
            ft = published_v1("multilevel_completion_funnel", res.completion_funnel.table)
            sizes = pd.concat([ft["n"], ft["events"], ft["n"] - ft["events"]], axis=1)
            per_la = dict(zip(ft.iloc[:, 0].astype(str), sizes.min(axis=1), strict=True))
        shown = rpt.table("multilevel_la_effects", la,
                          "LA effects on the log-odds of completion (conditional modes with "
                          "95% prediction intervals)",
                          rests_on=([per_la.get(str(v), 0) for v in la["level"]],
                                    [c for c in la.columns if c not in ("group", "level")],
                                    "starters, completers or non-completers in the LA"),
                          max_rows=10)

        def draw_caterpillar():
            v = rpt.values("multilevel_la_effects").dropna(subset=["estimate"])
            if v.empty:
                return ("The LA effects are not drawn: every LA's effect rests on too few "
                        "parents to be published.")
            fig, ax = plt.subplots(figsize=(7, max(4.0, 0.24 * len(v))))
            caterpillar_plot(v, ax=ax)
            ax.set_xlabel("LA effect on the log-odds of completion (95% prediction interval)")
            return fig

        out += rpt.figure(draw_caterpillar, "la_caterpillar_completion",
                          "Each LA's estimated effect on completion as a point with a "
                          "horizontal 95% prediction interval, sorted from lowest to highest, "
                          "with a vertical line at zero (the average LA).",
                          caption="Only LAs whose effects are published are drawn.")
        out += shown
    if res.completion_funnel is not None:
        ftable = published_v1("multilevel_completion_funnel", res.completion_funnel.table)
        funit = ftable.columns[0]
        shown = rpt.table(
            "multilevel_completion_funnel", ftable,
            "LA completion rates against funnel limits (95% and 99.8%) around the overall "
            "rate", spec=TableSpec(counts=("n", "events"),
                                   derived={c: ("n", "events") for c in ftable.columns
                                            if c not in ("n", "events", funit)}),
            description=["An LA's rate, z score, control limits and flag rest on its counts "
                         "of starters and completers and are suppressed with them (the "
                         "limits alone would give its number of starters)."], max_rows=10)
        values = rpt.values("multilevel_completion_funnel").dropna(subset=["rate"])
        left_out = len(ftable) - len(values)
        flagged = values[values["flag"].astype(str).str.contains("99.8")]

        def draw_funnel():
            published = rpt.values("multilevel_completion_funnel").dropna(subset=["rate"])
            published = published[pd.to_numeric(published["n"], errors="coerce").notna()]
            if published.empty:
                return ("The funnel plot is not drawn: no LA's counts of starters and "
                        "completers could be published.")
            fig, ax = plt.subplots(figsize=(8, 5))
            assert res.completion_funnel is not None  # drawn only when there is one
            dataclasses.replace(res.completion_funnel, table=published).plot(ax=ax)
            ax.set_xlabel("Parents who started (count)")
            ax.set_ylabel("Completion rate (proportion)")
            return fig

        out += rpt.figure(draw_funnel, "la_funnel_completion",
                          "Funnel plot: each LA's completion rate against its number of "
                          "starters, with the overall rate as a horizontal line and dashed "
                          "(95%) and dotted (99.8%) control limits narrowing as numbers grow; "
                          "LAs outside the limits are drawn as triangles and labelled.",
                          caption="Only LAs whose counts are published are drawn.")
        out += shown
        out += Shown('<p class="note">' + _count_las(len(flagged), "lies", "lie")
                     + " outside the 99.8% limits."
                     + (" " + _count_las(left_out, "has", "have") + " counts suppressed by "
                        "disclosure control and " + ("is" if left_out == 1 else "are")
                        + " not plotted." if left_out else "") + "</p>")
    for note in res.notes:
        out += rpt.caution(note)
    return out


def _count_las(n: int, one: str, many: str) -> str:
    """``"No LA lies"``, ``"1 LA lies"``, ``"3 LAs lie"``."""
    if n == 0:
        return f"No LA {one}"
    return f"{n} LA {one}" if n == 1 else f"{n} LAs {many}"


def _starters_by_intervention(rpt: Report) -> dict:
    """Intervention -> the fewest of its starters, completers and dropouts (the
    completion model rests on both outcomes), from the report's data table."""
    t = rpt.tables.get("data_parents_by_intervention")
    if t is None or t.source is None:
        return {}
    f = t.source.frame
    cols = [c for c in ("started", "completed", "dropped_out") if c in f]
    return dict(zip(f["intervention"].astype(str), f[cols].min(axis=1), strict=True))


def _paired_by_intervention(rpt: Report, settings: dict) -> dict:
    """Intervention -> parents with both scores of the outcome model's scale (the
    outcomes table's ``n_paired``); starters when the report has no such table."""
    t = rpt.tables.get("outcomes_change")
    if t is not None and t.source is not None and "intervention" in t.source.frame:
        f = t.source.frame
        hit = f[(f["instrument"] == settings["instrument"]) & (f["scale"] == settings["scale"])]
        if "wave_pre" in hit and len(settings.get("waves", [])) == 2:
            hit = hit[(hit["wave_pre"] == settings["waves"][0])
                      & (hit["wave_post"] == settings["waves"][1])]
        if len(hit):
            return dict(zip(hit["intervention"].astype(str), hit["n_paired"], strict=True))
    return _starters_by_intervention(rpt)
