"""A hostile register through the real nightly job: township names that collide
after path cleaning, formula payloads, control characters and a very long
township name, all in one county. Whatever arrives, every township gets its own
complete list, nothing crosses townships, no output cell can run as a formula,
and every input row is loaded or rejected."""

import csv
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from checks.rules import WARNING_RULE_CODES
from pipelines.cli import run_pipeline
from tests.conftest import copy_inbox
from tests.helpers_problem_lists import formula_parts

pytestmark = pytest.mark.slow

NIGHT = date(2026, 11, 20)
FORMULAS = [
    '=HYPERLINK("http://evil.example/x","点我")',
    "=cmd|' /C calc'!A0",
    "+1+2",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
]
LONG_TOWNSHIP = "长" * 120
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _hostile_register(src: Path, dest: Path) -> dict[str, str]:
    """Rewrite the newest register as a CSV whose place names and people are hostile.

    Returns what was changed, for the assertions."""
    wb = openpyxl.load_workbook(src, read_only=True)
    rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    header_at = next(i for i, r in enumerate(rows) if r and "证件号码" in r)
    header, body = rows[header_at], rows[header_at + 1 :]
    col = {h: i for i, h in enumerate(header) if h}
    townships = sorted({r[col["乡(镇)"]] for r in body if r[col["乡(镇)"]]})
    villages = sorted({(r[col["乡(镇)"]], r[col["行政村"]]) for r in body if r[col["行政村"]]})
    by_town: dict[str, list[str]] = {}
    for t, v in villages:
        by_town.setdefault(t, []).append(v)
    multi = [t for t in townships if len(by_town.get(t, [])) >= 2]
    assert len(multi) >= 2, by_town
    t_dot, t_slash = multi[0], multi[1]
    v_dot, v_long = by_town[t_dot][0], by_town[t_dot][1]
    v_slash_a, v_slash_b = by_town[t_slash][0], by_town[t_slash][1]
    renamed = {
        # The same township "typed" two ways: must stay two lists, never one.
        (t_dot, v_dot): t_dot + "。",
        (t_dot, v_long): LONG_TOWNSHIP,
        (t_slash, v_slash_a): t_slash[:1] + "/" + t_slash[1:],
        (t_slash, v_slash_b): t_slash[:1] + "_" + t_slash[1:],
    }
    for i, r in enumerate(body):
        key = (r[col["乡(镇)"]], r[col["行政村"]])
        if key in renamed:
            r[col["乡(镇)"]] = renamed[key]
        # Formula payloads in the natural village (on every row of the list) and
        # in names; a control character in the phone number.
        r[col["自然村(组)"]] = FORMULAS[i % len(FORMULAS)]
        if i % 7 == 0:
            r[col["姓名"]] = f"{r[col['姓名']]}\x07"
        if i % 11 == 0:
            r[col["联系电话"]] = f"=1+{r[col['联系电话']]}"
    ids = {str(r[col["证件号码"]]) for r in body if r[col["证件号码"]]}
    with open(dest, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in body:
            w.writerow(["" if v is None else v for v in r])
    return {"dot": t_dot, "slash": t_slash, "ids": ids}


def _listed(path: Path) -> list[str]:
    """Every 问题编号 of a problem-list workbook (sheets whose first row has it)."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    ids = []
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        if not rows or "问题编号" not in rows[0]:
            continue
        j = rows[0].index("问题编号")
        ids += [str(r[j]) for r in rows[1:] if j < len(r) and r[j] not in ("", None)]
    return ids


def _csv_cells(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def test_hostile_register_through_the_real_job(small_county, tmp_path, dagster_home):
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    newest = max((inbox / "register").glob("*.xlsx"), key=lambda p: p.name)
    changed = _hostile_register(newest, newest.with_suffix(".csv"))
    newest.unlink()
    outbox, wh = tmp_path / "outbox", tmp_path / "warehouse.duckdb"

    ok, info = run_pipeline(inbox, outbox, wh, NIGHT)
    assert ok, info
    day = outbox / NIGHT.isoformat()

    # problems.csv is the reference: every township's findings on its own list — the
    # 问题清单, or the 监测预警核实清单 for the early-warning rules.
    with open(day / "problems.csv", encoding="utf-8-sig", newline="") as fh:
        problems = list(csv.DictReader(fh))
    expected: dict[tuple[str, bool], set[str]] = {}
    for p in problems:
        if p["status"] not in ("waived", "included"):
            township = p["township"].lstrip("'")
            key = (township, p["rule_code"] in WARNING_RULE_CODES)
            expected.setdefault(key, set()).add(p["problem_id"])
    assert (LONG_TOWNSHIP, False) in expected, "the long-named township has no findings to list"

    workbooks = sorted(day.rglob("*.xlsx"))
    seen: dict[str, Path] = {}
    listed_sets = []
    for wb in workbooks:
        ids = _listed(wb)
        assert len(ids) == len(set(ids)), f"{wb.name}: a problem listed twice"
        for pid in ids:
            assert pid not in seen, f"{pid} is on {seen[pid]} and {wb}"
            seen[pid] = wb
        listed_sets.append(set(ids))
    # One list per township, each exactly that township's findings.
    assert len(workbooks) == len(expected), (
        f"{len(expected)} township lists with findings, {len(workbooks)} workbooks"
    )
    for (township, _), ids in expected.items():
        assert ids in listed_sets, f"township {township[:20]!r}: its list is missing or mixed"

    # No cell of any output can run as a formula.
    for wb in workbooks:
        assert formula_parts(wb) == [], f"formula in {wb}"
    for name in ("problems.csv", "rejects.csv"):
        for row in _csv_cells(day / name)[1:]:
            for cell in row:
                assert not cell.startswith(TRIGGERS), f"{name}: unescaped {cell!r}"

    # Dashboards mask ID numbers: none in the report, nor anywhere in the Dagster
    # instance (run logs, check samples, asset previews).
    ids = [i.encode() for i in changed["ids"] if len(i) == 18]
    assert len(ids) > 100
    for path in [day / "report.html", *(p for p in dagster_home.rglob("*") if p.is_file())]:
        data = path.read_bytes()
        leaked = [i for i in ids if i in data]
        assert not leaked, f"{path}: {len(leaked)} unmasked ID numbers"

    # Every input row is loaded or rejected.
    import duckdb

    with duckdb.connect(str(wh), read_only=True) as con:
        bad = con.sql(
            "SELECT feed, source_file, rows_read, rows_loaded, rows_rejected FROM loads "
            "WHERE rows_read <> rows_loaded + rows_rejected"
        ).fetchall()
    assert bad == []
