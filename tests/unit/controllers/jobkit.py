"""Playing the kubelet in Job and CronJob controller tests.

`running(kube, ...)` runs the named controllers (JobController, CronJobController,
TTLAfterFinishedController) on one shared InformerFactory and EventRecorder. No kubelet runs:
`finish(kube, pod, phase, exit_code=)` writes a pod's terminal status as a kubelet would, and
`run_pod` marks one Running and Ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder

from tests.kube import Kube

NS = "default"


def job(name: str = "pi", *, completions: int | None = 1, parallelism: int = 1,
        restart: str = "Never", **spec: Any) -> dict:
    body: dict = {"parallelism": parallelism,
                  "template": {"spec": {"restartPolicy": restart,
                                        "containers": [{"name": "main", "image": "busybox"}]}},
                  **spec}
    if completions is not None:
        body["completions"] = completions
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS}, "spec": body}


@asynccontextmanager
async def running(kube: Kube, *builders: Any) -> AsyncIterator[list[Any]]:
    """Run one controller per builder `(client, timing, factory=, recorder=)`."""
    factory = InformerFactory(kube.client, kube.timing)
    recorder = EventRecorder(kube.client, kube.timing, component="test")
    ctls = [b(kube.client, kube.timing, factory=factory, recorder=recorder) for b in builders]
    tasks = [asyncio.create_task(c.run()) for c in ctls]
    tasks.append(asyncio.create_task(recorder.run()))
    factory.start()
    try:
        yield ctls
    finally:
        for c in ctls:
            await c.stop()
        await factory.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def pods_of(kube: Kube, job_name: str, *, active_only: bool = False) -> list[dict]:
    items = (await kube.client.list(
        "v1", "Pod", namespace=NS,
        label_selector=f"batch.kubernetes.io/job-name={job_name}"))["items"]
    if active_only:
        items = [p for p in items if not p["metadata"].get("deletionTimestamp")
                 and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
    return sorted(items, key=lambda p: p["metadata"]["name"])


async def finish(kube: Kube, pod: dict, phase: str, *, exit_code: int | None = None) -> None:
    code = exit_code if exit_code is not None else (0 if phase == "Succeeded" else 1)
    status = {"phase": phase, "containerStatuses": [{
        "name": "main", "image": "busybox", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0
                                 else "Error"}}}]}
    await kube.client.patch("v1", "Pod", pod["metadata"]["name"], {"status": status},
                            namespace=NS, subresource="status")


async def run_pod(kube: Kube, pod: dict) -> None:
    status = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(kube.timing.wall())}]}
    await kube.client.patch("v1", "Pod", pod["metadata"]["name"], {"status": status},
                            namespace=NS, subresource="status")


async def get_job(kube: Kube, name: str) -> dict:
    return await kube.client.get("batch/v1", "Job", name, namespace=NS)


def condition(obj: dict, type_: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond["type"] == type_ and cond["status"] == "True":
            return cond
    return None


async def events(kube: Kube, reason: str) -> list[dict]:
    items = (await kube.client.list("v1", "Event", namespace=NS))["items"]
    return [e for e in items if e["reason"] == reason]
