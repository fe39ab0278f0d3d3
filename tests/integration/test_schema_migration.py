"""A warehouse created before a feed gained columns gets them on the next connect."""

from __future__ import annotations

import duckdb

from department_feeds import SPECS
from warehouse import connect
from warehouse.schema import feed_migrations


def test_an_old_register_table_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    # The register table as an older release created it: no monitoring columns.
    old.execute(
        "CREATE TABLE register (load_id VARCHAR, source_file VARCHAR, year INTEGER, "
        "household_id VARCHAR, id_number VARCHAR, name VARCHAR)"
    )
    old.execute("INSERT INTO register VALUES ('l1', 'a.xlsx', 2020, 'H1', '1', '张三')")
    old.close()

    with connect(path) as con:
        have = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'register'"
            ).fetchall()
        }
        wanted = {c for c, _ in SPECS["register"].normalised_columns()}
        assert wanted <= have, sorted(wanted - have)
        assert "monitoring_category" in have
        # The old row is kept; its new columns are NULL.
        assert con.execute("SELECT name, monitoring_category FROM register").fetchall() == [
            ("张三", None)
        ]
        assert feed_migrations(con) == []  # nothing left to add
