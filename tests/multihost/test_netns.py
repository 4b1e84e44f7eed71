"""Three hosts as network namespaces (tests/multihost/netns.py), Ray started on each exactly
as ray-cluster.yaml starts it, and `kubemu up --address <head>:6379 --bind <head ip>
--zone-per-host` run in the head's shell: the cluster spans the hosts (store replicas on
three hosts, one zone per host), a Service answers from pods on every host through the
overlay's cross-host tunnels, and -- scenario (f) -- a whole worker host killed (every process
in it, as a power loss) leaves its emulated nodes NotReady, their pods replaced on the other
hosts' nodes, and the store with a quorum that keeps acknowledging writes.

Time runs 20x faster: node grace 40 s -> 2 s, tolerationSeconds 10 s -> 0.5 s. Skipped with
the reason when this machine cannot make namespaces (not root, no `ip netns`) or bootstrap
has no placement yet. The tests run in file order and the last one kills a host.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
import uuid

import pytest

from tests.multihost.facts import hosts_of, node_facts
from tests.multihost.netns import Hosts, unavailable
from tests.multihost.netns_cluster import start_cluster, until

NODES, ZONES, TIME_SCALE = 6, 3, 20


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    from kubemu.actors import bootstrap

    if (reason := unavailable()) is not None:
        pytest.skip(f"no netns hosts here: {reason}")
    if "zone_per_host" not in inspect.signature(bootstrap.up).parameters:
        pytest.skip("bootstrap.up has no zone_per_host (placement) yet")
    began = time.monotonic()
    with Hosts(3, tmp_path_factory.mktemp("netns")) as made:
        made.start_ray()
        print(f"3 netns hosts with Ray: {time.monotonic() - began:.0f} s")
        yield made


@pytest.fixture(scope="module")
def cluster(hosts):
    began = time.monotonic()
    made = start_cluster(hosts, name=f"mh-{uuid.uuid4().hex[:6]}", nodes=NODES, zones=ZONES,
                         time_scale=TIME_SCALE, extra=("--zone-per-host",))
    print(f"kubemu up across 3 hosts: {time.monotonic() - began:.0f} s")
    try:
        yield made
    finally:
        made.stop()


def test_the_cluster_spans_the_hosts(cluster, hosts):
    facts = cluster.ray_facts()
    ips = {facts["ray_nodes"][node] for name, node in facts["actors"].items()
           if name.startswith("store-")}
    assert ips == {h.ip for h in hosts.hosts}, facts["actors"]
    nodes = asyncio.run(_nodes(cluster))
    zones = hosts_of(nodes, "zone")
    assert len(zones) == ZONES and all(len(r) == 1 for r in zones.values()), zones
    assert len({next(iter(r)) for r in zones.values()}) == 3, zones
    assert all(n["ready"] == "True" for n in nodes), nodes


def test_a_service_answers_from_pods_on_every_host(cluster):
    async def deploy() -> str:
        client = cluster.client()
        try:
            ns = await _namespace(client, "web")
            await client.create(_deployment("web", ns, replicas=ZONES, zones_hard=True), namespace=ns)
            service = await client.create(_service("web", ns), namespace=ns)
            await until(lambda: _ready_pods(client, ns, ZONES), timeout=120,
                        what=f"{ZONES} web pods ready")
            return ns, service["spec"]["clusterIP"]
        finally:
            await client.close()

    _ns, ip = asyncio.run(deploy())
    out = cluster.kubemu("net", "curl", f"http://{ip}/", "--count", "30", "--node", "node-1",
                         check=False)
    served = set(re.findall(r"\bnode-\d+\b", out.stdout))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    nodes = asyncio.run(_nodes(cluster))
    ray_nodes = {n["ray_node"] for n in nodes if n["name"] in served}
    assert len(ray_nodes) == 3, (served, out.stdout[-2000:])


def test_a_killed_host_leaves_its_nodes_not_ready_pods_moved_and_writes_acknowledged(
        cluster, hosts):
    victim = hosts[2]
    facts = cluster.ray_facts()
    victim_ids = {i for i, ip in facts["ray_nodes"].items() if ip == victim.ip}
    assert any(facts["actors"][s] in victim_ids for s in facts["actors"]
               if s.startswith("store-")), "no store replica on the host to kill"

    async def main() -> dict:
        client = cluster.client()
        try:
            nodes = await node_facts(client)
            doomed = sorted(n["name"] for n in nodes
                            if any(i.startswith(n["ray_node"]) for i in victim_ids))
            assert doomed, nodes
            ns = await _namespace(client, "spread")
            await client.create(_deployment("spread", ns, replicas=NODES), namespace=ns)
            await until(lambda: _ready_pods(client, ns, NODES), timeout=120,
                        what=f"{NODES} pods ready")
            writer = _Writer(client, ns)
            task = asyncio.create_task(writer.run())
            await until(lambda: _true(writer.acked >= 20), what="20 writes before the kill")
            before = writer.acked
            began = time.monotonic()
            victim.kill()
            for name in doomed:
                await until(lambda n=name: _not_ready(client, n), timeout=90,
                            what=f"{name} NotReady")
            not_ready = time.monotonic() - began

            stranded = {p["metadata"]["name"] for p in await _live_pods(client, ns)
                        if p["spec"].get("nodeName") in doomed}

            async def moved() -> bool:
                # Ray may restart the dead host's node actors elsewhere (soft affinity):
                # those Nodes come back Ready, labelled with their new host
                live = await _live_pods(client, ns)
                on = {n["name"]: n["ray_node"] for n in await node_facts(client)}
                return (len(live) == NODES and await _ready_pods(client, ns, NODES)
                        and not stranded & {p["metadata"]["name"] for p in live}
                        and not any(i.startswith(on.get(p["spec"].get("nodeName"), "?"))
                                    for p in live for i in victim_ids))
            try:
                await until(moved, timeout=180, what="every pod ready off the dead host")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; {await _state(client, ns)}") from None
            await until(lambda: _true(writer.acked >= before + 50), timeout=60,
                        what="50 writes acknowledged after the kill")
            writer.stop = True
            await task
            listed = {c["metadata"]["name"] for c in
                      (await client.list("v1", "ConfigMap", namespace=ns))["items"]}
            return {"doomed": doomed, "not_ready": not_ready, "stranded": stranded,
                    "moved": time.monotonic() - began, "acked": writer.names,
                    "listed": listed, "before": before}
        finally:
            await client.close()

    result = asyncio.run(main())
    print(f"host {victim.name} ({result['doomed']}) killed: NotReady after "
          f"{result['not_ready']:.1f} s, pods moved after {result['moved']:.1f} s, "
          f"{len(result['acked'])} writes acknowledged ({result['before']} before the kill)")
    assert result["stranded"], "no pod ran on the killed host's nodes"
    lost = sorted(result["acked"] - result["listed"])
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"


class _Writer:
    """Creates ConfigMaps one after another; remembers the acknowledged ones."""

    def __init__(self, client, ns: str) -> None:
        self.client, self.ns = client, ns
        self.names: set[str] = set()
        self.stop = False

    @property
    def acked(self) -> int:
        return len(self.names)

    async def run(self) -> None:
        i = 0
        while not self.stop:
            name = f"w-{i}"
            i += 1
            try:
                await self.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": name},
                                          "data": {"i": str(i)}}, namespace=self.ns)
            except Exception:  # noqa: BLE001 - unacknowledged (a leader change): not counted
                await asyncio.sleep(0.05)
                continue
            self.names.add(name)


async def _nodes(cluster) -> list[dict]:
    client = cluster.client()
    try:
        return await node_facts(client)
    finally:
        await client.close()


async def _state(client, ns: str) -> str:
    """The pods of `ns` and every Node, in one line each, for a failed wait's message."""
    pods = (await client.list("v1", "Pod", namespace=ns))["items"]
    nodes = (await client.list("v1", "Node"))["items"]
    lines = [f"pod {p['metadata']['name']} node={p['spec'].get('nodeName')} "
             f"phase={(p.get('status') or {}).get('phase')} "
             f"deleting={bool(p['metadata'].get('deletionTimestamp'))} conditions="
             + ",".join(f"{c['type']}={c['status']}"
                        for c in (p.get('status') or {}).get('conditions') or ())
             for p in pods]
    lines += [f"node {n['metadata']['name']} labels={n['metadata'].get('labels')} "
              f"taints={(n.get('spec') or {}).get('taints')} conditions="
              + ",".join(f"{c['type']}={c['status']}"
                         for c in (n.get('status') or {}).get('conditions') or ())
              for n in nodes]
    return "\n".join(lines)


async def _true(value: bool) -> bool:
    return value


async def _namespace(client, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


async def _live_pods(client, ns: str) -> list[dict]:
    pods = (await client.list("v1", "Pod", namespace=ns))["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def _ready_pods(client, ns: str, count: int) -> bool:
    ready = [p for p in await _live_pods(client, ns)
             if any(c["type"] == "Ready" and c["status"] == "True"
                    for c in (p.get("status") or {}).get("conditions") or ())]
    return len(ready) == count


async def _not_ready(client, name: str) -> bool:
    node = await client.get("v1", "Node", name)
    return any(c["type"] == "Ready" and c["status"] != "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def _deployment(name: str, ns: str, *, replicas: int, zones_hard: bool = False) -> dict:
    """`replicas` pods spread over hostnames and zones (a hard spread over zones only when
    `zones_hard`: with a zone gone, a hard spread would keep the moved pods Pending)."""
    tolerations = [{"key": f"node.kubernetes.io/{key}", "operator": "Exists",
                    "effect": "NoExecute", "tolerationSeconds": 10}
                   for key in ("unreachable", "not-ready")]
    spread = [{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule"
               if zones_hard and key.endswith("zone") else "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app": name}}}
              for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "tolerations": tolerations, "topologySpreadConstraints": spread,
                         "containers": [{"name": "web", "image": "nginx",
                                         "ports": [{"containerPort": 80}]}]}}}}


def _service(name: str, ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 80}]}}
