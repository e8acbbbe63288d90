"""Environment variables for one block: the benchmark's settings (tests use ``monkeypatch`` instead)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    """Set environment variables for the block, and put the old values back after it."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
