"""Notes for readers: what an analysis said, in a sentence a non-statistician can read.

The analyses say what they could not do, or what to be careful about, in messages
written for the analyst: warning class names, variable names, codes, and sometimes
numbers of people ("group 'x' has a single subject", "the outcome is constant (10) in
all 1 rows used"). Those messages must not be published as they are: they speak in
code, and a count or a score of one or two people is exactly what disclosure control
suppresses everywhere else.

:func:`plain_note` turns a message into the sentence a report page shows (or nothing,
for messages that only concern how a curve or statistic was computed and that the
tables already show). The message itself goes to the analyst's private notes
(``<report>_NOT_FOR_PUBLICATION/analysis_notes.txt``). The sentences never quote the
message's numbers, except numbers of LAs (organisations, not people).

Examples
--------
>>> plain_note("RpcEvalWarning: only 5 clusters in 'la_code': the cluster-robust "
...            "(sandwich) standard errors are biased downwards with few clusters")
'With only 5 LAs, the intervals of models that allow for differences between LAs may be too narrow: read them with care.'
>>> plain_note("group 'x' has a single subject") is None
True
"""

from __future__ import annotations

import re

__all__ = ["plain_note", "WHAT"]

#: The name a message gives an analysis -> what it is, in words.
WHAT = {
    "Log-rank test": "The test comparing dropout between interventions",
    "Gray's test": "The test comparing dropout and completion between interventions",
    "Cox model of dropout": "The model comparing dropout between interventions",
    "Fine-Gray model of completion": "The model comparing completion between interventions",
    "Completion model": "The model of completion by LA",
    "Outcome model": "The model of parents' outcomes by LA",
    "Completion funnel plot": "The funnel plot of LAs' completion rates",
    "The engagement section": "The section on referrals and engagement",
    "The outcomes section": "The section on parents' outcomes",
    "The multilevel section": "The section on differences between LAs",
    "The pooling comparison": "The comparison of the two ways of pooling LAs",
    "Planning-tool change": "The change in planning-tool stages",
    "Training knowledge": "The change in practitioners' knowledge",
    "Training understanding": "The change in practitioners' understanding",
    "Training confidence": "The change in practitioners' confidence",
    "Training follow-up": "Practitioners' use of the training at follow-up",
}

_LEFT_OUT = re.compile(r"^(?P<what>" + "|".join(re.escape(k) for k in WHAT) +
                       r")(?: not fitted| not drawn| not run| left out)?\s*:")
_CLUSTERS = re.compile(r"only (?P<n>\d+) clusters?\b")
_PREFIX = re.compile(r"^(?:Note:\s*)?(?:[A-Z][A-Za-z]*(?:Warning|Error)\s*:\s*)?")

#: (pattern, sentence or None): the first match decides. None: nothing for the page.
RULES: list[tuple[re.Pattern, str | None]] = [
    (re.compile(r"single subject|no events of type|curve stays at|no useful CI|"
                r"one subject per cluster"), None),
    (re.compile(r"infinite|very large|separation|monotone", re.I),
     "Some model estimates could not be computed, because in a group everyone, or no "
     "one, had the outcome: they are shown as [x]."),
    (re.compile(r"zero denominator"),
     "Rates of a stage that nobody reached the stage before are shown as [x]."),
    (re.compile(r"Heywood|omega|respondent\(s\) answered all|reliab", re.I),
     "The reliability of some questionnaires could not be estimated well from so few "
     "answers; their reliability figures are left out or should be read with care."),
    (re.compile(r"did not converge|convergence|singular", re.I),
     "A model was hard to fit on these data: read its estimates with care."),
    (re.compile(r"^No \S+ answers|parent satisfaction left out|No parent answered every"),
     "No parent answered the satisfaction questionnaire in full, so parents' satisfaction "
     "is not shown."),
    (re.compile(r"No training survey answers"),
     "There are no answers to the practitioners' training survey, so training is not "
     "shown."),
    (re.compile(r"suppressed this count"),
     "Where an LA suppressed a count of the funnel, the total is the sum of the other LAs "
     "and so a lower bound."),
    (re.compile(r"[Ii]ntegrity not proven|signatures were not checked"),
     "The LA summaries' signatures were not checked, so nothing shows who wrote each "
     "summary or that it was not changed on the way."),
    (re.compile(r"No planning-tool returns"),
     "There are no planning-tool returns, so the planning tool is not shown."),
]

GENERIC = ("One analysis in this section could not be run as planned on these data; the "
           "analyst's notes say why.")


def plain_note(message: str) -> str | None:
    """The sentence a report page shows for an analysis message, or None (nothing to
    show). See the module notes."""
    text = _PREFIX.sub("", str(message).strip())
    m = _CLUSTERS.search(text)
    if m and "cluster" in text and "robust" in text and not _LEFT_OUT.match(text):
        n = int(m.group("n"))
        return (f"With only {n} LA{'s' if n != 1 else ''}, the intervals of models that "
                "allow for differences between LAs may be too narrow: read them with care.")
    m = _LEFT_OUT.match(text)
    if m:
        what = WHAT[m.group("what")]
        why = _why(text)
        return f"{what} is left out: {why}."
    for pattern, sentence in RULES:
        if pattern.search(text):
            return sentence
    return GENERIC


def _why(text: str) -> str:
    """Why an analysis was left out, in words, from its message."""
    t = text.lower()
    if "one observation" in t or "per cluster" in t:
        return ("each LA has only one parent in it, so differences between LAs cannot be "
                "told apart from differences between parents")
    if "cluster" in t or "at least 2 las" in t or "at least two groups" in t or \
            "only one" in t or "only 1 group" in t or "fewer than 2 las" in t or \
            "2 groups" in t or "two groups" in t:
        return ("it compares LAs or groups, and these data have too few of them, or too "
                "few parents in each")
    if "constant" in t or "proportion is 0" in t or "proportion is 1" in t or \
            "every outcome is the same" in t or "no event" in t or "separation" in t:
        return ("everyone, or no one, in these data had the same result, so there is "
                "nothing to compare")
    return "these data have too few parents, LAs or answers for it"
