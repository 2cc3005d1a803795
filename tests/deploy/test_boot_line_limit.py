"""A target that answers the bootstrap with a line past what the zone reads gets a coded refusal
of that target, never a traceback (attack review 38, B3: prune and every deployment under
auto-prune ended in a ``ValueError`` traceback)."""

from __future__ import annotations

import asyncio

from bundlekit.deploy.session import Session
from tests.conftest import raises_code


def test_a_line_past_the_readers_limit_is_refused_runner_failed() -> None:
    async def answer() -> None:
        reader = asyncio.StreamReader(limit=1024)
        reader.feed_data(b"BUNDLEKIT-PROBE " + b"x" * 4096 + b"\n")
        reader.feed_eof()

        async def close() -> str:
            return ""

        session = Session("web-01", reader, writer=None, close=close, kind="local")  # type: ignore[arg-type]
        await session._boot_line()

    with raises_code("runner_failed", match="target 'web-01': it answered the bootstrap with a line over 8 MiB"):
        asyncio.run(answer())
