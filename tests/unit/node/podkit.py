"""Helpers for pod worker tests: pods as the API server stores them, and a stepping driver."""

from __future__ import annotations

import random

from kubemu.cluster.node.actions import Action, Event
from kubemu.cluster.node.pod_worker import PodWorker

EPOCH = 1_800_000_000.0
POD_IP = "10.244.1.5"
HOST_IP = "127.1.0.1"


def server(name: str = "web", image: str = "nginx", port: int = 80, **fields) -> dict:
    return {"name": name, "image": image, "ports": [{"containerPort": port,
                                                     "protocol": "TCP"}], **fields}


def script(name: str, text: str, image: str = "busybox", **fields) -> dict:
    return {"name": name, "image": image, "command": ["sh", "-c", text], **fields}


def make_pod(*containers: dict, init: tuple[dict, ...] = (), policy: str = "Always",
             grace: int = 30, annotations: dict | None = None, **spec) -> dict:
    pod_spec = {"containers": list(containers), "restartPolicy": policy,
                "terminationGracePeriodSeconds": grace, "nodeName": "node-1", **spec}
    if init:
        pod_spec["initContainers"] = list(init)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1",
                         "annotations": annotations or {}},
            "spec": pod_spec,
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": "2027-01-15T07:59:59Z"}]}}


def worker(pod: dict, *, now: float = 0.0, create_delay: float = 0.1) -> PodWorker:
    return PodWorker(pod, node_name="node-1", pod_ip=POD_IP, host_ip=HOST_IP, now=now,
                     wall_of=lambda t: EPOCH + t, rng=random.Random(1),
                     create_delay=create_delay)


def run_until(w: PodWorker, until: float) -> list[tuple[float, Action]]:
    """Step at every wakeup up to `until`; (step time, action) pairs."""
    out: list[tuple[float, Action]] = []
    while (t := w.next_wakeup()) is not None and t <= until:
        out.extend((t, a) for a in w.step(t))
    out.extend((until, a) for a in w.step(until))
    return out


def reasons(actions: list[tuple[float, Action]]) -> list[str]:
    return [a.reason for _, a in actions if isinstance(a, Event)]


def times_of(actions: list[tuple[float, Action]], reason: str) -> list[float]:
    return [round(t, 3) for t, a in actions if isinstance(a, Event) and a.reason == reason]


def container(w: PodWorker, name: str) -> dict:
    status = w.status()
    for s in status.get("initContainerStatuses", []) + status["containerStatuses"]:
        if s["name"] == name:
            return s
    raise KeyError(name)


def state(w: PodWorker, name: str) -> str:
    """"running", "terminated:<reason>" or "waiting:<reason>" of a container."""
    st = container(w, name)["state"]
    kind = next(iter(st))
    return kind if kind == "running" else f"{kind}:{st[kind].get('reason', '')}"


def condition(w: PodWorker, kind: str) -> dict:
    return next(c for c in w.status()["conditions"] if c["type"] == kind)


def deleted(pod: dict, grace: int | None = 30) -> dict:
    md = {**pod["metadata"], "deletionTimestamp": "2027-01-15T08:00:10Z"}
    if grace is not None:
        md["deletionGracePeriodSeconds"] = grace
    return {**pod, "metadata": md}
