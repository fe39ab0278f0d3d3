"""The one resource every asset uses: where things are, which night it is, and
the run lock that makes a run the only one on its warehouse and its outbox.

One run at a time, whatever starts it (``bidui run``, the schedule, the sensor, a
launch from the UI): ``BiduiResource.setup_for_execution`` takes two flocks for
the whole run — ``<warehouse>.run.lock`` and ``<outbox>/.run.lock`` — and
``teardown_after_execution`` removes the run's own staging folder (a failed run
leaves nothing behind; a published one has already moved it) and releases them.
Dagster calls both once per run with the in-process executor. ``bidui run`` takes
the same locks before it launches the job (so a refusal is one line, not a failed
run) and the resource adopts them. A second run waits ``BIDUI_RUN_LOCK_WAIT``
seconds (default 0 for the CLI, 600 for runs Dagster launches), then is refused
with a message naming the holder, read from the JSON sidecar ``<lock>.json``.
The OS drops a flock when its process dies, so a stale sidecar after kill -9
blocks nothing; it is only information.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
from filelock import FileLock, Timeout
from pydantic import PrivateAttr

from core.config import Settings, office_tz
from core.config import today as office_today
from warehouse import connect as open_warehouse

CLI_LOCK_WAIT_S = 0.0
DAGSTER_LOCK_WAIT_S = 600.0


class RunBusy(RuntimeError):
    """Another run holds the warehouse or the outbox; the message is one line."""


WarehouseBusy = RunBusy  # the earlier name


def lock_wait_s(default: float) -> float:
    """Seconds a run waits for the lock: ``$BIDUI_RUN_LOCK_WAIT`` or ``default``."""
    raw = os.environ.get("BIDUI_RUN_LOCK_WAIT", "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"BIDUI_RUN_LOCK_WAIT={raw!r} is not a number of seconds") from None
    return max(value, 0.0)


def warehouse_lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".run.lock")


def outbox_lock_path(outbox: Path) -> Path:
    return outbox / ".run.lock"


class _Lock:
    """One flock on ``path`` plus a sidecar ``<path>.json`` saying who holds it."""

    def __init__(self, path: Path, what: str, target: Path):
        self.path, self.what, self.target = path, what, target
        self.sidecar = path.with_name(path.name + ".json")
        # A fresh FileLock per owner: two owners in one process (two threads, or a
        # run and a stray connection) open two descriptors, and flock keeps them apart.
        self._lock = FileLock(
            str(path),
            thread_local=False,
            fallback_to_soft=False,  # a soft lock would outlive a killed run
            preserve_lock_file=True,
        )
        self.held = False

    def acquire(self, run_id: str, wait_s: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=max(wait_s, 0.0), poll_interval=0.2)
        except Timeout:
            raise RunBusy(self.busy_message(wait_s)) from None
        self.held = True
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": run_id,
            "started": datetime.now(office_tz()).isoformat(timespec="seconds"),
            "path": str(self.target),
        }
        tmp = self.sidecar.with_name(f"{self.sidecar.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):  # information only: never fail the run on it
            tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.sidecar)

    def release(self) -> None:
        if not self.held:
            return
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.sidecar.read_text(encoding="utf-8")).get("pid") == os.getpid():
                self.sidecar.unlink()
        self._lock.release(force=True)
        self.held = False

    def busy_message(self, wait_s: float) -> str:
        try:
            h = json.loads(self.sidecar.read_text(encoding="utf-8"))
            started = str(h.get("started", "?")).replace("T", " ")[:19]
            run = str(h.get("run_id"))
            run = run[:8] + "…" if len(run) == 36 else run  # a Dagster run id: its prefix
            who = f"pid {h.get('pid')} on {h.get('host')}, run {run}, started {started}"
            who_zh = f"进程 {h.get('pid')}，开始于 {started}"
        except (OSError, ValueError, AttributeError):
            who, who_zh = "holder unknown", "持有者未知"
        waited = f" (waited {wait_s:.0f} s)" if wait_s > 0 else ""
        place_zh = "数据仓库" if self.what == "warehouse" else "输出目录"
        return (
            f"another bidui run ({who}) is using {self.what} {self.target}{waited}; "
            f"wait for it to finish or try again later / "
            f"另一个比对任务（{who_zh}）正在使用{place_zh} {self.target}，请等待其结束后再试"
        )


@dataclass
class RunLocks:
    """The run-level locks: the warehouse's, then the outbox's (always in this order)."""

    locks: list[_Lock]
    run_id: str = ""
    _acquired: list[_Lock] = field(default_factory=list)

    @classmethod
    def for_paths(cls, warehouse: Path, outbox: Path, only: str = "") -> RunLocks:
        locks = [
            _Lock(warehouse_lock_path(Path(warehouse)), "warehouse", Path(warehouse)),
            _Lock(outbox_lock_path(Path(outbox)), "outbox", Path(outbox)),
        ]
        return cls([lk for lk in locks if not only or lk.what == only])

    def acquire(self, run_id: str, wait_s: float) -> RunLocks:
        self.run_id = run_id
        try:
            for lk in self.locks:
                lk.acquire(run_id, wait_s)
                self._acquired.append(lk)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        while self._acquired:
            self._acquired.pop().release()

    def covers(self, warehouse: Path, outbox: Path) -> bool:
        want = {warehouse_lock_path(warehouse).resolve(), outbox_lock_path(outbox).resolve()}
        return want <= {lk.path.resolve() for lk in self._acquired}


# Locks a caller of this process took for a run it is about to launch (``bidui run``),
# by run id; the run's resource adopts them instead of locking twice.
_HELD_FOR_RUN: dict[str, RunLocks] = {}


@contextlib.contextmanager
def hold_run_locks(warehouse: Path, outbox: Path, run_id: str, wait_s: float) -> Iterator[None]:
    """Take the run locks for ``run_id`` before launching it in this process."""
    locks = RunLocks.for_paths(warehouse, outbox).acquire(run_id, wait_s)
    _HELD_FOR_RUN[run_id] = locks
    try:
        yield
    finally:
        _HELD_FOR_RUN.pop(run_id, None)
        locks.release()


@contextlib.contextmanager
def run_lock(warehouse: Path, timeout_s: float = 600.0, owner: str = "") -> Iterator[None]:
    """The warehouse's run lock alone, for work outside a run (``bidui waive``);
    ``$BIDUI_RUN_LOCK_WAIT``, when set, replaces ``timeout_s``."""
    wait = lock_wait_s(timeout_s)
    owner = owner or " ".join(["bidui", *sys.argv[1:2]])  # e.g. "bidui waive"
    locks = RunLocks.for_paths(warehouse, Path(), only="warehouse").acquire(owner, wait)
    try:
        yield
    finally:
        locks.release()


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_layout(inbox: Path, outbox: Path, warehouse: Path) -> str:
    """An error line when the paths overlap dangerously, else "": an outbox in the
    inbox is read back as input (and the inbox sensor fires on every publish); a
    warehouse in the outbox travels to the townships; one in the inbox is read as a
    feed file."""
    if _inside(outbox, inbox) or _inside(inbox, outbox):
        return (
            f"outbox {outbox} is inside the inbox {inbox} (or the other way round): "
            f"outputs would be read back as input / 输出目录不能位于收件箱内"
        )
    if _inside(warehouse, outbox):
        return (
            f"warehouse {warehouse} is inside the outbox {outbox}: it would be sent out "
            f"with the lists / 数据仓库不能放在输出目录内"
        )
    if _inside(warehouse, inbox):
        return (
            f"warehouse {warehouse} is inside the inbox {inbox}: it would be read as input "
            f"/ 数据仓库不能放在收件箱内"
        )
    return ""


def check_staging_filesystem(outbox: Path) -> Path:
    """``<outbox>/.staging``, created; refused when it is not on the outbox's filesystem
    (a symlink or a mount there would make the publishing rename fail half-way)."""
    root = outbox / ".staging"
    root.mkdir(parents=True, exist_ok=True)
    if root.stat().st_dev != outbox.stat().st_dev:
        raise RuntimeError(
            f"staging folder {root} is on another filesystem than the outbox {outbox}; "
            "outputs are published by renaming within one filesystem, remove the link or "
            "mount at .staging / 暂存目录与输出目录不在同一文件系统"
        )
    return root


def sweep_orphaned_staging(outbox: Path, keep: str) -> list[str]:
    """Remove staging folders of earlier runs; only call while holding the outbox lock
    (then no other run on this outbox is alive)."""
    root = outbox / ".staging"
    if not root.is_dir():
        return []
    gone = [p.name for p in root.iterdir() if p.name != keep]
    for name in gone:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return gone


PARTITION_TAG = "dagster/partition"
# Run tags of a multi-county night (pipelines/jobs.py, the schedule and sensors).
PHASE_TAG = "bidui/phase"  # ingest, night or prefecture (pipelines.jobs.PHASES)
NIGHT_TAG = "bidui/night"  # the run date
WAVE_TAG = "bidui/wave"  # one night's runs of every phase (a schedule tick, an inbox change)


def run_partition(run: dg.DagsterRun | None) -> str:
    """The county partition a run materialises, "" for an unpartitioned run."""
    return (run.tags.get(PARTITION_TAG) or "") if run is not None else ""


STATUS_FILE = "_status.json"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def county_status_path(prefecture_dir: Path, county: str) -> Path:
    """``<prefecture_dir>/county=<county>/_status.json``: how the county's last phase
    of the night ended (the prefecture report lists failed counties from it)."""
    return Path(prefecture_dir) / f"county={county}" / STATUS_FILE


def write_county_status(
    prefecture_dir: Path, county: str, phase: str, ok: bool, error: str, run_id: str
) -> Path:
    """Write the county's status file atomically: ``{"county", "phase", "ok", "error",
    "run_id", "finished_at"}`` (office time, ISO)."""
    path = county_status_path(prefecture_dir, county)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "county": county,
        "phase": phase,
        "ok": bool(ok),
        "error": error,
        "run_id": run_id,
        "finished_at": datetime.now(office_tz()).replace(tzinfo=None).isoformat(timespec="seconds"),
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def run_error(instance: dg.DagsterInstance, run_id: str) -> str:
    """One line on why a run failed: its first failed step and that step's innermost
    error, else the run's own failure message."""
    types = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    lines = []
    for entry in instance.all_logs(run_id, of_type=types):
        event = entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        while error is not None and (error.cause or error.context) is not None:
            error = error.cause or error.context
        text = (error.message if error is not None else entry.message) or ""
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        if first:
            lines.append(f"{event.step_key}: {first}" if event and event.step_key else first)
    return lines[0][:500] if lines else "run failed / 运行失败"


def write_wave_statuses(instance: dg.DagsterInstance, wave: str, prefecture_dir: Path) -> dict:
    """The status file of every county run in the night ``wave`` (its latest phase),
    from the Dagster instance: for runs the daemon launched (``bidui run`` writes them
    itself). A run not finished (lost, still running) counts as failed."""
    records = instance.get_run_records(filters=dg.RunsFilter(tags={WAVE_TAG: wave}))
    order = {"ingest": 0, "night": 1}
    latest: dict[str, dg.DagsterRun] = {}
    # A later phase wins, and within a phase the newest run (a re-execution).
    for rec in sorted(
        records,
        key=lambda r: (order.get(r.dagster_run.tags.get(PHASE_TAG, ""), 9), r.create_timestamp),
    ):
        run = rec.dagster_run
        county = run_partition(run)
        if county and run.tags.get(PHASE_TAG) in order:
            latest[county] = run
    out = {}
    for county, run in sorted(latest.items()):
        status = run.status.value
        ok = status == "SUCCESS"
        error = "" if ok else (run_error(instance, run.run_id) if status in FINISHED else status)
        write_county_status(prefecture_dir, county, run.tags[PHASE_TAG], ok, error, run.run_id)
        out[county] = ok
    return out


class BiduiResource(dg.ConfigurableResource):
    """Paths (inbox, outbox, warehouse), the run date and the thresholds file.

    Empty strings mean "use the default": environment variables ``BIDUI_INBOX``,
    ``BIDUI_OUTBOX``, ``BIDUI_WAREHOUSE``, then the git-ignored ``.local/`` folder.
    ``lock_wait_s`` below 0 means ``$BIDUI_RUN_LOCK_WAIT``, else 600 s.

    Counties: in a run of a county partition (``dagster/partition`` tag) or with
    ``county`` set, :attr:`settings` are that county's (``Settings.for_county``):
    its inbox folder, outbox folder and warehouse file, locks and staging folder
    included, so the assets need no change and county runs run side by side.
    """

    inbox: str = ""
    outbox: str = ""
    warehouse: str = ""
    run_date: str = ""
    thresholds: str = ""
    lock_wait_s: float = -1.0
    county: str = ""

    _county: str = PrivateAttr(default="")
    _locks: RunLocks | None = PrivateAttr(default=None)
    _own_locks: bool = PrivateAttr(default=False)
    _run_id: str = PrivateAttr(default="")

    @property
    def base_settings(self) -> Settings:
        """The configured paths, before any county: the prefecture's in a multi-county run."""
        return Settings.from_env(self.inbox or None, self.outbox or None, self.warehouse or None)

    @property
    def settings(self) -> Settings:
        """The run's paths: its county's when it runs one (see the class docstring)."""
        base = self.base_settings
        county = self._county or self.county
        return base.for_county(county) if county else base

    @property
    def run_day(self) -> date:
        if self.run_date:
            return date.fromisoformat(self.run_date)
        return office_today()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Take (or adopt) the run locks; sweep staging folders of dead runs."""
        run_id = context.run.run_id if context.run else ""
        if not run_id:
            return
        self._county = run_partition(context.run)
        s = self.settings
        tags = context.run.tags
        if tags.get(PHASE_TAG) == "prefecture" and tags.get(WAVE_TAG) and context.instance:
            write_wave_statuses(context.instance, tags[WAVE_TAG], s.prefecture_dir)
        problem = check_layout(s.inbox, s.outbox, s.warehouse)
        if problem:
            raise ValueError(problem)
        held = _HELD_FOR_RUN.get(run_id)
        if held is not None and held.covers(s.warehouse, s.outbox):
            self._locks, self._own_locks = held, False
        else:
            wait = self.lock_wait_s if self.lock_wait_s >= 0 else lock_wait_s(DAGSTER_LOCK_WAIT_S)
            self._locks = RunLocks.for_paths(s.warehouse, s.outbox).acquire(run_id, wait)
            self._own_locks = True
        self._run_id = run_id
        try:
            check_staging_filesystem(s.outbox)
            gone = sweep_orphaned_staging(s.outbox, keep=run_id)
        except BaseException:
            self.teardown_after_execution(context)
            raise
        if gone:
            context.log.info("removed staging folders of earlier runs: %s", gone)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """A run that did not publish leaves no staging folder; the locks go."""
        if self._run_id:
            shutil.rmtree(self.settings.outbox / ".staging" / self._run_id, ignore_errors=True)
        if self._locks is not None and self._own_locks:
            self._locks.release()
        self._locks, self._run_id, self._county = None, "", ""

    def staging_dir(self, run_id: str) -> Path:
        """Where this run writes its outputs before they are published atomically."""
        path = self.settings.outbox / ".staging" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def published_dir(self) -> Path:
        return self.settings.outbox / self.run_day.isoformat()

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A warehouse connection, closed on exit. Inside a run the run lock covers it;
        used outside one (tests, scripts) it takes the warehouse lock for its duration."""
        path = self.settings.warehouse
        guard = contextlib.nullcontext() if self._locks is not None else run_lock(path)
        with guard:
            con = open_warehouse(path, read_only=read_only) if read_only else open_warehouse(path)
            try:
                yield con
            finally:
                con.close()
