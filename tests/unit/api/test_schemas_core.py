"""The meta/v1 and core/v1 OpenAPI schemas: references resolve, kinds are complete, patch
metadata matches upstream, and real manifests use only fields the schemas define."""

from __future__ import annotations

from typing import Any

import pytest

from kubemu.cluster.api.registry import BUILTIN
from kubemu.cluster.api.schemas import core, core_pod, meta
from kubemu.cluster.api.schemas.dsl import DEFINITIONS, ref_name

CORE = core_pod.CORE
META = meta.META
MINE = [n for n in DEFINITIONS
        if n.startswith((CORE, META)) or n == meta.RAW_EXTENSION]


# ---- helpers ----------------------------------------------------------------------------

def _refs(node: Any) -> list[str]:
    """Every definition name referenced anywhere inside a schema fragment."""
    found = []
    if isinstance(node, dict):
        if "$ref" in node:
            found.append(node["$ref"].rsplit("/", 1)[1])
        for value in node.values():
            found += _refs(value)
    elif isinstance(node, list):
        for value in node:
            found += _refs(value)
    return found


def _resolve(schema: dict) -> dict:
    name = ref_name(schema)
    return DEFINITIONS[name] if name else schema


def _problems(value: Any, schema: dict, path: str = "") -> list[str]:
    """Fields of `value` the schema does not define, and values of the wrong JSON type."""
    schema = _resolve(schema)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if "oneOf" in schema or schema.get("x-kubernetes-int-or-string"):  # Quantity, IntOrString
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: not a scalar"]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        if "additionalProperties" in schema:
            return [p for k, v in value.items()
                    for p in _problems(v, schema["additionalProperties"], f"{path}.{k}")]
        props = schema.get("properties", {})
        return [p for k, v in value.items()
                for p in (_problems(v, props[k], f"{path}.{k}") if k in props
                          else [f"{path}.{k}: unknown field"])]
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        return [p for i, v in enumerate(value)
                for p in _problems(v, schema["items"], f"{path}[{i}]")]
    python = {"string": str, "integer": int, "boolean": bool, "number": (int, float)}[kind]
    ok = isinstance(value, python) and (kind == "boolean" or not isinstance(value, bool))
    return [] if ok else [f"{path}: not a {kind}"]


def _field(definition: str, field: str) -> dict:
    return DEFINITIONS[definition]["properties"][field]


# ---- references and kinds ---------------------------------------------------------------

def test_every_ref_in_meta_and_core_definitions_resolves():
    dangling = {(name, target) for name in MINE for target in _refs(DEFINITIONS[name])
                if target not in DEFINITIONS}
    assert not dangling


def test_every_definition_and_property_has_a_description():
    missing = [name for name in MINE if not DEFINITIONS[name].get("description")]
    missing += [f"{name}.{field}" for name in MINE
                for field, schema in DEFINITIONS[name].get("properties", {}).items()
                if not schema.get("description")]
    assert not missing


@pytest.mark.parametrize("kind", core.CORE_KINDS)
def test_core_kind_has_gvk_metadata_and_a_list(kind):
    schema = DEFINITIONS[CORE + kind]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "", "version": "v1", "kind": kind}]
    assert ref_name(schema["properties"]["metadata"]) == meta.OBJECT_META
    assert {"apiVersion", "kind"} <= set(schema["properties"])
    listed = DEFINITIONS[CORE + kind + "List"]
    assert listed["x-kubernetes-group-version-kind"] == [
        {"group": "", "version": "v1", "kind": kind + "List"}]
    assert ref_name(listed["properties"]["metadata"]) == meta.LIST_META
    assert ref_name(listed["properties"]["items"]["items"]) == CORE + kind
    assert listed["required"] == ["items"]


def test_every_served_core_resource_has_a_schema():
    served = {r.kind for r in BUILTIN if r.group == "" and r.version == "v1"}
    assert served == set(core.CORE_KINDS)


def test_binding_is_a_kind_without_a_list():
    schema = DEFINITIONS[CORE + "Binding"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "", "version": "v1", "kind": "Binding"}]
    assert ref_name(schema["properties"]["target"]) == core.OBJECT_REFERENCE
    assert CORE + "BindingList" not in DEFINITIONS


# ---- patch metadata, formats, required --------------------------------------------------

@pytest.mark.parametrize("definition,field,merge_key,strategy,list_type,map_keys", [
    pytest.param("PodSpec", "containers", "name", "merge", None, None, id="containers"),
    pytest.param("PodSpec", "initContainers", "name", "merge", None, None,
                 id="init-containers"),
    pytest.param("PodSpec", "volumes", "name", "merge,retainKeys", None, None, id="volumes"),
    pytest.param("PodSpec", "imagePullSecrets", "name", "merge", None, None,
                 id="image-pull-secrets"),
    pytest.param("PodSpec", "hostAliases", "ip", "merge", None, None, id="host-aliases"),
    pytest.param("PodSpec", "topologySpreadConstraints", "topologyKey", "merge", "map",
                 ["topologyKey", "whenUnsatisfiable"], id="topology-spread"),
    pytest.param("PodSpec", "tolerations", None, None, None, None,
                 id="tolerations-replace-whole"),
    pytest.param("Container", "env", "name", "merge", None, None, id="env"),
    pytest.param("Container", "ports", "containerPort", "merge", "map",
                 ["containerPort", "protocol"], id="container-ports"),
    pytest.param("Container", "volumeMounts", "mountPath", "merge", None, None,
                 id="volume-mounts"),
    pytest.param("Container", "command", None, None, "atomic", None, id="command-atomic"),
    pytest.param("PodStatus", "conditions", "type", "merge", "map", ["type"],
                 id="pod-conditions"),
    pytest.param("PodStatus", "podIPs", "ip", "merge", None, None, id="pod-ips"),
    pytest.param("NodeStatus", "conditions", "type", "merge", "map", ["type"],
                 id="node-conditions"),
    pytest.param("NodeStatus", "addresses", "type", "merge", "map", ["type"],
                 id="node-addresses"),
    pytest.param("NodeSpec", "taints", None, None, "atomic", None, id="taints-atomic"),
    pytest.param("ServiceSpec", "ports", "port", "merge", "map", ["port", "protocol"],
                 id="service-ports"),
    pytest.param("ServiceAccount", "secrets", "name", "merge", None, None, id="sa-secrets"),
    pytest.param(META + "ObjectMeta", "ownerReferences", "uid", "merge", "map", ["uid"],
                 id="owner-references"),
    pytest.param(META + "ObjectMeta", "finalizers", None, "merge", "set", None,
                 id="finalizers-set"),
])
def test_list_fields_carry_upstream_patch_metadata(definition, field, merge_key, strategy,
                                                   list_type, map_keys):
    name = definition if definition.startswith(META) else CORE + definition
    schema = _field(name, field)
    assert schema["type"] == "array"
    assert schema.get("x-kubernetes-patch-merge-key") == merge_key
    assert schema.get("x-kubernetes-patch-strategy") == strategy
    assert schema.get("x-kubernetes-list-type") == list_type
    assert schema.get("x-kubernetes-list-map-keys") == map_keys


def test_list_map_keys_have_defaults_or_are_required():
    """Server-side apply needs every list-map key present: required, or defaulted."""
    for name in MINE:
        for field, schema in DEFINITIONS[name].get("properties", {}).items():
            item = _resolve(schema.get("items", {}))
            for key in schema.get("x-kubernetes-list-map-keys", []):
                assert key in item.get("required", []) or "default" in item["properties"][key], (
                    f"{name}.{field}: {key}")


@pytest.mark.parametrize("definition,field,fmt", [
    pytest.param("PodSpec", "terminationGracePeriodSeconds", "int64", id="grace-period"),
    pytest.param("PodSpec", "activeDeadlineSeconds", "int64", id="active-deadline"),
    pytest.param("Probe", "terminationGracePeriodSeconds", "int64", id="probe-grace"),
    pytest.param("Toleration", "tolerationSeconds", "int64", id="toleration-seconds"),
    pytest.param("SecurityContext", "runAsUser", "int64", id="run-as-user"),
    pytest.param("PodSecurityContext", "fsGroup", "int64", id="fs-group"),
    pytest.param(META + "ObjectMeta", "generation", "int64", id="generation"),
    pytest.param(META + "DeleteOptions", "gracePeriodSeconds", "int64", id="delete-grace"),
    pytest.param("ContainerPort", "containerPort", "int32", id="container-port"),
    pytest.param("PodSpec", "priority", "int32", id="priority"),
    pytest.param(META + "ObjectMeta", "creationTimestamp", "date-time", id="timestamp"),
    pytest.param("Event", "eventTime", "date-time", id="micro-time"),
])
def test_numeric_and_time_fields_carry_upstream_formats(definition, field, fmt):
    name = definition if definition.startswith(META) else CORE + definition
    assert _field(name, field)["format"] == fmt


@pytest.mark.parametrize("definition,required", [
    pytest.param("Container", ["name"], id="container"),
    pytest.param("PodSpec", ["containers"], id="pod-spec"),
    pytest.param("ServicePort", ["port"], id="service-port"),
    pytest.param("Toleration", [], id="toleration"),
    pytest.param("Taint", ["key", "effect"], id="taint"),
    pytest.param("ContainerPort", ["containerPort"], id="container-port"),
    pytest.param("EnvVar", ["name"], id="env-var"),
    pytest.param("Volume", ["name"], id="volume"),
    pytest.param("VolumeMount", ["name", "mountPath"], id="volume-mount"),
    pytest.param("Event", ["metadata", "involvedObject"], id="event"),
    pytest.param(META + "OwnerReference", ["apiVersion", "kind", "name", "uid"],
                 id="owner-reference"),
    pytest.param(META + "LabelSelectorRequirement", ["key", "operator"],
                 id="selector-requirement"),
])
def test_required_fields_match_upstream(definition, required):
    name = definition if definition.startswith(META) else CORE + definition
    assert DEFINITIONS[name].get("required", []) == required


def test_quantity_maps_and_int_or_string_ports_use_the_shared_types():
    limits = _field(CORE + "ResourceRequirements", "limits")["additionalProperties"]
    assert ref_name(limits) == "io.k8s.apimachinery.pkg.api.resource.Quantity"
    target = _field(CORE + "ServicePort", "targetPort")
    assert ref_name(target) == "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


# ---- real manifests ---------------------------------------------------------------------

_POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "name": "web-0", "generateName": "web-", "namespace": "default", "uid": "u-1",
        "resourceVersion": "42", "generation": 1,
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "labels": {"app": "web"}, "annotations": {"kubemu.io/ready-after": "2s"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                             "uid": "rs-1", "controller": True,
                             "blockOwnerDeletion": True}],
        "finalizers": ["example.com/cleanup"],
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                           "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}],
    },
    "spec": {
        "volumes": [
            {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            {"name": "config", "configMap": {"name": "web", "defaultMode": 420,
                                             "items": [{"key": "a", "path": "a.conf"}]}},
            {"name": "tls", "secret": {"secretName": "web-tls", "optional": True}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {"name": "info", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "token", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}},
            {"name": "nfs", "nfs": {"server": "10.0.0.1", "path": "/exports"}},
            {"name": "tmp", "ephemeral": {"volumeClaimTemplate": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}}},
        ],
        "initContainers": [{"name": "sidecar", "image": "envoy", "restartPolicy": "Always"}],
        "containers": [{
            "name": "web", "image": "nginx:1.27", "command": ["nginx"],
            "args": ["-g", "daemon off;"], "workingDir": "/srv",
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
            "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "web"}}],
            "env": [{"name": "MODE", "value": "prod"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {
                        "fieldPath": "status.podIP"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {
                        "resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {
                        "name": "db", "key": "password"}}}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": 1, "memory": "128Mi"}},
            "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
            "volumeMounts": [{"name": "config", "mountPath": "/etc/nginx/conf.d",
                              "readOnly": True, "subPath": "a.conf"}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http",
                                          "httpHeaders": [{"name": "X", "value": "1"}]},
                              "initialDelaySeconds": 3, "periodSeconds": 10,
                              "failureThreshold": 3},
            "readinessProbe": {"tcpSocket": {"port": 80}, "timeoutSeconds": 1},
            "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]},
                             "successThreshold": 1},
            "lifecycle": {"postStart": {"exec": {"command": ["true"]}},
                          "preStop": {"sleep": {"seconds": 5}}},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "stdin": False, "tty": False,
        }],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
        "activeDeadlineSeconds": 600, "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "web", "automountServiceAccountToken": False,
        "nodeName": "node-1", "hostNetwork": False, "shareProcessNamespace": True,
        "securityContext": {"fsGroup": 2000, "supplementalGroups": [3000],
                            "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
        "imagePullSecrets": [{"name": "registry"}],
        "hostname": "web-0", "subdomain": "web",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In",
                                           "values": ["a", "b"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchFields": [
                        {"key": "metadata.name", "operator": "NotIn",
                         "values": ["node-9"]}]}}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname"}}]},
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchExpressions": [
                    {"key": "tier", "operator": "Exists"}]},
                 "namespaceSelector": {}, "topologyKey": "topology.kubernetes.io/zone"}]},
        },
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 300}],
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["local"]}],
        "priorityClassName": "high", "priority": 1000,
        "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["svc.local"],
                      "options": [{"name": "ndots", "value": "2"}]},
        "readinessGates": [{"conditionType": "example.com/ready"}],
        "enableServiceLinks": False, "preemptionPolicy": "PreemptLowerPriority",
        "overhead": {"cpu": "10m"},
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule", "minDomains": 2,
            "labelSelector": {"matchLabels": {"app": "web"}},
            "matchLabelKeys": ["pod-template-hash"], "nodeTaintsPolicy": "Honor"}],
        "setHostnameAsFQDN": False, "os": {"name": "linux"},
        "schedulingGates": [{"name": "example.com/wait"}],
    },
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True",
                        "lastTransitionTime": "2024-01-01T00:00:05Z"}],
        "hostIP": "127.1.0.1", "hostIPs": [{"ip": "127.1.0.1"}],
        "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
        "startTime": "2024-01-01T00:00:01Z", "qosClass": "Burstable",
        "containerStatuses": [{
            "name": "web", "ready": True, "started": True, "restartCount": 2,
            "image": "nginx:1.27", "imageID": "sha256:abc",
            "containerID": "kubemu://web-0-web",
            "state": {"running": {"startedAt": "2024-01-01T00:00:04Z"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                         "finishedAt": "2024-01-01T00:00:03Z"}}}],
        "initContainerStatuses": [{
            "name": "sidecar", "ready": True, "restartCount": 0, "image": "envoy",
            "imageID": "", "state": {"waiting": {"reason": "ContainerCreating"}}}],
    },
}

_SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
    "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
             "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080,
                        "protocol": "TCP", "appProtocol": "http"}],
             "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
             "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
             "sessionAffinity": "ClientIP",
             "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
             "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Cluster",
             "trafficDistribution": "PreferClose"},
    "status": {"loadBalancer": {"ingress": [{"ip": "127.2.0.1", "ipMode": "VIP"}]}},
}

_NODE = {
    "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
    "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"],
             "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
    "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
               "allocatable": {"cpu": "3800m"},
               "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                               "lastHeartbeatTime": "2024-01-01T00:00:00Z"}],
               "addresses": [{"type": "InternalIP", "address": "127.1.0.1"}],
               "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
               "nodeInfo": {"kubeletVersion": "v1.32.0", "architecture": "amd64"},
               "images": [{"names": ["nginx:1.27"], "sizeBytes": 1000}]},
}

_PVC = {
    "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
             "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem",
             "selector": {"matchLabels": {"tier": "fast"}},
             "dataSource": {"kind": "PersistentVolumeClaim", "name": "seed"}},
    "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
               "conditions": [{"type": "Resizing", "status": "False"}]},
}

_EVENT = {
    "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-0.1", "namespace": "d"},
    "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "d",
                       "fieldPath": "spec.containers{web}"},
    "reason": "BackOff", "message": "Back-off restarting", "type": "Warning", "count": 3,
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:01:00Z",
    "eventTime": "2024-01-01T00:00:00.123456Z", "reportingComponent": "kubelet",
    "series": {"count": 2, "lastObservedTime": "2024-01-01T00:01:00.000001Z"},
}

_MISC = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
     "data": {"a": "1"}, "binaryData": {"b": "AAE="}, "immutable": True},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
     "data": {"p": "cGFzcw=="}, "stringData": {"u": "admin"}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"},
     "secrets": [{"name": "t"}], "imagePullSecrets": [{"name": "registry"}]},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"},
     "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
    {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
     "subsets": [{"addresses": [{"ip": "10.244.1.5", "nodeName": "node-1",
                                 "targetRef": {"kind": "Pod", "name": "web-0"}}],
                  "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]},
    {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
     "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
              "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": "/mnt"},
              "claimRef": {"namespace": "d", "name": "data"},
              "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                  {"key": "kubernetes.io/hostname", "operator": "In",
                   "values": ["node-1"]}]}]}}},
     "status": {"phase": "Bound"}},
    {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web-0"},
     "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}},
    {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7"},
     "items": [_POD]},
    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
     "message": "pods \"x\" not found", "reason": "NotFound", "code": 404,
     "details": {"name": "x", "kind": "pods", "causes": [{"field": "spec"}]}},
]


@pytest.mark.parametrize("manifest", [
    pytest.param(_POD, id="full-pod"),
    pytest.param(_SERVICE, id="load-balancer-service"),
    pytest.param(_NODE, id="node-with-status"),
    pytest.param(_PVC, id="pvc"),
    pytest.param(_EVENT, id="core-event"),
    *[pytest.param(m, id=m["kind"].lower()) for m in _MISC],
])
def test_manifest_uses_only_fields_the_schema_defines(manifest):
    definition = (META if manifest["kind"] == "Status" else CORE) + manifest["kind"]
    assert _problems(manifest, {"$ref": "#/components/schemas/" + definition}) == []


@pytest.mark.parametrize("path,bad,expected", [
    pytest.param(("spec", "containers", 0), {"imagePullPolcy": "Always"},
                 ".spec.containers[0].imagePullPolcy: unknown field", id="typo-in-container"),
    pytest.param(("spec",), {"replicas": 3}, ".spec.replicas: unknown field",
                 id="field-of-another-kind"),
    pytest.param(("spec", "containers", 0), {"ports": [{"containerPort": "80"}]},
                 ".spec.containers[0].ports[0].containerPort: not a integer",
                 id="port-as-string"),
    pytest.param(("metadata",), {"labels": {"a": 1}}, ".metadata.labels.a: not a string",
                 id="label-value-number"),
])
def test_manifest_walker_reports_unknown_fields_and_wrong_types(path, bad, expected):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i"}]}}
    node: Any = pod
    for step in path:
        node = node[step]
    node.update(bad)
    assert _problems(pod, {"$ref": "#/components/schemas/" + CORE + "Pod"}) == [expected]
