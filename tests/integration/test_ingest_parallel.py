"""The parse-ahead of a run (warehouse.ingest.ParseAhead): a child process parses the
next feeds' changed files while a feed is written. The warehouse must come out as
with every file parsed in its own load: same decisions, same rows."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import warehouse.ingest as ingest
from core.config import local_time
from tests.feeds_fixtures import (
    REGISTER_HEADER,
    loads_row,
    query,
    register_row,
    sample_rows,
    write_csv,
    write_xlsx,
)
from warehouse import connect, load_all, load_feed
from warehouse.ingest import ParseAhead

FEEDS = ["business", "hukou", "register", "tax"]  # in the order a run loads them
VOLATILE = {"loaded_at", "seen_at", "recorded_at", "run_id"}


def _first_night(inbox: Path) -> None:
    original = write_xlsx(inbox / "hukou" / "户籍.xlsx", sample_rows("hukou", 4))
    # Copies: sorted path "户籍 - 副本.xlsx" < "户籍.xlsx" < "旧/户籍.xlsx" decides.
    shutil.copy(original, inbox / "hukou" / "户籍 - 副本.xlsx")
    (inbox / "hukou" / "旧").mkdir()
    shutil.copy(original, inbox / "hukou" / "旧" / "户籍.xlsx")
    write_csv(inbox / "hukou" / "b.csv", sample_rows("hukou", 6, 姓名="王五"))
    # The same bytes under two years' folders (no 年度 column): two lists, both read.
    rows = [REGISTER_HEADER[1:], *[register_row(i)[1:] for i in range(5)]]
    write_xlsx(inbox / "register" / "2023" / "名单.xlsx", rows)
    (inbox / "register" / "2024").mkdir()
    shutil.copy(
        inbox / "register" / "2023" / "名单.xlsx", inbox / "register" / "2024" / "名单.xlsx"
    )
    write_xlsx(inbox / "tax" / "2024年个税.xlsx", sample_rows("tax", 7))
    write_csv(inbox / "business" / "市场主体.csv", sample_rows("business", 3))


def _second_night(inbox: Path) -> None:
    write_csv(inbox / "hukou" / "b.csv", sample_rows("hukou", 8, 姓名="赵六"))  # changed
    (inbox / "hukou" / "户籍 - 副本.xlsx").unlink()  # the next copy takes over
    write_xlsx(inbox / "tax" / "2025年个税.xlsx", sample_rows("tax", 9))  # new
    (inbox / "business" / "市场主体.csv").unlink()  # gone


def _tables(con) -> dict[str, list[tuple]]:
    """Every table's rows (sorted), without the columns that hold the time of the load."""
    out = {}
    for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall():
        cols = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                "AND database_name = current_database() ORDER BY column_index",
                [table],
            ).fetchall()
            if c not in VOLATILE
        ]
        select = ", ".join(f'"{c}"' for c in cols)
        out[table] = sorted(con.execute(f'SELECT {select} FROM "{table}"').fetchall(), key=repr)
    return out


def _load_ahead(con, inbox: Path, wait: int = 0, **kw) -> ParseAhead:
    """Load FEEDS with a parse-ahead; ``wait``: until its child has parsed so many
    files (else the loads of these small files may outrun its start)."""
    ahead = ParseAhead.for_run(con, inbox, FEEDS, processes=1, **kw)
    try:
        _wait_for(lambda: ahead.parsed_by_worker >= wait)
        for feed in FEEDS:
            load_feed(con, feed, inbox, ahead=ahead)
    finally:
        ahead.close()
    return ahead


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the parse process did not answer in time"
        time.sleep(0.05)


def test_same_warehouse_as_the_sequential_loads_night_after_night(tmp_path, inbox):
    seq = connect(tmp_path / "seq.duckdb")
    par = connect(tmp_path / "par.duckdb")
    try:
        for night in (_first_night, _second_night, lambda _: None):
            night(inbox)
            for feed in FEEDS:
                load_feed(seq, feed, inbox)
            ahead = _load_ahead(par, inbox, wait=2 if night is _first_night else 0)
            assert _tables(par) == _tables(seq), night
        # Nights 1 and 2 parsed files in the child (night 3 nothing: see below).
        assert query(par, "SELECT count(*) n FROM loads WHERE status = 'duplicate'")[0]["n"] == 1
        assert ahead.parsed_by_worker == 0
    finally:
        seq.close()
        par.close()


def test_the_child_parses_and_the_copies_go_by_path_order(con, inbox):
    _first_night(inbox)
    ahead = _load_ahead(con, inbox, wait=2)
    # Only the first file of each content is parsed at all: 5 of 8 files (the
    # register's second year is parsed by its load, as its year differs).
    assert 2 <= ahead.parsed_by_worker <= 5
    assert loads_row(con, "hukou/户籍 - 副本.xlsx")["status"] == "loaded"
    for copy in ("hukou/户籍.xlsx", "hukou/旧/户籍.xlsx"):
        load = loads_row(con, copy)
        assert load["status"] == "duplicate"
        assert "与文件“hukou/户籍 - 副本.xlsx”内容完全相同" in load["error"]
    for year in (2023, 2024):
        load = loads_row(con, f"register/{year}/名单.xlsx")
        assert (load["status"], load["rows_loaded"]) == ("loaded", 5)
    assert query(con, "SELECT count(*) n FROM hukou")[0]["n"] == 10


def test_a_quiet_night_parses_nothing(con, inbox, monkeypatch):
    _first_night(inbox)
    load_all(con, inbox, FEEDS)
    started, parsed = [], []
    real_process, real_parse = ingest._ParseProcess, ingest._read_and_parse

    def process():
        started.append(1)
        return real_process()

    def parse(*args):
        parsed.append(args[1])
        return real_parse(*args)

    monkeypatch.setattr(ingest, "_ParseProcess", process)
    monkeypatch.setattr(ingest, "_read_and_parse", parse)
    ahead = ParseAhead.for_run(con, inbox, FEEDS, processes=1)
    try:
        results = [load_feed(con, feed, inbox, ahead=ahead) for feed in FEEDS]
        assert ahead.done
    finally:
        ahead.close()
    assert all(not r.changed for r in results)
    assert (started, parsed, ahead.parsed_by_worker) == ([], [], 0)


def test_a_file_touched_after_it_was_parsed_is_parsed_again(con, inbox):
    path = write_csv(inbox / "hukou" / "h.csv", sample_rows("hukou", 3))
    ahead = ParseAhead.for_run(con, inbox, ["hukou"], processes=1)
    try:
        _wait_for(lambda: ahead.parsed_by_worker == 1)
        later = path.stat().st_mtime + 3600  # same bytes, another mtime (stored with the load)
        os.utime(path, (later, later))
        load_feed(con, "hukou", inbox, ahead=ahead)
    finally:
        ahead.close()
    load = loads_row(con, "hukou/h.csv")
    assert load["modified_at"] == local_time(later)
    assert load["rows_loaded"] == 3


def test_the_childs_log_lines_reach_the_load(con, inbox, monkeypatch, caplog):
    monkeypatch.setenv("BIDUI_MAX_ROWS", "5")
    write_csv(inbox / "hukou" / "many.csv", sample_rows("hukou", 8))
    ahead = ParseAhead.for_run(con, inbox, ["hukou"], processes=1)
    try:
        _wait_for(lambda: ahead.parsed_by_worker == 1)
        with caplog.at_level(logging.WARNING, logger="department_feeds.loader"):
            load_feed(con, "hukou", inbox, ahead=ahead)
    finally:
        ahead.close()
    assert loads_row(con, "hukou/many.csv")["status"] == "failed"
    assert any("too many rows" in r.getMessage() for r in caplog.records), caplog.records


def test_at_most_max_files_are_held_ahead(tmp_path, inbox, monkeypatch):
    _first_night(inbox)
    held = []
    real = ingest._ParseProcess.parse

    def parse(self, spec, *args):
        held.append(sum(1 for j in ahead._queue if j.by_worker and j.feed != ahead._loading))
        return real(self, spec, *args)

    monkeypatch.setattr(ingest._ParseProcess, "parse", parse)
    with connect(tmp_path / "one.duckdb") as con:
        ahead = ParseAhead.for_run(con, inbox, FEEDS, processes=1, max_files=1)
        try:
            time.sleep(3)  # the child runs ahead as far as it may before any load
            for feed in FEEDS:
                load_feed(con, feed, inbox, ahead=ahead)
        finally:
            ahead.close()
        assert held and max(held) <= 1, held
        with connect(tmp_path / "seq.duckdb") as seq:
            for feed in FEEDS:
                load_feed(seq, feed, inbox)
            assert _tables(con) == _tables(seq)


def test_a_dead_parse_process_leaves_the_files_to_the_loads(tmp_path, inbox, monkeypatch):
    _first_night(inbox)

    def dies(self, *args):
        raise ingest.ParseProcessError("the parse process stopped: killed")

    monkeypatch.setattr(ingest._ParseProcess, "parse", dies)
    with connect(tmp_path / "par.duckdb") as par, connect(tmp_path / "seq.duckdb") as seq:
        ahead = _load_ahead(par, inbox)
        for feed in FEEDS:
            load_feed(seq, feed, inbox)
        assert ahead.parsed_by_worker == 0
        assert _tables(par) == _tables(seq)


def test_a_runs_feed_steps_share_one_parse_ahead_and_close_it(tmp_path, inbox, monkeypatch):
    import dagster as dg

    from assets.feeds import _RUNS, FEED_ASSETS
    from assets.resources import BiduiResource

    monkeypatch.setenv("BIDUI_PARSE_PROCESSES", "1")  # whatever the machine's load
    _first_night(inbox)
    wh = tmp_path / "w" / "run.duckdb"
    bidui = BiduiResource(inbox=str(inbox), outbox=str(tmp_path / "out"), warehouse=str(wh))
    assets = [a for a in FEED_ASSETS if a.key.to_user_string() in FEEDS]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, resources={"bidui": bidui}, instance=instance)
        assert result.success
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(m.startswith("parse-ahead: ") for m in messages), messages
    assert _RUNS == {}  # closed after the last feed step: the child and the warehouse
    with connect(wh, read_only=True) as ro, connect(tmp_path / "seq.duckdb") as seq:
        for feed in FEEDS:
            load_feed(seq, feed, inbox)
        got, want = _tables(ro), _tables(seq)
    assert {t: r for t, r in got.items() if t != "feed_runs"} == {
        t: r for t, r in want.items() if t != "feed_runs"
    }


def test_parse_processes_follow_the_setting_and_the_idle_cores(monkeypatch):
    monkeypatch.setenv("BIDUI_PARSE_PROCESSES", "0")
    assert ingest.parse_processes() == 0
    monkeypatch.setenv("BIDUI_PARSE_PROCESSES", "1")
    assert ingest.parse_processes() == 1
    monkeypatch.delenv("BIDUI_PARSE_PROCESSES")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1})
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert ingest.parse_processes() == 1  # an idle core: parse beside the loads
    monkeypatch.setattr(os, "getloadavg", lambda: (3.5, 3.5, 3.5))
    assert ingest.parse_processes() == 0  # a busy machine: the loads parse alone
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert ingest.parse_processes() == 0


def test_frames_pass_through_a_private_shm_folder_left_clean(con, inbox, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "SHM", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    dead = tmp_path / "shm" / "bidui-parse-999999999-abc"  # a killed run's leftovers
    dead.mkdir()
    (dead / "x.arrow").write_bytes(b"rows")
    write_csv(inbox / "hukou" / "h.csv", sample_rows("hukou", 3))
    ahead = ParseAhead.for_run(con, inbox, ["hukou"], processes=1)
    try:
        _wait_for(lambda: ahead.parsed_by_worker == 1)
        (folder,) = (tmp_path / "shm").iterdir()  # ours; the dead run's is gone
        assert folder.name.startswith(f"bidui-parse-{os.getpid()}-")
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        load_feed(con, "hukou", inbox, ahead=ahead)
        assert list(folder.iterdir()) == []  # read and removed at once
    finally:
        ahead.close()
        for t in ahead._threads:
            t.join(30)
    assert list((tmp_path / "shm").iterdir()) == []
    assert loads_row(con, "hukou/h.csv")["rows_loaded"] == 3


def test_no_shm_files_for_an_encrypted_warehouse(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "SHM", tmp_path)
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", "k" * 32)
    assert ingest._shm_folder() is None  # the frames are pickled through the socket
    monkeypatch.delenv("BIDUI_WAREHOUSE_KEY")
    assert ingest._shm_folder() is not None
