"""Resident ID numbers (居民身份证号码, GB 11643-1999): normalise and validate.

One implementation, vectorised in Polars; the scalar helpers wrap the same
expressions so tests and the generator never see a second copy of the logic.

Normalisation does only what can be done without guessing: full-width → ASCII,
strip spaces/tabs/apostrophes, ``x`` → ``X``, 15 → 18 digits. A value that lost
digits to Excel float precision is flagged ``precision_lost``, never repaired.
"""

from __future__ import annotations

import re

import polars as pl

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

# Province-level codes (first two digits) in use: mainland 11–65, 71 Taiwan,
# 81/82 Hong Kong/Macao, 83 Taiwan residence permits.
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)

# Problem codes, in the order they are tested; the Chinese text is for cadres.
PROBLEMS_ZH = {
    "empty": "证件号码为空",
    "precision_lost": "证件号码以数字格式存储，末几位已因Excel精度丢失，无法恢复",
    "chars": "证件号码含非法字符",
    "length": "证件号码位数不是18位（也不是可转换的15位）",
    "province": "证件号码前两位不是有效的省级行政区划代码",
    "birth_date": "证件号码中的出生日期不存在",
    "checksum": "证件号码校验位错误",
}
PROBLEMS_EN = {
    "empty": "ID number is empty",
    "precision_lost": "ID number was stored as an Excel number and lost its last digits",
    "chars": "ID number contains invalid characters",
    "length": "ID number is neither 18 digits nor a convertible 15-digit number",
    "province": "ID number starts with an unknown province code",
    "birth_date": "ID number contains an impossible birth date",
    "checksum": "ID number has a wrong check digit",
}

_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)} | {"Ｘ": "X", "ｘ": "X"}
# Spaces, quotes and invisible characters (zero-width, BOM, soft hyphen) a paste brings along.
_STRIP = r"[\s\u3000'\u2018\u2019`\"\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"


def check_digit(body17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(body17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _check_digit_expr(body: pl.Expr) -> pl.Expr:
    total = pl.sum_horizontal(
        [body.str.slice(i, 1).cast(pl.Int32, strict=False) * w for i, w in enumerate(WEIGHTS)]
    )
    return pl.lit(CHECK_CHARS).str.slice(total % 11, 1)


_CHECK_CHARS = pl.Series(list(CHECK_CHARS))


def _check_digits_ascii(body: pl.Series) -> pl.Series:
    """:func:`_check_digit_expr` of a column, right where ``body`` is 17 ASCII digits
    (elsewhere any character or null). The weights are 2**k mod 11 and 13 ≡ 2
    (mod 11), so the weighted sum is twice the body read in base 13, mod 11; 13**17
    still fits an Int64. One parse instead of 17 one-character slices and casts."""
    n = body.str.to_integer(base=13, strict=False).clip(lower_bound=0)
    return _CHECK_CHARS.gather(n % 11 * 2 % 11)


def _clean(raw: pl.Expr) -> pl.Expr:
    """Full-width → ASCII, no spaces/apostrophes, upper case, no trailing ``.0``."""
    s = raw.cast(pl.String).str.replace_many(_FULLWIDTH).str.replace_all(_STRIP, "")
    return s.str.to_uppercase().str.replace(r"\.0$", "")


def _clean_series(raw: pl.Series) -> pl.Series:
    """:func:`_clean` of a column, skipping each replacement that finds nothing."""
    s = raw.cast(pl.String)
    if s.str.contains_any(list(_FULLWIDTH)).any():
        s = s.str.replace_many(_FULLWIDTH)
    if s.str.contains(_STRIP).any():
        s = s.str.replace_all(_STRIP, "")
    s = s.str.to_uppercase()
    if s.str.ends_with(".0").any():
        s = s.str.replace(r"\.0$", "")
    return s


def _is15(s: pl.Expr) -> pl.Expr:
    return s.str.contains(r"^\d{15}$")


def _body15(s: pl.Expr) -> pl.Expr:
    """The 17-digit body of an old 15-digit number (century 19 inserted)."""
    return s.str.slice(0, 6) + pl.lit("19") + s.str.slice(6, 9)


def _problem(s: pl.Expr, numeric: pl.Expr, is15: pl.Expr, check: pl.Expr | None = None) -> pl.Expr:
    """The problem code of a cleaned (and upgraded) number, null when valid.

    ``check`` is the check character the first 17 characters call for (default
    :func:`_check_digit_expr`); it is compared only once they are 17 ASCII digits.
    """
    if check is None:
        check = _check_digit_expr(s.str.slice(0, 17))
    sci = s.str.contains(r"^\d(\.\d+)?E\+?\d+$")
    birth = s.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    return (
        pl.when(s.is_null() | (s == ""))
        .then(pl.lit("empty"))
        .when(sci | (numeric & ~is15 & s.str.contains(r"^\d{16,}$")))
        .then(pl.lit("precision_lost"))
        .when(~s.str.contains(r"^[0-9X]+$"))
        .then(pl.lit("chars"))
        .when(~s.str.contains(r"^\d{17}[\dX]$"))
        .then(pl.lit("length"))
        .when(~s.str.slice(0, 2).is_in(list(PROVINCE_CODES)))
        .then(pl.lit("province"))
        .when(birth.is_null() | (birth < pl.date(1880, 1, 1)))
        .then(pl.lit("birth_date"))
        .when(s.str.slice(17, 1) != check)
        .then(pl.lit("checksum"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


_DIGITS18 = r"^[0-9]{17}[0-9X]$"
"""The shape of a number :func:`_problem_of_digits` judges."""


def _problem_of_digits(s: pl.Expr, numeric: pl.Expr, is15: pl.Expr, check: pl.Expr) -> pl.Expr:
    """:func:`_problem` of a number of :data:`_DIGITS18` shape: it is not empty, not
    in E notation, has no other characters and the right length, and it has lost
    precision when it was a number cell (not upgraded) ending in a digit."""
    birth = s.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    # Each sub-expression once: an eager select would compute a repeated one twice.
    return (
        pl.when(numeric & ~is15 & ~s.str.ends_with("X"))
        .then(pl.lit("precision_lost"))
        .when(~s.str.slice(0, 2).is_in(list(PROVINCE_CODES)))
        .then(pl.lit("province"))
        .when(~(birth >= pl.date(1880, 1, 1)).fill_null(False))
        .then(pl.lit("birth_date"))
        .when(~s.str.ends_with(check))
        .then(pl.lit("checksum"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _numeric(stored_as_number: pl.Expr | None) -> pl.Expr:
    return pl.lit(False) if stored_as_number is None else stored_as_number.fill_null(False)


_RESULT_DTYPE = pl.Struct({"id_number": pl.String, "problem": pl.String})


def normalise_expr(raw: pl.Expr, stored_as_number: pl.Expr | None = None) -> pl.Expr:
    """Struct expression ``{id_number, problem}`` for a column of raw ID values.

    ``id_number`` is the normalised 18-character number when it could be
    normalised, otherwise the cleaned value (so a person can still read it).
    ``problem`` is null when the number is valid, else a key of ``PROBLEMS_EN``.
    ``stored_as_number`` marks cells the reader saw as Excel numbers: an 18-digit
    number can never survive that exactly.

    Runs :func:`normalise_frame` on each whole batch (vectorised, no per-row
    Python): spelled as one expression tree, every stage is repeated inside the
    next one and planning alone took ~0.7 s.
    """
    numeric = _numeric(stored_as_number)

    def run(batch: pl.Series) -> pl.Series:
        frame = normalise_frame(batch.struct.unnest(), "raw", stored_as_number="numeric")
        return frame.select(pl.struct("id_number", "problem")).to_series()

    return pl.struct(raw.cast(pl.String).alias("raw"), numeric.alias("numeric")).map_batches(
        run, return_dtype=_RESULT_DTYPE
    )


CERTIFICATE_PATTERN = r"^[0-9]{17}[0-9X][0-9]{2}(?:[0-9]{2})?$"
"""A 残疾人证号: the 18-character ID number, 残疾类别 and 残疾等级 digits, and an
optional 2-digit sequence (20 or 22 characters)."""


def normalise_frame(
    frame: pl.DataFrame,
    raw: str,
    *,
    stored_as_number: str | None = None,
    id_number: str = "id_number",
    problem: str = "problem",
    certificate: str | None = None,
) -> pl.DataFrame:
    """Add ``id_number`` and ``problem`` columns for the raw ID column ``raw``.

    Same stages and result as :func:`normalise_expr`, each materialised as a
    temporary column so that no stage is re-spelled inside the next one.
    ``certificate`` names a boolean column marking rows whose number is a
    残疾人证号 (:data:`CERTIFICATE_PATTERN`): their first 18 characters are the
    person's ID number, normalised and validated like any other.
    """
    s, is15, check, num = "__idcard_s", "__idcard_is15", "__idcard_check", "__idcard_num"
    text = frame[raw].cast(pl.String)
    # A number already of 18-digit shape is its own cleaned form (and no 残疾人证号):
    # the other rows only are cleaned, cut and upgraded.
    rest = ~text.str.contains(_DIGITS18).fill_null(False)
    cleaned, old = text, pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    if rest.any():
        where = rest.arg_true()
        part = frame.select(raw, *([certificate] if certificate is not None else []))[where]
        part_s, part_old = _cleaned(part, raw, certificate)
        cleaned = cleaned.clone().scatter(where, part_s)
        old = old.scatter(where, part_old)
    numeric = _numeric(None if stored_as_number is None else pl.col(stored_as_number))
    parts = pl.DataFrame(
        [
            cleaned.alias(s),
            old.alias(is15),
            _check_digits_ascii(cleaned.str.slice(0, 17)).alias(check),
            frame.with_columns(numeric.alias(num))[num],
        ]
    )
    args = (pl.col(s), pl.col(num), pl.col(is15), pl.col(check))
    # Most numbers are 18 digits: the checks their shape passes are not run on them.
    problems = parts.select(_problem_of_digits(*args)).to_series()
    other = ~cleaned.str.contains(_DIGITS18).fill_null(False)
    if other.any():
        where = other.arg_true()
        problems = problems.scatter(where, parts[where].select(_problem(*args)).to_series())
    ids = parts.select(
        pl.when(pl.col(s) == "").then(pl.lit(None, dtype=pl.String)).otherwise(pl.col(s))
    ).to_series()
    return frame.with_columns(problems.alias(problem), ids.alias(id_number))


def _cleaned(frame: pl.DataFrame, raw: str, certificate: str | None) -> tuple[pl.Series, pl.Series]:
    """The cleaned number (a 残疾人证号 cut to its ID number, a 15-digit number
    upgraded) and whether it had 15 digits, in eager stages: an eager select does
    not share a sub-expression used twice."""
    s, is15 = "__idcard_s", "__idcard_is15"
    out = frame.with_columns(_clean_series(frame[raw]).alias(s))
    if certificate is not None:
        cleaned = pl.col(s)
        is_cert = pl.col(certificate).fill_null(False) & cleaned.str.contains(CERTIFICATE_PATTERN)
        out = out.with_columns(
            pl.when(is_cert).then(cleaned.str.slice(0, 18)).otherwise(cleaned).alias(s)
        )
    out = out.with_columns(_is15(pl.col(s)).alias(is15))
    old = out[is15].fill_null(False)
    if old.any():
        # Upgrade the 15-digit numbers only: 18 characters, the last a check digit.
        where = old.arg_true()
        part = out.select(pl.col(s).gather(where))
        body = part.select(_body15(pl.col(s))).to_series()
        upgraded = body.to_frame(s).select(pl.col(s) + _check_digit_expr(pl.col(s))).to_series()
        out = out.with_columns(out[s].clone().scatter(where, upgraded))
    return out[s], out[is15]


def normalise(
    value: object, stored_as_number: bool = False, certificate: bool = False
) -> tuple[str | None, str | None]:
    """Scalar wrapper: ``(id_number, problem)`` for one raw value (``certificate``:
    the value is a 残疾人证号)."""
    frame = pl.DataFrame(
        {"v": [None if value is None else str(value)], "n": [stored_as_number], "c": [certificate]},
        schema={"v": pl.String, "n": pl.Boolean, "c": pl.Boolean},
    )
    row = normalise_frame(frame, "v", stored_as_number="n", certificate="c").row(0, named=True)
    return row["id_number"], row["problem"]


def mask(id_number: str | None) -> str:
    """``530102********1234``: the form shown on dashboards and reports."""
    if not id_number:
        return ""
    if len(id_number) <= 10:
        return id_number[:2] + "*" * max(len(id_number) - 2, 0)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


ID_IN_TEXT = re.compile(
    # 15–18 characters (an 18-digit number, an old 15-digit one, one that lost digits)
    r"(?<![0-9])\d{14,17}[\dXx](?![0-9Xx])"
    # or an Excel rendering such as 5.30102198005051E+17; 14+ characters, so dates
    # and money amounts are left alone
    r"|(?<![0-9A-Za-z])[0-9][0-9Xx.Ee+]{12,}[0-9Xx](?![0-9A-Za-z])"
)
"""An ID-like run inside free text (descriptions, messages, sampled values)."""


def mask_in_text(text: str) -> str:
    """``text`` with every ID-like run (:data:`ID_IN_TEXT`) masked by :func:`mask`."""
    return ID_IN_TEXT.sub(lambda m: mask(m.group(0)), text)


def mask_expr(col: pl.Expr) -> pl.Expr:
    """Vectorised :func:`mask` for 18-character numbers (others fully starred)."""
    n = col.str.len_chars()
    return (
        pl.when(n > 10)
        .then(col.str.slice(0, 6) + pl.lit("*").repeat_by(n - 10).list.join("") + col.str.slice(-4))
        .otherwise(pl.lit("*").repeat_by(n).list.join(""))
    )
