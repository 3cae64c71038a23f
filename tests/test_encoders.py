"""Encoder paths (docqa.encoders): the chosen path agrees with fp32 on real Korean text, the
choice is cached per machine and model, RAG_ENCODER forces a path, ONNX files live under
the data dir and are rebuilt when missing, and an ONNX path starts without torch.

The session `embedder` fixture (tests/conftest.py) runs the real selection once per test
session: ONNX export, int8 quantization and the measurement on the bundled constitution.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pymupdf
import pytest

from docqa import encoders
from docqa.config import Settings
from docqa.encoders import GATE_MEAN, GATE_MIN, PATHS, artefact_dir, calibration_passages, select_encoder
from docqa.tokenizer import TextTokenizer
from tests.conftest import ROOT, eval_pdf

PDFS = ["finance/240130(보도자료) 지방은행의 시중은행 전환시 인가방식 및 절차.pdf",
        "law/(1) 2024 달라지는 세금제도.pdf", "public/2023_2027 국가재정운용계획 주요내용.pdf"]
QUESTIONS = ["지방은행이 시중은행으로 전환하려면 어떤 인가 절차를 거쳐야 하나요?",
             "2024년에 달라지는 세금 제도의 주요 내용은?", "국가재정운용계획의 분야별 재원 배분은?"]


def _pdf_passages(per_file: int = 16) -> list[str]:
    """Real page text of three eval PDFs, cut into passages of 20 to 900 characters."""
    out: list[str] = []
    for rel in PDFS:
        with pymupdf.open(eval_pdf(rel)) as doc:
            text = " ".join(" ".join(page.get_text().split()) for page in doc)
        text = unicodedata.normalize("NFC", text)
        start = 0
        for n in range(per_file):
            size = (20, 150, 400, 900)[n % 4]
            if start >= len(text):
                break
            out.append(text[start:start + size].strip())
            start += size
    return [p for p in out if p]


@pytest.fixture(scope="session")
def fp32(embedder):
    """The reference: the PyTorch fp32 path over the same model folder."""
    from sentence_transformers import SentenceTransformer

    from docqa.fast_encode import TorchEncoder
    from docqa.tokenizer import load_tokenizer

    folder = Path(embedder.choice.path)
    return TorchEncoder(SentenceTransformer(str(folder), device="cpu")), load_tokenizer(folder)


def _cosines(embedder, fp32, texts: list[str], prefix: str) -> np.ndarray:
    from docqa.fast_encode import encode_with

    encoder, tokenizer = fp32
    reference = encode_with(encoder, tokenizer, texts, prefix)
    got = (embedder.embed_passages(texts) if prefix == "passage: "
           else np.stack([embedder.embed_query(t) for t in texts]))
    assert got.shape == reference.shape and got.dtype == np.float32
    return (got * reference).sum(axis=1)


def test_chosen_path_agrees_with_fp32_on_real_korean_text(embedder, fp32):
    choice = embedder.encoder_choice
    assert choice.path in PATHS and choice.reason and choice.tokens_per_s and choice.tokens_per_s > 0
    passages = _pdf_passages()
    assert len(passages) >= 24
    cos = _cosines(embedder, fp32, passages, "passage: ")
    assert cos.mean() >= GATE_MEAN and cos.min() >= GATE_MIN, (choice.path, cos.mean(), cos.min())
    cos = _cosines(embedder, fp32, QUESTIONS, "query: ")
    assert cos.mean() >= GATE_MEAN and cos.min() >= GATE_MIN, (choice.path, cos)


def test_choice_reports_every_path_and_its_reason_in_korean(embedder):
    choice = embedder.encoder_choice
    measured = {r.path: r for r in choice.measured}
    assert "fp32" in measured and measured["fp32"].cosine_min > 0.99999
    assert set(measured) | set(choice.skipped) == set(PATHS)
    chosen = measured[choice.path]
    assert chosen.passed and chosen.tokens_per_s == max(r.tokens_per_s for r in measured.values() if r.passed)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in choice.reason)  # Hangul
    assert choice.summary().startswith(choice.label)


def test_choice_is_cached_and_reused(embedder, model_home, monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("measured again although the choice is cached")

    monkeypatch.setattr(encoders, "measure_paths", fail)
    c = embedder.choice
    encoder, _, again = select_encoder(Path(c.path), Settings(data_dir=model_home).models_dir, c.model_id,
                                       c.revision)
    assert again.source == "cached" and again.path == embedder.encoder_choice.path == encoder.path
    folder = artefact_dir(Settings(data_dir=model_home).models_dir, c.model_id, c.revision)
    cached = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("choice-*.json")]
    assert [d["path"] for d in cached] == [again.path]
    # another machine (other CPU flags or instruction-set cap) gets its own measurement
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")
    with pytest.raises(AssertionError, match="measured again"):
        select_encoder(Path(c.path), Settings(data_dir=model_home).models_dir, c.model_id, c.revision)


@pytest.mark.parametrize("path", ["fp32", "onnx", "onnx-int8"])
def test_forcing_a_path(embedder, model_home, path, fp32):
    c = embedder.choice
    encoder, tokenizer, choice = select_encoder(Path(c.path), Settings(data_dir=model_home).models_dir,
                                                c.model_id, c.revision, forced=path)
    assert encoder.path == path and choice.source == "forced" and "RAG_ENCODER" in choice.reason
    from docqa.fast_encode import encode_with

    got = encode_with(encoder, tokenizer, QUESTIONS, "query: ")
    reference = encode_with(fp32[0], fp32[1], QUESTIONS, "query: ")
    assert float((got * reference).sum(axis=1).min()) >= GATE_MIN
    if path.startswith("onnx"):  # every session of the process draws from one shared arena (memory)
        sessions = [*encoder._sessions.values(), *getattr(encoder.query_encoder, "_sessions", {}).values()]
        assert sessions and all(s.get_session_options().get_session_config_entry("session.use_env_allocators")
                                == "1" for s in sessions)


def test_rag_encoder_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("RAG_ENCODER", "ONNX-int8")
    assert Settings.from_env().encoder == "onnx-int8"
    monkeypatch.delenv("RAG_ENCODER")
    assert Settings.from_env().encoder == "auto"
    with pytest.raises(ValueError, match="RAG_ENCODER"):
        select_encoder(Path("."), Path("."), "x", "y", forced="int4")


def test_onnx_files_live_under_the_data_dir_and_are_rebuilt_when_missing(embedder, model_home, tmp_path):
    c = embedder.choice
    models = Settings(data_dir=model_home).models_dir
    folder = artefact_dir(models, c.model_id, c.revision)
    assert folder.is_relative_to(model_home) and (folder / "model.onnx").exists()
    # a copy of the data dir whose int8 file is gone: forcing int8 builds it again (from the fp32 export)
    other = artefact_dir(tmp_path / "models", c.model_id, c.revision)
    other.mkdir(parents=True)
    (other / "model.onnx").symlink_to(folder / "model.onnx")
    (other / "export.json").write_bytes((folder / "export.json").read_bytes())
    assert not (other / "model-int8.onnx").exists()
    encoder, _, _ = select_encoder(Path(c.path), tmp_path / "models", c.model_id, c.revision, forced="onnx-int8")
    assert encoder.file == other / "model-int8.onnx" and encoder.file.stat().st_size > 50e6


def test_onnx_path_starts_offline_without_torch(embedder, model_home):
    """A fresh process with HF_HUB_OFFLINE=1 and the choice cached: no torch, no sentence-transformers."""
    code = (
        "import sys, time; t0 = time.perf_counter()\n"
        "from pathlib import Path\n"
        "from docqa.config import Settings\n"
        "from docqa.services import load_embedder\n"
        f"e = load_embedder(Settings.from_env(data_dir=Path({str(model_home)!r})))\n"
        "v = e.embed_query('대통령의 임기는 몇 년인가?')\n"
        "ids = e.tokenizer(['헌법 제1조'], add_special_tokens=False)['input_ids']\n"
        "print(e.encoder_choice.path, 'torch' in sys.modules, 'sentence_transformers' in sys.modules, "
        "round(float(v @ v), 4), len(ids[0]) > 0, round(time.perf_counter() - t0, 1))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_ENCODER": "onnx-int8"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    path, torch_loaded, st_loaded, norm, tokenized, _seconds = done.stdout.split()
    assert (path, torch_loaded, st_loaded, norm, tokenized) == ("onnx-int8", "False", "False", "1.0", "True")


def test_text_tokenizer_matches_transformers(embedder):
    from transformers import AutoTokenizer

    folder = Path(embedder.choice.path)
    ours, theirs = TextTokenizer(folder), AutoTokenizer.from_pretrained(str(folder))
    texts = _pdf_passages(4) + ["", "짧은 문장", "passage: " + "국가재정 " * 400]
    assert ours(texts)["input_ids"] == theirs(texts)["input_ids"]
    assert ours(texts, add_special_tokens=False)["input_ids"] == theirs(texts, add_special_tokens=False)["input_ids"]
    assert (ours(texts, truncation=True, max_length=64)["input_ids"]
            == theirs(texts, truncation=True, max_length=64)["input_ids"])
    assert ours.pad_token_id == theirs.pad_token_id and len(ours) == len(theirs)


def test_calibration_passages_are_real_korean_of_varied_length():
    passages = calibration_passages()
    assert 20 <= len(passages) <= 60
    assert passages[0].startswith("대한민국헌법") or "대한국민" in passages[0]
    lengths = sorted(len(p) for p in passages)
    assert lengths[0] < 200 and lengths[-1] > 800
