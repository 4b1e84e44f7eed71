"""Metadata rules every kind shares, and the per-kind name formats, with upstream wording."""

from __future__ import annotations

import copy

import pytest

from kubemu.cluster.api.defaults import apply_defaults
from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.validation import validate_create, validate_status_update, validate_update
from kubemu.cluster.api.validation import names as n

REGISTRY = builtin_registry()
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def cm(**meta) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", **meta}}


def errors(obj: dict) -> list:
    r = REGISTRY.by_kind(obj["apiVersion"], obj["kind"])
    obj = copy.deepcopy(obj)
    apply_defaults(r, obj)
    return validate_create(r, obj)


def rendered(obj: dict) -> list[str]:
    return [str(e) for e in errors(obj)]


def test_subdomain_message_is_upstream_verbatim() -> None:
    assert rendered(cm(name="Bad_Name")) == [f'metadata.name: Invalid value: "Bad_Name": '
                                             f"{SUBDOMAIN_MSG}"]


@pytest.mark.parametrize("obj, field, message", [
    pytest.param(cm(name=""), "metadata.name",
                 "metadata.name: Required value: name or generateName is required",
                 id="name-required"),
    pytest.param(cm(name="x" * 254), "metadata.name",
                 "must be no more than 253 characters", id="name-too-long"),
    pytest.param(cm(generateName="Web-"), "metadata.generateName", SUBDOMAIN_MSG,
                 id="generate-name-syntax"),
    pytest.param(cm(namespace=""), "metadata.namespace", "metadata.namespace: Required value",
                 id="namespace-required-for-namespaced"),
    pytest.param(cm(namespace="Team_A"), "metadata.namespace", LABEL_MSG,
                 id="namespace-is-dns-label"),
    pytest.param({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "x", "namespace": "default"}}, "metadata.namespace",
                 "metadata.namespace: Forbidden: not allowed on this type",
                 id="namespace-forbidden-for-cluster-scoped"),
    pytest.param(cm(labels={"app": "a" * 64}), "metadata.labels",
                 "must be no more than 63 characters", id="label-value-too-long"),
    pytest.param(cm(labels={"app": "-bad"}), "metadata.labels",
                 "a valid label must be an empty string or consist of alphanumeric characters, "
                 "'-', '_' or '.', and must start and end with an alphanumeric character "
                 "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                 "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')", id="label-value-syntax"),
    pytest.param(cm(labels={"Example.com/app": "x"}), "metadata.labels",
                 "prefix part " + SUBDOMAIN_MSG, id="label-key-prefix"),
    pytest.param(cm(labels={"/app": "x"}), "metadata.labels", "prefix part must be non-empty",
                 id="label-key-empty-prefix"),
    pytest.param(cm(labels={"a" * 64: "x"}), "metadata.labels",
                 "name part must be no more than 63 characters", id="label-key-too-long"),
    pytest.param(cm(annotations={"bad key": "x"}), "metadata.annotations",
                 "name part must consist of alphanumeric characters", id="annotation-key"),
    pytest.param(cm(annotations={"big": "x" * (256 * 1024)}), "metadata.annotations",
                 "metadata.annotations: Too long: may not be more than 262144 bytes",
                 id="annotations-total-size"),
    pytest.param(cm(ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                      "name": "rs"}]), "metadata.ownerReferences.uid",
                 "uid must not be empty", id="owner-uid-required"),
    pytest.param(cm(ownerReferences=[{"apiVersion": "", "kind": "ReplicaSet", "name": "rs",
                                      "uid": "1"}]), "metadata.ownerReferences.apiVersion",
                 "version must not be empty", id="owner-api-version-required"),
    pytest.param(cm(ownerReferences=[
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1",
         "controller": True},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2",
         "controller": True}]), "metadata.ownerReferences",
        'Only one reference can have Controller set to true. Found "true" in references for '
        "ReplicaSet/a and ReplicaSet/b", id="one-controller-owner"),
    pytest.param(cm(finalizers=["example.com/a b"]), "metadata.finalizers",
                 "name part must consist", id="finalizer-qualified-name"),
    pytest.param(cm(finalizers=["orphan", "foregroundDeletion"]), "metadata.finalizers",
                 "finalizer orphan and foregroundDeletion cannot be both set",
                 id="orphan-and-foreground"),
    pytest.param(cm(generation=-1), "metadata.generation",
                 "must be greater than or equal to 0", id="generation-non-negative"),
])
def test_metadata_rule_reports_upstream_path_and_message(obj, field, message) -> None:
    errs = errors(obj)
    assert [e.field for e in errs] == [field], errs
    assert message in str(errs[0])


@pytest.mark.parametrize("api_version, kind, name, namespaced, message", [
    pytest.param("v1", "Service", "1web", True, DNS1035_MSG, id="service-dns1035"),
    pytest.param("v1", "Namespace", "a.b", False, "must not contain dots",
                 id="namespace-dns-label"),
    pytest.param("apps/v1", "StatefulSet", "web.v1", True, "must not contain dots",
                 id="statefulset-dns-label"),
    pytest.param("v1", "Pod", "Pod1", True, SUBDOMAIN_MSG, id="pod-subdomain"),
    pytest.param("v1", "Secret", "my_secret", True, SUBDOMAIN_MSG, id="secret-subdomain"),
    pytest.param("v1", "Node", "Node-1", False, SUBDOMAIN_MSG, id="node-subdomain"),
    pytest.param("rbac.authorization.k8s.io/v1", "ClusterRole", "a/b", False,
                 "may not contain '/'", id="rbac-path-segment-slash"),
    pytest.param("rbac.authorization.k8s.io/v1", "Role", "..", True, "may not be '..'",
                 id="rbac-path-segment-dotdot"),
])
def test_name_format_is_per_kind(api_version, kind, name, namespaced, message) -> None:
    meta = {"name": name, **({"namespace": "default"} if namespaced else {})}
    errs = [e for e in errors({"apiVersion": api_version, "kind": kind, "metadata": meta})
            if e.field == "metadata.name"]
    assert len(errs) == 1 and message in str(errs[0]), errs


@pytest.mark.parametrize("kind, name", [
    pytest.param("ClusterRole", "system:controller:job", id="colons"),
    pytest.param("ClusterRole", "Admin Role", id="spaces-and-capitals"),
])
def test_rbac_names_accept_anything_but_slash_percent_and_dots(kind, name) -> None:
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
           "metadata": {"name": name}, "rules": []}
    assert errors(obj) == []


@pytest.mark.parametrize("fn, value, ok", [
    pytest.param(n.is_dns1123_label, "a" * 63, True, id="label-63"),
    pytest.param(n.is_dns1123_label, "a" * 64, False, id="label-64"),
    pytest.param(n.is_dns1123_subdomain, "a.b-c.d", True, id="subdomain"),
    pytest.param(n.is_dns1123_subdomain, "a..b", False, id="subdomain-empty-label"),
    pytest.param(n.is_dns1035_label, "a1", True, id="dns1035"),
    pytest.param(n.is_qualified_name, "example.com/My_Name-1", True, id="qualified"),
    pytest.param(n.is_qualified_name, "a/b/c", False, id="qualified-two-slashes"),
    pytest.param(n.is_valid_label_value, "", True, id="empty-label-value"),
    pytest.param(n.is_valid_port_name, "http", True, id="port-name"),
    pytest.param(n.is_valid_port_name, "123", False, id="port-name-needs-letter"),
    pytest.param(n.is_valid_port_name, "a--b", False, id="port-name-double-hyphen"),
    pytest.param(n.is_config_map_key, "..data", False, id="config-key-dotdot-prefix"),
    pytest.param(n.is_config_map_key, ".hidden_KEY-1", True, id="config-key"),
    pytest.param(n.is_relaxed_env_var_name, "1-weird.NAME", True, id="relaxed-env"),
    pytest.param(n.is_relaxed_env_var_name, "A=B", False, id="env-equals"),
    pytest.param(n.is_valid_percent, "25%", True, id="percent"),
    pytest.param(n.is_valid_percent, "2.5%", False, id="percent-decimal"),
])
def test_name_predicates(fn, value, ok) -> None:
    assert (fn(value) == []) is ok


def test_generate_name_may_end_with_dash() -> None:
    assert errors(cm(name="web-x7k2p", generateName="web-")) == []


def test_update_keeps_name_and_namespace_immutable() -> None:
    r = REGISTRY.by_kind("v1", "ConfigMap")
    old = cm()
    new = cm(name="d", namespace="other")
    assert [(e.field, e.detail) for e in validate_update(r, new, old)] == [
        ("metadata.name", "field is immutable"), ("metadata.namespace", "field is immutable")]


def test_update_may_not_add_finalizers_while_deleting() -> None:
    r = REGISTRY.by_kind("v1", "ConfigMap")
    old = cm(deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["a.io/x"])
    new = cm(deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["a.io/x", "b.io/y"])
    errs = validate_update(r, new, old)
    assert [str(e) for e in errs] == [
        'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being '
        'deleted, found new finalizers []string{"b.io/y"}']
    new["metadata"]["finalizers"] = []
    assert validate_update(r, new, old) == []


def test_update_may_not_decrement_generation() -> None:
    r = REGISTRY.by_kind("v1", "ConfigMap")
    errs = validate_update(r, cm(generation=1), cm(generation=2))
    assert [str(e) for e in errs] == ["metadata.generation: Invalid value: 1: must not be "
                                      "decremented"]


def test_status_update_checks_metadata_too() -> None:
    r = REGISTRY.by_kind("v1", "Namespace")
    old = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
    new = {"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": "a", "labels": {"x": "-"}}}
    assert [e.field for e in validate_status_update(r, new, old)] == ["metadata.labels"]


@pytest.mark.parametrize("metadata", [
    pytest.param({"name": "c", "namespace": "default", "labels": ["a"]}, id="labels-list"),
    pytest.param({"name": "c", "namespace": "default", "ownerReferences": ["rs"]},
                 id="owner-reference-string"),
])
def test_wrongly_typed_metadata_is_a_bad_request(metadata: dict) -> None:
    r = REGISTRY.by_kind("v1", "ConfigMap")
    with pytest.raises(BadRequest):
        validate_create(r, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata})
