"""NodeInfo: the scheduler's per-node aggregate (upstream framework.NodeInfo) and pod requests.

A `NodeInfo` holds one Node, the pods assigned (or assumed) to it, and the sums the filters
and scorers read: `requested` (what the pods ask for) and `non_zero_requested` (the same with
upstream's scoring defaults of 100m cpu / 200Mi memory for a container that names none). The
node's allocatable resources, labels and taints are parsed once when the node is set, so the
per-node work in a scheduling cycle never parses a quantity or walks the node's JSON. Every
change takes a fresh `generation` from one process-wide counter (as upstream), which lets the
scheduler cache refresh a snapshot incrementally. `pods_by_label` indexes the pods not being
deleted by (namespace, label key, value), so counting a node's pods that match an equality
selector (a ReplicaSet's, a Service's) reads a bucket instead of walking every pod on the node;
buckets are tuples, replaced on change, so a clone copies the index shallowly.

`pod_requests` is upstream's `resource.PodRequests`: the sum of app containers plus restartable
init containers (sidecars), or the largest single init container together with the sidecars
started before it, whichever is larger per resource; pod-level `spec.resources.requests` (cpu,
memory) override the containers' aggregate; `spec.overhead` is added last. Quantities become
integers as upstream: cpu in millicores (rounded up), everything else in whole units (rounded
up). Only scalar resources upstream schedules on (extended `domain/name`, `hugepages-*`,
`attachable-volumes-*`) are kept in `scalar`.

A `Snapshot` is the list of NodeInfos one scheduling cycle sees; nothing in a cycle mutates it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from kubemu.cluster.api.quantity import QuantityError, parse_quantity

__all__ = [
    "LabelNodes", "Resources", "NodeInfo", "Snapshot", "pod_requests", "pod_requests_nonzero",
    "resources_from_list", "is_scalar_resource", "pod_key",
    "DEFAULT_MILLI_CPU_REQUEST", "DEFAULT_MEMORY_REQUEST",
]

DEFAULT_MILLI_CPU_REQUEST = 100                 # upstream schedutil.DefaultMilliCPURequest
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024      # upstream schedutil.DefaultMemoryRequest


@dataclass
class Resources:
    """An amount of each resource: cpu in millicores, the rest in units (bytes, pods, devices).

    `pods` is the allowed pod number when the Resources is a node's allocatable; requests leave
    it 0 (a NodeInfo counts its pods by `len(pods)`, as upstream)."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    def add(self, other: Resources) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.pods += other.pods
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + value

    def sub(self, other: Resources) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        self.pods -= other.pods
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) - value

    def set_max(self, other: Resources) -> None:
        """Each resource becomes the larger of the two (init containers run one at a time)."""
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        self.pods = max(self.pods, other.pods)
        for name, value in other.scalar.items():
            self.scalar[name] = max(self.scalar.get(name, 0), value)

    def copy(self) -> Resources:
        return Resources(self.milli_cpu, self.memory, self.ephemeral_storage, self.pods,
                         dict(self.scalar))

    def is_zero(self) -> bool:
        """No cpu, memory, ephemeral storage or scalar resource at all (pods not counted)."""
        return not (self.milli_cpu or self.memory or self.ephemeral_storage or self.scalar)

    def get(self, name: str) -> int:
        """The amount of the resource called `name` in the API ("cpu" in millicores)."""
        attr = _FIELDS.get(name)
        return getattr(self, attr) if attr else self.scalar.get(name, 0)


def resources_from_list(resource_list: dict | None) -> Resources:
    """Parse a ResourceList (`{"cpu": "500m", "memory": "1Gi", ...}`); an unparseable
    quantity counts as 0 (the API server validated it already)."""
    res = Resources()
    for name, quantity in (resource_list or {}).items():
        attr = _FIELDS.get(name)
        if attr == "milli_cpu":
            res.milli_cpu += _milli(quantity)
        elif attr is not None:
            setattr(res, attr, getattr(res, attr) + _value(quantity))
        elif is_scalar_resource(name):
            res.scalar[name] = res.scalar.get(name, 0) + _value(quantity)
    return res


def pod_requests(pod: dict) -> Resources:
    """What the pod asks of a node (upstream computePodResourceRequest / PodRequests)."""
    return _aggregate(pod, non_zero=False)


def pod_requests_nonzero(pod: dict) -> Resources:
    """The requests scoring uses: a container that names no cpu (memory) counts as 100m
    (200Mi), as upstream's NonMissingContainerRequests, so empty pods still spread."""
    return _aggregate(pod, non_zero=True)


def is_scalar_resource(name: str) -> bool:
    """Upstream IsScalarResourceName: extended or prefixed resources, hugepages, volumes."""
    return "/" in name or name.startswith(("hugepages-", "attachable-volumes-"))


def pod_key(pod: dict) -> str:
    """How a NodeInfo tells pods apart: the uid, or namespace/name for a pod without one."""
    meta = pod.get("metadata") or {}
    return meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class NodeInfo:
    """One node and its pods, with the sums and parsed fields the plugins read."""

    __slots__ = ("node", "pods", "requested", "non_zero_requested", "allocatable", "generation",
                 "labels", "taints", "unschedulable", "pods_with_affinity",
                 "pods_with_required_anti_affinity", "pods_by_label", "_name", "_sums",
                 "_recent")

    def __init__(self, node: dict | None = None, *, pods: list[dict] | tuple = ()) -> None:
        self.node: dict | None = None
        self.pods: list[dict] = []
        self.requested = Resources()
        self.non_zero_requested = Resources()
        self.allocatable = Resources()
        self.labels: dict[str, str] = {}
        self.taints: tuple[tuple[str, str, str], ...] = ()   # (key, value, effect)
        self.unschedulable = False
        self.pods_with_affinity: list[dict] = []
        self.pods_with_required_anti_affinity: list[dict] = []
        self.pods_by_label: dict[tuple[str, str, str], tuple[dict, ...]] = {}
        # pod key -> (spec, requests, non-zero requests, the pod object held), and the entry
        # of the pod removed last: an update (remove, then add of the new object) with an
        # unchanged spec reuses the sums instead of parsing every quantity again, and a
        # removal finds the held object by identity instead of keying every pod on the node
        self._sums: dict[str, tuple[dict, Resources, Resources, dict]] = {}
        self._recent: tuple[str, tuple[dict, Resources, Resources, dict] | None] = ("", None)
        self._name = ""
        self.generation = _next_generation()
        if node is not None:
            self.set_node(node)
        for pod in pods:
            self.add_pod(pod)

    @property
    def name(self) -> str:
        """The node's name ("" while only pods are known, as upstream)."""
        return self._name

    def set_node(self, node: dict) -> None:
        """Set or replace the Node object; re-parses allocatable, labels and taints."""
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        self.node = node
        self._name = meta.get("name") or ""
        self.labels = meta.get("labels") or {}
        self.allocatable = resources_from_list((node.get("status") or {}).get("allocatable"))
        self.taints = tuple((t.get("key") or "", t.get("value") or "", t.get("effect") or "")
                            for t in spec.get("taints") or ())
        self.unschedulable = bool(spec.get("unschedulable"))
        self.generation = _next_generation()

    def add_pod(self, pod: dict) -> None:
        """Account for `pod` on this node (assigned or assumed)."""
        self.pods.append(pod)
        key, spec = pod_key(pod), pod.get("spec") or {}
        known = self._sums.get(key) or (self._recent[1] if self._recent[0] == key else None)
        if known is not None and known[0] == spec:  # a status update: same requests
            requested, non_zero = known[1], known[2]
        else:
            requested, non_zero = _pod_sums(pod)
        self._sums[key] = (spec, requested, non_zero, pod)
        self.requested.add(requested)
        self.non_zero_requested.milli_cpu += non_zero.milli_cpu
        self.non_zero_requested.memory += non_zero.memory
        affinity = (pod.get("spec") or {}).get("affinity") or {}
        if affinity.get("podAffinity") or affinity.get("podAntiAffinity"):
            self.pods_with_affinity.append(pod)
        if ((affinity.get("podAntiAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution")):
            self.pods_with_required_anti_affinity.append(pod)
        meta = pod.get("metadata") or _NO_META
        if not meta.get("deletionTimestamp"):
            index, ns = self.pods_by_label, meta.get("namespace") or ""
            for label in (meta.get("labels") or _NO_META).items():
                bucket = (ns, *label)
                index[bucket] = index.get(bucket, ()) + (pod,)
        self.generation = _next_generation()

    def remove_pod(self, pod: dict) -> dict | None:
        """Forget the pod with `pod`'s key: the object that was held, None when it was not on
        this node. The sums subtract what the stored copy asked for, so a changed pod object
        cannot skew them."""
        key = pod_key(pod)
        held = self._sums.get(key)
        i = _position(self.pods, key, None if held is None else held[3])
        if i < 0:
            return None
        known = self.pods.pop(i)
        held = self._sums.pop(key, None)
        self._recent = (key, held)
        requested, non_zero = (held[1], held[2]) if held is not None else _pod_sums(known)
        self.requested.sub(requested)
        self.non_zero_requested.milli_cpu -= non_zero.milli_cpu
        self.non_zero_requested.memory -= non_zero.memory
        self.pods_with_affinity = [p for p in self.pods_with_affinity if pod_key(p) != key]
        self.pods_with_required_anti_affinity = [
            p for p in self.pods_with_required_anti_affinity if pod_key(p) != key]
        meta = known.get("metadata") or _NO_META
        if not meta.get("deletionTimestamp"):
            index, ns = self.pods_by_label, meta.get("namespace") or ""
            for label in (meta.get("labels") or _NO_META).items():
                bucket = (ns, *label)
                rest = tuple(p for p in index.get(bucket, ()) if p is not known)
                if rest:
                    index[bucket] = rest
                else:
                    index.pop(bucket, None)
        self.generation = _next_generation()
        return known

    def clone(self) -> NodeInfo:
        """A copy whose pod list and sums change independently (objects are shared: pods and
        the node are never mutated in place by the scheduler)."""
        other = NodeInfo.__new__(NodeInfo)
        other.node = self.node
        other.pods = list(self.pods)
        other.requested = self.requested.copy()
        other.non_zero_requested = self.non_zero_requested.copy()
        other.allocatable = self.allocatable          # replaced, never mutated, by set_node
        other.labels = self.labels
        other.taints = self.taints
        other.unschedulable = self.unschedulable
        other.pods_with_affinity = list(self.pods_with_affinity)
        other.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        other.pods_by_label = dict(self.pods_by_label)
        other._sums = dict(self._sums)
        other._recent = self._recent
        other._name = self._name
        other.generation = self.generation
        return other

    def __repr__(self) -> str:
        return f"NodeInfo({self._name!r}, pods={len(self.pods)}, gen={self.generation})"


LabelNodes = Callable[[tuple[str, str, str]], "dict[str, int] | None"]


class Snapshot:
    """The nodes one scheduling cycle sees, in a stable order, with lookup by name.

    `label_nodes`, when the cache gives one, answers for a (namespace, label key, value) the
    nodes holding pods (not being deleted) that carry it, with how many: a live index the
    cache keeps, so it answers None once the cache changed after the snapshot was taken
    (callers then walk the nodes)."""

    __slots__ = ("node_infos", "_by_name", "label_nodes")

    def __init__(self, node_infos: list[NodeInfo], *,
                 label_nodes: LabelNodes | None = None) -> None:
        self.node_infos = list(node_infos)
        self._by_name = {ni.name: ni for ni in self.node_infos}
        self.label_nodes = label_nodes

    def get(self, name: str) -> NodeInfo | None:
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self.node_infos)


# ---- helpers -----------------------------------------------------------------------------

_FIELDS = {"cpu": "milli_cpu", "memory": "memory", "ephemeral-storage": "ephemeral_storage",
           "pods": "pods"}
_GENERATION = itertools.count(1)
_NO_META: dict = {}
_POD_LEVEL = ("cpu", "memory")   # upstream IsSupportedPodLevelResource


def _position(pods: list[dict], key: str, held: dict | None) -> int:
    """Where the pod with `key` is in `pods` (-1: nowhere): the held object by identity,
    searched from the end (recent pods change most), else the first pod with the key."""
    if held is not None:
        for i in range(len(pods) - 1, -1, -1):
            if pods[i] is held:
                return i
    for i, known in enumerate(pods):
        if pod_key(known) == key:
            return i
    return -1


def _next_generation() -> int:
    return next(_GENERATION)


@lru_cache(maxsize=8192)
def _milli_cached(quantity: str) -> int:
    return math.ceil(parse_quantity(quantity) * 1000)


@lru_cache(maxsize=8192)
def _value_cached(quantity: str) -> int:
    return math.ceil(parse_quantity(quantity))


def _milli(quantity: object) -> int:
    try:
        if isinstance(quantity, str):
            return _milli_cached(quantity)
        return math.ceil(parse_quantity(quantity) * 1000)  # type: ignore[arg-type]
    except QuantityError:
        return 0


def _value(quantity: object) -> int:
    try:
        if isinstance(quantity, str):
            return _value_cached(quantity)
        return math.ceil(parse_quantity(quantity))  # type: ignore[arg-type]
    except QuantityError:
        return 0


def _container_requests(container: dict, non_zero: bool) -> Resources:
    requests = (container.get("resources") or {}).get("requests") or {}
    res = resources_from_list(requests)
    if non_zero:
        if "cpu" not in requests:
            res.milli_cpu += DEFAULT_MILLI_CPU_REQUEST
        if "memory" not in requests:
            res.memory += DEFAULT_MEMORY_REQUEST
    return res


def _aggregate(pod: dict, *, non_zero: bool) -> Resources:
    spec = pod.get("spec") or {}
    total = Resources()
    for container in spec.get("containers") or ():
        total.add(_container_requests(container, non_zero))
    sidecars = Resources()      # restartable init containers started so far
    init_max = Resources()
    for container in spec.get("initContainers") or ():
        requests = _container_requests(container, non_zero)
        if container.get("restartPolicy") == "Always":
            total.add(requests)
            sidecars.add(requests)
            init_max.set_max(sidecars)
        else:
            requests.add(sidecars)
            init_max.set_max(requests)
    total.set_max(init_max)
    pod_level = (spec.get("resources") or {}).get("requests") or {}
    for name in _POD_LEVEL:
        if name in pod_level:
            parsed = resources_from_list({name: pod_level[name]})
            attr = _FIELDS[name]
            setattr(total, attr, getattr(parsed, attr))
    if spec.get("overhead"):
        total.add(resources_from_list(spec["overhead"]))
    total.scalar = {k: v for k, v in total.scalar.items() if v}
    return total


def _pod_sums(pod: dict) -> tuple[Resources, Resources]:
    return pod_requests(pod), pod_requests_nonzero(pod)
