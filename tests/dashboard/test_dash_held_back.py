"""The workers page shows the workers ``labs up`` holds back (stopped or killed on purpose) and brings one back;
the board shows its per-state counts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest
import redis
from dashboard_helpers import free_port, run_until
from streamlit.testing.v1 import AppTest

from labs import jobs, keys, supervisor

Make = Callable[[], AppTest]


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "success", "info", "error") for e in at.get(kind))


def test_a_worker_held_back_is_listed_and_brought_back(broker: str, app: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_API_URL", f"http://127.0.0.1:{free_port()}")
    conn = redis.Redis.from_url(broker)
    supervisor.mark_on_purpose(conn, "fork-worker-1-77", "killed")
    supervisor.mark_on_purpose(conn, "dash-fork-abc", "stopped")  # exited with no labs up to hold it: not listed
    entry = supervisor.on_purpose(conn)["fork-worker-1-77"]
    conn.hset(keys.WORKERS_ON_PURPOSE, "fork-worker-1-77", json.dumps({**entry, "held_by": os.getpid()}))
    at = app().run()
    at.switch_page("labs/dashboard/pages/workers.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "`fork-worker-1-77` · 被你杀掉" in texts(at) and "dash-fork-abc" not in texts(at)
    at.button(key="bring_back_fork-worker-1-77").click().run()
    assert not at.exception
    assert "labs up 会重新启动 fork-worker-1-77" in texts(at)
    assert set(supervisor.on_purpose(conn)) == {"dash-fork-abc"}
    assert not any(b.key == "bring_back_fork-worker-1-77" for b in at.button)


def test_the_board_shows_the_counts_per_state(conn: redis.Redis, app: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_API_URL", f"http://127.0.0.1:{free_port()}")
    done = jobs.submit(conn, "noop", {"value": 1})
    run_until(conn, lambda: jobs.job_view(conn, done)["state"] == "completed")
    jobs.submit(conn, "noop", {"value": 2})
    at = app().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "已下单·等待 1 · 运输中·执行 0 · 已签收·完成 1 · 派送失败 0" in texts(at)
