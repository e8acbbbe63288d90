"""Fixtures for the playground tests: a real lab (workers + API on uvicorn) and Debian's chromium.

The browser tests run on the embedded broker only (the ``broker`` fixture's
"embedded" half): what they check is the page, and the API's behaviour on
both brokers is covered by tests/api.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playground_helpers import REPO

from labs.api import BackgroundServer
from labs.session import LabSession

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = REPO / "artifacts" / "screenshots"


LiveApi = BackgroundServer
"""The lab's FastAPI app on uvicorn in a thread, on a free port."""


@pytest.fixture
def live_api(broker: str) -> Iterator[LiveApi]:
    """The API alone on the test's broker (no workers)."""
    with LiveApi() as api:
        yield api


@pytest.fixture
def live_lab(broker: str) -> Iterator[LiveApi]:
    """Two forking worker processes and the API, on the test's broker."""
    with LabSession(workers=2), LiveApi() as api:
        yield api


@dataclass
class Console:
    """What the page said: console messages and uncaught errors."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "error"]


@pytest.fixture
def browser_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Console]]:
    """A chromium page (HOME in a temp folder) and the record of its console."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    home = tmp_path / "browser-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    console = Console()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS, env={**os.environ})
        context = browser.new_context(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
        page = context.new_page()
        page.on("console", lambda m: console.messages.append({"type": m.type, "text": m.text, "url": m.location.get("url", "")}))
        page.on("pageerror", lambda error: console.page_errors.append(str(error)))
        try:
            yield page, console
        finally:
            context.close()
            browser.close()
