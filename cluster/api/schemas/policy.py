"""OpenAPI schemas of the small control-plane kinds: policy/v1 (PodDisruptionBudget, Eviction),
scheduling.k8s.io/v1 PriorityClass, coordination.k8s.io/v1 Lease and autoscaling/v1 Scale.

Eviction and Scale are subresource bodies (POST pods/{name}/eviction, GET/PUT .../scale):
kinds with a group-version-kind but no List and no storage of their own. A Lease's times are
microsecond timestamps (upstream's MicroTime), written inline as date-time strings like every
timestamp here. Names and shapes are upstream 1.32's.
"""

from __future__ import annotations

from kubemu.cluster.api.schemas.dsl import (
    array, boolean, define, int_or_string, integer, map_of, ref, string, time)
from kubemu.cluster.api.schemas.meta import (
    LABEL_SELECTOR, META, OBJECT_META, define_kind, type_meta)

__all__ = ["POLICY", "SCHEDULING", "COORDINATION", "AUTOSCALING"]

POLICY = "io.k8s.api.policy.v1."
SCHEDULING = "io.k8s.api.scheduling.v1."
COORDINATION = "io.k8s.api.coordination.v1."
AUTOSCALING = "io.k8s.api.autoscaling.v1."

# -- policy/v1 --------------------------------------------------------------------------------

define(POLICY + "PodDisruptionBudgetSpec",
       "How many of the selected pods voluntary disruptions (evictions) must leave running: "
       "set minAvailable or maxUnavailable, not both.", {
           "minAvailable": int_or_string("Pods that must stay available after an eviction: "
                                         "a number or a percentage of expected pods."),
           "selector": {**ref(LABEL_SELECTOR, "The pods the budget covers; an empty "
                                              "selector covers every pod in the namespace."),
                        "x-kubernetes-patch-strategy": "replace"},
           "maxUnavailable": int_or_string("Pods that may be unavailable after an eviction: "
                                           "a number or a percentage of expected pods."),
           "unhealthyPodEvictionPolicy": string(
               "When running but not-ready pods may be evicted: IfHealthyBudget (only while "
               "the budget is met, the default) or AlwaysAllow.",
               enum=["AlwaysAllow", "IfHealthyBudget"]),
       })

define(POLICY + "PodDisruptionBudgetStatus", "The observed state of a PodDisruptionBudget.", {
    "observedGeneration": integer("The metadata.generation this status was computed from.",
                                  format="int64"),
    "disruptedPods": map_of(time(), "Pods whose eviction was admitted but not yet observed, "
                                    "with the admission time; cleared after two minutes."),
    "disruptionsAllowed": integer("Evictions currently allowed."),
    "currentHealthy": integer("Healthy pods now."),
    "desiredHealthy": integer("Healthy pods the budget requires."),
    "expectedPods": integer("Pods counted by the budget (from their controllers' scale)."),
    "conditions": array(ref(META + "Condition"),
                        "Latest observations: DisruptionAllowed.", merge_key="type",
                        strategy="merge", list_type="map", list_map_keys=["type"]),
}, required=("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"))

define_kind(POLICY + "PodDisruptionBudget",
            "A limit on voluntary disruptions (evictions, node drains) of a set of pods.", {
                "spec": ref(POLICY + "PodDisruptionBudgetSpec", "The desired budget."),
                "status": ref(POLICY + "PodDisruptionBudgetStatus",
                              "The observed state; read-only."),
            }, group="policy", version="v1")

define(POLICY + "Eviction",
       "A request to evict a pod, honouring its PodDisruptionBudgets: POST it to the pod's "
       "eviction subresource.", {
           **type_meta(),
           "metadata": ref(OBJECT_META, "Names the pod to evict."),
           "deleteOptions": ref(META + "DeleteOptions", "Options of the resulting delete."),
       }, gvk=("policy", "v1", "Eviction"))

# -- scheduling.k8s.io/v1 ---------------------------------------------------------------------

define_kind(SCHEDULING + "PriorityClass",
            "Maps a priority class name to an integer priority that pods referencing it "
            "get; higher priorities schedule first and may preempt lower ones.", {
                "value": integer("The priority; user classes must be at most one billion."),
                "globalDefault": boolean("Whether pods without a priorityClassName get this "
                                         "class; at most one class may say so."),
                "description": string("When this class should be used."),
                "preemptionPolicy": string(
                    "PreemptLowerPriority (the default) or Never (wait in the queue "
                    "instead).", enum=["Never", "PreemptLowerPriority"]),
            }, group="scheduling.k8s.io", version="v1", required=("value",))

# -- coordination.k8s.io/v1 -------------------------------------------------------------------

define(COORDINATION + "LeaseSpec", "Who holds a Lease and for how long.", {
    "holderIdentity": string("The identity of the current holder."),
    "leaseDurationSeconds": integer("Seconds candidates wait after the last renewTime "
                                    "before taking the lease over."),
    "acquireTime": time("When the current holder acquired the lease (microseconds)."),
    "renewTime": time("When the holder last renewed the lease (microseconds)."),
    "leaseTransitions": integer("How many times the lease changed holders."),
    "strategy": string("How coordinated leader election picks a holder, such as "
                       "OldestEmulationVersion."),
    "preferredHolder": string("A holder the leader-election coordinator asks to take "
                              "over."),
})

define_kind(COORDINATION + "Lease",
            "A lock with a holder and a renewal time: used for leader election and for "
            "node heartbeats (kube-node-lease).", {
                "spec": ref(COORDINATION + "LeaseSpec", "The lease's holder and timing."),
            }, group="coordination.k8s.io", version="v1")

# -- autoscaling/v1 Scale ---------------------------------------------------------------------

define(AUTOSCALING + "ScaleSpec", "The desired scale.", {
    "replicas": integer("The desired number of replicas."),
})

define(AUTOSCALING + "ScaleStatus", "The observed scale.", {
    "replicas": integer("The observed number of replicas."),
    "selector": string("The label selector of the scaled pods, in string form "
                       "(app=web,tier in (a,b))."),
}, required=("replicas",))

define(AUTOSCALING + "Scale",
       "The scale subresource of a scalable kind (Deployment, ReplicaSet, StatefulSet, "
       "custom resources with a scale subresource).", {
           **type_meta(),
           "metadata": ref(OBJECT_META, "The scaled object's metadata."),
           "spec": ref(AUTOSCALING + "ScaleSpec", "The desired scale."),
           "status": ref(AUTOSCALING + "ScaleStatus", "The observed scale; read-only."),
       }, gvk=("autoscaling", "v1", "Scale"))
