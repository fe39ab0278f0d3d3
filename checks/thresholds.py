"""Rule thresholds: ``checks/thresholds.toml`` loaded into a typed, validated object.

The office edits the TOML file, never the code. Every key must be present and
no unknown key is accepted (a typo must not silently fall back to a default);
a wrong value stops the load with :class:`ThresholdsError` naming the key and
what is wrong, in Chinese and English.

Path precedence: explicit argument > ``$BIDUI_THRESHOLDS`` > the file next to
this module.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bidui.config import FEEDS

DEFAULT_PATH = Path(__file__).with_name("thresholds.toml")
SEVERITIES = ("high", "medium", "low")


class ThresholdsError(ValueError):
    """The thresholds file is missing, unreadable or has a wrong value."""


@dataclass(frozen=True)
class FeedQuality:
    """Feed-quality thresholds (rules.md §C), read by the dashboard checks."""

    volume_tolerance: float
    max_reject_rate: float
    min_hukou_match_rate: float
    default_max_age_days: int
    max_age_days: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """Every configurable value of the rule catalogue."""

    income_lines: dict[int, Decimal]
    """Year → 元/人·年; a year not listed uses the latest earlier year's line."""
    arithmetic_tolerance_yuan: Decimal
    excess_percent: Decimal
    excess_min_yuan: Decimal
    car_types_include: tuple[str, ...]
    car_types_exclude: tuple[str, ...]
    individual_capital_10k: Decimal
    compulsory_education_age: tuple[int, int]
    pension_working_age: tuple[int, int]
    grade_tolerance_years: int
    max_households_per_number: int
    due_days: dict[str, int]
    feed_quality: FeedQuality
    source: str = ""
    """Path the values were read from (for logs and check metadata)."""

    def income_line(self, year: int) -> Decimal | None:
        """The line in force in ``year``; None before the first configured year."""
        years = [y for y in self.income_lines if y <= year]
        return self.income_lines[max(years)] if years else None

    def sql_params(self, year: int) -> dict[str, Any]:
        """Every value a rule's SQL may bind, by ``$name``, for the working year.

        The engine binds only the names a rule's SQL mentions (DuckDB rejects
        extra named parameters). ``None`` means "not configured for this year":
        a rule that needs it does not run.
        """
        return {
            "year": year,
            "income_tolerance": self.arithmetic_tolerance_yuan,
            "income_line": self.income_line(year),
            "excess_ratio": self.excess_percent / Decimal(100),
            "excess_min": self.excess_min_yuan,
            "car_include": list(self.car_types_include),
            "car_exclude": list(self.car_types_exclude),
            "capital_min_10k": self.individual_capital_10k,
            "school_age_min": self.compulsory_education_age[0],
            "school_age_max": self.compulsory_education_age[1],
            "pension_age_min": self.pension_working_age[0],
            "pension_age_max": self.pension_working_age[1],
            "grade_tolerance": self.grade_tolerance_years,
            "phone_max_households": self.max_households_per_number,
        }


# --- validation helpers: each names the key and the problem -----------------------


def _fail(key: str, zh: str, en: str, value: Any = None) -> ThresholdsError:
    got = "" if value is None else f" (got {value!r})"
    return ThresholdsError(f"阈值配置错误 [{key}]：{zh} / invalid threshold {key}: {en}{got}")


def _table(data: dict, key: str, expected: set[str]) -> dict:
    value = data.get(key.rsplit(".", 1)[-1])
    if not isinstance(value, dict):
        raise _fail(key, "缺少此节或格式不对", "missing section or not a table", value)
    missing = sorted(expected - set(value))
    unknown = sorted(set(value) - expected)
    if unknown:
        # A misspelt key is both unknown and missing: name the spelling the file used.
        hint_zh = f"，应为 {missing[0]}" if missing else ""
        hint_en = f", expected {missing[0]}" if missing else ""
        raise _fail(
            f"{key}.{unknown[0]}",
            f"未知的配置项（是否拼写错误？{hint_zh}）",
            f"unknown key (typo?{hint_en})",
        )
    if missing:
        raise _fail(f"{key}.{missing[0]}", "缺少此项", "missing key")
    return value


def _number(
    section: dict,
    sect: str,
    name: str,
    *,
    integer: bool = False,
    minimum: float = 0,
    maximum: float | None = None,
    strict_min: bool = False,
):
    key = f"{sect}.{name}"
    value = section[name]
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        kind_zh, kind_en = ("整数", "an integer") if integer else ("数字", "a number")
        raise _fail(key, f"应为{kind_zh}", f"must be {kind_en}", value)
    too_low = value <= minimum if strict_min else value < minimum
    if too_low or (maximum is not None and value > maximum):
        rng = f"{'>' if strict_min else '>='} {minimum}" + (
            f" and <= {maximum}" if maximum is not None else ""
        )
        raise _fail(key, f"取值超出范围（应 {rng}）", f"out of range (must be {rng})", value)
    return value


def _range(section: dict, sect: str, name: str) -> tuple[int, int]:
    key = f"{sect}.{name}"
    value = section[name]
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 0 <= value[0] <= value[1] <= 150
    ):
        raise _fail(
            key,
            "应为两个整数 [最小, 最大]，且 0 ≤ 最小 ≤ 最大",
            "must be [min, max] integers with 0 <= min <= max",
            value,
        )
    return value[0], value[1]


def _patterns(section: dict, sect: str, name: str, *, allow_empty: bool) -> tuple[str, ...]:
    value = section[name]
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and v.strip() for v in value)
        or (not value and not allow_empty)
    ):
        raise _fail(
            f"{sect}.{name}",
            "应为文字列表，每项不能为空" + ("" if allow_empty else "，且至少一项"),
            "must be a list of non-empty strings" + ("" if allow_empty else ", at least one"),
            value,
        )
    return tuple(v.strip() for v in value)


def _decimal(value: int | float) -> Decimal:
    # str() keeps 0.1 as 0.1 rather than its binary expansion.
    return Decimal(str(value))


def parse_thresholds(data: dict, source: str = "") -> Thresholds:
    """Validate a parsed TOML document and build :class:`Thresholds`."""
    root_keys = {
        "income_line",
        "income",
        "vehicles",
        "business",
        "age",
        "phone",
        "due_days",
        "feed_quality",
    }
    unknown = sorted(set(data) - root_keys)
    if unknown:
        raise _fail(unknown[0], "未知的配置节（是否拼写错误？）", "unknown section (typo?)")

    lines_raw = data.get("income_line")
    if not isinstance(lines_raw, dict) or not lines_raw:
        raise _fail("income_line", "缺少此节或为空", "missing or empty section", lines_raw)
    lines: dict[int, Decimal] = {}
    for year_text in lines_raw:
        if not (year_text.isdigit() and 2000 <= int(year_text) <= 2100):
            raise _fail(
                f"income_line.{year_text}",
                "年度应为 2000–2100 的四位数字",
                "year must be a four-digit year 2000-2100",
            )
        value = _number(lines_raw, "income_line", year_text, strict_min=True)
        lines[int(year_text)] = _decimal(value)

    income = _table(
        data, "income", {"arithmetic_tolerance_yuan", "excess_percent", "excess_min_yuan"}
    )
    vehicles = _table(data, "vehicles", {"car_types_include", "car_types_exclude"})
    business = _table(data, "business", {"individual_capital_10k"})
    age = _table(
        data, "age", {"compulsory_education", "pension_working_age", "grade_tolerance_years"}
    )
    phone = _table(data, "phone", {"max_households_per_number"})
    due = _table(data, "due_days", set(SEVERITIES))
    fq = _table(
        data,
        "feed_quality",
        {
            "volume_tolerance",
            "max_reject_rate",
            "min_hukou_match_rate",
            "default_max_age_days",
            "max_age_days",
        },
    )
    ages = fq["max_age_days"]
    if not isinstance(ages, dict):
        raise _fail(
            "feed_quality.max_age_days",
            "应为一节（部门 = 天数）",
            "must be a table of feed = days",
            ages,
        )
    unknown_feeds = sorted(set(ages) - set(FEEDS))
    if unknown_feeds:
        raise _fail(
            f"feed_quality.max_age_days.{unknown_feeds[0]}",
            "未知的数据源名称（应为 " + "、".join(FEEDS) + " 之一）",
            "unknown feed (must be one of " + ", ".join(FEEDS) + ")",
        )
    max_age_days = {
        feed: _number(ages, "feed_quality.max_age_days", feed, integer=True, strict_min=True)
        for feed in ages
    }

    return Thresholds(
        income_lines=dict(sorted(lines.items())),
        arithmetic_tolerance_yuan=_decimal(_number(income, "income", "arithmetic_tolerance_yuan")),
        excess_percent=_decimal(_number(income, "income", "excess_percent", maximum=1000)),
        excess_min_yuan=_decimal(_number(income, "income", "excess_min_yuan")),
        car_types_include=_patterns(vehicles, "vehicles", "car_types_include", allow_empty=False),
        car_types_exclude=_patterns(vehicles, "vehicles", "car_types_exclude", allow_empty=True),
        individual_capital_10k=_decimal(_number(business, "business", "individual_capital_10k")),
        compulsory_education_age=_range(age, "age", "compulsory_education"),
        pension_working_age=_range(age, "age", "pension_working_age"),
        grade_tolerance_years=_number(
            age, "age", "grade_tolerance_years", integer=True, maximum=30
        ),
        max_households_per_number=_number(
            phone, "phone", "max_households_per_number", integer=True, strict_min=True
        ),
        due_days={
            s: _number(due, "due_days", s, integer=True, strict_min=True, maximum=3650)
            for s in SEVERITIES
        },
        feed_quality=FeedQuality(
            volume_tolerance=float(_number(fq, "feed_quality", "volume_tolerance", maximum=10)),
            max_reject_rate=float(_number(fq, "feed_quality", "max_reject_rate", maximum=1)),
            min_hukou_match_rate=float(
                _number(fq, "feed_quality", "min_hukou_match_rate", maximum=1)
            ),
            default_max_age_days=_number(
                fq, "feed_quality", "default_max_age_days", integer=True, strict_min=True
            ),
            max_age_days=max_age_days,
        ),
        source=source,
    )


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
