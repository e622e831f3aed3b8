"""The engagement section of a report: funnel, retention, competing exits, models.

Publishes :class:`~rpc_eval.engagement.analysis.EngagementResults` through a
:class:`~rpc_eval.report.publish.Report`; computes nothing. Figures are drawn from the
protected tables: a suppressed cell is not plotted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rpc_eval.engagement.analysis import EngagementResults  # noqa: E402
from rpc_eval.engagement.funnel import STAGES  # noqa: E402
from rpc_eval.engagement.plots import plot_session_hazard  # noqa: E402
from rpc_eval.report.disclosure import TableSpec, TotalRows  # noqa: E402
from rpc_eval.report.html import esc  # noqa: E402
from rpc_eval.report.publish import Report, Shown  # noqa: E402
from rpc_eval.report.step_figures import MERGED_CAPTION, draw_published_steps  # noqa: E402

__all__ = ["engagement_section", "funnel_wide", "coarse_steps", "round_count",
           "published_model"]

CAUSE_LABELS = {1: "Dropped out", 2: "Completed"}
#: Numbers of the published survival steps (coarse_steps: every step rests on at least
#: threshold events, numbers at risk rounded to the threshold): safe as they are.
STEP_COLUMNS = ("cause", "time", "n_risk_rounded", "survival", "cif", "ci_low", "ci_high")
#: Tests across every group (log-rank, Gray): the cause code and the test's numbers.
TEST_STATISTICS = ("cause", "statistic", "df", "p", "p_value")
ALL_ANALYSES = ("funnel", "retention", "cumulative_incidence", "cox", "fine_gray",
                "session_hazard")


def funnel_wide(funnel: pd.DataFrame, group: str) -> pd.DataFrame:
    """The funnel one row per group: ``n_<stage>``, and ``rate_<stage>``,
    ``ci_low_<stage>``, ``ci_high_<stage>`` (from the stage's denominator stage), in
    :data:`~rpc_eval.engagement.funnel.STAGES` order; ``All`` last. Each rate then rests
    on counts of its own row, so disclosure control can suppress it with them."""
    order = list(pd.unique(funnel[group]))
    rows = []
    for g in order:
        sub = funnel[funnel[group] == g].set_index("stage")
        row: dict = {group: g}
        for st in STAGES:
            if st.stage not in sub.index:
                continue
            r = sub.loc[st.stage]
            row[f"n_{st.stage}"] = int(r["n"])
            if st.denominator is None:
                continue
            for c in ("rate", "ci_low", "ci_high"):
                row[f"{c}_{st.stage}"] = float(r[c]) if pd.notna(r[c]) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def round_count(values, base: int) -> np.ndarray:
    """Counts rounded half up to ``base`` (the threshold); a non-zero count is at least
    ``base``, zero stays zero. Used where a count is published only to show the scale
    (numbers at risk), so that differences between rows reveal no small count."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    out = np.floor(v / base + 0.5) * base
    return np.where(v > 0, np.maximum(out, base), out)


def coarse_steps(table: pd.DataFrame, by: Sequence[str], events: str, threshold: int,
                 keep: Sequence[str], digits: int = 2, at_risk: str = "n_at_risk"
                 ) -> pd.DataFrame:
    """The published form of a step table (Kaplan-Meier, cumulative incidence).

    Within each ``by`` group (sorted by ``time``), a step is published only once at
    least ``threshold`` events (column ``events``) have occurred since the last
    published step, so each published step rests on at least ``threshold`` events;
    groups with fewer than ``threshold`` people at risk at the start are not published.
    The estimate columns ``keep`` are those of the last time merged into the step,
    rounded to ``digits`` decimals; ``n_risk_rounded`` (the published header) is the
    number at risk (column ``at_risk``) at the step's first merged time, rounded to
    ``threshold``. Counts of events, censorings
    and standard errors are not published: with the estimate they would give the
    numbers at risk exactly, and their running differences small counts of people.
    """
    rows = []
    for _, sub in table.groupby(list(by), sort=False):
        sub = sub.sort_values("time")
        if not len(sub) or sub[at_risk].iloc[0] < threshold:
            continue
        acc, first = 0, None
        for _, r in sub.iterrows():
            first = r if first is None else first
            acc += int(r[events])
            if acc >= threshold:
                row = {c: r[c] for c in by}
                row["time"] = r["time"]
                row["n_risk_rounded"] = first[at_risk]
                for c in keep:
                    row[c] = r[c]
                rows.append(row)
                acc, first = 0, None
    out = pd.DataFrame(rows, columns=[*by, "time", "n_risk_rounded", *keep])
    out["n_risk_rounded"] = round_count(out["n_risk_rounded"], threshold).astype("int64")
    for c in keep:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float).round(digits)
    return out


def _levels(terms: pd.Series) -> list[str | None]:
    """The category of each model term (``C(x)[T.level]`` or ``x[T.level]`` -> level)."""
    out = []
    for t in terms.astype(str):
        m = re.search(r"\[T\.(.+)\]$", t)
        out.append(m.group(1) if m else None)
    return out


def term_rests_on(terms: pd.Series, counts: dict[str, float]) -> list[float]:
    """People or events each model term rests on: the smallest of ``counts`` (level ->
    count, e.g. starters and dropouts of an intervention) for a category term; missing
    for terms resting on everyone (intercept, covariates)."""
    return [counts.get(level, np.nan) if level is not None else np.nan
            for level in _levels(terms)]


#: The published layout of a model's coefficient table (the first published reports'
#: column names) -> the column of the result it is read from. ``ci_low``/``ci_high`` are
#: published on the ratio scale.
_PUBLISHED_MODEL = {"term": "term", "coef": "estimate", "se": "std_error",
                    "robust_se": "std_error", "hr": "ratio", "ci_low": "ratio_ci_low",
                    "ci_high": "ratio_ci_high", "z": "statistic", "p": "p_value"}
_PUBLISHED_COX = ("term", "coef", "se", "robust_se", "hr", "ci_low", "ci_high", "z", "p")
_PUBLISHED_FINE_GRAY = ("term", "coef", "se", "hr", "ci_low", "ci_high", "p", "z")
#: Published test tables: ``p`` is the result's ``p_value``.
_PUBLISHED_TEST = {"p_value": "p"}


def published_model(coefficients: pd.DataFrame, layout: Sequence[str]) -> pd.DataFrame:
    """A model's coefficient table in its published layout (same headers and values as
    the first published reports): ``coef, se, [robust_se], hr, ci_low, ci_high, z, p``
    with the limits on the ratio scale. With cluster-robust errors ``se`` is the
    model-based SE (``naive_std_error``) and ``robust_se`` the one used (``std_error``);
    ``robust_se`` is left out when the model was not clustered."""
    clustered = "naive_std_error" in coefficients
    out = {}
    for col in layout:
        if col == "robust_se" and not clustered:
            continue
        source = "naive_std_error" if (col == "se" and clustered) else _PUBLISHED_MODEL[col]
        out[col] = coefficients[source]
    return pd.DataFrame(out)


def _model_columns(coefficients: pd.DataFrame) -> list[str]:
    return [c for c in ("term", "hr", "ci_low", "ci_high", "p") if c in coefficients]


def engagement_section(rpt: Report, res: EngagementResults,
                       analyses: Sequence[str] = ALL_ANALYSES) -> Shown:
    """Publish the engagement tables and figures the plan asks for.

    Tables: ``engagement_funnel`` (by group, with ``All`` rows), ``engagement_retention_km``,
    ``engagement_logrank``, ``engagement_cumulative_incidence``, ``engagement_gray_test``,
    ``engagement_cox_dropout``, ``engagement_finegray_completion``,
    ``engagement_session_hazard``. Figures: retention, stacked cumulative incidence and
    session hazard by group.
    """
    group = res.settings["group"]
    label = group.replace("_", " ")
    ref = res.settings["reference"]
    if ref is not None:
        rpt.references[group] = str(ref)
    thr = rpt.rules.threshold
    out = Shown("")
    lab = rpt.labels
    all_groups = [g for g in pd.unique(res.funnel[group]) if g != "All"]

    def names(codes) -> str:
        words = [lab.name(group, c) for c in codes]
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]

    def not_drawn(drawn, what: str, rests: str) -> str:
        """The sentence for the groups whose curve is not published."""
        missing = [g for g in all_groups if g not in set(drawn)]
        if not missing:
            return ""
        return (f"{what} is not shown for {names(missing)}: too few parents started, or "
                f"too few {rests}, for a curve in which every step rests on at least "
                f"{thr} parents.")
    if "funnel" in analyses:
        wide = funnel_wide(res.funnel, group)
        stages = [st.stage for st in STAGES if f"n_{st.stage}" in wide]
        derived = {}
        for st in STAGES:
            if st.denominator is None or f"n_{st.stage}" not in wide:
                continue
            for c in ("rate", "ci_low", "ci_high"):
                derived[f"{c}_{st.stage}"] = (f"n_{st.stage}", f"n_{st.denominator}")
        out += rpt.table(
            "engagement_funnel", wide,
            f"Referral funnel by {label}: parents at each stage, and the share of the "
            "stage before who reached it (rate, 95% Wilson interval; completers for the "
            "questionnaire stages)",
            spec=TableSpec(counts=tuple(f"n_{s}" for s in stages), derived=derived,
                           total_rows=TotalRows(column=group, label="All"),
                           keys={f"n_{s}": f"parents {s}" for s in stages},
                           key_columns=(group,)),
            nested=[(f"n_{st.denominator}", f"n_{st.stage}") for st in STAGES
                    if st.denominator is not None and f"n_{st.stage}" in wide],
            columns=[group, *[c for s in stages for c in (f"n_{s}", f"rate_{s}")
                              if c in wide]], max_rows=20)
    if "retention" in analyses:
        km = coarse_steps(res.retention.table, ["group"], "n_events", thr,
                          ["survival", "ci_low", "ci_high"])
        out += Shown(f"<h3>Retention by {esc(label)}</h3>")
        shown = rpt.table(
            "engagement_retention_km", km,
            f"Kaplan-Meier retention by {label}: share not yet dropped out by sessions "
            "attended (completion and ongoing parents censored)",
            spec=TableSpec(safe=STEP_COLUMNS),
            description=[
                f"Published in steps of at least {thr} dropouts: a step merges sessions "
                f"until {thr} or more parents have dropped out since the last step, and "
                f"groups with fewer than {thr} starters are left out. Numbers at risk are "
                f"rounded to the nearest {thr}; estimates to 2 decimals. Counts of "
                "dropouts and censorings and standard errors are not published, since "
                "with the estimates they would reveal small numbers of parents."],
            max_rows=15)

        def draw_retention():
            published = rpt.values("engagement_retention_km").dropna(subset=["survival"])
            if published.empty:
                return (f"Retention is not shown: in no {label} did enough parents start "
                        f"and drop out for a curve in which every step rests on at least "
                        f"{thr} dropouts.")
            return draw_published_steps(
                published, panel=None, line="group", estimate="survival", start=1.0,
                name=str, line_name=lambda g: lab.name(group, g),
                ylabel="Not yet dropped out")

        def retention_caption() -> str:
            drawn = rpt.values("engagement_retention_km")["group"].unique()
            return " ".join(x for x in (
                f"Share of starters not yet dropped out, by sessions attended, one line "
                f"per {label}. {MERGED_CAPTION}",
                not_drawn(drawn, "Retention", "dropped out")) if x)

        out += rpt.figure(draw_retention, f"retention_by_{group}",
                          f"Published estimates of the share of starters not yet dropped "
                          f"out, by sessions attended, one marker shape per {label}; each "
                          f"published step rests on at least {thr} dropouts.",
                          caption=retention_caption)
        out += shown
        if len(res.logrank):
            out += rpt.table("engagement_logrank",
                             res.logrank.rename(columns=_PUBLISHED_TEST),
                             "Log-rank test of equal dropout across groups",
                             spec=TableSpec(safe=TEST_STATISTICS))
    if "cumulative_incidence" in analyses:
        cif = coarse_steps(res.cumulative_incidence.table, ["group", "cause"], "n_events",
                           thr, ["cif", "ci_low", "ci_high"])
        out += Shown("<h3>Dropout and completion as competing exits</h3>")
        shown = rpt.table(
            "engagement_cumulative_incidence", cif,
            f"Cumulative incidence of dropout (cause 1) and completion (cause 2) by {label} "
            "(Aalen-Johansen)",
            spec=TableSpec(safe=STEP_COLUMNS),
            description=[
                f"Published in steps of at least {thr} exits of the cause: a step merges "
                f"sessions until {thr} or more parents have left that way since the last "
                f"step, and groups with fewer than {thr} starters are left out. Numbers at "
                f"risk are rounded to the nearest {thr}; estimates to 2 decimals; counts "
                "and variances are not published."],
            max_rows=15)

        def draw_cif():
            published = rpt.values("engagement_cumulative_incidence").dropna(subset=["cif"])
            if published.empty:
                return (f"Dropout and completion are not shown as curves: in no {label} "
                        f"did enough parents start and leave for a curve in which every "
                        f"step rests on at least {thr} exits of its kind.")
            return draw_published_steps(
                published, panel="group", line="cause", estimate="cif", start=0.0,
                name=lambda g: lab.name(group, g),
                line_name=lambda c: CAUSE_LABELS.get(int(c), str(c)),
                ylabel="Share of starters", order=sorted(published["cause"].unique()))

        def cif_caption() -> str:
            drawn = rpt.values("engagement_cumulative_incidence")["group"].unique()
            return " ".join(x for x in (
                f"Cumulative share of starters who dropped out and who completed, by "
                f"sessions attended, one panel per {label}. {MERGED_CAPTION}",
                not_drawn(drawn, "The curve", "left")) if x)

        out += rpt.figure(draw_cif, f"cumulative_incidence_by_{group}",
                          f"One panel per {label}: published estimates of the cumulative "
                          "share of starters who dropped out (circles) and who completed "
                          "(squares), by sessions attended.",
                          caption=cif_caption)
        out += shown
        if len(res.gray):
            out += rpt.table("engagement_gray_test",
                             res.gray.rename(columns=_PUBLISHED_TEST),
                             "Gray's test of equal cumulative incidence (cause 1 = dropout, "
                             "2 = completion)", spec=TableSpec(safe=TEST_STATISTICS))
    if "session_hazard" in analyses:
        haz = res.session_hazard.copy()
        haz["n_at_risk"] = round_count(haz["n_at_risk"], thr).astype("int64")
        big = haz["n_events"] >= thr
        haz["n_events"] = np.where(big, round_count(haz["n_events"], thr),
                                   haz["n_events"]).astype("int64")
        for c in ("hazard", "ci_low", "ci_high"):
            haz[c] = haz[c].astype(float).round(2)
        haz = haz.rename(columns={"n_at_risk": "n_at_risk_rounded"})
        shown = rpt.table(
            "engagement_session_hazard", haz,
            f"Dropout hazard at each session by {label}: share of parents at risk who "
            "dropped out at that session (95% intervals)",
            spec=TableSpec(counts=("n_events",),
                           derived={c: ("n_events",) for c in
                                    ("hazard", "ci_low", "ci_high")},
                           safe=("session", "n_at_risk_rounded")),
            description=[f"Numbers at risk and of dropouts are rounded to the nearest {thr} "
                         "and hazards to 2 decimals, so that differences between sessions "
                         "reveal no small number of parents."],
            max_rows=15)

        def draw_hazard():
            h = rpt.values("engagement_session_hazard").rename(columns={group: "group"})
            h = h.dropna(subset=["hazard"])
            if h.empty:
                return ("The dropout hazard is not drawn: no session's hazard could be "
                        "published.")
            h["group"] = h["group"].map(lambda g: lab.name(group, g))
            fig, ax = plt.subplots(figsize=(9, 5))
            plot_session_hazard(h, ax=ax, legend_title=label)
            return fig

        out += rpt.figure(draw_hazard, f"session_hazard_by_{group}",
                          f"Points with 95% intervals of the dropout hazard at each session, "
                          f"one marker shape per {label}; sessions with suppressed counts are "
                          "left out.",
                          caption="The published hazards only: sessions with fewer than "
                                  f"{thr} dropouts are not drawn.")
        out += shown
    counts = _group_counts(rpt, res, group)

    def rests(coefficients: pd.DataFrame, *cols: str) -> tuple:
        have = [c for c in cols if c in counts]
        per_level = counts[have].min(axis=1).to_dict() if have else {}
        stats = [c for c in coefficients.columns if c != "term"]
        return (term_rests_on(coefficients["term"], per_level), stats,
                f"starters or {'dropouts' if 'dropped_out' in cols else 'completers'} "
                f"in the term's {label}")

    if "cox" in analyses and res.cox is not None:
        cox = published_model(res.cox.coefficients, _PUBLISHED_COX)
        out += rpt.table(
            "engagement_cox_dropout", cox,
            f"Cause-specific Cox model of dropout: hazard ratios against {lab.name(group, ref)}, 95% "
            "intervals from standard errors clustered by LA (Efron ties)",
            rests_on=rests(cox, "started", "dropped_out"),
            columns=_model_columns(cox))
    if "fine_gray" in analyses and res.fine_gray is not None:
        fg = published_model(res.fine_gray.coefficients, _PUBLISHED_FINE_GRAY)
        out += rpt.table(
            "engagement_finegray_completion", fg,
            f"Fine-Gray model of completion: subdistribution hazard ratios against "
            f"{lab.name(group, ref)}, "
            "95% intervals from robust standard errors clustered by LA",
            rests_on=rests(fg, "started", "completed"),
            columns=_model_columns(fg))
    for note in res.notes:
        out += rpt.caution(note)
    return out


def _group_counts(rpt: Report, res: EngagementResults, group: str) -> pd.DataFrame:
    """Starters, completers and dropouts by group (from the funnel and the retention
    table), for the rests-on rule of the models' terms."""
    f = res.funnel
    wide = f.pivot_table(index=group, columns="stage", values="n", aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    out["started"] = wide.get("started")
    out["completed"] = wide.get("completed")
    km = res.retention.table if res.retention is not None else None
    if km is not None and "n_events" in km:
        out["dropped_out"] = km.groupby("group")["n_events"].sum().reindex(out.index)
    return out
