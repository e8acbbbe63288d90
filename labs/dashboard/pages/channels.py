"""Page 5: one job watched over WebSocket (电话), SSE (广播电台) and polling (定期查物流) side by side."""

from __future__ import annotations

import httpx
import streamlit as st

from labs.dashboard import channels, charts, i18n, ui

SESSION_KEY = "channels"
CONCEPT = {"websocket": "websocket", "sse": "sse", "polling": "polling"}
ICON = {"websocket": "📞", "sse": "📻", "polling": "🔁"}


def _replace(session: channels.ChannelSession | None) -> None:
    old: channels.ChannelSession | None = st.session_state.get(SESSION_KEY)
    if old is not None:
        old.stop()
    st.session_state[SESSION_KEY] = session


def start_new(base: str) -> None:
    """Button callback: submit a slow task through the API and watch it on all three channels."""
    params = {"steps": int(st.session_state["ch_steps"]), "step_seconds": float(st.session_state["ch_step_seconds"])}
    try:
        job_id = channels.submit(base, "slow_task", params)
    except httpx.HTTPError as exc:
        st.session_state["channels_error"] = str(exc)
        return
    _replace(channels.ChannelSession(base, job_id).start())


def watch_existing(base: str) -> None:
    job_id = st.session_state.get("ch_job", "").strip()
    if job_id:
        _replace(channels.ChannelSession(base, job_id).start())


def stop_all() -> None:
    _replace(None)


def cut(name: str) -> None:
    session: channels.ChannelSession | None = st.session_state.get(SESSION_KEY)
    if session is not None:
        session.watchers[name].cut()


def redial() -> None:
    session: channels.ChannelSession | None = st.session_state.get(SESSION_KEY)
    if session is not None:
        watcher = session.watchers["websocket"]
        assert isinstance(watcher, channels.WSWatcher)
        watcher.redial()


def status_text(summary: dict[str, object]) -> str:
    status = str(summary["status"])
    if status == "error":
        return ui.t("status.error", error=summary["error"])
    return i18n.label("status.", status, ui.lang())


def channel_column(name: str, summary: dict[str, object]) -> None:
    st.markdown(f"### {ICON[name]} {ui.t('ch.' + name)}")
    ui.analogy(CONCEPT[name])
    st.markdown(ui.t("channels.status", status=status_text(summary)))
    a, b, c = st.columns(3)
    a.metric(ui.t("channels.events"), summary["events"])
    b.metric(ui.t("channels.missed"), summary["missed"])
    c.metric(ui.t("channels.reconnects"), summary["reconnects"])
    median, worst = summary["median_ms"], summary["max_ms"]
    st.metric(
        ui.t("channels.delay"),
        f"{median:.0f} / {worst:.0f}" if isinstance(median, float) and isinstance(worst, float) else "—",
    )
    if name == "polling":
        st.caption(f"{ui.t('channels.requests')}: {summary.get('requests', 0)} / {summary.get('not_modified', 0)}")
    percent = summary["percent"]
    st.progress(min(1.0, float(percent) / 100) if isinstance(percent, float) else 0.0)
    if name == "polling":
        st.caption(ui.t("channels.cut_poll"))
    else:
        st.button("✂️ " + ui.t("channels.cut"), key=f"cut_{name}", on_click=cut, args=(name,))
    if name == "websocket" and summary["status"] == "dropped":
        st.button("📞 " + ui.t("channels.redial"), key="redial", on_click=redial, type="primary")


@st.fragment(run_every=0.5 if ui.refresh_every() else None)
def live_channels() -> None:
    session: channels.ChannelSession | None = st.session_state.get(SESSION_KEY)
    if session is None:
        return
    lang = ui.lang()
    st.markdown(ui.t("channels.job", id=session.job_id))
    summaries = session.summaries()
    columns = st.columns(3)
    for slot, name in zip(columns, channels.CHANNELS, strict=True):
        with slot:
            channel_column(name, summaries[name])
    st.info("💡 " + ui.t("channels.lesson"))
    rows = session.delay_rows()
    if rows:
        st.markdown(f"**{ui.t('channels.chart')}**")
        ui.chart(charts.delay_chart(rows, lang), extra=90)


st.title("📡 " + ui.t("channels.header"))
base = channels.api_url()
st.caption(ui.t("channels.api", url=base))
if not channels.api_alive(base):
    st.error(ui.t("err.api_down", url=base), icon="🔌")
else:
    left, middle, right = st.columns([2, 2, 1])
    with left:
        a, b = st.columns(2)
        a.number_input(ui.t("channels.steps"), 1, 200, 20, key="ch_steps")
        b.number_input(ui.t("channels.step_seconds"), 0.0, 10.0, 0.5, 0.1, key="ch_step_seconds")
        st.button("▶️ " + ui.t("channels.start"), key="ch_start", on_click=start_new, args=(base,), type="primary")
    with middle:
        st.text_input(ui.t("channels.watch_id"), key="ch_job")
        st.button(ui.t("channels.watch"), key="ch_watch", on_click=watch_existing, args=(base,))
    with right:
        st.button("⏹️ " + ui.t("channels.stop"), key="ch_stop", on_click=stop_all)
    error = st.session_state.pop("channels_error", None)
    if error:
        st.error(error)
    live_channels()
