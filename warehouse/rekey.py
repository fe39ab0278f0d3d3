"""Encrypt a plaintext warehouse, or change its key (``bidui warehouse encrypt|rekey``).

The warehouse is copied into a new file (``COPY FROM DATABASE``) with the new key,
checked table by table (row counts and contents), and then swapped in with one
``os.replace``; no plaintext copy is kept. The old file's blocks are overwritten
with zeros through a handle kept open across the swap: best effort only (SSDs and
copy-on-write file systems may keep old blocks), and earlier backups are untouched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.connection import WarehouseKeyError, attach, open_encrypted_session, write_lock

_WIPE_CHUNK = 1 << 20
OLD_KEY_VARS = "BIDUI_WAREHOUSE_OLD_KEY / BIDUI_WAREHOUSE_OLD_KEY_FILE"


@dataclass(frozen=True)
class Converted:
    path: Path
    rows_per_table: dict[str, int]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(con: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY ALL",
        [alias],
    ).fetchall()
    return [f"{_ident(s)}.{_ident(t)}" for s, t in rows]


def _verify(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts per table, after checking ``dst`` holds exactly what ``src`` holds."""
    src, dst = _tables(con, "src"), _tables(con, "dst")
    if src != dst:
        raise RuntimeError(f"copy incomplete: tables {sorted(set(src) ^ set(dst))} differ")
    counts = {}
    for t in src:
        (n_src,) = con.execute(f"SELECT count(*) FROM src.{t}").fetchone()
        (n_dst,) = con.execute(f"SELECT count(*) FROM dst.{t}").fetchone()
        # Equal counts and an empty EXCEPT ALL: the same multiset of rows.
        (missing,) = con.execute(
            f"SELECT count(*) FROM (SELECT * FROM src.{t} EXCEPT ALL SELECT * FROM dst.{t})"
        ).fetchone()
        if n_src != n_dst or missing:
            raise RuntimeError(
                f"copy of table {t} differs: {n_src} rows before, {n_dst} after, "
                f"{missing} rows not copied"
            )
        counts[t] = n_src
    return counts


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wipe(fh) -> None:
    """Overwrite an (already unlinked) file's contents with zeros, best effort."""
    size = os.fstat(fh.fileno()).st_size
    fh.seek(0)
    zeros = bytes(_WIPE_CHUNK)
    for start in range(0, size, _WIPE_CHUNK):
        fh.write(zeros[: min(_WIPE_CHUNK, size - start)])
    fh.flush()
    os.fsync(fh.fileno())


def convert(path: str | Path, new_key: str, old_key: str | None) -> Converted:
    """Rewrite the warehouse at ``path`` encrypted with ``new_key``.

    ``old_key`` None: the file must be plaintext (encrypt); else it must be encrypted
    with ``old_key`` (rekey). The caller holds the cross-process run lock."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no warehouse at {path}")
    if old_key is not None and old_key == new_key:
        raise WarehouseKeyError("the new key is the same as the old key")
    tmp = path.with_name(path.name + ".converting")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    with write_lock(path):
        con = open_encrypted_session()
        try:
            attach(con, path, "src", old_key, key_vars=OLD_KEY_VARS)
            # Merge the WAL into the file first: an old WAL left beside the new
            # file would be replayed into it (and may hold plaintext).
            con.execute("CHECKPOINT src")
            attach(con, tmp, "dst", new_key)
            con.execute("COPY FROM DATABASE src TO dst")
            counts = _verify(con)
            con.execute("DETACH dst")
            con.execute("DETACH src")
        except BaseException:
            con.close()
            tmp.unlink(missing_ok=True)
            raise
        con.close()
        for leftover in (path.with_name(path.name + ".wal"), tmp.with_name(tmp.name + ".wal")):
            if leftover.exists():
                raise RuntimeError(f"unexpected write-ahead log {leftover} after checkpoint")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        with open(path, "rb+") as old:
            os.replace(tmp, path)
            _fsync_dir(path.parent)
            _wipe(old)
        shutil.rmtree(path.with_name(path.name + ".tmp"), ignore_errors=True)
    _check_reopens(path, new_key, counts)
    return Converted(path, counts)


def _check_reopens(path: Path, key: str, counts: dict[str, int]) -> None:
    con = open_encrypted_session()
    try:
        attach(con, path, "dst", key, read_only=True)
        for t, n in counts.items():
            (got,) = con.execute(f"SELECT count(*) FROM dst.{t}").fetchone()
            if got != n:
                raise RuntimeError(f"reopened warehouse: table {t} has {got} rows, not {n}")
    finally:
        con.close()
