"""Ingest limits without a warehouse: the limits from the environment, an xlsx's
compression ratio and entry count, shared strings that are not rows.
(Loading hostile files: integration/test_hostile_ingest.py.)"""

from __future__ import annotations

import zipfile

import pytest

from department_feeds.limits import LimitExceeded, Limits, check_file, check_xlsx_extent
from tests.hostile_xlsx import row_xml, write_bomb, write_parts, write_sheet_xml

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


def test_large_shared_strings_are_not_mistaken_for_a_row(tmp_path):
    sheet = write_sheet_xml(tmp_path / "x.xlsx", [row_xml(["a"], 1).encode()])
    with zipfile.ZipFile(sheet) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml")
    strings = b"<sst>" + b"<si><t>" + b"x" * 70_000_000 + b"</t></si></sst>"
    path = write_parts(tmp_path / "y.xlsx", sheet_xml, {"xl/sharedStrings.xml": strings})
    check_xlsx_extent(path, Limits(max_compression_ratio=10_000))
