"""Helpers for the playground tests: paths, a free port, and small waits on the page's data attributes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "labs" / "playground" / "static"
SHOTS = REPO / "artifacts" / "screenshots"


def open_panel(page: Any, base: str, number: int) -> Any:
    """Load the playground on panel ``number`` and return its <section>."""
    page.goto(f"{base}/playground/#p{number}")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    section = page.locator(f"#p{number}")
    section.wait_for(state="visible")
    return section


def wait_data(page: Any, selector: str, attribute: str, expected: str | None = None, timeout: float = 60) -> str:
    """Wait until ``selector``'s data-``attribute`` equals ``expected`` (or is non-empty); return it."""
    name = "data-" + re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), attribute)
    condition = f"[{name}={expected!r}]" if expected is not None else f"[{name}]:not([{name}=''])"
    page.wait_for_selector(f"{selector}{condition}", state="attached", timeout=timeout * 1000)
    return page.locator(selector).first.get_attribute(name)


def wait_true(page: Any, script: str, timeout: float = 60) -> None:
    """Wait until the JavaScript expression ``script`` is true in the page."""
    page.wait_for_function(script, timeout=timeout * 1000)


def data(page: Any, selector: str, attribute: str) -> str | None:
    name = "data-" + re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), attribute)
    return page.locator(selector).first.get_attribute(name)


def shot(page: Any, name: str) -> Path:
    """A screenshot of the whole page (header, tabs, the open panel) in artifacts/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    return path
