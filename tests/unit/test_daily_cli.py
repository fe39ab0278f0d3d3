"""Issue 13 items 3 and 10, without a run: one Dagster instance per warehouse (the
paths `bidui run` and `bidui ui` derive), and the inbox-layout message names every
feed of the catalogue. (`bidui` as a subprocess: e2e/test_daily_cli.py.)"""

import os
from pathlib import Path

from core.config import LOCAL_DIR, Settings
from department_feeds import FEEDS
from pipelines import cli
from pipelines.cli import check_inbox_layout, instance_home


def test_register_list_comes_from_the_feed_catalogue():
    empty = Path("/nonexistent-inbox-for-test")
    line = check_inbox_layout(empty)
    for feed in FEEDS:
        assert f"{feed}/" in line


def test_default_warehouse_keeps_the_old_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert instance_home(LOCAL_DIR / "warehouse.duckdb") == (LOCAL_DIR / "dagster_home").resolve()
    other = tmp_path / "x" / "test.duckdb"
    assert instance_home(other) == (tmp_path / "x" / "test.duckdb.dagster").resolve()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "explicit"))
    assert instance_home(other) == (tmp_path / "explicit").resolve()


def test_ui_uses_the_warehouse_instance_and_paths(monkeypatch, tmp_path):
    for name in ("DAGSTER_HOME", "BIDUI_INBOX", "BIDUI_OUTBOX", "BIDUI_WAREHOUSE"):
        monkeypatch.setenv(name, "")  # recorded, so the test's own exports are undone
        monkeypatch.delenv(name)
    monkeypatch.setattr(cli, "_DERIVED_HOME", "")
    wh = tmp_path / "test" / "warehouse.duckdb"
    settings = Settings.from_env(tmp_path / "in", tmp_path / "out", wh)
    home = cli.prepare_ui(settings)
    assert home == wh.with_name("warehouse.duckdb.dagster")
    assert (home / "dagster.yaml").exists()
    assert os.environ["DAGSTER_HOME"] == str(home)
    assert os.environ["BIDUI_WAREHOUSE"] == str(wh)
    assert os.environ["BIDUI_INBOX"] == str(tmp_path / "in")
    # A second derivation in the same process follows the new warehouse, not the first.
    other = tmp_path / "prod" / "warehouse.duckdb"
    assert cli.instance_home(other) == other.with_name("warehouse.duckdb.dagster")
