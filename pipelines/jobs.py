"""The nightly job: the whole asset graph, in one process (one DuckDB writer)."""

from __future__ import annotations

import dagster as dg

from core.config import Settings

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
