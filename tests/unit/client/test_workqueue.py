"""WorkQueue: de-duplication, the dirty/processing invariant, delays, rate limits, shutdown, timer.

Time is a ManualClock; `get` advances due delays itself and tests call `advance()` to wake
getters that already wait. Nothing sleeps: `settle` yields to the event loop a bounded number
of turns, and `run_timer` gets a `FakeSleep` the test releases by hand.
"""

from __future__ import annotations

import asyncio

import pytest
from kubemu.cluster.client.ratelimit import ItemExponentialFailureRateLimiter
from kubemu.cluster.client.workqueue import ShutDown, WorkQueue
from kubemu.cluster.clock import ManualClock


async def settle(turns: int = 10) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


class FakeSleep:
    """A `sleep(seconds)` that records its argument and returns only when released."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self._pending: list[asyncio.Future] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        future = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        await future

    def release(self) -> None:
        for future in self._pending:
            if not future.done():
                future.set_result(None)
        self._pending.clear()


async def drain(queue: WorkQueue) -> list:
    """Keys ready now, in order, each marked done."""
    keys = []
    while len(queue):
        keys.append(await queue.get())
        queue.done(keys[-1])
    return keys


@pytest.mark.parametrize("adds, expected", [
    pytest.param(["a", "a", "a"], ["a"], id="same-key-thrice-queued-once"),
    pytest.param(["a", "b", "a", "c", "b"], ["a", "b", "c"], id="first-add-keeps-position"),
    pytest.param([("ns", "x"), ("ns", "x"), ("ns", "y")], [("ns", "x"), ("ns", "y")],
                 id="tuple-keys"),
])
async def test_repeated_adds_of_a_queued_key_collapse_into_one(adds, expected):
    queue = WorkQueue(ManualClock())
    for key in adds:
        queue.add(key)
    assert len(queue) == queue.depth == len(expected)
    assert queue.adds == len(expected)
    assert [await queue.get() for _ in expected] == expected


async def test_key_added_while_processing_is_requeued_only_when_done():
    queue = WorkQueue(ManualClock())
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_done_without_a_new_add_does_not_requeue():
    queue = WorkQueue(ManualClock())
    queue.add("a")
    await queue.get()
    queue.done("a")
    assert len(queue) == 0


async def test_two_getters_never_hold_the_same_key_at_once():
    queue = WorkQueue(ManualClock())
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("a")
    await settle()
    (holder,) = [task for task in (first, second) if task.done()]
    other = second if holder is first else first
    assert holder.result() == "a"
    queue.add("a")             # a new event while "a" is being reconciled
    await settle()
    assert not other.done()    # the other worker must not start "a" concurrently
    queue.add("b")
    await settle()
    assert other.result() == "b"
    third = asyncio.create_task(queue.get())
    await settle()
    assert not third.done()
    queue.done("a")
    await settle()
    assert third.result() == "a"


@pytest.mark.parametrize("delays, expected", [
    pytest.param([("a", 3.0), ("b", 1.0), ("c", 2.0)], ["b", "c", "a"], id="ordered-by-ready-time"),
    pytest.param([("a", 1.0), ("b", 1.0), ("c", 1.0)], ["a", "b", "c"], id="ties-in-add-order"),
    pytest.param([("a", 5.0), ("a", 2.0), ("b", 3.0)], ["a", "b"], id="earlier-time-wins"),
    pytest.param([("a", 2.0), ("a", 5.0), ("b", 3.0)], ["a", "b"], id="later-time-ignored"),
])
async def test_add_after_hands_out_keys_by_ready_time(delays, expected):
    clock = ManualClock()
    queue = WorkQueue(clock)
    for key, seconds in delays:
        queue.add_after(key, seconds)
    assert len(queue) == 0
    got = []
    while queue.next_ready_in() is not None:
        clock.advance(queue.next_ready_in())
        assert queue.advance() >= 1
        got.extend(await drain(queue))
    assert got == expected


@pytest.mark.parametrize("first, second, ready_in", [
    pytest.param(5.0, 2.0, 2.0, id="earlier-replaces-later"),
    pytest.param(2.0, 5.0, 2.0, id="later-keeps-earlier"),
])
async def test_key_already_waiting_keeps_the_earlier_ready_time(first, second, ready_in):
    clock = ManualClock()
    queue = WorkQueue(clock)
    queue.add_after("a", first)
    queue.add_after("a", second)
    assert queue.waiting == 1
    assert queue.next_ready_in() == ready_in
    clock.advance(ready_in - 0.001)
    assert queue.advance() == 0
    clock.advance(0.001)
    assert queue.advance() == 1
    assert queue.next_ready_in() is None
    assert await queue.get() == "a"


@pytest.mark.parametrize("seconds", [
    pytest.param(0.0, id="zero"),
    pytest.param(-1.0, id="negative"),
])
async def test_add_after_without_positive_delay_adds_at_once(seconds):
    queue = WorkQueue(ManualClock())
    queue.add_after("a", seconds)
    assert len(queue) == 1
    assert queue.waiting == 0


async def test_get_advances_due_keys_itself():
    clock = ManualClock()
    queue = WorkQueue(clock)
    queue.add_after("a", 1.0)
    clock.advance(1.0)
    assert await queue.get() == "a"


async def test_advance_wakes_a_waiting_getter():
    clock = ManualClock()
    queue = WorkQueue(clock)
    getter = asyncio.create_task(queue.get())
    queue.add_after("a", 1.0)
    await settle()
    assert not getter.done()
    clock.advance(1.0)
    queue.advance()
    await settle()
    assert getter.result() == "a"


async def test_rate_limited_requeues_back_off_exponentially_until_forget():
    clock = ManualClock()
    queue = WorkQueue(clock)       # the client-go controller default
    delays = []
    for _ in range(5):
        queue.add_rate_limited("k")
        delays.append(queue.next_ready_in())
        clock.advance(delays[-1])
        assert await queue.get() == "k"
        queue.done("k")
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert queue.num_requeues("k") == 5
    queue.forget("k")
    assert queue.num_requeues("k") == 0
    queue.add_rate_limited("k")
    assert queue.next_ready_in() == pytest.approx(0.005)


async def test_rate_limited_backoff_is_capped():
    clock = ManualClock()
    queue = WorkQueue(clock, rate_limiter=ItemExponentialFailureRateLimiter(1.0, 4.0))
    delays = []
    for _ in range(5):
        queue.add_rate_limited("k")
        delays.append(queue.next_ready_in())
        clock.advance(delays[-1])
        queue.advance()
        await drain(queue)
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]


async def test_shut_down_wakes_every_waiting_getter_with_shutdown():
    queue = WorkQueue(ManualClock())
    getters = [asyncio.create_task(queue.get()) for _ in range(2)]
    await settle()
    queue.shut_down()
    await settle()
    for getter in getters:
        with pytest.raises(ShutDown):
            getter.result()


async def test_shut_down_hands_out_queued_keys_then_raises_and_ignores_new_adds():
    clock = ManualClock()
    queue = WorkQueue(clock)
    queue.add("a")
    queue.add_after("later", 1.0)
    queue.shut_down()
    queue.add("b")
    queue.add_after("c", 1.0)
    queue.add_rate_limited("d")
    assert queue.shutting_down
    assert queue.adds == 1          # only "a": delayed keys count when they become due
    assert queue.waiting == 0
    assert queue.num_requeues("d") == 0
    assert await queue.get() == "a"
    clock.advance(2.0)
    with pytest.raises(ShutDown):
        await queue.get()


async def test_run_timer_sleeps_until_next_key_is_due_and_idles_otherwise():
    clock = ManualClock()
    queue = WorkQueue(clock)
    sleep = FakeSleep()
    queue.add_after("a", 2.0)
    timer = asyncio.create_task(queue.run_timer(sleep))
    await settle()
    assert sleep.calls == [2.0]
    clock.advance(2.0)
    sleep.release()
    await settle()
    assert len(queue) == 1
    assert sleep.calls == [2.0, 1.0]
    queue.shut_down()
    await settle()
    assert timer.done() and timer.exception() is None


async def test_earlier_add_after_cuts_the_timer_sleep_short():
    clock = ManualClock()
    queue = WorkQueue(clock)
    sleep = FakeSleep()
    timer = asyncio.create_task(queue.run_timer(sleep))
    await settle()
    assert sleep.calls == [1.0]
    queue.add_after("a", 0.25)
    await settle()
    assert sleep.calls == [1.0, 0.25]
    queue.add_after("b", 0.5)      # not earlier: the timer keeps sleeping
    await settle()
    assert sleep.calls == [1.0, 0.25]
    queue.shut_down()
    await settle()
    assert timer.done()
