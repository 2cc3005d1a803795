"""Reading what a command shows on a pseudo-terminal, for the tests that type at its prompts."""

from __future__ import annotations

import os
import select

__all__ = ["read_until"]


def read_until(fd: int, marker: bytes, seen: bytearray) -> None:
    """Read the terminal ``fd`` into ``seen`` until ``seen`` holds ``marker``; fails the test (an
    AssertionError naming what was shown) when nothing comes for 120 s or the command ends first.
    The 120 s bound keeps a hung command from hanging the suite; it is not a timing check."""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, f"no {marker!r} from the command: {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed: the command ended
            chunk = b""
        assert chunk, f"the command ended before {marker!r}: {bytes(seen)!r}"
        seen += chunk
