"""Atomic publishing: a run's outbox folder is there completely or not at all."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import publishing.workbooks as workbooks
from publishing.outbox import publish_run, recover
from tests.conftest import PROJECT_ROOT
from tests.helpers_problem_lists import DUE_DAYS, RUN_DATE, TOWNSHIPS, build_warehouse

DAY = RUN_DATE.isoformat()


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def con(tmp_path):
    c = build_warehouse(tmp_path / "w.duckdb")
    yield c
    c.close()


def test_success_publishes_the_whole_set_and_leaves_nothing_else(con, tmp_path):
    outbox = tmp_path / "outbox"
    with publish_run(outbox, RUN_DATE) as folder:
        assert folder.parent == outbox and folder.name.startswith(f".{DAY}.tmp-")
        infos = workbooks.write_township_workbooks(con, RUN_DATE, folder, DUE_DAYS)
        (folder / "problems.csv").write_text("problem_id\n", encoding="utf-8-sig")
        assert not (outbox / DAY).exists()  # nothing visible while writing
    assert sorted(p.name for p in outbox.iterdir()) == [DAY]  # no temp folder left
    files = tree(outbox / DAY)
    assert len(files) == len(TOWNSHIPS) + 1 == len(infos) + 1


def test_failure_midway_leaves_no_partial_folder_and_keeps_the_good_one(con, tmp_path, monkeypatch):
    outbox = tmp_path / "outbox"
    with publish_run(outbox, RUN_DATE) as folder:
        workbooks.write_township_workbooks(con, RUN_DATE, folder, DUE_DAYS)
    good = tree(outbox / DAY)

    real = workbooks._write_one
    written = []

    def flaky(*args, **kwargs):
        if len(written) == 3:
            raise OSError("disk full")  # fails after three townships
        written.append(real(*args, **kwargs))
        return written[-1]

    monkeypatch.setattr(workbooks, "_write_one", flaky)
    con.execute("UPDATE findings SET description = description || '（新）'")
    with pytest.raises(OSError, match="disk full"), publish_run(outbox, RUN_DATE) as folder:
        workbooks.write_township_workbooks(con, RUN_DATE, folder, DUE_DAYS)
    assert len(written) == 3 and all(not i.path.exists() for i in written)
    assert sorted(p.name for p in outbox.iterdir()) == [DAY]
    assert tree(outbox / DAY) == good  # the earlier set, byte for byte

    # A first-ever run that fails publishes nothing at all.
    written.clear()
    other = tmp_path / "outbox2"
    with pytest.raises(OSError), publish_run(other, RUN_DATE) as folder:
        workbooks.write_township_workbooks(con, RUN_DATE, folder, DUE_DAYS)
    assert list(other.iterdir()) == []


def test_rerun_of_the_same_date_replaces_the_folder_whole(con, tmp_path):
    outbox = tmp_path / "outbox"
    with publish_run(outbox, RUN_DATE) as folder:
        (folder / "a.txt").write_text("first")
        (folder / "only-in-first.txt").write_text("x")
    with publish_run(outbox, RUN_DATE) as folder:
        (folder / "a.txt").write_text("second")
    assert tree(outbox / DAY) == {"a.txt": b"second"}  # not a merge of both
    assert sorted(p.name for p in outbox.iterdir()) == [DAY]


def test_killed_process_leaves_only_a_hidden_temp_folder_which_recover_removes(con, tmp_path):
    """kill -9 halfway through writing the workbooks (no Python cleanup runs)."""
    outbox = tmp_path / "outbox"
    db = tmp_path / "w.duckdb"
    con.close()
    script = textwrap.dedent(
        f"""
        import os, duckdb
        from datetime import date
        import publishing.workbooks as wb
        from publishing.outbox import publish_run
        real = wb._write_one
        n = []
        def dying(*a, **k):
            if len(n) == 2:
                os._exit(9)  # like kill -9: no finally, no context manager exit
            n.append(real(*a, **k))
            return n[-1]
        wb._write_one = dying
        con = duckdb.connect({str(db)!r})
        with publish_run({str(outbox)!r}, date.fromisoformat({DAY!r})) as folder:
            wb.write_township_workbooks(con, date.fromisoformat({DAY!r}), folder, {DUE_DAYS!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True)
    assert proc.returncode == 9, proc.stderr.decode()
    left = list(outbox.iterdir())
    assert [p.name.startswith(f".{DAY}.tmp-") for p in left] == [True]  # hidden, never <date>
    assert len(list(left[0].rglob("*.xlsx"))) == 2
    assert recover(outbox, stale_after_s=3600) == []  # might be a run in progress
    os.utime(left[0], (0, 0))  # an old one is not
    assert recover(outbox, stale_after_s=3600) == left
    assert list(outbox.iterdir()) == []
