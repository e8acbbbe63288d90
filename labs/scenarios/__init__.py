"""The seed's three scenarios (实际应用场景) as real pipelines.

1. :mod:`.pdfs` — 100 PDFs: one job per file, per-file and batch progress (pushed over WebSocket), then a summary.
2. :mod:`labs.tasks.agent` — a 3-step agent chain (retrieve → analyse → answer) streamed over SSE.
3. :mod:`.summaries` — batch summaries written to SQLite while the client polls the database.

Each runs on any engine (``engine=``: ``rq``, the default, ``celery`` or ``arq``); the seed's choices are
:data:`SEED_ENGINES`. The channel (WebSocket, SSE, polling) reads the lab's event log or the database, so it
does not depend on the queue.
"""

SEED_ENGINES = {"documents": "celery", "agent": "arq", "summaries": "celery"}
"""The seed's engine for each scenario: 1 Celery + WebSocket, 2 ARQ + SSE, 3 Celery + database polling."""
