"""A second hostile probe of the nightly inputs (issue 9): faults the first probe
did not try. Each test builds the damaged file for real and loads it into a real
DuckDB warehouse with ``load_feed``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.engine import run_rules
from core.config import today
from publishing.report import render_report
from tests.feeds_fixtures import (
    REGISTER_HEADER,
    loads_row,
    make_id,
    query,
    register_row,
    sample_rows,
    write_csv,
    write_xlsx,
)
from warehouse import load_feed


def _balanced(con) -> None:
    bad = query(con, "SELECT * FROM loads WHERE rows_read <> rows_loaded + rows_rejected")
    assert bad == []


# ------------------------------------------------------------- CSV line endings


@pytest.mark.parametrize("ending", ["\r", "\r\n"])
def test_csv_with_old_mac_line_endings_loads_every_row(con, inbox, ending):
    """A CSV saved with CR-only line endings (old Mac Excel, some exporters) was read
    as ONE line: the header swallowed every row, the file was 'loaded' with 0 rows
    and its whole content lost without a word."""
    rows = sample_rows("tax", 5)
    path = write_csv(inbox / "tax" / "2025年个人所得税明细.csv", rows, encoding="utf-8-sig")
    path.write_bytes(path.read_bytes().replace(b"\n", ending.encode()))
    load_feed(con, "tax", inbox)
    row = loads_row(con, "tax/2025年个人所得税明细.csv")
    assert (row["rows_read"], row["rows_loaded"], row["status"]) == (5, 5, "loaded")
    _balanced(con)


def test_cr_only_csv_is_held_to_the_row_cap(con, inbox, monkeypatch):
    """The row cap counted ``\\n`` only: a CR-only CSV passed it as one line."""
    monkeypatch.setenv("BIDUI_MAX_ROWS", "3")
    rows = sample_rows("tax", 10)
    path = write_csv(inbox / "tax" / "2025年个人所得税明细.csv", rows, encoding="utf-8-sig")
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    load_feed(con, "tax", inbox)
    row = loads_row(con, "tax/2025年个人所得税明细.csv")
    assert row["status"] == "failed" and row["rows_loaded"] == 0
    _balanced(con)


# ------------------------------------------------------------- invisible characters


@pytest.mark.parametrize("junk", ["\u200b", "\ufeff", "\u200d", "\u2060", "\u00ad"])
def test_invisible_characters_do_not_split_a_township(con, inbox, junk):
    """A zero-width space, BOM or soft hyphen pasted into a township or village name
    made a second township that looks identical on screen: its own lookalike list,
    and households split across the two (false household-size findings)."""
    rows = [register_row(i) for i in range(6)]
    t = REGISTER_HEADER.index("乡(镇)")
    v = REGISTER_HEADER.index("行政村")
    rows[1][t] = "青山镇" + junk
    rows[2][v] = junk + "河口村"
    write_xlsx(inbox / "register" / "2024年建档立卡人口.xlsx", [REGISTER_HEADER, *rows])
    load_feed(con, "register", inbox)
    got = query(con, "SELECT DISTINCT township, village FROM register")
    assert got == [{"township": "青山镇", "village": "河口村"}]


def test_fullwidth_letters_and_digits_in_place_names_are_one_name(con, inbox):
    """``一组`` typed as ``１组`` and ``1组`` is one group; NFKC folds full-width forms."""
    rows = [register_row(i) for i in range(6)]
    g = REGISTER_HEADER.index("自然村(组)")
    for i, name in enumerate(["１组", "1组", "Ａ组", "A组", "1组", "A组"]):
        rows[i][g] = name
    write_xlsx(inbox / "register" / "2024年建档立卡人口.xlsx", [REGISTER_HEADER, *rows])
    load_feed(con, "register", inbox)
    got = {r["village_group"] for r in query(con, "SELECT village_group FROM register")}
    assert got == {"1组", "A组"}


def test_invisible_characters_in_an_id_number_are_removed_not_rejected(con, inbox):
    """An ID number pasted with a zero-width space or BOM looked right on screen
    and was rejected as 'contains invalid characters' — the person dropped."""
    rows = [register_row(i) for i in range(3)]
    c = REGISTER_HEADER.index("证件号码")
    clean = rows[0][c]
    rows[0][c] = "\ufeff" + clean[:6] + "\u200b" + clean[6:]
    write_xlsx(inbox / "register" / "2024年建档立卡人口.xlsx", [REGISTER_HEADER, *rows])
    load_feed(con, "register", inbox)
    ids = {r["id_number"] for r in query(con, "SELECT id_number FROM register")}
    assert clean in ids and len(ids) == 3
    _balanced(con)


# ------------------------------------------------------------- misplaced files


def test_feed_folder_in_another_case_or_width_is_read(con, inbox):
    """``Register/`` (or full-width ``ｒｅｇｉｓｔｅｒ/``) was silently skipped on Linux:
    a whole year of the register missing, only 'no 2024 records' to show for it."""
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [REGISTER_HEADER, register_row(0)])
    write_xlsx(inbox / "Register" / "2024年建档立卡人口.xlsx", [REGISTER_HEADER, register_row(1)])
    write_xlsx(inbox / "ｒｅｇｉｓｔｅｒ" / "2023年.xlsx", [REGISTER_HEADER, register_row(2)])
    load_feed(con, "register", inbox)
    got = {r["source_file"]: r["rows_loaded"] for r in query(con, "SELECT * FROM loads")}
    assert got == {
        "register/2025年建档立卡人口.xlsx": 1,
        "Register/2024年建档立卡人口.xlsx": 1,
        "ｒｅｇｉｓｔｅｒ/2023年.xlsx": 1,
    }
    assert query(con, "SELECT * FROM inbox_unread") == []


def test_files_outside_any_feed_folder_are_reported_not_ignored(con, inbox):
    """A file dropped in the inbox itself, or a folder named in Chinese (``户籍/``),
    was never read and never mentioned."""
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [REGISTER_HEADER, register_row(0)])
    write_xlsx(inbox / "2025年建档立卡人口_副本.xlsx", [REGISTER_HEADER, register_row(1)])
    write_csv(inbox / "户籍" / "户籍人口_青山镇.csv", sample_rows("hukou", 2))
    (inbox / ".DS_Store").write_bytes(b"x")  # hidden: not the clerk's data
    load_feed(con, "register", inbox)
    got = {r["path"]: r["reason_zh"] for r in query(con, "SELECT * FROM inbox_unread")}
    assert set(got) == {"2025年建档立卡人口_副本.xlsx", "户籍"}
    assert "未读取" in got["户籍"] and "hukou/" in got["户籍"] and "1 个文件" in got["户籍"]
    # The register's own load is untouched, and a later load with a clean inbox clears it.
    (inbox / "2025年建档立卡人口_副本.xlsx").unlink()
    (inbox / "户籍" / "户籍人口_青山镇.csv").rename(inbox / "hukou.csv")
    load_feed(con, "hukou", inbox)
    assert [r["path"] for r in query(con, "SELECT * FROM inbox_unread")] == ["hukou.csv", "户籍"]


def test_report_names_what_the_inbox_holds_unread(con, inbox, tmp_path):
    import datetime as dt

    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [REGISTER_HEADER, register_row(0)])
    write_csv(inbox / "户籍" / "户籍人口_青山镇.csv", sample_rows("hukou", 2))
    load_feed(con, "register", inbox)
    out = tmp_path / "report.html"
    render_report(con, dt.date(2026, 11, 20), out, {})
    html = out.read_text(encoding="utf-8")
    assert 'id="inbox-unread"' in html and "文件夹“户籍”" in html


# ------------------------------------------------------------- two versions of one year


def _set_mtime(path: Path, t: float) -> None:
    import os

    os.utime(path, (t, t))


def test_two_versions_of_one_years_register_do_not_double_every_person(con, inbox):
    """``2025年建档立卡人口.xlsx`` and ``2025年建档立卡人口(修订).xlsx`` side by side
    loaded every person twice: 1,282 findings instead of 93 on a 200-household county
    (707 false duplicate IDs, 200 false household heads), all sent to townships."""
    rows = [register_row(i, 年度="2025") for i in range(6)]
    old = write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [REGISTER_HEADER, *rows])
    revised = [register_row(i, 年度="2025", 家庭年纯收入="40000") for i in range(6)]
    new = write_xlsx(
        inbox / "register" / "2025年建档立卡人口(修订).xlsx", [REGISTER_HEADER, *revised]
    )
    _set_mtime(old, 1_700_000_000)
    _set_mtime(new, 1_700_100_000)
    load_feed(con, "register", inbox)
    got = query(con, "SELECT source_file, count(*) AS n FROM register GROUP BY ALL")
    assert got == [{"source_file": "register/2025年建档立卡人口(修订).xlsx", "n": 6}]
    row = loads_row(con, "register/2025年建档立卡人口.xlsx")
    assert (row["status"], row["rows_loaded"], row["rows_rejected"]) == ("superseded", 0, 6)
    assert "以较新的" in row["error"]
    rejects = query(con, "SELECT * FROM rejects WHERE source_file = ?", [row["source_file"]])
    assert len(rejects) == 6 and "修订" in rejects[0]["reason_zh"]
    _balanced(con)

    # Next night, unchanged: the same. Then the revised file is taken away: the
    # older one is the list again (nothing lost).
    load_feed(con, "register", inbox)
    assert loads_row(con, "register/2025年建档立卡人口.xlsx")["status"] == "superseded"
    new.unlink()
    load_feed(con, "register", inbox)
    row = loads_row(con, "register/2025年建档立卡人口.xlsx")
    assert (row["status"], row["rows_loaded"]) == ("loaded", 6)
    assert query(con, "SELECT count(*) AS n FROM register") == [{"n": 6}]
    _balanced(con)


def test_one_file_per_township_for_one_year_are_all_kept(con, inbox):
    """Files of one year that share no person (one per township) are all used."""
    a = [register_row(i, 年度="2025") for i in range(3)]
    b = [register_row(i, 年度="2025", **{"乡(镇)": "白水乡"}) for i in range(3, 6)]
    write_xlsx(inbox / "register" / "2025年_青山镇.xlsx", [REGISTER_HEADER, *a])
    write_xlsx(inbox / "register" / "2025年_白水乡.xlsx", [REGISTER_HEADER, *b])
    load_feed(con, "register", inbox)
    assert query(con, "SELECT count(*) AS n FROM register") == [{"n": 6}]
    assert {r["status"] for r in query(con, "SELECT status FROM loads")} == {"loaded"}


def test_report_names_a_superseded_file(con, inbox, tmp_path):
    import datetime as dt

    old = write_xlsx(inbox / "register" / "2025年a.xlsx", [REGISTER_HEADER, register_row(0)])
    new = write_xlsx(
        inbox / "register" / "2025年b.xlsx", [REGISTER_HEADER, register_row(0, 姓名="李四")]
    )
    _set_mtime(old, 1_700_000_000)
    _set_mtime(new, 1_700_100_000)
    load_feed(con, "register", inbox)
    out = tmp_path / "report.html"
    render_report(con, dt.date(2026, 11, 20), out, {})
    html = out.read_text(encoding="utf-8")
    assert 'id="inbox-unread"' in html and "文件“register/2025年a.xlsx”" in html


# ------------------------------------------------------------- years


def test_a_register_year_after_this_year_is_rejected_with_a_reason(con, inbox):
    """A register typed as 2027 (a year not yet begun) became the working year: every
    township's list was built for 2027 and most department comparisons did not run."""
    import datetime as dt

    future = today().year + 1
    rows = [register_row(i, 年度=str(future)) for i in range(3)]
    write_xlsx(inbox / "register" / f"{future}年建档立卡人口.xlsx", [REGISTER_HEADER, *rows])
    write_xlsx(
        inbox / "register" / "2025年建档立卡人口.xlsx",
        [REGISTER_HEADER, *[register_row(i, 年度="2025") for i in range(10, 13)]],
    )
    load_feed(con, "register", inbox)
    assert query(con, "SELECT DISTINCT year FROM register") == [{"year": 2025}]
    rejects = query(con, "SELECT * FROM rejects WHERE column_name = 'year'")
    assert len(rejects) == 3 and f"晚于今年（{today().year}年）" in rejects[0]["reason_zh"]
    assert dt.date.today().year <= future
    _balanced(con)


# ------------------------------------------------------------- duplicated headers


def test_two_id_columns_with_different_content_fail_the_file_clearly(con, inbox):
    """Two 证件号码 columns holding different numbers: the leftmost was taken without a
    word (the other went to extra_columns). Which is right cannot be known: the file
    fails with a reason naming both columns, nothing is compared on a guess."""
    header = [*REGISTER_HEADER, "证件号码"]
    rows = [
        [*register_row(i), register_row(i + 50)[REGISTER_HEADER.index("证件号码")]]
        for i in range(3)
    ]
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [header, *rows])
    load_feed(con, "register", inbox)
    row = loads_row(con, "register/2025年建档立卡人口.xlsx")
    assert row["status"] == "failed" and row["rows_rejected"] == 3
    assert "“证件号码”" in row["error"] and "内容不同" in row["error"]
    _balanced(con)


def test_a_copied_id_column_with_the_same_content_is_fine(con, inbox):
    header = [*REGISTER_HEADER, "证件号码"]
    rows = [
        [*register_row(i), register_row(i)[REGISTER_HEADER.index("证件号码")]] for i in range(3)
    ]
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [header, *rows])
    load_feed(con, "register", inbox)
    assert loads_row(con, "register/2025年建档立卡人口.xlsx")["rows_loaded"] == 3


def test_an_optional_column_twice_with_different_content_is_a_warning(con, inbox):
    header = [*REGISTER_HEADER, "联系电话", "联系电话"]
    rows = [[*register_row(i), "13800000000", "0871-1234567"] for i in range(3)]
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [header, *rows])
    load_feed(con, "register", inbox)
    assert loads_row(con, "register/2025年建档立卡人口.xlsx")["rows_loaded"] == 3
    warns = query(con, "SELECT reason_zh FROM load_warnings")
    assert any("“联系电话”" in w["reason_zh"] and "第" in w["reason_zh"] for w in warns)


# ------------------------------------------------------------- townships nobody knows


def test_report_names_a_township_the_village_list_does_not_know(con, inbox, tmp_path):
    """塘嘴鄉 (traditional 鄉) typed for 塘嘴乡: its own list, for a township that does
    not exist, and nobody told. It cannot be merged safely (a guess); it is named."""
    import datetime as dt

    rows = [register_row(i, 年度="2025") for i in range(3)]
    rows[2][REGISTER_HEADER.index("乡(镇)")] = "青山鎮"
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [REGISTER_HEADER, *rows])
    write_xlsx(inbox / "villages" / "2025年村组统计.xlsx", sample_rows("villages", 1))
    load_feed(con, "register", inbox)
    load_feed(con, "villages", inbox)
    out = tmp_path / "report.html"
    render_report(con, dt.date(2026, 11, 20), out, {})
    html = out.read_text(encoding="utf-8")
    assert 'id="unknown-townships"' in html and "青山鎮" in html
    assert "青山镇（" not in html.split('id="unknown-townships"')[1].split("</div>")[0]


# ------------------------------------------------------------- hidden sheets


def test_a_hidden_older_version_sheet_does_not_double_every_person(con, inbox):
    """A register workbook with a hidden sheet holding last month's version of the same
    list (same persons, some values different): both sheets were loaded, every person
    twice. An exact copy was already caught; a changed one was not."""
    import openpyxl

    path = inbox / "register" / "2025年建档立卡人口.xlsx"
    path.parent.mkdir(parents=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2025年"
    old = wb.create_sheet("旧版")
    old.sheet_state = "hidden"
    for i in range(4):
        if i == 0:
            ws.append(REGISTER_HEADER)
            old.append(REGISTER_HEADER)
        ws.append(register_row(i, 年度="2025"))
        old.append(register_row(i, 年度="2025", 家庭年纯收入="1000"))
    wb.save(path)
    load_feed(con, "register", inbox)
    assert query(con, "SELECT DISTINCT sheet FROM register") == [{"sheet": "2025年"}]
    row = loads_row(con, "register/2025年建档立卡人口.xlsx")
    assert (row["rows_read"], row["rows_loaded"], row["rows_rejected"]) == (8, 4, 4)
    rejects = query(con, "SELECT reason_zh FROM rejects WHERE sheet = '旧版'")
    assert len(rejects) == 4 and "隐藏" in rejects[0]["reason_zh"]
    _balanced(con)


def test_a_hidden_sheet_of_other_persons_is_loaded(con, inbox):
    import openpyxl

    path = inbox / "register" / "2025年建档立卡人口.xlsx"
    path.parent.mkdir(parents=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    more = wb.create_sheet("白水乡")
    more.sheet_state = "hidden"
    ws.append(REGISTER_HEADER)
    more.append(REGISTER_HEADER)
    for i in range(3):
        ws.append(register_row(i, 年度="2025"))
        more.append(register_row(i + 10, 年度="2025"))
    wb.save(path)
    load_feed(con, "register", inbox)
    assert loads_row(con, "register/2025年建档立卡人口.xlsx")["rows_loaded"] == 6


# ------------------------------------------------------------- hidden rows


def test_hidden_rows_are_loaded_and_said(con, inbox):
    """Rows hidden in Excel (by hand or by an autofilter) are data the clerk did not see
    when checking the file: they are loaded (nothing lost) and a warning says how many."""
    import openpyxl

    path = inbox / "register" / "2025年建档立卡人口.xlsx"
    path.parent.mkdir(parents=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2025年"
    ws.append(REGISTER_HEADER)
    for i in range(5):
        ws.append(register_row(i, 年度="2025"))
    ws.row_dimensions[3].hidden = True
    ws.row_dimensions[5].hidden = True
    ws.row_dimensions[40].hidden = True  # hidden but empty: nothing to say
    wb.save(path)
    load_feed(con, "register", inbox)
    assert loads_row(con, "register/2025年建档立卡人口.xlsx")["rows_loaded"] == 5
    warns = [w["reason_zh"] for w in query(con, "SELECT reason_zh FROM load_warnings")]
    assert any("2 行" in w and "隐藏" in w and "2025年" in w for w in warns), warns


# ------------------------------------------------------------- one household id, two townships


def test_a_household_id_typed_in_two_townships_keeps_each_townships_data_apart(con, inbox):
    """One 户编号 in two townships (a mistyped digit): the rules took them for one
    household, and 青山镇's list named 白水乡's person and showed that household's
    village, phone number and poverty cause in its evidence."""
    import datetime as dt

    rows = [register_row(i, 年度="2025") for i in range(3)]
    rows += [
        register_row(i, 年度="2025", **{"乡(镇)": "白水乡", "行政村": "石门村"})
        for i in range(3, 6)
    ]
    h = REGISTER_HEADER.index("户编号")
    rows[5][h] = rows[0][h]  # 白水乡's 张5 typed into 青山镇's household number
    rows[5][REGISTER_HEADER.index("姓名")] = "欧阳白水"
    rows[5][REGISTER_HEADER.index("与户主关系")] = "户主"
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [REGISTER_HEADER, *rows])
    load_feed(con, "register", inbox)
    run_rules(con, dt.date(2026, 11, 20))
    qs = query(con, "SELECT * FROM findings WHERE township = '青山镇'")
    leaked = [f for f in qs if any("欧阳白水" in str(v) or "石门村" in str(v) for v in f.values())]
    assert leaked == []
    # 白水乡 is told about its own rows.
    bs = query(con, "SELECT * FROM findings WHERE township = '白水乡'")
    assert any(f["rule_code"] == "household_size_mismatch" for f in bs)


def test_a_feedback_folder_in_another_case_is_reported(con, inbox):
    """The returned-list reader looks in ``feedback/`` only: ``Feedback/`` must be said."""
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [REGISTER_HEADER, register_row(0)])
    write_xlsx(inbox / "Feedback" / "问题清单_青山镇.xlsx", [["问题编号"], ["X"]])
    (inbox / "feedback").mkdir()
    load_feed(con, "register", inbox)
    assert [r["path"] for r in query(con, "SELECT * FROM inbox_unread")] == ["Feedback"]


def test_two_versions_of_one_years_village_statistics_are_not_summed(con, inbox):
    """村组统计 kept twice for 2025 (old and revised): every village counted twice."""
    header, row = sample_rows("villages", 1)
    groups = ["1组", "2组", "3组"]
    y = header.index("年度")
    g = header.index("自然村(组)")
    n = header.index("总户数")

    def rows(total):
        out = []
        for name in groups:
            r = list(row)
            r[y], r[g], r[n] = "2025", name, total
            out.append(r)
        return out

    old = write_xlsx(inbox / "villages" / "2025年村组统计.xlsx", [header, *rows(100)])
    new = write_xlsx(inbox / "villages" / "2025年村组统计(修订).xlsx", [header, *rows(120)])
    _set_mtime(old, 1_700_000_000)
    _set_mtime(new, 1_700_100_000)
    load_feed(con, "villages", inbox)
    got = query(con, "SELECT DISTINCT source_file, households_total FROM villages")
    assert got == [{"source_file": "villages/2025年村组统计(修订).xlsx", "households_total": 120}]
    assert loads_row(con, "villages/2025年村组统计.xlsx")["status"] == "superseded"
    _balanced(con)


# ------------------------------------------------------------- a township's hukou file missing


def test_a_townships_missing_hukou_file_is_not_every_person_not_found(con, inbox):
    """户籍人口_宝口镇.csv put in ``户籍/`` (or simply not delivered): every 宝口镇 person
    became 'ID number not in the hukou database' — 94 false findings on a 200-household
    county. The rule does not run, and says which township's hukou data is missing."""
    import datetime as dt

    rows = [register_row(i, 年度="2025") for i in range(12)]
    rows += [register_row(i, 年度="2025", **{"乡(镇)": "白水乡"}) for i in range(12, 24)]
    write_xlsx(inbox / "register" / "2025年建档立卡人口.xlsx", [REGISTER_HEADER, *rows])
    header, sample = sample_rows("hukou", 1)
    ids = header.index("公民身份号码")
    names = header.index("姓名")
    hukou = []
    for i in range(12):  # 青山镇's hukou only
        r = list(sample)
        r[ids], r[names] = make_id(i), f"张{i}"
        hukou.append(r)
    write_csv(inbox / "hukou" / "户籍人口_青山镇.csv", [header, *hukou])
    load_feed(con, "register", inbox)
    load_feed(con, "hukou", inbox)
    run = run_rules(con, dt.date(2026, 11, 20))
    found = query(con, "SELECT * FROM findings WHERE rule_code = 'hukou_not_found'")
    assert found == []
    why = {r.code: r.reason for r in run.results if not r.ran}
    assert "白水乡" in why["hukou_not_found"]
