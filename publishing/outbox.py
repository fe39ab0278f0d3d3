"""Atomic publishing of a run's outbox folder.

Townships and the office pick files up from ``<outbox>/<run date>/``; they must
never see a half-written folder. Everything is written into a hidden sibling
``<outbox>/.<run date>.tmp-<random>`` and renamed into place at the end (a
rename within one filesystem is atomic on POSIX):

    with publish_run(outbox, run_date) as folder:
        write_township_workbooks(con, run_date, folder, due_days)
        ...

``promote(src, final)`` is the rename step alone, for callers that stage
elsewhere on the same filesystem (the Dagster assets stage in
``<outbox>/.staging/<run id>/``).

- On success: the temp folder becomes ``<outbox>/<run date>``. If that folder
  already exists (a re-run of the same date), it is renamed aside to
  ``.<run date>.old-<random>``, the new one renamed in, then the old one deleted.
  There is a brief moment with no ``<run date>`` folder but never a partial one.
- On an exception: the temp folder is removed, an existing good folder is left
  untouched, the exception propagates.
- After a crash (power loss, kill -9), ``recover(outbox)`` puts back an old
  folder that was renamed aside and never replaced, and deletes stale temp
  folders.

Two runs publishing into the same outbox are not coordinated here: every run holds
the outbox's run lock for its whole length (assets/resources.py), so there is
only ever one. A SIGTERM to ``bidui run`` unwinds like Ctrl-C (the second rename
puts the good folder back); kill -9 between the renames is what ``recover`` is for.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

_SIDE = re.compile(r"^\.(?P<date>\d{4}-\d{2}-\d{2})\.(?P<kind>tmp|old)-[0-9a-f]+$")


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sibling(outbox: Path, stem: str, kind: str) -> Path:
    """Create (mkdir, honouring umask) a new uniquely named hidden sibling folder."""
    while True:
        path = outbox / f".{stem}.{kind}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


@contextmanager
def publish_run(outbox: Path, run_date: date) -> Iterator[Path]:
    """Yield a temporary folder; publish it as ``<outbox>/<YYYY-MM-DD>`` on success."""
    outbox = Path(outbox)
    outbox.mkdir(parents=True, exist_ok=True)
    stem = run_date.isoformat()
    final = outbox / stem
    tmp = _sibling(outbox, stem, "tmp")
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    promote(tmp, final)


def promote(src: Path, final: Path) -> None:
    """Rename the finished folder ``src`` to ``final``, replacing ``final`` safely.

    ``src`` must be on the same filesystem as ``final``. An existing ``final`` is
    renamed aside first and deleted only once ``src`` is in place; if the second
    rename fails, it is put back and ``src`` is removed.
    """
    src, final = Path(src), Path(final)
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        os.rename(src, final)
        _fsync_dir(parent)
        log.info("published %s", final)
        return

    old = parent / f".{final.name}.old-{secrets.token_hex(4)}"
    os.rename(final, old)
    try:
        os.rename(src, final)
    except BaseException:
        os.rename(old, final)  # put the good folder back
        shutil.rmtree(src, ignore_errors=True)
        raise
    _fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)
    log.info("published %s (replaced the earlier folder of the same date)", final)


def recover(outbox: Path, stale_after_s: float = 6 * 3600) -> list[Path]:
    """Clean up after a crash; returns the paths acted on.

    - ``.<date>.old-*`` with no ``<date>`` folder: the crash happened between the
      two renames; the old folder is the last good one and is put back.
    - ``.<date>.old-*`` next to a ``<date>`` folder: deleted.
    - ``.<date>.tmp-*`` older than ``stale_after_s`` (not a run in progress): deleted.
    """
    outbox = Path(outbox)
    acted: list[Path] = []
    if not outbox.is_dir():
        return acted
    now = time.time()
    for path in sorted(outbox.iterdir()):
        m = _SIDE.match(path.name)
        if not m or not path.is_dir():
            continue
        final = outbox / m["date"]
        if m["kind"] == "old":
            if final.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.rename(path, final)
                log.warning("restored %s from %s", final, path.name)
            acted.append(path)
        elif now - path.stat().st_mtime > stale_after_s:
            shutil.rmtree(path, ignore_errors=True)
            acted.append(path)
    return acted
