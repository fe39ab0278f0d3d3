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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from assets.resources import FINISHED, PARTITION_TAG, run_error
from core.config import PREFECTURE_FOLDER, Settings, today
from department_feeds import FEEDS
from pipelines.jobs import (
    COUNTIES,
    COUNTY_INGEST_JOB,
    COUNTY_NIGHT_JOB,
    NIGHT_TAG,
    PHASE_TAG,
    PREFECTURE_JOB,
    SPLIT_PHASE,
    SPLIT_TAG,
    WAVE_PHASES,
    WAVE_TAG,
    nightly_job,
)
from pipelines.schedules import county_run_request, split_run_request
from warehouse.manifest import read_manifest
from warehouse.split import SPLIT_PREFIX, read_split_manifest

SETTLE_SECONDS = float(os.environ.get("BIDUI_SETTLE_SECONDS", "30"))
INTERVAL_SECONDS = int(os.environ.get("BIDUI_SENSOR_INTERVAL", "30"))
FEED_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".csv"}  # .xls: read in feedback, reported in feeds


def scan_inbox(inbox: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, float]]:
    """relative path → (size, mtime) for every feed file under the inbox; names
    starting with one of ``skip`` are left out."""
    if not inbox.is_dir():
        return {}
    out = {}
    ignored = ("~$", ".", *skip)
    for p in inbox.rglob("*"):
        if p.is_file() and p.suffix.lower() in FEED_SUFFIXES and not p.name.startswith(ignored):
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
    skip: tuple[str, ...] = (),
) -> tuple[bool, str, dict]:
    """Pure sensor logic: (trigger?, new cursor, details). Kept apart for tests.

    ``loaded`` (inbox-relative path → sha256, from the warehouse's manifest) is what
    the warehouse has already read: a settled file matching it is no change.
    ``skip``: file name prefixes not watched (a county's copies of the prefecture's
    files: the ``_prefecture`` folder itself is watched instead).
    """
    now = time.time() if now is None else now
    loaded = {k: v for k, v in (loaded or {}).items() if not Path(k).name.startswith(skip)}
    state = json.loads(cursor) if cursor else {"seen": {}, "hashes": {}, "triggered": {}}
    seen_before: dict = state.get("seen", {})
    hashes: dict = state.get("hashes", {})
    current = scan_inbox(inbox, skip)

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


# ------------------------------------------------------------------ many counties
# A multi-county night is a wave of runs in phases (pipelines.jobs.WAVE_PHASES): the
# schedule (or the county inbox sensor, when _prefecture/ changed) starts the split
# run, `phase_sensor` starts each next phase when every run of the previous one has
# ended: the county ingest runs after the split, whether it succeeded or not.
# A county's own change starts a wave at its ingest phase (nothing to split).

WAVE_WINDOW_S = 2 * 24 * 3600  # waves older than this are left alone


def next_phases(
    runs: list[tuple[Mapping[str, str], str]], counties: tuple[str, ...] | list[str] = ()
) -> dict[str, tuple[str, list[str | None]]]:
    """Pure phase logic, for tests: ``runs`` = (tags, status name) of recent runs,
    newest first; returns wave → (the next phase, its partitions; ``[None]`` = the
    unpartitioned prefecture run), only for waves whose current phase has ended.
    ``ingest`` after the split for every one of ``counties`` (a failed split too: the
    counties' own feeds still load); ``night`` for the counties whose latest ingest
    succeeded; ``prefecture`` after every night ended (a failed county is reported,
    not waited for)."""
    waves: dict[str, list[tuple[Mapping[str, str], str]]] = {}
    for tags, status in runs:
        if tags.get(WAVE_TAG) and tags.get(PHASE_TAG) in WAVE_PHASES:
            waves.setdefault(tags[WAVE_TAG], []).append((tags, status))
    out: dict[str, tuple[str, list[str | None]]] = {}
    for wave, items in waves.items():
        current = max(WAVE_PHASES.index(t[PHASE_TAG]) for t, _ in items)
        if WAVE_PHASES[current] == "prefecture":
            continue
        of_phase = [(t, s) for t, s in items if t[PHASE_TAG] == WAVE_PHASES[current]]
        if any(s not in FINISHED for _, s in of_phase):
            continue
        nxt = WAVE_PHASES[current + 1]
        if nxt == "prefecture":
            out[wave] = (nxt, [None])
            continue
        if nxt == "ingest":
            out[wave] = (nxt, list(counties)) if counties else ("prefecture", [None])
            continue
        # runs come newest first: the first seen per county is its latest
        latest: dict[str, str] = {}
        for t, s in of_phase:
            latest.setdefault(t.get(PARTITION_TAG, ""), s)
        ok = sorted(c for c, s in latest.items() if c and s == "SUCCESS")
        # no county left: straight to the prefecture report
        out[wave] = (nxt, ok) if ok else ("prefecture", [None])
    return out


def next_phase(
    runs: list[tuple[Mapping[str, str], str]], counties: tuple[str, ...] | list[str] = ()
) -> dict[str, list[str | None]]:
    """:func:`next_phases` without the phase names: wave → partitions."""
    return {wave: targets for wave, (_, targets) in next_phases(runs, counties).items()}


def _split_outcome(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> tuple[str, str]:
    """(``ok`` or ``failed``, why) of a wave's split, from its latest run."""
    run = runs[0]
    if run.status.value == "SUCCESS":
        return "ok", ""
    return "failed", run_error(instance, run.run_id)


def build_phase_sensor(jobs: list, has_prefecture: bool) -> dg.SensorDefinition:
    """The sensor that moves each night's wave of runs to its next phase."""

    @dg.sensor(
        name="phase_sensor",
        jobs=jobs,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="市级下发数据拆分结束后启动各县入库，各县入库结束后启动各县比对，各县比对结束后启动全市报告",
    )
    def phase_sensor(context: dg.SensorEvaluationContext):
        since = datetime.now(UTC) - timedelta(seconds=WAVE_WINDOW_S)
        records = context.instance.get_run_records(
            filters=dg.RunsFilter(created_after=since), order_by="create_timestamp"
        )
        runs = [(r.dagster_run.tags, r.dagster_run.status.value) for r in records]
        by_wave: dict[str, list[dg.DagsterRun]] = {}
        for r in records:  # newest first
            by_wave.setdefault(r.dagster_run.tags.get(WAVE_TAG, ""), []).append(r.dagster_run)
        settings = Settings.from_env()
        counties = settings.counties(FEEDS)
        requests, new_counties = [], set()
        for wave, (phase, targets) in next_phases(runs, counties).items():
            tags = by_wave[wave][0].tags
            run_date, trigger = tags.get(NIGHT_TAG, ""), tags.get("bidui/trigger", "")
            if phase == "prefecture":
                if not has_prefecture:
                    continue
                requests.append(
                    dg.RunRequest(
                        run_key=f"{wave}:prefecture",
                        job_name=PREFECTURE_JOB,
                        run_config={"resources": {"bidui": {"config": {"run_date": run_date}}}},
                        tags={
                            "bidui/trigger": trigger,
                            NIGHT_TAG: run_date,
                            WAVE_TAG: wave,
                            PHASE_TAG: "prefecture",
                        },
                    )
                )
                continue
            if phase == "ingest":
                split = [r for r in by_wave[wave] if r.tags.get(PHASE_TAG) == SPLIT_PHASE]
                outcome, why = _split_outcome(context.instance, split)
                if outcome != "ok":
                    context.log.warning(
                        "wave %s: the split of the prefecture-wide feeds failed (%s); the county "
                        "ingest runs start all the same, with the copies of the last good split "
                        "/ 市级下发数据拆分失败，各县仍照常入库（使用上次拆分的结果）",
                        wave,
                        why,
                    )
                known = set(context.instance.get_dynamic_partitions(COUNTIES.name))
                new_counties |= {c for c in targets if c not in known}
                for county in targets:
                    req = county_run_request(settings, county, "ingest", run_date, wave, trigger)
                    requests.append(
                        req.with_replaced_attrs(
                            job_name=COUNTY_INGEST_JOB, tags={**req.tags, SPLIT_TAG: outcome}
                        )
                    )
                continue
            for county in targets:
                req = county_run_request(settings, county, "night", run_date, wave, trigger)
                requests.append(req.with_replaced_attrs(job_name=COUNTY_NIGHT_JOB))
        if not requests:
            return dg.SkipReason("no phase of a night has just ended")
        adds = [COUNTIES.build_add_request(sorted(new_counties))] if new_counties else []
        return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=adds)

    return phase_sensor


@dg.sensor(
    name="county_discovery_sensor",
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="收件箱中出现新的县文件夹时，新增该县分区 (adds county partitions)",
)
def county_discovery_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    counties = Settings.from_env().counties(FEEDS)
    known = set(context.instance.get_dynamic_partitions(COUNTIES.name))
    new = [c for c in counties if c not in known]
    if not new:
        return dg.SensorResult(skip_reason=f"no new county ({len(counties)} known)")
    context.log.info("new counties: %s", new)
    return dg.SensorResult(dynamic_partitions_requests=[COUNTIES.build_add_request(new)])


def build_county_inbox_sensor(jobs: list) -> dg.SensorDefinition:
    """The inbox sensor of many counties: a settled change in ``<inbox>/_prefecture/``
    starts a whole wave (split, then every county); a change in a county's own
    files (the split's copies aside) starts that county's ingest."""

    @dg.sensor(
        name="inbox_sensor",
        jobs=jobs,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="某县收件箱有新文件或文件变化时启动该县的比对；市级下发文件夹（_prefecture）有变化时"
        "先拆分，再启动各县的比对 (debounced)",
    )
    def county_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        settings = Settings.from_env()
        known = set(context.instance.get_dynamic_partitions(COUNTIES.name))
        state = json.loads(context.cursor) if context.cursor else {}
        changed: dict[str, dict] = {}
        prefecture = settings.inbox / PREFECTURE_FOLDER
        if prefecture.is_dir():  # gone: nothing to split (the copies stay), no wave
            fire, state[PREFECTURE_FOLDER], details = evaluate(
                prefecture,
                state.get(PREFECTURE_FOLDER),
                loaded=read_split_manifest(settings.prefecture_dir),
            )
            if fire:
                changed[PREFECTURE_FOLDER] = details
        for county in settings.counties(FEEDS):
            if county not in known:
                continue  # the discovery sensor adds it first
            one = settings.for_county(county)
            fire, state[county], details = evaluate(
                one.inbox,
                state.get(county),
                loaded=read_manifest(one.warehouse),
                skip=(SPLIT_PREFIX,),
            )
            if fire:
                changed[county] = details
        cursor = json.dumps(state, sort_keys=True, ensure_ascii=False)
        if not changed:
            return dg.SensorResult(skip_reason="no settled change in any county", cursor=cursor)
        key = hashlib.sha256(cursor.encode()).hexdigest()[:16]
        run_date = today().isoformat()
        wave = f"inbox-{key}"
        context.log.info("inbox changed: %s", changed)
        if PREFECTURE_FOLDER in changed:  # the wave's ingest takes every county after it
            requests = [split_run_request(settings, run_date, wave, "inbox")]
        else:
            requests = [
                county_run_request(
                    settings, c, "ingest", run_date, wave, "inbox"
                ).with_replaced_attrs(job_name=COUNTY_INGEST_JOB)
                for c in sorted(changed)
            ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return county_inbox_sensor
