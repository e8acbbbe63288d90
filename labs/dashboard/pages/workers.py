"""Page 4: the couriers (配送员): live workers; start one, stop one, or kill one mid-job."""

from __future__ import annotations

import time
from typing import Any

import redis
import streamlit as st

from labs import events
from labs.dashboard import charts, i18n, queries, ui
from labs.engines import get_engine
from labs.engines import names as engine_names
from labs.errors import LabError

KILLED_KEY = "killed_job"


def act(action: str) -> None:
    """Button callback: start, stop or kill (the picked) worker; keep the outcome for the page to show."""
    name = st.session_state.get("worker_pick") or ""
    try:
        conn = queries.connection()
        if action == "start":
            engine = st.session_state.get("worker_engine", "rq")
            started = queries.start_local_worker(st.session_state.get("worker_kind", "fork"), engine)
            message = ("success", ui.t("workers.started", name=started))
        elif action == "stop":
            queries.stop_worker(conn, name)
            message = ("info", ui.t("workers.stopped", name=name))
        else:
            result = queries.kill_worker(conn, name)
            pids = ", ".join(str(p) for p in result["killed"]) or "-"
            if result["job"]:
                st.session_state[KILLED_KEY] = result["job"]
                message = ("warning", ui.t("workers.killed", name=name, pids=pids, job=result["job"]))
            else:
                message = ("info", ui.t("workers.killed_idle", name=name, pids=pids))
    except (LabError, KeyError, PermissionError, ValueError, OSError, redis.exceptions.RedisError) as exc:
        message = ("error", str(exc))
    st.session_state["workers_message"] = message


def recovery(conn: redis.Redis, job_id: str, lang: str) -> None:
    """The killed worker's job, event by event: abandoned, redelivered, finished elsewhere."""
    st.markdown(f"**🩺 {ui.t('workers.recovery', id=ui.short(job_id))}**")
    st.caption(ui.t("workers.recovery_help"))
    ui.analogy("abandoned")
    history = [e for e in events.job_events(conn, job_id) if e.event != "progress"]
    origin = history[0].ts if history else 0.0
    st.dataframe(
        [
            {
                i18n.t("col.time", lang): round(e.ts - origin, 2),
                i18n.t("col.event", lang): i18n.event_label(e.event, lang),
                i18n.t("col.attempt", lang): e.attempt,
                i18n.t("col.worker", lang): e.worker,
                i18n.t("col.message", lang): e.message,
            }
            for e in history
        ],
        hide_index=True,
        width="stretch",
    )
    if st.button(ui.t("job.open_other", id=ui.short(job_id)), key="open_killed"):
        ui.open_job(job_id)


def worker_rows(workers: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    return [
        {
            i18n.t("col.name", lang): w["name"],
            i18n.t("col.engine", lang): w.get("engine", "rq"),
            i18n.t("col.queue", lang): w.get("queue", ""),
            i18n.t("col.kind", lang): w["kind"],
            i18n.t("col.state", lang): w["state"],
            i18n.t("col.current_job", lang): w["current_job"] or "—",
            i18n.t("col.successful", lang): w.get("successful", "—"),
            i18n.t("col.failed_count", lang): w.get("failed", "—"),
            i18n.t("col.pid", lang): w["pid"],
        }
        for w in workers
    ]


@st.fragment(run_every=ui.refresh_every())
@ui.guarded
def workers_panel() -> None:
    lang = ui.lang()
    conn = ui.connection()
    board = ui.board(conn)
    workers = queries.live_workers(conn)
    message = st.session_state.pop("workers_message", None)
    if message:
        getattr(st, message[0])(message[1])
    st.metric("🚚 " + ui.t("board.workers"), len(workers))
    if not workers:
        st.warning(ui.t("err.no_worker"), icon="🚚")
    else:
        st.dataframe(worker_rows(workers, lang), hide_index=True, width="stretch")
    left, middle = st.columns([1, 2])
    with left:
        engine = st.selectbox(ui.t("submit.engine"), engine_names(), key="worker_engine")
        st.selectbox(ui.t("workers.kind"), [k for k in get_engine(engine).kinds if k != "spawn"], key="worker_kind")
        st.button("➕ " + ui.t("workers.start"), key="start_worker", on_click=act, args=("start",), type="primary")
    with middle:
        if workers:
            names = [w["name"] for w in workers]
            busy = {w["name"]: w["current_job"] for w in workers}
            st.selectbox(
                ui.t("workers.pick"),
                names,
                format_func=lambda n: f"{n} · {ui.short(busy[n]) if busy.get(n) else ui.t('workers.idle')}",
                key="worker_pick",
            )
            a, b = st.columns(2)
            a.button("🛑 " + ui.t("workers.stop"), key="stop_worker", on_click=act, args=("stop",))
            b.button("💥 " + ui.t("workers.kill"), key="kill_worker", on_click=act, args=("kill",))
    killed = st.session_state.get(KILLED_KEY)
    if killed:
        recovery(conn, killed, lang)
    rows = board.gantt_rows(200)
    if rows:
        st.markdown(f"**{ui.t('workers.gantt')}**")
        ui.chart(charts.gantt(rows, lang, now=time.time()))


def bring_back(name: str) -> None:
    """Button callback: let ``labs up`` start a worker it holds back again."""
    try:
        back = queries.bring_back(queries.connection(), name)
        message = ("success", ui.t("workers.brought_back", name=name)) if back else ("info", ui.t("workers.not_held", name=name))
    except (LabError, redis.exceptions.RedisError, OSError) as exc:
        message = ("error", str(exc))
    st.session_state["workers_message"] = message


@st.fragment(run_every=ui.refresh_every())
@ui.guarded
def held_back_panel() -> None:
    """The workers stopped or killed on purpose that ``labs up`` does not restart, each with a way back."""
    held = queries.held_back(ui.connection())
    if not held:
        return
    st.markdown(f"**⏸️ {ui.t('workers.held_back')}**")
    for name, mark in sorted(held.items()):
        text, button = st.columns([3, 1], vertical_alignment="center")
        key = "workers.held_back_killed" if mark.get("action") == "killed" else "workers.held_back_stopped"
        text.markdown(ui.t(key, name=f"`{name}`"))
        button.button(ui.t("workers.bring_back"), key=f"bring_back_{name}", on_click=bring_back, args=(name,))


st.title("🚚 " + ui.t("workers.header"))
ui.analogy("worker")
ui.analogy("heartbeat")
workers_panel()
held_back_panel()
