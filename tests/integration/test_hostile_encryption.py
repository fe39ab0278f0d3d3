"""Personal data at rest in a real DuckDB file: with a key, the file, WAL and temp files
hold no plaintext; it does not open without the key or with a wrong one; a plaintext
warehouse is converted by ``bidui warehouse encrypt`` (even with a pending WAL or
another process holding it open) and ``rekey`` points there; DuckDB's insecure
crypto mode is never used."""

import contextlib
import re
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main as bidui_main
from tests.conftest import PROJECT_ROOT
from warehouse import connect
from warehouse import connection as wconn
from warehouse.connection import WarehouseKeyError, WarehouseLockedError

KEY = "correct horse battery staple 42"
OTHER_KEY = "a different key, also long enough"


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


def warehouse_bytes(wh: Path) -> bytes:
    """The warehouse file and everything DuckDB keeps beside it (WAL, temp files)."""
    parts = [p for p in wh.parent.glob(wh.name + "*") if p.is_file()]
    parts += [p for p in wh.parent.glob(wh.name + ".tmp/*") if p.is_file()]
    return b"".join(p.read_bytes() for p in sorted(parts))


def test_plaintext_warehouse_with_key_says_run_encrypt(tmp_path, monkeypatch):
    wh = tmp_path / "w.duckdb"
    connect(wh).close()
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    with pytest.raises(WarehouseKeyError) as err:
        connect(wh)
    assert str(err.value) == (
        f"the warehouse {wh} is not encrypted; run `bidui warehouse encrypt` to convert it"
    )


def spill(con: duckdb.DuckDBPyConnection, tmp_dir: Path) -> list[bytes]:
    """Run a sort that spills to ``tmp_dir``; the temp files' bytes seen meanwhile."""
    con.execute("SET memory_limit = '40MB'; SET threads = 1; SET preserve_insertion_order = false")
    seen: list[bytes] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            for p in tmp_dir.glob("*"):
                with contextlib.suppress(OSError):
                    seen.append(p.read_bytes()[:4_000_000])
            time.sleep(0.02)

    t = threading.Thread(target=watch)
    t.start()
    try:
        con.execute(
            "CREATE TEMP TABLE spill AS SELECT 'TMPSECRET' || lpad(i::VARCHAR, 12, '0') "
            "|| repeat('x', 40) AS s, random() AS r FROM range(2000000) t(i) ORDER BY r"
        )
    finally:
        done.set()
        t.join()
    assert seen, "the sort did not spill to disk; the test proves nothing"
    return seen


def test_wal_and_temp_files_are_encrypted(tmp_path, monkeypatch):
    """A write left in the WAL, and a sort that spills to disk, leave no plaintext."""
    # The defect guarded against: DuckDB 1.5.5 encrypts the file and the WAL of an
    # encrypted database, but writes its temp (spill) files in plaintext unless
    # temp_file_encryption is set.
    raw = wconn.open_encrypted_session()
    wconn.attach(raw, tmp_path / "raw.duckdb", "raw", KEY)
    raw.execute(f"USE raw; SET temp_directory = '{tmp_path / 'raw.tmp'}'")
    assert any(b"TMPSECRET" in b for b in spill(raw, tmp_path / "raw.tmp"))
    raw.close()

    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    wh = tmp_path / "w.duckdb"
    con = connect(wh)
    assert con.sql("SELECT current_setting('temp_file_encryption')").fetchone()[0] is True
    con.execute("CREATE TABLE wal_probe AS SELECT 'WALSECRET' || i AS s FROM range(1000) t(i)")
    assert (tmp_path / "w.duckdb.wal").exists()
    assert b"WALSECRET" not in warehouse_bytes(wh)
    try:
        assert not any(b"TMPSECRET" in b for b in spill(con, tmp_path / "w.duckdb.tmp"))
    finally:
        con.close()
    assert b"WALSECRET" not in warehouse_bytes(wh)


def test_no_insecure_crypto_mode_and_signed_httpfs_only(tmp_path, monkeypatch):
    setter = re.compile(r"force_mbedtls_unsafe['\"]?\s*[:=]|SET\s+force_mbedtls_unsafe", re.I)
    for folder in ("warehouse", "bidui", "pipelines", "assets", "checks", "department_feeds"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            assert not setter.search(path.read_text(encoding="utf-8")), path
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    with connect(tmp_path / "w.duckdb") as con:
        settings = dict(
            con.sql(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ("
                "'force_mbedtls_unsafe', 'allow_unsigned_extensions', "
                "'autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert set(settings.values()) == {"false"}, settings
        assert con.sql(
            "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
        ).fetchone() == (True,)
        # httpfs is there for its crypto only: no reading from the network.
        with pytest.raises(duckdb.PermissionException, match="HTTPFileSystem has been disabled"):
            con.sql("SELECT * FROM read_csv('https://example.invalid/x.csv')").fetchall()


def test_connections_of_one_process_share_the_encrypted_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    wh = tmp_path / "w.duckdb"
    a, b = connect(wh), connect(wh)
    a.execute("CREATE TABLE shared (i INTEGER)")
    b.execute("INSERT INTO shared VALUES (1)")
    assert a.sql("SELECT count(*) FROM shared").fetchone() == (1,)
    with pytest.raises(WarehouseLockedError, match="already open in this process"):
        connect(wh, read_only=True)
    a.close()
    b.close()
    with connect(wh, read_only=True) as ro:
        assert ro.sql("SELECT count(*) FROM shared").fetchone() == (1,)


@pytest.mark.parametrize("key", [None, KEY])
def test_threads_opening_the_warehouse_at_once(tmp_path, monkeypatch, key):
    """Threads of one process connecting together share the file; the first
    connections creating the tables together hit DuckDB's write-write conflict
    (before connect serialised table creation; encrypted or not)."""
    if key:
        monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", key)
    wh = tmp_path / "w.duckdb"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        try:
            barrier.wait()
            with connect(wh) as con, wconn.write_lock(wconn.database_path(con)):
                con.execute("CREATE TABLE IF NOT EXISTS t (i INTEGER)")
                con.execute("INSERT INTO t VALUES (?)", [i])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with connect(wh, read_only=True) as con:
        assert sorted(con.sql("SELECT i FROM t").fetchall()) == [(0,), (1,), (2,), (3,)]


def test_path_with_quote_is_safe(tmp_path, monkeypatch):
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", "it's a key with 'quotes' in it")
    wh = tmp_path / "o'brien" / "w.duckdb"
    with connect(wh) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS i")
    with connect(wh, read_only=True) as con:
        assert con.sql("SELECT i FROM t").fetchone() == (1,)


def test_rekey_of_plaintext_warehouse_points_to_encrypt(tmp_path, monkeypatch, capsys):
    wh = tmp_path / "w.duckdb"
    connect(wh).close()
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    monkeypatch.setenv("BIDUI_WAREHOUSE_OLD_KEY", OTHER_KEY)
    assert bidui_main(["warehouse", "rekey", "--warehouse", str(wh)]) == 1
    assert "is not encrypted; run `bidui warehouse encrypt`" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.converting*"))


def test_encrypt_copies_a_pending_wal(tmp_path, monkeypatch):
    """Rows still in the plaintext WAL (a crash before checkpoint) are copied too,
    and no plaintext WAL is left to be replayed into the encrypted file."""
    wh = tmp_path / "w.duckdb"
    script = (
        "import duckdb, os, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('SET checkpoint_threshold = \\'1GB\\'')\n"
        "con.execute(\"CREATE TABLE t AS SELECT 'WALROW' || i AS s FROM range(500) r(i)\")\n"
        "os._exit(0)\n"  # no checkpoint: the rows exist only in the WAL
    )
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", script, str(wh)], check=True)
    assert (tmp_path / "w.duckdb.wal").exists()
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
    assert bidui_main(["warehouse", "encrypt", "--warehouse", str(wh)]) == 0
    assert not (tmp_path / "w.duckdb.wal").exists()
    assert b"WALROW" not in warehouse_bytes(wh)
    with connect(wh, read_only=True) as con:
        assert con.sql("SELECT count(*) FROM t").fetchone() == (500,)


def test_encrypt_while_another_process_has_the_file_open(tmp_path, monkeypatch, capsys):
    import subprocess
    import sys

    wh = tmp_path / "w.duckdb"
    connect(wh).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "print('open', flush=True)\n"
            "time.sleep(60)\n",
            str(wh),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", KEY)
        assert bidui_main(["warehouse", "encrypt", "--warehouse", str(wh)]) == 1
        assert "is in use by another process" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert not list(tmp_path.glob("*.converting*"))
    monkeypatch.delenv("BIDUI_WAREHOUSE_KEY")
    connect(wh).close()  # still the plaintext warehouse, untouched
