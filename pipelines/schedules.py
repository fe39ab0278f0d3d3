"""Nightly schedule (default 02:00 Asia/Shanghai, both configurable by env)."""

from __future__ import annotations

import os

import dagster as dg

from core.config import timezone_name
from pipelines.jobs import nightly_job

CRON = os.environ.get("BIDUI_NIGHTLY_CRON", "0 2 * * *")
TIMEZONE = timezone_name()  # BIDUI_TIMEZONE, the one office zone (core.config)


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
