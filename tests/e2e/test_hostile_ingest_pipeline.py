"""A hostile inbox through the real nightly job: copies of files, a zip bomb, a
symlink to personal data outside the inbox, a two-cell sheet that asks for 512 GB,
a web page named .xlsx. The night completes, nothing is counted twice, nothing
outside the inbox is read, and every refused file is in rejects.csv with its reason.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path

import pytest

from pipelines.cli import run_pipeline
from tests.conftest import copy_inbox
from tests.hostile_xlsx import row_xml, write_bomb, write_sheet_xml
from warehouse import connect

pytestmark = pytest.mark.slow

NIGHT = date(2026, 11, 20)


def _findings(wh: Path) -> dict[str, set[str]]:
    with connect(wh, read_only=True) as con:
        ran = {r for (r,) in con.execute("SELECT rule_code FROM rule_runs WHERE ran").fetchall()}
        rows = con.execute("SELECT rule_code, problem_id FROM findings").fetchall()
    out: dict[str, set[str]] = {r: set() for r in ran}
    for rule, pid in rows:
        out.setdefault(rule, set()).add(pid)
    return out


def test_hostile_inbox_through_the_nightly_job(small_county, tmp_path, dagster_home, monkeypatch):
    clean = copy_inbox(small_county, tmp_path / "clean")
    ok, info = run_pipeline(clean, tmp_path / "out0", tmp_path / "w0.duckdb", NIGHT)
    assert ok, info
    baseline = _findings(tmp_path / "w0.duckdb")

    monkeypatch.setenv("BIDUI_MAX_SHEET_MB", "20")
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    register = inbox / "register" / "2024年建档立卡人口.xlsx"
    shutil.copy(register, register.with_name("2024年建档立卡人口 - 副本.xlsx"))
    (inbox / "hukou" / "备份").mkdir()
    for f in (inbox / "hukou").glob("*.csv"):
        shutil.copy(f, inbox / "hukou" / "备份" / f.name)
    write_bomb(inbox / "vehicles" / "车辆补充.xlsx", 40_000)
    outside = tmp_path / "别处" / "个人所得税_全市.csv"
    outside.parent.mkdir()
    shutil.copy(next((inbox / "tax").glob("*.csv")), outside)
    (inbox / "tax" / "全市.csv").symlink_to(outside)
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    write_sheet_xml(inbox / "property" / "补充.xlsx", [row_xml(["权利人"], 1).encode(), far])
    (inbox / "business" / "网站导出.xlsx").write_text("<html><table></table></html>")

    outbox, wh = tmp_path / "outbox", tmp_path / "warehouse.duckdb"
    ok, info = run_pipeline(inbox, outbox, wh, NIGHT)
    assert ok, info

    with connect(wh, read_only=True) as con:
        status = dict(con.execute("SELECT source_file, status FROM loads").fetchall())
        unbalanced = con.execute(
            "SELECT count(*) FROM loads WHERE rows_read <> rows_loaded + rows_rejected"
        ).fetchone()[0]
        reasons = dict(
            con.execute("SELECT rule_code, reason FROM rule_runs WHERE NOT ran").fetchall()
        )
        tax_rows = con.execute(
            "SELECT count(*) FROM raw_tax WHERE source_file = 'tax/全市.csv'"
        ).fetchone()[0]
    assert unbalanced == 0
    assert status["register/2024年建档立卡人口.xlsx"] == "duplicate"  # the copy sorts first
    assert status["register/2024年建档立卡人口 - 副本.xlsx"] == "loaded"
    hukou = sorted(f for f in status if f.startswith("hukou/户籍"))
    assert hukou
    for f in hukou:  # "备份/…" sorts before "户籍…": the copy is loaded, the original skipped
        pair = (status[f"hukou/备份/{f.removeprefix('hukou/')}"], status[f])
        assert pair == ("loaded", "duplicate"), f
    for refused in ("vehicles/车辆补充.xlsx", "tax/全市.csv", "property/补充.xlsx"):
        assert status[refused] == "failed", refused
    assert status["business/网站导出.xlsx"] == "failed"
    assert tax_rows == 0  # the symlinked file was not read
    # Rules of a feed with a refused file do not run, and say why.
    assert any("文件过大" in r for r in reasons.values())
    assert any("符号链接" in r for r in reasons.values())

    # Every rule that ran in both nights found exactly the same problems: copies of
    # the register and of hukou created no false findings.
    hostile = _findings(wh)
    common = set(baseline) & set(hostile)
    assert {"id_invalid"} <= common or len(common) > 5, common
    for rule in common:
        assert hostile[rule] == baseline[rule], rule

    with open(outbox / NIGHT.isoformat() / "rejects.csv", encoding="utf-8-sig") as fh:
        by_file = {r["source_file"]: r["reason_zh"] for r in csv.DictReader(fh)}
    assert "已按重复文件跳过" in by_file["register/2024年建档立卡人口.xlsx"]
    assert "文件过大（解压后" in by_file["vehicles/车辆补充.xlsx"]
    assert "数据区域过大" in by_file["property/补充.xlsx"]
    assert "网页" in by_file["business/网站导出.xlsx"]


def test_invalid_limit_fails_the_run_naming_the_variable(
    small_county, tmp_path, dagster_home, monkeypatch
):
    monkeypatch.setenv("BIDUI_MAX_ROWS", "abc")
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    ok, info = run_pipeline(inbox, tmp_path / "outbox", tmp_path / "w.duckdb", NIGHT)
    assert not ok
    assert "BIDUI_MAX_ROWS='abc' is not a whole number" in info
    assert not (tmp_path / "outbox" / NIGHT.isoformat()).exists()
