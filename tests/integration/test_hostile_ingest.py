"""Ingest under hostile and careless input: bounded memory, duplicates loaded once,
every file loaded or failed with a reason, never a crash of the feed, never a silent drop.

Every test builds real files (a real zip-bomb xlsx, real CSV bytes) and loads them
into a real DuckDB file with ``load_feed``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from checks.engine import feed_availability
from department_feeds.limits import LimitExceeded, Limits, check_rows
from tests.conftest import PROJECT_ROOT
from tests.feeds_fixtures import (
    loads_row,
    query,
    rejects_of,
    sample_rows,
    write_csv,
    write_xlsx,
)
from tests.hostile_xlsx import row_xml, write_bomb, write_parts, write_sheet_xml
from warehouse import load_feed

PROJECT = PROJECT_ROOT


def _balance_ok(con) -> None:
    bad = query(con, "SELECT source_file FROM loads WHERE rows_read <> rows_loaded + rows_rejected")
    assert bad == []


def test_zip_bomb_is_not_parsed_and_is_accounted_for(con, inbox, monkeypatch):
    monkeypatch.setenv("BIDUI_MAX_SHEET_MB", "20")
    write_bomb(inbox / "register" / "2024年建档立卡.xlsx", 40_000)  # ~30 MB of XML
    write_xlsx(inbox / "hukou" / "h.xlsx", sample_rows("hukou", 2))
    result = load_feed(con, "register", inbox)
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "register/2024年建档立卡.xlsx")
    assert load["status"] == "failed"
    assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (0, 0, 0)
    assert "解压后" in load["error"] and "uncompressed" in load["error"]
    (reject,) = rejects_of(con, "register/2024年建档立卡.xlsx")
    assert reject["reason_zh"].startswith("文件过大（解压后 ")
    assert "上限 20.0 MB），未读取；请拆分后重新报送或联系区扶贫办调整上限" in reject["reason_zh"]
    assert [f.source_file for f in result.failed] == ["register/2024年建档立卡.xlsx"]
    assert query(con, "SELECT count(*) n FROM raw_register")[0]["n"] == 0
    _balance_ok(con)
    # The failed file marks the register's rules not run, as any failed file does.
    why = feed_availability(con)["register"]
    assert why and "最近一次加载失败" in why and "文件过大" in why
    assert feed_availability(con)["hukou"] is None


def test_file_size_cap_does_not_read_the_file(con, inbox, monkeypatch):
    import warehouse.ingest as ingest

    monkeypatch.setenv("BIDUI_MAX_FILE_MB", "0.05")
    write_csv(inbox / "hukou" / "big.csv", sample_rows("hukou", 2000))
    write_csv(inbox / "hukou" / "small.csv", sample_rows("hukou", 3))
    read = []
    real = ingest._read_stable

    def spy(path, checksum, limits):
        read.append(path.name)
        return real(path, checksum, limits)

    monkeypatch.setattr(ingest, "_read_stable", spy)
    load_feed(con, "hukou", inbox)
    assert read == ["small.csv"]
    load = loads_row(con, "hukou/big.csv")
    assert load["status"] == "failed" and "文件过大" in load["error"]
    assert loads_row(con, "hukou/small.csv")["rows_loaded"] == 3
    _balance_ok(con)


def test_row_cap_csv_and_xlsx(con, inbox, monkeypatch):
    monkeypatch.setenv("BIDUI_MAX_ROWS", "50")
    write_csv(inbox / "hukou" / "many.csv", sample_rows("hukou", 80))
    write_xlsx(inbox / "hukou" / "many.xlsx", sample_rows("hukou", 80))
    write_xlsx(inbox / "hukou" / "ok.xlsx", sample_rows("hukou", 40))
    load_feed(con, "hukou", inbox)
    for name in ("hukou/many.csv", "hukou/many.xlsx"):
        load = loads_row(con, name)
        assert load["status"] == "failed", load
        assert "行数过多" in load["error"] and "上限 50 行" in load["error"]
        assert load["rows_read"] == load["rows_rejected"] == 0
    assert loads_row(con, "hukou/ok.xlsx")["rows_loaded"] == 40
    with pytest.raises(LimitExceeded):
        check_rows(51, Limits(max_rows=50))
    _balance_ok(con)


BOMB_SCRIPT = """
import pathlib, sys, tempfile
from warehouse import connect, load_feed
con = connect(pathlib.Path(tempfile.mkdtemp()) / "w.duckdb")
result = load_feed(con, "register", pathlib.Path(sys.argv[1]))
(f,) = result.files
print(f.status, f.error)
"""


def peak_rss_of_load(inbox: Path) -> tuple[int, str]:
    """Peak RSS (bytes) of a fresh interpreter loading the register feed."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-c', sys.argv[1], sys.argv[2]], "
        "capture_output=True, text=True, timeout=600)\n"
        "print(p.stdout.strip().replace('\\n', ' '), p.stderr[-500:].replace('\\n', ' '))\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDUI_MAX_")}
    out = subprocess.run(
        [sys.executable, "-c", wrapper, BOMB_SCRIPT, str(inbox)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=env,
        timeout=900,
        check=True,
    ).stdout.splitlines()
    return int(out[-1]) * 1024, out[0]


@pytest.mark.slow
def test_zip_bomb_at_default_limits_keeps_memory_bounded(tmp_path):
    """The issue's bomb: ~9 MB on disk, 1.8 GB of sheet XML, 2.4 M rows (7 GB of memory
    before the fix). At the default limits it is refused from the zip directory alone."""
    inbox = tmp_path / "inbox"
    bomb = write_bomb(inbox / "register" / "2024年建档立卡.xlsx", 2_400_000)
    with zipfile.ZipFile(bomb) as z:
        assert sum(i.file_size for i in z.infolist()) > 1.7e9
    assert bomb.stat().st_size < 12e6
    peak, status = peak_rss_of_load(inbox)
    assert status.startswith("failed") and "解压后 1.8 GB" in status, status
    assert peak < 1024**3, f"peak RSS {peak / 1024**2:.0f} MB"


# --------------------------------------------------------------------------- 2. duplicates


def test_same_file_under_two_names_is_loaded_once(con, inbox):
    original = write_xlsx(inbox / "hukou" / "户籍.xlsx", sample_rows("hukou", 4))
    shutil.copy(original, inbox / "hukou" / "户籍 - 副本.xlsx")
    (inbox / "hukou" / "旧").mkdir()
    shutil.copy(original, inbox / "hukou" / "旧" / "户籍.xlsx")
    result = load_feed(con, "hukou", inbox)
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 4
    assert query(con, "SELECT count(*) n FROM raw_hukou")[0]["n"] == 4
    # Sorted path: "户籍 - 副本.xlsx" < "户籍.xlsx" < "旧/户籍.xlsx".
    first = "hukou/户籍 - 副本.xlsx"
    assert loads_row(con, first)["status"] == "loaded"
    for copy in ("hukou/户籍.xlsx", "hukou/旧/户籍.xlsx"):
        load = loads_row(con, copy)
        assert load["status"] == "duplicate"
        assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (0, 0, 0)
        (reject,) = rejects_of(con, copy)
        assert reject["reason_zh"] == f"与文件“{first}”内容完全相同，已按重复文件跳过"
        assert first in reject["reason_en"]
    assert result.failed == [] and result.rows_loaded == 4
    assert feed_availability(con)["hukou"] is None  # a duplicate does not stop rules
    _balance_ok(con)
    # A second run changes nothing.
    again = load_feed(con, "hukou", inbox)
    assert not again.changed
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 4


def test_copy_takes_over_when_the_original_is_removed(con, inbox):
    original = write_xlsx(inbox / "hukou" / "a.xlsx", sample_rows("hukou", 3))
    shutil.copy(original, inbox / "hukou" / "b.xlsx")
    load_feed(con, "hukou", inbox)
    assert loads_row(con, "hukou/b.xlsx")["status"] == "duplicate"
    original.unlink()
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/b.xlsx")
    assert (load["status"], load["rows_loaded"]) == ("loaded", 3)
    assert rejects_of(con, "hukou/b.xlsx") == []
    rows = query(con, "SELECT DISTINCT source_file FROM hukou")
    assert rows == [{"source_file": "hukou/b.xlsx"}]
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 3
    # An earlier-named copy arriving later takes the lead; still loaded once.
    shutil.copy(inbox / "hukou" / "b.xlsx", inbox / "hukou" / "0.xlsx")
    load_feed(con, "hukou", inbox)
    assert loads_row(con, "hukou/0.xlsx")["status"] == "loaded"
    assert loads_row(con, "hukou/b.xlsx")["status"] == "duplicate"
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 3
    _balance_ok(con)


def test_changed_copy_is_loaded_again(con, inbox):
    original = write_xlsx(inbox / "hukou" / "a.xlsx", sample_rows("hukou", 3))
    shutil.copy(original, inbox / "hukou" / "b.xlsx")
    load_feed(con, "hukou", inbox)
    write_xlsx(inbox / "hukou" / "b.xlsx", sample_rows("hukou", 5))
    load_feed(con, "hukou", inbox)
    assert loads_row(con, "hukou/b.xlsx")["status"] == "loaded"
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 8


def test_same_file_in_two_feed_folders(con, inbox):
    original = write_xlsx(inbox / "hukou" / "户籍.xlsx", sample_rows("hukou", 3))
    (inbox / "vehicles").mkdir()
    shutil.copy(original, inbox / "vehicles" / "户籍.xlsx")
    load_feed(con, "hukou", inbox)
    load_feed(con, "vehicles", inbox)
    assert loads_row(con, "hukou/户籍.xlsx")["rows_loaded"] == 3
    load = loads_row(con, "vehicles/户籍.xlsx")
    assert load["status"] == "failed" and "缺少必需的表头" in load["error"]
    assert query(con, "SELECT count(*) n FROM vehicles")[0]["n"] == 0
    _balance_ok(con)


# --------------------------------------------------------------------------- 3. next faults


def _only_reject(con, source_file: str) -> dict:
    (reject,) = rejects_of(con, source_file)
    assert reject["row_number"] is None and reject["reason_en"]
    return reject


def test_empty_files_fail_with_a_reason(con, inbox):
    (inbox / "hukou").mkdir()
    (inbox / "hukou" / "空.xlsx").write_bytes(b"")
    (inbox / "hukou" / "空.csv").write_bytes(b"")
    load_feed(con, "hukou", inbox)
    for name in ("hukou/空.xlsx", "hukou/空.csv"):
        assert loads_row(con, name)["status"] == "failed"
        assert "文件为空（0字节）" in _only_reject(con, name)["reason_zh"]
    _balance_ok(con)


def test_files_that_are_not_what_their_name_says(con, inbox):
    folder = inbox / "hukou"
    real = write_xlsx(folder / "real.xlsx", sample_rows("hukou", 2))
    # An xlsx renamed .csv; binary bytes named .csv; a web export named .xlsx;
    # an Excel 97-2003 file renamed .xlsx; a real .xls (not read, but reported).
    shutil.copy(real, folder / "导出.csv")
    (folder / "binary.csv").write_bytes(bytes(200) + bytes(range(256)) * 4)
    (folder / "noise.csv").write_bytes(bytes(range(1, 256)) * 40)
    (folder / "网页导出.xlsx").write_text(
        "<html><body><table><tr><td>公民身份号码</td><td>姓名</td></tr></table></body></html>",
        encoding="utf-8",
    )
    cfb = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000
    (folder / "旧格式.xlsx").write_bytes(cfb)
    (folder / "旧格式2.xls").write_bytes(cfb + b"\x01")
    load_feed(con, "hukou", inbox)
    expect = {
        "hukou/导出.csv": "扩展名是.csv",
        "hukou/binary.csv": "二进制",
        "hukou/noise.csv": "编码无法识别",
        "hukou/网页导出.xlsx": "网页（HTML/XML）",
        "hukou/旧格式.xlsx": "旧版Excel 97-2003（.xls）",
        "hukou/旧格式2.xls": "不支持的文件格式（.xls）",
    }
    for name, words in expect.items():
        assert loads_row(con, name)["status"] == "failed", name
        assert words in _only_reject(con, name)["reason_zh"], name
    assert loads_row(con, "hukou/real.xlsx")["rows_loaded"] == 2
    _balance_ok(con)


def test_password_protected_workbook(con, inbox, tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = write_xlsx(tmp_path / "plain.xlsx", sample_rows("hukou", 2))
    (inbox / "hukou").mkdir()
    with open(plain, "rb") as src, open(inbox / "hukou" / "加密.xlsx", "wb") as out:
        OOXMLFile(src).encrypt("secret", out)
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/加密.xlsx")
    assert load["status"] == "failed"
    assert "文件设置了打开密码" in _only_reject(con, "hukou/加密.xlsx")["reason_zh"]


def test_file_written_while_the_run_reads_it(con, inbox, monkeypatch):
    import warehouse.ingest as ingest

    path = write_csv(inbox / "hukou" / "h.csv", sample_rows("hukou", 3))
    real = ingest._read_stable

    def writer_appends(p, checksum, limits):
        with open(p, "a", encoding="utf-8") as fh:  # the copy is still going on
            fh.write(f"{sample_rows('hukou', 5)[4][0]},赵六,男,1980-01-01,A9,村,正常,\n")
        return real(p, checksum, limits)

    monkeypatch.setattr(ingest, "_read_stable", writer_appends)
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/h.csv")
    assert load["status"] == "failed"
    assert "读取时文件内容发生了变化" in _only_reject(con, "hukou/h.csv")["reason_zh"]
    monkeypatch.setattr(ingest, "_read_stable", real)
    load_feed(con, "hukou", inbox)  # the next run reads the finished file
    assert loads_row(con, "hukou/h.csv")["rows_loaded"] == 4
    assert path.read_text(encoding="utf-8").count("\n") == 5


def test_symlinks_out_of_the_inbox_are_not_followed(con, inbox, tmp_path):
    elsewhere = tmp_path / "人事处"
    secret = write_xlsx(elsewhere / "工资.xlsx", sample_rows("hukou", 3))
    write_xlsx(elsewhere / "sub" / "more.xlsx", sample_rows("hukou", 4))
    folder = inbox / "hukou"
    folder.mkdir()
    (folder / "link.xlsx").symlink_to(secret)
    (folder / "linked_dir").symlink_to(elsewhere / "sub", target_is_directory=True)
    (folder / "dangling.xlsx").symlink_to(tmp_path / "nothing.xlsx")
    (folder / "gbk.xlsx").symlink_to(tmp_path / os.fsdecode("户籍".encode("gb18030")))
    # A link to a file inside the inbox is read (here: a duplicate of it).
    inside = write_xlsx(folder / "a.xlsx", sample_rows("hukou", 2))
    (folder / "z_link.xlsx").symlink_to(inside)
    load_feed(con, "hukou", inbox)
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 2
    assert query(con, "SELECT count(*) n FROM raw_hukou")[0]["n"] == 2
    for name in ("hukou/link.xlsx", "hukou/linked_dir", "hukou/dangling.xlsx", "hukou/gbk.xlsx"):
        assert loads_row(con, name)["status"] == "failed", name
        assert "符号链接" in _only_reject(con, name)["reason_zh"]
    assert loads_row(con, "hukou/z_link.xlsx")["status"] == "duplicate"
    _balance_ok(con)


def test_odd_file_names_load(con, inbox):
    folder = inbox / "hukou"
    control = "户籍\x07\t\n" + "名" * 70 + ".csv"  # 224 bytes with control characters
    assert len(os.fsencode(control)) > 200
    write_csv(folder / control, sample_rows("hukou", 2))
    gbk = os.fsdecode("户籍GBK".encode("gb18030") + b".csv")  # unpacked from a Windows zip
    write_csv(folder / gbk, sample_rows("hukou", 3, 姓名="王五"))
    deep = "目录" * 40 + "/" + "户籍" * 40 + ".csv"  # a 300+ byte path (255 bytes a name)
    write_csv(folder / deep, sample_rows("hukou", 1, 姓名="赵六"))
    assert len(os.fsencode(deep)) > 300
    load_feed(con, "hukou", inbox)
    assert loads_row(con, f"hukou/{control}")["rows_loaded"] == 2
    assert loads_row(con, f"hukou/{deep}")["rows_loaded"] == 1
    (escaped,) = query(con, "SELECT source_file FROM loads WHERE source_file LIKE '%GBK%'")
    assert escaped["source_file"] == "hukou/\\xbb\\xa7\\xbc\\xaeGBK.csv"
    assert loads_row(con, escaped["source_file"])["rows_loaded"] == 3
    # The second run sees the same names: nothing changes.
    assert not load_feed(con, "hukou", inbox).changed


def test_csv_nul_bytes_and_mixed_encodings(con, inbox):
    rows = sample_rows("hukou", 4)
    text = "\n".join(",".join("" if v is None else str(v) for v in r) for r in rows) + "\n"
    folder = inbox / "hukou"
    folder.mkdir()
    (folder / "nul.csv").write_bytes(text.replace("李四", "李\x00四", 1).encode("utf-8"))
    lines = text.splitlines(keepends=True)
    mixed = "".join(lines[:3]).encode("utf-8") + "".join(lines[3:]).encode("gb18030")
    (folder / "mixed.csv").write_bytes(mixed)
    load_feed(con, "hukou", inbox)
    assert loads_row(con, "hukou/nul.csv")["rows_loaded"] == 4
    names = {r["name"] for r in query(con, "SELECT name FROM hukou")}
    assert names == {"李四"}
    load = loads_row(con, "hukou/mixed.csv")
    assert load["status"] == "failed"
    assert "混有UTF-8和GBK" in _only_reject(con, "hukou/mixed.csv")["reason_zh"]


def test_sheet_reaching_column_xfd(con, inbox):
    rows = sample_rows("hukou", 300)
    chunks = [row_xml(r, i + 1).encode() for i, r in enumerate(rows)]
    # One stray value in the last column: every row becomes 16,384 cells wide.
    chunks[0] = chunks[0].replace(
        b"</row>", b'<c r="XFD1" t="inlineStr"><is><t>x</t></is></c></row>'
    )
    write_sheet_xml(inbox / "hukou" / "wide.xlsx", chunks)
    load_feed(con, "hukou", inbox)
    assert loads_row(con, "hukou/wide.xlsx")["rows_loaded"] == 300


def test_two_far_cells_do_not_abort_the_process(con, inbox):
    """A1 and XFD1048576: a few hundred bytes that made the xlsx reader ask for
    512 GB and abort the whole process (not an exception: the night dies)."""
    header = sample_rows("hukou", 0)[0]
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    write_sheet_xml(inbox / "hukou" / "far.xlsx", [row_xml(header, 1).encode(), far])
    write_xlsx(inbox / "hukou" / "ok.xlsx", sample_rows("hukou", 2))
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/far.xlsx")
    assert load["status"] == "failed"
    assert "数据区域过大" in _only_reject(con, "hukou/far.xlsx")["reason_zh"]
    assert loads_row(con, "hukou/ok.xlsx")["rows_loaded"] == 2


def test_header_repeated_every_100_rows(con, inbox):
    rows = sample_rows("hukou", 500)
    header, data = rows[0], rows[1:]
    out = [header]
    for i in range(0, 500, 100):
        if i:
            out.append(header)  # a copied block brings its header along
        out += data[i : i + 100]
    write_xlsx(inbox / "hukou" / "blocks.xlsx", out)
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/blocks.xlsx")
    assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (504, 500, 4)
    reasons = {r["reason_zh"] for r in rejects_of(con, "hukou/blocks.xlsx")}
    assert reasons == {"重复的表头行"}


def test_a_million_empty_formatted_rows(con, inbox):
    rows = sample_rows("hukou", 3)
    chunks = [row_xml(r, i + 1).encode() for i, r in enumerate(rows)]
    chunks += [
        f'<row r="{i}" s="1" customFormat="1"><c r="A{i}" s="1"/><c r="H{i}" s="1"/></row>'.encode()
        for i in range(5, 1_000_001)
    ]
    write_sheet_xml(inbox / "hukou" / "formatted.xlsx", chunks)
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/formatted.xlsx")
    assert (load["status"], load["rows_read"], load["rows_loaded"]) == ("loaded", 3, 3)


def test_workbook_with_an_empty_sheet_loads(con, inbox):
    write_xlsx(inbox / "hukou" / "h.xlsx", sample_rows("hukou", 2), extra_sheets={"空表": []})
    load_feed(con, "hukou", inbox)
    assert loads_row(con, "hukou/h.xlsx")["rows_loaded"] == 2


def test_wide_csv_counts_against_the_cell_cap(con, inbox, monkeypatch):
    monkeypatch.setenv("BIDUI_MAX_CELLS", "20000")
    header = sample_rows("hukou", 0)[0]
    rows = sample_rows("hukou", 60)
    wide = [r + [""] * 400 for r in rows]  # 408 fields a line
    write_csv(inbox / "hukou" / "wide.csv", [header + ["x"] * 400, *wide[1:]])
    write_csv(inbox / "hukou" / "ok.csv", rows)
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/wide.csv")
    assert load["status"] == "failed" and "数据区域过大" in load["error"]
    assert loads_row(con, "hukou/ok.csv")["rows_loaded"] == 60


def test_entity_expansion_in_sheet_xml_fails_cleanly(con, inbox):
    """A "billion laughs" DTD in the sheet XML: the reader does not expand entities."""
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    path = write_sheet_xml(
        inbox / "hukou" / "laughs.xlsx",
        [b'<row r="1"><c r="A1" t="inlineStr"><is><t>&l9;</t></is></c></row>'],
    )
    # Put the DTD in front of the root element of the sheet part.
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    head, body = sheet.split("\n", 1)
    parts["xl/worksheets/sheet1.xml"] = (
        f'{head}<!DOCTYPE worksheet [<!ENTITY l0 "lol">{lol}]>{body}'
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    load_feed(con, "hukou", inbox)
    assert loads_row(con, "hukou/laughs.xlsx")["status"] == "failed"
    _balance_ok(con)


def test_file_vanishing_mid_run_does_not_crash_the_feed(con, inbox, monkeypatch):
    import warehouse.ingest as ingest

    write_csv(inbox / "hukou" / "a.csv", sample_rows("hukou", 2))
    write_csv(inbox / "hukou" / "b.csv", sample_rows("hukou", 3, 姓名="王五"))
    write_csv(inbox / "hukou" / "c.csv", sample_rows("hukou", 4, 姓名="赵六"))
    real_read, real_parse = ingest._read_stable, ingest.parse_file

    def read_after_delete(path, checksum, limits):
        if path.name == "a.csv":
            path.unlink()  # moved away between listing and reading
        return real_read(path, checksum, limits)

    def parse_after_delete(spec, path, inbox_, data, limits):
        if path.name == "b.csv":
            path.unlink()  # moved away while being parsed
        return real_parse(spec, path, inbox_, data, limits)

    monkeypatch.setattr(ingest, "_read_stable", read_after_delete)
    monkeypatch.setattr(ingest, "parse_file", parse_after_delete)
    load_feed(con, "hukou", inbox)
    assert loads_row(con, "hukou/a.csv")["status"] == "failed"
    assert loads_row(con, "hukou/b.csv")["rows_loaded"] == 3  # its bytes were read whole
    assert loads_row(con, "hukou/c.csv")["rows_loaded"] == 4
    _balance_ok(con)
    monkeypatch.undo()
    load_feed(con, "hukou", inbox)  # next run: both are gone, their rows too
    assert query(con, "SELECT DISTINCT source_file FROM hukou") == [{"source_file": "hukou/c.csv"}]


def test_feed_folder_that_is_a_symlink_out_of_the_inbox(con, inbox, tmp_path):
    elsewhere = tmp_path / "其他单位"
    write_xlsx(elsewhere / "名单.xlsx", sample_rows("hukou", 3))
    (inbox / "hukou").symlink_to(elsewhere, target_is_directory=True)
    load_feed(con, "hukou", inbox)
    assert query(con, "SELECT count(*) n FROM raw_hukou")[0]["n"] == 0
    load = loads_row(con, "hukou")
    assert load["status"] == "failed" and "符号链接" in load["error"]


def test_identical_sheet_in_one_workbook_is_loaded_once(con, inbox):
    rows = sample_rows("hukou", 5)
    write_xlsx(inbox / "hukou" / "h.xlsx", rows, extra_sheets={"备份": rows})
    load_feed(con, "hukou", inbox)
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 5
    load = loads_row(con, "hukou/h.xlsx")
    assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (10, 5, 5)
    rejects = rejects_of(con, "hukou/h.xlsx")
    assert {r["sheet"] for r in rejects} == {"备份"}
    assert {r["reason_zh"] for r in rejects} == {
        "与工作表“Sheet1”的内容完全相同（重复的工作表），未导入"
    }
    _balance_ok(con)


def test_prefixed_sheet_xml_is_scanned_too(con, inbox):
    """The .NET OpenXML SDK writes ``<x:row>``/``<x:c>``: the reader reads it, so the
    extent scan must too (a far cell written that way aborted the process)."""
    ns = b'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    header = sample_rows("hukou", 0)[0]
    cells = b"".join(
        f'<x:c r="{chr(65 + j)}1" t="inlineStr"><x:is><x:t>{h}</x:t></x:is></x:c>'.encode()
        for j, h in enumerate(header)
    )
    far = b'<x:row r="1048576"><x:c r="XFD1048576"><x:v>1</x:v></x:c></x:row>'
    body = b'<x:row r="1">' + cells + b"</x:row>" + far
    sheet = b"<x:worksheet " + ns + b"><x:sheetData>" + body + b"</x:sheetData></x:worksheet>"
    write_parts(inbox / "hukou" / "dotnet.xlsx", sheet)
    load_feed(con, "hukou", inbox)
    assert "数据区域过大" in _only_reject(con, "hukou/dotnet.xlsx")["reason_zh"]


def test_zip_that_is_not_an_xlsx(con, inbox):
    folder = inbox / "hukou"
    folder.mkdir()
    with zipfile.ZipFile(folder / "ods.xlsx", "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    with zipfile.ZipFile(folder / "other.xlsx", "w") as z:
        z.writestr("readme.txt", "hello")
    load_feed(con, "hukou", inbox)
    assert "ODS" in _only_reject(con, "hukou/ods.xlsx")["reason_zh"]
    assert "不是xlsx格式" in _only_reject(con, "hukou/other.xlsx")["reason_zh"]


def test_zip_directory_that_lies_about_sizes(con, inbox):
    """The central directory says 1 kB, the sheet inflates to 7 MB: the scan stops at
    the declared size and the CRC fails, so the file fails as damaged (no row is read
    past what the directory admits)."""
    rows = sample_rows("hukou", 20_000)
    path = write_sheet_xml(inbox / "hukou" / "liar.xlsx", [row_xml(r).encode() for r in rows])
    raw = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    central = raw.find(b"PK\x01\x02")
    while raw[central + 46 : central + 46 + len(name)] != name:
        central = raw.find(b"PK\x01\x02", central + 4)
    raw[central + 24 : central + 28] = (1024).to_bytes(4, "little")  # uncompressed size
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as z:
        assert z.getinfo(name.decode()).file_size == 1024
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/liar.xlsx")
    assert load["status"] == "failed", load
    assert "已损坏" in load["error"] and "程序错误" not in load["error"]


def test_one_workbook_for_two_feeds_in_both_folders(con, inbox):
    """A department sends one workbook with a sheet per dataset and it is dropped into
    both folders: each feed takes its own sheet, skips the other, and says so."""
    both = write_xlsx(
        inbox / "hukou" / "公安数据.xlsx",
        sample_rows("hukou", 3),
        sheet="户籍",
        extra_sheets={"车辆": sample_rows("vehicles", 2)},
    )
    (inbox / "vehicles").mkdir()
    shutil.copy(both, inbox / "vehicles" / "公安数据.xlsx")
    load_feed(con, "hukou", inbox)
    load_feed(con, "vehicles", inbox)
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 3
    assert query(con, "SELECT count(*) n FROM vehicles")[0]["n"] == 2
    skipped = query(
        con,
        "SELECT feed, sheet FROM load_warnings WHERE row_number IS NULL ORDER BY feed",
    )
    assert skipped == [{"feed": "hukou", "sheet": "车辆"}, {"feed": "vehicles", "sheet": "户籍"}]
    _balance_ok(con)
