"""Korean document question answering: the router. Pages live in pages/, shared UI code in ui/."""

from __future__ import annotations

import logging

import streamlit as st

from ui import common

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

# An emoji favicon is drawn locally; a ":material/...:" one would be fetched from a public font host.
st.set_page_config(page_title="한국어 문서 질의응답", page_icon="📄", layout="wide")
# Streamlit's English input hints ("Press Enter to submit form") have no place on Korean pages.
st.markdown("<style>[data-testid=InputInstructions] { display: none; }</style>", unsafe_allow_html=True)
page = st.navigation([
    st.Page("pages/ask.py", title="질문", icon=":material/chat:", url_path="ask", default=True),
    st.Page("pages/documents.py", title="문서", icon=":material/description:", url_path="documents"),
    st.Page("pages/evaluate.py", title="평가", icon=":material/analytics:", url_path="evaluate"),
])
common.wait_for_resources()
common.sidebar()
with common.routed():
    page.run()
