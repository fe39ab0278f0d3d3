"""Size caps checked before a file is read into memory or parsed.

A small xlsx can expand to gigabytes of sheet XML (a "zip bomb"), and a huge
CSV is read whole: either would exhaust an office PC's memory and kill the
night. ``check_file`` looks only at ``stat`` and the zip central directory (no
decompression), so it is cheap and runs before anything else touches the
bytes. A corrupt zip is not a limit error: the parser fails it cleanly.

Configuration (environment, read by ``Limits.from_env``):

- ``BIDUI_MAX_FILE_MB`` (default 200): size of the file on disk;
- ``BIDUI_MAX_SHEET_MB`` (default 1024): uncompressed total of an xlsx's parts;
- ``BIDUI_MAX_ROWS`` (default 1,100,000): rows per file;
- ``BIDUI_MAX_COMPRESSION_RATIO`` (default 200): uncompressed / compressed size.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024

ZIP_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".zip", ".ods")

RATIO_MIN_BYTES = 10 * MB
"""The compression ratio is only judged above this uncompressed total: small
parts (styles, an almost empty sheet) legitimately compress very well."""

ADVICE_ZH = "请拆分后重新报送或联系区扶贫办调整上限"


class LimitExceeded(Exception):
    """A file over a configured cap; it is not read."""

    def __init__(self, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 200 * MB
    max_uncompressed_bytes: int = 1024 * MB
    max_rows: int = 1_100_000
    max_compression_ratio: float = 200.0
    max_zip_entries: int = 10_000
    """A workbook has a few dozen parts; 100,000 entries is hostile whatever their size."""
    max_cells: int = 60_000_000
    """Rows × columns of one sheet as the reader lays it out (dense). A stray cell in
    column XFD makes every row 16,384 cells wide."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Limits from ``BIDUI_MAX_*``; an invalid value raises ``ValueError`` naming it."""
        env = os.environ if env is None else env
        default = cls()
        return cls(
            max_file_bytes=int(_number(env, "BIDUI_MAX_FILE_MB", default.max_file_bytes / MB) * MB),
            max_uncompressed_bytes=int(
                _number(env, "BIDUI_MAX_SHEET_MB", default.max_uncompressed_bytes / MB) * MB
            ),
            max_rows=int(_number(env, "BIDUI_MAX_ROWS", default.max_rows, integer=True)),
            max_compression_ratio=_number(
                env, "BIDUI_MAX_COMPRESSION_RATIO", default.max_compression_ratio
            ),
        )


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip().replace("_", "").replace(",", "")
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{name}={raw!r} is not {kind}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{name}={raw!r} must be greater than 0")
    return value


def human_size(n: float) -> str:
    """``1.8 GB``, ``250.0 MB``, ``12 kB``: for messages a person reads."""
    if n >= 1024 * MB:
        return f"{n / (1024 * MB):.1f} GB"
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{max(n / 1024, 0.1):.0f} kB" if n >= 1024 else f"{int(n)} B"


def check_file(path: Path, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` if the file is over a cap. Reads no content
    beyond the zip central directory; does not follow the caller's choice of
    reader, so it is safe to call on any file."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise LimitExceeded(
            f"file too large ({human_size(size)}, limit {human_size(limits.max_file_bytes)}); "
            "not read",
            f"文件过大（{human_size(size)}，上限 {human_size(limits.max_file_bytes)}），"
            f"未读取；{ADVICE_ZH}",
        )
    if path.suffix.lower() in ZIP_SUFFIXES:
        check_zip(path, size, limits)


def check_zip(path: Path, size: int, limits: Limits) -> None:
    """Uncompressed total, entry count and compression ratio from the central directory."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip / damaged: the parser fails it with its own reason
    if len(infos) > limits.max_zip_entries:
        raise LimitExceeded(
            f"workbook has {len(infos):,} parts (limit {limits.max_zip_entries:,}); not read",
            f"文件内部结构异常（含 {len(infos):,} 个部件，上限 {limits.max_zip_entries:,}），"
            f"未读取；请用Excel另存为后重新报送",
        )
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise LimitExceeded(
            f"file too large (uncompressed {human_size(total)}, limit "
            f"{human_size(limits.max_uncompressed_bytes)}); not read",
            f"文件过大（解压后 {human_size(total)}，上限 "
            f"{human_size(limits.max_uncompressed_bytes)}），未读取；{ADVICE_ZH}",
        )
    ratio = total / max(packed, size, 1) if packed else 0.0
    if total >= RATIO_MIN_BYTES and ratio > limits.max_compression_ratio:
        raise LimitExceeded(
            f"abnormal compression ratio {ratio:.0f}:1 (uncompressed {human_size(total)} from "
            f"{human_size(size)}, limit {limits.max_compression_ratio:.0f}:1); not read",
            f"文件压缩比异常（{human_size(size)} 解压后 {human_size(total)}，压缩比 {ratio:.0f}:1，"
            f"上限 {limits.max_compression_ratio:.0f}:1），未读取；{ADVICE_ZH}",
        )


def check_rows(n: int, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` when a file has more rows than allowed."""
    if n > limits.max_rows:
        raise LimitExceeded(
            f"too many rows ({n:,}, limit {limits.max_rows:,}); not read",
            f"文件行数过多（{n:,} 行，上限 {limits.max_rows:,} 行），未读取；{ADVICE_ZH}",
        )


def check_cells(sheet: str, rows: int, columns: int, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` when a sheet laid out densely is too big."""
    if rows * columns > limits.max_cells:
        raise LimitExceeded(
            f"sheet {sheet!r} spans {rows:,} rows × {columns:,} columns "
            f"(limit {limits.max_cells:,} cells); not read",
            f"工作表“{sheet}”的数据区域过大（{rows:,} 行 × {columns:,} 列，"
            f"上限 {limits.max_cells:,} 个单元格），未读取；请删除多余的行列（如误填在远处的单元格）"
            "后重新报送",
        )


__all__ = [
    "Limits",
    "LimitExceeded",
    "check_cells",
    "check_file",
    "check_rows",
    "check_zip",
    "human_size",
]
