"""A few plain-English sentences on a built report's headline results, for the top of
the report's page and the end of ``rpc-eval run``. Read from the report's published (disclosure-controlled) tables, so
they can say nothing the tables do not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rpc_eval.plan import Plan

__all__ = ["headline_findings"]


def _num(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v


def _count(value) -> str:
    v = _num(value)
    return "a suppressed number of" if v is None else f"{v:,.0f}"


def headline_findings(report_dir: str | Path, plan: Plan, labels=None) -> list[str]:
    """Sentences on the funnel (overall row) and the plan's primary outcomes (overall
    change with its 95% interval), from ``report_dir/tables``; empty when the report
    has neither table. Questionnaires and scales are named by ``labels``
    (:class:`~rpc_eval.report.labels.Labels`; default: the package's codebooks)."""
    if labels is None:
        from rpc_eval.report.labels import Labels

        labels = Labels.default()
    tables = Path(report_dir) / "tables"
    out: list[str] = []
    funnel_path = tables / "engagement_funnel.csv"
    if funnel_path.is_file():
        f = pd.read_csv(funnel_path, dtype=str)
        group = f.columns[0]
        row = f[f[group] == "All"]
        if len(row):
            r = row.iloc[0]
            referred = _num(r.get("n_referred"))
            text = (f"{referred:,.0f} parents were referred" if referred is not None else
                    "The number of parents referred is too small to publish")
            started, completed = _num(r.get("rate_started")), _num(r.get("rate_completed"))
            if started is not None:
                text += f"; {started:.0%} of them started"
            if completed is not None:
                text += f", and {completed:.0%} of starters completed"
            out.append(text + ".")
    change_path = tables / "outcomes_change.csv"
    if change_path.is_file() and plan.get("outcomes"):
        c = pd.read_csv(change_path, dtype=str)
        by = c.columns[0]
        for o in plan["outcomes"]["primary"]:
            hit = c[(c[by] == "All") & (c["instrument"] == o["instrument"])
                    & (c["scale"] == o["scale"])]
            what = (f"{labels.name('instrument', o['instrument'])} "
                    f"({labels.name('scale', o['scale']).lower()} score)")
            if hit.empty:
                continue
            r = hit.iloc[0]
            est, lo, hi = (_num(r[k]) for k in ("mean_change", "change_ci_low",
                                                "change_ci_high"))
            if est is None or lo is None or hi is None:
                out.append(f"Main outcome, {what}: not shown, because too few parents "
                           "answered the questionnaire both times.")
                continue
            better = "lower" if r["direction"] == "higher_is_worse" else "higher"
            out.append(f"Main outcome, {what}: the score changed "
                       f"by {est:+.2f} on average (95% interval {lo:+.2f} to {hi:+.2f}; {better} "
                       f"is better) among {_count(r['n_paired'])} parents with both "
                       "questionnaires. Without a comparison group this is preliminary "
                       "evidence, not proof, that the interventions caused the change.")
    return out
