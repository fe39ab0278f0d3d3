"""Many counties with `bidui run` (issue 14, items 1 and 2): one child process per
county run, each county its own warehouse and outbox; a county that fails — a broken
feed, or its process killed with SIGKILL — fails alone, the others publish, and the
summary, the status files and the exit code say which and why."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import county_status_path, warehouse_lock_path
from core.config import Settings
from demo import generate
from tests.conftest import PROJECT_ROOT
from tests.helpers_runs import run_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("county")
    generate(out, households=150, seed=1, problems_per_rule=1)
    return out / "inbox"


def _bidui(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _running_child(lock: Path, log: Path, parent: int) -> int | None:
    """The pid of the county's child once its run is under way (a step has started)."""
    try:
        pid = json.loads(lock.with_name(lock.name + ".json").read_text(encoding="utf-8"))["pid"]
        started = "[1/" in log.read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError):
        return None
    return pid if pid != parent and started else None


def test_a_failed_and_a_killed_county_leave_the_other_published(small_county, tmp_path):
    inbox, outbox, warehouse = tmp_path / "inbox", tmp_path / "outbox", tmp_path / "w" / "x.duckdb"
    for county in ("甲县", "乙县", "丙县"):
        shutil.copytree(small_county, inbox / county)
    # 丙县: a register export that is not one (no header the register knows).
    broken = inbox / "丙县" / "register"
    shutil.rmtree(broken)
    broken.mkdir()
    (broken / "名单.csv").write_text("甲,乙,丙\n1,2,3\n", encoding="utf-8")
    env = run_env(tmp_path)
    settings = Settings(inbox, outbox, warehouse)
    assert settings.counties() == ("丙县", "乙县", "甲县")

    proc = _bidui(
        "run",
        "--inbox",
        str(inbox),
        "--outbox",
        str(outbox),
        "--warehouse",
        str(warehouse),
        "--jobs",
        "3",
        env=env,
    )
    killed = None
    county_warehouse = settings.for_county("乙县").warehouse
    lock, log = warehouse_lock_path(county_warehouse), county_warehouse.with_suffix(".log")
    deadline = time.monotonic() + 300
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        killed = _running_child(lock, log, proc.pid)
        time.sleep(0.1)
    assert killed, "乙县's run never started"
    os.kill(killed, signal.SIGKILL)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 1, out + err

    day = next(p.name for p in (outbox / "甲县").iterdir() if not p.name.startswith("."))
    # 甲县: complete and published, in its own outbox and warehouse
    published = outbox / "甲县" / day
    assert (published / "problems.csv").is_file() and (published / "report.html").is_file()
    assert any(p.glob("问题清单_*.xlsx") for p in published.iterdir() if p.is_dir())
    assert not list((outbox / "甲县" / ".staging").iterdir())
    assert (warehouse.parent / "counties" / "甲县.duckdb").is_file()
    assert not warehouse.exists(), "no county writes the prefecture's own path"
    # 乙县 and 丙县: nothing published, and the summary says why
    assert not (outbox / "乙县" / day).exists() and not (outbox / "丙县" / day).exists()
    lines = {ln.split(":")[0].strip(): ln for ln in out.splitlines() if ln.startswith("  ")}
    assert "ok" in lines["甲县"]
    assert "FAILED" in lines["乙县"] and "SIGKILL" in lines["乙县"], out
    assert "FAILED" in lines["丙县"] and "register" in lines["丙县"], out
    assert "1 of 3 counties succeeded" in out

    status = {
        c: json.loads(county_status_path(settings.prefecture_dir, c).read_text(encoding="utf-8"))
        for c in ("甲县", "乙县", "丙县")
    }
    assert status["甲县"]["ok"] and status["甲县"]["phase"] == "night"
    assert not status["乙县"]["ok"] and status["乙县"]["phase"] == "ingest"
    assert "SIGKILL" in status["乙县"]["error"]
    assert not status["丙县"]["ok"] and status["丙县"]["error"]
    assert set(status["甲县"]) == {"county", "phase", "ok", "error", "run_id", "finished_at"}

    # The killed run is failed in the Dagster instance (not left STARTED), by partition.
    os.environ["DAGSTER_HOME"], old = env["DAGSTER_HOME"], os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            run = instance.get_run_by_id(status["乙县"]["run_id"])
            assert run.status == dg.DagsterRunStatus.FAILURE
            assert run.tags["dagster/partition"] == "乙县"
            assert set(instance.get_dynamic_partitions("county")) == {"甲县", "乙县", "丙县"}
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = old
