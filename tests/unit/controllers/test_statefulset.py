"""StatefulSetController against the real in-process API server, in virtual time.

A fake kubelet marks every new pod Running and Ready after `ready_after` seconds unless its
name is in `never_ready`; pods stay unbound, so a delete removes them at once. `Timeline`
records what the pod informer saw, in order, to check OrderedReady sequencing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.statefulset import StatefulSetController
from kubemu.cluster.controllers.statefulset_utils import duplicate_ordinals

from tests import vtime
from tests.kube import Kube, api, eventually

NS = "default"


def stateful_set(name: str = "web", replicas: int = 3, *, image: str = "nginx:1",
                 **spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "serviceName": "nginx",
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     **spec}}


def is_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


@dataclass
class Kubelet:
    kube: Kube
    ready_after: float = 1.0
    never_ready: set[str] = field(default_factory=set)
    tasks: set[asyncio.Task] = field(default_factory=set)

    def on_add(self, pod: dict) -> None:
        if pod["metadata"]["name"] not in self.never_ready:
            task = asyncio.create_task(self._ready(pod))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _ready(self, pod: dict) -> None:
        await self.kube.timing.sleep(self.ready_after)
        await set_phase(self.kube, pod, "Running", ready=True)


async def set_phase(kube: Kube, pod: dict, phase: str, *, ready: bool) -> None:
    status = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": rfc3339(kube.timing.wall())}]}
    try:
        await kube.client.patch("v1", "Pod", pod["metadata"]["name"],
                                {"metadata": {"uid": pod["metadata"]["uid"]}, "status": status},
                                namespace=NS, subresource="status")
    except NotFound:
        pass


@dataclass
class Timeline:
    """Pod events in order: ("add"|"ready"|"delete", name); `live` checks the invariant."""

    events: list[tuple[str, str]] = field(default_factory=list)
    most_live: int = 0
    duplicates: list[dict] = field(default_factory=list)

    def watch(self, factory: InformerFactory) -> None:
        lister = factory.informer("v1", "Pod").lister

        def check() -> None:
            pods = lister.list(NS)
            self.most_live = max(self.most_live, len(pods))
            if dup := duplicate_ordinals(pods):
                self.duplicates.append(dup)

        def added(pod: dict) -> None:
            self.events.append(("add", pod["metadata"]["name"]))
            check()

        def updated(old: dict, new: dict) -> None:
            if is_ready(new) and not is_ready(old):
                self.events.append(("ready", new["metadata"]["name"]))
            check()

        def deleted(pod: dict) -> None:
            self.events.append(("delete", pod["metadata"]["name"]))

        factory.informer("v1", "Pod").add_handler(added, updated, deleted)

    def of(self, kind: str) -> list[str]:
        return [name for k, name in self.events if k == kind]

    def index(self, kind: str, name: str, nth: int = 0) -> int:
        return [i for i, e in enumerate(self.events) if e == (kind, name)][nth]


@asynccontextmanager
async def running(kube: Kube, **kubelet: object) -> AsyncIterator[Timeline]:
    factory = InformerFactory(kube.client, kube.timing)
    recorder = EventRecorder(kube.client, kube.timing, component="statefulset-controller")
    ctl = StatefulSetController(kube.client, kube.timing, factory=factory, recorder=recorder)
    fake = Kubelet(kube, **kubelet)  # type: ignore[arg-type]
    factory.informer("v1", "Pod").add_handler(on_add=fake.on_add)
    timeline = Timeline()
    timeline.watch(factory)
    tasks = [asyncio.create_task(ctl.run()), asyncio.create_task(recorder.run())]
    factory.start()
    try:
        yield timeline
    finally:
        await ctl.stop()
        await factory.stop()
        for task in [*tasks, *fake.tasks]:
            task.cancel()
        await asyncio.gather(*tasks, *fake.tasks, return_exceptions=True)
        assert not timeline.duplicates, f"an ordinal had two live pods: {timeline.duplicates}"


async def get(kube: Kube, name: str = "web") -> dict:
    return await kube.client.get("apps/v1", "StatefulSet", name, namespace=NS)


async def pods(kube: Kube) -> dict[str, dict]:
    items = (await kube.client.list("v1", "Pod", namespace=NS))["items"]
    return {p["metadata"]["name"]: p for p in items}


def rollout_complete(sts: dict) -> bool:
    """kubectl's StatefulSetStatusViewer reports the rollout (or partitioned rollout) done."""
    spec, status = sts["spec"], sts.get("status") or {}
    if not status.get("observedGeneration") or (
            sts["metadata"]["generation"] > status["observedGeneration"]):
        return False
    if status.get("readyReplicas", 0) < spec["replicas"]:
        return False
    partition = ((spec["updateStrategy"].get("rollingUpdate") or {}).get("partition") or 0)
    if partition > 0:
        return status.get("updatedReplicas", 0) >= spec["replicas"] - partition
    return status.get("updateRevision") == status.get("currentRevision")


async def wait_rolled_out(kube: Kube, name: str = "web", timeout: float = 120) -> dict:
    async def done() -> dict | None:
        sts = await get(kube, name)
        return sts if rollout_complete(sts) else None
    return await eventually(done, timeout=timeout, what=f"{name} rolled out")


async def set_image(kube: Kube, image: str, name: str = "web") -> None:
    await kube.client.patch("apps/v1", "StatefulSet", name, {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": image}]}}}}, namespace=NS,
        patch_type="strategic")


def image_of(pod: dict) -> str:
    return pod["spec"]["containers"][0]["image"]


# -- ordered creation and scale down ---------------------------------------------------------

def test_ordered_ready_starts_pods_in_order_each_ready_before_the_next() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, ready_after=5) as timeline:
            await kube.client.create(stateful_set(), namespace=NS)
            sts = await wait_rolled_out(kube)
            assert timeline.of("add") == ["web-0", "web-1", "web-2"]
            for prev, nxt in (("web-0", "web-1"), ("web-1", "web-2")):
                assert timeline.index("ready", prev) < timeline.index("add", nxt)
            status = sts["status"]
            assert status["replicas"] == status["readyReplicas"] == 3
            assert status["currentReplicas"] == status["updatedReplicas"] == 3
            assert status["availableReplicas"] == 3 and status["collisionCount"] == 0
            assert status["currentRevision"] == status["updateRevision"]
            assert status["observedGeneration"] == sts["metadata"]["generation"]
            web1 = (await pods(kube))["web-1"]
            assert web1["metadata"]["labels"] == {
                "app": "web", "controller-revision-hash": status["updateRevision"],
                "statefulset.kubernetes.io/pod-name": "web-1",
                "apps.kubernetes.io/pod-index": "1"}
            assert web1["spec"]["hostname"] == "web-1" and web1["spec"]["subdomain"] == "nginx"
            ref = web1["metadata"]["ownerReferences"][0]
            assert ref["kind"] == "StatefulSet" and ref["controller"] is True
            revs = (await kube.client.list("apps/v1", "ControllerRevision",
                                           namespace=NS))["items"]
            assert [r["metadata"]["name"] for r in revs] == [status["updateRevision"]]
            assert revs[0]["revision"] == 1
            events = (await kube.client.list("v1", "Event", namespace=NS))["items"]
            messages = {(e["reason"], e["message"]) for e in events}
            assert ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful") \
                in messages
    vtime.run(main)


def test_ordered_ready_waits_for_min_ready_seconds_before_the_next_ordinal() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, ready_after=1) as timeline:
            await kube.client.create(stateful_set(replicas=2, minReadySeconds=30),
                                     namespace=NS)
            start = kube.timing.clock.now()
            await eventually(lambda: "web-1" in timeline.of("add"), timeout=120,
                             what="web-1 created")
            assert kube.timing.clock.now() - start >= 30
            sts = await wait_rolled_out(kube)
            await eventually(lambda: get_available(kube), timeout=60, what="2 available")
            assert sts["status"]["readyReplicas"] == 2
    vtime.run(main)


async def get_available(kube: Kube) -> bool:
    return (await get(kube))["status"].get("availableReplicas") == 2


def test_scale_down_removes_the_highest_ordinal_first_one_at_a_time() -> None:
    async def main() -> None:
        async with api() as kube, running(kube) as timeline:
            await kube.client.create(stateful_set(), namespace=NS)
            await wait_rolled_out(kube)
            await kube.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"replicas": 1}},
                                    namespace=NS)

            async def scaled() -> bool:
                return list(await pods(kube)) == ["web-0"] and (
                    await get(kube))["status"]["replicas"] == 1
            await eventually(scaled, timeout=60, what="scaled to 1")
            assert timeline.of("delete") == ["web-2", "web-1"]
    vtime.run(main)


def test_ordered_ready_does_not_scale_down_while_another_pod_is_unready() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, never_ready={"web-1"}) as timeline:
            await kube.client.create(stateful_set(replicas=2), namespace=NS)
            await eventually(lambda: "web-1" in timeline.of("add"), timeout=30,
                             what="web-1 created")
            await kube.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"replicas": 3}},
                                    namespace=NS)
            await kube.timing.sleep(30)
            assert "web-2" not in timeline.of("add")  # web-1 never Ready: creation blocked
    vtime.run(main)


def test_parallel_creates_all_pods_at_once() -> None:
    async def main() -> None:
        never = {"web-0", "web-1", "web-2"}
        async with api() as kube, running(kube, never_ready=never) as timeline:
            await kube.client.create(stateful_set(podManagementPolicy="Parallel"),
                                     namespace=NS)
            await eventually(lambda: len(timeline.of("add")) == 3, timeout=30,
                             what="3 pods created")
            assert timeline.of("ready") == []
            await kube.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"replicas": 1}},
                                    namespace=NS)
            await eventually(lambda: sorted(timeline.of("delete")) == ["web-1", "web-2"],
                             timeout=30, what="both deleted though none is ready")
    vtime.run(main)


def test_failed_pod_is_deleted_and_recreated() -> None:
    async def main() -> None:
        async with api() as kube, running(kube) as timeline:
            await kube.client.create(stateful_set(), namespace=NS)
            await wait_rolled_out(kube)
            old = (await pods(kube))["web-1"]
            await set_phase(kube, old, "Failed", ready=False)

            async def recreated() -> bool:
                new = (await pods(kube)).get("web-1")
                return bool(new and new["metadata"]["uid"] != old["metadata"]["uid"]
                            and is_ready(new))
            await eventually(recreated, timeout=60, what="web-1 recreated")
            assert timeline.of("add").count("web-1") == 2
            await wait_rolled_out(kube)
    vtime.run(main)


# -- updates ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("partition", "updated"), [
    pytest.param(0, ["web-2", "web-1", "web-0"], id="no-partition-updates-all-highest-first"),
    pytest.param(1, ["web-2", "web-1"], id="partition-1-keeps-web-0"),
    pytest.param(3, [], id="partition-equal-to-replicas-updates-none"),
])
def test_rolling_update_updates_ordinals_at_or_above_partition_highest_first(
        partition: int, updated: list[str]) -> None:
    async def main() -> None:
        async with api() as kube, running(kube) as timeline:
            strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
            await kube.client.create(stateful_set(updateStrategy=strategy), namespace=NS)
            first = await wait_rolled_out(kube)
            old_revision = first["status"]["currentRevision"]
            await set_image(kube, "nginx:2")
            sts = await wait_rolled_out(kube)
            if not updated:
                await kube.timing.sleep(30)
            now = await pods(kube)
            assert sorted(n for n, p in now.items() if image_of(p) == "nginx:2") == \
                sorted(updated)
            assert timeline.of("delete") == updated  # each one at a time, highest first
            for name in updated[1:]:  # the previous pod was Ready again before the next went
                before = updated[updated.index(name) - 1]
                assert timeline.index("ready", before, 1) < timeline.index("delete", name)
            status = (await get(kube))["status"]
            assert status.get("updatedReplicas", 0) == len(updated)
            if partition == 0:
                assert status["currentRevision"] == status["updateRevision"] != old_revision
            else:
                assert status["currentRevision"] == old_revision != status["updateRevision"]
                assert status["currentReplicas"] == 3 - len(updated)
            assert sts["status"]["readyReplicas"] == 3
    vtime.run(main)


def test_on_delete_updates_a_pod_only_when_it_is_deleted() -> None:
    async def main() -> None:
        async with api() as kube, running(kube) as timeline:
            await kube.client.create(stateful_set(updateStrategy={"type": "OnDelete"}),
                                     namespace=NS)
            await eventually(lambda: len(timeline.of("ready")) == 3, timeout=60,
                             what="3 ready")
            await set_image(kube, "nginx:2")
            await kube.timing.sleep(30)
            assert timeline.of("delete") == []
            await kube.client.delete("v1", "Pod", "web-1", namespace=NS)

            async def replaced() -> bool:
                now = await pods(kube)
                return "web-1" in now and image_of(now["web-1"]) == "nginx:2"
            await eventually(replaced, timeout=60, what="web-1 recreated at nginx:2")
            now = await pods(kube)
            assert image_of(now["web-0"]) == image_of(now["web-2"]) == "nginx:1"
            status = (await get(kube))["status"]
            assert status["updatedReplicas"] == 1 and status["currentReplicas"] == 2
    vtime.run(main)


def test_rollback_renumbers_the_old_revision_and_history_is_truncated() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await kube.client.create(stateful_set(replicas=1, revisionHistoryLimit=1),
                                     namespace=NS)
            first = (await wait_rolled_out(kube))["status"]["updateRevision"]
            for image in ("nginx:2", "nginx:3", "nginx:1"):
                await set_image(kube, image)
                await kube.timing.sleep(1)
                sts = await wait_rolled_out(kube)
            assert sts["status"]["updateRevision"] == first

            async def truncated() -> list[dict] | None:
                revs = (await kube.client.list("apps/v1", "ControllerRevision",
                                               namespace=NS))["items"]
                return revs if len(revs) == 2 else None
            revs = await eventually(truncated, timeout=30, what="history truncated to 1+live")
            numbers = {r["metadata"]["name"]: r["revision"] for r in revs}
            assert numbers[first] == 4
    vtime.run(main)


# -- storage ---------------------------------------------------------------------------------

CLAIM = {"metadata": {"name": "www", "labels": {"tier": "db"}},
         "spec": {"accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": "1Gi"}}}}


@pytest.mark.parametrize(("policy", "set_owned"), [
    pytest.param({"whenDeleted": "Retain", "whenScaled": "Retain"}, False, id="retain"),
    pytest.param({"whenDeleted": "Delete", "whenScaled": "Retain"}, True, id="when-deleted"),
])
def test_claims_are_created_per_ordinal_before_their_pods(policy: dict,
                                                          set_owned: bool) -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await kube.client.create(stateful_set(
                replicas=2, volumeClaimTemplates=[CLAIM],
                persistentVolumeClaimRetentionPolicy=policy), namespace=NS)
            sts = await wait_rolled_out(kube)
            claims = {c["metadata"]["name"]: c for c in (await kube.client.list(
                "v1", "PersistentVolumeClaim", namespace=NS))["items"]}
            assert sorted(claims) == ["www-web-0", "www-web-1"]
            claim = claims["www-web-0"]
            assert claim["metadata"]["labels"] == {"tier": "db", "app": "web"}
            assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
            owners = [r["uid"] for r in claim["metadata"].get("ownerReferences") or ()]
            assert owners == ([sts["metadata"]["uid"]] if set_owned else [])
            web0 = (await pods(kube))["web-0"]
            assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}} in \
                web0["spec"]["volumes"]
            assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == policy
            events = (await kube.client.list("v1", "Event", namespace=NS))["items"]
            assert any(e["message"] == "create Claim www-web-0 Pod web-0 in StatefulSet web "
                       "success" for e in events)
    vtime.run(main)


def test_when_scaled_delete_makes_the_condemned_pod_own_its_claim() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, never_ready={"web-1"}) as timeline:
            policy = {"whenDeleted": "Retain", "whenScaled": "Delete"}
            await kube.client.create(stateful_set(
                replicas=2, volumeClaimTemplates=[CLAIM], podManagementPolicy="Parallel",
                persistentVolumeClaimRetentionPolicy=policy), namespace=NS)
            await eventually(lambda: len(timeline.of("add")) == 2, timeout=30, what="2 pods")
            web1 = (await pods(kube))["web-1"]
            await kube.client.patch("apps/v1", "StatefulSet", "web", {"spec": {"replicas": 1}},
                                    namespace=NS)
            await eventually(lambda: "web-1" in timeline.of("delete"), timeout=30,
                             what="web-1 deleted")
            claim = await kube.client.get("v1", "PersistentVolumeClaim", "www-web-1",
                                          namespace=NS)
            assert [(r["kind"], r["uid"]) for r in claim["metadata"]["ownerReferences"]] == [
                ("Pod", web1["metadata"]["uid"])]
            kept = await kube.client.get("v1", "PersistentVolumeClaim", "www-web-0",
                                         namespace=NS)
            assert not kept["metadata"].get("ownerReferences")
    vtime.run(main)


def test_max_unavailable_deletes_that_many_pods_at_once() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, ready_after=5) as timeline:
            strategy = {"type": "RollingUpdate",
                        "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}
            await kube.client.create(stateful_set(replicas=4, podManagementPolicy="Parallel",
                                                  updateStrategy=strategy), namespace=NS)
            await wait_rolled_out(kube)
            await set_image(kube, "nginx:2")
            await wait_rolled_out(kube)
            deletes = [i for i, (k, _) in enumerate(timeline.events) if k == "delete"]
            assert [timeline.events[i][1] for i in deletes] == ["web-3", "web-2", "web-1",
                                                               "web-0"]
            between = timeline.events[deletes[0]:deletes[1]]
            assert ("ready", "web-3") not in between  # the second went before the first was back
            assert all(image_of(p) == "nginx:2" for p in (await pods(kube)).values())
    vtime.run(main)


def test_a_restarted_controller_adopts_its_state_without_new_pods_or_revisions() -> None:
    async def main() -> None:
        async with api() as kube:
            async with running(kube):
                await kube.client.create(stateful_set(), namespace=NS)
                before = await wait_rolled_out(kube)
            uids = {n: p["metadata"]["uid"] for n, p in (await pods(kube)).items()}
            async with running(kube) as timeline:
                await kube.timing.sleep(30)
                assert timeline.of("delete") == []
            assert {n: p["metadata"]["uid"] for n, p in (await pods(kube)).items()} == uids
            revs = (await kube.client.list("apps/v1", "ControllerRevision",
                                           namespace=NS))["items"]
            assert [r["metadata"]["name"] for r in revs] == [
                before["status"]["updateRevision"]]
    vtime.run(main)
