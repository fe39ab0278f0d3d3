"""The DuckDB warehouse: connection, writer lock, and the ingest of every feed.

``connect(path)`` opens (and creates) the warehouse; ``load_feed(con, feed, inbox)``
brings one feed's tables in line with ``inbox/<feed>/``. See docs/warehouse.md.
"""

from __future__ import annotations

from warehouse.connection import WarehouseLockedError, connect, write_lock
from warehouse.ingest import FeedLoadResult, FileLoadResult, inbox_files, load_all, load_feed

__all__ = [
    "FeedLoadResult",
    "FileLoadResult",
    "WarehouseLockedError",
    "connect",
    "inbox_files",
    "load_all",
    "load_feed",
    "write_lock",
]
