"""Shared fixtures: the real offline embedding model (built once per session), real Chroma stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach the hub: the product must fall back to the offline model by itself.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"


# CI (.ci/run sets RAG_REQUIRE_EVAL=1) must fail, not skip, when the shared data is missing.
REQUIRE_EVAL = os.environ.get("RAG_REQUIRE_EVAL", "") == "1"


def eval_file(relative: str) -> Path:
    """A file of ../shared/eval; a skip when the shared folder is absent (a failure in CI)."""
    path = EVAL / relative
    if not path.exists():
        if REQUIRE_EVAL:
            pytest.fail(f"shared eval data not found: {path} (RAG_REQUIRE_EVAL=1)")
        pytest.skip(f"shared eval data not found: {path}")
    return path


def eval_pdf(relative: str) -> Path:
    """A PDF of ../shared/eval/pdfs (see eval_file)."""
    return eval_file(f"pdfs/{relative}")


@pytest.fixture(scope="session")
def model_home(tmp_path_factory) -> Path:
    """A data dir whose models/ holds the offline model, built once for the whole session."""
    return tmp_path_factory.mktemp("model-home")


@pytest.fixture(scope="session")
def embedder(model_home):
    from docqa.config import Settings
    from docqa.services import load_embedder

    return load_embedder(Settings(data_dir=model_home))


@pytest.fixture
def settings(tmp_path):
    """Settings for a fresh embedded store in tmp_path (the embedder fixture is shared)."""
    from docqa.config import Settings

    return Settings(data_dir=tmp_path / "data", chunk_tokens=256, chunk_overlap=32)


@pytest.fixture
def store(settings, embedder):
    from docqa.services import open_store

    return open_store(settings, embedder)


@pytest.fixture
def ingestor(store, embedder, settings):
    from ingest.pipeline import Ingestor

    return Ingestor(store, embedder, settings)
