"""The playground in a real browser (Debian's chromium via playwright), against a real lab.

Each test starts two worker processes and the API, opens one panel, drives it
like a student would and checks its live result: the Web Worker and the queue
job reach 100 % while the page keeps drawing, the job's states and the
Promise's states, both upload bars, the retried fetch and the retried job,
the dead-letter queue beside the Error Boundary, the WebSocket's redial and
cancel, the EventSource that reconnects and still gets every event once, and
scenario 1's search through the hashing embedder and the real model side by side.
No console errors are allowed (only the 503s the flaky endpoint answers on
purpose, exactly as many as planned). A screenshot of each panel goes to
``artifacts/screenshots/playground-<n>.png``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playground_helpers import data, open_panel, shot, wait_data, wait_true

from labs.api import compare
from labs.samples import PARAPHRASES, QUERIES_ZH, make_sample_pdfs

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.parametrize("broker", ["embedded"], indirect=True)]


def assert_quiet(console: Any, allowed: int = 0, allowed_url: str = "") -> None:
    """No page errors, and no console errors except ``allowed`` ones about ``allowed_url``."""
    assert console.page_errors == []
    errors = console.errors()
    expected = [e for e in errors if allowed_url and allowed_url in e["url"] and "503" in e["text"]]
    assert [e for e in errors if e not in expected] == []
    assert len(expected) == allowed  # chromium logs each failed fetch: exactly the planned failures


def test_p1_web_worker_and_queue(live_lab: Any, browser_page: Any) -> None:
    page, console = browser_page
    section = open_panel(page, live_lab.url, 1)
    section.locator('[data-role="steps"]').fill("10")
    section.locator('[data-role="step-seconds"]').fill("1")  # 10 x 1 demo second = 0.5 s at LAB_TIME_SCALE 0.05
    for kind in ("worker", "queue", "main"):
        section.locator(f'[data-role="run-{kind}"]').click()
        wait_data(page, f'#p1 tr[data-run="{kind}"]', "state", "done")
        assert data(page, f'#p1 tr[data-run="{kind}"] progress', "percent") == "100"
    assert data(page, '#p1 tr[data-run="queue"]', "jobState") == "completed"
    worker_frames = int(data(page, '#p1 tr[data-run="worker"]', "frames") or 0)
    main_frames = int(data(page, '#p1 tr[data-run="main"]', "frames") or 0)
    main_pause = int(data(page, '#p1 tr[data-run="main"]', "maxGap") or 0)
    # on the main thread the work (10 steps of 50 ms) blocked every frame; in the Web Worker the page kept drawing
    assert main_pause >= 450
    assert worker_frames > main_frames + 5
    assert "质数" in section.locator('tr[data-run="worker"] .result').inner_text()
    shot(page, "playground-1")
    assert_quiet(console)


def test_p2_job_states_beside_promise_states(live_lab: Any, browser_page: Any) -> None:
    page, console = browser_page
    section = open_panel(page, live_lab.url, 2)
    section.locator('[data-role="seed-ok"]').click()
    section.locator('[data-role="seed-fail"]').click()
    wait_data(page, '#p2 .card[data-kind="seed-ok"]', "promise", "fulfilled")
    wait_data(page, '#p2 .card[data-kind="seed-fail"]', "promise", "rejected")
    section.locator('[data-role="job-ok"]').click()
    section.locator('[data-role="job-fail"]').click()
    wait_data(page, '#p2 .card[data-kind="job-ok"]', "promise", "fulfilled")
    wait_data(page, '#p2 .card[data-kind="job-fail"]', "promise", "rejected")
    assert data(page, '#p2 .card[data-kind="job-ok"]', "trail") == "pending running completed"
    # three redeliveries: running -> pending -> running, while the Promise stays pending until the end
    retried = ["pending"] + ["running", "pending"] * 3 + ["running", "failed"]
    assert data(page, '#p2 .card[data-kind="job-fail"]', "trail") == " ".join(retried)
    assert section.locator('.card[data-kind="job-ok"] .job .state.now').inner_text().startswith("completed")
    assert section.locator('.card[data-kind="job-fail"] .promise .state.now').inner_text().startswith("rejected")
    shot(page, "playground-2")
    assert_quiet(console)


def test_p3_upload_then_processing_progress(live_lab: Any, browser_page: Any, tmp_path: Any) -> None:
    page, console = browser_page
    section = open_panel(page, live_lab.url, 3)
    # a PDF of the student's own, chosen with the file input
    own = make_sample_pdfs(tmp_path / "mine", 1, seed=3)[0]
    section.locator('[data-role="file"]').set_input_files(str(own))
    section.locator('[data-role="upload-file"]').click()
    wait_data(page, "#p3", "state", "completed")
    first_job = data(page, "#p3", "job")
    # the sample PDF with 8 MB attached, over a line throttled to 4 MB/s (DevTools' network throttling),
    # so the upload takes about two seconds and xhr.upload.onprogress fires many times
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 4 * 1024 * 1024}
    cdp.send("Network.emulateNetworkConditions", throttle)
    section.locator('[data-role="sample-mb"]').select_option("8")
    section.locator('[data-role="upload-sample"]').click()
    wait_true(page, f"document.querySelector('#p3').dataset.job && document.querySelector('#p3').dataset.job !== {first_job!r}")
    wait_data(page, "#p3", "state", "completed")
    assert data(page, '#p3 [data-role="upload-bar"]', "percent") == "100"
    assert data(page, '#p3 [data-role="job-bar"]', "percent") == "100"
    trace = [int(n) for n in (data(page, "#p3", "uploadTrace") or "").split(",")]
    assert len(trace) >= 5 and trace == sorted(set(trace))  # the bar really moved, step by step
    assert trace[-1] > 8 * 1024 * 1024  # the file and its multipart envelope, all sent
    assert "8.0 MB" in section.locator('[data-role="upload-text"]').inner_text()
    assert "4/4" in section.locator('[data-role="log"]').inner_text()  # the job's four stages arrived as progress
    shot(page, "playground-3")
    assert_quiet(console)


def test_p4_fetch_with_retry_beside_a_retried_job(live_lab: Any, browser_page: Any) -> None:
    page, console = browser_page
    section = open_panel(page, live_lab.url, 4)
    section.locator('[data-role="fail"]').fill("2")
    section.locator('[data-role="retries"]').fill("3")
    section.locator('[data-role="run"]').click()
    wait_data(page, "#p4", "done", "true")
    assert data(page, "#p4", "fetchOutcome") == "ok"
    assert data(page, "#p4", "fetchStatuses") == "503,503,200"  # succeeded on the planned third attempt
    assert data(page, "#p4", "serverCount") == "3"  # and the server saw exactly those three calls
    # with exponential backoff in between: at least 1 and 2 demo seconds (50 and 100 ms at LAB_TIME_SCALE 0.05)
    gaps = [int(ms) for ms in (data(page, "#p4", "fetchGapsMs") or "").split(",")]
    assert len(gaps) == 2 and gaps[0] >= 50 and gaps[1] >= 100
    assert data(page, "#p4", "jobState") == "completed"
    assert data(page, "#p4", "jobAttempts") == "3"
    assert data(page, "#p4", "jobEvents") == "started retry_scheduled started retry_scheduled started completed"
    assert section.locator("svg circle.fail").count() == 4  # two failed attempts on each lane
    assert section.locator("svg circle.ok").count() == 2
    shot(page, "playground-4")
    assert_quiet(console, allowed=2, allowed_url="/playground/api/flaky")


def test_p5_dead_letter_queue_beside_error_boundary(live_lab: Any, browser_page: Any) -> None:
    page, console = browser_page
    section = open_panel(page, live_lab.url, 5)
    assert section.locator('[data-role="poison"]').is_checked()
    section.locator('[data-role="run"]').click()
    wait_data(page, "#p5", "dlq", "yes")
    assert data(page, "#p5", "front") == "fallback"
    assert data(page, "#p5", "jobState") == "failed"
    assert section.locator(".fallback h4").inner_text() == "出错了，请稍后重试"
    assert section.locator('[data-role="error-log"] li').count() == 1
    assert "4" in section.locator('[data-role="dlq"]').inner_text()  # 1 attempt + 3 redeliveries
    shot(page, "playground-5")
    section.locator('[data-role="fix"]').click()
    wait_data(page, "#p5", "redriveState", "completed")
    assert data(page, "#p5", "front") == "rendered"
    assert section.locator(".parcel-card").count() == 1
    shot(page, "playground-5-fixed")
    assert_quiet(console)


def test_p6_websocket_redial_heartbeat_and_cancel(live_lab: Any, browser_page: Any) -> None:
    page, console = browser_page
    section = open_panel(page, live_lab.url, 6)
    section.locator('[data-role="steps"]').fill("400")  # 20 s at LAB_TIME_SCALE 0.05: ends only when cancelled
    section.locator('[data-role="call"]').click()
    wait_data(page, "#p6", "line", "connected")
    wait_true(page, "Number(document.querySelector('#p6').dataset.heartbeats) >= 1")
    wait_true(page, "Number(document.querySelector('#p6').dataset.pongs) >= 1")
    wait_true(page, "document.querySelector('#p6').dataset.seqs.split(',').length >= 4")
    section.locator('[data-role="drop"]').click()
    wait_data(page, "#p6", "redials", "1")
    wait_data(page, "#p6", "line", "connected")
    before = len((data(page, "#p6", "seqs") or "").split(","))
    wait_true(page, f"document.querySelector('#p6').dataset.seqs.split(',').length >= {before + 3}")
    section.locator('[data-role="cancel"]').click()
    wait_data(page, "#p6", "outcome", "failed:cancelled")
    wait_data(page, "#p6", "line", "closed")
    seqs = [int(s) for s in (data(page, "#p6", "seqs") or "").split(",")]
    assert seqs == list(range(1, len(seqs) + 1))  # across the redial: every event once, in order
    assert "✅" in section.locator('[data-role="events"]').inner_text()
    assert section.locator('[data-role="log"] li.f-ack').count() >= 1  # the server acknowledged "cancel"
    shot(page, "playground-6")
    assert_quiet(console)


def test_p7_eventsource_reconnects_and_misses_nothing(live_lab: Any, browser_page: Any) -> None:
    page, console = browser_page
    section = open_panel(page, live_lab.url, 7)
    section.locator('[data-role="steps"]').fill("100")  # 5 s at LAB_TIME_SCALE 0.05
    section.locator('[data-role="start"]').click()
    wait_data(page, "#p7", "state", "open")
    wait_true(page, "Number(document.querySelector('#p7').dataset.received) >= 5")
    section.locator('[data-role="cut"]').click()  # the server drops the signal; the browser reconnects by itself
    wait_true(page, "Number(document.querySelector('#p7').dataset.auto) >= 1")
    wait_data(page, "#p7", "connections", "2")
    wait_data(page, "#p7", "state", "open")
    received = int(data(page, "#p7", "received") or 0)
    wait_true(page, f"Number(document.querySelector('#p7').dataset.received) >= {received + 5}")
    section.locator('[data-role="reopen"]').click()  # by hand: close, then a new EventSource with ?last_event_id=
    wait_data(page, "#p7", "connections", "3")
    wait_data(page, "#p7", "verdict", timeout=90)
    assert data(page, "#p7", "verdict") == "ok"
    assert data(page, "#p7", "endState") == "completed"
    assert data(page, "#p7", "received") == data(page, "#p7", "expected")
    assert data(page, "#p7", "headerResumes") == "1"  # the browser's own reconnect sent Last-Event-ID
    connections = section.locator('[data-role="connections"]').inner_text()
    assert "Last-Event-ID" in connections and "?last_event_id=" in connections
    assert section.locator(".seq.dup, .seq.gap").count() == 0
    shot(page, "playground-7")
    assert_quiet(console)


def test_p8_the_model_finds_the_paraphrases_the_hashing_embedder_misses(
    live_api: Any, browser_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compare, "BUILD", compare.ComparisonBuild())  # not indexed yet: the page polls the 202s
    page, console = browser_page
    section = open_panel(page, live_api.url, 8)
    section.locator('[data-role="run"]').click()
    wait_data(page, "#p8", "state", "ready", timeout=120)
    assert int(data(page, "#p8", "polls") or 0) >= 1  # it was indexing (202) and the page waited, as asked
    rows = section.locator('tbody[data-role="rows"] tr')
    assert rows.count() == 2 + len(PARAPHRASES) + len(QUERIES_ZH)
    paraphrases = section.locator('tr[data-kind="paraphrase"]')
    model_ranks = [paraphrases.nth(i).get_attribute("data-model-rank") for i in range(paraphrases.count())]
    hashing_ranks = [paraphrases.nth(i).get_attribute("data-hashing-rank") for i in range(paraphrases.count())]
    print(f"\nparaphrases, rank of the right handbook: hashing {hashing_ranks}, model {model_ranks}")
    assert model_ranks.count("1") >= 4 and int(data(page, "#p8", "modelFirst") or 0) >= 4
    assert data(page, "#p8", "hashingFirst") == str(hashing_ranks.count("1"))
    assert "fastembed:all-MiniLM-L6-v2-int8" in section.locator('[data-role="status"]').inner_text()
    assert "第 1 名 ✓" in paraphrases.first.inner_text()
    # a query of your own, with the handbook that should come first
    section.locator('input[name="q"]').fill("my parcel came while I was away")
    section.locator('[data-role="handbook"]').select_option("redelivery-policy")
    section.locator('form[data-role="own"] button').click()
    wait_data(page, "#p8", "own", "1")
    own = section.locator('tr[data-kind="own"]')
    assert own.get_attribute("data-model-rank") == "1" and "redelivery-policy" in own.inner_text()
    shot(page, "playground-8")
    page.locator('[data-lang="en"]').click()
    assert "#1 ✓" in paraphrases.first.inner_text() and "paraphrase" in paraphrases.first.inner_text()  # re-translated
    shot(page, "playground-8-en")
    assert_quiet(console)


def test_language_switch_and_code_shown_is_code_run(live_lab: Any, browser_page: Any) -> None:
    page, console = browser_page
    open_panel(page, live_lab.url, 1)
    assert page.locator("h1").inner_text() == "长任务实验室 · 前端对照实验场"
    page.locator('[data-lang="en"]').click()
    assert page.locator("h1").inner_text() == "Long-Task Lab · front-end playground"
    page.reload()  # the choice is kept in localStorage
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("h1").inner_text() == "Long-Task Lab · front-end playground"
    # every code box shows its file exactly as the server sends it to the browser that runs it
    shown = page.evaluate(
        """async () => {
            const out = [];
            for (const box of document.querySelectorAll('.code[data-sources]')) {
                for (const tab of box.querySelectorAll('.file-tabs button')) {
                    tab.click();
                    const pre = box.querySelector('pre');
                    const text = await (await fetch(pre.dataset.file)).text();
                    out.push([pre.dataset.file, pre.textContent === text]);
                }
            }
            return out;
        }"""
    )
    assert len(shown) >= 14 and all(same for _, same in shown), json.dumps(shown)
    for number in range(1, 9):  # every panel in English, every string found (a missing one logs an error)
        page.locator(f'nav.tabs a[href="#p{number}"]').click()
        page.locator(f"#p{number}").wait_for(state="visible")
        assert page.locator(f"#p{number} h2").inner_text().startswith("Analogy" if number < 8 else "Scenario 1")
    page.locator('nav.tabs a[href="#p2"]').click()
    page.locator('#p2 [data-role="job-ok"]').click()
    wait_data(page, '#p2 .card[data-kind="job-ok"]', "promise", "fulfilled")
    assert "fulfilled" in page.locator('#p2 .card[data-kind="job-ok"]').inner_text()
    shot(page, "playground-en")
    page.locator('[data-lang="zh"]').click()
    assert "已兑现" in page.locator('#p2 .card[data-kind="job-ok"]').inner_text()  # re-translated in place
    assert_quiet(console)


def test_classroom_mode_join_then_the_panels_work_under_the_students_name(
    live_lab: Any, browser_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_INSTRUCTOR_TOKEN", "teacher-secret")  # the API reads it per request
    page, console = browser_page
    page.goto(f"{live_lab.url}/playground/#p2")
    form = page.locator('[data-role="join"]')
    form.wait_for(state="visible")
    form.locator("input").fill("小美")
    form.locator("button").click()
    wait_true(page, "document.querySelector('[data-role=\"health\"]').dataset.student === '小美'")
    assert "小美" in form.inner_text() and form.locator("input").is_hidden()
    section = page.locator("#p2")
    section.locator('[data-role="job-ok"]').click()
    wait_data(page, '#p2 .card[data-kind="job-ok"]', "promise", "fulfilled")
    assert data(page, '#p2 .card[data-kind="job-ok"]', "trail") == "pending running completed"
    shot(page, "playground-classroom")
    listed = httpx.get(f"{live_lab.url}/tasks", headers={"Authorization": "Bearer teacher-secret"}).json()["tasks"]
    assert listed and {task["student"] for task in listed} == {"小美"}
    assert console.page_errors == []
    # the one console error is the page asking who it is before joining (401), by design
    assert [e["url"].rsplit("/", 2)[-2:] for e in console.errors()] == [["students", "me"]]
