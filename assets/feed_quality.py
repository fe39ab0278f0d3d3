"""Feed-quality checks (rules.md §C): about the feeds, for the office, not townships.

Each check tests one property and puts its numbers and threshold in metadata.
The per-feed checks are evaluated in the feed's own asset step (assets/feeds.py) on
its open connection: a step of their own each cost about 0.1 s of Dagster and
connection set-up for a query of a few milliseconds. All are WARN: a bad feed marks its rules unreliable or not run; it does not stop
the night. (The blocking ingest checks live in ``assets/feeds.py``.)
"""

from datetime import date

import dagster as dg
import duckdb

from assets.resources import BiduiResource
from checks.engine import is_stale, max_age_days
from checks.thresholds import FeedQuality, load_thresholds
from core.config import local_time
from department_feeds.spec import FeedSpec


def record_feed_run(
    con: duckdb.DuckDBPyConnection, run_id: str, run_date: date, feed: str, newest_mtime: float
) -> None:
    """Append this run's totals for a feed (the volume check compares with them).
    ``feed_runs`` is a warehouse table (warehouse.schema), made by ``connect``."""
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


def quality_thresholds(bidui: BiduiResource) -> FeedQuality:
    """The run's feed-quality thresholds (its thresholds file, or the defaults)."""
    return load_thresholds(bidui.thresholds or None).feed_quality


def _two_latest_runs(con: duckdb.DuckDBPyConnection, feed: str) -> list[tuple]:
    return con.execute(
        """
        SELECT run_id, rows_read, files, newest_file_mtime FROM feed_runs
        WHERE feed = ? ORDER BY recorded_at DESC LIMIT 2
        """,
        [feed],
    ).fetchall()


def quality_check_specs(spec: FeedSpec) -> list[dg.AssetCheckSpec]:
    """The feed's quality checks, evaluated in its own asset step (see assets/feeds.py)."""
    feed = spec.name
    key = ", ".join(spec.natural_key)
    return [
        dg.AssetCheckSpec(
            "arrived_fresh",
            asset=feed,
            description="数据已收到且未超过更新周期 (feed arrived and is no older than its refresh)",
        ),
        dg.AssetCheckSpec(
            "volume_stable",
            asset=feed,
            description="行数与上次相比变化在阈值内 (rows received within ±20 % of the last load)",
        ),
        dg.AssetCheckSpec(
            "reject_rate",
            asset=feed,
            description="每个文件的拒收率低于阈值 (reject rate per file below the threshold)",
        ),
        dg.AssetCheckSpec(
            "keys_unique",
            asset=feed,
            description=f"自然键唯一 (natural key unique: {key})",
        ),
    ]


def quality_results(
    con: duckdb.DuckDBPyConnection, spec: FeedSpec, q: FeedQuality, run_day: date
) -> list[dg.AssetCheckResult]:
    """One result per check of :func:`quality_check_specs`, on the feed just loaded."""
    runs = _two_latest_runs(con, spec.name)
    return [
        arrived_fresh(spec, q, run_day, runs),
        volume_stable(spec, q, runs),
        reject_rate(con, spec, q),
        keys_unique(con, spec),
    ]


def arrived_fresh(
    spec: FeedSpec, q: FeedQuality, run_day: date, runs: list[tuple]
) -> dg.AssetCheckResult:
    """The feed has files and is no older than its refresh period."""
    feed = spec.name
    max_age = max_age_days(feed, q)
    files = runs[0][2] if runs else 0
    newest = runs[0][3] if runs else None
    # Age against the run date (as the rule engine judges staleness), not the wall clock.
    age_days = (run_day - newest.date()).days if newest else None
    passed = bool(files) and age_days is not None and not is_stale(feed, age_days, q)
    return dg.AssetCheckResult(
        asset_key=feed,
        check_name="arrived_fresh",
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


def volume_stable(spec: FeedSpec, q: FeedQuality, runs: list[tuple]) -> dg.AssetCheckResult:
    """Rows read changed by at most the tolerance since the feed's previous run."""
    tolerance = q.volume_tolerance
    now = runs[0][1] if runs else 0
    before = runs[1][1] if len(runs) > 1 else None
    change = None if not before else (now - before) / before
    passed = now > 0 and (change is None or abs(change) <= tolerance)
    return dg.AssetCheckResult(
        asset_key=spec.name,
        check_name="volume_stable",
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_now": now,
            "rows_last_load": before,
            "change": round(change, 4) if change is not None else None,
            "tolerance": tolerance,
        },
    )


def reject_rate(
    con: duckdb.DuckDBPyConnection, spec: FeedSpec, q: FeedQuality
) -> dg.AssetCheckResult:
    """No file of the feed rejects more than the threshold's share of its rows."""
    limit = q.max_reject_rate
    rows = con.execute(
        """
        SELECT source_file, rows_read, rows_rejected,
               rows_rejected / greatest(rows_read, 1) AS rate
        FROM loads WHERE feed = ? ORDER BY rate DESC
        """,
        [spec.name],
    ).fetchall()
    over = {r[0]: round(r[3], 4) for r in rows if r[3] > limit}
    return dg.AssetCheckResult(
        asset_key=spec.name,
        check_name="reject_rate",
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


def keys_unique(con: duckdb.DuckDBPyConnection, spec: FeedSpec) -> dg.AssetCheckResult:
    """No natural key occurs twice in the feed's table."""
    feed = spec.name
    key = list(spec.natural_key)
    # Identifiers come from the spec (code), never from feed contents.
    key_sql = ", ".join(f'"{k}"' for k in key)
    dup_groups, dup_rows, total = con.execute(
        f"""
        SELECT count(*), coalesce(sum(n), 0), (SELECT count(*) FROM "{feed}")
        FROM (SELECT count(*) AS n FROM "{feed}" GROUP BY {key_sql} HAVING n > 1)
        """
    ).fetchone()
    return dg.AssetCheckResult(
        asset_key=feed,
        check_name="keys_unique",
        passed=dup_groups == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "key": dg.MetadataValue.json(key),
            "rows": total,
            "duplicate_keys": dup_groups,
            "rows_in_duplicate_keys": int(dup_rows),
        },
    )


@dg.asset_check(
    asset="register",
    name="hukou_match_rate",
    additional_deps=["hukou"],
    description="登记人员证件号码在户籍库中的匹配率 (share of register members found in hukou)",
)
def hukou_match_rate(bidui: BiduiResource) -> dg.AssetCheckResult:
    minimum = quality_thresholds(bidui).min_hukou_match_rate
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


QUALITY_CHECKS = [hukou_match_rate]
"""Quality checks with a step of their own (the per-feed ones run in the feed's step)."""
