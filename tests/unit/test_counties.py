"""Counties of a multi-county inbox (issue 14, item 1): discovery, configuration,
one county's paths, names that cannot be folders, and the phases of a night."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import CountyNameError, Settings, check_county_name
from department_feeds import FEEDS
from pipelines.sensors import next_phase


def _inbox(root: Path, *folders: str) -> Path:
    for f in folders:
        (root / f).mkdir(parents=True, exist_ok=True)
    return root


def _settings(tmp_path: Path) -> Settings:
    return Settings(tmp_path / "inbox", tmp_path / "out", tmp_path / "w" / "x.duckdb")


@pytest.fixture(autouse=True)
def _no_configured_counties(monkeypatch):
    monkeypatch.delenv("BIDUI_COUNTIES", raising=False)


def test_single_layout_has_no_counties(tmp_path):
    _inbox(tmp_path / "inbox", "register", "hukou", "feedback", "甲县/register")
    assert _settings(tmp_path).counties(FEEDS) == ()
    assert _settings(tmp_path).counties() == ()


def test_counties_are_sub_folders_with_a_feed_folder_sorted(tmp_path):
    _inbox(
        tmp_path / "inbox",
        "乙县/register",
        "甲县/hukou",  # no register yet: still a county (its run says what is missing)
        "_prefecture/hukou",
        ".hidden/register",
        "notes/misc",  # no feed folder: not a county
    )
    (tmp_path / "inbox" / "readme").mkdir()  # only files in it
    assert _settings(tmp_path).counties(FEEDS) == ("乙县", "甲县")
    # without the feed list (core cannot import it), any folder named like a feed counts
    assert _settings(tmp_path).counties() == ("notes", "乙县", "甲县")


def test_one_folder_alone_is_the_feeds_one_level_too_deep(tmp_path, monkeypatch):
    _inbox(tmp_path / "inbox", "2026-11/register", "2026-11/hukou")
    assert _settings(tmp_path).counties(FEEDS) == ()
    monkeypatch.setenv("BIDUI_COUNTIES", "2026-11")
    assert _settings(tmp_path).counties(FEEDS) == ("2026-11",)


def test_configured_counties_win_in_their_order(tmp_path, monkeypatch):
    _inbox(tmp_path / "inbox", "乙县/register", "甲县/register", "丙县/register")
    monkeypatch.setenv("BIDUI_COUNTIES", " 丙县, 甲县 ,丙县")
    assert _settings(tmp_path).counties(FEEDS) == ("丙县", "甲县")
    monkeypatch.setenv("BIDUI_COUNTIES", "甲县,../etc")
    with pytest.raises(CountyNameError):
        _settings(tmp_path).counties(FEEDS)


def test_for_county_paths(tmp_path):
    base = _settings(tmp_path)
    one = base.for_county("甲县")
    assert one.county == "甲县"
    assert one.inbox == tmp_path / "inbox" / "甲县"
    assert one.outbox == tmp_path / "out" / "甲县"
    assert one.warehouse == tmp_path / "w" / "counties" / "甲县.duckdb"
    assert one.prefecture_dir == base.prefecture_dir == tmp_path / "w" / "prefecture"
    assert one.prefecture_outbox == base.prefecture_outbox == tmp_path / "out" / "_prefecture"
    assert base.county is None and one.counties() == ()
    with pytest.raises(ValueError):
        one.for_county("乙县")


@pytest.mark.parametrize(
    "bad", ["", " ", "a/b", "a\\b", "..", "x..y", ".hidden", "_prefecture", "a,b", "a\nb"]
)
def test_names_that_cannot_be_folders_are_refused(bad):
    with pytest.raises(CountyNameError):
        check_county_name(bad)


def test_good_names_pass():
    assert check_county_name(" 城关县 ") == "城关县"
    assert check_county_name("530102") == "530102"


def _run(wave, phase, county, status):
    tags = {"bidui/wave": wave, "bidui/phase": phase}
    if county:
        tags["dagster/partition"] = county
    return tags, status


def test_night_waits_for_every_ingest_then_runs_the_succeeded_counties():
    runs = [
        _run("w1", "ingest", "甲县", "SUCCESS"),
        _run("w1", "ingest", "乙县", "STARTED"),
    ]
    assert next_phase(runs) == {}
    runs[1] = _run("w1", "ingest", "乙县", "FAILURE")
    runs.append(_run("w1", "ingest", "丙县", "SUCCESS"))
    assert next_phase(runs) == {"w1": ["丙县", "甲县"]}


def test_a_reexecuted_county_counts_by_its_latest_run():
    # newest first, as the instance returns them
    runs = [
        _run("w1", "ingest", "乙县", "SUCCESS"),
        _run("w1", "ingest", "乙县", "FAILURE"),
        _run("w1", "ingest", "甲县", "SUCCESS"),
    ]
    assert next_phase(runs) == {"w1": ["乙县", "甲县"]}


def test_prefecture_after_every_night_ended_even_failed_ones():
    runs = [
        _run("w1", "ingest", "甲县", "SUCCESS"),
        _run("w1", "night", "甲县", "FAILURE"),
        _run("w2", "ingest", "甲县", "FAILURE"),  # nothing to compare: report at once
        _run("w3", "ingest", "甲县", "SUCCESS"),
        _run("w3", "night", "甲县", "SUCCESS"),
        _run("w3", "prefecture", None, "SUCCESS"),  # done
        ({"bidui/trigger": "cli"}, "SUCCESS"),  # not a wave
    ]
    assert next_phase(runs) == {"w1": [None], "w2": [None]}


def test_ingest_waits_for_the_split_then_takes_every_county_even_after_a_failed_split():
    from pipelines.sensors import next_phases

    counties = ("甲县", "乙县")
    runs = [_run("w1", "split", None, "STARTED")]
    assert next_phases(runs, counties) == {}
    for status in ("SUCCESS", "FAILURE", "CANCELED"):
        runs = [_run("w1", "split", None, status)]
        assert next_phases(runs, counties) == {"w1": ("ingest", ["甲县", "乙县"])}
    # once the ingest runs exist, the split is behind the wave
    runs = [_run("w1", "ingest", "甲县", "STARTED"), _run("w1", "split", None, "SUCCESS")]
    assert next_phases(runs, counties) == {}
    runs[0] = _run("w1", "ingest", "甲县", "SUCCESS")
    assert next_phases(runs, counties) == {"w1": ("night", ["甲县"])}


def test_a_split_with_no_county_goes_to_the_prefecture_report():
    from pipelines.sensors import next_phases

    runs = [_run("w1", "split", None, "SUCCESS")]
    assert next_phases(runs, ()) == {"w1": ("prefecture", [None])}
    assert next_phase(runs) == {"w1": [None]}


def test_phases_are_named():
    from pipelines.sensors import next_phases

    runs = [
        _run("w1", "ingest", "甲县", "SUCCESS"),
        _run("w2", "ingest", "甲县", "SUCCESS"),
        _run("w2", "night", "甲县", "FAILURE"),
    ]
    assert next_phases(runs) == {"w1": ("night", ["甲县"]), "w2": ("prefecture", [None])}
