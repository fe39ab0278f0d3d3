"""Warehouse DDL, derived from the feed specs (docs/warehouse.md is the prose)."""

from __future__ import annotations

import duckdb

from department_feeds import SPECS
from department_feeds.spec import FeedSpec
from rectification.authority import ensure_signing_key

BOOKKEEPING_DDL = """
CREATE TABLE IF NOT EXISTS loads (
    load_id VARCHAR PRIMARY KEY, feed VARCHAR, source_file VARCHAR, checksum VARCHAR,
    size_bytes BIGINT, modified_at TIMESTAMP, loaded_at TIMESTAMP, encoding VARCHAR,
    sheets VARCHAR, header_row INTEGER, header_mapping JSON, missing_required JSON,
    rows_read INTEGER, rows_loaded INTEGER, rows_rejected INTEGER, status VARCHAR, error VARCHAR
);
CREATE TABLE IF NOT EXISTS rejects (
    load_id VARCHAR, feed VARCHAR, source_file VARCHAR, sheet VARCHAR, row_number INTEGER,
    column_name VARCHAR, raw_value VARCHAR, reason_zh VARCHAR, reason_en VARCHAR
);
CREATE TABLE IF NOT EXISTS inbox_unread (
    path VARCHAR, reason_zh VARCHAR, reason_en VARCHAR, seen_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS load_warnings (
    load_id VARCHAR, feed VARCHAR, source_file VARCHAR, sheet VARCHAR, row_number INTEGER,
    column_name VARCHAR, raw_value VARCHAR, reason_zh VARCHAR, reason_en VARCHAR
);
"""


def _table_ddl(name: str, columns: list[tuple[str, str]]) -> str:
    body = ",\n    ".join(f'"{c}" {t}' for c, t in columns)
    return f'CREATE TABLE IF NOT EXISTS "{name}" (\n    {body}\n)'


def feed_ddl(spec: FeedSpec) -> list[str]:
    """CREATE statements for a feed's raw and normalised tables."""
    return [
        _table_ddl(f"raw_{spec.name}", spec.raw_columns()),
        _table_ddl(spec.name, spec.normalised_columns()),
    ]


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table that does not exist yet (idempotent)."""
    con.execute(BOOKKEEPING_DDL)
    for spec in SPECS.values():
        for stmt in feed_ddl(spec):
            con.execute(stmt)
    ensure_signing_key(con)
