"""OpenAPI schemas of rbac.authorization.k8s.io/v1: Role, ClusterRole and their bindings.

kubemu stores RBAC objects (manifests and operators create them) before it enforces them.
Shapes are upstream 1.32's: rules and subjects are atomic lists, a binding's roleRef is
immutable, and a ClusterRole may be aggregated from others by label.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.dsl import array, define, ref, string
from kubemu.cluster.api.schemas.meta import LABEL_SELECTOR, define_kind

__all__ = ["RBAC"]

RBAC = "io.k8s.api.rbac.v1."
_GROUP = "rbac.authorization.k8s.io"


def _strings(description: str) -> dict:
    return array(string(), description, list_type="atomic")


define(RBAC + "PolicyRule",
       "Actions allowed on resources (or on non-resource URLs); a request must match every "
       "list given.", {
           "verbs": _strings("Verbs allowed (get, list, watch, create, update, patch, "
                             "delete, ...); * allows all."),
           "apiGroups": _strings("API groups of the resources; \"\" is the core group, * "
                                 "any group."),
           "resources": _strings("Resources (pods, deployments/scale); * any."),
           "resourceNames": _strings("Object names allowed; empty allows every name."),
           "nonResourceURLs": _strings("URL paths such as /healthz (ClusterRoles only); a "
                                       "trailing * matches a prefix."),
       }, required=("verbs",))

define(RBAC + "AggregationRule", "How a ClusterRole's rules are collected from others.", {
    "clusterRoleSelectors": array(ref(LABEL_SELECTOR),
                                  "ClusterRoles matching any selector contribute their "
                                  "rules.", list_type="atomic"),
})

define(RBAC + "Subject", "Who a binding grants to: a user, a group or a ServiceAccount.", {
    "kind": string("User, Group or ServiceAccount."),
    "apiGroup": string("rbac.authorization.k8s.io for users and groups, \"\" for service "
                       "accounts."),
    "name": string("The subject's name."),
    "namespace": string("The ServiceAccount's namespace; empty for users and groups."),
}, required=("kind", "name"))

define(RBAC + "RoleRef", "The role a binding grants.", {
    "apiGroup": string("The role's API group: rbac.authorization.k8s.io."),
    "kind": string("Role or ClusterRole."),
    "name": string("The role's name."),
}, required=("apiGroup", "kind", "name"))

_RULES = array(ref(RBAC + "PolicyRule"), "The permissions granted.", list_type="atomic")
_SUBJECTS = array(ref(RBAC + "Subject"), "Who is granted the role.", list_type="atomic")
_ROLE_REF = ref(RBAC + "RoleRef", "The role granted; cannot change after creation.")

define_kind(RBAC + "Role", "A namespaced set of permissions.", {
    "rules": _RULES,
}, group=_GROUP, version="v1")

define_kind(RBAC + "ClusterRole", "A cluster-wide set of permissions, usable by "
                                  "ClusterRoleBindings and by RoleBindings in any "
                                  "namespace.", {
    "rules": _RULES,
    "aggregationRule": ref(RBAC + "AggregationRule",
                           "When set, rules are computed by the controller from matching "
                           "ClusterRoles."),
}, group=_GROUP, version="v1")

define_kind(RBAC + "RoleBinding", "Grants a Role or ClusterRole to subjects within one "
                                  "namespace.", {
    "subjects": _SUBJECTS,
    "roleRef": _ROLE_REF,
}, group=_GROUP, version="v1", required=("roleRef",))

define_kind(RBAC + "ClusterRoleBinding", "Grants a ClusterRole to subjects across the "
                                         "cluster.", {
    "subjects": _SUBJECTS,
    "roleRef": _ROLE_REF,
}, group=_GROUP, version="v1", required=("roleRef",))
