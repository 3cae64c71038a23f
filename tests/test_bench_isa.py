"""bench.isa: a cap set for a worker process really lowers oneDNN's instruction set (real processes)."""

from __future__ import annotations

import pytest

from bench.isa import LEVELS, child_env, isa_env, probe


def test_levels_map_to_the_documented_variables():
    assert isa_env("all") == {}
    assert isa_env("avx2") == {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                               "ATEN_CPU_CAPABILITY": "avx2"}
    assert "ATEN_CPU_CAPABILITY" not in isa_env("avx512_core")  # ATen would take a too-high level at its word
    with pytest.raises(SystemExit):
        isa_env("avx9000")
    assert set(LEVELS) >= {"avx512_core_amx", "avx512_core_bf16", "avx512_core", "avx2", "avx", "sse41"}


def test_a_cap_lowers_the_level_onednn_runs():
    uncapped, capped = probe(child_env("all")), probe(child_env("sse41"))
    assert "error" not in uncapped and "error" not in capped
    assert capped["onednn_isa"] == "Intel SSE4.1" and capped["onednn"] == ["jit:sse41"]
    assert capped["aten"] == "DEFAULT"
    assert uncapped["onednn_isa"] != capped["onednn_isa"]
