"""Issue 13 items 3, 4, 5, 10: `bidui run` as the office uses it every night — one
Dagster instance per warehouse, one clear line for a wrong configuration, a short
output, and an inbox laid out wrongly refused before anything runs."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks.thresholds import DEFAULT_PATH
from tests.conftest import clean_env, copy_inbox

BIDUI = Path(sys.executable).with_name("bidui")
NIGHT = "2026-11-30"


def bidui(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIDUI), *args], capture_output=True, text=True, env=env, timeout=900)


def run_args(inbox: Path, tmp_path: Path, *extra: str, warehouse: Path | None = None) -> list:
    wh = warehouse or tmp_path / "wh" / "warehouse.duckdb"
    return [
        "run",
        "--inbox",
        str(inbox),
        "--outbox",
        str(tmp_path / "outbox"),
        "--warehouse",
        str(wh),
        "--run-date",
        NIGHT,
        *extra,
    ]


def assert_one_error(done: subprocess.CompletedProcess, *must_name: str) -> str:
    """Exit 2, nothing launched, stderr one line (or two: English and Chinese)."""
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2, done.stderr[-3000:]
    assert 1 <= len(lines) <= 2, done.stderr[-3000:]
    for text in must_name:
        assert text in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.fixture
def env(tmp_path) -> dict:
    return clean_env() | {"DAGSTER_HOME": str(tmp_path / "dagster_home")}


@pytest.fixture
def inbox(small_county, tmp_path) -> Path:
    return copy_inbox(small_county, tmp_path / "inbox")


# ----------------------------------------------------------------- item 4: one line


def test_wrong_thresholds_path_is_one_line_naming_the_file(inbox, tmp_path, env):
    missing = tmp_path / "no-such-thresholds.toml"
    done = bidui(*run_args(inbox, tmp_path, "--thresholds", str(missing)), env=env)
    assert_one_error(done, str(missing), "阈值")
    assert not (tmp_path / "dagster_home" / "history").exists(), "no run may be launched"


def test_thresholds_typo_key_names_the_key(inbox, tmp_path, env):
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace(
        "arithmetic_tolerance_yuan", "arithmetic_tolerence_yuan", 1
    )
    assert "arithmetic_tolerence_yuan" in text
    bad = tmp_path / "thresholds.toml"
    bad.write_text(text, encoding="utf-8")
    done = bidui(*run_args(inbox, tmp_path, "--thresholds", str(bad)), env=env)
    assert_one_error(done, "arithmetic_tolerence_yuan", str(bad))


def test_bad_max_rows_is_one_line(inbox, tmp_path, env):
    done = bidui(*run_args(inbox, tmp_path), env=env | {"BIDUI_MAX_ROWS": "lots"})
    assert_one_error(done, "BIDUI_MAX_ROWS", "lots")


def test_short_warehouse_key_is_one_line(inbox, tmp_path, env):
    done = bidui(*run_args(inbox, tmp_path), env=env | {"BIDUI_WAREHOUSE_KEY": "short"})
    assert_one_error(done, "BIDUI_WAREHOUSE_KEY")
    assert "short" not in done.stderr.replace("shorter", ""), "the key is never shown"


def test_bad_workbook_passwords_file_is_one_line(inbox, tmp_path, env):
    missing = tmp_path / "passwords.csv"
    done = bidui(*run_args(inbox, tmp_path), env=env | {"BIDUI_WORKBOOK_PASSWORDS": str(missing)})
    assert_one_error(done, str(missing))


# ------------------------------------------------- item 10: an inbox one level too deep


def test_feed_folders_one_level_too_deep_fail_fast(small_county, tmp_path, env):
    inbox = tmp_path / "inbox"
    copy_inbox(small_county, inbox / "2026-11")
    done = bidui(*run_args(inbox, tmp_path), env=env)
    err = assert_one_error(done, "register/", "villages/", "hukou/", "2026-11/")
    assert "found" in err and "找到" in err
    assert not (tmp_path / "outbox" / NIGHT).exists(), "an empty day must not be published"


def test_empty_inbox_says_it_is_empty(tmp_path, env):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    done = bidui(*run_args(inbox, tmp_path), env=env)
    assert_one_error(done, "register/", "empty")


# --------------------------------------------------------- item 5: a short, useful output


@pytest.mark.slow
def test_normal_run_is_short_and_summarises(inbox, tmp_path, env):
    done = bidui(*run_args(inbox, tmp_path), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    lines = out.splitlines()
    assert len(lines) < 30, out
    for noise in ("alembic", "great_expectations", " INFO "):
        assert noise not in out, out
    assert "[1/" in out, "a progress line per step"
    assert "feeds" in out and "register" in out and "loaded" in out
    assert "findings" in out
    assert "rules not run" in out
    assert str(tmp_path / "outbox" / NIGHT) in out


@pytest.mark.slow
def test_verbose_keeps_the_detail(inbox, tmp_path, env):
    done = bidui("-v", *run_args(inbox, tmp_path), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len((done.stdout + done.stderr).splitlines()) > 60


# ------------------------------------------------- item 3: one instance per warehouse


def _runs(home: Path):
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        return [(r.status.value, dict(r.tags)) for r in instance.get_runs()]


@pytest.mark.slow
def test_each_warehouse_has_its_own_dagster_instance(small_county, tmp_path):
    env = clean_env()
    env.pop("DAGSTER_HOME", None)
    good_inbox = copy_inbox(small_county, tmp_path / "good_inbox")
    bad_inbox = copy_inbox(small_county, tmp_path / "bad_inbox")
    # A register that reads, but with no header the run can use: the blocking
    # check fails the run inside Dagster (not before it).
    shutil.rmtree(bad_inbox / "register")
    (bad_inbox / "register").mkdir()
    (bad_inbox / "register" / "2025年建档立卡人口.csv").write_text("a,b\n1,2\n", encoding="utf-8")

    prod = tmp_path / "prod" / "warehouse.duckdb"
    test = tmp_path / "test" / "warehouse.duckdb"
    ok = bidui(*run_args(good_inbox, tmp_path / "p", warehouse=prod), env=env)
    assert ok.returncode == 0, ok.stderr[-3000:]
    failed = bidui(*run_args(bad_inbox, tmp_path / "t", warehouse=test), env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr[-3000:]
    # A failed night is short too: progress, the loader's warning, one error line.
    assert len((failed.stdout + failed.stderr).splitlines()) < 30, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr and "Stack Trace" not in failed.stderr
    (line,) = [ln for ln in failed.stderr.splitlines() if ln.startswith("error:")]
    assert "register:headers_complete" in line

    prod_home = prod.with_name(prod.name + ".dagster")
    test_home = test.with_name(test.name + ".dagster")
    assert (prod_home / "dagster.yaml").exists() and (test_home / "dagster.yaml").exists()
    prod_runs, test_runs = _runs(prod_home), _runs(test_home)
    assert [s for s, _ in prod_runs] == ["SUCCESS"]
    assert [s for s, _ in test_runs] == ["FAILURE"]
    assert prod_runs[0][1]["bidui/warehouse"] == str(prod)
    assert test_runs[0][1]["bidui/warehouse"] == str(test)
