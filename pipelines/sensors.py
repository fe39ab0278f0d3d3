"""Inbox sensor: start a run when feed files are added or changed.

Debounced: a file must have the same size and mtime on two consecutive ticks and
be older than ``BIDUI_SETTLE_SECONDS`` before it is read, so a file still being
copied never triggers. Content-addressed: a run starts only when some settled
file's sha256 differs from the last triggering state, so touching or re-copying
identical files does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg

from bidui.config import Settings
from pipelines.jobs import nightly_job

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


def evaluate(inbox: Path, cursor: str | None, now: float | None = None) -> tuple[bool, str, dict]:
    """Pure sensor logic: (trigger?, new cursor, details). Kept apart for tests."""
    now = time.time() if now is None else now
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
    # Only settled files decide; a vanished file counts as a change once all is calm.
    changed = sorted(rel for rel, d in settled.items() if triggered.get(rel) != d)
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


@dg.sensor(
    job=nightly_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="收件箱有新文件或文件变化时启动比对 (debounced; identical files do not trigger)",
)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    inbox = Settings.from_env().inbox
    fire, cursor, details = evaluate(inbox, context.cursor)
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
