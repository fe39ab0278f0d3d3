"""Opening the warehouse, and one writer at a time.

DuckDB itself refuses a second *process* that wants to write the same file
("Could not set lock on file"); we turn that into a message a user can act on.
Inside one process DuckDB happily shares a database between connections, so
:func:`write_lock` adds a ``threading.Lock`` per file that every writer
(``load_feed``) holds while it changes the warehouse.

With a key configured (docs/security.md) the file is encrypted: it is attached,
as ``warehouse``, to a per-file shared in-memory DuckDB that has the pinned,
signed httpfs extension loaded; every reader and writer goes through
:func:`connect`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.resources
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb

from core.config import warehouse_key
from warehouse import schema


class WarehouseLockedError(RuntimeError):
    """Another process (another bidui run) has the warehouse file open for writing."""


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_CREATE_GUARD = threading.Lock()


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


def _locked(path: Path, read_only: bool, exc: Exception) -> WarehouseLockedError | None:
    """Our message for DuckDB's "someone else has this file" errors, else None."""
    text = str(exc)
    if "Could not set lock on file" in text:
        return WarehouseLockedError(
            f"the warehouse {path} is in use by another process (another bidui run, "
            "a Dagster run or an open DuckDB shell). Wait for it to finish or close it, "
            f"then try again. DuckDB said: {exc}"
        )
    if "different configuration" in text or "already attached in READ_" in text:
        return WarehouseLockedError(
            f"the warehouse {path} is already open in this process in "
            f"{'read-write' if read_only else 'read-only'} mode; close that connection "
            f"first. DuckDB said: {exc}"
        )
    return None


def _open_plain(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        if "without a key" in str(exc):
            raise WarehouseKeyError(
                f"the warehouse {path} is encrypted, but no key is configured: set "
                "BIDUI_WAREHOUSE_KEY (the key) or BIDUI_WAREHOUSE_KEY_FILE (a file holding it)"
            ) from None
        locked = _locked(path, read_only, exc)
        if locked:
            raise locked from exc
        raise


# --------------------------------------------------------------------------- encryption


class WarehouseKeyError(RuntimeError):
    """The warehouse cannot be opened with the key configuration we have."""


HTTPFS_DISTRIBUTION = "duckdb-extension-httpfs"
_HTTPFS_PACKAGE = "duckdb_extension_httpfs"


def httpfs_extension_path() -> Path:
    """The signed httpfs binary shipped by the ``duckdb-extension-httpfs`` wheel.

    DuckDB writes encrypted files only with httpfs (OpenSSL) loaded; it cannot be
    downloaded at run time here, so it must come from the wheel pinned to the same
    DuckDB version (pyproject.toml)."""
    version = duckdb.__version__
    try:
        root = Path(str(importlib.resources.files(_HTTPFS_PACKAGE)))
        wheel_version = importlib.metadata.version(HTTPFS_DISTRIBUTION)
    except (ModuleNotFoundError, importlib.metadata.PackageNotFoundError):
        raise WarehouseKeyError(
            f"a warehouse key is configured, but the package {HTTPFS_DISTRIBUTION} is not "
            f"installed; install {HTTPFS_DISTRIBUTION}=={version} (it carries the signed httpfs "
            "extension DuckDB needs to write an encrypted warehouse)"
        ) from None
    ext = root / "extensions" / f"v{version}" / "httpfs.duckdb_extension"
    if wheel_version != version or not ext.is_file():
        raise WarehouseKeyError(
            f"{HTTPFS_DISTRIBUTION} {wheel_version} does not match DuckDB {version} "
            f"(no {ext}); install {HTTPFS_DISTRIBUTION}=={version}"
        )
    return ext


def _sql_text(value: str) -> str:
    """A single-quoted SQL string literal (for paths: ATTACH and LOAD take no parameters)."""
    return "'" + value.replace("'", "''") + "'"


def _instance_name(path: Path) -> str:
    # One shared in-memory instance per warehouse file, as ``duckdb.connect(file)``
    # gives, so connections of one process see one database (and ``write_lock``
    # keeps its meaning); DuckDB refuses to attach one file in two instances.
    return ":memory:bidui_" + hashlib.sha256(_key(path).encode()).hexdigest()[:16]


# httpfs is loaded for its OpenSSL crypto only: its network file systems stay off.
_NETWORK_FILESYSTEMS = "HTTPFileSystem,S3FileSystem,HuggingFaceFileSystem"


def _load_httpfs(con: duckdb.DuckDBPyConnection) -> None:
    ext = httpfs_extension_path()
    try:
        con.execute(f"LOAD {_sql_text(str(ext))}")
    except duckdb.Error as exc:
        raise WarehouseKeyError(
            f"cannot load DuckDB's httpfs extension from {ext}, needed to write an "
            f"encrypted warehouse: {exc}"
        ) from None
    con.execute(f"SET disabled_filesystems = {_sql_text(_NETWORK_FILESYSTEMS)}")
    _check_safe_crypto(con)


def _open_encrypted(path: Path, key: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    httpfs_extension_path()  # a missing wheel fails before anything is opened
    con = duckdb.connect(
        _instance_name(path),
        config={
            # Never fetch or auto-load an extension: only the pinned, signed httpfs.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            # Spill files beside the warehouse (as for a file connection), encrypted:
            # DuckDB leaves temp files plaintext unless told (checked in 1.5.5).
            "temp_directory": f"{path}.tmp",
            "temp_file_encryption": True,
        },
    )
    try:
        _load_httpfs(con)
        attached = con.execute(
            "SELECT readonly FROM duckdb_databases() WHERE database_name = 'warehouse'"
        ).fetchall()
        if attached and attached[0][0] != read_only:
            raise WarehouseLockedError(
                f"the warehouse {path} is already open in this process in "
                f"{'read-only' if attached[0][0] else 'read-write'} mode; close that "
                "connection first"
            )
        if not attached:
            options = "ENCRYPTION_KEY ?" + (", READ_ONLY" if read_only else "")
            # IF NOT EXISTS: another thread may attach it between the check and here.
            sql = f"ATTACH IF NOT EXISTS {_sql_text(str(path))} AS warehouse ({options})"
            _attach(con, path, sql, key)
        con.execute("USE warehouse")
    except BaseException:
        con.close()
        raise
    return con


_KEY_VARS = "BIDUI_WAREHOUSE_KEY / BIDUI_WAREHOUSE_KEY_FILE"


def _attach(
    con: duckdb.DuckDBPyConnection, path: Path, sql: str, key: str, key_vars: str = _KEY_VARS
) -> None:
    """Run an ATTACH with the key bound as a parameter; our message for each failure."""
    try:
        con.execute(sql, [key])
    except duckdb.Error as exc:
        text = str(exc)
        if "is not encrypted" in text:
            raise WarehouseKeyError(
                f"the warehouse {path} is not encrypted; run `bidui warehouse encrypt` "
                "to convert it"
            ) from None
        if "Wrong encryption key" in text:
            raise WarehouseKeyError(
                f"wrong key for the encrypted warehouse {path}: the key in {key_vars} "
                "is not the one it was encrypted with"
            ) from None
        locked = _locked(path, "READ_ONLY" in sql, exc)
        if locked:
            raise locked from exc
        raise


def _check_safe_crypto(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to go on if DuckDB's insecure crypto fallback is on (we never set it)."""
    unsafe = con.execute(
        "SELECT value FROM duckdb_settings() WHERE name = 'force_mbedtls_unsafe'"
    ).fetchall()
    if unsafe and unsafe[0][0].lower() != "false":
        raise WarehouseKeyError("DuckDB's insecure mbedtls encryption mode is on; refusing")


def open_encrypted_session() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB with the signed httpfs loaded, for copying between
    attached files (``bidui warehouse encrypt`` / ``rekey``)."""
    con = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    try:
        _load_httpfs(con)
    except BaseException:
        con.close()
        raise
    return con


def attach(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    alias: str,
    key: str | None,
    read_only: bool = False,
    key_vars: str = _KEY_VARS,
) -> None:
    """ATTACH ``path`` as ``alias`` (encrypted with ``key``, or plaintext if None)."""
    options = [] if key is None else ["ENCRYPTION_KEY ?"]
    if read_only:
        options.append("READ_ONLY")
    sql = f"ATTACH {_sql_text(str(path))} AS {alias}"
    sql += f" ({', '.join(options)})" if options else ""
    if key is None:
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            if "without a key" in str(exc):
                raise WarehouseKeyError(f"the warehouse {path} is already encrypted") from None
            locked = _locked(path, read_only, exc)
            if locked:
                raise locked from exc
            raise
    else:
        _attach(con, path, sql, key, key_vars)


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    key = warehouse_key()
    if key is None:
        return _open_plain(path, read_only)
    return _open_encrypted(path, key, read_only)


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and if needed create) the warehouse at ``path`` with every table.

    Encrypted (AES-256-GCM, its WAL and temp files too) when a key is configured
    (``BIDUI_WAREHOUSE_KEY`` / ``BIDUI_WAREHOUSE_KEY_FILE``, see docs/security.md);
    the warehouse is then attached to an in-memory DuckDB as ``warehouse`` and made
    the default database, so queries are unchanged. The parent folder is created.
    A read-only connection to a file that does not exist yet first creates it, so
    readers never see a missing table.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not path.exists():
        with _open(path, read_only=False) as con, _CREATE_GUARD:
            schema.create_all(con)
    con = _open(path, read_only=read_only)
    if not read_only:
        # Threads creating the tables at once would hit DuckDB's write-write conflict.
        with _CREATE_GUARD:
            schema.create_all(con)
    return con
