"""WorkQueue: client-go's workqueue (Type + DelayingQueue + RateLimitingQueue) on asyncio.

Controllers are level-based: event handlers only `add` keys, workers `get` a key, reconcile it
and call `done`. The queue holds keys, never objects, so many events for one object collapse
into one reconcile of its latest state.

Invariants (client-go's queue/dirty/processing sets):
- a key is in `dirty` while it waits to be processed; adding a dirty key again is a no-op, so a
  key is queued at most once;
- a key handed out by `get` is in `processing` until `done`; adding it meanwhile only marks it
  dirty, and `done` puts it back in the queue -- so no two workers ever hold the same key and
  no change made during a reconcile is lost;
- every key in the ready queue is dirty and not processing.

Delays: `add_after` parks a key in a min-heap of (ready_at, seq, key); a key already waiting
keeps the EARLIER of its two ready times (stale heap entries are skipped lazily). The queue
never sleeps by itself: `advance()` moves every due key into the ready queue (given the
injected clock's now), `next_ready_in()` says when the next one is due, and `run_timer(sleep)`
is the driver loop a controller runner starts with `asyncio.sleep` (an earlier `add_after`
wakes it). `get()` also advances before looking, so tests drive a ManualClock and call `get`.
`add_rate_limited` asks the rate limiter (default: client-go's controller limiter) for the
delay; `forget` resets the key's backoff after a successful reconcile.

`shut_down()` drops waiting delays, ignores later adds, and wakes every getter; `get` still
hands out keys already queued and raises `ShutDown` once the queue is empty.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

from kubemu.cluster.client.ratelimit import RateLimiter, default_controller_rate_limiter
from kubemu.cluster.clock import Clock

__all__ = ["TIMER_IDLE_SECONDS", "ShutDown", "WorkQueue"]

TIMER_IDLE_SECONDS = 1.0  # run_timer's sleep when nothing is waiting


class ShutDown(Exception):
    """`get` on a queue that was shut down and has nothing left to hand out."""


class WorkQueue:
    """A de-duplicating, delaying, rate-limited queue of keys for level-based controllers."""

    def __init__(self, clock: Clock, *, rate_limiter: RateLimiter | None = None) -> None:
        self._clock = clock
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(clock)
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: list[tuple[float, int, Hashable]] = []  # heap; may hold stale entries
        self._waiting_for: dict[Hashable, tuple[float, int]] = {}  # key -> live (ready_at, seq)
        self._seq = itertools.count()
        self._ready = asyncio.Event()  # set when a key may be ready or on shutdown
        self._timer_wake = asyncio.Event()  # set when the earliest ready time moved earlier
        self._shutting_down = False
        self.adds = 0  # accepted adds (not de-duplicated, not after shutdown)

    # -- basic queue ---------------------------------------------------------------------

    def add(self, key: Hashable) -> None:
        """Queue `key` unless it is queued already; if it is being processed, mark it dirty."""
        if self._shutting_down or key in self._dirty:
            return
        self.adds += 1
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._ready.set()

    async def get(self) -> Hashable:
        """The next ready key, waiting for one; raises `ShutDown` once shut down and empty."""
        while True:
            self.advance()
            if self._queue:
                key = self._queue.popleft()
                self._dirty.discard(key)
                self._processing.add(key)
                return key
            if self._shutting_down:
                raise ShutDown()
            self._ready.clear()
            await self._ready.wait()

    def done(self, key: Hashable) -> None:
        """Processing of `key` ended; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._ready.set()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def depth(self) -> int:
        """Keys ready to be handed out (client-go's depth metric)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def shut_down(self) -> None:
        """Ignore further adds, drop pending delays, and wake every waiting getter and timer."""
        self._shutting_down = True
        self._waiting.clear()
        self._waiting_for.clear()
        self._ready.set()
        self._timer_wake.set()

    # -- delays --------------------------------------------------------------------------

    def add_after(self, key: Hashable, seconds: float) -> None:
        """Queue `key` once `seconds` have passed; a key already waiting keeps the earlier time."""
        if self._shutting_down:
            return
        if seconds <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + seconds
        current = self._waiting_for.get(key)
        if current is not None and current[0] <= ready_at:
            return
        earliest = self._earliest()
        seq = next(self._seq)
        self._waiting_for[key] = (ready_at, seq)
        heapq.heappush(self._waiting, (ready_at, seq, key))
        if earliest is None or ready_at < earliest:
            self._timer_wake.set()

    def advance(self) -> int:
        """Move every key whose ready time has come into the queue; returns how many moved."""
        now = self._clock.now()
        moved = 0
        while self._waiting and self._waiting[0][0] <= now:
            ready_at, seq, key = heapq.heappop(self._waiting)
            if self._waiting_for.get(key) != (ready_at, seq):
                continue  # superseded by an earlier add_after of the same key
            del self._waiting_for[key]
            self.add(key)
            moved += 1
        return moved

    def next_ready_in(self) -> float | None:
        """Seconds until the next waiting key is due (0 if overdue), or None if none waits."""
        earliest = self._earliest()
        if earliest is None:
            return None
        return max(0.0, earliest - self._clock.now())

    @property
    def waiting(self) -> int:
        """Keys parked by `add_after` and not yet due."""
        return len(self._waiting_for)

    async def run_timer(self, sleep: Callable[[float], Awaitable[None]], *,
                        idle: float = TIMER_IDLE_SECONDS) -> None:
        """Driver loop until shutdown: advance, then sleep until the next key is due (or `idle`).

        An `add_after` that moves the earliest ready time earlier cuts the sleep short.
        """
        while not self._shutting_down:
            self.advance()
            delay = self.next_ready_in()
            self._timer_wake.clear()
            await self._sleep_or_wake(sleep, idle if delay is None else delay)

    # -- rate limiting -------------------------------------------------------------------

    def add_rate_limited(self, key: Hashable) -> None:
        """Queue `key` after the rate limiter's delay (which also counts one requeue)."""
        if self._shutting_down:
            return
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: Hashable) -> None:
        """Reset `key`'s backoff history (after a successful reconcile)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return self.rate_limiter.num_requeues(key)

    # -- helpers -------------------------------------------------------------------------

    def _earliest(self) -> float | None:
        while self._waiting:
            ready_at, seq, key = self._waiting[0]
            if self._waiting_for.get(key) == (ready_at, seq):
                return ready_at
            heapq.heappop(self._waiting)  # stale entry
        return None

    async def _sleep_or_wake(self, sleep: Callable[[float], Awaitable[None]],
                             seconds: float) -> None:
        sleeper = asyncio.ensure_future(sleep(seconds))
        waker = asyncio.ensure_future(self._timer_wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                if not task.done():
                    task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
        if sleeper.done() and not sleeper.cancelled() and sleeper.exception() is not None:
            raise sleeper.exception()  # type: ignore[misc]
