"""The embedded broker as a background process: ``python -m labs broker``, started on demand.

:func:`ensure_broker` is what makes a notebook or ``streamlit run app.py`` work
with zero set-up; the process records its pid in ``<state dir>/broker.pid`` so
that :func:`stop_background_broker` can stop it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import BrokerUnavailable
from ..settings import REPO_ROOT, settings, state_dir
from .connection import get_connection, is_alive, redis_url, url_file
from .embedded import EmbeddedBroker

PID_FILE = "broker.pid"


def pid_file() -> Path:
    """Where a background embedded broker records its pid."""
    return state_dir() / PID_FILE


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Run the embedded broker in the foreground until interrupted (``python -m labs broker``)."""
    url = redis_url()
    if url and not settings().redis_url and is_alive(url):
        print(f"an embedded broker is already running at {url}")
        return
    broker = EmbeddedBroker(host, port).start()
    pid_path = pid_file()
    pid_path.write_text(f"{os.getpid()}\n")
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
        pid_path.unlink(missing_ok=True)


def stop_background_broker(timeout: float = 5.0) -> bool:
    """Stop an embedded broker started by ``python -m labs broker`` / :func:`ensure_broker`.

    Returns True if one was running. (``python -m labs up`` stops its own broker on Ctrl-C.)
    """
    pid_path = pid_file()
    if not pid_path.exists():
        return False
    try:
        pid = int(pid_path.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError):
        pid_path.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_path.exists():
        time.sleep(0.05)
    return True


def ensure_broker(timeout: float = 15.0) -> str:
    """Return a live broker URL, starting the embedded broker in the background if needed.

    With ``REDIS_URL`` it only checks the server; otherwise it reuses a running
    embedded broker or starts ``python -m labs broker`` as a background process.
    """
    configured = settings().redis_url
    if configured:
        get_connection()  # raises a one-line BrokerUnavailable if it is down
        return configured
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
            cwd=str(REPO_ROOT),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = redis_url()
        if url and is_alive(url):
            return url
        time.sleep(0.1)
    raise BrokerUnavailable(f"the embedded broker did not start within {timeout:.0f} s; see {log_path}")
