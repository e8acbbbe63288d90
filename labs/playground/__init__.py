"""The browser playground: the seed's front-end analogies, running against the lab's real API.

The seed explains every backend idea with browser code a front-end developer
already knows (Web Worker, Promise, ``xhr.upload.onprogress``, ``fetchWithRetry``,
Error Boundary, WebSocket, EventSource). This package serves a static page at
``/playground/`` where each of those snippets really runs, next to the lab's
real jobs on real workers. Plain HTML and JavaScript modules, no build step:

- ``static/code/*.js``: the code students read; each panel shows these files'
  source in a ``<pre>`` and imports the very same files, so what is shown is
  what runs.
- ``static/panels/*.js``: the wiring of each panel (buttons, bars, drawings).
- ``router.py``: mounts the page and the few helpers the page needs that the
  lab API has no reason to offer (``flaky.py``: an endpoint that fails on
  purpose; ``radio.py``: a pass-through of the SSE stream that can be cut;
  a sample PDF to upload).
"""

from .router import STATIC_DIR, install, router

__all__ = ["STATIC_DIR", "install", "router"]
