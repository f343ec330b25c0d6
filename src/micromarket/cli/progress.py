"""Rich progress on stderr, so that ``--json`` output on stdout stays clean."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

stderr = Console(stderr=True)


@contextmanager
def steps(title: str, names: list[str]):
    """A bar over named steps; yields ``advance(name)`` to call as each step starts."""
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=stderr, transient=False) as progress:
        task = progress.add_task(title, total=len(names))
        seen: list[str] = []

        def advance(name: str) -> None:
            if seen:
                progress.advance(task)
            seen.append(name)
            progress.update(task, description=f"{title}: {name}")

        yield advance
        progress.update(task, completed=len(names), description=f"{title}: done")


@contextmanager
def counter(title: str, total: int):
    """A bar over ``total`` items; yields ``update(done, total)``."""
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=stderr) as progress:
        task = progress.add_task(title, total=total)

        def update(done: int, _total: int) -> None:
            progress.update(task, completed=done)

        yield update
