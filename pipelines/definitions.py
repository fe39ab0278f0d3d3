"""The one entry point: merges the self-contained modules into Definitions."""

from __future__ import annotations

import dagster as dg

from assets.feeds import FEED_ASSETS, INGEST_CHECKS
from assets.findings import findings
from pipelines.jobs import nightly_job
from pipelines.resources import BiduiResource
from pipelines.schedules import nightly_schedule
from pipelines.sensors import inbox_sensor

defs = dg.Definitions(
    assets=[*FEED_ASSETS, findings],
    asset_checks=[*INGEST_CHECKS],
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    sensors=[inbox_sensor],
    resources={"bidui": BiduiResource()},
    executor=dg.in_process_executor,
)
