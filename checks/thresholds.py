"""Rule thresholds: ``checks/thresholds.toml`` loaded into a typed, validated object.

The office edits the TOML file, never the code. The pydantic models below are
the file's schema: a TOML key is a model field, and a field a rule's SQL binds
declares its ``$param`` name once, next to the field (:class:`Sql`), so
:meth:`Thresholds.sql_params` is derived rather than written by hand. Every key
must be present and no unknown key is accepted (a typo must not silently fall
back to a default); every problem in the file is reported at once, by dotted
key, in Chinese and English, as one :class:`ThresholdsError`.

Path precedence: explicit argument > ``$BIDUI_THRESHOLDS`` > the file next to
this module.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    with_config,
)
from pydantic.dataclasses import dataclass
from typing_extensions import TypedDict

from checks.rules.base import SEVERITIES
from department_feeds import FEEDS

DEFAULT_PATH = Path(__file__).with_name("thresholds.toml")


class ThresholdsError(ValueError):
    """The thresholds file is missing, unreadable or has a wrong value."""


class Sql:
    """Field metadata: the ``$param`` name(s) a rule's SQL binds this value as.

    Two names split a ``[min, max]`` pair; ``convert`` adapts the unit.
    """

    def __init__(self, *names: str, convert: Callable[[Any], Any] | None = None) -> None:
        self.names = names
        self.convert = convert

    def bind(self, value: Any) -> dict[str, Any]:
        value = self.convert(value) if self.convert else value
        if len(self.names) == 1:
            return {self.names[0]: value}
        return dict(zip(self.names, value, strict=True))


def _number(value: Any) -> Any:
    # TOML gives int or float; a bool or "10万" is a mistake, not a number.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    # str() keeps 0.1 as 0.1 rather than its binary expansion.
    return Decimal(str(value))


def _real(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return float(value)


Yuan = Annotated[Decimal, BeforeValidator(_number), Field(ge=0)]
Real = Annotated[float, BeforeValidator(_real)]
Rate = Annotated[float, BeforeValidator(_real), Field(ge=0, le=1)]
Days = Annotated[StrictInt, Field(gt=0)]
Pattern = Annotated[str, Field(min_length=1, pattern=r"\S")]
Year = Annotated[int, Field(ge=2000, le=2100)]
FeedName = Literal[FEEDS]  # type: ignore[valid-type]


def _age_range(value: Any) -> tuple[int, int]:
    # Checked whole, so the error names the key rather than an index inside it.
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 0 <= value[0] <= value[1] <= 150
    ):
        raise ValueError("must be [min, max] integers with 0 <= min <= max <= 150")
    return value[0], value[1]


AgeRange = Annotated[tuple[int, int], BeforeValidator(_age_range)]


# Pydantic dataclasses, not BaseModel: callers and tests use dataclasses.replace.
_section = dataclass(frozen=True, config=ConfigDict(extra="forbid", populate_by_name=True))


@_section
class Income:
    arithmetic_tolerance_yuan: Annotated[Yuan, Sql("income_tolerance")]
    excess_percent: Annotated[
        Yuan, Field(le=1000), Sql("excess_ratio", convert=lambda p: p / Decimal(100))
    ]
    excess_min_yuan: Annotated[Yuan, Sql("excess_min")]


@_section
class Vehicles:
    car_types_include: Annotated[
        tuple[Pattern, ...], Field(min_length=1), Sql("car_include", convert=list)
    ]
    car_types_exclude: Annotated[tuple[Pattern, ...], Sql("car_exclude", convert=list)]

    @field_validator("car_types_include", "car_types_exclude")
    @classmethod
    def _strip(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip() for v in value)


@_section
class Business:
    individual_capital_10k: Annotated[Yuan, Sql("capital_min_10k")]


@_section
class Age:
    compulsory_education: Annotated[AgeRange, Sql("school_age_min", "school_age_max")]
    pension_working_age: Annotated[AgeRange, Sql("pension_age_min", "pension_age_max")]
    grade_tolerance_years: Annotated[StrictInt, Field(ge=0, le=30), Sql("grade_tolerance")]


@_section
class Phone:
    max_households_per_number: Annotated[StrictInt, Field(gt=0), Sql("phone_max_households")]


@_section
class Monitoring:
    """Rules D (防返贫监测): the *(config)* values of monitoring.md §3."""

    elimination_min_months: Annotated[StrictInt, Field(gt=0, le=120), Sql("elimination_min_months")]
    identified_income_max_yuan: Annotated[Yuan, Sql("identified_income_max")]
    measure_grace_days: Annotated[StrictInt, Field(ge=0, le=3650), Sql("measure_grace_days")]


@_section
class EarlyWarning:
    """Rules E (部门筛查预警): the *(config)* values of monitoring.md §4–§5."""

    rural_income_yuan: Annotated[Yuan, Sql("rural_income")]
    """The province's rural per-capita disposable income, the base of high_medical_cost."""
    monitored_cost_percent: Annotated[StrictInt, Field(gt=0, le=1000), Sql("monitored_cost_pct")]
    others_cost_percent: Annotated[StrictInt, Field(gt=0, le=1000), Sql("others_cost_pct")]
    new_disability_months: Annotated[StrictInt, Field(gt=0, le=120), Sql("new_disability_months")]
    visit_days: Annotated[StrictInt, Field(gt=0, le=3650)]
    """核实时限 of the 监测预警核实清单: first seen + this many days."""


# Days to rectify after first found, one key per severity of the catalogue (a
# plain dict for callers).
DueDays = with_config(ConfigDict(extra="forbid"))(
    TypedDict(  # type: ignore[misc]
        "DueDays", {s: Annotated[StrictInt, Field(gt=0, le=3650)] for s in SEVERITIES}
    )
)


@_section
class FeedQuality:
    """Feed-quality thresholds (rules.md §C), read by the dashboard checks."""

    volume_tolerance: Annotated[Real, Field(ge=0, le=10)]
    max_reject_rate: Rate
    min_hukou_match_rate: Rate
    default_max_age_days: Days
    max_age_days: dict[FeedName, Days]


@_section
class Thresholds:
    """Every configurable value of the rule catalogue, sectioned as in the TOML file."""

    income_lines: Annotated[
        dict[Year, Annotated[Decimal, BeforeValidator(_number), Field(gt=0)]],
        Field(alias="income_line", min_length=1),
    ]
    """Year → 元/人·年; a year not listed uses the latest earlier year's line."""
    income: Income
    vehicles: Vehicles
    business: Business
    age: Age
    phone: Phone
    monitoring: Monitoring
    early_warning: EarlyWarning
    due_days: DueDays
    feed_quality: FeedQuality
    source: str = Field("", alias=" source")
    """Path the values were read from (for logs and check metadata). The alias is no
    key a file would use; the file is validated by alias only, so ``source`` (or
    ``income_lines``) in the TOML is an unknown key."""

    def income_line(self, year: int) -> Decimal | None:
        """The line in force in ``year``; None before the first configured year."""
        years = [y for y in self.income_lines if y <= year]
        return self.income_lines[max(years)] if years else None

    def income_line_note(self, year: int) -> str | None:
        """The warning for a year without its own line, which uses an earlier one:
        ``2024 年监测范围未配置，沿用 2021 年 6000 元``; None when ``year`` is listed
        (or no earlier line exists: then the rules binding it do not run)."""
        years = [y for y in self.income_lines if y <= year]
        if not years or year in self.income_lines:
            return None
        used = max(years)
        line = self.income_lines[used]
        shown = f"{line:.2f}" if line % 1 else f"{int(line)}"
        return f"{year} 年监测范围未配置，沿用 {used} 年 {shown} 元"

    def sql_params(self, year: int, run_date: date | None = None) -> dict[str, Any]:
        """Every value a rule's SQL may bind, by ``$name``, for the working year
        (and ``$run_date``, the date of the run, for the grace periods).

        The engine binds only the names a rule's SQL mentions (DuckDB rejects
        extra named parameters). ``None`` means "not configured for this year":
        a rule that needs it does not run.
        """
        params: dict[str, Any] = {
            "year": year,
            "run_date": run_date,
            "income_line": self.income_line(year),
        }
        for section, name, sql in sql_fields():
            params |= sql.bind(getattr(getattr(self, section), name))
        return params


def sql_fields() -> Iterator[tuple[str, str, Sql]]:
    """(section, field, Sql) for every field a rule's SQL binds."""
    for section, info in Thresholds.__pydantic_fields__.items():
        model = info.annotation
        if not hasattr(model, "__pydantic_fields__"):
            continue
        for name, field in model.__pydantic_fields__.items():
            for meta in field.metadata:
                if isinstance(meta, Sql):
                    yield section, name, meta


_ADAPTER = TypeAdapter(Thresholds)


# --- error messages: every problem at once, by dotted key, Chinese and English ----

_ZH = {
    "missing": "缺少此项",
    "extra_forbidden": "未知的配置项（是否拼写错误？）",
    "int_type": "应为整数",
    "int_parsing": "年度应为 2000–2100 的四位数字",
    "too_short": "不能为空",
    "literal_error": "未知的数据源名称（应为 " + "、".join(FEEDS) + " 之一）",
    "dict_type": "应为一节（名称 = 值）",
    "dataclass_type": "应为一节（名称 = 值）",
    "tuple_type": "应为列表",
    "string_type": "应为文字",
    "string_pattern_mismatch": "不能为空白",
}


_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_EN = {"missing": "missing key", "extra_forbidden": "unknown key (typo?)"}


def _zh(err: dict) -> str:
    kind, msg = err["type"], err["msg"]
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = " ".join(f"{_BOUNDS[k]} {v}" for k, v in err.get("ctx", {}).items())
        return f"取值超出范围（应 {bound}）"
    if kind == "value_error":
        return "应为数字" if "number" in msg else "应为两个整数 [最小, 最大]，且 0 ≤ 最小 ≤ 最大"
    return _ZH.get(kind, "格式不对")


def _key(loc: tuple) -> str:
    # Dict-key errors end in "[key]"; the key itself already names the place.
    return ".".join(str(p) for p in loc if p != "[key]")


# Dataclass spellings of the same two errors.
_SAME = {"missing_argument": "missing", "unexpected_keyword_argument": "extra_forbidden"}


def _got(err: dict) -> str:
    if err["type"] == "missing" or "input" not in err:
        return ""
    got = repr(err["input"])
    return f" (got {got if len(got) <= 60 else got[:57] + '...'})"


def _format(exc: ValidationError) -> str:
    errors = [{**e, "type": _SAME.get(e["type"], e["type"])} for e in exc.errors(include_url=False)]

    def by_parent(kind: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in errors:
            if e["type"] == kind:
                out.setdefault(_key(e["loc"][:-1]), []).append(_key(e["loc"]))
        return out

    missing, unknown = by_parent("missing"), by_parent("extra_forbidden")
    # One unknown and one missing key in a section: a misspelling; name the key expected.
    hints = {
        unknown[p][0]: missing[p][0]
        for p in unknown
        if len(unknown[p]) == 1 and len(missing.get(p, ())) == 1
    }
    zh, en = [], []
    for err in errors:
        key = _key(err["loc"])
        hint_zh = hint_en = ""
        if expected := hints.get(key):
            hint_zh, hint_en = f"，应为 {expected}", f" (expected {expected})"
        msg = _EN.get(err["type"], err["msg"].removeprefix("Value error, "))
        got = _got(err)
        zh.append(f"[{key}]：{_zh(err)}{hint_zh}")
        en.append(f"{key}: {msg}{hint_en}{got}")
    return f"阈值配置错误 {'；'.join(zh)} / invalid threshold {'; '.join(en)}"


def parse_thresholds(data: dict, source: str = "") -> Thresholds:
    """Validate a parsed TOML document and build :class:`Thresholds`."""
    try:
        return _ADAPTER.validate_python({**data, " source": source}, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ThresholdsError(_format(exc)) from None


def resolve_path(path: str | os.PathLike | None = None) -> Path:
    """Explicit path, else ``$BIDUI_THRESHOLDS``, else the packaged default."""
    chosen = path or os.environ.get("BIDUI_THRESHOLDS") or DEFAULT_PATH
    return Path(chosen).expanduser()


def load_thresholds(path: str | os.PathLike | None = None) -> Thresholds:
    """Read and validate the thresholds file (see module docstring for the path)."""
    p = resolve_path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ThresholdsError(
            f"阈值配置文件无法读取 / cannot read thresholds file {p}: {exc}"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdsError(
            f"阈值配置文件格式错误 / thresholds file {p} is not valid TOML: {exc}"
        ) from exc
    try:
        return parse_thresholds(data, source=str(p))
    except ThresholdsError as exc:
        raise ThresholdsError(f"{p}: {exc}") from None
