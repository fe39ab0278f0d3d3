"""The one entry point: merges the self-contained modules into Definitions.

Single-county inbox (``<inbox>/register/…``): the ``nightly`` job over the whole
graph, unpartitioned, exactly as always. Multi-county inbox (``<inbox>/<county>/<feed>/…``,
or ``BIDUI_COUNTIES``): every county asset is partitioned by the dynamic ``county``
partitions, and the jobs are the phases of ``pipelines.jobs.WAVE_PHASES`` (the split
of ``<inbox>/_prefecture/`` first). Which one is decided when the code location loads
(``Settings.counties``)."""

from __future__ import annotations

import functools

import dagster as dg

from assets.expectations import data_docs, gx_feed_suites
from assets.feed_quality import QUALITY_CHECKS
from assets.feeds import FEED_ASSETS, INGEST_CHECKS
from assets.findings import findings
from assets.outputs import OUTPUTS, build_published_outbox
from assets.rectification import rectification
from assets.resources import BiduiResource
from core.config import Settings
from department_feeds import FEEDS
from pipelines.jobs import (
    COUNTIES,
    COUNTY_INGEST_JOB,
    PREFECTURE_JOB,
    PREFECTURE_SPLIT_JOB,
    county_jobs,
    nightly_job,
)
from pipelines.schedules import county_schedule, nightly_schedule
from pipelines.sensors import (
    build_county_inbox_sensor,
    build_phase_sensor,
    county_discovery_sensor,
    inbox_sensor,
)

OUTPUT_ASSETS = [data_docs, *OUTPUTS]
"""Every asset that writes into the run's staging folder: the publish step waits for
each (a new output goes here; tests/integration/test_definitions.py fails if one is missing)."""

ASSETS = [*FEED_ASSETS, findings, rectification, *OUTPUT_ASSETS]

CHECKS = [*INGEST_CHECKS, *QUALITY_CHECKS, gx_feed_suites]


def is_multi_county(settings: Settings | None = None) -> bool:
    """Whether the configured inbox holds many counties (``Settings.counties``)."""
    return bool((settings or Settings.from_env()).counties(FEEDS))


def single_county_definitions() -> dg.Definitions:
    """Today's Definitions: one county, the ``nightly`` job, no partitions."""
    return dg.Definitions(
        assets=[*ASSETS, build_published_outbox(OUTPUT_ASSETS)],
        asset_checks=CHECKS,
        jobs=[nightly_job],
        schedules=[nightly_schedule],
        sensors=[inbox_sensor],
        resources={"bidui": BiduiResource()},
        executor=dg.in_process_executor,
    )


def _by_county(asset: dg.AssetsDefinition, after: tuple = ()) -> dg.AssetsDefinition:
    """``asset`` partitioned by county; ``after``: unpartitioned assets shown upstream
    (lineage only: a county run does not run or read them)."""
    return asset.map_asset_specs(
        lambda s: s.replace_attributes(
            partitions_def=COUNTIES, deps=[*s.deps, *(dg.AssetDep(a) for a in after)]
        )
    )


@functools.cache
def county_definitions() -> dg.Definitions:
    """Many counties: the county assets partitioned by ``county`` (the split and the
    prefecture report are not); one job per phase."""
    # Local: the prefecture layer is only part of the multi-county Definitions.
    from assets.prefecture import (
        county_export,
        county_results,
        prefecture_report,
        prefecture_split,
    )

    ingest_assets = [*FEED_ASSETS, county_export]
    night_assets = [
        findings,
        rectification,
        *OUTPUT_ASSETS,
        build_published_outbox(OUTPUT_ASSETS),
        county_results,
    ]
    # The feeds come after the split in the graph (the UI's lineage), as in a night.
    county_assets = [_by_county(a, (prefecture_split,)) for a in FEED_ASSETS]
    county_assets += [_by_county(a) for a in [county_export, *night_assets]]
    ingest_keys = [key for a in ingest_assets for key in a.keys]
    night_keys = [key for a in night_assets for key in a.keys]
    # GX checks report what data_docs ran: they run in the night's job, beside it.
    ingest = dg.AssetSelection.assets(*ingest_keys) - dg.AssetSelection.checks(gx_feed_suites)
    night = dg.AssetSelection.assets(*night_keys) | dg.AssetSelection.checks(gx_feed_suites)
    jobs = county_jobs(
        ingest,
        night,
        dg.AssetSelection.assets(prefecture_report),
        split=dg.AssetSelection.assets(prefecture_split),
    )
    return dg.Definitions(
        assets=[prefecture_split, *county_assets, prefecture_report],
        asset_checks=CHECKS,
        jobs=jobs,
        schedules=[county_schedule],
        sensors=[
            build_phase_sensor(jobs, has_prefecture=any(j.name == PREFECTURE_JOB for j in jobs)),
            county_discovery_sensor,
            build_county_inbox_sensor(
                [j for j in jobs if j.name in (PREFECTURE_SPLIT_JOB, COUNTY_INGEST_JOB)]
            ),
        ],
        resources={"bidui": BiduiResource()},
        executor=dg.in_process_executor,
    )


defs = county_definitions() if is_multi_county() else single_county_definitions()
