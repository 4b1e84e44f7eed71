"""SchedulingQueue: kube-scheduler's PriorityQueue, sans-I/O (every method takes `now`).

Three parts, as upstream:
- activeQ: pods ready to be tried, popped by higher `spec.priority`, then earlier enqueue time.
- backoffQ: pods waiting out a per-pod backoff (1 s doubled per attempt, capped at 10 s),
  ordered by when their backoff expires.
- unschedulablePods: pods the last attempt found unschedulable. They move back (to backoffQ
  if still backing off, else activeQ) when a cluster event arrives that one of the plugins
  which rejected them registered for (`ClusterEvent`s, upstream EventsToRegister), and anyway
  after `max_in_unschedulable` (podMaxInUnschedulablePodsDuration, 5 minutes).
Pods with `spec.schedulingGates` wait in a separate gated set and never reach activeQ until
an update removes their gates.

In-flight pods: `pop` hands a pod out and remembers it until `done(uid)`. Cluster events that
arrive meanwhile are recorded; when the attempt ends in `add_unschedulable`, a recorded event
relevant to the rejecting plugins (or an update of the pod itself) sends the pod to
backoffQ/activeQ instead of unschedulablePods, so no event is lost while a pod is being
scheduled. An in-flight pod that is deleted is dropped when its attempt ends.

The queue is keyed by pod UID. Heaps use lazy deletion: an entry is live only while its token
matches the pod's current one. `flush(now)` moves due pods (also done by `pop`);
`next_ready_time()` tells a driver when to flush next.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubemu.cluster.scheduler.events import ClusterEvent
from kubemu.cluster.scheduler.nodeinfo import pod_key

__all__ = ["ACTIVE", "BACKOFF", "GATED", "INITIAL_BACKOFF", "MAX_BACKOFF", "MAX_IN_UNSCHEDULABLE",
           "UNSCHEDULABLE", "QueuedPodInfo", "SchedulingQueue"]

INITIAL_BACKOFF = 1.0          # podInitialBackoffSeconds
MAX_BACKOFF = 10.0             # podMaxBackoffSeconds
MAX_IN_UNSCHEDULABLE = 300.0   # podMaxInUnschedulablePodsDuration

ACTIVE, BACKOFF, UNSCHEDULABLE, GATED = "active", "backoff", "unschedulable", "gated"


@dataclass(eq=False)
class QueuedPodInfo:
    """A pod in the queue with its scheduling history (upstream QueuedPodInfo)."""

    pod: dict
    uid: str
    timestamp: float                      # when it last entered a queue
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    where: str = ""                       # ACTIVE, BACKOFF, UNSCHEDULABLE, GATED or "" (popped)
    token: int = 0                        # live heap entries carry the current token

    @property
    def priority(self) -> int:
        return int((self.pod.get("spec") or {}).get("priority") or 0)

    @property
    def key(self) -> str:
        meta = self.pod.get("metadata") or {}
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


@dataclass
class _InFlight:
    info: QueuedPodInfo
    since: int                # event sequence number at pop
    updated: bool = False     # the pod itself changed while being scheduled
    deleted: bool = False


class SchedulingQueue:
    def __init__(self, *, events_by_plugin: Mapping[str, Iterable[ClusterEvent]] | None = None,
                 initial_backoff: float = INITIAL_BACKOFF, max_backoff: float = MAX_BACKOFF,
                 max_in_unschedulable: float = MAX_IN_UNSCHEDULABLE) -> None:
        self._events_by_plugin = {p: list(evs) for p, evs in (events_by_plugin or {}).items()}
        self._interested: dict[tuple[str, str], frozenset[str]] = {}
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.max_in_unschedulable = max_in_unschedulable
        self._pods: dict[str, QueuedPodInfo] = {}          # every queued (not popped) pod
        self._active: list[tuple[int, float, int, str, int]] = []
        self._backoff: list[tuple[float, int, str, int]] = []
        self._leftover: list[tuple[float, int, str, int]] = []  # by when they leave anyway
        self._counts = {ACTIVE: 0, BACKOFF: 0, UNSCHEDULABLE: 0, GATED: 0}
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, _InFlight] = {}
        self._events: deque[tuple[int, ClusterEvent]] = deque()
        self._seq = itertools.count()
        self._tokens = itertools.count(1)
        self._event_seq = 0

    # -- informer side -----------------------------------------------------------------------

    def add(self, pod: dict, now: float) -> None:
        """A new unscheduled pod: to activeQ (or gated). A known pod is updated instead."""
        uid = pod_key(pod)
        if uid in self._pods or uid in self._in_flight:
            self.update(None, pod, now)
            return
        info = QueuedPodInfo(pod=pod, uid=uid, timestamp=now)
        self._pods[uid] = info
        self._place(info, GATED if _gated(pod) else ACTIVE)

    def update(self, old: dict | None, new: dict, now: float) -> None:
        """The pod changed: keep the newest object; a meaningful change (spec, labels,
        annotations) of an unschedulable or gated pod sends it back to be tried."""
        uid = pod_key(new)
        info = self._pods.get(uid)
        if info is None:
            flight = self._in_flight.get(uid)
            if flight is None:
                self.add(new, now)
            else:
                flight.updated = flight.updated or old is None or _changed(old, new)
                flight.info.pod = new
            return
        before, info.pod = info.pod, new
        if info.where == GATED:
            if not _gated(new):
                self._move(info, ACTIVE)
        elif _gated(new):
            self._move(info, GATED)
        elif info.where == UNSCHEDULABLE:
            if _changed(old if old is not None else before, new):
                self._move(info, BACKOFF if self._backing_off(info, now) else ACTIVE)
        elif info.where == ACTIVE and info.priority != _priority(before):
            self._move(info, ACTIVE)  # re-push with the new priority

    def delete(self, pod: dict) -> None:
        """The pod is gone (or bound elsewhere): it leaves the queue."""
        uid = pod_key(pod)
        flight = self._in_flight.get(uid)
        if flight is not None:
            flight.deleted = True
        info = self._pods.pop(uid, None)
        if info is not None:
            self._leave(info)

    # -- scheduler side ----------------------------------------------------------------------

    def pop(self, now: float) -> QueuedPodInfo | None:
        """The next pod to schedule (after `flush(now)`), now in flight; None when activeQ is
        empty."""
        self.flush(now)
        while self._active:
            _, _, _, uid, token = heapq.heappop(self._active)
            info = self._pods.get(uid)
            if info is None or info.token != token or info.where != ACTIVE:
                continue
            del self._pods[uid]
            self._leave(info)
            info.attempts += 1
            if info.initial_attempt_timestamp is None:
                info.initial_attempt_timestamp = now
            self._in_flight[uid] = _InFlight(info, self._event_seq)
            return info
        return None

    def add_unschedulable(self, info: QueuedPodInfo, rejectors: Iterable[str],
                          now: float) -> str:
        """The attempt found no node: park the pod in unschedulablePods, unless an event
        during its attempt (or no rejecting plugin) makes a retry worthwhile. Answers where it
        went ("" when the pod was deleted meanwhile)."""
        info.unschedulable_plugins = set(rejectors)
        flight = self._in_flight.get(info.uid)
        if flight is not None and flight.deleted:
            self.done(info.uid)
            return ""
        info.timestamp = now
        retry = not info.unschedulable_plugins or (flight is not None and (
            flight.updated or self._relevant_since(flight.since, info.unschedulable_plugins)))
        where = (BACKOFF if self._backing_off(info, now) else ACTIVE) if retry else UNSCHEDULABLE
        self._requeue(info, where)
        return where

    def requeue_backoff(self, info: QueuedPodInfo, now: float) -> str:
        """The attempt failed with an error (or the bind failed): retry after backoff."""
        flight = self._in_flight.get(info.uid)
        if flight is not None and flight.deleted:
            self.done(info.uid)
            return ""
        info.timestamp = now
        where = BACKOFF if self._backing_off(info, now) else ACTIVE
        self._requeue(info, where)
        return where

    def done(self, uid: str) -> None:
        """The pod's scheduling (and binding) cycle ended: it is no longer in flight."""
        if self._in_flight.pop(uid, None) is None:
            return
        if not self._in_flight:
            self._events.clear()
            return
        oldest = min(f.since for f in self._in_flight.values())
        while self._events and self._events[0][0] <= oldest:
            self._events.popleft()

    def move_all_on_event(self, event: ClusterEvent, now: float) -> int:
        """A cluster event: unschedulable pods rejected by a plugin registered for it move to
        backoffQ/activeQ; in-flight pods remember it. Answers how many pods moved."""
        if self._in_flight:
            self._event_seq += 1
            self._events.append((self._event_seq, event))
        interested = self._interested_in(event) if self._unschedulable else frozenset()
        if not interested:
            return 0
        moved = 0
        for info in list(self._unschedulable.values()):
            if not interested.isdisjoint(info.unschedulable_plugins):
                self._move(info, BACKOFF if self._backing_off(info, now) else ACTIVE)
                moved += 1
        return moved

    def flush(self, now: float) -> None:
        """Pods whose backoff completed go to activeQ; pods unschedulable for longer than
        `max_in_unschedulable` go to backoffQ (if still backing off) or activeQ."""
        while self._leftover and self._leftover[0][0] <= now:
            _, _, uid, token = heapq.heappop(self._leftover)
            info = self._pods.get(uid)
            if info is not None and info.token == token and info.where == UNSCHEDULABLE:
                self._move(info, BACKOFF if self._backing_off(info, now) else ACTIVE)
        while self._backoff and self._backoff[0][0] <= now:
            _, _, uid, token = heapq.heappop(self._backoff)
            info = self._pods.get(uid)
            if info is not None and info.token == token and info.where == BACKOFF:
                self._move(info, ACTIVE)

    def next_ready_time(self) -> float | None:
        """The earliest clock time at which `flush` would move a pod (a backoff expiring or
        the unschedulable timeout); None when nothing is waiting on time. A driver with an
        empty activeQ sleeps until then or until the queue changes."""
        self._drop_stale()
        times = [h[0][0] for h in (self._backoff, self._leftover) if h]
        return min(times) if times else None

    def backoff_duration(self, info: QueuedPodInfo) -> float:
        """initial * 2^(attempts-1), capped at the maximum (0 before any attempt)."""
        if info.attempts <= 0:
            return 0.0
        return min(self.max_backoff,
                   self.initial_backoff * (2 ** min(info.attempts - 1, 62)))

    def backoff_expiry(self, info: QueuedPodInfo) -> float:
        return info.timestamp + self.backoff_duration(info)

    # -- inspection --------------------------------------------------------------------------

    def get(self, uid: str) -> QueuedPodInfo | None:
        """A queued (not in-flight) pod's info."""
        return self._pods.get(uid)

    def where(self, uid: str) -> str:
        """ACTIVE, BACKOFF, UNSCHEDULABLE, GATED, "in-flight" or "" (unknown)."""
        info = self._pods.get(uid)
        if info is not None:
            return info.where
        return "in-flight" if uid in self._in_flight else ""

    def in_flight(self, uid: str) -> bool:
        return uid in self._in_flight

    def pending(self) -> dict[str, int]:
        """Pods per part (upstream metric scheduler_pending_pods by queue)."""
        return dict(self._counts)

    def __len__(self) -> int:
        return len(self._pods)

    # -- internals ---------------------------------------------------------------------------

    def _backing_off(self, info: QueuedPodInfo, now: float) -> bool:
        return self.backoff_expiry(info) > now

    def _requeue(self, info: QueuedPodInfo, where: str) -> None:
        """Put a popped pod back (it stays in flight until `done`)."""
        if info.uid not in self._pods:
            self._pods[info.uid] = info
            self._place(info, GATED if _gated(info.pod) else where)

    def _move(self, info: QueuedPodInfo, where: str) -> None:
        self._leave(info)
        self._place(info, where)

    def _leave(self, info: QueuedPodInfo) -> None:
        self._counts[info.where] -= 1
        if info.where == UNSCHEDULABLE:
            del self._unschedulable[info.uid]
        info.where, info.token = "", 0

    def _place(self, info: QueuedPodInfo, where: str) -> None:
        info.where, info.token = where, next(self._tokens)
        self._counts[where] += 1
        if where == UNSCHEDULABLE:
            self._unschedulable[info.uid] = info
        if where == ACTIVE:
            heapq.heappush(self._active, (-info.priority, info.timestamp, next(self._seq),
                                          info.uid, info.token))
        elif where == BACKOFF:
            heapq.heappush(self._backoff, (self.backoff_expiry(info), next(self._seq),
                                           info.uid, info.token))
        elif where == UNSCHEDULABLE:
            heapq.heappush(self._leftover, (info.timestamp + self.max_in_unschedulable,
                                           next(self._seq), info.uid, info.token))

    def _drop_stale(self) -> None:
        for heap, part in ((self._backoff, BACKOFF), (self._leftover, UNSCHEDULABLE)):
            while heap:
                info = self._pods.get(heap[0][-2])
                if info is not None and info.token == heap[0][-1] and info.where == part:
                    break
                heapq.heappop(heap)

    def _relevant_since(self, since: int, plugins: set[str]) -> bool:
        return any(seq > since and not self._interested_in(ev).isdisjoint(plugins)
                   for seq, ev in self._events)

    def _interested_in(self, event: ClusterEvent) -> frozenset[str]:
        key = (event.resource, event.action)
        found = self._interested.get(key)
        if found is None:
            found = frozenset(p for p, evs in self._events_by_plugin.items()
                              if any(r.matches(event) for r in evs))
            self._interested[key] = found
        return found


def _priority(pod: dict) -> int:
    return int((pod.get("spec") or {}).get("priority") or 0)


def _gated(pod: dict) -> bool:
    return bool((pod.get("spec") or {}).get("schedulingGates"))


_IGNORED_META = ("resourceVersion", "generation", "managedFields")


def _changed(old: dict, new: dict) -> bool:
    """Upstream isPodUpdated: anything but status, resourceVersion, generation and
    managedFields."""
    return _strip(old) != _strip(new)


def _strip(pod: dict) -> dict[str, Any]:
    meta = {k: v for k, v in (pod.get("metadata") or {}).items() if k not in _IGNORED_META}
    return {k: v for k, v in pod.items() if k != "status"} | {"metadata": meta}
