"""Opening the warehouse, and one writer at a time.

DuckDB itself refuses a second *process* that wants to write the same file
("Could not set lock on file"); we turn that into a message a user can act on.
Inside one process DuckDB happily shares a database between connections, so
:func:`write_lock` adds a ``threading.Lock`` per file that every writer
(``load_feed``) holds while it changes the warehouse.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb

from warehouse import schema


class WarehouseLockedError(RuntimeError):
    """Another process (another bidui run) has the warehouse file open for writing."""


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _key(path: str | Path | None) -> str:
    if path is None or str(path) in ("", ":memory:"):
        return ":memory:"
    return str(Path(path).expanduser().resolve())


def lock_for(path: str | Path | None) -> threading.Lock:
    """The in-process writer lock of one warehouse file."""
    key = _key(path)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.Lock()
        return lock


@contextlib.contextmanager
def write_lock(path: str | Path | None, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the in-process writer lock of ``path`` (waits up to ``timeout_s``)."""
    lock = lock_for(path)
    if not lock.acquire(timeout=timeout_s):
        raise WarehouseLockedError(
            f"warehouse {_key(path)} is being written by another thread of this process; "
            f"gave up after {timeout_s:.0f}s"
        )
    try:
        yield
    finally:
        lock.release()


def database_path(con: duckdb.DuckDBPyConnection) -> str:
    """The file behind a connection (``:memory:`` for an in-memory database)."""
    # ``con.sql(...).fetchall()``, not ``execute().fetchone()``: DuckDB 2.0 keeps a
    # half-read ``execute`` result open and refuses further work on the connection.
    rows = con.sql(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return _key(rows[0][0] if rows else None)


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "Could not set lock on file" in str(exc):
            raise WarehouseLockedError(
                f"the warehouse {path} is in use by another process (another bidui run, "
                "a Dagster run or an open DuckDB shell). Wait for it to finish or close it, "
                f"then try again. DuckDB said: {exc}"
            ) from exc
        raise
    except duckdb.ConnectionException as exc:
        if "different configuration" in str(exc):
            raise WarehouseLockedError(
                f"the warehouse {path} is already open in this process in "
                f"{'read-write' if read_only else 'read-only'} mode; close that connection "
                f"first. DuckDB said: {exc}"
            ) from exc
        raise


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and if needed create) the warehouse at ``path`` with every table.

    The parent folder is created. A read-only connection to a file that does not
    exist yet first creates it, so readers never see a missing table.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not path.exists():
        with _open(path, read_only=False) as con:
            schema.create_all(con)
    con = _open(path, read_only=read_only)
    if not read_only:
        schema.create_all(con)
    return con
