"""Benchmarks over ../shared/eval: retrieval quality and speed (`python -m bench`)."""
