"""villages — village and village-group statistics (贫困村/自然村信息).

One row per village group, plus one row per 行政村 whose 自然村(组) is blank
or ``合计``: the village total (``is_total``).
"""

from __future__ import annotations

import polars as pl

from department_feeds.spec import OWN_DEPARTMENT, YEAR_AND_PLACE_COLUMNS, Column, FeedSpec

TOTAL_WORDS = ("合计", "总计", "小计")


def _count(field: str, header: str, *aliases: str) -> Column:
    return Column(field, header, "int", aliases=aliases)


def summary_row(blank_or_total: dict[str, pl.Expr]) -> pl.Expr:
    """A summary row here has no place: 乡(镇) and 行政村 both blank or 合计.

    A row with 自然村(组) blank or 合计 is *data* (the village total).
    """
    false = pl.lit(False)
    return blank_or_total.get("township", false) & blank_or_total.get("village", false)


def finish(frame: pl.DataFrame) -> pl.DataFrame:
    """Mark village totals: 自然村(组) blank or a total word → ``is_total``, group NULL."""
    group = pl.col("village_group")
    total = group.is_null() | group.str.replace_all(r"\s", "").is_in(list(TOTAL_WORDS))
    return frame.with_columns(
        is_total=total,
        village_group=pl.when(total).then(pl.lit(None, dtype=pl.String)).otherwise(group),
    )


SPEC = FeedSpec(
    name="villages",
    title_zh="村组统计信息",
    department_zh=OWN_DEPARTMENT,
    natural_key=("year", "township", "village", "village_group"),
    natural_key_blank_is_value=True,  # a village total has no group
    year_from_file_name="year",
    once_a_year_key="concat_ws('/', township, village, coalesce(village_group, '（合计）'))",
    summary_row=summary_row,
    finish=finish,
    columns=(
        *YEAR_AND_PLACE_COLUMNS,
        # Derived by ``finish`` from 自然村(组); a column of that name in the file is ignored.
        Column("is_total", "是否合计行", "bool", header_required=False),
        _count("households_total", "总户数"),
        _count("persons_total", "总人口数"),
        _count("registered_households", "建档立卡户数", "贫困户数", "脱贫户数"),
        _count("registered_persons", "建档立卡人口数", "贫困人口数", "脱贫人口数"),
        _count("dibao_households", "低保户数"),
        _count("labour_force", "劳动力人数"),
    ),
)
