"""One time zone (``BIDUI_TIMEZONE``, default Asia/Shanghai) for every date shown (issue 13 item 7).

The server runs in UTC. Just after midnight in Shanghai it is still the day before in
UTC: the report said "生成于 2026-11-29" under run date 2026-11-30, and a file copied
into the inbox a minute earlier showed as "1 天前".
"""

from __future__ import annotations

import datetime as dt
import os
import time

import duckdb
import pytest

from assets.feed_quality import record_feed_run
from core import config
from publishing.report import render_report
from tests.feeds_fixtures import sample_rows, write_csv
from warehouse import connect, load_feed

# 00:05 on 30 November in Shanghai is 16:05 on 29 November in UTC.
CLOCK_UTC = dt.datetime(2026, 11, 29, 16, 5, tzinfo=dt.UTC)


@pytest.fixture
def server_in_utc(monkeypatch):
    """A machine whose own zone is UTC, a clock just after midnight Shanghai time."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.delenv("BIDUI_TIMEZONE", raising=False)
    monkeypatch.setattr(config, "_utc_now", lambda: CLOCK_UTC)
    yield
    monkeypatch.undo()
    time.tzset()


def test_report_after_midnight_shows_the_office_date_and_a_fresh_file(server_in_utc, tmp_path):
    inbox = tmp_path / "inbox"
    f = write_csv(inbox / "tax" / "tax.csv", sample_rows("tax"))
    written = CLOCK_UTC.timestamp() - 60  # a minute ago
    os.utime(f, (written, written))
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        load_feed(con, "tax", inbox)
        record_feed_run(con, "run-1", config.today(), "tax", written)  # the freshness check's
        modified, loaded = con.execute("SELECT modified_at, loaded_at FROM loads").fetchone()
        newest = con.execute("SELECT newest_file_mtime FROM feed_runs").fetchone()[0]
    finally:
        con.close()
    assert modified == newest == dt.datetime(2026, 11, 30, 0, 4)
    assert loaded.date() == dt.date(2026, 11, 30)

    run_date = config.today()
    out = tmp_path / "report.html"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as ro:
        render_report(ro, run_date, out)
    html = out.read_text(encoding="utf-8")
    assert "生成于 2026-11-30 00:05" in html
    assert "2026-11-29" not in html
    assert "1 天前" not in html
    assert "今天" in html
