"""In-memory model of the demo county: people, households, register rows.

The model holds *semantic* values (canonical enums, ints, booleans, dates);
messiness is added only when files are rendered. The truth oracle reads the
model, so what the files say after normalisation is exactly what the oracle saw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from department_feeds.register import CURRENT_STATUSES, EXITED_STATUSES

if TYPE_CHECKING:  # for type hints only: demo.county imports this module
    from demo.county import Person

CURRENT = CURRENT_STATUSES
EXITED = EXITED_STATUSES

INCOME_LINES = {
    2013: 2736,
    2014: 2800,
    2015: 2855,
    2016: 3000,
    2017: 3335,
    2018: 3500,
    2019: 3750,
    2020: 4000,
    2021: 6000,
}

CN_NUM = "一二三四五六"
JUNIOR = ("七年级", "八年级", "九年级")
MIGRANT_WORK = ("乡(镇)内务工", "乡(镇)外县内务工", "县外省内务工", "省外务工")


def income_line(year: int) -> int:
    """The year's line: the latest configured year not after ``year``."""
    return INCOME_LINES[max(y for y in INCOME_LINES if y <= year)] if year >= 2013 else 2736


def age_at(birth: dt.date, on: dt.date) -> int:
    """Completed years (周岁) on a date; a birthday on that date counts."""
    return on.year - birth.year - ((birth.month, birth.day) > (on.month, on.day))


def age_sep1(birth: dt.date, year: int) -> int:
    """Age at 1 September of ``year`` (school rules)."""
    return age_at(birth, dt.date(year, 9, 1))


def age_dec31(birth: dt.date, year: int) -> int:
    """Age at 31 December of ``year`` (all other rules)."""
    return year - birth.year


def grade_name(g: int, track: str) -> str:
    """School status for grade index ``g`` (1 = 小学一年级) on a track."""
    if 1 <= g <= 6:
        return f"小学{CN_NUM[g - 1]}年级"
    if 7 <= g <= 9:
        return JUNIOR[g - 7]
    if 10 <= g <= 12:
        return f"{'中职' if track in ('vocational', 'highvoc') else '高中'}{CN_NUM[g - 10]}年级"
    if 13 <= g <= 15 and track in ("college", "highvoc"):
        return f"{'高职' if track == 'highvoc' else '大专'}{CN_NUM[g - 13]}年级"
    if 13 <= g <= 16 and track in ("bachelor", "master"):
        return f"本科{CN_NUM[g - 13]}年级"
    if 17 <= g <= 19 and track == "master":
        return "研究生"
    raise ValueError(f"grade {g} not on track {track}")


TRACK_MAX = {
    "none": 0,
    "primary": 6,
    "junior": 9,
    "senior": 12,
    "vocational": 12,
    "college": 15,
    "highvoc": 15,
    "bachelor": 16,
    "master": 19,
}
TRACK_EDUCATION = {
    "none": "文盲或半文盲",
    "primary": "小学",
    "junior": "初中",
    "senior": "高中",
    "vocational": "中专",
    "college": "大专及以上",
    "highvoc": "大专及以上",
    "bachelor": "大专及以上",
    "master": "大专及以上",
}


def typical_age(status: str) -> tuple[int, int] | None:
    """Typical age range of a school status (rules.md, age_school_mismatch)."""
    if status == "学前教育":
        return (3, 6)
    if status.startswith("小学"):
        a = 5 + CN_NUM.index(status[2]) + 1
        return (a, a)
    if status in JUNIOR:
        a = 12 + JUNIOR.index(status)
        return (a, a)
    for prefix, base in (("高中", 15), ("中职", 15), ("高职", 18), ("大专", 18), ("本科", 18)):
        if status.startswith(prefix):
            a = base + CN_NUM.index(status[2])
            return (a, a)
    return None


@dataclass(slots=True, eq=False)
class Member:
    """One register row: a person in a household in one year."""

    person: Person  # demo.county.Person
    relation: str
    name: str
    id_number: str  # normalised value (or the cleaned invalid value)
    id_raw: object  # what the file holds: str, or int for an Excel number
    id_problem: str | None
    id_type: str
    gender: str
    person_id: str
    education: str
    school_status: str
    health: str
    labour_skill: str
    work_status: str
    work_months: int
    med: bool
    crit: bool
    pension: bool
    overrides: dict | None = None  # household-level columns that disagree on this row
    # person-level columns of today's export (防返贫监测); the legacy one has none of them
    dibao_status: str = "未享受"
    destitute_status: str = "未享受"
    emp_med: bool = False  # 城镇职工基本医疗保险
    emp_pension: bool = False  # 城镇职工基本养老保险
    self_paid: float | None = None  # 合规自付支出


@dataclass(slots=True, eq=False)
class Monitoring:
    """A household's 防返贫监测 record (today's export), the same in every year's file
    except that a year before 识别监测时间 shows no monitoring and a year before
    消除监测时间 shows the risk as not eliminated."""

    category: str | None = None  # 监测对象类别; None: not monitored
    mon_from: dt.date | None = None  # 识别监测时间
    eliminated: bool | None = None  # 风险是否已消除; None: left blank (= not eliminated)
    mon_to: dt.date | None = None  # 消除监测时间
    mode: str | None = None  # 风险消除方式
    risks: list[str] = field(default_factory=list)  # 致贫/返贫风险1–5, as words
    codes: bool = False  # risks written as national codes (01, 0201 …)
    measures: dict[str, str] = field(default_factory=dict)  # measure field → its text
    safety_net: bool = False  # 整户无劳动能力兜底保障户
    touched: bool = False  # a rule D problem or near miss was planted here

    def view(self, year: int, exit_year: int | None) -> tuple[str, str | None, bool | None]:
        """(户类型, 监测对象类别, 风险是否已消除) as ``year``'s file shows them."""
        end = dt.date(year, 12, 31)
        monitored = self.category is not None and (self.mon_from is None or self.mon_from <= end)
        kind = "脱贫户" if exit_year is not None and exit_year <= year else "监测户"
        if not monitored:
            return ("脱贫户" if kind == "脱贫户" else "一般农户"), None, None
        if self.eliminated and self.mon_to is not None and self.mon_to > end:
            return kind, self.category, False
        return kind, self.category, self.eliminated


@dataclass(slots=True, eq=False)
class HouseholdYear:
    """A household in one register year (household-level columns)."""

    hid: str
    year: int
    township: str
    village: str
    group: str
    household_type: str
    status: str
    exit_year: int | None
    cause: str
    phone: str
    dangerous: bool
    safe_water: bool
    members: list[Member] = field(default_factory=list)
    size: int = 0
    wage: int = 0
    business: int = 0
    prop: int = 0
    transfer: int = 0
    expense: int = 0
    dibao: int = 0
    destitute: int = 0
    pension_pay: int = 0
    net: int = 0
    per_capita: int = 0

    @property
    def exited(self) -> bool:
        return self.status in EXITED

    @property
    def current(self) -> bool:
        return self.status in CURRENT

    def head(self) -> Member | None:
        heads = [m for m in self.members if m.relation == "户主"]
        return heads[0] if len(heads) == 1 else None

    def recompute_totals(self) -> None:
        """net and per-capita from the components and the stated size."""
        self.net = self.wage + self.business + self.prop + self.transfer - self.expense
        self.per_capita = half_up(self.net, self.size)


def half_up(a: int, b: int) -> int:
    """round(a / b) with halves away from zero, on ints (b > 0)."""
    if a >= 0:
        return (2 * a + b) // (2 * b)
    return -((2 * -a + b) // (2 * b))


@dataclass(slots=True)
class Finding:
    """A row of truth.csv or near_misses.csv."""

    rule_code: str
    level: str
    township: str
    village: str
    village_group: str = ""
    household_id: str = ""
    id_number: str = ""
    name: str = ""
    note: str = ""


# ---------------------------------------------------------------- the early-warning feeds
# One record per row of the 民政, 医保, 教育 and 残联 files (monitoring.md §2), built
# after every register problem is planted (demo.early_warning) and read by the
# oracle of rules E and the renderer. ``broken``: the row's ID number is written
# unrecoverably damaged (the ingest rejects the row; noise only).


@dataclass(slots=True, eq=False)
class Assistance:
    """A 民政 social-assistance record (低保、特困、临时救助)."""

    id: str
    name: str
    kind: str  # 农村低保, 城市低保, 特困供养, 临时救助, 低保边缘
    start: dt.date | None
    end: dt.date | None
    status: str  # 在保, 停保, 终止
    amount: int
    head_id: str | None = None
    persons: int | None = None
    township: str | None = None
    village: str | None = None
    broken: bool = False

    def active(self, on: dt.date) -> bool:
        """Active at ``on`` (monitoring.md §2)."""
        return (
            (self.start is None or self.start <= on)
            and (self.end is None or self.end >= on)
            and self.status == "在保"
        )


@dataclass(slots=True, eq=False)
class Insurance:
    """A 医保 row: one insured person in one year, with the year's costs."""

    id: str
    name: str
    year: int
    kind: str  # 城乡居民基本医疗保险, 职工基本医疗保险, 未参保
    status: str  # 正常参保, 暂停, 终止
    subsidy: str
    self_paid: float  # 个人自付 (yuan, two decimals)
    fund: float
    broken: bool = False


@dataclass(slots=True, eq=False)
class SchoolRecord:
    """A 学籍 row: one student at one school in one school year."""

    id: str
    name: str
    school_year: int
    school: str
    stage: str  # 学前, 小学, 初中, 高中, 中职, 高职, 本科
    grade: str | None  # 三年级, 七年级, 初一, 高一 …
    status: str  # 在读, 休学, 辍学, 转出, 毕业, 死亡
    broken: bool = False


@dataclass(slots=True, eq=False)
class Certificate:
    """A 残联 disability certificate: number = ID + 残疾类别 digit + 残疾等级 digit (+ seq)."""

    id: str
    name: str
    category: int  # 1–7
    level: int  # 1–4
    issued: dt.date
    status: str  # 有效, 注销, 过期
    seq: str = ""  # "" or a 2-digit sequence (22-character numbers)
    number: str | None = None  # the register's 残疾人证 number when it is that card
    broken: bool = False

    @property
    def certificate_no(self) -> str:
        return self.number or f"{self.id}{self.category}{self.level}{self.seq}"

    @property
    def severe(self) -> bool:
        return self.level in (1, 2)
