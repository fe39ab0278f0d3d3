"""Load every file of a feed's inbox folder into the warehouse.

The inbox is the truth: a file with the same bytes as last time is not read
again, a changed file replaces everything its earlier version produced (raw,
typed, rejects, warnings, its ``loads`` row), and a file that disappeared from
the inbox takes its rows with it. All changes of one feed happen in one
transaction, under the warehouse's writer lock.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from department_feeds import SPECS
from department_feeds.loader import (
    REJECT_SCHEMA,
    SUFFIXES,
    ParsedFile,
    SheetInfo,
    file_checksum,
    make_load_id,
    parse_file,
)
from warehouse.connection import database_path, write_lock

log = logging.getLogger(__name__)

PREVIEW_ROWS = 10


@dataclass
class FileLoadResult:
    """What happened to one file in this run."""

    path: Path
    source_file: str
    status: str
    """``loaded`` (read now), ``failed`` (read now, unusable), ``unchanged`` (same
    bytes as the last load; its earlier result stands) or ``removed`` (gone from
    the inbox; its rows were deleted)."""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    header_mapping: dict[str, str] = field(default_factory=dict)
    missing_required: list[str] = field(default_factory=list)
    encoding: str | None = None
    error: str | None = None
    header_row: int | None = None
    sheets: list[SheetInfo] = field(default_factory=list)
    inverted: list[str] = field(default_factory=list)
    """Fields read through an inverted header (住房是否安全 → is_dangerous_house)."""
    load_id: str | None = None
    last_status: str | None = None
    """For ``unchanged`` files: the status of the load that stands (loaded/failed)."""

    @classmethod
    def from_parsed(cls, pf: ParsedFile) -> FileLoadResult:
        return cls(
            path=pf.path,
            source_file=pf.source_file,
            status=pf.status,
            rows_read=pf.rows_read,
            rows_loaded=pf.rows_loaded,
            rows_rejected=pf.rows_rejected,
            header_mapping=pf.header_mapping,
            missing_required=pf.missing_required,
            encoding=pf.encoding,
            error=pf.error,
            header_row=pf.header_row,
            sheets=pf.sheets,
            inverted=pf.inverted,
            load_id=pf.load_id,
        )


@dataclass
class FeedLoadResult:
    """The outcome of :func:`load_feed` for one feed."""

    feed: str
    files: list[FileLoadResult]
    preview: pl.DataFrame
    """The first rows of the feed's typed table after the load."""
    seconds: float = 0.0

    def _current(self) -> list[FileLoadResult]:
        return [f for f in self.files if f.status != "removed"]

    @property
    def rows_read(self) -> int:
        """Rows read over every file now in the warehouse (this run or earlier)."""
        return sum(f.rows_read for f in self._current())

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self._current())

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self._current())

    @property
    def failed(self) -> list[FileLoadResult]:
        """Files whose current load failed (now or in an earlier run)."""
        return [
            f
            for f in self.files
            if f.status == "failed" or (f.status == "unchanged" and f.last_status == "failed")
        ]

    @property
    def changed(self) -> bool:
        """Whether this run changed the warehouse."""
        return any(f.status != "unchanged" for f in self.files)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        files = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no files"
        return (
            f"{self.feed}: {files}; rows read {self.rows_read}, loaded {self.rows_loaded}, "
            f"rejected {self.rows_rejected} ({self.seconds:.1f}s)"
        )


def inbox_files(inbox: Path, feed: str) -> list[Path]:
    """The feed's files under ``inbox/<feed>/``, recursively, sorted.

    Only ``.xlsx`` and ``.csv``; Office lock files (``~$…``) and anything hidden
    (a name or folder starting with ``.``) are ignored.
    """
    root = inbox / feed
    if not root.is_dir():
        return []
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if any(part.startswith(".") for part in rel) or p.name.startswith("~$"):
            continue
        if p.is_file() and p.suffix.lower() in SUFFIXES:
            out.append(p)
    return sorted(out)


def _delete(con: duckdb.DuckDBPyConnection, feed: str, source_files: list[str]) -> None:
    """Remove everything the given files produced, in every table."""
    if not source_files:
        return
    files = pl.DataFrame({"source_file": source_files})
    con.register("_bidui_gone", files)
    try:
        for table in (f"raw_{feed}", feed):
            con.execute(
                f'DELETE FROM "{table}" WHERE source_file IN (SELECT source_file FROM _bidui_gone)'
            )
        for table in ("rejects", "load_warnings", "loads"):
            con.execute(
                f"DELETE FROM {table} WHERE feed = ? "
                "AND source_file IN (SELECT source_file FROM _bidui_gone)",
                [feed],
            )
    finally:
        con.unregister("_bidui_gone")


def _insert(con: duckdb.DuckDBPyConnection, table: str, frames: list[pl.DataFrame]) -> None:
    """Append frames to a table through DuckDB's Arrow scan (no row-by-row inserts)."""
    frames = [f for f in frames if f is not None and f.height]
    if not frames:
        return
    frame = pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]
    con.register("_bidui_insert", frame)
    try:
        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _bidui_insert')
    finally:
        con.unregister("_bidui_insert")


def _unchanged_result(path: Path, row: dict) -> FileLoadResult:
    return FileLoadResult(
        path=path,
        source_file=row["source_file"],
        status="unchanged",
        rows_read=row["rows_read"] or 0,
        rows_loaded=row["rows_loaded"] or 0,
        rows_rejected=row["rows_rejected"] or 0,
        header_mapping=json.loads(row["header_mapping"] or "{}"),
        missing_required=json.loads(row["missing_required"] or "[]"),
        encoding=row["encoding"],
        error=row["error"],
        header_row=row["header_row"],
        load_id=row["load_id"],
        last_status=row["status"],
    )


def load_feed(
    con: duckdb.DuckDBPyConnection, feed_name: str, inbox: Path, *, force: bool = False
) -> FeedLoadResult:
    """Bring the warehouse's copy of one feed in line with ``inbox/<feed_name>/``.

    ``force`` re-reads files even when their bytes did not change. Raises
    ``KeyError`` for an unknown feed and ``FileNotFoundError`` when the inbox
    itself does not exist (rather than treating every file as deleted).
    """
    started = time.perf_counter()
    spec = SPECS[feed_name]
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise FileNotFoundError(
            f"inbox {inbox} does not exist; refusing to treat every {feed_name} file as deleted"
        )
    results: list[FileLoadResult] = []
    with write_lock(database_path(con)):
        existing = {
            r["source_file"]: r
            for r in con.sql(
                "SELECT * FROM loads WHERE feed = ? ORDER BY source_file", params=[feed_name]
            )
            .pl()
            .iter_rows(named=True)
        }
        parsed: list[ParsedFile] = []
        present: set[str] = set()
        for path in inbox_files(inbox, feed_name):
            source_file = path.relative_to(inbox).as_posix()
            present.add(source_file)
            data = path.read_bytes()
            load_id = make_load_id(feed_name, source_file, file_checksum(data))
            before = existing.get(source_file)
            if before is not None and before["load_id"] == load_id and not force:
                results.append(_unchanged_result(path, before))
                continue
            t0 = time.perf_counter()
            pf = parse_file(spec, path, inbox, data)
            log.info(
                "%s: %s %s: read %d, loaded %d, rejected %d (%.2fs)",
                feed_name,
                pf.status,
                source_file,
                pf.rows_read,
                pf.rows_loaded,
                pf.rows_rejected,
                time.perf_counter() - t0,
            )
            parsed.append(pf)
            results.append(FileLoadResult.from_parsed(pf))
        gone = sorted(set(existing) - present)
        for source_file in gone:
            log.info("%s: %s is gone from the inbox; removing its rows", feed_name, source_file)
            results.append(
                FileLoadResult(path=inbox / source_file, source_file=source_file, status="removed")
            )

        if parsed or gone:
            now = dt.datetime.now()
            con.begin()
            try:
                _delete(con, feed_name, gone + [pf.source_file for pf in parsed])
                _insert(con, f"raw_{feed_name}", [pf.raw for pf in parsed])
                _insert(con, feed_name, [pf.typed for pf in parsed])
                _insert(con, "rejects", [pf.rejects for pf in parsed])
                _insert(con, "load_warnings", [pf.warnings for pf in parsed])
                _insert(con, "loads", [pl.DataFrame([pf.loads_record(now) for pf in parsed])])
                con.commit()
            except BaseException:
                con.rollback()
                raise
        preview = con.sql(f'SELECT * FROM "{feed_name}" LIMIT {PREVIEW_ROWS}').pl()

    results.sort(key=lambda r: r.source_file)
    out = FeedLoadResult(feed_name, results, preview, time.perf_counter() - started)
    log.info("%s", out.summary())
    return out


def load_all(
    con: duckdb.DuckDBPyConnection, inbox: Path, feeds: list[str] | None = None
) -> dict[str, FeedLoadResult]:
    """:func:`load_feed` for every feed (in ``bidui.config.FEEDS`` order)."""
    from bidui.config import FEEDS

    return {feed: load_feed(con, feed, inbox) for feed in (feeds or FEEDS)}


__all__ = [
    "REJECT_SCHEMA",
    "FeedLoadResult",
    "FileLoadResult",
    "inbox_files",
    "load_all",
    "load_feed",
]
