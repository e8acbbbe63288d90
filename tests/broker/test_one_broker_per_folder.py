"""One embedded broker per state folder (issue 19): simultaneous starters share one; a crashed one is replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labs import broker
from labs.broker import EmbeddedBroker, ensure_broker, folder, url_file
from labs.broker.daemon import pid_file
from labs.settings import REPO_ROOT

STARTER = """
import sys, time
from labs.broker import ensure_broker
go = float(sys.argv[1])
time.sleep(max(0.0, go - time.time()))
print(ensure_broker(timeout=60), flush=True)
"""


def brokers_serving(state: Path) -> list[int]:
    """The pids of ``python -m labs broker`` processes whose state folder is ``state``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = cmdline[1:4] == [b"-m", b"labs", b"broker"] and f"LAB_STATE_DIR={state}".encode() in environ
        if ours and (proc / "stat").read_text().split()[2] != "Z":  # a zombie serves nothing
            pids.append(int(proc.name))
    return pids


@pytest.fixture
def stop_after(lab_env: Path):  # type: ignore[no-untyped-def]
    yield lab_env
    broker.stop_background_broker()
    for pid in brokers_serving(lab_env):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("starters", [3, 5])
def test_processes_that_start_the_broker_at_once_get_one(stop_after: Path, starters: int) -> None:
    go = time.time() + 4  # all of them wait for the same moment
    procs = [
        subprocess.Popen([sys.executable, "-c", STARTER, str(go)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(starters)
    ]
    urls = [proc.communicate(timeout=120)[0].strip() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert len(set(urls)) == 1 and urls[0].startswith("redis://127.0.0.1:")
    assert url_file().read_text().strip() == urls[0]
    time.sleep(1)  # a second broker, had one been started, would be up by now
    assert len(brokers_serving(stop_after)) == 1
    assert broker.is_alive(urls[0])


def test_a_crashed_brokers_url_and_pid_files_are_recovered(stop_after: Path) -> None:
    first = ensure_broker()
    [pid] = brokers_serving(stop_after)
    os.kill(pid, signal.SIGKILL)  # leaves broker.url and broker.pid behind
    deadline = time.monotonic() + 10
    while folder.served():  # the kernel releases its lock as the process exits (its memory goes first)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert pid not in brokers_serving(stop_after)
    assert url_file().read_text().strip() == first and pid_file().exists()
    assert not broker.stop_background_broker()  # a stale pid file is not a broker to signal
    second = ensure_broker()
    assert second != first and broker.is_alive(second)
    assert brokers_serving(stop_after) == [int(pid_file().read_text())]


def test_a_second_broker_for_a_served_folder_refuses_and_points_to_the_first(stop_after: Path) -> None:
    with EmbeddedBroker() as first:
        with pytest.raises(folder.FolderTaken, match="already serves"):
            EmbeddedBroker().start()
        out = subprocess.run([sys.executable, "-m", "labs", "broker"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and f"already running at {first.url}" in out.stdout
        assert url_file().read_text().strip() == first.url
    assert not folder.served()
