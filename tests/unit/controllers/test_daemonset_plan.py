"""DaemonSet pure rules: eligibility, tolerations, placement, update plans, status counts."""

from __future__ import annotations

import pytest
from kubemu.cluster.controllers.daemonset_plan import (
    daemon_set_status,
    nodes_to_daemon_pods,
    plan_node,
    rolling_update,
)
from kubemu.cluster.controllers.daemonset_util import (
    FailedPodsBackoff,
    add_daemon_tolerations,
    daemon_pod_template,
    max_surge_unavailable,
    node_should_run,
    replace_node_name_affinity,
    target_node_name,
)

HASH = "new"


def ds(*, strategy: dict | None = None, generation: int = 2, **pod_spec: object) -> dict:
    return {"metadata": {"name": "agent", "namespace": "default", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {
                         "maxUnavailable": 1, "maxSurge": 0}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "c"}], **pod_spec}}}}


def node(name: str = "n", *, labels: dict | None = None, taints: list | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or []}}


def pod(name: str, node_name: str, *, hash_: str = HASH, ready: bool = True,
        phase: str = "Running", created: str = "2027-01-01T00:00:00Z",
        deleting: bool = False) -> dict:
    md: dict = {"name": name, "namespace": "default", "uid": name, "creationTimestamp": created,
                "labels": {"app": "agent", "controller-revision-hash": hash_}}
    if deleting:
        md["deletionTimestamp"] = "2027-01-01T00:01:00Z"
    return {"metadata": md,
            "spec": {"affinity": replace_node_name_affinity(None, node_name)},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": str(ready)}]}}


def taint(key: str, effect: str, value: str = "") -> dict:
    return {"key": key, "value": value, "effect": effect}


@pytest.mark.parametrize("the_node, pod_spec, expected", [
    pytest.param(node(), {}, (True, True), id="plain-node"),
    pytest.param(node(taints=[taint("dedicated", "NoSchedule")]), {}, (False, True),
                 id="untolerated-noschedule-keeps-a-running-pod"),
    pytest.param(node(taints=[taint("dedicated", "PreferNoSchedule")]), {}, (True, True),
                 id="prefer-no-schedule-ignored"),
    pytest.param(node(taints=[taint("dedicated", "NoSchedule")]),
                 {"tolerations": [{"key": "dedicated", "operator": "Exists"}]}, (True, True),
                 id="tolerated-noschedule"),
    pytest.param(node(taints=[taint("evict", "NoExecute")]), {}, (False, False),
                 id="untolerated-noexecute"),
    pytest.param(node(taints=[taint("node.kubernetes.io/unschedulable", "NoSchedule")]), {},
                 (True, True), id="cordoned-tolerated-automatically"),
    pytest.param(node(taints=[taint("node.kubernetes.io/not-ready", "NoExecute")]), {},
                 (True, True), id="not-ready-tolerated-automatically"),
    pytest.param(node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
                 {}, (False, True), id="network-unavailable-repels-pod-network"),
    pytest.param(node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
                 {"hostNetwork": True}, (True, True), id="network-unavailable-host-network"),
    pytest.param(node(taints=[taint("hold", "NoSchedule")]),
                 {"tolerations": [{"operator": "Exists", "effect": "NoExecute"}]},
                 (False, True), id="noschedule-only-keeps-running"),
    pytest.param(node(labels={"disk": "ssd"}), {"nodeSelector": {"disk": "hdd"}},
                 (False, False), id="node-selector-miss"),
    pytest.param(node(labels={"disk": "ssd"}), {"nodeSelector": {"disk": "ssd"}},
                 (True, True), id="node-selector-hit"),
    pytest.param(node("x"), {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["y"]}]}]}}}},
        (False, False), id="required-affinity-miss"),
    pytest.param(node("x"), {"nodeName": "y"}, (False, False), id="template-node-name-other"),
])
def test_node_should_run(the_node: dict, pod_spec: dict, expected: tuple[bool, bool]) -> None:
    assert node_should_run(the_node, ds(**pod_spec)) == expected


def test_daemon_tolerations_are_added_once_and_replace_equal_ones() -> None:
    spec = {"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "mine", "operator": "Exists"}]}
    add_daemon_tolerations(spec)
    add_daemon_tolerations(spec)
    keys = [(t["key"], t["effect"]) for t in spec["tolerations"] if t.get("effect")]
    assert len(keys) == len(set(keys)) == 6
    not_ready = spec["tolerations"][0]
    assert not_ready["key"] == "node.kubernetes.io/not-ready"
    assert "tolerationSeconds" not in not_ready  # daemon pods are never evicted for it
    assert {"key": "mine", "operator": "Exists"} in spec["tolerations"]


def test_pod_template_gets_labels_and_pinning_affinity_replaces_required_terms() -> None:
    the_ds = ds(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {}}]}})
    template = daemon_pod_template(the_ds, "abc")
    assert template["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": "abc",
                                              "pod-template-generation": "2"}
    assert "labels" not in (the_ds["spec"]["template"]["metadata"].get("x") or {})
    affinity = replace_node_name_affinity(template["spec"]["affinity"], "n7")
    required = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required == {"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]}
    assert affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert target_node_name({"spec": {"affinity": affinity}}) == "n7"
    assert target_node_name({"spec": {"nodeName": "n1", "affinity": affinity}}) == "n1"
    assert target_node_name({"spec": {}}) is None


@pytest.mark.parametrize("rolling, desired, expected", [
    pytest.param({"maxUnavailable": 1, "maxSurge": 0}, 6, (0, 1), id="defaults"),
    pytest.param({"maxUnavailable": "25%", "maxSurge": 0}, 6, (0, 2), id="percent-rounds-up"),
    pytest.param({"maxUnavailable": 0, "maxSurge": "10%"}, 6, (1, 0), id="surge-percent"),
    pytest.param({"maxUnavailable": 0, "maxSurge": 0}, 6, (0, 1), id="both-zero-means-one"),
    pytest.param({"maxUnavailable": 0, "maxSurge": 0}, 0, (0, 0), id="no-nodes"),
])
def test_max_surge_and_unavailable(rolling: dict, desired: int,
                                   expected: tuple[int, int]) -> None:
    the_ds = ds(strategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    assert max_surge_unavailable(the_ds, desired) == expected


def test_failed_pod_backoff_doubles_and_resets_after_idling() -> None:
    backoff = FailedPodsBackoff(initial=1, maximum=8)
    assert not backoff.in_backoff_since_update("k", 0)
    delays = []
    now = 0.0
    for _ in range(5):
        backoff.next("k", now)
        delays.append(backoff.get("k"))
        assert backoff.in_backoff_since_update("k", now + backoff.get("k") - 0.1)
        assert not backoff.in_backoff_since_update("k", now + backoff.get("k"))
        now += backoff.get("k")
    assert delays == [1, 2, 4, 8, 8]
    backoff.next("k", now + 100)  # idle for more than twice the maximum: start over
    assert backoff.get("k") == 1


def test_plan_node_deletes_failed_pods_once_per_backoff_and_duplicates() -> None:
    backoff = FailedPodsBackoff()
    n = node("n")
    failed = pod("f", "n", phase="Failed")
    plan = plan_node(n, ds(), [failed], HASH, available=lambda p: True, backoff=backoff,
                     backoff_key="k", now=0.0)
    assert [p["metadata"]["name"] for p in plan.delete] == ["f"] and plan.failed
    again = plan_node(n, ds(), [failed], HASH, available=lambda p: True, backoff=backoff,
                      backoff_key="k", now=0.5)
    assert again.delete == [] and again.retry_after == 1.0 and not again.needs_pod
    dupes = [pod("young", "n", created="2027-01-02T00:00:00Z"), pod("old", "n"),
             pod("gone", "n", deleting=True), pod("done", "n", phase="Succeeded")]
    plan = plan_node(n, ds(), dupes, HASH, available=lambda p: True, backoff=backoff,
                     backoff_key="k2", now=0.0)
    assert sorted(p["metadata"]["name"] for p in plan.delete) == ["done", "young"]
    plan = plan_node(node("n", taints=[taint("x", "NoExecute")]), ds(), dupes[:2], HASH,
                     available=lambda p: True, backoff=backoff, backoff_key="k3", now=0.0)
    assert len(plan.delete) == 2


@pytest.mark.parametrize("old_ready, new_available, deleted", [
    pytest.param(True, False, [], id="keep-both-while-new-not-available"),
    pytest.param(True, True, ["old"], id="old-goes-once-new-available"),
    pytest.param(False, False, ["old"], id="unready-old-goes-at-once"),
])
def test_plan_node_with_surge_keeps_old_and_new_until_the_new_is_available(
        old_ready: bool, new_available: bool, deleted: list[str]) -> None:
    surge = ds(strategy={"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    pods = [pod("old", "n", hash_="old", ready=old_ready),
            pod("new", "n", created="2027-01-02T00:00:00Z")]
    plan = plan_node(node("n"), surge, pods, HASH,
                     available=lambda p: p["metadata"]["name"] != "new" or new_available,
                     backoff=FailedPodsBackoff(), backoff_key="k", now=0.0)
    assert [p["metadata"]["name"] for p in plan.delete] == deleted


def test_rolling_update_without_surge_respects_max_unavailable() -> None:
    nodes = [node(f"n{i}") for i in range(4)]
    old = [pod(f"old{i}", f"n{i}", hash_="old") for i in range(4)]
    to_delete, to_create = rolling_update(ds(), nodes, nodes_to_daemon_pods(old), HASH,
                                          available=lambda p: True)
    assert len(to_delete) == 1 and to_create == []
    # one node is already without an available pod: nothing more may go ...
    pods = [pod("new0", "n0", ready=False), *old[1:]]
    to_delete, _ = rolling_update(ds(), nodes, nodes_to_daemon_pods(pods), HASH,
                                  available=lambda p: p["status"]["conditions"][0]["status"]
                                  == "True")
    assert to_delete == []
    # ... except old pods that are unavailable anyway
    pods = [pod("new0", "n0", ready=False), pod("old1", "n1", hash_="old", ready=False),
            *old[2:]]
    to_delete, _ = rolling_update(ds(), nodes, nodes_to_daemon_pods(pods), HASH,
                                  available=lambda p: p["status"]["conditions"][0]["status"]
                                  == "True")
    assert [p["metadata"]["name"] for p in to_delete] == ["old1"]


def test_rolling_update_with_surge_creates_up_to_max_surge_new_pods() -> None:
    surge = ds(strategy={"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}})
    nodes = [node(f"n{i}") for i in range(4)]
    old = [pod(f"old{i}", f"n{i}", hash_="old") for i in range(4)]
    to_delete, to_create = rolling_update(surge, nodes, nodes_to_daemon_pods(old), HASH,
                                          available=lambda p: True)
    assert to_delete == [] and to_create == ["n0", "n1"]
    pods = [*old, pod("new0", "n0"), pod("new1", "n1", ready=False)]
    to_delete, to_create = rolling_update(
        surge, nodes, nodes_to_daemon_pods(pods), HASH,
        available=lambda p: p["status"]["conditions"][0]["status"] == "True")
    assert [p["metadata"]["name"] for p in to_delete] == ["old0"]
    assert to_create == ["n2"]  # one surge slot is taken by n1's unavailable new pod


def test_status_counts_each_nodes_oldest_pod() -> None:
    nodes = [node("a"), node("b"), node("c"), node("tainted", taints=[taint("x", "NoSchedule")])]
    pods = [pod("a-old", "a", hash_="old"), pod("a-new", "a", created="2027-01-02T00:00:00Z"),
            pod("b", "b", ready=False), pod("t", "tainted"), pod("ghost", "gone")]
    status = daemon_set_status(ds(), nodes, nodes_to_daemon_pods(pods), HASH,
                               available=lambda p: True)
    assert status == {"desiredNumberScheduled": 3, "currentNumberScheduled": 2,
                      "numberMisscheduled": 1, "numberReady": 1, "updatedNumberScheduled": 1,
                      "numberAvailable": 1, "numberUnavailable": 2}
