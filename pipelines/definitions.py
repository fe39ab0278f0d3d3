"""The one entry point: merges the self-contained modules into Definitions."""

from __future__ import annotations

import dagster as dg

from assets.expectations import data_docs, gx_feed_suites
from assets.feed_quality import QUALITY_CHECKS
from assets.feeds import FEED_ASSETS, INGEST_CHECKS
from assets.findings import findings
from assets.outputs import OUTPUTS, build_published_outbox
from assets.rectification import rectification
from assets.resources import BiduiResource
from pipelines.jobs import nightly_job
from pipelines.schedules import nightly_schedule
from pipelines.sensors import inbox_sensor

OUTPUT_ASSETS = [data_docs, *OUTPUTS]
"""Every asset that writes into the run's staging folder: the publish step waits for
each (a new output goes here; tests/integration/test_definitions.py fails if one is missing)."""

ASSETS = [*FEED_ASSETS, findings, rectification, *OUTPUT_ASSETS]

defs = dg.Definitions(
    assets=[*ASSETS, build_published_outbox(OUTPUT_ASSETS)],
    asset_checks=[*INGEST_CHECKS, *QUALITY_CHECKS, gx_feed_suites],
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    sensors=[inbox_sensor],
    resources={"bidui": BiduiResource()},
    executor=dg.in_process_executor,
)
