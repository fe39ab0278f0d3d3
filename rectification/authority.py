"""Which township a returned workbook speaks for.

Every problem list we send carries a hidden sheet (:data:`MARKER_SHEET`, state
``veryHidden``) whose cell A1 holds a signed marker: the county, township and
run date the workbook was written for, and an HMAC-SHA256 over them with the
warehouse's own signing key. When the workbook comes back, the feedback reader
verifies the marker and accepts answers only for problems of that township; a
row copied in from another township's list is rejected, never applied.

The signing key is 32 random bytes created once per warehouse, the first time a
writable connection asks for it (table ``bidui_secrets``, declared in
:mod:`warehouse.schema`; see :func:`signing_key`), so it is encrypted at rest
whenever the warehouse is. Townships never see it; the marker itself holds no
personal data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import date

import duckdb

from warehouse.schema import create_table

MARKER_SHEET = "_bidui_来源"
"""Name of the very-hidden sheet holding the marker in cell A1."""

MARKER_PREFIX = "bidui-marker-v1:"

_SIGNING_KEY = "workbook_signing_key"


@dataclass(frozen=True)
class Marker:
    """What a verified marker says about the workbook it was found in."""

    county: str
    township: str
    run_date: date


def ensure_signing_key(con: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse's signing key if it has none (needs a writable connection)."""
    create_table(con, "bidui_secrets")
    con.execute(
        "INSERT INTO bidui_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        [_SIGNING_KEY, secrets.token_hex(32)],
    )


def _stored_key(con: duckdb.DuckDBPyConnection) -> bytes | None:
    try:
        rows = con.execute(
            "SELECT value FROM bidui_secrets WHERE name = ?", [_SIGNING_KEY]
        ).fetchall()
    except duckdb.CatalogException:  # a warehouse from before the table was declared
        return None
    return bytes.fromhex(rows[0][0]) if rows else None


def signing_key(con: duckdb.DuckDBPyConnection) -> bytes:
    """The warehouse's signing key, created on first use.

    A read-only connection to a warehouse that has no key yet raises
    ``LookupError``: the key is created by the first writable connection that
    asks (the nightly ``rectification`` step reads returned lists before any
    list is written, so a nightly run always has one)."""
    key = _stored_key(con)
    if key is not None:
        return key
    try:
        ensure_signing_key(con)
    except duckdb.Error as exc:
        raise LookupError(
            "the warehouse has no workbook signing key and the connection is read-only; "
            "open it once read-write (e.g. run the nightly job) to create it"
        ) from exc
    key = _stored_key(con)
    assert key is not None
    return key


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def make_marker(key: bytes, county: str | None, township: str | None, run_date: date) -> str:
    """The signed text written to the hidden sheet of one township's workbook."""
    payload = json.dumps(
        {"county": county or "", "township": township or "", "run_date": run_date.isoformat()},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    body = base64.urlsafe_b64encode(payload)
    return f"{MARKER_PREFIX}{body.decode()}.{_mac(key, body)}"


def read_marker(key: bytes, text: object) -> Marker | None:
    """The marker in ``text`` if its signature is valid for ``key``, else None."""
    if not isinstance(text, str) or not text.startswith(MARKER_PREFIX):
        return None
    body_s, _, mac = text.removeprefix(MARKER_PREFIX).strip().rpartition(".")
    body = body_s.encode()
    if not body or not hmac.compare_digest(_mac(key, body), mac):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body))
        return Marker(data["county"], data["township"], date.fromisoformat(data["run_date"]))
    except (ValueError, KeyError, TypeError):
        return None
