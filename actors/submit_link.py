"""Submit links: store requests from a client (the API server) to a replica over a direct TCP
stream instead of a Ray call per batch.

A Ray actor call costs about a millisecond of CPU between caller and callee, and a large
cluster's API server sends its store a batch every few milliseconds (a thousand nodes renew
100 Leases a second). A replica listens on an ephemeral port of its host (`SubmitServer`); a
client asks the replica's actor for that address once (one Ray call), connects, and writes
frames -- a header of 4-byte big-endian length and 4-byte call number, then the msgpack batch
`submit` takes -- and the replica answers each with a frame of the same number carrying the
msgpack results, in whatever order they finish. Until a link is up the client uses Ray; when
a link breaks (the replica died, or restarted on another port) its unanswered calls fail with
ConnectionError and the client retries them, by Ray or a new link: requests keep their ids,
so a retried write is still applied once. A replica that cannot answer a frame closes the
stream rather than leave its calls waiting.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable

__all__ = ["SubmitServer", "SubmitLink"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">II")  # payload length, call number
_MAX_FRAME = 256 * 1024 * 1024


class SubmitServer:
    def __init__(self, submit: Callable[[bytes], Awaitable[bytes]]) -> None:
        self._submit = submit
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._tasks: set[asyncio.Task] = set()

    async def listen(self, host: str) -> tuple[str, int]:
        """Start accepting clients' streams (once); where they connect."""
        if self._address is None:
            self._server = await asyncio.start_server(self._serve, host, 0)
            self._address = (host, self._server.sockets[0].getsockname()[1])
        return self._address

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size, call = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                if size > _MAX_FRAME:
                    return
                payload = await reader.readexactly(size)
                task = asyncio.ensure_future(self._answer(writer, call, payload))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()  # answers still running are dropped: the client has gone

    async def _answer(self, writer: asyncio.StreamWriter, call: int, payload: bytes) -> None:
        try:
            result = await self._submit(payload)
        except Exception:  # noqa: BLE001 - the client retries its calls elsewhere
            log.exception("submit over a link failed; closing it")
            writer.close()
            return
        if not writer.is_closing():
            writer.write(_HEADER.pack(len(result), call) + result)


class SubmitLink:
    """The client side of one replica's link: `call(payload)` while it is up."""

    def __init__(self) -> None:
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next_call = 0
        self._task: asyncio.Task | None = None

    @property
    def up(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    def open(self, address: Callable[[], Awaitable[tuple[str, int]]]) -> None:
        """Connect in the background (once per link: a broken link is replaced, not reused)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run(address))

    def call(self, payload: bytes) -> asyncio.Future | None:
        """The future of the results of `payload`, or None when the link is not up."""
        if not self.up:
            return None
        self._next_call = (self._next_call + 1) % (1 << 32)
        fut = asyncio.get_running_loop().create_future()
        self._pending[self._next_call] = fut
        self._writer.write(_HEADER.pack(len(payload), self._next_call) + payload)
        return fut

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._writer is not None:
            self._writer.close()

    async def _run(self, address: Callable[[], Awaitable[tuple[str, int]]]) -> None:
        try:
            where = await asyncio.wait_for(address(), 5.0)
            reader, self._writer = await asyncio.wait_for(asyncio.open_connection(*where), 5.0)
        except Exception as exc:  # noqa: BLE001 - no link: Ray carries the calls
            log.debug("submit link: %s", exc)
            return
        try:
            while True:
                size, call = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                result = await reader.readexactly(size)
                fut = self._pending.pop(call, None)
                if fut is not None and not fut.done():
                    fut.set_result(result)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            log.debug("submit link closed: %s", exc)
        finally:
            self._writer.close()
            pending, self._pending = self._pending, {}
            for fut in pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("the store link closed"))
