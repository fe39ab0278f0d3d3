"""Feed-quality checks (rules.md §C): about the feeds, for the office, not townships.

Each check tests one property and puts its numbers and threshold in metadata.
All are WARN: a bad feed marks its rules unreliable or not run; it does not stop
the night. (The blocking ingest checks live in ``assets/feeds.py``.)
"""

from datetime import date

import dagster as dg
import duckdb

from assets.resources import BiduiResource
from checks.engine import is_stale, max_age_days
from checks.thresholds import FeedQuality, load_thresholds
from core.config import local_time
from department_feeds import SPECS
from department_feeds.spec import FeedSpec

FEED_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS feed_runs (
    run_id VARCHAR, run_date DATE, feed VARCHAR, files INTEGER, rows_read BIGINT,
    rows_loaded BIGINT, rows_rejected BIGINT, newest_file_mtime TIMESTAMP,
    recorded_at TIMESTAMP DEFAULT current_timestamp
)
"""


def record_feed_run(
    con: duckdb.DuckDBPyConnection, run_id: str, run_date: date, feed: str, newest_mtime: float
) -> None:
    """Append this run's totals for a feed (the volume check compares with them)."""
    con.execute(FEED_RUNS_DDL)
    con.execute("DELETE FROM feed_runs WHERE run_id = ? AND feed = ?", [run_id, feed])
    con.execute(
        """
        INSERT INTO feed_runs (run_id, run_date, feed, files, rows_read, rows_loaded,
                               rows_rejected, newest_file_mtime)
        SELECT ?, ?, ?, count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0),
               coalesce(sum(rows_rejected), 0), ?::TIMESTAMP
        FROM loads WHERE feed = ?
        """,
        # office wall-clock time (BIDUI_TIMEZONE), not the DuckDB session's zone
        [run_id, run_date, feed, local_time(newest_mtime) if newest_mtime > 0 else None, feed],
    )


def _quality(bidui: BiduiResource) -> FeedQuality:
    return load_thresholds(bidui.thresholds or None).feed_quality


def _two_latest_runs(con: duckdb.DuckDBPyConnection, feed: str) -> list[tuple]:
    con.execute(FEED_RUNS_DDL)
    return con.execute(
        """
        SELECT run_id, rows_read, files, newest_file_mtime FROM feed_runs
        WHERE feed = ? ORDER BY recorded_at DESC LIMIT 2
        """,
        [feed],
    ).fetchall()


def build_quality_checks(spec: FeedSpec) -> list[dg.AssetChecksDefinition]:
    feed = spec.name

    @dg.asset_check(
        asset=feed,
        name="arrived_fresh",
        description="数据已收到且未超过更新周期 (feed arrived and is no older than its refresh)",
    )
    def arrived_fresh(bidui: BiduiResource) -> dg.AssetCheckResult:
        q = _quality(bidui)
        max_age = max_age_days(feed, q)
        with bidui.connect() as con:
            runs = _two_latest_runs(con, feed)
        files = runs[0][2] if runs else 0
        newest = runs[0][3] if runs else None
        # Age against the run date (as the rule engine judges staleness), not the wall clock.
        age_days = (bidui.run_day - newest.date()).days if newest else None
        passed = bool(files) and age_days is not None and not is_stale(feed, age_days, q)
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "未收到该部门数据：依赖它的规则本次未运行"
                if not files
                else None
                if passed
                else f"数据已 {age_days} 天未更新（上限 {max_age} 天）：依赖它的规则本次未运行"
            ),
            metadata={
                "files": files,
                "age_days": round(age_days, 1) if age_days is not None else None,
                "max_age_days": max_age,
            },
        )

    @dg.asset_check(
        asset=feed,
        name="volume_stable",
        description="行数与上次相比变化在阈值内 (rows received within ±20 % of the last load)",
    )
    def volume_stable(bidui: BiduiResource) -> dg.AssetCheckResult:
        tolerance = _quality(bidui).volume_tolerance
        with bidui.connect() as con:
            runs = _two_latest_runs(con, feed)
        now = runs[0][1] if runs else 0
        before = runs[1][1] if len(runs) > 1 else None
        change = None if not before else (now - before) / before
        passed = now > 0 and (change is None or abs(change) <= tolerance)
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_now": now,
                "rows_last_load": before,
                "change": round(change, 4) if change is not None else None,
                "tolerance": tolerance,
            },
        )

    @dg.asset_check(
        asset=feed,
        name="reject_rate",
        description="每个文件的拒收率低于阈值 (reject rate per file below the threshold)",
    )
    def reject_rate(bidui: BiduiResource) -> dg.AssetCheckResult:
        limit = _quality(bidui).max_reject_rate
        with bidui.connect() as con:
            rows = con.execute(
                """
                SELECT source_file, rows_read, rows_rejected,
                       rows_rejected / greatest(rows_read, 1) AS rate
                FROM loads WHERE feed = ? ORDER BY rate DESC
                """,
                [feed],
            ).fetchall()
        over = {r[0]: round(r[3], 4) for r in rows if r[3] > limit}
        return dg.AssetCheckResult(
            passed=not over,
            severity=dg.AssetCheckSeverity.WARN,
            description=("拒收率超过阈值：该部门比对结果可能不可靠" if over else None),
            metadata={
                "files": len(rows),
                "worst_rate": round(rows[0][3], 4) if rows else 0.0,
                "threshold": limit,
                "files_over": dg.MetadataValue.json(over),
            },
        )

    key = list(spec.natural_key)
    key_sql = ", ".join(f'"{k}"' for k in key)

    @dg.asset_check(
        asset=feed,
        name="keys_unique",
        description=f"自然键唯一 (natural key unique: {', '.join(key)})",
    )
    def keys_unique(bidui: BiduiResource) -> dg.AssetCheckResult:
        with bidui.connect() as con:
            dup_groups, dup_rows, total = con.execute(
                f"""
                SELECT count(*), coalesce(sum(n), 0), (SELECT count(*) FROM "{feed}")
                FROM (SELECT count(*) AS n FROM "{feed}" GROUP BY {key_sql} HAVING n > 1)
                """
            ).fetchone()
        return dg.AssetCheckResult(
            passed=dup_groups == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "key": dg.MetadataValue.json(key),
                "rows": total,
                "duplicate_keys": dup_groups,
                "rows_in_duplicate_keys": int(dup_rows),
            },
        )

    return [arrived_fresh, volume_stable, reject_rate, keys_unique]


@dg.asset_check(
    asset="register",
    name="hukou_match_rate",
    additional_deps=["hukou"],
    description="登记人员证件号码在户籍库中的匹配率 (share of register members found in hukou)",
)
def hukou_match_rate(bidui: BiduiResource) -> dg.AssetCheckResult:
    minimum = _quality(bidui).min_hukou_match_rate
    with bidui.connect() as con:
        members, matched = con.execute(
            """
            WITH y AS (SELECT max(year) AS y FROM register)
            SELECT count(*),
                   count(*) FILTER (r.id_number IN (SELECT id_number FROM hukou))
            FROM register r, y WHERE r.year = y.y AND r.id_type = '居民身份证'
            """
        ).fetchone()
    rate = matched / members if members else None
    return dg.AssetCheckResult(
        passed=rate is not None and rate >= minimum,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "register_members": members,
            "matched_in_hukou": matched,
            "match_rate": round(rate, 4) if rate is not None else None,
            "minimum": minimum,
        },
    )


QUALITY_CHECKS = [c for spec in SPECS.values() for c in build_quality_checks(spec)] + [
    hukou_match_rate
]
