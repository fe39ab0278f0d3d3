"""Cheap commits for the Dagster instance's SQLite files during one run.

Dagster's SQLite storage opens a new connection for every event it stores
(``NullPool``), commits and closes it. With the files in WAL mode and SQLite's
default ``synchronous=FULL``, every commit syncs the log to disk, and every close
of what is then the last connection checkpoints the log into the database and
syncs that too: about 20 ms per event on this machine's disk, and a night stores
about a thousand (each asset check alone is planned, output and evaluated, each
event also mirrored into the cross-run index). That is most of a small county's
run time.

:func:`quick_sqlite_commits` changes neither what is stored nor where. While it is
open, every SQLite connection SQLAlchemy opens on a file under the instance folder
uses ``synchronous=NORMAL`` (in WAL mode the setting SQLite documents as safe from
corruption: a power cut may lose the last events, never the file), and one idle
connection per such file stays open so that closing Dagster's connections does not
checkpoint. On exit the idle connections close and SQLite checkpoints once per file.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


def _main_file(dbapi_connection: sqlite3.Connection) -> str:
    """The file of a connection's main database ("" for an in-memory one)."""
    for _, name, file in dbapi_connection.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return file or ""
    return ""


@contextlib.contextmanager
def quick_sqlite_commits(root: Path | str) -> Iterator[dict[str, sqlite3.Connection]]:
    """While open, SQLite files under ``root`` (the Dagster instance folder) commit
    without a disk sync per event (see the module docstring). Yields the idle
    connections held, by file, for tests. Only files already in WAL mode are
    touched: a rollback-journal file keeps its full syncs. Open it before the
    instance: a first night's instance then makes its files with 26 syncs, not 400."""
    root_path = Path(root).expanduser().resolve()
    keepers: dict[str, sqlite3.Connection] = {}
    inside: dict[str, bool] = {}  # file -> under root (resolved once per file)
    wal: set[str] = set()  # files seen in WAL mode (Dagster never switches back)
    guard = threading.Lock()

    def on_connect(dbapi_connection, _record) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        try:
            file = _main_file(dbapi_connection)
            if not file:
                return
            if file not in inside:
                inside[file] = Path(file).resolve().is_relative_to(root_path)
            if not inside[file]:
                return
            if file not in wal:
                mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    return
                wal.add(file)
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
            with guard:
                if file not in keepers:
                    keeper = sqlite3.connect(file, check_same_thread=False)
                    # A read maps the WAL index: from now on this connection counts.
                    keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
                    keepers[file] = keeper
        except sqlite3.Error:  # the storage's own connection goes on as it would have
            log.debug("quick_sqlite_commits: left a connection as it was", exc_info=True)

    event.listen(Engine, "connect", on_connect)
    try:
        yield keepers
    finally:
        event.remove(Engine, "connect", on_connect)
        with guard:
            for keeper in keepers.values():
                with contextlib.suppress(sqlite3.Error):
                    keeper.close()
            keepers.clear()
