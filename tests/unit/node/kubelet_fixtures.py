"""Helpers for kubelet component tests: run a Kubelet against the in-process API server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.kubelet import Kubelet
from tests.kube import Kube


@asynccontextmanager
async def kubelet_running(kube: Kube, config: NodeConfig, *, seed: int = 1,
                          **options: Any) -> AsyncIterator[Kubelet]:
    """A running Kubelet; stopped (as a dead node: nothing written) on exit."""
    kubelet = Kubelet(kube.client, kube.timing, config, rng=random.Random(seed), **options)
    task = asyncio.create_task(kubelet.run())
    try:
        yield kubelet
    finally:
        await kubelet.stop()
        await asyncio.wait_for(task, 5)
        await kubelet.recorder.flush()


def pod(name: str, *, node: str = "n1", cpu: str | None = None, memory: str | None = None,
        annotations: dict | None = None, command: list[str] | None = None,
        priority: int | None = None, grace: int | None = None) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container: dict = {"name": "c", "image": "nginx"}
    if requests:
        container["resources"] = {"requests": requests}
    if command:
        container["command"] = command
    spec: dict = {"nodeName": node, "containers": [container]}
    if priority is not None:
        spec["priority"] = priority
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         **({"annotations": annotations} if annotations else {})},
            "spec": spec}
