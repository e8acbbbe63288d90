"""Fixtures for the API tests: the app in-process (TestClient) and on a real uvicorn server.

The broker fixture (tests/conftest.py) exports REDIS_URL before these start,
so the app, the workers of the ``lab`` fixture and the test share one broker.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from api_helpers import LiveServer

from labs.api import create_app

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; the lab pins httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture
def client(broker: str) -> Iterator[TestClient]:
    """The app in-process, started (lifespan) on the test's broker."""
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def live_api(broker: str) -> Iterator[LiveServer]:
    server = LiveServer().start()
    yield server
    server.stop()
