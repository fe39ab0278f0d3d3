"""The split of prefecture-wide feeds under the Dagster daemon (issue 14): the nightly
schedule starts the `prefecture_split` run first, `phase_sensor` starts the county
ingest runs when it ended (succeeded, failed, or had nothing to split), the county
inbox sensor watches `_prefecture/` and not the split's copies, and the files the
Dagster path leaves are the ones `bidui run` leaves. Runs go through a real
(temporary) Dagster instance."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.prefecture import NO_PREFECTURE_FOLDER, SPLIT_CHECK
from core.config import Settings
from demo import generate_prefecture
from department_feeds import FEEDS
from pipelines.definitions import county_definitions
from pipelines.jobs import COUNTY_INGEST_JOB, PREFECTURE_SPLIT_JOB, SPLIT_TAG
from tests.feeds_fixtures import sample_rows, write_csv
from warehouse.split import MANIFEST, SPLIT_PREFIX

DAY = "2026-01-20"
NIGHT = datetime(2026, 1, 20, 2, 0)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Two small counties and a prefecture-wide hukou (generated once per module)."""
    out = tmp_path_factory.mktemp("gen")
    generate_prefecture(out, counties=2, households=60, seed=3, jobs=1, prefecture_wide=True)
    return out / "inbox"


def prefecture(generated: Path, root: Path, hostile: bool = True) -> Settings:
    """A private copy of the generated inbox: a county's vehicles export moved to
    ``_prefecture/vehicles/`` (as a prefecture-wide one, with three cars of nobody in
    the prefecture); with ``hostile``, a damaged
    workbook and a CSV with a wrong header beside the good files."""
    inbox = root / "inbox"
    shutil.copytree(generated, inbox)
    settings = Settings(inbox, root / "out", root / "w" / "p.duckdb")
    capital = settings.counties(FEEDS)[0]
    cars = next((inbox / capital / "vehicles").iterdir())
    (inbox / "_prefecture" / "vehicles").mkdir(parents=True)
    shutil.move(cars, inbox / "_prefecture" / "vehicles" / f"全市{cars.name}")
    # cars of people in no county's hukou: kept as unassigned, with the reason
    write_csv(inbox / "_prefecture" / "vehicles" / "外地车辆.csv", sample_rows("vehicles", 3))
    if hostile:
        (inbox / "_prefecture" / "hukou" / "损坏.xlsx").write_bytes(b"PK\x03\x04" + b"\0" * 300)
        write_csv(inbox / "_prefecture" / "tax" / "错表头.csv", [["甲", "乙"], ["1", "2"]])
    return settings


def use(settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("BIDUI_INBOX", str(settings.inbox))
    monkeypatch.setenv("BIDUI_OUTBOX", str(settings.outbox))
    monkeypatch.setenv("BIDUI_WAREHOUSE", str(settings.warehouse))
    monkeypatch.delenv("BIDUI_COUNTIES", raising=False)


def schedule_tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.RunRequest:
    schedule = defs.resolve_schedule_def("nightly_schedule")
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=NIGHT) as ctx:
        result = schedule(ctx)
    return result


def execute(defs: dg.Definitions, instance, request: dg.RunRequest, **kwargs):
    """Run a sensor's or schedule's request the way the daemon would, in this process."""
    job = defs.resolve_job_def(request.job_name)
    return job.execute_in_process(
        instance=instance,
        run_config=request.run_config,
        tags=request.tags,
        partition_key=request.partition_key,
        **kwargs,
    )


def sensor_tick(defs: dg.Definitions, instance, name: str, cursor: str | None = None):
    sensor = defs.resolve_sensor_def(name)
    with dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor) as ctx:
        return sensor(ctx)


def requests_of(result) -> list[dg.RunRequest]:
    if isinstance(result, dg.SensorResult):
        return list(result.run_requests or [])
    if isinstance(result, dg.SkipReason):
        return []
    return list(result)


def split_materialization(instance, run_id: str):
    (event,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return event.dagster_event.event_specific_data.materialization


def check_evaluation(instance, run_id: str):
    (event,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return event.dagster_event.event_specific_data


# ------------------------------------------------------------------ the night


def test_schedule_splits_first_then_one_ingest_run_per_county(generated, tmp_path, monkeypatch):
    settings = prefecture(generated, tmp_path)
    use(settings, monkeypatch)
    counties = list(settings.counties(FEEDS))
    defs = county_definitions()
    with dg.instance_for_test() as instance:
        request = schedule_tick(defs, instance)
        assert set(instance.get_dynamic_partitions("county")) == set(counties)
        assert request.job_name == PREFECTURE_SPLIT_JOB and request.partition_key is None
        assert request.tags["bidui/phase"] == "split" and request.tags["bidui/night"] == DAY
        wave = request.tags["bidui/wave"]
        # nothing of the counties starts while the split is queued or running
        queued = dg.DagsterRun(
            job_name=PREFECTURE_SPLIT_JOB,
            run_id="0" * 36,
            tags=request.tags,
            status=dg.DagsterRunStatus.STARTED,
        )
        instance.add_run(queued)
        assert requests_of(sensor_tick(defs, instance, "phase_sensor")) == []
        instance.delete_run(queued.run_id)

        result = execute(defs, instance, request)
        assert result.success
        meta = split_materialization(instance, result.run_id).metadata
        feeds = meta["feeds"].value
        assert set(feeds) == {"hukou", "vehicles", "tax"}
        assert (
            feeds["hukou"]["rows_read"]
            == sum(feeds["hukou"]["assigned"].values()) + feeds["hukou"]["unassigned"]
        )
        assert set(feeds["vehicles"]["assigned"]) <= set(counties)
        assert set(meta["failed_files"].value) == {"hukou/损坏.xlsx", "tax/错表头.csv"}
        assert "表头" in meta["failed_files"].value["tax/错表头.csv"]
        assert meta["rows_read"].value == sum(f["rows_read"] for f in feeds.values())
        check = check_evaluation(instance, result.run_id)
        assert check.check_name == SPLIT_CHECK and not check.passed
        assert check.severity == dg.AssetCheckSeverity.WARN
        # nothing written for the hostile files; the good ones split into each county
        assert not list(settings.inbox.glob(f"*/*/{SPLIT_PREFIX}损坏*"))
        assert not list(settings.inbox.glob(f"*/*/{SPLIT_PREFIX}错表头*"))
        for c in counties:
            assert list((settings.inbox / c / "hukou").glob(f"{SPLIT_PREFIX}*.csv")), c

        ingest = requests_of(sensor_tick(defs, instance, "phase_sensor"))
    assert [r.partition_key for r in ingest] == counties
    for r in ingest:
        assert r.job_name == COUNTY_INGEST_JOB
        assert r.tags["bidui/phase"] == "ingest" and r.tags["bidui/night"] == DAY
        assert r.tags["bidui/wave"] == wave and r.tags[SPLIT_TAG] == "ok"
        assert r.tags["bidui/warehouse"] == str(
            tmp_path / "w" / "counties" / f"{r.partition_key}.duckdb"
        )


def test_a_county_ingest_after_the_split_reads_its_copies_and_its_own_feeds(
    generated, tmp_path, monkeypatch
):
    settings = prefecture(generated, tmp_path)
    use(settings, monkeypatch)
    defs = county_definitions()
    with dg.instance_for_test() as instance:
        assert execute(defs, instance, schedule_tick(defs, instance)).success
        first = requests_of(sensor_tick(defs, instance, "phase_sensor"))[0]
        result = execute(defs, instance, first, raise_on_error=False)
        assert result.success, result.all_events
    county = settings.for_county(first.partition_key)
    with duckdb.connect(str(county.warehouse), read_only=True) as con:
        loads = dict(
            con.execute("SELECT source_file, status FROM loads WHERE feed = 'hukou'").fetchall()
        )
        own = con.execute("SELECT count(*) FROM loads WHERE feed = 'register'").fetchone()[0]
    split = {f: s for f, s in loads.items() if Path(f).name.startswith(SPLIT_PREFIX)}
    assert split and set(split.values()) == {"loaded"}
    assert own > 0  # the county's own feeds load beside the copies


def test_a_failed_split_still_starts_the_counties_with_a_note(generated, tmp_path, monkeypatch):
    import assets.prefecture

    settings = prefecture(generated, tmp_path, hostile=False)
    use(settings, monkeypatch)

    def broken(*args, **kwargs):
        raise OSError("the prefecture folder is unreadable")

    monkeypatch.setattr(assets.prefecture, "split_prefecture_feeds", broken)
    defs = county_definitions()
    with dg.instance_for_test() as instance:
        result = execute(defs, instance, schedule_tick(defs, instance), raise_on_error=False)
        assert not result.success
        ingest = requests_of(sensor_tick(defs, instance, "phase_sensor"))
    assert [r.partition_key for r in ingest] == list(settings.counties(FEEDS))
    assert {r.tags[SPLIT_TAG] for r in ingest} == {"failed"}


def test_no_prefecture_folder_is_noted_and_the_counties_run(generated, tmp_path, monkeypatch):
    settings = prefecture(generated, tmp_path, hostile=False)
    shutil.rmtree(settings.inbox / "_prefecture")
    use(settings, monkeypatch)
    defs = county_definitions()
    with dg.instance_for_test() as instance:
        result = execute(defs, instance, schedule_tick(defs, instance))
        assert result.success
        meta = split_materialization(instance, result.run_id).metadata
        assert meta["note"].value == NO_PREFECTURE_FOLDER
        assert check_evaluation(instance, result.run_id).passed
        ingest = requests_of(sensor_tick(defs, instance, "phase_sensor"))
    assert [r.partition_key for r in ingest] == list(settings.counties(FEEDS))
    assert {r.tags[SPLIT_TAG] for r in ingest} == {"ok"}
    assert not list(settings.inbox.glob(f"*/*/{SPLIT_PREFIX}*"))


# ------------------------------------------------------------ the same files as the CLI


def _files(settings: Settings) -> dict[str, bytes]:
    """Every file the split leaves: the county copies, the unassigned rows (as rows),
    and the manifest (without its time)."""
    out = {
        p.relative_to(settings.inbox).as_posix(): p.read_bytes()
        for p in sorted(settings.inbox.rglob(f"{SPLIT_PREFIX}*"))
    }
    for p in sorted((settings.prefecture_dir / "unassigned").glob("*.parquet")):
        rows = duckdb.sql(f"SELECT * FROM '{p}' ORDER BY ALL").fetchall()
        out[f"unassigned/{p.name}"] = repr(rows).encode()
    body = json.loads((settings.prefecture_dir / MANIFEST).read_text(encoding="utf-8"))
    body.pop("finished_at")
    out[MANIFEST] = json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    return out


def test_dagster_path_leaves_the_same_split_files_as_bidui_run(generated, tmp_path, monkeypatch):
    import pipelines.cli as cli

    by_cli = prefecture(generated, tmp_path / "cli")
    by_dagster = prefecture(generated, tmp_path / "dagster")
    monkeypatch.delenv("BIDUI_COUNTIES", raising=False)

    # bidui run, up to its split: the county phases and the prefecture run are not
    # what is compared here (tests/e2e/test_prefecture_night.py runs them).
    def no_phase(settings, counties, phase, run_date, **kwargs):
        return {c: cli.CountyRun(c, phase, "", error="not run in this test") for c in counties}

    monkeypatch.setattr(cli, "run_county_phase", no_phase)
    monkeypatch.setattr(cli, "_execute", lambda *a, **k: (True, ""))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "cli" / "dagster_home"))
    (tmp_path / "cli" / "dagster_home").mkdir()
    code = cli.main(
        [
            "run",
            "--inbox",
            str(by_cli.inbox),
            "--outbox",
            str(by_cli.outbox),
            "--warehouse",
            str(by_cli.warehouse),
            "--run-date",
            DAY,
        ]
    )
    assert code == 1  # no county ran

    use(by_dagster, monkeypatch)
    defs = county_definitions()
    with dg.instance_for_test() as instance:
        assert execute(defs, instance, schedule_tick(defs, instance)).success

    cli_files, dagster_files = _files(by_cli), _files(by_dagster)
    assert any(k.endswith(".csv") for k in cli_files)
    assert "unassigned/vehicles.parquet" in cli_files
    assert dagster_files == cli_files
    # and the counties' own files are untouched by either
    for rel in (p.relative_to(by_cli.inbox) for p in by_cli.inbox.rglob("*") if p.is_file()):
        if not rel.name.startswith(SPLIT_PREFIX):
            assert (by_cli.inbox / rel).read_bytes() == (by_dagster.inbox / rel).read_bytes()


# ------------------------------------------------------------------ the inbox sensor


def _age(root: Path, seconds: float = 120.0) -> None:
    t = time.time() - seconds
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (t, t))


def test_inbox_sensor_splits_on_a_prefecture_change_and_ignores_the_copies(
    generated, tmp_path, monkeypatch
):
    settings = prefecture(generated, tmp_path, hostile=False)
    use(settings, monkeypatch)
    counties = list(settings.counties(FEEDS))
    defs = county_definitions()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("county", counties)
        # a night: split, then each county's ingest reads (and records) its files
        assert execute(defs, instance, schedule_tick(defs, instance)).success
        for request in requests_of(sensor_tick(defs, instance, "phase_sensor")):
            assert execute(defs, instance, request).success
        _age(settings.inbox)
        # a new sensor (empty cursor): what the split and the counties read is known
        result = sensor_tick(defs, instance, "inbox_sensor")
        result = sensor_tick(defs, instance, "inbox_sensor", result.cursor)
        assert requests_of(result) == [], result.skip_reason
        cursor = result.cursor

        # the split rewrites a county's copy: not a change of that county
        copy = next(settings.inbox.glob(f"{counties[0]}/hukou/{SPLIT_PREFIX}*.csv"))
        copy.write_bytes(copy.read_bytes() + b"\r\n")
        _age(settings.inbox)
        result = sensor_tick(defs, instance, "inbox_sensor", cursor)
        result = sensor_tick(defs, instance, "inbox_sensor", result.cursor)
        assert requests_of(result) == []

        # a new prefecture-wide export: one split run opening a wave
        write_csv(settings.inbox / "_prefecture" / "tax" / "全市纳税.csv", sample_rows("tax", 2))
        _age(settings.inbox)
        result = sensor_tick(defs, instance, "inbox_sensor", result.cursor)
        result = sensor_tick(defs, instance, "inbox_sensor", result.cursor)
        (request,) = requests_of(result)
        assert request.job_name == PREFECTURE_SPLIT_JOB
        assert request.tags["bidui/phase"] == "split"
        assert request.tags["bidui/trigger"] == "inbox"

        # a county's own new file: that county's ingest alone
        write_csv(settings.inbox / counties[1] / "tax" / "补报.csv", sample_rows("tax", 1))
        _age(settings.inbox)
        result = sensor_tick(defs, instance, "inbox_sensor", result.cursor)
        result = sensor_tick(defs, instance, "inbox_sensor", result.cursor)
        (request,) = requests_of(result)
        assert request.job_name == COUNTY_INGEST_JOB and request.partition_key == counties[1]


# ------------------------------------------------------------------ the Definitions


def test_split_is_an_unpartitioned_asset_upstream_of_the_feeds_in_its_own_job():
    from department_feeds import SPECS

    defs = county_definitions()
    graph = defs.resolve_asset_graph()
    split = dg.AssetKey("prefecture_split")
    assert graph.get(split).partitions_def is None
    for feed in SPECS:
        assert split in graph.get(dg.AssetKey(feed)).parent_keys, feed
    job = defs.resolve_job_def(PREFECTURE_SPLIT_JOB)
    assert job.asset_layer.selected_asset_keys == {split}
    ingest = defs.resolve_job_def(COUNTY_INGEST_JOB).asset_layer.selected_asset_keys
    assert split not in ingest  # a county run never splits (one writer of the copies)
    assert defs.resolve_schedule_def("nightly_schedule").job_name == PREFECTURE_SPLIT_JOB
    assert {j.name for j in defs.resolve_sensor_def("inbox_sensor").jobs} == {
        PREFECTURE_SPLIT_JOB,
        COUNTY_INGEST_JOB,
    }
