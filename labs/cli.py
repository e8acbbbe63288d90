"""``python -m labs ...``: the lab's command line.

python -m labs up                 broker (if needed), workers, API, dashboard and JupyterLab
python -m labs broker             the embedded broker alone
python -m labs worker [--simple]  one worker (--engine celery|arq: a Celery or an ARQ worker)
python -m labs submit TASK '{"steps": 5}' --wait [--engine celery|arq]
python -m labs status JOB_ID      a job's state and events
python -m labs dlq [list|redrive|discard|purge] ...
python -m labs workers            the live workers
python -m labs readme [--check]   the README's generated tables (settings, ...)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import LabError
from .settings import REPO_ROOT, settings


def _conn() -> Any:
    from .broker import get_connection

    return get_connection()


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def cmd_broker(args: argparse.Namespace) -> int:
    from .broker import serve

    serve(args.host, args.port, fresh=args.fresh)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .worker import make_worker, preload, stop_with_parent

    if args.engine != "rq":
        from .engines import get_engine

        return get_engine(args.engine).run_worker(args.kind, name=args.name, log_level=args.log_level)  # type: ignore[attr-defined]

    worker = make_worker(_conn(), args.kind, name=args.name)
    warmed = preload()
    print(f"worker {worker.name}: " + "; ".join(f"{module}: {said}" for module, said in warmed.items()), flush=True)
    parent = settings().parent_pid
    if parent is not None:
        stop_with_parent(parent)
    print(f"worker {worker.name} ({args.kind}) listening on queue {worker.queue_names()[0]!r}", flush=True)
    worker.work(burst=args.burst, with_scheduler=True, logging_level=args.log_level)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from .jobs import submit, wait_for
    from .students import check_name

    conn = _conn()
    try:
        params = json.loads(args.params) if args.params else {}
        retry = json.loads(args.retry) if args.retry else None
    except json.JSONDecodeError as exc:
        raise LabError(f"params and --retry must be JSON: {exc}") from None
    student = check_name(args.student) if args.student else None
    job_id = submit(conn, args.task, params, retry=retry, timeout=args.timeout, student=student, engine=args.engine)
    print(job_id, flush=True)
    if args.wait:
        result = wait_for(conn, job_id, timeout=args.wait)
        # a completed job's reason is its last retry's: only a failure names one
        why = f" ({result.reason})" if result.state != "completed" and result.reason else ""
        print(f"{result.state} after {result.attempts} attempt(s){why}")
        return 0 if result.state == "completed" else 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .jobs import job_view

    _print(job_view(_conn(), args.job_id))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from .jobs import cancel

    print(cancel(_conn(), args.job_id))
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from . import dlq

    conn = _conn()
    if args.action == "list":
        _print(dlq.list_entries(conn))
    elif args.action == "show":
        _print(dlq.inspect(conn, args.job_id))
    elif args.action == "redrive":
        params = json.loads(args.params) if args.params else None
        print(dlq.redrive(conn, args.job_id, params))
    elif args.action == "discard":
        dlq.discard(conn, args.job_id)
    elif args.action == "purge":
        print(dlq.purge(conn))
    elif args.action == "sweep":
        _print(dlq.sweep(conn))
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    from .launcher import workers

    _print(workers(_conn()))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from .up import run

    return run(args)


def cmd_check(args: argparse.Namespace) -> int:
    from .exercises.check import run

    return run(args)


def cmd_api(args: argparse.Namespace) -> int:
    try:
        from .api import serve
    except ImportError as exc:
        raise LabError(f"the API is not available: {exc}") from None
    serve(args.host, args.port)
    return 0


def cmd_readme(args: argparse.Namespace) -> int:
    from . import readme

    path = Path(args.file)
    if args.check:
        stale = readme.stale(path)
        if stale:
            print(f"{path}: out of date: {', '.join(stale)} (run `python -m labs readme`)", file=sys.stderr)
            return 1
        print(f"{path}: up to date")
        return 0
    changed = readme.update(path)
    print(f"{path}: rewrote {', '.join(changed)}" if changed else f"{path}: up to date")
    return 0


def engine_names() -> list[str]:
    from .engines import names

    return names()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labs", description="Long-Task Lab (长任务实验室)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(func=func)
        return p

    p = add("broker", cmd_broker, "run the embedded broker (fakeredis over TCP)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--fresh", action="store_true", help="start empty instead of loading .lab/broker.snapshot")

    p = add("worker", cmd_worker, "run one worker (scheduler on)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--fork", dest="kind", action="store_const", const="fork", help="forking Worker (default)")
    kind.add_argument("--simple", dest="kind", action="store_const", const="simple", help="SimpleWorker, no fork")
    kind.add_argument("--spawn", dest="kind", action="store_const", const="spawn", help="SpawnWorker")
    p.add_argument("--name")
    p.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--engine", default="rq", choices=engine_names(), help="which engine's worker (default rq)")

    p = add("submit", cmd_submit, "submit a catalogue task")
    p.add_argument("task")
    p.add_argument("params", nargs="?", default="", help="JSON object")
    p.add_argument("--retry", help='JSON retry policy, e.g. {"max_retries": 3, "base": 1}')
    p.add_argument("--timeout", type=float)
    p.add_argument("--wait", type=float, nargs="?", const=60.0, help="wait for a final state (seconds)")
    p.add_argument("--student", help="record the job as this student's (classroom namespaces)")
    p.add_argument("--engine", default="rq", choices=engine_names(), help="which engine runs it (default rq)")

    p = add("status", cmd_status, "a job's state and events")
    p.add_argument("job_id")
    p = add("cancel", cmd_cancel, "cancel a job")
    p.add_argument("job_id")

    p = add("dlq", cmd_dlq, "the dead-letter queue")
    p.add_argument("action", choices=["list", "show", "redrive", "discard", "purge", "sweep"], nargs="?", default="list")
    p.add_argument("job_id", nargs="?")
    p.add_argument("--params", help="corrected params for redrive (JSON)")

    add("workers", cmd_workers, "the live workers")

    p = add("up", cmd_up, "start the whole lab: broker, workers, API, dashboard, JupyterLab")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--kind", choices=["fork", "simple", "spawn"], default="fork")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-port", type=int, default=8000)
    p.add_argument("--dashboard-port", type=int, default=8501)
    p.add_argument("--broker-port", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="an embedded broker it starts starts empty (no snapshot loaded)")
    p.add_argument("--no-api", action="store_true")
    p.add_argument("--no-dashboard", action="store_true")
    p.add_argument("--no-jupyter", action="store_true", help="do not start JupyterLab on notebooks/")
    p.add_argument("--jupyter-port", type=int, default=8888, help="JupyterLab's port (loopback only)")
    p.add_argument("--engine", default="rq", choices=[*engine_names(), "all"], help="whose workers to start (default rq)")
    p.add_argument("--celery-workers", type=int, default=2, help="Celery workers with --engine celery|all")
    p.add_argument("--arq-workers", type=int, default=1, help="ARQ workers with --engine arq|all")
    p.add_argument("--no-flower", action="store_true", help="do not start Flower with the Celery workers")
    p.add_argument("--flower-host", default="127.0.0.1", help="Flower's address (default loopback only)")
    p.add_argument("--flower-port", type=int, default=5555)
    p.add_argument(
        "--exact-ports", action="store_true", help="stop (exit 2) when a port is taken instead of using the next free one"
    )

    from .exercises.check import add_arguments

    add_arguments(add("check", cmd_check, "check classroom exercises: check ex01 | check all [--solution] [--list]"))

    p = add("readme", cmd_readme, "rewrite the README's generated tables (settings, ...) from the code")
    p.add_argument("--check", action="store_true", help="only check: exit 1 when the README is out of date")
    p.add_argument("--file", default=str(REPO_ROOT / "README.md"), help="the README to rewrite or check")

    p = add("api", cmd_api, "serve the FastAPI app with uvicorn")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "kind", "x") is None:
        from .worker import default_kind

        args.kind = default_kind()
    if args.command == "dlq" and args.action in {"show", "redrive", "discard"} and not args.job_id:
        parser.error(f"dlq {args.action} needs a job id")
    try:
        settings()  # a bad setting stops every command here, in one line naming the variable
        return args.func(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
