"""The Streamlit layer shared by the pages: resources, sidebar, cards, rendering helpers."""
