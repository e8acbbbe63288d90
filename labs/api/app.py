"""The lab's HTTP service: :func:`create_app` builds it, :func:`serve` runs it with uvicorn
(:class:`BackgroundServer` in a thread of the calling process: lessons and tests).

One app, three ways to follow a job, the three channels the seed compares:

==============  ===============================  ==============================================
channel         endpoint                         picture
==============  ===============================  ==============================================
polling         ``GET /tasks/{id}`` + ETag       checking the parcel's tracking page (场景3)
SSE             ``GET /tasks/{id}/stream``       listening to the radio (广播电台), one way
WebSocket       ``WS /ws/tasks/{id}``            a phone call (电话通话), both ways
==============  ===============================  ==============================================

The rest: ``POST /tasks`` (submit), ``GET /tasks``, ``POST /tasks/{id}/cancel``,
``/dlq`` (the returns centre), ``POST /documents`` (PDF upload), ``GET /search`` and
``GET /search/compare`` (scenario 1: the hashing embedder beside the model), ``GET /events``
(every job's events), ``GET /catalogue``, ``GET /health``, the OpenAPI docs
at ``/docs`` and the WebSockets' AsyncAPI document at ``/asyncapi.json`` (``contract.py``).

Settings: ``REDIS_URL`` (else the embedded broker), ``LAB_CORS_ORIGINS``
(comma-separated origins allowed to call the API from a browser, e.g. a front-end
dev server at ``http://localhost:5173``; none by default), ``LAB_MAX_UPLOAD_MB``,
``LAB_API_ACCESS_LOG=0`` to silence uvicorn's access log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from ..clock import time_scale
from ..engines import names as engine_names
from ..errors import BrokerUnavailable
from ..settings import queue_name, settings
from . import compare, contract, dlq, rest, scenarios, stream, students, uploads, ws
from .connections import Broker
from .errors import install as install_error_handlers
from .models import Health

log = logging.getLogger(__name__)

DESCRIPTION = """
Submit the lab's catalogue tasks as real RQ jobs and follow them by **polling**
(`GET /tasks/{id}`, with `ETag` / `If-None-Match`), **Server-Sent Events**
(`GET /tasks/{id}/stream`) or a **WebSocket** (`/ws/tasks/{id}`, not listed below:
OpenAPI does not describe WebSockets; its frames are in the AsyncAPI document at
[/asyncapi.json](/asyncapi.json)). Every error body is the `Error` model: `{"detail", "errors"?}`.
长任务实验室: 任务队列 = 快递分拣中心, 任务ID = 快递单号.
"""


def cors_origins_from_env() -> list[str]:
    """``LAB_CORS_ORIGINS`` as a list (empty: no cross-origin browser calls)."""
    return list(settings().cors_origins)


def create_app(*, cors_origins: Sequence[str] | None = None) -> FastAPI:
    """The FastAPI app; it connects to the broker at start-up if it can, else on the first request."""
    broker = Broker()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(broker.sync)
        except BrokerUnavailable as exc:
            log.warning("%s (the API answers 503 until a broker is up)", exc)
        yield
        await broker.aclose()

    app = FastAPI(title="Long-Task Lab API (长任务实验室)", version="1.0.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.broker = broker
    install_error_handlers(app)
    origins = list(cors_origins) if cors_origins is not None else cors_origins_from_env()
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "Location"],
        )
    for module in (rest, stream, ws, dlq, scenarios, compare, students):
        app.include_router(module.router)
    # uploads are shared by the class (inputs, not parcels), but in classroom mode only members may send them
    app.include_router(uploads.router, dependencies=[Depends(students.get_viewer)])
    from ..playground import install as install_playground  # here: the playground's radio imports labs.api

    install_playground(app)  # the browser playground at /playground/ (labs/playground)

    @app.get("/health", response_model=Health, tags=["service"], responses={503: {"model": Health}})
    def health(response: Response) -> dict[str, Any]:
        """Is the API up, and can it reach the broker? (503 with the reason when it cannot)"""
        from ..launcher import all_workers

        base = {"queue": queue_name(), "time_scale": time_scale(), "push": broker.hub_stats()}
        try:
            conn = broker.sync()
            conn.ping()
            found = all_workers(conn)
        except (BrokerUnavailable, RedisError) as exc:
            broker.reset()
            response.status_code = 503
            return {**base, "status": "unavailable", "broker": broker.url, "detail": str(exc)}
        per_engine = {name: sum(w["engine"] == name for w in found) for name in engine_names()}
        return {**base, "status": "ok", "broker": broker.url, "workers": len(found), "engines": per_engine}

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/docs")

    contract.install(app)  # /openapi.json completed from the routes, /asyncapi.json for the WebSockets
    return app


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API with uvicorn until interrupted (``python -m labs api``)."""
    import gc

    import uvicorn

    app = create_app()
    app.openapi()
    # Leave the tens of thousands of start-up objects (modules, routes, models) out of the garbage
    # collector's full passes: one pass over them pauses every open stream for tens of milliseconds.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings().api_log_level,
        access_log=settings().api_access_log,
        timeout_graceful_shutdown=3,
    )


class BackgroundServer:
    """The lab's API served by uvicorn in a background thread of this process (lessons, tests).

    ``BackgroundServer().start()`` -> ``.url`` / ``.ws_url``; ``.stop()`` sets
    uvicorn's ``should_exit`` and joins the thread. Also a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        from ..ports import free_port

        self.host, self.port = host, port or free_port(host)
        self.app = create_app()
        config = uvicorn.Config(
            self.app, host=host, port=self.port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="lab-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start at {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
