"""The prefecture layer on disk: each county's tables as Parquet (issue 14).

Layout, one folder per county (hive-style, so any Parquet reader sees the county)::

    <prefecture_dir>/county=<county>/<table>.parquet
    <prefecture_dir>/county=<county>/_export.json      which tables, rows, when, encrypted
    <prefecture_dir>/county=<county>/_status.json      a phase's outcome (written by the runner)
    <prefecture_dir>/unassigned/<feed>.parquet         split rows of no county (warehouse.split)

Every file is written to a temporary name beside it and renamed, so a reader sees
the previous file or the new one, never half of one. Every table carries a
``src_county`` column (the folder's county): the register's own ``county`` column is
the name as the county typed it.

Personal data at rest: with a warehouse key configured (``BIDUI_WAREHOUSE_KEY``,
docs/security.md) the files are Parquet-encrypted (AES-GCM, DuckDB's modular
encryption) with a key derived from it; DuckDB writes encrypted Parquet only with
the signed httpfs extension loaded, as for the warehouse. Either way the folders
are 0700 and the files 0600.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from core.config import warehouse_key
from warehouse.connection import WarehouseKeyError, httpfs_extension_path

PARQUET_KEY_NAME = "bidui_prefecture"
"""The name DuckDB knows the derived Parquet key by (``PRAGMA add_parquet_key``)."""
MANIFEST = "_export.json"
STATUS = "_status.json"
UNASSIGNED = "unassigned"
COUNTY_PREFIX = "county="


def check_county_name(county: str) -> str:
    """``county`` if it can name a folder, else ValueError: no path separators, no
    ``..``, no leading dot or underscore (``_prefecture`` is not a county)."""
    bad = (
        not county
        or county != county.strip()
        or any(c in county for c in "/\\\0")
        or ".." in county
        or county[0] in "._"
        or county.startswith(COUNTY_PREFIX)
    )
    if bad:
        raise ValueError(f"not a usable county name: {county!r}")
    return county


def county_dir(prefecture_dir: str | Path, county: str) -> Path:
    """``<prefecture_dir>/county=<county>``."""
    return Path(prefecture_dir) / f"{COUNTY_PREFIX}{check_county_name(county)}"


def county_dirs(prefecture_dir: str | Path) -> dict[str, Path]:
    """County → its folder, for every ``county=<c>`` folder present, sorted by name."""
    root = Path(prefecture_dir)
    if not root.is_dir():
        return {}
    out = {}
    for p in sorted(root.iterdir()):
        if p.is_dir() and p.name.startswith(COUNTY_PREFIX):
            with contextlib.suppress(ValueError):
                out[check_county_name(p.name[len(COUNTY_PREFIX) :])] = p
    return out


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        path.chmod(0o700)
    return path


# --------------------------------------------------------------------------- encryption


def parquet_key(key: str) -> str:
    """The Parquet key derived from the warehouse key: base64 of 32 bytes (AES-256).

    Derived, not the warehouse key itself, so a Parquet file never carries (or tests)
    the key that opens the warehouse."""
    digest = hashlib.sha256(b"bidui-prefecture-parquet\0" + key.encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def resolve_key(key: str | None | bool) -> str | None:
    """``True`` → the configured warehouse key (None when none is); a string → itself;
    None/False → None (plaintext)."""
    if key is True:
        return warehouse_key()
    return key or None


def _httpfs_loaded(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
    ).fetchall()
    return bool(rows and rows[0][0])


def use_parquet_key(con: duckdb.DuckDBPyConnection, key: str | None, write: bool = False) -> bool:
    """Make the derived Parquet key known to ``con``; True when a key is configured.

    For writing, DuckDB needs its OpenSSL crypto (the signed httpfs extension): it is
    loaded when the connection does not have it yet (an encrypted warehouse
    connection already has)."""
    if key is None:
        return False
    if write and not _httpfs_loaded(con):
        ext = httpfs_extension_path()
        try:
            con.execute(f"LOAD '{str(ext).replace(chr(39), chr(39) * 2)}'")
        except duckdb.Error as exc:
            msg = f"cannot load httpfs from {ext} to encrypt Parquet: {exc}"
            raise WarehouseKeyError(msg) from None
        # Loaded for its crypto only: its network file systems stay off.
        con.execute(
            "SET disabled_filesystems = 'HTTPFileSystem,S3FileSystem,HuggingFaceFileSystem'"
        )
    # base64 text of a digest: no quote can occur in it (PRAGMA takes no parameters).
    con.execute(f"PRAGMA add_parquet_key('{PARQUET_KEY_NAME}', '{parquet_key(key)}')")
    return True


def read_parquet_sql(paths: list[Path], encrypted: bool) -> str:
    """``read_parquet([...], …)`` over ``paths`` (all written by :func:`export_county`)."""
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    # No union_by_name: with encryption DuckDB 1.5.5 fails on it ("dereference
    # shared_ptr that is NULL"); readers take one file at a time where columns may differ.
    options = ", hive_partitioning = false"
    if encrypted:
        options += f", encryption_config = {{footer_key: '{PARQUET_KEY_NAME}'}}"
    return f"read_parquet([{files}]{options})"


# --------------------------------------------------------------------------- writing


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    if os.name == "posix":
        tmp.chmod(0o600)
    os.replace(tmp, path)


def write_parquet(
    con: duckdb.DuckDBPyConnection, select_sql: str, path: Path, encrypted: bool
) -> int:
    """Write the rows of ``select_sql`` to ``path`` atomically; returns the row count."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    options = "FORMAT parquet, COMPRESSION zstd"
    if encrypted:
        options += f", ENCRYPTION_CONFIG {{footer_key: '{PARQUET_KEY_NAME}'}}"
    target = "'" + str(tmp).replace("'", "''") + "'"
    try:
        rows = con.execute(f"COPY ({select_sql}) TO {target} ({options})").fetchall()
        if os.name == "posix":
            tmp.chmod(0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return int(rows[0][0]) if rows and rows[0] else 0


@dataclass(frozen=True)
class CountyExport:
    """What :func:`export_county` wrote."""

    county: str
    folder: Path
    rows: dict[str, int]
    encrypted: bool


def export_county(
    con: duckdb.DuckDBPyConnection,
    county: str,
    prefecture_dir: str | Path,
    tables: Mapping[str, str],
    *,
    key: str | None | bool = True,
    kind: str = "export",
) -> CountyExport:
    """Write each ``tables`` entry (table name → SELECT on ``con``) to
    ``<prefecture_dir>/county=<county>/<table>.parquet``, with ``src_county`` added.

    ``key``: True (default) = the configured warehouse key (``warehouse_key()``);
    None/False = plaintext; a string = that key. Each file is replaced atomically;
    ``_export.json`` (updated last) lists every table of the folder with its rows,
    time and ``kind`` (``export`` for the feeds, ``results`` for the night's results).
    """
    folder = private_dir(county_dir(prefecture_dir, county))
    encrypted = use_parquet_key(con, resolve_key(key), write=True)
    src = "'" + county.replace("'", "''") + "'"
    rows = {}
    for table, sql in tables.items():
        if not table.isidentifier():
            raise ValueError(f"not a table name: {table!r}")
        rows[table] = write_parquet(
            con,
            f"SELECT {src} AS src_county, q.* FROM ({sql}) q",
            folder / f"{table}.parquet",
            encrypted,
        )
    manifest_path = folder / MANIFEST
    manifest = read_manifest(folder)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    tables_meta = manifest.get("tables", {})
    for table, n in rows.items():
        tables_meta[table] = {"rows": n, "written_at": now, "kind": kind}
    _write_json_atomic(
        manifest_path,
        {"county": county, "encrypted": encrypted, "tables": tables_meta, f"{kind}_at": now}
        | {k: v for k, v in manifest.items() if k.endswith("_at") and k != f"{kind}_at"},
    )
    return CountyExport(county, folder, rows, encrypted)


def read_manifest(folder: Path) -> dict[str, Any]:
    """A county folder's ``_export.json`` ({} when absent or unreadable)."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_status(
    prefecture_dir: str | Path,
    county: str,
    phase: str,
    ok: bool,
    error: str | None = None,
    run_id: str | None = None,
) -> Path:
    """Record a phase's outcome in ``county=<c>/_status.json`` (what the prefecture
    report reads for failed counties): ``{county, phase, ok, error, run_id, finished_at}``."""
    folder = private_dir(county_dir(prefecture_dir, county))
    path = folder / STATUS
    _write_json_atomic(
        path,
        {
            "county": county,
            "phase": phase,
            "ok": ok,
            "error": error,
            "run_id": run_id,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return path


def read_status(folder: Path) -> dict[str, Any] | None:
    """A county folder's ``_status.json``, None when absent; unreadable → a failed status."""
    path = folder / STATUS
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {"ok": False, "error": "状态文件格式错误"}
    except (OSError, ValueError) as exc:
        return {"ok": False, "error": f"状态文件无法读取：{exc}"}
