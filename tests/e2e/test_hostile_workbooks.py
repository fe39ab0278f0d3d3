"""Hostile township workbooks (issue 9) in LibreOffice: it opens them, keeps formula
payloads as text on every sheet, and a list saved again keeps its signed marker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import python_calamine

from publishing.workbooks import HEADERS, SUMMARY_SHEET, write_township_workbooks
from rectification.authority import MARKER_SHEET, Marker, read_marker, signing_key
from tests.helpers_problem_lists import (
    COUNTY,
    DUE_DAYS,
    FORMULAS,
    RUN_DATE,
    TOWNSHIPS,
    build_warehouse,
    formula_parts,
)
from tests.office import soffice_convert, soffice_or_skip

# ------------------------------------------------------------------------------ helpers


def rename(con, old: str, township: str | None, county: str | None = COUNTY) -> None:
    """Give township ``old`` of the test warehouse another (county, township)."""
    con.execute(
        "UPDATE findings SET township = ?, county = ? WHERE township = ?", [township, county, old]
    )
    con.execute("UPDATE finding_history SET township = ? WHERE township = ?", [township, old])


def calamine_sheets(path: Path) -> dict[str, list[list]]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {n: book.get_sheet_by_name(n).to_python(skip_empty_area=False) for n in book.sheet_names}


@pytest.mark.libreoffice
def test_libreoffice_opens_hostile_workbooks(tmp_path):
    soffice = soffice_or_skip()
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:2])
    rename(con, TOWNSHIPS[0], "=1+2乡\x07")
    con.execute(
        "UPDATE findings SET name = ?, description = ?, village = ? WHERE township = ?",
        [FORMULAS[1], "描" * 40_000, SUMMARY_SHEET, "=1+2乡\x07"],
    )
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    proc = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--norestore",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1",  # UTF-8, first (active) sheet
            "--outdir",
            str(tmp_path / "csv"),
            *(str(i.path) for i in infos),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for info in infos:
        out = tmp_path / "csv" / (info.path.stem + ".csv")
        assert out.is_file(), (proc.stdout, proc.stderr)
        # The active (first) sheet is 汇总, not the hidden marker; payloads stay text.
        text = out.read_text(encoding="utf-8")
        assert "问题清单汇总" in text and MARKER_SHEET not in text
        if info.township.startswith("="):
            assert "=1+2乡\ufffd 问题清单汇总" in text
    con.close()


@pytest.mark.libreoffice
def test_libreoffice_keeps_payloads_as_text_on_every_sheet(tmp_path):
    """LibreOffice reads every sheet; a payload shows as its text, never its result."""
    soffice = soffice_or_skip()
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    con.execute(
        "UPDATE findings SET name = ?, evidence = ?, head_name = ?",
        ["=1+2", "@SUM(1,2)", "＝3+4"],
    )
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    # UTF-8, formulas' results (not their text), every sheet (LibreOffice >= 7.2)
    soffice_convert(
        soffice,
        [info.path],
        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
        tmp_path / "csv",
        tmp_path / "profile",
        timeout=300,
    )
    sheets = {p.stem.removeprefix(info.path.stem + "-"): p for p in (tmp_path / "csv").iterdir()}
    if set(sheets) == {info.path.stem}:
        pytest.skip("this LibreOffice exports only the first sheet to CSV")
    for title in info.sheets[1:]:
        rows = sheets[title].read_text(encoding="utf-8").splitlines()
        assert rows[0].split(",") == list(HEADERS)
        for row in rows[1:]:
            assert ",=1+2," in row and '"@SUM(1,2)"' in row and ",＝3+4," in row, row
    con.close()


@pytest.mark.libreoffice
def test_saved_again_by_libreoffice_keeps_marker_and_text(tmp_path):
    """A township opens and saves its list in LibreOffice: the marker survives (hidden;
    LibreOffice has no very-hidden) and payloads are still text, not formulas."""
    soffice = soffice_or_skip()
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    con.execute("UPDATE findings SET name = ?, evidence = ?", ["=1+2", FORMULAS[1]])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    soffice_convert(
        soffice, [info.path], "xlsx", tmp_path / "saved", tmp_path / "profile", timeout=300
    )
    saved = tmp_path / "saved" / info.path.name
    assert formula_parts(saved) == []
    book = python_calamine.CalamineWorkbook.from_path(str(saved))
    states = {m.name: str(m.visible) for m in book.sheets_metadata}
    assert states[MARKER_SHEET] != str(python_calamine.SheetVisibleEnum.Visible)
    marker = read_marker(signing_key(con), calamine_sheets(saved)[MARKER_SHEET][0][0])
    assert marker == Marker(COUNTY, TOWNSHIPS[0], RUN_DATE)
    values = {v for rows in calamine_sheets(saved).values() for r in rows for v in r}
    assert {"=1+2", FORMULAS[1]} <= values
    con.close()
