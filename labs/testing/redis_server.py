"""A private ``redis-server`` for the reliability tests: stopped and started again on purpose (a broker restart)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from ..ports import free_port
from ..settings import settings
from .children import preexec


class RedisServerMissing(RuntimeError):
    """No ``redis-server`` binary on this machine."""


def redis_server_binary() -> str:
    """Path of ``redis-server`` (``LAB_REDIS_SERVER`` overrides); :class:`RedisServerMissing` if absent."""
    path = settings().redis_server or shutil.which("redis-server")
    if not path or not os.access(path, os.X_OK):
        raise RedisServerMissing(
            "redis-server not found: install Redis (e.g. `apt-get install redis-server`) or set LAB_REDIS_SERVER"
        )
    return str(path)


class RedisServer:
    """A private ``redis-server`` on ``127.0.0.1:<port>``, data in a temp dir, append-only persistence.

    ``appendfsync="always"`` (the default) syncs the log on every write, so
    even a SIGKILL loses nothing; ``"everysec"`` is much faster under load and
    loses nothing on a clean stop. ``stop()`` then ``start()`` (or ``restart()``) brings it back on the same
    port with the same data, as an operator restarting Redis would.
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | Path | None = None,
        appendfsync: str = "always",
        startup_timeout: float = 10.0,
        also_bind: tuple[str, ...] = (),
    ) -> None:
        if appendfsync not in {"always", "everysec", "no"}:
            raise ValueError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        self.binary = redis_server_binary()
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lab-redis-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.startup_timeout = startup_timeout
        self.also_bind = also_bind  # more addresses to listen on (a second host's link), besides loopback
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def url_on(self, address: str) -> str:
        """The URL on one of :attr:`also_bind`'s addresses (what a second host dials)."""
        return f"redis://{address}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def start(self) -> RedisServer:
        """Start the server (no-op if it runs) and wait until it answers PING."""
        if self.running:
            return self
        cmd = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1", *self.also_bind,
            "--protected-mode", "no",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=preexec(),  # noqa: PLW1509
        )
        deadline = time.monotonic() + self.startup_timeout
        probe = self.client()
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see {self.data_dir / 'redis.log'}")
                try:
                    if probe.ping():
                        return self
                except redis.exceptions.BusyLoadingError:
                    pass  # replaying the append-only file
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not answer on port {self.port} within {self.startup_timeout:g} s")
                time.sleep(0.02)
        finally:
            probe.close()

    def stop(self, hard: bool = False) -> None:
        """Stop the server: SIGTERM (a clean shutdown) or, with ``hard``, SIGKILL (a crash)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self, down_for: float = 0.0, hard: bool = False) -> None:
        """Stop, stay down ``down_for`` seconds, start again on the same port with the same data."""
        self.stop(hard=hard)
        time.sleep(down_for)
        self.start()
        self.restarts += 1

    def close(self) -> None:
        """Stop the server and remove its temp data dir (if this object made it)."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
