"""Ingest of a generated county (tests/e2e/conftest.py ``small_county``): invariants only."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from department_feeds import FEEDS
from tests.feeds_fixtures import query
from warehouse import connect, load_all


@pytest.fixture(scope="module")
def loaded(small_county: Path, tmp_path_factory):
    con = connect(tmp_path_factory.mktemp("wh") / "warehouse.duckdb")
    results = load_all(con, small_county / "inbox")
    yield con, results
    con.close()


def test_every_file_loads_and_balances(loaded):
    con, results = loaded
    assert set(results) == set(FEEDS)
    for feed, result in results.items():
        assert result.files, feed
        assert not result.failed, [(f.source_file, f.error) for f in result.failed]
        assert result.rows_loaded > 0, feed
    assert query(con, "SELECT * FROM loads WHERE rows_read <> rows_loaded + rows_rejected") == []
    assert query(con, "SELECT * FROM loads WHERE status <> 'loaded'") == []
    # Every reject has both languages and a place.
    assert (
        query(
            con,
            "SELECT * FROM rejects WHERE reason_zh IS NULL OR reason_en IS NULL "
            "OR row_number IS NULL OR sheet IS NULL",
        )
        == []
    )


def test_injected_bad_ids_are_flagged_and_messy_ids_recovered(loaded, small_county):
    con, _ = loaded
    with (small_county / "truth.csv").open(encoding="utf-8-sig") as f:
        truth = [r for r in csv.DictReader(f) if r["rule_code"] == "id_invalid"]
    assert truth
    for t in truth:
        rows = query(
            con,
            "SELECT id_number_problem FROM register WHERE household_id = ? AND name = ? "
            "AND year = (SELECT max(year) FROM register)",  # injected in the working year
            [t["household_id"], t["name"]],
        )
        assert rows and all(r["id_number_problem"] for r in rows), t
    # Damaged but recoverable numbers (full-width, x, spaces, 15 digits) were normalised.
    recovered = query(
        con,
        "SELECT count(*) n FROM register WHERE id_number_problem IS NULL "
        "AND id_number <> id_number_raw",
    )[0]["n"]
    assert recovered > 0


def test_reload_is_a_no_op(loaded, small_county):
    con, _ = loaded
    before = query(
        con, "SELECT feed, count(*) n, sum(rows_loaded) r FROM loads GROUP BY 1 ORDER BY 1"
    )
    again = load_all(con, small_county / "inbox")
    assert not any(r.changed for r in again.values())
    after = query(
        con, "SELECT feed, count(*) n, sum(rows_loaded) r FROM loads GROUP BY 1 ORDER BY 1"
    )
    assert after == before
