"""The embedded broker's fixes to fakeredis, and the guard that checks they still fit.

fakeredis's TCP server is close enough to Redis for the lessons, but not quite:

- BLMOVE on an empty list answers at once instead of waiting (:func:`fix_blmove`);
  RQ's worker dequeues a single queue with BLMOVE, so an idle worker would spin;
- a pipelined command waits ~40 ms for the delayed ACK (TCP_NODELAY is not set);
- its sockets are non-blocking, so a large reply (a long XRANGE) is cut off
  half-sent (:class:`SendAll`);
- CLIENT LIST shows addresses as ``('127.0.0.1', 5000)``, not ``127.0.0.1:5000``;
- a client that dies inside a blocking command (BLMOVE, XREAD BLOCK) is not
  noticed, and would be handed the next job;
- there is no INFO (:func:`fix_info`): RQ then takes the server for Redis 5.0.9
  and never uses LMOVE/BLMOVE (its reliable dequeue), ARQ's worker start and
  ``redis-cli info`` fail.

The fixes reach into fakeredis's private internals (:data:`INTERNALS`), which
may change in any release. :func:`check` compares the installed fakeredis with
the versions they were written for (:data:`WRITTEN_FOR`, the version
requirements.txt pins): on another version it checks that every internal is
still there and fails with a clear message if one is not, and it skips the
BLMOVE fix if that version's BLMOVE already blocks.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import os
import platform
import resource
import secrets
import select
import socket
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..errors import LabError

log = logging.getLogger(__name__)

WRITTEN_FOR = ("2.41.0",)
"""The fakeredis versions these fixes were written and tested against."""

INTERNALS = (
    "fakeredis._msgs:SYNTAX_ERROR_MSG",
    "fakeredis._msgs:WRONGTYPE_MSG",
    "fakeredis._msgs:FLAG_NO_SCRIPT",
    "fakeredis._command_args_parsing:Timeout",
    "fakeredis._commands:command",
    "fakeredis._core:CommandItem",
    "fakeredis._helpers:SimpleError",
    "fakeredis._helpers:casematch",
    "fakeredis.commands_mixins.list_mixin:ListCommandsMixin.blmove",
    "fakeredis._socket._base:BaseFakeSocket._blocking",
    "fakeredis._clients._tcp_server:TCPFakeRequestHandler.setup",
    "fakeredis._clients._tcp_server:TCPFakeRequestHandler.finish",
    "fakeredis._clients._tcp_server:Writer.__dataclass_fields__.writer",
    "fakeredis._clients._sync:FakeRedisConnection.get_socket",
    "fakeredis._commands:SUPPORTED_COMMANDS",
    "fakeredis.commands_mixins.server_mixin:ServerCommandsMixin",
    "fakeredis._core:FakeServer",
)
"""The private fakeredis names the fixes use, as ``module:attribute.path``."""

SOCKET_INTERNALS = ("_blocked", "_unblock_reason", "_client_info", "_db.condition", "_server.sockets", "_server.version")
"""Attributes of a fakeredis socket the hang-up watcher and the address fix use."""


class FakeredisMismatch(LabError):
    """The installed fakeredis lacks internals the embedded broker's fixes rely on."""


def installed_version() -> str:
    return importlib.metadata.version("fakeredis")


def _has(path: str) -> bool:
    """Whether ``module:attr.attr`` exists (a mapping on the way is indexed)."""
    module_name, _, attributes = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for name in attributes.split("."):
            obj = obj[name] if isinstance(obj, Mapping) else getattr(obj, name)
    except (ImportError, AttributeError, KeyError):
        return False
    return True


def _missing_socket_internals() -> list[str]:
    """The :data:`SOCKET_INTERNALS` a fresh fakeredis socket lacks (they are set per instance)."""
    try:
        import redis
        from fakeredis._core import FakeServer
        from fakeredis._socket import FakeSocket

        fake: Any = FakeSocket(FakeServer(), db=0, client_class=redis.Redis)
    except Exception as exc:  # a changed constructor is a changed internal
        return [f"fakeredis._socket.FakeSocket(server, db=0, client_class=...) ({type(exc).__name__}: {exc})"]
    missing = []
    for path in SOCKET_INTERNALS:
        obj = fake
        for name in path.split("."):
            obj = getattr(obj, name, _MISSING)
            if obj is _MISSING:
                missing.append(f"fakeredis socket .{path}")
                break
    return missing


_MISSING = object()


def missing_internals() -> list[str]:
    """Every internal in :data:`INTERNALS` and :data:`SOCKET_INTERNALS` the installed fakeredis lacks."""
    return [path for path in INTERNALS if not _has(path)] + _missing_socket_internals()


def check(version: str | None = None) -> bool:
    """Whether fakeredis ``version`` (default: the installed one) is one the fixes were written for.

    On another version it warns and returns False if every internal they use is
    still there; else it raises :class:`FakeredisMismatch`.
    """
    version = version or installed_version()
    if version in WRITTEN_FOR:
        return True
    missing = missing_internals()
    if missing:
        raise FakeredisMismatch(
            f"fakeredis {version} is installed, but the embedded broker's fixes were written for fakeredis "
            f"{' / '.join(WRITTEN_FOR)} and it lacks {', '.join(missing)}: install the pinned version "
            f"(pip install -r requirements.txt) or set REDIS_URL to use a Redis server"
        )
    log.warning(
        "fakeredis %s is not a version the embedded broker's fixes were tested with (%s); the internals they use "
        "are present, so they are applied",
        version,
        " / ".join(WRITTEN_FOR),
    )
    return False


def blmove_blocks(timeout: float = 0.05) -> bool:
    """Whether fakeredis's BLMOVE waits on an empty list (then :func:`fix_blmove` is not needed)."""
    import fakeredis
    from fakeredis._core import FakeServer

    conn = fakeredis.FakeRedis(server=FakeServer())
    started = time.monotonic()
    conn.blmove("lab:probe:empty", "lab:probe:other", timeout, "LEFT", "RIGHT")
    return time.monotonic() - started >= timeout * 0.8


def fix_blmove(*, probe: bool = False) -> bool:
    """Make fakeredis's BLMOVE block, as Redis's does; True if it is (now) patched.

    ``probe``: first ask whether this fakeredis's BLMOVE blocks already, and
    leave it alone if so (for a version the fix was not written for).
    """
    from fakeredis import _msgs as msgs
    from fakeredis._command_args_parsing import Timeout
    from fakeredis._commands import command
    from fakeredis._core import CommandItem
    from fakeredis._helpers import SimpleError, casematch
    from fakeredis.commands_mixins.list_mixin import ListCommandsMixin

    if getattr(ListCommandsMixin, "_lab_blmove_fixed", False):
        return True
    if probe and blmove_blocks():
        log.info("fakeredis's BLMOVE blocks already: the lab's BLMOVE fix is not applied")
        return False

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
    return True


def _human(size: int) -> str:
    """Bytes as Redis's INFO writes them (``used_memory_human``): 512B, 1.50K, 53.21M, 1.02G."""
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    return f"{size}B"


def _rss() -> int:
    """This process's resident memory in bytes (the broker's ``used_memory``: everything it holds)."""
    try:
        pages = int(open("/proc/self/statm").read().split()[1])  # noqa: SIM115 - one read
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def describe(fake_server: Any, *, port: int = 0) -> dict[str, Any]:
    """The facts INFO reports about a server that are not in fakeredis (start time, port, run id).

    Kept on the fakeredis server object; the embedded broker records them when
    it starts, an in-process fakeredis on its first INFO.
    """
    facts: dict[str, Any] | None = getattr(fake_server, "_lab_facts", None)
    if facts is None:
        facts = {"started": time.time(), "port": port, "run_id": secrets.token_hex(20), "connections": 0}
        fake_server._lab_facts = facts
    elif port:
        facts["port"] = port
    return facts


def redis_version(fake_server: Any) -> str:
    """The Redis version fakeredis emulates (it gates commands and replies by it), as ``major.minor.patch``."""
    parts = [int(p) for p in fake_server.version][:3]
    return ".".join(str(p) for p in parts + [0] * (3 - len(parts)))


INFO_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "keyspace")
"""The sections INFO answers, in Redis's order; ``INFO``, ``INFO default``, ``all`` and ``everything`` give all."""


def info_text(sock: Any, sections: list[str]) -> str:
    """The text of ``INFO [section ...]`` for the fakeredis socket ``sock``: Redis's format, true figures only."""
    server = sock._server
    wanted = [s.lower() for s in sections] or ["default"]
    if any(s in ("default", "all", "everything") for s in wanted):
        wanted = list(INFO_SECTIONS)
    facts = describe(server)
    now = time.time()
    sockets = list(server.sockets)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss = _rss()
    peak = max(rss, usage.ru_maxrss * 1024)

    def keyspace() -> list[str]:
        lines = []
        for number, db in sorted(server.dbs.items()):
            ttls = []
            keys = 0
            for key in db:
                keys += 1
                item = db.get(key)
                if item is not None and item.expireat is not None:
                    ttls.append(max(0.0, item.expireat - now))
            if keys:
                avg = int(sum(ttls) * 1000 / len(ttls)) if ttls else 0
                lines.append(f"db{number}:keys={keys},expires={len(ttls)},avg_ttl={avg}")
        return lines

    body: dict[str, Any] = {
        "server": lambda: [
            f"redis_version:{redis_version(server)}",
            "redis_mode:standalone",
            f"os:{platform.system()} {platform.release()} {platform.machine()}",
            f"arch_bits:{64 if sys.maxsize > 2**32 else 32}",
            f"process_id:{os.getpid()}",
            f"run_id:{facts['run_id']}",
            f"tcp_port:{facts['port']}",
            f"server_time_usec:{int(now * 1_000_000)}",
            f"uptime_in_seconds:{int(now - facts['started'])}",
            f"uptime_in_days:{int((now - facts['started']) // 86400)}",
            f"executable:{sys.executable}",
            "lab_broker:embedded",
            f"fakeredis_version:{installed_version()}",
        ],
        "clients": lambda: [
            f"connected_clients:{len(sockets)}",
            f"blocked_clients:{sum(1 for s in sockets if getattr(s, '_blocked', False))}",
            f"pubsub_clients:{sum(1 for s in sockets if getattr(s, '_pubsub', 0))}",
        ],
        "memory": lambda: [
            f"used_memory:{rss}",
            f"used_memory_human:{_human(rss)}",
            f"used_memory_rss:{rss}",
            f"used_memory_rss_human:{_human(rss)}",
            f"used_memory_peak:{peak}",
            f"used_memory_peak_human:{_human(peak)}",
            "maxmemory:0",
            "maxmemory_human:0B",
            "maxmemory_policy:noeviction",
            "mem_allocator:pymalloc",
        ],
        "persistence": lambda: ["loading:0", f"rdb_last_save_time:{server.lastsave}"],
        "stats": lambda: [f"total_connections_received:{facts['connections']}"],
        "replication": lambda: ["role:master", "connected_slaves:0"],
        "cpu": lambda: [f"used_cpu_sys:{usage.ru_stime:.6f}", f"used_cpu_user:{usage.ru_utime:.6f}"],
        "keyspace": keyspace,
    }
    parts = []
    for name in INFO_SECTIONS:
        if name in wanted:
            title = "CPU" if name == "cpu" else name.capitalize()
            parts.append("\r\n".join([f"# {title}", *body[name]()]) + "\r\n")
    return "\r\n".join(parts)


def _supported_elsewhere(name: str, marker: str) -> bool:
    """Whether fakeredis itself answers command ``name`` (not through the lab's fix flagged ``marker``)."""
    from fakeredis._commands import SUPPORTED_COMMANDS

    sig = SUPPORTED_COMMANDS.get(name)
    return sig is not None and not getattr(sig, marker, False)


def fix_info() -> bool:
    """Answer INFO, as Redis does; True if it is (now) the lab's INFO, False if fakeredis has its own."""
    from fakeredis._commands import SUPPORTED_COMMANDS, command
    from fakeredis.commands_mixins.server_mixin import ServerCommandsMixin

    if _supported_elsewhere("info", "_lab_fix"):
        log.info("fakeredis answers INFO itself: the lab's INFO is not applied")
        return False

    @command(name="INFO", fixed=(), repeat=(bytes,))
    def info(self: Any, *sections: bytes) -> bytes:
        return info_text(self, [s.decode(errors="replace") for s in sections]).encode()

    SUPPORTED_COMMANDS["info"]._lab_fix = True  # type: ignore[attr-defined]
    ServerCommandsMixin.info = info  # type: ignore[attr-defined]
    return True


class SendAll:
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


def request_handler() -> type:
    """A new request handler class for fakeredis's TCP server, with the connection fixes above."""
    from fakeredis._clients._tcp_server import TCPFakeRequestHandler

    class NoDelayHandler(TCPFakeRequestHandler):
        def setup(self) -> None:
            # Without it a pipelined command waits ~40 ms for the delayed ACK.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()
            # fakeredis makes the socket non-blocking, so a large reply (a long XRANGE)
            # would fail half-sent; send it whole, waiting for room as needed
            self.writer.writer = SendAll(self.request)  # type: ignore[assignment]
            fake = self.current_client.get_socket()
            describe(fake._server)["connections"] += 1
            info = fake._client_info
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

    return NoDelayHandler


_checked: bool | None = None


def apply() -> type:
    """Check the installed fakeredis (once), fix its BLMOVE, add INFO, and return a request handler class."""
    global _checked
    if _checked is None:
        _checked = check()
    fix_blmove(probe=not _checked)
    fix_info()
    return request_handler()
