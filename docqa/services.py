"""The one place that creates the heavy resources (model, store); callers cache the result."""

from __future__ import annotations

from docqa.config import CHUNKER_VERSION, LEXICAL_VERSION, PARSER_VERSION, Settings
from docqa.models import Embedder
from docqa.store import Store


def load_embedder(settings: Settings) -> Embedder:
    return Embedder.from_settings(settings)


def index_signature(embedder: Embedder, settings: Settings) -> dict[str, str | int]:
    """How an index is built: model, prefixes, dimension, parser and chunker settings, lexical tokenizer.

    The chunk size is capped by the model's limit and the overlap by half the room left after
    the prefix (the chunker applies the same rules).
    """
    chunk_tokens = min(settings.chunk_tokens, embedder.max_tokens)
    budget = chunk_tokens - embedder.passage_tokens("")
    overlap = max(0, min(settings.chunk_overlap, budget // 2))
    return {**embedder.signature(), "chunker": CHUNKER_VERSION, "parser": PARSER_VERSION, "chunk_tokens": chunk_tokens,
            "chunk_overlap": overlap, "lexical": LEXICAL_VERSION}


def open_store(settings: Settings, embedder: Embedder, check: bool = True) -> Store:
    """Open the live index for this model and chunker; raises ModelMismatchError on a mismatch.

    With `check=False` a mismatching index can still be listed (before a re-index). Opening
    never deletes anything: unfinished writes are swept by writers, after their lease expires.
    """
    return Store.open(settings, index_signature(embedder, settings), check=check)
