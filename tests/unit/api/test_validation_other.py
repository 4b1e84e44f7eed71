"""EndpointSlice, Lease, NetworkPolicy, Ingress, PDB, PriorityClass, RBAC and CRD validation."""

from __future__ import annotations

import copy

import pytest

from kubemu.cluster.api.defaults import apply_defaults
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.validation import validate_create, validate_update

REGISTRY = builtin_registry()
RBAC = "rbac.authorization.k8s.io/v1"


def obj(api_version: str, kind: str, body: dict, *, namespaced: bool = True,
        name: str = "x") -> dict:
    meta = {"name": name, **({"namespace": "default"} if namespaced else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


def slice_(address_type: str = "IPv4", addresses=("10.0.0.1",), **extra) -> dict:
    return obj("discovery.k8s.io/v1", "EndpointSlice", {
        "addressType": address_type, "endpoints": [{"addresses": list(addresses)}], **extra})


def netpol(**spec) -> dict:
    return obj("networking.k8s.io/v1", "NetworkPolicy", {"spec": {"podSelector": {}, **spec}})


def pdb(**spec) -> dict:
    return obj("policy/v1", "PodDisruptionBudget", {"spec": spec})


def pclass(name: str, value: int, **extra) -> dict:
    return obj("scheduling.k8s.io/v1", "PriorityClass", {"value": value, **extra},
               namespaced=False, name=name)


def binding(kind: str = "RoleBinding", **body) -> dict:
    base = {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "view"},
            "subjects": [{"kind": "User", "name": "jane"}]}
    return obj(RBAC, kind, {**base, **body}, namespaced=kind == "RoleBinding")


def crd(**changes) -> dict:
    spec = {"group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab"},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    spec.update(changes)
    return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", {"spec": spec},
               namespaced=False, name="crontabs.stable.example.com")


def prepared(manifest: dict) -> tuple:
    r = REGISTRY.by_kind(manifest["apiVersion"], manifest["kind"])
    manifest = copy.deepcopy(manifest)
    apply_defaults(r, manifest)
    return r, manifest


def create_errors(manifest: dict) -> list[tuple[str, str]]:
    r, o = prepared(manifest)
    return [(e.type, e.field) for e in validate_create(r, o)]


@pytest.mark.parametrize("manifest, expected", [
    pytest.param(slice_("IPv5"), [("NotSupported", "addressType")], id="slice-address-type"),
    pytest.param(slice_("IPv4", ["fd00::1"]), [("Invalid", "endpoints[0].addresses[0]")],
                 id="slice-address-family"),
    pytest.param(slice_("IPv4", []), [("Required", "endpoints[0].addresses")],
                 id="slice-endpoint-needs-address"),
    pytest.param(slice_(ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}]),
                 [("Duplicate", "ports[1].name")], id="slice-port-names-unique"),
    pytest.param(slice_(ports=[{"port": 80, "protocol": "QUIC"}]),
                 [("NotSupported", "ports[0].protocol")], id="slice-port-protocol"),
    pytest.param(obj("coordination.k8s.io/v1", "Lease", {"spec": {"leaseDurationSeconds": 0}}),
                 [("Invalid", "spec.leaseDurationSeconds")], id="lease-duration"),
    pytest.param(obj("coordination.k8s.io/v1", "Lease", {"spec": {"leaseTransitions": -1}}),
                 [("Invalid", "spec.leaseTransitions")], id="lease-transitions"),
    pytest.param(netpol(policyTypes=["Ingress", "Sideways"]),
                 [("NotSupported", "spec.policyTypes[1]")], id="netpol-policy-types"),
    pytest.param(netpol(policyTypes=["Ingress", "Egress", "Ingress"]),
                 [("Invalid", "spec.policyTypes")], id="netpol-at-most-two-types"),
    pytest.param(netpol(ingress=[{"from": [{}]}]), [("Required", "spec.ingress[0].from[0]")],
                 id="netpol-peer-required"),
    pytest.param(netpol(ingress=[{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"},
                                            "podSelector": {}}]}]),
                 [("Forbidden", "spec.ingress[0].from[0]")], id="netpol-ip-block-alone"),
    pytest.param(netpol(egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                      "except": ["192.168.0.0/16"]}}]}]),
                 [("Invalid", "spec.egress[0].to[0].ipBlock.except[0]")],
                 id="netpol-except-inside-cidr"),
    pytest.param(netpol(ingress=[{"ports": [{"port": 80, "endPort": 70}]}]),
                 [("Invalid", "spec.ingress[0].ports[0].endPort")], id="netpol-end-port"),
    pytest.param(netpol(ingress=[{"ports": [{"port": 80, "protocol": "ICMP"}]}]),
                 [("NotSupported", "spec.ingress[0].ports[0].protocol")],
                 id="netpol-protocol"),
    pytest.param(obj("networking.k8s.io/v1", "Ingress", {"spec": {"rules": [{"http": {
        "paths": [{"path": "/", "backend": {"service": {"name": "web",
                                                        "port": {"number": 80}}}}]}}]}}),
        [("Required", "spec.rules[0].http.paths[0].pathType")], id="ingress-path-type"),
    pytest.param(pdb(minAvailable=1, maxUnavailable=1), [("Invalid", "spec")],
                 id="pdb-not-both"),
    pytest.param(pdb(minAvailable="120%"), [("Invalid", "spec.minAvailable")],
                 id="pdb-percent-at-most-100"),
    pytest.param(pdb(maxUnavailable=-1), [("Invalid", "spec.maxUnavailable")],
                 id="pdb-non-negative"),
    pytest.param(pdb(minAvailable=1, unhealthyPodEvictionPolicy="Never"),
                 [("NotSupported", "spec.unhealthyPodEvictionPolicy")], id="pdb-eviction-policy"),
    pytest.param(pclass("huge", 1_000_000_001), [("Forbidden", "value")],
                 id="priority-above-one-billion"),
    pytest.param(pclass("system-custom", 10), [("Forbidden", "metadata.name")],
                 id="system-prefix-reserved"),
    pytest.param(pclass("system-node-critical", 5), [("Forbidden", "metadata.name")],
                 id="system-class-value-fixed"),
    pytest.param(pclass("system-cluster-critical", 2_000_000_000), [], id="system-class-ok"),
    pytest.param(pclass("low", 1, preemptionPolicy="Sometimes"),
                 [("NotSupported", "preemptionPolicy")], id="priority-preemption-policy"),
    pytest.param(obj(RBAC, "Role", {"rules": [{"apiGroups": [""], "resources": ["pods"]}]}),
                 [("Required", "rules[0].verbs")], id="role-verbs"),
    pytest.param(obj(RBAC, "Role", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}),
                 [("Invalid", "rules[0].nonResourceURLs")], id="role-no-non-resource-urls"),
    pytest.param(obj(RBAC, "ClusterRole", {"rules": [{"verbs": ["get"]}]}, namespaced=False),
                 [("Required", "rules[0].apiGroups"), ("Required", "rules[0].resources")],
                 id="cluster-role-resources"),
    pytest.param(binding(roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                  "name": "view"}),
                 [("NotSupported", "roleRef.kind")], id="binding-role-ref-kind"),
    pytest.param(binding("ClusterRoleBinding", roleRef={
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "view"}),
        [("NotSupported", "roleRef.kind")], id="cluster-binding-needs-cluster-role"),
    pytest.param(binding(subjects=[{"kind": "Robot", "name": "r"}]),
                 [("NotSupported", "subjects[0].kind")], id="binding-subject-kind"),
    pytest.param(binding("ClusterRoleBinding", subjects=[{"kind": "ServiceAccount",
                                                          "name": "default"}]),
                 [("Required", "subjects[0].namespace")],
                 id="cluster-binding-service-account-namespace"),
    pytest.param(crd(group="example"), [("Invalid", "metadata.name"),
                                        ("Invalid", "spec.group")], id="crd-group-needs-dot"),
    pytest.param(crd(scope="Global"), [("NotSupported", "spec.scope")], id="crd-scope"),
    pytest.param(crd(versions=[]), [("Invalid", "spec.versions")], id="crd-versions-required"),
    pytest.param(crd(versions=[
        {"name": "v1", "served": True, "storage": True,
         "schema": {"openAPIV3Schema": {"type": "object"}}},
        {"name": "v2", "served": True, "storage": True,
         "schema": {"openAPIV3Schema": {"type": "object"}}}]),
        [("Invalid", "spec.versions")], id="crd-one-storage-version"),
    pytest.param(crd(versions=[{"name": "v1", "served": True, "storage": True}]),
                 [("Required", "spec.versions[0].schema.openAPIV3Schema")],
                 id="crd-schema-required"),
    pytest.param(crd(versions=[{"name": "V1", "served": True, "storage": True,
                                "schema": {"openAPIV3Schema": {"type": "object"}}}]),
                 [("Invalid", "spec.versions[0].name")], id="crd-version-name"),
    pytest.param(crd(names={"plural": "crontabs", "kind": "CronTab",
                            "listKind": "CronTab"}),
                 [("Invalid", "spec.names.listKind")], id="crd-kind-differs-from-list-kind"),
    pytest.param(crd(names={"plural": "CronTabs", "kind": "CronTab"}),
                 [("Invalid", "metadata.name"), ("Invalid", "spec.names.plural")],
                 id="crd-plural-lowercase"),
    pytest.param(crd(conversion={"strategy": "Magic"}),
                 [("NotSupported", "spec.conversion.strategy")], id="crd-conversion"),
])
def test_bad_object_reports_upstream_field(manifest: dict, expected) -> None:
    assert create_errors(manifest) == expected


def test_crd_name_message() -> None:
    manifest = crd()
    manifest["metadata"]["name"] = "crontab.stable.example.com"
    r, o = prepared(manifest)
    assert [str(e) for e in validate_create(r, o)] == [
        'metadata.name: Invalid value: "crontab.stable.example.com": must be '
        'spec.names.plural+"."+spec.group']


def test_crd_without_kind_is_missing_names() -> None:
    r, o = prepared(crd(names={"plural": "crontabs"}))
    assert [(e.type, e.field) for e in validate_create(r, o)] == [
        ("Required", "spec.names.singular"), ("Required", "spec.names.kind"),
        ("Required", "spec.names.listKind")]


def updated(manifest: dict, edit, *, old_edit=None) -> list[tuple[str, str]]:
    r, old = prepared(manifest)
    if old_edit:
        old_edit(old)
    new = copy.deepcopy(old)
    edit(new)
    return [(e.type, e.field) for e in validate_update(r, new, old)]


def established(c: dict) -> None:
    c["status"]["conditions"] = [{"type": "Established", "status": "True"}]


@pytest.mark.parametrize("manifest, edit, old_edit, expected", [
    pytest.param(slice_(), lambda s: s.update(addressType="FQDN",
                                              endpoints=[{"addresses": ["a.example.com"]}]),
                 None, [("Invalid", "addressType")], id="slice-address-type-immutable"),
    pytest.param(binding(), lambda b: b["roleRef"].update(name="edit"), None,
                 [("Invalid", "roleRef")], id="role-ref-immutable"),
    pytest.param(binding(), lambda b: b["subjects"].append(
        {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}),
        None, [], id="binding-subjects-mutable"),
    pytest.param(pclass("high", 100), lambda p: p.update(value=200), None,
                 [("Forbidden", "value")], id="priority-value-immutable"),
    pytest.param(pclass("high", 100), lambda p: p.update(preemptionPolicy="Never"), None,
                 [("Invalid", "preemptionPolicy")], id="preemption-policy-immutable"),
    pytest.param(crd(), lambda c: c["spec"].update(group="other.example.com"), None,
                 [("Invalid", "metadata.name"), ("Invalid", "spec.group")],
                 id="crd-group-immutable"),
    pytest.param(crd(), lambda c: c["spec"].update(scope="Cluster"), established,
                 [("Invalid", "spec.scope")], id="crd-scope-frozen-once-established"),
    pytest.param(crd(), lambda c: c["spec"].update(scope="Cluster"), None, [],
                 id="crd-scope-mutable-before-established"),
])
def test_update_rules(manifest, edit, old_edit, expected) -> None:
    assert updated(manifest, edit, old_edit=old_edit) == expected


def test_role_ref_message() -> None:
    r, old = prepared(binding())
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "edit"
    (err,) = validate_update(r, new, old)
    assert str(err).startswith("roleRef: Invalid value: ") and str(err).endswith(
        ": cannot change roleRef")
