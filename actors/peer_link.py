"""PeerLinks: Raft messages between store replicas over direct TCP streams.

A Ray actor call costs about a millisecond of CPU between sender and receiver, and one isolated
write takes several Raft messages, so at moderate write rates the replicas spent most of their
CPU on Ray calls. A framed write on an open TCP stream costs tens of microseconds. Each replica
listens on an ephemeral port of its host; a sender asks the peer's actor for that address once
(one Ray call), connects, and from then on writes length-prefixed msgpack batches (4-byte
big-endian length, then the bytes `deliver` takes). A link's first frame is the listener's
secret, learnt over Ray (which authenticates) with the address: a stream that opens with anything
else is closed before any message is stepped, so only a replica can inject Raft messages. Until a
link is up, and whenever one breaks
(the peer died, restarted on a new port, or stopped reading), messages go by Ray as before:
the link is only a faster road, and Raft tolerates the loss and reordering of either.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import struct
from collections.abc import Awaitable, Callable

__all__ = ["PeerLinks"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
_MAX_FRAME = 256 * 1024 * 1024
_MAX_BUFFERED = 64 * 1024 * 1024  # a peer this far behind loses messages (Raft resends)
_RETRY_SECONDS = 1.0
_HELLO_SECONDS = 5.0
_SECRET_BYTES = 16

Address = tuple[str, int, bytes]  # host, port, secret


class PeerLinks:
    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self._deliver = deliver
        self._server: asyncio.Server | None = None
        self._address: Address | None = None
        self._secret = secrets.token_bytes(_SECRET_BYTES)
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._connecting: dict[int, asyncio.Task] = {}
        self._next_try: dict[int, float] = {}

    async def listen(self, host: str) -> Address:
        """Start accepting peers' streams (once); the (host, port, secret) they connect with."""
        if self._address is None:
            self._server = await asyncio.start_server(self._serve, host, 0)
            self._address = (host, self._server.sockets[0].getsockname()[1], self._secret)
        return self._address

    def send(self, peer: int, payload: bytes) -> bool:
        """Write one batch to `peer` if its link is up; False when the caller must use Ray."""
        writer = self._writers.get(peer)
        if writer is None:
            return False
        if writer.is_closing():
            del self._writers[peer]
            return False
        if writer.transport.get_write_buffer_size() > _MAX_BUFFERED:
            return True  # dropped: the peer is not reading; Raft will resend
        writer.write(_HEADER.pack(len(payload)) + payload)
        return True

    def connect(self, peer: int, address: Callable[[], Awaitable[Address | None]]) -> None:
        """Open a link to `peer` in the background (at most one attempt per second)."""
        if peer in self._writers or peer in self._connecting:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_try.get(peer, 0.0):
            return
        self._next_try[peer] = loop.time() + _RETRY_SECONDS
        task = loop.create_task(self._connect(peer, address))
        self._connecting[peer] = task
        task.add_done_callback(lambda _t: self._connecting.pop(peer, None))

    def forget(self, peer: int) -> None:
        writer = self._writers.pop(peer, None)
        if writer is not None:
            writer.close()

    async def close(self) -> None:
        for task in list(self._connecting.values()):
            task.cancel()
        for peer in list(self._writers):
            self.forget(peer)
        if self._server is not None:
            self._server.close()

    async def _connect(self, peer: int, address: Callable[[], Awaitable[Address | None]]
                       ) -> None:
        try:
            where = await asyncio.wait_for(address(), 5.0)
            if where is None:
                return
            host, port, secret = where
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
        except Exception as exc:  # noqa: BLE001 - no link: Ray carries the messages
            log.debug("link to replica %s: %s", peer, exc)
            return
        writer.write(_HEADER.pack(len(secret)) + secret)
        self._writers[peer] = writer

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (size,) = _HEADER.unpack(
                await asyncio.wait_for(reader.readexactly(_HEADER.size), _HELLO_SECONDS))
            if size != _SECRET_BYTES:
                return
            hello = await asyncio.wait_for(reader.readexactly(size), _HELLO_SECONDS)
            if not hmac.compare_digest(hello, self._secret):
                return
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                if size > _MAX_FRAME:
                    return
                self._deliver(await reader.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
            return
        finally:
            writer.close()
