"""Jobs. Single county: ``nightly``, the whole asset graph in one process (one DuckDB
writer). Many counties: ``prefecture_split`` once, then one run per county and phase
(``county_ingest``, ``county_night``), then ``prefecture``; see :data:`WAVE_PHASES`."""

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
PREFECTURE_SPLIT_JOB = "prefecture_split"
COUNTY_INGEST_JOB = "county_ingest"
COUNTY_NIGHT_JOB = "county_night"
PREFECTURE_JOB = "prefecture"

PHASES = ("ingest", "night", "prefecture")
"""The phases of a multi-county night, in order. ``ingest`` and ``night`` run once
per county (partition), in parallel; ``night`` only for the counties whose ingest
succeeded (its cross-county rules read the other counties' exports of ``ingest``);
``prefecture`` once, after every county's night ended, failed ones included."""

SPLIT_PHASE = "split"
WAVE_PHASES = (SPLIT_PHASE, *PHASES)
"""The phases of a night under the Dagster daemon: first ``split`` (one unpartitioned
``prefecture_split`` run: ``<inbox>/_prefecture/`` into the counties' folders), then
:data:`PHASES`. ``ingest`` starts when the split ended, whether it succeeded or not
(a damaged prefecture file must not stop the counties' own feeds); ``bidui run``
splits in its own process before its first phase."""

SPLIT_TAG = "bidui/split"
"""On the ingest runs after a split: ``ok`` or ``failed`` (the split run's outcome)."""

PHASE_JOBS = {
    SPLIT_PHASE: PREFECTURE_SPLIT_JOB,
    "ingest": COUNTY_INGEST_JOB,
    "night": COUNTY_NIGHT_JOB,
    "prefecture": PREFECTURE_JOB,
}

COUNTIES = dg.DynamicPartitionsDefinition(name="county")
"""One partition per county; added by the discovery sensor, the schedule or ``bidui run``."""


def county_jobs(
    ingest: dg.AssetSelection,
    night: dg.AssetSelection,
    prefecture: dg.AssetSelection | None,
    split: dg.AssetSelection | None = None,
) -> list[dg.UnresolvedAssetJobDefinition]:
    """The multi-county jobs over the given selections (pipelines/definitions.py)."""
    common = {"executor_def": dg.in_process_executor, "tags": {"dagster/max_retries": "0"}}
    jobs = []
    if split is not None:
        jobs.append(
            dg.define_asset_job(
                PREFECTURE_SPLIT_JOB,
                selection=split,
                description="全市：把市级下发的数据（收件箱 _prefecture 文件夹）按人员所属县拆分到各县收件箱；"
                "每晚最先运行，结束后（无论成功与否）各县开始入库",
                **common,
            )
        )
    jobs += [
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
