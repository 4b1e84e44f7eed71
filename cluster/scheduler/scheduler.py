"""Scheduler: the kube-scheduler component -- informers in, Bindings out.

The Pod informer (all pods) and the Node informer feed two structures: unassigned,
non-terminated pods whose `spec.schedulerName` is ours go to the `SchedulingQueue`; assigned
pods and nodes go to the `SchedulerCache`. Every change that could make a parked pod
schedulable becomes a `ClusterEvent` for `move_all_on_event` (node added, node allocatable /
labels / taints / unschedulable changed, assigned pod deleted or terminated, ...).

One loop schedules one pod at a time, as upstream: pop, snapshot the cache, run the
framework's scheduling cycle; on success Reserve, assume the pod in the cache (so the next
cycle already sees the node's room taken) and bind asynchronously: a task POSTs
pods/<name>/binding, then records the Normal "Scheduled" Event, or on failure forgets the
assumed pod, unreserves and requeues it with backoff. A failed cycle is handled off the loop
too: patch the PodScheduled=False condition (reason Unschedulable, or SchedulerError for an
error; only when it changed), record the Warning "FailedScheduling" Event, then park the pod
(`add_unschedulable`) or back it off. The pod stays in flight in the queue until its binding
or failure handling ends, so events arriving meanwhile are not lost. At most
`max_concurrent_api_calls` such tasks run at once; the loop waits for a slot (backpressure).

Profiles: `profiles=[Profile, ...]` runs one Framework per profile; a pod goes to the
profile its `spec.schedulerName` names, and pods naming no profile of ours are left alone
(another scheduler owns them). The first profile's Framework is `self.framework`.

Preemption: a failed cycle's PostFilter result (DefaultPreemption) nominates a node at once
in the `Nominator` (so the next cycles count the room as taken), then the failure task
patches the pod's nominatedNodeName with its condition, evicts the victims (DisruptionTarget
condition, delete, Event Preempted) and clears lower-priority nominations on that node
(`podstatus`). The victims' deletions move the pod back to be tried on its nominated node
first. Plugins' other listers (PodDisruptionBudgets for preemption, Services and
ReplicaSets for default topology spreading, Namespaces) come from `listers.py`.

Latency is measured against the clock from the moment the scheduler first saw the pod (its
informer ADDED) to the binding's acknowledgement. `run()` never dies on an API error.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import NORMAL, WARNING, EventRecorder
from kubemu.cluster.scheduler.cache import SchedulerCache, assigned_node, terminated
from kubemu.cluster.scheduler.events import (
    ADD,
    DELETE,
    NODE,
    POD,
    ClusterEvent,
    node_update_actions,
    pod_update_actions,
)
from kubemu.cluster.scheduler.framework import (
    CycleState,
    Framework,
    PostFilterResult,
    Profile,
    default_profile,
)
from kubemu.cluster.scheduler.listers import wire_plugin_listers
from kubemu.cluster.scheduler.nodeinfo import pod_key
from kubemu.cluster.scheduler.nominator import Nominator
from kubemu.cluster.scheduler.podstatus import (
    clear_nomination,
    evict_victims,
    set_unschedulable,
)
from kubemu.cluster.scheduler.queue import QueuedPodInfo, SchedulingQueue
from kubemu.cluster.timing import Timing

__all__ = ["DEFAULT_SCHEDULER_NAME", "Scheduler", "SchedulerStats"]

DEFAULT_SCHEDULER_NAME = "default-scheduler"
_CLEANUP_PERIOD = 1.0   # how often assumed pods are checked for expiry (upstream: 1 s)

log = logging.getLogger("kubemu.scheduler")


@dataclass
class SchedulerStats:
    scheduled: int = 0          # bindings acknowledged
    attempts: int = 0           # scheduling cycles run
    failures: int = 0           # cycles that found no node (or failed with an error)
    bind_failures: int = 0
    preemptions: int = 0        # preemption decisions (a node nominated, victims chosen)
    victims: int = 0            # pods deleted by preemption
    latencies: list[float] = field(default_factory=list)  # first seen -> bind ack, seconds


class Scheduler:
    def __init__(self, client: object, timing: Timing, *,
                 factory: InformerFactory | None = None, recorder: EventRecorder | None = None,
                 rng: random.Random | None = None, profile: Profile | None = None,
                 profiles: list[Profile] | None = None,
                 scheduler_name: str = DEFAULT_SCHEDULER_NAME,
                 max_concurrent_api_calls: int = 64) -> None:
        """`profiles` (or one `profile`) default to the default plugins under
        `scheduler_name`; each profile brings its own scheduler name."""
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        profiles = list(profiles or [profile or default_profile(scheduler_name=scheduler_name)])
        names = [p.scheduler_name for p in profiles]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate profile scheduler names: {names}")
        self.profile = profiles[0]
        self.scheduler_name = self.profile.scheduler_name
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=self.scheduler_name)
        rng = rng or random.Random(0)
        self.frameworks = {p.scheduler_name: Framework(p, rng=rng) for p in profiles}
        self.framework = self.frameworks[self.scheduler_name]
        base = getattr(self.recorder, "recorder", self.recorder)   # under a ComponentRecorder
        self._recorders = {name: self.recorder if name == self.scheduler_name
                           else base.for_component(name) for name in self.frameworks}
        events: dict[str, list[ClusterEvent]] = {}
        for framework in self.frameworks.values():
            for plugin, registered in framework.events_by_plugin.items():
                known = events.setdefault(plugin, [])
                known.extend(e for e in registered if e not in known)
        self.queue = SchedulingQueue(events_by_plugin=events)
        self.nominator = Nominator()
        self.cache = SchedulerCache()
        self.stats = SchedulerStats()
        self._first_seen: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(max_concurrent_api_calls)
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._next_cleanup = 0.0

    async def run(self) -> None:
        """Schedule pods until `stop()` or cancellation."""
        pods = self.factory.informer("v1", "Pod")
        nodes = self.factory.informer("v1", "Node")
        synced = [nodes.wait_synced(), pods.wait_synced()]
        synced += wire_plugin_listers(self.factory, [
            p for fw in self.frameworks.values() for p in fw.profile.plugins])
        regs = [(nodes, nodes.add_handler(self._node_added, self._node_updated,
                                          self._node_deleted)),
                (pods, pods.add_handler(self._pod_added, self._pod_updated,
                                        self._pod_deleted))]
        recorder = (asyncio.create_task(self.recorder.run(), name="scheduler events")
                    if self._own_recorder else None)
        if self._own_factory:
            self.factory.start()
        try:
            if await self._until_stopped(asyncio.gather(*synced)):
                while not self._stopped.is_set():
                    await self._step()
        finally:
            for informer, reg in regs:
                informer.remove_handler(reg)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._own_factory:
                await self.factory.stop()
            if recorder is not None:
                await self.recorder.flush()
                recorder.cancel()
                await asyncio.gather(recorder, return_exceptions=True)

    async def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    # -- the scheduling loop -----------------------------------------------------------------

    async def _step(self) -> None:
        now = self.timing.clock.now()
        if now >= self._next_cleanup:
            self.cache.cleanup_expired(now)
            self._next_cleanup = now + _CLEANUP_PERIOD
        info = self.queue.pop(now)
        if info is None:
            await self._idle(now)
            return
        await self._slots.acquire()  # backpressure: wait for a free binding/failure slot
        try:
            self._schedule_one(info, now)
        except Exception:
            log.exception("scheduling %s failed", info.key)
            self._spawn(info, self._fail(info, None, "SchedulerError", "internal error"))
        await asyncio.sleep(0)  # let informer events and bindings through between cycles

    def _schedule_one(self, info: QueuedPodInfo, now: float) -> None:
        pod = info.pod
        if (pod.get("metadata") or {}).get("deletionTimestamp") or self.cache.has_pod(pod):
            self.queue.done(info.uid)
            self._slots.release()
            return
        self.stats.attempts += 1
        framework = self.frameworks[_scheduler_name(pod)]
        result = framework.schedule(pod, self.cache.snapshot(), nominator=self.nominator)
        node = result.node_name
        if node is None:
            reason = "Unschedulable" if result.status.rejected else "SchedulerError"
            rejectors = result.rejector_plugins if result.status.rejected else None
            post = result.post_filter
            if post is not None:
                self.nominator.add(pod, post.nominated_node)   # "" clears
                for other in post.lower_nominated:
                    self.nominator.delete(other)
                if post.nominated_node:
                    self.stats.preemptions += 1
            self._spawn(info, self._fail(info, rejectors, reason, result.message, post))
            return
        status = framework.reserve(result.state, pod, node)
        if not status.ok:
            framework.unreserve(result.state, pod, node)
            self._spawn(info, self._fail(info, {status.plugin} if status.rejected else None,
                                   "Unschedulable" if status.rejected else "SchedulerError",
                                   status.message))
            return
        self.nominator.delete(pod)
        assumed = self.cache.assume(pod, node)
        self._spawn(info, self._bind(info, assumed, node, result.state, framework))

    async def _idle(self, now: float) -> None:
        """Sleep until the queue changes, a backoff or timeout is due, or assumed pods need
        their expiry check."""
        self._wake.clear()
        due = self.queue.next_ready_time()
        if self.cache.assumed_count:
            due = min(due, self._next_cleanup) if due is not None else self._next_cleanup
        waits = [asyncio.ensure_future(self._wake.wait())]
        if due is not None:
            waits.append(asyncio.ensure_future(self.timing.sleep(max(0.0, due - now))))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    # -- binding and failure handling (tasks; each holds one slot) ---------------------------

    async def _bind(self, info: QueuedPodInfo, assumed: dict, node: str,
                    state: CycleState, framework: Framework) -> None:
        meta = assumed["metadata"]
        ns, name = meta.get("namespace", "default"), meta["name"]
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": name, "namespace": ns},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.client.create(binding, namespace=ns, subresource="binding")
        except Exception as err:  # noqa: BLE001 - API or connection: the pod goes back
            now = self.timing.clock.now()
            self.cache.forget(assumed)
            framework.unreserve(state, info.pod, node)
            self.stats.bind_failures += 1
            if not isinstance(err, ApiError):
                log.warning("binding %s/%s to %s failed: %r", ns, name, node, err)
            if not isinstance(err, NotFound):
                self._recorder(info.pod).record(info.pod, WARNING, "FailedScheduling",
                                     f"Binding rejected: {_text(err)}")
            self.queue.requeue_backoff(info, now)
            self.queue.move_all_on_event(ClusterEvent(POD, DELETE), now)  # its room is free
            self._wake.set()
            return
        now = self.timing.clock.now()
        self.cache.finish_binding(assumed, now)
        self.stats.scheduled += 1
        seen = self._first_seen.pop(info.uid, None)
        if seen is not None:
            self.stats.latencies.append(now - seen)
        self._recorder(info.pod).record(info.pod, NORMAL, "Scheduled",
                             f"Successfully assigned {ns}/{name} to {node}")

    async def _fail(self, info: QueuedPodInfo, rejectors: set[str] | None, reason: str,
                    message: str, post: PostFilterResult | None = None) -> None:
        """Tell the pod why (condition and Event, with its nominated node), carry out a
        preemption, then park the pod or back it off."""
        self.stats.failures += 1
        pod = info.pod
        self._recorder(pod).record(pod, WARNING, "FailedScheduling", message)
        nominated = None if post is None else post.nominated_node
        try:
            await set_unschedulable(self.client, pod, reason, message, wall=self.timing.wall(),
                                    nominated_node=nominated)
        except ApiError as err:
            log.debug("PodScheduled condition of %s not updated: %s", info.key, err)
        except Exception as err:  # noqa: BLE001 - a lost condition is retried next time
            log.warning("PodScheduled condition of %s not updated: %r", info.key, err)
        if post is not None and post.nominated_node:
            try:
                self.stats.victims += await evict_victims(
                    self.client, self._recorder(pod), pod, post.nominated_node, post.victims,
                    wall=self.timing.wall())
                for other in post.lower_nominated:
                    await clear_nomination(self.client, other)
            except Exception as err:  # noqa: BLE001 - the next cycle preempts again
                log.warning("preemption for %s failed: %r", info.key, err)
        now = self.timing.clock.now()
        if rejectors is None:
            self.queue.requeue_backoff(info, now)
        else:
            self.queue.add_unschedulable(info, rejectors, now)
        self._wake.set()

    def _spawn(self, info: QueuedPodInfo, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` for an in-flight pod; its end frees the slot and the pod's flight."""
        task = asyncio.get_running_loop().create_task(work, name=f"scheduler {info.key}")
        self._tasks.add(task)

        def finished(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            self._slots.release()
            self.queue.done(info.uid)
            self._wake.set()
            if not t.cancelled() and t.exception() is not None:
                log.error("scheduler task for %s failed", info.key, exc_info=t.exception())

        task.add_done_callback(finished)

    # -- informer handlers -------------------------------------------------------------------

    def _pod_added(self, pod: dict) -> None:
        now = self.timing.clock.now()
        if assigned_node(pod):
            self.queue.delete(pod)
            self.nominator.delete(pod)
            self._first_seen.pop(pod_key(pod), None)
            if not terminated(pod):
                self.cache.add_pod(pod)
                self._event(ClusterEvent(POD, ADD), now)
        elif self._responsible(pod):
            self._first_seen.setdefault(pod_key(pod), now)
            self.nominator.add(pod)
            self.queue.add(pod, now)
            self._wake.set()

    def _pod_updated(self, old: dict, new: dict) -> None:
        now = self.timing.clock.now()
        if not assigned_node(new):
            if self._responsible(new):
                self._first_seen.setdefault(pod_key(new), now)
                self.nominator.update(old, new)
                self.queue.update(old, new, now)
                self._wake.set()
            else:
                self.nominator.delete(new)
                self.queue.delete(new)
            return
        self.nominator.delete(new)
        if not self.queue.in_flight(pod_key(new)):
            self._first_seen.pop(pod_key(new), None)  # bound by someone else
        self.queue.delete(new)
        if terminated(new):
            if self.cache.has_pod(new):
                self.cache.remove_pod(new)
                self._event(ClusterEvent(POD, DELETE), now)
            return
        newly_bound = not assigned_node(old) or not self.cache.has_pod(new)
        self.cache.update_pod(old, new)
        actions = [ADD] if newly_bound else pod_update_actions(old, new)
        for action in actions:
            self._event(ClusterEvent(POD, action), now)

    def _pod_deleted(self, pod: dict) -> None:
        self._first_seen.pop(pod_key(pod), None)
        self.nominator.delete(pod)
        self.queue.delete(pod)
        if self.cache.has_pod(pod):
            self.cache.remove_pod(pod)
            self._event(ClusterEvent(POD, DELETE), self.timing.clock.now())

    def _node_added(self, node: dict) -> None:
        self.cache.add_node(node)
        self._event(ClusterEvent(NODE, ADD), self.timing.clock.now())

    def _node_updated(self, old: dict, new: dict) -> None:
        self.cache.update_node(old, new)
        now = self.timing.clock.now()
        for action in node_update_actions(old, new):
            self._event(ClusterEvent(NODE, action), now)

    def _node_deleted(self, node: dict) -> None:
        self.cache.remove_node(node)

    def _event(self, event: ClusterEvent, now: float) -> None:
        if self.queue.move_all_on_event(event, now):
            self._wake.set()

    def _recorder(self, pod: dict) -> Any:
        """Events about a pod are signed by its profile's scheduler name, as upstream."""
        return self._recorders.get(_scheduler_name(pod), self.recorder)

    def _responsible(self, pod: dict) -> bool:
        return not terminated(pod) and _scheduler_name(pod) in self.frameworks

    async def _until_stopped(self, work: Awaitable[Any]) -> bool:
        """Await `work` unless `stop()` comes first; True when it finished."""
        job = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({job, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not job.done():
                job.cancel()
        return job.done() and not job.cancelled()


def _scheduler_name(pod: dict) -> str:
    return (pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME


def _text(err: BaseException) -> str:
    return str(err) or type(err).__name__
