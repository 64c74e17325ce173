"""Hostile bytes the stores must refuse without running them."""

from __future__ import annotations

from pathlib import Path


def file_creating_pickle(marker: Path) -> bytes:
    """Protocol-0 pickle opcodes that call ``open(marker, 'w')`` when unpickled (creating the file).

    Written out by hand so the tests need no pickle module: what a writable database row or cache
    file could smuggle in. A loader that never unpickles leaves ``marker`` absent.
    """
    return f"cbuiltins\nopen\n(S{str(marker)!r}\nS'w'\ntR.".encode()
