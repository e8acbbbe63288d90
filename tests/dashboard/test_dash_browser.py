"""The dashboard in a real browser (Debian's chromium via playwright), on a real lab.

Starts the broker, two worker processes, the API and ``streamlit run app.py``,
submits a batch with poison inputs through the page, and watches the board
change without reloading: jobs move through the columns, a redelivery is
booked, a poison job lands in the dead-letter queue; a task that indexes PDFs says
which embedder the workers use. Screenshots of every page
go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dashboard_helpers import REPO, free_port, stop, wait_http

from labs.engines.celery import flower_command
from labs.session import LabSession
from labs.settings import queue_name

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
    height = page.evaluate(  # type: ignore[attr-defined]
        "(document.querySelector('[data-testid=\"stMain\"]') || document.scrollingElement).scrollHeight"
    )
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


def nav(page: object, name: str) -> None:
    """Click the sidebar's link to a page.

    Under CI's load the sidebar once lacked a link for 30 s (stop 23): wait longer, and if it is still
    missing keep a screenshot and the page's text for the log, then reload the page (what a user would do)
    and click again.
    """
    link = page.get_by_role("link", name=re.compile(name)).first  # type: ignore[attr-defined]
    try:
        link.click(timeout=60_000)
        return
    except Exception as exc:  # playwright's TimeoutError
        shot(page, "missing_link_" + re.sub(r"\W+", "_", name))
        body = page.locator("body").inner_text()[:1500]  # type: ignore[attr-defined]
        print(f"sidebar link {name!r} missing at {page.url}: {exc.__class__.__name__}; page text:\n{body}")  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    link.click(timeout=60_000)


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_live_board_in_chromium(broker: str, api_server: str, dashboard_server: str, page: object) -> None:
    with LabSession(workers=2, queue=queue_name()):  # the dashboard, started first, sends to the lab's queue
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
        nav(page, "重试与退件处理中心")
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

        nav(page, "配送员")
        page.get_by_text("真实的 Worker 进程").first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
        shot(page, "05_workers_zh")

        page.get_by_text("English").first.click()  # type: ignore[attr-defined]
        page.get_by_text("Workers: real worker processes").wait_for(timeout=30_000)  # type: ignore[attr-defined]
        nav(page, "Channels")
        page.get_by_role("button", name=re.compile("Submit and watch")).click()  # type: ignore[attr-defined]
        page.get_by_text("Watching:").wait_for(timeout=30_000)  # type: ignore[attr-defined]
        page.wait_for_timeout(3000)  # type: ignore[attr-defined]
        shot(page, "06_channels_en")
        nav(page, "Submit & live board")
        page.get_by_text("Live board: where every parcel is").wait_for(timeout=30_000)  # type: ignore[attr-defined]
        shot(page, "07_board_en")
        # a task that indexes PDFs: the form says which embedder the workers use (the tests choose the fallback)
        page.get_by_role("combobox", name=re.compile("^Task")).first.click()  # type: ignore[attr-defined]
        page.get_by_role("option", name=re.compile("^process_documents")).click()  # type: ignore[attr-defined]
        notice = page.locator('[data-testid="stAlert"]', has_text="fallback:hash-512").first  # type: ignore[attr-defined]
        notice.wait_for(timeout=30_000)
        assert "LAB_EMBEDDER=fallback" in notice.inner_text()
        shot(page, "08_board_documents_en")


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_celery_job_beside_an_rq_job_on_the_board_the_job_page_and_flower(
    broker: str, dashboard_server: str, page: object, tmp_path: Path
) -> None:
    flower_port = free_port()
    flower_log = open(tmp_path / "flower.log", "wb")  # noqa: SIM115 - closed below
    flower = subprocess.Popen(
        flower_command("127.0.0.1", flower_port),
        cwd=REPO,
        env={**os.environ, "REDIS_URL": broker, "FLOWER_UNAUTHENTICATED_API": "true"},
        stdout=flower_log,
        stderr=subprocess.STDOUT,
    )
    events = {"LAB_CELERY_TASK_EVENTS": "1"}  # Flower's view comes from Celery's task events
    try:
        with LabSession(workers=1) as rq_lab, LabSession(workers=1, engine="celery", env=events) as celery_lab:
            wait_http(f"http://127.0.0.1:{flower_port}/healthcheck", proc=flower)
            rq_job = rq_lab.submit("send_email", {"to": "rq@example.com"})
            celery_job = celery_lab.submit("send_email", {"to": "celery@example.com"}, engine="celery")
            assert [rq_lab.wait(rq_job).state, celery_lab.wait(celery_job).state] == ["completed", "completed"]

            page.goto(dashboard_server)  # type: ignore[attr-defined]
            page.get_by_text("实时看板").first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
            eventually(lambda: metric(page, "已签收") == 2, what="both jobs completed on the board")
            assert metric(page, "在岗配送员") == 2  # one RQ and one Celery worker
            rows = page.locator('[data-testid="stDataFrame"] tbody tr')  # type: ignore[attr-defined]
            eventually(lambda: rows.count() >= 2, what="two rows in the board's table")
            table = [[cell.strip() for cell in row.locator("th, td").all_inner_texts()] for row in rows.all()]
            by_id = {cells[0]: cells for cells in table if cells}
            assert "rq" in by_id[rq_job] and "celery" in by_id[celery_job], table
            shot(page, "08_board_celery_beside_rq_zh")

            nav(page, "快递详情")
            box = page.get_by_label("快递单号（任务ID）")  # type: ignore[attr-defined]
            box.fill(celery_job)
            box.press("Enter")
            page.get_by_text("引擎: celery").first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
            page.get_by_text("状态机").first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
            shot(page, "09_job_celery_zh")

            page.goto(f"http://127.0.0.1:{flower_port}/tasks")  # type: ignore[attr-defined]
            page.get_by_text(celery_job).first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
            row = page.locator("tr", has_text=celery_job).first  # type: ignore[attr-defined]
            assert "SUCCESS" in row.inner_text() and "labs.tasks.demo.send_email" in row.inner_text()
            assert page.get_by_text(rq_job).count() == 0  # type: ignore[attr-defined]  # Flower sees Celery's jobs only
            shot(page, "10_flower_tasks")
    finally:
        stop(flower)
        flower_log.close()
