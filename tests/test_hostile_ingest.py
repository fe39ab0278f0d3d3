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
from xml.sax.saxutils import escape

import pytest

from bidui.generator.xlsx import _CONTENT_TYPES, _RELS, _STYLES, _WB_RELS, _workbook
from checks.engine import feed_availability
from department_feeds.limits import LimitExceeded, Limits, check_file, check_rows
from tests.feeds_fixtures import (
    REGISTER_HEADER,
    loads_row,
    query,
    register_row,
    rejects_of,
    sample_rows,
    write_csv,
    write_xlsx,
)
from warehouse import connect, load_feed

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "wh" / "warehouse.duckdb")
    yield c
    c.close()


# --------------------------------------------------------------------------- helpers


def _row_xml(values: list[object], r: int | None = None) -> str:
    cells = "".join(
        "<c/>" if v is None else f'<c t="inlineStr"><is><t>{escape(str(v))}</t></is></c>'
        for v in values
    )
    return (f'<row r="{r}">' if r else "<row>") + cells + "</row>"


def write_sheet_xml(path: Path, chunks, *, level: int = 9) -> Path:
    """A valid one-sheet xlsx whose sheet XML is streamed from ``chunks`` (bytes),
    so a test can write hundreds of MB of XML without holding them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("xl/workbook.xml", _workbook("Sheet1")),
            ("xl/_rels/workbook.xml.rels", _WB_RELS),
            ("xl/styles.xml", _STYLES),
        ):
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
                b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            for chunk in chunks:
                f.write(chunk)
            f.write(b"</sheetData></worksheet>")
    return path


def write_bomb(path: Path, rows: int) -> Path:
    """A register workbook of ``rows`` identical rows (743 bytes of XML each):
    2.4 M rows are 1.8 GB of sheet XML in a ~9 MB file (ratio ~205:1)."""
    block = (_row_xml(register_row(0)) * 1000).encode()
    chunks = [_row_xml(REGISTER_HEADER).encode(), *([block] * (rows // 1000))]
    return write_sheet_xml(path, chunks)


def _balance_ok(con) -> None:
    bad = query(con, "SELECT source_file FROM loads WHERE rows_read <> rows_loaded + rows_rejected")
    assert bad == []


# --------------------------------------------------------------------------- 1. limits


def test_limits_from_env_defaults_and_invalid_values():
    assert Limits.from_env({}) == Limits()
    lim = Limits.from_env(
        {
            "BIDUI_MAX_FILE_MB": "1.5",
            "BIDUI_MAX_SHEET_MB": "10",
            "BIDUI_MAX_ROWS": "1,000",
            "BIDUI_MAX_COMPRESSION_RATIO": "50",
        }
    )
    assert lim.max_file_bytes == int(1.5 * 1024 * 1024)
    assert lim.max_uncompressed_bytes == 10 * 1024 * 1024
    assert (lim.max_rows, lim.max_compression_ratio) == (1000, 50.0)
    for name, value in [
        ("BIDUI_MAX_ROWS", "many"),
        ("BIDUI_MAX_FILE_MB", "-3"),
        ("BIDUI_MAX_SHEET_MB", "0"),
        ("BIDUI_MAX_COMPRESSION_RATIO", "nan"),
    ]:
        with pytest.raises(ValueError, match=name):
            Limits.from_env({name: value})


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


def test_compression_ratio_and_entry_count(tmp_path):
    bomb = write_bomb(tmp_path / "b.xlsx", 40_000)
    with pytest.raises(LimitExceeded) as exc:
        check_file(bomb, Limits(max_compression_ratio=50))
    assert "压缩比" in exc.value.message_zh
    check_file(bomb, Limits(max_compression_ratio=1000))  # ~200:1 (identical rows)
    many = tmp_path / "many.xlsx"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(10_001):
            z.writestr(f"x/{i}.xml", "")
    with pytest.raises(LimitExceeded) as exc:
        check_file(many, Limits())
    assert "部件" in exc.value.message_zh
    corrupt = tmp_path / "c.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    check_file(corrupt, Limits())  # not a limit error: the parser fails it


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
