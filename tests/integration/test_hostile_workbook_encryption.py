"""Township workbooks encrypted with the township's password (Office Agile, AES-256):
they open with the password in msoffcrypto and not without it or with another
township's; encryption in place is atomic; a township without a password gets no list."""

import zipfile
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from core import office_crypto as oc
from publishing.workbooks import write_township_workbooks
from tests.helpers_problem_lists import DUE_DAYS, RUN_DATE, TOWNSHIPS, build_warehouse, listed_ids


def passwords_for(townships) -> dict[str, str]:
    return {t: f"pw-{i:02d}-{t}-2026" for i, t in enumerate(townships)}


@pytest.fixture
def lists(tmp_path):
    """The problem lists of the hand-made nine-township warehouse, plaintext."""
    con = build_warehouse(tmp_path / "w.duckdb")
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    con.close()
    return {i.township: i for i in infos}


def decrypted_copy(path: Path, password: str, dest: Path) -> Path:
    dest.write_bytes(oc.decrypt(path, password))
    return dest


# --------------------------------------------------------------------------- encryption


def test_encrypted_list_opens_with_its_password_only(lists, tmp_path):
    passwords = passwords_for(TOWNSHIPS)
    plain_ids = {t: listed_ids(i.path) for t, i in lists.items()}
    done = oc.encrypt_workbooks(lists.values(), passwords)
    assert sorted(done) == sorted(i.path for i in lists.values())
    assert not list((tmp_path / "out").rglob(".encrypting-*"))

    info = lists["东风镇"]
    assert oc.is_encrypted(info.path)
    # Without the password nothing can read it: it is not even a zip any more.
    assert not zipfile.is_zipfile(info.path)
    with pytest.raises(Exception):  # noqa: B017 - openpyxl raises its own error types
        openpyxl.load_workbook(info.path)
    with pytest.raises(Exception):  # noqa: B017
        CalamineWorkbook.from_path(str(info.path)).get_sheet_by_index(0).to_python()
    with pytest.raises(oc.WrongPasswordError):
        oc.decrypt(info.path, "")
    with pytest.raises(oc.WrongPasswordError):
        oc.decrypt(info.path, passwords["红旗乡"])  # another township's password
    # With it, the very same list comes back.
    for township, i in lists.items():
        copy = decrypted_copy(i.path, passwords[township], tmp_path / f"{township}.xlsx")
        assert listed_ids(copy) == plain_ids[township]
    # The feedback reader can open a returned, still-encrypted list with our passwords.
    data, township = oc.decrypt_returned(info.path, passwords)
    assert township == "东风镇" and data.startswith(b"PK")
    with pytest.raises(oc.WrongPasswordError, match="none of the township passwords"):
        oc.decrypt_returned(info.path, {"红旗乡": passwords["红旗乡"]})


def test_township_without_password_fails_and_leaves_no_list(lists):
    passwords = passwords_for(TOWNSHIPS)
    del passwords["龙泉镇"], passwords["松林乡"]
    with pytest.raises(oc.PasswordsError, match="松林乡, 龙泉镇") as err:
        oc.encrypt_workbooks(lists.values(), passwords)
    assert "none went out unencrypted" in str(err.value)
    assert not any(i.path.exists() for i in lists.values())


def test_encrypt_in_place_is_atomic(lists, monkeypatch):
    """A failure while encrypting leaves the original file and no temp file."""
    info = lists["东风镇"]
    before = info.path.read_bytes()

    def boom(self, password, out):
        out.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(oc.OOXMLFile, "encrypt", boom)
    with pytest.raises(OSError, match="disk full"):
        oc.encrypt_in_place(info.path, "long-enough-1")
    assert info.path.read_bytes() == before
    assert [p.name for p in info.path.parent.iterdir()] == [info.path.name]
