"""A node actor's link to the control plane, faulted like its overlay links.

Partitioning a zone must cut its kubelets off the API server too, or "partition a zone: its
nodes go NotReady" cannot happen. The API server, store, scheduler and controllers sit in a
pseudo-zone, `CONTROL_PLANE` ("control-plane"), which the node actor's own `LinkFaults`
already understands: a rule `zone-a|*` (isolate) or `zone-a|control-plane` matches it, a
rule `zone-a|zone-b` does not. `ControlPlaneTransport` wraps the node actor's API transport
and asks those faults about the hop node -> control-plane before each request: a cut raises
`ControlPlaneUnreachable` (an `aiohttp.ClientOSError`, as a refused connection does), loss
drops the request the same way with its probability, latency delays it. A watch stream that
is open when a cut starts ends with the same error at its next line or within
`WATCH_CHECK_SECONDS`, as a broken connection would: one watchdog per transport checks while
watches are open and aborts their HTTP bodies, so a line costs no more than unguarded.

A node pool shares one client between its nodes (in possibly several zones): it is cut only
when every one of its nodes is. Faults live in the actor's memory, so a restarted actor
starts healed. `guard_node_client(client, actor)` installs the wrapper (idempotent); the node
actor calls it when it builds its client, and `Chaos` calls it through Ray on actors that do
not yet (`install_guard`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from kubemu.cluster.api.request import Request, Response

__all__ = ["CONTROL_PLANE", "WATCH_CHECK_SECONDS", "ControlPlaneTransport",
           "ControlPlaneUnreachable", "guard_node_client", "install_guard"]

CONTROL_PLANE = "control-plane"
WATCH_CHECK_SECONDS = 0.25  # how often an idle watch stream notices a cut


class ControlPlaneUnreachable(aiohttp.ClientOSError):
    """The node's link to the control plane is cut (or the request was lost on it)."""


_CUT_RNG = random.Random(0)  # `cut` ignores loss, the only use of randomness
Decide = Callable[[random.Random], tuple[bool, float, str]]  # (dropped, delay, reason)


class ControlPlaneTransport:
    """A `Transport` that consults link faults before each request (see the module doc)."""

    def __init__(self, inner: Any, decide: Decide, *, rng: random.Random | None = None) -> None:
        self.inner = inner
        self._decide = decide
        self._rng = rng or random.Random(0)
        self._watches: set[_Watch] = set()
        self._watchdog: asyncio.Task | None = None

    async def request(self, req: Request) -> Response:
        await self._cross(req)
        resp = await self.inner.request(req)
        if resp.stream is not None:
            resp.stream = self._guarded(resp.stream)
        return resp

    async def close(self) -> None:
        await self.inner.close()

    def cut(self) -> str:
        """Why the control plane is unreachable now ("" when it is reachable)."""
        dropped, _delay, reason = self._decide(_CUT_RNG)
        return reason if dropped and reason != "loss" else ""

    async def _cross(self, req: Request) -> None:
        dropped, delay, reason = self._decide(self._rng)
        if delay > 0:
            await asyncio.sleep(delay)  # the link's latency, not a synchronisation
        if dropped:
            raise ControlPlaneUnreachable(
                None, f"{req.method} {req.path}: the control plane is unreachable ({reason})")

    async def _guarded(self, stream: Any) -> AsyncIterator[bytes]:
        """`stream`'s lines until a cut. A stream that can be aborted (`abort()`: an HTTP
        watch body) is read directly and a watchdog aborts it when a cut starts; any other
        stream is polled for a cut while waiting for each line."""
        if not callable(getattr(stream, "abort", None)):
            async for line in self._polled(stream):
                yield line
            return
        watch = _Watch(stream)
        self._watches.add(watch)
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch_for_cuts())
        try:
            async for line in stream:
                watch.cut = watch.cut or self.cut()
                if watch.cut:
                    break
                yield line
        except (aiohttp.ClientError, OSError):
            if not watch.cut:
                raise
        finally:
            self._watches.discard(watch)
            await _close(stream)
        if watch.cut:
            raise ControlPlaneUnreachable(None, f"watch broken: {watch.cut}")

    async def _watch_for_cuts(self) -> None:
        """While watches are open: every WATCH_CHECK_SECONDS, abort them all if cut."""
        while self._watches:
            await asyncio.sleep(WATCH_CHECK_SECONDS)  # a poll period, not a synchronisation
            if self._watches and (why := self.cut()):
                for watch in list(self._watches):
                    watch.cut = why
                    watch.stream.abort()

    async def _polled(self, stream: Any) -> AsyncIterator[bytes]:
        pending: asyncio.Future | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(stream.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=WATCH_CHECK_SECONDS)
                if (why := self.cut()):
                    raise ControlPlaneUnreachable(None, f"watch broken: {why}")
                if not done:
                    continue
                try:
                    line = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                yield line
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            await _close(stream)


class _Watch:
    __slots__ = ("stream", "cut")

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.cut = ""  # why the watchdog aborted it


async def _close(stream: Any) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def guard_node_client(client: Any, actor: Any) -> Any:
    """Wrap `client`'s transport in a `ControlPlaneTransport` reading `actor`'s link faults
    (a node or node-pool `ComponentActor`); returns `client`. Idempotent."""
    if isinstance(client.transport, ControlPlaneTransport):
        return client
    client.transport = ControlPlaneTransport(client.transport, _actor_decide(actor),
                                             rng=random.Random(getattr(actor, "kind", "")))
    return client


def install_guard(actor: Any) -> bool:
    """Run inside a node actor (through `__ray_call__`): guard its client now. True when its
    client is (now) guarded; False for an actor without a running client."""
    if getattr(actor, "kind", "") not in ("node", "node-pool") or actor.client is None:
        return False
    guard_node_client(actor.client, actor)
    return True


def _actor_decide(actor: Any) -> Decide:
    """The actor's hop to the control plane: each of its nodes (name, zone from its config)
    -> control-plane, judged by the actor's current `LinkFaults`."""
    options = getattr(actor, "options", {}) or {}
    configs = [options["node"]] if "node" in options else list(options.get("nodes") or ())
    nodes = [(c.get("name", ""), c.get("zone", "")) for c in configs]

    def decide(rng: random.Random) -> tuple[bool, float, str]:
        try:
            networks = actor.component.networks
            faults = next(iter(networks.values())).pods.links
        except (AttributeError, StopIteration):  # not built yet, or stopping: no faults
            return False, 0.0, ""
        if not faults.active:  # the usual case: no walk over a pool's hundred nodes
            return False, 0.0, ""
        verdicts = [faults.decide(name, zone, CONTROL_PLANE, CONTROL_PLANE, rng)
                    for name, zone in nodes]
        if not verdicts:
            return False, 0.0, ""
        cut = all(v.dropped for v in verdicts)
        delay = min(v.delay for v in verdicts)
        reason = next((v.reason for v in verdicts if v.dropped), "")
        return cut, delay, reason

    return decide
