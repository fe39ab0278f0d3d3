"""A generated prefecture through one `bidui run`: every county its own lists, the
cross-county findings exactly as planted, on both counties' lists for a person
registered twice, and the prefecture report beside them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from demo import generate_prefecture
from pipelines.cli import main as bidui_main


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_prefecture_night_cross_county_findings_match_truth(tmp_path, dagster_home):
    result = generate_prefecture(tmp_path / "gen", counties=2, households=250, seed=3, jobs=1)
    out, day = tmp_path / "out", "2026-01-20"
    code = bidui_main(
        [
            "run",
            "--inbox",
            str(tmp_path / "gen" / "inbox"),
            "--outbox",
            str(out),
            "--warehouse",
            str(tmp_path / "w" / "p.duckdb"),
            "--run-date",
            day,
        ]
    )
    assert code == 0
    truth = _rows(tmp_path / "gen" / "truth_cross_county.csv")
    expected = {(t["rule_code"], t["county"], t["id_number"]) for t in truth}
    found = set()
    for county in result.names:
        folder = out / county / day
        assert list(folder.glob("*/问题清单_*.xlsx")), county  # its own lists
        for r in _rows(folder / "problems.csv"):
            assert r["county"] in (county, ""), r  # nothing of another county's list
            if r["rule_code"].endswith("_cross_county"):
                found.add((r["rule_code"], county, r["id_number"]))
    assert found == expected
    twice = [t for t in truth if t["rule_code"] == "id_duplicate_cross_county"]
    assert {t["county"] for t in twice} == set(result.names)  # on both counties' lists
    report = out / "_prefecture" / day / "report.html"
    assert report.exists()
    html = report.read_text(encoding="utf-8")
    assert all(name in html for name in result.names)
