"""The inbox sensor after a real run (issue 13 item 2): `bidui ui` started on a
warehouse that has loaded its inbox requests no run until a file changes."""

from __future__ import annotations

import json
import re
from datetime import date

import dagster as dg
import duckdb
import pytest

from pipelines import sensors
from pipelines.cli import run_pipeline
from pipelines.sensors import inbox_sensor
from tests.conftest import copy_inbox
from tests.helpers_problem_lists import fill_workbook, listed_ids
from warehouse.manifest import manifest_path

NIGHTS = [date(2026, 11, 20), date(2026, 11, 21)]


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
