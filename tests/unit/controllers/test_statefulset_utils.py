"""StatefulSet pure helpers: identity, claims and retention owner references, status, and
the simulation invariant probe."""

from __future__ import annotations

import pytest
from kubemu.cluster.controllers.statefulset_control import (
    complete_rolling_update,
    new_versioned_pod,
    replica_counts,
    stateful_set_status,
)
from kubemu.cluster.controllers.statefulset_utils import (
    claim_owner_refs,
    claims_for,
    duplicate_ordinals,
    identity_matches,
    live_ordinals,
    new_stateful_pod,
    parent_and_ordinal,
)


def sts(replicas: int = 3, **spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid", "generation": 2},
            "spec": {"replicas": replicas, "serviceName": "svc",
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}],
                                           "volumes": [{"name": "www", "emptyDir": {}},
                                                       {"name": "tmp", "emptyDir": {}}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "www"},
                                               "spec": {"accessModes": ["ReadWriteOnce"]}}],
                     **spec}}


def pod(name: str, *, uid: str | None = None, phase: str = "Running",
        revision: str = "r1", ready: bool = True, deleting: bool = False) -> dict:
    md: dict = {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}",
                "labels": {"controller-revision-hash": revision}}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": md, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("web-0", ("web", 0), id="simple"),
    pytest.param("my-db-12", ("my-db", 12), id="dashes-in-set-name"),
    pytest.param("web", ("", -1), id="no-ordinal"),
    pytest.param("web-x", ("", -1), id="non-numeric"),
])
def test_parent_and_ordinal(name: str, expected: tuple[str, int]) -> None:
    assert parent_and_ordinal({"metadata": {"name": name}}) == expected


def test_new_stateful_pod_has_identity_storage_and_revision() -> None:
    p = new_stateful_pod(sts(ordinals={"start": 5}), 6, revision="web-abc")
    md = p["metadata"]
    assert md["name"] == "web-6" and md["namespace"] == "ns"
    assert md["labels"] == {"app": "web", "controller-revision-hash": "web-abc",
                            "statefulset.kubernetes.io/pod-name": "web-6",
                            "apps.kubernetes.io/pod-index": "6"}
    assert md["ownerReferences"][0]["uid"] == "set-uid"
    assert p["spec"]["hostname"] == "web-6" and p["spec"]["subdomain"] == "svc"
    assert p["spec"]["volumes"] == [
        {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-6"}},
        {"name": "tmp", "emptyDir": {}}]
    assert identity_matches(sts(), {**p, "metadata": {**md, "uid": "u"}})
    broken = {**p, "metadata": {**md, "labels": {"app": "web"}}}
    assert not identity_matches(sts(), broken)


def test_claims_carry_selector_labels_and_per_ordinal_names() -> None:
    [claim] = claims_for(sts(), 2)
    assert claim["metadata"] == {"name": "www-web-2", "namespace": "ns",
                                 "labels": {"app": "web"}}
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"]}


SET_REF = ("StatefulSet", "set-uid", True)


@pytest.mark.parametrize(("deleted", "scaled", "ordinal", "owners"), [
    pytest.param("Retain", "Retain", 0, [], id="retain-retain"),
    pytest.param("Retain", "Retain", 5, [], id="retain-retain-condemned"),
    pytest.param("Delete", "Retain", 0, [SET_REF], id="when-deleted-set-owns"),
    pytest.param("Delete", "Retain", 5, [SET_REF], id="when-deleted-condemned-still-set"),
    pytest.param("Retain", "Delete", 0, [], id="when-scaled-in-range-no-owner"),
    pytest.param("Retain", "Delete", 5, [("Pod", "uid-web-5", False)],
                 id="when-scaled-condemned-pod-owns"),
    pytest.param("Delete", "Delete", 0, [SET_REF], id="both-in-range-set-owns"),
    pytest.param("Delete", "Delete", 5, [("Pod", "uid-web-5", False)],
                 id="both-condemned-pod-owns"),
])
def test_claim_owner_refs_follow_retention_policy(deleted: str, scaled: str, ordinal: int,
                                                  owners: list[tuple]) -> None:
    s = sts(persistentVolumeClaimRetentionPolicy={"whenDeleted": deleted,
                                                  "whenScaled": scaled})
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "other"}
    stale = {"apiVersion": "v1", "kind": "Pod", "name": f"web-{ordinal}",
             "uid": f"uid-web-{ordinal}"}
    claim = {"metadata": {"ownerReferences": [foreign, stale]}}
    refs = claim_owner_refs(claim, s, pod(f"web-{ordinal}"))
    assert refs[0] == foreign
    assert [(r["kind"], r["uid"], bool(r.get("controller"))) for r in refs[1:]] == owners


def counts(**kw: int) -> dict[str, int]:
    return {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0,
            "currentReplicas": 0, "updatedReplicas": 0, **kw}


def test_replica_counts_by_revision_ignore_unbuilt_and_terminating() -> None:
    built = {"metadata": {"name": "web-3", "labels": {"controller-revision-hash": "r2"}}}
    pods = [pod("web-0"), pod("web-1", revision="r2", ready=False),
            pod("web-2", revision="r2", deleting=True), built]
    assert replica_counts(pods, "r1", "r2", lambda p: 0.0) == counts(
        replicas=3, readyReplicas=2, availableReplicas=2, currentReplicas=1,
        updatedReplicas=1)
    assert replica_counts(pods, "r1", "r2", lambda p: 5.0)["availableReplicas"] == 0


@pytest.mark.parametrize(("strategy", "status", "current"), [
    pytest.param("RollingUpdate", {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2},
                 "r2", id="all-updated-and-ready-completes"),
    pytest.param("RollingUpdate", {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2},
                 "r1", id="unready-does-not-complete"),
    pytest.param("RollingUpdate", {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 1},
                 "r1", id="partitioned-does-not-complete"),
    pytest.param("OnDelete", {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2},
                 "r1", id="on-delete-never-completes"),
])
def test_complete_rolling_update(strategy: str, status: dict, current: str) -> None:
    status = {**status, "currentRevision": "r1", "updateRevision": "r2"}
    complete_rolling_update(sts(updateStrategy={"type": strategy}), status)
    assert status["currentRevision"] == current


def test_status_omits_zero_counters_as_upstream_json() -> None:
    status = stateful_set_status(sts(updateStrategy={"type": "OnDelete"}),
                                 counts(replicas=1), current="r1", update="r2",
                                 collision_count=0)
    assert status == {"observedGeneration": 2, "replicas": 1, "availableReplicas": 0,
                      "currentRevision": "r1", "updateRevision": "r2", "collisionCount": 0}


@pytest.mark.parametrize(("strategy", "current_replicas", "ordinal", "revision"), [
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, 0, 1, "cur",
                 id="below-partition-current"),
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, 0, 2, "upd",
                 id="at-partition-update"),
    pytest.param({"type": "RollingUpdate"}, 2, 1, "cur", id="no-partition-below-current-count"),
    pytest.param({"type": "RollingUpdate"}, 2, 2, "upd", id="no-partition-above-count"),
    pytest.param({"type": "OnDelete"}, 3, 0, "upd", id="on-delete-recreates-at-update"),
])
def test_missing_pod_revision(strategy: dict, current_replicas: int, ordinal: int,
                              revision: str) -> None:
    s = {**sts(updateStrategy=strategy), "status": {"currentReplicas": current_replicas}}
    p = new_versioned_pod(s, s, "cur", "upd", ordinal)
    assert p["metadata"]["labels"]["controller-revision-hash"] == revision


@pytest.mark.parametrize(("pods", "live", "dups"), [
    pytest.param([pod("web-0"), pod("web-1")], {0: ["uid-web-0"], 1: ["uid-web-1"]}, {},
                 id="distinct"),
    pytest.param([pod("web-0", uid="a", deleting=True), pod("web-0", uid="b")],
                 {0: ["a", "b"]}, {0: ["a", "b"]}, id="terminating-still-live"),
    pytest.param([pod("web-0", uid="a", phase="Failed"), pod("web-0", uid="b")],
                 {0: ["b"]}, {}, id="failed-not-live"),
    pytest.param([pod("db-0"), pod("other")], {}, {}, id="other-sets-and-no-ordinal"),
])
def test_live_ordinals_and_duplicates(pods: list[dict], live: dict, dups: dict) -> None:
    assert live_ordinals(pods, set_name="web") == live
    assert duplicate_ordinals(pods, set_name="web") == dups
