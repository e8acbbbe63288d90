"""The dashboard in a real browser (Debian's chromium via playwright), on a real lab.

Starts the broker, two worker processes, the API and ``streamlit run app.py``,
submits a batch with poison inputs through the page, and watches the board
change without reloading: jobs move through the columns, a redelivery is
booked, a poison job lands in the dead-letter queue. Screenshots of every page
go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dashboard_helpers import REPO

from labs.session import LabSession

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = REPO / "artifacts" / "screenshots"


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.setenv("HOME", str(tmp_path / "browser-home"))
    (tmp_path / "browser-home").mkdir()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def metric(page: object, label: str) -> int:
    """The value of the st.metric whose label contains ``label``."""
    box = page.locator('[data-testid="stMetric"]', has_text=label).first  # type: ignore[attr-defined]
    text = box.locator('[data-testid="stMetricValue"]').inner_text()
    return int(float(text.replace(",", "")))


def eventually(check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def shot(page: object, name: str) -> None:
    """A screenshot of the whole page (Streamlit scrolls inside its main section, so grow the window to fit)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)  # type: ignore[attr-defined]
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")  # type: ignore[attr-defined]
    size = page.viewport_size  # type: ignore[attr-defined]
    page.set_viewport_size({"width": size["width"], "height": min(6000, max(size["height"], height + 40))})  # type: ignore[attr-defined]
    page.wait_for_timeout(800)  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"{name}.png"))  # type: ignore[attr-defined]
    page.set_viewport_size(size)  # type: ignore[attr-defined]


def set_number(page: object, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)  # type: ignore[attr-defined]
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(400)  # type: ignore[attr-defined]


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_live_board_in_chromium(broker: str, api_server: str, dashboard_server: str, page: object) -> None:
    with LabSession(workers=2):
        page.goto(dashboard_server)  # type: ignore[attr-defined]
        page.get_by_text("实时看板").first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
        page.evaluate("window.__notReloaded = true")  # gone if the page ever reloads
        shot(page, "01_board_empty_zh")
        # a batch of ten risky jobs, two of them poison; slow redeliveries so the board can show them waiting
        set_number(page, "一批寄几件", "10")
        page.get_by_text("参数 · 重试策略 · 超时").click()  # type: ignore[attr-defined]
        set_number(page, "第一次等待（秒）", "30")
        page.get_by_role("button", name=re.compile("寄出 10 件")).click()  # type: ignore[attr-defined]
        page.get_by_text("已寄出 10 件").wait_for(timeout=30_000)  # type: ignore[attr-defined]
        seen: dict[str, int] = {}

        def watch() -> bool:
            for label in ("已签收", "待重投", "退件中心"):
                seen[label] = max(seen.get(label, 0), metric(page, label))
            return seen["已签收"] == 8 and seen["待重投"] > 0 and seen["退件中心"] >= 1

        eventually(watch, what=f"the board to show completed, retrying and dead-lettered jobs (saw {seen})")
        shot(page, "02_board_live_zh")
        assert page.evaluate("window.__notReloaded") is True  # the board changed live, without a reload
        # the board's table is a canvas; its hidden table has one row per job
        assert page.locator('[data-testid="stDataFrame"] tbody tr').count() >= 5  # type: ignore[attr-defined]

        eventually(lambda: metric(page, "退件中心") == 2, timeout=90, what="both poison jobs dead-lettered")
        page.get_by_role("link", name=re.compile("重试与退件处理中心")).click()  # type: ignore[attr-defined]
        page.get_by_text("为什么被退回").first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
        shot(page, "03_dlq_zh")

        for attempt in range(3):  # a live refresh may redraw the button just as it is clicked: click again
            page.get_by_role("button", name=re.compile("^打开 ")).first.click()  # type: ignore[attr-defined]
            try:
                page.get_by_text("状态机").first.wait_for(timeout=15_000)  # type: ignore[attr-defined]
                break
            except Exception:
                if attempt == 2:
                    raise
        shot(page, "04_job_zh")

        page.get_by_role("link", name=re.compile("配送员")).click()  # type: ignore[attr-defined]
        page.get_by_text("真实的 Worker 进程").first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
        shot(page, "05_workers_zh")

        page.get_by_text("English").first.click()  # type: ignore[attr-defined]
        page.get_by_text("Workers: real worker processes").wait_for(timeout=30_000)  # type: ignore[attr-defined]
        page.get_by_role("link", name=re.compile("Channels")).click()  # type: ignore[attr-defined]
        page.get_by_role("button", name=re.compile("Submit and watch")).click()  # type: ignore[attr-defined]
        page.get_by_text("Watching:").wait_for(timeout=30_000)  # type: ignore[attr-defined]
        page.wait_for_timeout(3000)  # type: ignore[attr-defined]
        shot(page, "06_channels_en")
        page.get_by_role("link", name=re.compile("Submit & live board")).click()  # type: ignore[attr-defined]
        page.get_by_text("Live board: where every parcel is").wait_for(timeout=30_000)  # type: ignore[attr-defined]
        shot(page, "07_board_en")
