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


# ------------------------------------------------------------ many counties (issue 14)


def test_single_layout_has_no_partitions():
    graph = _graph()
    assert all(graph.get(k).partitions_def is None for k in graph.get_all_asset_keys())
    assert [j.name for j in defs.jobs] == [NIGHTLY_JOB_NAME]


def test_county_assets_are_partitioned_by_county_and_the_report_is_not():
    from pipelines.definitions import county_definitions
    from pipelines.jobs import (
        COUNTY_INGEST_JOB,
        COUNTY_NIGHT_JOB,
        PREFECTURE_JOB,
        PREFECTURE_SPLIT_JOB,
    )

    county_defs = county_definitions()
    graph = county_defs.resolve_asset_graph()
    keys = {k.to_user_string(): graph.get(k).partitions_def for k in graph.get_all_asset_keys()}
    assert keys.pop("prefecture_report") is None
    assert keys.pop("prefecture_split") is None
    single = {k.to_user_string() for k in _graph().get_all_asset_keys()}
    assert set(keys) == single | {"county_export", "county_results"}
    assert {type(p).__name__ for p in keys.values()} == {"DynamicPartitionsDefinition"}
    assert {p.name for p in keys.values()} == {"county"}

    def selected(job):
        return {
            k.to_user_string()
            for k in county_defs.resolve_job_def(job).asset_layer.selected_asset_keys
        }

    assert selected(COUNTY_INGEST_JOB) == set(SPECS) | {"county_export"}
    assert selected(COUNTY_NIGHT_JOB) == single - set(SPECS) | {"county_results"}
    assert selected(PREFECTURE_JOB) == {"prefecture_report"}
    assert selected(PREFECTURE_SPLIT_JOB) == {"prefecture_split"}
    # every check is in exactly one county job; GX reports beside data_docs, in the night
    ingest_checks = county_defs.resolve_job_def(
        COUNTY_INGEST_JOB
    ).asset_layer.asset_graph.asset_check_keys
    night_checks = county_defs.resolve_job_def(
        COUNTY_NIGHT_JOB
    ).asset_layer.asset_graph.asset_check_keys
    assert not ingest_checks & night_checks
    assert {k.name for k in night_checks if k.asset_key.to_user_string() in SPECS} == {
        "gx_expectations"
    }
    assert {k.name for k in night_checks if k.asset_key.to_user_string() == "findings"} == {
        r.code for r in ALL_RULES
    }


def test_county_schedule_splits_then_one_ingest_run_per_county(tmp_path, monkeypatch):
    from datetime import datetime

    from pipelines.definitions import county_definitions

    for county in ("乙县", "甲县"):
        (tmp_path / "inbox" / county / "register").mkdir(parents=True)
    monkeypatch.setenv("BIDUI_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("BIDUI_OUTBOX", str(tmp_path / "out"))
    monkeypatch.setenv("BIDUI_WAREHOUSE", str(tmp_path / "w" / "x.duckdb"))
    defs = county_definitions()
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.job_name == "prefecture_split"
    # Contexts closed in `with`: an open one keeps the dead instance's state storage
    # as Dagster's current one, and later Definitions in this process fail to resolve.
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 1, 20, 2, 0)
        ) as ctx,
    ):
        split = schedule(ctx)
        assert set(instance.get_dynamic_partitions("county")) == {"乙县", "甲县"}
        assert split.tags["bidui/phase"] == "split" and split.tags["bidui/night"] == "2026-01-20"
        job = defs.resolve_job_def("prefecture_split")
        assert job.execute_in_process(
            instance=instance, run_config=split.run_config, tags=split.tags
        ).success
        with dg.build_sensor_context(instance=instance, definitions=defs) as sensor_ctx:
            requests = defs.resolve_sensor_def("phase_sensor")(sensor_ctx).run_requests
    assert [r.partition_key for r in requests] == ["乙县", "甲县"]
    for r in requests:
        assert r.job_name == "county_ingest"
        assert r.tags["bidui/phase"] == "ingest" and r.tags["bidui/night"] == "2026-01-20"
        assert r.tags["bidui/warehouse"] == str(
            tmp_path / "w" / "counties" / f"{r.partition_key}.duckdb"
        )


def test_discovery_sensor_adds_new_counties(tmp_path, monkeypatch):
    from pipelines.definitions import county_definitions

    for county in ("乙县", "甲县"):
        (tmp_path / "inbox" / county / "hukou").mkdir(parents=True)
    monkeypatch.setenv("BIDUI_INBOX", str(tmp_path / "inbox"))
    sensor = county_definitions().resolve_sensor_def("county_discovery_sensor")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("county", ["甲县"])
        with dg.build_sensor_context(instance=instance) as ctx:
            result = sensor(ctx)
    (request,) = result.dynamic_partitions_requests
    assert list(request.partition_keys) == ["乙县"]


def test_local_instance_queue_runs_counties_side_by_side(tmp_path):
    import shutil

    from dagster._core.run_coordinator import QueuedRunCoordinator

    from tests.conftest import PROJECT_ROOT

    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator.get_run_queue_config().max_concurrent_runs >= 2
        config = coordinator.get_run_queue_config()
        limits = {limit["key"]: limit for limit in config.tag_concurrency_limits}
    assert limits["dagster/partition"]["limit"] == 1
    assert limits["bidui/warehouse"]["limit"] == 1
