"""Township problem lists open in LibreOffice: every workbook converts."""

from __future__ import annotations

import pytest

from publishing.workbooks import write_township_workbooks
from tests.helpers_problem_lists import DUE_DAYS, RUN_DATE, build_warehouse
from tests.office import soffice_convert, soffice_or_skip


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    """The nine-township warehouse and its workbooks, written once for the module."""
    root = tmp_path_factory.mktemp("lists")
    con = build_warehouse(root / "w.duckdb")
    infos = write_township_workbooks(con, RUN_DATE, root / "out", DUE_DAYS)
    yield con, infos, root / "out"
    con.close()


# --------------------------------------------------------------------------- LibreOffice


@pytest.mark.libreoffice
def test_libreoffice_converts_every_workbook(lists, tmp_path):
    soffice = soffice_or_skip()
    _, infos, _ = lists
    profile = tmp_path / "profile"  # private profile: no clash with another soffice
    proc = soffice_convert(
        soffice, [*(str(i.path) for i in infos)], "pdf", tmp_path / "pdf", profile, timeout=300
    )
    for info in infos:
        pdf = tmp_path / "pdf" / (info.path.stem + ".pdf")
        assert pdf.is_file() and pdf.stat().st_size > 1000, (pdf, proc.stdout, proc.stderr)
        assert pdf.read_bytes().startswith(b"%PDF")
