"""Every warehouse table is declared once (warehouse.schema) and created by one
``create_all``; the column lists used elsewhere come from that declaration."""

from __future__ import annotations

import duckdb
import pytest

from department_feeds import SPECS
from rectification.authority import signing_key
from warehouse import connect
from warehouse.schema import ADDED_LATER, TABLES, columns, create_all


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
