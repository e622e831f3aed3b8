"""An attacker's test of a whole report's disclosure control.

The dataset is engineered to have tiny cells: the small synthetic dataset with one LA
cut to 3 parents (1 not started, 1 completed, 1 dropped out) and one intervention cut to
4 (1 not started, 1 completed, 2 dropped out). The final and the regional reports are
built from it, and the attacker then reads ONLY what is published: ``tables/*.csv`` and
the report's page. Each route below is one a real attacker would try; every one must
come back empty-handed. The attacker is written independently of the library: it
knows what the published columns mean, not how the library protects them.

A suppressed count is *recovered* when the published numbers pin it to one value, or
leave it no value of ``threshold`` or more (then it is known to be small).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from rpc_eval.cli import main
from rpc_eval.report.runner import run_plan

ROOT = Path(__file__).resolve().parents[1]
FINAL = ROOT / "analysis_plans" / "final_report_v1.yaml"
REGIONAL = ROOT / "analysis_plans" / "regional_evaluation_template_v1.yaml"
THRESHOLD = 10
TINY_LA = "LA007"
TINY_INTERVENTION = "ooo_me_you_baby_too"
C = "[c]"


def _keep(parents: pd.DataFrame, mask: pd.Series, plan: dict[str, int],
          responders: set[str]) -> set[str]:
    """Parent ids to keep among ``parents[mask]``: ``plan`` = exit reason -> how many,
    preferring parents who answered questionnaires (so outcome tables see them)."""
    sub = parents[mask].copy()
    sub["answered"] = sub["parent_id"].isin(responders)
    sub = sub.sort_values(["answered", "parent_id"], ascending=[False, True])
    keep: set[str] = set()
    for reason, k in plan.items():
        ids = sub.loc[sub["exit_reason"] == reason, "parent_id"].head(k).tolist()
        assert len(ids) == k, (reason, k)
        keep |= set(ids)
    return keep


#: The engineered dataset of the issue, and another the tests generate: seed, the LA
#: and intervention cut down (None: the smallest one that can be), and how many parents
#: of each exit reason each keeps.
DATASETS = {
    "engineered": (1, TINY_LA, TINY_INTERVENTION,
                   {"not_started": 1, "completed": 1, "dropped_out": 1},
                   {"not_started": 1, "completed": 1, "dropped_out": 2}),
    "generated": (3, None, None,
                  {"not_started": 2, "completed": 3, "dropped_out": 1},
                  {"not_started": 1, "completed": 4, "dropped_out": 3}),
}


def _smallest(parents: pd.DataFrame, column: str, plan: dict[str, int],
              exclude: pd.Series) -> str:
    counts = pd.crosstab(parents.loc[~exclude, column], parents.loc[~exclude, "exit_reason"])
    ok = [v for v in counts.index if all(counts.loc[v].get(r, 0) >= k
                                          for r, k in plan.items())]
    return min(ok, key=lambda v: (int(counts.loc[v].sum()), v))


def build_tiny_cell_dataset(out: Path, seed: int = 1, la: str | None = TINY_LA,
                            intervention: str | None = TINY_INTERVENTION,
                            la_plan: dict[str, int] | None = None,
                            int_plan: dict[str, int] | None = None) -> tuple[Path, str, str]:
    """The engineered dataset: ``rpc-eval synth --scale small --seed 1``, then one LA cut
    to 3 parents and one intervention to 4 (parents, attendance, responses). Returns the
    folder, the LA and the intervention."""
    la_plan = la_plan or DATASETS["engineered"][3]
    int_plan = int_plan or DATASETS["engineered"][4]
    assert main(["synth", "--scale", "small", "--seed", str(seed), "--out", str(out),
                 "--quiet"]) == 0
    parents = pd.read_csv(out / "parents.csv", dtype=str, keep_default_na=False)
    responses = pd.read_csv(out / "responses.csv", dtype=str, keep_default_na=False)
    ended = set(responses.loc[responses["wave"] == "end", "parent_id"])
    none = pd.Series(False, index=parents.index)
    la = la or _smallest(parents, "la_code", la_plan, none)
    in_la = parents["la_code"] == la
    intervention = intervention or _smallest(parents, "intervention", int_plan, in_la)
    in_int = (parents["intervention"] == intervention) & ~in_la
    keep_la = _keep(parents, in_la, la_plan, ended)
    keep_int = _keep(parents, in_int, int_plan, ended)
    drop = set(parents.loc[in_la | in_int, "parent_id"]) - keep_la - keep_int
    for name in ("parents", "attendance", "responses"):
        frame = pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False)
        frame = frame[~frame["parent_id"].isin(drop)]
        frame.to_csv(out / f"{name}.csv", index=False)
    return out, la, intervention


@pytest.fixture(scope="module", params=list(DATASETS))
def reports(request, tmp_path_factory) -> dict:
    """The final and regional reports built from a tiny-cell dataset (plan stem ->
    folder), and ``"_tiny"``: the LA and intervention that were cut down."""
    seed, la, intervention, la_plan, int_plan = DATASETS[request.param]
    data, la, intervention = build_tiny_cell_dataset(
        tmp_path_factory.mktemp("tiny") / "data", seed, la, intervention, la_plan, int_plan)
    out = tmp_path_factory.mktemp("reports")
    built: dict = {"_tiny": (la, intervention)}
    for plan in (FINAL, REGIONAL):
        res = run_plan(plan, data=data, out=out)
        assert res.status == "built"
        built[plan.stem] = out / plan.stem
    return built


# ---------------------------------------------------------------------------------------
# Reading the published files
# ---------------------------------------------------------------------------------------


def published(report: Path) -> dict[str, pd.DataFrame]:
    """Every published CSV table of a report, as text."""
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False)
            for p in sorted((report / "tables").glob("*.csv"))}


def num(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


class Unknowns:
    """The attacker's system: each published count is a number, each suppressed count an
    unknown (>= 1: zeros are published). The same quantity in two tables is one unknown.
    Relations are linear equations between them."""

    def __init__(self) -> None:
        self.index: dict[tuple, int] = {}
        self.where: dict[int, list[str]] = {}
        self.known: dict[int, float] = {}
        self.equations: list[dict[int, float]] = []
        self.marked: set[int] = set()
        self.limits: dict[int, tuple[float, float]] = {}

    def cell(self, key: tuple, value: str, where: str | None) -> int:
        """The unknown of quantity ``key``; ``where`` None for a quantity the attacker
        reasons about but that no table shows (a sum, the starters)."""
        i = self.index.setdefault(key, len(self.index))
        if where is not None:
            self.where.setdefault(i, []).append(where)
        v = num(value)
        if value == C:
            self.marked.add(i)
        elif v is not None:
            self.known[i] = v
        return i

    def within(self, i: int, low: float, high: float) -> None:
        """The attacker knows ``low <= x <= high`` (a rounded number)."""
        lo, hi = self.limits.get(i, (0.0, np.inf))
        self.limits[i] = (max(lo, low), min(hi, high))

    def equal(self, terms: dict[int, float]) -> None:
        """sum(coef * x) = 0."""
        self.equations.append(terms)

    def unknown(self) -> list[int]:
        return [i for i in self.index.values() if i not in self.known]

    def recovered(self) -> list[tuple[list[str], float, float]]:
        """Suppressed unknowns pinned to one value, or held below the threshold."""
        unknown = self.unknown()
        if not self.marked - set(self.known):
            return []
        col = {i: j for j, i in enumerate(unknown)}
        rows, rhs = [], []
        for eq in self.equations:
            row = np.zeros(len(unknown))
            b = 0.0
            for i, c in eq.items():
                if i in col:
                    row[col[i]] += c
                elif i in self.known:
                    b -= c * self.known[i]
                else:  # pragma: no cover - every cell is registered
                    raise AssertionError(i)
            if row.any():
                rows.append(row)
                rhs.append(b)
        if not rows:
            return []
        a, b = np.array(rows), np.array(rhs)
        # a suppressed count is not 0 (zeros are published); other unknowns are >= 0
        bounds = []
        for i in unknown:
            lo, hi = self.limits.get(i, (0.0, np.inf))
            lo = max(lo, 1.0) if i in self.marked else lo
            bounds.append((lo, None if not np.isfinite(hi) else hi))
        out = []
        for i in unknown:
            if i not in self.marked:
                continue
            j = col[i]
            c = np.zeros(len(unknown))
            c[j] = 1
            lo = linprog(c, A_eq=a, b_eq=b, bounds=bounds, method="highs")
            hi = linprog(-c, A_eq=a, b_eq=b, bounds=bounds, method="highs")
            if lo.status != 0:
                continue  # the attacker's model does not fit: no inference
            low = lo.fun
            high = -hi.fun if hi.status == 0 else np.inf
            if high < THRESHOLD - 1e-6 or high - low < 1e-6:
                out.append((self.where[i], low, high))
        return out


def _group_col(frame: pd.DataFrame) -> str:
    return frame.columns[0]


def add_funnel_and_parents(u: Unknowns, t: dict[str, pd.DataFrame]) -> None:
    """Routes 2 and 3: the funnel and the parents-by-intervention table count the same
    people; All rows add up the groups; started = completed + dropped out + ongoing."""
    stages = {"referred": "referred", "started": "started", "completed": "completed"}
    if "engagement_funnel" in t:
        f = t["engagement_funnel"]
        g = _group_col(f)
        for stage in [c[2:] for c in f.columns if c.startswith("n_")]:
            members = []
            total = None
            for r, row in f.iterrows():
                i = u.cell(("parents", g, row[g], stage), row[f"n_{stage}"],
                           f"engagement_funnel[{r}, n_{stage}]")
                if row[g] == "All":
                    total = i
                else:
                    members.append(i)
            if total is not None:
                u.equal({total: 1, **{m: -1 for m in members}})
    if "data_parents_by_intervention" in t:
        p = t["data_parents_by_intervention"]
        g = _group_col(p)
        ids = {}
        for r, row in p.iterrows():
            for col in ("referred", "started", "completed", "dropped_out", "ongoing"):
                stage = stages.get(col, col)
                ids[(r, col)] = u.cell(("parents", g, row[g], stage), row[col],
                                       f"data_parents_by_intervention[{r}, {col}]")
            u.equal({ids[(r, "started")]: 1, ids[(r, "completed")]: -1,
                     ids[(r, "dropped_out")]: -1, ids[(r, "ongoing")]: -1})
        for col in ("referred", "started", "completed", "dropped_out", "ongoing"):
            stage = stages.get(col, col)
            total = u.cell(("parents", g, "All", stage), "", None)
            u.equal({total: 1, **{ids[(r, col)]: -1 for r in range(len(p))}})


def add_km(u: Unknowns, t: dict[str, pd.DataFrame], group: str) -> None:
    """Route 1: in a Kaplan-Meier table n_risk falls by the events and censorings of each
    step; the first n_risk of a group is its number of starters. A rounded n_risk is
    known to within half the rounding base."""
    km = t.get("engagement_retention_km")
    if km is None:
        return
    exact = "n_risk" in km.columns
    for g, sub in km.groupby("group", sort=False):
        sub = sub.assign(_t=pd.to_numeric(sub["time"])).sort_values("_t")
        prev = None
        for r, row in sub.iterrows():
            if exact:
                risk = u.cell(("km", g, row["time"], "risk"), row["n_risk"],
                              f"engagement_retention_km[{r}, n_risk]")
            else:
                risk = u.cell(("km", g, row["time"], "risk"), "", None)
                v = num(row["n_risk_rounded"])
                if v is not None:
                    u.within(risk, max(v - THRESHOLD / 2, 0), v + THRESHOLD / 2)
            events = {}
            for col in ("n_event", "n_censor"):
                if col in km.columns:
                    events[col] = u.cell(("km", g, row["time"], col), row[col],
                                         f"engagement_retention_km[{r}, {col}]")
                else:  # not published: the attacker still knows it is a count
                    events[col] = u.cell(("km", g, row["time"], col), "", None)
            if prev is None:
                started = u.cell(("parents", group, g, "started"), "", None)
                u.equal({risk: 1, started: -1})
            else:
                u.equal({prev[0]: 1, prev[1]: -1, prev[2]: -1, risk: -1})
            prev = (risk, events["n_event"], events["n_censor"])


def linear_attack(report: Path) -> list:
    t = published(report)
    u = Unknowns()
    add_funnel_and_parents(u, t)
    group = _group_col(t["engagement_funnel"]) if "engagement_funnel" in t else "group"
    add_km(u, t, group)
    return u.recovered()


# ---------------------------------------------------------------------------------------
# The routes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("plan", [FINAL.stem, REGIONAL.stem])
def test_routes_1_to_3_linear_relations_recover_nothing(reports, plan):
    """KM running differences, the same count in two tables, and All rows differenced
    across tables: no suppressed count is pinned down or known to be below 10."""
    found = linear_attack(reports[plan])
    assert found == [], found[:10]


def _exact_limit(p: float, n: int, theta: float) -> float:
    from scipy.stats import binom

    rp = binom.ppf(p, n, theta)
    big = binom.cdf(rp, n, theta)
    small = binom.cdf(rp - 1, n, theta)
    alpha = (big - p) / (big - small) if big > small else 0.0
    return (rp - alpha) / n


@pytest.mark.parametrize("plan", [FINAL.stem, REGIONAL.stem])
def test_route_4_funnel_limits_do_not_invert(reports, plan):
    """A funnel-plot row whose n is suppressed publishes no limits (they invert to n)."""
    t = published(reports[plan])
    f = t.get("multilevel_completion_funnel")
    if f is None:
        pytest.skip("no funnel plot in this report")
    limit_cols = [c for c in f.columns if c.startswith(("lower_", "upper_"))]
    assert limit_cols
    rows = f[(f["n"] == C) | (f["events"] == C)]
    for _, row in rows.iterrows():
        for c in limit_cols + ["rate", "z"]:
            assert row.get(c, C) == C, (row.iloc[0], c)
    # and published rows: the attacker inverting limits finds the published n
    pub = f[f["n"] != C]
    if len(pub):
        r = pub.iloc[0]
        nn = int(float(r["n"]))
        rate_all = None
        for c in ("lower_95",):
            if num(r[c]) is not None and rate_all is None:
                rate_all = num(r[c])
        assert rate_all is None or nn >= THRESHOLD


@pytest.mark.parametrize("plan", [FINAL.stem, REGIONAL.stem])
def test_route_5_survival_and_greenwood_se_do_not_invert(reports, plan):
    """Where a step's counts are suppressed, survival and its Greenwood SE together
    would solve for them: the attacker tries every small (n at risk, events)."""
    t = published(reports[plan])
    km = t.get("engagement_retention_km")
    if km is None:
        pytest.skip("no KM table")
    found = []
    has_se = "std_err" in km.columns
    for g, sub in km.groupby("group", sort=False):
        sub = sub.assign(_t=pd.to_numeric(sub["time"])).sort_values("_t")
        s_prev, v_prev = 1.0, 0.0
        for _, row in sub.iterrows():
            s = num(row["survival"])
            se = num(row["std_err"]) if has_se else None
            counts = [row.get(c, "") for c in ("n_risk", "n_event")]
            if s is not None and C in counts:
                found.append((g, row["time"], "survival published on hidden counts"))
            if s is not None and se is not None and C in counts and s_prev > 0:
                ratio, dv = s / s_prev, ((se / s) ** 2 - v_prev if s > 0 else None)
                hits = [(n, d) for n in range(1, THRESHOLD) for d in range(1, n)
                        if abs(1 - d / n - ratio) < 1e-9 and dv is not None
                        and abs(d / (n * (n - d)) - dv) < 1e-7]
                if len(hits) == 1:
                    found.append((g, row["time"], hits[0]))
            if s is not None and not has_se and "n_risk_rounded" in row:
                # rounded survival, rounded n at risk: every (n, d) the attacker finds
                # consistent with the step; if all have 1-9 events, the step is small
                r = num(row["n_risk_rounded"])
                ratio_lo = (s - 0.005) / (s_prev + 0.005) if s_prev > 0 else 0
                ratio_hi = (s + 0.005) / max(s_prev - 0.005, 1e-9)
                fits = [(n, d) for n in range(max(1, int(r - THRESHOLD / 2)),
                                              int(r + THRESHOLD / 2) + 1)
                        for d in range(0, n + 1) if ratio_lo <= 1 - d / n <= ratio_hi]
                if r < THRESHOLD or (fits and all(1 <= d < THRESHOLD for _, d in fits)):
                    found.append((g, row["time"], "step of 1-9 dropouts", fits[:3]))
            if s is not None:
                s_prev = s
                v_prev = (se / s) ** 2 if se is not None and s > 0 else v_prev
    assert found == [], found[:5]
    cif = t.get("engagement_cumulative_incidence")
    if cif is not None:
        hidden = pd.Series(False, index=cif.index)
        for c in ("n_risk", "n_event"):
            if c in cif:
                hidden |= cif[c] == C
        assert cif.loc[hidden, "cif"].eq(C).all()
        if "n_risk_rounded" in cif:
            assert (pd.to_numeric(cif["n_risk_rounded"]) >= THRESHOLD).all()


def test_route_6_pooling_comparison_n_does_not_differ_by_a_few(reports):
    """The pooling comparison's n against the outcomes table's All row: a difference of
    1-9 parents (with a mean over them) would single those parents out."""
    t = published(reports[REGIONAL.stem])
    comp, change = t.get("pooling_one_vs_two_stage"), t.get("outcomes_change")
    if comp is None or change is None:
        pytest.skip("no pooling comparison")
    by = _group_col(change)
    checked = 0
    for _, row in comp.iterrows():
        n = num(row["n_parents"])
        hit = change[(change[by] == "All") & (change["instrument"] == row["instrument"])
                     & (change["scale"] == row["scale"])]
        for _, other in hit.iterrows():
            m = num(other["n_paired"])
            checked += 1
            if n is not None and m is not None:
                assert not 1 <= abs(n - m) <= THRESHOLD - 1, (row["method"], n, m)
            if n is not None and m is not None and n != m:
                assert row["estimate"] == C or abs(n - m) >= THRESHOLD
    assert checked


_MODEL_TABLES = ("multilevel_outcome_fixed_effects", "multilevel_completion_fixed_effects",
                 "multilevel_la_effects", "engagement_cox_dropout",
                 "engagement_finegray_completion", "engagement_logrank",
                 "engagement_gray_test")


@pytest.mark.parametrize("plan", [FINAL.stem, REGIONAL.stem])
def test_route_7_no_model_term_rests_on_a_few_people(reports, plan):
    """Coefficients and BLUPs of the tiny LA and the tiny intervention are not
    published: each rests on fewer than 10 people."""
    t = published(reports[plan])
    leaks = []
    for name in _MODEL_TABLES:
        frame = t.get(name)
        if frame is None:
            continue
        for _, row in frame.iterrows():
            label = " ".join(str(v) for v in row.tolist()[:2])
            if any(tiny in label for tiny in reports["_tiny"]):
                numbers = [v for v in row.tolist()[1:] if num(v) is not None
                           and not re.fullmatch(r"\d{4}", str(v))]
                if numbers:
                    leaks.append((name, label, numbers[:3]))
    assert leaks == [], leaks


@pytest.mark.parametrize("plan", [FINAL.stem, REGIONAL.stem])
def test_route_8_no_per_cell_log_is_published(reports, plan):
    """Which cells are primary (true value 1-9) stays with the analyst: no published file
    says so; the published summary only counts suppressed cells per table."""
    d = reports[plan]
    t = published(d)
    assert "disclosure_log" not in t
    for name, frame in t.items():
        assert not {"row", "column", "status"} <= set(frame.columns), name
        text = frame.to_csv()
        assert "primary" not in text.lower(), name
    summary = t["disclosure_summary"]
    assert "suppressed" in summary.columns
    assert not {"primary", "secondary"} & set(summary.columns)
    html = (d / "index.html").read_text(encoding="utf-8")
    assert "(primary)" not in html
    private = list(d.parent.glob(f"{d.name}*NOT_FOR_PUBLICATION*/disclosure_log.csv"))
    assert private, "the analyst's disclosure log is written beside the report"


@pytest.mark.parametrize("plan", [FINAL.stem, REGIONAL.stem])
def test_no_published_count_in_one_to_nine(reports, plan):
    t = published(reports[plan])
    counts = re.compile(r"^(n|n_.*|rows.*|referred|started|completed|dropped_out|ongoing|"
                        r"parents|practitioners|successes|events|n_parents)$")
    summary = t["disclosure_summary"]
    people = set(summary.loc[summary["units"] == "people", "table"])
    for name in people:
        frame = t[name]
        for col in (c for c in frame.columns if counts.match(c)):
            v = pd.to_numeric(frame[col], errors="coerce").dropna()
            assert not ((v >= 1) & (v <= THRESHOLD - 1)).any(), (name, col)


class _Tables(HTMLParser):
    """The tables of a page: caption, header and rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._in_caption and self.tables:
            self.tables[-1]["caption"] += data
        elif self._cell is not None:
            self._cell.append(data)


@pytest.mark.parametrize("plan", [FINAL.stem, REGIONAL.stem])
def test_the_page_shows_no_more_than_the_tables(reports, plan):
    """The page's tables show the final decisions: a cell suppressed in the CSV is
    suppressed on the page too (a table shown before a later table made the report
    suppress more is shown again). The page speaks in words: its headers are mapped back
    to the CSV columns by the published data dictionary, and numbers compared in the
    format the dictionary gives (percentages, Yes/No, names for codes)."""
    d = reports[plan]
    t = published(d)
    dictionary = t.pop("data_dictionary")
    parser = _Tables()
    parser.feed((d / "index.html").read_text(encoding="utf-8"))
    checked = 0

    def same(csv_value: str, shown: str, fmt: str) -> bool:
        if (csv_value == C) != (shown == C):
            return False  # a suppressed cell must be suppressed in both
        if csv_value == shown or shown == "<0.001":
            return True
        if fmt == "yesno":
            return {"True": "Yes", "1": "Yes", "1.0": "Yes", "False": "No", "0": "No",
                    "0.0": "No"}.get(csv_value) == shown
        a, b = num(csv_value), num(shown.replace(",", ""))
        if a is not None and b is not None:
            if fmt == "percent":
                return abs(round(a * 100, 1) - b) < 1e-9
            if fmt == "percent100":
                return abs(round(a, 1) - b) < 1e-9
            return abs(round(a, 3) - b) < 1e-9 or abs(float(f"{a:.3g}") - b) < 1e-12
        return fmt == "text"  # a code shown by its name

    for table in parser.tables:
        header, *rows = table["rows"]
        best, score = None, 0.0
        for name, frame in t.items():
            dd = dictionary[(dictionary["table"] == name) & (dictionary["header"] != "")]
            column = dict(zip(dd["header"], dd["column"], strict=True))
            fmt = dict(zip(dd["column"], dd["format"], strict=True))
            if not rows or len(rows) > len(frame) or not set(header) <= set(column):
                continue
            cells = [(frame[column[h]].iloc[i], shown, fmt[column[h]])
                     for i, row in enumerate(rows) for h, shown in zip(header, row, strict=True)]
            agree = sum(same(a, b, f) for a, b, f in cells) / max(len(cells), 1)
            if agree > score:
                best, score = name, agree
        if best is None:
            continue
        assert score == 1.0, (table["caption"], best, score)
        checked += sum(v == C for row in rows for v in row)
    assert checked > 20
