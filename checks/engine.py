"""The rule engine: run the catalogue against the warehouse, keep the findings' history.

``run_rules`` works in four steps:

1. **Feeds.** A feed is available when its table has rows and no file of it
   failed on its latest load (``loads``). A rule whose feeds are not all
   available, whose year-bound feed (tax, 人社, 村组统计) has no rows of the
   working year (the year-over-year rules: no register of the year before), or which needs a threshold not configured for that year, does
   not run: ``rule_runs`` says why, and it produces no findings (never "0").
2. **Rules.** The working set of :mod:`checks.prelude` is built for the working
   year (the latest register year); each rule's SELECT runs set-based in DuckDB
   with its thresholds bound as named parameters, into a staging table.
3. **Problem ids.** ``<prefix>-<10 hex>`` from md5(rule code + natural key);
   the natural key never holds the year, so a finding keeps its id night after
   night and across years. Distinct keys must give distinct ids (checked).
4. **History.** ``finding_history`` records facts of presence only: first and
   last seen, ``resolved_on`` when a finding of a rule that ran is gone (cleared
   when it comes back), ``times_reopened`` counting its returns; findings of
   rules that did not run are left untouched. Running the same date again
   starts from the state before that date's first run (kept in
   ``finding_history_before``), so a re-run is idempotent.
5. **Statuses.** ``findings`` gets tonight's rows; then
   :func:`rectification.status.derive_statuses` sets every status (``new``,
   ``open``, ``reopened``, ``resolved``, ``waived``) from those facts, the
   townships' latest answers and the accepted waivers. The engine never sets a
   status itself.

All tables are declared in :mod:`warehouse.schema`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from checks.prelude import prepare
from checks.rules import ALL_RULES, RULES_BY_CODE, Rule
from checks.rules.base import OPTIONAL_OUTPUT_COLUMNS, OUTPUT_COLUMNS
from checks.thresholds import FeedQuality, Thresholds, load_thresholds
from core.csv_safety import neutralise_row
from core.idcard import mask, mask_in_text
from department_feeds import FEEDS, SPECS
from department_feeds.register import SPEC as REGISTER_SPEC
from rectification.status import derive_statuses
from warehouse.schema import PROBLEMS_CSV, columns, create_all

log = logging.getLogger("bidui.checks")

PROBLEMS_CSV_COLUMNS = tuple(c for c, _ in PROBLEMS_CSV)
"""outputs.md §2: the first columns of ``problems.csv`` (declared in warehouse.schema)."""


@dataclass(frozen=True)
class RuleResult:
    """What happened to one rule in one run."""

    code: str
    ran: bool
    reason: str | None = None
    """Why the rule did not run; for a rule that ran, a note on how it ran (the
    year's income line not configured, the latest one used), else None."""
    finding_count: int | None = None
    duration_ms: float = 0.0
    duplicates: int = 0
    """Rows the rule returned for a natural key it had already returned (collapsed)."""
    thresholds: dict[str, Any] = field(default_factory=dict)
    """The configured values the rule binds (``$name`` → value), for the dashboard."""


@dataclass
class RulesRun:
    """The outcome of :func:`run_rules`."""

    run_date: date
    working_year: int | None
    results: list[RuleResult] = field(default_factory=list)
    feeds_missing: dict[str, str] = field(default_factory=dict)
    findings: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def result(self, code: str) -> RuleResult:
        return next(r for r in self.results if r.code == code)

    @property
    def not_run(self) -> list[str]:
        return [r.code for r in self.results if not r.ran]


# --- feeds ---------------------------------------------------------------------------


def _feed_label(feed: str) -> str:
    spec = SPECS.get(feed)
    return f"{spec.title_zh}（{feed}）" if spec else feed


def feed_availability(
    con: duckdb.DuckDBPyConnection,
    run_date: date | None = None,
    quality: FeedQuality | None = None,
) -> dict[str, str | None]:
    """Feed → None when usable, else why not (Chinese, for the dashboard).

    With ``run_date`` and ``quality``, a feed whose newest file is older than its
    maximum age is stale: rules depending on it do not run (stale data would read
    as "no problems")."""
    failed: dict[str, str] = {}
    try:
        rows = con.execute(
            """
            SELECT feed, source_file, coalesce(error, '') FROM loads
            QUALIFY row_number() OVER (PARTITION BY feed, source_file
                                       ORDER BY loaded_at DESC NULLS LAST) = 1
                AND status = 'failed'
            ORDER BY feed, source_file
            """
        ).fetchall()
    except duckdb.CatalogException:
        rows = []
    for feed, source_file, error in rows:
        failed.setdefault(feed, f"{source_file} {error}".strip())
    out: dict[str, str | None] = {}
    for feed in FEEDS:
        try:
            n = con.execute(f'SELECT count(*) FROM "{feed}"').fetchone()[0]
        except duckdb.CatalogException:
            n = 0
        if feed in failed:
            out[feed] = f"{_feed_label(feed)}最近一次加载失败：{failed[feed]}"
        elif n == 0:
            out[feed] = f"未收到{_feed_label(feed)}数据"
        else:
            out[feed] = _staleness(con, feed, run_date, quality)
    return out


def max_age_days(feed: str, quality: FeedQuality) -> int:
    """How many days old ``feed``'s newest file may be (thresholds ``[feed_quality]``)."""
    return quality.max_age_days.get(feed, quality.default_max_age_days)


def is_stale(feed: str, age_days: int | None, quality: FeedQuality | None) -> bool:
    """Whether ``feed``, its newest file ``age_days`` old, is stale: the one staleness
    rule (rules on a stale feed do not run; the report and the feed checks flag it).
    False when the age or the limits are unknown."""
    if age_days is None or quality is None:
        return False
    return age_days > max_age_days(feed, quality)


def _staleness(
    con: duckdb.DuckDBPyConnection, feed: str, run_date: date | None, quality: FeedQuality | None
) -> str | None:
    if run_date is None or quality is None:
        return None
    newest = con.execute(
        "SELECT max(modified_at)::DATE FROM loads WHERE feed = ? AND status = 'loaded'", [feed]
    ).fetchone()[0]
    if newest is None:
        return None
    age = (run_date - newest).days
    if is_stale(feed, age, quality):
        return (
            f"{_feed_label(feed)}数据已 {age} 天未更新（最新文件 {newest.isoformat()}，"
            f"超过 {max_age_days(feed, quality)} 天），视为过期"
        )
    return None


def register_columns_present(con: duckdb.DuckDBPyConnection, year: int) -> frozenset[str]:
    """Register fields every loaded file of ``year`` mapped (``loads.header_mapping``):
    the optional columns a rule of that year may read. A column one file lacks would
    be null for that file's households, and read as "no problem" there.

    Rows without a ``loads`` record (written by code, not read from a file) constrain
    nothing: with no loaded file at all, every field counts as present."""
    mappings = con.execute(
        """
        SELECT header_mapping FROM loads
        WHERE feed = 'register' AND status = 'loaded'
          AND load_id IN (SELECT DISTINCT load_id FROM register WHERE year = ?)
        """,
        [year],
    ).fetchall()
    present = {c.field for c in REGISTER_SPEC.columns}
    for (mapping,) in mappings:
        present &= set(json.loads(mapping or "{}").values())
    return frozenset(present)


def missing_columns_reason(fields: list[str]) -> str:
    """Why a rule reading register columns the working year lacks is not run."""
    if "monitoring_category" in fields:
        # The older generation: one reason for every rule D, so the morning summary
        # and the report group them on one line instead of fifteen.
        return "登记数据缺少“监测对象类别”列（旧版建档立卡导出，没有防返贫监测信息）"
    headers = "、".join(f"“{REGISTER_SPEC.column(f).header}”" for f in fields[:3])
    return f"登记数据缺少{headers}" + (f"等 {len(fields)} 列" if len(fields) > 3 else "列")


def _why_not(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    feeds: dict[str, str | None],
    year: int | None,
    params: dict[str, Any],
    register_columns: frozenset[str] = frozenset(),
) -> str | None:
    """None if the rule can run, else the reason it cannot (Chinese)."""
    missing = [feeds.get(f) or f"未知数据源 {f}" for f in rule.feeds if feeds.get(f, "x")]
    if missing:
        return "；".join(missing)
    if year is None:
        return "登记数据中没有年度"
    absent = [c for c in rule.columns if c not in register_columns]
    if absent:
        return missing_columns_reason(absent)
    for feed, col, back in rule.year_feeds:
        y = year - back
        n = con.execute(f'SELECT count(*) FROM "{feed}" WHERE "{col}" = ?', [y]).fetchone()[0]
        if n == 0:
            why = f"{_feed_label(feed)}没有{y}年度的记录"
            return why + ("（需与上一年度比对）" if back else "")
    if rule.coverage:
        gaps = _coverage_gaps(con, rule.coverage)
        if gaps:
            shown = "、".join(f"{t}（登记{n}人，仅{k}人在库中）" for t, n, k in gaps[:5])
            return f"{_feed_label(rule.coverage)}几乎没有以下乡镇的人员，疑似缺少其文件：{shown}"
    unset = [n for n in rule.param_names if params.get(n) is None]
    if unset:
        return f"阈值配置中没有适用于{year}年的 {', '.join(unset)}"
    return None


COVERAGE_MIN_PERSONS = 10
COVERAGE_MIN_SHARE = 0.2


def _coverage_gaps(con: duckdb.DuckDBPyConnection, feed: str) -> list[tuple[str, int, int]]:
    """(township, persons with a valid ID, of them in ``feed``) for townships of at
    least 10 such persons of which fewer than 20 % are in the feed."""
    return con.execute(
        f"""
        SELECT township, count(*) AS n,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM "bd_{feed}" k WHERE k.id_number = p.id_number)) AS k
        FROM bd_reg p WHERE p.id_ok AND p.township IS NOT NULL
        GROUP BY township
        HAVING count(*) >= ? AND k < ? * count(*)
        ORDER BY township
        """,
        [COVERAGE_MIN_PERSONS, COVERAGE_MIN_SHARE],
    ).fetchall()


# --- running -------------------------------------------------------------------------

_NOT_THRESHOLDS = ("year", "run_date")
"""Bound parameters that are no configured value (not shown as thresholds)."""

_STAGE_DDL = (
    "CREATE OR REPLACE TEMP TABLE bd_stage (rule_code VARCHAR, category VARCHAR, "
    "severity VARCHAR, standing VARCHAR, "
    "year INTEGER, county VARCHAR, township VARCHAR, village VARCHAR, village_group VARCHAR, "
    "household_id VARCHAR, id_number VARCHAR, name VARCHAR, head_name VARCHAR, "
    "description VARCHAR, evidence VARCHAR, nkey VARCHAR)"
)
assert all(c in _STAGE_DDL for c in OUTPUT_COLUMNS + OPTIONAL_OUTPUT_COLUMNS)


def _rule_meta(con: duckdb.DuckDBPyConnection, rules: tuple[Rule, ...], th: Thresholds) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE bd_rule_meta (rule_code VARCHAR, prefix VARCHAR, "
        "name_zh VARCHAR, category VARCHAR, severity VARCHAR, department VARCHAR, "
        "requirement_zh VARCHAR, due_days INTEGER, ord INTEGER)"
    )
    # 整改时限 by the finding's own severity (a rule may vary it per record); an
    # early-warning rule's 核实时限 is visit_days whatever the severity.
    con.execute("CREATE OR REPLACE TEMP TABLE bd_due (severity VARCHAR, days INTEGER)")
    con.executemany("INSERT INTO bd_due VALUES (?, ?)", [list(kv) for kv in th.due_days.items()])
    con.executemany(
        "INSERT INTO bd_rule_meta VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                r.code,
                r.prefix,
                r.name_zh,
                r.category,
                r.severity,
                r.department,
                r.requirement_zh,
                th.early_warning.visit_days if r.warning_list else None,
                i,
            ]
            for i, r in enumerate(rules)
        ],
    )


def _run_one(con: duckdb.DuckDBPyConnection, rule: Rule, params: dict[str, Any]) -> tuple[int, int]:
    """Stage one rule's findings; returns (rows, rows collapsed as duplicates)."""
    bound = {n: params[n] for n in rule.param_names}
    bound["bd_rule_code"] = rule.code
    con.execute(
        f"INSERT INTO bd_stage BY NAME SELECT $bd_rule_code AS rule_code, q.* FROM ({rule.sql}) q",
        bound,
    )
    n, dup = con.execute(
        "SELECT count(*), count(*) - count(DISTINCT coalesce(nkey, '')) "
        "FROM bd_stage WHERE rule_code = ?",
        [rule.code],
    ).fetchone()
    return int(n), int(dup)


def _assign_ids(con: duckdb.DuckDBPyConnection) -> None:
    """Problem ids; collapse repeated natural keys; refuse hash collisions."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE bd_new AS
        SELECT s.*, m.prefix || '-' || upper(substr(md5(s.rule_code || chr(31)
                    || coalesce(s.nkey, '')), 1, 10)) AS problem_id
        FROM bd_stage s JOIN bd_rule_meta m USING (rule_code)
        QUALIFY row_number() OVER (
            PARTITION BY s.rule_code, coalesce(s.nkey, '')
            ORDER BY s.township, s.village, s.village_group, s.household_id, s.id_number,
                     s.name, s.description
        ) = 1
        """
    )
    ids, keys = con.execute("SELECT count(DISTINCT problem_id), count(*) FROM bd_new").fetchone()
    if ids != keys:
        clash = con.execute(
            "SELECT problem_id, list(rule_code || ':' || nkey) FROM bd_new "
            "GROUP BY problem_id HAVING count(*) > 1 LIMIT 3"
        ).fetchall()
        raise RuntimeError(f"problem id collision between distinct findings: {clash}")


def _apply_history(con: duckdb.DuckDBPyConnection, run_date: date) -> None:
    """Fold this run's findings into ``finding_history``: facts of presence only
    (see module docstring); the statuses are derived afterwards."""
    # The last night folded in: a first night leaves no snapshot rows (the history was
    # empty), so rule_runs (same transaction) is what remembers it.
    before = con.execute(
        "SELECT greatest((SELECT max(before_run) FROM finding_history_before), "
        "(SELECT max(run_date) FROM rule_runs))"
    ).fetchone()[0]
    if before is not None and run_date < before:
        raise ValueError(
            f"run_date {run_date} is earlier than the last run ({before}); "
            "the finding history only moves forward"
        )
    if before == run_date:
        # Same night again: restart from the state before that night's first run
        # (waivers recorded in between live in their own table).
        con.execute(
            """
            DELETE FROM finding_history;
            INSERT INTO finding_history SELECT * EXCLUDE (before_run) FROM finding_history_before;
            """
        )
    else:
        con.execute("DELETE FROM finding_history_before")
        con.execute(
            "INSERT INTO finding_history_before SELECT ?, * FROM finding_history", [run_date]
        )
    d = {"d": run_date}
    # Present tonight. Back after it was gone: one more return counted.
    con.execute(
        """
        UPDATE finding_history h SET
            last_seen = $d,
            rule_code = n.rule_code, township = n.township, village = n.village,
            household_id = n.household_id, id_number = n.id_number,
            times_reopened = h.times_reopened + CASE WHEN h.resolved_on IS NULL THEN 0 ELSE 1 END,
            resolved_on = NULL
        FROM bd_new n WHERE n.problem_id = h.problem_id
        """,
        d,
    )
    con.execute(
        """
        INSERT INTO finding_history
        SELECT problem_id, rule_code, township, village, household_id, id_number,
               $d, $d, NULL, 0, NULL
        FROM bd_new WHERE problem_id NOT IN (SELECT problem_id FROM finding_history)
        """,
        d,
    )
    # Gone: only for rules that ran tonight (a rule that did not run proves nothing).
    con.execute(
        """
        UPDATE finding_history SET resolved_on = $d
        WHERE resolved_on IS NULL
          AND rule_code IN (SELECT rule_code FROM bd_ran)
          AND problem_id NOT IN (SELECT problem_id FROM bd_new)
        """,
        d,
    )


def _write_findings(con: duckdb.DuckDBPyConnection, run_date: date) -> int:
    con.execute("DELETE FROM findings")
    con.execute(
        """
        INSERT INTO findings
        SELECT n.problem_id, n.rule_code, coalesce(n.category, m.category),
               coalesce(n.severity, m.severity), n.year,
               n.county, n.township, n.village, n.village_group, n.household_id, n.id_number,
               n.name, m.department, n.description, n.evidence, h.first_seen,
               NULL,  -- status: rectification.status.derive_statuses, right after
               n.head_name, m.name_zh, m.requirement_zh,
               h.first_seen + coalesce(m.due_days, d.days), $d, n.standing
        FROM bd_new n
        JOIN bd_rule_meta m USING (rule_code)
        JOIN finding_history h USING (problem_id)
        LEFT JOIN bd_due d ON d.severity = coalesce(n.severity, m.severity)
        ORDER BY n.township, n.village, n.village_group, n.household_id, m.ord, n.problem_id
        """,
        {"d": run_date},
    )
    return con.execute("SELECT count(*) FROM findings").fetchone()[0]


def _cleanup(con: duckdb.DuckDBPyConnection) -> None:
    for name in (
        "bd_stage",
        "bd_new",
        "bd_rule_meta",
        "bd_due",
        "bd_resident",
        "bd_ran",
        "bd_reg",
        "bd_hh",
        "bd_grade_age",
    ):
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")


def run_rules(
    con: duckdb.DuckDBPyConnection,
    run_date: date,
    thresholds: Thresholds | None = None,
    rules: tuple[Rule, ...] | list[Rule] = ALL_RULES,
) -> RulesRun:
    """Run ``rules`` for ``run_date``; write ``findings``, ``finding_history``, ``rule_runs``."""
    th = thresholds or load_thresholds()
    rules = tuple(rules)
    create_all(con)
    feeds = feed_availability(con, run_date, th.feed_quality)
    year = None
    if feeds.get("register") is None:
        year = con.execute("SELECT max(year) FROM register").fetchone()[0]
    run = RulesRun(
        run_date=run_date,
        working_year=year,
        feeds_missing={f: why for f, why in feeds.items() if why},
    )
    params = th.sql_params(year, run_date) if year is not None else {}
    present = register_columns_present(con, year) if year is not None else frozenset()
    income_note = th.income_line_note(year) if year is not None else None

    con.execute(_STAGE_DDL)
    _rule_meta(con, rules, th)
    if year is not None:
        prepare(con, year)
    for rule in rules:
        why = _why_not(con, rule, feeds, year, params, present)
        used = {n: _jsonable(params.get(n)) for n in rule.param_names if n not in _NOT_THRESHOLDS}
        note = income_note if "income_line" in rule.param_names else None
        if why:
            run.results.append(RuleResult(rule.code, ran=False, reason=why, thresholds=used))
            log.info("rule %s not run: %s", rule.code, why)
            continue
        t0 = time.perf_counter()
        try:
            n, dup = _run_one(con, rule, params)
        except duckdb.Error as exc:
            # One broken rule must not hide the others; it is recorded as not run.
            log.exception("rule %s failed", rule.code)
            run.errors[rule.code] = str(exc)
            run.results.append(
                RuleResult(
                    rule.code,
                    ran=False,
                    reason=f"规则执行出错：{exc}".splitlines()[0],
                    thresholds=used,
                )
            )
            continue
        ms = (time.perf_counter() - t0) * 1000
        if dup:
            log.warning("rule %s returned %d rows for repeated natural keys", rule.code, dup)
        # A rule that ran keeps its note (an income line carried over) as its reason.
        run.results.append(RuleResult(rule.code, True, note, n - dup, ms, dup, used))

    con.execute("CREATE OR REPLACE TEMP TABLE bd_ran (rule_code VARCHAR)")
    ran = [[r.code] for r in run.results if r.ran]
    if ran:
        con.executemany("INSERT INTO bd_ran VALUES (?)", ran)
    _assign_ids(con)

    con.execute("BEGIN TRANSACTION")
    try:
        _apply_history(con, run_date)
        run.findings = _write_findings(con, run_date)
        derive_statuses(con)
        con.execute("DELETE FROM rule_runs WHERE run_date = ?", [run_date])
        con.executemany(
            "INSERT INTO rule_runs (run_date, rule_code, ran, reason, finding_count, "
            "duration_ms, thresholds) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    run_date,
                    r.code,
                    r.ran,
                    r.reason,
                    r.finding_count,
                    round(r.duration_ms, 3),
                    json.dumps(r.thresholds, ensure_ascii=False),
                ]
                for r in run.results
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        _cleanup(con)
    log.info(
        "rules for %s (working year %s): %d ran, %d not run, %d findings",
        run_date,
        year,
        len(run.results) - len(run.not_run),
        len(run.not_run),
        run.findings,
    )
    return run


# --- outputs -------------------------------------------------------------------------


def write_problems_csv(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """``problems.csv`` (outputs.md §2): UTF-8 with BOM, the contract columns first.

    Every row of ``findings`` (this run), including ``waived`` ones: the status
    column tells consumers; the township lists leave waived rows out. Only reads:
    works on a read-only connection (no ``findings`` yet → header only). Text that
    a spreadsheet would run as a formula gets a leading ``'`` (:mod:`core.csv_safety`).
    """
    header = list(columns("findings"))
    try:
        rows = con.execute(
            f"""
            SELECT {", ".join(header)} FROM findings
            ORDER BY township, village, village_group, household_id, rule_code, problem_id
            """
        ).fetchall()
    except duckdb.CatalogException:
        rows = []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(
                neutralise_row(
                    "" if v is None else v.isoformat() if isinstance(v, date) else v for v in row
                )
            )
    return len(rows)


# ID-like runs in free text: 15/17/18-character numbers and Excel renderings such as
# 5.30102198005051E+17 (14+ characters, so dates and money amounts are left alone).


def _mask_name(name: str | None) -> str:
    return (name[0] + "*" * (len(name) - 1)) if name else ""


# Phone numbers (7–13 digits, e.g. in phone_invalid): keep the first 3 and last 2.
_PHONE_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{7,13}(?![0-9])")


def _mask_text(text: str | None, names: set[str] = frozenset()) -> str:
    """``text`` with ID and phone numbers masked, and every name in ``names`` masked
    (longest first)."""
    out = mask_in_text(text or "")
    out = _PHONE_IN_TEXT.sub(
        lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 5) + m.group(0)[-2:], out
    )
    for name in sorted((n for n in names if n and len(n) >= 2), key=len, reverse=True):
        out = out.replace(name, _mask_name(name))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _names_near(con: duckdb.DuckDBPyConnection, households: list, ids: list) -> set[str]:
    """Names a sample's descriptions may mention: members of its households (any
    year) and the hukou names of its numbers."""
    names: set[str] = set()
    # A 户编号 shared by two townships is split as ``<id>（<township>）`` by the prelude.
    households = [*households, *(str(h).split("（")[0] for h in households if h)]
    queries = (
        ("SELECT DISTINCT name FROM register WHERE list_contains(?, household_id)", households),
        ("SELECT DISTINCT name FROM hukou WHERE list_contains(?, id_number)", ids),
    )
    for sql, values in queries:
        with contextlib.suppress(duckdb.CatalogException):
            names |= {n for (n,) in con.execute(sql, [values]).fetchall() if n}
    return names


def rule_summary(
    con: duckdb.DuckDBPyConnection,
    code: str,
    thresholds: Thresholds | None = None,
    sample_size: int = 5,
) -> dict[str, Any]:
    """Metadata of one rule's latest run for its Dagster asset check.

    Keys: ``ran``, ``reason`` (why it did not run, Chinese), ``note`` (for a rule
    that ran: e.g. the working year's income line is not configured), ``count`` (None when
    it did not run: never a fake 0), ``sample`` (up to ``sample_size`` findings
    with ID numbers and names masked: ``530102********1234``, ``张*``, also
    inside the description), ``thresholds`` (the values the rule bound in that
    run; from ``thresholds`` or the default file when the run recorded none), plus
    ``code``, ``name_zh``, ``category``, ``severity``, ``department``, ``level``,
    ``run_date``, ``duration_ms``, ``working_year``.
    """
    rule = RULES_BY_CODE[code]
    # Only reads (a read-only connection is fine); tables may not exist yet.
    try:
        row = con.execute(
            "SELECT run_date, ran, reason, finding_count, duration_ms, thresholds FROM rule_runs "
            "WHERE rule_code = ? ORDER BY run_date DESC LIMIT 1",
            [code],
        ).fetchone()
    except duckdb.BinderException:  # rule_runs from before the thresholds column
        row = con.execute(
            "SELECT run_date, ran, reason, finding_count, duration_ms, NULL FROM rule_runs "
            "WHERE rule_code = ? ORDER BY run_date DESC LIMIT 1",
            [code],
        ).fetchone()
    except duckdb.CatalogException:
        row = None
    out: dict[str, Any] = {
        "code": code,
        "name_zh": rule.name_zh,
        "category": rule.category,
        "severity": rule.severity,
        "department": rule.department,
        "level": rule.level,
        "ran": False,
        "reason": "尚未运行",
        "note": None,
        "count": None,
        "run_date": None,
        "duration_ms": None,
        "sample": [],
        "thresholds": {},
        "working_year": None,
    }
    recorded = None
    if row is not None:
        run_date, ran, reason, count, ms, recorded = row
        out.update(
            run_date=run_date.isoformat(),
            ran=bool(ran),
            reason=reason,
            note=reason if ran else None,
            count=int(count) if ran and count is not None else None,
            duration_ms=ms,
        )
    if out["ran"]:
        rows = con.execute(
            "SELECT problem_id, township, village, household_id, name, head_name, id_number, "
            "description, status FROM findings WHERE rule_code = ? "
            "ORDER BY township, village, household_id, problem_id LIMIT ?",
            [code, sample_size],
        ).fetchall()
        names = _names_near(con, [r[3] for r in rows if r[3]], [r[6] for r in rows if r[6]])
        out["sample"] = [
            {
                "problem_id": pid,
                "township": town,
                "village": vil,
                "household_id": hh,
                "name": _mask_name(name),
                "head_name": _mask_name(head),
                "id_number": mask(idn),
                "description": _mask_text(desc, names | {name, head}),
                "status": status,
            }
            for pid, town, vil, hh, name, head, idn, desc, status in rows
        ]
    try:
        year = con.execute("SELECT max(year) FROM findings").fetchone()[0]
        if year is None:
            year = con.execute("SELECT max(year) FROM register").fetchone()[0]
        out["working_year"] = int(year) if year is not None else None
        if recorded and thresholds is None:
            out["thresholds"] = json.loads(recorded)
        else:
            th = thresholds or load_thresholds()
            params = th.sql_params(int(year)) if year is not None else {}
            out["thresholds"] = {
                n: _jsonable(params.get(n)) for n in rule.param_names if n not in _NOT_THRESHOLDS
            }
    except (duckdb.Error, ValueError) as exc:
        out["thresholds"] = {"error": str(exc)}
    return out
