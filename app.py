"""Long-Task Lab dashboard (长任务实验室): ``streamlit run app.py`` or ``python -m labs up``.

This file is only the frame: the language switch, the page list and the
sidebar. Each page lives in ``labs/dashboard/pages/``; what they compute lives
in ``labs/dashboard/`` so it can be tested without a browser. Every number on
the pages comes from real jobs run by real workers, read from the event log
on the broker (``REDIS_URL``, or the embedded broker with zero set-up).
"""

from __future__ import annotations

import streamlit as st

from labs.dashboard import i18n, ui

st.set_page_config(page_title=" · ".join(i18n.t("app.title", lang) for lang in i18n.LANGUAGES), page_icon="📦", layout="wide")

ui.sidebar()

pages = [
    st.Page(ui.PAGES["board"], title=ui.t("page.board"), icon="📦", url_path="board", default=True),
    st.Page(ui.PAGES["job"], title=ui.t("page.job"), icon="🔎", url_path="job"),
    st.Page(ui.PAGES["dlq"], title=ui.t("page.dlq"), icon="📮", url_path="dlq"),
    st.Page(ui.PAGES["workers"], title=ui.t("page.workers"), icon="🚚", url_path="workers"),
    st.Page(ui.PAGES["channels"], title=ui.t("page.channels"), icon="📡", url_path="channels"),
]
st.navigation(pages).run()
