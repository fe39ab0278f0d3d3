"""Find a feed's header row in a sheet and map its cells to fields.

The header row is the first row within the top :data:`~department_feeds.reading.HEAD_ROWS`
that holds every header-required column of the feed (canonical header or alias,
compared after :func:`~department_feeds.spec.normalise_header`). Title rows above
it are ignored. A second header row directly below (sub-headers under a merged
parent cell such as ``收入情况``) is merged in when it names at least two more
fields, or when the required headers are complete only with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from department_feeds.reading import HEAD_ROWS
from department_feeds.spec import FeedSpec, normalise_header

_YUAN = "(元)"
_WAN = "(万元)"


@dataclass(frozen=True)
class HeaderEntry:
    field: str
    rank: int
    """0 for the canonical header, then aliases in their listed order: when two
    source columns name the same field the lower rank (then the leftmost) wins."""
    inverted: bool
    wan: bool = False
    """The header names the unit 万元 (``收入额(万元)``) on a yuan column."""


@dataclass
class HeaderMatch:
    """Where the header is and what each source column means."""

    row: int
    """0-based index of the header row (Excel row ``row + 1``)."""
    data_start: int
    """0-based index of the first data row."""
    fields: dict[int, str] = field(default_factory=dict)
    """Source column index → field."""
    inverted: set[str] = field(default_factory=set)
    """Fields read through an inverted alias (住房是否安全 → is_dangerous_house)."""
    wan: set[str] = field(default_factory=set)
    """Yuan fields whose header gives the unit as 万元: plain numbers are ×10000."""
    headers: dict[int, str] = field(default_factory=dict)
    """Source column index → header text as written (stripped), every non-blank cell."""
    missing: list[str] = field(default_factory=list)
    """Canonical headers of header-required columns that were not found."""
    conflicts: list[tuple[str, int, int, int]] = field(default_factory=list)
    """(field, used column, other column, rows that differ): a field named by two
    columns whose contents differ (set by the loader once it has the rows)."""

    @property
    def mapping(self) -> dict[str, str]:
        """Source header text → field, for ``loads.header_mapping``."""
        return {self.headers.get(j, f"#{j}"): f for j, f in sorted(self.fields.items())}


_LOOKUPS: dict[str, dict[str, HeaderEntry]] = {}


def lookup(spec: FeedSpec) -> dict[str, HeaderEntry]:
    """Normalised header → entry, over canonical headers, aliases, inverted aliases."""
    cached = _LOOKUPS.get(spec.name)
    if cached is not None:
        return cached
    table: dict[str, HeaderEntry] = {}
    for col in spec.columns:
        names = [(h, False) for h in (col.header, *col.aliases)]
        names += [(h, True) for h in col.inverted_aliases]
        for rank, (h, inverted) in enumerate(names):
            table.setdefault(normalise_header(h), HeaderEntry(col.field, rank, inverted))
    _LOOKUPS[spec.name] = table
    return table


def _entry(spec: FeedSpec, text: str | None) -> HeaderEntry | None:
    if text is None:
        return None
    key = normalise_header(text)
    if not key:
        return None
    table = lookup(spec)
    hit = table.get(key)
    if hit is None and key.endswith(_YUAN):
        # ``收入额(元)``: a yuan unit on a money column is just the unit.
        base = table.get(key[: -len(_YUAN)])
        if base is not None and spec.column(base.field).kind == "money":
            hit = HeaderEntry(base.field, base.rank + 100, base.inverted)
    if hit is None and key.endswith(_WAN):
        # ``收入额(万元)``: the same money column counted in units of 10,000 yuan.
        base = table.get(key[: -len(_WAN)])
        if base is not None and spec.column(base.field).kind == "money":
            hit = HeaderEntry(base.field, base.rank + 100, base.inverted, wan=True)
    return hit


def duplicate_columns(spec: FeedSpec, match: HeaderMatch) -> list[tuple[str, int, int]]:
    """(field, used column, other column) for header cells that name a field already
    taken by another column (two 证件号码 columns, or 证件号码 and 身份证号)."""
    used = {f: j for j, f in match.fields.items()}
    out = []
    for j, text in sorted(match.headers.items()):
        e = _entry(spec, text)
        if e is not None and j not in match.fields and e.field in used:
            out.append((e.field, used[e.field], j))
    return out


def match_row(spec: FeedSpec, cells: list[str | None]) -> dict[int, HeaderEntry]:
    """Column index → entry for the cells of one row; one column per field."""
    best: dict[str, tuple[int, HeaderEntry]] = {}
    for j, text in enumerate(cells):
        e = _entry(spec, text)
        if e is None:
            continue
        prev = best.get(e.field)
        if prev is None or e.rank < prev[1].rank:
            best[e.field] = (j, e)
    return {j: e for j, e in best.values()}


def required_fields(spec: FeedSpec) -> list[str]:
    return [c.field for c in spec.columns if c.header_required]


def find_header(spec: FeedSpec, head: list[list[str | None]]) -> HeaderMatch:
    """The header of a sheet; ``missing`` is non-empty when none was found.

    When no row holds every required header, the row with the most required
    headers stands in (its ``missing`` names what is absent) so the caller can
    say what was missing and count the rows below it.
    """
    required = required_fields(spec)
    best: tuple[int, int, int] | None = None  # (required found, all found, row)
    for i, cells in enumerate(head[:HEAD_ROWS]):
        found = match_row(spec, cells)
        names = {e.field for e in found.values()}
        hits = sum(f in names for f in required)
        if hits == len(required):
            return _complete(spec, head, i, found)
        if names and i + 1 < len(head):
            # Two header rows: required sub-headers under a merged parent cell.
            below_found = match_row(spec, head[i + 1])
            below = {e.field for e in below_found.values()}
            if not all(f in below for f in required) and all(f in names | below for f in required):
                return _complete(spec, head, i, found, merge=True)
        score = (hits, len(names), -i)
        if names and (best is None or score > best):
            best = score
    if best is None:
        return HeaderMatch(row=-1, data_start=0, missing=[spec.column(f).header for f in required])
    row = -best[2]
    found = match_row(spec, head[row])
    names = {e.field for e in found.values()}
    return HeaderMatch(
        row=row,
        data_start=row + 1,
        fields={j: e.field for j, e in found.items()},
        headers=_header_texts(head[row]),
        missing=[spec.column(f).header for f in required if f not in names],
    )


def _header_texts(cells: list[str | None]) -> dict[int, str]:
    return {j: str(t).strip() for j, t in enumerate(cells) if t is not None and str(t).strip()}


def _complete(
    spec: FeedSpec,
    head: list[list[str | None]],
    row: int,
    found: dict[int, HeaderEntry],
    merge: bool = False,
) -> HeaderMatch:
    headers = _header_texts(head[row])
    data_start = row + 1
    if row + 1 < len(head):
        below = head[row + 1]
        taken = {e.field for e in found.values()}
        extra = {
            j: e
            for j, e in match_row(spec, below).items()
            if j not in found and e.field not in taken
        }
        if len(extra) >= 2 or (merge and extra):
            found = {**found, **extra}
            for j, t in _header_texts(below).items():
                headers[j] = f"{headers[j]}/{t}" if j in headers and j not in extra else t
            data_start = row + 2
    return HeaderMatch(
        row=row,
        data_start=data_start,
        fields={j: e.field for j, e in found.items()},
        inverted={e.field for e in found.values() if e.inverted},
        wan={e.field for e in found.values() if e.wan},
        headers=headers,
    )
