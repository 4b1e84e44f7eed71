"""OpenAPI schemas of apps/v1: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision.

The workload controllers' kinds as upstream 1.32 publishes them, under upstream's definition
names (`io.k8s.api.apps.v1.DeploymentSpec`) so `kubectl explain deployment.spec.strategy` and
kubectl's strategic-merge computation see the same shapes. Pod templates, claims and selectors
are references to the core and meta definitions. Patch metadata follows upstream: status
conditions merge by `type`, and a Deployment's `strategy` patches with `retainKeys`, so
switching to Recreate drops a stale `rollingUpdate`. Everything is data, defined at import.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.dsl import (
    array, boolean, define, int_or_string, integer, ref, string, time)
from kubemu.cluster.api.schemas.meta import LABEL_SELECTOR, RAW_EXTENSION, define_kind

__all__ = ["APPS"]

APPS = "io.k8s.api.apps.v1."
_CORE = "io.k8s.api.core.v1."


def _conditions(name: str, description: str) -> dict:
    return array(ref(APPS + name), description, merge_key="type", strategy="merge",
                 list_type="map", list_map_keys=["type"])


def _condition(name: str, owner: str, *, update_time: bool = False) -> None:
    props = {
        "type": string(f"The aspect of the {owner} this condition describes."),
        "status": string("True, False or Unknown."),
        "lastTransitionTime": time("When status last changed."),
        "reason": string("A CamelCase reason for the last transition."),
        "message": string("A human-readable explanation of the last transition."),
    }
    if update_time:
        props["lastUpdateTime"] = time("When this condition was last written, even without "
                                       "a change of status.")
    define(APPS + name, f"One observed aspect of a {owner}'s state.", props,
           required=("type", "status"))


def _selector(owner: str) -> dict:
    return ref(LABEL_SELECTOR, f"Selects the pods this {owner} manages; it must match the "
                               "template's labels and cannot change after creation.")


def _template(owner: str) -> dict:
    return ref(_CORE + "PodTemplateSpec", f"The pods this {owner} creates: their labels, "
                                          "annotations and spec.")


_MIN_READY = ("Seconds a new pod must stay ready, with no container crashing, before it "
              "counts as available. Defaults to 0.")
_HISTORY = "How many old revisions to keep for rollback. Defaults to 10."

# -- Deployment ---------------------------------------------------------------------------

define(APPS + "RollingUpdateDeployment",
       "Parameters of a rolling update: how far the rollout may dip below and rise above the "
       "desired replica count.", {
           "maxUnavailable": int_or_string(
               "How many desired pods may be unavailable during the update: a number or a "
               "percentage (rounded down). Defaults to 25%; cannot be 0 when maxSurge is 0."),
           "maxSurge": int_or_string(
               "How many pods may be created above the desired count during the update: a "
               "number or a percentage (rounded up). Defaults to 25%."),
       })

define(APPS + "DeploymentStrategy", "How a Deployment replaces old pods with new ones.", {
    "type": string("Recreate (kill every old pod first) or RollingUpdate (the default).",
                   enum=["Recreate", "RollingUpdate"]),
    "rollingUpdate": ref(APPS + "RollingUpdateDeployment",
                         "Rolling update parameters; only with type RollingUpdate."),
})

define(APPS + "DeploymentSpec", "The desired state of a Deployment.", {
    "replicas": integer("Desired number of pods. Defaults to 1."),
    "selector": _selector("Deployment"),
    "template": _template("Deployment"),
    "strategy": {**ref(APPS + "DeploymentStrategy",
                       "How existing pods are replaced by new ones."),
                 "x-kubernetes-patch-strategy": "retainKeys"},
    "minReadySeconds": integer(_MIN_READY),
    "revisionHistoryLimit": integer(_HISTORY),
    "paused": boolean("While true, template changes do not start a rollout."),
    "progressDeadlineSeconds": integer(
        "Seconds a rollout may go without progress before the Deployment reports "
        "ProgressDeadlineExceeded in its Progressing condition. Defaults to 600."),
}, required=("selector", "template"))

_condition("DeploymentCondition", "Deployment", update_time=True)

define(APPS + "DeploymentStatus", "The observed state of a Deployment.", {
    "observedGeneration": integer("The metadata.generation the controller last acted on.",
                                  format="int64"),
    "replicas": integer("Pods (of any revision) targeted by this Deployment."),
    "updatedReplicas": integer("Pods running the current template."),
    "readyReplicas": integer("Pods with a Ready condition."),
    "availableReplicas": integer("Pods ready for at least minReadySeconds."),
    "unavailableReplicas": integer("Pods still needed to reach the desired available "
                                   "count."),
    "conditions": _conditions("DeploymentCondition",
                              "Latest observations: Available, Progressing, "
                              "ReplicaFailure."),
    "collisionCount": integer("Hash collisions seen while naming ReplicaSets; mixed into "
                              "the pod-template-hash to avoid them."),
})

define_kind(APPS + "Deployment",
            "Declarative updates for pods: a Deployment owns ReplicaSets and rolls from one "
            "to the next as its template changes.", {
                "spec": ref(APPS + "DeploymentSpec", "The desired state."),
                "status": ref(APPS + "DeploymentStatus", "The most recently observed state; "
                                                         "read-only."),
            }, group="apps", version="v1")

# -- ReplicaSet ----------------------------------------------------------------------------

define(APPS + "ReplicaSetSpec", "The desired state of a ReplicaSet.", {
    "replicas": integer("Desired number of pods. Defaults to 1."),
    "minReadySeconds": integer(_MIN_READY),
    "selector": _selector("ReplicaSet"),
    "template": _template("ReplicaSet"),
}, required=("selector",))

_condition("ReplicaSetCondition", "ReplicaSet")

define(APPS + "ReplicaSetStatus", "The observed state of a ReplicaSet.", {
    "replicas": integer("Pods currently owned by the ReplicaSet."),
    "fullyLabeledReplicas": integer("Pods whose labels match the template's labels."),
    "readyReplicas": integer("Pods with a Ready condition."),
    "availableReplicas": integer("Pods ready for at least minReadySeconds."),
    "observedGeneration": integer("The metadata.generation the controller last acted on.",
                                  format="int64"),
    "conditions": _conditions("ReplicaSetCondition", "Latest observations, such as "
                                                     "ReplicaFailure."),
}, required=("replicas",))

define_kind(APPS + "ReplicaSet",
            "Keeps a stable number of identical pods running; usually owned by a "
            "Deployment.", {
                "spec": ref(APPS + "ReplicaSetSpec", "The desired state."),
                "status": ref(APPS + "ReplicaSetStatus", "The most recently observed state; "
                                                         "read-only."),
            }, group="apps", version="v1")

# -- StatefulSet ---------------------------------------------------------------------------

define(APPS + "RollingUpdateStatefulSetStrategy",
       "Parameters of a StatefulSet rolling update.", {
           "partition": integer("Only pods with an ordinal at or above this are updated; "
                                "lower ordinals keep the old revision (canaries). "
                                "Defaults to 0."),
           "maxUnavailable": int_or_string("How many pods may be unavailable during the "
                                           "update: a number or a percentage. Defaults to "
                                           "1 (alpha upstream)."),
       })

define(APPS + "StatefulSetUpdateStrategy", "How a StatefulSet updates its pods.", {
    "type": string("RollingUpdate (the default: highest ordinal first) or OnDelete (new "
                   "pods only when old ones are deleted by hand).",
                   enum=["OnDelete", "RollingUpdate"]),
    "rollingUpdate": ref(APPS + "RollingUpdateStatefulSetStrategy",
                         "Rolling update parameters; only with type RollingUpdate."),
})

define(APPS + "StatefulSetPersistentVolumeClaimRetentionPolicy",
       "What happens to claims created from volumeClaimTemplates.", {
           "whenDeleted": string("Retain (the default) or Delete the claims when the "
                                 "StatefulSet is deleted."),
           "whenScaled": string("Retain (the default) or Delete the claims of pods removed "
                                "by a scale-down."),
       })

define(APPS + "StatefulSetOrdinals", "How replica ordinals are numbered.", {
    "start": integer("The first replica's ordinal; replicas are start .. start+replicas-1. "
                     "Defaults to 0."),
})

define(APPS + "StatefulSetSpec", "The desired state of a StatefulSet.", {
    "replicas": integer("Desired number of pods. Defaults to 1."),
    "selector": _selector("StatefulSet"),
    "template": _template("StatefulSet"),
    "volumeClaimTemplates": array(
        ref(_CORE + "PersistentVolumeClaim"),
        "Claims each pod gets, named <claim>-<pod>; every one must be mounted by a "
        "container of the template.", list_type="atomic"),
    "serviceName": string("The headless Service that gives the pods their stable DNS "
                          "names (<pod>.<serviceName>.<namespace>.svc)."),
    "podManagementPolicy": string(
        "OrderedReady (the default: one pod at a time, in ordinal order) or Parallel.",
        enum=["OrderedReady", "Parallel"]),
    "updateStrategy": ref(APPS + "StatefulSetUpdateStrategy",
                          "How pods are updated when the template changes."),
    "revisionHistoryLimit": integer(_HISTORY),
    "minReadySeconds": integer(_MIN_READY),
    "persistentVolumeClaimRetentionPolicy": ref(
        APPS + "StatefulSetPersistentVolumeClaimRetentionPolicy",
        "The lifecycle of claims created from volumeClaimTemplates."),
    "ordinals": ref(APPS + "StatefulSetOrdinals", "How replica ordinals are numbered."),
}, required=("selector", "template"))

_condition("StatefulSetCondition", "StatefulSet")

define(APPS + "StatefulSetStatus", "The observed state of a StatefulSet.", {
    "observedGeneration": integer("The metadata.generation the controller last acted on.",
                                  format="int64"),
    "replicas": integer("Pods created by the controller."),
    "readyReplicas": integer("Pods with a Ready condition."),
    "currentReplicas": integer("Pods running currentRevision."),
    "updatedReplicas": integer("Pods running updateRevision."),
    "availableReplicas": integer("Pods ready for at least minReadySeconds."),
    "currentRevision": string("The revision of the pods with ordinals below "
                              "currentReplicas."),
    "updateRevision": string("The revision new and updated pods are created from."),
    "collisionCount": integer("Hash collisions seen while naming ControllerRevisions."),
    "conditions": _conditions("StatefulSetCondition", "Latest observations."),
}, required=("replicas",))

define_kind(APPS + "StatefulSet",
            "Pods with stable identities: fixed names with ordinals, stable DNS names, and "
            "their own persistent claims.", {
                "spec": ref(APPS + "StatefulSetSpec", "The desired state."),
                "status": ref(APPS + "StatefulSetStatus", "The most recently observed state; "
                                                          "read-only."),
            }, group="apps", version="v1")

# -- DaemonSet -----------------------------------------------------------------------------

define(APPS + "RollingUpdateDaemonSet", "Parameters of a DaemonSet rolling update.", {
    "maxUnavailable": int_or_string("How many nodes' pods may be unavailable during the "
                                    "update: a number or a percentage. Defaults to 1."),
    "maxSurge": int_or_string("How many nodes may run an extra new pod beside the old one "
                              "during the update. Defaults to 0."),
})

define(APPS + "DaemonSetUpdateStrategy", "How a DaemonSet updates its pods.", {
    "type": string("RollingUpdate (the default) or OnDelete.",
                   enum=["OnDelete", "RollingUpdate"]),
    "rollingUpdate": ref(APPS + "RollingUpdateDaemonSet",
                         "Rolling update parameters; only with type RollingUpdate."),
})

define(APPS + "DaemonSetSpec", "The desired state of a DaemonSet.", {
    "selector": _selector("DaemonSet"),
    "template": _template("DaemonSet"),
    "updateStrategy": ref(APPS + "DaemonSetUpdateStrategy",
                          "How pods are replaced when the template changes."),
    "minReadySeconds": integer(_MIN_READY),
    "revisionHistoryLimit": integer(_HISTORY),
}, required=("selector", "template"))

_condition("DaemonSetCondition", "DaemonSet")

define(APPS + "DaemonSetStatus", "The observed state of a DaemonSet.", {
    "currentNumberScheduled": integer("Nodes running at least one daemon pod that should."),
    "numberMisscheduled": integer("Nodes running a daemon pod that should not."),
    "desiredNumberScheduled": integer("Nodes that should run the daemon pod."),
    "numberReady": integer("Nodes whose daemon pod is Ready."),
    "observedGeneration": integer("The metadata.generation the controller last acted on.",
                                  format="int64"),
    "updatedNumberScheduled": integer("Nodes running the current template's pod."),
    "numberAvailable": integer("Nodes whose daemon pod is available (ready for "
                               "minReadySeconds)."),
    "numberUnavailable": integer("Nodes that should run the daemon pod but have no "
                                 "available one."),
    "collisionCount": integer("Hash collisions seen while naming ControllerRevisions."),
    "conditions": _conditions("DaemonSetCondition", "Latest observations."),
}, required=("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
             "numberReady"))

define_kind(APPS + "DaemonSet",
            "Runs one copy of a pod on every (selected) node, adding pods as nodes join.", {
                "spec": ref(APPS + "DaemonSetSpec", "The desired state."),
                "status": ref(APPS + "DaemonSetStatus", "The most recently observed state; "
                                                        "read-only."),
            }, group="apps", version="v1")

# -- ControllerRevision --------------------------------------------------------------------

define_kind(APPS + "ControllerRevision",
            "An immutable snapshot of a StatefulSet's or DaemonSet's template, kept for "
            "updates and rollback.", {
                "data": ref(RAW_EXTENSION, "The snapshot: the owner's template as a patch."),
                "revision": integer("The revision number of this snapshot.", format="int64"),
            }, group="apps", version="v1", required=("revision",))
