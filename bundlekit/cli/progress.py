"""Progress bars for long work, with rich: one bar per package, volume or file, on stderr.

Shown only when stderr is a terminal (not ``TERM=dumb``) and neither ``--quiet`` nor
``--json`` was given, so redirected output and machine output never carry decoration.
rich honours ``NO_COLOR`` (bars without colour). Each bar shows what it is, a bar,
percentage, bytes done of the total, rate and time left (decision 191).

A :class:`Bars` is what workflows get as ``progress``: calling it advances the current bar
(``bars(n)``), :meth:`Bars.begin` starts a new one (``core.progress.begin``), and
:meth:`Bars.item` / :meth:`Bars.update` drive bars by key when several items move at once
(files through the diode, packages on several targets).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Hashable, TextIO

import click

from bundlekit.core.text import size_text, terminal_text

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["Bars", "shows_progress"]


def shows_progress(quiet: bool, as_json: bool, stream: TextIO | None = None) -> bool:
    """Whether progress is drawn: a terminal on stderr, not dumb, and neither --quiet nor --json."""
    out = stream if stream is not None else sys.stderr
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and not quiet and not as_json and os.environ.get("TERM") != "dumb"


class Bars:
    """Progress bars for one command; a no-op when :func:`shows_progress` says no.

    Use as a context manager around the work; pass the object itself as ``progress``.
    """

    def __init__(self, what: str, *, quiet: bool = False, as_json: bool = False, stream: TextIO | None = None) -> None:
        self.what = what
        self.enabled = shows_progress(quiet, as_json, stream)
        self._stream = stream if stream is not None else sys.stderr
        self._progress: Progress | None = None
        self._current: TaskID | None = None
        self._keyed: dict[Hashable, TaskID] = {}

    def __enter__(self) -> "Bars":
        if self.enabled:
            # rich is imported only when bars are drawn: commands whose output is redirected start faster.
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, ProgressColumn, TaskProgressColumn,
                                       TextColumn, TimeRemainingColumn)
            from rich.table import Column
            from rich.text import Text

            class BinaryRate(ProgressColumn):  # type: ignore[misc]
                """The rate in the units of the sizes beside it (MiB/s by MiB; rich's is MB/s)."""

                def render(self, task: Any) -> Text:
                    speed = task.finished_speed or task.speed
                    return Text("?" if speed is None else f"{size_text(int(speed))}/s", style="progress.data.speed")

            console = Console(file=self._stream, stderr=self._stream is sys.stderr, highlight=False)

            def whole() -> Column:  # figures and units never wrap onto a second line
                return Column(no_wrap=True)

            # One line per bar at any width: the label gives way first (cut with "..."), then the
            # bar; the figures keep their width (an 80-column terminal wrapped "MiB" before).
            self._progress = Progress(
                TextColumn("{task.description}", markup=False,  # a label is text, never rich markup
                           table_column=Column(no_wrap=True, overflow="ellipsis", ratio=3, min_width=8)),
                BarColumn(bar_width=None, table_column=Column(ratio=2, min_width=5)),
                TaskProgressColumn(table_column=whole()), DownloadColumn(binary_units=True, table_column=whole()),
                BinaryRate(table_column=whole()), TimeRemainingColumn(table_column=whole()),
                console=console, transient=False, refresh_per_second=5, expand=True)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _add(self, label: str, total: int | None) -> TaskID | None:
        if self._progress is None:
            return None
        # Labels can come from a bundle or the wire: shown escaped, like every other output.
        return self._progress.add_task(terminal_text(label), total=total)

    # -- the ``progress`` protocol of core.progress -------------------------------------------
    def begin(self, label: str, total: int | None) -> None:
        """A new item starts: it gets its own bar and becomes the one ``bars(n)`` advances."""
        if self._progress is not None and self._current is not None:
            task = self._progress.tasks[self._current]
            if task.total is None:  # an item without a known size ends where it stopped
                self._progress.update(self._current, total=task.completed)
        self._current = self._add(label, total)

    def __call__(self, n: int) -> None:
        if self._progress is None:
            return
        if self._current is None:
            self._current = self._add(self.what, None)
        assert self._current is not None
        self._progress.advance(self._current, n)

    def note(self, line: str) -> None:
        """A line for the person watching (stderr): above the bars while they are drawn."""
        if self._progress is not None:
            self._progress.console.print(terminal_text(line), markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(terminal_text(line), err=True)

    # -- bars by key, for items that move at the same time -------------------------------------
    def item(self, key: Hashable, label: str, total: int | None) -> None:
        """Start (or relabel) the bar of ``key``."""
        if self._progress is None:
            return
        if key in self._keyed:
            self._progress.update(self._keyed[key], description=terminal_text(label), total=total)
            return
        task = self._add(label, total)
        assert task is not None
        self._keyed[key] = task

    def update(self, key: Hashable, **fields: Any) -> None:
        """``advance=n``, ``completed=n``, ``total=n`` or ``label=...`` for the bar of ``key``."""
        if self._progress is None or key not in self._keyed:
            return
        if "label" in fields:
            fields["description"] = terminal_text(fields.pop("label"))
        self._progress.update(self._keyed[key], **fields)
