"""The playground's server side and its files, without a browser.

- the page and every file it shows are served (no-cache, JavaScript MIME type);
- every code file a panel shows is imported by the page, so what students read is what runs;
- the page gets its strings from the lab's one catalogue (labs/i18n), served as ``i18n.json``,
  and both languages have every string the page uses;
- the flaky endpoint fails exactly ``fail`` times per key, then succeeds, and logs each call;
- the sample PDF is a real PDF the lab can process;
- the radio relay passes the real SSE stream through unchanged, and after a cut the browser's
  reconnect with ``Last-Event-ID`` gets exactly the events it missed (real uvicorn, real workers).
"""

from __future__ import annotations

import re
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from playground_helpers import STATIC

from labs import i18n
from labs.api import create_app
from labs.indexing import extract_pages

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; the lab pins httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

INDEX = (STATIC / "index.html").read_text()
I18N = (STATIC / "i18n.js").read_text()


@pytest.fixture
def client() -> Iterator[TestClient]:
    """The app in-process; these routes need no broker."""
    with TestClient(create_app()) as test_client:
        yield test_client


def shown_files() -> list[str]:
    return [file for group in re.findall(r'data-sources="([^"]+)"', INDEX) for file in group.split()]


def imports_of(path: Path) -> list[Path]:
    """The modules a JavaScript file imports (``from "..."``) or starts as a worker (``new URL("...")``)."""
    text = path.read_text()
    targets = re.findall(r'from "(\.{1,2}/[^"]+)"', text) + re.findall(r'new URL\("(\.{1,2}/[^"]+)"', text)
    return [(path.parent / target).resolve() for target in targets]


def test_page_and_files_are_served(client: TestClient) -> None:
    assert client.get("/playground", follow_redirects=False).headers["location"] == "/playground/"
    page = client.get("/playground/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["cache-control"] == "no-cache"  # an edited lesson file shows on the next load
    files = ["app.js", "i18n.js", "ui.js", "style.css", *shown_files()]
    files += [f"panels/{p.name}" for p in (STATIC / "panels").glob("*.js")]
    for file in files:
        answer = client.get(f"/playground/{file}")
        assert answer.status_code == 200, file
        assert answer.text == (STATIC / file).read_text(), file
        if file.endswith(".js"):
            assert "javascript" in answer.headers["content-type"], file
    assert client.get("/playground/../labs/settings.py").status_code == 404
    assert client.get("/playground/code/missing.js").status_code == 404


def test_every_code_file_shown_is_code_that_runs() -> None:
    reachable: set[Path] = set()
    todo = [(STATIC / "app.js").resolve()]
    while todo:
        module = todo.pop()
        if module not in reachable:
            reachable.add(module)
            todo += imports_of(module)
    shown = {(STATIC / file).resolve() for file in shown_files()}
    assert len(shown) >= 10
    assert shown <= reachable, sorted(str(p) for p in shown - reachable)
    # and each panel imports the first file it shows (its own core code) directly
    for number, group in enumerate(re.findall(r'data-sources="([^"]+)"', INDEX), start=1):
        panel = next((STATIC / "panels").glob(f"p{number}-*.js"))
        assert (STATIC / group.split()[0]).resolve() in imports_of(panel), panel.name


def test_the_page_loads_the_labs_catalogue(client: TestClient) -> None:
    answer = client.get("/playground/i18n.json")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-cache"
    served = answer.json()
    assert served["default"] == i18n.DEFAULT and served["languages"] == i18n.LANGUAGES
    assert served["strings"] == {lang: i18n.strings(lang) for lang in i18n.LANGUAGES}
    assert served["strings"]["zh"]["playground.title"] == "长任务实验室 · 前端对照实验场"
    # i18n.js fetches it and keeps no table of its own: no "key": "text" entries, no Chinese
    assert 'new URL("i18n.json", import.meta.url)' in I18N
    assert not re.search(r'^\s+"[\w]+\.[\w.]+": ', I18N, re.M) and not re.search(r"[\u4e00-\u9fff]", I18N)
    # and the panels name a state with the catalogue's state.* keys, as the dashboard and the lessons do
    assert "t(`state.${" in (STATIC / "ui.js").read_text()


def language_keys(client: TestClient, lang: str) -> set[str]:
    return set(client.get("/playground/i18n.json").json()["strings"][lang])


def test_both_languages_have_every_string(client: TestClient) -> None:
    zh, en = language_keys(client, "zh"), language_keys(client, "en")
    assert zh == en, {"only zh": sorted(zh - en), "only en": sorted(en - zh)}
    used = set(re.findall(r'data-i18n(?:-html)?="([\w.]+)"', INDEX))
    for path in [STATIC / "app.js", *(STATIC / "panels").glob("*.js")]:
        used |= set(re.findall(r'(?:setText\(.*?, |\bt\()"(\w+\.[\w.]+)"', path.read_text()))
    # keys built at run time: the job's and the Promise's state boxes, the line and radio states
    used |= {f"job.{s}" for s in ("pending", "running", "completed", "failed")}
    used |= {f"promise.{s}" for s in ("pending", "fulfilled", "rejected")}
    used |= {f"state.{s}" for s in ("pending", "running", "completed", "failed", "unknown")}
    used |= {f"p6.line_{s}" for s in ("dialling", "connected", "redialling", "closed")}
    used |= {f"p7.state_{s}" for s in ("open", "reconnecting", "closed")}
    assert len(used) > 100
    assert used <= zh, sorted(used - zh)


def test_flaky_endpoint_fails_on_purpose_then_succeeds(client: TestClient) -> None:
    statuses = [client.get("/playground/api/flaky", params={"key": "a", "fail": 2}).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert client.get("/playground/api/flaky", params={"key": "b", "fail": 1}).status_code == 503  # counted per key
    log = client.get("/playground/api/flaky/log", params={"key": "a"}).json()
    assert [a["status"] for a in log["attempts"]] == [503, 503, 200, 200]
    assert [a["attempt"] for a in log["attempts"]] == [1, 2, 3, 4]
    times = [a["t"] for a in log["attempts"]]
    assert times == sorted(times)
    assert client.get("/playground/api/flaky/log", params={"key": "never"}).json()["count"] == 0
    for bad in ({"key": "a b"}, {"key": "x", "fail": -1}, {"key": "x", "fail": 99}, {}):
        answer = client.get("/playground/api/flaky", params=bad)
        assert answer.status_code == 422 and answer.json()["detail"]


def test_sample_pdf_is_a_pdf_the_lab_can_process(client: TestClient, tmp_path: Path) -> None:
    small = client.get("/playground/api/sample.pdf", params={"mb": 0})
    big = client.get("/playground/api/sample.pdf", params={"mb": 2})
    assert small.headers["content-type"] == "application/pdf" and small.content.startswith(b"%PDF-")
    assert len(big.content) - len(small.content) >= 2 * 1024 * 1024
    path = tmp_path / "sample.pdf"
    path.write_bytes(big.content)
    assert len(extract_pages(path)) >= 2
    assert client.get("/playground/api/sample.pdf", params={"mb": 100}).status_code == 422


# --------------------------------------------------------------------------- the radio relay, live


def read_stream(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> list[Any]:
    """(event type, id, data) of every message with data, until the server ends the stream."""
    out = []
    with connect_sse(client, "GET", url, headers=headers or {}) as source:
        assert source.response.status_code == 200, source.response.read()
        for message in source.iter_sse():
            if message.data:  # skip keep-alive pings
                out.append((message.event, message.id, message.json()))
    return out


def event_ids(messages: list[Any]) -> list[str]:
    return [i for event, i, _ in messages if event not in {"snapshot", "end"}]


def wait_finished(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/tasks/{job_id}").json()
        if view["state"] in {"completed", "failed"}:
            return view
        assert time.monotonic() < deadline, f"job {job_id} still {view['state']}"
        time.sleep(0.05)


def test_radio_relays_the_real_stream_unchanged(lab: Any, live_api: Any) -> None:
    key = f"same-{uuid.uuid4().hex[:8]}"  # the relay's log lives as long as the process: a fresh key
    with httpx.Client(base_url=live_api.url, timeout=30) as client:
        job_id = client.post("/tasks", json={"task": "slow_task", "params": {"steps": 3, "step_seconds": 0.2}}).json()["id"]
        wait_finished(client, job_id)
        direct = read_stream(client, f"/tasks/{job_id}/stream")
        relayed = read_stream(client, f"/playground/api/radio/tasks/{job_id}/stream?key={key}")
        assert [(e, i) for e, i, _ in relayed] == [(e, i) for e, i, _ in direct]
        assert relayed[-1][0] == "end" and relayed[-1][2]["state"] == "completed"
        # a resume point passes through too: header, then the query parameter
        after = direct[2][1]
        by_header = read_stream(client, f"/playground/api/radio/tasks/{job_id}/stream?key={key}", {"Last-Event-ID": after})
        by_query = read_stream(client, f"/playground/api/radio/tasks/{job_id}/stream?key={key}&last_event_id={after}")
        assert event_ids(by_header) == event_ids(by_query) == [i for i in event_ids(direct) if i > after]
        log = client.get("/playground/api/radio/log", params={"key": key}).json()["connections"]
        resumes = [(c["last_event_id_header"], c["last_event_id_query"]) for c in log]
        assert resumes == [(None, None), (after, None), (None, after)]
        missing = client.get(f"/playground/api/radio/tasks/nosuchjob/stream?key={key}")
        assert missing.status_code == 404 and "nosuchjob" in missing.json()["detail"]


def test_a_cut_drops_the_signal_and_last_event_id_resumes_without_gap(lab: Any, live_api: Any) -> None:
    key = f"cut-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=live_api.url, timeout=30) as client:
        job_id = client.post("/tasks", json={"task": "slow_task", "params": {"steps": 40, "step_seconds": 1}}).json()["id"]
        url = f"/playground/api/radio/tasks/{job_id}/stream?key={key}"
        first: list[Any] = []
        with connect_sse(client, "GET", url) as source:
            for message in source.iter_sse():
                if message.data and message.event != "snapshot":
                    first.append((message.event, message.id, message.json()))
                if len(first) == 4:
                    assert client.post("/playground/api/radio/cut", params={"key": key}).json()["cut"] == 1
            # the loop ended because the server ended the response: no `end` message came
        assert 4 <= len(first) < 40 and all(event != "end" for event, _, _ in first)
        assert client.post("/playground/api/radio/cut", params={"key": key}).json()["cut"] == 0  # nothing open now
        rest = read_stream(client, url, {"Last-Event-ID": first[-1][1]})  # what a browser sends when it reconnects
        assert rest[0][0] == "snapshot" and rest[-1][0] == "end"
        seqs = [data["seq"] for event, _, data in first + rest if event not in {"snapshot", "end"}]
        view = wait_finished(client, job_id)
        assert seqs == list(range(1, len(view["events"]) + 1))  # every event once, in order, across the cut
        log = client.get("/playground/api/radio/log", params={"key": key}).json()
        assert [c["last_event_id_header"] for c in log["connections"]] == [None, first[-1][1]]
