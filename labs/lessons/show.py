"""Display helpers for the lessons (课程展示用): progress bars, event tables, a state picture, charts.

Only the notebooks use this module; the lab itself lives in ``labs/``. Every
helper draws something the lab *produced* (events from the log, states from
``labs.states``); none of them invents a value.

    from labs.lessons.show import follow, events_frame, progress_html, state_machine_html, timeline
"""

from __future__ import annotations

import contextlib
import html
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from labs import events, jobs
from labs.events import Event
from labs.states import LABELS, TERMINAL, UNKNOWN

COLOURS = {"pending": "#8da0cb", "running": "#f0a202", "completed": "#2ca02c", "failed": "#d62728", UNKNOWN: "#999999"}


def _as_dicts(history: Iterable[Event | dict[str, Any]]) -> list[dict[str, Any]]:
    return [e.to_dict() if isinstance(e, Event) else dict(e) for e in history]


# --------------------------------------------------------------------------- progress bars


def progress_html(percent: float, message: str = "", label: str = "", state: str = "running") -> str:
    """One progress bar as HTML (no widgets needed): 进度条 / a progress bar."""
    percent = max(0.0, min(100.0, float(percent or 0)))
    colour = COLOURS.get(state, COLOURS[UNKNOWN])
    name = f"<b>{html.escape(label)}</b> " if label else ""
    return (
        '<div style="font-family:monospace;margin:2px 0">'
        f'{name}<span style="display:inline-block;width:320px;height:14px;border:1px solid #888;'
        f'vertical-align:middle;background:#eee"><span style="display:block;height:100%;width:{percent:.1f}%;'
        f'background:{colour}"></span></span> {percent:5.1f}% '
        f'<span style="color:#555">{html.escape(state)} · {html.escape(str(message))}</span></div>'
    )


def bars_html(rows: Iterable[dict[str, Any]]) -> str:
    """Several bars at once; each row has ``label``, ``percent``, ``message``, ``state``."""
    return "".join(progress_html(r.get("percent", 0), r.get("message", ""), r.get("label", ""), r.get("state", "")) for r in rows)


# --------------------------------------------------------------------------- following a job


def follow(
    conn: Any,
    job_id: str,
    on_event: Callable[[Event], None] | None = None,
    timeout: float = 120.0,
    block_ms: int = 250,
) -> events.Replay:
    """Read a job's events as they are written (XREAD BLOCK) until its final state; return the replay.

    ``on_event`` is called for every event (for example to update a progress bar). After a
    ``failed`` event the worker appends ``dead_lettered`` a moment later: wait up to a second for it.
    """
    after, seen = "0-0", []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in events.wait_job_events(conn, job_id, after=after, block_ms=block_ms):
            after = event.id
            seen.append(event)
            if on_event:
                on_event(event)
        if seen and seen[-1].state in TERMINAL:
            if seen[-1].event == "failed":
                for event in events.wait_job_events(conn, job_id, after=after, block_ms=1000):
                    seen.append(event)
                    if on_event:
                        on_event(event)
            return events.replay(seen)
    raise jobs.not_done(conn, job_id, seen[-1].state if seen else "unknown", timeout)


# --------------------------------------------------------------------------- tables


def events_frame(history: Iterable[Event | dict[str, Any]], progress: bool = True) -> pd.DataFrame:
    """A job's events as a table: seconds since the first one, event, state, attempt, worker, message."""
    rows = _as_dicts(history)
    if not progress:
        rows = [r for r in rows if r["event"] != "progress"]
    if not rows:
        return pd.DataFrame(columns=["t", "event", "state", "attempt", "worker", "message"])
    t0 = min(r["ts"] for r in rows)
    return pd.DataFrame(
        {
            "t": [round(r["ts"] - t0, 3) for r in rows],
            "event": [r["event"] for r in rows],
            "state": [r["state"] for r in rows],
            "attempt": [r["attempt"] for r in rows],
            "worker": [r["worker"] for r in rows],
            "message": [r["message"] or r.get("error", "") for r in rows],
        }
    )


# --------------------------------------------------------------------------- the state machine


_BOXES = {"pending": (10, 45), "running": (190, 45), "completed": (370, 5), "failed": (370, 85)}
_ARROWS = [
    ("M 150 62 L 188 62", ""),
    ("M 330 55 L 368 28", ""),
    ("M 330 70 L 368 100", ""),
    ("M 230 43 C 200 5, 110 5, 80 43", "retry"),
    ("M 80 83 C 110 130, 300 150, 368 110", "cancel"),
]


def state_machine_html(path: Iterable[str] = (), current: str | None = None) -> str:
    """The four states as boxes (labels from ``labs.states.LABELS``); states on ``path`` are filled."""
    visited = set(path)
    parts = [
        '<div><svg width="540" height="150" font-family="sans-serif" font-size="12" style="display:block">',
        '<defs><marker id="arr" markerWidth="8" markerHeight="8" refX="7" refY="3" orient="auto">'
        '<path d="M0,0 L7,3 L0,6 z" fill="#555"/></marker></defs>',
    ]
    for d, label in _ARROWS:
        parts.append(f'<path d="{d}" stroke="#555" fill="none" marker-end="url(#arr)"/>')
        if label == "retry":
            parts.append('<text x="128" y="16" fill="#555">retry 重试</text>')
        elif label == "cancel":
            parts.append('<text x="150" y="146" fill="#555">cancelled before it started 取消</text>')
    for state, (x, y) in _BOXES.items():
        fill = COLOURS[state] if state in visited else "#ffffff"
        width = 4 if state == current else 1.5
        parts.append(f'<rect x="{x}" y="{y}" width="140" height="36" rx="6" fill="{fill}" fill-opacity="0.55" '
                     f'stroke="{COLOURS[state]}" stroke-width="{width}"/>')  # fmt: skip
        parts.append(f'<text x="{x + 70}" y="{y + 15}" text-anchor="middle"><tspan font-weight="bold">{state}</tspan></text>')
        parts.append(f'<text x="{x + 70}" y="{y + 30}" text-anchor="middle">{html.escape(LABELS[state]["zh"])}</text>')
    parts.append("</svg></div>")
    return "".join(parts)


# --------------------------------------------------------------------------- charts


def attempt_segments(history: Iterable[Event | dict[str, Any]], label: str = "", t0: float | None = None) -> list[dict[str, Any]]:
    """A job's life as segments: each delivery attempt (start to its outcome) and each wait in between.

    Times are seconds since ``t0`` (default: the job's first event).
    """
    rows, segments = _as_dicts(history), []
    if not rows:
        return segments
    open_seg = None
    t0 = rows[0]["ts"] if t0 is None else t0
    wait_from = rows[0]["ts"]
    for r in rows:
        if r["event"] == "started":
            segments.append({"job": label, "what": "waiting 等待", "start": wait_from - t0, "end": r["ts"] - t0,
                             "attempt": r["attempt"], "worker": "", "outcome": "waiting"})  # fmt: skip
            open_seg = {"job": label, "what": f"attempt {r['attempt']}", "start": r["ts"] - t0, "attempt": r["attempt"],
                        "worker": r["worker"], "outcome": "running"}  # fmt: skip
        elif open_seg and r["event"] in {"retry_scheduled", "completed", "failed", "cancelled", "timed_out", "abandoned"}:
            open_seg["end"] = r["ts"] - t0
            open_seg["outcome"] = r["event"] if r["event"] != "retry_scheduled" else r.get("reason", "error")
            segments.append(open_seg)
            open_seg = None
            wait_from = r["ts"]
        elif r["event"] == "retry_scheduled":
            wait_from = r["ts"]
    return segments


OUTCOME_COLOURS = {"waiting": "#cccccc", "completed": "#2ca02c", "failed": "#d62728", "cancelled": "#9467bd",
                   "timed_out": "#8c564b", "abandoned": "#7f7f7f", "error": "#ff7f0e", "running": "#f0a202"}  # fmt: skip


CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC")
"""Fonts with Chinese glyphs, in the order tried (Debian's fonts-noto-cjk, then common desktop ones)."""


def bilingual_charts() -> str:
    """Let matplotlib draw 中文 labels: put the first installed CJK font before its default; return its name ('' if none).

    matplotlib's default font (DejaVu Sans) has no Chinese glyphs: a label
    like "队列深度 / queue depth" would show boxes. Without any CJK font the
    English half still reads.
    """
    import matplotlib
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), "")
    if found:
        rest = [name for name in matplotlib.rcParams["font.sans-serif"] if name != found]  # once, however often called
        matplotlib.rcParams["font.sans-serif"] = [found, *rest]
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
    return found


def timeline(
    histories: dict[str, Iterable[Event | dict[str, Any]]], title: str = "", colour_by: str = "outcome", ax: Any = None
) -> Any:
    """A Gantt chart (matplotlib) of jobs' attempts and the waits between them, one row per job.

    All rows share one clock (seconds since the first event of any job). ``colour_by`` is
    ``"outcome"`` (how each attempt ended) or ``"worker"`` (who ran it).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    bilingual_charts()
    histories = {label: _as_dicts(h) for label, h in histories.items()}
    t0 = min((h[0]["ts"] for h in histories.values() if h), default=0.0)
    labels = list(histories)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.3))
    palette = dict(OUTCOME_COLOURS)
    others = iter(plt.get_cmap("tab10").colors)
    used: dict[str, str] = {}
    for row, label in enumerate(labels):
        for seg in attempt_segments(histories[label], label, t0):
            key = seg["outcome"] if colour_by == "outcome" or seg["outcome"] == "waiting" else seg["worker"]
            if key not in palette:
                palette[key] = next(others)
            used[key] = palette[key]
            width = max(seg["end"] - seg["start"], 0.002)
            ax.broken_barh([(seg["start"], width)], (row - 0.35, 0.7), color=palette[key])
            if seg["outcome"] != "waiting":
                ax.text(seg["start"], row, f" {seg['attempt']}", va="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("距第一个任务入队的秒数（数字：第几次投递）/ seconds since the first job was enqueued (numbers: attempt)")
    ax.set_title(title)
    ax.legend(handles=[Patch(color=c, label=k) for k, c in used.items()], loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return ax


# --------------------------------------------------------------------------- the API


def api_paths(app: Any) -> list[str]:
    """Every endpoint of the lab's app as ``"METHOD /path"`` (``"WS /path"`` for a WebSocket).

    HTTP routes come from the app's OpenAPI schema; WebSocket routes (which OpenAPI
    does not describe) from the routers of the ``labs.api`` modules.
    """
    import importlib
    import pkgutil

    from fastapi.routing import APIWebSocketRoute

    import labs.api

    out = {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}
    for info in pkgutil.iter_modules(labs.api.__path__):
        router = getattr(importlib.import_module(f"labs.api.{info.name}"), "router", None)
        out |= {f"WS {r.path}" for r in getattr(router, "routes", []) if isinstance(r, APIWebSocketRoute)}
    return sorted(out)


# --------------------------------------------------------------------------- a server in a thread


def ApiServer(host: str = "127.0.0.1", port: int = 0) -> Any:  # noqa: N802 - reads like the class it returns
    """The lab's FastAPI app served by uvicorn in a background thread of this kernel.

    ``ApiServer().start()`` -> ``.url``; ``.stop()`` sets ``should_exit`` and joins the thread
    (:class:`labs.api.BackgroundServer`, imported here only when a lesson needs the API).
    """
    from labs.api import BackgroundServer

    return BackgroundServer(host, port)


class Relay:
    """A TCP relay between a client and a server whose line can be cut or frozen, like a radio signal that drops.

    Clients connect to ``relay.port``; ``cut()`` closes every connection through it at once
    (both sides see the line go dead) while the relay keeps accepting new ones. ``freeze()``
    makes the line half-open: every connection stays up, but no byte passes either way, nor
    a close (they wait in the relay, as TCP would retransmit them), so neither side sees a
    close, only silence; ``thaw()`` lets the held bytes through, in order.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server((target_host, 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://{target_host}:{self.port}"
        self.ws_url = f"ws://{target_host}:{self.port}"
        self.cuts = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()

    def start(self) -> Relay:
        threading.Thread(target=self._accept, name="relay", daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                while not self._flowing.wait(0.05):  # frozen: hold the bytes, or the close (b""), and stop reading
                    if dst.fileno() < 0:
                        return  # cut while frozen
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> int:
        """Close every open connection through the relay; return how many were cut."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self.cuts += 1
        return len(pairs)

    def freeze(self) -> None:
        """Half-open every line: connections stay open, nothing passes until :meth:`thaw`."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Let bytes pass again (those held while frozen first)."""
        self._flowing.set()

    @property
    def frozen(self) -> bool:
        return not self._flowing.is_set()

    def stop(self) -> None:
        self.listener.close()
        self.cut()
        self.thaw()
