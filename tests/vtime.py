"""Virtual time for asyncio: an event loop whose clock jumps instead of waiting.

`VirtualTimeLoop` is a selector event loop whose `time()` is a counter. When the loop has
nothing ready to run and would block in `select(timeout)`, it polls the real selector without
waiting and, if no I/O is ready, advances the counter by `timeout`: the earliest timer fires
at once. Every `asyncio.sleep`, `call_later` and `wait_for` deadline therefore costs no wall
time, and a scenario spanning hours of Kubernetes time runs in the time its work takes. Order
is deterministic for a given program (FIFO ready queue, timers by deadline). A loop with no
timer and no ready work is stuck for good: `run` raises instead of hanging.

`run(main, start=0.0)` runs `main()` on a fresh loop and closes it.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["VirtualTimeLoop", "Deadlock", "run"]


class Deadlock(RuntimeError):
    """Nothing is ready and no timer is pending: the program can never progress."""


class _VirtualSelector(selectors.DefaultSelector):
    loop: VirtualTimeLoop

    def select(self, timeout: float | None = None) -> list:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            raise Deadlock("no timer pending and nothing ready: the program is stuck")
        self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 0.0) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._now = start

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)


def run(main: Callable[[], Awaitable[T]], *, start: float = 0.0) -> T:
    """Run `main()` to completion in virtual time."""
    loop = VirtualTimeLoop(start)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main())
    finally:
        try:
            _cancel_all(loop)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


