"""A script's log as bundlekit keeps it: line by line, service messages honoured, masked, bounded.

This module owns :class:`ScriptLog`. Output is fed as bytes; each complete line (lines
longer than :data:`MAX_LINE` are split) is scanned for ``setVariable`` service messages (a
sensitive value is added to the masker before the line itself is masked), masked, handed to
``on_line`` (the runner streams it to the zone) and kept: the first 3/4 of the limit and the
last quarter (at most 1 MiB), with a note saying how much was omitted in between.
Shipped to targets: Python 3.8 or newer, standard library only.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Deque, List, Optional, Tuple

from bundlekit.runtime.masking import Masker
from bundlekit.runtime.service_messages import OutputVariable, scan_line

__all__ = ["ScriptLog", "MAX_LINE"]

#: A line longer than this is split (bounded memory even for output without newlines).
MAX_LINE = 1 << 20


class ScriptLog:
    """Bounded, masked log: the first bytes and the last bytes, with a note in between.

    ``on_line`` (optional) receives every kept line, masked, as it arrives.
    """

    def __init__(self, masker: Masker, limit: int, on_line: Optional[Callable[[str], None]] = None) -> None:
        self.masker = masker
        self.on_line = on_line
        self.tail_budget = min(limit // 4, 1 << 20)
        self.head_budget = limit - self.tail_budget
        self.head: List[str] = []
        self.head_bytes = 0
        self.tail: Deque[Tuple[str, int]] = deque()
        self.tail_bytes = 0
        self.truncated = False
        self.omitted_bytes = 0
        self.outputs: List[OutputVariable] = []
        self._partial = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._partial += chunk
        while True:
            newline = self._partial.find(b"\n")
            if newline < 0:
                break
            raw = bytes(self._partial[:newline])
            del self._partial[: newline + 1]
            self._line(raw)
        while len(self._partial) > MAX_LINE:
            raw = bytes(self._partial[:MAX_LINE])
            del self._partial[:MAX_LINE]
            self._line(raw)

    def finish(self) -> None:
        if self._partial:
            raw = bytes(self._partial)
            self._partial.clear()
            self._line(raw)

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        scanned = scan_line(text)
        for variable in scanned.variables:
            self.outputs.append(variable)
            if variable.sensitive:
                # Before masking this very line: later text must never show the value.
                self.masker.add(variable.value)
        self.store(self.masker.mask(scanned.text))

    def note(self, text: str) -> None:
        self.store(f"[bundlekit] {text}")

    def store(self, line: str) -> None:
        if self.on_line is not None:
            self.on_line(line)
        size = len(line.encode("utf-8")) + 1
        if not self.truncated and self.head_bytes + size <= self.head_budget:
            self.head.append(line)
            self.head_bytes += size
            return
        self.truncated = True
        self.tail.append((line, size))
        self.tail_bytes += size
        while self.tail and self.tail_bytes > self.tail_budget:
            _, dropped = self.tail.popleft()
            self.tail_bytes -= dropped
            self.omitted_bytes += dropped

    def text(self) -> str:
        lines = list(self.head)
        if self.truncated:
            lines.append(
                f"[bundlekit] log truncated: {self.omitted_bytes} bytes of output omitted here "
                f"(the log keeps at most {self.head_budget + self.tail_budget} bytes)"
            )
        lines.extend(line for line, _ in self.tail)
        # A value set as sensitive late in the run may have been printed earlier.
        return self.masker.mask("\n".join(lines))
