"""The four early-warning feeds of the demo county and rules E read back in Python.

- :func:`build_feeds` writes the 民政, 医保, 教育 and 残联 records (monitoring.md §2)
  into the county after every register problem is planted: register members get
  the records their register rows imply (no rule E flags them), background people
  outside the register get realistic noise that flags nothing either (临时救助,
  低保 ended or 停保, costs below the 100 % line, older or 三级 certificates,
  pupils at the county's schools).
- :func:`place` is the hukou 住址 → township / village placement of §4.
- :func:`e_findings` is rules E over the model (the oracle): the truth of every
  person or household an E problem was planted on, and a check on everyone else.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from checks.rules import RULES_BY_CODE
from demo import pools as P
from demo.model import (
    JUNIOR,
    Assistance,
    Certificate,
    Insurance,
    Member,
    SchoolRecord,
    age_dec31,
    age_sep1,
)
from demo.monitoring import enjoys_destitute, enjoys_dibao, state
from demo.render import LEGACY_FIELDS
from department_feeds.register import MONITORED_STATUSES

if TYPE_CHECKING:  # type hints only: demo.county imports demo.model, not this module
    from demo.county import County, Household, Person

E_RULES = (
    "dibao_not_monitored",
    "dibao_record_mismatch",
    "high_medical_cost",
    "medical_enrolment_mismatch",
    "student_not_enrolled",
    "school_status_mismatch",
    "disability_unrecorded",
    "severe_disability_without_subsidy",
    "new_severe_disability",
)
"""Rules E of monitoring.md §4, in the spec's order."""
OUTSIDER_RULES = ("dibao_not_monitored", "high_medical_cost", "new_severe_disability")
"""The rules that reach people outside the register (the 疑似漏评 warnings)."""
UNPLACED = "未能定位"
SUBSIDY_ITEMS = ("残疾人两项补贴", "残疾人补贴", "重度残疾人护理补贴")
RURAL_INCOME = 21691  # [early_warning] rural_income_yuan (thresholds.toml default)
RESIDENT_KIND = "城乡居民基本医疗保险"
LOCAL_STAGES = ("学前", "小学", "初中", "高中", "中职")
"""Stages of the county education bureau's 学籍 (colleges keep their own)."""


def e_rules_running(today: bool) -> tuple[str, ...]:
    """Rules E of the catalogue the engine runs on this export: on the legacy one,
    not those reading columns it lacks (their ``columns=``)."""
    out = []
    for code in E_RULES:
        rule = RULES_BY_CODE.get(code)
        if rule is None:
            continue
        if not today and any(c not in LEGACY_FIELDS for c in rule.columns):
            continue
        out.append(code)
    return tuple(out)


def thresholds(params: dict[str, Any]) -> tuple[Decimal, Decimal, int]:
    """(50 % line, 100 % line, months) from the engine's parameters (defaults if absent)."""
    income = Decimal(str(params.get("rural_income", RURAL_INCOME)))
    mon = Decimal(str(params.get("monitored_cost_pct", 50)))
    oth = Decimal(str(params.get("others_cost_pct", 100)))
    return income * mon / 100, income * oth / 100, int(params.get("new_disability_months", 12))


# ---------------------------------------------------------------- placement
def place(address: str, towns: list[str], villages: dict[str, list[str]]) -> tuple[str, str]:
    """(township, village) of a hukou 住址 (monitoring.md §4, issue-12 decision 3):
    exactly one township name in it, then exactly one of its villages (several: the
    longest not inside another match, a tie → blank); else (未能定位, "")."""
    hits = [t for t in towns if t in address]
    if len(hits) != 1:
        return UNPLACED, ""
    town = hits[0]
    vs = [v for v in villages.get(town, ()) if v in address]
    if len(vs) == 1:
        return town, vs[0]
    top = sorted((v for v in vs if not any(v != w and v in w for w in vs)), key=len, reverse=True)
    if not top or (len(top) > 1 and len(top[0]) == len(top[1])):
        return town, ""
    return town, top[0]


def register_places(county: County) -> tuple[list[str], dict[str, list[str]]]:
    """Townships and their villages of the working year's register."""
    Y = county.working_year
    villages: dict[str, set[str]] = defaultdict(set)
    for hh in county.households:
        hy = hh.years.get(Y)
        if hy is not None and hy.members:
            villages[hy.township].add(hy.village)
    return sorted(villages), {t: sorted(v) for t, v in villages.items()}


# ---------------------------------------------------------------- household state
@dataclass(frozen=True)
class House:
    """What rules E read of a register household in the working year."""

    poor_exited: bool
    monitored: bool
    risk_open: bool
    risks: tuple[str, ...] = ()
    comprehensive: str = ""

    @property
    def poor_or_monitored(self) -> bool:
        return self.poor_exited or self.monitored

    @property
    def subsidy(self) -> bool:
        return any(s in self.comprehensive for s in SUBSIDY_ITEMS)


def house(hh: Household, year: int, today: bool) -> House:
    """Either generation (monitoring.md §1): today's from the monitoring record, the
    legacy one from 户状态 (no risks, no 综合保障)."""
    if today:
        st = state(hh, year)
        mon = hh.mon
        assert mon is not None
        return House(
            st.poor_exited,
            st.monitored,
            st.risk_open,
            tuple(mon.risks) if st.monitored else (),
            mon.measures.get("measure_comprehensive") or "",
        )
    status = hh.years[year].status
    monitored = status in MONITORED_STATUSES
    return House(status == "已脱贫", monitored, monitored and status != "风险已消除")


def resident(p: Person, year: int) -> bool:
    """A county resident at the working year end (hukou 正常, or deregistered after it)."""
    if not p.in_hukou:
        return False
    return p.status == "正常" or (p.dereg is not None and p.dereg > dt.date(year, 12, 31))


# ---------------------------------------------------------------- school words
def school_place(status: str) -> tuple[str, str | None] | None:
    """(学段, 年级) of a register 在校生状况 at the county's schools; None otherwise."""
    if status == "学前教育":
        return "学前", None
    if status in JUNIOR:
        return "初中", status
    if status.startswith("小学") and len(status) > 2:
        return "小学", status[2:]
    if status.startswith("高中"):
        return "高中", "高" + status[2]
    if status.startswith("中职"):
        return "中职", status[2:]
    return None


OLD_JUNIOR = {"初一": "七年级", "初二": "八年级", "初三": "九年级"}


def school_words(stage: str, grade: str | None) -> str | None:
    """The register 在校生状况 a 学籍 stage and grade stand for (初一 = 七年级)."""
    g = grade or ""
    if stage == "学前":
        return "学前教育"
    if stage == "小学":
        return f"小学{g}"
    if stage == "初中":
        return OLD_JUNIOR.get(g, g)
    if stage in ("高中", "中职"):
        return f"{stage}{g[1]}年级" if g.startswith("高") and len(g) == 2 else stage + g
    return f"{stage}{g}"


def school_matches(register: str, stage: str, grade: str | None) -> bool:
    """monitoring.md §4: a register 小学 without a grade matches any 小学 grade."""
    if register == "小学":
        return stage == "小学"
    return register == school_words(stage, grade)


# ---------------------------------------------------------------- the clean feeds
@dataclass
class Feeds:
    """The four feeds by ID number (the lists in the county are the same objects)."""

    civil: dict[str, list[Assistance]] = field(default_factory=lambda: defaultdict(list))
    medical: dict[str, list[Insurance]] = field(default_factory=lambda: defaultdict(list))
    school: dict[str, list[SchoolRecord]] = field(default_factory=lambda: defaultdict(list))
    certs: dict[str, list[Certificate]] = field(default_factory=lambda: defaultdict(list))

    def add(self, county: County, rec: Any) -> Any:
        if isinstance(rec, Assistance):
            county.civil_affairs.append(rec)
            self.civil[rec.id].append(rec)
        elif isinstance(rec, Insurance):
            county.medical.append(rec)
            self.medical[rec.id].append(rec)
        elif isinstance(rec, SchoolRecord):
            county.education.append(rec)
            self.school[rec.id].append(rec)
        else:
            county.disability.append(rec)
            self.certs[rec.id].append(rec)
        return rec

    def drop(self, county: County, rec: Any) -> None:
        for lst, by in (
            (county.civil_affairs, self.civil),
            (county.medical, self.medical),
            (county.education, self.school),
            (county.disability, self.certs),
        ):
            if rec in by.get(rec.id, []):
                by[rec.id].remove(rec)
                lst.remove(rec)
                return


class FeedBuilder:
    """Builds the clean early-warning feeds of a county (deterministic for a seed)."""

    def __init__(self, county: County, seed: int, today: bool, params: dict[str, Any]) -> None:
        self.c = county
        self.Y = county.working_year
        self.today = today
        self.rng = random.Random(seed * 97 + 13)
        self.feeds = Feeds()
        self.mon_line, self.other_line, _ = thresholds(params)

    def date(self, lo: dt.date, hi: dt.date) -> dt.date:
        return lo + dt.timedelta(days=self.rng.randrange(0, max(1, (hi - lo).days + 1)))

    def build(self) -> Feeds:
        """Records of every register member, then the background's noise."""
        Y = self.Y
        seen: set[str] = set()
        for hh in self.c.households:
            hy = hh.years.get(Y)
            if hy is None:
                continue
            h = house(hh, Y, self.today)
            for m in hy.members:
                if m.id_problem is not None or m.id_number in seen:
                    continue
                seen.add(m.id_number)
                self.member(hh, h, m)
        for p in self.c.persons:
            if not p.register:
                self.background(p)
        return self.feeds

    # ---------------------------------------------------------------- register members
    def member(self, hh: Household, h: House, m: Member) -> None:
        r, Y, c, f = self.rng, self.Y, self.c, self.feeds
        hy = hh.years[Y]
        head = next((x for x in hy.members if x.relation == "户主"), m)
        head_id = head.id_number if head.id_problem is None else None
        kinds = []
        if self.today:
            if enjoys_dibao(m):
                kinds.append("城市低保" if "城市" in m.dibao_status else "农村低保")
            if enjoys_destitute(m):
                kinds.append("特困供养")
        elif hh.household_type in ("低保户", "特困供养户"):
            kinds.append("农村低保" if hh.household_type == "低保户" else "特困供养")
        for kind in kinds:
            amount = (
                max(hy.dibao // 12, 100) if "低保" in kind else max(hy.destitute // 12, 500)
            ) or 300
            f.add(c, self.assistance(m, kind, hy, head_id, amount))
        if r.random() < 0.04:
            # a one-off 临时救助, or an old record long ended: never counted
            if r.random() < 0.5:
                start = self.date(dt.date(Y, 1, 1), dt.date(Y, 12, 31))
                f.add(c, self.assistance(m, "临时救助", hy, head_id, 1000, start, start))
            elif not kinds:
                start = dt.date(Y - 4, r.randint(1, 12), 1)
                end = self.date(dt.date(Y - 2, 1, 1), dt.date(Y - 1, 12, 31))
                f.add(
                    c, self.assistance(m, "农村低保", hy, head_id, 300, start, end, status="终止")
                )
        # 医保: 城乡居民 (or 职工) in the working year, costs under the line
        if m.med or m.emp_med:
            line = self.mon_line if h.poor_or_monitored else self.other_line
            paid = m.self_paid if m.self_paid is not None else r.randint(0, 1500)
            ill_open = h.risk_open and "因病" in h.risks
            if paid >= float(line) * 0.95 and not ill_open:
                paid = round(float(line) * r.uniform(0.2, 0.9), 2)
            f.add(c, self.insurance(m, Y, RESIDENT_KIND if m.med else "职工基本医疗保险", paid, hh))
            if r.random() < 0.1:
                # last year's row (costs of another year do not count)
                f.add(c, self.insurance(m, Y - 1, RESIDENT_KIND, r.randint(0, 30000), hh))
        # 学籍: the school year starting in the working year, and some of last year's
        place = school_place(m.school_status)
        a = age_sep1(m.person.birth, Y)
        if place is not None:
            f.add(c, self.school(m, Y, place, hy.township, hy.village))
            prev = school_place(m.person.school(Y - 1)[1])
            if prev is not None and r.random() < 0.2:
                f.add(c, self.school(m, Y - 1, prev, hy.township, hy.village))
        elif 6 <= a <= 15 and m.school_status == "非在校生":
            f.add(
                c,
                self.school(
                    m,
                    Y,
                    ("初中" if a >= 12 else "小学", None),
                    hy.township,
                    hy.village,
                    status="辍学",
                ),
            )
        # 残联: the disabled members' certificates, severe ones only where 综合保障
        # lists the subsidy (a 脱贫户 or 未消除风险 household)
        if m.health == "残疾":
            f.add(c, self.member_certificate(m, h))

    def member_certificate(self, m: Member, h: House) -> Certificate:
        r, Y = self.rng, self.Y
        needs = (h.poor_exited or h.risk_open) and not h.subsidy
        issued = dt.date(Y - r.randint(1, 8), r.randint(1, 12), r.randint(1, 28))
        raw = str(m.id_raw)
        if m.id_type == "残疾人证" and len(raw) in (20, 22):
            level = int(raw[19])
            if not (needs and level <= 2):
                return Certificate(
                    m.id_number, m.name, int(raw[18]), level, issued, "有效", number=raw
                )
            # reassessed since: a new card of a lower level
            return Certificate(
                m.id_number, m.name, int(raw[18]), r.randint(3, 4), issued, "有效", seq="02"
            )
        level = r.randint(1, 4)
        if needs and level <= 2:
            level += 2
        seq = f"{r.randint(1, 3):02d}" if r.random() < 0.5 else ""
        return Certificate(m.id_number, m.name, r.randint(1, 7), level, issued, "有效", seq=seq)

    # ---------------------------------------------------------------- records
    def assistance(
        self,
        m: Member | Person,
        kind: str,
        hy: Any,
        head_id: str | None,
        amount: int,
        start: dt.date | None = None,
        end: dt.date | None = None,
        status: str = "在保",
    ) -> Assistance:
        r = self.rng
        if start is None:
            start = dt.date(self.Y - r.randint(1, 4), r.randint(1, 12), 1)
        pid = m.id_number if isinstance(m, Member) else m.id
        return Assistance(
            pid,
            m.name,
            kind,
            start,
            end,
            status,
            amount,
            head_id,
            1 if kind != "农村低保" or hy is None else hy.size,
            hy.township if hy is not None else None,
            hy.village if hy is not None else None,
        )

    def insurance(
        self, m: Member | Person, year: int, kind: str, paid: float, hh: Household | None
    ) -> Insurance:
        r = self.rng
        subsidy = ""
        if isinstance(m, Member):
            subsidy = (
                "特困人员"
                if enjoys_destitute(m)
                else "低保对象"
                if enjoys_dibao(m)
                else "脱贫人口"
                if hh is not None and hh.status == "已脱贫" and m.med
                else ""
            )
        fund = 0.0 if paid == 0 else round(float(paid) * r.uniform(1.5, 4), 2)
        pid = m.id_number if isinstance(m, Member) else m.id
        return Insurance(pid, m.name, year, kind, "正常参保", subsidy, float(paid), fund)

    def school(
        self,
        m: Member | Person,
        year: int,
        place: tuple[str, str | None],
        town: str,
        village: str,
        status: str = "在读",
        school: str | None = None,
    ) -> SchoolRecord:
        stage, grade = place
        if stage == "初中" and grade in JUNIOR and self.rng.random() < 0.3:
            grade = {v: k for k, v in OLD_JUNIOR.items()}[grade]  # 初一 = 七年级
        school = school or {
            "学前": f"{town}中心幼儿园",
            "小学": f"{village}小学" if village else f"{town}中心小学",
            "初中": f"{town}中学",
            "高中": f"{P.COUNTY}第一中学",
            "中职": f"{P.COUNTY}职业高级中学",
        }.get(stage, "省内高校")
        pid = m.id_number if isinstance(m, Member) else m.id
        return SchoolRecord(pid, m.name, year, school, stage, grade, status)

    # ---------------------------------------------------------------- background noise
    def background(self, p: Person) -> None:
        """Records of a person outside the register that flag nothing, resident or not."""
        r, Y, c, f = self.rng, self.Y, self.c, self.feeds
        a = age_dec31(p.birth, Y)
        alive = p.status == "正常" or (p.dereg is not None and p.dereg.year >= Y)
        if not alive:
            return
        town = c.towns[p.town]
        village = c.villages[p.village].name if p.village >= 0 else ""
        added = False
        if r.random() < 0.3:
            paid = r.randint(0, 3000) if r.random() < 0.97 else r.randint(11000, 20000)
            f.add(c, self.insurance(p, Y, RESIDENT_KIND, paid, None))
            added = True
        place = school_place(p.school(Y)[1])
        if place is not None and r.random() < 0.5:
            f.add(c, self.school(p, Y, place, town, village))
            added = True
        roll = r.random()
        if roll < 0.02:
            kind, start, end, status = r.choice(
                [
                    ("临时救助", dt.date(Y, r.randint(1, 12), 1), None, "在保"),
                    ("低保边缘", dt.date(Y - 1, r.randint(1, 12), 1), None, "在保"),
                    ("城市低保", dt.date(Y - 2, r.randint(1, 12), 1), None, "在保"),
                    ("农村低保", dt.date(Y - 3, 3, 1), dt.date(Y - 1, r.randint(1, 12), 1), "终止"),
                    ("农村低保", dt.date(Y - 2, 6, 1), None, "停保"),
                ]
            )
            if kind == "临时救助":
                end = start
            rec = self.assistance(
                p, kind, None, None, 800 if kind == "临时救助" else 350, start, end, status
            )
            rec.township, rec.village = town, village or None
            f.add(c, rec)
            added = True
        elif roll < 0.035 and a >= 3:
            # certificates: issued before the working year, or 三级/四级
            level = r.randint(1, 4)
            year = Y - r.randint(1, 10) if level <= 2 else Y - r.randint(0, 10)
            issued = dt.date(year, r.randint(1, 12), r.randint(1, 28))
            f.add(
                c,
                Certificate(
                    p.id,
                    p.name,
                    r.randint(1, 7),
                    level,
                    issued,
                    "有效",
                    seq=f"{r.randint(1, 3):02d}" if r.random() < 0.5 else "",
                ),
            )
            added = True
        if added:
            p.watched = True


def build_feeds(county: County, seed: int, today: bool, params: dict[str, Any]) -> Feeds:
    """The clean early-warning feeds of ``county`` (written into it)."""
    for lst in (county.civil_affairs, county.medical, county.education, county.disability):
        lst.clear()
    return FeedBuilder(county, seed, today, params).build()


# ---------------------------------------------------------------- the oracle
@dataclass(frozen=True)
class Hit:
    """A finding of a rule E: on a register row (``hh``, ``m``) or on a person outside
    the register (``person``, placed in ``township`` / ``village``)."""

    code: str
    hh: Household | None
    m: Member | None
    person: Person | None = None
    township: str = ""
    village: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """(rule, household, ID number) as the recall test matches it."""
        level = RULES_BY_CODE[self.code].level if self.code in RULES_BY_CODE else "person"
        if self.hh is not None:
            return (
                self.code,
                self.hh.hid,
                self.m.id_number if (self.m and level == "person") else "",
            )
        assert self.person is not None
        return (self.code, "", self.person.id)


def e_findings(
    county: County, feeds: Feeds, today: bool, params: dict[str, Any], running: tuple[str, ...]
) -> Iterator[Hit]:
    """Every finding of the rules E in ``running`` on the model (monitoring.md §4)."""
    Y = county.working_year
    end = dt.date(Y, 12, 31)
    mon_line, other_line, months = thresholds(params)
    first_day = _add_months(end, -months) + dt.timedelta(days=1)
    persons = {p.id: p for p in county.persons}
    towns, villages = register_places(county)
    rows: dict[str, list[tuple[Household, Member]]] = defaultdict(list)
    for hh in county.households:
        hy = hh.years.get(Y)
        if hy is None:
            continue
        for m in hy.members:
            if m.id_problem is None:
                rows[m.id_number].append((hh, m))
    houses = {hh.hid: house(hh, Y, today) for hh in county.households if Y in hh.years}

    def placed(code: str, pid: str) -> Hit | None:
        p = persons.get(pid)
        if p is None or not resident(p, Y):
            return None
        t, v = place(p.address, towns, villages)
        return Hit(code, None, None, p, t, v)

    def is_resident(pid: str) -> bool:
        p = persons.get(pid)
        return p is not None and resident(p, Y)

    def dibao_kind(rec: Assistance) -> str | None:
        return (
            "低保"
            if rec.kind in ("农村低保", "城市低保")
            else "特困"
            if rec.kind == "特困供养"
            else None
        )

    # dibao_not_monitored
    if "dibao_not_monitored" in running:
        for pid, recs in feeds.civil.items():
            if not any(
                not r.broken and r.kind in ("农村低保", "特困供养") and r.active(end) for r in recs
            ):
                continue
            if pid in rows:
                if not is_resident(pid):
                    continue
                for hh, m in rows[pid]:
                    if not houses[hh.hid].poor_or_monitored:
                        yield Hit("dibao_not_monitored", hh, m)
            elif (hit := placed("dibao_not_monitored", pid)) is not None:
                yield hit
    # dibao_record_mismatch
    if "dibao_record_mismatch" in running:
        for pid, regs in rows.items():
            recs = [r for r in feeds.civil.get(pid, []) if not r.broken and r.active(end)]
            kinds = {dibao_kind(r) for r in recs}
            for hh, m in regs:
                dibao, destitute = (
                    (enjoys_dibao(m), enjoys_destitute(m))
                    if today
                    else (hh.household_type == "低保户", hh.household_type == "特困供养户")
                )
                if dibao != ("低保" in kinds) or destitute != ("特困" in kinds):
                    yield Hit("dibao_record_mismatch", hh, m)
    # high_medical_cost
    if "high_medical_cost" in running:
        for pid, recs in feeds.medical.items():
            paid = sum(
                (Decimal(str(r.self_paid)) for r in recs if r.year == Y and not r.broken),
                Decimal(0),
            )
            if pid in rows:
                for hh, m in rows[pid]:
                    h = houses[hh.hid]
                    if h.risk_open and "因病" in h.risks:
                        continue
                    if (
                        h.poor_or_monitored
                        and paid >= mon_line
                        or not h.poor_or_monitored
                        and paid >= other_line
                        and is_resident(pid)
                    ):
                        yield Hit("high_medical_cost", hh, m)
            elif paid >= other_line and (hit := placed("high_medical_cost", pid)) is not None:
                yield hit
    # medical_enrolment_mismatch
    if "medical_enrolment_mismatch" in running:
        for pid, regs in rows.items():
            has = any(
                r.year == Y and r.kind == RESIDENT_KIND and r.status == "正常参保" and not r.broken
                for r in feeds.medical.get(pid, [])
            )
            for hh, m in regs:
                if m.med != has:
                    yield Hit("medical_enrolment_mismatch", hh, m)
    # student_not_enrolled, school_status_mismatch
    for pid, regs in rows.items():
        reading = [
            r
            for r in feeds.school.get(pid, [])
            if r.school_year == Y and r.status == "在读" and not r.broken
        ]
        for hh, m in regs:
            a = age_sep1(m.person.birth, Y)
            if "student_not_enrolled" in running and 6 <= a <= 15 and not reading:
                yield Hit("student_not_enrolled", hh, m)
            if (
                "school_status_mismatch" in running
                and reading
                and (
                    m.school_status == "非在校生"
                    or not any(school_matches(m.school_status, r.stage, r.grade) for r in reading)
                )
            ):
                yield Hit("school_status_mismatch", hh, m)
    # disability rules
    valid = {
        pid: [c for c in cs if c.status == "有效" and not c.broken]
        for pid, cs in feeds.certs.items()
    }
    if "disability_unrecorded" in running:
        for pid, regs in rows.items():
            if valid.get(pid):
                for hh, m in regs:
                    if m.health != "残疾":
                        yield Hit("disability_unrecorded", hh, m)
    if "severe_disability_without_subsidy" in running:
        for hh in county.households:
            hy = hh.years.get(Y)
            if hy is None:
                continue
            h = houses[hh.hid]
            if not (h.poor_exited or h.risk_open) or h.subsidy:
                continue
            severe = [
                m
                for m in hy.members
                if m.id_problem is None and any(c.severe for c in valid.get(m.id_number, []))
            ]
            if severe:
                yield Hit("severe_disability_without_subsidy", hh, severe[0])
    if "new_severe_disability" in running:
        for pid, cs in valid.items():
            if not any(c.severe and first_day <= c.issued <= end for c in cs):
                continue
            if pid in rows:
                if not is_resident(pid):
                    continue
                for hh, m in rows[pid]:
                    if not houses[hh.hid].risk_open:
                        yield Hit("new_severe_disability", hh, m)
            elif (hit := placed("new_severe_disability", pid)) is not None:
                yield hit


def _add_months(d: dt.date, n: int) -> dt.date:
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    last = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, m, min(d.day, last))
