"""Kubelet with real pod workers: grace periods, Events with fieldPath, logs, re-adoption."""

from __future__ import annotations

import asyncio

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.node.config import NodeConfig
from tests import vtime
from tests.kube import api, eventually
from tests.unit.node.kubelet_fixtures import kubelet_running, pod

CIDR = "10.244.1.0/24"


def test_sleeping_shell_holds_deletion_for_its_grace_period() -> None:
    async def main() -> None:
        async with api() as kube, kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)):
            await kube.client.create(pod("sleeper", grace=30,
                                         command=["sh", "-c", "sleep 3600"]))
            await eventually(lambda: _is(kube, "sleeper", "Running"), what="Running")
            await kube.client.delete("v1", "Pod", "sleeper", namespace="default")
            await asyncio.sleep(20)
            assert await _phase(kube, "sleeper") is not None  # SIGTERM ignored: still there
            await eventually(lambda: _is(kube, "sleeper", None), timeout=15,
                             what="deleted after the grace period")

    vtime.run(main)


def test_container_events_carry_the_field_path_and_logs_are_served() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)) as kubelet:
                await kube.client.create(pod("hello", command=["sh", "-c",
                                                               "echo hello; sleep 3600"]))
                await eventually(lambda: _is(kube, "hello", "Running"), what="Running")
                await eventually(lambda: "hello" in "\n".join(
                    kubelet.logs("default", "hello", "c")), what="log line")

                async def started() -> list:
                    items = (await kube.client.list(
                        "v1", "Event", namespace="default",
                        field_selector="involvedObject.name=hello"))["items"]
                    return [e for e in items if e["reason"] == "Started"]

                [event] = await eventually(started, what="Started event")
            assert event["involvedObject"]["fieldPath"] == "spec.containers{c}"
            assert event["source"]["component"] == "kubelet"
            assert event["source"]["host"] == "n1"

    vtime.run(main)


def test_logs_of_a_pod_on_another_node_raise_lookup_error() -> None:
    async def main() -> None:
        async with api() as kube, kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)) as k:
            try:
                k.logs("default", "nope", "c")
            except LookupError as err:
                assert "nope" in str(err)
            else:
                raise AssertionError("expected LookupError")

    vtime.run(main)


def test_restarted_kubelet_keeps_running_pods_and_their_ips() -> None:
    async def main() -> None:
        async with api() as kube:
            cfg = NodeConfig("n1", pod_cidr=CIDR)
            async with kubelet_running(kube, cfg):
                await kube.client.create(pod("a"))
                await kube.client.create(pod("b"))
                await eventually(lambda: _is(kube, "b", "Running"), what="Running")
                before = {n: await _ip(kube, n) for n in ("a", "b")}
            async with kubelet_running(kube, cfg, seed=2) as again:
                await eventually(lambda: len(again.pods) == 2, what="pods adopted")
                await kube.client.create(pod("c"))
                await eventually(lambda: _is(kube, "c", "Running"), what="new pod Running")
                after = {n: await _ip(kube, n) for n in ("a", "b", "c")}
            assert {n: after[n] for n in ("a", "b")} == before
            assert after["c"] not in before.values()
            assert await _phase(kube, "a") == "Running"

    vtime.run(main)


async def _phase(kube, name: str) -> str | None:
    try:
        current = await kube.client.get("v1", "Pod", name, namespace="default")
    except NotFound:
        return None
    return (current.get("status") or {}).get("phase", "")


async def _is(kube, name: str, phase: str | None) -> bool:
    return await _phase(kube, name) == phase


async def _ip(kube, name: str) -> str:
    current = await kube.client.get("v1", "Pod", name, namespace="default")
    return current["status"].get("podIP", "")
