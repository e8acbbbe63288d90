"""Every dashboard page under Streamlit's AppTest, on a real broker with real worker processes.

AppTest does not fire ``st.fragment(run_every=...)`` by itself: each ``at.run()``
is one refresh tick.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import redis
from dashboard_helpers import free_port
from streamlit.testing.v1 import AppTest

from labs import bundled_model, dlq, events, jobs
from labs import embedder as emb
from labs.dashboard import queries
from labs.launcher import workers
from labs.session import LabSession

PAGES = ["board", "job", "dlq", "workers", "channels"]
Make = Callable[[], AppTest]


def page(at: AppTest, name: str) -> AppTest:
    return at.switch_page(f"labs/dashboard/pages/{name}.py").run()


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if label in m.label]
    assert found, f"no metric {label!r} in {[m.label for m in at.metric]}"
    return found[0]


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success", "title") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def frame(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page with these columns."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no table with columns {columns}")


def chart_rows(at: AppTest) -> list[dict[str, object]]:
    """Every data row of every chart on the page (Streamlit ships chart data as Arrow tables)."""
    rows: list[dict[str, object]] = []
    for chart in at.get("vega_lite_chart"):
        for dataset in chart.proto.datasets:
            rows += pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()
    return rows


def no_crash(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def ticks(at: AppTest, until: Callable[[AppTest], bool], timeout: float = 60, what: str = "") -> AppTest:
    """Refresh (one tick per run) until ``until(at)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        no_crash(at)
        if until(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {texts(at)[-600:]}")
        time.sleep(0.2)


@pytest.fixture
def no_api(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LAB_API_URL", url)
    return url


def test_every_page_renders_on_an_empty_broker(broker: str, app: Make, no_api: str) -> None:
    at = app().run()
    no_crash(at)
    assert "no worker is listening" in texts(at) and "python -m labs worker" in texts(at)
    assert metric(at, "全部任务") == "0"
    for name in PAGES[1:]:
        no_crash(page(at, name))
    assert f"API 没有运行（{no_api}）" in texts(at)
    at.radio(key="lang").set_value("en").run()
    assert f"the API is not running at {no_api}: start it with `python -m labs api`" in texts(at)


def test_bad_input_is_one_clear_line(broker: str, app: Make, no_api: str) -> None:
    at = app().run()
    at.text_area(key="p_risky_task_data").set_value('{"poison": tru').run()
    at.button(key="submit_btn").click().run()
    no_crash(at)
    assert [e.value for e in at.error] == ["not valid JSON: Expecting value: line 1 column 12 (char 11)"]
    assert at.session_state["last_batch"] is None and not events.read_global(redis.Redis.from_url(broker))
    at.selectbox(key="submit_task").set_value("send_email").run()
    at.text_input(key="p_send_email_to").set_value("x").run()  # too short for an address
    at.button(key="submit_btn").click().run()
    assert "send_email: to: String should have at least 3 characters" in at.error[0].value


def test_a_document_task_says_which_embedder_the_workers_use(
    broker: str, app: Make, no_api: str, lab_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app().run()
    assert "fallback:hash-512" not in texts(at)  # risky_task indexes no PDF: nothing to say
    at.selectbox(key="submit_task").set_value("process_documents").run()
    no_crash(at)
    [warning] = [w.value for w in at.warning if "GET /search" in w.value]  # the tests choose the fallback: said, with why
    assert "fallback:hash-512" in warning and "后备" in warning and "forced by LAB_EMBEDDER=fallback" in warning
    # with no setting, the lab's bundled model: named as a model, no warning
    monkeypatch.delenv("LAB_EMBEDDER")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb.reset_embedder()
    at.radio(key="lang").set_value("en").run()
    assert not [w.value for w in at.warning if "GET /search" in w.value]
    assert "**fastembed:all-MiniLM-L6-v2-int8**: a model" in texts(at)
    # a corrupted model file is refused, and the fallback is said, with the hash mismatch
    model = bundled_model.model_folder() / "model.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"x")
    emb.reset_embedder()
    at.run()
    [warning] = [w.value for w in at.warning if "GET /search" in w.value]
    assert "fallback:hash-512" in warning and "the fallback" in warning and "hash mismatch" in warning
    emb.reset_embedder()


def test_a_stopped_broker_is_a_message_not_a_traceback(app: Make, monkeypatch: pytest.MonkeyPatch, no_api: str) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    at = app().run()
    for name in PAGES:
        no_crash(page(at, name) if name != "board" else at)
        if name != "channels":
            assert "no broker answers at" in " ".join(e.value for e in at.error), name


def test_submitting_a_batch_makes_its_jobs_appear(lab: LabSession, app: Make) -> None:
    at = app().run()
    at.selectbox(key="submit_task").set_value("send_email").run()
    at.number_input(key="batch").set_value(3).run()
    at.button(key="submit_btn").click().run()
    no_crash(at)
    ids = at.session_state["last_batch"]
    assert len(ids) == 3 and "已寄出 3 件" in at.success[0].value
    ticks(at, lambda at: metric(at, "已签收") == "3", what="three completed jobs")
    assert set(ids) <= set(frame(at, "快递单号")["快递单号"])
    assert [lab.wait(i).state for i in ids] == ["completed"] * 3
    at.selectbox(key="board_pick").set_value(ids[0]).run()
    at.button(key="board_open").click().run()  # open one parcel's detail page
    assert at.title[0].value == "🔎 快递详情：一个任务的一生" and at.session_state["job_id"] == ids[0]
    assert metric(at, "当前状态") == "已签收·完成"


def test_a_poison_job_is_dead_lettered_and_a_redrive_completes(lab: LabSession, app: Make) -> None:
    at = app().run()
    at.number_input(key="batch").set_value(1)
    at.slider(key="poison_share").set_value(100)
    at.number_input(key="r_risky_task_max_retries").set_value(1)
    at.number_input(key="r_risky_task_base").set_value(0.5).run()
    at.button(key="submit_btn").click().run()
    [job_id] = at.session_state["last_batch"]
    ticks(at, lambda at: metric(at, "退件中心") == "1", what="the poison job in the dead-letter column")
    assert [e.event for e in events.job_events(lab.conn, job_id)][-2:] == ["failed", "dead_lettered"]

    page(at, "dlq")
    no_crash(at)
    assert metric(at, "退件处理中心里的快递") == "1"
    assert job_id in set(frame(at, "快递单号", "原因")["快递单号"])
    assert "为什么被退回：error" in texts(at) and "poison" in texts(at)
    at.text_area(key=f"params_{job_id}").set_value(json.dumps({"data": {"poison": False, "fixed": True}}))
    at.form_submit_button[0].click().run()
    no_crash(at)
    new_id = at.session_state["redriven_id"]
    assert f"已重新投递，新快递单号 {new_id}" in texts(at)
    assert lab.wait(new_id).state == "completed"
    ticks(at, lambda at: metric(at, "退件处理中心里的快递") == "0", what="an empty dead-letter queue")
    assert dlq.list_entries(lab.conn) == []

    at.session_state["job_id"] = new_id
    page(at, "job")
    no_crash(at)
    assert metric(at, "当前状态") == "已签收·完成"
    assert any(b.label == f"这是 {job_id} 的重新投递" for b in at.button)
    assert jobs.job_view(lab.conn, new_id)["result"] == {"processed": {"poison": False, "fixed": True}}


def test_the_returns_centre_discards_sweeps_and_purges(lab: LabSession, app: Make) -> None:
    ids = [lab.submit("risky_task", {"data": {"poison": True, "n": n}, "fail_fast": True}) for n in range(3)]
    for job_id in ids:
        lab.wait(job_id)
    at = app().run()
    page(at, "dlq")
    assert metric(at, "退件处理中心里的快递") == "3"
    chosen = at.selectbox(key="dlq_pick").value
    at.button(key=f"discard_{chosen}").click().run()
    no_crash(at)
    assert f"已丢弃 {chosen}" in texts(at) and metric(at, "退件处理中心里的快递") == "2"
    assert events.job_events(lab.conn, chosen)[-1].event == "discarded"
    at.button(key="sweep").click().run()  # the seed's handle_failed_tasks, as a real job
    assert "已提交登记任务" in texts(at)
    logged = sorted(set(ids) - {chosen})
    ticks(  # the sweep job writes its lines one by one: wait for the whole log, not its first line
        at,
        lambda at: (
            "登记簿（handle_failed_tasks 记下的）" in texts(at)
            and sorted(line["id"] for line in dlq.failure_log(lab.conn)) == logged
        ),
        what="the sweep job to log both returns",
    )
    at.checkbox(key="purge_confirm").check().run()
    at.button(key="purge").click().run()
    no_crash(at)
    assert "已丢弃 2 件" in texts(at) and metric(at, "退件处理中心里的快递") == "0"
    assert dlq.list_entries(lab.conn) == []


def test_the_language_switch_changes_the_whole_ui(broker: str, app: Make, no_api: str) -> None:
    at = app().run()
    assert at.title[0].value == "📦 长任务实验室 · 寄件与实时看板"
    assert at.toggle(key="live").label == "实时刷新"
    at.radio(key="lang").set_value("en").run()
    no_crash(at)
    assert at.title[0].value == "📦 Long-Task Lab · Submit & live board"
    assert at.toggle(key="live").label == "Live refresh"
    assert metric(at, "All jobs") == "0"
    assert at.button(key="submit_btn").label == "Submit 5 job(s)"
    assert "Like a parcel sorting centre" in texts(at)
    for name, title in [("dlq", "📮 Retries & the dead-letter queue"), ("workers", "🚚 Workers: real worker processes")]:
        assert page(at, name).title[0].value == title
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in at.title[0].value)
    at.radio(key="lang").set_value("zh").run()
    assert at.title[0].value == "🚚 配送员：真实的 Worker 进程"


def test_the_job_page_draws_a_jobs_life_and_cancels_it(lab: LabSession, app: Make) -> None:
    job_id = lab.submit("slow_task", {"steps": 2000, "step_seconds": 1})
    lab.wait(job_id, states={"running"})
    at = app().run()
    at.session_state["job_id"] = job_id
    page(at, "job")
    no_crash(at)
    assert metric(at, "当前状态") == "运输中·执行"
    taken = {row["edge"] for row in chart_rows(at) if row.get("status") == "taken" and "order" in row}
    assert taken == {"pending->running"}  # the state diagram: handed in, picked up, nothing more yet
    at.button(key="cancel_job").click().run()
    no_crash(at)
    assert lab.wait(job_id, timeout=30).reason == "cancelled"
    ticks(at, lambda at: metric(at, "当前状态") == "派送失败", what="the cancelled job shown failed")
    assert not any(b.key == "cancel_job" for b in at.button)  # nothing left to cancel
    at.session_state["job_id"] = "no-such-job"
    at.run()
    assert "没有这个快递单号：no-such-job" in texts(at)


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)  # the lab core tests the recovery on both brokers
def test_the_workers_page_starts_kills_and_stops_workers(lab: LabSession, app: Make) -> None:
    at = app().run()
    page(at, "workers")
    assert metric(at, "在岗配送员") == "1"
    at.button(key="start_worker").click().run()
    no_crash(at)
    [started] = list(queries._started)
    ticks(at, lambda at: metric(at, "在岗配送员") == "2", what="the started worker to register")
    # a short time limit keeps the heartbeat short, so the abandoned job is noticed within seconds
    job_id = lab.submit("slow_task", {"steps": 20, "step_seconds": 1}, timeout=60, retry={"max_retries": 1, "base": 0.2})
    lab.wait(job_id, states={"running"})
    victim = next(w["name"] for w in workers(lab.conn) if w["current_job"] == job_id)
    at.run()
    at.selectbox(key="worker_pick").set_value(victim)
    at.button(key="kill_worker").click().run()
    no_crash(at)
    assert at.session_state["killed_job"] == job_id
    assert f"已杀掉 {victim}" in at.warning[0].value
    result = lab.wait(job_id, timeout=90)
    assert result.state == "completed"  # redelivered to the surviving worker
    ticks(at, lambda at: "配送员失联" in texts(at) or any("失联" in str(d.value) for d in at.dataframe), what="recovery")
    survivor = next(w["name"] for w in workers(lab.conn))
    at.selectbox(key="worker_pick").set_value(survivor)
    at.button(key="stop_worker").click().run()
    assert f"已请 {survivor} 下班" in texts(at)
    ticks(at, lambda at: metric(at, "在岗配送员") == "0", what="every worker gone")
    assert started in {victim, survivor}


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_the_channels_page_watches_one_job_three_ways(lab: LabSession, api_server: str, app: Make) -> None:
    at = app().run()
    page(at, "channels")
    no_crash(at)
    at.number_input(key="ch_steps").set_value(10)
    at.number_input(key="ch_step_seconds").set_value(1.0)
    at.button(key="ch_start").click().run()
    no_crash(at)
    session = at.session_state["channels"]
    ticks(at, lambda at: session.done, what="all three channels to finish")
    summaries = session.summaries()
    assert {s["status"] for s in summaries.values()} == {"done"}
    total = len(events.job_events(lab.conn, session.job_id))
    assert [summaries[c]["events"] for c in ("websocket", "sse", "polling")] == [total] * 3
    assert [summaries[c]["missed"] for c in ("websocket", "sse", "polling")] == [0, 0, 0]
    assert sum(1 for m in at.metric if m.label == "收到事件" and m.value == str(total)) == 3


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_no_page_raises_with_10000_jobs(broker: str, app: Make, no_api: str) -> None:
    from dashboard_helpers import populate

    conn = redis.Redis.from_url(broker)
    total = populate(conn, 10_000)
    at = app().run()
    no_crash(at)
    ticks(at, lambda at: metric(at, "全部任务") == f"{total:,}" or metric(at, "全部任务") == str(total), what="catch up")
    assert at.session_state["board"].total == total
    for name in PAGES[1:]:
        no_crash(page(at, name))
        no_crash(at.run())
    at.session_state["job_id"] = next(iter(at.session_state["board"].jobs))
    no_crash(page(at, "job"))


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_the_engine_selector_sends_the_batch_to_celery(broker: str, app: Make) -> None:
    with LabSession(workers=1, engine="celery") as lab:
        at = app().run()
        at.selectbox(key="submit_task").set_value("send_email").run()
        at.radio(key="submit_engine").set_value("celery").run()
        at.number_input(key="batch").set_value(2).run()
        at.button(key="submit_btn").click().run()
        no_crash(at)
        ids = at.session_state["last_batch"]
        assert len(ids) == 2 and [lab.wait(i).state for i in ids] == ["completed"] * 2
        assert {jobs.job_view(lab.conn, i)["engine"] for i in ids} == {"celery"}
        ticks(at, lambda at: metric(at, "已签收") == "2", what="two completed Celery jobs")


@pytest.mark.parametrize("engine", ["celery", "arq"])
@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_celery_job_with_no_celery_worker_says_so(broker: str, app: Make, no_api: str, engine: str) -> None:
    conn = redis.Redis.from_url(broker)
    at = app().run()
    assert f"no worker for engine {engine}" not in texts(at)
    jobs.submit(conn, "noop", {"value": 1}, engine=engine)
    at.run()
    assert f"no worker for engine {engine}" in texts(at) and f"python -m labs worker --engine {engine}" in texts(at)


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_lessons_own_queue_shows_on_the_board_and_the_workers_page(lab: LabSession, app: Make) -> None:
    """A LabSession's workers listen on its own queue: the dashboard lists them beside the lab's, with their queue."""
    with LabSession(workers=1) as lesson, LabSession(workers=1, engine="celery", queue=lesson.queue) as celery_lesson:
        done = [lesson.submit("noop", {"value": 1}), celery_lesson.submit("noop", {"value": 2})]
        assert [lesson.wait(job_id).state for job_id in done] == ["completed"] * 2
        at = app().run()
        ticks(at, lambda at: metric(at, "已签收") == "2", what="the lesson's two jobs on the board")
        page(at, "workers")
        table = frame(at, "名字", "队列")
        assert dict(zip(table["名字"], table["队列"], strict=True)) == {
            lab.workers()[0]["name"]: "lab",
            lesson.workers()[0]["name"]: lesson.queue,
            celery_lesson.workers()[0]["name"]: f"{lesson.queue}-celery",
        }


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_the_workers_page_shows_starts_and_stops_celery_workers_beside_rq(lab: LabSession, app: Make) -> None:
    at = app().run()
    page(at, "workers")
    assert metric(at, "在岗配送员") == "1"
    at.selectbox(key="worker_engine").set_value("celery").run()
    at.selectbox(key="worker_kind").set_value("simple").run()
    at.button(key="start_worker").click().run()
    no_crash(at)
    [started] = list(queries._started)
    assert started.startswith("dash-celery-simple-")
    ticks(at, lambda at: metric(at, "在岗配送员") == "2", what="the Celery worker to register")
    table = frame(at, "名字", "引擎")
    assert dict(zip(table["名字"], table["引擎"], strict=True)) == {started: "celery", workers(lab.conn)[0]["name"]: "rq"}
    job_id = lab.submit("noop", {"value": 1}, engine="celery")
    assert lab.wait(job_id).state == "completed"
    assert next(e for e in jobs.job_view(lab.conn, job_id)["events"] if e["event"] == "started")["worker"] == started
    page(at, "board")
    assert metric(at, "在岗配送员") == "2"  # the board counts every engine's workers
    page(at, "workers")
    at.selectbox(key="worker_pick").set_value(started)
    at.button(key="stop_worker").click().run()
    assert f"已请 {started} 下班" in texts(at)
    ticks(at, lambda at: metric(at, "在岗配送员") == "1", what="the Celery worker to leave (warm shutdown)")
    assert frame(at, "名字", "引擎")["引擎"].tolist() == ["rq"]


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_the_sidebar_links_to_flower_when_the_lab_runs_it(
    broker: str, app: Make, no_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app().run()
    assert not [b for b in at.get("link_button") if "Flower" in b.proto.label]
    monkeypatch.setenv("LAB_FLOWER_URL", "http://127.0.0.1:5555")
    at = app().run()
    [link] = [b for b in at.get("link_button") if "Flower" in b.proto.label]
    assert link.proto.url == "http://127.0.0.1:5555"
