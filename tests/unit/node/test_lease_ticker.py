"""A node pool's LeaseTicker: Leases whose renewals fall due in the same tick are written
together (so the API server commits them as one), each still renewed every renew interval
(at most a tick late), a failing one backs off without holding up the others, and a removed
one is renewed no more -- a stopped node's Lease ages as a dead node's does."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from kubemu.cluster.node.lease import LEASE_NAMESPACE, TICK, LeaseTicker, NodeLease
from tests import vtime
from tests.kube import api, eventually


def _seconds(micro_time: str) -> float:
    return datetime.strptime(micro_time, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


async def _record(kube, renewed: dict[str, list[float]]) -> None:
    """Every renewTime written to a Lease, by node, in order."""
    async for event in kube.client.watch("coordination.k8s.io/v1", "Lease",
                                         namespace=LEASE_NAMESPACE, resource_version="0"):
        lease = event["object"]
        if event["type"] in ("ADDED", "MODIFIED"):
            renewed[lease["metadata"]["name"]].append(_seconds(lease["spec"]["renewTime"]))


@asynccontextmanager
async def ticking(kube) -> AsyncIterator[tuple[LeaseTicker, dict[str, list[float]]]]:
    """A running ticker, and the renewTimes written so far by node."""
    ticker = LeaseTicker(kube.timing)
    renewed: dict[str, list[float]] = defaultdict(list)
    tasks = [asyncio.create_task(ticker.run()), asyncio.create_task(_record(kube, renewed))]
    try:
        yield ticker, renewed
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_leases_that_fall_due_in_one_tick_are_renewed_together_every_ten_seconds() -> None:
    async def main() -> None:
        names = ["n1", "n2", "n3"]
        async with api() as kube, ticking(kube) as (ticker, renewed):
            for name in names:  # joined at different moments between two ticks
                await asyncio.sleep(TICK / 4)
                ticker.add(NodeLease(kube.client, kube.timing, name))
            await eventually(lambda: all(len(renewed[n]) >= 4 for n in names),
                             what="four renewals of every Lease")
            rounds = [[renewed[n][i] for n in names] for i in range(4)]
            for times in rounds:  # each round written at one instant: all three together
                assert max(times) == min(times), rounds
            for a, b in zip(rounds, rounds[1:]):
                assert 10.0 <= b[0] - a[0] <= 10.0 + TICK, rounds

    vtime.run(main)


def test_a_failing_lease_backs_off_alone_and_a_removed_one_is_renewed_no_more() -> None:
    async def main() -> None:
        async with api() as kube, ticking(kube) as (ticker, renewed):
            good = NodeLease(kube.client, kube.timing, "n1")
            gone = NodeLease(kube.client, kube.timing, "n2")
            bad = NodeLease(kube.client, kube.timing, "Not_A_Node")  # every write is Invalid
            for lease in (good, gone, bad):
                ticker.add(lease)
            await eventually(lambda: len(renewed["n2"]) >= 1, what="n2's Lease created")
            ticker.remove(gone)
            await eventually(lambda: len(renewed["n1"]) >= 4, what="four renewals of n1")
            assert bad.renewals == 0 and "Not_A_Node" not in renewed
            gaps = [b - a for a, b in zip(renewed["n1"], renewed["n1"][1:])]
            assert all(10.0 <= gap <= 10.0 + TICK for gap in gaps), gaps
            assert len(renewed["n2"]) == 1  # 30 s on, never renewed again

    vtime.run(main)
