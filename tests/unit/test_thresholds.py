"""checks/thresholds.toml: the office's file, validated at load with errors that
name the key in Chinese and English."""

from __future__ import annotations

from decimal import Decimal

import pytest

from checks import ALL_RULES
from checks.thresholds import DEFAULT_PATH, Thresholds, ThresholdsError, load_thresholds, sql_fields

DEFAULT = DEFAULT_PATH.read_text(encoding="utf-8")


def test_defaults_match_rules_md():
    th = load_thresholds()
    assert {y: th.income_line(y) for y in (2013, 2016, 2020, 2021, 2024, 2030)} == {
        2013: 2736,
        2016: 3000,
        2020: 4000,
        2021: 6000,
        2024: 6000,
        2030: 6000,
    }
    assert th.income_line(2012) is None
    assert th.income.arithmetic_tolerance_yuan == 1
    assert (th.income.excess_percent, th.income.excess_min_yuan) == (10, 3000)
    assert th.business.individual_capital_10k == 10
    assert th.age.compulsory_education == (6, 15)
    assert th.age.pension_working_age == (16, 59)
    assert th.age.grade_tolerance_years == 3
    assert th.phone.max_households_per_number == 5
    ew = th.early_warning
    assert (ew.rural_income_yuan, ew.monitored_cost_percent, ew.others_cost_percent) == (
        21691,
        50,
        100,
    )
    assert (ew.new_disability_months, ew.visit_days) == (12, 15)
    assert th.due_days == {"high": 15, "medium": 30, "low": 60}
    fq = th.feed_quality
    assert (fq.volume_tolerance, fq.max_reject_rate) == (0.2, 0.01)
    assert fq.default_max_age_days == 40 and fq.max_age_days["hukou"] == 40
    assert 0 < fq.min_hukou_match_rate <= 1
    params = th.sql_params(2024)
    assert params["excess_ratio"] == Decimal("0.1") and params["income_line"] == 6000
    assert "%轿车%" in params["car_include"] and "%摩托车%" in params["car_exclude"]


def test_environment_variable_and_explicit_path(tmp_path, monkeypatch):
    edited = tmp_path / "mine.toml"
    edited.write_text(DEFAULT.replace("individual_capital_10k = 10", "individual_capital_10k = 5"))
    monkeypatch.setenv("BIDUI_THRESHOLDS", str(edited))
    assert load_thresholds().business.individual_capital_10k == 5
    assert load_thresholds(DEFAULT_PATH).business.individual_capital_10k == 10
    # A file saved by Windows Notepad starts with a BOM.
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + DEFAULT.encode())
    assert load_thresholds(bom).business.individual_capital_10k == 10


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "individual_capital_10k = 10",
            'individual_capital_10k = "10万"',
            "business.individual_capital_10k",
        ),
        (
            "individual_capital_10k = 10",
            "individual_capital_10k = -1",
            "business.individual_capital_10k",
        ),
        ("individual_capital_10k = 10", "", "business.individual_capital_10k"),
        ("individual_capital_10k = 10", "individual_capital = 10", "business.individual_capital"),
        (
            "compulsory_education = [6, 15]",
            "compulsory_education = [15, 6]",
            "age.compulsory_education",
        ),
        ("pension_working_age = [16, 59]", "pension_working_age = [16]", "age.pension_working_age"),
        ("grade_tolerance_years = 3", "grade_tolerance_years = 2.5", "age.grade_tolerance_years"),
        ("2021 = 6000", "2021 = 0", "income_line.2021"),
        ("2021 = 6000", "21 = 6000", "income_line.21"),
        ("excess_percent = 10", "excess_percent = true", "income.excess_percent"),
        (
            "arithmetic_tolerance_yuan = 1",
            "arithmetic_tolerance_yuan = -0.5",
            "income.arithmetic_tolerance_yuan",
        ),
        (
            'car_types_include = ["%轿车%", "%客车%", "重型%", "中型%", "%牵引车%"]',
            "car_types_include = []",
            "vehicles.car_types_include",
        ),
        (
            "max_households_per_number = 5",
            "max_households_per_number = 0",
            "phone.max_households_per_number",
        ),
        ("high = 15", "high = 0", "due_days.high"),
        ("low = 60", "", "due_days.low"),
        ("max_reject_rate = 0.01", "max_reject_rate = 5", "feed_quality.max_reject_rate"),
        ("volume_tolerance = 0.20", "", "feed_quality.volume_tolerance"),
        ("hukou = 40", "hukuo = 40", "feed_quality.max_age_days.hukuo"),
        ("hukou = 40", "hukou = 0", "feed_quality.max_age_days.hukou"),
        ("[phone]", "[phones]", "phones"),
    ],
)
def test_a_wrong_value_names_the_key(tmp_path, old, new, key):
    assert old in DEFAULT
    path = tmp_path / "t.toml"
    path.write_text(DEFAULT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ThresholdsError) as exc:
        load_thresholds(path)
    msg = str(exc.value)
    assert f"[{key}]" in msg and f" {key}:" in msg, msg  # Chinese part, English part
    assert "阈值配置错误" in msg and "invalid threshold" in msg
    assert str(path) in msg


def test_unreadable_or_broken_file(tmp_path):
    with pytest.raises(ThresholdsError, match="cannot read thresholds file"):
        load_thresholds(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[income\n", encoding="utf-8")
    with pytest.raises(ThresholdsError, match="格式错误 .* not valid TOML"):
        load_thresholds(bad)


def test_every_problem_is_reported_at_once_with_dotted_keys(tmp_path):
    """A typo, a missing key, a wrong type and an out-of-range value in one file:
    the office fixes them in one go, not one per run."""
    text = (
        DEFAULT.replace("excess_percent = 10", "excess_percnt = 10")  # typo: unknown + missing
        .replace("low = 60", "")  # missing
        .replace("grade_tolerance_years = 3", 'grade_tolerance_years = "三"')  # wrong type
        .replace("max_reject_rate = 0.01", "max_reject_rate = 5")  # out of range
        .replace("hukou = 40", "hukuo = 40")  # unknown feed
    )
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThresholdsError) as exc:
        load_thresholds(path)
    msg = str(exc.value)
    assert "\n" not in msg  # the CLI prints it as one line
    for key in (
        "income.excess_percnt",
        "income.excess_percent",
        "due_days.low",
        "age.grade_tolerance_years",
        "feed_quality.max_reject_rate",
        "feed_quality.max_age_days.hukuo",
    ):
        assert f"[{key}]" in msg and f" {key}:" in msg, (key, msg)
    assert "应为 income.excess_percent" in msg  # the misspelling names the expected key
    assert "应为整数" in msg and "取值超出范围" in msg and "缺少此项" in msg


def test_threshold_names_cannot_go_stale():
    """Every $param a rule binds is provided by sql_params, and every threshold is
    bound by some rule or read by the engine: a renamed key fails here."""
    params = load_thresholds().sql_params(2024)
    used = {name for rule in ALL_RULES for name in rule.param_names}
    assert used <= set(params), used - set(params)
    assert set(params) <= used, set(params) - used
    bound = {section for section, _, _ in sql_fields()}
    # Sections the engine reads directly rather than through SQL.
    engine_read = {"income_line", "due_days", "feed_quality"}
    sections = {
        info.alias or name
        for name, info in Thresholds.__pydantic_fields__.items()
        if name != "source"
    }
    assert sections == bound | engine_read
    # Keys of a bound section that the engine reads itself (核实时限 of the 预警 list).
    engine_keys = {("early_warning", "visit_days")}
    for section in bound:
        model = Thresholds.__pydantic_fields__[section].annotation
        unbound = set(model.__pydantic_fields__) - {n for s, n, _ in sql_fields() if s == section}
        unbound -= {n for s, n in engine_keys if s == section}
        assert not unbound, f"[{section}] {unbound} is bound by no rule"
