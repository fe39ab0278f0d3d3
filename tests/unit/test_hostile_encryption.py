"""Personal data at rest, before a warehouse is opened: the key comes from the
environment or a file (warned about when others can read it), a short key is refused,
and a missing or mismatched httpfs wheel fails clearly. (The encrypted warehouse:
integration/test_hostile_encryption.py; the real nightly job: e2e/.)"""

import pytest

from core.config import KeyConfigError, warehouse_key
from warehouse import connect
from warehouse import connection as wconn
from warehouse.connection import WarehouseKeyError

KEY = "correct horse battery staple 42"


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


# --------------------------------------------------------------------------- key config


def test_key_file_readable_by_others_is_warned_about(tmp_path, monkeypatch, caplog):
    key_file = tmp_path / "loose.key"
    key_file.write_text(KEY)
    key_file.chmod(0o644)
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY_FILE", str(key_file))
    assert warehouse_key() == KEY
    assert warehouse_key() == KEY
    warned = [r.getMessage() for r in caplog.records if "readable by other users" in r.message]
    assert warned == [f"key file {key_file} is readable by other users; chmod 600 it"]
    assert KEY not in caplog.text


def test_key_from_env_or_file_and_too_short_refused(tmp_path, monkeypatch):
    assert warehouse_key() is None
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    assert warehouse_key() == KEY
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", "short")
    with pytest.raises(KeyConfigError, match="5 characters long; use at least 16") as err:
        warehouse_key()
    assert "short" not in str(err.value).replace("5 characters", "")
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", "")
    with pytest.raises(KeyConfigError, match="0 characters"):
        warehouse_key()
    monkeypatch.delenv("BIDUI_WAREHOUSE_KEY")
    key_file = tmp_path / "warehouse.key"
    key_file.write_text(f"  {KEY}\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY_FILE", str(key_file))
    assert warehouse_key() == KEY
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    with pytest.raises(KeyConfigError, match="set only one"):
        warehouse_key()
    monkeypatch.delenv("BIDUI_WAREHOUSE_KEY")
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY_FILE", str(tmp_path / "missing.key"))
    with pytest.raises(KeyConfigError, match="cannot read the key file"):
        warehouse_key()


def test_missing_or_mismatched_httpfs_wheel_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    wh = tmp_path / "w.duckdb"
    monkeypatch.setattr(wconn, "_HTTPFS_PACKAGE", "no_such_httpfs_package")
    with pytest.raises(WarehouseKeyError, match=r"install duckdb-extension-httpfs==1\.5\.5"):
        connect(wh)
    monkeypatch.undo()
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    monkeypatch.setattr(wconn.duckdb, "__version__", "1.5.6")
    with pytest.raises(WarehouseKeyError, match="does not match DuckDB 1.5.6"):
        connect(wh)
    assert not wh.exists()  # nothing was written, encrypted or not
