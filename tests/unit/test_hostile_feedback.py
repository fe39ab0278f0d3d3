"""Hostile and careless returned workbooks: the list's own status column is never
taken for a township's answer."""

from __future__ import annotations

from rectification import feedback
from rectification.form import STATUS_HEADER


def test_the_status_column_is_not_compared():
    assert STATUS_HEADER == "上次报送处理情况"
    assert STATUS_HEADER not in feedback._COMPARED
