"""RQ 3.0.0's own test suite against the embedded broker (or Redis), inside a private network namespace.

    sudo .venv/bin/python benchmarks/rq_suite.py              # the embedded broker
    sudo .venv/bin/python benchmarks/rq_suite.py --redis      # redis-server, for comparison
    sudo .venv/bin/python benchmarks/rq_suite.py -- -k worker # more arguments for pytest

RQ's sdist ships its tests (``pip download rq==3.0.0 --no-binary :all: --no-deps``);
they expect a server at ``127.0.0.1:6379``. A network namespace (``ip netns``,
root needed) has a loopback of its own, so there the broker can take that
address without touching a Redis the machine already runs on it. The script
prints pytest's summary and the passed / failed / skipped counts, and exits
non-zero if a test failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from labs.settings import REPO_ROOT

RQ_VERSION = "3.0.0"
CACHE = REPO_ROOT / "artifacts" / "rq-suite"


def sdist() -> Path:
    """RQ's source tree (downloaded once with pip into ``artifacts/rq-suite``)."""
    tree = CACHE / f"rq-{RQ_VERSION}"
    if not (tree / "tests").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"rq=={RQ_VERSION}", "--no-binary", ":all:", "--no-deps", "-d", str(CACHE)],
            check=True,
        )
        with tarfile.open(CACHE / f"rq-{RQ_VERSION}.tar.gz") as archive:
            archive.extractall(CACHE, filter="data")
    return tree


def in_ns(ns: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def wait_for_port(ns: str, timeout: float = 30) -> None:
    probe = "import socket,sys; socket.create_connection(('127.0.0.1', 6379), 1).close()"
    deadline = time.monotonic() + timeout
    while subprocess.run(in_ns(ns, sys.executable, "-c", probe), capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not come up on 127.0.0.1:6379 inside the namespace")
        time.sleep(0.2)


RESULT = re.compile(r"^(tests/\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)")
RUNNING = re.compile(r"^(tests/\S+::\S+) ")
HANG_SECONDS = 180
"""A test that takes longer is stopped (pytest-timeout's thread method: RQ's own SIGALRM defeats the signal one)."""


def kill_leftovers(ns: str, keep: int | None) -> None:
    """Kill what a hung test left running in the namespace (a forked worker), all but the server ``keep``."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    for pid in (int(p) for p in out.stdout.split()):
        if pid != keep:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def run_file(
    ns: str, tree: Path, env: dict[str, str], test_file: str, results: dict[str, str], log: Any, extra: list[str], server_pid: int
) -> None:
    """Run one of RQ's test files; a test that hangs is recorded as ``hung`` and the file goes on without it."""
    while True:
        skip = [arg for test_id in results if test_id.startswith(test_file + "::") for arg in ("--deselect", test_id)]
        cmd = in_ns(ns, sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-o", "addopts=", "--timeout",
                    str(HANG_SECONDS), "--timeout-method", "thread", test_file, *skip, *extra)  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        current = None
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            found = RESULT.match(line)
            if found:
                outcome = found.group(2).lower()
                results[found.group(1)] = {"xfail": "skipped", "xpass": "passed"}.get(outcome, outcome)
                current = None
            elif RUNNING.match(line):
                current = RUNNING.match(line).group(1)  # type: ignore[union-attr]
        proc.wait()
        log.flush()
        if current is None or current in results:  # the file ran to its end
            return
        results[current] = "hung"  # the timeout thread ended the run inside this test
        print(f"hung: {current}", flush=True)
        kill_leftovers(ns, keep=server_pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", action="store_true", help="run redis-server instead of the embedded broker")
    parser.add_argument("--files", default="test_*.py", help="which of RQ's test files (a glob in its tests/)")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("ip"):
        raise SystemExit("needs root and iproute2's `ip` (for `ip netns`)")
    tree = sdist()
    ns = f"lab-rq-{uuid.uuid4().hex[:8]}"
    state = Path(tempfile.mkdtemp(prefix="lab-rq-suite-"))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    server = None
    try:
        subprocess.run(in_ns(ns, "ip", "link", "set", "lo", "up"), check=True)
        env = {**os.environ, "LAB_STATE_DIR": str(state), "LAB_BROKER_SNAPSHOT_SECONDS": "0"}
        env.pop("REDIS_URL", None)
        if args.redis:
            cmd = in_ns(ns, "redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
        else:
            cmd = in_ns(ns, sys.executable, "-m", "labs", "broker", "--host", "127.0.0.1", "--port", "6379", "--fresh")
        log = open(state / "server.log", "wb")  # noqa: SIM115 - closed in finally
        server = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(ns)
        which = "redis-server" if args.redis else "the embedded broker"
        print(f"RQ {RQ_VERSION}'s tests against {which} at 127.0.0.1:6379 in network namespace {ns}", flush=True)
        # RQ's subprocess tests run its `rq` and `rqworker` scripts: this Python's bin folder comes first
        bin_dir = str(Path(sys.executable).parent)
        test_env = {**os.environ, "PYTHONPATH": str(tree), "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
        test_env.pop("REDIS_URL", None)
        results: dict[str, str] = {}
        files = sorted(str(f.relative_to(tree)) for f in (tree / "tests").glob(args.files))
        log_path = state / "pytest.log"
        with open(log_path, "w") as log_file:
            for test_file in files:
                run_file(ns, tree, test_env, test_file, results, log_file, args.pytest_args, server.pid)
        counts = {
            kind: sum(1 for r in results.values() if r == kind) for kind in ("passed", "failed", "error", "skipped", "hung")
        }
        for test_id, outcome in sorted(results.items()):
            if outcome in ("failed", "error", "hung"):
                print(f"{outcome.upper():7} {test_id}")
        print(", ".join(f"{kind} {n}" for kind, n in counts.items()), f"(pytest output: {log_path})")
        return 0 if not (counts["failed"] or counts["error"] or counts["hung"]) else 1
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        kill_leftovers(ns, keep=None)
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    sys.exit(main())
