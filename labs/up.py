"""``python -m labs up``: the whole lab in one command, and a console that only says what is so.

- **Ports.** Before anything starts, each port the lab needs (API, dashboard,
  Flower, a fixed broker port) is checked. A taken one is replaced by the next
  free port, printed on its own line with the flag that chooses it; with
  ``--exact-ports`` the command stops instead (exit 2, one line naming the port
  and the flag). Nothing prints a URL that is somebody else's.
- **URLs only when they answer.** Each URL is printed once its service answers
  its health check *and* the socket answering belongs to the process the lab
  started (:func:`labs.ports.listens_on`).
- **The lessons too.** JupyterLab on ``notebooks/`` (loopback only, a fresh
  token in its printed URL, no browser; ``--no-jupyter`` skips it), so one
  command gives a student the lessons, the dashboard and the playground.
- **One API URL.** The dashboard (channel page, playground link) gets the API
  URL really used, through ``LAB_API_URL`` (and Flower's, ``LAB_FLOWER_URL``).
- **One lab per folder.** ``<state dir>/up.lock`` is held while it runs; a
  second ``labs up`` with the same state folder prints the URLs of the running
  one (``up.json``) and exits 0.
- **Supervision.** Then it watches what it started (:mod:`labs.supervisor`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .engines import names as engine_names
from .errors import LabError
from .launcher import app_path, engine_workers, python_cmd, spawn, start_worker, stop_process
from .ports import free_port, is_taken, listens_on, next_free
from .settings import REPO_ROOT, settings, state_dir
from .supervisor import Service, Supervisor, exit_text, last_error, last_line

LOCK_FILE, INFO_FILE = "up.lock", "up.json"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"0.0.0.0", "::", ""}
CHECK_EVERY = 0.2
"""Seconds between two supervision passes."""


def shown(path: Path) -> str:
    """A path as the console shows it: relative to the current folder when inside it."""
    try:
        return f"{path.resolve().relative_to(Path.cwd().resolve())}/"
    except ValueError:
        return f"{path}/"


def logs_dir() -> Path:
    return state_dir() / "logs"


# --------------------------------------------------------------------------- ports


@dataclass
class Port:
    """One port the lab needs: who for, the flag that sets it, the one asked for and the one used."""

    what: str
    flag: str
    host: str
    wanted: int
    port: int = 0


def choose_ports(ports: list[Port], exact: bool, out: Any = print) -> None:
    """Set each ``port.port``: the one asked for when free, else the next free one (or a LabError with ``exact``); 0: any."""
    used: set[int] = set()
    for item in ports:
        if not item.wanted:  # 0: any free port
            item.port = free_port(item.host)
            while item.port in used:
                item.port = free_port(item.host)
        elif item.wanted in used or is_taken(item.wanted, item.host):
            whom = "by this lab's " + next(p.what for p in ports if p.port == item.wanted) if item.wanted in used else ""
            taken = f"port {item.wanted} ({item.what}) is taken{' ' + whom if whom else ''}"
            if exact:
                raise LabError(f"{taken}; free it or choose another with {item.flag}")
            found = next_free(item.wanted + 1, item.host, avoid=used)
            if found is None:
                raise LabError(f"{taken} and so are the 100 after it; choose one with {item.flag}")
            out(f"{item.what:<9}: port {item.wanted} is taken; using {found} instead (choose with {item.flag})")
            item.port = found
        else:
            item.port = item.wanted
        used.add(item.port)


# --------------------------------------------------------------------------- one lab per folder


def _lock() -> IO[str] | None:
    """Hold ``<state dir>/up.lock`` for this process's life; None when another ``labs up`` holds it."""
    handle = open(state_dir() / LOCK_FILE, "a+")  # noqa: SIM115 - held until the process ends
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the pid in up.json decides
        info = running_info()
        if info and info.get("pid") != os.getpid():
            handle.close()
            return None
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def running_info() -> dict[str, Any] | None:
    """What the running ``labs up`` of this folder wrote about itself (pid, the lines it printed)."""
    path = state_dir() / INFO_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    from .worker import pid_alive

    return info if isinstance(info, dict) and pid_alive(int(info.get("pid", 0) or 0)) else None


def already_running() -> int:
    info = running_info()
    folder = shown(state_dir())
    if info is None:
        print(f"the lab is already starting in this folder (state folder {folder}); run `labs up` again in a moment")
        return 0
    print(f"the lab is already running in this folder (labs up, pid {info['pid']}, state folder {folder}):")
    for line in info.get("lines", []):
        print(line)
    return 0


# --------------------------------------------------------------------------- health checks


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux; a server may listen from a child)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError, ValueError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def owns_port(proc: subprocess.Popen[bytes], port: int) -> bool:
    """Whether the socket on ``port`` is ``proc``'s (True where the system cannot tell)."""
    answers = [listens_on(pid, port) for pid in _family(proc.pid)]
    return any(answers) or all(answer is None for answer in answers)


def answers(url: str, ok: tuple[int, ...] = (200,)) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code in ok
    except httpx.HTTPError:
        return False


def probe_host(host: str) -> str:
    """The host to reach a server bound to ``host`` (an IPv6 address in brackets, the wildcard as loopback)."""
    host = "127.0.0.1" if host in WILDCARD else host
    return f"[{host}]" if ":" in host else host


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass
class Server:
    """A server the lab starts: what it is, its port and flag, its health URL and the statuses that mean "up"."""

    what: str
    port: Port
    health: str
    ok: tuple[int, ...] = (200,)

    @property
    def health_url(self) -> str:
        return f"http://{probe_host(self.port.host)}:{self.port.port}{self.health}"

    def ready(self, proc: subprocess.Popen[bytes]) -> bool:
        return answers(self.health_url, self.ok) and owns_port(proc, self.port.port)


def wait_until_serving(server: Server, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    """Block until ``server`` answers from ``proc``; a LabError (one line) when it exits first or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            line = last_error(log) or last_line(log)
            if "already in use" in line.lower():
                raise LabError(
                    f"the {server.what} could not listen on port {server.port.port} (taken meanwhile); "
                    f"choose another with {server.port.flag}"
                )
            raise LabError(f"the {server.what} exited with code {exit_text(proc.returncode)} before answering: {line}")
        if server.ready(proc):
            return
        time.sleep(0.2)
    raise LabError(f"the {server.what} did not answer at {server.health_url} within {timeout:g} s; see {log}")


# --------------------------------------------------------------------------- the command


class Lab:
    """One ``labs up``: what it started, what it printed, and its supervisor."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lines: list[str] = []
        self.broker: Any = None
        self.conn: Any = None
        self.flower_url = ""
        self.supervisor = Supervisor(self.connection)

    def say(self, line: str) -> None:
        """Print a line the second ``labs up`` repeats (a URL, a count)."""
        self.lines.append(line)
        print(line, flush=True)

    def connection(self) -> Any:
        if self.conn is None:
            from .broker import get_connection

            with contextlib.suppress(LabError):
                self.conn = get_connection()
        return self.conn

    def ports(self) -> dict[str, Port]:
        args = self.args
        wanted: dict[str, Port] = {}
        if not settings().redis_url and args.broker_port:
            wanted["broker"] = Port("broker", "--broker-port", "127.0.0.1", args.broker_port)
        if "celery" in self.engines and not args.no_flower:
            wanted["flower"] = Port("flower", "--flower-port", args.flower_host, args.flower_port)
        if not args.no_api:
            wanted["api"] = Port("API", "--api-port", args.host, args.api_port)
        if not args.no_dashboard and app_path().exists():
            wanted["dashboard"] = Port("dashboard", "--dashboard-port", args.host, args.dashboard_port)
        if not args.no_jupyter and jupyter_installed():
            wanted["jupyter"] = Port("Jupyter", "--jupyter-port", "127.0.0.1", args.jupyter_port)
        return wanted

    @property
    def engines(self) -> list[str]:
        return engine_names() if self.args.engine == "all" else [self.args.engine]

    def start_broker(self, port: Port | None) -> None:
        from .broker import EmbeddedBroker, ensure_broker, get_connection, is_alive, redis_url
        from .broker.folder import FolderTaken

        if settings().redis_url:
            get_connection()
            self.say(f"broker   : {settings().redis_url} (REDIS_URL)")
            return
        url = redis_url()
        if url and is_alive(url):
            self.say(f"broker   : {url} (embedded, already running)")
            return
        try:
            self.broker = EmbeddedBroker(port=port.port if port else 0, fresh=getattr(self.args, "fresh", False)).start()
        except FolderTaken:  # another one was starting at the same moment: use it
            self.say(f"broker   : {ensure_broker()} (embedded, already running)")
            return
        self.say(f"broker   : {self.broker.url} (embedded fakeredis; set REDIS_URL to use a Redis server)")

    def add_worker(self, kind: str, name: str, engine: str, env: dict[str, str] | None = None) -> Service:
        def launch(new_name: str) -> tuple[subprocess.Popen[bytes], Path]:
            return start_worker(kind, name=new_name, engine=engine, env=env), logs_dir() / f"{new_name}.log"

        proc, log = launch(name)
        label = "worker" if engine == "rq" else f"{engine} worker"
        return self.supervisor.add(Service(label, name, launch, proc, log, ready=self._registered(engine)))

    def _registered(self, engine: str) -> Any:
        def ready(service: Service) -> bool:
            conn = self.connection()
            return conn is not None and service.name in {w["name"] for w in engine_workers(conn, engine)}

        return ready

    def wait_registered(self, services: list[Service], engine: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(services)
        while waiting:
            for service in waiting:
                if service.proc.poll() is not None:
                    raise LabError(
                        f"{service.label} exited with code {exit_text(service.proc.returncode)} before registering: "
                        f"{last_line(service.log)}"
                    )
            waiting = [s for s in waiting if not (s.ready and s.ready(s))]
            if waiting and time.monotonic() > deadline:
                late = ", ".join(s.name for s in waiting)
                raise LabError(f"{engine} worker(s) {late} did not register within {timeout:g} s; see {shown(logs_dir())}")
            if waiting:
                time.sleep(0.1)

    def add_server(self, server: Server, command: list[str], name: str, env: dict[str, str] | None = None) -> Service:
        def launch(_: str) -> tuple[subprocess.Popen[bytes], Path]:
            return spawn(command, name, env), logs_dir() / f"{name}.log"

        proc, log = launch(name)
        url = f"http://{url_host(server.port.host)}:{server.port.port}"
        return self.supervisor.add(Service(server.what, name, launch, proc, log, ready=lambda s: server.ready(s.proc), url=url))

    def start(self, ports: dict[str, Port]) -> None:
        args = self.args
        self.start_broker(ports.get("broker"))
        if "rq" in self.engines:
            pid = os.getpid()
            started = [self.add_worker(args.kind, f"{args.kind}-worker-{i + 1}-{pid}", "rq") for i in range(args.workers)]
            self.wait_registered(started, "rq")
            self.say(f"workers  : {args.workers} x {args.kind}")
        if "celery" in self.engines:
            self.start_celery(ports.get("flower"))
        if "arq" in self.engines:
            self.start_arq()
        servers: list[tuple[Server, Service]] = []
        if "api" in ports:
            api = Server("API", ports["api"], "/health", ok=(200, 503))
            command = python_cmd("api", "--host", args.host, "--port", str(api.port.port))
            servers.append((api, self.add_server(api, command, "api")))
        if "dashboard" in ports:
            dashboard = Server("dashboard", ports["dashboard"], "/_stcore/health")
            env = {"LAB_API_URL": f"http://{probe_host(args.host)}:{ports['api'].port}"} if "api" in ports else {}
            if self.flower_url:
                env["LAB_FLOWER_URL"] = self.flower_url  # the sidebar links to the Flower really started
            servers.append((dashboard, self.add_server(dashboard, self.dashboard_command(dashboard.port.port), "dashboard", env)))
        if "jupyter" in ports:
            token = secrets.token_hex(24)
            jupyter = Server("Jupyter", ports["jupyter"], f"/api/status?token={token}")
            service = self.add_server(jupyter, jupyter_command(jupyter.port.port), "jupyter", jupyter_env(token))
            service.url += f"/lab?token={token}"
            servers.append((jupyter, service))
        elif not args.no_jupyter:
            self.say("Jupyter  : not installed (pip install jupyterlab); the lessons are in notebooks/")
        for server, service in servers:
            wait_until_serving(server, service.proc, service.log)
            note = {"API": "  (docs: /docs, playground: /playground/)", "Jupyter": "  (the lessons, notebooks/)"}
            self.say(f"{server.what:<9}: {service.url}{note.get(server.what, '')}")

    def dashboard_command(self, port: int) -> list[str]:
        return [
            sys.executable, "-m", "streamlit", "run", str(app_path()),
            "--server.headless", "true", "--server.address", self.args.host, "--server.port", str(port),
            "--browser.gatherUsageStats", "false",
        ]  # fmt: skip

    def start_celery(self, flower: Port | None) -> None:
        """Celery workers on the same broker, and Flower (the seed's monitoring tool) on loopback unless told otherwise."""
        from .engines.celery import flower_command

        args = self.args
        kind = args.kind if args.kind in {"fork", "simple"} else "fork"
        events = {} if flower is None else {"LAB_CELERY_TASK_EVENTS": "1"}  # what Flower shows comes from task events
        names = [f"celery-{kind}-worker-{i + 1}-{os.getpid()}" for i in range(args.celery_workers)]
        started = [self.add_worker(kind, name, "celery", events) for name in names]
        self.wait_registered(started, "celery")
        self.say(f"celery   : {args.celery_workers} x {kind} (Celery {'prefork' if kind == 'fork' else 'solo'} pool)")
        if flower is None:
            return
        env = {} if settings().flower_basic_auth else {"FLOWER_UNAUTHENTICATED_API": "true"}
        server = Server("Flower", flower, "/healthcheck")
        service = self.add_server(server, flower_command(flower.host, flower.port), "flower", env)
        wait_until_serving(server, service.proc, service.log)
        auth = "basic auth (FLOWER_BASIC_AUTH)" if not env else "open API"
        auth += ", loopback only" if flower.host in LOOPBACK else ""
        self.flower_url = service.url
        self.say(f"flower   : {service.url}  ({auth})")

    def start_arq(self) -> None:
        """ARQ workers on the same broker (one process each, one event loop, up to LAB_ARQ_MAX_JOBS jobs at a time)."""
        count = self.args.arq_workers
        started = [self.add_worker("async", f"arq-worker-{i + 1}-{os.getpid()}", "arq") for i in range(count)]
        self.wait_registered(started, "arq")
        self.say(f"arq      : {count} x async (max_jobs={settings().arq_max_jobs} each; ARQ has no monitoring UI)")

    def write_info(self) -> None:
        info = {"pid": os.getpid(), "lines": self.lines, "started": time.time()}
        (state_dir() / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False) + "\n")

    def stop(self) -> None:
        self.supervisor.forget_marks()
        for proc in reversed(self.supervisor.procs()):
            stop_process(proc)
        if self.broker:
            self.broker.stop()
        with contextlib.suppress(OSError):
            info = json.loads((state_dir() / INFO_FILE).read_text())
            if info.get("pid") == os.getpid():
                (state_dir() / INFO_FILE).unlink()


def jupyter_installed() -> bool:
    return importlib.util.find_spec("jupyterlab") is not None


def jupyter_command(port: int) -> list[str]:
    """JupyterLab on ``notebooks/``, on loopback only and without a browser (as root it must be told it may run)."""
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--ServerApp.root_dir={REPO_ROOT / 'notebooks'}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def jupyter_env(token: str) -> dict[str, str]:
    """The token through the environment (not on the command line, which every user of the machine can read);
    Jupyter's runtime files (its connection files) in the state folder, beside the lab's other files."""
    return {"JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(state_dir() / "jupyter")}


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """``python -m labs up`` (see the module docstring)."""
    lock = _lock()
    if lock is None:
        return already_running()
    lab = Lab(args)
    ports = lab.ports()
    choose_ports(list(ports.values()), args.exact_ports)  # a taken port with --exact-ports: one line, nothing started
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started from a script that ignores Ctrl-C
    try:
        lab.start(ports)
        lab.write_info()
        print(f"logs     : {shown(logs_dir())}   — press Ctrl-C to stop everything", flush=True)
        while True:
            time.sleep(CHECK_EVERY)
            lab.supervisor.check()
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        lab.stop()
        print("stopped.", flush=True)
        lock.close()
    return 0
