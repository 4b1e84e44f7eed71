"""StoreLink: a store client's calls to one replica over a direct TCP stream instead of Ray.

The API server talks to the store all the time: each write is a `submit` call and each batch
of watch events answers a `watch` long poll. A Ray actor call costs about a millisecond and a
half of CPU between caller and callee; an idle 1,000-node cluster renews 100 Leases a second,
so those two calls were most of the API server's and the store's idle CPU. A framed message on
an open TCP stream costs tens of microseconds.

The protocol is request/response, multiplexed on one stream: a frame is a 4-byte big-endian
length and msgpack of `[call id, method, args]` from the client, `[call id, ok, result]` back
(`ok` false: `result` is the error's text). The client's first frame is the replica's secret,
which it learnt by Ray (authenticated) along with the address; a stream that opens with
anything else is closed, so the port gives no one but the store's clients a way in. The replica runs each call as its own task, so a
parked long poll never holds up a submit. `ReplicaLinkServer` is the replica's side;
`ReplicaLink` the client's. A link is only a faster road, as the replicas' own `PeerLinks`:
the client uses Ray until its link is up and whenever it breaks, and a broken link fails
every call waiting on it with `LinkLost` (a `ConnectionError`), which the client treats as it
treats a dead actor: it retries the same request id elsewhere, and replicas de-duplicate.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

__all__ = ["LinkLost", "ReplicaLink", "ReplicaLinkServer"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
_MAX_FRAME = 256 * 1024 * 1024
_CONNECT_SECONDS = 5.0

Dispatch = Callable[[str, list], Awaitable[Any]]


class LinkLost(ConnectionError):
    """The link broke (or was closed) before the call was answered."""


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > _MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes is over the limit")
    return msgpack.unpackb(await reader.readexactly(size), raw=False)


def _frame(message: Any) -> bytes:
    body = msgpack.packb(message, use_bin_type=True)
    return _HEADER.pack(len(body)) + body


class ReplicaLinkServer:
    """A replica's listener: each call runs `dispatch(method, args)` and its result goes back."""

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int, bytes] | None = None
        self._secret = secrets.token_bytes(16)

    async def listen(self, host: str) -> tuple[str, int, bytes]:
        """Start accepting clients (once); the (host, port, secret) they connect with."""
        if self._address is None:
            self._server = await asyncio.start_server(self._serve, host, 0)
            self._address = (host, self._server.sockets[0].getsockname()[1], self._secret)
        return self._address

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        calls: set[asyncio.Task] = set()
        try:
            secret = await asyncio.wait_for(_read_frame(reader), _CONNECT_SECONDS)
            if not (isinstance(secret, bytes) and hmac.compare_digest(secret, self._secret)):
                return
            while True:
                call_id, method, args = await _read_frame(reader)
                task = asyncio.ensure_future(self._answer(writer, call_id, method, args))
                calls.add(task)
                task.add_done_callback(calls.discard)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, TypeError,
                TimeoutError):
            pass  # the client left, or sent what is not a call: drop the stream
        finally:
            for task in calls:
                task.cancel()
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, call_id: int, method: str,
                      args: list) -> None:
        try:
            frame = _frame([call_id, True, await self._dispatch(method, args)])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the caller gets the error, the link stays
            frame = _frame([call_id, False, f"{type(exc).__name__}: {exc}"])
        if not writer.is_closing():
            writer.write(frame)


class ReplicaLink:
    """The client's end of one link: `call(method, *args)` -> the replica's answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._calls: dict[int, asyncio.Future] = {}
        self._ids = itertools.count()
        self._reading = asyncio.ensure_future(self._read(reader))

    @classmethod
    async def open(cls, address: tuple[str, int, bytes]) -> ReplicaLink:
        """Connect to what `ReplicaLinkServer.listen` answered: (host, port, secret)."""
        host, port, secret = address
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                _CONNECT_SECONDS)
        writer.write(_frame(secret))
        return cls(reader, writer)

    @property
    def up(self) -> bool:
        return not self._reading.done() and not self._writer.is_closing()

    def call(self, method: str, *args: Any) -> asyncio.Future:
        """A future of the answer; it fails with LinkLost if the link breaks first, and
        cancelling it only stops waiting (the replica may still run the call)."""
        fut = asyncio.get_running_loop().create_future()
        if not self.up:
            fut.set_exception(LinkLost("link is down"))
            return fut
        call_id = next(self._ids)
        self._calls[call_id] = fut
        fut.add_done_callback(lambda _f: self._calls.pop(call_id, None))
        self._writer.write(_frame([call_id, method, list(args)]))
        return fut

    def close(self) -> None:
        self._reading.cancel()
        self._writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        reason = "closed"
        try:
            while True:
                call_id, ok, result = await _read_frame(reader)
                fut = self._calls.get(call_id)
                if fut is None or fut.done():
                    continue
                if ok:
                    fut.set_result(result)
                else:
                    fut.set_exception(RuntimeError(f"store replica: {result}"))
        except asyncio.CancelledError:
            pass
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, TypeError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            self._writer.close()
            for fut in list(self._calls.values()):
                if not fut.done():
                    fut.set_exception(LinkLost(f"link to the replica lost ({reason})"))
            self._calls.clear()
