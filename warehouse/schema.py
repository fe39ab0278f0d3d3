"""Every warehouse table, declared once (docs/warehouse.md is the prose).

A table is its name and its ordered ``(column, type)`` pairs in :data:`TABLES`;
:func:`create_all` creates every table that is missing and adds the columns of
:data:`ADDED_LATER` to warehouses created before them. Column lists used
elsewhere (``problems.csv``, ``rejects.csv``, INSERT statements) are derived
from here with :func:`columns` and :func:`insert_sql`.

Two shapes come from the layer below: the feed tables (``raw_<feed>`` and
``<feed>``) from each feed's :class:`~department_feeds.spec.FeedSpec`, and the
row of ``rejects`` / ``load_warnings`` from the loader that produces those rows
(:data:`department_feeds.loader.REJECT_SCHEMA`).
"""

from __future__ import annotations

import duckdb
import polars as pl

from department_feeds import SPECS
from department_feeds.loader import REJECT_SCHEMA
from department_feeds.spec import FeedSpec

Columns = tuple[tuple[str, str], ...]

_SQL_TYPES = {pl.String: "VARCHAR", pl.Int32: "INTEGER"}


def _from_polars(schema: dict[str, pl.DataType]) -> Columns:
    return tuple((name, _SQL_TYPES[dtype]) for name, dtype in schema.items())


# --- ingest (warehouse.ingest, rectification.feedback) ----------------------------------

LOADS: Columns = (
    ("load_id", "VARCHAR PRIMARY KEY"),
    ("feed", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("checksum", "VARCHAR"),
    ("size_bytes", "BIGINT"),
    ("modified_at", "TIMESTAMP"),
    ("loaded_at", "TIMESTAMP"),
    ("encoding", "VARCHAR"),
    ("sheets", "VARCHAR"),
    ("header_row", "INTEGER"),
    ("header_mapping", "JSON"),
    ("missing_required", "JSON"),
    ("rows_read", "INTEGER"),
    ("rows_loaded", "INTEGER"),
    ("rows_rejected", "INTEGER"),
    ("status", "VARCHAR"),
    ("error", "VARCHAR"),
)
REJECTS: Columns = _from_polars(REJECT_SCHEMA)
"""One row per input row (or file, or returned-list field) not used; ``load_warnings`` alike."""
INBOX_UNREAD: Columns = (
    ("path", "VARCHAR"),
    ("reason_zh", "VARCHAR"),
    ("reason_en", "VARCHAR"),
    ("seen_at", "TIMESTAMP"),
)

FEED_RUNS: Columns = (
    # One line per feed and run: the volume and freshness checks (assets.feed_quality).
    ("run_id", "VARCHAR"),
    ("run_date", "DATE"),
    ("feed", "VARCHAR"),
    ("files", "INTEGER"),
    ("rows_read", "BIGINT"),
    ("rows_loaded", "BIGINT"),
    ("rows_rejected", "BIGINT"),
    ("newest_file_mtime", "TIMESTAMP"),
    ("recorded_at", "TIMESTAMP DEFAULT current_timestamp"),
)

# --- rule engine (checks.engine) ---------------------------------------------------------

PROBLEMS_CSV: Columns = (
    ("problem_id", "VARCHAR"),
    ("rule_code", "VARCHAR"),
    ("category", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("year", "INTEGER"),
    ("county", "VARCHAR"),
    ("township", "VARCHAR"),
    ("village", "VARCHAR"),
    ("village_group", "VARCHAR"),
    ("household_id", "VARCHAR"),
    ("id_number", "VARCHAR"),
    ("name", "VARCHAR"),
    ("department", "VARCHAR"),
    ("description", "VARCHAR"),
    ("evidence", "VARCHAR"),
    ("first_seen", "DATE"),
    ("status", "VARCHAR"),
)
"""The contract columns of ``problems.csv`` (outputs.md §2): the first columns of ``findings``."""
FINDINGS: Columns = (
    *PROBLEMS_CSV,
    # What the problem lists need beside the contract (docs/warehouse.md).
    ("head_name", "VARCHAR"),
    ("rule_name_zh", "VARCHAR"),
    ("requirement_zh", "VARCHAR"),
    ("due_date", "DATE"),
    ("run_date", "DATE"),
    ("standing", "VARCHAR"),  # 是否在册, early-warning findings only (monitoring.md §5)
)
FINDING_HISTORY: Columns = (
    ("problem_id", "VARCHAR"),
    ("rule_code", "VARCHAR"),
    ("township", "VARCHAR"),
    ("village", "VARCHAR"),
    ("household_id", "VARCHAR"),
    ("id_number", "VARCHAR"),
    ("first_seen", "DATE"),
    ("last_seen", "DATE"),
    ("resolved_on", "DATE"),
    ("times_reopened", "INTEGER"),
    ("status", "VARCHAR"),  # derived by rectification.status, never by the engine
)
RULE_RUNS: Columns = (
    ("run_date", "DATE"),
    ("rule_code", "VARCHAR"),
    ("ran", "BOOLEAN"),
    ("reason", "VARCHAR"),
    ("finding_count", "INTEGER"),
    ("duration_ms", "DOUBLE"),
    ("thresholds", "JSON"),
)

# --- rectification loop (rectification.feedback / status / authority) --------------------

WAIVERS: Columns = (
    ("problem_id", "VARCHAR PRIMARY KEY"),
    ("accepted_by", "VARCHAR NOT NULL"),
    ("accepted_on", "DATE NOT NULL"),
    ("reason", "VARCHAR"),
    ("response_note", "VARCHAR"),
)
FEEDBACK_FILES: Columns = (
    ("load_id", "VARCHAR PRIMARY KEY"),
    ("source_file", "VARCHAR"),
    ("checksum", "VARCHAR UNIQUE"),
    ("size_bytes", "BIGINT"),
    ("modified_at", "TIMESTAMP"),
    ("loaded_at", "TIMESTAMP"),
    ("sheets", "VARCHAR"),  # JSON list of the sheets read as problem lists
    ("rows_read", "INTEGER"),  # = rows_accepted + rows_rejected + rows_not_filled
    ("rows_accepted", "INTEGER"),  # including rows with some fields rejected
    ("rows_rejected", "INTEGER"),
    ("rows_not_filled", "INTEGER"),
    ("edits_ignored", "INTEGER"),  # cells of pipeline columns that differed from the warehouse
    # loaded | unverified | failed | encrypted | too_large | too_many_rows | no_list | unsupported
    ("status", "VARCHAR"),
    ("error", "VARCHAR"),
    ("fields_rejected", "INTEGER"),  # fill-in fields not taken (their rows count as accepted)
    ("county", "VARCHAR"),  # from the verified marker; NULL when unverified
    ("township", "VARCHAR"),
    ("marker_run_date", "DATE"),
    ("rows_unchanged", "INTEGER"),  # of rows_not_filled: the carried answer returned as it was
)
FEEDBACK_RESPONSES: Columns = (
    ("problem_id", "VARCHAR"),
    ("township", "VARCHAR"),
    ("village", "VARCHAR"),
    ("verification", "VARCHAR"),  # 核实结果: 属实 / 不属实 / 部分属实 / NULL
    ("rectification", "VARCHAR"),  # 整改情况: 已整改 / 整改中 / 无需整改 / NULL
    ("note", "VARCHAR"),  # 整改说明
    ("verifier", "VARCHAR"),  # 核实人
    ("verified_on", "DATE"),  # 核实日期
    ("source_file", "VARCHAR"),
    ("sheet", "VARCHAR"),
    ("row_number", "INTEGER"),
    ("checksum", "VARCHAR"),  # links a response to its file in feedback_files
    ("loaded_at", "TIMESTAMP"),
    # 核实结论 of a 监测预警核实清单 (rectification.form.CONCLUSION_VALUES); its 走访日期
    # is verified_on, 说明 note, 核实人 verifier. NULL on 问题清单 answers.
    ("conclusion", "VARCHAR"),
)
FEEDBACK_ISSUES: Columns = (
    ("load_id", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("sheet", "VARCHAR"),
    ("row_number", "INTEGER"),
    ("problem_id", "VARCHAR"),
    ("column_name", "VARCHAR"),
    ("raw_value", "VARCHAR"),  # what the file says
    ("expected_value", "VARCHAR"),  # what the warehouse says
    ("reason_zh", "VARCHAR"),
    ("reason_en", "VARCHAR"),
    ("checksum", "VARCHAR"),
    ("loaded_at", "TIMESTAMP"),
)
FEEDBACK_FIELD_REJECTS: Columns = (
    # One line per fill-in field not taken from a row of the township's own problem.
    ("load_id", "VARCHAR"),
    ("problem_id", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("sheet", "VARCHAR"),
    ("row_number", "INTEGER"),
    ("column_name", "VARCHAR"),
    ("raw_value", "VARCHAR"),
    ("note_zh", "VARCHAR"),  # short, for the township's list: 核实日期“…”晚于报送日期，未采用
    ("reason_zh", "VARCHAR"),
    ("reason_en", "VARCHAR"),
    ("row_accepted", "BOOLEAN"),  # the rest of the row was stored in feedback_responses
    ("checksum", "VARCHAR"),
    ("loaded_at", "TIMESTAMP"),
)
SECRETS: Columns = (
    ("name", "VARCHAR PRIMARY KEY"),
    ("value", "VARCHAR NOT NULL"),
)
"""The workbook signing key lives here (created when first needed: rectification.authority)."""

TABLES: dict[str, Columns] = {
    "loads": LOADS,
    "rejects": REJECTS,
    "inbox_unread": INBOX_UNREAD,
    "load_warnings": REJECTS,
    "feed_runs": FEED_RUNS,
    "findings": FINDINGS,
    "finding_history": FINDING_HISTORY,
    # finding_history as it was before the last night's first run (same-night re-runs).
    "finding_history_before": (("before_run", "DATE"), *FINDING_HISTORY),
    "rule_runs": RULE_RUNS,
    "waivers": WAIVERS,
    "feedback_files": FEEDBACK_FILES,
    "feedback_responses": FEEDBACK_RESPONSES,
    "feedback_issues": FEEDBACK_ISSUES,
    "feedback_field_rejects": FEEDBACK_FIELD_REJECTS,
    "bidui_secrets": SECRETS,
}
"""Every table that is not a feed table: name → ordered (column, type)."""

ADDED_LATER: dict[str, tuple[str, ...]] = {
    "rule_runs": ("thresholds",),
    "findings": ("standing",),
    "feedback_responses": ("conclusion",),
    "feedback_files": (
        "fields_rejected",
        "county",
        "township",
        "marker_run_date",
        "rows_unchanged",
    ),
}
"""Columns added after the first release; older warehouses get them from create_all."""


def columns(table: str) -> tuple[str, ...]:
    """The column names of a declared table, in order."""
    return tuple(c for c, _ in TABLES[table])


def insert_sql(table: str, names: tuple[str, ...] | None = None) -> str:
    """``INSERT INTO <table> (<every column>) VALUES (?, …)`` for a declared table
    (or only the columns ``names``, the others left NULL)."""
    names = columns(table) if names is None else names
    assert set(names) <= set(columns(table)), set(names) - set(columns(table))
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


def _table_ddl(name: str, cols: Columns) -> str:
    body = ",\n    ".join(f'"{c}" {t}' for c, t in cols)
    return f'CREATE TABLE IF NOT EXISTS "{name}" (\n    {body}\n)'


def feed_ddl(spec: FeedSpec) -> list[str]:
    """CREATE statements for a feed's raw and normalised tables."""
    return [
        _table_ddl(f"raw_{spec.name}", spec.raw_columns()),
        _table_ddl(spec.name, spec.normalised_columns()),
    ]


def _compat_ddl(table: str) -> list[str]:
    types = dict(TABLES[table])
    return [
        f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{c}" {types[c]}'
        for c in ADDED_LATER.get(table, ())
    ]


def create_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create one declared table if it does not exist, with its later columns."""
    con.execute(_table_ddl(table, TABLES[table]))
    for stmt in _compat_ddl(table):
        con.execute(stmt)


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table that does not exist yet (idempotent); ``warehouse.connect``
    calls it on every read-write connection.

    One catalogue query first: on a warehouse that has everything (every connection
    but the first) no DDL runs at all; ~45 ``CREATE … IF NOT EXISTS`` took ~70 ms."""
    have = _existing_columns(con)
    for table, cols in TABLES.items():
        if table not in have:
            create_table(con, table)
            have[table] = {c for c, _ in cols}
            continue
        types = dict(cols)
        for c in ADDED_LATER.get(table, ()):
            if c not in have[table]:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{c}" {types[c]}')
    for spec in SPECS.values():
        for stmt, (table, cols) in zip(feed_ddl(spec), _feed_tables(spec), strict=True):
            if table not in have:
                con.execute(stmt)
                have[table] = {c for c, _ in cols}
    for stmt in _feed_migrations(have):
        con.execute(stmt)


def _feed_tables(spec: FeedSpec) -> list[tuple[str, Columns]]:
    """A feed's tables and their columns, in the order of :func:`feed_ddl`."""
    return [(f"raw_{spec.name}", spec.raw_columns()), (spec.name, spec.normalised_columns())]


def _existing_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Table → its column names, in the connection's current database (schema main)."""
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall():
        have.setdefault(table, set()).add(column)
    return have


def feed_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``ALTER TABLE … ADD COLUMN`` for every spec column a feed table lacks.

    A warehouse created before a feed gained columns (the monitoring columns of
    today's register export) gets them as NULL; the loader version makes the
    files be read again, so the values follow. One catalogue query, not one ALTER
    per column per connection."""
    return _feed_migrations(_existing_columns(con))


def _feed_migrations(have: dict[str, set[str]]) -> list[str]:
    stmts = []
    for spec in SPECS.values():
        for table, cols in _feed_tables(spec):
            stmts += [
                f'ALTER TABLE "{table}" ADD COLUMN "{c}" {t}'
                for c, t in cols
                if c not in have.get(table, set())
            ]
    return stmts
