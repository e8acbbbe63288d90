"""The embedded broker: fakeredis's TCP server on loopback, so the lab runs with no Redis installed.

Started by ``python -m labs broker`` / ``python -m labs up`` (:mod:`labs.broker.daemon`),
or in-process by tests and exercise checks. With ``write_url`` it writes its URL
to ``<state dir>/broker.url``, where every other process looks for it.
"""

from __future__ import annotations

import threading

from ..ports import free_port
from . import fakeredis_fixes
from .connection import url_file


class EmbeddedBroker:
    """fakeredis's TCP server on loopback, with the lab's fixes (:mod:`labs.broker.fakeredis_fixes`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, write_url: bool = True) -> None:
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
