"""The demo county generator's files: every feed present and named, loadable and
balanced, IDs valid or flagged as injected, truth files, determinism per seed."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook
from stdnum.cn import ric

from demo import TRUTH_COLUMNS, generate
from department_feeds import DEPARTMENT_FEEDS, FEEDS, SPECS
from warehouse import connect, load_all
from warehouse.schema import create_all


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gen")
    res = generate(out, households=200, seed=5, problems_per_rule=1)
    con = connect(out / "warehouse.duckdb")
    create_all(con)
    loads = load_all(con, out / "inbox")
    yield {"out": out, "res": res, "con": con, "loads": loads}
    con.close()


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _digest(folder: Path) -> dict[str, str]:
    """Per file: bytes for CSV and our own xlsx writer, cell values for openpyxl files
    (openpyxl stamps the creation time into the workbook)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(folder).as_posix()
        if p.suffix == ".xlsx":
            wb = CalamineWorkbook.from_path(str(p))
            cells = [wb.get_sheet_by_name(n).to_python() for n in wb.sheet_names]
            out[rel] = hashlib.sha256(repr(cells).encode()).hexdigest()
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_feeds_present_and_named(small):
    inbox = small["out"] / "inbox"
    for feed in FEEDS:
        assert any((inbox / feed).iterdir()), feed
    names = sorted(p.name for p in (inbox / "register").iterdir())
    assert [re.search(r"20\d\d", n).group() for n in names] == ["2023", "2024", "2025"]
    assert (inbox / "register" / "2025年建档立卡人口.xlsx").is_file()


def test_every_file_loads_and_balances(small):
    for feed, fr in small["loads"].items():
        assert not fr.failed, feed
        assert fr.rows_loaded > 0, feed
        for f in fr.files:
            assert f.rows_read == f.rows_loaded + f.rows_rejected, f.source_file
    # the messiness is really there: aliases, inverted yes/no header, GB18030
    con = small["con"]
    mappings = " ".join(r[0] for r in con.execute("SELECT header_mapping FROM loads").fetchall())
    for alias in ("户码", "身份证号", "住房是否安全", "纳税人识别号", "身份证明号码"):
        assert alias in mappings, alias
    encodings = {
        r[0]
        for r in con.execute("SELECT encoding FROM loads WHERE encoding IS NOT NULL").fetchall()
    }
    assert {"gb18030", "utf-8-sig"} <= encodings
    reasons = {r[0] for r in con.execute("SELECT reason_zh FROM rejects").fetchall()}
    assert "合计行" in reasons


def test_register_ids_valid_except_injected(small):
    """Every register number the ingest accepted as valid passes python-stdnum, and
    the ones it flagged are exactly the injected id_invalid problems (+ the 残疾人证)."""
    con, out = small["con"], small["out"]
    ok = con.execute(
        "SELECT DISTINCT id_number FROM register WHERE id_number_problem IS NULL"
    ).fetchall()
    assert ok and all(ric.is_valid(i) for (i,) in ok)
    bad = {
        (h, n)
        for h, n in con.execute(
            "SELECT household_id, name FROM register WHERE year = 2025 AND id_number_problem IS NOT NULL"
        ).fetchall()
    }
    truth = {
        (t["household_id"], t["name"])
        for t in _rows(out / "truth.csv")
        if t["rule_code"] == "id_invalid"
    }
    near = {
        (t["household_id"], t["name"])
        for t in _rows(out / "near_misses.csv")
        if t["rule_code"] == "id_invalid"
    }
    assert truth and bad == truth | near
    # recoverable damage was undone: full-width, 15-digit, lowercase x … all normalised
    raw_messy = con.execute(
        "SELECT count(*) FROM register WHERE id_number_problem IS NULL AND id_number_raw <> id_number"
    ).fetchone()[0]
    assert raw_messy > 0


def test_hukou_covers_register_and_more(small):
    con = small["con"]
    reg = con.execute(
        "SELECT count(DISTINCT id_number) FROM register WHERE year = 2025"
    ).fetchone()[0]
    hk = con.execute("SELECT count(*) FROM hukou").fetchone()[0]
    assert hk >= 4 * reg
    missing = con.execute(
        """SELECT count(*) FROM register r WHERE year = 2025 AND id_number_problem IS NULL
           AND NOT EXISTS (SELECT 1 FROM hukou k WHERE k.id_number = r.id_number)"""
    ).fetchone()[0]
    hukou_truth = [
        t for t in _rows(small["out"] / "truth.csv") if t["rule_code"] == "hukou_not_found"
    ]
    assert missing == len(hukou_truth)


def test_truth_and_near_miss_files(small):
    out = small["out"]
    for name in ("truth.csv", "near_misses.csv"):
        raw = (out / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = _rows(out / name)
        assert rows and list(rows[0]) == list(TRUTH_COLUMNS)
        assert {r["level"] for r in rows} <= {"person", "household", "village"}
    assert small["res"].truth_rows == len(_rows(out / "truth.csv"))


def test_deterministic_per_seed(tmp_path):
    a = generate(tmp_path / "a", households=120, seed=3, problems_per_rule=1)
    b = generate(tmp_path / "b", households=120, seed=3, problems_per_rule=1)
    c = generate(tmp_path / "c", households=120, seed=4, problems_per_rule=1)
    da, db, dc = (_digest(r.out_dir) for r in (a, b, c))
    assert da == db
    assert da != dc


def test_department_ids_valid_or_rejected(small):
    """Department rows either carry a number python-stdnum accepts, or were rejected
    because the number cannot be recovered (an Excel number that lost digits)."""
    con = small["con"]
    for feed in DEPARTMENT_FEEDS:
        col = SPECS[feed].join_id
        ids = con.execute(
            f'SELECT DISTINCT "{col}" FROM "{feed}" WHERE "{col}_problem" IS NULL'
        ).fetchall()
        assert ids and all(ric.is_valid(i) for (i,) in ids), feed
        assert (
            con.execute(
                f'SELECT count(*) FROM "{feed}" WHERE "{col}_problem" IS NOT NULL'
            ).fetchone()[0]
            == 0
        )
    reasons = con.execute(
        "SELECT DISTINCT reason_en FROM rejects WHERE list_contains($feeds, feed)",
        {"feeds": list(DEPARTMENT_FEEDS)},
    ).fetchall()
    assert {r for (r,) in reasons} <= {
        "ID number was stored as an Excel number and lost its last digits"
    }
