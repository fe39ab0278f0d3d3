"""The run report: one self-contained HTML page for the district office (outputs.md §3).

``render_report`` reads the warehouse (findings, finding_history, rule_runs, loads,
rejects, feedback_responses, waivers) and writes ``report.html``: headline numbers,
findings by township × category, per-rule counts with their trend, the rules that
did not run and why, rectification progress, the early warnings (监测预警: visits,
conclusions, 纳入 rate, overdue, the 未能定位 list), feed health and links to the
township workbooks and Data Docs.

The page opens without network: CSS is inline, charts are inline SVG, there is no
script. The markup is the Jinja2 template ``templates/report.html.j2``; the functions
here turn the warehouse into plain dicts and lists (chart coordinates included) for it.
The template environment escapes HTML (autoescape) and masks anything that looks like
an ID number (``530102********1234``) in every printed string, so neither depends on
remembering a call; the report only shows counts and rule/feed texts, never a person's row.
A missing table (e.g. no feedback yet) leaves its section with a note, not an error.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import jinja2
from markupsafe import Markup

from checks.engine import is_stale, max_age_days
from checks.expectations import STORE_DIR, load_validations
from checks.rules import ALL_RULES, RULES_BY_CODE, WARNING_RULE_CODES
from checks.rules.base import CATEGORIES, SEVERITY_ZH
from checks.rules.cross_county import CROSS_COUNTY_RULES
from checks.thresholds import FeedQuality, load_thresholds
from core.config import now as office_now
from core.idcard import mask_in_text
from department_feeds import DEPARTMENTS, SPECS
from rectification.form import UNPLACED_TOWNSHIP, WARNING_FORM
from rectification.status import FOUND_STATUS_ZH, LATEST_RESPONSES_SQL

log = logging.getLogger("bidui.report")

CATEGORY_COLOURS = dict(
    zip(CATEGORIES, ("#d1495b", "#edae49", "#8f2d56", "#00798c", "#3d6fb6", "#7a8b99"), strict=True)
)
"""One colour per category, in the catalogue's order (a new category needs one here)."""
OTHER_COLOUR = "#a0a8b0"
STATUS_ZH: dict[str, str] = dict(FOUND_STATUS_ZH)
"""Statuses of tonight's findings with their labels (rectification.status owns them)."""
STATUS_COLOURS = {
    "new": "#d1495b",
    "open": "#edae49",
    "reopened": "#8f2d56",
    "included": "#1e8449",
    "waived": "#7a8b99",
}
"""A status without a colour here (a newer one) is drawn in OTHER_COLOUR."""
INCLUDED_STATUS = "included"
INCLUDED_ZH = "已纳入监测"
"""核实结论 that counts as 纳入 (with status ``included``) in the warnings section."""
NOT_ELIGIBLE_ZH = "不符合纳入条件"
PENDING_INCLUSION_ZH = "符合条件待纳入"
HISTORY_RUNS = 14
"""How many runs the trend charts and sparklines show."""
DATA_DOCS_LABEL = "数据质量报告 (Data Docs)"

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class ReportSummary:
    """The report's headline numbers (scalars: the lead puts them in asset metadata)."""

    path: str
    run_date: str
    previous_run: str
    """Date of the run before this one (``''`` on the first run)."""
    findings: int
    """Rows of ``findings`` = rows of problems.csv (waived included, as there)."""
    new: int
    open: int
    reopened: int
    waived: int
    rectified_since_last_run: int
    """Findings of rules that ran which disappeared since the previous run."""
    overdue: int
    """Findings (not waived) still found after their 整改时限; a warning only while its
    latest 核实结论 is missing or 符合条件待纳入 (issue-12 decision 6)."""
    townships: int
    rules_total: int
    rules_ran: int
    rules_not_run: int
    feeds_received: int
    rows_rejected: int
    not_run_rules: tuple[str, ...] = field(default=())
    warnings: int = 0
    """Tonight's early-warning findings (监测预警核实清单), waived left out."""
    warnings_answered: int = 0
    warnings_included: int = 0
    warnings_overdue: int = 0
    warnings_unplaced: int = 0
    """Of ``warnings``: on the county-level 未能定位 list."""


# --------------------------------------------------------------------------- helpers


def mask_text(value: Any) -> str:
    """Text with every ID-like run masked (:func:`core.idcard.mask_in_text`)."""
    if value is None:
        return ""
    return mask_in_text(str(value))


def _n(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _pct(part: float, whole: float) -> str:
    if not whole:
        return "–"
    share = 100 * part / whole
    return "<0.1%" if 0 < share < 0.05 else f"{share:.1f}%"


def _has(con: duckdb.DuckDBPyConnection, table: str, *columns: str) -> bool:
    cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        ).fetchall()
    }
    return bool(cols) and all(c in cols for c in columns)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _latest_responses(con: duckdb.DuckDBPyConnection) -> str:
    """Each problem's latest response (``rectification.status``), or an empty relation
    with the same columns on a warehouse from before feedback (or before 核实结论)."""
    if _has(
        con,
        "feedback_responses",
        "problem_id",
        "rectification",
        "note",
        "conclusion",
        "loaded_at",
        "verified_on",
        "source_file",
        "row_number",
    ):
        return LATEST_RESPONSES_SQL
    if _has(con, "feedback_responses", "problem_id", "rectification", "loaded_at", "verified_on"):
        return f"SELECT *, NULL::VARCHAR AS conclusion FROM ({LATEST_RESPONSES_SQL})"
    return (
        "SELECT NULL::VARCHAR AS problem_id, NULL::VARCHAR AS rectification, "
        "NULL::VARCHAR AS note, NULL::VARCHAR AS conclusion WHERE false"
    )


# Still found after its 整改时限 / 核实时限 (f = findings, r = latest response; $d run
# date, $warn the warning-rule codes). A warning is overdue only while nobody has
# concluded, or the conclusion is 符合条件待纳入 (issue-12 decision 6).
_OVERDUE = f"""(f.status <> 'waived' AND f.due_date < $d
  AND (NOT list_contains($warn::VARCHAR[], f.rule_code)
       OR nullif(trim(r.conclusion), '') IS NULL
       OR r.conclusion = '{PENDING_INCLUSION_ZH}'))"""


def _href(target: str) -> str:
    """A relative link, percent-encoded (Chinese folder names, spaces, '#')."""
    if _SCHEME.match(target) or target.startswith(("/", "\\", "//")):
        raise ValueError(f"report links must be paths relative to the report, got {target!r}")
    return html.escape(quote(target.replace("\\", "/"), safe="/._-~"), quote=True)


# --------------------------------------------------------------------------- data


@dataclass
class _Data:
    run_date: dt.date
    previous_run: dt.date | None = None
    county: str = ""
    status: dict[str, int] = field(default_factory=dict)
    findings_run_date: dt.date | None = None
    findings_table: bool = False
    by_township: dict[str, dict[str, int]] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)
    run_dates: list[dt.date] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    rectified_since: int = 0
    overdue: int = 0
    progress: list[dict[str, Any]] = field(default_factory=list)
    feedback_table: bool = False
    feeds: list[dict[str, Any]] = field(default_factory=list)
    loads_table: bool = False
    unread: list[dict[str, Any]] = field(default_factory=list)
    unknown_towns: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """One row per (预警来源部门, 风险类型) of the warning rules (:func:`_collect_warnings`)."""
    warnings_shown: bool = False
    warnings_unplaced: int = 0


def _collect(con: duckdb.DuckDBPyConnection, run_date: dt.date, history_runs: int) -> _Data:
    d = _Data(run_date=run_date)
    p = {"d": run_date}
    has_runs = _has(con, "rule_runs", "run_date", "rule_code", "ran", "reason", "finding_count")
    if has_runs:
        d.previous_run = con.execute(
            "SELECT max(run_date) FROM rule_runs WHERE run_date < $d", p
        ).fetchone()[0]
    since = d.previous_run or dt.date.min

    d.findings_table = _has(con, "findings", "status", "township", "category", "due_date")
    if d.findings_table:
        d.status = dict(
            con.execute("SELECT status, count(*) FROM findings GROUP BY ALL").fetchall()
        )
        d.findings_run_date = con.execute("SELECT max(run_date) FROM findings").fetchone()[0]
        d.county = con.execute(
            "SELECT coalesce(string_agg(DISTINCT county, '、' ORDER BY county), '') FROM findings"
        ).fetchone()[0]
        for town, cat, n in con.execute(
            "SELECT coalesce(township, '（未填乡镇）'), category, count(*) FROM findings "
            "WHERE status <> 'waived' GROUP BY ALL"
        ).fetchall():
            d.by_township.setdefault(town, {})[cat] = n
        d.overdue = con.execute(
            f"SELECT count(*) FROM findings f LEFT JOIN ({_latest_responses(con)}) r "
            f"USING (problem_id) WHERE {_OVERDUE}",
            {**p, "warn": sorted(WARNING_RULE_CODES)},
        ).fetchone()[0]
    if not d.county and _has(con, "register", "county"):
        d.county = con.execute(
            "SELECT coalesce(string_agg(DISTINCT county, '、' ORDER BY county), '') FROM register"
        ).fetchone()[0]

    has_history = _has(con, "finding_history", "resolved_on", "status", "township")
    if has_history:
        d.rectified_since = con.execute(
            "SELECT count(*) FROM finding_history WHERE status = 'resolved' "
            "AND resolved_on > $s AND resolved_on <= $d",
            {"s": since, "d": run_date},
        ).fetchone()[0]

    _collect_rules(con, d, has_runs, history_runs)
    _collect_progress(con, d, has_history, since)
    _collect_warnings(con, d)
    _collect_feeds(con, d)
    if _has(con, "register", "township", "year") and _has(con, "villages", "township"):
        # A township the village statistics never name (塘嘴鄉 for 塘嘴乡, a typo): its
        # rows make a list of their own, for a township that may not exist.
        d.unknown_towns = _rows(
            con,
            """
            SELECT township, count(*) AS n FROM register
            WHERE year = (SELECT max(year) FROM register) AND township IS NOT NULL
              AND EXISTS (SELECT 1 FROM villages WHERE township IS NOT NULL)
              AND township NOT IN (SELECT township FROM villages WHERE township IS NOT NULL)
            GROUP BY ALL ORDER BY township
            """,
        )
    if _has(con, "inbox_unread", "path", "reason_zh"):
        d.unread = _rows(con, "SELECT path, reason_zh FROM inbox_unread ORDER BY path")
    if d.loads_table and _has(con, "loads", "error"):
        d.unread += _rows(
            con,
            "SELECT source_file AS path, '文件“' || source_file || '”：' || error AS reason_zh "
            "FROM loads WHERE status = 'superseded' ORDER BY source_file",
        )
    return d


CROSS_COUNTY_BY_CODE = {r.code: r for r in CROSS_COUNTY_RULES}


def _collect_rules(
    con: duckdb.DuckDBPyConnection, d: _Data, has_runs: bool, history_runs: int
) -> None:
    catalogue = [
        {
            "code": r.code,
            "name_zh": r.name_zh,
            "category": r.category,
            "severity": r.severity,
            "department": r.department,
        }
        for r in ALL_RULES
    ]
    by_code = {r["code"]: r for r in catalogue}
    runs: dict[str, dict[dt.date, tuple[bool, str | None, int | None]]] = {}
    if has_runs:
        d.run_dates = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT run_date FROM rule_runs WHERE run_date <= $d "
                "ORDER BY run_date DESC LIMIT $k",
                {"d": d.run_date, "k": history_runs},
            ).fetchall()
        ][::-1]
        for date_, code, ran, reason, count in con.execute(
            "SELECT run_date, rule_code, ran, reason, finding_count FROM rule_runs "
            "WHERE run_date >= $first AND run_date <= $d",
            {"first": d.run_dates[0] if d.run_dates else d.run_date, "d": d.run_date},
        ).fetchall():
            runs.setdefault(code, {})[date_] = (bool(ran), reason, count)
            if code not in by_code:
                # A rule outside the county catalogue: a cross-county rule of a
                # prefecture run (listed only when it ran), else an unknown code.
                x = CROSS_COUNTY_BY_CODE.get(code)
                by_code[code] = {
                    "code": code,
                    "name_zh": x.name_zh if x else code,
                    "category": x.category if x else "",
                    "severity": x.severity if x else "",
                    "department": x.department if x else "",
                }
                catalogue.append(by_code[code])
    this_run: dict[str, int] = {}
    if d.findings_table:
        this_run = dict(
            con.execute("SELECT rule_code, count(*) FROM findings GROUP BY ALL").fetchall()
        )
    for rule in catalogue:
        code = rule["code"]
        hist = runs.get(code, {})
        now = hist.get(d.run_date)
        prev = hist.get(d.previous_run) if d.previous_run else None
        if now is None:
            state, reason = ("unknown", "本次运行没有该规则的记录") if has_runs else ("unknown", "")
        elif now[0]:
            # A rule that ran may carry a note (the year's income line not configured).
            state, reason = "ran", None
        else:
            state, reason = "not_run", now[1] or "原因未记录"
        d.rules.append(
            {
                **rule,
                "state": state,
                "reason": reason,
                "note": now[1] if state == "ran" else None,
                "count": this_run.get(code, 0) if state == "ran" else None,
                "prev": prev[2] if prev and prev[0] else None,
                "series": [(hist[x][2] if x in hist and hist[x][0] else None) for x in d.run_dates],
            }
        )
    if has_runs and d.run_dates:
        totals = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT run_date, sum(finding_count) FILTER (WHERE ran), "
                "count(*) FILTER (WHERE NOT ran) FROM rule_runs "
                "WHERE run_date >= $first AND run_date <= $d GROUP BY ALL",
                {"first": d.run_dates[0], "d": d.run_date},
            ).fetchall()
        }
        firsts: dict[dt.date, int] = {}
        resolved: dict[dt.date, int] = {}
        if _has(con, "finding_history", "first_seen", "resolved_on"):
            firsts = dict(
                con.execute(
                    "SELECT first_seen, count(*) FROM finding_history GROUP BY ALL"
                ).fetchall()
            )
            resolved = dict(
                con.execute(
                    "SELECT resolved_on, count(*) FROM finding_history "
                    "WHERE resolved_on IS NOT NULL AND status = 'resolved' GROUP BY ALL"
                ).fetchall()
            )
        for x in d.run_dates:
            total, not_run = totals.get(x, (None, 0))
            d.trend.append(
                {
                    "date": x,
                    "total": int(total or 0),
                    "not_run": int(not_run or 0),
                    "new": firsts.get(x, 0),
                    "resolved": resolved.get(x, 0),
                }
            )


def _collect_progress(
    con: duckdb.DuckDBPyConnection, d: _Data, has_history: bool, since: dt.date
) -> None:
    towns: dict[str, dict[str, Any]] = {}

    def row(town: str) -> dict[str, Any]:
        return towns.setdefault(
            town or "（未填乡镇）",
            {
                "township": town or "（未填乡镇）",
                "open": 0,
                "answered": 0,
                "reported": 0,
                "in_progress": 0,
                "overdue": 0,
                "overdue_unanswered": 0,
                "waived": 0,
                "rectified_since": 0,
                "rectified_total": 0,
            },
        )

    d.feedback_table = _has(
        con, "feedback_responses", "problem_id", "rectification", "loaded_at", "verified_on"
    )
    if d.findings_table:
        latest = _latest_responses(con)
        for r in _rows(
            con,
            f"""
            SELECT f.township,
                   count(*) FILTER (WHERE f.status <> 'waived') AS open,
                   count(r.problem_id) FILTER (WHERE f.status <> 'waived') AS answered,
                   count(*) FILTER (WHERE f.status <> 'waived'
                                      AND r.rectification = '已整改') AS reported,
                   count(*) FILTER (WHERE f.status <> 'waived'
                                      AND r.rectification = '整改中') AS in_progress,
                   count(*) FILTER (WHERE {_OVERDUE}) AS overdue,
                   count(*) FILTER (WHERE {_OVERDUE}
                                      AND r.problem_id IS NULL) AS overdue_unanswered,
                   count(*) FILTER (WHERE f.status = 'waived') AS waived
            FROM findings f LEFT JOIN ({latest}) r USING (problem_id)
            GROUP BY ALL
            """,
            {"d": d.run_date, "warn": sorted(WARNING_RULE_CODES)},
        ):
            row(r.pop("township")).update(r)
    if has_history:
        for town, since_n, total in con.execute(
            "SELECT township, count(*) FILTER (WHERE resolved_on > $s AND resolved_on <= $d), "
            "count(*) FILTER (WHERE resolved_on <= $d) FROM finding_history "
            "WHERE status = 'resolved' GROUP BY ALL",
            {"s": since, "d": d.run_date},
        ).fetchall():
            t = row(town)
            t["rectified_since"], t["rectified_total"] = since_n, total
    d.progress = sorted(towns.values(), key=lambda t: (-t["open"], t["township"]))


WARNING_KEYS = (
    "warnings",
    "answered",
    "included",
    "pending_decision",
    "overdue",
    "unplaced",
)
"""Warnings-table count columns in order (the total row sums them)."""


def _collect_warnings(con: duckdb.DuckDBPyConnection, d: _Data) -> None:
    """The 监测预警 section: tonight's findings of the warning rules (waived left out)
    by 预警来源部门 and 风险类型, with their latest 核实结论.

    Shown when a warning rule found something or ran tonight. A warning rule that
    is not in the catalogue any more still counts, under its code.
    """
    codes = sorted(WARNING_RULE_CODES)
    found: list[dict[str, Any]] = []
    if d.findings_table:
        found = _rows(
            con,
            f"""
            SELECT f.department, f.rule_code,
                   count(*) AS warnings,
                   count(*) FILTER (WHERE nullif(trim(r.conclusion), '') IS NOT NULL)
                       AS answered,
                   count(*) FILTER (WHERE f.status = '{INCLUDED_STATUS}'
                                       OR r.conclusion = '{INCLUDED_ZH}') AS included,
                   count(*) FILTER (WHERE r.conclusion = '{NOT_ELIGIBLE_ZH}'
                                      AND coalesce(trim(r.note), '') <> '')
                       AS pending_decision,
                   count(*) FILTER (WHERE {_OVERDUE}) AS overdue,
                   count(*) FILTER (WHERE f.township = $unplaced) AS unplaced
            FROM findings f LEFT JOIN ({_latest_responses(con)}) r USING (problem_id)
            WHERE f.status <> 'waived' AND list_contains($warn::VARCHAR[], f.rule_code)
            GROUP BY ALL
            """,
            {"d": d.run_date, "warn": codes, "unplaced": UNPLACED_TOWNSHIP},
        )
    states = {r["code"]: r["state"] for r in d.rules}
    reasons = {r["code"]: r["reason"] for r in d.rules}
    ran = any(states.get(c) == "ran" for c in codes)
    if not found and not ran:
        return
    d.warnings_shown = True

    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def group(department: str, risk: str) -> dict[str, Any]:
        return groups.setdefault(
            (department, risk),
            {
                "department": department,
                "risk_type": risk,
                "rules": [],
                "not_run": [],
                **dict.fromkeys(WARNING_KEYS, 0),
            },
        )

    for code in codes:
        rule = RULES_BY_CODE[code]
        g = group(rule.department, rule.risk_type_zh or "")
        g["rules"].append(rule.name_zh)
        if states.get(code) == "not_run":
            # Why, not the rule's name again (it is in the cell already).
            why = reasons.get(code) or "原因未记录"
            if why not in g["not_run"]:
                g["not_run"].append(why)
    for r in found:
        rule = RULES_BY_CODE.get(r["rule_code"])
        risk = (rule.risk_type_zh if rule else None) or "（未知）"
        g = group(r["department"] or (rule.department if rule else "（未知）"), risk)
        if rule is None and r["rule_code"] not in g["rules"]:
            g["rules"].append(r["rule_code"])
        for k in WARNING_KEYS:
            g[k] += r[k]
    order = {dept: i for i, dept in enumerate(DEPARTMENTS)}
    d.warnings = sorted(
        groups.values(),
        key=lambda g: (order.get(g["department"], len(order)), g["department"], g["risk_type"]),
    )
    d.warnings_unplaced = sum(g["unplaced"] for g in d.warnings)


def _collect_feeds(con: duckdb.DuckDBPyConnection, d: _Data) -> None:
    feeds = [(s.name, s.title_zh, s.department_zh) for s in SPECS.values()]
    d.loads_table = _has(
        con,
        "loads",
        "feed",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "status",
        "modified_at",
        "loaded_at",
    )
    loads: dict[str, dict[str, Any]] = {}
    if d.loads_table:
        for r in _rows(
            con,
            """
            SELECT feed, count(*) AS files,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   coalesce(sum(rows_read), 0) AS rows_read,
                   coalesce(sum(rows_loaded), 0) AS rows_loaded,
                   coalesce(sum(rows_rejected), 0) AS rows_rejected,
                   max(modified_at) AS newest, max(loaded_at) AS loaded_at,
                   string_agg(DISTINCT error, '；') FILTER (WHERE status = 'failed') AS errors
            FROM loads GROUP BY feed
            """,
        ):
            loads[r["feed"]] = r
    reasons: dict[str, list[tuple[str, int]]] = {}
    if _has(con, "rejects", "feed", "reason_zh"):
        for feed, reason, n in con.execute(
            """
            SELECT feed, reason, n FROM (
                SELECT *, row_number() OVER (PARTITION BY feed ORDER BY n DESC, reason) AS rk
                FROM (SELECT feed, coalesce(reason_zh, '（未说明）') AS reason, count(*) AS n
                      FROM rejects GROUP BY ALL)
            ) WHERE rk <= 3 ORDER BY feed, n DESC
            """
        ).fetchall():
            reasons.setdefault(feed, []).append((reason, n))
    known = {f for f, _, _ in feeds}
    feeds += [(f, f, "") for f in sorted(loads) if f not in known]
    for name, title, dept in feeds:
        r = loads.get(name, {})
        newest = r.get("newest")
        age = (d.run_date - newest.date()).days if isinstance(newest, dt.datetime) else None
        d.feeds.append(
            {
                "feed": name,
                "title": title,
                "department": dept,
                "files": r.get("files", 0),
                "failed": r.get("failed", 0),
                "rows_read": r.get("rows_read", 0),
                "rows_loaded": r.get("rows_loaded", 0),
                "rows_rejected": r.get("rows_rejected", 0),
                "newest": newest,
                "age_days": age,
                "loaded_at": r.get("loaded_at"),
                "errors": r.get("errors"),
                "reasons": reasons.get(name, []),
            }
        )


# --------------------------------------------------------------------------- SVG chart data
# Coordinates are computed here and handed to the template pre-formatted, so the
# markup lives in templates/report.html.j2 and the numbers stay testable.


def _f1(v: float) -> str:
    return f"{v:.1f}"


def _status_labels(status: Mapping[str, int]) -> dict[str, str]:
    """Known statuses in their order, then any other status found (labelled by its code)."""
    labels = dict(STATUS_ZH)
    labels.update({k: str(k) for k in sorted(status, key=str) if k not in labels})
    return labels


def _status_colour(key: str) -> str:
    return STATUS_COLOURS.get(key, OTHER_COLOUR)


def _status_bar(status: Mapping[str, int], width: int = 640) -> dict[str, Any] | None:
    labels = _status_labels(status)
    total = sum(status.get(k, 0) for k in labels)
    if not total:
        return None
    x = 0.0
    parts = []
    for key, label in labels.items():
        n = status.get(key, 0)
        if not n:
            continue
        w = width * n / total
        parts.append(
            {"x": _f1(x), "w": _f1(w), "colour": _status_colour(key), "label": label, "n": n}
        )
        x += w
    return {"width": width, "parts": parts}


def _category_order(cats: set[str] | Mapping[str, Any]) -> list[str]:
    """Known categories in their fixed order, then any other ones alphabetically."""
    return [c for c in CATEGORIES if c in cats] + sorted(set(cats) - set(CATEGORIES))


def _township_bars(by_township: Mapping[str, Mapping[str, int]]) -> dict[str, Any] | None:
    """Horizontal stacked bars: one per township, segments by category."""
    if not by_township:
        return None
    towns = sorted(by_township, key=lambda t: (-sum(by_township[t].values()), t))
    vmax = max(sum(v.values()) for v in by_township.values()) or 1
    label_w, bar_w, row_h = 110, 800, 26
    rows = []
    for i, town in enumerate(towns):
        y = 4 + i * row_h
        x = float(label_w)
        segments = []
        cats = [c for c in CATEGORIES if by_township[town].get(c)]
        cats += sorted(c for c in by_township[town] if c not in CATEGORIES)
        for cat in cats:
            n = by_township[town][cat]
            w = bar_w * n / vmax
            colour = CATEGORY_COLOURS.get(cat, OTHER_COLOUR)
            segments.append(
                {"x": _f1(x), "w": _f1(max(w, 0.5)), "colour": colour, "category": cat, "n": n}
            )
            x += w
        total = sum(by_township[town].values())
        rows.append(
            {
                "town": town,
                "ty": y + 16,
                "ry": y + 3,
                "segments": segments,
                "vx": _f1(x + 6),
                "total": total,
            }
        )
    return {
        "view_w": label_w + bar_w + 60,
        "height": row_h * len(towns) + 8,
        "text_x": label_w - 8,
        "bar_h": row_h - 8,
        "rows": rows,
    }


def _category_chart(by_township: Mapping[str, Mapping[str, int]]) -> dict[str, Any] | None:
    totals: dict[str, int] = {}
    for v in by_township.values():
        for c, n in v.items():
            totals[c] = totals.get(c, 0) + n
    if not totals:
        return None
    cats = _category_order(totals)
    vmax = max(totals.values())
    label_w, bar_w, row_h = 80, 440, 28
    rows = []
    for i, c in enumerate(cats):
        y = 4 + i * row_h
        w = bar_w * totals[c] / vmax
        rows.append(
            {
                "category": c,
                "n": totals[c],
                "ty": y + 17,
                "ry": y + 4,
                "w": _f1(max(w, 0.5)),
                "vx": _f1(label_w + w + 6),
                "colour": CATEGORY_COLOURS.get(c, OTHER_COLOUR),
            }
        )
    return {
        "view_w": label_w + bar_w + 60,
        "view_h": row_h * len(cats) + 8,
        "label_w": label_w,
        "text_x": label_w - 8,
        "bar_h": row_h - 9,
        "rows": rows,
    }


def _trend_chart(trend: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Columns: findings per run; a line for new findings; dots for rectified."""
    if not trend:
        return None
    n = len(trend)
    w, h, left, bottom, top = 640, 200, 36, 28, 16
    step = (w - left - 8) / n
    vmax = max(max(t["total"], t["new"], t["resolved"]) for t in trend) or 1

    def y(v: float) -> float:
        return top + (h - top - bottom) * (1 - v / vmax)

    grid = [
        {"y": _f1(y(vmax * frac)), "ty": _f1(y(vmax * frac) + 4), "label": round(vmax * frac)}
        for frac in (0, 0.5, 1)
    ]
    columns, pts_new, dots = [], [], []
    for i, t in enumerate(trend):
        cx = left + step * (i + 0.5)
        bw = min(step * 0.6, 36)
        tip = (
            f"{t['date'].isoformat()}：问题 {t['total']:,}，新发现 {t['new']:,}，"
            f"已整改 {t['resolved']:,}" + (f"，{t['not_run']} 条规则未运行" if t["not_run"] else "")
        )
        labelled = n <= 16 or i % 2 == n % 2 - 1 or i == n - 1
        columns.append(
            {
                "x": _f1(cx - bw / 2),
                "y": _f1(y(t["total"])),
                "w": _f1(bw),
                "h": _f1(h - bottom - y(t["total"])),
                "fill": "#9fb8d9" if t["not_run"] else "#3d6fb6",
                "tip": tip,
                "cx": _f1(cx),
                "label": t["date"].strftime("%m-%d") if labelled else None,
            }
        )
        pts_new.append(f"{cx:.1f},{y(t['new']):.1f}")
        dots.append({"x": _f1(cx), "y": _f1(y(t["resolved"]))})
    return {
        "w": w,
        "h": h,
        "left": left,
        "right": w - 8,
        "label_y": h - bottom + 16,
        "grid": grid,
        "columns": columns,
        "line_new": " ".join(pts_new) if n > 1 else None,
        "dots": dots,
        "legend": [
            ("问题数（柱）", "#3d6fb6"),
            ("有规则未运行的那次", "#9fb8d9"),
            ("新发现（线）", "#d1495b"),
            ("已整改（点）", "#1e8449"),
        ],
    }


def _sparkline(
    series: Sequence[int | None], width: int = 120, height: int = 26
) -> dict[str, Any] | None:
    """Finding counts over the last runs; a gap where the rule did not run."""
    vals = [v for v in series if v is not None]
    if not series or not vals:
        return None
    vmax = max(vals) or 1
    n = len(series)
    step = (width - 6) / max(n - 1, 1)

    def xy(i: int, v: int) -> tuple[str, str]:
        return _f1(3 + i * step), _f1(height - 3 - (height - 6) * v / vmax)

    runs: list[list[tuple[str, str]]] = [[]]
    for i, v in enumerate(series):
        if v is None:
            runs.append([])
        else:
            runs[-1].append(xy(i, v))
    segments = [
        {"points": " ".join(f"{x},{y}" for x, y in run)}
        if len(run) > 1
        else {"points": None, "x": run[0][0], "y": run[0][1]}
        for run in runs
        if run
    ]
    gaps = [
        {"x": _f1(3 + i * step), "y1": height - 5, "y2": height - 1}
        for i, v in enumerate(series)
        if v is None
    ]
    last = None
    if series[-1] is not None:
        x, y = xy(n - 1, series[-1])
        last = {"x": x, "y": y}
    return {
        "width": width,
        "height": height,
        "n": n,
        "segments": segments,
        "gaps": gaps,
        "last": last,
    }


def _progress_bar(done: int, rest: int) -> dict[str, Any]:
    total = done + rest
    share = 0 if not total else 100 * done / total
    return {"done": done, "total": total, "share": _f1(share), "pct": _pct(done, total)}


def _heat(n: int, vmax: int, colour: str) -> dict[str, Any]:
    if not n:
        return {"n": 0, "style": None}
    alpha = 0.12 + 0.55 * n / (vmax or 1)
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return {"n": n, "style": f"rgba({r},{g},{b},{alpha:.2f})"}


# --------------------------------------------------------------------------- page style


CSS = """
:root{--ink:#1f2933;--muted:#6b7785;--line:#e3e7ec;--bg:#f4f6f9;--card:#fff;--blue:#0b3d91;
--accent:#3d6fb6;--warn:#b7791f;--bad:#c0392b;--good:#1e8449}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.55 "PingFang SC","Microsoft YaHei",
"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",system-ui,sans-serif}
header{background:linear-gradient(120deg,#0b3d91,#1d5fb8);color:#fff;padding:28px 40px 22px}
header h1{margin:0;font-size:26px;letter-spacing:1px}
header .sub{opacity:.85;margin-top:6px}
main{max-width:1180px;margin:0 auto;padding:20px 28px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;
margin:18px 0;box-shadow:0 1px 2px rgba(16,24,40,.04)}
h2{font-size:18px;margin:0 0 12px;padding-left:10px;border-left:4px solid var(--accent)}
h3{font-size:15px;margin:14px 0 8px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(124px,1fr));gap:12px;margin-top:-34px}
.kpi{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 14px;
box-shadow:0 2px 6px rgba(16,24,40,.08)}
.kpi .label{color:var(--muted);font-size:13px}
.kpi .value{font-size:28px;font-weight:700;line-height:1.2;font-variant-numeric:tabular-nums}
.kpi .hint{color:var(--muted);font-size:12px}
.kpi.bad .value{color:var(--bad)}.kpi.warn .value{color:var(--warn)}.kpi.good .value{color:var(--good)}
.alert{border-radius:10px;padding:14px 18px;margin:18px 0;border:1px solid #f0c36d;background:#fff8e6}
.alert.bad{border-color:#e6a0a0;background:#fdf0f0}
.alert h2{border:0;padding:0;margin:0 0 6px;color:#8a4b00}
.alert.bad h2{color:var(--bad)}
.alert ul{margin:4px 0 0;padding-left:20px}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:7px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
th{background:#f0f3f7;font-weight:600;color:#394452;white-space:nowrap;font-size:13px}
td.num,th.num{text-align:right}
tr.total td{font-weight:700;background:#fafbfc}
tbody tr:hover td{background:#f7f9fc}
.muted{color:var(--muted)}.nowrap{white-space:nowrap}
.tag{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;white-space:nowrap}
.tag.ok{background:#e6f4ea;color:var(--good)}.tag.bad{background:#fdecea;color:var(--bad)}
.tag.warn{background:#fff4e0;color:#8a5a00}.tag.grey{background:#eef0f3;color:#56606b}
.sev-high{color:var(--bad);font-weight:600}.sev-medium{color:#8a5a00}.sev-low{color:var(--muted)}
.up{color:var(--bad)}.down{color:var(--good)}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:6px 0 10px;font-size:13px;color:#394452}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}
@media(max-width:900px){.grid2{grid-template-columns:1fr}}
svg.chart text{font-size:12px;fill:#394452}svg.chart .axis{fill:#8692a0;font-size:11px}
svg.chart .val{font-weight:600}svg.chart .grid{stroke:#e3e7ec}
svg.chart .line-new{fill:none;stroke:#d1495b;stroke-width:2}
svg.chart .dot-res{fill:#1e8449}
svg.spark polyline{fill:none;stroke:#3d6fb6;stroke-width:1.6}
svg.spark .last{fill:#0b3d91}svg.spark .lone{fill:#3d6fb6}svg.spark .gap{stroke:#d1495b}
svg.statusbar{display:block;border-radius:4px;margin:14px 0 4px}
.heat{display:block;text-align:right;border-radius:4px;padding:2px 6px}
.pbar{display:inline-block;width:110px;height:9px;background:#e9edf2;border-radius:5px;
overflow:hidden;vertical-align:middle}
.pbar span{display:block;height:100%;background:#1e8449}
.pnum{margin-left:6px;font-size:12px;color:#394452}
.links{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:8px}
.links a{display:block;padding:8px 12px;border:1px solid var(--line);border-radius:8px;
text-decoration:none;color:#0b3d91;background:#fafcff}
.links a:hover{border-color:#3d6fb6}
a{color:#0b5cad}
.note{color:var(--muted);font-size:12.5px;margin:8px 0 0}
footer{color:var(--muted);font-size:12px;text-align:center;padding:10px 0 30px}
@media print{header{background:#0b3d91;-webkit-print-color-adjust:exact;print-color-adjust:exact}
section{break-inside:avoid}}
"""


# --------------------------------------------------------------------------- view data
# Small pure functions turning _Data into the plain dicts and lists the template prints.


def _kpis(s: ReportSummary, prev: str) -> list[dict[str, Any]]:
    def kpi(key: str, label: str, value: int, hint: str = "", tone: str = "") -> dict[str, Any]:
        return {"key": key, "label": label, "value": value, "hint": hint, "tone": tone}

    return [
        kpi("findings", "本次问题", s.findings, "与 problems.csv 行数一致"),
        kpi("new", "新发现", s.new, "本次首次发现", "bad" if s.new else ""),
        kpi("open", "持续未改", s.open, "此前已发现、仍存在"),
        kpi(
            "reopened",
            "整改后复现",
            s.reopened,
            "报已整改或曾消失后又出现",
            "bad" if s.reopened else "",
        ),
        kpi(
            "rectified",
            "上次以来已整改",
            s.rectified_since_last_run,
            prev,
            "good" if s.rectified_since_last_run else "",
        ),
        kpi("waived", "已核销", s.waived, "乡镇核实不属实、区办认可"),
        kpi("overdue", "逾期未整改", s.overdue, "超过整改时限仍存在", "warn" if s.overdue else ""),
        kpi(
            "rules_not_run",
            "未运行规则",
            s.rules_not_run,
            f"共 {s.rules_total} 条规则",
            "bad" if s.rules_not_run else "good",
        ),
    ]


def _rule_notes(d: _Data) -> list[dict[str, Any]]:
    """Notes of rules that ran (e.g. ``2024 年监测范围未配置，沿用 2021 年 6000 元``), each
    with the rules it concerns: shown every morning until the office acts on it."""
    notes: dict[str, list[dict[str, Any]]] = {}
    for r in d.rules:
        if r.get("note"):
            notes.setdefault(r["note"], []).append(r)
    return [{"text": text, "rules": rules} for text, rules in notes.items()]


def _alerts(d: _Data) -> dict[str, Any]:
    stale = d.findings_table and d.findings_run_date and d.findings_run_date != d.run_date
    return {
        "not_run": [r for r in d.rules if r["state"] == "not_run"],
        "notes": _rule_notes(d),
        "no_findings": not d.findings_table,
        "findings_run_date": d.findings_run_date.isoformat() if stale else None,
        "failed": [f for f in d.feeds if f["failed"]],
        "unknown_towns": d.unknown_towns,
        "unread": d.unread,
    }


def _townships_view(d: _Data, town_links: Mapping[str, str]) -> dict[str, Any] | None:
    if not d.findings_table:
        return None
    bt = d.by_township
    cats = [c for c in CATEGORIES if any(c in v for v in bt.values())]
    cats += sorted({c for v in bt.values() for c in v} - set(CATEGORIES))
    towns = sorted(bt, key=lambda t: (-sum(bt[t].values()), t))
    vmax = max((n for v in bt.values() for n in v.values()), default=1)
    rows = [
        {
            "township": town,
            "link": town_links.get(town),
            "cells": [
                _heat(bt[town].get(c, 0), vmax, CATEGORY_COLOURS.get(c, OTHER_COLOUR)) for c in cats
            ],
            "total": sum(bt[town].values()),
        }
        for town in towns
    ]
    return {
        "categories": cats,
        "legend": [(c, CATEGORY_COLOURS.get(c, OTHER_COLOUR)) for c in cats],
        "bars": _township_bars(bt),
        "rows": rows,
        "totals": [sum(v.get(c, 0) for v in bt.values()) for c in cats],
        "grand": sum(sum(v.values()) for v in bt.values()),
    }


PROGRESS_KEYS = (
    "open",
    "answered",
    "reported",
    "in_progress",
    "rectified_since",
    "rectified_total",
    "overdue",
    "overdue_unanswered",
    "waived",
)
"""Progress-table columns in order (the total row sums them)."""


def _progress_view(d: _Data, town_links: Mapping[str, str]) -> dict[str, Any] | None:
    if not d.progress:
        return None
    sums = {k: sum(t[k] for t in d.progress) for k in PROGRESS_KEYS}
    rows = [
        {
            **t,
            "link": town_links.get(t["township"]),
            "answered_pct": _pct(t["answered"], t["open"]),
            "bar": _progress_bar(t["rectified_total"], t["open"]),
        }
        for t in d.progress
    ]
    return {
        "rows": rows,
        "sums": [sums[k] for k in PROGRESS_KEYS],
        "bar": _progress_bar(sums["rectified_total"], sums["open"]),
        "feedback_table": d.feedback_table,
    }


def _warnings_view(d: _Data, town_links: Mapping[str, str]) -> dict[str, Any] | None:
    if not d.warnings_shown:
        return None
    sums = {k: sum(g[k] for g in d.warnings) for k in WARNING_KEYS}
    rows = [
        {
            **g,
            "rules_zh": "、".join(g["rules"]),
            "not_run_zh": "、".join(g["not_run"]),
            "cells": [g[k] for k in WARNING_KEYS],
            "rate": _pct(g["included"], g["answered"]),
        }
        for g in d.warnings
    ]
    return {
        "rows": rows,
        "sums": [sums[k] for k in WARNING_KEYS],
        "rate": _pct(sums["included"], sums["answered"]),
        "included_zh": STATUS_ZH.get(INCLUDED_STATUS, INCLUDED_ZH),
        "unplaced": d.warnings_unplaced,
        "unplaced_zh": UNPLACED_TOWNSHIP,
        "unplaced_link": town_links.get(UNPLACED_TOWNSHIP),
    }


def _rules_view(d: _Data) -> dict[str, Any] | None:
    if not d.rules:
        return None
    rows = []
    for r in d.rules:
        count, prev = r["count"], r["prev"]
        diff = count - prev if count is not None and prev is not None else 0
        rows.append(
            {
                **r,
                "severity_zh": SEVERITY_ZH.get(r["severity"], r["severity"]),
                "delta": f"{diff:+,}" if diff else "",
                "delta_class": "up" if diff > 0 else "down",
                "spark": _sparkline(r["series"]),
            }
        )
    dates = d.run_dates
    span = (
        f"{dates[0].isoformat()} 至 {dates[-1].isoformat()}，共 {len(dates)} 次运行"
        if dates
        else ""
    )
    return {"rows": rows, "span": span}


def _freshness(f: Mapping[str, Any], quality: FeedQuality | None) -> dict[str, Any] | None:
    if f["age_days"] is None:
        return None
    # The engine's staleness rule: a feed flagged here is one whose rules did not run.
    stale = is_stale(f["feed"], f["age_days"], quality)
    if f["age_days"] < 0:
        age = "晚于运行日期"
    elif f["age_days"] == 0:
        age = "今天"
    elif stale:
        age = f"{f['age_days']} 天前，超过 {max_age_days(f['feed'], quality)} 天"
    else:
        age = f"{f['age_days']} 天前"
    return {
        "newest": f["newest"].date().isoformat(),
        "cls": "tag warn" if stale else "muted",
        "age": age,
    }


def _expectations(v: Any, docs_rel: str | None) -> dict[str, Any] | None:
    if v is None:
        return None
    page = f"{docs_rel}/{v.docs_page}" if docs_rel and v.docs_page else None
    if v.passed:
        cls, label = "ok", f"全部 {len(v.results)} 项满足"
    elif v.validated:
        cls, label = "warn", f"{len(v.failed)} 项未满足"
    else:
        cls, label = "grey", v.reason or "未校验"
    return {"page": page, "cls": cls, "label": label}


def _feeds_view(
    d: _Data,
    quality: FeedQuality | None,
    max_reject_rate: float,
    validations: Mapping[str, Any],
    docs_rel: str | None,
) -> dict[str, Any] | None:
    if not d.feeds:
        return None
    rows = []
    for f in d.feeds:
        rate = f["rows_rejected"] / f["rows_read"] if f["rows_read"] else 0.0
        rows.append(
            {
                **f,
                "reject_class": "tag warn" if rate > max_reject_rate else "",
                "reject_pct": _pct(f["rows_rejected"], f["rows_read"]),
                "fresh": _freshness(f, quality),
                "gx": _expectations(validations.get(f["feed"]), docs_rel),
            }
        )
    return {
        "rows": rows,
        "loads_table": d.loads_table,
        "max_reject_rate": f"{max_reject_rate:.0%}",
    }


def _links_view(links: Mapping[str, str], towns: set[str]) -> dict[str, Any]:
    """Township workbooks by kind: a link to a 监测预警核实清单 (by its file name) is
    listed apart, under its township's name (``甲镇 监测预警核实清单`` → ``甲镇``)."""
    suffix = f" {WARNING_FORM.title_zh}"
    warning, towns_, other = [], [], []
    for k, v in links.items():
        if Path(v.replace("\\", "/")).name.startswith(WARNING_FORM.title_zh):
            warning.append((k.removesuffix(suffix), v))
        elif k in towns:
            towns_.append((k, v))
        else:
            other.append((k, v))
    return {"towns": towns_, "warning": warning, "other": other}


# --------------------------------------------------------------------------- template


def _finalize(value: Any) -> Any:
    """Every printed string is masked, then escaped: an ID reaches the page only masked.

    Escaping here (html.escape: ``&quot;``) rather than leaving it to autoescape
    (markupsafe: ``&#34;``) keeps the page byte-for-byte what it was before the
    template; autoescape stays on for anything that bypasses this.
    """
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return Markup(html.escape(mask_text(value), quote=True))
    return value


def _href_filter(target: str) -> Markup:
    return Markup(_href(target))


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("publishing", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mask"] = mask_text
    env.filters["n"] = _n
    env.filters["href"] = _href_filter
    return env


def _validations_for(out_path: Path, links: Mapping[str, str]) -> tuple[dict[str, Any], str | None]:
    """Feed validations kept in the Data Docs folder a link points to (if any)."""
    for target in links.values():
        rel = Path(target.replace("\\", "/"))
        if rel.name != "index.html":
            continue
        site = out_path.parent / rel.parent
        if (site / STORE_DIR).is_dir():
            return load_validations(site), rel.parent.as_posix()
    return {}, None


def render_report(
    con: duckdb.DuckDBPyConnection,
    run_date: dt.date,
    out_path: str | Path,
    links: Mapping[str, str] | None = None,
    *,
    thresholds: Any = None,
    history_runs: int = HISTORY_RUNS,
) -> ReportSummary:
    """Write the run report to ``out_path`` and return its headline numbers.

    ``links`` maps a label to a path relative to the report: a label that is a
    township name (as in ``findings.township``) is that township's workbook;
    others (Data Docs index, problems.csv …) are listed as they are. When a link
    points to a Data Docs ``index.html`` built by :mod:`checks.expectations`, the
    feed table shows each feed's expectation result. ``thresholds`` (a
    :class:`checks.thresholds.Thresholds`) gives the freshness and reject-rate
    limits; the project's thresholds.toml when None.
    """
    out_path = Path(out_path)
    links = dict(links or {})
    for target in links.values():
        _href(target)  # fail before writing anything on an absolute or remote link
    d = _collect(con, run_date, history_runs)

    quality: FeedQuality | None = None
    max_reject_rate = 0.01
    try:
        if thresholds is None:
            thresholds = load_thresholds()
        quality = thresholds.feed_quality
        max_reject_rate = quality.max_reject_rate
    except Exception as exc:  # the report still renders with default limits
        log.warning("report: thresholds not available (%s); using defaults", exc)

    validations, docs_rel = _validations_for(out_path, links)
    towns = set(d.by_township) | {t["township"] for t in d.progress}
    town_links = {k: v for k, v in links.items() if k in towns}

    st = d.status
    findings = sum(st.values())
    warn = {k: sum(g[k] for g in d.warnings) for k in WARNING_KEYS}
    not_run = [r["code"] for r in d.rules if r["state"] == "not_run"]
    ran = sum(1 for r in d.rules if r["state"] == "ran")
    summary = ReportSummary(
        path=str(out_path),
        run_date=run_date.isoformat(),
        previous_run=d.previous_run.isoformat() if d.previous_run else "",
        findings=findings,
        new=st.get("new", 0),
        open=st.get("open", 0),
        reopened=st.get("reopened", 0),
        waived=st.get("waived", 0),
        rectified_since_last_run=d.rectified_since,
        overdue=d.overdue,
        townships=len(d.by_township),
        rules_total=len(d.rules),
        rules_ran=ran,
        rules_not_run=len(not_run),
        feeds_received=sum(1 for f in d.feeds if f["files"]),
        rows_rejected=sum(f["rows_rejected"] for f in d.feeds),
        not_run_rules=tuple(not_run),
        warnings=warn["warnings"],
        warnings_answered=warn["answered"],
        warnings_included=warn["included"],
        warnings_overdue=warn["overdue"],
        warnings_unplaced=warn["unplaced"],
    )

    prev = f"上次运行 {d.previous_run.isoformat()}" if d.previous_run else "首次运行"
    title = f"{d.county + ' ' if d.county else ''}扶贫数据比对运行报告"
    page = (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            run_date=run_date.isoformat(),
            prev=prev,
            generated=office_now().strftime("%Y-%m-%d %H:%M"),  # BIDUI_TIMEZONE, as the run date
            css=Markup(CSS),
            kpis=_kpis(summary, prev),
            status_bar=_status_bar(st),
            status_legend=[
                (f"{label} {st.get(k, 0):,}", _status_colour(k))
                for k, label in _status_labels(st).items()
            ]
            if findings
            else [],
            alerts=_alerts(d),
            categories=_category_chart(d.by_township),
            trend=_trend_chart(d.trend),
            townships=_townships_view(d, town_links),
            progress=_progress_view(d, town_links),
            warnings=_warnings_view(d, town_links),
            rules=_rules_view(d),
            feeds=_feeds_view(d, quality, max_reject_rate, validations, docs_rel),
            links=_links_view(links, towns),
        )
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out_path)
    log.info("report %s: %d findings, %d rules not run", out_path, findings, len(not_run))
    return summary
