"""load_feed against a real DuckDB file: bookkeeping, idempotence, replace, removal, failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import department_feeds.loader as loader
from tests.feeds_fixtures import (
    REGISTER_HEADER,
    loads_row,
    make_id,
    query,
    register_row,
    rejects_of,
    sample_rows,
    write_csv,
    write_xlsx,
)
from warehouse import connect, load_all, load_feed

TITLE = [["安宁县2024年建档立卡人口信息表"], ["单位：元"]]


def _register_file(
    inbox: Path, name: str = "2024年建档立卡.xlsx", n: int = 5, first: int = 0
) -> Path:
    rows = [REGISTER_HEADER, *[register_row(i) for i in range(first, first + n)]]
    rows.append(["合计", *[None] * (len(REGISTER_HEADER) - 1)])
    return write_xlsx(inbox / "register" / name, rows, title_rows=TITLE)


def _counts(con, feed: str) -> dict[str, int]:
    return {
        "raw": query(con, f'SELECT count(*) n FROM "raw_{feed}"')[0]["n"],
        "typed": query(con, f'SELECT count(*) n FROM "{feed}"')[0]["n"],
        "rejects": query(con, "SELECT count(*) n FROM rejects WHERE feed = ?", [feed])[0]["n"],
        "loads": query(con, "SELECT count(*) n FROM loads WHERE feed = ?", [feed])[0]["n"],
    }


def test_loads_row_and_metadata_columns(con, inbox):
    _register_file(inbox)
    result = load_feed(con, "register", inbox)
    load = loads_row(con, "register/2024年建档立卡.xlsx")
    assert load["status"] == "loaded" and load["error"] is None
    assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (6, 5, 1)
    assert load["header_row"] == 3  # below two title rows
    assert json.loads(load["header_mapping"])["证件号码"] == "id_number"
    assert json.loads(load["missing_required"]) == []
    assert len(load["checksum"]) == 64
    assert load["size_bytes"] == (inbox / "register/2024年建档立卡.xlsx").stat().st_size
    assert json.loads(load["sheets"]) == ["Sheet1"]
    rows = query(
        con, "SELECT load_id, source_file, sheet, row_number, name FROM register ORDER BY 4"
    )
    assert [r["row_number"] for r in rows] == [4, 5, 6, 7, 8]
    assert {r["load_id"] for r in rows} == {load["load_id"]}
    assert {r["sheet"] for r in rows} == {"Sheet1"}
    assert rows[0]["name"] == "张0"
    # Raw keeps every read row, the 合计 row included, as text.
    raw = query(con, "SELECT row_number, year, household_size FROM raw_register ORDER BY 1")
    assert len(raw) == 6 and raw[0]["household_size"] == "3"
    assert result.rows_read == 6 and result.rows_loaded == 5 and result.rows_rejected == 1


def test_total_row_is_rejected_with_reason(con, inbox):
    _register_file(inbox)
    load_feed(con, "register", inbox)
    (rej,) = rejects_of(con, "register/2024年建档立卡.xlsx")
    assert rej["row_number"] == 9
    assert rej["reason_zh"] == "合计行"
    assert "summary" in rej["reason_en"]
    assert rej["feed"] == "register" and rej["sheet"] == "Sheet1"


def test_rejects_carry_column_raw_value_and_both_languages(con, inbox):
    rows = sample_rows("vehicles", 2)
    header = rows[0]
    bad_id = make_id(9)[:-1] + ("0" if make_id(9)[-1] != "0" else "1")
    rows.append(
        [bad_id if h == "所有人证件号码" else v for h, v in zip(header, rows[1], strict=True)]
    )
    rows.append([None if h == "号牌号码" else v for h, v in zip(header, rows[1], strict=True)])
    rows.append(
        ["机动车状态" if h == "机动车状态" else v for h, v in zip(header, rows[1], strict=True)]
    )
    write_xlsx(inbox / "vehicles" / "v.xlsx", rows)
    load_feed(con, "vehicles", inbox)
    rej = {r["row_number"]: r for r in rejects_of(con, "vehicles/v.xlsx")}
    assert set(rej) == {4, 5, 6}
    assert rej[4]["column_name"] == "owner_id_number"
    assert rej[4]["raw_value"] == bad_id
    assert rej[4]["reason_zh"] == "证件号码校验位错误"
    assert rej[4]["reason_en"] == "ID number has a wrong check digit"
    assert rej[5]["column_name"] == "plate"
    assert "号牌号码" in rej[5]["reason_zh"] and "为空" in rej[5]["reason_zh"]
    assert "required plate" in rej[5]["reason_en"]
    assert rej[6]["column_name"] == "vehicle_status"
    assert rej[6]["raw_value"] == "机动车状态"
    assert "应为" in rej[6]["reason_zh"] and "cannot be read as enum" in rej[6]["reason_en"]
    load = loads_row(con, "vehicles/v.xlsx")
    assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (5, 2, 3)


def test_rows_read_equals_loaded_plus_rejected_everywhere(con, inbox):
    _register_file(inbox)
    write_csv(inbox / "hukou" / "h.csv", sample_rows("hukou", 4), encoding="gb18030")
    write_xlsx(inbox / "tax" / "t.xlsx", [*sample_rows("tax", 3), ["合计", None, None, "1", None]])
    load_all(con, inbox)
    bad = query(
        con,
        "SELECT source_file FROM loads WHERE rows_read <> rows_loaded + rows_rejected",
    )
    assert bad == []
    per_file = query(
        con,
        """SELECT l.source_file, l.rows_loaded, l.rows_rejected,
                  (SELECT count(*) FROM rejects r WHERE r.load_id = l.load_id) AS n_rejects
           FROM loads l""",
    )
    assert len(per_file) == 3
    for r in per_file:
        assert r["rows_rejected"] == r["n_rejects"], r


def test_rerun_is_idempotent(con, inbox):
    _register_file(inbox)
    write_xlsx(inbox / "hukou" / "h.xlsx", sample_rows("hukou", 3))
    load_all(con, inbox, ["register", "hukou"])
    before = {f: _counts(con, f) for f in ("register", "hukou")}
    loaded_at = query(con, "SELECT source_file, loaded_at FROM loads ORDER BY 1")
    result = load_feed(con, "register", inbox)
    load_feed(con, "hukou", inbox)
    assert {f: _counts(con, f) for f in ("register", "hukou")} == before
    assert query(con, "SELECT source_file, loaded_at FROM loads ORDER BY 1") == loaded_at
    assert [f.status for f in result.files] == ["unchanged"]
    assert not result.changed
    assert result.rows_loaded == 5  # the standing load is still reported


def test_force_reload_does_not_duplicate(con, inbox):
    _register_file(inbox)
    load_feed(con, "register", inbox)
    before = _counts(con, "register")
    result = load_feed(con, "register", inbox, force=True)
    assert [f.status for f in result.files] == ["loaded"]
    assert _counts(con, "register") == before


def test_changed_file_replaces_previous_load(con, inbox):
    path = _register_file(inbox, n=5)
    load_feed(con, "register", inbox)
    old_id = loads_row(con, "register/2024年建档立卡.xlsx")["load_id"]
    time.sleep(0.01)
    write_xlsx(path, [REGISTER_HEADER, *[register_row(i) for i in range(10, 13)]])
    load_feed(con, "register", inbox)
    load = loads_row(con, "register/2024年建档立卡.xlsx")
    assert load["load_id"] != old_id
    assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (3, 3, 0)
    names = [r["name"] for r in query(con, "SELECT name FROM register ORDER BY name")]
    assert names == ["张10", "张11", "张12"]
    assert query(con, "SELECT count(*) n FROM raw_register")[0]["n"] == 3
    # The old 合计 reject went with the old load.
    assert rejects_of(con, "register/2024年建档立卡.xlsx") == []
    assert query(con, "SELECT count(*) n FROM register WHERE load_id = ?", [old_id])[0]["n"] == 0


def test_removed_file_takes_its_rows(con, inbox):
    a = _register_file(inbox, "2024年A镇.xlsx", n=2)
    # Other persons: two files of one year sharing their persons are two versions of one list.
    _register_file(inbox, "2024年B镇.xlsx", n=3, first=10)
    load_feed(con, "register", inbox)
    assert _counts(con, "register")["typed"] == 5
    a.unlink()
    result = load_feed(con, "register", inbox)
    statuses = {f.source_file: f.status for f in result.files}
    assert statuses == {
        "register/2024年A镇.xlsx": "removed",
        "register/2024年B镇.xlsx": "unchanged",
    }
    counts = _counts(con, "register")
    assert counts == {"raw": 4, "typed": 3, "rejects": 1, "loads": 1}
    assert query(con, "SELECT DISTINCT source_file FROM register") == [
        {"source_file": "register/2024年B镇.xlsx"}
    ]


def test_missing_inbox_is_an_error_not_a_mass_delete(con, inbox, tmp_path):
    _register_file(inbox)
    load_feed(con, "register", inbox)
    with pytest.raises(FileNotFoundError):
        load_feed(con, "register", tmp_path / "nowhere")
    assert _counts(con, "register")["typed"] == 5


def test_corrupt_file_fails_without_stopping_others(con, inbox):
    (inbox / "hukou").mkdir()
    (inbox / "hukou" / "broken.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    write_xlsx(inbox / "hukou" / "good.xlsx", sample_rows("hukou", 2))
    write_xlsx(inbox / "tax" / "t.xlsx", sample_rows("tax", 2))
    results = load_all(con, inbox, ["hukou", "tax"])
    broken = loads_row(con, "hukou/broken.xlsx")
    assert broken["status"] == "failed"
    assert "无法打开该Excel文件" in broken["error"]
    assert "cannot read the workbook" in broken["error"]
    assert broken["rows_read"] == broken["rows_rejected"] == broken["rows_loaded"] == 0
    (rej,) = rejects_of(con, "hukou/broken.xlsx")
    assert rej["row_number"] is None and "无法打开" in rej["reason_zh"]
    assert loads_row(con, "hukou/good.xlsx")["rows_loaded"] == 2
    assert loads_row(con, "tax/t.xlsx")["rows_loaded"] == 2
    assert [f.source_file for f in results["hukou"].failed] == ["hukou/broken.xlsx"]
    # Re-run: the failure stands (unchanged bytes) and is still reported as failed.
    again = load_feed(con, "hukou", inbox)
    assert [f.source_file for f in again.failed] == ["hukou/broken.xlsx"]


def test_no_header_fails_with_missing_headers_and_counts_rows(con, inbox):
    rows = [["编号", "名字", "备注"], ["1", "张三", "x"], ["2", "李四", "y"], [None, None, None]]
    write_xlsx(inbox / "hukou" / "wrong.xlsx", rows)
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/wrong.xlsx")
    assert load["status"] == "failed"
    missing = json.loads(load["missing_required"])
    assert "公民身份号码" in missing and "人员状态" in missing
    assert "文件缺少必需的表头" in load["error"] and "missing required headers" in load["error"]
    # Non-blank rows count as read and rejected: the balance holds.
    assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (3, 0, 3)
    (rej,) = rejects_of(con, "hukou/wrong.xlsx")
    assert "共3行未导入" in rej["reason_zh"]
    assert query(con, "SELECT count(*) n FROM raw_hukou")[0]["n"] == 0


def test_register_without_year_fails(con, inbox):
    header = [h for h in REGISTER_HEADER if h != "年度"]
    rows = [
        header,
        [v for h, v in zip(REGISTER_HEADER, register_row(0), strict=True) if h != "年度"],
    ]
    write_xlsx(inbox / "register" / "花名册.xlsx", rows)
    write_xlsx(inbox / "register" / "2023" / "花名册.xlsx", rows)
    load_feed(con, "register", inbox)
    load = loads_row(con, "register/花名册.xlsx")
    assert load["status"] == "failed" and "无法确定年度" in load["error"]
    assert json.loads(load["missing_required"]) == ["年度"]
    # A year in the folder name is enough.
    assert loads_row(con, "register/2023/花名册.xlsx")["status"] == "loaded"
    assert query(con, "SELECT year FROM register") == [{"year": 2023}]


def test_empty_and_hidden_files(con, inbox):
    write_xlsx(inbox / "hukou" / "empty.xlsx", [sample_rows("hukou", 0)[0]])
    write_csv(inbox / "hukou" / "nothing.csv", [])
    (inbox / "hukou" / "~$lock.xlsx").write_bytes(b"x")
    (inbox / "hukou" / ".hidden.csv").write_bytes(b"x")
    (inbox / "hukou" / "notes.txt").write_text("ignored")
    result = load_feed(con, "hukou", inbox)
    assert sorted(f.source_file for f in result.files) == ["hukou/empty.xlsx", "hukou/nothing.csv"]
    assert loads_row(con, "hukou/empty.xlsx")["status"] == "loaded"
    assert loads_row(con, "hukou/empty.xlsx")["rows_read"] == 0
    assert loads_row(con, "hukou/nothing.csv")["status"] == "failed"


def test_reopened_file_keeps_state(tmp_path, inbox):
    _register_file(inbox)
    with connect(tmp_path / "w.duckdb") as c1:
        load_feed(c1, "register", inbox)
    with connect(tmp_path / "w.duckdb") as c2:
        result = load_feed(c2, "register", inbox)
        assert [f.status for f in result.files] == ["unchanged"]
        assert query(c2, "SELECT count(*) n FROM register")[0]["n"] == 5


def test_loads_has_what_the_feed_asset_reads(con, inbox):
    """assets/feeds.py reads these ``loads`` columns after ``load_feed``."""
    write_xlsx(inbox / "hukou" / "h.xlsx", sample_rows("hukou", 2))
    load_feed(con, "hukou", inbox)
    files = con.sql(
        """SELECT source_file, status, encoding, rows_read, rows_loaded, rows_rejected,
                  missing_required, error, header_mapping, loaded_at
           FROM loads WHERE feed = ? ORDER BY source_file""",
        params=["hukou"],
    ).pl()
    assert files.height == 1
    assert files.row(0, named=True)["rows_loaded"] == 2
    assert files.row(0, named=True)["status"] == "loaded"


def test_unexpected_error_fails_that_file_only(con, inbox, monkeypatch):
    real = loader._finish

    def boom(spec, pf, frame, file_year):
        if "boom" in pf.source_file:
            raise ValueError("simulated bug")
        return real(spec, pf, frame, file_year)

    monkeypatch.setattr(loader, "_finish", boom)
    write_xlsx(inbox / "hukou" / "boom.xlsx", sample_rows("hukou", 2))
    # Different bytes (another sheet name): identical files would be loaded once.
    write_xlsx(inbox / "hukou" / "fine.xlsx", sample_rows("hukou", 2), sheet="户籍")
    result = load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/boom.xlsx")
    assert load["status"] == "failed"
    assert "ValueError" in load["error"] and "程序错误" in load["error"]
    assert loads_row(con, "hukou/fine.xlsx")["rows_loaded"] == 2
    assert [f.source_file for f in result.failed] == ["hukou/boom.xlsx"]


def test_wrong_encoding_read_as_gbk_says_so(con, inbox):
    rows = sample_rows("hukou", 1)
    # UTF-16 without a byte-order mark is not UTF-8, so it falls through to GB18030.
    write_csv(inbox / "hukou" / "utf16.csv", rows, encoding="utf-16-le")
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/utf16.csv")
    assert load["status"] == "failed"
    assert "GB18030" in load["error"] and "另存为UTF-8" in load["error"]
