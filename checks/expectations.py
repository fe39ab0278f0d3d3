"""Great Expectations suites for the feeds, and their Data Docs (rules.md §C).

One expectation suite per feed, derived from its :class:`FeedSpec` so the data
contract stays in one place: completeness of required columns, allowed values of
enum columns, the ID format on IDs the normaliser accepted, uniqueness of the
natural key, and ranges (years, ages, money, months, areas, dates).

GX runs in pandas mode on frames read from DuckDB: its SQL path on DuckDB does not
work (stack-notes.md). :func:`validate_feed` validates one feed (one Dagster asset
check per feed); calls into the same folder build one Data Docs site, whose masked
results are kept under ``<site>/.bidui/`` (also read back by the run report through
:func:`load_validations`). :func:`validate_feeds` does every feed into a fresh site. Results are masked *before* anything is stored or rendered,
so neither :class:`FeedValidation` nor the Data Docs ever hold a full ID number.

Data Docs pages load Bootstrap, jQuery, Popper, bootstrap-table and Font Awesome
from CDNs, and GX does not ship those files. The real files, at the versions GX's
templates name, are vendored in ``checks/data_docs_assets/`` (see its README); after
building, :func:`make_docs_offline` copies them to ``static/bidui/`` in the site and
rewrites each CDN URL to the local copy, so the pages render, their tables fill and
their tabs switch without network. Remote files GX pages do not need (dark theme,
Vega) are dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from filelock import FileLock

from core.idcard import mask, mask_in_text
from department_feeds import SPECS
from department_feeds.spec import Column, FeedSpec

log = logging.getLogger(__name__)

ID_REGEX = r"^\d{17}[\dX]$"
MAX_ROWS = 600_000
"""Above this many rows a feed is validated on a random sample (see :func:`_read_frame`)."""
SAMPLE_SEED = 20240901
PARTIAL_UNEXPECTED = 10
"""How many unexpected values GX keeps per expectation (masked afterwards)."""
SITE_NAME = "bidui"
OFFLINE_DIR = "static/bidui"

# Bounds and date orders are facts of the feed (``Column.earliest``, ``int_range``,
# ``positive``, ``FeedSpec.date_order``); only the defaults live here.
YEAR_MIN_DEFAULT = 1990
"""First plausible year of a year column without ``earliest`` (department records)."""
AGE_COLUMN = "age_from_id"
"""Derived register column: age at the register year's end from the ID's birth date."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, reduced to what dashboards show (IDs masked)."""

    expectation_type: str
    column: str
    """Column name, or key columns joined by ``", "`` for a compound expectation."""
    description_zh: str
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_sample: tuple[str, ...] = ()
    """A few unexpected values as text, ID numbers masked (``530102********1234``)."""
    error: str | None = None
    """Exception message when GX could not evaluate the expectation."""


@dataclass(frozen=True)
class FeedValidation:
    """The validation of one feed's table against its suite."""

    feed: str
    title_zh: str
    validated: bool
    """False when the feed had no rows (or no table): never reported as passed."""
    success: bool | None
    """None when not validated."""
    rows: int
    rows_validated: int
    sampled: bool
    statistics: dict[str, float] = field(default_factory=dict)
    """evaluated / successful / unsuccessful expectations and success_percent."""
    results: tuple[ExpectationOutcome, ...] = ()
    reason: str | None = None
    """Why the feed was not validated, in Chinese."""
    note: str | None = None
    """Sampling or other caveat, in Chinese."""
    duration_ms: int = 0
    docs_page: str | None = None
    """The validation page, relative to the Data Docs directory."""

    @property
    def passed(self) -> bool:
        """True only for a validated feed whose every expectation held."""
        return bool(self.validated and self.success)

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(r for r in self.results if not r.success)

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON-able values for Dagster ``AssetCheckResult`` metadata."""
        return {
            "validated": self.validated,
            "success": self.success,
            "reason": self.reason or "",
            "note": self.note or "",
            "rows": self.rows,
            "rows_validated": self.rows_validated,
            "sampled": self.sampled,
            "evaluated_expectations": int(self.statistics.get("evaluated_expectations", 0)),
            "successful_expectations": int(self.statistics.get("successful_expectations", 0)),
            "unsuccessful_expectations": int(self.statistics.get("unsuccessful_expectations", 0)),
            "duration_ms": self.duration_ms,
            "docs_page": self.docs_page or "",
            "failed_expectations": [asdict(r) for r in self.failed],
            "results": [
                {
                    "type": r.expectation_type,
                    "column": r.column,
                    "success": r.success,
                    "unexpected_count": r.unexpected_count,
                    "unexpected_percent": r.unexpected_percent,
                }
                for r in self.results
            ],
        }


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class PlannedExpectation:
    """An expectation to build, with the columns it reads and a Chinese description."""

    kind: str
    kwargs: dict[str, Any]
    columns: tuple[str, ...]
    description_zh: str


def _zh(spec: FeedSpec, name: str) -> str:
    if name == AGE_COLUMN:
        return "年龄(由证件号码推算)"
    try:
        return spec.column(name).header
    except KeyError:
        return name


def plan_suite(spec: FeedSpec, run_date: dt.date) -> list[PlannedExpectation]:
    """The expectations of a feed, derived from its spec (pure: no GX objects)."""
    plan: list[PlannedExpectation] = []
    required = [c.field for c in spec.columns if c.required]
    for f in required:
        plan.append(
            PlannedExpectation(
                "not_null", {"column": f}, (f,), f"必填项完整：{_zh(spec, f)} 不得为空"
            )
        )
    for c in spec.columns:
        if c.kind == "enum" and c.values:
            plan.append(
                PlannedExpectation(
                    "in_set",
                    {"column": c.field, "value_set": list(c.values)},
                    (c.field,),
                    f"取值合规：{c.header} 只能是 {'、'.join(c.values[:8])}"
                    + ("等" if len(c.values) > 8 else ""),
                )
            )
    for c in spec.id_columns:
        plan.append(
            PlannedExpectation(
                "id_format",
                {"column": c.field, "regex": ID_REGEX, "problem_column": f"{c.field}_problem"},
                (c.field, f"{c.field}_problem"),
                f"证件号码格式：校验通过的 {c.header} 应为17位数字加1位数字或X",
            )
        )
    if spec.natural_key:
        key = list(spec.natural_key)
        names = "+".join(_zh(spec, k) for k in key)
        if len(key) == 1:
            plan.append(
                PlannedExpectation(
                    "unique", {"column": key[0]}, tuple(key), f"唯一性：{names} 不重复"
                )
            )
        else:
            # A key with a blank part cannot identify a record, unless the blank
            # is a value (a village total has no group and must still be unique).
            ignore = "never" if spec.natural_key_blank_is_value else "any_value_is_missing"
            plan.append(
                PlannedExpectation(
                    "compound_unique",
                    {"column_list": key, "ignore_row_if": ignore},
                    tuple(key),
                    f"自然键唯一：{names} 组合不重复"
                    + ("（含空值的行不参与）" if ignore != "never" else ""),
                )
            )
    plan += _range_plan(spec, run_date)
    return plan


def _range_plan(spec: FeedSpec, run_date: dt.date) -> list[PlannedExpectation]:
    plan: list[PlannedExpectation] = []

    def between(c: Column | str, lo: Any, hi: Any, text: str, strict_min: bool = False) -> None:
        name = c if isinstance(c, str) else c.field
        kwargs: dict[str, Any] = {"column": name}
        if lo is not None:
            kwargs["min_value"] = lo
        if hi is not None:
            kwargs["max_value"] = hi
        if strict_min:
            kwargs["strict_min"] = True
        plan.append(PlannedExpectation("between", kwargs, (name,), text))

    for c in spec.columns:
        if c.is_year:
            lo = YEAR_MIN_DEFAULT if c.earliest is None else c.earliest
            between(c, lo, run_date.year, f"年份合理：{c.header} 在 {lo}–{run_date.year} 之间")
        elif c.kind == "int" and c.int_range is not None:
            lo, hi = c.int_range
            between(c, lo, hi, f"取值范围：{c.header} 在 {lo}–{hi} 之间")
        elif c.kind == "int":
            between(c, 0, None, f"数量不为负：{c.header} ≥ 0")
        elif c.kind == "decimal" and c.positive:
            between(c, 0, None, f"面积为正：{c.header} > 0", strict_min=True)
        elif c.kind in ("money", "decimal"):
            between(c, 0, None, f"金额不为负：{c.header} ≥ 0")
        elif c.kind == "date":
            lo = c.earliest
            text = f"日期合理：{c.header} 不晚于运行日 {run_date.isoformat()}"
            if lo:
                text += f"，不早于 {lo.isoformat()}"
            between(c, lo, run_date, text)
    if spec.name == "register":
        between(AGE_COLUMN, 0, 120, "年龄合理：由证件号码出生日期推算的年末年龄在 0–120 岁之间")
    for a, b in spec.date_order:
        plan.append(
            PlannedExpectation(
                "a_ge_b",
                {"column_A": a, "column_B": b},
                (a, b),
                f"日期先后：{_zh(spec, a)} 不早于 {_zh(spec, b)}",
            )
        )
    return plan


def _gx_expectation(p: PlannedExpectation) -> Any:
    """The GX 1.x expectation object for a planned expectation."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column as RowColumn

    common = {"description": p.description_zh, "meta": {"description_zh": p.description_zh}}
    k = p.kwargs
    if p.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=k["column"], **common)
    if p.kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(
            column=k["column"], value_set=k["value_set"], **common
        )
    if p.kind == "id_format":
        # Only numbers the normaliser accepted: invalid ones are the id_invalid rule's job.
        return gxe.ExpectColumnValuesToMatchRegex(
            column=k["column"],
            regex=k["regex"],
            row_condition=RowColumn(k["problem_column"]).is_null(),
            **common,
        )
    if p.kind == "unique":
        return gxe.ExpectColumnValuesToBeUnique(column=k["column"], **common)
    if p.kind == "compound_unique":
        return gxe.ExpectCompoundColumnsToBeUnique(
            column_list=k["column_list"], ignore_row_if=k["ignore_row_if"], **common
        )
    if p.kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(**k, **common)
    if p.kind == "a_ge_b":
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=k["column_A"],
            column_B=k["column_B"],
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            **common,
        )
    raise ValueError(f"unknown expectation kind {p.kind!r}")


# --------------------------------------------------------------------------- data


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()[0]
    )


_NULLABLE_INTS = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """``con.execute(sql).df()`` with the suites' dates as Python dates, built from Arrow.

    The same dtypes and values as ``.df()`` (text as ``str``, a column of nulls only
    as ``object`` of None, integers with nulls as ``Int32``…, doubles), 4–5 times
    faster: ``.df()`` makes a Python object of every text value. DATE columns come as
    ``object`` columns of ``datetime.date`` and None, which is what
    :func:`_read_frame` makes of ``.df()``'s ``datetime64``. A query with another
    type (DECIMAL: cast it to DOUBLE in SQL) is read with ``.df()``.
    """
    table = con.execute(sql).to_arrow_table()
    columns: dict[str, Any] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        kind = col.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if col.null_count == len(col):  # .df() infers no text type from nulls alone
                columns[name] = pd.Series([None] * len(col), dtype=object)
            else:
                columns[name] = col.to_pandas()
        elif kind in _NULLABLE_INTS:
            columns[name] = col.to_pandas(
                types_mapper=_NULLABLE_INTS.get if col.null_count else None
            )
        elif pa.types.is_float64(kind) or pa.types.is_date32(kind):
            columns[name] = col.to_pandas()
        else:
            return con.execute(sql).df()
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def _read_frame(
    con: duckdb.DuckDBPyConnection,
    spec: FeedSpec,
    plan: list[PlannedExpectation],
    rows: int,
    max_rows: int | None,
) -> tuple[pd.DataFrame, bool]:
    """The columns the suite reads, as pandas; a sample when the table is large.

    A sample keeps every row whose natural key occurs more than once in the full
    table, so the uniqueness expectation still sees every duplicate.
    """
    table_cols = {c for c, _ in spec.normalised_columns()}
    needed: list[str] = []
    for p in plan:
        for c in p.columns:
            if c in table_cols and c not in needed:
                needed.append(c)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            [spec.name],
        ).fetchall()
    )
    # DuckDB's own cast: the doubles .df() makes of a DECIMAL (Arrow's cast differs in the last bit).
    select = [
        f'CAST("{c}" AS DOUBLE) AS "{c}"' if types.get(c, "").startswith("DECIMAL") else f'"{c}"'
        for c in needed
    ]
    if spec.name == "register":
        # Age at 31 December of the register year: every birthday has passed by then.
        select.append(
            "CASE WHEN id_number_problem IS NULL AND length(id_number) = 18 "
            "THEN year - TRY_CAST(substr(id_number, 7, 4) AS INTEGER) END "
            f'AS "{AGE_COLUMN}"'
        )
    cols = ", ".join(select)
    table = f'"{spec.name}"'
    sampled = max_rows is not None and rows > max_rows
    if not sampled:
        df = _frame(con, f"SELECT {cols} FROM {table}")
    else:
        key = ", ".join(f'"{k}"' for k in spec.natural_key)
        dup = (
            f"SELECT {cols} FROM {table} WHERE ({key}) IN "
            f"(SELECT ({key}) FROM {table} GROUP BY ALL HAVING count(*) > 1)"
            if spec.natural_key
            else None
        )
        rest = f"SELECT {cols} FROM {table} USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE ({SAMPLE_SEED})"
        df = _frame(con, f"({rest}) UNION ALL ({dup})" if dup else rest)
        if spec.natural_key:
            # The sample may also have drawn duplicate rows: keep each row once.
            df = df.drop_duplicates()
    for c in df.columns:
        # GX compares python dates quickly; datetime64 against a date bound is ~4x slower.
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = pd.Series(df[c].dt.date, index=df.index, dtype=object).where(
                df[c].notna(), None
            )
    return df, sampled


# --------------------------------------------------------------------------- masking


def mask_value(value: Any, is_id: bool = False) -> Any:
    """Mask one value: the whole string for ID columns, ID-like runs in any other string.

    Numbers, dates and None pass unchanged (ID columns are text in the warehouse).
    """
    if isinstance(value, str):
        return mask(value) if is_id else mask_in_text(value)
    return value


def _mask_tree(obj: Any, id_columns: frozenset[str], is_id: bool = False) -> Any:
    """Recursively mask a GX result structure.

    Value lists of an ID column are masked whole; dicts keyed by column name (the
    rows of a compound expectation) are masked per key; ``{"value", "count"}``
    pairs inherit the list's ID-ness.
    """
    if isinstance(obj, dict):
        return {
            k: _mask_tree(v, id_columns, k in id_columns or (is_id and k == "value"))
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_mask_tree(v, id_columns, is_id) for v in obj]
    return mask_value(obj, is_id)


def _mask_result(
    result: dict[str, Any], columns: Iterable[str], id_columns: frozenset[str]
) -> dict[str, Any]:
    """Mask every value list of one expectation result."""
    cols = list(columns)
    column_is_id = len(cols) == 1 and cols[0] in id_columns
    return {k: _mask_tree(v, id_columns, column_is_id) for k, v in result.items()}


# --------------------------------------------------------------------------- validate


def _columns_of(config_kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    if "column_list" in config_kwargs:
        return tuple(config_kwargs["column_list"])
    if "column_A" in config_kwargs:
        return (config_kwargs["column_A"], config_kwargs["column_B"])
    if "column" in config_kwargs:
        return (config_kwargs["column"],)
    return ()


def _sample_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(
            f"{k}={_sample_text(v) if v is not None else ''}" for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return " / ".join(_sample_text(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return "（空）" if value is None else str(value)


def _not_validated(
    spec: FeedSpec, reason: str, rows: int = 0, duration_ms: int = 0
) -> FeedValidation:
    return FeedValidation(
        feed=spec.name,
        title_zh=spec.title_zh,
        validated=False,
        success=None,
        rows=rows,
        rows_validated=0,
        sampled=False,
        reason=reason,
        duration_ms=duration_ms,
    )


_preload: threading.Thread | None = None
_preload_guard = threading.Lock()


def preload_gx() -> None:
    """Start importing GX on a background thread, once per process.

    The import costs about 3 s of Python (GX loads scipy, altair, marshmallow and
    its ~170 expectation classes). A run calls this when it starts loading feeds:
    the loaders spend most of their time in Calamine, Polars and DuckDB, which
    release the GIL, so the import is mostly done when the Data Docs step needs it.
    The loaders import no module GX imports (checked: the two sets are disjoint), so
    the two threads never wait on each other's import locks. Failure is silent here:
    :func:`_gx` imports again and raises where it always did.
    """
    global _preload
    with _preload_guard:
        if _preload is not None or "great_expectations" in sys.modules:
            return
        _preload = threading.Thread(target=_import_gx, name="bidui-gx-import", daemon=True)
        _preload.start()


def _import_gx() -> None:
    # Set before the import: GX's INFO logs (store set-up) are noise in a run's log.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    try:
        import great_expectations  # noqa: F401
        import great_expectations.expectations  # noqa: F401
        from great_expectations.render.renderer import site_builder  # noqa: F401
    except Exception:  # the main thread's import reports it
        log.debug("background import of great_expectations failed", exc_info=True)


def _gx() -> Any:
    """Import GX quietly: its import warns about deprecated stdlib modules, and its
    INFO logs (temp docs dirs, store setup) are noise in the nightly run's logs.
    Waits for a :func:`preload_gx` import in progress."""
    import warnings

    if _preload is not None:
        _preload.join()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
    return gx


def _new_context(data_docs_dir: Path | None) -> Any:
    gx = _gx()

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    # The ephemeral context comes with a site in a temp dir; replace it by ours.
    for name in list(context.variables.data_docs_sites or {}):
        context.delete_data_docs_site(name)
    if data_docs_dir is not None:
        context.add_data_docs_site(
            SITE_NAME,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(data_docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def _pandas_source(context: Any) -> Any:
    """The context's pandas data source (one for every feed validated in it)."""
    try:
        return context.data_sources.get("bidui_warehouse")
    except KeyError:
        return context.data_sources.add_pandas("bidui_warehouse")


def validate_feed(
    con: duckdb.DuckDBPyConnection,
    feed: str,
    run_date: dt.date,
    data_docs_dir: Path | str | None = None,
    max_rows: int | None = MAX_ROWS,
) -> FeedValidation:
    """Validate one feed's table against its suite; add it to the Data Docs site.

    Call it once per feed (e.g. from one Dagster asset check per feed) with the same
    ``data_docs_dir``: every call keeps its masked result under ``.bidui/`` in the
    site and rebuilds the index from all results kept there, so the calls of one
    run make one site whose ``index.html`` links every suite and validation.
    Results of another run date found in the folder are dropped first (a site
    shows one night). Safe to call from parallel processes (file lock).
    A feed with no rows (or no table) is reported as not validated.
    """
    if feed not in SPECS:
        raise KeyError(f"unknown feed {feed!r}; known feeds: {', '.join(SPECS)}")
    spec = SPECS[feed]
    if data_docs_dir is None:
        return _validate_one(_new_context(None), con, spec, run_date, max_rows)[0]
    site = Path(data_docs_dir).resolve()
    _check_docs_dir(site)
    with _site_lock(site):
        _drop_other_runs(site, run_date)
        context = _new_context(site)
        v, stored = _validate_one(context, con, spec, run_date, max_rows)
        key = stored.key if stored is not None else None
        _forget(site, feed)
        if stored is not None:
            _remember(site, v, stored)
        _load_remembered(site, context, skip=feed)
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        # Only this feed's pages are rendered (none when it was not validated: its
        # suite is in no store); the index always lists every kept result.
        targets = [ExpectationSuiteIdentifier(name=feed)] + ([key] if key is not None else [])
        context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=targets)
        make_docs_offline(site)
        if key is not None:
            v = _replace(v, docs_page=_docs_page(site, key))
            _store_dir(site).joinpath(f"{feed}.validation.json").write_text(
                json.dumps(_validation_to_json(v), ensure_ascii=False), encoding="utf-8"
            )
    return v


def validate_feeds(
    con: duckdb.DuckDBPyConnection,
    run_date: dt.date,
    data_docs_dir: Path | str | None = None,
    feeds: Iterable[str] | None = None,
    max_rows: int | None = MAX_ROWS,
) -> dict[str, FeedValidation]:
    """Every feed's suite (``feeds`` to choose), into one fresh site.

    The same results and site as :func:`validate_feed` called once per feed, in one
    GX context and one Data Docs build (each further context and build costs GX its
    set-up and its page templates again). ``data_docs_dir`` (e.g.
    ``<outbox>/<run date>/data_docs``) is emptied first, so it only shows this
    call's feeds; its ``index.html`` opens without network, and a later
    :func:`validate_feed` into it adds to the same site.
    """
    names = list(feeds) if feeds is not None else list(SPECS)
    for name in names:
        if name not in SPECS:
            raise KeyError(f"unknown feed {name!r}; known feeds: {', '.join(SPECS)}")
    if data_docs_dir is None:
        context = _new_context(None)
        return {n: _validate_one(context, con, SPECS[n], run_date, max_rows)[0] for n in names}
    site = Path(data_docs_dir).resolve()
    _reset_docs_dir(site)
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    results: dict[str, FeedValidation] = {}
    keys: dict[str, Any] = {}
    with _site_lock(site):
        context = _new_context(site)
        targets: list[Any] = []
        for name in names:
            v, stored = _validate_one(context, con, SPECS[name], run_date, max_rows)
            results[name] = v
            if stored is not None:
                keys[name] = stored.key
                _remember(site, v, stored)
                targets += [ExpectationSuiteIdentifier(name=name), stored.key]
        if targets:
            context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=targets)
        else:  # nothing validated: still an index page, as validate_feed leaves
            context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=[])
        make_docs_offline(site)
        for name, key in keys.items():
            results[name] = _replace(results[name], docs_page=_docs_page(site, key))
            _store_dir(site).joinpath(f"{name}.validation.json").write_text(
                json.dumps(_validation_to_json(results[name]), ensure_ascii=False),
                encoding="utf-8",
            )
    return results


def load_validations(data_docs_dir: Path | str) -> dict[str, FeedValidation]:
    """The feed validations kept in a site built by :func:`validate_feed` (for reports).

    Only validated feeds are kept; an empty dict when the folder holds none.
    """
    store = _store_dir(Path(data_docs_dir))
    out: dict[str, FeedValidation] = {}
    for path in sorted(store.glob("*.validation.json")) if store.is_dir() else []:
        try:
            v = _validation_from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable %s", path)
            continue
        out[v.feed] = v
    return {f: out[f] for f in SPECS if f in out}


RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": PARTIAL_UNEXPECTED,
    # The result never holds the query (GX 1.24 adds it only when asked); False also
    # spares computing it: one filter of the whole frame per column expectation.
    "return_unexpected_index_query": False,
}


@dataclass(frozen=True)
class _Stored:
    """A validated feed's result as stored in the context: its key, suite and JSON text."""

    key: Any
    suite: Any
    result_text: str


_memo_guard = threading.Lock()


@contextlib.contextmanager
def _configurations_built_once() -> Iterator[None]:
    """While open, GX's ``Expectation.configuration`` is built once per expectation
    object on this thread, instead of once per read.

    GX 1.24 rebuilds the property (a pydantic ``dict()`` plus a new
    ``ExpectationConfiguration``) on every read, and planning the metrics of one
    expectation reads it about 75 times: a sixth of a validation's CPU. The
    validator makes its expectation objects from the suite's configurations and
    never changes them, so each build returns the same value. Other threads, and
    this one after the block, get GX's own property; two threads validating at once
    take turns (tests/integration/test_gx_speed.py compares results with and without).
    """
    from great_expectations.expectations.expectation import Expectation

    with _memo_guard:
        original = Expectation.__dict__["configuration"]
        build = original.fget
        owner = threading.get_ident()
        memo: dict[int, tuple[Any, Any]] = {}

        def configuration(self: Any) -> Any:
            if threading.get_ident() != owner:
                return build(self)
            hit = memo.get(id(self))
            if hit is not None and hit[0] is self:
                return hit[1]
            value = build(self)
            memo[id(self)] = (self, value)  # keeps self alive, so its id stays its own
            return value

        Expectation.configuration = property(configuration, doc=original.__doc__)
        try:
            yield
        finally:
            Expectation.configuration = original
            memo.clear()


def _run_definition(definition: Any, frame: pd.DataFrame, run_id: Any) -> tuple[Any, Any]:
    """``ValidationDefinition.run`` of GX 1.24 without its store write: the same
    validator, result meta and result key. ``run`` stores the unmasked result, which
    had to be serialised once more when the masked one replaced it."""
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(
        batch_definition=definition.batch_definition,
        batch_parameters={"dataframe": frame},
        result_format=RESULT_FORMAT,
    )
    with _configurations_built_once():
        result = validator.validate_expectation_suite(definition.suite)
    result.meta["validation_id"] = definition.id
    result.meta["checkpoint_id"] = None
    result.meta["run_id"] = run_id
    result.meta["validation_time"] = run_id.run_time
    result.meta["batch_parameters"] = {"dataframe": DATAFRAME_REPLACEMENT_STR}
    key = ValidationResultIdentifier(
        batch_identifier=validator.active_batch_id,
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=definition.suite.name),
        run_id=run_id,
    )
    return result, key


def _validate_one(
    context: Any,
    con: duckdb.DuckDBPyConnection,
    spec: FeedSpec,
    run_date: dt.date,
    max_rows: int | None,
) -> tuple[FeedValidation, _Stored | None]:
    """Run one suite in ``context``; its result is masked, then stored (never unmasked)."""
    gx = _gx()

    name = spec.name
    started = time.perf_counter()
    if not _table_exists(con, name):
        return _not_validated(spec, "数据表不存在，未校验"), None
    rows = int(con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
    if rows == 0:
        return _not_validated(spec, "未收到数据（0 行），未校验"), None
    plan = plan_suite(spec, run_date)
    frame, sampled = _read_frame(con, spec, plan, rows, max_rows)
    plan = [p for p in plan if all(c in frame.columns for c in p.columns)]

    # Built whole, then added: each add_expectation on a stored suite saves it again.
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=name,
            expectations=[_gx_expectation(p) for p in plan],
            meta={
                "notes": {
                    "format": "markdown",
                    "content": [f"**{spec.title_zh}**（{spec.department_zh}）"],
                }
            },
        )
    )
    source = _pandas_source(context)
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole_table")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}_{run_date.isoformat()}", data=batch, suite=suite)
    )
    run_id = gx.RunIdentifier(run_name=run_date.isoformat())
    result, key = _run_definition(definition, frame, run_id)
    outcomes = _mask_in_place(result, spec)
    # Stored once, masked: the Data Docs render it, and the site keeps its text.
    store = context.validation_results_store
    text = store.serialize(result)
    store.store_backend.set(store.key_to_tuple(key), text)
    stored = _Stored(key=key, suite=suite, result_text=text)
    stats = {k: float(v) for k, v in dict(result.statistics).items() if v is not None}
    note = None
    if sampled:
        note = (
            f"表共 {rows:,} 行，超过 {max_rows:,} 行，按随机抽样 {len(frame):,} 行校验"
            "（自然键重复的行全部纳入）；不合规数量与比例以抽样为准"
        )
    v = FeedValidation(
        feed=name,
        title_zh=spec.title_zh,
        validated=True,
        success=bool(result.success),
        rows=rows,
        rows_validated=len(frame),
        sampled=sampled,
        statistics=stats,
        results=tuple(outcomes),
        note=note,
        duration_ms=int((time.perf_counter() - started) * 1000),
    )
    log.info(
        "gx %s: %d rows%s, %s, %.1fs",
        name,
        len(frame),
        " (sampled)" if sampled else "",
        "passed" if result.success else "FAILED",
        time.perf_counter() - started,
    )
    return v, stored


# --------------------------------------------------------------------------- site store
# Each call of validate_feed runs in a fresh in-memory GX context; what makes the
# calls of a run one site is this folder of masked results inside it.

STORE_DIR = ".bidui"


def _store_dir(site: Path) -> Path:
    return site / STORE_DIR


def _site_lock(site: Path) -> FileLock:
    """The lock that serialises the calls building one site (parallel asset checks)."""
    store = _store_dir(site)
    store.mkdir(parents=True, exist_ok=True)
    return FileLock(store / "lock")


def _remember(site: Path, v: FeedValidation, stored: _Stored) -> None:
    store = _store_dir(site)
    (store / f"{v.feed}.result.json").write_text(
        json.dumps(
            {
                "run_date": stored.key.run_id.run_name,
                "key": list(stored.key.to_tuple()),
                "result": json.loads(stored.result_text),
                "suite": stored.suite.to_json_dict(),
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    (store / f"{v.feed}.validation.json").write_text(
        json.dumps(_validation_to_json(v), ensure_ascii=False), encoding="utf-8"
    )


def _forget(site: Path, feed: str) -> None:
    """Drop a feed's kept result and its pages (a re-run of that feed replaces them)."""
    for suffix in ("result.json", "validation.json"):
        _store_dir(site).joinpath(f"{feed}.{suffix}").unlink(missing_ok=True)
    shutil.rmtree(site / "validations" / feed, ignore_errors=True)
    (site / "expectations" / f"{feed}.html").unlink(missing_ok=True)


def _drop_other_runs(site: Path, run_date: dt.date) -> None:
    for path in _store_dir(site).glob("*.result.json"):
        try:
            kept = json.loads(path.read_text(encoding="utf-8")).get("run_date")
        except ValueError:
            kept = None
        if kept != run_date.isoformat():
            _forget(site, path.name.removesuffix(".result.json"))


def _load_remembered(site: Path, context: Any, skip: str) -> None:
    """Put the other feeds' masked suites and results into this context's stores."""
    gx = _gx()
    from great_expectations.data_context.types.resource_identifiers import (
        ValidationResultIdentifier,
    )

    store = context.validation_results_store
    for path in sorted(_store_dir(site).glob("*.result.json")):
        feed = path.name.removesuffix(".result.json")
        if feed == skip:
            continue
        kept = json.loads(path.read_text(encoding="utf-8"))
        suite = kept["suite"]
        context.suites.add(
            gx.ExpectationSuite(
                name=suite["name"],
                expectations=suite.get("expectations", []),
                meta=suite.get("meta") or {},
            )
        )
        key = ValidationResultIdentifier.from_tuple(tuple(kept["key"]))
        # The text ValidationResultsStore.serialize made (json.loads of it is kept).
        text = json.dumps(kept["result"], indent=2, sort_keys=True)
        store.store_backend.set(store.key_to_tuple(key), text)


def _validation_to_json(v: FeedValidation) -> dict[str, Any]:
    return asdict(v)


def _validation_from_json(d: dict[str, Any]) -> FeedValidation:
    results = tuple(
        ExpectationOutcome(**{**r, "unexpected_sample": tuple(r.get("unexpected_sample") or ())})
        for r in d.get("results") or ()
    )
    return FeedValidation(**{**d, "results": results})


def _replace(v: FeedValidation, **changes: Any) -> FeedValidation:
    return replace(v, **changes)


def _mask_in_place(result: Any, spec: FeedSpec) -> list[ExpectationOutcome]:
    """Mask every expectation result of a suite run; return the dashboard view."""
    id_columns = frozenset(
        [c.field for c in spec.id_columns] + [f"{c.field}_raw" for c in spec.id_columns]
    )
    outcomes: list[ExpectationOutcome] = []
    for er in result.results:
        config = er.expectation_config
        columns = _columns_of(config.kwargs)
        er.result = _mask_result(dict(er.result or {}), columns, id_columns)
        error = None
        info = er.exception_info or {}
        if info.get("raised_exception"):
            error = mask_in_text(str(info.get("exception_message") or "error"))
        sample = tuple(
            _sample_text(v) for v in (er.result.get("partial_unexpected_list") or [])[:5]
        )
        pct = er.result.get("unexpected_percent")
        outcomes.append(
            ExpectationOutcome(
                expectation_type=config.type,
                column=", ".join(columns),
                description_zh=(config.meta or {}).get("description_zh") or config.type,
                success=bool(er.success),
                unexpected_count=er.result.get("unexpected_count"),
                unexpected_percent=None if pct is None else round(float(pct), 4),
                unexpected_sample=sample,
                error=error,
            )
        )
    return outcomes


def _docs_page(site: Path, key: Any) -> str | None:
    """Relative path of a validation result's page inside the site."""
    root = site / "validations" / key.expectation_suite_identifier.name
    for page in sorted(root.rglob("*.html")) if root.exists() else []:
        if key.run_id.run_name in page.parts:
            return page.relative_to(site).as_posix()
    return None


def _check_docs_dir(path: Path) -> None:
    """Refuse to write into a non-empty folder that is not a Data Docs site."""
    if path.exists() and any(path.iterdir()):
        markers = ("index.html", "static", STORE_DIR)
        if not any((path / m).exists() for m in markers):
            raise FileExistsError(f"{path} is not empty and does not look like Data Docs")


def _reset_docs_dir(path: Path) -> None:
    """Empty a previous build; refuse to wipe a folder that is not a Data Docs site."""
    _check_docs_dir(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- offline docs

VENDOR_DIR = Path(__file__).with_name("data_docs_assets")
OWN_CSS = "bidui.css"
VENDORED = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/popper.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    # GX names 1.19.0 for the extension's stylesheet: the 1.19.1 one matches the script.
    **dict.fromkeys(
        [
            "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
            "bootstrap-table-filter-control.css",
            "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
            "bootstrap-table-filter-control.min.css",
        ],
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    # bootstrap-table's filter-control extension calls $.fn.datepicker on load.
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker-1.9.0/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker-1.9.0/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free-6.6.0/css/all.min.css"
    ),
}
"""CDN URL in GX 1.24's page templates -> vendored file under ``VENDOR_DIR``."""

_REMOTE_TAG = re.compile(
    r"<link\b[^>]*\bhref=[\"'](?P<url>https?://[^\"']*)[\"'][^>]*>\s*"
    r"|<script\b[^>]*\bsrc=[\"'](?P<surl>https?://[^\"']*)[\"'][^>]*>\s*</script>\s*",
    re.I,
)
_SRI_ATTRS = re.compile(r"\s+(?:integrity|crossorigin)=[\"'][^\"']*[\"']", re.I)
_REMOTE_IMG = re.compile(
    r"(<img\b[^>]*\bsrc=)[\"']https?://[^\"']*/([\w.-]+?)(\?[^\"']*)?[\"']", re.I
)
_REMOTE_CSS_URL = re.compile(r"url\(['\"]?https?://[^)]*\)", re.I)
_REMOTE_ANCHOR = re.compile(r"<a\b[^>]*\bhref=[\"']https?://[^>]*>(.*?)</a>", re.I | re.S)
_STATIC_REF = re.compile(r"((?:href|src)=[\"'])(?:\.\./)*static/")
_NEWSLETTER = re.compile(r"<footer>\s*<p>Stay current.*?</footer>", re.S)


def make_docs_offline(site: Path) -> int:
    """Rewrite every page of a Data Docs site to work without network.

    The vendored files are copied to ``static/bidui/``; each CDN URL of
    :data:`VENDORED` points to its copy (SRI and CORS attributes go: a file page
    has no origin); other remote stylesheets and scripts are dropped; remote logo
    images point to the copies GX ships under ``static/images``; CSS ``url()`` to
    remote hosts is removed from GX's pages and stylesheets; GX's newsletter footer goes. Idempotent:
    returns the number of pages rewritten.
    """
    site = Path(site)
    assets = site / OFFLINE_DIR
    shutil.copytree(VENDOR_DIR, assets, dirs_exist_ok=True)
    for sheet in site.rglob("*.css"):
        css = sheet.read_text(encoding="utf-8")
        if assets not in sheet.parents and _REMOTE_CSS_URL.search(css):
            sheet.write_text(_REMOTE_CSS_URL.sub("none", css), encoding="utf-8")
    pages = 0
    for page in site.rglob("*.html"):
        rel = os.path.relpath(site, page.parent).replace(os.sep, "/")
        root = "" if rel == "." else rel + "/"
        prefix = f"{root}{OFFLINE_DIR}/"
        html = page.read_text(encoding="utf-8")
        if f"{OFFLINE_DIR}/{OWN_CSS}" in html:
            continue  # already rewritten by an earlier call for another feed
        html = _REMOTE_TAG.sub(lambda m, prefix=prefix: _local_tag(m, prefix), html)
        html = _REMOTE_IMG.sub(
            lambda m, root=root: f'{m.group(1)}"{root}static/images/{_local_image(m.group(2))}"',
            html,
        )
        html = _REMOTE_CSS_URL.sub("none", html)
        html = _NEWSLETTER.sub("", html)
        # GX writes the favicon link one "../" short on nested pages: re-anchor every
        # reference to the site's static folder at the site root.
        html = _STATIC_REF.sub(lambda m, root=root: f"{m.group(1)}{root}static/", html)
        # Links out (GX's own site) are dead offline: keep their text only.
        html = _REMOTE_ANCHOR.sub(r"\1", html)
        html = html.replace(
            "<title>Data Docs created by Great Expectations</title>",
            "<title>数据质量校验 Data Docs</title>",
        )
        own = f'<link rel="stylesheet" href="{prefix}{OWN_CSS}">\n'
        html = html.replace("</head>", own + "</head>", 1) if "</head>" in html else own + html
        page.write_text(html, encoding="utf-8")
        pages += 1
    return pages


def _local_tag(m: re.Match[str], prefix: str) -> str:
    """A remote ``<link>``/``<script>`` pointed at its vendored copy, or dropped."""
    url = m.group("url") or m.group("surl")
    local = VENDORED.get(url)
    if local is None:
        return ""
    return _SRI_ATTRS.sub("", m.group(0).replace(url, prefix + local))


def _local_image(name: str) -> str:
    """Map a remote GX logo name to one GX ships locally."""
    return name if name in {"logo-long.png", "short-logo.png", "favicon.ico"} else "logo-long.png"
