"""Giving freed memory back to the system (long-lived app and worker processes)."""

from __future__ import annotations

import ctypes
import gc
from functools import cache


@cache
def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def trim_heap() -> None:
    """Collect garbage, then hand the C heap's free pages back to the system (glibc `malloc_trim`).

    Large native buffers (model weights measured and dropped, decoded page images) are freed
    inside the process but stay resident until trimmed. Elsewhere than glibc this only collects.
    """
    gc.collect()
    malloc_trim = getattr(_libc(), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)
