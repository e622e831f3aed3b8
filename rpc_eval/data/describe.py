"""Plain counts that describe a dataset (no statistics): for the data summary of a report."""

from __future__ import annotations

import pandas as pd

from rpc_eval.data.model import EvaluationData

__all__ = ["describe"]


def describe(data: EvaluationData) -> dict[str, pd.DataFrame]:
    """Counts describing ``data``, as tidy frames.

    Returns
    -------
    dict of DataFrame
        ``tables``: ``table, rows``;
        ``parents_by_intervention``: ``intervention, name, referred, started, completed,
        dropped_out, ongoing`` (started = has a start date);
        ``responses_by_wave``: ``instrument, wave, parents`` (parents with at least one
        answered item);
        ``practitioners_by_sector``: ``sector, practitioners``;
        ``planning_returns``: ``return_year, las``.

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, truth = generate("small", seed=1)
    >>> int(describe(data)["parents_by_intervention"]["referred"].sum()) == len(data.parents)
    True
    """
    p = data.parents
    names = data.codebooks["interventions"].labels()
    if len(data.interventions):
        names.update(dict(zip(data.interventions["intervention"], data.interventions["name"],
                              strict=True)))
    by_int = (
        p.assign(started=p["start_date"].notna(),
                 completed=p["exit_reason"].eq("completed"),
                 dropped_out=p["exit_reason"].eq("dropped_out"),
                 ongoing=p["exit_reason"].eq("ongoing"))
        .groupby("intervention", sort=True)
        .agg(referred=("parent_id", "size"), started=("started", "sum"),
             completed=("completed", "sum"), dropped_out=("dropped_out", "sum"),
             ongoing=("ongoing", "sum"))
        .reset_index()
    )
    by_int.insert(1, "name", by_int["intervention"].map(names).fillna(by_int["intervention"]))
    r = data.responses
    answered = r[r["value"].notna()]
    wave_order = {w: i for i, w in enumerate(data.codebooks["waves"].codes)}
    by_wave = (answered.groupby(["instrument", "wave"])["parent_id"].nunique()
               .rename("parents").reset_index())
    by_wave = (by_wave.assign(_o=by_wave["wave"].map(wave_order))
               .sort_values(["instrument", "_o"]).drop(columns="_o").reset_index(drop=True))
    sectors = (data.practitioners.groupby("sector").size().rename("practitioners")
               .reset_index())
    returns = (data.planning_tool.groupby("return_year")["la_code"].nunique().rename("las")
               .reset_index())
    tables = data.summary()[["table", "rows"]]
    return {
        "tables": tables,
        "parents_by_intervention": by_int,
        "responses_by_wave": by_wave,
        "practitioners_by_sector": sectors,
        "planning_returns": returns,
    }
