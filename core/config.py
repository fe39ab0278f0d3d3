"""Paths and run-level settings, in one typed place.

Precedence: explicit argument > environment variable > git-ignored ``.local/``
folder at the project root. Rule thresholds live in ``checks/thresholds.toml``
(see ``checks.thresholds``); secrets, if ever needed, only from the environment.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("BIDUI_HOME", PROJECT_ROOT / ".local"))


COUNTIES_ENV = "BIDUI_COUNTIES"
PREFECTURE_FOLDER = "_prefecture"  # <inbox>/_prefecture/<feed>/: prefecture-wide feeds
# What a feed folder's name looks like (department_feeds.FEEDS, which core cannot import).
_FEED_NAME = re.compile(r"[a-z][a-z0-9_]*")
_BAD_NAME_CHARS = set('/\\,:*?"<>|') | {chr(c) for c in range(32)} | {chr(127)}


class CountyNameError(ValueError):
    """A county name that cannot be a folder, a file name or a partition key."""


def check_county_name(name: str) -> str:
    """``name`` stripped, or :class:`CountyNameError`: county names become folder and
    file names (``<inbox>/<county>/``, ``counties/<county>.duckdb``) and Dagster
    partition keys, so no separators, no ``..``, no leading dot or underscore
    (``_prefecture`` is not a county), no commas (the ``BIDUI_COUNTIES`` separator)."""
    text = name.strip()
    if not text:
        raise CountyNameError("empty county name / 县名为空")
    if text.startswith((".", "_")) or ".." in text or set(text) & _BAD_NAME_CHARS:
        raise CountyNameError(
            f"county name {text!r} cannot be used as a folder name (no / \\ , .. or "
            f"leading . or _) / 县名 {text} 不能用作文件夹名"
        )
    if len(text.encode("utf-8")) > 200:
        raise CountyNameError(f"county name {text[:20]!r}… is too long / 县名过长")
    return text


@dataclass(frozen=True)
class Settings:
    """Where a run reads and writes. ``county`` is None for a single-county run (the
    paths as given); :meth:`for_county` gives one county's settings in a
    multi-county inbox (``<inbox>/<county>/<feed>/…``)."""

    inbox: Path
    outbox: Path
    warehouse: Path
    county: str | None = None
    prefecture_dir: Path | None = None
    """The Parquet layer of all counties: ``<warehouse parent>/prefecture``."""
    prefecture_outbox: Path | None = None
    """The prefecture report's outbox: ``<outbox>/_prefecture``."""

    def __post_init__(self) -> None:
        if self.prefecture_dir is None:
            object.__setattr__(self, "prefecture_dir", self.warehouse.parent / "prefecture")
        if self.prefecture_outbox is None:
            object.__setattr__(self, "prefecture_outbox", self.outbox / PREFECTURE_FOLDER)

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

    def counties(self, feeds: Collection[str] = ()) -> tuple[str, ...]:
        """The counties of a multi-county inbox; ``()`` in the single-county layout.

        ``BIDUI_COUNTIES`` (comma-separated) wins. Otherwise an inbox with a feed
        folder directly in it (``<inbox>/register/``) is the single-county layout,
        and the counties are the sub-folders holding at least one feed folder
        (``feeds``: ``department_feeds.FEEDS``, which core cannot import; without it,
        ``register/`` marks the single layout and any folder named like a feed counts),
        sorted. At least two are needed: one such folder alone is the county's
        feed folders one level too deep (``bidui run`` says so); set
        ``BIDUI_COUNTIES`` to run a prefecture of one county."""
        if self.county is not None:
            return ()
        configured = os.environ.get(COUNTIES_ENV, "").strip()
        if configured:
            names = [check_county_name(n) for n in configured.split(",") if n.strip()]
            return tuple(dict.fromkeys(names))

        def is_feed(p: Path) -> bool:
            ok = p.name in feeds if feeds else bool(_FEED_NAME.fullmatch(p.name))
            return ok and p.is_dir()

        try:
            entries = sorted(self.inbox.iterdir())
        except OSError:
            return ()
        # Without the feed list, the register folder alone marks the single layout.
        if any(is_feed(p) for p in entries) if feeds else (self.inbox / "register").is_dir():
            return ()
        found = []
        for p in entries:
            if not p.is_dir() or p.name.startswith((".", "_")):
                continue
            try:
                check_county_name(p.name)
                if any(is_feed(q) for q in p.iterdir()):
                    found.append(p.name)
            except (CountyNameError, OSError):
                continue
        return tuple(found) if len(found) >= 2 else ()

    def for_county(self, county: str) -> Settings:
        """One county's settings: ``<inbox>/<county>``, ``<outbox>/<county>``, the
        warehouse ``<warehouse parent>/counties/<county>.duckdb``; the prefecture
        paths stay the prefecture's."""
        if self.county is not None:
            raise ValueError(f"settings are already county {self.county!r}'s")
        name = check_county_name(county)
        return Settings(
            inbox=self.inbox / name,
            outbox=self.outbox / name,
            warehouse=self.warehouse.parent / "counties" / f"{name}.duckdb",
            county=name,
            prefecture_dir=self.prefecture_dir,
            prefecture_outbox=self.prefecture_outbox,
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
