"""The run's inbox manifest (warehouse/manifest.py) beside the warehouse holds paths
and hashes only, and an unreadable one means an empty baseline (issue 13 item 2)."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.manifest import manifest_path, read_manifest, write_manifest


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_manifest_is_paths_and_hashes_only_and_unreadable_means_empty(tmp_path):
    wh = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE TABLE loads (source_file VARCHAR, checksum VARCHAR, feed VARCHAR)")
    con.execute(
        "INSERT INTO loads VALUES ('tax/t.csv', ?, 'tax'), ('tax/big.csv', '', 'tax')",
        [_sha(b"tax")],
    )
    path = write_manifest(con, wh)
    # A manifest that cannot be written costs the sensor one extra run, not the night.
    assert write_manifest(con, tmp_path / "no such folder" / "w.duckdb") is None
    con.close()
    assert path == manifest_path(wh) == tmp_path / "w.duckdb.inbox-manifest.json"
    assert read_manifest(wh) == {"tax/t.csv": _sha(b"tax")}  # no checksum: left out
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []
    path.write_text("{not json", encoding="utf-8")
    assert read_manifest(wh) == {}
    assert read_manifest(tmp_path / "none.duckdb") == {}


@pytest.fixture(autouse=True)
def _instance_env(monkeypatch):
    # The sensor reads its settings from the environment: nothing of the shell's.
    for name in ("BIDUI_INBOX", "BIDUI_WAREHOUSE", "BIDUI_OUTBOX"):
        monkeypatch.delenv(name, raising=False)
