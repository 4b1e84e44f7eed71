"""DaemonSetController against the real in-process API server, in virtual time.

Nodes are plain Node objects; a fake kubelet (daemonkit) marks pods Running and Ready. Pods
stay unbound unless the real scheduler runs too (the first test), so their node is the one
their required node affinity names.
"""

from __future__ import annotations

import asyncio

from kubemu.cluster.controllers.daemonset_util import (
    replace_node_name_affinity,
    target_node_name,
)

from tests import vtime
from tests.kube import api, eventually
from tests.unit.controllers.daemonkit import (
    NS,
    active_pods,
    daemon_set,
    daemons,
    events,
    get,
    node,
    pods_by_node,
    rolled_out,
    wait_rolled_out,
)


def test_one_pod_on_each_of_six_nodes_including_a_cordoned_one_bound_by_the_scheduler() -> None:
    async def main() -> None:
        async with api() as kube:
            for i in range(5):
                await kube.client.create(node(f"n{i}"))
            await kube.client.create(node("cordoned", unschedulable=True, taints=[
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]))
            async with daemons(kube, scheduler=True):
                ds = await kube.client.create(daemon_set())
                done = await wait_rolled_out(kube)
                pods = await active_pods(kube)
                assert sorted(p["spec"].get("nodeName") for p in pods) == [
                    "cordoned", "n0", "n1", "n2", "n3", "n4"]
                for p in pods:
                    md = p["metadata"]
                    assert md["generateName"] == "agent-"
                    assert md["ownerReferences"][0]["uid"] == ds["metadata"]["uid"]
                    assert md["labels"]["pod-template-generation"] == "1"
                    assert md["labels"]["controller-revision-hash"]
                    assert target_node_name(p) == p["spec"]["nodeName"]
                    terms = p["spec"]["affinity"]["nodeAffinity"][
                        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
                    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                       "values": [p["spec"]["nodeName"]]}]}]
                    keys = {(t["key"], t["effect"]) for t in p["spec"]["tolerations"]}
                    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
                    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
                status = done["status"]
                assert {k: status.get(k) for k in (
                    "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                    "numberAvailable", "updatedNumberScheduled", "numberMisscheduled")} == {
                    "desiredNumberScheduled": 6, "currentNumberScheduled": 6,
                    "numberReady": 6, "numberAvailable": 6, "updatedNumberScheduled": 6,
                    "numberMisscheduled": 0}
                assert "numberUnavailable" not in status
                assert status["observedGeneration"] == 1
                created = await eventually(lambda: _at_least(events(kube, "SuccessfulCreate"),
                                                             6))
                assert all(e["involvedObject"]["kind"] == "DaemonSet" for e in created)

    vtime.run(main)


def test_node_eligibility_by_taints_selector_and_affinity() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(node("plain", labels={"disk": "ssd"}))
            await kube.client.create(node("hdd", labels={"disk": "hdd"}))
            await kube.client.create(node("tainted", labels={"disk": "ssd"}, taints=[
                {"key": "dedicated", "value": "db", "effect": "NoSchedule"}]))
            await kube.client.create(node("pressure", labels={"disk": "ssd"}, taints=[
                {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]))
            async with daemons(kube):
                await kube.client.create(daemon_set("everywhere"))
                await kube.client.create(daemon_set("ssd-only", nodeSelector={"disk": "ssd"}))
                await kube.client.create(daemon_set("tolerant", tolerations=[
                    {"key": "dedicated", "operator": "Exists"}]))
                await kube.client.create(daemon_set("affine", affinity={"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "disk", "operator": "NotIn",
                                               "values": ["ssd"]}]}]}}}))
                for name in ("everywhere", "ssd-only", "tolerant", "affine"):
                    await wait_rolled_out(kube, name)

                async def placement() -> dict[str, set[str]]:
                    out: dict[str, set[str]] = {}
                    for p in await active_pods(kube):
                        out.setdefault(p["metadata"]["labels"]["app"], set()).add(
                            target_node_name(p) or "")
                    return out

                assert await placement() == {
                    "everywhere": {"plain", "hdd", "pressure"},
                    "ssd-only": {"plain", "pressure"},
                    "tolerant": {"plain", "hdd", "tainted", "pressure"},
                    "affine": {"hdd"}}
                status = (await get(kube, "everywhere"))["status"]
                assert status["desiredNumberScheduled"] == 3

    vtime.run(main)


def test_nodes_added_later_get_a_pod_and_nodes_that_stop_matching_lose_it() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(node("a", labels={"role": "edge"}))
            async with daemons(kube):
                await kube.client.create(daemon_set(nodeSelector={"role": "edge"}))
                await wait_rolled_out(kube)
                await kube.client.create(node("b", labels={"role": "edge"}))
                await kube.client.create(node("c", labels={"role": "core"}))

                async def on(names: set[str]) -> bool:
                    return set(await pods_by_node(kube)) == names

                await eventually(lambda: on({"a", "b"}), what="a pod on the new node")
                await kube.client.patch("v1", "Node", "a",
                                        {"metadata": {"labels": {"role": "core"}}})
                await eventually(lambda: on({"b"}), what="the pod leaves node a")
                await kube.client.patch("v1", "Node", "c",
                                        {"metadata": {"labels": {"role": "edge"}}})
                await eventually(lambda: on({"b", "c"}), what="a pod on node c")
                done = await wait_rolled_out(kube)
                assert done["status"]["desiredNumberScheduled"] == 2
                deleted = await eventually(lambda: _at_least(events(kube, "SuccessfulDelete"),
                                                             1))
                assert deleted[0]["message"].startswith("Deleted pod: agent-")

    vtime.run(main)


def test_unscheduled_pods_of_a_removed_node_are_deleted_and_status_shrinks() -> None:
    async def main() -> None:
        async with api() as kube:
            for name in ("a", "b"):
                await kube.client.create(node(name))
            async with daemons(kube):
                await kube.client.create(daemon_set())
                await wait_rolled_out(kube)
                await kube.client.delete("v1", "Node", "b")

                async def only_a() -> bool:
                    status = (await get(kube)).get("status") or {}
                    return set(await pods_by_node(kube)) == {"a"} and \
                        status.get("desiredNumberScheduled") == 1
                await eventually(only_a, what="node b's pod gone, status shrunk")

    vtime.run(main)


def test_a_node_tainted_no_schedule_keeps_a_tolerating_pod_as_misscheduled() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(node("a"))
            await kube.client.create(node("b"))
            async with daemons(kube):
                await kube.client.create(daemon_set(tolerations=[
                    {"key": "evict", "operator": "Exists", "effect": "NoExecute"}]))
                await wait_rolled_out(kube)
                await kube.client.patch("v1", "Node", "b", {"spec": {"taints": [
                    {"key": "hold", "effect": "NoSchedule"},
                    {"key": "evict", "effect": "NoExecute"}]}})

                async def misscheduled() -> dict | None:
                    status = (await get(kube)).get("status") or {}
                    return status if status.get("numberMisscheduled") == 1 else None
                status = await eventually(misscheduled)
                assert status["desiredNumberScheduled"] == 1
                assert set(await pods_by_node(kube)) == {"a", "b"}
                await kube.client.patch("v1", "Node", "b", {"spec": {"taints": [
                    {"key": "hold", "effect": "NoSchedule"},
                    {"key": "drain", "effect": "NoExecute"}]}})
                await eventually(lambda: _nodes_are(kube, {"a"}), what="b's pod removed")

    vtime.run(main)


def test_failed_pods_are_replaced_with_backoff_and_a_warning() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(node("a"))
            async with daemons(kube, fail={"crash:1"}):
                await kube.client.create(daemon_set(image="crash:1"))
                warnings = await eventually(lambda: _at_least(events(kube, "FailedDaemonPod"),
                                                              1))
                assert warnings[0]["type"] == "Warning"
                assert "will try to kill it" in warnings[0]["message"]
                start = kube.timing.clock.now()
                await asyncio.sleep(60)
                created = await events(kube, "SuccessfulCreate")
                total = sum(e.get("count", 1) for e in created)
                # backoff 1, 2, 4, 8, 16, 32 s between kills: a handful of pods, not hundreds
                assert 4 <= total <= 10, total
                assert kube.timing.clock.now() - start >= 60

    vtime.run(main)


def test_rolling_update_with_max_unavailable_one_never_leaves_two_nodes_without_a_pod() -> None:
    async def main() -> None:
        async with api() as kube:
            for i in range(6):
                await kube.client.create(node(f"n{i}"))
            async with daemons(kube, ready_after=3.0) as (ctl, _):
                await kube.client.create(daemon_set(image="agent:1"))
                await wait_rolled_out(kube)
                worst = [0]
                lister = ctl.pod_informer.lister

                def check(*_: object) -> None:
                    ready_nodes = {target_node_name(p) for p in lister.list(NS)
                                   if not p["metadata"].get("deletionTimestamp") and any(
                                       c["type"] == "Ready" and c["status"] == "True"
                                       for c in p["status"].get("conditions") or ())}
                    worst[0] = max(worst[0], 6 - len(ready_nodes))

                ctl.pod_informer.add_handler(check, check, check)
                await _set_image(kube, "agent:2")
                done = await wait_rolled_out(kube)
                assert worst[0] == 1
                images = {p["spec"]["containers"][0]["image"] for p in await active_pods(kube)}
                assert images == {"agent:2"} and len(await active_pods(kube)) == 6
                assert done["status"]["observedGeneration"] == 2
                revisions = await _revisions(kube)
                assert sorted(r["revision"] for r in revisions) == [1, 2]

    vtime.run(main)


def test_rolling_update_with_max_surge_keeps_every_node_available() -> None:
    async def main() -> None:
        async with api() as kube:
            for i in range(4):
                await kube.client.create(node(f"n{i}"))
            strategy = {"type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
            async with daemons(kube, ready_after=2.0) as (ctl, _):
                await kube.client.create(daemon_set(strategy=strategy, min_ready=5))
                await wait_rolled_out(kube)
                worst_missing, most_pods = [0], [0]
                lister = ctl.pod_informer.lister

                def check(*_: object) -> None:
                    active = [p for p in lister.list(NS)
                              if not p["metadata"].get("deletionTimestamp")]
                    ready = {target_node_name(p) for p in active if any(
                        c["type"] == "Ready" and c["status"] == "True"
                        for c in p["status"].get("conditions") or ())}
                    worst_missing[0] = max(worst_missing[0], 4 - len(ready))
                    most_pods[0] = max(most_pods[0], len(active))

                ctl.pod_informer.add_handler(check, check, check)
                await _set_image(kube, "agent:2")
                await wait_rolled_out(kube)
                assert worst_missing[0] == 0
                assert most_pods[0] == 5
                assert {p["spec"]["containers"][0]["image"]
                        for p in await active_pods(kube)} == {"agent:2"}

    vtime.run(main)


def test_on_delete_replaces_pods_only_when_they_are_deleted() -> None:
    async def main() -> None:
        async with api() as kube:
            for name in ("a", "b"):
                await kube.client.create(node(name))
            async with daemons(kube):
                await kube.client.create(daemon_set(strategy={"type": "OnDelete"}))
                await eventually(lambda: _status_is(kube, "numberAvailable", 2))
                await _set_image(kube, "agent:2")
                await eventually(lambda: _status_is(kube, "observedGeneration", 2))
                await asyncio.sleep(30)
                status = (await get(kube))["status"]
                assert "updatedNumberScheduled" not in status
                assert not rolled_out(await get(kube))
                victim = (await pods_by_node(kube))["a"][0]
                await kube.client.delete("v1", "Pod", victim["metadata"]["name"], namespace=NS)
                await eventually(lambda: _status_is(kube, "updatedNumberScheduled", 1))
                images = {target_node_name(p): p["spec"]["containers"][0]["image"]
                          for p in await active_pods(kube)}
                assert images == {"a": "agent:2", "b": "agent:1"}

    vtime.run(main)


def test_rollback_renumbers_the_old_revision_and_history_is_trimmed() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(node("a"))
            async with daemons(kube):
                ds = daemon_set(image="agent:1")
                ds["spec"]["revisionHistoryLimit"] = 1
                await kube.client.create(ds)
                await wait_rolled_out(kube)
                first = await _revisions(kube)
                await _set_image(kube, "agent:2")
                await wait_rolled_out(kube)
                await _set_image(kube, "agent:1")
                await wait_rolled_out(kube)

                async def renumbered() -> list[dict]:
                    revs = await _revisions(kube)
                    return revs if sorted(r["revision"] for r in revs) == [2, 3] else []
                revs = await eventually(renumbered, what="revision 1 renumbered to 3")
                top = max(revs, key=lambda r: r["revision"])
                assert top["metadata"]["name"] == first[0]["metadata"]["name"]
                await _set_image(kube, "agent:3")
                await wait_rolled_out(kube)

                async def trimmed() -> list[dict]:
                    revs = await _revisions(kube)
                    return revs if len(revs) == 2 else []
                revs = await eventually(trimmed, what="history trimmed to limit 1")
                assert sorted(r["revision"] for r in revs) == [3, 4]

    vtime.run(main)


def test_matching_orphan_pods_and_revisions_are_adopted() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(node("a"))
            await kube.client.create({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "stray", "namespace": NS, "labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "agent:0"}], "affinity":
                         replace_node_name_affinity(None, "a")}})
            await kube.client.create({
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": "agent-old", "namespace": NS, "labels": {"app": "agent"}},
                "data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 7})
            async with daemons(kube):
                ds = await kube.client.create(daemon_set())
                await wait_rolled_out(kube)
                (pod,) = await active_pods(kube)
                assert pod["metadata"]["name"] != "stray", "the adopted old pod was replaced"
                revisions = {r["metadata"]["name"]: r for r in await _revisions(kube)}
                old = revisions["agent-old"]
                assert old["metadata"]["ownerReferences"][0]["uid"] == ds["metadata"]["uid"]
                assert old["metadata"]["labels"]["controller-revision-hash"] == "agent-old"
                (current,) = [r for r in revisions.values() if r is not old]
                assert current["revision"] == 8
                assert current["data"]["spec"]["template"]["$patch"] == "replace"

    vtime.run(main)


# -- helpers ---------------------------------------------------------------------------------

async def _set_image(kube, image: str, name: str = "agent") -> None:  # type: ignore[no-untyped-def]
    await kube.client.patch("apps/v1", "DaemonSet", name, {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": image}]}}}}, namespace=NS,
        patch_type="strategic")


async def _revisions(kube) -> list[dict]:  # type: ignore[no-untyped-def]
    return (await kube.client.list("apps/v1", "ControllerRevision", namespace=NS))["items"]


async def _status_is(kube, key: str, value: int) -> bool:  # type: ignore[no-untyped-def]
    return ((await get(kube)).get("status") or {}).get(key) == value


async def _nodes_are(kube, names: set[str]) -> bool:  # type: ignore[no-untyped-def]
    return set(await pods_by_node(kube)) == names


async def _at_least(items_future, n: int) -> list[dict]:  # type: ignore[no-untyped-def]
    items = await items_future
    return items if len(items) >= n else []
