"""Smoke test of the real Dagster UI: `dagster dev` on 127.0.0.1, driven over GraphQL.

It checks what the office sees in the morning: the schedule (02:00 Asia/Shanghai)
and the inbox sensor are there and running; the sensor starts a run for files in
the inbox; a run launched by hand at the same time waits in the queue (never two
writers on one DuckDB file); after the runs, every rule's asset check has a result.
"""

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from checks import ALL_RULES
from tests.conftest import ARTIFACTS, PROJECT_ROOT, clean_env, copy_inbox

pytestmark = pytest.mark.slow

DAGSTER = Path(sys.executable).with_name("dagster")
RESET_SIGINT_AND_EXEC = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQL:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        req = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            out = json.load(resp)
        assert "errors" not in out, out["errors"]
        return out["data"]


def _wait_until(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # server still starting
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


REPOS = """{ repositoriesOrError { __typename ... on RepositoryConnection { nodes {
  name location { name }
  schedules { name cronSchedule executionTimezone scheduleState { status } }
  sensors { name sensorState { status } } } } } }"""

LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""

RUNS = """{ runsOrError { ... on Runs { results {
  runId status startTime endTime tags { key value } } } } }"""

CHECK = """query($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 1) {
    status runId evaluation { success severity description
      metadataEntries { label ... on IntMetadataEntry { intValue } ... on BoolMetadataEntry { boolValue } } } } }"""


def test_dagster_dev_schedule_sensor_queue_and_checks(small_county, tmp_path):
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = clean_env() | {
        "DAGSTER_HOME": str(home),
        "BIDUI_INBOX": str(inbox),
        "BIDUI_OUTBOX": str(tmp_path / "outbox"),
        "BIDUI_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "BIDUI_SETTLE_SECONDS": "1",
        "BIDUI_SENSOR_INTERVAL": "3",
    }
    port = _free_port()
    log_path = tmp_path / "dagster_dev.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                # dagster dev copies an inherited "ignore SIGINT" and then ignores
                # SIGTERM too (stack-notes): reset SIGINT before exec.
                sys.executable,
                "-c",
                RESET_SIGINT_AND_EXEC,
                str(DAGSTER),
                "dev",
                "-m",
                "pipelines.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gql = GraphQL(port)
    try:
        repos = _wait_until(
            lambda: gql(REPOS)["repositoriesOrError"].get("nodes"), 180, "the webserver"
        )
        repo = repos[0]
        schedules = {s["name"]: s for s in repo["schedules"]}
        assert schedules["nightly_schedule"]["cronSchedule"] == "0 2 * * *"
        assert schedules["nightly_schedule"]["executionTimezone"] == "Asia/Shanghai"
        assert schedules["nightly_schedule"]["scheduleState"]["status"] == "RUNNING"
        sensors = {s["name"]: s for s in repo["sensors"]}
        assert sensors["inbox_sensor"]["sensorState"]["status"] == "RUNNING"

        # A run launched by hand, while the sensor is about to fire for the inbox files.
        launched = gql(
            LAUNCH,
            p={
                "selector": {
                    "repositoryLocationName": repo["location"]["name"],
                    "repositoryName": repo["name"],
                    "jobName": "nightly",
                },
                "runConfigData": {},
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        manual_id = launched["run"]["runId"]

        def finished_runs():
            runs = gql(RUNS)["runsOrError"]["results"]
            tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
            by_sensor = [
                r for r, t in zip(runs, tags, strict=True) if t.get("bidui/trigger") == "inbox"
            ]
            done = {"SUCCESS", "FAILURE", "CANCELED"}
            if by_sensor and all(r["status"] in done for r in runs):
                return runs
            return None

        runs = _wait_until(finished_runs, 420, "the manual and the sensor run", interval=3)
        statuses = {r["runId"]: r["status"] for r in runs}
        assert statuses[manual_id] == "SUCCESS", (statuses, log_path.read_text()[-3000:])
        assert all(s == "SUCCESS" for s in statuses.values()), statuses
        assert len(runs) >= 2
        spans = sorted((r["startTime"], r["endTime"]) for r in runs)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"runs overlapped: {spans}"

        for rule in ALL_RULES:
            execs = gql(CHECK, key={"path": ["findings"]}, name=rule.code)["assetCheckExecutions"]
            assert execs, rule.code
            ev = execs[0]["evaluation"]
            labels = {m["label"] for m in ev["metadataEntries"]}
            assert {"ran", "findings", "sample", "thresholds"} <= labels, (rule.code, labels)
            assert ev["severity"] == "WARN"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copyfile(log_path, ARTIFACTS / "dagster_dev.log")
