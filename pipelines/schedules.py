"""Nightly schedule (default 02:00 Asia/Shanghai, both configurable by env).

Single county: one ``nightly`` run. Many counties: the first phase of the night,
one ``prefecture_split`` run (``<inbox>/_prefecture/`` into the counties' folders; a
note and nothing else when there is none); ``phase_sensor`` (pipelines/sensors.py)
launches one ``county_ingest`` run per county (partition ``county``) when it ended,
and the next phases as the previous ones end."""

from __future__ import annotations

import os

import dagster as dg

from core.config import Settings, timezone_name
from department_feeds import FEEDS
from pipelines.jobs import (
    COUNTIES,
    NIGHT_TAG,
    PHASE_TAG,
    PREFECTURE_SPLIT_JOB,
    SPLIT_PHASE,
    WAVE_TAG,
    nightly_job,
)

CRON = os.environ.get("BIDUI_NIGHTLY_CRON", "0 2 * * *")
TIMEZONE = timezone_name()  # BIDUI_TIMEZONE, the one office zone (core.config)
COUNTY_PARTITIONS = COUNTIES.name


@dg.schedule(
    job=nightly_job,
    cron_schedule=CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="每晚定时比对 (nightly comparison run)",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    run_date = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(
        run_key=f"nightly-{run_date}",
        run_config={"resources": {"bidui": {"config": {"run_date": run_date}}}},
        tags={"bidui/trigger": "schedule", "bidui/run_date": run_date},
    )


def _night_tags(trigger: str, run_date: str, wave: str, phase: str, warehouse) -> dict[str, str]:
    """The tags of one run of a multi-county night."""
    return {
        "bidui/trigger": trigger,
        "bidui/run_date": run_date,
        NIGHT_TAG: run_date,
        WAVE_TAG: wave,
        PHASE_TAG: phase,
        "bidui/warehouse": str(warehouse),
    }


def county_run_request(
    settings: Settings, county: str, phase: str, run_date: str, wave: str, trigger: str
) -> dg.RunRequest:
    """One county's run of ``phase`` in the night ``wave`` (partition = county)."""
    return dg.RunRequest(
        run_key=f"{wave}:{phase}:{county}",
        partition_key=county,
        run_config={"resources": {"bidui": {"config": {"run_date": run_date}}}},
        # The run queue's one-run-per-warehouse limit sees the county's own file.
        tags=_night_tags(trigger, run_date, wave, phase, settings.for_county(county).warehouse),
    )


def split_run_request(settings: Settings, run_date: str, wave: str, trigger: str) -> dg.RunRequest:
    """The split run that opens the night ``wave`` (unpartitioned, the prefecture's paths)."""
    return dg.RunRequest(
        run_key=f"{wave}:{SPLIT_PHASE}",
        job_name=PREFECTURE_SPLIT_JOB,
        run_config={"resources": {"bidui": {"config": {"run_date": run_date}}}},
        # Its run lock is the prefecture's, as the prefecture report's.
        tags=_night_tags(trigger, run_date, wave, SPLIT_PHASE, settings.warehouse),
    )


@dg.schedule(
    name="nightly_schedule",
    job_name=PREFECTURE_SPLIT_JOB,
    cron_schedule=CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="每晚定时比对：先拆分市级下发数据，再每个县一个运行（先入库，各县入库结束后比对，最后全市报告）",
)
def county_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    run_date = context.scheduled_execution_time.date().isoformat()
    settings = Settings.from_env()
    counties = settings.counties(FEEDS)
    known = set(context.instance.get_dynamic_partitions(COUNTY_PARTITIONS))
    new = [c for c in counties if c not in known]
    if new:  # schedules cannot return partition requests: add them directly
        context.instance.add_dynamic_partitions(COUNTY_PARTITIONS, new)
    return split_run_request(settings, run_date, f"schedule-{run_date}", "schedule")
