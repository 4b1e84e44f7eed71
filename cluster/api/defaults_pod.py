"""Defaults of PodSpec, containers, probes and volumes, for Pods and every pod template.

Upstream splits pod defaulting in two: SetDefaults_PodSpec and the container/volume defaulters
run for every PodSpec (Pods and the templates inside Deployments, Jobs, ...), while
SetDefaults_Pod runs only for Pod objects. `default_pod_template` is the first half;
`default_pod` adds the Pod-only half: requests copied from limits, enableServiceLinks,
host-network host ports, plus what kube-apiserver's default admission plugins add to every
Pod: serviceAccountName `default` (ServiceAccount), priority and preemptionPolicy (Priority)
and the 300 s not-ready/unreachable NoExecute tolerations (DefaultTolerationSeconds). Every
function is idempotent: the handler may default an object again on update.
"""

from __future__ import annotations

__all__ = ["default_pod", "default_pod_template", "default_pod_spec", "image_pull_policy",
           "SYSTEM_PRIORITIES", "DEFAULT_TOLERATION_SECONDS"]

SYSTEM_PRIORITIES = {"system-node-critical": 2_000_001_000,
                     "system-cluster-critical": 2_000_000_000}
DEFAULT_TOLERATION_SECONDS = 300
_NOT_READY = "node.kubernetes.io/not-ready"
_UNREACHABLE = "node.kubernetes.io/unreachable"
_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral", "image")


def default_pod(pod: dict) -> None:
    """All defaults of a Pod object (template defaults plus the Pod-only ones)."""
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    for field_name in ("containers", "initContainers"):
        for ctr in spec.get(field_name) or []:
            resources = ctr.setdefault("resources", {})
            limits = resources.get("limits")
            if limits:
                requests = resources.setdefault("requests", {})
                for name, value in limits.items():
                    requests.setdefault(name, value)
            if spec.get("hostNetwork"):
                for port in ctr.get("ports") or []:
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    spec.setdefault("enableServiceLinks", True)
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = "default"
    spec["serviceAccount"] = spec["serviceAccountName"]
    class_name = spec.get("priorityClassName")
    if not class_name or class_name in SYSTEM_PRIORITIES:
        # A user PriorityClass needs a lookup: the handler resolves priority and policy.
        spec.setdefault("priority", SYSTEM_PRIORITIES.get(class_name or "", 0))
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    _default_toleration_seconds(spec)


def default_pod_template(template: dict | None) -> None:
    """Defaults of a PodTemplateSpec (Deployment, ReplicaSet, ..., CronJob job template)."""
    if template is None:
        return
    default_pod_spec(template.setdefault("spec", {}))


def default_pod_spec(spec: dict) -> None:
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for vol in spec.get("volumes") or []:
        _default_volume(vol)
    for field_name in ("containers", "initContainers", "ephemeralContainers"):
        for ctr in spec.get(field_name) or []:
            _default_container(ctr)


def image_pull_policy(image: str) -> str:
    """Always for `:latest` or an untagged image without digest, else IfNotPresent."""
    return "Always" if _image_tag(image) == "latest" else "IfNotPresent"


def _default_container(ctr: dict) -> None:
    if not ctr.get("imagePullPolicy"):
        ctr["imagePullPolicy"] = image_pull_policy(ctr.get("image") or "")
    if not ctr.get("terminationMessagePath"):
        ctr["terminationMessagePath"] = "/dev/termination-log"
    if not ctr.get("terminationMessagePolicy"):
        ctr["terminationMessagePolicy"] = "File"
    if ctr.get("resources") is None:
        ctr["resources"] = {}
    for port in ctr.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for var in ctr.get("env") or []:
        field_ref = (var.get("valueFrom") or {}).get("fieldRef")
        if field_ref is not None and not field_ref.get("apiVersion"):
            field_ref["apiVersion"] = "v1"
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = ctr.get(probe_name)
        if probe is not None:
            _default_probe(probe)
    lifecycle = ctr.get("lifecycle") or {}
    for hook in ("postStart", "preStop"):
        if (lifecycle.get(hook) or {}).get("httpGet") is not None:
            _default_http_get(lifecycle[hook]["httpGet"])


def _default_probe(probe: dict) -> None:
    for name, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                        ("failureThreshold", 3)):
        if not probe.get(name):
            probe[name] = value
    if probe.get("httpGet") is not None:
        _default_http_get(probe["httpGet"])
    if probe.get("grpc") is not None and probe["grpc"].get("service") is None:
        probe["grpc"]["service"] = ""


def _default_http_get(action: dict) -> None:
    if not action.get("path"):
        action["path"] = "/"
    if not action.get("scheme"):
        action["scheme"] = "HTTP"


def _default_volume(vol: dict) -> None:
    if not any(vol.get(s) is not None for s in _VOLUME_SOURCES):
        vol["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if vol.get(source) is not None and vol[source].get("defaultMode") is None:
            vol[source]["defaultMode"] = 0o644
    if vol.get("hostPath") is not None and vol["hostPath"].get("type") is None:
        vol["hostPath"]["type"] = ""
    for item in (vol.get("downwardAPI") or {}).get("items") or []:
        _default_field_ref(item)
    for source in (vol.get("projected") or {}).get("sources") or []:
        token = source.get("serviceAccountToken")
        if token is not None and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = 3600
        for item in (source.get("downwardAPI") or {}).get("items") or []:
            _default_field_ref(item)


def _default_field_ref(item: dict) -> None:
    field_ref = item.get("fieldRef")
    if field_ref is not None and not field_ref.get("apiVersion"):
        field_ref["apiVersion"] = "v1"


def _default_toleration_seconds(spec: dict) -> None:
    tolerations = spec.get("tolerations") or []
    covered = {_NOT_READY: False, _UNREACHABLE: False}
    for tol in tolerations:
        if tol.get("effect") in ("NoExecute", None, ""):
            for taint in covered:
                if tol.get("key") in (taint, None, ""):
                    covered[taint] = True
    for taint, ok in covered.items():
        if not ok:
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations


def _image_tag(image: str) -> str:
    """The tag Docker reference parsing finds: "" if none (or a digest), "latest" if bare."""
    if not image or image != image.strip():
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    repository, _, tag = last.partition(":")
    if any(c.isupper() for c in repository):
        return ""  # not a valid reference: upstream falls back to IfNotPresent
    if not tag and not digest:
        return "latest"
    return tag
