"""Build the clean demo county in memory: places, people, register years, feeds.

Everything here is *semantic* (canonical values, ints, dates); the messiness of
real exports is added by :mod:`demo.render`. The clean county is
built so that no rule of ``checks/rules`` fires on it: every number valid and
unique, one 户主 per household, incomes that add up and change every year,
students who move up a grade, every child of compulsory age in school, everyone
insured, the register's members present and alive in hukou, and department
records of register members that stay below every threshold. Problems and near
misses are then added by :mod:`demo.inject`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from demo import pools as P
from demo.ids import credit_code, make_id, mobile, plate
from demo.model import (
    CURRENT,
    TRACK_EDUCATION,
    TRACK_MAX,
    HouseholdYear,
    Member,
    Monitoring,
    age_dec31,
    age_sep1,
    grade_name,
    half_up,
)

PENSION_URBAN_RURAL = "城乡居民基本养老保险"
PENSION_ENTERPRISE = "企业职工基本养老保险"
PENSION_PUBLIC = "机关事业单位养老保险"

# (type, use) of vehicles that are *not* cars for owns_car: what poor households own.
SMALL_VEHICLES = [
    ("普通二轮摩托车", "非营运"),
    ("普通三轮摩托车", "非营运"),
    ("轻便二轮摩托车", "非营运"),
    ("三轮汽车", "货运"),
    ("低速货车", "货运"),
    ("手扶拖拉机", "非营运"),
    ("轮式拖拉机", "非营运"),
    ("轻型普通货车", "货运"),
]
CARS = [
    ("小型轿车", "非营运", 50),
    ("小型普通客车", "非营运", 25),
    ("小型越野客车", "非营运", 10),
    ("中型普通客车", "公路客运", 2),
    ("重型半挂牵引车", "货运", 2),
    ("重型普通货车", "货运", 3),
    ("轻型普通货车", "货运", 8),
]


@dataclass(slots=True, eq=False)
class Person:
    """A resident of the district: a register member or a background person."""

    pid: int
    id: str
    name: str
    gender: str
    birth: dt.date
    ethnicity: str
    town: int
    village: int  # global village index, -1 for the county seat
    hukou_no: str
    address: str
    status: str = "正常"
    dereg: dt.date | None = None
    in_hukou: bool = True
    hukou_name: str | None = None  # None: same as name
    track: str = "junior"
    offset: int = 0
    health: str = "健康"
    register: bool = False
    worker: bool = False
    monthly_wage: int = 0
    work_status: str = "无"
    skill: str = "普通劳动力"
    enterprise_si: bool = False  # pays 企业职工基本养老保险 (migrant worker with a contract)
    taxed: bool = False
    stuck_year: int | None = None  # school: repeats the grade of the year before from this year
    watched: bool = False  # in an early-warning feed: the hukou row's ID is always readable

    def school(self, year: int) -> tuple[str, str]:
        """(文化程度, 在校生状况) in ``year`` from the age at 1 September and the track."""
        a = age_sep1(self.birth, year)
        g = a - 5 - self.offset
        if self.stuck_year is not None and year >= self.stuck_year:
            g -= 1
        if g < 1:
            if a >= 3:
                return "学龄前儿童", "学前教育"
            return "学龄前儿童", "非在校生"
        if g <= TRACK_MAX[self.track]:
            status = grade_name(g, self.track)
            if g <= 6:
                edu = "小学"
            elif g <= 9:
                edu = "初中"
            elif g <= 12:
                edu = "中专" if status.startswith("中职") else "高中"
            else:
                edu = "大专及以上"
            return edu, status
        return TRACK_EDUCATION[self.track], "非在校生"


@dataclass(slots=True, eq=False)
class Membership:
    person: Person
    relation: str
    first_year: int
    last_year: int  # inclusive


@dataclass(slots=True, eq=False)
class Household:
    """A register household over the years (static attributes)."""

    hid: str
    town: int
    village: int
    group: str
    household_type: str
    status: str
    exit_year: int | None
    cause: str
    phone: str
    dangerous: bool
    members: list[Membership] = field(default_factory=list)
    business_base: int = 0
    property_base: int = 0
    other_transfer: int = 0
    years: dict[int, HouseholdYear] = field(default_factory=dict)
    used: bool = False  # taken by an injected problem or near miss
    has_dept_income: bool = False  # a member has tax or 企业职工 records
    first_year: int = 0  # first register year (newly monitored households: the working year)
    mon: Monitoring | None = None  # the 防返贫监测 record (today's export only)

    @property
    def exited(self) -> bool:
        return self.status in ("已脱贫", "风险已消除")

    @property
    def current(self) -> bool:
        return self.status in CURRENT


@dataclass(slots=True)
class Village:
    idx: int
    town: int
    name: str
    groups: list[str]
    # per group: background households / persons / labour (not in the register)
    bg_households: dict[str, int] = field(default_factory=dict)
    bg_persons: dict[str, int] = field(default_factory=dict)
    bg_labour: dict[str, int] = field(default_factory=dict)


@dataclass
class County:
    """The whole district in memory."""

    seed: int
    working_year: int
    towns: list[str]
    villages: list[Village]
    households: list[Household]
    persons: list[Person]  # every resident (register members first)
    vehicles: list[list] = field(default_factory=list)
    property_: list[list] = field(default_factory=list)
    house_safety: list[list] = field(default_factory=list)
    business: list[list] = field(default_factory=list)
    social_insurance: list[list] = field(default_factory=list)
    tax: list[list] = field(default_factory=list)
    # the early-warning feeds (demo.early_warning), built after the register problems
    civil_affairs: list = field(default_factory=list)
    medical: list = field(default_factory=list)
    education: list = field(default_factory=list)
    disability: list = field(default_factory=list)

    @property
    def years(self) -> list[int]:
        return [self.working_year - 2, self.working_year - 1, self.working_year]


def _urban_rural_pension(p, age: int, year: int) -> list:
    """A 城乡居民养老保险 row: no employer, no wage base; paid out from 60."""
    return [
        p.id,
        p.name,
        PENSION_URBAN_RURAL,
        "领取待遇" if age >= 60 else "参保缴费",
        "",
        "无",
        None,
        year,
    ]


def township_count(households: int) -> int:
    """≥ 8 townships from 2,000 households on; a real county has 8–25."""
    return max(8, min(24, households // 250))


def _cum(tracks: list[str], weights: list[int]) -> tuple[list[str], list[int]]:
    return tracks, list(itertools.accumulate(weights))


# schooling tracks by age at the end of the working year (children: all in school)
_TRACKS_CHILD = _cum(["senior", "vocational", "college", "bachelor"], [35, 25, 20, 20])
_YOUNG = ["junior", "senior", "vocational", "college", "highvoc", "bachelor", "master"]
_TRACKS_YOUNG = _cum(_YOUNG, [30, 15, 15, 12, 10, 15, 3])
_TRACKS_YOUNG_URBAN = _cum(_YOUNG, [30, 15, 15, 12, 10, 30, 3])
_TRACKS_MIDDLE = _cum(["primary", "junior", "senior", "vocational", "college"], [25, 45, 15, 10, 5])
_TRACKS_OLD = _cum(["none", "primary", "junior", "senior"], [30, 45, 20, 5])


def _weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


class Builder:
    """Builds a clean :class:`County`; deterministic for a seed."""

    def __init__(self, households: int, seed: int, working_year: int) -> None:
        self.rng = random.Random(seed)
        self.n = households
        self.seed = seed
        self.Y = working_year
        self.used_ids: set[str] = set()
        self.used_phones: set[str] = set()
        self.used_plates: set[str] = set()
        self.persons: list[Person] = []
        self.surnames = [s for s, _ in P.SURNAMES]
        self.surname_w = list(itertools.accumulate(w for _, w in P.SURNAMES))
        self.eth = [e for e, _ in P.ETHNICITIES]
        self.eth_w = list(itertools.accumulate(w for _, w in P.ETHNICITIES))
        self._hukou_seq = 0
        self._credit_used: set[str] = set()
        self.id_slot: tuple[int, int] | None = None
        """(k, n) in a prefecture: numbers of people born elsewhere in slot k of n."""

    # ------------------------------------------------------------------ helpers
    def surname(self) -> str:
        return self.rng.choices(self.surnames, cum_weights=self.surname_w)[0]

    def given(self, gender: str) -> str:
        r = self.rng
        chars = P.MALE_CHARS if gender == "男" else P.FEMALE_CHARS
        if r.random() < 0.3:
            return r.choice(chars)
        first = r.choice(P.NEUTRAL_CHARS) if r.random() < 0.15 else r.choice(chars)
        return first + r.choice(chars)

    def birth(self, age: int) -> dt.date:
        """A birth date of someone ``age`` at 31 Dec of the working year."""
        y = self.Y - age
        return dt.date(y, 1, 1) + dt.timedelta(days=self.rng.randrange(0, 365))

    def area(self, birth: dt.date, local: bool = True) -> str:
        r = self.rng
        if not local:
            codes = P.OTHER_AREA_CODES_YN if r.random() < 0.7 else P.OTHER_AREA_CODES_CN
            y = birth.year
            fits = [
                c
                for c in codes
                if P.AREA_VALID_FROM.get(c, 0) <= y <= P.AREA_VALID_UNTIL.get(c, 9999)
            ]
            return r.choice(fits or ["532523"])
        return P.OLD_COUNTY_CODE if birth.year < 1988 and r.random() < 0.5 else P.COUNTY_CODE

    def hukou_no(self) -> str:
        self._hukou_seq += 1
        return f"{P.COUNTY_CODE[2:]}{self._hukou_seq:07d}"

    def person(
        self,
        age: int,
        gender: str,
        surname: str,
        town: int,
        village: int,
        hukou_no: str,
        address: str,
        ethnicity: str,
        local: bool = True,
        urban: bool = False,
    ) -> Person:
        b = self.birth(age)
        pid = len(self.persons)
        area = self.area(b, local)
        slot = None if area in (P.COUNTY_CODE, P.OLD_COUNTY_CODE) else self.id_slot
        p = Person(
            pid=pid,
            id=make_id(self.rng, area, b, gender == "男", self.used_ids, slot),
            name=surname + self.given(gender),
            gender=gender,
            birth=b,
            ethnicity=ethnicity,
            town=town,
            village=village,
            hukou_no=hukou_no,
            address=address,
        )
        self.persons.append(p)
        self._education(p, urban)
        return p

    def _education(self, p: Person, urban: bool) -> None:
        """A track such that nobody of compulsory age is out of school."""
        r = self.rng
        a = age_dec31(p.birth, self.Y)
        if a <= 17:
            tracks, cum = _TRACKS_CHILD
        elif a <= 30:
            tracks, cum = _TRACKS_YOUNG_URBAN if urban else _TRACKS_YOUNG
        elif a <= 50:
            tracks, cum = _TRACKS_MIDDLE
        else:
            tracks, cum = _TRACKS_OLD
        p.track = r.choices(tracks, cum_weights=cum)[0]
        p.offset = 1 if r.random() < 0.08 else 0

    # ------------------------------------------------------------------ places
    def places(self) -> tuple[list[str], list[Village]]:
        r = self.rng
        n_towns = township_count(self.n)
        towns: list[str] = []
        seen: set[str] = set()
        while len(towns) < n_towns:
            name = r.choice(P.PLACE_A) + r.choice(P.PLACE_B) + ("镇" if r.random() < 0.6 else "乡")
            if name[:2] not in seen:
                seen.add(name[:2])
                towns.append(name)
        n_villages = max(2 * n_towns, round(self.n / 55))
        villages: list[Village] = []
        vnames: set[str] = set()
        for i in range(n_villages):
            t = i % n_towns
            while True:
                name = (
                    r.choice(P.PLACE_A)
                    + r.choice(P.PLACE_B)
                    + ("村" if r.random() < 0.85 else "社区")
                )
                if (t, name) not in vnames and name[:2] != towns[t][:2]:
                    vnames.add((t, name))  # type: ignore[arg-type]
                    break
            groups: list[str] = []
            for _ in range(r.randint(3, 8)):
                while True:
                    g = r.choice(P.GROUP_PREFIX) + r.choice(P.PLACE_A) + r.choice(P.GROUP_SUFFIX)
                    if g not in groups:
                        groups.append(g)
                        break
            villages.append(Village(i, t, name, groups))
        return towns, villages

    # ------------------------------------------------------------------ register
    def households(self, towns: list[str], villages: list[Village]) -> list[Household]:
        r = self.rng
        Y = self.Y
        out: list[Household] = []
        for k in range(self.n):
            v = villages[k % len(villages)] if k < len(villages) else r.choice(villages)
            group = r.choice(v.groups)
            roll = r.random()
            if roll < 0.72:
                status, exit_year = (
                    "已脱贫",
                    r.choice([2014, 2015, 2016, 2017, 2018, 2019, 2019, 2020]),
                )
            elif roll < 0.78:
                status, exit_year = "风险已消除", None
            else:
                status = _weighted(
                    r, [("脱贫不稳定户", 45), ("边缘易致贫户", 40), ("突发严重困难户", 15)]
                )
                exit_year = r.choice([2016, 2018, 2019, 2020]) if status == "脱贫不稳定户" else None
            first_year = Y - 2
            if k >= len(villages) and r.random() < 0.025:
                # newly identified for monitoring in the working year (防返贫监测)
                status, exit_year, first_year = (
                    r.choice(["边缘易致贫户", "突发严重困难户"]),
                    None,
                    Y,
                )
            hid = f"{P.COUNTY_CODE}{v.town + 1:03d}{v.idx + 1:03d}{k + 1:06d}"
            hh = Household(
                hid=hid,
                town=v.town,
                village=v.idx,
                group=group,
                household_type="一般户",
                status=status,
                exit_year=exit_year,
                cause=_weighted(r, P.CAUSES),
                phone=mobile(r, self.used_phones),
                dangerous=status in CURRENT and r.random() < 0.15,
                first_year=first_year,
            )
            self._members(hh, towns, v)
            self._economy(hh)
            out.append(hh)
        return out

    def _members(self, hh: Household, towns: list[str], v: Village) -> None:
        r = self.rng
        Y = self.Y
        first = hh.first_year
        eth = r.choices(self.eth, cum_weights=self.eth_w)[0]
        sname = self.surname()
        hno = self.hukou_no()
        addr = f"{P.PROVINCE}{P.PREFECTURE}{P.COUNTY}{towns[v.town]}{v.name}{hh.group}{r.randint(1, 120)}号"

        def add(
            age: int,
            gender: str,
            relation: str,
            surname: str = sname,
            local: bool = True,
            first_year: int = first,
            last_year: int = Y,
        ) -> Person:
            p = self.person(age, gender, surname, v.town, v.idx, hno, addr, eth, local)
            p.register = True
            # A child born during the three years is in no register year before its birth.
            first_year = max(first_year, p.birth.year)
            hh.members.append(Membership(p, relation, first_year, last_year))
            return p

        single_elderly = r.random() < 0.08
        if single_elderly:
            hage = r.randint(66, 88)
            head = add(hage, "男" if r.random() < 0.6 else "女", "户主")
            if r.random() < 0.4:
                hh.household_type = "特困供养户"
            return
        hage = r.randint(26, 78)
        hgender = "男" if r.random() < 0.86 else "女"
        head = add(hage, hgender, "户主")
        other = "女" if hgender == "男" else "男"
        spouse = None
        if r.random() < 0.85:
            sage = max(20, min(90, hage + r.randint(-6, 4)))
            spouse = add(sage, other, "配偶", surname=self.surname(), local=r.random() < 0.8)
        mother_age = spouse if spouse and spouse.gender == "女" else head
        m_age = age_dec31(mother_age.birth, Y)
        if hage < 55:
            n_kids = r.choices([0, 1, 2, 3], [10, 35, 40, 15])[0]
            for _ in range(n_kids):
                kage = m_age - r.randint(20, 36)
                if kage < 0:
                    continue
                g = "男" if r.random() < 0.52 else "女"
                add(kage, g, "之子" if g == "男" else "之女")
            # a baby born during the three years
            if m_age < 38 and r.random() < 0.12:
                g = "男" if r.random() < 0.52 else "女"
                age = r.randint(0, 1)
                add(age, g, "之子" if g == "男" else "之女", first_year=Y - age)
            if hage < 50 and r.random() < 0.25:
                gage = hage + r.randint(22, 32)
                add(
                    gage,
                    "男" if r.random() < 0.5 else "女",
                    "之父" if r.random() < 0.5 else "之母",
                    surname=sname,
                )
                hh.members[-1].relation = "之父" if hh.members[-1].person.gender == "男" else "之母"
        else:
            # an adult son with his wife and children
            if r.random() < 0.55:
                sage = hage - r.randint(22, 32)
                add(sage, "男", "之子")
                if r.random() < 0.85:
                    # a quarter of the daughters-in-law married in during the three years
                    married_in = first if r.random() < 0.75 or first == Y else r.choice([Y - 1, Y])
                    dil = add(
                        sage + r.randint(-4, 3),
                        "女",
                        "之儿媳",
                        surname=self.surname(),
                        local=r.random() < 0.7,
                        first_year=married_in,
                    )
                    n_kids = r.choices([0, 1, 2], [20, 45, 35])[0] if married_in == first else 0
                    for _ in range(n_kids):
                        kage = age_dec31(dil.birth, Y) - r.randint(20, 32)
                        if kage < 0:
                            continue
                        g = "男" if r.random() < 0.52 else "女"
                        add(kage, g, "之孙子" if g == "男" else "之孙女")
            elif r.random() < 0.5:
                g = "男" if r.random() < 0.5 else "女"
                add(hage - r.randint(22, 34), g, "之子" if g == "男" else "之女")
        # an old parent who died in the first year of the three (leaves the register)
        if r.random() < 0.03 and hage < 60 and first == Y - 2:
            gp = add(hage + r.randint(25, 30), "女", "之母", first_year=first, last_year=first)
            gp.status = "死亡"
            gp.dereg = dt.date(first, r.randint(2, 12), r.randint(1, 28))
        if hh.household_type == "一般户" and r.random() < 0.22:
            hh.household_type = "低保户"

    # ------------------------------------------------------------------ economy
    def _economy(self, hh: Household) -> None:
        r = self.rng
        Y = self.Y
        for m in hh.members:
            p = m.person
            a = age_dec31(p.birth, Y)
            if 18 <= a <= 59 and p.school(Y)[1] == "非在校生":
                roll = r.random()
                if roll < 0.62:
                    p.worker = True
                    p.work_status = _weighted(
                        r,
                        [
                            ("乡(镇)内务工", 20),
                            ("乡(镇)外县内务工", 25),
                            ("县外省内务工", 25),
                            ("省外务工", 30),
                        ],
                    )
                    p.monthly_wage = r.randint(18, 52) * 100
                    p.skill = "技能劳动力" if r.random() < 0.3 else "普通劳动力"
                    far = p.work_status in ("县外省内务工", "省外务工")
                    p.enterprise_si = far and r.random() < 0.25
                    p.taxed = far and r.random() < 0.3
                    if p.enterprise_si or p.taxed:
                        hh.has_dept_income = True
                else:
                    p.skill = _weighted(
                        r, [("普通劳动力", 60), ("弱劳动力或半劳动力", 30), ("技能劳动力", 10)]
                    )
            elif a >= 60:
                p.skill = "弱劳动力或半劳动力" if a < 70 else "丧失劳动力"
                p.health = _weighted(
                    r, [("健康", 40), ("长期慢性病", 45), ("患有大病", 8), ("残疾", 7)]
                )
            else:
                p.skill = "无劳动力"
            if a < 60 and r.random() < 0.04:
                p.health = _weighted(r, [("长期慢性病", 50), ("残疾", 30), ("患有大病", 20)])
        hh.business_base = r.randint(20, 160) * 100
        hh.property_base = r.choice([0, 0, 0, 300, 600, 1200])
        hh.other_transfer = r.randint(2, 20) * 100
        for year in range(hh.first_year, Y + 1):
            hh.years[year] = self.household_year(hh, year)

    def household_year(self, hh: Household, year: int) -> HouseholdYear:
        r = self.rng
        members = [m for m in hh.members if m.first_year <= year <= m.last_year]
        growth = 1 + 0.06 * (year - (self.Y - 2)) + r.uniform(-0.03, 0.03)
        hy = HouseholdYear(
            hid=hh.hid,
            year=year,
            township="",
            village="",
            group=hh.group,
            household_type=hh.household_type,
            status=hh.status,
            exit_year=hh.exit_year,
            cause=hh.cause,
            phone=hh.phone,
            dangerous=hh.dangerous,
            safe_water=True,
        )
        wage = 0
        pension = 0
        for m in members:
            p = m.person
            edu, school = p.school(year)
            a = age_dec31(p.birth, year)
            months = 0
            if p.worker:
                months = r.randint(6, 12)
                wage += months * round(p.monthly_wage * growth)
            is_pensioner = a >= 60
            if is_pensioner:
                pension += 12 * (150 + 5 * (year - 2020))
            pension_ins = (a >= 16) and school == "非在校生"
            hy.members.append(
                Member(
                    person=p,  # type: ignore[arg-type]
                    relation=m.relation,
                    name=p.name,
                    id_number=p.id,
                    id_raw=p.id,
                    id_problem=None,
                    id_type="居民身份证",
                    gender=p.gender,
                    person_id=f"{p.id[:6]}{p.pid:08d}",
                    education=edu,
                    school_status=school,
                    health=p.health,
                    labour_skill=p.skill if school == "非在校生" or a >= 16 else "无劳动力",
                    work_status=p.work_status if p.worker else "无",
                    work_months=months,
                    med=True,
                    crit=True,
                    pension=pension_ins,
                )
            )
        hy.size = len(hy.members)
        hy.wage = wage
        hy.business = round(hh.business_base * growth)
        hy.expense = round(hy.business * r.uniform(0.2, 0.4))
        hy.prop = hh.property_base
        n = hy.size
        if hh.household_type == "低保户":
            hy.dibao = n * 12 * (r.randint(30, 40) * 10)
        if hh.household_type == "特困供养户":
            hy.destitute = 12 * r.randint(55, 70) * 10
        hy.pension_pay = pension
        hy.transfer = hy.dibao + hy.destitute + pension + hh.other_transfer
        hy.recompute_totals()
        if hh.exited and hy.per_capita < 6600:
            # exited households are above the monitoring line (clean county)
            need = (6600 + r.randint(0, 2500)) * n - hy.net
            hy.business += need
            hy.recompute_totals()
        prev = hh.years.get(year - 1)
        if prev is not None and prev.per_capita == hy.per_capita:
            hy.business += 7 * n
            hy.recompute_totals()
        return hy

    # ------------------------------------------------------------------ background
    def background(self, towns: list[str], villages: list[Village], register_persons: int) -> None:
        """Non-register residents: ~5× the register in the villages and the county seat."""
        r = self.rng
        target = register_persons * 5
        made = 0
        seat_town = 0
        while made < target:
            urban = r.random() < 0.3
            if urban:
                t = seat_town if r.random() < 0.6 else r.randrange(len(towns))
                v_idx, group = -1, ""
                addr = f"{P.PROVINCE}{P.PREFECTURE}{P.COUNTY}{towns[t]}{r.choice(P.STREETS)}{r.randint(1, 300)}号"
            else:
                v = r.choice(villages)
                t, v_idx, group = v.town, v.idx, r.choice(v.groups)
                addr = f"{P.PROVINCE}{P.PREFECTURE}{P.COUNTY}{towns[t]}{v.name}{group}{r.randint(1, 150)}号"
            sname = self.surname()
            eth = r.choices(self.eth, cum_weights=self.eth_w)[0]
            hno = self.hukou_no()
            size = r.choices([1, 2, 3, 4, 5, 6], [8, 20, 25, 25, 15, 7])[0]
            hage = r.randint(24, 85)
            hg = "男" if r.random() < 0.8 else "女"
            members = [self.person(hage, hg, sname, t, v_idx, hno, addr, eth, urban=urban)]
            if size >= 2:
                members.append(
                    self.person(
                        max(20, hage + r.randint(-5, 4)),
                        "女" if hg == "男" else "男",
                        self.surname(),
                        t,
                        v_idx,
                        hno,
                        addr,
                        eth,
                        local=r.random() < 0.8,
                        urban=urban,
                    )
                )
            for _ in range(size - 2):
                kage = hage - r.randint(20, 38)
                if kage < 0:
                    kage = r.randint(0, 10)
                g = "男" if r.random() < 0.52 else "女"
                members.append(self.person(kage, g, sname, t, v_idx, hno, addr, eth, urban=urban))
            for p in members:
                self._bg_life(p, urban)
            if v_idx >= 0:
                v = villages[v_idx]
                v.bg_households[group] = v.bg_households.get(group, 0) + 1
                v.bg_persons[group] = v.bg_persons.get(group, 0) + len(members)
                labour = sum(1 for p in members if 16 <= age_dec31(p.birth, self.Y) <= 64)
                v.bg_labour[group] = v.bg_labour.get(group, 0) + labour
            made += len(members)

    def _bg_life(self, p: Person, urban: bool) -> None:
        r = self.rng
        Y = self.Y
        a = age_dec31(p.birth, Y)
        roll = r.random()
        # A deregistration date is never before the person's birth.
        if roll < 0.004:
            p.status, p.dereg = "死亡", self.date_between(Y - 3, Y, not_before=p.birth)
        elif roll < 0.010:
            p.status, p.dereg = "迁出", self.date_between(Y - 4, Y, not_before=p.birth)
        elif roll < 0.012:
            p.status, p.dereg = "注销", self.date_between(Y - 5, Y, not_before=p.birth)
        elif roll < 0.014 and 18 <= a <= 24:
            p.status, p.dereg = "服兵役", self.date_between(Y - 2, Y, not_before=p.birth)
        elif roll < 0.016:
            p.status, p.dereg = "出国(境)", self.date_between(Y - 6, Y, not_before=p.birth)
        p.worker = 18 <= a <= 60 and r.random() < (0.7 if urban else 0.5)
        if p.worker:
            p.monthly_wage = r.randint(25, 150) * 100

    def date_between(self, y0: int, y1: int, not_before: dt.date | None = None) -> dt.date:
        d0, end = dt.date(y0, 1, 1), dt.date(y1, 12, 31)
        if not_before is not None:
            d0 = min(max(d0, not_before), end)
        return d0 + dt.timedelta(days=self.rng.randrange(0, max(1, (end - d0).days)))

    # ------------------------------------------------------------------ feeds
    def feeds(self, county: County, towns: list[str]) -> None:
        r = self.rng
        Y = self.Y
        reg_ids = {m.person.pid for hh in county.households for m in hh.members}
        hh_of: dict[int, Household] = {
            m.person.pid: hh for hh in county.households for m in hh.members
        }
        for p in county.persons:
            a = age_dec31(p.birth, Y)
            if p.status != "正常" and p.status != "死亡":
                pass
            alive = p.status == "正常" or (p.dereg is not None and p.dereg.year >= Y)
            if p.pid in reg_ids:
                self._register_feeds(county, p, hh_of[p.pid], towns)
                continue
            if not alive and r.random() < 0.7:
                continue
            urban = p.village < 0
            # vehicles
            if 20 <= a <= 70 and r.random() < (0.35 if urban else 0.2):
                if r.random() < 0.7:
                    vt, use, _ = r.choices(CARS, [c[2] for c in CARS])[0]
                else:
                    vt, use = r.choice(SMALL_VEHICLES)
                status = r.choices(
                    ["正常", "注销", "报废", "转出", "查封", "被盗抢"], [88, 3, 5, 2, 1, 1]
                )[0]
                county.vehicles.append(
                    [
                        p.id,
                        p.name,
                        plate(r, P.PLATE_PREFIX, self.used_plates),
                        vt,
                        use,
                        self.date_between(2005, Y),
                        status,
                    ]
                )
            # property
            if a >= 25 and r.random() < (0.6 if urban else 0.35):
                if urban:
                    town = towns[p.town]
                    loc = f"{P.COUNTY}{town}{r.choice(P.STREETS)}{r.randint(1, 200)}号{r.randint(1, 18)}幢{r.randint(1, 6)}单元{r.randint(1, 30)}0{r.randint(1, 4)}室"
                    kind = r.choices(["商品房", "房改房", "经济适用房", "自建房"], [70, 10, 8, 12])[
                        0
                    ]
                    usage = "住宅" if r.random() < 0.9 else r.choice(["商业", "办公", "车库"])
                    county.property_.append(
                        [
                            p.id,
                            p.name,
                            loc,
                            round(r.uniform(45, 160), 2),
                            usage,
                            kind,
                            "城镇",
                            self.date_between(2003, Y),
                        ]
                    )
                else:
                    loc = p.address.replace(P.PROVINCE + P.PREFECTURE, "")
                    county.property_.append(
                        [
                            p.id,
                            p.name,
                            loc,
                            round(r.uniform(60, 240), 2),
                            "住宅",
                            "自建房",
                            "农村",
                            self.date_between(2010, Y),
                        ]
                    )
            # tax, social insurance
            if p.worker and p.status == "正常":
                public = r.random() < 0.12
                employer, kind = self.employer(towns, p.town, public)
                base = p.monthly_wage
                for year in (Y - 1, Y):
                    si_kind = PENSION_PUBLIC if public else PENSION_ENTERPRISE
                    county.social_insurance.append(
                        [p.id, p.name, si_kind, "参保缴费", employer, kind, base, year]
                    )
                    if r.random() < 0.5:
                        county.social_insurance.append(
                            [p.id, p.name, "失业保险", "参保缴费", employer, kind, base, year]
                        )
                    income = base * 12 + r.randint(0, 20) * 1000
                    if income > 60000 or r.random() < 0.4:
                        paid = max(0, round((income - 60000 - 12000) * 0.03, 2))
                        county.tax.append([p.id, p.name, year, income, paid, employer])
            elif a >= 16 and p.status == "正常" and not urban and r.random() < 0.8:
                for year in (Y - 1, Y):
                    county.social_insurance.append(_urban_rural_pension(p, a, year))
            # business
            if 25 <= a <= 65 and r.random() < 0.05:
                self.business_entity(county, p, towns)
            # house safety: rural heads
            if not urban and a >= 30 and r.random() < 0.08:
                grade = r.choices(["A级", "B级", "C级", "D级"], [40, 40, 15, 5])[0]
                d = self.date_between(2019, Y)
                if grade in ("C级", "D级"):
                    st = r.choice(["未改造", "改造中", "已竣工"])
                    done = d + dt.timedelta(days=r.randint(60, 300)) if st == "已竣工" else None
                else:
                    st, done = None, None
                county.house_safety.append([p.id, p.name, grade, d, st, done])

    def employer(self, towns: list[str], town: int, public: bool) -> tuple[str, str]:
        r = self.rng
        if public:
            tmpl, kind = r.choice(P.PUBLIC_BODIES)
            return tmpl.format(county=P.COUNTY, town=towns[town]), kind
        where = P.COUNTY if r.random() < 0.5 else r.choice(P.FAR_CITIES)
        return where + r.choice(P.COMPANY_WORDS_A) + r.choice(P.COMPANY_WORDS_B) + r.choice(
            P.COMPANY_SUFFIX
        ), "企业"

    def credit(self, kind: str) -> str:
        while True:
            c = credit_code(self.rng, kind, P.COUNTY_CODE)
            if c not in self._credit_used:
                self._credit_used.add(c)
                return c

    def business_entity(
        self,
        county: County,
        p: Person,
        towns: list[str],
        etype: str | None = None,
        capital: float | None = None,
        role: str | None = None,
        status: str = "存续",
    ) -> None:
        r = self.rng
        etype = (
            etype
            or r.choices(
                [
                    "有限责任公司",
                    "个体工商户",
                    "个人独资企业",
                    "合伙企业",
                    "股份有限公司",
                    "农民专业合作社",
                ],
                [35, 40, 8, 5, 2, 10],
            )[0]
        )
        town = towns[p.town]
        if etype == "个体工商户":
            name = f"{P.COUNTY}{town}{p.name}{r.choice(P.SHOP_WORDS)}"
            cap = capital if capital is not None else r.choice([1, 2, 3, 5, 5, 8, 10, 20, 30])
            role = role or "经营者"
            code = self.credit("2")
        elif etype == "农民专业合作社":
            name = f"{P.COUNTY}{town}{r.choice(P.PLACE_A)}{r.choice(P.PLACE_B)}{r.choice(P.COOP_WORDS)}专业合作社"
            cap = capital if capital is not None else r.choice([10, 20, 50, 100])
            role = role or "法定代表人"
            code = self.credit("3")
        else:
            name = f"{P.COUNTY}{r.choice(P.COMPANY_WORDS_A)}{r.choice(P.COMPANY_WORDS_B)}"
            name += (
                "有限公司"
                if etype in ("有限责任公司",)
                else (
                    "股份有限公司"
                    if etype == "股份有限公司"
                    else ("厂" if etype == "个人独资企业" else "（有限合伙）")
                )
            )
            cap = capital if capital is not None else r.choice([10, 30, 50, 100, 200, 500, 1000])
            role = role or {"个人独资企业": "投资人", "合伙企业": "投资人"}.get(etype, "法定代表人")
            code = self.credit("1")
        county.business.append(
            [p.id, p.name, name, code, etype, role, cap, self.date_between(2008, self.Y), status]
        )

    def _register_feeds(self, county: County, p: Person, hh: Household, towns: list[str]) -> None:
        """Department records of a register member that trip no rule."""
        r = self.rng
        Y = self.Y
        if p.status != "正常":
            return  # died before the working year: no records
        for year in (Y - 1, Y):
            hy = hh.years.get(year)
            mem = next((m for m in hy.members if m.person is p), None) if hy else None
            if mem is None:
                continue
            a = age_dec31(p.birth, year)
            if mem.pension:
                if p.enterprise_si:
                    employer, kind = self.employer(towns, p.town, False)
                    months = mem.work_months or 12
                    base = max(1000, int(mem.work_months * p.monthly_wage * 0.75 / 12))
                    county.social_insurance.append(
                        [p.id, p.name, PENSION_ENTERPRISE, "参保缴费", employer, kind, base, year]
                    )
                    _ = months
                else:
                    county.social_insurance.append(_urban_rural_pension(p, a, year))
            if p.taxed and mem.work_months:
                income = int(mem.work_months * p.monthly_wage * r.uniform(0.5, 0.9))
                county.tax.append(
                    [p.id, p.name, year, income, 0, self.employer(towns, p.town, False)[0]]
                )
        a = age_dec31(p.birth, Y)
        # vehicles poor households own: motorcycles, tricycles, tractors (not cars)
        if 18 <= a <= 65 and r.random() < 0.18:
            vt, use = r.choice(SMALL_VEHICLES)
            county.vehicles.append(
                [
                    p.id,
                    p.name,
                    plate(r, P.PLATE_PREFIX, self.used_plates),
                    vt,
                    use,
                    self.date_between(2010, Y),
                    "正常",
                ]
            )
        # exited households may own a car bought after exiting
        if hh.status == "已脱贫" and hh.exit_year and 25 <= a <= 55 and r.random() < 0.03:
            county.vehicles.append(
                [
                    p.id,
                    p.name,
                    plate(r, P.PLATE_PREFIX, self.used_plates),
                    "小型轿车",
                    "非营运",
                    self.date_between(max(hh.exit_year, 2019), Y),
                    "正常",
                ]
            )
        relation = next(m.relation for m in hh.members if m.person is p)
        if relation == "户主":
            # the family house: rural self-built; relocated households in town
            county.property_.append(
                [
                    p.id,
                    p.name,
                    p.address.replace(P.PROVINCE + P.PREFECTURE, ""),
                    round(r.uniform(60, 200), 2),
                    "住宅",
                    "自建房",
                    "农村",
                    self.date_between(2010, Y),
                ]
            )
            if r.random() < 0.05:
                loc = f"{P.COUNTY}{towns[p.town]}易地扶贫搬迁安置点{r.randint(1, 20)}幢{r.randint(1, 30)}0{r.randint(1, 4)}室"
                county.property_.append(
                    [
                        p.id,
                        p.name,
                        loc,
                        round(r.uniform(50, 100), 2),
                        "住宅",
                        "安置房",
                        "城镇",
                        self.date_between(2017, 2020),
                    ]
                )
            if r.random() < 0.45:
                d = self.date_between(2019, Y)
                if hh.dangerous:
                    county.house_safety.append(
                        [
                            p.id,
                            p.name,
                            r.choice(["C级", "D级"]),
                            d,
                            r.choice(["未改造", "改造中"]),
                            None,
                        ]
                    )
                else:
                    grade = r.choices(["A级", "B级", "C级", "D级"], [45, 40, 10, 5])[0]
                    if grade in ("C级", "D级"):
                        county.house_safety.append(
                            [
                                p.id,
                                p.name,
                                grade,
                                d,
                                "已竣工",
                                d + dt.timedelta(days=r.randint(60, 300)),
                            ]
                        )
                    else:
                        county.house_safety.append([p.id, p.name, grade, d, None, None])
        if hh.current and a >= 25 and r.random() < 0.04:
            self.business_entity(county, p, towns, etype="农民专业合作社", role="成员")
        if hh.exited and 25 <= a <= 60 and r.random() < 0.02:
            self.business_entity(county, p, towns, etype=r.choice(["个体工商户", "有限责任公司"]))


def build(
    households: int,
    seed: int,
    working_year: int,
    reserved_ids: Iterable[str] = (),
    id_slot: tuple[int, int] | None = None,
    after_households: Callable[[Builder, list[Household]], None] | None = None,
) -> tuple[County, Builder]:
    """The clean county. In a prefecture (:mod:`demo.prefecture`): ``reserved_ids``
    are numbers no one here may get, ``id_slot`` keeps the numbers of people born
    elsewhere apart from the other counties', and ``after_households`` may change
    register members before anyone's records are made."""
    b = Builder(households, seed, working_year)
    b.used_ids.update(reserved_ids)
    b.id_slot = id_slot
    towns, villages = b.places()
    hhs = b.households(towns, villages)
    for hh in hhs:
        for hy in hh.years.values():
            hy.township = towns[hh.town]
            hy.village = villages[hh.village].name
    if after_households is not None:
        after_households(b, hhs)
    n_reg = len(b.persons)
    b.background(towns, villages, n_reg)
    county = County(seed, working_year, towns, villages, hhs, b.persons)
    b.feeds(county, towns)
    return county, b


def per_year_rows(county: County, year: int) -> list[tuple[Household, HouseholdYear]]:
    return [(hh, hh.years[year]) for hh in county.households if year in hh.years]


__all__ = ["County", "Household", "Person", "build", "township_count", "half_up"]
