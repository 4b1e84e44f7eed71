"""Chaos on the control plane of the shared session cluster, through `kubemu.actors.chaos`.

(a) the store leader killed under 200 writes/s loses nothing acknowledged; (b) each API server
killed in turn (`kubemu chaos run examples/chaos/apiservers.yaml`): writes go on and a watch
resumes without missing an event; (c) the leading scheduler killed: pending pods get
scheduled, none twice. Killed actors restart (SIGKILL, Ray restarts them), so the cluster is
whole again at the end of each test. Scenario files parse (or fail) without a cluster.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import ray
from kubemu.actors.chaos import Chaos, ChaosError
from kubemu.actors.chaos_invariants import ActorsRunning, NoPodBoundTwice
from kubemu.actors.chaos_scenario import Scenario, ScenarioError
from kubemu.actors.chaos_transport import ControlPlaneUnreachable, guard_node_client
from kubemu.actors.chaos_writes import AckedWrites
from kubemu.network.links import LinkFaults

from tests import vtime
from tests.kube import api

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "chaos").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_scenarios_parse(path):
    assert Scenario.load(path).steps


@pytest.mark.parametrize("text, message", [
    pytest.param("steps: [{kill: store, heal: {}}]", "exactly one action", id="two-actions"),
    pytest.param("steps: [{explode: now}]", "unknown keys explode", id="unknown-action"),
    pytest.param("steps: [{wait: 1, check: [vibes]}]", "unknown invariant", id="bad-check"),
    pytest.param("steps: [{wait: soon}]", "not a number", id="bad-duration"),
    pytest.param("kill: store", "list of `steps`", id="no-steps"),
])
def test_bad_scenarios_are_refused_with_the_step_at_fault(text, message):
    with pytest.raises(ScenarioError, match=message):
        Scenario.parse(text)


@pytest.mark.parametrize("a, b, scope, cut", [
    pytest.param("zone-a", "*", "zone", True, id="isolate-zone"),
    pytest.param("zone-a", "control-plane", "zone", True, id="zone-from-control-plane"),
    pytest.param("zone-a", "zone-b", "zone", False, id="between-zones"),
    pytest.param("zone-b", "*", "zone", False, id="another-zone"),
    pytest.param("node-1", "*", "node", True, id="isolate-node"),
])
def test_a_node_loses_the_api_while_its_link_to_the_control_plane_is_cut(a, b, scope, cut):
    async def main() -> None:
        async with api() as kube:
            faults = LinkFaults()
            client = guard_node_client(kube.new_client(), _node_actor(faults))
            listed = await client.list("v1", "ConfigMap", namespace="default")
            events = client.watch("v1", "ConfigMap", namespace="default",
                                  resource_version=listed["metadata"]["resourceVersion"])
            await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "before"}}, namespace="default")
            assert (await anext(events))["type"] == "ADDED"  # the watch is open
            faults.partition(a, b, scope=scope)
            if cut:
                with pytest.raises(ControlPlaneUnreachable):
                    await client.list("v1", "ConfigMap", namespace="default")
                with pytest.raises(ControlPlaneUnreachable):  # the open watch breaks
                    await anext(events)
            else:
                await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "during"}}, namespace="default")
                assert (await anext(events))["object"]["metadata"]["name"] == "during"
                await events.aclose()
            faults.heal()
            await client.list("v1", "ConfigMap", namespace="default")

    vtime.run(main)


def _node_actor(faults: LinkFaults) -> SimpleNamespace:
    """What `guard_node_client` reads of a node actor: its kind, node config and faults."""
    network = SimpleNamespace(pods=SimpleNamespace(links=faults))
    return SimpleNamespace(kind="node", options={"node": {"name": "node-1", "zone": "zone-a"}},
                           component=SimpleNamespace(networks={"node-1": network}))


def test_killing_the_store_leader_under_200_writes_per_second_loses_no_acknowledged_write(
        api_cluster, ns):
    async def main() -> tuple:
        client = api_cluster.client()
        chaos = Chaos(api_cluster.name, client)
        writes = AckedWrites(client, namespace=ns, rate=200)
        await writes.start()
        try:
            start = time.monotonic()
            await _until(lambda: len(writes.acked) >= 400, what="400 acknowledged writes")
            began, before = time.monotonic(), len(writes.acked)
            print(f"{before / (began - start):.0f} writes/s acknowledged before the kill")
            killed = await chaos.kill("store", leader=True)
            await _until(lambda: len(writes.acked) >= before + 400, timeout=90,
                         what="400 more writes acknowledged after the failover")
            elapsed = time.monotonic() - began
            await writes.stop()
            verdict = await writes.check()
            leader = await _until_async(lambda: _leader_or_none(chaos), what="a store leader")
            back = await _until_async(lambda: _running(api_cluster.name), timeout=90,
                                      what="every actor answering")
            return killed, verdict, leader, elapsed, back, len(writes.acked)
        finally:
            await writes.stop()
            await client.close()

    killed, verdict, leader, elapsed, back, acked = asyncio.run(main())
    print(f"killed {killed.actor}; new leader {leader}; {acked} acked; 400 writes after the "
          f"kill took {elapsed:.1f} s; {verdict.detail}")
    assert killed.leader and killed.pid
    assert verdict.ok, verdict.detail
    assert back.ok, back.detail
    status = ray.get(ray.get_actor(killed.actor, namespace=Chaos(api_cluster.name, None)
                                   .namespace).status.remote(), timeout=30)
    assert status["pid"] != killed.pid  # Ray restarted it and it rejoined


def test_killing_each_api_server_in_turn_keeps_writes_and_watches_whole(api_cluster):
    scenario = Path(__file__).parents[2] / "examples" / "chaos" / "apiservers.yaml"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kubemu.actors.cli", "chaos", "run", str(scenario),
             "--kubeconfig", api_cluster.kubeconfig],
            check=False, capture_output=True, text=True, timeout=400)
    finally:
        api_cluster.kubectl("delete", "namespace", "chaos-apiservers", "--wait=false",
                            check=False)
    print(proc.stdout[-4000:], proc.stderr[-2000:])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "watch misses no event" in proc.stdout and "FAIL" not in proc.stdout


def test_killing_the_leading_scheduler_still_schedules_pending_pods_once(api_cluster, ns):
    async def main() -> tuple:
        client = api_cluster.client()
        chaos = Chaos(api_cluster.name, client)
        bindings = NoPodBoundTwice(client)
        await bindings.start()
        try:
            killed = await chaos.kill("scheduler", leader=True)
            for i in range(6):
                await client.create({"apiVersion": "v1", "kind": "Pod",
                                     "metadata": {"name": f"p{i}", "namespace": ns},
                                     "spec": {"containers": [{"name": "c",
                                                              "image": "nginx"}]}},
                                    namespace=ns)

            async def scheduled() -> bool:
                pods = (await client.list("v1", "Pod", namespace=ns))["items"]
                return len(pods) == 6 and all(p["spec"].get("nodeName") for p in pods)
            began = time.monotonic()
            await _until_async(scheduled, timeout=90, what="6 pods scheduled")
            took = time.monotonic() - began
            holder = await chaos.leader("scheduler")
            back = await _until_async(lambda: _running(api_cluster.name), timeout=90,
                                      what="every actor answering")
            return killed, holder, took, await bindings.check(), back
        finally:
            await bindings.stop()
            await client.close()

    killed, holder, took, verdict, back = asyncio.run(main())
    print(f"killed {killed.actor}; {holder} leads; pods scheduled within {took:.1f} s")
    assert killed.leader and holder.startswith("scheduler-")
    assert verdict.ok, verdict.detail
    assert back.ok, back.detail


def test_killing_the_driver_s_own_ray_node_is_refused(api_cluster):
    head = ray.get_runtime_context().get_node_id()
    with pytest.raises(ChaosError, match="driver's own node"):
        asyncio.run(Chaos(api_cluster.name, None).kill_host(head[:12]))


def test_an_unknown_component_is_refused_with_the_known_ones(api_cluster):
    proc = subprocess.run([sys.executable, "-m", "kubemu.actors.cli", "chaos", "kill",
                           "etcd", "--kubeconfig", api_cluster.kubeconfig],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: no actor named 'etcd'"), proc.stderr
    assert "store-1" in proc.stderr


async def _leader_or_none(chaos: Chaos) -> str | None:
    try:
        return await chaos.leader("store")
    except ChaosError:
        return None


async def _running(cluster: str):
    verdict = await ActorsRunning(cluster).check()
    return verdict if verdict.ok else None


async def _until(check, *, timeout: float = 60.0, what: str = "condition"):
    return await _until_async(lambda: _now(check()), timeout=timeout, what=what)


async def _now(value):
    return value


async def _until_async(check, *, timeout: float = 60.0, what: str = "condition"):
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
