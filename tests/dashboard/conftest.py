"""Fixtures for the dashboard tests: the app under AppTest, the real API and dashboard servers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dashboard_helpers import APP, REPO, free_port, serve_api, stop, wait_http
from streamlit.testing.v1 import AppTest

from labs.dashboard import queries


@pytest.fixture(autouse=True)
def _clean_dashboard_state() -> Iterator[None]:
    """Each test starts with no cached connection and leaves no worker it started behind."""
    queries._connections.clear()
    yield
    queries.stop_started()
    queries._connections.clear()


@pytest.fixture
def app() -> Callable[[], AppTest]:
    """A fresh dashboard session (AppTest) factory; call ``.run()`` once per refresh tick."""

    def make() -> AppTest:
        return AppTest.from_file(str(APP), default_timeout=60)

    return make


@pytest.fixture
def api_server(broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real lab API on the test's broker; LAB_API_URL points at it."""
    with serve_api(broker, tmp_path) as base:
        monkeypatch.setenv("LAB_API_URL", base)
        yield base


@pytest.fixture
def dashboard_server(broker: str, tmp_path: Path) -> Iterator[str]:
    """``streamlit run app.py`` headless on a free port (HOME in a temp folder)."""
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    log = open(tmp_path / "dashboard.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],  # fmt: skip
        cwd=REPO,
        env={**os.environ, "HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/_stcore/health", proc=proc)
        yield base
    finally:
        stop(proc)
        log.close()
