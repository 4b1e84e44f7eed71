"""Tunnels over real loopback sockets: many requests multiplexed on one stream, replies
matched by id, a restarted peer found again through `address`, garbage and dead peers
disconnected, timeouts, close."""

from __future__ import annotations

import asyncio

import pytest
from kubemu.actors.tunnel import TunnelDown, Tunnels

HOST = "127.0.0.1"


class Peer:
    """A node actor's listening side, and an `address` callable that counts its calls."""

    def __init__(self, handle, **options) -> None:
        self.tunnels = Tunnels(handle, **options)
        self.where: tuple[str, int] | None = None
        self.asked = 0

    async def start(self) -> Peer:
        self.where = await self.tunnels.listen(HOST)
        return self

    async def address(self) -> tuple[str, int]:
        self.asked += 1
        assert self.where is not None
        return self.where


def echo(tag: bytes):
    return lambda body: tag + body


async def async_echo(body: bytes) -> bytes:
    await asyncio.sleep(0)
    return b"async:" + body


@pytest.mark.parametrize("handle, prefix", [
    pytest.param(echo(b"sync:"), b"sync:", id="plain-handler"),
    pytest.param(async_echo, b"async:", id="async-handler"),
])
async def test_many_concurrent_requests_share_one_stream_and_get_their_own_answers(
        handle, prefix) -> None:
    peer = await Peer(handle).start()
    client = Tunnels(echo(b""))
    try:
        bodies = [f"req-{i}".encode() * (1 + i % 7) for i in range(3000)]
        answers = await asyncio.gather(*(
            client.request("node-2", peer.address, body, timeout=30) for body in bodies))
        assert answers == [prefix + body for body in bodies]
        assert peer.asked == 1
        assert len(peer.tunnels._served) == 1  # one stream carried them all
    finally:
        await client.close()
        await peer.tunnels.close()


async def test_replies_in_any_order_are_matched_by_request_id() -> None:
    gates: dict[bytes, asyncio.Event] = {}
    all_arrived = asyncio.Event()

    async def handle(body: bytes) -> bytes:
        gate = gates.setdefault(body, asyncio.Event())
        if len(gates) == 4:
            all_arrived.set()
        await gate.wait()
        return body.upper()

    peer = await Peer(handle).start()
    client = Tunnels(echo(b""))
    try:
        names = [b"a", b"b", b"c", b"d"]
        calls = [asyncio.ensure_future(client.request("n", peer.address, name, timeout=30))
                 for name in names]
        await all_arrived.wait()
        for name in reversed(names):
            gates[name].set()
            assert await calls[names.index(name)] == name.upper()
    finally:
        await client.close()
        await peer.tunnels.close()


async def test_a_restarted_peer_on_a_new_port_is_found_again_through_address() -> None:
    stuck, arrived = asyncio.Event(), asyncio.Event()

    async def slow(body: bytes) -> bytes:
        arrived.set()
        await stuck.wait()
        return body

    old = await Peer(slow).start()
    client = Tunnels(echo(b""))
    where = {"now": old.where}

    async def address() -> tuple[str, int]:
        calls.append(where["now"])
        return where["now"]

    calls: list[tuple[str, int]] = []
    try:
        in_flight = asyncio.ensure_future(client.request("n", address, b"x", timeout=30))
        await arrived.wait()
        await old.tunnels.close()  # the peer actor dies with a request in flight
        with pytest.raises(TunnelDown, match="broke"):
            await in_flight
        new = await Peer(echo(b"new:")).start()
        where["now"] = new.where
        assert new.where != old.where
        assert await client.request("n", address, b"x", timeout=30) == b"new:x"
        assert calls == [old.where, new.where]
        await new.tunnels.close()
    finally:
        await client.close()


async def test_a_peer_that_cannot_be_reached_fails_fast_until_retry_after() -> None:
    asked = 0

    async def nowhere() -> tuple[str, int]:
        nonlocal asked
        asked += 1
        raise ConnectionRefusedError("actor gone")

    client = Tunnels(echo(b""), retry_after=3600)
    try:
        for _ in range(3):
            with pytest.raises(TunnelDown):
                await client.request("gone", nowhere, b"x", timeout=5)
        assert asked == 1  # no address look-up (a Ray call) per request to a dead peer
    finally:
        await client.close()


async def test_garbage_from_a_peer_disconnects_it_and_the_listener_keeps_serving() -> None:
    peer = await Peer(echo(b"ok:"), max_frame=1024).start()
    client = Tunnels(echo(b""))
    try:
        reader, writer = await asyncio.open_connection(*peer.where)
        writer.write(b"\xff" * 64)  # a length far above max_frame
        assert await reader.read() == b""  # disconnected
        writer.close()
        assert await client.request("n", peer.address, b"x", timeout=30) == b"ok:x"
    finally:
        await client.close()
        await peer.tunnels.close()


async def test_garbage_answers_break_the_stream_and_fail_the_request() -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(8)
        writer.write(b"\x7f" * 16)
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(liar, HOST, 0)
    where = server.sockets[0].getsockname()[:2]

    async def address() -> tuple[str, int]:
        return where

    client = Tunnels(echo(b""))
    try:
        with pytest.raises(TunnelDown):
            await client.request("liar", address, b"hello", timeout=30)
    finally:
        await client.close()
        server.close()


async def test_a_handler_that_raises_fails_that_request_only() -> None:
    def handle(body: bytes) -> bytes:
        if body == b"bad":
            raise ValueError("cannot decode")
        return body

    peer = await Peer(handle).start()
    client = Tunnels(echo(b""))
    try:
        with pytest.raises(TunnelDown, match="cannot decode"):
            await client.request("n", peer.address, b"bad", timeout=30)
        assert await client.request("n", peer.address, b"good", timeout=30) == b"good"
        assert peer.asked == 1
    finally:
        await client.close()
        await peer.tunnels.close()


async def test_no_answer_in_time_is_a_timeout_and_a_late_answer_is_ignored() -> None:
    gate = asyncio.Event()

    async def handle(body: bytes) -> bytes:
        if body == b"slow":
            await gate.wait()
        return body

    peer = await Peer(handle).start()
    client = Tunnels(echo(b""))
    try:
        with pytest.raises(TimeoutError):
            await client.request("n", peer.address, b"slow", timeout=0.05)
        gate.set()  # the late answer arrives on the same stream
        assert await client.request("n", peer.address, b"fast", timeout=30) == b"fast"
        assert peer.asked == 1
    finally:
        await client.close()
        await peer.tunnels.close()


async def test_close_fails_requests_in_flight_and_refuses_new_ones() -> None:
    never, arrived = asyncio.Event(), asyncio.Event()

    async def handle(body: bytes) -> bytes:
        arrived.set()
        await never.wait()
        return body

    peer = await Peer(handle).start()
    client = Tunnels(echo(b""))
    in_flight = asyncio.ensure_future(client.request("n", peer.address, b"x", timeout=30))
    await arrived.wait()
    await client.close()
    with pytest.raises(TunnelDown):
        await in_flight
    with pytest.raises(TunnelDown):
        await client.request("n", peer.address, b"x", timeout=30)
    await peer.tunnels.close()
    with pytest.raises(OSError):
        await asyncio.open_connection(*peer.where)
