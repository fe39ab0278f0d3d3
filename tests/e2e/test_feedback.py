"""Returned problem lists saved by LibreOffice (as ods and as xlsx) are read like Excel's."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from rectification.feedback import load_feedback
from tests.helpers_problem_lists import ANSWER, LOADED, fill_workbook, first_ids, marked_lists
from tests.office import soffice_convert, soffice_or_skip


@pytest.fixture
def wh(tmp_path):
    """Two townships' warehouse, their marked lists, and an empty feedback folder."""
    con, infos, folder = marked_lists(tmp_path)
    yield con, infos, folder
    con.close()


@pytest.mark.libreoffice
def test_workbook_saved_by_libreoffice_as_ods_and_xlsx(wh, tmp_path):
    soffice = soffice_or_skip()
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b = first_ids(src, 2)
    filled = tmp_path / "filled" / "lo.xlsx"
    fill_workbook(src, filled, {a: ANSWER, b: {**ANSWER, "核实结果": "不属实", "整改说明": "误报"}})
    for fmt in ("ods", "xlsx"):
        out = tmp_path / fmt
        soffice_convert(soffice, [filled], fmt, out, tmp_path / "profile", timeout=180)
        shutil.copy(out / f"lo.{fmt}", folder / f"经LibreOffice保存.{fmt}")
    res = load_feedback(con, folder, loaded_at=LOADED)
    # The second file read holds the same answers as the first: recognised as
    # unchanged (issue 13), which also proves the values survive both round trips.
    assert (res.files_read, res.accepted, res.rejected, res.unchanged) == (2, 2, 0, 2)
    assert res.edits_ignored == 0  # dates, ids and text survive the round trip
    got = con.execute(
        "SELECT source_file, problem_id, verification, verified_on FROM feedback_responses "
        "ORDER BY 1, 2"
    ).fetchall()
    assert {(p, v, d) for _, p, v, d in got} == {
        (a, "属实", date(2024, 6, 15)),
        (b, "不属实", date(2024, 6, 15)),
    }
