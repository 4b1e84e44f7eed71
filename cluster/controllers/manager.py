"""ControllerManager: kube-controller-manager -- every controller in one process, sharing.

It builds one `InformerFactory` (one cache and one watch per resource for all controllers),
one `EventRecorder`, and the controllers named in `controllers` (upstream's controller names;
all by default), runs each as a task, then starts the factory. `stop()` stops the
controllers, then the informers, then flushes pending Events. A controller whose `run()`
raises is logged and restarted after a pause, so one bug never takes the others down.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.cronjob import CronJobController
from kubemu.cluster.controllers.daemonset import DaemonSetController
from kubemu.cluster.controllers.deployment import DeploymentController
from kubemu.cluster.controllers.disruption import DisruptionController
from kubemu.cluster.controllers.endpoints import EndpointsController
from kubemu.cluster.controllers.endpointslice import EndpointSliceController
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.garbagecollector import GarbageCollector
from kubemu.cluster.controllers.job import JobController
from kubemu.cluster.controllers.loadbalancer import LoadBalancerController
from kubemu.cluster.controllers.namespace import NamespaceController
from kubemu.cluster.controllers.nodeipam import DEFAULT_CLUSTER_CIDR, NodeIpamController
from kubemu.cluster.controllers.nodelifecycle import NodeLifecycleController
from kubemu.cluster.controllers.podgc import PodGCController
from kubemu.cluster.controllers.replicaset import ReplicaSetController
from kubemu.cluster.controllers.serviceaccount import ServiceAccountController
from kubemu.cluster.controllers.statefulset import StatefulSetController
from kubemu.cluster.controllers.tainteviction import TaintEvictionController
from kubemu.cluster.controllers.ttlafterfinished import TTLAfterFinishedController
from kubemu.cluster.timing import Timing

__all__ = ["ControllerManager", "CONTROLLERS"]

log = logging.getLogger("kubemu.controller-manager")

_RESTART_PAUSE = 1.0

Builder = Callable[[Any, Timing, InformerFactory, EventRecorder, dict], Any]

CONTROLLERS: dict[str, Builder] = {
    "replicaset": lambda c, t, f, r, o: ReplicaSetController(c, t, factory=f, recorder=r),
    "deployment": lambda c, t, f, r, o: DeploymentController(c, t, factory=f, recorder=r),
    "statefulset": lambda c, t, f, r, o: StatefulSetController(c, t, factory=f, recorder=r),
    "daemonset": lambda c, t, f, r, o: DaemonSetController(c, t, factory=f, recorder=r),
    "job": lambda c, t, f, r, o: JobController(c, t, factory=f, recorder=r),
    "disruption": lambda c, t, f, r, o: DisruptionController(c, t, factory=f, recorder=r),
    "cronjob": lambda c, t, f, r, o: CronJobController(c, t, factory=f, recorder=r),
    "ttl-after-finished": lambda c, t, f, r, o: TTLAfterFinishedController(
        c, t, factory=f, recorder=r),
    "garbagecollector": lambda c, t, f, r, o: GarbageCollector(c, t, factory=f, recorder=r),
    "namespace": lambda c, t, f, r, o: NamespaceController(c, t, factory=f, recorder=r),
    "serviceaccount": lambda c, t, f, r, o: ServiceAccountController(
        c, t, factory=f, recorder=r, ca_cert=o.get("ca_cert")),
    "nodelifecycle": lambda c, t, f, r, o: NodeLifecycleController(c, t, factory=f,
                                                                   recorder=r),
    "taint-eviction-controller": lambda c, t, f, r, o: TaintEvictionController(
        c, t, factory=f, recorder=r),
    "nodeipam": lambda c, t, f, r, o: NodeIpamController(
        c, t, factory=f, recorder=r, cluster_cidr=o["cluster_cidr"]),
    "podgc": lambda c, t, f, r, o: PodGCController(c, t, factory=f, recorder=r),
    "service-lb-controller": lambda c, t, f, r, o: LoadBalancerController(
        c, t, factory=f, recorder=r),
    "endpointslice": lambda c, t, f, r, o: EndpointSliceController(c, t, factory=f,
                                                                   recorder=r),
    "endpoint": lambda c, t, f, r, o: EndpointsController(c, t, factory=f, recorder=r),
}


# The source component each controller signs its Events with, as upstream.
EVENT_SOURCES = {
    "replicaset": "replicaset-controller", "deployment": "deployment-controller",
    "statefulset": "statefulset-controller", "daemonset": "daemonset-controller",
    "job": "job-controller", "cronjob": "cronjob-controller", "disruption": "controllermanager",
    "ttl-after-finished": "ttl-after-finished-controller",
    "garbagecollector": "garbage-collector-controller",
    "namespace": "namespace-controller", "serviceaccount": "service-account-controller",
    "nodelifecycle": "node-controller", "taint-eviction-controller": "taint-eviction-controller",
    "nodeipam": "cidrAllocator", "podgc": "pod-garbage-collector",
    "service-lb-controller": "service-lb-controller",
    "endpointslice": "endpoint-slice-controller", "endpoint": "endpoint-controller",
}


class ControllerManager:
    def __init__(self, client: Any, timing: Timing, *, controllers: list[str] | None = None,
                 ca_cert: str | None = None, rng: random.Random | None = None,
                 cluster_cidr: str = DEFAULT_CLUSTER_CIDR) -> None:
        names = list(CONTROLLERS) if controllers is None else controllers
        unknown = [n for n in names if n not in CONTROLLERS]
        if unknown:
            raise ValueError(f"unknown controllers: {', '.join(unknown)} "
                             f"(known: {', '.join(CONTROLLERS)})")
        self.client = client
        self.timing = timing
        self.factory = InformerFactory(client, timing)
        self.recorder = EventRecorder(client, timing, component="controller-manager")
        options = {"ca_cert": ca_cert, "cluster_cidr": cluster_cidr}
        self.controllers = {name: CONTROLLERS[name](
            client, timing, self.factory, self.recorder.for_component(EVENT_SOURCES[name]),
            options) for name in names}
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    async def run(self) -> None:
        """Run every controller until `stop()`."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._keep_running(name, ctl), name=f"kcm {name}")
                       for name, ctl in self.controllers.items()]
        self._tasks.append(loop.create_task(self.recorder.run(), name="kcm events"))
        self.factory.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        self._stopping = True
        await asyncio.gather(*(ctl.stop() for ctl in self.controllers.values()),
                             return_exceptions=True)
        await self.factory.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.recorder.flush()

    async def _keep_running(self, name: str, controller: Any) -> None:
        while not self._stopping:
            try:
                await controller.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("controller %s crashed; restarting", name)
                await self.timing.sleep(_RESTART_PAUSE)
