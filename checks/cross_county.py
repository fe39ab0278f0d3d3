"""The prefecture layer's queries: what a county exports, and the other counties' rows
as views for the cross-county rules (issue 14, :mod:`checks.rules.cross_county`).

A county run exports twice to ``<prefecture_dir>/county=<c>/`` (:mod:`warehouse.export`):

- after its feeds (``county_export``): :func:`export_queries` — the working year's
  register (valid ID numbers: ID, name, place, household, kind) and the department
  feeds the cross-county matches read (vehicles, property, business, tax,
  social_insurance), their valid-ID rows with the county's working year;
- after its night (``county_results``): :func:`results_queries` — findings (no
  names or numbers), the latest ``rule_runs``, feed status, rectification progress
  and a one-row summary (members, households), for the prefecture report.

:func:`attach_other_counties` then copies, on a county's engine connection, the
other counties' rows of its own register's people into temp tables (``bd_xc_<table>``)
and makes one temp view per exported table over them. A view's name is what
the engine prints when a rule cannot run (``外县机动车登记信息没有2025年度的记录``),
so the names are Chinese. Department views hold one row per record over all other
counties, with ``in_own_feed`` set when the county's own feed holds it too (a
prefecture-wide export copied into every county): the rules leave those to the
county's own rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from checks.engine import feed_availability, is_stale
from checks.thresholds import FeedQuality
from department_feeds import SPECS
from rectification.status import LATEST_RESPONSES_SQL
from warehouse.export import (
    county_dir,
    county_dirs,
    read_manifest,
    read_parquet_sql,
    resolve_key,
    use_parquet_key,
)

log = logging.getLogger("bidui.prefecture")

CROSS_FEEDS = ("vehicles", "property", "business", "tax", "social_insurance")
"""Department feeds the cross-county matches read from the other counties."""
OTHER_PREFIX = "外县"
XC_VIEWS: dict[str, str] = {
    "register": f"{OTHER_PREFIX}建档立卡人口信息",
    **{f: OTHER_PREFIX + SPECS[f].title_zh for f in CROSS_FEEDS},
}
"""Exported table → the temp view of the other counties' rows (a quoted identifier)."""

REGISTER_EXPORT_COLUMNS = (
    ("year", "INTEGER"),
    ("id_number", "VARCHAR"),
    ("name", "VARCHAR"),
    ("county", "VARCHAR"),
    ("township", "VARCHAR"),
    ("village", "VARCHAR"),
    ("household_id", "VARCHAR"),
    ("kind", "VARCHAR"),
)
"""The register as exported: the working year's members with a valid ID number.
``kind``: 监测对象类别, else 户类型, else 户状态 (either generation of the export)."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _feed_columns(feed: str) -> list[tuple[str, str]]:
    """(field, DuckDB type) of a feed's typed columns, without raw values and problems."""
    return [(c.field, c.duckdb_type) for c in SPECS[feed].columns]


def export_queries(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Table → SELECT of the county's feed export (see module docstring)."""
    have = {
        r[0] for r in con.execute("SELECT DISTINCT table_name FROM duckdb_columns()").fetchall()
    }
    reg_cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'register'"
        ).fetchall()
    }
    kind_parts = [
        c for c in ("monitoring_category", "household_kind", "household_status") if c in reg_cols
    ]
    kind = f"coalesce({', '.join(kind_parts)})" if kind_parts else "NULL"
    out = {
        "register": f"""
            SELECT year, id_number, name, county, township, village, household_id,
                   CAST({kind} AS VARCHAR) AS kind
            FROM register
            WHERE year = (SELECT max(year) FROM register)
              AND id_number_problem IS NULL AND id_number IS NOT NULL
        """
    }
    for feed in CROSS_FEEDS:
        if feed not in have:
            continue
        idc = SPECS[feed].join_id
        cols = ", ".join(_q(c) for c, _ in _feed_columns(feed))
        out[feed] = f"""
            SELECT (SELECT max(year) FROM register) AS working_year, {cols}
            FROM {_q(feed)} WHERE {_q(idc + "_problem")} IS NULL AND {_q(idc)} IS NOT NULL
        """
    return out


# --------------------------------------------------------------------------- results


def _materialise_feed_status(
    con: duckdb.DuckDBPyConnection, run_date: date, quality: FeedQuality | None
) -> None:
    why = feed_availability(con, run_date, quality)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE bd_xc_feed_status (feed VARCHAR, title VARCHAR, "
        "usable BOOLEAN, stale BOOLEAN, reason VARCHAR, newest DATE, age_days INTEGER)"
    )
    newest = dict(
        con.execute(
            "SELECT feed, max(modified_at)::DATE FROM loads WHERE status = 'loaded' GROUP BY feed"
        ).fetchall()
    )
    rows = []
    for feed, reason in why.items():
        n = newest.get(feed)
        age = (run_date - n).days if n else None
        rows.append(
            [
                feed,
                SPECS[feed].title_zh if feed in SPECS else feed,
                reason is None,
                is_stale(feed, age, quality),
                reason,
                n,
                age,
            ]
        )
    con.executemany("INSERT INTO bd_xc_feed_status VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def results_queries(
    con: duckdb.DuckDBPyConnection, run_date: date, quality: FeedQuality | None = None
) -> dict[str, str]:
    """Table → SELECT of the county's night results (for the prefecture report).

    Materialises the feed status in a temp table of ``con`` first. No names or ID
    numbers leave in these tables; ``other_county`` is the county a cross-county
    finding names (its evidence starts with ``【<county>】``)."""
    _materialise_feed_status(con, run_date, quality)
    return {
        "findings": """
            SELECT problem_id, rule_code, rule_name_zh, category, severity, year, township,
                   status, first_seen, due_date, run_date,
                   nullif(regexp_extract(evidence, '^【([^】]+)】', 1), '') AS other_county
            FROM findings
        """,
        "rule_runs": """
            SELECT run_date, rule_code, ran, reason, finding_count FROM rule_runs
            WHERE run_date = (SELECT max(run_date) FROM rule_runs)
        """,
        "feed_status": "SELECT * FROM bd_xc_feed_status",
        "progress": f"""
            WITH r AS ({LATEST_RESPONSES_SQL})
            SELECT count(*) FILTER (WHERE f.status <> 'waived') AS open,
                   count(r.problem_id) FILTER (WHERE f.status <> 'waived') AS answered,
                   count(*) FILTER (WHERE f.status <> 'waived'
                                      AND r.rectification = '已整改') AS reported,
                   count(*) FILTER (WHERE f.status <> 'waived'
                                      AND r.rectification = '整改中') AS in_progress,
                   count(*) FILTER (WHERE f.status = 'waived') AS waived,
                   (SELECT count(*) FROM finding_history WHERE status = 'resolved')
                       AS rectified_total
            FROM findings f LEFT JOIN r USING (problem_id)
        """,
        "summary": """
            SELECT (SELECT max(year) FROM register) AS working_year,
                   count(*) AS members, count(DISTINCT household_id) AS households,
                   (SELECT count(*) FROM findings) AS findings,
                   CAST($run_date AS DATE) AS run_date,
                   (SELECT min(county) FROM register
                    WHERE year = (SELECT max(year) FROM register)) AS county_name
            FROM register WHERE year = (SELECT max(year) FROM register)
        """.replace("$run_date", f"'{run_date.isoformat()}'"),
    }


# --------------------------------------------------------------------------- reading


@dataclass
class OtherCounties:
    """What :func:`attach_other_counties` found."""

    county: str
    counties: list[str] = field(default_factory=list)
    """Other counties whose exports the views read."""
    missing: dict[str, str] = field(default_factory=dict)
    """Other county → why its export is not read (Chinese)."""
    rows: dict[str, int] = field(default_factory=dict)
    """View (exported table) → rows visible."""


def _empty_select(table: str, local_cols: list[tuple[str, str]]) -> str:
    cols = ", ".join(f"NULL::{t} AS {_q(c)}" for c, t in local_cols)
    return f"SELECT NULL::VARCHAR AS src_county, {cols} WHERE false"


def _export_columns(table: str) -> list[tuple[str, str]]:
    if table == "register":
        return list(REGISTER_EXPORT_COLUMNS)
    return [("working_year", "INTEGER"), *_feed_columns(table)]


def _readable(con: duckdb.DuckDBPyConnection, path: Path, encrypted: bool) -> str | None:
    """None when ``path`` can be read with this configuration, else why not."""
    try:
        con.execute(f"SELECT count(*) FROM {read_parquet_sql([path], encrypted)}").fetchall()
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0]
        if "encrypt" in text.lower() or "right key" in text or "AES" in text:
            return f"导出文件无法解密（密钥不一致或未配置）：{path.name}"
        return f"导出文件无法读取：{path.name}（{text}）"
    return None


def attach_other_counties(
    con: duckdb.DuckDBPyConnection,
    prefecture_dir: str | Path,
    county: str,
    key: str | None | bool = True,
) -> OtherCounties:
    """Create the temp views of :data:`XC_VIEWS` over the other counties' exports
    (their rows of people in this county's register, copied into temp tables).

    Always creates every view (empty, typed, when no other county has exported that
    table), so the engine's year check reads "外县…没有Y年度的记录" instead of failing.
    ``key``: True = the configured warehouse key (``warehouse_key()``), else that key
    or None. A county whose folder holds no export, or whose files cannot be read (a
    different key), is listed in ``missing`` and left out.
    """
    key_text = resolve_key(key)
    use_parquet_key(con, key_text)
    own = county_dir(prefecture_dir, county).name
    out = OtherCounties(county)
    files: dict[str, list[Path]] = {t: [] for t in XC_VIEWS}
    encrypted_by: dict[str, bool] = {}
    for other, folder in county_dirs(prefecture_dir).items():
        if folder.name == own:
            continue
        manifest = read_manifest(folder)
        if not manifest:
            out.missing[other] = "尚无导出数据"
            continue
        encrypted = bool(manifest.get("encrypted"))
        if encrypted and key_text is None:
            out.missing[other] = "导出数据已加密，本县未配置密钥"
            continue
        present = {
            t: folder / f"{t}.parquet" for t in XC_VIEWS if (folder / f"{t}.parquet").exists()
        }
        if not present:
            out.missing[other] = "尚无导出数据"
            continue
        why = _readable(con, next(iter(present.values())), encrypted)
        if why:
            out.missing[other] = why
            continue
        out.counties.append(other)
        encrypted_by[other] = encrypted
        for t, p in present.items():
            files[t].append(p)
    ids = _OWN_IDS
    for table, view in XC_VIEWS.items():
        cols = _export_columns(table)
        rows_table = _q(f"bd_xc_{table}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {rows_table} AS {_empty_select(table, cols)}")
        idc = "id_number" if table == "register" else SPECS[table].join_id
        for path in files[table]:
            src = read_parquet_sql([path], encrypted_by[_county_of(path)])
            have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
            names = ", ".join(_q(c) for c in ["src_county", *(c for c, _ in cols)] if c in have)
            # One county file at a time (their columns may differ: an older export),
            # only the county's own people kept.
            con.execute(
                f"INSERT INTO {rows_table} BY NAME SELECT {names} FROM {src} "
                f"WHERE {_q(idc)} IN ({ids})"
            )
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS {_view_sql(table, rows_table)}")
        out.rows[table] = con.execute(f"SELECT count(*) FROM {_q(view)}").fetchone()[0]
    log.info(
        "county %s: other counties read %s, not read %s, rows %s",
        county,
        out.counties,
        out.missing,
        out.rows,
    )
    return out


def _county_of(path: Path) -> str:
    return path.parent.name.split("=", 1)[1]


_OWN_IDS = (
    "SELECT id_number FROM register WHERE id_number_problem IS NULL AND id_number IS NOT NULL"
)
"""The county's register ID numbers (any year): the only people whose records in the
other counties its rules can match."""


def _view_sql(table: str, source: str) -> str:
    """The other counties' rows of ``table``; for a department feed one row per record
    (first county by name), ``in_own_feed`` when the county's own feed holds it too."""
    if table == "register":
        return f"SELECT * FROM {source} o WHERE o.id_number IS NOT NULL"
    spec = SPECS[table]
    idc = spec.join_id
    keys = list(dict.fromkeys([idc, *spec.natural_key]))
    same = " AND ".join(f"l.{_q(k)} IS NOT DISTINCT FROM o.{_q(k)}" for k in keys)
    part = ", ".join(f"o.{_q(k)}" for k in keys)
    return f"""
        SELECT o.*, EXISTS (SELECT 1 FROM {_q(table)} l
                            WHERE l.{_q(idc + "_problem")} IS NULL AND {same}) AS in_own_feed
        FROM {source} o
        WHERE o.{_q(idc)} IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY o.src_county) = 1
    """
