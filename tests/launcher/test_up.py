"""`python -m labs up` as a user runs it: with its ports taken, twice in one folder, and with its processes killed.

Ports are free ones the test occupies first (not 8000/8501, which other labs on
this machine may use): the launcher treats a port given by flag exactly as its
default one. "Somebody else's server" answers 200 to every request, health
checks included, so a launcher that trusted the health check alone would print it.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from labs.broker import get_connection
from labs.dashboard import queries
from labs.launcher import workers
from labs.ports import free_port, is_taken
from labs.settings import REPO_ROOT

pytestmark = pytest.mark.slow  # whole `labs up` runs with every kind of process killed: the full lane, not test-fast


class Up:
    """A ``labs up`` subprocess whose console lines the test reads as they come.

    JupyterLab only where the test asks for it (``jupyter=True``): it takes seconds to start.
    """

    def __init__(self, *args: str, jupyter: bool = False) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("FLOWER_BASIC_AUTH", None)
        args = args if jupyter else (*args, "--no-jupyter")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labs", "up", *args], cwd=REPO_ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, match: str | Callable[[str], bool], after: int = 0, timeout: float = 90.0) -> str:
        """The first line from ``after`` on that contains ``match`` (or satisfies it); fails with every line so far."""
        test = match if callable(match) else (lambda line: match in line)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if test(line):
                    return line
            if self.proc.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line {match!r} after line {after}; got:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait(10)
        self.reader.join(5)
        return code


class Impostor(http.server.BaseHTTPRequestHandler):
    """Somebody else's server: 200 to everything, /health and /_stcore/health included."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def taken() -> Iterator[Callable[[], int]]:
    """Occupy a free port with an impostor HTTP server; return its number."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def take() -> int:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield take
    for server in servers:
        server.shutdown()
        server.server_close()


def pid_on_port(port: int, pattern: str) -> int:
    """The pid of the lab process started with ``pattern`` (its port) on its command line."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    assert found, f"no process matching {pattern!r} (port {port})"
    return int(found[0])


def used_port(line: str) -> int:
    return int(re.search(r"using (\d+) instead", line).group(1))  # type: ignore[union-attr]


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_taken_ports_are_replaced_urls_are_the_labs_and_every_killed_process_is_reported_and_restarted(
    lab_env: Path, taken: Callable[[], int]
) -> None:
    api_wanted, dashboard_wanted = taken(), taken()
    up = Up("--workers", "2", "--api-port", str(api_wanted), "--dashboard-port", str(dashboard_wanted))
    try:
        api_port = used_port(up.wait_for(f"API      : port {api_wanted} is taken; using "))
        assert up.lines[0].endswith("(choose with --api-port)")
        dashboard_port = used_port(up.wait_for(f"dashboard: port {dashboard_wanted} is taken; using "))
        assert api_port not in {api_wanted, dashboard_wanted} and dashboard_port not in {api_wanted, dashboard_wanted, api_port}
        up.wait_for("Ctrl-C")
        urls = [line for line in up.lines if "http://" in line]
        assert urls == [
            f"API      : http://127.0.0.1:{api_port}  (docs: /docs, playground: /playground/)",
            f"dashboard: http://127.0.0.1:{dashboard_port}",
        ]
        assert up.wait_for("logs     : ") == f"logs     : {lab_env / 'logs'}/   — press Ctrl-C to stop everything"
        # printed only once they answer: the very next request is served, by the lab
        health = httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=5).json()
        assert health["status"] == "ok" and health["workers"] == 2
        assert httpx.get(f"http://127.0.0.1:{dashboard_port}/_stcore/health", timeout=5).text == "ok"
        # the dashboard (channel page, playground link) is told the API URL really used
        dashboard_pid = pid_on_port(dashboard_port, f"server.port {dashboard_port}")
        environ = Path(f"/proc/{dashboard_pid}/environ").read_bytes().split(b"\0")
        assert f"LAB_API_URL=http://127.0.0.1:{api_port}".encode() in environ

        # a second `labs up` in the same folder: the running lab's URLs, nothing started
        second = subprocess.run([sys.executable, "-m", "labs", "up"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        said = second.stdout.splitlines()
        assert said[0] == f"the lab is already running in this folder (labs up, pid {up.proc.pid}, state folder {lab_env}/):"
        assert said[-2:] == urls

        # each kind of process, killed: reported at once (which, code, last log line) and restarted
        conn = get_connection()
        mark = len(up.lines)
        worker = f"fork-worker-1-{up.proc.pid}"
        os.killpg(pid_on_port(0, f"labs worker --fork --name {worker}$"), signal.SIGKILL)
        assert re.fullmatch(rf"! worker {worker} exited with code -9 \(SIGKILL\); last line of {worker}\.log: .+",
                            up.wait_for(f"! worker {worker} exited", mark))  # fmt: skip
        up.wait_for(f"  worker {worker} restarted as {worker}-r1 (pid ", mark)
        up.wait_for(f"  worker {worker}-r1 is back (restart 1, pid ", mark)
        assert f"{worker}-r1" in {w["name"] for w in workers(conn)}

        for what, pattern, port in (
            ("API", f"labs api --host 127.0.0.1 --port {api_port}", api_port),
            ("dashboard", f"server.port {dashboard_port}", dashboard_port),
        ):
            mark = len(up.lines)
            os.kill(pid_on_port(port, pattern), signal.SIGKILL)
            assert re.fullmatch(rf"! {what} exited with code -9 \(SIGKILL\); last line of {what.lower()}\.log: .+",
                                up.wait_for(f"! {what} exited", mark))  # fmt: skip
            up.wait_for(f"  restarting {what} in ", mark)
            back = up.wait_for(f"  {what} is back (restart 1, pid ", mark)
            assert back.endswith(f": http://127.0.0.1:{port}")
        assert httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=5).json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{dashboard_port}/_stcore/health", timeout=5).text == "ok"

        # killed or stopped on purpose from the dashboard's workers page: reported as such, not replaced
        mark = len(up.lines)
        queries.kill_worker(conn, f"{worker}-r1")
        up.wait_for(f"  worker {worker}-r1 was killed on purpose from the dashboard: not restarted", mark)
        other = f"fork-worker-2-{up.proc.pid}"
        queries.stop_worker(conn, other)
        up.wait_for(f"  worker {other} was stopped on purpose from the dashboard: not restarted", mark)
        assert set(queries.held_back(conn)) == {f"{worker}-r1", other}
        assert not any(line.startswith(f"  worker {other} restarted") for line in up.lines[mark:])
        # ... until the workers page brings one back
        assert queries.bring_back(conn, other)
        up.wait_for(f"  worker {other} brought back from the dashboard", mark)
        up.wait_for(f"  worker {other}-r1 is back (restart 1, pid ", mark)
        assert set(queries.held_back(conn)) == {f"{worker}-r1"}
    finally:
        code = up.stop()
    assert code == 0 and up.lines[-1] == "stopped.", up.lines
    assert not (lab_env / "up.json").exists()


def test_exact_ports_stops_at_once_with_one_line_naming_the_port_and_the_flag(lab_env: Path, taken: Callable[[], int]) -> None:
    port = taken()
    result = subprocess.run(
        [sys.executable, "-m", "labs", "up", "--exact-ports", "--no-dashboard", "--no-jupyter", "--api-port", str(port)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: port {port} (API) is taken; free it or choose another with --api-port"]
    assert "http://" not in result.stdout and not (lab_env / "broker.url").exists()  # nothing was started


def test_jupyterlab_serves_the_lessons_with_its_token_on_loopback_and_stops_with_the_lab(lab_env: Path) -> None:
    up = Up("--workers", "1", "--no-api", "--no-dashboard", "--jupyter-port", "0", jupyter=True)
    try:
        line = up.wait_for("Jupyter  : ")
        url = r"(http://127\.0\.0\.1:(\d+))/lab\?token=([0-9a-f]{48})"
        found = re.fullmatch(rf"Jupyter  : {url}  \(the lessons, notebooks/\)", line)
        assert found, line
        base, port, token = found.group(1), int(found.group(2)), found.group(3)
        up.wait_for("Ctrl-C")
        # printed once it answers, and only to its token
        assert httpx.get(f"{base}/api/status", params={"token": token}, timeout=5).status_code == 200
        assert httpx.get(f"{base}/lab", params={"token": token}, timeout=5).status_code == 200
        assert httpx.get(f"{base}/api/status", timeout=5).status_code == 403
        listing = httpx.get(f"{base}/api/contents", params={"token": token}, timeout=5).json()
        assert "04_retries.ipynb" in {item["name"] for item in listing["content"]}  # the lessons' folder
        jupyter = pid_on_port(port, f"ServerApp.port={port}")
        assert token not in Path(f"/proc/{jupyter}/cmdline").read_text()  # through its environment, not for `ps` to show
    finally:
        code = up.stop()
    assert code == 0 and up.lines[-1] == "stopped.", up.lines
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/api/status", params={"token": token}, timeout=5)


def test_no_jupyter_starts_no_jupyterlab(lab_env: Path) -> None:
    port = free_port()
    up = Up("--workers", "1", "--no-api", "--no-dashboard", "--jupyter-port", str(port))  # and --no-jupyter
    try:
        up.wait_for("Ctrl-C")
        assert not any("Jupyter" in line for line in up.lines), up.lines
        assert not is_taken(port)
        assert subprocess.run(["pgrep", "-f", f"ServerApp.port={port}"], capture_output=True).stdout == b""
    finally:
        assert up.stop() == 0


def test_an_api_that_keeps_dying_is_given_up_on_loudly(lab_env: Path) -> None:
    """The API's port taken by someone else right after it died: each restart fails; the launcher gives up."""
    up = Up("--workers", "1", "--no-dashboard", "--api-port", "0")
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        line = up.wait_for("API      : http://")
        port = int(line.split(":")[3].split()[0])
        up.wait_for("Ctrl-C")
        os.kill(pid_on_port(port, f"labs api --host 127.0.0.1 --port {port}"), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:  # the port is free the moment the API is gone: take it before the restart does
            try:
                blocker.bind(("127.0.0.1", port))
                break
            except OSError:
                assert time.monotonic() < deadline
        up.wait_for("! API exited with code -9 (SIGKILL)")
        given_up = up.wait_for("!! giving up on API", timeout=120)
        assert given_up == f"!! giving up on API: it exited 6 times in a row (last code 3); see {lab_env / 'logs' / 'api.log'}"
        exits = [line for line in up.lines if line.startswith("! API exited")]
        assert len(exits) == 6 and all("address already in use" in line for line in exits[1:]), exits
        assert [line for line in up.lines if line.startswith("  restarting API")] == [
            f"  restarting API in {delay} s (restart {n} of at most 5)"
            for n, delay in enumerate(["0.05", "0.1", "0.2", "0.4", "0.8"], 1)
        ]
        assert up.proc.poll() is None  # the rest of the lab goes on
    finally:
        blocker.close()
        assert up.stop() == 0


def test_celery_workers_and_flower_are_supervised_and_flowers_taken_port_replaced(
    lab_env: Path, taken: Callable[[], int]
) -> None:
    flower_wanted = taken()
    dashboard_port = free_port()
    up = Up("--engine", "celery", "--celery-workers", "1", "--no-api", "--flower-port", str(flower_wanted),
            "--dashboard-port", str(dashboard_port))  # fmt: skip
    try:
        flower_port = used_port(up.wait_for(f"flower   : port {flower_wanted} is taken; using "))
        assert up.wait_for("flower   : http://").startswith(f"flower   : http://127.0.0.1:{flower_port}  (")
        up.wait_for("Ctrl-C")
        environ = Path(f"/proc/{pid_on_port(dashboard_port, f'server.port {dashboard_port}')}/environ").read_bytes()
        assert f"LAB_FLOWER_URL=http://127.0.0.1:{flower_port}".encode() in environ.split(b"\0")  # the sidebar's link
        assert json.loads((lab_env / "up.json").read_text())["pid"] == up.proc.pid
        worker = f"celery-fork-worker-1-{up.proc.pid}"
        mark = len(up.lines)
        os.killpg(pid_on_port(0, f"engine celery --fork --name {worker}$"), signal.SIGKILL)
        up.wait_for(f"! celery worker {worker} exited with code -9 (SIGKILL)", mark)
        up.wait_for(f"  celery worker {worker}-r1 is back (restart 1, pid ", mark)
        queries.kill_worker(get_connection(), f"{worker}-r1")  # from the workers page: on purpose
        up.wait_for(f"  celery worker {worker}-r1 was killed on purpose from the dashboard: not restarted", mark)
        mark = len(up.lines)
        os.kill(pid_on_port(flower_port, f"flower --address=127.0.0.1 --port={flower_port}"), signal.SIGKILL)
        up.wait_for("! Flower exited with code -9 (SIGKILL)", mark)
        up.wait_for("  Flower is back (restart 1, pid ", mark)
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{flower_port}/healthcheck", timeout=5).status_code == 200)
    finally:
        assert up.stop() == 0
