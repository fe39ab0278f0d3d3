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
