"""Reliable and clinically significant change (Jacobson & Truax 1991), and band moves.

Reliable Change Index
---------------------
Jacobson & Truax (1991), with the sqrt(2) of Christensen & Mendoza (1986)::

    SE_diff = SD * sqrt(2 (1 - r_xx)) = sqrt(2) * SD * sqrt(1 - r_xx)
    RCI     = (post - pre) / SE_diff

``SD`` is a normative SD (from the scale's ``norms`` in its definition, or given) and
``r_xx`` its reliability (``reliability.alpha``, else ``reliability.retest``, or given).
The change is *reliable* when ``|RCI| > z`` (``z = 1.96`` by default, the 95% level;
exactly ``1.96`` is not reliable). The smallest reliable raw change is
``z * SE_diff``.

Maassen's variant (``method="maassen"``; Maassen 2004) uses the pre and post sample SDs
of the paired sample instead of one normative SD::

    SE_diff = sqrt((s_pre^2 + s_post^2) * (1 - r_xx))

(Maassen's general form is ``sqrt(s_pre^2 (1 - r_xx) + s_post^2 (1 - r_yy))``; one
reliability is used for both waves here.) With ``s_pre = s_post`` it equals the
Jacobson-Truax SE. The sample SDs are taken over the whole sample passed in (not per
group), so every group is judged against the same threshold.

Clinical cut-offs
-----------------
Written for a ``higher_is_worse`` scale (signs flip for ``higher_is_better``), with
functional norms ``(M_f, SD_f)`` and clinical (dysfunctional) norms ``(M_c, SD_c)``:

* **a** = ``M_c - 2 SD_c``: 2 SD beyond the dysfunctional mean, towards health;
* **b** = ``M_f + 2 SD_f``: within 2 SD of the functional mean (Jacobson & Truax use the
  functional group's SD; a CRAN vignette writes ``SD_c``, which is not used here);
* **c** = ``(SD_c M_f + SD_f M_c) / (SD_c + SD_f)``: the point equally far, in SD units,
  from both means (the midpoint when the SDs are equal). Preferred when both norms exist.

With a computed cut-off, a score *at* the cut-off counts as in the clinical range
(``score >= cut-off`` on ``higher_is_worse``, ``<=`` on ``higher_is_better``). With the
definition's ``clinical_cutoff`` its own ``caseness`` rule is used.

Classification (direction-aware)
--------------------------------
* **recovered**: reliable improvement, clinical range at pre, non-clinical at post;
* **improved**: reliable improvement otherwise;
* **deteriorated**: reliable worsening;
* **unchanged**: no reliable change (whatever the cut-off says).

An improvement is a fall on ``higher_is_worse`` scales and a rise on
``higher_is_better`` scales.

References
----------
Jacobson NS, Truax P (1991). Clinical significance: a statistical approach to defining
meaningful change in psychotherapy research. J Consult Clin Psychol 59:12-19.
Christensen L, Mendoza JL (1986). A method of assessing change in a single subject: an
alteration of the RC index. Behavior Therapy 17:305-308.
Maassen GH (2004). The standard error in the Jacobson and Truax Reliable Change Index:
the "classical approach" to the assessment of reliable change. J Int Neuropsychol Soc
10:888-893.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rpc_eval.change.tables import _as_list, _ids, pair_waves, scale_direction
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments.registry import Registry, Scale, default_registry

__all__ = [
    "se_difference",
    "reliable_change_index",
    "clinical_cutoffs",
    "classify_reliable_change",
    "reliable_change_summary",
    "band_transitions",
    "CATEGORIES",
    "CLASSIFY_COLUMNS",
    "SUMMARY_COLUMNS",
    "TRANSITION_COLUMNS",
]

#: Reliable-change categories, best first.
CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated")
_METHODS = ("jacobson_truax", "maassen")
_CRITERIA = ("auto", "a", "b", "c", "cutoff", "none")

#: Columns of :func:`classify_reliable_change` after the id and group columns.
CLASSIFY_COLUMNS = [
    "instrument", "scale", "direction", "wave_pre", "wave_post", "pre", "post", "change",
    "improvement", "se_diff", "rci", "reliable", "reliable_improvement",
    "reliable_deterioration", "criterion", "cutoff", "clinical_pre", "clinical_post",
    "category", "rci_basis", "method", "reliability", "reliability_source", "sd",
    "sd_source", "rci_threshold", "min_reliable_change", "caseness", "n_pre_only",
    "n_post_only",
]
#: Columns of :func:`reliable_change_summary` after the group columns.
SUMMARY_COLUMNS = ["instrument", "scale", "wave_pre", "wave_post", "category", "n", "n_total",
                   "percent", "rci_basis"]
#: Columns of :func:`band_transitions` (long layout) after the group columns.
TRANSITION_COLUMNS = ["instrument", "scale", "scheme", "wave_pre", "wave_post", "band_pre",
                      "band_post", "n", "percent_of_pre", "movement", "n_paired",
                      "n_pre_only", "n_post_only"]


# ------------------------------------------------------------------------- primitives
def _positive(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RpcEvalError(f"{what} must be a number, not {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise RpcEvalError(f"{what} must be a positive number, not {value!r}")
    return v


def _reliability_value(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RpcEvalError(f"reliability must be a number between 0 and 1, not {value!r}") from None
    if not 0 < v < 1:
        raise RpcEvalError(f"reliability must be between 0 and 1 (exclusive), not {value!r}")
    return v


def se_difference(*, reliability: float, sd: float | None = None,
                  sd_pre: float | None = None, sd_post: float | None = None,
                  method: str = "jacobson_truax") -> float:
    """Standard error of the difference between two scores of one person.

    Parameters
    ----------
    reliability : float
        Reliability ``r_xx`` of the scale (0 < r_xx < 1).
    sd : float
        Normative SD (``method="jacobson_truax"``).
    sd_pre, sd_post : float
        Pre and post sample SDs (``method="maassen"``).
    method : {"jacobson_truax", "maassen"}

    Returns
    -------
    float
        ``sd * sqrt(2 (1 - r_xx))`` (Jacobson & Truax 1991) or
        ``sqrt((sd_pre^2 + sd_post^2)(1 - r_xx))`` (Maassen 2004).

    Notes
    -----
    R equivalent: ``sd * sqrt(2 * (1 - rxx))``.

    Examples
    --------
    >>> se_difference(sd=10, reliability=0.5)
    10.0
    >>> round(se_difference(sd_pre=6, sd_post=8, reliability=0.75, method="maassen"), 6)
    5.0
    """
    r = _reliability_value(reliability)
    if method == "jacobson_truax":
        if sd is None:
            raise RpcEvalError("the Jacobson-Truax SE needs the normative sd")
        return _positive(sd, "sd") * math.sqrt(2 * (1 - r))
    if method == "maassen":
        if sd_pre is None or sd_post is None:
            raise RpcEvalError("Maassen's SE needs sd_pre and sd_post (sample SDs)")
        a = _positive(sd_pre, "sd_pre")
        b = _positive(sd_post, "sd_post")
        return math.sqrt((a * a + b * b) * (1 - r))
    raise RpcEvalError(f"method must be one of {list(_METHODS)}, not {method!r}")


def reliable_change_index(pre: Any, post: Any, *, reliability: float, sd: float | None = None,
                          method: str = "jacobson_truax") -> np.ndarray:
    """Reliable Change Index of each pair.

    Parameters
    ----------
    pre, post : array-like of float
        Scores matched by position.
    reliability : float
        Reliability ``r_xx``.
    sd : float, optional
        Normative SD; required for ``method="jacobson_truax"``.
    method : {"jacobson_truax", "maassen"}
        ``maassen`` uses the sample SDs of the complete pairs given.

    Returns
    -------
    ndarray
        ``(post - pre) / SE_diff``; missing where either score is missing.

    Notes
    -----
    Formula and references in the module notes (Jacobson & Truax 1991; Maassen 2004).
    R equivalent: ``(post - pre) / (sd * sqrt(2 * (1 - rxx)))``.

    Examples
    --------
    >>> reliable_change_index([20, 15], [10, 14], sd=10, reliability=0.5)
    array([-1. , -0.1])
    """
    x = np.asarray(pre, dtype="float64").reshape(-1)
    y = np.asarray(post, dtype="float64").reshape(-1)
    if x.shape != y.shape:
        raise RpcEvalError(f"pre and post differ in length ({x.size} vs {y.size})")
    if method == "maassen":
        both = np.isfinite(x) & np.isfinite(y)
        if both.sum() < 2:
            raise RpcEvalError("Maassen's RCI needs at least 2 complete pairs for the sample SDs")
        se = se_difference(reliability=reliability, sd_pre=float(x[both].std(ddof=1)),
                           sd_post=float(y[both].std(ddof=1)), method="maassen")
    else:
        se = se_difference(reliability=reliability, sd=sd, method=method)
    return (y - x) / se


def clinical_cutoffs(*, direction: str, functional: tuple[float, float] | None = None,
                     clinical: tuple[float, float] | None = None) -> dict[str, float]:
    """Jacobson & Truax cut-offs a, b and c.

    Parameters
    ----------
    direction : {"higher_is_worse", "higher_is_better"}
    functional, clinical : (mean, sd), optional
        Norms of the functional (non-clinical) and clinical populations.

    Returns
    -------
    dict
        ``{"a", "b", "c"}``; a value is ``nan`` when its norms are not given.
        For ``higher_is_worse``: ``a = M_c - 2 SD_c``, ``b = M_f + 2 SD_f``; for
        ``higher_is_better``: ``a = M_c + 2 SD_c``, ``b = M_f - 2 SD_f``; always
        ``c = (SD_c M_f + SD_f M_c) / (SD_c + SD_f)``.

    Notes
    -----
    Reference: Jacobson & Truax (1991). R equivalent: ``(sdc * mf + sdf * mc) /
    (sdc + sdf)`` for c.

    Examples
    --------
    >>> cuts = clinical_cutoffs(direction="higher_is_worse", functional=(4.7, 4.8),
    ...                         clinical=(19.7, 7.7))
    >>> {k: round(v, 2) for k, v in cuts.items()}
    {'a': 4.3, 'b': 14.3, 'c': 10.46}
    """
    if direction not in ("higher_is_worse", "higher_is_better"):
        raise RpcEvalError(f"direction must be 'higher_is_worse' or 'higher_is_better', "
                           f"not {direction!r}")
    s = 1.0 if direction == "higher_is_worse" else -1.0
    out = {"a": math.nan, "b": math.nan, "c": math.nan}
    if clinical is not None:
        mc, sc = float(clinical[0]), _positive(clinical[1], "clinical SD")
        out["a"] = mc - s * 2 * sc
    if functional is not None:
        mf, sf = float(functional[0]), _positive(functional[1], "functional SD")
        out["b"] = mf + s * 2 * sf
    if clinical is not None and functional is not None:
        out["c"] = (sc * mf + sf * mc) / (sc + sf)
    return out


# -------------------------------------------------------------- definitions -> settings
def _where(instrument: str, scale: str) -> str:
    return f"{instrument} scale {scale!r}"


def _resolve_reliability(sc: Scale | None, reliability: Any) -> tuple[float, str] | None:
    """The reliability given or in the definition; ``None`` when the definition lacks it."""
    if reliability is not None and not isinstance(reliability, str):
        return _reliability_value(reliability), "given"
    rel = (sc.reliability if sc is not None else None) or {}
    keys = [reliability] if isinstance(reliability, str) else ["alpha", "retest"]
    for key in keys:
        if key not in ("alpha", "retest"):
            raise RpcEvalError(f"reliability must be a number, 'alpha' or 'retest', not {key!r}")
        if rel.get(key) is not None:
            return _reliability_value(rel[key]), f"definition reliability.{key}"
    return None


def _reliability_hint(instrument: str, scale: str) -> str:
    return (f"registry.with_overrides({instrument!r}, {{'scales.{scale}.reliability.alpha': "
            f"0.8, 'scales.{scale}.reliability.source': '...', "
            f"'scales.{scale}.reliability.verified': False}})")


def _norm_hint(instrument: str, scale: str) -> str:
    return (f"registry.with_overrides({instrument!r}, {{'scales.{scale}.norms.mean': M, "
            f"'scales.{scale}.norms.sd': SD, 'scales.{scale}.norms.source': '...', "
            f"'scales.{scale}.norms.verified': False}})")


def _norm_group(sc: Scale | None, instrument: str, scale: str, group: str) -> dict:
    norms = sc.norms if sc is not None else []
    for g in norms:
        if str(g["group"]) == group:
            if g.get("sd") is None:
                raise RpcEvalError(f"{_where(instrument, scale)}: norm group {group!r} has no SD; "
                                   "give the SD as a number instead")
            return g
    names = [str(g["group"]) for g in norms]
    raise RpcEvalError(
        f"{_where(instrument, scale)} has no norm group {group!r}"
        + (f"; its groups are {names}" if names else "; it has no norms")
    )


def _resolve_sd(sc: Scale | None, instrument: str, scale: str, sd: Any, norm_group: str | None,
                pre_sample: np.ndarray) -> tuple[float, str] | list[str]:
    """The SD given or in the definition, or the reason the definition gives none (a
    list of group names when it has norms for several groups and none is chosen)."""
    if isinstance(sd, str):
        if sd != "baseline":
            raise RpcEvalError(f"sd must be a number, 'baseline' or None, not {sd!r}")
        return _baseline_sd(pre_sample)
    if sd is not None:
        return _positive(sd, "sd"), "given"
    if norm_group is not None:
        g = _norm_group(sc, instrument, scale, norm_group)
        return _positive(g["sd"], "norm SD"), f"definition norms group {norm_group!r}"
    norms = [g for g in (sc.norms if sc is not None else []) if g.get("sd") is not None]
    if len(norms) == 1:
        return _positive(norms[0]["sd"], "norm SD"), f"definition norms group {norms[0]['group']!r}"
    alls = [g for g in norms if str(g["group"]) == "all"]
    if alls:
        return _positive(alls[0]["sd"], "norm SD"), "definition norms group 'all'"
    return [str(g["group"]) for g in norms]


def _baseline_sd(pre_sample: np.ndarray) -> tuple[float, str]:
    if pre_sample.size < 2:
        raise RpcEvalError("the baseline sample SD needs at least 2 pre scores")
    return _positive(float(pre_sample.std(ddof=1)), "the baseline SD"), "baseline sample SD"


def _resolve_norm(sc: Scale | None, instrument: str, scale: str, spec: Any,
                  what: str) -> tuple[float, float] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        g = _norm_group(sc, instrument, scale, spec)
        return float(g["mean"]), _positive(g["sd"], f"{what} SD")
    if isinstance(spec, Mapping):
        if "mean" not in spec or "sd" not in spec:
            raise RpcEvalError(f"{what} norms need 'mean' and 'sd'; got {dict(spec)}")
        return float(spec["mean"]), _positive(spec["sd"], f"{what} SD")
    if isinstance(spec, Sequence) and len(spec) == 2:
        return float(spec[0]), _positive(spec[1], f"{what} SD")
    raise RpcEvalError(f"{what} must be a norm group name, (mean, sd) or {{'mean', 'sd'}}; "
                       f"got {spec!r}")


def _clinical_rule(value: float, caseness: str):
    ops = {"at_or_above": np.greater_equal, "above": np.greater,
           "at_or_below": np.less_equal, "below": np.less}
    op = ops[caseness]
    return lambda x: op(x, value)


def _resolve_criterion(sc: Scale | None, instrument: str, scale: str, direction: str,
                       criterion: str, functional: Any, clinical: Any,
                       cutoff: float | None) -> tuple[str, float, str | None] | None:
    """(criterion label, cut-off value, caseness) -- caseness None when criterion none;
    ``None`` when the criterion is the definition's cut-off and it has none."""
    if criterion not in _CRITERIA:
        raise RpcEvalError(f"criterion must be one of {list(_CRITERIA)}, not {criterion!r}")
    default_case = "at_or_above" if direction == "higher_is_worse" else "at_or_below"
    defcut = sc.clinical_cutoff if sc is not None else None
    if cutoff is not None:
        case = defcut.get("caseness", default_case) if defcut else default_case
        return "cutoff_given", float(cutoff), case
    if criterion == "none":
        return "none", math.nan, None
    fun = _resolve_norm(sc, instrument, scale, functional, "functional")
    cli = _resolve_norm(sc, instrument, scale, clinical, "clinical")
    if criterion == "auto":
        if fun and cli:
            criterion = "c"
        elif cli:
            criterion = "a"
        elif fun:
            criterion = "b"
        else:
            criterion = "cutoff"
    if criterion == "cutoff":
        if not defcut or defcut.get("value") is None:
            return None
        return "cutoff", float(defcut["value"]), str(defcut.get("caseness", default_case))
    need = {"a": ("clinical",), "b": ("functional",), "c": ("functional", "clinical")}[criterion]
    have = {"functional": fun, "clinical": cli}
    lacking = [n for n in need if have[n] is None]
    if lacking:
        raise RpcEvalError(
            f"criterion {criterion!r} needs {' and '.join(n + '=' for n in need)} norms "
            f"(missing: {lacking}); give a norm group name of {_where(instrument, scale)} "
            "or (mean, sd)"
        )
    cuts = clinical_cutoffs(direction=direction, functional=fun, clinical=cli)
    return criterion, cuts[criterion], default_case


def _missing_norms(sc: Scale | None, instrument: str, scale: str, *, method: str,
                   reliability: Any, sd: Any, norm_group: str | None, direction: str,
                   criterion: str, functional: Any, clinical: Any,
                   cutoff: float | None) -> list[str]:
    """What the definition does not give and the arguments do not supply, each in words
    with how to supply it (empty when nothing is missing)."""
    missing = []
    if _resolve_reliability(sc, reliability) is None:
        which = f" '{reliability}'" if isinstance(reliability, str) else ""
        missing.append(
            f"its reliability{which} (Cronbach's alpha or test-retest): give "
            "reliability=<r_xx>, or add it to the definition, e.g. "
            + _reliability_hint(instrument, scale))
    if method == "jacobson_truax" and sd != "baseline":
        got = _resolve_sd(sc, instrument, scale, sd, norm_group, np.empty(0))
        if isinstance(got, list) and got:
            missing.append(
                f"one normative SD: the definition has norms for several groups {got}; "
                "choose one with norm_group=..., or give sd=<number> or sd='baseline' "
                "(the SD of the pre scores)")
        elif isinstance(got, list):
            missing.append(
                "a normative SD: give sd=<number> or sd='baseline' (the SD of the pre "
                "scores), or add norms.mean and norms.sd to the definition, e.g. "
                + _norm_hint(instrument, scale))
    if _resolve_criterion(sc, instrument, scale, direction, criterion, functional, clinical,
                          cutoff) is None:
        missing.append(
            "a clinical cut-off: give functional= and clinical= norms (a norm group name "
            "or (mean, sd)) for the Jacobson-Truax cut-offs, cutoff=<value>, or "
            "criterion='none' to classify without 'recovered'; or add "
            "clinical_cutoff.value, .caseness, .source and .verified to the definition "
            f"(registry.with_overrides({instrument!r}, "
            f"{{'scales.{scale}.clinical_cutoff.value': ..., ...}}))")
    return missing


def _missing_message(missing: Sequence[tuple[str, Sequence[str]]]) -> str:
    """One error for everything missing, scale by scale."""
    lines = ["Reliable change needs values that the questionnaire definitions do not give:"]
    for where, items in missing:
        lines.append(f"{where}:")
        lines += [f"  - {m}" for m in items]
    lines.append(
        "Give them as described, or pass sample_norms=True to use the baseline sample's "
        "Cronbach's alpha and SD instead (a scale without a clinical cut-off is then "
        "classified without 'recovered'); the result names what it used in its rci_basis "
        "column.")
    return "\n".join(lines)


class _NoSampleReliability(RpcEvalError):
    """The baseline sample's Cronbach's alpha could not be computed."""


def _sample_alpha(responses: pd.DataFrame | None, instrument: str, scale: str, wave: str,
                  registry: Registry) -> float:
    """Cronbach's alpha of ``scale`` among everyone who answered at ``wave``."""
    from rpc_eval.instruments.reliability import reliability
    from rpc_eval.instruments.scoring import _wide

    if instrument not in registry:
        raise RpcEvalError(
            f"{_where(instrument, scale)}: the sample's Cronbach's alpha needs the "
            "instrument's definition (its items and scoring); give reliability=<r_xx>")
    if responses is None:
        raise RpcEvalError(
            f"{_where(instrument, scale)} has no reliability in its definition, and "
            "sample_norms=True computes the baseline sample's Cronbach's alpha from the item "
            "answers: pass responses=<the responses table> (e.g. data.responses), or give "
            "reliability=<r_xx>")
    wide = _wide(responses, instrument, registry)  # kept by score_responses if scored
    rel = reliability(wide[wide["wave"] == wave], instrument, registry=registry,
                      scales=[scale], on_error="warn")
    alpha = float(rel["alpha"].iloc[0]) if len(rel) else math.nan
    if not alpha == alpha:
        raise _NoSampleReliability(
            f"the baseline sample's Cronbach's alpha of {_where(instrument, scale)} cannot "
            f"be computed (fewer than 3 complete questionnaires at {wave!r}, or no "
            "variation): give reliability=<r_xx>")
    return _reliability_value(alpha)


# ------------------------------------------------------------------------------ public
def classify_reliable_change(
    data: pd.DataFrame, instrument: str, scale: str, *,
    waves: tuple[str, str] = ("baseline", "end"),
    id_col: str | Sequence[str] = "parent_id",
    by: str | Sequence[str] | None = None,
    registry: Registry | None = None,
    method: str = "jacobson_truax",
    reliability: float | str | None = None,
    sd: float | str | None = None,
    norm_group: str | None = None,
    criterion: str = "auto",
    functional: Any = None,
    clinical: Any = None,
    cutoff: float | None = None,
    z: float = 1.96,
    direction: str | None = None,
    sample_norms: bool = False,
    responses: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Reliable change and clinical significance of each participant on one scale.

    Parameters
    ----------
    data : DataFrame
        Tidy scores (:func:`rpc_eval.instruments.score`) with any group columns
        joined on; rows with ``valid`` false or no score are ignored.
    instrument, scale : str
        The scale to classify.
    waves : (str, str)
        Pre and post wave.
    id_col : str or list of str
        Participant id (``respondent`` is added when present).
    by : str or list of str, optional
        Group columns carried into the result (used by :func:`reliable_change_summary`).
    registry : Registry, optional
        Definitions (the package's by default).
    method : {"jacobson_truax", "maassen"}
        Standard error of the difference (module notes).
    reliability : float, "alpha", "retest" or None
        ``r_xx``. ``None``: the definition's ``reliability.alpha``, else ``retest``.
    sd : float, "baseline" or None
        Normative SD for ``jacobson_truax``. ``None``: the definition's norms (the only
        group with an SD, or group ``all``, or ``norm_group``); ``"baseline"``: the SD of
        the pre scores of the paired sample. Ignored by ``maassen``.
    norm_group : str, optional
        Norm group of the definition whose SD is used.
    criterion : {"auto", "a", "b", "c", "cutoff", "none"}
        Clinical cut-off. ``auto``: ``c`` when ``functional`` and ``clinical`` norms are
        given, ``a`` with clinical norms only, ``b`` with functional only, else the
        definition's ``clinical_cutoff`` (``cutoff``). ``none``: no recovery category.
    functional, clinical : str, (mean, sd) or {"mean", "sd"}, optional
        Norms of the functional and clinical populations (a norm group name of the
        scale's definition, or values).
    cutoff : float, optional
        A cut-off value that overrides everything above (the definition's
        ``caseness`` is kept if it has one).
    z : float
        Reliable if ``|RCI| > z``.
    direction : str, optional
        Override of the scale's direction (see
        :func:`rpc_eval.change.tables.scale_direction`).
    sample_norms : bool
        ``False`` (default): the reliability, normative SD and clinical cut-off come
        from the definition (or the arguments above); when any is missing the function
        raises one error listing everything missing and how to supply it. ``True``: use
        the baseline sample instead where the definition has no value: Cronbach's alpha
        of the scale among everyone who answered at the pre wave (needs
        ``responses``), the SD of the pre scores of the paired sample, and no
        ``recovered`` category where there is no cut-off. ``rci_basis`` names what was
        used.
    responses : DataFrame, optional
        The item answers (the ``responses`` table of the data model), for the
        baseline sample's Cronbach's alpha with ``sample_norms=True``.

    Returns
    -------
    DataFrame
        One row per participant with a valid score at both waves: id columns, group
        columns, then

        ``instrument, scale, direction, wave_pre, wave_post, pre, post``
        ``change``
            post - pre.
        ``improvement``
            change signed so positive = better.
        ``se_diff``
            Standard error of the difference used.
        ``rci``
            (post - pre) / se_diff (sign as the raw change).
        ``reliable, reliable_improvement, reliable_deterioration``
            ``|rci| > z``, and its direction-aware split.
        ``criterion, cutoff``
            Cut-off used (``a``, ``b``, ``c``, ``cutoff`` for the definition's,
            ``cutoff_given``, or ``none`` with a missing ``cutoff``).
        ``clinical_pre, clinical_post``
            In the clinical range at each wave (nullable boolean; missing with
            criterion ``none``).
        ``category``
            ``recovered / improved / unchanged / deteriorated`` (ordered categorical).
        ``rci_basis``
            What the index rests on, in words: ``published reliability and norms``, or
            the values that replaced them (``baseline sample alpha 0.89``, ``baseline
            sample SD``, ``no clinical cut-off``, ``SD given (6)`` ...), joined by ``;``.
        ``method, reliability, reliability_source, sd, sd_source, rci_threshold``
            The settings used (``rci_threshold`` is ``z``; ``sd`` missing for
            Maassen's method).
        ``min_reliable_change``
            The smallest reliable raw change, ``z * se_diff``.
        ``caseness``
            The clinical rule (``at_or_above`` ...), missing with criterion ``none``.
        ``n_pre_only, n_post_only``
            Participants with a valid score at only the pre or only the post wave (not
            classified).

        Every setting is a column, so frames of several scales or groups can be
        concatenated (``pd.concat``) and summarised together.

    Raises
    ------
    RpcEvalError
        Without ``sample_norms``: when the definition lacks the reliability, a usable
        normative SD or a cut-off, one error listing everything missing (each with the
        key or argument to give). Also for bad arguments.

    Notes
    -----
    Formulas and references in the module notes (Jacobson & Truax 1991; Christensen &
    Mendoza 1986; Maassen 2004). R equivalent: ``rci <- (post - pre) / (sd *
    sqrt(2 * (1 - rxx)))``, ``abs(rci) > 1.96``; or ``clinicalsignificance::
    clinical_significance(method = "JT")``.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "parent_id": ["A", "B", "C", "D"] * 2,
    ...     "wave": ["baseline"] * 4 + ["end"] * 4,
    ...     "instrument": "phq9", "scale": "total",
    ...     "score": [18, 16, 6, 8, 6, 12, 4, 16]})
    >>> out = classify_reliable_change(s, "phq9", "total", sd=6.0)
    >>> print(out[["parent_id", "pre", "post", "rci", "clinical_pre", "clinical_post",
    ...            "category"]].round(2).to_string(index=False))
    parent_id  pre  post   rci  clinical_pre  clinical_post     category
            A 18.0   6.0 -4.26          True          False    recovered
            B 16.0  12.0 -1.42          True           True    unchanged
            C  6.0   4.0 -0.71         False          False    unchanged
            D  8.0  16.0  2.84         False           True deteriorated
    """
    if method not in _METHODS:
        raise RpcEvalError(f"method must be one of {list(_METHODS)}, not {method!r}")
    if not isinstance(sample_norms, bool):
        raise RpcEvalError(f"sample_norms must be True or False, not {sample_norms!r}")
    z = _positive(z, "z")
    reg = registry or default_registry()
    # a scale unknown to a registered instrument is an error (its message lists the
    # scales); an instrument outside the registry needs every setting given explicitly
    sc = reg.get(instrument).scale(scale) if instrument in reg else None
    by_cols = _as_list(by)
    if isinstance(waves, str) or len(waves) != 2:
        raise RpcEvalError(f"waves must be one (pre, post) pair, e.g. ('baseline', 'end'); "
                           f"got {waves!r}")
    sub = data
    if isinstance(data, pd.DataFrame) and {"instrument", "scale"} <= set(data.columns):
        sub = data.loc[(data["instrument"] == instrument) & (data["scale"] == scale)]
        if sub.empty:
            raise RpcEvalError(f"no scores for instrument {instrument!r}, scale {scale!r}")
    pairs = pair_waves(sub, waves=tuple(waves), id_col=id_col, by=by_cols)
    ids = _ids(data, id_col)
    both = pairs["pre"].notna() & pairs["post"].notna()
    n_pre_only = int((pairs["pre"].notna() & pairs["post"].isna()).sum())
    n_post_only = int((pairs["pre"].isna() & pairs["post"].notna()).sum())
    pairs = pairs.loc[both].reset_index(drop=True)
    if pairs.empty:
        raise RpcEvalError(f"nobody has valid {instrument} {scale!r} scores at both "
                           f"{waves[0]!r} and {waves[1]!r}")
    if direction is None:
        direction = scale_direction(instrument, scale, registry=reg)
    elif direction not in ("higher_is_worse", "higher_is_better"):
        raise RpcEvalError(f"direction must be 'higher_is_worse' or 'higher_is_better', "
                           f"not {direction!r}")
    pre = pairs["pre"].to_numpy(dtype="float64")
    post = pairs["post"].to_numpy(dtype="float64")
    settings = dict(method=method, reliability=reliability, sd=sd, norm_group=norm_group,
                    direction=direction, criterion=criterion, functional=functional,
                    clinical=clinical, cutoff=cutoff)
    missing = _missing_norms(sc, instrument, scale, **settings)
    if missing and not sample_norms:
        raise RpcEvalError(_missing_message([(_where(instrument, scale), missing)]))
    basis: list[str] = []
    got_r = _resolve_reliability(sc, reliability)
    if got_r is None:
        r_xx = _sample_alpha(responses, instrument, scale, waves[0], reg)
        r_src = "baseline sample Cronbach's alpha"
        basis.append(f"baseline sample alpha {r_xx:.2f}")
    else:
        r_xx, r_src = got_r
        if r_src == "given":
            basis.append(f"reliability given ({r_xx:g})")
    if method == "jacobson_truax":
        got_sd = _resolve_sd(sc, instrument, scale, sd, norm_group, pre)
        sd_val, sd_src = _baseline_sd(pre) if isinstance(got_sd, list) else got_sd
        if sd_src != "given" and not sd_src.startswith("definition"):
            basis.append(sd_src)
        elif sd_src == "given":
            basis.append(f"SD given ({sd_val:g})")
        se = se_difference(reliability=r_xx, sd=sd_val)
    else:
        if pre.size < 2:
            raise RpcEvalError("Maassen's method needs at least 2 complete pairs")
        sd_val, sd_src = math.nan, "pre and post sample SDs (Maassen)"
        basis.append(sd_src)
        se = se_difference(reliability=r_xx, sd_pre=float(pre.std(ddof=1)),
                           sd_post=float(post.std(ddof=1)), method="maassen")
    got_c = _resolve_criterion(sc, instrument, scale, direction, criterion, functional,
                               clinical, cutoff)
    crit, cut, caseness = got_c if got_c is not None else ("none", math.nan, None)
    if crit == "none":
        basis.append("no clinical cut-off")
    elif crit == "cutoff_given":
        basis.append(f"cut-off given ({cut:g})")
    rci_basis = "; ".join(basis) or "published reliability and norms"
    sign = 1.0 if direction == "higher_is_better" else -1.0
    change = post - pre
    rci = change / se
    reliable = np.abs(rci) > z
    better = reliable & (sign * change > 0)
    worse = reliable & (sign * change < 0)
    if caseness is None:
        clin_pre = pd.array([pd.NA] * len(pre), dtype="boolean")
        clin_post = pd.array([pd.NA] * len(pre), dtype="boolean")
        recovered = np.zeros(len(pre), dtype=bool)
    else:
        rule = _clinical_rule(cut, caseness)
        cp, cq = rule(pre), rule(post)
        clin_pre = pd.array(cp, dtype="boolean")
        clin_post = pd.array(cq, dtype="boolean")
        recovered = better & cp & ~cq
    cat = np.where(recovered, "recovered",
                   np.where(better, "improved", np.where(worse, "deteriorated", "unchanged")))
    out = pairs[[*ids, *by_cols, "instrument", "scale", "wave_pre", "wave_post", "pre",
                 "post"]].copy()
    out.insert(len(ids) + len(by_cols) + 2, "direction", direction)
    out["change"] = change
    out["improvement"] = sign * change
    out["se_diff"] = se
    out["rci"] = rci
    out["reliable"] = reliable
    out["reliable_improvement"] = better
    out["reliable_deterioration"] = worse
    out["criterion"] = crit
    out["cutoff"] = cut
    out["clinical_pre"] = clin_pre
    out["clinical_post"] = clin_post
    out["category"] = pd.Categorical(cat, categories=list(CATEGORIES), ordered=True)
    out["rci_basis"] = rci_basis
    out["method"] = method
    out["reliability"] = r_xx
    out["reliability_source"] = r_src
    out["sd"] = sd_val
    out["sd_source"] = sd_src
    out["rci_threshold"] = z
    out["min_reliable_change"] = z * se
    out["caseness"] = caseness
    out["n_pre_only"] = n_pre_only
    out["n_post_only"] = n_post_only
    return out[[*ids, *by_cols, *CLASSIFY_COLUMNS]]


def reliable_change_summary(data: pd.DataFrame,
                            by: str | Sequence[str] | None = None, *,
                            id_col: str | Sequence[str] = "parent_id") -> pd.DataFrame:
    """Counts and percentages of each reliable-change category.

    Parameters
    ----------
    data : DataFrame
        Result of :func:`classify_reliable_change` (several may be concatenated).
    by : str or list of str, optional
        Group columns. Default: every column of ``data`` that is neither an id
        column nor one of :data:`CLASSIFY_COLUMNS`, i.e. the group columns that
        :func:`classify_reliable_change` carried through (they are ordinary columns, so
        they survive ``pd.concat``); ``[]`` for none.
    id_col : str or list of str
        The participant id column(s) given to :func:`classify_reliable_change`
        (``respondent`` is added when present).

    Returns
    -------
    DataFrame
        One row per group x instrument x scale x wave pair x category, every category
        shown (zero counts included; ``recovered`` is left out where the criterion was
        ``none``): the group columns, then ``instrument, scale, wave_pre, wave_post,
        category, n, n_total, percent, rci_basis`` (``percent = 100 n / n_total``,
        ``n_total`` = participants classified in that group; ``rci_basis`` as in
        :func:`classify_reliable_change`).

    Notes
    -----
    R equivalent: ``dplyr::count(classified, group, category) |> mutate(percent = 100 *
    n / sum(n))``.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "parent_id": ["A", "B", "C", "D"] * 2,
    ...     "wave": ["baseline"] * 4 + ["end"] * 4,
    ...     "instrument": "phq9", "scale": "total",
    ...     "score": [18, 16, 6, 8, 6, 12, 4, 16]})
    >>> out = classify_reliable_change(s, "phq9", "total", sd=6.0)
    >>> print(reliable_change_summary(out)[["category", "n", "percent"]].to_string(index=False))
        category  n  percent
       recovered  1     25.0
        improved  0      0.0
       unchanged  2     50.0
    deteriorated  1     25.0
    """
    if not isinstance(data, pd.DataFrame) or "category" not in data.columns:
        raise RpcEvalError("reliable_change_summary needs the result of classify_reliable_change")
    if by is None:
        ids = _ids(data, id_col)
        by_cols = [c for c in data.columns if c not in ids and c not in CLASSIFY_COLUMNS]
    else:
        by_cols = _as_list(by)
    missing = [c for c in by_cols if c not in data.columns]
    if missing:
        raise RpcEvalError(f"group column(s) {missing} are not in the classified frame")
    keys = [*by_cols, "instrument", "scale", "wave_pre", "wave_post"]
    basis = (data["rci_basis"] if "rci_basis" in data.columns
             else pd.Series("", index=data.index))
    rows = []
    for k, g in data.groupby(keys, sort=True, dropna=False, observed=True):
        k = k if isinstance(k, tuple) else (k,)
        counts = g["category"].astype(str).value_counts()
        no_recovery = (g["criterion"] == "none").all()
        total = len(g)
        used = "; ".join(dict.fromkeys(basis.loc[g.index].astype(str)))
        for cat in CATEGORIES:
            if cat == "recovered" and no_recovery:
                continue
            n = int(counts.get(cat, 0))
            rows.append((*k, cat, n, total, 100.0 * n / total, used))
    out = pd.DataFrame(rows, columns=[*keys, "category", "n", "n_total", "percent",
                                      "rci_basis"])
    out["category"] = pd.Categorical(out["category"], categories=list(CATEGORIES), ordered=True)
    return out


def band_transitions(data: pd.DataFrame, instrument: str, scale: str,
                     waves: tuple[str, str] = ("baseline", "end"), scheme: str | None = None, *,
                     id_col: str | Sequence[str] = "parent_id",
                     by: str | Sequence[str] | None = None,
                     registry: Registry | None = None, layout: str = "long",
                     direction: str | None = None) -> pd.DataFrame:
    """Cross-tabulation of bands at two waves (pre band x post band counts).

    Parameters
    ----------
    data : DataFrame
        Tidy scores with the ``band`` column (default scheme) and ``band_<scheme>``
        columns (further schemes), as :func:`rpc_eval.instruments.score` writes them.
    instrument, scale : str
    waves : (str, str)
        Pre and post wave.
    scheme : str, optional
        Band scheme name (the definition's first scheme when ``None``).
    id_col, by, registry
        As in :func:`classify_reliable_change`.
    layout : {"long", "wide"}
        ``long``: one row per pre band x post band (x group), tidy. ``wide``: counts
        with pre bands as rows (after any group columns, as a MultiIndex) and post
        bands as columns.
    direction : str, optional
        Override of the scale's direction.

    Returns
    -------
    DataFrame
        Long layout: group columns, then ``instrument, scale, scheme, wave_pre,
        wave_post, band_pre, band_post, n, percent_of_pre, movement``. Every pair of
        bands is listed (zero counts included), bands in the definition's order (lowest
        scores first) as ordered categoricals; ``percent_of_pre`` = 100 n / (number in
        that pre band); ``movement`` is ``better``, ``same`` or ``worse``
        (direction-aware: moving to a lower band is better on ``higher_is_worse``);
        ``n_paired`` (participants with a band at both waves, the ones counted),
        ``n_pre_only`` and ``n_post_only`` (participants of the group with a band at
        only one wave, not counted). The wide layout has the counts only; use the long
        layout for the others.

    Raises
    ------
    RpcEvalError
        Unknown instrument, scale or scheme, a scale without bands, or a missing band
        column.

    Notes
    -----
    R equivalent: ``table(factor(band_pre, levels), factor(band_post, levels))``.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "parent_id": ["A", "B", "C"] * 2, "wave": ["baseline"] * 3 + ["end"] * 3,
    ...     "instrument": "phq9", "scale": "total", "score": [12, 7, 3, 6, 7, 11],
    ...     "band": ["moderate", "mild", "minimal", "mild", "mild", "moderate"]})
    >>> t = band_transitions(s, "phq9", "total")
    >>> print(t.loc[t["n"] > 0, ["band_pre", "band_post", "n", "movement"]].to_string(index=False))
    band_pre band_post  n movement
     minimal  moderate  1    worse
        mild      mild  1     same
    moderate      mild  1   better
    """
    if layout not in ("long", "wide"):
        raise RpcEvalError(f"layout must be 'long' or 'wide', not {layout!r}")
    reg = registry or default_registry()
    if instrument not in reg:
        raise RpcEvalError(f"instrument {instrument!r} is not in the registry; pass the registry "
                           "that defines it (its band order comes from the definition)")
    inst = reg.get(instrument)
    sc = inst.scale(scale)
    schemes = sc.bands
    if not schemes:
        raise RpcEvalError(f"{_where(instrument, scale)} has no bands in its definition")
    names = list(schemes)
    if scheme is None:
        scheme = names[0]
    if scheme not in schemes:
        raise RpcEvalError(f"{_where(instrument, scale)} has no band scheme {scheme!r}; "
                           f"its schemes are {names}")
    col = "band" if scheme == names[0] else f"band_{scheme}"
    if not isinstance(data, pd.DataFrame) or col not in data.columns:
        raise RpcEvalError(f"scores needs the column {col!r} for band scheme {scheme!r} "
                           "(as written by rpc_eval.instruments.score)")
    order = [c["label"] for c in sorted(schemes[scheme]["cuts"], key=lambda c: float(c["min"]))]
    if direction is None:
        direction = scale_direction(instrument, scale, registry=reg)
    by_cols = _as_list(by)
    sub = data.loc[(data["instrument"] == instrument) & (data["scale"] == scale)]
    if sub.empty:
        raise RpcEvalError(f"no scores for instrument {instrument!r}, scale {scale!r}")
    if isinstance(waves, str) or len(waves) != 2:
        raise RpcEvalError(f"waves must be one (pre, post) pair; got {waves!r}")
    pairs = pair_waves(sub, waves=tuple(waves), id_col=id_col, by=by_cols, extra=[col])
    bp, bq = pairs[f"{col}_pre"], pairs[f"{col}_post"]
    unknown = sorted((set(bp.dropna().astype(str)) | set(bq.dropna().astype(str))) - set(order))
    if unknown:
        raise RpcEvalError(f"band labels {unknown} are not bands of scheme {scheme!r} "
                           f"({order}); were the scores made with another definition?")
    both = bp.notna() & bq.notna()
    pre_only, post_only = bp.notna() & bq.isna(), bp.isna() & bq.notna()
    full = pairs
    pairs = pairs.loc[both]
    cat = pd.CategoricalDtype(order, ordered=True)
    pre_c = pairs[f"{col}_pre"].astype(str).astype(cat)
    post_c = pairs[f"{col}_post"].astype(str).astype(cat)
    frame = pd.DataFrame({**{c: pairs[c] for c in by_cols}, "band_pre": pre_c,
                          "band_post": post_c})
    groups = [()] if not by_cols else list(
        frame[by_cols].drop_duplicates().sort_values(by_cols).itertuples(index=False, name=None))
    rows = []
    rank = {b: i for i, b in enumerate(order)}
    for gk in groups:
        g = frame
        in_group = pd.Series(True, index=full.index)
        for c, v in zip(by_cols, gk, strict=True):
            g = g.loc[(g[c] == v) | (g[c].isna() & pd.isna(v))]
            in_group &= (full[c] == v) | (full[c].isna() & pd.isna(v))
        n_pre_only, n_post_only = int((pre_only & in_group).sum()), int((post_only & in_group).sum())
        tab = pd.crosstab(g["band_pre"], g["band_post"], dropna=False).reindex(
            index=order, columns=order, fill_value=0)
        for a in order:
            row_total = int(tab.loc[a].sum())
            for b in order:
                n = int(tab.loc[a, b])
                diff = rank[b] - rank[a]
                if diff == 0:
                    move = "same"
                elif (diff < 0) == (direction == "higher_is_worse"):
                    move = "better"
                else:
                    move = "worse"
                rows.append((*gk, instrument, scale, scheme, waves[0], waves[1], a, b, n,
                             100.0 * n / row_total if row_total else np.nan, move, len(g),
                             n_pre_only, n_post_only))
    out = pd.DataFrame(rows, columns=[*by_cols, *TRANSITION_COLUMNS])
    out["band_pre"] = out["band_pre"].astype(cat)
    out["band_post"] = out["band_post"].astype(cat)
    for c in ("n", "n_paired", "n_pre_only", "n_post_only"):
        out[c] = out[c].astype("int64")
    if layout == "wide":
        wide = out.pivot_table(index=[*by_cols, "band_pre"], columns="band_post", values="n",
                               aggfunc="sum", observed=False, fill_value=0)
        wide.columns = wide.columns.astype(str)
        wide.columns.name = "band_post"
        return wide
    return out
