"""Personal data at rest after the real nightly job: with a key configured the
warehouse (file, WAL, temp files) holds no plaintext ID number; a plaintext warehouse
is converted by ``bidui warehouse encrypt`` and re-keyed by ``bidui warehouse rekey``
with every row kept."""

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest
from python_calamine import CalamineWorkbook

from pipelines.cli import main as bidui_main
from pipelines.cli import run_pipeline
from tests.conftest import copy_inbox
from tests.e2e.conftest import generate_county
from warehouse import connect
from warehouse import connection as wconn
from warehouse.connection import WarehouseKeyError

KEY = "correct horse battery staple 42"
OTHER_KEY = "a different key, also long enough"
NIGHT = date(2026, 11, 20)
ID_RE = re.compile(r"\b\d{17}[\dXx]\b")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for var in (
        "BIDUI_WAREHOUSE_KEY",
        "BIDUI_WAREHOUSE_KEY_FILE",
        "BIDUI_WAREHOUSE_OLD_KEY",
        "BIDUI_WAREHOUSE_OLD_KEY_FILE",
        "BIDUI_WORKBOOK_PASSWORDS",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("county")
    generate_county(out, households=150, seed=7)
    return out


def register_ids(inbox: Path) -> set[str]:
    """Every ID number in the register files, read from the xlsx (not the warehouse)."""
    ids = set()
    for path in (inbox / "register").iterdir():
        wb = CalamineWorkbook.from_path(str(path))
        for name in wb.sheet_names:
            for row in wb.get_sheet_by_name(name).to_python():
                for cell in row:
                    ids.update(ID_RE.findall(str(cell)))
    return ids


def warehouse_bytes(wh: Path) -> bytes:
    """The warehouse file and everything DuckDB keeps beside it (WAL, temp files)."""
    parts = [p for p in wh.parent.glob(wh.name + "*") if p.is_file()]
    parts += [p for p in wh.parent.glob(wh.name + ".tmp/*") if p.is_file()]
    return b"".join(p.read_bytes() for p in sorted(parts))


def plaintext_ids(blob: bytes, ids: set[str]) -> list[str]:
    return sorted(i for i in ids if i.encode() in blob)


def nightly(county: Path, tmp_path: Path, name: str = "warehouse.duckdb") -> Path:
    inbox = copy_inbox(county, tmp_path / "inbox")
    wh = tmp_path / name
    ok, info = run_pipeline(inbox, tmp_path / "outbox", wh, NIGHT)
    assert ok, info
    return wh


# --------------------------------------------------------------------------- nightly run


@pytest.mark.slow
def test_nightly_run_with_key_leaves_no_plaintext_id(county, tmp_path, dagster_home, monkeypatch):
    ids = register_ids(county / "inbox")
    assert len(ids) > 400

    # Control: without a key the same run leaves ID numbers readable in the file,
    # so the grep below would see them if encryption were off.
    plain = nightly(county, tmp_path / "plain")
    assert plaintext_ids(warehouse_bytes(plain), ids)

    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    wh = nightly(county, tmp_path / "enc")
    assert (tmp_path / "enc" / "outbox" / NIGHT.isoformat() / "problems.csv").is_file()
    assert plaintext_ids(warehouse_bytes(wh), ids) == []
    # A second night on the encrypted warehouse works too.
    ok, info = run_pipeline(
        tmp_path / "enc" / "inbox", tmp_path / "enc" / "outbox", wh, date(2026, 11, 21)
    )
    assert ok, info
    assert plaintext_ids(warehouse_bytes(wh), ids) == []
    with connect(wh, read_only=True) as con:
        assert con.sql("SELECT count(*) FROM register").fetchone()[0] > 400
        assert wconn.database_path(con) == str(wh.resolve())
    # `bidui waive` opens the warehouse through the same function.
    assert bidui_main(["waive", "list", "--warehouse", str(wh)]) == 0

    # Reopening: without the key, with a wrong key, and plain duckdb.
    monkeypatch.delenv("BIDUI_WAREHOUSE_KEY")
    with pytest.raises(WarehouseKeyError, match="is encrypted, but no key is configured"):
        connect(wh)
    ok, info = run_pipeline(tmp_path / "enc" / "inbox", tmp_path / "o2", wh, NIGHT)
    assert not ok and "no key is configured" in info
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", OTHER_KEY)
    with pytest.raises(WarehouseKeyError, match="wrong key for the encrypted warehouse"):
        connect(wh, read_only=True)
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(wh)).sql("SELECT count(*) FROM register").fetchall()


# --------------------------------------------------------------------------- encrypt / rekey


@pytest.mark.slow
def test_encrypt_then_rekey_keep_every_row(county, tmp_path, dagster_home, monkeypatch, capsys):
    ids = register_ids(county / "inbox")
    wh = nightly(county, tmp_path)
    with connect(wh, read_only=True) as con:
        tables = [
            t
            for (t,) in con.sql(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        ]
        before = {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        secret = con.sql("SELECT value FROM bidui_secrets").fetchall()
    assert before["register"] > 400 and len(tables) > 10
    (tmp_path / "outbox").rename(tmp_path / "outbox-plain")

    # encrypt needs a key
    assert bidui_main(["warehouse", "encrypt", "--warehouse", str(wh)]) == 1
    assert "no key configured" in capsys.readouterr().err

    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    assert bidui_main(["warehouse", "encrypt", "--warehouse", str(wh)]) == 0
    out = capsys.readouterr().out
    assert f"encrypted {wh}" in out and "still readable" in out
    # no plaintext copy, WAL or half-written file left beside it: lock files aside, and
    # the sensor's inbox manifest, which holds paths and hashes only
    manifest = tmp_path / "warehouse.duckdb.inbox-manifest.json"
    assert plaintext_ids(manifest.read_bytes(), ids) == []
    left = [
        p.name
        for p in tmp_path.glob("warehouse.duckdb*")
        if not p.name.endswith(".lock") and p != manifest
    ]
    assert left == ["warehouse.duckdb"]
    assert plaintext_ids(warehouse_bytes(wh), ids) == []
    with connect(wh, read_only=True) as con:
        after = {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        assert con.sql("SELECT value FROM bidui_secrets").fetchall() == secret
    assert after == before

    # encrypting twice is refused with a clear message
    assert bidui_main(["warehouse", "encrypt", "--warehouse", str(wh)]) == 1
    assert "already encrypted" in capsys.readouterr().err

    # the next night runs on the converted warehouse
    ok, info = run_pipeline(tmp_path / "inbox", tmp_path / "outbox", wh, date(2026, 11, 21))
    assert ok, info

    with connect(wh, read_only=True) as con:
        before = {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}

    # rekey: needs the old key, refuses a wrong one, then works
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", OTHER_KEY)
    assert bidui_main(["warehouse", "rekey", "--warehouse", str(wh)]) == 1
    assert "BIDUI_WAREHOUSE_OLD_KEY" in capsys.readouterr().err
    monkeypatch.setenv("BIDUI_WAREHOUSE_OLD_KEY", "not the key it was encrypted with")
    assert bidui_main(["warehouse", "rekey", "--warehouse", str(wh)]) == 1
    assert "wrong key" in capsys.readouterr().err
    monkeypatch.setenv("BIDUI_WAREHOUSE_OLD_KEY", KEY)
    assert bidui_main(["warehouse", "rekey", "--warehouse", str(wh)]) == 0
    assert "re-keyed" in capsys.readouterr().out
    with connect(wh, read_only=True) as con:
        assert {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables} == before
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    with pytest.raises(WarehouseKeyError, match="wrong key"):
        connect(wh)
    assert plaintext_ids(warehouse_bytes(wh), ids) == []
