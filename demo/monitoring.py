"""The 防返贫监测 record of today's export: a clean one for every household, kept
clean after the section A/B problems are planted, and the rules D read back in Python.

Today's export (monitoring.md §1) adds to every register row the household's
monitoring record (户类型, 监测对象类别, dates, 致贫/返贫风险, the 14 帮扶措施, 兜底)
and person-level columns (享受低保/特困, 城镇职工医保/养老, 合规自付支出). The legacy
建档立卡 export has none of this, and nothing here runs for it.

- :func:`assign` gives every household a record no rule D flags: risks its
  members support, the measures the risks call for, a development measure where
  someone can work, 低保 for a household nobody in which can work.
- :func:`reconcile` runs after the section A/B problems: they change members
  (a pupil out of school, a bride moved, a teenager at work), and the D-only
  columns follow so those households stay D-clean.
- :func:`d_findings` is rules D in Python over the model (the oracle): the truth
  of every household a D problem was planted on, and a check on all the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from demo import pools as P
from demo.model import HouseholdYear, Member, Monitoring, age_dec31, age_sep1
from department_feeds.register import DEVELOPMENT_MEASURES, LABOUR_VALUES, MEASURE_FIELDS

if TYPE_CHECKING:  # type hints only: demo.county imports demo.model, not this module
    from demo.county import County, Household

log = logging.getLogger(__name__)

MEASURES = tuple(f for f, _, _ in MEASURE_FIELDS)
ILL = ("患有大病", "长期慢性病")
NO_LABOUR = ("无劳动力", "丧失劳动力")
HELPED, NATURAL = "帮扶消除", "自然消除"
SUDDEN = "突发严重困难户"
DIBAO_DEFAULT = "享受农村低保"
DESTITUTE_DEFAULT = "享受农村特困供养"


def add_months(d: dt.date, n: int) -> dt.date:
    """``d`` plus ``n`` calendar months, clamped to the month's end (as DuckDB does)."""
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    last = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, m, min(d.day, last))


# ---------------------------------------------------------------- member predicates
def has_labour(m: Member) -> bool:
    return m.labour_skill in LABOUR_VALUES


def is_student(m: Member) -> bool:
    return m.school_status != "非在校生"


def enjoys_dibao(m: Member) -> bool:
    return bool(m.dibao_status) and m.dibao_status != "未享受"


def enjoys_destitute(m: Member) -> bool:
    return bool(m.destitute_status) and m.destitute_status != "未享受"


def age(m: Member, year: int) -> int | None:
    """Age at 31 December as the engine reads it: from a valid ID number only."""
    return None if m.id_problem is not None else age_dec31(m.person.birth, year)


def age_sep(m: Member, year: int) -> int | None:
    return None if m.id_problem is not None else age_sep1(m.person.birth, year)


def med_missing(m: Member) -> bool:
    """medical_insurance_missing as today's export reads it (monitoring.md §3)."""
    return (not m.med and not m.emp_med) or (m.med and not m.crit)


@dataclass(frozen=True)
class State:
    """What rules D read of one household in the working year."""

    kind: str
    category: str | None
    eliminated: bool | None

    @property
    def poor_exited(self) -> bool:
        return self.kind == "脱贫户"

    @property
    def monitored(self) -> bool:
        return self.category is not None

    @property
    def risk_open(self) -> bool:
        return self.monitored and self.eliminated is not True

    @property
    def risk_closed(self) -> bool:
        return self.monitored and self.eliminated is True


def state(hh: Household, year: int) -> State:
    assert hh.mon is not None
    return State(*hh.mon.view(year, hh.exit_year))


# ---------------------------------------------------------------- the clean record
class Monitor:
    """Builds and keeps the clean monitoring record of a county (today's export)."""

    def __init__(self, county: County, seed: int) -> None:
        self.c = county
        self.Y = county.working_year
        self.rng = random.Random(seed * 53 + 11)

    # -------------------------------------------------------------- helpers
    def date_in(self, lo: dt.date, hi: dt.date) -> dt.date:
        return lo + dt.timedelta(days=self.rng.randrange(0, max(1, (hi - lo).days + 1)))

    def pick(self, field: str, n: int = 1) -> str:
        items = P.MEASURE_ITEMS[field]
        chosen = self.rng.sample(items, min(n, len(items)))
        return self.rng.choice(P.MEASURE_SEPARATORS).join(chosen)

    def add_item(self, mon: Monitoring, field: str, item: str) -> None:
        old = mon.measures.get(field)
        if not old:
            mon.measures[field] = item
        elif item not in old:
            mon.measures[field] = old + "、" + item

    def set_household_type(self, hh: Household, kind: str) -> None:
        """低保户 / 特困供养户 with the payments that go with it, in every year."""
        r = self.rng
        hh.household_type = kind
        for hy in hh.years.values():
            hy.household_type = kind
            n = hy.size
            if kind == "低保户" and not hy.dibao:
                hy.dibao = n * 12 * (r.randint(30, 40) * 10)
                hy.transfer += hy.dibao
            if kind == "特困供养户" and not hy.destitute:
                hy.destitute = 12 * r.randint(55, 70) * 10
                hy.transfer += hy.destitute
            hy.recompute_totals()
        for year in sorted(hh.years):
            prev, hy = hh.years.get(year - 1), hh.years[year]
            if prev is not None and prev.per_capita == hy.per_capita:
                hy.business += 7 * hy.size
                hy.recompute_totals()
        for hy in hh.years.values():
            for m in hy.members:
                self.person_statuses(hh, m)

    def person_statuses(self, hh: Household, m: Member) -> None:
        r = self.rng
        m.dibao_status = r.choice(P.DIBAO_ENJOYED) if hh.household_type == "低保户" else "未享受"
        m.destitute_status = (
            r.choice(P.DESTITUTE_ENJOYED) if hh.household_type == "特困供养户" else "未享受"
        )

    # -------------------------------------------------------------- assign
    def assign(self) -> None:
        """A clean record for every household (before any problem is planted)."""
        r = self.rng
        for hh in self.c.households:
            for hy in hh.years.values():
                for m in hy.members:
                    self.person_statuses(hh, m)
                    self.person_columns(m)
            hh.mon = self.record(hh)
            hy = hh.years[self.Y]
            st = state(hh, self.Y)
            ms = hy.members
            if (
                (st.poor_exited or st.risk_open)
                and not any(map(has_labour, ms))
                and hh.household_type == "一般户"
            ):
                # nobody can work: the household lives on 低保 (特困 for one old person)
                single_old = len(ms) == 1 and (age(ms[0], self.Y) or 0) >= 60
                self.set_household_type(
                    hh, "特困供养户" if single_old and r.random() < 0.5 else "低保户"
                )
            self.measures(hh, hy, st)
            hh.mon.codes = r.random() < 0.3

    def person_columns(self, m: Member) -> None:
        r = self.rng
        p = m.person
        if p.enterprise_si:
            # migrant workers with a contract: 城镇职工 insurance instead of 城乡居民
            m.emp_pension = True
            if r.random() < 0.5:
                m.emp_med, m.med, m.crit = True, False, False
        if m.health == "患有大病":
            m.self_paid = round(r.uniform(3000, 30000), 2)
        elif m.health in ("长期慢性病", "残疾"):
            m.self_paid = round(r.uniform(200, 5000), 2)
        else:
            roll = r.random()
            m.self_paid = (
                None if roll < 0.6 else (0 if roll < 0.85 else round(r.uniform(20, 800), 2))
            )

    def record(self, hh: Household) -> Monitoring:
        r = self.rng
        Y = self.Y
        mon = Monitoring()
        status = hh.status
        if status == "已脱贫":
            return mon
        if status == "风险已消除":
            mon.category = r.choice(["边缘易致贫户"] * 2 + [SUDDEN])
            mon.mon_from = self.date_in(dt.date(2021, 3, 1), dt.date(Y - 1, 6, 30))
            to = add_months(mon.mon_from, r.randint(7, 24)) + dt.timedelta(days=r.randint(0, 20))
            mon.mon_to = min(to, dt.date(Y, 11, 30))
            mon.eliminated = True
            mon.mode = HELPED if r.random() < 0.8 else NATURAL
        else:
            mon.category = status
            if hh.first_year == Y:
                mon.mon_from = self.date_in(dt.date(Y, 1, 5), dt.date(Y, 11, 20))
            else:
                mon.mon_from = self.date_in(dt.date(2021, 3, 1), dt.date(Y - 1, 12, 20))
            mon.eliminated = None if r.random() < 0.1 else False
        mon.risks = self.risks(hh.years[Y], hh)
        return mon

    def risks(self, hy: HouseholdYear, hh: Household) -> list[str]:
        """1–3 risk types the household's members support (risk_type_unsupported)."""
        r = self.rng
        ms = hy.members
        supported: list[str] = []
        if any(m.health in ILL for m in ms):
            supported += ["因病"] * 4
        if any(m.health == "残疾" for m in ms):
            supported += ["因残"] * 3
        if not all(map(has_labour, ms)):
            supported += ["缺劳动力"] * 2
        if any(is_student(m) and m.school_status != "学前教育" for m in ms):
            supported += ["因学"] * 2
        if any(map(has_labour, ms)):
            supported += ["因务工就业不稳", "因产业项目失败"]
        if hy.dangerous:
            supported += ["因安全住房"] * 3
        supported += ["因灾", "因意外事故", "其他"]
        first = {"缺劳力": "缺劳动力"}.get(hh.cause, hh.cause)
        out = [first] if first in supported else []
        for _ in range(r.choice([1, 1, 2, 2, 3])):
            w = r.choice(supported)
            if w not in out and len(out) < 3:
                out.append(w)
        return out

    def measures(self, hh: Household, hy: HouseholdYear, st: State) -> None:
        """The measures of a clean household (none for a third of the 脱贫户)."""
        r = self.rng
        mon = hh.mon
        assert mon is not None
        mon.measures.clear()
        if not st.monitored and r.random() < 0.35:
            self.comprehensive(mon, hy)
            return
        ms = hy.members
        if any(map(has_labour, ms)):
            if any(m.work_status not in ("无", "") for m in ms):
                mon.measures["measure_employment"] = self.pick(
                    "measure_employment", r.randint(1, 2)
                )
            for f in r.sample(DEVELOPMENT_MEASURES, r.randint(0, 2)):
                mon.measures[f] = self.pick(f, r.randint(1, 2))
            if not any(f in mon.measures for f in DEVELOPMENT_MEASURES):
                mon.measures["measure_industry"] = self.pick("measure_industry", r.randint(1, 2))
        self.matching(mon)
        for f, p in (
            ("measure_social", 0.3),
            ("measure_living_conditions", 0.2),
            ("measure_infrastructure", 0.15),
        ):
            if r.random() < p:
                mon.measures[f] = self.pick(f)
        if any(6 <= (age_sep(m, self.Y) or 0) <= 15 for m in ms) and r.random() < 0.3:
            mon.measures["measure_compulsory_education"] = self.pick("measure_compulsory_education")
        self.comprehensive(mon, hy)
        if not mon.measures:
            mon.measures["measure_social"] = self.pick("measure_social")

    def matching(self, mon: Monitoring) -> None:
        """The measure each risk calls for (risk_without_matching_measure)."""
        r = self.rng
        for risk in mon.risks:
            if risk == "因病" and not (
                mon.measures.get("measure_health") or mon.measures.get("measure_social")
            ):
                f = "measure_health" if r.random() < 0.85 else "measure_social"
                mon.measures[f] = self.pick(f, r.randint(1, 2))
            elif risk == "因学" and not mon.measures.get("measure_education"):
                mon.measures["measure_education"] = self.pick("measure_education", r.randint(1, 2))
            elif risk == "因安全住房" and not (
                mon.measures.get("measure_housing") or mon.measures.get("measure_relocation")
            ):
                f = "measure_housing" if r.random() < 0.8 else "measure_relocation"
                mon.measures[f] = self.pick(f)
            elif risk == "因安全饮水" and not mon.measures.get("measure_water"):
                mon.measures["measure_water"] = self.pick("measure_water")

    def comprehensive(self, mon: Monitoring, hy: HouseholdYear) -> None:
        """综合保障 listing 低保 / 特困 exactly when a member enjoys it."""
        r = self.rng
        ms = hy.members
        items = [
            x
            for x in _split(mon.measures.get("measure_comprehensive", ""))
            if "低保" not in x and "特困" not in x
        ]
        if any(map(enjoys_dibao, ms)):
            items.insert(0, r.choice(P.DIBAO_ITEM))
        if any(map(enjoys_destitute, ms)):
            items.insert(0, r.choice(P.DESTITUTE_ITEM))
        if not items and any(m.health == "残疾" for m in ms) and r.random() < 0.5:
            items.append("残疾人两项补贴")
        if not items and any((age(m, self.Y) or 0) >= 80 for m in ms) and r.random() < 0.5:
            items.append("高龄补贴")
        if items:
            mon.measures["measure_comprehensive"] = "、".join(items)
        else:
            mon.measures.pop("measure_comprehensive", None)

    # -------------------------------------------------------------- reconcile
    def reconcile(self) -> None:
        """Keep every household D-clean after the section A/B problems."""
        for hh in self.c.households:
            if self.Y in hh.years:
                self.clean(hh)

    def clean(self, hh: Household) -> None:
        r = self.rng
        Y = self.Y
        hy = hh.years[Y]
        mon = hh.mon
        assert mon is not None
        ms = hy.members
        st = state(hh, Y)
        for m in ms:
            a = age(m, Y)
            if (
                a is not None
                and 16 <= a <= 59
                and m.health == "健康"
                and not is_student(m)
                and m.labour_skill in NO_LABOUR
            ):
                m.labour_skill = "普通劳动力"  # a teenager at work, not "no labour"
        covered = any(enjoys_dibao(m) or enjoys_destitute(m) for m in ms)
        if (st.poor_exited or st.risk_open) and not any(map(has_labour, ms)) and not covered:
            able = [
                m
                for m in ms
                if not is_student(m) and (a := age(m, Y)) is not None and 16 <= a <= 74
            ]
            if able:
                able[0].labour_skill = "弱劳动力或半劳动力"
        if st.risk_closed and mon.mode == HELPED and not any(map(has_labour, ms)):
            mon.mode = NATURAL
        if (
            st.monitored
            and mon.mon_from is not None
            and mon.mon_from.year == Y
            and mon.category != SUDDEN
            and hy.per_capita > 20000
        ):
            mon.category = SUDDEN
        if st.monitored:
            mon.risks = [w for w in mon.risks if self.supports(ms, w)]
            if not mon.risks:
                mon.risks = ["因务工就业不稳" if any(map(has_labour, ms)) else "缺劳动力"]
            self.matching(mon)
            dev = any(mon.measures.get(f) for f in DEVELOPMENT_MEASURES)
            if st.risk_open and any(map(has_labour, ms)) and not dev:
                mon.measures["measure_industry"] = self.pick("measure_industry")
            if st.risk_open and "因病" in mon.risks and not any(m.self_paid for m in ms):
                ill = next((m for m in ms if m.health in ILL), ms[0])
                ill.self_paid = round(r.uniform(500, 8000), 2)
        self.comprehensive(mon, hy)
        if st.monitored and not any(mon.measures.get(f) for f in MEASURES):
            mon.measures["measure_social"] = self.pick("measure_social")
        self.safety_net(hh)
        if not hh.used:
            self.certificates(hh)

    @staticmethod
    def supports(ms: list[Member], risk: str) -> bool:
        if risk == "因病":
            return any(m.health in ILL for m in ms)
        if risk == "因残":
            return any(m.health == "残疾" for m in ms)
        if risk == "缺劳动力":
            return not all(map(has_labour, ms))
        if risk == "因学":
            return any(map(is_student, ms))
        return True

    def safety_net(self, hh: Household) -> None:
        ms = hh.years[self.Y].members
        assert hh.mon is not None
        hh.mon.safety_net = not any(map(has_labour, ms)) and any(
            enjoys_dibao(m) or enjoys_destitute(m) for m in ms
        )

    def certificates(self, hh: Household) -> None:
        """残疾人证 numbers for some disabled members: the ID number, the 残疾类别
        digit and the 残疾等级 digit (and a 2-digit sequence on newer cards)."""
        r = self.rng
        certs: dict[int, str] = {}
        for m in hh.years[self.Y].members:
            if (
                m.health == "残疾"
                and m.id_problem is None
                and m.id_raw == m.id_number == m.person.id
                and r.random() < 0.4
            ):
                cert = f"{m.id_number}{r.randint(1, 7)}{r.randint(1, 4)}"
                if r.random() < 0.5:
                    cert += f"{r.randint(1, 3):02d}"
                certs[m.person.pid] = cert
        if not certs:
            return
        for hy in hh.years.values():
            for m in hy.members:
                cert = certs.get(m.person.pid)
                if cert and m.id_problem is None and m.id_raw == m.id_number:
                    m.id_type, m.id_raw = "残疾人证", cert


def _split(text: str) -> list[str]:
    for sep in P.MEASURE_SEPARATORS:
        text = text.replace(sep, "、")
    return [x.strip() for x in text.split("、") if x.strip()]


# ---------------------------------------------------------------- the oracle
def d_findings(
    hh: Household, year: int, params: dict[str, Any], run_date: dt.date
) -> Iterator[tuple[str, Member | None]]:
    """(rule code, member for person-level rules) of every rule D that flags ``hh``."""
    hy = hh.years[year]
    mon = hh.mon
    assert mon is not None
    ms = hy.members
    st = state(hh, year)
    meas = {f: v for f, v in mon.measures.items() if v}
    blank = not meas
    dev = any(f in meas for f in DEVELOPMENT_MEASURES)
    labour = any(map(has_labour, ms))
    dibao = any(map(enjoys_dibao, ms))
    destitute = any(map(enjoys_destitute, ms))
    risks = mon.risks
    grace = mon.mon_from is None or mon.mon_from <= run_date - dt.timedelta(
        days=int(params["measure_grace_days"])
    )
    closed_helped = st.risk_closed and mon.mode == HELPED
    if st.risk_open and blank and grace:
        yield "monitoring_without_measures", None
    if st.risk_open and labour and not dev and grace:
        yield "labour_without_development", None
    if (st.poor_exited or st.risk_open) and not labour and not dibao and not destitute:
        yield "no_labour_without_safety_net", None
    if closed_helped and not labour:
        yield "eliminated_without_labour", None
    if (
        closed_helped
        and mon.mon_from is not None
        and mon.mon_to is not None
        and mon.mon_to < add_months(mon.mon_from, int(params["elimination_min_months"]))
    ):
        yield "eliminated_too_soon", None
    if st.risk_closed:
        lo, hi = int(params["school_age_min"]), int(params["school_age_max"])
        dropout = any(
            (a := age_sep(m, year)) is not None and lo <= a <= hi and m.school_status == "非在校生"
            for m in ms
        )
        if (
            Decimal(hy.per_capita) < params["income_line"]
            or hy.dangerous
            or not hy.safe_water
            or dropout
            or any(map(med_missing, ms))
        ):
            yield "eliminated_with_gaps", None
    if (
        st.monitored
        and mon.mon_from is not None
        and mon.mon_from.year == year
        and st.category != SUDDEN
        and Decimal(hy.per_capita) > params["identified_income_max"]
    ):
        yield "identified_above_range", None
    if st.risk_open and any(
        not Monitor.supports(ms, w) for w in ("因病", "因残", "缺劳动力", "因学") if w in risks
    ):
        yield "risk_type_unsupported", None
    if (
        st.risk_open
        and grace
        and (
            ("因病" in risks and not ("measure_health" in meas or "measure_social" in meas))
            or ("因学" in risks and "measure_education" not in meas)
            or (
                "因安全住房" in risks
                and not ("measure_housing" in meas or "measure_relocation" in meas)
            )
            or ("因安全饮水" in risks and "measure_water" not in meas)
        )
    ):
        yield "risk_without_matching_measure", None
    if st.monitored:
        comp = meas.get("measure_comprehensive", "")
        if ("低保" in comp) != dibao or ("特困" in comp) != destitute:
            yield "safety_net_record_mismatch", None
    for m in ms:
        a = age(m, year)
        healthy = m.health == "健康" and not is_student(m)
        if enjoys_destitute(m) and a is not None and 18 <= a <= 59 and healthy:
            yield "destitute_working_age_healthy", m
    if st.poor_exited or st.monitored:
        for m in ms:
            a = age(m, year)
            if (
                a is not None
                and 16 <= a <= 59
                and m.health == "健康"
                and not is_student(m)
                and m.labour_skill in NO_LABOUR
            ):
                yield "working_age_no_labour", m
    if closed_helped and blank:
        yield "eliminated_without_measures", None
    if st.risk_open and "因病" in risks and not any(m.self_paid for m in ms):
        yield "ill_risk_without_costs", None
    for m in ms:
        if m.med and m.emp_med:
            yield "medical_insurance_double", m
