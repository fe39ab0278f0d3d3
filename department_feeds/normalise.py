"""Vectorised value parsers: raw text → typed value, one Polars expression each.

Every parser returns null for a value it cannot read; the loader compares with
the raw text to decide between a warning (optional column) and a reject
(required column). No per-row Python here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial

import polars as pl

from department_feeds.spec import YES_NO_VALUES, Column

# Full-width digits and punctuation that Chinese input methods produce in numbers.
_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)} | {
    "．": ".",
    "，": ",",
    "－": "-",
    "＋": "+",
    "／": "/",
    "：": ":",
    "\u3000": " ",
}
TICKS = ("√", "✓", "✔")
"""Check marks: a column holding any of them is a √/blank column."""

TOTAL_PATTERN = r"^.{0,6}(合计|总计|小计)[:：]?$"
"""A cell that marks a summary row: ``合计``, ``总计``, ``全县合计``, ``小计：``."""

_EXCEL_EPOCH = dt.date(1899, 12, 30)
_MIN_DATE = dt.date(1900, 1, 1)
_MAX_DATE = dt.date(2100, 12, 31)


def blank_to_null(e: pl.Expr) -> pl.Expr:
    """Null for empty or whitespace-only text (full-width space included)."""
    return pl.when(e.str.strip_chars().str.len_chars() == 0).then(None).otherwise(e)


def squeeze(e: pl.Expr) -> pl.Expr:
    """Text for comparisons: no whitespace, half-width brackets."""
    return e.str.replace_all(r"[\s\u3000]+", "").str.replace_many({"（": "(", "）": ")"})


WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""The Unicode White_Space characters: regex ``\\s`` and ``str.strip_chars()``."""

SQUEEZABLE = [*WHITESPACE, "（", "）"]
"""The characters :func:`squeeze` changes: text without one is its own squeezed form."""


_TOTAL_RAW = (
    r"^[\s\u3000]*(?:[^\s\u3000][\s\u3000]*){0,6}[合总小][\s\u3000]*计[\s\u3000]*[:：]?[\s\u3000]*$"
)
""":data:`TOTAL_PATTERN` on unsqueezed text: one regex pass instead of three."""


def is_total_word(e: pl.Expr) -> pl.Expr:
    return e.str.contains(_TOTAL_RAW).fill_null(False)


def _numeric(e: pl.Expr) -> pl.Expr:
    """ASCII digits, no spaces, no thousands separators, no currency sign."""
    return e.str.replace_many(_FULLWIDTH).str.replace_all(r"[\s,¥￥]", "")


def _numeric_series(raw: pl.Series) -> pl.Series:
    """:func:`_numeric` of a column, skipping each replacement that finds nothing."""
    t = raw
    if t.str.contains_any(list(_FULLWIDTH)).any():
        t = t.str.replace_many(_FULLWIDTH)
    if t.str.contains(r"[\s,¥￥]").any():
        t = t.str.replace_all(r"[\s,¥￥]", "")
    return t


INVISIBLE = r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
"""Characters that show as nothing (zero-width space/joiners, BOM, soft hyphen,
direction marks): pasted into a name they make a second, identical-looking name."""

PLACE_FIELDS = frozenset({"county", "township", "village", "village_group"})
"""Place names: NFKC-folded, so ``１组`` and ``1组`` are one group (and one list)."""


def _text_series(raw: pl.Series, compact: bool, fold: bool) -> pl.Series:
    s = raw
    if s.str.contains(INVISIBLE).any():
        s = s.str.replace_all(INVISIBLE, "")
    if fold:
        s = s.str.normalize("NFKC")
    if not compact:
        s = s.str.strip_chars()
    elif s.str.contains_any(list(WHITESPACE)).any():
        s = s.str.replace_all(r"[\s\u3000]+", "")
    return s.to_frame("t").select(blank_to_null(pl.col("t"))).to_series().rename(raw.name)


def parse_text(e: pl.Expr, compact: bool = False, fold: bool = False) -> pl.Expr:
    """Text without invisible characters, trimmed (``compact``: without any space),
    NFKC-folded (``fold``); blank → null.

    Runs per batch, each stage once and only when it finds something to change: as
    an eager expression the stages were computed twice (``blank_to_null``).
    """
    return e.map_batches(partial(_text_series, compact=compact, fold=fold), return_dtype=pl.String)


def parse_int(e: pl.Expr) -> pl.Expr:
    """``12``, ``12.0``, ``１２``, ``12人``, ``12个月`` → 12; anything else → null."""
    t = _numeric(e).str.replace(r"(人|户|个月|月|年|个|岁|次)$", "").str.replace(r"\.0*$", "")
    v = t.cast(pl.Int64, strict=False)
    return pl.when(v.abs() < 2**31).then(v).cast(pl.Int32)


def parse_year(e: pl.Expr) -> pl.Expr:
    """A four-digit year from ``2024``, ``2024年``, ``2024年度``, ``202401``,
    ``2024-01至2024-12`` (the start of a tax period), ``2024.0``."""
    t = _numeric(e)
    y = t.str.extract(
        r"^((?:19|20)\d{2})(?:(?:0[1-9]|1[0-2])(?:\d{2})?)?(?:\.0+)?(?:$|[年\-/.至~])", 1
    )
    return y.cast(pl.Int32, strict=False)


_WAN_SUFFIX = r"万元?$"


def _money_series(raw: pl.Series, wan_header: pl.Series | None = None) -> pl.Series:
    t = _numeric_series(raw)
    has_wan = t.str.contains(_WAN_SUFFIX)
    wan = has_wan
    if wan_header is not None:
        wan = wan | (wan_header.fill_null(False) & ~t.str.contains(r"元$"))
    v = t.str.replace(_WAN_SUFFIX, "") if has_wan.any() else t
    if v.str.ends_with("元").any():
        v = v.str.replace(r"元$", "")
    frame = pl.DataFrame({"v": v.cast(pl.Float64, strict=False), "wan": wan})
    v = pl.when(pl.col("wan")).then(pl.col("v") * 10_000).otherwise(pl.col("v"))
    return frame.select(v.round(2).cast(pl.Decimal(14, 2), strict=False)).to_series()


def parse_money(e: pl.Expr, wan_header: pl.Expr | None = None) -> pl.Expr:
    """Yuan → DECIMAL(14,2): ``1,234.50``, ``1234.5元``, ``￥１２３４``, ``3.5万元``.

    A value with a 万/万元 suffix is ×10000. ``wan_header`` flags rows read
    from a header in 万元 (``收入额(万元)``): their plain numbers are ×10000 too,
    a value written with an explicit ``元`` stays yuan.

    Runs per batch, each stage once (see :func:`parse_text`).
    """
    dtype = pl.Decimal(14, 2)
    if wan_header is None:
        return e.map_batches(_money_series, return_dtype=dtype)
    return pl.map_batches([e, wan_header], lambda s: _money_series(s[0], s[1]), return_dtype=dtype)


def parse_decimal(e: pl.Expr, col: Column) -> pl.Expr:
    """A measure with an optional unit suffix (㎡, 平方米; 万元 for a 万元 column).

    In a column counted in 万元 (``parse="wan"``, 注册资本(万元)) a value written
    in yuan (``5,000,000元``) is converted: ÷10000.
    """
    t = _numeric(e)
    yuan = pl.lit(False)
    if col.parse == "wan":
        yuan = t.str.contains(r"\d元$")
        t = t.str.replace(r"(万元|万|元)$", "")
    t = t.str.replace(r"(㎡|平方米|平米|m2|M2)$", "")
    v = t.cast(pl.Float64, strict=False)
    v = pl.when(yuan).then(v / 10_000).otherwise(v)
    if col.duckdb_type.startswith("DECIMAL"):
        precision, scale = (int(x) for x in col.duckdb_type[8:-1].split(","))
        return v.round(scale).cast(pl.Decimal(precision, scale), strict=False)
    return v


_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
"""Text every stage of :func:`_date_text` leaves as it is: read with the format alone."""


def _where(t: pl.Series, mask: pl.Series, change: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``t`` with ``change`` applied to the rows of ``mask`` only (the others are
    rows ``change`` leaves as they are): a replacement with groups is slow."""
    mask = mask.fill_null(False)
    if not mask.any():
        return t
    where = mask.arg_true()
    return t.clone().scatter(where, change(t.gather(where)))


def _date_text(raw: pl.Series) -> pl.Series:
    """The dates of a column of any of the styles :func:`parse_date` reads."""
    t = raw.str.replace_many(_FULLWIDTH).str.strip_chars()
    # Drop a time part: text without a T or a space is its own first part.
    t = _where(
        t,
        t.str.contains_any(["T", *WHITESPACE]),
        lambda p: p.str.replace(r"^(\S+?)(?:[T\s].*)?$", "${1}"),
    )
    t = t.str.replace(r"日$", "").str.replace_all(r"[年月/.]", "-")
    t = _where(  # 20240301
        t,
        t.str.contains(r"^\d{8}$"),
        lambda p: p.str.replace(r"^(\d{4})(\d{2})(\d{2})$", "${1}-${2}-${3}"),
    )
    serial = t.str.extract(r"^(\d{5})(?:\.\d+)?$", 1).cast(pl.Int64, strict=False)
    frame = pl.DataFrame({"t": t, "serial": serial})
    return frame.select(
        pl.when(pl.col("serial").is_not_null())
        .then(pl.lit(_EXCEL_EPOCH) + pl.duration(days=pl.col("serial")))
        .otherwise(pl.col("t").str.to_date("%Y-%m-%d", strict=False))
        .alias("d")
    ).to_series()


def _parse_date_series(raw: pl.Series) -> pl.Series:
    """:func:`parse_date` on a whole column, each stage materialised once; the
    (usual) ``2024-03-01`` rows skip the stages that would not change them."""
    d = raw.str.to_date("%Y-%m-%d", strict=False)
    other = ~raw.str.contains(_ISO_DATE).fill_null(False)
    if other.any():
        where = other.arg_true()
        d = d.scatter(where, _date_text(raw.gather(where)))
    return d.set(~d.is_between(_MIN_DATE, _MAX_DATE).fill_null(True), None).rename(raw.name)


def parse_date(e: pl.Expr) -> pl.Expr:
    """Dates in every style the contract lists.

    ``2024-03-01``, ``2024/3/1``, ``2024.3.1``, ``20240301``, ``2024年3月1日``,
    datetime text (``2024-03-01 10:00:00``, ``2024-03-01T10:00``) and an Excel
    serial day number that lost its date format (``45352``). Dates outside
    1900–2100 are treated as unreadable.

    Runs per batch (vectorised): as one expression every stage was re-evaluated
    inside the next, ~10x slower.
    """
    return e.map_batches(_parse_date_series, return_dtype=pl.Date)


_BOOL_KEYS = {str(k).upper(): v for k, v in YES_NO_VALUES.items()}


def parse_bool(e: pl.Expr, ticks: bool, inverted: pl.Expr | None) -> pl.Expr:
    """``是/否``, ``Y/N``, ``1/0``, ``√``…; in a √/blank column a blank is False.

    ``inverted`` flags rows read through an inverted header (住房是否安全).
    """
    t = squeeze(e).str.to_uppercase()
    b = t.replace_strict(_BOOL_KEYS, default=None, return_dtype=pl.Boolean)
    if ticks:
        b = pl.when(t.is_null() | (t == "")).then(pl.lit(False)).otherwise(b)
    if inverted is not None:
        b = pl.when(inverted.fill_null(False)).then(~b).otherwise(b)
    return b


def enum_mapping(col: Column) -> dict[str, str]:
    """Squeezed spelling → canonical value, over values and value aliases."""

    def key(s: str) -> str:
        return "".join(s.split()).replace("（", "(").replace("）", ")")

    mapping = {key(v): v for v in col.values}
    for alias, canonical in col.value_aliases.items():
        mapping.setdefault(key(alias), canonical)
    return mapping


def parse_enum(e: pl.Expr, col: Column) -> pl.Expr:
    """The canonical value, via value aliases; unknown spellings → null."""
    key = squeeze(e)
    v = key.replace_strict(enum_mapping(col), default=None, return_dtype=pl.String)
    for pattern, canonical in col.value_patterns:
        hit = key.str.contains(f"^(?:{pattern})$").fill_null(False)
        v = pl.when(v.is_null() & hit).then(pl.lit(canonical)).otherwise(v)
    if col.default is not None:
        v = pl.when(blank_to_null(e).is_null()).then(pl.lit(col.default)).otherwise(v)
    return v


def polars_dtype(col: Column) -> pl.DataType:
    """The Polars type of a column in the typed frame (mirrors ``Column.duckdb_type``)."""
    t = col.duckdb_type
    if t.startswith("DECIMAL"):
        precision, scale = (int(x) for x in t[8:-1].split(","))
        return pl.Decimal(precision, scale)
    return {
        "VARCHAR": pl.String(),
        "INTEGER": pl.Int32(),
        "DOUBLE": pl.Float64(),
        "DATE": pl.Date(),
        "BOOLEAN": pl.Boolean(),
    }[t]
