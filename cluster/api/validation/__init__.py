"""Validation of every built-in kind: what the API server checks before it stores an object.

The handlers call three functions: `validate_create`, `validate_update` (create's checks on
the new object plus what may not change) and `validate_status_update` (metadata rules plus
light status checks). Each returns upstream-shaped `FieldError`s (`spec.replicas: Invalid
value: -1: must be greater than or equal to 0`); the handler raises `Invalid.of(...)` when the
list is not empty. Objects arrive defaulted (`cluster/api/defaults.py`), with `metadata.name`
already generated from `generateName` and system fields (uid, resourceVersion,
creationTimestamp) managed by the handler.

One table maps (group, kind) to the kind's name rule and its create/update/status validators;
metadata (names, namespace, labels, annotations, owners, finalizers) is checked here, once,
for every kind. Custom resources get only the metadata rules: the handler validates them
against their CRD schema. Modules are split by group and concept: meta, names, field, pod
(podspec, containers, volumes), service, core, storage, apps, batch (cron), other, crd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kubemu.cluster.api.defaults import shape_error
from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.validation import apps, batch, core, crd, other, pod, service, storage
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.meta import validate_object_meta, validate_object_meta_update

__all__ = ["validate_create", "validate_update", "validate_status_update"]

Create = Callable[[dict], list[FieldError]]
Update = Callable[[dict, dict], list[FieldError]]


def validate_create(resource: Resource, obj: dict) -> list[FieldError]:
    """Errors in a new object (empty when it may be stored)."""
    rules = _rules_for(resource)
    with _shape_checked(resource):
        errs = validate_object_meta(obj, namespaced=resource.namespaced, name_fn=rules.name)
        return errs + (rules.create(obj) if rules.create else [])


def validate_update(resource: Resource, new: dict, old: dict) -> list[FieldError]:
    """Errors in an update of `old` to `new`: the new object's validity and immutability."""
    rules = _rules_for(resource)
    with _shape_checked(resource):
        errs = validate_object_meta_update(new, old)
        if rules.update:
            return errs + rules.update(new, old)
        return errs + (rules.create(new) if rules.create else [])


def validate_status_update(resource: Resource, new: dict, old: dict) -> list[FieldError]:
    """Errors in a /status write: metadata rules plus the kind's status checks."""
    rules = _rules_for(resource)
    with _shape_checked(resource):
        errs = validate_object_meta_update(new, old)
        return errs + (rules.status(new, old) if rules.status else [])


@contextmanager
def _shape_checked(resource: Resource) -> Iterator[None]:
    """Wrongly typed fields (a string where a list belongs) are a 400, not a crash."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, ValueError) as e:
        raise shape_error(resource, e) from e


@dataclass(frozen=True)
class _Rules:
    name: n.NameFn = n.name_is_dns_subdomain
    create: Create | None = None
    update: Update | None = None
    status: Update | None = None


def _apps_status(kind: str) -> Update:
    return lambda new, _old: apps.validate_apps_status(kind, new)


_RBAC = "rbac.authorization.k8s.io"
_RULES: dict[tuple[str, str], _Rules] = {
    ("", "Pod"): _Rules(create=pod.validate_pod, update=pod.validate_pod_update,
                        status=pod.validate_pod_status_update),
    ("", "Service"): _Rules(n.name_is_dns1035_label, service.validate_service,
                            service.validate_service_update),
    ("", "Endpoints"): _Rules(create=service.validate_endpoints,
                              update=service.validate_endpoints_update),
    ("", "Namespace"): _Rules(n.name_is_dns_label, core.validate_namespace,
                              core.validate_namespace_update),
    ("", "Node"): _Rules(create=core.validate_node, update=core.validate_node_update,
                         status=core.validate_node_update),
    ("", "ConfigMap"): _Rules(create=core.validate_config_map,
                              update=core.validate_config_map_update),
    ("", "Secret"): _Rules(create=core.validate_secret, update=core.validate_secret_update),
    ("", "ServiceAccount"): _Rules(create=core.validate_service_account),
    ("", "Event"): _Rules(create=core.validate_event),
    ("", "PersistentVolume"): _Rules(create=storage.validate_pv,
                                     update=storage.validate_pv_update),
    ("", "PersistentVolumeClaim"): _Rules(create=storage.validate_pvc,
                                          update=storage.validate_pvc_update),
    ("apps", "Deployment"): _Rules(create=apps.validate_deployment,
                                   update=apps.validate_deployment_update,
                                   status=_apps_status("Deployment")),
    ("apps", "ReplicaSet"): _Rules(create=apps.validate_replica_set,
                                   update=apps.validate_replica_set_update,
                                   status=_apps_status("ReplicaSet")),
    ("apps", "StatefulSet"): _Rules(n.name_is_dns_label, apps.validate_stateful_set,
                                    apps.validate_stateful_set_update,
                                    _apps_status("StatefulSet")),
    ("apps", "DaemonSet"): _Rules(create=apps.validate_daemon_set,
                                  update=apps.validate_daemon_set_update,
                                  status=_apps_status("DaemonSet")),
    ("apps", "ControllerRevision"): _Rules(create=apps.validate_controller_revision,
                                           update=apps.validate_controller_revision_update),
    ("batch", "Job"): _Rules(create=batch.validate_job, update=batch.validate_job_update,
                             status=lambda new, _old: batch.validate_job_status(new)),
    ("batch", "CronJob"): _Rules(create=batch.validate_cron_job,
                                 update=batch.validate_cron_job_update),
    ("discovery.k8s.io", "EndpointSlice"): _Rules(create=other.validate_endpoint_slice,
                                                  update=other.validate_endpoint_slice_update),
    ("coordination.k8s.io", "Lease"): _Rules(create=other.validate_lease),
    ("networking.k8s.io", "NetworkPolicy"): _Rules(create=other.validate_network_policy),
    ("networking.k8s.io", "Ingress"): _Rules(create=other.validate_ingress),
    ("policy", "PodDisruptionBudget"): _Rules(create=other.validate_pdb),
    ("scheduling.k8s.io", "PriorityClass"): _Rules(create=other.validate_priority_class,
                                                   update=other.validate_priority_class_update),
    (_RBAC, "Role"): _Rules(n.name_is_path_segment,
                            lambda obj: other.validate_role(obj, namespaced=True)),
    (_RBAC, "ClusterRole"): _Rules(n.name_is_path_segment,
                                   lambda obj: other.validate_role(obj, namespaced=False)),
    (_RBAC, "RoleBinding"): _Rules(
        n.name_is_path_segment, lambda obj: other.validate_role_binding(obj, namespaced=True),
        lambda new, old: other.validate_role_binding_update(new, old, namespaced=True)),
    (_RBAC, "ClusterRoleBinding"): _Rules(
        n.name_is_path_segment, lambda obj: other.validate_role_binding(obj, namespaced=False),
        lambda new, old: other.validate_role_binding_update(new, old, namespaced=False)),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _Rules(
        create=crd.validate_crd, update=crd.validate_crd_update),
}
_METADATA_ONLY = _Rules()


def _rules_for(resource: Resource) -> _Rules:
    if resource.custom:
        return _METADATA_ONLY
    return _RULES.get((resource.group, resource.kind), _METADATA_ONLY)
