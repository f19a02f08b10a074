"""Progress displays for runs: what the run is doing from its first second, then samples spent
against the budget, queries resolved, samples and tokens per second, and the time left.

Rates and the time left come from what this process generated (replayed samples cost nothing),
measured from its first generated sample: seconds per sample times the samples left in the
budget. ``RunProgress`` draws a live bar on a terminal; ``PlainProgress`` writes one plain line at
most every ``every_s`` seconds (and at each status), for CI logs, ``nohup`` and pipes.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO, Union

from .costs import format_amount, in_unit
from .events import RoundProgress, Status

Event = Union[Status, RoundProgress]


class _Rates:
    """Samples and tokens per second of this process, and the seconds the budget's rest needs."""

    def __init__(self):
        self._first: Optional[tuple[float, int, int, float]] = None  # (time, samples, tokens, spent) at the first generated one
        self.samples_per_s = self.tokens_per_s = 0.0
        self.eta_s: Optional[float] = None

    def update(self, event: RoundProgress) -> None:
        now = time.monotonic()
        if self._first is None:
            if event.samples_generated:
                self._first = (now, event.samples_generated, event.tokens_generated, event.spent)
            return
        t0, s0, k0, spent0 = self._first
        elapsed = now - t0
        if elapsed <= 0 or event.samples_generated <= s0:
            return
        self.samples_per_s = (event.samples_generated - s0) / elapsed
        self.tokens_per_s = (event.tokens_generated - k0) / elapsed
        # Budget spent per second, in its unit (samples: those generated, replays cost no time).
        per_s = self.samples_per_s if event.unit == "samples" else (event.spent - spent0) / elapsed
        self.eta_s = max(0, event.total_budget - event.spent) / per_s if per_s > 0 else None


def _spent(event: RoundProgress) -> str:
    """Budget spent against the whole, in its unit: "412/1200 samples", "1.21M/3.60M total tokens"."""
    return f"{format_amount(event.spent, event.unit)}/{in_unit(event.total_budget, event.unit)}"


def _compute(event: RoundProgress) -> str:
    """What the samples so far cost, on one row of at most 80 columns."""
    share = f" ({100 * event.cached_tokens / event.prompt_tokens:.0f}% cached)" if event.prompt_tokens else ""
    cost = f" · ${event.cost_usd:.4f}" if event.cost_usd is not None else ""
    return (f"{event.samples} samples · {format_amount(event.completion_tokens, 'tokens')} out · "
            f"{format_amount(event.prompt_tokens, 'tokens')} prompt{share}{cost}")


def _key(unit: str) -> str:
    return {"cost": "cost_usd", "flops": "flops"}.get(unit, unit.replace("-", "_"))


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.6g}"


def _clock(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-:--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RunProgress:
    """The live display on a terminal (rich): the bar on one row, the figures on the next, so
    both fit an 80-column terminal."""

    def __init__(self, console):
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        self._progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=None),
            TextColumn("{task.fields[spent]}"), TimeElapsedColumn(), console=console, expand=True,
        )
        self._task = self._progress.add_task("starting", total=None, spent="")
        self._figures = Text("")
        progress, figures = self._progress, self._figures

        class _Rows:
            def __rich__(self):
                return Group(progress.get_renderable(), figures)

        self._live = Live(_Rows(), console=console, refresh_per_second=10, transient=False)
        self._rates = _Rates()

    def __enter__(self) -> "RunProgress":
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._live.__exit__(*exc)

    def update(self, event: Event) -> None:
        if isinstance(event, Status):
            if event.text.startswith("warning: "):
                self._live.console.print(event.text, soft_wrap=True)  # above the bar, kept on screen
                return
            self._progress.update(self._task, description=event.text)
            return
        self._rates.update(event)
        rates = self._rates
        self._progress.update(self._task, total=event.total_budget, completed=event.spent,
                              description=f"{event.phase} round {event.round}",
                              spent=_spent(event))
        self._figures.plain = (f"  resolved {event.resolved}/{event.n_queries} · {rates.samples_per_s:.2f} samples/s · "
                               f"{rates.tokens_per_s:.0f} tok/s in+out · left {_clock(rates.eta_s)}\n"
                               f"  {_compute(event)}")


class PlainProgress:
    """Plain ``key=value`` lines for logs: no colour, no redraw, no wrapping."""

    def __init__(self, stream: TextIO = sys.stderr, every_s: float = 30.0):
        self.stream, self.every_s = stream, every_s
        self._rates = _Rates()
        self._last: Optional[float] = None

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, event: Event) -> None:
        if isinstance(event, Status):
            self._write(f"status: {event.text}")
            return
        self._rates.update(event)
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        rates = self._rates
        self._write(
            f"progress: phase={event.phase} round={event.round} {_key(event.unit)}={_number(event.spent)}/"
            f"{_number(event.total_budget)} "
            f"resolved={event.resolved}/{event.n_queries} samples_per_s={rates.samples_per_s:.3f} "
            f"tokens_per_s={rates.tokens_per_s:.1f} elapsed_s={event.elapsed_s:.0f} "
            f"eta_s={'' if rates.eta_s is None else f'{rates.eta_s:.0f}'} output_tokens={event.completion_tokens} "
            f"prompt_tokens={event.prompt_tokens} cached_tokens={event.cached_tokens}"
            + ("" if event.cost_usd is None else f" cost_usd={event.cost_usd:.6g}")
        )

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
