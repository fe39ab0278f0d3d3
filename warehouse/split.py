"""Split prefecture-wide feeds by the person's county, before the county runs (issue 14).

A prefecture office may receive one hukou or vehicles export for all its counties in
``<inbox>/_prefecture/<feed>/``. Copying it whole into each county would hand every
county the others' people; instead each row goes to the one county it belongs to:

- **hukou**: the county named in the row's 住址 (exactly one of ``counties``);
- **other feeds**: the county of the person's ID number, looked up in the split
  hukou (and in each county's own hukou files when the prefecture sent none).

Assigned rows are written as ``<inbox>/<county>/<feed>/市级下发_<original stem>.csv``
(UTF-8 with BOM, the feed's own headers, the values as read). A file is rewritten
only when its content changes, so the loader's checksum skips it on a quiet night.
Rows of no county (an address naming none or several counties, an ID number that is
invalid or of nobody in the hukou) are kept with their reason in
``<prefecture_dir>/unassigned/<feed>.parquet`` and counted: every row read is either
assigned or unassigned, never dropped. A file that cannot be read at all stays where
it is and is reported.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from core.idcard import normalise_frame
from department_feeds import FEEDS, SPECS
from department_feeds.loader import parse_file
from warehouse.export import (
    UNASSIGNED,
    check_county_name,
    private_dir,
    resolve_key,
    use_parquet_key,
    write_parquet,
)
from warehouse.ingest import inbox_files

log = logging.getLogger("bidui.split")

PREFECTURE_FOLDER = "_prefecture"
SPLIT_PREFIX = "市级下发_"


@dataclass
class FeedSplit:
    """One feed's split: rows read = sum(assigned) + unassigned."""

    feed: str
    files: int = 0
    rows_read: int = 0
    assigned: dict[str, int] = field(default_factory=dict)
    unassigned: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    """Why rows were not assigned (Chinese) → rows."""
    failed_files: dict[str, str] = field(default_factory=dict)
    """Files that could not be read at all (left in ``_prefecture``) → why."""
    written: list[Path] = field(default_factory=list)
    """County files written (or rewritten) tonight; unchanged ones are not listed."""


@dataclass
class SplitResult:
    """What :func:`split_prefecture_feeds` did, per feed."""

    feeds: dict[str, FeedSplit] = field(default_factory=dict)

    @property
    def unassigned(self) -> int:
        return sum(f.unassigned for f in self.feeds.values())

    def summary_zh(self) -> list[str]:
        """One line per feed, for the CLI and the prefecture report."""
        lines = []
        for f in self.feeds.values():
            spec = SPECS.get(f.feed)
            title = spec.title_zh if spec else f.feed
            parts = "、".join(f"{c} {n}" for c, n in sorted(f.assigned.items()))
            line = (
                f"{title}：读取 {f.rows_read} 行，分配 {parts or '0'}，未能分配 {f.unassigned} 行"
            )
            if f.failed_files:
                line += f"，{len(f.failed_files)} 个文件无法读取"
            lines.append(line)
        return lines


def _ids(frame: pl.DataFrame, col: str) -> pl.Series:
    """The normalised ID number of each row, null when it is not a valid number."""
    norm = normalise_frame(frame.select(pl.col(col).alias("raw")), "raw")
    return norm.select(
        pl.when(pl.col("problem").is_null()).then(pl.col("id_number")).alias("id")
    ).to_series()


def _hukou_county(address: pl.Series, counties: tuple[str, ...]) -> list[tuple[str | None, str]]:
    out = []
    for a in address.to_list():
        hits = [c for c in counties if a and c in a]
        if len(hits) == 1:
            out.append((hits[0], ""))
        elif not a:
            out.append((None, "住址为空，无法确定所属县"))
        elif hits:
            out.append((None, f"住址同时包含多个县名（{'、'.join(hits)}）"))
        else:
            out.append((None, "住址中没有本市任一县名"))
    return out


def _csv_bytes(spec_feed: str, frame: pl.DataFrame) -> bytes:
    spec = SPECS[spec_feed]
    fields = [c.field for c in spec.columns if c.field in frame.columns]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([spec.column(f).header for f in fields])
    for row in frame.select(fields).iter_rows():
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode("utf-8-sig")


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def _local_hukou(inbox: Path, counties: tuple[str, ...]) -> dict[str, str]:
    """ID → county from each county's own hukou files (not the split ones)."""
    out: dict[str, str] = {}
    for county in counties:
        for path in inbox_files(inbox / county, "hukou"):
            if path.name.startswith(SPLIT_PREFIX):
                continue
            pf = parse_file(SPECS["hukou"], path, inbox / county)
            if pf.typed is None:
                continue
            for idn in pf.typed.filter(pl.col("id_number_problem").is_null())["id_number"]:
                out.setdefault(idn, county)
    return out


def split_prefecture_feeds(
    inbox: str | Path,
    counties: tuple[str, ...] | list[str],
    prefecture_dir: str | Path,
    key: str | None | bool = True,
) -> SplitResult:
    """Split every feed under ``<inbox>/_prefecture/`` into the counties' inboxes.

    ``key``: True = the configured warehouse key encrypts the unassigned rows'
    Parquet (as :func:`warehouse.export.export_county`); None = plaintext (folder 0700).
    """
    inbox = Path(inbox)
    counties = tuple(check_county_name(c) for c in counties)
    source = inbox / PREFECTURE_FOLDER
    result = SplitResult()
    if not source.is_dir():
        return result
    present = [f for f in FEEDS if inbox_files(source, f)]
    # hukou first: the other feeds are assigned through it.
    order = sorted(present, key=lambda f: f != "hukou")
    id_county: dict[str, str] = {}
    unassigned_frames: dict[str, list[pl.DataFrame]] = {}
    for feed in order:
        spec = SPECS[feed]
        fs = result.feeds[feed] = FeedSplit(feed)
        if feed != "hukou" and not id_county:
            id_county = _local_hukou(inbox, counties)
        for path in inbox_files(source, feed):
            fs.files += 1
            pf = parse_file(spec, path, source)
            if pf.status == "failed" or pf.raw is None:
                fs.failed_files[pf.source_file] = pf.error or "无法读取"
                continue
            raw = pf.raw
            fs.rows_read += raw.height
            if feed == "hukou":
                assigned = _hukou_county(raw["address"], counties)
                county = pl.Series("county", [c for c, _ in assigned], dtype=pl.String)
                reason = pl.Series("reason", [r for _, r in assigned], dtype=pl.String)
            else:
                ids = _ids(raw, spec.id_columns[0].field)
                county = pl.Series(
                    "county", [id_county.get(i) if i else None for i in ids], dtype=pl.String
                )
                reason = pl.Series(
                    "reason",
                    [
                        "" if c else ("证件号码无效" if i is None else "证件号码不在本市户籍数据中")
                        for i, c in zip(ids.to_list(), county.to_list(), strict=True)
                    ],
                    dtype=pl.String,
                )
            frame = raw.with_columns(county, reason)
            if feed == "hukou":
                ids = _ids(raw, "id_number")
                for i, c in zip(ids.to_list(), county.to_list(), strict=True):
                    if i and c:
                        id_county.setdefault(i, c)
            for c in counties:
                part = frame.filter(pl.col("county") == c)
                target = inbox / c / feed / f"{SPLIT_PREFIX}{path.stem}.csv"
                if part.height == 0:
                    target.unlink(missing_ok=True)  # tonight's export has none of c's rows
                    continue
                fs.assigned[c] = fs.assigned.get(c, 0) + part.height
                if _write_if_changed(target, _csv_bytes(feed, part)):
                    fs.written.append(target)
            rest = frame.filter(pl.col("county").is_null())
            if rest.height:
                fs.unassigned += rest.height
                fs.reasons.update(Counter(rest["reason"].to_list()))
                unassigned_frames.setdefault(feed, []).append(
                    rest.drop("county", "load_id", strict=False)
                )
        assert fs.rows_read == sum(fs.assigned.values()) + fs.unassigned, feed
    _write_unassigned(prefecture_dir, unassigned_frames, resolve_key(key), result)
    for line in result.summary_zh():
        log.info("split: %s", line)
    return result


def _write_unassigned(
    prefecture_dir: str | Path,
    frames: dict[str, list[pl.DataFrame]],
    key: str | None,
    result: SplitResult,
) -> None:
    """Tonight's unassigned rows per feed (a feed with none has its file removed)."""
    folder = private_dir(Path(prefecture_dir) / UNASSIGNED)
    con = duckdb.connect()
    try:
        encrypted = use_parquet_key(con, key, write=True) if frames else False
        for feed in result.feeds:
            path = folder / f"{feed}.parquet"
            if feed not in frames:
                path.unlink(missing_ok=True)
                continue
            con.register("bd_unassigned", pl.concat(frames[feed], how="diagonal").to_arrow())
            write_parquet(con, "SELECT * FROM bd_unassigned", path, encrypted)
            con.unregister("bd_unassigned")
    finally:
        con.close()
