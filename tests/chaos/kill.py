"""Crashing actors of the session cluster, and waiting until Ray has them back.

`os.kill(pid, SIGKILL)` is a crash: the process is gone when it returns (`ray.kill` is
asynchronous, and a victim alive for those milliseconds could still answer). Every actor has
`max_restarts=-1`, so Ray starts it again from its constructor arguments; `restarted` polls a
probe method until a new process answers it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ray


def actor(api_cluster: Any, name: str) -> Any:
    """The cluster's Ray actor called `name`."""
    from kubemu.actors.runtime import namespace

    return ray.get_actor(name, namespace=namespace(api_cluster.name))


def crash(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def answer(handle: Any, method: str, timeout: float = 15.0) -> Any:
    """`handle.method()`, or None while the actor is dead, restarting or too slow."""
    try:
        return ray.get(getattr(handle, method).remote(), timeout=timeout)
    except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
        return None


def restarted(handle: Any, old_pid: int, *, method: str = "ping",
              ready: Callable[[dict], bool] = lambda _: True, timeout: float = 120.0) -> dict:
    """Wait until a process other than `old_pid` answers `method` (a dict with "pid") and
    `ready` holds for that answer; the answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = answer(handle, method)
        if last and last["pid"] != old_pid and ready(last):
            return last
        time.sleep(0.25)
    raise AssertionError(f"the actor did not come back within {timeout:g}s (last: {last!r})")


async def until(check: Callable[[], Awaitable[Any]], *, timeout: float = 60.0,
                what: str = "condition") -> Any:
    """Poll the async `check` until it returns something true (asyncio's wait_for)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout:g}s (last: {last!r})")
