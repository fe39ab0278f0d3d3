"""Load every file of a feed's inbox folder into the warehouse.

The inbox is the truth: a file with the same bytes as last time is not read
again, a changed file replaces everything its earlier version produced (raw,
typed, rejects, warnings, its ``loads`` row), and a file that disappeared from
the inbox takes its rows with it. All changes of one feed happen in one
transaction, under the warehouse's writer lock.

Before a byte is parsed, every file is screened: over a size limit
(``department_feeds.limits``), a symlink leading out of the inbox, or a format
the loader does not read → recorded as failed, not read. Files of a feed with
the same bytes are loaded once (the first by path); every other copy is recorded
as ``duplicate``, and takes over when that first one leaves the inbox.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing.connection
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from core.config import now as office_now
from core.config import warehouse_key
from department_feeds import FEEDS, SPECS
from department_feeds.limits import LimitExceeded, Limits, check_file
from department_feeds.loader import (
    REJECT_SCHEMA,
    SUFFIXES,
    UNSUPPORTED_SUFFIXES,
    ParsedFile,
    SheetInfo,
    file_checksum,
    make_load_id,
    parse_file,
    source_name,
    unread_file,
    year_from_path,
)
from department_feeds.spec import FeedSpec
from warehouse.connection import database_path, write_lock
from warehouse.schema import insert_sql

log = logging.getLogger(__name__)

PREVIEW_ROWS = 10
MAX_AHEAD_FILES = 2
"""Files a run's :class:`ParseAhead` holds parsed for feeds whose load has not begun."""
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class FileLoadResult:
    """What happened to one file in this run."""

    path: Path
    source_file: str
    status: str
    """``loaded`` (read now), ``failed`` (read now, unusable, or not read: over a
    limit, a symlink out of the inbox, an unsupported format), ``duplicate`` (same
    bytes as another file of the feed, which is loaded instead), ``unchanged`` (same
    state as the last load; its earlier result stands) or ``removed`` (gone from
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

    ``.xlsx``/``.xlsm``/``.csv``, plus what must be reported rather than ignored:
    spreadsheet formats the loader does not read (``.xls``…) and symlinks (to a
    file or a folder; they are not followed). Office lock files (``~$…``),
    anything hidden (a name or folder starting with ``.``) and other suffixes
    (``.txt``, ``.pdf``) are ignored.
    """
    out: list[Path] = []
    for root in feed_folders(inbox, feed):
        out += _folder_files(root)
    return sorted(out)


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().casefold()


def feed_folders(inbox: Path, feed: str) -> list[Path]:
    """``inbox/<feed>/`` and any top-level folder whose name is the feed's in another
    case or width (``Register/``, ``ＲＥＧＩＳＴＥＲ/``): a clerk's spelling, not a
    different feed, so its files are read rather than silently skipped."""
    roots = [inbox / feed]
    try:
        entries = sorted(inbox.iterdir())
    except OSError:
        return roots
    roots += [e for e in entries if e.name != feed and _fold(e.name) == feed]
    return roots


def unread_entries(inbox: Path) -> list[dict[str, str]]:
    """Top-level inbox entries no feed reads: files beside the feed folders and
    folders with a name that is no feed's (``户籍/``, ``新建文件夹/``). They are
    reported (``inbox_unread``, the report), never silently ignored."""
    folders = "、".join(f"{s.name}/（{s.title_zh}）" for s in SPECS.values())
    out = []
    try:
        entries = sorted(inbox.iterdir())
    except OSError:
        return out
    for e in entries:
        # Feed folders in another case are read (feed_folders); feedback/ only as named.
        if e.name.startswith((".", "~$")) or _fold(e.name) in FEEDS or e.name == "feedback":
            continue
        if e.is_dir() and not e.is_symlink():
            n = sum(1 for f in e.rglob("*") if f.is_file() and not f.name.startswith((".", "~$")))
            zh = (
                f"文件夹“{e.name}”不是约定的数据文件夹，其中 {n} 个文件未读取；"
                f"请把文件放入对应的文件夹：{folders}"
            )
            en = f"folder {e.name!r} is no feed's folder; its {n} file(s) were not read"
        else:
            zh = f"文件“{e.name}”直接放在收件箱中，未读取；请放入对应的文件夹：{folders}"
            en = f"file {e.name!r} lies in the inbox itself, not in a feed folder; not read"
        out.append({"path": source_name(e, inbox), "reason_zh": zh, "reason_en": en})
    return out


def record_unread(
    con: duckdb.DuckDBPyConnection, inbox: Path, quiet: bool = False
) -> list[dict[str, str]]:
    """Replace ``inbox_unread`` with what the inbox now holds that no feed reads."""
    entries = unread_entries(inbox)
    con.execute("DELETE FROM inbox_unread")
    for e in entries:
        if not quiet:
            log.warning("inbox: %s", e["reason_en"])
        con.execute(
            insert_sql("inbox_unread"),
            [e["path"], e["reason_zh"], e["reason_en"], office_now()],
        )
    return entries


SAME_YEAR_FEEDS = {
    name: spec.once_a_year_key for name, spec in SPECS.items() if spec.once_a_year_key
}
"""Feeds of which a record appears once a year: feed → its key (``FeedSpec.once_a_year_key``)."""

SUPERSEDE_SHARE = 0.5
"""Two files of one year sharing at least this share of the older one's persons are
two versions of the same list (``2025年….xlsx`` and ``2025年…(修订).xlsx``)."""


def _supersede_same_year(con: duckdb.DuckDBPyConnection, feed: str) -> None:
    """Two versions of one year's list: the newer file (by file time, then name)
    is used, the older one's rows of that year move to ``rejects`` with a reason,
    and its ``loads`` row says so (status ``superseded``).

    Loading both doubled every person: hundreds of false duplicate-ID and
    household findings sent to every township. Files of one year that do not
    share persons (one file per township) are all kept.
    """
    key = SAME_YEAR_FEEDS[feed]
    pairs = con.execute(
        f"""
        WITH g AS (
            SELECT f.source_file, f.year, k, l.modified_at
            FROM (SELECT *, {key} AS k FROM "{feed}") f JOIN loads l USING (load_id)
            WHERE k IS NOT NULL AND f.year IS NOT NULL
        ),
        n AS (SELECT source_file, year, count(DISTINCT k) AS n FROM g GROUP BY ALL),
        shared AS (
            SELECT a.source_file AS older, b.source_file AS newer, a.year,
                   count(DISTINCT a.k) AS shared
            FROM g a JOIN g b ON a.year = b.year AND a.k = b.k
                AND (a.modified_at, a.source_file) < (b.modified_at, b.source_file)
            GROUP BY ALL
        )
        SELECT s.older, s.year, arg_max(s.newer, s.shared) AS newer, max(s.shared) AS shared
        FROM shared s JOIN n ON n.source_file = s.older AND n.year = s.year
        WHERE s.shared >= ? * n.n
        GROUP BY ALL ORDER BY ALL
        """,
        [SUPERSEDE_SHARE],
    ).fetchall()
    for older, year, newer, shared in pairs:
        zh = (
            f"与同为{year}年度的文件“{newer}”有 {shared} 人相同，是同一名单的不同版本；"
            f"以较新的“{newer}”为准，本文件的{year}年度记录未使用（如应以本文件为准，请删除另一文件）"
        )
        en = f"same {year} list as the newer {newer} ({shared} persons shared); superseded by it"
        log.warning("%s: %s: %s", feed, older, en)
        moved = con.execute(
            f"""
            INSERT INTO rejects
            SELECT load_id, ?, source_file, sheet, row_number, NULL, NULL, ?, ?
            FROM "{feed}" WHERE source_file = ? AND year = ?
            """,
            [feed, zh, en, older, year],
        ).fetchone()[0]
        con.execute(f'DELETE FROM "{feed}" WHERE source_file = ? AND year = ?', [older, year])
        con.execute(
            """
            UPDATE loads SET rows_loaded = rows_loaded - ?, rows_rejected = rows_rejected + ?,
                status = 'superseded', error = concat_ws('；', error, ?)
            WHERE feed = ? AND source_file = ?
            """,
            [moved, moved, zh, feed, older],
        )


def _folder_files(root: Path) -> list[Path]:
    if root.is_symlink():
        return [root]  # screened like any link: read only if it stays in the inbox
    if not root.is_dir():
        return []
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if any(part.startswith(".") for part in rel) or p.name.startswith("~$"):
            continue
        suffix = p.suffix.lower()
        wanted = suffix in SUFFIXES or suffix in UNSUPPORTED_SUFFIXES
        if p.is_symlink():
            if wanted or p.is_dir():
                out.append(p)
        elif wanted and p.is_file():
            out.append(p)
    return out


def _outside(path: Path, inbox_real: Path) -> bool:
    """Whether a symlink leads out of the inbox (or nowhere)."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return True
    return not target.is_relative_to(inbox_real) or not target.is_file()


def _stat_key(path: Path) -> str:
    try:
        st = path.lstat()
    except OSError:
        return "gone"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _screen(
    spec: FeedSpec, path: Path, inbox: Path, inbox_real: Path, limits: Limits, quiet: bool = False
) -> ParsedFile | str:
    """A file's checksum, or the failed record of a file that must not be read
    (``quiet``: without logging it, for a look ahead of the load)."""
    source_file = source_name(path, inbox)

    def unread(key: str, en: str, zh: str) -> ParsedFile:
        return unread_file(spec, path, inbox, make_load_id(spec.name, source_file, key), en, zh)

    if path.is_symlink() and (path.is_dir() or _outside(path, inbox_real)):
        return unread(
            f"symlink:{os.fsencode(os.readlink(path)).hex()}",
            "a symbolic link leading out of the inbox (or to a folder); not followed",
            "该文件是指向收件箱以外位置（或文件夹）的快捷方式（符号链接），为防止读入其他位置的"
            "个人信息，未读取；请把文件本身放入收件箱",
        )
    if path.suffix.lower() in UNSUPPORTED_SUFFIXES:
        return unread(
            f"unsupported:{_stat_key(path)}",
            f"unsupported format {path.suffix!r}; only .xlsx and .csv are read",
            f"不支持的文件格式（{path.suffix}），未读取；请用Excel另存为“Excel工作簿（*.xlsx）”"
            "或CSV后重新报送",
        )
    try:
        check_file(path, limits)
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except LimitExceeded as exc:
        if not quiet:
            log.warning("%s: %s", source_file, exc.message_en)
        return unread(f"limit:{_stat_key(path)}:{limits!r}", exc.message_en, exc.message_zh)
    except OSError as exc:
        # Locked, unreadable or vanished: try again next run (a key that never repeats).
        return unread(
            f"oserror:{time.time_ns()}",
            f"cannot open the file: {exc.strerror or exc}",
            "无法打开该文件（可能正被其他程序占用或没有读取权限），本次未读取，下次比对时将重试",
        )


def _original_of(
    spec: FeedSpec, firsts: list[tuple[str, dict[str, str]]], source_file: str
) -> str | None:
    """The earlier file ``source_file`` duplicates, given the files already read with
    the same bytes (and their header mappings); None when it is not a duplicate.

    Same bytes are the same rows, except where the year comes from the path (a
    register without a 年度 column under ``2023/`` and under ``2024/``).
    """
    for first, mapping in firsts:
        field_ = spec.year_from_file_name
        if field_ is None or field_ in mapping.values():
            return first
        if year_from_path(first) == year_from_path(source_file):
            return first
    return None


def _read_stable(path: Path, checksum: str, limits: Limits) -> bytes | None:
    """The file's bytes if they are still the ones hashed (not being written), else
    None. Never reads more than the size cap."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_file_bytes + 1)
    except OSError:  # moved away or locked since it was hashed
        return None
    if len(data) > limits.max_file_bytes or file_checksum(data) != checksum:
        return None
    return data


def _delete(con: duckdb.DuckDBPyConnection, feed: str, source_files: list[str]) -> None:
    """Remove everything the given files produced, in every table."""
    if not source_files:
        return
    # A list parameter: registering a frame for it cost 10-70 ms per feed.
    for table in (f"raw_{feed}", feed):
        con.execute(
            f'DELETE FROM "{table}" WHERE list_contains(?::VARCHAR[], source_file)',
            [source_files],
        )
    for table in ("rejects", "load_warnings", "loads"):
        con.execute(
            f"DELETE FROM {table} WHERE feed = ? AND list_contains(?::VARCHAR[], source_file)",
            [feed, source_files],
        )


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


def _content_key(path: Path, checksum: str, source_file: str) -> str:
    """Files with the same key hold the same content: same bytes read the same way
    (as CSV or as a workbook); empty files are each their own (each fails as empty)."""
    key = f"{checksum}:{'csv' if path.suffix.lower() == '.csv' else 'workbook'}"
    return key + f":{source_file}" if checksum == EMPTY_SHA256 else key


def _read_and_parse(
    spec: FeedSpec, path: Path, inbox: Path, checksum: str, limits: Limits
) -> tuple[ParsedFile | None, float]:
    """The parsed file (None when its bytes changed since they were hashed) and the
    seconds parsing took."""
    data = _read_stable(path, checksum, limits)
    if data is None:
        return None, 0.0
    t0 = time.perf_counter()
    pf = parse_file(spec, path, inbox, data, limits)
    return pf, time.perf_counter() - t0


def parse_processes() -> int:
    """How many processes parse ahead of a run's loads: ``$BIDUI_PARSE_PROCESSES``
    when set (0: none), else the cores this process may use but one (the loads'
    own) that are idle, at most :data:`MAX_AHEAD_FILES`.

    Idle by the 1-minute load average: on a machine already busy (other runs, the
    counties of a prefecture side by side) a parse process only competes for a
    core, and it costs CPU of its own (start, passing frames): at 2,400
    households with 2 cores and a load of 4 its ingest took longer than without.
    """
    raw = os.environ.get("BIDUI_PARSE_PROCESSES", "").strip()
    if raw:
        try:
            return max(0, int(raw))
        except ValueError:
            raise ValueError(f"BIDUI_PARSE_PROCESSES={raw!r} is not a number") from None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(0, min(cores - 1, MAX_AHEAD_FILES, round(cores - 1 - busy)))


def _parse_plan(
    spec: FeedSpec,
    inbox: Path,
    paths: list[Path],
    screens: dict[Path, ParsedFile | str],
    existing: dict[str, dict],
    force: bool,
) -> list[tuple[Path, str]]:
    """The files :func:`load_feed` will parse, as (path, checksum), in path order.

    A file is parsed when it was hashed, changed since its last load (or its load
    was superseded, or ``force``) and is the first of its content: the decisions of
    ``load_feed``, which stay there and in path order. A copy is left out (decided
    in order there; the same bytes under another year's folder are parsed then).
    """
    seen: set[str] = set()
    plan: list[tuple[Path, str]] = []
    for path in paths:
        checksum = screens[path]
        if not isinstance(checksum, str):
            continue
        source_file = source_name(path, inbox)
        key = _content_key(path, checksum, source_file)
        if key in seen:
            continue
        seen.add(key)
        before = existing.get(source_file)
        if (
            before is not None
            and before["load_id"] == make_load_id(spec.name, source_file, checksum)
            and before["status"] != "superseded"
            and not force
        ):
            continue
        plan.append((path, checksum))
    return plan


@dataclass(eq=False)
class _Job:
    """One file to parse: by a parse process ahead of its feed, or by ``load_feed``."""

    feed: str
    path: Path
    checksum: str
    size: int = 0
    state: str = "queued"  # queued → running → done
    by_worker: bool = False
    stat: str = ""
    """The file's size and mtime as the worker read it: its result is used only if
    they still hold (the mtime is stored with the load)."""
    result: tuple[ParsedFile | None, float] | None = None
    error: BaseException | None = None
    records: list[logging.LogRecord] = field(default_factory=list)
    """The parse's log records, emitted by the load that takes the result."""

    @property
    def key(self) -> tuple[str, Path, str]:
        return self.feed, self.path, self.checksum


class ParseProcessError(RuntimeError):
    """The parse process stopped (killed, out of memory): its file is parsed here."""


class _ParseProcess:
    """A child Python that parses files sent to it, for :class:`ParseAhead`.

    A process, not a thread: parsing is mostly Python (the GIL), so two threads
    parsed the 2,400-household inbox in more wall time than one (7.4 s against
    5.6 s). A plain ``python -c`` (not multiprocessing's spawn, which would import
    the parent's ``__main__``, e.g. the Dagster CLI, again); it exits when the
    parent closes its end of the socket, or dies.

    The frames come back as Arrow IPC files in a private folder in ``/dev/shm``
    (memory, never disk), read and removed at once: pickling them through the
    socket cost three times the CPU (0.42 s against 0.15 s for a 66,000-row
    register). Without ``/dev/shm`` they are pickled.
    """

    def __init__(self) -> None:
        parent, child = multiprocessing.connection.Pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._shm = _shm_folder()
        code = (
            "import sys; from warehouse.ingest import serve_parse; "
            "serve_parse(int(sys.argv[1]), sys.argv[2])"
        )
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code, str(child.fileno()), self._shm or ""],
                pass_fds=(child.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            child.close()
        self._conn = parent
        # Ready once its imports are done (~1 s): until then the loads parse themselves.
        try:
            self._conn.recv()
        except (OSError, EOFError) as exc:
            self.close()
            raise ParseProcessError(f"the parse process did not start: {exc}") from None

    def parse(
        self, spec: FeedSpec, path: Path, inbox: Path, checksum: str, limits: Limits
    ) -> tuple[tuple[ParsedFile | None, float] | None, BaseException | None, list]:
        """(result, error, log records) of :func:`_read_and_parse` in the child."""
        try:
            self._conn.send((spec.name, path, inbox, checksum, limits))
            result, error, records = self._conn.recv()
        except (OSError, EOFError) as exc:
            raise ParseProcessError(f"the parse process stopped: {exc}") from None
        if result is not None and result[0] is not None:
            _frames_from_files(result[0])
        return result, error, records

    def close(self) -> None:
        self._conn.close()  # the child reads EOF and exits
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._shm:
            shutil.rmtree(self._shm, ignore_errors=True)


_FRAMES = ("raw", "typed", "rejects", "warnings")


@dataclass(frozen=True)
class _FrameFile:
    """A frame of a ParsedFile on its way from the parse process: its IPC file."""

    path: str


SHM = Path("/dev/shm")


def _shm_folder() -> str | None:
    """A private folder (0700) in ``/dev/shm`` for the frames, None without one,
    or when the warehouse is encrypted (no file of rows outside it, even in
    memory). Folders a killed run left behind (its pid gone) are removed first:
    they may hold a file's rows."""
    try:
        if warehouse_key() is not None:
            return None
    except Exception:  # a key configured but unreadable: connect() says so
        return None
    for old in SHM.glob("bidui-parse-*-*") if SHM.is_dir() else ():
        pid = old.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    try:
        return tempfile.mkdtemp(prefix=f"bidui-parse-{os.getpid()}-", dir=SHM)
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _frames_to_files(pf: ParsedFile, folder: str) -> None:
    """Put the frames in IPC files (all or, when ``/dev/shm`` is full, none)."""
    written: dict[str, str] = {}
    try:
        for name in _FRAMES:
            frame = getattr(pf, name)
            if frame is not None:
                fd, written[name] = tempfile.mkstemp(suffix=".arrow", dir=folder)
                with os.fdopen(fd, "wb") as fh:
                    frame.write_ipc(fh)
    except OSError:
        for path in written.values():
            with contextlib.suppress(OSError):
                os.unlink(path)
        return  # pickled with the answer instead
    for name, path in written.items():
        setattr(pf, name, _FrameFile(path))


def _frames_from_files(pf: ParsedFile) -> None:
    for name in _FRAMES:
        ref = getattr(pf, name)
        if isinstance(ref, _FrameFile):
            try:
                setattr(pf, name, pl.read_ipc(ref.path))
            finally:
                os.unlink(ref.path)


class _Records(logging.Handler):
    """Collects a child parse's log records, made picklable (text, no objects)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.records.append(record)


def serve_parse(fd: int, folder: str = "") -> None:
    """The parse process (:class:`_ParseProcess`): parse what arrives on ``fd``
    until it closes; answer (result, error, log records), the frames as IPC files
    in ``folder`` when given."""
    conn = multiprocessing.connection.Connection(fd)
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    conn.send("ready")
    while True:
        try:
            feed, path, inbox, checksum, limits = conn.recv()
        except (EOFError, OSError):
            return
        handler.records = []
        try:
            answer = (_read_and_parse(SPECS[feed], path, inbox, checksum, limits), None)
            if folder and answer[0][0] is not None:
                _frames_to_files(answer[0][0], folder)
        except BaseException as exc:  # the parent raises it where it takes the result
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            answer = (None, exc)
        try:
            conn.send((*answer, handler.records))
        except (OSError, EOFError):
            return


class ParseAhead:
    """Parses, in a child process, the changed files of the feeds a run loads.

    A run loads its feeds one after another (Dagster's feed steps, or
    :func:`load_all`), on one core. Beside it, a parse process works through the
    next feeds' files, so both cores work. It plans each feed as ``load_feed``
    would (:func:`_parse_plan` on the ``loads`` rows read when it starts: unchanged
    files and copies are not parsed; nothing at all when nothing changed), in the
    order given, largest file first within a feed, and holds at most ``max_files``
    files parsed (or being parsed) for feeds whose load has not begun: each holds
    its frames.

    ``load_feed`` still makes every decision itself, in path order. It parses here
    the files of its own plan no process has started (one may start others
    meanwhile), and takes a process's result only for the same file, bytes and
    mtime. Parsing is pure, so the warehouse ends up the same as with every file
    parsed in its load.
    """

    def __init__(
        self,
        inbox: Path,
        feeds: list[str],
        *,
        existing: dict[str, dict[str, dict]] | None = None,
        plans: dict[str, list[tuple[Path, str]]] | None = None,
        force: bool = False,
        limits: Limits | None = None,
        processes: int | None = None,
        max_files: int = MAX_AHEAD_FILES,
    ) -> None:
        """``existing`` (feed → source_file → ``loads`` row) makes the worker plan
        ``feeds`` itself; ``plans`` gives the files to parse instead."""
        self.inbox = Path(inbox)
        self.feeds = list(feeds)
        self.force = force
        self.limits = limits or Limits.from_env()
        self.max_files = max(1, max_files)
        self.parsed_by_worker = 0
        self._existing = existing or {}
        self._cond = threading.Condition()
        self._jobs: dict[tuple[str, Path, str], _Job] = {}
        self._queue: list[_Job] = []  # the workers' order: feed order, largest first
        self._finished: set[str] = set()
        self._loading: str | None = None  # the feed whose load_feed is parsing
        self._closed = False
        self._planning = existing is not None
        for feed, plan in (plans or {}).items():
            self.add_plan(feed, plan)
        n = parse_processes() if processes is None else processes
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"parse-ahead-{i}", daemon=True)
            for i in range(max(0, n))
        ]
        if not self._threads:
            self._planning = False
        for t in self._threads:
            t.start()

    @classmethod
    def for_run(
        cls,
        con: duckdb.DuckDBPyConnection,
        inbox: Path,
        feeds: list[str],
        *,
        force: bool = False,
        limits: Limits | None = None,
        processes: int | None = None,
        max_files: int = MAX_AHEAD_FILES,
    ) -> ParseAhead:
        """A parse-ahead for ``feeds`` (in the order they will be loaded), planned on
        its thread from the warehouse's ``loads`` rows as they are now."""
        feeds = [f for f in feeds if f in SPECS]
        existing: dict[str, dict[str, dict]] = {f: {} for f in feeds}
        if feeds:
            rows = con.sql(
                "SELECT * FROM loads WHERE list_contains(?::VARCHAR[], feed)", params=[feeds]
            ).pl()
            for r in rows.iter_rows(named=True):
                existing[r["feed"]][r["source_file"]] = r
        return cls(
            inbox,
            feeds,
            existing=existing,
            force=force,
            limits=limits,
            processes=processes,
            max_files=max_files,
        )

    # --------------------------------------------------------------- worker side

    def _plan(self) -> None:
        inbox_real = self.inbox.resolve()
        for feed in self.feeds:
            with self._cond:
                if self._closed:
                    return
                if feed in self._finished:
                    continue
            spec = SPECS[feed]
            paths = inbox_files(self.inbox, feed)
            screens = {
                p: _screen(spec, p, self.inbox, inbox_real, self.limits, quiet=True) for p in paths
            }
            existing = self._existing.get(feed, {})
            self.add_plan(feed, _parse_plan(spec, self.inbox, paths, screens, existing, self.force))

    def add_plan(self, feed: str, plan: list[tuple[Path, str]]) -> None:
        """Queue a feed's files for the workers (largest first), unless its load ended."""
        jobs = []
        for path, checksum in plan:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            jobs.append(_Job(feed, path, checksum, size))
        jobs.sort(key=lambda j: -j.size)
        with self._cond:
            if self._closed or feed in self._finished:
                return
            for job in jobs:
                if job.key not in self._jobs:
                    self._jobs[job.key] = job
                    self._queue.append(job)
            self._cond.notify_all()

    def _next(self) -> _Job | None:
        """A worker's next file (waits while ``max_files`` are held); None: stop."""
        with self._cond:
            while not self._closed and not self._all_finished():
                job = next((j for j in self._queue if j.state == "queued"), None)
                # The loading feed's files are all taken by its load: not "ahead".
                if job is not None and (
                    job.feed == self._loading or self._ahead() < self.max_files
                ):
                    job.state, job.by_worker = "running", True
                    return job
                self._cond.wait()
            return None

    def _wanted(self) -> bool:
        """Wait until there is a file for the workers; False when there never will be."""
        with self._cond:
            while not self._closed and not self._all_finished():
                if any(j.state == "queued" for j in self._queue):
                    return True
                self._cond.wait()
            return False

    def _work(self, index: int) -> None:
        process: _ParseProcess | None = None
        try:
            if index == 0 and self._planning:
                try:
                    self._plan()
                finally:
                    with self._cond:
                        self._planning = False
                        self._cond.notify_all()
            while self._wanted():
                process = process or _ParseProcess()  # only once there is something to parse
                job = self._next()
                if job is None:
                    break
                self._run(process, job)
        except ParseProcessError as exc:  # load_feed then parses the files itself
            log.warning("parse-ahead: %s; the loads parse their own files", exc)
        except BaseException:
            log.exception("parse-ahead worker stopped; the loads parse their own files")
        finally:
            if process is not None:
                process.close()

    def _run(self, process: _ParseProcess, job: _Job) -> None:
        job.stat = _stat_key(job.path)
        try:
            result, error, records = process.parse(
                SPECS[job.feed], job.path, self.inbox, job.checksum, self.limits
            )
        except BaseException:
            with self._cond:  # back to the queue: load_feed parses it
                job.state, job.by_worker = "queued", False
                self._cond.notify_all()
            raise
        with self._cond:
            job.result, job.error, job.records, job.state = result, error, records, "done"
            self.parsed_by_worker += 1
            if job.feed in self._finished or self._closed:
                self._drop(job)
            self._cond.notify_all()

    def _drop(self, job: _Job) -> None:
        """Forget a job that is not running, and its result (caller holds the lock)."""
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]
        if job in self._queue:
            self._queue.remove(job)
        job.result, job.records = None, []

    def _ahead(self) -> int:
        """Files the workers parsed or are parsing for feeds whose load has not begun."""
        return sum(1 for j in self._queue if j.by_worker and j.feed != self._loading)

    def _all_finished(self) -> bool:
        return set(self.feeds) <= self._finished

    # ---------------------------------------------------------- load_feed side

    def serves(self, inbox: Path, limits: Limits) -> bool:
        """Whether this parse-ahead may parse for a load of ``inbox`` with ``limits``."""
        return Path(inbox) == self.inbox and limits == self.limits and not self._closed

    def parse(
        self, spec: FeedSpec, inbox: Path, limits: Limits, plan: list[tuple[Path, str]]
    ) -> dict[Path, tuple[ParsedFile | None, float]]:
        """Parse ``load_feed``'s ``plan``: here, in path order, every file no worker
        has started (one may start others meanwhile); then take the workers' results
        for the same bytes and mtime. A file missing from the answer is parsed by
        ``load_feed`` itself."""
        feed = spec.name
        keys = [(feed, path, checksum) for path, checksum in plan]
        with self._cond:
            self._loading = feed
            for key in keys:
                if key not in self._jobs:
                    job = _Job(*key)
                    self._jobs[key] = job
                    self._queue.append(job)
            self._cond.notify_all()
        out: dict[Path, tuple[ParsedFile | None, float]] = {}
        while True:
            with self._cond:
                job = next(
                    (j for k in keys if (j := self._jobs.get(k)) and j.state == "queued"), None
                )
                if job is None:
                    break
                job.state = "running"
            try:
                out[job.path] = _read_and_parse(spec, job.path, inbox, job.checksum, limits)
            finally:
                with self._cond:
                    job.state = "done"
                    self._drop(job)
                    self._cond.notify_all()
        for key in keys:
            path = key[1]
            if path in out:
                continue
            with self._cond:
                while (job := self._jobs.get(key)) is not None and job.state == "running":
                    self._cond.wait()
                if job is None:
                    continue
                result, error, stat, records = job.result, job.error, job.stat, job.records
                self._drop(job)
                self._cond.notify_all()
            for record in records:
                logger = logging.getLogger(record.name)
                if logger.isEnabledFor(record.levelno):
                    logger.handle(record)
            if error is not None:
                raise error
            if result is not None and stat == _stat_key(path):
                out[path] = result
        return out

    def finished(self, feed: str) -> None:
        """A load of ``feed`` ended (or failed): its results not taken are dropped."""
        with self._cond:
            self._finished.add(feed)
            if self._loading == feed:
                self._loading = None
            for job in [j for j in self._queue if j.feed == feed and j.state != "running"]:
                self._drop(job)
            self._cond.notify_all()

    @property
    def done(self) -> bool:
        """Every feed of the run has been loaded (or its load failed)."""
        with self._cond:
            return self._all_finished()

    def close(self) -> None:
        """Stop the workers (after their current file) and drop every result."""
        with self._cond:
            self._closed = True
            for job in [j for j in self._queue if j.state != "running"]:
                self._drop(job)
            self._cond.notify_all()


def _parse_files(
    spec: FeedSpec,
    inbox: Path,
    limits: Limits,
    plan: list[tuple[Path, str]],
    ahead: ParseAhead | None,
) -> dict[Path, tuple[ParsedFile | None, float]]:
    """The parse of the files of ``plan`` through the run's parse-ahead; without one
    (a feed loaded alone), none: ``load_feed`` parses each file as it decides."""
    if ahead is not None and ahead.serves(inbox, limits):
        return ahead.parse(spec, inbox, limits, plan)
    return {}


def load_feed(
    con: duckdb.DuckDBPyConnection,
    feed_name: str,
    inbox: Path,
    *,
    force: bool = False,
    limits: Limits | None = None,
    ahead: ParseAhead | None = None,
) -> FeedLoadResult:
    """Bring the warehouse's copy of one feed in line with ``inbox/<feed_name>/``.

    ``force`` re-reads files even when their bytes did not change. ``limits``
    defaults to ``Limits.from_env()`` (``BIDUI_MAX_*``). ``ahead``: the run's
    :class:`ParseAhead`, which may have parsed this feed's files already (told
    when this load ends). Raises ``KeyError`` for an unknown feed and
    ``FileNotFoundError`` when the inbox itself does not exist (rather than
    treating every file as deleted).
    """
    try:
        return _load_feed(con, feed_name, inbox, force, limits, ahead)
    finally:
        if ahead is not None:
            ahead.finished(feed_name)


def _load_feed(
    con: duckdb.DuckDBPyConnection,
    feed_name: str,
    inbox: Path,
    force: bool,
    limits: Limits | None,
    ahead: ParseAhead | None,
) -> FeedLoadResult:
    started = time.perf_counter()
    spec = SPECS[feed_name]
    inbox = Path(inbox)
    limits = limits or Limits.from_env()
    if not inbox.is_dir():
        raise FileNotFoundError(
            f"inbox {inbox} does not exist; refusing to treat every {feed_name} file as deleted"
        )
    inbox_real = inbox.resolve()
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
        first_of: dict[str, list[tuple[str, dict]]] = {}  # checksum → files read, mappings

        def record(pf: ParsedFile) -> None:
            parsed.append(pf)
            results.append(FileLoadResult.from_parsed(pf))

        paths = list(inbox_files(inbox, feed_name))
        screens = {path: _screen(spec, path, inbox, inbox_real, limits) for path in paths}
        plan = _parse_plan(spec, inbox, paths, screens, existing, force)
        ready = _parse_files(spec, inbox, limits, plan, ahead)
        for path in paths:
            source_file = source_name(path, inbox)
            present.add(source_file)
            before = existing.get(source_file)
            screened = screens[path]
            if isinstance(screened, ParsedFile):
                if before is not None and before["load_id"] == screened.load_id and not force:
                    results.append(_unchanged_result(path, before))
                else:
                    record(screened)
                continue
            checksum = screened
            # Same bytes read as CSV and as a workbook are different files; so are
            # empty files (each fails as empty).
            key = _content_key(path, checksum, source_file)
            original = _original_of(spec, first_of.get(key, []), source_file)
            if original is not None:
                load_id = make_load_id(feed_name, source_file, f"{checksum}\0copy of\0{original}")
                if before is not None and before["load_id"] == load_id and not force:
                    results.append(_unchanged_result(path, before))
                    continue
                log.info("%s: %s has the same bytes as %s", feed_name, source_file, original)
                record(
                    unread_file(
                        spec,
                        path,
                        inbox,
                        load_id,
                        f"same content as {original}; skipped as a duplicate",
                        f"与文件“{original}”内容完全相同，已按重复文件跳过",
                        checksum=checksum,
                        status="duplicate",
                    )
                )
                continue
            load_id = make_load_id(feed_name, source_file, checksum)
            # A superseded file is read again each night: the file that replaced it may be gone.
            if (
                before is not None
                and before["load_id"] == load_id
                and before["status"] != "superseded"
                and not force
            ):
                results.append(_unchanged_result(path, before))
                mapping = json.loads(before["header_mapping"] or "{}")
                first_of.setdefault(key, []).append((source_file, mapping))
                continue
            pf, took = (
                ready.pop(path)
                if path in ready
                else _read_and_parse(spec, path, inbox, checksum, limits)
            )
            if pf is None:
                record(
                    unread_file(
                        spec,
                        path,
                        inbox,
                        make_load_id(feed_name, source_file, f"changing:{time.time_ns()}"),
                        "the file changed while it was being read (still being written?)",
                        "读取时文件内容发生了变化（可能仍在复制或保存中），本次未导入，"
                        "下次比对时将重新读取",
                    )
                )
                continue
            log.info(
                "%s: %s %s: read %d, loaded %d, rejected %d (%.2fs)",
                feed_name,
                pf.status,
                source_file,
                pf.rows_read,
                pf.rows_loaded,
                pf.rows_rejected,
                took,
            )
            record(pf)
            first_of.setdefault(key, []).append((source_file, pf.header_mapping))
        gone = sorted(set(existing) - present)
        for source_file in gone:
            log.info("%s: %s is gone from the inbox; removing its rows", feed_name, source_file)
            results.append(
                FileLoadResult(path=inbox / source_file, source_file=source_file, status="removed")
            )

        if parsed or gone:
            now = office_now()
            with _one_thread(con):
                _write(con, feed_name, gone, parsed, now)
        # Every feed's load refreshes it (a feed may be loaded alone); the register logs it.
        record_unread(con, inbox, quiet=feed_name != "register")
        preview = con.sql(f'SELECT * FROM "{feed_name}" LIMIT {PREVIEW_ROWS}').pl()

    results.sort(key=lambda r: r.source_file)
    out = FeedLoadResult(feed_name, results, preview, time.perf_counter() - started)
    log.info("%s", out.summary())
    return out


def _write(
    con: duckdb.DuckDBPyConnection,
    feed: str,
    gone: list[str],
    parsed: list[ParsedFile],
    now: object,
) -> None:
    """One transaction: the rows of files gone or read again out, the new ones in."""
    con.begin()
    try:
        _delete(con, feed, gone + [pf.source_file for pf in parsed])
        _insert(con, f"raw_{feed}", [pf.raw for pf in parsed])
        _insert(con, feed, [pf.typed for pf in parsed])
        _insert(con, "rejects", [pf.rejects for pf in parsed])
        _insert(con, "load_warnings", [pf.warnings for pf in parsed])
        _insert(con, "loads", [pl.DataFrame([pf.loads_record(now) for pf in parsed])])
        if feed in SAME_YEAR_FEEDS:
            _supersede_same_year(con, feed)
        con.commit()
    except BaseException:
        con.rollback()
        raise


@contextlib.contextmanager
def _one_thread(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB on one thread while a load writes: an insert of Arrow frames on two
    threads took about twice the CPU (20,000 households: 16 s against 9 s, DuckDB
    1.5.5) and no less wall time; the other core parses the next feed meanwhile."""
    (threads,) = con.sql("SELECT current_setting('threads')").fetchone()
    if int(threads) <= 1:
        yield
        return
    con.execute("SET threads = 1")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(threads)}")


def load_all(
    con: duckdb.DuckDBPyConnection, inbox: Path, feeds: list[str] | None = None
) -> dict[str, FeedLoadResult]:
    """:func:`load_feed` for every feed (in ``department_feeds.FEEDS`` order), the
    next feeds' files parsed ahead (:class:`ParseAhead`)."""
    feeds = list(feeds or FEEDS)
    inbox = Path(inbox)
    ahead = ParseAhead.for_run(con, inbox, feeds) if inbox.is_dir() else None
    try:
        return {feed: load_feed(con, feed, inbox, ahead=ahead) for feed in feeds}
    finally:
        if ahead is not None:
            ahead.close()


__all__ = [
    "REJECT_SCHEMA",
    "FeedLoadResult",
    "FileLoadResult",
    "ParseAhead",
    "feed_folders",
    "inbox_files",
    "load_all",
    "record_unread",
    "unread_entries",
    "load_feed",
]
