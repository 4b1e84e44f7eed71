"""Submit links over a real local socket: answers find their calls in any order, a link that
is not up says so (the client then uses Ray), and a link that breaks fails every unanswered
call with ConnectionError (the client retries them) instead of leaving them waiting."""

from __future__ import annotations

import asyncio

import pytest

from kubemu.actors.submit_link import SubmitLink, SubmitServer


async def _linked(submit) -> tuple[SubmitServer, SubmitLink]:
    server = SubmitServer(submit)
    address = await server.listen("127.0.0.1")

    async def where() -> tuple[str, int]:
        return address

    link = SubmitLink()
    assert link.call(b"too early") is None  # not up yet: the caller uses Ray
    link.open(where)
    for _ in range(200):
        if link.up:
            return server, link
        await asyncio.sleep(0.01)
    raise AssertionError("the link never came up")


@pytest.mark.asyncio
async def test_answers_that_finish_out_of_order_reach_their_own_calls() -> None:
    release = {b"slow": asyncio.Event(), b"fast": asyncio.Event()}

    async def submit(payload: bytes) -> bytes:
        await release[payload].wait()
        return payload.upper()

    server, link = await _linked(submit)
    try:
        slow, fast = link.call(b"slow"), link.call(b"fast")
        release[b"fast"].set()
        assert await asyncio.wait_for(fast, 5) == b"FAST" and not slow.done()
        release[b"slow"].set()
        assert await asyncio.wait_for(slow, 5) == b"SLOW"
    finally:
        link.close()
        server.close()


@pytest.mark.asyncio
async def test_a_replica_that_cannot_answer_breaks_the_link_and_every_waiting_call_fails() -> None:
    never = asyncio.Event()

    async def submit(payload: bytes) -> bytes:
        if payload == b"bad":
            raise RuntimeError("cannot answer")
        await never.wait()
        return payload

    server, link = await _linked(submit)
    try:
        waiting = link.call(b"waits")
        broken = link.call(b"bad")
        for call in (waiting, broken):
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(call, 5)
        assert not link.up and link.call(b"after") is None
    finally:
        link.close()
        server.close()
