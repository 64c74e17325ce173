"""Progress of long work on a terminal (rich), silent when stderr is not a terminal or when asked.

The model reports through a plain callback (:data:`forecast.progress.ProgressFn`); this module turns
it into a progress bar on stderr, so stdout stays the command's output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from forecast.progress import ProgressFn, silent

# Measured on a two-core machine shared with other work (the first fit of the bundled assumptions:
# 473 s; the bundle of every scenario with 10,000 Monte Carlo paths: 106 s). Said once, on a first run.
FIRST_FIT_NOTE = (
    "First run for these assumptions: fitting five forecasting models to every driver series and backtesting "
    "them (usually 3-8 minutes on two cores; the result is cached, later runs take seconds)."
)
BUNDLE_NOTE = "Computing every scenario's demand, supply, gap and Monte Carlo bands (usually 1-2 minutes on two cores)."


def interactive(quiet: bool = False) -> bool:
    """Report progress only to a person: stderr is a terminal and --quiet was not given."""
    return not quiet and sys.stderr.isatty()


def say(message: str, quiet: bool = False) -> None:
    """A one-line note on stderr for a person at a terminal (silent otherwise)."""
    if interactive(quiet):
        Console(stderr=True).print(message, style="dim")


@contextmanager
def reporter(title: str, quiet: bool = False) -> Iterator[ProgressFn]:
    """A progress callback drawing one bar on stderr; a silent callback when not interactive."""
    if not interactive(quiet):
        yield silent
        return
    bar = Progress(
        TextColumn("[bold]{task.fields[title]}[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("", total=None, title=title)
    started = time.monotonic()

    def update(what: str, done: int, total: int) -> None:
        bar.update(task, description=what, completed=done, total=total)

    with bar:
        yield update
    Console(stderr=True).print(f"{title}: done in {time.monotonic() - started:.0f} s", style="dim")
