"""Kill -9 the store leader while clients write through the API: nothing acknowledged is
lost (every created object is listed afterwards), and the killed replica recovers from its
WAL and rejoins as a member in the new term."""

from __future__ import annotations

import asyncio

from tests.chaos.kill import actor, answer, crash, restarted, until
from tests.e2e.test_workloads import wait_for

WRITERS = 4


def test_store_leader_killed_under_writes_loses_no_acknowledged_object(api_cluster, ns):
    replicas = {i: actor(api_cluster, f"store-{i}") for i in (1, 2, 3)}

    def leader() -> dict | None:
        states = [answer(h, "status") for h in replicas.values()]
        leading = [s for s in states if s and s["state"] == "leader"]
        return leading[0] if len(leading) == 1 else None

    old = wait_for(leader, timeout=60, what="a store leader")
    acked, listed = asyncio.run(_writes_across_a_crash(api_cluster, ns, old["pid"]))
    missing = sorted(acked - listed)
    assert not missing, f"{len(missing)} acknowledged objects lost, e.g. {missing[:5]}"
    back = restarted(replicas[old["id"]], old["pid"], method="status",
                     ready=lambda s: s["term"] > old["term"] and s["state"] in (
                         "follower", "leader"))
    wait_for(lambda: (s := answer(replicas[old["id"]], "status"))
             and s["applied"] >= back["applied"] and leader(), timeout=60,
             what="the restarted replica applying with a leader in place")


async def _writes_across_a_crash(api_cluster, ns: str, leader_pid: int
                                 ) -> tuple[set[str], set[str]]:
    """Create ConfigMaps from WRITERS writers; kill the leader once 50 are acknowledged;
    stop once 50 more are. The names acknowledged, and the names listed at the end."""
    client = api_cluster.client()
    acked: set[str] = set()
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            name = f"w{n}-{i}"
            i += 1
            try:
                await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": name}, "data": {"n": str(i)}},
                                    namespace=ns)
            except Exception:  # noqa: BLE001 - not acknowledged (a timeout in the failover)
                continue
            acked.add(name)

    async def at_least(count: int) -> bool:
        return len(acked) >= count

    writers = [asyncio.ensure_future(writer(n)) for n in range(WRITERS)]
    try:
        await until(lambda: at_least(50), timeout=60, what="50 acknowledged writes")
        crash(leader_pid)
        mark = len(acked)
        await until(lambda: at_least(mark + 50), timeout=90,
                    what="50 writes acknowledged after the crash")
    finally:
        stop.set()
        await asyncio.gather(*writers, return_exceptions=True)
    try:
        items = (await client.list("v1", "ConfigMap", namespace=ns))["items"]
    finally:
        await client.close()
    return acked, {item["metadata"]["name"] for item in items}
