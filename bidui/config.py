"""Paths and run-level settings, in one typed place.

Precedence: explicit argument > environment variable > git-ignored ``.local/``
folder at the project root. Rule thresholds live in ``checks/thresholds.toml``
(see ``checks.thresholds``); secrets, if ever needed, only from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("BIDUI_HOME", PROJECT_ROOT / ".local"))

FEEDS = (
    "register",
    "villages",
    "hukou",
    "vehicles",
    "tax",
    "property",
    "house_safety",
    "business",
    "social_insurance",
)
"""Input feeds in load order; ``feedback`` is handled by the rectification loop."""


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
