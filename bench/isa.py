"""Instruction-set levels for the benchmarks: cap oneDNN/MKL to emulate older CPUs, and check the cap.

    python -m bench.isa [--isa LEVEL]     # print what a worker process would run on

A cap can only lower the level: on an AVX2-only CPU, `avx512_core` runs as AVX2 (the
check says so). The caps reach PyTorch only (oneDNN for bf16 and int8, MKL for fp32
matrix products, ATen's own kernels); ONNX Runtime's MLAS picks its kernels from CPUID
and has no cap, so its numbers always come from the CPU's own level.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

# level -> (ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS, ATEN_CPU_CAPABILITY); "" = leave unset.
# ATen is only ever lowered: ATEN_CPU_CAPABILITY=avx512 on an AVX2 CPU is taken at its word.
LEVELS: dict[str, tuple[str, str, str]] = {
    "all": ("", "", ""),
    "avx512_core_amx": ("AVX512_CORE_AMX", "AVX512_E4", ""),
    "avx512_core_bf16": ("AVX512_CORE_BF16", "AVX512_E3", ""),
    "avx512_core": ("AVX512_CORE", "AVX512", ""),
    "avx2": ("AVX2", "AVX2", "avx2"),
    "avx": ("AVX", "AVX", "default"),
    "sse41": ("SSE41", "SSE4_2", "default"),
}
_ENV = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY")

_PROBE = r"""
import json, torch
out = {"aten": torch.backends.cpu.get_cpu_capability()}
with torch.inference_mode():  # a convolution always runs as a oneDNN primitive (the verbose log names its kernel)
    torch.nn.functional.conv2d(torch.randn(4, 16, 32, 32), torch.randn(16, 16, 3, 3))
print("PROBE" + json.dumps(out))
"""


def isa_env(level: str) -> dict[str, str]:
    """Environment variables that cap a child process at `level` ("all": none)."""
    if level not in LEVELS:
        raise SystemExit(f"unknown --isa {level!r}; one of {', '.join(LEVELS)}")
    return {k: v for k, v in zip(_ENV, LEVELS[level]) if v}


def child_env(level: str | None) -> dict[str, str]:
    """os.environ for a worker: capped at `level`, or as inherited when None."""
    env = dict(os.environ)
    if level is not None:
        for k in _ENV:
            env.pop(k, None)
        env.update(isa_env(level))
    return env


def probe(env: dict[str, str] | None = None) -> dict:
    """Run a tiny convolution in a fresh process with oneDNN's verbose log on; what it used.

    Returns the caps in force, oneDNN's detected level and kernel names (e.g. `jit:avx2`
    vs `jit:sse41`) and ATen's capability. MKL (fp32 matrix products) prints no code path
    in its verbose log, so its cap is reported as set, not checked.
    """
    env = dict(env if env is not None else os.environ)
    env["ONEDNN_VERBOSE"] = "all"
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    text = done.stdout + done.stderr
    result: dict = {"caps": {k: env.get(k, "") for k in _ENV}}
    for line in text.splitlines():
        if line.startswith("PROBE"):
            result.update(json.loads(line[5:]))
    isa = re.search(r"onednn_verbose,[^\n]*?info,cpu,isa:([^\n]+)", text)
    result["onednn_isa"] = isa.group(1).strip() if isa else "?"
    kernels = {m.group(1) for m in re.finditer(r"onednn_verbose,v1,primitive,exec,cpu,convolution,([^,]+),", text)}
    result["onednn"] = sorted(kernels) or ["?"]
    if done.returncode != 0:
        result["error"] = text[-500:]
    return result


def describe(result: dict, level: str | None) -> str:
    """One line: requested level, caps, and what oneDNN / MKL / ATen really used."""
    caps = " ".join(f"{k}={v}" for k, v in result["caps"].items() if v) or "no caps"
    line = (f"ISA level {level or 'as inherited'} ({caps}): oneDNN {result['onednn_isa']} "
            f"[convolution kernel {', '.join(result['onednn'])}], ATen {result.get('aten', '?')}, "
            f"MKL cap {result['caps'].get('MKL_ENABLE_INSTRUCTIONS') or 'none'} (not printed by MKL); "
            "onnxruntime: the CPU's own level (MLAS has no cap)")
    if "error" in result:
        line += f"\n  probe failed: {result['error']}"
    return line


def check(level: str | None) -> tuple[str, dict]:
    """Probe a worker environment for `level`; (description, probe result)."""
    result = probe(child_env(level))
    return describe(result, level), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.isa", description=__doc__.split("\n")[0])
    parser.add_argument("--isa", choices=list(LEVELS), help="level to check (default: the inherited environment)")
    args = parser.parse_args(argv)
    print(check(args.isa)[0])


if __name__ == "__main__":
    main()
