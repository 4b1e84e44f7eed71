"""EventRecorder: Events land in the object's namespace, repeats aggregate into one."""

from __future__ import annotations

import asyncio

from kubemu.cluster.controllers.events import NORMAL, WARNING, EventRecorder
from tests import vtime
from tests.kube import api, eventually


def test_events_are_written_and_repeats_counted() -> None:
    async def main() -> None:
        async with api() as kube:
            pod = await kube.client.create({"apiVersion": "v1", "kind": "Pod",
                                            "metadata": {"name": "p", "namespace": "default"},
                                            "spec": {"containers": [{"name": "c",
                                                                     "image": "nginx"}]}})
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u"}}
            rec = EventRecorder(kube.client, kube.timing, component="kubelet", host="n1")
            task = asyncio.create_task(rec.run())
            rec.record(pod, WARNING, "BackOff", "Back-off restarting failed container")
            rec.record(pod, WARNING, "BackOff", "Back-off restarting failed container")
            rec.record(node, NORMAL, "Starting", "Starting kubelet.")

            async def listed() -> list[dict]:
                items = (await kube.client.list("v1", "Event", namespace="default"))["items"]
                return items if len(items) == 2 and any(e["count"] == 2 for e in items) else []

            items = await eventually(listed, what="two events, one counted twice")
            by_reason = {e["reason"]: e for e in items}
            assert by_reason["BackOff"]["involvedObject"]["name"] == "p"
            assert by_reason["BackOff"]["type"] == "Warning"
            assert by_reason["Starting"]["involvedObject"]["kind"] == "Node"
            assert by_reason["Starting"]["source"] == {"component": "kubelet", "host": "n1"}
            selected = await kube.client.list(
                "v1", "Event", namespace="default",
                field_selector="involvedObject.name=p,involvedObject.kind=Pod")
            assert [e["reason"] for e in selected["items"]] == ["BackOff"]
            task.cancel()

    vtime.run(main)


def test_a_component_view_signs_events_with_its_own_source() -> None:
    async def main() -> None:
        async with api() as kube:
            cm = await kube.client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                           "metadata": {"name": "c", "namespace": "default"}})
            rec = EventRecorder(kube.client, kube.timing, component="controller-manager")
            task = asyncio.create_task(rec.run())
            rec.for_component("deployment-controller").record(cm, NORMAL, "Seen", "seen")
            rec.for_component("replicaset-controller").record(cm, NORMAL, "Seen", "seen")

            async def sources() -> list[str]:
                items = (await kube.client.list("v1", "Event", namespace="default"))["items"]
                return sorted(e["source"]["component"] for e in items)

            got = await eventually(lambda: _two(sources()), what="two events")
            assert got == ["deployment-controller", "replicaset-controller"]
            task.cancel()

    vtime.run(main)


async def _two(pending) -> list[str] | None:
    got = await pending
    return got if len(got) == 2 else None
