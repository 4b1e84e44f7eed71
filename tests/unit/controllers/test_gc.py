"""Garbage collection: DELETE propagation policies in the API server, the collector's
decisions, and background / orphan / foreground cascades against the real API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.controllers.garbagecollector import GarbageCollector
from kubemu.cluster.controllers.gc_graph import (
    Action, ObjectRef, OwnerIndex, OwnerState, decide,
)
from tests import vtime
from tests.kube import Kube, api, eventually

SOLID, DANGLING, WAITING = OwnerState.SOLID, OwnerState.DANGLING, OwnerState.WAITING


# -- helpers -----------------------------------------------------------------------------------

def _owner_ref(owner: dict, *, block: bool = False, controller: bool = False) -> dict:
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    if block:
        ref["blockOwnerDeletion"] = True
    if controller:
        ref["controller"] = True
    return ref


def _cm(name: str, *owners: dict, finalizers: list[str] | None = None,
        namespace: str = "default") -> dict:
    md: dict = {"name": name, "namespace": namespace}
    if owners:
        md["ownerReferences"] = list(owners)
    if finalizers:
        md["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {"k": name}}


async def _gone(kube: Kube, api_version: str, kind: str, name: str,
                namespace: str | None = "default") -> bool:
    try:
        await kube.client.get(api_version, kind, name, namespace=namespace)
    except NotFound:
        return True
    return False


async def _get(kube: Kube, name: str, kind: str = "ConfigMap",
               api_version: str = "v1") -> dict | None:
    try:
        return await kube.client.get(api_version, kind, name, namespace="default")
    except NotFound:
        return None


@asynccontextmanager
async def _collector(kube: Kube) -> AsyncIterator[GarbageCollector]:
    gc = GarbageCollector(kube.client, kube.timing)
    task = asyncio.create_task(gc.run())
    try:
        yield gc
    finally:
        await gc.stop()
        await asyncio.gather(task, return_exceptions=True)


# -- the API server: propagation policy -> finalizers -------------------------------------------

@pytest.mark.parametrize("api_version,kind,policy,finalizers", [
    pytest.param("v1", "ConfigMap", "Orphan", ["orphan"], id="orphan-adds-orphan-finalizer"),
    pytest.param("v1", "ConfigMap", "Foreground", ["foregroundDeletion"],
                 id="foreground-adds-foregroundDeletion"),
    pytest.param("v1", "ConfigMap", "Background", None, id="background-deletes-at-once"),
    pytest.param("v1", "ConfigMap", None, None, id="default-is-background"),
    pytest.param("batch/v1", "Job", None, ["orphan"], id="batch-v1-job-orphans-by-default"),
])
def test_delete_propagation_policy_sets_gc_finalizers(api_version: str, kind: str,
                                                      policy: str | None,
                                                      finalizers: list[str] | None) -> None:
    async def main() -> None:
        async with api() as kube:
            if kind == "Job":
                obj = {"apiVersion": "batch/v1", "kind": "Job",
                       "metadata": {"name": "x", "namespace": "default"},
                       "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                           {"name": "c", "image": "busybox"}]}}}}
            else:
                obj = _cm("x")
            await kube.client.create(obj)
            await kube.client.delete(api_version, kind, "x", namespace="default",
                                     propagation_policy=policy)
            if finalizers is None:
                assert await _gone(kube, api_version, kind, "x")
                return
            left = await kube.client.get(api_version, kind, "x", namespace="default")
            assert left["metadata"]["finalizers"] == finalizers
            assert left["metadata"]["deletionTimestamp"]

    vtime.run(main)


def test_a_new_policy_swaps_the_gc_finalizer_of_an_object_being_deleted() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(_cm("x", finalizers=["example.com/hold"]))
            await kube.client.delete("v1", "ConfigMap", "x", propagation_policy="Orphan")
            await kube.client.delete("v1", "ConfigMap", "x", propagation_policy="Foreground")
            left = await kube.client.get("v1", "ConfigMap", "x")
            assert left["metadata"]["finalizers"] == ["example.com/hold", "foregroundDeletion"]
            await kube.client.delete("v1", "ConfigMap", "x", propagation_policy="Background")
            left = await kube.client.get("v1", "ConfigMap", "x")
            assert left["metadata"]["finalizers"] == ["example.com/hold"]

    vtime.run(main)


def test_a_bound_pod_keeps_its_grace_period_and_takes_the_foreground_finalizer() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create({"apiVersion": "v1", "kind": "Pod",
                                      "metadata": {"name": "p", "namespace": "default"},
                                      "spec": {"nodeName": "n1", "containers": [
                                          {"name": "c", "image": "nginx"}]}})
            await kube.client.delete("v1", "Pod", "p", propagation_policy="Foreground")
            pod = await kube.client.get("v1", "Pod", "p")
            assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
            assert pod["metadata"]["finalizers"] == ["foregroundDeletion"]
            await kube.client.delete("v1", "Pod", "p", grace_period_seconds=0)  # the kubelet
            pod = await kube.client.get("v1", "Pod", "p")
            assert pod["metadata"]["deletionGracePeriodSeconds"] == 0
            await kube.client.patch("v1", "Pod", "p", {"metadata": {"finalizers": None}})
            assert await _gone(kube, "v1", "Pod", "p")

    vtime.run(main)


# -- decisions -----------------------------------------------------------------------------------

def _dependent(*uids: str, finalizers: tuple[str, ...] = ()) -> dict:
    return {"metadata": {"uid": "d", "finalizers": list(finalizers), "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": u, "uid": u} for u in uids]}}


@pytest.mark.parametrize("obj,states,has_dependents,expected", [
    pytest.param(_dependent("a"), {"a": SOLID}, False, None, id="solid-owner-keeps-it"),
    pytest.param(_dependent("a"), {"a": DANGLING}, False, Action(delete_policy="Background"),
                 id="all-owners-gone-deletes-in-background"),
    pytest.param(_dependent("a", "b"), {"a": SOLID, "b": DANGLING}, False,
                 Action(remove_owners=frozenset({"b"})), id="one-owner-left-drops-the-other"),
    pytest.param(_dependent("a", "b"), {"a": SOLID, "b": WAITING}, False,
                 Action(remove_owners=frozenset({"b"})),
                 id="solid-owner-drops-the-foreground-one"),
    pytest.param(_dependent("a"), {"a": WAITING}, False, Action(delete_policy="Background"),
                 id="foreground-owner-deletes-a-leaf-in-background"),
    pytest.param(_dependent("a"), {"a": WAITING}, True, Action(delete_policy="Foreground"),
                 id="foreground-owner-deletes-a-parent-in-foreground"),
    pytest.param(_dependent("a", finalizers=("orphan",)), {"a": DANGLING}, False,
                 Action(delete_policy="Orphan"), id="existing-orphan-finalizer-is-honoured"),
    pytest.param(_dependent("a", "b"), {"a": DANGLING}, False, None,
                 id="unknown-owner-state-does-nothing"),
])
def test_decide_picks_upstreams_action(obj: dict, states: dict, has_dependents: bool,
                                       expected: Action | None) -> None:
    assert decide(obj, states, has_dependents=has_dependents) == expected


def test_owner_index_tracks_dependents_through_updates_and_removal() -> None:
    index = OwnerIndex()
    a = ObjectRef("v1", "ConfigMap", "default", "a")
    index.upsert(a, _dependent("o1", "o2"))
    assert index.dependents("o1") == [a] and index.dependents("o2") == [a]
    index.upsert(a, _dependent("o2"))
    assert index.dependents("o1") == [] and index.ref_of("d") == a
    index.remove(a, _dependent("o2"))
    assert index.dependents("o2") == [] and index.ref_of("d") is None


# -- the collector against the API server --------------------------------------------------------

def test_background_deletion_removes_dependents_and_their_dependents() -> None:
    async def main() -> None:
        async with api() as kube, _collector(kube):
            owner = await kube.client.create(_cm("owner"))
            child = await kube.client.create(_cm("child", _owner_ref(owner)))
            await kube.client.create(_cm("grandchild", _owner_ref(child)))
            await kube.client.create(_cm("bystander"))
            await kube.client.delete("v1", "ConfigMap", "owner")

            async def cascaded() -> bool:
                return await _gone(kube, "v1", "ConfigMap", "child") and \
                    await _gone(kube, "v1", "ConfigMap", "grandchild")

            await eventually(cascaded, what="child and grandchild collected")
            assert await _get(kube, "bystander") is not None

    vtime.run(main)


def test_deleting_a_replicaset_removes_its_pods() -> None:
    async def main() -> None:
        async with api() as kube, _collector(kube):
            labels = {"app": "web"}
            rs = await kube.client.create({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {
                             "containers": [{"name": "c", "image": "nginx"}]}}}})
            for i in range(2):
                await kube.client.create({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"web-{i}", "namespace": "default", "labels": labels,
                                 "ownerReferences": [_owner_ref(rs, block=True,
                                                                controller=True)]},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
            await kube.client.delete("apps/v1", "ReplicaSet", "web")

            async def no_pods() -> bool:
                return not (await kube.client.list("v1", "Pod", namespace="default"))["items"]

            await eventually(no_pods, what="the ReplicaSet's pods collected")

    vtime.run(main)


def test_orphan_deletion_keeps_dependents_without_their_owner_reference() -> None:
    async def main() -> None:
        async with api() as kube, _collector(kube):
            owner = await kube.client.create(_cm("owner"))
            other = await kube.client.create(_cm("other"))
            await kube.client.create(_cm("child", _owner_ref(owner), _owner_ref(other)))
            await kube.client.delete("v1", "ConfigMap", "owner", propagation_policy="Orphan")
            await eventually(lambda: _gone(kube, "v1", "ConfigMap", "owner"),
                             what="the owner removed once its dependents are orphaned")
            child = await _get(kube, "child")
            assert child is not None
            assert [r["name"] for r in child["metadata"]["ownerReferences"]] == ["other"]

    vtime.run(main)


def test_foreground_owner_waits_for_blocking_dependents_then_goes() -> None:
    async def main() -> None:
        async with api() as kube, _collector(kube):
            owner = await kube.client.create(_cm("owner"))
            await kube.client.create(_cm("blocker", _owner_ref(owner, block=True),
                                         finalizers=["example.com/hold"]))
            await kube.client.create(_cm("loose", _owner_ref(owner)))
            await kube.client.delete("v1", "ConfigMap", "owner",
                                     propagation_policy="Foreground")

            async def blocker_deleting() -> bool:
                blocker = await _get(kube, "blocker")
                return blocker is not None and bool(blocker["metadata"].get("deletionTimestamp"))

            await eventually(blocker_deleting, what="the blocking dependent being deleted")
            await eventually(lambda: _gone(kube, "v1", "ConfigMap", "loose"),
                             what="the non-blocking dependent collected")
            await asyncio.sleep(30)
            held = await _get(kube, "owner")
            assert held is not None and held["metadata"]["deletionTimestamp"]
            assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
            await kube.client.patch("v1", "ConfigMap", "blocker",
                                    {"metadata": {"finalizers": None}})
            await eventually(lambda: _gone(kube, "v1", "ConfigMap", "owner"),
                             what="the owner removed after its blocking dependent")

    vtime.run(main)


def test_dependent_with_two_owners_survives_while_one_exists() -> None:
    async def main() -> None:
        async with api() as kube, _collector(kube):
            a = await kube.client.create(_cm("a"))
            b = await kube.client.create(_cm("b"))
            await kube.client.create(_cm("shared", _owner_ref(a), _owner_ref(b)))
            await kube.client.delete("v1", "ConfigMap", "a")

            async def only_b() -> bool:
                shared = await _get(kube, "shared")
                refs = (shared or {}).get("metadata", {}).get("ownerReferences") or []
                return [r["name"] for r in refs] == ["b"]

            await eventually(only_b, what="the ref to the deleted owner dropped")
            await kube.client.delete("v1", "ConfigMap", "b")
            await eventually(lambda: _gone(kube, "v1", "ConfigMap", "shared"),
                             what="the dependent collected with its last owner")

    vtime.run(main)


def test_cluster_scoped_node_owns_a_lease_and_dangling_refs_are_collected() -> None:
    async def main() -> None:
        async with api() as kube:
            node = await kube.client.create({"apiVersion": "v1", "kind": "Node",
                                             "metadata": {"name": "n1"}})
            await kube.client.create({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "n1", "namespace": "kube-node-lease",
                             "ownerReferences": [_owner_ref(node)]},
                "spec": {"holderIdentity": "n1"}})
            ghost = {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "ghost", "uid": "no-such-uid"}}
            await kube.client.create(_cm("orphaned", _owner_ref(ghost)))
            async with _collector(kube):
                await eventually(lambda: _gone(kube, "v1", "ConfigMap", "orphaned"),
                                 what="a dependent of a never-existing owner collected")
                await asyncio.sleep(5)
                assert not await _gone(kube, "coordination.k8s.io/v1", "Lease", "n1",
                                       "kube-node-lease")
                await kube.client.delete("v1", "Node", "n1")
                await eventually(lambda: _gone(kube, "coordination.k8s.io/v1", "Lease", "n1",
                                               "kube-node-lease"),
                                 what="the node's Lease collected")

    vtime.run(main)


_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {
                               "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def test_custom_resources_are_owners_and_dependents() -> None:
    async def main() -> None:
        async with api() as kube, _collector(kube):
            await kube.client.create(_CRD)
            owner = await kube.client.create(_cm("owner"))

            async def widget() -> dict | None:
                try:
                    return await kube.client.create({
                        "apiVersion": "example.com/v1", "kind": "Widget",
                        "metadata": {"name": "w", "namespace": "default",
                                     "ownerReferences": [_owner_ref(owner)]}})
                except NotFound:
                    return None

            created = await eventually(widget, what="the Widget kind served")
            await kube.client.create(_cm("part", _owner_ref(created)))
            await kube.client.delete("v1", "ConfigMap", "owner")
            await eventually(lambda: _gone(kube, "example.com/v1", "Widget", "w"),
                             what="the Widget collected")
            await eventually(lambda: _gone(kube, "v1", "ConfigMap", "part"),
                             what="the Widget's own dependent collected")

    vtime.run(main)
