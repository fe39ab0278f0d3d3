"""Password-protected township workbooks (standard Office "Agile" encryption).

When ``BIDUI_WORKBOOK_PASSWORDS`` names a file, every township list (问题清单
and 监测预警核实清单) is encrypted with its township's password after it is
written (AES-256, SHA-512, the Excel 2010+ default, via ``msoffcrypto-tool``):
Excel, WPS and LibreOffice ask for the password when the file is opened. See
docs/security.md.

The passwords file is UTF-8 CSV (Excel: "CSV UTF-8"), one township per row::

    乡镇,密码
    老堡镇,Lb-2026-qiuji
    水得乡,...

The header is ``乡镇,密码`` (or ``township,password``); further columns (notes)
are ignored; spaces around a value are removed. Empty or short passwords and a
township listed twice are refused. A township with no password while the file is
configured fails the step and leaves no workbook in the run's staging folder: a
plaintext list must never go out by mistake, and a list silently left out would
be a township's findings lost; the failure names the township to add.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import msoffcrypto
import olefile
from msoffcrypto.exceptions import DecryptionError, InvalidKeyError
from msoffcrypto.format.ooxml import OOXMLFile

from core.config import workbook_passwords_file

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8
HEADERS = (("乡镇", "密码"), ("township", "password"))


class PasswordsError(ValueError):
    """The passwords file is unusable, or a township has no password in it."""


class WrongPasswordError(ValueError):
    """An encrypted workbook did not open with any password we have."""


def _name(text: str | None) -> str:
    return unicodedata.normalize("NFC", (text or "").strip())


def load_passwords(path: str | Path) -> dict[str, str]:
    """Township name -> password, from the office's CSV file (never logged)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PasswordsError(f"cannot read the workbook passwords file {path}: {exc}") from None
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("workbook passwords file %s is readable by other users; chmod 600 it", path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PasswordsError(
            f"the workbook passwords file {path} is not UTF-8; save it as 'CSV UTF-8'"
        ) from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows or tuple(c.strip().lower() for c in rows[0][:2]) not in HEADERS:
        raise PasswordsError(
            f"the workbook passwords file {path} must start with the header row "
            "'乡镇,密码' (or 'township,password')"
        )
    passwords: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        township = _name(row[0])
        password = row[1].strip() if len(row) > 1 else ""
        where = f"{path}, row {line}"
        if not township:
            raise PasswordsError(f"{where}: the township name is empty")
        if len(password) < MIN_PASSWORD_CHARS:
            raise PasswordsError(
                f"{where}: the password for {township} is "
                + ("empty" if not password else f"shorter than {MIN_PASSWORD_CHARS} characters")
            )
        if township in passwords:
            raise PasswordsError(f"{where}: township {township} is listed twice")
        passwords[township] = password
    if not passwords:
        raise PasswordsError(f"the workbook passwords file {path} lists no township")
    return passwords


def configured_passwords() -> dict[str, str] | None:
    """The passwords from ``BIDUI_WORKBOOK_PASSWORDS``, or None when it is not set."""
    path = workbook_passwords_file()
    return None if path is None else load_passwords(path)


def is_encrypted(path: str | Path) -> bool:
    """True for an Office file encrypted with a password (an OLE container)."""
    with open(path, "rb") as fh:
        if not olefile.isOleFile(fh):
            return False
        fh.seek(0)
        try:
            return msoffcrypto.OfficeFile(fh).is_encrypted()
        except Exception:  # an OLE file msoffcrypto does not know: not ours to judge
            return False


def encrypt_in_place(path: str | Path, password: str) -> None:
    """Encrypt the xlsx at ``path`` with ``password``; written beside it, then renamed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".encrypting-", suffix=".xlsx")
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as out:
            OOXMLFile(src).encrypt(password, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encrypt_workbooks(workbooks: Iterable, passwords: dict[str, str]) -> list[Path]:
    """Encrypt each workbook (``.township``, ``.path``) with its township's password.

    Every township must have a password; if one has none, all the workbooks are
    deleted (none may stay as plaintext) and :class:`PasswordsError` names them."""
    workbooks = list(workbooks)
    missing = sorted({_name(w.township) or "(no township)" for w in workbooks} - set(passwords))
    if missing:
        for w in workbooks:
            Path(w.path).unlink(missing_ok=True)
        raise PasswordsError(
            f"no workbook password for township(s) {', '.join(missing)} in the file named by "
            "BIDUI_WORKBOOK_PASSWORDS; add them and run again (no list of this kind was written, "
            "so none went out unencrypted)"
        )
    done = []
    for w in workbooks:
        encrypt_in_place(w.path, passwords[_name(w.township)])
        done.append(Path(w.path))
    return done


def decrypt(path: str | Path, password: str) -> bytes:
    """The plaintext xlsx bytes of an encrypted workbook (WrongPasswordError if not)."""
    with open(path, "rb") as fh:
        office = msoffcrypto.OfficeFile(fh)
        try:
            office.load_key(password=password, verify_password=True)
            out = io.BytesIO()
            office.decrypt(out)
        except (InvalidKeyError, DecryptionError) as exc:
            raise WrongPasswordError(f"{Path(path).name}: wrong password ({exc})") from None
    return out.getvalue()


def decrypt_returned(path: str | Path, passwords: dict[str, str]) -> tuple[bytes, str]:
    """Open a returned, still-encrypted workbook with the password that fits.

    Townships usually save with the same password, so it is one of ours; the one
    whose township appears in the file name is tried first. Returns the plaintext
    bytes and that township. Which township the *answers* belong to is still for
    the signed marker inside to say (rectification.authority), not for the password."""
    name = unicodedata.normalize("NFC", Path(path).name)
    order = sorted(passwords, key=lambda t: (t not in name, t))
    for township in order:
        try:
            return decrypt(path, passwords[township]), township
        except WrongPasswordError:
            continue
    raise WrongPasswordError(f"{Path(path).name}: none of the township passwords opens it")
