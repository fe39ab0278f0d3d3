"""Unit tests stay pure: a test that opens a DuckDB database or starts a process
fails here, saying where it belongs (tests/integration or tests/e2e)."""

import subprocess

import duckdb
import pytest


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(
            f"a unit test may not use {what}: move it to tests/integration or tests/e2e"
        )

    return refuse


@pytest.fixture(autouse=True)
def _no_warehouse_no_subprocess():
    # Its own MonkeyPatch: a test's monkeypatch.undo() must not lift the guard.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(duckdb, "connect", _refuse("DuckDB"))
        mp.setattr(subprocess, "Popen", _refuse("a subprocess"))
        yield
