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
assigned or unassigned, never dropped. A file that cannot be read at all (damaged, over
a ``BIDUI_MAX_*`` limit, a wrong header, a format the loader does not read, a symbolic
link out of ``_prefecture/``) stays where it is, is reported with its reason and
writes nothing into any county; the counties keep the last good split of it. A feed
that fails as a whole (an unexpected error) is reported the same way; the other feeds
are split all the same.

``<prefecture_dir>/split-manifest.json`` records the sha256 of each file the split
looked at, so the inbox sensor knows which ``_prefecture/`` files are already split.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from core.config import now as office_now
from core.idcard import normalise_frame
from department_feeds import FEEDS, SPECS
from department_feeds.limits import LimitExceeded, Limits, check_file
from department_feeds.loader import UNSUPPORTED_SUFFIXES, ParsedFile, parse_file
from department_feeds.spec import FeedSpec
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
MANIFEST = "split-manifest.json"


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
    copies: list[Path] = field(default_factory=list)
    """Every county copy of tonight's rows, written or unchanged."""
    removed: list[Path] = field(default_factory=list)
    """County copies removed tonight: their ``_prefecture`` file is gone."""
    error: str = ""
    """Why the feed as a whole could not be split (an unexpected error), else ""."""

    def counts(self) -> dict:
        """The feed's numbers and reasons as plain data (run metadata, the manifest)."""
        return {
            "files": self.files,
            "rows_read": self.rows_read,
            "assigned": dict(sorted(self.assigned.items())),
            "unassigned": self.unassigned,
            "unassigned_reasons": dict(self.reasons),
            "failed_files": dict(self.failed_files),
            "files_written": len(self.written),
            "files_removed": len(self.removed),
            "error": self.error,
        }


@dataclass
class SplitResult:
    """What :func:`split_prefecture_feeds` did, per feed."""

    feeds: dict[str, FeedSplit] = field(default_factory=dict)

    @property
    def unassigned(self) -> int:
        return sum(f.unassigned for f in self.feeds.values())

    @property
    def failed_files(self) -> dict[str, str]:
        """Every file no county got rows of, with why (``<feed>/<name>`` → reason)."""
        return {k: v for f in self.feeds.values() for k, v in f.failed_files.items()}

    @property
    def counties_changed(self) -> list[str]:
        """Counties with a split file written (or rewritten) tonight."""
        changed = [p for f in self.feeds.values() for p in (*f.written, *f.removed)]
        return sorted({p.parent.parent.name for p in changed})

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
            if f.removed:
                line += f"，删除 {len(f.removed)} 个已不在市级下发文件夹中的文件的拆分结果"
            if f.error:
                line += f"，拆分失败：{f.error}"
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


def _read(path: Path, root: Path, limits: Limits) -> tuple[bytes | None, str]:
    """The file's bytes, or None and why it is not read ("en / zh", as the loader's
    errors): the ingest's screening (warehouse/ingest.py ``_screen``) for a file no
    warehouse records. Never reads more than the size cap."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
            outside = not target.is_relative_to(root.resolve()) or not target.is_file()
        except (OSError, RuntimeError):
            outside = True
        if outside:
            return None, (
                "a symbolic link leading out of the prefecture folder (or to a folder); not "
                "followed / 该文件是指向市级下发文件夹以外位置（或文件夹）的快捷方式（符号链接），"
                "为防止读入其他位置的个人信息，未读取；请把文件本身放入该文件夹"
            )
    if path.suffix.lower() in UNSUPPORTED_SUFFIXES:
        return None, (
            f"unsupported format {path.suffix!r}; only .xlsx and .csv are read / "
            f"不支持的文件格式（{path.suffix}），未读取；请用Excel另存为“Excel工作簿（*.xlsx）”"
            "或CSV后重新报送"
        )
    try:
        check_file(path, limits)
        with open(path, "rb") as fh:
            data = fh.read(limits.max_file_bytes + 1)
    except LimitExceeded as exc:
        return None, f"{exc} / {exc.message_zh}"
    except OSError as exc:
        return None, (
            f"cannot open the file: {exc.strerror or exc} / "
            "无法打开该文件（可能正被其他程序占用或没有读取权限），本次未拆分，下次将重试"
        )
    if len(data) > limits.max_file_bytes:  # grew after the size check
        return None, (
            "file too large (it grew while read); not read / 文件过大（读取时仍在增大），未读取"
        )
    return data, ""


def _parse(
    spec: FeedSpec, path: Path, root: Path, limits: Limits
) -> tuple[ParsedFile | None, str, str]:
    """(parsed file or None, why not, sha256 of the bytes read or "")."""
    data, why = _read(path, root, limits)
    if data is None:
        return None, why, ""
    pf = parse_file(spec, path, root, data, limits)
    digest = hashlib.sha256(data).hexdigest()
    if pf.status == "failed" or pf.raw is None:
        return None, pf.error or "无法读取", digest
    return pf, "", digest


def _local_hukou(inbox: Path, counties: tuple[str, ...], limits: Limits) -> dict[str, str]:
    """ID → county from each county's own hukou files (not the split ones); a file
    that cannot be read is skipped here (the county's own run reports it)."""
    out: dict[str, str] = {}
    for county in counties:
        for path in inbox_files(inbox / county, "hukou"):
            if path.name.startswith(SPLIT_PREFIX):
                continue
            pf, _, _ = _parse(SPECS["hukou"], path, inbox / county, limits)
            if pf is None or pf.typed is None:
                continue
            for idn in pf.typed.filter(pl.col("id_number_problem").is_null())["id_number"]:
                out.setdefault(idn, county)
    return out


def split_prefecture_feeds(
    inbox: str | Path,
    counties: tuple[str, ...] | list[str],
    prefecture_dir: str | Path,
    key: str | None | bool = True,
    limits: Limits | None = None,
) -> SplitResult:
    """Split every feed under ``<inbox>/_prefecture/`` into the counties' inboxes.

    ``key``: True = the configured warehouse key encrypts the unassigned rows'
    Parquet (as :func:`warehouse.export.export_county`); None = plaintext (folder 0700).
    ``limits``: the caps a file must keep to be read (default ``BIDUI_MAX_*``, as
    the ingest). A file that fails is reported in :attr:`FeedSplit.failed_files`.
    """
    inbox = Path(inbox)
    counties = tuple(check_county_name(c) for c in counties)
    limits = limits or Limits.from_env()
    source = inbox / PREFECTURE_FOLDER
    result = SplitResult()
    if not source.is_dir():
        return result
    present = [f for f in FEEDS if inbox_files(source, f)]
    # hukou first: the other feeds are assigned through it.
    order = sorted(present, key=lambda f: f != "hukou")
    id_county: dict[str, str] = {}
    unassigned_frames: dict[str, list[pl.DataFrame]] = {}
    seen: dict[str, str] = {}
    for feed in order:
        fs = result.feeds[feed] = FeedSplit(feed)
        try:
            if feed != "hukou" and not id_county:
                id_county = _local_hukou(inbox, counties, limits)
            _split_feed(inbox, counties, source, fs, id_county, unassigned_frames, seen, limits)
        except Exception as exc:  # one feed's bug must not cost the others theirs
            log.exception("split: %s failed", feed)
            fs.error = f"{type(exc).__name__}: {exc}"
            unassigned_frames.pop(feed, None)
    copies = _remove_stale(inbox, source, prefecture_dir, result)
    _write_unassigned(prefecture_dir, unassigned_frames, resolve_key(key), result)
    _write_manifest(Path(prefecture_dir), seen, copies, result)
    for line in result.summary_zh():
        log.info("split: %s", line)
    return result


def _split_feed(
    inbox: Path,
    counties: tuple[str, ...],
    source: Path,
    fs: FeedSplit,
    id_county: dict[str, str],
    unassigned_frames: dict[str, list[pl.DataFrame]],
    seen: dict[str, str],
    limits: Limits,
) -> None:
    """Split the files of one feed (``fs.feed``) of ``source``; hukou fills ``id_county``."""
    feed = fs.feed
    spec = SPECS[feed]
    names = _target_names(source, feed)
    for path in inbox_files(source, feed):
        fs.files += 1
        pf, why, digest = _parse(spec, path, source, limits)
        rel = path.relative_to(source).as_posix()
        if digest:
            seen[rel] = digest
        if pf is None:
            fs.failed_files[rel] = why
            log.warning("split: %s not split: %s", rel, why)
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
            target = inbox / c / feed / names[path]
            if part.height == 0:
                target.unlink(missing_ok=True)  # tonight's export has none of c's rows
                continue
            fs.assigned[c] = fs.assigned.get(c, 0) + part.height
            fs.copies.append(target)
            if _write_if_changed(target, _csv_bytes(feed, part)):
                fs.written.append(target)
        rest = frame.filter(pl.col("county").is_null())
        if rest.height:
            fs.unassigned += rest.height
            fs.reasons.update(Counter(rest["reason"].to_list()))
            unassigned_frames.setdefault(feed, []).append(
                rest.drop("county", "load_id", strict=False)
            )
    if fs.rows_read != sum(fs.assigned.values()) + fs.unassigned:
        raise RuntimeError(f"{feed}: rows read and rows assigned or kept differ")


def _target_names(source: Path, feed: str) -> dict[Path, str]:
    """Each ``_prefecture`` file of ``feed`` → its county copy's name:
    ``市级下发_<stem>.csv``; when two files share a stem (``户籍.xlsx`` and
    ``户籍.csv``, or two sub-folders), each gets a short hash of its path too, so
    neither overwrites the other's rows."""
    paths = inbox_files(source, feed)
    stems = Counter(p.stem for p in paths)
    out = {}
    for p in paths:
        name = p.stem
        if stems[name] > 1:
            rel = p.relative_to(source).as_posix()
            name += "_" + hashlib.sha256(rel.encode()).hexdigest()[:8]
        out[p] = f"{SPLIT_PREFIX}{name}.csv"
    return out


def _remove_stale(
    inbox: Path, source: Path, prefecture_dir: str | Path, result: SplitResult
) -> list[str]:
    """Remove the county copies an earlier split wrote of ``_prefecture`` files that are
    no longer there (the county's rows of them go, as when its own file is removed);
    the inbox-relative copies there are now. Only files the manifest lists as the
    split's own are removed, never a county's file that happens to share the prefix."""
    keep = {feed: set(_target_names(source, feed).values()) for feed in FEEDS}
    errored = {f.feed for f in result.feeds.values() if f.error}
    previous = _read_manifest(prefecture_dir).get("copies", [])
    tonight = {p.relative_to(inbox).as_posix() for f in result.feeds.values() for p in f.copies}
    for rel in previous if isinstance(previous, list) else []:
        parts = Path(str(rel)).parts
        if len(parts) != 3 or str(rel) in tonight:
            continue
        _county, feed, name = parts
        if feed not in keep or feed in errored or name in keep[feed]:
            continue  # still delivered (perhaps unreadable tonight): the copy stays
        path = inbox / str(rel)
        if path.is_file() and not path.is_symlink():
            path.unlink()
            result.feeds.setdefault(feed, FeedSplit(feed)).removed.append(path)
    here = {str(r) for r in previous if isinstance(previous, list)} | tonight
    return sorted(r for r in here if (inbox / r).is_file())


def _read_manifest(prefecture_dir: str | Path) -> dict:
    try:
        body = json.loads((Path(prefecture_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def read_split_manifest(prefecture_dir: str | Path) -> dict[str, str]:
    """``_prefecture/``-relative path → sha256 of the files the last split read
    (failed ones included); empty when there is none or it is unreadable."""
    files = _read_manifest(prefecture_dir).get("files", {})
    if not isinstance(files, dict):
        return {}
    return {str(k): str(v) for k, v in files.items() if isinstance(v, str)}


def _write_manifest(
    prefecture_dir: Path, files: dict[str, str], copies: list[str], result: SplitResult
) -> None:
    """The files read, the county copies the split keeps, and the counts per feed
    (names, hashes, numbers and reasons: no personal data), replaced whole."""
    body = {
        "files": dict(sorted(files.items())),
        "copies": copies,
        "feeds": {feed: fs.counts() for feed, fs in result.feeds.items()},
        "finished_at": office_now().isoformat(timespec="seconds"),
    }
    prefecture_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=prefecture_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(body, fh, ensure_ascii=False, indent=0)
        os.replace(tmp, prefecture_dir / MANIFEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        for feed, fs in result.feeds.items():
            path = folder / f"{feed}.parquet"
            if fs.error:
                continue  # tonight's rows of it are unknown: the last file stays
            if feed not in frames:
                path.unlink(missing_ok=True)
                continue
            con.register("bd_unassigned", pl.concat(frames[feed], how="diagonal").to_arrow())
            write_parquet(con, "SELECT * FROM bd_unassigned", path, encrypted)
            con.unregister("bd_unassigned")
    finally:
        con.close()
