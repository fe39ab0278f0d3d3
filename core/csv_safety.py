"""CSV injection: text cells that a spreadsheet would run as a formula.

Excel, WPS and LibreOffice treat a cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return as a formula (``=HYPERLINK(…)``, ``=cmd|' /C calc'!A0``), also
when it comes from a CSV file. Register text is typed by many hands, so every such
*text* cell written to ``problems.csv`` and ``rejects.csv`` is prefixed with a single
quote ``'`` (OWASP's recommendation): the spreadsheet then shows it as text.
Text that itself starts with ``'`` gets one too, so the rule is lossless. Numbers,
dates and empty cells are left as they are.

**Other programs reading problems.csv or rejects.csv must strip one leading ``'``
from every text cell that starts with ``'``** (:func:`unescape` does exactly that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_STARTS = (*FORMULA_STARTS, "'")
_PATTERN = r"^[=+\-@\t\r']"


def neutralise(value: Any) -> Any:
    """``'`` + text that would start a formula (or starts with ``'``); else unchanged."""
    if isinstance(value, str) and value.startswith(_ESCAPED_STARTS):
        return "'" + value
    return value


def neutralise_row(row: Iterable[Any]) -> list[Any]:
    return [neutralise(v) for v in row]


def neutralise_frame(df: pl.DataFrame) -> pl.DataFrame:
    """The same rule on every text column of a Polars frame."""
    text = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns(
        pl.when(pl.col(c).str.contains(_PATTERN))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def unescape(value: str) -> str:
    """What a reader of the CSV files does: drop the ``'`` added by :func:`neutralise`."""
    return value[1:] if value.startswith("'") else value
