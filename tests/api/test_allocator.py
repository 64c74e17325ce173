"""Process memory tuning: glibc keeps freed arrays for reuse; elsewhere it is a no-op."""

from __future__ import annotations

import platform

import pytest

from api import allocator
from api.allocator import retain_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_both_thresholds():
    assert retain_freed_memory() is True


def test_without_mallopt_it_does_nothing(monkeypatch):
    monkeypatch.setattr(allocator, "_mallopt", lambda: None)
    assert retain_freed_memory() is False


def test_mallopt_is_found_without_ldconfig(monkeypatch):
    """Slim images may lack ldconfig (find_library returns None): the process's own symbols still have it."""
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: None)
    assert (allocator._mallopt() is not None) == (platform.libc_ver()[0] == "glibc")
