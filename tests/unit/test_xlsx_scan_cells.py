"""Calamine cells → String columns: the faster conversions give the same text as
the previous cell-by-cell ones (kept below as the oracle)."""

from __future__ import annotations

import datetime as dt
import gc
import threading

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from department_feeds import reading
from department_feeds.reading import RawSheet, _column_series, _gc_paused, cell_text

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
