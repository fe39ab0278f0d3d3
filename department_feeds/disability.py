"""disability — disability certificates (残联 持证残疾人).

A 残疾人证号 is the holder's 18-character ID number, the 残疾类别 and 残疾等级
digits and an optional 2-digit sequence; without a 证件号码 column (or value) the
ID number is its first 18 characters, validated like any ID number.
"""

from __future__ import annotations

import polars as pl

from core.idcard import CERTIFICATE_PATTERN, normalise_frame
from department_feeds.spec import Column, FeedSpec

CATEGORIES = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
LEVELS = ("一级", "二级", "三级", "四级")


def _id_from_certificate(typed: pl.DataFrame) -> pl.DataFrame:
    """Rows without an ID number take it from the 残疾人证号 (core.idcard, as the
    register's 残疾人证 rows); a blank category or level from its digits."""
    blank = "__cert_blank"
    typed = typed.with_columns((pl.col("id_number_problem") == "empty").alias(blank))
    typed = normalise_frame(
        typed,
        "__raw_certificate_no",
        id_number="__cert_id",
        problem="__cert_problem",
        certificate=blank,
    )
    digits = pl.col("certificate_no").str.replace_all(r"\s", "")
    is_cert = digits.str.contains(CERTIFICATE_PATTERN).fill_null(False)
    return typed.with_columns(
        pl.when(blank).then("__cert_id").otherwise("id_number").alias("id_number"),
        pl.when(blank)
        .then("__cert_problem")
        .otherwise("id_number_problem")
        .alias("id_number_problem"),
        pl.when(blank)
        .then("__raw_certificate_no")
        .otherwise("id_number_raw")
        .alias("id_number_raw"),
        pl.coalesce(
            "category",
            pl.when(is_cert).then(
                digits.str.slice(18, 1).replace_strict(
                    {str(i): c for i, c in enumerate(CATEGORIES, 1)}, default=None
                )
            ),
        ).alias("category"),
        pl.coalesce(
            "level",
            pl.when(is_cert).then(
                digits.str.slice(19, 1).replace_strict(
                    {str(i): v for i, v in enumerate(LEVELS, 1)}, default=None
                )
            ),
        ).alias("level"),
    ).drop(blank, "__cert_id", "__cert_problem")


SPEC = FeedSpec(
    name="disability",
    title_zh="持证残疾人信息",
    department_zh="残联",
    natural_key=("certificate_no",),
    finish=_id_from_certificate,
    columns=(
        # 20 or 22 characters: ID number + 残疾类别 digit + 残疾等级 digit (+ sequence).
        Column("certificate_no", "残疾人证号", aliases=("残疾证号", "证号"), required=True),
        Column("name", "姓名", aliases=("持证人姓名",), compact=True),
        # Optional: else the first 18 characters of 残疾人证号 (``finish``).
        Column(
            "id_number",
            "证件号码",
            "id",
            aliases=("身份证号", "公民身份号码"),
            header_required=False,
        ),
        Column(
            "category",
            "残疾类别",
            "enum",
            values=CATEGORIES,
            value_aliases={
                **{str(i): c for i, c in enumerate(CATEGORIES, 1)},
                **{f"{c}残疾": c for c in CATEGORIES},
            },
        ),
        Column(
            "level",
            "残疾等级",
            "enum",
            values=LEVELS,
            value_aliases={str(i): v for i, v in enumerate(LEVELS, 1)},
        ),
        Column("issued_on", "发证日期", "date", aliases=("办证日期",)),
        Column(
            "status",
            "证件状态",
            "enum",
            aliases=("持证状态",),
            values=("有效", "注销", "过期"),
            value_aliases={"正常": "有效", "已注销": "注销", "已过期": "过期"},
            required=True,
        ),
    ),
)
