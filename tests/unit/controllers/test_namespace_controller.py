"""Namespace lifecycle: the finalize subresource, the deleter's conditions, and the namespace
controller emptying a Terminating namespace until the API server removes it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.server import ApiServer
from kubemu.cluster.client import ApiClient, RouterTransport
from kubemu.cluster.controllers.namespace import NamespaceController
from kubemu.cluster.controllers.namespace_deleter import (
    ContentOutcome, conditions, merge_conditions,
)
from kubemu.cluster.store.local import LocalStore
from kubemu.cluster.timing import Timing
from tests import vtime
from tests.kube import EPOCH, TOKEN, Kube, eventually


@asynccontextmanager
async def _cluster(*, controller: bool = True) -> AsyncIterator[Kube]:
    """An API server that leaves namespace finalisation to the controller (and the
    controller, unless `controller` is False)."""
    timing = Timing.of_loop(epoch=EPOCH)
    store = LocalStore(clock=timing.clock)
    server = ApiServer(store, token=TOKEN, wall_clock=timing.wall, rng=random.Random(7),
                       finalize_namespaces=False)
    await server.start()
    client = ApiClient(RouterTransport(server.router, token=TOKEN))
    ctl = NamespaceController(client, timing) if controller else None
    task = asyncio.create_task(ctl.run()) if ctl is not None else None
    try:
        yield Kube(server, store, client, timing)
    finally:
        if ctl is not None and task is not None:
            await ctl.stop()
            await asyncio.gather(task, return_exceptions=True)
        await server.stop()
        await store.close()


async def _namespace(kube: Kube, name: str) -> dict | None:
    try:
        return await kube.client.get("v1", "Namespace", name)
    except NotFound:
        return None


def _condition(ns: dict | None, ctype: str) -> dict:
    for c in ((ns or {}).get("status") or {}).get("conditions") or ():
        if c["type"] == ctype:
            return c
    return {}


def _pod(name: str, *, node: str | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "team"},
            "spec": spec}


# -- the API server side --------------------------------------------------------------------

def test_finalize_subresource_removes_a_terminating_namespace() -> None:
    async def main() -> None:
        async with _cluster(controller=False) as kube:
            ns = await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": "team"}})
            assert ns["spec"]["finalizers"] == ["kubernetes"]
            await kube.client.delete("v1", "Namespace", "team")
            await asyncio.sleep(60)  # no controller, no sweep: it stays Terminating
            ns = await _namespace(kube, "team")
            assert ns is not None and ns["status"]["phase"] == "Terminating"
            ns["spec"]["finalizers"] = []
            await kube.client.raw("PUT", "/api/v1/namespaces/team/finalize", body=ns)
            assert await _namespace(kube, "team") is None

    vtime.run(main)


def test_a_namespace_without_finalizers_is_deleted_at_once() -> None:
    async def main() -> None:
        async with _cluster(controller=False) as kube:
            await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "team"}})
            finalized = await kube.client.raw(
                "PUT", "/api/v1/namespaces/team/finalize",
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"},
                      "spec": {"finalizers": []}})
            assert not finalized["spec"].get("finalizers")
            assert finalized["status"]["phase"] == "Active"
            await kube.client.delete("v1", "Namespace", "team")
            assert await _namespace(kube, "team") is None

    vtime.run(main)


# -- conditions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome,ctype,expected", [
    pytest.param(ContentOutcome(), "NamespaceContentRemaining",
                 ("False", "ContentRemoved", "All content successfully removed"),
                 id="empty-means-content-removed"),
    pytest.param(ContentOutcome(remaining={"pods.": 2, "configmaps.": 1}),
                 "NamespaceContentRemaining",
                 ("True", "SomeResourcesRemain", ("Some resources are remaining: configmaps. "
                                                  "has 1 resource instances, pods. has 2 "
                                                  "resource instances")),
                 id="remaining-resources-sorted"),
    pytest.param(ContentOutcome(finalizers={"example.com/hold": 3}),
                 "NamespaceFinalizersRemaining",
                 ("True", "SomeFinalizersRemain", ("Some content in the namespace has "
                                                   "finalizers remaining: example.com/hold in "
                                                   "3 resource instances")),
                 id="finalizers-remaining"),
    pytest.param(ContentOutcome(errors=["b failed", "a failed"]),
                 "NamespaceDeletionContentFailure",
                 ("True", "ContentDeletionFailed",
                  "Failed to delete all resource types, 2 remaining: a failed, b failed"),
                 id="content-failures-sorted"),
    pytest.param(ContentOutcome(), "NamespaceDeletionDiscoveryFailure",
                 ("False", "ResourcesDiscovered", "All resources successfully discovered"),
                 id="discovery-ok"),
])
def test_deleter_conditions_use_upstream_reasons_and_messages(
        outcome: ContentOutcome, ctype: str, expected: tuple[str, str, str]) -> None:
    assert conditions(outcome)[ctype] == expected


def test_merge_conditions_moves_transition_time_only_when_status_changes() -> None:
    status: dict = {}
    assert merge_conditions(status, conditions(ContentOutcome(remaining={"pods.": 2})), "t1")
    assert [c["type"] for c in status["conditions"]][3] == "NamespaceContentRemaining"
    assert not merge_conditions(status, conditions(ContentOutcome(remaining={"pods.": 2})), "t2")
    assert merge_conditions(status, conditions(ContentOutcome(remaining={"pods.": 1})), "t3")
    remaining = _condition({"status": status}, "NamespaceContentRemaining")
    assert remaining["lastTransitionTime"] == "t1" and "pods. has 1" in remaining["message"]
    assert merge_conditions(status, conditions(ContentOutcome()), "t4")
    remaining = _condition({"status": status}, "NamespaceContentRemaining")
    assert remaining["lastTransitionTime"] == "t4" and remaining["status"] == "False"


# -- the controller ------------------------------------------------------------------------------

def test_namespace_deletion_removes_its_content_then_the_namespace() -> None:
    async def main() -> None:
        async with _cluster() as kube:
            await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "team"}})
            await kube.client.create(_pod("p1"))
            await kube.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "cm", "namespace": "team"}})
            labels = {"app": "web"}
            await kube.client.create({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "team"},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {
                             "containers": [{"name": "c", "image": "nginx"}]}}}})
            await kube.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "keep", "namespace": "default"}})
            await kube.client.delete("v1", "Namespace", "team")
            await eventually(lambda: _namespace(kube, "team"), timeout=1,
                             what="the namespace Terminating first")
            await eventually(lambda: _gone_namespace(kube, "team"),
                             what="the namespace removed")
            for api_version, kind in (("v1", "Pod"), ("v1", "ConfigMap"),
                                      ("apps/v1", "Deployment")):
                left = await kube.client.list(api_version, kind, namespace="team")
                assert left["items"] == [], kind
            assert await kube.client.get("v1", "ConfigMap", "keep", namespace="default")

    vtime.run(main)


async def _gone_namespace(kube: Kube, name: str) -> bool:
    return await _namespace(kube, name) is None


def test_conditions_report_remaining_pods_until_their_kubelet_deletes_them() -> None:
    async def main() -> None:
        async with _cluster() as kube:
            await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "team"}})
            for name in ("a", "b"):
                await kube.client.create(_pod(name, node="n1"))
            await kube.client.delete("v1", "Namespace", "team")

            async def pods_remaining() -> dict:
                ns = await _namespace(kube, "team")
                cond = _condition(ns, "NamespaceContentRemaining")
                return cond if cond.get("status") == "True" else {}

            cond = await eventually(pods_remaining, what="NamespaceContentRemaining True")
            assert cond["reason"] == "SomeResourcesRemain"
            assert cond["message"] == ("Some resources are remaining: pods. has 2 resource "
                                       "instances")
            ns = await _namespace(kube, "team")
            assert _condition(ns, "NamespaceDeletionContentFailure")["status"] == "False"
            for name in ("a", "b"):  # the kubelet confirms the containers stopped
                pod = await kube.client.get("v1", "Pod", name, namespace="team")
                assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
                await kube.client.delete("v1", "Pod", name, namespace="team",
                                         grace_period_seconds=0)
            await eventually(lambda: _gone_namespace(kube, "team"),
                             what="the namespace removed once its pods left")

    vtime.run(main)


def test_content_held_by_a_finalizer_keeps_the_namespace_until_released() -> None:
    async def main() -> None:
        async with _cluster() as kube:
            await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "team"}})
            await kube.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "held", "namespace": "team",
                                                   "finalizers": ["example.com/hold"]}})
            await kube.client.delete("v1", "Namespace", "team")

            async def finalizers_remaining() -> dict:
                cond = _condition(await _namespace(kube, "team"),
                                  "NamespaceFinalizersRemaining")
                return cond if cond.get("status") == "True" else {}

            cond = await eventually(finalizers_remaining, what="NamespaceFinalizersRemaining")
            assert cond["message"] == ("Some content in the namespace has finalizers "
                                       "remaining: example.com/hold in 1 resource instances")
            await asyncio.sleep(120)
            assert await _namespace(kube, "team") is not None
            await kube.client.patch("v1", "ConfigMap", "held", {"metadata": {"finalizers": None}},
                                    namespace="team")
            await eventually(lambda: _gone_namespace(kube, "team"),
                             what="the namespace removed after the finalizer")

    vtime.run(main)
