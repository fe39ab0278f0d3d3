"""property — real-estate ownership registration (住建/自然资源 不动产登记)."""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

SPEC = FeedSpec(
    name="property",
    title_zh="不动产登记信息",
    department_zh="住建",
    natural_key=("owner_id_number", "location"),
    columns=(
        Column(
            "owner_id_number",
            "权利人证件号码",
            "id",
            aliases=("证件号码", "身份证号"),
            required=True,
        ),
        Column("owner_name", "权利人", aliases=("权利人姓名",), compact=True),
        Column("location", "坐落", aliases=("房屋坐落",), required=True),
        Column(
            "floor_area_m2",
            "建筑面积",
            "decimal",
            aliases=("建筑面积(㎡)", "建筑面积(平方米)"),
            positive=True,
        ),
        Column("usage", "规划用途", aliases=("房屋用途", "用途")),
        Column("property_kind", "房屋性质", required=True),
        Column("area_kind", "区域", "enum", values=("城镇", "农村"), required=True),
        Column("registered_on", "登记日期", "date"),
    ),
)
