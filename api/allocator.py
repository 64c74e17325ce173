"""Process memory tuning at the edges: keep freed heap memory for reuse instead of returning it to the OS.

A Monte Carlo run allocates and frees a few hundred arrays of about 1 MB (paths x years, float64). With
glibc's defaults each one is its own ``mmap``: freed at once and page-faulted in again by the next run,
which costs about half the time of the paths (``make bench`` prints both). Raising the mmap threshold to its
ceiling and the trim threshold above a run's working set lets those blocks be reused from the heap. The
cost is resident memory: the process keeps up to ``TRIM_THRESHOLD_BYTES`` of free heap between runs; after a
version swap or a refresh ``api.service.release_memory`` still hands the free heap back (``malloc_trim``).

glibc ``mallopt``: https://man7.org/linux/man-pages/man3/mallopt.3.html. Elsewhere (musl, macOS) it is a
no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import cast

M_TRIM_THRESHOLD = -1  # glibc malloc.h parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
# Free heap kept before trimming: a Monte Carlo's working set. Measured with 4,096 paths (quantile_table):
# 128 MB keeps the whole gain (69 ms, against 167 ms with glibc's defaults); 64 MB loses it (137 ms).
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024


def retain_freed_memory() -> bool:
    """Ask glibc to serve large arrays from the heap and keep freed memory; True when it accepted both."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    mmap_ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    trim_ok = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    return bool(mmap_ok) and bool(trim_ok)


def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, from the C library by name or, where ``ldconfig`` is absent, the process's symbols."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name is not None else ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return cast(Callable[[int, int], int], mallopt)
