"""Every warehouse table is declared once (warehouse.schema) and created by one
``create_all``; the column lists used elsewhere come from that declaration."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from assets.outputs import REJECTS_CSV_COLUMNS
from checks.engine import PROBLEMS_CSV_COLUMNS
from department_feeds import SPECS
from department_feeds.loader import REJECT_SCHEMA
from rectification.authority import signing_key
from warehouse import connect
from warehouse.schema import (
    ADDED_LATER,
    FINDINGS,
    PROBLEMS_CSV,
    TABLES,
    columns,
    create_all,
    insert_sql,
)

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = (
    *("core", "department_feeds", "warehouse", "rectification", "checks", "publishing"),
    *("assets", "pipelines", "demo"),
)
# Declares its own table still; the lead moves it to warehouse.schema.FEED_RUNS.
PENDING = {"assets/feed_quality.py"}


def described(con, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f'DESCRIBE "{table}"').fetchall()]


def test_create_all_creates_every_declared_table_as_declared(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    create_all(con)
    create_all(con)  # idempotent
    for table, cols in TABLES.items():
        got = described(con, table)
        assert [c for c, _ in got] == [c for c, _ in cols], table
        assert [t for _, t in got] == [t.split()[0] for _, t in cols], table
    for feed in SPECS:
        assert described(con, feed) and described(con, f"raw_{feed}")
    con.close()


def test_older_warehouses_get_the_columns_added_later(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    for table, added in ADDED_LATER.items():
        cols = ", ".join(f'"{c}" {t}' for c, t in TABLES[table] if c not in added)
        con.execute(f'CREATE TABLE "{table}" ({cols})')
    create_all(con)
    for table in ADDED_LATER:
        assert [c for c, _ in described(con, table)] == list(columns(table))
    con.close()


def test_derived_column_lists():
    assert columns("rejects") == columns("load_warnings") == tuple(REJECT_SCHEMA)
    assert columns("rejects")[1:] == REJECTS_CSV_COLUMNS
    assert FINDINGS[: len(PROBLEMS_CSV)] == PROBLEMS_CSV
    assert tuple(c for c, _ in PROBLEMS_CSV) == PROBLEMS_CSV_COLUMNS
    assert columns("finding_history_before") == ("before_run", *columns("finding_history"))
    assert insert_sql("waivers") == (
        "INSERT INTO waivers (problem_id, accepted_by, accepted_on, reason, response_note) "
        "VALUES (?, ?, ?, ?, ?)"
    )


def test_no_table_is_declared_outside_the_schema():
    create = re.compile(r"CREATE\s+(OR\s+REPLACE\s+)?TABLE", re.IGNORECASE)
    offenders = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "warehouse/schema.py" or rel in PENDING:
                continue
            # (Temporary tables of one run, CREATE TEMP TABLE, are not warehouse tables.)
            if create.search(path.read_text(encoding="utf-8")):
                offenders.append(rel)
    assert offenders == []


def test_the_signing_key_is_created_when_first_needed(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        assert con.execute("SELECT count(*) FROM bidui_secrets").fetchone() == (0,)
    with connect(path, read_only=True) as ro, pytest.raises(LookupError, match="read-only"):
        signing_key(ro)
    with connect(path) as con:
        key = signing_key(con)
        assert len(key) == 32 and signing_key(con) == key
    with connect(path, read_only=True) as ro:
        assert signing_key(ro) == key
