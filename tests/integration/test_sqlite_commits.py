"""core.sqlite_commits: cheaper commits for the Dagster instance's SQLite files,
the same rows stored, nothing changed outside the instance folder."""

import sqlite3

import dagster as dg
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from core.sqlite_commits import quick_sqlite_commits


def _wal_db(path):
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, body TEXT)")
    con.commit()
    con.close()
    return create_engine(f"sqlite:///{path}", poolclass=NullPool)


def _synchronous(engine) -> int:
    with engine.connect() as con:
        return con.execute(text("PRAGMA synchronous")).scalar()


def test_wal_files_under_root_commit_normal_and_keep_their_rows(tmp_path):
    (tmp_path / "home").mkdir()
    inside = _wal_db(tmp_path / "home" / "runs.db")
    outside = _wal_db(tmp_path / "elsewhere.db")
    assert _synchronous(inside) == 2  # FULL, SQLite's default
    with quick_sqlite_commits(tmp_path / "home") as keepers:
        for i in range(20):
            with inside.begin() as con:
                con.execute(text("INSERT INTO e (body) VALUES (:b)"), {"b": f"event {i}"})
        assert _synchronous(inside) == 1  # NORMAL
        assert _synchronous(outside) == 2  # untouched
        assert list(keepers) == [str((tmp_path / "home" / "runs.db").resolve())]
    assert not keepers  # closed on exit
    assert _synchronous(inside) == 2  # the listener is gone
    con = sqlite3.connect(tmp_path / "home" / "runs.db")
    assert con.execute("SELECT count(*) FROM e").fetchone()[0] == 20
    con.close()


def test_rollback_journal_files_keep_full_syncs(tmp_path):
    path = tmp_path / "plain.db"
    sqlite3.connect(path).execute("CREATE TABLE e (id INTEGER)").connection.close()
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    with quick_sqlite_commits(tmp_path) as keepers:
        assert _synchronous(engine) == 2
        assert not keepers


def test_a_dagster_run_records_every_event(tmp_path):
    @dg.asset(check_specs=[dg.AssetCheckSpec("ok", asset="thing")])
    def thing():
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])

    job = dg.Definitions(assets=[thing]).resolve_implicit_global_asset_job_def()
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        with quick_sqlite_commits(instance.root_directory) as keepers:
            result = job.execute_in_process(instance=instance)
            assert keepers  # the run's files were opened through the hook
        assert result.success
    with dg.DagsterInstance.local_temp(str(home)) as again:
        (run,) = again.get_runs()
        types = {
            e.dagster_event.event_type_value for e in again.all_logs(run.run_id) if e.dagster_event
        }
        assert {"ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION", "PIPELINE_SUCCESS"} <= types
        key = dg.AssetCheckKey(dg.AssetKey("thing"), "ok")
        assert again.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
