"""OpenAPI schemas of apimachinery's meta/v1 types: ObjectMeta, ListMeta, selectors, Status.

Every kind embeds these, so this module also holds the two helpers the kind modules of every
group use: `define_kind` writes a top-level kind (apiVersion, kind, metadata plus its own
fields, tagged with its group-version-kind) together with its `<Kind>List`, and `type_meta`
gives the apiVersion/kind pair alone for list-less kinds such as Binding. Names are upstream's
(`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`) so `kubectl explain` reads familiar paths.
Patch metadata follows upstream: ownerReferences merge by uid, finalizers merge as a set.
Timestamps are inline `date-time` strings (upstream's Time and MicroTime), not definitions.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.dsl import (
    DEFINITIONS, array, boolean, define, free_form, integer, ref, string, string_map, time)

__all__ = ["META", "OBJECT_META", "LIST_META", "LABEL_SELECTOR", "RAW_EXTENSION",
           "type_meta", "define_kind"]

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = META + "ObjectMeta"
LIST_META = META + "ListMeta"
LABEL_SELECTOR = META + "LabelSelector"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"


def type_meta() -> dict[str, dict]:
    """The `apiVersion` and `kind` fields every serialised object carries."""
    return {
        "apiVersion": string("The versioned schema this object is written in, such as v1 or "
                             "apps/v1; the server converts known versions."),
        "kind": string("The REST kind of this object, in CamelCase (Pod, Service). The "
                       "server may infer it from the endpoint; it cannot be changed."),
    }


def define_kind(name: str, description: str, props: dict[str, dict], *, group: str,
                version: str, required: tuple[str, ...] | list[str] = (),
                list_description: str = "") -> str:
    """Define top-level kind `name` (type meta, `metadata` ObjectMeta, then `props`) with its
    group-version-kind, and `<name>List` (ListMeta + `items`). Returns the kind's name."""
    kind = name.rsplit(".", 1)[1]
    define(name, description,
           {**type_meta(),
            "metadata": ref(OBJECT_META, "Standard object metadata: name, namespace, labels, "
                                         "annotations, owners and server-set bookkeeping."),
            **props},
           required=required, gvk=(group, version, kind))
    define(name + "List", list_description or f"A list of {kind} objects.",
           {**type_meta(),
            "metadata": ref(LIST_META, "Standard list metadata: resourceVersion and the "
                                       "continue token of a paginated list."),
            "items": array(ref(name), f"The {kind} objects of this list.")},
           required=("items",), gvk=(group, version, kind + "List"))
    return name


define(OBJECT_META,
       "Metadata every persisted object has: identity, labels and annotations, ownership, "
       "and the bookkeeping the server maintains.", {
           "name": string("Unique name within the namespace (or cluster, for cluster-scoped "
                          "kinds). Required on create unless generateName is set; immutable."),
           "generateName": string("Prefix from which the server generates a unique name when "
                                  "name is empty: it appends a random suffix."),
           "namespace": string("The namespace the object lives in; empty for cluster-scoped "
                               "objects. Must be a DNS label; immutable."),
           "uid": string("Unique identifier the server assigns on create; never reused and "
                         "never changed."),
           "resourceVersion": string("Opaque version of this object used for optimistic "
                                     "concurrency and watches; clients must not parse it."),
           "generation": integer("Sequence number of the desired state, increased by the "
                                 "server when the spec changes.", format="int64"),
           "creationTimestamp": time("When the server created the object (UTC, RFC 3339). "
                                     "Read-only."),
           "deletionTimestamp": time("When the object will be removed; set by the server when "
                                     "deletion is requested and finalizers or a grace period "
                                     "delay it. Read-only."),
           "deletionGracePeriodSeconds": integer("Seconds the object is given to terminate "
                                                 "gracefully once deletion was requested. "
                                                 "Read-only.", format="int64"),
           "labels": string_map("Key/value pairs for organising and selecting objects; "
                                "controllers and Services select by them."),
           "annotations": string_map("Unstructured key/value data for tools and people; not "
                                     "selectable."),
           "ownerReferences": array(
               ref(META + "OwnerReference"),
               "Objects this one depends on. When every owner is gone the garbage collector "
               "deletes this object; at most one owner may be the managing controller.",
               merge_key="uid", strategy="merge", list_type="map", list_map_keys=["uid"]),
           "finalizers": array(
               string(), "Keys that must be removed before the object is deleted from "
                         "storage; each is cleared by the component that added it.",
               strategy="merge", list_type="set"),
           "managedFields": array(
               ref(META + "ManagedFieldsEntry"),
               "Which field manager owns which fields, maintained for server-side apply."),
           "selfLink": string("Deprecated and no longer set: formerly the URL of this "
                              "object."),
       })

define(LIST_META, "Metadata of a list response.", {
    "resourceVersion": string("The version of the collection this list was read at; start a "
                              "watch from it to see later changes."),
    "continue": string("Token to fetch the next page of a paginated list; empty on the last "
                       "page. It expires when the server compacts old versions."),
    "remainingItemCount": integer("How many items remain after this page, when the server "
                                  "can tell cheaply; an estimate.", format="int64"),
    "selfLink": string("Deprecated and no longer set: formerly the URL of this list."),
})

define(META + "OwnerReference",
       "Identifies an owning object in the same namespace (or cluster-scoped); the garbage "
       "collector deletes dependents whose owners are all gone.", {
           "apiVersion": string("API version of the owner."),
           "kind": string("Kind of the owner."),
           "name": string("Name of the owner."),
           "uid": string("UID of the owner; a recreated owner with the same name does not "
                         "match."),
           "controller": boolean("True if the owner is the managing controller of this "
                                 "object; only one owner may say so."),
           "blockOwnerDeletion": boolean("With foreground deletion, the owner is not removed "
                                         "until this dependent is gone."),
       }, required=("apiVersion", "kind", "name", "uid"))

define(LABEL_SELECTOR,
       "A label query: every matchLabels pair and every matchExpressions requirement must "
       "hold (AND). An empty selector matches everything; a null one matches nothing.", {
           "matchLabels": string_map("Labels that must be present with exactly these "
                                     "values."),
           "matchExpressions": array(ref(META + "LabelSelectorRequirement"),
                                     "Set-based requirements on labels.",
                                     list_type="atomic"),
       })

define(META + "LabelSelectorRequirement",
       "One set-based requirement: the label `key` related to `values` by `operator`.", {
           "key": string("The label key the requirement applies to."),
           "operator": string("In, NotIn, Exists or DoesNotExist."),
           "values": array(string(), "Values for In and NotIn (non-empty); must be empty "
                                     "for Exists and DoesNotExist.", list_type="atomic"),
       }, required=("key", "operator"))

define(META + "Status",
       "The result of a call that returns no object: a failure (error) or a plain success.", {
           **type_meta(),
           "metadata": ref(LIST_META, "Standard list metadata."),
           "status": string("Success or Failure."),
           "message": string("Human-readable description of the outcome."),
           "reason": string("Machine-readable reason for a failure (NotFound, AlreadyExists, "
                            "Conflict, Invalid, ...); empty when unknown."),
           "details": ref(META + "StatusDetails", "Extra data about the failure, shaped by "
                                                  "its reason."),
           "code": integer("The HTTP status code of this result."),
       }, gvk=("", "v1", "Status"))

define(META + "StatusDetails",
       "Names the object a failed call concerned and the individual causes.", {
           "name": string("Name of the object concerned, when there is one."),
           "group": string("API group of the object concerned."),
           "kind": string("Kind (or resource) of the object concerned."),
           "uid": string("UID of the object concerned, when known."),
           "causes": array(ref(META + "StatusCause"),
                           "Individual problems, such as one per invalid field.",
                           list_type="atomic"),
           "retryAfterSeconds": integer("Seconds to wait before retrying, when the failure is "
                                        "temporary."),
       })

define(META + "StatusCause", "One reason a call failed, possibly tied to a field.", {
    "reason": string("Machine-readable cause, such as FieldValueRequired."),
    "message": string("Human-readable description of the cause."),
    "field": string("Path of the field at fault (spec.containers[0].image), when the cause is "
                    "one field."),
})

define(META + "Preconditions",
       "Conditions that must hold for a delete to proceed.", {
           "uid": string("The object's UID must equal this."),
           "resourceVersion": string("The object's resourceVersion must equal this."),
       })

define(META + "DeleteOptions", "Options of a delete request.", {
    **type_meta(),
    "gracePeriodSeconds": integer("Seconds before the object is removed; zero deletes at "
                                  "once, unset uses the kind's default.", format="int64"),
    "preconditions": ref(META + "Preconditions", "Must be met or the delete fails with a "
                                                 "409 Conflict."),
    "orphanDependents": boolean("Deprecated (use propagationPolicy): whether dependents are "
                                "orphaned rather than deleted."),
    "propagationPolicy": string("How dependents are handled: Orphan, Background or "
                                "Foreground."),
    "dryRun": array(string(), "When set to All, every stage runs but nothing is persisted.",
                    list_type="atomic"),
    "ignoreStoreReadErrorWithClusterBreakingPotential": boolean(
        "Delete an object whose stored form cannot be read (corrupt); dangerous."),
}, gvk=("", "v1", "DeleteOptions"))

define(META + "ManagedFieldsEntry",
       "The fields one manager owns, for one operation, as server-side apply records them.", {
           "manager": string("The identifier of the workflow managing these fields."),
           "operation": string("Apply or Update: the kind of request that set the fields."),
           "apiVersion": string("The API version the field set is expressed in."),
           "time": time("When the fields were last changed by this manager."),
           "fieldsType": string("The format of fieldsV1; only FieldsV1 exists."),
           "fieldsV1": ref(META + "FieldsV1", "The owned fields, as a set."),
           "subresource": string("The subresource (such as status) the request went to, "
                                 "empty for the main resource."),
       })

DEFINITIONS[META + "FieldsV1"] = free_form(
    "A set of field paths as a trie of JSON objects (f:<name>, k:<key>, v:<value>, i:<index>).")

define(META + "Condition",
       "One aspect of an object's current state, in the standard shape used by status "
       "conditions.", {
           "type": string("The condition's type in CamelCase, such as Available."),
           "status": string("True, False or Unknown."),
           "observedGeneration": integer("The metadata.generation this condition was computed "
                                         "from.", format="int64"),
           "lastTransitionTime": time("When status last changed."),
           "reason": string("A CamelCase reason for the last transition."),
           "message": string("A human-readable explanation of the transition."),
       }, required=("type", "status", "lastTransitionTime", "reason", "message"))

DEFINITIONS[RAW_EXTENSION] = free_form(
    "An embedded object of any kind, kept as the JSON it was sent as.")
