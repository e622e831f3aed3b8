"""Tables of the RPC Local Grant interim report, recomputed from row-level records.

The 2024 interim report of the Reducing Parental Conflict (RPC) Local Grant
evaluation (DWP research report 1059) publishes small count tables about its
case-study local authorities (LAs) and early-stage workshops. This module rebuilds
Tables 1, 2, 3, 5, 6 and 7 of that report by counting row-level records, so that
the same code can tabulate a region's own case-study returns.

Input is a folder of CSV files (see ``synthetic_data/interim_case_studies/README.md``
for every file and column); :func:`load_case_studies` reads it into a dict of
DataFrames and each ``table_*`` function turns that dict into a DataFrame laid out
like the published table: the published row labels as the index (named as the
published first header), the published column headers, integer counts.

The estimator throughout is a plain count (``pandas.crosstab`` / ``groupby().size``);
R equivalent: ``table()`` / ``xtabs()`` on the same rows.

Reference: DWP (2024) *Reducing Parental Conflict Programme: Local Grant evaluation,
interim report*, research report 1059, Tables 1-3, 5-7.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from rpc_eval.data.codebooks import CodebookError, load_codebooks
from rpc_eval.errors import RpcEvalError

__all__ = [
    "load_case_studies",
    "table_1",
    "table_2",
    "table_3",
    "table_5",
    "table_6",
    "table_7",
    "FILES",
]

#: Table name -> (file name, required columns).
FILES: dict[str, tuple[str, list[str]]] = {
    "case_studies": ("case_studies.csv", ["la_code", "in_interim_report"]),
    "las": ("las.csv", ["la_name", "family_hub_area", "family_hub_note",
                        "cpa_trial", "cluster_bid", "in_interim_report"]),
    "planning_tool": ("planning_tool.csv", ["la_code", "return", "section", "item", "part",
                                            "response"]),
    "interventions_from_interviews": ("interventions_from_interviews.csv",
                                      ["la_code", "item", "mentioned_by"]),
    "interviews": ("interviews.csv", ["person_id", "la_code", "job_role", "format",
                                      "session_id"]),
    "workshops": ("workshops.csv", ["workshop_id", "workshop_number", "title"]),
    "workshop_signups": ("workshop_signups.csv", ["workshop_id", "la_code", "attended"]),
}

#: Published row labels (layout only: codes -> labels, in the published order).
TABLE_1_ROWS = {
    "rpc_lead": "RPC lead/coordinator",
    "strategic_lead": "Strategic lead",
    "trainer": "Trainers",
    "provider": "Providers",
    "frontline": "Frontline practitioners",
}
TABLE_2_ROWS = {
    "aware_la_early_help": "Local Authority Early Help / family workers",
    "aware_health": "Health",
    "aware_education": "Education",
    "aware_vcs": "Voluntary and community sector",
    "aware_police": "Police",
}
TABLE_2_COLUMNS = {"very": "Very Aware", "somewhat": "Somewhat Aware", "not": "Not Aware"}
TABLE_3_ROWS = {
    "trained_la_early_help": "Local Authority Early Help / family workers",
    "trained_commissioned_early_help": "Commissioned Early Help / family services workforce",
    "trained_social_care": "Children’s social care workers",
    "trained_public_health_nursing": "Specialist public health or community nurses",
    "trained_police": "Police",
    "trained_education": "Education services",
    "trained_health_visiting": "Health visiting",
    "trained_youth_offending": "Youth offending services",
}
TABLE_3_COLUMNS = {"0-25": "0-25%", "25-50": "25-50%", "50-75": "50-75%", "75-100": "75-100%"}
TABLE_5_ROWS = {
    "offers_ooo_digital": "OnePlusOne",
    "offers_enhanced_triple_p": "Level 5 Enhanced Triple P",
    "offers_mbt": "Mentalisation Based Therapy",
    "offers_family_transitions_triple_p": "Level 5 Family Transitions Triple P",
    "offers_parents_plus": "Parenting when Separated Programme (Parents Plus)",
    "offers_standard_triple_p": "Standard Triple P",
}
TABLE_7_COLUMNS = {
    "family_hub_area": "Family Hub area?",
    "cpa_trial": "Contract Package Area trial?",
    "cluster_bid": "Bid as a cluster?",
}
TABLE_7_VALUES = {"yes": "Yes", "no": "No", "declustering": "In the process of de-clustering"}

DEFAULT_RETURN = "2023-05"


def _example_folder() -> Path:
    return Path(__file__).resolve().parents[2] / "synthetic_data" / "interim_case_studies"


def load_case_studies(folder: str | Path, *, check_codes: bool = True) -> dict[str, pd.DataFrame]:
    """Read the interim case-study CSV files of ``folder``.

    Parameters
    ----------
    folder : str or Path
        Folder holding the files named in :data:`FILES`; an optional ``codebooks/``
        subfolder extends the package codebooks (see :mod:`rpc_eval.data.codebooks`).
    check_codes : bool, default True
        Check every planning-tool item and response against the ``planning_tool``
        codebook (package codebook plus the folder's extension).

    Returns
    -------
    dict of str -> DataFrame
        Keys ``las, planning_tool, interventions_from_interviews, interviews,
        workshops, workshop_signups``; every column is text (blank cells are ``""``)
        except ``workshops.workshop_number`` (int).

    Raises
    ------
    RpcEvalError
        A file or a required column is missing, or a code is not in the codebook.

    Examples
    --------
    >>> cs = load_case_studies(_example_folder())
    >>> sorted(cs)[:3]
    ['case_studies', 'interventions_from_interviews', 'interviews']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RpcEvalError(f"{folder}: no such folder of case-study files")
    out: dict[str, pd.DataFrame] = {}
    for name, (fname, cols) in FILES.items():
        path = folder / fname
        if not path.is_file():
            raise RpcEvalError(f"{path}: file missing (needed for the '{name}' table)")
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise RpcEvalError(f"{path}: cannot be read as CSV ({exc})") from None
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise RpcEvalError(f"{path}: missing column(s) {missing}; expected {cols}")
        out[name] = frame.apply(lambda s: s.str.strip())
    try:
        out["workshops"]["workshop_number"] = out["workshops"]["workshop_number"].astype(int)
    except ValueError:
        raise RpcEvalError(f"{folder / 'workshops.csv'}: workshop_number must be whole "
                           "numbers") from None
    if check_codes:
        _check_codes(out, folder)
    return out


def _check_codes(cs: Mapping[str, pd.DataFrame], folder: Path) -> None:
    extra = [folder / "codebooks"] if (folder / "codebooks").is_dir() else []
    try:
        book = load_codebooks(extra)["planning_tool"]
    except CodebookError as exc:
        raise RpcEvalError(str(exc)) from None
    valid = {str(c): [str(r) for r in v] for c, v in book.attribute("responses").items()}
    problems = []
    pt = cs["planning_tool"]
    for rownum, (item, resp) in enumerate(zip(pt["item"], pt["response"], strict=True), 2):
        if item not in valid:
            problems.append(f"row {rownum}: unknown item {item!r}")
        elif resp not in valid[item]:
            problems.append(f"row {rownum}: response {resp!r} not one of {valid[item]}")
    for rownum, item in enumerate(cs["interventions_from_interviews"]["item"], 2):
        if item not in valid:
            problems.append(f"interventions_from_interviews.csv row {rownum}: unknown item "
                            f"{item!r}")
    if problems:
        raise RpcEvalError("planning_tool.csv: codes not in the planning_tool codebook: "
                           + "; ".join(problems[:10]))


def _need(cs: Mapping[str, pd.DataFrame], *names: str) -> None:
    missing = [n for n in names if n not in cs]
    if missing:
        raise RpcEvalError(f"case-study data lacks table(s) {missing}; use load_case_studies")


def _reported_las(cs: Mapping[str, pd.DataFrame]) -> set[str]:
    """Codes of the case-study LAs in the interim report (``case_studies.csv``; the
    codes are pseudonymous and not linked to the named LAs of ``las.csv``)."""
    codes = cs["case_studies"]
    return set(codes.loc[codes["in_interim_report"] == "yes", "la_code"])


def _crosstab(rows: pd.DataFrame, row_codes: Mapping[str, str],
              col_codes: Mapping[str, str], index_name: str | None) -> pd.DataFrame:
    unknown = sorted(set(rows["response"]) - set(col_codes))
    if unknown:
        raise RpcEvalError(f"responses {unknown} are not columns of this table "
                           f"({list(col_codes)})")
    counts = (rows.groupby(["item", "response"]).size()
              .unstack("response")
              .reindex(index=list(row_codes), columns=list(col_codes))
              .fillna(0).astype("int64"))
    counts.index = pd.Index([row_codes[c] for c in counts.index], name=index_name)
    counts.columns = pd.Index([col_codes[c] for c in counts.columns])
    return counts


def _planning_rows(cs, section: str, items, return_period: str) -> pd.DataFrame:
    _need(cs, "case_studies", "planning_tool")
    pt = cs["planning_tool"]
    keep = (pt["section"].eq(section) & pt["item"].isin(list(items))
            & pt["return"].eq(return_period) & pt["la_code"].isin(_reported_las(cs)))
    return pt.loc[keep]


def table_1(cs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 1: number of individuals interviewed in the case-study LAs, by job role.

    Counts distinct ``person_id`` per ``job_role`` among the interview-log rows of LAs
    in the interim report (``las.in_interim_report == "yes"``); a paired interview or
    focus group contributes one per person. Total = sum over roles.

    Returns
    -------
    DataFrame
        Index ``Job role`` (five roles then ``Total``); column
        ``Number of individuals interviewed`` (int64).

    Examples
    --------
    >>> table_1(load_case_studies(_example_folder())).loc["Total"].item()
    77
    """
    _need(cs, "case_studies", "interviews")
    iv = cs["interviews"]
    iv = iv[iv["la_code"].isin(_reported_las(cs))]
    unknown = sorted(set(iv["job_role"]) - set(TABLE_1_ROWS))
    if unknown:
        raise RpcEvalError(f"interviews.csv: unknown job_role {unknown}; "
                           f"expected one of {list(TABLE_1_ROWS)}")
    n = (iv.drop_duplicates("person_id").groupby("job_role").size()
         .reindex(list(TABLE_1_ROWS)).fillna(0).astype("int64"))
    col = "Number of individuals interviewed"
    out = pd.DataFrame({col: n.to_numpy()},
                       index=pd.Index(list(TABLE_1_ROWS.values()), name="Job role"))
    out.loc["Total"] = out[col].sum()
    return out.astype("int64")


def table_2(cs: Mapping[str, pd.DataFrame], *, return_period: str = DEFAULT_RETURN
            ) -> pd.DataFrame:
    """Table 2: awareness of the RPC agenda among partners' senior leaders.

    Counts planning-tool *answers* (rows of section ``partner_awareness``) by partner
    and response, for the LAs in the interim report. An LA that answered for a partner
    in parts (column ``part``) contributes one answer per part, so a row can sum to
    more than the number of LAs (the published Education row sums to 10 over 9 LAs).

    Returns
    -------
    DataFrame
        Index: partner (published labels); columns ``Very Aware, Somewhat Aware,
        Not Aware`` (int64). No totals (the published table has none).

    Examples
    --------
    >>> t = table_2(load_case_studies(_example_folder()))
    >>> t.loc["Education"].sum().item()
    10
    """
    rows = _planning_rows(cs, "partner_awareness", TABLE_2_ROWS, return_period)
    return _crosstab(rows, TABLE_2_ROWS, TABLE_2_COLUMNS,
                     "How aware of the RPC agenda are the senior leaders of your partners?")


def table_3(cs: Mapping[str, pd.DataFrame], *, return_period: str = DEFAULT_RETURN
            ) -> pd.DataFrame:
    """Table 3: estimated share of each partner workforce trained in RPC, by band.

    Counts planning-tool answers (section ``workforce_trained``) by workforce and
    band for the LAs in the interim report.

    Returns
    -------
    DataFrame
        Index: workforce (published labels, unnamed as in the publication);
        columns ``0-25%, 25-50%, 50-75%, 75-100%`` (int64).

    Examples
    --------
    >>> table_3(load_case_studies(_example_folder())).loc["Police", "0-25%"].item()
    9
    """
    rows = _planning_rows(cs, "workforce_trained", TABLE_3_ROWS, return_period)
    return _crosstab(rows, TABLE_3_ROWS, TABLE_3_COLUMNS, None)


def table_5(cs: Mapping[str, pd.DataFrame], *, return_period: str = DEFAULT_RETURN
            ) -> pd.DataFrame:
    """Table 5: number of case-study LAs delivering each conflict-focused intervention.

    An LA delivers an intervention if its planning-tool return says ``yes`` (section
    ``interventions_offered``) *or* a case-study interview mentioned it
    (``interventions_from_interviews``); each LA is counted once per intervention
    (distinct ``la_code`` of the union), as the published source line cites both.

    Returns
    -------
    DataFrame
        Index ``Conflict focused interventions`` (published order); column
        ``Number of LAs delivering`` (int64).

    Examples
    --------
    >>> table_5(load_case_studies(_example_folder())).iloc[0].item()
    5
    """
    _need(cs, "interventions_from_interviews")
    rows = _planning_rows(cs, "interventions_offered", TABLE_5_ROWS, return_period)
    from_tool = rows.loc[rows["response"] == "yes", ["la_code", "item"]]
    iv = cs["interventions_from_interviews"]
    iv = iv.loc[iv["la_code"].isin(_reported_las(cs)) & iv["item"].isin(list(TABLE_5_ROWS)),
                ["la_code", "item"]]
    both = pd.concat([from_tool, iv]).drop_duplicates()
    n = both.groupby("item").size().reindex(list(TABLE_5_ROWS)).fillna(0).astype("int64")
    return pd.DataFrame(
        {"Number of LAs delivering": n.to_numpy()},
        index=pd.Index(list(TABLE_5_ROWS.values()), name="Conflict focused interventions"))


def table_6(cs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 6: sign-ups and attendance at the six early-stage workshops.

    ``Total number of sign-ups`` counts sign-up rows (one per LA and workshop);
    ``Number of attendees at workshop`` counts those with ``attended == "yes"``.

    Returns
    -------
    DataFrame
        Index ``Workshops`` (titles in ``workshop_number`` order); the two count
        columns (int64). No totals (the published table has none).

    Examples
    --------
    >>> table_6(load_case_studies(_example_folder())).iloc[:, 0].tolist()
    [15, 24, 29, 26, 27, 36]
    """
    _need(cs, "workshops", "workshop_signups")
    ws = cs["workshops"].sort_values("workshop_number", kind="stable")
    su = cs["workshop_signups"]
    unknown = sorted(set(su["workshop_id"]) - set(ws["workshop_id"]))
    if unknown:
        raise RpcEvalError(f"workshop_signups.csv: workshop_id {unknown} not in workshops.csv")
    bad = sorted(set(su["attended"]) - {"yes", "no"})
    if bad:
        raise RpcEvalError(f"workshop_signups.csv: attended must be yes/no, got {bad}")
    order = list(ws["workshop_id"])
    signups = su.groupby("workshop_id").size().reindex(order).fillna(0)
    attended = (su["attended"] == "yes").groupby(su["workshop_id"]).sum().reindex(order).fillna(0)
    return pd.DataFrame(
        {"Total number of sign-ups": signups.astype("int64").to_numpy(),
         "Number of attendees at workshop": attended.astype("int64").to_numpy()},
        index=pd.Index(list(ws["title"]), name="Workshops"))


def table_7(cs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 7: the case-study LAs of the interim report and their attributes.

    One row per LA with ``in_interim_report == "yes"`` (file order); codes
    ``yes/no/declustering`` shown as the published wording, with
    ``family_hub_note`` appended in brackets where given.

    Returns
    -------
    DataFrame
        Index ``Local Authority``; columns ``Family Hub area?, Contract Package Area
        trial?, Bid as a cluster?`` (text).

    Examples
    --------
    >>> table_7(load_case_studies(_example_folder())).shape
    (9, 3)
    """
    _need(cs, "las")
    las = cs["las"]
    las = las[las["in_interim_report"] == "yes"]
    out = pd.DataFrame(index=pd.Index(list(las["la_name"]), name="Local Authority"))
    for code, label in TABLE_7_COLUMNS.items():
        bad = sorted(set(las[code]) - set(TABLE_7_VALUES))
        if bad:
            raise RpcEvalError(f"las.csv: column {code} has values {bad}; "
                               f"expected one of {list(TABLE_7_VALUES)}")
        out[label] = [TABLE_7_VALUES[v] for v in las[code]]
    note = las["family_hub_note"].to_numpy()
    hub = out["Family Hub area?"].to_numpy()
    out["Family Hub area?"] = [f"{h} ({n})" if n else h for h, n in zip(hub, note, strict=True)]
    return out
