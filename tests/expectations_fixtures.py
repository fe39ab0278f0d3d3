"""A small hand-made warehouse for the Great Expectations suites: a register and a
vehicles feed, clean or with one failure of each kind (``build(path, bad)``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.idcard import check_digit
from warehouse import connect


def make_id(n: int, birth: str = "19800101") -> str:
    body = f"530102{birth}{n:03d}"
    return body + check_digit(body)


REGISTER_COLS = (
    "year, county, township, village, household_id, name, id_number, id_number_raw, "
    "id_number_problem, gender, relation, work_months, per_capita_net_income, "
    "load_id, source_file, sheet, row_number"
)
VEHICLE_COLS = (
    "owner_id_number, owner_id_number_raw, owner_id_number_problem, owner_name, plate, "
    "vehicle_type, vehicle_status, first_registered_on, load_id, source_file, sheet, row_number"
)


def register_row(i: int, **over):
    row = {
        "year": 2025,
        "county": "云岭县",
        "township": "甲镇",
        "village": "一村",
        "household_id": f"H{i // 2:04d}",
        "name": f"张{i}",
        "id_number": make_id(i),
        "id_number_raw": make_id(i),
        "id_number_problem": None,
        "gender": "男",
        "relation": "户主" if i % 2 == 0 else "配偶",
        "work_months": 6,
        "per_capita_net_income": 9000,
        "load_id": "L1",
        "source_file": "register/r.xlsx",
        "sheet": "Sheet1",
        "row_number": i + 2,
    }
    row.update(over)
    return list(row.values())


def vehicle_row(i: int, **over):
    row = {
        "owner_id_number": make_id(i),
        "owner_id_number_raw": make_id(i),
        "owner_id_number_problem": None,
        "owner_name": f"张{i}",
        "plate": f"云A·1000{i}",
        "vehicle_type": "小型轿车",
        "vehicle_status": "正常",
        "first_registered_on": dt.date(2020, 5, 1),
        "load_id": "L2",
        "source_file": "vehicles/v.csv",
        "sheet": "",
        "row_number": i + 2,
    }
    row.update(over)
    return list(row.values())


def build(path: Path, bad: bool) -> Path:
    con = connect(path)
    reg = [register_row(i) for i in range(8)]
    veh = [vehicle_row(i) for i in range(3)]
    if bad:
        reg.append(register_row(0))  # the same person twice in one household and year
        reg.append(register_row(20, name=None, gender="不详"))  # required name missing
        short = make_id(21)[:17]  # accepted by mistake: 17 characters
        reg.append(register_row(21, id_number=short, id_number_raw=short, work_months=13))
        veh.append(vehicle_row(5, plate="云A·10001"))  # plate of row 1 again
        veh.append(vehicle_row(6, vehicle_status="飞走", first_registered_on=dt.date(2030, 1, 1)))
    con.executemany(f"INSERT INTO register ({REGISTER_COLS}) VALUES ({', '.join('?' * 17)})", reg)
    con.executemany(f"INSERT INTO vehicles ({VEHICLE_COLS}) VALUES ({', '.join('?' * 12)})", veh)
    con.close()
    return path
