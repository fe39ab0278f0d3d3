"""The one resource every asset uses: where things are, which night it is, and
a serialised connection to the warehouse."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from bidui.config import Settings

TIMEZONE = os.environ.get("BIDUI_TIMEZONE", "Asia/Shanghai")


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse."""


@contextlib.contextmanager
def run_lock(warehouse: Path, timeout_s: float = 600.0) -> Iterator[None]:
    """Cross-process advisory lock beside the DuckDB file.

    The run queue already caps concurrency at one run; this is the second guard
    for anything that bypasses it (a CLI run while the daemon runs the schedule).
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    lock_path = warehouse.with_name(warehouse.name + ".lock")
    deadline = time.monotonic() + timeout_s
    with open(lock_path, "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"warehouse {warehouse} is locked by another bidui run; "
                        f"gave up after {timeout_s:.0f}s"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class BiduiResource(dg.ConfigurableResource):
    """Paths (inbox, outbox, warehouse), the run date and the thresholds file.

    Empty strings mean "use the default": environment variables ``BIDUI_INBOX``,
    ``BIDUI_OUTBOX``, ``BIDUI_WAREHOUSE``, then the git-ignored ``.local/`` folder.
    """

    inbox: str = ""
    outbox: str = ""
    warehouse: str = ""
    run_date: str = ""
    thresholds: str = ""

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.inbox or None, self.outbox or None, self.warehouse or None)

    @property
    def run_day(self) -> date:
        if self.run_date:
            return date.fromisoformat(self.run_date)
        return datetime.now(ZoneInfo(TIMEZONE)).date()

    def staging_dir(self, run_id: str) -> Path:
        """Where this run writes its outputs before they are published atomically."""
        path = self.settings.outbox / ".staging" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def published_dir(self) -> Path:
        return self.settings.outbox / self.run_day.isoformat()

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A warehouse connection held under the run lock; closed on exit."""
        from warehouse import connect

        path = self.settings.warehouse
        with run_lock(path):
            con = connect(path, read_only=read_only) if read_only else connect(path)
            try:
                yield con
            finally:
                con.close()
