"""Rebuild the synthetic interim case-study CSVs (deterministic; no arguments).

The rows are *constructed* so that counting them reproduces the aggregates
published in DWP research report 1059 (RPC Local Grant evaluation, interim report,
2024), Tables 1, 2, 3, 5, 6 and 7. They are not real local-authority records. See
README.md. Run: ``python synthetic_data/interim_case_studies/make_data.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CS = [f"CS{i:02d}" for i in range(1, 10)]  # the nine LAs in the interim report
RETURN = "2023-05"


def case_studies() -> pd.DataFrame:
    """Pseudonymous case-study codes: CS01-CS09 in the interim report, CS10 not (its
    fieldwork was still under way)."""
    return pd.DataFrame({"la_code": [*CS, "CS10"],
                         "in_interim_report": ["yes"] * len(CS) + ["no"]})


def las() -> pd.DataFrame:
    # Table 7 (Annexe 4) published attributes, keyed by name only. Croydon, the
    # replacement LA whose fieldwork was ongoing, is not in the interim report's Table 7.
    # The synthetic answers in the other files use the codes of case_studies() and are
    # deliberately NOT linked to these names: no answer is attributed to a named LA.
    rows = [
        ("Bristol", "yes", "", "no", "no", "yes"),
        ("Cambridgeshire and Peterborough", "yes",
         "both LAs delivering this separately in their own areas", "yes", "declustering", "yes"),
        ("Derbyshire", "no", "", "no", "no", "yes"),
        ("Leicestershire", "yes", "", "no", "no", "yes"),
        ("Manchester", "yes", "", "no", "no", "yes"),
        ("Newcastle", "yes", "", "yes", "no", "yes"),
        ("Nottingham City", "yes", "", "no", "no", "yes"),
        ("Nottinghamshire", "no", "", "no", "no", "yes"),
        ("Torbay", "yes", "", "yes", "no", "yes"),
        ("Croydon", "", "", "", "", "no"),
    ]
    return pd.DataFrame(rows, columns=["la_name", "family_hub_area",
                                       "family_hub_note", "cpa_trial", "cluster_bid",
                                       "in_interim_report"])


def planning_tool() -> pd.DataFrame:
    rows = []

    def add(section, item, answers, part=""):
        for la, resp in answers.items():
            rows.append((la, RETURN, section, item, part, resp))

    def spread(counts):  # {response: n} -> {la: response}, CS01.. in order
        out, i = {}, 0
        for resp, n in counts.items():
            for _ in range(n):
                out[CS[i]] = resp
                i += 1
        if i != 9:
            raise ValueError(f"{counts} does not sum to 9")
        return out

    # Table 2: partner awareness (very / somewhat / not)
    add("partner_awareness", "aware_la_early_help", spread({"very": 8, "somewhat": 1}))
    add("partner_awareness", "aware_health", spread({"very": 3, "somewhat": 6}))
    edu = spread({"very": 2, "somewhat": 7})
    edu.pop("CS05")  # CS05 reported education in two parts (see README)
    add("partner_awareness", "aware_education", edu)
    add("partner_awareness", "aware_education", {"CS05": "somewhat"}, part="primary_schools")
    add("partner_awareness", "aware_education", {"CS05": "not"}, part="secondary_schools")
    add("partner_awareness", "aware_vcs", spread({"very": 1, "somewhat": 8}))
    add("partner_awareness", "aware_police", spread({"somewhat": 8, "not": 1}))
    # Table 3: share of workforce trained (bands)
    for item, counts in [
        ("trained_la_early_help", {"75-100": 5, "50-75": 1, "25-50": 3}),
        ("trained_commissioned_early_help", {"50-75": 1, "25-50": 3, "0-25": 5}),
        ("trained_social_care", {"50-75": 1, "25-50": 4, "0-25": 4}),
        ("trained_public_health_nursing", {"50-75": 1, "25-50": 1, "0-25": 7}),
        ("trained_police", {"0-25": 9}),
        ("trained_education", {"50-75": 1, "25-50": 2, "0-25": 6}),
        ("trained_health_visiting", {"50-75": 1, "25-50": 2, "0-25": 6}),
        ("trained_youth_offending", {"25-50": 3, "0-25": 6}),
    ]:
        add("workforce_trained", item, spread(counts))
    # Table 5: interventions reported as offered in the planning-tool return
    # (grant-funded provision); see interventions_from_interviews.csv for the rest.
    offered = {
        "offers_ooo_digital": ["CS01", "CS02", "CS04", "CS06", "CS08"],
        "offers_enhanced_triple_p": ["CS02", "CS05", "CS07"],
        "offers_mbt": ["CS05"],  # CS07's MBT comes from interviews only
        "offers_family_transitions_triple_p": ["CS03", "CS07"],
        "offers_parents_plus": ["CS04", "CS09"],
        "offers_standard_triple_p": [],  # CS03's comes from interviews only
    }
    for item, yes in offered.items():
        add("interventions_offered", item, {la: "yes" if la in yes else "no" for la in CS})
    return pd.DataFrame(rows, columns=["la_code", "return", "section", "item", "part",
                                       "response"])


def interventions_from_interviews() -> pd.DataFrame:
    rows = [
        ("CS07", "offers_mbt", "rpc_lead"),
        ("CS03", "offers_standard_triple_p", "provider"),
        ("CS01", "offers_ooo_digital", "frontline"),  # also in CS01's return
    ]
    return pd.DataFrame(rows, columns=["la_code", "item", "mentioned_by"])


def interviews() -> pd.DataFrame:
    trainers = dict(zip(CS, [2, 2, 1, 2, 2, 1, 2, 2, 1], strict=True))
    providers = dict(zip(CS, [1, 2, 1, 0, 1, 1, 1, 1, 1], strict=True))
    frontline = dict(zip(CS, [5, 4, 3, 5, 4, 3, 4, 4, 3], strict=True))
    paired_trainers = {"CS01", "CS04", "CS08"}
    rows, pid, sid = [], 0, 0

    def person(la, role, fmt, session):
        nonlocal pid
        pid += 1
        rows.append((f"P{pid:03d}", la, role, fmt, session))

    def new_session():
        nonlocal sid
        sid += 1
        return f"S{sid:03d}"

    for la in CS:
        person(la, "rpc_lead", "one_to_one", new_session())
        person(la, "strategic_lead", "one_to_one", new_session())
        if la in paired_trainers:
            s = new_session()
            for _ in range(trainers[la]):
                person(la, "trainer", "paired", s)
        else:
            for _ in range(trainers[la]):
                person(la, "trainer", "one_to_one", new_session())
        for _ in range(providers[la]):
            person(la, "provider", "one_to_one", new_session())
        s = new_session()
        for _ in range(frontline[la]):
            person(la, "frontline", "focus_group", s)
    return pd.DataFrame(rows, columns=["person_id", "la_code", "job_role", "format",
                                       "session_id"])


WORKSHOPS = [
    ("W1", "Engaging parents, families, faith groups and communities to design and deliver RPC", 15, 10),
    ("W2", "Partnership engagement – Working with key areas such as health and police", 24, 12),
    ("W3", "The RPC lead/coordinator role", 29, 13),
    ("W4", "Developing a RPC support offer for parents/families", 26, 8),
    ("W5", "Training – Developing RPC workforce capability", 27, 11),
    ("W6", "Measuring and capturing outcomes", 36, 5),
]


def workshops() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(20230302)
    pool = [f"WLA{i:02d}" for i in range(1, 61)]
    info = pd.DataFrame([(w, i + 1, t) for i, (w, t, _, _) in enumerate(WORKSHOPS)],
                        columns=["workshop_id", "workshop_number", "title"])
    rows = []
    for w, _, signups, attended in WORKSHOPS:
        las_ = sorted(rng.choice(pool, size=signups, replace=False))
        went = set(rng.choice(las_, size=attended, replace=False))
        rows += [(w, la, "yes" if la in went else "no") for la in las_]
    log = pd.DataFrame(rows, columns=["workshop_id", "la_code", "attended"])
    return info, log


def main() -> None:
    las().to_csv(HERE / "las.csv", index=False)
    case_studies().to_csv(HERE / "case_studies.csv", index=False)
    planning_tool().to_csv(HERE / "planning_tool.csv", index=False)
    interventions_from_interviews().to_csv(HERE / "interventions_from_interviews.csv",
                                           index=False)
    interviews().to_csv(HERE / "interviews.csv", index=False)
    info, log = workshops()
    info.to_csv(HERE / "workshops.csv", index=False)
    log.to_csv(HERE / "workshop_signups.csv", index=False)


if __name__ == "__main__":
    main()
