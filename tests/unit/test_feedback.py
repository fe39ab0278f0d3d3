"""Returned problem lists: the dates a township types, read by rectification.feedback.parse_date."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from rectification.feedback import parse_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 6, 1, 0, 0), date(2024, 6, 1)),
        ("2024-6-1", date(2024, 6, 1)),
        ("2024/06/01", date(2024, 6, 1)),
        ("2024.6.1", date(2024, 6, 1)),
        ("20240601", date(2024, 6, 1)),
        (20240601, date(2024, 6, 1)),
        (45444, date(2024, 6, 1)),  # Excel serial without a date format
        ("2024年6月1日", date(2024, 6, 1)),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["六月一日", "2024-13-01", "2024-02-30", -5])
def test_parse_date_rejects(value):
    with pytest.raises(ValueError):
        parse_date(value)
