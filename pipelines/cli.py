"""``bidui`` — the command line: generate a county, run the nightly graph, demo."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from assets.resources import (
    CLI_LOCK_WAIT_S,
    BiduiResource,
    RunBusy,
    check_layout,
    hold_run_locks,
    lock_wait_s,
    run_lock,
    write_county_status,
)
from checks.thresholds import ThresholdsError, load_thresholds
from core.config import (
    LOCAL_DIR,
    PREFECTURE_FOLDER,
    PROJECT_ROOT,
    CountyNameError,
    KeyConfigError,
    Settings,
    check_county_name,
    warehouse_key,
    warehouse_old_key,
)
from core.office_crypto import PasswordsError, configured_passwords
from core.sqlite_commits import quick_sqlite_commits
from department_feeds import FEEDS
from department_feeds.limits import Limits
from pipelines.jobs import (
    COUNTIES,
    NIGHT_TAG,
    NIGHTLY_JOB_NAME,
    PHASE_JOBS,
    PHASE_TAG,
    PHASES,
    PREFECTURE_JOB,
)
from rectification.status import accept_waivers, pending_waivers
from warehouse import connect
from warehouse.connection import WarehouseKeyError, WarehouseLockedError
from warehouse.rekey import convert
from warehouse.split import SplitResult, split_prefecture_feeds

log = logging.getLogger("bidui")


_DERIVED_HOME = ""  # the DAGSTER_HOME this process derived (not one the user set)


def instance_home(warehouse: Path | None = None) -> Path:
    """The Dagster instance folder for ``warehouse``: an explicit ``$DAGSTER_HOME``
    wins; else the default warehouse keeps ``.local/dagster_home`` and any other
    warehouse gets ``<warehouse>.dagster/`` beside it, so a failed test run never
    shows on the production dashboard."""
    explicit = os.environ.get("DAGSTER_HOME")
    if explicit and explicit != _DERIVED_HOME:
        return Path(explicit).expanduser().resolve()
    default = (LOCAL_DIR / "warehouse.duckdb").resolve()
    if warehouse is None or Path(warehouse).resolve() == default:
        return (LOCAL_DIR / "dagster_home").resolve()
    warehouse = Path(warehouse).resolve()
    return warehouse.with_name(warehouse.name + ".dagster")


def dagster_home(warehouse: Path | None = None) -> Path:
    """``instance_home(warehouse)``, created, holding a copy of dagster.yaml; exported
    as ``$DAGSTER_HOME`` for this process and the processes it starts."""
    global _DERIVED_HOME
    home = instance_home(warehouse)
    home.mkdir(parents=True, exist_ok=True)
    src = PROJECT_ROOT / "dagster.yaml"
    dst = home / "dagster.yaml"
    if src.exists() and (not dst.exists() or dst.read_bytes() != src.read_bytes()):
        shutil.copyfile(src, dst)
    if os.environ.get("DAGSTER_HOME") in (None, "", _DERIVED_HOME):
        _DERIVED_HOME = str(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_generate(args: argparse.Namespace) -> int:
    from demo import generate, generate_prefecture  # lazy: `bidui run` never needs demo

    out = Path(args.out_dir)
    if args.counties:
        done = generate_prefecture(
            out,
            counties=args.counties,
            households=args.households,
            seed=args.seed,
            problems_per_rule=args.problems_per_rule,
            export_format=args.format,
            mixed=args.mixed,
            run_date=args.run_date,
            prefecture_wide=args.prefecture_wide,
        )
        print(
            f"generated a prefecture of {len(done.names)} counties in {out}: {', '.join(done.names)}"
        )
        print(f"  inbox:  {done.inbox}  (one folder per county)")
        print(f"  cross-county truth: {done.cross_truth_csv} ({done.cross_rows} rows)")
        print(f"  run it: bidui run --inbox {done.inbox} --outbox OUTBOX --warehouse DIR/x.duckdb")
        return 0
    summary = generate(
        out,
        households=args.households,
        seed=args.seed,
        problems_per_rule=args.problems_per_rule,
        export_format=args.format,
        mixed=args.mixed,
        run_date=args.run_date,
    )
    print(f"generated county in {out}: {summary}")
    print(f"  inbox:  {out / 'inbox'}")
    print(f"  truth:  {out / 'truth.csv'}")
    return 0


def run_pipeline(
    inbox: Path,
    outbox: Path,
    warehouse: Path,
    run_date: date | None,
    thresholds: str = "",
    log_level: str = "WARNING",
    progress: bool = False,
    summary: list[str] | None = None,
    county: str = "",
    job_name: str = NIGHTLY_JOB_NAME,
    tags: dict[str, str] | None = None,
    run_id: str = "",
) -> tuple[bool, str]:
    """Run the nightly job once, in process, recorded in the Dagster instance.

    With ``county``, the job ``job_name`` (a phase) on that county's partition: the
    paths stay the prefecture's, the run works on the county's (``Settings.for_county``).

    The run locks (warehouse and outbox, see assets/resources.py) are taken
    before the job is launched: a busy warehouse is refused with one line naming
    the holder, and no failed run is recorded. On failure the message names the
    failing step and the root cause (disk full, permission denied, …), one line.
    Dagster's step-by-step console log is kept to warnings (``-v`` shows it all);
    every event is still stored in the instance and visible in the UI. ``progress``
    prints one line per asset step as it starts; ``summary``, when given, receives
    the short account of a successful night (feeds, findings, rules not run)."""
    import uuid

    dagster_home(warehouse)
    run_id = run_id or str(uuid.uuid4())
    wait = lock_wait_s(CLI_LOCK_WAIT_S)
    own = Settings(inbox, outbox, warehouse)
    own = own.for_county(county) if county else own
    try:
        with hold_run_locks(own.warehouse, own.outbox, run_id, wait):
            try:
                return _execute(
                    inbox,
                    outbox,
                    warehouse,
                    run_date,
                    thresholds,
                    log_level,
                    run_id,
                    progress,
                    summary,
                    county,
                    job_name,
                    tags,
                )
            finally:
                # Teardown removes it too; this covers an interrupt between steps.
                shutil.rmtree(own.outbox / ".staging" / run_id, ignore_errors=True)
    except RunBusy as exc:
        return False, str(exc)


def _execute(
    inbox: Path,
    outbox: Path,
    warehouse: Path,
    run_date: date | None,
    thresholds: str,
    log_level: str,
    run_id: str,
    progress: bool = False,
    summary: list[str] | None = None,
    county: str = "",
    job_name: str = NIGHTLY_JOB_NAME,
    tags: dict[str, str] | None = None,
    definitions=None,
) -> tuple[bool, str]:
    import dagster as dg

    # lazy: builds every asset and check (~1 s)
    from pipelines.definitions import county_definitions, defs

    if definitions is not None:
        defs = definitions
    elif county:
        defs = county_definitions()

    config = {
        "inbox": str(inbox),
        "outbox": str(outbox),
        "warehouse": str(warehouse),
        "run_date": run_date.isoformat() if run_date else "",
        "thresholds": thresholds,
    }
    job = defs.resolve_job_def(job_name)
    own_warehouse = (
        Settings(inbox, outbox, warehouse).for_county(county).warehouse if county else warehouse
    )
    # One sync per run instead of per event: most of a small county's run time was
    # Dagster's SQLite commits (core/sqlite_commits.py). Open before the instance, so
    # a first night's instance files are created with one sync each too.
    home = os.environ.get("DAGSTER_HOME", "")
    with contextlib.ExitStack() as stack:
        if home:
            stack.enter_context(quick_sqlite_commits(home))
        instance = stack.enter_context(dg.DagsterInstance.get())
        if not home:  # pragma: no cover - DagsterInstance.get() needs DAGSTER_HOME
            stack.enter_context(quick_sqlite_commits(instance.root_directory))
        for listener in _run_listeners(job, progress):
            instance.add_event_listener(run_id, listener)
        result = job.execute_in_process(
            run_config={
                "resources": {"bidui": {"config": config}},
                "loggers": {"console": {"config": {"log_level": log_level}}},
            },
            instance=instance,
            raise_on_error=False,
            run_id=run_id,
            tags={"bidui/trigger": "cli", "bidui/warehouse": str(own_warehouse), **(tags or {})},
            **({"partition_key": county} if county else {}),
        )
        failed_checks = [
            f"{e.asset_check_evaluation_data.asset_key.to_user_string()}:"
            f"{e.asset_check_evaluation_data.check_name}"
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and not e.asset_check_evaluation_data.passed
            and e.asset_check_evaluation_data.severity.value == "ERROR"
        ]
        if result.success:
            if summary is not None:
                summary.extend(summarise(result.all_events))
            return True, result.run_id
        errors = [
            f"{e.step_key}: {root_cause(e.event_specific_data.error)}"
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
            # a failed blocking check is named below, with its asset
            and e.event_specific_data.error.cls_name != "DagsterAssetCheckFailedError"
        ]
        if (
            not errors and not failed_checks
        ):  # failed outside a step (resource set-up): the run's own error
            errors = [
                root_cause(err)
                for e in result.all_events
                if (err := getattr(e.event_specific_data, "error", None)) is not None
            ][:1]
        msg = "; ".join(errors + [f"blocking check failed: {c}" for c in failed_checks])
        if failed_checks and not errors:
            msg += " (see the check in the Dagster UI, or run with -v) / 数据检查未通过，未发布"
        return False, msg or f"run {result.run_id} failed"


def _asset_steps() -> list[str]:
    """Step keys of the job's assets (checks are not shown as progress)."""
    from pipelines.definitions import defs  # lazy: builds every asset and check (~1 s)

    return [k.to_python_identifier() for k in defs.resolve_asset_graph().get_all_asset_keys()]


def _run_listeners(job, progress: bool) -> list:
    """The instance event listeners of a CLI run: the progress lines, and the start of
    GX's import when the job has data_docs."""
    from assets.expectations import DATA_DOCS_KEY  # lazy: with the definitions

    listeners = [_progress_printer(_asset_steps())] if progress else []
    if DATA_DOCS_KEY in (getattr(job.asset_layer, "executable_asset_keys", None) or ()):
        listeners.append(_on_first_step(_preload_gx))
    return listeners


def _preload_gx() -> None:
    """GX's ~3 s import on a thread while the feeds load, not inside data_docs (the feed
    assets start it only for a run naming data_docs in its asset selection, and a
    ``bidui run`` of the whole job has an empty one)."""
    from checks.expectations import preload_gx  # lazy: pandas and duckdb, for runs only

    preload_gx()


def _on_first_step(action):
    """An instance event listener calling ``action`` once, when the first step starts
    (the feeds: their time is mostly outside Python, so a thread's import overlaps)."""
    done: list[bool] = []

    def on_event(entry) -> None:
        event = entry.dagster_event
        if done or event is None or event.event_type_value != "STEP_START":
            return
        done.append(True)
        action()

    return on_event


def _progress_printer(steps: list[str]):
    """An instance event listener printing ``[3/15] findings …`` when an asset step starts."""
    seen: list[str] = []

    def on_event(entry) -> None:
        event = entry.dagster_event
        if event is None or event.event_type_value != "STEP_START":
            return
        step = event.step_key or ""
        if step in steps and step not in seen:
            seen.append(step)
            # Progress is decoration: a closed or full stdout must not fail the run.
            with contextlib.suppress(OSError, ValueError):
                print(f"[{len(seen)}/{len(steps)}] {step} …", flush=True)

    return on_event


def summarise(events) -> list[str]:
    """The night in a few lines, from the run's own events: rows per feed, findings
    by category, rules not run grouped by reason."""
    feeds: dict[str, tuple[int, int, int]] = {}
    by_category: dict[str, int] = {}
    not_run: dict[str, list[str]] = {}
    for e in events:
        if e.event_type_value == "ASSET_MATERIALIZATION":
            m = e.event_specific_data.materialization
            name = m.asset_key.to_user_string()
            meta = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
            if name in FEEDS and "rows_loaded" in meta:
                feeds[name] = (
                    int(meta["rows_loaded"]),
                    int(meta.get("rows_rejected") or 0),
                    int(meta.get("files") or 0),
                )
        elif e.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = e.asset_check_evaluation_data
            if ev.asset_key.to_user_string() != "findings":
                continue
            meta = {k: getattr(v, "value", v) for k, v in ev.metadata.items()}
            if "ran" not in meta:
                continue
            if not meta["ran"]:
                reason = str(meta.get("not_run_reason") or "no data")
                not_run.setdefault(reason, []).append(ev.check_name)
            elif meta.get("findings"):
                cat = str(meta.get("category") or "?")
                by_category[cat] = by_category.get(cat, 0) + int(meta["findings"])
    lines = []
    parts = [
        f"{f} {feeds[f][0]}/{feeds[f][1]}" if feeds[f][2] else f"{f} (no file)"
        for f in FEEDS
        if f in feeds
    ]
    missing = [f for f in FEEDS if f not in feeds]
    lines.append("  feeds (rows loaded/rejected): " + (", ".join(parts) or "none"))
    if missing:
        lines.append("  feeds not loaded: " + ", ".join(missing))
    total = sum(by_category.values())
    cats = ", ".join(f"{c} {n}" for c, n in sorted(by_category.items(), key=lambda x: -x[1]))
    lines.append(f"  findings: {total}" + (f" ({cats})" if cats else ""))
    count = sum(len(v) for v in not_run.values())
    if not count:
        lines.append("  rules not run: none")
    else:
        reasons = "; ".join(
            f"{len(codes)} × {reason[:80]} [{', '.join(codes[:3])}{' …' if len(codes) > 3 else ''}]"
            for reason, codes in sorted(not_run.items())[:4]
        )
        if len(not_run) > 4:
            reasons += f"; {len(not_run) - 4} more reasons"
        lines.append(f"  rules not run: {count} ({reasons})")
    return lines


def root_cause(error) -> str:
    """The first line of the innermost cause of a (serialised) Dagster error:
    "OSError: [Errno 28] No space left on device", not "Error occurred while
    executing op …"."""
    while True:
        nxt = error.cause or (error.context if error.cls_name.startswith("Dagster") else None)
        if nxt is None:
            break
        error = nxt
    lines = [ln.strip() for ln in (error.message or "").splitlines() if ln.strip()]
    return lines[0] if lines else error.cls_name


def check_run_date(raw: str | None, today: date) -> tuple[date | None, str]:
    """The ``--run-date`` value, or an error line. The finding history only moves
    forward, so a date after today would block every later night."""
    if not raw:
        return None, ""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, (
            f"run date {raw!r} is not a date (YYYY-MM-DD) / 比对日期 {raw} 格式错误，应为 YYYY-MM-DD"
        )
    if day < date(2000, 1, 1):
        return None, f"run date {raw} is before 2000 / 比对日期 {raw} 早于2000年，请检查"
    if day > today:
        return None, (
            f"run date {raw} is after today ({today}); the finding history only moves "
            f"forward, so a future date would block every later night / "
            f"比对日期 {raw} 晚于今天，不能使用将来的日期"
        )
    return day, ""


def check_writable_folder(path: Path, what: str, what_zh: str) -> str:
    """An error line if ``path`` cannot be created or written, else ""."""
    try:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder")
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".bidui-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = exc.strerror or str(exc)
        return f"{what} {path} is not writable ({why}) / {what_zh}不可写：{path}（{why}）"
    return ""


def check_lock_wait() -> str:
    """An error line if ``$BIDUI_RUN_LOCK_WAIT`` is not a number of seconds, else ""."""
    try:
        lock_wait_s(CLI_LOCK_WAIT_S)
    except ValueError as exc:
        return f"{exc} / 环境变量 BIDUI_RUN_LOCK_WAIT 应为等待秒数"
    return ""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def check_configuration(thresholds: str) -> str:
    """An error line for configuration a run would fail on deep inside Dagster
    (hundreds of lines later), else "": the thresholds file, the ``BIDUI_MAX_*``
    limits, the warehouse key, the workbook passwords file."""
    try:
        load_thresholds(thresholds or None)
    except ThresholdsError as exc:
        return (
            f"{_one_line(exc)} — fix the file, or pass the right one with --thresholds "
            f"(or BIDUI_THRESHOLDS) / 请修改阈值配置文件，或用 --thresholds 指定正确的文件"
        )
    try:
        Limits.from_env()
    except ValueError as exc:
        return (
            f"{_one_line(exc)} — set it to a number greater than 0, or unset it for the "
            f"default / 环境变量取值错误（{_one_line(exc)}），应为大于0的数字，或删除该设置"
        )
    try:
        warehouse_key()
    except KeyConfigError as exc:
        return (
            f"warehouse key: {_one_line(exc)} / 数据仓库密钥配置错误，"
            f"请检查 BIDUI_WAREHOUSE_KEY 或 BIDUI_WAREHOUSE_KEY_FILE"
        )
    try:
        configured_passwords()
    except (PasswordsError, OSError) as exc:
        return (
            f"{_one_line(exc)} — fix the file or unset BIDUI_WORKBOOK_PASSWORDS / "
            f"乡镇工作簿密码文件有误，请检查 BIDUI_WORKBOOK_PASSWORDS 指定的文件"
        )
    return ""


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(
        p.is_file() and not p.name.startswith((".", "~$")) for p in folder.rglob("*")
    )


def _describe_inbox(inbox: Path, feeds: tuple[str, ...], first: int = 4) -> str:
    """The inbox's top-level entries, first few, a folder with the feed folders
    inside it named with what it contains: ``2026-11/ (contains register/, hukou/ …)``."""
    try:
        entries = sorted(p for p in inbox.iterdir() if not p.name.startswith("."))
    except OSError:
        return "nothing (the inbox cannot be read)"
    if not entries:
        return "nothing (the inbox is empty)"
    shown = []
    for p in entries[:first]:
        if not p.is_dir():
            shown.append(p.name)
            continue
        inner = [f"{f}/" for f in feeds if (p / f).is_dir()]
        more = " …" if len(inner) > 2 else ""
        shown.append(f"{p.name}/" + (f" (contains {', '.join(inner[:2])}{more})" if inner else ""))
    rest = f" and {len(entries) - first} more" if len(entries) > first else ""
    return ", ".join(shown) + rest


def check_inbox_layout(inbox: Path) -> str:
    """An error line when the inbox holds no register file, else "": every rule needs
    the register, so such a run would publish an empty day with every rule not run."""
    if _has_files(inbox / "register"):
        return ""
    looked = " ".join(f"{f}/" for f in FEEDS)
    found = _describe_inbox(inbox, FEEDS)
    return (
        f"no register file in the inbox {inbox}: looked for the folders {looked}; "
        f"found: {found} — put the feed folders directly in the inbox "
        f"(e.g. {inbox / 'register'}/) / 收件箱中没有建档立卡名单（register/ 文件夹）；"
        f"应有的文件夹：{looked}；实际找到：{found}；请把各数据源文件夹直接放在收件箱下"
    )


def pick_counties(settings: Settings, county: str | None) -> tuple[list[str], str]:
    """The counties to run (``[]``: the single-county layout), or an error line."""
    try:
        found = list(settings.counties(FEEDS))
        if not county:
            return found, ""
        name = check_county_name(county)
    except CountyNameError as exc:
        return [], f"{exc} (BIDUI_COUNTIES or --county)"
    if not (settings.inbox / name).is_dir():
        return [], (
            f"county {name}: no folder {settings.inbox / name} in the inbox / "
            f"收件箱中没有该县的文件夹：{settings.inbox / name}"
        )
    return [name], ""


def cmd_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(args.inbox, args.outbox, args.warehouse)
    if not settings.inbox.is_dir():
        print(
            f"error: inbox {settings.inbox} does not exist; pass --inbox or set BIDUI_INBOX "
            f"/ 收件箱不存在：{settings.inbox}，请用 --inbox 指定",
            file=sys.stderr,
        )
        return 2
    run_date, problem = check_run_date(args.run_date, _today())
    if not problem:
        home = instance_home(settings.warehouse)
        problem = (
            check_layout(settings.inbox, settings.outbox, settings.warehouse)
            or check_writable_folder(settings.outbox, "outbox", "输出目录")
            or check_writable_folder(settings.warehouse.parent, "warehouse folder", "数据仓库目录")
            or check_writable_folder(
                home, "Dagster instance folder (DAGSTER_HOME)", "Dagster 实例目录"
            )
            or check_lock_wait()
            or check_configuration(args.thresholds or "")
        )
    counties: list[str] = []
    if not problem:
        counties, problem = pick_counties(settings, args.county)
    if not problem and not counties:
        # Last: the other checks name what to fix in the set-up, this one the inbox.
        problem = check_inbox_layout(settings.inbox)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if counties:
        signal.signal(signal.SIGTERM, lambda *_: signal.default_int_handler(signal.SIGINT, None))
        try:
            return run_counties(
                settings,
                counties,
                run_date or _today(),
                args.thresholds or "",
                args.jobs or os.cpu_count() or 1,
                args.verbose,
            )
        except KeyboardInterrupt:
            print("error: bidui run interrupted / 比对任务被中断", file=sys.stderr)
            return 130
        except RunBusy as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    # SIGTERM (a service stop, a kill) unwinds like Ctrl-C: the run is marked failed,
    # its staging folder removed and the locks released.
    signal.signal(signal.SIGTERM, lambda *_: signal.default_int_handler(signal.SIGINT, None))
    summary: list[str] = []
    try:
        ok, info = run_pipeline(
            settings.inbox,
            settings.outbox,
            settings.warehouse,
            run_date,
            args.thresholds or "",
            # The failing step and its root cause are printed as one line below; Dagster's
            # own error log (with stack traces) is for -v and the UI.
            log_level="DEBUG" if args.verbose else "CRITICAL",
            progress=not args.verbose,
            summary=summary,
        )
    except KeyboardInterrupt:
        print(
            "error: bidui run interrupted; nothing was published / 比对任务被中断，未发布",
            file=sys.stderr,
        )
        return 130
    if not ok:
        prefix = "" if info.startswith("another bidui run") else "bidui run failed: "
        print(f"error: {prefix}{info}", file=sys.stderr)
        return 1
    day = (run_date or _today()).isoformat()
    print(f"run {info} succeeded ({day})")
    for line in summary:
        print(line)
    print(f"  outputs:   {settings.outbox / day}")
    print(f"  warehouse: {settings.warehouse}")
    print(f"  Dagster:   {home}  (bidui ui --warehouse {settings.warehouse})")
    return 0


def _today() -> date:
    return BiduiResource().run_day


# ------------------------------------------------------------------ many counties
# `bidui run` on a multi-county inbox: split the prefecture-wide feeds, then each
# phase (pipelines.jobs.PHASES) with one child process per county run, up to
# --jobs at once. A county that fails (or whose process dies) fails alone: the
# others go on and publish; the summary and the exit code say which and why.


@dataclass
class CountyRun:
    """One county's run of one phase, in a child process."""

    county: str
    phase: str
    run_id: str
    ok: bool = False
    error: str = ""
    summary: list[str] = field(default_factory=list)
    seconds: float = 0.0
    max_rss_mb: float = 0.0
    """Peak resident memory of the county's process (the issue's goal: < 2 GB)."""


def _signal_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"the county's process was killed ({signal.Signals(-code).name})"
        return f"the county's process was killed (signal {-code})"
    return f"the county's process ended with exit code {code}"


def _mark_run_failed(run_id: str, message: str) -> None:
    """A child killed mid-run leaves its run STARTED in the instance: fail it, so the
    UI and the prefecture's statuses show it."""
    import dagster as dg  # lazy: the CLI starts without Dagster for most commands

    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            instance.report_run_failed(run, message)


def run_county_phase(
    settings: Settings,
    counties: list[str],
    phase: str,
    run_date: date,
    thresholds: str,
    jobs: int,
    verbose: bool,
) -> dict[str, CountyRun]:
    """``phase`` for every county, each in its own ``bidui _county`` process, at most
    ``jobs`` at once; a child's output goes to ``<warehouse dir>/counties/<county>.log``."""
    import subprocess
    import uuid

    pending = list(counties)
    running: dict[str, tuple[subprocess.Popen, CountyRun, Path, float]] = {}
    done: dict[str, CountyRun] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bidui-counties-"))
    try:
        while pending or running:
            while pending and len(running) < max(jobs, 1):
                county = pending.pop(0)
                one = settings.for_county(county)
                problem = check_inbox_layout(one.inbox) if phase == "ingest" else ""
                if problem:
                    done[county] = CountyRun(county, phase, "", error=problem)
                    _print_county(done[county])
                    continue
                run = CountyRun(county, phase, str(uuid.uuid4()))
                result = tmp / f"{run.run_id}.json"
                argv = [sys.executable, "-m", "pipelines.cli", *(["-v"] if verbose else [])]
                argv += ["_county", county, "--phase", phase, "--run-id", run.run_id]
                argv += ["--inbox", str(settings.inbox), "--outbox", str(settings.outbox)]
                argv += ["--warehouse", str(settings.warehouse), "--result", str(result)]
                argv += ["--run-date", run_date.isoformat(), "--thresholds", thresholds]
                one.warehouse.parent.mkdir(parents=True, exist_ok=True)
                with open(one.warehouse.with_suffix(".log"), "ab") as log_file:
                    log_file.write(f"--- {phase} run {run.run_id}\n".encode())
                    log_file.flush()
                    proc = subprocess.Popen(
                        argv, cwd=PROJECT_ROOT, stdout=log_file, stderr=subprocess.STDOUT
                    )
                running[county] = (proc, run, result, time.monotonic())
            for county, (proc, run, result, started) in list(running.items()):
                # wait4, not poll: the child's peak memory comes with its exit status.
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid == 0:
                    continue
                proc.returncode = os.waitstatus_to_exitcode(status)
                del running[county]
                run.seconds = time.monotonic() - started
                run.max_rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
                try:
                    data = json.loads(result.read_text(encoding="utf-8"))
                    run.ok, run.error, run.summary = data["ok"], data["error"], data["summary"]
                except (OSError, ValueError, KeyError):
                    run.error = _signal_text(proc.returncode)
                    with contextlib.suppress(Exception):  # the instance is information here
                        _mark_run_failed(run.run_id, run.error)
                done[county] = run
                _print_county(run)
            time.sleep(0.2)
    except BaseException:  # Ctrl-C, SIGTERM: the children unwind like a single run
        for proc, *_ in running.values():
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGTERM)
        for proc, *_ in running.values():
            with contextlib.suppress(Exception):
                proc.wait(timeout=60)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for run in done.values():
        with contextlib.suppress(OSError):  # information for the prefecture report
            write_county_status(
                settings.prefecture_dir, run.county, phase, run.ok, run.error, run.run_id
            )
    return done


def _print_county(run: CountyRun) -> None:
    took = f" ({run.seconds:.0f} s, peak {run.max_rss_mb:,.0f} MB)" if run.seconds else ""
    state = "ok" if run.ok else f"failed: {run.error}"
    with contextlib.suppress(OSError, ValueError):
        print(f"[{run.phase}] {run.county}: {state}{took}", flush=True)


def split_for_night(settings: Settings) -> SplitResult | None:
    """Split ``<inbox>/_prefecture/`` for every county of the inbox (None without it).

    Every county, not only those this night runs (``--county``): a row of a county
    left out would be recorded as belonging to none."""
    if not (settings.inbox / PREFECTURE_FOLDER).is_dir():
        return None
    return split_prefecture_feeds(settings.inbox, settings.counties(FEEDS), settings.prefecture_dir)


def run_counties(
    settings: Settings,
    counties: list[str],
    run_date: date,
    thresholds: str,
    jobs: int,
    verbose: bool,
) -> int:
    """A multi-county night: split, ingest per county, night per county, prefecture.
    Exit code 0 only when every county succeeded."""
    import uuid

    import dagster as dg

    from pipelines.definitions import county_definitions  # lazy: builds the Definitions

    dagster_home(settings.warehouse)
    defs = county_definitions()
    with dg.DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions(COUNTIES.name))
        new = [c for c in counties if c not in known]
        if new:
            instance.add_dynamic_partitions(COUNTIES.name, new)
    prefecture_run = str(uuid.uuid4())
    wait = lock_wait_s(CLI_LOCK_WAIT_S)
    print(f"{len(counties)} counties, up to {jobs} at once: {', '.join(counties)}", flush=True)
    # The prefecture's own locks for the whole night: a second `bidui run` on the same
    # prefecture is refused at once; the prefecture run adopts them.
    with hold_run_locks(settings.warehouse, settings.outbox, prefecture_run, wait):
        split = split_for_night(settings)
        for line in split.summary_zh() if split is not None else ():
            print(f"  市级下发拆分 {line}", flush=True)
        night = {"run_date": run_date, "thresholds": thresholds, "jobs": jobs, "verbose": verbose}
        clock = time.monotonic()
        ingest = run_county_phase(settings, counties, "ingest", **night)
        print(f"  phase ingest: {time.monotonic() - clock:.1f} s", flush=True)
        ready = [c for c in counties if ingest[c].ok]
        clock = time.monotonic()
        nights = run_county_phase(settings, ready, "night", **night) if ready else {}
        print(f"  phase night: {time.monotonic() - clock:.1f} s", flush=True)
        outcome = {c: nights.get(c) or ingest[c] for c in counties}
        report = ""
        clock = time.monotonic()
        if any(j.name == PREFECTURE_JOB for j in defs.jobs or []):
            ok, info = _execute(
                settings.inbox,
                settings.outbox,
                settings.warehouse,
                run_date,
                thresholds,
                "DEBUG" if verbose else "CRITICAL",
                prefecture_run,
                job_name=PREFECTURE_JOB,
                tags={PHASE_TAG: "prefecture", NIGHT_TAG: run_date.isoformat()},
                definitions=defs,
            )
            report = (
                str(settings.prefecture_outbox / run_date.isoformat() / "report.html")
                if ok
                else f"failed: {info}"
            )
            print(f"  phase prefecture: {time.monotonic() - clock:.1f} s", flush=True)
    failed = [c for c in counties if not outcome[c].ok]
    day = run_date.isoformat()
    print(f"night {day}: {len(counties) - len(failed)} of {len(counties)} counties succeeded")
    for c in counties:
        run = outcome[c]
        if run.ok:
            findings = next((ln.strip() for ln in run.summary if "findings:" in ln), "")
            print(f"  {c}: ok — {findings}; outputs {settings.for_county(c).outbox / day}")
        else:
            print(f"  {c}: FAILED ({run.phase}): {run.error} / 该县比对失败，其他县不受影响")
            print(f"      log: {settings.for_county(c).warehouse.with_suffix('.log')}")
    if report:
        print(f"  prefecture report: {report}")
    print(f"  warehouses: {settings.warehouse.parent / 'counties'}")
    print(f"  Dagster:    {instance_home(settings.warehouse)}")
    return 1 if failed or report.startswith("failed") else 0


def cmd_county(args: argparse.Namespace) -> int:
    """``bidui _county`` (internal): one county's run of one phase, in this process;
    the outcome as JSON in ``--result`` for the parent ``bidui run``."""
    signal.signal(signal.SIGTERM, lambda *_: signal.default_int_handler(signal.SIGINT, None))
    summary: list[str] = []
    try:
        ok, info = run_pipeline(
            Path(args.inbox),
            Path(args.outbox),
            Path(args.warehouse),
            date.fromisoformat(args.run_date),
            args.thresholds or "",
            log_level="DEBUG" if args.verbose else "CRITICAL",
            progress=not args.verbose,
            summary=summary,
            county=args.county,
            job_name=PHASE_JOBS[args.phase],
            tags={PHASE_TAG: args.phase, NIGHT_TAG: args.run_date},
            run_id=args.run_id,
        )
    except KeyboardInterrupt:
        ok, info = False, "interrupted / 被中断"
    record = {"ok": ok, "error": "" if ok else info, "summary": summary}
    tmp = Path(args.result + ".tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, args.result)
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from demo import generate  # lazy: `bidui run` never needs demo

    demo = LOCAL_DIR / "demo"
    if args.fresh or not (demo / "inbox").is_dir():
        shutil.rmtree(demo, ignore_errors=True)
        print(f"generating a demo county of {args.households} households in {demo} …")
        generate(demo, households=args.households, seed=args.seed)
    settings = Settings.from_env(
        demo / "inbox", LOCAL_DIR / "outbox", LOCAL_DIR / "warehouse.duckdb"
    )
    ok, info = run_pipeline(
        settings.inbox,
        settings.outbox,
        settings.warehouse,
        None,
        log_level="DEBUG" if args.verbose else "WARNING",
        progress=not args.verbose,
        summary=(summary := []),
    )
    if not ok:
        print(f"error: demo run failed: {info}", file=sys.stderr)
        return 1
    day = _today().isoformat()
    out = settings.outbox / day
    print(f"\ndemo run {info} succeeded.")
    for line in summary:
        print(line)
    print(f"  problem lists, problems.csv, rejects.csv, report: {out}")
    report = out / "report.html"
    if report.exists():
        print(f"  open the report:  {report}")
    print(f"  warehouse:        {settings.warehouse}")
    print("  Dagster UI:       .venv/bin/bidui ui   (then open http://127.0.0.1:3000)")
    return 0


def prepare_ui(settings: Settings) -> Path:
    """Export the warehouse's instance (``DAGSTER_HOME``) and its paths for ``dagster dev``
    and the code location it starts; the instance folder."""
    home = dagster_home(settings.warehouse)
    os.environ["BIDUI_INBOX"] = str(settings.inbox)
    os.environ["BIDUI_OUTBOX"] = str(settings.outbox)
    os.environ["BIDUI_WAREHOUSE"] = str(settings.warehouse)
    return home


def cmd_ui(args: argparse.Namespace) -> int:
    """``dagster dev`` on the warehouse's own instance; the code location gets the
    paths through the environment, so runs started from the UI use them too."""
    settings = Settings.from_env(args.inbox, args.outbox, args.warehouse)
    home = prepare_ui(settings)
    exe = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    argv = [exe, "dev", "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"warehouse: {settings.warehouse}\nDAGSTER_HOME={home}\n$ {' '.join(argv)}")
    os.chdir(PROJECT_ROOT)
    os.execv(exe, argv)
    return 0  # pragma: no cover


def cmd_waive(args: argparse.Namespace) -> int:
    """List pending waiver candidates, or accept some (the office's explicit approval)."""
    settings = Settings.from_env(warehouse=args.warehouse)
    if not settings.warehouse.exists():
        print(f"error: no warehouse at {settings.warehouse}; run bidui first", file=sys.stderr)
        return 2
    with run_lock(settings.warehouse, timeout_s=30), connect(settings.warehouse) as con:
        if args.action == "list":
            rows = pending_waivers(con)
            if not rows:
                print("没有待审核的核销申请 (no pending waivers)")
            for r in rows:
                # 不属实 (问题清单) or the warning's 核实结论 (监测预警核实清单)
                said = r["conclusion"] or "不属实"
                print(
                    f"{r['problem_id']}\t{r['rule_code']}\t{r['township']}\t{r['village']}"
                    f"\t{said}\t{r['verifier'] or ''}\t{r['note']}"
                )
            return 0
        if not args.problem_ids:
            print("error: give the problem ids to accept", file=sys.stderr)
            return 2
        try:
            done = accept_waivers(con, args.problem_ids, args.by, _today(), args.reason or "")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"accepted {len(done)} waiver(s); they leave the lists from the next run on")
    return 0


def cmd_warehouse(args: argparse.Namespace) -> int:
    """Encrypt a plaintext warehouse, or change its key (docs/security.md)."""
    path = Settings.from_env(warehouse=args.warehouse).warehouse
    try:
        new_key = warehouse_key()
        old_key = warehouse_old_key() if args.action == "rekey" else None
        if new_key is None:
            raise KeyConfigError(
                "no key configured: set BIDUI_WAREHOUSE_KEY or BIDUI_WAREHOUSE_KEY_FILE"
            )
        if args.action == "rekey" and old_key is None:
            raise KeyConfigError(
                "rekey needs the current key in BIDUI_WAREHOUSE_OLD_KEY or "
                "BIDUI_WAREHOUSE_OLD_KEY_FILE, and the new one in BIDUI_WAREHOUSE_KEY(_FILE)"
            )
        with run_lock(path, timeout_s=30):
            done = convert(path, new_key, old_key)
    except (
        KeyConfigError,
        WarehouseKeyError,
        WarehouseLockedError,
        RunBusy,
        FileNotFoundError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = sum(done.rows_per_table.values())
    verb = "encrypted" if args.action == "encrypt" else "re-keyed"
    print(f"{verb} {done.path}: {len(done.rows_per_table)} tables, {rows} rows, all checked")
    print(
        "warning: copies made before today (backups, USB sticks) are still readable with "
        + ("no key" if args.action == "encrypt" else "the old key")
        + "; replace or destroy them"
    )
    return 0


class _ExportFormats:
    """``demo.EXPORT_FORMATS`` as argparse ``choices``, imported when first asked:
    importing demo costs every command 0.15 s, and only generate uses it."""

    def _formats(self) -> tuple[str, ...]:
        from demo import EXPORT_FORMATS  # lazy: see the class docstring

        return tuple(EXPORT_FORMATS)

    def __contains__(self, value: object) -> bool:
        return value in self._formats()

    def __iter__(self):
        return iter(self._formats())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bidui", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a synthetic county (inbox + truth.csv)")
    g.add_argument("out_dir")
    g.add_argument("--households", type=int, default=2000)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--problems-per-rule", type=int, default=3)
    g.add_argument(
        "--format",
        choices=_ExportFormats(),
        default="today",
        help="register export: today (防返贫监测, default) or legacy (建档立卡, rules D not run)",
    )
    g.add_argument(
        "--mixed",
        action="store_true",
        help="also plant several problems on one household and near misses beside real ones",
    )
    g.add_argument(
        "--run-date",
        type=date.fromisoformat,
        help="YYYY-MM-DD the county will be checked on (default 20 January after the "
        "working year): truth.csv holds for that day (30-day grace of the measure rules)",
    )
    g.add_argument(
        "--counties",
        type=int,
        help="a prefecture of N counties (OUT_DIR/inbox/<county>/…, --households each), "
        "with people registered in two counties and cross-county cars and flats",
    )
    g.add_argument(
        "--prefecture-wide",
        action="store_true",
        help="with --counties: one hukou export for all counties in inbox/_prefecture/hukou/",
    )
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="run the nightly graph once through Dagster")
    r.add_argument("--inbox", help="default $BIDUI_INBOX or .local/demo/inbox")
    r.add_argument("--outbox", help="default $BIDUI_OUTBOX or .local/outbox")
    r.add_argument(
        "--warehouse",
        help="default $BIDUI_WAREHOUSE or .local/warehouse.duckdb; its Dagster instance is "
        "<warehouse>.dagster/ (.local/dagster_home for the default) unless DAGSTER_HOME is set",
    )
    r.add_argument("--run-date", help="YYYY-MM-DD (default: today in Asia/Shanghai)")
    r.add_argument("--thresholds", help="thresholds TOML (default $BIDUI_THRESHOLDS or built-in)")
    r.add_argument(
        "--county",
        help="many counties (<inbox>/<county>/<feed>/…): run this county only",
    )
    r.add_argument(
        "--jobs",
        type=int,
        help="many counties: county runs at once, each its own process (default: the cores)",
    )
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("_county")  # internal: one county's phase, started by `bidui run`
    c.add_argument("county")
    c.add_argument("--phase", choices=PHASES[:2], required=True)
    for name in ("--run-id", "--inbox", "--outbox", "--warehouse", "--result", "--run-date"):
        c.add_argument(name, required=True)
    c.add_argument("--thresholds", default="")
    c.set_defaults(func=cmd_county)

    d = sub.add_parser("demo", help="generate a demo county (once) and run on it")
    d.add_argument("--households", type=int, default=2000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--fresh", action="store_true", help="regenerate the demo county")
    d.set_defaults(func=cmd_demo)

    w = sub.add_parser(
        "waive",
        help="review and accept township 不属实 answers and warnings answered "
        "不符合纳入条件/信息有误 (waivers)",
    )
    w.add_argument("action", choices=["list", "accept"])
    w.add_argument("problem_ids", nargs="*")
    w.add_argument("--by", default=os.environ.get("USER", "office"), help="who accepts")
    w.add_argument("--reason", help="the office's note")
    w.add_argument("--warehouse", help="default $BIDUI_WAREHOUSE or .local/warehouse.duckdb")
    w.set_defaults(func=cmd_waive)

    wh = sub.add_parser("warehouse", help="encrypt the warehouse or change its key")
    wh.add_argument(
        "action",
        choices=["encrypt", "rekey"],
        help="encrypt: plaintext -> key in BIDUI_WAREHOUSE_KEY(_FILE); "
        "rekey: BIDUI_WAREHOUSE_OLD_KEY(_FILE) -> BIDUI_WAREHOUSE_KEY(_FILE)",
    )
    wh.add_argument("--warehouse", help="default $BIDUI_WAREHOUSE or .local/warehouse.duckdb")
    wh.set_defaults(func=cmd_warehouse)

    u = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this project")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.add_argument("--inbox", help="default $BIDUI_INBOX or .local/demo/inbox")
    u.add_argument("--outbox", help="default $BIDUI_OUTBOX or .local/outbox")
    u.add_argument(
        "--warehouse",
        help="default $BIDUI_WAREHOUSE or .local/warehouse.duckdb; picks the Dagster "
        "instance too (<warehouse>.dagster/ unless DAGSTER_HOME is set)",
    )
    u.set_defaults(func=cmd_ui)
    return p


QUIET_LOGGERS = ("alembic", "great_expectations", "sqlalchemy", "urllib3")


def configure_logging(verbose: bool) -> None:
    """``-v``: everything at DEBUG, as before. Otherwise warnings only — alembic's
    migration notes, GX's set-up messages and bidui's own INFO lines made half of
    every run's output; the run's events are still stored in the Dagster instance."""
    level = logging.DEBUG if verbose else logging.WARNING
    root = logging.getLogger()
    ours = not root.handlers  # an embedding process (pytest) keeps its own handlers
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose:
        return
    if ours:  # a library that sets its own logger to INFO still reaches the root handler
        for handler in root.handlers:
            handler.setLevel(logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)

    try:
        return args.func(args)
    except RunBusy as exc:  # any command meeting a running night: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
