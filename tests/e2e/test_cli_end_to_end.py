"""`bidui generate` + `bidui run` end to end, as a new user runs them (console script,
real DuckDB file, real Dagster instance on SQLite), three nights in a row."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from checks import ALL_RULES
from checks.rules import WARNING_RULE_CODES
from tests.conftest import clean_env

pytestmark = pytest.mark.slow

BIDUI = Path(sys.executable).with_name("bidui")
PROBLEM_COLUMNS = [
    "problem_id",
    "rule_code",
    "category",
    "severity",
    "year",
    "county",
    "township",
    "village",
    "village_group",
    "household_id",
    "id_number",
    "name",
    "department",
    "description",
    "evidence",
    "first_seen",
    "status",
]


def bidui(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIDUI), *args], capture_output=True, text=True, env=env, timeout=900)


def read_problems(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "problems.csv must start with a UTF-8 BOM"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames[: len(PROBLEM_COLUMNS)] == PROBLEM_COLUMNS
        return list(reader)


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli_county")
    done = bidui("generate", str(out), "--households", "300", "--seed", "11")
    assert done.returncode == 0, done.stderr
    assert (out / "truth.csv").exists()
    return out


def test_generate_run_rerun_and_missing_feed(county, tmp_path):
    inbox = tmp_path / "inbox"
    shutil.copytree(county / "inbox", inbox)
    outbox, wh = tmp_path / "outbox", tmp_path / "warehouse.duckdb"
    env = clean_env() | {"DAGSTER_HOME": str(tmp_path / "dagster_home")}
    common = ["--inbox", str(inbox), "--outbox", str(outbox), "--warehouse", str(wh)]

    # Night 1.
    first = bidui("run", *common, "--run-date", "2026-11-20", env=env)
    assert first.returncode == 0, first.stderr[-4000:]
    day1 = outbox / "2026-11-20"
    assert str(day1) in first.stdout
    problems1 = read_problems(day1 / "problems.csv")
    assert problems1 and all(p["status"] == "new" for p in problems1)
    assert (day1 / "rejects.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (day1 / "report.html").stat().st_size > 10_000
    assert 'id="rules-not-run"' not in (day1 / "report.html").read_text(encoding="utf-8")
    assert (day1 / "data_docs" / "index.html").exists()
    # Each township's findings on its lists: problems on the 问题清单, early warnings
    # on the 监测预警核实清单 (those of unplaced people: the 未能定位 list).
    for title, warning in (("问题清单", False), ("监测预警核实清单", True)):
        workbooks = sorted(day1.glob(f"*/{title}_*_20261120.xlsx"))
        assert {p.parent.name for p in workbooks} == {
            p["township"] for p in problems1 if (p["rule_code"] in WARNING_RULE_CODES) == warning
        }, title
    assert not list((outbox / ".staging").glob("*")), "staging must be swept after publish"

    with duckdb.connect(str(wh), read_only=True) as con:
        unbalanced = con.execute(
            "SELECT source_file, rows_read, rows_loaded, rows_rejected FROM loads "
            "WHERE rows_read <> rows_loaded + rows_rejected OR status <> 'loaded'"
        ).fetchall()
        assert unbalanced == []
        feeds = {r[0] for r in con.execute("SELECT DISTINCT feed FROM loads").fetchall()}
        assert {"register", "hukou", "vehicles", "tax", "business"} <= feeds
        assert con.execute("SELECT count(*) FROM findings").fetchone()[0] == len(problems1)
        ran = dict(
            con.execute(
                "SELECT rule_code, ran FROM rule_runs WHERE run_date = DATE '2026-11-20'"
            ).fetchall()
        )
    assert ran == {r.code: True for r in ALL_RULES}

    # Night 2, same files: the same problem ids, now "open".
    second = bidui("run", *common, "--run-date", "2026-11-21", env=env)
    assert second.returncode == 0, second.stderr[-4000:]
    problems2 = read_problems(outbox / "2026-11-21" / "problems.csv")
    assert sorted(p["problem_id"] for p in problems2) == sorted(p["problem_id"] for p in problems1)
    assert {p["status"] for p in problems2} == {"open"}
    assert {p["first_seen"] for p in problems2} == {"2026-11-20"}

    # Night 3, the vehicles feed is gone: its rules did not run (never "0 findings").
    shutil.rmtree(inbox / "vehicles")
    third = bidui("run", *common, "--run-date", "2026-11-22", env=env)
    assert third.returncode == 0, third.stderr[-4000:]
    with duckdb.connect(str(wh), read_only=True) as con:
        rows = con.execute(
            "SELECT rule_code, ran, reason FROM rule_runs WHERE run_date = DATE '2026-11-22'"
        ).fetchall()
    not_run = {code: reason for code, ran, reason in rows if not ran}
    vehicle_rules = {r.code for r in ALL_RULES if "vehicles" in r.feeds}
    assert set(not_run) == vehicle_rules, not_run
    assert all(not_run.values())
    report = (outbox / "2026-11-22" / "report.html").read_text(encoding="utf-8")
    assert f"本次有 {len(vehicle_rules)} 条比对规则未运行" in report
    alert = report.split('id="rules-not-run"', 1)[1].split("</ul>", 1)[0]
    assert "owns_car" in alert and "机动车" in alert
    problems3 = read_problems(outbox / "2026-11-22" / "problems.csv")
    assert not any(p["rule_code"] in vehicle_rules for p in problems3)
    assert any(p["rule_code"] == "hukou_not_found" for p in problems3)


def test_run_with_missing_inbox_fails_clearly(tmp_path):
    done = bidui(
        "run",
        "--inbox",
        str(tmp_path / "nope"),
        "--outbox",
        str(tmp_path / "o"),
        "--warehouse",
        str(tmp_path / "w.duckdb"),
        env=clean_env() | {"DAGSTER_HOME": str(tmp_path / "dh")},
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr
