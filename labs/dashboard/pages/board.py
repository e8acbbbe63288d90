"""Page 1: submit jobs (寄快递) and watch the live board (每个快递在哪一步)."""

from __future__ import annotations

import json
import time
from typing import Any

import streamlit as st

from labs import admission
from labs.catalogue import CATALOGUE, get_spec
from labs.dashboard import charts, i18n, queries, ui
from labs.dashboard import submit as sub
from labs.dashboard.board import Board
from labs.engines import names as engine_names
from labs.errors import InvalidParams
from labs.retry import RetryPolicy

COLUMN_CONCEPT = {
    "pending": "states",
    "running": "progress",
    "retrying": "retry",
    "completed": "states",
    "failed": "states",
    "dead_lettered": "dlq",
}
COLUMN_ICON = {"pending": "🟡", "running": "🔵", "retrying": "🟠", "completed": "🟢", "failed": "🔴", "dead_lettered": "📮"}


def param_widget(task: str, field: sub.FieldSpec) -> Any:
    """One widget for one task parameter, keyed per task so each task keeps its own values."""
    key = f"p_{task}_{field.name}"
    label = i18n.param_label(field.name, ui.lang())
    if field.kind == "bool":
        return st.checkbox(label, value=bool(field.default), key=key)
    if field.kind == "int":
        return st.number_input(
            label,
            min_value=int(field.minimum) if field.minimum is not None else None,
            max_value=int(field.maximum) if field.maximum is not None else None,
            value=int(field.default or 0),
            step=1,
            key=key,
        )
    if field.kind == "float":
        if field.minimum == 0 and field.maximum == 1:
            return st.slider(label, 0.0, 1.0, float(field.default or 0), 0.05, key=key)
        return st.number_input(
            label,
            min_value=field.minimum,
            max_value=field.maximum,
            value=float(field.default or 0),
            step=0.1,
            format="%.2f",
            key=key,
        )
    if field.kind == "str":
        return st.text_input(label, value=str(field.default or ""), key=key)
    if field.kind in {"document", "documents"}:
        names = sub.available_documents()
        if not names:
            st.info(i18n.t("submit.no_documents", ui.lang(), path=sub.documents_dir()))
            if st.button(ui.t("submit.samples"), key=f"samples_{task}"):
                from labs.samples import make_sample_pdfs

                make_sample_pdfs(sub.documents_dir(), n=4, broken=1)
                st.rerun()
            return None if field.kind == "document" else []
        if field.kind == "document":
            return st.selectbox(label, names, key=key)
        return st.multiselect(label, names, default=names[: min(3, len(names))], key=key)
    default = field.default if field.default is not None else ""
    text = st.text_area(label, value=json.dumps(default, ensure_ascii=False) if default != "" else "", height=68, key=key)
    return sub.JsonText(text)


def submit_panel() -> None:
    """One row to send a batch; the task's parameters, retry policy and timeout fold away below it."""
    lang = ui.lang()
    with st.container(border=True):
        st.markdown(f"**📮 {ui.t('submit.header')}**")
        row = st.columns([2.2, 1, 1.6, 1.2], vertical_alignment="bottom")
        task = row[0].selectbox(
            ui.t("submit.task"),
            list(CATALOGUE),
            index=list(CATALOGUE).index("risky_task"),
            format_func=lambda name: f"{name} · {i18n.task_title(name, lang)}",
            key="submit_task",
        )
        spec = get_spec(task)
        engine = row[0].radio(ui.t("submit.engine"), engine_names(), horizontal=True, key="submit_engine")
        batch = int(row[1].number_input(ui.t("submit.batch"), 1, 500, 5, key="batch"))
        poison = 0.0
        if task in sub.POISONABLE:
            poison = row[2].slider(
                ui.t("submit.poison_share"), 0, 100, 20, 10, key="poison_share", help=ui.t("submit.poison_help")
            )
            poison /= 100
        clicked = row[3].button(ui.t("submit.button", n=batch), type="primary", key="submit_btn", width="stretch")
        if sub.takes_documents(task):  # what the PDFs' chunks will be embedded with, and why a fallback
            level, line = sub.embedder_notice(lang)
            {"caption": st.caption, "warning": st.warning, "error": st.error}[level](line)
        with st.expander(ui.t("submit.more"), expanded=False):
            left, middle = st.columns([1.3, 1.2])
            with left:
                st.markdown(f"**{ui.t('submit.params')}**")
                values = {field.name: param_widget(task, field) for field in sub.fields(task)}
            with middle:
                st.markdown(f"**{ui.t('submit.retry')}**")
                default = spec.retry
                a, b = st.columns(2)
                max_retries = a.number_input(ui.t("submit.max_retries"), 0, 20, default.max_retries, key=f"r_{task}_max_retries")
                base = b.number_input(ui.t("submit.base"), 0.0, 3600.0, float(default.base), 0.5, key=f"r_{task}_base")
                factor = a.number_input(ui.t("submit.factor"), 1.0, 10.0, float(default.factor), 0.5, key=f"r_{task}_factor")
                cap = b.number_input(ui.t("submit.cap"), 0.0, 86400.0, float(default.cap), 1.0, key=f"r_{task}_cap")
                jitter = st.checkbox(ui.t("submit.jitter"), value=default.jitter, key=f"r_{task}_jitter")
                timeout = st.number_input(ui.t("submit.timeout"), 1.0, 86400.0, float(spec.timeout), 1.0, key=f"timeout_{task}")
        try:
            policy = sub.retry_policy(task, max_retries=int(max_retries), base=base, factor=factor, cap=cap, jitter=jitter)
        except InvalidParams as exc:
            st.error(str(exc))
            return
        plan = ", ".join(f"{d:g}s" for d in policy.delays()) or "—"
        st.caption(
            ui.t("submit.plan", plan=plan)
            + "  ·  💡 "
            + i18n.analogy("submit", lang)
            + "  ·  "
            + i18n.concept_title("retry", lang)
        )
        if clicked:
            do_submit(task, values, policy, float(timeout), batch, poison, engine)
        last = st.session_state.get("last_batch")
        if last:
            ids = ", ".join(ui.short(i) for i in last[:12]) + (" …" if len(last) > 12 else "")
            st.success(ui.t("submit.done", n=len(last), ids=ids))


@ui.guarded
def do_submit(
    task: str, values: dict[str, Any], policy: RetryPolicy, timeout: float, batch: int, poison: float, engine: str = "rq"
) -> None:
    """Send the batch (寄出); a bad parameter or a dead broker shows one line instead of a traceback."""
    st.session_state["last_batch"] = None
    conn = ui.connection()
    params_list = sub.batch_params(task, sub.collect_params(values), batch, poison)
    st.session_state["last_batch"] = sub.submit_batch(conn, task, params_list, retry=policy, timeout=timeout, engine=engine)


def column_cards(board: Board, column: str, lang: str) -> None:
    rows = board.column_jobs(column, 6)
    if not rows:
        st.caption(ui.t("board.empty_col"))
    now = time.time()
    for row in rows:
        name = f"`{ui.short(row.id)}` {row.task}"
        if column == "running":
            st.progress(min(1.0, row.percent / 100), text=f"{name} · {row.percent:.0f}% · #{row.attempt}")
        elif column == "retrying":
            wait = max(0.0, row.retry_at - now)
            st.markdown(f"{name} · #{row.attempt} · {ui.t('board.next_try', s=wait)}")
        elif column in {"failed", "dead_lettered"}:
            st.markdown(f"{name} · {row.reason or row.last_event}")
        else:
            st.markdown(name)
    more = board.counts.get(column, 0) - len(rows)
    if more > 0:
        st.caption(ui.t("board.more", n=more))


def table(board: Board, lang: str) -> None:
    latest = list(board.latest(200))
    classroom = any(row.student for row in latest)  # a class: show whose parcel each one is
    rows = [
        {
            i18n.t("col.id", lang): row.id,
            **({i18n.t("col.student", lang): row.student} if classroom else {}),
            i18n.t("col.task", lang): row.task,
            i18n.t("col.engine", lang): row.engine,
            i18n.t("col.column", lang): f"{COLUMN_ICON.get(row.column, '⚪')} {i18n.short_label(row.column, lang)}",
            i18n.t("col.attempt", lang): row.attempt,
            i18n.t("col.worker", lang): row.worker,
            i18n.t("col.progress", lang): row.percent,
            i18n.t("col.message", lang): row.message[:120],
        }
        for row in latest
    ]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height=300,
        column_config={
            i18n.t("col.progress", lang): st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f%%"),
        },
    )


@st.fragment(run_every=ui.refresh_every())
@ui.guarded
def live_board() -> None:
    started = time.perf_counter()
    lang = ui.lang()
    conn = ui.connection()
    board = ui.board(conn)
    workers = queries.live_workers(conn)
    if not workers:
        warn, button = st.columns([4, 1])
        warn.warning(ui.t("err.no_worker"), icon="🚚")
        if button.button(ui.t("btn.start_worker_now"), key="board_start_worker"):
            queries.start_local_worker()
    for engine in queries.engines_without_workers(conn):
        st.warning(ui.t("err.no_engine_worker", engine=engine), icon="🚚")
    if board.behind:
        st.info(ui.t("board.behind", read=board.events_read, total=board.stream_length(conn)), icon="⏳")
    top = st.columns(4)
    top[0].metric("📦 " + ui.t("board.total"), board.total)
    top[1].metric("⚡ " + ui.t("board.throughput", window=f"{board.window:g}"), f"{board.throughput():.1f}")
    top[2].metric("🚚 " + ui.t("board.workers"), len(workers))
    top[3].caption("💡 " + i18n.analogy("throughput", lang))
    counts = board.column_counts()
    if not board.total:
        st.info(ui.t("board.no_jobs"))
    else:
        cards = st.columns(len(counts), border=True)
        for slot, (column, count) in zip(cards, counts.items(), strict=True):
            with slot:
                st.metric(f"{COLUMN_ICON.get(column, '⚪')} {i18n.short_label(column, lang)}", count)
                st.caption(i18n.concept_title(COLUMN_CONCEPT.get(column, "states"), lang))
                column_cards(board, column, lang)
        by_state = " · ".join(f"{i18n.short_label(state, lang)} {n}" for state, n in board.state_counts().items())
        st.caption(ui.t("board.by_state", counts=by_state))
        left, right = st.columns([3, 2])
        with left:
            st.markdown(f"**{ui.t('board.table')}**")
            st.caption("💡 " + i18n.analogy("job_id", lang))
            table(board, lang)
        with right:
            st.markdown(f"**{ui.t('board.feed')}**")
            for event in list(board.recent)[-10:][::-1]:
                st.markdown(
                    f"`{ui.short(event['job_id'])}` {i18n.event_label(event['event'], lang)}"
                    + (f" · #{event['attempt']}" if event["attempt"] else "")
                    + (f" · {event['worker']}" if event["worker"] else "")
                )
            ids = [row.id for row in board.latest(50)]
            pick = st.selectbox(ui.t("board.open"), ids, format_func=ui.short, key="board_pick")
            if st.button(ui.t("board.open_btn"), key="board_open") and pick:
                ui.open_job(pick)
        gantt_rows = board.gantt_rows(200)
        if gantt_rows:
            st.markdown(f"**{ui.t('board.gantt')}**")
            st.caption("💡 " + i18n.analogy("worker", lang))
            ui.chart(charts.gantt(gantt_rows, lang, now=time.time()))
    elapsed = (time.perf_counter() - started) * 1000
    st.session_state["tick_ms"] = elapsed
    st.caption(ui.t("board.tick", ms=elapsed, read=board.events_read, last=board.last_id))


LIMIT_LABELS = {"rate": "admission.rate", "active": "admission.active", "depth": "admission.depth"}


@ui.guarded
def admission_panel() -> None:
    """Each admission limit as it applies now, and who hits which (the API's 429s, counted in Redis)."""
    lang = ui.lang()
    view = admission.overview(ui.connection())
    with st.expander("🚦 " + ui.t("admission.header")):
        st.caption(ui.t("admission.help", mode=view["mode"]))
        rows = []
        for limit in view["limits"]:
            value = (
                ui.t("admission.rate_value", n=limit["value"], period=f"{limit['period']:g}")
                if limit["limit"] == "rate"
                else ui.t("admission.jobs", n=limit["value"])
            )
            rows.append(
                {
                    i18n.t("col.limit", lang): ui.t(LIMIT_LABELS[limit["limit"]]),
                    i18n.t("col.value", lang): value,
                    i18n.t("col.checked", lang): ui.t("admission.on") if limit["on"] else ui.t("admission.off"),
                }
            )
        st.dataframe(rows, hide_index=True, width="stretch")
        st.markdown(f"**{ui.t('admission.who_hits')}**")
        if not view["refusals"]:
            st.caption(ui.t("admission.none"))
            return
        st.dataframe(
            [
                {
                    i18n.t("col.who", lang): row["who"].partition(":")[2] or ui.t("admission.everyone"),
                    i18n.t("col.limit", lang): ui.t(LIMIT_LABELS[row["limit"]]),
                    i18n.t("col.refused", lang): row["count"],
                }
                for row in view["refusals"]
            ],
            hide_index=True,
            width="stretch",
        )
        for entry in view["recent"][:5]:
            st.caption(f"429 · {entry['message']}")


st.title("📦 " + ui.t("app.title") + " · " + ui.t("page.board"))
st.caption(ui.t("app.tagline"))
ui.analogy("queue")
submit_panel()
st.subheader(ui.t("board.header"))
live_board()
admission_panel()
