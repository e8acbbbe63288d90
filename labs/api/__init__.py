"""The lab's FastAPI service: submit jobs and follow them by polling, SSE or WebSocket.

``python -m labs api --host 127.0.0.1 --port 8000`` runs it; the endpoint
contract is in ``app.py`` and in each module (``tasks.py`` REST and polling,
``stream.py`` Server-Sent Events, ``ws.py`` WebSocket, ``dlq.py``,
``documents.py``); the interactive docs are at ``/docs``.
"""

from .app import BackgroundServer, create_app, serve

__all__ = ["BackgroundServer", "create_app", "serve"]
