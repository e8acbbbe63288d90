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
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", action="store_true", help="run redis-server instead of the embedded broker")
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
        test_env = {**os.environ, "PYTHONPATH": str(tree)}
        test_env.pop("REDIS_URL", None)
        out = subprocess.run(
            in_ns(ns, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-p", "no:randomly",
                  "--timeout", "120", "-rfE", "tests", *args.pytest_args),
            cwd=tree, env=test_env, capture_output=True, text=True,
        )  # fmt: skip
        lines = out.stdout.splitlines()
        failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        summary = lines[-1] if lines else out.stderr[-2000:]
        for line in failures:
            print(line)
        print(summary)
        counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary)}
        print(f"passed {counts.get('passed', 0)}, failed {counts.get('failed', 0)}, "
              f"errors {counts.get('error', 0) + counts.get('errors', 0)}, skipped {counts.get('skipped', 0)}")  # fmt: skip
        return 0 if out.returncode == 0 else 1
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    sys.exit(main())
