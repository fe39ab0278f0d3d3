"""villages — village and village-group statistics (贫困村/自然村信息).

One row per village group, plus one row per 行政村 whose 自然村(组) is blank
or ``合计``: the village total (``is_total``).
"""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec


def _count(field: str, header: str, *aliases: str) -> Column:
    return Column(field, header, "int", aliases=aliases)


SPEC = FeedSpec(
    name="villages",
    title_zh="村组统计信息",
    department_zh="本系统",
    natural_key=("year", "township", "village", "village_group"),
    columns=(
        Column("year", "年度", "int", aliases=("统计年度",), header_required=False),
        Column("county", "县(市、区)", aliases=("县", "区县", "县区")),
        Column("township", "乡(镇)", aliases=("乡镇", "乡镇(街道)", "乡(镇、街道)"), required=True),
        Column("village", "行政村", aliases=("村", "村(社区)", "行政村(社区)"), required=True),
        Column("village_group", "自然村(组)", aliases=("组", "村民小组", "自然村")),
        Column("is_total", "是否合计行", "bool", header_required=False),
        _count("households_total", "总户数"),
        _count("persons_total", "总人口数"),
        _count("registered_households", "建档立卡户数", "贫困户数", "脱贫户数"),
        _count("registered_persons", "建档立卡人口数", "贫困人口数", "脱贫人口数"),
        _count("dibao_households", "低保户数"),
        _count("labour_force", "劳动力人数"),
    ),
)
