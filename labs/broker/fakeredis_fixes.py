"""The embedded broker's fixes to fakeredis, and the guard that checks they still fit.

fakeredis's TCP server is close enough to Redis for the lessons, but not quite:

- BLMOVE on an empty list answers at once instead of waiting (:func:`fix_blmove`);
  RQ's worker dequeues a single queue with BLMOVE, so an idle worker would spin;
- a pipelined command waits ~40 ms for the delayed ACK (TCP_NODELAY is not set);
- its sockets are non-blocking, so a large reply (a long XRANGE) is cut off
  half-sent (:class:`SendAll`);
- CLIENT LIST shows addresses as ``('127.0.0.1', 5000)``, not ``127.0.0.1:5000``;
- a client that dies inside a blocking command (BLPOP, BLMOVE, XREAD BLOCK)
  is not noticed, and would be handed the next job (:func:`fix_sockets` checks
  the connection before handing anything over);
- CLIENT KILL leaves the connection open (the victim's next command fails),
  CLIENT LIST shows ``db=0 cmd=auth`` for every client, and there is no TOUCH
  (:func:`fix_sockets`, :func:`fix_touch`);
- there is no INFO (:func:`fix_info`): RQ then takes the server for Redis 5.0.9
  and never uses LMOVE/BLMOVE (its reliable dequeue), ARQ's worker start and
  ``redis-cli info`` fail;
- a published message waits for its subscriber's handler to poll again (every
  10 ms, 100 wake-ups a second for every idle connection): the handler here is
  woken when a message is queued for it (:class:`Waker`).

The fixes reach into fakeredis's private internals (:data:`INTERNALS`), which
may change in any release. :func:`check` compares the installed fakeredis with
the versions they were written for (:data:`WRITTEN_FOR`, the version
requirements.txt pins): on another version it checks that every internal is
still there and fails with a clear message if one is not, and it skips the
BLMOVE fix if that version's BLMOVE already blocks.
"""

from __future__ import annotations

import contextlib
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
    "fakeredis._commands:Key",
    "fakeredis._socket._base:BaseFakeSocket._process_command",
    "fakeredis._socket._base:BaseFakeSocket.kill",
    "fakeredis.commands_mixins.connection_mixin:ConnectionCommandsMixin.client_list_cmd",
    "fakeredis.commands_mixins.connection_mixin:ConnectionCommandsMixin.client_info_cmd",
    "fakeredis.commands_mixins.generic_mixin:GenericCommandsMixin",
    "fakeredis.commands_mixins.server_mixin:ServerCommandsMixin.save",
    "fakeredis.commands_mixins.server_mixin:ServerCommandsMixin.bgsave",
    "fakeredis._core._database:Item",
    "fakeredis._socket._base:BaseFakeSocket.put_response",
    "fakeredis._clients._tcp_server:TCPFakeRequestHandler.handle",
    "fakeredis._clients._sync:FakeRedisConnection.can_read",
    "fakeredis._clients._sync:FakeRedisConnection.read_response",
    "fakeredis._typing:RaiseErrorTypes",
)
"""The private fakeredis names the fixes use, as ``module:attribute.path``."""

SOCKET_INTERNALS = (
    "_blocked",
    "_unblock_reason",
    "_client_info",
    "_db_num",
    "_db.condition",
    "_server.sockets",
    "_server.version",
    "_killed",
    "_pubsub",
    "_db._dict",
    "_server.lock",
    "_server.script_cache",
    "_server.lastsave",
    "responses",
)
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


def fix_touch() -> bool:
    """Answer TOUCH (the number of the keys that exist), as Redis does; False if fakeredis has its own."""
    from fakeredis._commands import SUPPORTED_COMMANDS, Key, command
    from fakeredis.commands_mixins.generic_mixin import GenericCommandsMixin

    if _supported_elsewhere("touch", "_lab_fix"):
        log.info("fakeredis answers TOUCH itself: the lab's TOUCH is not applied")
        return False

    @command(name="TOUCH", fixed=(Key(),), repeat=(Key(),))
    def touch(self: Any, *keys: Any) -> int:
        return sum(1 for key in keys if key)

    SUPPORTED_COMMANDS["touch"]._lab_fix = True  # type: ignore[attr-defined]
    GenericCommandsMixin.touch = touch  # type: ignore[attr-defined]
    return True


def fix_save() -> None:
    """Make SAVE and BGSAVE write the embedded broker's snapshot (fakeredis only records the time).

    The broker puts ``_lab_snapshot(blocking)`` on its fakeredis server; a
    fakeredis with none (in-process) keeps fakeredis's behaviour.
    """
    from fakeredis.commands_mixins.server_mixin import ServerCommandsMixin

    if getattr(ServerCommandsMixin, "_lab_save_fixed", False):
        return
    save, bgsave = ServerCommandsMixin.save, ServerCommandsMixin.bgsave

    def lab_save(self: Any) -> Any:
        snapshot = getattr(self._server, "_lab_snapshot", None)
        if snapshot is not None:
            snapshot(blocking=True)
        return save(self)

    def lab_bgsave(self: Any, *args: bytes) -> Any:
        reply = bgsave(self, *args)  # checks the arguments first
        snapshot = getattr(self._server, "_lab_snapshot", None)
        if snapshot is not None:
            snapshot(blocking=False)
        return reply

    ServerCommandsMixin.save = lab_save  # type: ignore[method-assign]
    ServerCommandsMixin.bgsave = lab_bgsave  # type: ignore[method-assign]
    ServerCommandsMixin._lab_save_fixed = True  # type: ignore[attr-defined]


class _PeerGone(Exception):
    """Raised inside a blocking command when its client has hung up, to end the wait without taking anything."""


def fix_sockets() -> None:
    """Patch fakeredis's socket: CLIENT LIST's ``db``/``cmd``/``idle``, CLIENT KILL closing, no pop for the dead.

    - every command records its name (``client|list`` as Redis writes it), the
      time and, after it ran, the selected database in the client's info, so
      CLIENT LIST and CLIENT INFO show them (fakeredis shows ``db=0 cmd=auth``);
    - CLIENT KILL calls the TCP handler's ``_lab_on_kill``, which closes the
      connection (fakeredis only fails the victim's next command);
    - a blocking command (BLPOP, BRPOP, BLMOVE, BZPOPMIN, XREAD(GROUP) BLOCK...)
      that wakes up for new data first asks the TCP handler's
      ``_lab_peer_gone`` whether its client is still there: if not it ends
      without taking anything, so the item stays for a live client. The check
      is made at the moment of handing over, not on a timer;
    - a reply queued for a client by another one (a published message, a
      keyspace notification) calls the TCP handler's ``_lab_wake``, so it is
      sent at once rather than at the handler's next poll.
    """
    from fakeredis._socket._base import BaseFakeSocket
    from fakeredis.commands_mixins.connection_mixin import ConnectionCommandsMixin

    if getattr(BaseFakeSocket, "_lab_sockets_fixed", False):
        return
    process_command = BaseFakeSocket._process_command
    kill = BaseFakeSocket.kill
    blocking = BaseFakeSocket._blocking
    put_response = BaseFakeSocket.put_response
    client_list = ConnectionCommandsMixin.client_list_cmd
    client_info = ConnectionCommandsMixin.client_info_cmd

    def _process_command(self: Any, fields: list[bytes]) -> None:
        if fields:
            name = fields[0].decode(errors="replace").lower()
            if len(fields) > 1 and name in ("client", "config", "command", "object", "xinfo", "memory", "script", "acl"):
                name += "|" + fields[1].decode(errors="replace").lower()
            info = self._client_info
            info["cmd"] = name
            info["-last"] = time.time()
            info["db"] = self._db_num
        process_command(self, fields)
        if self._server is not None:  # None once closed
            self._client_info["db"] = self._db_num

    def _put_response(self: Any, msg: Any) -> None:
        put_response(self, msg)
        wake = getattr(self, "_lab_wake", None)
        if wake is not None:
            wake()

    def _kill(self: Any) -> None:
        kill(self)
        on_kill = getattr(self, "_lab_on_kill", None)
        if on_kill is not None:
            on_kill()

    def _blocking(self: Any, timeout: float | None, func: Any, shape: Any = None) -> Any:
        peer_gone = getattr(self, "_lab_peer_gone", None)
        if peer_gone is None:
            return blocking(self, timeout, func, shape)

        def handed_over_only_if_there(first_pass: bool) -> Any:
            if not first_pass and peer_gone():
                raise _PeerGone
            return func(first_pass)

        try:
            return blocking(self, timeout, handed_over_only_if_there, shape)
        except _PeerGone:
            return None if shape is None else shape(None)

    def _refresh(sockets: list[Any]) -> None:
        now = time.time()
        for sock in sockets:
            info = sock._client_info
            info["idle"] = int(now - info.get("-last", info.get("-created", now)))
            flags = [f for f in str(info.get("flags", "N")) if f not in "bPN"]
            if getattr(sock, "_blocked", False):
                flags.append("b")
            if getattr(sock, "_pubsub", 0):
                flags.append("P")
            info["flags"] = "".join(flags) or "N"

    def client_list_cmd(self: Any, *args: bytes) -> bytes:
        _refresh(list(self._server.sockets))
        return client_list(self, *args)

    def client_info_cmd(self: Any) -> bytes:
        _refresh([self])
        return client_info(self)

    BaseFakeSocket._process_command = _process_command  # type: ignore[method-assign]
    BaseFakeSocket.kill = _kill  # type: ignore[method-assign]
    BaseFakeSocket.put_response = _put_response  # type: ignore[method-assign]
    BaseFakeSocket._blocking = _blocking  # type: ignore[method-assign]
    ConnectionCommandsMixin.client_list_cmd = client_list_cmd  # type: ignore[method-assign]
    ConnectionCommandsMixin.client_info_cmd = client_info_cmd  # type: ignore[method-assign]
    BaseFakeSocket._lab_sockets_fixed = True  # type: ignore[attr-defined]


_HANGUP = select.POLLRDHUP | select.POLLHUP | select.POLLERR if hasattr(select, "POLLRDHUP") else 0


def peer_gone(sock: socket.socket, wait: float = 0) -> bool:
    """Whether the client at the other end of ``sock`` has hung up (waiting up to ``wait`` seconds to find out).

    On Linux poll's POLLRDHUP says so even when unread commands are still
    queued; elsewhere a readable socket that peeks no byte is a hang-up.
    """
    try:
        if _HANGUP:
            poller = select.poll()
            poller.register(sock, _HANGUP)
            return bool(poller.poll(int(wait * 1000)))
        readable, _, _ = select.select([sock], [], [], wait)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # closed under us
        return True


class SendAll:
    """A write buffer that sends everything on a non-blocking socket when flushed.

    ``close_after_flush``: a client that CLIENT KILLed itself gets its reply, then the connection closes.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.close_after_flush = False

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
            if self.close_after_flush:
                hang_up(self.sock)


IDLE_WAIT = 0.1
"""How long an idle connection's handler sleeps between checks that the server is stopping (fakeredis: 10 ms).

Replies pushed to it (pub/sub) no longer wait for the next check: :class:`Waker` wakes it."""


class Waker:
    """Wakes a connection's handler from its wait on the socket when a reply is queued for it by another client.

    fakeredis's handler polls its client's reply queue every 10 ms, so a
    published message waited up to 10 ms (Redis: well under 1 ms) and every idle
    connection cost 100 wake-ups a second. The handler now waits on the socket
    *and* this file descriptor (an eventfd; a pipe where there is none); a
    reply queued while it waits writes to it. ``waiting`` is set only while the
    handler waits, so the replies to its own commands cost no write.
    """

    def __init__(self) -> None:
        self.waiting = False
        if hasattr(os, "eventfd"):
            self._read = self._write = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - not Linux
            self._read, self._write = os.pipe()
            os.set_blocking(self._read, False)
            os.set_blocking(self._write, False)
        self._closed = False

    def fileno(self) -> int:
        return self._read

    def wake(self) -> None:
        """Called by whoever queued a reply (holding the server lock, as :meth:`detach` does)."""
        if self.waiting and not self._closed:
            with contextlib.suppress(OSError):  # full (it is already awake)
                os.write(self._write, (1).to_bytes(8, sys.byteorder))

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self._read, 4096)

    def close(self) -> None:
        """Close it; the caller has made sure no one can call :meth:`wake` any more (see the handler's finish)."""
        self._closed = True
        os.close(self._read)
        if self._write != self._read:
            os.close(self._write)


def hang_up(sock: socket.socket) -> None:
    """Close the connection on ``sock`` (both ways); its handler then sees the end and cleans up."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def request_handler() -> type:
    """A new request handler class for fakeredis's TCP server, with the connection fixes above."""
    from fakeredis._clients._tcp_server import TCPFakeRequestHandler
    from fakeredis._typing import RaiseErrorTypes

    class NoDelayHandler(TCPFakeRequestHandler):
        def setup(self) -> None:
            # Without it a pipelined command waits ~40 ms for the delayed ACK.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()
            # fakeredis makes the socket non-blocking, so a large reply (a long XRANGE)
            # would fail half-sent; send it whole, waiting for room as needed
            self._sender = SendAll(self.request)
            self.writer.writer = self._sender  # type: ignore[assignment]
            self._thread_id = threading.get_ident()
            # Kept: asking current_client later would open a new fakeredis socket once this one is closed.
            self._fake = fake = self.current_client.get_socket()
            describe(fake._server)["connections"] += 1
            info = fake._client_info
            for field in ("addr", "laddr"):  # "('127.0.0.1', 5000)" -> "127.0.0.1:5000", as Redis writes it
                value = info.get(field)
                if isinstance(value, tuple):
                    info[field] = f"{value[0]}:{value[1]}"
            info["-last"] = time.time()
            fake._lab_peer_gone = lambda: peer_gone(self.request)
            fake._lab_on_kill = self._on_kill
            self._lock = fake._server.lock
            self._waker = Waker()
            fake._lab_wake = self._waker.wake
            self._gone = threading.Event()
            threading.Thread(target=self._watch_hangup, daemon=True, name="broker-hangup").start()

        def handle(self) -> None:
            with contextlib.suppress(OSError):  # the connection was closed under it (CLIENT KILL): nothing to tell
                self._serve()

        def _serve(self) -> None:
            """fakeredis's loop (replies first, then the client's commands), waiting on the socket and the waker."""
            client = self.current_client
            while not self.server._shutdown_event.is_set():
                try:
                    if client.can_read():
                        try:
                            response = client.read_response()
                        except RaiseErrorTypes as e:  # an error reply: sent, and the connection goes on
                            response = e
                        self.writer.dump(response)
                        continue
                    data = self.rfile.readline()  # non-blocking: b"" is "nothing yet" or the end
                    if data == b"":
                        self._waker.waiting = True
                        try:
                            if client.can_read():  # queued before the waker was armed
                                continue
                            readable, _, _ = select.select([self.connection, self._waker], [], [], IDLE_WAIT)
                        finally:
                            self._waker.waiting = False
                        if self._waker in readable:
                            self._waker.drain()
                        if self.connection not in readable:
                            continue
                        data = self.rfile.readline()
                        if data == b"":  # readable yet no byte: the client hung up
                            break
                    client.get_socket().sendall(data)
                except ConnectionError:  # the peer reset the connection
                    break
                except Exception as e:  # noqa: BLE001 - as fakeredis: tell the client, then close
                    self.writer.dump(e)
                    break

        def finish(self) -> None:
            self._gone.set()
            with self._lock:  # whoever queues a reply holds it: after this no one calls wake()
                self._fake._lab_wake = None
            self._waker.close()
            super().finish()

        def _on_kill(self) -> None:
            """CLIENT KILL chose this client (called with the server lock held): close its connection."""
            if threading.get_ident() == self._thread_id:
                self._sender.close_after_flush = True  # it killed itself: it still gets its reply
                return
            hang_up(self.request)
            self._unblock(self._fake)

        @staticmethod
        def _unblock(fake: Any) -> None:
            """Wake ``fake`` from its blocking command with an empty reply (the server lock must be held)."""
            if getattr(fake, "_blocked", False) and fake._db is not None:
                fake._unblock_reason = b"timeout"
                fake._db.condition.notify_all()

        def _watch_hangup(self) -> None:
            """End a blocking command (BLMOVE, XREAD BLOCK) whose client has gone, so its thread is freed.

            Not what keeps items safe (the check at hand-over does that); this
            frees the thread and drops the client from CLIENT LIST and INFO as
            soon as the kernel reports the hang-up.
            """
            while not self._gone.is_set():
                if not peer_gone(self.request, wait=0.5):
                    continue
                while not self._gone.wait(0.05):
                    db = self._fake._db
                    if db is not None and getattr(self._fake, "_blocked", False):
                        with db.condition:
                            self._unblock(self._fake)
                return

    return NoDelayHandler


_checked: bool | None = None


def apply() -> type:
    """Check the installed fakeredis (once), apply every fix, and return a request handler class."""
    global _checked
    if _checked is None:
        _checked = check()
    fix_blmove(probe=not _checked)
    fix_info()
    fix_touch()
    fix_sockets()
    fix_save()
    return request_handler()
