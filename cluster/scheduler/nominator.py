"""Nominator: which pending pods are nominated to run on which node (upstream's nominator).

A pod that preempted others waits for its victims to leave; meanwhile its node is *nominated*
(`status.nominatedNodeName`). Every scheduling cycle counts the nominated pods of equal or
higher priority on a node as if they already ran there, so the room preemption freed is not
handed to a lower-priority pod first, and the preemptor itself tries its nominated node first.

Nominations come from two sources: the informer (a pod's status.nominatedNodeName) and the
scheduler itself (a preemption just decided, before its status patch is seen). As upstream's
UpdateNominatedPod, an informer update that carries no nominatedNodeName keeps an in-memory
nomination unless the old object had one (the field was cleared on purpose). A pod leaves the
nominator when it is assumed, bound or deleted.
"""

from __future__ import annotations

from kubemu.cluster.scheduler.nodeinfo import pod_key

__all__ = ["Nominator", "nominated_node", "pod_priority"]


def nominated_node(pod: dict) -> str:
    return (pod.get("status") or {}).get("nominatedNodeName") or ""


def pod_priority(pod: dict) -> int:
    return int((pod.get("spec") or {}).get("priority") or 0)


class Nominator:
    def __init__(self) -> None:
        self._node_of: dict[str, str] = {}              # pod key -> node
        self._pods: dict[str, dict[str, dict]] = {}     # node -> pod key -> pod

    def add(self, pod: dict, node: str = "") -> None:
        """Nominate `pod` to `node` (default: its status.nominatedNodeName); an empty node
        removes the nomination."""
        self.delete(pod)
        node = node or nominated_node(pod)
        if node:
            key = pod_key(pod)
            self._node_of[key] = node
            self._pods.setdefault(node, {})[key] = pod

    def update(self, old: dict | None, new: dict) -> None:
        """An informer update of an unassigned pod."""
        key = pod_key(new)
        if not nominated_node(new) and (old is None or not nominated_node(old)):
            node = self._node_of.get(key)
            if node:
                self._pods[node][key] = new    # keep the in-memory nomination
            return
        self.add(new)

    def delete(self, pod: dict) -> None:
        key = pod_key(pod)
        node = self._node_of.pop(key, None)
        if node is not None:
            pods = self._pods[node]
            pods.pop(key, None)
            if not pods:
                del self._pods[node]

    def node_of(self, pod: dict) -> str:
        return self._node_of.get(pod_key(pod), "")

    def pods_on(self, node: str) -> list[dict]:
        """The pods nominated to `node`."""
        return list((self._pods.get(node) or {}).values())

    def nominated_nodes(self) -> dict[str, dict[str, dict]]:
        """The nodes some pod is nominated to (a live view: supports `in`)."""
        return self._pods

    def __len__(self) -> int:
        return len(self._node_of)
