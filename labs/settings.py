"""Every setting of the lab, in one typed place: the environment variables it reads.

Each field of :class:`Settings` is one variable, with its default and a
one-line meaning (the README's settings table is generated from them, see
:mod:`labs.readme`). Read them with :func:`settings`::

    from labs.settings import settings
    settings().queue      # LAB_QUEUE, default "lab"

:func:`settings` reads the environment *now*: a test changes a variable with
``monkeypatch.setenv`` and the next call sees it, and a worker started as a
subprocess inherits it. It is called on hot paths (the demo clock, every event
appended), so it validates only when one of the variables changed: otherwise it
costs a look-up of each variable (about a microsecond in all).

A value that does not parse raises :class:`SettingsError`, one line naming the
variable, e.g. ``LAB_TIME_SCALE must be a number, got 'abc'``. An empty
variable counts as unset.

This is the only module that reads ``os.environ``; :func:`child_environment`
and :func:`environment` are the ways to hand variables on or set them for a block
(:func:`set_variable` without one).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import LabError

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(LabError, ValueError):
    """An environment variable with a value the lab cannot use."""


def var(name: str, default: Any, meaning: str, *, shown: str | None = None, **constraints: Any) -> Any:
    """A field read from the environment variable ``name``; ``shown`` is the default as the README prints it."""
    extra = {"shown": shown} if shown is not None else None
    return Field(default, alias=name, description=meaning, json_schema_extra=extra, **constraints)


class Settings(BaseSettings):
    """The lab's settings, one field per environment variable (names are the aliases)."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore", frozen=True)

    # broker, queue and clock
    redis_url: str | None = var(
        "REDIS_URL", None, "use this Redis server instead of the embedded broker", shown="unset", repr=False
    )
    time_scale: float = var(
        "LAB_TIME_SCALE",
        1.0,
        "compresses every demo delay (sleeps, backoff, polling): `0.05` is 20x faster, `0` skips them",
        ge=0,
    )
    state_dir: Path | None = var("LAB_STATE_DIR", None, "folder for the broker URL file, logs, uploads, index", shown="`.lab/`")
    queue: str = var(
        "LAB_QUEUE",
        "lab",
        "name of the lab's queue (RQ's; Celery's and ARQ's are `<name>-celery`, `<name>-arq`); a `LabSession` sets its own",
        min_length=1,
    )
    # workers
    heartbeat_grace: float = var("LAB_HEARTBEAT_GRACE", 10.0, "demo seconds before a silent job counts as abandoned", ge=0)
    broker_outage_seconds: float = var(
        "LAB_BROKER_OUTAGE_SECONDS", 30.0, "seconds a worker's commands keep retrying while the broker is away", ge=0
    )
    broker_snapshot_seconds: float = var(
        "LAB_BROKER_SNAPSHOT_SECONDS",
        30.0,
        "seconds between snapshots of the embedded broker to <state dir>/broker.snapshot (also on stop; 0: only on stop)",
        ge=0,
    )
    # the Celery engine
    celery_acks_late: bool = var(
        "LAB_CELERY_ACKS_LATE",
        True,
        "Celery: acknowledge after the job and redeliver if the worker dies (`0`: Celery's defaults)",
    )
    celery_visibility_timeout: float = var(
        "LAB_CELERY_VISIBILITY_TIMEOUT",
        3600.0,
        "Celery on Redis: demo seconds before an unacknowledged message is delivered again",
        gt=0,
    )
    celery_soft_time_limit: bool = var(
        "LAB_CELERY_SOFT_TIME_LIMIT", True, "Celery: `0` sends only the hard `time_limit` (the child is killed without warning)"
    )
    celery_task_events: bool = var(
        "LAB_CELERY_TASK_EVENTS", False, "Celery workers send task events (for Flower; `labs up --engine celery` sets it)"
    )
    # the ARQ engine
    arq_job_timeout: float = var(
        "LAB_ARQ_JOB_TIMEOUT",
        300.0,
        "ARQ: the worker's `job_timeout` in demo seconds (ARQ's default 300): the longest a job may run on ARQ; "
        "a dead worker's job runs again once its in-progress key expires, this plus 10 s later",
        gt=0,
    )
    arq_max_jobs: int = var("LAB_ARQ_MAX_JOBS", 10, "ARQ: jobs one worker process runs at a time (ARQ's `max_jobs`)", ge=1)
    flower_basic_auth: str | None = var(
        "FLOWER_BASIC_AUTH", None, "`user:password` for Flower (without it, Flower's HTTP API is open on loopback)", repr=False
    )
    flower_url: str | None = var(
        "LAB_FLOWER_URL", None, "Flower's address, for the dashboard's link (`labs up --engine celery` sets it)"
    )
    # event log
    events_maxlen: int = var(
        "LAB_EVENTS_MAXLEN", 200_000, "about how many events the global event stream keeps (older ones are trimmed)", ge=1
    )
    event_ttl: int = var(
        "LAB_EVENT_TTL", 7 * 24 * 3600, "seconds a job's event stream lives after its last event", shown="`604800` (7 days)", ge=1
    )
    result_ttl: int = var(
        "LAB_RESULT_TTL",
        7 * 24 * 3600,
        "seconds a finished job's record and result (or failure) are kept; with `LAB_EVENT_TTL` it bounds the broker's memory",
        shown="`604800` (7 days)",
        ge=1,
    )
    # documents and embeddings
    document_roots: Annotated[tuple[Path, ...], NoDecode] = var(
        "LAB_DOCUMENT_ROOTS",
        (),
        "more folders whose PDFs a job may read, besides `<state dir>/documents` (separated by `:`; `;` on Windows)",
        shown="none",
    )
    embedder: Literal["auto", "fastembed", "fallback"] = var(
        "LAB_EMBEDDER", "auto", "`auto`, `fastembed` (fail if no model) or `fallback` (the hashing embedder)"
    )
    embed_model_path: Path | None = var(
        "LAB_EMBED_MODEL_PATH", None, "a local fastembed-ready ONNX model folder (nothing is downloaded)", shown="unset"
    )
    embed_model: str | None = var(
        "LAB_EMBED_MODEL",
        None,
        "a fastembed model name (from its cache), e.g. `BAAI/bge-small-en-v1.5`",
        shown="the lab's bundled `all-MiniLM-L6-v2-int8`; for a folder, its name",
    )
    embed_dim: int | None = var("LAB_EMBED_DIM", None, "the vector size of a local model", shown="read from the model", gt=0)
    embed_pooling: Literal["cls", "mean"] | None = var(
        "LAB_EMBED_POOLING", None, "`cls` or `mean` pooling for a local model", shown="`cls` for BGE models, else `mean`"
    )
    embed_allow_download: bool = var(
        "LAB_EMBED_ALLOW_DOWNLOAD", False, "`1`: fastembed may download its model (else only its cache is used)"
    )
    embed_threads: int | None = var(
        "LAB_EMBED_THREADS", None, "ONNX Runtime threads per embedding model (per worker)", shown="one per core", gt=0
    )
    # API
    max_upload_mb: float = var("LAB_MAX_UPLOAD_MB", 20.0, "largest PDF upload the API accepts, in MB", gt=0)
    cors_origins: Annotated[tuple[str, ...], NoDecode] = var(
        "LAB_CORS_ORIGINS", (), "comma-separated origins allowed to call the API from a browser", shown="none"
    )
    instructor_token: str = var(
        "LAB_INSTRUCTOR_TOKEN",
        "",
        "classroom mode: the API asks every request for a student's or this (instructor's) token",
        shown="unset (open lab)",
        repr=False,
    )
    admission: Literal["auto", "on", "off"] = var(
        "LAB_ADMISSION",
        "auto",
        "admission control (429 + `Retry-After`): `auto` limits each student in classroom mode and the queue depth"
        " always; `on` also limits each client address in an open lab; `off` admits everything",
    )
    fair_share: Literal["auto", "on", "off"] = var(
        "LAB_FAIR_SHARE",
        "auto",
        "fair share on RQ: each student's jobs wait in their own queue, served round-robin, the instructor's in a"
        " priority queue served first; `auto`: on in classroom mode; `off`: one queue (where jobs are sent decides:"
        " a worker serves every student's queue once jobs went there)",
    )
    rate_limit: int = var(
        "LAB_RATE_LIMIT",
        200,
        "jobs one student may submit per `LAB_RATE_PERIOD` (a token bucket in Redis, shared by every API process;"
        " a batch takes one token a job; `0`: no rate limit)",
        ge=0,
    )
    rate_period: float = var("LAB_RATE_PERIOD", 60.0, "seconds in which the token bucket refills completely", gt=0)
    max_active: int = var(
        "LAB_MAX_ACTIVE", 200, "jobs one student may have pending or running at once (`0`: no cap; at most 5000)", ge=0, le=5000
    )
    max_queue_depth: int = var(
        "LAB_MAX_QUEUE_DEPTH",
        10_000,
        "jobs waiting in the lab's queues beyond which the API refuses new ones: the sorting centre is full (`0`: no limit)",
        ge=0,
    )
    api_log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = var(
        "LAB_API_LOG_LEVEL", "info", "uvicorn's log level (`critical`, `error`, `warning`, `info`, `debug`, `trace`)"
    )
    api_access_log: bool = var("LAB_API_ACCESS_LOG", True, "`0` silences uvicorn's access log")
    # dashboard
    api_url: str = var(
        "LAB_API_URL",
        "http://127.0.0.1:8000",
        "where the dashboard (channel page, playground link) finds the API; `labs up` sets it",
    )
    lang: Literal["zh", "en"] = var("LAB_LANG", "zh", "the dashboard's first language, `zh` or `en`")
    dashboard_refresh: float = var("LAB_DASHBOARD_REFRESH", 1.0, "seconds between the dashboard's live refreshes", gt=0)
    # set by the lab and RQ for the processes they start
    parent_pid: int | None = var(
        "LAB_PARENT_PID", None, "set by the lab for a worker it starts: the worker stops when that process ends", gt=0
    )
    rq_worker_id: str = var(
        "RQ_WORKER_ID", "", "set by RQ in a worker process: the worker's name, for progress events", shown="unset"
    )
    # testing kit
    fault: Literal["", "after_rq_finish", "after_rq_fail", "drift_after_rq_finish", "drift_after_rq_fail"] = var(
        "LAB_FAULT",
        "",
        "tests only: an RQ worker SIGKILLs itself right after RQ's write that ends an attempt (`after_rq_finish`: a success,"
        " `after_rq_fail`: a failure); the `drift_` forms first leave the lifecycle event out of that write, as if it came"
        " after (the drift that maintenance repairs)",
        shown="unset",
    )
    redis_server: Path | None = var(
        "LAB_REDIS_SERVER", None, "the `redis-server` binary the reliability tests start", shown="`redis-server` on PATH"
    )

    @field_validator("document_roots", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        return tuple(part for part in value.split(os.pathsep) if part) if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("embedder", "embed_pooling", "api_log_level", "lang", "admission", "fair_share", mode="before")
    @classmethod
    def _word(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("api_url", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


VARIABLES: tuple[str, ...] = tuple(str(field.alias) for field in Settings.model_fields.values())
"""The names of every environment variable the lab reads."""


def _reader() -> Any:
    """A function giving the current values of :data:`VARIABLES`, the cache key of :func:`settings`.

    ``os.environ.get`` costs ~0.7 µs a name (a missing one raises and catches
    a KeyError), ~20 µs for all; CPython's ``os.environ`` keeps the encoded
    variables in a plain dict, ``_data``, which it updates on every change, and
    reading that directly costs ~1 µs for all. Without it (another Python), the
    public way.
    """
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    if isinstance(data, dict) and callable(encode):
        names = tuple(encode(name) for name in VARIABLES)
        get = data.get
        return lambda: tuple(map(get, names))
    public = os.environ.get
    return lambda: tuple(map(public, VARIABLES))


_current = _reader()
_cache: dict[tuple[Any, ...], Settings] = {}
_CACHE_SIZE = 64


def _explain(error: Any) -> str:
    """One pydantic error as ``VARIABLE must be ..., got 'value'``."""
    name = ".".join(str(part) for part in error["loc"][:1]) or "a setting"
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "float_parsing":
        rule = "must be a number"
    elif kind in ("int_parsing", "int_from_float"):
        rule = "must be a whole number"
    elif kind == "bool_parsing":
        rule = "must be 1 or 0"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()), "?")
        rule = f"must be {sign} {limit:g}" if isinstance(limit, float) else f"must be {sign} {limit}"
    elif kind == "literal_error":
        rule = f"must be {ctx.get('expected', 'one of the allowed values')}"
    else:
        rule = str(error["msg"]).lower()
    return f"{name} {rule}, got {error['input']!r}"


def load() -> Settings:
    """Settings read and validated from the environment now (uncached; see :func:`settings`)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError("; ".join(_explain(error) for error in exc.errors())) from None


def settings() -> Settings:
    """The lab's settings for the environment as it is now (validated once per set of values)."""
    key = _current()
    found = _cache.get(key)
    if found is None:
        found = load()
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = found
    return found


def state_dir() -> Path:
    """Folder for the lab's runtime files (broker URL, uploads, databases), created if missing.

    ``LAB_STATE_DIR`` overrides it; by default it sits next to the package, so a
    notebook started in ``notebooks/`` and a worker started at the top level find
    the same broker.
    """
    path = settings().state_dir or REPO_ROOT / ".lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def queue_name() -> str:
    """Name of the RQ queue the lab uses (``LAB_QUEUE``, default ``lab``)."""
    return settings().queue


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process the lab starts: this one's, plus ``extra``."""
    return {**os.environ, **(extra or {})}


def variable(name: str) -> str | None:
    """The raw value of environment variable ``name`` now (None: unset), e.g. to put it back later."""
    return os.environ.get(name)


def set_variable(name: str, value: str | None) -> None:
    """Set (``None``: unset) one environment variable for this process and those it starts from now on.

    For a setting whose scope is not a block (a :class:`~labs.session.LabSession` from start to stop).
    """
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (``None``: unset) environment variables for the block, then put them back.

    For code that must change a setting for itself *and* the processes it starts
    (tests use ``monkeypatch.setenv`` instead).
    """
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
