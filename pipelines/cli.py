"""``bidui`` — the command line: generate a county, run the nightly graph, demo."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import shutil
import signal
import sys
import tempfile
from datetime import date
from pathlib import Path

from bidui.config import LOCAL_DIR, PROJECT_ROOT, Settings

log = logging.getLogger("bidui")


def dagster_home() -> Path:
    """$DAGSTER_HOME (default .local/dagster_home) holding a copy of dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or LOCAL_DIR / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    src = PROJECT_ROOT / "dagster.yaml"
    dst = home / "dagster.yaml"
    if src.exists() and (not dst.exists() or dst.read_bytes() != src.read_bytes()):
        shutil.copyfile(src, dst)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_generate(args: argparse.Namespace) -> int:
    from bidui.generator import generate

    out = Path(args.out_dir)
    summary = generate(
        out,
        households=args.households,
        seed=args.seed,
        problems_per_rule=args.problems_per_rule,
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
) -> tuple[bool, str]:
    """Run the nightly job once, in process, recorded in the Dagster instance.

    The run locks (warehouse and outbox, see pipelines/resources.py) are taken
    before the job is launched: a busy warehouse is refused with one line naming
    the holder, and no failed run is recorded. On failure the message names the
    failing step and the root cause (disk full, permission denied, …), one line.
    Dagster's step-by-step console log is kept to warnings (``-v`` shows it all);
    every event is still stored in the instance and visible in the UI."""
    import uuid

    from pipelines.resources import CLI_LOCK_WAIT_S, RunBusy, hold_run_locks, lock_wait_s

    dagster_home()
    run_id = str(uuid.uuid4())
    wait = lock_wait_s(CLI_LOCK_WAIT_S)
    try:
        with hold_run_locks(warehouse, outbox, run_id, wait):
            try:
                return _execute(inbox, outbox, warehouse, run_date, thresholds, log_level, run_id)
            finally:
                # Teardown removes it too; this covers an interrupt between steps.
                shutil.rmtree(outbox / ".staging" / run_id, ignore_errors=True)
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
) -> tuple[bool, str]:
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.jobs import NIGHTLY_JOB_NAME

    config = {
        "inbox": str(inbox),
        "outbox": str(outbox),
        "warehouse": str(warehouse),
        "run_date": run_date.isoformat() if run_date else "",
        "thresholds": thresholds,
    }
    job = defs.resolve_job_def(NIGHTLY_JOB_NAME)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config={
                "resources": {"bidui": {"config": config}},
                "loggers": {"console": {"config": {"log_level": log_level}}},
            },
            instance=instance,
            raise_on_error=False,
            run_id=run_id,
            tags={"bidui/trigger": "cli"},
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
            return True, result.run_id
        errors = [
            f"{e.step_key}: {root_cause(e.event_specific_data.error)}"
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        ]
        if not errors:  # failed outside a step (resource set-up): the run's own error
            errors = [
                root_cause(err)
                for e in result.all_events
                if (err := getattr(e.event_specific_data, "error", None)) is not None
            ][:1]
        msg = "; ".join(errors + [f"blocking check failed: {c}" for c in failed_checks])
        return False, msg or f"run {result.run_id} failed"


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
    from pipelines.resources import CLI_LOCK_WAIT_S, lock_wait_s

    try:
        lock_wait_s(CLI_LOCK_WAIT_S)
    except ValueError as exc:
        return f"{exc} / 环境变量 BIDUI_RUN_LOCK_WAIT 应为等待秒数"
    return ""


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.resources import check_layout

    settings = Settings.from_env(args.inbox, args.outbox, args.warehouse)
    if not settings.inbox.is_dir():
        print(f"error: inbox {settings.inbox} does not exist", file=sys.stderr)
        return 2
    run_date, problem = check_run_date(args.run_date, _today())
    if not problem:
        home = Path(os.environ.get("DAGSTER_HOME") or LOCAL_DIR / "dagster_home")
        problem = (
            check_layout(settings.inbox, settings.outbox, settings.warehouse)
            or check_writable_folder(settings.outbox, "outbox", "输出目录")
            or check_writable_folder(settings.warehouse.parent, "warehouse folder", "数据仓库目录")
            or check_writable_folder(
                home, "Dagster instance folder (DAGSTER_HOME)", "Dagster 实例目录"
            )
            or check_lock_wait()
        )
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    # SIGTERM (a service stop, a kill) unwinds like Ctrl-C: the run is marked failed,
    # its staging folder removed and the locks released.
    signal.signal(signal.SIGTERM, lambda *_: signal.default_int_handler(signal.SIGINT, None))
    try:
        ok, info = run_pipeline(
            settings.inbox,
            settings.outbox,
            settings.warehouse,
            run_date,
            args.thresholds or "",
            log_level="DEBUG" if args.verbose else "WARNING",
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
    print(f"run {info} succeeded")
    print(f"  outputs:   {settings.outbox / day}")
    print(f"  warehouse: {settings.warehouse}")
    return 0


def _today() -> date:
    from pipelines.resources import BiduiResource

    return BiduiResource().run_day


def cmd_demo(args: argparse.Namespace) -> int:
    from bidui.generator import generate

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
    )
    if not ok:
        print(f"error: demo run failed: {info}", file=sys.stderr)
        return 1
    day = _today().isoformat()
    out = settings.outbox / day
    print(f"\ndemo run {info} succeeded.")
    print(f"  problem lists, problems.csv, rejects.csv, report: {out}")
    report = out / "report.html"
    if report.exists():
        print(f"  open the report:  {report}")
    print(f"  warehouse:        {settings.warehouse}")
    print("  Dagster UI:       .venv/bin/bidui ui   (then open http://127.0.0.1:3000)")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    home = dagster_home()
    exe = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    argv = [exe, "dev", "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"DAGSTER_HOME={home}\n$ {' '.join(argv)}")
    os.chdir(PROJECT_ROOT)
    os.execv(exe, argv)
    return 0  # pragma: no cover


def cmd_waive(args: argparse.Namespace) -> int:
    """List pending waiver candidates, or accept some (the office's explicit approval)."""
    from bidui.lifecycle import accept_waivers, pending_waivers
    from pipelines.resources import run_lock
    from warehouse import connect

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
                print(
                    f"{r['problem_id']}\t{r['rule_code']}\t{r['township']}\t{r['village']}"
                    f"\t{r['verifier'] or ''}\t{r['note']}"
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
    from bidui.config import KeyConfigError, warehouse_key, warehouse_old_key
    from pipelines.resources import RunBusy, run_lock
    from warehouse.connection import WarehouseKeyError, WarehouseLockedError
    from warehouse.rekey import convert

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bidui", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a synthetic county (inbox + truth.csv)")
    g.add_argument("out_dir")
    g.add_argument("--households", type=int, default=2000)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--problems-per-rule", type=int, default=3)
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="run the nightly graph once through Dagster")
    r.add_argument("--inbox", help="default $BIDUI_INBOX or .local/demo/inbox")
    r.add_argument("--outbox", help="default $BIDUI_OUTBOX or .local/outbox")
    r.add_argument("--warehouse", help="default $BIDUI_WAREHOUSE or .local/warehouse.duckdb")
    r.add_argument("--run-date", help="YYYY-MM-DD (default: today in Asia/Shanghai)")
    r.add_argument("--thresholds", help="thresholds TOML (default $BIDUI_THRESHOLDS or built-in)")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="generate a demo county (once) and run on it")
    d.add_argument("--households", type=int, default=2000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--fresh", action="store_true", help="regenerate the demo county")
    d.set_defaults(func=cmd_demo)

    w = sub.add_parser("waive", help="review and accept township 不属实 answers (waivers)")
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
    u.set_defaults(func=cmd_ui)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from pipelines.resources import RunBusy

    try:
        return args.func(args)
    except RunBusy as exc:  # any command meeting a running night: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
