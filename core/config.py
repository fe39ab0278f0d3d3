"""Paths and run-level settings, in one typed place.

Precedence: explicit argument > environment variable > git-ignored ``.local/``
folder at the project root. Rule thresholds live in ``checks/thresholds.toml``
(see ``checks.thresholds``); secrets, if ever needed, only from the environment.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("BIDUI_HOME", PROJECT_ROOT / ".local"))


@dataclass(frozen=True)
class Settings:
    inbox: Path
    outbox: Path
    warehouse: Path

    @classmethod
    def from_env(
        cls,
        inbox: str | Path | None = None,
        outbox: str | Path | None = None,
        warehouse: str | Path | None = None,
    ) -> Settings:
        def pick(arg: str | Path | None, env: str, default: Path) -> Path:
            value = arg or os.environ.get(env) or default
            return Path(value).expanduser().resolve()

        return cls(
            inbox=pick(inbox, "BIDUI_INBOX", LOCAL_DIR / "demo" / "inbox"),
            outbox=pick(outbox, "BIDUI_OUTBOX", LOCAL_DIR / "outbox"),
            warehouse=pick(warehouse, "BIDUI_WAREHOUSE", LOCAL_DIR / "warehouse.duckdb"),
        )


# --------------------------------------------------------------------------- time
# One office time zone for every date or time shown and every "today": the run date,
# file ages, report times. The machine's own zone (often UTC on a server) is never used.

DEFAULT_TIMEZONE = "Asia/Shanghai"


def timezone_name() -> str:
    """The configured zone name (``BIDUI_TIMEZONE``, default Asia/Shanghai)."""
    return os.environ.get("BIDUI_TIMEZONE") or DEFAULT_TIMEZONE


def office_tz() -> ZoneInfo:
    """The office's time zone (``BIDUI_TIMEZONE``)."""
    return ZoneInfo(timezone_name())


def _utc_now() -> datetime:  # the one clock; tests replace it
    return datetime.now(UTC)


def now() -> datetime:
    """Now in the office's time zone, as a naive wall-clock time (how it is stored)."""
    return _utc_now().astimezone(office_tz()).replace(tzinfo=None)


def today() -> date:
    """Today's date in the office's time zone."""
    return now().date()


def local_time(timestamp: float) -> datetime:
    """A POSIX timestamp (e.g. a file's mtime) as naive office wall-clock time."""
    return datetime.fromtimestamp(timestamp, office_tz()).replace(tzinfo=None)


# --------------------------------------------------------------------------- secrets
# Keys and passwords come only from the environment (the key text, or the path of
# a file holding it): never from a file in the repository or from the warehouse.

MIN_KEY_CHARS = 16
_WARNED: set[str] = set()


class KeyConfigError(ValueError):
    """A warehouse key is configured, but not usably."""


def _secret(env: str, file_env: str) -> str | None:
    text, file = os.environ.get(env), os.environ.get(file_env)
    if text is not None and file is not None:
        raise KeyConfigError(f"both {env} and {file_env} are set; set only one of them")
    source = env
    if file is not None:
        source = f"{file_env} ({file})"
        try:
            text = Path(file).expanduser().read_text(encoding="utf-8")
            loose = os.name == "posix" and Path(file).expanduser().stat().st_mode & 0o077
            if loose and file not in _WARNED:  # once per process: read on every connect
                _WARNED.add(file)
                logging.getLogger(__name__).warning(
                    "key file %s is readable by other users; chmod 600 it", file
                )
        except OSError as exc:
            raise KeyConfigError(f"cannot read the key file {file} ({file_env}): {exc}") from exc
    if text is None:
        return None
    text = text.strip()
    if len(text) < MIN_KEY_CHARS:
        # The key itself is never shown, only its length.
        raise KeyConfigError(
            f"the key in {source} is {len(text)} characters long; "
            f"use at least {MIN_KEY_CHARS} characters"
        )
    return text


def warehouse_key() -> str | None:
    """The warehouse encryption key (``BIDUI_WAREHOUSE_KEY`` or ``BIDUI_WAREHOUSE_KEY_FILE``),
    None when neither is set (the warehouse is then plaintext)."""
    return _secret("BIDUI_WAREHOUSE_KEY", "BIDUI_WAREHOUSE_KEY_FILE")


def warehouse_old_key() -> str | None:
    """The key being replaced by ``bidui warehouse rekey`` (``BIDUI_WAREHOUSE_OLD_KEY``
    or ``BIDUI_WAREHOUSE_OLD_KEY_FILE``)."""
    return _secret("BIDUI_WAREHOUSE_OLD_KEY", "BIDUI_WAREHOUSE_OLD_KEY_FILE")


def workbook_passwords_file() -> Path | None:
    """The office's township-password file (``BIDUI_WORKBOOK_PASSWORDS``), if configured."""
    value = os.environ.get("BIDUI_WORKBOOK_PASSWORDS")
    return Path(value).expanduser() if value else None
