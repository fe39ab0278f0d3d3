"""What the warehouse has read from the inbox, written beside it for the inbox sensor.

The sensor runs in the Dagster daemon and must not open the DuckDB file: it would
race the run's writer lock, and the file may be encrypted. So after each load the
run writes ``<warehouse>.inbox-manifest.json``: inbox-relative path → sha256 of the
bytes as read (feed files from ``loads``, returned lists from ``feedback_files``).
File names and hashes only, no personal data. Written whole, through a temporary
file and ``os.replace``, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".inbox-manifest.json"
VERSION = 1
_WRITE = threading.Lock()  # one snapshot at a time, so an older one never lands last


def manifest_path(warehouse: str | Path) -> Path:
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + MANIFEST_SUFFIX)


def _pairs(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, str]]:
    try:
        return con.sql(sql).fetchall()
    except duckdb.CatalogException:  # table not created yet (nothing of that kind read)
        return []


def loaded_files(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """inbox-relative path → sha256 of every file the warehouse has read from the inbox.

    Files that were read but not loaded (failed, duplicate, over a limit) count too:
    the sensor must not start a run for them again until they change. A file
    recorded without a checksum is left out (the sensor then treats it as new).
    """
    out: dict[str, str] = {}
    # Returned lists stay in feedback_files after they leave the inbox; the sensor
    # only compares files that are there.
    for rel, checksum in _pairs(
        con,
        "SELECT source_file, checksum FROM feedback_files "
        "WHERE coalesce(checksum, '') <> '' ORDER BY loaded_at",
    ):
        out[rel] = checksum
    for rel, checksum in _pairs(
        con, "SELECT source_file, checksum FROM loads WHERE coalesce(checksum, '') <> ''"
    ):
        out[rel] = checksum
    return out


def write_manifest(con: duckdb.DuckDBPyConnection, warehouse: str | Path) -> Path | None:
    """Write the manifest of ``warehouse`` from its tables (atomically).

    A failed write is logged, not raised: the night's data matter more; the sensor
    then only treats the files as new (one extra run), as before manifests.
    """
    path = manifest_path(warehouse)
    with _WRITE:
        body = {"version": VERSION, "files": dict(sorted(loaded_files(con).items()))}
        if _current(path) == body:
            return path  # each feed step writes it; most find it as it is (no fsync)
        try:
            fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            log.warning("cannot write the inbox manifest %s: %s", path, exc)
            return None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(body, fh, ensure_ascii=False, indent=0)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            log.warning("cannot write the inbox manifest %s: %s", path, exc)
            return None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def _current(path: Path) -> object:
    """The manifest file's JSON as it is, None when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_manifest(warehouse: str | Path) -> dict[str, str]:
    """The manifest's files; empty when it is missing or unreadable (then every file
    counts as not yet loaded, as before manifests existed)."""
    path = manifest_path(warehouse)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        files = body["files"] if body.get("version") == VERSION else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable inbox manifest %s: %s", path, exc)
        return {}
    if not isinstance(files, dict):
        return {}
    return {str(k): str(v) for k, v in files.items() if isinstance(v, str)}
