"""Problems and near misses of rules D (the 防返贫监测 record, today's export only).

A D injector changes the monitoring record (or the members it reads) of a clean
household and says which rule it aimed at; the truth of that household is then
read back by :func:`demo.monitoring.d_findings` once every problem is planted,
so a gap that trips two rules (no measure at all: 未落实帮扶措施 and, with
someone able to work, 未落实开发式帮扶) is two truth rows. Near misses sit on
each threshold's safe side: 30 days to the run date less one, six calendar
months to the day, an income of exactly 20,000 yuan, ages 60 and 17.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from checks.rules import RULES_BY_CODE
from demo import pools as P
from demo.model import Member, Monitoring
from demo.monitoring import (
    HELPED,
    ILL,
    MEASURES,
    NATURAL,
    SUDDEN,
    State,
    add_months,
    age,
    d_findings,
    enjoys_destitute,
    enjoys_dibao,
    has_labour,
    is_student,
    state,
)
from demo.registry import Skip, injects, near_misses
from department_feeds.register import DEVELOPMENT_MEASURES

if TYPE_CHECKING:  # the mixin's host: demo.inject imports this module
    from demo.county import Household
    from demo.inject import Injector

    _Base = Injector
else:
    _Base = object

log = logging.getLogger(__name__)

COMPANION = "同户伴随"
"""Note of a truth row a D problem brought with it (the same gap read by another rule)."""


class MonitoringInjections(_Base):
    """The rule D part of :class:`demo.inject.Injector`."""

    # ------------------------------------------------------------------ helpers
    def mon(self, hh: Household) -> Monitoring:
        assert hh.mon is not None
        return hh.mon

    def st(self, hh: Household) -> State:
        return state(hh, self.Y)

    def ms(self, hh: Household) -> list[Member]:
        return self.hy(hh).members

    def open_(self, pred: Callable[[Household], bool] = lambda h: True) -> Household:
        """A household under monitoring, risk not eliminated."""
        return self.take(lambda h: h.current and pred(h))

    def closed(self, pred: Callable[[Household], bool] = lambda h: True) -> Household:
        """An 已消除风险 监测对象."""
        return self.take(lambda h: h.status == "风险已消除" and pred(h))

    def labour(self, h: Household) -> bool:
        return any(map(has_labour, self.ms(h)))

    def net(self, h: Household) -> bool:
        """Some member enjoys 低保 or 特困."""
        return any(enjoys_dibao(m) or enjoys_destitute(m) for m in self.ms(h))

    def ids_ok(self, h: Household) -> bool:
        return all(m.id_problem is None for m in self.ms(h))

    def identified(self, hh: Household, days_before_run: int) -> None:
        """识别监测时间 ``days_before_run`` days before the run date (the grace period
        of the measure rules), inside the working year; not on a household that
        would then read as identified_above_range."""
        d = self.run_date - dt.timedelta(days=days_before_run)
        mon = self.mon(hh)
        high = self.hy(hh).per_capita > self.params["identified_income_max"]
        if d.year != self.Y or (high and mon.category != SUDDEN):
            raise Skip
        mon.mon_from = d

    @property
    def grace(self) -> int:
        return int(self.params["measure_grace_days"])

    def d_problem(self, code: str, hh: Household, m: Member | None = None, note: str = "") -> None:
        """Mark ``hh`` as carrying a D problem of ``code``: its truth rows are read
        back at the end (:meth:`d_truth`)."""
        self.mon(hh).touched = True
        self.d_notes[(hh.hid, code, m.id_number if m else "")] = note

    def d_near(self, code: str, hh: Household, m: Member | None = None, note: str = "") -> None:
        self.mon(hh).touched = True
        self.near_miss(code, RULES_BY_CODE[code].level, hh, m, note=note)

    def blank_measures(self, hh: Household) -> None:
        self.mon(hh).measures.clear()

    def keep_some_measure(self, hh: Household) -> None:
        """At least one measure left (not "all 14 blank")."""
        mon = self.mon(hh)
        if not any(mon.measures.get(f) for f in MEASURES):
            assert self.monitor is not None
            mon.measures["measure_social"] = self.monitor.pick("measure_social")

    def refresh(self, hh: Household) -> None:
        """综合保障 and 兜底 follow the members' 低保/特困 (after a change)."""
        assert self.monitor is not None
        self.monitor.comprehensive(self.mon(hh), self.hy(hh))
        self.monitor.safety_net(hh)

    def can_lose_labour(self, h: Household) -> bool:
        """Every member can be registered without labour (no healthy 16–59 non-student
        would then read as working_age_no_labour); numbers valid (ages known)."""
        return self.ids_ok(h) and all(
            not (16 <= (age(m, self.Y) or 0) <= 59 and m.health == "健康" and not is_student(m))
            for m in self.ms(h)
        )

    def strip_labour(self, hh: Household) -> None:
        for m in self.ms(hh):
            a = age(m, self.Y)
            if a is not None and 16 <= a <= 59 and m.health == "健康" and not is_student(m):
                # unable to work through illness (not working_age_no_labour)
                m.health = "长期慢性病"
                m.self_paid = m.self_paid or round(self.rng.uniform(300, 4000), 2)
            if has_labour(m):
                m.labour_skill = "无劳动力" if is_student(m) else "丧失劳动力"
        self.refresh(hh)

    def without_labour(self, pred: Callable[[Household], bool]) -> Household:
        """A household whose members can all be registered without labour: one of
        old people and children if there is one, else one where the working-age
        members are then registered as chronically ill."""
        forced = self.forced
        try:
            return self.take(lambda h: pred(h) and self.can_lose_labour(h))
        except Skip:
            self.forced = forced  # mixed mode: the same household, relaxed
            return self.take(lambda h: pred(h) and self.ids_ok(h))

    def give_destitute(self, hh: Household, m: Member) -> None:
        """``m`` enjoys 特困 (with the household's 特困供养金 and 综合保障)."""
        m.destitute_status = self.rng.choice(P.DESTITUTE_ENJOYED)
        hy = self.hy(hh)
        if not hy.destitute:
            hy.destitute = 12 * self.rng.randint(55, 70) * 10
            hy.transfer += hy.destitute
        self.finish(hh)
        self.refresh(hh)

    # ------------------------------------------------------------------ the truth
    def d_truth(self) -> None:
        """Truth rows of rules D: every finding of a household a D problem or near miss
        was planted on; any other household must have none (logged if it has)."""
        Y = self.Y
        near = {
            (n.rule_code, n.household_id, n.id_number if n.level == "person" else "")
            for n in self.near
        }
        for hh in self.c.households:
            if Y not in hh.years or hh.mon is None:
                continue
            found = list(d_findings(hh, Y, self.params, self.run_date))
            if not found:
                continue
            if not hh.mon.touched:
                self.unplanned += [(code, hh.hid) for code, _ in found]
                continue
            for code, m in found:
                key = (hh.hid, code, m.id_number if m else "")
                if (code, hh.hid, key[2]) in near:
                    log.error("near miss of %s on %s is a finding", code, hh.hid)
                level = RULES_BY_CODE[code].level
                self.problem(code, level, hh, m, note=self.d_notes.get(key, COMPANION))
        if self.unplanned:
            log.warning("rules D flag households nothing was planted on: %s", self.unplanned[:10])

    # ================================================================== §D monitoring
    @injects("monitoring_without_measures")
    def p_monitoring_without_measures(self, i: int) -> None:
        v = i % 3
        hh = self.open_(lambda h: not self.net(h))
        mon = self.mon(hh)
        if v == 1:
            self.identified(hh, self.grace)
            note = "识别监测恰满30天，帮扶措施均为空"
        elif v == 2:
            mon.eliminated = None
            note = "风险是否已消除为空，帮扶措施均为空"
        else:
            note = "风险未消除，14项帮扶措施均为空"
        self.blank_measures(hh)
        self.d_problem("monitoring_without_measures", hh, note=note)

    @near_misses("monitoring_without_measures")
    def n_monitoring_without_measures(self, v: int) -> None:
        if v > 2:
            raise IndexError
        if v == 0:
            hh = self.open_(lambda h: not self.net(h))
            self.identified(hh, self.grace - 1)
            note = "识别监测29天（未满30天），帮扶措施为空"
        elif v == 1:
            hh = self.closed(lambda h: not self.net(h))
            self.mon(hh).mode = NATURAL
            note = "风险已自然消除，帮扶措施为空"
        else:
            hh = self.take(lambda h: h.status == "已脱贫" and not self.net(h))
            note = "脱贫户（非监测对象）无帮扶措施"
        self.blank_measures(hh)
        self.d_near("monitoring_without_measures", hh, note=note)

    @injects("labour_without_development")
    def p_labour_without_development(self, i: int) -> None:
        hh = self.open_(self.labour)
        mon = self.mon(hh)
        for f in DEVELOPMENT_MEASURES:
            mon.measures.pop(f, None)
        self.keep_some_measure(hh)
        workers = [m.name for m in self.ms(hh) if has_labour(m)]
        self.d_problem(
            "labour_without_development",
            hh,
            note=f"{'、'.join(workers)}有劳动能力，无产业/就业/金融/公益岗位帮扶",
        )

    @near_misses("labour_without_development")
    def n_labour_without_development(self, v: int) -> None:
        if v > 3:
            raise IndexError
        if v == 0:
            hh = self.open_(lambda h: not self.labour(h) and self.net(h))
            note = "无劳动力户（低保兜底）无开发式帮扶"
        elif v == 1:
            hh = self.open_(self.labour)
            note = "仅有公益岗位帮扶"
        elif v == 2:
            hh = self.closed(self.labour)
            note = "风险已消除户无开发式帮扶"
        else:
            hh = self.open_(lambda h: self.labour(h) and not self.net(h))
            self.identified(hh, self.grace - 1)
            note = "识别监测29天，尚无开发式帮扶"
        mon = self.mon(hh)
        for f in DEVELOPMENT_MEASURES:
            mon.measures.pop(f, None)
        if v == 1:
            assert self.monitor is not None
            mon.measures["measure_public_job"] = self.monitor.pick("measure_public_job")
        self.keep_some_measure(hh)
        self.d_near("labour_without_development", hh, note=note)

    @injects("no_labour_without_safety_net")
    def p_no_labour_without_safety_net(self, i: int) -> None:
        kind = (lambda h: h.status == "已脱贫") if i % 2 == 0 else (lambda h: h.current)
        hh = self.without_labour(lambda h: kind(h) and h.household_type == "一般户")
        self.strip_labour(hh)
        self.d_problem(
            "no_labour_without_safety_net",
            hh,
            note=("脱贫户" if i % 2 == 0 else "监测户") + "无劳动力、未享受低保特困",
        )

    @near_misses("no_labour_without_safety_net")
    def n_no_labour_without_safety_net(self, v: int) -> None:
        if v > 2:
            raise IndexError
        if v == 0:
            # one member of several enjoys 低保 (单人保): the household is covered
            hh = self.take(
                lambda h: (
                    h.status == "已脱贫"
                    and h.household_type == "低保户"
                    and len(self.ms(h)) >= 2
                    and self.can_lose_labour(h)
                )
            )
            for m in self.ms(hh)[1:]:
                m.dibao_status = "未享受"
            self.strip_labour(hh)
            note = "无劳动力，仅一名成员享受低保"
        elif v == 1:
            hh = self.take(
                lambda h: (
                    h.status == "已脱贫"
                    and h.household_type == "一般户"
                    and self.can_lose_labour(h)
                    and any((age(m, self.Y) or 0) >= 60 for m in self.ms(h))
                )
            )
            self.strip_labour(hh)
            old = next(m for m in self.ms(hh) if (age(m, self.Y) or 0) >= 60)
            old.labour_skill = "弱劳动力或半劳动力"
            self.refresh(hh)
            note = f"{old.name}为弱劳动力或半劳动力（有劳动能力）"
        else:
            hh = self.closed(lambda h: h.household_type == "一般户" and self.can_lose_labour(h))
            self.strip_labour(hh)
            self.mon(hh).mode = NATURAL
            note = "风险已（自然）消除的无劳动力户"
        self.d_near("no_labour_without_safety_net", hh, note=note)

    @injects("eliminated_without_labour")
    def p_eliminated_without_labour(self, i: int) -> None:
        hh = self.without_labour(lambda h: h.status == "风险已消除")
        self.strip_labour(hh)
        self.mon(hh).mode = HELPED
        note = "帮扶消除，家庭成员均无劳动能力" + ("（低保兜底）" if self.net(hh) else "")
        self.d_problem("eliminated_without_labour", hh, note=note)

    @near_misses("eliminated_without_labour")
    def n_eliminated_without_labour(self, v: int) -> None:
        if v > 1:
            raise IndexError
        if v == 0:
            hh = self.closed(self.can_lose_labour)
            self.strip_labour(hh)
            self.mon(hh).mode = NATURAL
            note = "无劳动力户，风险自然消除"
        else:
            hh = self.closed(
                lambda h: (
                    self.can_lose_labour(h)
                    and any(60 <= (age(m, self.Y) or 0) <= 69 for m in self.ms(h))
                )
            )
            self.strip_labour(hh)
            old = next(m for m in self.ms(hh) if 60 <= (age(m, self.Y) or 0) <= 69)
            old.labour_skill = "弱劳动力或半劳动力"
            self.refresh(hh)
            self.mon(hh).mode = HELPED
            note = f"帮扶消除，{old.name}为弱劳动力或半劳动力"
        self.d_near("eliminated_without_labour", hh, note=note)

    def _helped_closed(self) -> Household:
        hh = self.closed(self.labour)
        self.mon(hh).mode = HELPED
        return hh

    @injects("eliminated_too_soon")
    def p_eliminated_too_soon(self, i: int) -> None:
        hh = self._helped_closed()
        mon = self.mon(hh)
        start = dt.date(self.Y - 1, self.rng.randint(7, 11), self.rng.randint(1, 28))
        v = i % 3
        if v == 0:
            mon.mon_from, mon.mon_to = start, add_months(start, 6) - dt.timedelta(days=1)
            note = "识别至消除差1天满6个月"
        elif v == 1:
            mon.mon_from, mon.mon_to = start, add_months(start, 3)
            note = "识别3个月即帮扶消除"
        else:
            mon.mon_from, mon.mon_to = start, start + dt.timedelta(days=40)
            note = "识别40天即帮扶消除"
        self.d_problem("eliminated_too_soon", hh, note=note)

    @near_misses("eliminated_too_soon")
    def n_eliminated_too_soon(self, v: int) -> None:
        if v > 2:
            raise IndexError
        Y = self.Y
        if v == 2:
            hh = self.closed(self.labour)
            mon = self.mon(hh)
            mon.mode = NATURAL
            mon.mon_from = dt.date(Y - 1, 10, 8)
            mon.mon_to = add_months(mon.mon_from, 2)
            self.d_near("eliminated_too_soon", hh, note="自然消除（2个月）")
            return
        hh = self._helped_closed()
        mon = self.mon(hh)
        mon.mon_from = dt.date(Y - 1, 9, 15) if v == 0 else dt.date(Y - 1, 8, 31)
        mon.mon_to = add_months(mon.mon_from, 6)
        note = "恰满6个月" if v == 0 else "8月31日识别、次年2月末消除（恰满6个月）"
        self.d_near("eliminated_too_soon", hh, note=note)

    @injects("eliminated_with_gaps")
    def p_eliminated_with_gaps(self, i: int) -> None:
        v = i % 5
        if v == 0:
            hh = self.closed(lambda h: self.no_dept(h) and not h.dangerous)
            self._set_per_capita(hh, self.rng.randint(4200, 5900))
            note = f"人均纯收入 {self.hy(hh).per_capita} 元，低于监测范围"
        elif v == 1:
            hh = self.closed()
            self.hy(hh).dangerous = True
            note = "风险已消除户住房为危房"
        elif v == 2:
            hh = self.closed()
            self.hy(hh).safe_water = False
            note = "风险已消除户饮水不安全"
        elif v == 3:
            hh = self.closed(self.ids_ok)
            m = self.rng.choice(self.ms(hh))
            m.med = m.emp_med = False
            self.problem("medical_insurance_missing", "person", hh, m, note="未参加基本医疗保险")
            note = f"{m.name}未参加基本医疗保险"
        else:
            pupil = self.pupil(8, 15)
            kid = lambda m: pupil(m) and self.age(m.person) <= 15  # noqa: E731
            hh = self.closed(lambda h: self.has(kid)(h))
            m = self.member(hh, kid)
            m.school_status = "非在校生"
            self.problem(
                "compulsory_education_dropout",
                "person",
                hh,
                m,
                note=f"{self.age_sep(m.person)}岁非在校生",
            )
            note = f"{m.name}义务教育阶段未在校"
        self.d_problem("eliminated_with_gaps", hh, note=note)

    @near_misses("eliminated_with_gaps")
    def n_eliminated_with_gaps(self, v: int) -> None:
        if v > 3 or (v > 1 and self.k == 0):
            raise IndexError  # variants 2, 3 come with a real problem: none in a clean county
        if v == 0:
            hh = self.closed(self.no_dept)
            self._set_per_capita(hh, int(self.params["income_line"]))
            self.d_near("eliminated_with_gaps", hh, note="人均纯收入恰为监测范围")
        elif v == 1:
            hh = self.closed(self.has(self.adult))
            m = self.member(hh, self.adult)
            m.med, m.emp_med, m.crit = False, True, False
            self.d_near("eliminated_with_gaps", hh, note=f"{m.name}参加城镇职工医保")
        elif v == 2:
            # one finding per gap: a 脱贫户 is exited_without_guarantees', not this rule's
            hh = self.take(lambda h: h.status == "已脱贫")
            self.hy(hh).dangerous = True
            self.problem("exited_without_guarantees", "household", hh, note="已脱贫户住房为危房")
            self.d_near("eliminated_with_gaps", hh, note="脱贫户（非监测对象）住房为危房")
        else:
            hh = self.take(lambda h: h.status == "已脱贫" and self.no_dept(h) and not h.dangerous)
            self._set_per_capita(hh, self.rng.randint(4200, 5900))
            self.problem(
                "exited_below_income_line",
                "household",
                hh,
                note=f"人均纯收入 {self.hy(hh).per_capita} 元",
            )
            self.d_near("eliminated_with_gaps", hh, note="脱贫户（非监测对象）收入低于标准")

    def _identified(self, hh: Household, income: int, day: dt.date | None = None) -> None:
        mon = self.mon(hh)
        if mon.category == SUDDEN:
            mon.category = "边缘易致贫户"
        mon.mon_from = day or dt.date(self.Y, self.rng.randint(2, 10), self.rng.randint(1, 28))
        self._set_per_capita(hh, income)

    @injects("identified_above_range")
    def p_identified_above_range(self, i: int) -> None:
        if i % 2 == 0:
            hh = self.open_(self.no_dept)
            self._identified(hh, self.rng.randint(20001, 36000))
            note = f"当年纳入监测，人均纯收入 {self.hy(hh).per_capita} 元"
        else:
            hh = self._helped_closed()
            if not self.no_dept(hh):
                raise Skip
            self._identified(hh, self.rng.randint(21000, 30000), dt.date(self.Y, 1, 10))
            self.mon(hh).mon_to = dt.date(self.Y, 9, 20)
            note = "当年纳入监测且已消除，人均纯收入高"
        self.d_problem("identified_above_range", hh, note=note)

    @near_misses("identified_above_range")
    def n_identified_above_range(self, v: int) -> None:
        if v > 2:
            raise IndexError
        hh = self.open_(self.no_dept)
        if v == 0:
            self._identified(hh, int(self.params["identified_income_max"]))
            note = "人均纯收入恰为20000元"
        elif v == 1:
            self._identified(hh, 30000)
            self.mon(hh).category = SUDDEN
            note = "突发严重困难户，人均纯收入30000元"
        else:
            self._identified(hh, 30000, dt.date(self.Y - 1, 12, 28))
            note = "上年12月纳入监测，人均纯收入30000元"
        self.d_near("identified_above_range", hh, note=note)

    def _add_risk(self, hh: Household, word: str) -> None:
        mon = self.mon(hh)
        if word not in mon.risks:
            mon.risks = [word, *mon.risks][:5]
        assert self.monitor is not None
        self.monitor.matching(mon)
        if word == "因病" and not any(m.self_paid for m in self.ms(hh)):
            self.ms(hh)[0].self_paid = round(self.rng.uniform(100, 900), 2)

    @injects("risk_type_unsupported")
    def p_risk_type_unsupported(self, i: int) -> None:
        v = i % 4
        ms = self.ms
        if v == 0:
            hh = self.open_(lambda h: not any(m.health in ILL for m in ms(h)))
            word, note = "因病", "风险含因病，无患病成员"
        elif v == 1:
            hh = self.open_(lambda h: not any(m.health == "残疾" for m in ms(h)))
            word, note = "因残", "风险含因残，无残疾成员"
        elif v == 2:
            hh = self.open_(lambda h: all(map(has_labour, ms(h))))
            word, note = "缺劳动力", "风险含缺劳动力，成员均有劳动能力"
        else:
            hh = self.open_(lambda h: not any(map(is_student, ms(h))))
            word, note = "因学", "风险含因学，无在校生"
        self._add_risk(hh, word)
        self.d_problem("risk_type_unsupported", hh, note=note)

    @near_misses("risk_type_unsupported")
    def n_risk_type_unsupported(self, v: int) -> None:
        if v > 3:
            raise IndexError
        ms = self.ms
        if v == 0:
            hh = self.open_(
                lambda h: (
                    any(m.health == "长期慢性病" for m in ms(h))
                    and not any(m.health == "患有大病" for m in ms(h))
                )
            )
            word, note = "因病", "因病，成员为长期慢性病"
        elif v == 1:
            hh = self.open_(
                lambda h: (
                    any(m.school_status == "学前教育" for m in ms(h))
                    and sum(map(is_student, ms(h))) == 1
                )
            )
            word, note = "因学", "因学，唯一在校生为学前教育"
        elif v == 2:
            hh = self.open_(lambda h: self.labour(h) and not all(map(has_labour, ms(h))))
            word, note = "缺劳动力", "缺劳动力，部分成员无劳动能力"
        else:
            hh = self.closed(lambda h: not any(m.health in ILL for m in ms(h)))
            word, note = "因病", "风险已消除户风险含因病、无患病成员"
        self._add_risk(hh, word)
        self.d_near("risk_type_unsupported", hh, note=note)

    @injects("risk_without_matching_measure")
    def p_risk_without_matching_measure(self, i: int) -> None:
        v = i % 4
        ms = self.ms
        if v == 0:
            hh = self.open_(lambda h: any(m.health in ILL for m in ms(h)))
            self._add_risk(hh, "因病")
            drop, note = ("measure_health", "measure_social"), "因病，无健康帮扶、社会帮扶"
        elif v == 1:
            hh = self.open_(lambda h: any(map(is_student, ms(h))))
            self._add_risk(hh, "因学")
            drop, note = ("measure_education",), "因学，无教育帮扶"
        elif v == 2:
            hh = self.open_()
            self._add_risk(hh, "因安全住房")
            drop, note = ("measure_housing", "measure_relocation"), "因安全住房，无住房保障、搬迁"
        else:
            hh = self.open_()
            self._add_risk(hh, "因安全饮水")
            drop, note = ("measure_water",), "因安全饮水，无饮水安全保障"
        for f in drop:
            self.mon(hh).measures.pop(f, None)
        self.keep_some_measure(hh)
        self.d_problem("risk_without_matching_measure", hh, note=note)

    @near_misses("risk_without_matching_measure")
    def n_risk_without_matching_measure(self, v: int) -> None:
        if v > 3:
            raise IndexError
        ms = self.ms
        assert self.monitor is not None
        if v == 0:
            hh = self.open_(lambda h: any(m.health in ILL for m in ms(h)))
            self._add_risk(hh, "因病")
            mon = self.mon(hh)
            mon.measures.pop("measure_health", None)
            mon.measures["measure_social"] = self.monitor.pick("measure_social")
            note = "因病，仅有社会帮扶"
        elif v == 1:
            hh = self.open_()
            self._add_risk(hh, "因安全住房")
            mon = self.mon(hh)
            mon.measures.pop("measure_housing", None)
            mon.measures["measure_relocation"] = self.monitor.pick("measure_relocation")
            note = "因安全住房，仅有搬迁"
        elif v == 2:
            hh = self.closed(lambda h: any(m.health in ILL for m in ms(h)))
            self._add_risk(hh, "因病")
            for f in ("measure_health", "measure_social"):
                self.mon(hh).measures.pop(f, None)
            note = "风险已消除户因病无健康帮扶"
        else:
            hh = self.open_(lambda h: any(map(is_student, ms(h))) and not self.net(h))
            self._add_risk(hh, "因学")
            self.identified(hh, self.grace - 1)
            self.mon(hh).measures.pop("measure_education", None)
            note = "识别监测29天，因学尚无教育帮扶"
        self.keep_some_measure(hh)
        self.d_near("risk_without_matching_measure", hh, note=note)

    @injects("safety_net_record_mismatch")
    def p_safety_net_record_mismatch(self, i: int) -> None:
        v = i % 3
        mon_of = self.mon
        if v == 0:
            hh = self.open_(lambda h: not self.net(h))
            self._comprehensive(hh, add="低保")
            note = "综合保障登记低保，无成员享受低保"
        elif v == 1:
            hh = self.take(
                lambda h: (h.current or h.status == "风险已消除") and h.household_type == "低保户"
            )
            mon = mon_of(hh)
            items = [x for x in _items(mon) if "低保" not in x]
            mon.measures["measure_comprehensive"] = "、".join(items)
            self.keep_some_measure(hh)
            note = "成员享受低保，综合保障未登记低保"
        else:
            hh = self.open_(lambda h: not self.net(h))
            self._comprehensive(hh, add="特困供养")
            note = "综合保障登记特困供养，无成员享受特困"
        self.d_problem("safety_net_record_mismatch", hh, note=note)

    def _comprehensive(self, hh: Household, add: str) -> None:
        mon = self.mon(hh)
        mon.measures["measure_comprehensive"] = "、".join([add, *_items(mon)])

    @near_misses("safety_net_record_mismatch")
    def n_safety_net_record_mismatch(self, v: int) -> None:
        if v > 1:
            raise IndexError
        if v == 0:
            hh = self.take(lambda h: h.status == "已脱贫" and h.household_type == "低保户")
            mon = self.mon(hh)
            mon.measures["measure_comprehensive"] = "、".join(
                x for x in _items(mon) if "低保" not in x
            )
            note = "脱贫户（非监测对象）享受低保，综合保障未登记"
        else:
            hh = self.open_(lambda h: h.household_type == "低保户")
            mon = self.mon(hh)
            rest = [x for x in _items(mon) if "低保" not in x]
            mon.measures["measure_comprehensive"] = "；".join(["临时救助", "农村低保", *rest])
            note = "综合保障“临时救助；农村低保”"
        if not mon.measures["measure_comprehensive"]:
            del mon.measures["measure_comprehensive"]
        self.d_near("safety_net_record_mismatch", hh, note=note)

    def _healthy_adult(self, lo: int, hi: int) -> Callable[[Member], bool]:
        return lambda m: (
            m.id_problem is None
            and lo <= (age(m, self.Y) or -1) <= hi
            and m.health == "健康"
            and not is_student(m)
        )

    @injects("destitute_working_age_healthy")
    def p_destitute_working_age_healthy(self, i: int) -> None:
        lo, hi = ((59, 59), (18, 59), (30, 50))[i % 3]
        pick = self._healthy_adult(lo, hi)
        hh = self.take(lambda h: h.household_type == "一般户" and self.has(pick)(h))
        m = self.member(hh, pick)
        self.give_destitute(hh, m)
        self.d_problem(
            "destitute_working_age_healthy",
            hh,
            m,
            note=f"{age(m, self.Y)}岁健康，享受特困供养",
        )

    @near_misses("destitute_working_age_healthy")
    def n_destitute_working_age_healthy(self, v: int) -> None:
        if v > 2:
            raise IndexError
        if v == 0:
            pick = self._healthy_adult(60, 60)
            note = "60岁健康，享受特困供养"
        elif v == 1:
            pick = lambda m: (  # noqa: E731
                m.id_problem is None
                and 18 <= (age(m, self.Y) or -1) <= 59
                and m.health in ILL + ("残疾",)
            )
            note = "劳动年龄但患病或残疾，享受特困供养"
        else:
            pick = lambda m: (  # noqa: E731
                m.id_problem is None and 18 <= (age(m, self.Y) or -1) <= 25 and is_student(m)
            )
            note = "在校大学生，享受特困供养"
        hh = self.take(lambda h: h.household_type == "一般户" and self.has(pick)(h))
        m = self.member(hh, pick)
        self.give_destitute(hh, m)
        self.d_near("destitute_working_age_healthy", hh, m, note=note)

    def _workers(self, h: Household) -> int:
        return sum(map(has_labour, self.ms(h)))

    @injects("working_age_no_labour")
    def p_working_age_no_labour(self, i: int) -> None:
        lo, hi = ((59, 59), (18, 59))[i % 2]
        pick = self._healthy_adult(lo, hi)
        hh = self.take(lambda h: self._workers(h) >= 2 and self.has(pick)(h))
        m = self.member(hh, lambda m: pick(m) and has_labour(m))
        m.labour_skill = "无劳动力" if i % 2 else "丧失劳动力"
        self.d_problem(
            "working_age_no_labour", hh, m, note=f"{age(m, self.Y)}岁健康，登记{m.labour_skill}"
        )

    @near_misses("working_age_no_labour")
    def n_working_age_no_labour(self, v: int) -> None:
        if v > 2:
            raise IndexError
        if v == 0:
            pick = self._healthy_adult(60, 60)
            note = "60岁健康，丧失劳动力"
        elif v == 1:
            pick = lambda m: (  # noqa: E731
                m.id_problem is None and 18 <= (age(m, self.Y) or -1) <= 25 and is_student(m)
            )
            note = "在校生，无劳动力"
        else:
            pick = lambda m: (  # noqa: E731
                m.id_problem is None
                and 30 <= (age(m, self.Y) or -1) <= 59
                and m.health == "长期慢性病"
            )
            note = "长期慢性病，丧失劳动力"
        hh = self.take(lambda h: self._workers(h) >= 2 and self.has(pick)(h))
        m = self.member(hh, pick)
        if has_labour(m) and self._workers(hh) < 2:
            raise Skip
        m.labour_skill = "无劳动力" if v == 1 else "丧失劳动力"
        self.d_near("working_age_no_labour", hh, m, note=note)

    @injects("eliminated_without_measures")
    def p_eliminated_without_measures(self, i: int) -> None:
        hh = self.closed(lambda h: self.labour(h) and not self.net(h))
        self.mon(hh).mode = HELPED
        self.blank_measures(hh)
        self.d_problem("eliminated_without_measures", hh, note="帮扶消除，14项帮扶措施均为空")

    @near_misses("eliminated_without_measures")
    def n_eliminated_without_measures(self, v: int) -> None:
        if v > 1:
            raise IndexError
        hh = self.closed(lambda h: self.labour(h) and not self.net(h))
        mon = self.mon(hh)
        self.blank_measures(hh)
        if v == 0:
            mon.mode = NATURAL
            note = "自然消除，帮扶措施为空"
        else:
            mon.mode = HELPED
            mon.measures["measure_living_conditions"] = "改厨改厕"
            note = "帮扶消除，仅有生产生活条件改善"
        self.d_near("eliminated_without_measures", hh, note=note)

    @injects("ill_risk_without_costs")
    def p_ill_risk_without_costs(self, i: int) -> None:
        hh = self.open_(lambda h: any(m.health in ILL for m in self.ms(h)))
        self._add_risk(hh, "因病")
        for m in self.ms(hh):
            m.self_paid = None if i % 2 == 0 else 0
        self.d_problem(
            "ill_risk_without_costs",
            hh,
            note="因病，合规自付支出均为" + ("空" if i % 2 == 0 else "0"),
        )

    @near_misses("ill_risk_without_costs")
    def n_ill_risk_without_costs(self, v: int) -> None:
        if v > 1:
            raise IndexError
        if v == 0:
            hh = self.open_(
                lambda h: len(self.ms(h)) >= 2 and any(m.health in ILL for m in self.ms(h))
            )
            self._add_risk(hh, "因病")
            for m in self.ms(hh):
                m.self_paid = 0
            self.ms(hh)[-1].self_paid = 36.5
            note = "因病，仅一名成员合规自付36.50元"
        else:
            hh = self.closed(lambda h: any(m.health in ILL for m in self.ms(h)))
            self._add_risk(hh, "因病")
            for m in self.ms(hh):
                m.self_paid = None
            note = "风险已消除户因病无医疗支出"
        self.d_near("ill_risk_without_costs", hh, note=note)

    @injects("medical_insurance_double")
    def p_medical_insurance_double(self, i: int) -> None:
        hh = self.take(self.has(self.adult))
        m = self.member(hh, self.adult)
        m.med = m.emp_med = m.crit = True
        self.d_problem("medical_insurance_double", hh, m, note="城乡居民医保与城镇职工医保重复参保")

    @near_misses("medical_insurance_double")
    def n_medical_insurance_double(self, v: int) -> None:
        if v > 0:
            raise IndexError
        hh = self.take(self.has(self.adult))
        m = self.member(hh, self.adult)
        m.med, m.emp_med, m.crit = False, True, False
        self.d_near("medical_insurance_double", hh, m, note="仅参加城镇职工医保")


def _items(mon: Monitoring) -> list[str]:
    text = mon.measures.get("measure_comprehensive", "")
    for sep in P.MEASURE_SEPARATORS:
        text = text.replace(sep, "、")
    return [x for x in text.split("、") if x]
