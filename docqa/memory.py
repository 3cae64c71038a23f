"""Giving freed memory back to the system (long-lived app and worker processes)."""

from __future__ import annotations

import ctypes
import gc


def trim_heap() -> None:
    """Collect garbage, then hand the C heap's free pages back to the system (glibc `malloc_trim`).

    Large native buffers (model weights measured and dropped, decoded page images) are freed
    inside the process but stay resident until trimmed. Elsewhere than glibc this only collects.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
