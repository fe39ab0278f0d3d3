"""house_safety — rural house-safety appraisals (住建 农村住房安全鉴定)."""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

SPEC = FeedSpec(
    name="house_safety",
    title_zh="农村住房安全鉴定信息",
    department_zh="住建",
    natural_key=("head_id_number", "appraised_on"),
    date_order=(("renovated_on", "appraised_on"),),
    columns=(
        Column("head_id_number", "户主证件号码", "id", aliases=("证件号码",), required=True),
        Column("head_name", "户主姓名", aliases=("姓名",), compact=True),
        Column(
            "grade",
            "鉴定等级",
            "enum",
            values=("A级", "B级", "C级", "D级"),
            value_aliases={"A": "A级", "B": "B级", "C": "C级", "D": "D级"},
            required=True,
        ),
        Column("appraised_on", "鉴定日期", "date", required=True),
        Column(
            "renovation_status",
            "改造状态",
            "enum",
            values=("未改造", "改造中", "已竣工"),
            value_aliases={"已完成": "已竣工", "竣工": "已竣工"},
        ),
        Column("renovated_on", "竣工日期", "date", header_required=False),
    ),
)
