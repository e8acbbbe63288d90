"""The embedded broker's fixes to fakeredis, and the guard that checks they still fit.

fakeredis's TCP server is close enough to Redis for the lessons, but not quite:

- BLMOVE on an empty list answers at once instead of waiting (:func:`fix_blmove`);
  RQ's worker dequeues a single queue with BLMOVE, so an idle worker would spin;
- a pipelined command waits ~40 ms for the delayed ACK (TCP_NODELAY is not set);
- its sockets are non-blocking, so a large reply (a long XRANGE) is cut off
  half-sent (:class:`SendAll`);
- CLIENT LIST shows addresses as ``('127.0.0.1', 5000)``, not ``127.0.0.1:5000``;
- a client that dies inside a blocking command (BLMOVE, XREAD BLOCK) is not
  noticed, and would be handed the next job.

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
import select
import socket
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
)
"""The private fakeredis names the fixes use, as ``module:attribute.path``."""

SOCKET_INTERNALS = ("_blocked", "_unblock_reason", "_client_info", "_db.condition")
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

    return NoDelayHandler


_checked: bool | None = None


def apply() -> type:
    """Check the installed fakeredis (once), fix its BLMOVE, and return a request handler class."""
    global _checked
    if _checked is None:
        _checked = check()
    fix_blmove(probe=not _checked)
    return request_handler()
