"""The inbox sensor knows what the warehouse has read (issue 13 item 2).

``bidui ui`` on a warehouse that has loaded its inbox started a full run about 35 s
later: the new sensor cursor was empty, so every file looked changed. The run now
writes ``<warehouse>.inbox-manifest.json`` (warehouse/manifest.py) and the sensor
takes it as its baseline, without opening the DuckDB file.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines import sensors
from pipelines.cli import run_pipeline
from pipelines.sensors import evaluate, inbox_sensor
from tests.conftest import copy_inbox
from tests.helpers_problem_lists import fill_workbook, listed_ids
from warehouse.manifest import manifest_path, read_manifest, write_manifest

NIGHTS = [date(2026, 11, 20), date(2026, 11, 21)]


def _write(path: Path, data: bytes, age_s: float = 120.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = time.time() - age_s
    os.utime(path, (t, t))


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _ticks(inbox: Path, cursor, loaded, n: int = 2):
    fired = []
    for _ in range(n):
        fire, cursor, details = evaluate(inbox, cursor, loaded=loaded)
        fired.append((fire, details))
    return fired, cursor


def test_empty_cursor_takes_what_the_warehouse_read_as_baseline(tmp_path):
    _write(tmp_path / "tax" / "t.csv", b"tax")
    _write(tmp_path / "feedback" / "甲镇_返回.xlsx", b"answers")
    loaded = {"tax/t.csv": _sha(b"tax"), "feedback/甲镇_返回.xlsx": _sha(b"answers")}
    fired, cursor = _ticks(tmp_path, None, loaded)
    assert [f for f, _ in fired] == [False, False]
    # Then a real change still starts a run, once.
    _write(tmp_path / "tax" / "t.csv", b"tax, new month", age_s=60)
    fired, cursor = _ticks(tmp_path, cursor, loaded)
    assert fired[-1][0] and fired[-1][1]["changed"] == ["tax/t.csv"]
    fired, _ = _ticks(tmp_path, cursor, loaded)
    assert not any(f for f, _ in fired)


def test_without_a_manifest_every_file_is_new_as_before(tmp_path):
    _write(tmp_path / "tax" / "t.csv", b"tax")
    fired, _ = _ticks(tmp_path, None, {})
    assert fired[-1][0] and fired[-1][1]["changed"] == ["tax/t.csv"]


def test_file_read_by_a_run_started_elsewhere_is_no_change(tmp_path):
    _write(tmp_path / "tax" / "t.csv", b"tax")
    fired, cursor = _ticks(tmp_path, None, {"tax/t.csv": _sha(b"tax")})
    assert not fired[-1][0]
    # `bidui run` reads a new file before the sensor has triggered for it.
    _write(tmp_path / "vehicles" / "v.xlsx", b"cars")
    loaded = {"tax/t.csv": _sha(b"tax"), "vehicles/v.xlsx": _sha(b"cars")}
    fired, _ = _ticks(tmp_path, cursor, loaded)
    assert not any(f for f, _ in fired)


def test_loaded_file_deleted_while_the_ui_was_down_is_a_change(tmp_path):
    _write(tmp_path / "tax" / "t.csv", b"tax")
    loaded = {
        "tax/t.csv": _sha(b"tax"),
        "vehicles/gone.xlsx": _sha(b"cars"),  # its rows must leave the warehouse
        "feedback/old.xlsx": _sha(b"answers"),  # history: a returned list may leave
    }
    fired, _ = _ticks(tmp_path, None, loaded)
    assert fired[-1][0] and fired[-1][1]["removed"] == ["vehicles/gone.xlsx"]


def test_manifest_is_paths_and_hashes_only_and_unreadable_means_empty(tmp_path):
    wh = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE TABLE loads (source_file VARCHAR, checksum VARCHAR, feed VARCHAR)")
    con.execute(
        "INSERT INTO loads VALUES ('tax/t.csv', ?, 'tax'), ('tax/big.csv', '', 'tax')",
        [_sha(b"tax")],
    )
    path = write_manifest(con, wh)
    # A manifest that cannot be written costs the sensor one extra run, not the night.
    assert write_manifest(con, tmp_path / "no such folder" / "w.duckdb") is None
    con.close()
    assert path == manifest_path(wh) == tmp_path / "w.duckdb.inbox-manifest.json"
    assert read_manifest(wh) == {"tax/t.csv": _sha(b"tax")}  # no checksum: left out
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []
    path.write_text("{not json", encoding="utf-8")
    assert read_manifest(wh) == {}
    assert read_manifest(tmp_path / "none.duckdb") == {}


# --------------------------------------------------------------------------- real job


def _tick(instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = inbox_sensor(context)
    return bool(result.run_requests), result.cursor


def test_real_run_then_ui_start_requests_no_run_until_a_file_changes(
    small_county, tmp_path, dagster_home, monkeypatch
):
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "warehouse.duckdb"
    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[0])
    assert ok, info
    # A township returns its list; the second night reads it from inbox/feedback/.
    (src,) = sorted((outbox / NIGHTS[0].isoformat()).glob("*/问题清单_*.xlsx"))[:1]
    first = next(iter(listed_ids(src)))
    returned = inbox / "feedback" / "返回.xlsx"
    fill_workbook(src, returned, {first: {"核实结果": "属实", "核实人": "李明"}})
    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[1])
    assert ok, info

    manifest = json.loads(manifest_path(wh).read_text(encoding="utf-8"))
    assert "feedback/返回.xlsx" in manifest["files"]
    assert any(rel.startswith("register/") for rel in manifest["files"])
    text = manifest_path(wh).read_text(encoding="utf-8")
    assert not re.search(r"(?<![0-9a-f])[0-9]{17}[0-9Xx](?![0-9a-f])", text)  # no ID numbers

    monkeypatch.setenv("BIDUI_INBOX", str(inbox))
    monkeypatch.setenv("BIDUI_WAREHOUSE", str(wh))
    monkeypatch.setenv("BIDUI_OUTBOX", str(outbox))
    monkeypatch.setattr(sensors, "SETTLE_SECONDS", 0.0)
    instance = dg.DagsterInstance.get()
    # `bidui ui` starts: a new instance, an empty cursor; the warehouse is locked by
    # nobody, but the sensor must not need it: hold it open for writing meanwhile.
    with duckdb.connect(str(wh)):
        fire1, cursor = _tick(instance, None)
        fire2, cursor = _tick(instance, cursor)
        assert not fire1 and not fire2
        tax = sorted(p for p in (inbox / "tax").rglob("*") if p.is_file())[0]
        tax.write_bytes(tax.read_bytes() + b"\n")
        fire3, cursor = _tick(instance, cursor)  # seen changing: not settled yet
        fire4, cursor = _tick(instance, cursor)
    assert not fire3 and fire4
    assert json.loads(cursor)["triggered"][tax.relative_to(inbox).as_posix()]
    instance.dispose()


@pytest.fixture(autouse=True)
def _instance_env(monkeypatch):
    # The sensor reads its settings from the environment: nothing of the shell's.
    for name in ("BIDUI_INBOX", "BIDUI_WAREHOUSE", "BIDUI_OUTBOX"):
        monkeypatch.delenv(name, raising=False)
