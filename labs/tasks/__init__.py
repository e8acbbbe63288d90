"""The job bodies: plain importable functions with JSON-only keyword arguments.

One module per family — :mod:`~labs.tasks.demo` (the seed's demo jobs),
:mod:`~labs.tasks.documents` (scenario 1's PDFs), :mod:`~labs.tasks.agent`
(scenario 2's chain), :mod:`~labs.tasks.summaries` (scenario 3) and
:mod:`~labs.tasks.dead_letters` (the seed's ``handle_failed_tasks``). The
catalogue (:mod:`labs.catalogue`) names each body by its dotted path; a worker
imports these modules once at start.

Before the split every body lived in this module, and jobs an older lab left in
Redis still name ``labs.tasks.<name>``: :func:`__getattr__` resolves those old
paths to the new bodies, so such a job still runs.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    from ..catalogue import BODIES, OLD_FUNCS

    new = OLD_FUNCS.get(f"{BODIES}.{name}")
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, func = new.rpartition(".")
    return getattr(importlib.import_module(module), func)
