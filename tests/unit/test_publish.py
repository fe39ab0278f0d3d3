"""Atomic publishing on folders alone: promote and recover put the good folder back
after a failure or a crash, and accept Dagster's staging layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from publishing.outbox import promote, recover
from tests.helpers_problem_lists import RUN_DATE

DAY = RUN_DATE.isoformat()


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_promote_from_the_dagster_staging_layout(tmp_path):
    """assets/outputs.py stages in <outbox>/.staging/<run id>[/<date>] and promotes."""
    outbox = tmp_path / "outbox"
    for staging in (
        outbox / ".staging" / "run-1" / DAY,
        outbox / ".staging" / "run-2",
    ):
        (staging / "东风镇").mkdir(parents=True)
        (staging / "东风镇" / "问题清单.xlsx").write_bytes(staging.name.encode())
        promote(staging, outbox / DAY)
        assert not staging.exists()
        assert tree(outbox / DAY) == {"东风镇/问题清单.xlsx": staging.name.encode()}
    assert sorted(p.name for p in outbox.iterdir()) == [".staging", DAY]


def test_failed_promote_puts_the_good_folder_back(tmp_path):
    outbox = tmp_path / "outbox"
    (outbox / DAY).mkdir(parents=True)
    (outbox / DAY / "good.txt").write_text("good")
    with pytest.raises(FileNotFoundError):
        promote(outbox / ".staging" / "vanished", outbox / DAY)
    assert tree(outbox / DAY) == {"good.txt": b"good"}
    assert sorted(p.name for p in outbox.iterdir()) == [DAY]


def test_recover_restores_a_folder_renamed_aside_by_a_crash(tmp_path):
    outbox = tmp_path / "outbox"
    aside = outbox / f".{DAY}.old-0badc0de"
    aside.mkdir(parents=True)
    (aside / "good.txt").write_text("good")
    assert recover(outbox) == [aside]
    assert tree(outbox / DAY) == {"good.txt": b"good"}
    # With the new folder in place, an old one is just deleted.
    aside.mkdir()
    assert recover(outbox) == [aside]
    assert sorted(p.name for p in outbox.iterdir()) == [DAY]
