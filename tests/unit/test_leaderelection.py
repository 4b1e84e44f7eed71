"""Leader election: the sans-I/O decisions with plain numbers, then candidates racing for a
Lease on the real in-process API server in virtual time (a partitioned leader loses its lease
and its component; a standby takes over after the lease duration, never overlapping)."""

from __future__ import annotations

import asyncio
import random

import pytest
from kubemu.cluster.api import errors
from kubemu.cluster.api.request import Request, Response
from kubemu.cluster.client import ApiClient, RouterTransport
from kubemu.cluster.leaderelected import LeaderElected
from kubemu.cluster.leaderelection import (
    ElectionConfig, LeaderElector, LeaseElection, micro_time)
from tests import vtime
from tests.kube import TOKEN, Kube, api, eventually

WALL = 1_800_000_000.0


def _held(by: str, *, transitions: int = 0, renew: float = WALL) -> dict:
    return {"holderIdentity": by, "leaseDurationSeconds": 15,
            "acquireTime": micro_time(WALL - 100), "renewTime": micro_time(renew),
            "leaseTransitions": transitions}


# -- the decisions -----------------------------------------------------------------------------

def test_a_lease_held_by_another_is_respected_until_it_stops_changing_for_its_duration() -> None:
    e = LeaseElection("b")
    e.observe(_held("a"), now=100.0)
    assert e.next_spec(now=110.0, wall=WALL) is None
    e.observe(_held("a"), now=114.9)  # unchanged: the clock keeps running from 100
    assert e.next_spec(now=114.9, wall=WALL) is None
    e.observe(_held("a", renew=WALL + 10), now=114.9)  # renewed: valid again from now
    assert e.next_spec(now=129.0, wall=WALL) is None
    spec = e.next_spec(now=130.0, wall=WALL + 30)
    assert spec is not None
    assert (spec["holderIdentity"], spec["leaseTransitions"], spec["leaseDurationSeconds"]) \
        == ("b", 1, 15)
    assert spec["acquireTime"] == spec["renewTime"] == micro_time(WALL + 30)


def test_remote_timestamps_are_never_compared_with_the_local_clock() -> None:
    e = LeaseElection("b")
    e.observe(_held("a", renew=WALL - 10_000), now=5.0)  # a skewed, ancient renewTime
    assert e.next_spec(now=6.0, wall=WALL) is None


@pytest.mark.parametrize(("observed", "transitions"), [
    pytest.param(None, 1, id="no-lease-observed"),
    pytest.param({**_held(""), "leaseDurationSeconds": 1}, 1, id="released-lease"),
    pytest.param(_held("", transitions=4), 5, id="free-lease-counts-a-transition"),
])
def test_a_free_lease_is_acquired(observed: dict | None, transitions: int) -> None:
    e = LeaseElection("b")
    e.observe(observed, now=0.0)
    assert e.next_spec(now=0.0, wall=WALL)["leaseTransitions"] == transitions


def test_renewal_keeps_acquire_time_and_transitions() -> None:
    e = LeaseElection("a")
    first = _held("a", transitions=3)
    e.written(first, now=10.0)
    assert e.is_leader() and e.lease_valid(24.9) and not e.lease_valid(25.0)
    renewal = e.renewal(WALL + 2)
    assert renewal["acquireTime"] == first["acquireTime"]
    assert renewal["leaseTransitions"] == 3 and renewal["renewTime"] == micro_time(WALL + 2)
    assert e.next_spec(now=12.0, wall=WALL + 2) == renewal


def test_release_empties_the_holder_and_shortens_the_lease() -> None:
    e = LeaseElection("a")
    assert e.release_spec(WALL) is None
    e.written(_held("a", transitions=2), now=0.0)
    released = e.release_spec(WALL + 5)
    assert released is not None
    assert (released["holderIdentity"], released["leaseDurationSeconds"],
            released["leaseTransitions"]) == ("", 1, 2)


@pytest.mark.parametrize(("durations", "ok"), [
    pytest.param((15, 10, 2), True, id="upstream-defaults"),
    pytest.param((10, 10, 2), False, id="lease-not-longer-than-renew-deadline"),
    pytest.param((15, 2.4, 2), False, id="renew-deadline-within-jittered-retry"),
])
def test_config_validation(durations: tuple, ok: bool) -> None:
    lease, renew, retry = durations
    if ok:
        ElectionConfig(lease_duration=lease, renew_deadline=renew, retry_period=retry)
    else:
        with pytest.raises(ValueError):
            ElectionConfig(lease_duration=lease, renew_deadline=renew, retry_period=retry)


# -- candidates on the API ---------------------------------------------------------------------

class Partition:
    """The router behind a switch: while `cut`, every request fails with 503."""

    def __init__(self, kube: Kube) -> None:
        self.router = kube.server.router
        self.cut = False

    async def handle(self, req: Request) -> Response:
        if self.cut:
            err = errors.error_from_status({"code": 503, "message": "partitioned"})
            return Response(503, body=err.body())
        return await self.router.handle(req)


class Probe:
    """A component that records when it runs; `log` is shared by every candidate."""

    def __init__(self, name: str, log: list[tuple[float, str, str]]) -> None:
        self.name = name
        self.log = log
        self._stop = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        running = [n for _, n, what in self.log if what == "start"]
        stopped = [n for _, n, what in self.log if what == "stop"]
        assert len(running) == len(stopped), "two components ran at once"
        self.log.append((loop.time(), self.name, "start"))
        try:
            await self._stop.wait()
        finally:
            self.log.append((loop.time(), self.name, "stop"))

    async def stop(self) -> None:
        self._stop.set()


def _candidate(kube: Kube, identity: str, log: list, *, client: ApiClient | None = None,
               config: ElectionConfig | None = None) -> LeaderElected:
    return LeaderElected(client or kube.client, kube.timing, lambda: Probe(identity, log),
                         lease="kube-scheduler", identity=identity, config=config,
                         rng=random.Random(identity))


async def _lease(kube: Kube) -> dict:
    return await kube.client.get("coordination.k8s.io/v1", "Lease", "kube-scheduler",
                                 namespace="kube-system")


def test_a_partitioned_leader_stops_and_the_standby_takes_over_after_the_lease() -> None:
    async def main() -> None:
        async with api() as kube:
            loop = asyncio.get_running_loop()
            log: list[tuple[float, str, str]] = []
            partition = Partition(kube)
            a = _candidate(kube, "a", log,
                           client=ApiClient(RouterTransport(partition, token=TOKEN)))
            b = _candidate(kube, "b", log)
            ta = asyncio.create_task(a.run())
            await eventually(lambda: a.leading, what="a leads")
            tb = asyncio.create_task(b.run())
            await asyncio.sleep(30)  # renewals keep b waiting
            assert a.leading and not b.leading
            lease = await _lease(kube)
            assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == \
                ("a", 0)
            cut = loop.time()
            partition.cut = True
            await eventually(lambda: b.leading, timeout=40, what="b takes over")
            took_over = loop.time()
            a_stopped = next(t for t, n, what in log if (n, what) == ("a", "stop"))
            # the renew deadline runs from the first failed attempt, a retry period at most
            # after the last renewal; the lease runs from the last renewal others saw
            assert a_stopped - cut <= 2 + 10 + 0.5
            assert a_stopped < took_over
            assert 15 - 2 <= took_over - cut <= 15 + 2 * 2.2 + 1
            lease = await _lease(kube)
            assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == \
                ("b", 1)
            partition.cut = False  # a comes back as a standby
            await asyncio.sleep(30)
            assert b.leading and not a.leading
            for cand, task in ((a, ta), (b, tb)):
                await cand.stop()
                await asyncio.wait_for(task, 30)
            assert [n for _, n, what in log if what == "start"] == ["a", "b"]

    vtime.run(main)


def test_a_stopped_leader_releases_so_the_standby_takes_over_at_once() -> None:
    async def main() -> None:
        async with api() as kube:
            loop = asyncio.get_running_loop()
            log: list[tuple[float, str, str]] = []
            a, b = _candidate(kube, "a", log), _candidate(kube, "b", log)
            ta = asyncio.create_task(a.run())
            await eventually(lambda: a.leading, what="a leads")
            tb = asyncio.create_task(b.run())
            await asyncio.sleep(10)
            await a.stop()
            await asyncio.wait_for(ta, 15)
            stopped = loop.time()
            assert not a.leading
            assert (await _lease(kube))["spec"]["holderIdentity"] in ("", "b")
            await eventually(lambda: b.leading, what="b takes over")
            assert loop.time() - stopped <= 1 + 2 * 2.2 + 0.5  # the released lease is 1 s
            await b.stop()
            await asyncio.wait_for(tb, 15)
            lease = await _lease(kube)
            assert lease["spec"]["holderIdentity"] == ""  # released on stop
            assert lease["spec"]["leaseDurationSeconds"] == 1

    vtime.run(main)


def test_a_component_that_ends_gives_the_lease_up_and_is_rebuilt_on_the_next_term() -> None:
    async def main() -> None:
        async with api() as kube:
            log: list[tuple[float, str, str]] = []
            a = _candidate(kube, "a", log)
            task = asyncio.create_task(a.run())
            await eventually(lambda: a.leading, what="a leads")
            first = a.component
            assert isinstance(first, Probe)
            first._stop.set()  # the component returns on its own
            await eventually(lambda: a.terms == 2 and a.leading, what="a leads again")
            assert a.component is not first
            await a.stop()
            await asyncio.wait_for(task, 15)

    vtime.run(main)


def test_an_elector_renews_its_lease_every_retry_period() -> None:
    async def main() -> None:
        async with api() as kube:
            elector = LeaderElector(kube.client, kube.timing, name="kube-controller-manager",
                                    identity="cm-1")
            await elector.acquire()
            renewing = asyncio.create_task(elector.renew())
            seen = set()
            for _ in range(5):
                await asyncio.sleep(2)
                lease = await kube.client.get("coordination.k8s.io/v1", "Lease",
                                              "kube-controller-manager",
                                              namespace="kube-system")
                seen.add(lease["spec"]["renewTime"])
            assert len(seen) >= 4 and not renewing.done()
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            assert await elector.release()

    vtime.run(main)
