"""Inbox sensor: debounced, content-addressed triggering (pure logic, real files)."""

from __future__ import annotations

import json
import os
import time

from pipelines import sensors
from pipelines.sensors import evaluate


def _write(path, data: bytes, age_s: float = 120.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = time.time() - age_s
    os.utime(path, (t, t))


def test_new_file_triggers_only_after_it_settles(tmp_path):
    f = tmp_path / "hukou" / "a.csv"
    _write(f, b"x,y\n")
    fire, cursor, details = evaluate(tmp_path, None)
    assert not fire and details["unsettled"] == ["hukou/a.csv"]  # first sight: not yet settled
    fire, cursor, details = evaluate(tmp_path, cursor)
    assert fire and details["changed"] == ["hukou/a.csv"]
    fire, cursor, _ = evaluate(tmp_path, cursor)
    assert not fire  # nothing new


def test_file_still_being_copied_does_not_trigger(tmp_path):
    f = tmp_path / "tax" / "t.csv"
    _write(f, b"1", age_s=0)  # just written: younger than the settle time
    _, cursor, _ = evaluate(tmp_path, None)
    fire, cursor, details = evaluate(tmp_path, cursor)
    assert not fire and details["unsettled"] == ["tax/t.csv"]
    _write(f, b"12", age_s=0)  # still growing
    fire, cursor, _ = evaluate(tmp_path, cursor)
    assert not fire


def test_identical_copy_does_not_trigger_but_a_change_does(tmp_path):
    f = tmp_path / "vehicles" / "v.xlsx"
    _write(f, b"same")
    _, cursor, _ = evaluate(tmp_path, None)
    fire, cursor, _ = evaluate(tmp_path, cursor)
    assert fire
    _write(f, b"same", age_s=60)  # re-copied: new mtime, same bytes
    _, cursor, _ = evaluate(tmp_path, cursor)
    fire, cursor, _ = evaluate(tmp_path, cursor)
    assert not fire
    _write(f, b"changed", age_s=60)
    _, cursor, _ = evaluate(tmp_path, cursor)
    fire, cursor, details = evaluate(tmp_path, cursor)
    assert fire and details["changed"] == ["vehicles/v.xlsx"]


def test_deleted_file_triggers_and_office_lock_files_are_ignored(tmp_path):
    f = tmp_path / "tax" / "t.csv"
    _write(f, b"1")
    _write(tmp_path / "tax" / "~$t.xlsx", b"lock")
    _, cursor, _ = evaluate(tmp_path, None)
    fire, cursor, details = evaluate(tmp_path, cursor)
    assert fire and details["changed"] == ["tax/t.csv"]
    f.unlink()
    fire, cursor, details = evaluate(tmp_path, cursor)
    assert fire and details["removed"] == ["tax/t.csv"]
    assert json.loads(cursor)["triggered"] == {}


def test_settle_time_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setattr(sensors, "SETTLE_SECONDS", 0.0)
    _write(tmp_path / "register" / "r.xlsx", b"r", age_s=0)
    _, cursor, _ = evaluate(tmp_path, None)
    fire, _, _ = evaluate(tmp_path, cursor)
    assert fire


def test_skipped_prefixes_are_not_watched_nor_taken_from_the_manifest(tmp_path):
    """A county's copies of the prefecture's files (市级下发_…) do not start its run:
    the _prefecture folder is watched instead, so a night's split starts no second wave."""
    own = tmp_path / "hukou" / "本县.csv"
    copy = tmp_path / "hukou" / "市级下发_全市户籍.csv"
    _write(own, b"own")
    _write(copy, b"copy")
    loaded = {"hukou/本县.csv": sensors._sha256(own), "hukou/市级下发_全市户籍.csv": "old"}
    skip = ("市级下发_",)
    _, cursor, details = evaluate(tmp_path, None, loaded=loaded, skip=skip)
    assert details["unsettled"] == ["hukou/本县.csv"]
    fire, cursor, _ = evaluate(tmp_path, cursor, loaded=loaded, skip=skip)
    assert not fire  # the own file is loaded; the copy changed but is not watched
    copy.unlink()
    _, cursor, _ = evaluate(tmp_path, cursor, loaded=loaded, skip=skip)
    fire, cursor, details = evaluate(tmp_path, cursor, loaded=loaded, skip=skip)
    assert not fire and details["removed"] == []
    # without skip the same copy is a change
    _write(copy, b"copy")
    _, cursor, _ = evaluate(tmp_path, None, loaded=loaded)
    fire, _, details = evaluate(tmp_path, cursor, loaded=loaded)
    assert fire and details["changed"] == ["hukou/市级下发_全市户籍.csv"]
