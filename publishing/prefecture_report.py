"""The prefecture report: every county of the night side by side (issue 14).

``render_prefecture_report`` reads the Parquet layer (:mod:`warehouse.export`) —
each county's ``summary``, ``findings``, ``rule_runs``, ``feed_status`` and
``progress`` from ``county_results``, its ``_status.json``, and the split's
``unassigned`` rows — and writes one self-contained HTML page (inline CSS, no
script, opens offline), in Chinese: findings per 1,000 members by category, rules
that did not run and why, stale feeds, rectification progress, the counties that
failed and why, and the cross-county findings (which county names which). Only
counts and rule/feed texts are shown; every printed string is masked like the
county report (``530102********1234``), so an ID number cannot reach the page.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jinja2
from markupsafe import Markup

from checks.rules import RULES_BY_CODE
from checks.rules.base import CATEGORIES
from checks.rules.cross_county import CROSS_COUNTY_CODES, CROSS_COUNTY_RULES
from core.config import now as office_now
from publishing.report import CATEGORY_COLOURS, CSS, mask_text
from warehouse.export import (
    UNASSIGNED,
    county_dir,
    county_dirs,
    read_manifest,
    read_parquet_sql,
    read_status,
    resolve_key,
    use_parquet_key,
)

log = logging.getLogger("bidui.prefecture")

PHASE_ZH = {
    "split": "拆分市级数据",
    "ingest": "数据导入",
    "night": "夜间比对",
    "export": "数据导出",
}
_RULES = {**RULES_BY_CODE, **{r.code: r for r in CROSS_COUNTY_RULES}}


@dataclass(frozen=True)
class PrefectureSummary:
    """The prefecture report's headline numbers."""

    path: str
    run_date: str
    counties: int
    counties_ok: int
    counties_failed: int
    failed: tuple[tuple[str, str], ...]
    """(county, why) of every county without tonight's results."""
    members: int
    findings: int
    cross_county_findings: int
    unassigned_rows: int


def _table(
    con: duckdb.DuckDBPyConnection, folder: Path, table: str, encrypted: bool
) -> list[dict[str, Any]]:
    path = folder / f"{table}.parquet"
    if not path.exists():
        return []
    cur = con.execute(f"SELECT * FROM {read_parquet_sql([path], encrypted)}")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _per_1000(n: int, members: int) -> str:
    return f"{1000 * n / members:.1f}" if members else "–"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def _rule_name(code: str) -> str:
    rule = _RULES.get(code)
    return rule.name_zh if rule else code


def _county_row(
    con: duckdb.DuckDBPyConnection, county: str, folder: Path | None, run_date: dt.date
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "county": county,
        "ok": False,
        "why": "",
        "members": 0,
        "households": 0,
        "working_year": None,
        "findings": 0,
        "by_category": {},
        "not_run": [],
        "stale": [],
        "unusable": [],
        "progress": None,
        "cross": {},
        "cross_total": 0,
        "results_date": None,
    }
    if folder is None:
        row["why"] = "没有任何导出数据（未运行或导入阶段失败）"
        return row
    status = read_status(folder) or {}
    manifest = read_manifest(folder)
    encrypted = bool(manifest.get("encrypted"))
    try:
        summary = _table(con, folder, "summary", encrypted)
        findings = _table(con, folder, "findings", encrypted)
        rule_runs = _table(con, folder, "rule_runs", encrypted)
        feeds = _table(con, folder, "feed_status", encrypted)
        progress = _table(con, folder, "progress", encrypted)
    except duckdb.Error as exc:
        row["why"] = f"结果文件无法读取（{str(exc).splitlines()[0]}）"
        return row
    s = summary[0] if summary else {}
    row["results_date"] = s.get("run_date")
    tonight = s.get("run_date") == run_date
    # A failure recorded after tonight's results (a later phase, or a re-run) wins;
    # one from before them (an earlier attempt) does not.
    failed_after = str(status.get("finished_at") or "") >= str(manifest.get("results_at") or "")
    if status and not status.get("ok", True) and (not tonight or failed_after):
        phase = PHASE_ZH.get(str(status.get("phase")), str(status.get("phase") or ""))
        row["why"] = f"{phase}失败：{status.get('error') or '原因未记录'}"
    elif not s:
        row["why"] = "今晚没有比对结果（未运行到结果导出）"
    elif not tonight:
        last = s.get("run_date")
        row["why"] = f"今晚没有比对结果（最近一次为 {last.isoformat() if last else '未知'}）"
    else:
        row["ok"] = True
    if not s:
        return row
    row["members"] = int(s.get("members") or 0)
    row["households"] = int(s.get("households") or 0)
    row["working_year"] = s.get("working_year")
    open_ = [f for f in findings if f.get("status") != "waived"]
    row["findings"] = len(open_)
    cats: dict[str, int] = {}
    for f in open_:
        cats[f["category"]] = cats.get(f["category"], 0) + 1
    row["by_category"] = cats
    for f in open_:
        if f["rule_code"] in CROSS_COUNTY_CODES:
            other = f.get("other_county") or "（未知）"
            row["cross"][other] = row["cross"].get(other, 0) + 1
            row["cross_total"] += 1
    row["cross_rules"] = {}
    for f in open_:
        if f["rule_code"] in CROSS_COUNTY_CODES:
            name = _rule_name(f["rule_code"])
            row["cross_rules"][name] = row["cross_rules"].get(name, 0) + 1
    row["not_run"] = [
        {"name": _rule_name(r["rule_code"]), "code": r["rule_code"], "reason": r["reason"] or ""}
        for r in sorted(rule_runs, key=lambda r: r["rule_code"])
        if not r["ran"]
    ]
    row["stale"] = [f"{f['title']}（{f['age_days']} 天未更新）" for f in feeds if f.get("stale")]
    row["unusable"] = [f["reason"] for f in feeds if not f.get("usable") and not f.get("stale")]
    if progress:
        p = progress[0]
        open_n, rectified = int(p["open"] or 0), int(p["rectified_total"] or 0)
        row["progress"] = {
            "open": open_n,
            "answered": int(p["answered"] or 0),
            "reported": int(p["reported"] or 0),
            "in_progress": int(p["in_progress"] or 0),
            "waived": int(p["waived"] or 0),
            "rectified": rectified,
            "answered_pct": _pct(int(p["answered"] or 0), open_n),
            "rectified_pct": _pct(rectified, rectified + open_n),
            "share": round(100 * rectified / (rectified + open_n)) if rectified + open_n else 0,
        }
    return row


def _unassigned(con: duckdb.DuckDBPyConnection, prefecture_dir: Path, encrypted: bool) -> list:
    folder = prefecture_dir / UNASSIGNED
    out = []
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        try:
            n = con.execute(f"SELECT count(*) FROM {read_parquet_sql([path], encrypted)}")
            out.append((path.stem, int(n.fetchone()[0]), ""))
        except duckdb.Error as exc:
            out.append((path.stem, 0, f"无法读取（{str(exc).splitlines()[0]}）"))
    return out


def _finalize(value: Any) -> Any:
    """Every printed string masked, then escaped (as the county report does)."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return Markup(html.escape(mask_text(value), quote=True))
    return value


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
    env.filters["n"] = lambda v: f"{v:,}" if isinstance(v, int) else ("–" if v is None else v)
    return env


def render_prefecture_report(
    prefecture_dir: str | Path,
    run_date: dt.date,
    out_path: str | Path,
    counties: tuple[str, ...] | list[str] | None = None,
    *,
    key: str | None | bool = True,
    title: str = "全市扶贫数据比对汇总报告",
) -> PrefectureSummary:
    """Write the prefecture report for ``run_date`` to ``out_path``.

    ``counties``: the counties expected tonight (a county without any export is
    listed as failed); None = every ``county=<c>`` folder of ``prefecture_dir``.
    ``key``: True = the configured warehouse key decrypts the Parquet files."""
    prefecture_dir = Path(prefecture_dir)
    out_path = Path(out_path)
    folders = county_dirs(prefecture_dir)
    names = list(counties) if counties is not None else list(folders)
    for extra in folders:
        if counties is not None and extra not in names:
            log.info("prefecture report: %s has an export but is not a configured county", extra)
    con = duckdb.connect(":memory:")
    try:
        key_text = resolve_key(key)
        use_parquet_key(con, key_text)
        rows = []
        for c in names:
            folder = folders.get(c)
            if folder is None and county_dir(prefecture_dir, c).is_dir():
                folder = county_dir(prefecture_dir, c)
            rows.append(_county_row(con, c, folder, run_date))
        unassigned = _unassigned(con, prefecture_dir, key_text is not None)
    finally:
        con.close()

    cats = [c for c in CATEGORIES if any(r["by_category"].get(c) for r in rows)]
    for r in rows:
        r["cat_cells"] = [
            {
                "n": r["by_category"].get(c, 0),
                "rate": _per_1000(r["by_category"].get(c, 0), r["members"]),
            }
            for c in cats
        ]
        r["rate"] = _per_1000(r["findings"], r["members"])
    members = sum(r["members"] for r in rows if r["ok"])
    findings = sum(r["findings"] for r in rows if r["ok"])
    cross_total = sum(r["cross_total"] for r in rows if r["ok"])
    failed = tuple((r["county"], r["why"]) for r in rows if not r["ok"])
    pairs = sorted(
        (r["county"], other, n) for r in rows if r["ok"] for other, n in r["cross"].items()
    )
    summary = PrefectureSummary(
        path=str(out_path),
        run_date=run_date.isoformat(),
        counties=len(rows),
        counties_ok=len(rows) - len(failed),
        counties_failed=len(failed),
        failed=failed,
        members=members,
        findings=findings,
        cross_county_findings=cross_total,
        unassigned_rows=sum(n for _, n, _ in unassigned),
    )
    page = (
        _environment()
        .get_template("prefecture_report.html.j2")
        .render(
            title=title,
            run_date=run_date.isoformat(),
            generated=office_now().strftime("%Y-%m-%d %H:%M"),
            css=Markup(CSS),
            s=summary,
            rows=rows,
            cats=[{"name": c, "colour": CATEGORY_COLOURS.get(c, "#888")} for c in cats],
            pairs=pairs,
            cross_rules=[r.name_zh for r in CROSS_COUNTY_RULES],
            unassigned=unassigned,
            overall_rate=_per_1000(findings, members),
        )
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out_path)
    log.info(
        "prefecture report %s: %d counties, %d failed, %d findings",
        out_path,
        len(rows),
        len(failed),
        findings,
    )
    return summary
