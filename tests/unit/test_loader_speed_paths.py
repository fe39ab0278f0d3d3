"""The loader's fast paths give exactly what the plain expressions give.

Each fast path (a value parsed once per distinct value, a step skipped when it
finds nothing to change, a check run only on the rows that can fail it) is
compared with the expression it stands for, on generated and hostile values.
"""

from __future__ import annotations

import random

import polars as pl
import pytest

from core import idcard
from department_feeds import SPECS, validation
from department_feeds import loader as ld
from department_feeds import normalise as nz
from department_feeds.headers import HeaderMatch, lookup

ALPHABET = list(
    "0123456789０１２３４５６７８９٣.．,，-－+＋/:年月日T万元¥￥ 　\t\n\xa0人户个岁次㎡平米m2"
    "abcxXＸｘ张三（）()\u200b\ufeff\u00adＡｂ①ﬁ合计总小：√✓是否YN"
)


def _values(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    out: list[str | None] = []
    for _ in range(n):
        k = rng.random()
        if k < 0.1:
            out.append(None)
        elif k < 0.15:
            out.append(rng.choice(["", " ", "\u3000", "\t"]))
        elif k < 0.45:
            out.append(str(round(rng.uniform(-1e6, 1e7), rng.randint(0, 3))))
        elif k < 0.6:
            y, m, d = rng.randint(1890, 2110), rng.randint(0, 13), rng.randint(0, 32)
            out.append(
                rng.choice(
                    [
                        f"{y}-{m:02d}-{d:02d}",
                        f"{y}/{m}/{d}",
                        f"{y}年{m}月{d}日",
                        f"{y}{m:02d}{d:02d}",
                        f"{y}-{m:02d}-{d:02d} 10:00",
                        f"{y}-{m:02d}-{d:02d}T08:00",
                        str(rng.randint(10000, 99999)),
                    ]
                )
            )
        else:
            out.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12))))
    return out


# ------------------------------------------------------------ reference expressions
# The parsers as they were written before they ran per batch: the oracle.


def _ref_text(e: pl.Expr, compact: bool = False, fold: bool = False) -> pl.Expr:
    e = e.str.replace_all(nz.INVISIBLE, "")
    if fold:
        e = e.str.normalize("NFKC")
    t = e.str.replace_all(r"[\s\u3000]+", "") if compact else e.str.strip_chars()
    return nz.blank_to_null(t)


def _ref_money(e: pl.Expr, wan_header: pl.Expr | None = None) -> pl.Expr:
    t = nz._numeric(e)
    wan = t.str.contains(nz._WAN_SUFFIX)
    if wan_header is not None:
        wan = wan | (wan_header.fill_null(False) & ~t.str.contains(r"元$"))
    v = t.str.replace(nz._WAN_SUFFIX, "").str.replace(r"元$", "").cast(pl.Float64, strict=False)
    v = pl.when(wan).then(v * 10_000).otherwise(v)
    return v.round(2).cast(pl.Decimal(14, 2), strict=False)


def _ref_date_series(raw: pl.Series) -> pl.Series:
    t = raw.str.replace_many(nz._FULLWIDTH).str.strip_chars()
    t = t.str.replace(r"^(\S+?)(?:[T\s].*)?$", "${1}")
    t = t.str.replace(r"日$", "").str.replace_all(r"[年月/.]", "-")
    t = t.str.replace(r"^(\d{4})(\d{2})(\d{2})$", "${1}-${2}-${3}")
    serial = t.str.extract(r"^(\d{5})(?:\.\d+)?$", 1).cast(pl.Int64, strict=False)
    d = (
        pl.DataFrame({"t": t, "serial": serial})
        .select(
            pl.when(pl.col("serial").is_not_null())
            .then(pl.lit(nz._EXCEL_EPOCH) + pl.duration(days=pl.col("serial")))
            .otherwise(pl.col("t").str.to_date("%Y-%m-%d", strict=False))
        )
        .to_series()
    )
    return d.set(~d.is_between(nz._MIN_DATE, nz._MAX_DATE).fill_null(True), None)


def _ref_ids(frame: pl.DataFrame, certificate: str | None) -> pl.DataFrame:
    """``normalise_frame`` as one lazy plan of the plain stage expressions."""
    s = idcard._clean(pl.col("raw"))
    if certificate is not None:
        cert = pl.col(certificate).fill_null(False) & s.str.contains(idcard.CERTIFICATE_PATTERN)
        s = pl.when(cert).then(s.str.slice(0, 18)).otherwise(s)
    return (
        frame.lazy()
        .with_columns(s.alias("s"))
        .with_columns(idcard._is15(pl.col("s")).alias("is15"))
        .with_columns(
            pl.when(pl.col("is15"))
            .then(
                idcard._body15(pl.col("s")) + idcard._check_digit_expr(idcard._body15(pl.col("s")))
            )
            .otherwise(pl.col("s"))
            .alias("s")
        )
        .select(
            idcard._problem(pl.col("s"), pl.col("num").fill_null(False), pl.col("is15")).alias(
                "problem"
            ),
            pl.when(pl.col("s") == "").then(None).otherwise(pl.col("s")).alias("id_number"),
        )
        .collect()
    )


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.schema == b.schema
    assert a.equals(b, null_equal=True)


# ------------------------------------------------------------------------- tests


def test_whitespace_is_regex_and_strip_whitespace():
    """The skips rely on one whitespace: regex ``\\s``, ``strip_chars()``, WHITESPACE."""
    chars = pl.Series([chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF])
    by_regex = set(chars.filter(chars.str.contains(r"^\s$")).to_list())
    by_strip = set(chars.filter(chars.str.strip_chars() == "").to_list())
    assert by_regex == by_strip == set(nz.WHITESPACE)
    squeezed = pl.select(nz.squeeze(pl.lit(chars))).to_series()
    assert set(chars.filter(squeezed != chars).to_list()) == set(nz.SQUEEZABLE)


@pytest.mark.parametrize("seed", [1, 2])
def test_parsers_match_their_expressions(seed):
    values = _values(20_000, seed)
    frame = pl.DataFrame(
        {"v": values, "w": [random.Random(seed + i).random() < 0.3 for i in range(len(values))]},
        schema={"v": pl.String, "w": pl.Boolean},
    )
    v, w = pl.col("v"), pl.col("w")
    pairs = [
        (nz.parse_text(v), _ref_text(v)),
        (nz.parse_text(v, compact=True), _ref_text(v, compact=True)),
        (nz.parse_text(v, fold=True), _ref_text(v, fold=True)),
        (nz.parse_money(v), _ref_money(v)),
        (nz.parse_money(v, w), _ref_money(v, w)),
    ]
    for part in (frame, frame.head(0), frame.filter(v.is_null()), frame.head(3)):
        for fast, ref in pairs:
            _same(part.select(fast.alias("o")), part.select(ref.alias("o")))
        dates = part.select(nz.parse_date(v).alias("o"))
        _same(dates, _ref_date_series(part["v"]).alias("o").to_frame())


def _ids(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    out: list[str | None] = []
    for _ in range(n):
        body = f"{rng.choice(['53', '11', '99', '00'])}0102"
        body += f"{rng.choice(['1980', '1879', '2099'])}{rng.choice(['0229', '0101', '1301'])}"
        body += f"{rng.randint(0, 999):03d}"
        full = body + idcard.check_digit(body)
        old = full[:6] + full[8:17]
        out.append(
            rng.choice(
                [
                    full,
                    full[:17] + rng.choice("0123456789X"),
                    full.lower(),
                    f" {full}'",
                    full + ".0",
                    full + "0101",
                    old,
                    old.replace("1", "１"),
                    "٣" * 15,
                    "٣" + old[1:],
                    "5.30102198005051E+17",
                    "+" + body[:14],
                    "",
                    None,
                    "".join(rng.choice("0123456789Xx ٣.") for _ in range(rng.randint(1, 22))),
                ]
            )
        )
    return out


@pytest.mark.parametrize("seed", [3, 4])
def test_normalise_frame_matches_its_stage_expressions(seed):
    raw = _ids(20_000, seed)
    rng = random.Random(seed)
    frame = pl.DataFrame(
        {
            "raw": raw,
            "num": [rng.random() < 0.2 for _ in raw],
            "cert": [rng.random() < 0.3 for _ in raw],
        },
        schema={"raw": pl.String, "num": pl.Boolean, "cert": pl.Boolean},
    )
    for part in (frame, frame.head(0), frame.filter(pl.col("raw").str.len_chars() == 18)):
        for certificate in (None, "cert"):
            got = idcard.normalise_frame(
                part, "raw", stored_as_number="num", certificate=certificate
            )
            _same(got.select("problem", "id_number"), _ref_ids(part, certificate))


def _typed_frame(seed: int, rows: int) -> pl.DataFrame:
    """Raw register columns with few distinct values (and nulls), as _finish has them."""
    spec = SPECS["register"]
    rng = random.Random(seed)
    pool = [v for v in _values(300, seed) if v is None or len(v) < 10] + ["是", "√", "2024"]
    data: dict[str, list] = {}
    for c in spec.columns:
        choices = [*c.values, *c.value_aliases, *pool] if c.kind == "enum" else pool
        data[f"__raw_{c.field}"] = [rng.choice(choices) for _ in range(rows)]
    frame = pl.DataFrame(data, schema={k: pl.String for k in data})
    return frame.with_columns(pl.lit(True).alias("__inv_is_dangerous_house"))


@pytest.mark.parametrize("rows", [50, ld.DISTINCT_MIN_ROWS + 500])
def test_typed_columns_match_one_select(rows):
    spec = SPECS["register"]
    frame = _typed_frame(7, rows)
    got = pl.DataFrame(ld._typed_columns(spec, frame, 2024))
    cols = [c for c in spec.columns if c.kind != "id"]
    bools = [c.field for c in cols if c.kind == "bool"]
    ticks = frame.select(
        nz.squeeze(pl.col(f"__raw_{f}")).is_in(list(nz.TICKS)).any().alias(f) for f in bools
    ).row(0, named=True)
    want = frame.select(
        ld._typed_expr(spec, c, frame, bool(ticks.get(c.field)), 2024) for c in cols
    )
    _same(got, want)


def test_numbered_values_and_codes():
    values = pl.Series("v", ["b", None, "a", "b", "c", None, "a"])
    numbered = ld._numbered(values)
    assert numbered is not None
    table, codes = numbered
    assert table["v"].gather(codes).to_list() == values.to_list()
    assert table["v"][-1] is None


def _sheet(seed: int, rows: int, fields: list[str]) -> pl.DataFrame:
    """Cells of blanks, noise and (spaced, bracketed) headers of each column's field."""
    rng = random.Random(seed)
    headers = lookup(SPECS["hukou"])
    noise = ["", " ", "\u3000", None, "x", "合计", "（）", " 1 "]
    cells = {}
    for j, f in enumerate(fields):
        keys = [k for k, e in headers.items() if e.field == f]
        words = noise + keys + [" ".join(k) for k in keys] + [f"{k}（）" for k in keys]
        cells[f"c{j}"] = [rng.choice(words) for _ in range(rows)]
    return pl.DataFrame(cells, schema={n: pl.String for n in cells})


@pytest.mark.parametrize("seed", [5, 6])
def test_blank_rows_and_repeated_headers_match_expressions(seed):
    spec = SPECS["hukou"]
    fields = [c.field for c in spec.columns][:6]
    frame = _sheet(seed, 3_000, fields)
    blank = frame.select(
        pl.all_horizontal(nz.blank_to_null(pl.col(n)).is_null() for n in frame.columns)
    ).to_series()
    assert ld._blank_rows(frame).to_list() == blank.to_list()

    headers = lookup(spec)
    for n in range(1, len(fields) + 1):
        match = HeaderMatch(row=0, data_start=1, fields=dict(enumerate(fields[:n])))
        hits = [
            nz.squeeze(pl.col(f"c{j}"))
            .is_in([k for k, e in headers.items() if e.field == f])
            .fill_null(False)
            .cast(pl.Int32)
            for j, f in enumerate(fields[:n])
        ]
        want = frame.select(pl.sum_horizontal(hits) >= max(2, (n + 1) // 2)).to_series()
        got = ld._header_again(spec, match, frame)
        assert got.to_list() == want.to_list()
        assert n < 2 or want.any()  # the test has rows that repeat the header


def _loadable(spec_name: str) -> pl.DataFrame:
    spec = SPECS[spec_name]
    schema = validation.loadable_schema(spec)
    frame = pl.DataFrame(
        {n: [None, None] for n in schema.columns},
        schema={n: c.dtype.type for n, c in schema.columns.items()},
    )
    return frame.with_columns(pl.lit("checksum").alias(f"{spec.join_id}_problem"))


def test_failures_same_once_the_column_types_were_accepted():
    spec = SPECS["tax"]
    frame = _loadable("tax")
    validation._ACCEPTED.pop(spec.name, None)
    first = validation.failures(spec, frame).sort("index", "column")
    assert spec.name in validation._ACCEPTED
    again = validation.failures(spec, frame).sort("index", "column")
    _same(first, again)
    assert set(first["column"]) >= {f"{spec.join_id}_problem"}


def test_failures_raise_when_column_types_change():
    spec = SPECS["tax"]
    frame = _loadable("tax")
    validation.failures(spec, frame)  # the types are accepted
    wrong = frame.with_columns(pl.col("income").cast(pl.Float64))
    with pytest.raises(RuntimeError, match="does not match its schema"):
        validation.failures(spec, wrong)
