"""Inject known problems (truth.csv) and near misses (near_misses.csv).

Every problem goes on its own household, clean until then, and is shaped so
that it trips exactly its rule (rules.md §A/§B) and nothing else: a child with
no department records carries a wrong number, a current household gets the car,
an exited one the dangerous house. Near misses sit just on the safe side of a
rule (motorcycles, 安置房, cooperatives, 9.99 万元, deaths after year end, age 16
out of school, income changed by a few yuan…) and must never be flagged.

Today's 防返贫监测 export adds rules D (:mod:`demo.inject_monitoring`), planted
after the monitoring record was made clean again (:mod:`demo.monitoring`); a
legacy 建档立卡 county has no such record and gets no rule D problem. In mixed
mode (:data:`MIXED`) some households carry several problems at once, or a near
miss beside a real problem. Rules E (:mod:`demo.inject_warnings`) come last, in
either export, on the early-warning feeds built from the final register.

Truth rows hold what the rule reports: person-level rules the member's number
as the finding prints it (normalised when valid or readable, else the raw
cell), household-level rules the household (and, for the two summing income
rules, the member with the largest amount), the village rule the village and
group.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable

from checks.rules import ALL_RULES, RULES_BY_CODE
from checks.rules.base import Rule
from checks.thresholds import load_thresholds
from core.idcard import check_digit
from demo import pools as P
from demo.county import (
    PENSION_ENTERPRISE,
    PENSION_PUBLIC,
    PENSION_URBAN_RURAL,
    SMALL_VEHICLES,
    Builder,
    County,
    Household,
    Person,
)
from demo.early_warning import E_RULES
from demo.ids import plate, with_check
from demo.inject_monitoring import MonitoringInjections
from demo.inject_warnings import WarningInjections
from demo.model import Finding, HouseholdYear, Member, age_dec31, age_sep1, half_up
from demo.monitoring import Monitor
from demo.registry import (
    INJECTORS,
    NEAR_MISSES,
    Skip,
    injects,
    missing_injectors,
    near_misses,
)
from demo.render import LEGACY_FIELDS

log = logging.getLogger(__name__)

# Mixed mode: problems ("p") and near misses ("n", decoys) planted together on one
# household, as (kind, rule, variant); the first step picks the household.
MIXED: tuple[tuple[tuple[str, str, int], ...], ...] = (
    # several problems of sections A/B
    (("p", "owns_car", 0), ("p", "business_owner", 0), ("p", "phone_invalid", 0)),
    (("p", "exited_below_income_line", 0), ("p", "exited_without_guarantees", 0)),
    (("p", "medical_insurance_missing", 0), ("p", "pension_insurance_missing", 0)),
    (("p", "compulsory_education_dropout", 0), ("p", "gender_id_mismatch", 0)),
    (("p", "income_unchanged", 0), ("p", "household_head_invalid", 1)),
    (("p", "owns_urban_property", 0), ("p", "public_employee", 0)),
    (("p", "deceased_still_registered", 0), ("p", "phone_invalid", 1)),
    # decoys beside real problems
    (("n", "owns_car", 0), ("p", "tax_income_exceeds_register", 0)),
    (("n", "exited_below_income_line", 0), ("p", "exited_without_guarantees", 1)),
    (("n", "pension_insurance_missing", 0), ("p", "hukou_name_mismatch", 0)),
    (("n", "business_owner", 0), ("p", "owns_car", 0)),
    # rules D, and D with A/B
    (
        ("p", "ill_risk_without_costs", 0),
        ("p", "monitoring_without_measures", 0),
        ("p", "medical_insurance_double", 0),
    ),
    (
        ("p", "eliminated_too_soon", 0),
        ("p", "eliminated_without_measures", 0),
        ("p", "eliminated_with_gaps", 2),
    ),
    (("p", "working_age_no_labour", 1), ("p", "destitute_working_age_healthy", 1)),
    (("p", "safety_net_record_mismatch", 0), ("p", "labour_without_development", 0)),
    (("p", "owns_car", 0), ("p", "labour_without_development", 0)),
    (("p", "compulsory_education_dropout", 0), ("p", "risk_without_matching_measure", 2)),
    (("p", "no_labour_without_safety_net", 0), ("p", "exited_below_income_line", 0)),
    (("n", "eliminated_too_soon", 0), ("p", "eliminated_with_gaps", 0)),
    (("n", "identified_above_range", 0), ("p", "risk_type_unsupported", 3)),
    (("n", "risk_without_matching_measure", 0), ("p", "medical_insurance_double", 0)),
    (("n", "medical_insurance_missing", 0), ("p", "working_age_no_labour", 1)),
    (("n", "working_age_no_labour", 0), ("p", "phone_invalid", 0)),
)

# Household-level rules that name the member with the largest amount (rules.md).
NAMED_HOUSEHOLD_RULES = ("tax_income_exceeds_register", "wage_exceeds_register")


def needs_today(rule: Rule) -> bool:
    """A rule reading register columns the legacy 建档立卡 export does not have
    (rules D): not run on a legacy county, so nothing is planted for it there."""
    return any(c not in LEGACY_FIELDS for c in rule.columns)


class Injector(WarningInjections, MonitoringInjections):
    def __init__(
        self,
        county: County,
        builder: Builder,
        k: int,
        seed: int,
        export_format: str = "today",
        mixed: bool = False,
        run_date: dt.date | None = None,
        monitor: Monitor | None = None,
    ) -> None:
        self.c = county
        self.b = builder
        self.k = k
        self.seed = seed
        self.Y = county.working_year
        self.rng = random.Random(seed * 31 + 5)
        self.truth: list = []
        self.near: list = []
        self.village_overrides: list[tuple[int, int, str | None, str, int]] = []
        self.pool = list(county.households)
        self.rng.shuffle(self.pool)
        self.used_villages: set[int] = set()
        self._si: dict[str, list[list]] | None = None
        self._hs: dict[str, list[list]] | None = None
        self.today = export_format == "today"
        self.mixed = mixed
        self.run_date = run_date or dt.date(self.Y + 1, 1, 20)
        self.params = load_thresholds().sql_params(self.Y, self.run_date)
        if self.today and monitor is None:
            # today's export: every household's clean monitoring record first
            monitor = Monitor(county, seed)
            monitor.assign()
        self.monitor = monitor
        self.forced: Household | None = None
        """The household the next :meth:`take` must return (mixed mode)."""
        self.first_taken: Household | None = None
        self.d_notes: dict[tuple[str, str, str], str] = {}
        self.unplanned: list[tuple[str, str]] = []
        """(rule, household) findings of rules D nobody planted (must be none)."""

    # ------------------------------------------------------------------ plumbing
    def run(self) -> None:
        """Plant ``k`` problems of every rule, in catalogue order, and its near misses:
        sections A/B first, then (today's export) the D rules on the monitoring record
        made clean again; in mixed mode, overlapping problems and decoys last."""
        missing = missing_injectors()
        if missing:
            raise RuntimeError(f"no injector (@injects) for rules: {', '.join(missing)}")
        for rule in ALL_RULES:
            if not needs_today(rule) and rule.code not in E_RULES:
                self.plant(rule.code)
        if self.today:
            assert self.monitor is not None
            self.monitor.reconcile()
            # rules D share few households (已消除风险 ones): problems before near misses
            d_rules = [r.code for r in ALL_RULES if needs_today(r) and r.code not in E_RULES]
            for code in d_rules:
                self.plant(code, near=False)
            for code in d_rules:
                self.plant(code, problems=False)
        if self.mixed:
            self.mix()
        if self.today:
            self.d_truth()
        # rules E last: the early-warning feeds follow the final register
        self.warnings()

    def plant(self, code: str, problems: bool = True, near: bool = True) -> None:
        fn = INJECTORS[code]
        done = 0
        attempt = 0
        while problems and done < self.k and attempt < self.k * 6:
            try:
                fn(self, attempt)
                done += 1
            except Skip:
                pass
            attempt += 1
        if problems and done < self.k:
            log.warning(
                "only %d of %d %s problems fit this county (too few households)",
                done,
                self.k,
                code,
            )
        miss = NEAR_MISSES.get(code)
        if near and miss is not None:
            for variant in range(8):
                try:
                    miss(self, variant)
                except Skip:
                    pass
                except IndexError:
                    break

    def take(self, pred: Callable[[Household], bool]) -> Household:
        if self.forced is not None:
            hh, self.forced = self.forced, None
            if pred(hh):
                return hh
            raise Skip
        for hh in self.pool:
            if not hh.used and hh.first_year == self.Y - 2 and pred(hh):
                hh.used = True
                if self.first_taken is None:
                    self.first_taken = hh
                return hh
        raise Skip

    # ------------------------------------------------------------------ mixed mode
    def mix(self) -> None:
        """Overlapping cases: each combination of :data:`MIXED` planted ``k`` times on
        one household each (rules D only in today's export)."""
        for steps in MIXED:
            if not self.today and any(needs_today(RULES_BY_CODE[c]) for _, c, _ in steps):
                continue
            for _ in range(self.k):
                for _attempt in range(6):
                    if self.combination(steps):
                        break

    def combination(self, steps: tuple[tuple[str, str, int], ...]) -> bool:
        """Plant ``steps`` on one household (the first step's); True if all fitted.
        A later step that does not fit that household is left out."""
        hh: Household | None = None
        complete = True
        for kind, code, variant in steps:
            fn = (INJECTORS if kind == "p" else NEAR_MISSES)[code]
            self.forced, self.first_taken = hh, None
            try:
                fn(self, variant)
            except (Skip, IndexError):
                if hh is None:
                    return False
                complete = False
                continue
            finally:
                self.forced = None
            if hh is None:
                hh = self.first_taken
                assert hh is not None
                if hh.mon is not None:
                    hh.mon.touched = True  # its rule D truth is read back whatever happens
        return complete

    def hy(self, hh: Household, year: int | None = None) -> HouseholdYear:
        return hh.years[self.Y if year is None else year]

    def age(self, p: Person) -> int:
        return age_dec31(p.birth, self.Y)

    def age_sep(self, p: Person) -> int:
        return age_sep1(p.birth, self.Y)

    def members(self, hh: Household, pred: Callable[[Member], bool]) -> list[Member]:
        return [m for m in self.hy(hh).members if pred(m)]

    def member(self, hh: Household, pred: Callable[[Member], bool]) -> Member:
        ms = self.members(hh, pred)
        if not ms:
            raise Skip
        return ms[0]

    def fit(self, hh: Household, m: Member) -> Member:
        """A member moved (or copied) into ``hh`` takes its 低保/特困 status."""
        if self.monitor is not None:
            self.monitor.person_statuses(hh, m)
        return m

    def has(self, pred: Callable[[Member], bool]) -> Callable[[Household], bool]:
        return lambda hh: any(pred(m) for m in self.hy(hh).members)

    def adult(self, m: Member) -> bool:
        """16–59, not a student, pension-insured (the usual working member)."""
        a = self.age(m.person)
        return 18 <= a <= 59 and m.school_status == "非在校生" and m.pension

    def pupil(self, lo: int, hi: int) -> Callable[[Member], bool]:
        return lambda m: lo <= self.age_sep(m.person) <= hi and m.school_status not in ("非在校生",)

    def record(
        self,
        near: bool,
        code: str,
        level: str,
        hh: Household | None,
        m: Member | None = None,
        note: str = "",
        id_number: str | None = None,
        village: tuple[str, str, str] | None = None,
    ) -> None:
        if village is not None:
            town, vname, group = village
            hid = ""
        else:
            assert hh is not None
            hy = self.hy(hh)
            town, vname, group, hid = hy.township, hy.village, hy.group, hh.hid
        f = Finding(
            rule_code=code,
            level=level,
            township=town,
            village=vname,
            village_group=group,
            household_id=hid,
            id_number=(id_number if id_number is not None else (m.id_number if m else "")),
            name=(m.name if m and (level == "person" or code in NAMED_HOUSEHOLD_RULES) else ""),
            note=note,
        )
        (self.near if near else self.truth).append(f)

    def problem(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
        self.record(False, *a, **kw)

    def near_miss(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
        self.record(True, *a, **kw)

    def finish(self, hh: Household, year: int | None = None) -> None:
        """Recompute totals after a change, keeping every clean invariant."""
        year = self.Y if year is None else year
        hy = hh.years[year]
        hy.recompute_totals()
        if hh.exited and hy.per_capita < 6600:
            hy.business += (6600 - hy.per_capita) * hy.size + hy.size
            hy.recompute_totals()
        prev = hh.years.get(year - 1)
        if prev is not None and prev.per_capita == hy.per_capita:
            hy.business += 7 * hy.size
            hy.recompute_totals()

    # department rows of a person
    def si_rows(self, pid: str) -> list[list]:
        if self._si is None:
            self._si = {}
            for row in self.c.social_insurance:
                self._si.setdefault(row[0], []).append(row)
        return self._si.get(pid, [])

    def drop_si(self, pid: str, year: int | None = None) -> None:
        for row in self.si_rows(pid):
            if year is None or row[7] == year:
                row[0] = None

    def add_si(
        self,
        p: Person,
        kind: str,
        status: str,
        employer: str,
        ekind: str,
        base: int | None,
        year: int,
    ) -> None:
        row = [p.id, p.name, kind, status, employer, ekind, base, year]
        self.c.social_insurance.append(row)
        self.si_rows(p.id)
        assert self._si is not None
        self._si.setdefault(p.id, []).append(row)

    def hs_rows(self, pid: str) -> list[list]:
        if self._hs is None:
            self._hs = {}
            for row in self.c.house_safety:
                self._hs.setdefault(row[0], []).append(row)
        return self._hs.get(pid, [])

    def no_dept(self, hh: Household) -> bool:
        return not hh.has_dept_income

    def d(self, month: int, day: int, year: int | None = None) -> dt.date:
        return dt.date(self.Y if year is None else year, month, day)

    def town(self, p: Person) -> str:
        return self.c.towns[p.town]

    # ================================================================== §A register
    @injects("id_invalid")
    def p_id_invalid(self, i: int) -> None:
        v = i % 4
        hh = self.take(
            self.has(
                lambda m: (
                    m.relation != "户主"
                    and self.age(m.person) >= 1
                    and not m.id_number.endswith("X")
                )
            )
        )
        m = self.member(hh, lambda m: m.relation != "户主" and not m.id_number.endswith("X"))
        n = m.id_number
        if v == 0:
            m.id_raw = int(n)  # an Excel number: the last digits are gone
            m.id_problem = "precision_lost"
            out = str(int(float(int(n))))
            note = "证件号码以数字格式存储，末位丢失"
        elif v == 1:
            wrong = next(c for c in "0123456789X" if c != n[17] and c != check_digit(n[:17]))
            out = n[:17] + wrong
            m.id_raw, m.id_problem = out, "checksum"
            note = "校验位错误"
        elif v == 2:
            body = n[:10] + "02" + "30" + n[14:17]
            out = with_check(body)
            m.id_raw, m.id_problem = out, "birth_date"
            note = "出生日期不存在（2月30日）"
        else:
            out = n[:9] + n[10:]
            m.id_raw, m.id_problem = out, "length"
            note = "少录一位（17位）"
        m.id_number = out
        self.problem("id_invalid", "person", hh, m, note=note, id_number=out)

    @near_misses("id_invalid")
    def n_id_invalid(self, v: int) -> None:
        if v > 0:
            raise IndexError
        # a 残疾人证 number: 20 characters, the first 18 a valid ID number
        hh = self.take(
            self.has(
                lambda m: (
                    m.person.health == "残疾" and m.relation != "户主" and self.age(m.person) < 16
                )
            )
        )
        m = self.member(
            hh,
            lambda m: (
                m.person.health == "残疾" and m.relation != "户主" and self.age(m.person) < 16
            ),
        )
        m.id_type = "残疾人证"
        m.id_raw = m.id_number + "12"  # + 残疾类别 1 (视力), 残疾等级 2
        self.near_miss("id_invalid", "person", hh, m, note="残疾人证号（身份证号码+类别+等级）")

    @injects("id_duplicate")
    def p_id_duplicate(self, i: int) -> None:
        child = self.pupil(7, 14)
        hh = self.take(self.has(child))
        m = self.member(hh, child)
        if i % 3 == 2:
            # listed twice in the same household
            hy = self.hy(hh)
            hy.members.append(self.fit(hh, _copy_member(m, m.relation)))
            hy.size += 1
            self.finish(hh)
            self.problem("id_duplicate", "person", hh, m, note="同一户内重复登记")
            return
        other = self.take(lambda h: h.village != hh.village and self.hy(h).size >= 2)
        ohy = self.hy(other)
        ohy.members.append(
            self.fit(other, _copy_member(m, "之孙子" if m.gender == "男" else "之孙女"))
        )
        ohy.size += 1
        self.finish(other)
        self.problem("id_duplicate", "person", hh, m, note=f"同时登记在户 {other.hid}")
        self.problem("id_duplicate", "person", other, m, note=f"同时登记在户 {hh.hid}")

    @near_misses("id_duplicate")
    def n_id_duplicate(self, v: int) -> None:
        if v > 0:
            raise IndexError
        # married into another household this year: listed in one household per year.
        # Not one with a car or a business (clean in an exited household, a problem if
        # she marries into one in 帮扶).
        small = {t for t, _ in SMALL_VEHICLES}
        owners = {r[0] for r in self.c.vehicles if r[3] not in small}
        owners |= {r[0] for r in self.c.business}
        bride = lambda m: (  # noqa: E731
            m.relation == "之女"
            and 20 <= self.age(m.person) <= 30
            and m.school_status == "非在校生"
            and not m.person.taxed
            and not m.person.enterprise_si
            and m.person.id not in owners
        )
        a = self.take(lambda h: self.no_dept(h) and self.has(bride)(h))
        m = self.member(a, bride)
        b = self.take(lambda h: h.village != a.village and self.no_dept(h) and self.hy(h).size >= 2)
        self.hy(a).members.remove(m)
        self.hy(a).size -= 1
        self.finish(a)
        self.hy(b).members.append(self.fit(b, _copy_member(m, "之儿媳")))
        self.hy(b).size += 1
        self.finish(b)
        self.near_miss("id_duplicate", "person", b, m, note=f"上年在户 {a.hid}，本年嫁入本户")

    @injects("gender_id_mismatch")
    def p_gender_id_mismatch(self, i: int) -> None:
        hh = self.take(self.has(self.adult))
        m = self.member(hh, self.adult)
        m.gender = "女" if m.gender == "男" else "男"
        self.problem("gender_id_mismatch", "person", hh, m, note="性别与第17位不符")

    @injects("household_head_invalid")
    def p_household_head_invalid(self, i: int) -> None:
        if i % 2 == 0:
            hh = self.take(lambda h: self.hy(h).size >= 2)
            head = self.member(hh, lambda m: m.relation == "户主")
            head.relation = "其他"
            self.problem("household_head_invalid", "household", hh, head, note="无户主")
        else:
            hh = self.take(self.has(lambda m: m.relation == "配偶"))
            sp = self.member(hh, lambda m: m.relation == "配偶")
            sp.relation = "户主"
            head = self.member(hh, lambda m: m.relation == "户主")
            self.problem("household_head_invalid", "household", hh, head, note="两名户主")

    @injects("household_size_mismatch")
    def p_household_size_mismatch(self, i: int) -> None:
        if i % 2 == 0:
            hh = self.take(lambda h: True)
            hy = self.hy(hh)
            hy.size += 1  # the stated size, per-capita income computed with it
            self.finish(hh)
            self.problem("household_size_mismatch", "household", hh, note="家庭人口数多1")
        else:
            hh = self.take(lambda h: self.hy(h).size >= 2)
            m = self.member(hh, lambda m: m.relation != "户主")
            other = next(c for c in ("因病", "因学", "缺技术", "缺资金") if c != hh.cause)
            m.overrides = {"cause": other}
            self.problem(
                "household_size_mismatch", "household", hh, note="成员行主要致贫原因不一致"
            )

    @injects("income_arithmetic")
    def p_income_arithmetic(self, i: int) -> None:
        v = i % 3
        if v == 0:
            hh = self.take(lambda h: True)
            hy = self.hy(hh)
            hy.net += 500  # a component forgotten; per-capita left as it was
            self.problem("income_arithmetic", "household", hh, note="家庭年纯收入与各项之和不符")
        elif v == 1:
            hh = self.take(lambda h: self.hy(h).size >= 2)
            hy = self.hy(hh)
            wrong = half_up(hy.net, hy.size - 1)  # divided by the old size
            if hh.years[self.Y - 1].per_capita == wrong:
                raise Skip
            hy.per_capita = wrong
            self.problem("income_arithmetic", "household", hh, note="人均纯收入按错误人口数计算")
        else:
            hh = self.take(lambda h: self.hy(h).pension_pay + self.hy(h).dibao >= 1000)
            hy = self.hy(hh)
            hy.transfer = hy.dibao + hy.destitute + hy.pension_pay - 300
            self.finish(hh)
            self.problem(
                "income_arithmetic", "household", hh, note="低保金+特困金+养老金超过转移性收入"
            )

    @injects("income_unchanged")
    def p_income_unchanged(self, i: int) -> None:
        Y = self.Y
        hh = self.take(
            lambda h: (
                self.no_dept(h) and Y - 1 in h.years and self.hy(h).size == h.years[Y - 1].size
            )
        )
        _copy_income(hh.years[Y - 1], self.hy(hh))
        note = "年人均纯收入与上年相同"
        if i % 2 == 1 and Y - 2 in hh.years and hh.years[Y - 2].size == self.hy(hh).size:
            _copy_income(hh.years[Y - 1], hh.years[Y - 2])
            note = "年人均纯收入连续3年相同"
        self.problem("income_unchanged", "household", hh, note=note)

    @near_misses("income_unchanged")
    def n_income_unchanged(self, v: int) -> None:
        Y = self.Y
        if v > 1:
            raise IndexError
        hh = self.take(
            lambda h: (
                self.no_dept(h)
                and Y - 2 in h.years
                and self.hy(h).size == h.years[Y - 1].size == h.years[Y - 2].size
            )
        )
        if v == 0:
            _copy_income(hh.years[Y - 1], self.hy(hh))
            hy = self.hy(hh)
            hy.business += 4 * hy.size  # changed by a few yuan: not "unchanged"
            hy.recompute_totals()
            self.near_miss("income_unchanged", "household", hh, note="人均纯收入比上年多4元")
        else:
            if hh.years[Y - 1].per_capita == hh.years[Y - 2].per_capita:
                raise Skip
            _copy_income(hh.years[Y - 2], self.hy(hh))  # same as two years ago, not last year
            self.near_miss("income_unchanged", "household", hh, note="与前年相同、与上年不同")

    @injects("grade_stuck")
    def p_grade_stuck(self, i: int) -> None:
        Y = self.Y
        kid = self.pupil(8, 15)
        hh = self.take(lambda h: Y - 1 in h.years and self.has(kid)(h))
        m = self.member(hh, kid)
        prev = next((x for x in hh.years[Y - 1].members if x.person is m.person), None)
        if prev is None or prev.school_status in ("非在校生", "学前教育", "研究生"):
            raise Skip
        m.school_status, m.education = prev.school_status, prev.education
        self.problem("grade_stuck", "person", hh, m, note=f"连续两年{prev.school_status}")

    @near_misses("grade_stuck")
    def n_grade_stuck(self, v: int) -> None:
        if v > 0:
            raise IndexError
        Y = self.Y
        pre = lambda m: m.school_status == "学前教育" and self.age_sep(m.person) == 4  # noqa: E731
        hh = self.take(lambda h: Y - 1 in h.years and self.has(pre)(h))
        m = self.member(hh, pre)
        self.near_miss("grade_stuck", "person", hh, m, note="连续两年学前教育（不算年级）")

    @injects("age_school_mismatch")
    def p_age_school_mismatch(self, i: int) -> None:
        if i % 2 == 0:
            kid = self.pupil(10, 13)
            hh = self.take(self.has(kid))
            m = self.member(hh, kid)
            m.school_status, m.education = "小学一年级", "小学"
            self.problem(
                "age_school_mismatch",
                "person",
                hh,
                m,
                note=f"{self.age_sep(m.person)}岁读小学一年级",
            )
        else:
            hh = self.take(self.has(lambda m: self.adult(m) and self.age(m.person) >= 30))
            m = self.member(hh, lambda m: self.adult(m) and self.age(m.person) >= 30)
            m.school_status = "本科一年级"
            self.problem("age_school_mismatch", "person", hh, m, note="成年人登记为本科一年级")

    @near_misses("age_school_mismatch")
    def n_age_school_mismatch(self, v: int) -> None:
        if v > 0:
            raise IndexError
        kid = self.pupil(9, 9)
        hh = self.take(self.has(kid))
        m = self.member(hh, kid)
        m.school_status, m.education = "小学一年级", "小学"
        self.near_miss(
            "age_school_mismatch", "person", hh, m, note="9岁读小学一年级（相差3岁，不超过）"
        )

    @injects("compulsory_education_dropout")
    def p_compulsory_education_dropout(self, i: int) -> None:
        # still under 16 at 31 December: otherwise pension_insurance_missing fires too
        pupil = self.pupil(8, 15)
        kid = lambda m: pupil(m) and self.age(m.person) <= 15  # noqa: E731
        hh = self.take(lambda h: h.current and self.has(kid)(h))
        m = self.member(hh, kid)
        m.school_status = "非在校生"
        if i % 3 == 2:
            m.health = "残疾"
        self.problem(
            "compulsory_education_dropout",
            "person",
            hh,
            m,
            note=f"{self.age_sep(m.person)}岁非在校生" + ("（残疾）" if i % 3 == 2 else ""),
        )

    @near_misses("compulsory_education_dropout")
    def n_compulsory_education_dropout(self, v: int) -> None:
        if v > 1:
            raise IndexError
        if v == 0:
            # 16 at 1 September: past compulsory age; works and pays pension insurance
            teen = lambda m: self.age_sep(m.person) == 16 and m.relation != "户主"  # noqa: E731
            hh = self.take(lambda h: h.current and self.has(teen)(h))
            m = self.member(hh, teen)
            m.school_status = "非在校生"
            m.education = "初中"
            m.pension = True
            self.add_si(m.person, PENSION_URBAN_RURAL, "参保缴费", "", "无", None, self.Y)
            self.near_miss(
                "compulsory_education_dropout", "person", hh, m, note="16岁（9月1日）非在校生"
            )
            self.near_miss(
                "pension_insurance_missing", "person", hh, m, note="16岁已参加城乡居民养老保险"
            )
        else:
            small = lambda m: self.age_sep(m.person) == 5 and m.relation != "户主"  # noqa: E731
            hh = self.take(lambda h: h.current and self.has(small)(h))
            m = self.member(hh, small)
            m.school_status = "非在校生"
            self.near_miss("compulsory_education_dropout", "person", hh, m, note="5岁未入园")

    @injects("medical_insurance_missing")
    def p_medical_insurance_missing(self, i: int) -> None:
        hh = self.take(lambda h: h.current)
        m = self.rng.choice(self.hy(hh).members)
        if i % 2 == 0:
            m.med = m.emp_med = False
            note = "未参加基本医疗保险"
        else:
            m.med, m.crit, m.emp_med = True, False, False
            note = "参加城乡居民医保但未参加大病保险"
        self.problem("medical_insurance_missing", "person", hh, m, note=note)

    @near_misses("medical_insurance_missing")
    def n_medical_insurance_missing(self, v: int) -> None:
        if v > 0 or not self.today:
            raise IndexError
        hh = self.take(lambda h: h.current and self.has(self.adult)(h))
        m = self.member(hh, self.adult)
        m.med, m.emp_med, m.crit = False, True, False
        self.near_miss(
            "medical_insurance_missing",
            "person",
            hh,
            m,
            note="参加城镇职工医保（不参加城乡居民医保）",
        )

    def _set_per_capita(self, hh: Household, target: int) -> None:
        """Make 年人均纯收入 exactly ``target`` by changing business income (then
        the expense, then wages); validated before anything changes."""
        hy = self.hy(hh)
        want = target * hy.size
        w, e = hy.wage, hy.expense
        b = want - (w + hy.prop + hy.transfer - e)
        if b < e:
            e = 0
            b = want - (w + hy.prop + hy.transfer)
        if b < 0:
            w, b = want - hy.prop - hy.transfer, 0
        if w < 0:
            raise Skip
        hy.wage, hy.business, hy.expense = w, b, e
        hy.recompute_totals()
        assert hy.net == want and hy.per_capita == target, (hy.net, want)

    @injects("exited_below_income_line")
    def p_exited_below_income_line(self, i: int) -> None:
        hh = self.take(lambda h: h.status == "已脱贫" and self.no_dept(h) and not h.dangerous)
        self._set_per_capita(hh, self.rng.randint(4200, 5900))
        self.problem(
            "exited_below_income_line",
            "household",
            hh,
            note=f"人均纯收入 {self.hy(hh).per_capita} 元",
        )

    @near_misses("exited_below_income_line")
    def n_exited_below_income_line(self, v: int) -> None:
        if v > 1:
            raise IndexError
        if v == 0:
            hh = self.take(lambda h: h.status == "已脱贫" and self.no_dept(h))
            self._set_per_capita(hh, 6000)
            self.near_miss("exited_below_income_line", "household", hh, note="人均纯收入恰为6000元")
        else:
            hh = self.take(lambda h: h.current and self.no_dept(h))
            self._set_per_capita(hh, 4500)
            self.near_miss("exited_below_income_line", "household", hh, note="未脱贫户收入低于标准")

    @injects("exited_without_guarantees")
    def p_exited_without_guarantees(self, i: int) -> None:
        # today's export: an 已消除风险 监测对象 is eliminated_with_gaps' (one finding per gap)
        hh = self.take(lambda h: h.status == "已脱贫" if self.today else h.exited)
        hy = self.hy(hh)
        if i % 2 == 0:
            hy.dangerous = True
            note = "已脱贫户住房为危房"
        else:
            hy.safe_water = False
            note = "已脱贫户饮水不安全"
        self.problem("exited_without_guarantees", "household", hh, note=note)

    @near_misses("exited_without_guarantees")
    def n_exited_without_guarantees(self, v: int) -> None:
        if v > 0:
            raise IndexError
        hh = self.take(lambda h: h.current and not h.dangerous)
        self.hy(hh).safe_water = False
        self.near_miss(
            "exited_without_guarantees", "household", hh, note="未脱贫户饮水不安全（不是错退）"
        )

    @injects("welfare_payment_inconsistent")
    def p_welfare_payment_inconsistent(self, i: int) -> None:
        v = i % 3
        if v == 0:
            hh = self.take(lambda h: h.household_type == "低保户")
            hy = self.hy(hh)
            hy.dibao = 0  # moved into other transfers: totals unchanged
            note = "低保户低保金为0"
        elif v == 1:
            hh = self.take(lambda h: h.household_type == "一般户")
            hy = self.hy(hh)
            other = hy.transfer - hy.dibao - hy.destitute - hy.pension_pay
            if other < 200:
                raise Skip
            hy.dibao = min(1200, other)
            note = f"一般户有低保金 {hy.dibao} 元"
        else:
            hh = self.take(lambda h: h.household_type == "特困供养户")
            self.hy(hh).destitute = 0
            note = "特困供养户特困供养金为0"
        self.problem("welfare_payment_inconsistent", "household", hh, note=note)

    @injects("phone_invalid")
    def p_phone_invalid(self, i: int) -> None:
        v = i % 3
        if v == 0:
            hh = self.take(lambda h: True)
            hh_phone = self.hy(hh).phone
            self.hy(hh).phone = hh_phone[:10]
            self.problem("phone_invalid", "household", hh, note="手机号码只有10位")
        elif v == 1:
            hh = self.take(lambda h: True)
            self.hy(hh).phone = ""
            self.problem("phone_invalid", "household", hh, note="联系电话为空")
        else:
            hhs = [self.take(lambda h: True) for _ in range(6)]
            phone = self.hy(hhs[0]).phone
            for hh in hhs:
                self.hy(hh).phone = phone
                self.problem("phone_invalid", "household", hh, note="同一号码登记在6户")

    @near_misses("phone_invalid")
    def n_phone_invalid(self, v: int) -> None:
        if v > 1:
            raise IndexError
        if v == 0:
            hhs = [self.take(lambda h: True) for _ in range(5)]
            phone = self.hy(hhs[0]).phone
            for hh in hhs:
                self.hy(hh).phone = phone
                self.near_miss(
                    "phone_invalid", "household", hh, note="同一号码登记在5户（不超过5户）"
                )
        else:
            a = self.take(lambda h: True)
            b = self.take(lambda h: True)
            self.hy(
                a
            ).phone = f"{P.PHONE_AREA}-{self.rng.randint(2, 9)}{self.rng.randrange(10**6):06d}"
            self.hy(b).phone = f"{self.rng.randint(2, 9)}{self.rng.randrange(10**6):06d}"
            self.near_miss("phone_invalid", "household", a, note="带区号的固定电话")
            self.near_miss("phone_invalid", "household", b, note="不带区号的固定电话")

    @injects("village_stats_mismatch")
    def p_village_stats_mismatch(self, i: int) -> None:
        Y = self.Y
        reg_groups: dict[int, dict[str, int]] = {}
        for hh in self.c.households:
            if Y in hh.years:
                g = reg_groups.setdefault(hh.village, {})
                g[hh.group] = g.get(hh.group, 0) + 1
        for v in self.c.villages:
            if v.idx in self.used_villages:
                continue
            town = self.c.towns[v.town]
            groups = [g for g in v.groups if reg_groups.get(v.idx, {}).get(g, 0) > 0]
            if i % 2 == 0:
                self.used_villages.add(v.idx)
                g = v.groups[0]
                self.village_overrides.append((Y, v.idx, g, "persons_total", 3))
                self.problem(
                    "village_stats_mismatch",
                    "village",
                    None,
                    note=f"{g} 总人口数多3，与合计行不符",
                    village=(town, v.name, ""),
                )
                return
            if len(groups) >= 2:
                self.used_villages.add(v.idx)
                a, b = groups[0], groups[1]
                self.village_overrides.append((Y, v.idx, a, "registered_households", 1))
                self.village_overrides.append((Y, v.idx, b, "registered_households", -1))
                self.problem(
                    "village_stats_mismatch",
                    "village",
                    None,
                    note="建档立卡户数多1",
                    village=(town, v.name, a),
                )
                self.problem(
                    "village_stats_mismatch",
                    "village",
                    None,
                    note="建档立卡户数少1",
                    village=(town, v.name, b),
                )
                return
        raise Skip

    # ================================================================== §B departments
    @injects("hukou_not_found")
    def p_hukou_not_found(self, i: int) -> None:
        kid = self.pupil(6, 14)
        hh = self.take(self.has(kid))
        m = self.member(hh, kid)
        if i % 2 == 0:
            m.person.in_hukou = False
            self.problem("hukou_not_found", "person", hh, m, note="户籍库无此人")
            return
        n = m.id_number
        for pos in (14, 15):  # sequence digits: birth date and gender parity stay valid
            for digit in "0123456789":
                if digit == n[pos] or (pos == 16):
                    continue
                body = n[:pos] + digit + n[pos + 1 : 17]
                cand = with_check(body)
                if cand not in self.b.used_ids:
                    self.b.used_ids.add(cand)
                    m.id_number = m.id_raw = cand
                    self.problem("hukou_not_found", "person", hh, m, note=f"录错一位，户籍号码 {n}")
                    return
        raise Skip

    @injects("hukou_name_mismatch")
    def p_hukou_name_mismatch(self, i: int) -> None:
        hh = self.take(lambda h: True)
        m = self.rng.choice(self.hy(hh).members)
        name = m.name
        for j in range(len(name) - 1, 0, -1):
            if name[j] in P.CONFUSABLE:
                new = name[:j] + P.CONFUSABLE[name[j]] + name[j + 1 :]
                break
        else:
            new = name[:-1] + ("华" if name[-1] != "华" else "平")
        m.person.hukou_name = new
        self.problem("hukou_name_mismatch", "person", hh, m, note=f"户籍姓名 {new}")

    @near_misses("hukou_name_mismatch")
    def n_hukou_name_mismatch(self, v: int) -> None:
        if v > 0:
            raise IndexError
        hh = self.take(lambda h: True)
        m = self.hy(hh).members[0]
        m.person.hukou_name = m.name[0] + " " + m.name[1:]
        self.near_miss("hukou_name_mismatch", "person", hh, m, note="户籍姓名中间有空格")

    def _elder(self) -> tuple[Household, Member]:
        old = lambda m: self.age(m.person) >= 62  # noqa: E731
        hh = self.take(lambda h: self.hy(h).size >= 2 and self.has(old)(h))
        return hh, self.member(hh, old)

    @injects("deceased_still_registered")
    def p_deceased_still_registered(self, i: int) -> None:
        hh, m = self._elder()
        m.person.status = "死亡"
        m.person.dereg = (
            None if i % 3 == 2 else self.d(self.rng.randint(1, 11), self.rng.randint(1, 28))
        )
        self.problem(
            "deceased_still_registered",
            "person",
            hh,
            m,
            note=f"死亡，注销日期 {m.person.dereg or '空'}",
        )

    @near_misses("deceased_still_registered")
    def n_deceased_still_registered(self, v: int) -> None:
        if v > 0:
            raise IndexError
        hh, m = self._elder()
        m.person.status = "死亡"
        m.person.dereg = dt.date(self.Y + 1, 1, 9)
        self.near_miss("deceased_still_registered", "person", hh, m, note="死亡日期在年度结束之后")

    @injects("moved_out_still_registered")
    def p_moved_out_still_registered(self, i: int) -> None:
        hh = self.take(lambda h: self.hy(h).size >= 3 and self.has(self.adult)(h))
        m = self.member(hh, lambda m: self.adult(m) and m.relation != "户主")
        m.person.status = "迁出"
        m.person.dereg = (
            None if i % 3 == 2 else self.d(self.rng.randint(1, 12), self.rng.randint(1, 28))
        )
        self.problem(
            "moved_out_still_registered",
            "person",
            hh,
            m,
            note=f"迁出，注销日期 {m.person.dereg or '空'}",
        )

    @near_misses("moved_out_still_registered")
    def n_moved_out_still_registered(self, v: int) -> None:
        if v > 1:
            raise IndexError
        hh = self.take(lambda h: self.hy(h).size >= 3 and self.has(self.adult)(h))
        m = self.member(hh, lambda m: self.adult(m) and m.relation != "户主")
        if v == 0:
            m.person.status, m.person.dereg = "迁出", dt.date(self.Y + 1, 1, 15)
            self.near_miss(
                "moved_out_still_registered", "person", hh, m, note="迁出日期在年度结束之后"
            )
        else:
            m.person.status, m.person.dereg = "服兵役", self.d(9, 10)
            self.near_miss("moved_out_still_registered", "person", hh, m, note="服兵役不是迁出")

    def _vehicle(
        self, p: Person, vtype: str, first: dt.date, status: str = "正常", use: str = "非营运"
    ) -> str:
        pl_ = plate(self.rng, P.PLATE_PREFIX, self.b.used_plates)
        self.c.vehicles.append([p.id, p.name, pl_, vtype, use, first, status])
        return pl_

    @injects("owns_car")
    def p_owns_car(self, i: int) -> None:
        if i % 2 == 0:
            hh = self.take(lambda h: h.current and self.has(self.adult)(h))
            m = self.member(hh, self.adult)
            vt = self.rng.choice(["小型轿车", "小型普通客车", "小型越野客车"])
            pl_ = self._vehicle(m.person, vt, self.d(4, 18, self.Y - 1))
            self.problem("owns_car", "person", hh, m, note=f"未脱贫户成员名下{vt} {pl_}")
        else:
            hh = self.take(
                lambda h: h.status == "已脱贫" and h.exit_year and self.has(self.adult)(h)
            )
            m = self.member(hh, self.adult)
            pl_ = self._vehicle(m.person, "小型轿车", self.d(6, 2, hh.exit_year - 1))
            self.problem(
                "owns_car", "person", hh, m, note=f"脱贫前（{hh.exit_year - 1}年）购车 {pl_}"
            )

    @near_misses("owns_car")
    def n_owns_car(self, v: int) -> None:
        if v > 4:
            raise IndexError
        if v == 4:
            hh = self.take(
                lambda h: h.status == "已脱贫" and h.exit_year and self.has(self.adult)(h)
            )
            m = self.member(hh, self.adult)
            self._vehicle(m.person, "小型轿车", dt.date(hh.exit_year, 1, 1))
            self.near_miss("owns_car", "person", hh, m, note="脱贫当年1月1日登记的轿车")
            return
        hh = self.take(lambda h: h.current and self.has(self.adult)(h))
        m = self.member(hh, self.adult)
        vt, status, note = [
            ("普通二轮摩托车", "正常", "摩托车"),
            ("三轮汽车", "正常", "三轮汽车"),
            ("轻型普通货车", "正常", "轻型货车"),
            ("小型轿车", "报废", "已报废的轿车"),
        ][v]
        self._vehicle(m.person, vt, self.d(3, 3, self.Y - 2), status)
        self.near_miss("owns_car", "person", hh, m, note=note)

    def _prop(self, p: Person, kind: str, usage: str, area_kind: str) -> str:
        town = self.town(p)
        loc = f"{P.COUNTY}{town}{self.rng.choice(P.STREETS)}{self.rng.randint(1, 200)}号{self.rng.randint(1, 9)}幢{self.rng.randint(1, 30)}0{self.rng.randint(1, 4)}室"
        if kind == "安置房":
            loc = f"{P.COUNTY}{town}易地扶贫搬迁安置点{self.rng.randint(21, 40)}幢{self.rng.randint(1, 30)}0{self.rng.randint(1, 4)}室"
        self.c.property_.append(
            [
                p.id,
                p.name,
                loc,
                round(self.rng.uniform(60, 130), 2),
                usage,
                kind,
                area_kind,
                self.d(5, 20, self.Y - 1),
            ]
        )
        return loc

    @injects("owns_urban_property")
    def p_owns_urban_property(self, i: int) -> None:
        hh = self.take(lambda h: h.current and self.has(self.adult)(h))
        m = self.member(hh, self.adult)
        if i % 2 == 0:
            loc = self._prop(m.person, "商品房", "住宅", "城镇")
            self.problem("owns_urban_property", "person", hh, m, note=f"城镇商品房 {loc}")
        else:
            loc = self._prop(m.person, "自建房", "商业", "城镇")
            self.problem("owns_urban_property", "person", hh, m, note=f"城镇商业用房 {loc}")

    @near_misses("owns_urban_property")
    def n_owns_urban_property(self, v: int) -> None:
        if v > 3:
            raise IndexError
        if v == 3:
            hh = self.take(lambda h: h.exited and self.has(self.adult)(h))
            m = self.member(hh, self.adult)
            self._prop(m.person, "商品房", "住宅", "城镇")
            self.near_miss(
                "owns_urban_property", "person", hh, m, note="已脱贫户（非在帮扶）城镇商品房"
            )
            return
        hh = self.take(lambda h: h.current and self.has(self.adult)(h))
        m = self.member(hh, self.adult)
        kind, usage, area, note = [
            ("安置房", "住宅", "城镇", "易地扶贫搬迁安置房"),
            ("安置房", "商业", "城镇", "安置点商铺（安置房）"),
            ("自建房", "住宅", "农村", "农村自建房"),
        ][v]
        self._prop(m.person, kind, usage, area)
        self.near_miss("owns_urban_property", "person", hh, m, note=note)

    def _appraisals(
        self, head: Person, items: list[tuple[str, dt.date, str | None, dt.date | None]]
    ) -> None:
        for row in self.hs_rows(head.id):
            row[0] = None
        for grade, d, st, done in items:
            self.c.house_safety.append([head.id, head.name, grade, d, st, done])

    @injects("dangerous_house_unrecorded")
    def p_dangerous_house_unrecorded(self, i: int) -> None:
        Y = self.Y
        if i % 2 == 0:
            hh = self.take(lambda h: h.current and not h.dangerous)
            grade, st = "D级", "未改造"
        else:
            hh = self.take(lambda h: h.exited)
            grade, st = "C级", "改造中"
        head = self.member(hh, lambda m: m.relation == "户主")
        self._appraisals(
            head.person,
            [("A级", self.d(4, 2, Y - 3), None, None), (grade, self.d(3, 15), st, None)],
        )
        self.problem(
            "dangerous_house_unrecorded", "household", hh, head, note=f"最近鉴定{grade}{st}"
        )

    @near_misses("dangerous_house_unrecorded")
    def n_dangerous_house_unrecorded(self, v: int) -> None:
        Y = self.Y
        if v > 1:
            raise IndexError
        hh = self.take(lambda h: h.current and not h.dangerous)
        head = self.member(hh, lambda m: m.relation == "户主")
        if v == 0:
            self._appraisals(
                head.person, [("C级", self.d(3, 1, Y - 1), "已竣工", self.d(10, 30, Y - 1))]
            )
            self.near_miss("dangerous_house_unrecorded", "household", hh, head, note="C级已竣工")
        else:
            self._appraisals(
                head.person,
                [
                    ("D级", self.d(5, 1, Y - 3), "未改造", None),
                    ("B级", self.d(6, 1, Y - 1), None, None),
                ],
            )
            self.near_miss(
                "dangerous_house_unrecorded",
                "household",
                hh,
                head,
                note="旧的D级已被新的B级鉴定取代",
            )

    @injects("business_owner")
    def p_business_owner(self, i: int) -> None:
        hh = self.take(lambda h: h.current and self.has(self.adult)(h))
        m = self.member(hh, self.adult)
        v = i % 3
        if v == 0:
            self.b.business_entity(
                self.c, m.person, self.c.towns, etype="有限责任公司", capital=50, role="法定代表人"
            )
        elif v == 1:
            self.b.business_entity(self.c, m.person, self.c.towns, etype="个体工商户", capital=10.0)
        else:
            self.b.business_entity(
                self.c,
                m.person,
                self.c.towns,
                etype="有限责任公司",
                capital=100,
                role="股东",
                status="在业",
            )
        b = self.c.business[-1]
        self.problem(
            "business_owner", "person", hh, m, note=f"{b[4]}“{b[2]}”{b[5]}，注册资本{b[6]}万元"
        )

    @near_misses("business_owner")
    def n_business_owner(self, v: int) -> None:
        if v > 5:
            raise IndexError
        if v == 5:
            hh = self.take(lambda h: h.current and self.has(self.adult)(h))
            m = self.member(hh, self.adult)
            self.b.business_entity(
                self.c, m.person, self.c.towns, etype="农民专业合作社", role="成员"
            )
            self.near_miss("business_owner", "person", hh, m, note="农民专业合作社成员")
            return
        if v == 4:
            hh = self.take(lambda h: h.exited and self.has(self.adult)(h))
            m = self.member(hh, self.adult)
            self.b.business_entity(self.c, m.person, self.c.towns, etype="有限责任公司", capital=30)
            self.near_miss(
                "business_owner", "person", hh, m, note="已脱贫户成员开办公司（规则只查在帮扶户）"
            )
            return
        hh = self.take(lambda h: h.current and self.has(self.adult)(h))
        m = self.member(hh, self.adult)
        etype, cap, role, status, note = [
            ("个体工商户", 9.99, "经营者", "存续", "个体工商户注册资本9.99万元"),
            ("农民专业合作社", 50, "法定代表人", "存续", "农民专业合作社法定代表人"),
            ("有限责任公司", 50, "法定代表人", "注销", "公司已注销"),
            ("有限责任公司", 50, "负责人", "存续", "公司负责人（非投资人）"),
        ][v]
        self.b.business_entity(
            self.c, m.person, self.c.towns, etype=etype, capital=cap, role=role, status=status
        )
        self.near_miss("business_owner", "person", hh, m, note=note)

    @injects("public_employee")
    def p_public_employee(self, i: int) -> None:
        hh = self.take(self.has(self.adult))
        m = self.member(hh, self.adult)
        p = m.person
        self.drop_si(p.id)
        body, kind = (
            ("{county}{town}中心小学", "事业单位")
            if i % 2 == 0
            else ("{county}{town}人民政府", "机关")
        )
        employer = body.format(county=P.COUNTY, town=self.town(p))
        for year in (self.Y - 1, self.Y):
            self.add_si(p, PENSION_PUBLIC, "参保缴费", employer, kind, 3200, year)
        self.problem("public_employee", "person", hh, m, note=f"{employer}参保缴费")

    @near_misses("public_employee")
    def n_public_employee(self, v: int) -> None:
        if v > 1:
            raise IndexError
        hh = self.take(
            lambda h: (
                self.has(self.adult)(h)
                and not any(m.person.enterprise_si for m in self.hy(h).members)
            )
        )
        m = self.member(hh, self.adult)
        p = m.person
        employer = f"{P.COUNTY}{self.town(p)}卫生院"
        if v == 0:
            self.drop_si(p.id, self.Y - 1)
            self.add_si(p, PENSION_PUBLIC, "参保缴费", employer, "事业单位", 2800, self.Y - 1)
            self.near_miss(
                "public_employee", "person", hh, m, note="上年在事业单位参保，本年已不在"
            )
        else:
            self.add_si(p, PENSION_PUBLIC, "终止参保", employer, "事业单位", 2800, self.Y)
            self.near_miss(
                "public_employee", "person", hh, m, note="机关事业单位养老保险已终止参保"
            )

    def _earner(self, hh: Household) -> Member:
        return self.member(hh, self.adult)

    @injects("tax_income_exceeds_register")
    def p_tax_income_exceeds_register(self, i: int) -> None:
        hh = self.take(lambda h: self.no_dept(h) and self.has(self.adult)(h))
        hy = self.hy(hh)
        m = self._earner(hh)
        base = hy.wage + hy.business
        amount = int(max(base * 1.1, base + 3000)) + self.rng.randint(2000, 20000)
        self.c.tax.append(
            [
                m.person.id,
                m.name,
                self.Y,
                amount,
                round(amount * 0.02, 2),
                f"{P.FAR_CITIES[i % 8]}某建筑劳务有限公司",
            ]
        )
        self.problem(
            "tax_income_exceeds_register",
            "household",
            hh,
            m,
            note=f"个税收入额 {amount} 元，登记工资性+经营性 {base} 元",
        )

    @near_misses("tax_income_exceeds_register")
    def n_tax_income_exceeds_register(self, v: int) -> None:
        if v > 2:
            raise IndexError
        hh = self.take(lambda h: self.no_dept(h) and self.has(self.adult)(h))
        hy = self.hy(hh)
        m = self._earner(hh)
        base = hy.wage + hy.business
        if v == 2:
            amount, year, note = base * 2 + 10000, self.Y - 1, "上年度个税收入高（不是本年度）"
        elif base <= 27000:
            amount, year, note = base + 2900, self.Y, "超出10%以上但仅2900元"
        elif base >= 34000:
            amount, year, note = int(base * 1.095), self.Y, "超出3000元以上但不到10%"
        else:
            raise Skip
        self.c.tax.append([m.person.id, m.name, year, amount, 0, f"{P.COUNTY}某物流有限公司"])
        self.near_miss("tax_income_exceeds_register", "household", hh, m, note=note)

    def _enterprise(
        self, m: Member, base: int, status: str = "参保缴费", year: int | None = None
    ) -> None:
        p = m.person
        employer = (
            f"{self.rng.choice(P.FAR_CITIES)}{self.rng.choice(P.COMPANY_WORDS_A)}电子科技有限公司"
        )
        self.drop_si(p.id, self.Y if year is None else year)
        self.add_si(
            p, PENSION_ENTERPRISE, status, employer, "企业", base, self.Y if year is None else year
        )

    @injects("wage_exceeds_register")
    def p_wage_exceeds_register(self, i: int) -> None:
        hh = self.take(lambda h: self.no_dept(h) and self.has(self.adult)(h))
        hy = self.hy(hh)
        m = self._earner(hh)
        yearly = int(max(hy.wage * 1.1, hy.wage + 3000)) + self.rng.randint(3000, 20000)
        base = yearly // 12 + 1
        self._enterprise(m, base)
        self.problem(
            "wage_exceeds_register",
            "household",
            hh,
            m,
            note=f"缴费基数 {base}×12，登记工资性收入 {hy.wage} 元",
        )

    @near_misses("wage_exceeds_register")
    def n_wage_exceeds_register(self, v: int) -> None:
        if v > 1:
            raise IndexError
        hh = self.take(
            lambda h: self.no_dept(h) and self.has(self.adult)(h) and self.hy(h).wage >= 36000
        )
        hy = self.hy(hh)
        m = self._earner(hh)
        if v == 0:
            self._enterprise(m, (hy.wage * 2) // 12, status="暂停缴费")
            self.near_miss("wage_exceeds_register", "household", hh, m, note="暂停缴费（不计）")
        else:
            self._enterprise(m, int(hy.wage * 1.09) // 12)
            self.near_miss("wage_exceeds_register", "household", hh, m, note="超出不到10%")

    @injects("pension_enrolment_mismatch")
    def p_pension_enrolment_mismatch(self, i: int) -> None:
        hh = self.take(self.has(self.adult))
        m = self.member(hh, self.adult)
        if i % 2 == 0:
            self.drop_si(m.person.id, self.Y)
            note = "登记参保但人社无记录"
        else:
            m.pension = False
            note = "登记未参保但人社有记录"
        self.problem("pension_enrolment_mismatch", "person", hh, m, note=note)

    @near_misses("pension_enrolment_mismatch")
    def n_pension_enrolment_mismatch(self, v: int) -> None:
        if v > 0:
            raise IndexError
        hh = self.take(lambda h: self.has(self.adult)(h))
        m = self.member(hh, lambda m: self.adult(m) and not m.person.enterprise_si)
        for row in self.si_rows(m.person.id):
            if row[7] == self.Y:
                row[3] = "暂停缴费"
        self.near_miss(
            "pension_enrolment_mismatch", "person", hh, m, note="人社记录为暂停缴费（仍有参保记录）"
        )

    @injects("pension_insurance_missing")
    def p_pension_insurance_missing(self, i: int) -> None:
        hh = self.take(self.has(self.adult))
        m = self.member(hh, self.adult)
        m.pension = False
        self.drop_si(m.person.id, self.Y)
        self.problem(
            "pension_insurance_missing", "person", hh, m, note=f"{self.age(m.person)}岁无养老保险"
        )

    @near_misses("pension_insurance_missing")
    def n_pension_insurance_missing(self, v: int) -> None:
        if v > 0:
            raise IndexError
        sixty = lambda m: self.age(m.person) == 60  # noqa: E731
        hh = self.take(self.has(sixty))
        m = self.member(hh, sixty)
        m.pension = False
        self.drop_si(m.person.id, self.Y)
        self.near_miss("pension_insurance_missing", "person", hh, m, note="60岁（超出16–59岁）")


def _copy_member(m: Member, relation: str) -> Member:
    return Member(
        person=m.person,
        relation=relation,
        name=m.name,
        id_number=m.id_number,
        id_raw=m.id_raw,
        id_problem=m.id_problem,
        id_type=m.id_type,
        gender=m.gender,
        person_id=m.person_id + "B",
        education=m.education,
        school_status=m.school_status,
        health=m.health,
        labour_skill=m.labour_skill,
        work_status=m.work_status,
        work_months=m.work_months,
        med=m.med,
        crit=m.crit,
        pension=m.pension,
        dibao_status=m.dibao_status,
        destitute_status=m.destitute_status,
        emp_med=m.emp_med,
        emp_pension=m.emp_pension,
        self_paid=m.self_paid,
    )


def _copy_income(src: HouseholdYear, dst: HouseholdYear) -> None:
    for f in (
        "wage",
        "business",
        "prop",
        "transfer",
        "expense",
        "dibao",
        "destitute",
        "pension_pay",
        "net",
        "per_capita",
    ):
        setattr(dst, f, getattr(src, f))
