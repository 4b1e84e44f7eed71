"""Node controller utilities: upstream's `controller/util/node` for kubemu's node controllers.

What node lifecycle, taint eviction and pod GC share:
- pods by node: the `spec.nodeName` index of the shared Pod informer (`pods_on_node` falls
  back to a scan when another controller created that informer first without the index);
- conditions: `update_pod_condition` is upstream's `UpdatePodCondition` (lastTransitionTime
  moves only when the status changes; True when anything changed);
- `swap_node_taints`: upstream's `SwapNodeControllerTaint` -- check the cached node first (no
  write when it already carries the wanted taints), then read-modify-write with the
  resourceVersion as precondition, re-reading on conflict, so a concurrent kubelet or
  `kubectl taint` is never overwritten;
- `record_node_status_change`: the "Node n1 status is now: X" Event;
- `owned_runtime`: run the informer factory and event recorder a component made for itself
  (a controller manager passes shared ones and runs them itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from kubemu.cluster.api.errors import ApiError, Conflict, NotFound
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.client.lister import Lister
from kubemu.cluster.controllers.events import NORMAL, EventRecorder
from kubemu.cluster.controllers.taints import swap_taints

__all__ = ["NODE_NAME_INDEX", "node_name_index", "pods_on_node", "get_condition",
           "update_pod_condition", "is_node_ready", "swap_node_taints",
           "record_node_status_change", "owned_runtime", "pod_informer"]

NODE_NAME_INDEX = "spec.nodeName"
_TAINT_RETRIES = 5

log = logging.getLogger("kubemu.controllers.node")


def node_name_index(pod: dict) -> list[str]:
    name = (pod.get("spec") or {}).get("nodeName")
    return [name] if name else []


def pod_informer(factory: InformerFactory) -> Any:
    """The shared v1 Pod informer (with the nodeName index if this call creates it)."""
    return factory.informer("v1", "Pod", indexers={NODE_NAME_INDEX: node_name_index})


def pods_on_node(lister: Lister, node_name: str) -> list[dict]:
    """Pods bound to `node_name`, from the informer cache."""
    try:
        return lister.by_index(NODE_NAME_INDEX, node_name)
    except KeyError:
        return lister.list(selector=lambda p: (p.get("spec") or {}).get("nodeName") == node_name)


def get_condition(conditions: Iterable[dict] | None, type_: str) -> dict | None:
    for cond in conditions or ():
        if cond.get("type") == type_:
            return cond
    return None


def update_pod_condition(status: dict, condition: dict, *, now: str) -> bool:
    """Set `condition` in `status` (mutated); lastTransitionTime is `now` unless the status
    is unchanged. True when anything changed."""
    new = dict(condition)
    new["lastTransitionTime"] = now
    conditions = status.setdefault("conditions", [])
    for i, old in enumerate(conditions):
        if old.get("type") != new.get("type"):
            continue
        if old.get("status") == new.get("status"):
            new["lastTransitionTime"] = old.get("lastTransitionTime")
        fields = ("status", "reason", "message", "lastProbeTime", "lastTransitionTime")
        same = all(old.get(f) == new.get(f) for f in fields)
        conditions[i] = {k: v for k, v in new.items() if v is not None}
        return not same
    conditions.append(new)
    return True


def is_node_ready(node: dict) -> bool:
    cond = get_condition((node.get("status") or {}).get("conditions"), "Ready")
    return cond is not None and cond.get("status") == "True"


async def swap_node_taints(client: Any, node: dict, *, add: Iterable[dict] = (),
                           remove: Iterable[dict] = (), time_added: str) -> bool:
    """Put `add` on and take `remove` off the node's taints; True when the node carries
    them as asked (or is gone), False when the write failed."""
    add, remove = list(add), list(remove)
    name = (node.get("metadata") or {}).get("name", "")
    current = node
    for _ in range(_TAINT_RETRIES):
        spec = current.get("spec") or {}
        taints = swap_taints(spec.get("taints"), add=add, remove=remove, time_added=time_added)
        if taints is None:
            return True
        updated = {**current, "spec": {**spec, "taints": taints}}
        if not taints:
            del updated["spec"]["taints"]
        try:
            await client.update(updated)
            return True
        except Conflict:
            pass
        except NotFound:
            return True
        except ApiError as err:
            log.warning("node %s: updating taints failed: %s", name, err, extra={"node": name})
            return False
        try:
            current = await client.get("v1", "Node", name)
        except NotFound:
            return True
        except ApiError as err:
            log.warning("node %s: reading for a taint update failed: %s", name, err,
                        extra={"node": name})
            return False
    return False


def record_node_status_change(recorder: EventRecorder, node: dict, new_status: str) -> None:
    """Upstream `RecordNodeStatusChange`: a Normal Event named after the new status."""
    name = (node.get("metadata") or {}).get("name", "")
    recorder.record(node, NORMAL, new_status, f"Node {name} status is now: {new_status}")


@asynccontextmanager
async def owned_runtime(*, factory: InformerFactory | None,
                        recorder: EventRecorder | None) -> AsyncIterator[None]:
    """While inside: run `factory` and `recorder` (each None when shared and run by
    someone else); stop them on the way out."""
    events = asyncio.get_running_loop().create_task(recorder.run()) if recorder else None
    if factory is not None:
        factory.start()
    try:
        yield
    finally:
        if events is not None:
            events.cancel()
            await asyncio.gather(events, return_exceptions=True)
            await recorder.flush()  # type: ignore[union-attr]
        if factory is not None:
            await factory.stop()
