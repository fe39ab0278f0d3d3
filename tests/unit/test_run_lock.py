"""The in-code warehouse lock is released after use (a second process: integration/)."""

from __future__ import annotations

import pytest

from assets.resources import WarehouseBusy, run_lock


def test_lock_is_released_after_use(tmp_path):
    wh = tmp_path / "w.duckdb"
    with run_lock(wh):
        pass
    with run_lock(wh, timeout_s=1):
        pass
    with pytest.raises(WarehouseBusy), run_lock(wh), run_lock(wh, timeout_s=0.6):
        pass
