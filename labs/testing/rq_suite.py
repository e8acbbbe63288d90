"""RQ 3.0.0's own test suite against the embedded broker or redis-server, in a private network namespace.

RQ's sdist ships its tests (fetched once with pip into ``artifacts/rq-suite``);
they expect a server at ``127.0.0.1:6379``. A network namespace (``ip netns``,
root needed) has a loopback of its own, so there the broker takes that address
without touching a Redis the machine already runs on it. Each test file runs in
a pytest of its own; a test that hangs is stopped after :data:`HANG_SECONDS`,
recorded as ``hung``, and the file goes on without it.

The Redis outcomes are kept in :data:`BASELINE` (``benchmarks/rq_suite.py --redis
--record`` refreshes it), so CI runs the suite once, on the embedded broker, and
:func:`recheck` reruns, on both servers, only the tests that did not pass there:
RQ has timing tests (``sleep(0.1)``, ``join(1)``) that fail on a loaded machine
on Redis too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from ..settings import REPO_ROOT, child_environment

RQ_VERSION = "3.0.0"
CACHE = REPO_ROOT / "artifacts" / "rq-suite"
BASELINE = REPO_ROOT / "tests" / "broker" / "rq_suite_redis.txt"
"""RQ's test ids and their outcomes on redis-server (``passed`` / ``skipped``), one a line."""
HANG_SECONDS = 180
"""A test that takes longer is stopped (pytest-timeout's thread method: RQ's own SIGALRM defeats the signal one)."""
LINGER_SECONDS = 20
"""How long a file's pytest may take to exit after its summary (or its death): then what it left running is killed.
A failed RQ test can leave a worker process running that pytest's exit waits for, and the run would wait for ever."""

Server = Literal["embedded", "redis"]
RESULT = re.compile(r"^(tests/\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)")
RUNNING = re.compile(r"^(tests/\S+::\S+) ")
SUMMARY = re.compile(r"^=+ .* in [\d.]+s")
NOT_PASSED = ("failed", "error", "hung", "skipped", "missing")


class Unavailable(Exception):
    """The suite cannot run here (no root, no ``ip netns``, no RQ sdist); the message says why."""


def namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None if they can (one is made and removed to find out)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root, for `ip netns` (a private 127.0.0.1:6379)"
    if not shutil.which("ip"):
        return "needs iproute2's `ip`, for `ip netns`"
    probe = f"lab-probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip() or made.returncode} (a container without CAP_SYS_ADMIN?)"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def sdist() -> Path:
    """RQ's source tree, downloaded once with pip (:class:`Unavailable` if pip cannot get it)."""
    tree = CACHE / f"rq-{RQ_VERSION}"
    if not (tree / "tests").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        got = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"rq=={RQ_VERSION}", "--no-binary", ":all:", "--no-deps", "-d", str(CACHE)],
            capture_output=True,
            text=True,
        )
        if got.returncode != 0:
            raise Unavailable(f"pip could not download rq=={RQ_VERSION}'s sdist: {got.stderr.strip().splitlines()[-1:]}")
        with tarfile.open(CACHE / f"rq-{RQ_VERSION}.tar.gz") as archive:
            archive.extractall(CACHE, filter="data")
    return tree


def _in_ns(ns: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def _kill_leftovers(ns: str, keep: int | None) -> int:
    """SIGKILL every process in the namespace but ``keep`` (the server); how many."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    killed = 0
    for pid in (int(p) for p in out.stdout.split()):
        if pid != keep:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


@dataclass
class Run:
    """One run of (part of) the suite: each test id's outcome, how long it took, where pytest's output is."""

    server: Server
    results: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    log: Path | None = None
    lingered: list[str] = field(default_factory=list)
    """Files whose pytest did not exit by itself (what it left running was killed)."""

    def counts(self) -> dict[str, int]:
        return {
            kind: sum(1 for r in self.results.values() if r == kind) for kind in ("passed", "failed", "error", "skipped", "hung")
        }

    def summary(self) -> str:
        counts = self.counts()
        if missing := list(self.results.values()).count("missing"):
            counts["not run"] = missing
        return ", ".join(f"{kind} {n}" for kind, n in counts.items()) + f" in {self.seconds:.0f} s"


@contextlib.contextmanager
def namespace(server: Server, state: Path) -> Iterator[tuple[str, int]]:
    """A fresh network namespace with ``server`` on its ``127.0.0.1:6379``: yields (its name, the server's pid)."""
    ns = f"lab-rq-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = None
    try:
        subprocess.run(_in_ns(ns, "ip", "link", "set", "lo", "up"), check=True)
        env = child_environment({"LAB_STATE_DIR": str(state), "LAB_BROKER_SNAPSHOT_SECONDS": "0"})
        env.pop("REDIS_URL", None)
        if server == "redis":
            cmd = _in_ns(ns, "redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
        else:
            cmd = _in_ns(ns, sys.executable, "-m", "labs", "broker", "--host", "127.0.0.1", "--port", "6379", "--fresh")
        with open(state / f"{server}-server.log", "ab") as out:
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _wait_for_port(ns, proc)
        yield ns, proc.pid
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        _kill_leftovers(ns, keep=None)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def _wait_for_port(ns: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    probe = "import socket; socket.create_connection(('127.0.0.1', 6379), 1).close()"
    deadline = time.monotonic() + timeout
    while subprocess.run(_in_ns(ns, sys.executable, "-c", probe), capture_output=True).returncode != 0:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not come up on 127.0.0.1:6379 inside the namespace")
        time.sleep(0.2)


def run(
    server: Server,
    *,
    files: str = "test_*.py",
    only: Iterable[str] = (),
    pytest_args: Iterable[str] = (),
    log_path: Path | None = None,
) -> Run:
    """Run RQ's test files matching ``files`` (or only the test ids ``only``) against ``server``."""
    tree = sdist()
    state = Path(tempfile.mkdtemp(prefix="lab-rq-suite-"))
    selected = list(only)
    by_file: dict[str, list[str]] = {}
    if selected:
        for test_id in selected:
            by_file.setdefault(test_id.split("::", 1)[0], []).append(test_id)
    else:
        by_file = {str(f.relative_to(tree)): [] for f in sorted((tree / "tests").glob(files))}
    # RQ's subprocess tests run its `rq` and `rqworker` scripts: this Python's bin folder comes first
    env = child_environment({"PYTHONPATH": str(tree)})
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.pop("REDIS_URL", None)
    result = Run(server, log=log_path or state / f"{server}-pytest.log")
    started = time.monotonic()
    with namespace(server, state) as (ns, server_pid), open(result.log, "w") as log:
        for test_file, ids in by_file.items():
            _run_file(ns, tree, env, test_file, ids, result, log, list(pytest_args), server_pid)
    result.seconds = time.monotonic() - started
    for test_id in selected:
        result.results.setdefault(test_id, "missing")
    return result


def _run_file(
    ns: str, tree: Path, env: dict[str, str], test_file: str, ids: list[str], result: Run, log: IO[str], extra: list[str],
    server_pid: int,
) -> None:  # fmt: skip
    """Run one of RQ's test files (or some of its tests); a test that hangs is recorded as ``hung`` and the rest go on."""
    results = result.results
    while True:
        done = [test_id for test_id in results if test_id.startswith(test_file + "::")]
        targets = [test_id for test_id in ids if test_id not in results] if ids else [test_file]
        if not targets:
            return
        skip = [arg for test_id in done for arg in ("--deselect", test_id)] if not ids else []
        cmd = _in_ns(ns, sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-o", "addopts=", "--timeout",
                     str(HANG_SECONDS), "--timeout-method", "thread", *targets, *skip, *extra)  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        finished, read_all = threading.Event(), threading.Event()
        reaper = threading.Thread(target=_reap, args=(ns, proc, server_pid, finished, read_all, result, test_file))
        reaper.start()
        current = None
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if found := RESULT.match(line):
                outcome = found.group(2).lower()
                results[found.group(1)] = {"xfail": "skipped", "xpass": "passed"}.get(outcome, outcome)
                current = None
            elif running := RUNNING.match(line):
                current = running.group(1)
            elif SUMMARY.match(line):
                finished.set()
        read_all.set()
        proc.wait()
        reaper.join()
        log.flush()
        if current is None or current in results:  # the file ran to its end
            return
        results[current] = "hung"  # the timeout thread ended the run inside this test
        print(f"hung: {current}", flush=True)
        _kill_leftovers(ns, keep=server_pid)


def _reap(
    ns: str, proc: subprocess.Popen[str], keep: int, finished: threading.Event, read_all: threading.Event, result: Run,
    test_file: str,
) -> None:  # fmt: skip
    """Once pytest has printed its summary or died, give it :data:`LINGER_SECONDS`; then kill what holds its output open."""
    while not read_all.wait(1):
        if finished.is_set() or proc.poll() is not None:
            if not read_all.wait(LINGER_SECONDS):
                result.lingered.append(test_file)
                _kill_leftovers(ns, keep=keep)
            return


def read_baseline(path: Path = BASELINE) -> dict[str, str]:
    """The recorded Redis outcomes: test id -> ``passed`` / ``skipped``."""
    outcomes = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            outcome, test_id = line.split(" ", 1)
            outcomes[test_id] = outcome
    return outcomes


def write_baseline(run: Run, path: Path = BASELINE) -> None:
    """Record a Redis run's outcomes, with what produced them."""
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    header = [
        f"# RQ {RQ_VERSION}'s own tests on {' '.join(version[:3])}: {run.summary()}",
        f"# recorded {time.strftime('%Y-%m-%d')} with `python benchmarks/rq_suite.py --redis --record` (as root);",
        "# tests/broker/test_rq_suite.py requires every `passed` one to pass on the embedded broker too",
    ]
    lines = [f"{outcome} {test_id}" for test_id, outcome in sorted(run.results.items())]
    path.write_text("\n".join(header + lines) + "\n")


def not_passing(baseline: dict[str, str], run: Run) -> list[str]:
    """The tests that passed on Redis but not in ``run`` (failed, error, hung, skipped or not run at all)."""
    return sorted(t for t, outcome in baseline.items() if outcome == "passed" and run.results.get(t, "missing") != "passed")


@dataclass
class Verdict:
    """After :func:`recheck`: which suspects the embedded broker is to blame for, and which fail on Redis here too."""

    embedded_only: list[str] = field(default_factory=list)
    on_both: list[str] = field(default_factory=list)
    passed_again: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


def recheck(suspects: list[str], tries: int = 3) -> Verdict:
    """Run each suspect again up to ``tries`` times on the embedded broker; those that never pass, on Redis too.

    A test that passes once on the embedded broker is not its fault (a timing
    test on a loaded machine); one that never does is, unless it cannot pass on
    Redis here either.
    """
    verdict = Verdict()
    left = list(suspects)
    for server in ("embedded", "redis"):
        passed: set[str] = set()
        for _ in range(tries):
            if not (pending := [t for t in left if t not in passed]):
                break
            rerun = run(server, only=pending)  # type: ignore[arg-type]
            verdict.runs.append(rerun)
            passed |= {t for t in pending if rerun.results[t] == "passed"}
        if server == "embedded":
            verdict.passed_again = [t for t in left if t in passed]
            left = [t for t in left if t not in passed]
        else:
            verdict.embedded_only = [t for t in left if t in passed]
            verdict.on_both = [t for t in left if t not in passed]
    return verdict


def recheck_on(result: Run, server: Server, tries: int = 2) -> list[str]:
    """Run ``result``'s failed, errored and hung tests again on ``server``; mark those that pass (for the baseline).

    A test that can pass on Redis is one the embedded broker must pass too, so a
    Redis run is recorded with what its reruns showed. Returns the tests that passed.
    """
    again: list[str] = []
    for _ in range(tries):
        pending = [t for t, outcome in result.results.items() if outcome in ("failed", "error", "hung")]
        if not pending:
            break
        rerun = run(server, only=pending)
        for test_id in pending:
            if rerun.results[test_id] == "passed":
                result.results[test_id] = "passed"
                again.append(test_id)
    return again
