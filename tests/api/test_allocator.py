"""Process memory tuning: glibc keeps freed arrays for reuse; elsewhere it is a no-op."""

from __future__ import annotations

import ctypes.util
import platform

import numpy as np
import pytest

from api.allocator import retain_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_both_thresholds():
    assert retain_freed_memory() is True
    # arrays still allocate, fill and free as before
    blocks = [np.full((4096, 32), float(i)) for i in range(64)]
    assert sum(float(b[0, 0]) for b in blocks) == sum(range(64))


def test_without_a_c_library_it_does_nothing(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert retain_freed_memory() is False
