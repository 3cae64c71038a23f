"""Shared pieces of the benchmarks: default paths, the corpus, store keys, tables."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.labels import EVAL_DIR, SAMPLE_LABELS
from ingest.formats import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PDFS = EVAL_DIR / "pdfs"
DEFAULT_LABELS = SAMPLE_LABELS
DEFAULT_AUTORAG = EVAL_DIR / "autorag"
DEFAULT_CACHE = PROJECT_ROOT / ".bench"
CORPUS_SUFFIXES = SUPPORTED_SUFFIXES  # what `python -m ingest` collects from a folder: PDF, HWP, HWPX


@dataclass(frozen=True)
class CorpusFile:
    """One corpus file: where it is, its path relative to the corpus root, doc id and domain."""

    path: Path
    rel: str  # posix, relative to the corpus root
    doc_id: str
    domain: str
    size: int


def collect_corpus(root: Path, limit: int | None = None,
                   suffixes: Sequence[str] = CORPUS_SUFFIXES) -> list[CorpusFile]:
    """Files under `root` (recursive, sorted by relative path), the first `limit` of them."""
    from evaluation.labels import folder_domain
    from ingest.parse import doc_id_of

    files = sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes),
                   key=lambda p: p.relative_to(root).as_posix())
    if limit is not None:
        files = files[:limit]
    out = []
    for p in files:
        data = p.read_bytes()
        rel = p.relative_to(root).as_posix()
        out.append(CorpusFile(p, rel, doc_id_of(data), folder_domain(rel), len(data)))
    return out


def fingerprint(parts: Sequence[str]) -> str:
    """A short stable hash of `parts` (used to key caches by their content)."""
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:10]


def slug(text: str, max_len: int = 40) -> str:
    """ASCII-safe folder name piece: "intfloat/multilingual-e5-small" -> "intfloat-multilingual-e5-small"."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return (s or "x")[-max_len:]


def store_name(kind: str, corpus: str, model_id: str, revision: str, chunk_tokens: int, chunk_overlap: int,
               content_key: str) -> str:
    """Folder name of a cached index: different corpora, models or chunk settings never share one."""
    rev = fingerprint([model_id, revision])[:6]
    return f"{kind}-{slug(corpus, 24)}-{slug(model_id, 32)}-{rev}-c{chunk_tokens}o{chunk_overlap}-{content_key}"


def pdf_page_count(path: Path) -> int | None:
    """Number of pages of a PDF, None when it can't be opened."""
    import pymupdf

    try:
        with pymupdf.open(path) as doc:
            return doc.page_count
    except Exception as exc:  # noqa: BLE001 - an unreadable file is reported by the caller
        log.warning("can't open %s: %s", path, exc)
        return None


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; floats with 3 decimals."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")
    log.info("wrote %s", path)
