"""Identifiers of the demo county: ID numbers, credit codes, plates, phones.

ID numbers use :func:`core.idcard.check_digit` (the one implementation of the
GB 11643-1999 check character). The damage helpers produce the forms the data
contract describes: recoverable ones (lowercase ``x``, full-width digits, inner
spaces, a leading apostrophe, the 15-digit form) and the unrecoverable Excel
number.
"""

from __future__ import annotations

import datetime as dt
import random

from core.idcard import CHECK_CHARS, WEIGHTS, check_digit

FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def make_id(
    rng: random.Random,
    area: str,
    birth: dt.date,
    male: bool,
    used: set[str],
    slot: tuple[int, int] | None = None,
) -> str:
    """A new valid 18-digit number, unique in ``used`` (which it updates).

    ``slot`` = (k, n): only sequence numbers whose half is ``k`` modulo ``n`` (the
    counties of a prefecture share the area codes of people born elsewhere; a slot
    each keeps their numbers apart)."""
    prefix = f"{area}{birth.year:04d}{birth.month:02d}{birth.day:02d}"
    # the check digit of the 14-digit prefix is shared by every sequence number tried
    base = sum(int(c) * w for c, w in zip(prefix, WEIGHTS[:14], strict=True))
    w15, w16, w17 = WEIGHTS[14:]
    k, n = slot or (0, 1)
    for _ in range(200):
        seq = (rng.randrange(0, (500 - k + n - 1) // n) * n + k) * 2 + (1 if male else 0)
        total = base + (seq // 100) * w15 + (seq // 10 % 10) * w16 + (seq % 10) * w17
        number = f"{prefix}{seq:03d}{CHECK_CHARS[total % 11]}"
        if number not in used:
            used.add(number)
            return number
    raise RuntimeError(f"no free ID sequence for {area} {prefix}")  # pragma: no cover


def with_check(body17: str) -> str:
    """Body plus its correct check character."""
    return body17 + check_digit(body17)


def to_15(number: str) -> str:
    """The old 15-digit form (people born 1900–1999 only)."""
    assert number[6:8] == "19", number
    return number[:6] + number[8:17]


def excel_number(number: str) -> int:
    """The ID as an integer cell: openpyxl stores it as ``%.16g``, losing digits."""
    return int(number)


def excel_number_text(number: str) -> str:
    """What a reader gets back from such a cell, as digits (precision already lost)."""
    return str(int(float(f"{int(number):.16g}")))


def damage(rng: random.Random, number: str) -> str:
    """A recoverable but messy rendering of a valid number."""
    styles = ["fullwidth", "space", "tab", "apostrophe", "partial_fullwidth"]
    if number.endswith("X"):
        styles += ["lower_x"] * 3
    if number[6:8] == "19":
        styles += ["old15"] * 2
    style = rng.choice(styles)
    if style == "lower_x":
        return number[:-1] + "x"
    if style == "fullwidth":
        return number.translate(FULLWIDTH)
    if style == "partial_fullwidth":
        return number[:6] + number[6:].translate(FULLWIDTH)
    if style == "space":
        return f"{number[:6]} {number[6:14]} {number[14:]}"
    if style == "tab":
        return f"{number[:6]}\t{number[6:]}" if rng.random() < 0.5 else f" {number} "
    if style == "apostrophe":
        return "'" + number
    return to_15(number)


# GB 32100-2015 unified social credit code.
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code(rng: random.Random, kind: str, area: str) -> str:
    """A well-formed 18-character credit code (``kind``: 1 company, 2 sole trader, 3 cooperative)."""
    body8 = "".join(rng.choice("0123456789") for _ in range(8))
    c9 = 11 - sum(int(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    org = body8 + {10: "X", 11: "0"}.get(c9, str(c9))
    first17 = f"9{kind}{area}{org}"
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return first17 + _CREDIT_CHARS[(31 - total % 31) % 31]


_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def plate(rng: random.Random, prefix: str, used: set[str]) -> str:
    """A unique number plate such as ``云G·A3B27``."""
    while True:
        tail = rng.choice(_PLATE_LETTERS) + "".join(
            rng.choice("0123456789" if rng.random() < 0.8 else _PLATE_LETTERS) for _ in range(4)
        )
        p = f"{prefix}·{tail}"
        if p not in used:
            used.add(p)
            return p


_MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 "
    "166 177 180 181 182 183 184 187 188 189 191 198 199"
).split()


def mobile(rng: random.Random, used: set[str]) -> str:
    """A unique valid mobile number."""
    while True:
        m = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(0, 10**8):08d}"
        if m not in used:
            used.add(m)
            return m


def landline(rng: random.Random, area: str, used: set[str], with_area: bool = True) -> str:
    """A unique valid landline, e.g. ``0873-3124567``."""
    while True:
        local = str(rng.randrange(2, 10)) + f"{rng.randrange(0, 10**6):06d}"
        n = f"{area}-{local}" if with_area else local
        if n not in used:
            used.add(n)
            return n
