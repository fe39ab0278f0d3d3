"""The Definitions load and hold what the office expects to see in the UI."""

import inspect

import dagster as dg

from assets.outputs import STAGING_OUTPUT_TAG
from checks import ALL_RULES
from department_feeds import SPECS
from pipelines.definitions import defs
from pipelines.jobs import NIGHTLY_JOB_NAME


def _graph():
    return defs.resolve_asset_graph()


def test_job_covers_every_asset():
    keys = {k.to_user_string() for k in _graph().get_all_asset_keys()}
    expected = set(SPECS) | {
        "findings",
        "data_docs",
        "rectification",
        "problem_lists",
        "warning_lists",
        "problem_files",
        "report",
        "published_outbox",
    }
    assert keys == expected
    job = defs.resolve_job_def(NIGHTLY_JOB_NAME)
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == expected


def test_one_check_per_rule_on_findings():
    checks = {
        k.name for k in _graph().asset_check_keys if k.asset_key.to_user_string() == "findings"
    }
    assert checks == {r.code for r in ALL_RULES}


def test_every_feed_has_ingest_quality_and_gx_checks():
    by_feed: dict[str, set[str]] = {}
    for k in _graph().asset_check_keys:
        by_feed.setdefault(k.asset_key.to_user_string(), set()).add(k.name)
    for feed in SPECS:
        assert {
            "headers_complete",
            "rows_accounted",
            "arrived_fresh",
            "volume_stable",
            "reject_rate",
            "keys_unique",
            "gx_expectations",
        } <= by_feed[feed], feed
    assert "hukou_match_rate" in by_feed["register"]


def test_schedule_and_sensor():
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = defs.resolve_sensor_def("inbox_sensor")
    assert sensor.job_name == NIGHTLY_JOB_NAME


def test_ingest_checks_block_downstream():
    specs = [s for a in defs.assets if isinstance(a, dg.AssetsDefinition) for s in a.check_specs]
    specs += [s for c in defs.asset_checks for s in c.check_specs]
    blocking = {(s.asset_key.to_user_string(), s.name) for s in specs if s.blocking}
    for feed in SPECS:
        assert (feed, "rows_accounted") in blocking
        assert (feed, "headers_complete") in blocking
    assert not any(name == "gx_expectations" for _, name in blocking)


def _writes_staging(fn) -> bool:
    return "staging_dir(" in inspect.getsource(fn)


def test_every_staging_writer_is_upstream_of_publishing():
    """An output forgotten by the publish step would miss the outbox (or arrive only
    by the order Dagster happens to pick): every asset whose code writes into the
    staging folder is tagged and upstream of ``published_outbox``, and no check
    writes there (a check cannot be a dep)."""
    graph = _graph()
    publish = dg.AssetKey("published_outbox")
    upstream = graph.get(publish).parent_keys
    writers = set()
    for key in graph.get_all_asset_keys():
        if key == publish:
            continue
        node = graph.get(key)
        fn = node.assets_def.op.compute_fn.decorated_fn
        if _writes_staging(fn):
            writers.add(key.to_user_string())
            assert node.tags.get(STAGING_OUTPUT_TAG) == "staging", key
            assert key in upstream, f"{key.to_user_string()} writes staging, not a publish dep"
    assert {"data_docs", "problem_lists", "problem_files", "report"} <= writers
    for check in defs.asset_checks or []:
        assert not _writes_staging(check.op.compute_fn.decorated_fn), check.op.name
