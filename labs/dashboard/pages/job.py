"""Page 2: one job's life (快递详情): state diagram, event timeline, retries, progress, cancel."""

from __future__ import annotations

import streamlit as st

from labs.dashboard import charts, i18n, queries, ui
from labs.dashboard.board import Board
from labs.jobs import UnknownJob

JOB_KEY = "job_id"


def pick_job() -> str:
    """The job to show: typed, picked from the recent ones, or handed over by another page."""
    current = st.session_state.get(JOB_KEY, "")
    board: Board | None = st.session_state.get(ui.BOARD_KEY)
    recent = [row.id for row in board.latest(100)] if board else []
    if st.session_state.get("job_typed") != current:
        st.session_state["job_typed"] = current

    def typed() -> None:
        st.session_state[JOB_KEY] = st.session_state["job_typed"].strip()

    def picked() -> None:
        if st.session_state.get("job_recent"):
            st.session_state[JOB_KEY] = st.session_state["job_recent"]

    left, right = st.columns([2, 1])
    left.text_input(ui.t("job.pick"), key="job_typed", on_change=typed)
    right.selectbox(
        ui.t("job.recent"),
        recent,
        index=None,
        format_func=lambda i: f"{ui.short(i)} · {board.jobs[i].task}" if board and i in board.jobs else i,
        key="job_recent",
        placeholder=ui.t("job.recent"),
        on_change=picked,
    )
    ui.analogy("job_id")
    return st.session_state.get(JOB_KEY, "")


@st.fragment(run_every=ui.refresh_every())
@ui.guarded
def job_panel(job_id: str) -> None:
    lang = ui.lang()
    conn = ui.connection()
    try:
        detail = queries.job_detail(conn, job_id)
    except UnknownJob:
        st.warning(ui.t("err.unknown_job", id=job_id))
        return
    view, replay = detail["view"], detail["replay"]
    state = view["state"]
    top = st.columns([1, 1, 1, 2])
    top[0].metric(ui.t("job.state"), i18n.short_label(state, lang))
    top[1].metric(ui.t("job.attempt"), f"{view['attempt']} / {view['max_retries'] + 1}")
    top[2].metric(ui.t("col.task"), view["task"])
    top[2].caption(f"{ui.t('col.engine')}: {view.get('engine') or 'rq'}")
    with top[3]:
        progress = view["progress"] or {}
        st.markdown(f"**{ui.t('job.progress')}**")
        st.progress(
            min(1.0, float(progress.get("percent", 0)) / 100),
            text=f"{progress.get('percent', 0):.0f}% {progress.get('message', '')}",
        )
        ui.analogy("progress")
    for other, key, label in (
        (view.get("redrive_of"), "goto_original", "job.redrive_of"),
        (replay.redriven_to if replay else None, "goto_redrive", "job.redriven_to"),
    ):
        if other and st.button(ui.t(label, id=other), key=key):
            ui.open_job(other)
    if detail["in_dlq"]:
        st.error(ui.t("job.in_dlq"), icon="📮")
        if st.button(ui.t("page.dlq"), key="goto_dlq"):
            st.switch_page(ui.PAGES["dlq"])
    if view.get("error"):
        st.caption(ui.t("job.error", error=view["error"], reason=view.get("reason") or "-"))
    if not detail["terminal"] and st.button("✋ " + ui.t("job.cancel"), key="cancel_job"):
        st.info(ui.t("job.cancelled", state=queries.cancel(conn, job_id)))
    ui.analogy("cancel")

    st.markdown(f"**{ui.t('job.diagram')}**")
    ui.analogy("states")
    st.altair_chart(
        charts.state_diagram(detail["transitions"], lang, current=state, dead_lettered=bool(replay and replay.dead_lettered)),
        width="content",
    )

    left, right = st.columns(2)
    with left:
        st.markdown(f"**{ui.t('job.retries')}**")
        ui.analogy("retry")
        if view["retry_plan"] or any(r["kind"] == "actual" for r in detail["retries"]):
            ui.chart(charts.retry_chart(detail["retries"], lang), extra=90)
            st.caption(ui.t("job.retry_note"))
        else:
            st.caption(ui.t("job.no_retries"))
    with right:
        st.markdown(f"**{ui.t('job.attempts')}**")
        ui.analogy("worker")
        st.dataframe(
            [
                {
                    i18n.t("col.attempt", lang): row["attempt"],
                    i18n.t("col.worker", lang): row["worker"],
                    i18n.t("col.started", lang): row["started"],
                    i18n.t("col.ended", lang): row["ended"],
                    i18n.t("col.outcome", lang): i18n.outcome_label(row["outcome"], lang),
                    i18n.t("col.error", lang): row["error"],
                }
                for row in detail["attempts"]
            ],
            hide_index=True,
            width="stretch",
        )
        if view.get("result") is not None:
            st.markdown(f"**{ui.t('job.result')}**")
            st.json(view["result"], expanded=False)

    st.markdown(f"**{ui.t('job.timeline')}**")
    ui.chart(charts.event_timeline(view["events"], lang), extra=60)
    st.dataframe(
        [
            {
                i18n.t("col.time", lang): row["t"],
                i18n.t("col.event", lang): i18n.event_label(row["event"], lang),
                i18n.t("col.state", lang): row["state"],
                i18n.t("col.attempt", lang): row["attempt"],
                i18n.t("col.worker", lang): row["worker"],
                i18n.t("col.message", lang): row["message"],
            }
            for row in queries.timeline_rows(view["events"])
        ],
        hide_index=True,
        width="stretch",
    )


st.title("🔎 " + ui.t("job.header"))
job_id = pick_job()
if not ui.require_broker():
    pass
elif job_id:
    job_panel(job_id)
else:
    st.info(ui.t("job.none"))
