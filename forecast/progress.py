"""How long work reports how far it is: a callback ``(what, done, total)``, never printing itself."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, int, int], None]


def silent(what: str, done: int, total: int) -> None:
    """The default reporter: says nothing."""
