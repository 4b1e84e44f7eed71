"""Batch scoring: a plugin's `score_nodes` gives exactly its per-node `score` for every node,
so the framework may call either."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from kubemu.cluster.scheduler.framework import default_profile
from kubemu.cluster.scheduler.interface import Code, CycleState

from tests.unit.scheduler.builders import node, pod, snapshot

ZONES = ("zone-a", "zone-b", "")
STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")
NODES = st.lists(st.tuples(st.sampled_from(("2", "4", "8")), st.sampled_from(("4Gi", "8Gi")),
                           st.sampled_from(ZONES), st.booleans()), min_size=1, max_size=12)
# existing pods: (node index, cpu request, app label)
PODS = st.lists(st.tuples(st.integers(0, 11), st.sampled_from(("100m", "500m", "1")),
                          st.sampled_from(("web", "db"))), max_size=30)
SPREAD = {"topologySpreadConstraints": [
    {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
     "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}},
    {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname",
     "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}]}


def cluster(nodes: list, pods: list):
    made = []
    for i, (cpu, memory, zone, tainted) in enumerate(nodes):
        taints = [{"key": "slow", "effect": "PreferNoSchedule"}] if tainted else None
        labels = {"topology.kubernetes.io/zone": zone} if zone else {}
        made.append(node(f"n{i}", cpu=cpu, memory=memory, labels=labels, taints=taints))
    placed: dict[str, list[dict]] = {}
    for j, (at, cpu, app) in enumerate(pods):
        name = f"n{at % len(nodes)}"
        p = pod(f"e{j}", node_name=name, cpu=cpu, memory="256Mi")
        p["metadata"]["labels"] = {"app": app}
        placed.setdefault(name, []).append(p)
    return snapshot(*made, pods=placed)


@settings(max_examples=150, deadline=None)
@given(NODES, PODS, st.sampled_from(STRATEGIES), st.booleans(), st.booleans())
def test_batch_scores_equal_per_node_scores(nodes: list, pods: list, strategy: str,
                                            spread: bool, requests: bool) -> None:
    snap = cluster(nodes, pods)
    incoming = pod("new", cpu="250m", memory="128Mi") if requests else pod("new")
    incoming["metadata"]["labels"] = {"app": "web"}
    if spread:
        incoming["spec"].update(SPREAD)
    infos = snap.node_infos
    checked = 0
    for plugin in default_profile(scoring_strategy=strategy).plugins:
        if not hasattr(plugin, "score_nodes"):
            continue
        state = CycleState()
        if hasattr(plugin, "pre_filter"):
            plugin.pre_filter(state, incoming, snap)
        if hasattr(plugin, "pre_score"):
            if plugin.pre_score(state, incoming, infos).code is Code.SKIP:
                continue
        assert plugin.score_nodes(state, incoming, infos) == \
            [plugin.score(state, incoming, ni) for ni in infos], plugin.name
        checked += 1
    assert checked >= 2  # resources fit and taints at least (balancing skips a bare pod)
