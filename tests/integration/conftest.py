"""Fixtures of the integration tests: an empty inbox and a fresh warehouse per test."""

from pathlib import Path

import pytest

from warehouse import connect


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An empty inbox folder of the test's own."""
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def con(tmp_path: Path):
    """A fresh warehouse file of the test's own (every table created)."""
    c = connect(tmp_path / "wh" / "warehouse.duckdb")
    yield c
    c.close()
