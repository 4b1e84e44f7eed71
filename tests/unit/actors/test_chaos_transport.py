"""A node's guarded link to the control plane: a watch open when a cut starts breaks within
WATCH_CHECK_SECONDS, even when no line arrives; without a cut every line comes through.

A real aiohttp server streams watch lines over a real socket to `HttpTransport`, wrapped in
`ControlPlaneTransport` whose fault verdict the test flips."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from kubemu.actors.chaos_transport import (WATCH_CHECK_SECONDS, ControlPlaneTransport,
                                           ControlPlaneUnreachable)
from kubemu.actors.http_transport import HttpTransport
from kubemu.cluster.api.request import Request


class _Link:
    """The verdict `decide` returns: cut or not."""

    def __init__(self) -> None:
        self.cut = False

    def decide(self, _rng) -> tuple[bool, float, str]:
        return (True, 0.0, "partition") if self.cut else (False, 0.0, "")


class _Server:
    """Each watch request streams what the test puts on that watch's own queue."""

    def __init__(self) -> None:
        self.waiting: asyncio.Queue = asyncio.Queue()  # the queue of the next watch
        self.queues: list[asyncio.Queue] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/pods", self._watch)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        for q in self.queues:
            q.put_nowait(None)
        await self.runner.cleanup()

    async def open(self, transport: ControlPlaneTransport):
        """(the client's line iterator, the queue its lines come from)."""
        q: asyncio.Queue = asyncio.Queue()
        self.queues.append(q)
        self.waiting.put_nowait(q)
        try:
            resp = await transport.request(Request(method="GET", path="/api/v1/pods",
                                                   query={"watch": "true"}, headers={},
                                                   body=b""))
        except Exception:
            self.waiting.get_nowait()  # refused before it reached the server
            raise
        return resp.stream.__aiter__(), q

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        mine = self.waiting.get_nowait()
        out = web.StreamResponse()
        out.enable_chunked_encoding()
        await out.prepare(request)
        try:
            while (line := await mine.get()) is not None:
                await out.write(line)
        except ConnectionError:  # the client went away
            pass
        return out


def _run(test) -> None:
    async def main() -> None:
        server, link = _Server(), _Link()
        await server.start()
        transport = ControlPlaneTransport(HttpTransport(server.url), link.decide)
        try:
            await test(server, link, transport)
        finally:
            await transport.close()
            await server.stop()

    asyncio.run(main())


def test_lines_pass_until_a_cut_breaks_an_idle_watch() -> None:
    async def test(server: _Server, link: _Link, transport: ControlPlaneTransport) -> None:
        stream, lines = await server.open(transport)
        for i in range(50):
            lines.put_nowait(b'{"n": %d}\n' % i)
        assert [await stream.__anext__() for _ in range(50)] == \
            [b'{"n": %d}\n' % i for i in range(50)]
        reading = asyncio.ensure_future(stream.__anext__())  # no line will come
        await asyncio.sleep(3 * WATCH_CHECK_SECONDS)  # checks that it stays open while idle
        assert not reading.done()
        link.cut = True
        with pytest.raises(ControlPlaneUnreachable, match="partition"):
            await asyncio.wait_for(reading, 10 * WATCH_CHECK_SECONDS)
        with pytest.raises(ControlPlaneUnreachable):  # a new watch is refused
            await server.open(transport)
        link.cut = False
        stream, lines = await server.open(transport)
        lines.put_nowait(b'{"n": "after"}\n')
        assert await asyncio.wait_for(stream.__anext__(), 5) == b'{"n": "after"}\n'
        await stream.aclose()

    _run(test)


def test_a_cut_noticed_at_a_line_breaks_the_watch_there() -> None:
    async def test(server: _Server, link: _Link, transport: ControlPlaneTransport) -> None:
        stream, lines = await server.open(transport)
        lines.put_nowait(b'{"n": 1}\n')
        assert await stream.__anext__() == b'{"n": 1}\n'
        link.cut = True
        lines.put_nowait(b'{"n": 2}\n')
        with pytest.raises(ControlPlaneUnreachable):
            await asyncio.wait_for(stream.__anext__(), 10 * WATCH_CHECK_SECONDS)

    _run(test)
