"""Township workbook passwords (``BIDUI_WORKBOOK_PASSWORDS``): the passwords file is
read, and a gap or a mistake in it is refused before any list goes out unencrypted."""

import csv
from pathlib import Path

import pytest

from core import office_crypto as oc


def write_passwords(path: Path, passwords: dict[str, str], header=("乡镇", "密码")) -> Path:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for t, p in passwords.items():
            w.writerow([t, p])
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------- passwords file


def test_passwords_file_read_and_every_mistake_refused(tmp_path):
    good = tmp_path / "pw.csv"
    good.write_text(
        "\ufeff乡镇,密码,备注\n 东风镇 , secret-东风-1 ,新设\n\n红旗乡,another-pass,\n", "utf-8"
    )
    assert oc.load_passwords(good) == {"东风镇": "secret-东风-1", "红旗乡": "another-pass"}
    english = write_passwords(tmp_path / "en.csv", {"东风镇": "12345678"}, ("township", "password"))
    assert oc.load_passwords(english) == {"东风镇": "12345678"}

    cases = {
        "乡镇,密码\n东风镇,\n": "password for 东风镇 is empty",
        "乡镇,密码\n东风镇\n": "password for 东风镇 is empty",
        "乡镇,密码\n东风镇,short\n": "shorter than 8 characters",
        "乡镇,密码\n东风镇,long-enough-1\n东风镇,long-enough-2\n": "东风镇 is listed twice",
        "乡镇,密码\n,long-enough-1\n": "township name is empty",
        "东风镇,long-enough-1\n": "must start with the header row",
        "乡镇,密码\n": "lists no township",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text, "utf-8")
        with pytest.raises(oc.PasswordsError, match=message) as err:
            oc.load_passwords(bad)
        assert "long-enough" not in str(err.value)  # passwords never in messages
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("乡镇,密码\n东风镇,long-enough-1\n".encode("gb18030"))
    with pytest.raises(oc.PasswordsError, match="not UTF-8; save it as 'CSV UTF-8'"):
        oc.load_passwords(gbk)
    with pytest.raises(oc.PasswordsError, match="cannot read"):
        oc.load_passwords(tmp_path / "missing.csv")
