"""The broker: the seed's 分拣中心 (sorting centre) that every process shares.

One function, :func:`get_connection`, gives every process (workers, the API, the
dashboard, a notebook) its Redis connection:

- ``REDIS_URL`` set: that server.
- otherwise the *embedded broker*: fakeredis's TCP server, started by
  ``python -m labs broker`` (or ``python -m labs up``) on a free loopback port.
  Its URL is written to ``<state dir>/broker.url`` so that processes started
  later find the same broker.

For self-contained cells and unit tests, :func:`in_process_connection` gives an
in-process fakeredis that needs no server at all.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis

from .errors import BrokerUnavailable
from .ports import free_port
from .settings import state_dir

log = logging.getLogger(__name__)

URL_FILE = "broker.url"


def url_file() -> Path:
    """Where the embedded broker writes its URL."""
    return state_dir() / URL_FILE


def _safe(url: str) -> str:
    """The URL with any password hidden, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def redis_url() -> str | None:
    """The broker URL this process should use, or None when there is none yet."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    path = url_file()
    if path.exists():
        return path.read_text().strip() or None
    return None


def connect(url: str, *, check: bool = True, timeout: float = 2.0) -> redis.Redis:
    """Connect to ``url`` and (by default) check that it answers.

    Raises :class:`BrokerUnavailable` with one readable line when it does not.
    """
    try:
        # socket_timeout: redis-py 8 defaults to 5 s, shorter than some blocking reads (XREAD BLOCK)
        conn = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=30, health_check_interval=30)
    except ValueError as exc:
        raise BrokerUnavailable(f"invalid broker URL {_safe(url)!r}: {exc}") from None
    if check:
        try:
            conn.ping()
        except redis.exceptions.AuthenticationError as exc:
            raise BrokerUnavailable(f"the broker at {_safe(url)} refused the password: {exc}") from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            hint = (
                "check REDIS_URL or start Redis"
                if os.environ.get("REDIS_URL")
                else "start one with `python -m labs broker` (or `python -m labs up`)"
            )
            raise BrokerUnavailable(f"no broker answers at {_safe(url)} ({exc}); {hint}") from None
    return conn


OUTAGE_SECONDS = 30.0
"""How long a worker's commands wait for a broker that went away (``LAB_BROKER_OUTAGE_SECONDS``)."""


def outage_seconds() -> float:
    """``LAB_BROKER_OUTAGE_SECONDS`` (default 30): the broker outage a worker rides out."""
    try:
        return max(0.0, float(os.environ.get("LAB_BROKER_OUTAGE_SECONDS", OUTAGE_SECONDS)))
    except ValueError:
        return OUTAGE_SECONDS


def ride_out_outages(conn: redis.Redis, seconds: float | None = None) -> redis.Redis:
    """Make every command on ``conn`` retry through a broker outage of up to ``seconds``; return ``conn``.

    redis-py retries a failed command three times after random waits (a few
    seconds in all): a Redis restart that takes longer would make a worker, or
    the job it runs, fail mid-way. Here a command that meets a refused or
    dropped connection reconnects and tries again, with waits growing from
    0.1 s to 1 s, until ``seconds`` have passed. Meant for workers; the API
    answers ``503`` at once instead.
    """
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    budget = outage_seconds() if seconds is None else seconds
    backoff = ExponentialBackoff(cap=1.0, base=0.05)
    retries, waited = 0, 0.0
    while waited < budget:
        retries += 1
        waited += backoff.compute(retries)
    conn.set_retry(Retry(backoff, retries))
    return conn


def get_connection(*, check: bool = True) -> redis.Redis:
    """The Redis connection every lab process uses (see the module docstring)."""
    url = redis_url()
    if url is None:
        raise BrokerUnavailable(
            "no broker is running: start one with `python -m labs broker` (or `python -m labs up`), or set REDIS_URL"
        )
    return connect(url, check=check)


def in_process_connection() -> redis.Redis:
    """A private in-process fakeredis, for self-contained cells and unit tests.

    Use it with RQ's ``SimpleWorker(...).work(burst=True)`` in the same process.
    """
    import fakeredis

    return fakeredis.FakeRedis()


def is_alive(url: str) -> bool:
    """True when something answers PING at ``url``."""
    try:
        connect(url, timeout=0.5)
    except BrokerUnavailable:
        return False
    return True


def _fix_fakeredis_blmove() -> None:
    """Make fakeredis's BLMOVE block, as Redis's does.

    fakeredis 2.41 answers BLMOVE on an empty list at once instead of waiting,
    and RQ's worker dequeues a single queue with BLMOVE: without this fix an
    idle worker would spin, asking the broker again and again.
    """
    import functools

    from fakeredis import _msgs as msgs
    from fakeredis._command_args_parsing import Timeout
    from fakeredis._commands import command
    from fakeredis._core import CommandItem
    from fakeredis._helpers import SimpleError, casematch
    from fakeredis.commands_mixins.list_mixin import ListCommandsMixin

    if getattr(ListCommandsMixin, "_lab_blmove_fixed", False):
        return

    def _blmove_pass(self: Any, source: bytes, destination: bytes, wherefrom: bytes, whereto: bytes, first_pass: bool) -> Any:
        ends = (b"left", b"right")
        if not any(casematch(wherefrom, e) for e in ends) or not any(casematch(whereto, e) for e in ends):
            raise SimpleError(msgs.SYNTAX_ERROR_MSG)
        src = CommandItem(source, self._db, item=self._db.get(source), default=[])
        if not isinstance(src.value, list):
            if first_pass:
                raise SimpleError(msgs.WRONGTYPE_MSG)
            return None
        if not src.value:
            return None
        dst = CommandItem(destination, self._db, item=self._db.get(destination), default=[])
        if not isinstance(dst.value, list):
            raise SimpleError(msgs.WRONGTYPE_MSG)
        el = src.value.pop(0) if casematch(wherefrom, b"left") else src.value.pop()
        if casematch(whereto, b"left"):
            dst.value.insert(0, el)
        else:
            dst.value.append(el)
        src.updated()
        src.writeback()
        if destination != source:
            dst.updated()
            dst.writeback()
        return el

    @command(name="BLMOVE", fixed=(bytes, bytes, bytes, bytes, Timeout), flags=msgs.FLAG_NO_SCRIPT)
    def blmove(self: Any, source: bytes, destination: bytes, wherefrom: bytes, whereto: bytes, timeout: float) -> Any:
        return self._blocking(timeout, functools.partial(_blmove_pass, self, source, destination, wherefrom, whereto))

    ListCommandsMixin.blmove = blmove  # type: ignore[method-assign]
    ListCommandsMixin._lab_blmove_fixed = True  # type: ignore[attr-defined]


class _SendAll:
    """A write buffer that sends everything on a non-blocking socket when flushed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data

    def flush(self) -> None:
        view = memoryview(self.buffer)
        try:
            while view:
                try:
                    view = view[self.sock.send(view) :]
                except BlockingIOError:
                    select.select([], [self.sock], [], 1.0)
        finally:
            view.release()
            self.buffer.clear()


class EmbeddedBroker:
    """fakeredis's TCP server on loopback, with TCP_NODELAY set on every connection."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, write_url: bool = True) -> None:
        from fakeredis import TcpFakeServer
        from fakeredis._clients._tcp_server import TCPFakeRequestHandler

        class NoDelayHandler(TCPFakeRequestHandler):
            def setup(self) -> None:
                # Without it a pipelined command waits ~40 ms for the delayed ACK.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().setup()
                # fakeredis makes the socket non-blocking, so a large reply (a long XRANGE)
                # would fail half-sent; send it whole, waiting for room as needed
                self.writer.writer = _SendAll(self.request)  # type: ignore[assignment]
                info = self.current_client.get_socket()._client_info
                for field in ("addr", "laddr"):  # "('127.0.0.1', 5000)" -> "127.0.0.1:5000", as Redis writes it
                    value = info.get(field)
                    if isinstance(value, tuple):
                        info[field] = f"{value[0]}:{value[1]}"
                self._gone = threading.Event()
                threading.Thread(target=self._watch_hangup, daemon=True, name="broker-hangup").start()

            def finish(self) -> None:
                self._gone.set()
                super().finish()

            def _watch_hangup(self) -> None:
                """Unblock a blocking command (BLMOVE, XREAD BLOCK) whose client has gone.

                fakeredis does not notice a client that dies while it waits, and
                would hand that dead client the next job; real Redis drops it.
                """
                while not self._gone.wait(0.05):
                    fake = self.current_client.get_socket()
                    if not getattr(fake, "_blocked", False):
                        continue
                    try:
                        readable, _, _ = select.select([self.request], [], [], 0)
                        hung_up = bool(readable) and self.request.recv(1, socket.MSG_PEEK) == b""
                    except OSError:
                        hung_up = True
                    if hung_up:
                        fake._unblock_reason = b"timeout"
                        with fake._db.condition:
                            fake._db.condition.notify_all()
                        return

        _fix_fakeredis_blmove()
        self.host = host
        self.port = port or free_port(host)
        self.server = TcpFakeServer((host, self.port), server_type="redis")
        self.server.RequestHandlerClass = NoDelayHandler
        self.server.daemon_threads = True
        self.write_url = write_url
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> EmbeddedBroker:
        self._thread = threading.Thread(target=self.server.serve_forever, name="embedded-broker", daemon=True)
        self._thread.start()
        if self.write_url:
            url_file().write_text(self.url + "\n")
        return self

    def stop(self) -> None:
        if self.write_url and url_file().exists() and url_file().read_text().strip() == self.url:
            url_file().unlink(missing_ok=True)
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Run the embedded broker in the foreground until interrupted (``python -m labs broker``)."""
    url = redis_url()
    if url and not os.environ.get("REDIS_URL") and is_alive(url):
        print(f"an embedded broker is already running at {url}")
        return
    broker = EmbeddedBroker(host, port).start()
    pid_file = state_dir() / "broker.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"embedded broker (fakeredis) listening at {broker.url}", flush=True)
    print(f"URL written to {url_file()}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
        pid_file.unlink(missing_ok=True)


def stop_background_broker(timeout: float = 5.0) -> bool:
    """Stop an embedded broker started by ``python -m labs broker`` / :func:`ensure_broker`.

    Returns True if one was running. (``python -m labs up`` stops its own broker on Ctrl-C.)
    """
    pid_file = state_dir() / "broker.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError):
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_file.exists():
        time.sleep(0.05)
    return True


def ensure_broker(timeout: float = 15.0) -> str:
    """Return a live broker URL, starting the embedded broker in the background if needed.

    This is what makes a notebook run with zero set-up: with ``REDIS_URL`` it
    only checks the server; otherwise it reuses a running embedded broker or
    starts ``python -m labs broker`` as a background process.
    """
    if os.environ.get("REDIS_URL"):
        get_connection()  # raises a one-line BrokerUnavailable if it is down
        return os.environ["REDIS_URL"]
    url = redis_url()
    if url and is_alive(url):
        return url
    url_file().unlink(missing_ok=True)
    log_path = state_dir() / "broker.log"
    with open(log_path, "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "labs", "broker"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = redis_url()
        if url and is_alive(url):
            return url
        time.sleep(0.1)
    raise BrokerUnavailable(f"the embedded broker did not start within {timeout:.0f} s; see {log_path}")
