"""Hostile and careless runs refused before they start, through ``bidui`` in-process
(pipelines.cli.main): run dates out of range, an unwritable Dagster home, a bad lock
wait, outputs inside the inbox, `waive` while a run holds the warehouse."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipelines.cli import main as bidui_main
from tests.helpers_runs import hold_lock_in_child, run_env

NIGHT = date(2026, 11, 20)
DAY = NIGHT.isoformat()


@pytest.fixture
def env(tmp_path) -> dict:
    return run_env(tmp_path)


def test_run_dates_out_of_range_are_refused(tmp_path, env, capsys, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    common = ["--inbox", str(inbox), "--outbox", str(tmp_path / "o")]
    common += ["--warehouse", str(tmp_path / "w.duckdb")]
    for bad, why in (("2099-01-01", "after today"), ("1999-12-31", "before 2000"),
                     ("2026-13-01", "not a date")):  # fmt: skip
        rc = bidui_main(["run", *common, "--run-date", bad])
        err = capsys.readouterr().err
        assert rc == 2, (bad, err)
        (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert bad in line and why in line and "比对日期" in line, line
    assert not (tmp_path / "w.duckdb").exists() and not (tmp_path / "o").exists()


def test_unwritable_dagster_home_is_a_clear_error(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home-is-a-file"
    home.write_text("x")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rc = bidui_main(["run", "--inbox", str(inbox), "--outbox", str(tmp_path / "o"),
                     "--warehouse", str(tmp_path / "w.duckdb"), "--run-date", DAY])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert "DAGSTER_HOME" in line and str(home) in line and "Dagster" in line, line


def test_bad_lock_wait_setting_is_a_clear_error(tmp_path, env, capsys, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    monkeypatch.setenv("BIDUI_RUN_LOCK_WAIT", "ten minutes")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rc = bidui_main(["run", "--inbox", str(inbox), "--outbox", str(tmp_path / "o"),
                     "--warehouse", str(tmp_path / "w.duckdb"), "--run-date", DAY])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert "BIDUI_RUN_LOCK_WAIT='ten minutes' is not a number" in line, line


def test_waive_while_a_run_holds_the_warehouse_is_one_line(tmp_path, capsys, monkeypatch):
    wh = tmp_path / "w.duckdb"
    duckdb.connect(str(wh)).close()
    monkeypatch.setenv("BIDUI_RUN_LOCK_WAIT", "0")
    child = hold_lock_in_child("warehouse", wh, tmp_path / "ready")
    try:
        rc = bidui_main(["waive", "list", "--warehouse", str(wh)])
    finally:
        child.kill()
        child.wait()
    err = capsys.readouterr().err
    assert rc == 1
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert f"another bidui run (pid {child.pid}" in line, line


@pytest.mark.parametrize(
    ("outbox", "warehouse", "why"),
    [
        ("inbox/feedback", "w.duckdb", "inside the inbox"),
        ("inbox", "w.duckdb", "inside the inbox"),
        ("out", "out/w.duckdb", "inside the outbox"),
        ("out", "inbox/w.duckdb", "inside the inbox"),
    ],
)
def test_outputs_read_back_as_input_or_warehouse_in_the_outbox_refused(
    tmp_path, env, capsys, monkeypatch, outbox, warehouse, why
):
    """An outbox in the inbox would be read back (and the inbox sensor would fire on
    every publish); a warehouse in the outbox would travel to the townships."""
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    (tmp_path / "inbox" / "feedback").mkdir(parents=True)
    rc = bidui_main(["run", "--inbox", str(tmp_path / "inbox"), "--outbox",
                     str(tmp_path / outbox), "--warehouse", str(tmp_path / warehouse),
                     "--run-date", DAY])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert why in line, line
    assert not (tmp_path / warehouse).exists()
