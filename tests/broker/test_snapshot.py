"""The embedded broker keeps its history across restarts (issue 19): jobs, events and dead letters come back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from labs import dlq, events, jobs
from labs.broker import EmbeddedBroker, is_alive, url_file
from labs.broker.snapshot import SNAPSHOT_FILE
from labs.settings import REPO_ROOT
from labs.worker import run_burst


def _history(conn: redis.Redis, ids: list[str]) -> dict[str, object]:
    return {
        "states": {job_id: jobs.job_view(conn, job_id)["state"] for job_id in ids},
        "events": {job_id: [(e.id, e.event) for e in events.job_events(conn, job_id)] for job_id in ids},
        "dead letters": sorted(entry["id"] for entry in dlq.list_entries(conn)),
        # keys about to expire (RQ's clean-up lock) may be gone by the snapshot
        "keys": sorted(k for k in conn.scan_iter() if not 0 <= conn.pttl(k) < 5000),
    }


def test_jobs_events_and_dead_letters_survive_a_restart_and_fresh_starts_empty(
    lab_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_TIME_SCALE", "0")
    with EmbeddedBroker() as first:
        assert first.restored == 0
        conn = redis.Redis.from_url(first.url)
        done = jobs.submit(conn, "noop", {})
        poison = jobs.submit(conn, "risky_task", {"data": {"poison": True}})
        run_burst(conn)
        waiting = jobs.submit(conn, "slow_task", {"steps": 2})  # queued, not run
        ids = [done, poison, waiting]
        before = _history(conn, ids)
        assert before["states"] == {done: "completed", poison: "failed", waiting: "pending"}
        assert before["dead letters"] == [poison]
    assert (lab_env / SNAPSHOT_FILE).exists()
    with EmbeddedBroker() as second:
        conn = redis.Redis.from_url(second.url)
        assert second.restored == conn.dbsize() >= len(before["keys"])
        assert _history(conn, ids) == before
        run_burst(conn)  # the queued job was still queued: it runs now
        assert jobs.job_view(conn, waiting)["state"] == "completed"
    with EmbeddedBroker(fresh=True) as third:
        conn = redis.Redis.from_url(third.url)
        assert third.restored == 0 and conn.dbsize() == 0
    assert (lab_env / f"{SNAPSHOT_FILE}.before-fresh").exists()  # an instructor's demo is set aside, not lost


def _start(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "labs", "broker", *args],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not (url_file().exists() and is_alive(url_file().read_text().strip())):  # a crashed one's file may be there
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def test_the_broker_process_snapshots_every_few_seconds_so_a_crash_loses_little(
    lab_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_BROKER_SNAPSHOT_SECONDS", "0.2")
    proc = _start()
    try:
        conn = redis.Redis.from_url(url_file().read_text().strip())
        conn.set("lab:test:kept", "1")
        conn.set("lab:test:expires", "1", px=300)
        time.sleep(1)  # a few snapshots
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no snapshot on the way out
        proc.wait(10)
    proc = _start()
    try:
        conn = redis.Redis.from_url(url_file().read_text().strip())
        assert conn.get("lab:test:kept") == b"1"
        assert conn.get("lab:test:expires") is None  # it expired meanwhile
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
        assert "1 keys restored from" in out
    finally:
        proc.kill()
    fresh = _start("--fresh")
    try:
        conn = redis.Redis.from_url(url_file().read_text().strip())
        assert conn.dbsize() == 0
    finally:
        fresh.send_signal(signal.SIGTERM)
        assert "started empty (--fresh)" in fresh.communicate(timeout=30)[0]


def test_an_unreadable_snapshot_is_set_aside_and_the_broker_starts_empty(lab_env: Path) -> None:
    (lab_env / SNAPSHOT_FILE).write_bytes(b"not a snapshot")
    with EmbeddedBroker() as emb:
        assert emb.restored == 0 and redis.Redis.from_url(emb.url).dbsize() == 0
    aside = list(lab_env.glob(f"{SNAPSHOT_FILE}.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"not a snapshot"


def test_a_job_that_was_running_when_the_broker_stopped_is_found_abandoned_and_retried(lab_env: Path) -> None:
    """A snapshot cannot hold the worker that ran a job: after the restart the job is abandoned, then retried."""
    worker_cmd = [sys.executable, "-m", "labs", "worker", "--simple", "--name"]
    broker = _start()
    worker = subprocess.Popen(
        [*worker_cmd, "before-restart"], cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        conn = redis.Redis.from_url(url_file().read_text().strip())
        job_id = jobs.submit(conn, "slow_task", {"steps": 200}, retry={"max_retries": 2})
        jobs.wait_for(conn, job_id, timeout=60, states={"running"})
        broker.send_signal(signal.SIGTERM)  # snapshot written with the job running
        broker.communicate(timeout=30)
        worker.kill()  # and its worker is gone for good
        worker.wait(10)
    finally:
        broker.kill()
        worker.kill()
    broker = _start()
    worker = subprocess.Popen([*worker_cmd, "after-restart"], cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = redis.Redis.from_url(url_file().read_text().strip())
        result = jobs.wait_for(conn, job_id, timeout=240)
        kinds = [e.event for e in events.job_events(conn, job_id)]
        assert result.state == "completed", kinds
        assert kinds[:3] == ["enqueued", "started", "abandoned"] and kinds[-1] == "completed", kinds
    finally:
        worker.kill()
        worker.wait(10)
        broker.send_signal(signal.SIGTERM)
        broker.communicate(timeout=30)


def test_save_and_bgsave_write_the_snapshot(lab_env: Path) -> None:
    from fakeredis._core import FakeServer

    from labs.broker import snapshot

    with EmbeddedBroker() as emb:
        conn = redis.Redis.from_url(emb.url)
        conn.set("lab:test:saved", "1")
        before = conn.lastsave()
        assert conn.save()
        saved = FakeServer()
        assert snapshot.load(saved, lab_env / SNAPSHOT_FILE) == 1
        conn.set("lab:test:background", "1")
        assert conn.bgsave()
        deadline = time.monotonic() + 10
        while snapshot.load(FakeServer(), lab_env / SNAPSHOT_FILE) != 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert conn.lastsave() >= before
        assert conn.info("persistence")["rdb_last_save_time"] >= int(before.timestamp())
