"""Process memory tuning at the edges: keep freed heap memory for reuse instead of returning it to the OS.

A Monte Carlo run allocates and frees a few hundred arrays of about 1 MB (paths x years, float64). With
glibc's defaults each one is its own ``mmap``: freed at once and page-faulted in again by the next run,
which costs about half the time of the paths (``make bench`` prints both). Raising the mmap threshold to its
ceiling and the trim threshold above a run's working set lets those blocks be reused from the heap. The
cost is resident memory: the process keeps its high-water mark (a few hundred MB) instead of shrinking.

glibc ``mallopt``: https://man7.org/linux/man-pages/man3/mallopt.3.html. Elsewhere (musl, macOS) it is a
no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # glibc malloc.h parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024  # free heap kept before trimming: above a Monte Carlo's working set


def retain_freed_memory() -> bool:
    """Ask glibc to serve large arrays from the heap and keep freed memory; True when it accepted both."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
