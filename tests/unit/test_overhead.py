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


def _execute_until_instance(tmp_path, monkeypatch, **kwargs) -> list[str]:
    """Run ``_execute`` up to the Dagster instance; what happened before it, in order."""
    import checks.expectations as gx

    order: list[str] = []

    def get():
        order.append("instance")
        raise _Stop

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(gx, "preload_gx", lambda: order.append("preload"))
    monkeypatch.setattr(dg.DagsterInstance, "get", staticmethod(get))
    with pytest.raises(_Stop):
        cli._execute(
            tmp_path / "in",
            tmp_path / "out",
            tmp_path / "w.duckdb",
            date(2026, 1, 20),
            "",
            "",
            "r",
            **kwargs,
        )
    return order


def test_nightly_run_imports_gx_on_a_thread_before_its_steps(tmp_path, monkeypatch):
    """The feed assets start GX's import only when the run names data_docs in its
    asset selection; a ``bidui run`` of the whole job has an empty one, so the CLI
    starts it (else data_docs waits ~3 s for the import)."""
    assert _execute_until_instance(tmp_path, monkeypatch) == ["preload", "instance"]


def test_run_without_data_docs_does_not_import_gx(tmp_path, monkeypatch):
    @dg.asset
    def thing():
        return 1

    small = dg.Definitions(assets=[thing], jobs=[dg.define_asset_job("small")])
    order = _execute_until_instance(tmp_path, monkeypatch, job_name="small", definitions=small)
    assert order == ["instance"]
