"""Chaos on nodes, on a small cluster of its own (4 nodes in 2 zones, time 10x faster): a
node killed for good and a zone cut off are damage the shared session cluster must not keep.

(d) a node's actor killed for good: the node goes Unknown, its pods are evicted after the
node grace period (40 s -> 4 s) and their tolerationSeconds (10 s -> 1 s), and replaced
elsewhere. (e) zone-a isolated (from the other zone and from the control plane): its nodes go
NotReady and the Deployment's pods move to zone-b; after heal the nodes are Ready again, their
evicted pods are finalised, and no pod was ever bound to two nodes. The same through
`kubemu chaos run examples/chaos/zone-partition.yaml`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kubemu.actors.chaos import Chaos
from kubemu.actors.chaos_invariants import DeploymentsReady, NoPodBoundTwice

from tests.cluster_fixtures import free_port

ZONE_LABEL = "topology.kubernetes.io/zone"


@pytest.fixture(scope="module")
def small(ray_session, tmp_path_factory):
    from kubemu.actors import bootstrap

    info = asyncio.run(bootstrap.up(
        name=f"chaos-{uuid.uuid4().hex[:6]}", home=tmp_path_factory.mktemp("chaos"),
        api_port=free_port(), dns_port=0, nodes=4, zones=2, time_scale=10))
    try:
        yield info
    finally:
        asyncio.run(bootstrap.down(info))


def test_a_node_killed_for_good_has_its_pods_replaced_elsewhere(small):
    async def main() -> tuple:
        client = small.access.client(user_agent="chaos-test")
        chaos = Chaos(small.name, client)
        try:
            ns = await _namespace(client, "dead-node")
            await client.create(_deployment("spread", ns, replicas=4), namespace=ns)
            await _until(lambda: _ready(client, ns), what="4 pods ready")
            pods = await _live_pods(client, ns)
            victim = pods[0]["spec"]["nodeName"]
            killed = await chaos.kill_node(victim)
            began = time.monotonic()
            await _until(lambda: _condition(client, victim, "Unknown"), what=f"{victim} Unknown")
            unknown_after = time.monotonic() - began

            async def replaced() -> bool:
                live = await _live_pods(client, ns)
                return (len(live) == 4 and all(p["spec"].get("nodeName") not in (None, victim)
                                               for p in live)
                        and await _ready(client, ns))
            await _until(replaced, timeout=120, what="4 ready pods off the dead node")
            return killed, victim, unknown_after, time.monotonic() - began
        finally:
            await client.close()

    killed, victim, unknown_after, restored = asyncio.run(main())
    print(f"{victim} ({killed.actor}) killed: Unknown after {unknown_after:.1f} s, replicas "
          f"restored after {restored:.1f} s (grace + toleration = 5 s scaled)")
    assert not killed.restart


def test_an_isolated_zone_goes_not_ready_its_pods_move_and_it_rejoins_after_heal(small):
    async def main() -> tuple:
        client = small.access.client(user_agent="chaos-test")
        chaos = Chaos(small.name, client)
        bindings = NoPodBoundTwice(client)
        await bindings.start()
        try:
            ns = await _namespace(client, "zone-cut")
            await client.create(_deployment("zonal", ns, replicas=4), namespace=ns)
            await _until(lambda: _ready(client, ns), what="4 pods ready")
            nodes = (await client.list("v1", "Node"))["items"]
            cut = sorted(n["metadata"]["name"] for n in nodes
                         if n["metadata"]["labels"].get(ZONE_LABEL) == "zone-a"
                         and _status(n) == "True")
            await chaos.isolate("zone-a")
            began = time.monotonic()
            try:
                for node in cut:
                    await _until(lambda n=node: _condition(client, n, "Unknown"),
                                 what=f"{node} NotReady (Unknown)")
                not_ready_after = time.monotonic() - began

                async def moved() -> bool:
                    live = await _live_pods(client, ns)
                    return (len(live) == 4 and all(p["spec"].get("nodeName") not in cut
                                                   for p in live)
                            and await _ready(client, ns))
                await _until(moved, timeout=120, what="4 ready pods outside zone-a")
                moved_after = time.monotonic() - began
            finally:
                await chaos.heal()
            for node in cut:
                await _until(lambda n=node: _condition(client, n, "True"), timeout=90,
                             what=f"{node} Ready again")
                await _until(lambda n=node: _untainted(client, n), timeout=90,
                             what=f"{node}'s unreachable taints removed")

            async def finalised() -> bool:
                pods = (await client.list("v1", "Pod", namespace=ns))["items"]
                return len(pods) == 4 and not any(p["metadata"].get("deletionTimestamp")
                                                  for p in pods)
            await _until(finalised, timeout=90, what="the evicted pods finalised")
            return cut, not_ready_after, moved_after, await bindings.check()
        finally:
            await bindings.stop()
            await client.close()

    cut, not_ready_after, moved_after, verdict = asyncio.run(main())
    print(f"isolated {cut}: NotReady after {not_ready_after:.1f} s, pods moved after "
          f"{moved_after:.1f} s")
    assert cut
    assert verdict.ok, verdict.detail


def test_the_zone_partition_scenario_passes_from_the_cli(small):
    scenario = Path(__file__).parents[2] / "examples" / "chaos" / "zone-partition.yaml"
    proc = subprocess.run([sys.executable, "-m", "kubemu.actors.cli", "chaos", "run",
                           str(scenario), "--kubeconfig", str(small.kubeconfig)],
                          check=False, capture_output=True, text=True, timeout=600)
    print(proc.stdout[-4000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "FAIL" not in proc.stdout


def _deployment(name: str, ns: str, *, replicas: int) -> dict:
    tolerations = [{"key": f"node.kubernetes.io/{key}", "operator": "Exists",
                    "effect": "NoExecute", "tolerationSeconds": 10}
                   for key in ("unreachable", "not-ready")]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "tolerations": tolerations,
                         "topologySpreadConstraints": [{
                             "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                             "whenUnsatisfiable": "ScheduleAnyway",
                             "labelSelector": {"matchLabels": {"app": name}}}],
                         "containers": [{"name": "c", "image": "nginx"}]}}}}


async def _namespace(client, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


async def _ready(client, ns: str) -> bool:
    return (await DeploymentsReady(client, namespace=ns).check()).ok


async def _live_pods(client, ns: str) -> list[dict]:
    pods = (await client.list("v1", "Pod", namespace=ns))["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _status(node: dict) -> str:
    return next((c["status"] for c in (node.get("status") or {}).get("conditions") or ()
                 if c["type"] == "Ready"), "")


async def _condition(client, name: str, want: str) -> bool:
    return _status(await client.get("v1", "Node", name)) == want


async def _untainted(client, name: str) -> bool:
    node = await client.get("v1", "Node", name)
    return not any(t["key"].startswith("node.kubernetes.io/")
                   for t in (node.get("spec") or {}).get("taints") or ())


async def _until(check, *, timeout: float = 60.0, what: str = "condition"):
    """Poll the async `check` until it answers something true; AssertionError after
    `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout:g}s (last: {last!r})")
