"""Word pools for the demo county: names, places, codes, employers.

Everything here is fictional but shaped like the real thing: common surnames
weighted by frequency, gendered given-name characters, place-name syllables of
south-western China, and real county area codes for people born elsewhere.
"""

from __future__ import annotations

PROVINCE = "云南省"
PREFECTURE = "红河哈尼族彝族自治州"
COUNTY = "云岭县"
# 5325xx are the counties of 红河州. The fictional county borrows the real code of
# 红河县 (assigned throughout 1925–2025), so its numbers pass python-stdnum, which
# checks that the area code existed in the birth year.
COUNTY_CODE = "532529"
# Older people registered before a boundary change carry the neighbouring code.
OLD_COUNTY_CODE = "532524"
PLATE_PREFIX = "云G"
PHONE_AREA = "0873"

# (surname, weight): weights follow national frequency, with the surnames
# common among Yi and Hani families of the area nudged up.
SURNAMES = [
    ("李", 80),
    ("王", 60),
    ("张", 60),
    ("杨", 50),
    ("刘", 40),
    ("陈", 35),
    ("罗", 30),
    ("赵", 25),
    ("黄", 22),
    ("周", 20),
    ("吴", 18),
    ("马", 18),
    ("普", 16),
    ("白", 15),
    ("朱", 14),
    ("何", 14),
    ("徐", 12),
    ("孙", 12),
    ("胡", 12),
    ("高", 12),
    ("郭", 11),
    ("林", 10),
    ("段", 10),
    ("龙", 10),
    ("陶", 9),
    ("者", 9),
    ("杜", 8),
    ("郑", 8),
    ("谢", 8),
    ("宋", 8),
    ("唐", 8),
    ("许", 7),
    ("韩", 7),
    ("邓", 7),
    ("曹", 6),
    ("彭", 6),
    ("曾", 6),
    ("田", 6),
    ("董", 6),
    ("潘", 6),
    ("蒋", 5),
    ("蔡", 5),
    ("余", 5),
    ("叶", 5),
    ("苏", 5),
    ("魏", 5),
    ("吕", 5),
    ("丁", 5),
    ("沈", 4),
    ("钟", 4),
    ("熊", 4),
    ("施", 4),
    ("起", 3),
    ("倪", 3),
    ("陆", 3),
    ("卢", 3),
    ("姜", 3),
    ("范", 3),
    ("方", 3),
    ("石", 3),
    ("邱", 3),
    ("侯", 3),
    ("孔", 2),
    ("毛", 2),
    ("汪", 2),
    ("夏", 2),
    ("严", 2),
    ("武", 2),
    ("肖", 2),
    ("岳", 2),
]

MALE_CHARS = (
    "伟 强 军 平 刚 明 华 林 建 国 文 斌 勇 涛 杰 超 亮 辉 波 鹏 磊 飞 龙 宇 浩 俊 峰 云 "
    "福 贵 财 发 生 有 顺 才 德 忠 海 山 成 荣 昌 兴 祥 光 志 先 保 永 金 学 东 新 正 红 "
    "春 雄 富 良 开 元 家 清 之 树 全 朝 天 武 万 红 锋 泽 宏 松 昆 洪 益 绍 继 庆 礼"
).split()
FEMALE_CHARS = (
    "芳 娟 敏 静 丽 艳 霞 秀 英 兰 梅 琴 燕 玲 萍 红 珍 娇 凤 花 美 翠 莲 仙 芬 琼 慧 "
    "婷 雪 丹 颖 佳 倩 欣 悦 彤 琳 瑶 怡 婕 蓉 萱 露 菊 桂 香 娥 巧 春 叶 月 云 平 玉 "
    "妹 会 存 竹 薇 晶 莎 璐 思 雨 诗 梦 涵 钰"
).split()
# Characters shared by both (used rarely so that gender stays guessable).
NEUTRAL_CHARS = "文 春 云 平 晓 小 永 金 秋 海 林 明 子 一".split()

# Homophones or look-alikes: what a clerk types instead of the right character.
CONFUSABLE = {
    "伟": "玮",
    "强": "蔷",
    "军": "君",
    "平": "萍",
    "刚": "钢",
    "明": "铭",
    "华": "桦",
    "林": "琳",
    "建": "健",
    "国": "帼",
    "文": "雯",
    "斌": "彬",
    "勇": "永",
    "涛": "韬",
    "杰": "洁",
    "超": "朝",
    "亮": "靓",
    "辉": "晖",
    "波": "博",
    "鹏": "朋",
    "磊": "蕾",
    "飞": "菲",
    "龙": "隆",
    "宇": "雨",
    "浩": "昊",
    "俊": "骏",
    "峰": "锋",
    "云": "芸",
    "芳": "方",
    "娟": "鹃",
    "敏": "民",
    "静": "晶",
    "丽": "莉",
    "艳": "燕",
    "霞": "侠",
    "秀": "琇",
    "英": "瑛",
    "兰": "岚",
    "梅": "玫",
    "琴": "芹",
    "玲": "琳",
    "萍": "平",
    "红": "虹",
    "珍": "贞",
    "凤": "风",
    "花": "华",
    "美": "梅",
    "翠": "萃",
    "莲": "连",
    "仙": "先",
    "芬": "分",
    "琼": "穷",
    "慧": "惠",
    "婷": "亭",
    "雪": "学",
    "丹": "单",
    "福": "富",
    "贵": "桂",
    "财": "才",
    "发": "法",
    "生": "升",
    "有": "友",
    "顺": "舜",
    "德": "得",
    "忠": "中",
    "山": "珊",
    "成": "诚",
    "荣": "蓉",
    "昌": "常",
    "兴": "星",
    "祥": "翔",
    "光": "广",
    "志": "智",
    "保": "宝",
    "金": "锦",
    "学": "雪",
    "东": "冬",
    "春": "椿",
    "富": "福",
    "良": "亮",
    "元": "源",
    "家": "佳",
}

ETHNICITIES = [
    ("汉族", 52),
    ("彝族", 20),
    ("哈尼族", 16),
    ("苗族", 5),
    ("瑶族", 3),
    ("傣族", 2),
    ("壮族", 2),
]

# Place-name syllables: townships and villages are two syllables + suffix.
PLACE_A = (
    "龙 石 大 小 新 老 马 牛 羊 者 勐 阿 甲 宝 三 俄 沙 铜 金 银 白 黑 红 青 "
    "凤 鸡 猫 虎 象 鹿 竹 松 梨 桃 米 麦 水 河 溪 坝 岩 洞 坡 箐 塘 田 寨 中 上 下"
).split()
PLACE_B = (
    "潭 街 坪 寨 冲 普 拉 得 华 猛 扎 车 山 河 头 尾 坝 塘 田 湾 岭 箐 哨 铺 "
    "厂 脚 口 坡 角 凹 洼 林 屯 村 营 堡 沟 场 房 桥 窝 嘴 梁 岗"
).split()
GROUP_PREFIX = "上 下 中 新 老 大 小 前 后 东 西 南 北 高 半 水 干 石 竹 松".split()
GROUP_SUFFIX = "寨 村 组 坪 塘 湾 冲 箐 坡 头 房 田 脚 凹".split()
STREETS = (
    "人民路 建设路 文化路 团结路 兴华街 东风路 新华路 滨河路 育才路 朝阳路 振兴路 和平街".split()
)

# Real county-level codes for people born outside the county.
OTHER_AREA_CODES_YN = [
    "530102",
    "530103",
    "530111",
    "530112",
    "530381",
    "530402",
    "532501",
    "532502",
    "532503",
    "532522",
    "532523",
    "532524",
    "532525",
    "532527",
    "532528",
    "532529",
    "532530",
    "532531",
    "532532",
    "532622",
    "532623",
    "532626",
]
# First (and last) birth year for which python-stdnum's table has each code
# assigned; codes are only used for people born inside that range.
AREA_VALID_FROM = {
    "530102": 1983,
    "530103": 1983,
    "530111": 1983,
    "530112": 1983,
    "530381": 1997,
    "530402": 1997,
    "532502": 1981,
    "532503": 2010,
    "510107": 1990,
    "510623": 1983,
    "520102": 1983,
    "522601": 1983,
    "450102": 1983,
    "450881": 1995,
    "440106": 1985,
    "441900": 1988,
    "330106": 1983,
    "320583": 1989,
    "430104": 1983,
    "360102": 1983,
    "420106": 1983,
    "350203": 1983,
    "500103": 1997,
}
AREA_VALID_UNTIL = {"532522": 2010, "532526": 2013}

OTHER_AREA_CODES_CN = [
    "510107",
    "510623",
    "520102",
    "522601",
    "522701",
    "450102",
    "450881",
    "440106",
    "441900",
    "330106",
    "320583",
    "430104",
    "360102",
    "420106",
    "350203",
    "500103",
]

CAUSES = [
    ("因病", 24),
    ("缺技术", 14),
    ("缺资金", 14),
    ("缺劳力", 10),
    ("因残", 9),
    ("因学", 8),
    ("缺土地", 5),
    ("交通条件落后", 4),
    ("自身发展动力不足", 4),
    ("因灾", 3),
    ("缺水", 2),
    ("因务工就业不稳", 2),
    ("因产业项目失败", 1),
    ("因意外事故", 1),
    ("其他", 1),
]

# Employers of the county and of the places people migrate to for work.
COMPANY_WORDS_A = (
    "云岭 红河 滇南 兴农 宏达 恒通 鑫源 华盛 远航 金穗 绿源 天成 瑞丰 永安 顺达 锦程".split()
)
COMPANY_WORDS_B = "农业开发 建筑工程 商贸 物流 食品 矿业 旅游开发 电子科技 建材 茶业 药业 生态农业 餐饮管理 汽车服务".split()
COMPANY_SUFFIX = ["有限公司", "有限责任公司", "股份有限公司"]
FAR_CITIES = ["昆明市", "深圳市", "东莞市", "广州市", "佛山市", "宁波市", "苏州市", "厦门市"]
PUBLIC_BODIES = [
    ("{county}人民政府办公室", "机关"),
    ("{county}财政局", "机关"),
    ("{county}农业农村局", "机关"),
    ("{county}{town}人民政府", "机关"),
    ("{county}第一中学", "事业单位"),
    ("{county}人民医院", "事业单位"),
    ("{county}{town}中心小学", "事业单位"),
    ("{county}{town}卫生院", "事业单位"),
    ("{county}疾病预防控制中心", "事业单位"),
]
SHOP_WORDS = (
    "便民超市 小吃店 五金店 农资店 理发店 服装店 修车铺 烧烤店 米线店 日杂店 茶叶店 手机店".split()
)
COOP_WORDS = "种植 养殖 茶叶 蔬菜 核桃 生猪 肉牛 中药材 香蕉 芒果 柑橘 蜂蜜".split()

# ---------------------------------------------------------------- 防返贫监测 (today's export)
# The items of each 帮扶措施 column (monitoring.md §1), by measure field.
MEASURE_ITEMS = {
    "measure_industry": ("产业奖补", "种养殖补贴", "产业发展资金扶持", "发放种苗", "农业保险补贴"),
    "measure_employment": ("劳务输出", "外出务工补贴", "交通补贴", "技能培训", "就业推荐"),
    "measure_finance": ("脱贫人口小额信贷", "小额信贷贴息", "产业贷款贴息"),
    "measure_public_job": ("生态护林员", "乡村保洁员", "道路管护员", "乡村公益性岗位"),
    "measure_health": ("家庭医生签约服务", "医疗救助", "慢病签约服务", "先诊疗后付费", "参保资助"),
    "measure_education": ("雨露计划", "教育资助", "生活补助", "助学贷款"),
    "measure_housing": ("农村危房改造", "住房修缮补助", "农房抗震改造"),
    "measure_water": ("饮水安全巩固提升", "自来水入户", "水窖建设"),
    "measure_compulsory_education": ("控辍保学", "送教上门", "营养改善计划"),
    "measure_comprehensive": ("残疾人两项补贴", "高龄补贴", "临时救助", "重度残疾人护理补贴"),
    "measure_social": ("结对帮扶", "东西部协作帮扶", "社会捐赠", "爱心超市积分"),
    "measure_relocation": ("易地扶贫搬迁", "随迁安置"),
    "measure_living_conditions": ("改厨改厕", "庭院整治", "人居环境改善"),
    "measure_infrastructure": ("入户路硬化", "村组道路建设", "太阳能路灯"),
}
MEASURE_SEPARATORS = ("、", "、", "、", ",", "，", ";", "；")
# 综合保障 items of the two safety nets (SNR: an item containing 低保 / 特困).
DIBAO_ITEM = ("低保", "农村低保", "低保兜底")
DESTITUTE_ITEM = ("特困供养", "特困人员救助供养", "分散特困供养")
DIBAO_ENJOYED = ("享受农村低保", "农村低保", "享受农村最低生活保障")
DESTITUTE_ENJOYED = ("享受农村特困供养", "分散供养特困人员", "享受特困人员救助供养")
# 致贫/返贫风险: national codes (monitoring.md §1); 因安全住房 / 因安全饮水 have none.
RISK_CODES = {
    "因病": "01",
    "因残": "03",
    "缺劳动力": "04",
    "因意外事故": "05",
    "因产业项目失败": "06",
    "因务工就业不稳": "07",
    "因学": "09",
    "其他": "99",
}
DISASTER_CODES = ("0201", "0202", "0203", "0204")  # 02xx: one kind of disaster each
RISK_SPELLINGS = {"因灾": ("因灾", "因自然灾害"), "缺劳动力": ("缺劳动力", "因缺劳动力")}
