"""What a report notebook calls: open the report from its plan, load its data, and
turn plan settings into the keyword arguments of the analyses.

Notebooks hold narrative and calls only; everything they need is here, so a notebook
cell reads like ``engagement_analysis(data, **settings.engagement(plan))``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from rpc_eval.errors import DataQualityWarning
from rpc_eval.plan import Plan, load_plan
from rpc_eval.report.publish import Report

__all__ = ["open_report", "load_report_data", "engagement_kwargs", "outcome_kwargs",
           "multilevel_kwargs", "monitoring_kwargs", "attrition_kwargs", "attempt",
           "pooling_comparison"]


#: The report the notebook opened (its notes go to the report's analyst's notes).
_CURRENT: list[Report] = []


def _caution(message: str):
    """A message as the report's plain sentence (:meth:`Report.caution`)."""
    from rpc_eval.report.notes import plain_note
    from rpc_eval.report.publish import Shown

    if _CURRENT:
        return _CURRENT[-1].caution(message)
    sentence = plain_note(message)
    from rpc_eval.report.html import esc

    return Shown(f'<p class="note">{esc(sentence)}</p>' if sentence else "")


def _show_as_note(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning in the notebook as a plain sentence of the report (never its class
    name nor its codes; the message goes to the analyst's notes), not as a stderr dump."""
    try:
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - outside IPython
        print(f"Note: {message}")
        return
    shown = _caution(str(message))
    if shown.html:
        display(HTML(shown.html))


def open_report(plan_path: str | Path, out_dir: str | Path | None = None) -> Report:
    """The :class:`Report` of the plan at ``plan_path`` (output folder default:
    ``report/<plan name>`` under the repository).

    In a notebook, warnings raised by the analyses are shown once each as notes of the
    report (what the reader needs to know, e.g. few clusters for robust standard errors)
    rather than as warning dumps.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebook tools
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        warnings.showwarning = _show_as_note
        warnings.simplefilter("once")
    plan = load_plan(plan_path)
    out = Path(out_dir) if out_dir else plan.root / "report" / plan.name
    out.mkdir(parents=True, exist_ok=True)
    rpt = Report(plan, out)
    _CURRENT[:] = [rpt]
    return rpt


def load_report_data(plan: Plan, data_path: str | Path | None = None) -> Any:
    """The plan's data (or ``data_path`` instead): an
    :class:`~rpc_eval.data.model.EvaluationData` for evaluation data, the dict of
    case-study tables for ``data.kind: case_studies``. Data-quality warnings are kept in
    the intake log rather than printed."""
    path = Path(data_path) if data_path else plan.data_path
    if plan["data"].get("kind", "evaluation") == "case_studies":
        from rpc_eval.regional.interim_tables import load_case_studies

        return load_case_studies(path)
    from rpc_eval.data import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load(path)


def _waves(plan: Plan) -> tuple[str, str]:
    w = plan.get("waves") or {"pre": "baseline", "post": "end"}
    return (w["pre"], w["post"])


def engagement_kwargs(plan: Plan) -> dict[str, Any]:
    """Keyword arguments of :func:`rpc_eval.engagement.engagement_analysis`."""
    e = plan["engagement"]
    out: dict[str, Any] = {"group": e["group"], "covariates": tuple(plan.get("covariates",
                                                                              ()))}
    if "reference" in e:
        out["reference"] = e["reference"]
    if "cluster" in e:
        out["cluster"] = e["cluster"]
    return out


def outcome_kwargs(plan: Plan, by: str | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`rpc_eval.change.outcome_tables`.

    Reports classify reliable change with ``sample_norms=True``: where a questionnaire's
    definition has no published reliability, normative SD or cut-off, the baseline
    sample's Cronbach's alpha and SD are used, and the published table's "Reliable change
    based on" column (``rci_basis``) says so for every row."""
    o = plan.get("outcomes") or {}
    out = {"waves": _waves(plan), "by": by or plan.get("engagement", {}).get(
        "group", "intervention"), "scales": o.get("change_scales", "primary"),
        "sample_norms": True}
    if o.get("change_scales", "primary") == "primary" and o.get("primary"):
        out["outcomes"] = [(x["instrument"], x["scale"])
                           for x in [*o["primary"], *o.get("secondary", [])]]
    return out


def multilevel_kwargs(plan: Plan) -> dict[str, Any]:
    """Keyword arguments of :func:`rpc_eval.multilevel.multilevel_analysis`."""
    m = plan["models"]["outcome_model"]
    c = plan["models"].get("completion") or {}
    return {"instrument": m["instrument"], "scale": m["scale"], "waves": _waves(plan),
            "groups": m["group"], "n_boot": m.get("bootstrap", 200), "seed": plan["seed"],
            "completion_groups": c.get("group"), "n_agq": c.get("n_agq", 10)}


def monitoring_kwargs(plan: Plan) -> dict[str, Any]:
    """Keyword arguments of :func:`rpc_eval.monitoring.monitoring_analysis`."""
    s = plan.get("satisfaction")
    if not s:
        return {}
    return {"satisfaction_instrument": s["instrument"], "target": s["target"],
            "top_box": tuple(s["top_box"])}


def attrition_kwargs(plan: Plan) -> dict[str, Any]:
    """Keyword arguments of :func:`rpc_eval.change.sensitivity.attrition_analysis` for
    the plan's first primary outcome."""
    first = plan["outcomes"]["primary"][0]
    covs = list(plan.get("covariates", ()))
    return {"instrument": first["instrument"], "scale": first["scale"],
            "waves": _waves(plan), "covariates": covs,
            "by": plan.get("engagement", {}).get("group", "intervention"),
            "m": (plan.get("attrition") or {}).get("imputations", 20), "seed": plan["seed"]}


def pooling_comparison(data: Any, plan: Plan) -> Any:
    """:func:`rpc_eval.regional.federated.one_stage_comparison` for each of the plan's pooled
    outcomes, one after the other (``instrument`` and ``scale`` columns first)."""
    import pandas as pd

    from rpc_eval.regional.federated import comparison_inputs, one_stage_comparison

    shared = comparison_inputs(data, plan)  # every LA summarised once for all outcomes
    rows = []
    for o in plan["pooling"]["outcomes"]:
        frame = one_stage_comparison(data, plan, (o["instrument"], o["scale"]),
                                     shared=shared)
        frame.insert(0, "scale", o["scale"])
        frame.insert(0, "instrument", o["instrument"])
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def attempt(label: str, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Run an analysis that the data may not support (e.g. a multilevel model on one
    LA's data): ``(result, None)``, or ``(None, note)`` where ``note`` displays why the
    section is left out."""
    from rpc_eval.errors import RpcEvalError

    try:
        return fn(*args, **kwargs), None
    except RpcEvalError as exc:
        return None, _caution(f"{label} left out: {exc}")
