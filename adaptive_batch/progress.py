"""A rich progress display for runs: samples spent against budget, queries resolved, tokens/s, ETA."""

from __future__ import annotations

from .execution import RoundProgress


class RunProgress:
    def __init__(self, console):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} samples"),
            TextColumn("{task.fields[resolved]}"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = None

    def __enter__(self) -> "RunProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def update(self, event: RoundProgress) -> None:
        fields = dict(
            resolved=f"resolved {event.resolved}/{event.n_queries}",
            speed=f"{event.completion_tokens / max(event.elapsed_s, 1e-9):.0f} tok/s",
        )
        description = f"{event.phase} r{event.round}"
        if self._task is None:
            self._task = self._progress.add_task(description, total=event.total_budget, **fields)
        self._progress.update(self._task, completed=event.spent, description=description, **fields)
