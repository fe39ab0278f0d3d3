"""split_prefecture_feeds with real files (issue 14): a prefecture-wide hukou and
vehicles export split by the person's county; rows of no county kept and counted."""

from __future__ import annotations

import json

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


# ------------------------------------------------ hostile files in _prefecture/


def _split_files(inbox, stem: str) -> list:
    """Every county file the split wrote for a prefecture file of this stem."""
    return sorted(inbox.glob(f"*/*/{SPLIT_PREFIX}{stem}.csv"))


def _own_feeds(inbox):
    """Each county's own hukou and tax files (not from the prefecture)."""
    for n, county in enumerate((A, B)):
        hukou = sample_rows("hukou", 1)
        hukou[1][hukou[0].index("公民身份号码")] = make_id(300 + n)
        write_csv(inbox / county / "hukou" / "本县户籍.csv", hukou)
        write_csv(inbox / county / "tax" / "本县纳税.csv", sample_rows("tax", 2))


def test_damaged_xlsx_fails_alone(tmp_path):
    inbox, _ = prefecture_inbox(tmp_path)
    _own_feeds(inbox)
    bad = inbox / "_prefecture" / "hukou" / "损坏.xlsx"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 200)  # a zip header, then nothing
    own = {p: p.read_bytes() for p in inbox.glob("[!_]*/*/*.csv")}
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    h = res.feeds["hukou"]
    assert set(h.failed_files) == {"hukou/损坏.xlsx"}
    assert h.failed_files["hukou/损坏.xlsx"].strip()
    assert _split_files(inbox, "损坏") == []
    # the good hukou file and the vehicles are split as without the damaged one
    assert (h.rows_read, h.assigned, h.unassigned) == (5, {A: 2, B: 1}, 2)
    assert res.feeds["vehicles"].assigned == {A: 1, B: 1}
    assert all(p.read_bytes() == data for p, data in own.items())  # own feeds untouched
    assert any("1 个文件无法读取" in line for line in res.summary_zh())


def test_file_over_the_size_limit_is_not_read(tmp_path, monkeypatch):
    inbox, _ = prefecture_inbox(tmp_path)
    big = sample_rows("vehicles", 400)  # about 40 kB
    write_csv(inbox / "_prefecture" / "vehicles" / "超大.csv", big)
    assert (inbox / "_prefecture" / "vehicles" / "超大.csv").stat().st_size > 20 * 1024
    monkeypatch.setenv("BIDUI_MAX_FILE_MB", "0.02")  # 20 kB: the other files are smaller
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    v = res.feeds["vehicles"]
    assert set(v.failed_files) == {"vehicles/超大.csv"}
    assert "文件过大" in v.failed_files["vehicles/超大.csv"]
    assert _split_files(inbox, "超大") == []
    assert (v.rows_read, v.assigned, v.unassigned) == (4, {A: 1, B: 1}, 2)
    assert res.feeds["hukou"].assigned == {A: 2, B: 1}


def test_row_limit_from_the_environment(tmp_path, monkeypatch):
    inbox, _ = prefecture_inbox(tmp_path)
    monkeypatch.setenv("BIDUI_MAX_ROWS", "6")  # hukou: 7 lines with its title; vehicles 5
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    assert set(res.feeds["hukou"].failed_files) == {"hukou/全市户籍.xlsx"}
    assert "文件行数过多" in res.feeds["hukou"].failed_files["hukou/全市户籍.xlsx"]
    assert _split_files(inbox, "全市户籍") == []
    v = res.feeds["vehicles"]  # read; with no hukou anywhere, kept as of no county
    assert (v.rows_read, v.assigned, v.unassigned, v.failed_files) == (4, {}, 4, {})


def test_csv_with_a_wrong_header_fails_alone(tmp_path):
    inbox, _ = prefecture_inbox(tmp_path)
    _own_feeds(inbox)
    write_csv(inbox / "_prefecture" / "vehicles" / "错表头.csv", [["甲", "乙", "丙"], [1, 2, 3]])
    write_csv(inbox / "_prefecture" / "tax" / "全市纳税.csv", sample_rows("tax", 2))
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    v = res.feeds["vehicles"]
    assert set(v.failed_files) == {"vehicles/错表头.csv"}
    assert "表头" in v.failed_files["vehicles/错表头.csv"]
    assert _split_files(inbox, "错表头") == []
    assert (v.rows_read, v.assigned) == (4, {A: 1, B: 1})
    t = res.feeds["tax"]  # another prefecture feed: split all the same
    assert t.rows_read == 2 and not t.failed_files
    assert (inbox / A / "tax" / "本县纳税.csv").is_file()  # the county's own file stays


def test_vehicles_assigned_through_own_hukou_when_the_prefecture_hukou_is_damaged(tmp_path):
    inbox, _ = prefecture_inbox(tmp_path)
    (inbox / "_prefecture" / "hukou" / "全市户籍.xlsx").write_bytes(b"not a workbook")
    _own_feeds(inbox)
    cars = sample_rows("vehicles", 2)
    idc = cars[0].index("所有人证件号码")
    cars[1][idc], cars[2][idc] = make_id(300), make_id(301)  # 甲县's and 乙县's own hukou
    write_csv(inbox / "_prefecture" / "vehicles" / "全市车辆.csv", cars)
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    assert set(res.feeds["hukou"].failed_files) == {"hukou/全市户籍.xlsx"}
    assert res.feeds["vehicles"].assigned == {A: 1, B: 1}


def test_unsupported_format_and_symlink_out_of_the_inbox_are_not_read(tmp_path):
    inbox, _ = prefecture_inbox(tmp_path)
    secret = tmp_path / "elsewhere" / "户籍.csv"
    write_csv(secret, sample_rows("hukou", 2))
    (inbox / "_prefecture" / "hukou" / "链接.csv").symlink_to(secret)
    (inbox / "_prefecture" / "hukou" / "旧格式.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 60)
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    failed = res.feeds["hukou"].failed_files
    assert set(failed) == {"hukou/链接.csv", "hukou/旧格式.xls"}
    assert "符号链接" in failed["hukou/链接.csv"] and "不支持" in failed["hukou/旧格式.xls"]
    assert _split_files(inbox, "链接") == [] and _split_files(inbox, "旧格式") == []
    assert res.feeds["hukou"].assigned == {A: 2, B: 1}


def test_a_failed_file_keeps_last_nights_split(tmp_path):
    """A damaged re-delivery does not empty the counties' copies: they keep the last
    good split (the county's feed is then stale, not empty) and the split says why."""
    inbox, _ = prefecture_inbox(tmp_path)
    split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    kept = {p: p.read_bytes() for p in _split_files(inbox, "全市车辆")}
    assert len(kept) == 2
    (inbox / "_prefecture" / "vehicles" / "全市车辆.csv").write_bytes(b"\xff\xfe\x00garbage")
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    assert set(res.feeds["vehicles"].failed_files) == {"vehicles/全市车辆.csv"}
    assert {p: p.read_bytes() for p in _split_files(inbox, "全市车辆")} == kept


def test_an_unexpected_error_in_one_feed_leaves_the_others(tmp_path, monkeypatch):
    from warehouse import split

    inbox, _ = prefecture_inbox(tmp_path)
    write_csv(inbox / "_prefecture" / "tax" / "全市纳税.csv", sample_rows("tax", 2))
    real = split._csv_bytes

    def broken(feed, frame):
        if feed == "vehicles":
            raise ValueError("boom")
        return real(feed, frame)

    monkeypatch.setattr(split, "_csv_bytes", broken)
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    assert res.feeds["vehicles"].error == "ValueError: boom"
    assert _split_files(inbox, "全市车辆") == []
    assert res.feeds["hukou"].assigned == {A: 2, B: 1} and not res.feeds["hukou"].error
    assert res.feeds["tax"].rows_read == 2 and not res.feeds["tax"].error
    assert any("拆分失败：ValueError: boom" in line for line in res.summary_zh())


def test_manifest_names_the_files_read_and_the_counts(tmp_path):
    from warehouse.split import MANIFEST, read_split_manifest

    inbox, _ = prefecture_inbox(tmp_path)
    (inbox / "_prefecture" / "vehicles" / "坏.csv").write_bytes(b"")
    pre = tmp_path / "p"
    split_prefecture_feeds(inbox, [A, B], pre, key=None)
    files = read_split_manifest(pre)
    assert set(files) == {"hukou/全市户籍.xlsx", "vehicles/全市车辆.csv", "vehicles/坏.csv"}
    body = json.loads((pre / MANIFEST).read_text(encoding="utf-8"))
    assert body["feeds"]["vehicles"]["assigned"] == {B: 1, A: 1}
    assert set(body["feeds"]["vehicles"]["failed_files"]) == {"vehicles/坏.csv"}
    assert make_id(100) not in json.dumps(body, ensure_ascii=False)  # no personal data


def test_copies_of_a_removed_prefecture_file_go_but_a_countys_own_file_stays(tmp_path):
    inbox, _ = prefecture_inbox(tmp_path)
    pre = tmp_path / "p"
    own = write_csv(
        inbox / A / "vehicles" / f"{SPLIT_PREFIX}县里自己的.csv", sample_rows("vehicles")
    )
    split_prefecture_feeds(inbox, [A, B], pre, key=None)
    copies = _split_files(inbox, "全市车辆")
    assert len(copies) == 2
    (inbox / "_prefecture" / "vehicles" / "全市车辆.csv").unlink()
    res = split_prefecture_feeds(inbox, [A, B], pre, key=None)
    assert _split_files(inbox, "全市车辆") == []
    assert sorted(res.feeds["vehicles"].removed) == copies
    assert res.counties_changed == sorted([A, B])
    assert own.is_file()  # not the split's: never removed
    assert not (pre / "unassigned" / "vehicles.parquet").exists()
    assert len(_split_files(inbox, "全市户籍")) == 2  # hukou still delivered: kept


def test_two_files_of_one_stem_do_not_overwrite_each_other(tmp_path):
    inbox, _ = prefecture_inbox(tmp_path)
    cars = sample_rows("vehicles", 1)
    cars[1][cars[0].index("所有人证件号码")] = make_id(102)  # 甲县
    write_xlsx(inbox / "_prefecture" / "vehicles" / "全市车辆.xlsx", cars)
    res = split_prefecture_feeds(inbox, [A, B], tmp_path / "p", key=None)
    assert res.feeds["vehicles"].assigned == {A: 2, B: 1}
    in_a = sorted((inbox / A / "vehicles").glob(f"{SPLIT_PREFIX}全市车辆_*.csv"))
    assert len(in_a) == 2
    rows = [parse_file(SPECS["vehicles"], p, inbox / A).rows_loaded for p in in_a]
    assert sorted(rows) == [1, 1]


def test_bidui_run_for_one_county_splits_for_every_county(tmp_path, monkeypatch):
    """`bidui run --county 甲县` still splits for the whole prefecture: 乙县's people are
    assigned to 乙县, not recorded as being of no county."""
    from core.config import Settings
    from pipelines.cli import split_for_night

    inbox, _ = prefecture_inbox(tmp_path)
    for county in (A, B):
        (inbox / county / "register").mkdir(parents=True)
    monkeypatch.delenv("BIDUI_COUNTIES", raising=False)
    monkeypatch.setenv("BIDUI_INBOX", str(inbox))
    monkeypatch.setenv("BIDUI_WAREHOUSE", str(tmp_path / "w" / "x.duckdb"))
    monkeypatch.setenv("BIDUI_OUTBOX", str(tmp_path / "out"))
    res = split_for_night(Settings.from_env())
    h = res.feeds["hukou"]
    assert (h.assigned, h.unassigned) == ({A: 2, B: 1}, 2)
