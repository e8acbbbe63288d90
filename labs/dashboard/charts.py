"""The dashboard's pictures (altair): people would rather look than read.

- :func:`state_diagram`  the four states (快递物流状态) with one job's actual path highlighted
- :func:`gantt`          delivery attempts across workers (配送员) over time
- :func:`retry_chart`    planned backoff against the waits that really happened (快递重新投递)
- :func:`event_timeline` one job's events on a time axis
- :func:`delay_chart`    per-channel delivery delay of each event (电话 / 广播 / 轮询)

Each function takes plain rows (lists of dicts) and returns a chart, so a test
can look at the data a chart would draw without a browser.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

from ..events import EVENT_TYPES
from ..states import UNKNOWN
from . import i18n

STATE_COLORS: dict[str, str] = {
    "pending": "#f2a900",
    "running": "#1f77b4",
    "completed": "#2ca02c",
    "failed": "#d62728",
    UNKNOWN: "#8c8c8c",
}
OUTCOME_COLORS: dict[str, str] = {
    "running": "#1f77b4",
    "completed": "#2ca02c",
    "retry": "#ff9f1c",
    "timed_out": "#9467bd",
    "abandoned": "#7f4f24",
    "cancelled": "#8c8c8c",
    "failed": "#d62728",
}
IDLE = "#d9d9d9"

# --------------------------------------------------------------------------- state diagram

WIDTH, HEIGHT, RADIUS = 940, 400, 42
NODES: dict[str, tuple[float, float]] = {
    "pending": (150, 180),
    "running": (480, 180),
    "completed": (810, 70),
    "failed": (810, 300),
}
# Each edge is a polyline between the node circles, in pixels (y grows downwards).
EDGES: dict[tuple[str, str], list[tuple[float, float]]] = {
    ("pending", "running"): [(150, 165), (480, 165)],
    ("running", "pending"): [(480, 195), (150, 195)],
    ("running", "completed"): [(480, 180), (810, 70)],
    ("running", "failed"): [(480, 180), (810, 300)],
    ("pending", "failed"): [(150, 180), (50, 180), (50, 300), (810, 300)],
}
# Where each edge's label sits, relative to the middle of the edge's longest segment.
LABEL_OFFSETS: dict[tuple[str, str], tuple[float, float]] = {
    ("pending", "running"): (0, -28),
    ("running", "pending"): (0, 28),
    ("running", "completed"): (-20, -34),
    ("running", "failed"): (-20, 34),
    ("pending", "failed"): (0, 26),
}
EDGE_NAMES: dict[tuple[str, str], str] = {
    ("pending", "running"): "edge.pickup",
    ("running", "pending"): "edge.retry",
    ("running", "completed"): "edge.complete",
    ("running", "failed"): "edge.fail",
    ("pending", "failed"): "edge.cancel",
}


def _trim(points: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """Cut ``start`` pixels off the first segment and ``end`` pixels off the last (to the circles' edges)."""
    pts = list(points)
    for index, neighbour, cut in ((0, 1, start), (-1, -2, end)):
        (x, y), (nx, ny) = pts[index], pts[neighbour]
        length = math.hypot(nx - x, ny - y) or 1.0
        step = min(cut, length / 2)
        pts[index] = (x + (nx - x) * step / length, y + (ny - y) * step / length)
    return pts


def _edge_geometry(points: list[tuple[float, float]]) -> tuple[list[tuple[float, float]], float]:
    """The visible polyline (clear of both circles) and the arrowhead angle at its end."""
    visible = _trim(points, RADIUS + 2, RADIUS + 10)
    (x1, y1), (x2, y2) = visible[-2], visible[-1]
    angle = math.degrees(math.atan2(x2 - x1, -(y2 - y1)))  # 0 = pointing up, clockwise
    return visible, angle


def path_edges(transitions: list[tuple[str, str, float]]) -> dict[tuple[str, str], list[float]]:
    """Which edges a job took and when (seconds after its first event), from a replay's transitions."""
    out: dict[tuple[str, str], list[float]] = {}
    if not transitions:
        return out
    origin = transitions[0][2]
    previous = transitions[0][1]
    for _, state, ts in transitions[1:]:
        out.setdefault((previous, state), []).append(round(ts - origin, 3))
        previous = state
    return out


def state_diagram(
    transitions: list[tuple[str, str, float]],
    lang: str = i18n.DEFAULT,
    *,
    current: str | None = None,
    dead_lettered: bool = False,
) -> alt.LayerChart:
    """The four-state machine with this job's path highlighted and each transition's time."""
    taken = path_edges(transitions)
    visited = {state for _, state, _ in transitions}
    reached: dict[str, float] = {}
    if transitions:
        for _, state, ts in transitions:
            reached.setdefault(state, round(ts - transitions[0][2], 3))
    edge_rows, arrow_rows, label_rows = [], [], []
    for edge, points in EDGES.items():
        line, angle = _edge_geometry(points)
        times = taken.get(edge, [])
        name = i18n.t(EDGE_NAMES[edge], lang)
        status = "taken" if times else "idle"
        for order, (x, y) in enumerate(line):
            edge_rows.append({"edge": f"{edge[0]}->{edge[1]}", "order": order, "x": x, "y": y, "status": status})
        arrow_rows.append({"edge": f"{edge[0]}->{edge[1]}", "x": line[-1][0], "y": line[-1][1], "angle": angle, "status": status})
        when = ", ".join(f"+{t:.2f}s" for t in times[:3]) + (" …" if len(times) > 3 else "")
        (ax, ay), (bx, by) = max(zip(line, line[1:], strict=False), key=lambda seg: math.dist(*seg))
        dx, dy = LABEL_OFFSETS[edge]
        text = f"{name} ×{len(times)}\n{when}" if times else name
        label_rows.append({"x": (ax + bx) / 2 + dx, "y": (ay + by) / 2 + dy, "text": text, "status": status})
    node_rows = []
    for state, (x, y) in NODES.items():
        label = i18n.t(f"state.{state}", lang)
        when = f"+{reached[state]:.2f}s" if state in reached else ""
        node_rows.append(
            {
                "state": state,
                "x": x,
                "y": y,
                "label": label,
                "when": when,
                "fill": STATE_COLORS[state] if state in visited else IDLE,
                "current": state == current,
            }
        )
    x_scale = alt.Scale(domain=[0, WIDTH], nice=False, zero=False)
    y_scale = alt.Scale(domain=[HEIGHT, 0], nice=False, zero=False)
    x = alt.X("x:Q", scale=x_scale, axis=None)
    y = alt.Y("y:Q", scale=y_scale, axis=None)
    status_color = alt.Color("status:N", scale=alt.Scale(domain=["taken", "idle"], range=["#e4572e", "#b0b0b0"]), legend=None)
    edges = (
        alt.Chart(pd.DataFrame(edge_rows))
        .mark_line(strokeCap="round")
        .encode(
            x=x,
            y=y,
            detail="edge:N",
            order="order:Q",
            color=status_color,
            strokeWidth=alt.StrokeWidth("status:N", scale=alt.Scale(domain=["taken", "idle"], range=[6, 2]), legend=None),
            strokeDash=alt.StrokeDash("status:N", scale=alt.Scale(domain=["taken", "idle"], range=[[1, 0], [5, 4]]), legend=None),
        )
    )
    arrows = (
        alt.Chart(pd.DataFrame(arrow_rows))
        .mark_point(shape="triangle", filled=True, opacity=1)
        .encode(
            x=x,
            y=y,
            angle=alt.Angle("angle:Q", scale=None),
            color=status_color,
            size=alt.Size("status:N", scale=alt.Scale(domain=["taken", "idle"], range=[260, 110]), legend=None),
        )
    )
    labels = (
        alt.Chart(pd.DataFrame(label_rows))
        .mark_text(fontSize=14, fontWeight="bold", lineHeight=17, lineBreak="\n")
        .encode(x=x, y=y, text="text:N", color=status_color)
    )
    nodes_df = pd.DataFrame(node_rows)
    rings = (
        alt.Chart(nodes_df[nodes_df["current"]])
        .mark_circle(size=(2 * RADIUS + 16) ** 2, opacity=0.25)
        .encode(x=x, y=y, color=alt.Color("fill:N", scale=None))
    )
    circles = (
        alt.Chart(nodes_df)
        .mark_circle(size=(2 * RADIUS) ** 2, opacity=1, stroke="white", strokeWidth=2)
        .encode(
            x=x,
            y=y,
            color=alt.Color("fill:N", scale=None),
            tooltip=[alt.Tooltip("state:N"), alt.Tooltip("label:N"), alt.Tooltip("when:N")],
        )
    )
    names = alt.Chart(nodes_df).mark_text(fontSize=15, fontWeight="bold", color="white").encode(x=x, y=y, text="state:N")
    captions = alt.Chart(nodes_df).mark_text(fontSize=14, dy=RADIUS + 15, color="#333333").encode(x=x, y=y, text="label:N")
    times = alt.Chart(nodes_df).mark_text(fontSize=13, dy=-(RADIUS + 12), color="#555555").encode(x=x, y=y, text="when:N")
    layers: list[alt.Chart] = [edges, arrows, labels, rings, circles, names, captions, times]
    if dead_lettered:
        fx, fy = NODES["failed"]
        note = pd.DataFrame([{"x": fx, "y": fy + RADIUS + 38, "text": "📮 → " + i18n.t("col.dead_lettered", lang)}])
        layers.append(alt.Chart(note).mark_text(fontSize=14, fontWeight="bold", color="#d62728").encode(x=x, y=y, text="text:N"))
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT).configure_view(stroke=None)


# --------------------------------------------------------------------------- Gantt of attempts


def gantt(rows: list[dict[str, Any]], lang: str = i18n.DEFAULT, *, now: float) -> alt.Chart:
    """Attempt bars per worker; x is seconds relative to ``now`` (0 = now)."""
    data = pd.DataFrame(
        [
            {
                **row,
                "t0": round(row["start"] - now, 3),
                "t1": round(max(row["end"], row["start"] + 0.02) - now, 3),
                "outcome_label": i18n.t(f"outcome.{row['outcome']}", lang),
                "short": row["job_id"][:8],
            }
            for row in rows
        ],
        columns=["job_id", "task", "attempt", "worker", "t0", "t1", "outcome", "outcome_label", "short"],
    )
    domain = list(OUTCOME_COLORS)
    return (
        alt.Chart(data)
        .mark_bar(cornerRadius=2)
        .encode(
            x=alt.X("t0:Q", title=i18n.t("chart.seconds_ago", lang)),
            x2="t1:Q",
            y=alt.Y("worker:N", title=i18n.t("chart.worker", lang), sort="ascending"),
            color=alt.Color(
                "outcome:N",
                scale=alt.Scale(domain=domain, range=[OUTCOME_COLORS[d] for d in domain]),
                legend=alt.Legend(
                    title=i18n.t("chart.outcome", lang),
                    orient="bottom",
                    labelExpr=_label_expr({d: i18n.t(f"outcome.{d}", lang) for d in domain}),
                ),
            ),
            tooltip=["short:N", "task:N", "attempt:Q", "worker:N", "outcome_label:N"],
        )
        .properties(height=max(120, 46 * max(1, data["worker"].nunique())))
    )


def outer_height(chart: alt.TopLevelMixin, extra: int = 110) -> int:
    """The height to give ``st.altair_chart`` for a chart with a fixed plot height (axes and legend need room)."""
    height = getattr(chart, "height", None)
    return int(height) + extra if isinstance(height, int | float) else 300


def _label_expr(labels: dict[str, str]) -> str:
    """A Vega expression that shows translated legend labels for fixed values."""
    expr = "datum.label"
    for value, text in labels.items():
        safe = text.replace("'", "\\'")
        expr = f"datum.label === '{value}' ? '{safe}' : ({expr})"
    return expr


# --------------------------------------------------------------------------- retries


def retry_chart(rows: list[dict[str, Any]], lang: str = i18n.DEFAULT) -> alt.Chart:
    """Grouped bars: the planned wait before each retry against the wait that really happened."""
    data = pd.DataFrame(
        [{**row, "kind_label": i18n.t(f"retry.{row['kind']}", lang)} for row in rows],
        columns=["retry", "kind", "seconds", "kind_label"],
    )
    kinds = ["planned", "actual"]
    color = alt.Color(
        "kind:N",
        scale=alt.Scale(domain=kinds, range=["#9ecae1", "#e4572e"]),
        legend=alt.Legend(title=None, orient="top", labelExpr=_label_expr({k: i18n.t(f"retry.{k}", lang) for k in kinds})),
    )
    base = alt.Chart(data).encode(
        x=alt.X("retry:O", title=i18n.t("chart.retry_n", lang), axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("kind:N", sort=kinds),
        y=alt.Y("seconds:Q", title=i18n.t("chart.wait_s", lang)),
        color=color,
        tooltip=["retry:O", "kind_label:N", alt.Tooltip("seconds:Q", format=".2f")],
    )
    bars = base.mark_bar()
    text = base.mark_text(dy=-8, fontSize=13).encode(text=alt.Text("seconds:Q", format=".2f"), color=alt.value("#333333"))
    return (bars + text).properties(height=260)


# --------------------------------------------------------------------------- one job's events


def event_timeline(events: list[dict[str, Any]], lang: str = i18n.DEFAULT) -> alt.Chart:
    """Every event of one job on a time axis (seconds after it was handed in), one row per event type."""
    origin = events[0]["ts"] if events else 0.0
    order = [i18n.event_label(e, lang) for e in EVENT_TYPES if any(ev["event"] == e for ev in events)]
    data = pd.DataFrame(
        [
            {
                "t": round(e["ts"] - origin, 3),
                "event": e["event"],
                "event_label": i18n.event_label(e["event"], lang),
                "state": e["state"] if e["state"] in STATE_COLORS else UNKNOWN,
                "attempt": e.get("attempt", 0),
                "message": e.get("message", ""),
            }
            for e in events
        ],
        columns=["t", "event", "event_label", "state", "attempt", "message"],
    )
    states = list(STATE_COLORS)
    return (
        alt.Chart(data)
        .mark_point(filled=True, size=160)
        .encode(
            x=alt.X("t:Q", title=i18n.t("chart.seconds_since", lang)),
            y=alt.Y("event_label:N", sort=order, title=None),
            color=alt.Color("state:N", scale=alt.Scale(domain=states, range=[STATE_COLORS[s] for s in states]), legend=None),
            shape=alt.Shape("state:N", legend=None),
            tooltip=["event_label:N", "attempt:Q", alt.Tooltip("t:Q", format=".3f"), "message:N"],
        )
        .properties(height=max(120, 32 * max(1, len(order))))
    )


# --------------------------------------------------------------------------- channels


def delay_chart(rows: list[dict[str, Any]], lang: str = i18n.DEFAULT) -> alt.Chart:
    """Delay (ms) between an event being recorded and each channel receiving it."""
    data = pd.DataFrame(rows, columns=["channel", "seq", "event", "delay_ms"])
    channels = ["websocket", "sse", "polling"]
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("seq:Q", title=i18n.t("chart.event_seq", lang)),
            y=alt.Y("delay_ms:Q", title=i18n.t("chart.delay_ms", lang)),
            color=alt.Color(
                "channel:N",
                scale=alt.Scale(domain=channels, range=["#1f77b4", "#ff7f0e", "#7f7f7f"]),
                legend=alt.Legend(
                    title=None, orient="top", labelExpr=_label_expr({c: i18n.t(f"ch.{c}", lang) for c in channels})
                ),
            ),
            tooltip=["channel:N", "seq:Q", "event:N", alt.Tooltip("delay_ms:Q", format=".1f")],
        )
        .properties(height=240)
    )
