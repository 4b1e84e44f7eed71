"""Schema lookups: kind definitions, strategic-merge patch metadata, unknown fields."""

from __future__ import annotations

import pytest

from kubemu.cluster.api.registry import BUILTIN
from kubemu.cluster.api.schemas import DEFINITIONS, kind_definition, patch_meta, unknown_fields
from kubemu.cluster.api.schemas.dsl import ref_name


def _refs(value: object) -> list[str]:
    if isinstance(value, dict):
        found = [ref_name(value)] if "$ref" in value else []
        return found + [r for item in value.values() for r in _refs(item)]
    if isinstance(value, list):
        return [r for item in value for r in _refs(item)]
    return []


def test_every_ref_in_every_definition_resolves():
    missing = {(name, r) for name, schema in DEFINITIONS.items() for r in _refs(schema)
               if r not in DEFINITIONS}
    assert missing == set()


@pytest.mark.parametrize("resource", BUILTIN, ids=lambda r: f"{r.api_version}/{r.kind}")
def test_every_builtin_resource_has_a_kind_and_list_definition(resource):
    name = kind_definition(resource.api_version, resource.kind)
    assert name is not None
    assert kind_definition(resource.api_version, resource.list_kind) == name + "List"
    props = DEFINITIONS[name]["properties"]
    assert {"apiVersion", "kind", "metadata"} <= set(props)


@pytest.mark.parametrize("api_version,kind,expected", [
    pytest.param("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment", id="deployment"),
    pytest.param("v1", "Pod", "io.k8s.api.core.v1.Pod", id="core-pod"),
    pytest.param("batch/v1", "CronJobList", "io.k8s.api.batch.v1.CronJobList", id="list"),
    pytest.param("policy/v1", "Eviction", "io.k8s.api.policy.v1.Eviction", id="eviction"),
    pytest.param("autoscaling/v1", "Scale", "io.k8s.api.autoscaling.v1.Scale", id="scale"),
    pytest.param("discovery.k8s.io/v1", "EndpointSlice",
                 "io.k8s.api.discovery.v1.EndpointSlice", id="endpointslice"),
    pytest.param("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                 "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
                 "CustomResourceDefinition", id="crd"),
    pytest.param("example.com/v1", "Widget", None, id="unknown-kind"),
    pytest.param("apps/v2", "Deployment", None, id="unknown-version"),
])
def test_kind_definition_maps_group_version_kind_to_definition(api_version, kind, expected):
    assert kind_definition(api_version, kind) == expected


@pytest.mark.parametrize("api_version,kind,path,expected", [
    pytest.param("apps/v1", "Deployment", ("spec", "template", "spec", "containers"),
                 ("merge", "name"), id="containers-by-name"),
    pytest.param("apps/v1", "Deployment", ("spec", "template", "spec", "containers", "ports"),
                 ("merge", "containerPort"), id="ports-through-list-items"),
    pytest.param("apps/v1", "Deployment", ("spec", "template", "spec", "containers", "env"),
                 ("merge", "name"), id="env-by-name"),
    pytest.param("apps/v1", "Deployment", ("spec", "template", "spec", "volumes"),
                 ("merge,retainKeys", "name"), id="volumes-retain-keys"),
    pytest.param("apps/v1", "Deployment", ("spec", "strategy"), ("retainKeys", None),
                 id="strategy-retain-keys-on-ref-field"),
    pytest.param("apps/v1", "Deployment", ("spec", "template", "spec", "tolerations"),
                 (None, None), id="tolerations-replace"),
    pytest.param("apps/v1", "Deployment", ("status", "conditions"), ("merge", "type"),
                 id="conditions-by-type"),
    pytest.param("apps/v1", "Deployment", ("metadata", "finalizers"), ("merge", None),
                 id="finalizers-scalar-set"),
    pytest.param("apps/v1", "Deployment", ("metadata", "ownerReferences"), ("merge", "uid"),
                 id="owner-references-by-uid"),
    pytest.param("apps/v1", "Deployment", ("metadata", "labels", "app"), (None, None),
                 id="map-value"),
    pytest.param("apps/v1", "Deployment", ("spec", "nosuch", "containers"), (None, None),
                 id="unknown-path"),
    pytest.param("v1", "Pod", ("spec", "containers", "volumeMounts"), ("merge", "mountPath"),
                 id="pod-volume-mounts"),
    pytest.param("batch/v1", "CronJob",
                 ("spec", "jobTemplate", "spec", "template", "spec", "containers"),
                 ("merge", "name"), id="cronjob-nested-template"),
    pytest.param("batch/v1", "Job", ("status", "conditions"), ("merge", "type"),
                 id="job-conditions"),
    pytest.param("policy/v1", "PodDisruptionBudget", ("spec", "selector"), ("replace", None),
                 id="pdb-selector-replace"),
    pytest.param("example.com/v1", "Widget", ("spec", "items"), (None, None),
                 id="unknown-kind"),
])
def test_patch_meta_walks_fields_refs_and_list_items(api_version, kind, path, expected):
    meta = patch_meta(api_version, kind)
    assert meta(path) == expected
    assert meta(path) == expected  # served from the cache the second time


def _deployment(**container) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"any/key": "v"},
                         "annotations": {"a": "b"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [
                                      {"name": "a", "image": "nginx",
                                       "ports": [{"containerPort": 80}],
                                       "resources": {"limits": {"cpu": "1"}}},
                                      {"name": "b", "image": "busybox", **container}]}}}}


@pytest.mark.parametrize("obj,expected", [
    pytest.param(_deployment(), [], id="valid-deployment"),
    pytest.param(_deployment(imagex="x"), ["spec.template.spec.containers[1].imagex"],
                 id="typo-in-second-container"),
    pytest.param({**_deployment(), "spec2": {}}, ["spec2"], id="unknown-top-level"),
    pytest.param({**_deployment(), "metadata": {"name": "w", "labelz": {}}},
                 ["metadata.labelz"], id="unknown-in-metadata"),
    pytest.param(_deployment(env=[{"name": "A", "value": "1", "valueFrm": {}}],
                             livenessProbe={"httpGet": {"port": 80, "pth": "/"}}),
                 ["spec.template.spec.containers[1].env[0].valueFrm",
                  "spec.template.spec.containers[1].livenessProbe.httpGet.pth"],
                 id="several-in-document-order"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment",
                  "status": {"conditions": [{"type": "Available", "why": "x"}]}},
                 ["status.conditions[0].why"], id="status-condition"),
])
def test_unknown_fields_of_builtin_kinds_are_named_like_strict_decoding(obj, expected):
    assert unknown_fields("apps/v1", "Deployment", obj) == expected


@pytest.mark.parametrize("api_version,kind,obj,expected", [
    pytest.param("apps/v1", "ControllerRevision",
                 {"revision": 1, "data": {"anything": {"goes": [1]}}}, [],
                 id="raw-extension-is-free"),
    pytest.param("v1", "ConfigMap", {"data": {"k": "v"}, "bogus": 1}, ["bogus"],
                 id="configmap"),
    pytest.param("v1", "Pod", {"spec": {"containers": [{"name": "a", "ports": [
        {"containerPort": 1, "protocl": "TCP"}]}]}},
                 ["spec.containers[0].ports[0].protocl"], id="pod-port"),
    pytest.param("example.com/v1", "Widget", {"spec": {"x": 1}}, [],
                 id="unknown-kind-has-no-schema"),
])
def test_unknown_fields_of_other_builtin_kinds(api_version, kind, obj, expected):
    assert unknown_fields(api_version, kind, obj) == expected


_CRD_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}}}},
            "byZone": {"type": "object", "additionalProperties": {
                "type": "object", "properties": {"weight": {"type": "integer"}}}},
            "opaque": {"type": "object"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "properties": {"known": {"type": "object", "properties": {
                         "a": {"type": "string"}}}}},
            "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                         "properties": {"spec": {"type": "object",
                                                 "x-kubernetes-preserve-unknown-fields":
                                                     True}}},
        }},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


@pytest.mark.parametrize("obj,expected", [
    pytest.param({"apiVersion": "example.com/v1", "kind": "Widget",
                  "metadata": {"name": "w", "labels": {"x": "y"}},
                  "spec": {"size": 1, "tags": [{"name": "a"}]}}, [], id="valid"),
    pytest.param({"spec": {"sise": 1}}, ["spec.sise"], id="typo"),
    pytest.param({"spec": {"tags": [{"name": "a"}, {"nme": "b"}]}}, ["spec.tags[1].nme"],
                 id="in-list-item"),
    pytest.param({"metadata": {"nam": "w"}}, ["metadata.nam"], id="metadata-is-object-meta"),
    pytest.param({"spec": {"byZone": {"a": {"weight": 1}, "b": {"wieght": 2}}}},
                 ["spec.byZone.b.wieght"], id="additional-properties-values-checked"),
    pytest.param({"spec": {"opaque": {"x": 1}}}, ["spec.opaque.x"],
                 id="object-without-properties-holds-nothing"),
    pytest.param({"spec": {"free": {"x": {"y": 1}, "known": {"b": 1}}}},
                 ["spec.free.known.b"], id="preserve-allows-unknown-but-checks-declared"),
    pytest.param({"status": {"anything": [1, {"x": 2}]}}, [], id="preserved-status"),
    pytest.param({"spec": {"template": {"apiVersion": "v1", "kind": "Pod",
                                        "metadata": {"name": "p"}, "spec": {"x": 1},
                                        "other": 1}}},
                 ["spec.template.other"], id="embedded-resource"),
    pytest.param({"extra": 1}, ["extra"], id="root-unknown"),
])
def test_unknown_fields_of_a_crd_schema(obj, expected):
    assert unknown_fields("example.com/v1", "Widget", obj, schema=_CRD_SCHEMA) == expected


@pytest.mark.parametrize("schema", [
    pytest.param({"type": "object"}, id="no-properties"),
    pytest.param({"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                 id="preserve-root"),
])
def test_a_crd_schema_without_root_properties_accepts_anything(schema):
    obj = {"spec": {"a": {"b": [1]}}, "whatever": True}
    assert unknown_fields("example.com/v1", "Widget", obj, schema=schema) == []


def test_a_preserving_root_with_properties_still_checks_declared_fields():
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
              "properties": {"spec": {"type": "object", "properties": {
                  "a": {"type": "string"}}}}}
    obj = {"other": 1, "spec": {"a": "x", "b": 2}}
    assert unknown_fields("example.com/v1", "Widget", obj, schema=schema) == ["spec.b"]
