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
