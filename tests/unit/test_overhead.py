"""The fixed cost of a ``bidui run`` outside its steps.

The instance's SQLite files are opened through ``quick_sqlite_commits`` from the
start: a first night creates its instance inside it (26 syncs instead of 400), and
the hook resolves each file's place and journal mode once, not per connection.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import date

import dagster as dg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import core.sqlite_commits as sc
import pipelines.cli as cli


class _Stop(Exception):
    pass


def test_run_opens_quick_commits_before_the_instance(tmp_path, monkeypatch):
    order: list[str] = []

    @contextlib.contextmanager
    def quick(root):
        order.append(f"quick {root}")
        yield {}

    def get():
        order.append("instance")
        raise _Stop

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cli, "quick_sqlite_commits", quick)
    monkeypatch.setattr(dg.DagsterInstance, "get", staticmethod(get))
    with pytest.raises(_Stop):
        cli._execute(
            tmp_path / "in", tmp_path / "out", tmp_path / "w.duckdb", date(2026, 1, 20), "", "", "r"
        )
    assert order == [f"quick {tmp_path / 'home'}", "instance"]


def test_wal_file_known_once_still_commits_normal(tmp_path):
    """The hook remembers a file is under the folder and in WAL mode; every later
    connection to it still gets NORMAL, and every row is kept."""
    path = tmp_path / "runs.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE e (id INTEGER)")
    con.commit()
    con.close()
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    with sc.quick_sqlite_commits(tmp_path) as keepers:
        for _ in range(5):
            with engine.begin() as c:
                c.execute(text("INSERT INTO e VALUES (1)"))
                assert c.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert list(keepers) == [str(path.resolve())]
    with engine.connect() as c:
        assert c.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL again
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM e").fetchone()[0] == 5
    con.close()


def test_generate_formats_still_checked_without_importing_demo_up_front(capsys):
    """``bidui run`` does not import the demo generator; ``generate --format`` still
    offers and checks demo's export formats."""
    from demo import EXPORT_FORMATS

    parser = cli.build_parser()
    assert parser.parse_args(["generate", "x", "--format", "legacy"]).format == "legacy"
    with pytest.raises(SystemExit):
        parser.parse_args(["generate", "x", "--format", "nope"])
    err = capsys.readouterr().err
    assert all(repr(f) in err for f in EXPORT_FORMATS)
    assert list(cli._ExportFormats()) == list(EXPORT_FORMATS)


class _Entry:
    """The part of an event log entry the CLI's listeners read."""

    def __init__(self, kind: str):
        self.dagster_event = type("E", (), {"event_type_value": kind, "step_key": "x"})()


def _steps(listeners, kinds):
    for kind in kinds:
        for listener in listeners:
            listener(_Entry(kind))


def test_nightly_run_imports_gx_on_a_thread_from_its_first_step(monkeypatch):
    """The feed assets start GX's import only when the run names data_docs in its
    asset selection; a ``bidui run`` of the whole job has an empty one, so the CLI
    starts it when the first step starts (else data_docs waits ~3 s for the import)."""
    import checks.expectations as gx
    from pipelines.definitions import defs

    calls: list[str] = []
    monkeypatch.setattr(gx, "preload_gx", lambda: calls.append("preload"))
    listeners = cli._run_listeners(defs.resolve_job_def(cli.NIGHTLY_JOB_NAME), progress=False)
    _steps(listeners, ["RUN_START", "ASSET_MATERIALIZATION_PLANNED"])
    assert calls == []  # not during the run's set-up
    _steps(listeners, ["STEP_START", "STEP_SUCCESS", "STEP_START"])
    assert calls == ["preload"]  # once


def test_run_without_data_docs_does_not_import_gx(monkeypatch):
    import checks.expectations as gx

    @dg.asset
    def thing():
        return 1

    small = dg.Definitions(assets=[thing], jobs=[dg.define_asset_job("small")])
    calls: list[str] = []
    monkeypatch.setattr(gx, "preload_gx", lambda: calls.append("preload"))
    listeners = cli._run_listeners(small.resolve_job_def("small"), progress=False)
    _steps(listeners, ["STEP_START"])
    assert calls == []
