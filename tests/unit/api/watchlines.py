"""A watch response body read line by line, as a client reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def watch_lines(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The lines of a watch response one by one: the server sends the lines of events that
    were ready together as one chunk."""
    async for chunk in stream:
        for line in chunk.splitlines():
            yield line
