"""The embedded broker as a background process: ``python -m labs broker``, started on demand.

:func:`ensure_broker` is what makes a notebook or ``streamlit run app.py`` work
with zero set-up; the process records its pid in ``<state dir>/broker.pid`` so
that :func:`stop_background_broker` can stop it. Starting is serialized by the
folder's start lock and a running broker holds its running lock
(:mod:`labs.broker.folder`), so processes that start one at the same moment
all get the same broker, and a crashed broker's URL and pid files are
recognised as stale and cleared.
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
from . import folder
from .connection import get_connection, is_alive, redis_url, url_file
from .embedded import EmbeddedBroker

PID_FILE = "broker.pid"
LOADING_SECONDS = 300.0
"""How much longer than its start timeout a broker that holds the folder may take to answer (loading a snapshot)."""


def pid_file() -> Path:
    """Where a background embedded broker records its pid."""
    return state_dir() / PID_FILE


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def serve(host: str = "127.0.0.1", port: int = 0, *, fresh: bool = False) -> None:
    """Run the embedded broker in the foreground until interrupted (``python -m labs broker``).

    It loads the folder's snapshot (``fresh``: starts empty instead) and writes it on the way out.
    """
    url = redis_url()
    if url and not settings().redis_url and is_alive(url):
        print(f"an embedded broker is already running at {url}")
        return
    try:
        broker = EmbeddedBroker(host, port, fresh=fresh).start()
    except folder.FolderTaken:
        url = _serving_url(time.monotonic() + 10)
        print(f"an embedded broker is already running at {url or '(still starting)'}")
        return
    pid_path = pid_file()
    pid_path.write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"embedded broker (fakeredis) listening at {broker.url}", flush=True)
    print(f"URL written to {url_file()}", flush=True)
    if fresh:
        print("started empty (--fresh)", flush=True)
    else:
        print(f"{broker.restored} keys restored from {broker.snapshot_path}", flush=True)
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
    if not folder.served():  # left by a broker that crashed: its pid may be another process's by now
        pid_path.unlink(missing_ok=True)
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


def _serving_url(deadline: float) -> str | None:
    """The URL of the broker that serves this folder, waiting for it to answer until ``deadline``; None if none does."""
    while True:
        url = redis_url()
        if url and is_alive(url):
            return url
        if not folder.served() or time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def _clear_stale() -> None:
    """Remove the URL and pid files a broker left behind when it died (call only when no broker serves the folder)."""
    url_file().unlink(missing_ok=True)
    pid_file().unlink(missing_ok=True)


def ensure_broker(timeout: float = 15.0) -> str:
    """Return a live broker URL, starting the embedded broker in the background if needed.

    With ``REDIS_URL`` it only checks the server; otherwise it reuses a running
    embedded broker or starts ``python -m labs broker`` as a background process.
    Only one starter at a time (the folder's start lock): the others wait, then
    find its broker.
    """
    configured = settings().redis_url
    if configured:
        get_connection()  # raises a one-line BrokerUnavailable if it is down
        return configured
    url = redis_url()
    if url and is_alive(url):
        return url
    deadline = time.monotonic() + timeout
    log_path = state_dir() / "broker.log"
    with folder.start_lock() as starting:
        if not starting.acquire(timeout):
            raise BrokerUnavailable(f"another process has been starting the embedded broker for {timeout:.0f} s; see {log_path}")
        url = _serving_url(deadline + LOADING_SECONDS)  # one that holds the folder may be loading its snapshot
        if url:
            return url
        if folder.served():
            raise BrokerUnavailable(f"the embedded broker for {state_dir()} runs but does not answer; see {log_path}")
        _clear_stale()
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "labs", "broker"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=str(REPO_ROOT),
            )
        while True:
            url = redis_url()
            if url and is_alive(url):
                return url
            if proc.poll() is not None and not folder.served():
                raise BrokerUnavailable(f"the embedded broker exited at start (code {proc.returncode}); see {log_path}")
            now = time.monotonic()
            loading = proc.poll() is None and folder.served()  # it took the folder and loads the snapshot
            if now >= deadline and not (loading and now < deadline + LOADING_SECONDS):
                break
            time.sleep(0.1)
    raise BrokerUnavailable(f"the embedded broker did not start within {timeout:.0f} s; see {log_path}")
