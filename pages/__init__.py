"""Streamlit pages (registered in app.py) and their shared UI helpers."""
