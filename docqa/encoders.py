"""Encoder paths for the embedding model, and the choice between them on this machine.

Every path takes padded token ids and returns pooled vectors (`fast_encode.Encoder`):

- `fp32`: PyTorch, float32 (the reference every other path is checked against);
- `bf16`: PyTorch with the transformer in bfloat16, tried only where the CPU has native
  bf16 units (AMX, AVX512-BF16): elsewhere oneDNN emulates it, ~4x slower than fp32;
- `onnx`: ONNX Runtime, the model (with its pooling) exported once into
  `models/encoders/<model>/model.onnx`, graph optimisations on;
- `onnx-int8`: that graph with 8-bit weights (per output channel) and 8-bit activations
  quantized per batch (dynamic quantization), the layers that lose most left in fp32,
  for passages; queries and other short inputs (<= 64 tokens: per-batch activation
  ranges lose most there, cosine ~0.9987, and they cost little) run the fp32 graph with
  8-bit embedding tables instead (~0.99997).

`select_encoder` measures the paths once per machine and model on bundled Korean text
(대한민국헌법, `docqa/data`), keeps the fastest whose vectors agree with fp32 (cosine
mean >= 0.999 and min >= 0.995) and caches that choice as JSON beside the ONNX files,
keyed by model id and revision, CPU flags, active instruction-set caps and library
versions. Later starts load the chosen path directly: the ONNX paths without importing
torch. `RAG_ENCODER` (docqa.config) forces a path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from docqa import fast_encode
from docqa.memory import trim_heap
from docqa.tokenizer import load_tokenizer, read_json

log = logging.getLogger(__name__)

PATHS = ("fp32", "bf16", "onnx", "onnx-int8")
PATH_LABELS = {"fp32": "PyTorch fp32", "bf16": "PyTorch bf16", "onnx": "ONNX Runtime fp32",
               "onnx-int8": "ONNX Runtime int8(질의는 fp32)"}
GATE_MEAN, GATE_MIN = 0.999, 0.995
SHORT_TOKENS = 64  # onnx-int8: batches this narrow run the query graph (see above)
CHOICE_VERSION = 3  # bump when the measurement or the key changes: old choices are re-measured
EXPORT_VERSION = 2  # bump when the exported graph or the quantization recipe changes
# Dynamic int8 on multilingual-e5-small (cosine to fp32 over real PDF passages, mean/min):
# every MatMul int8 0.9957/0.9923; without the 12 FFN output projections (their input, after
# GELU, has the widest range) 0.9988/0.9979 with int8 weights and 0.9993/0.9990 with uint8
# weights: on CPUs without VNNI, MLAS multiplies uint8 x int8 in 16-bit pairs that saturate,
# uint8 x uint8 does not (reduce_range: 0.9991). So: uint8 weights, FFN outputs kept fp32.
INT8_KEEP_FP32 = re.compile(r"layer\.\d+/output/dense/")
CONSTITUTION = Path(__file__).parent / "data" / "constitution_ko.txt"
CALIBRATION_QUERIES = [  # latency probes and short inputs for the cosine check (not quality questions)
    "대통령의 임기는 몇 년인가?",
    "국회의원 선거권은 누구에게 있나요?",
    "헌법재판소는 어떤 사건을 심판하나요?",
    "근로자의 단결권과 단체교섭권은 어떻게 보장되나?",
    "국민의 납세의 의무",
    "지방자치단체의 종류는 법률로 정한다는 조항",
]


@dataclass(frozen=True)
class PathResult:
    """One path's measurement on the calibration passages."""

    path: str
    tokens_per_s: float
    query_ms: float
    cosine_mean: float
    cosine_min: float

    @property
    def passed(self) -> bool:
        return self.cosine_mean >= GATE_MEAN and self.cosine_min >= GATE_MIN


@dataclass(frozen=True)
class EncoderChoice:
    """Which encoder path runs and why (shown in the sidebar and the CLI)."""

    path: str
    reason: str  # Korean
    tokens_per_s: float | None = None
    query_ms: float | None = None
    cosine_mean: float | None = None
    cosine_min: float | None = None
    source: str = "measured"  # "measured" now, "cached" from an earlier measurement, "forced" by RAG_ENCODER
    measured: tuple[PathResult, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it was not measured
    key: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # time the measurement took

    @property
    def label(self) -> str:
        return PATH_LABELS.get(self.path, self.path)

    def summary(self) -> str:
        """One Korean line for the CLI and the sidebar."""
        speed = f" · {self.tokens_per_s:,.0f} 토큰/초" if self.tokens_per_s else ""
        return f"{self.label}{speed} — {self.reason}"

    def to_json(self) -> dict:
        return {**asdict(self), "measured": [asdict(m) for m in self.measured], "version": CHOICE_VERSION}

    @classmethod
    def from_json(cls, data: dict) -> EncoderChoice:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["measured"] = tuple(PathResult(**m) for m in data.get("measured", []))
        return cls(**fields)


# --------------------------------------------------------------------------- machine key
def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def cpu_description() -> str:
    """CPU model and the instruction-set flags that decide the fast path (no torch import)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name.startswith("model:"):
                name = "model:" + value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:  # not Linux: the model name from platform is all we have
        pass
    wanted = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c", "sse4")))
    return f"{name}; {' '.join(wanted)}; {os.cpu_count()} cpus"


def isa_caps() -> dict[str, str]:
    """The instruction-set caps in force (they can only lower the level; empty: none)."""
    return {k: os.environ.get(k, "") for k in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY")}


def machine_key(model_id: str, revision: str) -> dict[str, str]:
    """What the cached choice depends on."""
    return {
        "model": model_id, "revision": revision, "cpu": cpu_description(),
        **{k.lower(): v for k, v in isa_caps().items()},
        "torch": _version("torch"), "onnxruntime": _version("onnxruntime"),
        "threads": str(onnx_threads()), "version": str(CHOICE_VERSION),
    }


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def artefact_dir(models_dir: Path, model_id: str, revision: str) -> Path:
    """Where this model's ONNX files and encoder choices live."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-._")[-40:] or "model"
    return Path(models_dir) / "encoders" / f"{slug}-{_hash([model_id, revision])[:8]}"


# --------------------------------------------------------------------------- calibration text
def calibration_passages(max_chars: int = 14_000) -> list[str]:
    """Articles of 대한민국헌법 packed into passages of varied length (about 20 to 400 tokens)."""
    text = CONSTITUTION.read_text(encoding="utf-8")
    pieces = [p.strip() for p in re.split(r"\n(?=\s*제\d+조)|\n\s*\n", text) if p.strip()]
    targets = (60, 180, 420, 900)  # characters: short, medium, long and truncated-at-512-token passages
    passages: list[str] = []
    current, total = "", 0
    for piece in pieces:
        current = f"{current}\n{piece}" if current else piece
        if len(current) >= targets[len(passages) % len(targets)]:
            passages.append(re.sub(r"[ \t]+", " ", current))
            total += len(current)
            current = ""
            if total >= max_chars:
                break
    return passages


# --------------------------------------------------------------------------- ONNX Runtime
def onnx_threads() -> int:
    """Intra-op threads for ONNX Runtime: the physical cores we may use, at most 8.

    On 2 cores both; on big machines more threads stop paying for batches of a few
    thousand tokens and only add synchronisation.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or usable
    except ImportError:
        physical = usable
    return max(1, min(usable, physical, 8))


@cache
def _shared_arena() -> bool:
    """Registers one CPU arena allocator for all ONNX Runtime sessions of this process (once)."""
    import onnxruntime as ort

    try:
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))
        return True
    except Exception as exc:  # noqa: BLE001 - sessions then keep arenas of their own
        log.warning("ONNX Runtime: no shared arena (%s)", exc)
        return False


class OnnxEncoder:
    """ONNX Runtime sessions over an exported graph (input_ids, attention_mask -> pooled).

    One session per thread count, made on first use: as on PyTorch, `fast_encode`'s
    ThreadPolicy runs small batches (queries) on one thread and picks 1 or all threads
    for bulk batches from measured speed. Measured under a load average of ~12 on 2
    cores: a 2-thread session waits on the scheduler at every operator (single query
    ~150 ms, 30 short sentences ~5 s), a 1-thread one does not.
    """

    query_encoder: OnnxEncoder | None = None  # runs queries when set (onnx-int8)

    def __init__(self, model_file: Path, path: str, dim: int, max_length: int = fast_encode.MAX_TOKENS,
                 threads: int | None = None):
        self.file = Path(model_file)
        self.path = path
        self.dim = dim
        self.max_length = max_length
        self.max_threads = threads or onnx_threads()
        self.adaptive_threads = self.max_threads > 1
        self.policy = fast_encode.ThreadPolicy()  # its own: speeds differ from PyTorch's
        self._sessions: dict[int, object] = {}
        self.inputs = {i.name for i in self._session(1).get_inputs()}

    def _session(self, threads: int):
        session = self._sessions.get(threads)
        if session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if _shared_arena():
                # every session of the process (1 and 2 threads, the query graph) draws its
                # activations from one arena: measured, each arena of its own keeps ~480 MB after
                # a batch of 512-token passages, at the same speed
                options.add_session_config_entry("session.use_env_allocators", "1")
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # spinning workers steal the cores from everything else on a shared PC
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            session = ort.InferenceSession(str(self.file), options, providers=["CPUExecutionProvider"])
            self._sessions[threads] = session
        return session

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray, threads: int) -> np.ndarray:
        if self.query_encoder is not None and input_ids.shape[1] <= SHORT_TOKENS:
            return self.query_encoder.run(input_ids, attention_mask, threads)
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        return self._session(threads if threads in (1, self.max_threads) else self.max_threads).run(None, feed)[0]

    def finish(self) -> None:
        pass


def _modules(model_dir: Path) -> list[dict]:
    try:
        return json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


def onnx_pooling(model_dir: Path) -> str | None:
    """"mean" or "cls" when the model is Transformer + Pooling (+ Normalize), which the export
    reproduces; None for anything else (those models stay on PyTorch)."""
    modules = _modules(model_dir)
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    try:
        config = json.loads((model_dir / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if config.get("pooling_mode_mean_tokens") and not config.get("pooling_mode_cls_token"):
        return "mean"
    if config.get("pooling_mode_cls_token") and not config.get("pooling_mode_mean_tokens"):
        return "cls"
    return None


def _model_config(model_dir: Path) -> dict:
    sub = _modules(model_dir)[0].get("path", "") if _modules(model_dir) else ""
    return json.loads((model_dir / sub / "config.json").read_text(encoding="utf-8"))


def export_onnx(model_dir: Path, target: Path) -> Path:
    """Export the transformer and its pooling to `target` (fp32 ONNX, dynamic batch and length)."""
    import torch
    from transformers import AutoModel

    pooling = onnx_pooling(model_dir)
    if pooling is None:
        raise ValueError(f"{model_dir}: not a Transformer + mean/cls Pooling model")
    sub = _modules(model_dir)[0].get("path", "")
    # eager attention traces to plain MatMul/Softmax, which ONNX Runtime fuses into its Attention kernel
    model = AutoModel.from_pretrained(str(model_dir / sub), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.model = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if pooling == "cls":
                return hidden[:, 0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    example = (torch.ones((2, 16), dtype=torch.long), torch.ones((2, 16), dtype=torch.long))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shapes it treats as constants: checked by the tests
            torch.onnx.export(
                Pooled(model).eval(), example, str(tmp / "model.onnx"), dynamo=False, opset_version=17,
                input_names=["input_ids", "attention_mask"], output_names=["pooled"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "pooled": {0: "batch"}},
            )
        os.replace(tmp / "model.onnx", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantization of `source`: MatMul weights per output channel (uint8),
    activations per batch; the embedding tables (Gather) too (470 -> 133 MB, cosine -0.00003);
    the FFN output projections stay fp32 (INT8_KEEP_FP32)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and INT8_KEEP_FP32.search(n.name)]
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    logging.disable(logging.WARNING)  # the quantizer logs every tensor (and generic advice) on the root logger
    try:
        quantize_dynamic(str(source), str(tmp), per_channel=True, weight_type=QuantType.QUInt8,
                         op_types_to_quantize=["MatMul", "Gather"], nodes_to_exclude=keep)
        os.replace(tmp, target)
    finally:
        logging.disable(logging.NOTSET)
        tmp.unlink(missing_ok=True)
    return target


def quantize_embeddings(source: Path, target: Path) -> Path:
    """`source` with only its embedding tables (Gather) in int8: the onnx-int8 path's query graph."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(str(source), str(tmp), per_channel=True, weight_type=QuantType.QUInt8,
                         op_types_to_quantize=["Gather"])
        os.replace(tmp, target)
    finally:
        logging.disable(logging.NOTSET)
        tmp.unlink(missing_ok=True)
    return target


def onnx_file(model_dir: Path, folder: Path, path: str) -> Path:
    """The ONNX file of `path` ("onnx", "onnx-int8" or "onnx-int8-query") under `folder`, built
    when missing or stale."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp_file = folder / "export.json"
    stamp = {"export_version": EXPORT_VERSION, "torch": _version("torch"), "onnx": _version("onnx"),
             "onnxruntime": _version("onnxruntime"), "transformers": _version("transformers")}
    fp32, int8, query = folder / "model.onnx", folder / "model-int8.onnx", folder / "model-int8-query.onnx"
    current = read_json(stamp_file)
    if {k: current.get(k) for k in stamp} != stamp:
        for stale in (fp32, int8, query):
            stale.unlink(missing_ok=True)
    if not fp32.exists():
        t0 = time.perf_counter()
        export_onnx(model_dir, fp32)
        log.info("exported %s to ONNX in %.1fs: %s", model_dir, time.perf_counter() - t0, fp32)
        _write_json(stamp_file, {**stamp, "model_dir": str(model_dir), "export_s": time.perf_counter() - t0})
    if path == "onnx":
        return fp32
    if path == "onnx-int8-query":
        if not query.exists():
            quantize_embeddings(fp32, query)
        return query
    if not int8.exists():
        t0 = time.perf_counter()
        quantize_int8(fp32, int8)
        log.info("quantized to int8 in %.1fs: %s", time.perf_counter() - t0, int8)
    return int8


# --------------------------------------------------------------------------- loading and measuring
def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _sentence_transformer(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


def load_path(path: str, model_dir: Path, folder: Path, dim: int | None = None):
    """An encoder for `path` over the model in `model_dir` (ONNX files under `folder`)."""
    if path in ("fp32", "bf16"):
        return fast_encode.TorchEncoder(_sentence_transformer(model_dir), bf16=path == "bf16")
    if path not in ("onnx", "onnx-int8"):
        raise ValueError(f"unknown encoder path {path!r} (one of {', '.join(PATHS)})")
    if onnx_pooling(model_dir) is None:
        raise ValueError(f"{model_dir}: ONNX paths need a Transformer + mean/cls Pooling model")
    config = _model_config(model_dir)
    dim = dim or int(config["hidden_size"])
    max_length = min(int(config.get("max_position_embeddings", 512)), fast_encode.MAX_TOKENS)
    if config.get("model_type") in ("xlm-roberta", "roberta", "camembert"):
        max_length = min(max_length, int(config.get("max_position_embeddings", 514)) - 2)
    encoder = OnnxEncoder(onnx_file(model_dir, folder, path), path, dim, max_length)
    fast_encode.single_threaded_numpy_blas()
    encoder.run(*_warm_batch(), 1)
    if path == "onnx-int8":
        encoder.query_encoder = OnnxEncoder(onnx_file(model_dir, folder, "onnx-int8-query"), path, dim, max_length)
        encoder.query_encoder.run(*_warm_batch(), 1)
    return encoder


def _warm_batch() -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((2, 32), 5, dtype=np.int64)
    ids[:, 0], ids[:, -1] = 0, 2
    return ids, np.ones_like(ids)


def query_path(encoder):
    """The encoder that embeds queries: `encoder.query_encoder` when it has one."""
    return getattr(encoder, "query_encoder", None) or encoder


def _measure(encoder, tokenizer, passages: list[str], queries: list[str], rounds: int
             ) -> tuple[np.ndarray, float, float]:
    """Vectors (passages then queries), best passage-batch time over `rounds`, median query ms."""
    fast_encode.encode_with(encoder, tokenizer, passages[:4], "passage: ")  # warm-up
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        vectors = fast_encode.encode_with(encoder, tokenizer, passages, "passage: ")
        best = min(best, time.perf_counter() - t0)
    latencies, query_vectors = [], []
    for q in queries + queries:
        t0 = time.perf_counter()
        query_vectors.append(fast_encode.encode_with(query_path(encoder), tokenizer, [q], "query: ")[0])
        latencies.append((time.perf_counter() - t0) * 1000)
    return np.vstack([vectors, np.asarray(query_vectors[: len(queries)])]), best, float(np.median(latencies))


def measure_paths(model_dir: Path, folder: Path, paths: list[str], rounds: int = 2,
                  passages: list[str] | None = None) -> tuple[dict[str, PathResult], dict[str, str], dict]:
    """Measure `paths` (fp32 always, as the reference) on the calibration passages.

    Returns the results, the paths that could not run (path -> Korean reason) and the
    loaded encoders (path -> encoder), so the caller can keep the chosen one.
    """
    tokenizer = load_tokenizer(model_dir)
    passages = passages or calibration_passages()
    queries = CALIBRATION_QUERIES
    tokens = sum(len(x) for x in tokenizer(["passage: " + p for p in passages], truncation=True,
                                           max_length=fast_encode.MAX_TOKENS)["input_ids"])
    encoders, skipped = {}, {}
    for path in ["fp32", *[p for p in paths if p != "fp32"]]:
        try:
            encoders[path] = load_path(path, model_dir, folder)
        except Exception as exc:  # noqa: BLE001 - a path that can't load is skipped, with the reason shown
            log.warning("encoder path %s unavailable: %s", path, exc, exc_info=True)
            skipped[path] = f"불러오지 못함({type(exc).__name__})"
    results: dict[str, PathResult] = {}
    vectors, seconds, query_ms = {}, {}, {}
    for _ in range(rounds):  # alternate the paths so a burst of other work doesn't favour one
        for path, encoder in encoders.items():
            v, s, q = _measure(encoder, tokenizer, passages, queries, 1)
            vectors[path] = v
            seconds[path] = min(seconds.get(path, float("inf")), s)
            query_ms[path] = min(query_ms.get(path, float("inf")), q)
    reference = vectors["fp32"]
    for path in encoders:
        cosine = (vectors[path] * reference).sum(axis=1)
        results[path] = PathResult(path, tokens / seconds[path], query_ms[path], float(cosine.mean()),
                                   float(cosine.min()))
        log.info("encoder %s: %.0f tokens/s, query %.1f ms, cosine mean %.5f min %.5f", path,
                 results[path].tokens_per_s, query_ms[path], cosine.mean(), cosine.min())
    return results, skipped, encoders


def _candidates(model_dir: Path) -> tuple[list[str], dict[str, str]]:
    paths, skipped = ["fp32"], {}
    if fast_encode.bf16_is_fast():
        paths.append("bf16")
    else:
        skipped["bf16"] = "이 CPU에는 bf16 연산 장치가 없어(에뮬레이션되어 fp32보다 느림) 측정하지 않음"
    if onnx_pooling(model_dir) is None:
        skipped["onnx"] = skipped["onnx-int8"] = "모델 구성이 ONNX 내보내기를 지원하지 않음"
    else:
        paths += ["onnx", "onnx-int8"]
    return paths, skipped


def _reason(best: PathResult, results: dict[str, PathResult], skipped: dict[str, str]) -> str:
    base = results["fp32"]
    failed = [f"{PATH_LABELS[r.path]}은 코사인 {r.cosine_mean:.4f}/최소 {r.cosine_min:.4f}로 품질 기준 미달"
              for r in results.values() if not r.passed]
    if best.path == "fp32":
        why = "측정한 다른 경로가 더 빠르지 않았습니다"
    else:
        why = (f"fp32보다 {best.tokens_per_s / base.tokens_per_s:.1f}배 빠르고 코사인 {best.cosine_mean:.4f}"
               f"(최소 {best.cosine_min:.4f})")
    return "; ".join([f"{PATH_LABELS[best.path]}: {why}", *failed])


def select_encoder(model_dir: Path, models_dir: Path, model_id: str, revision: str, forced: str = "auto"):
    """(encoder, tokenizer, EncoderChoice) for this model on this machine.

    `forced` is "auto" (measure once, then reuse the cached choice) or one of PATHS.
    """
    if forced not in ("", "auto", *PATHS):
        raise ValueError(f"RAG_ENCODER={forced!r}: one of auto, {', '.join(PATHS)}")
    model_dir = Path(model_dir)
    folder = artefact_dir(models_dir, model_id, revision)
    key = machine_key(model_id, revision)
    choice_file = folder / f"choice-{_hash(key)}.json"
    cached = read_json(choice_file)
    previous = EncoderChoice.from_json(cached) if cached.get("version") == CHOICE_VERSION else None
    tokenizer = load_tokenizer(model_dir)
    if forced not in ("", "auto"):
        encoder = load_path(forced, model_dir, folder)
        known = {r.path: r for r in previous.measured} if previous else {}
        r = known.get(forced)
        note = "" if forced != "bf16" or fast_encode.bf16_is_fast() else " (이 CPU에는 bf16 연산 장치가 없어 느립니다)"
        choice = EncoderChoice(forced, f"RAG_ENCODER 설정으로 {PATH_LABELS[forced]}을 사용합니다{note}.",
                               r.tokens_per_s if r else None, r.query_ms if r else None,
                               r.cosine_mean if r else None, r.cosine_min if r else None, "forced",
                               previous.measured if previous else (), key=key)
        return encoder, tokenizer, choice
    if previous is not None and previous.path in PATHS:
        try:
            encoder = load_path(previous.path, model_dir, folder)
            log.info("encoder path %s (chosen earlier on this machine: %s)", previous.path, choice_file)
            return encoder, tokenizer, replace(previous, source="cached")
        except Exception as exc:  # noqa: BLE001 - a cached choice that no longer loads is measured again
            log.warning("cached encoder choice %s failed to load (%s); measuring again", previous.path, exc)
    t0 = time.perf_counter()
    paths, skipped = _candidates(model_dir)
    log.info("choosing the encoder path for %s on this machine: measuring %s", model_id, ", ".join(paths))
    results, failed, encoders = measure_paths(model_dir, folder, paths)
    skipped.update(failed)
    passing = [r for r in results.values() if r.passed]
    best = max(passing, key=lambda r: r.tokens_per_s)
    choice = EncoderChoice(best.path, _reason(best, results, skipped), best.tokens_per_s, best.query_ms,
                           best.cosine_mean, best.cosine_min, "measured", tuple(results.values()), skipped, key,
                           time.perf_counter() - t0)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(choice_file, choice.to_json())
    encoder = encoders.pop(best.path)
    encoders.clear()
    trim_heap()  # the other paths' weights go now and leave the process (measured: 2,187 → 1,461 MB)
    log.info("encoder path: %s", choice.summary())
    return encoder, tokenizer, choice
