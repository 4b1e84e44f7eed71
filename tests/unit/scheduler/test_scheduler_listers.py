"""The scheduler fills its plugins' listers from informers: a namespaceSelector in pod
anti-affinity sees real Namespace labels, and pods owned by a ReplicaSet get the cluster
default topology spreading."""

from __future__ import annotations

import collections

from tests.kube import Kube, eventually
from tests.unit.scheduler.test_scheduler import bound_to, node, pod, run, scheduling


def test_anti_affinity_namespace_selector_reads_namespace_labels() -> None:
    async def test(kube: Kube) -> None:
        for name in ("n1", "n2"):
            await kube.client.create(node(name))
        await kube.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "team-a", "labels": {"team": "a"}}})
        existing = pod("existing")
        existing["metadata"].update(namespace="team-a", labels={"app": "db"})
        existing["spec"]["nodeName"] = "n1"
        await kube.client.create(existing, namespace="team-a")
        newcomer = pod("newcomer")
        newcomer["spec"]["affinity"] = {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": "db"}},
                "namespaceSelector": {"matchLabels": {"team": "a"}},
                "topologyKey": "kubernetes.io/hostname"}]},
            # without the Namespace's labels the anti-affinity would not apply, and n1 wins
            "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100, "preference": {"matchExpressions": [{
                    "key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}}]}}
        async with scheduling(kube):
            await kube.client.create(newcomer, namespace="default")
            assert await eventually(lambda: bound_to(kube, "newcomer")) == "n2"

    run(test)


def test_replicaset_pods_get_the_default_zone_spreading() -> None:
    async def test(kube: Kube) -> None:
        zones = {"n1": "zone-a", "n2": "zone-a", "n3": "zone-a", "n4": "zone-b"}
        for name, zone in zones.items():
            n = node(name, cpu="64")
            n["metadata"]["labels"]["topology.kubernetes.io/zone"] = zone
            await kube.client.create(n)
        rs = await kube.client.create({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                 "uid": rs["metadata"]["uid"], "controller": True}
        async with scheduling(kube):
            for i in range(8):
                p = pod(f"web-{i}", cpu="10m")
                p["metadata"].update(labels={"app": "web"}, ownerReferences=[owner])
                await kube.client.create(p, namespace="default")
                await eventually(lambda i=i: bound_to(kube, f"web-{i}"))
            placed = collections.Counter([zones[await bound_to(kube, f"web-{i}")]
                                          for i in range(8)])
        # resource scoring alone favours the 3 zone-a nodes 3:1; default spreading evens
        # the zones out (maxSkew 5 on zones, ScheduleAnyway: a score, not a filter)
        assert placed["zone-b"] >= 3, placed

    run(test)
