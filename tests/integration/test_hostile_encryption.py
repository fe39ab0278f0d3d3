"""Personal data at rest: with a key configured the warehouse (file, WAL, temp
files) holds no plaintext ID number after the real nightly job; it does not open
without the key or with a wrong one; a plaintext warehouse is converted by
``bidui warehouse encrypt`` and re-keyed by ``bidui warehouse rekey`` with every
row kept; DuckDB's insecure crypto mode is never used."""

import contextlib
import re
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
from python_calamine import CalamineWorkbook

from core.config import KeyConfigError, warehouse_key
from pipelines.cli import main as bidui_main
from pipelines.cli import run_pipeline
from tests.conftest import PROJECT_ROOT, copy_inbox, generate_county
from warehouse import connect
from warehouse import connection as wconn
from warehouse.connection import WarehouseKeyError, WarehouseLockedError

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
