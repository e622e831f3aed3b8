"""The multilevel section of a report: outcome model by intervention, ICC, LA
comparisons (caterpillar and funnel plots). Formats results; computes nothing."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rpc_eval.multilevel.compare import caterpillar_plot  # noqa: E402
from rpc_eval.multilevel.summary import MultilevelResults  # noqa: E402
from rpc_eval.report.figures import save_figure  # noqa: E402
from rpc_eval.report.html import esc, table_html  # noqa: E402

__all__ = ["write_multilevel_section"]


def _rounded(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(digits)
    return out


def write_multilevel_section(res: MultilevelResults, out_dir: str | Path
                             ) -> tuple[str, dict[str, pd.DataFrame], list[Path]]:
    """Write the figures; return the section's HTML, its tables and the figure files."""
    out = Path(out_dir)
    tables: dict[str, pd.DataFrame] = {}
    files: list[Path] = []
    s = res.settings
    parts = ["<h2>Local authorities: multilevel models and fair comparisons</h2>"]
    if res.outcome_model is not None:
        fe = res.outcome_model.fixed_effects
        vc = res.outcome_model.variance_components
        tables["multilevel_outcome_fixed_effects"] = fe
        tables["multilevel_outcome_variance_components"] = vc
        parts += [
            f'<p class="note">Linear mixed model of the {esc(s["waves"][1])} score on '
            f'{esc(s["instrument"])} ({esc(s["scale"])}), adjusted for the '
            f'{esc(s["waves"][0])} score, with a random intercept for each LA (REML; '
            "Satterthwaite degrees of freedom). Intervention terms are differences from "
            f'{esc(str(s.get("reference")))}.</p>',
            table_html(_rounded(fe), "Outcome model: fixed effects"),
            table_html(_rounded(vc), "Outcome model: variance components"),
        ]
    if res.icc is not None:
        tables["multilevel_icc"] = res.icc
        parts.append(table_html(_rounded(res.icc, 4), "Intra-class correlation and design "
                                "effect (share of outcome variance between LAs), with 95% parametric-"
                                "bootstrap intervals"))
    if res.completion_model is not None:
        tables["multilevel_completion_fixed_effects"] = res.completion_model.fixed_effects
        parts.append(table_html(_rounded(res.completion_model.fixed_effects),
                                "Completion among starters: random-intercept logistic model "
                                "(log-odds; adaptive Gauss-Hermite quadrature, 10 nodes)"))
    if res.la_effects is not None:
        tables["multilevel_la_effects"] = res.la_effects
        fig, ax = plt.subplots(figsize=(7, max(4.0, 0.14 * len(res.la_effects))))
        caterpillar_plot(res.la_effects, ax=ax)
        ax.set_xlabel("LA effect on the log-odds of completion (95% prediction interval)")
        files += save_figure(fig, out / "figures", "la_caterpillar_completion")
        parts.append('<figure><img src="figures/la_caterpillar_completion.png" width="700" '
                     'alt="LA effects on completion with prediction intervals, sorted">'
                     "</figure>")
    if res.completion_funnel is not None:
        tables["multilevel_completion_funnel"] = res.completion_funnel.table
        fig, ax = plt.subplots(figsize=(8, 5))
        res.completion_funnel.plot(ax=ax)
        ax.set_xlabel("Parents who started")
        ax.set_ylabel("Completion rate")
        files += save_figure(fig, out / "figures", "la_funnel_completion")
        flagged = res.completion_funnel.table
        flagged = flagged[flagged["flag"].str.contains("99.8")]
        parts += [
            '<figure><img src="figures/la_funnel_completion.png" width="700" '
            'alt="Funnel plot of LA completion rates against the number of starters">'
            "</figure>",
            f'<p class="note">{len(flagged)} LA(s) lie outside the 99.8% limits.</p>',
        ]
    for note in res.notes:
        parts.append(f'<p class="note">{esc(note)}</p>')
    return "\n".join(parts), tables, files
