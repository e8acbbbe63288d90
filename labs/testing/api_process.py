"""The lab's API in a process of its own (``python -m labs api``), as in production: it can outlive a broker restart."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..client import LabClient
from ..launcher import stop_process
from ..ports import free_port
from ..settings import REPO_ROOT, child_environment, state_dir
from .children import preexec


class ApiServer:
    """The lab's API (``python -m labs api``: uvicorn) in a process of its own, on a free loopback port.

    It finds the broker as every lab process does (``REDIS_URL`` in ``env`` or
    the environment). Its log goes to ``<state dir>/logs/api-<port>.log``, the
    state dir being the server's (``LAB_STATE_DIR`` in ``env``, else this process's).
    """

    def __init__(self, env: dict[str, str] | None = None, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self.port = port or free_port()
        self.env = {"LAB_API_ACCESS_LOG": "0", "LAB_API_LOG_LEVEL": "warning", **(env or {})}
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        state = self.env.get("LAB_STATE_DIR")
        return (Path(state) if state else state_dir()) / "logs" / f"api-{self.port}.log"

    def start(self) -> ApiServer:
        log = self.log_path
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "labs", "api", "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=str(REPO_ROOT),
                env=child_environment(self.env),
                start_new_session=True,
                preexec_fn=preexec(),  # noqa: PLW1509
            )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API exited with {self.proc.returncode}; see {log}")
            with contextlib.suppress(httpx.HTTPError), LabClient(self.url, timeout=2) as api:
                api.health()  # 200, or 503 while the broker is down: the API itself is up
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API did not answer on port {self.port} within {self.startup_timeout:g} s")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
