"""What a loadable row is, per feed, as a pandera (polars) schema.

Derived from the spec: every field has its typed dtype; a ``required`` field
must not be null (an unparseable value is null by then); in department feeds
the ``X_problem`` of every ID column must be null (a row whose ID number is
wrong cannot be joined). The register keeps rows with ID problems: the rule
``id_invalid`` reports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from department_feeds.normalise import polars_dtype
from department_feeds.spec import FeedSpec

if TYPE_CHECKING:
    import pandera.polars as pa

ID_VALID = "id_valid"

_SCHEMAS: dict[str, pa.DataFrameSchema] = {}


def _problem_is_null(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col(data.key).is_null())


def loadable_schema(spec: FeedSpec) -> pa.DataFrameSchema:
    """The pandera schema a typed row must pass to be loaded."""
    cached = _SCHEMAS.get(spec.name)
    if cached is not None:
        return cached
    import pandera.polars as pa  # lazy: ~0.6 s, needed only when a feed is loaded

    columns: dict[str, pa.Column] = {}
    for col in spec.columns:
        # ID columns are judged by their problem code, not by nullness, so an
        # empty ID number gets one reason (证件号码为空), not two.
        nullable = col.kind == "id" or not col.required
        columns[col.field] = pa.Column(polars_dtype(col), nullable=nullable)
        if col.kind == "id":
            checks = []
            if spec.ids_block_rows:
                checks.append(pa.Check(_problem_is_null, name=ID_VALID, error=ID_VALID))
            columns[f"{col.field}_problem"] = pa.Column(pl.String, nullable=True, checks=checks)
    schema = pa.DataFrameSchema(columns, name=f"{spec.name}_loadable", strict=False)
    _SCHEMAS[spec.name] = schema
    return schema


_VALUE_SCHEMAS: dict[str, pa.DataFrameSchema] = {}
_ACCEPTED: dict[str, pl.Schema] = {}
"""Per feed, the column types of a frame the whole schema accepted (its type checks)."""


def _value_schema(spec: FeedSpec) -> pa.DataFrameSchema:
    """The columns of :func:`loadable_schema` whose values can fail: not nullable, or
    with a check. The others can fail on their type only."""
    cached = _VALUE_SCHEMAS.get(spec.name)
    if cached is None:
        schema = loadable_schema(spec)
        names = [n for n, c in schema.columns.items() if not c.nullable or c.checks]
        cached = _VALUE_SCHEMAS[spec.name] = schema.select_columns(names)
    return cached


def failures(spec: FeedSpec, typed: pl.DataFrame) -> pl.DataFrame:
    """``(index, column)`` of every failed check: the row position in ``typed``
    and the column (``X_problem`` for an ID problem). Empty when all rows pass.

    A failure without a row index (a missing column, a wrong dtype) is a bug in
    the loader, not in the data, and is raised. Once the schema has accepted a
    frame with these very column types, only the columns whose values can fail
    are validated again (same failures, a fraction of pandera's per-column cost).
    """
    import pandera.polars as pa  # lazy: see loadable_schema

    schema = loadable_schema(spec)
    frame = typed.select(list(schema.columns))
    whole = _ACCEPTED.get(spec.name) != frame.schema
    if not whole:
        schema = _value_schema(spec)
        frame = frame.select(list(schema.columns))
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        if cases["index"].null_count():
            raise RuntimeError(
                f"{spec.name}: typed frame does not match its schema:\n"
                f"{cases.filter(pl.col('index').is_null())}"
            ) from exc
        if whole:
            _ACCEPTED[spec.name] = frame.schema
        return cases.select(pl.col("index").cast(pl.UInt32), pl.col("column")).unique()
    if whole:
        _ACCEPTED[spec.name] = frame.schema
    return pl.DataFrame(schema={"index": pl.UInt32, "column": pl.String})
