"""Streamlit glue shared by the pages: language, analogy captions, the broker guard, the board.

The logic lives in the other modules of this package; this one only turns it
into Streamlit calls, so it is exercised by the AppTest suite.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import streamlit as st

from ..clock import time_scale
from ..errors import BrokerUnavailable, LabError
from ..settings import settings
from . import charts, i18n, queries
from .board import Board

F = TypeVar("F", bound=Callable[..., Any])

LANG_KEY = "lang"
LIVE_KEY = "live"
BOARD_KEY = "board"
PAGES = {
    "board": "labs/dashboard/pages/board.py",
    "job": "labs/dashboard/pages/job.py",
    "dlq": "labs/dashboard/pages/dlq.py",
    "workers": "labs/dashboard/pages/workers.py",
    "channels": "labs/dashboard/pages/channels.py",
}


def lang() -> str:
    return st.session_state.get(LANG_KEY) or settings().lang


def t(key: str, **values: Any) -> str:
    return i18n.t(key, lang(), **values)


def analogy(concept: str) -> None:
    """The element's seed analogy, as a caption under it."""
    st.caption("💡 " + i18n.analogy(concept, lang()))


def header(key: str, concept: str | None = None) -> None:
    st.subheader(t(key))
    if concept:
        analogy(concept)


def sidebar() -> None:
    """Language switch (first, so every label below follows it), broker, clock and live-refresh toggle."""
    if LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = settings().lang
    with st.sidebar:
        st.radio(
            i18n.t("lang.label", lang()),
            options=list(i18n.LANGUAGES),
            format_func=i18n.LANGUAGES.__getitem__,
            key=LANG_KEY,
            horizontal=True,
        )
        st.toggle(t("sidebar.live"), value=True, key=LIVE_KEY, help=t("sidebar.live_help"))
        st.caption(t("sidebar.broker", url=queries.broker_label()))
        st.caption(t("sidebar.scale", scale=f"{time_scale():g}"))
        st.link_button(t("sidebar.playground"), f"{settings().api_url}/playground/")
        if settings().flower_url:
            st.link_button(t("sidebar.flower"), settings().flower_url)


def refresh_every() -> float | None:
    """The fragments' ``run_every``: None while live refresh is switched off."""
    return settings().dashboard_refresh if st.session_state.get(LIVE_KEY, True) else None


def guarded(func: F) -> F:
    """Show a broker or lab error as one clear message instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BrokerUnavailable as exc:
            st.error(t("err.broker", error=exc), icon="🔌")
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            queries._connections.clear()
            st.error(t("err.broker", error=f"{type(exc).__name__}: {exc}"), icon="🔌")
        except LabError as exc:
            st.error(str(exc), icon="⚠️")
        return None

    return wrapper  # type: ignore[return-value]


def connection() -> redis.Redis:
    """The broker connection (raises BrokerUnavailable, which :func:`guarded` shows)."""
    return queries.connection()


def board(conn: redis.Redis) -> Board:
    """This session's live board, read forward to now (one refresh tick)."""
    url = queries.broker_label()
    current: Board | None = st.session_state.get(BOARD_KEY)
    if current is None or current.url != url:
        current = st.session_state[BOARD_KEY] = Board(url=url)
    current.update(conn)
    return current


def open_job(job_id: str) -> None:
    """Go to the job detail page for ``job_id``."""
    st.session_state["job_id"] = job_id
    st.switch_page(PAGES["job"])


def short(job_id: str) -> str:
    return job_id[:8]


def chart(figure: Any, *, extra: int = 110, stretch: bool = True) -> None:
    """Draw an altair chart with room for its axes and legend (Streamlit's "content" height clips some)."""
    st.altair_chart(figure, width="stretch" if stretch else "content", height=charts.outer_height(figure, extra))


@guarded
def require_broker() -> bool:
    """Show the broker's one-line error (if any) at the top of a page; True when it answers."""
    connection()
    return True
