"""Pod validation: one bad case per rule with upstream's field path, pod updates, status."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubemu.cluster.api.defaults import apply_defaults
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.validation import validate_create, validate_status_update, validate_update
from kubemu.cluster.api.validation.pod import POD_UPDATE_FORBIDDEN

REGISTRY = builtin_registry()
PODS = REGISTRY.by_kind("v1", "Pod")


def pod(edit=None) -> dict:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                    "ports": [{"containerPort": 80, "name": "http"}]}],
                    "volumes": [{"name": "data", "emptyDir": {}}]}}
    if edit:
        edit(obj["spec"])
    apply_defaults(PODS, obj)
    return obj


def c0(spec: dict) -> dict:
    return spec["containers"][0]


def setter(target, **values: Any):
    return lambda spec: target(spec).update(values)


BAD = [
    pytest.param(lambda s: s.update(containers=[]), "Required", "spec.containers",
                 id="containers-required"),
    pytest.param(setter(c0, name="App"), "Invalid", "spec.containers[0].name",
                 id="container-name-dns-label"),
    pytest.param(setter(c0, name=""), "Required", "spec.containers[0].name",
                 id="container-name-required"),
    pytest.param(lambda s: s["containers"].append({"name": "app", "image": "x"}), "Duplicate",
                 "spec.containers[1].name", id="container-name-unique"),
    pytest.param(lambda s: s.update(initContainers=[{"name": "app", "image": "busybox"}]),
                 "Duplicate", "spec.initContainers[0].name",
                 id="init-container-name-unique-across-containers"),
    pytest.param(setter(c0, image=""), "Required", "spec.containers[0].image",
                 id="image-required"),
    pytest.param(setter(c0, image=" nginx"), "Invalid", "spec.containers[0].image",
                 id="image-whitespace"),
    pytest.param(setter(c0, imagePullPolicy="Sometimes"), "NotSupported",
                 "spec.containers[0].imagePullPolicy", id="pull-policy-enum"),
    pytest.param(setter(c0, ports=[{"containerPort": 0}]), "Required",
                 "spec.containers[0].ports[0].containerPort", id="container-port-required"),
    pytest.param(setter(c0, ports=[{"containerPort": 65536}]), "Invalid",
                 "spec.containers[0].ports[0].containerPort", id="container-port-range"),
    pytest.param(setter(c0, ports=[{"containerPort": 80, "hostPort": 70000}]), "Invalid",
                 "spec.containers[0].ports[0].hostPort", id="host-port-range"),
    pytest.param(setter(c0, ports=[{"containerPort": 80, "name": "web", "protocol": "TCP"},
                                   {"containerPort": 81, "name": "web", "protocol": "TCP"}]),
                 "Duplicate", "spec.containers[0].ports[1].name", id="port-name-unique"),
    pytest.param(setter(c0, ports=[{"containerPort": 80, "name": "a-very-long-port-name"}]),
                 "Invalid", "spec.containers[0].ports[0].name", id="port-name-iana"),
    pytest.param(setter(c0, ports=[{"containerPort": 80, "protocol": "ICMP"}]), "NotSupported",
                 "spec.containers[0].ports[0].protocol", id="port-protocol-enum"),
    pytest.param(setter(c0, env=[{"name": "A=B", "value": "1"}]), "Invalid",
                 "spec.containers[0].env[0].name", id="env-name"),
    pytest.param(setter(c0, env=[{"name": "", "value": "1"}]), "Required",
                 "spec.containers[0].env[0].name", id="env-name-required"),
    pytest.param(setter(c0, env=[{"name": "A", "value": "1", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "k"}}}]), "Invalid",
        "spec.containers[0].env[0].valueFrom", id="env-value-and-value-from"),
    pytest.param(setter(c0, env=[{"name": "A", "valueFrom": {
        "fieldRef": {"fieldPath": "spec.hostname"}}}]), "NotSupported",
        "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", id="env-field-path"),
    pytest.param(setter(c0, env=[{"name": "A", "valueFrom": {
        "configMapKeyRef": {"name": "c", "key": "bad key"}}}]), "Invalid",
        "spec.containers[0].env[0].valueFrom.configMapKeyRef.key", id="env-config-map-key"),
    pytest.param(setter(c0, envFrom=[{}]), "Invalid", "spec.containers[0].envFrom[0]",
                 id="env-from-source-required"),
    pytest.param(setter(c0, resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}),
                 "Invalid", "spec.containers[0].resources.requests",
                 id="requests-above-limits"),
    pytest.param(setter(c0, resources={"requests": {"memory": "-1Mi"}}), "Invalid",
                 "spec.containers[0].resources.requests[memory]", id="negative-quantity"),
    pytest.param(setter(c0, resources={"requests": {"memory": "lots"}}), "Invalid",
                 "spec.containers[0].resources.requests[memory]", id="unparsable-quantity"),
    pytest.param(setter(c0, resources={"requests": {"gpu": "1"}}), "Invalid",
                 "spec.containers[0].resources.requests[gpu]", id="non-standard-resource"),
    pytest.param(setter(c0, resources={"limits": {"example.com/gpu": "1.5"}}), "Invalid",
                 ("spec.containers[0].resources.limits[example.com/gpu]",
                  "spec.containers[0].resources.requests[example.com/gpu]"),
                 id="extended-resource-integer-and-requests-copied-from-limits"),
    pytest.param(setter(c0, livenessProbe={"periodSeconds": 10}), "Required",
                 "spec.containers[0].livenessProbe", id="probe-handler-required"),
    pytest.param(setter(c0, livenessProbe={"exec": {"command": ["true"]},
                                           "tcpSocket": {"port": 80}}), "Forbidden",
                 "spec.containers[0].livenessProbe.tcpSocket", id="probe-one-handler"),
    pytest.param(setter(c0, livenessProbe={"tcpSocket": {"port": 80},
                                           "initialDelaySeconds": -1}), "Invalid",
                 "spec.containers[0].livenessProbe.initialDelaySeconds",
                 id="probe-delay-non-negative"),
    pytest.param(setter(c0, livenessProbe={"tcpSocket": {"port": 80}, "successThreshold": 2}),
                 "Invalid", "spec.containers[0].livenessProbe.successThreshold",
                 id="liveness-success-threshold-one"),
    pytest.param(setter(c0, readinessProbe={"httpGet": {"port": 0}}), "Invalid",
                 "spec.containers[0].readinessProbe.httpGet.port", id="probe-port"),
    pytest.param(setter(c0, readinessProbe={"httpGet": {"port": 80, "scheme": "FTP"}}),
                 "NotSupported", "spec.containers[0].readinessProbe.httpGet.scheme",
                 id="probe-scheme"),
    pytest.param(setter(c0, lifecycle={"preStop": {}}), "Required",
                 "spec.containers[0].lifecycle.preStop", id="lifecycle-handler"),
    pytest.param(lambda s: s.update(initContainers=[{"name": "init", "image": "busybox",
                                                     "readinessProbe": {"exec": {
                                                         "command": ["true"]}}}]),
                 "Forbidden", "spec.initContainers[0].readinessProbe",
                 id="init-container-probe-needs-sidecar"),
    pytest.param(lambda s: s.update(initContainers=[{"name": "init", "image": "busybox",
                                                     "restartPolicy": "OnFailure"}]),
                 "NotSupported", "spec.initContainers[0].restartPolicy",
                 id="init-container-restart-policy"),
    pytest.param(setter(c0, restartPolicy="Always"), "Forbidden",
                 "spec.containers[0].restartPolicy", id="container-restart-policy"),
    pytest.param(setter(c0, volumeMounts=[{"name": "missing", "mountPath": "/x"}]), "NotFound",
                 "spec.containers[0].volumeMounts[0].name", id="mount-refers-to-volume"),
    pytest.param(setter(c0, volumeMounts=[{"name": "data", "mountPath": "/x"},
                                          {"name": "data", "mountPath": "/x"}]), "Invalid",
                 "spec.containers[0].volumeMounts[1].mountPath", id="mount-path-unique"),
    pytest.param(lambda s: s["volumes"].append({"name": "data", "emptyDir": {}}), "Duplicate",
                 "spec.volumes[1].name", id="volume-name-unique"),
    pytest.param(lambda s: s["volumes"].append({"name": "Bad", "emptyDir": {}}), "Invalid",
                 "spec.volumes[1].name", id="volume-name-dns-label"),
    pytest.param(lambda s: s["volumes"].append({"name": "two", "emptyDir": {},
                                                "hostPath": {"path": "/x"}}), "Forbidden",
                 "spec.volumes[1].hostPath", id="one-volume-source"),
    pytest.param(lambda s: s["volumes"].append({"name": "c", "configMap": {}}), "Required",
                 "spec.volumes[1].configMap.name", id="config-map-volume-name"),
    pytest.param(lambda s: s["volumes"].append({"name": "s", "secret": {
        "secretName": "s", "defaultMode": 1000}}), "Invalid",
        "spec.volumes[1].secret.defaultMode", id="volume-default-mode"),
    pytest.param(lambda s: s["volumes"].append({"name": "c", "persistentVolumeClaim": {}}),
                 "Required", "spec.volumes[1].persistentVolumeClaim.claimName",
                 id="pvc-claim-name"),
    pytest.param(lambda s: s.update(restartPolicy="Sometimes"), "NotSupported",
                 "spec.restartPolicy", id="restart-policy-enum"),
    pytest.param(lambda s: s.update(dnsPolicy="Google"), "NotSupported", "spec.dnsPolicy",
                 id="dns-policy-enum"),
    pytest.param(lambda s: s.update(dnsPolicy="None"), "Required", "spec.dnsConfig",
                 id="dns-none-needs-config"),
    pytest.param(lambda s: s.update(dnsConfig={"nameservers": ["1.1.1.1", "bad"]}), "Invalid",
                 "spec.dnsConfig.nameservers[1]", id="dns-nameserver-ip"),
    pytest.param(lambda s: s.update(terminationGracePeriodSeconds=-1), "Invalid",
                 "spec.terminationGracePeriodSeconds", id="grace-period-non-negative"),
    pytest.param(lambda s: s.update(activeDeadlineSeconds=0), "Invalid",
                 "spec.activeDeadlineSeconds", id="active-deadline-positive"),
    pytest.param(lambda s: s.update(nodeSelector={"disk": "ss d"}), "Invalid",
                 "spec.nodeSelector", id="node-selector-labels"),
    pytest.param(lambda s: s.update(nodeName="Node_1"), "Invalid", "spec.nodeName",
                 id="node-name-subdomain"),
    pytest.param(lambda s: s.update(hostname="a.b"), "Invalid", "spec.hostname",
                 id="hostname-label"),
    pytest.param(lambda s: s.update(serviceAccountName="Bad"), "Invalid",
                 "spec.serviceAccountName", id="service-account-name"),
    pytest.param(lambda s: s.update(tolerations=[{"key": "k", "operator": "Maybe"}]),
                 "NotSupported", "spec.tolerations[0].operator", id="toleration-operator"),
    pytest.param(lambda s: s.update(tolerations=[{"key": "k", "effect": "Evict"}]),
                 "NotSupported", "spec.tolerations[0].effect", id="toleration-effect"),
    pytest.param(lambda s: s.update(tolerations=[{"operator": "Equal", "value": "v"}]),
                 "Invalid", "spec.tolerations[0].operator", id="toleration-empty-key-exists"),
    pytest.param(lambda s: s.update(tolerations=[{"key": "k", "operator": "Exists",
                                                  "value": "v"}]),
                 "Invalid", "spec.tolerations[0].operator", id="toleration-exists-no-value"),
    pytest.param(lambda s: s.update(tolerations=[{"key": "k", "operator": "Exists",
                                                  "effect": "NoSchedule",
                                                  "tolerationSeconds": 5}]),
                 "Invalid", "spec.tolerations[0].effect", id="toleration-seconds-no-execute"),
    pytest.param(lambda s: s.update(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
        "Required", "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms", id="node-affinity-terms"),
    pytest.param(lambda s: s.update(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "Near"}]}]}}}),
        "Invalid", "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].operator", id="node-affinity-operator"),
    pytest.param(lambda s: s.update(affinity={"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 101, "podAffinityTerm": {"topologyKey": "zone"}}]}}),
        "Invalid", "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuring"
        "Execution[0].weight", id="affinity-weight"),
    pytest.param(lambda s: s.update(affinity={"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}),
        "Required", "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuring"
        "Execution[0].topologyKey", id="pod-affinity-topology-key"),
    pytest.param(lambda s: s.update(topologySpreadConstraints=[
        {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]),
        "Invalid", "spec.topologySpreadConstraints[0].maxSkew", id="spread-max-skew"),
    pytest.param(lambda s: s.update(topologySpreadConstraints=[
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Never"}]),
        "NotSupported", "spec.topologySpreadConstraints[0].whenUnsatisfiable",
        id="spread-when-unsatisfiable"),
    pytest.param(lambda s: s.update(schedulingGates=[{"name": "a.io/g"}, {"name": "a.io/g"}]),
                 "Duplicate", "spec.schedulingGates[1]", id="scheduling-gates-unique"),
    pytest.param(lambda s: s.update(ephemeralContainers=[{"name": "debug", "image": "x"}]),
                 "Forbidden", "spec.ephemeralContainers", id="no-ephemeral-on-create"),
]


@pytest.mark.parametrize("edit, error_type, field", BAD)
def test_bad_pod_reports_upstream_field(edit, error_type: str, field) -> None:
    errs = validate_create(PODS, pod(edit))
    fields = field if isinstance(field, tuple) else (field,)
    assert [(e.type, e.field) for e in errs] == [(error_type, f) for f in fields], errs


def test_request_above_limit_message_matches_kubectl() -> None:
    errs = validate_create(PODS, pod(setter(c0, resources={"requests": {"cpu": "2"},
                                                          "limits": {"cpu": "1"}})))
    assert str(errs[0]) == ('spec.containers[0].resources.requests: Invalid value: "2": must be '
                            'less than or equal to cpu limit of 1')


def test_restart_policy_message_lists_supported_values() -> None:
    errs = validate_create(PODS, pod(lambda s: s.update(restartPolicy="Sometimes")))
    assert str(errs[0]) == ('spec.restartPolicy: Unsupported value: "Sometimes": supported '
                            'values: "Always", "OnFailure", "Never"')


def test_sidecar_init_container_may_have_probes() -> None:
    sidecar = {"name": "proxy", "image": "envoy", "restartPolicy": "Always",
               "readinessProbe": {"tcpSocket": {"port": 15000}}}
    assert validate_create(PODS, pod(lambda s: s.update(initContainers=[sidecar]))) == []


def updated(edit) -> list:
    old = pod()
    new = copy.deepcopy(old)
    edit(new["spec"])
    return validate_update(PODS, new, old)


@pytest.mark.parametrize("edit", [
    pytest.param(setter(c0, image="nginx:1.28"), id="image"),
    pytest.param(lambda s: s.update(activeDeadlineSeconds=30), id="set-deadline"),
    pytest.param(lambda s: s["tolerations"].append({"key": "a", "operator": "Exists"}),
                 id="add-toleration"),
    pytest.param(lambda s: s["tolerations"][0].update(tolerationSeconds=10),
                 id="change-toleration-seconds"),
])
def test_pod_update_allows_mutable_fields(edit) -> None:
    assert updated(edit) == []


@pytest.mark.parametrize("edit, error_type, field", [
    pytest.param(setter(c0, ports=[{"containerPort": 8080, "protocol": "TCP"}]), "Forbidden",
                 "spec", id="ports-immutable"),
    pytest.param(lambda s: s.update(nodeName="node-2"), "Forbidden", "spec",
                 id="node-name-immutable"),
    pytest.param(lambda s: s["containers"].append({"name": "b", "image": "x",
                                                   "imagePullPolicy": "Always",
                                                   "terminationMessagePolicy": "File"}),
                 "Forbidden", "spec.containers", id="add-container"),
    pytest.param(lambda s: s.update(tolerations=[]), "Forbidden", "spec.tolerations",
                 id="remove-toleration"),
    pytest.param(lambda s: s.update(schedulingGates=[{"name": "a.io/new"}]), "Forbidden",
                 "spec.schedulingGates", id="add-scheduling-gate"),
])
def test_pod_update_forbids_other_spec_changes(edit, error_type: str, field: str) -> None:
    errs = updated(edit)
    assert [(e.type, e.field) for e in errs] == [(error_type, field)], errs


def test_pod_update_message_names_mutable_fields_and_diff() -> None:
    (err,) = updated(setter(c0, ports=[{"containerPort": 8080, "protocol": "TCP"}]))
    assert err.detail.startswith(POD_UPDATE_FORBIDDEN + "\n")
    assert "containers[0].ports[0].containerPort" in err.detail
    assert str(err).startswith("spec: Forbidden: pod updates may not change fields other than "
                               "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                               "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions"
                               " to existing tolerations),`spec.terminationGracePeriodSeconds` "
                               "(allow it to be set to 1 if it was previously negative)")


def test_pod_update_deadline_may_only_decrease() -> None:
    old = pod(lambda s: s.update(activeDeadlineSeconds=30))
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 60
    assert [str(e) for e in validate_update(PODS, new, old)] == [
        "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous "
        "value"]
    new["spec"]["activeDeadlineSeconds"] = 10
    assert validate_update(PODS, new, old) == []


def status_update(old_status: dict, new_status: dict, *, restart: str = "Always") -> list:
    old = pod(lambda s: s.update(restartPolicy=restart, nodeName="node-1"))
    old["status"] = old_status
    new = copy.deepcopy(old)
    new["status"] = new_status
    return validate_status_update(PODS, new, old)


TERMINATED = {"containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0}}}]}
RUNNING = {"containerStatuses": [{"name": "app", "state": {"running": {}}}]}


@pytest.mark.parametrize("old, new, restart, fields", [
    pytest.param(TERMINATED, RUNNING, "Never", ["status.containerStatuses[0].state"],
                 id="never-restart-stays-terminated"),
    pytest.param(TERMINATED, RUNNING, "OnFailure", ["status.containerStatuses[0].state"],
                 id="on-failure-success-stays-terminated"),
    pytest.param(TERMINATED, RUNNING, "Always", [], id="always-may-restart"),
    pytest.param({}, {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.300"}]}, "Always",
                 ["status.podIPs[0].ip", "status.podIP"], id="pod-ip-valid-and-matching"),
    pytest.param({}, {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.1"}]}, "Always",
                 ["status.podIPs[1].ip"], id="pod-ips-unique"),
    pytest.param({}, {"nominatedNodeName": "Node_2"}, "Always", ["status.nominatedNodeName"],
                 id="nominated-node-name"),
    pytest.param({}, {"conditions": [{"type": "bad type", "status": "True"}]}, "Always",
                 ["status.conditions[0].Type"], id="custom-condition-type"),
])
def test_pod_status_update_rules(old, new, restart, fields) -> None:
    assert [e.field for e in status_update(old, new, restart=restart)] == fields


def test_pod_status_update_may_not_move_node_name() -> None:
    old = pod(lambda s: s.update(nodeName="node-1"))
    new = copy.deepcopy(old)
    new["spec"]["nodeName"] = "node-2"
    assert [str(e) for e in validate_status_update(PODS, new, old)] == [
        "status.nodeName: Forbidden: may not be changed directly"]
