"""Jobs. Single county: ``nightly``, the whole asset graph in one process (one DuckDB
writer). Many counties: one run per county and phase (``county_ingest``,
``county_night``), then ``prefecture``; see :data:`PHASES`."""

from __future__ import annotations

import dagster as dg

from assets.resources import NIGHT_TAG, PHASE_TAG, WAVE_TAG
from core.config import Settings

__all__ = ["NIGHT_TAG", "PHASE_TAG", "WAVE_TAG"]  # the run tags of a multi-county night

NIGHTLY_JOB_NAME = "nightly"

nightly_job = dg.define_asset_job(
    NIGHTLY_JOB_NAME,
    selection=dg.AssetSelection.all(),
    description="比对全流程：读取收件箱 → 规则比对 → 整改跟踪 → 问题清单、监测预警核实清单与报告（原子发布）",
    # Steps share one DuckDB file: run them one after another in one process.
    executor_def=dg.in_process_executor,
    # Which warehouse a run worked on, seen in the UI's run list (``bidui run`` sets
    # its own; runs the UI, schedule or sensor start use the code location's).
    tags={"dagster/max_retries": "0", "bidui/warehouse": str(Settings.from_env().warehouse)},
)

# ----------------------------------------------------------------- many counties
COUNTY_INGEST_JOB = "county_ingest"
COUNTY_NIGHT_JOB = "county_night"
PREFECTURE_JOB = "prefecture"

PHASES = ("ingest", "night", "prefecture")
"""The phases of a multi-county night, in order. ``ingest`` and ``night`` run once
per county (partition), in parallel; ``night`` only for the counties whose ingest
succeeded (its cross-county rules read the other counties' exports of ``ingest``);
``prefecture`` once, after every county's night ended, failed ones included."""

PHASE_JOBS = {"ingest": COUNTY_INGEST_JOB, "night": COUNTY_NIGHT_JOB, "prefecture": PREFECTURE_JOB}

COUNTIES = dg.DynamicPartitionsDefinition(name="county")
"""One partition per county; added by the discovery sensor, the schedule or ``bidui run``."""


def county_jobs(
    ingest: dg.AssetSelection, night: dg.AssetSelection, prefecture: dg.AssetSelection | None
) -> list[dg.UnresolvedAssetJobDefinition]:
    """The multi-county jobs over the given selections (pipelines/definitions.py)."""
    common = {"executor_def": dg.in_process_executor, "tags": {"dagster/max_retries": "0"}}
    jobs = [
        dg.define_asset_job(
            COUNTY_INGEST_JOB,
            selection=ingest,
            description="一个县：读取该县收件箱各数据源入库，导出到市级数据层（每县一个运行，可并行）",
            **common,
        ),
        dg.define_asset_job(
            COUNTY_NIGHT_JOB,
            selection=night,
            description="一个县：规则比对（含跨县比对）→ 整改跟踪 → 清单与报告（原子发布到该县输出目录）",
            **common,
        ),
    ]
    if prefecture is not None:
        jobs.append(
            dg.define_asset_job(
                PREFECTURE_JOB,
                selection=prefecture,
                description="全市：各县并列的市级报告（含运行失败的县及原因）",
                **common,
            )
        )
    return jobs
