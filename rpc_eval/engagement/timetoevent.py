"""Time-to-event data for engagement analyses: one row per parent who started.

:func:`time_to_event` turns the ``parents`` and ``attendance`` tables of an
:class:`~rpc_eval.data.EvaluationData` into the frame every engagement estimator
(Kaplan-Meier, Cox, cumulative incidence, Fine-Gray) reads: how long each episode
lasted, in days and in sessions attended, and how it ended (dropout, completion, or
still going at the censoring date). :func:`person_period` expands it into the
discrete-time (person-period) form used by discrete-time hazard models of dropout.

Rules, in one place
-------------------
* **Who is in it.** Every referral episode with a ``start_date`` (the date of the first
  session). Parents who never started are not at risk and are left out; the funnel
  (:func:`rpc_eval.engagement.funnel.funnel`) counts them.
* **How it ended.** ``exit_reason`` ``dropped_out`` -> ``status = "dropout"``
  (``event = 1``), ``completed`` -> ``"completion"`` (``event = 2``), ``ongoing`` ->
  ``"censored"`` (``event = 0``). Episodes that ended *after* ``censor_date`` (only
  possible when you pass an earlier ``censor_date``) are censored at ``censor_date``.
* **Censoring date.** By default the latest date found anywhere in the dataset (every
  date column of every table: referral, start, exit, session, questionnaire and
  training dates). That is the best stand-in for the extract date that the data
  themselves give; pass ``censor_date`` (the real extract date) when you know it.
* **Durations.** ``days = end_date - start_date`` in days, where ``end_date`` is the
  exit date for a dropout or completion and ``censor_date`` for a censored episode.
  ``sessions`` is the number of attendance rows with ``attended`` true dated on or
  before ``end_date``. A parent with no attendance rows has ``sessions = 0`` (for
  example a dropout who never came to the first booked session: ``sessions = 0``,
  ``days >= 0``); no warning is raised, and ``attendance_recorded`` is false for them so
  they can be counted (``(~tte.attendance_recorded).sum()``).
* **Sessions as a count.** Data delivered one row per parent may carry only a count,
  ``parents.sessions_attended`` (with, optionally, ``first_session_date`` and
  ``last_session_date``). When the attendance table is empty that count is
  ``sessions``: every analysis in sessions attended (retention, cumulative incidence,
  Cox, Fine-Gray, the session hazard) and every analysis in days runs on it.
  ``last_session`` (the highest session *number* attended) is then missing, and a
  ``censor_date`` that may fall before a parent's last session raises an error saying
  that the attendance table (one dated row per session) is needed. When both are
  given, the attendance table is used (with a warning if the two disagree).
* **Planned sessions.** The parent's own ``sessions_planned``; when blank, the
  dataset's ``interventions`` table; when that is absent or blank, the ``interventions``
  codebook (``data.codebooks["interventions"].attribute("sessions_planned")``).
* **Region** comes from the ``las`` table through ``la_code``.

Attendance after a parent's exit date, attendance for a parent who never started and
exit dates before start dates are intake errors: :func:`rpc_eval.data.load` excludes
those rows and logs them, so they never reach this module from files. A hand-built
:class:`~rpc_eval.data.EvaluationData` that breaks these rules raises
:class:`~rpc_eval.errors.RpcEvalError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from rpc_eval.data.model import EvaluationData, empty_table
from rpc_eval.errors import DataQualityWarning, RpcEvalError, RpcEvalWarning

__all__ = [
    "time_to_event",
    "person_period",
    "TTE_COLUMNS",
    "COVARIATES",
    "EVENT_CODES",
    "PERSON_PERIOD_OUTCOMES",
]

#: Covariate columns of the time-to-event frame, in order (taken from ``parents``;
#: ``region`` from ``las``; ``sessions_planned`` filled as documented).
COVARIATES: tuple[str, ...] = (
    "family_id", "la_code", "region", "intervention", "delivery_mode",
    "relationship_status", "parent_sex", "parent_age", "ethnic_group", "workless",
    "child_age", "sessions_planned",
)

#: Columns of :func:`time_to_event`, in order.
TTE_COLUMNS: tuple[str, ...] = (
    "parent_id", *COVARIATES, "start_date", "end_date", "status", "event", "sessions",
    "days", "last_session", "attendance_recorded",
)

#: ``status`` -> ``event`` code (the cmprsk / ``survival::Surv(type="mstate")`` coding:
#: 0 censored, 1 the event of interest (dropout), 2 the competing event (completion)).
EVENT_CODES: dict[str, int] = {"censored": 0, "dropout": 1, "completion": 2}

#: Columns of a time-to-event frame that describe the outcome, not the parent; they are
#: not carried into :func:`person_period` as covariates.
PERSON_PERIOD_OUTCOMES: tuple[str, ...] = (
    "start_date", "end_date", "status", "event", "sessions", "days", "last_session",
    "attendance_recorded",
)

_REASON_STATUS = {"dropped_out": "dropout", "completed": "completion", "ongoing": "censored"}


def _ids_text(ids: Sequence, k: int = 5) -> str:
    ids = [str(i) for i in ids]
    more = f" and {len(ids) - k} more" if len(ids) > k else ""
    return ", ".join(ids[:k]) + more


def _require(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RpcEvalError(
            f"the {table} table needs column(s) {missing}; it has {list(frame.columns)}")


def _latest_date(data: EvaluationData) -> pd.Timestamp:
    """Latest non-missing date in any date column of any table (NaT if none)."""
    latest = pd.NaT
    for table in data.tables().values():
        for col in table.columns:
            if pd.api.types.is_datetime64_any_dtype(table[col]):
                m = table[col].max()
                if pd.notna(m) and (pd.isna(latest) or m > latest):
                    latest = m
    return latest


def _censor_timestamp(censor_date) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(censor_date)
    except (TypeError, ValueError) as exc:
        raise RpcEvalError(
            f"censor_date must be a date such as '2023-12-31'; got {censor_date!r} ({exc})"
        ) from None
    if pd.isna(ts):
        raise RpcEvalError(f"censor_date must be a date such as '2023-12-31'; got {censor_date!r}")
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def _with_schema_columns(parents: pd.DataFrame) -> pd.DataFrame:
    """``parents`` with any optional schema column it lacks added as all-missing."""
    template = empty_table("parents")
    p = parents.copy()
    for col in template.columns:
        if col not in p.columns:
            dtype = template[col].dtype
            p[col] = pd.Series(np.nan if dtype.kind == "O" else pd.NA, index=p.index, dtype=dtype)
    return p


def _check_episodes(p: pd.DataFrame) -> None:
    """Raise on starters whose exit fields contradict each other (intake excludes these)."""
    reason = p["exit_reason"]
    ids = p["parent_id"]
    hint = ("; rpc_eval.data.load excludes such rows when it reads files, so correct the "
            "table you built or load the data from files")
    bad = ~reason.isin(list(_REASON_STATUS))
    if bad.any():
        raise RpcEvalError(
            f"{int(bad.sum())} parent(s) have a start date but exit_reason "
            f"{sorted(map(str, pd.unique(reason[bad])))} ({_ids_text(ids[bad])}); a parent "
            f"who started is completed, dropped_out or ongoing" + hint)
    ended = reason.isin(["completed", "dropped_out"])
    no_exit = ended & p["exit_date"].isna()
    if no_exit.any():
        raise RpcEvalError(
            f"{int(no_exit.sum())} parent(s) completed or dropped out but have no exit date "
            f"({_ids_text(ids[no_exit])})" + hint)
    ongoing_exit = (reason == "ongoing") & p["exit_date"].notna()
    if ongoing_exit.any():
        raise RpcEvalError(
            f"{int(ongoing_exit.sum())} parent(s) are ongoing but have an exit date "
            f"({_ids_text(ids[ongoing_exit])})" + hint)
    early = (p["exit_date"] < p["start_date"]).fillna(False)
    if early.any():
        raise RpcEvalError(
            f"{int(early.sum())} parent(s) have an exit date before their start date "
            f"({_ids_text(ids[early])})" + hint)
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise RpcEvalError(
            f"parent_id is not unique in the parents table ({_ids_text(pd.unique(ids[dup]))})")


def _sessions_planned(p: pd.DataFrame, data: EvaluationData) -> pd.Series:
    """Parent's own value, else the interventions table, else the codebook."""
    own = pd.to_numeric(p["sessions_planned"], errors="coerce").astype("Float64")
    intervention = p["intervention"].astype(object)
    table = data.interventions
    if {"intervention", "sessions_planned"} <= set(table.columns) and len(table):
        t = table.dropna(subset=["intervention", "sessions_planned"])
        t_map = pd.Series(pd.to_numeric(t["sessions_planned"]).to_numpy(dtype=float),
                          index=t["intervention"].astype(object).to_numpy())
        t_map = t_map[~t_map.index.duplicated()]
        own = own.fillna(pd.Series(t_map.reindex(intervention.to_numpy()).to_numpy(),
                                   index=own.index, dtype="Float64"))
    book = data.codebooks.get("interventions") if data.codebooks else None
    if book is not None:
        b_map = pd.Series({k: float(v) for k, v in book.attribute("sessions_planned").items()
                           if v is not None}, dtype=float)
        own = own.fillna(pd.Series(b_map.reindex(intervention.to_numpy()).to_numpy(),
                                   index=own.index, dtype="Float64"))
    missing = own.isna()
    if missing.any():
        warnings.warn(
            f"sessions_planned is unknown for {int(missing.sum())} parent(s) (intervention(s) "
            f"{sorted(map(str, pd.unique(intervention[missing].dropna())))}): blank for the "
            "parent and not given in the interventions table or codebook; it is left missing",
            DataQualityWarning, stacklevel=3)
    return own.round().astype("Int64")


def _region(p: pd.DataFrame, data: EvaluationData) -> pd.Series:
    las = data.las
    if not {"la_code", "region"} <= set(las.columns):
        raise RpcEvalError(f"the las table needs columns la_code and region; it has "
                           f"{list(las.columns)}")
    lookup = las.drop_duplicates("la_code").set_index("la_code")["region"]
    region = pd.Series(lookup.reindex(p["la_code"].astype(object).to_numpy()).to_numpy(),
                       index=p.index, dtype=object)
    unknown = region.isna() & p["la_code"].notna()
    if unknown.any():
        warnings.warn(
            f"{int(unknown.sum())} parent(s) have an la_code that is not in the las table "
            f"({_ids_text(pd.unique(p.loc[unknown, 'la_code']))}); their region is left missing",
            DataQualityWarning, stacklevel=3)
    return region


def _attendance_summary(data: EvaluationData, ids: pd.Series, end: pd.Series,
                        exit_date: pd.Series) -> pd.DataFrame:
    """Per parent (index = ``ids``): sessions attended, last attended session, any rows."""
    att = data.attendance
    out = pd.DataFrame({"sessions": 0, "last_session": 0, "attendance_recorded": False},
                       index=pd.Index(ids.to_numpy(), name="parent_id"))
    if len(att) == 0:
        return out
    _require(att, ["parent_id", "session_number", "attended"], "attendance")
    att = att.loc[att["parent_id"].isin(ids)]
    if not len(att):
        return out
    key = att[["parent_id", "session_number"]]
    dup = key.duplicated(keep=False)
    if dup.any():
        raise RpcEvalError(
            f"the attendance table has {int(dup.sum())} rows sharing a parent_id and "
            f"session_number (parents {_ids_text(pd.unique(att.loc[dup, 'parent_id']))}); "
            "keep one row per session")
    pid = att["parent_id"].astype(object).to_numpy()
    if "session_date" in att.columns:
        sdate = pd.to_datetime(att["session_date"])
        ex = pd.Series(exit_date.to_numpy(), index=ids.to_numpy()).reindex(pid).to_numpy()
        after = (sdate.to_numpy() > ex) & ~pd.isna(ex) & ~pd.isna(sdate.to_numpy())
        if after.any():
            raise RpcEvalError(
                f"{int(after.sum())} attendance row(s) are dated after the parent's exit date "
                f"(parents {_ids_text(pd.unique(pid[after]))}); rpc_eval.data.load excludes "
                "such rows when it reads files, so correct the table you built")
        stop = pd.Series(end.to_numpy(), index=ids.to_numpy()).reindex(pid).to_numpy()
        in_window = pd.isna(sdate.to_numpy()) | (sdate.to_numpy() <= stop)
    else:
        in_window = np.ones(len(att), bool)
    attended = att["attended"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    number = pd.to_numeric(att["session_number"]).to_numpy(dtype=float)
    frame = pd.DataFrame({
        "parent_id": pid[in_window],
        "attended": attended[in_window],
        "number": np.where(attended, number, 0.0)[in_window],
    })
    g = frame.groupby("parent_id", sort=False)
    out.loc[g.size().index, "attendance_recorded"] = True
    out["sessions"] = g["attended"].sum().reindex(out.index).fillna(0).astype("int64")
    out["last_session"] = g["number"].max().reindex(out.index).fillna(0).astype("int64")
    return out


def _counted_sessions(p: pd.DataFrame, data: EvaluationData, cdate: pd.Timestamp,
                      explicit_censor: bool) -> pd.DataFrame | None:
    """Per parent: sessions from the ``sessions_attended`` count of ``parents``, used when
    there is no attendance table (None when the attendance table or the count is absent).

    A count says how many sessions, not when or which: ``last_session`` is missing, and
    a ``censor_date`` before a parent's last session cannot be applied without dates.
    """
    count = p["sessions_attended"]
    if not count.notna().any():
        return None
    ids = p["parent_id"].to_numpy()
    if len(data.attendance):
        att = _attendance_summary(data, p["parent_id"], p["exit_date"].fillna(cdate),
                                  p["exit_date"])
        given = count.notna().to_numpy()
        differ = given & (att["sessions"].reindex(ids).to_numpy()
                          != count.fillna(-1).to_numpy(dtype="int64"))
        if differ.any():
            warnings.warn(
                f"sessions_attended in the parents table differs from the attendance table "
                f"for {int(differ.sum())} parent(s) ({_ids_text(ids[differ])}); the "
                "attendance table (one row per session) was used", DataQualityWarning,
                stacklevel=3)
        return None
    if explicit_censor:
        last = p["last_session_date"].where(p["last_session_date"].notna(), p["exit_date"])
        unsure = count.gt(0).fillna(False).to_numpy() & ~(last <= cdate).fillna(False).to_numpy()
        if unsure.any():
            raise RpcEvalError(
                f"censor_date {cdate.date()} may fall before some sessions of "
                f"{int(unsure.sum())} parent(s) ({_ids_text(ids[unsure])}), and the data give "
                "only a count of sessions (sessions_attended), not their dates. Counting "
                "sessions up to a censoring date needs the attendance table (one dated row "
                "per session), or last_session_date on or before the censoring date; "
                "leave censor_date out to use the latest date in the data")
    missing = count.isna().to_numpy()
    if missing.any():
        warnings.warn(
            f"sessions_attended is blank for {int(missing.sum())} parent(s) who started "
            f"({_ids_text(ids[missing])}) and there is no attendance table: their sessions "
            "are counted as 0", DataQualityWarning, stacklevel=3)
    return pd.DataFrame({"sessions": count.fillna(0).to_numpy(dtype="int64"),
                         "last_session": pd.array([pd.NA] * len(p), dtype="Int64"),
                         "attendance_recorded": ~missing},
                        index=pd.Index(ids, name="parent_id"))


def time_to_event(data: EvaluationData, *, censor_date=None) -> pd.DataFrame:
    """One row per parent who started: how long the episode lasted and how it ended.

    Parameters
    ----------
    data : EvaluationData
        Uses ``parents``, ``attendance``, ``las``, ``interventions`` and the
        ``interventions`` codebook.
    censor_date : date-like, optional
        Date at which ongoing episodes are censored. Default: the latest date anywhere
        in the dataset (every date column of every table), the best stand-in for the
        extract date the data give. An episode that ended after ``censor_date`` is
        censored at it, and only sessions on or before it are counted.

    Returns
    -------
    DataFrame
        One row per parent with a ``start_date``, in the order of ``data.parents``,
        with columns (:data:`TTE_COLUMNS`):

        * ``parent_id``, ``family_id``, ``la_code``, ``region`` (from ``las``),
          ``intervention``, ``delivery_mode``, ``relationship_status``, ``parent_sex``,
          ``parent_age``, ``ethnic_group``, ``workless``, ``child_age`` -- as in
          ``parents`` (schema dtypes; optional columns absent from ``parents`` are all
          missing);
        * ``sessions_planned`` (Int64): the parent's value, else the ``interventions``
          table's, else the codebook's (missing, with a
          :class:`~rpc_eval.errors.DataQualityWarning`, if none gives one);
        * ``start_date``; ``end_date`` = exit date (dropout, completion) or
          ``censor_date`` (censored);
        * ``status``: ``"dropout"``, ``"completion"`` or ``"censored"``;
        * ``event`` (int64): 0 censored, 1 dropout, 2 completion (:data:`EVENT_CODES`);
        * ``sessions`` (int64 >= 0): sessions attended (``attended`` true) on or before
          ``end_date``; 0 for a parent without attendance rows;
        * ``days`` (float64 >= 0): ``end_date - start_date`` in days;
        * ``last_session`` (int64 >= 0): highest ``session_number`` attended (0 if
          none); differs from ``sessions`` when a session in between was missed;
          when sessions come from the ``sessions_attended`` count, Int64 and missing
          (the count does not say which sessions were attended);
        * ``attendance_recorded`` (bool): the parent has at least one attendance row
          (attended or not) on or before ``end_date``.

    Raises
    ------
    RpcEvalError
        If ``censor_date`` is before some parent's start date (nobody can be censored
        before they start), or the tables break intake rules (a starter with exit
        reason ``not_started``, a completion or dropout without an exit date, an
        ongoing episode with one, an exit before the start, attendance after the exit
        date, duplicate ids or sessions).

    Warns
    -----
    DataQualityWarning
        When the attendance table is empty although parents started (every
        ``sessions`` is then 0, which says nothing about attendance), when
        ``sessions_planned`` cannot be filled, or when an ``la_code`` is not in ``las``.
    RpcEvalWarning
        When no parent has a start date (the frame is empty).

    Notes
    -----
    ``event`` follows the competing-risks coding of ``cmprsk`` and
    ``survival::Surv(days, factor(event, 0:2), type = "mstate")``: dropout is the event
    of interest and completion the competing event. In R the same frame is
    ``transform(merge(parents, las[c("la_code", "region")]), days = as.numeric(
    ifelse(is.na(exit_date), censor_date, exit_date) - start_date))`` restricted to
    ``!is.na(start_date)``, with ``sessions`` from
    ``aggregate(attended ~ parent_id, attendance, sum)``.

    Examples
    --------
    >>> from rpc_eval.synthetic import generate
    >>> data, _ = generate("small", seed=1)
    >>> tte = time_to_event(data, censor_date="2021-12-31")
    >>> tte["status"].value_counts().sort_index().to_dict()
    {'censored': 1, 'completion': 280, 'dropout': 213}
    >>> tte.loc[0, ["parent_id", "status", "event", "sessions", "days"]].to_dict()
    {'parent_id': 'P000001', 'status': 'completion', 'event': 2, 'sessions': 12, 'days': 91.0}
    """
    if not isinstance(data, EvaluationData):
        raise RpcEvalError(
            f"time_to_event needs an EvaluationData (from rpc_eval.data.load or "
            f"rpc_eval.synthetic.generate); got {type(data).__name__}")
    parents = data.parents
    _require(parents, ["parent_id", "la_code", "intervention", "start_date", "exit_date",
                       "exit_reason"], "parents")
    p = _with_schema_columns(parents)
    p = p.loc[p["start_date"].notna()].reset_index(drop=True)
    for col in ("start_date", "exit_date"):
        p[col] = pd.to_datetime(p[col])
    _check_episodes(p)

    if len(p) == 0:
        warnings.warn("no parent has a start date, so the time-to-event frame is empty",
                      RpcEvalWarning, stacklevel=2)

    if censor_date is None:
        cdate = _latest_date(data)
    else:
        cdate = _censor_timestamp(censor_date)
        late = p["start_date"] > cdate
        if late.any():
            raise RpcEvalError(
                f"censor_date {cdate.date()} is before the start date of {int(late.sum())} "
                f"parent(s) ({_ids_text(p.loc[late, 'parent_id'])}; latest start "
                f"{p['start_date'].max().date()}); a parent cannot be censored before they "
                "start: use a date on or after the latest start date")

    reason = p["exit_reason"].astype(object)
    observed = reason.isin(["completed", "dropped_out"]) & (p["exit_date"] <= cdate).fillna(False)
    status = pd.Series(np.where(observed, reason.map(_REASON_STATUS), "censored"),
                       index=p.index, dtype=object)
    end = p["exit_date"].where(observed, cdate)
    end = pd.to_datetime(end).astype(p["start_date"].dtype)

    att = _attendance_summary(data, p["parent_id"], end, p["exit_date"])
    counted = _counted_sessions(p, data, cdate, censor_date is not None)
    if counted is not None:
        att = counted
    elif len(p) and len(data.attendance) == 0:
        warnings.warn(
            "the attendance table is empty, so sessions = 0 for every parent: analyses in "
            "sessions (person_period, discrete-time hazards) need attendance data; analyses "
            "in days do not", DataQualityWarning, stacklevel=2)

    out = pd.DataFrame({"parent_id": p["parent_id"].astype(object)})
    for col in COVARIATES:
        if col == "region":
            out[col] = _region(p, data)
        elif col == "sessions_planned":
            out[col] = _sessions_planned(p, data)
        else:
            out[col] = p[col]
    out["start_date"] = p["start_date"]
    out["end_date"] = end
    out["status"] = status
    out["event"] = status.map(EVENT_CODES).astype("int64")
    ids = p["parent_id"].to_numpy()
    out["sessions"] = att["sessions"].reindex(ids).to_numpy(dtype="int64")
    out["days"] = ((end - p["start_date"]) / pd.Timedelta(days=1)).astype("float64")
    out["last_session"] = (att["last_session"].reindex(ids).astype("Int64") if counted is not None
                           else att["last_session"].reindex(ids).to_numpy(dtype="int64"))
    out["attendance_recorded"] = att["attendance_recorded"].reindex(ids).to_numpy(dtype=bool)
    return out.reset_index(drop=True)[list(TTE_COLUMNS)]


def person_period(
    data: pd.DataFrame,
    *,
    max_sessions: int | None = None,
    id_col: str = "parent_id",
    sessions_col: str = "sessions",
    event_col: str = "event",
    dropout_code: int | str = 1,
    covariates: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Discrete-time (person-period) data for models of the dropout hazard by session.

    A parent is **at risk at session k** when they are still enrolled having attended
    ``k - 1`` sessions: at that point they either attend session ``k`` (``dropout =
    0``) or leave the intervention before it (``dropout = 1``). So a parent who
    attended ``s`` sessions contributes

    * dropout: rows ``k = 1 .. s + 1``, with ``dropout = 1`` only in row ``s + 1``
      (a dropout with ``s = 0``, who never attended, has the single row ``k = 1``);
    * completion: rows ``1 .. s``, all ``dropout = 0`` -- completing at the last
      planned session is the end of follow-up, **not** a dropout;
    * censored (ongoing): rows ``1 .. s``, all ``dropout = 0``; whether they attend
      session ``s + 1`` is not yet known.

    The discrete hazard at session k is ``h(k) = P(leave before session k | at risk at
    session k)``, estimated by a binary regression of ``dropout`` on session (as
    dummies or a smooth term) and covariates; survival past session k is
    ``prod_{j <= k} (1 - h(j))``.

    Parameters
    ----------
    data : DataFrame
        One row per parent, e.g. from :func:`time_to_event`; any frame with
        ``id_col``, ``sessions_col`` (whole numbers >= 0) and ``event_col``.
    max_sessions : int, optional
        Keep only rows with ``session <= max_sessions``; a dropout later than that is
        then treated as censored at ``max_sessions``.
    id_col, sessions_col, event_col : str
        Column names. Use ``sessions_col="last_session"`` to count sessions by their
        number in the schedule (missed sessions in between do not end the episode)
        rather than by how many were attended.
    dropout_code : int or str
        Value of ``event_col`` that means dropout (1 in :func:`time_to_event`; use
        ``event_col="status", dropout_code="dropout"`` for the text column).
    covariates : sequence of str, optional
        Columns copied onto every row. Default: every column of ``data`` other than
        ``id_col``, ``sessions_col``, ``event_col`` and the outcome columns of
        :func:`time_to_event` (:data:`PERSON_PERIOD_OUTCOMES`).

    Returns
    -------
    DataFrame
        Columns ``id_col``, ``session`` (int64, 1-based), ``dropout`` (int64, 0/1),
        then the covariates; rows ordered by parent (as in ``data``) then session.

    Raises
    ------
    RpcEvalError
        If a column is missing, ``id_col`` is not unique, ``sessions_col`` has missing,
        negative or fractional values, or ``max_sessions`` is not a positive integer.

    References
    ----------
    Singer, J. D. and Willett, J. B. (1993). It's about time: using discrete-time
    survival analysis to study duration and the timing of events. *Journal of
    Educational Statistics* 18(2), 155-195.

    Notes
    -----
    R equivalent: ``discSurv::dataLong(tte, timeColumn = "k", eventColumn = "d")`` with
    ``k = sessions + (event == 1)`` and ``d = event == 1``, or ``survival::survSplit``
    on the same ``k``.

    Examples
    --------
    >>> import pandas as pd
    >>> tte = pd.DataFrame({"parent_id": ["a", "b", "c"], "sessions": [2, 0, 3],
    ...                     "event": [1, 1, 2], "intervention": ["x", "x", "y"]})
    >>> person_period(tte)
      parent_id  session  dropout intervention
    0         a        1        0            x
    1         a        2        0            x
    2         a        3        1            x
    3         b        1        1            x
    4         c        1        0            y
    5         c        2        0            y
    6         c        3        0            y
    """
    if not isinstance(data, pd.DataFrame):
        raise RpcEvalError("data must be a DataFrame, e.g. from time_to_event(data)")
    _require(data, [id_col, sessions_col, event_col], "time-to-event")
    if covariates is None:
        skip = {id_col, sessions_col, event_col, *PERSON_PERIOD_OUTCOMES}
        covariates = [c for c in data.columns if c not in skip]
    else:
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        _require(data, covariates, "time-to-event")
    if max_sessions is not None and (
            isinstance(max_sessions, bool) or not float(max_sessions).is_integer()
            or max_sessions < 1):
        raise RpcEvalError(f"max_sessions must be a whole number >= 1; got {max_sessions!r}")
    dup = data[id_col].duplicated(keep=False)
    if dup.any():
        raise RpcEvalError(
            f"{id_col} must identify one row per parent; repeated: "
            f"{_ids_text(pd.unique(data.loc[dup, id_col]))}")
    if sessions_col == "last_session" and len(data) and data[sessions_col].isna().all():
        raise RpcEvalError(
            "last_session (the highest session number attended) is missing for every "
            "parent: the data give only a count of sessions attended (sessions_attended), "
            "and session numbers need the attendance table (one row per session); use "
            "sessions_col='sessions' to count sessions attended")
    s = pd.to_numeric(data[sessions_col], errors="coerce").astype("Float64")
    bad = s.isna() | (s < 0) | (s.round() != s)
    if bad.fillna(True).any():
        raise RpcEvalError(
            f"{sessions_col} must be a whole number >= 0 for every parent; not so for "
            f"{_ids_text(data.loc[bad.fillna(True).to_numpy(), id_col])}")
    s = s.to_numpy(dtype="int64")
    is_drop = (data[event_col] == dropout_code).fillna(False).to_numpy(dtype=bool)
    n_rows = s + is_drop.astype("int64")
    if max_sessions is not None:
        n_rows = np.minimum(n_rows, int(max_sessions))
    idx = np.repeat(np.arange(len(data)), n_rows)
    starts = np.cumsum(n_rows) - n_rows
    session = np.arange(idx.size, dtype="int64") - np.repeat(starts, n_rows) + 1
    dropout = (is_drop[idx] & (session == s[idx] + 1)).astype("int64")
    base = data.iloc[idx].reset_index(drop=True)
    head = pd.DataFrame({id_col: base[id_col], "session": session, "dropout": dropout})
    return pd.concat([head, base[[c for c in covariates if c != id_col]]], axis=1)
