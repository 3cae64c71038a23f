"""Ingest: parse PDFs, chunk them to the model's limit, embed and store. CLI: `python -m ingest`."""
