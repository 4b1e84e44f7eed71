"""A store client's link to a replica, over real loopback TCP: calls are matched to their
answers by id whatever the order, one call's failure stays its own, and a link that breaks
fails every waiting call at once (the client then retries elsewhere) instead of leaving it
hanging; and a stream that does not open with the replica's secret runs nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from kubemu.actors.store_link import LinkLost, ReplicaLink, ReplicaLinkServer

DEADLINE = 5.0


class Replica:
    """A dispatch like a replica's: `watch` parks until released, `submit` echoes at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls: list[tuple[str, list]] = []

    async def __call__(self, method: str, args: list) -> object:
        self.calls.append((method, args))
        if method == "watch":
            await self.release.wait()
            return [[{"type": "PUT", "kv": {"key": args[0], "value": b"v"}}], 7]
        if method == "submit":
            return args[0]
        raise ValueError(f"no such call over a link: {method!r}")


@asynccontextmanager
async def linked(replica: Replica) -> AsyncIterator[ReplicaLink]:
    server = ReplicaLinkServer(replica)
    link = await ReplicaLink.open(await server.listen("127.0.0.1"))
    try:
        yield link
    finally:
        link.close()
        server.close()


async def test_a_parked_watch_does_not_hold_up_a_submit_behind_it():
    replica = Replica()
    async with linked(replica) as link:
        watch = link.call("watch", "/registry/pods/", "", 5, 5.0)
        answer = await asyncio.wait_for(link.call("submit", b"\x91\x01"), DEADLINE)
        assert answer == b"\x91\x01" and not watch.done()
        replica.release.set()
        events, complete_through = await asyncio.wait_for(watch, DEADLINE)
        assert (events[0]["kv"], complete_through) == (
            {"key": "/registry/pods/", "value": b"v"}, 7)


async def test_a_failed_call_fails_alone_and_the_link_stays_up():
    replica = Replica()
    async with linked(replica) as link:
        with pytest.raises(RuntimeError, match="no such call over a link: 'range'"):
            await asyncio.wait_for(link.call("range", "/x"), DEADLINE)
        assert link.up
        assert await asyncio.wait_for(link.call("submit", b"ok"), DEADLINE) == b"ok"


async def test_a_cancelled_call_leaves_the_others_answered():
    replica = Replica()
    async with linked(replica) as link:
        watch = link.call("watch", "/a", "", 1, 5.0)
        watch.cancel()
        second = link.call("watch", "/b", "", 1, 5.0)
        replica.release.set()
        events, _ = await asyncio.wait_for(second, DEADLINE)
        assert events[0]["kv"]["key"] == "/b"


async def test_a_broken_link_fails_every_waiting_call_and_refuses_new_ones():
    replica = Replica()
    accepted: list[asyncio.StreamWriter] = []
    connected = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing: a replica that then dies
        connected.set()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    link = await ReplicaLink.open((*listener.sockets[0].getsockname()[:2], b"secret"))
    try:
        waiting = [link.call("watch", "/a", "", 1, 5.0), link.call("submit", b"x")]
        await asyncio.wait_for(connected.wait(), DEADLINE)
        accepted[0].transport.abort()  # the replica's process is gone
        for call in waiting:
            with pytest.raises(LinkLost):
                await asyncio.wait_for(call, DEADLINE)
        assert not link.up
        with pytest.raises(LinkLost):
            await link.call("submit", b"y")
        assert replica.calls == []
    finally:
        link.close()
        listener.close()


async def test_a_stream_without_the_replicas_secret_is_closed_before_any_call_runs():
    replica = Replica()
    server = ReplicaLinkServer(replica)
    host, port, secret = await server.listen("127.0.0.1")
    link = await ReplicaLink.open((host, port, bytes(len(secret))))
    try:
        with pytest.raises(LinkLost):
            await asyncio.wait_for(link.call("submit", b"x"), DEADLINE)
        assert replica.calls == [] and not link.up
    finally:
        link.close()
        server.close()
