"""The inbox sensor knows what the warehouse has read (issue 13 item 2).

``bidui ui`` on a warehouse that has loaded its inbox started a full run about 35 s
later: the new sensor cursor was empty, so every file looked changed. The run now
writes ``<warehouse>.inbox-manifest.json`` (warehouse/manifest.py) and the sensor
takes it as its baseline, without opening the DuckDB file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipelines.sensors import evaluate


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


@pytest.fixture(autouse=True)
def _instance_env(monkeypatch):
    # The sensor reads its settings from the environment: nothing of the shell's.
    for name in ("BIDUI_INBOX", "BIDUI_WAREHOUSE", "BIDUI_OUTBOX"):
        monkeypatch.delenv(name, raising=False)
