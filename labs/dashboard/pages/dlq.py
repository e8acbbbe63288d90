"""Page 3: retries (快递重新投递) and the dead-letter queue (退件处理中心): inspect, redrive, discard, purge."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
import streamlit as st

from labs.dashboard import charts, i18n, queries, ui
from labs.errors import LabError

SHOWN = 50


def retrying_now(conn: redis.Redis, lang: str) -> None:
    board = ui.board(conn)
    rows = board.column_jobs("retrying", 50)
    st.markdown(f"**🟠 {ui.t('dlq.retrying')}** ({board.counts.get('retrying', 0)})")
    ui.analogy("retry")
    if not rows:
        st.caption(ui.t("dlq.no_retrying"))
        return
    now = time.time()
    st.dataframe(
        [
            {
                i18n.t("col.id", lang): row.id,
                i18n.t("col.task", lang): row.task,
                i18n.t("col.attempt", lang): row.attempt,
                i18n.t("col.next_delay", lang): round(max(0.0, row.retry_at - now), 2),
                i18n.t("col.reason", lang): row.reason,
                i18n.t("col.error", lang): row.error[:160],
            }
            for row in rows
        ],
        hide_index=True,
        width="stretch",
    )


def entry_detail(conn: redis.Redis, entry: dict[str, Any], lang: str) -> None:
    job_id = entry["id"]
    st.error(ui.t("dlq.why", reason=entry["reason"] or "-", error=entry["error"] or "-"), icon="📮")
    st.markdown(f"**{ui.t('dlq.history')}**")
    st.dataframe(
        [
            {
                i18n.t("col.attempt", lang): row.get("attempt"),
                i18n.t("col.worker", lang): row.get("worker", ""),
                i18n.t("col.started", lang): _clock(row.get("started")),
                i18n.t("col.ended", lang): _clock(row.get("ended")),
                i18n.t("col.outcome", lang): row.get("outcome", ""),
                i18n.t("col.next_delay", lang): row.get("next_delay"),
                i18n.t("col.error", lang): row.get("error", ""),
            }
            for row in entry["history"]
        ],
        hide_index=True,
        width="stretch",
    )
    detail = queries.job_detail(conn, job_id)
    if detail["retries"]:
        ui.chart(charts.retry_chart(detail["retries"], lang), extra=90)
    if st.button(ui.t("job.open_other", id=ui.short(job_id)), key=f"open_{job_id}"):
        ui.open_job(job_id)
    with st.form(key=f"redrive_{job_id}"):
        st.markdown(f"**♻️ {ui.t('dlq.redrive')}**")
        ui.analogy("redrive")
        st.text_area(ui.t("dlq.redrive_params"), value=json.dumps(entry["params"], ensure_ascii=False), key=f"params_{job_id}")
        st.form_submit_button(ui.t("dlq.redrive"), type="primary", on_click=act, args=(redrive, job_id, entry["params"]))
    st.button("🗑️ " + ui.t("dlq.discard"), key=f"discard_{job_id}", on_click=act, args=(discard, job_id))


# Actions run as button callbacks, before the page is drawn again, so the page
# shows the queue as it is after the action.


def act(action: Callable[..., tuple[str, str]], *args: Any) -> None:
    """Run a DLQ action and keep its outcome (or its one-line error) for the page to show."""
    try:
        st.session_state["dlq_message"] = action(queries.connection(), *args)
    except (LabError, redis.exceptions.RedisError) as exc:
        st.session_state["dlq_message"] = ("error", str(exc))


def redrive(conn: redis.Redis, job_id: str, original: dict[str, Any]) -> tuple[str, str]:
    params = queries.parse_params(st.session_state.get(f"params_{job_id}", ""))
    new_id = queries.redrive(conn, job_id, None if params == original else params)
    st.session_state["redriven_id"] = new_id
    return "success", ui.t("dlq.redriven", id=new_id)


def discard(conn: redis.Redis, job_id: str) -> tuple[str, str]:
    queries.discard(conn, job_id)
    return "info", ui.t("dlq.discarded", id=job_id)


def purge(conn: redis.Redis) -> tuple[str, str]:
    return "info", ui.t("dlq.purged", n=queries.purge(conn))


def sweep(conn: redis.Redis) -> tuple[str, str]:
    return "info", ui.t("dlq.swept", id=queries.sweep(conn))


def _clock(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3] if ts else ""


@st.fragment(run_every=ui.refresh_every())
@ui.guarded
def dlq_panel() -> None:
    lang = ui.lang()
    conn = ui.connection()
    retrying_now(conn, lang)
    st.divider()
    total = queries.dlq_total(conn)
    st.metric("📮 " + ui.t("dlq.count"), total)
    ui.analogy("dlq")
    message = st.session_state.pop("dlq_message", None)
    if message:
        getattr(st, message[0])(message[1])
    redriven = st.session_state.get("redriven_id")
    if redriven and st.button(ui.t("job.open_other", id=ui.short(redriven)), key="open_redriven"):
        ui.open_job(redriven)
    if not total:
        st.success(ui.t("dlq.empty"))
        return
    entries = queries.dlq_entries(conn, SHOWN)
    st.caption(ui.t("dlq.showing", shown=len(entries), total=total))
    st.dataframe(
        [
            {
                i18n.t("col.id", lang): e["id"],
                i18n.t("col.task", lang): e["task"],
                i18n.t("col.reason", lang): e["reason"],
                i18n.t("col.attempts", lang): e["attempts"],
                i18n.t("col.failed_at", lang): _clock(e["failed_at"]),
                i18n.t("col.error", lang): (e["error"] or "")[:160],
            }
            for e in entries
        ],
        hide_index=True,
        width="stretch",
    )
    if not entries:
        return
    ids = [e["id"] for e in entries]
    chosen = st.selectbox(
        ui.t("dlq.pick"),
        ids,
        format_func=lambda i: f"{ui.short(i)} · {next(e['task'] for e in entries if e['id'] == i)}",
        key="dlq_pick",
    )
    entry = next(e for e in entries if e["id"] == chosen)
    entry_detail(conn, entry, lang)
    st.divider()
    left, right = st.columns(2)
    with left:
        confirm = st.checkbox(ui.t("dlq.purge_confirm"), key="purge_confirm")
        st.button("🧹 " + ui.t("dlq.purge"), key="purge", disabled=not confirm, on_click=act, args=(purge,))
    with right:
        st.button("📝 " + ui.t("dlq.sweep"), key="sweep", on_click=act, args=(sweep,))
        log = queries.failure_log(conn)
        if log:
            st.markdown(f"**{ui.t('dlq.log')}**")
            st.dataframe(log, hide_index=True, width="stretch")


st.title("📮 " + ui.t("dlq.header"))
dlq_panel()
