"""Raft links between store replicas, over real loopback TCP: a linked peer's batches are
stepped in order, and a stream that does not open with the listener's secret is closed before
anything it sends is stepped (only a replica, which learnt the secret over Ray, can inject Raft
messages)."""

from __future__ import annotations

import asyncio
import struct

from kubemu.actors.peer_link import PeerLinks

DEADLINE = 5.0
FRAME = struct.Struct(">I")


async def wait_for(condition, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def frame(payload: bytes) -> bytes:
    return FRAME.pack(len(payload)) + payload


async def test_a_peer_that_learnt_the_address_sends_batches_that_are_stepped_in_order():
    stepped: list[bytes] = []
    receiver, sender = PeerLinks(stepped.append), PeerLinks(lambda _b: None)
    address = await receiver.listen("127.0.0.1")

    async def lookup():
        return address

    try:
        sender.connect(2, lookup)
        await wait_for(lambda: sender.send(2, b"one"), "the link to come up")
        assert sender.send(2, b"two")
        await wait_for(lambda: len(stepped) == 2, "both batches stepped")
        assert stepped == [b"one", b"two"]
    finally:
        await sender.close()
        await receiver.close()


async def test_a_stream_without_the_secret_is_closed_and_nothing_it_sends_is_stepped():
    stepped: list[bytes] = []
    receiver = PeerLinks(stepped.append)
    host, port, secret = await receiver.listen("127.0.0.1")
    try:
        for opening in (b"x" * len(secret), b"not-a-secret"):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(frame(opening) + frame(b"forged raft message"))
            await writer.drain()
            closed = await asyncio.wait_for(reader.read(), DEADLINE)
            assert closed == b""  # the listener hung up
            writer.close()
        # A stream that sends the right secret is served: the forged ones were refused for it.
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(frame(secret) + frame(b"genuine"))
        await wait_for(lambda: stepped == [b"genuine"], "the genuine batch stepped")
        writer.close()
    finally:
        await receiver.close()
