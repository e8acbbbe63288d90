"""The embedded broker: fakeredis's TCP server on loopback, so the lab runs with no Redis installed.

Started by ``python -m labs broker`` / ``python -m labs up`` (:mod:`labs.broker.daemon`),
or in-process by tests and exercise checks. With ``write_url`` it writes its URL
to ``<state dir>/broker.url``, where every other process looks for it, and holds
the folder's running lock (:mod:`labs.broker.folder`) while it runs: one broker
per state folder.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from pathlib import Path

from ..ports import free_port
from ..settings import settings
from . import fakeredis_fixes, folder, snapshot
from .connection import url_file

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """fakeredis's TCP server on loopback, with the lab's fixes (:mod:`labs.broker.fakeredis_fixes`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        write_url: bool = True,
        fresh: bool = False,
        snapshot_path: Path | None = None,
    ) -> None:
        """``write_url``: serve the state folder (URL file, folder lock, snapshot kept in it, unless ``snapshot_path``).

        ``fresh``: start empty, setting an existing snapshot aside.
        """
        from fakeredis import TcpFakeServer

        handler = fakeredis_fixes.apply()
        self.host = host
        self.port = port or free_port(host)
        self.server = TcpFakeServer((host, self.port), server_type="redis")
        self.server.RequestHandlerClass = handler
        self.server.daemon_threads = True
        fakeredis_fixes.describe(self.server.fake_server, port=self.port)
        self.write_url = write_url
        self._thread: threading.Thread | None = None
        self._folder: folder.FileLock | None = None
        self.snapshot_path = snapshot_path or (snapshot.snapshot_file() if write_url else None)
        self.fresh = fresh
        self.restored = 0
        """How many keys the snapshot brought back at start."""
        self._stopping = threading.Event()
        self._saver: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> EmbeddedBroker:
        """Serve; with ``write_url``, first take the state folder (:class:`~labs.broker.folder.FolderTaken` if served)."""
        if self.write_url:
            try:
                self._folder = folder.claim()
            except folder.FolderTaken:
                self.server.server_close()
                raise
        if self.snapshot_path is not None:
            if self.fresh:
                aside = snapshot.set_aside(self.snapshot_path)
                if aside:
                    log.warning("starting empty (--fresh); the previous snapshot is kept as %s", aside)
            else:
                self.restored = snapshot.load(self.server.fake_server, self.snapshot_path)
                if self.restored:
                    gc.freeze()  # the loaded data is long-lived: spare it the collector's full passes (seconds each)
            self.server.fake_server._lab_snapshot = self._snapshot_command
            every = settings().broker_snapshot_seconds
            if every > 0:
                self._saver = threading.Thread(target=self._save_every, args=(every,), name="broker-snapshot", daemon=True)
                self._saver.start()
        self._thread = threading.Thread(target=self.server.serve_forever, name="embedded-broker", daemon=True)
        self._thread.start()
        if self.write_url:
            url_file().write_text(self.url + "\n")
        return self

    def stop(self) -> None:
        if self.write_url and url_file().exists() and url_file().read_text().strip() == self.url:
            url_file().unlink(missing_ok=True)
        self._stopping.set()
        self.server.shutdown()
        if self._saver is not None:
            self._saver.join(30)
        if self.snapshot_path is not None:
            self.save()
        self.server.server_close()
        if self._folder is not None:
            self._folder.release()
            self._folder = None

    def save(self) -> int:
        """Write the snapshot now (the number of keys in it)."""
        assert self.snapshot_path is not None, "this broker keeps no snapshot"
        return snapshot.save(self.server.fake_server, self.snapshot_path)

    def _snapshot_command(self, *, blocking: bool) -> None:
        """SAVE (here, holding everyone up, as Redis's does) or BGSAVE (a forked child); the server lock is held."""
        assert self.snapshot_path is not None
        if blocking or not hasattr(os, "fork"):
            blob, _ = snapshot.capture(self.server.fake_server)
            snapshot.write(blob, self.snapshot_path)
            return
        pid = snapshot.fork_writer(self.server.fake_server, self.snapshot_path)
        threading.Thread(target=os.waitpid, args=(pid, 0), name="broker-bgsave", daemon=True).start()

    def _save_every(self, seconds: float) -> None:
        """Every ``seconds`` after the last one ended, a snapshot written by a forked child (the broker does not stop)."""
        assert self.snapshot_path is not None
        while not self._stopping.wait(seconds):
            # What is still alive after an interval is mostly the broker's data: moving it out of the
            # collector's reach keeps full collections (seconds each at 100,000 jobs) from stalling it.
            gc.freeze()
            try:
                code = snapshot.save_in_child(self.server.fake_server, self.snapshot_path)
            except OSError as exc:  # no fork or a full disk must not stop the broker; the next try may succeed
                log.warning("could not write the broker snapshot %s: %s", self.snapshot_path, exc)
                continue
            if code != 0:
                log.warning("the process writing the broker snapshot %s exited with %s", self.snapshot_path, code)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
