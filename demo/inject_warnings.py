"""Problems and near misses of rules E (部门筛查预警, monitoring.md §4), both exports.

The early-warning feeds are built clean once every register problem is planted
(:func:`demo.early_warning.build_feeds`); an E injector then changes the records
of one register member, or gives a person outside the register (a background
resident, placed by the hukou 住址) the records that raise a warning. Only the
feeds change (and, for two near misses, a 在校生状况 or a 综合保障 item on a
fresh household), so the truth of sections A, B and D stays as it was.

The truth is read back by :func:`demo.early_warning.e_findings` over the model:
a planted problem that does not come back, a near miss that does, or a finding
on someone nothing was planted on, is a generator bug (``unplanned``). Truth rows
of outsiders carry the township and village the placement gives (or 未能定位).

Near misses sit on each boundary: 自付 one cent under the line (50 % and 100 %
bases), 因病 among the risks of a 未消除风险 household, certificates 三级 / 注销 /
issued the year before / after the year end, 学籍 转出 with an 在读 record at
another school, 休学 at 16, 低保 ended before the year end, 停保, 临时救助, 城市低保
outside the register, hukou 注销 before the year end, a register 小学 without grade.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from checks.rules import RULES_BY_CODE
from demo import pools as P
from demo.early_warning import (
    RESIDENT_KIND,
    UNPLACED,
    Feeds,
    Hit,
    build_feeds,
    e_findings,
    e_rules_running,
    house,
    place,
    register_places,
    resident,
    school_place,
    thresholds,
)
from demo.model import Assistance, Certificate, Finding, Insurance, Member, SchoolRecord
from demo.monitoring import enjoys_destitute, enjoys_dibao
from demo.registry import Skip, injects, near_misses

if TYPE_CHECKING:  # the mixin's host: demo.inject imports this module
    from demo.county import Household, Person
    from demo.inject import Injector

    _Base = Injector
else:
    _Base = object

log = logging.getLogger(__name__)

COMPANION = "同户伴随"


def _e(registrar: Callable) -> Callable[[str], Callable]:
    """Register only codes of the catalogue (the rules E may land after the generator)."""

    def by_code(code: str) -> Callable:
        return registrar(code) if code in RULES_BY_CODE else (lambda fn: fn)

    return by_code


e_injects = _e(injects)
e_near_misses = _e(near_misses)

# Mixed mode: rules E planted on households that already carry a problem of
# sections A, B or D (problems "p", near misses "n"), and outsiders with several warnings.
MIXED_E: tuple[tuple[str, str, int], ...] = (
    ("p", "medical_enrolment_mismatch", 0),
    ("p", "student_not_enrolled", 0),
    ("p", "school_status_mismatch", 0),
    ("p", "disability_unrecorded", 0),
    ("p", "high_medical_cost", 0),
    ("p", "dibao_record_mismatch", 0),
    ("n", "high_medical_cost", 0),
    ("n", "student_not_enrolled", 0),
    ("n", "disability_unrecorded", 0),
)


class WarningInjections(_Base):
    """The rule E part of :class:`demo.inject.Injector`."""

    # ------------------------------------------------------------------ the stage
    def warnings(self) -> None:
        """Build the clean feeds, plant every rule E that runs on this export, then read
        the truth back (after sections A/B/D and their mixed cases)."""
        self.e_running = e_rules_running(self.today)
        self.feeds: Feeds = build_feeds(self.c, self.seed, self.today, self.params)
        self.e_towns, self.e_villages = register_places(self.c)
        self.e_planned: dict[tuple[str, str, str], str] = {}
        self.e_near: set[tuple[str, str, str]] = set()
        self.e_people: set[str] = set()  # IDs of outsiders an E case was planted on
        self.e_households: set[str] = set()
        self._outsiders = [p for p in self.c.persons if not p.register]
        self.rng.shuffle(self._outsiders)
        for code in self.e_running:
            self.plant(code)
        if self.mixed:
            self.mix_warnings()
        self.e_truth()

    def mix_warnings(self) -> None:
        """E problems and decoys on households with a problem already; outsiders with
        two or three warnings at once."""
        carriers = []
        seen: set[str] = set()
        for t in self.truth:
            if t.household_id and t.household_id not in seen:
                seen.add(t.household_id)
                carriers.append(t.household_id)
        by_hid = {hh.hid: hh for hh in self.c.households}
        pool = [by_hid[h] for h in carriers if h in by_hid]
        self.rng.shuffle(pool)
        for kind, code, variant in MIXED_E:
            if code not in self.e_running:
                continue
            fn = getattr(self, ("p_" if kind == "p" else "n_") + code)
            done = 0
            for hh in pool:
                if done >= self.k:
                    break
                if hh.hid in self.e_households:
                    continue
                self.forced = hh
                try:
                    fn(variant)
                    done += 1
                except Skip:
                    pass
                finally:
                    self.forced = None
        for i in range(self.k):
            with contextlib.suppress(Skip):
                self.several_warnings(i)

    def several_warnings(self, i: int) -> None:
        codes = [
            c
            for c in ("dibao_not_monitored", "high_medical_cost", "new_severe_disability")
            if c in self.e_running
        ]
        if len(codes) < 2:
            raise Skip
        p = self.outsider(lambda p: self.age(p) >= 40, rural=i % 2 == 0)
        Y = self.Y
        for code in codes:
            if code == "dibao_not_monitored":
                self.give_assistance(p, "农村低保", dt.date(Y - 1, 5, 1))
            elif code == "high_medical_cost":
                self.give_costs(p, 26000.0)
            else:
                self.give_cert(p, 2, dt.date(Y, 3, 15))
            self.plan_outsider(code, p, "同一人多条预警（混合）")

    # ------------------------------------------------------------------ the truth
    def e_truth(self) -> None:
        """Truth rows of rules E from the oracle; bugs of the generator to ``unplanned``."""
        hits = list(e_findings(self.c, self.feeds, self.today, self.params, self.e_running))
        found = {h.key for h in hits}
        for key, note in self.e_planned.items():
            if key not in found:
                log.error("planted %s is not a finding of the oracle (%s)", key, note)
                self.unplanned.append((key[0], key[1] or key[2]))
        for key in self.e_near:
            if key in found:
                log.error("near miss %s is a finding", key)
                self.unplanned.append((key[0], key[1] or key[2]))
        seen: set[tuple[str, str, str]] = set()
        for h in hits:
            if h.key in seen:
                continue
            seen.add(h.key)
            note = self.e_planned.get(h.key)
            if h.hh is not None:
                hh = h.hh
                if note is None and not (
                    hh.used or hh.hid in self.e_households or (hh.mon and hh.mon.touched)
                ):
                    self.unplanned.append((h.code, hh.hid))
                    continue
                level = RULES_BY_CODE[h.code].level
                self.problem(
                    h.code, level, hh, h.m if level == "person" else None, note=note or COMPANION
                )
            else:
                assert h.person is not None
                if note is None:
                    self.unplanned.append((h.code, h.person.id))
                    continue
                self.truth.append(self.outsider_finding(h.code, h.person, note))
        if self.unplanned:
            log.warning("rules D/E: unplanned or missing findings: %s", self.unplanned[:10])

    # ------------------------------------------------------------------ helpers
    def placement(self, p: Person) -> tuple[str, str]:
        return place(p.address, self.e_towns, self.e_villages)

    def outsider_finding(self, code: str, p: Person, note: str) -> Finding:
        t, v = self.placement(p)
        return Finding(code, RULES_BY_CODE[code].level, t, v, "", "", p.id, p.name, note)

    def plan(self, code: str, hh: Household, m: Member, note: str) -> None:
        level = RULES_BY_CODE[code].level
        self.e_planned[(code, hh.hid, m.id_number if level == "person" else "")] = note
        self.e_households.add(hh.hid)

    def plan_outsider(self, code: str, p: Person, note: str) -> None:
        t, v = self.placement(p)
        where = "未能定位" if t == UNPLACED else (f"{t}{v}" if v else f"{t}（行政村空）")
        self.e_planned[(code, "", p.id)] = f"{note}；定位：{where}"

    def near_e(self, code: str, hh: Household, m: Member, note: str) -> None:
        level = RULES_BY_CODE[code].level
        self.e_near.add((code, hh.hid, m.id_number if level == "person" else ""))
        self.e_households.add(hh.hid)
        self.near_miss(code, level, hh, m if level == "person" else None, note=note)

    def near_outsider(self, code: str, p: Person, note: str) -> None:
        self.e_near.add((code, "", p.id))
        f = self.outsider_finding(code, p, note)
        self.near.append(f)

    def e_member(
        self, hpred: Callable[[Household], bool], mpred: Callable[[Member], bool]
    ) -> tuple[Household, Member]:
        """A register member (valid, unique ID number) of a household nothing E touched."""

        def ok(m: Member) -> bool:
            return (
                m.id_problem is None
                and mpred(m)
                and resident(m.person, self.Y)
                and sum(1 for x in self.c_rows.get(m.id_number, ())) == 1
            )

        hh = self.e_take(lambda h: hpred(h) and self.has(ok)(h))
        return hh, self.member(hh, ok)

    def e_take(self, pred: Callable[[Household], bool]) -> Household:
        """A household no E case is on yet: a fresh one if any fits, else one carrying a
        problem of sections A, B or D (an E case changes only the feeds)."""
        if self.forced is not None:
            hh, self.forced = self.forced, None
            if pred(hh):
                return hh
            raise Skip
        for fresh in (True, False):
            for hh in self.pool:
                busy = hh.used or (hh.mon is not None and hh.mon.touched)
                if (
                    busy != fresh
                    and hh.hid not in self.e_households
                    and self.Y in hh.years
                    and pred(hh)
                ):
                    if self.first_taken is None:
                        self.first_taken = hh
                    return hh
        raise Skip

    def fresh(self, hh: Household) -> bool:
        """Nothing planted on it (for a near miss that changes the register itself)."""
        return not hh.used and not (hh.mon is not None and hh.mon.touched)

    def set_level(self, cert: Certificate, level: int) -> None:
        """``cert`` of ``level``: a new card when it was the register's 残疾人证 number."""
        if cert.number is not None:
            cert.category, cert.number, cert.seq = int(cert.number[18]), None, "03"
        cert.level = level

    @property
    def c_rows(self) -> dict[str, list[Member]]:
        rows = getattr(self, "_c_rows", None)
        if rows is None:
            rows = {}
            for hh in self.c.households:
                hy = hh.years.get(self.Y)
                for m in hy.members if hy else ():
                    rows.setdefault(m.id_number, []).append(m)
            self._c_rows = rows
        return rows

    def h(self, hh: Household):  # noqa: ANN201
        return house(hh, self.Y, self.today)

    def outsider(
        self,
        pred: Callable[[Person], bool] = lambda p: True,
        rural: bool | None = True,
        res: bool = True,
    ) -> Person:
        """A background person (not in the register) nothing E touched yet; a county
        resident unless ``res`` is False; rural (a village address), in town, or any."""
        for p in self._outsiders:
            if p.id in self.e_people or p.id in self.feeds.civil or p.id in self.feeds.medical:
                continue
            if p.id in self.feeds.certs or not p.in_hukou:
                continue
            if rural is not None and (p.village >= 0) != rural:
                continue
            if resident(p, self.Y) != res or not pred(p):
                continue
            self.e_people.add(p.id)
            p.watched = True
            return p
        raise Skip

    def give_assistance(
        self,
        p: Person,
        kind: str,
        start: dt.date,
        end: dt.date | None = None,
        status: str = "在保",
    ) -> Assistance:
        rec = Assistance(
            p.id,
            p.name,
            kind,
            start,
            end,
            status,
            800 if kind == "临时救助" else 350,
            p.id,
            1,
            self.c.towns[p.town],
            None,
        )
        return self.feeds.add(self.c, rec)

    def give_costs(self, p: Person | Member, paid: float, year: int | None = None) -> None:
        """``p``'s 医保 row of the year (one per person and year) pays ``paid`` itself."""
        pid = p.id if not isinstance(p, Member) else p.id_number
        year = self.Y if year is None else year
        for r in self.feeds.medical.get(pid, []):
            if r.year == year:
                r.self_paid = paid
                r.fund = round(paid * 2.5, 2)
                return
        self.feeds.add(
            self.c,
            Insurance(pid, p.name, year, RESIDENT_KIND, "正常参保", "", paid, round(paid * 2.5, 2)),
        )

    def give_cert(
        self, p: Person | Member, level: int, issued: dt.date, status: str = "有效"
    ) -> Certificate:
        pid = p.id if not isinstance(p, Member) else p.id_number
        cert = Certificate(
            pid,
            p.name,
            self.rng.randint(1, 7),
            level,
            issued,
            status,
            seq=f"{self.rng.randint(1, 3):02d}",
        )
        return self.feeds.add(self.c, cert)

    def unplace(self, p: Person, two_towns: bool) -> None:
        """A 住址 no township can be read from: none named, or two."""
        t = self.c.towns[p.town]
        if two_towns:
            other = next(x for x in self.c.towns if x != t)
            p.address = (
                f"{P.PROVINCE}{P.PREFECTURE}{P.COUNTY}{t}{self.rng.choice(P.STREETS)}"
                f"{self.rng.randint(1, 90)}号（原{other}）"
            )
        else:
            p.address = (
                f"{P.PROVINCE}{P.PREFECTURE}{P.COUNTY}县城{self.rng.choice(P.STREETS)}"
                f"{self.rng.randint(1, 90)}号"
            )
        if self.placement(p)[0] != UNPLACED:
            raise Skip

    def other_village(self, p: Person) -> None:
        """This township with a village of another township: township, blank village."""
        t = self.c.towns[p.town]
        foreign = next(
            v.name
            for v in self.c.villages
            if v.town != p.town and v.name not in self.e_villages.get(t, ())
        )
        p.address = f"{P.PROVINCE}{P.PREFECTURE}{P.COUNTY}{t}{foreign}{self.rng.randint(1, 90)}号"
        if self.placement(p) != (t, ""):
            raise Skip

    # ================================================================== 民政
    @e_injects("dibao_not_monitored")
    def p_dibao_not_monitored(self, i: int) -> None:
        Y = self.Y
        v = i % 5
        if v == 0:
            p = self.outsider(lambda p: self.age(p) >= 25)
            self.give_assistance(p, "农村低保", dt.date(Y - 2, 4, 1))
            note = "村级地址；农村低保在保"
        elif v == 1:
            p = self.outsider(lambda p: self.age(p) >= 60, rural=False)
            self.give_assistance(p, "特困供养", dt.date(Y, 12, 31))
            note = "仅乡镇地址；特困供养自12月31日起"
        elif v == 2:
            p = self.outsider(lambda p: self.age(p) >= 25)
            self.unplace(p, two_towns=i % 2 == 0)
            self.give_assistance(p, "农村低保", dt.date(Y - 1, 7, 1), dt.date(Y, 12, 31))
            note = "住址无法定位；低保终止于12月31日（仍在保）"
        elif v == 3:
            # deregistered after the working year end: still a resident
            p = self.outsider(lambda p: self.age(p) >= 25)
            p.status, p.dereg = "迁出", dt.date(Y + 1, 1, 3)
            self.give_assistance(p, "农村低保", dt.date(Y - 1, 2, 1))
            note = "次年1月迁出（年末仍为本县户籍）"
        else:
            p = self.outsider(lambda p: self.age(p) >= 25)
            self.other_village(p)
            self.give_assistance(p, "农村低保", dt.date(Y - 3, 9, 1))
            note = "住址含他乡行政村（行政村空）"
        self.plan_outsider("dibao_not_monitored", p, note)

    @e_near_misses("dibao_not_monitored")
    def n_dibao_not_monitored(self, v: int) -> None:
        Y = self.Y
        if v > 5:
            raise IndexError
        if v == 0:
            p = self.outsider(lambda p: self.age(p) >= 25)
            self.give_assistance(p, "农村低保", dt.date(Y - 2, 1, 1), dt.date(Y, 12, 30), "终止")
            note = "低保终止于12月30日（年末前）"
        elif v == 1:
            p = self.outsider(lambda p: self.age(p) >= 25)
            self.give_assistance(p, "农村低保", dt.date(Y - 2, 1, 1), status="停保")
            note = "低保停保"
        elif v == 2:
            p = self.outsider(lambda p: self.age(p) >= 25)
            d = dt.date(Y, 11, 2)
            self.give_assistance(p, "临时救助", d, d)
            note = "临时救助"
        elif v == 3:
            p = self.outsider(lambda p: self.age(p) >= 25, res=False)
            self.give_assistance(p, "农村低保", dt.date(Y - 2, 1, 1))
            note = "户籍已注销（年末前），不是本县居民"
        elif v == 4:
            p = self.outsider(lambda p: self.age(p) >= 25, rural=False)
            self.give_assistance(p, "城市低保", dt.date(Y - 1, 1, 1))
            note = "城市低保（本规则只计农村低保、特困）"
        else:
            p = self.outsider(lambda p: self.age(p) >= 25)
            self.give_assistance(p, "农村低保", dt.date(Y + 1, 1, 1))
            note = "低保次年1月1日起（年末未在保）"
        self.near_outsider("dibao_not_monitored", p, note)

    def enjoying(self, m: Member, hh: Household) -> str | None:
        """低保 / 特困 the register says ``m`` enjoys (either generation)."""
        if self.today:
            return "低保" if enjoys_dibao(m) else "特困" if enjoys_destitute(m) else None
        return {"低保户": "低保", "特困供养户": "特困"}.get(hh.household_type)

    def records(self, m: Member, kinds: tuple[str, ...]) -> list[Assistance]:
        return [r for r in self.feeds.civil.get(m.id_number, []) if r.kind in kinds]

    @e_injects("dibao_record_mismatch")
    def p_dibao_record_mismatch(self, i: int) -> None:
        Y = self.Y
        v = i % 4
        if v in (0, 1, 3):
            want = "特困" if v == 3 else "低保"
            hh, m = self.e_member(lambda h: True, lambda m, w=want: self._enjoys(m, w))
            kinds = ("特困供养",) if want == "特困" else ("农村低保", "城市低保")
            recs = self.records(m, kinds)
            if not recs:
                raise Skip
            if v == 0:
                for r in recs:
                    self.feeds.drop(self.c, r)
                note = "登记享受低保，民政无低保记录"
            elif v == 1:
                for r in recs:
                    r.end, r.status = dt.date(Y, 6, 30), "终止"
                note = "登记享受低保，民政低保已于6月30日终止"
            else:
                for r in recs:
                    r.status = "停保"
                note = "登记享受特困，民政特困供养已停保"
        else:
            hh, m = self.e_member(lambda h: True, lambda m: self._enjoys(m, None))
            self.feeds.add(
                self.c,
                Assistance(
                    m.id_number, m.name, "农村低保", dt.date(Y - 1, 3, 1), None, "在保", 320
                ),
            )
            note = "民政农村低保在保，登记未享受"
        self.plan("dibao_record_mismatch", hh, m, note)

    def _enjoys(self, m: Member, what: str | None) -> bool:
        hh = self._hh_of(m)
        return hh is not None and self.enjoying(m, hh) == what

    def _hh_of(self, m: Member) -> Household | None:
        idx = getattr(self, "_hh_idx", None)
        if idx is None:
            idx = {}
            for hh in self.c.households:
                hy = hh.years.get(self.Y)
                for x in hy.members if hy else ():
                    idx[id(x)] = hh
            self._hh_idx = idx
        return idx.get(id(m))

    @e_near_misses("dibao_record_mismatch")
    def n_dibao_record_mismatch(self, v: int) -> None:
        Y = self.Y
        if v > 2:
            raise IndexError
        if v == 0:
            hh, m = self.e_member(lambda h: True, lambda m: self._enjoys(m, "低保"))
            recs = self.records(m, ("农村低保",))
            if not recs:
                raise Skip
            for r in recs:
                r.kind = "城市低保"
            note = "民政为城市低保（也算低保）"
        elif v == 1:
            hh, m = self.e_member(lambda h: True, lambda m: self._enjoys(m, "低保"))
            self.feeds.add(
                self.c,
                Assistance(
                    m.id_number,
                    m.name,
                    "农村低保",
                    dt.date(Y - 5, 1, 1),
                    dt.date(Y - 3, 12, 31),
                    "终止",
                    200,
                ),
            )
            note = "另有一条已终止的旧低保记录"
        else:
            hh, m = self.e_member(lambda h: True, lambda m: self._enjoys(m, None))
            d = dt.date(Y, 8, 8)
            self.feeds.add(self.c, Assistance(m.id_number, m.name, "临时救助", d, d, "在保", 1500))
            note = "未享受低保，民政仅有临时救助"
        self.near_e("dibao_record_mismatch", hh, m, note)

    # ================================================================== 医保
    def _row(self, m: Member):  # noqa: ANN202
        for r in self.feeds.medical.get(m.id_number, []):
            if r.year == self.Y:
                return r
        return None

    @e_injects("high_medical_cost")
    def p_high_medical_cost(self, i: int) -> None:
        mon, other, _ = thresholds(self.params)
        v = i % 4
        if v == 0 or v == 3:
            hpred = (
                (lambda h: self.h(h).poor_or_monitored and not self.h(h).risk_open)
                if v == 0
                else (lambda h: self.h(h).risk_open and "因病" not in self.h(h).risks)
            )
            hh, m = self.e_member(hpred, lambda m: self._row(m) is not None)
            paid = float(mon) if v == 0 else float(mon) + 4000
            self.give_costs(m, paid)
            self.plan(
                "high_medical_cost",
                hh,
                m,
                f"个人自付{paid:.2f}元（≥50%）" + ("" if v == 0 else "；风险未消除但无因病"),
            )
            return
        if v == 1:
            p = self.outsider(lambda p: self.age(p) >= 18)
            paid = float(other)
            note = f"个人自付{paid:.2f}元（恰为100%）"
        else:
            p = self.outsider(lambda p: self.age(p) >= 18, rural=None)
            self.unplace(p, two_towns=True)
            paid = 38000.0
            note = "个人自付38000元；住址含两个乡镇"
        self.give_costs(p, paid)
        self.plan_outsider("high_medical_cost", p, note)

    @e_near_misses("high_medical_cost")
    def n_high_medical_cost(self, v: int) -> None:
        mon, other, _ = thresholds(self.params)
        if v > 5:
            raise IndexError
        if v == 0:
            hh, m = self.e_member(
                lambda h: self.h(h).poor_or_monitored and not self.h(h).risk_open,
                lambda m: self._row(m) is not None,
            )
            self.give_costs(m, float(mon) - 0.01)
            self.near_e(
                "high_medical_cost", hh, m, f"个人自付{float(mon) - 0.01:.2f}元（差1分到50%）"
            )
        elif v == 1:
            p = self.outsider(lambda p: self.age(p) >= 18)
            self.give_costs(p, float(other) - 0.01)
            self.near_outsider(
                "high_medical_cost", p, f"个人自付{float(other) - 0.01:.2f}元（差1分到100%）"
            )
        elif v == 2:
            if not self.today:
                raise Skip  # the legacy export has no risks: nothing excludes the household
            hh, m = self.e_member(
                lambda h: self.h(h).risk_open and "因病" in self.h(h).risks,
                lambda m: self._row(m) is not None,
            )
            self.give_costs(m, 40000.0)
            self.near_e("high_medical_cost", hh, m, "风险未消除且因病在风险类型中（自付40000元）")
        elif v == 3:
            p = self.outsider(lambda p: self.age(p) >= 18, res=False)
            self.give_costs(p, 50000.0)
            self.near_outsider("high_medical_cost", p, "户籍年末前已注销（自付50000元）")
        elif v == 4:
            hh, m = self.e_member(
                lambda h: self.h(h).poor_or_monitored and not self.h(h).risk_open,
                lambda m: self._row(m) is not None,
            )
            self.give_costs(m, 60000.0, year=self.Y - 1)
            self.near_e("high_medical_cost", hh, m, "上年自付60000元（本年度不高）")
        else:
            p = self.outsider(lambda p: self.age(p) >= 18, rural=False)
            self.give_costs(p, float(mon) + 5000)
            self.near_outsider("high_medical_cost", p, "不在册，自付超50%未到100%")

    @e_injects("medical_enrolment_mismatch")
    def p_medical_enrolment_mismatch(self, i: int) -> None:
        v = i % 3
        if v == 2 and self.today:
            hh, m = self.e_member(
                lambda h: True,
                lambda m: not m.med and m.emp_med and self._row(m) is not None,
            )
            r = self._row(m)
            r.kind = RESIDENT_KIND
            note = "登记未参加城乡居民医保，医保有城乡居民正常参保"
        else:
            hh, m = self.e_member(lambda h: True, lambda m: m.med and self._row(m) is not None)
            r = self._row(m)
            if v == 0:
                self.feeds.drop(self.c, r)
                note = "登记参加城乡居民医保，医保无本年度记录"
            elif v == 1:
                r.status = "终止"
                note = "登记参加城乡居民医保，医保参保状态终止"
            else:
                r.kind = "职工基本医疗保险"
                note = "登记参加城乡居民医保，医保为职工医保"
        self.plan("medical_enrolment_mismatch", hh, m, note)

    @e_near_misses("medical_enrolment_mismatch")
    def n_medical_enrolment_mismatch(self, v: int) -> None:
        if v > 1:
            raise IndexError
        if v == 0:
            hh, m = self.e_member(lambda h: True, lambda m: m.med and self._row(m) is not None)
            self.feeds.add(
                self.c,
                Insurance(m.id_number, m.name, self.Y - 1, RESIDENT_KIND, "终止", "", 0.0, 0.0),
            )
            note = "上年度终止、本年度正常参保"
        else:
            if not self.today:
                raise Skip
            hh, m = self.e_member(
                lambda h: True, lambda m: not m.med and m.emp_med and self._row(m) is not None
            )
            note = "登记城镇职工医保，医保为职工医保"
        self.near_e("medical_enrolment_mismatch", hh, m, note)

    # ================================================================== 教育
    def _school(self, m: Member) -> list:
        return [r for r in self.feeds.school.get(m.id_number, []) if r.school_year == self.Y]

    def pupil_e(self, lo: int, hi: int) -> Callable[[Member], bool]:
        return lambda m: (
            lo <= self.age_sep(m.person) <= hi
            and school_place(m.school_status) is not None
            and any(r.status == "在读" for r in self._school(m))
        )

    @e_injects("student_not_enrolled")
    def p_student_not_enrolled(self, i: int) -> None:
        v = i % 5
        lo, hi = (6, 6) if v == 3 else (7, 15)
        hh, m = self.e_member(lambda h: True, self.pupil_e(lo, hi))
        recs = self._school(m)
        if v in (0, 3):
            for r in recs:
                self.feeds.drop(self.c, r)
            note = "无本学年学籍" + ("（9月1日恰满6岁）" if v == 3 else "")
        else:
            status = {1: "休学", 2: "辍学", 4: "转出"}[v]
            for r in recs:
                r.status = status
            note = f"学籍{status}"
        self.plan("student_not_enrolled", hh, m, note)

    @e_near_misses("student_not_enrolled")
    def n_student_not_enrolled(self, v: int) -> None:
        if v > 2:
            raise IndexError
        if v == 0:
            hh, m = self.e_member(lambda h: True, self.pupil_e(7, 15))
            rec = self._school(m)[0]
            rec.status = "转出"
            new = self.feeds.add(
                self.c,
                SchoolRecord(
                    rec.id,
                    rec.name,
                    rec.school_year,
                    f"{P.FAR_CITIES[0]}实验学校",
                    rec.stage,
                    rec.grade,
                    "在读",
                ),
            )
            assert new is not None
            note = "原校转出，另一学校在读"
        elif v == 1:
            hh, m = self.e_member(lambda h: True, self.pupil_e(16, 16))
            for r in self._school(m):
                r.status = "休学"
            note = "16岁（9月1日）休学"
        else:
            hh, m = self.e_member(
                lambda h: True,
                lambda m: self.age_sep(m.person) == 5 and m.school_status == "学前教育",
            )
            for r in self._school(m):
                self.feeds.drop(self.c, r)
            note = "5岁（9月1日）无学籍"
        self.near_e("student_not_enrolled", hh, m, note)

    @e_injects("school_status_mismatch")
    def p_school_status_mismatch(self, i: int) -> None:
        v = i % 3
        if v == 0:
            hh, m = self.e_member(
                lambda h: True,
                lambda m: (
                    m.school_status.startswith("小学")
                    and m.school_status[2] in "一二三四五"
                    and self.pupil_e(6, 15)(m)
                ),
            )
            nxt = "二三四五六"["一二三四五".index(m.school_status[2])]
            for r in self._school(m):
                r.grade = f"{nxt}年级"
            note = f"登记{m.school_status}，学籍小学{nxt}年级"
        elif v == 1:
            hh, m = self.e_member(
                lambda h: True,
                lambda m: 18 <= self.age(m.person) <= 25 and m.school_status == "非在校生",
            )
            self.feeds.add(
                self.c,
                SchoolRecord(
                    m.id_number, m.name, self.Y, f"{P.COUNTY}职业高级中学", "中职", "三年级", "在读"
                ),
            )
            note = "登记非在校生，学籍中职在读"
        else:
            hh, m = self.e_member(
                lambda h: True,
                lambda m: m.school_status.startswith("高中") and bool(self._school(m)),
            )
            for r in self._school(m):
                r.stage, r.school = "中职", f"{P.COUNTY}职业高级中学"
                r.grade = f"{m.school_status[2]}年级"
            note = f"登记{m.school_status}，学籍为中职"
        self.plan("school_status_mismatch", hh, m, note)

    @e_near_misses("school_status_mismatch")
    def n_school_status_mismatch(self, v: int) -> None:
        if v > 2:
            raise IndexError
        if v == 0:
            # the register's 小学 without a grade; fresh household only (a register change)
            hh, m = self.e_member(
                self.fresh,
                lambda m: m.school_status.startswith("小学") and self.pupil_e(7, 12)(m),
            )
            grade = self._school(m)[0].grade
            m.school_status = "小学"
            note = f"登记为小学（无年级），学籍小学{grade}"
        elif v == 1:
            hh, m = self.e_member(
                lambda h: True,
                lambda m: (
                    m.school_status in ("七年级", "八年级", "九年级") and bool(self._school(m))
                ),
            )
            for r in self._school(m):
                r.grade = {"七年级": "初一", "八年级": "初二", "九年级": "初三"}[m.school_status]
            note = f"学籍年级写作{self._school(m)[0].grade}"
        else:
            hh, m = self.e_member(
                lambda h: True, lambda m: m.school_status == "学前教育" and bool(self._school(m))
            )
            note = "学前教育 = 学籍学前"
        self.near_e("school_status_mismatch", hh, m, note)

    # ================================================================== 残联
    @e_injects("disability_unrecorded")
    def p_disability_unrecorded(self, i: int) -> None:
        v = i % 2
        health = "健康" if v == 0 else "长期慢性病"
        hh, m = self.e_member(
            lambda h: True, lambda m: m.health == health and not self.feeds.certs.get(m.id_number)
        )
        self.give_cert(m, 4 if v == 0 else 3, dt.date(self.Y - 3, 5, 12))
        self.plan("disability_unrecorded", hh, m, f"持有效残疾证，登记为{health}")

    @e_near_misses("disability_unrecorded")
    def n_disability_unrecorded(self, v: int) -> None:
        if v > 1:
            raise IndexError
        status = "注销" if v == 0 else "过期"
        hh, m = self.e_member(
            lambda h: True, lambda m: m.health == "健康" and not self.feeds.certs.get(m.id_number)
        )
        self.give_cert(m, 1, dt.date(self.Y - 2, 4, 1), status=status)
        self.near_e("disability_unrecorded", hh, m, f"残疾证{status}")

    def _disabled(self, m: Member) -> bool:
        cs = self.feeds.certs.get(m.id_number, [])
        return m.health == "残疾" and len(cs) == 1

    @e_injects("severe_disability_without_subsidy")
    def p_severe_disability_without_subsidy(self, i: int) -> None:
        v = i % 2
        hpred = (
            (lambda h: self.h(h).poor_exited and not self.h(h).risk_open and not self.h(h).subsidy)
            if v == 0
            else (lambda h: self.h(h).risk_open and not self.h(h).subsidy)
        )
        hh, m = self.e_member(hpred, self._disabled)
        self.set_level(self.feeds.certs[m.id_number][0], 1 if v == 0 else 2)
        self.plan(
            "severe_disability_without_subsidy",
            hh,
            m,
            f"{'一' if v == 0 else '二'}级残疾证，综合保障未列残疾人补贴",
        )

    @e_near_misses("severe_disability_without_subsidy")
    def n_severe_disability_without_subsidy(self, v: int) -> None:
        if v > 2:
            raise IndexError
        if v == 0:
            hh, m = self.e_member(
                lambda h: self.h(h).poor_exited and not self.h(h).subsidy, self._disabled
            )
            self.set_level(self.feeds.certs[m.id_number][0], 3)
            note = "三级残疾证"
        elif v == 1:
            hh, m = self.e_member(
                lambda h: self.h(h).poor_exited and not self.h(h).subsidy, self._disabled
            )
            self.set_level(self.feeds.certs[m.id_number][0], 1)
            self.feeds.certs[m.id_number][0].status = "注销"
            note = "一级残疾证已注销"
        else:
            if not self.today:
                raise Skip
            hh, m = self.e_member(
                lambda h: (
                    self.fresh(h)
                    and self.h(h).poor_exited
                    and not self.h(h).monitored
                    and not self.h(h).subsidy
                ),
                self._disabled,
            )
            self.set_level(self.feeds.certs[m.id_number][0], 2)
            mon = hh.mon
            assert mon is not None
            old = mon.measures.get("measure_comprehensive")
            mon.measures["measure_comprehensive"] = (
                old + "、" if old else ""
            ) + "重度残疾人护理补贴"
            note = "二级残疾证，综合保障列重度残疾人护理补贴"
        self.near_e("severe_disability_without_subsidy", hh, m, note)

    @e_injects("new_severe_disability")
    def p_new_severe_disability(self, i: int) -> None:
        Y = self.Y
        v = i % 5
        if v == 0:
            hh, m = self.e_member(
                # not under monitoring, and no 重度残疾 subsidy finding beside it
                lambda h: (
                    not self.h(h).risk_open and (self.h(h).subsidy or not self.h(h).poor_exited)
                ),
                self._disabled,
            )
            cert = self.feeds.certs[m.id_number][0]
            self.set_level(cert, 1)
            cert.issued = dt.date(Y, 1, 1)
            self.plan("new_severe_disability", hh, m, "1月1日新发一级残疾证（未在监测中）")
            return
        if v == 1:
            p = self.outsider(lambda p: self.age(p) >= 3)
            self.give_cert(p, 2, dt.date(Y, 12, 31))
            note = "12月31日新发二级残疾证"
        elif v == 2:
            p = self.outsider(lambda p: self.age(p) >= 3, rural=False)
            self.give_cert(p, 1, dt.date(Y, 6, 18))
            note = "新发一级残疾证"
        elif v == 3:
            p = self.outsider(lambda p: self.age(p) >= 3)
            self.unplace(p, two_towns=False)
            self.give_cert(p, 1, dt.date(Y, 8, 1))
            note = "新发一级残疾证；住址无乡镇"
        else:
            p = self.outsider(lambda p: self.age(p) >= 3)
            self.other_village(p)
            self.give_cert(p, 2, dt.date(Y, 2, 2))
            note = "新发二级残疾证；住址含他乡行政村"
        self.plan_outsider("new_severe_disability", p, note)

    @e_near_misses("new_severe_disability")
    def n_new_severe_disability(self, v: int) -> None:
        Y = self.Y
        if v > 5:
            raise IndexError
        if v == 4:
            hh, m = self.e_member(
                lambda h: (
                    self.h(h).risk_open and self.h(h).subsidy if self.today else self.h(h).risk_open
                ),
                self._disabled,
            )
            cert = self.feeds.certs[m.id_number][0]
            self.set_level(cert, 1)
            cert.issued = dt.date(Y, 4, 4)
            self.near_e("new_severe_disability", hh, m, "风险未消除户新发一级残疾证")
            return
        cases = {
            0: (1, dt.date(Y - 1, 12, 31), "有效", True, "上年12月31日发证"),
            1: (3, dt.date(Y, 5, 5), "有效", True, "本年新发三级"),
            2: (1, dt.date(Y, 5, 5), "注销", True, "本年新发一级但已注销"),
            3: (1, dt.date(Y, 5, 5), "有效", False, "户籍年末前已注销"),
            5: (2, dt.date(Y + 1, 1, 10), "有效", True, "次年1月10日发证"),
        }
        level, issued, status, res, note = cases[v]
        p = self.outsider(lambda p: self.age(p) >= 3, res=res)
        self.give_cert(p, level, issued, status=status)
        self.near_outsider("new_severe_disability", p, note)


__all__ = ["COMPANION", "MIXED_E", "WarningInjections", "Hit"]
