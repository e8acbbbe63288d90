"""Connecting to the broker: which URL, one readable line when it is down, riding out an outage.

- ``REDIS_URL`` set: that server.
- otherwise the embedded broker, whose URL it wrote to ``<state dir>/broker.url``
  when it started (:class:`labs.broker.EmbeddedBroker`), so that processes
  started later find the same broker.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import redis

from ..errors import BrokerUnavailable
from ..settings import settings, state_dir

URL_FILE = "broker.url"


def url_file() -> Path:
    """Where the embedded broker writes its URL (and where every other process looks for it)."""
    return state_dir() / URL_FILE


def _safe(url: str) -> str:
    """The URL with any password hidden, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def redis_url() -> str | None:
    """The broker URL this process should use, or None when there is none yet."""
    url = settings().redis_url
    if url:
        return url
    path = url_file()
    if path.exists():
        return path.read_text().strip() or None
    return None


def connect(url: str, *, check: bool = True, timeout: float = 2.0) -> redis.Redis:
    """Connect to ``url`` and (by default) check that it answers.

    Raises :class:`BrokerUnavailable` with one readable line when it does not.
    """
    try:
        # socket_timeout: redis-py 8 defaults to 5 s, shorter than some blocking reads (XREAD BLOCK)
        conn = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=30, health_check_interval=30)
    except ValueError as exc:
        raise BrokerUnavailable(f"invalid broker URL {_safe(url)!r}: {exc}") from None
    if check:
        try:
            conn.ping()
        except redis.exceptions.AuthenticationError as exc:
            raise BrokerUnavailable(f"the broker at {_safe(url)} refused the password: {exc}") from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            hint = (
                "check REDIS_URL or start Redis"
                if settings().redis_url
                else "start one with `python -m labs broker` (or `python -m labs up`)"
            )
            raise BrokerUnavailable(f"no broker answers at {_safe(url)} ({exc}); {hint}") from None
    return conn


def ride_out_outages(conn: redis.Redis, seconds: float | None = None) -> redis.Redis:
    """Make every command on ``conn`` retry through a broker outage of up to ``seconds``; return ``conn``.

    redis-py retries a failed command three times after random waits (a few
    seconds in all): a Redis restart that takes longer would make a worker, or
    the job it runs, fail mid-way. Here a command that meets a refused or
    dropped connection reconnects and tries again, with waits growing from
    0.1 s to 1 s, until ``seconds`` (default ``LAB_BROKER_OUTAGE_SECONDS``)
    have passed. Meant for workers; the API answers ``503`` at once instead.
    """
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    budget = settings().broker_outage_seconds if seconds is None else seconds
    backoff = ExponentialBackoff(cap=1.0, base=0.05)
    retries, waited = 0, 0.0
    while waited < budget:
        retries += 1
        waited += backoff.compute(retries)
    conn.set_retry(Retry(backoff, retries))
    return conn


def get_connection(*, check: bool = True) -> redis.Redis:
    """The Redis connection every lab process uses (see the module docstring)."""
    url = redis_url()
    if url is None:
        raise BrokerUnavailable(
            "no broker is running: start one with `python -m labs broker` (or `python -m labs up`), or set REDIS_URL"
        )
    return connect(url, check=check)


def in_process_connection() -> redis.Redis:
    """A private in-process fakeredis, for self-contained cells and unit tests.

    Use it with RQ's ``SimpleWorker(...).work(burst=True)`` in the same process.
    """
    import fakeredis

    return fakeredis.FakeRedis()


def is_alive(url: str) -> bool:
    """True when something answers PING at ``url``."""
    try:
        connect(url, timeout=0.5)
    except BrokerUnavailable:
        return False
    return True
