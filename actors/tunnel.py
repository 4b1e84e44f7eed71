"""Tunnels: request/response between node actors over direct TCP streams (the overlay hop).

A Ray actor call costs about a millisecond of CPU, so one Ray call per overlay connection caps
traffic between node actors far below what kube-proxy and the pod programs can serve. Each
node actor instead listens on an ephemeral port (`listen`) and keeps one outgoing stream per
peer actor, on which any number of requests are in flight at once:

- frame: 4-byte big-endian body length, 4-byte big-endian request id, body. A reply carries
  the request's id; the top bit of the id marks a reply whose handler failed (its body is the
  error text). Ids are per stream, so replies may come back in any order.
- writes are coalesced: frames queued during one event-loop iteration leave in one
  `transport.write` (scheduled with `call_soon`), on both sides.
- the listening side calls `handle(body)` per request (plain or async function) and writes
  back what it returns. A frame longer than `max_frame`, or a peer that stops reading while
  `max_buffered` bytes wait for it, is disconnected: garbage never reaches the actor's logic
  beyond `handle`, and never crashes it.
- the requesting side asks `address()` for the peer's (host, port) once per stream (the caller
  makes it a Ray call to the peer actor), so a restarted peer on a new port is found again
  after the old stream breaks. A broken stream fails its in-flight requests with `TunnelDown`
  and the next request opens a new one; a failed setup makes requests to that peer fail fast
  with `TunnelDown` for `retry_after` seconds (no Ray call per request to a dead peer).
  `TunnelDown` means "use the slow road" (a Ray call); a request that got no reply within
  `timeout` raises `TimeoutError`, like the connection it carries.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Address", "Handler", "TunnelDown", "Tunnels"]

log = logging.getLogger(__name__)

Handler = Callable[[bytes], Awaitable[bytes]] | Callable[[bytes], bytes]
Address = Callable[[], Awaitable[tuple[str, int]]]

_HEADER = struct.Struct(">II")  # body length, request id
_FAILED = 0x8000_0000            # reply id flag: the handler raised; body is the error text
_IDS = 0x7FFF_FFFF
MAX_FRAME = 16 * 1024 * 1024
MAX_BUFFERED = 64 * 1024 * 1024
SETUP_TIMEOUT = 5.0


class TunnelDown(ConnectionError):
    """The tunnel to a peer cannot be set up, broke, or the peer's handler failed: the caller
    falls back to the Ray call."""


class Tunnels:
    """One per node actor: a listening socket for peers, and one outgoing stream per peer."""

    def __init__(self, handle: Handler, *, max_frame: int = MAX_FRAME,
                 max_buffered: int = MAX_BUFFERED, retry_after: float = 1.0,
                 setup_timeout: float = SETUP_TIMEOUT) -> None:
        self._handle = handle
        self._max_frame = max_frame
        self._max_buffered = max_buffered
        self._retry_after = retry_after
        self._setup_timeout = setup_timeout
        self._server: asyncio.AbstractServer | None = None
        self._address: tuple[str, int] | None = None
        self._served: set[_Served] = set()
        self._links: dict[str, _Link] = {}
        self._opening: dict[str, asyncio.Task] = {}
        self._down_until: dict[str, float] = {}
        self._closed = False

    async def listen(self, host: str) -> tuple[str, int]:
        """Accept peers' streams on an ephemeral port of `host` (once); that (host, port)."""
        if self._closed:
            raise TunnelDown("tunnels closed")
        if self._address is None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(lambda: _Served(self), host, 0)
            self._address = (host, self._server.sockets[0].getsockname()[1])
        return self._address

    async def request(self, peer: str, address: Address, payload: bytes, *,
                      timeout: float) -> bytes:
        """Send `payload` to `peer`'s handler and return its answer. TunnelDown when no
        stream can carry it (the caller falls back); TimeoutError after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        link = self._links.get(peer)
        if link is None or link.broken:
            link = await self._connect(peer, address, deadline)
        return await link.call(payload, deadline - loop.time())

    async def close(self) -> None:
        """Stop listening, drop every stream (in-flight requests fail with TunnelDown)."""
        self._closed = True
        for task in list(self._opening.values()):
            task.cancel()
        for link in list(self._links.values()):
            link.fail(TunnelDown("tunnels closed"))
        self._links.clear()
        for served in list(self._served):
            served.drop()
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()

    # -- requesting side ------------------------------------------------------------------

    async def _connect(self, peer: str, address: Address, deadline: float) -> _Link:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise TunnelDown("tunnels closed")
        if loop.time() < self._down_until.get(peer, 0.0):
            raise TunnelDown(f"tunnel to {peer} is down (retrying later)")
        task = self._opening.get(peer)
        if task is None:
            task = loop.create_task(self._open(peer, address))
            self._opening[peer] = task
            task.add_done_callback(lambda t: self._opened(peer, t))
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(task)
        except TimeoutError:
            raise TunnelDown(f"tunnel to {peer} not up in time") from None

    async def _open(self, peer: str, address: Address) -> _Link:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._setup_timeout):
                host, port = await address()
                _, link = await loop.create_connection(lambda: _Link(self, peer), host, port)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._down_until[peer] = loop.time() + self._retry_after
            raise TunnelDown(f"tunnel to {peer}: {exc!r}") from exc
        if self._closed:
            link.fail(TunnelDown("tunnels closed"))
            raise TunnelDown("tunnels closed")
        self._links[peer] = link
        return link

    def _opened(self, peer: str, task: asyncio.Task) -> None:
        if self._opening.get(peer) is task:
            del self._opening[peer]
        if not task.cancelled():
            task.exception()  # retrieved: the waiters (if any) have their own copy

    def _forget(self, link: _Link) -> None:
        if self._links.get(link.peer) is link:
            del self._links[link.peer]


class _Frames:
    """A bounded frame parser and a write coalescer over one transport."""

    def __init__(self, owner: Tunnels) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self.broken = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        buf = self._buffer
        buf += data
        start, size = 0, len(buf)
        while size - start >= _HEADER.size:
            length, ident = _HEADER.unpack_from(buf, start)
            if length > self.owner._max_frame:
                self.abort(f"frame of {length} bytes exceeds {self.owner._max_frame}")
                return
            end = start + _HEADER.size + length
            if end > size:
                break
            self.frame(ident, bytes(buf[start + _HEADER.size:end]))
            if self.broken:
                return
            start = end
        del buf[:start]

    def send(self, ident: int, body: bytes) -> None:
        if self.broken or self.transport is None:
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(_HEADER.pack(len(body), ident))
        self._out.append(body)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.broken or self.transport is None or not out:
            return
        self.transport.write(b"".join(out))
        if self.transport.get_write_buffer_size() > self.owner._max_buffered:
            self.abort("peer is not reading")

    def abort(self, why: str) -> None:
        log.debug("tunnel stream dropped: %s", why)
        if self.transport is not None:
            self.transport.abort()
        self.connection_lost(None)

    def frame(self, ident: int, body: bytes) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        raise NotImplementedError


class _Link(_Frames, asyncio.Protocol):
    """The requesting end of one stream: in-flight requests by id."""

    def __init__(self, owner: Tunnels, peer: str) -> None:
        super().__init__(owner)
        self.peer = peer
        self._next = 0
        self._pending: dict[int, asyncio.Future] = {}

    async def call(self, payload: bytes, timeout: float) -> bytes:
        if self.broken:
            raise TunnelDown(f"tunnel to {self.peer} broke")
        if len(payload) > self.owner._max_frame:
            raise ValueError(f"payload of {len(payload)} bytes exceeds the frame limit")
        loop = asyncio.get_running_loop()
        self._next = ident = (self._next + 1) & _IDS
        future = loop.create_future()
        self._pending[ident] = future
        timer = loop.call_later(max(timeout, 0.0), _expire, future, self.peer)
        self.send(ident, payload)
        try:
            return await future
        finally:
            timer.cancel()
            self._pending.pop(ident, None)

    def frame(self, ident: int, body: bytes) -> None:
        future = self._pending.pop(ident & _IDS, None)
        if future is None or future.done():
            return  # timed out or cancelled meanwhile
        if ident & _FAILED:
            future.set_exception(TunnelDown(
                f"{self.peer} failed to handle the request: {body.decode(errors='replace')}"))
        else:
            future.set_result(body)

    def fail(self, exc: Exception) -> None:
        if self.transport is not None and not self.broken:
            self.transport.abort()
        self._lost(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(TunnelDown(f"tunnel to {self.peer} broke: {exc or 'closed'}"))

    def _lost(self, exc: Exception) -> None:
        self.broken = True
        self.owner._forget(self)
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)


class _Served(_Frames, asyncio.Protocol):
    """The listening end of one peer's stream: runs the handler per request."""

    def __init__(self, owner: Tunnels) -> None:
        super().__init__(owner)
        self._tasks: set[asyncio.Task] = set()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.owner._served.add(self)

    def frame(self, ident: int, body: bytes) -> None:
        ident &= _IDS
        try:
            answer = self.owner._handle(body)
        except Exception as exc:  # noqa: BLE001 - the requester hears of it
            self.send(ident | _FAILED, repr(exc).encode())
            return
        if not inspect.isawaitable(answer):
            self._reply(ident, answer)
            return
        task = asyncio.ensure_future(answer)
        self._tasks.add(task)
        task.add_done_callback(lambda t, i=ident: self._finished(i, t))

    def _finished(self, ident: int, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.send(ident | _FAILED, repr(exc).encode())
        else:
            self._reply(ident, task.result())

    def _reply(self, ident: int, answer: Any) -> None:
        if not isinstance(answer, bytes | bytearray | memoryview):
            self.send(ident | _FAILED, f"handler answered {type(answer).__name__}".encode())
        elif len(answer) > self.owner._max_frame:
            self.send(ident | _FAILED, b"answer exceeds the frame limit")
        else:
            self.send(ident, bytes(answer))

    def drop(self) -> None:
        if self.transport is not None and not self.broken:
            self.transport.abort()
        self.connection_lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        self.owner._served.discard(self)
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()


def _expire(future: asyncio.Future, peer: str) -> None:
    if not future.done():
        future.set_exception(TimeoutError(f"no answer from {peer} in time"))
