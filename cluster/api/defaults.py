"""Defaulting: the values kube-apiserver 1.32 fills in when an object omits them.

`apply_defaults(resource, obj)` mutates a decoded object in place, exactly once per write and
before validation, the way upstream's SetDefaults_* functions run when a request body is
decoded (plus the defaults kube-apiserver's default admission plugins add to Pods). It is
idempotent, so defaulting an already-defaulted object (an update) changes nothing. One table
maps (group, kind) to a defaulter; the per-group modules hold the values: defaults_pod (Pod
and every pod template), defaults_core, defaults_workloads (apps and batch, plus
`job_selector_defaults`, which the handler calls at Job create once the uid exists) and
defaults_other. Custom resources get no defaults here: their CRD schema's `default`s are the
handler's business. A body whose fields have the wrong JSON types (a string where a list
belongs) is a 400 BadRequest, as upstream's decoder rejects it, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable

from kubemu.cluster.api import defaults_core as core
from kubemu.cluster.api import defaults_other as other
from kubemu.cluster.api import defaults_workloads as workloads
from kubemu.cluster.api.defaults_pod import default_pod
from kubemu.cluster.api.defaults_workloads import job_selector_defaults
from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.registry import Resource

__all__ = ["apply_defaults", "job_selector_defaults", "shape_error"]

_RBAC = "rbac.authorization.k8s.io"
_DEFAULTERS: dict[tuple[str, str], Callable[[dict], None]] = {
    ("", "Pod"): default_pod,
    ("", "Service"): core.default_service,
    ("", "Namespace"): core.default_namespace,
    ("", "Secret"): core.default_secret,
    ("", "PersistentVolume"): core.default_pv,
    ("", "PersistentVolumeClaim"): core.default_pvc,
    ("", "Node"): core.default_node,
    ("", "Endpoints"): core.default_endpoints,
    ("apps", "Deployment"): workloads.default_deployment,
    ("apps", "ReplicaSet"): workloads.default_replica_set,
    ("apps", "StatefulSet"): workloads.default_stateful_set,
    ("apps", "DaemonSet"): workloads.default_daemon_set,
    ("batch", "Job"): workloads.default_job,
    ("batch", "CronJob"): workloads.default_cron_job,
    ("discovery.k8s.io", "EndpointSlice"): other.default_endpoint_slice,
    ("networking.k8s.io", "NetworkPolicy"): other.default_network_policy,
    ("scheduling.k8s.io", "PriorityClass"): other.default_priority_class,
    (_RBAC, "RoleBinding"): other.default_role_binding,
    (_RBAC, "ClusterRoleBinding"): other.default_role_binding,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): other.default_crd,
}


def apply_defaults(resource: Resource, obj: dict) -> None:
    """Fill in upstream's defaults for `resource`'s kind, in place."""
    if resource.custom:
        return
    defaulter = _DEFAULTERS.get((resource.group, resource.kind))
    if defaulter is None:
        return
    try:
        defaulter(obj)
    except (AttributeError, TypeError, KeyError, ValueError) as e:
        raise shape_error(resource, e) from e


def shape_error(resource: Resource, error: Exception) -> BadRequest:
    """400 for a body whose fields have the wrong JSON types, worded like upstream's decoder."""
    return BadRequest(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                      f"{resource.kind}: the object's fields do not have their schema's types "
                      f"({type(error).__name__}: {error})")
