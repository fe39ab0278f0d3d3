"""The shortcuts in driving GX (checks.expectations) change nothing in what it reports.

``_configurations_built_once`` lets GX build each expectation's configuration once
instead of on every read: a suite run with it gives the same results, result JSON
and Data Docs pages as one without it, and GX's own property is back afterwards (and
on other threads all along). The result a site keeps is the masked one, stored once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

import checks.expectations as ex
from tests.expectations_fixtures import build

RUN = dt.date(2025, 11, 15)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LOAD_TIME = re.compile(r"\d{8}T(?!000000\.000000)\d{6}\.\d{6}Z")
ID_RE = re.compile(r"(?<![0-9.])[0-9]{17}[0-9Xx](?![0-9])")


@pytest.fixture(scope="module")
def bad_db(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("bad") / "w.duckdb", bad=True)


def _site(db: Path, out: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        results = ex.validate_feeds(con, RUN, out)
    finally:
        con.close()
    return {f: replace(v, duration_ms=0) for f, v in results.items()}


def _normalised(text: str) -> str:
    """Without what differs between any two builds: ids, load times, durations."""
    text = re.sub(r'"duration_ms": \d+', '"duration_ms": 0', text)
    text = re.sub(r'"ge_load_time": "[^"]*"', '"ge_load_time": ""', text)
    return LOAD_TIME.sub("<time>", UUID.sub("<uuid>", text))


def _pages(site: Path) -> dict[str, str]:
    return {
        p.relative_to(site).as_posix(): _normalised(p.read_text(encoding="utf-8"))
        for p in site.rglob("*")
        if p.suffix in (".html", ".json")
    }


def test_configurations_built_once_change_no_result(bad_db, tmp_path, monkeypatch):
    fast = _site(bad_db, tmp_path / "fast")
    with monkeypatch.context() as m:
        m.setattr(ex, "_configurations_built_once", nullcontext)
        plain = _site(bad_db, tmp_path / "plain")
    assert fast == plain
    assert any(v.validated and not v.passed for v in fast.values())  # failures compared too
    fast_pages, plain_pages = _pages(tmp_path / "fast"), _pages(tmp_path / "plain")
    assert fast_pages.keys() == plain_pages.keys() and len(fast_pages) > 5
    for name, text in fast_pages.items():
        assert text == plain_pages[name], name


def test_gx_property_restored_and_other_threads_untouched():
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    gx = ex._gx()
    original = Expectation.__dict__["configuration"]
    exp = gx.expectations.ExpectColumnValuesToNotBeNull(column="a")
    seen: list[bool] = []
    with ex._configurations_built_once():
        assert exp.configuration is exp.configuration  # built once on this thread
        other = threading.Thread(target=lambda: seen.append(exp.configuration is exp.configuration))
        other.start()
        other.join()
    assert seen == [False]  # another thread builds it on every read, as GX does
    assert Expectation.__dict__["configuration"] is original
    assert exp.configuration is not exp.configuration
    assert isinstance(exp.configuration, ExpectationConfiguration)


def test_site_keeps_the_masked_result_stored_once(bad_db, tmp_path):
    _site(bad_db, tmp_path / "docs")
    kept = json.loads((tmp_path / "docs" / ".bidui" / "register.result.json").read_text("utf-8"))
    text = json.dumps(kept, ensure_ascii=False)
    assert not ID_RE.search(text)
    meta = kept["result"]["meta"]
    assert meta["run_id"]["run_name"] == RUN.isoformat()
    assert meta["batch_parameters"] == {"dataframe": "<DATAFRAME>"}
    assert UUID.fullmatch(meta["validation_id"])
    assert "unexpected_index_query" not in text


def _as_dates(df):
    """What ``_read_frame`` does last: datetime columns as ``datetime.date`` or None."""
    import pandas as pd

    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = pd.Series(df[c].dt.date, index=df.index, dtype=object).where(
                df[c].notna(), None
            )
    return df


def _same_frame(a, b):
    import pandas as pd

    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.dtypes.astype(str)) == list(b.dtypes.astype(str))
    for c in a.columns:
        if a[c].dtype == object:
            assert [type(v) for v in a[c]] == [type(v) for v in b[c]], c


def test_frames_from_arrow_equal_df(tmp_path):
    """``_frame`` gives what ``.df()`` gave, for every column type a suite reads (and
    falls back to ``.df()`` for others), so GX sees the same frame."""
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute(
        "CREATE TABLE t (s VARCHAR, s_some VARCHAR, s_none VARCHAR, i INTEGER, i_some INTEGER,"
        " b BIGINT, b_some BIGINT, d DOUBLE, m DECIMAL(14, 2), m4 DECIMAL(14, 4), day DATE,"
        " day_some DATE, i_none INTEGER, day_none DATE, d_some DOUBLE)"
    )
    con.execute(
        "INSERT INTO t SELECT 'v' || x, CASE WHEN x % 3 = 0 THEN NULL ELSE '甲' || x END, NULL,"
        " x, CASE WHEN x % 2 = 0 THEN NULL ELSE x END, x * 1000000000, NULLIF(x, 7),"
        " x / 7.0, (x * 1234.57)::DECIMAL(14, 2), (x / 3.0)::DECIMAL(14, 4),"
        " DATE '2020-01-01' + x::INTEGER,"
        " CASE WHEN x % 4 = 0 THEN NULL ELSE DATE '1990-05-05' + x::INTEGER END,"
        " NULL, NULL, CASE WHEN x % 5 = 0 THEN NULL ELSE x / 3.0 END"
        " FROM range(2000) r(x)"
    )
    cols = "s, s_some, s_none, i, i_some, b, b_some, d, day, day_some, i_none, day_none, d_some"
    for sql in (
        f"SELECT {cols} FROM t",
        f"SELECT {cols}, CAST(m AS DOUBLE) AS m, CAST(m4 AS DOUBLE) AS m4 FROM t",
        "SELECT s, m FROM t",  # DECIMAL left as it is: read with .df()
        "SELECT s, day > DATE '2021-01-01' AS late, day::TIMESTAMP AS ts FROM t",  # other types
        f"SELECT {cols} FROM t WHERE i < 0",  # no rows
    ):
        _same_frame(_as_dates(con.execute(sql).df()), _as_dates(ex._frame(con, sql)))
    con.close()


def test_read_frame_equals_df_on_both_fixtures(bad_db, tmp_path, monkeypatch):
    """Every suite's frame, whole and sampled, is the one ``.df()`` gave."""
    good = build(tmp_path / "good.duckdb", bad=False)
    for db in (bad_db, good):
        con = duckdb.connect(str(db), read_only=True)
        try:
            for name, spec in ex.SPECS.items():
                if not ex._table_exists(con, name):
                    continue
                rows = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                if not rows:
                    continue
                plan = ex.plan_suite(spec, RUN)
                for max_rows in (ex.MAX_ROWS, 2):  # whole table, and a sample
                    fast, sampled = ex._read_frame(con, spec, plan, rows, max_rows)
                    with monkeypatch.context() as m:
                        m.setattr(ex, "_frame", lambda c, sql: c.execute(sql).df())
                        slow, sampled_too = ex._read_frame(con, spec, plan, rows, max_rows)
                    assert sampled == sampled_too == (max_rows == 2 and rows > 2)
                    _same_frame(slow, fast)
        finally:
            con.close()
