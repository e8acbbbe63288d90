"""Shared fixtures: a broker of each kind, and real worker processes.

``broker`` is parametrised: every test that uses it runs once on the embedded
broker (fakeredis over TCP) and once on a real Redis server
(``LAB_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/15``, flushed before
each test). Without a Redis server the real-Redis half is skipped locally and
fails in CI (``CI=true``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from labs.broker import EmbeddedBroker
from labs.session import LabSession
from labs.settings import queue_name

_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_FIRST_DB = int(os.environ.get("LAB_TEST_REDIS_DB", "15"))
REAL_REDIS_URL = os.environ.get("LAB_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_FIRST_DB - _XDIST_WORKER}")
"""Flushed before each test, so parallel workers (``make test-fast`` runs four) each take their own database,
counting down from ``LAB_TEST_REDIS_DB`` (two checkouts testing at once on one server give different ones)."""
TIME_SCALE = "0.05"
BROKERS = [b for b in os.environ.get("LAB_TEST_BROKERS", "embedded,redis").split(",") if b]
"""Which halves run: ``make test-fast`` sets ``LAB_TEST_BROKERS=embedded``; ``make test`` runs both."""
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Lanes by folder: tests/reliability is slow, tests/notebooks runs the lessons (``make test-fast`` skips both)."""
    for item in items:
        folder = Path(str(item.fspath)).resolve().relative_to(TESTS).parts[0]
        if folder == "reliability":
            item.add_marker(pytest.mark.slow)
        elif folder == "notebooks":
            item.add_marker(pytest.mark.notebooks)


@pytest.fixture(autouse=True)
def lab_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state folder and a fast clock."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("LAB_STATE_DIR", str(state))
    monkeypatch.setenv("LAB_TIME_SCALE", TIME_SCALE)
    monkeypatch.setenv("LAB_EMBEDDER", "fallback")
    monkeypatch.delenv("REDIS_URL", raising=False)
    return state


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(write_url=False).start()
    yield broker
    broker.stop()


def _real_redis_available() -> bool:
    try:
        redis.Redis.from_url(REAL_REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        return False
    return True


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean broker URL, exported as REDIS_URL for the test and its worker processes."""
    if request.param not in BROKERS:
        pytest.skip(f"the {request.param} broker is not in LAB_TEST_BROKERS={','.join(BROKERS)}")
    if request.param == "embedded":
        url = request.getfixturevalue("embedded_broker").url
    else:
        if not _real_redis_available():
            if os.environ.get("CI"):
                pytest.fail(f"no Redis server at {REAL_REDIS_URL} (CI must start one)")
            pytest.skip(f"no Redis server at {REAL_REDIS_URL}")
        url = REAL_REDIS_URL
    redis.Redis.from_url(url).flushdb()
    monkeypatch.setenv("REDIS_URL", url)
    return url


@pytest.fixture
def conn(broker: str) -> redis.Redis:
    return redis.Redis.from_url(broker)


@pytest.fixture
def lab(broker: str) -> Iterator[LabSession]:
    """A lab with one forking worker on the test's broker (tests may add more).

    On the lab's queue, not one of its own: tests mix it with an API or a dashboard process that other
    fixtures start, in either order (tests/test_session_queue.py tests a session's own queue).
    """
    session = LabSession(workers=1, kind="fork", queue=queue_name()).start()
    yield session
    session.stop()


@pytest.fixture
def simple_lab(broker: str) -> Iterator[LabSession]:
    """A lab with one SimpleWorker (on the lab's queue, as ``lab``)."""
    session = LabSession(workers=1, kind="simple", queue=queue_name()).start()
    yield session
    session.stop()
