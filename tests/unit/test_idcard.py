"""core.idcard against python-stdnum's ``stdnum.cn.ric`` as an independent oracle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import stdnum
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from core.idcard import (
    PROBLEMS_EN,
    PROBLEMS_ZH,
    check_digit,
    mask,
    mask_expr,
    mask_in_text,
    normalise,
    normalise_expr,
    normalise_frame,
)


def _county_codes() -> list[str]:
    """6-digit codes stdnum knows as counties without a validity period."""
    codes = []
    province = None
    for line in (Path(stdnum.__file__).parent / "cn" / "loc.dat").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if not line.startswith(" "):
            province = parts[0]
        elif province and "county=" in line and "[" not in line and not parts[0].endswith("00"):
            codes.append(province + parts[0])
    return codes


COUNTIES = _county_codes()
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_ids(draw, min_year: int = 1900, max_year: int = 2024) -> str:
    area = draw(st.sampled_from(COUNTIES))
    birth = draw(st.dates(dt.date(min_year, 1, 1), dt.date(max_year, 12, 31)))
    seq = draw(st.integers(0, 999))
    body = f"{area}{birth:%Y%m%d}{seq:03d}"
    # The oracle computes the check character; ours is tested against it separately.
    number = body + ric.calc_check_digit(body + "0")
    assert ric.is_valid(number)
    return number


def test_county_list_is_usable():
    assert len(COUNTIES) > 200
    assert len({c[:2] for c in COUNTIES}) > 20


@FAST
@given(valid_ids())
def test_check_digit_matches_stdnum(number):
    assert check_digit(number[:17]) == ric.calc_check_digit(number) == number[17]


@FAST
@given(valid_ids())
def test_valid_18_digit_is_unchanged_and_valid(number):
    assert normalise(number) == (number, None)


@FAST
@given(valid_ids(1900, 1999))
def test_15_digit_upgrade_matches_oracle(number):
    old = number[:6] + number[8:17]
    out, problem = normalise(old)
    assert problem is None
    assert out == number
    assert ric.is_valid(out)
    # Stored as an Excel number, 15 digits are exact (< 2**53): still recoverable.
    assert normalise(str(int(old)), stored_as_number=True) == (number, None)


@FAST
@given(valid_ids(), st.integers(0, 17), st.integers(1, 9))
def test_single_digit_corruption_is_caught(number, pos, delta):
    if pos == 17 and number[17] == "X":
        bad_char = str(delta)
    else:
        digit = 10 if number[pos] == "X" else int(number[pos])
        bad_char = str((digit + delta) % 10)
    bad = number[:pos] + bad_char + number[pos + 1 :]
    assume(bad != number)
    out, problem = normalise(bad)
    assert out == bad
    assert problem is not None
    assert not ric.is_valid(bad)
    try:
        dt.date(int(bad[6:10]), int(bad[10:12]), int(bad[12:14]))
        date_ok = int(bad[6:10]) >= 1880
    except ValueError:
        date_ok = False
    if bad[:2] == number[:2] and date_ok:
        # Weights are non-zero mod 11 (a prime): one changed digit always changes the sum.
        assert problem == "checksum"
    elif not date_ok and bad[:2] == number[:2]:
        assert problem == "birth_date"


FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


@st.composite
def messy(draw, number: str) -> str:
    """A recoverable rendering: full-width, lowercase x, inner blanks, apostrophe."""
    chars = list(number)
    out = []
    for c in chars:
        if draw(st.booleans()):
            c = c.translate(FULLWIDTH)
        if c in "XＸ" and draw(st.booleans()):
            c = "x" if c == "X" else "ｘ"
        out.append(c)
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from([" ", "\t", "\u3000", "  "])))
    text = "".join(out)
    prefix = draw(st.sampled_from(["", "'", "‘", " ", "\t"]))
    suffix = draw(st.sampled_from(["", " ", "\n", "’"]))
    return prefix + text + suffix


@FAST
@given(st.data())
def test_messy_renderings_are_recovered(data):
    number = data.draw(valid_ids())
    text = data.draw(messy(number))
    assert normalise(text) == (number, None)


def test_lowercase_x_and_fullwidth_examples():
    number = "11010519491231002X"
    assert ric.is_valid(number)
    assert normalise("11010519491231002x") == (number, None)
    assert normalise("１１０１０５１９４９１２３１００２ｘ") == (number, None)
    assert normalise("'110105 1949 1231 002X") == (number, None)
    assert normalise("110105491231002") == (number, None)  # 15 → 18


def _excel_number_digits(number: str) -> str:
    """What Excel/openpyxl keeps of an 18-digit ID typed as a number."""
    return str(int(float(f"{int(number):.16g}")))


@FAST
@given(valid_ids())
def test_precision_loss_is_flagged_never_guessed(number):
    assume(not number.endswith("X"))
    digits = _excel_number_digits(number)
    out, problem = normalise(digits, stored_as_number=True)
    assert problem == "precision_lost"
    # Even when the float kept every digit, a number cell cannot be trusted.
    assert normalise(number, stored_as_number=True)[1] == "precision_lost"
    # Scientific notation text (a CSV exported from such a cell) likewise.
    sci = f"{float(number):.14E}"
    assert normalise(sci)[1] == "precision_lost"
    assert out == digits  # the cleaned value is kept for people to read, not repaired


def test_problem_codes():
    assert normalise(None) == (None, "empty")
    assert normalise("  ") == (None, "empty")
    assert normalise("5.30102199001011E+17")[1] == "precision_lost"
    assert normalise("53010219900101123A")[1] == "chars"
    assert normalise("5301021990010112")[1] == "length"
    assert normalise("00" + "0102199001011234")[1] == "province"
    body = "530102199002301234"[:17]  # 30 February
    assert normalise(body + check_digit(body))[1] == "birth_date"
    assert set(PROBLEMS_ZH) == set(PROBLEMS_EN)


def test_frame_and_expr_agree_on_mixed_values():
    values = [
        "11010519491231002x",
        "110105491231002",
        "５３０１０２",
        None,
        "",
        "abc",
        "110105194912310000",
        "5.30102199001011E+17",
        "11010519491231002X",
    ]
    numeric = [False, True, False, False, False, False, True, False, False]
    df = pl.DataFrame({"raw": values, "num": numeric})
    a = df.select(normalise_expr(pl.col("raw"), pl.col("num")).alias("s")).unnest("s")
    b = normalise_frame(df, "raw", stored_as_number="num").select("id_number", "problem")
    assert a.equals(b)
    assert b["problem"].to_list() == [
        None,
        None,
        "length",
        "empty",
        "empty",
        "chars",
        "precision_lost",
        "precision_lost",
        None,
    ]


@pytest.mark.parametrize(
    ("value", "masked"),
    [("530102199001011234", "530102********1234"), ("", ""), (None, ""), ("12345", "12***")],
)
def test_mask(value, masked):
    assert mask(value) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("证件号码 530102199001011234 错误", "证件号码 530102********1234 错误"),
        ("旧号530102900101123，", "旧号530102*****1123，"),  # 15 digits, next to Chinese
        ("11010519491231002x", "110105********002x"),
        ("少一位 53010219900101123", "少一位 530102*******1123"),  # 17: lost a digit
        ("Excel: 5.30102198005051E+17", "Excel: 5.3010**********E+17"),
        ("2025-11-20 收入 5,230.50 元 电话 13912345678", None),  # left alone
        ("户编号 H0001 号牌 云A12345", None),
    ],
)
def test_mask_in_text(text, masked):
    assert mask_in_text(text) == (text if masked is None else masked)


def test_mask_expr_matches_mask_for_18_digits():
    ids = ["530102199001011234", "11010519491231002X"]
    out = pl.DataFrame({"i": ids}).select(mask_expr(pl.col("i")))["i"].to_list()
    assert out == [mask(i) for i in ids]
