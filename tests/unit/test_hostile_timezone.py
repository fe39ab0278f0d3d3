"""One time zone (``BIDUI_TIMEZONE``, default Asia/Shanghai): today and now are the
office's on a server in UTC, just after midnight Shanghai time (issue 13 item 7)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from core import config

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


def test_today_and_now_are_the_office_s(server_in_utc, monkeypatch):
    assert config.today() == dt.date(2026, 11, 30)
    assert config.now() == dt.datetime(2026, 11, 30, 0, 5)
    assert config.local_time(CLOCK_UTC.timestamp()) == dt.datetime(2026, 11, 30, 0, 5)
    monkeypatch.setenv("BIDUI_TIMEZONE", "UTC")
    assert config.today() == dt.date(2026, 11, 29)
