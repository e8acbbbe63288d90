"""Transitional: the old home of the settings, now :mod:`labs.settings` and :mod:`labs.clock`.

Only ``labs/tasks.py`` and ``labs/chaos.py`` still import from here, because they
are being split in other branches at the same time; once they import from
:mod:`labs.settings` / :mod:`labs.clock`, delete this module.
"""

from __future__ import annotations

from .clock import scaled, sleep, time_scale
from .settings import REPO_ROOT, queue_name, state_dir

__all__ = ["REPO_ROOT", "queue_name", "scaled", "sleep", "state_dir", "time_scale"]
