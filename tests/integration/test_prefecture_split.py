"""split_prefecture_feeds with real files (issue 14): a prefecture-wide hukou and
vehicles export split by the person's county; rows of no county kept and counted."""

from __future__ import annotations

import duckdb

from department_feeds import SPECS
from department_feeds.loader import parse_file
from tests.feeds_fixtures import make_id, sample_rows, write_csv, write_xlsx
from warehouse.split import SPLIT_PREFIX, split_prefecture_feeds

A, B = "甲县", "乙县"


def prefecture_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    hukou = sample_rows("hukou", 5)
    head = hukou[0]
    addr = head.index("住址")
    for row, address in zip(
        hukou[1:],
        [f"某市{A}城关镇", f"某市{B}河口镇", f"某市{A}青山镇", "外省某地", f"{A}{B}交界"],
        strict=True,
    ):
        row[addr] = address
    write_xlsx(
        inbox / "_prefecture" / "hukou" / "全市户籍.xlsx", hukou, title_rows=[["全市户籍人口"]]
    )
    cars = sample_rows("vehicles", 4)
    idc = cars[0].index("所有人证件号码")
    cars[1][idc] = make_id(100)  # 甲县
    cars[2][idc] = make_id(101)  # 乙县
    cars[3][idc] = make_id(900)  # nobody in the hukou
    cars[4][idc] = "12345"  # invalid
    write_csv(inbox / "_prefecture" / "vehicles" / "全市车辆.csv", cars, encoding="utf-8-sig")
    return inbox, hukou


def test_split_assigns_every_row_or_keeps_it(tmp_path):
    inbox, hukou = prefecture_inbox(tmp_path)
    pre = tmp_path / "prefecture"
    res = split_prefecture_feeds(inbox, [A, B], pre, key=None)
    h, v = res.feeds["hukou"], res.feeds["vehicles"]
    assert (h.rows_read, h.assigned, h.unassigned) == (5, {A: 2, B: 1}, 2)
    assert (v.rows_read, v.assigned, v.unassigned) == (4, {A: 1, B: 1}, 2)
    assert h.reasons == {"住址中没有本市任一县名": 1, f"住址同时包含多个县名（{A}、{B}）": 1}
    assert v.reasons == {"证件号码不在本市户籍数据中": 1, "证件号码无效": 1}
    # The county files load with the feed's own loader, only that county's people.
    path = inbox / A / "hukou" / f"{SPLIT_PREFIX}全市户籍.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    pf = parse_file(SPECS["hukou"], path, inbox / A)
    assert pf.status == "loaded" and pf.rows_loaded == 2
    assert sorted(pf.typed["id_number"].to_list()) == sorted([make_id(100), make_id(102)])
    assert B not in path.read_text(encoding="utf-8-sig")
    cars = parse_file(
        SPECS["vehicles"], inbox / B / "vehicles" / f"{SPLIT_PREFIX}全市车辆.csv", inbox / B
    )
    assert cars.typed["owner_id_number"].to_list() == [make_id(101)]
    # Unassigned rows are kept with the reason, never lost.
    kept = duckdb.sql(
        f"SELECT reason, row_number FROM '{pre / 'unassigned' / 'vehicles.parquet'}' ORDER BY row_number"
    ).fetchall()
    assert [r for r, _ in kept] == ["证件号码不在本市户籍数据中", "证件号码无效"]
    assert (pre / "unassigned").stat().st_mode & 0o777 == 0o700
    lines = res.summary_zh()
    assert any("未能分配 2 行" in line for line in lines)


def test_split_is_content_stable(tmp_path):
    inbox, _ = prefecture_inbox(tmp_path)
    pre = tmp_path / "prefecture"
    first = split_prefecture_feeds(inbox, [A, B], pre, key=None)
    assert first.feeds["hukou"].written
    path = inbox / A / "hukou" / f"{SPLIT_PREFIX}全市户籍.csv"
    before = path.stat().st_mtime_ns
    again = split_prefecture_feeds(inbox, [A, B], pre, key=None)
    assert again.feeds["hukou"].written == [] and again.feeds["vehicles"].written == []
    assert path.stat().st_mtime_ns == before


def test_no_prefecture_folder_is_a_no_op(tmp_path):
    (tmp_path / "inbox" / A / "hukou").mkdir(parents=True)
    res = split_prefecture_feeds(tmp_path / "inbox", [A], tmp_path / "p", key=None)
    assert res.feeds == {} and res.unassigned == 0
