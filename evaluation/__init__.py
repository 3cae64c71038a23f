"""Retrieval evaluation: page-level metrics, label files, scoring a searcher (used by the app and bench/)."""
