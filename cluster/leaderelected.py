"""LeaderElected: a component (scheduler, controller manager) that runs only while its
replica holds a Lease -- client-go's OnStartedLeading / OnStoppedLeading around `run()`.

`run()` waits for the lease (`LeaderElector.acquire`), builds a fresh component with
`component_factory()` (a component is never restarted: each term of leadership gets a new
one), runs it while renewing, and stops it as soon as a renewal fails for renew_deadline --
before any standby can see the lease expire. Unlike a real binary, which exits on a lost lease,
it then goes back to waiting as a standby. A component that ends on its own gives the lease up
(so a standby may lead) and is rebuilt when this replica leads again. `stop()` stops the
component first, then releases the lease (ReleaseOnCancel), and returns once `run()` ended.
The component never knows it is leader-elected.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from kubemu.cluster.leaderelection import ElectionConfig, LeaderElector, within
from kubemu.cluster.timing import Timing

__all__ = ["LeaderElected", "Component"]

log = logging.getLogger("kubemu.leaderelection")


class Component(Protocol):
    async def run(self) -> None: ...

    async def stop(self) -> None: ...


class LeaderElected:
    """Runs `component_factory()`'s component only while `identity` holds the Lease."""

    def __init__(self, client: Any, timing: Timing,
                 component_factory: Callable[[], Component], *, lease: str, identity: str,
                 namespace: str = "kube-system", config: ElectionConfig | None = None,
                 rng: random.Random | None = None, stop_timeout: float = 10.0) -> None:
        self.timing = timing
        self.component_factory = component_factory
        self.elector = LeaderElector(client, timing, name=lease, identity=identity,
                                     namespace=namespace, config=config, rng=rng)
        self.stop_timeout = stop_timeout
        self.component: Component | None = None
        self.terms = 0  # how many times this candidate became leader
        self._stopping = asyncio.Event()
        self._running: asyncio.Event | None = None  # set while run() has not returned

    @property
    def leading(self) -> bool:
        """Whether the component is running (this candidate leads)."""
        return self.component is not None

    async def run(self) -> None:
        """Wait for the lease, run the component while leading, repeat; until `stop()`."""
        done = self._running = asyncio.Event()
        try:
            while not self._stopping.is_set():
                if not await self._first(self.elector.acquire()):
                    return
                await self._lead()
        finally:
            try:
                if self.elector.config.release_on_cancel:
                    await asyncio.shield(self.elector.release())
            finally:
                done.set()

    async def stop(self) -> None:
        """Stop the component if leading, release the lease; return once `run()` ended."""
        self._stopping.set()
        if self._running is not None:
            await self._running.wait()

    async def _lead(self) -> None:
        self.terms += 1
        component = self.component = self.component_factory()
        loop = asyncio.get_running_loop()
        running = loop.create_task(component.run(), name=f"leader {self.elector.identity}")
        renewing = loop.create_task(self.elector.renew())
        stopping = loop.create_task(self._stopping.wait())
        ended = False
        try:
            await asyncio.wait({running, renewing, stopping},
                               return_when=asyncio.FIRST_COMPLETED)
            ended = running.done()
            if ended and not running.cancelled():
                log.error("%s: the component ended while leading (%r); giving the lease up",
                          self.elector.identity, running.exception())
        finally:
            renewing.cancel()
            stopping.cancel()
            await asyncio.gather(renewing, stopping, return_exceptions=True)
            await self._stop_component(component, running)
            self.component = None
        if ended and not self._stopping.is_set():
            await self.elector.release()  # the component ended: let another candidate lead
            await self.timing.sleep(self.elector.config.retry_period)

    async def _stop_component(self, component: Component, running: asyncio.Task) -> None:
        if not running.done():
            try:
                await within(self.timing, self.stop_timeout, component.stop())
            except Exception as err:  # stopping must not fail
                log.warning("%s: component stop: %r", self.elector.identity, err)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    async def _first(self, work: Awaitable[None]) -> bool:
        """Await `work` unless `stop()` comes first; whether `work` finished."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, stopping):
                t.cancel()
            await asyncio.gather(task, stopping, return_exceptions=True)
        return task.done() and not task.cancelled() and task.exception() is None \
            and not self._stopping.is_set()
