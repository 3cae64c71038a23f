"""Fast CPU embedding: length-sorted token-budget batching over any encoder path.

The loop (`encode_with`) is shared by every encoder path of `docqa.encoders` (PyTorch
fp32/bf16, ONNX Runtime fp32/int8); `TorchEncoder` is the PyTorch path. What pays off:

* sorting texts by token length and filling each batch up to a token budget, so
  little compute is spent on padding, with widths rounded up to a multiple of 32
  so that only a few distinct shapes occur: oneDNN JIT-compiles and caches
  kernels per shape, and with free-form widths that cost ~15% of the time and
  grew RSS by ~1 GB over 2,000 chunks;
* choosing the thread count per batch from measured speed (`ThreadPolicy`): with
  every core busy elsewhere, OpenMP's all-threads barriers make a 2-thread PyTorch
  forward pass up to 5x slower than a 1-thread one (ONNX Runtime's pool suffers the
  same), while on an idle machine 2 threads are ~1.9x faster. Outputs are
  bit-identical either way. Inputs of a few dozen tokens (queries) always run on one
  thread.
* bfloat16 only where the CPU has native bf16 units (AMX, AVX512-BF16): oneDNN
  routes the linear layers to them, 3-4x faster than fp32 on AMX. Without them
  oneDNN emulates bf16 and it is ~4x *slower* than fp32 (issue 11: 581 vs 2,197
  tokens/s with AVX2 only), so `docqa.encoders` measures before choosing it.

Things measured and rejected (see `bench/embed_speed.py`): torch dynamic int8
quantization (cosine only ~0.97 to fp32), torch.compile (~40 s to compile for a
few percent), eager attention (3x slower than SDPA in bf16).
Pooling and normalisation stay in float32.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_BATCH_TOKENS = 4096
MAX_TOKENS = 512
_MAX_BATCH_TEXTS = 256
# rows x padded length² per batch: attention activations grow with it and the runtime keeps its
# peak (ONNX Runtime's arena). Measured on int8 ONNX, 512-token passages: 8 rows +485 MB,
# 2 rows +118 MB, at the same tokens/s. Two full-length rows; 32 rows of 128 tokens.
_MAX_BATCH_ATTENTION = 2 * 512 * 512
_SMALL_BATCH_TOKENS = 256  # batches this small (queries) run on one thread
_PROBE_MIN, _PROBE_MAX = 8, 64  # batches between tries of the other thread count
_SWITCH_GAIN = 1.15
# Padded widths are rounded up to a multiple of this: oneDNN builds (and caches, never
# freeing) kernels per input shape, so free-form widths cost time and ~8 MB RSS per new shape.
_WIDTH_STEP = 32


@dataclass
class ThreadPolicy:
    """Picks, per batch, between all intra-op threads and one thread from measured speed.

    Runs on the current choice, and after every `interval` batches (or sooner when
    the current speed falls below the other count's last measured speed) tries
    the other count once; switches when that batch was `_SWITCH_GAIN` times
    faster. A failed try doubles the interval (up to `_PROBE_MAX`), so a busy
    machine costs little probing. Speeds are in work units per second, with
    work = padded tokens * (1 + width / 450), a rough cost model (attention
    grows with length). Only used when the model runs on the CPU.
    """

    fixed: int | None = None  # always use this many threads (benchmarks); None: adapt
    rates: dict[int, float] = field(default_factory=dict)
    current: int = 0
    since_probe: int = 0
    interval: int = _PROBE_MIN

    def choose(self, most: int, tokens: int) -> int:
        """Thread count for a batch of `tokens` padded tokens when `most` threads are allowed."""
        if self.fixed is not None:
            return self.fixed
        if most <= 1 or tokens <= _SMALL_BATCH_TOKENS:
            return 1
        if self.current not in (1, most):  # first call, or the caller changed its thread count
            self.current, self.rates, self.since_probe, self.interval = most, {}, 0, _PROBE_MIN
        other = 1 if self.current == most else most
        now, then = self.rates.get(self.current), self.rates.get(other)
        due = self.since_probe >= self.interval
        fell_behind = now is not None and then is not None and self.since_probe >= 2 and now * _SWITCH_GAIN < then
        if now is not None and (then is None or due or fell_behind):
            self.since_probe = 0
            return other
        self.since_probe += 1
        return self.current

    def record(self, threads: int, work: float, seconds: float) -> None:
        """Feed back how long a batch of `work` units took on `threads` threads."""
        if self.fixed is not None:
            return
        rate = work / max(seconds, 1e-6)
        log.debug("batch on %d thread(s): %.0f work/s", threads, rate)
        if threads == self.current:
            old = self.rates.get(threads)
            self.rates[threads] = rate if old is None else 0.5 * (old + rate)
            return
        self.rates[threads] = rate
        if rate > _SWITCH_GAIN * self.rates.get(self.current, 0.0):
            log.info("embedding on %d thread(s): %.0f vs %.0f work/s", threads, rate, self.rates.get(self.current, 0.0))
            self.current, self.interval = threads, _PROBE_MIN
        else:
            self.interval = min(2 * self.interval, _PROBE_MAX)


POLICY = ThreadPolicy()  # process-wide, so what one call learns carries over to the next


def bf16_is_fast() -> bool:
    """True when this CPU has native bfloat16 matrix units (AMX or AVX512-BF16).

    torch reports what the CPU has; a lower `ONEDNN_MAX_CPU_ISA` cap takes the units
    away from oneDNN, so the cap is checked too.
    """
    import os

    import torch

    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if cap and cap not in ("ALL", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
                           "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512",
                           "AVX10_2_512_AMX_2"):
        return False
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # older torch
        return False


def _transformer(model: SentenceTransformer):
    """The model's first module when it is a sentence-transformers Transformer, else None."""
    from sentence_transformers.models import Transformer

    first = model[0] if len(model) else None
    return first if isinstance(first, Transformer) else None


def single_threaded_numpy_blas() -> None:
    """Run numpy's and scipy's OpenBLAS on one thread, process-wide.

    OpenBLAS worker threads busy-wait for a while after each call. On this 2-core CPU,
    one 2,164 x 384 mat-vec (the dense scores) left them spinning long enough to make
    the next encode ~1.9x slower (sentence reranker batch: 86 -> 160 ms). numpy's BLAS
    work in this product is tiny, so torch keeps the cores.
    """
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except Exception as exc:  # noqa: BLE001 - only speed is at stake
        log.warning("could not limit numpy's BLAS threads: %s", exc)


def prepare(model: SentenceTransformer, *, bf16: bool | None = None) -> SentenceTransformer:
    """Make `model` fast for CPU inference (in place) and return it.

    The transformer module is cast to bfloat16 when `bf16` is True, or when it is
    None (the default) and the model runs on a CPU with native bf16 support.
    Pooling and later modules stay in float32. A short warm-up forward pass is
    run so the first real query does not pay oneDNN's start-up cost.
    """
    import torch

    model.eval()
    first = _transformer(model)
    on_cpu = model.device.type == "cpu"
    if on_cpu:
        single_threaded_numpy_blas()
    use_bf16 = (on_cpu and bf16_is_fast()) if bf16 is None else bf16
    if first is not None and use_bf16:
        first.to(torch.bfloat16)
    log.info(
        "embedding model prepared: dtype=%s threads=%d device=%s",
        "bfloat16" if first is not None and use_bf16 else "unchanged",
        torch.get_num_threads(),
        model.device,
    )
    encode(model, ["warm up", "a somewhat longer warm up text " * 4], prefix="query: ")
    return model


class Encoder(Protocol):
    """One encoder path: padded token ids in, pooled (not yet normalised) float32 vectors out."""

    path: str  # "fp32", "bf16", "onnx" or "onnx-int8"
    dim: int
    max_length: int  # longest input the model takes, in tokens
    max_threads: int  # most threads one batch may use
    adaptive_threads: bool  # True: ThreadPolicy picks 1 or max_threads per batch

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray, threads: int) -> np.ndarray: ...

    def finish(self) -> None:
        """Called after each `encode_with` (restore process-wide state such as thread counts)."""
        ...


class TorchEncoder:
    """The PyTorch path: a sentence-transformers model (Transformer + Pooling [+ Normalize])."""

    adaptive_threads = True

    def __init__(self, model: SentenceTransformer, *, bf16: bool = False, warm: bool = True):
        import torch

        self.path = "bf16" if bf16 else "fp32"
        self.model = prepare(model, bf16=bf16) if warm else model.eval()
        if not warm and bf16:
            model[0].to(torch.bfloat16)
        self.first = _transformer(model)
        if self.first is None:
            raise ValueError("the model's first module is not a sentence-transformers Transformer")
        self.rest = list(model)[1:]
        self.dim = _dimension(model)
        self.max_length = min(int(model.max_seq_length or MAX_TOKENS), MAX_TOKENS)
        self.max_threads = torch.get_num_threads()
        self.on_cpu = model.device.type == "cpu"

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray, threads: int) -> np.ndarray:
        import torch

        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        device = self.model.device
        with torch.inference_mode():
            features = {"input_ids": torch.from_numpy(input_ids).to(device),
                        "attention_mask": torch.from_numpy(attention_mask).to(device)}
            features = self.first(features)
            features["token_embeddings"] = features["token_embeddings"].float()
            for module in self.rest:
                features = module(features)
            return features["sentence_embedding"].float().cpu().numpy()

    def finish(self) -> None:
        import torch

        if torch.get_num_threads() != self.max_threads:
            torch.set_num_threads(self.max_threads)


def _batches(lengths: list[int], batch_tokens: int) -> list[list[int]]:
    """Group indices, longest first, so that count * longest (padded) length <= batch_tokens
    and count * longest² <= _MAX_BATCH_ATTENTION."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # `order` is descending, so current[0] is the longest (padded) length
        width = lengths[current[0]] if current else lengths[i]
        if current and ((len(current) + 1) * width > batch_tokens or len(current) >= _MAX_BATCH_TEXTS
                        or (len(current) + 1) * width * width > _MAX_BATCH_ATTENTION):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _bucket(length: int, max_len: int) -> int:
    """`length` rounded up to a multiple of `_WIDTH_STEP` (at most `max_len`)."""
    return max(length, min(-(-length // _WIDTH_STEP) * _WIDTH_STEP, max_len))


def _dimension(model: SentenceTransformer) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _pad(rows: list[list[int]], pad_id: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token id lists to `width` columns: input_ids and attention_mask (int64)."""
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for n, row in enumerate(rows):
        input_ids[n, : len(row)] = row
        mask[n, : len(row)] = 1
    return input_ids, mask


def encode_with(
    encoder: Encoder,
    tokenizer,
    texts: list[str],
    prefix: str,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    progress: Callable[[int], None] | None = None,
    max_tokens: int = MAX_TOKENS,
    policy: ThreadPolicy | None = None,
    lock: AbstractContextManager | None = None,
) -> np.ndarray:
    """Embed `texts` (already stripped) with `prefix` prepended, through `encoder`.

    Returns L2-normalised float32 embeddings of shape (len(texts), dim) in input
    order. Texts are NFC-normalised (decomposed Hangul tokenises differently),
    sorted by token length and batched by a token budget; inputs longer than the
    model's limit (at most 512 tokens, or `max_tokens`) are truncated.
    `progress` is called after each batch with the number of texts done so far. `lock` (an encoder
    shared by threads) is held per batch, so a question never waits for a whole document.
    """
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    lock = lock or nullcontext()
    policy = policy or getattr(encoder, "policy", None) or POLICY
    max_len = min(encoder.max_length, MAX_TOKENS, max_tokens)
    inputs = [unicodedata.normalize("NFC", prefix + t) for t in texts]
    ids = tokenizer(inputs, truncation=True, max_length=max_len)["input_ids"]
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    done = 0
    most = encoder.max_threads
    pad_id = tokenizer.pad_token_id or 0
    try:
        widths = [_bucket(len(x), max_len) for x in ids]
        for batch in _batches(widths, batch_tokens):
            input_ids, mask = _pad([ids[i] for i in batch], pad_id, widths[batch[0]])
            rows, width = input_ids.shape
            threads = policy.choose(most, rows * width) if encoder.adaptive_threads else most
            with lock:
                started = time.perf_counter()
                vectors = np.asarray(encoder.run(input_ids, mask, threads), dtype=np.float32)
                encoder.finish()
            if encoder.adaptive_threads and rows * width > _SMALL_BATCH_TOKENS:
                policy.record(threads, rows * width * (1 + width / 450), time.perf_counter() - started)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[batch] = vectors / np.maximum(norms, 1e-12)
            done += len(batch)
            if progress is not None:
                progress(done)
    finally:
        with lock:
            encoder.finish()
    return out


def encode(
    model: SentenceTransformer,
    texts: list[str],
    prefix: str,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    progress: Callable[[int], None] | None = None,
    max_tokens: int = MAX_TOKENS,
) -> np.ndarray:
    """`encode_with` for a sentence-transformers model as it is (its dtype unchanged).

    Models whose first module is not a Transformer go through the library's own encode.
    """
    if not texts:
        return np.zeros((0, _dimension(model)), dtype=np.float32)
    if _transformer(model) is None:
        out = model.encode([prefix + t for t in texts], batch_size=16, normalize_embeddings=True)
        if progress is not None:
            progress(len(texts))
        return np.asarray(out, dtype=np.float32)
    encoder = TorchEncoder(model, warm=False)
    return encode_with(encoder, model.tokenizer, texts, prefix, batch_tokens, progress, max_tokens)
