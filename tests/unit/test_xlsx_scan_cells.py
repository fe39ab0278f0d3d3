"""Calamine cells → String columns: the faster conversions give the same text as
the previous cell-by-cell ones (kept below as the oracle)."""

from __future__ import annotations

import codecs
import datetime as dt
import gc
import io
import re
import threading

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from department_feeds import reading
from department_feeds.limits import Limits
from department_feeds.reading import (
    RawSheet,
    ReadError,
    _column_series,
    _gc_paused,
    cell_text,
    read_csv,
)

FAST = settings(max_examples=300, deadline=None)


def _old_column_series(name, values):
    """``reading._column_series`` before it let Polars check the types."""
    types = set(map(type, values))
    if types <= {str}:
        return pl.Series(name, values, dtype=pl.String)
    number_types = {float, int}
    if types <= number_types | {str}:
        numbers = pl.Series(
            [None if type(v) is str else v for v in values], dtype=pl.Float64, strict=False
        )
        if types <= number_types:
            return reading._numbers_text(numbers).rename(name)
        text = pl.Series([v if type(v) is str else None for v in values], dtype=pl.String)
        return text.zip_with(numbers.is_null(), reading._numbers_text(numbers)).rename(name)
    return pl.Series(name, [cell_text(v) for v in values], dtype=pl.String)


_CELL = st.one_of(
    st.text(max_size=4),
    st.sampled_from(["", "true", "FALSE", "3", "3.0", "1e-7", "合计", "-"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**70), 2**70).map(float),
    st.integers(-(10**9), 10**9),
    st.sampled_from([1e-7, 1e22, 5.301021990010112e17, -0.0, 0.5, 1234.5]),
)
_EXOTIC = st.one_of(
    st.booleans(), st.none(), st.dates(), st.datetimes(), st.times(), st.just(dt.timedelta(1))
)


@FAST
@given(st.lists(_CELL, max_size=25), st.lists(_EXOTIC, max_size=2), st.randoms())
def test_column_series_matches_the_old_conversion(values, exotic, rnd):
    values = values + exotic
    rnd.shuffle(values)
    for column in (values, tuple(values), [v for v in values if isinstance(v, str)]):
        new = _column_series("c0", column)
        old = _old_column_series("c0", column)
        assert new.name == old.name and new.dtype == old.dtype
        assert new.to_list() == old.to_list()


@FAST
@given(
    st.lists(st.lists(st.one_of(_CELL, _EXOTIC), min_size=3, max_size=3), max_size=12),
    st.booleans(),
)
def test_numeric_flags_match_the_cells(rows, ragged):
    if ragged and rows:
        rows[0] = rows[0][:1]
    sheet = RawSheet("s", rows=[["h1", "h2", "h3"], *rows])
    _, flags = sheet.columns(1, {0, 2})
    for j, flag in flags.items():
        expected = [j < len(r) and type(r[j]) in (float, int) for r in rows]
        assert flag.to_list() == expected


def test_gc_pause_is_counted_across_threads():
    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def hold():
        with _gc_paused():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(5)
    with _gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread still holds it
    release.set()
    t.join()
    assert gc.isenabled()


# ----------------------------------------------------------------- CSV


def _old_has_utf8_lines(data: bytes) -> bool:
    for line in data.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(re.findall(rb"[\x80-\xff]", line)) >= 9:
            return True
    return False


def _old_read_csv(data: bytes, limits: Limits):
    """``reading.read_csv`` before it reused byte counts and bytes."""
    if not data:
        raise reading.EMPTY
    lines = max(data.count(b"\n"), data.count(b"\r")) + (not data.endswith((b"\n", b"\r")))
    reading.check_rows(lines, limits)
    nul = data.count(b"\x00")
    if nul * 20 > len(data) and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if max(data[1::2].count(b"\x00"), data[0::2].count(b"\x00")) > 0.9 * nul:
            raise ReadError("CSV looks like UTF-16 without a byte-order mark", "")
        raise ReadError("the file is binary, not a text CSV", "")
    text, encoding = reading.decode(data)
    if "\x00" in text:
        text = text.replace("\x00", "")
    text = reading._unify_line_endings(text)
    if not text.strip():
        return pl.DataFrame(), encoding
    delimiter, width = reading._sniff(text)
    reading.check_cells("", lines, width, limits)
    synthetic = delimiter.join(f"column_{j}" for j in range(width)) + "\n"
    frame = pl.read_csv(
        io.BytesIO((synthetic + text).encode("utf-8")),
        has_header=True,
        infer_schema=False,
        separator=delimiter,
        truncate_ragged_lines=True,
        raise_if_empty=False,
    )
    return frame, encoding


_PIECES = [b"a", b"1", b",", b";", b"\t", b'"', b" ", b"\n", b"\r", b"\r\n", b"\x00", b"\xff"]
_TEXTS = ["张三", "合计", "é", "𠀀", "云岭县,桃口镇", "a\rb"]


@st.composite
def _csv_bytes(draw) -> bytes:
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "mixed"]))
    parts = draw(
        st.lists(st.one_of(st.sampled_from(_PIECES), st.sampled_from(_TEXTS)), max_size=30)
    )
    out = []
    for p in parts:
        if isinstance(p, bytes):
            out.append(p if encoding != "utf-16" or p.isascii() else b"")
        elif encoding == "mixed":
            out.append(p.encode(draw(st.sampled_from(["utf-8", "gb18030"]))))
        else:
            out.append(
                p.encode("utf-8" if encoding == "utf-8-sig" else encoding).lstrip(b"\xff\xfe")
            )
    data = b"".join(out)
    if encoding == "utf-8-sig":
        data = codecs.BOM_UTF8 + data
    if encoding == "utf-16":
        data = codecs.BOM_UTF16_LE + "".join(
            p if isinstance(p, str) else p.decode("latin-1") for p in parts
        ).replace("\xff", "").encode("utf-16-le")
    return data


@settings(max_examples=400, deadline=None)
@given(_csv_bytes())
def test_read_csv_matches_the_old_reading(data):
    limits = Limits()
    try:
        expected = _old_read_csv(data, limits)
    except (ReadError, pl.exceptions.PolarsError) as exc:
        expected = exc
    try:
        sheet, encoding = read_csv(data, limits)
        got = (sheet.frame, encoding)
    except ReadError as exc:
        got = exc
    if isinstance(expected, Exception):
        if isinstance(expected, ReadError) and isinstance(got, ReadError):
            assert got.message_en.startswith(expected.message_en)
        else:  # the old reading raised from Polars: so does the new, wrapped
            assert isinstance(got, ReadError), (data, got)
        return
    assert not isinstance(got, Exception), (data, got)
    assert got[1] == expected[1]
    assert got[0].equals(expected[0]), data


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *_PIECES,
                *(t.encode() for t in _TEXTS),
                *(t.encode("gb18030") for t in _TEXTS),
                b"\xed\xa0\x80",
                b"\xe0\x80\xaf",
                b"\xf4\x90\x80\x80",
                b"\xc3",
            ]
        ),
        max_size=40,
    )
)
def test_utf8_line_check_matches_the_old_one(parts):
    data = b"".join(parts)
    assert reading._has_utf8_lines(data) == _old_has_utf8_lines(data)
