"""apply_defaults: upstream 1.32 defaults per kind (a minimal manifest in, fields out)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from kubemu.cluster.api.defaults import apply_defaults, job_selector_defaults
from kubemu.cluster.api.defaults_pod import image_pull_policy
from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.registry import builtin_registry, resource_from_crd

REGISTRY = builtin_registry()
MISSING = object()


def resource(api_version: str, kind: str):
    r = REGISTRY.by_kind(api_version, kind)
    assert r is not None, kind
    return r


def get(obj: Any, path: str) -> Any:
    """`spec.containers[0].image` -> value, or MISSING."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            if not isinstance(obj, list) or i >= len(obj):
                return MISSING
            obj = obj[i]
        else:
            if not isinstance(obj, dict) or part not in obj:
                return MISSING
            obj = obj[part]
    return obj


def container(**extra: Any) -> dict:
    return {"name": "app", "image": "nginx:1.27", **extra}


def pod(**spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [container()], **spec}}


def template(**spec: Any) -> dict:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [container()], **spec}}


def workload(api_version: str, kind: str, **spec: Any) -> dict:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "w", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(),
                     **spec}}


def defaulted(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    apply_defaults(resource(obj["apiVersion"], obj["kind"]), obj)
    return obj


POD_SPEC = {
    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler", "securityContext": {},
}
CONTAINER = {
    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    "imagePullPolicy": "IfNotPresent", "resources": {},
}

CASES = [
    pytest.param(pod(), {
        **{f"spec.{k}": v for k, v in POD_SPEC.items()},
        **{f"spec.containers[0].{k}": v for k, v in CONTAINER.items()},
        "spec.enableServiceLinks": True, "spec.serviceAccountName": "default",
        "spec.serviceAccount": "default", "spec.priority": 0,
        "spec.preemptionPolicy": "PreemptLowerPriority",
        "spec.tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}],
    }, id="pod-spec-and-container"),
    pytest.param(pod(containers=[container(
        ports=[{"containerPort": 80}],
        resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
        livenessProbe={"httpGet": {"port": 80}},
        readinessProbe={"tcpSocket": {"port": 80}, "periodSeconds": 5},
        env=[{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}])]), {
        "spec.containers[0].ports[0].protocol": "TCP",
        "spec.containers[0].resources.requests": {"cpu": "500m", "memory": "1Gi"},
        "spec.containers[0].livenessProbe": {
            "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
            "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
        "spec.containers[0].readinessProbe.periodSeconds": 5,
        "spec.containers[0].env[0].valueFrom.fieldRef.apiVersion": "v1",
    }, id="pod-ports-requests-from-limits-probes-env"),
    pytest.param(pod(serviceAccountName="builder", priorityClassName="system-node-critical",
                     restartPolicy="Never", tolerations=[{"operator": "Exists"}]), {
        "spec.serviceAccount": "builder", "spec.priority": 2000001000,
        "spec.restartPolicy": "Never", "spec.tolerations": [{"operator": "Exists"}],
    }, id="pod-keeps-given-values-and-wildcard-toleration"),
    pytest.param(pod(priorityClassName="high"), {
        "spec.priority": MISSING, "spec.preemptionPolicy": MISSING,
    }, id="pod-user-priority-class-left-to-handler"),
    pytest.param(pod(hostNetwork=True, containers=[container(ports=[{"containerPort": 53}])]), {
        "spec.containers[0].ports[0].hostPort": 53,
    }, id="pod-host-network-host-port"),
    pytest.param(pod(volumes=[{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}},
                              {"name": "sec", "secret": {"secretName": "s"}},
                              {"name": "host", "hostPath": {"path": "/data"}},
                              {"name": "tok", "projected": {"sources": [
                                  {"serviceAccountToken": {"path": "token"}}]}}]), {
        "spec.volumes[0].emptyDir": {}, "spec.volumes[1].configMap.defaultMode": 420,
        "spec.volumes[2].secret.defaultMode": 420, "spec.volumes[3].hostPath.type": "",
        "spec.volumes[4].projected.defaultMode": 420,
        "spec.volumes[4].projected.sources[0].serviceAccountToken.expirationSeconds": 3600,
    }, id="pod-volumes"),
    pytest.param(workload("apps/v1", "Deployment"), {
        "spec.replicas": 1, "spec.revisionHistoryLimit": 10,
        "spec.progressDeadlineSeconds": 600,
        "spec.strategy": {"type": "RollingUpdate",
                          "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "spec.minReadySeconds": MISSING,
        **{f"spec.template.spec.{k}": v for k, v in POD_SPEC.items()},
        **{f"spec.template.spec.containers[0].{k}": v for k, v in CONTAINER.items()},
        "spec.template.spec.enableServiceLinks": MISSING,
        "spec.template.spec.serviceAccountName": MISSING,
        "spec.template.spec.tolerations": MISSING,
    }, id="deployment-and-template-without-pod-only-defaults"),
    pytest.param(workload("apps/v1", "Deployment", strategy={"type": "Recreate"}), {
        "spec.strategy": {"type": "Recreate"},
    }, id="deployment-recreate-has-no-rolling-update"),
    pytest.param(workload("apps/v1", "ReplicaSet"), {"spec.replicas": 1},
                 id="replicaset"),
    pytest.param(workload("apps/v1", "StatefulSet", serviceName="web", volumeClaimTemplates=[
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "1Gi"}}}}]),
        {"spec.replicas": 1, "spec.podManagementPolicy": "OrderedReady",
         "spec.updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
         "spec.revisionHistoryLimit": 10,
         "spec.persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                       "whenScaled": "Retain"},
         "spec.volumeClaimTemplates[0].apiVersion": "v1",
         "spec.volumeClaimTemplates[0].kind": "PersistentVolumeClaim",
         "spec.volumeClaimTemplates[0].spec.volumeMode": "Filesystem",
         "spec.volumeClaimTemplates[0].status.phase": "Pending",
         "spec.template.spec.restartPolicy": "Always"}, id="statefulset"),
    pytest.param(workload("apps/v1", "DaemonSet"), {
        "spec.updateStrategy": {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "spec.revisionHistoryLimit": 10,
    }, id="daemonset"),
    pytest.param({"apiVersion": "batch/v1", "kind": "Job",
                  "metadata": {"name": "pi", "namespace": "default"},
                  "spec": {"template": {"spec": {"containers": [container()],
                                                 "restartPolicy": "Never"}}}}, {
        "spec.completions": 1, "spec.parallelism": 1, "spec.backoffLimit": 6,
        "spec.completionMode": "NonIndexed", "spec.suspend": False,
        "spec.podReplacementPolicy": "TerminatingOrFailed", "spec.manualSelector": MISSING,
        "spec.selector": MISSING, "spec.template.spec.restartPolicy": "Never",
        "spec.template.spec.dnsPolicy": "ClusterFirst",
    }, id="job"),
    pytest.param({"apiVersion": "batch/v1", "kind": "Job",
                  "metadata": {"name": "pi", "namespace": "default"},
                  "spec": {"parallelism": 3, "template": {
                      "metadata": {"labels": {"app": "pi"}},
                      "spec": {"containers": [container()], "restartPolicy": "Never"}}}}, {
        "spec.completions": MISSING, "spec.parallelism": 3,
        "metadata.labels": {"app": "pi"},
    }, id="job-work-queue-keeps-completions-unset-and-copies-labels"),
    pytest.param({"apiVersion": "batch/v1", "kind": "CronJob",
                  "metadata": {"name": "hello", "namespace": "default"},
                  "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
                      "spec": {"containers": [container()], "restartPolicy": "OnFailure"}}}}}}, {
        "spec.concurrencyPolicy": "Allow", "spec.suspend": False,
        "spec.successfulJobsHistoryLimit": 3, "spec.failedJobsHistoryLimit": 1,
        "spec.jobTemplate.spec.backoffLimit": MISSING,
        "spec.jobTemplate.spec.template.spec.dnsPolicy": "ClusterFirst",
        "spec.jobTemplate.spec.template.spec.containers[0].imagePullPolicy": "IfNotPresent",
    }, id="cronjob"),
    pytest.param({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "web", "namespace": "default"},
                  "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, {
        "spec.type": "ClusterIP", "spec.sessionAffinity": "None",
        "spec.ports[0].protocol": "TCP", "spec.ports[0].targetPort": 80,
        "spec.internalTrafficPolicy": "Cluster", "spec.ipFamilyPolicy": "SingleStack",
        "spec.ipFamilies": ["IPv4"], "spec.externalTrafficPolicy": MISSING,
        "spec.clusterIP": MISSING, "spec.clusterIPs": MISSING,
    }, id="service-cluster-ip"),
    pytest.param({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "web", "namespace": "default"},
                  "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                           "ports": [{"port": 80, "targetPort": "http"}],
                           "sessionAffinity": "ClientIP"}}, {
        "spec.externalTrafficPolicy": "Cluster", "spec.allocateLoadBalancerNodePorts": True,
        "spec.ports[0].targetPort": "http",
        "spec.sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
    }, id="service-load-balancer-client-ip"),
    pytest.param({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "db", "namespace": "default"},
                  "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}}, {
        "spec.clusterIPs": ["None"], "spec.ipFamilyPolicy": "RequireDualStack",
        "spec.ipFamilies": ["IPv4"],
    }, id="service-headless-selectorless"),
    pytest.param({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "ext", "namespace": "default"},
                  "spec": {"type": "ExternalName", "externalName": "example.com"}}, {
        "spec.sessionAffinity": "None", "spec.ipFamilyPolicy": MISSING,
        "spec.ipFamilies": MISSING, "spec.internalTrafficPolicy": MISSING,
    }, id="service-external-name"),
    pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}, {
        "metadata.labels": {"kubernetes.io/metadata.name": "team-a"},
        "spec.finalizers": ["kubernetes"], "status.phase": "Active",
    }, id="namespace"),
    pytest.param({"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "s", "namespace": "default"},
                  "data": {"a": "YQ=="}, "stringData": {"b": "hello", "a": "x"}}, {
        "type": "Opaque", "data": {"a": "eA==", "b": "aGVsbG8="}, "stringData": MISSING,
    }, id="secret-opaque-and-string-data"),
    pytest.param({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
                  "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                           "hostPath": {"path": "/data"}}}, {
        "spec.persistentVolumeReclaimPolicy": "Retain", "spec.volumeMode": "Filesystem",
        "spec.hostPath.type": "", "status.phase": "Pending",
    }, id="persistentvolume"),
    pytest.param({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": "c", "namespace": "default"},
                  "spec": {"accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": "1Gi"}}}}, {
        "spec.volumeMode": "Filesystem", "status.phase": "Pending",
    }, id="persistentvolumeclaim"),
    pytest.param({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                  "status": {"capacity": {"cpu": "4", "memory": "8Gi"}}}, {
        "status.allocatable": {"cpu": "4", "memory": "8Gi"},
    }, id="node-allocatable-from-capacity"),
    pytest.param({"apiVersion": "v1", "kind": "Endpoints",
                  "metadata": {"name": "e", "namespace": "default"},
                  "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}, {
        "subsets[0].ports[0].protocol": "TCP",
    }, id="endpoints"),
    pytest.param({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": "e", "namespace": "default"}, "addressType": "IPv4",
                  "endpoints": [], "ports": [{"port": 80}]}, {
        "ports[0]": {"port": 80, "name": "", "protocol": "TCP"},
    }, id="endpointslice-ports"),
    pytest.param({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "np", "namespace": "default"},
                  "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}}, {
        "spec.policyTypes": ["Ingress"], "spec.ingress[0].ports[0].protocol": "TCP",
    }, id="networkpolicy-ingress-only"),
    pytest.param({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "np", "namespace": "default"},
                  "spec": {"podSelector": {}, "egress": [{}]}}, {
        "spec.policyTypes": ["Ingress", "Egress"],
    }, id="networkpolicy-with-egress"),
    pytest.param({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                  "metadata": {"name": "high"}, "value": 1000}, {
        "preemptionPolicy": "PreemptLowerPriority",
    }, id="priorityclass"),
    pytest.param({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                  "metadata": {"name": "pdb", "namespace": "default"},
                  "spec": {"minAvailable": 1}}, {
        "spec.unhealthyPodEvictionPolicy": MISSING,
    }, id="pdb-has-no-defaults"),
    pytest.param({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                  "metadata": {"name": "rb", "namespace": "default"},
                  "roleRef": {"kind": "Role", "name": "r"},
                  "subjects": [{"kind": "User", "name": "jane"},
                               {"kind": "ServiceAccount", "name": "sa"}]}, {
        "roleRef.apiGroup": "rbac.authorization.k8s.io",
        "subjects[0].apiGroup": "rbac.authorization.k8s.io", "subjects[1].apiGroup": "",
    }, id="rolebinding"),
    pytest.param({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                  "metadata": {"name": "crontabs.stable.example.com"},
                  "spec": {"group": "stable.example.com", "scope": "Namespaced",
                           "names": {"plural": "crontabs", "kind": "CronTab"},
                           "versions": [{"name": "v1", "served": True, "storage": True}]}}, {
        "spec.names.singular": "crontab", "spec.names.listKind": "CronTabList",
        "spec.conversion": {"strategy": "None"}, "status.storedVersions": ["v1"],
    }, id="crd"),
]


@pytest.mark.parametrize("manifest, expected", CASES)
def test_apply_defaults_fills_upstream_values(manifest: dict, expected: dict) -> None:
    obj = defaulted(manifest)
    for path, value in expected.items():
        assert get(obj, path) == value, path


@pytest.mark.parametrize("manifest", [case.values[0] for case in CASES],
                         ids=[case.id for case in CASES])
def test_apply_defaults_is_idempotent(manifest: dict) -> None:
    once = defaulted(manifest)
    assert defaulted(once) == once


@pytest.mark.parametrize("kind", [
    pytest.param("ConfigMap", id="configmap"), pytest.param("Event", id="event"),
    pytest.param("Lease", id="lease"), pytest.param("ServiceAccount", id="serviceaccount"),
])
def test_kinds_without_defaults_are_left_alone(kind: str) -> None:
    api_version = "coordination.k8s.io/v1" if kind == "Lease" else "v1"
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "d"}}
    assert defaulted(obj) == obj


def test_custom_resources_are_not_defaulted() -> None:
    crd = {"spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True}]}}
    (r,) = resource_from_crd(crd)
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
           "spec": {"containers": []}}
    before = copy.deepcopy(obj)
    apply_defaults(r, obj)
    assert obj == before


@pytest.mark.parametrize("image, policy", [
    pytest.param("nginx", "Always", id="untagged"),
    pytest.param("nginx:latest", "Always", id="latest"),
    pytest.param("nginx:1.27", "IfNotPresent", id="tagged"),
    pytest.param("registry.local:5000/team/app", "Always", id="registry-port-untagged"),
    pytest.param("registry.local:5000/team/app:v2", "IfNotPresent", id="registry-port-tagged"),
    pytest.param("nginx@sha256:" + "a" * 64, "IfNotPresent", id="digest"),
    pytest.param("nginx:latest@sha256:" + "a" * 64, "Always", id="latest-with-digest"),
    pytest.param("", "IfNotPresent", id="empty"),
    pytest.param("Nginx", "IfNotPresent", id="invalid-reference"),
])
def test_image_pull_policy_follows_tag(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def job(labels: dict | None = None, *, job_labels: dict | None = None,
        manual: bool | None = None, selector: dict | None = None) -> dict:
    meta: dict = {"name": "pi", "namespace": "default"}
    if job_labels is not None:
        meta["labels"] = job_labels
    tmeta = {"labels": labels} if labels is not None else {}
    spec: dict = {"template": {"metadata": tmeta, "spec": {
        "containers": [container()], "restartPolicy": "Never"}}}
    if manual is not None:
        spec["manualSelector"] = manual
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


GENERATED = {"batch.kubernetes.io/job-name": "pi", "job-name": "pi",
             "batch.kubernetes.io/controller-uid": "u1", "controller-uid": "u1"}


@pytest.mark.parametrize("manifest, selector, template_labels, job_labels", [
    pytest.param(job(), {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                 GENERATED, GENERATED, id="no-labels"),
    pytest.param(job({"app": "pi"}),
                 {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                 {"app": "pi", **GENERATED}, {"app": "pi", **GENERATED},
                 id="template-labels-shared-with-job"),
    pytest.param(job({"app": "pi"}, job_labels={"team": "x"}),
                 {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                 {"app": "pi", **GENERATED}, {"team": "x"}, id="own-job-labels-kept"),
    pytest.param(job({"app": "pi"}, manual=True, selector={"matchLabels": {"app": "pi"}}),
                 {"matchLabels": {"app": "pi"}}, {"app": "pi"}, MISSING,
                 id="manual-selector-untouched"),
])
def test_job_selector_defaults_generates_uid_selector_and_labels(
        manifest: dict, selector: dict, template_labels: dict, job_labels: Any) -> None:
    obj = defaulted(manifest)
    if job_labels is MISSING and "labels" in obj["metadata"]:
        job_labels = obj["metadata"]["labels"]
    job_selector_defaults(obj, "u1")
    assert obj["spec"]["selector"] == selector
    assert obj["spec"]["template"]["metadata"]["labels"] == template_labels
    assert get(obj, "metadata.labels") == job_labels


def test_job_selector_defaults_keeps_user_labels_for_validation_to_judge() -> None:
    obj = defaulted(job({"controller-uid": "wrong"}))
    job_selector_defaults(obj, "u1")
    assert obj["spec"]["template"]["metadata"]["labels"]["controller-uid"] == "wrong"
    assert obj["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": "u1"}


@pytest.mark.parametrize("spec", [
    pytest.param({"containers": "nginx"}, id="string-for-list"),
    pytest.param({"containers": [{"name": "a", "image": "b", "ports": "80"}]},
                 id="string-for-port-list"),
    pytest.param({"volumes": [None]}, id="null-volume"),
])
def test_wrongly_typed_body_is_a_bad_request(spec: dict) -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d"},
           "spec": spec}
    with pytest.raises(BadRequest) as err:
        apply_defaults(resource("v1", "Pod"), obj)
    assert err.value.message.startswith('Pod in version "v1" cannot be handled as a Pod: ')
