"""The one place that creates the heavy resources (model, store); callers cache the result."""

from __future__ import annotations

from docqa.config import Settings
from docqa.models import Embedder
from docqa.store import Store


def load_embedder(settings: Settings) -> Embedder:
    return Embedder.from_settings(settings)


def open_store(settings: Settings, embedder: Embedder, check: bool = True) -> Store:
    """Open the store for this model and chunker; raises ModelMismatchError on a mismatch.

    With `check=False` a mismatching index can still be listed (before a re-index).
    """
    from ingest.chunk import Chunker
    from ingest.pipeline import index_signature

    chunker = Chunker.for_embedder(embedder, settings.chunk_tokens, settings.chunk_overlap)
    store = Store.open(settings, index_signature(embedder, chunker), check=check)
    if check:
        store.remove_orphans()
    return store
