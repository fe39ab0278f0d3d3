"""Great Expectations suites per feed (checks.expectations) on a real DuckDB file.

Good data passes; bad data fails with samples whose ID numbers are masked; per-feed
calls into one folder make one offline Data Docs site whose index links every
suite and validation; nothing in the site holds a full ID number or a remote URL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from checks.expectations import (
    STORE_DIR,
    VENDOR_DIR,
    VENDORED,
    load_validations,
    validate_feed,
    validate_feeds,
)
from core.idcard import mask
from department_feeds import SPECS
from tests.conftest import PROJECT_ROOT
from tests.expectations_fixtures import build, make_id

RUN = dt.date(2025, 11, 15)
ROOT = PROJECT_ROOT
ID_RE = re.compile(r"(?<![0-9.])[0-9]{17}[0-9Xx](?![0-9])")
REMOTE_RE = re.compile(r"https?://", re.I)


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("good") / "w.duckdb", bad=False)


@pytest.fixture(scope="module")
def bad_db(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("bad") / "w.duckdb", bad=True)


@pytest.fixture(scope="module")
def bad_site(bad_db, tmp_path_factory):
    """The bad warehouse validated feed by feed into one site (as the asset checks do)."""
    site = tmp_path_factory.mktemp("site") / "data_docs"
    con = duckdb.connect(str(bad_db), read_only=True)
    try:
        results = {f: validate_feed(con, f, RUN, site) for f in ("register", "vehicles", "tax")}
    finally:
        con.close()
    return site, results


def _site_files(site: Path):
    return [p for p in site.rglob("*") if p.is_file() and p.name != "lock"]


def test_good_data_passes_and_empty_feeds_are_not_passed(good_db, tmp_path):
    con = duckdb.connect(str(good_db), read_only=True)
    try:
        results = validate_feeds(con, RUN, tmp_path / "docs")
    finally:
        con.close()
    assert list(results) == list(SPECS)
    for feed in ("register", "vehicles"):
        v = results[feed]
        assert v.validated and v.passed, [r for r in v.failed]
        assert v.rows == v.rows_validated == (8 if feed == "register" else 3)
        assert v.statistics["evaluated_expectations"] == len(v.results) > 3
        meta = v.to_metadata()
        json.dumps(meta)  # plain JSON for Dagster metadata
        assert meta["unsuccessful_expectations"] == 0 and meta["docs_page"]
    tax = results["tax"]
    assert not tax.validated and not tax.passed and tax.success is None
    assert "0 行" in tax.reason


def test_bad_data_fails_with_masked_samples(bad_site):
    _, results = bad_site
    reg = results["register"]
    assert reg.validated and not reg.passed
    failed = {(r.expectation_type, r.column): r for r in reg.failed}
    dup = failed[("expect_compound_columns_to_be_unique", "year, household_id, id_number")]
    assert dup.unexpected_count == 2
    assert any(mask(make_id(0)) in s for s in dup.unexpected_sample)
    assert failed[("expect_column_values_to_not_be_null", "name")].unexpected_count == 1
    assert "不详" in failed[("expect_column_values_to_be_in_set", "gender")].unexpected_sample
    fmt = failed[("expect_column_values_to_match_regex", "id_number")]
    assert fmt.unexpected_count == 1
    assert fmt.unexpected_sample == (mask(make_id(21)[:17]),)
    assert failed[("expect_column_values_to_be_between", "work_months")].unexpected_count == 1
    veh = results["vehicles"]
    vfailed = {(r.expectation_type, r.column): r for r in veh.failed}
    assert vfailed[("expect_column_values_to_be_unique", "plate")].unexpected_count == 2
    assert (
        "飞走" in vfailed[("expect_column_values_to_be_in_set", "vehicle_status")].unexpected_sample
    )
    assert vfailed[
        ("expect_column_values_to_be_between", "first_registered_on")
    ].unexpected_sample == ("2030-01-01",)
    # nothing handed to Dagster holds a full ID number
    for v in results.values():
        assert not ID_RE.search(json.dumps(v.to_metadata(), ensure_ascii=False, default=str))


def test_data_docs_one_site_index_links_every_suite(bad_site):
    site, results = bad_site
    index = (site / "index.html").read_text(encoding="utf-8")
    for feed in ("register", "vehicles"):
        assert (site / "expectations" / f"{feed}.html").is_file()
        assert f"expectations/{feed}.html" in index
        page = results[feed].docs_page
        assert page and (site / page).is_file() and page in index
    # tax had no rows: no page, not in the index
    assert "expectations/tax.html" not in index and results["tax"].docs_page is None
    assert (site / "static" / "bidui" / "bidui.css").is_file()
    pages = list(site.rglob("*.html"))
    assert len(pages) == 5  # index + 2 suites + 2 validations
    for p in pages:
        html = p.read_text(encoding="utf-8")
        assert html.count("static/bidui/bidui.css") == 1, p  # rewritten once
        assert html.count("jquery-3.7.1/jquery.min.js") == 1, p


def test_data_docs_offline_and_masked(bad_site):
    site, _ = bad_site
    vendored = site / "static" / "bidui"
    text_files = [
        p
        for p in _site_files(site)
        if p.suffix in (".html", ".css", ".js", ".json") and vendored not in p.parents
    ]
    assert any(p.parent.name == STORE_DIR for p in text_files)
    for p in text_files:
        text = p.read_text(encoding="utf-8")
        assert not ID_RE.search(text), (p, ID_RE.search(text))
        if p.suffix != ".json":
            assert not REMOTE_RE.search(text), (p, REMOTE_RE.search(text))
    page = (site / "validations").rglob("*register*.html")
    html = next(page).read_text(encoding="utf-8")
    assert mask(make_id(0)) in html  # the duplicate's sample, masked, is on the page
    assert "不详" in html


_REF_RE = re.compile(r"""\b(?:href|src)=["']([^"'#]+)["']""", re.I)
_CSS_URL_RE = re.compile(r"""url\(\s*["']?([^"')]+?)["']?\s*\)""")
# Font Awesome's all.min.css also names the brands/v4 fonts and .ttf fallbacks:
# the pages use solid/regular icons only and browsers load the woff2.
_FONTS_NOT_SHIPPED = re.compile(r"webfonts/(fa-brands-400|fa-v4compatibility|.*\.ttf$)")


def test_data_docs_reference_only_vendored_local_files(bad_site):
    """Every page points at files that exist in the site (no http(s) URL left), the
    vendored copies are the package's files unchanged, and every url() in them
    resolves (bar the fonts deliberately not shipped)."""

    site, _ = bad_site
    referenced: set[Path] = set()
    for page in site.rglob("*.html"):
        for ref in _REF_RE.findall(page.read_text(encoding="utf-8")):
            assert not REMOTE_RE.match(ref), (page, ref)
            target = (page.parent / ref).resolve()
            assert target.is_file(), (page, ref)
            referenced.add(target)
    vendored = (site / "static" / "bidui").resolve()
    assert {vendored / f for f in VENDORED.values()} <= referenced
    for src in VENDOR_DIR.rglob("*"):
        if src.is_file():
            copy = vendored / src.relative_to(VENDOR_DIR)
            assert copy.read_bytes() == src.read_bytes(), copy
    for sheet in vendored.rglob("*.css"):
        for url in _CSS_URL_RE.findall(sheet.read_text(encoding="utf-8")):
            if url.startswith("data:") or _FONTS_NOT_SHIPPED.search(url):
                continue
            assert not REMOTE_RE.match(url), (sheet, url)
            assert (sheet.parent / url).is_file(), (sheet, url)
    licences = {p.parent.name for p in VENDOR_DIR.rglob("LICENSE*")}
    assert {"jquery-3.7.1", "bootstrap-4.3.1", "bootstrap-table-1.19.1"} <= licences
    assert "fontawesome-free-6.6.0" in licences


def test_per_feed_call_again_replaces_its_result(bad_db, bad_site):
    site, first = bad_site
    con = duckdb.connect(str(bad_db), read_only=True)
    try:
        again = validate_feed(con, "vehicles", RUN, site)
    finally:
        con.close()
    assert again.docs_page == first["vehicles"].docs_page
    assert len(list((site / "validations" / "vehicles").rglob("*.html"))) == 1
    kept = load_validations(site)
    assert list(kept) == ["register", "vehicles"]
    assert kept["register"].results == first["register"].results
    assert kept["vehicles"].failed == again.failed
    index = (site / "index.html").read_text(encoding="utf-8")
    assert first["register"].docs_page in index


def test_another_run_date_starts_a_new_site(good_db, tmp_path):
    site = tmp_path / "docs"
    con = duckdb.connect(str(good_db), read_only=True)
    try:
        validate_feed(con, "register", RUN, site)
        validate_feed(con, "vehicles", RUN + dt.timedelta(days=1), site)
    finally:
        con.close()
    assert list(load_validations(site)) == ["vehicles"]
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "expectations/register.html" not in index and "expectations/vehicles.html" in index


def test_refuses_a_folder_that_is_not_data_docs(good_db, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    con = duckdb.connect(str(good_db), read_only=True)
    try:
        with pytest.raises(FileExistsError):
            validate_feed(con, "register", RUN, folder)
        with pytest.raises(FileExistsError):
            validate_feeds(con, RUN, folder, feeds=["register"])
        with pytest.raises(KeyError, match="unknown feed"):
            validate_feed(con, "nope", RUN, tmp_path / "docs")
    finally:
        con.close()
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_parallel_processes_build_one_site(bad_db, tmp_path):
    """Dagster may run the per-feed checks in parallel processes: the lock keeps one site."""
    site = tmp_path / "docs"
    code = (
        "import sys, datetime as dt, duckdb\n"
        "from checks.expectations import validate_feed\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "v = validate_feed(con, sys.argv[2], dt.date(2025, 11, 15), sys.argv[3])\n"
        "print(v.docs_page)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(bad_db), feed, str(site)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for feed in ("register", "vehicles")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    # GX stays quiet: no progress bars or warnings on stderr
    assert all(not o[1].strip() for o in outs), [o[1][-2000:] for o in outs]
    index = (site / "index.html").read_text(encoding="utf-8")
    for (out, _), feed in zip(outs, ("register", "vehicles"), strict=True):
        page = out.strip().splitlines()[-1]
        assert page in index and (site / page).is_file(), feed
    assert list(load_validations(site)) == ["register", "vehicles"]
