"""Feed specifications: the data contract as data.

Each feed module declares a :class:`FeedSpec`; the warehouse DDL, header
detection, alias mapping, type coercion and the pandera schema all derive from it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import polars as pl

Kind = Literal["text", "int", "money", "decimal", "date", "bool", "enum", "id"]

SQL_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "id": "VARCHAR",
    "int": "INTEGER",
    "money": "DECIMAL(14,2)",
    "decimal": "DOUBLE",
    "date": "DATE",
    "bool": "BOOLEAN",
}

OWN_DEPARTMENT = "本系统"
"""The office's own system (the register, the village statistics); every other
``department_zh`` is a department whose feed rules compare the register with."""

METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("load_id", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("sheet", "VARCHAR"),
    ("row_number", "INTEGER"),
)


def normalise_header(text: object) -> str:
    """Fold the spelling differences headers arrive with.

    Full-width brackets and spaces, line breaks inside cells and a trailing unit
    in brackets are not meaningful: ``家庭纯收入（元）`` ≡ ``家庭纯收入(元)``.
    """
    s = "" if text is None else str(text)
    s = s.replace("（", "(").replace("）", ")").replace("、", "、")
    return re.sub(r"[\s\u3000]+", "", s)


@dataclass(frozen=True)
class Column:
    """One column of a feed: canonical header, field name, type, aliases."""

    field: str
    header: str
    kind: Kind = "text"
    aliases: tuple[str, ...] = ()
    required: bool = False
    """A row without a usable value here cannot be placed and is rejected."""
    header_required: bool = True
    """The header must be found in the file; a file missing it fails to load."""
    values: tuple[str, ...] = ()
    """Canonical values of an enum column."""
    value_aliases: dict[str, str] = field(default_factory=dict)
    """Enum spellings seen in practice → canonical value."""
    value_patterns: tuple[tuple[str, str], ...] = ()
    """(regex, canonical value): enum spellings matched by pattern (full match on the
    text without spaces), tried in order when no value or value alias matches
    (national codes ``0201``…``0299`` → 因灾)."""
    inverted_aliases: tuple[str, ...] = ()
    """Header aliases whose yes/no meaning is the opposite of the field's."""
    default: str | None = None
    sql_type: str | None = None
    parse: Literal["year", "wan"] | None = None
    """``year``: take a four-digit year out of texts like ``2024年`` or
    ``2024-01至2024-12`` (税款所属期) instead of requiring a bare integer.
    ``wan``: a decimal counted in 万元; ``500万``/``500万元`` → 500, a value in
    yuan (``5,000,000元``) → 500."""
    compact: bool = False
    """Remove every space inside the value (person names: ``张  三`` → ``张三``)."""
    earliest: int | dt.date | None = None
    """Lower bound the feed's expectation suite checks: a year column's first
    plausible year (default 1990), a date column's earliest date (default none)."""
    int_range: tuple[int, int] | None = None
    """Plausible inclusive range of a count column (default: not negative)."""
    positive: bool = False
    """A decimal that must be greater than 0 (an area), not merely not negative."""
    certificate_when: tuple[str, str] | None = None
    """ID column: (field, value) — rows whose ``field`` reads ``value`` (证件类型
    残疾人证) hold a 残疾人证号 here, whose first 18 characters are the ID number
    (``core.idcard.CERTIFICATE_PATTERN``); the whole number stays in ``X_raw``."""

    @property
    def is_year(self) -> bool:
        """An integer year (``2024``, ``2024年``…): checked against the run year."""
        return self.kind == "int" and self.parse == "year"

    @property
    def all_headers(self) -> tuple[str, ...]:
        return (self.header, *self.aliases, *self.inverted_aliases)

    @property
    def duckdb_type(self) -> str:
        return self.sql_type or SQL_TYPES[self.kind]


@dataclass(frozen=True)
class FeedSpec:
    """A feed: its folder under the inbox, department and columns."""

    name: str
    title_zh: str
    department_zh: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...] = ()
    """Fields that identify a record; uniqueness is a feed-quality check."""
    year_from_file_name: str | None = None
    """Field filled from a four-digit year 20xx in the file name when the column
    is absent or blank (the register and village statistics, one file per year)."""
    summary_row: Callable[[dict[str, pl.Expr]], pl.Expr] | None = None
    """Feed-specific test for a 合计/总计 row, given an expression per field that
    tells whether the cell is blank or a total word; default: any cell is one."""
    finish: Callable[[pl.DataFrame], pl.DataFrame] | None = None
    """Feed-specific derivation on the typed frame before validation."""
    ids_block_rows: bool = True
    """A row whose ID number has a problem cannot be joined and is rejected
    (department feeds); the register loads it for the ``id_invalid`` rule."""
    natural_key_blank_is_value: bool = False
    """A blank part of the natural key is a value, so the row still counts for
    uniqueness (a village total has no group); by default such a row cannot
    identify a record and is left out of the uniqueness expectation."""
    once_a_year_key: str | None = None
    """SQL key of a record that appears once a year (a person in the register, a village
    group in the village statistics): two files of one year sharing most keys are two
    versions of one list and the older is superseded (warehouse.ingest). None for feeds
    whose files of one year share persons legitimately (tax, 人社: one file per half-year)."""
    date_order: tuple[tuple[str, str], ...] = ()
    """(later, earlier) date fields of one record: the later is never before the
    earlier (an expectation of the feed's suite)."""
    value_routes: tuple[tuple[str, str], ...] = ()
    """(field, alternative): one header shared by two fields of different generations
    of an export, decided per file from the values. The header is mapped to ``field``;
    when more of the file's values are the alternative's enum values than the field's,
    the column is read as ``alternative`` (户类型: 一般户/低保户 of the 建档立卡 years
    → household_type; 脱贫户/监测户 of today's export → household_kind)."""

    def __post_init__(self) -> None:
        if self.is_department_feed and len(self.id_columns) != 1:
            raise ValueError(f"department feed {self.name} needs exactly one ID column")
        fields = {c.field for c in self.columns}
        for pair in self.date_order + self.value_routes:
            assert set(pair) <= fields, (self.name, pair)
        assert set(self.natural_key) <= fields, (self.name, self.natural_key)

    @property
    def is_department_feed(self) -> bool:
        """A feed from another department (not :data:`OWN_DEPARTMENT`)."""
        return self.department_zh != OWN_DEPARTMENT

    @property
    def join_id(self) -> str:
        """The ID column rules join a department feed's rows on."""
        if not self.is_department_feed:
            raise ValueError(f"{self.name} is not a department feed")
        return self.id_columns[0].field

    def column(self, field_name: str) -> Column:
        for c in self.columns:
            if c.field == field_name:
                return c
        raise KeyError(f"{self.name} has no column {field_name!r}")

    @property
    def id_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.kind == "id")

    @property
    def header_index(self) -> dict[str, Column]:
        """Normalised header text → column, over canonical headers and aliases."""
        index: dict[str, Column] = {}
        for c in self.columns:
            for h in c.all_headers:
                index.setdefault(normalise_header(h), c)
        return index

    def normalised_columns(self) -> list[tuple[str, str]]:
        """(name, DuckDB type) of the typed table, metadata first."""
        cols: list[tuple[str, str]] = list(METADATA_COLUMNS)
        for c in self.columns:
            cols.append((c.field, c.duckdb_type))
            if c.kind == "id":
                cols += [(f"{c.field}_raw", "VARCHAR"), (f"{c.field}_problem", "VARCHAR")]
        return cols

    def raw_columns(self) -> list[tuple[str, str]]:
        """(name, type) of the raw table: every field as text, plus unmapped columns."""
        cols: list[tuple[str, str]] = list(METADATA_COLUMNS)
        cols += [(c.field, "VARCHAR") for c in self.columns]
        cols.append(("extra_columns", "JSON"))
        return cols


YES_NO_VALUES = {
    "是": True,
    "否": False,
    "Y": True,
    "N": False,
    "y": True,
    "n": False,
    "1": True,
    "0": False,
    "√": True,
    "✓": True,
    "×": False,
    "有": True,
    "无": False,
    "TRUE": True,
    "FALSE": False,
    "True": True,
    "False": False,
}
"""Yes/no spellings. A blank cell is *unknown* except in √/blank columns (see loader)."""


# The year and place columns the register and the village statistics share.
YEAR_AND_PLACE_COLUMNS = (
    Column(
        "year",
        "年度",
        "int",
        aliases=("统计年度",),
        header_required=False,
        required=True,
        parse="year",
        earliest=2013,  # 建档立卡 starts with the 2013 line
    ),
    Column("county", "县(市、区)", aliases=("县", "区县", "县区")),
    Column("township", "乡(镇)", aliases=("乡镇", "乡镇(街道)", "乡(镇、街道)"), required=True),
    Column("village", "行政村", aliases=("村", "村(社区)", "行政村(社区)"), required=True),
    Column("village_group", "自然村(组)", aliases=("组", "村民小组", "自然村")),
)
