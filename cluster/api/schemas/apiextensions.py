"""OpenAPI schema of apiextensions.k8s.io/v1 CustomResourceDefinition.

A CRD adds a kind to the API: its names, scope, served versions, each with a structural
OpenAPI v3 schema, subresources and printer columns. The schema itself
(`openAPIV3Schema`) is upstream's recursive JSONSchemaProps; kubemu publishes it as a
free-form object, so any schema passes field validation here; CRD validation checks its
structure. Names are upstream 1.32's
(`io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec`).
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.dsl import (
    DEFINITIONS, array, boolean, define, free_form, integer, ref, string, time)
from kubemu.cluster.api.schemas.meta import define_kind

__all__ = ["APIEXTENSIONS"]

APIEXTENSIONS = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
_X = APIEXTENSIONS


def _strings(description: str) -> dict:
    return array(string(), description, list_type="atomic")


DEFINITIONS[_X + "JSONSchemaProps"] = free_form(
    "A JSON Schema (OpenAPI v3 subset) describing a custom resource: type, properties, "
    "items, validation keywords and the x-kubernetes-* extensions.")

define(_X + "CustomResourceDefinitionNames", "The names a custom resource is served under.", {
    "plural": string("The plural resource name in URLs (/apis/<group>/<version>/<plural>); "
                     "lowercase."),
    "singular": string("The singular name, used by kubectl; defaults to the lowercased "
                       "kind."),
    "shortNames": _strings("Short aliases for kubectl (kubectl get cw)."),
    "kind": string("The CamelCase kind of the resource's objects."),
    "listKind": string("The kind of lists; defaults to <kind>List."),
    "categories": _strings("Groups the resource belongs to, such as all (kubectl get "
                           "all)."),
}, required=("plural", "kind"))

define(_X + "CustomResourceValidation", "A version's validation schema.", {
    "openAPIV3Schema": ref(_X + "JSONSchemaProps", "The structural OpenAPI v3 schema of "
                                                   "the version's objects."),
})

define(_X + "CustomResourceSubresourceStatus",
       "Enables the /status subresource: the main resource ignores status changes and "
       "/status ignores everything else.", {})

define(_X + "CustomResourceSubresourceScale", "Enables the /scale subresource.", {
    "specReplicasPath": string("JSON path (.spec.replicas) of the desired replica count."),
    "statusReplicasPath": string("JSON path (.status.replicas) of the observed replica "
                                 "count."),
    "labelSelectorPath": string("JSON path (.status.selector) of the pods' label selector, "
                                "in string form."),
}, required=("specReplicasPath", "statusReplicasPath"))

define(_X + "CustomResourceSubresources", "Subresources a version serves.", {
    "status": ref(_X + "CustomResourceSubresourceStatus", "Serve /status."),
    "scale": ref(_X + "CustomResourceSubresourceScale", "Serve /scale."),
})

define(_X + "CustomResourceColumnDefinition", "An extra column of kubectl get.", {
    "name": string("The column header."),
    "type": string("The OpenAPI type of the values: integer, number, string, boolean or "
                   "date."),
    "format": string("An optional format such as int32 or date-time."),
    "description": string("What the column shows."),
    "priority": integer("0 shows the column by default; higher only with -o wide."),
    "jsonPath": string("JSON path, evaluated against each object, of the value."),
}, required=("name", "type", "jsonPath"))

define(_X + "SelectableField", "A field usable in field selectors.", {
    "jsonPath": string("JSON path of a string, integer or boolean field."),
}, required=("jsonPath",))

define(_X + "CustomResourceDefinitionVersion", "One version of a custom resource.", {
    "name": string("The version name, such as v1 or v1beta1."),
    "served": boolean("Whether the API serves this version."),
    "storage": boolean("Whether objects are stored in this version; exactly one version "
                       "says so."),
    "deprecated": boolean("Whether requests to this version get a deprecation warning."),
    "deprecationWarning": string("The warning returned when deprecated is true."),
    "schema": ref(_X + "CustomResourceValidation", "The version's schema."),
    "subresources": ref(_X + "CustomResourceSubresources", "The version's subresources."),
    "additionalPrinterColumns": array(ref(_X + "CustomResourceColumnDefinition"),
                                      "Extra columns of kubectl get.", list_type="atomic"),
    "selectableFields": array(ref(_X + "SelectableField"),
                              "Fields usable in field selectors.", list_type="atomic"),
}, required=("name", "served", "storage"))

define(_X + "ServiceReference", "A Service a conversion webhook is reached through.", {
    "namespace": string("The Service's namespace."),
    "name": string("The Service's name."),
    "path": string("The URL path requests are sent to."),
    "port": integer("The port (443 by default)."),
}, required=("namespace", "name"))

define(_X + "WebhookClientConfig", "How to reach a webhook: a URL or a Service.", {
    "url": string("The webhook's https URL."),
    "service": ref(_X + "ServiceReference", "The webhook's Service."),
    "caBundle": string("PEM CA bundle to verify the webhook's certificate.",
                       format="byte"),
})

define(_X + "WebhookConversion", "A conversion webhook.", {
    "clientConfig": ref(_X + "WebhookClientConfig", "How to reach the webhook."),
    "conversionReviewVersions": _strings("ConversionReview versions the webhook "
                                         "understands, preferred first."),
}, required=("conversionReviewVersions",))

define(_X + "CustomResourceConversion", "How objects convert between versions.", {
    "strategy": string("None (only apiVersion changes, the default) or Webhook."),
    "webhook": ref(_X + "WebhookConversion", "The webhook, for strategy Webhook."),
}, required=("strategy",))

define(_X + "CustomResourceDefinitionSpec", "The custom resource a CRD defines.", {
    "group": string("The API group, such as example.com; the CRD's name is "
                    "<plural>.<group>."),
    "names": ref(_X + "CustomResourceDefinitionNames", "The resource's names."),
    "scope": string("Namespaced or Cluster."),
    "versions": array(ref(_X + "CustomResourceDefinitionVersion"),
                      "The versions, in priority order for discovery.", list_type="atomic"),
    "conversion": ref(_X + "CustomResourceConversion", "How versions convert."),
    "preserveUnknownFields": boolean("Deprecated: keep unknown fields; must be false in "
                                     "v1 (use x-kubernetes-preserve-unknown-fields)."),
}, required=("group", "names", "scope", "versions"))

define(_X + "CustomResourceDefinitionCondition", "One observed aspect of a CRD's state.", {
    "type": string("Established, NamesAccepted, NonStructuralSchema, Terminating or "
                   "KubernetesAPIApprovalPolicyConformant."),
    "status": string("True, False or Unknown."),
    "lastTransitionTime": time("When status last changed."),
    "reason": string("A CamelCase reason for the last transition."),
    "message": string("A human-readable explanation of the last transition."),
}, required=("type", "status"))

define(_X + "CustomResourceDefinitionStatus", "The observed state of a CRD.", {
    "conditions": array(ref(_X + "CustomResourceDefinitionCondition"),
                        "Latest observations; Established True means the kind is served.",
                        list_type="map", list_map_keys=["type"]),
    "acceptedNames": ref(_X + "CustomResourceDefinitionNames",
                         "The names actually served (they may conflict with others)."),
    "storedVersions": _strings("Every version objects were ever stored in."),
})

define_kind(_X + "CustomResourceDefinition",
            "Adds a custom kind to the API; its objects are served at "
            "/apis/<group>/<version>/<plural> once the CRD is Established.", {
                "spec": ref(_X + "CustomResourceDefinitionSpec", "The custom resource."),
                "status": ref(_X + "CustomResourceDefinitionStatus",
                              "The observed state; read-only."),
            }, group="apiextensions.k8s.io", version="v1", required=("spec",))
