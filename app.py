"""Korean PDF question answering: the router. Pages live in pages/, logic in the core packages."""

from __future__ import annotations

import logging

import streamlit as st

from pages import common

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="한국어 문서 질의응답", page_icon=":material/description:", layout="wide")
page = st.navigation([
    st.Page("pages/ask.py", title="질문", icon=":material/chat:", url_path="ask", default=True),
    st.Page("pages/documents.py", title="문서", icon=":material/description:", url_path="documents"),
    st.Page("pages/evaluate.py", title="평가", icon=":material/analytics:", url_path="evaluate"),
])
common.sidebar()
with common.routed():
    page.run()
