"""The embedded broker's history across restarts: a snapshot of its data in the state folder.

Redis keeps its data in an RDB file; fakeredis keeps it only in memory, so
``make run`` again used to start from nothing (an instructor's prepared demo
included). The broker that serves a state folder writes
``<state dir>/broker.snapshot`` when it stops and every
``LAB_BROKER_SNAPSHOT_SECONDS``, and loads it when it starts;
``python -m labs broker --fresh`` starts empty (the old snapshot is kept as
``broker.snapshot.before-fresh``).

What a snapshot cannot hold is a job that was running: its worker is gone
after a restart, so it is found the usual way (its heartbeat stops, the
worker's registry clean-up records it *abandoned* and retries it).

The format is pickle, which is what fakeredis's own DUMP uses for the same
values: only the broker writes it, into the lab's own state folder. A file it
cannot read (another fakeredis, a truncated write) is moved aside, never
deleted, and the broker starts empty, saying so in one line.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

from ..settings import state_dir
from .fakeredis_fixes import installed_version

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "broker.snapshot"
FORMAT = 1
"""Bumped when the layout of the pickled mapping changes."""


def snapshot_file() -> Path:
    """Where the broker that serves this state folder keeps its snapshot."""
    return state_dir() / SNAPSHOT_FILE


def capture(fake_server: Any) -> tuple[bytes, int]:
    """The snapshot of ``fake_server`` as bytes, and its number of keys; the caller holds the server's lock."""
    now = time.time()
    dbs = {
        number: {key: (item.value, item.expireat) for key, item in db._dict.items() if not item.expireat or item.expireat > now}
        for number, db in list(fake_server.dbs.items())
    }
    blob = pickle.dumps(
        {"format": FORMAT, "fakeredis": installed_version(), "saved": now, "dbs": dbs, "scripts": dict(fake_server.script_cache)},
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    fake_server.lastsave = int(now)
    return blob, sum(len(keys) for keys in dbs.values())


def write(blob: bytes, path: Path) -> None:
    """Replace the snapshot at ``path`` with ``blob`` atomically (a crash mid-write leaves the old one)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")  # SAVE and the timer may overlap
    with open(tmp, "wb") as out:
        out.write(blob)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def save(fake_server: Any, path: Path) -> int:
    """Write every live key of ``fake_server`` (with its expiry) to ``path``; the number of keys."""
    with fake_server.lock:  # no command runs while the copy is taken: a consistent snapshot
        blob, count = capture(fake_server)
    write(blob, path)
    return count


def fork_writer(fake_server: Any, path: Path) -> int:
    """Fork a child that writes the snapshot and exits; its pid. The caller holds the server's lock.

    Copy-on-write gives the child the data as it is at the fork, so the broker
    stops only for the fork, as Redis's BGSAVE does: pickling 100,000 jobs takes
    many seconds, which would otherwise hold every client up.
    """
    pid = os.fork()
    if pid == 0:  # the child: only this thread exists; write and leave without running any cleanup
        status = 1
        try:
            blob, _ = capture(fake_server)
            write(blob, path)
            status = 0
        finally:
            os._exit(status)
    return pid


def save_in_child(fake_server: Any, path: Path) -> int:
    """Write the snapshot from a forked child (:func:`fork_writer`) and wait for it; its exit code (0: written)."""
    if not hasattr(os, "fork"):
        save(fake_server, path)
        return 0
    with fake_server.lock:  # no command half-done in the copy
        pid = fork_writer(fake_server, path)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        fake_server.lastsave = int(time.time())
    return code


def load(fake_server: Any, path: Path) -> int:
    """Load the snapshot at ``path`` into an empty ``fake_server``; the number of keys (0 if there is none).

    Keys that expired while the broker was stopped are left out.
    """
    from fakeredis._core._database import Item

    if not path.exists():
        return 0
    try:
        data = pickle.loads(path.read_bytes())  # noqa: S301 - written by the broker itself, in the lab's own folder
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} snapshot")
        now = time.time()
        restored = 0
        with fake_server.lock:
            for number, keys in data["dbs"].items():
                db = fake_server.dbs[number]
                for key, (value, expireat) in keys.items():
                    if expireat and expireat <= now:
                        continue
                    item = Item(value)
                    item.expireat = expireat
                    db[key] = item
                    restored += 1
            fake_server.script_cache.update(data.get("scripts", {}))
    except Exception as exc:
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        path.replace(aside)
        log.warning(
            "the broker snapshot %s could not be read (%s: %s); moved to %s, starting empty", path, type(exc).__name__, exc, aside
        )
        return 0
    return restored


def set_aside(path: Path) -> Path | None:
    """For ``--fresh``: keep the current snapshot as ``<name>.before-fresh`` (replacing an older one); where it went."""
    if not path.exists():
        return None
    aside = path.with_name(path.name + ".before-fresh")
    path.replace(aside)
    return aside
