"""The GX check of every feed reports this run's own suite results.

``gx_feed_suites`` reads the ``data_docs`` materialization of its own run (with
counties as partitions, the asset's latest materialization may be another county's
run at the same time). Through a real ``bidui run``: every feed's check has a result
from the suites, none says the suites did not run.
"""

from __future__ import annotations

import dagster as dg

from assets.expectations import GX_CHECK_NAME
from department_feeds import SPECS
from pipelines.cli import run_pipeline
from tests.conftest import copy_inbox


def test_every_feed_gets_this_runs_gx_result(small_county, tmp_path, dagster_home):
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    ok, run_id = run_pipeline(inbox, tmp_path / "outbox", tmp_path / "w.duckdb", None)
    assert ok, run_id
    with dg.DagsterInstance.get() as instance:
        evaluations = [
            e.asset_check_evaluation
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
            if e.asset_check_evaluation.check_name == GX_CHECK_NAME
        ]
    by_feed = {e.asset_key.to_user_string(): e for e in evaluations}
    assert set(by_feed) == set(SPECS)
    for feed, e in by_feed.items():
        text = (e.description or "") if hasattr(e, "description") else ""
        assert "未能执行" not in text, (feed, text)
        assert "failed" in e.metadata, feed  # the suite's own result metadata
