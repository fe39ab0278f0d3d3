"""Inbox sensor: start a run when feed files are added or changed.

Debounced: a file must have the same size and mtime on two consecutive ticks and
be older than ``BIDUI_SETTLE_SECONDS`` before it is read, so a file still being
copied never triggers. Content-addressed: a run starts only when some settled
file's sha256 differs from the last triggering state, so touching or re-copying
identical files does nothing.

Knows what the warehouse has read: the run writes ``<warehouse>.inbox-manifest.json``
(warehouse/manifest.py) and a file whose bytes match it is not a change. With an
empty cursor (a new Dagster instance, ``bidui ui`` on a loaded warehouse) the
manifest is the baseline, so opening the dashboard starts no run. The sensor never
opens the DuckDB file (the run's writer lock; it may be encrypted).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from core.config import Settings
from pipelines.jobs import nightly_job
from warehouse.manifest import read_manifest

SETTLE_SECONDS = float(os.environ.get("BIDUI_SETTLE_SECONDS", "30"))
INTERVAL_SECONDS = int(os.environ.get("BIDUI_SENSOR_INTERVAL", "30"))
FEED_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".csv"}  # .xls: read in feedback, reported in feeds


def scan_inbox(inbox: Path) -> dict[str, tuple[int, float]]:
    """relative path → (size, mtime) for every feed file under the inbox."""
    if not inbox.is_dir():
        return {}
    out = {}
    for p in inbox.rglob("*"):
        if p.is_file() and p.suffix.lower() in FEED_SUFFIXES and not p.name.startswith(("~$", ".")):
            st = p.stat()
            out[p.relative_to(inbox).as_posix()] = (st.st_size, st.st_mtime)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def evaluate(
    inbox: Path,
    cursor: str | None,
    now: float | None = None,
    loaded: Mapping[str, str] | None = None,
) -> tuple[bool, str, dict]:
    """Pure sensor logic: (trigger?, new cursor, details). Kept apart for tests.

    ``loaded`` (inbox-relative path → sha256, from the warehouse's manifest) is what
    the warehouse has already read: a settled file matching it is no change.
    """
    now = time.time() if now is None else now
    loaded = dict(loaded or {})
    state = json.loads(cursor) if cursor else {"seen": {}, "hashes": {}, "triggered": {}}
    seen_before: dict = state.get("seen", {})
    hashes: dict = state.get("hashes", {})
    current = scan_inbox(inbox)

    settled, unsettled = {}, []
    for rel, (size, mtime) in current.items():
        prev = seen_before.get(rel)
        if prev == [size, mtime] and now - mtime >= SETTLE_SECONDS:
            cached = hashes.get(rel)
            digest = cached[2] if cached and cached[:2] == [size, mtime] else _sha256(inbox / rel)
            hashes[rel] = [size, mtime, digest]
            settled[rel] = digest
        else:
            unsettled.append(rel)
    hashes = {k: v for k, v in hashes.items() if k in current}

    triggered: dict = state.get("triggered", {})
    if not cursor:
        triggered = _baseline(inbox, current, loaded)
    # Only settled files decide; a vanished file counts as a change once all is calm.
    # A file is unchanged if a run was requested for these bytes or the warehouse has
    # read them (a run started elsewhere, e.g. `bidui run`).
    changed = sorted(
        rel for rel, d in settled.items() if d not in (triggered.get(rel), loaded.get(rel))
    )
    removed = sorted(rel for rel in triggered if rel not in current)
    fire = bool((changed or removed) and not unsettled)
    if fire:
        triggered = dict(settled)
    new_state = {
        "seen": {k: list(v) for k, v in current.items()},
        "hashes": hashes,
        "triggered": triggered,
    }
    details = {"changed": changed, "removed": removed, "unsettled": sorted(unsettled)}
    return fire, json.dumps(new_state, sort_keys=True), details


def _baseline(inbox: Path, current: Mapping, loaded: Mapping[str, str]) -> dict:
    """The "already triggered" state of a new cursor: what the warehouse has read.

    A loaded feed file gone from the inbox stays in it (its rows must go: a change).
    Left out: returned lists no longer in the inbox (kept as history, not a change)
    and files still there that the sensor does not watch (e.g. a rejected .xlsb).
    """
    return {
        rel: digest
        for rel, digest in loaded.items()
        if rel in current or not (rel.startswith("feedback/") or (inbox / rel).exists())
    }


@dg.sensor(
    job=nightly_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="收件箱有新文件或文件变化时启动比对 (debounced; identical files do not trigger)",
)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    settings = Settings.from_env()
    inbox = settings.inbox
    fire, cursor, details = evaluate(
        inbox, context.cursor, loaded=read_manifest(settings.warehouse)
    )
    if not fire:
        return dg.SensorResult(
            skip_reason=f"no settled change in {inbox}: {details}", cursor=cursor
        )
    key = hashlib.sha256(cursor.encode()).hexdigest()[:16]
    context.log.info("inbox changed: %s", details)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"inbox-{key}",
                tags={
                    "bidui/trigger": "inbox",
                    "bidui/changed": ",".join(details["changed"])[:200],
                },
            )
        ],
        cursor=cursor,
    )
