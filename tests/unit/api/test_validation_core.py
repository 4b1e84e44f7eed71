"""Core kinds besides Pod: Service, Endpoints, ConfigMap, Secret, Namespace, Node, Event,
PersistentVolume(Claim): one bad case per rule with upstream's path, and update rules."""

from __future__ import annotations

import copy

import pytest

from kubemu.cluster.api.defaults import apply_defaults
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.validation import validate_create, validate_update

REGISTRY = builtin_registry()


def obj(kind: str, body: dict, *, namespaced: bool = True, name: str = "x") -> dict:
    meta = {"name": name, **({"namespace": "default"} if namespaced else {})}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta, **body}


def svc(**spec) -> dict:
    return obj("Service", {"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}],
                                    **spec}})


def secret(stype: str | None = None, **data) -> dict:
    body = {"data": data}
    if stype:
        body["type"] = stype
    return obj("Secret", body)


def pvc(**spec) -> dict:
    return obj("PersistentVolumeClaim", {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        **spec}})


def pv(**spec) -> dict:
    return obj("PersistentVolume", {"spec": {
        "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
        "hostPath": {"path": "/data"}, **spec}}, namespaced=False)


def prepared(manifest: dict) -> tuple:
    r = REGISTRY.by_kind(manifest["apiVersion"], manifest["kind"])
    manifest = copy.deepcopy(manifest)
    apply_defaults(r, manifest)
    return r, manifest


def create_errors(manifest: dict) -> list[tuple[str, str]]:
    r, o = prepared(manifest)
    return [(e.type, e.field) for e in validate_create(r, o)]


@pytest.mark.parametrize("manifest, expected", [
    pytest.param(svc(ports=[]), [("Required", "spec.ports")], id="service-ports-required"),
    pytest.param(svc(ports=[], clusterIP="None"), [], id="headless-service-without-ports"),
    pytest.param(svc(ports=[{"port": 0}]), [("Invalid", "spec.ports[0].port"),
                                            ("Invalid", "spec.ports[0].targetPort")],
                 id="service-port-range-and-defaulted-target-port"),
    pytest.param(svc(ports=[{"port": 80}, {"port": 443}]),
                 [("Required", "spec.ports[0].name"), ("Required", "spec.ports[1].name")],
                 id="service-port-names-required-when-several"),
    pytest.param(svc(ports=[{"port": 80, "name": "web"}, {"port": 81, "name": "web"}]),
                 [("Duplicate", "spec.ports[1].name")], id="service-port-names-unique"),
    pytest.param(svc(ports=[{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]),
                 [("Duplicate", "spec.ports[1]")], id="service-port-protocol-unique"),
    pytest.param(svc(ports=[{"port": 80, "protocol": "HTTP"}]),
                 [("NotSupported", "spec.ports[0].protocol")], id="service-protocol"),
    pytest.param(svc(ports=[{"port": 80, "targetPort": "Web_Port"}]),
                 [("Invalid", "spec.ports[0].targetPort")], id="service-target-port-name"),
    pytest.param(svc(type="Internal"), [("NotSupported", "spec.type")], id="service-type"),
    pytest.param(svc(ports=[{"port": 80, "nodePort": 30080}]),
                 [("Forbidden", "spec.ports[0].nodePort")], id="node-port-needs-node-port-type"),
    pytest.param(svc(type="NodePort", ports=[{"port": 80, "nodePort": 8080}]),
                 [("Invalid", "spec.ports[0].nodePort")], id="node-port-range"),
    pytest.param(svc(type="NodePort", ports=[{"port": 80, "name": "a", "nodePort": 30001},
                                             {"port": 81, "name": "b", "nodePort": 30001}]),
                 [("Duplicate", "spec.ports[1].nodePort")], id="node-port-unique"),
    pytest.param(svc(selector={"app": "bad value"}), [("Invalid", "spec.selector")],
                 id="service-selector-labels"),
    pytest.param(svc(sessionAffinity="Sticky"), [("NotSupported", "spec.sessionAffinity")],
                 id="service-session-affinity"),
    pytest.param(svc(clusterIP="10.96.0.300"), [("Invalid", "spec.clusterIPs[0]")],
                 id="service-cluster-ip-syntax"),
    pytest.param(svc(type="NodePort", clusterIP="None"), [("Invalid", "spec.clusterIPs[0]")],
                 id="headless-node-port"),
    pytest.param(svc(externalTrafficPolicy="Local"),
                 [("Invalid", "spec.externalTrafficPolicy")],
                 id="external-traffic-policy-only-external"),
    pytest.param(svc(internalTrafficPolicy="Nearby"),
                 [("NotSupported", "spec.internalTrafficPolicy")], id="internal-traffic-policy"),
    pytest.param(obj("Service", {"spec": {"type": "ExternalName"}}),
                 [("Required", "spec.externalName")], id="external-name-required"),
    pytest.param(obj("Service", {"spec": {"type": "ExternalName", "externalName": "a_b.com"}}),
                 [("Invalid", "spec.externalName")], id="external-name-subdomain"),
    pytest.param(obj("Service", {"spec": {"type": "ExternalName", "externalName": "db.com",
                                          "clusterIP": "10.96.0.9"}}),
                 [("Forbidden", "spec.clusterIPs")], id="external-name-no-cluster-ip"),
    pytest.param(obj("Endpoints", {"subsets": [{"addresses": [{"ip": "nope"}],
                                                "ports": [{"port": 80}]}]}),
                 [("Invalid", "subsets[0].addresses[0].ip")], id="endpoints-ip"),
    pytest.param(obj("Endpoints", {"subsets": [{"ports": [{"port": 80}]}]}),
                 [("Required", "subsets[0]")], id="endpoints-addresses-required"),
    pytest.param(obj("ConfigMap", {"data": {"bad key": "v"}}), [("Invalid", "data[bad key]")],
                 id="configmap-key"),
    pytest.param(obj("ConfigMap", {"data": {"k": "v"}, "binaryData": {"k": "dg=="}}),
                 [("Invalid", "data[k]")], id="configmap-key-in-both"),
    pytest.param(obj("ConfigMap", {"data": {"k": "v" * (1024 * 1024 + 1)}}),
                 [("TooLong", "")], id="configmap-size"),
    pytest.param(secret(**{"a/b": "dg=="}), [("Invalid", "data[a/b]")], id="secret-key"),
    pytest.param(secret(k="not base64!"), [("Invalid", "data[k]")], id="secret-base64"),
    pytest.param(secret("kubernetes.io/tls", **{"tls.crt": "dg=="}),
                 [("Required", "data[tls.key]")], id="tls-secret-keys"),
    pytest.param(secret("kubernetes.io/dockerconfigjson", **{".dockerconfigjson": "e30K"}), [],
                 id="docker-config-json"),
    pytest.param(secret("kubernetes.io/dockerconfigjson", **{".dockerconfigjson": "bm9wZQ=="}),
                 [("Invalid", "data[.dockerconfigjson]")], id="docker-config-json-parses"),
    pytest.param(secret("kubernetes.io/basic-auth"),
                 [("Required", "data[username]"), ("Required", "data[password]")],
                 id="basic-auth-keys"),
    pytest.param(secret("kubernetes.io/service-account-token"),
                 [("Required", "metadata.annotations[kubernetes.io/service-account.name]")],
                 id="service-account-token-annotation"),
    pytest.param(obj("Namespace", {"spec": {"finalizers": ["custom"]}}, namespaced=False),
                 [("NotSupported", "spec.finalizers")], id="namespace-finalizer"),
    pytest.param(obj("Node", {"spec": {"taints": [{"key": "k", "effect": "Evict"}]}},
                     namespaced=False),
                 [("NotSupported", "spec.taints[0].effect")], id="node-taint-effect"),
    pytest.param(obj("Node", {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"},
                                                  {"key": "k", "effect": "NoSchedule"}]}},
                     namespaced=False),
                 [("Duplicate", "spec.taints[1]")], id="node-taints-unique"),
    pytest.param(obj("Node", {"spec": {"taints": [{"key": "k"}]}}, namespaced=False),
                 [("Required", "spec.taints[0].effect")], id="node-taint-effect-required"),
    pytest.param(obj("Node", {"spec": {"podCIDRs": ["10.244.0.0/33"]}}, namespaced=False),
                 [("Invalid", "spec.podCIDRs[0]")], id="node-pod-cidr"),
    pytest.param(obj("Event", {"involvedObject": {"kind": "Pod", "name": "p",
                                                  "namespace": "other"}}),
                 [("Invalid", "involvedObject.namespace")], id="event-namespace-matches"),
    pytest.param(obj("Event", {"involvedObject": {"kind": "Node", "name": "n"},
                               "eventTime": "2024-01-01T00:00:00.000000Z"}),
                 [("Required", "reportingComponent"), ("Invalid", "reportingComponent"),
                  ("Invalid", "reportingComponent"), ("Required", "reportingInstance"),
                  ("Required", "action"), ("Required", "reason")], id="new-style-event-fields"),
    pytest.param(pvc(accessModes=[]), [("Required", "spec.accessModes")],
                 id="pvc-access-modes-required"),
    pytest.param(pvc(accessModes=["ReadWriteSometimes"]),
                 [("NotSupported", "spec.accessModes[0]")], id="pvc-access-mode"),
    pytest.param(pvc(resources={}), [("Required", "spec.resources[storage]")],
                 id="pvc-storage-required"),
    pytest.param(pvc(resources={"requests": {"storage": "0"}}),
                 [("Invalid", "spec.resources[storage]")], id="pvc-storage-positive"),
    pytest.param(pvc(volumeMode="Raw"), [("NotSupported", "spec.volumeMode")],
                 id="pvc-volume-mode"),
    pytest.param(pv(capacity={}), [("Required", "spec.capacity"),
                                   ("NotSupported", "spec.capacity")], id="pv-capacity"),
    pytest.param(pv(hostPath=None), [("Required", "spec")], id="pv-source-required"),
    pytest.param(pv(persistentVolumeReclaimPolicy="Keep"),
                 [("NotSupported", "spec.persistentVolumeReclaimPolicy")], id="pv-reclaim"),
])
def test_bad_core_object_reports_upstream_field(manifest: dict, expected) -> None:
    assert create_errors(manifest) == expected


def updated(manifest: dict, edit, *, old_edit=None) -> list[tuple[str, str]]:
    r, old = prepared(manifest)
    if old_edit:
        old_edit(old)
    new = copy.deepcopy(old)
    edit(new)
    return [(e.type, e.field) for e in validate_update(r, new, old)]


def allocated(s: dict) -> None:
    s["spec"].update(clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"])


@pytest.mark.parametrize("manifest, edit, old_edit, expected", [
    pytest.param(svc(), lambda s: s["spec"].update(clusterIP="10.96.0.11",
                                                   clusterIPs=["10.96.0.11"]), allocated,
                 [("Invalid", "spec.clusterIPs[0]")], id="cluster-ip-may-not-change"),
    pytest.param(svc(), lambda s: s["spec"].update(type="NodePort",
                                                   externalTrafficPolicy="Cluster"),
                 allocated, [], id="service-type-may-change"),
    pytest.param(obj("ConfigMap", {"data": {"k": "v"}, "immutable": True}),
                 lambda c: c["data"].update(k="w"), None, [("Forbidden", "data")],
                 id="immutable-configmap-data"),
    pytest.param(obj("ConfigMap", {"data": {"k": "v"}, "immutable": True}),
                 lambda c: c.pop("immutable"), None, [("Forbidden", "immutable")],
                 id="immutable-configmap-flag"),
    pytest.param(obj("ConfigMap", {"data": {"k": "v"}}),
                 lambda c: c.update(immutable=True), None, [], id="configmap-may-become-immutable"),
    pytest.param(secret(k="dg=="), lambda s: s.update(type="kubernetes.io/tls"), None,
                 [("Invalid", "type"), ("Required", "data[tls.crt]"),
                  ("Required", "data[tls.key]")], id="secret-type-immutable"),
    pytest.param({**secret(k="dg=="), "immutable": True}, lambda s: s["data"].update(k="eA=="),
                 None, [("Forbidden", "data")], id="immutable-secret"),
    pytest.param(obj("Node", {"spec": {"podCIDRs": ["10.244.1.0/24"]}}, namespaced=False),
                 lambda n: n["spec"].update(podCIDRs=["10.244.2.0/24"]), None,
                 [("Forbidden", "spec.podCIDRs")], id="node-pod-cidr-set-once"),
    pytest.param(obj("Node", {"spec": {}}, namespaced=False),
                 lambda n: n["spec"].update(podCIDRs=["10.244.2.0/24"]), None, [],
                 id="node-pod-cidr-first-assignment"),
    pytest.param(pvc(), lambda c: c["spec"].update(accessModes=["ReadWriteMany"]), None,
                 [("Forbidden", "spec")], id="pvc-spec-immutable"),
    pytest.param(pvc(), lambda c: c["spec"]["resources"]["requests"].update(storage="2Gi"),
                 lambda c: c["status"].update(phase="Bound"), [], id="bound-pvc-may-grow"),
    pytest.param(pvc(), lambda c: c["spec"]["resources"]["requests"].update(storage="512Mi"),
                 lambda c: c["status"].update(phase="Bound"),
                 [("Forbidden", "spec.resources.requests.storage")], id="pvc-may-not-shrink"),
    pytest.param(pvc(), lambda c: c["spec"]["resources"]["requests"].update(storage="2Gi"),
                 None, [("Forbidden", "spec")], id="unbound-pvc-may-not-grow"),
    pytest.param(pv(), lambda p: p["spec"].update(hostPath={"path": "/other", "type": ""}),
                 None, [("Forbidden", "spec.persistentvolumesource")], id="pv-source-immutable"),
    pytest.param(pv(), lambda p: p["spec"].update(persistentVolumeReclaimPolicy="Delete"),
                 None, [], id="pv-reclaim-policy-mutable"),
])
def test_core_update_rules(manifest, edit, old_edit, expected) -> None:
    assert updated(manifest, edit, old_edit=old_edit) == expected


def test_cluster_ip_change_message() -> None:
    r, old = prepared(svc())
    allocated(old)
    new = copy.deepcopy(old)
    new["spec"].update(clusterIP="10.96.0.11", clusterIPs=["10.96.0.11"])
    assert [str(e) for e in validate_update(r, new, old)] == [
        'spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set']


def test_immutable_configmap_message() -> None:
    r, old = prepared(obj("ConfigMap", {"data": {"k": "v"}, "immutable": True}))
    new = copy.deepcopy(old)
    new["data"]["k"] = "w"
    assert [str(e) for e in validate_update(r, new, old)] == [
        "data: Forbidden: field is immutable when `immutable` is set"]
