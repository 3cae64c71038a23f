"""All configuration in one place, read from the environment (documented defaults).

Nothing here touches the disk or the environment at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_EMBED_MODEL = "dragonkue/multilingual-e5-small-ko"
# No rerank stage by default: measured on every eval set, the offline sentence reranker helped some
# and hurt allganize dev (README, Benchmarks). A cross-encoder id/folder or "sentence" turns one on.
DEFAULT_RERANKER = "none"
DOMAINS = ("finance", "public", "medical", "law", "commerce")
# Versions of the code that turns documents into an index, recorded in it: a change makes old
# indexes refuse to open until they are rebuilt (never silently mixed).
CHUNKER_VERSION = "page-sentence-v3"
PARSER_VERSION = "pdf-v8"  # bumped whenever PDF parsing changes what is indexed
LEXICAL_VERSION = "kiwi-content-v3"
DOMAIN_LABELS = {"finance": "금융", "public": "공공", "medical": "의료", "law": "법률", "commerce": "커머스"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def _default_data_dir() -> Path:
    return Path(os.environ.get("RAG_DATA_DIR") or Path.home() / ".korean-doc-qa").expanduser()


# Where Debian/Ubuntu put Tesseract's models (tesseract-ocr-script-hang, tesseract-ocr-kor).
TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata")
DEFAULT_OCR_LANG = "Hangul"  # Tesseract's Hangul script model: more accurate here than `kor`


def _default_tessdata() -> str:
    """RAG_TESSDATA, else TESSDATA_PREFIX, else the first Debian tessdata folder that exists ("" if none)."""
    for name in ("RAG_TESSDATA", "TESSDATA_PREFIX"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return next((d for d in TESSDATA_DIRS if Path(d).is_dir()), "")


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value not in ("0", "off", "false", "no")


@dataclass(frozen=True)
class Settings:
    """Runtime settings. `Settings.from_env()` reads the variables documented in README."""

    data_dir: Path = field(default_factory=_default_data_dir)
    embed_model: str = DEFAULT_EMBED_MODEL  # RAG_EMBED_MODEL: hub id or local folder
    reranker: str = DEFAULT_RERANKER  # RAG_RERANKER: "none", "sentence", or a cross-encoder hub id / folder
    chunk_tokens: int = 320  # RAG_CHUNK_TOKENS: max tokens per chunk incl. "passage: " and specials
    chunk_overlap: int = 48  # RAG_CHUNK_OVERLAP: tokens repeated from the previous chunk
    chroma_host: str = ""  # RAG_CHROMA_HOST: "host:port" of a `chroma run` server; empty = embedded
    collection: str = "korean_docs"  # RAG_COLLECTION
    max_file_mb: int = 200  # RAG_MAX_FILE_MB: larger files are refused
    embed_batch_tokens: int = 4096  # RAG_EMBED_BATCH_TOKENS: padded tokens per embedding batch
    fusion: str = "zscore"  # RAG_FUSION: "zscore", "minmax" or "rrf"
    dense_weight: float = 0.3  # RAG_DENSE_WEIGHT: weight of the dense side in score fusion
    lease_timeout_s: float = 600.0  # RAG_LEASE_TIMEOUT: a writer silent this long is presumed dead
    worker_idle_s: float = 120.0  # RAG_WORKER_IDLE: the ingest worker exits after this long without work
    # Generated answers (optional): an OpenAI-compatible chat server (vLLM, Ollama, llama.cpp, a gateway).
    llm_base_url: str = ""  # RAG_LLM_BASE_URL: e.g. http://127.0.0.1:8000/v1; empty = no generated answer
    llm_model: str = ""  # RAG_LLM_MODEL: the model name the server expects
    llm_api_key: str = ""  # RAG_LLM_API_KEY: sent as a Bearer token; empty for servers that need none
    llm_timeout: float = 60.0  # RAG_LLM_TIMEOUT: seconds to wait for the server (connect and between chunks)
    llm_context_tokens: int = 4096  # RAG_LLM_CONTEXT_TOKENS: the model's context window, in tokens
    llm_max_tokens: int = 768  # RAG_LLM_MAX_TOKENS: longest answer; passages fill the rest of the window
    # RAG_ENCODER: "auto" (measure the encoder paths once per machine and model, keep the fastest that
    # agrees with fp32), or force one: "fp32", "bf16", "onnx" (ONNX Runtime fp32), "onnx-int8"
    encoder: str = "auto"
    ocr: bool = True  # RAG_OCR: "0"/"off" switches OCR of scanned pages and images off
    ocr_dpi: int = 200  # RAG_OCR_DPI: resolution pages and images are rendered at for OCR
    ocr_lang: str = DEFAULT_OCR_LANG  # RAG_OCR_LANG: Tesseract model(s), e.g. "Hangul", "kor", "Hangul+eng"
    tessdata: str = field(default_factory=_default_tessdata)  # RAG_TESSDATA: folder of *.traineddata

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        env = os.environ
        s = cls(
            data_dir=_default_data_dir(),
            embed_model=env.get("RAG_EMBED_MODEL", "").strip() or DEFAULT_EMBED_MODEL,
            reranker=env.get("RAG_RERANKER", "").strip() or DEFAULT_RERANKER,
            chunk_tokens=_env_int("RAG_CHUNK_TOKENS", cls.chunk_tokens),
            chunk_overlap=_env_int("RAG_CHUNK_OVERLAP", cls.chunk_overlap),
            chroma_host=env.get("RAG_CHROMA_HOST", "").strip(),
            collection=env.get("RAG_COLLECTION", "").strip() or cls.collection,
            max_file_mb=_env_int("RAG_MAX_FILE_MB", cls.max_file_mb),
            embed_batch_tokens=_env_int("RAG_EMBED_BATCH_TOKENS", cls.embed_batch_tokens),
            fusion=env.get("RAG_FUSION", "").strip() or cls.fusion,
            dense_weight=float(env.get("RAG_DENSE_WEIGHT", "").strip() or cls.dense_weight),
            lease_timeout_s=float(env.get("RAG_LEASE_TIMEOUT", "").strip() or cls.lease_timeout_s),
            worker_idle_s=float(env.get("RAG_WORKER_IDLE", "").strip() or cls.worker_idle_s),
            llm_base_url=env.get("RAG_LLM_BASE_URL", "").strip(),
            llm_model=env.get("RAG_LLM_MODEL", "").strip(),
            llm_api_key=env.get("RAG_LLM_API_KEY", "").strip(),
            llm_timeout=_env_float("RAG_LLM_TIMEOUT", cls.llm_timeout),
            llm_context_tokens=_env_int("RAG_LLM_CONTEXT_TOKENS", cls.llm_context_tokens),
            llm_max_tokens=_env_int("RAG_LLM_MAX_TOKENS", cls.llm_max_tokens),
            encoder=env.get("RAG_ENCODER", "").strip().lower() or cls.encoder,
            ocr=_env_flag("RAG_OCR", cls.ocr),
            ocr_dpi=_env_int("RAG_OCR_DPI", cls.ocr_dpi),
            ocr_lang=env.get("RAG_OCR_LANG", "").strip() or cls.ocr_lang,
            tessdata=_default_tessdata(),
        )
        return replace(s, **overrides)

    @property
    def llm_configured(self) -> bool:
        """A generated answer is possible: a server address is set."""
        return bool(self.llm_base_url)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def jobs_db(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"
