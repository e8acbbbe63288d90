"""The seed's three scenarios (实际应用场景) as real pipelines.

1. :mod:`.documents` — 100 PDFs: one job per file, per-file and batch progress (pushed over WebSocket).
2. :mod:`.agent` — a 3-step agent chain (retrieve → analyse → answer) streamed over SSE.
3. :mod:`.summaries` — batch summaries written to SQLite while the client polls the database.
"""
