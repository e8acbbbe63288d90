"""The launcher's parts without a lab: choosing ports, and the supervisor's report, restart, give-up and on-purpose rules."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest

from labs import keys, supervisor
from labs.errors import LabError
from labs.ports import free_port, is_taken, listens_on, next_free
from labs.supervisor import Service, Supervisor, backoff, exit_text, last_error, last_line
from labs.up import Port, choose_ports


@pytest.fixture
def occupied() -> Iterator[list[int]]:
    """Two free ports, then taken: one by a listener, one only bound (as a server that is still starting)."""
    socks = []
    for listen in (True, False):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        if listen:
            sock.listen()
        socks.append(sock)
    yield [s.getsockname()[1] for s in socks]
    for sock in socks:
        sock.close()


def test_a_taken_port_is_seen_and_the_next_free_one_chosen(occupied: list[int]) -> None:
    listening, bound = occupied
    assert is_taken(listening) and is_taken(bound)
    assert not is_taken(free_port())
    assert next_free(listening, avoid={listening + 1}) not in {listening, listening + 1}
    assert listens_on(os.getpid(), listening) is True
    assert listens_on(os.getpid(), bound) is False  # bound, not listening


def test_a_listener_on_every_address_takes_the_loopback_port_too() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        assert is_taken(sock.getsockname()[1], "127.0.0.1")


def test_an_ipv6_host_is_checked_on_ipv6() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert is_taken(port, "::1")
    assert not is_taken(port, "::1")  # closed: free again


def test_choose_ports_replaces_a_taken_port_and_says_so(occupied: list[int]) -> None:
    listening, _ = occupied
    printed: list[str] = []
    api = Port("API", "--api-port", "127.0.0.1", listening)
    dashboard = Port("dashboard", "--dashboard-port", "127.0.0.1", listening)  # asked for the same one
    choose_ports([api, dashboard], exact=False, out=printed.append)
    assert api.port != listening and dashboard.port not in {listening, api.port}
    assert not is_taken(api.port) and not is_taken(dashboard.port)
    assert printed == [
        f"API      : port {listening} is taken; using {api.port} instead (choose with --api-port)",
        f"dashboard: port {listening} is taken; using {dashboard.port} instead (choose with --dashboard-port)",
    ]


def test_exact_ports_refuses_a_taken_port_in_one_line_naming_the_flag(occupied: list[int]) -> None:
    _, bound = occupied
    with pytest.raises(LabError) as info:
        choose_ports([Port("API", "--api-port", "127.0.0.1", bound)], exact=True, out=print)
    assert str(info.value) == f"port {bound} (API) is taken; free it or choose another with --api-port"


def test_exit_codes_and_last_log_lines_read_plainly(tmp_path: Path) -> None:
    assert exit_text(-9) == "-9 (SIGKILL)" and exit_text(3) == "3"
    log = tmp_path / "x.log"
    log.write_text("starting\nTraceback ...\nOSError: [Errno 98] address already in use\n\n")
    assert last_line(log) == "OSError: [Errno 98] address already in use"
    assert last_line(tmp_path / "missing.log") == ""
    bind_error = "ERROR:    [Errno 98] error while attempting to bind: address already in use"
    log.write_text(f"{bind_error}\nINFO:     Application shutdown complete.\n")
    assert last_line(log) == "INFO:     Application shutdown complete."
    assert last_error(log) == bind_error
    assert [backoff(n) for n in (1, 2, 3)] == [0.05, 0.1, 0.2]  # LAB_TIME_SCALE=0.05: 1, 2, 4 demo seconds


class Crasher:
    """A process that prints a line and exits with ``code``: what a worker with a broken setting does."""

    def __init__(self, folder: Path, code: int = 3) -> None:
        self.folder, self.code, self.names = folder, code, []

    def __call__(self, name: str) -> tuple[subprocess.Popen[bytes], Path]:
        self.names.append(name)
        log = self.folder / f"{name}.log"
        with open(log, "ab") as out:
            script = f"print('{name} cannot start: LAB_X is wrong'); raise SystemExit({self.code})"
            proc = subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT)
        proc.wait(30)
        return proc, log


def test_a_process_that_keeps_dying_is_restarted_with_backoff_then_given_up_loudly(tmp_path: Path) -> None:
    printed: list[str] = []
    crasher = Crasher(tmp_path)
    sup = Supervisor(out=printed.append, max_restarts=2)
    proc, log = crasher("api")
    sup.add(Service("API", "api", crasher, proc, log, started_at=0.0))
    for now in (0.0, 0.01, 1.0, 1.01, 2.0, 2.01, 3.0):  # exits at once each time: never stable
        sup.check(now)
    assert printed == [
        "! API exited with code 3; last line of api.log: api cannot start: LAB_X is wrong",
        "  restarting API in 0.05 s (restart 1 of at most 2)",
        "! API exited with code 3; last line of api.log: api cannot start: LAB_X is wrong",
        "  restarting API in 0.1 s (restart 2 of at most 2)",
        "! API exited with code 3; last line of api.log: api cannot start: LAB_X is wrong",
        f"!! giving up on API: it exited 3 times in a row (last code 3); see {log}",
    ]
    assert crasher.names == ["api", "api", "api"] and sup.services[0].state == "given_up"


def test_a_worker_is_restarted_under_a_new_name_and_announced_once_ready(tmp_path: Path) -> None:
    printed: list[str] = []
    crasher = Crasher(tmp_path, code=-1)
    ready = {"yes": False}
    sup = Supervisor(out=printed.append)
    proc, log = crasher("fork-worker-1")
    service = sup.add(Service("worker", "fork-worker-1", crasher, proc, log, ready=lambda s: ready["yes"], started_at=0.0))
    sup.check(0.0)
    sup.check(5.0)  # backoff over: restarted, not registered yet
    assert service.name == "fork-worker-1-r1" and service.state == "starting"
    service.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # the restarted worker lives
    try:
        sup.check(5.1)
        ready["yes"] = True
        sup.check(5.2)
    finally:
        service.proc.kill()
        service.proc.wait()
    assert printed[0] == "! worker fork-worker-1 exited with code 255; last line of fork-worker-1.log: " + (
        "fork-worker-1 cannot start: LAB_X is wrong"
    )
    assert printed[1] == "  restarting worker fork-worker-1 in 0.05 s (restart 1 of at most 5)"
    assert printed[2].startswith("  worker fork-worker-1 restarted as fork-worker-1-r1 (pid ")
    assert printed[3:] == [f"  worker fork-worker-1-r1 is back (restart 1, pid {service.proc.pid})"]


def test_a_worker_stopped_on_purpose_is_held_back_until_brought_back(tmp_path: Path) -> None:
    conn = fakeredis.FakeRedis()
    printed: list[str] = []
    crasher = Crasher(tmp_path, code=0)
    sup = Supervisor(lambda: conn, printed.append)
    proc, log = crasher("fork-worker-2")
    service = sup.add(Service("worker", "fork-worker-2", crasher, proc, log, started_at=0.0))
    assert supervisor.bring_back(conn, "fork-worker-2") is False  # nothing held back yet
    supervisor.mark_on_purpose(conn, "fork-worker-2", "killed")
    sup.check(0.0)
    sup.check(100.0)
    assert printed[1:] == [
        "  worker fork-worker-2 was killed on purpose from the dashboard: not restarted (the workers page can bring it back)"
    ]
    assert service.state == "on_purpose" and crasher.names == ["fork-worker-2"]
    assert json.loads(conn.hget(keys.WORKERS_ON_PURPOSE, "fork-worker-2"))["held_by"] == os.getpid()
    assert supervisor.bring_back(conn, "fork-worker-2") is True
    sup.check(101.0)
    assert printed[2:4] == ["  worker fork-worker-2 brought back from the dashboard", printed[3]]
    assert printed[3].startswith("  worker fork-worker-2 restarted as fork-worker-2-r1 (pid ")
    assert crasher.names == ["fork-worker-2", "fork-worker-2-r1"]
    sup.forget_marks()
    assert not conn.exists(keys.WORKERS_ON_PURPOSE) or not conn.hlen(keys.WORKERS_ON_PURPOSE)
