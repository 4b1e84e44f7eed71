"""Controller runtime: informer events -> workqueue -> reconcile, with backoff and requeue-after.

Runs the real in-process API server (LocalStore under it), the real ApiClient over
RouterTransport and real Informers. The toy reconciler copies a ConfigMap's data["want"] into
its annotation "seen" through the client. Time never passes by itself: the controller's queue
uses a ManualClock and its timer's `sleep` either parks forever (tests move the clock and call
`queue.advance()`) or advances the ManualClock by what it was asked (`VirtualSleep`). Tests
wait with a bounded number of event-loop turns (`settle`), never wall-clock sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio
from kubemu.cluster.api import watches
from kubemu.cluster.api.server import ApiServer
from kubemu.cluster.client import ApiClient, Informer, RouterTransport
from kubemu.cluster.client.workqueue import TIMER_IDLE_SECONDS
from kubemu.cluster.clock import ManualClock
from kubemu.cluster.controllers import Controller, Request, Result, owner_requests
from kubemu.cluster.store.local import LocalStore

TOKEN = "controller-test-token"


@pytest_asyncio.fixture(loop_scope="function")
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ApiClient]:
    monkeypatch.setattr(watches, "BOOKMARK_SECONDS", math.inf)
    store = LocalStore()
    # finalize_namespaces=False: as in a cluster, namespaces are the controller manager's to
    # empty; the standalone sweep would race tests that keep a namespace Terminating
    server = ApiServer(store, token=TOKEN, wall_clock=lambda: 1_800_000_000.0,
                       rng=random.Random(7), finalize_namespaces=False)
    await server.start()
    try:
        yield ApiClient(RouterTransport(server.router, token=TOKEN))
    finally:
        await server.stop()
        await store.close()


class ParkedSleep:
    """The queue timer's `sleep` that never returns: tests drive the queue themselves."""

    async def __call__(self, seconds: float) -> None:
        await asyncio.get_running_loop().create_future()


class VirtualSleep:
    """The queue timer's `sleep` in virtual time: a due delay moves the clock at once;
    the idle wait (nothing queued for later) parks."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        if seconds >= TIMER_IDLE_SECONDS:
            await asyncio.get_running_loop().create_future()
        self.delays.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


class Mirror:
    """The toy reconciler: annotation "seen" := data["want"], read from the lister."""

    def __init__(self, client: ApiClient, informer: Informer) -> None:
        self.client, self.informer = client, informer
        self.observed: list[str | None] = []  # data["want"] each reconcile saw
        self.writes = 0
        self.fail_times = 0  # raise this many more times before working
        self.requeue_after: float | None = None
        self.gate: asyncio.Event | None = None  # first reconcile waits on it after reading

    async def __call__(self, request: Request) -> Result | None:
        obj = self.informer.lister.get(request.name, request.namespace)
        want = None if obj is None else (obj.get("data") or {}).get("want")
        self.observed.append(want)
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("injected failure")
        if obj is not None and (obj["metadata"].get("annotations") or {}).get("seen") != want:
            self.writes += 1
            await self.client.patch("v1", "ConfigMap", request.name,
                                    {"metadata": {"annotations": {"seen": want}}},
                                    namespace=request.namespace)
        return Result(requeue_after=self.requeue_after)


def configmap(name: str, want: str, ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": {"want": want}}


def pod(name: str, *refs: dict, ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "ownerReferences": list(refs)},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def ref(kind: str, name: str, *, controller: bool | None = True,
        api_version: str = "apps/v1") -> dict:
    out = {"apiVersion": api_version, "kind": kind, "name": name, "uid": f"uid-{name}"}
    if controller is not None:
        out["controller"] = controller
    return out


async def settle(pred: Callable[[], bool], *, turns: int = 5000) -> None:
    for _ in range(turns):
        if pred():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def idle(turns: int = 300) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


async def seen(client: ApiClient, name: str) -> str | None:
    obj = await client.get("v1", "ConfigMap", name, namespace="default")
    return (obj["metadata"].get("annotations") or {}).get("seen")


@asynccontextmanager
async def running(controller: Controller, *informers: Informer) -> AsyncIterator[Controller]:
    informer_tasks = [asyncio.create_task(i.run()) for i in informers]
    run = asyncio.create_task(controller.run(informers))
    try:
        yield controller
    finally:
        await asyncio.wait_for(controller.stop(), 2)
        await asyncio.wait_for(run, 2)
        for informer in informers:
            informer.stop()
        await asyncio.wait_for(asyncio.gather(*informer_tasks), 2)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def configmaps(client: ApiClient) -> Informer:
    return Informer(client, "v1", "ConfigMap", namespace="default", clock=ManualClock(),
                    sleep=ParkedSleep())


@pytest.fixture
def mirror(client: ApiClient, configmaps: Informer) -> Mirror:
    return Mirror(client, configmaps)


@pytest.fixture
def make(clock: ManualClock, configmaps: Informer, mirror: Mirror):
    def build(**kw) -> Controller:
        kw.setdefault("sleep", ParkedSleep())
        controller = Controller("mirror", reconcile=mirror, clock=clock, **kw)
        controller.watch(configmaps)
        return controller
    return build


# -- reconcile on events ---------------------------------------------------------------------

async def test_a_create_is_reconciled_once_and_its_own_write_echoes_as_a_no_op(
        client, configmaps, mirror, make):
    controller = make()
    async with running(controller, configmaps):
        await client.create(configmap("a", "1"))
        await settle(lambda: mirror.writes == 1)
        assert await seen(client, "a") == "1"
        await settle(lambda: controller.reconciles == 2)  # the echo of its own patch
        await idle()
        assert (controller.reconciles, mirror.writes, controller.errors) == (2, 1, 0)
        assert mirror.observed == ["1", "1"]


async def test_objects_listed_before_start_are_reconciled_after_sync(client, configmaps,
                                                                     mirror, make):
    for name in ("a", "b"):
        await client.create(configmap(name, name))
    async with running(make(workers=2), configmaps):
        await settle(lambda: mirror.writes == 2)
        assert [await seen(client, n) for n in ("a", "b")] == ["a", "b"]


async def test_updates_during_a_reconcile_collapse_and_the_final_state_wins(
        client, configmaps, mirror, make):
    gate = mirror.gate = asyncio.Event()
    controller = make()
    async with running(controller, configmaps):
        await client.create(configmap("a", "0"))
        await settle(lambda: mirror.observed == ["0"])  # blocked in the first reconcile
        for want in ("1", "2", "3", "4", "5"):
            await client.patch("v1", "ConfigMap", "a", {"data": {"want": want}},
                               namespace="default")
        await settle(lambda: configmaps.lister.get("a", "default")["data"]["want"] == "5")
        assert controller.queue.depth == 0  # dirty while processing, not queued
        gate.set()
        await settle(lambda: mirror.writes == 2)
        await idle()
        assert await seen(client, "a") == "5"
        assert mirror.observed[:2] == ["0", "5"]
        assert set(mirror.observed[1:]) == {"5"}  # "1".."4" were never reconciled


async def test_deleting_an_object_reconciles_its_request(client, configmaps, mirror, make):
    controller = make()
    async with running(controller, configmaps):
        await client.create(configmap("a", "1"))
        await settle(lambda: controller.reconciles == 2)
        await client.delete("v1", "ConfigMap", "a", namespace="default")
        await settle(lambda: controller.reconciles == 3)
        assert mirror.observed[-1] is None


# -- failures and requeues -------------------------------------------------------------------

async def test_a_failing_reconcile_is_retried_with_backoff_then_forgotten(
        client, clock, configmaps, mirror, make, caplog):
    mirror.fail_times = 2
    timer = VirtualSleep(clock)
    controller = make(sleep=timer)
    request = Request("default", "a")
    with caplog.at_level(logging.ERROR, logger="kubemu.controllers"):
        async with running(controller, configmaps):
            await client.create(configmap("a", "1"))
            await settle(lambda: mirror.writes == 1)
            assert await seen(client, "a") == "1"
            assert controller.errors == 2
            assert timer.delays == pytest.approx([0.005, 0.01])  # client-go's per-item backoff
            assert controller.queue.num_requeues(request) == 0  # success forgot it
    failures = [r for r in caplog.records if r.name == "kubemu.controllers"]
    assert [(r.controller, r.key) for r in failures] == [("mirror", "default/a")] * 2


async def test_backoff_holds_the_key_until_the_clock_reaches_it(client, clock, configmaps,
                                                                mirror, make):
    mirror.fail_times = 1
    controller = make()
    async with running(controller, configmaps):
        await client.create(configmap("a", "1"))
        await settle(lambda: controller.errors == 1)
        await idle()
        assert (controller.reconciles, controller.queue.waiting) == (1, 1)
        clock.advance(0.004)
        assert controller.queue.advance() == 0
        clock.advance(0.002)
        assert controller.queue.advance() == 1
        await settle(lambda: mirror.writes == 1)


async def test_requeue_after_reruns_once_the_clock_moves_that_far_and_not_before(
        client, clock, configmaps, mirror, make):
    mirror.requeue_after = 30
    controller = make()
    async with running(controller, configmaps):
        await client.create(configmap("a", "1"))
        await settle(lambda: controller.reconciles == 2)  # the create and its echo
        await idle()
        assert controller.queue.waiting == 1
        clock.advance(29.9)
        assert controller.queue.advance() == 0
        await idle()
        assert controller.reconciles == 2
        clock.advance(0.1)
        assert controller.queue.advance() == 1
        await settle(lambda: controller.reconciles == 3)
        assert controller.queue.num_requeues(Request("default", "a")) == 0


# -- owners ----------------------------------------------------------------------------------

@pytest.mark.parametrize("obj, expected", [
    pytest.param(pod("p", ref("ReplicaSet", "rs")), [Request("default", "rs")],
                 id="controller-owner-maps-to-its-request"),
    pytest.param(pod("p", ref("ReplicaSet", "rs", controller=False)), [],
                 id="non-controller-owner-ignored"),
    pytest.param(pod("p", ref("ReplicaSet", "rs", controller=None)), [],
                 id="owner-without-controller-field-ignored"),
    pytest.param(pod("p", ref("StatefulSet", "ss")), [], id="other-kind-ignored"),
    pytest.param(pod("p", ref("ConfigMap", "x", controller=False), ref("ReplicaSet", "rs")),
                 [Request("default", "rs")], id="controller-found-among-several"),
    pytest.param(pod("p"), [], id="no-owners"),
    pytest.param(pod("p", ref("ReplicaSet", "rs"), ns="team"), [Request("team", "rs")],
                 id="owner-lives-in-the-objects-namespace"),
])
def test_owner_requests_maps_an_object_to_its_controller(obj, expected):
    assert owner_requests("ReplicaSet")(obj) == expected


@pytest.mark.parametrize("api_version, expected", [
    pytest.param("apps/v1", [Request("default", "rs")], id="same-group"),
    pytest.param("extensions/v1beta1", [], id="other-group-ignored"),
])
def test_owner_requests_checks_the_group_when_given(api_version, expected):
    obj = pod("p", ref("ReplicaSet", "rs", api_version=api_version))
    assert owner_requests("ReplicaSet", api_version="apps/v1")(obj) == expected


async def test_watch_with_owner_requests_enqueues_the_pods_replicaset(client, clock):
    pods = Informer(client, "v1", "Pod", clock=ManualClock(), sleep=ParkedSleep())
    seen_requests: list[Request] = []

    async def record(request: Request) -> None:
        seen_requests.append(request)

    controller = Controller("replicaset", reconcile=record, clock=clock, sleep=ParkedSleep())
    controller.watch(pods, map_to=owner_requests("ReplicaSet"))
    async with running(controller, pods):
        await client.create(pod("orphan"))
        await client.create(pod("p1", ref("ReplicaSet", "web")))
        await settle(lambda: len(seen_requests) == 1)
        await idle()
        assert seen_requests == [Request("default", "web")]


# -- lifecycle -------------------------------------------------------------------------------

async def test_workers_wait_until_every_informer_synced(client, clock, configmaps, mirror):
    controller = Controller("mirror", reconcile=mirror, clock=clock, sleep=ParkedSleep())
    controller.enqueue(Request("default", "a"))
    run = asyncio.create_task(controller.run([configmaps]))
    await idle()
    assert controller.reconciles == 0  # the informer was never started
    informer_task = asyncio.create_task(configmaps.run())
    await settle(lambda: controller.reconciles == 1)
    await asyncio.wait_for(controller.stop(), 2)
    assert run.done()
    configmaps.stop()
    await asyncio.wait_for(informer_task, 2)


async def test_stop_while_waiting_for_sync_ends_run(clock, configmaps, mirror):
    controller = Controller("mirror", reconcile=mirror, clock=clock)
    run = asyncio.create_task(controller.run([configmaps]))
    await idle(10)
    await asyncio.wait_for(controller.stop(), 2)
    assert run.done() and controller.reconciles == 0


async def test_stop_lets_the_current_reconcile_finish_and_ends_run(client, configmaps,
                                                                   mirror, make):
    gate = mirror.gate = asyncio.Event()
    controller = make()
    informer_task = asyncio.create_task(configmaps.run())
    run = asyncio.create_task(controller.run([configmaps]))
    await client.create(configmap("a", "1"))
    await settle(lambda: mirror.observed == ["1"])
    stopped = controller.stop()
    await idle()
    assert not run.done()  # still inside the reconcile
    gate.set()
    await asyncio.wait_for(stopped, 2)
    assert run.done() and run.exception() is None
    assert mirror.writes == 1 and await seen(client, "a") == "1"
    controller.enqueue(Request("default", "b"))  # ignored after stop
    assert controller.queue.depth == 0 and controller.reconciles == 1
    configmaps.stop()
    await asyncio.wait_for(informer_task, 2)


async def test_stop_before_run_makes_run_return_at_once(clock, mirror):
    controller = Controller("mirror", reconcile=mirror, clock=clock)
    await controller.stop()
    await asyncio.wait_for(controller.run(), 2)
    assert controller.reconciles == 0


def test_request_key_round_trips():
    cases = [Request("default", "a"), Request("", "node-1")]
    assert [r.key for r in cases] == ["default/a", "node-1"]
    assert [Request.from_key(r.key) for r in cases] == cases


def test_result_rejects_a_negative_requeue_after():
    with pytest.raises(ValueError):
        Result(requeue_after=-1)


async def test_a_write_refused_by_a_terminating_namespace_is_dropped_not_retried(
        client, clock, configmaps):
    """Upstream's controllers drop such keys: retrying can never succeed, and the namespace's
    deletion takes the object away anyway."""
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
    await client.create(configmap("held", "x", ns="gone"), namespace="gone")
    await client.delete("v1", "Namespace", "gone")  # Terminating while it holds content
    attempts: list[Request] = []

    async def create_in_gone(request: Request) -> None:
        attempts.append(request)
        await client.create(configmap(request.name, "x", ns="gone"), namespace="gone")

    controller = Controller("mirror", reconcile=create_in_gone, clock=clock,
                            sleep=VirtualSleep(clock))
    controller.watch(configmaps)
    async with running(controller, configmaps):
        await client.create(configmap("a", "1"))
        await settle(lambda: controller.errors == 1)
        await idle()
        assert attempts == [Request("default", "a")]
        assert (controller.queue.waiting, controller.queue.num_requeues(attempts[0])) == (0, 0)
